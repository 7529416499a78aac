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
extern const struct churn_method churn__churn_v1_methods[];
extern const size_t churn__n_churn_v1_methods;

/* The event sources whose freshness is reported. */
enum churn__source {
    CHURN__SRC_ACTIVITY,
    CHURN__SRC_ORDERS,
    CHURN__SRC_SUPPORT,
    CHURN__SRC_REVIEWS,
    CHURN__SRC_CHAT,
    CHURN__SRC_LISTINGS,
    CHURN__SRC_COUNT,
};

struct churn__source_times {
    int64_t at[CHURN__SRC_COUNT]; /* last event of each source at or before as_of (0: none) */
};

/** churn__source_freshness() - when each source last reported for @rec, as of @as_of_ms. */
void churn__source_freshness(const struct churn_customer *rec, int64_t as_of_ms,
                             struct churn__source_times *out);

/**
 * churn__freshness_to_proto() - the Freshness message of @rec at @as_of_ms, in @a; a source
 * silent for longer than the staleness limit is listed as stale. NULL when @a is full.
 */
Churn__V1__Freshness *churn__freshness_to_proto(const struct churn_customer *rec, int64_t as_of_ms,
                                                struct churn_arena *a);

/**
 * churn__score_customer() - score @customer_id with the served model (chat and alerts use
 * it). The score's strings live in @a. On error @msg says why: CHURN_ENOTFOUND (unknown
 * customer), CHURN_EPRECOND (no model), CHURN_EUNAVAIL (no store).
 */
enum churn_err churn__score_customer(struct churn_services *svc, const char *customer_id,
                                     size_t max_reasons, struct churn_arena *a,
                                     Churn__V1__Score **out, char *msg, size_t msglen);

/* chat_saver.c: conversation states written to the store off the request path */
struct churn__chat_saver;
enum churn_err churn__chat_saver_start(struct churn_store *store, struct churn__chat_saver **out);
/** churn__chat_saver_put() - queue a state (copied); false when the queue is full. */
bool churn__chat_saver_put(struct churn__chat_saver *sv, const char *customer_id,
                           const char *conversation_id, const void *data, size_t len);
/**
 * churn__chat_saver_lookup() - the newest state of a conversation that is queued or being
 * written (so a client reconnecting at once sees its conversation); false if none.
 */
bool churn__chat_saver_lookup(struct churn__chat_saver *sv, const char *customer_id,
                              const char *conversation_id, void *out, size_t cap, size_t *len);
/** churn__chat_saver_stop() - write what is queued, stop the thread, free. NULL is a no-op. */
void churn__chat_saver_stop(struct churn__chat_saver *sv);

/* scoring.c: the served model and the per-thread scoring state */
struct churn__scoring;
enum churn_err churn__scoring_create(const char *model_path, struct churn__scoring **out, char *err,
                                     size_t errlen);
void churn__scoring_destroy(struct churn__scoring *sc);
void churn__scoring_release_threads(struct churn__scoring *sc);
struct churn__served_model;
/*
 * churn__scoring_reload() - load @path (empty: the file being served) and, unless @dry_run,
 * swap it in. @old_version receives the version serving before; @loaded, when not NULL, one
 * reference to the model loaded, which the caller drops.
 */
enum churn_err churn__scoring_reload(struct churn__scoring *sc, const char *path, bool dry_run,
                                     char *old_version, size_t old_len,
                                     struct churn__served_model **loaded, char *err, size_t errlen);

#endif
