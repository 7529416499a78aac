/*
 * store_internal.h - what the files of src/store share and nobody else sees: the record codec
 * (record.c), the in-memory application of an event to a record (record.c), and the error
 * message helpers of the store (store.c).
 */
#ifndef CHURN_STORE_INTERNAL_H
#define CHURN_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"
#include "churn/event.h"
#include "churn/store.h"

/* The current customer record encoding, and the oldest one the decoder still reads. */
#define CHURN__RECORD_VERSION     2
#define CHURN__RECORD_VERSION_MIN 1
/* Largest day number a record may hold (9999-12-31): keeps day arithmetic far from overflow. */
#define CHURN__DAY_MAX 2932896
/* Upper bound of an encoded record (attributes, plan history and every day bucket full). */
#define CHURN__RECORD_MAX (8192 + CHURN_PLAN_HISTORY_MAX * 82 + CHURN_DAYS_MAX * 56)

/** churn__record_init() - an empty record for @customer_id (no events, attributes unknown). */
void churn__record_init(struct churn_customer *rec, const char *customer_id);

/**
 * churn__record_encode() - current-version bytes of @rec into @out (capacity @cap, at least
 * CHURN__RECORD_MAX). Return: the length.
 */
size_t churn__record_encode(const struct churn_customer *rec, unsigned char *out, size_t cap);

/**
 * churn__record_decode() - decode @len bytes (any version from CHURN__RECORD_VERSION_MIN) of
 * the record keyed @id (@id_len bytes) into @out. Return: CHURN_OK or CHURN_ECORRUPT with the
 * message set through churn__store_fail().
 */
enum churn_err churn__record_decode(const void *data, size_t len, const char *id, size_t id_len,
                                    struct churn_customer *out);

/**
 * churn__record_check_event() - whether @ev can be applied to @rec (a custom attribute needs a
 * free slot). Return: CHURN_OK or an error with @reason filled.
 */
enum churn_err churn__record_check_event(const struct churn_customer *rec,
                                         const struct churn_event *ev, char *reason,
                                         size_t reason_len);

/**
 * churn__record_apply() - apply a validated event to @rec: lifetime totals always; the day
 * bucket when the event's day is >= @min_day.
 */
void churn__record_apply(struct churn_customer *rec, const struct churn_event *ev, int32_t min_day);

/** churn__record_prune() - drop day buckets before @min_day. */
void churn__record_prune(struct churn_customer *rec, int32_t min_day);

/** churn__store_fail() - set this thread's store message and return @err. */
enum churn_err churn__store_fail(enum churn_err err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* struct churn__segment - one caller's events and their result slots in a group commit. */
struct churn__segment {
    const struct churn_event *events;
    size_t n;
    struct churn_event_result *results;
};

/**
 * churn__store_apply() - validate and apply every event of @nsegs segments in one durable
 * write transaction (growing the map and retrying as needed). Same contract as
 * churn_store_apply_events() for each segment.
 */
enum churn_err churn__store_apply(struct churn_store *store, const struct churn__segment *segs,
                                  size_t nsegs, int64_t now_ms);

/*
 * struct churn__apply - events prepared for a write transaction (churn__apply_begin): each
 * validated (the invalid ones' results set), the valid ones ordered by customer id then
 * arrival. The other fields are the transaction's.
 */
struct churn__apply {
    const struct churn_event **ev;
    struct churn_event_result **res;
    uint32_t *order; /* valid events, by customer id then arrival */
    size_t n_valid, total;
    int64_t now_ms;
    int32_t first_day; /* oldest day bucketed by this batch (INT32_MAX: none) */
};

/**
 * churn__apply_begin() - validate and order the events of @nsegs segments for a transaction
 * at @now_ms into @c; release it with churn__apply_end() (also after an error here).
 * CHURN_ENOMEM, CHURN_ETOOBIG.
 */
enum churn_err churn__apply_begin(struct churn_store *store, const struct churn__segment *segs,
                                  size_t nsegs, int64_t now_ms, struct churn__apply *c);

/**
 * churn__apply_end() - after the transaction that carried @c ended with @err: on success the
 * observed history and the group observer are told; @c is released either way.
 */
void churn__apply_end(struct churn_store *store, struct churn__apply *c, enum churn_err err);

#endif
