/*
 * alert_index.c - the alert log's per-customer index (database "alert_customers", dupsort:
 * customer id -> every sequence of the customer's alert records, format byte + big-endian
 * u64, so duplicates sort by sequence): written in the transaction that appends the alert,
 * erased with the customer by the privacy erase, and rebuilt from the log when a writable
 * open finds it missing or not matching the log (a store written before it existed, or by a
 * churnd that did not keep it); read newest first for a customer's timeline.
 */
#include "churn/store.h"

#include <string.h>

#include <lmdb.h>

#include "store_internal.h"
#include "store_lmdb.h"

enum { ENTRY_LEN = 9 };

static void
entry(unsigned char *out, uint64_t seq)
{
    out[0] = VALUE_VERSION;
    churn__be64(out + 1, seq);
}

enum churn_err
churn__alert_index_put(struct churn_store *s, MDB_txn *txn, const char *cid, uint64_t seq)
{
    unsigned char e[ENTRY_LEN];
    entry(e, seq);
    MDB_val k = {strlen(cid), (void *)cid}, v = {ENTRY_LEN, e};
    int rc = mdb_put(txn, s->dbi[CHURN__DB_ALERT_CUSTOMERS], &k, &v, 0);
    return rc ? churn__mdb_err(rc, "indexing an alert") : CHURN_OK;
}

enum churn_err
churn__alert_index_erase(struct churn_store *s, MDB_txn *txn, const char *cid)
{
    if (!s->dbi[CHURN__DB_ALERT_CUSTOMERS])
        return CHURN_OK;
    MDB_val k = {strlen(cid), (void *)cid};
    int rc = mdb_del(txn, s->dbi[CHURN__DB_ALERT_CUSTOMERS], &k, NULL);
    return rc && rc != MDB_NOTFOUND ? churn__mdb_err(rc, "erasing the alert index") : CHURN_OK;
}

/* Index every record of the alert log (the index emptied first). */
static enum churn_err
rebuild(struct churn_store *s, MDB_txn *txn, size_t *indexed)
{
    int rc = mdb_drop(txn, s->dbi[CHURN__DB_ALERT_CUSTOMERS], 0);
    MDB_cursor *cur = NULL;
    if (!rc)
        rc = mdb_cursor_open(txn, s->dbi[CHURN__DB_ALERTS], &cur);
    if (rc)
        return churn__mdb_err(rc, "rebuilding the alert index");
    MDB_val k, v;
    enum churn_err err = CHURN_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !err;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char cid[CHURN_ID_MAX + 1];
        const unsigned char *data;
        size_t len;
        if (k.mv_size != 8 || !churn__log_value(&v, cid, &data, &len))
            continue; /* left for the log's readers to report */
        err = churn__alert_index_put(s, txn, cid, churn__from_be64(k.mv_data));
        *indexed += !err;
    }
    mdb_cursor_close(cur);
    if (!err && rc != MDB_NOTFOUND)
        err = churn__mdb_err(rc, "rebuilding the alert index");
    return err;
}

enum churn_err
churn__alert_index_check(struct churn_store *s, MDB_txn *txn)
{
    MDB_stat log, index;
    int rc = mdb_stat(txn, s->dbi[CHURN__DB_ALERTS], &log);
    if (!rc)
        rc = mdb_stat(txn, s->dbi[CHURN__DB_ALERT_CUSTOMERS], &index);
    if (rc)
        return churn__mdb_err(rc, "checking the alert index");
    if (log.ms_entries == index.ms_entries)
        return CHURN_OK;
    size_t indexed = 0;
    enum churn_err err = rebuild(s, txn, &indexed);
    if (!err)
        s->alert_index_rebuilt = indexed + 1; /* logged once the open committed */
    return err;
}

/* The alert record @seq, read in @txn and handed to @fn; true when @fn asks to stop. */
static bool
hand_over(struct churn_store *s, MDB_txn *txn, uint64_t seq, churn_store_log_fn *fn, void *user,
          enum churn_err *err)
{
    unsigned char key[8];
    churn__be64(key, seq);
    MDB_val k = {8, key}, v;
    int rc = mdb_get(txn, s->dbi[CHURN__DB_ALERTS], &k, &v);
    if (rc == MDB_NOTFOUND)
        return false; /* an index entry without its record: skipped */
    char cid[CHURN_ID_MAX + 1];
    const unsigned char *data;
    size_t len;
    if (rc)
        *err = churn__mdb_err(rc, "reading an alert");
    else if (!churn__log_value(&v, cid, &data, &len))
        *err = churn__store_fail(CHURN_ECORRUPT, "alert %llu is corrupt", (unsigned long long)seq);
    else if (fn(seq, cid, data, len, user))
        *err = CHURN_ECANCELLED;
    return *err != CHURN_OK;
}

/* Walk @cid's index entries from the newest, in @txn. */
static enum churn_err
walk_newest(struct churn_store *s, MDB_txn *txn, const char *cid, uint64_t before, size_t max,
            churn_store_log_fn *fn, void *user)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi[CHURN__DB_ALERT_CUSTOMERS], &cur);
    if (rc)
        return churn__mdb_err(rc, "reading the alert index");
    MDB_val k = {strlen(cid), (void *)cid}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
    if (!rc)
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST_DUP);
    enum churn_err err = CHURN_OK;
    size_t count = 0;
    for (; rc == 0 && !err && (!max || count < max);
         rc = mdb_cursor_get(cur, &k, &v, MDB_PREV_DUP)) {
        const unsigned char *p = v.mv_data;
        if (v.mv_size != ENTRY_LEN || p[0] != VALUE_VERSION) {
            err = churn__store_fail(CHURN_ECORRUPT, "the alert index of %s is corrupt", cid);
            break;
        }
        uint64_t seq = churn__from_be64(p + 1);
        if (before && seq >= before)
            continue;
        count++;
        hand_over(s, txn, seq, fn, user, &err);
    }
    mdb_cursor_close(cur);
    if (!err && rc && rc != MDB_NOTFOUND)
        err = churn__mdb_err(rc, "reading the alert index");
    return err;
}

enum churn_err
churn_store_foreach_customer_alert(struct churn_store *s, const char *customer_id, uint64_t before,
                                   size_t max, churn_store_log_fn *fn, void *user)
{
    enum churn_err err;
    churn__store_clear_error();
    if ((err = churn__store_check_id(customer_id, "customer_id")))
        return err;
    if (!s->dbi[CHURN__DB_ALERT_CUSTOMERS])
        return CHURN_OK; /* an older store opened read-only: no index */
    MDB_txn *txn = NULL;
    if ((err = churn__store_read_begin(s, &txn)))
        return err;
    err = walk_newest(s, txn, customer_id, before, max, fn, user);
    churn__store_read_end(s, txn);
    mdb_txn_abort(txn);
    return err;
}
