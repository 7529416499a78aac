/*
 * churn/alerts_hub.h - the in-memory fan-out of alerts to live subscribers (WatchAlerts).
 *
 * The lead appends each alert revision to the durable log (which assigns its sequence) and
 * then publishes it here. The hub keeps a bounded ring of the most recent alerts; each
 * subscriber has a filter, a cursor into the ring and a cap on how many matching alerts it
 * may have pending. Publishing copies the alert into the ring once and walks the subscribers
 * to count and notify: no per-subscriber allocation, and a slow subscriber never blocks the
 * publisher or anyone else. A subscriber that falls further behind than its cap (or whose
 * unread alerts are pushed out of the ring) is told once; the server then ends its stream
 * with a status and the client resumes from its last sequence, reading the backlog from the
 * store. Thread-safe: one mutex, held only for copies and counter updates.
 */
#ifndef CHURN_ALERTS_HUB_H
#define CHURN_ALERTS_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/alerts.h"
#include "churn/segments.h"
#include "churn/error.h"

/*
 * struct churn_alert_filter - which alerts a subscriber wants. Every field 0 means "all".
 * Bit sets use (1u << enum value); @segments uses (1u << churn_segment_cell(risk, value)).
 */
struct churn_alert_filter {
    unsigned causes;
    enum churn_tier min_risk; /* alerts whose risk tier is at least this */
    unsigned value_tiers;
    unsigned segments;
    unsigned statuses;
};

/**
 * churn_alert_filter_check() - CHURN_EINVAL with a message naming the field when a bit set
 * has bits for no known value or min_risk is out of range (a malformed filter from a client).
 */
enum churn_err churn_alert_filter_check(const struct churn_alert_filter *filter, char *errbuf,
                                        size_t errlen);

/**
 * churn_alert_filter_parse() - a filter from text, for command lines and query strings:
 * blank-separated terms "cause:C[,C...]", "risk:T" (minimum risk tier), "value:T[,T...]",
 * "segment:R-risk/V-value[,...]" and "status:S[,S...]", each dimension at most once, e.g.
 * "cause:churn_intent,chat_escalation risk:medium status:open". Empty text is "all".
 * CHURN_EINVAL with a message naming the term; @filter untouched on error. @text at most
 * 1024 bytes (CHURN_ETOOBIG).
 */
enum churn_err churn_alert_filter_parse(const char *text, struct churn_alert_filter *filter,
                                        char *errbuf, size_t errlen);

/** churn_alert_filter_match() - true when @alert passes @filter (NULL passes everything). */
bool churn_alert_filter_match(const struct churn_alert_filter *filter,
                              const struct churn_alert *alert);

/** churn_alert_filter_match_fields() - churn_alert_filter_match() on the fields it reads. */
bool churn_alert_filter_match_fields(const struct churn_alert_filter *filter,
                                     enum churn_alert_cause cause, enum churn_tier risk_tier,
                                     enum churn_tier value_tier, enum churn_alert_status status);

struct churn_alert_hub_config {
    uint32_t ring_capacity;   /* alerts kept for catch-up, 16..16384 (default 2048; ~8 KiB each) */
    uint32_t max_subscribers; /* 1..65536 (default 1024) */
    uint32_t catch_up_max;    /* ring positions a subscription may start behind the head,
                                 1..ring_capacity - 1 (default 1024): the rest of the ring
                                 is every subscriber's headroom before it is too slow */
};

/** churn_alert_hub_config_default() - the defaults above. */
void churn_alert_hub_config_default(struct churn_alert_hub_config *cfg);

struct churn_alert_hub;
struct churn_alert_sub;

enum churn_alert_hub_event {
    CHURN_ALERT_HUB_READY = 1,  /* at least one alert is pending: call churn_alert_hub_next() */
    CHURN_ALERT_HUB_LAGGED = 2, /* the subscriber is too slow and is cut off (once): the
                                   ring wrapped over a matching alert it had not read */
};

/*
 * churn_alert_hub_notify_fn - called with the hub's lock held, from the publishing thread:
 * it must not block and must not call any churn_alert_hub_* function (typically it sets a
 * flag and wakes the stream's owner, e.g. with a gRPC alarm). READY is edge-triggered: it
 * fires once after churn_alert_hub_subscribe() or a churn_alert_hub_next() that returned
 * CHURN_EAGAIN, when a matching alert arrives.
 */
typedef void (*churn_alert_hub_notify_fn)(void *ctx, struct churn_alert_sub *sub,
                                          enum churn_alert_hub_event event);

/**
 * churn_alert_hub_create() - a hub whose head is @head_sequence (the last sequence in the
 * durable log at start-up; 0 for an empty log). CHURN_EINVAL for an out-of-range config,
 * CHURN_ENOMEM. The caller owns *@out (churn_alert_hub_destroy()).
 */
enum churn_err churn_alert_hub_create(const struct churn_alert_hub_config *cfg,
                                      uint64_t head_sequence, struct churn_alert_hub **out);

/**
 * churn_alert_hub_destroy() - free the hub and any subscriptions still registered (their
 * handles become invalid; no callback runs). Call it after the publishers and readers stop.
 */
void churn_alert_hub_destroy(struct churn_alert_hub *hub);

/**
 * churn_alert_hub_publish() - copy @alert (already appended to the log, sequence set) into
 * the ring and notify matching subscribers. Sequences must increase strictly (gaps are
 * allowed): CHURN_EINVAL for a sequence at or below the head. No heap allocation.
 */
enum churn_err churn_alert_hub_publish(struct churn_alert_hub *hub,
                                       const struct churn_alert *alert);

/** churn_alert_hub_head() - the sequence of the last published alert (or the start head). */
uint64_t churn_alert_hub_head(struct churn_alert_hub *hub);

/**
 * churn_alert_hub_oldest() - the lowest after_sequence a subscription accepts now: the ring
 * holds everything after it, at most catch_up_max positions. Read the store up to it first
 * when older. Equals the head when the ring is empty.
 */
uint64_t churn_alert_hub_oldest(struct churn_alert_hub *hub);

/**
 * churn_alert_hub_subscribe() - register a subscriber that receives the alerts with sequence
 * > @after_seq that pass @filter (copied; NULL: all), notified through @notify(@ctx, ...)
 * (may be NULL for a pure poller). It is cut off (LAGGED) only when it is too slow: when the
 * ring is about to overwrite a matching alert it has not taken. Errors: CHURN_EINVAL when
 * @after_seq is beyond the head or the filter is malformed (message in @errbuf); CHURN_ERANGE
 * when @after_seq is below churn_alert_hub_oldest(): read the backlog from the store up to it
 * and subscribe again from there; CHURN_ETOOBIG at max_subscribers; CHURN_ENOMEM. On success
 * the caller owns *@out until churn_alert_hub_unsubscribe().
 */
enum churn_err churn_alert_hub_subscribe(struct churn_alert_hub *hub, uint64_t after_seq,
                                         const struct churn_alert_filter *filter,
                                         churn_alert_hub_notify_fn notify, void *ctx,
                                         struct churn_alert_sub **out, char *errbuf, size_t errlen);

/**
 * churn_alert_hub_next() - copy the next pending alert for @sub into *@alert, in sequence
 * order, each exactly once. CHURN_EAGAIN when nothing is pending (READY is re-armed);
 * CHURN_ETOOBIG once the subscriber has fallen behind (then and forever after: end the
 * stream, the client resumes after churn_alert_hub_last_sequence()).
 */
enum churn_err churn_alert_hub_next(struct churn_alert_sub *sub, struct churn_alert *alert);

/**
 * churn_alert_hub_skip() - drop every alert pending for @sub without copying any (a doorbell
 * subscriber that reads the log itself) and re-arm READY; they do not count as given
 * (churn_alert_hub_last_sequence() is unchanged). CHURN_OK, or CHURN_ETOOBIG once the
 * subscriber has fallen behind (as churn_alert_hub_next()).
 */
enum churn_err churn_alert_hub_skip(struct churn_alert_sub *sub);

/**
 * churn_alert_hub_lagged() - true when @sub fell behind; *@resume_after (if non-NULL) is the
 * last sequence it was given (its after_sequence if none), from which the client resumes.
 */
bool churn_alert_hub_lagged(struct churn_alert_sub *sub, uint64_t *resume_after);

/** churn_alert_hub_last_sequence() - the last sequence @sub was given (or its start). */
uint64_t churn_alert_hub_last_sequence(struct churn_alert_sub *sub);

/** churn_alert_hub_pending() - how many matching alerts @sub has not taken yet. */
size_t churn_alert_hub_pending(struct churn_alert_sub *sub);

/**
 * churn_alert_hub_unsubscribe() - remove and free @sub. After it returns, its callback is
 * never called again. NULL is a no-op.
 */
void churn_alert_hub_unsubscribe(struct churn_alert_sub *sub);

/**
 * churn_alert_hub_forget_customer() - the alerts of @customer_id still in the ring are never
 * delivered again (a privacy erase, or the copy a partition move left behind was dropped).
 * Returns how many were forgotten.
 */
size_t churn_alert_hub_forget_customer(struct churn_alert_hub *hub, const char *customer_id);

/** churn_alert_hub_subscriber_count() - subscribers registered now. */
size_t churn_alert_hub_subscriber_count(struct churn_alert_hub *hub);

#endif
