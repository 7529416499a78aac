/*
 * metrics.c - the services' state as metrics, read at scrape time: the store's size and map
 * usage, the rescore and chat-job queues, alert watchers, the sweep, and the served model's
 * registry id and backtest AUC, and each alert delivery destination's counters, pause and lag.
 * Each value is read under the lock that guards it, briefly.
 */
#include <pthread.h>
#include <stdio.h>

#include "../engine/alert_engine.h"
#include "churn/answer_cache.h"
#include "churn/score.h"
#include "churn/score_index.h"
#include "churn/score_keep.h"
#include "churn/delivery.h"
#include "churn/metrics.h"
#include "churn/registry.h"
#include "churn/service.h"
#include "service_internal.h"

static void
collect_store(struct churn_services *svc, struct churn_metrics_sink *k)
{
    struct churn_store_stats st;
    if (!svc->store || churn_store_stats(svc->store, &st) != CHURN_OK)
        return;
    churn_metrics_sink_gauge(k, "churn_store_records", "Records in the store by database.",
                             "db=\"customers\"", (double)st.customers);
    churn_metrics_sink_gauge(k, "churn_store_records", "", "db=\"event_ids\"",
                             (double)st.event_ids);
    churn_metrics_sink_gauge(k, "churn_store_records", "", "db=\"conversations\"",
                             (double)st.conversations);
    churn_metrics_sink_gauge(k, "churn_store_records", "", "db=\"alerts\"", (double)st.alerts);
    churn_metrics_sink_gauge(k, "churn_store_records", "", "db=\"outcomes\"", (double)st.outcomes);
    churn_metrics_sink_gauge(k, "churn_store_map_size_bytes", "The LMDB map size now.", "",
                             (double)st.map_size);
    churn_metrics_sink_gauge(k, "churn_store_used_bytes", "Pages in use times the page size.", "",
                             (double)st.used_bytes);
    churn_metrics_sink_gauge(k, "churn_store_map_used_ratio",
                             "Used bytes over the map size (the map grows when it is full).", "",
                             st.map_size ? (double)st.used_bytes / (double)st.map_size : 0);
}

struct engine_view {
    size_t rq_n, n_jobs, watchers;
    uint64_t rescores_dropped, rescores_coalesced, rescores_done, jobs_dropped;
    struct churn__sweep_stats sweep;
};

static void
read_engine(struct churn__alerts *al, struct engine_view *v)
{
    pthread_mutex_lock(&al->mu);
    v->rq_n = al->rq_n;
    v->n_jobs = al->n_jobs;
    v->watchers = 0;
    for (struct churn_alert_listener *l = al->listeners; l; l = l->next)
        v->watchers++;
    v->rescores_dropped = al->rescores_dropped;
    v->rescores_coalesced = al->rescores_coalesced;
    v->rescores_done = al->rescores_done;
    v->jobs_dropped = al->dropped;
    v->sweep = al->sweep;
    pthread_mutex_unlock(&al->mu);
}

static void
collect_queues(const struct engine_view *v, struct churn_metrics_sink *k)
{
    churn_metrics_sink_gauge(k, "churn_rescore_queue_depth", "Customers waiting for a rescore.", "",
                             (double)v->rq_n);
    churn_metrics_sink_counter(k, "churn_rescores_total",
                               "Rescore requests by what became of them.", "result=\"done\"",
                               (double)v->rescores_done);
    churn_metrics_sink_counter(k, "churn_rescores_total", "", "result=\"coalesced\"",
                               (double)v->rescores_coalesced);
    churn_metrics_sink_counter(k, "churn_rescores_total", "", "result=\"dropped\"",
                               (double)v->rescores_dropped);
    churn_metrics_sink_gauge(k, "churn_chat_job_queue_depth",
                             "Chat escalations waiting for the alert engine.", "",
                             (double)v->n_jobs);
    churn_metrics_sink_counter(k, "churn_chat_jobs_dropped_total",
                               "Chat escalations refused because the queue was full.", "",
                               (double)v->jobs_dropped);
    churn_metrics_sink_gauge(k, "churn_alert_watchers", "WatchAlerts streams connected now.", "",
                             (double)v->watchers);
}

static void
collect_sweep(const struct churn__sweep_stats *s, struct churn_metrics_sink *k)
{
    churn_metrics_sink_counter(k, "churn_sweep_runs_total", "Sweeps finished.", "",
                               (double)s->runs);
    churn_metrics_sink_gauge(k, "churn_sweep_running", "1 while a sweep runs.", "",
                             s->running ? 1 : 0);
    churn_metrics_sink_gauge(k, "churn_sweep_customers", "Customers fed by the last sweep.", "",
                             (double)s->customers);
    if (s->runs == 0)
        return;
    churn_metrics_sink_gauge(k, "churn_sweep_duration_seconds", "Duration of the last sweep.", "",
                             (double)s->duration_ms / 1000.0);
    int64_t done_ms = s->running ? 0 : s->started_ms + s->duration_ms;
    if (done_ms)
        churn_metrics_sink_gauge(k, "churn_sweep_last_completion_timestamp_seconds",
                                 "When the last sweep finished (unix seconds).", "",
                                 (double)done_ms / 1000.0);
}

static void
collect_model(struct churn_services *svc, struct churn_metrics_sink *k)
{
    bool served = churn_services_has_model(svc);
    churn_metrics_sink_gauge(k, "churn_model_served", "1 while a model is served.", "",
                             served ? 1 : 0);
    /* issue 12: a chat turn evaluates the model once, and reads reuse stored scores */
    churn_metrics_sink_counter(k, "churn_model_evaluations_total",
                               "Times the served model scored a customer.", "",
                               (double)churn_scorer_evaluations(svc->scoring));
    struct churn_score_keeper_stats kept;
    churn_score_keeper_stats(svc->score_keeper, &kept);
    const char *help = "Computed scores the keeper handled: stored beside the record, skipped "
                       "(the record changed or was erased first), dropped (queue full) or "
                       "failed (the write failed).";
    const struct {
        const char *labels;
        uint64_t n;
    } results[] = {{"result=\"written\"", kept.written},
                   {"result=\"skipped\"", kept.skipped},
                   {"result=\"dropped\"", kept.dropped},
                   {"result=\"failed\"", kept.failed}};
    for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
        churn_metrics_sink_counter(k, "churn_scores_stored_total", i ? "" : help, results[i].labels,
                                   (double)results[i].n);
    bool building;
    uint64_t builds;
    int64_t build_ms;
    churn_score_builder_status(svc->score_builder, &building, &builds, &build_ms);
    churn_metrics_sink_counter(k, "churn_score_index_builds_total",
                               "Builds of the score index completed (all customers scored).", "",
                               (double)builds);
    churn_metrics_sink_gauge(k, "churn_score_index_building", "1 while the index is being built.",
                             "", building ? 1 : 0);
    churn_metrics_sink_gauge(k, "churn_score_index_build_seconds",
                             "Duration of the last complete build.", "", (double)build_ms / 1000.0);
    struct churn_score_summary sum;
    churn_score_index_summary(svc->scores, &sum);
    churn_metrics_sink_gauge(k, "churn_score_index_customers", "Customers in the score index.", "",
                             (double)sum.total.customers);
    churn_metrics_sink_gauge(k, "churn_score_index_bytes", "Heap bytes the score index holds.", "",
                             (double)churn_score_index_bytes(svc->scores));
    struct churn_registry *reg = churn__models_registry(svc);
    uint32_t id = reg ? churn_registry_served_id(reg) : 0;
    churn_metrics_sink_gauge(k, "churn_model_generation",
                             "Registry id of the served model (0: none or not registered).", "",
                             (double)id);
    struct churn_registry_entry e;
    if (id && churn_registry_get(reg, id, &e) == CHURN_OK && e.backtest.present)
        churn_metrics_sink_gauge(k, "churn_model_backtest_auc",
                                 "Backtest AUC of the served model (its registry figures).", "",
                                 e.backtest.auc);
}

/* issue 12: GetScore answers kept encoded (churn/answer_cache.h) */
static void
collect_answers(struct churn_services *svc, struct churn_metrics_sink *k)
{
    struct churn_answer_cache_stats st;
    churn_answer_cache_stats(svc->answers, &st);
    const char *help = "GetScore lookups of a kept answer: hit (its stored score still current, "
                       "the kept bytes sent), stale (dropped, built anew) or miss (none kept).";
    const struct {
        const char *labels;
        uint64_t n;
    } results[] = {{"result=\"hit\"", st.hits},
                   {"result=\"stale\"", st.stale},
                   {"result=\"miss\"", st.misses}};
    for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
        churn_metrics_sink_counter(k, "churn_answer_cache_lookups_total", i ? "" : help,
                                   results[i].labels, (double)results[i].n);
    churn_metrics_sink_counter(k, "churn_answer_cache_evictions_total",
                               "Kept answers dropped to stay within the cache's bounds.", "",
                               (double)st.evictions);
    churn_metrics_sink_gauge(k, "churn_answer_cache_entries", "GetScore answers kept.", "",
                             (double)st.entries);
    churn_metrics_sink_gauge(k, "churn_answer_cache_bytes",
                             "Heap bytes the kept answers hold (bookkeeping included).", "",
                             (double)st.bytes);
}

/* One family over every destination (a family's series must be written together). */
static void
delivery_family(struct churn_metrics_sink *k, const struct churn_delivery_status *st, size_t n,
                const char *name, const char *help, bool counter,
                double (*value)(const struct churn_delivery_status *))
{
    for (size_t i = 0; i < n; i++) {
        char labels[CHURN_DELIVERY_NAME_MAX + 40];
        snprintf(labels, sizeof(labels), "destination=\"%.*s\",kind=\"%s\"",
                 CHURN_DELIVERY_NAME_MAX - 1, st[i].name,
                 st[i].kind == CHURN_DELIVERY_EMAIL ? "email" : "webhook");
        if (counter)
            churn_metrics_sink_counter(k, name, i ? "" : help, labels, value(&st[i]));
        else
            churn_metrics_sink_gauge(k, name, i ? "" : help, labels, value(&st[i]));
    }
}

static double
d_delivered(const struct churn_delivery_status *s)
{
    return (double)s->delivered;
}

static double
d_failed(const struct churn_delivery_status *s)
{
    return (double)s->failed;
}

static double
d_retried(const struct churn_delivery_status *s)
{
    return (double)s->retried;
}

static double
d_paused(const struct churn_delivery_status *s)
{
    return s->paused ? 1 : 0;
}

static double
d_cursor(const struct churn_delivery_status *s)
{
    return (double)s->cursor;
}

static double
d_lag(const struct churn_delivery_status *s)
{
    return (double)s->last_lag_ms / 1000.0;
}

static void
collect_delivery(struct churn_services *svc, struct churn_metrics_sink *k)
{
    struct churn_delivery_status st[CHURN_DELIVERY_MAX_DESTS];
    size_t n = churn_delivery_count(svc->delivery);
    for (size_t i = 0; i < n; i++)
        churn_delivery_status(svc->delivery, i, &st[i]);
    delivery_family(k, st, n, "churn_delivery_sent_total",
                    "Alert changes the destination accepted.", true, d_delivered);
    delivery_family(k, st, n, "churn_delivery_failed_total", "Delivery attempts that failed.", true,
                    d_failed);
    delivery_family(k, st, n, "churn_delivery_retried_total",
                    "Delivery attempts that were retries.", true, d_retried);
    delivery_family(k, st, n, "churn_delivery_paused",
                    "1 while the destination is paused (failing longer than the pause threshold).",
                    false, d_paused);
    delivery_family(k, st, n, "churn_delivery_cursor_sequence",
                    "The last alert log sequence the destination has taken.", false, d_cursor);
    delivery_family(k, st, n, "churn_delivery_lag_seconds",
                    "From the alert change's commit to its acceptance, last delivery.", false,
                    d_lag);
}

void
churn_services_collect(void *ctx, struct churn_metrics_sink *sink)
{
    struct churn_services *svc = ctx;
    collect_model(svc, sink);
    collect_answers(svc, sink);
    collect_store(svc, sink);
    churn__admin_collect(svc, sink);
    if (!svc->alerts)
        return;
    collect_delivery(svc, sink);
    struct engine_view v;
    read_engine(svc->alerts, &v);
    collect_queues(&v, sink);
    collect_sweep(&v.sweep, sink);
}
