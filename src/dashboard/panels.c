/*
 * panels.c - the dashboard's endpoints that read domain state directly rather than an RPC:
 * the key figures and the risk x value matrix from the engine's score index (O(1), never a
 * scan), the trends from the store's daily aggregate snapshots, and playbook effectiveness
 * from the outcome log (treated against holdout, the statistics of `churnctl report
 * outcomes`). Each answers JSON; numbers that do not exist (no decided outcome) are null.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/report.h"
#include "churn/score_index.h"
#include "churn/service.h"
#include "churn/snapshot.h"
#include "churn/outcomes.h"
#include "internal.h"

#define JSON_TYPE          "application/json; charset=utf-8"
#define TREND_DAYS_DEFAULT 90

void
churn__dashboard_reply_json(struct churn_admin_reply *reply, json_t *doc, int status,
                            const char *error)
{
    if (!doc) {
        doc = json_pack("{s:s}", "error", error);
        reply->status = status;
    }
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    reply->content_type = JSON_TYPE;
    churn_buf_append_str(&reply->body, text ? text : "{\"error\":\"out of memory\"}");
    free(text);
    json_decref(doc);
}

json_t *
churn__dashboard_number(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *
cell_json(const struct churn_score_cell *c)
{
    return json_pack("{s:I,s:f}", "customers", (json_int_t)c->customers, "revenue_at_risk",
                     c->revenue_at_risk);
}

static const enum churn_tier TIERS[] = {CHURN_TIER_LOW, CHURN_TIER_MEDIUM, CHURN_TIER_HIGH};

/* GET /api/summary: the score index's aggregates and the latest daily snapshot's time. */
void
churn__dashboard_summary(void *ctx, const struct churn_admin_request *r,
                         struct churn_admin_reply *reply)
{
    struct churn_dashboard *d = ctx;
    if (churn__dashboard_unknown_param(r, NULL, 0, reply))
        return;
    struct churn_score_summary s;
    churn_score_index_summary(d->svc->scores, &s);
    json_t *by_risk = json_object(), *cells = json_array();
    for (size_t i = 0; i < 3; i++) {
        enum churn_tier risk = TIERS[i];
        json_object_set_new(by_risk, churn_tier_name(risk), cell_json(&s.by_risk[risk]));
        for (size_t j = 0; j < 3; j++) {
            json_t *c = cell_json(&s.cells[risk][TIERS[j]]);
            json_object_set_new(c, "risk", json_string(churn_tier_name(risk)));
            json_object_set_new(c, "value", json_string(churn_tier_name(TIERS[j])));
            json_array_append_new(cells, c);
        }
    }
    json_t *doc = json_pack("{s:o,s:o,s:o}", "total", cell_json(&s.total), "by_risk", by_risk,
                            "cells", cells);
    struct churn_daily_snapshot last;
    if (doc && d->svc->store && churn_snapshot_latest(d->svc->store, &last) == CHURN_OK)
        json_object_set_new(doc, "snapshot_taken_at_ms", json_integer(last.taken_at_ms));
    churn__dashboard_reply_json(reply, doc, 500, "out of memory");
}

static json_t *
day_json(const struct churn_daily_snapshot *s)
{
    char day[32];
    churn_format_time_ms(s->taken_at_ms, day, sizeof(day));
    day[10] = '\0';
    return json_pack(
        "{s:s,s:I,s:I,s:I,s:{s:I,s:I,s:I},s:{s:f,s:f,s:f,s:f},s:I,s:I,s:I,s:I,s:I}", "day", day,
        "taken_at_ms", (json_int_t)s->taken_at_ms, "customers", (json_int_t)s->customers, "lost",
        (json_int_t)s->lost, "at_risk", "high", (json_int_t)s->at_risk[CHURN_TIER_HIGH], "medium",
        (json_int_t)s->at_risk[CHURN_TIER_MEDIUM], "low", (json_int_t)s->at_risk[CHURN_TIER_LOW],
        "revenue_at_risk", "high", s->revenue_at_risk[CHURN_TIER_HIGH], "medium",
        s->revenue_at_risk[CHURN_TIER_MEDIUM], "low", s->revenue_at_risk[CHURN_TIER_LOW], "total",
        churn_daily_snapshot_revenue_at_risk(s), "open_alerts", (json_int_t)s->open_alerts,
        "alerts_raised", (json_int_t)s->alerts_raised, "alerts_closed",
        (json_int_t)s->alerts_closed, "escalations", (json_int_t)s->escalations, "churned",
        (json_int_t)s->churned);
}

/* GET /api/trends?days=N: the last N days of daily snapshots (1..3660, default 90). */
void
churn__dashboard_trends(void *ctx, const struct churn_admin_request *r,
                        struct churn_admin_reply *reply)
{
    struct churn_dashboard *d = ctx;
    static const char *const known[] = {"days"};
    if (churn__dashboard_unknown_param(r, known, 1, reply))
        return;
    long days = TREND_DAYS_DEFAULT;
    if (!churn__dashboard_param_long(r, "days", 1, CHURN_SNAPSHOT_KEEP_DAYS_MAX, &days, reply))
        return;
    if (!d->svc->store) {
        churn__dashboard_reply_json(reply, NULL, 503, "the store is not open yet");
        return;
    }
    int32_t today = churn_day_of_ms(churn_now_ms());
    struct churn_daily_snapshot *list = NULL;
    size_t n = 0;
    enum churn_err err =
        churn_snapshot_list(d->svc->store, today - (int32_t)days + 1, INT32_MAX, &list, &n);
    json_t *arr = err ? NULL : json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, day_json(&list[i]));
    churn_free(list);
    churn__dashboard_reply_json(reply, arr ? json_pack("{s:o}", "days", arr) : NULL, 500,
                                churn_strerror(err));
}

static json_t *
playbook_json(const struct churn_outcome_stats *s)
{
    json_t *o =
        json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "playbook", s->playbook_id, "treated",
                  (json_int_t)s->treated, "treated_retained", (json_int_t)s->treated_retained,
                  "treated_unknown", (json_int_t)s->treated_unknown, "control",
                  (json_int_t)s->control, "control_retained", (json_int_t)s->control_retained,
                  "control_unknown", (json_int_t)s->control_unknown);
    json_object_set_new(o, "treated_rate", churn__dashboard_number(s->treated_rate));
    json_object_set_new(o, "control_rate", churn__dashboard_number(s->control_rate));
    json_object_set_new(o, "diff", churn__dashboard_number(s->diff));
    json_object_set_new(o, "diff_low", churn__dashboard_number(s->diff_low));
    json_object_set_new(o, "diff_high", churn__dashboard_number(s->diff_high));
    json_object_set_new(o, "revenue_retained", churn__dashboard_number(s->revenue_retained));
    return o;
}

/* GET /api/playbooks: each playbook's treated-versus-holdout retention. */
void
churn__dashboard_playbooks(void *ctx, const struct churn_admin_request *r,
                           struct churn_admin_reply *reply)
{
    struct churn_dashboard *d = ctx;
    if (churn__dashboard_unknown_param(r, NULL, 0, reply))
        return;
    if (!d->svc->store) {
        churn__dashboard_reply_json(reply, NULL, 503, "the store is not open yet");
        return;
    }
    struct churn_report_outcomes *out = churn_calloc(1, sizeof(*out));
    enum churn_err err = out ? churn_report_outcomes(d->svc->store, out) : CHURN_ENOMEM;
    json_t *arr = err ? NULL : json_array();
    for (size_t i = 0; arr && i < out->n; i++)
        json_array_append_new(arr, playbook_json(&out->stats[i]));
    json_t *doc =
        arr ? json_pack("{s:o,s:I}", "playbooks", arr, "outcomes", (json_int_t)out->outcomes)
            : NULL;
    churn_free(out);
    churn__dashboard_reply_json(reply, doc, 500, churn_strerror(err));
}
