/*
 * erase.c - the privacy erase: one durable write transaction removes a customer's record,
 * stored score, event ids, conversations, alert state, alerts and outcomes (the customer's
 * contiguous key ranges, and a walk of the sequence logs); and the same for a page of
 * customers at once (a moved partition's old copy: one walk of each log for the page).
 */
#include "churn/store.h"

#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "churn/alloc.h"

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

/* @cid's keys outside the logs in @txn: record, score, alert state, event ids, conversations;
 * *@found counts them. */
static enum churn_err
erase_own_keys(struct churn_store *s, MDB_txn *txn, const char *cid,
               struct churn_store_erase_report *rep, long *found)
{
    size_t len = strlen(cid);
    long n = 0;
    MDB_val k = {len, (void *)cid};
    int rc = mdb_del(txn, s->dbi[CHURN__DB_CUSTOMERS], &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return churn__mdb_err(rc, "erasing the customer record");
    *found += rc == 0;
    rep->record = rc == 0;
    enum churn_err serr = churn__store_erase_score(s, txn, cid, &rep->score);
    if (serr)
        return serr;
    rc = mdb_del(txn, s->dbi[CHURN__DB_ALERT_STATE], &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return churn__mdb_err(rc, "erasing the alert state");
    *found += rc == 0;
    rep->alert_states = rc == 0;

    char prefix[CHURN_ID_MAX + 1];
    memcpy(prefix, cid, len);
    prefix[len] = '\0';
    if ((rc = churn__store_delete_prefix(txn, s->dbi[CHURN__DB_EVENT_IDS], prefix, len + 1, &n)))
        return churn__mdb_err(rc, "erasing event ids");
    *found += n;
    rep->event_ids = (size_t)n;
    n = 0;
    if ((rc =
             churn__store_delete_prefix(txn, s->dbi[CHURN__DB_CONVERSATIONS], prefix, len + 1, &n)))
        return churn__mdb_err(rc, "erasing conversations");
    *found += n;
    rep->conversations = (size_t)n;
    return CHURN_OK;
}

static enum churn_err
delete_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct delete_ctx *dc = vctx;
    const char *cid = dc->cid;
    struct churn_store_erase_report *rep = &dc->rep;
    long found = 0;
    memset(rep, 0, sizeof(*rep)); /* the body may run again after the map grew */
    enum churn_err err = erase_own_keys(s, txn, cid, rep, &found);
    if (err)
        return err;
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
    err = churn__store_erase_outcomes(s, txn, cid, &outcomes);
    if (err)
        return err;
    found += outcomes;
    rep->outcomes = (size_t)outcomes;
    if (!found)
        return churn__store_fail(CHURN_ENOTFOUND, "customer %s not found", cid);
    return CHURN_OK;
}

struct drop_ctx {
    const char *const *ids;
    size_t n;
    struct churn_store_drop_report rep;
};

/* Delete the entries @hits of log @db; *@had[who] marks their customers. */
static enum churn_err
drop_hits(struct churn_store *s, MDB_txn *txn, int db, const struct churn__log_hits *hits,
          bool *had, size_t *count)
{
    for (size_t i = 0; i < hits->n; i++) {
        unsigned char key[8];
        churn__be64(key, hits->h[i].seq);
        MDB_val k = {8, key};
        int rc = mdb_del(txn, s->dbi[db], &k, NULL);
        if (rc && rc != MDB_NOTFOUND)
            return churn__mdb_err(rc, "dropping log entries");
        had[hits->h[i].who] = true;
        (*count)++;
    }
    return CHURN_OK;
}

static enum churn_err
drop_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct drop_ctx *dc = vctx;
    memset(&dc->rep, 0, sizeof(dc->rep));
    bool *had = churn_calloc(dc->n + 1, sizeof(*had));
    struct churn__log_hits alerts = {0}, outcomes = {0};
    enum churn_err err = had ? CHURN_OK : CHURN_ENOMEM;
    if (!err)
        err = churn__log_collect(txn, s->dbi[CHURN__DB_ALERTS], dc->ids, dc->n, &alerts,
                                 "reading the alert log");
    if (!err)
        err = churn__log_collect(txn, s->dbi[CHURN__DB_OUTCOMES], dc->ids, dc->n, &outcomes,
                                 "reading the outcome log");
    if (!err)
        err = drop_hits(s, txn, CHURN__DB_ALERTS, &alerts, had, &dc->rep.alerts);
    if (!err)
        err = drop_hits(s, txn, CHURN__DB_OUTCOMES, &outcomes, had, &dc->rep.outcomes);
    for (size_t i = 0; !err && i < dc->n; i++) {
        struct churn_store_erase_report one = {0};
        long found = 0;
        err = erase_own_keys(s, txn, dc->ids[i], &one, &found);
        dc->rep.customers += found || had[i];
    }
    churn__log_hits_free(&alerts);
    churn__log_hits_free(&outcomes);
    churn_free(had);
    return err;
}

enum churn_err
churn_store_drop_customers(struct churn_store *s, const char *const *ids, size_t n,
                           struct churn_store_drop_report *report)
{
    churn__store_clear_error();
    for (size_t i = 0; i < n; i++) {
        enum churn_err err = churn__store_check_id(ids[i], "customer_id");
        if (err)
            return err;
    }
    struct drop_ctx dc = {ids, n, {0}};
    enum churn_err err = n ? churn__store_write(s, drop_txn, &dc, "dropping customers") : CHURN_OK;
    if (!err && report)
        *report = dc.rep;
    return err;
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
