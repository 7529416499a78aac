/*
 * test_trainset.c - the trainset suite: training sets from a real store (cutoffs whose label
 * windows are fully observed, both classes at the newest cutoff, history clipped, the same set
 * as CSV (churn_trainset_csv), refusals
 * that say why), grouped folds, calibration on the newest cutoff, and the prospective
 * backtest (its refusals, and that a model trained before T foresees churn after T with
 * probabilities that mean what they say).
 */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#define _DEFAULT_SOURCE
#include "churn/trainset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/features.h"

#include "tmpdir.h"

#define DAY       CHURN_MS_PER_DAY
#define NOW       (20400 * DAY + DAY / 2)
#define CUSTOMERS 800
#define HISTORY   200 /* days of data before NOW */

static char dir[64];
static struct churn_store *st;

/* Customer @i: a login every other day; one in four churns on a day of the history, its
 * logins thinning to one a week over the 40 days before. With @churners false, nobody does. */
static void
fill(bool churners)
{
    static struct churn_event ev[256];
    static struct churn_event_result res[256];
    static char ids[256][32], cid[32];
    for (int i = 0; i < CUSTOMERS; i++) {
        snprintf(cid, sizeof(cid), "c%04d", i);
        int churn_day = churners && i % 4 == 0 ? 10 + (i * 37) % (HISTORY - 15) : -1;
        size_t n = 0;
        for (int ago = HISTORY; ago >= 1; ago--) {
            int left = ago - churn_day; /* days before the churn */
            if (churn_day >= 0 && ago < churn_day)
                break;
            bool fading = churn_day >= 0 && left < 40;
            if ((fading ? (ago % 7 != 0) : (ago + i) % 2 != 0) && ago != churn_day)
                continue;
            struct churn_event *e = &ev[n];
            *e = (struct churn_event){.kind =
                                          ago == churn_day ? CHURN_EVENT_CHURN : CHURN_EVENT_LOGIN,
                                      .customer_id = cid,
                                      .occurred_at_ms = NOW - (int64_t)ago * DAY};
            snprintf(ids[n], sizeof(ids[n]), "e%d-%d", i, ago);
            e->event_id = ids[n];
            if (++n == 256) {
                cr_assert_eq(churn_store_apply_events(st, ev, n, NOW, res), CHURN_OK);
                n = 0;
            }
        }
        cr_assert_eq(churn_store_apply_events(st, ev, n, NOW, res), CHURN_OK);
    }
}

static void
setup_store(bool churners)
{
    snprintf(dir, sizeof(dir), "/tmp/churn-trainset-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(churn_store_open(dir, NULL, &st), CHURN_OK, "%s", churn_store_last_error());
    fill(churners);
}

static void
setup(void)
{
    setup_store(true);
}

static void
setup_no_churn(void)
{
    setup_store(false);
}

static void
teardown(void)
{
    churn_store_close(st);
    churn_test_rm_rf(dir);
}

static struct churn_trainset_options
options(int horizon, int cutoffs)
{
    struct churn_trainset_options o;
    churn_trainset_options_default(&o);
    o.observed_until_ms = NOW;
    o.horizon_days = horizon;
    o.cutoffs = cutoffs;
    o.step_days = 20;
    return o;
}

Test(trainset, the_newest_cutoff_is_labelled_for_everyone, .init = setup, .fini = teardown)
{
    struct churn_trainset_options o = options(30, 3);
    struct churn_dataset *ds = NULL;
    struct churn_trainset_report rep;
    char err[512];
    cr_assert_eq(churn_trainset_from_store(st, &o, &ds, &rep, err, sizeof(err)), CHURN_OK, "%s",
                 err);
    /* its label window ends before the data does, so stayers are labelled too, not only the
     * churners (the defect of a cutoff at the end of the day of now - horizon) */
    cr_assert_leq(rep.cutoff_ms[0] + 30 * DAY, NOW);
    cr_assert_eq(rep.cutoff_ms[0], churn_features_day_end(NOW - 31 * DAY));
    cr_assert_gt(rep.rows_at[0], CUSTOMERS / 2);
    cr_assert_gt(rep.positives_at[0], 0);
    cr_assert_lt(rep.positives_at[0] * 4, rep.rows_at[0], "churn is a minority at every cutoff");
    for (int c = 0; c < 3; c++)
        cr_assert_eq(rep.cutoff_ms[c], rep.cutoff_ms[0] - (int64_t)c * 20 * DAY);
    cr_assert_eq(ds->n_rows, rep.rows);
    cr_assert_eq(ds->n_positive, rep.positives);
    cr_assert_not_null(ds->group, "rows carry their customer");
    cr_assert_not_null(ds->time, "rows carry their cutoff");
    /* 200 days of data, of which the store keeps the last 180 */
    cr_assert_eq(rep.history_from_ms, ((int64_t)churn_day_of_ms(NOW) - 179) * DAY);
    churn_dataset_free(ds);
}

Test(trainset, the_csv_export_is_the_same_training_set, .init = setup, .fini = teardown)
{
    struct churn_trainset_options o = options(30, 3);
    struct churn_dataset *ds = NULL, *from_csv = NULL;
    struct churn_trainset_report rep, rep_csv;
    char err[512];
    cr_assert_eq(churn_trainset_from_store(st, &o, &ds, &rep, err, sizeof(err)), CHURN_OK, "%s",
                 err);
    struct churn_buf csv;
    churn_buf_init(&csv, 1 << 26);
    cr_assert_eq(churn_buf_append_str(&csv, "kept"), CHURN_OK);
    cr_assert_eq(churn_trainset_csv(st, &o, &csv, &rep_csv, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_eq(strncmp(csv.data, "kept", 4), 0, "appended after what the buffer held");
    cr_assert_eq(rep_csv.rows, rep.rows);
    cr_assert_eq(rep_csv.positives, rep.positives);
    cr_assert_eq(rep_csv.n_cutoffs, 3);
    static const char *const cats[] = {"segment", "plan", "country"};
    struct churn_dataset_options d = {.label = "churned",
                                      .positive = "1",
                                      .categorical = cats,
                                      .n_categorical = 3,
                                      .group = "customer_id",
                                      .time = "as_of_ms"};
    cr_assert_eq(
        churn_dataset_load_csv_mem(csv.data + 4, csv.len - 4, &d, &from_csv, err, sizeof(err)),
        CHURN_OK, "%s", err);
    cr_assert_eq(from_csv->n_rows, ds->n_rows);
    cr_assert_eq(from_csv->n_features, ds->n_features);
    for (size_t r = 0; r < ds->n_rows; r++) {
        cr_assert_float_eq(from_csv->y[r], ds->y[r], 0, "row %zu", r);
        cr_assert_float_eq(from_csv->time[r], ds->time[r], 0, "row %zu", r);
        for (size_t f = 0; f < ds->n_features; f++)
            cr_assert((isnan(from_csv->cols[f][r]) && isnan(ds->cols[f][r])) ||
                          from_csv->cols[f][r] == ds->cols[f][r],
                      "row %zu, %s", r, ds->features[f].name);
    }
    /* refused with the same reason, and nothing appended */
    size_t len = csv.len;
    o.horizon_days = 0;
    cr_assert_eq(churn_trainset_csv(st, &o, &csv, NULL, err, sizeof(err)), CHURN_EINVAL);
    cr_assert_str_eq(err, "training set: horizon_days: 1..365");
    cr_assert_eq(csv.len, len);
    churn_buf_free(&csv);
    churn_dataset_free(from_csv);
    churn_dataset_free(ds);
}

Test(trainset, cutoffs_without_history_are_skipped_and_refused_when_none_is_left, .init = setup,
     .fini = teardown)
{
    struct churn_trainset_options o = options(30, 12);
    struct churn_dataset *ds = NULL;
    struct churn_trainset_report rep;
    char err[512];
    cr_assert_eq(churn_trainset_from_store(st, &o, &ds, &rep, err, sizeof(err)), CHURN_OK, "%s",
                 err);
    /* 180 days kept (from day N - 179): cutoff c, 31 + 20c days back, needs 30 before it */
    for (int c = 0; c < 12; c++)
        cr_assert_eq(rep.skipped[c], 31 + 20 * c > 180 - CHURN_TRAINSET_MIN_HISTORY_DAYS,
                     "cutoff %d", c);
    churn_dataset_free(ds);
    o = options(180, 1);
    cr_assert_eq(churn_trainset_from_store(st, &o, &ds, &rep, err, sizeof(err)), CHURN_EINVAL);
    cr_assert(strstr(err, "no cutoff has 30 days of observed history"), "%s", err);
    o = options(0, 1);
    cr_assert_eq(churn_trainset_from_store(st, &o, &ds, &rep, err, sizeof(err)), CHURN_EINVAL);
    cr_assert(strstr(err, "horizon_days"), "%s", err);
}

Test(trainset, auto_cutoffs_are_those_with_90_days_of_history_and_at_least_one, .init = setup,
     .fini = teardown)
{
    struct churn_trainset_options o = options(30, 0);
    struct churn_dataset *ds = NULL;
    struct churn_trainset_report rep;
    char err[512];
    cr_assert_eq(churn_trainset_from_store(st, &o, &ds, &rep, err, sizeof(err)), CHURN_OK, "%s",
                 err);
    /* 180 days kept: cutoff c is 31 + 20c days back, so 149 - 20c days of history before it */
    cr_assert_eq(rep.n_cutoffs, 3, "149, 129 and 109 days; not 89");
    for (int c = 0; c < 3; c++) {
        cr_assert_not(rep.skipped[c]);
        cr_assert_eq(rep.cutoff_ms[c], churn_features_day_end(NOW - (31 + 20 * c) * DAY));
        cr_assert_gt(rep.rows_at[c], 0);
    }
    churn_dataset_free(ds);
    /* 90-day labels: the newest cutoff has 89 days; auto still takes it (it has 30) */
    o = options(90, 0);
    cr_assert_eq(churn_trainset_from_store(st, &o, &ds, &rep, err, sizeof(err)), CHURN_OK, "%s",
                 err);
    cr_assert_eq(rep.n_cutoffs, 1);
    cr_assert_not(rep.skipped[0]);
    churn_dataset_free(ds);
    /* and the default is auto */
    churn_trainset_options_default(&o);
    cr_assert_eq(o.cutoffs, 0);
    o.cutoffs = -1;
    cr_assert_eq(churn_trainset_from_store(st, &o, &ds, &rep, err, sizeof(err)), CHURN_EINVAL);
    cr_assert(strstr(err, "cutoffs: 1..24 (0: auto)"), "%s", err);
}

Test(trainset, a_store_without_churn_is_refused_with_the_reason, .init = setup_no_churn,
     .fini = teardown)
{
    struct churn_trainset_options o = options(30, 3);
    struct churn_dataset *ds = NULL;
    char err[512];
    cr_assert_eq(churn_trainset_from_store(st, &o, &ds, NULL, err, sizeof(err)), CHURN_EINVAL);
    cr_assert(strstr(err, "no churn at all"), "%s", err);
    cr_assert_null(ds);
    /* the CSV export refuses it alike, and leaves the buffer as it was */
    struct churn_buf csv;
    churn_buf_init(&csv, 1 << 26);
    cr_assert_eq(churn_buf_append_str(&csv, "kept"), CHURN_OK);
    cr_assert_eq(churn_trainset_csv(st, &o, &csv, NULL, err, sizeof(err)), CHURN_EINVAL);
    cr_assert(strstr(err, "no churn at all"), "%s", err);
    cr_assert_eq(csv.len, 4);
    cr_assert_str_eq(csv.data, "kept");
    churn_buf_free(&csv);
}

Test(trainset, folds_keep_a_customer_together_and_calibration_uses_the_newest_cutoff, .init = setup,
     .fini = teardown)
{
    struct churn_trainset_options o = options(30, 4);
    struct churn_dataset *ds = NULL;
    struct churn_trainset_report rep;
    char err[512];
    cr_assert_eq(churn_trainset_from_store(st, &o, &ds, &rep, err, sizeof(err)), CHURN_OK, "%s",
                 err);
    unsigned *fold = calloc(ds->n_rows, sizeof(unsigned));
    cr_assert_eq(churn_train_folds(ds, 5, 7, fold, err, sizeof(err)), CHURN_OK, "%s", err);
    size_t split = 0, per_fold[5] = {0};
    for (size_t r = 0; r < ds->n_rows; r++) {
        per_fold[fold[r]]++;
        for (size_t q = r + 1; q < ds->n_rows; q++)
            split += ds->group[q] == ds->group[r] && fold[q] != fold[r];
    }
    cr_assert_eq(split, 0, "a customer's rows are never on both sides of a fold");
    for (int f = 0; f < 5; f++)
        cr_assert_gt(per_fold[f], ds->n_rows / 10, "fold %d is not empty", f);
    free(fold);

    struct churn_train_options to;
    churn_train_options_default(&to);
    to.algo = CHURN_TRAIN_LOGREG;
    to.folds = 3;
    struct churn_model *model = NULL;
    struct churn_train_report tr;
    cr_assert_eq(churn_train(ds, &to, &model, &tr, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_eq(tr.calibration_time, (double)rep.cutoff_ms[0]);
    cr_assert_eq(tr.calibration_rows, rep.rows_at[0]);
    churn_model_unref(model);
    churn_dataset_free(ds);
}

/* A model trained on the data before @as_of (labels ending by then). */
static struct churn_model *
train_before(int64_t as_of, int horizon)
{
    struct churn_trainset_options o = options(horizon, 4);
    o.observed_until_ms = churn_features_day_end(as_of) + 1;
    struct churn_dataset *ds = NULL;
    char err[512];
    cr_assert_eq(churn_trainset_from_store(st, &o, &ds, NULL, err, sizeof(err)), CHURN_OK, "%s",
                 err);
    struct churn_train_options to;
    churn_train_options_default(&to);
    to.algo = CHURN_TRAIN_LOGREG;
    to.folds = 3;
    struct churn_model *model = NULL;
    cr_assert_eq(churn_train(ds, &to, &model, NULL, err, sizeof(err)), CHURN_OK, "%s", err);
    churn_dataset_free(ds);
    return model;
}

Test(trainset, a_model_records_the_horizon_of_its_labels, .init = setup, .fini = teardown)
{
    for (int h = 20; h <= 40; h += 20) {
        struct churn_model *model = train_before(NOW - 60 * DAY, h);
        cr_assert_eq(churn_model_info(model)->horizon_days, h, "trained on %d-day labels", h);
        char *text, err[CHURN_MODEL_ERRMSG];
        size_t len;
        cr_assert_eq(churn_model_to_json(model, &text, &len), CHURN_OK);
        struct churn_model *back = NULL;
        cr_assert_eq(churn_model_load_json(text, len, 0, &back, err, sizeof err), CHURN_OK, "%s",
                     err);
        cr_assert_eq(churn_model_info(back)->horizon_days, h, "the file carries it");
        churn_free(text);
        churn_model_unref(back);
        churn_model_unref(model);
    }
}

struct seen {
    size_t n, churned;
};

static int
count_score(void *user, const char *id, double p, int churned)
{
    struct seen *s = user;
    cr_assert(id[0] == 'c' && p >= 0 && p <= 1);
    s->n++;
    s->churned += churned > 0;
    return 0;
}

Test(trainset, a_backtest_foresees_churn_after_the_as_of_day, .init = setup, .fini = teardown)
{
    const int64_t as_of = NOW - 40 * DAY;
    struct churn_model *model = train_before(as_of, 30);
    struct churn_backtest_options o = {
        .as_of_ms = as_of, .horizon_days = 30, .observed_until_ms = NOW};
    struct churn_backtest_result r;
    struct seen seen = {0};
    char err[512];
    cr_assert_eq(churn_backtest_model(st, model, &o, count_score, &seen, &r, err, sizeof(err)),
                 CHURN_OK, "%s", err);
    cr_assert_eq(r.as_of_ms, churn_features_day_end(as_of));
    cr_assert_eq(seen.n, r.customers);
    cr_assert_eq(seen.churned, r.churned);
    cr_assert_gt(r.churned, 10);
    cr_assert_gt(r.metrics.auc, 0.85, "thinning logins foretell churn: AUC %.3f", r.metrics.auc);
    cr_assert(fabs(r.mean_predicted / r.realised_rate - 1) < 0.3,
              "calibrated: mean %.3f against realised %.3f", r.mean_predicted, r.realised_rate);
    cr_assert_leq(r.tier_share[CHURN_TIER_HIGH], 2 * r.realised_rate);
    churn_model_unref(model);
}

Test(trainset, a_backtest_refuses_windows_it_cannot_judge, .init = setup, .fini = teardown)
{
    struct churn_model *model = train_before(NOW - 40 * DAY, 30);
    struct churn_backtest_result r;
    char err[512];
    struct {
        int64_t as_of;
        int horizon;
        bool scores_only;
        const char *says;
    } cases[] = {
        {NOW - 185 * DAY, 30, false, "before the data"},
        {NOW + 2 * DAY, 30, false, "after the data ends"},
        {NOW - 10 * DAY, 30, false, "longer than the observed future"},
        {NOW - 40 * DAY, 0, false, "horizon 1..365"},
        {-5, 30, false, "not a time"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct churn_backtest_options o = {
            .as_of_ms = cases[i].as_of, .horizon_days = cases[i].horizon, .observed_until_ms = NOW};
        cr_assert_eq(churn_backtest_model(st, model, &o, NULL, NULL, &r, err, sizeof(err)),
                     CHURN_EINVAL, "case %zu", i);
        cr_assert(strstr(err, cases[i].says), "case %zu: %s", i, err);
    }
    /* without truth, the future is no obstacle: scores and tiers only */
    struct churn_backtest_options o = {
        .as_of_ms = NOW - DAY, .horizon_days = 30, .observed_until_ms = NOW, .scores_only = true};
    cr_assert_eq(churn_backtest_model(st, model, &o, NULL, NULL, &r, err, sizeof(err)), CHURN_OK,
                 "%s", err);
    cr_assert_not(r.has_truth);
    cr_assert(isnan(r.realised_rate));
    cr_assert_gt(r.customers, 0);
    churn_model_unref(model);
}

Test(trainset, a_backtest_where_nobody_churned_is_refused, .init = setup_no_churn, .fini = teardown)
{
    /* a model from another store scores this one; nobody here ever churns */
    struct churn_store *keep = st;
    char keep_dir[64];
    memcpy(keep_dir, dir, sizeof(dir));
    setup_store(true);
    struct churn_model *model = train_before(NOW - 40 * DAY, 30);
    teardown();
    st = keep;
    memcpy(dir, keep_dir, sizeof(dir));
    struct churn_backtest_options o = {
        .as_of_ms = NOW - 40 * DAY, .horizon_days = 30, .observed_until_ms = NOW};
    struct churn_backtest_result r;
    char err[512];
    cr_assert_eq(churn_backtest_model(st, model, &o, NULL, NULL, &r, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert(strstr(err, "none of the"), "%s", err);
    churn_model_unref(model);
}
