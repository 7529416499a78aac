/*
 * engine/retrain.c - champion/challenger retraining (churn/retrain.h): the scheduling thread
 * (a run on demand or every --retrain-every, one at a time), the child process that does the
 * work at idle priority (churnd re-executed, so none of the server's threads, locks or
 * allocator state crosses into it; its request on its stdin, its result on its stdout; the
 * serving model handed over as a file): a training set whose labels end before T = now - H - 1 day,
 * the challenger, backtests of challenger and champion on (T, T + H], the winner's file written
 * atomically), and the parent's side: the decision recorded in
 * the registry (RUNNING at the start, the outcome at the end), the winner registered with its
 * figures in one transaction after its file is durable, then served through the server's hook.
 */
#define _GNU_SOURCE /* SCHED_IDLE */
#include "churn/retrain.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/log.h"
#include "churn/model.h"
#include "churn/store.h"
#include "churn/trainset.h"

#define POLL_MS 100 /* how often a waiting parent looks at the stop flag */

struct churn_retrainer {
    struct churn_registry *reg;
    struct churn_retrain_options o;
    char data_dir[CHURN_REGISTRY_PATH_MAX], model_dir[CHURN_REGISTRY_PATH_MAX];
    struct churn_retrain_hooks hooks;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;                   /* (mu) */
    bool pending;                    /* (mu) a triggered run waits for the thread */
    uint64_t run_id;                 /* (mu) the run pending or in progress; 0: none */
    int64_t started_ms;              /* (mu) */
    char trigger[32];                /* (mu) */
    struct churn_retrain_stats last; /* (mu) */
};

/* What the child tells the parent (one fixed-size record through a pipe). */
enum child_verdict { VERDICT_FAILED, VERDICT_KEEP, VERDICT_PROMOTE };

struct child_result {
    enum child_verdict verdict;
    char reason[CHURN_REGISTRY_TEXT_MAX];
    uint64_t rows, positives;
    struct churn_backtest_figures candidate, champion;
    char path[CHURN_REGISTRY_PATH_MAX]; /* PROMOTE: the challenger's file */
    int64_t train_from_ms, train_until_ms;
};

/* What the parent tells the child (one fixed-size record through its stdin: the same binary
 * on both ends, so the layout is the same; the magic and size catch anything else). */
#define CHILD_REQUEST_MAGIC 0x43524554u /* "CRET" */

struct child_request {
    uint32_t magic, size;
    pid_t parent;
    uint64_t run_id;
    struct churn_retrain_options o; /* its pointers are not valid in the child: reset there */
    char data_dir[CHURN_REGISTRY_PATH_MAX], model_dir[CHURN_REGISTRY_PATH_MAX];
    char champion_path[CHURN_REGISTRY_PATH_MAX]; /* "": no model was serving */
};

void
churn_retrain_options_default(struct churn_retrain_options *o)
{
    memset(o, 0, sizeof(*o));
    o->margin = 0.005;
    o->horizon_days = 90;
    o->cutoffs = 0; /* auto, as churnctl train (churn/trainset.h) */
    o->step_days = 30;
    churn_train_options_default(&o->train);
}

/* ---- the child ---------------------------------------------------------------------------- */

static void
figures_of(const struct churn_backtest_result *r, struct churn_backtest_figures *f)
{
    f->present = true;
    f->as_of_ms = r->as_of_ms;
    f->customers = r->customers;
    f->auc = r->metrics.auc;
    f->pr_auc = r->metrics.pr_auc;
    f->mean_predicted = r->mean_predicted;
    f->realised_rate = r->realised_rate;
}

/* Backtest @m as of @as_of on the H days after it, into @f; @what names it in the reason. */
static enum churn_err
backtest(const struct child_request *rt, struct churn_store *store, const struct churn_model *m,
         int64_t as_of, int64_t now, const char *what, struct churn_backtest_figures *f,
         struct child_result *res)
{
    struct churn_backtest_options bo = {.as_of_ms = as_of,
                                        .horizon_days = rt->o.horizon_days,
                                        .inactivity_days = rt->o.inactivity_days,
                                        .observed_until_ms = now};
    struct churn_backtest_result br;
    char err[CHURN_REGISTRY_TEXT_MAX - 40];
    enum churn_err e = churn_backtest_model(store, m, &bo, NULL, NULL, &br, err, sizeof(err));
    if (e) {
        snprintf(res->reason, sizeof(res->reason), "backtest of the %s: %s", what, err);
        return e;
    }
    figures_of(&br, f);
    f->horizon_days = rt->o.horizon_days;
    return CHURN_OK;
}

/* Train on the store's labels ending before @until; the window into @res. */
static enum churn_err
train_until(const struct child_request *rt, struct churn_store *store, int64_t until,
            struct churn_model **out, struct child_result *res)
{
    struct churn_trainset_options to = {.observed_until_ms = until,
                                        .horizon_days = rt->o.horizon_days,
                                        .cutoffs = rt->o.cutoffs,
                                        .step_days = rt->o.step_days,
                                        .inactivity_days = rt->o.inactivity_days};
    struct churn_trainset_report rep;
    struct churn_dataset *ds = NULL;
    char err[CHURN_REGISTRY_TEXT_MAX - 40];
    enum churn_err e = churn_trainset_from_store(store, &to, &ds, &rep, err, sizeof(err));
    if (e) {
        snprintf(res->reason, sizeof(res->reason), "training set: %s", err);
        return e;
    }
    res->rows = rep.rows;
    res->positives = rep.positives;
    res->train_from_ms = rep.n_cutoffs ? rep.cutoff_ms[rep.n_cutoffs - 1] : 0;
    res->train_until_ms =
        rep.n_cutoffs ? rep.cutoff_ms[0] + rt->o.horizon_days * CHURN_MS_PER_DAY : 0;
    struct churn_train_report tr;
    e = churn_train(ds, &rt->o.train, out, &tr, err, sizeof(err));
    churn_dataset_free(ds);
    if (e)
        snprintf(res->reason, sizeof(res->reason), "training: %s", err);
    return e;
}

bool
churn_retrain_challenger_wins(double margin, const struct churn_backtest_figures *c,
                              const struct churn_backtest_figures *h, char *reason, size_t len)
{
    if (!c->present || !isfinite(c->auc)) {
        snprintf(reason, len, "the challenger's backtest AUC is undefined");
        return false;
    }
    if (!h) {
        snprintf(reason, len, "no model was serving: the challenger (backtest AUC %.4f) serves",
                 c->auc);
        return true;
    }
    if (!h->present || !isfinite(h->auc)) {
        snprintf(reason, len, "the serving model's backtest AUC is undefined: nothing compared");
        return false;
    }
    bool wins = c->auc > h->auc + margin;
    snprintf(reason, len, "challenger backtest AUC %.4f %s champion %.4f + margin %.4f", c->auc,
             wins ? "beats" : "does not beat", h->auc, margin);
    return wins;
}

/* The whole run of the child; @res says what happened. */
static void
child_run(const struct child_request *rt, const struct churn_model *champion,
          struct child_result *res)
{
    uint64_t run_id = rt->run_id;
    res->verdict = VERDICT_FAILED;
    struct churn_store_options so;
    churn_store_options_init(&so);
    so.read_only = true;
    struct churn_store *store;
    if (churn_store_open(rt->data_dir, &so, &store) != CHURN_OK) {
        snprintf(res->reason, sizeof(res->reason), "store: %s", churn_store_last_error());
        return;
    }
    int64_t now = churn_now_ms();
    int64_t t = now - (int64_t)(rt->o.horizon_days + 1) * CHURN_MS_PER_DAY;
    struct churn_model *cand = NULL;
    if (train_until(rt, store, t, &cand, res) ||
        backtest(rt, store, cand, t, now, "challenger", &res->candidate, res) ||
        (champion && backtest(rt, store, champion, t, now, "serving model", &res->champion, res)))
        goto out;
    res->verdict = VERDICT_KEEP;
    if (!churn_retrain_challenger_wins(rt->o.margin, &res->candidate,
                                       champion ? &res->champion : NULL, res->reason,
                                       sizeof(res->reason)))
        goto out;
    /* the model backtested is the one that serves (no refit on the newest labels): its figures
     * are its own, and at the next run it is judged out of time like its challenger */
    snprintf(res->path, sizeof(res->path), "%.900s/retrain-%llu-%lld.json", rt->model_dir,
             (unsigned long long)run_id, (long long)now);
    char err[CHURN_REGISTRY_TEXT_MAX - 40];
    if (churn_model_save_file(cand, res->path, err, sizeof(err)) != CHURN_OK) {
        res->verdict = VERDICT_FAILED;
        snprintf(res->reason, sizeof(res->reason), "writing the model: %s", err);
        goto out;
    }
    res->verdict = VERDICT_PROMOTE;
out:
    churn_model_unref(cand);
    churn_store_close(store);
}

/* @len bytes from @fd into @p (short only at end of file or on an error). */
static size_t
read_full(int fd, void *p, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)p + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* @len bytes from @p to @fd; false on an error. */
static bool
write_full(int fd, const void *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p = (const char *)p + w;
        len -= (size_t)w;
    }
    return true;
}

int
churn_retrain_child_main(void)
{
    static struct child_request rq;
    static struct child_result res;
    if (read_full(0, &rq, sizeof(rq)) != sizeof(rq) || rq.magic != CHILD_REQUEST_MAGIC ||
        rq.size != sizeof(rq)) {
        fputs("churnd: " CHURN_RETRAIN_CHILD_ARG ": no valid request on stdin (this mode is "
              "churnd's own retraining process)\n",
              stderr);
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != rq.parent)
        return 1; /* the server died before the signal was armed */
    rq.o.data_dir = rq.data_dir;
    rq.o.model_dir = rq.model_dir;
    rq.o.train.monotone = NULL;
    rq.o.train.n_monotone = 0;
    struct churn_model *champion = NULL;
    char err[CHURN_REGISTRY_TEXT_MAX - 40];
    res.verdict = VERDICT_FAILED;
    if (rq.champion_path[0] &&
        churn_model_load_file(rq.champion_path, &champion, err, sizeof(err)) != CHURN_OK)
        snprintf(res.reason, sizeof(res.reason), "reading the serving model: %s", err);
    else
        child_run(&rq, champion, &res);
    churn_model_unref(champion);
    return write_full(1, &res, sizeof(res)) ? 0 : 1;
}

/* ---- the parent --------------------------------------------------------------------------- */

static bool
stopping(struct churn_retrainer *rt)
{
    pthread_mutex_lock(&rt->mu);
    bool s = rt->stopping;
    pthread_mutex_unlock(&rt->mu);
    return s;
}

/* The anonymous resident memory of @pid in KiB (its heap: mapped store pages excluded). */
static long
rss_anon_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "RssAnon:", 8) == 0)
            kb = strtol(line + 8, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

/* Read the child's record from @fd, killing @pid on stop, sampling its anonymous memory into
 * @peak_anon_kb. Returns the bytes read (less than the record: none). */
static size_t
await_child(struct churn_retrainer *rt, pid_t pid, int fd, struct child_result *res,
            bool *cancelled, long *peak_anon_kb)
{
    size_t got = 0;
    while (got < sizeof(*res)) {
        long kb = rss_anon_kb(pid);
        if (kb > *peak_anon_kb)
            *peak_anon_kb = kb;
        if (stopping(rt)) {
            kill(pid, SIGKILL);
            *cancelled = true;
            break;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, POLL_MS);
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        ssize_t n = read(fd, (char *)res + got, sizeof(*res) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the child exited (or died) */
        got += (size_t)n;
    }
    return got;
}

/* Register and serve the winner of @res; the decision @d says what happened. */
static void
promote(struct churn_retrainer *rt, const struct child_result *res,
        struct churn_retrain_decision *d)
{
    struct churn_model_file_id fid;
    char err[CHURN_REGISTRY_TEXT_MAX];
    uint32_t id = 0;
    enum churn_err e = churn_model_file_identify(res->path, &fid, err, sizeof(err));
    if (!e) {
        fid.train_from_ms = res->train_from_ms;
        fid.train_until_ms = res->train_until_ms;
        e = churn_registry_add(rt->reg, res->path, &fid, CHURN_ORIGIN_RETRAIN, churn_now_ms(),
                               &res->candidate, &id);
        if (e)
            snprintf(err, sizeof(err), "registering the model: %s", churn_strerror(e));
    }
    d->candidate_id = id;
    if (!e)
        e = rt->hooks.serve(rt->hooks.user, res->path, id, err, sizeof(err));
    if (e) {
        d->outcome = CHURN_RETRAIN_FAILED;
        snprintf(d->reason, sizeof(d->reason), "%.120s; but the new model was refused: %.100s",
                 res->reason, err);
        return;
    }
    d->outcome = CHURN_RETRAIN_PROMOTED;
}

static void
log_decision(const struct churn_retrain_decision *d, const struct churn_retrain_stats *st)
{
    churn_log(d->outcome == CHURN_RETRAIN_FAILED ? CHURN_LOG_WARN : CHURN_LOG_INFO,
              "retrain_decision", CHURN_LF_INT("run", (int64_t)d->run_id),
              CHURN_LF_STR("outcome", churn_retrain_outcome_name(d->outcome)),
              CHURN_LF_STR("trigger", d->trigger), CHURN_LF_INT("candidate_id", d->candidate_id),
              CHURN_LF_INT("champion_id", d->champion_id),
              CHURN_LF_DBL("candidate_auc", d->candidate.present ? d->candidate.auc : NAN),
              CHURN_LF_DBL("champion_auc", d->champion.present ? d->champion.auc : NAN),
              CHURN_LF_INT("rows", (int64_t)d->training_rows), CHURN_LF_DBL("seconds", st->seconds),
              CHURN_LF_INT("child_maxrss_kb", st->child_maxrss_kb),
              CHURN_LF_INT("child_peak_anon_kb", st->child_peak_anon_kb),
              CHURN_LF_STR("reason", d->reason));
}

/* Fill @d from the child's @res (or its absence) and act on it. */
static void
decide(struct churn_retrainer *rt, const struct child_result *res, bool complete, bool cancelled,
       int status, struct churn_retrain_decision *d)
{
    if (cancelled) {
        d->outcome = CHURN_RETRAIN_CANCELLED;
        snprintf(d->reason, sizeof(d->reason), "stopped by shutdown: nothing changed");
        return;
    }
    if (!complete) {
        d->outcome = CHURN_RETRAIN_FAILED;
        snprintf(d->reason, sizeof(d->reason), "the retraining process died (%s %d)",
                 WIFSIGNALED(status) ? "signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        return;
    }
    d->candidate = res->candidate;
    d->champion = res->champion;
    d->training_rows = res->rows;
    d->positives = res->positives;
    snprintf(d->reason, sizeof(d->reason), "%s", res->reason);
    if (res->verdict == VERDICT_PROMOTE)
        promote(rt, res, d);
    else
        d->outcome =
            res->verdict == VERDICT_KEEP ? CHURN_RETRAIN_KEPT_CHAMPION : CHURN_RETRAIN_FAILED;
}

/* The child's request for run @d into @rq; the model serving now, if any, is written beside
 * the models for the child to read. False with the reason in @d on an error. */
static bool
request_of(struct churn_retrainer *rt, struct churn_retrain_decision *d, struct child_request *rq)
{
    memset(rq, 0, sizeof(*rq));
    rq->magic = CHILD_REQUEST_MAGIC;
    rq->size = sizeof(*rq);
    rq->parent = getpid();
    rq->run_id = d->run_id;
    rq->o = rt->o;
    snprintf(rq->data_dir, sizeof(rq->data_dir), "%s", rt->data_dir);
    snprintf(rq->model_dir, sizeof(rq->model_dir), "%s", rt->model_dir);
    struct churn_model *champion = rt->hooks.champion(rt->hooks.user);
    d->champion_id = champion ? churn_registry_served_id(rt->reg) : 0;
    if (!champion)
        return true;
    snprintf(rq->champion_path, sizeof(rq->champion_path), "%.900s/.serving-for-run-%llu.json",
             rt->model_dir, (unsigned long long)d->run_id);
    char err[CHURN_REGISTRY_TEXT_MAX - 80];
    enum churn_err e = churn_model_save_file(champion, rq->champion_path, err, sizeof(err));
    churn_model_unref(champion);
    if (e) {
        rq->champion_path[0] = '\0';
        snprintf(d->reason, sizeof(d->reason), "handing the serving model to the child: %s", err);
    }
    return !e;
}

/* In the forked child, before exec (system calls only: the parent's other threads may hold
 * any lock): @in as stdin, @out as stdout, nothing else open but stderr, nice 19 and
 * SCHED_IDLE, no blocked signals, then this executable again in its retraining mode. */
static void __attribute__((noreturn)) exec_child(int in, int out)
{
    int i = fcntl(in, F_DUPFD, 3), o = fcntl(out, F_DUPFD, 3);
    if (i < 0 || o < 0 || dup2(i, 0) < 0 || dup2(o, 1) < 0)
        _exit(127);
    close_range(3, ~0u, 0);
    setpriority(PRIO_PROCESS, 0, 19);
    struct sched_param sp = {.sched_priority = 0};
    sched_setscheduler(0, SCHED_IDLE, &sp);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    char *argv[] = {"churnd-retrain", CHURN_RETRAIN_CHILD_ARG, NULL};
    execv("/proc/self/exe", argv); /* the running binary, even if replaced on disk since */
    _exit(127);
}

/* Start the retraining process for @rq. Returns its pid with its stdout in *@fd, or -1 with
 * the reason in @why. */
static pid_t
spawn_child(const struct child_request *rq, int *fd, char *why, size_t whylen)
{
    int in[2], out[2];
    pid_t pid = -1;
    if (pipe2(in, O_CLOEXEC) != 0)
        goto fail;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        goto fail;
    }
    if ((pid = fork()) == 0)
        exec_child(in[0], out[1]);
    int saved = errno;
    close(in[0]);
    close(out[1]);
    if (pid > 0)
        write_full(in[1], rq, sizeof(*rq)); /* short: the child says so and exits */
    close(in[1]);
    if (pid > 0) {
        *fd = out[0];
        return pid;
    }
    close(out[0]);
    errno = saved;
fail:
    snprintf(why, whylen, "cannot start the retraining process: %s", strerror(errno));
    return -1;
}

/* One run, start to decision. */
static void
run(struct churn_retrainer *rt, struct churn_retrain_decision *d)
{
    int64_t t0 = churn_mono_ns();
    d->margin = rt->o.margin;
    static struct child_request rq;
    static struct child_result res;
    memset(&res, 0, sizeof(res));
    bool cancelled = false, complete = false;
    int status = 0, fd = -1;
    long peak_anon = 0;
    struct rusage ru = {0};
    mkdir(rt->model_dir, 0750);
    pid_t pid = -1;
    if (request_of(rt, d, &rq))
        pid = spawn_child(&rq, &fd, d->reason, sizeof(d->reason));
    if (pid < 0) {
        d->outcome = CHURN_RETRAIN_FAILED;
    } else {
        complete = await_child(rt, pid, fd, &res, &cancelled, &peak_anon) == sizeof(res);
        close(fd);
        while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
            ;
        decide(rt, &res, complete, cancelled, status, d);
    }
    if (rq.champion_path[0])
        unlink(rq.champion_path);
    d->finished_ms = churn_now_ms();
    struct churn_retrain_stats st = {
        .run_id = d->run_id,
        .outcome = d->outcome,
        .seconds = (double)(churn_mono_ns() - t0) / 1e9,
        .child_maxrss_kb = ru.ru_maxrss,
        .child_cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
        .child_peak_anon_kb = peak_anon};
    /* the decision and the end of the run in one step: a caller who reads the decision can
       start the next run at once (RetrainModel is refused only while a run is in progress) */
    pthread_mutex_lock(&rt->mu);
    if (churn_registry_record_decision(rt->reg, d) != CHURN_OK)
        churn_log(CHURN_LOG_WARN, "retrain_decision_not_recorded",
                  CHURN_LF_INT("run", (int64_t)d->run_id),
                  CHURN_LF_STR("error", churn_store_last_error()));
    rt->last = st;
    rt->pending = false;
    rt->run_id = 0;
    pthread_mutex_unlock(&rt->mu);
    log_decision(d, &st);
}

/* Claim a run (mu held): a new run id and its RUNNING decision. */
static enum churn_err
claim_locked(struct churn_retrainer *rt, const char *trigger)
{
    struct churn_retrain_decision d = {.run_id = churn_registry_next_run_id(rt->reg),
                                       .started_ms = churn_now_ms(),
                                       .outcome = CHURN_RETRAIN_RUNNING,
                                       .margin = rt->o.margin};
    snprintf(d.trigger, sizeof(d.trigger), "%s", trigger);
    snprintf(d.reason, sizeof(d.reason), "running");
    enum churn_err e = churn_registry_record_decision(rt->reg, &d);
    if (e)
        return e;
    rt->pending = true;
    rt->run_id = d.run_id;
    rt->started_ms = d.started_ms;
    snprintf(rt->trigger, sizeof(rt->trigger), "%s", trigger);
    return CHURN_OK;
}

static void *
thread_main(void *arg)
{
    struct churn_retrainer *rt = arg;
    pthread_setname_np(pthread_self(), "churn-retrain");
    int64_t due = rt->o.every_ms ? churn_now_ms() + rt->o.every_ms : 0;
    pthread_mutex_lock(&rt->mu);
    while (!rt->stopping) {
        if (!rt->pending && due && churn_now_ms() >= due) {
            due = churn_now_ms() + rt->o.every_ms;
            if (claim_locked(rt, "schedule") != CHURN_OK)
                churn_log(CHURN_LOG_WARN, "retrain_not_started",
                          CHURN_LF_STR("error", churn_store_last_error()));
        }
        if (rt->pending) {
            struct churn_retrain_decision d = {.run_id = rt->run_id, .started_ms = rt->started_ms};
            snprintf(d.trigger, sizeof(d.trigger), "%s", rt->trigger);
            pthread_mutex_unlock(&rt->mu);
            run(rt, &d); /* ends the run (pending, run_id) with its decision */
            pthread_mutex_lock(&rt->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&rt->cv, &rt->mu, &ts);
    }
    pthread_mutex_unlock(&rt->mu);
    return NULL;
}

/* A decision left RUNNING by a process that stopped mid-run is closed as FAILED. */
static void
close_interrupted(struct churn_registry *reg)
{
    struct churn_registry_view *v = churn_malloc(sizeof(*v));
    if (!v)
        return;
    churn_registry_snapshot(reg, v);
    for (size_t i = 0; i < v->n_decisions; i++) {
        struct churn_retrain_decision d = v->decisions[i];
        if (d.outcome != CHURN_RETRAIN_RUNNING)
            continue;
        d.outcome = CHURN_RETRAIN_FAILED;
        snprintf(d.reason, sizeof(d.reason),
                 "interrupted: churnd stopped during the run; nothing changed");
        churn_registry_record_decision(reg, &d);
    }
    churn_free(v);
}

enum churn_err
churn_retrainer_start(struct churn_registry *reg, const struct churn_retrain_options *o,
                      const struct churn_retrain_hooks *hooks, struct churn_retrainer **out,
                      char *err, size_t errlen)
{
    struct churn_retrainer *rt = churn_calloc(1, sizeof(*rt));
    if (!rt)
        return churn_fail(err, errlen, CHURN_ENOMEM, "out of memory");
    rt->reg = reg;
    rt->o = *o;
    rt->hooks = *hooks;
    snprintf(rt->data_dir, sizeof(rt->data_dir), "%s", o->data_dir);
    snprintf(rt->model_dir, sizeof(rt->model_dir), "%s", o->model_dir);
    rt->o.data_dir = rt->data_dir;
    rt->o.model_dir = rt->model_dir;
    close_interrupted(reg);
    pthread_mutex_init(&rt->mu, NULL);
    pthread_cond_init(&rt->cv, NULL);
    if (pthread_create(&rt->thread, NULL, thread_main, rt) != 0) {
        pthread_mutex_destroy(&rt->mu);
        pthread_cond_destroy(&rt->cv);
        churn_free(rt);
        return churn_fail(err, errlen, CHURN_ENOMEM, "cannot start the retraining thread");
    }
    *out = rt;
    return CHURN_OK;
}

enum churn_err
churn_retrainer_trigger(struct churn_retrainer *rt, const char *trigger, uint64_t *run_id,
                        int64_t *started_ms, char *err, size_t errlen)
{
    pthread_mutex_lock(&rt->mu);
    enum churn_err e = CHURN_OK;
    if (rt->run_id) {
        char when[40];
        churn_format_time_ms(rt->started_ms, when, sizeof(when));
        e = churn_fail(err, errlen, CHURN_EPRECOND,
                       "retraining run %llu (%s) is in progress since %s: one run at a time",
                       (unsigned long long)rt->run_id, rt->trigger, when);
    } else if (rt->stopping) {
        e = churn_fail(err, errlen, CHURN_EUNAVAIL, "churnd is stopping");
    } else if ((e = claim_locked(rt, trigger))) {
        churn_fail(err, errlen, e, "cannot record the run: %s", churn_store_last_error());
    } else {
        *run_id = rt->run_id;
        *started_ms = rt->started_ms;
        pthread_cond_signal(&rt->cv);
    }
    pthread_mutex_unlock(&rt->mu);
    return e;
}

void
churn_retrainer_last(struct churn_retrainer *rt, struct churn_retrain_stats *out)
{
    pthread_mutex_lock(&rt->mu);
    *out = rt->last;
    pthread_mutex_unlock(&rt->mu);
}

void
churn_retrainer_stop(struct churn_retrainer *rt)
{
    if (!rt)
        return;
    pthread_mutex_lock(&rt->mu);
    rt->stopping = true;
    pthread_cond_signal(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
    pthread_join(rt->thread, NULL);
    /* a run claimed but never started is closed too */
    close_interrupted(rt->reg);
    pthread_mutex_destroy(&rt->mu);
    pthread_cond_destroy(&rt->cv);
    churn_free(rt);
}
