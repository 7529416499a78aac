/*
 * timeline.c - GET /api/timeline?id=ID&limit=N&page_token=T on the dashboard: one page of a
 * customer's history, newest first (churn/timeline.h), with the lifetime totals, as JSON.
 * Bad parameters are 400 naming them (a limit beyond CHURN_TIMELINE_LIMIT_MAX is refused,
 * not capped), an unknown customer 404; the page token is the API's "n:KEY" form and is
 * accepted only as written.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/clock.h"
#include "churn/page_token.h"
#include "churn/service.h"
#include "churn/timeline.h"
#include "internal.h"

#define TIMELINE_LIMIT_DEFAULT 50
#define ID_MAX                 128

static const char *const KIND_NAMES[] = {
    [CHURN_TIMELINE_ACTIVITY] = "activity",
    [CHURN_TIMELINE_CHAT] = "chat",
    [CHURN_TIMELINE_PLAN] = "plan",
    [CHURN_TIMELINE_CHURN] = "churn",
    [CHURN_TIMELINE_FIRST_SEEN] = "first_seen",
    [CHURN_TIMELINE_ALERT] = "alert",
};

static json_t *
entry_json(const struct churn_timeline_entry *e)
{
    json_t *o =
        json_pack("{s:I,s:s,s:s,s:o,s:o,s:s}", "at_ms", (json_int_t)e->at_ms, "kind",
                  KIND_NAMES[e->kind], "what", e->what, "count", churn__dashboard_number(e->count),
                  "amount", churn__dashboard_number(e->amount), "detail", e->detail);
    if (o && (e->kind == CHURN_TIMELINE_ACTIVITY || e->kind == CHURN_TIMELINE_CHAT)) {
        char day[32];
        churn_format_time_ms(e->at_ms, day, sizeof(day));
        day[10] = '\0';
        json_object_set_new(o, "day", json_string(day));
    }
    if (o && e->kind == CHURN_TIMELINE_ALERT) {
        json_object_set_new(o, "alert_id", json_integer((json_int_t)e->alert_id));
        json_object_set_new(o, "revision", json_integer(e->revision));
    }
    return o;
}

static json_t *
lifetime_json(const struct churn_lifetime *l)
{
    return json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f}", "events",
        (json_int_t)l->events, "logins", (json_int_t)l->logins, "sessions", (json_int_t)l->sessions,
        "orders_completed", (json_int_t)l->orders_completed, "orders_cancelled",
        (json_int_t)l->orders_cancelled, "orders_refunded", (json_int_t)l->orders_refunded,
        "tickets_opened", (json_int_t)l->tickets_opened, "tickets_resolved",
        (json_int_t)l->tickets_resolved, "reviews", (json_int_t)l->reviews, "reviews_negative",
        (json_int_t)l->reviews_negative, "escalations", (json_int_t)l->escalations, "churn_intents",
        (json_int_t)l->churn_intents, "session_minutes", l->session_minutes, "spend", l->spend);
}

static json_t *
page_json(const char *id, const struct churn_timeline_page *p)
{
    json_t *entries = json_array();
    for (size_t i = 0; entries && i < p->n; i++)
        json_array_append_new(entries, entry_json(&p->entries[i]));
    char token[CHURN_PAGE_TOKEN_MAX] = "";
    if (p->next) {
        struct churn_page_token t = {.kind = CHURN_PAGE_NEWEST, .position = p->next};
        churn_page_token_format(&t, token, sizeof(token));
    }
    return json_pack("{s:s,s:o,s:I,s:s,s:o,s:I,s:I,s:I,s:I,s:I}", "customer_id", id, "entries",
                     entries, "total", (json_int_t)p->total, "next_page_token", token, "lifetime",
                     lifetime_json(&p->life), "first_seen_ms", (json_int_t)p->first_seen_ms,
                     "last_seen_ms", (json_int_t)p->last_seen_ms, "churned_at_ms",
                     (json_int_t)p->churned_at_ms, "open_tickets", (json_int_t)p->open_tickets,
                     "days_held", (json_int_t)p->days_held);
}

/* The query's id, limit and cursor; false when one is bad (400 sent naming it). */
static bool
timeline_params(const struct churn_admin_request *r, const char **id, long *limit, uint64_t *before,
                struct churn_admin_reply *reply)
{
    static const char *const known[] = {"id", "limit", "page_token"};
    if (churn__dashboard_unknown_param(r, known, 3, reply))
        return false;
    *id = churn_admin_query(r, "id");
    if (!*id || !**id || strlen(*id) > ID_MAX) {
        churn__dashboard_bad_request(reply, "id",
                                     !*id   ? "missing: the customer id"
                                     : **id ? "longer than 128 bytes"
                                            : "empty");
        return false;
    }
    *limit = TIMELINE_LIMIT_DEFAULT;
    if (!churn__dashboard_param_long(r, "limit", 1, CHURN_TIMELINE_LIMIT_MAX, limit, reply))
        return false;
    const char *tok = churn_admin_query(r, "page_token");
    struct churn_page_token t;
    const char *why = NULL;
    *before = 0;
    if (tok && (!*tok || churn_page_token_parse(tok, CHURN_PAGE_NEWEST, &t, &why) != CHURN_OK ||
                t.position == 0)) {
        churn__dashboard_bad_request(reply, "page_token",
                                     !*tok ? "empty"
                                     : why ? why
                                           : "not a timeline token");
        return false;
    }
    if (tok)
        *before = t.position;
    return true;
}

void
churn__dashboard_timeline(void *ctx, const struct churn_admin_request *r,
                          struct churn_admin_reply *reply)
{
    struct churn_dashboard *d = ctx;
    const char *id;
    long limit;
    uint64_t before;
    if (!timeline_params(r, &id, &limit, &before, reply))
        return;
    if (!d->svc->store) {
        churn__dashboard_reply_json(reply, NULL, 503, "the store is not open yet");
        return;
    }
    struct churn_timeline_page page = {0};
    char msg[256] = "";
    enum churn_err err =
        churn_timeline_list(d->svc->store, id, before, (size_t)limit, &page, msg, sizeof(msg));
    int status = err == CHURN_ENOTFOUND ? 404 : err == CHURN_EINVAL ? 400 : 500;
    churn__dashboard_reply_json(reply, err ? NULL : page_json(id, &page), status,
                                err ? msg : "out of memory");
    churn_timeline_page_free(&page);
}
