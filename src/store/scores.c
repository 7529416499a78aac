/*
 * store/scores.c - the store's side of scores (churn/score_store.h): an event applied to a
 * decoded record in memory with the same validation and bucketing as a committed one; and
 * the "scores" database, one opaque stored score per customer beside its record, written in
 * one durable transaction per batch only while the record still has the digest the score was
 * computed from, read with the record, erased with it.
 */
#include "churn/score_store.h"

#include <string.h>

#include "churn/hash.h"
#include "store_internal.h"
#include "store_lmdb.h"

enum churn_err
churn_store_preview_event(struct churn_store *s, struct churn_customer *rec,
                          const struct churn_event *ev, int64_t now_ms, char *reason,
                          size_t reason_len)
{
    enum churn_err err = churn_event_validate(ev, now_ms, s->opts.skew_ms, reason, reason_len);
    if (!err)
        err = churn__record_check_event(rec, ev, reason, reason_len);
    if (err)
        return err;
    int32_t min_day = churn_day_of_ms(now_ms) - (int32_t)s->opts.horizon_days + 1;
    churn__record_apply(rec, ev, min_day);
    churn__record_prune(rec, min_day);
    return CHURN_OK;
}

struct put_scores_ctx {
    const struct churn_store_score_put *items;
    size_t n;
    size_t written;
};

/* Store item @it in @txn if its record still has the digest it was computed from. */
static enum churn_err
put_one(struct churn_store *s, MDB_txn *txn, const struct churn_store_score_put *it,
        size_t *written)
{
    MDB_val k = {strlen(it->customer_id), (void *)it->customer_id}, v;
    int rc = mdb_get(txn, s->dbi[CHURN__DB_CUSTOMERS], &k, &v);
    if (rc == MDB_NOTFOUND)
        return CHURN_OK; /* erased since it was scored */
    if (rc)
        return churn__mdb_err(rc, "reading a customer to store its score");
    if (churn_digest64(v.mv_data, v.mv_size) != it->record_digest)
        return CHURN_OK; /* changed since it was scored: the change brings its own score */
    MDB_val val = {it->len, (void *)it->data};
    /* a first build writes in id order: appended, pages fill up instead of splitting in half */
    rc = mdb_put(txn, s->dbi[CHURN__DB_SCORES], &k, &val, MDB_APPEND);
    if (rc == MDB_KEYEXIST) /* not past the last key: an ordinary put */
        rc = mdb_put(txn, s->dbi[CHURN__DB_SCORES], &k, &val, 0);
    if (rc)
        return churn__mdb_err(rc, "storing a score");
    (*written)++;
    return CHURN_OK;
}

static enum churn_err
put_scores_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct put_scores_ctx *c = vctx;
    c->written = 0; /* the body may run again after the map grew */
    for (size_t i = 0; i < c->n; i++) {
        enum churn_err err = put_one(s, txn, &c->items[i], &c->written);
        if (err)
            return err;
    }
    return CHURN_OK;
}

enum churn_err
churn__scores_check(struct churn_store *s, const struct churn_store_score_put *items, size_t n)
{
    if (!s->dbi[CHURN__DB_SCORES])
        return churn__store_fail(CHURN_EPRECOND, "the store is read-only: no scores database");
    for (size_t i = 0; i < n; i++) {
        enum churn_err err = churn__store_check_id(items[i].customer_id, "customer_id");
        if (err)
            return err;
        if (items[i].len == 0 || items[i].len > CHURN_STORE_SCORE_MAX)
            return churn__store_fail(CHURN_EINVAL,
                                     "scores[%zu]: a stored score is 1..%u bytes, not %zu", i,
                                     CHURN_STORE_SCORE_MAX, items[i].len);
    }
    return CHURN_OK;
}

enum churn_err
churn__scores_txn(struct churn_store *s, MDB_txn *txn, const struct churn_store_score_put *items,
                  size_t n, size_t *written)
{
    struct put_scores_ctx c = {items, n, 0};
    enum churn_err err = put_scores_txn(s, txn, &c);
    *written = c.written;
    return err;
}

enum churn_err
churn_store_put_scores(struct churn_store *s, const struct churn_store_score_put *items, size_t n,
                       size_t *written)
{
    churn__store_clear_error();
    enum churn_err err = churn__scores_check(s, items, n);
    if (err)
        return err;
    struct put_scores_ctx c = {items, n, 0};
    err = n ? churn__store_write(s, put_scores_txn, &c, "storing scores") : CHURN_OK;
    if (!err && written)
        *written = c.written;
    return err;
}

enum churn_err
churn__store_get_score(struct churn_store *s, MDB_txn *txn, const char *id, void *buf, size_t cap,
                       size_t *len)
{
    *len = 0;
    if (!s->dbi[CHURN__DB_SCORES])
        return CHURN_OK; /* an older store opened read-only: nothing stored */
    MDB_val k = {strlen(id), (void *)id}, v;
    int rc = mdb_get(txn, s->dbi[CHURN__DB_SCORES], &k, &v);
    if (rc == MDB_NOTFOUND)
        return CHURN_OK;
    if (rc)
        return churn__mdb_err(rc, "reading a stored score");
    *len = v.mv_size;
    if (v.mv_size <= cap)
        memcpy(buf, v.mv_data, v.mv_size);
    return CHURN_OK;
}

enum churn_err
churn_store_get_score(struct churn_store *s, const char *customer_id, void *score, size_t cap,
                      size_t *score_len)
{
    MDB_txn *txn = NULL;
    churn__store_clear_error();
    enum churn_err err = churn__store_check_id(customer_id, "customer_id");
    if (err || (err = churn__store_read_begin(s, &txn)))
        return err;
    err = churn__store_get_score(s, txn, customer_id, score, cap, score_len);
    churn__store_read_end(s, txn);
    mdb_txn_abort(txn);
    return err;
}

enum churn_err
churn__store_erase_score(struct churn_store *s, MDB_txn *txn, const char *cid, bool *found)
{
    *found = false;
    if (!s->dbi[CHURN__DB_SCORES])
        return CHURN_OK;
    MDB_val k = {strlen(cid), (void *)cid};
    int rc = mdb_del(txn, s->dbi[CHURN__DB_SCORES], &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return churn__mdb_err(rc, "erasing the stored score");
    *found = rc == 0;
    return CHURN_OK;
}
