/*
 * churn/transport.h - the gRPC server and client, on gRPC C core.
 *
 * The server runs one completion queue and one thread per worker, registers every method
 * of a struct churn_method table, keeps many requests pre-posted per method and queue, and
 * drives each call through the shape's state machine (see churn/rpc.h). It is the only code
 * that includes <grpc/...>, and the only place that maps enum churn_err to gRPC status codes.
 * The client side is a small blocking client used by churnctl and the tests.
 */
#ifndef CHURN_TRANSPORT_H
#define CHURN_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/auth.h"
#include "churn/error.h"
#include "churn/rpc.h"

struct churn_metrics;

struct churn_server_options {
    const char *listen;              /* "host:port"; port 0 picks a free one */
    int workers;                     /* completion queues and threads; >= 1 */
    uint32_t max_recv_bytes;         /* largest request message accepted */
    int max_concurrent_streams;      /* per connection */
    int max_metadata_bytes;          /* request headers */
    uint64_t memory_quota_bytes;     /* resource quota for the whole server; 0: none */
    int handshake_timeout_ms;        /* a connection must finish its handshake by then */
    int keepalive_time_ms;           /* server pings idle connections this often */
    int keepalive_timeout_ms;        /* and drops them when the ping is not answered */
    int min_client_ping_interval_ms; /* keepalive enforcement: faster client pings fail */
    int max_connection_idle_ms;      /* 0: unlimited */
    int max_connection_age_ms;       /* 0: unlimited */
    int max_connection_age_grace_ms; /* time calls get to finish after the age is reached */
    int drain_timeout_ms;            /* on shutdown, calls get this long before cancel */
    int requests_per_method;         /* pre-posted per worker and method */
    size_t max_send_queue;           /* streamed responses queued per call at most */
    bool http2_bdp_probe;            /* gRPC core's BDP probe pings (its default: on) */
    int http2_write_buffer_bytes;    /* gRPC core's write buffer; 0: its default */
    /* issue 14: security (docs/SECURITY.md) */
    const char *tls_cert;          /* PEM certificate chain; NULL or "": plaintext */
    const char *tls_key;           /* its PEM private key */
    const char *tls_client_ca;     /* PEM CA that client certificates must chain to: mTLS */
    bool insecure_listen;          /* allow plaintext on a non-loopback address */
    struct churn_auth *auth;       /* tokens and roles (borrowed); NULL: no authentication */
    bool auth_health_closed;       /* health and reflection need the read role too */
    struct churn_metrics *metrics; /* gRPC server metrics go here (NULL: none; borrowed) */
    /* issue 16: a shard's ownership gate, run before each handler callback with the decoded
     * request (NULL at the start of a client or bidi stream; @first: the call's start, not a
     * later stream message). An error ends the call with it. NULL: no gate. */
    enum churn_err (*gate)(void *ctx, struct churn_rpc *rpc, const ProtobufCMessage *req,
                           bool first);
    void *gate_ctx;
};

/** churn_server_options_default() - the production defaults (see docs/CONFIG.md). */
void churn_server_options_default(struct churn_server_options *opts);

/**
 * churn_server_security_check() - check @opts' security settings before anything starts:
 * the TLS flags together, plaintext only on loopback unless insecure_listen, and the
 * certificate, key and client CA files readable, PEM, and the key matching the certificate.
 * @err names the flag and the file. The same checks run in churn_server_start().
 */
enum churn_err churn_server_security_check(struct churn_server_options *opts, char *err,
                                           size_t errlen);

struct churn_config;

/**
 * churn_server_security_open() - the daemon's security settings into @opts (the strings are
 * borrowed from @cfg), checked as churn_server_security_check() does, and the --auth-tokens
 * file opened into *auth (NULL without one; churn_auth_close() it after the server is
 * destroyed). Every error names the flag and the file (churnd exits 2).
 */
enum churn_err churn_server_security_open(const struct churn_config *cfg,
                                          struct churn_server_options *opts,
                                          struct churn_auth **auth, char *err, size_t errlen);

struct churn_server;

/**
 * churn_server_start() - bind, register @methods (borrowed: must outlive the server), start
 * the workers. On success *out is the server and *port the bound port. On failure a message
 * is written to @errbuf.
 */
enum churn_err churn_server_start(const struct churn_server_options *opts,
                                  const struct churn_method *methods, size_t n_methods,
                                  struct churn_server **out, int *port, char *errbuf,
                                  size_t errlen);

/**
 * churn_server_shutdown() - stop accepting calls, end open streams with UNAVAILABLE, let
 * unary and client-stream calls finish for up to the drain timeout, cancel what remains,
 * stop the workers. Blocks until done. Safe to call once.
 */
void churn_server_shutdown(struct churn_server *server);

/** churn_server_destroy() - free a server after churn_server_shutdown(). NULL is a no-op. */
void churn_server_destroy(struct churn_server *server);

/** churn_server_active_calls() - calls in progress right now (for logs and tests). */
long churn_server_active_calls(struct churn_server *server);

/**
 * churn_transport_status_code() - the gRPC status code (numeric, as in grpc/status.h) that
 * @err is answered with. The one mapping in the project.
 */
int churn_transport_status_code(enum churn_err err);

/** churn_transport_status_name() - "INVALID_ARGUMENT" for the numeric gRPC code @code. */
const char *churn_transport_status_name(int code);

/* ---- client ---------------------------------------------------------------------------- */

struct churn_client;

/** churn_client_open() - a channel to @target ("host:port"), plaintext, no token. */
enum churn_err churn_client_open(const char *target, struct churn_client **out);

/* How a client connects (issue 14): every field NULL or "" for plaintext without a token. */
struct churn_client_options {
    const char *tls_ca;          /* PEM CA that signed the server: TLS (NULL: system roots) */
    const char *tls_cert;        /* PEM client certificate for mutual TLS, with tls_key */
    const char *tls_key;         /* its PEM private key */
    const char *tls_server_name; /* the name to verify in the server certificate */
    const char *token;           /* sent as "authorization: Bearer TOKEN" on every call */
};

/**
 * churn_client_open_ex() - a channel to @target with @opts (NULL: as churn_client_open()).
 * TLS is used when tls_ca, tls_cert or tls_server_name is given. On failure @err names the
 * option and the file.
 */
enum churn_err churn_client_open_ex(const char *target, const struct churn_client_options *opts,
                                    struct churn_client **out, char *err, size_t errlen);

/** churn_client_close() - close the channel. NULL is a no-op. */
void churn_client_close(struct churn_client *client);

struct churn_client_status {
    int code;      /* gRPC status code, 0 = OK */
    char *details; /* heap, may be NULL; churn_client_status_clear() frees it */
    /* issue 16: a cluster shard's refusal names the customer's owner in the trailer
     * x-churn-owner-address (host:port); heap, NULL when the answer has none */
    char *owner_address;
};

/** churn_client_status_clear() - free the details and the owner address of @st. */
void churn_client_status_clear(struct churn_client_status *st);

/**
 * churn_client_unary() - call @method with the serialized @req and wait up to @timeout_ms.
 * On CHURN_OK the call completed: *st holds its status and, when it is OK, *resp / *resp_len
 * a heap copy of the response (churn_free it). Transport failures return an error.
 */
enum churn_err churn_client_unary(struct churn_client *client, const char *method, const void *req,
                                  size_t req_len, int timeout_ms, void **resp, size_t *resp_len,
                                  struct churn_client_status *st);

/* A request header (metadata) of a client call: @key in lower case. */
struct churn_client_header {
    const char *key;
    const char *value;
};

/**
 * churn_client_unary_with() - churn_client_unary() with request headers (at most 4), e.g.
 * x-customer-id for a cluster's proxy. Headers are copied.
 */
enum churn_err churn_client_unary_with(struct churn_client *client, const char *method,
                                       const struct churn_client_header *headers, size_t n_headers,
                                       const void *req, size_t req_len, int timeout_ms, void **resp,
                                       size_t *resp_len, struct churn_client_status *st);

struct churn_client_stream;

/** churn_client_stream_open() - start a streaming call to @method with a deadline. */
enum churn_err churn_client_stream_open(struct churn_client *client, const char *method,
                                        int timeout_ms, struct churn_client_stream **out);

/**
 * churn_client_stream_set_header() - add request header @key = @value (copied) before the
 * first send: CHURN_EFULL after 4, or once the headers went out.
 */
enum churn_err churn_client_stream_set_header(struct churn_client_stream *s, const char *key,
                                              const char *value);

/** churn_client_stream_send() - send one serialized message; blocks until written. */
enum churn_err churn_client_stream_send(struct churn_client_stream *s, const void *msg, size_t len);

/** churn_client_stream_close_send() - half-close: no more messages from the client. */
enum churn_err churn_client_stream_close_send(struct churn_client_stream *s);

/**
 * churn_client_stream_recv() - wait for the next message: CHURN_OK with a heap copy in
 * *msg (churn_free it), or CHURN_ENOTFOUND at the end of the stream (then call finish).
 */
enum churn_err churn_client_stream_recv(struct churn_client_stream *s, void **msg, size_t *len);

/**
 * churn_client_stream_finish() - wait for the status, fill *st, free the stream. With
 * @cancel the call is cancelled first.
 */
enum churn_err churn_client_stream_finish(struct churn_client_stream *s, bool cancel,
                                          struct churn_client_status *st);

#endif
