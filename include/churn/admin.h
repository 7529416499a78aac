/*
 * churn/admin.h - the admin HTTP listener: a small route table served by libmicrohttpd from
 * its own thread, apart from the gRPC port (metrics, probes, and the dashboard's routes).
 *
 * A small pool of epoll threads serves the connections (each thread a share of them), with a
 * cap on connections and an idle timeout, so slow or idle clients cost a file descriptor each
 * and never a thread, and one slow handler (a report over a large store) holds one thread
 * while the others keep answering /metrics and the dashboard. Routes match the
 * path exactly (or as a prefix) and the method (GET and HEAD, or POST); an unknown path is
 * 404, a known one asked with another method is 405 with `Allow`. A route with a role asks
 * the authorizer first (Authorization header → allow, 401 or 403). Handlers may read the
 * query and a POST body (64 KiB at most: 413 beyond), and may answer with a stream that
 * stays open (server-sent events): the connection is suspended while the stream has nothing
 * to send and resumed by churn_admin_stream_wake(), so an open stream costs no thread
 * either. TLS (GnuTLS, through libmicrohttpd) when a certificate and key are given. The
 * listener never sees gRPC or protobuf types.
 */
#ifndef CHURN_ADMIN_H
#define CHURN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "churn/buf.h"
#include "churn/error.h"

struct churn_metrics;

/* What a handler fills. body is initialised empty (cap 16 MiB) before the call. */
struct churn_admin_stream;

struct churn_admin_reply {
    int status;               /* HTTP status; 200 unless set */
    const char *content_type; /* static string; "text/plain; charset=utf-8" unless set */
    struct churn_buf body;
    const void *static_body;           /* issue 15: non-NULL: sent instead of body (not copied) */
    size_t static_len;                 /* its length */
    struct churn_admin_stream *stream; /* set by churn_admin_reply_stream() */
    unsigned retry_after_s;            /* issue 15: non-zero: sent as Retry-After (with body) */
};

/*
 * typedef churn_admin_handler_fn - answer a GET of the route's path. Runs on one of the
 * listener's threads, concurrently with other requests (of this route too): thread-safe; keep
 * it short (the thread's other connections wait), never block on the request path.
 */
typedef void churn_admin_handler_fn(void *ctx, struct churn_admin_reply *reply);

/* What a request handler sees (issue 15): valid for the duration of the call. */
struct churn_admin_request;

/*
 * typedef churn_admin_request_fn - answer a request of the route (path, query, body); the
 * same rules as churn_admin_handler_fn.
 */
typedef void churn_admin_request_fn(void *ctx, const struct churn_admin_request *req,
                                    struct churn_admin_reply *reply);

struct churn_admin_route {
    const char *path; /* exact, "/metrics"; with @prefix, "/assets/" matches below it */
    churn_admin_handler_fn *handler; /* one of handler and serve */
    void *ctx;
    const char *role; /* NULL: public; otherwise the authorizer is asked for this role */
    churn_admin_request_fn *serve; /* issue 15: a handler that reads the request */
    const char *method;            /* NULL: GET and HEAD; "POST" */
    bool prefix;                   /* @path is a prefix */
};

/** churn_admin_request_path() - the path asked for, without the query ("/api/queue"). */
const char *churn_admin_request_path(const struct churn_admin_request *req);

/** churn_admin_query() - the value of query parameter @name ("" when empty), NULL if absent. */
const char *churn_admin_query(const struct churn_admin_request *req, const char *name);

/**
 * churn_admin_query_unknown() - the first query parameter not in @known (@n names), or NULL
 * when every one is known: handlers answer 400 naming it.
 */
const char *churn_admin_query_unknown(const struct churn_admin_request *req,
                                      const char *const *known, size_t n);

/** churn_admin_request_header() - the value of request header @name, NULL if absent. */
const char *churn_admin_request_header(const struct churn_admin_request *req, const char *name);

/** churn_admin_request_body() - a POST's body (NUL-terminated), its length in *@len. */
const char *churn_admin_request_body(const struct churn_admin_request *req, size_t *len);

/** churn_admin_request_who() - the name of the authorized identity ("" when none). */
const char *churn_admin_request_who(const struct churn_admin_request *req);

/* A reply that stays open (server-sent events); its handle, owned by the listener. */
struct churn_admin_stream;

struct churn_admin_stream_ops {
    /* copy up to @max bytes into @buf: the count, 0 when there is nothing now (the owner calls
     * churn_admin_stream_wake() when there is), -1 at the end of the stream. Listener thread. */
    long (*read)(void *ctx, char *buf, size_t max);
    /* the connection is gone or the listener stops: after it returns, wake is never called */
    void (*close)(void *ctx);
};

/**
 * churn_admin_reply_stream() - answer with a stream instead of @reply's body: @ops read from
 * @ctx (borrowed until ops->close). Returns the handle to wake, or NULL when out of memory
 * (then ops->close(@ctx) has been called and the reply is a 503).
 */
struct churn_admin_stream *churn_admin_reply_stream(struct churn_admin_reply *reply,
                                                    const struct churn_admin_stream_ops *ops,
                                                    void *ctx);

/**
 * churn_admin_stream_wake() - the stream has something to send: resume its connection. Any
 * thread (ops->read included), any time until ops->close returns.
 */
void churn_admin_stream_wake(struct churn_admin_stream *s);

enum churn_admin_verdict {
    CHURN_ADMIN_ALLOW,
    CHURN_ADMIN_UNAUTHENTICATED, /* 401: no or unknown credentials */
    CHURN_ADMIN_FORBIDDEN,       /* 403: known, without the role */
};

/*
 * typedef churn_admin_authorize_fn - decide on @authorization (the Authorization header's
 * value, NULL when absent) for @role; the identity's name goes to @who (@wholen bytes; ""
 * when anonymous). Called on the listener's thread.
 */
typedef enum churn_admin_verdict churn_admin_authorize_fn(void *ctx, const char *authorization,
                                                          const char *role, char *who,
                                                          size_t wholen);

struct churn_admin_options {
    const char *listen;       /* "host:port" (port 0: any free one); IPv6 as "[::1]:9464" */
    unsigned max_connections; /* at most this many open at once; more are refused */
    unsigned timeout_s;       /* an idle or slow connection is closed after this long */
    unsigned threads;         /* serving threads, 1..max_connections (each serves a share) */
    const char *tls_cert;     /* PEM file; NULL or "": plaintext */
    const char *tls_key;      /* PEM file, with tls_cert */
    churn_admin_authorize_fn *authorize; /* NULL: roles are not checked */
    void *authorize_ctx;
};

/**
 * churn_admin_options_default() - 64 connections, 10 s timeout, 4 threads, plaintext, no
 * authorizer.
 */
void churn_admin_options_default(struct churn_admin_options *o);

struct churn_admin;

/**
 * churn_admin_start() - bind @o->listen and serve @routes (@n rows; borrowed until
 * churn_admin_stop(), as are their contexts) from @o->threads new threads. *port receives the
 * bound port. Errors name the culprit in @errbuf: a malformed address or more threads than
 * connections (CHURN_EINVAL), an address
 * in use or not local (CHURN_EUNAVAIL), an unreadable certificate or key file, or TLS not
 * available in the installed libmicrohttpd.
 */
enum churn_err churn_admin_start(const struct churn_admin_options *o,
                                 const struct churn_admin_route *routes, size_t n,
                                 struct churn_admin **out, int *port, char *errbuf, size_t errlen);

/** churn_admin_connections() - connections open right now (for the metrics). */
unsigned churn_admin_connections(struct churn_admin *admin);

/**
 * churn_admin_stop() - stop accepting at once, then close every connection after the
 * answer in progress, join the threads and free. NULL is a no-op.
 */
void churn_admin_stop(struct churn_admin *admin);

/* ---- the standard routes ------------------------------------------------------------------ */

/*
 * typedef churn_admin_ready_fn - whether the process is ready to serve; when not, a short
 * reason in @why ("no model is served").
 */
typedef bool churn_admin_ready_fn(void *ctx, char *why, size_t len);

/** churn_admin_metrics_handler() - /metrics: @ctx is a struct churn_metrics. */
void churn_admin_metrics_handler(void *ctx, struct churn_admin_reply *reply);

/** churn_admin_livez_handler() - /livez: 200 "ok" while the process answers. */
void churn_admin_livez_handler(void *ctx, struct churn_admin_reply *reply);

/*
 * struct churn_admin_readiness - the context of churn_admin_readyz_handler().
 */
struct churn_admin_readiness {
    churn_admin_ready_fn *ready;
    void *ctx;
};

/** churn_admin_readyz_handler() - /readyz: 200 "ready", or 503 "not ready: <why>". */
void churn_admin_readyz_handler(void *ctx, struct churn_admin_reply *reply);

#endif
