/*
 * admin.c - AdminService (Backup) and the backup schedule: one admin thread runs every backup,
 * whether a Backup call asked for it (the call is answered when the backup is complete, so a
 * worker thread never waits on the disk) or --backup-every came due (a timestamped directory
 * under --backup-dir, then the backups beyond --backup-keep removed), each logged. One backup
 * at a time: a call arriving while one runs is refused with its directory and start. What a
 * backup holds is churn/backup.h's business; this file adds the served model and registry.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "churn/alloc.h"
#include "churn/backup.h"
#include "churn/clock.h"
#include "churn/log.h"
#include "churn/metrics.h"
#include "churn/registry.h"
#include "service_internal.h"

#define ADMIN_NICE 10 /* the admin (backup) thread's nice value */

struct churn__admin {
    struct churn_services *svc;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;                            /* (mu) */
    struct churn_rpc *job;                /* (mu) a Backup call for the thread; one reference */
    char job_dir[CHURN_BACKUP_PATH_MAX];  /* (mu) its directory */
    bool busy;                            /* (mu) a backup is running */
    char busy_dir[CHURN_BACKUP_PATH_MAX]; /* (mu) where to, and since when */
    int64_t busy_since_ms;
    struct churn_backup_schedule sched;         /* strings copied below */
    char sched_dir[CHURN_BACKUP_PATH_MAX - 64]; /* room for "/<name>" */
    int64_t next_ms;                            /* next scheduled backup (0: none) */
    /* (mu) what the backups did, for /metrics */
    uint64_t n_ok, n_failed, n_refused;
    int64_t last_ok_ms;  /* when the last successful backup finished (0: none yet) */
    double last_seconds; /* how long the last successful one took */
    uint64_t last_bytes; /* its size (every file) */
};

/* The served model and the registry size, for the manifest. @e holds the entry's strings. */
static void
backup_source(struct churn_services *svc, struct churn_registry_entry *e,
              struct churn_backup_source *src)
{
    memset(src, 0, sizeof(*src));
    struct churn_registry *reg = churn__models_registry(svc);
    if (!reg)
        return;
    struct churn_registry_view *v = churn_malloc(sizeof(*v));
    if (v) {
        churn_registry_snapshot(reg, v);
        src->registry_models = (uint32_t)v->n_models;
        churn_free(v);
    }
    uint32_t id = churn_registry_served_id(reg);
    if (id && churn_registry_get(reg, id, e) == CHURN_OK) {
        src->model_id = id;
        src->model_version = e->file.version;
        src->model_path = e->path;
    }
}

/* Count a backup that ended with @r (refused for the @caller's bad directory; manifest @m when
 * it succeeded), for /metrics. */
static void
count_backup(struct churn__admin *ad, enum churn_err r, bool caller,
             const struct churn_backup_manifest *m)
{
    pthread_mutex_lock(&ad->mu);
    if (r && caller) {
        ad->n_refused++;
    } else if (r) {
        ad->n_failed++;
    } else {
        ad->n_ok++;
        ad->last_ok_ms = m->finished_ms;
        ad->last_seconds = (double)(m->finished_ms - m->started_ms) / 1e3;
        ad->last_bytes = 0;
        for (size_t i = 0; i < m->n_files; i++)
            ad->last_bytes += m->files[i].size;
    }
    pthread_mutex_unlock(&ad->mu);
}

void
churn__admin_collect(struct churn_services *svc, struct churn_metrics_sink *k)
{
    struct churn__admin *ad = svc->admin;
    if (!ad)
        return;
    pthread_mutex_lock(&ad->mu);
    uint64_t ok = ad->n_ok, failed = ad->n_failed, refused = ad->n_refused;
    uint64_t bytes = ad->last_bytes;
    int64_t last = ad->last_ok_ms;
    double secs = ad->last_seconds;
    pthread_mutex_unlock(&ad->mu);
    churn_metrics_sink_counter(k, "churn_backups_total",
                               "Online backups since start (scheduled or called), by result.",
                               "result=\"ok\"", (double)ok);
    churn_metrics_sink_counter(k, "churn_backups_total", "", "result=\"failed\"", (double)failed);
    churn_metrics_sink_counter(k, "churn_backups_total", "", "result=\"refused\"", (double)refused);
    if (!last)
        return;
    churn_metrics_sink_gauge(k, "churn_backup_last_success_timestamp_seconds",
                             "When the last successful backup finished (unix seconds).", "",
                             (double)last / 1e3);
    churn_metrics_sink_gauge(k, "churn_backup_last_duration_seconds",
                             "How long the last successful backup took.", "", secs);
    churn_metrics_sink_gauge(k, "churn_backup_last_bytes",
                             "The size of the last successful backup (every file).", "",
                             (double)bytes);
}

/* Run one backup into @dir (admin thread). */
static enum churn_err
run_backup(struct churn__admin *ad, const char *dir, struct churn_backup_manifest *m, char *err,
           size_t errlen)
{
    struct churn_registry_entry *e = churn_malloc(sizeof(*e));
    if (!e)
        return churn_fail(err, errlen, CHURN_ENOMEM, "out of memory");
    struct churn_backup_source src;
    backup_source(ad->svc, e, &src);
    src.write_bytes_per_s = ad->sched.write_bytes_per_s;
    enum churn_err r = churn_backup_create(ad->svc->store, dir, &src, m, err, errlen);
    churn_free(e);
    /* a directory the caller named badly is the caller's error: a warning, not an error */
    bool caller = r == CHURN_EINVAL || r == CHURN_EEXIST || r == CHURN_ENOTFOUND;
    count_backup(ad, r, caller, m);
    if (r)
        churn_log(caller ? CHURN_LOG_WARN : CHURN_LOG_ERROR,
                  caller ? "backup_refused" : "backup_failed", CHURN_LF_STR("dir", dir),
                  CHURN_LF_STR("error", err), CHURN_LF_STR("msg", "serving goes on"));
    return r;
}

/* The answer to a Backup call from manifest @m of @dir. */
static void
reply_backup(struct churn_rpc *rpc, const char *dir, const struct churn_backup_manifest *m)
{
    Churn__V1__BackupResponse r = CHURN__V1__BACKUP_RESPONSE__INIT;
    Churn__V1__BackupFile files[CHURN_BACKUP_FILES_MAX], *list[CHURN_BACKUP_FILES_MAX];
    r.dir = (char *)dir;
    r.store_format = m->store_format;
    r.record_version = m->record_version;
    r.churnd_version = (char *)m->churnd_version;
    r.started_at_ms = m->started_ms;
    r.finished_at_ms = m->finished_ms;
    r.event_sequence = m->event_seq;
    r.alert_sequence = m->alert_seq;
    r.customers = (int64_t)m->customers;
    r.model_registry_id = m->model.registry_id;
    r.model_version = (char *)m->model.version;
    r.registry_models = m->registry_models;
    for (size_t i = 0; i < m->n_files; i++) {
        churn__v1__backup_file__init(&files[i]);
        files[i].name = (char *)m->files[i].name;
        files[i].size_bytes = (int64_t)m->files[i].size;
        files[i].sha256 = (char *)m->files[i].sha256;
        list[i] = &files[i];
    }
    r.n_files = m->n_files;
    r.files = list;
    churn_rpc_reply(rpc, &r.base);
}

/* No backup running any more: cleared before the answer goes out, so that a client's next
 * call, sent as soon as it has the answer, is never refused as overlapping this one. */
static void
not_busy(struct churn__admin *ad)
{
    pthread_mutex_lock(&ad->mu);
    ad->busy = false;
    pthread_mutex_unlock(&ad->mu);
}

static void
call_job(struct churn__admin *ad, struct churn_rpc *rpc, const char *dir)
{
    char err[1024];
    struct churn_backup_manifest *m = churn_calloc(1, sizeof(*m));
    enum churn_err r = m ? run_backup(ad, dir, m, err, sizeof(err))
                         : churn_fail(err, sizeof(err), CHURN_ENOMEM, "out of memory");
    not_busy(ad);
    if (r)
        churn_rpc_finish(rpc, r, "%s", err);
    else
        reply_backup(rpc, dir, m);
    churn_free(m);
    churn_rpc_unref(rpc);
}

static void
scheduled_job(struct churn__admin *ad, const char *dir)
{
    char err[1024];
    unsigned removed = 0;
    struct churn_backup_manifest *m = churn_calloc(1, sizeof(*m));
    if (m && run_backup(ad, dir, m, err, sizeof(err)) == CHURN_OK)
        churn_log(CHURN_LOG_INFO, "backup_scheduled_done", CHURN_LF_STR("dir", dir),
                  CHURN_LF_INT("ms", m->finished_ms - m->started_ms));
    churn_free(m);
    /* also after a failure: an interrupted backup of an earlier run is cleaned up */
    if (churn_backup_prune(ad->sched_dir, ad->sched.keep, &removed, err, sizeof(err)))
        churn_log(CHURN_LOG_WARN, "backup_prune_failed", CHURN_LF_STR("error", err));
}

/* The admin thread: Backup calls as they come, scheduled backups when due. */
static void *
admin_main(void *arg)
{
    struct churn__admin *ad = arg;
    /* backups yield the CPU to serving: nice 10 for this thread (Linux: per thread, and
     * inherited by the copy thread LMDB starts); never idle-class, so one always finishes */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), ADMIN_NICE);
    pthread_mutex_lock(&ad->mu);
    while (!ad->stop) {
        int64_t now = churn_now_ms();
        char dir[CHURN_BACKUP_PATH_MAX];
        struct churn_rpc *rpc = ad->job;
        bool due = !rpc && ad->next_ms && now >= ad->next_ms;
        if (!rpc && !due) {
            if (ad->next_ms) {
                struct timespec until = churn_timespec_of_ms(ad->next_ms);
                pthread_cond_timedwait(&ad->cv, &ad->mu, &until);
            } else {
                pthread_cond_wait(&ad->cv, &ad->mu);
            }
            continue;
        }
        char name[64];
        if (rpc)
            snprintf(dir, sizeof(dir), "%s", ad->job_dir);
        else
            snprintf(dir, sizeof(dir), "%s/%s", ad->sched_dir,
                     churn_backup_name(now, name, sizeof(name)));
        ad->job = NULL;
        ad->busy = true;
        snprintf(ad->busy_dir, sizeof(ad->busy_dir), "%s", dir);
        ad->busy_since_ms = now;
        if (due)
            ad->next_ms = now + ad->sched.every_ms;
        pthread_mutex_unlock(&ad->mu);
        if (rpc)
            call_job(ad, rpc, dir);
        else
            scheduled_job(ad, dir);
        pthread_mutex_lock(&ad->mu);
        ad->busy = false;
    }
    pthread_mutex_unlock(&ad->mu);
    return NULL;
}

/* The directory a Backup call asks for, checked, into @dir. */
static enum churn_err
call_dir(struct churn_rpc *rpc, struct churn__admin *ad, const char *out_dir, char *dir, size_t len)
{
    if (!*out_dir && !*ad->sched_dir)
        return churn_rpc_error(rpc, CHURN_EINVAL,
                               "out_dir: empty, and the server has no --backup-dir to name one in");
    if (!*out_dir) {
        char name[64];
        snprintf(dir, len, "%s/%s", ad->sched_dir, churn_backup_name(churn_now_ms(), name, 64));
        return CHURN_OK;
    }
    if (out_dir[0] != '/')
        return churn_rpc_error(rpc, CHURN_EINVAL,
                               "out_dir: '%s' is not an absolute path (a path on the server)",
                               out_dir);
    if (strlen(out_dir) >= len)
        return churn_rpc_error(rpc, CHURN_EINVAL, "out_dir: over %zu bytes", len - 1);
    snprintf(dir, len, "%s", out_dir);
    return CHURN_OK;
}

static enum churn_err
backup_call(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    (void)out;
    const Churn__V1__BackupRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    struct churn__admin *ad = svc->admin;
    char dir[CHURN_BACKUP_PATH_MAX];
    if (!ad || !svc->store)
        return churn_rpc_error(rpc, CHURN_EUNAVAIL, "the store is not open");
    enum churn_err e = call_dir(rpc, ad, req->out_dir, dir, sizeof(dir));
    if (e)
        return e;
    pthread_mutex_lock(&ad->mu);
    if (ad->busy || ad->job) {
        char at[40];
        const char *to = ad->job ? ad->job_dir : ad->busy_dir;
        int64_t since = ad->job ? churn_now_ms() : ad->busy_since_ms;
        ad->n_refused++; /* one at a time */
        pthread_mutex_unlock(&ad->mu);
        return churn_rpc_error(rpc, CHURN_EPRECOND, CHURN_BACKUP_BUSY_FMT, to,
                               churn_format_time_ms(since, at, sizeof(at)));
    }
    ad->job = churn_rpc_ref(rpc);
    snprintf(ad->job_dir, sizeof(ad->job_dir), "%s", dir);
    churn_rpc_defer(rpc);
    pthread_cond_signal(&ad->cv);
    pthread_mutex_unlock(&ad->mu);
    return CHURN_OK;
}

/* --backup-dir created if missing (mode 0750) and made absolute, in place. */
static enum churn_err
resolve_dir(char *dir, size_t len, char *errbuf, size_t errlen)
{
    char real[PATH_MAX];
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return churn_fail(errbuf, errlen, churn_err_from_errno(errno), "--backup-dir %s: %s", dir,
                          strerror(errno));
    if (!realpath(dir, real))
        return churn_fail(errbuf, errlen, churn_err_from_errno(errno), "--backup-dir %s: %s", dir,
                          strerror(errno));
    if (strlen(real) >= len)
        return churn_fail(errbuf, errlen, CHURN_EINVAL, "--backup-dir: over %zu bytes", len - 1);
    snprintf(dir, len, "%s", real);
    return CHURN_OK;
}

enum churn_err
churn_services_start_admin(struct churn_services *svc, const struct churn_backup_schedule *o,
                           char *errbuf, size_t errlen)
{
    struct churn__admin *ad = churn_calloc(1, sizeof(*ad));
    if (!ad)
        return churn_fail(errbuf, errlen, CHURN_ENOMEM, "out of memory");
    ad->svc = svc;
    if (o) {
        ad->sched = *o;
        if (o->dir && strlen(o->dir) >= sizeof(ad->sched_dir)) {
            churn_free(ad);
            return churn_fail(errbuf, errlen, CHURN_EINVAL, "--backup-dir: over %zu bytes",
                              sizeof(ad->sched_dir) - 1);
        }
        snprintf(ad->sched_dir, sizeof(ad->sched_dir), "%s", o->dir ? o->dir : "");
    }
    enum churn_err e = CHURN_OK;
    if (ad->sched.every_ms > 0 && !*ad->sched_dir)
        e = churn_fail(errbuf, errlen, CHURN_EINVAL, "--backup-every needs --backup-dir");
    else if (*ad->sched_dir)
        e = resolve_dir(ad->sched_dir, sizeof(ad->sched_dir), errbuf, errlen);
    if (e) {
        churn_free(ad);
        return e;
    }
    if (ad->sched.every_ms > 0)
        ad->next_ms = churn_now_ms() + ad->sched.every_ms;
    pthread_mutex_init(&ad->mu, NULL);
    pthread_cond_init(&ad->cv, NULL);
    if (pthread_create(&ad->thread, NULL, admin_main, ad) != 0) {
        pthread_cond_destroy(&ad->cv);
        pthread_mutex_destroy(&ad->mu);
        churn_free(ad);
        return churn_fail(errbuf, errlen, CHURN_EINTERNAL, "cannot start the admin thread");
    }
    svc->admin = ad;
    if (ad->next_ms)
        churn_log(CHURN_LOG_INFO, "backup_schedule", CHURN_LF_STR("dir", ad->sched_dir),
                  CHURN_LF_INT("every_ms", ad->sched.every_ms),
                  CHURN_LF_INT("keep", ad->sched.keep));
    return CHURN_OK;
}

void
churn_services_stop_admin(struct churn_services *svc)
{
    struct churn__admin *ad = svc->admin;
    if (!ad)
        return;
    pthread_mutex_lock(&ad->mu);
    ad->stop = true;
    struct churn_rpc *left = ad->job; /* accepted, never started */
    ad->job = NULL;
    pthread_cond_signal(&ad->cv);
    pthread_mutex_unlock(&ad->mu);
    pthread_join(ad->thread, NULL); /* a backup in progress completes first */
    if (left) {
        churn_rpc_finish(left, CHURN_EUNAVAIL, "the server is stopping");
        churn_rpc_unref(left);
    }
    pthread_cond_destroy(&ad->cv);
    pthread_mutex_destroy(&ad->mu);
    churn_free(ad);
    svc->admin = NULL;
}

const struct churn_method churn__admin_methods[] = {
    {
        .name = "/churn.v1.AdminService/Backup",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__backup_request__descriptor,
        .response = &churn__v1__backup_response__descriptor,
        .unary = backup_call,
        .max_request_bytes = 2 * CHURN_BACKUP_PATH_MAX,
    },
};
const size_t churn__n_admin_methods =
    sizeof(churn__admin_methods) / sizeof(churn__admin_methods[0]);
