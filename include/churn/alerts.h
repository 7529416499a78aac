/*
 * churn/alerts.h - the early-warning domain core: segments (risk and value tiers, priority),
 * the alert record and its life cycle, the rules that turn two consecutive scores and a chat
 * signal into triggers ("what moved", stale sources, de-duplication, cooldown, auto-close),
 * holdout assignment, outcome statistics and the compact versioned byte encodings the store
 * persists. Pure C: no I/O, no gRPC, protobuf or LMDB. Playbooks are in
 * churn/alerts_playbook.h and the subscriber fan-out hub in churn/alerts_hub.h.
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
 * Segments
 * ====================================================================================== */

enum churn_risk_mode {
    CHURN_RISK_BY_THRESHOLD = 1, /* fixed probability cut-offs */
    CHURN_RISK_BY_TOP_SHARE = 2, /* the top k% of a score distribution */
};

struct churn_segment_config {
    enum churn_risk_mode risk_mode;
    enum churn_risk_mode value_mode; /* THRESHOLD or TOP_SHARE, like risk_mode (0: TOP_SHARE) */
    double value_high_min;           /* THRESHOLD: value >= this is high */
    double value_medium_min;         /* THRESHOLD: value >= this is medium */
    double risk_high_min;      /* THRESHOLD: P >= this is high (0 < medium_min <= high_min < 1) */
    double risk_medium_min;    /* THRESHOLD: P >= this is medium */
    double risk_high_share;    /* TOP_SHARE: the top share of scores is high (e.g. 0.10) */
    double risk_medium_share;  /* TOP_SHARE: the next share is medium (e.g. 0.20) */
    double value_high_share;   /* the top share of values is high (default 0.20) */
    double value_medium_share; /* the next share is medium (default 0.30) */
};

/*
 * struct churn_segments - computed cut-offs. A probability p is HIGH when p >= risk_high_cut,
 * MEDIUM when p >= risk_medium_cut, else LOW; a value likewise with the value cuts.
 */
struct churn_segments {
    double risk_high_cut;
    double risk_medium_cut;
    double value_high_cut;
    double value_medium_cut;
    uint32_t risk_sample_size;  /* how many scores the risk cuts came from (0: thresholds) */
    uint32_t value_sample_size; /* how many values the value cuts came from */
};

/**
 * churn_segment_config_default() - thresholds 0.6 / 0.3, top-share 10% / 20% (unused in
 * threshold mode), value tiers top 20% high and next 30% medium.
 */
void churn_segment_config_default(struct churn_segment_config *cfg);

/**
 * churn_segment_config_parse() - set the risk (@risk, may be NULL: unchanged) and value
 * (@value, may be NULL) tiering of @cfg from text: "threshold:HIGH,MEDIUM" (a probability,
 * or a customer value in currency units, at or above which a tier starts) or
 * "top:HIGH_SHARE,MEDIUM_SHARE" (the top share is high, the next share medium; shares in
 * (0, 1), summing below 1). CHURN_EINVAL with a message naming the spec and what is wrong;
 * @cfg untouched on error.
 */
enum churn_err churn_segment_config_parse(struct churn_segment_config *cfg, const char *risk,
                                          const char *value, char *errbuf, size_t errlen);

/**
 * churn_segments_initial() - cut-offs usable before any sample exists: the thresholds of a
 * threshold mode, else @fallback's cuts for that dimension. Sample sizes are 0.
 */
void churn_segments_initial(const struct churn_segment_config *cfg,
                            const struct churn_segments *fallback, struct churn_segments *out);

/**
 * churn_segments_compute() - cut-offs from @cfg and samples of current probabilities
 * (@probs, @n_probs; only read in TOP_SHARE mode) and customer values (@values, @n_values).
 * The samples are borrowed and not modified (the function sorts private copies). A share
 * cut is the sample value at rank ceil(n * (1 - share)) of the ascending order, so about
 * that share of the sample is at or above it (ties at a cut go to the higher tier).
 * Errors: CHURN_EINVAL for a bad config
 * (shares outside (0,1), shares summing to 1 or more, thresholds out of order), an empty
 * sample where one is needed or a NaN/negative value in a sample (@errbuf says which);
 * CHURN_ETOOBIG over 10 million samples; CHURN_ENOMEM. @out untouched on error.
 */
enum churn_err churn_segments_compute(const struct churn_segment_config *cfg, const double *probs,
                                      size_t n_probs, const double *values, size_t n_values,
                                      struct churn_segments *out, char *errbuf, size_t errlen);

/** churn_segments_risk_tier() - the risk tier of probability @p (NaN is LOW). */
enum churn_tier churn_segments_risk_tier(const struct churn_segments *seg, double p);

/** churn_segments_value_tier() - the value tier of customer value @value (NaN is LOW). */
enum churn_tier churn_segments_value_tier(const struct churn_segments *seg, double value);

/**
 * churn_priority() - expected revenue at risk, P(churn) x value. Non-finite or negative
 * inputs count as 0; @p is clamped to [0, 1].
 */
double churn_priority(double p, double value);

/**
 * churn_segment_cell() - the risk x value matrix cell as an index 0..8
 * ((risk - 1) * 3 + (value - 1)), or -1 when either tier is unspecified.
 */
int churn_segment_cell(enum churn_tier risk, enum churn_tier value);

/**
 * churn_segment_name() - "<risk>-risk/<value>-value" ("high-risk/high-value") into @out
 * (at least 32 bytes). Returns @out.
 */
char *churn_segment_name(enum churn_tier risk, enum churn_tier value, char *out, size_t outlen);

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

/* ======================================================================================
 * Rules: triggers, what moved, stale sources, de-duplication, cooldown, auto-close
 * ====================================================================================== */

struct churn_alert_rules_config {
    double probability_jump;        /* a rise by more than this triggers (default 0.15) */
    int64_t cooldown_ms;            /* after an alert closes, the same cause stays quiet */
    int64_t update_min_interval_ms; /* an open alert is updated at most this often */
    int64_t stale_after_ms;         /* a source with no event this long is stale */
    uint32_t max_moved;             /* what-moved items (<= CHURN_ALERT_MAX_MOVED) */
    double min_moved_delta;         /* ignore contribution changes below this */
};

/** churn_alert_rules_config_default() - jump 0.15, cooldown 24 h, updates at most every 15
 * min, stale after 14 days, 3 moved items, moved threshold 0.01. */
void churn_alert_rules_config_default(struct churn_alert_rules_config *cfg);

/** churn_alert_rules_config_check() - CHURN_EINVAL with a message for out-of-range fields. */
enum churn_err churn_alert_rules_config_check(const struct churn_alert_rules_config *cfg,
                                              char *errbuf, size_t errlen);

/*
 * struct churn_score_snapshot - one score of one customer, kept so the next score can be
 * compared with it. @contributions and @values are in the model's feature order and
 * @n_features long; @feature_set identifies that order (e.g. a hash of the model's feature
 * list) so two snapshots from different feature sets are never compared feature by feature.
 * Snapshots the caller builds may point anywhere; a decoded snapshot owns its arrays and
 * must be released with churn_score_snapshot_fini().
 */
struct churn_score_snapshot {
    int64_t scored_at_ms;
    double probability;
    enum churn_tier risk_tier;
    enum churn_tier value_tier;
    double value;
    uint64_t feature_set;
    /* the last model change this customer's scores went through and not yet told in an
     * alert: when (0: none), and the probability before and after it (the model's move, not
     * the customer's) */
    int64_t model_changed_ms;
    double model_from_probability, model_to_probability;
    uint32_t n_features;
    double *contributions;
    double *values;
};

/* struct churn_feature_label - how to talk about feature i: "logins" + "in 30 days". */
struct churn_feature_label {
    const char *name;   /* "logins_30d" */
    const char *label;  /* "logins" */
    const char *window; /* "in 30 days", or NULL/"" */
    /* optional: writes the sentence for feature @feature (i) moving from @before to @after
     * into @out and returns @out (e.g. churn_reason_moved_text); NULL: the generic
     * churn_alert_moved_sentence() from the label and window */
    char *(*sentence)(int feature, double before, double after, char *out, size_t outlen);
};

/* struct churn_chat_signal - what the conversation tracker decided for this turn. */
struct churn_chat_signal {
    bool escalate;
    const char *reason; /* escalation reason code, e.g. "hard_trigger" (may be NULL) */
    bool churn_intent;
    const char *evidence; /* the customer's words that triggered it (may be NULL) */
};

/* struct churn_alert_triggers - the causes that fired, as a bit set (1u << cause). */
struct churn_alert_triggers {
    unsigned causes;
    double jump; /* probability rise since the previous score (0 without one) */
};

/**
 * churn_alert_rules_evaluate() - which causes fire for the new score @cur given the previous
 * score @prev (NULL for a customer's first score: only chat causes can fire then) and the
 * chat signal @chat (NULL: none). TIER_WORSENED when the risk tier rose, PROBABILITY_JUMP
 * when the probability rose by more than the configured jump, CHAT_ESCALATION when
 * @chat->escalate, CHURN_INTENT when @chat->churn_intent. CHURN_EINVAL for a probability
 * outside [0,1] or an unspecified tier in @cur or @prev. @out untouched on error.
 */
enum churn_err churn_alert_rules_evaluate(const struct churn_alert_rules_config *cfg,
                                          const struct churn_score_snapshot *prev,
                                          const struct churn_score_snapshot *cur,
                                          const struct churn_chat_signal *chat,
                                          struct churn_alert_triggers *out);

/**
 * churn_alert_score_cause() - the one alert a new score raises or updates, from the causes
 * @t fired: TIER_WORSENED when the risk tier rose (its probability and the probability before
 * tell the jump too, so a rise that also jumped is one alert, not two); for a jump alone,
 * TIER_WORSENED again when @tier_alert_open (the customer's open TIER_WORSENED alert absorbs
 * the jump instead of a second alert being raised), else PROBABILITY_JUMP; else
 * CHURN_CAUSE_UNSPECIFIED (nothing). Chat causes are not score causes.
 */
enum churn_alert_cause churn_alert_score_cause(const struct churn_alert_triggers *t,
                                               bool tier_alert_open);

/**
 * churn_alert_what_moved() - the features whose contributions changed most (by absolute
 * change, at least cfg->min_moved_delta, at most cfg->max_moved) between @prev and @cur,
 * written into @alert->moved (replacing what was there) with a sentence each, using
 * @labels[i] for feature i (@n_labels must equal the snapshots' n_features). Snapshots from
 * different feature sets give no items (not an error). CHURN_EINVAL for a size mismatch,
 * CHURN_ETOOBIG when a label does not fit.
 */
enum churn_err churn_alert_what_moved(const struct churn_alert_rules_config *cfg,
                                      const struct churn_score_snapshot *prev,
                                      const struct churn_score_snapshot *cur,
                                      const struct churn_feature_label *labels, size_t n_labels,
                                      struct churn_alert *alert);

/**
 * churn_alert_moved_sentence() - "<label> fell|rose from <before> to <after>[ <window>]:
 * <+delta>" or "<label> unchanged at <v>...: <+delta>" into @out; a missing (NaN) value is
 * said in words: "now known: <after>", "no longer known (was <before>)", "still unknown". Numbers
 * are printed with up to 6 significant digits, the delta with a sign and two decimals. Returns
 * @out; the text is cut at @outlen - 1 bytes.
 */
char *churn_alert_moved_sentence(const char *label, const char *window, double before, double after,
                                 double delta, char *out, size_t outlen);

/* struct churn_source_freshness - the last event time of one data source (0: never). */
struct churn_source_freshness {
    const char *source; /* "logins", "orders", "tickets", "reviews", "chat" */
    int64_t last_event_ms;
};

/**
 * churn_alert_mark_stale() - add to @alert->stale every source in @sources with no event in
 * the last cfg->stale_after_ms before @now_ms (never-seen sources are stale too), replacing
 * what was there. CHURN_ETOOBIG when more than CHURN_ALERT_MAX_STALE are stale or a name is
 * too long (@alert->stale is then left with the ones that fitted).
 */
enum churn_err churn_alert_mark_stale(const struct churn_alert_rules_config *cfg,
                                      const struct churn_source_freshness *sources,
                                      size_t n_sources, int64_t now_ms, struct churn_alert *alert);

/*
 * struct churn_alert_state - per customer and cause, what de-duplication and cooldown need.
 * A zeroed struct is "never alerted".
 */
struct churn_alert_state {
    uint64_t open_id;          /* id of the open (not closed) alert, 0 when none */
    uint64_t last_sequence;    /* log sequence of the alert's latest revision */
    int64_t last_alert_ms;     /* when an alert was last raised or updated */
    int64_t closed_ms;         /* when the last alert closed (cooldown start) */
    enum churn_tier last_tier; /* risk tier at the last raise or update */
    int64_t snoozed_until_ms;  /* the open alert is snoozed until then */
};

enum churn_alert_decision {
    CHURN_ALERT_RAISE = 1,             /* no open alert: raise a new one */
    CHURN_ALERT_UPDATE = 2,            /* fold into the open alert (new revision) */
    CHURN_ALERT_SUPPRESS_COOLDOWN = 3, /* too soon after the last one */
    CHURN_ALERT_SUPPRESS_SNOOZED = 4,  /* the open alert is snoozed */
};

/**
 * churn_alert_decide() - what to do with a trigger for a customer and cause whose state is
 * @state (NULL: never alerted) at @now_ms, with the new risk tier @tier. An open, snoozed
 * alert stays quiet until its time; an open alert is updated, at most every
 * update_min_interval_ms unless the risk tier rose since its last update; with no open alert
 * a new one is raised unless the last one closed less than cooldown_ms ago.
 */
enum churn_alert_decision churn_alert_decide(const struct churn_alert_rules_config *cfg,
                                             const struct churn_alert_state *state,
                                             enum churn_tier tier, int64_t now_ms);

/**
 * churn_alert_state_record() - the state after @alert (raised, updated or changed by a
 * transition and appended to the log with its sequence) was stored: open id, sequence,
 * times, tier, snooze, and closed time if it was closed.
 */
void churn_alert_state_record(struct churn_alert_state *state, const struct churn_alert *alert);

/**
 * churn_alert_condition_cleared() - true when the condition that raised @alert no longer
 * holds for the new score @cur: TIER_WORSENED clears when the risk tier is back at or below
 * risk_tier_before; PROBABILITY_JUMP clears when the probability is less than half the
 * configured jump above probability_before (hysteresis, so it does not flap). Chat causes
 * never clear by themselves (a person closes them). Closed alerts return false. The caller
 * then closes the alert with CHURN_RESOLUTION_AUTO_CLEARED.
 */
bool churn_alert_condition_cleared(const struct churn_alert_rules_config *cfg,
                                   const struct churn_alert *alert,
                                   const struct churn_score_snapshot *cur);

/** churn_alert_state_encode() - CHURN_ALERT_STATE_ENCODED_SIZE bytes into @out (>= that). */
enum churn_err churn_alert_state_encode(const struct churn_alert_state *state, uint8_t *out,
                                        size_t cap, size_t *len);

/** churn_alert_state_decode() - CHURN_ECORRUPT for any bad input; @state untouched then. */
enum churn_err churn_alert_state_decode(const uint8_t *data, size_t len,
                                        struct churn_alert_state *state);

/**
 * churn_score_snapshot_encoded_size() - bytes churn_score_snapshot_encode() writes.
 */
size_t churn_score_snapshot_encoded_size(const struct churn_score_snapshot *snap);

/**
 * churn_score_snapshot_encode() - versioned encoding into @out. CHURN_ETOOBIG when @cap is
 * too small or over CHURN_SNAPSHOT_MAX_FEATURES, CHURN_EINVAL for a bad tier or probability.
 */
enum churn_err churn_score_snapshot_encode(const struct churn_score_snapshot *snap, uint8_t *out,
                                           size_t cap, size_t *len);

/**
 * churn_score_snapshot_decode() - parse into @snap; on success @snap owns heap arrays that
 * churn_score_snapshot_fini() releases. CHURN_ECORRUPT for bad input, CHURN_ENOMEM.
 */
enum churn_err churn_score_snapshot_decode(const uint8_t *data, size_t len,
                                           struct churn_score_snapshot *snap);

/** churn_score_snapshot_fini() - free a decoded snapshot's arrays; safe to call twice. */
void churn_score_snapshot_fini(struct churn_score_snapshot *snap);

/** churn_segments_encode() - versioned encoding of computed cut-offs (41 bytes). */
enum churn_err churn_segments_encode(const struct churn_segments *seg, uint8_t *out, size_t cap,
                                     size_t *len);

/** churn_segments_decode() - CHURN_ECORRUPT for bad input (also cuts out of order). */
enum churn_err churn_segments_decode(const uint8_t *data, size_t len, struct churn_segments *seg);

/* ======================================================================================
 * Holdouts and outcomes
 * ====================================================================================== */

/**
 * churn_holdout_hash() - 64-bit FNV-1a over the customer id bytes, one 0x00 byte and the
 * playbook id bytes, followed by the splitmix64 finaliser (FNV-1a alone mixes short,
 * similar keys poorly in its high bits). Depends on nothing else: stable across restarts,
 * hosts and releases.
 */
uint64_t churn_holdout_hash(const char *customer_id, const char *playbook_id);

/**
 * churn_holdout_assign() - true when @customer_id falls in the control group of playbook
 * @playbook_id with holdout share @share: (hash >> 11) / 2^53 < share. A share <= 0 holds
 * out nobody.
 */
bool churn_holdout_assign(const char *customer_id, const char *playbook_id, double share);

/* struct churn_outcome_record - one recorded outcome of one alerted customer. */
struct churn_outcome_record {
    char customer_id[CHURN_ALERT_ID_MAX];
    char playbook_id[CHURN_ALERT_NAME_MAX];
    bool holdout;
    enum churn_outcome outcome;
    double value; /* the customer's value (for revenue retained) */
    int64_t recorded_ms;
};

/*
 * struct churn_outcome_stats - one playbook's experiment. Rates are retained / decided,
 * UNKNOWN outcomes are excluded. diff = treatment rate - control rate with a 95% confidence
 * interval by Newcombe's hybrid score method (method 10, from two Wilson intervals);
 * NaN where a group has no decided outcome. revenue_retained = diff x treated decided x
 * mean value of the treated customers (0 when diff is NaN).
 */
struct churn_outcome_stats {
    char playbook_id[CHURN_ALERT_NAME_MAX];
    uint64_t treated, treated_retained, treated_unknown;
    uint64_t control, control_retained, control_unknown;
    double treated_rate, control_rate;
    double diff, diff_low, diff_high;
    double treated_mean_value;
    double revenue_retained;
};

/**
 * churn_wilson_interval() - the 95% Wilson score interval of @successes out of @n (n > 0)
 * into *@low, *@high. CHURN_EINVAL for n == 0 or successes > n.
 */
enum churn_err churn_wilson_interval(uint64_t successes, uint64_t n, double *low, double *high);

/**
 * churn_outcomes_compute() - per playbook (in order of first appearance in @records),
 * statistics into @out (caller array of @out_cap). Records with an empty playbook id are
 * skipped. Sets *@n_out. CHURN_ETOOBIG when more than @out_cap playbooks appear,
 * CHURN_EINVAL for a bad outcome value or a negative or non-finite value. Pure: borrows
 * @records.
 */
enum churn_err churn_outcomes_compute(const struct churn_outcome_record *records, size_t n,
                                      struct churn_outcome_stats *out, size_t out_cap,
                                      size_t *n_out);

/** churn_outcome_encode() - versioned encoding (at most 256 bytes) into @out. */
enum churn_err churn_outcome_encode(const struct churn_outcome_record *rec, uint8_t *out,
                                    size_t cap, size_t *len);

/** churn_outcome_decode() - CHURN_ECORRUPT for bad input; @rec untouched then. */
enum churn_err churn_outcome_decode(const uint8_t *data, size_t len,
                                    struct churn_outcome_record *rec);

#endif
