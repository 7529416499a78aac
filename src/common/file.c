/*
 * file.c - whole-file reads that cannot block or be pointed at something that is not a
 * regular file, and the "inside this directory" path rule (churn/file.h). Used by the model
 * loader, the model registry, ReloadModel and the token file.
 */
#include "churn/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "churn/alloc.h"

/* Why @mode is not readable as a file; NULL for a regular file. */
static const char *
not_regular(mode_t mode)
{
    if (S_ISREG(mode))
        return NULL;
    if (S_ISDIR(mode))
        return "is a directory, not a regular file";
    if (S_ISFIFO(mode))
        return "is a FIFO, not a regular file";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "is a device, not a regular file";
    if (S_ISSOCK(mode))
        return "is a socket, not a regular file";
    return "is not a regular file";
}

static enum churn_err
open_error(const char *path, int errnum, bool nofollow, char *err, size_t errlen)
{
    if (nofollow && errnum == ELOOP)
        return churn_fail(err, errlen, CHURN_EPERM, "%s: is a symbolic link (not followed)", path);
    return churn_fail(err, errlen,
                      errnum == ENOENT ? CHURN_ENOTFOUND : churn_err_from_errno(errnum), "%s: %s",
                      path, strerror(errnum));
}

/* Read all of @fd (a regular file of at most @cap bytes) into a NUL-terminated buffer. */
static enum churn_err
read_fd(int fd, const char *path, size_t cap, char **out, size_t *len, char *err, size_t errlen)
{
    char *buf = churn_malloc(cap + 1);
    if (!buf)
        return churn_fail(err, errlen, CHURN_ENOMEM, "%s: out of memory", path);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            churn_free(buf);
            return churn_fail(err, errlen, CHURN_EIO, "%s: read error: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > cap) {
            churn_free(buf);
            return churn_fail(err, errlen, CHURN_ETOOBIG, "%s: larger than %zu bytes", path, cap);
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return CHURN_OK;
}

enum churn_err
churn_file_read_regular(const char *path, size_t cap, bool nofollow, char **out, size_t *len,
                        char *err, size_t errlen)
{
    int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0);
    int fd = open(path, flags);
    if (fd < 0)
        return open_error(path, errno, nofollow, err, errlen);
    struct stat st;
    enum churn_err e = CHURN_OK;
    const char *why;
    if (fstat(fd, &st) != 0)
        e = churn_fail(err, errlen, CHURN_EIO, "%s: %s", path, strerror(errno));
    else if ((why = not_regular(st.st_mode)))
        e = churn_fail(err, errlen, CHURN_EPERM, "%s: %s", path, why);
    else if ((unsigned long long)st.st_size > cap)
        e = churn_fail(err, errlen, CHURN_ETOOBIG, "%s: larger than %zu bytes", path, cap);
    else
        e = read_fd(fd, path, cap, out, len, err, errlen);
    close(fd);
    return e;
}

/* True if a path component of @path is "..". */
static bool
has_dotdot(const char *path)
{
    for (const char *p = path; *p;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return true;
        p += n + (slash ? 1 : 0);
    }
    return false;
}

/* realpath() of @path into @out (PATH_MAX bytes), or an error naming @what. */
static enum churn_err
resolve(const char *what, const char *path, char *out, char *err, size_t errlen)
{
    if (realpath(path, out))
        return CHURN_OK;
    int e = errno;
    return churn_fail(err, errlen, e == ENOENT ? CHURN_ENOTFOUND : churn_err_from_errno(e),
                      "%s %s: %s", what, path, strerror(e));
}

enum churn_err
churn_file_inside_dir(const char *dir, const char *path, char *resolved, size_t cap, char *err,
                      size_t errlen)
{
    if (!*path)
        return churn_fail(err, errlen, CHURN_EINVAL, "path: empty");
    if (has_dotdot(path))
        return churn_fail(err, errlen, CHURN_EPERM, "path: a '..' component is not allowed");
    char joined[PATH_MAX], rdir[PATH_MAX], rpath[PATH_MAX];
    enum churn_err e = resolve("directory", dir, rdir, err, errlen);
    if (e)
        return CHURN_EPRECOND; /* the directory itself is unusable: nothing is inside it */
    int n = path[0] == '/' ? snprintf(joined, sizeof(joined), "%s", path)
                           : snprintf(joined, sizeof(joined), "%s/%s", rdir, path);
    if (n < 0 || (size_t)n >= sizeof(joined))
        return churn_fail(err, errlen, CHURN_ETOOBIG, "path: over %d bytes", PATH_MAX - 1);
    if ((e = resolve("path", joined, rpath, err, errlen)))
        return e;
    size_t dl = strlen(rdir);
    bool inside = strncmp(rpath, rdir, dl) == 0 && (rpath[dl] == '/' || dl == 1) && rpath[dl];
    if (!inside)
        return churn_fail(err, errlen, CHURN_EPERM,
                          "path: resolves outside the directory %s (a symbolic link out of it, "
                          "or another directory)",
                          rdir);
    struct stat st;
    const char *why;
    if (stat(rpath, &st) != 0)
        return churn_fail(err, errlen, churn_err_from_errno(errno), "path: %s", strerror(errno));
    if ((why = not_regular(st.st_mode)))
        return churn_fail(err, errlen, CHURN_EPERM, "path: %s", why);
    if (strlen(rpath) >= cap)
        return churn_fail(err, errlen, CHURN_ETOOBIG, "path: resolved path over %zu bytes", cap);
    memcpy(resolved, rpath, strlen(rpath) + 1);
    return CHURN_OK;
}
