/*
 * store.c - the LMDB environment of churnd: opening (with the "is this a churnd store" and
 * "can we write here" checks), the seven named databases, translation of every MDB_* code to
 * enum churn_err with a message, the write-transaction loop that grows the map on
 * MDB_MAP_FULL (abort, grow, retry, up to a hard cap), event application with idempotency
 * keys, customer upserts, reads, the privacy erase, conversation/alert/meta values, iteration
 * and housekeeping. This is the only place (with reader.c and writer.c) that sees <lmdb.h>.
 *
 * Keys: customers and alert_state by customer id; event_ids and conversations by
 * "customer id NUL id", so a customer's keys are one contiguous range (that range is the
 * per-customer index the privacy erase walks); alerts by big-endian u64 sequence; meta by name.
 * Every value starts with a format version byte.
 */
#define _GNU_SOURCE /* qsort_r, pthread_rwlockattr_setkind_np */
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

#define META_FORMAT_KEY    "churn.format"
#define META_ALERT_SEQ_KEY "churn.alert_seq"
#define STORE_MAGIC        "churnd-store"

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

/* Adopt a map size another process set (MDB_MAP_RESIZED). No transaction of ours may run. */
static enum churn_err
adopt_map_size(struct churn_store *s)
{
    MDB_envinfo info;
    pthread_rwlock_wrlock(&s->remap);
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
    pthread_rwlock_wrlock(&s->remap);
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

/* ---- open / close -------------------------------------------------------------------------- */

static const char *const db_names[CHURN__DB_COUNT] = {
    [CHURN__DB_CUSTOMERS] = "customers",         [CHURN__DB_EVENT_IDS] = "event_ids",
    [CHURN__DB_CONVERSATIONS] = "conversations", [CHURN__DB_ALERTS] = "alerts",
    [CHURN__DB_ALERT_STATE] = "alert_state",     [CHURN__DB_META] = "meta",
    [CHURN__DB_OUTCOMES] = "outcomes",
};

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

/* Open the named databases; create them (and the format marker) in an empty environment. */
static enum churn_err
setup_dbs(struct churn_store *s, MDB_txn *txn, void *ctx)
{
    bool create = ctx != NULL;
    MDB_dbi main_dbi;
    MDB_stat st;
    int rc;

    if ((rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) || (rc = mdb_stat(txn, main_dbi, &st)))
        return churn__mdb_err(rc, "reading the main database");
    bool fresh = st.ms_entries == 0;
    if (fresh && !create)
        return churn__store_fail(CHURN_ENOTFOUND, "%s holds no churnd store yet", s->dir);

    for (int i = 0; i < CHURN__DB_COUNT; i++) {
        unsigned flags = fresh ? MDB_CREATE : 0;
        /* outcomes came after format 1: a writable open adds it, a read-only one of an older
         * store sees none (the outcome calls check for the handle) */
        bool added_later = i == CHURN__DB_OUTCOMES;
        if (added_later && create)
            flags = MDB_CREATE;
        rc = mdb_dbi_open(txn, db_names[i], flags, &s->dbi[i]);
        if (added_later && rc == MDB_NOTFOUND) {
            s->dbi[i] = 0;
            continue;
        }
        if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE)
            return churn__store_fail(CHURN_ECORRUPT,
                                     "%s is an LMDB environment but not a churnd store "
                                     "(database \"%s\" is missing)",
                                     s->dir, db_names[i]);
        if (rc)
            return churn__mdb_err(rc, "opening a database");
    }

    MDB_val k = {sizeof(META_FORMAT_KEY) - 1, META_FORMAT_KEY}, v;
    rc = mdb_get(txn, s->dbi[CHURN__DB_META], &k, &v);
    if (rc == MDB_NOTFOUND && fresh) {
        unsigned char marker[sizeof(STORE_MAGIC) - 1 + 2];
        memcpy(marker, STORE_MAGIC, sizeof(STORE_MAGIC) - 1);
        marker[sizeof(STORE_MAGIC) - 1] = CHURN_STORE_FORMAT;
        marker[sizeof(STORE_MAGIC)] = CHURN__RECORD_VERSION;
        return churn__store_put_versioned(txn, s->dbi[CHURN__DB_META], k.mv_data, k.mv_size, marker,
                                          sizeof(marker), "writing the format marker");
    }
    if (rc == MDB_NOTFOUND)
        return churn__store_fail(CHURN_ECORRUPT, "%s is not a churnd store (no format marker)",
                                 s->dir);
    if (rc)
        return churn__mdb_err(rc, "reading the format marker");
    int read = churn__store_read_format(txn, s->dbi[CHURN__DB_META], NULL);
    if (read < 0)
        return churn__store_fail(CHURN_ECORRUPT, "%s is not a churnd store (bad format marker)",
                                 s->dir);
    unsigned format = (unsigned)read;
    if (format > CHURN_STORE_FORMAT)
        return churn__store_fail(CHURN_ECORRUPT,
                                 "%s was written by a newer churnd (store format %u, this "
                                 "build knows %d)",
                                 s->dir, format, CHURN_STORE_FORMAT);
    if (format == CHURN_STORE_FORMAT || !create)
        return CHURN_OK;
    /* an older format opened for writing: upgraded in place, in this transaction */
    enum churn_err err = churn__store_upgrade(s, txn, format);
    if (err)
        return err;
    unsigned char marker[sizeof(STORE_MAGIC) - 1 + 2];
    memcpy(marker, STORE_MAGIC, sizeof(STORE_MAGIC) - 1);
    marker[sizeof(STORE_MAGIC) - 1] = CHURN_STORE_FORMAT;
    marker[sizeof(STORE_MAGIC)] = CHURN__RECORD_VERSION;
    return churn__store_put_versioned(txn, s->dbi[CHURN__DB_META], k.mv_data, k.mv_size, marker,
                                      sizeof(marker), "upgrading the format marker");
}

static enum churn_err
open_dir(const char *dir, bool read_only)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return churn__store_fail(CHURN_EINVAL, "store path %s is not a directory", dir);
        if (!read_only && access(dir, W_OK) != 0)
            return churn__store_fail(churn_err_from_errno(errno),
                                     "store directory %s is not writable: %s", dir,
                                     strerror(errno));
        return CHURN_OK;
    }
    if (errno != ENOENT || read_only)
        return churn__store_fail(churn_err_from_errno(errno), "store directory %s: %s", dir,
                                 strerror(errno));
    if (mkdir(dir, 0750) != 0)
        return churn__store_fail(churn_err_from_errno(errno),
                                 "cannot create store directory %s: %s", dir, strerror(errno));
    return CHURN_OK;
}

enum churn_err
churn_store_open(const char *dir, const struct churn_store_options *opts, struct churn_store **out)
{
    struct churn_store *s;
    enum churn_err err;
    int rc;

    tl_msg[0] = '\0';
    if (!dir || !*dir || !out)
        return churn__store_fail(CHURN_EINVAL, "churn_store_open: no directory");
    s = churn_calloc(1, sizeof(*s));
    if (!s)
        return churn__store_fail(CHURN_ENOMEM, "out of memory opening %s", dir);
    if (opts)
        s->opts = *opts;
    else
        churn_store_options_init(&s->opts);
    if (s->opts.horizon_days > CHURN_HORIZON_DAYS_MAX) {
        err = churn__store_fail(CHURN_EINVAL, "horizon_days must be 1..%d, got %u",
                                CHURN_HORIZON_DAYS_MAX, s->opts.horizon_days);
        goto out_free;
    }
    if (s->opts.map_size < (1u << 16) || s->opts.map_size_max < s->opts.map_size) {
        err = churn__store_fail(CHURN_EINVAL,
                                "map_size must be at least 64 KiB and at most map_size_max");
        goto out_free;
    }
    if (!s->opts.max_readers)
        s->opts.max_readers = 126;
    s->dir = churn_strdup(dir);
    s->wrec = churn_malloc(sizeof(*s->wrec));
    s->wbuf = churn_malloc(CHURN__RECORD_MAX);
    if (!s->dir || !s->wrec || !s->wbuf) {
        err = churn__store_fail(CHURN_ENOMEM, "out of memory opening %s", dir);
        goto out_free;
    }
    if ((err = open_dir(dir, s->opts.read_only)))
        goto out_free;

    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->remap, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&s->wlock, NULL);
    pthread_mutex_init(&s->prune_lock, NULL);

    if ((rc = mdb_env_create(&s->env))) {
        err = churn__mdb_err(rc, "creating the LMDB environment");
        goto out_locks;
    }
    mdb_env_set_maxdbs(s->env, CHURN__DB_COUNT + 2);
    mdb_env_set_maxreaders(s->env, s->opts.max_readers);
    mdb_env_set_mapsize(s->env, s->opts.map_size);
    rc = mdb_env_open(s->env, dir, MDB_NOTLS | (s->opts.read_only ? MDB_RDONLY : 0), 0640);
    if (rc) {
        if (rc == EACCES || rc == EROFS || rc == EPERM)
            err = churn__store_fail(CHURN_EPERM,
                                    "cannot open store %s: %s (read-only or inaccessible "
                                    "directory)",
                                    dir, mdb_strerror(rc));
        else if (rc == ENOSPC || rc == EDQUOT)
            err = churn__store_fail(CHURN_EFULL, "cannot open store %s: the disk is full", dir);
        else if (rc == ENOENT)
            err = churn__store_fail(CHURN_ENOTFOUND, "no store in %s", dir);
        else if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
            err = churn__store_fail(CHURN_ECORRUPT, "%s/data.mdb is not a churnd store: %s", dir,
                                    mdb_strerror(rc));
        else
            err = churn__mdb_err(rc, "opening the store");
        goto out_env;
    }
    int dead = 0;
    mdb_reader_check(s->env, &dead);
    if (dead)
        churn_log(CHURN_LOG_WARN, "store_stale_readers", CHURN_LF_STR("dir", dir),
                  CHURN_LF_INT("cleared", dead));

    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    s->map_size = info.me_mapsize;
    if (s->map_size > s->opts.map_size_max)
        s->opts.map_size_max = s->map_size;

    if (s->opts.read_only) {
        MDB_txn *txn;
        if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) {
            err = churn__mdb_err(rc, "opening the store");
            goto out_env;
        }
        err = setup_dbs(s, txn, NULL);
        /* Database handles opened in a read transaction survive only if it commits. */
        if (err)
            mdb_txn_abort(txn);
        else if ((rc = mdb_txn_commit(txn)))
            err = churn__mdb_err(rc, "opening the databases");
    } else {
        err = churn__store_write(s, setup_dbs, s, "creating the databases");
    }
    if (err || (err = churn__store_history_load(s)))
        goto out_env;
    churn__store_upgrade_log(s);
    *out = s;
    return CHURN_OK;

out_env:
    mdb_env_close(s->env);
out_locks:
    pthread_mutex_destroy(&s->prune_lock);
    pthread_mutex_destroy(&s->wlock);
    pthread_rwlock_destroy(&s->remap);
out_free:
    churn_free(s->wbuf);
    churn_free(s->wrec);
    churn_free(s->dir);
    churn_free(s);
    return err;
}

void
churn_store_close(struct churn_store *s)
{
    if (!s)
        return;
    mdb_env_close(s->env);
    pthread_mutex_destroy(&s->prune_lock);
    pthread_mutex_destroy(&s->wlock);
    pthread_rwlock_destroy(&s->remap);
    churn_free(s->prune_key);
    churn_free(s->wbuf);
    churn_free(s->wrec);
    churn_free(s->dir);
    churn_free(s);
}

/* ---- keys ------------------------------------------------------------------------------------ */

/* "a NUL b" into @buf (capacity 2 * CHURN_ID_MAX + 1). Return: the length. */
static size_t
pair_key(char *buf, const char *a, const char *b)
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

/* ---- events ---------------------------------------------------------------------------------- */

struct apply_ctx {
    const struct churn_event **ev;
    struct churn_event_result **res;
    uint32_t *order; /* valid events, by customer id then arrival */
    size_t n_valid;
    int64_t now_ms;
    int32_t first_day; /* oldest day bucketed by this batch (INT32_MAX: none) */
};

static int
cmp_order(const void *a, const void *b, void *vctx)
{
    const struct apply_ctx *c = vctx;
    uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;
    int r = strcmp(c->ev[ia]->customer_id, c->ev[ib]->customer_id);
    if (r)
        return r;
    return ia < ib ? -1 : ia > ib;
}

static void
set_result(struct churn_event_result *r, enum churn_event_status st, enum churn_err err,
           const char *reason)
{
    r->status = st;
    r->err = err;
    r->lifetime_only = false;
    snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
}

static enum churn_err
apply_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct apply_ctx *c = vctx;
    int32_t today = churn_day_of_ms(c->now_ms);
    int32_t min_day = today - (int32_t)s->opts.horizon_days + 1;
    unsigned char seen[5] = {VALUE_VERSION, (unsigned char)today, (unsigned char)(today >> 8),
                             (unsigned char)(today >> 16), (unsigned char)(today >> 24)};
    char ekey[2 * CHURN_ID_MAX + 2];
    uint64_t accepted = 0;
    enum churn_err err;
    int rc;

    for (size_t g = 0; g < c->n_valid;) {
        const char *cid = c->ev[c->order[g]]->customer_id;
        size_t end = g + 1;
        while (end < c->n_valid && strcmp(c->ev[c->order[end]]->customer_id, cid) == 0)
            end++;

        struct churn_customer *rec = s->wrec;
        MDB_val k = {strlen(cid), (void *)cid}, v;
        bool changed = false, corrupt = false;
        rc = mdb_get(txn, s->dbi[CHURN__DB_CUSTOMERS], &k, &v);
        if (rc == MDB_NOTFOUND)
            churn__record_init(rec, cid);
        else if (rc)
            return churn__mdb_err(rc, "reading a customer");
        else if (churn__record_decode(v.mv_data, v.mv_size, cid, k.mv_size, rec))
            corrupt = true;

        for (size_t j = g; j < end; j++) {
            const struct churn_event *ev = c->ev[c->order[j]];
            struct churn_event_result *res = c->res[c->order[j]];
            char reason[CHURN_REASON_MAX];

            if (corrupt) {
                set_result(res, CHURN_EVENT_REJECTED, CHURN_ECORRUPT, churn_store_last_error());
                continue;
            }
            MDB_val ek = {pair_key(ekey, cid, ev->event_id), ekey}, ev_v;
            rc = mdb_get(txn, s->dbi[CHURN__DB_EVENT_IDS], &ek, &ev_v);
            if (rc == 0) {
                set_result(res, CHURN_EVENT_DUPLICATE, CHURN_OK, NULL);
                continue;
            }
            if (rc != MDB_NOTFOUND)
                return churn__mdb_err(rc, "looking up an event id");
            if ((err = churn__record_check_event(rec, ev, reason, sizeof(reason)))) {
                set_result(res, CHURN_EVENT_REJECTED, err, reason);
                continue;
            }
            MDB_val sv = {sizeof(seen), seen};
            if ((rc = mdb_put(txn, s->dbi[CHURN__DB_EVENT_IDS], &ek, &sv, 0)))
                return churn__mdb_err(rc, "recording an event id");
            churn__record_apply(rec, ev, min_day);
            set_result(res, CHURN_EVENT_ACCEPTED, CHURN_OK, NULL);
            accepted++;
            int32_t ev_day = churn_day_of_ms(ev->occurred_at_ms);
            res->lifetime_only = ev_day < min_day;
            if (!res->lifetime_only && ev_day < c->first_day)
                c->first_day = ev_day;
            changed = true;
        }
        if (changed) {
            churn__record_prune(rec, min_day);
            rec->updated_at_ms = c->now_ms;
            size_t len = churn__record_encode(rec, s->wbuf, CHURN__RECORD_MAX);
            if (len > CHURN__RECORD_MAX)
                return churn__store_fail(CHURN_EINTERNAL, "customer %s: record of %zu bytes", cid,
                                         len);
            if (len > CHURN__RECORD_MAX)
                return churn__store_fail(CHURN_EINTERNAL, "customer %s: record of %zu bytes", cid,
                                         len);
            MDB_val rv = {len, s->wbuf};
            if ((rc = mdb_put(txn, s->dbi[CHURN__DB_CUSTOMERS], &k, &rv, 0)))
                return churn__mdb_err(rc, "writing a customer");
        }
        g = end;
    }
    if ((err = churn__store_events_note(s, txn, accepted)))
        return err;
    return churn__store_history_note(s, txn, c->first_day);
}

enum churn_err
churn__store_apply(struct churn_store *s, const struct churn__segment *segs, size_t nsegs,
                   int64_t now_ms)
{
    struct apply_ctx c = {.now_ms = now_ms};
    size_t total = 0;
    enum churn_err err;

    tl_msg[0] = '\0';
    for (size_t i = 0; i < nsegs; i++)
        total += segs[i].n;
    if (total == 0)
        return CHURN_OK;
    if (total > UINT32_MAX)
        return churn__store_fail(CHURN_ETOOBIG, "too many events in one transaction");
    c.ev = churn_malloc(total * sizeof(*c.ev));
    c.res = churn_malloc(total * sizeof(*c.res));
    c.order = churn_malloc(total * sizeof(*c.order));
    if (!c.ev || !c.res || !c.order) {
        err = churn__store_fail(CHURN_ENOMEM, "out of memory applying %zu events", total);
        goto out;
    }
    size_t g = 0;
    for (size_t i = 0; i < nsegs; i++) {
        for (size_t j = 0; j < segs[i].n; j++, g++) {
            char reason[CHURN_REASON_MAX];
            c.ev[g] = &segs[i].events[j];
            c.res[g] = &segs[i].results[j];
            enum churn_err verr =
                churn_event_validate(c.ev[g], now_ms, s->opts.skew_ms, reason, sizeof(reason));
            if (verr)
                set_result(c.res[g], CHURN_EVENT_REJECTED, verr, reason);
            else
                c.order[c.n_valid++] = (uint32_t)g;
        }
    }
    qsort_r(c.order, c.n_valid, sizeof(*c.order), cmp_order, &c);
    c.first_day = INT32_MAX;
    err = churn__store_write(s, apply_txn, &c, "applying events");
    if (!err)
        churn__store_history_commit(s, c.first_day);
    if (!err && s->opts.on_group) /* issue 14: events per group commit */
        s->opts.on_group(s->opts.observer_ctx, total);
out:
    churn_free(c.order);
    churn_free(c.res);
    churn_free(c.ev);
    return err;
}

enum churn_err
churn_store_apply_events(struct churn_store *s, const struct churn_event *events, size_t n,
                         int64_t now_ms, struct churn_event_result *results)
{
    if (n && (!events || !results))
        return churn__store_fail(CHURN_EINVAL, "churn_store_apply_events: no events or results");
    struct churn__segment seg = {events, n, results};
    return churn__store_apply(s, &seg, 1, now_ms);
}

/* ---- customers ------------------------------------------------------------------------------- */

struct upsert_ctx {
    const struct churn_customer_upsert *items;
    size_t n;
    int64_t now_ms;
};

static enum churn_err
upsert_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct upsert_ctx *c = vctx;
    for (size_t i = 0; i < c->n; i++) {
        const char *cid = c->items[i].customer_id;
        MDB_val k = {strlen(cid), (void *)cid}, v;
        int rc = mdb_get(txn, s->dbi[CHURN__DB_CUSTOMERS], &k, &v);
        if (rc == MDB_NOTFOUND) {
            churn__record_init(s->wrec, cid);
        } else if (rc) {
            return churn__mdb_err(rc, "reading a customer");
        } else {
            enum churn_err err =
                churn__record_decode(v.mv_data, v.mv_size, cid, k.mv_size, s->wrec);
            if (err)
                return err;
        }
        struct churn_customer *rec = s->wrec;
        char plan[sizeof(rec->attrs.plan)];
        double value = rec->attrs.monthly_value;
        memcpy(plan, rec->attrs.plan, sizeof(plan));
        rec->attrs = *c->items[i].attrs;
        if (rec->n_plan_changes) {
            /* Plan change events are newer knowledge than an import of attributes. */
            rec->attrs.monthly_value = value;
            if (plan[0])
                memcpy(rec->attrs.plan, plan, sizeof(plan));
        }
        rec->updated_at_ms = c->now_ms;
        size_t len = churn__record_encode(rec, s->wbuf, CHURN__RECORD_MAX);
        if (len > CHURN__RECORD_MAX)
            return churn__store_fail(CHURN_EINTERNAL, "customer %s: record of %zu bytes", cid, len);
        MDB_val rv = {len, s->wbuf};
        if ((rc = mdb_put(txn, s->dbi[CHURN__DB_CUSTOMERS], &k, &rv, 0)))
            return churn__mdb_err(rc, "writing a customer");
    }
    return CHURN_OK;
}

static enum churn_err
check_attrs(const struct churn_customer_attrs *a, size_t index)
{
    const char *fields[] = {a->segment, a->plan, a->country};
    const char *names[] = {"segment", "plan", "country"};
    for (int i = 0; i < 3; i++) {
        size_t len = strnlen(fields[i], CHURN_NAME_MAX + 1);
        if (len > CHURN_NAME_MAX || !churn_utf8_valid(fields[i], len, NULL))
            return churn__store_fail(CHURN_EINVAL,
                                     "customers[%zu].%s: not a string of at most "
                                     "%d bytes of UTF-8",
                                     index, names[i], CHURN_NAME_MAX);
    }
    if (a->n_num > CHURN_ATTRS_MAX || a->n_cat > CHURN_ATTRS_MAX)
        return churn__store_fail(CHURN_ETOOBIG, "customers[%zu]: more than %d attributes", index,
                                 CHURN_ATTRS_MAX);
    if (a->signup_ms < 0)
        return churn__store_fail(CHURN_EINVAL, "customers[%zu].signup_ms: negative", index);
    if (a->monthly_value < 0 || a->monthly_value > 1e9)
        return churn__store_fail(CHURN_EINVAL, "customers[%zu].monthly_value: out of range", index);
    for (unsigned i = 0; i < a->n_num; i++) {
        size_t len = strnlen(a->num[i].name, CHURN_NAME_MAX + 1);
        if (!len || len > CHURN_NAME_MAX || !churn_utf8_valid(a->num[i].name, len, NULL) ||
            a->num[i].value != a->num[i].value)
            return churn__store_fail(CHURN_EINVAL, "customers[%zu].num[%u]: bad name or value",
                                     index, i);
    }
    for (unsigned i = 0; i < a->n_cat; i++) {
        size_t ln = strnlen(a->cat[i].name, CHURN_NAME_MAX + 1);
        size_t lv = strnlen(a->cat[i].value, CHURN_NAME_MAX + 1);
        if (!ln || ln > CHURN_NAME_MAX || lv > CHURN_NAME_MAX ||
            !churn_utf8_valid(a->cat[i].name, ln, NULL) ||
            !churn_utf8_valid(a->cat[i].value, lv, NULL))
            return churn__store_fail(CHURN_EINVAL, "customers[%zu].cat[%u]: bad name or value",
                                     index, i);
    }
    return CHURN_OK;
}

enum churn_err
churn_store_upsert_customers(struct churn_store *s, const struct churn_customer_upsert *items,
                             size_t n)
{
    tl_msg[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char reason[CHURN_REASON_MAX];
        enum churn_err err =
            churn_id_validate(items[i].customer_id, "customer_id", reason, sizeof(reason));
        if (err)
            return churn__store_fail(err, "customers[%zu].%s", i, reason);
        if (!items[i].attrs)
            return churn__store_fail(CHURN_EINVAL, "customers[%zu]: no attributes", i);
        if ((err = check_attrs(items[i].attrs, i)))
            return err;
    }
    struct upsert_ctx c = {items, n, churn_now_ms()};
    return churn__store_write(s, upsert_txn, &c, "upserting customers");
}

enum churn_err
churn__store_get_customer_digest(struct churn_store *s, MDB_txn *txn, const char *id,
                                 const uint64_t *known, uint64_t *digest, bool *decoded,
                                 struct churn_customer *out)
{
    MDB_val k = {strlen(id), (void *)id}, v;
    int rc = mdb_get(txn, s->dbi[CHURN__DB_CUSTOMERS], &k, &v);
    if (rc == MDB_NOTFOUND)
        return churn__store_fail(CHURN_ENOTFOUND, "customer %s not found", id);
    if (rc)
        return churn__mdb_err(rc, "reading a customer");
    if (digest) {
        *digest = churn_digest64(v.mv_data, v.mv_size);
        if (known && *known == *digest) {
            *decoded = false;
            return CHURN_OK;
        }
    }
    if (decoded)
        *decoded = true;
    return churn__record_decode(v.mv_data, v.mv_size, id, k.mv_size, out);
}

enum churn_err
churn__store_get_customer(struct churn_store *s, MDB_txn *txn, const char *id,
                          struct churn_customer *out)
{
    return churn__store_get_customer_digest(s, txn, id, NULL, NULL, NULL, out);
}

enum churn_err
churn_store_get_customer(struct churn_store *s, const char *customer_id, struct churn_customer *out)
{
    MDB_txn *txn = NULL;
    enum churn_err err;

    tl_msg[0] = '\0';
    if ((err = churn__store_check_id(customer_id, "customer_id")))
        return err;
    if ((err = churn__store_read_begin(s, &txn)))
        return err;
    err = churn__store_get_customer(s, txn, customer_id, out);
    churn__store_read_end(s, txn);
    mdb_txn_abort(txn);
    return err;
}

/* ---- privacy erase --------------------------------------------------------------------------- */

/*
 * Delete every key of @dbi that starts with @prefix (@plen bytes); *@n counts them. Return: 0
 * or the LMDB code (negative, like every LMDB error: it must never be taken for a count).
 */
static int
delete_prefix(MDB_txn *txn, MDB_dbi dbi, const char *prefix, size_t plen, long *n)
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
    rc = mdb_del(txn, s->dbi[CHURN__DB_ALERT_STATE], &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return churn__mdb_err(rc, "erasing the alert state");
    found += rc == 0;
    rep->alert_states = rc == 0;

    char prefix[CHURN_ID_MAX + 1];
    memcpy(prefix, cid, len);
    prefix[len] = '\0';
    if ((rc = delete_prefix(txn, s->dbi[CHURN__DB_EVENT_IDS], prefix, len + 1, &n)))
        return churn__mdb_err(rc, "erasing event ids");
    found += n;
    rep->event_ids = (size_t)n;
    n = 0;
    if ((rc = delete_prefix(txn, s->dbi[CHURN__DB_CONVERSATIONS], prefix, len + 1, &n)))
        return churn__mdb_err(rc, "erasing conversations");
    found += n;
    rep->conversations = (size_t)n;

    /* Alerts are keyed by sequence: walk the log (it is small next to events). */
    long alerts = 0;
    enum churn_err lerr =
        churn__log_erase_customer(txn, s->dbi[CHURN__DB_ALERTS], cid, &alerts, "erasing alerts");
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
    tl_msg[0] = '\0';
    if ((err = churn__store_check_id(customer_id, "customer_id")))
        return err;
    struct delete_ctx dc = {.cid = customer_id};
    err = churn__store_write(s, delete_txn, &dc, "erasing a customer");
    if (!err && report)
        *report = dc.rep;
    return err;
}

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
        size_t klen = pair_key(key, c->items[i].customer_id, c->items[i].conversation_id);
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
    tl_msg[0] = '\0';
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
    tl_msg[0] = '\0';
    if ((err = churn__store_check_id(customer_id, "customer_id")) ||
        (err = churn__store_check_id(conversation_id, "conversation_id")))
        return err;
    return get_value(s, s->dbi[CHURN__DB_CONVERSATIONS], key,
                     pair_key(key, customer_id, conversation_id), arena, data, len);
}

enum churn_err
churn_store_delete_conversation(struct churn_store *s, const char *customer_id,
                                const char *conversation_id)
{
    char key[2 * CHURN_ID_MAX + 2];
    enum churn_err err;
    tl_msg[0] = '\0';
    if ((err = churn__store_check_id(customer_id, "customer_id")) ||
        (err = churn__store_check_id(conversation_id, "conversation_id")))
        return err;
    struct value_ctx c = {s->dbi[CHURN__DB_CONVERSATIONS],
                          key,
                          pair_key(key, customer_id, conversation_id),
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
    tl_msg[0] = '\0';
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
    tl_msg[0] = '\0';
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
    tl_msg[0] = '\0';
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
    tl_msg[0] = '\0';
    if ((err = check_meta_name(name, true)))
        return err;
    return put_value(s, s->dbi[CHURN__DB_META], name, strlen(name), data, len);
}

enum churn_err
churn_store_get_meta(struct churn_store *s, const char *name, struct churn_arena *arena,
                     void **data, size_t *len)
{
    enum churn_err err;
    tl_msg[0] = '\0';
    if ((err = check_meta_name(name, false)))
        return err;
    return get_value(s, s->dbi[CHURN__DB_META], name, strlen(name), arena, data, len);
}

/* ---- alerts ---------------------------------------------------------------------------------- */

struct alert_ctx {
    const char *customer_id;
    const void *data;
    size_t len;
    uint64_t seq; /* in: for replace; out: for append */
};

/* Take the next alert sequence in @txn (the counter in meta, never reused). */
static enum churn_err
next_alert_seq(struct churn_store *s, MDB_txn *txn, uint64_t *out)
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
    enum churn_err err = next_alert_seq(s, txn, &seq);
    if (err)
        return err;
    if ((err = churn__log_put(txn, s->dbi[CHURN__DB_ALERTS], seq, c->customer_id, c->data, c->len,
                              "writing an alert")))
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
        enum churn_err err = next_alert_seq(s, txn, &seq);
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
            (err = churn__store_put_versioned(txn, s->dbi[CHURN__DB_ALERT_STATE], cid, strlen(cid),
                                              state, state_len, "writing an alert state")))
            return err;
        c->seqs[i] = seq;
    }
    return CHURN_OK;
}

enum churn_err
churn_store_append_alerts_with_states(struct churn_store *s, size_t n,
                                      const char *const *customer_ids,
                                      churn_store_alerts_fill_fn *fill, void *user, uint64_t *seqs)
{
    enum churn_err err;
    tl_msg[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((err = churn__store_check_id(customer_ids[i], "customer_id")))
            return err;
    if (n == 0)
        return CHURN_OK;
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
    tl_msg[0] = '\0';
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

static bool log_value(const MDB_val *v, char *cid, const unsigned char **data, size_t *len);

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
    if (!log_value(&v, cid, &data, &len))
        return churn__store_fail(CHURN_ECORRUPT, "alert %llu is corrupt",
                                 (unsigned long long)c->seq);
    return churn__log_put(txn, s->dbi[CHURN__DB_ALERTS], c->seq, cid, c->data, c->len,
                          "writing an alert");
}

enum churn_err
churn_store_replace_alert(struct churn_store *s, uint64_t seq, const void *data, size_t len)
{
    tl_msg[0] = '\0';
    if (len > CHURN_STORE_VALUE_MAX || (len && !data))
        return churn__store_fail(CHURN_ETOOBIG, "alert of %zu bytes is over the limit", len);
    struct alert_ctx c = {NULL, data, len, seq};
    return churn__store_write(s, replace_alert_txn, &c, "replacing an alert");
}

enum churn_err
churn_store_foreach_alert(struct churn_store *s, uint64_t after_seq, size_t max,
                          churn_store_log_fn *fn, void *user)
{
    tl_msg[0] = '\0';
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

/* The customer id of a log value into @cid; false when the value is malformed. */
static bool
log_value(const MDB_val *v, char *cid, const unsigned char **data, size_t *len)
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
        if (k.mv_size != 8 || !log_value(&v, cid, &data, &len)) {
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

/* ---- iteration ------------------------------------------------------------------------------- */

enum churn_err
churn_store_foreach_customer(struct churn_store *s,
                             int (*fn)(const struct churn_customer *rec, void *user), void *user)
{
    struct churn_customer *rec = churn_malloc(sizeof(*rec));
    char last[CHURN_ID_MAX + 1];
    size_t last_len = 0;
    bool started = false;
    MDB_txn *txn = NULL;
    enum churn_err err = CHURN_OK;

    tl_msg[0] = '\0';
    if (!rec)
        return churn__store_fail(CHURN_ENOMEM, "out of memory iterating customers");
    for (;;) {
        MDB_cursor *cur;
        if ((err = churn__store_read_begin(s, &txn)))
            break;
        int rc = mdb_cursor_open(txn, s->dbi[CHURN__DB_CUSTOMERS], &cur);
        if (rc) {
            churn__store_read_end(s, txn);
            err = churn__mdb_err(rc, "iterating customers");
            break;
        }
        MDB_val k = {last_len, last}, v;
        if (!started) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        } else {
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            if (rc == 0 && k.mv_size == last_len && memcmp(k.mv_data, last, last_len) == 0)
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        enum churn_err derr = CHURN_OK;
        if (rc == 0) {
            if (k.mv_size > CHURN_ID_MAX) {
                derr = churn__store_fail(CHURN_ECORRUPT, "customer key too long");
            } else {
                last_len = k.mv_size;
                memcpy(last, k.mv_data, last_len);
                last[last_len] = '\0';
                derr = churn__record_decode(v.mv_data, v.mv_size, last, last_len, rec);
            }
        }
        mdb_cursor_close(cur);
        churn__store_read_end(s, txn);
        started = true;
        if (rc == MDB_NOTFOUND)
            break;
        if (rc) {
            err = churn__mdb_err(rc, "iterating customers");
            break;
        }
        if (derr == CHURN_ECORRUPT) {
            churn_log(CHURN_LOG_WARN, "store_corrupt_record", CHURN_LF_STR("customer_id", last),
                      CHURN_LF_STR("error", churn_store_last_error()));
            continue;
        }
        if (derr) {
            err = derr;
            break;
        }
        if (fn(rec, user)) {
            err = CHURN_ECANCELLED;
            break;
        }
    }
    if (txn)
        mdb_txn_abort(txn);
    churn_free(rec);
    return err;
}

enum churn_err
churn_store_list_customer_ids(struct churn_store *s, const char *after,
                              char (*ids)[CHURN_ID_MAX + 1], size_t max, size_t *n)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur;
    enum churn_err err;
    size_t count = 0;

    tl_msg[0] = '\0';
    *n = 0;
    if ((err = churn__store_read_begin(s, &txn)))
        return err;
    int rc = mdb_cursor_open(txn, s->dbi[CHURN__DB_CUSTOMERS], &cur);
    if (rc) {
        err = churn__mdb_err(rc, "listing customers");
        goto out_txn;
    }
    size_t alen = after ? strlen(after) : 0;
    MDB_val k = {alen, (void *)after}, v;
    if (alen == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && k.mv_size == alen && memcmp(k.mv_data, after, alen) == 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    for (; rc == 0 && count < max; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size == 0 || k.mv_size > CHURN_ID_MAX)
            continue; /* not a customer key a record could have (logged by the decoders) */
        memcpy(ids[count], k.mv_data, k.mv_size);
        ids[count][k.mv_size] = '\0';
        count++;
    }
    if (rc && rc != MDB_NOTFOUND)
        err = churn__mdb_err(rc, "listing customers");
    mdb_cursor_close(cur);
out_txn:
    churn__store_read_end(s, txn);
    mdb_txn_abort(txn);
    *n = err ? 0 : count;
    return err;
}

/* ---- housekeeping ---------------------------------------------------------------------------- */

struct prune_ctx {
    int32_t min_day;
    size_t budget;
    size_t scanned;
    size_t pruned;
};

static enum churn_err
prune_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct prune_ctx *c = vctx;
    char at[2 * CHURN_ID_MAX + 2];
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi[CHURN__DB_EVENT_IDS], &cur);
    if (rc)
        return churn__mdb_err(rc, "pruning event ids");
    c->scanned = c->pruned = 0;
    MDB_val k = {s->prune_key_len, s->prune_key}, v;
    rc = s->prune_key_len ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)
                          : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0 && (!c->budget || c->scanned < c->budget)) {
        const unsigned char *p = v.mv_data;
        c->scanned++;
        if (v.mv_size == 5) {
            int32_t day =
                (int32_t)(p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 24);
            if (day < c->min_day && k.mv_size <= sizeof(at)) {
                size_t at_len = k.mv_size;
                memcpy(at, k.mv_data, at_len);
                if ((rc = mdb_cursor_del(cur, 0)))
                    break;
                c->pruned++;
                k = (MDB_val){at_len, at};
                rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
                continue;
            }
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc == 0) {
        /* Budget used up: remember where to resume. */
        char *copy = churn_malloc(k.mv_size);
        if (copy) {
            memcpy(copy, k.mv_data, k.mv_size);
            churn_free(s->prune_key);
            s->prune_key = copy;
            s->prune_key_len = k.mv_size;
        }
    } else {
        churn_free(s->prune_key);
        s->prune_key = NULL;
        s->prune_key_len = 0;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        return churn__mdb_err(rc, "pruning event ids");
    return CHURN_OK;
}

enum churn_err
churn_store_maintain(struct churn_store *s, int64_t now_ms, size_t budget,
                     struct churn_store_maintenance *report)
{
    struct churn_store_maintenance r = {0};
    enum churn_err err = CHURN_OK;
    int dead = 0;

    tl_msg[0] = '\0';
    int rc = mdb_reader_check(s->env, &dead);
    if (rc)
        return churn__mdb_err(rc, "checking readers");
    r.stale_readers_cleared = dead;
    if (dead)
        churn_log(CHURN_LOG_WARN, "store_stale_readers", CHURN_LF_STR("dir", s->dir),
                  CHURN_LF_INT("cleared", dead));
    if (!s->opts.read_only) {
        struct prune_ctx c = {
            .min_day = churn_day_of_ms(now_ms) - (int32_t)s->opts.horizon_days + 1,
            .budget = budget,
        };
        pthread_mutex_lock(&s->prune_lock);
        err = churn__store_write(s, prune_txn, &c, "pruning event ids");
        pthread_mutex_unlock(&s->prune_lock);
        r.event_ids_scanned = c.scanned;
        r.event_ids_pruned = c.pruned;
    }
    if (!err && report)
        *report = r;
    return err;
}

enum churn_err
churn_store_stats(struct churn_store *s, struct churn_store_stats *out)
{
    MDB_txn *txn = NULL;
    MDB_stat st[CHURN__DB_COUNT];
    MDB_envinfo info;
    MDB_stat env_st;
    uint64_t event_seq = 0, alert_seq = 0;
    enum churn_err err;

    tl_msg[0] = '\0';
    if ((err = churn__store_read_begin(s, &txn)))
        return err;
    memset(st, 0, sizeof(st));
    for (int i = 0; i < CHURN__DB_COUNT && !err; i++) {
        if (i == CHURN__DB_OUTCOMES && !s->dbi[i])
            continue; /* an older store opened read-only */
        int rc = mdb_stat(txn, s->dbi[i], &st[i]);
        if (rc)
            err = churn__mdb_err(rc, "reading statistics");
    }
    if (!err)
        err = churn__store_read_seqs(s, txn, &event_seq, &alert_seq);
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &env_st);
    churn__store_read_end(s, txn);
    mdb_txn_abort(txn);
    if (err)
        return err;
    out->customers = st[CHURN__DB_CUSTOMERS].ms_entries;
    out->event_seq = event_seq;
    out->alert_seq = alert_seq;
    out->event_ids = st[CHURN__DB_EVENT_IDS].ms_entries;
    out->conversations = st[CHURN__DB_CONVERSATIONS].ms_entries;
    out->alerts = st[CHURN__DB_ALERTS].ms_entries;
    out->outcomes = st[CHURN__DB_OUTCOMES].ms_entries;
    out->map_size = info.me_mapsize;
    out->used_bytes = (info.me_last_pgno + 1) * (size_t)env_st.ms_psize;
    for (int i = 0; i < 2; i++) {
        const MDB_stat *d = &st[i == 0 ? CHURN__DB_CUSTOMERS : CHURN__DB_EVENT_IDS];
        size_t bytes = (d->ms_branch_pages + d->ms_leaf_pages + d->ms_overflow_pages) *
                       (size_t)env_st.ms_psize;
        if (i == 0)
            out->customers_bytes = bytes;
        else
            out->event_ids_bytes = bytes;
    }
    return CHURN_OK;
}

enum churn_err
churn_store_copy_compact(struct churn_store *s, const char *dest_dir)
{
    char path[4096];
    struct stat st;

    tl_msg[0] = '\0';
    if (!dest_dir || !*dest_dir)
        return churn__store_fail(CHURN_EINVAL, "no destination directory");
    if (snprintf(path, sizeof(path), "%s/data.mdb", dest_dir) >= (int)sizeof(path))
        return churn__store_fail(CHURN_ETOOBIG, "destination path too long");
    if (stat(path, &st) == 0)
        return churn__store_fail(CHURN_EEXIST, "%s already holds a store", dest_dir);
    pthread_rwlock_rdlock(&s->remap);
    int rc = mdb_env_copy2(s->env, dest_dir, MDB_CP_COMPACT);
    pthread_rwlock_unlock(&s->remap);
    if (rc == ENOSPC || rc == EDQUOT)
        return churn__store_fail(CHURN_EFULL, "copying the store to %s: the disk is full",
                                 dest_dir);
    if (rc) {
        char what[256];
        snprintf(what, sizeof(what), "copying the store to %s", dest_dir);
        return churn__mdb_err(rc, what);
    }
    return CHURN_OK;
}
