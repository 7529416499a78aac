/*
 * open.c - opening and closing the store: the "is this a churnd store" and "can we write here"
 * checks, the named databases (created in an empty environment, with the format
 * marker; an older store's missing ones created and its format upgraded in the opening write
 * transaction), stale reader slots, the observed history loaded, and closing.
 */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include "churn/store.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "churn/alloc.h"
#include "churn/log.h"
#include "store_internal.h"
#include "store_lmdb.h"

static const char *const db_names[CHURN__DB_COUNT] = {
    [CHURN__DB_CUSTOMERS] = "customers",
    [CHURN__DB_EVENT_IDS] = "event_ids",
    [CHURN__DB_CONVERSATIONS] = "conversations",
    [CHURN__DB_ALERTS] = "alerts",
    [CHURN__DB_ALERT_STATE] = "alert_state",
    [CHURN__DB_META] = "meta",
    [CHURN__DB_OUTCOMES] = "outcomes",
    [CHURN__DB_SCORES] = "scores",
    [CHURN__DB_ALERT_CUSTOMERS] = "alert_customers",
};

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
        /* outcomes came after format 1, scores later still: a writable open adds them, a
         * read-only one of an older store sees none (their calls check for the handle) */
        bool added_later =
            i == CHURN__DB_OUTCOMES || i == CHURN__DB_SCORES || i == CHURN__DB_ALERT_CUSTOMERS;
        if (added_later && create)
            flags = MDB_CREATE;
        if (i == CHURN__DB_ALERT_CUSTOMERS)
            flags |= MDB_DUPSORT | MDB_DUPFIXED;
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

/* A writable open: the databases, then the alert index checked against the log. */
static enum churn_err
setup_for_writing(struct churn_store *s, MDB_txn *txn, void *ctx)
{
    enum churn_err err = setup_dbs(s, txn, ctx);
    return err ? err : churn__alert_index_check(s, txn);
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

    churn__store_clear_error();
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
    pthread_mutex_init(&s->copy_mu, NULL);
    pthread_cond_init(&s->copy_cv, NULL);

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
        err = churn__store_write(s, setup_for_writing, s, "creating the databases");
    }
    if (err || (err = churn__store_history_load(s)))
        goto out_env;
    churn__store_upgrade_log(s);
    if (s->alert_index_rebuilt)
        churn_log(CHURN_LOG_INFO, "store_alert_index_rebuilt", CHURN_LF_STR("dir", dir),
                  CHURN_LF_INT("alerts", (long long)s->alert_index_rebuilt - 1));
    *out = s;
    return CHURN_OK;

out_env:
    mdb_env_close(s->env);
out_locks:
    pthread_mutex_destroy(&s->prune_lock);
    pthread_mutex_destroy(&s->copy_mu);
    pthread_cond_destroy(&s->copy_cv);
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
    pthread_mutex_destroy(&s->copy_mu);
    pthread_cond_destroy(&s->copy_cv);
    pthread_mutex_destroy(&s->wlock);
    pthread_rwlock_destroy(&s->remap);
    churn_free(s->prune_key);
    churn_free(s->wbuf);
    churn_free(s->wrec);
    churn_free(s->dir);
    churn_free(s);
}
