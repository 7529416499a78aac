/*
 * maintain.c - housekeeping and sizes: stale reader slots cleared and event ids older than the
 * horizon pruned a budget at a time, the store's statistics, and the compacted copy.
 */
#include "churn/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "churn/alloc.h"
#include "churn/log.h"
#include "store_internal.h"
#include "store_lmdb.h"

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

    churn__store_clear_error();
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

    churn__store_clear_error();
    if ((err = churn__store_read_begin(s, &txn)))
        return err;
    memset(st, 0, sizeof(st));
    for (int i = 0; i < CHURN__DB_COUNT && !err; i++) {
        if ((i == CHURN__DB_OUTCOMES || i == CHURN__DB_SCORES || i == CHURN__DB_ALERT_CUSTOMERS) &&
            !s->dbi[i])
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
    out->scores = st[CHURN__DB_SCORES].ms_entries;
    size_t *bytes[] = {&out->customers_bytes, &out->event_ids_bytes, &out->scores_bytes};
    const int dbs[] = {CHURN__DB_CUSTOMERS, CHURN__DB_EVENT_IDS, CHURN__DB_SCORES};
    for (int i = 0; i < 3; i++) {
        const MDB_stat *d = &st[dbs[i]];
        *bytes[i] = (d->ms_branch_pages + d->ms_leaf_pages + d->ms_overflow_pages) *
                    (size_t)env_st.ms_psize;
    }
    return CHURN_OK;
}

enum churn_err
churn_store_copy_compact(struct churn_store *s, const char *dest_dir)
{
    char path[4096];
    struct stat st;

    churn__store_clear_error();
    if (!dest_dir || !*dest_dir)
        return churn__store_fail(CHURN_EINVAL, "no destination directory");
    if (snprintf(path, sizeof(path), "%s/data.mdb", dest_dir) >= (int)sizeof(path))
        return churn__store_fail(CHURN_ETOOBIG, "destination path too long");
    if (stat(path, &st) == 0)
        return churn__store_fail(CHURN_EEXIST, "%s already holds a store", dest_dir);
    churn__store_copy_begin(s);
    int rc = mdb_env_copy2(s->env, dest_dir, MDB_CP_COMPACT);
    churn__store_copy_end(s);
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
