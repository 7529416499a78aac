/*
 * make_format1.c - how tests/data/store/format1.dump was made: a small store with every kind
 * of record (customers with attributes, day buckets, plan history and a lifetime-only event;
 * event ids; a conversation; an alert with its customer's alert state; an outcome; a meta
 * value), written by churnd 0.1.0 at store format 1 (before the event sequence of format 2),
 * then dumped with `mdb_dump -a`. It is kept to show how the fixture came about; rebuilding it
 * now would write the current format, so it is not part of the build. It was built and run
 * once, at commit d57fa79 (store format 1), with:
 *
 *   cc -Iinclude -o /tmp/make_format1 tests/data/store/make_format1.c build/src/libchurn_core.a \
 *      -llmdb -ljansson -lstemmer -lm -lpthread && /tmp/make_format1 /tmp/f1 && \
 *      mdb_dump -a /tmp/f1 > tests/data/store/format1.dump
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "churn/store.h"

#define NOW_MS 1780272000000LL /* 2026-06-01T00:00:00Z */
#define DAY_MS 86400000LL

static int
die(const char *what)
{
    fprintf(stderr, "make_format1: %s: %s\n", what, churn_store_last_error());
    return 1;
}

int
main(int argc, char **argv)
{
    struct churn_store *st;
    if (argc != 2 || churn_store_open(argv[1], NULL, &st))
        return die("open");
    static struct churn_customer_attrs attrs;
    snprintf(attrs.segment, sizeof(attrs.segment), "smb");
    snprintf(attrs.plan, sizeof(attrs.plan), "pro");
    snprintf(attrs.country, sizeof(attrs.country), "KR");
    attrs.signup_ms = NOW_MS - 400 * DAY_MS;
    attrs.monthly_value = 49.0;
    attrs.n_num = 1;
    snprintf(attrs.num[0].name, sizeof(attrs.num[0].name), "seats");
    attrs.num[0].value = 12;
    attrs.n_cat = 1;
    snprintf(attrs.cat[0].name, sizeof(attrs.cat[0].name), "industry");
    snprintf(attrs.cat[0].value, sizeof(attrs.cat[0].value), "retail");
    struct churn_customer_upsert up[] = {{"fx-alice", &attrs}, {"fx-bob", &attrs}};
    if (churn_store_upsert_customers(st, up, 2))
        return die("upsert");

    struct churn_event ev[7] = {
        {.kind = CHURN_EVENT_LOGIN, .event_id = "e1", .customer_id = "fx-alice"},
        {.kind = CHURN_EVENT_ORDER, .event_id = "e2", .customer_id = "fx-alice"},
        {.kind = CHURN_EVENT_PLAN_CHANGE, .event_id = "e3", .customer_id = "fx-alice"},
        {.kind = CHURN_EVENT_LOGIN, .event_id = "e4", .customer_id = "fx-alice"},
        {.kind = CHURN_EVENT_REVIEW, .event_id = "e5", .customer_id = "fx-bob"},
        {.kind = CHURN_EVENT_TICKET, .event_id = "e6", .customer_id = "fx-bob"},
        {.kind = CHURN_EVENT_CHAT, .event_id = "e7", .customer_id = "fx-carol"},
    };
    ev[0].occurred_at_ms = NOW_MS - 3 * DAY_MS;
    ev[1].occurred_at_ms = NOW_MS - 10 * DAY_MS;
    ev[1].order.amount = 120.5;
    ev[1].order.status = CHURN_ORDER_COMPLETED;
    ev[2].occurred_at_ms = NOW_MS - 20 * DAY_MS;
    ev[2].plan.action = CHURN_PLAN_DOWNGRADE;
    ev[2].plan.plan = "basic";
    ev[2].plan.monthly_value = 19.0;
    ev[3].occurred_at_ms = NOW_MS - 300 * DAY_MS; /* beyond the horizon: lifetime only */
    ev[4].occurred_at_ms = NOW_MS - 5 * DAY_MS;
    ev[4].review.rating = 2;
    ev[4].review.sentiment = NAN;
    ev[5].occurred_at_ms = NOW_MS - 6 * DAY_MS;
    ev[5].ticket.action = CHURN_TICKET_OPENED;
    ev[6].occurred_at_ms = NOW_MS - 1 * DAY_MS;
    ev[6].chat.dissatisfaction = 0.75;
    ev[6].chat.escalated = true;
    struct churn_event_result res[7];
    if (churn_store_apply_events(st, ev, 7, NOW_MS, res))
        return die("events");
    for (int i = 0; i < 7; i++)
        if (res[i].status != CHURN_EVENT_ACCEPTED)
            return die(res[i].reason);

    if (churn_store_put_conversation(st, "fx-carol", "conv-1", "tracker-state", 13) ||
        churn_store_put_alert_state(st, "fx-bob", "bob-state", 9))
        return die("conversation/state");
    uint64_t seq;
    if (churn_store_append_alert(st, "fx-bob", "alert-bytes-1", 13, &seq) ||
        churn_store_append_alert(st, "fx-carol", "alert-bytes-2", 13, &seq) ||
        churn_store_append_outcome(st, "fx-bob", "outcome-bytes", 13, &seq) ||
        churn_store_put_meta(st, "fixture.note", "format 1", 8))
        return die("alert/outcome/meta");
    churn_store_close(st);
    return 0;
}
