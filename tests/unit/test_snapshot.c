/*
 * test_snapshot.c - the daily aggregate snapshot (issue 15): counting scores, alert revisions
 * and churn into a day with the window's bounds, the stored list's encoding (round trip and
 * every kind of damage refused), merging with retention, and on a real LMDB store in a
 * temporary directory: storing and listing days (also read-only), computing a day from real
 * customer records, alert log entries and alert states written in the engine's own format
 * (churn__alerts_encode_states), and taking it once per UTC day only.
 */
#define _GNU_SOURCE /* mkdtemp */
#include "churn/snapshot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "churn/alloc.h"
#include "churn/arena.h"
#include "churn/clock.h"
#include "churn/store.h"
#include "churn/alert_rules.h"
#include "../../src/engine/alert_engine.h" /* the engine's state blob */

#include "tmpdir.h"

#define DAY CHURN_MS_PER_DAY
#define NOW (20400 * DAY + 10 * 3600 * 1000LL) /* 10:00 UTC on day 20400 */

static char dir[64];
static struct churn_store *st;

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/churn-snapshot-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(churn_store_open(dir, NULL, &st), CHURN_OK, "%s", churn_store_last_error());
}

static void
teardown(void)
{
    churn_store_close(st);
    st = NULL;
    churn_test_rm_rf(dir);
}

static struct churn_daily_snapshot
day_of(int32_t day, uint64_t customers)
{
    struct churn_daily_snapshot s;
    churn_daily_snapshot_start(&s, day * DAY + 3600000, day * DAY - DAY + 3600000);
    s.customers = customers;
    churn_daily_snapshot_add_score(&s, CHURN_TIER_HIGH, 0.8, 100);
    return s;
}

static struct churn_alert
revision(enum churn_alert_cause cause, enum churn_alert_change change, int64_t at)
{
    struct churn_alert a;
    cr_assert_eq(churn_alert_init(&a, "c-1", cause, at), CHURN_OK);
    a.change = change;
    a.updated_ms = at;
    return a;
}

/* ---- counting ---------------------------------------------------------------------------- */

Test(snapshot, scores_count_per_tier_with_revenue_at_risk)
{
    struct churn_daily_snapshot s;
    churn_daily_snapshot_start(&s, NOW, NOW - DAY);
    cr_assert_eq(s.day, 20400);
    cr_assert(churn_daily_snapshot_add_score(&s, CHURN_TIER_HIGH, 0.9, 1000));
    cr_assert(churn_daily_snapshot_add_score(&s, CHURN_TIER_HIGH, 0.7, 100));
    cr_assert(churn_daily_snapshot_add_score(&s, CHURN_TIER_MEDIUM, 0.4, 50));
    cr_assert(churn_daily_snapshot_add_score(&s, CHURN_TIER_LOW, 0.1, 10));
    cr_assert_not(churn_daily_snapshot_add_score(&s, CHURN_TIER_UNSPECIFIED, 0.5, 10));
    cr_assert_not(churn_daily_snapshot_add_score(&s, (enum churn_tier)7, 0.5, 10));
    cr_assert_eq(s.scored, 4);
    cr_assert_eq(s.at_risk[CHURN_TIER_HIGH], 2);
    cr_assert_eq(s.at_risk[CHURN_TIER_MEDIUM], 1);
    cr_assert_eq(churn_daily_snapshot_at_risk(&s), 3);
    cr_assert_float_eq(s.revenue_at_risk[CHURN_TIER_HIGH], 970.0, 1e-9);
    cr_assert_float_eq(churn_daily_snapshot_revenue_at_risk(&s), 970.0 + 20.0 + 1.0, 1e-9);
}

Test(snapshot, revisions_and_churn_count_only_inside_the_window)
{
    struct churn_daily_snapshot s;
    churn_daily_snapshot_start(&s, NOW, NOW - DAY);
    struct churn_alert a[] = {
        revision(CHURN_CAUSE_TIER_WORSENED, CHURN_CHANGE_RAISED, NOW - 1000),
        revision(CHURN_CAUSE_CHAT_ESCALATION, CHURN_CHANGE_RAISED, NOW - 2000),
        revision(CHURN_CAUSE_CHURN_INTENT, CHURN_CHANGE_RAISED, NOW),
        revision(CHURN_CAUSE_TIER_WORSENED, CHURN_CHANGE_CLOSED, NOW - 5),
        revision(CHURN_CAUSE_TIER_WORSENED, CHURN_CHANGE_UPDATED, NOW - 5),
        revision(CHURN_CAUSE_TIER_WORSENED, CHURN_CHANGE_RAISED, NOW - DAY), /* the bound */
        revision(CHURN_CAUSE_CHAT_ESCALATION, CHURN_CHANGE_RAISED, NOW + 1),
    };
    for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
        churn_daily_snapshot_add_revision(&s, &a[i]);
    cr_assert_eq(s.alerts_raised, 3);
    cr_assert_eq(s.escalations, 2);
    cr_assert_eq(s.alerts_closed, 1);
    churn_daily_snapshot_add_churn(&s, NOW - 10);
    churn_daily_snapshot_add_churn(&s, NOW - DAY);
    churn_daily_snapshot_add_churn(&s, 0);
    cr_assert_eq(s.churned, 1);
}

/* ---- the stored list --------------------------------------------------------------------- */

Test(snapshot, list_round_trips_and_damage_is_refused)
{
    struct churn_daily_snapshot days[3] = {day_of(100, 5), day_of(101, 6), day_of(103, 7)};
    days[2].alerts_raised = 9;
    days[2].revenue_at_risk[CHURN_TIER_LOW] = 12.5;
    uint8_t *enc;
    size_t len;
    cr_assert_eq(churn_daily_list_encode(days, 3, &enc, &len), CHURN_OK);
    struct churn_daily_snapshot *back;
    size_t n;
    cr_assert_eq(churn_daily_list_decode(enc, len, &back, &n), CHURN_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(back, days, sizeof(days)), 0);
    churn_free(back);

    back = NULL;
    n = 99;
    cr_assert_eq(churn_daily_list_decode(enc, len - 1, &back, &n), CHURN_ECORRUPT);
    cr_assert_null(back);
    cr_assert_eq(n, 99, "outputs untouched on error");
    enc[0] = 9;
    cr_assert_eq(churn_daily_list_decode(enc, len, &back, &n), CHURN_ECORRUPT, "version");
    cr_assert_eq(churn_daily_list_decode(enc, 0, &back, &n), CHURN_ECORRUPT, "empty");
    churn_free(enc);

    struct churn_daily_snapshot swapped[2] = {days[1], days[0]};
    cr_assert_eq(churn_daily_list_encode(swapped, 2, &enc, &len), CHURN_EINVAL);
    /* days out of order inside well-formed bytes: encode in order, then swap the day fields */
    cr_assert_eq(churn_daily_list_encode(days, 2, &enc, &len), CHURN_OK);
    size_t rec = (len - 1) / 2;
    uint8_t tmp[4];
    memcpy(tmp, enc + 1, 4);
    memcpy(enc + 1, enc + 1 + rec, 4);
    memcpy(enc + 1 + rec, tmp, 4);
    cr_assert_eq(churn_daily_list_decode(enc, len, &back, &n), CHURN_ECORRUPT, "order");
    churn_free(enc);
    /* a NaN revenue */
    cr_assert_eq(churn_daily_list_encode(days, 2, &enc, &len), CHURN_OK);
    memset(enc + 1 + 4 + 8 * 5 + 4 * 8, 0xff, 8);
    cr_assert_eq(churn_daily_list_decode(enc, len, &back, &n), CHURN_ECORRUPT, "NaN");
    churn_free(enc);

    cr_assert_eq(churn_daily_list_encode(NULL, 0, &enc, &len), CHURN_OK);
    cr_assert_eq(churn_daily_list_decode(enc, len, &back, &n), CHURN_OK);
    cr_assert_eq(n, 0);
    cr_assert_null(back);
    churn_free(enc);
}

Test(snapshot, merge_replaces_a_day_inserts_in_order_and_keeps_the_last_days)
{
    struct churn_daily_snapshot *days = NULL;
    size_t n = 0;
    struct churn_daily_snapshot s = day_of(10, 1);
    cr_assert_eq(churn_daily_list_merge(&days, &n, &s, 0), CHURN_EINVAL);
    cr_assert_eq(churn_daily_list_merge(&days, &n, &s, CHURN_SNAPSHOT_KEEP_DAYS_MAX + 1),
                 CHURN_EINVAL);
    cr_assert_eq(churn_daily_list_merge(&days, &n, &s, 3), CHURN_OK);
    s = day_of(12, 2);
    cr_assert_eq(churn_daily_list_merge(&days, &n, &s, 3), CHURN_OK);
    s = day_of(11, 3);
    cr_assert_eq(churn_daily_list_merge(&days, &n, &s, 3), CHURN_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(days[0].day, 10);
    cr_assert_eq(days[1].day, 11);
    cr_assert_eq(days[1].customers, 3);
    s = day_of(11, 4); /* the same day again: replaced */
    cr_assert_eq(churn_daily_list_merge(&days, &n, &s, 3), CHURN_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(days[1].customers, 4);
    s = day_of(13, 5); /* keeps 11, 12, 13 */
    cr_assert_eq(churn_daily_list_merge(&days, &n, &s, 3), CHURN_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(days[0].day, 11);
    cr_assert_eq(days[2].day, 13);
    s = day_of(30, 6); /* a long gap: only itself */
    cr_assert_eq(churn_daily_list_merge(&days, &n, &s, 3), CHURN_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(days[0].customers, 6);
    churn_free(days);
}

/* ---- in the store ------------------------------------------------------------------------ */

Test(snapshot, store_keeps_lists_and_ranges_days, .init = setup, .fini = teardown)
{
    struct churn_daily_snapshot got, *days;
    size_t n;
    cr_assert_eq(churn_snapshot_latest(st, &got), CHURN_ENOTFOUND);
    cr_assert_eq(churn_snapshot_list(st, INT32_MIN, INT32_MAX, &days, &n), CHURN_OK);
    cr_assert_eq(n, 0);
    for (int32_t d = 1000; d < 1010; d++) {
        struct churn_daily_snapshot s = day_of(d, (uint64_t)d);
        cr_assert_eq(churn_snapshot_put(st, &s, 5), CHURN_OK, "%s", churn_store_last_error());
    }
    cr_assert_eq(churn_snapshot_list(st, INT32_MIN, INT32_MAX, &days, &n), CHURN_OK);
    cr_assert_eq(n, 5, "retention: the last five days");
    cr_assert_eq(days[0].day, 1005);
    churn_free(days);
    cr_assert_eq(churn_snapshot_list(st, 1006, 1007, &days, &n), CHURN_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(days[0].customers, 1006);
    cr_assert_eq(days[1].customers, 1007);
    churn_free(days);
    cr_assert_eq(churn_snapshot_list(st, 2000, 3000, &days, &n), CHURN_OK);
    cr_assert_eq(n, 0);
    cr_assert_null(days);

    churn_store_close(st); /* read-only, as churnctl report opens it */
    struct churn_store_options o;
    churn_store_options_init(&o);
    o.read_only = true;
    cr_assert_eq(churn_store_open(dir, &o, &st), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(churn_snapshot_latest(st, &got), CHURN_OK);
    cr_assert_eq(got.day, 1009);
    cr_assert_eq(got.at_risk[CHURN_TIER_HIGH], 1);
}

Test(snapshot, an_unreadable_list_is_reported_then_replaced, .init = setup, .fini = teardown)
{
    cr_assert_eq(churn_store_put_meta(st, CHURN_SNAPSHOT_META, "\x07junk", 5), CHURN_OK);
    struct churn_daily_snapshot got, *days;
    size_t n;
    cr_assert_eq(churn_snapshot_list(st, INT32_MIN, INT32_MAX, &days, &n), CHURN_ECORRUPT);
    struct churn_daily_snapshot s = day_of(50, 3);
    cr_assert_eq(churn_snapshot_put(st, &s, 400), CHURN_OK);
    cr_assert_eq(churn_snapshot_latest(st, &got), CHURN_OK);
    cr_assert_eq(got.customers, 3);
}

static void
event(const char *id, const char *customer, enum churn_event_kind kind, int64_t at)
{
    struct churn_event ev = {
        .kind = kind, .event_id = id, .customer_id = customer, .occurred_at_ms = at};
    struct churn_event_result r;
    cr_assert_eq(churn_store_apply_events(st, &ev, 1, NOW, &r), CHURN_OK);
    cr_assert_eq(r.status, CHURN_EVENT_ACCEPTED, "%s", r.reason);
}

/* The engine's blob for a customer: an open alert for @open causes, a score (p, tier, value). */
static void
state(const char *customer, unsigned open, double p, enum churn_tier tier, double value)
{
    struct churn__state_set set = {0};
    for (unsigned c = 1; c <= open; c++) {
        set.have[c] = true;
        set.st[c].open_id = c;
        set.st[c].last_sequence = c;
    }
    double contrib[2] = {0.1, 0.2}, values[2] = {1, 2};
    struct churn_score_snapshot snap = {.scored_at_ms = NOW - 5000,
                                        .probability = p,
                                        .risk_tier = tier,
                                        .value_tier = CHURN_TIER_LOW,
                                        .value = value,
                                        .n_features = 2,
                                        .contributions = contrib,
                                        .values = values};
    uint8_t enc[256];
    size_t len = 0;
    if (tier) {
        cr_assert_eq(churn_score_snapshot_encode(&snap, enc, sizeof(enc), &len), CHURN_OK);
        set.snap = enc;
        set.snap_len = len;
    }
    struct churn_arena a;
    churn_arena_init(&a, 0);
    size_t blob_len;
    uint8_t *blob = churn__alerts_encode_states(&set, &a, &blob_len);
    cr_assert_not_null(blob);
    cr_assert_eq(churn_store_put_alert_state(st, customer, blob, blob_len), CHURN_OK);
    churn_arena_fini(&a);
}

static void
log_alert(const char *customer, enum churn_alert_cause cause, enum churn_alert_change change,
          int64_t at)
{
    struct churn_alert a = revision(cause, change, at);
    snprintf(a.customer_id, sizeof(a.customer_id), "%s", customer);
    a.status = change == CHURN_CHANGE_CLOSED ? CHURN_STATUS_CLOSED : CHURN_STATUS_OPEN;
    a.resolution = change == CHURN_CHANGE_CLOSED ? CHURN_RESOLUTION_SAVED : CHURN_RESOLUTION_NONE;
    a.closed_ms = change == CHURN_CHANGE_CLOSED ? at : 0;
    a.risk_tier = a.risk_tier_before = a.value_tier = CHURN_TIER_HIGH;
    uint8_t enc[CHURN_ALERT_ENCODED_MAX];
    size_t len;
    uint64_t seq;
    cr_assert_eq(churn_alert_encode(&a, enc, sizeof(enc), &len), CHURN_OK);
    cr_assert_eq(churn_store_append_alert(st, customer, enc, len, &seq), CHURN_OK);
}

Test(snapshot, computed_from_records_alert_log_and_engine_states, .init = setup, .fini = teardown)
{
    event("e1", "a", CHURN_EVENT_LOGIN, NOW - 3 * DAY);
    event("e2", "b", CHURN_EVENT_LOGIN, NOW - 3 * DAY);
    event("e3", "b", CHURN_EVENT_CHURN, NOW - 3600000); /* inside the day */
    event("e4", "c", CHURN_EVENT_CHURN, NOW - 2 * DAY); /* before it */
    event("e5", "d", CHURN_EVENT_LOGIN, NOW - DAY / 2);
    state("a", 1, 0.8, CHURN_TIER_HIGH, 1000);
    state("b", 2, 0.4, CHURN_TIER_MEDIUM, 100);
    state("c", 0, 0.1, CHURN_TIER_LOW, 50);
    state("d", 1, 0, CHURN_TIER_UNSPECIFIED, 0); /* no score yet */
    event("e6", "e", CHURN_EVENT_LOGIN, NOW - DAY);
    event("e7", "f", CHURN_EVENT_LOGIN, NOW - DAY);
    state("e", 0, 0.4, CHURN_TIER_MEDIUM, 100);
    state("f", 0, 0.1, CHURN_TIER_LOW, 50);
    log_alert("a", CHURN_CAUSE_TIER_WORSENED, CHURN_CHANGE_RAISED, NOW - 2 * DAY); /* before */
    log_alert("a", CHURN_CAUSE_TIER_WORSENED, CHURN_CHANGE_CLOSED, NOW - 60000);
    log_alert("b", CHURN_CAUSE_CHAT_ESCALATION, CHURN_CHANGE_RAISED, NOW - 50000);
    log_alert("d", CHURN_CAUSE_PROBABILITY_JUMP, CHURN_CHANGE_RAISED, NOW - 40000);

    struct churn_daily_snapshot s;
    cr_assert_eq(churn_snapshot_compute(st, NOW, NULL, churn_snapshot_read_state, &s), CHURN_OK,
                 "%s", churn_store_last_error());
    cr_assert_eq(s.day, 20400);
    cr_assert_eq(s.from_ms, NOW - DAY);
    cr_assert_eq(s.customers, 6);
    cr_assert_eq(s.lost, 2);
    cr_assert_eq(s.scored, 3, "b and c churned: lost, not at risk");
    cr_assert_eq(s.at_risk[CHURN_TIER_HIGH], 1);
    cr_assert_eq(s.at_risk[CHURN_TIER_MEDIUM], 1);
    cr_assert_eq(s.at_risk[CHURN_TIER_LOW], 1);
    cr_assert_float_eq(churn_daily_snapshot_revenue_at_risk(&s), 800 + 40 + 5, 1e-9);
    cr_assert_eq(s.open_alerts, 4);
    cr_assert_eq(s.alerts_raised, 2);
    cr_assert_eq(s.escalations, 1);
    cr_assert_eq(s.alerts_closed, 1);
    cr_assert_eq(s.churned, 1);
    cr_assert_eq(s.alert_seq, 4);

    /* the next day's window starts after this one: only the new revision counts */
    log_alert("c", CHURN_CAUSE_CHURN_INTENT, CHURN_CHANGE_RAISED, NOW + DAY / 2);
    struct churn_daily_snapshot next;
    cr_assert_eq(churn_snapshot_compute(st, NOW + DAY, &s, churn_snapshot_read_state, &next),
                 CHURN_OK);
    cr_assert_eq(next.from_ms, NOW);
    cr_assert_eq(next.alerts_raised, 1);
    cr_assert_eq(next.escalations, 1);
    cr_assert_eq(next.alerts_closed, 0);
    cr_assert_eq(next.churned, 0);
    cr_assert_eq(next.alert_seq, 5);
}

Test(snapshot, taken_once_per_utc_day, .init = setup, .fini = teardown)
{
    event("e1", "a", CHURN_EVENT_LOGIN, NOW - DAY);
    state("a", 0, 0.7, CHURN_TIER_HIGH, 10);
    bool taken = false;
    cr_assert_eq(churn_snapshot_take_daily(st, NOW, 400, churn_snapshot_read_state, &taken),
                 CHURN_OK);
    cr_assert(taken);
    event("e2", "b", CHURN_EVENT_LOGIN, NOW - DAY);
    /* later the same day: nothing */
    cr_assert_eq(
        churn_snapshot_take_daily(st, NOW + 3600000, 400, churn_snapshot_read_state, &taken),
        CHURN_OK);
    cr_assert_not(taken);
    struct churn_daily_snapshot got;
    cr_assert_eq(churn_snapshot_latest(st, &got), CHURN_OK);
    cr_assert_eq(got.customers, 1);
    /* the next day: a new one, its window from the first */
    cr_assert_eq(
        churn_snapshot_take_daily(st, NOW + DAY - 1, 400, churn_snapshot_read_state, &taken),
        CHURN_OK);
    cr_assert(taken);
    cr_assert_eq(churn_snapshot_latest(st, &got), CHURN_OK);
    cr_assert_eq(got.day, 20401);
    cr_assert_eq(got.customers, 2);
    cr_assert_eq(got.from_ms, NOW);
}
