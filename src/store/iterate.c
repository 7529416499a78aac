/*
 * iterate.c - walks over every customer: decoded records in id order without holding a
 * transaction across the caller's work, pages of customer ids, and every alert state.
 */
#include "churn/store.h"

#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "churn/alloc.h"
#include "churn/log.h"
#include "store_internal.h"
#include "store_lmdb.h"

enum churn_err
churn_store_foreach_customer(struct churn_store *s,
                             int (*fn)(const struct churn_customer *rec, void *user), void *user)
{
    struct churn_customer *rec = churn_malloc(sizeof(*rec));
    char last[CHURN_ID_MAX + 1];
    size_t last_len = 0;
    bool started = false;
    MDB_txn *txn = NULL;
    enum churn_err err = CHURN_OK;

    churn__store_clear_error();
    if (!rec)
        return churn__store_fail(CHURN_ENOMEM, "out of memory iterating customers");
    for (;;) {
        MDB_cursor *cur;
        if ((err = churn__store_read_begin(s, &txn)))
            break;
        int rc = mdb_cursor_open(txn, s->dbi[CHURN__DB_CUSTOMERS], &cur);
        if (rc) {
            churn__store_read_end(s, txn);
            err = churn__mdb_err(rc, "iterating customers");
            break;
        }
        MDB_val k = {last_len, last}, v;
        if (!started) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        } else {
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            if (rc == 0 && k.mv_size == last_len && memcmp(k.mv_data, last, last_len) == 0)
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        enum churn_err derr = CHURN_OK;
        if (rc == 0) {
            if (k.mv_size > CHURN_ID_MAX) {
                derr = churn__store_fail(CHURN_ECORRUPT, "customer key too long");
            } else {
                last_len = k.mv_size;
                memcpy(last, k.mv_data, last_len);
                last[last_len] = '\0';
                derr = churn__record_decode(v.mv_data, v.mv_size, last, last_len, rec);
            }
        }
        mdb_cursor_close(cur);
        churn__store_read_end(s, txn);
        started = true;
        if (rc == MDB_NOTFOUND)
            break;
        if (rc) {
            err = churn__mdb_err(rc, "iterating customers");
            break;
        }
        if (derr == CHURN_ECORRUPT) {
            churn_log(CHURN_LOG_WARN, "store_corrupt_record", CHURN_LF_STR("customer_id", last),
                      CHURN_LF_STR("error", churn_store_last_error()));
            continue;
        }
        if (derr) {
            err = derr;
            break;
        }
        if (fn(rec, user)) {
            err = CHURN_ECANCELLED;
            break;
        }
    }
    if (txn)
        mdb_txn_abort(txn);
    churn_free(rec);
    return err;
}

enum churn_err
churn_store_list_customer_ids(struct churn_store *s, const char *after,
                              char (*ids)[CHURN_ID_MAX + 1], size_t max, size_t *n)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur;
    enum churn_err err;
    size_t count = 0;

    churn__store_clear_error();
    *n = 0;
    if ((err = churn__store_read_begin(s, &txn)))
        return err;
    int rc = mdb_cursor_open(txn, s->dbi[CHURN__DB_CUSTOMERS], &cur);
    if (rc) {
        err = churn__mdb_err(rc, "listing customers");
        goto out_txn;
    }
    size_t alen = after ? strlen(after) : 0;
    MDB_val k = {alen, (void *)after}, v;
    if (alen == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && k.mv_size == alen && memcmp(k.mv_data, after, alen) == 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    for (; rc == 0 && count < max; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size == 0 || k.mv_size > CHURN_ID_MAX)
            continue; /* not a customer key a record could have (logged by the decoders) */
        memcpy(ids[count], k.mv_data, k.mv_size);
        ids[count][k.mv_size] = '\0';
        count++;
    }
    if (rc && rc != MDB_NOTFOUND)
        err = churn__mdb_err(rc, "listing customers");
    mdb_cursor_close(cur);
out_txn:
    churn__store_read_end(s, txn);
    mdb_txn_abort(txn);
    *n = err ? 0 : count;
    return err;
}

enum churn_err
churn_store_foreach_alert_state(struct churn_store *s,
                                int (*fn)(const char *customer_id, const void *data, size_t len,
                                          void *user),
                                void *user)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur;
    churn__store_clear_error();
    enum churn_err err = churn__store_read_begin(s, &txn);
    if (err)
        return err;
    int rc = mdb_cursor_open(txn, s->dbi[CHURN__DB_ALERT_STATE], &cur);
    if (rc) {
        err = churn__mdb_err(rc, "reading alert states");
        goto out_txn;
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const unsigned char *p = v.mv_data;
        if (k.mv_size == 0 || k.mv_size > CHURN_ID_MAX || v.mv_size < 1 || p[0] != VALUE_VERSION)
            continue;
        char cid[CHURN_ID_MAX + 1];
        memcpy(cid, k.mv_data, k.mv_size);
        cid[k.mv_size] = '\0';
        if (fn(cid, p + 1, v.mv_size - 1, user)) {
            err = CHURN_ECANCELLED;
            break;
        }
    }
    if (!err && rc != MDB_NOTFOUND)
        err = churn__mdb_err(rc, "reading alert states");
    mdb_cursor_close(cur);
out_txn:
    churn__store_read_end(s, txn);
    mdb_txn_abort(txn);
    return err;
}
