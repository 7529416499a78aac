/*
 * fuzz_playbook.c - libFuzzer target for the alerts module's parsers: any bytes are parsed
 * as a playbook file (either a valid set or an error that names "fuzz.playbooks:<line>:")
 * and decoded as each persisted record (alert, per-customer state, score snapshot, outcome,
 * segments), which must either succeed or fail with CHURN_ECORRUPT; a decoded alert must
 * re-encode; and parsed as a WatchAlerts filter. Never a crash, a leak or a read out of bounds.
 */
#include <stdint.h>
#include <string.h>

#include "churn/alerts.h"
#include "churn/segments.h"
#include "churn/alert_rules.h"
#include "churn/outcomes.h"
#include "churn/alerts_hub.h"
#include "churn/alerts_playbook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(enum churn_err err)
{
    if (err != CHURN_OK && err != CHURN_ECORRUPT && err != CHURN_ENOMEM)
        __builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct churn_playbooks *set = NULL;
    char err[CHURN_ALERT_ERRMSG];
    enum churn_err e = churn_playbooks_load_text("fuzz.playbooks", (const char *)data, size, &set,
                                                 err, sizeof(err));
    if (e == CHURN_OK) {
        struct churn_playbook_match m;
        for (int c = CHURN_CAUSE_TIER_WORSENED; c <= CHURN_CAUSE_CHURN_INTENT; c++)
            churn_playbooks_select(set, CHURN_TIER_HIGH, CHURN_TIER_MEDIUM,
                                   (enum churn_alert_cause)c, 1u << CHURN_ACTION_CONSULTATION,
                                   "fuzz-customer", &m);
        churn_playbooks_unref(set);
    } else if (strncmp(err, "fuzz.playbooks:", 15) != 0) {
        __builtin_trap();
    }

    /* the watch filter syntax, on a NUL-terminated copy of short inputs */
    if (size < 1100) {
        char text[1100];
        memcpy(text, data, size);
        text[size] = '\0';
        struct churn_alert_filter f;
        e = churn_alert_filter_parse(text, &f, err, sizeof(err));
        if (e == CHURN_OK && churn_alert_filter_check(&f, NULL, 0) != CHURN_OK)
            __builtin_trap();
        if (e != CHURN_OK && e != CHURN_EINVAL && e != CHURN_ETOOBIG)
            __builtin_trap();
    }

    struct churn_alert alert;
    e = churn_alert_decode(data, size, &alert);
    check(e);
    if (e == CHURN_OK) {
        static uint8_t buf[CHURN_ALERT_ENCODED_MAX];
        size_t len;
        if (churn_alert_encode(&alert, buf, sizeof(buf), &len) != CHURN_OK)
            __builtin_trap();
    }
    struct churn_alert_state state;
    check(churn_alert_state_decode(data, size, &state));
    struct churn_score_snapshot snap;
    e = churn_score_snapshot_decode(data, size, &snap);
    check(e);
    if (e == CHURN_OK)
        churn_score_snapshot_fini(&snap);
    struct churn_outcome_record rec;
    check(churn_outcome_decode(data, size, &rec));
    struct churn_segments seg;
    check(churn_segments_decode(data, size, &seg));
    return 0;
}
