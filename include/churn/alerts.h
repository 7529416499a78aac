/*
 * churn/alerts.h - the early-warning domain core: the caps and enumerations every alert
 * module shares, and the alert record with its life cycle and versioned byte encoding. Pure C:
 * no I/O, no gRPC, protobuf or LMDB. The rest of the domain, by concept: segments (risk and
 * value tiers, priority) in churn/segments.h; the rules that turn two consecutive scores and
 * a chat signal into triggers in churn/alert_rules.h; holdouts and outcome statistics in
 * churn/outcomes.h; playbooks in churn/alerts_playbook.h; the subscriber fan-out hub in
 * churn/alerts_hub.h.
 *
 * An alert record is a fixed-size value (no pointers) so it can be copied, published into
 * the hub's ring and encoded without allocation. Every string field has a byte cap; setters
 * refuse longer input with CHURN_ETOOBIG instead of truncating silently.
 */
#ifndef CHURN_ALERTS_H
#define CHURN_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"

/* ---- caps (bytes include the terminating NUL) ---- */
#define CHURN_ALERT_ID_MAX        129u  /* customer id: CHURN_ID_MAX (128) bytes + NUL */
#define CHURN_ALERT_NAME_MAX      64u   /* feature, source, playbook id, owner, actor */
#define CHURN_ALERT_LABEL_MAX     128u  /* human feature label */
#define CHURN_ALERT_ACTOR_MAX     129u  /* who acknowledged or recorded an outcome: 128 + NUL */
#define CHURN_ALERT_NOTE_MAX      1025u /* an actor's note: 1 KiB + NUL */
#define CHURN_ALERT_TEXT_MAX      512u  /* action detail, snooze reason, action taken, evidence */
#define CHURN_ALERT_MAX_REASONS   5u
#define CHURN_ALERT_MAX_MOVED     5u
#define CHURN_ALERT_MAX_STALE     8u
#define CHURN_ALERT_MAX_SNOOZE_MS (90LL * 86400LL * 1000LL) /* longest snooze */
#define CHURN_ALERT_ERRMSG        256u /* a good size for the errbuf arguments */

/* Encoding versions: the first byte of every persisted record. */
#define CHURN_ALERT_FORMAT_VERSION                                                                 \
    3 /* 1 (no change kind, no outcome) and 2 (no action call) decode */
#define CHURN_ALERT_STATE_VERSION     1
#define CHURN_SNAPSHOT_FORMAT_VERSION 2 /* 1 (no model change) still decodes */
#define CHURN_SEGMENTS_FORMAT_VERSION 1
#define CHURN_OUTCOME_FORMAT_VERSION  1
/* The largest encoding of one alert; a buffer this big always suffices. */
#define CHURN_ALERT_ENCODED_MAX        16384u
#define CHURN_ALERT_STATE_ENCODED_SIZE 42u
#define CHURN_SNAPSHOT_MAX_FEATURES    4096u

/* ---- enumerations (0 is always "unspecified", never a valid stored value) ---- */

enum churn_tier {
    CHURN_TIER_UNSPECIFIED = 0,
    CHURN_TIER_LOW = 1,
    CHURN_TIER_MEDIUM = 2,
    CHURN_TIER_HIGH = 3,
};

enum churn_alert_cause {
    CHURN_CAUSE_UNSPECIFIED = 0,
    CHURN_CAUSE_TIER_WORSENED = 1,
    CHURN_CAUSE_PROBABILITY_JUMP = 2,
    CHURN_CAUSE_CHAT_ESCALATION = 3,
    CHURN_CAUSE_CHURN_INTENT = 4,
};
#define CHURN_CAUSE_COUNT 5 /* one past the last cause */

enum churn_alert_status {
    CHURN_STATUS_UNSPECIFIED = 0,
    CHURN_STATUS_OPEN = 1,
    CHURN_STATUS_ACKNOWLEDGED = 2,
    CHURN_STATUS_SNOOZED = 3,
    CHURN_STATUS_CLOSED = 4,
};

enum churn_alert_resolution {
    CHURN_RESOLUTION_NONE = 0, /* not closed */
    CHURN_RESOLUTION_SAVED = 1,
    CHURN_RESOLUTION_LOST = 2,
    CHURN_RESOLUTION_NOT_ACTIONABLE = 3,
    CHURN_RESOLUTION_AUTO_CLEARED = 4,
};

enum churn_action_kind {
    CHURN_ACTION_NONE = 0, /* control group, or no playbook matched */
    CHURN_ACTION_COUPON = 1,
    CHURN_ACTION_EMAIL_CAMPAIGN = 2,
    CHURN_ACTION_CONSULTATION = 3,
    CHURN_ACTION_HUMAN_HANDOFF = 4,
    CHURN_ACTION_FEEDBACK_CALL = 5,
};
#define CHURN_ACTION_COUNT 6

enum churn_outcome {
    CHURN_OUTCOME_UNKNOWN = 0,
    CHURN_OUTCOME_RETAINED = 1,
    CHURN_OUTCOME_CHURNED = 2,
};

/* Which change a revision of an alert records (the values of the proto's AlertChange). */
enum churn_alert_change {
    CHURN_CHANGE_RAISED = 1,
    CHURN_CHANGE_UPDATED = 2,
    CHURN_CHANGE_ACKNOWLEDGED = 3,
    CHURN_CHANGE_SNOOZED = 4,
    CHURN_CHANGE_WOKEN = 5,
    CHURN_CHANGE_CLOSED = 6,
    CHURN_CHANGE_OUTCOME_RECORDED = 7,
    CHURN_CHANGE_ACTION_CALLED = 8, /* the playbook's webhook accepted the action (issue 15) */
};

/*
 * Names: lower-case words as they appear in playbooks and on the command line ("high",
 * "tier_worsened", "acknowledged", "not_actionable", "email_campaign", "retained").
 * The *_name() functions return a static string, "unspecified" for 0 and out-of-range values.
 * The parsers accept exactly those words (case-insensitive) and return CHURN_EINVAL for
 * anything else, including "unspecified"; the out-param is untouched on error.
 */
const char *churn_tier_name(enum churn_tier tier);
const char *churn_alert_cause_name(enum churn_alert_cause cause);
const char *churn_alert_status_name(enum churn_alert_status status);
const char *churn_alert_resolution_name(enum churn_alert_resolution resolution);
const char *churn_action_kind_name(enum churn_action_kind kind);
const char *churn_outcome_name(enum churn_outcome outcome);
enum churn_err churn_tier_parse(const char *text, enum churn_tier *out);
enum churn_err churn_alert_cause_parse(const char *text, enum churn_alert_cause *out);
enum churn_err churn_alert_status_parse(const char *text, enum churn_alert_status *out);
enum churn_err churn_alert_resolution_parse(const char *text, enum churn_alert_resolution *out);
enum churn_err churn_action_kind_parse(const char *text, enum churn_action_kind *out);
enum churn_err churn_outcome_parse(const char *text, enum churn_outcome *out);

/* ======================================================================================
 * The alert record
 * ====================================================================================== */

struct churn_alert_reason {
    char feature[CHURN_ALERT_NAME_MAX];
    char label[CHURN_ALERT_LABEL_MAX];
    double value;
    double contribution;
};

struct churn_alert_moved {
    char feature[CHURN_ALERT_NAME_MAX];
    char label[CHURN_ALERT_LABEL_MAX];
    double before;
    double after;
    double contribution_delta;
    /* "logins fell from 14 to 2 in 30 days: +0.21" */
    char sentence[CHURN_ALERT_TEXT_MAX];
};

struct churn_alert_action {
    enum churn_action_kind kind;
    char detail[CHURN_ALERT_TEXT_MAX];
    double coupon_value;                /* COUPON only; 0 otherwise */
    char webhook[CHURN_ALERT_NAME_MAX]; /* the --webhook the playbook calls when raised; "" none */
};

/* struct churn_action_call - the result of the playbook's webhook call (http_status 0: not yet). */
struct churn_action_call {
    int32_t http_status; /* of the answer the receiver accepted the call with (2xx) */
    uint32_t attempts;   /* attempts it took (1: the first) */
    int64_t called_ms;   /* when it was accepted */
};

/*
 * struct churn_alert - one alert as one revision. @id is the sequence of the alert's first
 * log entry and never changes; @sequence is the log sequence of this revision (0 until the
 * log assigns one); @revision counts changes from 1. Acknowledging, snoozing, closing or
 * updating an alert produces a new revision, which the lead appends to the log with a new
 * sequence, so the log is the alert's full history and WatchAlerts streams every change.
 */
struct churn_alert {
    uint64_t id;
    uint64_t sequence;
    uint32_t revision;
    char customer_id[CHURN_ALERT_ID_MAX];
    enum churn_alert_cause cause;
    enum churn_alert_status status;
    enum churn_alert_resolution resolution;
    int64_t created_ms;
    int64_t updated_ms;
    double probability;
    double probability_before; /* at the previous score (baseline for auto-close) */
    enum churn_tier risk_tier;
    enum churn_tier risk_tier_before; /* at the previous score (baseline for auto-close) */
    enum churn_tier value_tier;
    double value;
    double priority; /* expected revenue at risk */
    uint32_t n_reasons;
    struct churn_alert_reason reasons[CHURN_ALERT_MAX_REASONS];
    uint32_t n_moved;
    struct churn_alert_moved moved[CHURN_ALERT_MAX_MOVED];
    uint32_t n_stale;
    char stale[CHURN_ALERT_MAX_STALE][CHURN_ALERT_NAME_MAX];
    struct churn_alert_action action;
    char playbook_id[CHURN_ALERT_NAME_MAX]; /* "" when no playbook matched */
    bool holdout;                           /* control group: action.kind is NONE */
    char owner[CHURN_ALERT_NAME_MAX];
    int64_t due_at_ms; /* 0: no due date */
    int64_t snoozed_until_ms;
    char snooze_reason[CHURN_ALERT_TEXT_MAX];
    char ack_actor[CHURN_ALERT_ACTOR_MAX];
    char ack_action[CHURN_ALERT_TEXT_MAX];
    int64_t ack_ms;                  /* when it was (last) acknowledged; 0: never */
    char note[CHURN_ALERT_NOTE_MAX]; /* the acknowledging actor's note */
    uint32_t trigger_count;          /* triggers absorbed: 1 when raised, +1 per update */
    int64_t closed_ms;
    char chat_reason[CHURN_ALERT_NAME_MAX];   /* chat causes: the escalation reason code */
    char chat_evidence[CHURN_ALERT_TEXT_MAX]; /* chat causes: the customer's words */
    enum churn_alert_change change;           /* what this revision changed */
    /* the latest outcome recorded against the alert (has_outcome false: none) */
    bool has_outcome;
    enum churn_outcome outcome;
    enum churn_action_kind outcome_intervention;
    double outcome_revenue; /* >= 0, currency units */
    char outcome_currency[8];
    char outcome_actor[CHURN_ALERT_ACTOR_MAX];
    int64_t outcome_observed_ms;
    struct churn_action_call action_call; /* issue 15: the playbook's webhook action */
};

/**
 * churn_alert_init() - a new OPEN alert, revision 1, for @customer_id and @cause at @now_ms;
 * every other field zero. Errors: CHURN_EINVAL (empty id, unknown cause, @now_ms <= 0),
 * CHURN_ETOOBIG (id over CHURN_ALERT_ID_MAX - 1 bytes). @alert untouched on error.
 */
enum churn_err churn_alert_init(struct churn_alert *alert, const char *customer_id,
                                enum churn_alert_cause cause, int64_t now_ms);

/**
 * churn_alert_set_score() - record the score: probability, tiers, value, the baseline from
 * the previous score (@p_before, @tier_before; pass @p and @tier when there is none) and the
 * priority (computed here). CHURN_EINVAL for a probability outside [0,1], a bad tier or a
 * negative or non-finite value.
 */
enum churn_err churn_alert_set_score(struct churn_alert *alert, double p, enum churn_tier tier,
                                     double p_before, enum churn_tier tier_before,
                                     enum churn_tier value_tier, double value);

/**
 * churn_alert_add_reason() - append a top reason; the strings are copied.
 * CHURN_ETOOBIG when CHURN_ALERT_MAX_REASONS are already there or a string is too long;
 * CHURN_EINVAL for an empty feature name or non-finite numbers.
 */
enum churn_err churn_alert_add_reason(struct churn_alert *alert, const char *feature,
                                      const char *label, double value, double contribution);

/** churn_alert_add_stale() - append a stale source name (copied); caps as above. */
enum churn_err churn_alert_add_stale(struct churn_alert *alert, const char *source);

/**
 * churn_alert_set_chat() - the escalation reason code and evidence text of a chat cause
 * (both copied; @reason may be NULL). CHURN_EPRECOND for a non-chat cause, CHURN_ETOOBIG.
 */
enum churn_err churn_alert_set_chat(struct churn_alert *alert, const char *reason,
                                    const char *evidence);

/**
 * churn_alert_update() - fold a new trigger @fresh for the same customer and cause into the
 * open alert @alert: score, baseline, reasons, what moved, stale sources and chat evidence
 * are taken from @fresh; id, created time, status, owner, due date, playbook, holdout,
 * action, acknowledgement and snooze are kept. Bumps the revision and the update time.
 * Errors: CHURN_EINVAL (different customer or cause), CHURN_EPRECOND (@alert is closed).
 */
enum churn_err churn_alert_update(struct churn_alert *alert, const struct churn_alert *fresh,
                                  int64_t now_ms, char *errbuf, size_t errlen);

/**
 * churn_alert_acknowledge() - OPEN or SNOOZED -> ACKNOWLEDGED by @actor who took
 * @action_taken (copied; may be empty, not NULL). Errors with a message in @errbuf:
 * CHURN_EEXIST "alert N is already acknowledged by X", CHURN_EPRECOND when closed,
 * CHURN_EINVAL for an empty actor, CHURN_ETOOBIG. Bumps the revision on success.
 */
enum churn_err churn_alert_acknowledge(struct churn_alert *alert, const char *actor,
                                       const char *action_taken, int64_t now_ms, char *errbuf,
                                       size_t errlen);

/**
 * churn_alert_snooze() - OPEN or ACKNOWLEDGED (or SNOOZED: re-snooze) -> SNOOZED until
 * @until_ms with @reason (copied, required). Errors: CHURN_EPRECOND when closed,
 * CHURN_EINVAL when @until_ms <= @now_ms ("snooze time is in the past") or the reason is
 * empty, CHURN_ERANGE beyond CHURN_ALERT_MAX_SNOOZE_MS, CHURN_ETOOBIG.
 */
enum churn_err churn_alert_snooze(struct churn_alert *alert, int64_t until_ms, const char *reason,
                                  int64_t now_ms, char *errbuf, size_t errlen);

/**
 * churn_alert_wake() - a SNOOZED alert whose time has come (@now_ms >= snoozed_until_ms)
 * becomes OPEN again (new revision). Returns true when it changed the alert.
 */
bool churn_alert_wake(struct churn_alert *alert, int64_t now_ms);

/* struct churn_alert_outcome - what RecordOutcome says happened after an alert. */
struct churn_alert_outcome {
    enum churn_outcome outcome;
    enum churn_action_kind intervention; /* NONE: no intervention (e.g. a holdout) */
    double revenue;                      /* finite, >= 0 */
    const char *currency;                /* ISO 4217 (3 upper-case letters) or "" */
    const char *actor;                   /* may be "" */
    int64_t observed_ms;                 /* > 0 */
};

/**
 * churn_alert_record_outcome() - attach @o to @alert in any status (closed alerts included:
 * outcomes are usually known after closing); a later outcome replaces an earlier one. New
 * revision with change OUTCOME_RECORDED. Errors with a message naming the field:
 * CHURN_EINVAL (bad outcome, intervention, revenue, currency, time), CHURN_ETOOBIG (actor).
 */
enum churn_err churn_alert_record_outcome(struct churn_alert *alert,
                                          const struct churn_alert_outcome *o, int64_t now_ms,
                                          char *errbuf, size_t errlen);

/**
 * churn_alert_record_action_call() - the webhook named by @alert->action.webhook accepted the
 * action with HTTP @http_status (200..299) at @called_ms after @attempts (>= 1) attempts: new
 * revision with change ACTION_CALLED, in any status. Errors with a message: CHURN_EPRECOND when
 * the alert names no webhook, CHURN_EEXIST when a call is already recorded (a repeated
 * delivery after a restart), CHURN_EINVAL for a status, attempt count or time out of range.
 */
enum churn_err churn_alert_record_action_call(struct churn_alert *alert, int http_status,
                                              unsigned attempts, int64_t called_ms, int64_t now_ms,
                                              char *errbuf, size_t errlen);

/**
 * churn_alert_close() - any non-closed status -> CLOSED with @resolution. Errors:
 * CHURN_EPRECOND "alert N is already closed (saved)", CHURN_EINVAL for
 * CHURN_RESOLUTION_NONE or an unknown value.
 */
enum churn_err churn_alert_close(struct churn_alert *alert, enum churn_alert_resolution resolution,
                                 int64_t now_ms, char *errbuf, size_t errlen);

/**
 * churn_alert_summary() - one human line for logs and `churnctl alerts watch`, e.g.
 * "#12 cust-42 tier_worsened open high-risk/high-value p=0.72 (was 0.41) priority=864.00
 * action=consultation owner=success-team | logins fell from 14 to 2 in 30 days: +0.21"
 * into @out (cut at @outlen - 1 bytes). Returns @out.
 */
char *churn_alert_summary(const struct churn_alert *alert, char *out, size_t outlen);

/* ---- encoding ---- */

/**
 * churn_alert_encode() - the versioned byte encoding of @alert into @out (@cap bytes; at
 * most CHURN_ALERT_ENCODED_MAX are ever needed). Sets *@len. CHURN_ETOOBIG when @cap is too
 * small, CHURN_EINVAL when the alert violates its own invariants (bad enum, counts over caps,
 * unterminated strings).
 */
enum churn_err churn_alert_encode(const struct churn_alert *alert, uint8_t *out, size_t cap,
                                  size_t *len);

/**
 * churn_alert_decode() - parse @len bytes from churn_alert_encode(). Any unknown version,
 * truncation, trailing bytes, bad enum, count over a cap, over-long or NUL-containing string
 * or non-finite number is CHURN_ECORRUPT; @alert is untouched then.
 */
enum churn_err churn_alert_decode(const uint8_t *data, size_t len, struct churn_alert *alert);

#endif
