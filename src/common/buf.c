/*
 * buf.c - capped growable buffer. Growth doubles the allocation but never past cap + 1 (the
 * terminating NUL), and an append that would pass the cap changes nothing.
 */
#include "churn/buf.h"

#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"

void
churn_buf_init(struct churn_buf *buf, size_t cap)
{
    memset(buf, 0, sizeof(*buf));
    buf->cap = cap;
}

static enum churn_err
buf_reserve(struct churn_buf *buf, size_t extra)
{
    if (extra > buf->cap || buf->len > buf->cap - extra)
        return CHURN_ETOOBIG;
    size_t need = buf->len + extra + 1;
    if (need <= buf->alloc)
        return CHURN_OK;
    size_t n = buf->alloc ? buf->alloc : 64;
    while (n < need)
        n *= 2;
    if (n > buf->cap + 1)
        n = buf->cap + 1;
    char *p = churn_realloc(buf->data, n);
    if (!p)
        return CHURN_ENOMEM;
    buf->data = p;
    buf->alloc = n;
    return CHURN_OK;
}

enum churn_err
churn_buf_append(struct churn_buf *buf, const void *data, size_t len)
{
    enum churn_err err = buf_reserve(buf, len);
    if (err)
        return err;
    if (len)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
    return CHURN_OK;
}

enum churn_err
churn_buf_append_str(struct churn_buf *buf, const char *s)
{
    return churn_buf_append(buf, s, strlen(s));
}

enum churn_err
churn_buf_vprintf(struct churn_buf *buf, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return CHURN_EINVAL;
    enum churn_err err = buf_reserve(buf, (size_t)n);
    if (err)
        return err;
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    buf->len += (size_t)n;
    return CHURN_OK;
}

enum churn_err
churn_buf_printf(struct churn_buf *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum churn_err err = churn_buf_vprintf(buf, fmt, ap);
    va_end(ap);
    return err;
}

const char *
churn_buf_str(const struct churn_buf *buf)
{
    return buf->data ? buf->data : "";
}

void
churn_buf_truncate(struct churn_buf *buf, size_t len)
{
    if (len < buf->len) {
        buf->len = len;
        buf->data[len] = '\0';
    }
}

void
churn_buf_reset(struct churn_buf *buf)
{
    churn_buf_truncate(buf, 0);
}

void
churn_buf_free(struct churn_buf *buf)
{
    churn_free(buf->data);
    churn_buf_init(buf, buf->cap);
}
