/*
 * churn/buf.h - a growable byte buffer with a mandatory size cap (curl's dynbuf idea).
 *
 * Anything that grows from input (a CSV line, a JSON document, a log line) grows in a
 * churn_buf, and no input can raise the cap. The contents are always NUL-terminated so a
 * buffer of text can be used as a C string.
 */
#ifndef CHURN_BUF_H
#define CHURN_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "churn/error.h"

struct churn_buf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t alloc;
    size_t cap; /* the most bytes len may reach */
};

/** churn_buf_init() - an empty buffer that may hold at most @cap bytes (cap > 0). */
void churn_buf_init(struct churn_buf *buf, size_t cap);

/** churn_buf_append() - add @len bytes; CHURN_ETOOBIG past the cap, CHURN_ENOMEM. */
enum churn_err churn_buf_append(struct churn_buf *buf, const void *data, size_t len);

/** churn_buf_append_str() - add a C string. */
enum churn_err churn_buf_append_str(struct churn_buf *buf, const char *s);

/** churn_buf_printf() - add formatted text. */
enum churn_err churn_buf_printf(struct churn_buf *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** churn_buf_vprintf() - va_list form of churn_buf_printf(). */
enum churn_err churn_buf_vprintf(struct churn_buf *buf, const char *fmt, va_list ap);

/** churn_buf_str() - the contents as a C string ("" when empty); valid until the next change. */
const char *churn_buf_str(const struct churn_buf *buf);

/** churn_buf_truncate() - keep the first @len bytes (no-op when @len >= length). */
void churn_buf_truncate(struct churn_buf *buf, size_t len);

/** churn_buf_reset() - empty the buffer, keeping its memory. */
void churn_buf_reset(struct churn_buf *buf);

/** churn_buf_free() - release the memory; the buffer is empty and usable again. */
void churn_buf_free(struct churn_buf *buf);

#endif
