/*
 * observe.c - churnd's visibility wired from its configuration (churn/observe.h): the
 * registry, the collectors (services; open connections, from its own descriptors), the route
 * table of the admin listener (/metrics, /livez, /readyz) and the listener's life cycle.
 */
#include "churn/observe.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "churn/admin.h"
#include "churn/alloc.h"
#include "churn/log.h"
#include "churn/metrics.h"
#include "churn/auth.h"
#include "churn/dashboard.h"
#include "churn/service.h"

#define N_ROUTES (3 + CHURN_DASHBOARD_MAX_ROUTES)

struct churn_observe {
    const struct churn_config *cfg;
    struct churn_metrics *metrics; /* NULL: admin listener off */
    struct churn_services *svc;
    struct churn_admin *admin;
    struct churn_auth *auth; /* NULL: no tokens */
    int grpc_port;
    struct churn_admin_readiness readiness;
    struct churn_admin_route routes[N_ROUTES];
    size_t n_routes;
    struct churn_dashboard *dashboard; /* issue 15: served at / */
};

enum churn_err
churn_observe_create(const struct churn_config *cfg, struct churn_observe **out, char *errbuf,
                     size_t errlen)
{
    struct churn_observe *obs = churn_calloc(1, sizeof(*obs));
    if (!obs)
        return churn_fail(errbuf, errlen, CHURN_ENOMEM, "out of memory");
    obs->cfg = cfg;
    if (strcmp(cfg->admin_listen, "off") != 0 && churn_metrics_create(&obs->metrics) != CHURN_OK) {
        churn_free(obs);
        return churn_fail(errbuf, errlen, CHURN_ENOMEM, "out of memory");
    }
    *out = obs;
    return CHURN_OK;
}

struct churn_metrics *
churn_observe_metrics(struct churn_observe *obs)
{
    return obs ? obs->metrics : NULL;
}

/*
 * Connected sockets of this process whose local port is @port: its own descriptors, each asked
 * getsockname, SO_ACCEPTCONN and getpeername (microseconds for hundreds of connections; the
 * kernel's tables, /proc/net/tcp or a sock_diag dump, walk every socket of the machine: about
 * a millisecond or more on a busy one). -1 when /proc/self/fd cannot be read.
 */
static long
own_connections(int port)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name || fd == dirfd(d))
            continue;
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (getsockname((int)fd, (struct sockaddr *)&ss, &len) != 0)
            continue; /* not a socket, or closed meanwhile */
        int local = ss.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                    : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                               : -1;
        int listening = 0;
        socklen_t ol = sizeof(listening);
        if (local != port ||
            (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ol) == 0 && listening))
            continue;
        len = sizeof(ss);
        n += getpeername((int)fd, (struct sockaddr *)&ss, &len) == 0;
    }
    closedir(d);
    return n;
}

/* Established TCP connections whose local port is @port, from one /proc/net/tcp* table. */
static double
count_established(const char *table, int port)
{
    FILE *f = fopen(table, "r");
    if (!f)
        return 0;
    char line[512];
    double n = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned lport, state;
        /* "  0: 0100007F:C383 0100007F:9E2C 01 ..." */
        const char *colon = strchr(line, ':');
        colon = colon ? strchr(colon + 1, ':') : NULL;
        if (colon && sscanf(colon + 1, "%x %*[0-9A-Fa-f:] %x", &lport, &state) == 2 &&
            (int)lport == port && state == 1)
            n++;
    }
    fclose(f);
    return n;
}

static void
collect_connections(void *ctx, struct churn_metrics_sink *sink)
{
    struct churn_observe *obs = ctx;
    long own = own_connections(obs->grpc_port);
    double grpc = own >= 0 ? (double)own
                           : count_established("/proc/net/tcp", obs->grpc_port) +
                                 count_established("/proc/net/tcp6", obs->grpc_port);
    churn_metrics_sink_gauge(sink, "churn_open_connections", "Client connections open now.",
                             "listener=\"grpc\"", grpc);
    if (obs->admin)
        churn_metrics_sink_gauge(sink, "churn_open_connections", "", "listener=\"admin\"",
                                 (double)churn_admin_connections(obs->admin));
}

static bool
services_ready(void *ctx, char *why, size_t len)
{
    return churn_services_ready(ctx, why, len);
}

/* The admin listener's authorizer: the gRPC listener's token table, for the route's role
 * ("read", or "operate" for the dashboard's alert actions). */
static enum churn_admin_verdict
authorize(void *ctx, const char *authorization, const char *role, char *who, size_t wholen)
{
    struct churn_observe *obs = ctx;
    unsigned need = strcmp(role, "operate") == 0 ? CHURN_ROLE_OPERATE : CHURN_ROLE_READ;
    struct churn_identity id;
    char err[256];
    enum churn_auth_result r =
        churn_auth_check(obs->auth, authorization, authorization ? strlen(authorization) : 0, NULL,
                         need, &id, err, sizeof(err));
    if (r == CHURN_AUTH_OK)
        snprintf(who, wholen, "%s", id.name);
    return r == CHURN_AUTH_OK       ? CHURN_ADMIN_ALLOW
           : r == CHURN_AUTH_DENIED ? CHURN_ADMIN_FORBIDDEN
                                    : CHURN_ADMIN_UNAUTHENTICATED;
}

static void
fill_routes(struct churn_observe *obs)
{
    obs->readiness = (struct churn_admin_readiness){services_ready, obs->svc};
    const char *metrics_role = obs->auth && !obs->cfg->metrics_public ? "read" : NULL;
    obs->routes[0] = (struct churn_admin_route){"/metrics", churn_admin_metrics_handler,
                                                obs->metrics, metrics_role};
    obs->routes[1] = (struct churn_admin_route){"/livez", churn_admin_livez_handler, NULL, NULL};
    obs->routes[2] =
        (struct churn_admin_route){"/readyz", churn_admin_readyz_handler, &obs->readiness, NULL};
    obs->n_routes = 3;
    if (obs->dashboard)
        obs->n_routes +=
            churn_dashboard_routes(obs->dashboard, obs->auth ? "read" : NULL, obs->routes + 3);
}

enum churn_err
churn_observe_start(struct churn_observe *obs, struct churn_services *svc, struct churn_auth *auth,
                    int grpc_port, char *errbuf, size_t errlen)
{
    if (!obs->metrics)
        return CHURN_OK;
    obs->svc = svc;
    obs->auth = auth;
    obs->grpc_port = grpc_port;
    enum churn_err err = churn_metrics_collector(obs->metrics, churn_services_collect, svc);
    if (!err)
        err = churn_metrics_collector(obs->metrics, collect_connections, obs);
    if (err)
        return churn_fail(errbuf, errlen, err, "metrics collectors: %s", churn_strerror(err));
    if (churn_dashboard_create(svc, &obs->dashboard) != CHURN_OK)
        return churn_fail(errbuf, errlen, CHURN_ENOMEM, "dashboard: out of memory");
    fill_routes(obs);
    struct churn_admin_options o;
    churn_admin_options_default(&o);
    o.listen = obs->cfg->admin_listen;
    o.max_connections = (unsigned)obs->cfg->admin_max_connections;
    o.timeout_s = (unsigned)obs->cfg->admin_timeout_s;
    o.threads = (unsigned)obs->cfg->admin_threads;
    o.tls_cert = obs->cfg->admin_tls_cert;
    o.tls_key = obs->cfg->admin_tls_key;
    o.authorize = auth ? authorize : NULL;
    o.authorize_ctx = obs;
    int port = 0;
    err = churn_admin_start(&o, obs->routes, obs->n_routes, &obs->admin, &port, errbuf, errlen);
    if (err)
        return err;
    churn_log(CHURN_LOG_INFO, "admin_listening", CHURN_LF_STR("listen", o.listen),
              CHURN_LF_INT("port", port),
              CHURN_LF_STR("scheme", o.tls_cert && *o.tls_cert ? "https" : "http"));
    return CHURN_OK;
}

void
churn_observe_stop(struct churn_observe *obs)
{
    if (!obs)
        return;
    churn_admin_stop(obs->admin);
    obs->admin = NULL;
    churn_dashboard_destroy(obs->dashboard);
    obs->dashboard = NULL;
}

void
churn_observe_destroy(struct churn_observe *obs)
{
    if (!obs)
        return;
    churn_observe_stop(obs);
    churn_metrics_destroy(obs->metrics);
    churn_free(obs);
}
