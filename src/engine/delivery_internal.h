/*
 * delivery_internal.h - what the delivery engine (delivery.c, delivery_config.c) needs from
 * its network half (delivery_net.c, the only file that includes libcurl and OpenSSL): one
 * exchange per call, a webhook POST or an SMTP message, on a handle kept per destination so
 * that connections are reused; and the URL check the configuration runs.
 */
#ifndef CHURN_ENGINE_DELIVERY_INTERNAL_H
#define CHURN_ENGINE_DELIVERY_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/delivery.h"

struct churn__net;
struct iovec;
struct churn_store;
struct churn_alert_hub;

/* ---- the alert log read once for every destination (delivery_batch.c) ---- */

/* The sequences one window of the log spans. */
#define CHURN__DBATCH_MAX 64

/* One change of the log, decoded once and shared: read-only for the workers. */
struct churn__dentry {
    struct churn_alert alert; /* its sequence set */
    bool moved;               /* imported from another shard (issue 16): not delivered */
};

/* A window of the log, sequences in (first, end], as one read found it: read-only. */
struct churn__dbatch {
    uint64_t first, end; /* end = first + CHURN__DBATCH_MAX */
    uint64_t last;       /* a cursor may pass to here: end once the window is complete, else
                            the last sequence read, undecodable ones included (first: none) */
    size_t n;            /* decoded changes in e[], in sequence order */
    const struct churn__dentry *e[CHURN__DBATCH_MAX];
};

struct churn__dlog;

/**
 * churn__dlog_open() - a shared reader of @store's alert log (@hub, may be NULL: its head
 * tells a cached read from a stale one) whose bodies are rendered by @render(@render_ctx).
 */
enum churn_err churn__dlog_open(struct churn_store *store, struct churn_alert_hub *hub,
                                churn_delivery_render_fn render, void *render_ctx,
                                struct churn__dlog **out);

/** churn__dlog_close() - free @log; every batch taken from it must have been put back. */
void churn__dlog_close(struct churn__dlog *log);

/**
 * churn__dlog_get() - the window of the log that holds the change after @after (it may also
 * hold changes at or before @after: skip them). Another worker's read of it, less than a
 * second old, when it is complete or holds every change up to the hub's head as it is now;
 * else a read now (other askers wait for it, then share it). The batch is the caller's to
 * read until churn__dlog_put(). Undecodable records are logged once and skipped.
 * @out: OUT: the batch. Return: CHURN_OK, or the store's error (*@out NULL).
 */
enum churn_err churn__dlog_get(struct churn__dlog *log, uint64_t after,
                               const struct churn__dbatch **out);

/** churn__dlog_put() - the caller is done with @batch (NULL: nothing). */
void churn__dlog_put(struct churn__dlog *log, const struct churn__dbatch *batch);

/**
 * churn__dlog_body() - the webhook body of @entry (of a batch the caller holds) in @format,
 * rendered by the first caller and shared: *@out is valid until that batch is put back. A
 * failed render is not kept (the next call renders again). CHURN_EINVAL for an unknown
 * @format.
 */
enum churn_err churn__dlog_body(struct churn__dlog *log, const struct churn__dentry *entry,
                                enum churn_delivery_format format, const struct churn_buf **out);

/* The room a signature text takes ("sha256=" and 64 hex digits, NUL). */
#define CHURN__SIGNATURE_MAX 80

/**
 * churn__dlog_signature() - the signature of @body (@entry's body in @format, from
 * churn__dlog_body()) under @secret, signed with @net: the first destination to sign a change
 * keeps its signature in the entry for every destination with an equal secret; with another
 * secret it is computed into @scratch (CHURN__SIGNATURE_MAX bytes). The text is valid while
 * the batch is held (or @scratch lives). NULL when signing failed.
 */
const char *churn__dlog_signature(struct churn__dlog *log, const struct churn__dentry *entry,
                                  enum churn_delivery_format format, const char *secret,
                                  const struct churn_buf *body, struct churn__net *net,
                                  char *scratch);

/* ---- churnd's own HTTP/1.1 client for http:// webhooks (delivery_http.c) ---- */

/* One destination's connection and where it goes (host as getaddrinfo takes it). */
struct churn__http_conn {
    int fd;            /* -1: none open */
    unsigned requests; /* answered on this connection */
    char host[256];
    char port[8];
};

/* What bounds one exchange. */
struct churn__http_limits {
    int64_t deadline;   /* churn_mono_ns() / 1e6 by which all of it ends */
    int64_t timeout_ms; /* the destination's timeout (named in the error) */
    const atomic_bool *stop;
    uint64_t answer_cap; /* body bytes read at most; past them the connection is dropped */
};

/** churn__http_conn_init() - no connection yet; host and port are the caller's to fill. */
void churn__http_conn_init(struct churn__http_conn *c);

/** churn__http_conn_close() - close the connection, if open (the next exchange opens one). */
void churn__http_conn_close(struct churn__http_conn *c);

/**
 * churn__http_exchange() - send the request @req (@n <= 4 parts: the head and the body) on
 * @c's connection, opened when there is none, and read the answer within @l.
 * @status: OUT: the answer's status (0: none).
 *
 * Return: CHURN_OK when a complete answer came back (whatever its status); CHURN_EIO with
 * the reason in @err otherwise (could not resolve or connect, timed out, malformed answer,
 * connection reset, stopping). The connection is kept only after an answer that allows it.
 */
enum churn_err churn__http_exchange(struct churn__http_conn *c, const struct iovec *req, int n,
                                    const struct churn__http_limits *l, long *status, char *err,
                                    size_t errlen);

/* ---- the network half (delivery_net.c) ---- */

/** churn__net_global_init() - once per process, before any thread exchanges. */
enum churn_err churn__net_global_init(void);

/**
 * churn__net_open() - a handle for one destination: every exchange times out after
 * @timeout_ms, and is aborted as soon as *@stop becomes true.
 */
enum churn_err churn__net_open(int64_t timeout_ms, const atomic_bool *stop,
                               struct churn__net **out);

void churn__net_close(struct churn__net *net);

/**
 * churn__net_sign() - "sha256=<hex HMAC-SHA256 of @body under @secret>" into @out (at least
 * 72 bytes), on @net's MAC context (keyed again only when @secret is another string than
 * the last). False when OpenSSL fails.
 */
bool churn__net_sign(struct churn__net *net, const char *secret, const struct churn_buf *body,
                     char *out, size_t outlen);

/**
 * churn__net_post() - POST @body (JSON) to @url with the headers X-Churnd-Delivery: @id and,
 * when @signature is non-NULL (churn__net_sign()), X-Churnd-Signature-256: @signature.
 * CHURN_OK when the receiver answered
 * 2xx (its body is read up to 64 KiB and dropped); otherwise CHURN_EIO with the reason
 * ("HTTP 500", "Couldn't resolve host name", "Timeout was reached...") in @err.
 */
enum churn_err churn__net_post(struct churn__net *net, const char *url, const char *signature,
                               const char *id, const struct churn_buf *body, char *err,
                               size_t errlen);

/** churn__net_last_status() - the HTTP status of the last churn__net_post() answer (0: none). */
long churn__net_last_status(const struct churn__net *net);

/**
 * churn__net_mail() - send @message (headers and body, CRLF lines) from @from to the
 * comma-separated @to through the relay at @smtp_url. CHURN_OK when the relay accepted it;
 * CHURN_EIO with the reason in @err.
 */
enum churn_err churn__net_mail(struct churn__net *net, const char *smtp_url, const char *from,
                               const char *to, const struct churn_buf *message, char *err,
                               size_t errlen);

/**
 * churn__net_url_check() - CHURN_OK when @url parses as an http or https URL with a host and
 * does not point at one of the @n "HOST:PORT" entries of @forbidden (loopback names count as
 * one host); CHURN_EINVAL with the reason otherwise.
 */
enum churn_err churn__net_url_check(const char *url, const char (*forbidden)[96], size_t n,
                                    char *err, size_t errlen);

#endif
