/*
 * service/alert_engine.h - what the three files of the alert engine share: the engine
 * struct, the per-customer state blob, and the steps each file needs from the others.
 * alerting.c owns the engine thread, the log (append, state, publish under log_mu), chat
 * jobs and the fan-out to watchers; rescore.c owns the de-duplicated rescore queue, the
 * batched rescoring (one durable state write per batch) and the wake-up of snoozed alerts;
 * sweep.c owns the periodic sweep thread that feeds every customer to the rescore queue.
 */
#ifndef CHURN_SERVICE_ALERT_ENGINE_H
#define CHURN_SERVICE_ALERT_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "churn/alerts.h"
#include "churn/alert_rules.h"
#include "churn/alerts_hub.h"
#include "churn/alerts_playbook.h"
#include "churn/arena.h"
#include "churn/features.h"
#include "churn/snapshot.h"
#include "churn/store.h"
#include "churn/engine.h"

#define CHURN__JOB_QUEUE_CAP     4096u  /* chat jobs waiting for the engine (~3 MiB) */
#define CHURN__RESCORE_QUEUE_CAP 32768u /* customers waiting for a rescore (4 MiB of ids) */
#define CHURN__RESCORE_PENDING   (2u * CHURN__RESCORE_QUEUE_CAP) /* hash set, half full at most */
#define CHURN__RESCORE_BATCH     64u     /* customers rescored per durable state write */
#define CHURN__WAKE_MAX          16384u  /* snoozes remembered for an on-time wake-up */
#define CHURN__RESCORE_WINDOW    24u     /* "in 180 days" */
#define CHURN__SAMPLE_MAX        200000u /* scores sampled per sweep for the tier cut-offs */

/* What a chat alert job knows of its customer's score already (the turn's own score), so
 * the engine does not score again. */
struct churn__job_score {
    bool have;
    double probability, value;
    enum churn_tier risk_tier, value_tier;
    size_t n_reasons;
    struct {
        char name[CHURN_ALERT_NAME_MAX];
        char label[CHURN_ALERT_LABEL_MAX];
        double value, contribution;
    } reasons[CHURN_ALERT_MAX_REASONS];
};

#define CHURN__PRESCORED_MAX 64u /* scores offered for the next rescore of their customer */

struct churn__alert_job {
    struct churn__job_score score;
    char customer_id[CHURN_ALERT_ID_MAX];
    enum churn_alert_cause cause;
    char reason[CHURN_ALERT_NAME_MAX];
    char evidence[CHURN_ALERT_TEXT_MAX];
    double confidence;
    churn__chat_alert_done_fn *done; /* told once the alert is durable (or failed) */
    void *done_ctx;
    struct churn__chat_turn_put *turn; /* committed with the alert (NULL: none) */
};

struct churn__wake {
    char customer_id[CHURN_ALERT_ID_MAX];
    int64_t at_ms;
};

struct churn__sweep_stats {
    uint64_t runs;       /* sweeps finished */
    uint64_t customers;  /* customers fed by the last (or running) sweep */
    int64_t started_ms;  /* of the running or last sweep (0: never) */
    int64_t duration_ms; /* of the last finished sweep */
    bool running;
};

struct churn__alerts {
    struct churn_alert_engine_config cfg; /* (copied at start) */
    struct churn_store *store;
    struct churn_alert_hub *hub;
    struct churn_alert_index *index; /* current revisions, for ListAlerts */
    struct churn_playbook_registry *playbooks;
    struct churn_alert_rules_config rules;

    pthread_mutex_t log_mu;  /* append, state and publish: one change at a time, in order */
    struct churn_alert work; /* (log_mu) the alert being built */

    pthread_mutex_t mu; /* the fields below */
    pthread_cond_t cv;  /* wakes the engine */
    pthread_t thread;
    bool started;
    bool stop;
    bool fanout;                   /* some watcher is pending */
    struct churn__alert_job *jobs; /* ring of CHURN__JOB_QUEUE_CAP chat jobs */
    size_t job_head, n_jobs;
    struct churn_alert_listener *listeners; /* doubly linked */
    size_t dropped;                         /* chat jobs refused because the queue was full */

    /* rescore queue (mu) */
    char (*rq)[CHURN_ALERT_ID_MAX]; /* ring of CHURN__RESCORE_QUEUE_CAP ids */
    size_t rq_head, rq_n;
    uint64_t *pending;           /* hashes of the queued ids (CHURN__RESCORE_PENDING slots) */
    pthread_cond_t space_cv;     /* the sweep waits here for room in the queue */
    uint64_t rescores_dropped;   /* refused: queue full */
    uint64_t rescores_coalesced; /* already queued for the customer */
    uint64_t rescores_done;      /* taken by the engine */
    uint64_t rescores_finished;  /* scored and stored (or failed): the sweep waits for these */
    int64_t dropped_logged_ms;   /* last rescore_queue_full warning */
    struct churn__wake wakes[CHURN__WAKE_MAX]; /* snoozed alerts to wake on time */
    size_t n_wakes;
    int64_t next_wake_ms; /* earliest wakes[].at_ms (INT64_MAX: none) */
    /* scores already computed for a queued rescore (a chat turn's): used instead of scoring
     * again, dropped when a plain rescore of the customer is queued after them */
    struct churn_score *prescored[CHURN__PRESCORED_MAX];
    size_t n_prescored;

    /* the sweep (sweep.c) */
    int64_t sweep_interval_ms; /* 0: no sweep */
    int64_t sweep_delay_ms;    /* before the first sweep */
    pthread_t sweep_thread;
    bool sweep_started;
    pthread_cond_t sweep_cv;         /* (mu) wakes the sweep thread on stop */
    struct churn__sweep_stats sweep; /* (mu) */
    /* scores seen while a sweep runs, reservoir-sampled for the tier cut-offs (mu) */
    double *sample_p, *sample_v;
    size_t sample_n; /* filled slots */
    uint64_t sample_seen;
    uint64_t sample_rng;

    _Atomic uint64_t alerts_committed; /* log entries written (for progress reports) */

    /* rescoring: feature labels of the catalogue (immutable after start) */
    char windows[CHURN_FEAT__COUNT][CHURN__RESCORE_WINDOW];
    struct churn_feature_label labels[CHURN_FEAT__COUNT];
};

/* The customer's alert state as loaded: per-cause states and the last score snapshot (the
 * encoded bytes, in the caller's arena or buffer; NULL when there is none). */
struct churn__state_set {
    struct churn_alert_state st[CHURN_CAUSE_COUNT];
    bool have[CHURN_CAUSE_COUNT];
    const uint8_t *snap;
    size_t snap_len;
};

/* ---- alerting.c ---- */

/** churn__alerts_load_states() - @customer_id's state set (empty when none), bytes in @a. */
enum churn_err churn__alerts_load_states(struct churn__alerts *al, const char *customer_id,
                                         struct churn_arena *a, struct churn__state_set *set);

/** churn__alerts_encode_states() - @set as the stored blob, in @a; NULL when @a is full. */
uint8_t *churn__alerts_encode_states(const struct churn__state_set *set, struct churn_arena *a,
                                     size_t *len);

/** churn__daily_snapshot() - at the end of a sweep: today's aggregate snapshot, once a day
 * (daily_snapshot.c; issue 15). */
void churn__daily_snapshot(struct churn__alerts *al);

#define CHURN__COMMIT_BATCH_MAX 64

/* One change of a batch commit: the revision to append and its customer's state set. */
struct churn__commit_item {
    struct churn_alert *work;     /* sequence (and id when new) are set by the commit */
    struct churn__state_set *set; /* recorded with the change and stored */
    bool is_new;
    struct churn__chat_turn_put *turn; /* an escalating turn committed with it (NULL: none) */
};

/**
 * churn__alerts_commit_batch_locked() - append @n (at most CHURN__COMMIT_BATCH_MAX) changes
 * and their customers' states in ONE durable transaction, then publish and index each in
 * order. No two items may share a customer. All or nothing. log_mu held.
 */
enum churn_err churn__alerts_commit_batch_locked(struct churn__alerts *al,
                                                 struct churn__commit_item *items, size_t n,
                                                 struct churn_arena *a);

/**
 * churn__alerts_commit_locked() - append al->work (a new alert when @is_new) to the log,
 * record it in @set, store the state (@a holds the encoding), publish. log_mu held.
 */
enum churn_err churn__alerts_commit_locked(struct churn__alerts *al, bool is_new,
                                           struct churn__state_set *set, struct churn_arena *a);

/**
 * churn__alerts_trigger_locked() - a trigger @fresh (customer, cause, score, reasons...):
 * decide with the rules and @set (the customer's loaded state) whether it raises a new alert,
 * updates the open one or is suppressed (cooldown, update interval, snooze), then commit and
 * publish. log_mu held; al->work is the alert written.
 */
enum churn_err churn__alerts_trigger_locked(struct churn__alerts *al,
                                            const struct churn_alert *fresh,
                                            struct churn__state_set *set, int64_t now,
                                            struct churn_arena *a);

struct churn_score;
/** churn__rescore_take_prescored() - the score offered for @customer_id (the caller frees it
 * with churn_free), or NULL. */
struct churn_score *churn__rescore_take_prescored(struct churn__alerts *al,
                                                  const char *customer_id);

/** churn__alert_add_score_reasons() - @sc's top reasons on @alert (as many as fit). */
void churn__alert_add_score_reasons(struct churn_alert *alert, const struct churn_score *sc);

/** churn__alerts_apply_playbook() - the playbook's action, owner and due date for @alert. */
void churn__alerts_apply_playbook(struct churn__alerts *al, struct churn_alert *alert, int64_t now);

/* ---- rescore.c ---- */

/** churn__rescore_take_locked() - pop up to @max queued ids into @ids (al->mu held). */
size_t churn__rescore_take_locked(struct churn__alerts *al, char (*ids)[CHURN_ALERT_ID_MAX],
                                  size_t max);

/** churn__rescore_due_wakes_locked() - queue rescores of customers whose snooze ended. */
void churn__rescore_due_wakes_locked(struct churn__alerts *al, int64_t now);

/**
 * churn__rescore_batch() - rescore @n customers: score each (no lock), then under log_mu
 * compare with the previous snapshots, raise / update / auto-close TIER_WORSENED and
 * PROBABILITY_JUMP alerts, wake snoozed alerts whose time has come, and store every new
 * snapshot in ONE durable write. @a is the engine's scratch arena, @fresh a scratch alert.
 */
void churn__rescore_batch(struct churn__alerts *al, char (*ids)[CHURN_ALERT_ID_MAX], size_t n,
                          struct churn_arena *a, struct churn_alert *fresh);

/**
 * churn__rescore_enqueue_wait() - queue @n ids for rescoring, waiting while the queue is
 * more than half full (the sweep: it must leave room for ingestion). Returns false when the
 * engine is stopping.
 */
bool churn__rescore_enqueue_wait(struct churn__alerts *al, char (*ids)[CHURN_ALERT_ID_MAX],
                                 size_t n);

/**
 * churn__alerts_owned_only() - keep the ids of @ids[0..@n) this churnd serves (cfg.owns; issue
 * 16: never a moved customer's old copy), in order; returns how many are left.
 */
size_t churn__alerts_owned_only(struct churn__alerts *al, char (*ids)[CHURN_ALERT_ID_MAX],
                                size_t n);

/** churn__alerts_note_snooze() - remember to wake @customer_id's snoozed alert at @until_ms. */
void churn__alerts_note_snooze(struct churn__alerts *al, const char *customer_id, int64_t until_ms);

/** churn__rescore_init() / _fini() - the queue's memory (before the thread starts). */
enum churn_err churn__rescore_init(struct churn__alerts *al);
void churn__rescore_fini(struct churn__alerts *al);

/* ---- sweep.c ---- */

/** churn__segments_start() - the cut-offs in force at start: the store's last computed ones
 * (meta "segments") where the configuration computes them, else its thresholds. */
void churn__segments_start(struct churn__alerts *al);

/** churn__segments_sample_locked() - offer one score to the sweep's sample (al->mu held). */
void churn__segments_sample_locked(struct churn__alerts *al, double p, double value);

/** churn__sweep_start() - start the sweep thread when al->sweep_interval_ms > 0. */
enum churn_err churn__sweep_start(struct churn__alerts *al);

/** churn__sweep_stop() - stop and join it (al->stop must be set and signalled first). */
void churn__sweep_stop(struct churn__alerts *al);

/**
 * churn__alerts_record_action_call() - issue 15: the playbook webhook @dest accepted the action
 * of alert @id (HTTP @http_status, @attempts attempts, at @at_ms): an ACTION_CALLED revision,
 * logged (action_called); a call already recorded is left as it is. Any thread.
 */
void churn__alerts_record_action_call(struct churn__alerts *al, const char *dest, uint64_t id,
                                      int http_status, unsigned attempts, int64_t at_ms);

#endif
