/*
 * rules.c - the rules that turn scores and chat signals into alerts: which causes fire
 * between two consecutive scores, what moved (the features whose contributions changed
 * most, with a human sentence each), which sources are stale, the per customer-and-cause
 * de-duplication and cooldown decision, auto-close when the condition clears, and the
 * versioned encodings of the per-customer state and score snapshot the store keeps.
 */
#include "churn/alerts.h"
#include "churn/alert_rules.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"
#include "internal.h"

void
churn_alert_rules_config_default(struct churn_alert_rules_config *cfg)
{
    cfg->probability_jump = 0.15;
    cfg->cooldown_ms = 24LL * 3600 * 1000;
    cfg->update_min_interval_ms = 15LL * 60 * 1000;
    cfg->stale_after_ms = 14LL * 86400 * 1000;
    cfg->max_moved = 3;
    cfg->min_moved_delta = 0.01;
}

enum churn_err
churn_alert_rules_config_check(const struct churn_alert_rules_config *cfg, char *errbuf,
                               size_t errlen)
{
    if (!(cfg->probability_jump > 0 && cfg->probability_jump < 1)) {
        churn_errf(errbuf, errlen, "probability_jump: %g is not in (0, 1)", cfg->probability_jump);
        return CHURN_EINVAL;
    }
    if (cfg->cooldown_ms < 0 || cfg->update_min_interval_ms < 0 || cfg->stale_after_ms <= 0) {
        churn_errf(errbuf, errlen,
                   "cooldown_ms and update_min_interval_ms must be >= 0, stale_after_ms > 0");
        return CHURN_EINVAL;
    }
    if (cfg->max_moved > CHURN_ALERT_MAX_MOVED) {
        churn_errf(errbuf, errlen, "max_moved: %u is over %u", cfg->max_moved,
                   CHURN_ALERT_MAX_MOVED);
        return CHURN_EINVAL;
    }
    if (!(cfg->min_moved_delta >= 0) || !isfinite(cfg->min_moved_delta)) {
        churn_errf(errbuf, errlen, "min_moved_delta: must be a number >= 0");
        return CHURN_EINVAL;
    }
    return CHURN_OK;
}

static bool
snapshot_ok(const struct churn_score_snapshot *s)
{
    return s->probability >= 0 && s->probability <= 1 && s->risk_tier >= CHURN_TIER_LOW &&
           s->risk_tier <= CHURN_TIER_HIGH;
}

enum churn_err
churn_alert_rules_evaluate(const struct churn_alert_rules_config *cfg,
                           const struct churn_score_snapshot *prev,
                           const struct churn_score_snapshot *cur,
                           const struct churn_chat_signal *chat, struct churn_alert_triggers *out)
{
    if (!snapshot_ok(cur) || (prev && !snapshot_ok(prev)))
        return CHURN_EINVAL;
    struct churn_alert_triggers t = {0};
    if (prev) {
        t.jump = cur->probability - prev->probability;
        if (cur->risk_tier > prev->risk_tier)
            t.causes |= 1u << CHURN_CAUSE_TIER_WORSENED;
        if (t.jump > cfg->probability_jump)
            t.causes |= 1u << CHURN_CAUSE_PROBABILITY_JUMP;
    }
    if (chat && chat->escalate)
        t.causes |= 1u << CHURN_CAUSE_CHAT_ESCALATION;
    if (chat && chat->churn_intent)
        t.causes |= 1u << CHURN_CAUSE_CHURN_INTENT;
    *out = t;
    return CHURN_OK;
}

enum churn_alert_cause
churn_alert_score_cause(const struct churn_alert_triggers *t, bool tier_alert_open)
{
    if (t->causes & (1u << CHURN_CAUSE_TIER_WORSENED))
        return CHURN_CAUSE_TIER_WORSENED;
    if (t->causes & (1u << CHURN_CAUSE_PROBABILITY_JUMP))
        return tier_alert_open ? CHURN_CAUSE_TIER_WORSENED : CHURN_CAUSE_PROBABILITY_JUMP;
    return CHURN_CAUSE_UNSPECIFIED;
}

char *
churn_alert_moved_sentence(const char *label, const char *window, double before, double after,
                           double delta, char *out, size_t outlen)
{
    const char *sep = window && window[0] ? " " : "";
    if (!window)
        window = "";
    /* NaN is a value the model did not have (missing data): said in words, never "nan" */
    if (isnan(before) && isnan(after))
        snprintf(out, outlen, "%s still unknown%s%s: %+.2f", label, sep, window, delta);
    else if (before == after)
        snprintf(out, outlen, "%s unchanged at %.6g%s%s: %+.2f", label, after, sep, window, delta);
    else if (isnan(before))
        snprintf(out, outlen, "%s now known: %.6g%s%s: %+.2f", label, after, sep, window, delta);
    else if (isnan(after))
        snprintf(out, outlen, "%s no longer known (was %.6g)%s%s: %+.2f", label, before, sep,
                 window, delta);
    else
        snprintf(out, outlen, "%s %s from %.6g to %.6g%s%s: %+.2f", label,
                 after < before ? "fell" : "rose", before, after, sep, window, delta);
    return out;
}

enum churn_err
churn_alert_what_moved(const struct churn_alert_rules_config *cfg,
                       const struct churn_score_snapshot *prev,
                       const struct churn_score_snapshot *cur,
                       const struct churn_feature_label *labels, size_t n_labels,
                       struct churn_alert *alert)
{
    alert->n_moved = 0;
    if (!prev || prev->feature_set != cur->feature_set || prev->n_features != cur->n_features)
        return CHURN_OK;
    if (n_labels != cur->n_features)
        return CHURN_EINVAL;
    uint32_t want = cfg->max_moved < CHURN_ALERT_MAX_MOVED ? cfg->max_moved : CHURN_ALERT_MAX_MOVED;
    /* selection of the top @want by |delta|: @want is tiny, so insertion into a short list */
    uint32_t idx[CHURN_ALERT_MAX_MOVED];
    double mag[CHURN_ALERT_MAX_MOVED];
    uint32_t n = 0;
    for (uint32_t i = 0; i < cur->n_features; i++) {
        double d = cur->contributions[i] - prev->contributions[i];
        if (!isfinite(d) || fabs(d) < cfg->min_moved_delta || fabs(d) == 0)
            continue;
        double m = fabs(d);
        uint32_t pos = n;
        while (pos > 0 && mag[pos - 1] < m)
            pos--;
        if (pos >= want)
            continue;
        uint32_t last = n < want ? n : want - 1;
        for (uint32_t k = last; k > pos; k--) {
            idx[k] = idx[k - 1];
            mag[k] = mag[k - 1];
        }
        idx[pos] = i;
        mag[pos] = m;
        if (n < want)
            n++;
    }
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = idx[k];
        const struct churn_feature_label *l = &labels[i];
        const char *name = l->name ? l->name : "";
        const char *label = l->label && l->label[0] ? l->label : name;
        struct churn_alert_moved *m = &alert->moved[k];
        memset(m, 0, sizeof(*m));
        if (churn__copy(m->feature, sizeof(m->feature), name) ||
            churn__copy(m->label, sizeof(m->label), label)) {
            alert->n_moved = k;
            return CHURN_ETOOBIG;
        }
        m->before = prev->values[i];
        m->after = cur->values[i];
        m->contribution_delta = cur->contributions[i] - prev->contributions[i];
        if (l->sentence)
            l->sentence((int)i, m->before, m->after, m->sentence, sizeof(m->sentence));
        else
            churn_alert_moved_sentence(label, l->window, m->before, m->after, m->contribution_delta,
                                       m->sentence, sizeof(m->sentence));
        alert->n_moved = k + 1;
    }
    return CHURN_OK;
}

enum churn_err
churn_alert_mark_stale(const struct churn_alert_rules_config *cfg,
                       const struct churn_source_freshness *sources, size_t n_sources,
                       int64_t now_ms, struct churn_alert *alert)
{
    alert->n_stale = 0;
    for (size_t i = 0; i < n_sources; i++) {
        const struct churn_source_freshness *s = &sources[i];
        if (s->last_event_ms > 0 && now_ms - s->last_event_ms <= cfg->stale_after_ms)
            continue;
        enum churn_err err = churn_alert_add_stale(alert, s->source);
        if (err)
            return err;
    }
    return CHURN_OK;
}

enum churn_alert_decision
churn_alert_decide(const struct churn_alert_rules_config *cfg,
                   const struct churn_alert_state *state, enum churn_tier tier, int64_t now_ms)
{
    if (!state)
        return CHURN_ALERT_RAISE;
    if (state->open_id) {
        if (state->snoozed_until_ms > now_ms)
            return CHURN_ALERT_SUPPRESS_SNOOZED;
        if (tier > state->last_tier)
            return CHURN_ALERT_UPDATE;
        if (now_ms - state->last_alert_ms < cfg->update_min_interval_ms)
            return CHURN_ALERT_SUPPRESS_COOLDOWN;
        return CHURN_ALERT_UPDATE;
    }
    if (state->closed_ms && now_ms - state->closed_ms < cfg->cooldown_ms)
        return CHURN_ALERT_SUPPRESS_COOLDOWN;
    return CHURN_ALERT_RAISE;
}

void
churn_alert_state_record(struct churn_alert_state *state, const struct churn_alert *alert)
{
    state->last_sequence = alert->sequence;
    state->last_alert_ms = alert->updated_ms;
    state->last_tier = alert->risk_tier;
    if (alert->status == CHURN_STATUS_CLOSED) {
        state->open_id = 0;
        state->closed_ms = alert->closed_ms;
        state->snoozed_until_ms = 0;
    } else {
        state->open_id = alert->id;
        state->snoozed_until_ms =
            alert->status == CHURN_STATUS_SNOOZED ? alert->snoozed_until_ms : 0;
    }
}

bool
churn_alert_condition_cleared(const struct churn_alert_rules_config *cfg,
                              const struct churn_alert *alert,
                              const struct churn_score_snapshot *cur)
{
    if (alert->status == CHURN_STATUS_CLOSED)
        return false;
    switch (alert->cause) {
    case CHURN_CAUSE_TIER_WORSENED:
        return cur->risk_tier >= CHURN_TIER_LOW && cur->risk_tier <= alert->risk_tier_before;
    case CHURN_CAUSE_PROBABILITY_JUMP:
        return cur->probability - alert->probability_before < cfg->probability_jump / 2;
    default:
        return false;
    }
}

enum churn_err
churn_alert_state_encode(const struct churn_alert_state *state, uint8_t *out, size_t cap,
                         size_t *len)
{
    struct churn__wr w = {.p = out, .cap = cap};
    churn__wr_u8(&w, CHURN_ALERT_STATE_VERSION);
    churn__wr_u64(&w, state->open_id);
    churn__wr_u64(&w, state->last_sequence);
    churn__wr_i64(&w, state->last_alert_ms);
    churn__wr_i64(&w, state->closed_ms);
    churn__wr_u8(&w, (uint8_t)state->last_tier);
    churn__wr_i64(&w, state->snoozed_until_ms);
    if (w.overflow)
        return CHURN_ETOOBIG;
    *len = w.len;
    return CHURN_OK;
}

enum churn_err
churn_alert_state_decode(const uint8_t *data, size_t len, struct churn_alert_state *state)
{
    struct churn__rd r = {.p = data, .len = len};
    if (!data || len == 0 || churn__rd_u8(&r) != CHURN_ALERT_STATE_VERSION)
        return CHURN_ECORRUPT;
    struct churn_alert_state s;
    s.open_id = churn__rd_u64(&r);
    s.last_sequence = churn__rd_u64(&r);
    s.last_alert_ms = churn__rd_i64(&r);
    s.closed_ms = churn__rd_i64(&r);
    uint8_t tier = churn__rd_u8(&r);
    s.snoozed_until_ms = churn__rd_i64(&r);
    if (r.bad || r.off != r.len || tier > CHURN_TIER_HIGH)
        return CHURN_ECORRUPT;
    s.last_tier = tier;
    *state = s;
    return CHURN_OK;
}

size_t
churn_score_snapshot_encoded_size(const struct churn_score_snapshot *snap)
{
    return 1 + 8 + 8 + 1 + 1 + 8 + 8 + 24 + 4 + (size_t)snap->n_features * 16;
}

enum churn_err
churn_score_snapshot_encode(const struct churn_score_snapshot *snap, uint8_t *out, size_t cap,
                            size_t *len)
{
    if (snap->n_features > CHURN_SNAPSHOT_MAX_FEATURES)
        return CHURN_ETOOBIG;
    if (!snapshot_ok(snap) || snap->value_tier < CHURN_TIER_LOW ||
        snap->value_tier > CHURN_TIER_HIGH || !isfinite(snap->value))
        return CHURN_EINVAL;
    for (uint32_t i = 0; i < snap->n_features; i++)
        if (!isfinite(snap->contributions[i]))
            return CHURN_EINVAL;
    struct churn__wr w = {.p = out, .cap = cap};
    churn__wr_u8(&w, CHURN_SNAPSHOT_FORMAT_VERSION);
    churn__wr_i64(&w, snap->scored_at_ms);
    churn__wr_f64(&w, snap->probability);
    churn__wr_u8(&w, (uint8_t)snap->risk_tier);
    churn__wr_u8(&w, (uint8_t)snap->value_tier);
    churn__wr_f64(&w, snap->value);
    churn__wr_u64(&w, snap->feature_set);
    churn__wr_i64(&w, snap->model_changed_ms);
    churn__wr_f64(&w, snap->model_changed_ms ? snap->model_from_probability : 0);
    churn__wr_f64(&w, snap->model_changed_ms ? snap->model_to_probability : 0);
    churn__wr_u32(&w, snap->n_features);
    for (uint32_t i = 0; i < snap->n_features; i++) {
        churn__wr_f64(&w, snap->contributions[i]);
        churn__wr_f64(&w, snap->values[i]);
    }
    if (w.overflow)
        return CHURN_ETOOBIG;
    *len = w.len;
    return CHURN_OK;
}

enum churn_err
churn_score_snapshot_decode(const uint8_t *data, size_t len, struct churn_score_snapshot *snap)
{
    struct churn__rd r = {.p = data, .len = len};
    uint8_t version = data && len ? churn__rd_u8(&r) : 0;
    if (version != 1 && version != CHURN_SNAPSHOT_FORMAT_VERSION)
        return CHURN_ECORRUPT;
    struct churn_score_snapshot s = {0};
    s.scored_at_ms = churn__rd_i64(&r);
    s.probability = churn__rd_f64(&r);
    s.risk_tier = churn__rd_u8(&r);
    s.value_tier = churn__rd_u8(&r);
    s.value = churn__rd_f64(&r);
    s.feature_set = churn__rd_u64(&r);
    if (version >= 2) {
        s.model_changed_ms = churn__rd_i64(&r);
        s.model_from_probability = churn__rd_f64(&r);
        s.model_to_probability = churn__rd_f64(&r);
    }
    s.n_features = churn__rd_u32(&r);
    if (r.bad || s.n_features > CHURN_SNAPSHOT_MAX_FEATURES ||
        (size_t)s.n_features * 16 != r.len - r.off || !snapshot_ok(&s) ||
        s.value_tier < CHURN_TIER_LOW || s.value_tier > CHURN_TIER_HIGH)
        return CHURN_ECORRUPT;
    if (s.n_features) {
        s.contributions = churn_malloc(s.n_features * sizeof(double));
        s.values = churn_malloc(s.n_features * sizeof(double));
        if (!s.contributions || !s.values) {
            churn_free(s.contributions);
            churn_free(s.values);
            return CHURN_ENOMEM;
        }
        for (uint32_t i = 0; i < s.n_features; i++) {
            s.contributions[i] = churn__rd_f64(&r); /* finite */
            s.values[i] = churn__rd_f64_any(&r);    /* NaN: missing */
        }
        if (r.bad) {
            churn_free(s.contributions);
            churn_free(s.values);
            return CHURN_ECORRUPT;
        }
    }
    *snap = s;
    return CHURN_OK;
}

void
churn_score_snapshot_fini(struct churn_score_snapshot *snap)
{
    churn_free(snap->contributions);
    churn_free(snap->values);
    snap->contributions = NULL;
    snap->values = NULL;
    snap->n_features = 0;
}
