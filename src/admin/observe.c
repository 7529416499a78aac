/*
 * observe.c - churnd's visibility wired from its configuration (churn/observe.h): the
 * registry, the collectors (services; open connections, counted with sock_diag), the route
 * table of the admin listener (/metrics, /livez, /readyz) and the listener's life cycle.
 */
#include "churn/observe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "churn/admin.h"
#include "churn/alloc.h"
#include "churn/log.h"
#include "churn/metrics.h"
#include "churn/auth.h"
#include "churn/service.h"

#define N_ROUTES 3

struct churn_observe {
    const struct churn_config *cfg;
    struct churn_metrics *metrics; /* NULL: admin listener off */
    struct churn_services *svc;
    struct churn_admin *admin;
    struct churn_auth *auth; /* NULL: no tokens */
    int grpc_port;
    struct churn_admin_readiness readiness;
    struct churn_admin_route routes[N_ROUTES];
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
 * Established TCP connections of @family whose local port is @port, asked of the kernel with
 * one sock_diag dump (binary, a few microseconds per socket: /proc/net/tcp formats every socket
 * of the machine as text, milliseconds on a busy one). -1 when netlink refuses.
 */
static long
diag_established(int family, int port)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return -1;
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 req;
    } msg = {
        .nlh = {.nlmsg_len = sizeof(msg),
                .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
        .req = {.sdiag_family = (uint8_t)family,
                .sdiag_protocol = IPPROTO_TCP,
                .idiag_states = 1u << 1 /* TCP_ESTABLISHED */},
    };
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    long n = -1;
    if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
        goto out;
    static _Thread_local uint32_t buf[8192]; /* 32 KiB, aligned for nlmsghdr */
    for (n = 0;;) {
        ssize_t got = recv(fd, buf, sizeof(buf), 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            n = got < 0 ? -1 : n;
            goto out;
        }
        int len = (int)got;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
             h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_type == NLMSG_DONE)
                goto out;
            if (h->nlmsg_type == NLMSG_ERROR) {
                n = -1;
                goto out;
            }
            const struct inet_diag_msg *m = NLMSG_DATA(h);
            n += ntohs(m->id.idiag_sport) == port;
        }
    }
out:
    close(fd);
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
    long v4 = diag_established(AF_INET, obs->grpc_port);
    long v6 = v4 < 0 ? -1 : diag_established(AF_INET6, obs->grpc_port);
    double grpc = v4 >= 0 && v6 >= 0 ? (double)(v4 + v6)
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

/* The admin listener's authorizer: the gRPC listener's token table, role "read". */
static enum churn_admin_verdict
authorize(void *ctx, const char *authorization, const char *role)
{
    struct churn_observe *obs = ctx;
    (void)role; /* the only role a route asks for here is read */
    struct churn_identity who;
    char err[256];
    enum churn_auth_result r =
        churn_auth_check(obs->auth, authorization, authorization ? strlen(authorization) : 0, NULL,
                         CHURN_ROLE_READ, &who, err, sizeof(err));
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
    fill_routes(obs);
    struct churn_admin_options o;
    churn_admin_options_default(&o);
    o.listen = obs->cfg->admin_listen;
    o.max_connections = (unsigned)obs->cfg->admin_max_connections;
    o.timeout_s = (unsigned)obs->cfg->admin_timeout_s;
    o.tls_cert = obs->cfg->admin_tls_cert;
    o.tls_key = obs->cfg->admin_tls_key;
    o.authorize = auth ? authorize : NULL;
    o.authorize_ctx = obs;
    int port = 0;
    err = churn_admin_start(&o, obs->routes, N_ROUTES, &obs->admin, &port, errbuf, errlen);
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
