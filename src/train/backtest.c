/*
 * backtest.c - the prospective evaluation of a model on a store (churn/trainset.h): score every
 * customer as of one day exactly as the server would have scored them then (the served feature
 * function, the store's observed history, the model's input binding), then compare with who
 * actually churned in the horizon after it: ROC-AUC, PR-AUC, lift and capture, calibration,
 * mean predicted against realised, and the share and realised churn of each risk tier.
 */
#include "churn/trainset.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/features.h"
#include "churn/model_inputs.h"
#include "churn/segments.h"

struct scoring {
    const struct churn_backtest_options *o;
    const struct churn_model *model;
    struct churn_model_inputs *inputs;
    int64_t as_of, observed_until, history_from;
    churn_backtest_score_fn *on_score;
    void *user;
    double *x, *p, *y;
    size_t n, cap;
    bool stopped;
    enum churn_err err;
};

static int
score_visit(const struct churn_customer *rec, void *user)
{
    struct scoring *s = user;
    /* who counts: a customer at as_of who had not churned by then (as for training rows) */
    int label =
        churn_features_label(rec, s->as_of, s->o->horizon_days, s->o->inactivity_days,
                             s->o->scores_only ? CHURN_FEATURES_AS_OF_MAX : s->observed_until);
    if (label < 0)
        return 0;
    struct churn_feature_vector vec;
    if (churn_features_extract_observed(rec, s->as_of, s->history_from, &vec))
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4096;
        double *p = churn_realloc(s->p, cap * sizeof(double));
        double *y = p ? churn_realloc(s->y, cap * sizeof(double)) : NULL;
        if (p)
            s->p = p;
        if (!p || !y) {
            s->err = CHURN_ENOMEM;
            return 1;
        }
        s->y = y;
        s->cap = cap;
    }
    churn_model_inputs_fill(s->inputs, s->model, rec, &vec, s->x);
    struct churn_model_prediction pred;
    churn_model_predict(s->model, s->x, &pred);
    int truth = s->o->scores_only ? -1 : label;
    s->p[s->n] = pred.probability;
    s->y[s->n++] = truth;
    if (s->on_score && s->on_score(s->user, rec->id, pred.probability, truth)) {
        s->stopped = true;
        return 1;
    }
    return 0;
}

static enum churn_err
check_window(const struct churn_backtest_options *o, int64_t as_of, int64_t until,
             int64_t history_from, char *err, size_t errlen)
{
    char a[40], b[40];
    churn_format_time_ms(as_of, a, sizeof(a));
    churn_format_time_ms(until, b, sizeof(b));
    int64_t horizon_end = as_of + (int64_t)o->horizon_days * CHURN_MS_PER_DAY;
    if (o->horizon_days < 1 || o->horizon_days > 365 || o->inactivity_days < 0 ||
        o->inactivity_days > o->horizon_days)
        snprintf(err, errlen, "backtest: horizon 1..365 days, inactivity 0..horizon");
    else if (churn_day_of_ms(as_of) > churn_day_of_ms(until))
        snprintf(err, errlen, "backtest: as-of %s is after the data ends (%s)", a, b);
    else if (history_from == 0 ||
             as_of - history_from < (int64_t)CHURN_TRAINSET_MIN_HISTORY_DAYS * CHURN_MS_PER_DAY) {
        char h[40];
        churn_format_time_ms(history_from, h, sizeof(h));
        snprintf(err, errlen,
                 "backtest: as-of %s is before the data: the store observes from %s, a score "
                 "needs %d days of history",
                 a, history_from ? h : "nothing (empty)", CHURN_TRAINSET_MIN_HISTORY_DAYS);
    } else if (!o->scores_only && horizon_end > until)
        snprintf(err, errlen,
                 "backtest: the horizon is longer than the observed future: as-of %s + %d days "
                 "reaches past the data's end (%s)",
                 a, o->horizon_days, b);
    else
        return CHURN_OK;
    return CHURN_EINVAL;
}

/* Tier cut-offs from @o's config (or the defaults) and the scores; shares and churn per tier. */
static enum churn_err
tiers(const struct churn_backtest_options *o, const struct scoring *s,
      struct churn_backtest_result *out, char *err, size_t errlen)
{
    struct churn_segment_config def;
    churn_segment_config_default(&def);
    const struct churn_segment_config *cfg = o->tiers ? o->tiers : &def;
    double one = 0;
    enum churn_err e = churn_segments_compute(cfg, s->p, s->n, &one, 1, &out->cuts, err, errlen);
    if (e)
        return e;
    double n_at[4] = {0}, churned_at[4] = {0};
    for (size_t i = 0; i < s->n; i++) {
        enum churn_tier t = churn_segments_risk_tier(&out->cuts, s->p[i]);
        n_at[t]++;
        churned_at[t] += s->y[i] > 0;
    }
    for (int t = 0; t < 4; t++) {
        out->tier_share[t] = n_at[t] / (double)s->n;
        out->tier_churn_rate[t] = n_at[t] && out->has_truth ? churned_at[t] / n_at[t] : NAN;
    }
    return CHURN_OK;
}

static enum churn_err
summarise(const struct churn_backtest_options *o, const struct scoring *s,
          struct churn_backtest_result *out, char *err, size_t errlen)
{
    double sum_p = 0, churned = 0;
    for (size_t i = 0; i < s->n; i++) {
        sum_p += s->p[i];
        churned += s->y[i] > 0;
    }
    out->customers = s->n;
    out->churned = (size_t)churned;
    out->mean_predicted = sum_p / (double)s->n;
    out->has_truth = !o->scores_only;
    out->realised_rate = out->has_truth ? churned / (double)s->n : NAN;
    if (out->has_truth && (churned == 0 || churned == (double)s->n)) {
        char a[40];
        churn_format_time_ms(s->as_of, a, sizeof(a));
        snprintf(err, errlen,
                 "backtest: %s of the %zu customers churned in the %d days after %s: AUC needs "
                 "both",
                 churned == 0 ? "none" : "all", s->n, o->horizon_days, a);
        return CHURN_EINVAL;
    }
    if (out->has_truth) {
        enum churn_err e = churn_metrics_compute(s->p, s->y, s->n, 0.5, &out->metrics);
        if (e) {
            snprintf(err, errlen, "backtest: metrics: %s", churn_strerror(e));
            return e;
        }
    }
    return tiers(o, s, out, err, errlen);
}

enum churn_err
churn_backtest_model(struct churn_store *store, const struct churn_model *model,
                     const struct churn_backtest_options *o, churn_backtest_score_fn *on_score,
                     void *user, struct churn_backtest_result *out, char *err, size_t errlen)
{
    struct scoring s = {.o = o, .model = model, .on_score = on_score, .user = user};
    if (o->as_of_ms <= 0 || o->as_of_ms > CHURN_FEATURES_AS_OF_MAX) {
        snprintf(err, errlen, "backtest: as-of is not a time");
        return CHURN_EINVAL;
    }
    s.as_of = churn_features_day_end(o->as_of_ms);
    s.observed_until = o->observed_until_ms ? o->observed_until_ms : churn_now_ms();
    s.history_from = churn_store_history_from_ms(store, s.observed_until);
    enum churn_err e = check_window(o, s.as_of, s.observed_until, s.history_from, err, errlen);
    if (e || (e = churn_model_inputs_bind(model, &s.inputs, err, errlen)))
        return e;
    s.x = churn_malloc((churn_model_n_features(model) + 1) * sizeof(double));
    if (!s.x) {
        e = CHURN_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    e = churn_store_foreach_customer(store, score_visit, &s);
    if (!e && s.err)
        e = s.err;
    if (!e && s.stopped)
        e = CHURN_ECANCELLED;
    if (e) {
        snprintf(err, errlen, "backtest: %s",
                 e == CHURN_EINVAL || e == CHURN_ECORRUPT ? churn_store_last_error()
                                                          : churn_strerror(e));
        goto out;
    }
    if (s.n == 0) {
        snprintf(err, errlen, "backtest: no customer was a customer at the as-of day");
        e = CHURN_EINVAL;
        goto out;
    }
    memset(out, 0, sizeof(*out));
    out->as_of_ms = s.as_of;
    e = summarise(o, &s, out, err, errlen);
out:
    churn_model_inputs_free(s.inputs);
    churn_free(s.x);
    churn_free(s.p);
    churn_free(s.y);
    return e;
}
