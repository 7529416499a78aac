/*
 * bundle.c - a customer's own keys as one portable bundle, so that a cluster moving a
 * partition to another shard moves what no stream can replay (issue 16): the record
 * (attributes, events applied from any source, chat aggregates), the event ids that make a
 * later replay idempotent, the conversations' tracker states, the alert state, and its entries
 * of the alert and outcome logs (bundle_logs.c renumbers them on import). Export reads a page
 * of customers in one transaction; import checks every entry (its key is the customer's, the
 * record decodes, the alert module can rewrite the alerts) before it replaces what the store
 * keeps about the customer in one durable transaction.
 *
 * Format: the byte CHURN__BUNDLE_VERSION, then entries <u8 kind, u32 key length, key, u32 value
 * length, value> (lengths little-endian), the values as stored (each with its format byte), in
 * kind order; log entries are keyed by their 8-byte big-endian sequence, ascending.
 */
#include "churn/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "churn/alloc.h"
#include "churn/customer.h"
#include "store_internal.h"
#include "store_lmdb.h"

#define CHURN__BUNDLE_VERSION 1
#define BUNDLE_ENTRIES_MAX    200000 /* event ids of a customer over the horizon, and more */

enum key_shape {
    KEY_ID,       /* the key is the id */
    KEY_PREFIXED, /* keys "id NUL ...": several per customer */
    KEY_SEQ,      /* a customer-tagged log: 8-byte sequences */
};

/* The databases a bundle carries, in the order written; the kind byte is the index here. */
static const struct {
    int db;
    enum key_shape shape;
    const char *what;
} kinds[] = {
    {CHURN__DB_CUSTOMERS, KEY_ID, "record"},
    {CHURN__DB_EVENT_IDS, KEY_PREFIXED, "event id"},
    {CHURN__DB_CONVERSATIONS, KEY_PREFIXED, "conversation"},
    {CHURN__DB_ALERT_STATE, KEY_ID, "alert state"},
    {CHURN__DB_ALERTS, KEY_SEQ, "alert"},
    {CHURN__DB_OUTCOMES, KEY_SEQ, "outcome"},
};
#define N_KINDS    (sizeof(kinds) / sizeof(kinds[0]))
#define N_OWN      4 /* the kinds under the customer's own keys */
#define KIND_STATE 3
#define KIND_ALERT 4
#define N_LOGS     2 /* alert, outcome */

static enum churn_err
put_u32(struct churn_buf *out, size_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return churn_buf_append(out, b, 4);
}

static enum churn_err
put_entry(struct churn_buf *out, unsigned kind, const MDB_val *k, const MDB_val *v)
{
    unsigned char kb = (unsigned char)kind;
    enum churn_err err = churn_buf_append(out, &kb, 1);
    if (!err)
        err = put_u32(out, k->mv_size);
    if (!err)
        err = churn_buf_append(out, k->mv_data, k->mv_size);
    if (!err)
        err = put_u32(out, v->mv_size);
    if (!err)
        err = churn_buf_append(out, v->mv_data, v->mv_size);
    return err;
}

/* Every entry of kind @kind of customer @id (@len bytes) into @out; *@n counts them. */
static enum churn_err
export_kind(struct churn_store *s, MDB_txn *txn, unsigned kind, const char *id, size_t len,
            struct churn_buf *out, size_t *n)
{
    MDB_dbi dbi = s->dbi[kinds[kind].db];
    bool prefixed = kinds[kind].shape == KEY_PREFIXED;
    MDB_val k = {len + prefixed, (void *)id}, v; /* id's NUL ends the prefix */
    if (!prefixed) {
        int rc = mdb_get(txn, dbi, &k, &v);
        if (rc == MDB_NOTFOUND)
            return CHURN_OK;
        if (rc)
            return churn__mdb_err(rc, "exporting a customer");
        (*n)++;
        return put_entry(out, kind, &k, &v);
    }
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return churn__mdb_err(rc, "exporting a customer");
    enum churn_err err = CHURN_OK;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (!err && rc == 0 && k.mv_size > len + 1 && memcmp(k.mv_data, id, len + 1) == 0) {
        (*n)++;
        err = put_entry(out, kind, &k, &v);
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (!err && rc && rc != MDB_NOTFOUND)
        err = churn__mdb_err(rc, "exporting a customer");
    return err;
}

/* The log entries @hits[@from, @to) as entries of kind @kind. */
static enum churn_err
export_hits(const struct churn__log_hit *hits, size_t from, size_t to, unsigned kind,
            struct churn_buf *out, size_t *n)
{
    enum churn_err err = CHURN_OK;
    for (size_t i = from; !err && i < to; i++) {
        unsigned char key[8];
        churn__be64(key, hits[i].seq);
        MDB_val k = {8, key};
        (*n)++;
        err = put_entry(out, kind, &k, &hits[i].v);
    }
    return err;
}

/* Customer @w of a page (@id) as one bundle at the end of @out; @logs: the page's log hits. */
static enum churn_err
export_one(struct churn_store *s, MDB_txn *txn, const char *id, size_t w,
           const struct churn__log_hits *logs, struct churn_buf *out)
{
    size_t start = out->len, n = 0;
    unsigned char version = CHURN__BUNDLE_VERSION;
    enum churn_err err = churn_buf_append(out, &version, 1);
    for (unsigned kind = 0; !err && kind < N_OWN; kind++)
        err = export_kind(s, txn, kind, id, strlen(id), out, &n);
    for (unsigned l = 0; !err && l < N_LOGS; l++)
        err = export_hits(logs[l].h, logs[l].start[w], logs[l].start[w + 1], N_OWN + l, out, &n);
    if (!err && n == 0)
        err = churn__store_fail(CHURN_ENOTFOUND, "customer %s not found", id);
    if (err == CHURN_ETOOBIG)
        churn__store_fail(err, "customer %s: the bundle is over %zu bytes", id, out->cap);
    if (err)
        out->len = start;
    return err;
}

/* Every alert and outcome entry of the @n customers @ids in @txn, into @logs[N_LOGS]. */
static enum churn_err
collect_logs(struct churn_store *s, MDB_txn *txn, const char *const *ids, size_t n,
             struct churn__log_hits *logs)
{
    enum churn_err err = CHURN_OK;
    for (unsigned l = 0; !err && l < N_LOGS; l++)
        err = churn__log_collect(txn, s->dbi[kinds[N_OWN + l].db], ids, n, &logs[l],
                                 "reading a customer's log entries");
    if (err)
        for (unsigned l = 0; l < N_LOGS; l++)
            churn__log_hits_free(&logs[l]);
    return err;
}

enum churn_err
churn_store_export_customers(struct churn_store *s, struct churn_store_export *items, size_t n,
                             struct churn_buf *out, size_t soft_cap)
{
    churn__store_clear_error();
    const char **ids = churn_calloc(n + 1, sizeof(*ids));
    if (!ids)
        return churn__store_fail(CHURN_ENOMEM, "exporting customers: out of memory");
    for (size_t i = 0; i < n; i++)
        ids[i] = items[i].id;
    MDB_txn *txn = NULL;
    struct churn__log_hits logs[N_LOGS] = {{0}};
    enum churn_err err = churn__store_read_begin(s, &txn);
    if (!err && (err = collect_logs(s, txn, ids, n, logs)) == CHURN_OK) {
        bool full = false;
        for (size_t i = 0; i < n; i++) {
            items[i].off = out->len;
            items[i].err = full ? CHURN_EAGAIN : churn__store_check_id(items[i].id, "customer_id");
            if (!items[i].err)
                items[i].err = export_one(s, txn, items[i].id, i, logs, out);
            items[i].len = out->len - items[i].off;
            full = full || items[i].err == CHURN_ETOOBIG || out->len >= soft_cap;
        }
        for (unsigned l = 0; l < N_LOGS; l++)
            churn__log_hits_free(&logs[l]);
    }
    if (txn) {
        churn__store_read_end(s, txn);
        mdb_txn_abort(txn);
    }
    churn_free(ids);
    return err;
}

enum churn_err
churn_store_export_customer(struct churn_store *s, const char *id, struct churn_buf *out)
{
    struct churn_store_export it = {.id = id};
    enum churn_err err = churn_store_export_customers(s, &it, 1, out, SIZE_MAX);
    return err ? err : it.err;
}

static bool
take_u32(const unsigned char **p, const unsigned char *end, size_t *v)
{
    if (end - *p < 4)
        return false;
    *v = (size_t)(*p)[0] | (size_t)(*p)[1] << 8 | (size_t)(*p)[2] << 16 | (size_t)(*p)[3] << 24;
    *p += 4;
    return true;
}

/* Is log entry @e (an alert, an outcome) customer @id's, after sequence *@last? */
static enum churn_err
check_log_entry(const struct churn__bundle_entry *e, const char *id, size_t len, uint64_t *last,
                char *reason, size_t rlen)
{
    const char *what = kinds[e->kind].what;
    const unsigned char *p = e->v.mv_data;
    if (e->k.mv_size != 8)
        return churn_fail(reason, rlen, CHURN_EINVAL, "%s: a key of %zu bytes, not a sequence",
                          what, e->k.mv_size);
    uint64_t seq = churn__from_be64(e->k.mv_data);
    if (e->v.mv_size < 2 || p[0] != VALUE_VERSION || e->v.mv_size < 2u + p[1])
        return churn_fail(reason, rlen, CHURN_EINVAL, "%s %llu: not a log entry", what,
                          (unsigned long long)seq);
    if (p[1] != len || memcmp(p + 2, id, len) != 0)
        return churn_fail(reason, rlen, CHURN_EINVAL, "%s %llu: not customer %s's", what,
                          (unsigned long long)seq, id);
    if (e->v.mv_size == 2u + p[1])
        return churn_fail(reason, rlen, CHURN_EINVAL, "%s %llu: empty", what,
                          (unsigned long long)seq);
    if (seq <= *last)
        return churn_fail(reason, rlen, CHURN_EINVAL, "%s %llu: after %s %llu (out of order)", what,
                          (unsigned long long)seq, what, (unsigned long long)*last);
    *last = seq;
    return CHURN_OK;
}

/* Is entry @e one of customer @id's keys, with a value this store accepts? A record's oldest
 * day bucket lowers *@first_day; @last: the last sequence per log kind. */
static enum churn_err
check_entry(const struct churn__bundle_entry *e, const char *id, size_t len,
            struct churn_customer *rec, int32_t *first_day, uint64_t *last, char *reason,
            size_t rlen)
{
    const char *what = kinds[e->kind].what;
    if (kinds[e->kind].shape == KEY_SEQ)
        return check_log_entry(e, id, len, &last[e->kind], reason, rlen);
    bool mine = kinds[e->kind].shape == KEY_PREFIXED
                    ? e->k.mv_size > len + 1 && e->k.mv_size <= 2 * CHURN_ID_MAX + 1 &&
                          memcmp(e->k.mv_data, id, len + 1) == 0
                    : e->k.mv_size == len && memcmp(e->k.mv_data, id, len) == 0;
    if (!mine)
        return churn_fail(reason, rlen, CHURN_EINVAL, "%s: its key is not customer %s's", what, id);
    if (e->v.mv_size == 0 || e->v.mv_size > CHURN_STORE_VALUE_MAX)
        return churn_fail(reason, rlen, CHURN_EINVAL, "%s: value of %zu bytes", what, e->v.mv_size);
    if (kinds[e->kind].db != CHURN__DB_CUSTOMERS)
        return CHURN_OK;
    if (churn__record_decode(e->v.mv_data, e->v.mv_size, id, len, rec) != CHURN_OK)
        return churn_fail(reason, rlen, CHURN_EINVAL, "record: %s", churn_store_last_error());
    for (unsigned i = 0; i < rec->n_days; i++)
        if (rec->days[i].day < *first_day)
            *first_day = rec->days[i].day;
    return CHURN_OK;
}

/* Entry @k of the bundle at *@p into @x; false when truncated or of an unknown kind. */
static bool
take_entry(const unsigned char **p, const unsigned char *end, struct churn__bundle_entry *x)
{
    x->kind = *(*p)++;
    if (x->kind >= N_KINDS || !take_u32(p, end, &x->k.mv_size) || (size_t)(end - *p) < x->k.mv_size)
        return false;
    x->k.mv_data = (void *)*p;
    *p += x->k.mv_size;
    if (!take_u32(p, end, &x->v.mv_size) || (size_t)(end - *p) < x->v.mv_size)
        return false;
    x->v.mv_data = (void *)*p;
    *p += x->v.mv_size;
    return true;
}

/* Decode and check @bundle whole: its entries into a new array *@out of *@n. */
static enum churn_err
parse_bundle(const char *id, const unsigned char *p, size_t size, struct churn__bundle_entry **out,
             size_t *n, int32_t *first_day, char *reason, size_t rlen)
{
    const unsigned char *end = p + size;
    if (size < 1 || p[0] != CHURN__BUNDLE_VERSION)
        return churn_fail(reason, rlen, CHURN_EINVAL, "not a version-%d customer bundle",
                          CHURN__BUNDLE_VERSION);
    p++;
    struct churn_customer *rec = churn_malloc(sizeof(*rec));
    size_t cap = 16, k = 0;
    struct churn__bundle_entry *e = churn_malloc(cap * sizeof(*e));
    enum churn_err err = rec && e ? CHURN_OK : CHURN_ENOMEM;
    size_t len = strlen(id);
    bool seen[N_KINDS] = {false};
    uint64_t last[N_KINDS] = {0};
    while (!err && p < end) {
        if (k == cap) {
            void *g = k < BUNDLE_ENTRIES_MAX ? churn_realloc(e, 2 * cap * sizeof(*e)) : 0;
            if (!g) {
                err = churn_fail(reason, rlen, CHURN_EINVAL, "over %d entries", BUNDLE_ENTRIES_MAX);
                break;
            }
            e = g;
            cap *= 2;
        }
        struct churn__bundle_entry *x = &e[k];
        if (!take_entry(&p, end, x)) {
            err = churn_fail(reason, rlen, CHURN_EINVAL, "entry %zu: truncated or unknown", k);
            break;
        }
        if (kinds[x->kind].shape == KEY_ID && seen[x->kind])
            err = churn_fail(reason, rlen, CHURN_EINVAL, "two %ss", kinds[x->kind].what);
        else if (k && x->kind < e[k - 1].kind)
            err = churn_fail(reason, rlen, CHURN_EINVAL, "entry %zu: %s after %s (out of order)", k,
                             kinds[x->kind].what, kinds[e[k - 1].kind].what);
        seen[x->kind] = true;
        if (!err && (err = check_entry(x, id, len, rec, first_day, last, reason, rlen)) == CHURN_OK)
            k++;
    }
    churn_free(rec);
    if (!err && k == 0)
        err = churn_fail(reason, rlen, CHURN_EINVAL, "the bundle holds nothing");
    if (err) {
        churn_free(e);
        return err;
    }
    *out = e;
    *n = k;
    return CHURN_OK;
}

/* One customer of an import: its checked entries (NULL: refused, or nothing to write), where
 * each kind's start (entries are in kind order), and the caller's item. */
struct import_one {
    struct churn_store_import *it;
    struct churn__bundle_entry *e;
    size_t n;
    size_t at[N_KINDS + 1]; /* kind k's entries are e[at[k] .. at[k + 1]) */
};

struct import_ctx {
    struct import_one *item;
    size_t n;
    int32_t first_day; /* the records' oldest day bucket (INT32_MAX: none) */
    const struct churn_store_import_hooks *hooks;
    unsigned char *scratch; /* CHURN_STORE_VALUE_MAX bytes for rewritten values */
};

static void
index_kinds(struct import_one *c)
{
    size_t i = 0;
    for (unsigned kind = 0; kind < N_KINDS; kind++) {
        while (i < c->n && c->e[i].kind < kind)
            i++;
        c->at[kind] = i;
    }
    c->at[N_KINDS] = c->n;
}

/* The sequences of kind @kind's entries of @c into a new array. */
static uint64_t *
seqs_of(const struct import_one *c, unsigned kind)
{
    size_t n = c->at[kind + 1] - c->at[kind];
    uint64_t *seq = churn_malloc((n + 1) * sizeof(*seq));
    for (size_t i = 0; seq && i < n; i++)
        seq[i] = churn__from_be64(c->e[c->at[kind] + i].k.mv_data);
    return seq;
}

/* Alert state value @v (format byte first, as stored) rewritten by @hooks under @map in place
 * (pointing into @scratch then); without a state hook it stays as it is. */
static enum churn_err
rewrite_state(const char *id, MDB_val *v, const struct churn_store_import_hooks *hooks,
              const struct churn_store_seq_map *map, unsigned char *scratch, char *reason,
              size_t rlen)
{
    if (!hooks || !hooks->state)
        return CHURN_OK;
    const unsigned char *p = v->mv_data;
    size_t len;
    enum churn_err err = hooks->state(id, p + 1, v->mv_size - 1, 0, map, scratch + 1,
                                      CHURN_STORE_VALUE_MAX - 1, &len, reason, rlen);
    if (err)
        return err;
    scratch[0] = p[0];
    *v = (MDB_val){len + 1, scratch};
    return CHURN_OK;
}

/* Can the hooks rewrite @c's alerts and alert state (each alert's id among the bundle's)? */
static enum churn_err
check_rewrites(struct import_one *c, const struct churn_store_import_hooks *hooks,
               unsigned char *scratch)
{
    size_t n = c->at[KIND_ALERT + 1] - c->at[KIND_ALERT];
    if (n && !(hooks && hooks->alert))
        return churn_fail(c->it->reason, sizeof(c->it->reason), CHURN_EINVAL,
                          "alert: this store cannot renumber alerts (no alert module)");
    uint64_t *seq = seqs_of(c, KIND_ALERT);
    if (!seq)
        return CHURN_ENOMEM;
    struct churn_store_seq_map same = {seq, seq, n};
    enum churn_err err = CHURN_OK;
    for (size_t i = 0; !err && i < n; i++) {
        const MDB_val *v = &c->e[c->at[KIND_ALERT] + i].v;
        const unsigned char *p = v->mv_data;
        size_t out;
        err = hooks->alert(c->it->id, p + 2 + p[1], v->mv_size - 2 - p[1], seq[i], &same, scratch,
                           CHURN_STORE_VALUE_MAX, &out, c->it->reason, sizeof(c->it->reason));
    }
    for (size_t i = c->at[KIND_STATE]; !err && i < c->at[KIND_STATE + 1]; i++) {
        MDB_val v = c->e[i].v; /* a trial: the entry stays as it came */
        err = rewrite_state(c->it->id, &v, hooks, &same, scratch, c->it->reason,
                            sizeof(c->it->reason));
    }
    churn_free(seq);
    return err;
}

/* Replace customer @c's own keys with its entries in @txn (the alert state: later). */
static enum churn_err
import_own_keys(struct churn_store *s, MDB_txn *txn, const struct import_one *c)
{
    const char *id = c->it->id;
    size_t len = strlen(id);
    for (unsigned kind = 0; kind < N_OWN; kind++) { /* replace: the old keys go first */
        MDB_dbi dbi = s->dbi[kinds[kind].db];
        MDB_val k = {len, (void *)id};
        long gone = 0;
        int rc = kinds[kind].shape == KEY_PREFIXED
                     ? churn__store_delete_prefix(txn, dbi, id, len + 1, &gone)
                     : mdb_del(txn, dbi, &k, NULL);
        if (rc && rc != MDB_NOTFOUND)
            return churn__mdb_err(rc, "importing a customer");
    }
    for (size_t i = 0; i < c->at[N_OWN]; i++) {
        MDB_val k = c->e[i].k, v = c->e[i].v;
        int rc = c->e[i].kind == KIND_STATE
                     ? 0
                     : mdb_put(txn, s->dbi[kinds[c->e[i].kind].db], &k, &v, 0);
        if (rc)
            return churn__mdb_err(rc, "importing a customer");
    }
    return CHURN_OK;
}

/* Customer @c's alert state, its alert ids renumbered by @map. */
static enum churn_err
import_state(struct churn_store *s, MDB_txn *txn, const struct import_ctx *x,
             const struct import_one *c, const struct churn_store_seq_map *map)
{
    for (size_t i = c->at[KIND_STATE]; i < c->at[KIND_STATE + 1]; i++) {
        MDB_val k = c->e[i].k, v = c->e[i].v;
        char reason[256];
        enum churn_err err =
            rewrite_state(c->it->id, &v, x->hooks, map, x->scratch, reason, sizeof(reason));
        if (err)
            return churn__store_fail(err, "rewriting an alert state: %s", reason);
        int rc = mdb_put(txn, s->dbi[CHURN__DB_ALERT_STATE], &k, &v, 0);
        if (rc)
            return churn__mdb_err(rc, "importing an alert state");
    }
    return CHURN_OK;
}

/* Customer @c (the @w-th walked for) whole in @txn; @logs: its entries here before. */
static enum churn_err
import_one_txn(struct churn_store *s, MDB_txn *txn, const struct import_ctx *x,
               struct import_one *c, size_t w, const struct churn__log_hits *logs)
{
    enum churn_err err = import_own_keys(s, txn, c);
    uint64_t *from[N_LOGS] = {NULL}, *to[N_LOGS] = {NULL};
    struct churn_store_seq_map alerts = {0};
    for (unsigned l = 0; !err && l < N_LOGS; l++) {
        unsigned kind = N_OWN + l;
        size_t n = c->at[kind + 1] - c->at[kind];
        from[l] = seqs_of(c, kind);
        to[l] = churn_malloc((n + 1) * sizeof(uint64_t));
        if (!from[l] || !to[l]) {
            err = CHURN_ENOMEM;
            break;
        }
        struct churn__log_import li = {
            .db = kinds[kind].db,
            .id = c->it->id,
            .entries = c->e + c->at[kind],
            .n = n,
            .from = from[l],
            .have = logs[l].h + logs[l].start[w],
            .n_have = logs[l].start[w + 1] - logs[l].start[w],
            .rewrite = kind == KIND_ALERT && x->hooks ? x->hooks->alert : NULL,
            .scratch = x->scratch,
            .to = to[l],
        };
        err = churn__log_import(s, txn, &li);
        if (!err && kind == KIND_ALERT) {
            alerts = (struct churn_store_seq_map){from[l], to[l], n};
            c->it->alerts_first = li.first;
            c->it->alerts_added = li.added;
            c->it->alerts_replaced = li.replaced;
        }
    }
    if (!err)
        err = import_state(s, txn, x, c, &alerts);
    for (unsigned l = 0; l < N_LOGS; l++) {
        churn_free(from[l]);
        churn_free(to[l]);
    }
    return err;
}

/* The alert sequences this import appended (contiguous: one writer), noted for delivery. */
static enum churn_err
note_imported_alerts(struct churn_store *s, MDB_txn *txn, const struct import_ctx *c)
{
    uint64_t first = UINT64_MAX, last = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct churn_store_import *it = c->item[i].it;
        if (c->item[i].e && it->alerts_added) {
            first = it->alerts_first < first ? it->alerts_first : first;
            last = it->alerts_first + it->alerts_added - 1 > last
                       ? it->alerts_first + it->alerts_added - 1
                       : last;
        }
    }
    return last ? churn__alert_imports_note(s, txn, first, last) : CHURN_OK;
}

static enum churn_err
import_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    const struct import_ctx *c = vctx;
    const char **ids = churn_calloc(c->n + 1, sizeof(*ids));
    size_t *who = churn_calloc(c->n + 1, sizeof(*who)), k = 0;
    struct churn__log_hits logs[N_LOGS] = {{0}};
    enum churn_err err = ids && who ? CHURN_OK : CHURN_ENOMEM;
    for (size_t i = 0; !err && i < c->n; i++)
        if (c->item[i].e) {
            who[i] = k;
            ids[k++] = c->item[i].it->id;
        }
    if (!err)
        err = collect_logs(s, txn, ids, k, logs);
    for (size_t i = 0; !err && i < c->n; i++)
        if (c->item[i].e)
            err = import_one_txn(s, txn, c, &c->item[i], who[i], logs);
    for (unsigned l = 0; !err && l < N_LOGS; l++)
        churn__log_hits_free(&logs[l]);
    churn_free(ids);
    churn_free(who);
    if (!err)
        err = note_imported_alerts(s, txn, c);
    /* the store's observed history reaches back to the records' days, as if ingested here:
     * features do not take the moved days for days before the data */
    return err ? err : churn__store_history_note(s, txn, c->first_day);
}

/* Bundle @i of @items checked into @c->item[i] (refused: item->err and reason). */
static void
import_check(struct import_ctx *c, struct churn_store_import *items, size_t i)
{
    struct churn_store_import *it = &items[i];
    struct import_one *one = &c->item[i];
    one->it = it;
    it->alerts_first = 0;
    it->alerts_added = 0;
    it->alerts_replaced = false;
    it->err = churn__store_check_id(it->id, "customer_id");
    if (it->err) {
        churn_fail(it->reason, sizeof(it->reason), it->err, "%s", churn_store_last_error());
        return;
    }
    for (size_t j = 0; j < i && !it->err; j++) /* its log entries would be appended twice */
        if (c->item[j].e && strcmp(items[j].id, it->id) == 0)
            it->err =
                churn_fail(it->reason, sizeof(it->reason), CHURN_EINVAL,
                           "customer %s: a second bundle in one import (item %zu)", it->id, j);
    if (!it->err)
        it->err = parse_bundle(it->id, it->bundle, it->len, &one->e, &one->n, &c->first_day,
                               it->reason, sizeof(it->reason));
    if (it->err)
        return;
    index_kinds(one);
    if ((it->err = check_rewrites(one, c->hooks, c->scratch)) != CHURN_OK) {
        churn_free(one->e);
        one->e = NULL;
    }
}

enum churn_err
churn_store_import_customers(struct churn_store *s, struct churn_store_import *items, size_t n,
                             const struct churn_store_import_hooks *hooks)
{
    churn__store_clear_error();
    struct import_one *one = churn_calloc(n ? n : 1, sizeof(*one));
    unsigned char *scratch = churn_malloc(CHURN_STORE_VALUE_MAX);
    if (!one || !scratch) {
        churn_free(one);
        churn_free(scratch);
        return churn__store_fail(CHURN_ENOMEM, "importing customers: out of memory");
    }
    struct import_ctx c = {one, n, INT32_MAX, hooks, scratch};
    for (size_t i = 0; i < n; i++)
        import_check(&c, items, i);
    enum churn_err err = churn__store_write(s, import_txn, &c, "importing customers");
    if (!err)
        churn__store_history_commit(s, c.first_day);
    for (size_t i = 0; i < n; i++)
        churn_free(one[i].e);
    churn_free(one);
    churn_free(scratch);
    return err;
}

enum churn_err
churn_store_import_customer(struct churn_store *s, const char *id, const void *bundle, size_t len,
                            char *reason, size_t rlen)
{
    struct churn_store_import it = {.id = id, .bundle = bundle, .len = len};
    enum churn_err err = churn_store_import_customers(s, &it, 1, NULL);
    if (err)
        churn_fail(reason, rlen, err, "%s", churn_store_last_error());
    else if (it.err)
        snprintf(reason, rlen, "%s", it.reason);
    return err ? err : it.err;
}
