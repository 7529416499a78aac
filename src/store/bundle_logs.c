/*
 * bundle_logs.c - the part of a customer bundle (bundle.c) that lives in the customer-tagged
 * logs: the alert log (every revision of every alert) and the outcome log. Export finds the
 * entries of a whole page of customers in one walk of each log (no per-customer index exists,
 * so a walk per customer would cost the log's length each time); import gives a customer's
 * entries this store's next sequences in their order, has the alert module rewrite the alert
 * ids the revisions name (churn_store_rewrite_fn), and keeps what an earlier import of the same
 * bundle wrote (a repeated copy appends nothing), else replaces it.
 */
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "churn/alloc.h"
#include "churn/hash.h"
#include "churn/store.h"
#include "store_internal.h"
#include "store_lmdb.h"

uint64_t
churn_store_seq_map_find(const struct churn_store_seq_map *map, uint64_t from)
{
    size_t lo = 0, hi = map ? map->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (map->from[mid] == from)
            return map->to[mid];
        if (map->from[mid] < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* The customer tag of log value @v: its id bytes and length; false when malformed. */
static bool
log_tag(const MDB_val *v, const char **cid, size_t *clen)
{
    const unsigned char *p = v->mv_data;
    if (v->mv_size < 2 || p[0] != VALUE_VERSION || p[1] > CHURN_ID_MAX || v->mv_size < 2u + p[1])
        return false;
    *cid = (const char *)p + 2;
    *clen = p[1];
    return true;
}

/* Open-addressed set of the @n ids: slot -> index + 1. */
struct id_set {
    const char *const *ids;
    uint32_t *slot;
    size_t mask;
};

static bool
id_set_init(struct id_set *set, const char *const *ids, size_t n)
{
    size_t size = 16;
    while (size < 2 * n)
        size *= 2;
    set->ids = ids;
    set->mask = size - 1;
    set->slot = churn_calloc(size, sizeof(*set->slot));
    if (!set->slot)
        return false;
    for (size_t i = 0; i < n; i++) {
        size_t h = churn_fnv1a64_str(ids[i]) & set->mask;
        while (set->slot[h])
            h = (h + 1) & set->mask;
        set->slot[h] = (uint32_t)i + 1;
    }
    return true;
}

/* The index of @cid (@len bytes) in @set, or -1. */
static long
id_set_find(const struct id_set *set, const char *cid, size_t len)
{
    size_t h = churn_fnv1a64(CHURN_FNV64_OFFSET, cid, len) & set->mask;
    for (; set->slot[h]; h = (h + 1) & set->mask) {
        const char *id = set->ids[set->slot[h] - 1];
        if (strlen(id) == len && memcmp(id, cid, len) == 0)
            return (long)set->slot[h] - 1;
    }
    return -1;
}

static enum churn_err
hits_add(struct churn__log_hits *out, uint32_t who, uint64_t seq, const MDB_val *v)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? 2 * out->cap : 64;
        struct churn__log_hit *g = churn_realloc(out->h, cap * sizeof(*g));
        if (!g)
            return CHURN_ENOMEM;
        out->h = g;
        out->cap = cap;
    }
    out->h[out->n++] = (struct churn__log_hit){who, seq, *v};
    return CHURN_OK;
}

/* Group @out's hits by customer (a stable counting sort: each keeps sequence order). */
static enum churn_err
hits_group(struct churn__log_hits *out, size_t n_ids)
{
    out->start = churn_calloc(n_ids + 1, sizeof(*out->start));
    struct churn__log_hit *sorted = churn_malloc((out->n + 1) * sizeof(*sorted));
    if (!out->start || !sorted) {
        churn_free(sorted);
        return CHURN_ENOMEM;
    }
    for (size_t i = 0; i < out->n; i++)
        out->start[out->h[i].who + 1]++;
    for (size_t w = 0; w < n_ids; w++)
        out->start[w + 1] += out->start[w];
    size_t *at = churn_malloc((n_ids + 1) * sizeof(*at));
    if (!at) {
        churn_free(sorted);
        return CHURN_ENOMEM;
    }
    memcpy(at, out->start, (n_ids + 1) * sizeof(*at));
    for (size_t i = 0; i < out->n; i++)
        sorted[at[out->h[i].who]++] = out->h[i];
    churn_free(at);
    churn_free(out->h);
    out->h = sorted;
    return CHURN_OK;
}

enum churn_err
churn__log_collect(MDB_txn *txn, MDB_dbi dbi, const char *const *ids, size_t n,
                   struct churn__log_hits *out, const char *what)
{
    memset(out, 0, sizeof(*out));
    struct id_set set;
    if (!id_set_init(&set, ids, n))
        return CHURN_ENOMEM;
    MDB_cursor *cur;
    enum churn_err err = CHURN_OK;
    int rc = dbi ? mdb_cursor_open(txn, dbi, &cur) : MDB_NOTFOUND;
    if (rc == 0) {
        MDB_val k, v;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !err;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            const char *cid;
            size_t clen;
            long who =
                k.mv_size == 8 && log_tag(&v, &cid, &clen) ? id_set_find(&set, cid, clen) : -1;
            if (who >= 0)
                err = hits_add(out, (uint32_t)who, churn__from_be64(k.mv_data), &v);
        }
        mdb_cursor_close(cur);
    }
    churn_free(set.slot);
    if (!err && rc && rc != MDB_NOTFOUND)
        err = churn__mdb_err(rc, what);
    if (!err)
        err = hits_group(out, n);
    if (err)
        churn__log_hits_free(out);
    return err;
}

void
churn__log_hits_free(struct churn__log_hits *hits)
{
    churn_free(hits->h);
    churn_free(hits->start);
    memset(hits, 0, sizeof(*hits));
}

/* The next sequence of log @db in @txn: the alert log's counter (never reused), or the
 * outcome log's last key + 1. */
static enum churn_err
next_seq(struct churn_store *s, MDB_txn *txn, int db, uint64_t *out)
{
    if (db == CHURN__DB_ALERTS)
        return churn__alert_seq_next(s, txn, out);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi[db], &cur);
    MDB_val k, v;
    uint64_t last = 0;
    if (rc == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (rc == 0 && k.mv_size == 8)
            last = churn__from_be64(k.mv_data);
        mdb_cursor_close(cur);
    }
    if (rc && rc != MDB_NOTFOUND)
        return churn__mdb_err(rc, "reading a log's last sequence");
    *out = last + 1;
    return CHURN_OK;
}

/* The payload of bundle entry @e (after the customer tag) rewritten as entry @seq under
 * @map, or as is without @rw; into @scratch when rewritten. */
static enum churn_err
payload_of(const struct churn__log_import *li, size_t i, uint64_t seq,
           const struct churn_store_seq_map *map, const void **data, size_t *len)
{
    const unsigned char *p = li->entries[i].v.mv_data;
    size_t tag = 2u + p[1];
    *data = p + tag;
    *len = li->entries[i].v.mv_size - tag;
    if (!li->rewrite)
        return CHURN_OK;
    char reason[256];
    enum churn_err err = li->rewrite(li->id, *data, *len, seq, map, li->scratch,
                                     CHURN_STORE_VALUE_MAX, len, reason, sizeof(reason));
    if (err)
        return churn__store_fail(err, "rewriting an imported entry: %s", reason);
    *data = li->scratch;
    return CHURN_OK;
}

/* Whether the customer's entries @li->have already hold exactly the bundle's (a copy repeated):
 * then @li->to is filled from them. */
static enum churn_err
same_entries(struct churn_store *s, MDB_txn *txn, struct churn__log_import *li, bool *same)
{
    *same = false;
    if (li->n_have != li->n)
        return CHURN_OK;
    for (size_t i = 0; i < li->n; i++)
        li->to[i] = li->have[i].seq;
    struct churn_store_seq_map map = {li->from, li->to, li->n};
    for (size_t i = 0; i < li->n; i++) {
        unsigned char key[8];
        churn__be64(key, li->to[i]);
        MDB_val k = {8, key}, v;
        int rc = mdb_get(txn, s->dbi[li->db], &k, &v);
        if (rc)
            return rc == MDB_NOTFOUND ? CHURN_OK : churn__mdb_err(rc, "reading a log");
        const void *data;
        size_t len;
        enum churn_err err = payload_of(li, i, li->to[i], &map, &data, &len);
        const unsigned char *p = v.mv_data;
        if (err)
            return err;
        if (v.mv_size < 2 || v.mv_size - 2u - p[1] != len || memcmp(p + 2 + p[1], data, len))
            return CHURN_OK;
    }
    *same = true;
    return CHURN_OK;
}

enum churn_err
churn__log_import(struct churn_store *s, MDB_txn *txn, struct churn__log_import *li)
{
    li->first = 0;
    li->added = 0;
    li->replaced = false;
    bool same;
    enum churn_err err = same_entries(s, txn, li, &same);
    if (err || same)
        return err;
    for (size_t i = 0; i < li->n_have; i++) { /* an earlier import's, or a stale copy's */
        unsigned char key[8];
        churn__be64(key, li->have[i].seq);
        MDB_val k = {8, key};
        int rc = mdb_del(txn, s->dbi[li->db], &k, NULL);
        if (rc && rc != MDB_NOTFOUND)
            return churn__mdb_err(rc, "replacing a customer's log entries");
    }
    li->replaced = li->n_have > 0;
    for (size_t i = 0; !err && i < li->n; i++)
        err = next_seq(s, txn, li->db, &li->to[i]);
    struct churn_store_seq_map map = {li->from, li->to, li->n};
    for (size_t i = 0; !err && i < li->n; i++) {
        const void *data;
        size_t len;
        err = payload_of(li, i, li->to[i], &map, &data, &len);
        if (!err)
            err = churn__log_put(txn, s->dbi[li->db], li->to[i], li->id, data, len,
                                 "writing an imported log entry");
    }
    if (!err && li->n) {
        li->first = li->to[0];
        li->added = li->n;
    }
    return err;
}

#define META_ALERT_IMPORTS "churn.alert_imports" /* pairs of big-endian u64, newest last */

enum churn_err
churn__alert_imports_note(struct churn_store *s, MDB_txn *txn, uint64_t first, uint64_t last)
{
    MDB_dbi dbi = s->dbi[CHURN__DB_META];
    MDB_val k = {sizeof(META_ALERT_IMPORTS) - 1, META_ALERT_IMPORTS}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc && rc != MDB_NOTFOUND)
        return churn__mdb_err(rc, "reading the imported alert ranges");
    size_t have = rc == 0 && v.mv_size > 1 ? (v.mv_size - 1) / 16 : 0;
    size_t keep = have < CHURN_STORE_ALERT_IMPORTS_MAX ? have : CHURN_STORE_ALERT_IMPORTS_MAX - 1;
    unsigned char *buf = churn_malloc((keep + 1) * 16);
    if (!buf)
        return CHURN_ENOMEM;
    if (keep)
        memcpy(buf, (const unsigned char *)v.mv_data + 1 + (have - keep) * 16, keep * 16);
    churn__be64(buf + keep * 16, first);
    churn__be64(buf + keep * 16 + 8, last);
    enum churn_err err = churn__store_put_versioned(txn, dbi, k.mv_data, k.mv_size, buf,
                                                    (keep + 1) * 16, "noting imported alerts");
    churn_free(buf);
    return err;
}

enum churn_err
churn_store_alert_imports(struct churn_store *s, uint64_t (*ranges)[2], size_t max, size_t *n)
{
    churn__store_clear_error();
    *n = 0;
    MDB_txn *txn = NULL;
    enum churn_err err = churn__store_read_begin(s, &txn);
    if (err)
        return err;
    MDB_val k = {sizeof(META_ALERT_IMPORTS) - 1, META_ALERT_IMPORTS}, v;
    int rc = mdb_get(txn, s->dbi[CHURN__DB_META], &k, &v);
    if (rc && rc != MDB_NOTFOUND)
        err = churn__mdb_err(rc, "reading the imported alert ranges");
    size_t have = !rc && v.mv_size > 1 ? (v.mv_size - 1) / 16 : 0;
    size_t from = have > max ? have - max : 0;
    const unsigned char *p = rc ? NULL : (const unsigned char *)v.mv_data + 1;
    for (size_t i = from; !err && i < have; i++, (*n)++) {
        ranges[*n][0] = churn__from_be64(p + i * 16);
        ranges[*n][1] = churn__from_be64(p + i * 16 + 8);
    }
    churn__store_read_end(s, txn);
    mdb_txn_abort(txn);
    return err;
}
