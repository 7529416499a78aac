/*
 * churn/service_metrics.h - churnd's own counters and histograms, counted where things happen
 * (issue 14): events by result (accepted, duplicate, rejected by the field that was wrong),
 * served scores (a histogram of probabilities and a count per risk tier), chat turns by role
 * and escalations by reason, alert changes by cause and change, watchers cut for being slow,
 * store commit latency (the fsync included) and group-commit sizes. Every series is registered
 * before serving; each counting call is one call line at its hook and costs a per-thread slot
 * increment (churn/metrics.h). A NULL @sm (metrics off) makes every call a no-op.
 */
#ifndef CHURN_SERVICE_METRICS_H
#define CHURN_SERVICE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"

struct churn_metrics;
struct churn_service_metrics;

/**
 * churn_service_metrics_create() - register every series of churnd's own in @m (NULL: metrics
 * off, *@out is NULL and CHURN_OK). @out: OUT, freed with churn_service_metrics_destroy()
 * after the registry's last counting thread has stopped.
 */
enum churn_err churn_service_metrics_create(struct churn_metrics *m,
                                            struct churn_service_metrics **out);

/** churn_service_metrics_destroy() - free @sm (NULL: no-op); the registry keeps its series. */
void churn_service_metrics_destroy(struct churn_service_metrics *sm);

/** churn_service_metrics_events() - @accepted and @duplicate events were committed. */
void churn_service_metrics_events(struct churn_service_metrics *sm, uint64_t accepted,
                                  uint64_t duplicate);

/**
 * churn_service_metrics_rejected() - one event was rejected; @reason is its rejection text
 * ("event.order.amount: is negative"): the label is the event field it names (order, kind,
 * customer_id, ...; "other" for anything else), so the label set stays fixed.
 */
void churn_service_metrics_rejected(struct churn_service_metrics *sm, const char *reason);

/** churn_service_metrics_score() - a score was served: @probability, risk tier @tier (1..3). */
void churn_service_metrics_score(struct churn_service_metrics *sm, double probability, int tier);

/**
 * churn_service_metrics_chat_turn() - a chat turn of role @role (1 customer, 2 agent, 3 bot)
 * was processed (not replayed); @escalation_reason is the reason it escalated (1..4) or 0.
 */
void churn_service_metrics_chat_turn(struct churn_service_metrics *sm, int role,
                                     int escalation_reason);

/** churn_service_metrics_alert() - an alert change was committed: @cause (1..4), @change. */
void churn_service_metrics_alert(struct churn_service_metrics *sm, int cause, int change);

/** churn_service_metrics_watcher_cut() - a WatchAlerts stream was ended as too slow. */
void churn_service_metrics_watcher_cut(struct churn_service_metrics *sm);

/* Store observers (struct churn_store_options.on_commit_ns / on_group; @ctx is the @sm). */
void churn_service_metrics_commit(void *ctx, int64_t commit_ns);
void churn_service_metrics_group(void *ctx, size_t events);

#endif
