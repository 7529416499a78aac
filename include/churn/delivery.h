/*
 * churn/delivery.h - alert changes delivered where people work: webhooks and e-mail.
 *
 * Each destination (a named webhook URL or a named list of e-mail addresses) has a durable
 * cursor in the store: the sequence of the last alert change it has taken. A thread per
 * destination reads the alert log after its cursor, keeps the changes that pass the
 * destination's filter, and delivers them: a webhook gets one HTTP POST per change (JSON as
 * the API maps the alert, or a Slack-compatible message), signed with HMAC-SHA256 when the
 * destination has a secret; e-mail goes through an SMTP relay, one message per change or a
 * digest. Only a delivery the receiver accepted (HTTP 2xx, SMTP 250) advances the cursor, so
 * a restart resumes exactly where delivery stopped: at-least-once, and the delivery id
 * (the same on every retry of one change) lets receivers drop duplicates. A failure is
 * retried with exponential backoff and jitter; a destination failing for longer than the
 * pause threshold is paused (still retried, at the slowest pace) and reported. Destinations
 * never wait for each other, and the alert engine never waits for any of them: delivery only
 * reads the log, and the hub merely rings a doorbell.
 */
#ifndef CHURN_DELIVERY_H
#define CHURN_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/alerts.h"
#include "churn/alerts_hub.h"
#include "churn/buf.h"
#include "churn/error.h"

struct churn_store;

#define CHURN_DELIVERY_NAME_MAX  64
#define CHURN_DELIVERY_MAX_DESTS 32

enum churn_delivery_kind {
    CHURN_DELIVERY_WEBHOOK = 1,
    CHURN_DELIVERY_EMAIL = 2,
};

enum churn_delivery_format {
    CHURN_DELIVERY_JSON = 1,  /* the alert as the API's JSON mapping gives it */
    CHURN_DELIVERY_SLACK = 2, /* {"text": "..."}: Slack, Mattermost, Rocket.Chat hooks */
};

struct churn_delivery_dest {
    char name[CHURN_DELIVERY_NAME_MAX];
    enum churn_delivery_kind kind;
    enum churn_delivery_format format;
    char *url;    /* webhook: the http(s) URL */
    char *secret; /* webhook: the HMAC-SHA256 key; NULL: unsigned */
    char *to;     /* e-mail: comma-separated recipients */
    struct churn_alert_filter filter;
};

/*
 * churn_delivery_action_fn - a playbook's webhook action was carried out: destination @dest
 * accepted the RAISED revision @alert (whose action.webhook names it) with HTTP @http_status
 * after @attempts attempts, at @at_ms. Called on the destination's thread after each
 * acceptance, so again after a restart re-delivered it (the callee drops repeats).
 */
typedef void (*churn_delivery_action_fn)(void *ctx, const char *dest,
                                         const struct churn_alert *alert, int http_status,
                                         unsigned attempts, int64_t at_ms);

struct churn_delivery_config {
    struct churn_delivery_dest dests[CHURN_DELIVERY_MAX_DESTS];
    size_t n_dests;
    char *smtp_url;         /* e-mail destinations: the relay (smtp:// or smtps://) */
    char *smtp_from;        /* the sender address */
    int64_t digest_ms;      /* e-mail: gather changes this long into one message; 0: one each */
    int64_t timeout_ms;     /* one HTTP or SMTP exchange */
    int64_t pause_after_ms; /* failing this long: paused and reported */
    int64_t backoff_min_ms; /* first retry delay (default 250) */
    int64_t backoff_max_ms; /* the slowest retry pace, also while paused (default 60000) */
    char forbidden_hosts[4][96]; /* "HOST:PORT" of churnd's own listeners: never a destination */
    size_t n_forbidden;
    /* issue 15: a webhook named by a playbook (the alert's action.webhook) is sent the RAISED
     * revision whatever its filter, and its acceptance is told here (NULL: not told) */
    churn_delivery_action_fn action_done;
    void *action_ctx;
};

/*
 * The lists of churnd's options, one NAME=VALUE per line (struct churn_config's webhooks,
 * webhook_secrets, webhook_filters, webhook_formats, emails); NULL or "" for none.
 */
struct churn_delivery_lists {
    const char *webhooks, *secrets, *filters, *formats, *emails;
};

/**
 * churn_delivery_config_parse() - @cfg from the option lists, checked: a malformed line, a
 * duplicate or over-long name, a URL that does not parse or is not http(s), a URL that points
 * at one of @cfg->forbidden_hosts (fill them first), a secret/filter/format naming no
 * destination, a filter that does not parse, an unknown format, an e-mail destination
 * without --smtp-url, or an address that is not an address: CHURN_EINVAL with a message naming
 * the option and the destination. Other fields of @cfg (timeouts, SMTP) are left as set.
 * Free with churn_delivery_config_fini() on success and on error.
 */
enum churn_err churn_delivery_config_parse(struct churn_delivery_config *cfg,
                                           const struct churn_delivery_lists *lists, char *errbuf,
                                           size_t errlen);

/** churn_delivery_config_init() - no destinations and the default timings. */
void churn_delivery_config_init(struct churn_delivery_config *cfg);

/** churn_delivery_config_fini() - free the strings of @cfg. */
void churn_delivery_config_fini(struct churn_delivery_config *cfg);

/*
 * churn_delivery_render_fn - the body of one webhook delivery of @alert in @format, appended
 * to @out. Called from a delivery thread; must be thread-safe. The service layer supplies it
 * (the API's JSON mapping lives there).
 */
typedef enum churn_err (*churn_delivery_render_fn)(void *ctx, const struct churn_alert *alert,
                                                   enum churn_delivery_format format,
                                                   struct churn_buf *out);

/**
 * churn_delivery_summary() - one line a person reads about @alert ("[HIGH] cust-7: churn
 * intent in chat, risk 82% (was 41%), playbook retention-call: call the customer"), appended
 * to @out. Used for e-mail and the Slack format.
 */
enum churn_err churn_delivery_summary(const struct churn_alert *alert, struct churn_buf *out);

/**
 * churn_delivery_signature() - "sha256=<hex HMAC-SHA256 of @body under @secret>" into @out
 * (at least 72 bytes).
 */
void churn_delivery_signature(const char *secret, const void *body, size_t len, char *out,
                              size_t outlen);

struct churn_delivery;

/**
 * churn_delivery_start() - a thread per destination of @cfg (copied), reading @store's alert
 * log and woken by @hub (both must outlive the delivery). A destination seen for the first
 * time starts at the log's head (it is not sent the history). No destinations: *@out is NULL
 * and nothing runs. CHURN_ENOMEM, or the store's error reading a cursor.
 */
enum churn_err churn_delivery_start(struct churn_store *store, struct churn_alert_hub *hub,
                                    const struct churn_delivery_config *cfg,
                                    churn_delivery_render_fn render, void *render_ctx,
                                    struct churn_delivery **out);

/** churn_delivery_stop() - stop every thread (an exchange in flight is aborted) and free. */
void churn_delivery_stop(struct churn_delivery *d);

struct churn_delivery_status {
    char name[CHURN_DELIVERY_NAME_MAX];
    enum churn_delivery_kind kind;
    uint64_t cursor;      /* last alert sequence delivered (or skipped by the filter) */
    uint64_t delivered;   /* changes accepted by the receiver since start */
    uint64_t failed;      /* failed attempts since start */
    uint64_t retried;     /* attempts that were retries */
    bool paused;          /* failing for longer than pause_after_ms */
    int64_t last_lag_ms;  /* commit of the alert change to its acceptance, last delivery */
    char last_error[256]; /* "" when the last attempt succeeded */
};

/** churn_delivery_count() - the number of destinations (0 for NULL). */
size_t churn_delivery_count(const struct churn_delivery *d);

/** churn_delivery_status() - a snapshot of destination @i (< churn_delivery_count()). */
void churn_delivery_status(struct churn_delivery *d, size_t i, struct churn_delivery_status *out);

#endif
