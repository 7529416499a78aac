/*
 * churn/retrain.h - the model that keeps learning: champion/challenger retraining inside
 * churnd. A run builds a training set from the live store with labels that end H days before
 * now (T = now - H), trains a challenger on it, backtests the challenger AND the serving model
 * on the same window (scores as of T, truth in (T, now]) and, only when the challenger's AUC
 * beats the champion's by the margin, writes the challenger (the very model backtested, not a
 * refit: its figures are its own, and at the next run it is judged out of time exactly like its
 * challenger) atomically to the model directory, registers it with its backtest figures in one
 * transaction and asks the server to serve it. Every decision is recorded in the
 * registry and logged. Anything that fails, or a challenger that is not better, changes
 * nothing.
 *
 * The work runs in a child process (fork) at the lowest priority (nice 19, SCHED_IDLE), which
 * opens the store read-only through the store API: serving and ingestion are never blocked (an
 * LMDB reader does not block the writer), a SIGTERM stops a run at once (the child is killed),
 * the child dies with churnd (PR_SET_PDEATHSIG), and its peak memory is measured (wait4).
 */
#ifndef CHURN_RETRAIN_H
#define CHURN_RETRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"
#include "churn/registry.h"
#include "churn/train.h"

struct churn_model;
struct churn_retrainer;

struct churn_retrain_options {
    const char *data_dir;  /* the store's directory (the child opens it read-only) */
    const char *model_dir; /* where models are written (created if missing) */
    int64_t every_ms;      /* 0: only on demand */
    double margin;         /* AUC the challenger must beat the champion by */
    int horizon_days, cutoffs, step_days, inactivity_days;
    struct churn_train_options train;
};

/* What the retrainer needs from the server; the engine never sees the service. */
struct churn_retrain_hooks {
    /* one reference to the model serving now (NULL: none); the retrainer drops it */
    struct churn_model *(*champion)(void *user);
    /* serve the model file at @path (already registered as @id): load, swap, record it as
     * serving. The reason of a refusal goes into @err. */
    enum churn_err (*serve)(void *user, const char *path, uint32_t id, char *err, size_t errlen);
    void *user;
};

/* What a finished run reports (also the last one's, for the benchmark). */
struct churn_retrain_stats {
    uint64_t run_id;
    enum churn_retrain_outcome outcome;
    double seconds;          /* wall time of the run */
    double child_cpu_s;      /* CPU time of the child (user + system): its cost at any load */
    long child_maxrss_kb;    /* peak resident memory of the child (with the store pages it read) */
    long child_peak_anon_kb; /* its peak anonymous memory (heap), sampled every 100 ms */
};

/** churn_retrain_options_default() - off, margin 0.005, 90-day horizon, automatic cutoffs 30
 * days apart (cutoffs 0, as churn_trainset_options_default()), explicit churn only, the trainer's
 * defaults (churn_train_options_default()). */
void churn_retrain_options_default(struct churn_retrain_options *o);

/**
 * churn_retrain_challenger_wins() - the promotion rule: true when there is no champion (@h
 * NULL) and the challenger @c has a defined AUC, or when c->auc > h->auc + @margin. Never true
 * when either AUC is undefined. @reason gets the comparison in words
 * ("challenger backtest AUC 0.7012 does not beat champion 0.7100 + margin 0.0050").
 */
bool churn_retrain_challenger_wins(double margin, const struct churn_backtest_figures *c,
                                   const struct churn_backtest_figures *h, char *reason,
                                   size_t len);

/**
 * churn_retrainer_start() - the retraining thread for @reg (borrowed) with @o (copied) and
 * @hooks (copied). A decision left RUNNING by a process that died is closed as FAILED.
 * @out: OUT: churn_retrainer_stop().
 */
enum churn_err churn_retrainer_start(struct churn_registry *reg,
                                     const struct churn_retrain_options *o,
                                     const struct churn_retrain_hooks *hooks,
                                     struct churn_retrainer **out, char *err, size_t errlen);

/**
 * churn_retrainer_trigger() - start a run now (@trigger: "rpc", "schedule"). @run_id and
 * @started_ms: OUT. CHURN_EPRECOND when a run is in progress (@err names it and when it
 * started).
 */
enum churn_err churn_retrainer_trigger(struct churn_retrainer *rt, const char *trigger,
                                       uint64_t *run_id, int64_t *started_ms, char *err,
                                       size_t errlen);

/** churn_retrainer_last() - the last finished run (run_id 0: none yet). */
void churn_retrainer_last(struct churn_retrainer *rt, struct churn_retrain_stats *out);

/* argv[1] that makes churnd its own retraining process (churn_retrain_child_main()). */
#define CHURN_RETRAIN_CHILD_ARG "--internal-retrain-child"

/**
 * churn_retrain_child_main() - the whole life of a retraining process. The retrainer starts one
 * per run by re-executing the running binary (/proc/self/exe) with CHURN_RETRAIN_CHILD_ARG as
 * argv[1], so the executable that calls churn_retrainer_start() must call this first thing in
 * main() for that argument. A fresh image: none of the server's threads, locks or allocator
 * state crosses into the child (a fork alone could inherit a lock another thread held). Reads
 * its request from stdin, writes its result to stdout (both pipes to the retraining thread),
 * and dies with that thread. Return: the exit status (2: no valid request on stdin).
 */
int churn_retrain_child_main(void);

/**
 * churn_retrainer_stop() - cancel a run in progress (its child is killed; the decision says
 * CANCELLED, nothing else changes), stop the thread, free. NULL is a no-op.
 */
void churn_retrainer_stop(struct churn_retrainer *rt);

#endif
