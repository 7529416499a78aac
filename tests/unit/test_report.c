/*
 * test_report.c - the HTML retention report (issue 15) rendered from a real LMDB store in a
 * temporary directory, with customers, their materialized scores in the alert engine's own
 * state format and daily snapshots: the sections and charts are there, the top at-risk
 * customers are in priority order, a customer id or plan holding markup is escaped (never a
 * tag), a period without snapshots says so instead of drawing, options out of range are
 * refused naming them, and a page over the buffer's cap fails cleanly.
 */
#define _GNU_SOURCE /* mkdtemp */
#include "churn/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "churn/arena.h"
#include "churn/clock.h"
#include "churn/snapshot.h"
#include "churn/store.h"
#include "churn/alert_rules.h"
#include "../../src/engine/alert_engine.h" /* the engine's state blob */

#include "tmpdir.h"

#define DAY CHURN_MS_PER_DAY
#define NOW (20400 * DAY + 10 * 3600 * 1000LL)

static char dir[64];
static struct churn_store *st;
static struct churn_buf page;
static char err[512];

static void
state(const char *customer, double p, enum churn_tier tier, double value)
{
    struct churn_score_snapshot snap = {.scored_at_ms = NOW - 5000,
                                        .probability = p,
                                        .risk_tier = tier,
                                        .value_tier = CHURN_TIER_HIGH,
                                        .value = value};
    uint8_t enc[64];
    size_t len;
    cr_assert_eq(churn_score_snapshot_encode(&snap, enc, sizeof(enc), &len), CHURN_OK);
    struct churn__state_set set = {.snap = enc, .snap_len = len};
    struct churn_arena a;
    churn_arena_init(&a, 0);
    size_t blob_len;
    uint8_t *blob = churn__alerts_encode_states(&set, &a, &blob_len);
    cr_assert_not_null(blob);
    cr_assert_eq(churn_store_put_alert_state(st, customer, blob, blob_len), CHURN_OK);
    churn_arena_fini(&a);
}

static void
customer(const char *id, const char *plan, double p, enum churn_tier tier, double value)
{
    struct churn_customer_attrs attrs = {0};
    snprintf(attrs.plan, sizeof(attrs.plan), "%s", plan);
    struct churn_customer_upsert u = {id, &attrs};
    cr_assert_eq(churn_store_upsert_customers(st, &u, 1), CHURN_OK, "%s", churn_store_last_error());
    state(id, p, tier, value);
}

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/churn-report-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(churn_store_open(dir, NULL, &st), CHURN_OK, "%s", churn_store_last_error());
    churn_buf_init(&page, 8u << 20);
    customer("<script>alert(1)</script>", "<b>pro</b>", 0.9, CHURN_TIER_HIGH, 1000);
    customer("c-medium", "basic", 0.4, CHURN_TIER_MEDIUM, 100);
    customer("c-low", "basic", 0.05, CHURN_TIER_LOW, 50);
    for (int32_t d = 20398; d <= 20400; d++) {
        struct churn_daily_snapshot s;
        churn_daily_snapshot_start(&s, d * DAY + 3600000, d * DAY - DAY + 3600000);
        s.customers = 3;
        churn_daily_snapshot_add_score(&s, CHURN_TIER_HIGH, 0.9, 1000);
        s.churned = (uint64_t)(d - 20398);
        cr_assert_eq(churn_snapshot_put(st, &s, 400), CHURN_OK);
    }
}

static void
teardown(void)
{
    churn_buf_free(&page);
    churn_store_close(st);
    churn_test_rm_rf(dir);
}

TestSuite(report, .init = setup, .fini = teardown);

static const char *
render(int32_t from, int32_t to, size_t top)
{
    struct churn_report_options o;
    churn_report_options_default(&o);
    o.now_ms = NOW;
    o.from_day = from;
    o.to_day = to;
    o.top = top;
    churn_buf_reset(&page);
    cr_assert_eq(churn_report_render(st, &o, &page, err, sizeof(err)), CHURN_OK, "%s", err);
    return churn_buf_str(&page);
}

Test(report, sections_charts_and_the_top_customers_in_order)
{
    const char *html = render(INT32_MIN, INT32_MAX, 20);
    cr_assert(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    for (const char *s = "summary\0trends\0segments\0top\0churn\0playbooks\0models\0"; *s;
         s += strlen(s) + 1) {
        char id[64];
        snprintf(id, sizeof(id), "<section id=\"%s\">", s);
        cr_assert(strstr(html, id), "%s missing", id);
    }
    cr_assert(strstr(html, "<figure class=\"chart\" data-points=\"6\"><figcaption>Customers at "
                           "risk per day"),
              "3 days x 2 series");
    cr_assert(strstr(html, "<b>1</b><span>at high risk</span>"));
    cr_assert(strstr(html, "<b>1</b><span>at medium risk</span>"));
    cr_assert(strstr(html, "Period 2024-11-09 to 2025-11-08"), "the default: 365 days to today");
    const char *hi = strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;");
    const char *med = strstr(html, "c-medium");
    cr_assert(hi && med && hi < med, "highest priority first");
    cr_assert_null(strstr(html, "c-low</td>"), "a low-risk customer is not at risk");
}

Test(report, markup_in_data_is_escaped_everywhere)
{
    const char *html = render(INT32_MIN, INT32_MAX, 20);
    cr_assert_null(strstr(html, "<script"), "no script element");
    cr_assert_null(strstr(html, "<b>pro"), "no markup from a plan");
    cr_assert(strstr(html, "&lt;b&gt;pro&lt;/b&gt;"));
    for (const char *p = html; (p = strstr(p, "alert(1)")); p++)
        cr_assert(p > html && strncmp(p - 4, "&gt;", 4) == 0, "inside escaped text only");
}

Test(report, a_period_without_snapshots_says_so)
{
    const char *html = render(20000, 20010, 20);
    cr_assert(strstr(html, "No daily snapshot in this period"));
    cr_assert_null(strstr(html, "Customers at risk per day"));
    cr_assert(strstr(html, "Period 2024-10-04 to 2024-10-14"));
}

Test(report, bad_options_and_a_full_buffer_are_refused)
{
    struct churn_report_options o;
    churn_report_options_default(&o);
    o.now_ms = NOW;
    o.top = CHURN_REPORT_TOP_MAX + 1;
    cr_assert_eq(churn_report_render(st, &o, &page, err, sizeof(err)), CHURN_EINVAL);
    cr_assert(strstr(err, "top: at most 1000"), "%s", err);
    o.top = 5;
    o.from_day = 20400;
    o.to_day = 20399;
    cr_assert_eq(churn_report_render(st, &o, &page, err, sizeof(err)), CHURN_EINVAL);
    cr_assert(strstr(err, "from"), "%s", err);
    struct churn_buf small;
    churn_buf_init(&small, 4096);
    churn_report_options_default(&o);
    o.now_ms = NOW;
    cr_assert_eq(churn_report_render(st, &o, &small, err, sizeof(err)), CHURN_ETOOBIG);
    churn_buf_free(&small);
}
