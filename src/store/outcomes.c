/*
 * store/outcomes.c - the outcome log: what happened to customers the retention team acted on
 * (or deliberately held out), recorded by RecordOutcome and read back whole by
 * `churnctl report outcomes`. Entries are keyed by a big-endian u64 sequence (the last key
 * plus one, assigned in the appending transaction); each value is the format byte, the
 * customer id (length byte + bytes, so the privacy erase can find a customer's entries) and
 * the caller's opaque bytes (churn_outcome_encode()). The database was added after store
 * format 1: a writable open creates it, a read-only open of an older store sees it empty.
 */
#include <string.h>

#include "churn/store.h"
#include "store_internal.h"
#include "store_lmdb.h"

#define VALUE_VERSION 1

struct outcome_ctx {
    const char *customer_id;
    const void *data;
    size_t len;
    uint64_t seq; /* out */
};

static enum churn_err
append_outcome_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct outcome_ctx *c = vctx;
    MDB_dbi dbi = s->dbi[CHURN__DB_OUTCOMES];
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return churn__mdb_err(rc, "reading the outcome log");
    MDB_val k, v;
    uint64_t last = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == 8)
        last = churn__from_be64(k.mv_data);
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        return churn__mdb_err(rc, "reading the outcome log");
    size_t clen = strlen(c->customer_id);
    unsigned char key[8];
    churn__be64(key, last + 1);
    k = (MDB_val){8, key};
    v = (MDB_val){2 + clen + c->len, NULL};
    if ((rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE)))
        return churn__mdb_err(rc, "writing an outcome");
    unsigned char *p = v.mv_data;
    p[0] = VALUE_VERSION;
    p[1] = (unsigned char)clen;
    memcpy(p + 2, c->customer_id, clen);
    memcpy(p + 2 + clen, c->data, c->len);
    c->seq = last + 1;
    return CHURN_OK;
}

enum churn_err
churn_store_append_outcome(struct churn_store *s, const char *customer_id, const void *data,
                           size_t len, uint64_t *seq)
{
    enum churn_err err;
    churn__store_clear_error();
    if ((err = churn__store_check_id(customer_id, "customer_id")))
        return err;
    if (len == 0 || !data || len > CHURN_STORE_VALUE_MAX)
        return churn__store_fail(CHURN_ETOOBIG, "outcome of %zu bytes: empty or over the limit",
                                 len);
    if (!s->dbi[CHURN__DB_OUTCOMES])
        return churn__store_fail(CHURN_EPERM, "the store is read-only and has no outcome log");
    struct outcome_ctx c = {customer_id, data, len, 0};
    if ((err = churn__store_write(s, append_outcome_txn, &c, "appending an outcome")))
        return err;
    if (seq)
        *seq = c.seq;
    return CHURN_OK;
}

enum churn_err
churn_store_foreach_outcome(struct churn_store *s,
                            int (*fn)(uint64_t seq, const char *customer_id, const void *data,
                                      size_t len, void *user),
                            void *user)
{
    churn__store_clear_error();
    if (!s->dbi[CHURN__DB_OUTCOMES])
        return CHURN_OK; /* an older store opened read-only: no outcomes yet */
    MDB_txn *txn = NULL;
    enum churn_err err = churn__store_read_begin(s, &txn);
    if (err)
        return err;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi[CHURN__DB_OUTCOMES], &cur);
    if (rc) {
        err = churn__mdb_err(rc, "reading outcomes");
        goto out_txn;
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const unsigned char *p = v.mv_data;
        char cid[CHURN_ID_MAX + 1];
        if (k.mv_size != 8 || v.mv_size < 2 || p[0] != VALUE_VERSION || p[1] > CHURN_ID_MAX ||
            v.mv_size < 2u + p[1]) {
            err = churn__store_fail(CHURN_ECORRUPT, "corrupt outcome record");
            break;
        }
        memcpy(cid, p + 2, p[1]);
        cid[p[1]] = '\0';
        if (fn(churn__from_be64(k.mv_data), cid, p + 2 + p[1], v.mv_size - 2 - p[1], user)) {
            err = CHURN_ECANCELLED;
            break;
        }
    }
    if (!err && rc != MDB_NOTFOUND)
        err = churn__mdb_err(rc, "reading outcomes");
    mdb_cursor_close(cur);
out_txn:
    churn__store_read_end(s, txn);
    mdb_txn_abort(txn);
    return err;
}

enum churn_err
churn__store_erase_outcomes(struct churn_store *s, MDB_txn *txn, const char *cid, long *found)
{
    if (!s->dbi[CHURN__DB_OUTCOMES])
        return CHURN_OK;
    size_t len = strlen(cid);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi[CHURN__DB_OUTCOMES], &cur);
    if (rc)
        return churn__mdb_err(rc, "erasing outcomes");
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        const unsigned char *p = v.mv_data;
        if (v.mv_size >= 2 + len && p[1] == len && memcmp(p + 2, cid, len) == 0) {
            unsigned char at[8];
            memcpy(at, k.mv_data, k.mv_size < 8 ? k.mv_size : 8);
            if ((rc = mdb_cursor_del(cur, 0)))
                break;
            (*found)++;
            k = (MDB_val){8, at}; /* continue at the next key */
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            continue;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        return churn__mdb_err(rc, "erasing outcomes");
    return CHURN_OK;
}
