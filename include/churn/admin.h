/*
 * churn/admin.h - the admin HTTP listener: a small route table served by libmicrohttpd from
 * its own thread, apart from the gRPC port (metrics, probes, and the dashboard's routes).
 *
 * One epoll thread serves every connection, with a cap on connections and an idle timeout,
 * so slow or idle clients cost a file descriptor each and never a thread. Routes match the
 * path exactly; an unknown path is 404, a known one asked with a method other than GET or
 * HEAD is 405 with `Allow: GET, HEAD`. A route with a role asks the authorizer first
 * (Authorization header → allow, 401 or 403). TLS (GnuTLS, through libmicrohttpd) when a
 * certificate and key are given. The listener never sees gRPC or protobuf types.
 */
#ifndef CHURN_ADMIN_H
#define CHURN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "churn/buf.h"
#include "churn/error.h"

struct churn_metrics;

/* What a handler fills. body is initialised empty (cap 16 MiB) before the call. */
struct churn_admin_reply {
    int status;               /* HTTP status; 200 unless set */
    const char *content_type; /* static string; "text/plain; charset=utf-8" unless set */
    struct churn_buf body;
};

/*
 * typedef churn_admin_handler_fn - answer a GET of the route's path. Runs on the listener's
 * thread: keep it short (every other admin client waits), never block on the request path.
 */
typedef void churn_admin_handler_fn(void *ctx, struct churn_admin_reply *reply);

struct churn_admin_route {
    const char *path; /* exact, "/metrics" */
    churn_admin_handler_fn *handler;
    void *ctx;
    const char *role; /* NULL: public; otherwise the authorizer is asked for this role */
};

enum churn_admin_verdict {
    CHURN_ADMIN_ALLOW,
    CHURN_ADMIN_UNAUTHENTICATED, /* 401: no or unknown credentials */
    CHURN_ADMIN_FORBIDDEN,       /* 403: known, without the role */
};

/*
 * typedef churn_admin_authorize_fn - decide on @authorization (the Authorization header's
 * value, NULL when absent) for @role. Called on the listener's thread.
 */
typedef enum churn_admin_verdict churn_admin_authorize_fn(void *ctx, const char *authorization,
                                                          const char *role);

struct churn_admin_options {
    const char *listen;       /* "host:port" (port 0: any free one); IPv6 as "[::1]:9464" */
    unsigned max_connections; /* at most this many open at once; more are refused */
    unsigned timeout_s;       /* an idle or slow connection is closed after this long */
    const char *tls_cert;     /* PEM file; NULL or "": plaintext */
    const char *tls_key;      /* PEM file, with tls_cert */
    churn_admin_authorize_fn *authorize; /* NULL: roles are not checked */
    void *authorize_ctx;
};

/** churn_admin_options_default() - 64 connections, 10 s timeout, plaintext, no authorizer. */
void churn_admin_options_default(struct churn_admin_options *o);

struct churn_admin;

/**
 * churn_admin_start() - bind @o->listen and serve @routes (@n rows; borrowed until
 * churn_admin_stop(), as are their contexts) from a new thread. *port receives the bound
 * port. Errors name the culprit in @errbuf: a malformed address (CHURN_EINVAL), an address
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
 * answer in progress, join the thread and free. NULL is a no-op.
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
