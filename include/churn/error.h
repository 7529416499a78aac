/*
 * churn/error.h - the one error vocabulary of churnd.
 *
 * Every action in the project returns an enum churn_err (0 is success). The codes come from
 * one X-macro table so that the enum, the names and the messages cannot drift apart.
 * Third-party error codes (LMDB, libstemmer, jansson, errno) are translated into these at the
 * edge of the module that owns the library; only the transport maps them to gRPC status codes.
 */
#ifndef CHURN_ERROR_H
#define CHURN_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/* X(name, text): name becomes CHURN_<name>. Order is ABI for nobody; append freely. */
#define CHURN_ERRORS(X)                                                                            \
    X(OK, "success")                                                                               \
    X(EINVAL, "invalid argument")                                                                  \
    X(ENOTFOUND, "not found")                                                                      \
    X(EEXIST, "already exists")                                                                    \
    X(ETOOBIG, "over a size limit")                                                                \
    X(ENOMEM, "out of memory")                                                                     \
    X(EPRECOND, "failed precondition")                                                             \
    X(EDEADLINE, "deadline exceeded")                                                              \
    X(ECANCELLED, "cancelled")                                                                     \
    X(EUNAVAIL, "unavailable")                                                                     \
    X(EUNIMPL, "not implemented")                                                                  \
    X(EIO, "input/output error")                                                                   \
    X(ECORRUPT, "corrupt data")                                                                    \
    X(EFULL, "storage full")                                                                       \
    X(ERANGE, "out of range")                                                                      \
    X(EPERM, "permission denied")                                                                  \
    X(EAGAIN, "try again")                                                                         \
    X(EINTERNAL, "internal error")

enum churn_err {
#define CHURN__ERR_ENUM(name, text) CHURN_##name,
    CHURN_ERRORS(CHURN__ERR_ENUM)
#undef CHURN__ERR_ENUM
        CHURN__ERR_COUNT
};

/**
 * churn_strerror() - a short, static, human-readable text for @err.
 * Never NULL; an out-of-range value gives "unknown error".
 */
const char *churn_strerror(enum churn_err err);

/**
 * churn_err_name() - the symbolic name of @err without the prefix ("EINVAL").
 * Never NULL; an out-of-range value gives "EUNKNOWN".
 */
const char *churn_err_name(enum churn_err err);

/**
 * churn_errf() - format a message into @errbuf (@errlen bytes; nothing when NULL or 0). The
 * one helper every module uses to fill a caller's error buffer.
 */
void churn_errf(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** churn_verrf() - va_list form of churn_errf(). */
void churn_verrf(char *errbuf, size_t errlen, const char *fmt, va_list ap);

/**
 * churn_fail() - churn_errf() and return @err, for `return churn_fail(buf, len, CHURN_EINVAL,
 * "workers: %s", why);`.
 */
enum churn_err churn_fail(char *errbuf, size_t errlen, enum churn_err err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/**
 * churn_err_from_errno() - translate a POSIX errno value into the closest churn_err.
 */
enum churn_err churn_err_from_errno(int errnum);

#endif
