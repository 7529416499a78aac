/*
 * values.c - the store's small opaque values: chat conversation states (keyed "customer id NUL
 * conversation id"), per-customer alert states and named metadata, each behind its format
 * byte, written alone or in one durable batch.
 */
#include "churn/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <lmdb.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/hash.h"
#include "churn/log.h"
#include "store_internal.h"
#include "store_lmdb.h"

/* ---- opaque values: conversations, alert state, meta ----------------------------------------- */

struct value_ctx {
    MDB_dbi dbi;
    const void *key;
    size_t klen;
    const void *data;
    size_t len;
    bool del;
};

static enum churn_err
value_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct value_ctx *c = vctx;
    if (c->del) {
        MDB_val k = {c->klen, (void *)c->key};
        int rc = mdb_del(txn, c->dbi, &k, NULL);
        if (rc == MDB_NOTFOUND)
            return churn__store_fail(CHURN_ENOTFOUND, "no such value");
        return churn__mdb_err(rc, "deleting a value");
    }
    return churn__store_put_versioned(txn, c->dbi, c->key, c->klen, c->data, c->len,
                                      "writing a value");
}

static enum churn_err
put_value(struct churn_store *s, MDB_dbi dbi, const void *key, size_t klen, const void *data,
          size_t len)
{
    if (len > CHURN_STORE_VALUE_MAX)
        return churn__store_fail(CHURN_ETOOBIG, "value of %zu bytes is over the %u byte limit", len,
                                 CHURN_STORE_VALUE_MAX);
    if (len && !data)
        return churn__store_fail(CHURN_EINVAL, "no data");
    struct value_ctx c = {dbi, key, klen, data, len, false};
    return churn__store_write(s, value_txn, &c, "writing a value");
}

static enum churn_err
get_value(struct churn_store *s, MDB_dbi dbi, const void *key, size_t klen,
          struct churn_arena *arena, void **data, size_t *len)
{
    MDB_txn *txn = NULL;
    enum churn_err err;
    if ((err = churn__store_read_begin(s, &txn)))
        return err;
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        err = churn__store_fail(CHURN_ENOTFOUND, "not found");
    } else if (rc) {
        err = churn__mdb_err(rc, "reading a value");
    } else if (v.mv_size < 1 || ((unsigned char *)v.mv_data)[0] != VALUE_VERSION) {
        err = churn__store_fail(CHURN_ECORRUPT, "stored value has an unknown format version");
    } else {
        void *copy = churn_arena_memdup(arena, (unsigned char *)v.mv_data + 1, v.mv_size - 1);
        if (!copy && v.mv_size > 1) {
            err = churn__store_fail(CHURN_ENOMEM, "arena full copying a %zu byte value",
                                    v.mv_size - 1);
        } else {
            *data = copy;
            *len = v.mv_size - 1;
        }
    }
    churn__store_read_end(s, txn);
    mdb_txn_abort(txn);
    return err;
}

enum churn_err
churn_store_put_conversation(struct churn_store *s, const char *customer_id,
                             const char *conversation_id, const void *data, size_t len)
{
    /* one state is a batch of one: the same checks and the same transaction */
    struct churn_conversation_put item = {customer_id, conversation_id, data, len};
    return churn_store_put_conversations(s, &item, 1);
}

struct conversations_ctx {
    const struct churn_conversation_put *items;
    size_t n;
    MDB_dbi dbi;
};

static enum churn_err
conversations_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct conversations_ctx *c = vctx;
    for (size_t i = 0; i < c->n; i++) {
        char key[2 * CHURN_ID_MAX + 2];
        size_t klen =
            churn__store_pair_key(key, c->items[i].customer_id, c->items[i].conversation_id);
        enum churn_err err = churn__store_put_versioned(txn, c->dbi, key, klen, c->items[i].data,
                                                        c->items[i].len, "writing a conversation");
        if (err)
            return err;
    }
    return CHURN_OK;
}

enum churn_err
churn_store_put_conversations(struct churn_store *s, const struct churn_conversation_put *items,
                              size_t n)
{
    churn__store_clear_error();
    for (size_t i = 0; i < n; i++) {
        enum churn_err err;
        if ((err = churn__store_check_id(items[i].customer_id, "customer_id")) ||
            (err = churn__store_check_id(items[i].conversation_id, "conversation_id")))
            return err;
        if (items[i].len > CHURN_STORE_VALUE_MAX || (items[i].len && !items[i].data))
            return churn__store_fail(CHURN_ETOOBIG, "conversation %zu: bad or oversized value", i);
    }
    struct conversations_ctx c = {items, n, s->dbi[CHURN__DB_CONVERSATIONS]};
    return churn__store_write(s, conversations_txn, &c, "writing conversations");
}

enum churn_err
churn_store_get_conversation(struct churn_store *s, const char *customer_id,
                             const char *conversation_id, struct churn_arena *arena, void **data,
                             size_t *len)
{
    char key[2 * CHURN_ID_MAX + 2];
    enum churn_err err;
    churn__store_clear_error();
    if ((err = churn__store_check_id(customer_id, "customer_id")) ||
        (err = churn__store_check_id(conversation_id, "conversation_id")))
        return err;
    return get_value(s, s->dbi[CHURN__DB_CONVERSATIONS], key,
                     churn__store_pair_key(key, customer_id, conversation_id), arena, data, len);
}

enum churn_err
churn_store_delete_conversation(struct churn_store *s, const char *customer_id,
                                const char *conversation_id)
{
    char key[2 * CHURN_ID_MAX + 2];
    enum churn_err err;
    churn__store_clear_error();
    if ((err = churn__store_check_id(customer_id, "customer_id")) ||
        (err = churn__store_check_id(conversation_id, "conversation_id")))
        return err;
    struct value_ctx c = {s->dbi[CHURN__DB_CONVERSATIONS],
                          key,
                          churn__store_pair_key(key, customer_id, conversation_id),
                          NULL,
                          0,
                          true};
    return churn__store_write(s, value_txn, &c, "deleting a conversation");
}

enum churn_err
churn_store_put_alert_state(struct churn_store *s, const char *customer_id, const void *data,
                            size_t len)
{
    /* one state is a batch of one: the same checks and the same transaction */
    struct churn_alert_state_put item = {customer_id, data, len};
    return churn_store_put_alert_states(s, &item, 1);
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

struct alert_states_ctx {
    const struct churn_alert_state_put *items;
    size_t n;
};

static enum churn_err
alert_states_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct alert_states_ctx *c = vctx;
    for (size_t i = 0; i < c->n; i++) {
        const struct churn_alert_state_put *it = &c->items[i];
        enum churn_err err = churn__store_put_versioned(
            txn, s->dbi[CHURN__DB_ALERT_STATE], it->customer_id, strlen(it->customer_id), it->data,
            it->len, "writing an alert state");
        if (err)
            return err;
    }
    return CHURN_OK;
}

enum churn_err
churn_store_put_alert_states(struct churn_store *s, const struct churn_alert_state_put *items,
                             size_t n)
{
    churn__store_clear_error();
    for (size_t i = 0; i < n; i++) {
        enum churn_err err;
        if ((err = churn__store_check_id(items[i].customer_id, "customer_id")))
            return churn__store_fail(err, "alert state %zu: %s", i, churn_store_last_error());
        if (items[i].len > CHURN_STORE_VALUE_MAX || (items[i].len && !items[i].data))
            return churn__store_fail(CHURN_ETOOBIG, "alert state %zu: bad or oversized value", i);
    }
    if (n == 0)
        return CHURN_OK;
    struct alert_states_ctx c = {items, n};
    return churn__store_write(s, alert_states_txn, &c, "writing alert states");
}

enum churn_err
churn_store_get_alert_state(struct churn_store *s, const char *customer_id,
                            struct churn_arena *arena, void **data, size_t *len)
{
    enum churn_err err;
    churn__store_clear_error();
    if ((err = churn__store_check_id(customer_id, "customer_id")))
        return err;
    return get_value(s, s->dbi[CHURN__DB_ALERT_STATE], customer_id, strlen(customer_id), arena,
                     data, len);
}

static enum churn_err
check_meta_name(const char *name, bool writing)
{
    size_t len = name ? strnlen(name, CHURN_NAME_MAX + 1) : 0;
    if (!len || len > CHURN_NAME_MAX || !churn_utf8_valid(name, len, NULL))
        return churn__store_fail(CHURN_EINVAL, "meta name: 1..%d bytes of UTF-8", CHURN_NAME_MAX);
    if (writing && strncmp(name, "churn.", 6) == 0)
        return churn__store_fail(CHURN_EPERM, "meta name %s is reserved", name);
    return CHURN_OK;
}

enum churn_err
churn_store_put_meta(struct churn_store *s, const char *name, const void *data, size_t len)
{
    enum churn_err err;
    churn__store_clear_error();
    if ((err = check_meta_name(name, true)))
        return err;
    return put_value(s, s->dbi[CHURN__DB_META], name, strlen(name), data, len);
}

enum churn_err
churn_store_get_meta(struct churn_store *s, const char *name, struct churn_arena *arena,
                     void **data, size_t *len)
{
    enum churn_err err;
    churn__store_clear_error();
    if ((err = check_meta_name(name, false)))
        return err;
    return get_value(s, s->dbi[CHURN__DB_META], name, strlen(name), arena, data, len);
}
