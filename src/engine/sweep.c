/*
 * service/sweep.c - the periodic sweep: every sweep_interval_ms (the first sweep_delay_ms after
 * start)
 * every customer is fed to the alert engine's rescore queue, because inactivity raises risk
 * with no event at all, and snoozed alerts must wake even for customers who send nothing.
 * The sweep walks customer ids in pages (one short read transaction per page, no record
 * decoded), and only feeds the queue while it is at most half full, so ingestion and chat
 * always find room and serving is never blocked; the engine scores in batches with one
 * durable write each. Progress is logged every PROGRESS_EVERY_MS and at the end (customers,
 * duration, alerts written, rescores dropped meanwhile).
 *
 * Segments: where the configuration tiers risk or value by share ("top 10% are high"), the
 * scores of a sweep are reservoir-sampled and, when it ends, the cut-offs are computed
 * (churn_segments_compute), put in force for every score and stored (meta "segments"), so a
 * restart starts from them.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "churn/alerts.h"
#include "churn/segments.h"
#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/log.h"
#include "churn/score.h"
#include "churn/store.h"
#include "alert_engine.h"

#define SWEEP_PAGE        512u /* ids per read transaction */
#define PROGRESS_EVERY_MS 10000
#define META_SEGMENTS     "segments"

/* ---- segments ---------------------------------------------------------------------------- */

static bool
computes_segments(const struct churn__alerts *al)
{
    const struct churn_segment_config *cfg = al->cfg.segments;
    return cfg && (cfg->risk_mode == CHURN_RISK_BY_TOP_SHARE ||
                   cfg->value_mode == CHURN_RISK_BY_TOP_SHARE);
}

static void
log_cuts(const char *event, const struct churn_segments *c)
{
    churn_log(CHURN_LOG_INFO, event, CHURN_LF_DBL("risk_high_cut", c->risk_high_cut),
              CHURN_LF_DBL("risk_medium_cut", c->risk_medium_cut),
              CHURN_LF_DBL("value_high_cut", c->value_high_cut),
              CHURN_LF_DBL("value_medium_cut", c->value_medium_cut),
              CHURN_LF_INT("risk_sample", c->risk_sample_size),
              CHURN_LF_INT("value_sample", c->value_sample_size));
}

void
churn__segments_start(struct churn__alerts *al)
{
    const struct churn_segment_config *cfg = al->cfg.segments;
    if (!cfg || !al->cfg.scorer)
        return;
    struct churn_segments base, cur;
    churn_scorer_segments(al->cfg.scorer, &base, NULL);
    struct churn_arena a;
    churn_arena_init(&a, 4096);
    void *data;
    size_t len;
    if (computes_segments(al) &&
        churn_store_get_meta(al->store, META_SEGMENTS, &a, &data, &len) == CHURN_OK) {
        struct churn_segments stored;
        if (churn_segments_decode(data, len, &stored) == CHURN_OK) {
            base = stored;
            log_cuts("segments_loaded", &stored);
        } else {
            churn_log(CHURN_LOG_WARN, "segments_unreadable",
                      CHURN_LF_STR("msg", "the stored cut-offs are ignored until the next sweep"));
        }
    }
    churn_arena_fini(&a);
    churn_segments_initial(cfg, &base, &cur);
    churn_scorer_set_segments(al->cfg.scorer, &cur);
}

void
churn__segments_sample_locked(struct churn__alerts *al, double p, double value)
{
    if (!al->sample_p || !(p >= 0 && p <= 1) || !(value >= 0 && isfinite(value)))
        return;
    uint64_t k = al->sample_seen++;
    if (k >= CHURN__SAMPLE_MAX) {
        /* reservoir sampling: keep each of the k+1 seen with probability MAX/(k+1) */
        uint64_t x = (al->sample_rng += 0x9e3779b97f4a7c15ULL);
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        x ^= x >> 31;
        k = x % (k + 1);
        if (k >= CHURN__SAMPLE_MAX)
            return;
    } else {
        al->sample_n++;
    }
    al->sample_p[k] = p;
    al->sample_v[k] = value;
}

/* At the end of a sweep: cut-offs from its sample, in force and stored. */
static void
segments_update(struct churn__alerts *al)
{
    if (!computes_segments(al) || !al->cfg.scorer)
        return;
    pthread_mutex_lock(&al->mu);
    size_t n = al->sample_n;
    double *p = n ? churn_malloc(n * sizeof(*p)) : NULL;
    double *v = n ? churn_malloc(n * sizeof(*v)) : NULL;
    if (p && v) {
        memcpy(p, al->sample_p, n * sizeof(*p));
        memcpy(v, al->sample_v, n * sizeof(*v));
    }
    pthread_mutex_unlock(&al->mu);
    struct churn_segments cuts;
    char msg[256];
    if (!p || !v) {
        if (n)
            churn_log(CHURN_LOG_ERROR, "segments_failed", CHURN_LF_STR("error", "out of memory"));
    } else if (churn_segments_compute(al->cfg.segments, p, n, v, n, &cuts, msg, sizeof(msg)) !=
               CHURN_OK) {
        churn_log(CHURN_LOG_WARN, "segments_failed", CHURN_LF_STR("error", msg));
    } else {
        uint8_t enc[64];
        size_t len;
        churn_scorer_set_segments(al->cfg.scorer, &cuts);
        if (churn_segments_encode(&cuts, enc, sizeof(enc), &len) != CHURN_OK ||
            churn_store_put_meta(al->store, META_SEGMENTS, enc, len) != CHURN_OK)
            churn_log(CHURN_LOG_WARN, "segments_not_stored",
                      CHURN_LF_STR("error", churn_store_last_error()));
        log_cuts("segments_updated", &cuts);
    }
    churn_free(p);
    churn_free(v);
}

/* Sleep until @until (unix ms) or stop; false when stopping. al->mu NOT held. */
static bool
wait_until(struct churn__alerts *al, int64_t until)
{
    pthread_mutex_lock(&al->mu);
    while (!al->stop && churn_now_ms() < until) {
        struct timespec ts = churn_timespec_of_ms(until);
        pthread_cond_timedwait(&al->sweep_cv, &al->mu, &ts);
    }
    bool ok = !al->stop;
    pthread_mutex_unlock(&al->mu);
    return ok;
}

/* Wait until the engine has scored and stored everything queued (the sweep's last page
 * included, and the batch in flight: the segments and the daily snapshot read them). */
static bool
wait_drained(struct churn__alerts *al)
{
    pthread_mutex_lock(&al->mu);
    while (!al->stop && (al->rq_n > 0 || al->rescores_finished != al->rescores_done)) {
        struct timespec ts = churn_timespec_of_ms(churn_now_ms() + 50);
        pthread_cond_timedwait(&al->space_cv, &al->mu, &ts);
    }
    bool ok = !al->stop;
    pthread_mutex_unlock(&al->mu);
    return ok;
}

static void
set_status(struct churn__alerts *al, bool running, uint64_t customers, int64_t started,
           int64_t duration)
{
    pthread_mutex_lock(&al->mu);
    al->sweep.running = running;
    al->sweep.customers = customers;
    if (started) {
        al->sweep.started_ms = started;
        al->sample_n = 0; /* a new sweep: a new sample */
        al->sample_seen = 0;
    }
    if (!running) {
        al->sweep.duration_ms = duration;
        al->sweep.runs++;
    }
    pthread_mutex_unlock(&al->mu);
}

static uint64_t
dropped_so_far(struct churn__alerts *al)
{
    pthread_mutex_lock(&al->mu);
    uint64_t d = al->rescores_dropped;
    pthread_mutex_unlock(&al->mu);
    return d;
}

/* One sweep over every customer. False when the engine is stopping. */
static bool
sweep_once(struct churn__alerts *al, char (*ids)[CHURN_ID_MAX + 1])
{
    struct churn_store_stats st = {0};
    churn_store_stats(al->store, &st);
    int64_t t0 = churn_now_ms(), next_report = t0 + PROGRESS_EVERY_MS;
    uint64_t alerts0 = atomic_load(&al->alerts_committed), dropped0 = dropped_so_far(al);
    uint64_t done = 0;
    char after[CHURN_ID_MAX + 1] = "";
    set_status(al, true, 0, t0, 0);
    churn_log(CHURN_LOG_INFO, "sweep_started", CHURN_LF_INT("customers", (int64_t)st.customers));
    for (;;) {
        size_t n = 0;
        enum churn_err err = churn_store_list_customer_ids(al->store, after, ids, SWEEP_PAGE, &n);
        if (err) {
            churn_log(CHURN_LOG_ERROR, "sweep_failed",
                      CHURN_LF_INT("customers_done", (int64_t)done),
                      CHURN_LF_STR("error", churn_store_last_error()));
            break;
        }
        if (n == 0)
            break;
        _Static_assert(CHURN_ID_MAX + 1 == CHURN_ALERT_ID_MAX, "a store id is a queue id");
        snprintf(after, sizeof(after), "%s", ids[n - 1]);
        size_t page = n;
        n = churn__alerts_owned_only(al, ids, n);
        if (n && !churn__rescore_enqueue_wait(al, ids, n))
            return false;
        done += n;
        set_status(al, true, done, 0, 0);
        int64_t now = churn_now_ms();
        if (now >= next_report) {
            next_report = now + PROGRESS_EVERY_MS;
            churn_log(CHURN_LOG_INFO, "sweep_progress",
                      CHURN_LF_INT("customers_done", (int64_t)done),
                      CHURN_LF_INT("customers", (int64_t)st.customers),
                      CHURN_LF_INT("elapsed_ms", now - t0));
        }
        if (page < SWEEP_PAGE)
            break;
    }
    if (!wait_drained(al))
        return false;
    int64_t duration = churn_now_ms() - t0;
    segments_update(al);
    churn__daily_snapshot(al); /* issue 15: the trends' daily aggregate, once a day */
    set_status(al, false, done, 0, duration);
    churn_log(
        CHURN_LOG_INFO, "sweep_finished", CHURN_LF_INT("customers", (int64_t)done),
        CHURN_LF_INT("duration_ms", duration),
        CHURN_LF_INT("per_second", duration > 0 ? (int64_t)(done * 1000 / duration) : 0),
        CHURN_LF_INT("alerts_written", (int64_t)(atomic_load(&al->alerts_committed) - alerts0)),
        CHURN_LF_INT("rescores_dropped", (int64_t)(dropped_so_far(al) - dropped0)));
    return true;
}

static void *
sweep_main(void *arg)
{
    struct churn__alerts *al = arg;
    pthread_setname_np(pthread_self(), "sweep");
    char(*ids)[CHURN_ID_MAX + 1] = churn_malloc(SWEEP_PAGE * sizeof(*ids));
    if (!ids) {
        churn_log(CHURN_LOG_ERROR, "sweep_failed", CHURN_LF_STR("error", "out of memory"));
        return NULL;
    }
    int64_t next = churn_now_ms() + al->sweep_delay_ms; /* --sweep-delay-s */
    bool said = false;
    while (wait_until(al, next)) {
        /* without a model nothing can be scored: wait for one (loaded at start or later) */
        if (!al->cfg.scorer || !churn_scorer_has_model(al->cfg.scorer)) {
            if (!said)
                churn_log(CHURN_LOG_INFO, "sweep_waiting",
                          CHURN_LF_STR("msg", "no model is served yet"));
            said = true;
            next = churn_now_ms() + 1000;
            continue;
        }
        int64_t started = churn_now_ms();
        if (!sweep_once(al, ids))
            break;
        next = started + al->sweep_interval_ms; /* a sweep longer than the interval: at once */
    }
    churn_free(ids);
    return NULL;
}

enum churn_err
churn__sweep_start(struct churn__alerts *al)
{
    churn__segments_start(al);
    if (al->sweep_interval_ms <= 0)
        return CHURN_OK;
    if (computes_segments(al)) {
        al->sample_p = churn_malloc(CHURN__SAMPLE_MAX * sizeof(*al->sample_p));
        al->sample_v = churn_malloc(CHURN__SAMPLE_MAX * sizeof(*al->sample_v));
        if (!al->sample_p || !al->sample_v)
            return CHURN_ENOMEM;
    }
    if (pthread_create(&al->sweep_thread, NULL, sweep_main, al) != 0)
        return CHURN_ENOMEM;
    al->sweep_started = true;
    return CHURN_OK;
}

void
churn__sweep_stop(struct churn__alerts *al)
{
    if (al->sweep_started) {
        pthread_join(al->sweep_thread, NULL);
        al->sweep_started = false;
    }
    churn_free(al->sample_p);
    churn_free(al->sample_v);
    al->sample_p = al->sample_v = NULL;
}
