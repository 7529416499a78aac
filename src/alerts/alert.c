/*
 * alert.c - the alert record: enum names and parsers, construction and setters with caps,
 * the life cycle (acknowledge, snooze, wake, close, update by a new trigger) with precise
 * errors, and the versioned byte encoding the store persists in the alert log.
 */
#include "churn/alerts.h"
#include "churn/segments.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static const char *const tier_names[] = {"unspecified", "low", "medium", "high"};
static const char *const cause_names[] = {"unspecified", "tier_worsened", "probability_jump",
                                          "chat_escalation", "churn_intent"};
static const char *const status_names[] = {"unspecified", "open", "acknowledged", "snoozed",
                                           "closed"};
static const char *const resolution_names[] = {"none", "saved", "lost", "not_actionable",
                                               "auto_cleared"};
static const char *const action_names[] = {"none",         "coupon",        "email_campaign",
                                           "consultation", "human_handoff", "feedback_call"};
static const char *const outcome_names[] = {"unknown", "retained", "churned"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *
name_of(const char *const *names, size_t n, int v, const char *dflt)
{
    return v >= 0 && (size_t)v < n ? names[v] : dflt;
}

/* index of @text in @names[first..n), or -1 */
static int
parse_name(const char *const *names, size_t n, size_t first, const char *text)
{
    if (!text)
        return -1;
    for (size_t i = first; i < n; i++)
        if (strcasecmp(text, names[i]) == 0)
            return (int)i;
    return -1;
}

const char *
churn_tier_name(enum churn_tier tier)
{
    return name_of(tier_names, NELEM(tier_names), (int)tier, "unspecified");
}

const char *
churn_alert_cause_name(enum churn_alert_cause cause)
{
    return name_of(cause_names, NELEM(cause_names), (int)cause, "unspecified");
}

const char *
churn_alert_status_name(enum churn_alert_status status)
{
    return name_of(status_names, NELEM(status_names), (int)status, "unspecified");
}

const char *
churn_alert_resolution_name(enum churn_alert_resolution resolution)
{
    return name_of(resolution_names, NELEM(resolution_names), (int)resolution, "unspecified");
}

const char *
churn_action_kind_name(enum churn_action_kind kind)
{
    return name_of(action_names, NELEM(action_names), (int)kind, "unspecified");
}

const char *
churn_outcome_name(enum churn_outcome outcome)
{
    return name_of(outcome_names, NELEM(outcome_names), (int)outcome, "unspecified");
}

#define DEFINE_PARSE(fn, type, names, first)                                                       \
    enum churn_err fn(const char *text, type *out)                                                 \
    {                                                                                              \
        int i = parse_name(names, NELEM(names), first, text);                                      \
        if (i < 0)                                                                                 \
            return CHURN_EINVAL;                                                                   \
        *out = (type)i;                                                                            \
        return CHURN_OK;                                                                           \
    }

DEFINE_PARSE(churn_tier_parse, enum churn_tier, tier_names, 1)
DEFINE_PARSE(churn_alert_cause_parse, enum churn_alert_cause, cause_names, 1)
DEFINE_PARSE(churn_alert_status_parse, enum churn_alert_status, status_names, 1)
DEFINE_PARSE(churn_alert_resolution_parse, enum churn_alert_resolution, resolution_names, 1)
DEFINE_PARSE(churn_action_kind_parse, enum churn_action_kind, action_names, 1)
DEFINE_PARSE(churn_outcome_parse, enum churn_outcome, outcome_names, 0)

static bool
tier_ok(enum churn_tier t)
{
    return t >= CHURN_TIER_LOW && t <= CHURN_TIER_HIGH;
}

static bool
cause_ok(enum churn_alert_cause c)
{
    return c >= CHURN_CAUSE_TIER_WORSENED && c <= CHURN_CAUSE_CHURN_INTENT;
}

static bool
is_chat_cause(enum churn_alert_cause c)
{
    return c == CHURN_CAUSE_CHAT_ESCALATION || c == CHURN_CAUSE_CHURN_INTENT;
}

enum churn_err
churn_alert_init(struct churn_alert *alert, const char *customer_id, enum churn_alert_cause cause,
                 int64_t now_ms)
{
    if (!customer_id || !customer_id[0] || !cause_ok(cause) || now_ms <= 0)
        return CHURN_EINVAL;
    if (strlen(customer_id) >= CHURN_ALERT_ID_MAX)
        return CHURN_ETOOBIG;
    memset(alert, 0, sizeof(*alert));
    memcpy(alert->customer_id, customer_id, strlen(customer_id) + 1);
    alert->cause = cause;
    alert->status = CHURN_STATUS_OPEN;
    alert->revision = 1;
    alert->change = CHURN_CHANGE_RAISED;
    alert->trigger_count = 1;
    alert->created_ms = now_ms;
    alert->updated_ms = now_ms;
    return CHURN_OK;
}

enum churn_err
churn_alert_set_score(struct churn_alert *alert, double p, enum churn_tier tier, double p_before,
                      enum churn_tier tier_before, enum churn_tier value_tier, double value)
{
    if (!(p >= 0 && p <= 1) || !(p_before >= 0 && p_before <= 1) || !tier_ok(tier) ||
        !tier_ok(tier_before) || !tier_ok(value_tier) || !isfinite(value) || value < 0)
        return CHURN_EINVAL;
    alert->probability = p;
    alert->probability_before = p_before;
    alert->risk_tier = tier;
    alert->risk_tier_before = tier_before;
    alert->value_tier = value_tier;
    alert->value = value;
    alert->priority = churn_priority(p, value);
    return CHURN_OK;
}

enum churn_err
churn_alert_add_reason(struct churn_alert *alert, const char *feature, const char *label,
                       double value, double contribution)
{
    if (!feature || !feature[0] || !isfinite(value) || !isfinite(contribution))
        return CHURN_EINVAL;
    if (!label)
        label = "";
    if (alert->n_reasons >= CHURN_ALERT_MAX_REASONS || strlen(feature) >= CHURN_ALERT_NAME_MAX ||
        strlen(label) >= CHURN_ALERT_LABEL_MAX)
        return CHURN_ETOOBIG;
    struct churn_alert_reason *r = &alert->reasons[alert->n_reasons++];
    memset(r, 0, sizeof(*r));
    churn__copy(r->feature, sizeof(r->feature), feature);
    churn__copy(r->label, sizeof(r->label), label);
    r->value = value;
    r->contribution = contribution;
    return CHURN_OK;
}

enum churn_err
churn_alert_add_stale(struct churn_alert *alert, const char *source)
{
    if (!source || !source[0])
        return CHURN_EINVAL;
    if (alert->n_stale >= CHURN_ALERT_MAX_STALE || strlen(source) >= CHURN_ALERT_NAME_MAX)
        return CHURN_ETOOBIG;
    churn__copy(alert->stale[alert->n_stale++], CHURN_ALERT_NAME_MAX, source);
    return CHURN_OK;
}

enum churn_err
churn_alert_set_chat(struct churn_alert *alert, const char *reason, const char *evidence)
{
    if (!is_chat_cause(alert->cause))
        return CHURN_EPRECOND;
    if (!reason)
        reason = "";
    if (!evidence)
        evidence = "";
    if (strlen(reason) >= CHURN_ALERT_NAME_MAX || strlen(evidence) >= CHURN_ALERT_TEXT_MAX)
        return CHURN_ETOOBIG;
    churn__copy(alert->chat_reason, sizeof(alert->chat_reason), reason);
    churn__copy(alert->chat_evidence, sizeof(alert->chat_evidence), evidence);
    return CHURN_OK;
}

static void
touch(struct churn_alert *alert, int64_t now_ms)
{
    alert->revision++;
    if (now_ms > alert->updated_ms)
        alert->updated_ms = now_ms;
}

enum churn_err
churn_alert_update(struct churn_alert *alert, const struct churn_alert *fresh, int64_t now_ms,
                   char *errbuf, size_t errlen)
{
    if (strcmp(alert->customer_id, fresh->customer_id) != 0 || alert->cause != fresh->cause) {
        churn_errf(errbuf, errlen, "alert %llu is for %s/%s, the trigger for %s/%s",
                   (unsigned long long)alert->id, alert->customer_id,
                   churn_alert_cause_name(alert->cause), fresh->customer_id,
                   churn_alert_cause_name(fresh->cause));
        return CHURN_EINVAL;
    }
    if (alert->status == CHURN_STATUS_CLOSED) {
        churn_errf(errbuf, errlen, "alert %llu is closed; raise a new one",
                   (unsigned long long)alert->id);
        return CHURN_EPRECOND;
    }
    alert->probability = fresh->probability;
    alert->probability_before = fresh->probability_before;
    alert->risk_tier = fresh->risk_tier;
    alert->risk_tier_before = fresh->risk_tier_before;
    alert->value_tier = fresh->value_tier;
    alert->value = fresh->value;
    alert->priority = fresh->priority;
    alert->n_reasons = fresh->n_reasons;
    memcpy(alert->reasons, fresh->reasons, sizeof(alert->reasons));
    alert->n_moved = fresh->n_moved;
    memcpy(alert->moved, fresh->moved, sizeof(alert->moved));
    alert->n_stale = fresh->n_stale;
    memcpy(alert->stale, fresh->stale, sizeof(alert->stale));
    if (fresh->chat_evidence[0] || fresh->chat_reason[0]) {
        memcpy(alert->chat_reason, fresh->chat_reason, sizeof(alert->chat_reason));
        memcpy(alert->chat_evidence, fresh->chat_evidence, sizeof(alert->chat_evidence));
    }
    alert->change = CHURN_CHANGE_UPDATED;
    alert->trigger_count++;
    touch(alert, now_ms);
    return CHURN_OK;
}

static bool
closed_error(const struct churn_alert *alert, const char *what, char *errbuf, size_t errlen)
{
    if (alert->status != CHURN_STATUS_CLOSED)
        return false;
    churn_errf(errbuf, errlen, "cannot %s alert %llu: it is closed (%s)", what,
               (unsigned long long)alert->id, churn_alert_resolution_name(alert->resolution));
    return true;
}

enum churn_err
churn_alert_acknowledge(struct churn_alert *alert, const char *actor, const char *action_taken,
                        int64_t now_ms, char *errbuf, size_t errlen)
{
    if (closed_error(alert, "acknowledge", errbuf, errlen))
        return CHURN_EPRECOND;
    if (alert->status == CHURN_STATUS_ACKNOWLEDGED) {
        churn_errf(errbuf, errlen, "alert %llu is already acknowledged by %s",
                   (unsigned long long)alert->id, alert->ack_actor);
        return CHURN_EEXIST;
    }
    if (!actor || !actor[0]) {
        churn_errf(errbuf, errlen, "actor: must not be empty");
        return CHURN_EINVAL;
    }
    if (!action_taken)
        action_taken = "";
    if (strlen(actor) >= CHURN_ALERT_ACTOR_MAX) {
        churn_errf(errbuf, errlen, "actor: longer than %u bytes", CHURN_ALERT_ACTOR_MAX - 1);
        return CHURN_ETOOBIG;
    }
    if (strlen(action_taken) >= CHURN_ALERT_TEXT_MAX) {
        churn_errf(errbuf, errlen, "action_taken: longer than %u bytes", CHURN_ALERT_TEXT_MAX - 1);
        return CHURN_ETOOBIG;
    }
    churn__copy(alert->ack_actor, sizeof(alert->ack_actor), actor);
    churn__copy(alert->ack_action, sizeof(alert->ack_action), action_taken);
    alert->ack_ms = now_ms;
    if (!alert->owner[0] && strlen(actor) < sizeof(alert->owner))
        churn__copy(alert->owner, sizeof(alert->owner), actor); /* the actor takes it on */
    alert->status = CHURN_STATUS_ACKNOWLEDGED;
    alert->snoozed_until_ms = 0;
    alert->snooze_reason[0] = '\0';
    alert->change = CHURN_CHANGE_ACKNOWLEDGED;
    touch(alert, now_ms);
    return CHURN_OK;
}

enum churn_err
churn_alert_snooze(struct churn_alert *alert, int64_t until_ms, const char *reason, int64_t now_ms,
                   char *errbuf, size_t errlen)
{
    if (closed_error(alert, "snooze", errbuf, errlen))
        return CHURN_EPRECOND;
    if (until_ms <= now_ms) {
        churn_errf(errbuf, errlen, "snooze_until: %lld is in the past (now %lld)",
                   (long long)until_ms, (long long)now_ms);
        return CHURN_EINVAL;
    }
    if (until_ms - now_ms > CHURN_ALERT_MAX_SNOOZE_MS) {
        churn_errf(errbuf, errlen, "snooze_until: more than 90 days ahead");
        return CHURN_ERANGE;
    }
    if (!reason || !reason[0]) {
        churn_errf(errbuf, errlen, "snooze reason: must not be empty");
        return CHURN_EINVAL;
    }
    if (strlen(reason) >= CHURN_ALERT_TEXT_MAX) {
        churn_errf(errbuf, errlen, "snooze reason: longer than %u bytes", CHURN_ALERT_TEXT_MAX - 1);
        return CHURN_ETOOBIG;
    }
    churn__copy(alert->snooze_reason, sizeof(alert->snooze_reason), reason);
    alert->snoozed_until_ms = until_ms;
    alert->status = CHURN_STATUS_SNOOZED;
    alert->change = CHURN_CHANGE_SNOOZED;
    touch(alert, now_ms);
    return CHURN_OK;
}

bool
churn_alert_wake(struct churn_alert *alert, int64_t now_ms)
{
    if (alert->status != CHURN_STATUS_SNOOZED || now_ms < alert->snoozed_until_ms)
        return false;
    alert->status = CHURN_STATUS_OPEN;
    alert->snoozed_until_ms = 0;
    alert->change = CHURN_CHANGE_WOKEN;
    touch(alert, now_ms);
    return true;
}

enum churn_err
churn_alert_record_action_call(struct churn_alert *alert, int http_status, unsigned attempts,
                               int64_t called_ms, int64_t now_ms, char *errbuf, size_t errlen)
{
    if (!alert->action.webhook[0]) {
        churn_errf(errbuf, errlen, "alert %llu names no webhook action",
                   (unsigned long long)alert->id);
        return CHURN_EPRECOND;
    }
    if (alert->action_call.http_status) {
        churn_errf(errbuf, errlen, "alert %llu: the call to %s is already recorded",
                   (unsigned long long)alert->id, alert->action.webhook);
        return CHURN_EEXIST;
    }
    if (http_status < 200 || http_status > 299 || attempts < 1 || called_ms <= 0) {
        churn_errf(errbuf, errlen, "action call: status %d, %u attempts, time %lld out of range",
                   http_status, attempts, (long long)called_ms);
        return CHURN_EINVAL;
    }
    alert->action_call.http_status = http_status;
    alert->action_call.attempts = attempts;
    alert->action_call.called_ms = called_ms;
    alert->change = CHURN_CHANGE_ACTION_CALLED;
    touch(alert, now_ms);
    return CHURN_OK;
}

enum churn_err
churn_alert_close(struct churn_alert *alert, enum churn_alert_resolution resolution, int64_t now_ms,
                  char *errbuf, size_t errlen)
{
    if (closed_error(alert, "close", errbuf, errlen))
        return CHURN_EPRECOND;
    if (resolution < CHURN_RESOLUTION_SAVED || resolution > CHURN_RESOLUTION_AUTO_CLEARED) {
        churn_errf(errbuf, errlen,
                   "resolution: unknown value %d (saved, lost, not_actionable, auto_cleared)",
                   (int)resolution);
        return CHURN_EINVAL;
    }
    alert->status = CHURN_STATUS_CLOSED;
    alert->resolution = resolution;
    alert->closed_ms = now_ms;
    alert->snoozed_until_ms = 0;
    alert->change = CHURN_CHANGE_CLOSED;
    touch(alert, now_ms);
    return CHURN_OK;
}

static bool
currency_ok(const char *c)
{
    if (!c[0])
        return true;
    if (strlen(c) != 3)
        return false;
    for (int i = 0; i < 3; i++)
        if (c[i] < 'A' || c[i] > 'Z')
            return false;
    return true;
}

enum churn_err
churn_alert_record_outcome(struct churn_alert *alert, const struct churn_alert_outcome *o,
                           int64_t now_ms, char *errbuf, size_t errlen)
{
    const char *currency = o->currency ? o->currency : "";
    const char *actor = o->actor ? o->actor : "";
    if (o->outcome < CHURN_OUTCOME_UNKNOWN || o->outcome > CHURN_OUTCOME_CHURNED) {
        churn_errf(errbuf, errlen, "outcome: unknown value %d", (int)o->outcome);
        return CHURN_EINVAL;
    }
    if (o->intervention < CHURN_ACTION_NONE || o->intervention >= CHURN_ACTION_COUNT) {
        churn_errf(errbuf, errlen, "intervention: unknown action kind %d", (int)o->intervention);
        return CHURN_EINVAL;
    }
    if (!isfinite(o->revenue) || o->revenue < 0) {
        churn_errf(errbuf, errlen, "revenue: must be finite and >= 0");
        return CHURN_EINVAL;
    }
    if (!currency_ok(currency)) {
        churn_errf(errbuf, errlen, "currency: expected an ISO 4217 code like EUR, got \"%.16s\"",
                   currency);
        return CHURN_EINVAL;
    }
    if (o->observed_ms <= 0) {
        churn_errf(errbuf, errlen, "observed_at_ms: must be a positive unix time in ms");
        return CHURN_EINVAL;
    }
    if (strlen(actor) >= sizeof(alert->outcome_actor)) {
        churn_errf(errbuf, errlen, "actor: longer than %zu bytes",
                   sizeof(alert->outcome_actor) - 1);
        return CHURN_ETOOBIG;
    }
    alert->has_outcome = true;
    alert->outcome = o->outcome;
    alert->outcome_intervention = o->intervention;
    alert->outcome_revenue = o->revenue;
    churn__copy(alert->outcome_currency, sizeof(alert->outcome_currency), currency);
    churn__copy(alert->outcome_actor, sizeof(alert->outcome_actor), actor);
    alert->outcome_observed_ms = o->observed_ms;
    alert->change = CHURN_CHANGE_OUTCOME_RECORDED;
    touch(alert, now_ms);
    return CHURN_OK;
}

char *
churn_alert_summary(const struct churn_alert *a, char *out, size_t outlen)
{
    char seg[48];
    size_t n = 0;
    if (outlen == 0)
        return out;
    out[0] = '\0';
#define APPEND(...)                                                                                \
    do {                                                                                           \
        if (n < outlen) {                                                                          \
            int w_ = snprintf(out + n, outlen - n, __VA_ARGS__);                                   \
            n = w_ < 0 ? outlen : n + (size_t)w_;                                                  \
        }                                                                                          \
    } while (0)
    APPEND("#%llu %s %s %s %s p=%.2f (was %.2f) priority=%.2f", (unsigned long long)a->id,
           a->customer_id, churn_alert_cause_name(a->cause), churn_alert_status_name(a->status),
           churn_segment_name(a->risk_tier, a->value_tier, seg, sizeof(seg)), a->probability,
           a->probability_before, a->priority);
    if (a->status == CHURN_STATUS_CLOSED)
        APPEND(" resolution=%s", churn_alert_resolution_name(a->resolution));
    if (a->holdout)
        APPEND(" holdout=%s", a->playbook_id);
    else if (a->action.kind != CHURN_ACTION_NONE)
        APPEND(" action=%s", churn_action_kind_name(a->action.kind));
    if (a->owner[0])
        APPEND(" owner=%s", a->owner);
    for (uint32_t i = 0; i < a->n_moved && i < CHURN_ALERT_MAX_MOVED; i++)
        APPEND(" %s %s", i == 0 ? "|" : ";", a->moved[i].sentence);
    if (a->chat_evidence[0])
        APPEND(" | \"%s\"", a->chat_evidence);
    if (a->n_stale)
        APPEND(" | stale: %u source(s)", a->n_stale);
#undef APPEND
    return out;
}

/* ---- encoding ---- */

/* Format 1 did not record the change: the best reading of a revision's status. */
static enum churn_alert_change
change_of_v1(const struct churn_alert *a)
{
    if (a->status == CHURN_STATUS_CLOSED)
        return CHURN_CHANGE_CLOSED;
    if (a->status == CHURN_STATUS_SNOOZED)
        return CHURN_CHANGE_SNOOZED;
    if (a->revision <= 1)
        return CHURN_CHANGE_RAISED;
    if (a->status == CHURN_STATUS_ACKNOWLEDGED)
        return CHURN_CHANGE_ACKNOWLEDGED;
    return CHURN_CHANGE_UPDATED;
}

static bool
alert_valid(const struct churn_alert *a)
{
    if (!cause_ok(a->cause) || a->status < CHURN_STATUS_OPEN || a->status > CHURN_STATUS_CLOSED)
        return false;
    if (a->resolution < CHURN_RESOLUTION_NONE || a->resolution > CHURN_RESOLUTION_AUTO_CLEARED)
        return false;
    if ((a->status == CHURN_STATUS_CLOSED) != (a->resolution != CHURN_RESOLUTION_NONE))
        return false;
    if (a->risk_tier < 0 || a->risk_tier > CHURN_TIER_HIGH || a->risk_tier_before < 0 ||
        a->risk_tier_before > CHURN_TIER_HIGH || a->value_tier < 0 ||
        a->value_tier > CHURN_TIER_HIGH)
        return false;
    if (a->action.kind < CHURN_ACTION_NONE || a->action.kind >= CHURN_ACTION_COUNT)
        return false;
    if (a->change < CHURN_CHANGE_RAISED || a->change > CHURN_CHANGE_ACTION_CALLED)
        return false;
    if (!churn__terminated(a->action.webhook, sizeof(a->action.webhook)) ||
        (a->action_call.http_status != 0 &&
         (!a->action.webhook[0] || a->action_call.http_status < 200 ||
          a->action_call.http_status > 299 || a->action_call.attempts < 1)))
        return false;
    if (a->has_outcome &&
        (a->outcome < CHURN_OUTCOME_UNKNOWN || a->outcome > CHURN_OUTCOME_CHURNED ||
         a->outcome_intervention < CHURN_ACTION_NONE ||
         a->outcome_intervention >= CHURN_ACTION_COUNT || !isfinite(a->outcome_revenue) ||
         a->outcome_revenue < 0 || !churn__terminated(a->outcome_currency, 8) ||
         !churn__terminated(a->outcome_actor, CHURN_ALERT_ACTOR_MAX)))
        return false;
    if (a->n_reasons > CHURN_ALERT_MAX_REASONS || a->n_moved > CHURN_ALERT_MAX_MOVED ||
        a->n_stale > CHURN_ALERT_MAX_STALE)
        return false;
    if (!a->customer_id[0] || !churn__terminated(a->customer_id, sizeof(a->customer_id)))
        return false;
    const double nums[] = {a->probability, a->probability_before, a->value, a->priority,
                           a->action.coupon_value};
    for (size_t i = 0; i < NELEM(nums); i++)
        if (!isfinite(nums[i]))
            return false;
    return true;
}

#define FIELD_OK(f) churn__terminated((f), sizeof(f))

enum churn_err
churn_alert_encode(const struct churn_alert *a, uint8_t *out, size_t cap, size_t *len)
{
    if (!alert_valid(a))
        return CHURN_EINVAL;
    bool strs_ok = FIELD_OK(a->action.detail) && FIELD_OK(a->playbook_id) && FIELD_OK(a->owner) &&
                   FIELD_OK(a->snooze_reason) && FIELD_OK(a->ack_actor) &&
                   FIELD_OK(a->ack_action) && FIELD_OK(a->chat_reason) &&
                   FIELD_OK(a->chat_evidence) && FIELD_OK(a->note) && FIELD_OK(a->action.webhook);
    for (uint32_t i = 0; i < a->n_reasons; i++)
        strs_ok = strs_ok && FIELD_OK(a->reasons[i].feature) && FIELD_OK(a->reasons[i].label) &&
                  isfinite(a->reasons[i].value) && isfinite(a->reasons[i].contribution);
    for (uint32_t i = 0; i < a->n_moved; i++)
        strs_ok = strs_ok && FIELD_OK(a->moved[i].feature) && FIELD_OK(a->moved[i].label) &&
                  FIELD_OK(a->moved[i].sentence);
    for (uint32_t i = 0; i < a->n_stale; i++)
        strs_ok = strs_ok && churn__terminated(a->stale[i], CHURN_ALERT_NAME_MAX);
    if (!strs_ok)
        return CHURN_EINVAL;

    struct churn__wr w = {.p = out, .cap = cap};
    churn__wr_u8(&w, CHURN_ALERT_FORMAT_VERSION);
    churn__wr_u64(&w, a->id);
    churn__wr_u64(&w, a->sequence);
    churn__wr_u32(&w, a->revision);
    churn__wr_str(&w, a->customer_id);
    churn__wr_u8(&w, (uint8_t)a->cause);
    churn__wr_u8(&w, (uint8_t)a->status);
    churn__wr_u8(&w, (uint8_t)a->resolution);
    churn__wr_i64(&w, a->created_ms);
    churn__wr_i64(&w, a->updated_ms);
    churn__wr_f64(&w, a->probability);
    churn__wr_f64(&w, a->probability_before);
    churn__wr_u8(&w, (uint8_t)a->risk_tier);
    churn__wr_u8(&w, (uint8_t)a->risk_tier_before);
    churn__wr_u8(&w, (uint8_t)a->value_tier);
    churn__wr_f64(&w, a->value);
    churn__wr_f64(&w, a->priority);
    churn__wr_u8(&w, (uint8_t)a->n_reasons);
    for (uint32_t i = 0; i < a->n_reasons; i++) {
        churn__wr_str(&w, a->reasons[i].feature);
        churn__wr_str(&w, a->reasons[i].label);
        churn__wr_f64(&w, a->reasons[i].value);
        churn__wr_f64(&w, a->reasons[i].contribution);
    }
    churn__wr_u8(&w, (uint8_t)a->n_moved);
    for (uint32_t i = 0; i < a->n_moved; i++) {
        churn__wr_str(&w, a->moved[i].feature);
        churn__wr_str(&w, a->moved[i].label);
        churn__wr_f64(&w, a->moved[i].before);
        churn__wr_f64(&w, a->moved[i].after);
        churn__wr_f64(&w, a->moved[i].contribution_delta);
        churn__wr_str(&w, a->moved[i].sentence);
    }
    churn__wr_u8(&w, (uint8_t)a->n_stale);
    for (uint32_t i = 0; i < a->n_stale; i++)
        churn__wr_str(&w, a->stale[i]);
    churn__wr_u8(&w, (uint8_t)a->action.kind);
    churn__wr_str(&w, a->action.detail);
    churn__wr_f64(&w, a->action.coupon_value);
    churn__wr_str(&w, a->playbook_id);
    churn__wr_u8(&w, a->holdout ? 1 : 0);
    churn__wr_str(&w, a->owner);
    churn__wr_i64(&w, a->due_at_ms);
    churn__wr_i64(&w, a->snoozed_until_ms);
    churn__wr_str(&w, a->snooze_reason);
    churn__wr_str(&w, a->ack_actor);
    churn__wr_str(&w, a->ack_action);
    churn__wr_i64(&w, a->closed_ms);
    churn__wr_str(&w, a->chat_reason);
    churn__wr_str(&w, a->chat_evidence);
    /* format 2 */
    churn__wr_u8(&w, (uint8_t)a->change);
    churn__wr_u32(&w, a->trigger_count);
    churn__wr_i64(&w, a->ack_ms);
    churn__wr_str(&w, a->note);
    churn__wr_u8(&w, a->has_outcome ? 1 : 0);
    if (a->has_outcome) {
        churn__wr_u8(&w, (uint8_t)a->outcome);
        churn__wr_u8(&w, (uint8_t)a->outcome_intervention);
        churn__wr_f64(&w, a->outcome_revenue);
        churn__wr_str(&w, a->outcome_currency);
        churn__wr_str(&w, a->outcome_actor);
        churn__wr_i64(&w, a->outcome_observed_ms);
    }
    /* format 3: the playbook's webhook action (issue 15) */
    churn__wr_str(&w, a->action.webhook);
    churn__wr_u32(&w, (uint32_t)a->action_call.http_status);
    churn__wr_u32(&w, a->action_call.attempts);
    churn__wr_i64(&w, a->action_call.called_ms);
    if (w.overflow)
        return CHURN_ETOOBIG;
    *len = w.len;
    return CHURN_OK;
}

enum churn_err
churn_alert_decode(const uint8_t *data, size_t len, struct churn_alert *alert)
{
    struct churn__rd r = {.p = data, .len = len};
    uint8_t version = data && len ? churn__rd_u8(&r) : 0;
    if (version < 1 || version > CHURN_ALERT_FORMAT_VERSION)
        return CHURN_ECORRUPT;
    struct churn_alert a; /* scratch, so that @alert stays untouched on error */
    memset(&a, 0, sizeof(a));
    a.id = churn__rd_u64(&r);
    a.sequence = churn__rd_u64(&r);
    a.revision = churn__rd_u32(&r);
    churn__rd_str(&r, a.customer_id, sizeof(a.customer_id));
    a.cause = churn__rd_u8(&r);
    a.status = churn__rd_u8(&r);
    a.resolution = churn__rd_u8(&r);
    a.created_ms = churn__rd_i64(&r);
    a.updated_ms = churn__rd_i64(&r);
    a.probability = churn__rd_f64(&r);
    a.probability_before = churn__rd_f64(&r);
    a.risk_tier = churn__rd_u8(&r);
    a.risk_tier_before = churn__rd_u8(&r);
    a.value_tier = churn__rd_u8(&r);
    a.value = churn__rd_f64(&r);
    a.priority = churn__rd_f64(&r);
    a.n_reasons = churn__rd_u8(&r);
    if (a.n_reasons > CHURN_ALERT_MAX_REASONS)
        return CHURN_ECORRUPT;
    for (uint32_t i = 0; i < a.n_reasons; i++) {
        churn__rd_str(&r, a.reasons[i].feature, sizeof(a.reasons[i].feature));
        churn__rd_str(&r, a.reasons[i].label, sizeof(a.reasons[i].label));
        a.reasons[i].value = churn__rd_f64(&r);
        a.reasons[i].contribution = churn__rd_f64(&r);
    }
    a.n_moved = churn__rd_u8(&r);
    if (a.n_moved > CHURN_ALERT_MAX_MOVED)
        return CHURN_ECORRUPT;
    for (uint32_t i = 0; i < a.n_moved; i++) {
        churn__rd_str(&r, a.moved[i].feature, sizeof(a.moved[i].feature));
        churn__rd_str(&r, a.moved[i].label, sizeof(a.moved[i].label));
        a.moved[i].before = churn__rd_f64_any(&r);
        a.moved[i].after = churn__rd_f64_any(&r);
        a.moved[i].contribution_delta = churn__rd_f64(&r);
        churn__rd_str(&r, a.moved[i].sentence, sizeof(a.moved[i].sentence));
    }
    a.n_stale = churn__rd_u8(&r);
    if (a.n_stale > CHURN_ALERT_MAX_STALE)
        return CHURN_ECORRUPT;
    for (uint32_t i = 0; i < a.n_stale; i++)
        churn__rd_str(&r, a.stale[i], CHURN_ALERT_NAME_MAX);
    a.action.kind = churn__rd_u8(&r);
    churn__rd_str(&r, a.action.detail, sizeof(a.action.detail));
    a.action.coupon_value = churn__rd_f64(&r);
    churn__rd_str(&r, a.playbook_id, sizeof(a.playbook_id));
    uint8_t holdout = churn__rd_u8(&r);
    a.holdout = holdout == 1;
    churn__rd_str(&r, a.owner, sizeof(a.owner));
    a.due_at_ms = churn__rd_i64(&r);
    a.snoozed_until_ms = churn__rd_i64(&r);
    churn__rd_str(&r, a.snooze_reason, sizeof(a.snooze_reason));
    churn__rd_str(&r, a.ack_actor, sizeof(a.ack_actor));
    churn__rd_str(&r, a.ack_action, sizeof(a.ack_action));
    a.closed_ms = churn__rd_i64(&r);
    churn__rd_str(&r, a.chat_reason, sizeof(a.chat_reason));
    churn__rd_str(&r, a.chat_evidence, sizeof(a.chat_evidence));
    uint8_t has_outcome = 0;
    if (version >= 2) {
        a.change = churn__rd_u8(&r);
        a.trigger_count = churn__rd_u32(&r);
        a.ack_ms = churn__rd_i64(&r);
        churn__rd_str(&r, a.note, sizeof(a.note));
        has_outcome = churn__rd_u8(&r);
        if (has_outcome == 1) {
            a.has_outcome = true;
            a.outcome = churn__rd_u8(&r);
            a.outcome_intervention = churn__rd_u8(&r);
            a.outcome_revenue = churn__rd_f64(&r);
            churn__rd_str(&r, a.outcome_currency, sizeof(a.outcome_currency));
            churn__rd_str(&r, a.outcome_actor, sizeof(a.outcome_actor));
            a.outcome_observed_ms = churn__rd_i64(&r);
        }
    } else {
        a.change = change_of_v1(&a);
        a.trigger_count = 1;
    }
    if (version >= 3) {
        churn__rd_str(&r, a.action.webhook, sizeof(a.action.webhook));
        a.action_call.http_status = (int32_t)churn__rd_u32(&r);
        a.action_call.attempts = churn__rd_u32(&r);
        a.action_call.called_ms = churn__rd_i64(&r);
    }
    if (r.bad || r.off != r.len || holdout > 1 || has_outcome > 1 || !alert_valid(&a))
        return CHURN_ECORRUPT;
    *alert = a;
    return CHURN_OK;
}
