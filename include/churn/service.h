/*
 * churn/service.h - the service layer: the declarative method table of every RPC churnd
 * serves, and the shared context its handlers run with (health registry, reflection index,
 * and, as they arrive, the store, the model and the analyzer).
 *
 * Handlers see protobuf-c messages and domain structs only; the transport runs the table.
 */
#ifndef CHURN_SERVICE_H
#define CHURN_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "churn/error.h"
#include "churn/health.h"
#include "churn/reflection.h"
#include "churn/rpc.h"
#include "churn/segments.h"
#include "churn/alert_rules.h"

struct churn_store;
struct churn_store_writer;
struct churn_scorer;
struct churn_sentiment;
struct churn__chat_saver;
struct churn__alerts;
struct churn__models;
struct churn_retrainer;
struct churn_retrain_options;
struct churn_delivery_config;
struct churn_shard;
struct churn_delivery;
struct churn__admin;
struct churn_score_index;
struct churn_score_builder;
struct churn_answer_cache;

struct churn_services {
    struct churn_health *health;
    struct churn_reflection *reflection;
    struct churn_method *methods; /* the table, with .service pointing here */
    size_t n_methods;
    const char **service_names; /* distinct "pkg.Service" names, in table order */
    size_t n_service_names;
    /* domain state, set by the daemon once opened (NULL before: handlers answer UNAVAILABLE) */
    struct churn_store *store;
    struct churn_store_writer *writer;
    struct churn_scorer *scoring;         /* the served model and scoring (engine) */
    struct churn_sentiment *sentiment;    /* the chat analyzer; NULL until loaded */
    struct churn__chat_saver *chat_saver; /* conversation states to the store (internal) */
    struct churn__alerts *alerts;         /* the alert engine while the store is attached */
    struct churn__models *models;         /* the model registry while the store is attached */
    struct churn_retrainer *retrainer;    /* scheduled and on-demand retraining (engine) */
    struct churn__admin *admin;           /* backups: AdminService and the schedule */
    /* alert engine settings, read when the store is attached */
    int64_t sweep_interval_ms;  /* rescore every customer this often (0: never) */
    int64_t sweep_delay_ms;     /* the first sweep this long after the store is attached */
    const char *playbooks_path; /* NULL or "": the built-in default playbooks */
    /* risk and value tiering (NULL: thresholds 0.5/0.2 and values 2,000/500); top-share
     * modes are computed from each sweep's scores (struct churn_segment_config) */
    const struct churn_segment_config *segments;
    /* the alert rules (NULL: churn_alert_rules_config_default) */
    const struct churn_alert_rules_config *alert_rules;
    /* a chat conversation reuses its customer's score for this long while the stored record,
     * the model and the tier cuts are unchanged (0: score every customer turn) */
    int64_t chat_score_reuse_ms;
    /* alert delivery (webhooks, e-mail): the destinations (NULL: none), started with the
     * alert engine when the store is attached */
    const struct churn_delivery_config *delivery_config;
    struct churn_delivery *delivery;
    /* issue 14: ReloadModel takes model files from inside this directory only (NULL: none) */
    const char *model_dir;
    /* issue 12: every listable customer's current score, fed by every score computed and
     * emptied of erased and churned customers (churn/score_index.h; read it, never free it) */
    struct churn_score_index *scores;
    struct churn_score_builder *score_builder; /* builds @scores while the store is attached */
    /* issue 12: the one housekeeping timer (store maintenance, the score index's check for a
     * new model or cuts) while the store is attached (churn/housekeeping.h) */
    struct churn_housekeeping *housekeeping;
    /* issue 12: scores kept in the store beside the record (churn/score_keep.h), the index
     * loaded from them at start-up; false: neither read nor written (the behaviour before) */
    bool stored_scores;
    int64_t score_rebuild_rate;              /* churn_score_builder_pace() */
    struct churn_score_keeper *score_keeper; /* writes them while the store is attached */
    /* issue 12: GetScore answers kept encoded while their stored score is current
     * (churn/answer_cache.h), made with stored scores when the store is attached */
    size_t answer_cache_bytes; /* 0: none kept */
    struct churn_answer_cache *answers;
    /* issue 15: daily aggregate snapshots are kept this many days (0: the default, 400) */
    int64_t trend_keep_days;
    /* issue 14: churnd's own counters (churn/service_metrics.h; NULL: metrics off) */
    struct churn_service_metrics *metrics;
    /* issue 16: the shard's partition table and gate (churn/shard.h; NULL: not a shard) */
    struct churn_shard *shard;
};

/**
 * churn_services_init() - build the method table and the health and reflection state.
 * Every service starts NOT_SERVING; the daemon marks them SERVING when the store is open.
 */
enum churn_err churn_services_init(struct churn_services *svc, char *errbuf, size_t errlen);

/** churn_services_fini() - free everything churn_services_init() built. */
void churn_services_fini(struct churn_services *svc);

/**
 * churn_services_load_model() - validate the model file at @path (empty: the path given
 * before) and swap it in; the old model keeps serving if it is refused. The reason is in
 * @errbuf. Safe while serving (SIGHUP and ReloadModel use it too).
 */
enum churn_err churn_services_load_model(struct churn_services *svc, const char *path, char *errbuf,
                                         size_t errlen);

/**
 * churn_services_start_model() - at start-up, after the store is attached: serve the model
 * the registry serves (its file must still be the registered bytes; a file gone or altered is
 * refused, logged, and the model served before it is tried), unless @flag_path (--model; ""
 * for none) names a file the registry has not seen with these bytes: then that file serves and
 * is registered and promoted. When the registry has no usable model, @flag_path serves. An
 * error (with @errbuf) only when @flag_path is given and cannot be loaded.
 */
enum churn_err churn_services_start_model(struct churn_services *svc, const char *flag_path,
                                          char *errbuf, size_t errlen);

/** churn_services_has_model() - whether a model is being served. */
bool churn_services_has_model(struct churn_services *svc);

/**
 * churn_services_start_retrainer() - start retraining with @o (after churn_services_start_model):
 * RetrainModel and the schedule run through it; a winner serves through the registry.
 */
enum churn_err churn_services_start_retrainer(struct churn_services *svc,
                                              const struct churn_retrain_options *o, char *errbuf,
                                              size_t errlen);

/** churn_services_stop_retrainer() - cancel a run in progress and stop (idempotent). */
void churn_services_stop_retrainer(struct churn_services *svc);

/**
 * churn_services_reload_playbooks() - re-read the playbook file in use (SIGHUP); on a bad
 * file the previous playbooks stay in force and @errbuf says "file:line: reason".
 * CHURN_EUNAVAIL when no store (hence no alert engine) is attached.
 */
enum churn_err churn_services_reload_playbooks(struct churn_services *svc, char *errbuf,
                                               size_t errlen);

/**
 * churn_services_attach_store() - serve from @store through its group-commit @writer (both
 * borrowed until churn_services_detach_store()); starts the background conversation saver.
 */
enum churn_err churn_services_attach_store(struct churn_services *svc, struct churn_store *store,
                                           struct churn_store_writer *writer);

/**
 * churn_services_detach_store() - forget the store after the server stopped: writes the
 * queued conversation states and releases the read transactions the worker threads kept.
 * Call before closing the store.
 */
void churn_services_detach_store(struct churn_services *svc);

/* struct churn_backup_schedule - churnd's --backup-* settings. */
struct churn_backup_schedule {
    const char *dir;  /* where scheduled backups go, and unnamed Backup calls ("" or NULL) */
    int64_t every_ms; /* 0: no schedule */
    unsigned keep;    /* scheduled backups kept in dir (older ones are removed) */
    uint64_t write_bytes_per_s; /* every backup's copy is written at most this fast (0: unpaced) */
};

/**
 * churn_services_start_admin() - after the store is attached: serve AdminService and run
 * backups on the schedule @o (NULL: none) on one admin thread. Stopped by
 * churn_services_detach_store() (a backup in progress completes first). CHURN_EINVAL (with
 * @errbuf) for a schedule without a directory.
 */
enum churn_err churn_services_start_admin(struct churn_services *svc,
                                          const struct churn_backup_schedule *o, char *errbuf,
                                          size_t errlen);

/** churn_services_stop_admin() - stop the admin thread (idempotent). */
void churn_services_stop_admin(struct churn_services *svc);

/**
 * churn_services_set_serving() - mark every service (and the overall "") @status; while no
 * model is served, churn.v1.ScoringService stays NOT_SERVING (it turns SERVING when one is).
 */
void churn_services_set_serving(struct churn_services *svc, enum churn_health_status status);

/**
 * churn_services_ready() - ready to serve (/readyz): the store is open, a model is served and
 * the daemon is not draining. When not, @why (@len bytes) says which.
 */
bool churn_services_ready(struct churn_services *svc, char *why, size_t len);

struct churn_metrics_sink;
/**
 * churn_services_collect() - a churn_metrics_collect_fn (@ctx: the services): the store's
 * size and map usage, queues, watchers, the sweep and the served model, read now.
 */
void churn_services_collect(void *ctx, struct churn_metrics_sink *sink);

/* The embedded descriptor set (generated at build time by proto/gen.py). */
extern const unsigned char churn_descriptor_set[];
extern const size_t churn_descriptor_set_len;

/* ---- the dashboard's live feed (issue 15) ------------------------------------------------ */
struct churn_alert;
struct churn_alert_hub;
struct churn_buf;

/** churn_services_alert_hub() - the attached store's alert hub (borrowed); NULL before. */
struct churn_alert_hub *churn_services_alert_hub(struct churn_services *svc);

/**
 * churn_services_alert_read() - the alert log entry @seq into *@out: CHURN_ENOTFOUND when
 * there is none (erased, or past the head), CHURN_EUNAVAIL before the store is attached.
 */
enum churn_err churn_services_alert_read(struct churn_services *svc, uint64_t seq,
                                         struct churn_alert *out);

/** churn_services_alert_json() - append @alert as the API's JSON mapping (compact) to @out. */
enum churn_err churn_services_alert_json(const struct churn_alert *alert, struct churn_buf *out);

#endif
