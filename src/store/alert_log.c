/*
 * alert_log.c - the alert log (append under the next sequence, with or without the customer's
 * alert state in the same transaction, and its per-customer index entry; replace; walk) and
 * the customer-tagged sequence logs it
 * shares with the outcome log (outcomes.c): put, walk, and a customer's entries erased.
 */
#include "churn/store.h"

#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "store_internal.h"
#include "store_lmdb.h"

/* ---- alerts ---------------------------------------------------------------------------------- */

struct alert_ctx {
    const char *customer_id;
    const void *data;
    size_t len;
    uint64_t seq; /* in: for replace; out: for append */
};

enum churn_err
churn__alert_seq_next(struct churn_store *s, MDB_txn *txn, uint64_t *out)
{
    MDB_val k = {sizeof(META_ALERT_SEQ_KEY) - 1, META_ALERT_SEQ_KEY}, v;
    uint64_t last = 0;
    int rc = mdb_get(txn, s->dbi[CHURN__DB_META], &k, &v);
    if (rc == 0 && v.mv_size == 9)
        last = churn__from_be64((const unsigned char *)v.mv_data + 1);
    else if (rc && rc != MDB_NOTFOUND)
        return churn__mdb_err(rc, "reading the alert sequence");
    uint64_t seq = last + 1;
    unsigned char sb[8];
    churn__be64(sb, seq);
    enum churn_err err = churn__store_put_versioned(txn, s->dbi[CHURN__DB_META], k.mv_data,
                                                    k.mv_size, sb, 8, "writing the alert sequence");
    if (!err)
        *out = seq;
    return err;
}

static enum churn_err
append_alert_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct alert_ctx *c = vctx;
    uint64_t seq;
    enum churn_err err = churn__alert_seq_next(s, txn, &seq);
    if (err)
        return err;
    if ((err = churn__log_put(txn, s->dbi[CHURN__DB_ALERTS], seq, c->customer_id, c->data, c->len,
                              "writing an alert")) ||
        (err = churn__alert_index_put(s, txn, c->customer_id, seq)))
        return err;
    c->seq = seq;
    return CHURN_OK;
}

struct alerts_state_ctx {
    size_t n;
    const char *const *customer_ids;
    churn_store_alerts_fill_fn *fill;
    void *user;
    uint64_t *seqs; /* out */
};

static enum churn_err
append_with_states_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct alerts_state_ctx *c = vctx;
    for (size_t i = 0; i < c->n; i++) {
        uint64_t seq;
        enum churn_err err = churn__alert_seq_next(s, txn, &seq);
        if (err)
            return err;
        const void *alert = NULL, *state = NULL;
        size_t alert_len = 0, state_len = 0;
        if ((err = c->fill(i, seq, c->user, &alert, &alert_len, &state, &state_len)))
            return churn__store_fail(err, "building alert %llu", (unsigned long long)seq);
        if (alert_len > CHURN_STORE_VALUE_MAX || state_len > CHURN_STORE_VALUE_MAX ||
            (alert_len && !alert) || (state_len && !state))
            return churn__store_fail(CHURN_ETOOBIG, "alert or alert state over the limit");
        const char *cid = c->customer_ids[i];
        if ((err = churn__log_put(txn, s->dbi[CHURN__DB_ALERTS], seq, cid, alert, alert_len,
                                  "writing an alert")) ||
            (err = churn__alert_index_put(s, txn, cid, seq)) ||
            (err = churn__store_put_versioned(txn, s->dbi[CHURN__DB_ALERT_STATE], cid, strlen(cid),
                                              state, state_len, "writing an alert state")))
            return err;
        c->seqs[i] = seq;
    }
    return CHURN_OK;
}

enum churn_err
churn__alerts_append_check(const char *const *customer_ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enum churn_err err = churn__store_check_id(customer_ids[i], "customer_id");
        if (err)
            return err;
    }
    return CHURN_OK;
}

enum churn_err
churn__alerts_append_txn(struct churn_store *s, MDB_txn *txn, size_t n,
                         const char *const *customer_ids, churn_store_alerts_fill_fn *fill,
                         void *user, uint64_t *seqs)
{
    struct alerts_state_ctx c = {n, customer_ids, fill, user, seqs};
    return append_with_states_txn(s, txn, &c);
}

enum churn_err
churn_store_append_alerts_with_states(struct churn_store *s, size_t n,
                                      const char *const *customer_ids,
                                      churn_store_alerts_fill_fn *fill, void *user, uint64_t *seqs)
{
    churn__store_clear_error();
    enum churn_err err = churn__alerts_append_check(customer_ids, n);
    if (err || n == 0)
        return err;
    struct alerts_state_ctx c = {n, customer_ids, fill, user, seqs};
    return churn__store_write(s, append_with_states_txn, &c, "appending alerts");
}

/* One alert as a batch of one: the single fill without the index. */
struct single_fill {
    churn_store_alert_fill_fn *fill;
    void *user;
};

static enum churn_err
single_fill(size_t i, uint64_t seq, void *user, const void **alert, size_t *alert_len,
            const void **state, size_t *state_len)
{
    (void)i;
    const struct single_fill *f = user;
    return f->fill(seq, f->user, alert, alert_len, state, state_len);
}

enum churn_err
churn_store_append_alert_with_state(struct churn_store *s, const char *customer_id,
                                    churn_store_alert_fill_fn *fill, void *user, uint64_t *seq)
{
    struct single_fill f = {fill, user};
    uint64_t got = 0;
    enum churn_err err =
        churn_store_append_alerts_with_states(s, 1, &customer_id, single_fill, &f, &got);
    if (!err && seq)
        *seq = got;
    return err;
}

enum churn_err
churn_store_append_alert(struct churn_store *s, const char *customer_id, const void *data,
                         size_t len, uint64_t *seq)
{
    enum churn_err err;
    churn__store_clear_error();
    if ((err = churn__store_check_id(customer_id, "customer_id")))
        return err;
    if (len > CHURN_STORE_VALUE_MAX || (len && !data))
        return churn__store_fail(CHURN_ETOOBIG, "alert of %zu bytes is over the limit", len);
    struct alert_ctx c = {customer_id, data, len, 0};
    if ((err = churn__store_write(s, append_alert_txn, &c, "appending an alert")))
        return err;
    if (seq)
        *seq = c.seq;
    return CHURN_OK;
}

static enum churn_err
replace_alert_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct alert_ctx *c = vctx;
    unsigned char key[8];
    char cid[CHURN_ID_MAX + 1];
    churn__be64(key, c->seq);
    MDB_val k = {8, key}, v;
    int rc = mdb_get(txn, s->dbi[CHURN__DB_ALERTS], &k, &v);
    if (rc == MDB_NOTFOUND)
        return churn__store_fail(CHURN_ENOTFOUND, "alert %llu not found",
                                 (unsigned long long)c->seq);
    if (rc)
        return churn__mdb_err(rc, "reading an alert");
    const unsigned char *data;
    size_t len;
    if (!churn__log_value(&v, cid, &data, &len))
        return churn__store_fail(CHURN_ECORRUPT, "alert %llu is corrupt",
                                 (unsigned long long)c->seq);
    return churn__log_put(txn, s->dbi[CHURN__DB_ALERTS], c->seq, cid, c->data, c->len,
                          "writing an alert");
}

enum churn_err
churn_store_replace_alert(struct churn_store *s, uint64_t seq, const void *data, size_t len)
{
    churn__store_clear_error();
    if (len > CHURN_STORE_VALUE_MAX || (len && !data))
        return churn__store_fail(CHURN_ETOOBIG, "alert of %zu bytes is over the limit", len);
    struct alert_ctx c = {NULL, data, len, seq};
    return churn__store_write(s, replace_alert_txn, &c, "replacing an alert");
}

enum churn_err
churn_store_foreach_alert(struct churn_store *s, uint64_t after_seq, size_t max,
                          churn_store_log_fn *fn, void *user)
{
    churn__store_clear_error();
    return churn__log_walk(s, s->dbi[CHURN__DB_ALERTS], after_seq, max, fn, user, "reading alerts");
}

/* ---- customer-tagged sequence logs (alerts, outcomes) ----------------------------------- */

/* Value layout: format byte, customer id length byte, customer id, the caller's bytes. */
enum churn_err
churn__log_put(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, const char *cid, const void *data,
               size_t len, const char *what)
{
    size_t clen = strlen(cid);
    unsigned char key[8];
    churn__be64(key, seq);
    MDB_val k = {8, key}, v = {2 + clen + len, NULL};
    int rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
    if (rc)
        return churn__mdb_err(rc, what);
    unsigned char *p = v.mv_data;
    p[0] = VALUE_VERSION;
    p[1] = (unsigned char)clen;
    memcpy(p + 2, cid, clen);
    if (len)
        memcpy(p + 2 + clen, data, len);
    return CHURN_OK;
}

bool
churn__log_value(const MDB_val *v, char *cid, const unsigned char **data, size_t *len)
{
    const unsigned char *p = v->mv_data;
    if (v->mv_size < 2 || p[0] != VALUE_VERSION || p[1] > CHURN_ID_MAX || v->mv_size < 2u + p[1])
        return false;
    memcpy(cid, p + 2, p[1]);
    cid[p[1]] = '\0';
    *data = p + 2 + p[1];
    *len = v->mv_size - 2 - p[1];
    return true;
}

enum churn_err
churn__log_walk(struct churn_store *s, MDB_dbi dbi, uint64_t after_seq, size_t max,
                churn_store_log_fn *fn, void *user, const char *what)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur;
    enum churn_err err;
    size_t count = 0;
    if ((err = churn__store_read_begin(s, &txn)))
        return err;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc) {
        err = churn__mdb_err(rc, what);
        goto out_txn;
    }
    unsigned char key[8];
    churn__be64(key, after_seq + 1);
    MDB_val k = {8, key}, v;
    rc = after_seq == UINT64_MAX ? MDB_NOTFOUND : mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && (!max || count < max)) {
        char cid[CHURN_ID_MAX + 1];
        const unsigned char *data;
        size_t len;
        if (k.mv_size != 8 || !churn__log_value(&v, cid, &data, &len)) {
            err = churn__store_fail(CHURN_ECORRUPT, "%s: corrupt record", what);
            break;
        }
        count++;
        if (fn(churn__from_be64(k.mv_data), cid, data, len, user)) {
            err = CHURN_ECANCELLED;
            break;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (!err && rc && rc != MDB_NOTFOUND)
        err = churn__mdb_err(rc, what);
    mdb_cursor_close(cur);
out_txn:
    churn__store_read_end(s, txn);
    mdb_txn_abort(txn);
    return err;
}

enum churn_err
churn__log_erase_customer(MDB_txn *txn, MDB_dbi dbi, const char *cid, long *erased,
                          const char *what)
{
    size_t clen = strlen(cid);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return churn__mdb_err(rc, what);
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        const unsigned char *p = v.mv_data;
        if (v.mv_size >= 2 + clen && p[1] == clen && memcmp(p + 2, cid, clen) == 0) {
            unsigned char at[8];
            memcpy(at, k.mv_data, k.mv_size < 8 ? k.mv_size : 8);
            if ((rc = mdb_cursor_del(cur, 0)))
                break;
            (*erased)++;
            k = (MDB_val){8, at}; /* continue at the next key */
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            continue;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        return churn__mdb_err(rc, what);
    return CHURN_OK;
}
