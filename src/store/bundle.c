/*
 * bundle.c - a customer's own keys as one portable bundle, so that a cluster moving a
 * partition to another shard moves what no stream can replay (issue 16): the record
 * (attributes, events applied from any source, chat aggregates), the event ids that make a
 * later replay idempotent, the conversations' tracker states and the alert state. Export reads
 * them in one transaction; import checks every entry (its key is the customer's, the record
 * decodes) before it replaces the customer's keys in one durable transaction. Alerts and
 * outcomes are keyed by sequence and stay with their log.
 *
 * Format: the byte CHURN__BUNDLE_VERSION, then entries <u8 kind, u32 key length, key, u32 value
 * length, value> (lengths little-endian), the values as stored (each with its format byte).
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

/* The databases a bundle carries, in the order written; the kind byte is the index here. */
static const struct {
    int db;
    bool prefixed; /* keys "id NUL ...": several per customer; else the key is the id */
    const char *what;
} kinds[] = {
    {CHURN__DB_CUSTOMERS, false, "record"},
    {CHURN__DB_EVENT_IDS, true, "event id"},
    {CHURN__DB_CONVERSATIONS, true, "conversation"},
    {CHURN__DB_ALERT_STATE, false, "alert state"},
};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

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
    MDB_val k = {len + kinds[kind].prefixed, (void *)id}, v; /* id's NUL ends the prefix */
    if (!kinds[kind].prefixed) {
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

enum churn_err
churn_store_export_customer(struct churn_store *s, const char *id, struct churn_buf *out)
{
    churn__store_clear_error();
    enum churn_err err = churn__store_check_id(id, "customer_id");
    if (err)
        return err;
    size_t start = out->len, n = 0;
    unsigned char version = CHURN__BUNDLE_VERSION;
    MDB_txn *txn = NULL;
    if ((err = churn_buf_append(out, &version, 1)) || (err = churn__store_read_begin(s, &txn)))
        return err;
    for (unsigned kind = 0; !err && kind < N_KINDS; kind++)
        err = export_kind(s, txn, kind, id, strlen(id), out, &n);
    churn__store_read_end(s, txn);
    mdb_txn_abort(txn);
    if (!err && n == 0)
        err = churn__store_fail(CHURN_ENOTFOUND, "customer %s not found", id);
    if (err == CHURN_ETOOBIG)
        churn__store_fail(err, "customer %s: the bundle is over %zu bytes", id, out->cap);
    if (err)
        out->len = start;
    return err;
}

/* One decoded entry of a bundle (pointing into it). */
struct entry {
    unsigned kind;
    MDB_val k, v;
};

static bool
take_u32(const unsigned char **p, const unsigned char *end, size_t *v)
{
    if (end - *p < 4)
        return false;
    *v = (size_t)(*p)[0] | (size_t)(*p)[1] << 8 | (size_t)(*p)[2] << 16 | (size_t)(*p)[3] << 24;
    *p += 4;
    return true;
}

/* Is entry @e one of customer @id's keys, with a value this store accepts? A record's oldest
 * day bucket lowers *@first_day. */
static enum churn_err
check_entry(const struct entry *e, const char *id, size_t len, struct churn_customer *rec,
            int32_t *first_day, char *reason, size_t rlen)
{
    const char *what = kinds[e->kind].what;
    bool mine = kinds[e->kind].prefixed
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

/* Decode and check @bundle whole: its entries into a new array *@out of *@n. */
static enum churn_err
parse_bundle(const char *id, const unsigned char *p, size_t size, struct entry **out, size_t *n,
             int32_t *first_day, char *reason, size_t rlen)
{
    const unsigned char *end = p + size;
    if (size < 1 || p[0] != CHURN__BUNDLE_VERSION)
        return churn_fail(reason, rlen, CHURN_EINVAL, "not a version-%d customer bundle",
                          CHURN__BUNDLE_VERSION);
    p++;
    struct churn_customer *rec = churn_malloc(sizeof(*rec));
    size_t cap = 16, k = 0;
    struct entry *e = churn_malloc(cap * sizeof(*e));
    enum churn_err err = rec && e ? CHURN_OK : CHURN_ENOMEM;
    size_t len = strlen(id);
    bool seen[N_KINDS] = {false};
    while (!err && p < end) {
        if (k == cap) {
            struct entry *g = k < BUNDLE_ENTRIES_MAX ? churn_realloc(e, 2 * cap * sizeof(*e)) : 0;
            if (!g) {
                err = churn_fail(reason, rlen, CHURN_EINVAL, "over %d entries", BUNDLE_ENTRIES_MAX);
                break;
            }
            e = g;
            cap *= 2;
        }
        struct entry *x = &e[k];
        x->kind = *p++;
        if (x->kind >= N_KINDS || !take_u32(&p, end, &x->k.mv_size) ||
            (size_t)(end - p) < x->k.mv_size) {
            err = churn_fail(reason, rlen, CHURN_EINVAL, "entry %zu: truncated or unknown", k);
            break;
        }
        x->k.mv_data = (void *)p;
        p += x->k.mv_size;
        if (!take_u32(&p, end, &x->v.mv_size) || (size_t)(end - p) < x->v.mv_size) {
            err = churn_fail(reason, rlen, CHURN_EINVAL, "entry %zu: truncated value", k);
            break;
        }
        x->v.mv_data = (void *)p;
        p += x->v.mv_size;
        if (!kinds[x->kind].prefixed && seen[x->kind])
            err = churn_fail(reason, rlen, CHURN_EINVAL, "two %ss", kinds[x->kind].what);
        seen[x->kind] = true;
        if (!err && (err = check_entry(x, id, len, rec, first_day, reason, rlen)) == CHURN_OK)
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

/* One customer of an import: its checked entries (NULL: refused, or nothing to write). */
struct import_one {
    const char *id;
    struct entry *e;
    size_t n;
};

struct import_ctx {
    struct import_one *item;
    size_t n;
    int32_t first_day; /* the records' oldest day bucket (INT32_MAX: none) */
};

/* Replace customer @c's keys with its entries in @txn. */
static enum churn_err
import_one_txn(struct churn_store *s, MDB_txn *txn, const struct import_one *c)
{
    size_t len = strlen(c->id);
    for (unsigned kind = 0; kind < N_KINDS; kind++) { /* replace: the old keys go first */
        MDB_dbi dbi = s->dbi[kinds[kind].db];
        MDB_val k = {len, (void *)c->id};
        long gone = 0;
        int rc = kinds[kind].prefixed ? churn__store_delete_prefix(txn, dbi, c->id, len + 1, &gone)
                                      : mdb_del(txn, dbi, &k, NULL);
        if (rc && rc != MDB_NOTFOUND)
            return churn__mdb_err(rc, "importing a customer");
    }
    for (size_t i = 0; i < c->n; i++) {
        MDB_val k = c->e[i].k, v = c->e[i].v;
        int rc = mdb_put(txn, s->dbi[kinds[c->e[i].kind].db], &k, &v, 0);
        if (rc)
            return churn__mdb_err(rc, "importing a customer");
    }
    return CHURN_OK;
}

static enum churn_err
import_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    const struct import_ctx *c = vctx;
    for (size_t i = 0; i < c->n; i++) {
        enum churn_err err = c->item[i].e ? import_one_txn(s, txn, &c->item[i]) : CHURN_OK;
        if (err)
            return err;
    }
    /* the store's observed history reaches back to the records' days, as if ingested here:
     * features do not take the moved days for days before the data */
    return churn__store_history_note(s, txn, c->first_day);
}

enum churn_err
churn_store_import_customers(struct churn_store *s, struct churn_store_import *items, size_t n)
{
    churn__store_clear_error();
    struct import_one *one = churn_calloc(n ? n : 1, sizeof(*one));
    if (!one)
        return churn__store_fail(CHURN_ENOMEM, "importing customers: out of memory");
    struct import_ctx c = {one, n, INT32_MAX};
    for (size_t i = 0; i < n; i++) {
        struct churn_store_import *it = &items[i];
        one[i].id = it->id;
        it->err = churn__store_check_id(it->id, "customer_id");
        if (it->err)
            churn_fail(it->reason, sizeof(it->reason), it->err, "%s", churn_store_last_error());
        else
            it->err = parse_bundle(it->id, it->bundle, it->len, &one[i].e, &one[i].n, &c.first_day,
                                   it->reason, sizeof(it->reason));
    }
    enum churn_err err = churn__store_write(s, import_txn, &c, "importing customers");
    if (!err)
        churn__store_history_commit(s, c.first_day);
    for (size_t i = 0; i < n; i++)
        churn_free(one[i].e);
    churn_free(one);
    return err;
}

enum churn_err
churn_store_import_customer(struct churn_store *s, const char *id, const void *bundle, size_t len,
                            char *reason, size_t rlen)
{
    struct churn_store_import it = {.id = id, .bundle = bundle, .len = len};
    enum churn_err err = churn_store_import_customers(s, &it, 1);
    if (err)
        churn_fail(reason, rlen, err, "%s", churn_store_last_error());
    else if (it.err)
        snprintf(reason, rlen, "%s", it.reason);
    return err ? err : it.err;
}
