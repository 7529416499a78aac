/*
 * accept_guard.c - descriptor exhaustion must not lock clients out for good (issue 13 item
 * 8). gRPC core 1.51 destroys its listening socket when accept4() fails with EMFILE, so once
 * the descriptor limit was reached no connection was ever accepted again. churnd therefore
 * raises its soft RLIMIT_NOFILE to the hard limit at start, and interposes accept4() (the
 * executable exports it: src/meson.build) to bound connections by descriptor headroom: a
 * connection that would leave fewer than CHURN__FD_RESERVE descriptors for the store, logs and
 * files, or that arrives when none is left (a spare descriptor is released to take it), is
 * accepted and closed at once, so its client sees a closed connection rather than a hang, and
 * core sees EAGAIN and keeps listening. Connections that go idle are closed by
 * --max-connection-idle-ms, which frees descriptors for the next clients.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "churn/log.h"
#include "internal.h"

typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

static _Atomic(accept4_fn) real_accept4;
static atomic_int spare_fd = -1;
static atomic_long fd_ceiling; /* 0 until churn__accept_guard_init(): no bound */
static atomic_ulong refused;

static accept4_fn
next_accept4(void)
{
    accept4_fn fn = atomic_load(&real_accept4);
    if (!fn) {
        fn = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
        atomic_store(&real_accept4, fn);
    }
    return fn;
}

/* Accept and close every pending connection of @fd: core's listener is edge-triggered, so
 * none may be left waiting behind an EAGAIN. */
static void
refuse_pending(int fd, accept4_fn next)
{
    for (;;) {
        int c = next(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0 && (errno == EMFILE || errno == ENFILE)) {
            int spare = atomic_exchange(&spare_fd, -1);
            if (spare < 0)
                return;
            close(spare);
            c = next(fd, NULL, NULL, SOCK_CLOEXEC);
            atomic_store(&spare_fd, open("/dev/null", O_RDONLY | O_CLOEXEC));
        }
        if (c < 0)
            return;
        close(c);
        atomic_fetch_add(&refused, 1);
    }
}

int
accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    accept4_fn next = next_accept4();
    if (!next) {
        errno = ENOSYS;
        return -1;
    }
    int c = next(fd, addr, addrlen, flags);
    long ceiling = atomic_load(&fd_ceiling);
    if (ceiling == 0)
        return c;
    if (c >= 0 && c < ceiling)
        return c;
    if (c >= 0) {
        close(c);
        atomic_fetch_add(&refused, 1);
    } else if (errno != EMFILE && errno != ENFILE) {
        return c;
    }
    refuse_pending(fd, next);
    errno = EAGAIN;
    return -1;
}

unsigned long
churn__accept_guard_refused(void)
{
    return atomic_load(&refused);
}

void
churn__accept_guard_init(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t was = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = was;
    }
    /* descriptor numbers are the lowest free ones: one at or above the ceiling means fewer
     * than the reserve are left */
    long limit =
        rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1L << 30) ? 1L << 30 : (long)rl.rlim_cur;
    long ceiling = limit - CHURN__FD_RESERVE;
    if (ceiling < CHURN__FD_RESERVE)
        ceiling = limit / 2;
    if (atomic_load(&spare_fd) < 0)
        atomic_store(&spare_fd, open("/dev/null", O_RDONLY | O_CLOEXEC));
    atomic_store(&fd_ceiling, ceiling);
    churn_log(CHURN_LOG_INFO, "descriptor_limit", CHURN_LF_INT("soft_was", (long long)was),
              CHURN_LF_INT("soft", limit), CHURN_LF_INT("connection_fd_ceiling", ceiling));
}
