/*
 * trainset.c - the point-in-time training set of a store (churn/trainset.h): stacked cutoffs
 * at day ends whose label windows are fully observed, features from the served feature
 * function with the store's observed history, every customer's rows grouped by customer and
 * stamped with their cutoff. Rows go through the CSV text of churn_features_csv_row() into
 * the dataset loader, so a store set and an exported CSV (churn_trainset_csv(), which
 * tools/bench/store/store-export writes) are the same training set.
 */
#include "churn/trainset.h"

#include <stdio.h>
#include <string.h>

#include "churn/buf.h"
#include "churn/clock.h"
#include "churn/features.h"

#define TRAINSET_MAX_BYTES (4ULL << 30)

struct build {
    const struct churn_trainset_options *o;
    int64_t observed_until, history_from;
    struct churn_trainset_report *rep;
    struct churn_buf *csv;
    enum churn_err err;
};

void
churn_trainset_options_default(struct churn_trainset_options *o)
{
    *o = (struct churn_trainset_options){
        .horizon_days = 90, .cutoffs = 0, .step_days = 30, .inactivity_days = 0};
}

static enum churn_err
check_options(const struct churn_trainset_options *o, char *err, size_t errlen)
{
    const char *what = NULL;
    if (o->horizon_days < 1 || o->horizon_days > 365)
        what = "horizon_days: 1..365";
    else if (o->cutoffs < 0 || o->cutoffs > CHURN_TRAINSET_MAX_CUTOFFS)
        what = "cutoffs: 1..24 (0: auto)";
    else if (o->step_days < 1 || o->step_days > 365)
        what = "step_days: 1..365";
    else if (o->inactivity_days < 0 || o->inactivity_days > o->horizon_days)
        what = "inactivity_days: 0..horizon_days";
    else if (o->observed_until_ms < 0 || o->observed_until_ms > CHURN_FEATURES_AS_OF_MAX)
        what = "observed_until: not a time";
    if (!what)
        return CHURN_OK;
    snprintf(err, errlen, "training set: %s", what);
    return CHURN_EINVAL;
}

static int
visit(const struct churn_customer *rec, void *user)
{
    struct build *b = user;
    struct churn_trainset_report *rep = b->rep;
    bool counted = false;
    for (int c = 0; c < rep->n_cutoffs; c++) {
        if (rep->skipped[c])
            continue;
        int label = churn_features_label(rec, rep->cutoff_ms[c], b->o->horizon_days,
                                         b->o->inactivity_days, b->observed_until);
        struct churn_feature_vector vec;
        if (label < 0 ||
            churn_features_extract_observed(rec, rep->cutoff_ms[c], b->history_from, &vec))
            continue;
        if ((b->err = churn_features_csv_row(rec, &vec, label, b->csv)))
            return 1;
        rep->rows++, rep->rows_at[c]++;
        rep->positives += (size_t)label, rep->positives_at[c] += (size_t)label;
        rep->customers += !counted;
        counted = true;
    }
    return 0;
}

/* The end of cutoff @c's day (c = 0 the newest) of @b. */
static int64_t
cutoff_ms(const struct build *b, int c)
{
    int64_t newest = (int64_t)churn_day_of_ms(b->observed_until) - 1 - b->o->horizon_days;
    return (newest - (int64_t)c * b->o->step_days + 1) * CHURN_MS_PER_DAY - 1;
}

/* Whether cutoff @c of @b has @days of observed history before it. */
static bool
has_history(const struct build *b, int c, int days)
{
    return b->history_from != 0 &&
           cutoff_ms(b, c) - b->history_from >= (int64_t)days * CHURN_MS_PER_DAY;
}

/* The cutoffs of @b, newest first (auto: those with CHURN_TRAINSET_AUTO_HISTORY_DAYS of
 * history, at least one); how many have enough observed history before them. */
static int
plan_cutoffs(struct build *b)
{
    struct churn_trainset_report *rep = b->rep;
    int usable = 0;
    rep->n_cutoffs = b->o->cutoffs;
    if (rep->n_cutoffs == 0) {
        while (rep->n_cutoffs < CHURN_TRAINSET_AUTO_MAX_CUTOFFS &&
               has_history(b, rep->n_cutoffs, CHURN_TRAINSET_AUTO_HISTORY_DAYS))
            rep->n_cutoffs++;
        rep->n_cutoffs += rep->n_cutoffs == 0;
    }
    for (int c = 0; c < rep->n_cutoffs; c++) {
        rep->cutoff_ms[c] = cutoff_ms(b, c);
        rep->skipped[c] = !has_history(b, c, CHURN_TRAINSET_MIN_HISTORY_DAYS);
        usable += !rep->skipped[c];
    }
    return usable;
}

/* Refuse a set nothing can be learnt from, naming why. */
static enum churn_err
check_rows(const struct build *b, char *err, size_t errlen)
{
    const struct churn_trainset_report *rep = b->rep;
    char from[40], until[40];
    churn_format_time_ms(rep->cutoff_ms[rep->n_cutoffs - 1], from, sizeof(from));
    churn_format_time_ms(b->observed_until, until, sizeof(until));
    if (rep->rows == 0)
        snprintf(err, errlen,
                 "no customer was active and labelled at any cutoff (%s .. %s): the store "
                 "holds no customers before them",
                 from, until);
    else if (rep->positives == 0)
        snprintf(err, errlen,
                 "no churn at all in the labelled windows (%zu rows, cutoffs from %s, data until "
                 "%s): a model needs churned customers (explicit churn events, or "
                 "--inactivity-days)",
                 rep->rows, from, until);
    else if (rep->positives == rep->rows)
        snprintf(err, errlen, "every one of the %zu labelled rows churned: nothing to contrast",
                 rep->rows);
    else
        return CHURN_OK;
    return CHURN_EINVAL;
}

static enum churn_err
load_rows(const struct churn_buf *csv, const struct churn_trainset_options *o,
          struct churn_dataset **out, char *err, size_t errlen)
{
    static const char *const cats[] = {"segment", "plan", "country"};
    struct churn_dataset_options d = {
        .label = "churned",
        .positive = "1",
        .categorical = cats,
        .n_categorical = 3,
        .group = "customer_id",
        .time = "as_of_ms",
    };
    char why[512];
    enum churn_err e =
        churn_dataset_load_csv_mem(churn_buf_str(csv), csv->len, &d, out, why, sizeof(why));
    if (e)
        snprintf(err, errlen, "training set: %s", why);
    else
        (*out)->horizon_days = o->horizon_days;
    return e;
}

enum churn_err
churn_trainset_csv(struct churn_store *store, const struct churn_trainset_options *o,
                   struct churn_buf *csv, struct churn_trainset_report *rep, char *err,
                   size_t errlen)
{
    enum churn_err e = check_options(o, err, errlen);
    if (e)
        return e;
    struct churn_trainset_report r;
    memset(&r, 0, sizeof(r));
    struct build b = {.o = o, .rep = &r, .csv = csv};
    b.observed_until = o->observed_until_ms ? o->observed_until_ms : churn_now_ms();
    b.history_from = churn_store_history_from_ms(store, b.observed_until);
    r.history_from_ms = b.history_from;
    if (plan_cutoffs(&b) == 0) {
        char from[40];
        churn_format_time_ms(b.history_from, from, sizeof(from));
        snprintf(err, errlen,
                 "no cutoff has %d days of observed history before it: the store observes from "
                 "%s, the newest cutoff is %d days before the data ends (horizon %d days)",
                 CHURN_TRAINSET_MIN_HISTORY_DAYS, b.history_from ? from : "nothing (empty)",
                 o->horizon_days + 1, o->horizon_days);
        return CHURN_EINVAL;
    }
    size_t start = csv->len;
    e = churn_features_csv_header(csv);
    if (!e)
        e = churn_store_foreach_customer(store, visit, &b);
    if (!e)
        e = b.err;
    if (e)
        snprintf(err, errlen, "reading the store: %s",
                 b.err ? churn_strerror(b.err) : churn_store_last_error());
    else
        e = check_rows(&b, err, errlen);
    if (e && csv->data) { /* nothing appended on error */
        csv->len = start;
        csv->data[start] = '\0';
    }
    if (!e && rep)
        *rep = r;
    return e;
}

enum churn_err
churn_trainset_from_store(struct churn_store *store, const struct churn_trainset_options *o,
                          struct churn_dataset **out, struct churn_trainset_report *rep, char *err,
                          size_t errlen)
{
    struct churn_buf csv;
    churn_buf_init(&csv, TRAINSET_MAX_BYTES);
    enum churn_err e = churn_trainset_csv(store, o, &csv, rep, err, errlen);
    if (!e)
        e = load_rows(&csv, o, out, err, errlen);
    churn_buf_free(&csv);
    return e;
}
