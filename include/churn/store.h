/*
 * churn/store.h - churnd's durable memory: one LMDB environment holding every customer's
 * record, the idempotency keys of ingested events, chat conversation state, alert state, the
 * alert log, the outcome log and metadata.
 *
 * A customer record (churn/customer.h) holds everything one score needs (attributes, lifetime
 * totals, daily activity buckets for the retention horizon, plan history), so a score is
 * exactly one read.
 * Writes are batched: churn_store_apply_events() applies many events in one durable write
 * transaction, and struct churn_store_writer groups batches from many producer threads into
 * one transaction (group commit). The LMDB map grows on demand up to a hard cap. Every LMDB
 * code is translated to enum churn_err; churn_store_last_error() gives the precise message.
 * Record layouts and the database layout are described in docs/STORAGE.md.
 *
 * Threads: a struct churn_store is shared by all threads. A struct churn_store_reader belongs
 * to one thread at a time. Write calls may come from any thread; LMDB serialises them.
 */
#ifndef CHURN_STORE_H
#define CHURN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/arena.h"
#include "churn/buf.h"
#include "churn/clock.h"
#include "churn/customer.h"
#include "churn/error.h"
#include "churn/event.h"
#include "churn/outcomes.h"

/*
 * The store format this build writes (meta "churn.format"). 2: the event sequence
 * ("churn.event_seq", docs/STORAGE.md). An older store is upgraded in place when first opened
 * for writing; a newer one is refused.
 */
#define CHURN_STORE_FORMAT 2
/* Largest conversation, alert state, alert or meta value (bytes). */
#define CHURN_STORE_VALUE_MAX (1u << 20)

struct churn_store;

struct churn_store_options {
    size_t map_size;     /* initial LMDB map size in bytes (default 64 MiB) */
    size_t map_size_max; /* hard cap for growth (default 64 GiB) */
    /* Retention horizon of day buckets and event ids, in days. 0 (the default): the store's
     * own, kept in the store since it was created (180 for a new store). Non-zero: that horizon;
     * a writable open keeps it in the store from then on. */
    unsigned horizon_days;
    int64_t skew_ms;      /* future-timestamp tolerance (default CHURN_EVENT_SKEW_MS) */
    unsigned max_readers; /* LMDB reader slots (default 126) */
    bool read_only;       /* open an existing store without write access */
    /* issue 14 (metrics): called on the committing thread after each durable write commit
     * with its duration, the fsync included (commit_ns), and after each commit of events (a
     * writer's group commit, or churn_store_apply_events) with their number (group); NULL: not
     * called. Must not block. */
    void (*on_commit_ns)(void *ctx, int64_t commit_ns);
    void (*on_group)(void *ctx, size_t events);
    void *observer_ctx;
};

/** churn_store_options_init() - fill @opts with the defaults above. */
void churn_store_options_init(struct churn_store_options *opts);

/**
 * churn_store_open() - open (or create) the store in directory @dir.
 * @dir: directory (created with mode 0750 if missing, unless read_only).
 * @opts: options, or NULL for the defaults; copied.
 * @out: OUT: the store, to be released with churn_store_close().
 *
 * Clears stale reader slots left by dead processes (mdb_reader_check). The map is set to the
 * larger of opts->map_size and the size the file already has.
 *
 * Return: CHURN_OK; CHURN_EPERM for a read-only or inaccessible directory; CHURN_EFULL when
 * the disk is full; CHURN_ECORRUPT when @dir holds something that is not a churnd store (or
 * a newer format); CHURN_ENOTFOUND for a read-only open of a missing store; CHURN_EINVAL for
 * bad options. The message is in churn_store_last_error().
 */
enum churn_err churn_store_open(const char *dir, const struct churn_store_options *opts,
                                struct churn_store **out);

/**
 * churn_store_close() - close @store (NULL is fine). Every reader and writer of the store must
 * have been closed or stopped first.
 */
void churn_store_close(struct churn_store *store);

/**
 * churn_store_last_error() - the precise message of the last store call on this thread that
 * failed ("" if none). Static thread-local storage, valid until the next store call on the
 * same thread.
 */
const char *churn_store_last_error(void);

enum churn_event_status {
    CHURN_EVENT_ACCEPTED,
    CHURN_EVENT_DUPLICATE, /* this (customer_id, event_id) was applied before: no effect */
    CHURN_EVENT_REJECTED,  /* invalid: see err and reason; no effect */
};

struct churn_event_result {
    enum churn_event_status status;
    bool lifetime_only; /* accepted, older than the horizon: lifetime totals only */
    enum churn_err err; /* CHURN_OK unless rejected */
    char reason[CHURN_REASON_MAX];
};

/**
 * churn_store_apply_events() - apply @n events in ONE write transaction, committed durably
 * (fsync) before returning.
 * @events: the events (borrowed for the call).
 * @now_ms: the current time: decides "future" and the horizon (churn_now_ms() in production).
 * @results: OUT: @n per-event results, set when the call returns CHURN_OK.
 *
 * Idempotent on (customer_id, event_id): an event seen before, in this batch or an earlier one
 * within the horizon, is a duplicate. Events within the horizon update their day's bucket
 * (in any order); older ones update the lifetime totals only. A customer seen for the first
 * time gets a record. A rejected event does not affect the others.
 *
 * Return: CHURN_OK (even when events were rejected or duplicate); on any other code nothing
 * was written and @results is unspecified: CHURN_EFULL (map cap or disk full), CHURN_EIO, ...
 */
enum churn_err churn_store_apply_events(struct churn_store *store, const struct churn_event *events,
                                        size_t n, int64_t now_ms,
                                        struct churn_event_result *results);

/*
 * struct churn_customer_upsert - one customer of churn_store_upsert_customers(): the
 * attributes replace the stored ones; events, totals and buckets are kept.
 */
struct churn_customer_upsert {
    const char *customer_id;
    const struct churn_customer_attrs *attrs;
};

/**
 * churn_store_upsert_customers() - create or update @n customers in one durable transaction,
 * all or nothing. An attribute set's plan and monthly value are overridden by later plan
 * change events. Return: CHURN_OK; CHURN_EINVAL (bad id or attribute; message names the
 * item index); storage errors as for churn_store_apply_events().
 */
enum churn_err churn_store_upsert_customers(struct churn_store *store,
                                            const struct churn_customer_upsert *items, size_t n);

/**
 * churn_store_get_customer() - read and decode one customer with a short read transaction.
 * @out: OUT: the caller's struct; the record owns no pointers. Decoding writes only the
 * parts in use (attribute slots past n_num/n_cat and day slots past n_days are unspecified).
 * Return: CHURN_OK; CHURN_ENOTFOUND or CHURN_EINVAL (bad id) with @out untouched;
 * CHURN_ECORRUPT for an undecodable record, after which @out's contents are unspecified (it is
 * decoded in place to keep the read path copy-free). For the serving path prefer a
 * struct churn_store_reader.
 */
enum churn_err churn_store_get_customer(struct churn_store *store, const char *customer_id,
                                        struct churn_customer *out);

/* struct churn_store_erase_report - what a privacy erase removed. */
struct churn_store_erase_report {
    bool record;
    bool alert_states;
    size_t event_ids;
    size_t conversations;
    size_t alerts;
    size_t outcomes;
    bool score; /* the stored score (churn/score_store.h) */
};

/**
 * churn_store_delete_customer() - privacy erase, one durable transaction: the record, its
 * stored score, every event id, every conversation, the alert state, every alert and every outcome
 * of
 * @customer_id. @report: OUT, what was removed (may be NULL).
 * Return: CHURN_OK; CHURN_ENOTFOUND when nothing of the customer existed.
 */
enum churn_err churn_store_delete_customer(struct churn_store *store, const char *customer_id,
                                           struct churn_store_erase_report *report);

/**
 * churn_store_foreach_customer() - call @fn for every customer in id order. No lock or
 * transaction is held while @fn runs, so @fn may write to the store; customers added or
 * removed meanwhile may or may not be visited. @rec is valid only during the call.
 * @fn returns 0 to continue, anything else to stop (then this returns CHURN_ECANCELLED).
 */
enum churn_err churn_store_foreach_customer(struct churn_store *store,
                                            int (*fn)(const struct churn_customer *rec, void *user),
                                            void *user);

/**
 * churn_store_list_customer_ids() - up to @max customer ids that sort after @after ("" or
 * NULL: from the first), in id order, copied into @ids, read in ONE short read transaction
 * (no record is decoded). *@n is how many were copied; fewer than @max means the end was
 * reached. Resumable: pass the last id returned as @after. For walks that must not hold a
 * transaction or block writers for long (the sweep).
 */
enum churn_err churn_store_list_customer_ids(struct churn_store *store, const char *after,
                                             char (*ids)[CHURN_ID_MAX + 1], size_t max, size_t *n);

/* struct churn_store_drop_report - what churn_store_drop_customers() removed. */
struct churn_store_drop_report {
    size_t customers; /* customers that had anything */
    size_t alerts;
    size_t outcomes;
};

/**
 * churn_store_drop_customers() - issue 16: the privacy erase of churn_store_delete_customer()
 * for the @n customers @ids in ONE durable transaction, their alert and outcome entries found
 * in one walk of each log (the old owner's copy of moved partitions). Customers with nothing
 * stored are skipped. @report: OUT (may be NULL). Return: CHURN_OK or a storage error.
 */
enum churn_err churn_store_drop_customers(struct churn_store *store, const char *const *ids,
                                          size_t n, struct churn_store_drop_report *report);

/**
 * churn_store_export_customer() - issue 16: everything the store keeps about customer @id,
 * read in one transaction, appended to @out as one bundle for churn_store_import_customer() on
 * another store (a partition moving to another shard): its own keys (record, event ids,
 * conversations' tracker states, alert state) and its entries of the alert log (every revision)
 * and of the outcome log, in sequence order, under their sequences here. CHURN_ENOTFOUND when it
 * has none of them, CHURN_ETOOBIG past @out's cap (@out unchanged on error).
 */
enum churn_err churn_store_export_customer(struct churn_store *store, const char *id,
                                           struct churn_buf *out);

/* struct churn_store_export - one customer of churn_store_export_customers(). */
struct churn_store_export {
    const char *id;
    size_t off, len;    /* OUT: where its bundle is in the buffer */
    enum churn_err err; /* OUT: CHURN_OK, CHURN_ENOTFOUND, CHURN_ETOOBIG, or CHURN_EAGAIN: not
                         * exported because the buffer had reached the soft cap before it */
};

/**
 * churn_store_export_customers() - churn_store_export_customer() of @n customers in ONE read
 * transaction, with one walk of each log for all of them (a move's page), their bundles back to
 * back in @out. Once @out holds @soft_cap bytes, or an item hit @out's cap (CHURN_ETOOBIG, its
 * bytes removed), the items after it are CHURN_EAGAIN. Return: CHURN_OK or a storage error.
 */
enum churn_err churn_store_export_customers(struct churn_store *store,
                                            struct churn_store_export *items, size_t n,
                                            struct churn_buf *out, size_t soft_cap);

/**
 * churn_store_import_customer() - replace everything the store keeps about customer @id with
 * the bundle @bundle (@len bytes, from churn_store_export_customer()), in one durable
 * transaction, without hooks (a bundle holding alerts is refused; see
 * churn_store_import_customers()). Every entry is checked first, and nothing is written when
 * one fails (the reason in @reason): a bundle that does not decode or is truncated, another
 * version, a key that is not @id's (another customer's), an empty or oversized value, a record
 * that does not decode, log entries out of order or tagged with another customer.
 */
enum churn_err churn_store_import_customer(struct churn_store *store, const char *id,
                                           const void *bundle, size_t len, char *reason,
                                           size_t rlen);

/* struct churn_store_seq_map - old log sequences (ascending) and the new ones they became. */
struct churn_store_seq_map {
    const uint64_t *from, *to;
    size_t n;
};

/** churn_store_seq_map_find() - what @from became in @map; 0 when it is not there. */
uint64_t churn_store_seq_map_find(const struct churn_store_seq_map *map, uint64_t from);

/*
 * typedef churn_store_rewrite_fn - rewrite the opaque bytes @in (@len) of customer @customer_id's
 * imported value whose log sequences are renumbered by @map: an alert revision that becomes
 * entry @seq, or an alert state (@seq 0). Output into @out (@cap bytes, *@out_len); an error
 * with @reason when the bytes do not decode, are another customer's, or name a sequence they
 * must and @map lacks. Pure: no store access.
 */
typedef enum churn_err churn_store_rewrite_fn(const char *customer_id, const void *in, size_t len,
                                              uint64_t seq, const struct churn_store_seq_map *map,
                                              void *out, size_t cap, size_t *out_len, char *reason,
                                              size_t rlen);

/* struct churn_store_import_hooks - what the alert module knows of its own bytes. */
struct churn_store_import_hooks {
    churn_store_rewrite_fn *alert; /* an alert revision's id and sequence */
    churn_store_rewrite_fn *state; /* the alert ids an alert state names */
};

/* The alert sequence ranges imported from other shards are kept (newest last) up to this many. */
#define CHURN_STORE_ALERT_IMPORTS_MAX 4096

/**
 * churn_store_alert_imports() - issue 16: the ranges of alert sequences that imports of moved
 * customers appended (revisions another shard's log held first), as pairs (first, last) into
 * @ranges (room for @max pairs, newest last); *@n how many. Delivery skips them: their webhooks
 * were called by the shard that raised them. CHURN_OK with *@n 0 when there are none.
 */
enum churn_err churn_store_alert_imports(struct churn_store *store, uint64_t (*ranges)[2],
                                         size_t max, size_t *n);

/* struct churn_store_import - one customer of churn_store_import_customers(). */
struct churn_store_import {
    const char *id;
    const void *bundle;
    size_t len;
    enum churn_err err; /* OUT: CHURN_OK, or why this bundle was refused (in reason) */
    char reason[256];
    uint64_t alerts_first; /* OUT: its alert entries appended here start at this sequence ... */
    size_t alerts_added;   /* ... and are this many (0: none, or the same ones were there) */
    bool alerts_replaced;  /* OUT: entries of an earlier import were deleted first */
};

/**
 * churn_store_import_customers() - churn_store_import_customer() of @n bundles in ONE durable
 * transaction (a move's page: one fsync, not one per customer). Each item is checked alone and
 * a refused one (item->err, item->reason) leaves its customer untouched; the others are
 * written together. A customer's alert and outcome log entries get this store's next
 * sequences, in their order, and @hooks renumber the alert ids they and the alert state name;
 * an import that finds the customer's entries already there with the same bytes (the copy
 * repeated) keeps them, else they are replaced. Without @hooks, alerts are refused and an alert
 * state is copied as is. Return: CHURN_OK, or a storage error (then nothing was written).
 */
enum churn_err churn_store_import_customers(struct churn_store *store,
                                            struct churn_store_import *items, size_t n,
                                            const struct churn_store_import_hooks *hooks);

/**
 * churn_store_put_conversation() - store @len bytes (<= CHURN_STORE_VALUE_MAX) of chat tracker
 * state for conversation @conversation_id of @customer_id (durable, replaces).
 */
enum churn_err churn_store_put_conversation(struct churn_store *store, const char *customer_id,
                                            const char *conversation_id, const void *data,
                                            size_t len);

/* struct churn_conversation_put - one item of churn_store_put_conversations(). */
struct churn_conversation_put {
    const char *customer_id;
    const char *conversation_id;
    const void *data;
    size_t len;
};

/**
 * churn_store_put_conversations() - store @n conversation states in ONE durable transaction
 * (later items win over earlier ones with the same key). All or nothing; same limits as
 * churn_store_put_conversation().
 */
enum churn_err churn_store_put_conversations(struct churn_store *store,
                                             const struct churn_conversation_put *items, size_t n);

/**
 * churn_store_get_conversation() - copy the stored state into @arena.
 * @data: OUT: the bytes, valid until @arena is reset; @len: OUT: their length.
 * Return: CHURN_OK; CHURN_ENOTFOUND; CHURN_ENOMEM when the arena is full.
 */
enum churn_err churn_store_get_conversation(struct churn_store *store, const char *customer_id,
                                            const char *conversation_id, struct churn_arena *arena,
                                            void **data, size_t *len);

/** churn_store_delete_conversation() - forget one conversation; CHURN_ENOTFOUND if absent. */
enum churn_err churn_store_delete_conversation(struct churn_store *store, const char *customer_id,
                                               const char *conversation_id);

/**
 * churn_store_put_alert_state() - store the alerts module's per-customer state (cooldowns,
 * open alerts) as @len opaque bytes (<= CHURN_STORE_VALUE_MAX), durably, replacing.
 * Return: CHURN_OK; CHURN_EINVAL for a bad id; CHURN_ETOOBIG; storage errors.
 */
enum churn_err churn_store_put_alert_state(struct churn_store *store, const char *customer_id,
                                           const void *data, size_t len);

/* struct churn_alert_state_put - one item of churn_store_put_alert_states(). */
struct churn_alert_state_put {
    const char *customer_id;
    const void *data;
    size_t len;
};

/**
 * churn_store_put_alert_states() - store @n alert states in ONE durable transaction (later
 * items win over earlier ones for the same customer); all or nothing; checks as for
 * churn_store_put_alert_state(), the message names the item index.
 */
enum churn_err churn_store_put_alert_states(struct churn_store *store,
                                            const struct churn_alert_state_put *items, size_t n);

/**
 * churn_store_get_alert_state() - copy @customer_id's alert state into @arena.
 * @data: OUT: the bytes, valid until @arena is reset; @len: OUT: their length.
 * Return: CHURN_OK; CHURN_ENOTFOUND; CHURN_ENOMEM when the arena is full.
 */
enum churn_err churn_store_get_alert_state(struct churn_store *store, const char *customer_id,
                                           struct churn_arena *arena, void **data, size_t *len);

/**
 * churn_store_foreach_alert_state() - call @fn for every customer's alert state in customer
 * id order, in one read transaction (@fn must not call the store; @data is valid only during
 * the call). @fn returns non-zero to stop (then CHURN_ECANCELLED). Values with an unknown
 * format byte are skipped.
 */
enum churn_err churn_store_foreach_alert_state(struct churn_store *store,
                                               int (*fn)(const char *customer_id, const void *data,
                                                         size_t len, void *user),
                                               void *user);

/**
 * churn_store_append_alert() - append @len bytes to the alert log under the next sequence
 * number (1, 2, ...; never reused, even after a privacy erase removed alerts).
 * @seq: OUT: the sequence assigned. Durable on return.
 */
enum churn_err churn_store_append_alert(struct churn_store *store, const char *customer_id,
                                        const void *data, size_t len, uint64_t *seq);

/**
 * typedef churn_store_alert_fill_fn - produce the bytes of an alert appended under @seq and
 * of its customer's new alert state (both may depend on @seq). Called inside the write
 * transaction, possibly more than once (a transaction retried after the map grew), so it
 * must give the same answer each time. The bytes must stay valid until the append returns.
 */
typedef enum churn_err churn_store_alert_fill_fn(uint64_t seq, void *user, const void **alert,
                                                 size_t *alert_len, const void **state,
                                                 size_t *state_len);

/**
 * churn_store_append_alert_with_state() - append an alert for @customer_id under the next
 * sequence AND replace the customer's alert state, in ONE durable transaction: after a crash
 * either both are there or neither. @fill gives the bytes once the sequence is known.
 * @seq: OUT. Errors as for the two calls it combines, plus whatever @fill returns.
 */
enum churn_err churn_store_append_alert_with_state(struct churn_store *store,
                                                   const char *customer_id,
                                                   churn_store_alert_fill_fn *fill, void *user,
                                                   uint64_t *seq);

/**
 * typedef churn_store_alerts_fill_fn - churn_store_alert_fill_fn for item @i of a batch.
 */
typedef enum churn_err churn_store_alerts_fill_fn(size_t i, uint64_t seq, void *user,
                                                  const void **alert, size_t *alert_len,
                                                  const void **state, size_t *state_len);

/**
 * churn_store_append_alerts_with_states() - churn_store_append_alert_with_state() for @n
 * alerts in ONE durable transaction: item i (of customer_ids[i]) gets the next sequence after
 * item i-1's, and its customer's alert state is replaced (a later item of the same customer
 * replaces an earlier item's state). All are written or none. @seqs: OUT, @n sequences.
 */
enum churn_err churn_store_append_alerts_with_states(struct churn_store *store, size_t n,
                                                     const char *const *customer_ids,
                                                     churn_store_alerts_fill_fn *fill, void *user,
                                                     uint64_t *seqs);

/**
 * churn_store_replace_alert() - overwrite the bytes of existing alert @seq (state changes:
 * acknowledged, closed). Return: CHURN_OK; CHURN_ENOTFOUND.
 */
enum churn_err churn_store_replace_alert(struct churn_store *store, uint64_t seq, const void *data,
                                         size_t len);

/*
 * typedef churn_store_log_fn - one entry of a log walk (the alert log, the outcome log): its
 * sequence, its customer and the caller's bytes, valid only during the call (a read
 * transaction is open: do not call the store). Return non-zero to stop.
 */
typedef int churn_store_log_fn(uint64_t seq, const char *customer_id, const void *data, size_t len,
                               void *user);

/**
 * churn_store_foreach_alert() - call @fn for each alert with sequence > @after_seq in order,
 * at most @max of them (0: no limit). @data is valid only during the call (a read transaction
 * is open: @fn must not call the store at all). @fn returns non-zero to stop.
 */
enum churn_err churn_store_foreach_alert(struct churn_store *store, uint64_t after_seq, size_t max,
                                         churn_store_log_fn *fn, void *user);

/**
 * churn_store_foreach_customer_alert() - @fn for each alert record of @customer_id, newest
 * first, through the log's per-customer index: those with sequence below @before (0: from the
 * newest), at most @max (0: all). Every revision of every alert of the customer, and only
 * theirs. The same contract for @fn as churn_store_foreach_alert(); a non-zero return stops
 * (then CHURN_ECANCELLED). An older store opened read-only has no index: nothing is called.
 * Return: CHURN_OK; CHURN_EINVAL (bad id); CHURN_ECORRUPT; storage errors.
 */
enum churn_err churn_store_foreach_customer_alert(struct churn_store *store,
                                                  const char *customer_id, uint64_t before,
                                                  size_t max, churn_store_log_fn *fn, void *user);

/**
 * churn_store_append_outcome() - append @len opaque bytes (1..CHURN_STORE_VALUE_MAX, e.g.
 * churn_outcome_encode()) for @customer_id to the outcome log under the next sequence
 * (last + 1). Durable on return. @seq: OUT (may be NULL). The privacy erase removes a
 * customer's outcomes. Return: CHURN_OK; CHURN_EINVAL (bad id); CHURN_ETOOBIG; storage errors.
 */
enum churn_err churn_store_append_outcome(struct churn_store *store, const char *customer_id,
                                          const void *data, size_t len, uint64_t *seq);

/**
 * churn_store_foreach_outcome() - call @fn for every outcome in sequence order, in one read
 * transaction (@fn must not call the store; @data is valid only during the call). @fn returns
 * non-zero to stop (then CHURN_ECANCELLED). CHURN_ECORRUPT for an undecodable entry.
 */
enum churn_err churn_store_foreach_outcome(struct churn_store *store, churn_store_log_fn *fn,
                                           void *user);

/**
 * churn_store_history_from_ms() - where the store's day buckets begin to observe customers'
 * history, for features computed with data up to @observed_until_ms: the later of the store's
 * data start (the first UTC day any event was bucketed, recorded as events arrive) and the
 * retention limit (@observed_until_ms's day - horizon_days + 1), as the start of that day.
 * 0 for a store that has bucketed nothing. Pass it to churn_features_extract_observed().
 */
int64_t churn_store_history_from_ms(struct churn_store *store, int64_t observed_until_ms);

/**
 * churn_store_put_meta() - store named metadata (feature schema, model registry): @len bytes
 * (<= CHURN_STORE_VALUE_MAX) under @name (1..CHURN_NAME_MAX bytes), durably, replacing.
 * Return: CHURN_OK; CHURN_EINVAL for a bad name; CHURN_EPERM for names starting with
 * "churn." (reserved for the store); CHURN_ETOOBIG.
 */
enum churn_err churn_store_put_meta(struct churn_store *store, const char *name, const void *data,
                                    size_t len);

/* One named value of churn_store_put_metas(). */
struct churn_store_meta_put {
    const char *name;
    const void *data;
    size_t len;
};

/**
 * churn_store_put_metas() - churn_store_put_meta() for @n values in one durable commit (all
 * or none): the delivery cursors of every destination at once. The same errors, for the
 * first bad item; nothing is written then.
 */
enum churn_err churn_store_put_metas(struct churn_store *store,
                                     const struct churn_store_meta_put *items, size_t n);

/**
 * churn_store_get_meta() - copy metadata @name into @arena.
 * @data: OUT: the bytes, valid until @arena is reset; @len: OUT: their length.
 * Return: CHURN_OK; CHURN_ENOTFOUND; CHURN_EINVAL; CHURN_ENOMEM when the arena is full.
 */
enum churn_err churn_store_get_meta(struct churn_store *store, const char *name,
                                    struct churn_arena *arena, void **data, size_t *len);

struct churn_store_maintenance {
    int stale_readers_cleared; /* reader slots of dead processes freed */
    size_t event_ids_scanned;
    size_t event_ids_pruned; /* seen longer ago than the horizon */
};

/**
 * churn_store_maintain() - periodic housekeeping (call it from the daemon's timer): clear
 * stale readers, prune event ids older than the horizon, scanning at most @budget ids per
 * call and resuming where the previous call stopped (0: scan everything).
 * @report: OUT: what was done (may be NULL).
 */
enum churn_err churn_store_maintain(struct churn_store *store, int64_t now_ms, size_t budget,
                                    struct churn_store_maintenance *report);

/**
 * churn_store_copy_compact() - write a consistent, compacted copy of the store into
 * directory @dest_dir (which must exist and hold no store), while the store keeps serving
 * (a read transaction is held for the duration). Free pages are not copied, so the copy holds
 * no bytes of erased customers: use it for backups and to finish a privacy erase
 * (then swap the directories while churnd is stopped).
 * Return: CHURN_OK; CHURN_EEXIST when @dest_dir already holds a store; errors of the file
 * system (CHURN_EPERM, CHURN_EFULL, CHURN_ENOTFOUND) with the message.
 */
enum churn_err churn_store_copy_compact(struct churn_store *store, const char *dest_dir);

struct churn_store_stats {
    size_t customers;
    size_t event_ids;
    size_t conversations;
    size_t alerts;
    size_t outcomes;
    size_t map_size;        /* current LMDB map size */
    size_t used_bytes;      /* pages in use times page size (the file's high-water mark) */
    size_t customers_bytes; /* pages of the customers database times page size */
    size_t event_ids_bytes; /* pages of the event_ids database times page size */
    size_t scores;          /* stored scores (churn/score_store.h) */
    size_t scores_bytes;    /* pages of the scores database times page size */
    uint64_t event_seq;     /* events ever accepted (since the upgrade to format 2: see there) */
    uint64_t alert_seq;     /* the last alert sequence assigned */
};

/** churn_store_stats() - sizes, read in one transaction. @out: OUT. */
enum churn_err churn_store_stats(struct churn_store *store, struct churn_store_stats *out);

/*
 * struct churn_store_reader - a reusable read transaction for one thread (reset between uses
 * and renewed on the next), so the serving path pays one lookup and no allocation per read.
 */
struct churn_store_reader;

/** churn_store_reader_open() - @out: OUT: a reader; release with churn_store_reader_close(). */
enum churn_err churn_store_reader_open(struct churn_store *store, struct churn_store_reader **out);

/** churn_store_reader_close() - release @reader (NULL is fine). */
void churn_store_reader_close(struct churn_store_reader *reader);

/**
 * churn_store_reader_get_customer_digest() - like churn_store_reader_get_customer(), and
 * *@digest is the stored bytes' churn_digest64, for a caller that keeps what it derived from
 * the record last time. When @known (may be NULL) equals that digest nothing is decoded:
 * *@decoded = false and @out is left as it is; otherwise @out is decoded, *@decoded = true.
 * CHURN_ENOTFOUND when there is no such customer.
 */
enum churn_err churn_store_reader_get_customer_digest(struct churn_store_reader *reader,
                                                      const char *customer_id,
                                                      const uint64_t *known, uint64_t *digest,
                                                      bool *decoded, struct churn_customer *out);

/**
 * churn_store_reader_get_customer() - like churn_store_get_customer() on the reader's
 * transaction: renew, one lookup, decode into @out, reset.
 */
enum churn_err churn_store_reader_get_customer(struct churn_store_reader *reader,
                                               const char *customer_id, struct churn_customer *out);

/*
 * Group commit. Producers submit batches; one writer thread takes everything queued, applies
 * it in one write transaction, commits durably, then runs each batch's callback.
 */
struct churn_store_writer;

/**
 * typedef churn_store_writer_cb - completion of one submitted batch, called on the writer
 * thread after the commit (or the failure) of the transaction that held it. @err is CHURN_OK
 * and @results holds the per-event outcome, or @err says why nothing of the batch was
 * written. Must not block for long: the next group waits for it.
 */
typedef void churn_store_writer_cb(void *user, enum churn_err err,
                                   const struct churn_event_result *results, size_t n);

struct churn_store_writer_options {
    size_t queue_batches; /* most batches waiting (default 1024) */
    size_t queue_events;  /* most events waiting (default 262144) */
    size_t group_events;  /* most events in one transaction (default 65536) */
};

/** churn_store_writer_options_init() - defaults above. */
void churn_store_writer_options_init(struct churn_store_writer_options *opts);

/**
 * churn_store_writer_start() - start the writer thread for @store.
 * @opts: NULL for defaults. @out: OUT: the writer; stop it with churn_store_writer_stop().
 */
enum churn_err churn_store_writer_start(struct churn_store *store,
                                        const struct churn_store_writer_options *opts,
                                        struct churn_store_writer **out);

/**
 * churn_store_writer_submit() - queue @n events (1..group_events). @events (and the strings
 * they point to) and @results (@n entries, filled by the writer) are borrowed until @cb runs.
 * Thread-safe, never blocks.
 * Return: CHURN_OK and @cb will run exactly once; CHURN_EAGAIN when the queue is full;
 * CHURN_EUNAVAIL after stop began; CHURN_EINVAL for n == 0 or too many events. On failure @cb
 * is never called.
 */
enum churn_err churn_store_writer_submit(struct churn_store_writer *writer,
                                         const struct churn_event *events, size_t n,
                                         struct churn_event_result *results,
                                         churn_store_writer_cb *cb, void *user);

/**
 * churn_store_writer_stop() - refuse new batches, commit everything already queued (every
 * callback runs), join the thread and free @writer (NULL is fine).
 */
void churn_store_writer_stop(struct churn_store_writer *writer);

/**
 * churn_store_writer_flush() - wait until every batch submitted before the call has been
 * committed (or has failed) and its callback has run. Not from a writer callback.
 */
void churn_store_writer_flush(struct churn_store_writer *writer);

/** churn_store_writer_groups() - transactions committed so far (for tests and metrics). */
uint64_t churn_store_writer_groups(const struct churn_store_writer *writer);

#endif
