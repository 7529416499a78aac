/*
 * lift.c - GET /api/lift on the dashboard: the served model's lift and gains over the store
 * (churn/lift.h), the numbers behind the model panel's chart. A backtest reads every customer,
 * so the answer is kept for the model generation and the UTC day it was computed for and
 * computed again only when either changes; while one request computes it, others are told to
 * retry (503 with Retry-After) instead of holding more of the listener's threads.
 */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "churn/clock.h"
#include "churn/score.h"
#include "churn/service.h"
#include "internal.h"

/* Without a horizon in the model file: --retrain-horizon-days' default. */
#define LIFT_DEFAULT_HORIZON_DAYS 90
#define DAY_MS                    86400000LL

static json_t *
lift_json(const struct churn_lift *l)
{
    json_t *deciles = json_array();
    for (size_t d = 0; deciles && d < 10; d++) {
        const struct churn_lift_decile *x = &l->deciles[d];
        json_t *o = json_pack("{s:I,s:I,s:I}", "decile", (json_int_t)d + 1, "customers",
                              (json_int_t)x->customers, "churned", (json_int_t)x->churned);
        json_object_set_new(o, "rate", churn__dashboard_number(x->rate));
        json_object_set_new(o, "lift", churn__dashboard_number(x->lift));
        json_object_set_new(o, "capture", churn__dashboard_number(x->capture));
        json_object_set_new(o, "share", churn__dashboard_number(x->share));
        json_array_append_new(deciles, o);
    }
    json_t *doc =
        json_pack("{s:I,s:I,s:i,s:I,s:I,s:I,s:o}", "generation", (json_int_t)l->generation,
                  "as_of_ms", (json_int_t)l->as_of_ms, "horizon_days", l->horizon_days,
                  "computed_at_ms", (json_int_t)l->computed_at_ms, "customers",
                  (json_int_t)l->customers, "churned", (json_int_t)l->churned, "deciles", deciles);
    if (doc) {
        json_object_set_new(doc, "base_rate", churn__dashboard_number(l->base_rate));
        json_object_set_new(doc, "auc", churn__dashboard_number(l->auc));
    }
    return doc;
}

/* The cached lift when it was computed for @m today, else a fresh one (under lift_mu). */
static enum churn_err
current_lift(struct churn_dashboard *d, const struct churn_served *m, struct churn_lift *out,
             char *msg, size_t msglen)
{
    int64_t now = churn_now_ms();
    bool fresh = d->have_lift && d->lift.generation == m->generation &&
                 d->lift.computed_at_ms / DAY_MS == now / DAY_MS;
    if (!fresh) {
        enum churn_err e = churn_lift_compute(d->svc->store, m, now, LIFT_DEFAULT_HORIZON_DAYS,
                                              &d->lift, msg, msglen);
        if (e)
            return e;
        d->have_lift = true;
    }
    *out = d->lift;
    return CHURN_OK;
}

void
churn__dashboard_lift(void *ctx, const struct churn_admin_request *r,
                      struct churn_admin_reply *reply)
{
    struct churn_dashboard *d = ctx;
    if (churn__dashboard_unknown_param(r, NULL, 0, reply))
        return;
    struct churn_served *m = d->svc->scoring ? churn_scorer_acquire(d->svc->scoring) : NULL;
    if (!d->svc->store || !m) {
        churn_served_release(m);
        churn__dashboard_reply_json(reply, NULL, !m ? 409 : 503,
                                    !m ? "no model is served" : "the store is not open yet");
        return;
    }
    if (pthread_mutex_trylock(&d->lift_mu) != 0) {
        churn_served_release(m);
        reply->retry_after_s = 5;
        churn__dashboard_reply_json(reply, NULL, 503, "the lift is being computed: retry");
        return;
    }
    struct churn_lift l;
    char msg[256] = "";
    enum churn_err e = current_lift(d, m, &l, msg, sizeof(msg));
    pthread_mutex_unlock(&d->lift_mu);
    churn_served_release(m);
    /* the backtest's refusals (too little history, no churner yet) are the store's state */
    int status = e == CHURN_EINVAL || e == CHURN_EPRECOND ? 409 : 500;
    churn__dashboard_reply_json(reply, e ? NULL : lift_json(&l), status, e ? msg : "out of memory");
}
