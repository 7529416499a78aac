/*
 * config.c - the option table and the three parsers (config file, environment, flags)
 * that fill struct churn_config from it. Adding an option is adding one row.
 */
#include "churn/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "churn/alloc.h"

enum opt_type {
    OPT_STR,
    OPT_INT,
    OPT_LOG_LEVEL,
    OPT_LOG_FORMAT,
    OPT_DURATION_MS, /* "0"/"off", or an integer and a unit: s, m, h, d, w */
    OPT_FRACTION,    /* a decimal number in [0, 1] */
    OPT_LIST,        /* repeatable: every occurrence appends one line ("" default: none) */
    OPT_BOOL,        /* true/false; a flag without "=value" means true */
};

struct opt {
    const char *name;
    enum opt_type type;
    size_t offset;
    int64_t min, max;
    const char *def;
    const char *help;
};

#define OFF(field) offsetof(struct churn_config, field)
#define I64MAX     INT64_MAX

static const struct opt options[] = {
    {"listen", OPT_STR, OFF(listen), 0, 0, "127.0.0.1:50051",
     "address to serve gRPC on (host:port)"},
    {"data", OPT_STR, OFF(data_dir), 0, 0, "churnd-data", "LMDB data directory"},
    {"config", OPT_STR, OFF(config_file), 0, 0, "", "config file (key = value lines)"},
    {"model", OPT_STR, OFF(model_path), 0, 0, "", "model file to serve (JSON)"},
    {"lexicons", OPT_STR, OFF(lexicon_dir), 0, 0, CHURN_DEFAULT_LEXICON_DIR,
     "lexicon directory (en/ and the vendored vendor/ set from tools/setup)"},
    {"ready-file", OPT_STR, OFF(ready_file), 0, 0, "",
     "write the bound address here once serving (for scripts)"},
    {"workers", OPT_INT, OFF(workers), 1, 256, "0", "worker threads (0: one per core)"},
    {"log-level", OPT_LOG_LEVEL, OFF(log_level), 0, 0, "info", "error, warn, info or debug"},
    {"log-format", OPT_LOG_FORMAT, OFF(log_format), 0, 0, "text", "text or json"},
    /* issue 13: a ceiling that no method's own limit raises */
    {"max-recv-bytes", OPT_INT, OFF(max_recv_bytes), 1024, 64 << 20, "4194304",
     "largest request message any method accepts"},
    {"max-concurrent-streams", OPT_INT, OFF(max_concurrent_streams), 1, 1 << 20, "1000",
     "concurrent calls per connection"},
    {"max-metadata-bytes", OPT_INT, OFF(max_metadata_bytes), 1024, 1 << 20, "16384",
     "largest request header block"},
    {"memory-quota-mb", OPT_INT, OFF(memory_quota_mb), 0, 1 << 20, "1024",
     "gRPC memory quota (0: none)"},
    {"handshake-timeout-ms", OPT_INT, OFF(handshake_timeout_ms), 100, 600000, "10000",
     "time a new connection has to complete its handshake"},
    {"keepalive-time-ms", OPT_INT, OFF(keepalive_time_ms), 1000, I64MAX, "7200000",
     "interval of server keepalive pings"},
    {"keepalive-timeout-ms", OPT_INT, OFF(keepalive_timeout_ms), 100, I64MAX, "20000",
     "time a keepalive ping has to be answered"},
    {"min-client-ping-interval-ms", OPT_INT, OFF(min_client_ping_interval_ms), 0, I64MAX, "60000",
     "clients pinging more often are disconnected"},
    {"max-connection-idle-ms", OPT_INT, OFF(max_connection_idle_ms), 0, I64MAX, "300000",
     "close connections idle this long (0: never)"},
    {"max-connection-age-ms", OPT_INT, OFF(max_connection_age_ms), 0, I64MAX, "0",
     "close connections this old (0: never)"},
    {"max-connection-age-grace-ms", OPT_INT, OFF(max_connection_age_grace_ms), 0, I64MAX, "30000",
     "time calls get after the age is reached"},
    {"drain-timeout-ms", OPT_INT, OFF(drain_timeout_ms), 0, 3600000, "10000",
     "on SIGTERM, time calls get before they are cancelled"},
    {"requests-per-method", OPT_INT, OFF(requests_per_method), 1, 1024, "32",
     "calls pre-posted per worker and method"},
    /* session 8, issue 16: gRPC core's write path, measured side by side behind HAProxy
     * (docs/BENCHMARKS.md "Cluster") */
    {"http2-bdp-probe", OPT_BOOL, OFF(http2_bdp_probe), 0, 0, "true",
     "gRPC core's bandwidth-delay probe (PINGs on received data; false: none)"},
    {"http2-write-buffer-bytes", OPT_INT, OFF(http2_write_buffer_bytes), 0, 64 << 20, "0",
     "bytes gRPC core buffers for writing per connection (0: its default)"},
    {"map-size-max-mb", OPT_INT, OFF(map_size_max_mb), 16, 1 << 24, "65536",
     "hard cap of the LMDB map size"},
    {"sweep-interval-s", OPT_INT, OFF(sweep_interval_s), 0, 30 * 86400, "3600",
     "rescore every customer this often (0: no sweep)"},
    {"stored-scores", OPT_BOOL, OFF(stored_scores), 0, 0, "true",
     "keep each customer's score in the store and load the score index from the current ones "
     "at start-up (false: rescore everyone, as before)"},
    {"answer-cache-mb", OPT_INT, OFF(answer_cache_mb), 0, 1 << 20, "32",
     "GetScore answers kept encoded while their stored score is current (0: none)"},
    {"score-rebuild-rate", OPT_INT, OFF(score_rebuild_rate), 0, 100000000, "0",
     "customers a second the score index rebuild after a model promotion or new cuts refreshes "
     "(0: as fast as it goes); listings show the previous model's scores, marked, meanwhile"},
    {"sweep-delay-s", OPT_INT, OFF(sweep_delay_s), 0, 86400, "5",
     "the first sweep starts this long after start-up (once a model is served)"},
    {"risk-tiers", OPT_STR, OFF(risk_tiers), 0, 0, CHURN_RISK_TIERS_DEFAULT,
     "risk tiers: threshold:HIGH,MEDIUM (probabilities) or top:HIGH,MEDIUM (shares)"},
    {"value-tiers", OPT_STR, OFF(value_tiers), 0, 0, "top:0.2,0.3",
     "value tiers: top:HIGH,MEDIUM (shares, from each sweep) or threshold:HIGH,MEDIUM"},
    {"alert-jump-pct", OPT_INT, OFF(alert_jump_pct), 1, 99, "15",
     "a rise of the churn probability by more than this many points raises PROBABILITY_JUMP"},
    {"alert-cooldown-s", OPT_INT, OFF(alert_cooldown_s), 0, 30 * 86400, "86400",
     "after an alert closes, its customer and cause stay quiet this long"},
    {"alert-update-interval-s", OPT_INT, OFF(alert_update_interval_s), 0, 86400, "900",
     "an open alert absorbs a new trigger at most this often (a worse tier: at once)"},
    {"stale-after-days", OPT_INT, OFF(stale_after_days), 1, 365, "14",
     "an event source silent this long is reported stale in alerts"},
    {"chat-score-reuse-s", OPT_INT, OFF(chat_score_reuse_s), 0, 3600, "60",
     "a conversation reuses its customer's score this long while the record is unchanged "
     "(0: score every customer turn)"},
    {"playbooks", OPT_STR, OFF(playbooks_path), 0, 0, "",
     "playbook file (empty: the built-in default); SIGHUP reloads it"},
    {"model-dir", OPT_STR, OFF(model_dir), 0, 0, "",
     "where retraining writes its models (empty: <data>/models)"},
    {"retrain-every", OPT_DURATION_MS, OFF(retrain_every_ms), 60000, 366LL * 86400000, "off",
     "retrain from the store this often, e.g. 7d or 12h (off: only on RetrainModel)"},
    {"retrain-margin", OPT_FRACTION, OFF(retrain_margin), 0, 0, "0.005",
     "a retrained model serves only when its backtest AUC beats the serving one's by this"},
    {"retrain-horizon-days", OPT_INT, OFF(retrain_horizon_days), 1, 365, "90",
     "retraining's label horizon: churn within this many days (also the backtest window)"},
    {"retrain-cutoffs", OPT_INT, OFF(retrain_cutoffs), 0, 24, "0",
     "retraining's stacked training cutoffs (0: auto, as churnctl train: those with 90 days of "
     "history, up to 6)"},
    {"retrain-step-days", OPT_INT, OFF(retrain_step_days), 1, 365, "30",
     "days between retraining's cutoffs"},
    {"retrain-budget-s", OPT_INT, OFF(retrain_budget_s), 0, 86400, "120",
     "the seconds retraining's model search may take (0: no limit)"},
    /* issue 14 (metrics): the admin HTTP listener */
    {"admin-listen", OPT_STR, OFF(admin_listen), 0, 0, "off",
     "admin HTTP address for /metrics, /livez, /readyz, e.g. 127.0.0.1:9464 (off: none, no "
     "metrics)"},
    {"admin-max-connections", OPT_INT, OFF(admin_max_connections), 1, 100000, "64",
     "admin HTTP connections open at once; more are refused"},
    {"admin-timeout-s", OPT_INT, OFF(admin_timeout_s), 1, 3600, "10",
     "an idle or slow admin HTTP connection is closed after this long"},
    {"admin-threads", OPT_INT, OFF(admin_threads), 1, 64, "4",
     "admin HTTP serving threads: a slow page holds one, the others keep answering (at most "
     "--admin-max-connections)"},
    {"admin-tls-cert", OPT_STR, OFF(admin_tls_cert), 0, 0, "",
     "admin HTTP over TLS: certificate chain (PEM; with --admin-tls-key)"},
    {"admin-tls-key", OPT_STR, OFF(admin_tls_key), 0, 0, "", "admin HTTP over TLS: key (PEM)"},
    {"metrics-public", OPT_BOOL, OFF(metrics_public), 0, 0, "false",
     "with --auth-tokens, /metrics answers without a token (default: the read role)"},
    /* issue 15: alerts delivered where people work (docs/DELIVERY.md) */
    {"webhook", OPT_LIST, OFF(webhooks), 0, 0, "",
     "NAME=URL: POST every alert change to this http(s) URL (repeatable)"},
    {"webhook-secret", OPT_LIST, OFF(webhook_secrets), 0, 0, "",
     "NAME=SECRET: sign NAME's deliveries with HMAC-SHA256 (repeatable)"},
    {"webhook-filter", OPT_LIST, OFF(webhook_filters), 0, 0, "",
     "NAME=FILTER: deliver only alerts passing this churnctl alerts --filter (repeatable)"},
    {"webhook-format", OPT_LIST, OFF(webhook_formats), 0, 0, "",
     "NAME=json|slack: the payload of NAME's deliveries (default json; repeatable)"},
    {"email", OPT_LIST, OFF(emails), 0, 0, "",
     "NAME=ADDR[,ADDR...]: e-mail alert changes to these addresses (repeatable)"},
    {"smtp-url", OPT_STR, OFF(smtp_url), 0, 0, "",
     "the SMTP relay for --email, e.g. smtp://127.0.0.1:25 or smtps://relay:465"},
    {"smtp-from", OPT_STR, OFF(smtp_from), 0, 0, "churnd@localhost",
     "the sender address of alert e-mails"},
    {"email-digest", OPT_DURATION_MS, OFF(email_digest_ms), 1000, 7LL * 86400000, "off",
     "gather alert changes this long into one e-mail, e.g. 15m (off: one e-mail each)"},
    {"delivery-timeout-ms", OPT_INT, OFF(delivery_timeout_ms), 100, 600000, "10000",
     "a webhook or SMTP exchange taking longer fails (and is retried)"},
    {"delivery-pause-after-s", OPT_INT, OFF(delivery_pause_after_s), 1, 86400, "300",
     "a destination failing this long is paused (retried slowly) and reported"},
    {"delivery-retry-max-ms", OPT_INT, OFF(delivery_retry_max_ms), 100, 3600000, "60000",
     "the longest wait between two attempts of a failing delivery (also while paused)"},
    /* issue 14 (tls): TLS, mutual TLS, tokens and roles (docs/SECURITY.md) */
    {"tls-cert", OPT_STR, OFF(tls_cert), 0, 0, "",
     "PEM certificate chain: serve gRPC over TLS (re-read when the file changes)"},
    {"tls-key", OPT_STR, OFF(tls_key), 0, 0, "", "PEM private key of --tls-cert"},
    {"tls-client-ca", OPT_STR, OFF(tls_client_ca), 0, 0, "",
     "PEM CA: require client certificates it signed (mutual TLS)"},
    {"insecure-listen", OPT_BOOL, OFF(insecure_listen), 0, 0, "false",
     "allow plaintext gRPC on a non-loopback --listen address"},
    {"auth-tokens", OPT_STR, OFF(auth_tokens), 0, 0, "",
     "token file (NAME SHA256-HEX|cn=NAME ROLE[,ROLE...]): every call needs a role; SIGHUP "
     "reloads it"},
    {"auth-open-health", OPT_BOOL, OFF(auth_open_health), 0, 0, "true",
     "health and reflection answer without credentials"},
    /* backups (issue 18, docs/OPERATIONS.md) */
    {"backup-every", OPT_DURATION_MS, OFF(backup_every_ms), 1000, 366LL * 86400000, "off",
     "take an online backup this often, e.g. 6h or 1d, into --backup-dir (off: only on request)"},
    {"backup-dir", OPT_STR, OFF(backup_dir), 0, 0, "",
     "where scheduled backups go (and Backup calls without a directory)"},
    {"backup-keep", OPT_INT, OFF(backup_keep), 1, 10000, "7",
     "scheduled backups kept in --backup-dir; older ones are removed"},
    {"backup-rate-mb", OPT_INT, OFF(backup_rate_mb), 0, 100000, "32",
     "MB/s a backup's copy is written at most (0: as fast as the disk takes it), so serving "
     "keeps its latency"},
    /* issue 16: churnd as one shard of a cluster (docs/CLUSTER.md) */
    {"cluster", OPT_STR, OFF(cluster_path), 0, 0, "",
     "partition table: serve as shard --shard of that cluster; SIGHUP reloads it"},
    {"shard", OPT_STR, OFF(shard_name), 0, 0, "", "this shard's name in the --cluster table"},
    {"cluster-nats-config", OPT_STR, OFF(cluster_nats_config), 0, 0, "",
     "a NATS server configuration whose partition() mapping must use the table's P"},
    {"cluster-nats", OPT_STR, OFF(cluster_nats), 0, 0, "",
     "NATS URLs (comma-separated): ingest the owned partitions' JetStream streams"},
    /* issue 15 (reports): the daily aggregate snapshot (docs/REPORTS.md) */
    {"trend-keep-days", OPT_INT, OFF(trend_keep_days), 1, 3660, "400",
     "daily aggregate snapshots (the trends) are kept this many days"},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

static const struct opt *
find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].name) == len && memcmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

/* @ms in its largest whole unit ("1m", "366d"), for messages. */
static const char *
duration_text(int64_t ms, char *out, size_t outlen)
{
    static const struct {
        char unit;
        int64_t ms;
    } units[] = {{'d', 86400000}, {'h', 3600000}, {'m', 60000}, {'s', 1000}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (ms % units[i].ms == 0) {
            snprintf(out, outlen, "%" PRId64 "%c", ms / units[i].ms, units[i].unit);
            return out;
        }
    snprintf(out, outlen, "%" PRId64 "ms", ms);
    return out;
}

/* "0" or "off" (0), or digits and one unit (s, m, h, d, w) within [o->min, o->max] ms. */
static enum churn_err
apply_duration(const struct opt *o, const char *value, int64_t *out, char *errbuf, size_t errlen)
{
    if (strcmp(value, "0") == 0 || strcmp(value, "off") == 0) {
        *out = 0;
        return CHURN_OK;
    }
    static const struct {
        char unit;
        int64_t ms;
    } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}, {'w', 604800000}};
    char *end;
    errno = 0;
    long long n = value[0] >= '0' && value[0] <= '9' ? strtoll(value, &end, 10) : -1;
    int64_t unit = 0;
    for (size_t i = 0; n >= 0 && !errno && i < sizeof(units) / sizeof(units[0]); i++)
        if (end[0] == units[i].unit && end[1] == '\0')
            unit = units[i].ms;
    if (!unit)
        return churn_fail(errbuf, errlen, CHURN_EINVAL,
                          "%s: '%s' is not a duration (a whole number and a unit s, m, h, d or w, "
                          "e.g. 7d or 12h; 0 or off: never)",
                          o->name, value);
    if (n > o->max / unit || n * unit < o->min || n * unit > o->max) {
        char lo[32], hi[32];
        return churn_fail(
            errbuf, errlen, CHURN_ERANGE, "%s: '%s' is out of range (%s to %s, or off)", o->name,
            value, duration_text(o->min, lo, sizeof(lo)), duration_text(o->max, hi, sizeof(hi)));
    }
    *out = n * unit;
    return CHURN_OK;
}

/* OPT_LIST: @value appended to *@slot as one more line; a value may not hold a newline. */
static enum churn_err
append_line(const struct opt *o, char **slot, const char *value, char *errbuf, size_t errlen)
{
    if (strchr(value, '\n'))
        return churn_fail(errbuf, errlen, CHURN_EINVAL, "%s: a value cannot span lines", o->name);
    size_t old = *slot ? strlen(*slot) : 0, add = strlen(value);
    if (!add && *slot)
        return CHURN_OK;
    char *grown = churn_realloc(*slot, old + 1 + add + 1);
    if (!grown)
        return churn_fail(errbuf, errlen, CHURN_ENOMEM, "%s: out of memory", o->name);
    if (old)
        grown[old++] = '\n';
    memcpy(grown + old, value, add + 1);
    *slot = grown;
    return CHURN_OK;
}

static enum churn_err
apply(struct churn_config *cfg, const struct opt *o, const char *value, char *errbuf, size_t errlen)
{
    char *base = (char *)cfg;
    switch (o->type) {
    case OPT_STR: {
        char *copy = churn_strdup(value);
        if (!copy)
            return churn_fail(errbuf, errlen, CHURN_ENOMEM, "%s: out of memory", o->name);
        char **slot = (char **)(base + o->offset);
        churn_free(*slot);
        *slot = copy;
        return CHURN_OK;
    }
    case OPT_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (!*value || *end || errno)
            return churn_fail(errbuf, errlen, CHURN_EINVAL, "%s: '%s' is not an integer", o->name,
                              value);
        /* 0 for workers means "one per core" */
        bool auto_zero = o->offset == OFF(workers) && v == 0;
        if (!auto_zero && (v < o->min || v > o->max))
            return churn_fail(errbuf, errlen, CHURN_ERANGE,
                              "%s: %lld is out of range [%" PRId64 ", %" PRId64 "]", o->name, v,
                              o->min, o->max);
        *(int64_t *)(base + o->offset) = v;
        return CHURN_OK;
    }
    case OPT_DURATION_MS:
        return apply_duration(o, value, (int64_t *)(base + o->offset), errbuf, errlen);
    case OPT_FRACTION: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (!*value || *end || errno || !(v >= 0 && v <= 1))
            return churn_fail(errbuf, errlen, CHURN_EINVAL, "%s: '%s' is not a number from 0 to 1",
                              o->name, value);
        *(double *)(base + o->offset) = v;
        return CHURN_OK;
    }
    case OPT_LIST:
        return append_line(o, (char **)(base + o->offset), value, errbuf, errlen);
    case OPT_BOOL: {
        bool t = !strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes");
        if (!t && strcmp(value, "false") && strcmp(value, "0") && strcmp(value, "no"))
            return churn_fail(errbuf, errlen, CHURN_EINVAL, "%s: '%s' is not true or false",
                              o->name, value);
        *(bool *)(base + o->offset) = t;
        return CHURN_OK;
    }
    case OPT_LOG_LEVEL:
        if (!churn_log_level_parse(value, (enum churn_log_level *)(base + o->offset)))
            return churn_fail(errbuf, errlen, CHURN_EINVAL,
                              "%s: '%s' is not one of error, warn, info, debug", o->name, value);
        return CHURN_OK;
    case OPT_LOG_FORMAT:
        if (!churn_log_format_parse(value, (enum churn_log_format *)(base + o->offset)))
            return churn_fail(errbuf, errlen, CHURN_EINVAL, "%s: '%s' is not one of text, json",
                              o->name, value);
        return CHURN_OK;
    }
    return CHURN_EINTERNAL;
}

enum churn_err
churn_config_set(struct churn_config *cfg, const char *key, const char *value, char *errbuf,
                 size_t errlen)
{
    const struct opt *o = find_option(key, strlen(key));
    if (!o)
        return churn_fail(errbuf, errlen, CHURN_EINVAL, "unknown option '%s' (see --help)", key);
    return apply(cfg, o, value, errbuf, errlen);
}

enum churn_err
churn_config_init(struct churn_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    char err[256];
    for (size_t i = 0; i < N_OPTIONS; i++) {
        enum churn_err e = apply(cfg, &options[i], options[i].def, err, sizeof(err));
        if (e) {
            churn_config_fini(cfg);
            return e;
        }
    }
    return CHURN_OK;
}

void
churn_config_fini(struct churn_config *cfg)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (options[i].type == OPT_STR || options[i].type == OPT_LIST) {
            char **slot = (char **)((char *)cfg + options[i].offset);
            churn_free(*slot);
            *slot = NULL;
        }
    }
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

enum churn_err
churn_config_load_text(struct churn_config *cfg, const char *source, const char *text, size_t len,
                       char *errbuf, size_t errlen)
{
    enum { LINE_MAX_BYTES = 4096 };
    char line[LINE_MAX_BYTES + 1];
    size_t pos = 0;
    for (int lineno = 1; pos < len; lineno++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        if (n > LINE_MAX_BYTES)
            return churn_fail(errbuf, errlen, CHURN_ETOOBIG, "%s:%d: line is over %d bytes", source,
                              lineno, LINE_MAX_BYTES);
        if (memchr(text + pos, '\0', n))
            return churn_fail(errbuf, errlen, CHURN_EINVAL, "%s:%d: NUL byte in line", source,
                              lineno);
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos += n + (nl ? 1 : 0);
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = line;
        while (is_space(*s))
            s++;
        size_t l = strlen(s);
        while (l && is_space(s[l - 1]))
            s[--l] = '\0';
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq)
            return churn_fail(errbuf, errlen, CHURN_EINVAL, "%s:%d: expected 'key = value'", source,
                              lineno);
        char *kend = eq;
        while (kend > s && is_space(kend[-1]))
            kend--;
        char *value = eq + 1;
        while (is_space(*value))
            value++;
        const struct opt *o = find_option(s, (size_t)(kend - s));
        if (!o)
            return churn_fail(errbuf, errlen, CHURN_EINVAL, "%s:%d: unknown key '%.*s'", source,
                              lineno, (int)(kend - s), s);
        if (o->offset == OFF(config_file))
            return churn_fail(errbuf, errlen, CHURN_EINVAL,
                              "%s:%d: 'config' cannot be set in a file", source, lineno);
        char msg[512];
        enum churn_err err = apply(cfg, o, value, msg, sizeof(msg));
        if (err)
            return churn_fail(errbuf, errlen, err, "%s:%d: %s", source, lineno, msg);
    }
    return CHURN_OK;
}

enum churn_err
churn_config_load_file(struct churn_config *cfg, const char *path, char *errbuf, size_t errlen)
{
    enum { FILE_MAX_BYTES = 1 << 20 };
    FILE *f = fopen(path, "rb");
    if (!f)
        return churn_fail(errbuf, errlen, churn_err_from_errno(errno), "%s: %s", path,
                          strerror(errno));
    char *text = churn_malloc(FILE_MAX_BYTES + 1);
    if (!text) {
        fclose(f);
        return churn_fail(errbuf, errlen, CHURN_ENOMEM, "%s: out of memory", path);
    }
    size_t n = fread(text, 1, FILE_MAX_BYTES + 1, f);
    bool read_error = ferror(f);
    fclose(f);
    enum churn_err err;
    if (read_error)
        err = churn_fail(errbuf, errlen, CHURN_EIO, "%s: read error", path);
    else if (n > FILE_MAX_BYTES)
        err = churn_fail(errbuf, errlen, CHURN_ETOOBIG, "%s: over %d bytes", path, FILE_MAX_BYTES);
    else
        err = churn_config_load_text(cfg, path, text, n, errbuf, errlen);
    churn_free(text);
    return err;
}

/* "CHURND_MAX_RECV_BYTES" → "max-recv-bytes" in @out; false if not a CHURND_ variable. */
static bool
env_key(const char *var, size_t len, char *out, size_t cap)
{
    static const char prefix[] = "CHURND_";
    if (len <= sizeof(prefix) - 1 || memcmp(var, prefix, sizeof(prefix) - 1) != 0 ||
        len - (sizeof(prefix) - 1) >= cap)
        return false;
    size_t n = 0;
    for (size_t i = sizeof(prefix) - 1; i < len; i++) {
        char c = var[i];
        out[n++] = c == '_' ? '-' : (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = '\0';
    return true;
}

enum churn_err
churn_config_load_env(struct churn_config *cfg, char *const *envp, char *errbuf, size_t errlen)
{
    for (char *const *e = envp; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        char key[128];
        if (!eq || !env_key(*e, (size_t)(eq - *e), key, sizeof(key)))
            continue;
        if (strcmp(key, "config") == 0)
            continue; /* handled before the file is read */
        const struct opt *o = find_option(key, strlen(key));
        if (!o)
            return churn_fail(errbuf, errlen, CHURN_EINVAL, "environment: unknown variable %.*s",
                              (int)(eq - *e), *e);
        char msg[512];
        enum churn_err err = apply(cfg, o, eq + 1, msg, sizeof(msg));
        if (err)
            return churn_fail(errbuf, errlen, err, "environment %.*s: %s", (int)(eq - *e), *e, msg);
    }
    return CHURN_OK;
}

/* Walk the flags; with @only_config, apply nothing but --config. */
static enum churn_err
load_args(struct churn_config *cfg, int argc, char *const *argv, bool only_config,
          enum churn_config_action *action, char *errbuf, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *action = CHURN_CONFIG_HELP;
            continue;
        }
        if (strcmp(a, "--version") == 0) {
            *action = CHURN_CONFIG_VERSION;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            return churn_fail(errbuf, errlen, CHURN_EINVAL, "unexpected argument '%s' (see --help)",
                              a);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = find_option(name, nlen);
        if (!o)
            return churn_fail(errbuf, errlen, CHURN_EINVAL, "unknown flag '--%.*s' (see --help)",
                              (int)nlen, name);
        const char *value = eq ? eq + 1 : o->type == OPT_BOOL ? "true" : NULL;
        if (!value) {
            if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
                return churn_fail(errbuf, errlen, CHURN_EINVAL, "--%s needs a value", o->name);
            value = argv[++i];
        }
        if (only_config != (o->offset == OFF(config_file)))
            continue;
        char msg[512];
        enum churn_err err = apply(cfg, o, value, msg, sizeof(msg));
        if (err)
            return churn_fail(errbuf, errlen, err, "--%s", msg);
    }
    return CHURN_OK;
}

enum churn_err
churn_config_load(struct churn_config *cfg, int argc, char *const *argv, char *const *envp,
                  enum churn_config_action *action, char *errbuf, size_t errlen)
{
    *action = CHURN_CONFIG_RUN;
    for (char *const *e = envp; e && *e; e++) {
        if (strncmp(*e, "CHURND_CONFIG=", 14) == 0) {
            char msg[512];
            enum churn_err err = churn_config_set(cfg, "config", *e + 14, msg, sizeof(msg));
            if (err)
                return churn_fail(errbuf, errlen, err, "environment: %s", msg);
        }
    }
    enum churn_err err = load_args(cfg, argc, argv, true, action, errbuf, errlen);
    if (err || *action != CHURN_CONFIG_RUN)
        return err;
    if (cfg->config_file && *cfg->config_file) {
        err = churn_config_load_file(cfg, cfg->config_file, errbuf, errlen);
        if (err)
            return err;
    }
    err = churn_config_load_env(cfg, envp, errbuf, errlen);
    if (err)
        return err;
    return load_args(cfg, argc, argv, false, action, errbuf, errlen);
}

void
churn_config_usage(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s [--flag value]...\n\n"
            "churnd serves churn scores, chat analysis and retention alerts over gRPC.\n"
            "Every flag can also be set as CHURND_<FLAG> in the environment (CHURND_LISTEN)\n"
            "or as 'flag = value' in the --config file; flags win over the environment,\n"
            "which wins over the file.\n\n",
            prog);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s", options[i].name);
        fprintf(out, "  %-32s %s", left, options[i].help);
        if (*options[i].def)
            fprintf(out, " [%s]", options[i].def);
        fputc('\n', out);
    }
    fprintf(out, "  %-32s %s\n  %-32s %s\n", "--help", "print this help", "--version",
            "print the version");
}
