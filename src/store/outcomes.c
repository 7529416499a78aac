/*
 * store/outcomes.c - the outcome log: what happened to customers the retention team acted on
 * (or deliberately held out), recorded by RecordOutcome and read back whole by
 * `churnctl report outcomes`. Entries are keyed by a big-endian u64 sequence (the last key
 * plus one, assigned in the appending transaction); each value is the format byte, the
 * customer id (length byte + bytes, so the privacy erase can find a customer's entries) and
 * the caller's opaque bytes (churn_outcome_encode()): the layout of every customer-tagged log
 * (churn__log_put in alert_log.c). The database was added after store
 * format 1: a writable open creates it, a read-only open of an older store sees it empty.
 */
#include <string.h>

#include "churn/store.h"
#include "churn/outcomes.h"
#include "store_internal.h"
#include "store_lmdb.h"

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
    enum churn_err err =
        churn__log_put(txn, dbi, last + 1, c->customer_id, c->data, c->len, "writing an outcome");
    if (err)
        return err;
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
churn_store_foreach_outcome(struct churn_store *s, churn_store_log_fn *fn, void *user)
{
    churn__store_clear_error();
    if (!s->dbi[CHURN__DB_OUTCOMES])
        return CHURN_OK; /* an older store opened read-only: no outcomes yet */
    return churn__log_walk(s, s->dbi[CHURN__DB_OUTCOMES], 0, 0, fn, user, "reading outcomes");
}

enum churn_err
churn__store_erase_outcomes(struct churn_store *s, MDB_txn *txn, const char *cid, long *found)
{
    if (!s->dbi[CHURN__DB_OUTCOMES])
        return CHURN_OK;
    return churn__log_erase_customer(txn, s->dbi[CHURN__DB_OUTCOMES], cid, found,
                                     "erasing outcomes");
}
