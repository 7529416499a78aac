/*
 * churn/alert_rules.h - the rules that turn two consecutive scores of a customer and a chat
 * signal into alert triggers: probability jumps and tier changes, what moved (the features
 * behind a change), stale sources, de-duplication, cooldown and auto-close, with the small
 * per-customer state and score snapshot they keep and their versioned encodings. Pure C: no
 * I/O.
 */
#ifndef CHURN_ALERT_RULES_H
#define CHURN_ALERT_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/alerts.h"
#include "churn/error.h"

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

#endif
