/*
 * service/service_internal.h - what the files of the service module share: each service's
 * method rows (assembled into the table by services.c) and the conversions more than one
 * handler needs.
 */
#ifndef CHURN_SERVICE_INTERNAL_H
#define CHURN_SERVICE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/arena.h"
#include "churn/rpc.h"
#include "churn/service.h"
#include "churn/store.h"
#include "churn_proto.h"

extern const struct churn_method churn__health_methods[];
extern const size_t churn__n_health_methods;
extern const struct churn_method churn__reflection_methods[];
extern const size_t churn__n_reflection_methods;
extern const struct churn_method churn__ingest_methods[];
extern const size_t churn__n_ingest_methods;
extern const struct churn_method churn__scoring_methods[];
extern const size_t churn__n_scoring_methods;
extern const struct churn_method churn__chat_methods[];
extern const size_t churn__n_chat_methods;
extern const struct churn_method churn__model_methods[];
extern const size_t churn__n_model_methods;
extern const struct churn_method churn__admin_methods[];
struct churn_metrics_sink;
/** churn__admin_collect() - the backups' counters and last success on /metrics (issue 18). */
void churn__admin_collect(struct churn_services *svc, struct churn_metrics_sink *sink);
extern const size_t churn__n_admin_methods;

/* health.c: what the statuses mean */
/** churn__health_set_serving() - every service @status, but scoring waits for a model. */
void churn__health_set_serving(struct churn_services *svc, enum churn_health_status status);
/** churn__health_model_served() - a model now serves: scoring is SERVING (unless draining). */
void churn__health_model_served(struct churn_services *svc);

#include "churn/features.h"

/**
 * churn__freshness_to_proto() - the Freshness message of @t at @as_of_ms, in @a; a source
 * silent for longer than the staleness limit is listed as stale. NULL when @a is full.
 */
Churn__V1__Freshness *churn__freshness_to_proto(const struct churn_freshness *t, int64_t as_of_ms,
                                                struct churn_arena *a);

struct churn_score;
/**
 * churn__score_to_proto() - the API's Score message of @s (score_proto.c, the one place a
 * score becomes a message), every string copied into @a; NULL when @a is full.
 */
Churn__V1__Score *churn__score_to_proto(const struct churn_score *s, struct churn_arena *a);

struct churn_served;
/**
 * churn__score_for_response() - score @id with @m for a response (@k reasons, explained),
 * using @scratch, as a message in @a. Errors as churn_scorer_score() (message in @err), and
 * CHURN_ETOOBIG when @a is full.
 */
enum churn_err churn__score_for_response(struct churn_services *svc, struct churn_served *m,
                                         const char *id, size_t k, struct churn_score *scratch,
                                         struct churn_arena *a, Churn__V1__Score **out, char *err,
                                         size_t errlen);

/**
 * churn__at_risk_from_index() - answer ListAtRiskCustomers @req (validated; @k reasons) from
 * the score index (at_risk.c). CHURN_EAGAIN when the index cannot answer yet (not built, or
 * too many changes not rescored): the caller scans the store.
 */
enum churn_err churn__at_risk_from_index(struct churn_rpc *rpc,
                                         const Churn__V1__ListAtRiskCustomersRequest *req, size_t k,
                                         ProtobufCMessage **out);

/* chat_saver.c: conversation states written to the store off the request path */
struct churn__chat_saver;
enum churn_err churn__chat_saver_start(struct churn_store *store, struct churn__chat_saver **out);
/**
 * churn__chat_saver_put() - queue a state (copied). Returns its ticket: the number of the
 * commit that will make it durable (watchers are told), or 0 when the queue is full.
 */
uint64_t churn__chat_saver_put(struct churn__chat_saver *sv, const char *customer_id,
                               const char *conversation_id, const void *data, size_t len);
/**
 * churn__chat_saver_lookup() - the newest state of a conversation that is queued or being
 * written (so a client reconnecting at once sees its conversation); false if none.
 */
bool churn__chat_saver_lookup(struct churn__chat_saver *sv, const char *customer_id,
                              const char *conversation_id, void *out, size_t cap, size_t *len);
/*
 * struct churn__chat_saver_watcher - told, on the saver's thread, after each commit: its
 * number (the tickets up to it are done) and whether it was durable. The callback must not
 * call the saver's watch functions.
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
/** churn__chat_saver_flush() - wait until every state queued before the call is written. */
void churn__chat_saver_flush(struct churn__chat_saver *sv);
/** churn__chat_saver_stop() - write what is queued, stop the thread, free. NULL is a no-op. */
void churn__chat_saver_stop(struct churn__chat_saver *sv);

/* models.c: the model registry of the store, the served model across restarts */
#include "churn/registry.h"

/** churn__models_open() - open the store's model registry (store attached). */
enum churn_err churn__models_open(struct churn_services *svc, char *err, size_t errlen);
/** churn__models_close() - forget the registry (before the store closes). */
void churn__models_close(struct churn_services *svc);
/** churn__models_registry() - the registry (NULL while no store is attached). */
struct churn_registry *churn__models_registry(struct churn_services *svc);
/**
 * churn__models_serve_path() - load @path (empty: the file serving now), swap it in and record
 * it in the registry as serving (origin @origin; @id_out, when not NULL, gets its id). A
 * refused file changes nothing (@err says why); a registry write that fails after the swap is
 * logged (the model serves, a restart would not restore it).
 */
enum churn_err churn__models_serve_path(struct churn_services *svc, const char *path,
                                        enum churn_model_origin origin, uint32_t *id_out, char *old,
                                        size_t oldlen, char *err, size_t errlen);
/**
 * churn__models_check_path() - issue 14: a model file named over the wire must be a regular
 * file inside svc->model_dir (relative paths are taken from there): no "..", no symbolic link
 * out of it, no device, FIFO or directory. On success its resolved path is in @resolved.
 * Errors (CHURN_EINVAL, or CHURN_ENOTFOUND) name the rule, never the file's content.
 */
enum churn_err churn__models_check_path(const struct churn_services *svc, const char *path,
                                        char *resolved, size_t cap, char *err, size_t errlen);
/** churn__models_fill_info() - the registry entry serving and the decisions into @resp. */
enum churn_err churn__models_fill_info(struct churn_services *svc,
                                       Churn__V1__GetModelInfoResponse *resp,
                                       struct churn_arena *a);

/* alerting.c + alerts.c: the alert engine and AlertService (see alerting.c) */
#include <pthread.h>
#include <stdatomic.h>

#include "churn/alerts.h"
#include "churn/alerts_hub.h"
#include "churn/alerts_index.h"

extern const struct churn_method churn__alert_methods[];
extern const size_t churn__n_alert_methods;

struct churn__alerts;

#define CHURN__WATCH_LIST_MAX 64 /* entries per repeated filter field */

/* The filter dimensions the hub does not know. */
struct churn__alert_extra {
    size_t n_customers, n_owners;
    char customers[CHURN__WATCH_LIST_MAX][CHURN_ALERT_ID_MAX];
    char owners[CHURN__WATCH_LIST_MAX][CHURN_ALERT_NAME_MAX];
    double min_priority;
};

/* One WatchAlerts stream, shared by its call (alerts.c) and the engine's fan-out. */
struct churn__watcher {
    struct churn__alerts *engine;
    struct churn_rpc *rpc; /* one reference, dropped when the watcher is freed */
    atomic_int refs;       /* the call, the engine's list, a fan-out in progress */
    bool pending;          /* (engine mu) notified, not drained yet */
    bool listed;           /* (engine mu) in the engine's list */
    struct churn__watcher *prev, *next;
    pthread_mutex_t mu;               /* the fields below: one drain at a time */
    struct churn_alert_sub *sub;      /* NULL once unsubscribed */
    bool finished;                    /* the stream was ended by us */
    uint64_t last_sent;               /* last sequence sent or passed over (resume point) */
    uint64_t start_head;              /* head of the log when the call started (caught_up) */
    struct churn_alert_filter filter; /* the hub's part of the request's filter */
    size_t ring_backlog;              /* alerts the ring held at subscription, not taken yet */
    int64_t delivered;                /* backlog alerts sent (caught_up) */
    bool caught_up;                   /* the caught_up marker was sent */
    int64_t heartbeat_ms;             /* idle interval before a heartbeat (set before listing) */
    _Atomic int64_t last_send_ms;     /* when anything was last sent (for heartbeats) */
    struct churn__alert_extra extra;
    struct churn_arena arena; /* messages being built */
    struct churn_alert alert; /* the one being sent */
};

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

/** churn__alerts_start() - the engine for @store: hub (head from the log), playbooks, thread. */
enum churn_err churn__alerts_start(struct churn_services *svc, struct churn_store *store,
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

/**
 * churn__alerts_chat() - queue a chat alert job (copied; evidence cut on a UTF-8 boundary),
 * with the customer's @score when the caller has it (NULL: the engine scores the customer).
 * Never blocks. @done (may be NULL) is called exactly once with @done_ctx when the job's
 * alert is durable or failed, unless this returns false: @al is NULL, the id is too long or
 * the queue is full (logged). A chat stream keeps at most one job in flight (it waits for
 * @done), so streams slow down instead of losing alerts.
 */
bool churn__alerts_chat(struct churn__alerts *al, const char *customer_id,
                        enum churn_alert_cause cause, const char *reason, const char *evidence,
                        double confidence, const struct churn_score *score,
                        churn__chat_alert_done_fn *done, void *done_ctx);
/**
 * churn__alerts_rescore() - queue a rescore job for each of the @n customers (ids copied):
 * the engine scores them and raises, updates or auto-closes TIER_WORSENED and
 * PROBABILITY_JUMP alerts. Never blocks; jobs that do not fit the bounded queue are dropped,
 * counted and logged once per call. Returns how many were queued (0 when @al is NULL).
 */
size_t churn__alerts_rescore(struct churn__alerts *al, const char *const *customer_ids, size_t n);
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

/** churn__outcome_to_proto() - the proto Outcome of @o (the numbering differs). */
Churn__V1__Outcome churn__outcome_to_proto(enum churn_outcome o);
/** churn__alert_to_proto() - the API's Alert message of @a in @ar; NULL when @ar is full. */
Churn__V1__Alert *churn__alert_to_proto(const struct churn_alert *a, struct churn_arena *ar);

/**
 * churn__alerts_record_action_call() - issue 15: the playbook webhook @dest accepted the action
 * of alert @id (HTTP @http_status, @attempts attempts, at @at_ms): an ACTION_CALLED revision,
 * logged (action_called); a call already recorded is left as it is. Any thread.
 */
void churn__alerts_record_action_call(struct churn__alerts *al, const char *dest, uint64_t id,
                                      int http_status, unsigned attempts, int64_t at_ms);

/**
 * churn__delivery_start() - start delivering alert changes to svc->delivery_config's
 * destinations (none: nothing runs), after the alert engine started. churn__delivery_stop()
 * stops it (before the alert engine stops; idempotent).
 */
enum churn_err churn__delivery_start(struct churn_services *svc);
void churn__delivery_stop(struct churn_services *svc);

/** churn__alerts_hub() - the engine's hub (borrowed). */
struct churn_alert_hub *churn__alerts_hub(struct churn__alerts *al);

/** churn__alerts_index() - the engine's index of current alert revisions (borrowed). */
struct churn_alert_index *churn__alerts_index(struct churn__alerts *al);

/**
 * churn__alerts_forget_customer() - drop a customer's alerts from the index after the privacy
 * erase removed them from the log (NULL engine: nothing).
 */
void churn__alerts_forget_customer(struct churn__alerts *al, const char *customer_id);
/** churn__alerts_notify_fn() - the hub callback for watchers (ctx = the watcher). */
churn_alert_hub_notify_fn churn__alerts_notify_fn(void);
/** churn__alerts_add_watcher() - list @w for fan-out (takes a watcher reference). */
void churn__alerts_add_watcher(struct churn__alerts *al, struct churn__watcher *w);
/** churn__alerts_remove_watcher() - unlist @w (drops the list's reference); idempotent. */
void churn__alerts_remove_watcher(struct churn__alerts *al, struct churn__watcher *w);
/** churn__watcher_drain_locked() - send what the hub has pending for @w (w->mu held). */
void churn__watcher_drain_locked(struct churn__watcher *w);
/** churn__watcher_heartbeat_locked() - send a heartbeat on @w's stream (w->mu held). */
void churn__watcher_heartbeat_locked(struct churn__watcher *w);
/** churn__watcher_put() - drop a watcher reference; the last frees it and unrefs its rpc. */
void churn__watcher_put(struct churn__watcher *w);

/* chat_outbox.c: an AnalyzeChat stream's answers, sent in order once what they report is
 * durable (issue 13) */
struct churn__chat_outbox;

/* struct churn__chat_escalation - an escalating turn: its alert job and the conversation
 * state to save once the alert is durable. Borrowed for the call. */
struct churn__chat_escalation {
    struct churn__alerts *alerts;
    const char *customer_id, *conversation_id;
    enum churn_alert_cause cause;
    const char *reason, *evidence;
    double confidence;
    const void *state;               /* the conversation record after the turn */
    const struct churn_score *score; /* the turn's score (NULL: none) */
    size_t state_len;
};

/** churn__chat_outbox_open() - the outbox of stream @rpc (referenced), watching @saver. */
enum churn_err churn__chat_outbox_open(struct churn_rpc *rpc, struct churn__chat_saver *saver,
                                       struct churn__chat_outbox **out);
/** churn__chat_outbox_close() - the call is over: nothing more is sent; freed when no alert
 * job or saver commit refers to it any more. NULL is a no-op. */
void churn__chat_outbox_close(struct churn__chat_outbox *ob);
/**
 * churn__chat_outbox_answer() - queue @resp (serialized now), sent after the answers before
 * it once saver commit @ticket is durable (0: at once). A failed commit ends the stream with
 * UNAVAILABLE naming @turn_sequence to resend from.
 */
enum churn_err churn__chat_outbox_answer(struct churn__chat_outbox *ob,
                                         const ProtobufCMessage *resp, uint64_t turn_sequence,
                                         uint64_t ticket);
/**
 * churn__chat_outbox_escalation() - queue an escalating turn's @resp: its alert job is
 * submitted now; once the alert is durable its sequence is set in the answer and @esc's
 * state is queued for the saver; the answer is sent once that state is durable too. The
 * stream should not read on meanwhile (churn__chat_outbox_hold()).
 */
enum churn_err churn__chat_outbox_escalation(struct churn__chat_outbox *ob,
                                             const ProtobufCMessage *resp, uint64_t turn_sequence,
                                             const struct churn__chat_escalation *esc);
/**
 * churn__chat_outbox_hold() - from on_message: stop the stream reading (churn_rpc_hold_recv())
 * when an escalation is being committed or too many answers wait; the outbox resumes it.
 * Returns whether the stream is held.
 */
bool churn__chat_outbox_hold(struct churn__chat_outbox *ob);
/** churn__chat_outbox_writable() - the stream's send queue drained (its on_writable). */
void churn__chat_outbox_writable(struct churn__chat_outbox *ob);
/** churn__chat_outbox_half_close() - the client is done: finish after the last answer. */
void churn__chat_outbox_half_close(struct churn__chat_outbox *ob);

#endif
