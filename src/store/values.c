/*
 * values.c - the store's small opaque values: chat conversation states (keyed "customer id NUL
 * conversation id"), per-customer alert states and named metadata, each behind its format
 * byte, written alone or in one durable batch.
 */
#include "churn/store.h"

#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "store_internal.h"
#include "store_lmdb.h"

/* struct value_del - a value to delete: its database and key. */
struct value_del {
    MDB_dbi dbi;
    const void *key;
    size_t klen;
};

static enum churn_err
delete_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    (void)s;
    struct value_del *c = vctx;
    MDB_val k = {c->klen, (void *)c->key};
    int rc = mdb_del(txn, c->dbi, &k, NULL);
    if (rc == MDB_NOTFOUND)
        return churn__store_fail(CHURN_ENOTFOUND, "no such value");
    return churn__mdb_err(rc, "deleting a value");
}

/* The longest key of a value: "customer id NUL conversation id". */
#define VALUE_KEY_MAX (2 * CHURN_ID_MAX + 2)

/*
 * typedef value_item_fn - item @i of the caller's @items: its key written into @key (capacity
 * VALUE_KEY_MAX) with the length returned, and its bytes in @data and @len.
 */
typedef size_t value_item_fn(const void *items, size_t i, char *key, const void **data,
                             size_t *len);

struct batch_ctx {
    MDB_dbi dbi;
    const void *items;
    size_t n;
    value_item_fn *item;
    const char *what;
};

static enum churn_err
batch_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    (void)s;
    struct batch_ctx *c = vctx;
    for (size_t i = 0; i < c->n; i++) {
        char key[VALUE_KEY_MAX];
        const void *data;
        size_t len;
        size_t klen = c->item(c->items, i, key, &data, &len);
        enum churn_err err = churn__store_put_versioned(txn, c->dbi, key, klen, data, len, c->what);
        if (err)
            return err;
    }
    return CHURN_OK;
}

/*
 * Put @n values of @dbi, described by @item over @items (already checked), in ONE durable
 * transaction; later items win over earlier ones with the same key. @what names it.
 */
static enum churn_err
put_batch(struct churn_store *s, MDB_dbi dbi, const void *items, size_t n, value_item_fn *item,
          const char *what)
{
    if (n == 0)
        return CHURN_OK;
    struct batch_ctx c = {dbi, items, n, item, what};
    return churn__store_write(s, batch_txn, &c, what);
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

static size_t
conversation_item(const void *items, size_t i, char *key, const void **data, size_t *len)
{
    const struct churn_conversation_put *it = (const struct churn_conversation_put *)items + i;
    *data = it->data;
    *len = it->len;
    return churn__store_pair_key(key, it->customer_id, it->conversation_id);
}

enum churn_err
churn__conversations_check(const struct churn_conversation_put *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enum churn_err err;
        if ((err = churn__store_check_id(items[i].customer_id, "customer_id")) ||
            (err = churn__store_check_id(items[i].conversation_id, "conversation_id")))
            return err;
        if (items[i].len > CHURN_STORE_VALUE_MAX || (items[i].len && !items[i].data))
            return churn__store_fail(CHURN_ETOOBIG, "conversation %zu: bad or oversized value", i);
    }
    return CHURN_OK;
}

enum churn_err
churn__conversations_txn(struct churn_store *s, MDB_txn *txn,
                         const struct churn_conversation_put *items, size_t n)
{
    struct batch_ctx c = {s->dbi[CHURN__DB_CONVERSATIONS], items, n, conversation_item,
                          "writing conversations"};
    return batch_txn(s, txn, &c);
}

enum churn_err
churn_store_put_conversations(struct churn_store *s, const struct churn_conversation_put *items,
                              size_t n)
{
    churn__store_clear_error();
    enum churn_err err = churn__conversations_check(items, n);
    if (err)
        return err;
    return put_batch(s, s->dbi[CHURN__DB_CONVERSATIONS], items, n, conversation_item,
                     "writing conversations");
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
    struct value_del c = {s->dbi[CHURN__DB_CONVERSATIONS], key,
                          churn__store_pair_key(key, customer_id, conversation_id)};
    return churn__store_write(s, delete_txn, &c, "deleting a conversation");
}

enum churn_err
churn_store_put_alert_state(struct churn_store *s, const char *customer_id, const void *data,
                            size_t len)
{
    /* one state is a batch of one: the same checks and the same transaction */
    struct churn_alert_state_put item = {customer_id, data, len};
    return churn_store_put_alert_states(s, &item, 1);
}

static size_t
alert_state_item(const void *items, size_t i, char *key, const void **data, size_t *len)
{
    const struct churn_alert_state_put *it = (const struct churn_alert_state_put *)items + i;
    size_t klen = strlen(it->customer_id); /* checked: at most CHURN_ID_MAX */
    memcpy(key, it->customer_id, klen);
    *data = it->data;
    *len = it->len;
    return klen;
}

enum churn_err
churn__alert_states_check(const struct churn_alert_state_put *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enum churn_err err;
        if ((err = churn__store_check_id(items[i].customer_id, "customer_id")))
            return churn__store_fail(err, "alert state %zu: %s", i, churn_store_last_error());
        if (items[i].len > CHURN_STORE_VALUE_MAX || (items[i].len && !items[i].data))
            return churn__store_fail(CHURN_ETOOBIG, "alert state %zu: bad or oversized value", i);
    }
    return CHURN_OK;
}

enum churn_err
churn__alert_states_txn(struct churn_store *s, MDB_txn *txn,
                        const struct churn_alert_state_put *items, size_t n)
{
    struct batch_ctx c = {s->dbi[CHURN__DB_ALERT_STATE], items, n, alert_state_item,
                          "writing alert states"};
    return batch_txn(s, txn, &c);
}

enum churn_err
churn_store_put_alert_states(struct churn_store *s, const struct churn_alert_state_put *items,
                             size_t n)
{
    churn__store_clear_error();
    enum churn_err err = churn__alert_states_check(items, n);
    if (err)
        return err;
    return put_batch(s, s->dbi[CHURN__DB_ALERT_STATE], items, n, alert_state_item,
                     "writing alert states");
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

static size_t
meta_item(const void *items, size_t i, char *key, const void **data, size_t *len)
{
    const struct churn_store_meta_put *it = (const struct churn_store_meta_put *)items + i;
    size_t klen = strlen(it->name); /* checked: at most CHURN_NAME_MAX */
    memcpy(key, it->name, klen);
    *data = it->data;
    *len = it->len;
    return klen;
}

enum churn_err
churn_store_put_meta(struct churn_store *s, const char *name, const void *data, size_t len)
{
    struct churn_store_meta_put item = {name, data, len};
    return churn_store_put_metas(s, &item, 1);
}

enum churn_err
churn_store_put_metas(struct churn_store *s, const struct churn_store_meta_put *items, size_t n)
{
    churn__store_clear_error();
    for (size_t i = 0; i < n; i++) {
        enum churn_err err = check_meta_name(items[i].name, true);
        if (err)
            return err;
        if (items[i].len > CHURN_STORE_VALUE_MAX)
            return churn__store_fail(CHURN_ETOOBIG, "value of %zu bytes is over the %u byte limit",
                                     items[i].len, CHURN_STORE_VALUE_MAX);
        if (items[i].len && !items[i].data)
            return churn__store_fail(CHURN_EINVAL, "no data");
    }
    return put_batch(s, s->dbi[CHURN__DB_META], items, n, meta_item, "writing a value");
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
