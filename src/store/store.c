/*
 * store.c - the LMDB environment of churnd and its errors: translation of every MDB_* code to
 * enum churn_err with a message (one per thread), the store options, the write-transaction
 * loop that grows the map on MDB_MAP_FULL (abort, grow, retry, up to a hard cap) or adopts a
 * map another process grew, read transactions, and the small helpers every file of the store
 * shares (versioned values, the format marker, composite keys, id checks). What the store
 * holds lives in the files named for it: open.c (opening and the named databases),
 * customers.c, erase.c, values.c, alert_log.c, outcomes.c, iterate.c, maintain.c.
 *
 * Keys: customers and alert_state by customer id; event_ids and conversations by
 * "customer id NUL id", so a customer's keys are one contiguous range (that range is the
 * per-customer index the privacy erase walks); alerts by big-endian u64 sequence; meta by name.
 * Every value starts with a format version byte.
 */
#include "churn/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <lmdb.h>

#include "churn/clock.h"
#include "churn/log.h"
#include "store_internal.h"
#include "store_lmdb.h"

static _Thread_local char tl_msg[256];
static _Thread_local bool tl_map_full;

void
churn__store_clear_error(void)
{
    tl_msg[0] = '\0';
}

const char *
churn_store_last_error(void)
{
    return tl_msg;
}

enum churn_err
churn__store_fail(enum churn_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tl_msg, sizeof(tl_msg), fmt, ap);
    va_end(ap);
    return err;
}

enum churn_err
churn__mdb_err(int rc, const char *what)
{
    enum churn_err err;

    switch (rc) {
    case MDB_SUCCESS:
        return CHURN_OK;
    case MDB_NOTFOUND:
        err = CHURN_ENOTFOUND;
        break;
    case MDB_MAP_FULL:
        tl_map_full = true;
        err = CHURN_EFULL;
        break;
    case MDB_KEYEXIST:
        err = CHURN_EEXIST;
        break;
    case MDB_READERS_FULL:
    case MDB_MAP_RESIZED:
        err = CHURN_EAGAIN;
        break;
    case MDB_TXN_FULL:
    case MDB_CURSOR_FULL:
    case MDB_PAGE_FULL:
    case MDB_BAD_VALSIZE:
        err = CHURN_ETOOBIG;
        break;
    case MDB_INVALID:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
        err = CHURN_ECORRUPT;
        break;
    case MDB_DBS_FULL:
    case MDB_TLS_FULL:
    case MDB_BAD_RSLOT:
    case MDB_BAD_TXN:
    case MDB_BAD_DBI:
    case MDB_PANIC:
        err = CHURN_EINTERNAL;
        break;
    default:
        err = rc > 0 ? churn_err_from_errno(rc) : CHURN_EINTERNAL;
        break;
    }
    return churn__store_fail(err, "%s: %s", what, mdb_strerror(rc));
}

void
churn_store_options_init(struct churn_store_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->map_size = 64u << 20;
    opts->map_size_max = (size_t)64 << 30;
    opts->horizon_days = 0; /* the store's own */
    opts->skew_ms = CHURN_EVENT_SKEW_MS;
    opts->max_readers = 126;
}

/* ---- map size -------------------------------------------------------------------------- */

void
churn__store_copy_begin(struct churn_store *s)
{
    pthread_mutex_lock(&s->copy_mu);
    s->copying++;
    pthread_mutex_unlock(&s->copy_mu);
    pthread_rwlock_rdlock(&s->remap);
}

void
churn__store_copy_end(struct churn_store *s)
{
    pthread_rwlock_unlock(&s->remap);
    pthread_mutex_lock(&s->copy_mu);
    if (--s->copying == 0)
        pthread_cond_broadcast(&s->copy_cv);
    pthread_mutex_unlock(&s->copy_mu);
}

/*
 * Take the remap lock exclusively, once no long copy holds it: the lock prefers writers, so a
 * remap queued behind a copy would stop every reader until the copy ends. copy_mu is held
 * until the lock is ours, so no copy starts in between.
 */
static void
remap_lock(struct churn_store *s)
{
    pthread_mutex_lock(&s->copy_mu);
    while (s->copying)
        pthread_cond_wait(&s->copy_cv, &s->copy_mu);
    pthread_rwlock_wrlock(&s->remap);
    pthread_mutex_unlock(&s->copy_mu);
}

/* Adopt a map size another process set (MDB_MAP_RESIZED). No transaction of ours may run. */
static enum churn_err
adopt_map_size(struct churn_store *s)
{
    MDB_envinfo info;
    remap_lock(s);
    int rc = mdb_env_set_mapsize(s->env, 0);
    if (rc == 0 && mdb_env_info(s->env, &info) == 0)
        s->map_size = info.me_mapsize;
    pthread_rwlock_unlock(&s->remap);
    return churn__mdb_err(rc, "adopting the map size");
}

/* Double the map, within the cap. Called with s->wlock held and no write txn open. */
static enum churn_err
grow_map(struct churn_store *s)
{
    size_t cap = s->opts.map_size_max;
    if (s->map_size >= cap)
        return churn__store_fail(CHURN_EFULL,
                                 "store %s is full: map size %zu bytes reached its cap "
                                 "(map_size_max %zu)",
                                 s->dir, s->map_size, cap);
    size_t want = s->map_size > cap / 2 ? cap : s->map_size * 2;
    remap_lock(s);
    int rc = mdb_env_set_mapsize(s->env, want);
    pthread_rwlock_unlock(&s->remap);
    if (rc)
        return churn__mdb_err(rc, "growing the map");
    s->map_size = want;
    s->map_growths++;
    churn_log(CHURN_LOG_INFO, "store_map_grown", CHURN_LF_STR("dir", s->dir),
              CHURN_LF_INT("map_size", (long long)want));
    return CHURN_OK;
}

/* Whether the file system of @dir has almost no space left (after a failed write). */
static bool
disk_nearly_full(const char *dir)
{
    struct statvfs vfs;
    if (statvfs(dir, &vfs) != 0)
        return false;
    return (unsigned long long)vfs.f_bavail * vfs.f_frsize < 256ull * 1024;
}

enum churn_err
churn__store_write(struct churn_store *s, churn__store_write_fn *fn, void *ctx, const char *what)
{
    enum churn_err err;

    if (s->opts.read_only)
        return churn__store_fail(CHURN_EPERM, "%s: store %s is open read-only", what, s->dir);
    pthread_mutex_lock(&s->wlock);
    for (;;) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (rc == MDB_MAP_RESIZED) {
            if ((err = adopt_map_size(s)))
                break;
            continue;
        }
        if (rc) {
            err = churn__mdb_err(rc, what);
            break;
        }
        tl_map_full = false;
        err = fn(s, txn, ctx);
        if (err) {
            mdb_txn_abort(txn);
            if (err == CHURN_EFULL && tl_map_full) {
                if ((err = grow_map(s)))
                    break;
                continue;
            }
            break;
        }
        int64_t t0 = s->opts.on_commit_ns ? churn_mono_ns() : 0;
        rc = mdb_txn_commit(txn);
        if (rc == 0 && s->opts.on_commit_ns) /* issue 14: commit latency */
            s->opts.on_commit_ns(s->opts.observer_ctx, churn_mono_ns() - t0);
        if (rc == MDB_MAP_FULL) {
            if ((err = grow_map(s)))
                break;
            continue;
        }
        if (rc == ENOSPC || rc == EDQUOT || (rc == EIO && disk_nearly_full(s->dir))) {
            /* A short write at the end of the disk shows up as EIO from LMDB. */
            err = churn__store_fail(CHURN_EFULL, "%s: the disk holding %s is full", what, s->dir);
            break;
        }
        err = churn__mdb_err(rc, what);
        break;
    }
    pthread_mutex_unlock(&s->wlock);
    return err;
}

enum churn_err
churn__store_read_begin(struct churn_store *s, MDB_txn **txn)
{
    for (;;) {
        pthread_rwlock_rdlock(&s->remap);
        int rc = *txn ? mdb_txn_renew(*txn) : mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
        if (rc == 0)
            return CHURN_OK;
        pthread_rwlock_unlock(&s->remap);
        if (rc != MDB_MAP_RESIZED)
            return churn__mdb_err(rc, "starting a read transaction");
        enum churn_err err = adopt_map_size(s);
        if (err)
            return err;
    }
}

void
churn__store_read_end(struct churn_store *s, MDB_txn *txn)
{
    mdb_txn_reset(txn);
    pthread_rwlock_unlock(&s->remap);
}

/* ---- shared helpers ------------------------------------------------------------------------ */

enum churn_err
churn__store_put_versioned(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                           const void *data, size_t len, const char *what)
{
    MDB_val k = {klen, (void *)key}, v = {len + 1, NULL};
    int rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
    if (rc)
        return churn__mdb_err(rc, what);
    ((unsigned char *)v.mv_data)[0] = VALUE_VERSION;
    if (len)
        memcpy((unsigned char *)v.mv_data + 1, data, len);
    return CHURN_OK;
}

int
churn__store_read_format(MDB_txn *txn, MDB_dbi meta, unsigned *record_version)
{
    MDB_val k = {sizeof(META_FORMAT_KEY) - 1, META_FORMAT_KEY}, v;
    if (mdb_get(txn, meta, &k, &v) != 0)
        return -1;
    const unsigned char *m = v.mv_data;
    if (v.mv_size != sizeof(STORE_MAGIC) + 2 || m[0] != VALUE_VERSION ||
        memcmp(m + 1, STORE_MAGIC, sizeof(STORE_MAGIC) - 1) != 0)
        return -1;
    if (record_version)
        *record_version = m[sizeof(STORE_MAGIC) + 1];
    return m[sizeof(STORE_MAGIC)];
}

size_t
churn__store_pair_key(char *buf, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    memcpy(buf, a, la);
    buf[la] = '\0';
    memcpy(buf + la + 1, b, lb);
    return la + 1 + lb;
}

enum churn_err
churn__store_check_id(const char *id, const char *field)
{
    char reason[CHURN_REASON_MAX];
    enum churn_err err = churn_id_validate(id, field, reason, sizeof(reason));
    if (err)
        return churn__store_fail(err, "%s", reason);
    return CHURN_OK;
}
