/*
 * history.c - how far back the store observes customers' history: the first UTC day any
 * event was put in a day bucket (the data start, kept in meta as "churn.data_start_day" and
 * lowered in the same transaction as the events that reach further back) and the retention
 * horizon of the day buckets (a property of the store, kept in meta as "churn.horizon_days").
 * Features use them to tell "no activity" from "not observed", the same way for training
 * sets, backtests and served scores (churn/features.h).
 *
 * Also the store's sequences and its format upgrade: "churn.event_seq" counts the events ever
 * accepted (raised in the transaction that accepts them, so a consistent copy of the store
 * says exactly which acknowledged events it holds), and a store of an older format is
 * upgraded in place when it is first opened for writing.
 */
#include "churn/store.h"

#include <stdatomic.h>
#include <string.h>

#include "churn/clock.h"
#include "churn/log.h"
#include "store_internal.h"
#include "store_lmdb.h"

#define META_DATA_START_KEY "churn.data_start_day"
#define META_HORIZON_KEY    "churn.horizon_days"
#define META_EVENT_SEQ_KEY  "churn.event_seq"

/* A 32-bit meta value (version byte, little-endian). */
static enum churn_err
put_i32(struct churn_store *s, MDB_txn *txn, const char *key, int32_t v)
{
    unsigned char le[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24)};
    return churn__store_put_versioned(txn, s->dbi[CHURN__DB_META], key, strlen(key), le, sizeof(le),
                                      key);
}

static enum churn_err
put_start(struct churn_store *s, MDB_txn *txn, int32_t day)
{
    return put_i32(s, txn, META_DATA_START_KEY, day);
}

/* The 32-bit meta value @key, INT32_MAX when absent; CHURN_ECORRUPT for a malformed value. */
static enum churn_err
read_i32(struct churn_store *s, const char *key, int32_t *day)
{
    MDB_txn *txn = NULL;
    enum churn_err err = churn__store_read_begin(s, &txn);
    if (err)
        return err;
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = mdb_get(txn, s->dbi[CHURN__DB_META], &k, &v);
    *day = INT32_MAX;
    if (rc == 0) {
        const unsigned char *p = v.mv_data;
        if (v.mv_size != 5 || p[0] != VALUE_VERSION)
            err = churn__store_fail(CHURN_ECORRUPT, "meta %s: bad value of %zu bytes", key,
                                    v.mv_size);
        else
            *day = (int32_t)((uint32_t)p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 |
                             (uint32_t)p[4] << 24);
    } else if (rc != MDB_NOTFOUND) {
        err = churn__mdb_err(rc, key);
    }
    churn__store_read_end(s, txn);
    mdb_txn_abort(txn);
    return err;
}

static int
oldest_bucket(const struct churn_customer *rec, void *user)
{
    int32_t *day = user;
    if (rec->n_days && rec->days[0].day < *day)
        *day = rec->days[0].day;
    return 0;
}

static enum churn_err
write_start_txn(struct churn_store *s, MDB_txn *txn, void *ctx)
{
    return put_start(s, txn, *(int32_t *)ctx);
}

static enum churn_err
write_horizon_txn(struct churn_store *s, MDB_txn *txn, void *ctx)
{
    (void)ctx;
    return put_i32(s, txn, META_HORIZON_KEY, (int32_t)s->opts.horizon_days);
}

/* The retention horizon: the caller's if given (kept when writable), else the store's own,
 * else the default (kept when writable). */
static enum churn_err
load_horizon(struct churn_store *s)
{
    int32_t stored;
    enum churn_err err = read_i32(s, META_HORIZON_KEY, &stored);
    if (err)
        return err;
    if (stored != INT32_MAX && (stored < 1 || stored > CHURN_HORIZON_DAYS_MAX))
        return churn__store_fail(CHURN_ECORRUPT, "meta %s: %d days is not 1..%d", META_HORIZON_KEY,
                                 stored, CHURN_HORIZON_DAYS_MAX);
    if (s->opts.horizon_days == 0)
        s->opts.horizon_days = stored != INT32_MAX ? (unsigned)stored : CHURN_HORIZON_DAYS_DEFAULT;
    if ((int32_t)s->opts.horizon_days == stored || s->opts.read_only)
        return CHURN_OK;
    if (stored != INT32_MAX)
        churn_log(CHURN_LOG_INFO, "store_horizon_changed", CHURN_LF_STR("dir", s->dir),
                  CHURN_LF_INT("from_days", stored), CHURN_LF_INT("to_days", s->opts.horizon_days));
    return churn__store_write(s, write_horizon_txn, NULL, "recording the retention horizon");
}

enum churn_err
churn__store_history_load(struct churn_store *s)
{
    int32_t day;
    enum churn_err err = load_horizon(s);
    if (err || (err = read_i32(s, META_DATA_START_KEY, &day)))
        return err;
    if (day == INT32_MAX) {
        /* a store from before the data start was recorded: find it once */
        if ((err = churn_store_foreach_customer(s, oldest_bucket, &day)))
            return err;
        if (day != INT32_MAX && !s->opts.read_only &&
            (err = churn__store_write(s, write_start_txn, &day, "recording the data start")))
            return err;
        if (day != INT32_MAX)
            churn_log(CHURN_LOG_INFO, "store_data_start_found", CHURN_LF_STR("dir", s->dir),
                      CHURN_LF_INT("day", day));
    }
    atomic_store(&s->data_start_day, day);
    return CHURN_OK;
}

enum churn_err
churn__store_history_note(struct churn_store *s, MDB_txn *txn, int32_t day)
{
    if (day >= atomic_load(&s->data_start_day))
        return CHURN_OK;
    return put_start(s, txn, day);
}

void
churn__store_history_commit(struct churn_store *s, int32_t day)
{
    int32_t cur = atomic_load(&s->data_start_day);
    while (day < cur && !atomic_compare_exchange_weak(&s->data_start_day, &cur, day))
        ;
}

int64_t
churn_store_history_from_ms(struct churn_store *s, int64_t observed_until_ms)
{
    int32_t start = atomic_load(&s->data_start_day);
    if (start == INT32_MAX)
        return 0;
    int64_t retained =
        ((int64_t)churn_day_of_ms(observed_until_ms) - (int64_t)s->opts.horizon_days + 1) *
        CHURN_MS_PER_DAY;
    int64_t from = (int64_t)start * CHURN_MS_PER_DAY;
    if (retained > from)
        from = retained;
    return from > 0 ? from : 0;
}

/* ---- sequences and the format upgrade -------------------------------------------------------- */

/* The big-endian u64 meta value @key in @txn (0 when absent). */
static enum churn_err
get_u64(struct churn_store *s, MDB_txn *txn, const char *key, uint64_t *out)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = mdb_get(txn, s->dbi[CHURN__DB_META], &k, &v);
    *out = 0;
    if (rc == MDB_NOTFOUND)
        return CHURN_OK;
    if (rc)
        return churn__mdb_err(rc, key);
    if (v.mv_size != 9 || ((const unsigned char *)v.mv_data)[0] != VALUE_VERSION)
        return churn__store_fail(CHURN_ECORRUPT, "meta %s: bad value of %zu bytes", key, v.mv_size);
    *out = churn__from_be64((const unsigned char *)v.mv_data + 1);
    return CHURN_OK;
}

static enum churn_err
put_u64(struct churn_store *s, MDB_txn *txn, const char *key, uint64_t v)
{
    unsigned char be[8];
    churn__be64(be, v);
    return churn__store_put_versioned(txn, s->dbi[CHURN__DB_META], key, strlen(key), be, sizeof(be),
                                      key);
}

enum churn_err
churn__store_events_note(struct churn_store *s, MDB_txn *txn, uint64_t accepted)
{
    uint64_t seq;
    enum churn_err err;
    if (!accepted || (err = get_u64(s, txn, META_EVENT_SEQ_KEY, &seq)))
        return accepted ? err : CHURN_OK;
    return put_u64(s, txn, META_EVENT_SEQ_KEY, seq + accepted);
}

enum churn_err
churn__store_read_seqs(struct churn_store *s, MDB_txn *txn, uint64_t *event_seq,
                       uint64_t *alert_seq)
{
    enum churn_err err = get_u64(s, txn, META_EVENT_SEQ_KEY, event_seq);
    return err ? err : get_u64(s, txn, META_ALERT_SEQ_KEY, alert_seq);
}

/* Format 1 -> 2: the event sequence starts at the events the customers' records counted. */
static enum churn_err
upgrade_to_2(struct churn_store *s, MDB_txn *txn)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t events = 0, unreadable = 0;
    int rc = mdb_cursor_open(txn, s->dbi[CHURN__DB_CUSTOMERS], &cur);
    if (rc)
        return churn__mdb_err(rc, "upgrading the store");
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (churn__record_decode(v.mv_data, v.mv_size, k.mv_data, k.mv_size, s->wrec))
            unreadable++; /* counted, and left for the reads to report */
        else
            events += s->wrec->life.events;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND)
        return churn__mdb_err(rc, "upgrading the store");
    s->upgrade_events = events;
    s->upgrade_unreadable = unreadable;
    return put_u64(s, txn, META_EVENT_SEQ_KEY, events);
}

enum churn_err
churn__store_upgrade(struct churn_store *s, MDB_txn *txn, unsigned from)
{
    enum churn_err err = CHURN_OK;
    if (from < 2)
        err = upgrade_to_2(s, txn);
    if (!err)
        s->upgraded_from = from;
    return err;
}

void
churn__store_upgrade_log(struct churn_store *s)
{
    if (!s->upgraded_from)
        return;
    churn_log(CHURN_LOG_INFO, "store_upgraded", CHURN_LF_STR("dir", s->dir),
              CHURN_LF_INT("from_format", s->upgraded_from),
              CHURN_LF_INT("to_format", CHURN_STORE_FORMAT),
              CHURN_LF_INT("event_seq", (long long)s->upgrade_events),
              CHURN_LF_INT("unreadable_records", (long long)s->upgrade_unreadable));
}
