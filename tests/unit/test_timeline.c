/*
 * test_timeline.c - the customer timeline's pure half (churn/timeline.h): day buckets become
 * one entry per non-zero kind, newest first by key; a cap keeps the newest; another
 * customer's alert never enters; an alert's moments are ordered; details are cut at a UTF-8
 * boundary.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "churn/timeline.h"

#define DAY_MS 86400000LL

static struct churn_customer *
record(void)
{
    struct churn_customer *c = calloc(1, sizeof(*c));
    cr_assert(c);
    strcpy(c->id, "c-1");
    c->first_seen_ms = 20000 * DAY_MS + 5;
    c->n_days = 2;
    c->days[0] =
        (struct churn_day){.day = 20000, .logins = 3, .chat_dissatisfaction = NAN, .listings = -1};
    c->days[1] = (struct churn_day){.day = 20001,
                                    .orders_completed = 2,
                                    .spend = 50,
                                    .churn_intents = 1,
                                    .chat_dissatisfaction = 0.8f,
                                    .listings = -1};
    c->n_plan_changes = 1;
    c->plan_changes[0] =
        (struct churn_plan_change){20001 * DAY_MS + 7, CHURN_PLAN_UPGRADE, 30, "pro"};
    return c;
}

Test(timeline, days_plans_and_first_seen_newest_first)
{
    struct churn_customer *c = record();
    struct churn_timeline_entry out[CHURN_TIMELINE_ENTRIES_MAX(0)];
    size_t n = churn_timeline_build(c, NULL, 0, out, CHURN_TIMELINE_ENTRIES_MAX(0));
    cr_assert_eq(n, 6);
    for (size_t i = 1; i < n; i++)
        cr_assert_gt(out[i - 1].key, out[i].key);
    cr_assert_str_eq(out[0].what, "upgrade");
    cr_assert_str_eq(out[0].detail, "pro");
    cr_assert_eq(out[0].count, 30);
    /* day 20001: the order (with its spend) first, then the chat signals */
    cr_assert_str_eq(out[1].what, "orders_completed");
    cr_assert_eq(out[1].amount, 50);
    cr_assert_eq(out[1].at_ms, 20001 * DAY_MS);
    cr_assert_str_eq(out[2].what, "churn_intents");
    cr_assert_eq(out[2].kind, CHURN_TIMELINE_CHAT);
    cr_assert_str_eq(out[3].what, "dissatisfaction");
    cr_assert_float_eq(out[3].count, 0.8, 1e-6);
    cr_assert_str_eq(out[4].what, "first_seen");
    cr_assert_str_eq(out[5].what, "logins");
    cr_assert_eq(out[5].count, 3);
    cr_assert(isnan(out[5].amount));
    /* a cap keeps the newest */
    struct churn_timeline_entry two[2];
    cr_assert_eq(churn_timeline_build(c, NULL, 0, two, 2), 2);
    cr_assert_eq(two[0].key, out[0].key);
    cr_assert_eq(two[1].key, out[1].key);
    free(c);
}

Test(timeline, alert_moments_of_this_customer_only)
{
    struct churn_customer *c = record();
    struct churn_alert *a = calloc(2, sizeof(*a));
    cr_assert_eq(churn_alert_init(&a[0], "c-1", CHURN_CAUSE_CHURN_INTENT, 20001 * DAY_MS + 100),
                 CHURN_OK);
    a[0].id = 7;
    a[0].revision = 2;
    a[0].ack_ms = 20001 * DAY_MS + 100; /* the same millisecond as the raise */
    strcpy(a[0].ack_actor, "lead");
    /* a detail cut in the middle of a two-byte character keeps the character whole or out */
    memset(a[0].ack_action, 0, sizeof(a[0].ack_action));
    for (size_t i = 0; i + 2 < 120; i += 2)
        memcpy(a[0].ack_action + i, "\xc3\xa9", 2);
    cr_assert_eq(churn_alert_init(&a[1], "c-2", CHURN_CAUSE_CHURN_INTENT, 20002 * DAY_MS),
                 CHURN_OK);
    a[1].id = 8;
    struct churn_timeline_entry out[CHURN_TIMELINE_ENTRIES_MAX(2)];
    size_t n = churn_timeline_build(c, a, 2, out, CHURN_TIMELINE_ENTRIES_MAX(2));
    cr_assert_eq(n, 8);
    cr_assert_str_eq(out[0].what, "acknowledged");
    cr_assert_str_eq(out[1].what, "raised");
    cr_assert_eq(out[0].alert_id, 7);
    cr_assert_eq(out[0].revision, 2);
    cr_assert(strncmp(out[0].detail, "churn_intent: lead - ", 21) == 0, "%s", out[0].detail);
    size_t len = strlen(out[0].detail);
    cr_assert_lt(len, sizeof(out[0].detail));
    cr_assert_eq((len - 21) % 2, 0, "a character was cut: %s", out[0].detail);
    for (size_t i = 0; i < n; i++)
        cr_assert_neq(out[i].alert_id, 8, "another customer's alert entered");
    free(a);
    free(c);
}
