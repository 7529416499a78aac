/*
 * delivery_sink: the webhook receiver tools/bench/delivery measures churnd against, in C so
 * that the receiver costs the two shared cores as little as possible (the Python receiver it
 * replaces used about 3 s of CPU per 20,000 deliveries). One thread, epoll, HTTP/1.1
 * keep-alive: every POST is answered 204 after it is checked: its X-Churnd-Delivery id must be
 * "<path without its slash>-<revision_sequence of the body>", its X-Churnd-Signature-256 must be
 * the HMAC-SHA256 of the body when --secret is given, and an id seen before on the same path
 * counts as a duplicate. The lag of each delivery is the sink's clock at acceptance minus the
 * body's updated_at_ms. A request that is not HTTP/1.1 with a Content-Length is answered 400
 * and its connection closed. Control on stdin, one command a line, answers on stdout:
 *   reset          forget every delivery seen; answers "ok"
 *   stats          one JSON line with the counts, lag percentiles and the sink's CPU
 *   wait N MS      the stats line once N unique deliveries are in, or after MS milliseconds
 * The first line on stdout is the bound port. End of stdin ends the sink (exit 0).
 * Usage: delivery-sink [--secret SECRET]
 */
#define _GNU_SOURCE /* accept4, memmem */
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

enum { CONN_CAP = 2 << 20, MAX_EVENTS = 64, ID_MAX = 256 };

struct conn {
    int fd;
    char *buf;
    size_t len;
};

/* Every (path, id) accepted, in an open-addressing set that doubles at half full. */
struct seen {
    char **keys;
    size_t cap, n;
};

struct sink {
    const char *secret;
    struct seen seen;
    uint64_t requests, duplicates, bad_signature, bad_id, malformed;
    double *lags;
    size_t n_lags, cap_lags;
    double last_mono_s;
    long wait_for; /* pending "wait": unique deliveries wanted (-1: none) */
    double wait_until;
};

static double
now_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Adds @key (copied); false when it was already there. Exits on out of memory. */
static bool
seen_add(struct seen *s, const char *key)
{
    if (2 * (s->n + 1) > s->cap) {
        struct seen grown = {calloc(s->cap ? 2 * s->cap : 1024, sizeof(char *)),
                             s->cap ? 2 * s->cap : 1024, 0};
        if (!grown.keys)
            exit(3);
        for (size_t i = 0; i < s->cap; i++)
            if (s->keys[i]) {
                size_t j = fnv1a(s->keys[i]) & (grown.cap - 1);
                while (grown.keys[j])
                    j = (j + 1) & (grown.cap - 1);
                grown.keys[j] = s->keys[i];
                grown.n++;
            }
        free(s->keys);
        *s = grown;
    }
    size_t j = fnv1a(key) & (s->cap - 1);
    for (; s->keys[j]; j = (j + 1) & (s->cap - 1))
        if (!strcmp(s->keys[j], key))
            return false;
    if (!(s->keys[j] = strdup(key)))
        exit(3);
    s->n++;
    return true;
}

static void
seen_clear(struct seen *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->keys[i]);
    free(s->keys);
    memset(s, 0, sizeof(*s));
}

/* The value of header @name (case-insensitive) in @head, copied into @out; false if absent. */
static bool
header(const char *head, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, n) != 0 || line[n] != ':')
            continue;
        const char *v = line + n + 1;
        while (*v == ' ')
            v++;
        size_t len = strcspn(v, "\r");
        if (len >= outlen)
            return false;
        memcpy(out, v, len);
        out[len] = '\0';
        return true;
    }
    return false;
}

/* The integer after "\"@field\":" in the JSON @body (top level or not), or -1. */
static long long
json_int(const char *body, size_t len, const char *field)
{
    char key[64];
    int k = snprintf(key, sizeof(key), "\"%s\":", field);
    const char *p = memmem(body, len, key, (size_t)k);
    if (!p)
        return -1;
    char *end;
    long long v = strtoll(p + k, &end, 10);
    return end == p + k ? -1 : v;
}

static bool
signature_ok(const char *secret, const char *body, size_t len, const char *got)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac, &maclen);
    char want[8 + 2 * EVP_MAX_MD_SIZE + 1] = "sha256=";
    for (unsigned int i = 0; i < maclen; i++)
        snprintf(want + 7 + 2 * i, 3, "%02x", mac[i]);
    return !strcmp(want, got);
}

/* Checks and counts one delivery: @path without its slash, the headers, the body. */
static void
accept_delivery(struct sink *s, const char *path, const char *head, const char *body, size_t len)
{
    char id[ID_MAX], sig[160], want[ID_MAX + 32], key[2 * ID_MAX];
    s->requests++;
    bool has_id = header(head, "X-Churnd-Delivery", id, sizeof(id));
    long long seq = json_int(body, len, "revision_sequence");
    snprintf(want, sizeof(want), "%s-%lld", path, seq);
    if (!has_id || seq < 0 || strcmp(id, want) != 0)
        s->bad_id++;
    if (s->secret && (!header(head, "X-Churnd-Signature-256", sig, sizeof(sig)) ||
                      !signature_ok(s->secret, body, len, sig)))
        s->bad_signature++;
    snprintf(key, sizeof(key), "%s %s", path, has_id ? id : "");
    if (!seen_add(&s->seen, key)) {
        s->duplicates++;
        return;
    }
    long long upd = json_int(body, len, "updated_at_ms");
    if (s->n_lags == s->cap_lags) {
        s->cap_lags = s->cap_lags ? 2 * s->cap_lags : 4096;
        if (!(s->lags = realloc(s->lags, s->cap_lags * sizeof(double))))
            exit(3);
    }
    s->lags[s->n_lags++] = upd > 0 ? now_s(CLOCK_REALTIME) * 1000.0 - (double)upd : -1.0;
    s->last_mono_s = now_s(CLOCK_MONOTONIC);
}

static void
send_all(int fd, const char *text)
{
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

/*
 * Handles every complete request in @c's buffer; false when the connection must close (a
 * malformed request, answered 400).
 */
static bool
serve(struct sink *s, struct conn *c)
{
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!end)
            return c->len < CONN_CAP;
        size_t head_len = (size_t)(end - c->buf) + 4;
        char saved = c->buf[head_len - 2];
        c->buf[head_len - 2] = '\0'; /* the head ends "\r\n" as a C string */
        char cl[32], path[ID_MAX] = "";
        char *endp = NULL;
        long body_len =
            header(c->buf, "Content-Length", cl, sizeof(cl)) ? strtol(cl, &endp, 10) : -1;
        bool ok = !strncmp(c->buf, "POST /", 6) && strstr(c->buf, " HTTP/1.1\r\n") && endp &&
                  *endp == '\0' && body_len >= 0 && head_len + (size_t)body_len <= CONN_CAP &&
                  sscanf(c->buf + 6, "%255[^ ] HTTP/1.1", path) == 1;
        c->buf[head_len - 2] = saved;
        if (!ok) {
            s->malformed++;
            send_all(c->fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                            "Connection: close\r\n\r\n");
            return false;
        }
        if (c->len < head_len + (size_t)body_len)
            return true;
        c->buf[head_len - 2] = '\0';
        accept_delivery(s, path, c->buf, c->buf + head_len, (size_t)body_len);
        send_all(c->fd, "HTTP/1.1 204 No Content\r\n\r\n");
        size_t used = head_len + (size_t)body_len;
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
    }
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void
print_stats(struct sink *s)
{
    qsort(s->lags, s->n_lags, sizeof(double), cmp_double);
    double p50 = 0, p99 = 0, max = 0;
    if (s->n_lags) {
        p50 = s->lags[s->n_lags / 2];
        p99 = s->lags[(size_t)(0.99 * (double)s->n_lags) < s->n_lags
                          ? (size_t)(0.99 * (double)s->n_lags)
                          : s->n_lags - 1];
        max = s->lags[s->n_lags - 1];
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("{\"requests\": %llu, \"unique\": %zu, \"duplicates\": %llu, \"bad_id\": %llu, "
           "\"bad_signature\": %llu, \"malformed\": %llu, \"last_mono_s\": %.6f, "
           "\"lag_ms\": {\"p50\": %.1f, \"p99\": %.1f, \"max\": %.1f}, \"cpu_s\": %.3f}\n",
           (unsigned long long)s->requests, s->seen.n, (unsigned long long)s->duplicates,
           (unsigned long long)s->bad_id, (unsigned long long)s->bad_signature,
           (unsigned long long)s->malformed, s->last_mono_s, p50, p99, max, cpu);
    fflush(stdout);
}

static void
reset(struct sink *s)
{
    seen_clear(&s->seen);
    s->requests = s->duplicates = s->bad_signature = s->bad_id = s->malformed = 0;
    s->n_lags = 0;
    s->last_mono_s = 0;
}

/* Runs the commands complete in @in; false at end of input or on an unknown command. */
static bool
command(struct sink *s, char *in, size_t *len)
{
    char *nl;
    while ((nl = memchr(in, '\n', *len))) {
        *nl = '\0';
        long n = 0, ms = 0;
        if (!strcmp(in, "reset")) {
            reset(s);
            puts("ok");
            fflush(stdout);
        } else if (!strcmp(in, "stats")) {
            print_stats(s);
        } else if (sscanf(in, "wait %ld %ld", &n, &ms) == 2) {
            s->wait_for = n;
            s->wait_until = now_s(CLOCK_MONOTONIC) + (double)ms / 1000.0;
        } else {
            fprintf(stderr, "delivery-sink: unknown command '%s'\n", in);
            return false;
        }
        size_t used = (size_t)(nl - in) + 1;
        memmove(in, nl + 1, *len - used);
        *len -= used;
    }
    return true;
}

static void
check_wait(struct sink *s)
{
    if (s->wait_for >= 0 &&
        ((long)s->seen.n >= s->wait_for || now_s(CLOCK_MONOTONIC) >= s->wait_until)) {
        s->wait_for = -1;
        print_stats(s);
    }
}

static int
listen_any(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        perror("delivery-sink: listen");
        exit(2);
    }
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    return fd;
}

static void
close_conn(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->buf);
    free(c);
}

static void
accept_all(int ep, int lfd)
{
    int fd;
    while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
        struct conn *c = calloc(1, sizeof(*c));
        if (!c || !(c->buf = malloc(CONN_CAP)))
            exit(3);
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
}

static void
readable(struct sink *s, int ep, struct conn *c)
{
    for (;;) {
        ssize_t r = read(c->fd, c->buf + c->len, CONN_CAP - c->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            close_conn(ep, c);
            return;
        }
        c->len += (size_t)r;
        if (!serve(s, c)) {
            close_conn(ep, c);
            return;
        }
    }
}

int
main(int argc, char **argv)
{
    struct sink s = {.wait_for = -1};
    if (argc == 3 && !strcmp(argv[1], "--secret")) {
        s.secret = argv[2];
    } else if (argc != 1) {
        fprintf(stderr, "usage: delivery-sink [--secret SECRET]\n");
        return 2;
    }
    int lfd = listen_any();
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
    static struct conn listener;
    listener.fd = lfd;
    ev.data.ptr = &listener;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    char in[4096];
    size_t in_len = 0;
    for (;;) {
        struct epoll_event evs[MAX_EVENTS];
        int n = epoll_wait(ep, evs, MAX_EVENTS, s.wait_for >= 0 ? 10 : -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &listener) {
                accept_all(ep, lfd);
            } else if (evs[i].data.ptr == NULL) {
                ssize_t r = read(0, in + in_len, sizeof(in) - 1 - in_len);
                if (r <= 0) {
                    reset(&s); /* what the sink holds freed: a clean exit under ASan */
                    free(s.lags);
                    return 0;
                }
                in_len += (size_t)r;
                if (!command(&s, in, &in_len))
                    return 2;
            } else {
                readable(&s, ep, evs[i].data.ptr);
            }
        }
        check_wait(&s);
    }
}
