/*
 * lift.c - GET /api/lift on the dashboard: the served model's lift and gains over the store
 * (churn/lift.h), the numbers behind the model panel's chart. A backtest reads every customer
 * (tens of seconds at a million), so no request computes it: a thread of the dashboard's own
 * (nice 10) computes it at start, when the served model's generation changes (a promotion or
 * a reload) and when the UTC day changes, and keeps the answer (or the backtest's refusal) for
 * that generation and day. A request finding no answer for the current ones is told to retry
 * (503 with Retry-After) and rings the thread.
 */
#define _GNU_SOURCE /* gettid */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "churn/clock.h"
#include "churn/log.h"
#include "churn/score.h"
#include "churn/service.h"
#include "internal.h"

/* Without a horizon in the model file: --retrain-horizon-days' default. */
#define LIFT_DEFAULT_HORIZON_DAYS 90
#define DAY_MS                    86400000LL
#define LIFT_POLL_MS              5000 /* the thread looks for a new model or day this often */
#define LIFT_RETRY_AFTER_S        5
#define LIFT_NICE                 10

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

/* ---- the lift thread ---------------------------------------------------------------- */

/* The served model (acquired: release it) when the store is open and a model served. */
static struct churn_served *
served_model(struct churn_dashboard *d)
{
    return d->svc->store && d->svc->scoring ? churn_scorer_acquire(d->svc->scoring) : NULL;
}

/* True when the kept answer is for generation @gen on @day (under lift_mu). */
static bool
answer_is_for(const struct churn_dashboard *d, uint64_t gen, int64_t day)
{
    return d->lift_day == day && d->lift_generation == gen;
}

/* Compute the lift of @m for today and keep it, or the refusal, for its generation and day. */
static void
compute_and_keep(struct churn_dashboard *d, const struct churn_served *m)
{
    int64_t now = churn_now_ms();
    struct churn_lift l;
    char msg[256] = "";
    enum churn_err e = churn_lift_compute(d->svc->store, m, now, LIFT_DEFAULT_HORIZON_DAYS,
                                          &d->lift_stop, &l, msg, sizeof(msg));
    if (e == CHURN_ECANCELLED)
        return;
    pthread_mutex_lock(&d->lift_mu);
    d->lift_generation = m->generation;
    d->lift_day = now / DAY_MS;
    d->lift_err = e;
    snprintf(d->lift_msg, sizeof(d->lift_msg), "%s", e ? msg : "");
    if (!e)
        d->lift = l;
    pthread_mutex_unlock(&d->lift_mu);
    churn_log(e ? CHURN_LOG_WARN : CHURN_LOG_INFO, e ? "lift_refused" : "lift_computed",
              CHURN_LF_INT("generation", (long long)m->generation),
              CHURN_LF_INT("ms", (long long)(churn_now_ms() - now)),
              CHURN_LF_STR("reason", e ? msg : ""));
}

/* Sleep until rung, stopped or LIFT_POLL_MS passed. */
static void
lift_wait(struct churn_dashboard *d)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (LIFT_POLL_MS % 1000) * 1000000L;
    until.tv_sec += LIFT_POLL_MS / 1000 + until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&d->lift_mu);
    if (!atomic_load(&d->lift_stop))
        pthread_cond_timedwait(&d->lift_cv, &d->lift_mu, &until);
    pthread_mutex_unlock(&d->lift_mu);
}

static void *
lift_main(void *arg)
{
    struct churn_dashboard *d = arg;
    pthread_setname_np(pthread_self(), "dashboard-lift");
    /* a background backtest yields the CPU to serving (Linux: nice is per thread) */
    int base = getpriority(PRIO_PROCESS, (id_t)getpid());
    setpriority(PRIO_PROCESS, (id_t)gettid(), base + LIFT_NICE < 19 ? base + LIFT_NICE : 19);
    while (!atomic_load(&d->lift_stop)) {
        struct churn_served *m = served_model(d);
        if (m) {
            pthread_mutex_lock(&d->lift_mu);
            bool stale = !answer_is_for(d, m->generation, churn_now_ms() / DAY_MS);
            pthread_mutex_unlock(&d->lift_mu);
            if (stale)
                compute_and_keep(d, m);
            churn_served_release(m);
        }
        lift_wait(d);
    }
    return NULL;
}

enum churn_err
churn__dashboard_lift_start(struct churn_dashboard *d)
{
    pthread_mutex_init(&d->lift_mu, NULL);
    pthread_cond_init(&d->lift_cv, NULL);
    atomic_init(&d->lift_stop, false);
    d->lift_day = -1;
    d->lift_started = pthread_create(&d->lift_thread, NULL, lift_main, d) == 0;
    if (d->lift_started)
        return CHURN_OK;
    pthread_cond_destroy(&d->lift_cv);
    pthread_mutex_destroy(&d->lift_mu);
    return CHURN_ENOMEM;
}

void
churn__dashboard_lift_stop(struct churn_dashboard *d)
{
    if (!d->lift_started)
        return;
    pthread_mutex_lock(&d->lift_mu);
    atomic_store(&d->lift_stop, true); /* also ends a backtest under way */
    pthread_cond_broadcast(&d->lift_cv);
    pthread_mutex_unlock(&d->lift_mu);
    pthread_join(d->lift_thread, NULL);
    pthread_cond_destroy(&d->lift_cv);
    pthread_mutex_destroy(&d->lift_mu);
    d->lift_started = false;
}

/* ---- GET /api/lift ---------------------------------------------------------------------- */

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
    pthread_mutex_lock(&d->lift_mu);
    bool ready = answer_is_for(d, m->generation, churn_now_ms() / DAY_MS);
    struct churn_lift l = d->lift;
    enum churn_err e = d->lift_err;
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", d->lift_msg);
    if (!ready)
        pthread_cond_signal(&d->lift_cv); /* a model change or a new day: now, not at the poll */
    pthread_mutex_unlock(&d->lift_mu);
    churn_served_release(m);
    if (!ready) {
        reply->retry_after_s = LIFT_RETRY_AFTER_S;
        churn__dashboard_reply_json(reply, NULL, 503, "the lift is being computed: retry");
        return;
    }
    /* the backtest's refusals (too little history, no churner yet) are the store's state */
    int status = e == CHURN_EINVAL || e == CHURN_EPRECOND ? 409 : 500;
    churn__dashboard_reply_json(reply, e ? NULL : lift_json(&l), status, e ? msg : "out of memory");
}
