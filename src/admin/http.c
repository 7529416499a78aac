/*
 * http.c - the admin HTTP listener (churn/admin.h) on libmicrohttpd: address parsing, the
 * daemon with its one epoll thread, connection cap and idle timeout, optional TLS, and the
 * request path (route lookup, 404 and 405, the authorizer, the handler's reply).
 */
#include "churn/admin.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
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

struct churn_admin {
    struct MHD_Daemon *daemon;
    const struct churn_admin_route *routes;
    size_t n_routes;
    churn_admin_authorize_fn *authorize;
    void *authorize_ctx;
    char *cert_pem, *key_pem;
};

void
churn_admin_options_default(struct churn_admin_options *o)
{
    memset(o, 0, sizeof(*o));
    o->listen = "127.0.0.1:9464";
    o->max_connections = 64;
    o->timeout_s = 10;
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

static const struct churn_admin_route *
find_route(const struct churn_admin *a, const char *path)
{
    for (size_t i = 0; i < a->n_routes; i++)
        if (strcmp(a->routes[i].path, path) == 0)
            return &a->routes[i];
    return NULL;
}

static enum MHD_Result
send_reply(struct MHD_Connection *c, int status, const char *type, const char *body, size_t len,
           const char *hname, const char *hvalue)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (hname)
        MHD_add_response_header(r, hname, hvalue);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
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
           bool *allowed)
{
    *allowed = true;
    if (!route->role || !a->authorize)
        return MHD_YES;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    enum churn_admin_verdict v = a->authorize(a->authorize_ctx, auth, route->role);
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

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **state)
{
    struct churn_admin *a = cls;
    /* a body, if any, is never read: the answer goes out with the headers */
    *upload_data_size = 0;
    const struct churn_admin_route *route = find_route(a, url);
    if (!route)
        return send_text(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL, NULL);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: use GET\n",
                         MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    bool allowed;
    enum MHD_Result ret = check_role(a, route, c, &allowed);
    if (!allowed)
        return ret;
    struct churn_admin_reply reply = {.status = 200, .content_type = "text/plain; charset=utf-8"};
    churn_buf_init(&reply.body, REPLY_CAP);
    route->handler(route->ctx, &reply);
    ret = send_reply(c, reply.status, reply.content_type, churn_buf_str(&reply.body),
                     reply.body.len, NULL, NULL);
    churn_buf_free(&reply.body);
    return ret;
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
    churn_free(a);
}

static struct MHD_Daemon *
start_daemon(struct churn_admin *a, const struct churn_admin_options *o,
             struct sockaddr_storage *ss)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC;
    if (ss->ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (!a->cert_pem)
        return MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)ss,
            MHD_OPTION_CONNECTION_LIMIT, o->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
            o->timeout_s, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)LISTEN_QUEUE, MHD_OPTION_END);
    return MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, on_request, a, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)ss, MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)LISTEN_QUEUE,
                            MHD_OPTION_HTTPS_MEM_CERT, a->cert_pem, MHD_OPTION_HTTPS_MEM_KEY,
                            a->key_pem, MHD_OPTION_END);
}

enum churn_err
churn_admin_start(const struct churn_admin_options *o, const struct churn_admin_route *routes,
                  size_t n, struct churn_admin **out, int *port, char *errbuf, size_t errlen)
{
    if (o->max_connections < 1 || o->timeout_s < 1)
        return churn_fail(errbuf, errlen, CHURN_EINVAL,
                          "admin listener: connections and timeout must be at least 1");
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
    /* no new connection from here on; the thread finishes what it is answering */
    MHD_socket fd = MHD_quiesce_daemon(a->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    MHD_stop_daemon(a->daemon);
    admin_free(a);
}
