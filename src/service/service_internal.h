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
/* shard_admin.c (issue 16): AdminService.ReloadShardTable */
extern const struct churn_method churn__shard_admin_methods[];
extern const size_t churn__n_shard_admin_methods;

/**
 * churn__forget_customer() - after the store erased @customer_id (DeleteCustomer, or a
 * partition dropped by the cluster): drop what the service keeps of the customer in memory,
 * its alerts in ListAlerts' index and WatchAlerts' ring, its place in every listing and every
 * GetScore answer kept encoded for it, so that nothing of the erased data is ever served
 * again, even when the id comes back (services.c). Every erase of a customer goes through it.
 */
void churn__forget_customer(struct churn_services *svc, const char *customer_id);

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
 * churn__answer_reuse() - GetScore of @id with @k reasons answered from svc->answers
 * (service/score_answer.c) when the answer kept is of the stored score that @m would serve
 * now: responded with its bytes, true. False: nothing answered (none kept, or a stale one,
 * which is dropped); build the answer.
 */
bool churn__answer_reuse(struct churn_services *svc, struct churn_rpc *rpc, struct churn_served *m,
                         const char *id, size_t k);

/**
 * churn__answer_erasures() - churn_answer_cache_erasures() of svc->answers (0 without), read
 * before the score of an answer to keep is read.
 */
uint64_t churn__answer_erasures(struct churn_services *svc);

/**
 * churn__answer_keep() - when score @s (of @id, @k reasons) was served as stored, encode
 * @resp, keep its bytes in svc->answers (unless a customer was erased since @erasures) and
 * respond with them: true. False: nothing responded (no cache, a computed score, or no
 * memory); answer @resp as usual.
 */
bool churn__answer_keep(struct churn_services *svc, struct churn_rpc *rpc, const char *id, size_t k,
                        const struct churn_score *s, const ProtobufCMessage *resp,
                        uint64_t erasures);

/**
 * churn__at_risk_from_index() - answer ListAtRiskCustomers @req (validated; @k reasons) from
 * the score index (at_risk.c). CHURN_EAGAIN when the index cannot answer yet (not built, or
 * too many changes not rescored): the caller scans the store.
 */
enum churn_err churn__at_risk_from_index(struct churn_rpc *rpc,
                                         const Churn__V1__ListAtRiskCustomersRequest *req, size_t k,
                                         ProtobufCMessage **out);

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

/* alerts.c: AlertService and the WatchAlerts streams; the alert engine is in src/engine */
#include <pthread.h>
#include <stdatomic.h>

#include "churn/engine.h"

extern const struct churn_method churn__alert_methods[];
extern const size_t churn__n_alert_methods;

#define CHURN__WATCH_LIST_MAX 64 /* entries per repeated filter field */

/* The filter dimensions the hub does not know. */
struct churn__alert_extra {
    size_t n_customers, n_owners;
    char customers[CHURN__WATCH_LIST_MAX][CHURN_ALERT_ID_MAX];
    char owners[CHURN__WATCH_LIST_MAX][CHURN_ALERT_NAME_MAX];
    double min_priority;
};

/* One WatchAlerts stream: its call (alerts.c), served by the engine as a listener. */
struct churn__watcher {
    struct churn__alerts *engine;
    struct churn_rpc *rpc;                 /* one reference, dropped when the watcher is freed */
    struct churn_service_metrics *metrics; /* the service's counters (NULL: off) */
    atomic_int refs;                       /* the call, the engine's list, a fan-out in progress */
    struct churn_alert_listener listener;  /* how the engine's thread serves it */
    pthread_mutex_t mu;                    /* the fields below: one drain at a time */
    struct churn_alert_sub *sub;           /* NULL once unsubscribed */
    bool finished;                         /* the stream was ended by us */
    uint64_t last_sent;                    /* last sequence sent or passed over (resume point) */
    uint64_t start_head;                   /* head of the log when the call started (caught_up) */
    struct churn_alert_filter filter;      /* the hub's part of the request's filter */
    size_t ring_backlog;                   /* alerts the ring held at subscription, not taken yet */
    int64_t delivered;                     /* backlog alerts sent (caught_up) */
    bool caught_up;                        /* the caught_up marker was sent */
    int64_t heartbeat_ms;         /* idle interval before a heartbeat (set before listing) */
    _Atomic int64_t last_send_ms; /* when anything was last sent (for heartbeats) */
    struct churn__alert_extra extra;
    struct churn_arena arena; /* messages being built */
    struct churn_alert alert; /* the one being sent */
};

/** churn__outcome_to_proto() - the proto Outcome of @o (the numbering differs). */
Churn__V1__Outcome churn__outcome_to_proto(enum churn_outcome o);
/** churn__alert_to_proto() - the API's Alert message of @a in @ar; NULL when @ar is full. */
Churn__V1__Alert *churn__alert_to_proto(const struct churn_alert *a, struct churn_arena *ar);

/**
 * churn__delivery_start() - start delivering alert changes to svc->delivery_config's
 * destinations (none: nothing runs), after the alert engine started. churn__delivery_stop()
 * stops it (before the alert engine stops; idempotent).
 */
enum churn_err churn__delivery_start(struct churn_services *svc);
void churn__delivery_stop(struct churn_services *svc);

/** churn__alert_service_fini() - free AlertService's shared state (the store is detached). */
void churn__alert_service_fini(void);

/* chat_outbox.c: an AnalyzeChat stream's answers, sent in order once what they report is
 * durable (issue 13) */
struct churn__chat_outbox;

/* struct churn__chat_escalation - an escalating turn: its alert job and the conversation
 * state (and chat signal) to save once the alert is durable. Borrowed for the call, but for
 * @signal. */
struct churn__chat_escalation {
    struct churn__alerts *alerts;
    const char *customer_id, *conversation_id;
    enum churn_alert_cause cause;
    const char *reason, *evidence;
    double confidence;
    const void *state;               /* the conversation record after the turn */
    const struct churn_score *score; /* the turn's score (NULL: none) */
    size_t state_len;
    /* the turn's chat signal, committed with the state (NULL: none); the outbox owns it from
     * the call on (told with its done when it cannot be committed) */
    struct churn__chat_signal *signal;
};

/**
 * churn__chat_answer_pack() - the wire bytes of chat answer @m into @buf (@cap bytes), exactly
 * protobuf_c_message_pack()'s, in one pass (chat_wire.c); their length, or 0 when they do not
 * fit or @m carries what only protobuf-c writes (unknown fields, a score's history).
 */
size_t churn__chat_answer_pack(const Churn__V1__AnalyzeChatResponse *m, uint8_t *buf, size_t cap);
/** churn__chat_answer_payload() - @m serialized (by churn__chat_answer_pack() when it can);
 * NULL when out of memory. */
struct churn_rpc_payload *churn__chat_answer_payload(const Churn__V1__AnalyzeChatResponse *m);

/** churn__chat_outbox_open() - the outbox of stream @rpc (referenced), watching @saver. */
enum churn_err churn__chat_outbox_open(struct churn_rpc *rpc, struct churn__chat_saver *saver,
                                       struct churn__chat_outbox **out);
/** churn__chat_outbox_close() - the call is over: nothing more is sent; freed when no alert
 * job or saver commit refers to it any more. NULL is a no-op. */
void churn__chat_outbox_close(struct churn__chat_outbox *ob);
/**
 * churn__chat_outbox_answer() - queue chat answer @resp (an AnalyzeChatResponse, serialized
 * now by churn__chat_answer_payload()), sent after the answers before
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
