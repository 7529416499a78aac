/*
 * test_timeline.c - the customer timeline's pure half (churn/timeline.h): day buckets become
 * one entry per non-zero kind, newest first by key; a cap keeps the newest; another
 * customer's alert never enters; each alert revision is one entry at its moment, in order;
 * details are cut at a UTF-8 boundary.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
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

/* Every revision is an entry at its change's moment: two updates are two entries (issue 15). */
Test(timeline, alert_revisions_of_this_customer_only)
{
    struct churn_customer *c = record();
    struct churn_alert *a = calloc(5, sizeof(*a));
    const int64_t t = 20001 * DAY_MS + 100;
    cr_assert_eq(churn_alert_init(&a[0], "c-1", CHURN_CAUSE_CHURN_INTENT, t), CHURN_OK);
    a[0].id = a[0].sequence = 7;
    a[0].revision = 1;
    a[1] = a[0]; /* acknowledged in the same millisecond as the raise */
    a[1].sequence = 9;
    a[1].revision = 2;
    a[1].change = CHURN_CHANGE_ACKNOWLEDGED;
    a[1].ack_ms = t;
    a[1].status = CHURN_STATUS_ACKNOWLEDGED;
    strcpy(a[1].ack_actor, "lead");
    /* a detail cut in the middle of a two-byte character keeps the character whole or out */
    memset(a[1].ack_action, 0, sizeof(a[1].ack_action));
    for (size_t i = 0; i + 2 < 120; i += 2)
        memcpy(a[1].ack_action + i, "\xc3\xa9", 2);
    for (int k = 2; k <= 3; k++) { /* two triggers later: two "updated" entries */
        a[k] = a[1];
        a[k].sequence = 9 + (uint64_t)k;
        a[k].revision = (uint32_t)k + 1;
        a[k].change = CHURN_CHANGE_UPDATED;
        a[k].trigger_count = (uint32_t)k;
        a[k].updated_ms = t + k * 1000;
    }
    cr_assert_eq(churn_alert_init(&a[4], "c-2", CHURN_CAUSE_CHURN_INTENT, 20002 * DAY_MS),
                 CHURN_OK);
    a[4].id = a[4].sequence = 8;
    struct churn_timeline_entry out[CHURN_TIMELINE_ENTRIES_MAX(5)];
    size_t n = churn_timeline_build(c, a, 5, out, CHURN_TIMELINE_ENTRIES_MAX(5));
    size_t alerts = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_neq(out[i].alert_id, 8, "another customer's alert entered");
        alerts += out[i].kind == CHURN_TIMELINE_ALERT;
    }
    cr_assert_eq(alerts, 4, "one entry per revision");
    cr_assert_str_eq(out[0].what, "updated");
    cr_assert_eq(out[0].revision, 4);
    char want[96];
    snprintf(want, sizeof(want), "churn_intent: %s, trigger 3",
             churn_alert_status_name(CHURN_STATUS_ACKNOWLEDGED));
    cr_assert_str_eq(out[0].detail, want);
    cr_assert_str_eq(out[1].what, "updated");
    cr_assert_eq(out[1].revision, 3);
    /* the same millisecond: the later record first */
    cr_assert_str_eq(out[2].what, "acknowledged");
    cr_assert_str_eq(out[3].what, "raised");
    cr_assert_eq(out[2].alert_id, 7);
    cr_assert_eq(out[2].revision, 2);
    cr_assert_eq(out[3].revision, 1);
    cr_assert(strncmp(out[2].detail, "churn_intent: lead - ", 21) == 0, "%s", out[2].detail);
    size_t len = strlen(out[2].detail);
    cr_assert_lt(len, sizeof(out[2].detail));
    cr_assert_eq((len - 21) % 2, 0, "a character was cut: %s", out[2].detail);
    free(a);
    free(c);
}
