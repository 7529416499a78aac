/*
 * churn/engine.h - the engine's alert side and chat state saver as the service uses them
 * (src/engine/alerting.c, rescore.c, sweep.c, chat_saver.c; issue 12): the alert engine's
 * configuration, chat alert jobs, rescores, acknowledgements and outcomes, and the listeners
 * (WatchAlerts streams) it serves through callbacks. Domain types only: no protobuf, no RPC.
 */
#ifndef CHURN_ENGINE_H
#define CHURN_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/alerts.h"
#include "churn/segments.h"
#include "churn/alert_rules.h"
#include "churn/alerts_hub.h"
#include "churn/alerts_index.h"
#include "churn/error.h"
#include "churn/event.h"
#include "churn/store.h"

struct churn_store;
struct churn_store_import;
struct churn_scorer;
struct churn_score;
struct churn_score_index;
struct churn_service_metrics;
struct churn_delivery_config;

/*
 * struct churn_alert_engine_config - what the alert engine works with (borrowed while it
 * runs): the store, the scorer and the score index, and its settings.
 */
struct churn_alert_engine_config {
    struct churn_store *store;
    struct churn_scorer *scorer;
    struct churn_score_index *scores;
    const char *playbooks_path;                         /* NULL or "": the built-in playbooks */
    const struct churn_segment_config *segments;        /* NULL: thresholds */
    const struct churn_alert_rules_config *alert_rules; /* NULL: the defaults */
    int64_t sweep_interval_ms;                          /* 0: no sweep */
    /* issue 14: churnd's counters (churn/service_metrics.h; NULL: metrics off) */
    struct churn_service_metrics *metrics;
    /* issue 15: the --webhook destinations a playbook may name (NULL: none) */
    const struct churn_delivery_config *delivery_config;
    /* issue 15: days of daily snapshots kept (0: the default) */
    int64_t trend_keep_days;
    int64_t sweep_delay_ms;
    /* issue 16: does this churnd serve the customer (a shard: its partition, not moving)?
     * NULL: every customer. The sweep rescores only those, so the copy a move left behind
     * is never scored, alerted on or counted in the tier cut-offs. */
    bool (*owns)(void *ctx, const char *customer_id);
    void *owns_ctx;
    /* issue 13: the rescores' state writes ride its commits (NULL: their own commits) */
    struct churn__chat_saver *chat_saver;
};

/* chat_saver.c: conversation states (and the turns' chat signals and scores) written to the
 * store off the request path, a group of turns in one transaction */
struct churn__chat_saver;
enum churn_err churn__chat_saver_start(struct churn_store *store, struct churn__chat_saver **out);
/**
 * churn__chat_saver_put() - queue a state (copied). Returns its ticket: the number of the
 * commit that will make it durable (watchers are told), or 0 when the queue is full.
 */
uint64_t churn__chat_saver_put(struct churn__chat_saver *sv, const char *customer_id,
                               const char *conversation_id, const void *data, size_t len);
/*
 * struct churn__chat_signal - a chat turn's signal committed with its conversation state (one
 * transaction for a group of turns, churn/store_chat.h): @event (the customer's own, with its
 * event id; its strings live as long as the signal), its outcome in @result, and @score (NULL:
 * none), computed with @event applied to the stored record of digest score->base_digest and
 * stored with it when that record is unchanged. @done is called once, on the saver's thread
 * after the commit (@err: CHURN_OK when durable, @result then set), or at once by whoever
 * could not queue it; it owns the signal from then on.
 */
struct churn__chat_signal {
    struct churn_event event;
    struct churn_event_result result;
    const struct churn_score *score;
    void (*done)(struct churn__chat_signal *sig, enum churn_err err);
};
/**
 * churn__chat_saver_put_turn() - churn__chat_saver_put() of a turn's state with its signal
 * @sig (NULL: none; queued only with the state, and handed over to the saver until its done).
 * 0: neither was queued (the caller still owns @sig).
 */
uint64_t churn__chat_saver_put_turn(struct churn__chat_saver *sv, const char *customer_id,
                                    const char *conversation_id, const void *data, size_t len,
                                    struct churn__chat_signal *sig);
/**
 * churn__chat_saver_lookup() - the newest state of a conversation that is queued or being
 * written (so a client reconnecting at once sees its conversation); false if none.
 */
bool churn__chat_saver_lookup(struct churn__chat_saver *sv, const char *customer_id,
                              const char *conversation_id, void *out, size_t cap, size_t *len);
/*
 * struct churn__chat_saver_watcher - told, on the saver's teller thread, after each commit
 * and in commit order: its number (the tickets up to it are done) and whether it was durable;
 * a run of durable commits may be told as its last one. The callback must not call the
 * saver's watch functions.
 */
struct churn__chat_saver_watcher {
    void (*committed)(void *ctx, uint64_t batch, bool ok);
    void *ctx;
    struct churn__chat_saver_watcher *prev, *next; /* the saver's */
};
/** churn__chat_saver_watch() - add @w (owned by the caller until unwatched). */
void churn__chat_saver_watch(struct churn__chat_saver *sv, struct churn__chat_saver_watcher *w);
/** churn__chat_saver_unwatch() - remove @w; once it returns, @w is never called again. */
void churn__chat_saver_unwatch(struct churn__chat_saver *sv, struct churn__chat_saver_watcher *w);
struct churn_chat_rider;
/**
 * churn__chat_saver_ride() - write @r's items (churn/store_chat.h) in the saver's next commit,
 * with the turns queued meanwhile (one write lock and one fsync for both), and wait for that
 * commit: @r->err, @r->written and @r->error are then set. False, with nothing written and @r
 * untouched, when the saver cannot take it (NULL, stopping, or too many riders waiting): the
 * caller writes the items itself. @r and its items are borrowed until it returns.
 */
bool churn__chat_saver_ride(struct churn__chat_saver *sv, struct churn_chat_rider *r);
/**
 * churn__chat_saver_ride_turns() - churn__chat_saver_ride() with the @n_sigs chat signals of
 * the turns whose states @r carries, applied in the same commit (handed over to the saver,
 * each told its outcome, only when this returns true).
 */
bool churn__chat_saver_ride_turns(struct churn__chat_saver *sv, struct churn_chat_rider *r,
                                  struct churn__chat_signal *const *sigs, size_t n_sigs);
/** churn__chat_saver_riders() - how many riders wait for the saver's next commit. */
size_t churn__chat_saver_riders(struct churn__chat_saver *sv);
/** churn__chat_saver_flush() - wait until every state queued before the call is written. */
void churn__chat_saver_flush(struct churn__chat_saver *sv);
/** churn__chat_saver_stop() - write what is queued, stop the thread, free. NULL is a no-op. */
void churn__chat_saver_stop(struct churn__chat_saver *sv);

struct churn__alerts;

/* struct churn__ack - an AcknowledgeAlert request, validated. */
struct churn__ack {
    uint64_t sequence;
    const char *actor;
    const char *note;         /* "" for none */
    const char *action_taken; /* action kind name, "" for none */
    int64_t snooze_until_ms;  /* 0: no snooze */
    const char *snooze_reason;
    enum churn_alert_resolution resolution; /* NONE: no close */
};

/** churn__alerts_start() - the engine for @cfg (borrowed until stopped): hub (head from the
 * log), playbooks, thread. */
enum churn_err churn__alerts_start(const struct churn_alert_engine_config *cfg,
                                   struct churn__alerts **out);
/** churn__alerts_stop() - stop the thread, drop remaining watchers, free. NULL is a no-op. */
void churn__alerts_stop(struct churn__alerts *al);
/*
 * churn__chat_alert_done_fn - the end of a chat alert job, on the engine thread (or on the
 * stopping thread): @err 0 when the alert it raised or updated is durable, with its sequence
 * (Alert.sequence) in @alert_sequence, or 0 when the rules suppressed it (cooldown: no open
 * alert; a snoozed open alert gives its own sequence).
 */
typedef void churn__chat_alert_done_fn(void *ctx, enum churn_err err, uint64_t alert_sequence);

/*
 * struct churn__chat_turn_put - an escalating turn's conversation state (@data, @len: borrowed
 * until the job is done) and chat signal (NULL: none), for the engine to commit with the turn's
 * alert in ONE transaction of the chat saver (issue 13: an escalating turn pays one commit).
 * @written: OUT, set before the job's done: the turn rode the alert's commit (its signal was
 * handed over; the job's error says whether the commit was durable); false: the caller still
 * owns the signal and queues the turn itself (the rules suppressed the alert, or there is no
 * saver to ride).
 */
struct churn__chat_turn_put {
    const char *customer_id;
    const char *conversation_id;
    const void *data;
    size_t len;
    struct churn__chat_signal *signal;
    bool written;
};

/**
 * churn__alerts_chat() - queue a chat alert job (copied; evidence cut on a UTF-8 boundary),
 * with the customer's @score when the caller has it (NULL: the engine scores the customer).
 * Never blocks. @done (may be NULL) is called exactly once with @done_ctx when the job's
 * alert is durable or failed, unless this returns false: @al is NULL, the id is too long or
 * the queue is full (logged). A chat stream keeps at most one job in flight (it waits for
 * @done), so streams slow down instead of losing alerts. @turn (NULL: none; borrowed until
 * @done) is committed with the alert when it can be (see struct churn__chat_turn_put).
 */
bool churn__alerts_chat(struct churn__alerts *al, const char *customer_id,
                        enum churn_alert_cause cause, const char *reason, const char *evidence,
                        double confidence, const struct churn_score *score,
                        struct churn__chat_turn_put *turn, churn__chat_alert_done_fn *done,
                        void *done_ctx);
/**
 * churn__alerts_rescore() - queue a rescore job for each of the @n customers (ids copied):
 * the engine scores them and raises, updates or auto-closes TIER_WORSENED and
 * PROBABILITY_JUMP alerts. Never blocks; jobs that do not fit the bounded queue are dropped,
 * counted and logged once per call. Returns how many were queued (0 when @al is NULL).
 */
size_t churn__alerts_rescore(struct churn__alerts *al, const char *const *customer_ids, size_t n);
/**
 * churn__alerts_import_customers() - issue 16: churn_store_import_customers() of @n bundles
 * from another shard into @store, with the alert module's hooks: each customer's alert
 * revisions take this log's next sequences (their ids renumbered to match), its alert state
 * names them, and a repeated copy appends nothing. With @al (whose store must be @store), the
 * appended revisions are then published to WatchAlerts and indexed for ListAlerts in order with
 * the engine's own alerts. Errors as churn_store_import_customers().
 */
enum churn_err churn__alerts_import_customers(struct churn__alerts *al, struct churn_store *store,
                                              struct churn_store_import *items, size_t n);
/**
 * churn__alerts_rescore_scored() - queue a rescore of @sc's customer that uses @sc (copied)
 * instead of scoring again: the caller computed it from the record as its own change left it
 * (a chat turn's signal). A plain rescore queued later for the customer scores afresh.
 * Returns whether it was queued.
 */
bool churn__alerts_rescore_scored(struct churn__alerts *al, const struct churn_score *sc);
/**
 * churn__alerts_suggest() - the playbook action for an alert of @cause on a customer with
 * @risk and @value tiers (0: unscored, matched as LOW), as an alert would get it; false when
 * no playbook matches, the customer is held out, or @al is NULL.
 */
bool churn__alerts_suggest(struct churn__alerts *al, enum churn_tier risk, enum churn_tier value,
                           enum churn_alert_cause cause, const char *customer_id,
                           struct churn_alert_action *out, char *playbook_id, size_t len);
/** churn__alerts_read() - the log entry @seq decoded into *@out; CHURN_ENOTFOUND if none. */
enum churn_err churn__alerts_read(struct churn__alerts *al, uint64_t seq, struct churn_alert *out);
/**
 * churn__alerts_acknowledge() - acknowledge (and snooze or close) the alert whose id is
 * @req->sequence: a new revision appended, stored and published; *@out is it. Errors with
 * @msg: CHURN_ENOTFOUND, CHURN_EPRECOND (already acknowledged, or closed), CHURN_EINVAL.
 */
enum churn_err churn__alerts_acknowledge(struct churn__alerts *al, const struct churn__ack *req,
                                         struct churn_alert *out, bool *changed, char *msg,
                                         size_t msglen);
/**
 * churn__alerts_head() - the last sequence appended and published (waits for a change being
 * committed), so everything in the log up to it is also in the hub.
 */
uint64_t churn__alerts_head(struct churn__alerts *al);
/**
 * churn__alerts_reload_playbooks() - re-read the engine's playbook file; the old set stays
 * on error (message "file:line: reason" in @msg).
 */
enum churn_err churn__alerts_reload_playbooks(struct churn__alerts *al, char *msg, size_t msglen);
/* struct churn__outcome_req - a RecordOutcome request, validated. */
struct churn__outcome_req {
    const char *customer_id;
    uint64_t alert_sequence; /* 0: not tied to an alert */
    struct churn_alert_outcome outcome;
};

/* struct churn__outcome_done - what RecordOutcome answers. */
struct churn__outcome_done {
    uint64_t outcome_sequence;
    int64_t recorded_at_ms;
    char playbook_id[CHURN_ALERT_NAME_MAX];
    bool holdout;
};

/**
 * churn__alerts_record_outcome() - record @req: the alert (given, or else the customer's
 * latest) gets an OUTCOME_RECORDED revision, and the outcome log an entry with the alert's
 * playbook and holdout flag (for `churnctl report outcomes`). Errors with @msg:
 * CHURN_ENOTFOUND (unknown customer or alert), CHURN_EINVAL (alert of another customer, bad
 * values).
 */
enum churn_err churn__alerts_record_outcome(struct churn__alerts *al,
                                            const struct churn__outcome_req *req,
                                            struct churn__outcome_done *done, char *msg,
                                            size_t msglen);

/** churn__alerts_hub() - the engine's hub (borrowed). */
struct churn_alert_hub *churn__alerts_hub(struct churn__alerts *al);

/** churn__alerts_index() - the engine's index of current alert revisions (borrowed). */
struct churn_alert_index *churn__alerts_index(struct churn__alerts *al);

/**
 * churn__alerts_forget_customer() - drop a customer's alerts from the index and from the
 * WatchAlerts ring after the privacy erase (or a drop, or a replacing import) removed them from
 * the log (NULL engine: nothing).
 */
void churn__alerts_forget_customer(struct churn__alerts *al, const char *customer_id);
/*
 * struct churn_alert_listener - a consumer of the alert hub that the engine's thread serves
 * (a WatchAlerts stream, registered by the service): the engine never sees what it is. When
 * the hub notifies the listener (the hub's callback is churn__alerts_notify_fn() with the
 * listener as its context), the engine marks it pending and, on its thread, calls drain();
 * every tick it calls heartbeat() on those idle() says are due. hold()/release() keep the
 * listener alive while the engine calls it; close() is called once when the engine stops
 * with the listener still registered. Callbacks run on the engine's thread without its
 * locks, except idle(), which runs under the engine's lock and must only read.
 */
struct churn_alert_listener;
struct churn_alert_listener_ops {
    void (*drain)(struct churn_alert_listener *l);
    bool (*idle)(struct churn_alert_listener *l, int64_t now_ms);
    void (*heartbeat)(struct churn_alert_listener *l);
    void (*hold)(struct churn_alert_listener *l);
    void (*release)(struct churn_alert_listener *l);
    void (*close)(struct churn_alert_listener *l);
};
struct churn_alert_listener {
    const struct churn_alert_listener_ops *ops;
    struct churn__alerts *engine;
    bool pending, listed; /* (the engine's lock) */
    struct churn_alert_listener *prev, *next;
};

/** churn__alerts_notify_fn() - the hub callback for listeners (ctx = the listener). */
churn_alert_hub_notify_fn churn__alerts_notify_fn(void);
/** churn__alerts_add_listener() - register @l (sets l->engine; takes a reference). */
void churn__alerts_add_listener(struct churn__alerts *al, struct churn_alert_listener *l);
/** churn__alerts_remove_listener() - unregister @l (drops the engine's reference); idempotent. */
void churn__alerts_remove_listener(struct churn__alerts *al, struct churn_alert_listener *l);
/** churn__alerts_listeners() - how many listeners are registered now. */
size_t churn__alerts_listeners(struct churn__alerts *al);

#endif
