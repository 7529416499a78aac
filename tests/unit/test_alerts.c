/*
 * test_alerts.c - the alerts module: segments and priority, the alert record and its life
 * cycle, rules (triggers, what moved, stale sources, de-duplication, cooldown, auto-close),
 * playbook loading (good and bad files), selection and reload, holdout assignment, outcome
 * statistics against hand-computed values, the byte encodings against hostile input, and
 * the fan-out hub, single-threaded and under a publisher with 100 subscribers.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "churn/alerts.h"
#include "churn/segments.h"
#include "churn/alert_rules.h"
#include "churn/outcomes.h"
#include "churn/alerts_hub.h"
#include "churn/alerts_index.h"
#include "churn/alerts_playbook.h"
#include "churn/alloc.h"
#include "churn/hash.h"

#define T0     1700000000000LL /* a fixed "now" */
#define HOUR   (3600LL * 1000)
#define PB_DIR CHURN_SOURCE_ROOT "/tests/data/playbooks/"

/* ---------------------------------------------------------------- names */

Test(alerts, names_round_trip_and_unknown_words_are_refused)
{
    enum churn_alert_resolution r;
    cr_assert_eq(churn_alert_resolution_parse("not_actionable", &r), CHURN_OK);
    cr_assert_eq(r, CHURN_RESOLUTION_NOT_ACTIONABLE);
    r = CHURN_RESOLUTION_SAVED;
    cr_assert_eq(churn_alert_resolution_parse("forgotten", &r), CHURN_EINVAL);
    cr_assert_eq(churn_alert_resolution_parse("none", &r), CHURN_EINVAL);
    cr_assert_eq(r, CHURN_RESOLUTION_SAVED, "out-param untouched on error");
    enum churn_alert_cause c;
    cr_assert_eq(churn_alert_cause_parse("CHURN_INTENT", &c), CHURN_OK);
    cr_assert_str_eq(churn_alert_cause_name(c), "churn_intent");
    cr_assert_str_eq(churn_alert_cause_name((enum churn_alert_cause)99), "unspecified");
    enum churn_action_kind k;
    cr_assert_eq(churn_action_kind_parse("email_campaign", &k), CHURN_OK);
    cr_assert_eq(k, CHURN_ACTION_EMAIL_CAMPAIGN);
    enum churn_tier t;
    cr_assert_eq(churn_tier_parse("unspecified", &t), CHURN_EINVAL);
    cr_assert_eq(churn_tier_parse(NULL, &t), CHURN_EINVAL);
    enum churn_outcome o;
    cr_assert_eq(churn_outcome_parse("churned", &o), CHURN_OK);
    cr_assert_eq(o, CHURN_OUTCOME_CHURNED);
}

/* ---------------------------------------------------------------- segments */

Test(alerts, risk_tiers_by_threshold)
{
    struct churn_segment_config cfg;
    churn_segment_config_default(&cfg);
    double values[] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
    struct churn_segments seg;
    char err[CHURN_ALERT_ERRMSG];
    cr_assert_eq(churn_segments_compute(&cfg, NULL, 0, values, 10, &seg, err, sizeof(err)),
                 CHURN_OK, "%s", err);
    cr_assert_eq(churn_segments_risk_tier(&seg, 0.61), CHURN_TIER_HIGH);
    cr_assert_eq(churn_segments_risk_tier(&seg, 0.6), CHURN_TIER_HIGH);
    cr_assert_eq(churn_segments_risk_tier(&seg, 0.59), CHURN_TIER_MEDIUM);
    cr_assert_eq(churn_segments_risk_tier(&seg, 0.29), CHURN_TIER_LOW);
    cr_assert_eq(churn_segments_risk_tier(&seg, NAN), CHURN_TIER_LOW);
    /* top 20% of ten values: 90 and 100; next 30%: 60, 70, 80 */
    cr_assert_eq(churn_segments_value_tier(&seg, 100), CHURN_TIER_HIGH);
    cr_assert_eq(churn_segments_value_tier(&seg, 90), CHURN_TIER_HIGH);
    cr_assert_eq(churn_segments_value_tier(&seg, 89), CHURN_TIER_MEDIUM);
    cr_assert_eq(churn_segments_value_tier(&seg, 60), CHURN_TIER_MEDIUM);
    cr_assert_eq(churn_segments_value_tier(&seg, 59), CHURN_TIER_LOW);
}

Test(alerts, risk_tiers_by_top_share_of_a_distribution)
{
    struct churn_segment_config cfg;
    churn_segment_config_default(&cfg);
    cfg.risk_mode = CHURN_RISK_BY_TOP_SHARE;
    cfg.risk_high_share = 0.05;
    cfg.risk_medium_share = 0.15;
    enum { N = 1000 };
    static double probs[N], values[N];
    for (int i = 0; i < N; i++) {
        probs[(i * 7) % N] = i / 1000.0; /* 0.000 .. 0.999, shuffled */
        values[i] = 1 + i;
    }
    struct churn_segments seg;
    cr_assert_eq(churn_segments_compute(&cfg, probs, N, values, N, &seg, NULL, 0), CHURN_OK);
    int high = 0, medium = 0;
    for (int i = 0; i < N; i++) {
        enum churn_tier t = churn_segments_risk_tier(&seg, probs[i]);
        high += t == CHURN_TIER_HIGH;
        medium += t == CHURN_TIER_MEDIUM;
    }
    cr_assert_eq(high, 50);
    cr_assert_eq(medium, 150);
    cr_assert_eq(seg.risk_sample_size, N);
    cr_assert(probs[0] == 0.0, "the caller's sample is not reordered");
}

Test(alerts, segment_config_and_samples_are_validated)
{
    struct churn_segment_config cfg;
    churn_segment_config_default(&cfg);
    double values[] = {1, 2, 3};
    struct churn_segments seg = {.risk_high_cut = 42};
    char err[CHURN_ALERT_ERRMSG] = "";
    cfg.risk_high_min = 0.2; /* below medium */
    cr_assert_eq(churn_segments_compute(&cfg, NULL, 0, values, 3, &seg, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert(strstr(err, "risk thresholds"), "%s", err);
    churn_segment_config_default(&cfg);
    cfg.value_high_share = 0.8;
    cr_assert_eq(churn_segments_compute(&cfg, NULL, 0, values, 3, &seg, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert(strstr(err, "value shares"), "%s", err);
    churn_segment_config_default(&cfg);
    cr_assert_eq(churn_segments_compute(&cfg, NULL, 0, values, 0, &seg, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert(strstr(err, "empty"), "%s", err);
    double bad[] = {1, NAN, 3};
    cr_assert_eq(churn_segments_compute(&cfg, NULL, 0, bad, 3, &seg, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert(strstr(err, "sample 1"), "%s", err);
    cfg.risk_mode = CHURN_RISK_BY_TOP_SHARE;
    double probs[] = {0.1, 1.5};
    cr_assert_eq(churn_segments_compute(&cfg, probs, 2, values, 3, &seg, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert_eq(seg.risk_high_cut, 42, "out-param untouched on error");
}

Test(alerts, priority_is_expected_revenue_at_risk_and_matrix_cells)
{
    cr_assert_float_eq(churn_priority(0.4, 250.0), 100.0, 1e-9);
    cr_assert_eq(churn_priority(NAN, 100), 0);
    cr_assert_eq(churn_priority(0.5, -3), 0);
    cr_assert_float_eq(churn_priority(1.7, 10), 10.0, 1e-9);
    cr_assert_eq(churn_segment_cell(CHURN_TIER_HIGH, CHURN_TIER_HIGH), 8);
    cr_assert_eq(churn_segment_cell(CHURN_TIER_LOW, CHURN_TIER_MEDIUM), 1);
    cr_assert_eq(churn_segment_cell(CHURN_TIER_UNSPECIFIED, CHURN_TIER_LOW), -1);
    char name[32];
    cr_assert_str_eq(churn_segment_name(CHURN_TIER_HIGH, CHURN_TIER_LOW, name, sizeof(name)),
                     "high-risk/low-value");
}

Test(alerts, segments_encoding_round_trips_and_refuses_damage)
{
    struct churn_segments s = {0.7, 0.4, 500, 120, 0, 1000}, d;
    uint8_t buf[64];
    size_t len;
    cr_assert_eq(churn_segments_encode(&s, buf, sizeof(buf), &len), CHURN_OK);
    cr_assert_eq(churn_segments_decode(buf, len, &d), CHURN_OK);
    cr_assert(memcmp(&s, &d, sizeof(s)) == 0);
    cr_assert_eq(churn_segments_decode(buf, len - 1, &d), CHURN_ECORRUPT);
    buf[0] = 9;
    cr_assert_eq(churn_segments_decode(buf, len, &d), CHURN_ECORRUPT);
    cr_assert_eq(churn_segments_encode(&s, buf, 10, &len), CHURN_ETOOBIG);
}

/* ---------------------------------------------------------------- the alert record */

static struct churn_alert
sample_alert(void)
{
    struct churn_alert a;
    cr_assert_eq(churn_alert_init(&a, "cust-42", CHURN_CAUSE_TIER_WORSENED, T0), CHURN_OK);
    a.id = 7;
    a.sequence = 7;
    cr_assert_eq(churn_alert_set_score(&a, 0.72, CHURN_TIER_HIGH, 0.41, CHURN_TIER_MEDIUM,
                                       CHURN_TIER_HIGH, 1200.0),
                 CHURN_OK);
    cr_assert_eq(churn_alert_add_reason(&a, "logins_30d", "logins in 30 days", 2, 0.21), CHURN_OK);
    cr_assert_eq(churn_alert_add_stale(&a, "reviews"), CHURN_OK);
    return a;
}

Test(alerts, alert_init_and_setters_enforce_caps)
{
    struct churn_alert a = sample_alert();
    cr_assert_eq(a.status, CHURN_STATUS_OPEN);
    cr_assert_eq(a.revision, 1);
    cr_assert_float_eq(a.priority, 0.72 * 1200.0, 1e-9);
    char longid[CHURN_ALERT_ID_MAX + 1];
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    struct churn_alert b = a;
    cr_assert_eq(churn_alert_init(&b, longid, CHURN_CAUSE_TIER_WORSENED, T0), CHURN_ETOOBIG);
    cr_assert_eq(churn_alert_init(&b, "", CHURN_CAUSE_TIER_WORSENED, T0), CHURN_EINVAL);
    cr_assert_eq(churn_alert_init(&b, "c", CHURN_CAUSE_UNSPECIFIED, T0), CHURN_EINVAL);
    cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0, "untouched on error");
    cr_assert_eq(
        churn_alert_set_score(&a, 1.2, CHURN_TIER_HIGH, 0.1, CHURN_TIER_LOW, CHURN_TIER_LOW, 1),
        CHURN_EINVAL);
    for (unsigned i = 1; i < CHURN_ALERT_MAX_REASONS; i++)
        cr_assert_eq(churn_alert_add_reason(&a, "f", "", 1, 0.1), CHURN_OK);
    cr_assert_eq(churn_alert_add_reason(&a, "f", "", 1, 0.1), CHURN_ETOOBIG);
    cr_assert_eq(a.n_reasons, CHURN_ALERT_MAX_REASONS);
    cr_assert_eq(churn_alert_set_chat(&a, "hard_trigger", "chargeback"), CHURN_EPRECOND,
                 "chat evidence only on chat causes");
}

Test(alerts, life_cycle_transitions_and_their_errors)
{
    struct churn_alert a = sample_alert();
    char err[CHURN_ALERT_ERRMSG] = "";
    cr_assert_eq(churn_alert_snooze(&a, T0 - 1, "on holiday", T0, err, sizeof(err)), CHURN_EINVAL);
    cr_assert(strstr(err, "in the past"), "%s", err);
    cr_assert_eq(churn_alert_snooze(&a, T0 + 200LL * 86400000, "later", T0, err, sizeof(err)),
                 CHURN_ERANGE);
    cr_assert_eq(churn_alert_snooze(&a, T0 + HOUR, "", T0, err, sizeof(err)), CHURN_EINVAL);
    cr_assert_eq(a.status, CHURN_STATUS_OPEN);
    cr_assert_eq(a.revision, 1, "failed transitions do not change the alert");

    cr_assert_eq(churn_alert_snooze(&a, T0 + HOUR, "customer on holiday", T0, err, sizeof(err)),
                 CHURN_OK);
    cr_assert_eq(a.status, CHURN_STATUS_SNOOZED);
    cr_assert_not(churn_alert_wake(&a, T0 + HOUR - 1));
    cr_assert(churn_alert_wake(&a, T0 + HOUR));
    cr_assert_eq(a.status, CHURN_STATUS_OPEN);

    cr_assert_eq(churn_alert_acknowledge(&a, "", "called", T0, err, sizeof(err)), CHURN_EINVAL);
    cr_assert_eq(churn_alert_acknowledge(&a, "maria", "called the customer", T0 + 2 * HOUR, err,
                                         sizeof(err)),
                 CHURN_OK);
    cr_assert_eq(a.status, CHURN_STATUS_ACKNOWLEDGED);
    cr_assert_eq(churn_alert_acknowledge(&a, "tom", "", T0, err, sizeof(err)), CHURN_EEXIST);
    cr_assert(strstr(err, "already acknowledged by maria"), "%s", err);

    cr_assert_eq(churn_alert_close(&a, (enum churn_alert_resolution)17, T0, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert(strstr(err, "unknown"), "%s", err);
    cr_assert_eq(churn_alert_close(&a, CHURN_RESOLUTION_NONE, T0, err, sizeof(err)), CHURN_EINVAL);
    cr_assert_eq(churn_alert_close(&a, CHURN_RESOLUTION_SAVED, T0 + 3 * HOUR, err, sizeof(err)),
                 CHURN_OK);
    cr_assert_eq(a.status, CHURN_STATUS_CLOSED);
    cr_assert_eq(a.closed_ms, T0 + 3 * HOUR);
    cr_assert_eq(a.revision, 5);

    cr_assert_eq(churn_alert_snooze(&a, T0 + 9 * HOUR, "x", T0 + 4 * HOUR, err, sizeof(err)),
                 CHURN_EPRECOND);
    cr_assert(strstr(err, "closed (saved)"), "%s", err);
    cr_assert_eq(churn_alert_close(&a, CHURN_RESOLUTION_LOST, T0, err, sizeof(err)),
                 CHURN_EPRECOND);
    cr_assert_eq(churn_alert_acknowledge(&a, "tom", "", T0, err, sizeof(err)), CHURN_EPRECOND);
    cr_assert_eq(a.resolution, CHURN_RESOLUTION_SAVED);
}

Test(alerts, update_folds_a_new_trigger_into_the_open_alert)
{
    struct churn_alert a = sample_alert();
    char err[CHURN_ALERT_ERRMSG];
    cr_assert_eq(churn_alert_acknowledge(&a, "maria", "emailed", T0 + 1, err, sizeof(err)),
                 CHURN_OK);
    struct churn_alert fresh;
    cr_assert_eq(churn_alert_init(&fresh, "cust-42", CHURN_CAUSE_TIER_WORSENED, T0 + HOUR),
                 CHURN_OK);
    cr_assert_eq(churn_alert_set_score(&fresh, 0.9, CHURN_TIER_HIGH, 0.72, CHURN_TIER_HIGH,
                                       CHURN_TIER_HIGH, 1200),
                 CHURN_OK);
    cr_assert_eq(churn_alert_update(&a, &fresh, T0 + HOUR, err, sizeof(err)), CHURN_OK);
    cr_assert_eq(a.id, 7, "same alert");
    cr_assert_eq(a.created_ms, T0);
    cr_assert_eq(a.updated_ms, T0 + HOUR);
    cr_assert_eq(a.revision, 3);
    cr_assert_float_eq(a.probability, 0.9, 1e-12);
    cr_assert_eq(a.n_reasons, 0, "reasons come from the new score");
    cr_assert_eq(a.status, CHURN_STATUS_ACKNOWLEDGED, "the acknowledgement stays");
    cr_assert_str_eq(a.ack_actor, "maria");

    struct churn_alert other;
    cr_assert_eq(churn_alert_init(&other, "cust-43", CHURN_CAUSE_TIER_WORSENED, T0), CHURN_OK);
    cr_assert_eq(churn_alert_update(&a, &other, T0, err, sizeof(err)), CHURN_EINVAL);
    cr_assert(strstr(err, "cust-43"), "%s", err);
    cr_assert_eq(churn_alert_close(&a, CHURN_RESOLUTION_LOST, T0 + HOUR, err, sizeof(err)),
                 CHURN_OK);
    cr_assert_eq(churn_alert_update(&a, &fresh, T0 + HOUR, err, sizeof(err)), CHURN_EPRECOND);
}

Test(alerts, summary_line_says_what_a_person_needs)
{
    struct churn_alert a = sample_alert();
    a.n_moved = 1;
    strcpy(a.moved[0].sentence, "logins fell from 14 to 2 in 30 days: +0.21");
    a.action.kind = CHURN_ACTION_CONSULTATION;
    strcpy(a.owner, "success-team");
    char line[512];
    cr_assert_str_eq(churn_alert_summary(&a, line, sizeof(line)),
                     "#7 cust-42 tier_worsened open high-risk/high-value p=0.72 (was 0.41) "
                     "priority=864.00 action=consultation owner=success-team | logins fell "
                     "from 14 to 2 in 30 days: +0.21 | stale: 1 source(s)");
    char small[16];
    cr_assert_str_eq(churn_alert_summary(&a, small, sizeof(small)), "#7 cust-42 tier");
}

Test(alerts, alert_encoding_round_trips)
{
    struct churn_alert a;
    cr_assert_eq(churn_alert_init(&a, "cust-9", CHURN_CAUSE_CHAT_ESCALATION, T0), CHURN_OK);
    a.id = 11;
    a.sequence = 12;
    cr_assert_eq(churn_alert_set_score(&a, 0.5, CHURN_TIER_MEDIUM, 0.5, CHURN_TIER_MEDIUM,
                                       CHURN_TIER_LOW, 12.5),
                 CHURN_OK);
    cr_assert_eq(churn_alert_set_chat(&a, "hard_trigger", "I will file a chargeback"), CHURN_OK);
    cr_assert_eq(churn_alert_add_reason(&a, "tickets_30d", "tickets", 5, 0.3), CHURN_OK);
    a.n_moved = 1;
    strcpy(a.moved[0].feature, "logins_30d");
    strcpy(a.moved[0].label, "logins");
    a.moved[0].before = 14;
    a.moved[0].after = NAN; /* missing now */
    a.moved[0].contribution_delta = 0.2;
    a.action.kind = CHURN_ACTION_HUMAN_HANDOFF;
    strcpy(a.action.detail, "take over");
    strcpy(a.playbook_id, "chat-escalation-handoff");
    strcpy(a.owner, "support-tier2");
    a.due_at_ms = T0 + 2 * HOUR;
    uint8_t buf[CHURN_ALERT_ENCODED_MAX];
    size_t len;
    cr_assert_eq(churn_alert_encode(&a, buf, sizeof(buf), &len), CHURN_OK);
    cr_assert_eq(buf[0], CHURN_ALERT_FORMAT_VERSION);
    struct churn_alert d;
    cr_assert_eq(churn_alert_decode(buf, len, &d), CHURN_OK);
    cr_assert_eq(d.id, 11);
    cr_assert_eq(d.sequence, 12);
    cr_assert_str_eq(d.customer_id, "cust-9");
    cr_assert_str_eq(d.chat_evidence, "I will file a chargeback");
    cr_assert_str_eq(d.reasons[0].label, "tickets");
    cr_assert(isnan(d.moved[0].after));
    cr_assert_eq(d.action.kind, CHURN_ACTION_HUMAN_HANDOFF);
    cr_assert_str_eq(d.owner, "support-tier2");
    cr_assert_eq(d.due_at_ms, T0 + 2 * HOUR);
    /* re-encoding the decoded alert gives the same bytes */
    uint8_t buf2[CHURN_ALERT_ENCODED_MAX];
    size_t len2;
    cr_assert_eq(churn_alert_encode(&d, buf2, sizeof(buf2), &len2), CHURN_OK);
    cr_assert_eq(len2, len);
    cr_assert_eq(memcmp(buf, buf2, len), 0);
    cr_assert_eq(churn_alert_encode(&a, buf2, len - 1, &len2), CHURN_ETOOBIG);
}

Test(alerts, format_1_alerts_still_decode_with_their_change_inferred)
{
    struct churn_alert a = sample_alert();
    char msg[CHURN_ALERT_ERRMSG];
    cr_assert_eq(churn_alert_acknowledge(&a, "ana", "coupon", a.updated_ms + 1, msg, sizeof(msg)),
                 CHURN_OK);
    uint8_t buf[CHURN_ALERT_ENCODED_MAX];
    size_t len;
    cr_assert_eq(churn_alert_encode(&a, buf, sizeof(buf), &len), CHURN_OK);
    /* a format 1 record is a format 2 one without its trailer: change (1), trigger count (4),
     * acknowledged at (8), note (2 + 0: empty here), has outcome (1); format 2 is format 3
     * without its action call (webhook 2 + 0, status 4, attempts 4, time 8) */
    buf[0] = 1;
    struct churn_alert d;
    cr_assert_eq(churn_alert_decode(buf, len - 16 - 18, &d), CHURN_OK);
    cr_assert_eq(d.trigger_count, 1);
    cr_assert_eq(d.change, CHURN_CHANGE_ACKNOWLEDGED);
    cr_assert_eq(d.has_outcome, false);
    cr_assert_str_eq(d.ack_actor, "ana");
}

Test(alerts, outcomes_are_recorded_on_any_alert_and_round_trip)
{
    struct churn_alert a = sample_alert();
    char msg[CHURN_ALERT_ERRMSG];
    int64_t t = a.updated_ms + 10;
    cr_assert_eq(churn_alert_close(&a, CHURN_RESOLUTION_SAVED, t, msg, sizeof(msg)), CHURN_OK);
    cr_assert_eq(a.change, CHURN_CHANGE_CLOSED);
    uint32_t rev = a.revision;
    struct churn_alert_outcome o = {
        CHURN_OUTCOME_RETAINED, CHURN_ACTION_COUPON, 120.5, "EUR", "ana", t};
    cr_assert_eq(churn_alert_record_outcome(&a, &o, t + 1, msg, sizeof(msg)), CHURN_OK, "%s", msg);
    cr_assert_eq(a.change, CHURN_CHANGE_OUTCOME_RECORDED);
    cr_assert_eq(a.revision, rev + 1);
    cr_assert_eq(a.status, CHURN_STATUS_CLOSED, "status unchanged");
    uint8_t buf[CHURN_ALERT_ENCODED_MAX];
    size_t len;
    cr_assert_eq(churn_alert_encode(&a, buf, sizeof(buf), &len), CHURN_OK);
    struct churn_alert d;
    cr_assert_eq(churn_alert_decode(buf, len, &d), CHURN_OK);
    cr_assert(d.has_outcome);
    cr_assert_eq(d.outcome, CHURN_OUTCOME_RETAINED);
    cr_assert_eq(d.outcome_intervention, CHURN_ACTION_COUPON);
    cr_assert_float_eq(d.outcome_revenue, 120.5, 1e-12);
    cr_assert_str_eq(d.outcome_currency, "EUR");
    cr_assert_str_eq(d.outcome_actor, "ana");
    for (size_t n = 0; n < len; n++)
        cr_assert_eq(churn_alert_decode(buf, n, &d), CHURN_ECORRUPT, "truncated to %zu", n);

    struct {
        struct churn_alert_outcome o;
        const char *field;
    } bad[] = {
        {{(enum churn_outcome)7, 0, 0, "", "", t}, "outcome"},
        {{CHURN_OUTCOME_CHURNED, (enum churn_action_kind)42, 0, "", "", t}, "intervention"},
        {{CHURN_OUTCOME_CHURNED, 0, -1, "", "", t}, "revenue"},
        {{CHURN_OUTCOME_CHURNED, 0, NAN, "", "", t}, "revenue"},
        {{CHURN_OUTCOME_CHURNED, 0, 1, "euro", "", t}, "currency"},
        {{CHURN_OUTCOME_CHURNED, 0, 1, "eur", "", t}, "currency"},
        {{CHURN_OUTCOME_CHURNED, 0, 1, "EUR", "", 0}, "observed_at_ms"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct churn_alert b = a;
        cr_assert_eq(churn_alert_record_outcome(&b, &bad[i].o, t + 2, msg, sizeof(msg)),
                     CHURN_EINVAL, "case %zu", i);
        cr_assert(strncmp(msg, bad[i].field, strlen(bad[i].field)) == 0, "case %zu: %s", i, msg);
        cr_assert_eq(b.revision, a.revision, "untouched on error");
    }
}

Test(alerts, alert_decoding_refuses_truncated_and_hostile_bytes)
{
    struct churn_alert a = sample_alert();
    uint8_t buf[CHURN_ALERT_ENCODED_MAX];
    size_t len;
    cr_assert_eq(churn_alert_encode(&a, buf, sizeof(buf), &len), CHURN_OK);
    struct churn_alert d, keep;
    memset(&d, 0x5a, sizeof(d));
    keep = d;
    for (size_t n = 0; n < len; n++)
        cr_assert_eq(churn_alert_decode(buf, n, &d), CHURN_ECORRUPT, "truncated to %zu", n);
    cr_assert_eq(memcmp(&d, &keep, sizeof(d)), 0, "untouched on error");
    uint8_t longer[CHURN_ALERT_ENCODED_MAX + 1];
    memcpy(longer, buf, len);
    longer[len] = 0;
    cr_assert_eq(churn_alert_decode(longer, len + 1, &d), CHURN_ECORRUPT, "trailing byte");
    uint8_t bad[CHURN_ALERT_ENCODED_MAX];
    memcpy(bad, buf, len);
    bad[0] = CHURN_ALERT_FORMAT_VERSION + 1;
    cr_assert_eq(churn_alert_decode(bad, len, &d), CHURN_ECORRUPT, "unknown version");
    bad[0] = 0;
    cr_assert_eq(churn_alert_decode(bad, len, &d), CHURN_ECORRUPT, "version 0");
    memcpy(bad, buf, len);
    /* format 2: the change byte (empty note, no outcome: 16-byte trailer), before format 3's
     * 18 bytes of action call */
    bad[len - 18 - 16] = 9;
    cr_assert_eq(churn_alert_decode(bad, len, &d), CHURN_ECORRUPT, "unknown change");
    memcpy(bad, buf, len);
    bad[len - 18 - 1] = 2; /* the has-outcome flag */
    cr_assert_eq(churn_alert_decode(bad, len, &d), CHURN_ECORRUPT, "bad outcome flag");
    memcpy(bad, buf, len);
    /* version 1 + id 8 + seq 8 + rev 4 = 21: the customer id length; make it huge */
    bad[21] = 0xff;
    bad[22] = 0xff;
    cr_assert_eq(churn_alert_decode(bad, len, &d), CHURN_ECORRUPT);
    memcpy(bad, buf, len);
    bad[23] = 0; /* a NUL inside the customer id */
    cr_assert_eq(churn_alert_decode(bad, len, &d), CHURN_ECORRUPT);
    memcpy(bad, buf, len);
    bad[21 + 2 + 7] = 9; /* cause byte after "cust-42" */
    cr_assert_eq(churn_alert_decode(bad, len, &d), CHURN_ECORRUPT);
    /* every single-byte corruption either decodes to a valid alert or fails cleanly */
    for (size_t i = 0; i < len; i++) {
        memcpy(bad, buf, len);
        bad[i] ^= 0xa5;
        enum churn_err e = churn_alert_decode(bad, len, &d);
        cr_assert(e == CHURN_OK || e == CHURN_ECORRUPT);
    }
    struct churn_alert broken = a;
    broken.n_reasons = 99;
    cr_assert_eq(churn_alert_encode(&broken, buf, sizeof(buf), &len), CHURN_EINVAL);
}

/* ---------------------------------------------------------------- rules */

static double prev_c[4] = {0.05, 0.00, 0.10, 0.02}, prev_v[4] = {14, 3, 2, 40};
static double cur_c[4] = {0.26, 0.005, 0.02, 0.02}, cur_v[4] = {2, 3, 5, 40};
static const struct churn_feature_label labels[4] = {
    {"logins_30d", "logins", "in 30 days"},
    {"orders_90d", "orders", "in 90 days"},
    {"tickets_30d", "support tickets", "in 30 days"},
    {"tenure_days", "tenure", NULL},
};

static struct churn_score_snapshot
snap(double p, enum churn_tier tier, double *c, double *v)
{
    struct churn_score_snapshot s = {
        .scored_at_ms = T0,
        .probability = p,
        .risk_tier = tier,
        .value_tier = CHURN_TIER_HIGH,
        .value = 900,
        .feature_set = 0xfeed,
        .n_features = 4,
        .contributions = c,
        .values = v,
    };
    return s;
}

Test(alerts, triggers_fire_on_tier_worsening_jumps_and_chat)
{
    struct churn_alert_rules_config cfg;
    churn_alert_rules_config_default(&cfg);
    struct churn_score_snapshot prev = snap(0.35, CHURN_TIER_MEDIUM, prev_c, prev_v);
    struct churn_score_snapshot cur = snap(0.62, CHURN_TIER_HIGH, cur_c, cur_v);
    struct churn_alert_triggers t;
    cr_assert_eq(churn_alert_rules_evaluate(&cfg, &prev, &cur, NULL, &t), CHURN_OK);
    cr_assert_eq(t.causes,
                 (1u << CHURN_CAUSE_TIER_WORSENED) | (1u << CHURN_CAUSE_PROBABILITY_JUMP));
    cr_assert_float_eq(t.jump, 0.27, 1e-9);

    cur.probability = 0.45;
    cur.risk_tier = CHURN_TIER_MEDIUM;
    cr_assert_eq(churn_alert_rules_evaluate(&cfg, &prev, &cur, NULL, &t), CHURN_OK);
    cr_assert_eq(t.causes, 0, "a rise of 0.10 is under the 0.15 jump");

    /* improvement never alerts */
    cr_assert_eq(churn_alert_rules_evaluate(&cfg, &cur, &prev, NULL, &t), CHURN_OK);
    cr_assert_eq(t.causes, 0);

    struct churn_chat_signal chat = {
        .escalate = true, .reason = "hard_trigger", .churn_intent = true};
    cr_assert_eq(churn_alert_rules_evaluate(&cfg, NULL, &cur, &chat, &t), CHURN_OK);
    cr_assert_eq(t.causes, (1u << CHURN_CAUSE_CHAT_ESCALATION) | (1u << CHURN_CAUSE_CHURN_INTENT));

    cur.probability = NAN;
    t.causes = 12345;
    cr_assert_eq(churn_alert_rules_evaluate(&cfg, &prev, &cur, NULL, &t), CHURN_EINVAL);
    cr_assert_eq(t.causes, 12345);
    cur.probability = 0.5;
    cur.risk_tier = CHURN_TIER_UNSPECIFIED;
    cr_assert_eq(churn_alert_rules_evaluate(&cfg, &prev, &cur, NULL, &t), CHURN_EINVAL);
}

Test(alerts, what_moved_names_the_features_that_changed_with_a_sentence)
{
    struct churn_alert_rules_config cfg;
    churn_alert_rules_config_default(&cfg);
    struct churn_score_snapshot prev = snap(0.35, CHURN_TIER_MEDIUM, prev_c, prev_v);
    struct churn_score_snapshot cur = snap(0.62, CHURN_TIER_HIGH, cur_c, cur_v);
    struct churn_alert a = sample_alert();
    cr_assert_eq(churn_alert_what_moved(&cfg, &prev, &cur, labels, 4, &a), CHURN_OK);
    cr_assert_eq(a.n_moved, 2, "orders moved by 0.005 (under 0.01), tenure not at all");
    cr_assert_str_eq(a.moved[0].feature, "logins_30d");
    cr_assert_str_eq(a.moved[0].sentence, "logins fell from 14 to 2 in 30 days: +0.21");
    cr_assert_str_eq(a.moved[1].feature, "tickets_30d");
    cr_assert_str_eq(a.moved[1].sentence, "support tickets rose from 2 to 5 in 30 days: -0.08");
    cr_assert_float_eq(a.moved[1].contribution_delta, -0.08, 1e-9);

    cfg.max_moved = 1;
    cr_assert_eq(churn_alert_what_moved(&cfg, &prev, &cur, labels, 4, &a), CHURN_OK);
    cr_assert_eq(a.n_moved, 1);
    cr_assert_str_eq(a.moved[0].feature, "logins_30d");

    prev.feature_set = 0xbeef; /* a different model: features are not comparable */
    cr_assert_eq(churn_alert_what_moved(&cfg, &prev, &cur, labels, 4, &a), CHURN_OK);
    cr_assert_eq(a.n_moved, 0);
    prev.feature_set = cur.feature_set;
    cr_assert_eq(churn_alert_what_moved(&cfg, &prev, &cur, labels, 3, &a), CHURN_EINVAL);

    char s[128];
    cr_assert_str_eq(churn_alert_moved_sentence("tenure", NULL, 40, 40, 0, s, sizeof(s)),
                     "tenure unchanged at 40: +0.00");
    /* missing values are said in words, never printed as "nan" */
    cr_assert_str_eq(
        churn_alert_moved_sentence("Active days", "in 90 days", NAN, 33, 2.95, s, sizeof(s)),
        "Active days now known: 33 in 90 days: +2.95");
    cr_assert_str_eq(churn_alert_moved_sentence("Logins", NULL, 4, NAN, -1.5, s, sizeof(s)),
                     "Logins no longer known (was 4): -1.50");
    cr_assert_str_eq(churn_alert_moved_sentence("Logins", NULL, NAN, NAN, 0, s, sizeof(s)),
                     "Logins still unknown: +0.00");
}

/* A sentence callback that says which feature index it was asked about. */
static char *
index_sentence(int feature, double before, double after, char *out, size_t outlen)
{
    snprintf(out, outlen, "feature %d went from %g to %g", feature, before, after);
    return out;
}

Test(alerts, what_moved_uses_the_label_s_own_sentence_when_it_has_one)
{
    struct churn_alert_rules_config cfg;
    churn_alert_rules_config_default(&cfg);
    struct churn_feature_label own[4];
    memcpy(own, labels, sizeof(own));
    own[2].sentence = index_sentence;
    struct churn_score_snapshot prev = snap(0.35, CHURN_TIER_MEDIUM, prev_c, prev_v);
    struct churn_score_snapshot cur = snap(0.62, CHURN_TIER_HIGH, cur_c, cur_v);
    struct churn_alert a = sample_alert();
    cr_assert_eq(churn_alert_what_moved(&cfg, &prev, &cur, own, 4, &a), CHURN_OK);
    cr_assert_eq(a.n_moved, 2);
    cr_assert_str_eq(a.moved[0].sentence, "logins fell from 14 to 2 in 30 days: +0.21");
    cr_assert_str_eq(a.moved[1].sentence, "feature 2 went from 2 to 5");
}

Test(alerts, a_score_raises_one_alert_even_when_tier_and_jump_both_fire)
{
    struct churn_alert_triggers t = {.causes = (1u << CHURN_CAUSE_TIER_WORSENED) |
                                               (1u << CHURN_CAUSE_PROBABILITY_JUMP),
                                     .jump = 0.3};
    cr_assert_eq(churn_alert_score_cause(&t, false), CHURN_CAUSE_TIER_WORSENED);
    cr_assert_eq(churn_alert_score_cause(&t, true), CHURN_CAUSE_TIER_WORSENED);
    t.causes = 1u << CHURN_CAUSE_PROBABILITY_JUMP;
    cr_assert_eq(churn_alert_score_cause(&t, false), CHURN_CAUSE_PROBABILITY_JUMP);
    cr_assert_eq(churn_alert_score_cause(&t, true), CHURN_CAUSE_TIER_WORSENED,
                 "an open tier alert absorbs a later jump");
    t.causes = 1u << CHURN_CAUSE_TIER_WORSENED;
    cr_assert_eq(churn_alert_score_cause(&t, false), CHURN_CAUSE_TIER_WORSENED);
    t.causes = (1u << CHURN_CAUSE_CHURN_INTENT) | (1u << CHURN_CAUSE_CHAT_ESCALATION);
    cr_assert_eq(churn_alert_score_cause(&t, true), CHURN_CAUSE_UNSPECIFIED, "chat is not a score");
    t.causes = 0;
    cr_assert_eq(churn_alert_score_cause(&t, true), CHURN_CAUSE_UNSPECIFIED);
}

Test(alerts, stale_sources_are_reported)
{
    struct churn_alert_rules_config cfg;
    churn_alert_rules_config_default(&cfg); /* 14 days */
    struct churn_source_freshness src[] = {
        {"logins", T0 - HOUR},
        {"orders", T0 - 15 * 24 * HOUR},
        {"reviews", 0},
        {"tickets", T0 - 14 * 24 * HOUR},
    };
    struct churn_alert a = sample_alert();
    cr_assert_eq(churn_alert_mark_stale(&cfg, src, 4, T0, &a), CHURN_OK);
    cr_assert_eq(a.n_stale, 2);
    cr_assert_str_eq(a.stale[0], "orders");
    cr_assert_str_eq(a.stale[1], "reviews", "a source never seen is stale, not healthy");
}

Test(alerts, dedup_cooldown_and_snooze_decisions)
{
    struct churn_alert_rules_config cfg;
    churn_alert_rules_config_default(&cfg);
    cr_assert_eq(churn_alert_decide(&cfg, NULL, CHURN_TIER_HIGH, T0), CHURN_ALERT_RAISE);

    struct churn_alert a = sample_alert();
    struct churn_alert_state st = {0};
    churn_alert_state_record(&st, &a);
    cr_assert_eq(st.open_id, 7);
    /* a second trigger a minute later is suppressed; a worse tier updates at once */
    cr_assert_eq(churn_alert_decide(&cfg, &st, CHURN_TIER_HIGH, T0 + 60000),
                 CHURN_ALERT_SUPPRESS_COOLDOWN);
    st.last_tier = CHURN_TIER_MEDIUM;
    cr_assert_eq(churn_alert_decide(&cfg, &st, CHURN_TIER_HIGH, T0 + 60000), CHURN_ALERT_UPDATE);
    st.last_tier = CHURN_TIER_HIGH;
    cr_assert_eq(churn_alert_decide(&cfg, &st, CHURN_TIER_HIGH, T0 + HOUR), CHURN_ALERT_UPDATE);

    char err[CHURN_ALERT_ERRMSG];
    cr_assert_eq(churn_alert_snooze(&a, T0 + 5 * HOUR, "waiting for renewal", T0, err, sizeof(err)),
                 CHURN_OK);
    churn_alert_state_record(&st, &a);
    cr_assert_eq(churn_alert_decide(&cfg, &st, CHURN_TIER_HIGH, T0 + 4 * HOUR),
                 CHURN_ALERT_SUPPRESS_SNOOZED);
    cr_assert_eq(churn_alert_decide(&cfg, &st, CHURN_TIER_HIGH, T0 + 5 * HOUR), CHURN_ALERT_UPDATE,
                 "quiet only until its time");

    cr_assert_eq(churn_alert_close(&a, CHURN_RESOLUTION_SAVED, T0 + 6 * HOUR, err, sizeof(err)),
                 CHURN_OK);
    churn_alert_state_record(&st, &a);
    cr_assert_eq(st.open_id, 0);
    cr_assert_eq(churn_alert_decide(&cfg, &st, CHURN_TIER_HIGH, T0 + 7 * HOUR),
                 CHURN_ALERT_SUPPRESS_COOLDOWN);
    cr_assert_eq(churn_alert_decide(&cfg, &st, CHURN_TIER_HIGH, T0 + 30 * HOUR), CHURN_ALERT_RAISE);
}

Test(alerts, alert_storm_of_one_by_one_events_makes_one_alert)
{
    /* 200 score changes for one customer, one every 10 s: one raise, few revisions */
    struct churn_alert_rules_config cfg;
    churn_alert_rules_config_default(&cfg);
    struct churn_alert_state st = {0};
    struct churn_alert open;
    int raises = 0, updates = 0;
    uint64_t seq = 0;
    for (int i = 0; i < 200; i++) {
        int64_t now = T0 + i * 10000LL;
        enum churn_alert_decision d =
            churn_alert_decide(&cfg, st.last_sequence ? &st : NULL, CHURN_TIER_HIGH, now);
        if (d == CHURN_ALERT_RAISE) {
            raises++;
            cr_assert_eq(churn_alert_init(&open, "c", CHURN_CAUSE_PROBABILITY_JUMP, now), CHURN_OK);
            cr_assert_eq(churn_alert_set_score(&open, 0.8, CHURN_TIER_HIGH, 0.5, CHURN_TIER_MEDIUM,
                                               CHURN_TIER_LOW, 1),
                         CHURN_OK);
            open.id = open.sequence = ++seq;
        } else if (d == CHURN_ALERT_UPDATE) {
            updates++;
            struct churn_alert fresh = open;
            cr_assert_eq(churn_alert_update(&open, &fresh, now, NULL, 0), CHURN_OK);
            open.sequence = ++seq;
        }
        churn_alert_state_record(&st, &open);
    }
    cr_assert_eq(raises, 1);
    cr_assert_eq(updates, 2, "2000 s at one update per 15 min");
}

Test(alerts, condition_cleared_decides_auto_close)
{
    struct churn_alert_rules_config cfg;
    churn_alert_rules_config_default(&cfg);
    struct churn_alert a = sample_alert(); /* tier worsened medium -> high */
    struct churn_score_snapshot cur = snap(0.65, CHURN_TIER_HIGH, cur_c, cur_v);
    cr_assert_not(churn_alert_condition_cleared(&cfg, &a, &cur));
    cur.risk_tier = CHURN_TIER_MEDIUM;
    cr_assert(churn_alert_condition_cleared(&cfg, &a, &cur));

    struct churn_alert j;
    cr_assert_eq(churn_alert_init(&j, "c", CHURN_CAUSE_PROBABILITY_JUMP, T0), CHURN_OK);
    cr_assert_eq(churn_alert_set_score(&j, 0.6, CHURN_TIER_MEDIUM, 0.4, CHURN_TIER_MEDIUM,
                                       CHURN_TIER_LOW, 1),
                 CHURN_OK);
    cur.probability = 0.48; /* 0.08 above the baseline: more than half the 0.15 jump */
    cr_assert_not(churn_alert_condition_cleared(&cfg, &j, &cur));
    cur.probability = 0.47;
    cr_assert(churn_alert_condition_cleared(&cfg, &j, &cur));
    cr_assert_eq(churn_alert_close(&j, CHURN_RESOLUTION_AUTO_CLEARED, T0, NULL, 0), CHURN_OK);
    cr_assert_not(churn_alert_condition_cleared(&cfg, &j, &cur), "closed alerts stay closed");

    struct churn_alert c;
    cr_assert_eq(churn_alert_init(&c, "c", CHURN_CAUSE_CHURN_INTENT, T0), CHURN_OK);
    cur.probability = 0.01;
    cur.risk_tier = CHURN_TIER_LOW;
    cr_assert_not(churn_alert_condition_cleared(&cfg, &c, &cur), "a person closes chat alerts");
}

Test(alerts, rules_config_is_checked)
{
    struct churn_alert_rules_config cfg;
    churn_alert_rules_config_default(&cfg);
    char err[CHURN_ALERT_ERRMSG];
    cr_assert_eq(churn_alert_rules_config_check(&cfg, err, sizeof(err)), CHURN_OK);
    cfg.probability_jump = 0;
    cr_assert_eq(churn_alert_rules_config_check(&cfg, err, sizeof(err)), CHURN_EINVAL);
    cr_assert(strstr(err, "probability_jump"), "%s", err);
    churn_alert_rules_config_default(&cfg);
    cfg.max_moved = 50;
    cr_assert_eq(churn_alert_rules_config_check(&cfg, err, sizeof(err)), CHURN_EINVAL);
}

Test(alerts, state_and_snapshot_encodings_round_trip_and_refuse_damage)
{
    struct churn_alert_state st = {5, 9, T0, T0 - HOUR, CHURN_TIER_HIGH, T0 + HOUR}, d;
    uint8_t buf[CHURN_ALERT_STATE_ENCODED_SIZE + 8];
    size_t len;
    cr_assert_eq(churn_alert_state_encode(&st, buf, sizeof(buf), &len), CHURN_OK);
    cr_assert_eq(len, CHURN_ALERT_STATE_ENCODED_SIZE);
    cr_assert_eq(churn_alert_state_decode(buf, len, &d), CHURN_OK);
    cr_assert_eq(d.open_id, 5);
    cr_assert_eq(d.last_sequence, 9);
    cr_assert_eq(d.last_alert_ms, T0);
    cr_assert_eq(d.closed_ms, T0 - HOUR);
    cr_assert_eq(d.last_tier, CHURN_TIER_HIGH);
    cr_assert_eq(d.snoozed_until_ms, T0 + HOUR);
    cr_assert_eq(churn_alert_state_decode(buf, len - 1, &d), CHURN_ECORRUPT);
    buf[33] = 7; /* the tier byte */
    cr_assert_eq(churn_alert_state_decode(buf, len, &d), CHURN_ECORRUPT);

    struct churn_score_snapshot s = snap(0.62, CHURN_TIER_HIGH, cur_c, cur_v), r;
    double v_nan[4] = {2, NAN, 5, 40};
    s.values = v_nan;
    uint8_t sb[512];
    s.model_changed_ms = T0;
    s.model_from_probability = 0.2;
    s.model_to_probability = 0.6;
    cr_assert_eq(churn_score_snapshot_encoded_size(&s), 63 + 4 * 16);
    cr_assert_eq(churn_score_snapshot_encode(&s, sb, sizeof(sb), &len), CHURN_OK);
    cr_assert_eq(len, churn_score_snapshot_encoded_size(&s));
    cr_assert_eq(churn_score_snapshot_decode(sb, len, &r), CHURN_OK);
    cr_assert_eq(r.n_features, 4);
    cr_assert_float_eq(r.contributions[0], 0.26, 1e-15);
    cr_assert(isnan(r.values[1]), "missing values survive");
    cr_assert_eq(r.feature_set, 0xfeed);
    cr_assert_eq(r.model_changed_ms, T0, "the model change a later alert tells survives");
    cr_assert_eq(r.model_from_probability, 0.2);
    cr_assert_eq(r.model_to_probability, 0.6);
    churn_score_snapshot_fini(&r);
    churn_score_snapshot_fini(&r);
    for (size_t n = 0; n < len; n++)
        cr_assert_eq(churn_score_snapshot_decode(sb, n, &r), CHURN_ECORRUPT);
    /* a format-1 snapshot (stored before model changes were kept) still decodes */
    uint8_t v1[512];
    v1[0] = 1;
    memcpy(v1 + 1, sb + 1, 34);
    memcpy(v1 + 35, sb + 59, len - 59);
    cr_assert_eq(churn_score_snapshot_decode(v1, len - 24, &r), CHURN_OK);
    cr_assert_eq(r.model_changed_ms, 0);
    cr_assert_eq(r.n_features, 4);
    churn_score_snapshot_fini(&r);
    sb[59] = 0xff; /* feature count: far more than the bytes that follow */
    cr_assert_eq(churn_score_snapshot_decode(sb, len, &r), CHURN_ECORRUPT);
    cr_assert_eq(churn_score_snapshot_encode(&s, sb, 20, &len), CHURN_ETOOBIG);
}

/* ---------------------------------------------------------------- playbooks */

static struct churn_playbooks *
load(const char *text, char *err, size_t errlen, enum churn_err *e)
{
    struct churn_playbooks *set = NULL;
    *e = churn_playbooks_load_text("t.playbooks", text, strlen(text), &set, err, errlen);
    return set;
}

/* ---------------------------------------------------------------- playbook webhook actions */

Test(alerts, an_action_call_is_recorded_once_and_round_trips)
{
    struct churn_alert a = sample_alert();
    char msg[CHURN_ALERT_ERRMSG];
    cr_assert_eq(churn_alert_record_action_call(&a, 200, 1, T0, T0, msg, sizeof(msg)),
                 CHURN_EPRECOND, "no webhook named");
    strcpy(a.action.webhook, "coupons");
    uint8_t buf[CHURN_ALERT_ENCODED_MAX];
    size_t len;
    struct churn_alert d;
    cr_assert_eq(churn_alert_encode(&a, buf, sizeof(buf), &len), CHURN_OK);
    cr_assert_eq(churn_alert_decode(buf, len, &d), CHURN_OK);
    cr_assert_str_eq(d.action.webhook, "coupons");
    cr_assert_eq(d.action_call.http_status, 0, "pending");
    cr_assert_eq(churn_alert_record_action_call(&a, 500, 1, T0, T0, msg, sizeof(msg)),
                 CHURN_EINVAL);
    cr_assert_eq(churn_alert_record_action_call(&a, 204, 0, T0, T0, msg, sizeof(msg)),
                 CHURN_EINVAL);
    uint32_t rev = a.revision;
    cr_assert_eq(churn_alert_record_action_call(&a, 204, 3, T0 + 5, T0 + 6, msg, sizeof(msg)),
                 CHURN_OK, "%s", msg);
    cr_assert_eq(a.change, CHURN_CHANGE_ACTION_CALLED);
    cr_assert_eq(a.revision, rev + 1);
    cr_assert_eq(a.updated_ms, T0 + 6);
    cr_assert_eq(churn_alert_record_action_call(&a, 200, 1, T0, T0 + 7, msg, sizeof(msg)),
                 CHURN_EEXIST);
    cr_assert(strstr(msg, "already recorded"), "%s", msg);
    cr_assert_eq(churn_alert_encode(&a, buf, sizeof(buf), &len), CHURN_OK);
    cr_assert_eq(churn_alert_decode(buf, len, &d), CHURN_OK);
    cr_assert_eq(d.change, CHURN_CHANGE_ACTION_CALLED);
    cr_assert_eq(d.action_call.http_status, 204);
    cr_assert_eq(d.action_call.attempts, 3);
    cr_assert_eq(d.action_call.called_ms, T0 + 5);
    /* a recorded status outside 2xx is damage */
    buf[len - 16] = 0xf4; /* status 500 */
    buf[len - 15] = 0x01;
    cr_assert_eq(churn_alert_decode(buf, len, &d), CHURN_ECORRUPT);
}

Test(alerts, playbooks_name_webhooks_that_must_exist)
{
    char err[CHURN_ALERT_ERRMSG] = "";
    enum churn_err e;
    struct churn_playbooks *set = load("[playbook c]\nmatch = cause:churn_intent\naction = "
                                       "coupon\ncoupon_value = 5\nwebhook = coupons\n",
                                       err, sizeof(err), &e);
    cr_assert_eq(e, CHURN_OK, "%s", err);
    const struct churn_playbook *pb = churn_playbooks_find(set, "c");
    cr_assert_str_eq(pb->webhook, "coupons");
    cr_assert_eq(pb->webhook_line, 5);
    const char *names[] = {"ops", "coupons"};
    cr_assert_eq(churn_playbooks_check_webhooks(set, "t.playbooks", names, 2, err, sizeof(err)),
                 CHURN_OK);
    cr_assert_eq(churn_playbooks_check_webhooks(set, "t.playbooks", names, 1, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert_str_eq(err, "t.playbooks:5: webhook: 'coupons' is not a --webhook destination "
                          "(configured: ops)");
    cr_assert_eq(churn_playbooks_check_webhooks(set, "t.playbooks", NULL, 0, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert(strstr(err, "(none is configured)"), "%s", err);
    /* the alert gets the webhook, a held-out one does not */
    struct churn_playbook_match m = {.matched = pb, .playbook = pb, .holdout = false};
    struct churn_alert a = sample_alert();
    churn_alert_apply_playbook(&a, &m, T0);
    cr_assert_str_eq(a.action.webhook, "coupons");
    m.holdout = true;
    churn_alert_apply_playbook(&a, &m, T0);
    cr_assert_str_eq(a.action.webhook, "");
    churn_playbooks_unref(set);

    set = load("[playbook c]\naction = coupon\ncoupon_value = 5\nwebhook = a/b\n", err, sizeof(err),
               &e);
    cr_assert_eq(e, CHURN_EINVAL);
    cr_assert(strstr(err, "t.playbooks:4: webhook: 'a/b' must be a --webhook name"), "%s", err);
    set = load("[playbook c]\naction = coupon\ncoupon_value = 5\nwebhook = a\nwebhook = b\n", err,
               sizeof(err), &e);
    cr_assert_eq(e, CHURN_EINVAL);
    cr_assert(strstr(err, "webhook: already set on line 4"), "%s", err);
}

Test(alerts, the_registry_refuses_a_reload_naming_an_unknown_webhook)
{
    char path[] = "/tmp/churn-pb-XXXXXX", err[CHURN_ALERT_ERRMSG];
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char *text = "[playbook c]\naction = email_campaign\nwebhook = mail\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct churn_playbook_registry *reg;
    cr_assert_eq(churn_playbook_registry_create(&reg), CHURN_OK);
    cr_assert_eq(churn_playbook_registry_reload_file(reg, path, err, sizeof(err)), CHURN_EINVAL);
    cr_assert_null(churn_playbook_registry_get(reg), "nothing installed");
    const char *names[] = {"mail"};
    cr_assert_eq(churn_playbook_registry_set_webhooks(reg, names, 1), CHURN_OK);
    cr_assert_eq(churn_playbook_registry_reload_file(reg, path, err, sizeof(err)), CHURN_OK, "%s",
                 err);
    struct churn_playbooks *set = churn_playbook_registry_get(reg);
    cr_assert_not_null(set);
    churn_playbooks_unref(set);
    churn_playbook_registry_destroy(reg);
    unlink(path);
}

Test(alerts, default_playbooks_load_and_select_by_segment_and_cause)
{
    struct churn_playbooks *set = NULL;
    char err[CHURN_ALERT_ERRMSG] = "";
    cr_assert_eq(churn_playbooks_load_file(PB_DIR "default.playbooks", &set, err, sizeof(err)),
                 CHURN_OK, "%s", err);
    cr_assert_eq(churn_playbooks_count(set), 9);
    cr_assert_str_eq(churn_playbooks_at(set, 0)->id, "churn-intent-handoff", "priority order");

    struct churn_playbook_match m;
    cr_assert_eq(churn_playbooks_select(set, CHURN_TIER_HIGH, CHURN_TIER_HIGH,
                                        CHURN_CAUSE_TIER_WORSENED, 0, "cust-1", &m),
                 CHURN_OK);
    cr_assert_str_eq(m.playbook->id, "vip-save");
    cr_assert_eq(m.playbook->action, CHURN_ACTION_CONSULTATION);
    cr_assert_eq(churn_playbooks_select(set, CHURN_TIER_LOW, CHURN_TIER_LOW,
                                        CHURN_CAUSE_CHAT_ESCALATION, 0, "cust-1", &m),
                 CHURN_OK);
    cr_assert_eq(m.playbook->action, CHURN_ACTION_HUMAN_HANDOFF);
    cr_assert_eq(churn_playbooks_select(set, CHURN_TIER_HIGH, CHURN_TIER_MEDIUM,
                                        CHURN_CAUSE_PROBABILITY_JUMP, 0, "cust-1", &m),
                 CHURN_OK);
    cr_assert_eq(m.playbook->action, CHURN_ACTION_COUPON);
    cr_assert_float_eq(m.playbook->coupon_value, 15, 1e-9);
    cr_assert_eq(churn_playbooks_select(set, CHURN_TIER_MEDIUM, CHURN_TIER_LOW,
                                        CHURN_CAUSE_TIER_WORSENED, 0, "cust-1", &m),
                 CHURN_OK);
    cr_assert_str_eq(m.playbook->id, "rising-risk-email");

    /* no consultation slots: vip-save hands over to its fallback */
    cr_assert_eq(churn_playbooks_select(set, CHURN_TIER_HIGH, CHURN_TIER_HIGH,
                                        CHURN_CAUSE_TIER_WORSENED, 1u << CHURN_ACTION_CONSULTATION,
                                        "cust-1", &m),
                 CHURN_OK);
    cr_assert_str_eq(m.matched->id, "vip-save");
    cr_assert_str_eq(m.playbook->id, "vip-email");
    /* and with e-mail unavailable too, nothing is suggested */
    cr_assert_eq(churn_playbooks_select(
                     set, CHURN_TIER_HIGH, CHURN_TIER_HIGH, CHURN_CAUSE_TIER_WORSENED,
                     (1u << CHURN_ACTION_CONSULTATION) | (1u << CHURN_ACTION_EMAIL_CAMPAIGN),
                     "cust-1", &m),
                 CHURN_ENOTFOUND);
    cr_assert_eq(churn_playbooks_select(set, CHURN_TIER_UNSPECIFIED, CHURN_TIER_HIGH,
                                        CHURN_CAUSE_TIER_WORSENED, 0, "cust-1", &m),
                 CHURN_EINVAL);
    churn_playbooks_unref(set);
}

Test(alerts, applying_a_playbook_sets_owner_due_date_and_action)
{
    struct churn_playbooks *set = NULL;
    char err[CHURN_ALERT_ERRMSG];
    cr_assert_eq(churn_playbooks_load_file(PB_DIR "default.playbooks", &set, err, sizeof(err)),
                 CHURN_OK, "%s", err);
    struct churn_alert a = sample_alert();
    struct churn_playbook_match m;
    /* find one treated and one held-out customer for vip-save (10% holdout) */
    char treated[32] = "", control[32] = "";
    for (int i = 0; i < 1000 && (!treated[0] || !control[0]); i++) {
        char id[32];
        snprintf(id, sizeof(id), "cust-%d", i);
        cr_assert_eq(churn_playbooks_select(set, CHURN_TIER_HIGH, CHURN_TIER_HIGH,
                                            CHURN_CAUSE_TIER_WORSENED, 0, id, &m),
                     CHURN_OK);
        cr_assert_eq(m.holdout, churn_holdout_assign(id, "vip-save", 0.1));
        strcpy(m.holdout ? control : treated, id);
    }
    cr_assert(treated[0] && control[0]);
    churn_playbooks_select(set, CHURN_TIER_HIGH, CHURN_TIER_HIGH, CHURN_CAUSE_TIER_WORSENED, 0,
                           treated, &m);
    churn_alert_apply_playbook(&a, &m, T0);
    cr_assert_str_eq(a.playbook_id, "vip-save");
    cr_assert_eq(a.action.kind, CHURN_ACTION_CONSULTATION);
    cr_assert_str_eq(a.owner, "success-team");
    cr_assert_eq(a.due_at_ms, T0 + 24 * HOUR);
    cr_assert_not(a.holdout);

    churn_playbooks_select(set, CHURN_TIER_HIGH, CHURN_TIER_HIGH, CHURN_CAUSE_TIER_WORSENED, 0,
                           control, &m);
    churn_alert_apply_playbook(&a, &m, T0);
    cr_assert_str_eq(a.playbook_id, "vip-save", "the control alert is recorded");
    cr_assert(a.holdout);
    cr_assert_eq(a.action.kind, CHURN_ACTION_NONE, "no action for the control group");
    cr_assert_str_eq(a.owner, "");
    cr_assert_eq(a.due_at_ms, 0);
    churn_playbooks_unref(set);
}

static void
expect_bad_file(const char *file, enum churn_err want, const char *where, const char *what)
{
    struct churn_playbooks *set = (struct churn_playbooks *)0x1;
    char path[512], err[CHURN_ALERT_ERRMSG] = "";
    snprintf(path, sizeof(path), PB_DIR "%s", file);
    cr_assert_eq(churn_playbooks_load_file(path, &set, err, sizeof(err)), want, "%s: %s", file,
                 err);
    cr_assert_eq(set, (struct churn_playbooks *)0x1, "out untouched");
    cr_assert(strstr(err, where), "%s: '%s' lacks '%s'", file, err, where);
    cr_assert(strstr(err, what), "%s: '%s' lacks '%s'", file, err, what);
}

Test(alerts, bad_playbook_files_are_refused_with_file_and_line)
{
    expect_bad_file("bad_unknown_action.playbooks", CHURN_EINVAL,
                    ".playbooks:3: ", "unknown action 'teleport'");
    expect_bad_file("bad_duplicate_rule.playbooks", CHURN_EINVAL,
                    ".playbooks:7: ", "duplicate rule");
    expect_bad_file("bad_fallback_cycle.playbooks", CHURN_EINVAL, ".playbooks:4: ", "cycle");
    expect_bad_file("bad_type.playbooks", CHURN_EINVAL, ".playbooks:4: ", "'lots'");
    expect_bad_file("bad_range.playbooks", CHURN_EINVAL, ".playbooks:4: ", "holdout");
    expect_bad_file("bad_duplicate_id.playbooks", CHURN_EINVAL,
                    ".playbooks:5: ", "duplicate playbook id 'a' (first on line 1)");
    expect_bad_file("bad_unknown_fallback.playbooks", CHURN_EINVAL,
                    ".playbooks:4: ", "no playbook called 'nowhere'");
    expect_bad_file("bad_unknown_key.playbooks", CHURN_EINVAL,
                    ".playbooks:4: ", "unknown key 'colour'");
    expect_bad_file("no-such-file.playbooks", CHURN_ENOTFOUND, "no-such-file", "cannot open");
}

Test(alerts, playbook_text_errors_name_the_line)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"action = coupon\n", "t.playbooks:1: 'action' outside"},
        {"[playbook a]\nmatch = any\n", "t.playbooks:1: playbook a: no action"},
        {"[playbook a]\nmatch = any\naction = coupon\n", "a coupon needs coupon_value"},
        {"[playbook a]\nmatch = any\naction = consultation\ncoupon_value = 3\n",
         "t.playbooks:4: coupon_value: only for action = coupon"},
        {"[playbook a]\nmatch = risk:extreme\naction = consultation\n",
         "t.playbooks:2: match: unknown risk 'extreme'"},
        {"[playbook a]\nmatch = risk:high risk:low\naction = consultation\n",
         "match: risk given twice"},
        {"[playbook a]\nmatch = colour:red\naction = consultation\n", "unknown dimension"},
        {"[playbook a]\nmatch = any\naction = consultation\naction = coupon\n",
         "t.playbooks:4: action: already set on line 3"},
        {"[playbook a]\nmatch = any\naction = consultation\ndue_in_hours = 2.5\n",
         "due_in_hours: '2.5'"},
        {"[playbook a]\nmatch = any\naction = consultation\ndue_in_hours = 9000\n", "due_in_hours"},
        {"[playbook a]\nmatch = any\naction = consultation\nfallback = a\n",
         "falls back to itself"},
        {"[section a]\n", "t.playbooks:1: unknown section"},
        {"[playbook a b]\n", "playbook id 'a b'"},
        {"[playbook a\n", "closing ']'"},
        {"[playbook a]\nmatch any\n", "t.playbooks:2: expected 'key = value'"},
        {"[playbook a]\nmatch =\n", "match: empty value"},
        {"# only comments\n\n", "no playbooks defined"},
        {"[playbook a]\nmatch = any\naction = consultation\nholdout = -0.1\n", "holdout"},
        {"[playbook a]\nmatch = any\naction = consultation\npriority = 0\n", "priority"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[CHURN_ALERT_ERRMSG] = "";
        enum churn_err e;
        struct churn_playbooks *set = load(cases[i].text, err, sizeof(err), &e);
        cr_assert_neq(e, CHURN_OK, "case %zu accepted", i);
        cr_assert_null(set);
        cr_assert(strstr(err, cases[i].msg), "case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
    }
}

Test(alerts, playbook_caps_on_lines_count_and_nul_bytes)
{
    char err[CHURN_ALERT_ERRMSG];
    struct churn_playbooks *set = NULL;
    static char text[CHURN_PLAYBOOK_MAX_LINE + 64];
    memset(text, 0, sizeof(text));
    strcpy(text, "[playbook a]\ndetail = ");
    memset(text + strlen(text), 'x', CHURN_PLAYBOOK_MAX_LINE);
    cr_assert_eq(churn_playbooks_load_text("t", text, strlen(text), &set, err, sizeof(err)),
                 CHURN_ETOOBIG);
    cr_assert(strstr(err, "t:2: line longer than"), "%s", err);

    const char nul[] = "[playbook a]\nmatch = a\0ny\naction = coupon\n";
    cr_assert_eq(churn_playbooks_load_text("t", nul, sizeof(nul) - 1, &set, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert(strstr(err, "t:2: NUL byte"), "%s", err);

    /* CHURN_PLAYBOOK_MAX_COUNT + 1 playbooks */
    size_t cap = 64 * (CHURN_PLAYBOOK_MAX_COUNT + 2);
    char *many = churn_malloc(cap);
    size_t n = 0;
    for (unsigned i = 0; i <= CHURN_PLAYBOOK_MAX_COUNT; i++)
        n += (size_t)snprintf(many + n, cap - n, "[playbook p%u]\naction = feedback_call\n", i);
    cr_assert_eq(churn_playbooks_load_text("t", many, n, &set, err, sizeof(err)), CHURN_ETOOBIG);
    cr_assert(strstr(err, "more than 256 playbooks"), "%s", err);
    churn_free(many);
    cr_assert_null(set);
}

Test(alerts, playbook_load_survives_every_allocation_failure)
{
    const char *text = "[playbook a]\nmatch = any\naction = consultation\n";
    for (long n = 0; n < 10; n++) {
        struct churn_playbooks *set = NULL;
        churn_alloc_fail_after(n);
        enum churn_err e = churn_playbooks_load_text("t", text, strlen(text), &set, NULL, 0);
        long failures = churn_alloc_failures();
        churn_alloc_fail_off();
        if (failures == 0) {
            cr_assert_eq(e, CHURN_OK);
            churn_playbooks_unref(set);
            return;
        }
        cr_assert_eq(e, CHURN_ENOMEM);
        cr_assert_null(set);
    }
    cr_assert_fail("never completed");
}

Test(alerts, constructors_unwind_on_every_allocation_failure)
{
    /* fail the 0th, 1st, ... allocation of each constructor until it completes */
    for (long n = 0;; n++) {
        struct churn_alert_hub_config cfg;
        churn_alert_hub_config_default(&cfg);
        struct churn_alert_hub *hub = NULL;
        churn_alloc_fail_after(n);
        enum churn_err e = churn_alert_hub_create(&cfg, 0, &hub);
        struct churn_alert_sub *sub = NULL;
        if (e == CHURN_OK)
            e = churn_alert_hub_subscribe(hub, 0, NULL, NULL, NULL, &sub, NULL, 0);
        bool failed = churn_alloc_failures() > 0;
        churn_alloc_fail_off();
        if (!failed) {
            cr_assert_eq(e, CHURN_OK);
            churn_alert_hub_destroy(hub);
            break;
        }
        cr_assert_eq(e, CHURN_ENOMEM);
        cr_assert_null(sub);
        churn_alert_hub_destroy(hub);
        cr_assert_lt(n, 10);
    }
    double values[] = {3, 1, 2};
    for (long n = 0;; n++) {
        struct churn_segment_config cfg;
        churn_segment_config_default(&cfg);
        struct churn_segments seg = {.risk_high_cut = 7};
        churn_alloc_fail_after(n);
        enum churn_err e = churn_segments_compute(&cfg, NULL, 0, values, 3, &seg, NULL, 0);
        bool failed = churn_alloc_failures() > 0;
        churn_alloc_fail_off();
        if (!failed) {
            cr_assert_eq(e, CHURN_OK);
            break;
        }
        cr_assert_eq(e, CHURN_ENOMEM);
        cr_assert_eq(seg.risk_high_cut, 7);
    }
    double c[2] = {0.1, 0.2}, v[2] = {1, 2};
    struct churn_score_snapshot s = {.scored_at_ms = T0,
                                     .probability = 0.4,
                                     .risk_tier = CHURN_TIER_MEDIUM,
                                     .value_tier = CHURN_TIER_LOW,
                                     .value = 1,
                                     .feature_set = 1,
                                     .n_features = 2,
                                     .contributions = c,
                                     .values = v};
    uint8_t buf[128];
    size_t len;
    cr_assert_eq(churn_score_snapshot_encode(&s, buf, sizeof(buf), &len), CHURN_OK);
    for (long n = 0;; n++) {
        struct churn_score_snapshot d = {0};
        churn_alloc_fail_after(n);
        enum churn_err e = churn_score_snapshot_decode(buf, len, &d);
        bool failed = churn_alloc_failures() > 0;
        churn_alloc_fail_off();
        if (!failed) {
            cr_assert_eq(e, CHURN_OK);
            churn_score_snapshot_fini(&d);
            break;
        }
        cr_assert_eq(e, CHURN_ENOMEM);
        cr_assert_null(d.contributions);
    }
}

struct swap_reader {
    struct churn_playbook_registry *reg;
    int selections;
    bool bad;
};

static void *
swap_reader_main(void *arg)
{
    struct swap_reader *r = arg;
    for (int i = 0; i < 20000; i++) {
        struct churn_playbooks *set = churn_playbook_registry_get(r->reg);
        struct churn_playbook_match m;
        if (churn_playbooks_select(set, CHURN_TIER_HIGH, CHURN_TIER_HIGH, CHURN_CAUSE_TIER_WORSENED,
                                   0, "c", &m) != CHURN_OK ||
            (strcmp(m.playbook->id, "vip-save") != 0 && strcmp(m.playbook->id, "only") != 0))
            r->bad = true;
        r->selections++;
        churn_playbooks_unref(set);
    }
    return NULL;
}

Test(alerts, playbook_swaps_are_safe_while_readers_select)
{
    struct churn_playbook_registry *reg;
    char err[CHURN_ALERT_ERRMSG];
    cr_assert_eq(churn_playbook_registry_create(&reg), CHURN_OK);
    cr_assert_eq(
        churn_playbook_registry_reload_file(reg, PB_DIR "default.playbooks", err, sizeof(err)),
        CHURN_OK);
    struct churn_playbooks *only;
    const char *text = "[playbook only]\nmatch = any\naction = feedback_call\n";
    cr_assert_eq(churn_playbooks_load_text("t", text, strlen(text), &only, err, sizeof(err)),
                 CHURN_OK);
    struct swap_reader r[2] = {{.reg = reg}, {.reg = reg}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, swap_reader_main, &r[i]), 0);
    for (int i = 0; i < 200; i++) {
        if (i % 2)
            churn_playbook_registry_install(reg, only);
        else
            cr_assert_eq(churn_playbook_registry_reload_file(reg, PB_DIR "default.playbooks", err,
                                                             sizeof(err)),
                         CHURN_OK);
        /* a failing reload in between changes nothing */
        cr_assert_neq(
            churn_playbook_registry_reload_file(reg, PB_DIR "bad_type.playbooks", err, sizeof(err)),
            CHURN_OK);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        cr_assert_not(r[i].bad);
        cr_assert_eq(r[i].selections, 20000);
    }
    churn_playbooks_unref(only);
    churn_playbook_registry_destroy(reg);
}

Test(alerts, a_failed_reload_keeps_the_old_playbooks)
{
    struct churn_playbook_registry *reg;
    cr_assert_eq(churn_playbook_registry_create(&reg), CHURN_OK);
    cr_assert_null(churn_playbook_registry_get(reg));
    char err[CHURN_ALERT_ERRMSG] = "";
    cr_assert_eq(
        churn_playbook_registry_reload_file(reg, PB_DIR "default.playbooks", err, sizeof(err)),
        CHURN_OK, "%s", err);
    struct churn_playbooks *held = churn_playbook_registry_get(reg);
    cr_assert_eq(churn_playbooks_count(held), 9);
    cr_assert_eq(churn_playbook_registry_reload_file(reg, PB_DIR "bad_fallback_cycle.playbooks",
                                                     err, sizeof(err)),
                 CHURN_EINVAL);
    struct churn_playbooks *now = churn_playbook_registry_get(reg);
    cr_assert_eq(now, held, "the old set is still in force");
    churn_playbooks_unref(now);

    /* a good reload swaps; a reader holding the old set keeps using it safely */
    enum churn_err e;
    struct churn_playbooks *next =
        load("[playbook only]\nmatch = any\naction = feedback_call\n", err, sizeof(err), &e);
    cr_assert_eq(e, CHURN_OK, "%s", err);
    churn_playbook_registry_install(reg, next);
    churn_playbooks_unref(next);
    now = churn_playbook_registry_get(reg);
    cr_assert_eq(churn_playbooks_count(now), 1);
    cr_assert_str_eq(churn_playbooks_find(held, "vip-save")->owner, "success-team");
    churn_playbooks_unref(held);
    churn_playbooks_unref(now);
    churn_playbook_registry_destroy(reg);
}

/* ---------------------------------------------------------------- holdouts and outcomes */

Test(alerts, holdout_share_is_close_to_the_configured_one)
{
    int held = 0, held_other = 0, both = 0;
    for (int i = 0; i < 100000; i++) {
        char id[32];
        snprintf(id, sizeof(id), "customer-%d", i);
        bool a = churn_holdout_assign(id, "vip-save", 0.1);
        bool b = churn_holdout_assign(id, "rising-risk-email", 0.1);
        held += a;
        held_other += b;
        both += a && b;
    }
    /* binomial(100000, 0.1): sd ~ 95; 5 sd */
    cr_assert(held > 10000 - 475 && held < 10000 + 475, "held %d", held);
    cr_assert(held_other > 10000 - 475 && held_other < 10000 + 475, "held %d", held_other);
    /* independent across playbooks: ~1% in both */
    cr_assert(both > 1000 - 160 && both < 1000 + 160, "both %d", both);
    cr_assert_not(churn_holdout_assign("customer-1", "vip-save", 0));
}

Test(alerts, holdout_assignment_depends_only_on_customer_and_playbook)
{
    /* pinned values: a change of hash would silently reshuffle every running experiment */
    uint64_t h = churn_holdout_hash("customer-1", "vip-save");
    cr_assert_eq(h, churn_holdout_hash("customer-1", "vip-save"));
    cr_assert_neq(h, churn_holdout_hash("customer-1", "vip-savf"));
    cr_assert_neq(churn_holdout_hash("ab", "c"), churn_holdout_hash("a", "bc"),
                  "the separator keeps the two ids apart");
    char copy[32];
    strcpy(copy, "customer-1"); /* a different buffer, same bytes */
    cr_assert_eq(churn_holdout_hash(copy, "vip-save"), h);
    /* FNV-1a 64 of "" + 0x00 + "" is 0xaf63bd4c8601b7df, then splitmix64's finaliser */
    uint64_t x = 0xaf63bd4c8601b7dfULL;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    cr_assert_eq(churn_holdout_hash("", ""), x);
}

Test(alerts, wilson_interval_matches_hand_computed_values)
{
    double lo, hi;
    /* Newcombe (1998), example: 81/263 -> 0.2553 to 0.3662 */
    cr_assert_eq(churn_wilson_interval(81, 263, &lo, &hi), CHURN_OK);
    cr_assert_float_eq(lo, 0.2553, 5e-5);
    cr_assert_float_eq(hi, 0.3662, 5e-5);
    /* 0/10 -> 0 to 0.2775 */
    cr_assert_eq(churn_wilson_interval(0, 10, &lo, &hi), CHURN_OK);
    cr_assert_float_eq(lo, 0.0, 1e-12);
    cr_assert_float_eq(hi, 0.2775, 5e-5);
    cr_assert_eq(churn_wilson_interval(1, 0, &lo, &hi), CHURN_EINVAL);
    cr_assert_eq(churn_wilson_interval(11, 10, &lo, &hi), CHURN_EINVAL);
}

static void
add_records(struct churn_outcome_record *r, size_t *n, const char *pb, bool holdout, int retained,
            int churned, int unknown, double value)
{
    for (int i = 0; i < retained + churned + unknown; i++) {
        struct churn_outcome_record *x = &r[(*n)++];
        memset(x, 0, sizeof(*x));
        snprintf(x->customer_id, sizeof(x->customer_id), "c%zu", *n);
        strcpy(x->playbook_id, pb);
        x->holdout = holdout;
        x->outcome = i < retained             ? CHURN_OUTCOME_RETAINED
                     : i < retained + churned ? CHURN_OUTCOME_CHURNED
                                              : CHURN_OUTCOME_UNKNOWN;
        x->value = value;
    }
}

Test(alerts, outcomes_difference_with_newcombe_interval_and_revenue)
{
    static struct churn_outcome_record r[400];
    size_t n = 0;
    /* Newcombe (1998) example: 56/70 vs 48/80 -> diff 0.2000, 95% CI 0.0524 to 0.3339 */
    add_records(r, &n, "vip-save", false, 56, 14, 5, 100.0);
    add_records(r, &n, "vip-save", true, 48, 32, 3, 100.0);
    add_records(r, &n, "email", false, 10, 0, 0, 20.0);
    add_records(r, &n, "", false, 3, 3, 0, 20.0); /* no playbook: skipped */
    struct churn_outcome_stats s[4];
    size_t m = 0;
    cr_assert_eq(churn_outcomes_compute(r, n, s, 4, &m), CHURN_OK);
    cr_assert_eq(m, 2);
    cr_assert_str_eq(s[0].playbook_id, "vip-save");
    cr_assert_eq(s[0].treated, 70);
    cr_assert_eq(s[0].treated_unknown, 5, "unknown outcomes are excluded");
    cr_assert_eq(s[0].control, 80);
    cr_assert_float_eq(s[0].treated_rate, 0.8, 1e-12);
    cr_assert_float_eq(s[0].control_rate, 0.6, 1e-12);
    cr_assert_float_eq(s[0].diff, 0.2, 1e-12);
    cr_assert_float_eq(s[0].diff_low, 0.0524, 5e-5);
    cr_assert_float_eq(s[0].diff_high, 0.3339, 5e-5);
    /* 0.2 x 70 treated = 14 extra customers kept, x 100 each */
    cr_assert_float_eq(s[0].revenue_retained, 1400.0, 1e-9);
    cr_assert_str_eq(s[1].playbook_id, "email");
    cr_assert(isnan(s[1].diff), "no control group, no difference");
    cr_assert_eq(s[1].revenue_retained, 0);

    struct churn_outcome_stats keep = s[0];
    cr_assert_eq(churn_outcomes_compute(r, n, s, 1, &m), CHURN_ETOOBIG);
    cr_assert_eq(memcmp(&keep, &s[0], sizeof(keep)), 0, "out untouched on error");
    r[0].value = NAN;
    cr_assert_eq(churn_outcomes_compute(r, n, s, 4, &m), CHURN_EINVAL);
    r[0].value = 1;
    r[1].outcome = (enum churn_outcome)7;
    cr_assert_eq(churn_outcomes_compute(r, n, s, 4, &m), CHURN_EINVAL);
}

Test(alerts, outcome_record_encoding_round_trips_and_refuses_damage)
{
    struct churn_outcome_record o = {.customer_id = "cust-1",
                                     .playbook_id = "vip-save",
                                     .holdout = true,
                                     .outcome = CHURN_OUTCOME_RETAINED,
                                     .value = 99.5,
                                     .recorded_ms = T0},
                                d;
    uint8_t buf[256];
    size_t len;
    cr_assert_eq(churn_outcome_encode(&o, buf, sizeof(buf), &len), CHURN_OK);
    cr_assert_eq(churn_outcome_decode(buf, len, &d), CHURN_OK);
    cr_assert_str_eq(d.playbook_id, "vip-save");
    cr_assert(d.holdout);
    cr_assert_eq(d.outcome, CHURN_OUTCOME_RETAINED);
    cr_assert_float_eq(d.value, 99.5, 1e-12);
    for (size_t n = 0; n < len; n++)
        cr_assert_eq(churn_outcome_decode(buf, n, &d), CHURN_ECORRUPT);
    buf[len - 17] = 3; /* the outcome byte */
    cr_assert_eq(churn_outcome_decode(buf, len, &d), CHURN_ECORRUPT);
}

/* ---------------------------------------------------------------- hub */

static struct churn_alert
hub_alert(uint64_t seq, enum churn_alert_cause cause, enum churn_tier risk)
{
    struct churn_alert a;
    char id[32];
    snprintf(id, sizeof(id), "c%llu", (unsigned long long)seq);
    cr_assert_eq(churn_alert_init(&a, id, cause, T0), CHURN_OK);
    cr_assert_eq(churn_alert_set_score(&a, 0.5, risk, 0.5, risk, CHURN_TIER_MEDIUM, 10), CHURN_OK);
    a.id = a.sequence = seq;
    return a;
}

struct counter {
    int ready, lagged;
};

static void
count_events(void *ctx, struct churn_alert_sub *sub, enum churn_alert_hub_event ev)
{
    (void)sub;
    struct counter *c = ctx;
    if (ev == CHURN_ALERT_HUB_READY)
        c->ready++;
    else
        c->lagged++;
}

Test(alerts, hub_delivers_filtered_alerts_in_order_and_catches_up_from_the_ring)
{
    struct churn_alert_hub_config cfg;
    churn_alert_hub_config_default(&cfg);
    cfg.ring_capacity = 16;
    cfg.catch_up_max = 15;
    struct churn_alert_hub *hub;
    cr_assert_eq(churn_alert_hub_create(&cfg, 100, &hub), CHURN_OK);
    cr_assert_eq(churn_alert_hub_oldest(hub), 100);
    for (uint64_t s = 101; s <= 110; s++) {
        struct churn_alert a =
            hub_alert(s, s % 2 ? CHURN_CAUSE_CHURN_INTENT : CHURN_CAUSE_TIER_WORSENED,
                      s % 3 ? CHURN_TIER_HIGH : CHURN_TIER_LOW);
        cr_assert_eq(churn_alert_hub_publish(hub, &a), CHURN_OK);
    }
    struct churn_alert a = hub_alert(110, CHURN_CAUSE_CHURN_INTENT, CHURN_TIER_HIGH);
    cr_assert_eq(churn_alert_hub_publish(hub, &a), CHURN_EINVAL, "sequence must increase");
    cr_assert_eq(churn_alert_hub_head(hub), 110);

    /* catch up after 104: churn_intent (odd), risk >= medium (not a multiple of 3): 107, 109 */
    struct churn_alert_filter f = {.causes = 1u << CHURN_CAUSE_CHURN_INTENT,
                                   .min_risk = CHURN_TIER_MEDIUM};
    struct counter cnt = {0};
    struct churn_alert_sub *sub;
    char err[CHURN_ALERT_ERRMSG];
    cr_assert_eq(
        churn_alert_hub_subscribe(hub, 104, &f, count_events, &cnt, &sub, err, sizeof(err)),
        CHURN_OK, "%s", err);
    cr_assert_eq(churn_alert_hub_pending(sub), 2);
    struct churn_alert got;
    cr_assert_eq(churn_alert_hub_next(sub, &got), CHURN_OK);
    cr_assert_eq(got.sequence, 107);
    cr_assert_eq(churn_alert_hub_next(sub, &got), CHURN_OK);
    cr_assert_eq(got.sequence, 109);
    cr_assert_eq(churn_alert_hub_next(sub, &got), CHURN_EAGAIN);
    cr_assert_eq(cnt.ready, 0);

    /* live: one READY per empty->pending edge, not one per alert */
    a = hub_alert(111, CHURN_CAUSE_CHURN_INTENT, CHURN_TIER_HIGH);
    cr_assert_eq(churn_alert_hub_publish(hub, &a), CHURN_OK);
    a = hub_alert(113, CHURN_CAUSE_CHURN_INTENT, CHURN_TIER_HIGH); /* a gap is fine */
    cr_assert_eq(churn_alert_hub_publish(hub, &a), CHURN_OK);
    cr_assert_eq(cnt.ready, 1);
    cr_assert_eq(churn_alert_hub_next(sub, &got), CHURN_OK);
    cr_assert_eq(got.sequence, 111);
    cr_assert_eq(churn_alert_hub_next(sub, &got), CHURN_OK);
    cr_assert_eq(got.sequence, 113);
    cr_assert_eq(churn_alert_hub_last_sequence(sub), 113);
    cr_assert_eq(churn_alert_hub_next(sub, &got), CHURN_EAGAIN);

    /* bad subscriptions */
    struct churn_alert_sub *bad = NULL;
    cr_assert_eq(churn_alert_hub_subscribe(hub, 999, NULL, NULL, NULL, &bad, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert(strstr(err, "beyond the head"), "%s", err);
    struct churn_alert_filter badf = {.causes = 1u << 20};
    cr_assert_eq(churn_alert_hub_subscribe(hub, 110, &badf, NULL, NULL, &bad, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert(strstr(err, "filter.causes"), "%s", err);
    badf = (struct churn_alert_filter){.min_risk = (enum churn_tier)9};
    cr_assert_eq(churn_alert_hub_subscribe(hub, 110, &badf, NULL, NULL, &bad, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert_null(bad);
    cr_assert_eq(churn_alert_hub_subscriber_count(hub), 1);
    churn_alert_hub_unsubscribe(sub);
    cr_assert_eq(churn_alert_hub_subscriber_count(hub), 0);
    churn_alert_hub_destroy(hub);
}

Test(alerts, filter_text_parses_and_bad_filters_are_refused)
{
    struct churn_alert_filter f;
    char err[CHURN_ALERT_ERRMSG] = "";
    cr_assert_eq(churn_alert_filter_parse("cause:churn_intent,chat_escalation risk:medium "
                                          "segment:high-risk/high-value status:open",
                                          &f, err, sizeof(err)),
                 CHURN_OK, "%s", err);
    cr_assert_eq(f.causes, (1u << CHURN_CAUSE_CHURN_INTENT) | (1u << CHURN_CAUSE_CHAT_ESCALATION));
    cr_assert_eq(f.min_risk, CHURN_TIER_MEDIUM);
    cr_assert_eq(f.segments, 1u << 8);
    cr_assert_eq(f.statuses, 1u << CHURN_STATUS_OPEN);
    cr_assert_eq(churn_alert_filter_check(&f, NULL, 0), CHURN_OK);
    struct churn_alert a = hub_alert(1, CHURN_CAUSE_CHURN_INTENT, CHURN_TIER_HIGH);
    cr_assert_not(churn_alert_filter_match(&f, &a), "value tier is medium, segment high/high");
    a.value_tier = CHURN_TIER_HIGH;
    cr_assert(churn_alert_filter_match(&f, &a));
    a.status = CHURN_STATUS_CLOSED;
    cr_assert_not(churn_alert_filter_match(&f, &a));
    cr_assert_eq(churn_alert_filter_parse("", &f, err, sizeof(err)), CHURN_OK);
    cr_assert_eq(f.causes | f.segments | f.statuses | f.value_tiers | (unsigned)f.min_risk, 0);

    static const char *const bad[] = {
        "cause:meteor",
        "risk:high,low",
        "colour:red",
        "cause",
        "status:open status:closed",
        "segment:high/high",
        "segment:huge-risk/high-value",
        "value:",
        "cause:churn_intent,",
    };
    f.causes = 77;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        cr_assert_eq(churn_alert_filter_parse(bad[i], &f, err, sizeof(err)), CHURN_EINVAL, "%s",
                     bad[i]);
        cr_assert(strncmp(err, "filter: ", 8) == 0, "%s: '%s'", bad[i], err);
    }
    cr_assert_eq(f.causes, 77, "untouched on error");
}

Test(alerts, hub_ring_overflow_sends_old_subscriptions_to_the_store)
{
    struct churn_alert_hub_config cfg = {
        .ring_capacity = 16, .max_subscribers = 4, .catch_up_max = 8};
    struct churn_alert_hub *hub;
    cr_assert_eq(churn_alert_hub_create(&cfg, 0, &hub), CHURN_OK);
    struct counter slow_cnt = {0}, picky_cnt = {0};
    struct churn_alert_sub *slow, *picky, *late;
    struct churn_alert_filter only_intent = {.causes = 1u << CHURN_CAUSE_CHURN_INTENT};
    cr_assert_eq(churn_alert_hub_subscribe(hub, 0, NULL, count_events, &slow_cnt, &slow, NULL, 0),
                 CHURN_OK);
    cr_assert_eq(
        churn_alert_hub_subscribe(hub, 0, &only_intent, count_events, &picky_cnt, &picky, NULL, 0),
        CHURN_OK);
    for (uint64_t s = 1; s <= 40; s++) {
        struct churn_alert a = hub_alert(
            s, s == 38 ? CHURN_CAUSE_CHURN_INTENT : CHURN_CAUSE_PROBABILITY_JUMP, CHURN_TIER_HIGH);
        cr_assert_eq(churn_alert_hub_publish(hub, &a), CHURN_OK);
    }
    /* the unfiltered reader never read: cut off once, when the ring wrapped over the first
     * alert it had not read (publishing the 17th) */
    cr_assert_eq(slow_cnt.lagged, 1);
    uint64_t resume = 77;
    cr_assert(churn_alert_hub_lagged(slow, &resume));
    cr_assert_eq(resume, 0, "resume after the last sequence it was given");
    struct churn_alert got;
    cr_assert_eq(churn_alert_hub_next(slow, &got), CHURN_ETOOBIG);
    cr_assert_eq(churn_alert_hub_next(slow, &got), CHURN_ETOOBIG, "and stays cut off");
    /* the filtered one lost nothing it wanted, though the ring wrapped past its cursor */
    cr_assert_eq(picky_cnt.lagged, 0);
    cr_assert_eq(churn_alert_hub_next(picky, &got), CHURN_OK);
    cr_assert_eq(got.sequence, 38);
    cr_assert_eq(churn_alert_hub_next(picky, &got), CHURN_EAGAIN);
    /* the ring holds 25..40, a subscription starts at most 8 behind: after 32 is live, after
     * 31 (in the ring, but with less headroom than the catch-up window leaves) needs the store */
    cr_assert_eq(churn_alert_hub_oldest(hub), 32);
    char err[CHURN_ALERT_ERRMSG];
    cr_assert_eq(churn_alert_hub_subscribe(hub, 31, NULL, NULL, NULL, &late, err, sizeof(err)),
                 CHURN_ERANGE);
    cr_assert(strstr(err, "after_sequence: 31 is older than the catch-up window (from 32)"), "%s",
              err);
    cr_assert_eq(churn_alert_hub_subscribe(hub, 23, NULL, NULL, NULL, &late, NULL, 0),
                 CHURN_ERANGE);
    cr_assert_eq(churn_alert_hub_subscribe(hub, 34, NULL, NULL, NULL, &late, NULL, 0), CHURN_OK);
    cr_assert_eq(churn_alert_hub_pending(late), 6);
    cr_assert_eq(churn_alert_hub_next(late, &got), CHURN_OK);
    cr_assert_eq(got.sequence, 35);
    struct churn_alert_sub *fourth, *fifth;
    cr_assert_eq(churn_alert_hub_subscribe(hub, 40, NULL, NULL, NULL, &fourth, NULL, 0), CHURN_OK);
    cr_assert_eq(churn_alert_hub_subscribe(hub, 40, NULL, NULL, NULL, &fifth, NULL, 0),
                 CHURN_ETOOBIG, "max_subscribers");
    churn_alert_hub_unsubscribe(slow);
    churn_alert_hub_unsubscribe(picky);
    churn_alert_hub_destroy(hub); /* frees late and fourth */
}

/* issue 13: a subscription 1,025..2,048 behind the head was cut at once (more pending than
 * the old per-subscriber cap), so no watcher could ever resume from there */
Test(alerts, hub_subscribers_start_within_the_catch_up_window_and_are_cut_only_when_slow)
{
    struct churn_alert_hub_config cfg;
    churn_alert_hub_config_default(&cfg);
    cr_assert_eq(cfg.ring_capacity, 2048);
    cr_assert_eq(cfg.catch_up_max, 1024);
    struct churn_alert_hub *hub;
    cr_assert_eq(churn_alert_hub_create(&cfg, 0, &hub), CHURN_OK);
    for (uint64_t s = 1; s <= 10000; s++) {
        struct churn_alert a = hub_alert(s, CHURN_CAUSE_TIER_WORSENED, CHURN_TIER_HIGH);
        cr_assert_eq(churn_alert_hub_publish(hub, &a), CHURN_OK);
    }
    cr_assert_eq(churn_alert_hub_oldest(hub), 10000 - 1024);
    struct churn_alert_sub *sub = NULL;
    for (uint64_t behind = 1025; behind <= 2048; behind += 1023)
        cr_assert_eq(
            churn_alert_hub_subscribe(hub, 10000 - behind, NULL, NULL, NULL, &sub, NULL, 0),
            CHURN_ERANGE, "%llu behind: the store first", (unsigned long long)behind);
    /* 1,024 behind, reading as alerts come: never cut, everything once, in order */
    struct counter cnt = {0};
    cr_assert_eq(
        churn_alert_hub_subscribe(hub, 10000 - 1024, NULL, count_events, &cnt, &sub, NULL, 0),
        CHURN_OK);
    cr_assert_eq(churn_alert_hub_pending(sub), 1024);
    uint64_t next = 10000 - 1024 + 1, s = 10000;
    struct churn_alert got;
    for (int round = 0; round < 100; round++) {
        for (int k = 0; k < 50; k++) { /* faster than the 20 published per round */
            if (churn_alert_hub_next(sub, &got) != CHURN_OK)
                break;
            cr_assert_eq(got.sequence, next++);
        }
        for (int k = 0; k < 20; k++) {
            struct churn_alert a = hub_alert(++s, CHURN_CAUSE_TIER_WORSENED, CHURN_TIER_HIGH);
            cr_assert_eq(churn_alert_hub_publish(hub, &a), CHURN_OK);
        }
    }
    while (churn_alert_hub_next(sub, &got) == CHURN_OK)
        cr_assert_eq(got.sequence, next++);
    cr_assert_eq(next, s + 1, "reached the head");
    cr_assert_not(churn_alert_hub_lagged(sub, NULL));
    cr_assert_eq(cnt.lagged, 0);
    /* one that stops reading keeps the ring's headroom: cut when the ring wraps over the
     * first alert it has not read, not before */
    uint64_t stop = s;
    for (uint32_t k = 0; k < cfg.ring_capacity; k++) {
        struct churn_alert a = hub_alert(++s, CHURN_CAUSE_TIER_WORSENED, CHURN_TIER_HIGH);
        cr_assert_eq(churn_alert_hub_publish(hub, &a), CHURN_OK);
    }
    cr_assert_eq(cnt.lagged, 0);
    struct churn_alert a = hub_alert(++s, CHURN_CAUSE_TIER_WORSENED, CHURN_TIER_HIGH);
    cr_assert_eq(churn_alert_hub_publish(hub, &a), CHURN_OK);
    cr_assert_eq(cnt.lagged, 1);
    uint64_t resume = 0;
    cr_assert(churn_alert_hub_lagged(sub, &resume));
    cr_assert_eq(resume, stop);
    churn_alert_hub_destroy(hub);
}

Test(alerts, hub_config_is_checked)
{
    struct churn_alert_hub_config cfg = {
        .ring_capacity = 8, .max_subscribers = 1, .catch_up_max = 1};
    struct churn_alert_hub *hub = NULL;
    cr_assert_eq(churn_alert_hub_create(&cfg, 0, &hub), CHURN_EINVAL);
    cfg.ring_capacity = 64;
    cfg.catch_up_max = 64; /* no headroom left */
    cr_assert_eq(churn_alert_hub_create(&cfg, 0, &hub), CHURN_EINVAL);
    cfg.catch_up_max = 0;
    cr_assert_eq(churn_alert_hub_create(&cfg, 0, &hub), CHURN_EINVAL);
    cr_assert_null(hub);
}

/* ---- concurrency: one publisher, 100 subscribers on 4 reader threads, one never reads ---- */

#define N_ALERTS  3000
#define N_SUBS    100
#define N_READERS 4
#define N_WRAP    4096

struct reader;

struct watcher {
    struct churn_alert_sub *sub;
    struct reader *reader;
    bool intent_only;
    uint64_t last;
    int received;
    bool out_of_order;
    bool lagged;
};

struct reader {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int wakeups;
    bool done;
    struct watcher *w[N_SUBS];
    int n;
};

static void
wake_reader(void *ctx, struct churn_alert_sub *sub, enum churn_alert_hub_event ev)
{
    (void)sub;
    struct watcher *w = ctx;
    if (ev == CHURN_ALERT_HUB_LAGGED)
        w->lagged = true;
    if (!w->reader)
        return;
    pthread_mutex_lock(&w->reader->mu);
    w->reader->wakeups++;
    pthread_cond_signal(&w->reader->cv);
    pthread_mutex_unlock(&w->reader->mu);
}

static int
drain(struct reader *r)
{
    int got_any = 0;
    for (int i = 0; i < r->n; i++) {
        struct watcher *w = r->w[i];
        struct churn_alert a;
        enum churn_err e;
        while ((e = churn_alert_hub_next(w->sub, &a)) == CHURN_OK) {
            if (a.sequence <= w->last)
                w->out_of_order = true;
            if (w->intent_only && a.cause != CHURN_CAUSE_CHURN_INTENT)
                w->out_of_order = true;
            w->last = a.sequence;
            w->received++;
            got_any = 1;
        }
    }
    return got_any;
}

static void *
reader_main(void *arg)
{
    struct reader *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (r->wakeups == 0 && !r->done)
            pthread_cond_wait(&r->cv, &r->mu);
        bool done = r->done;
        r->wakeups = 0;
        pthread_mutex_unlock(&r->mu);
        drain(r);
        if (done) {
            drain(r); /* everything published before done is pending now */
            return NULL;
        }
    }
}

static void *
publisher_main(void *arg)
{
    struct churn_alert_hub *hub = arg;
    for (uint64_t s = 1; s <= N_ALERTS; s++) {
        struct churn_alert a = hub_alert(
            s, s % 3 == 0 ? CHURN_CAUSE_CHURN_INTENT : CHURN_CAUSE_TIER_WORSENED, CHURN_TIER_HIGH);
        if (churn_alert_hub_publish(hub, &a) != CHURN_OK)
            return (void *)1;
    }
    return NULL;
}

Test(alerts, hub_fan_out_under_concurrency_with_a_subscriber_that_never_reads)
{
    struct churn_alert_hub_config cfg = {
        .ring_capacity = 4096, .max_subscribers = 128, .catch_up_max = 4095};
    struct churn_alert_hub *hub;
    cr_assert_eq(churn_alert_hub_create(&cfg, 0, &hub), CHURN_OK);
    static struct reader readers[N_READERS];
    static struct watcher watchers[N_SUBS + 1];
    memset(readers, 0, sizeof(readers));
    memset(watchers, 0, sizeof(watchers));
    for (int i = 0; i < N_READERS; i++) {
        pthread_mutex_init(&readers[i].mu, NULL);
        pthread_cond_init(&readers[i].cv, NULL);
    }
    struct churn_alert_filter intent = {.causes = 1u << CHURN_CAUSE_CHURN_INTENT};
    for (int i = 0; i < N_SUBS; i++) {
        struct watcher *w = &watchers[i];
        struct reader *r = &readers[i % N_READERS];
        w->reader = r;
        w->intent_only = i % 5 == 0;
        r->w[r->n++] = w;
        cr_assert_eq(churn_alert_hub_subscribe(hub, 0, w->intent_only ? &intent : NULL, wake_reader,
                                               w, &w->sub, NULL, 0),
                     CHURN_OK);
    }
    /* and one that never reads */
    struct watcher *stuck = &watchers[N_SUBS];
    cr_assert_eq(churn_alert_hub_subscribe(hub, 0, NULL, wake_reader, stuck, &stuck->sub, NULL, 0),
                 CHURN_OK);

    pthread_t rt[N_READERS], pt;
    for (int i = 0; i < N_READERS; i++)
        cr_assert_eq(pthread_create(&rt[i], NULL, reader_main, &readers[i]), 0);
    cr_assert_eq(pthread_create(&pt, NULL, publisher_main, hub), 0);
    void *pres;
    pthread_join(pt, &pres);
    cr_assert_null(pres, "the publisher finished every alert");
    for (int i = 0; i < N_READERS; i++) {
        pthread_mutex_lock(&readers[i].mu);
        readers[i].done = true;
        pthread_cond_signal(&readers[i].cv);
        pthread_mutex_unlock(&readers[i].mu);
    }
    for (int i = 0; i < N_READERS; i++)
        pthread_join(rt[i], NULL);
    cr_assert_not(stuck->lagged, "the ring (4096) has not wrapped yet");
    /* a ring's worth more, the readers keeping up (here, on this thread): the ring wraps over
     * the stuck one's first unread alert, and only that one is too slow */
    for (uint64_t s = N_ALERTS + 1; s <= N_ALERTS + N_WRAP; s++) {
        struct churn_alert a = hub_alert(
            s, s % 3 == 0 ? CHURN_CAUSE_CHURN_INTENT : CHURN_CAUSE_TIER_WORSENED, CHURN_TIER_HIGH);
        cr_assert_eq(churn_alert_hub_publish(hub, &a), CHURN_OK);
        if (s % 64 == 0)
            for (int i = 0; i < N_READERS; i++)
                drain(&readers[i]);
    }
    for (int i = 0; i < N_READERS; i++)
        drain(&readers[i]);

    for (int i = 0; i < N_SUBS; i++) {
        struct watcher *w = &watchers[i];
        int total = N_ALERTS + N_WRAP;
        int want = w->intent_only ? total / 3 : total;
        cr_assert_eq(w->received, want, "watcher %d got %d of %d", i, w->received, want);
        cr_assert_not(w->out_of_order,
                      "watcher %d saw a duplicate, a gap in order or a "
                      "filtered alert",
                      i);
        cr_assert_not(w->lagged, "watcher %d", i);
    }
    /* the stuck subscriber was told once, and never held anyone up */
    uint64_t resume = 99;
    cr_assert(stuck->lagged);
    cr_assert(churn_alert_hub_lagged(stuck->sub, &resume));
    cr_assert_eq(resume, 0);
    struct churn_alert a;
    cr_assert_eq(churn_alert_hub_next(stuck->sub, &a), CHURN_ETOOBIG);
    for (int i = 0; i <= N_SUBS; i++)
        churn_alert_hub_unsubscribe(watchers[i].sub);
    churn_alert_hub_destroy(hub);
}

Test(alerts, segment_specs_parse_and_refuse_with_the_reason)
{
    struct churn_segment_config cfg;
    churn_segment_config_default(&cfg);
    char msg[CHURN_ALERT_ERRMSG];
    cr_assert_eq(
        churn_segment_config_parse(&cfg, "top:0.1,0.2", "threshold:2000,500", msg, sizeof(msg)),
        CHURN_OK, "%s", msg);
    cr_assert_eq(cfg.risk_mode, CHURN_RISK_BY_TOP_SHARE);
    cr_assert_float_eq(cfg.risk_high_share, 0.1, 1e-12);
    cr_assert_eq(cfg.value_mode, CHURN_RISK_BY_THRESHOLD);
    cr_assert_float_eq(cfg.value_medium_min, 500, 1e-12);
    /* a value threshold needs no sample; the risk share does */
    double probs[10] = {0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.95};
    struct churn_segments seg;
    cr_assert_eq(churn_segments_compute(&cfg, probs, 10, NULL, 0, &seg, msg, sizeof(msg)), CHURN_OK,
                 "%s", msg);
    cr_assert_float_eq(seg.risk_high_cut, 0.95, 1e-12);
    cr_assert_float_eq(seg.risk_medium_cut, 0.6, 1e-12);
    cr_assert_float_eq(seg.value_high_cut, 2000, 1e-12);
    /* before any sample: thresholds where configured, the fallback elsewhere */
    struct churn_segments fallback = {0.5, 0.2, 7, 3, 0, 0}, init;
    churn_segments_initial(&cfg, &fallback, &init);
    cr_assert_float_eq(init.risk_high_cut, 0.5, 1e-12);
    cr_assert_float_eq(init.value_high_cut, 2000, 1e-12);

    struct {
        const char *risk, *value, *words;
    } bad[] = {
        {"top:0.9,0.5", NULL, "sum below 1"},
        {"threshold:0.2,0.5", NULL, "MEDIUM <= HIGH"},
        {"bogus", NULL, "neither"},
        {"top:0.1", NULL, "two numbers"},
        {"top:0.1,0.2x", NULL, "two numbers"},
        {"threshold:1.5,0.2", NULL, "< 1"},
        {NULL, "threshold:10,-1", "0 <= MEDIUM"},
        {NULL, "top:nan,0.1", "two numbers"},
        {NULL, "top:,", "two numbers"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct churn_segment_config c2 = cfg;
        cr_assert_eq(churn_segment_config_parse(&c2, bad[i].risk, bad[i].value, msg, sizeof(msg)),
                     CHURN_EINVAL, "case %zu", i);
        cr_assert_not_null(strstr(msg, bad[i].words), "case %zu: %s", i, msg);
        cr_assert_eq(memcmp(&c2, &cfg, sizeof(cfg)), 0, "case %zu: untouched on error", i);
    }
}

/* ---- the index of current revisions (ListAlerts) ------------------------------------------ */

static struct churn_alert *
index_alert(uint64_t id, const char *customer, double priority, enum churn_alert_status status)
{
    static struct churn_alert a;
    cr_assert_eq(churn_alert_init(&a, customer, CHURN_CAUSE_TIER_WORSENED, T0 + (int64_t)id),
                 CHURN_OK);
    a.id = id;
    a.priority = priority;
    a.status = status;
    return &a;
}

static bool
accept_open(const struct churn_alert_index_entry *e, void *user)
{
    (void)user;
    return e->status == CHURN_STATUS_OPEN;
}

static bool
accept_all(const struct churn_alert_index_entry *e, void *user)
{
    (void)e;
    (void)user;
    return true;
}

static enum churn_alert_index_order qsort_order;

static int
cmp_index_order(const void *a, const void *b)
{
    if (churn_alert_index_before(qsort_order, a, b))
        return -1;
    return churn_alert_index_before(qsort_order, b, a) ? 1 : 0;
}

Test(alerts, index_keeps_the_latest_revision_of_each_alert)
{
    struct churn_alert_index *ix;
    cr_assert_eq(churn_alert_index_create(&ix), CHURN_OK);
    cr_assert_eq(churn_alert_index_put(ix, 1, index_alert(1, "c1", 10, CHURN_STATUS_OPEN)),
                 CHURN_OK);
    cr_assert_eq(churn_alert_index_put(ix, 2, index_alert(2, "c2", 20, CHURN_STATUS_OPEN)),
                 CHURN_OK);
    /* a newer revision of alert 1 replaces it; an older one is ignored */
    cr_assert_eq(churn_alert_index_put(ix, 5, index_alert(1, "c1", 30, CHURN_STATUS_CLOSED)),
                 CHURN_OK);
    cr_assert_eq(churn_alert_index_put(ix, 3, index_alert(1, "c1", 99, CHURN_STATUS_OPEN)),
                 CHURN_OK);
    cr_assert_eq(churn_alert_index_count(ix), 2);
    cr_assert_eq(churn_alert_index_head(ix), 5);
    struct churn_alert_index_entry out[4];
    size_t accepted;
    uint64_t head;
    size_t n = churn_alert_index_select(ix, CHURN_ALERT_INDEX_PRIORITY, accept_all, NULL, 4, out,
                                        &accepted, &head);
    cr_assert_eq(n, 2);
    cr_assert_eq(accepted, 2);
    cr_assert_eq(head, 5);
    cr_assert(out[0].id == 1 && out[0].seq == 5 && out[0].priority == 30 &&
              out[0].status == CHURN_STATUS_CLOSED);
    cr_assert(out[1].id == 2 && out[1].seq == 2);
    n = churn_alert_index_select(ix, CHURN_ALERT_INDEX_PRIORITY, accept_open, NULL, 4, out,
                                 &accepted, NULL);
    cr_assert(n == 1 && accepted == 1 && out[0].id == 2);
    /* k = 0 counts without copying */
    cr_assert_eq(churn_alert_index_select(ix, CHURN_ALERT_INDEX_NEWEST, accept_all, NULL, 0, out,
                                          &accepted, NULL),
                 0);
    cr_assert_eq(accepted, 2);
    churn_alert_index_destroy(ix);
}

/* 20,000 alerts with random priorities and revisions: in every order and for several k, the
 * selection is exactly the first k of a full sort (ties in priority included); then a privacy
 * erase of one customer removes exactly its alerts and the index goes on working. */
Test(alerts, index_selection_is_the_head_of_a_full_sort)
{
    enum { N = 20000 };
    struct churn_alert_index *ix;
    cr_assert_eq(churn_alert_index_create(&ix), CHURN_OK);
    srand(7);
    uint64_t seq = 0;
    for (uint64_t id = 1; id <= N; id++) {
        char cust[32];
        snprintf(cust, sizeof(cust), "cust-%d", (int)(id % 97));
        double prio = (double)(rand() % 500); /* many ties */
        enum churn_alert_status st = rand() % 3 ? CHURN_STATUS_OPEN : CHURN_STATUS_ACKNOWLEDGED;
        cr_assert_eq(churn_alert_index_put(ix, ++seq, index_alert(id, cust, prio, st)), CHURN_OK);
        if (rand() % 4 == 0) { /* a later revision of an earlier alert */
            uint64_t old = 1 + (uint64_t)rand() % id;
            snprintf(cust, sizeof(cust), "cust-%d", (int)(old % 97));
            cr_assert_eq(churn_alert_index_put(ix, ++seq, index_alert(old, cust, prio, st)),
                         CHURN_OK);
        }
    }
    cr_assert_eq(churn_alert_index_count(ix), N);
    struct churn_alert_index_entry *all = malloc(N * sizeof(*all));
    struct churn_alert_index_entry *top = malloc(N * sizeof(*top));
    size_t accepted;
    enum churn_alert_index_order orders[] = {CHURN_ALERT_INDEX_PRIORITY, CHURN_ALERT_INDEX_OLDEST,
                                             CHURN_ALERT_INDEX_NEWEST};
    for (size_t o = 0; o < 3; o++) {
        size_t n_all =
            churn_alert_index_select(ix, orders[o], accept_open, NULL, N, all, &accepted, NULL);
        cr_assert_eq(n_all, accepted);
        qsort_order = orders[o];
        for (size_t i = 1; i < n_all; i++)
            cr_assert_leq(cmp_index_order(&all[i - 1], &all[i]), 0, "order %zu at %zu", o, i);
        size_t ks[] = {1, 2, 51, 1000, N};
        for (size_t j = 0; j < sizeof(ks) / sizeof(ks[0]); j++) {
            size_t n =
                churn_alert_index_select(ix, orders[o], accept_open, NULL, ks[j], top, NULL, NULL);
            cr_assert_eq(n, ks[j] < n_all ? ks[j] : n_all);
            for (size_t i = 0; i < n; i++)
                cr_assert(top[i].id == all[i].id && top[i].seq == all[i].seq,
                          "order %zu k %zu at %zu", o, ks[j], i);
        }
    }
    size_t n_all = churn_alert_index_select(ix, CHURN_ALERT_INDEX_OLDEST, accept_all, NULL, N, all,
                                            NULL, NULL);
    uint64_t h = churn_fnv1a64_str("cust-5");
    size_t of_5 = 0;
    for (size_t i = 0; i < n_all; i++)
        of_5 += all[i].customer_hash == h;
    cr_assert_gt(of_5, 0);
    cr_assert_eq(churn_alert_index_forget_customer(ix, "cust-5"), of_5);
    cr_assert_eq(churn_alert_index_count(ix), N - of_5);
    cr_assert_eq(churn_alert_index_forget_customer(ix, "cust-5"), 0);
    size_t n = churn_alert_index_select(ix, CHURN_ALERT_INDEX_OLDEST, accept_all, NULL, N, top,
                                        NULL, NULL);
    cr_assert_eq(n, N - of_5);
    for (size_t i = 0, j = 0; i < n_all; i++)
        if (all[i].customer_hash != h)
            cr_assert_eq(top[j++].id, all[i].id);
    /* still indexed by id: a revision after the erase updates, a new alert is added */
    cr_assert_eq(
        churn_alert_index_put(ix, ++seq, index_alert(top[0].id, "cust-1", 1e9, CHURN_STATUS_OPEN)),
        CHURN_OK);
    cr_assert_eq(
        churn_alert_index_put(ix, ++seq, index_alert(N + 1, "cust-1", 1, CHURN_STATUS_OPEN)),
        CHURN_OK);
    cr_assert_eq(churn_alert_index_count(ix), N - of_5 + 1);
    n = churn_alert_index_select(ix, CHURN_ALERT_INDEX_PRIORITY, accept_all, NULL, 1, top, NULL,
                                 NULL);
    cr_assert(n == 1 && top[0].priority == 1e9 && top[0].seq == seq - 1);
    free(all);
    free(top);
    churn_alert_index_destroy(ix);
}

Test(alerts, hub_skip_drops_the_pending_and_rearms)
{
    struct churn_alert_hub_config cfg;
    churn_alert_hub_config_default(&cfg);
    cfg.ring_capacity = 16;
    cfg.catch_up_max = 15;
    struct churn_alert_hub *hub;
    cr_assert_eq(churn_alert_hub_create(&cfg, 0, &hub), CHURN_OK);
    struct counter cnt = {0};
    struct churn_alert_sub *sub;
    char err[CHURN_ALERT_ERRMSG];
    cr_assert_eq(
        churn_alert_hub_subscribe(hub, 0, NULL, count_events, &cnt, &sub, err, sizeof(err)),
        CHURN_OK, "%s", err);
    for (uint64_t s = 1; s <= 3; s++) {
        struct churn_alert a = hub_alert(s, CHURN_CAUSE_CHURN_INTENT, CHURN_TIER_HIGH);
        cr_assert_eq(churn_alert_hub_publish(hub, &a), CHURN_OK);
    }
    cr_assert_eq(cnt.ready, 1);
    cr_assert_eq(churn_alert_hub_pending(sub), 3);
    cr_assert_eq(churn_alert_hub_skip(sub), CHURN_OK);
    cr_assert_eq(churn_alert_hub_pending(sub), 0);
    struct churn_alert got;
    cr_assert_eq(churn_alert_hub_next(sub, &got), CHURN_EAGAIN);
    cr_assert_eq(churn_alert_hub_last_sequence(sub), 0, "skipped alerts are not given");
    /* re-armed: the next publish rings again, and is the next one given */
    struct churn_alert a = hub_alert(4, CHURN_CAUSE_CHURN_INTENT, CHURN_TIER_HIGH);
    cr_assert_eq(churn_alert_hub_publish(hub, &a), CHURN_OK);
    cr_assert_eq(cnt.ready, 2);
    cr_assert_eq(churn_alert_hub_next(sub, &got), CHURN_OK);
    cr_assert_eq(got.sequence, 4);
    /* a subscriber that fell behind stays behind */
    for (uint64_t s = 5; s <= 40; s++) {
        a = hub_alert(s, CHURN_CAUSE_CHURN_INTENT, CHURN_TIER_HIGH);
        cr_assert_eq(churn_alert_hub_publish(hub, &a), CHURN_OK);
    }
    cr_assert(churn_alert_hub_lagged(sub, NULL));
    cr_assert_eq(churn_alert_hub_skip(sub), CHURN_ETOOBIG);
    churn_alert_hub_unsubscribe(sub);
    churn_alert_hub_destroy(hub);
}
