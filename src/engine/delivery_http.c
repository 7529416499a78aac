/*
 * delivery_http.c - churnd's own HTTP/1.1 client for http:// webhooks (https:// and SMTP stay
 * on libcurl, delivery_net.c). One kept-alive connection per destination; an exchange writes
 * the request head and the body in one sendmsg and reads the answer with blocking recv()s in
 * slices of SLICE_MS, so that a delivery costs two system calls in the common case (libcurl's
 * exchange, with its polls and per-transfer set-up, was 60% of the delivery threads' CPU).
 * Every exchange is bounded: the destination's timeout for all of it (a receiver that trickles
 * bytes does not extend it), 5 s at most to connect, churnd's stop noticed within a slice, the
 * answer read by churn/http_answer.h (framing refused when it is not exact, 1xx skipped) and at
 * most ANSWER_CAP bytes of its body read before the connection is dropped. A kept-alive
 * connection that the receiver closed while idle is retried once on a new one when nothing of
 * an answer came back (the delivery id makes the rare double harmless).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "churn/clock.h"
#include "churn/http_answer.h"
#include "delivery_internal.h"

enum { SLICE_MS = 100, CONNECT_MAX_MS = 5000, READ_CHUNK = 16384 };

/* How one try on a connection ended. */
enum try_end { TRY_DONE, TRY_STALE, TRY_FAILED };

void
churn__http_conn_init(struct churn__http_conn *c)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

void
churn__http_conn_close(struct churn__http_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->requests = 0;
}

static int64_t
left_ms(int64_t deadline)
{
    int64_t left = deadline - churn_mono_ns() / 1000000;
    return left > 0 ? left : 0;
}

/* Wait until the non-blocking connect on @fd ends, within @ms and churnd's stop. */
static int
connect_wait(int fd, int64_t deadline, const atomic_bool *stop)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    while (!atomic_load(stop)) {
        int64_t left = left_ms(deadline);
        if (left == 0)
            return ETIMEDOUT;
        int n = poll(&p, 1, (int)(left < SLICE_MS ? left : SLICE_MS));
        if (n < 0 && errno != EINTR)
            return errno;
        if (n > 0) {
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            return soerr;
        }
    }
    return ECANCELED;
}

/* A connected socket to @ai, blocking, with SLICE_MS send and receive timeouts; -errno. */
static int
connect_one(const struct addrinfo *ai, int64_t deadline, const atomic_bool *stop)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0)
        return -errno;
    int e = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
    if (e == EINPROGRESS)
        e = connect_wait(fd, deadline, stop);
    struct timeval tv = {.tv_sec = 0, .tv_usec = SLICE_MS * 1000};
    int one = 1;
    if (!e && (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 ||
               setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
               setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
               setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0))
        e = errno;
    if (e) {
        close(fd);
        return -e;
    }
    return fd;
}

static enum churn_err
open_conn(struct churn__http_conn *c, int64_t deadline, const atomic_bool *stop, char *err,
          size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(c->host, c->port, &hints, &res);
    if (g != 0)
        return churn_fail(err, errlen, CHURN_EIO, "could not resolve host '%s': %s", c->host,
                          gai_strerror(g));
    int64_t connect_by = churn_mono_ns() / 1000000 + CONNECT_MAX_MS;
    if (connect_by > deadline)
        connect_by = deadline;
    int fd = -EHOSTUNREACH;
    for (struct addrinfo *ai = res; ai && fd < 0 && fd != -ECANCELED; ai = ai->ai_next)
        fd = connect_one(ai, connect_by, stop);
    freeaddrinfo(res);
    if (fd < 0)
        return churn_fail(err, errlen, CHURN_EIO, "connecting to %s:%s: %s", c->host, c->port,
                          fd == -ETIMEDOUT ? "timed out" : strerror(-fd));
    c->fd = fd;
    c->requests = 0;
    return CHURN_OK;
}

/* Whether to give up waiting on the socket: the deadline passed or churnd stops. */
static bool
out_of_time(int64_t deadline, const atomic_bool *stop, const char *what, int64_t timeout_ms,
            char *err, size_t errlen)
{
    if (atomic_load(stop)) {
        churn_fail(err, errlen, CHURN_EIO, "churnd is stopping");
        return true;
    }
    if (left_ms(deadline) > 0)
        return false;
    churn_fail(err, errlen, CHURN_EIO, "timed out after %lld ms %s", (long long)timeout_ms, what);
    return true;
}

static bool
is_stale_errno(int e)
{
    return e == EPIPE || e == ECONNRESET || e == ECONNABORTED;
}

/* Write all of @iov (@n parts, changed in place) to c->fd. */
static enum try_end
send_all(struct churn__http_conn *c, struct iovec *iov, int n, const struct churn__http_limits *l,
         char *err, size_t errlen)
{
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    while (m.msg_iovlen > 0) {
        ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (out_of_time(l->deadline, l->stop, "sending the request", l->timeout_ms, err,
                            errlen))
                return TRY_FAILED;
            continue;
        }
        if (w < 0) {
            churn_fail(err, errlen, CHURN_EIO, "sending the request: %s", strerror(errno));
            return c->requests > 0 && is_stale_errno(errno) ? TRY_STALE : TRY_FAILED;
        }
        for (size_t done = (size_t)w; m.msg_iovlen > 0 && done >= m.msg_iov->iov_len;) {
            done -= m.msg_iov->iov_len;
            m.msg_iov++, m.msg_iovlen--;
            if (m.msg_iovlen > 0 && done < m.msg_iov->iov_len) {
                m.msg_iov->iov_base = (char *)m.msg_iov->iov_base + done;
                m.msg_iov->iov_len -= done;
                break;
            }
        }
    }
    return TRY_DONE;
}

/* The connection ended (@e: errno, 0 for an orderly close) before the answer did. */
static enum try_end
cut_short(struct churn__http_conn *c, struct churn_http_answer *a, int e, char *err, size_t errlen)
{
    if (e == 0 && churn_http_answer_eof(a) == CHURN_OK)
        return TRY_DONE;
    if (!churn_http_answer_started(a) && c->requests > 0 && (e == 0 || is_stale_errno(e)))
        return TRY_STALE; /* closed while idle: the request never reached a live peer */
    if (e)
        churn_fail(err, errlen, CHURN_EIO, "reading the answer: %s", strerror(e));
    else
        churn_fail(err, errlen, CHURN_EIO, "malformed HTTP answer: %s", a->why);
    return TRY_FAILED;
}

/* Read the answer into @a; TRY_DONE when it is complete (or its body passed the cap). */
static enum try_end
read_answer(struct churn__http_conn *c, struct churn_http_answer *a, bool *extra,
            const struct churn__http_limits *l, char *err, size_t errlen)
{
    char buf[READ_CHUNK];
    for (;;) {
        ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (out_of_time(l->deadline, l->stop, "waiting for the answer", l->timeout_ms, err,
                            errlen))
                return TRY_FAILED;
            continue;
        }
        if (r <= 0)
            return cut_short(c, a, r < 0 ? errno : 0, err, errlen);
        size_t used = 0;
        enum churn_err rc = churn_http_answer_feed(a, buf, (size_t)r, &used);
        if (rc == CHURN_OK) {
            *extra = used < (size_t)r;
            return TRY_DONE;
        }
        if (rc != CHURN_EAGAIN) {
            churn_fail(err, errlen, CHURN_EIO, "malformed HTTP answer: %s", a->why);
            return TRY_FAILED;
        }
        if (a->status >= 200 && a->body_bytes > l->answer_cap) {
            a->keep_alive = false; /* the rest is not read: the connection goes */
            return TRY_DONE;
        }
        if (out_of_time(l->deadline, l->stop, "reading the answer", l->timeout_ms, err, errlen))
            return TRY_FAILED;
    }
}

/* One try on the open connection (or a new one). */
static enum try_end
try_once(struct churn__http_conn *c, struct iovec *iov, int n, const struct churn__http_limits *l,
         long *status, char *err, size_t errlen)
{
    if (c->fd < 0 && open_conn(c, l->deadline, l->stop, err, errlen) != CHURN_OK)
        return TRY_FAILED;
    enum try_end end = send_all(c, iov, n, l, err, errlen);
    struct churn_http_answer a;
    churn_http_answer_init(&a);
    bool extra = false;
    if (end == TRY_DONE)
        end = read_answer(c, &a, &extra, l, err, errlen);
    if (end == TRY_DONE)
        *status = a.status;
    c->requests++;
    if (end != TRY_DONE || !a.keep_alive || extra) /* bytes after the answer: not trusted */
        churn__http_conn_close(c);
    return end;
}

enum churn_err
churn__http_exchange(struct churn__http_conn *c, const struct iovec *req, int n,
                     const struct churn__http_limits *l, long *status, char *err, size_t errlen)
{
    struct iovec iov[4];
    *status = 0;
    if (n > 4)
        return churn_fail(err, errlen, CHURN_EINTERNAL, "too many request parts");
    for (int attempt = 0; attempt < 2; attempt++) {
        memcpy(iov, req, sizeof(*req) * (size_t)n);
        enum try_end end = try_once(c, iov, n, l, status, err, errlen);
        if (end == TRY_DONE)
            return CHURN_OK;
        if (end == TRY_FAILED)
            return CHURN_EIO;
    }
    return CHURN_EIO; /* stale twice: err says why */
}
