/*
 * churnd.c - the daemon: reads the configuration, opens the services, starts the gRPC
 * server, then waits for signals (SIGTERM/SIGINT drain and exit 0; SIGHUP is the reload
 * signal); periodic work runs on the engine's housekeeping timer (churn/housekeeping.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "churn/clock.h"
#include "churn/alerts.h"
#include "churn/segments.h"
#include "churn/alert_rules.h"
#include "churn/config.h"
#include "churn/delivery.h"
#include "churn/jsingest.h"
#include "churn/log.h"
#include "churn/observe.h"
#include "churn/service_metrics.h"
#include "churn/retrain.h"
#include "churn/sentiment.h"
#include "churn/service.h"
#include "churn/shard.h"
#include "churn/store.h"
#include "churn/transport.h"

extern char **environ;

#define SIGNAL_WAIT_S 1 /* periodic work runs on the engine's housekeeping timer */

static int
make_data_dir(const char *path, char *errbuf, size_t errlen)
{
    if (mkdir(path, 0750) != 0 && errno != EEXIST) {
        snprintf(errbuf, errlen, "data directory %s: %s", path, strerror(errno));
        return -1;
    }
    if (access(path, W_OK | X_OK) != 0) {
        snprintf(errbuf, errlen, "data directory %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int
write_ready_file(const char *path, const char *listen, int port)
{
    char tmp[4096], addr[512];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    const char *colon = strrchr(listen, ':');
    int hostlen = colon ? (int)(colon - listen) : (int)strlen(listen);
    snprintf(addr, sizeof(addr), "%.*s:%d\n", hostlen, listen, port);
    FILE *f = fopen(tmp, "w");
    bool ok = f && fputs(addr, f) >= 0;
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0) {
        churn_log(CHURN_LOG_ERROR, "startup_failed", CHURN_LF_STR("ready_file", path),
                  CHURN_LF_STR("error", strerror(errno)));
        return -1;
    }
    return 0;
}

static void
server_options_from_config(const struct churn_config *cfg, struct churn_server_options *o)
{
    churn_server_options_default(o);
    o->listen = cfg->listen;
    o->workers = (int)(cfg->workers ? cfg->workers : sysconf(_SC_NPROCESSORS_ONLN));
    if (o->workers < 1)
        o->workers = 1;
    o->max_recv_bytes = (uint32_t)cfg->max_recv_bytes;
    o->max_concurrent_streams = (int)cfg->max_concurrent_streams;
    o->max_metadata_bytes = (int)cfg->max_metadata_bytes;
    o->memory_quota_bytes = (uint64_t)cfg->memory_quota_mb << 20;
    o->handshake_timeout_ms = (int)cfg->handshake_timeout_ms;
    o->keepalive_time_ms =
        (int)(cfg->keepalive_time_ms > INT32_MAX ? INT32_MAX : cfg->keepalive_time_ms);
    o->keepalive_timeout_ms = (int)cfg->keepalive_timeout_ms;
    o->min_client_ping_interval_ms = (int)cfg->min_client_ping_interval_ms;
    o->max_connection_idle_ms = (int)cfg->max_connection_idle_ms;
    o->max_connection_age_ms = (int)cfg->max_connection_age_ms;
    o->max_connection_age_grace_ms = (int)cfg->max_connection_age_grace_ms;
    o->drain_timeout_ms = (int)cfg->drain_timeout_ms;
    o->requests_per_method = (int)cfg->requests_per_method;
    o->http2_bdp_probe = cfg->http2_bdp_probe;
    o->http2_write_buffer_bytes = (int)cfg->http2_write_buffer_bytes;
}

/* Wait for signals; return the one that ends the process. */
static int
signal_loop(const sigset_t *set, struct churn_services *svc, const char *model_path,
            struct churn_auth *auth, struct churn_shard *shard)
{
    for (;;) {
        struct timespec interval = {.tv_sec = SIGNAL_WAIT_S, .tv_nsec = 0};
        int sig = sigtimedwait(set, NULL, &interval);
        if (sig == SIGTERM || sig == SIGINT)
            return sig;
        /* SIGHUP re-reads the file serving now (from --model or the registry) */
        if (sig == SIGHUP && !*model_path && !churn_services_has_model(svc)) {
            churn_log(CHURN_LOG_INFO, "sighup",
                      CHURN_LF_STR("msg", "no model is served: no model to reload"));
        } else if (sig == SIGHUP) {
            char err[512];
            if (churn_services_load_model(svc, "", err, sizeof(err)) != CHURN_OK)
                churn_log(CHURN_LOG_ERROR, "model_reload_refused", CHURN_LF_STR("error", err),
                          CHURN_LF_STR("msg", "the previous model keeps serving"));
        }
        if (sig == SIGHUP && auth) {
            char err[512];
            if (churn_auth_reload(auth, err, sizeof(err)) != CHURN_OK)
                churn_log(CHURN_LOG_ERROR, "auth_tokens_reload_refused", CHURN_LF_STR("error", err),
                          CHURN_LF_STR("msg", "the tokens loaded before stay in force"));
        }
        if (sig == SIGHUP) {
            char err[512];
            if (churn_services_reload_playbooks(svc, err, sizeof(err)) != CHURN_OK)
                churn_log(CHURN_LOG_ERROR, "playbooks_reload_refused", CHURN_LF_STR("error", err),
                          CHURN_LF_STR("msg", "the previous playbooks stay in force"));
        }
        if (sig == SIGHUP && shard)
            churn_shard_sighup(shard); /* issue 16: the partition table */
    }
}

/* Open the store and its group-commit writer; on failure say why in @err. */
static enum churn_err
open_store(const struct churn_config *cfg, struct churn_services *svc, char *err, size_t errlen)
{
    struct churn_store_options so;
    churn_store_options_init(&so);
    so.map_size_max = (size_t)cfg->map_size_max_mb << 20;
    if (svc->metrics) { /* issue 14: commit latency and group-commit sizes */
        so.on_commit_ns = churn_service_metrics_commit;
        so.on_group = churn_service_metrics_group;
        so.observer_ctx = svc->metrics;
    }
    if (so.map_size > so.map_size_max)
        so.map_size = so.map_size_max;
    struct churn_store *store;
    struct churn_store_writer *writer;
    enum churn_err e = churn_store_open(cfg->data_dir, &so, &store);
    if (e) {
        snprintf(err, errlen, "store %s: %s", cfg->data_dir, churn_store_last_error());
        return e;
    }
    e = churn_store_writer_start(store, NULL, &writer);
    if (e) {
        snprintf(err, errlen, "store writer: %s", churn_strerror(e));
        churn_store_close(store);
        return e;
    }
    svc->sweep_interval_ms = cfg->sweep_interval_s * 1000;
    svc->sweep_delay_ms = cfg->sweep_delay_s * 1000;
    svc->stored_scores = cfg->stored_scores;
    svc->score_rebuild_rate = cfg->score_rebuild_rate;
    svc->answer_cache_bytes = (size_t)cfg->answer_cache_mb << 20;
    svc->playbooks_path = cfg->playbooks_path;
    svc->trend_keep_days = cfg->trend_keep_days; /* issue 15: daily snapshots */
    e = churn_services_attach_store(svc, store, writer);
    if (e) {
        snprintf(err, errlen,
                 "cannot start the alert engine (playbooks %s) or the conversation saver: %s",
                 *cfg->playbooks_path ? cfg->playbooks_path : "built-in", churn_strerror(e));
        churn_store_writer_stop(writer);
        churn_store_close(store);
    }
    return e;
}

/* --model-dir, or <data>/models: where ReloadModel reads model files (issue 14), retraining
 * writes them, and a registered file that is gone from its path is looked for at start. */
static void
set_model_dir(const struct churn_config *cfg, struct churn_services *svc)
{
    static char model_dir[4096];
    if (*cfg->model_dir)
        snprintf(model_dir, sizeof(model_dir), "%s", cfg->model_dir);
    else
        snprintf(model_dir, sizeof(model_dir), "%s/models", cfg->data_dir);
    svc->model_dir = model_dir;
}

/* Retraining with the --retrain-* settings; models go to svc->model_dir. */
static enum churn_err
start_retraining(const struct churn_config *cfg, struct churn_services *svc, char *err,
                 size_t errlen)
{
    const char *model_dir = svc->model_dir;
    struct churn_retrain_options o;
    churn_retrain_options_default(&o);
    o.data_dir = cfg->data_dir;
    o.model_dir = model_dir;
    o.every_ms = cfg->retrain_every_ms;
    o.margin = cfg->retrain_margin;
    o.horizon_days = (int)cfg->retrain_horizon_days;
    o.cutoffs = (int)cfg->retrain_cutoffs;
    o.step_days = (int)cfg->retrain_step_days;
    o.train.time_budget_s = (double)cfg->retrain_budget_s;
    if (strlen(model_dir) > 900)
        return churn_fail(err, errlen, CHURN_ETOOBIG, "--model-dir: over 900 bytes");
    return churn_services_start_retrainer(svc, &o, err, errlen);
}

/* The delivery destinations of --webhook/--email & co., checked before anything starts. */
static enum churn_err
delivery_from_config(const struct churn_config *cfg, struct churn_delivery_config *d, char *err,
                     size_t errlen)
{
    churn_delivery_config_init(d);
    d->timeout_ms = cfg->delivery_timeout_ms;
    d->pause_after_ms = cfg->delivery_pause_after_s * 1000;
    d->backoff_max_ms = cfg->delivery_retry_max_ms;
    if (d->backoff_min_ms > d->backoff_max_ms)
        d->backoff_min_ms = d->backoff_max_ms;
    d->digest_ms = cfg->email_digest_ms;
    snprintf(d->forbidden_hosts[0], sizeof(d->forbidden_hosts[0]), "%s", cfg->listen);
    d->n_forbidden = 1;
    d->smtp_url = *cfg->smtp_url ? strdup(cfg->smtp_url) : NULL;
    d->smtp_from = strdup(cfg->smtp_from);
    if ((*cfg->smtp_url && !d->smtp_url) || !d->smtp_from)
        return churn_fail(err, errlen, CHURN_ENOMEM, "out of memory");
    const struct churn_delivery_lists lists = {cfg->webhooks, cfg->webhook_secrets,
                                               cfg->webhook_filters, cfg->webhook_formats,
                                               cfg->emails};
    return churn_delivery_config_parse(d, &lists, err, errlen);
}

static void
close_store(struct churn_services *svc)
{
    struct churn_store *store = svc->store;
    struct churn_store_writer *writer = svc->writer;
    /* the writer first: its last commits still hand customers to the alert engine, which
     * must exist until then; no call is running any more, so nothing submits meanwhile */
    churn_store_writer_stop(writer);
    churn_services_detach_store(svc);
    churn_store_close(store);
}

int
main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], CHURN_RETRAIN_CHILD_ARG) == 0)
        return churn_retrain_child_main();
    struct churn_config cfg;
    char err[1024];
    if (churn_config_init(&cfg) != CHURN_OK) {
        fputs("churnd: out of memory\n", stderr);
        return 1;
    }
    enum churn_config_action action;
    if (churn_config_load(&cfg, argc, argv, environ, &action, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnd: %s\n", err);
        churn_config_fini(&cfg);
        return 2;
    }
    if (action == CHURN_CONFIG_HELP) {
        churn_config_usage(stdout, "churnd");
        churn_config_fini(&cfg);
        return 0;
    }
    if (action == CHURN_CONFIG_VERSION) {
        printf("churnd %s\n", CHURN_VERSION);
        churn_config_fini(&cfg);
        return 0;
    }
    /* the tiering is checked before anything starts: a bad spec is a configuration error */
    static struct churn_segment_config segments;
    churn_segment_config_default(&segments);
    if (churn_segment_config_parse(&segments, cfg.risk_tiers, cfg.value_tiers, err, sizeof(err)) !=
        CHURN_OK) {
        fprintf(stderr, "churnd: %s\n", err);
        churn_config_fini(&cfg);
        return 2;
    }
    static struct churn_alert_rules_config rules;
    churn_alert_rules_config_default(&rules);
    rules.probability_jump = (double)cfg.alert_jump_pct / 100.0;
    rules.cooldown_ms = cfg.alert_cooldown_s * 1000;
    rules.update_min_interval_ms = cfg.alert_update_interval_s * 1000;
    rules.stale_after_ms = cfg.stale_after_days * 86400LL * 1000LL;
    if (churn_alert_rules_config_check(&rules, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnd: alert rules: %s\n", err);
        churn_config_fini(&cfg);
        return 2;
    }
    static struct churn_delivery_config delivery;
    if (delivery_from_config(&cfg, &delivery, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnd: %s\n", err);
        churn_delivery_config_fini(&delivery);
        churn_config_fini(&cfg);
        return 2;
    }
    churn_log_configure(cfg.log_level, cfg.log_format, 2);
    /* issue 16: a shard of a cluster refuses a bad partition table before anything starts */
    struct churn_shard *shard = NULL;
    if (*cfg.cluster_path &&
        churn_shard_open(cfg.cluster_path, cfg.shard_name, cfg.cluster_nats_config, &shard, err,
                         sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnd: %s\n", err);
        churn_config_fini(&cfg);
        return 2;
    }

    /* signals are taken synchronously by the main thread; every other thread blocks them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    struct churn_services svc;
    if (churn_services_init(&svc, err, sizeof(err)) != CHURN_OK) {
        churn_log(CHURN_LOG_ERROR, "startup_failed", CHURN_LF_STR("error", err));
        goto out_config;
    }
    struct churn_observe *obs = NULL; /* metrics and the admin listener (issue 14) */
    if (churn_observe_create(&cfg, &obs, err, sizeof(err)) != CHURN_OK ||
        churn_service_metrics_create(churn_observe_metrics(obs), &svc.metrics) != CHURN_OK) {
        churn_log(CHURN_LOG_ERROR, "startup_failed", CHURN_LF_STR("error", err));
        goto out_services;
    }
    struct churn_server_options opts;
    server_options_from_config(&cfg, &opts);
    opts.metrics = churn_observe_metrics(obs);
    opts.gate = shard ? churn_shard_gate : NULL;
    opts.gate_ctx = shard;
    svc.shard = shard; /* issue 16: AdminService.ReloadShardTable */
    struct churn_server *server = NULL;
    int port = 0;
    struct churn_auth *auth = NULL; /* issue 14: TLS and tokens; a bad file exits 2 */
    if (churn_server_security_open(&cfg, &opts, &auth, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnd: %s\n", err);
        rc = 2;
        goto out_services;
    }
    if (churn_server_start(&opts, svc.methods, svc.n_methods, &server, &port, err, sizeof(err)) !=
        CHURN_OK) {
        churn_log(CHURN_LOG_ERROR, "startup_failed", CHURN_LF_STR("error", err));
        goto out_services;
    }
    churn_log(CHURN_LOG_INFO, "listening", CHURN_LF_STR("listen", cfg.listen),
              CHURN_LF_INT("port", port), CHURN_LF_INT("workers", opts.workers),
              CHURN_LF_STR("version", CHURN_VERSION));

    /* serving needs the store; until it is open health says NOT_SERVING */
    svc.segments = &segments;
    svc.alert_rules = &rules;
    svc.chat_score_reuse_ms = cfg.chat_score_reuse_s * 1000;
    svc.delivery_config = &delivery;
    if (make_data_dir(cfg.data_dir, err, sizeof(err)) != 0 ||
        open_store(&cfg, &svc, err, sizeof(err)) != CHURN_OK) {
        churn_log(CHURN_LOG_ERROR, "startup_failed", CHURN_LF_STR("error", err));
        churn_server_shutdown(server);
        goto out_server;
    }
    if (churn_sentiment_open(cfg.lexicon_dir, "auto", NULL, &svc.sentiment, err, sizeof(err)) !=
        CHURN_OK) {
        churn_log(CHURN_LOG_ERROR, "startup_failed", CHURN_LF_STR("lexicons", cfg.lexicon_dir),
                  CHURN_LF_STR("error", err));
        churn_server_shutdown(server);
        close_store(&svc);
        goto out_server;
    }
    /* the registry's served model, or --model when it names a file the registry has not seen
     * (docs/MODELS.md, "Which model serves") */
    set_model_dir(&cfg, &svc);
    if (churn_services_start_model(&svc, cfg.model_path, err, sizeof(err)) != CHURN_OK) {
        churn_log(CHURN_LOG_ERROR, "startup_failed", CHURN_LF_STR("model", cfg.model_path),
                  CHURN_LF_STR("error", err));
        churn_server_shutdown(server);
        close_store(&svc);
        goto out_server;
    }
    struct churn_backup_schedule backups = {cfg.backup_dir, cfg.backup_every_ms,
                                            (unsigned)cfg.backup_keep,
                                            (uint64_t)cfg.backup_rate_mb * 1000000};
    if (start_retraining(&cfg, &svc, err, sizeof(err)) != CHURN_OK ||
        churn_services_start_admin(&svc, &backups, err, sizeof(err)) != CHURN_OK) {
        churn_log(CHURN_LOG_ERROR, "startup_failed", CHURN_LF_STR("error", err));
        churn_server_shutdown(server);
        close_store(&svc);
        goto out_server;
    }
    churn_services_set_serving(&svc, CHURN_HEALTH_SERVING);
    if (churn_observe_start(obs, &svc, auth, port, err, sizeof(err)) != CHURN_OK) {
        churn_log(CHURN_LOG_ERROR, "startup_failed", CHURN_LF_STR("error", err));
        churn_server_shutdown(server);
        close_store(&svc);
        goto out_server;
    }
    churn_log(CHURN_LOG_INFO, "serving", CHURN_LF_STR("data", cfg.data_dir));
    if (*cfg.ready_file && write_ready_file(cfg.ready_file, cfg.listen, port) != 0) {
        churn_server_shutdown(server);
        close_store(&svc);
        goto out_server;
    }

    /* issue 16: a shard ingests its partitions from JetStream */
    struct churn_jsingest *jsi = NULL;
    if (shard && *cfg.cluster_nats &&
        churn_jsingest_start(&svc, shard, cfg.cluster_nats, &jsi, err, sizeof(err)) != CHURN_OK)
        churn_log(CHURN_LOG_ERROR, "jetstream_not_started", CHURN_LF_STR("error", err));
    int sig = signal_loop(&set, &svc, cfg.model_path, auth, shard);
    churn_jsingest_stop(jsi); /* the batch in hand commits and is acknowledged */
    churn_log(CHURN_LOG_INFO, "stopping", CHURN_LF_STR("signal", strsignal(sig)));
    churn_services_stop_retrainer(&svc); /* a run in progress stops now, changing nothing */
    churn_services_set_serving(&svc, CHURN_HEALTH_NOT_SERVING);
    churn_server_shutdown(server);
    churn_observe_stop(obs); /* /readyz said "draining" until here; collectors read the store */
    /* every call is over: commit what the writer still holds, then close the store */
    close_store(&svc);
    rc = 0;
out_server:
    churn_server_destroy(server);
out_services:
    churn_auth_close(auth);
    churn_observe_destroy(obs); /* after the workers are joined: they count into it */
    churn_service_metrics_destroy(svc.metrics);
    churn_sentiment_close(svc.sentiment);
    churn_services_fini(&svc);
out_config:
    churn_delivery_config_fini(&delivery);
    churn_shard_close(shard);
    churn_config_fini(&cfg);
    if (rc == 0)
        churn_log(CHURN_LOG_INFO, "stopped", CHURN_LF_STR("msg", "clean exit"));
    return rc;
}
