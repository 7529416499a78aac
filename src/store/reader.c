/*
 * reader.c - per-thread read handles: one LMDB read transaction per reader, reset after each
 * lookup and renewed before the next, so a score costs one B-tree lookup and a decode with no
 * allocation and no reader-slot churn.
 */
#include "churn/store.h"

#include "churn/alloc.h"
#include "churn/score_store.h"
#include "store_internal.h"
#include "store_lmdb.h"

struct churn_store_reader {
    struct churn_store *store;
    MDB_txn *txn; /* NULL until first use; reset between uses */
};

/* Check @customer_id and renew @r's transaction (churn__store_read_end() after). */
static enum churn_err
reader_begin(struct churn_store_reader *r, const char *customer_id)
{
    char reason[CHURN_REASON_MAX];
    enum churn_err err = churn_id_validate(customer_id, "customer_id", reason, sizeof(reason));
    if (err)
        return churn__store_fail(err, "%s", reason);
    return churn__store_read_begin(r->store, &r->txn);
}

enum churn_err
churn_store_reader_open(struct churn_store *store, struct churn_store_reader **out)
{
    struct churn_store_reader *r = churn_calloc(1, sizeof(*r));
    if (!r)
        return churn__store_fail(CHURN_ENOMEM, "out of memory opening a reader");
    r->store = store;
    *out = r;
    return CHURN_OK;
}

void
churn_store_reader_close(struct churn_store_reader *r)
{
    if (!r)
        return;
    if (r->txn)
        mdb_txn_abort(r->txn);
    churn_free(r);
}

enum churn_err
churn_store_reader_get_scored(struct churn_store_reader *r, const char *customer_id,
                              const uint64_t *known, uint64_t *digest, bool *decoded,
                              struct churn_customer *out, void *score, size_t cap,
                              size_t *score_len)
{
    enum churn_err err = reader_begin(r, customer_id);
    if (err)
        return err;
    err = churn__store_get_customer_digest(r->store, r->txn, customer_id, known, digest, decoded,
                                           out);
    if (!err && score_len)
        err = churn__store_get_score(r->store, r->txn, customer_id, score, cap, score_len);
    churn__store_read_end(r->store, r->txn);
    return err;
}

enum churn_err
churn_store_reader_get_score(struct churn_store_reader *r, const char *customer_id, void *score,
                             size_t cap, size_t *score_len)
{
    enum churn_err err = reader_begin(r, customer_id);
    if (err)
        return err;
    err = churn__store_get_score(r->store, r->txn, customer_id, score, cap, score_len);
    churn__store_read_end(r->store, r->txn);
    return err;
}

enum churn_err
churn_store_reader_get_customer_digest(struct churn_store_reader *r, const char *customer_id,
                                       const uint64_t *known, uint64_t *digest, bool *decoded,
                                       struct churn_customer *out)
{
    return churn_store_reader_get_scored(r, customer_id, known, digest, decoded, out, NULL, 0,
                                         NULL);
}

enum churn_err
churn_store_reader_get_customer(struct churn_store_reader *r, const char *customer_id,
                                struct churn_customer *out)
{
    return churn_store_reader_get_customer_digest(r, customer_id, NULL, NULL, NULL, out);
}
