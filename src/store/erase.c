/*
 * erase.c - the privacy erase: one durable write transaction removes a customer's record,
 * stored score, event ids, conversations, alert state, alerts and outcomes (the customer's
 * contiguous key ranges, and a walk of the sequence logs).
 */
#include "churn/store.h"

#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "store_internal.h"
#include "store_lmdb.h"

int
churn__store_delete_prefix(MDB_txn *txn, MDB_dbi dbi, const char *prefix, size_t plen, long *n)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return rc;
    MDB_val k = {plen, (void *)prefix}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0) {
        if ((rc = mdb_cursor_del(cur, 0)))
            break;
        (*n)++;
        k = (MDB_val){plen, (void *)prefix};
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

struct delete_ctx {
    const char *cid;
    struct churn_store_erase_report rep;
};

static enum churn_err
delete_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct delete_ctx *dc = vctx;
    const char *cid = dc->cid;
    struct churn_store_erase_report *rep = &dc->rep;
    size_t len = strlen(cid);
    long found = 0, n = 0;
    int rc;

    memset(rep, 0, sizeof(*rep)); /* the body may run again after the map grew */
    MDB_val k = {len, (void *)cid};
    rc = mdb_del(txn, s->dbi[CHURN__DB_CUSTOMERS], &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return churn__mdb_err(rc, "erasing the customer record");
    found += rc == 0;
    rep->record = rc == 0;
    enum churn_err serr = churn__store_erase_score(s, txn, cid, &rep->score);
    if (serr)
        return serr;
    rc = mdb_del(txn, s->dbi[CHURN__DB_ALERT_STATE], &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return churn__mdb_err(rc, "erasing the alert state");
    found += rc == 0;
    rep->alert_states = rc == 0;

    char prefix[CHURN_ID_MAX + 1];
    memcpy(prefix, cid, len);
    prefix[len] = '\0';
    if ((rc = churn__store_delete_prefix(txn, s->dbi[CHURN__DB_EVENT_IDS], prefix, len + 1, &n)))
        return churn__mdb_err(rc, "erasing event ids");
    found += n;
    rep->event_ids = (size_t)n;
    n = 0;
    if ((rc =
             churn__store_delete_prefix(txn, s->dbi[CHURN__DB_CONVERSATIONS], prefix, len + 1, &n)))
        return churn__mdb_err(rc, "erasing conversations");
    found += n;
    rep->conversations = (size_t)n;

    /* Alerts are keyed by sequence: walk the log (it is small next to events). */
    long alerts = 0;
    enum churn_err lerr =
        churn__log_erase_customer(txn, s->dbi[CHURN__DB_ALERTS], cid, &alerts, "erasing alerts");
    if (!lerr)
        lerr = churn__alert_index_erase(s, txn, cid);
    if (lerr)
        return lerr;
    found += alerts;
    rep->alerts = (size_t)alerts;
    long outcomes = 0;
    enum churn_err err = churn__store_erase_outcomes(s, txn, cid, &outcomes);
    if (err)
        return err;
    found += outcomes;
    rep->outcomes = (size_t)outcomes;
    if (!found)
        return churn__store_fail(CHURN_ENOTFOUND, "customer %s not found", cid);
    return CHURN_OK;
}

enum churn_err
churn_store_delete_customer(struct churn_store *s, const char *customer_id,
                            struct churn_store_erase_report *report)
{
    enum churn_err err;
    churn__store_clear_error();
    if ((err = churn__store_check_id(customer_id, "customer_id")))
        return err;
    struct delete_ctx dc = {.cid = customer_id};
    err = churn__store_write(s, delete_txn, &dc, "erasing a customer");
    if (!err && report)
        *report = dc.rep;
    return err;
}
