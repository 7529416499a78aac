/*
 * error.c - names and messages for enum churn_err, generated from the one X-macro table in
 * churn/error.h, and the errno translation used at the edges that talk to the OS.
 */
#include "churn/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

static const char *const err_text[] = {
#define CHURN__ERR_TEXT(name, text) [CHURN_##name] = text,
    CHURN_ERRORS(CHURN__ERR_TEXT)
#undef CHURN__ERR_TEXT
};

static const char *const err_name[] = {
#define CHURN__ERR_NAME(name, text) [CHURN_##name] = #name,
    CHURN_ERRORS(CHURN__ERR_NAME)
#undef CHURN__ERR_NAME
};

const char *
churn_strerror(enum churn_err err)
{
    if ((unsigned)err >= CHURN__ERR_COUNT)
        return "unknown error";
    return err_text[err];
}

const char *
churn_err_name(enum churn_err err)
{
    if ((unsigned)err >= CHURN__ERR_COUNT)
        return "EUNKNOWN";
    return err_name[err];
}

enum churn_err
churn_err_from_errno(int errnum)
{
    switch (errnum) {
    case 0:
        return CHURN_OK;
    case ENOENT:
        return CHURN_ENOTFOUND;
    case EEXIST:
        return CHURN_EEXIST;
    case ENOMEM:
        return CHURN_ENOMEM;
    case ENOSPC:
    case EDQUOT:
        return CHURN_EFULL;
    case EACCES:
    case EPERM:
    case EROFS:
        return CHURN_EPERM;
    case EINVAL:
        return CHURN_EINVAL;
    case E2BIG:
    case EFBIG:
    case ENAMETOOLONG:
        return CHURN_ETOOBIG;
    case EAGAIN:
        return CHURN_EAGAIN;
    case ECANCELED:
        return CHURN_ECANCELLED;
    default:
        return CHURN_EIO;
    }
}

void
churn_verrf(char *errbuf, size_t errlen, const char *fmt, va_list ap)
{
    if (errbuf && errlen)
        vsnprintf(errbuf, errlen, fmt, ap);
}

void
churn_errf(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    churn_verrf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

enum churn_err
churn_fail(char *errbuf, size_t errlen, enum churn_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    churn_verrf(errbuf, errlen, fmt, ap);
    va_end(ap);
    return err;
}
