/*
 * churn/config.h - churnd's settings: one table of options, each settable (in rising order
 * of precedence) by default, config file, environment variable and command-line flag.
 *
 * Config file lines are `key = value` with `#` comments; keys are the long flag names
 * (`listen = 0.0.0.0:50051`). Environment variables are CHURND_ + the key in upper case
 * with '-' as '_' (CHURND_LISTEN). Flags are `--key value` or `--key=value`. Every error
 * names the source and the option: "churnd.conf:3: workers: 'x' is not an integer".
 */
#ifndef CHURN_CONFIG_H
#define CHURN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "churn/error.h"
#include "churn/log.h"

/* churnd's risk tiers unless --risk-tiers says otherwise; backtests judge the same tiers. */
#define CHURN_RISK_TIERS_DEFAULT "threshold:0.5,0.2"

struct churn_config {
    char *listen;
    char *data_dir;
    char *config_file;
    char *model_path;
    char *lexicon_dir;
    char *ready_file;
    int64_t workers;
    enum churn_log_level log_level;
    enum churn_log_format log_format;
    int64_t max_recv_bytes;
    int64_t max_concurrent_streams;
    int64_t max_metadata_bytes;
    int64_t memory_quota_mb;
    int64_t handshake_timeout_ms;
    int64_t keepalive_time_ms;
    int64_t keepalive_timeout_ms;
    int64_t min_client_ping_interval_ms;
    int64_t max_connection_idle_ms;
    int64_t max_connection_age_ms;
    int64_t max_connection_age_grace_ms;
    int64_t drain_timeout_ms;
    int64_t requests_per_method;
    bool http2_bdp_probe;             /* gRPC core's BDP probe pings */
    int64_t http2_write_buffer_bytes; /* 0: gRPC core's default */
    int64_t map_size_max_mb;
    int64_t sweep_interval_s;
    int64_t sweep_delay_s;
    bool stored_scores;         /* issue 12: scores kept beside the record */
    int64_t score_rebuild_rate; /* customers/s of a rebuild after a promotion (0: unpaced) */
    int64_t answer_cache_mb;    /* issue 12: encoded GetScore answers kept (0: none) */
    char *playbooks_path;
    char *risk_tiers;
    int64_t alert_jump_pct;
    int64_t alert_cooldown_s;
    int64_t alert_update_interval_s;
    int64_t stale_after_days;
    char *value_tiers;
    int64_t chat_score_reuse_s;
    char *model_dir;
    int64_t retrain_every_ms; /* 0: no schedule */
    double retrain_margin;
    int64_t retrain_horizon_days;
    int64_t retrain_cutoffs;
    int64_t retrain_step_days;
    int64_t retrain_budget_s;
    /* issue 14 (metrics): the admin HTTP listener */
    char *admin_listen; /* "off": none */
    int64_t admin_max_connections;
    int64_t admin_timeout_s;
    int64_t admin_threads; /* issue 15: the admin listener's thread pool */
    char *admin_tls_cert;
    char *admin_tls_key;
    bool metrics_public; /* /metrics without a token even when --auth-tokens is on */
    /* alert delivery (issue 15): the list options hold one NAME=VALUE per line */
    char *webhooks;
    char *webhook_secrets;
    char *webhook_filters;
    char *webhook_formats;
    char *emails;
    char *smtp_url;
    char *smtp_from;
    int64_t email_digest_ms;
    int64_t delivery_timeout_ms;
    int64_t delivery_pause_after_s;
    int64_t delivery_retry_max_ms;
    /* issue 14 (tls): TLS, mutual TLS, tokens and roles */
    char *tls_cert;
    char *tls_key;
    char *tls_client_ca;
    bool insecure_listen;
    char *auth_tokens;
    bool auth_open_health;
    /* backups (issue 18) */
    int64_t backup_every_ms; /* 0: no schedule */
    char *backup_dir;
    int64_t backup_keep;
    int64_t backup_rate_mb; /* MB/s of a backup's copy (0: unpaced) */
    /* issue 16: a shard of a cluster */
    char *cluster_path;
    char *shard_name;
    char *cluster_nats_config;
    char *cluster_nats; /* NATS URLs: ingest the owned partitions from JetStream */
    /* issue 15 (reports): daily aggregate snapshots kept this many days */
    int64_t trend_keep_days;
};

enum churn_config_action {
    CHURN_CONFIG_RUN,
    CHURN_CONFIG_HELP,
    CHURN_CONFIG_VERSION,
};

/** churn_config_init() - defaults; strings are heap copies released by churn_config_fini(). */
enum churn_err churn_config_init(struct churn_config *cfg);

/** churn_config_fini() - free the strings. */
void churn_config_fini(struct churn_config *cfg);

/**
 * churn_config_set() - set option @key (long flag name) from text @value. Errors name the
 * key and say what is wrong in @errbuf (without a source prefix).
 */
enum churn_err churn_config_set(struct churn_config *cfg, const char *key, const char *value,
                                char *errbuf, size_t errlen);

/**
 * churn_config_load_text() - apply config-file text @text (@len bytes) named @source
 * ("churnd.conf") for messages. Lines over 4 KiB, unknown keys, missing '=', bad values and
 * NUL bytes are errors with "source:line: ".
 */
enum churn_err churn_config_load_text(struct churn_config *cfg, const char *source,
                                      const char *text, size_t len, char *errbuf, size_t errlen);

/** churn_config_load_file() - read @path (at most 1 MiB) and apply it. */
enum churn_err churn_config_load_file(struct churn_config *cfg, const char *path, char *errbuf,
                                      size_t errlen);

/** churn_config_load_env() - apply every CHURND_* variable in @envp (NULL-terminated). */
enum churn_err churn_config_load_env(struct churn_config *cfg, char *const *envp, char *errbuf,
                                     size_t errlen);

/**
 * churn_config_load() - the whole precedence chain: defaults are already in @cfg; then the
 * config file (from --config or CHURND_CONFIG), the environment, then the flags in @argv.
 * *action says whether to run or to print help or the version.
 */
enum churn_err churn_config_load(struct churn_config *cfg, int argc, char *const *argv,
                                 char *const *envp, enum churn_config_action *action, char *errbuf,
                                 size_t errlen);

/** churn_config_usage() - the --help text, generated from the option table. */
void churn_config_usage(FILE *out, const char *prog);

#endif
