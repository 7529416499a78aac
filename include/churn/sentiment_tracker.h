/*
 * churn/sentiment_tracker.h - the conversation tracker: pure functions over a small state
 * struct that follow one support conversation turn by turn and decide when a human must take
 * over. Customer turns are scored; agent and bot turns are context only. Dissatisfaction
 * decays with time between customer turns and rises with negative turns; churn intent,
 * requests for a human and hard triggers escalate at once; dissatisfaction escalates above
 * a threshold that is lower for high-value or high-risk customers. Each cause escalates at
 * most once per conversation (hysteresis). No I/O: the state serializes to a compact,
 * versioned byte string that the store persists.
 */
#ifndef CHURN_SENTIMENT_TRACKER_H
#define CHURN_SENTIMENT_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"
#include "churn/sentiment.h"

enum churn_chat_role {
    CHURN_CHAT_ROLE_UNSPECIFIED = 0, /* refused */
    CHURN_CHAT_ROLE_CUSTOMER = 1,
    CHURN_CHAT_ROLE_AGENT = 2,
    CHURN_CHAT_ROLE_BOT = 3,
};

enum churn_chat_reason {
    CHURN_CHAT_REASON_NONE = 0,
    CHURN_CHAT_REASON_HARD_TRIGGER = 1,
    CHURN_CHAT_REASON_CHURN_INTENT = 2,
    CHURN_CHAT_REASON_HUMAN_REQUESTED = 3,
    CHURN_CHAT_REASON_DISSATISFACTION = 4,
};

/* Bit of a reason in masks: 1u << reason. */
#define CHURN_CHAT_REASON_BIT(r) (1u << (r))

/**
 * struct churn_chat_state - one conversation. Start from churn_chat_state_init(); change it
 * only through churn_chat_tracker_update() and churn_chat_state_decode().
 */
struct churn_chat_state {
    double dissatisfaction;        /* 0..1, decayed */
    uint32_t turns;                /* all turns */
    uint32_t customer_turns;       /* scored turns */
    uint32_t consecutive_negative; /* customer turns in a row with compound <= -0.05 */
    uint32_t churn_intent_mentions;
    bool churn_intent;           /* seen in this conversation */
    bool human_requested;        /* seen in this conversation */
    bool hard_trigger;           /* seen in this conversation */
    uint8_t escalated;           /* CHURN_CHAT_REASON_BIT() of causes already raised */
    uint8_t escalation_order[4]; /* those causes (enum churn_chat_reason), first escalation
                                  * first; 0 after the last */
    int64_t last_customer_ms;    /* time of the last customer turn; 0: none yet */
    int64_t last_turn_ms;        /* time of the last turn of any role; 0: none yet */
};

/**
 * struct churn_chat_policy - tuning; churn_chat_policy_default() gives the defaults.
 * @half_life_ms: dissatisfaction halves over this much time without customer turns.
 * @gain: how much of the remaining headroom one fully negative turn (compound -1) takes.
 * @relief: how much of the dissatisfaction one fully positive turn removes.
 * @threshold: escalate on dissatisfaction at or above this ...
 * @threshold_sensitive: ... or this, lower, for high-value or high-risk customers.
 * @negative_streak, @negative_streak_sensitive: ... or after this many negative customer
 *   turns in a row.
 * @high_risk: a churn probability at or above this makes a customer sensitive.
 */
struct churn_chat_policy {
    int64_t half_life_ms;
    double gain;
    double relief;
    double threshold;
    double threshold_sensitive;
    uint32_t negative_streak;
    uint32_t negative_streak_sensitive;
    double high_risk;
};

/**
 * struct churn_chat_customer_hint - what is known about the customer (from the scorer).
 * @churn_probability: calibrated P(churn) in [0, 1], or negative when no score exists.
 * @high_value: the customer is in the high value tier.
 */
struct churn_chat_customer_hint {
    double churn_probability;
    bool high_value;
};

/**
 * struct churn_chat_decision - the tracker's answer for one turn.
 * @escalate: a human must take over now; @reason the cause and @confidence in [0, 1].
 * @new_causes: CHURN_CHAT_REASON_BIT() of every cause that fired for the first time on this
 *   turn (the highest-priority one is @reason: hard trigger, churn intent, human, dissatisfaction).
 * @dissatisfaction: the state's value after the turn; @threshold the one that applied.
 */
struct churn_chat_decision {
    bool escalate;
    enum churn_chat_reason reason;
    double confidence;
    uint8_t new_causes;
    double dissatisfaction;
    double threshold;
};

/** churn_chat_policy_default() - the default policy (30 min half-life, threshold 0.6/0.45). */
struct churn_chat_policy churn_chat_policy_default(void);

/** churn_chat_state_init() - an empty conversation. */
void churn_chat_state_init(struct churn_chat_state *state);

/**
 * churn_chat_tracker_update() - feed one turn.
 * @state: updated in place on success, untouched on error.
 * @policy: NULL for churn_chat_policy_default().
 * @role: a customer turn is scored; agent and bot turns only count and stamp the time.
 * @result: the turn's analysis (required for customer turns, ignored otherwise).
 * @hint: may be NULL when nothing is known about the customer.
 * @now_ms: the turn's time, unix ms; a time before the previous turn decays nothing.
 * @out: OUT: the decision; untouched on error.
 *
 * Returns 0, or CHURN_EINVAL for an unknown role, a customer turn without a result, a
 * non-finite score or a bad policy.
 */
enum churn_err churn_chat_tracker_update(struct churn_chat_state *state,
                                         const struct churn_chat_policy *policy,
                                         enum churn_chat_role role,
                                         const struct churn_sentiment_result *result,
                                         const struct churn_chat_customer_hint *hint,
                                         int64_t now_ms, struct churn_chat_decision *out);

/**
 * churn_chat_state_dissatisfaction_at() - the dissatisfaction of @state decayed to @now_ms
 * (for the customer's chat features), without changing it.
 */
double churn_chat_state_dissatisfaction_at(const struct churn_chat_state *state,
                                           const struct churn_chat_policy *policy, int64_t now_ms);

/**
 * churn_chat_state_reasons() - the causes that have escalated in @state, in the order they
 * escalated (first escalation first; causes of one turn in priority order: hard trigger,
 * churn intent, human, dissatisfaction).
 * @out: OUT: room for 4 reasons. Returns how many were written (0 to 4).
 */
size_t churn_chat_state_reasons(const struct churn_chat_state *state,
                                enum churn_chat_reason out[4]);

#define CHURN_CHAT_STATE_VERSION  2
#define CHURN_CHAT_STATE_MAX_SIZE 48 /* bytes of an encoded state, at most */

/**
 * churn_chat_state_encode() - serialize @state: a version byte, then flags and varints. Always
 * writes the current version (CHURN_CHAT_STATE_VERSION).
 * @out: OUT: at least CHURN_CHAT_STATE_MAX_SIZE bytes; @out_len: OUT: bytes written.
 * Returns 0, or CHURN_ETOOBIG if @cap is too small (nothing written then).
 */
enum churn_err churn_chat_state_encode(const struct churn_chat_state *state, uint8_t *out,
                                       size_t cap, size_t *out_len);

/**
 * churn_chat_state_decode() - parse bytes from churn_chat_state_encode() (any version this
 * build knows: 1, written before the escalation order was kept, decodes with its causes in
 * priority order; 2). Hostile bytes fail cleanly: CHURN_ECORRUPT for truncation, trailing
 * bytes, overlong varints, unknown flag bits, an escalation order that does not list exactly
 * the escalated causes, or out-of-range values; CHURN_EUNIMPL for an unknown version. @state
 * is untouched on error. Every accepted version-2 encoding is canonical.
 */
enum churn_err churn_chat_state_decode(const uint8_t *data, size_t len,
                                       struct churn_chat_state *state);

/** churn_chat_reason_name() - "HARD_TRIGGER", ...; never NULL. */
const char *churn_chat_reason_name(enum churn_chat_reason reason);

#endif
