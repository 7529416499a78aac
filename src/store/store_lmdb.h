/*
 * store_lmdb.h - the struct behind struct churn_store and the LMDB-level helpers that the
 * files of src/store share. Includes <lmdb.h>: only src/store/ may include it.
 */
#ifndef CHURN_STORE_LMDB_H
#define CHURN_STORE_LMDB_H

#include <pthread.h>
#include <stdint.h>

#include <lmdb.h>

#include "churn/store.h"

enum churn__db {
    CHURN__DB_CUSTOMERS,
    CHURN__DB_EVENT_IDS,
    CHURN__DB_CONVERSATIONS,
    CHURN__DB_ALERTS,
    CHURN__DB_ALERT_STATE,
    CHURN__DB_META,
    CHURN__DB_OUTCOMES,        /* added in a later release: created when missing (see setup_dbs) */
    CHURN__DB_SCORES,          /* stored scores (issue 12): added later too */
    CHURN__DB_ALERT_CUSTOMERS, /* customer -> alert sequences (dupsort, issue 15): later too */
    CHURN__DB_COUNT
};

struct churn_store {
    MDB_env *env;
    MDB_dbi dbi[CHURN__DB_COUNT];
    struct churn_store_options opts;
    char *dir;
    size_t map_size;             /* current map size (changed under wlock + remap) */
    unsigned map_growths;        /* times the map grew since open */
    pthread_mutex_t wlock;       /* our write path: scratch buffers and map growth */
    pthread_rwlock_t remap;      /* read txns hold it shared; a remap takes it exclusively */
    pthread_mutex_t copy_mu;     /* long copies (backups) holding remap shared, and a remap */
    pthread_cond_t copy_cv;      /* waiting for them to end */
    unsigned copying;            /* (copy_mu) long copies under way */
    struct churn_customer *wrec; /* scratch record for write transactions (under wlock) */
    unsigned char *wbuf;         /* scratch encoding buffer (under wlock) */
    pthread_mutex_t prune_lock;
    char *prune_key; /* where the next event-id prune resumes (NULL: at the start) */
    size_t prune_key_len;
    _Atomic int32_t data_start_day;              /* first day ever bucketed (INT32_MAX: none yet) */
    unsigned upgraded_from;                      /* the format this open upgraded from (0: none) */
    uint64_t upgrade_events, upgrade_unreadable; /* what the upgrade counted */
    size_t alert_index_rebuilt;                  /* records the open indexed + 1 (0: no rebuild) */
};

/* The format byte in front of every small value (churn__store_put_versioned()). */
#define VALUE_VERSION 1

/* Meta keys the store keeps for itself (names under "churn." are refused to callers). */
#define META_FORMAT_KEY    "churn.format"
#define META_ALERT_SEQ_KEY "churn.alert_seq"
#define STORE_MAGIC        "churnd-store"

/* A write transaction body: return CHURN_OK to commit, an error to abort. */
typedef enum churn_err churn__store_write_fn(struct churn_store *s, MDB_txn *txn, void *ctx);

/**
 * churn__store_write() - run @fn in a write transaction and commit durably; on MDB_MAP_FULL
 * (in @fn or at commit) abort, grow the map (up to opts.map_size_max) and run @fn again.
 * @fn must therefore be repeatable. @what names the operation in messages.
 */
enum churn_err churn__store_write(struct churn_store *s, churn__store_write_fn *fn, void *ctx,
                                  const char *what);

/**
 * churn__store_read_begin() - begin (if *@txn is NULL) or renew a read transaction, taking
 * the remap lock shared. End it with churn__store_read_end() (which resets *@txn for reuse).
 */
enum churn_err churn__store_read_begin(struct churn_store *s, MDB_txn **txn);
void churn__store_read_end(struct churn_store *s, MDB_txn *txn);

/**
 * churn__store_copy_begin() - before a long read of the whole environment (a compacting copy):
 * hold the remap lock shared until churn__store_copy_end(). A remap (map growth) waits for the
 * copy to end *before* it queues for the lock, so that readers, which the lock would otherwise
 * queue behind the waiting remap, go on serving during the copy; writes that need a bigger
 * map wait for the copy.
 */
void churn__store_copy_begin(struct churn_store *s);
void churn__store_copy_end(struct churn_store *s);

/** churn__store_pair_key() - "@a NUL @b" into @buf (capacity 2 * CHURN_ID_MAX + 1); its length. */
size_t churn__store_pair_key(char *buf, const char *a, const char *b);

/** churn__store_check_id() - churn_id_validate() with the message set for the thread. */
enum churn_err churn__store_check_id(const char *id, const char *field);

/** churn__store_clear_error() - forget this thread's last store message (call on entry). */
void churn__store_clear_error(void);

/** churn__store_put_versioned() - put @data under @key with the value format byte first. */
enum churn_err churn__store_put_versioned(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                                          const void *data, size_t len, const char *what);

/**
 * churn__store_history_load() - set s->data_start_day at open: from its meta value, or, in a
 * store written before it existed, from the oldest day bucket of every customer (then kept in
 * meta when the store is writable).
 */
enum churn_err churn__store_history_load(struct churn_store *s);

/**
 * churn__store_history_note() - in the write transaction @txn that buckets events as old as
 * @day: lower the stored data start if @day is older. Call churn__store_history_commit() with
 * the same day after the transaction committed.
 */
enum churn_err churn__store_history_note(struct churn_store *s, MDB_txn *txn, int32_t day);
void churn__store_history_commit(struct churn_store *s, int32_t day);

/**
 * churn__store_events_note() - in the write transaction @txn that accepted @accepted events:
 * raise the event sequence (meta "churn.event_seq") by that many.
 */
enum churn_err churn__store_events_note(struct churn_store *s, MDB_txn *txn, uint64_t accepted);

/** churn__store_read_seqs() - the event and alert sequences as @txn sees them (0: none yet). */
enum churn_err churn__store_read_seqs(struct churn_store *s, MDB_txn *txn, uint64_t *event_seq,
                                      uint64_t *alert_seq);

/**
 * churn__store_upgrade() - in the opening write transaction @txn, bring a store of format
 * @from up to CHURN_STORE_FORMAT (everything but the format marker, which the caller
 * rewrites). Repeatable. churn__store_upgrade_log() logs it once the transaction committed.
 */
enum churn_err churn__store_upgrade(struct churn_store *s, MDB_txn *txn, unsigned from);
void churn__store_upgrade_log(struct churn_store *s);

/**
 * churn__store_read_format() - the store format in the marker of the meta database @meta as
 * @txn sees it, and the record version it names (@record_version may be NULL); -1 when there
 * is no valid marker.
 */
int churn__store_read_format(MDB_txn *txn, MDB_dbi meta, unsigned *record_version);

/* Big-endian u64 keys (sequences sort numerically). */
static inline void
churn__be64(unsigned char *b, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        b[i] = (unsigned char)v;
}

static inline uint64_t
churn__from_be64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/*
 * Customer-tagged sequence logs (alerts, outcomes): big-endian u64 keys; values are the
 * format byte, the customer id (length byte + bytes) and the caller's bytes.
 */
/** churn__log_put() - write entry @seq of the log @dbi in @txn (replaces). */
enum churn_err churn__log_put(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, const char *cid,
                              const void *data, size_t len, const char *what);
/** churn__log_walk() - @fn for entries after @after_seq, at most @max (0: all), one read txn. */
enum churn_err churn__log_walk(struct churn_store *s, MDB_dbi dbi, uint64_t after_seq, size_t max,
                               churn_store_log_fn *fn, void *user, const char *what);
/**
 * churn__log_value() - split the log value @v into its customer id (copied into @cid, room for
 * CHURN_ID_MAX + 1) and the caller's bytes; false when it is malformed.
 */
bool churn__log_value(const MDB_val *v, char *cid, const unsigned char **data, size_t *len);

/* The alert log's per-customer index (alert_index.c), in the caller's write transaction. */
enum churn_err churn__alert_index_put(struct churn_store *s, MDB_txn *txn, const char *cid,
                                      uint64_t seq);
/* Every entry of @cid gone (the privacy erase). */
enum churn_err churn__alert_index_erase(struct churn_store *s, MDB_txn *txn, const char *cid);
/* Rebuilt from the log when its count does not match the log's (a writable open). */
enum churn_err churn__alert_index_check(struct churn_store *s, MDB_txn *txn);

/** churn__log_erase_customer() - delete @cid's entries in @txn; adds the count to *@erased. */
enum churn_err churn__log_erase_customer(MDB_txn *txn, MDB_dbi dbi, const char *cid, long *erased,
                                         const char *what);

/** churn__alert_seq_next() - take the next alert sequence in @txn (never reused). */
enum churn_err churn__alert_seq_next(struct churn_store *s, MDB_txn *txn, uint64_t *out);

/* Bundles' log entries (bundle_logs.c): the entries of a set of customers found in one walk. */
struct churn__log_hit {
    uint32_t who; /* the customer's index in the ids walked for */
    uint64_t seq;
    MDB_val v; /* valid while the transaction is and nothing was written in it */
};
struct churn__log_hits {
    struct churn__log_hit *h; /* grouped by customer, in sequence order within each */
    size_t n, cap;
    size_t *start; /* customer w's hits are h[start[w] .. start[w + 1]) */
};

/** churn__log_collect() - every entry of log @dbi (0: none) tagged with one of the @n @ids. */
enum churn_err churn__log_collect(MDB_txn *txn, MDB_dbi dbi, const char *const *ids, size_t n,
                                  struct churn__log_hits *out, const char *what);
void churn__log_hits_free(struct churn__log_hits *hits);

/* One entry of a customer bundle (bundle.c), pointing into the bundle. */
struct churn__bundle_entry {
    unsigned kind;
    MDB_val k, v;
};

/* One customer's entries of one log in an import. */
struct churn__log_import {
    int db; /* CHURN__DB_ALERTS or CHURN__DB_OUTCOMES */
    const char *id;
    const struct churn__bundle_entry *entries; /* the bundle's, tagged with @id, ascending */
    size_t n;
    const uint64_t *from;              /* their sequences (n) */
    const struct churn__log_hit *have; /* the customer's entries in this store (n_have) */
    size_t n_have;
    churn_store_rewrite_fn *rewrite; /* NULL: the bytes move as they are */
    unsigned char *scratch;          /* CHURN_STORE_VALUE_MAX bytes */
    uint64_t *to;                    /* OUT (n): the sequences they have here */
    uint64_t first;                  /* OUT: the first appended (0: none appended) */
    size_t added;                    /* OUT */
    bool replaced;                   /* OUT: earlier entries deleted */
};

/**
 * churn__alert_imports_note() - in @txn, record that an import appended alert sequences
 * @first..@last (churn_store_alert_imports() reads them; the oldest beyond the cap go).
 */
enum churn_err churn__alert_imports_note(struct churn_store *s, MDB_txn *txn, uint64_t first,
                                         uint64_t last);

/**
 * churn__log_import() - in the write transaction @txn: keep the customer's entries when they
 * are the bundle's already (li->to from them), else delete them and append the bundle's
 * under the log's next sequences (li->to), rewritten by li->rewrite.
 */
enum churn_err churn__log_import(struct churn_store *s, MDB_txn *txn, struct churn__log_import *li);

/**
 * churn__store_erase_outcomes() - in the privacy erase's transaction, delete every outcome
 * of @cid; adds the count to *@found.
 */
enum churn_err churn__store_erase_outcomes(struct churn_store *s, MDB_txn *txn, const char *cid,
                                           long *found);

/**
 * churn__store_get_customer_digest() - look up @id in @txn; with @digest, also the stored
 * bytes' digest, and no decode when it equals *@known (see
 * churn_store_reader_get_customer_digest). @known, @digest, @decoded may be NULL.
 */
enum churn_err churn__store_get_customer_digest(struct churn_store *s, MDB_txn *txn, const char *id,
                                                const uint64_t *known, uint64_t *digest,
                                                bool *decoded, struct churn_customer *out);
/** churn__store_get_customer() - look up and decode @id in @txn. */
enum churn_err churn__store_get_customer(struct churn_store *s, MDB_txn *txn, const char *id,
                                         struct churn_customer *out);

/**
 * churn__store_delete_prefix() - delete every key of @dbi that starts with @prefix (@plen
 * bytes); *@n counts them. Return: 0 or the LMDB code (negative, like every LMDB error: it must
 * never be taken for a count).
 */
int churn__store_delete_prefix(MDB_txn *txn, MDB_dbi dbi, const char *prefix, size_t plen, long *n);

/**
 * churn__store_get_score() - the stored score of @id in @txn: its bytes copied into @buf (up
 * to @cap) and *@len its full length (0: none; larger than @cap: not copied, for the decoder
 * to refuse as oversized).
 */
enum churn_err churn__store_get_score(struct churn_store *s, MDB_txn *txn, const char *id,
                                      void *buf, size_t cap, size_t *len);

/** churn__store_erase_score() - in the privacy erase's transaction, delete @cid's score. */
enum churn_err churn__store_erase_score(struct churn_store *s, MDB_txn *txn, const char *cid,
                                        bool *found);

/** churn__mdb_err() - translate LMDB code @rc, setting the message "@what: <lmdb text>". */
enum churn_err churn__mdb_err(int rc, const char *what);

/**
 * churn__apply_txn() - apply the events of @c (churn__apply_begin) in @txn: each valid event's
 * id recorded and its customer's record updated, results set. Repeatable in a new transaction.
 */
struct churn__apply;
enum churn_err churn__apply_txn(struct churn_store *s, MDB_txn *txn, struct churn__apply *c);

/** churn__conversations_check() - the checks of churn_store_put_conversations(). */
enum churn_err churn__conversations_check(const struct churn_conversation_put *items, size_t n);

/** churn__conversations_txn() - write @n checked conversation states in @txn. */
enum churn_err churn__conversations_txn(struct churn_store *s, MDB_txn *txn,
                                        const struct churn_conversation_put *items, size_t n);

/** churn__alert_states_check() - the checks of churn_store_put_alert_states(). */
enum churn_err churn__alert_states_check(const struct churn_alert_state_put *items, size_t n);

/** churn__alert_states_txn() - write @n checked alert states in @txn. */
enum churn_err churn__alert_states_txn(struct churn_store *s, MDB_txn *txn,
                                       const struct churn_alert_state_put *items, size_t n);

/** churn__alerts_append_check() - the checks of churn_store_append_alerts_with_states(). */
enum churn_err churn__alerts_append_check(const char *const *customer_ids, size_t n);

/** churn__alerts_append_txn() - churn_store_append_alerts_with_states()'s writes in @txn. */
enum churn_err churn__alerts_append_txn(struct churn_store *s, MDB_txn *txn, size_t n,
                                        const char *const *customer_ids,
                                        churn_store_alerts_fill_fn *fill, void *user,
                                        uint64_t *seqs);

struct churn_store_score_put;

/** churn__scores_check() - the checks of churn_store_put_scores(). */
enum churn_err churn__scores_check(struct churn_store *s, const struct churn_store_score_put *items,
                                   size_t n);

/**
 * churn__scores_txn() - store in @txn each of the @n checked scores whose record still has
 * its digest (see churn_store_put_scores()); *@written: how many were.
 */
enum churn_err churn__scores_txn(struct churn_store *s, MDB_txn *txn,
                                 const struct churn_store_score_put *items, size_t n,
                                 size_t *written);

#endif
