/*
 * churn/answer_cache.h - answers kept encoded for reuse (issue 12, service/answer_cache.c):
 * the bytes of a response already built for one customer, keyed by the customer id and a
 * variant (what else in the request changes the answer, e.g. max_reasons), each with the
 * stamp of the stored score it was built from (struct churn_score_stamp). The cache never
 * decides whether an answer is still true: the caller checks the stamp it gets back with the
 * engine (churn_scorer_stamp_current) before serving the bytes, and drops a stale one.
 * Bounded by bytes and by entries, the least recently used answer evicted first; erasing a
 * customer drops every answer of theirs at once. Thread-safe (the customers are spread over
 * independently locked shards). The bytes are opaque here: the service writes and reads them.
 */
#ifndef CHURN_ANSWER_CACHE_H
#define CHURN_ANSWER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"
#include "churn/score.h"

/* The default bounds (churnd --answer-cache-mb overrides the bytes). */
#define CHURN_ANSWER_CACHE_BYTES_DEFAULT   (32u << 20)
#define CHURN_ANSWER_CACHE_ENTRIES_DEFAULT 100000u

/*
 * struct churn_answer_meta - what an answer says beside its bytes: the stamp of the stored
 * score it was built from, and the probability and risk tier it carries (for the served-score
 * metrics of a reuse).
 */
struct churn_answer_meta {
    struct churn_score_stamp stamp;
    double probability;
    int risk_tier;
};

/* struct churn_answer_cache_stats - counts since creation, and what is held now. */
struct churn_answer_cache_stats {
    uint64_t hits;      /* answers found and served (found minus stale) */
    uint64_t misses;    /* lookups that found nothing */
    uint64_t stale;     /* answers found but no longer current (dropped) */
    uint64_t evictions; /* answers dropped to stay within the bounds */
    uint64_t entries;   /* answers held */
    uint64_t bytes;     /* bytes held, bookkeeping included */
};

struct churn_answer_cache;

/**
 * churn_answer_cache_create() - an empty cache holding at most @max_bytes bytes and
 * @max_entries answers (each at least 1, else CHURN_EINVAL). CHURN_ENOMEM.
 */
enum churn_err churn_answer_cache_create(size_t max_bytes, size_t max_entries,
                                         struct churn_answer_cache **out);

/** churn_answer_cache_destroy() - free @c and every answer (NULL: no-op). */
void churn_answer_cache_destroy(struct churn_answer_cache *c);

/**
 * churn_answer_cache_get() - the answer kept for (@customer_id, @variant): its meta into
 * @meta and its bytes into @buf (capacity @cap), *@len their length; it becomes the most
 * recently used. False when there is none, or when it is longer than @cap (@buf untouched).
 * The caller checks @meta->stamp before serving the bytes (churn_answer_cache_drop_stale()
 * when it fails).
 */
bool churn_answer_cache_get(struct churn_answer_cache *c, const char *customer_id, uint32_t variant,
                            struct churn_answer_meta *meta, void *buf, size_t cap, size_t *len);

/**
 * churn_answer_cache_drop_stale() - the answer churn_answer_cache_get() returned with @stamp
 * is no longer current: drop it (unless another answer has replaced it meanwhile) and count
 * the lookup as stale.
 */
void churn_answer_cache_drop_stale(struct churn_answer_cache *c, const char *customer_id,
                                   uint32_t variant, const struct churn_score_stamp *stamp);

/**
 * churn_answer_cache_erasures() - how many customers were forgotten so far: read it before
 * reading what an answer is built from, and pass it to churn_answer_cache_put().
 */
uint64_t churn_answer_cache_erasures(struct churn_answer_cache *c);

/**
 * churn_answer_cache_put() - keep @len bytes at @data (copied) as the answer for
 * (@customer_id, @variant) with @meta, replacing the one before and evicting the least
 * recently used answers of the same shard while over the bounds; unless a customer was
 * forgotten since @erasures was read (the answer may be of an erased customer: an erasure
 * must leave nothing behind). An answer too large for its shard's share of the bytes, or a
 * failed allocation, is simply not kept either.
 */
void churn_answer_cache_put(struct churn_answer_cache *c, const char *customer_id, uint32_t variant,
                            const struct churn_answer_meta *meta, const void *data, size_t len,
                            uint64_t erasures);

/**
 * churn_answer_cache_forget() - drop every answer of @customer_id (its erasure, after the
 * store's), and refuse puts of answers built before it (churn_answer_cache_erasures).
 */
void churn_answer_cache_forget(struct churn_answer_cache *c, const char *customer_id);

/** churn_answer_cache_stats() - the counts into @out (NULL cache: zeros). */
void churn_answer_cache_stats(struct churn_answer_cache *c, struct churn_answer_cache_stats *out);

#endif
