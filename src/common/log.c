/*
 * log.c - renders structured events as text (key=value, quoted when needed) or JSON (escaped)
 * and writes each as one line with a single write(2).
 */
#include "churn/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "churn/clock.h"

#define LOG_LINE_MAX 8192

static atomic_int log_level = CHURN_LOG_INFO;
static atomic_int log_format = CHURN_LOG_TEXT;
static atomic_int log_fd = 2;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void
churn_log_configure(enum churn_log_level level, enum churn_log_format format, int fd)
{
    atomic_store(&log_level, level);
    atomic_store(&log_format, format);
    atomic_store(&log_fd, fd);
}

bool
churn_log_enabled(enum churn_log_level level)
{
    return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

struct line {
    char *p;
    size_t len, cap; /* cap excludes room kept for the newline */
};

static void
put(struct line *l, const char *s, size_t n)
{
    if (n > l->cap - l->len)
        n = l->cap - l->len;
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void
putc1(struct line *l, char c)
{
    put(l, &c, 1);
}

static void
put_json_string(struct line *l, const char *s)
{
    putc1(l, '"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        switch (*c) {
        case '"':
            put(l, "\\\"", 2);
            break;
        case '\\':
            put(l, "\\\\", 2);
            break;
        case '\n':
            put(l, "\\n", 2);
            break;
        case '\r':
            put(l, "\\r", 2);
            break;
        case '\t':
            put(l, "\\t", 2);
            break;
        default:
            if (*c < 0x20) {
                snprintf(esc, sizeof(esc), "\\u%04x", *c);
                put(l, esc, 6);
            } else {
                putc1(l, (char)*c);
            }
        }
    }
    putc1(l, '"');
}

static bool
needs_quotes(const char *s)
{
    if (!*s)
        return true;
    for (; *s; s++)
        if (*s == ' ' || *s == '"' || *s == '=' || (unsigned char)*s < 0x20)
            return true;
    return false;
}

static void
put_value(struct line *l, enum churn_log_format format, const struct churn_log_field *f)
{
    char num[64];
    switch (f->type) {
    case CHURN_LOG_FIELD_STR: {
        const char *s = f->s ? f->s : "";
        if (format == CHURN_LOG_JSON || needs_quotes(s))
            put_json_string(l, s);
        else
            put(l, s, strlen(s));
        return;
    }
    case CHURN_LOG_FIELD_INT:
        put(l, num, (size_t)snprintf(num, sizeof(num), "%lld", f->i));
        return;
    case CHURN_LOG_FIELD_DBL:
        put(l, num, (size_t)snprintf(num, sizeof(num), "%.6g", f->d));
        return;
    }
}

size_t
churn_log_format_line(char *out, size_t cap, enum churn_log_format format, long long ts_ms,
                      enum churn_log_level level, const char *event,
                      const struct churn_log_field *fields, size_t n)
{
    struct line l = {.p = out, .len = 0, .cap = cap - 1};
    char ts[40];
    churn_format_time_ms(ts_ms, ts, sizeof(ts));
    const char *lv = level_names[level <= CHURN_LOG_DEBUG ? level : CHURN_LOG_DEBUG];
    if (format == CHURN_LOG_JSON) {
        put(&l, "{\"ts\":\"", 7);
        put(&l, ts, strlen(ts));
        put(&l, "\",\"level\":\"", 11);
        put(&l, lv, strlen(lv));
        put(&l, "\",\"event\":", 10);
        put_json_string(&l, event);
        for (size_t i = 0; i < n; i++) {
            putc1(&l, ',');
            put_json_string(&l, fields[i].key);
            putc1(&l, ':');
            put_value(&l, format, &fields[i]);
        }
        /* a cut line must still end the object */
        if (l.len == l.cap)
            l.len = l.cap - 1;
        putc1(&l, '}');
    } else {
        put(&l, ts, strlen(ts));
        putc1(&l, ' ');
        put(&l, lv, strlen(lv));
        putc1(&l, ' ');
        put(&l, event, strlen(event));
        for (size_t i = 0; i < n; i++) {
            putc1(&l, ' ');
            put(&l, fields[i].key, strlen(fields[i].key));
            putc1(&l, '=');
            put_value(&l, format, &fields[i]);
        }
    }
    out[l.len++] = '\n';
    return l.len;
}

void
churn_log_write(enum churn_log_level level, const char *event, const struct churn_log_field *fields,
                size_t n)
{
    if (!churn_log_enabled(level))
        return;
    char line[LOG_LINE_MAX];
    size_t len = churn_log_format_line(line, sizeof(line), atomic_load(&log_format), churn_now_ms(),
                                       level, event, fields, n);
    ssize_t w = write(atomic_load(&log_fd), line, len);
    (void)w;
}

bool
churn_log_level_parse(const char *s, enum churn_log_level *out)
{
    for (int i = 0; i <= CHURN_LOG_DEBUG; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum churn_log_level)i;
            return true;
        }
    }
    return false;
}

bool
churn_log_format_parse(const char *s, enum churn_log_format *out)
{
    if (strcmp(s, "text") == 0)
        *out = CHURN_LOG_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = CHURN_LOG_JSON;
    else
        return false;
    return true;
}
