/*
 * http.c - the admin HTTP listener (churn/admin.h) on libmicrohttpd: address parsing, the
 * daemon with its pool of epoll threads, connection cap and idle timeout, optional TLS, and
 * the request path (route lookup, 404 and 405, the authorizer, the handler's reply).
 */
#include "churn/admin.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "churn/alloc.h"

#define REPLY_CAP    (16u << 20)
#define PEM_CAP      (1u << 20)
#define LISTEN_QUEUE 128
#define BODY_CAP     (64u << 10) /* issue 15: POST bodies */

struct churn_admin {
    struct MHD_Daemon *daemon;
    const struct churn_admin_route *routes;
    size_t n_routes;
    churn_admin_authorize_fn *authorize;
    void *authorize_ctx;
    char *cert_pem, *key_pem;
    pthread_mutex_t streams_mu; /* issue 15: the open streams */
    struct churn_admin_stream *streams;
};

void
churn_admin_options_default(struct churn_admin_options *o)
{
    memset(o, 0, sizeof(*o));
    o->listen = "127.0.0.1:9464";
    o->max_connections = 64;
    o->timeout_s = 10;
    o->threads = 4;
}

/* "host:port" or "[v6]:port" → a bound-ready address in @ss. */
static enum churn_err
parse_listen(const char *listen, struct sockaddr_storage *ss, char *errbuf, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    size_t hn = colon ? (size_t)(colon - listen) : 0;
    if (!colon || hn == 0 || hn >= sizeof(host) || !colon[1])
        return churn_fail(errbuf, errlen, CHURN_EINVAL,
                          "admin-listen: '%s' is not host:port (or 'off')", listen);
    char *end = NULL;
    errno = 0;
    unsigned long pn = strtoul(colon + 1, &end, 10);
    if (*end || errno || pn > 65535 || !isdigit((unsigned char)colon[1]))
        return churn_fail(errbuf, errlen, CHURN_EINVAL,
                          "admin-listen: '%s': the port is not a number in 0..65535", listen);
    memcpy(host, listen, hn);
    host[hn] = '\0';
    if (host[0] == '[' && host[hn - 1] == ']') {
        memmove(host, host + 1, hn - 2);
        host[hn - 2] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0 || !ai) {
        churn_fail(errbuf, errlen, CHURN_EINVAL, "admin-listen: '%s': %s", listen,
                   rc ? gai_strerror(rc) : "no address");
        return CHURN_EINVAL;
    }
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return CHURN_OK;
}

static enum churn_err
read_pem(const char *path, const char *what, char **out, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return churn_fail(errbuf, errlen, CHURN_ENOTFOUND, "%s %s: cannot be read", what, path);
    struct churn_buf b;
    churn_buf_init(&b, PEM_CAP);
    char chunk[4096];
    size_t n;
    enum churn_err err = CHURN_OK;
    while (!err && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        err = churn_buf_append(&b, chunk, n);
    bool bad = ferror(f) || err || b.len == 0 || !strstr(churn_buf_str(&b), "-----BEGIN ");
    fclose(f);
    if (bad) {
        churn_buf_free(&b);
        return churn_fail(errbuf, errlen, CHURN_EINVAL, "%s %s: not a PEM file (or over 1 MiB)",
                          what, path);
    }
    *out = b.data;
    return CHURN_OK;
}

/* issue 15: a route matches the path (exactly, or below a prefix) and the method. */
static bool
route_path_matches(const struct churn_admin_route *r, const char *path)
{
    if (r->prefix)
        return strncmp(path, r->path, strlen(r->path)) == 0;
    return strcmp(r->path, path) == 0;
}

static bool
route_method_matches(const struct churn_admin_route *r, const char *method)
{
    if (r->method)
        return strcmp(method, r->method) == 0;
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* The route for @path and @method; NULL with @allow listing the path's methods (or "" for an
 * unknown path). */
static const struct churn_admin_route *
find_route(const struct churn_admin *a, const char *path, const char *method, char *allow,
           size_t len)
{
    allow[0] = '\0';
    for (size_t i = 0; i < a->n_routes; i++) {
        const struct churn_admin_route *r = &a->routes[i];
        if (!route_path_matches(r, path))
            continue;
        if (route_method_matches(r, method))
            return r;
        size_t used = strlen(allow);
        snprintf(allow + used, len - used, "%s%s", used ? ", " : "",
                 r->method ? r->method : "GET, HEAD");
    }
    return NULL;
}

static enum MHD_Result
queue_response(struct MHD_Connection *c, int status, struct MHD_Response *r, const char *type,
               const char *hname, const char *hvalue)
{
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (hname)
        MHD_add_response_header(r, hname, hvalue);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result
send_reply(struct MHD_Connection *c, int status, const char *type, const char *body, size_t len,
           const char *hname, const char *hvalue)
{
    return queue_response(c, status,
                          MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY),
                          type, hname, hvalue);
}

static enum MHD_Result
send_text(struct MHD_Connection *c, int status, const char *text, const char *hname,
          const char *hvalue)
{
    return send_reply(c, status, "text/plain; charset=utf-8", text, strlen(text), hname, hvalue);
}

/* 401 / 403 / NULL (allowed) for @route's role and the request's Authorization header. */
static enum MHD_Result
check_role(struct churn_admin *a, const struct churn_admin_route *route, struct MHD_Connection *c,
           char *who, size_t wholen, bool *allowed)
{
    *allowed = true;
    who[0] = '\0';
    if (!route->role || !a->authorize)
        return MHD_YES;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    enum churn_admin_verdict v = a->authorize(a->authorize_ctx, auth, route->role, who, wholen);
    if (v == CHURN_ADMIN_ALLOW)
        return MHD_YES;
    *allowed = false;
    char msg[128];
    if (v == CHURN_ADMIN_FORBIDDEN) {
        snprintf(msg, sizeof(msg), "forbidden: %s needs the role '%s'\n", route->path, route->role);
        return send_text(c, MHD_HTTP_FORBIDDEN, msg, NULL, NULL);
    }
    snprintf(msg, sizeof(msg), "unauthenticated: %s needs a bearer token with the role '%s'\n",
             route->path, route->role);
    return send_text(c, MHD_HTTP_UNAUTHORIZED, msg, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
}

/* ---- requests (issue 15) ------------------------------------------------------------------ */

struct churn_admin_request {
    struct MHD_Connection *c;
    const char *path;
    const char *body;
    size_t body_len;
    char who[64];
};

/* Per-request state across the access handler's calls (POST bodies). */
struct req_state {
    struct churn_buf body;
    bool too_big;
};

const char *
churn_admin_request_path(const struct churn_admin_request *req)
{
    return req->path;
}

const char *
churn_admin_query(const struct churn_admin_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->c, MHD_GET_ARGUMENT_KIND, name);
}

struct unknown_scan {
    const char *const *known;
    size_t n;
    const char *bad;
};

static enum MHD_Result
unknown_visit(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct unknown_scan *u = cls;
    (void)kind;
    (void)value;
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(key, u->known[i]) == 0)
            return MHD_YES;
    u->bad = key;
    return MHD_NO;
}

const char *
churn_admin_query_unknown(const struct churn_admin_request *req, const char *const *known, size_t n)
{
    struct unknown_scan u = {known, n, NULL};
    MHD_get_connection_values(req->c, MHD_GET_ARGUMENT_KIND, unknown_visit, &u);
    return u.bad;
}

const char *
churn_admin_request_header(const struct churn_admin_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->c, MHD_HEADER_KIND, name);
}

const char *
churn_admin_request_body(const struct churn_admin_request *req, size_t *len)
{
    *len = req->body_len;
    return req->body ? req->body : "";
}

const char *
churn_admin_request_who(const struct churn_admin_request *req)
{
    return req->who;
}

/* ---- streams (issue 15) ------------------------------------------------------------------- */

struct churn_admin_stream {
    struct churn_admin *admin;
    const struct churn_admin_stream_ops *ops;
    void *ctx;
    struct MHD_Connection *c; /* set when the response is queued */
    pthread_mutex_t mu;       /* the three flags */
    bool suspended, woken, closing;
    struct churn_admin_stream *prev, *next; /* (admin->streams_mu) */
};

struct churn_admin_stream *
churn_admin_reply_stream(struct churn_admin_reply *reply, const struct churn_admin_stream_ops *ops,
                         void *ctx)
{
    struct churn_admin_stream *s = churn_calloc(1, sizeof(*s));
    if (!s) {
        ops->close(ctx);
        reply->status = 503;
        churn_buf_reset(&reply->body);
        churn_buf_append_str(&reply->body, "out of memory\n");
        return NULL;
    }
    s->ops = ops;
    s->ctx = ctx;
    pthread_mutex_init(&s->mu, NULL);
    reply->stream = s;
    return s;
}

void
churn_admin_stream_wake(struct churn_admin_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->woken = true;
    if (s->suspended) {
        s->suspended = false;
        MHD_resume_connection(s->c);
    }
    pthread_mutex_unlock(&s->mu);
}

/* Nothing to send: suspend the connection unless a wake came meanwhile (then read again). */
static bool
stream_suspend(struct churn_admin_stream *s, bool *closing)
{
    pthread_mutex_lock(&s->mu);
    bool again = s->woken && !s->closing;
    *closing = s->closing;
    if (!again && !s->closing) {
        s->suspended = true;
        MHD_suspend_connection(s->c);
    }
    s->woken = false;
    pthread_mutex_unlock(&s->mu);
    return again;
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct churn_admin_stream *s = cls;
    (void)pos;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool closing = s->closing;
        s->woken = false;
        pthread_mutex_unlock(&s->mu);
        if (closing)
            return MHD_CONTENT_READER_END_OF_STREAM;
        long n = s->ops->read(s->ctx, buf, max);
        if (n != 0)
            return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
        if (!stream_suspend(s, &closing))
            return closing ? MHD_CONTENT_READER_END_OF_STREAM : 0;
    }
}

static void
stream_free(void *cls)
{
    struct churn_admin_stream *s = cls;
    s->ops->close(s->ctx);
    struct churn_admin *a = s->admin;
    pthread_mutex_lock(&a->streams_mu);
    if (s->prev)
        s->prev->next = s->next;
    else
        a->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    pthread_mutex_unlock(&a->streams_mu);
    pthread_mutex_destroy(&s->mu);
    churn_free(s);
}

static enum MHD_Result
send_stream(struct churn_admin *a, struct MHD_Connection *c, struct churn_admin_reply *reply)
{
    struct churn_admin_stream *s = reply->stream;
    s->admin = a;
    s->c = c;
    pthread_mutex_lock(&a->streams_mu);
    s->next = a->streams;
    if (a->streams)
        a->streams->prev = s;
    a->streams = s;
    pthread_mutex_unlock(&a->streams_mu);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, s, stream_free);
    if (!r) {
        stream_free(s);
        return MHD_NO;
    }
    return queue_response(c, reply->status, r, reply->content_type, NULL, NULL);
}

/* Every open stream ends: its connection is resumed to say so (before the daemon stops). */
static void
streams_close_all(struct churn_admin *a)
{
    pthread_mutex_lock(&a->streams_mu);
    for (struct churn_admin_stream *s = a->streams; s; s = s->next) {
        pthread_mutex_lock(&s->mu);
        s->closing = true;
        if (s->suspended) {
            s->suspended = false;
            MHD_resume_connection(s->c);
        }
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&a->streams_mu);
}

/* ---- the access handler ------------------------------------------------------------------- */

static enum MHD_Result
run_handler(struct churn_admin *a, struct MHD_Connection *c, const struct churn_admin_route *route,
            struct churn_admin_request *req)
{
    struct churn_admin_reply reply = {.status = 200, .content_type = "text/plain; charset=utf-8"};
    churn_buf_init(&reply.body, REPLY_CAP);
    if (route->serve)
        route->serve(route->ctx, req, &reply);
    else
        route->handler(route->ctx, &reply);
    enum MHD_Result ret;
    if (reply.stream)
        ret = send_stream(a, c, &reply);
    else if (reply.static_body)
        ret =
            queue_response(c, reply.status,
                           MHD_create_response_from_buffer(
                               reply.static_len, (void *)reply.static_body, MHD_RESPMEM_PERSISTENT),
                           reply.content_type, NULL, NULL);
    else {
        char retry[16];
        snprintf(retry, sizeof(retry), "%u", reply.retry_after_s);
        ret = send_reply(c, reply.status, reply.content_type, churn_buf_str(&reply.body),
                         reply.body.len, reply.retry_after_s ? "Retry-After" : NULL, retry);
    }
    churn_buf_free(&reply.body);
    return ret;
}

/* A POST body arrives over several calls: keep it (capped), answer on the last call. */
static enum MHD_Result
take_body(struct MHD_Connection *c, const char *upload_data, size_t *upload_data_size, void **state,
          bool *complete)
{
    *complete = false;
    struct req_state *st = *state;
    if (!st) {
        st = churn_calloc(1, sizeof(*st));
        if (!st)
            return MHD_NO;
        churn_buf_init(&st->body, BODY_CAP);
        *state = st;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (churn_buf_append(&st->body, upload_data, *upload_data_size) != CHURN_OK)
            st->too_big = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->too_big)
        return send_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body over 64 KiB\n", NULL, NULL);
    *complete = true;
    return MHD_YES;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct req_state *st = *state;
    if (!st)
        return;
    churn_buf_free(&st->body);
    churn_free(st);
    *state = NULL;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **state)
{
    struct churn_admin *a = cls;
    (void)version;
    char allow[64];
    const struct churn_admin_route *route = find_route(a, url, method, allow, sizeof(allow));
    if (!route) {
        *upload_data_size = 0; /* a body, if any, is never read */
        if (!allow[0])
            return send_text(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL, NULL);
        char msg[96];
        snprintf(msg, sizeof(msg), "method not allowed: use %s\n",
                 strcmp(allow, "GET, HEAD") == 0 ? "GET" : allow);
        return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, msg, MHD_HTTP_HEADER_ALLOW, allow);
    }
    struct churn_admin_request req = {.c = c, .path = url};
    bool allowed;
    enum MHD_Result ret = check_role(a, route, c, req.who, sizeof(req.who), &allowed);
    if (!allowed) {
        *upload_data_size = 0;
        return ret;
    }
    if (!route->method) {
        *upload_data_size = 0;
        return run_handler(a, c, route, &req);
    }
    bool complete;
    ret = take_body(c, upload_data, upload_data_size, state, &complete);
    if (!complete)
        return ret;
    struct req_state *st = *state;
    req.body = churn_buf_str(&st->body);
    req.body_len = st->body.len;
    return run_handler(a, c, route, &req);
}

static enum churn_err
load_tls(struct churn_admin *a, const struct churn_admin_options *o, char *errbuf, size_t errlen)
{
    if (!(o->tls_key && *o->tls_key))
        return churn_fail(errbuf, errlen, CHURN_EINVAL,
                          "admin TLS: a certificate was given without a key");
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return churn_fail(errbuf, errlen, CHURN_EUNIMPL,
                          "admin TLS: this libmicrohttpd was built without TLS (GnuTLS)");
    enum churn_err err =
        read_pem(o->tls_cert, "admin TLS certificate", &a->cert_pem, errbuf, errlen);
    if (!err)
        err = read_pem(o->tls_key, "admin TLS key", &a->key_pem, errbuf, errlen);
    return err;
}

static void
admin_free(struct churn_admin *a)
{
    if (a->key_pem)
        memset(a->key_pem, 0, strlen(a->key_pem));
    churn_free(a->cert_pem);
    churn_free(a->key_pem);
    pthread_mutex_destroy(&a->streams_mu);
    churn_free(a);
}

static struct MHD_Daemon *
start_daemon(struct churn_admin *a, const struct churn_admin_options *o,
             struct sockaddr_storage *ss)
{
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
    if (ss->ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* one pool thread is no pool at all for libmicrohttpd: its single internal thread */
    unsigned pool = o->threads > 1 ? o->threads : 0;
    if (!a->cert_pem)
        return MHD_start_daemon(flags, 0, NULL, NULL, on_request, a, MHD_OPTION_NOTIFY_COMPLETED,
                                on_completed, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)ss,
                                MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
                                MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s,
                                MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)LISTEN_QUEUE,
                                MHD_OPTION_THREAD_POOL_SIZE, pool, MHD_OPTION_END);
    return MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, on_request, a,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, a, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)ss, MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)LISTEN_QUEUE,
                            MHD_OPTION_THREAD_POOL_SIZE, pool, MHD_OPTION_HTTPS_MEM_CERT,
                            a->cert_pem, MHD_OPTION_HTTPS_MEM_KEY, a->key_pem, MHD_OPTION_END);
}

enum churn_err
churn_admin_start(const struct churn_admin_options *o, const struct churn_admin_route *routes,
                  size_t n, struct churn_admin **out, int *port, char *errbuf, size_t errlen)
{
    if (o->max_connections < 1 || o->timeout_s < 1 || o->threads < 1)
        return churn_fail(errbuf, errlen, CHURN_EINVAL,
                          "admin listener: connections, timeout and threads must be at least 1");
    if (o->threads > o->max_connections)
        return churn_fail(errbuf, errlen, CHURN_EINVAL,
                          "admin listener: %u threads for %u connections: each thread serves a "
                          "share of the connection cap, so threads must not exceed it",
                          o->threads, o->max_connections);
    struct sockaddr_storage ss;
    enum churn_err err = parse_listen(o->listen, &ss, errbuf, errlen);
    if (err)
        return err;
    struct churn_admin *a = churn_calloc(1, sizeof(*a));
    if (!a)
        return churn_fail(errbuf, errlen, CHURN_ENOMEM, "out of memory");
    a->routes = routes;
    a->n_routes = n;
    a->authorize = o->authorize;
    a->authorize_ctx = o->authorize_ctx;
    pthread_mutex_init(&a->streams_mu, NULL);
    if (o->tls_cert && *o->tls_cert && (err = load_tls(a, o, errbuf, errlen)) != CHURN_OK) {
        admin_free(a);
        return err;
    }
    a->daemon = start_daemon(a, o, &ss);
    if (!a->daemon) {
        admin_free(a);
        return churn_fail(errbuf, errlen, CHURN_EUNAVAIL,
                          "admin-listen: cannot listen on %s: address in use, not local, or "
                          "the TLS certificate and key do not match",
                          o->listen);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? info->port : 0;
    *out = a;
    return CHURN_OK;
}

unsigned
churn_admin_connections(struct churn_admin *a)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info ? info->num_connections : 0;
}

void
churn_admin_stop(struct churn_admin *a)
{
    if (!a)
        return;
    /* no new connection from here on; each thread finishes what it is answering */
    streams_close_all(a);
    MHD_socket fd = MHD_quiesce_daemon(a->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    MHD_stop_daemon(a->daemon);
    admin_free(a);
}
