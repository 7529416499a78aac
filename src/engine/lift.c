/*
 * lift.c - the served model's lift and gains over the store (churn/lift.h): one prospective
 * backtest (churn_backtest_model, the computation `churnctl backtest` and retraining use),
 * its decile rates turned into counts, lift and the cumulative gains curve.
 */
#include "churn/lift.h"

#include <math.h>
#include <string.h>

#include "churn/score.h"
#include "churn/trainset.h"

#define DAY_MS 86400000LL

/* The tenths of @r's ranking, as churn_metrics_compute() cut them: [d*n/10, (d+1)*n/10). */
static void
fill_deciles(const struct churn_backtest_result *r, struct churn_lift *out)
{
    size_t n = r->customers, cum = 0;
    for (size_t d = 0; d < 10; d++) {
        struct churn_lift_decile *x = &out->deciles[d];
        x->customers = (d + 1) * n / 10 - d * n / 10;
        double rate = r->metrics.decile_rate[d];
        x->churned = x->customers && isfinite(rate) ? (size_t)llround(rate * x->customers) : 0;
        x->rate = x->customers ? (double)x->churned / (double)x->customers : NAN;
        x->lift = r->metrics.decile_lift[d];
        x->capture = r->metrics.decile_capture[d];
        cum += x->customers;
        x->share = n ? (double)cum / (double)n : NAN;
    }
}

/* The backtest's per-customer callback: it stops the walk once *@user is true. */
static int
stop_requested(void *user, const char *customer_id, double probability, int churned)
{
    (void)customer_id, (void)probability, (void)churned;
    return atomic_load((const atomic_bool *)user) ? 1 : 0;
}

enum churn_err
churn_lift_compute(struct churn_store *store, const struct churn_served *m, int64_t now_ms,
                   int default_horizon_days, const atomic_bool *stop, struct churn_lift *out,
                   char *err, size_t errlen)
{
    int64_t h_ms = churn_served_horizon_ms(m);
    int h = h_ms > 0 ? (int)(h_ms / DAY_MS) : default_horizon_days;
    if (h < 1)
        return churn_fail(err, errlen, CHURN_EINVAL, "the model's horizon is under a day");
    /* T's day ends a day before now - H, so that its whole horizon has been observed */
    struct churn_backtest_options o = {.as_of_ms = now_ms - (int64_t)(h + 1) * DAY_MS,
                                       .horizon_days = h,
                                       .observed_until_ms = now_ms};
    struct churn_backtest_result r;
    enum churn_err e = churn_backtest_model(store, m->model, &o, stop ? stop_requested : NULL,
                                            (void *)stop, &r, err, errlen);
    if (e)
        return e;
    struct churn_lift l;
    memset(&l, 0, sizeof(l));
    l.generation = m->generation;
    l.as_of_ms = r.as_of_ms;
    l.horizon_days = h;
    l.computed_at_ms = now_ms;
    l.customers = r.customers;
    l.churned = r.churned;
    l.base_rate = r.customers ? (double)r.churned / (double)r.customers : NAN;
    l.auc = r.metrics.auc;
    fill_deciles(&r, &l);
    *out = l;
    return CHURN_OK;
}
