/*
 * test_admin.c - the admin HTTP listener (churn/admin.h) over real loopback sockets: a
 * handler that blocks (a slow page) holds one of the pool's threads while other clients are
 * answered; a pool of one thread is refused nothing but serves in turn; options that cannot
 * work (no threads, more threads than connections) are refused naming the setting.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "churn/admin.h"

/* A route whose handler waits until the test releases it. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered, released;
};

static void
slow_handler(void *ctx, struct churn_admin_reply *reply)
{
    struct gate *g = ctx;
    pthread_mutex_lock(&g->mu);
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->released)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    churn_buf_append_str(&reply->body, "slow done\n");
}

static void
gate_wait_entered(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (!g->entered)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void
gate_release(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->released = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* A connected socket to 127.0.0.1:@port; reads give up after @timeout_s (a hang detector, far
 * beyond any answer: a listener that serialised requests would hang until the release). */
static int
connect_local(int port, int timeout_s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    struct timeval tv = {.tv_sec = timeout_s};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* GET @path on @fd (Connection: close) and read the whole answer into @out; its length, or -1
 * when the read timed out. */
static long
get(int fd, const char *path, char *out, size_t cap)
{
    char req[256];
    int n =
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    cr_assert(write(fd, req, (size_t)n) == n);
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, out + len, cap - 1 - len);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        len += (size_t)r;
    }
    out[len] = '\0';
    return (long)len;
}

struct slow_client {
    int port;
    long len;
    char body[4096];
};

static void *
slow_client_run(void *p)
{
    struct slow_client *c = p;
    int fd = connect_local(c->port, 120);
    c->len = get(fd, "/slow", c->body, sizeof(c->body));
    close(fd);
    return NULL;
}

static struct churn_admin *
start(unsigned threads, struct gate *g, int *port)
{
    static struct churn_admin_route routes[2];
    routes[0] = (struct churn_admin_route){"/slow", slow_handler, g, NULL};
    routes[1] = (struct churn_admin_route){"/livez", churn_admin_livez_handler, NULL, NULL};
    struct churn_admin_options o;
    churn_admin_options_default(&o);
    o.listen = "127.0.0.1:0";
    o.threads = threads;
    struct churn_admin *a = NULL;
    char err[256];
    cr_assert_eq(churn_admin_start(&o, routes, 2, &a, port, err, sizeof(err)), CHURN_OK, "%s", err);
    return a;
}

Test(admin, a_blocked_handler_does_not_hold_other_clients)
{
    struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};
    int port;
    struct churn_admin *a = start(4, &g, &port);
    struct slow_client slow = {.port = port};
    pthread_t t;
    pthread_create(&t, NULL, slow_client_run, &slow);
    gate_wait_entered(&g);
    /* the slow page is being answered (its handler runs, holding a thread): others go on */
    for (int i = 0; i < 20; i++) {
        char body[4096];
        int fd = connect_local(port, 60);
        long n = get(fd, "/livez", body, sizeof(body));
        close(fd);
        cr_assert_gt(n, 0, "/livez was not answered while /slow was in its handler");
        cr_assert(strstr(body, "200 OK") && strstr(body, "\r\n\r\nok\n"), "%s", body);
    }
    pthread_mutex_lock(&g.mu);
    bool still_blocked = !g.released;
    pthread_mutex_unlock(&g.mu);
    cr_assert(still_blocked);
    gate_release(&g);
    pthread_join(t, NULL);
    cr_assert_gt(slow.len, 0);
    cr_assert(strstr(slow.body, "slow done"), "%s", slow.body);
    churn_admin_stop(a);
}

Test(admin, one_thread_serves_every_client_in_turn)
{
    struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, true};
    int port;
    struct churn_admin *a = start(1, &g, &port);
    for (int i = 0; i < 5; i++) {
        char body[4096];
        int fd = connect_local(port, 60);
        cr_assert_gt(get(fd, i % 2 ? "/slow" : "/livez", body, sizeof(body)), 0);
        close(fd);
        cr_assert(strstr(body, "200 OK"), "%s", body);
    }
    churn_admin_stop(a);
}

Test(admin, impossible_thread_counts_are_refused)
{
    static const struct churn_admin_route routes[] = {
        {"/livez", churn_admin_livez_handler, NULL, NULL}};
    struct churn_admin_options o;
    churn_admin_options_default(&o);
    o.listen = "127.0.0.1:0";
    struct churn_admin *a = NULL;
    int port;
    char err[256] = "";
    o.threads = 0;
    cr_assert_eq(churn_admin_start(&o, routes, 1, &a, &port, err, sizeof(err)), CHURN_EINVAL);
    cr_assert(strstr(err, "threads"), "%s", err);
    o.threads = 8;
    o.max_connections = 4;
    cr_assert_eq(churn_admin_start(&o, routes, 1, &a, &port, err, sizeof(err)), CHURN_EINVAL);
    cr_assert(strstr(err, "8 threads for 4 connections"), "%s", err);
    cr_assert_null(a);
}
