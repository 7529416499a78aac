/*
 * metrics_counters.c - churnd's own counters and histograms (churn/service_metrics.h): every
 * series registered up front with a fixed label set, so that counting is an index into a
 * table of series ids and a per-thread slot increment (churn_metrics_add/observe).
 */
#include "churn/service_metrics.h"

#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/metrics.h"

/* Event fields a rejection can name (the part of the reason before '.', '[' or ':'). */
static const char *const reject_fields[] = {
    "event",  "kind", "event_id", "customer_id", "occurred_at_ms", "session", "order", "ticket",
    "review", "plan", "chat",     "churn",       "custom",         "listing", "other",
};
#define N_REJECT (sizeof(reject_fields) / sizeof(reject_fields[0]))

static const char *const tiers[] = {"low", "medium", "high"};
static const char *const roles[] = {"customer", "agent", "bot"};
static const char *const reasons[] = {"hard_trigger", "churn_intent", "human_requested",
                                      "dissatisfaction"};
static const char *const causes[] = {"tier_worsened", "probability_jump", "chat_escalation",
                                     "churn_intent"};
static const char *const changes[] = {"raised", "updated", "acknowledged",    "snoozed",
                                      "woken",  "closed",  "outcome_recorded"};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const double prob_bounds[] = {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95};
static const double commit_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                       0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
static const double group_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};

struct churn_service_metrics {
    struct churn_metrics *m;
    size_t accepted, duplicate, rejected[N_REJECT];
    size_t score_prob, score_tier[N_OF(tiers)];
    size_t turns[N_OF(roles)], escalations[N_OF(reasons)];
    size_t alerts[N_OF(causes)][N_OF(changes)];
    size_t watchers_cut, commit_seconds, group_events;
};

static enum churn_err
register_events(struct churn_service_metrics *sm)
{
    const char *name = "churn_events_total";
    const char *help = "Events received by ingestion, by result (rejected: by the field named).";
    enum churn_err e =
        churn_metrics_counter(sm->m, name, help, "result=\"accepted\"", &sm->accepted);
    if (!e)
        e = churn_metrics_counter(sm->m, name, help, "result=\"duplicate\"", &sm->duplicate);
    for (size_t i = 0; i < N_REJECT && !e; i++) {
        char labels[96];
        snprintf(labels, sizeof(labels), "result=\"rejected\",reason=\"%s\"", reject_fields[i]);
        e = churn_metrics_counter(sm->m, name, help, labels, &sm->rejected[i]);
    }
    return e;
}

static enum churn_err
register_scores(struct churn_service_metrics *sm)
{
    enum churn_err e = churn_metrics_histogram(sm->m, "churn_score_probability",
                                               "Churn probabilities of the scores served.", "",
                                               prob_bounds, N_OF(prob_bounds), &sm->score_prob);
    for (size_t i = 0; i < N_OF(tiers) && !e; i++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "tier=\"%s\"", tiers[i]);
        e = churn_metrics_counter(sm->m, "churn_scores_served_total",
                                  "Scores served, by risk tier.", labels, &sm->score_tier[i]);
    }
    return e;
}

static enum churn_err
register_chat(struct churn_service_metrics *sm)
{
    enum churn_err e = CHURN_OK;
    for (size_t i = 0; i < N_OF(roles) && !e; i++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "role=\"%s\"", roles[i]);
        e = churn_metrics_counter(sm->m, "churn_chat_turns_total",
                                  "Chat turns processed (not replays), by role.", labels,
                                  &sm->turns[i]);
    }
    for (size_t i = 0; i < N_OF(reasons) && !e; i++) {
        char labels[48];
        snprintf(labels, sizeof(labels), "reason=\"%s\"", reasons[i]);
        e = churn_metrics_counter(sm->m, "churn_chat_escalations_total",
                                  "Chat escalations, by reason.", labels, &sm->escalations[i]);
    }
    return e;
}

static enum churn_err
register_alerts(struct churn_service_metrics *sm)
{
    enum churn_err e = CHURN_OK;
    for (size_t c = 0; c < N_OF(causes); c++)
        for (size_t k = 0; k < N_OF(changes) && !e; k++) {
            char labels[96];
            snprintf(labels, sizeof(labels), "cause=\"%s\",change=\"%s\"", causes[c], changes[k]);
            e = churn_metrics_counter(
                sm->m, "churn_alert_changes_total",
                "Alert changes committed, by the alert's cause and the change.", labels,
                &sm->alerts[c][k]);
        }
    if (!e)
        e = churn_metrics_counter(sm->m, "churn_alert_watchers_cut_total",
                                  "WatchAlerts streams ended because the watcher read too slowly.",
                                  "", &sm->watchers_cut);
    return e;
}

static enum churn_err
register_store(struct churn_service_metrics *sm)
{
    enum churn_err e =
        churn_metrics_histogram(sm->m, "churn_store_commit_seconds",
                                "Durations of the store's write commits, the fsync included.", "",
                                commit_bounds, N_OF(commit_bounds), &sm->commit_seconds);
    if (!e)
        e = churn_metrics_histogram(sm->m, "churn_store_group_commit_events",
                                    "Events applied per group commit of the ingestion writer.", "",
                                    group_bounds, N_OF(group_bounds), &sm->group_events);
    return e;
}

enum churn_err
churn_service_metrics_create(struct churn_metrics *m, struct churn_service_metrics **out)
{
    *out = NULL;
    if (!m)
        return CHURN_OK;
    struct churn_service_metrics *sm = churn_calloc(1, sizeof(*sm));
    if (!sm)
        return CHURN_ENOMEM;
    sm->m = m;
    enum churn_err e = register_events(sm);
    if (!e)
        e = register_scores(sm);
    if (!e)
        e = register_chat(sm);
    if (!e)
        e = register_alerts(sm);
    if (!e)
        e = register_store(sm);
    if (e) {
        churn_free(sm);
        return e;
    }
    *out = sm;
    return CHURN_OK;
}

void
churn_service_metrics_destroy(struct churn_service_metrics *sm)
{
    churn_free(sm);
}

void
churn_service_metrics_events(struct churn_service_metrics *sm, uint64_t accepted,
                             uint64_t duplicate)
{
    if (!sm)
        return;
    if (accepted)
        churn_metrics_add(sm->m, sm->accepted, accepted);
    if (duplicate)
        churn_metrics_add(sm->m, sm->duplicate, duplicate);
}

/* The index in reject_fields of the field @reason names; the last ("other") when none. */
static size_t
reject_index(const char *reason)
{
    if (strncmp(reason, "event.", 6) == 0)
        reason += 6;
    size_t n = strcspn(reason, ".[: ");
    for (size_t i = 0; i + 1 < N_REJECT; i++)
        if (strlen(reject_fields[i]) == n && strncmp(reason, reject_fields[i], n) == 0)
            return i;
    return N_REJECT - 1;
}

void
churn_service_metrics_rejected(struct churn_service_metrics *sm, const char *reason)
{
    if (sm)
        churn_metrics_add(sm->m, sm->rejected[reject_index(reason ? reason : "")], 1);
}

void
churn_service_metrics_score(struct churn_service_metrics *sm, double probability, int tier)
{
    if (!sm)
        return;
    churn_metrics_observe(sm->m, sm->score_prob, probability);
    if (tier >= 1 && tier <= (int)N_OF(tiers))
        churn_metrics_add(sm->m, sm->score_tier[tier - 1], 1);
}

void
churn_service_metrics_chat_turn(struct churn_service_metrics *sm, int role, int escalation_reason)
{
    if (!sm)
        return;
    if (role >= 1 && role <= (int)N_OF(roles))
        churn_metrics_add(sm->m, sm->turns[role - 1], 1);
    if (escalation_reason >= 1 && escalation_reason <= (int)N_OF(reasons))
        churn_metrics_add(sm->m, sm->escalations[escalation_reason - 1], 1);
}

void
churn_service_metrics_alert(struct churn_service_metrics *sm, int cause, int change)
{
    if (sm && cause >= 1 && cause <= (int)N_OF(causes) && change >= 1 &&
        change <= (int)N_OF(changes))
        churn_metrics_add(sm->m, sm->alerts[cause - 1][change - 1], 1);
}

void
churn_service_metrics_watcher_cut(struct churn_service_metrics *sm)
{
    if (sm)
        churn_metrics_add(sm->m, sm->watchers_cut, 1);
}

void
churn_service_metrics_commit(void *ctx, int64_t commit_ns)
{
    struct churn_service_metrics *sm = ctx;
    if (sm)
        churn_metrics_observe(sm->m, sm->commit_seconds, (double)commit_ns / 1e9);
}

void
churn_service_metrics_group(void *ctx, size_t events)
{
    struct churn_service_metrics *sm = ctx;
    if (sm)
        churn_metrics_observe(sm->m, sm->group_events, (double)events);
}
