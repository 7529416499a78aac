/*
 * churn/score_store.h - what the engine needs from the store for scores (issue 12): the
 * record a score is computed from, with an event applied in memory exactly as the store
 * would apply it, so a chat turn scores the customer once, after its own signal, before that
 * signal is committed; and each customer's stored score beside the record (the "scores"
 * database): opaque bytes the engine encodes (churn/score_codec.h), written only while the
 * record still has the digest the score was computed from, read in the same transaction as
 * the record, erased with it.
 */
#ifndef CHURN_SCORE_STORE_H
#define CHURN_SCORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"
#include "churn/event.h"
#include "churn/store.h"

/**
 * churn_store_preview_event() - apply @ev to the decoded record @rec in memory as a commit
 * at @now_ms would (same validation, day buckets inside the store's horizon, pruning), the
 * store unchanged. CHURN_EINVAL (with @reason) for an event the store would reject; @rec is
 * then unchanged.
 */
enum churn_err churn_store_preview_event(struct churn_store *store, struct churn_customer *rec,
                                         const struct churn_event *ev, int64_t now_ms, char *reason,
                                         size_t reason_len);

/* The largest stored score the store keeps (bytes). */
#define CHURN_STORE_SCORE_MAX 4096u

/*
 * struct churn_store_score_put - one score to store: @len bytes at @data (at most
 * CHURN_STORE_SCORE_MAX) for @customer_id, computed from the record whose stored bytes have
 * churn_digest64 @record_digest.
 */
struct churn_store_score_put {
    const char *customer_id;
    uint64_t record_digest;
    const void *data;
    size_t len;
};

/**
 * churn_store_put_scores() - in one durable write transaction, store each of the @n scores
 * whose customer's record still has digest @record_digest (replacing the one before); a
 * score whose record changed or was erased since it was computed is skipped, so a stored
 * score never outlives the record it came from. @written: OUT (may be NULL), how many were
 * stored. CHURN_EINVAL (nothing written) for a bad id or an empty or oversized score.
 */
enum churn_err churn_store_put_scores(struct churn_store *store,
                                      const struct churn_store_score_put *items, size_t n,
                                      size_t *written);

/**
 * churn_store_reader_get_scored() - churn_store_reader_get_customer_digest() and, in the
 * same read transaction, the customer's stored score: copied into @score (capacity @cap)
 * and *@score_len its length (0: none stored; larger than @cap: not copied). @known,
 * @digest and @decoded as there.
 */
enum churn_err churn_store_reader_get_scored(struct churn_store_reader *reader,
                                             const char *customer_id, const uint64_t *known,
                                             uint64_t *digest, bool *decoded,
                                             struct churn_customer *rec, void *score, size_t cap,
                                             size_t *score_len);

/**
 * churn_store_reader_get_score() - the stored score of @customer_id on the reader's
 * transaction, as churn_store_reader_get_scored() returns it, without reading the record.
 */
enum churn_err churn_store_reader_get_score(struct churn_store_reader *reader,
                                            const char *customer_id, void *score, size_t cap,
                                            size_t *score_len);

/**
 * churn_store_get_score() - the stored score of @customer_id with a short read transaction,
 * as churn_store_reader_get_scored() returns it (for tools and tests).
 */
enum churn_err churn_store_get_score(struct churn_store *store, const char *customer_id,
                                     void *score, size_t cap, size_t *score_len);

#endif
