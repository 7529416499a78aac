/*
 * server.c - the gRPC C-core server: channel arguments from the options, method
 * registration, one completion queue and thread per worker, pre-posted requests re-armed
 * before the handler runs, the completion loop that routes typed tags to call.c, and the
 * drain on shutdown (end streams with UNAVAILABLE, let the rest finish within the drain
 * timeout, then cancel what remains).
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/log.h"
#include "churn/metrics.h"
#include "internal.h"

#define UNREGISTERED_REQUESTS 4 /* pre-posted per worker for unknown methods */
#define WORKER_TICK_MS        100
#define DRAIN_POLL_MS         20

void
churn_server_options_default(struct churn_server_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->listen = "127.0.0.1:50051";
    opts->workers = 2;
    opts->max_recv_bytes = 4 * 1024 * 1024; /* the largest method limit (UpsertCustomers) */
    opts->max_concurrent_streams = 1000;
    opts->max_metadata_bytes = 16 * 1024;
    opts->memory_quota_bytes = 1024ULL * 1024 * 1024;
    opts->handshake_timeout_ms = 10000;
    opts->keepalive_time_ms = 2 * 60 * 60 * 1000;
    opts->keepalive_timeout_ms = 20000;
    opts->min_client_ping_interval_ms = 60000;
    opts->max_connection_idle_ms = 300000; /* issue 13: idle connections hold descriptors */
    opts->max_connection_age_ms = 0;
    opts->max_connection_age_grace_ms = 30000;
    opts->drain_timeout_ms = 10000;
    opts->requests_per_method = 32;
    opts->max_send_queue = 1024;
    opts->http2_bdp_probe = true;
}

/* The methods as the metrics registry labels them (go-grpc-prometheus grpc_type names). */
static enum churn_err
declare_metrics(struct churn_metrics *m, const struct churn_method *methods, size_t n)
{
    static const char *const types[] = {
        [CHURN_RPC_UNARY] = "unary",
        [CHURN_RPC_CLIENT_STREAM] = "client_stream",
        [CHURN_RPC_SERVER_STREAM] = "server_stream",
        [CHURN_RPC_BIDI_STREAM] = "bidi_stream",
    };
    const char **names = churn_calloc(n ? 2 * n : 1, sizeof(char *));
    if (!names)
        return CHURN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        names[i] = methods[i].name;
        names[n + i] = types[methods[i].shape];
    }
    enum churn_err err = churn_metrics_rpc_methods(m, names, names + n, n);
    churn_free(names);
    return err == CHURN_EEXIST ? CHURN_OK : err;
}

static grpc_arg
int_arg(const char *key, int value)
{
    grpc_arg a;
    memset(&a, 0, sizeof(a));
    a.type = GRPC_ARG_INTEGER;
    a.key = (char *)key;
    a.value.integer = value;
    return a;
}

void
churn__server_request(struct churn__worker *w, size_t method_index)
{
    struct churn_server *s = w->server;
    struct churn_rpc *rpc = churn__rpc_new(w, method_index);
    if (!rpc) {
        churn_log(CHURN_LOG_ERROR, "request_failed", CHURN_LF_STR("reason", "out of memory"));
        return;
    }
    grpc_call_error e;
    if (rpc->unregistered) {
        e = grpc_server_request_call(s->grpc, &rpc->call, &rpc->details, &rpc->request_md, w->cq,
                                     w->cq, &rpc->t_new);
    } else {
        bool payload =
            rpc->method->shape == CHURN_RPC_UNARY || rpc->method->shape == CHURN_RPC_SERVER_STREAM;
        e = grpc_server_request_registered_call(
            s->grpc, s->registered[method_index], &rpc->call, &rpc->deadline, &rpc->request_md,
            payload ? &rpc->payload : NULL, w->cq, w->cq, &rpc->t_new);
    }
    if (e != GRPC_CALL_OK) {
        churn_log(CHURN_LOG_ERROR, "request_failed", CHURN_LF_INT("grpc_call_error", e));
        churn__rpc_discard(rpc);
    }
}

/* Drain: every open stream on this worker is told the server is going away. */
static void
end_streams(struct churn__worker *w)
{
    for (struct churn_rpc *rpc = w->active; rpc; rpc = rpc->next) {
        if (rpc->method && (rpc->method->shape == CHURN_RPC_SERVER_STREAM ||
                            rpc->method->shape == CHURN_RPC_BIDI_STREAM))
            churn_rpc_finish(rpc, CHURN_EUNAVAIL, "server is shutting down");
    }
    w->streams_ended = true;
}

static void *
worker_main(void *arg)
{
    struct churn__worker *w = arg;
    struct churn_server *s = w->server;
    char name[16];
    snprintf(name, sizeof(name), "cq-worker-%d", w->index);
    pthread_setname_np(pthread_self(), name); /* shown by top -H, perf, gdb */
    for (;;) {
        gpr_timespec tick = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(WORKER_TICK_MS, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(w->cq, tick, NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            if (atomic_load(&s->draining) && !w->streams_ended)
                end_streams(w);
            continue;
        }
        struct churn__tag *tag = ev.tag;
        bool ok = ev.success != 0;
        switch (tag->kind) {
        case CHURN__TAG_NEW_CALL:
            churn__rpc_on_new_call(
                (struct churn_rpc *)((char *)tag - offsetof(struct churn_rpc, t_new)), ok);
            break;
        case CHURN__TAG_RECV:
            churn__rpc_on_recv(
                (struct churn_rpc *)((char *)tag - offsetof(struct churn_rpc, t_recv)), ok);
            break;
        case CHURN__TAG_SEND:
            churn__rpc_on_send(
                (struct churn_rpc *)((char *)tag - offsetof(struct churn_rpc, t_send)), ok);
            break;
        case CHURN__TAG_CLOSE:
            churn__rpc_on_close(
                (struct churn_rpc *)((char *)tag - offsetof(struct churn_rpc, t_close)), ok);
            break;
        case CHURN__TAG_SHUTDOWN:
            pthread_mutex_lock(&s->mu);
            s->shutdown_notified = true;
            pthread_cond_broadcast(&s->cond);
            pthread_mutex_unlock(&s->mu);
            break;
        }
    }
    return NULL;
}

static void
server_free(struct churn_server *s)
{
    if (s->grpc)
        grpc_server_destroy(s->grpc);
    for (int i = 0; i < s->n_workers; i++) {
        if (!s->workers[i].cq)
            continue;
        grpc_completion_queue_shutdown(s->workers[i].cq);
        if (!s->threads_started) {
            while (grpc_completion_queue_next(s->workers[i].cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                              NULL)
                       .type != GRPC_QUEUE_SHUTDOWN) {
            }
        }
    }
    if (s->threads_started)
        for (int i = 0; i < s->n_workers; i++)
            pthread_join(s->workers[i].thread, NULL);
    for (int i = 0; i < s->n_workers; i++)
        if (s->workers[i].cq)
            grpc_completion_queue_destroy(s->workers[i].cq);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    churn_free(s->workers);
    churn_free(s->registered);
    churn__tls_free(s);
    churn_free(s);
    grpc_shutdown();
}

enum churn_err
churn_server_start(const struct churn_server_options *opts, const struct churn_method *methods,
                   size_t n_methods, struct churn_server **out, int *port, char *errbuf,
                   size_t errlen)
{
    if (opts->workers < 1 || opts->workers > 256)
        return churn_fail(errbuf, errlen, CHURN_EINVAL, "workers: must be 1 to 256");
    if (opts->max_send_queue < 1)
        return churn_fail(errbuf, errlen, CHURN_EINVAL, "max_send_queue: must be at least 1");
    churn__accept_guard_init();
    grpc_init();
    struct churn_server *s = churn_calloc(1, sizeof(*s));
    if (!s) {
        grpc_shutdown();
        return churn_fail(errbuf, errlen, CHURN_ENOMEM, "out of memory");
    }
    s->opts = *opts;
    s->methods = methods;
    s->n_methods = n_methods;
    s->shutdown_tag.kind = CHURN__TAG_SHUTDOWN;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    enum churn_err err = CHURN_ENOMEM;
    s->workers = churn_calloc((size_t)opts->workers, sizeof(*s->workers));
    s->registered = churn_calloc(n_methods ? n_methods : 1, sizeof(void *));
    if (!s->workers || !s->registered) {
        churn_fail(errbuf, errlen, err, "out of memory");
        goto out_free;
    }
    s->n_workers = opts->workers;
    if (opts->metrics && (err = declare_metrics(opts->metrics, methods, n_methods)) != CHURN_OK) {
        churn_fail(errbuf, errlen, err, "metrics: cannot declare the methods: %s",
                   churn_strerror(err));
        goto out_free;
    }

    /* core's limit is the largest any method accepts, never above --max-recv-bytes (a
     * ceiling per-method limits cannot raise); each method checks its own */
    int max_recv = 0;
    for (size_t i = 0; i <= n_methods; i++) {
        uint32_t limit = churn__recv_limit(opts, i < n_methods ? &methods[i] : NULL);
        if ((int)limit > max_recv)
            max_recv = (int)limit;
    }

    grpc_arg args[16];
    size_t n = 0;
    args[n++] = int_arg(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, max_recv);
    args[n++] = int_arg(GRPC_ARG_MAX_CONCURRENT_STREAMS, opts->max_concurrent_streams);
    /* core ends the connection for a header block over its limit: 4x ours, so a block over
     * ours fails its call alone (call.c) and the connection lives on */
    args[n++] = int_arg(GRPC_ARG_MAX_METADATA_SIZE, opts->max_metadata_bytes * 4);
    args[n++] = int_arg(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, opts->handshake_timeout_ms);
    args[n++] = int_arg(GRPC_ARG_KEEPALIVE_TIME_MS, opts->keepalive_time_ms);
    args[n++] = int_arg(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, opts->keepalive_timeout_ms);
    args[n++] = int_arg(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                        opts->min_client_ping_interval_ms);
    args[n++] = int_arg(GRPC_ARG_ALLOW_REUSEPORT, 0);
    args[n++] = int_arg(GRPC_ARG_HTTP2_BDP_PROBE, opts->http2_bdp_probe);
    if (opts->http2_write_buffer_bytes > 0)
        args[n++] = int_arg(GRPC_ARG_HTTP2_WRITE_BUFFER_SIZE, opts->http2_write_buffer_bytes);
    if (opts->max_connection_idle_ms > 0)
        args[n++] = int_arg(GRPC_ARG_MAX_CONNECTION_IDLE_MS, opts->max_connection_idle_ms);
    if (opts->max_connection_age_ms > 0) {
        args[n++] = int_arg(GRPC_ARG_MAX_CONNECTION_AGE_MS, opts->max_connection_age_ms);
        args[n++] =
            int_arg(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, opts->max_connection_age_grace_ms);
    }
    grpc_resource_quota *quota = NULL;
    if (opts->memory_quota_bytes) {
        quota = grpc_resource_quota_create("churnd");
        grpc_resource_quota_resize(quota, (size_t)opts->memory_quota_bytes);
        grpc_arg a;
        memset(&a, 0, sizeof(a));
        a.type = GRPC_ARG_POINTER;
        a.key = (char *)GRPC_ARG_RESOURCE_QUOTA;
        a.value.pointer.p = quota;
        a.value.pointer.vtable = grpc_resource_quota_arg_vtable();
        args[n++] = a;
    }
    grpc_channel_args channel_args = {.num_args = n, .args = args};
    s->grpc = grpc_server_create(&channel_args, NULL);
    if (quota)
        grpc_resource_quota_unref(quota);

    for (int i = 0; i < s->n_workers; i++) {
        s->workers[i].server = s;
        s->workers[i].index = i;
        s->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(s->grpc, s->workers[i].cq, NULL);
    }
    for (size_t i = 0; i < n_methods; i++) {
        const struct churn_method *m = &methods[i];
        bool payload = m->shape == CHURN_RPC_UNARY || m->shape == CHURN_RPC_SERVER_STREAM;
        s->registered[i] = grpc_server_register_method(
            s->grpc, m->name, NULL,
            payload ? GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER : GRPC_SRM_PAYLOAD_NONE, 0);
        if (!s->registered[i]) {
            err = churn_fail(errbuf, errlen, CHURN_EINVAL, "cannot register method %s (duplicate?)",
                             m->name);
            goto out_free;
        }
    }
    grpc_server_credentials *creds = NULL;
    if ((err = churn__tls_server_credentials(s, &creds, errbuf, errlen)))
        goto out_free;
    int bound = grpc_server_add_http2_port(s->grpc, opts->listen, creds);
    grpc_server_credentials_release(creds);
    if (bound == 0) {
        err = churn_fail(errbuf, errlen, CHURN_EUNAVAIL,
                         "cannot listen on %s: address in use, not local, or malformed",
                         opts->listen);
        goto out_free;
    }
    grpc_server_start(s->grpc);
    for (int i = 0; i < s->n_workers; i++) {
        for (size_t m = 0; m < n_methods; m++)
            for (int k = 0; k < opts->requests_per_method; k++)
                churn__server_request(&s->workers[i], m);
        for (int k = 0; k < UNREGISTERED_REQUESTS; k++)
            churn__server_request(&s->workers[i], n_methods);
    }
    for (int i = 0; i < s->n_workers; i++) {
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0) {
            /* threads already running are stopped by the normal shutdown path */
            s->n_workers = i;
            s->threads_started = i > 0;
            churn_server_shutdown(s);
            churn_server_destroy(s);
            return churn_fail(errbuf, errlen, CHURN_ENOMEM, "cannot start worker threads");
        }
    }
    s->threads_started = true;
    *out = s;
    *port = bound;
    return CHURN_OK;

out_free:
    /* never started: the server can be destroyed without a shutdown */
    server_free(s);
    return err;
}

static bool
wait_notified(struct churn_server *s, int timeout_ms)
{
    struct timespec until = churn_timespec_of_ns(churn_mono_ns() + timeout_ms * 1000000LL);
    pthread_mutex_lock(&s->mu);
    while (!s->shutdown_notified)
        if (pthread_cond_timedwait(&s->cond, &s->mu, &until) != 0)
            break;
    bool done = s->shutdown_notified;
    pthread_mutex_unlock(&s->mu);
    return done;
}

void
churn_server_shutdown(struct churn_server *s)
{
    if (!s || s->shut_down)
        return;
    s->shut_down = true;
    atomic_store(&s->draining, true);
    long active = atomic_load(&s->active_calls);
    churn_log(CHURN_LOG_INFO, "draining", CHURN_LF_INT("active_calls", active),
              CHURN_LF_INT("drain_timeout_ms", s->opts.drain_timeout_ms));
    grpc_server_shutdown_and_notify(s->grpc, s->workers[0].cq, &s->shutdown_tag);
    /*
     * The notification waits for every connection to close, and an idle client may keep
     * its connection open for as long as it likes. So once no call is left (or the drain
     * timeout has passed) the remaining connections are cut.
     */
    int waited = 0;
    bool cut = false;
    while (!wait_notified(s, DRAIN_POLL_MS)) {
        waited += DRAIN_POLL_MS;
        bool idle = atomic_load(&s->active_calls) == 0;
        if (!cut && (idle || waited >= s->opts.drain_timeout_ms)) {
            if (!idle)
                churn_log(CHURN_LOG_WARN, "drain_timeout",
                          CHURN_LF_INT("cancelled_calls", atomic_load(&s->active_calls)));
            grpc_server_cancel_all_calls(s->grpc);
            cut = true;
        }
    }
}

void
churn_server_destroy(struct churn_server *s)
{
    if (!s)
        return;
    server_free(s);
}

long
churn_server_active_calls(struct churn_server *s)
{
    return atomic_load(&s->active_calls);
}
