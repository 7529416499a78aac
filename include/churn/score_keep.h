/*
 * churn/score_keep.h - the engine's writer of stored scores (engine/score_keep.c): scores the
 * scorer computes are encoded (churn/score_codec.h) and queued; one thread writes what is
 * queued in one durable store transaction at a time (churn_store_put_scores), which keeps a
 * score only while its record still has the digest it was computed from. Serving threads
 * never wait for the disk: when the queue is full their score is dropped (it is computed
 * again when next asked for); the index build waits instead. With a chat saver, the keeper's
 * writes ride the saver's group commits (one write lock and one fsync with the chat turns).
 */
#ifndef CHURN_SCORE_KEEP_H
#define CHURN_SCORE_KEEP_H

#include <stdbool.h>
#include <stdint.h>

#include "churn/error.h"
#include "churn/score.h"

struct churn_store;
struct churn_score_keeper;
struct churn__chat_saver;

/* struct churn_score_keeper_stats - what the keeper did since it started. */
struct churn_score_keeper_stats {
    uint64_t offered; /* scores queued */
    uint64_t dropped; /* not queued: the queue was full (or the score could not be encoded) */
    uint64_t written; /* stored */
    uint64_t skipped; /* not stored: the record changed or was erased since it was scored */
    uint64_t failed;  /* lost with a failed write transaction */
};

/**
 * churn_score_keeper_start() - a keeper writing to @store, in @saver's commits when @saver is
 * not NULL (churn__chat_saver_ride(); alone when it cannot take them). Both borrowed until
 * churn_score_keeper_stop(), which must come before @saver's stop. CHURN_ENOMEM.
 */
enum churn_err churn_score_keeper_start(struct churn_store *store, struct churn__chat_saver *saver,
                                        struct churn_score_keeper **out);

/** churn_score_keeper_stop() - write what is queued, stop and free. NULL: no-op. */
void churn_score_keeper_stop(struct churn_score_keeper *k);

/**
 * churn_score_keeper_offer() - queue @s (which must carry its contributions and the digest of
 * a stored record) for storage; when the queue is full, wait for room if @wait, else drop it.
 * Whether it was queued.
 */
bool churn_score_keeper_offer(struct churn_score_keeper *k, const struct churn_score *s, bool wait);

/** churn_score_keeper_flush() - return once everything queued before the call is written. */
void churn_score_keeper_flush(struct churn_score_keeper *k);

/** churn_score_keeper_stats() - the counts so far into @out (NULL keeper: zeros). */
void churn_score_keeper_stats(struct churn_score_keeper *k, struct churn_score_keeper_stats *out);

#endif
