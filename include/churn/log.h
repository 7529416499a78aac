/*
 * churn/log.h - structured, one-line-per-event logging in text or JSON.
 *
 * An event has a name and typed fields. Text lines look like
 *   2026-11-22T20:34:13.123Z info call method=/churn.v1.ScoringService/GetScore status=OK
 * and JSON lines carry the same keys. Each line is written with one write(2), so lines from
 * different threads never interleave. Lines are capped at 8 KiB (longer values are cut).
 */
#ifndef CHURN_LOG_H
#define CHURN_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum churn_log_level {
    CHURN_LOG_ERROR,
    CHURN_LOG_WARN,
    CHURN_LOG_INFO,
    CHURN_LOG_DEBUG,
};

enum churn_log_format {
    CHURN_LOG_TEXT,
    CHURN_LOG_JSON,
};

enum churn_log_field_type {
    CHURN_LOG_FIELD_STR,
    CHURN_LOG_FIELD_INT,
    CHURN_LOG_FIELD_DBL,
};

struct churn_log_field {
    const char *key;
    enum churn_log_field_type type;
    union {
        const char *s;
        long long i;
        double d;
    };
};

#define CHURN_LF_STR(k, v)                                                                         \
    ((struct churn_log_field){.key = (k), .type = CHURN_LOG_FIELD_STR, .s = (v)})
#define CHURN_LF_INT(k, v)                                                                         \
    ((struct churn_log_field){.key = (k), .type = CHURN_LOG_FIELD_INT, .i = (v)})
#define CHURN_LF_DBL(k, v)                                                                         \
    ((struct churn_log_field){.key = (k), .type = CHURN_LOG_FIELD_DBL, .d = (v)})

/** churn_log_configure() - set the threshold, the format and the output file descriptor. */
void churn_log_configure(enum churn_log_level level, enum churn_log_format format, int fd);

/** churn_log_enabled() - whether a line at @level would be written. */
bool churn_log_enabled(enum churn_log_level level);

/** churn_log_write() - write one event line with @n fields (no-op below the threshold). */
void churn_log_write(enum churn_log_level level, const char *event,
                     const struct churn_log_field *fields, size_t n);

/**
 * churn_log_format_line() - render one line into @out (capacity @cap, at least 64) and
 * return its length including the trailing newline. Exposed for tests.
 */
size_t churn_log_format_line(char *out, size_t cap, enum churn_log_format format, long long ts_ms,
                             enum churn_log_level level, const char *event,
                             const struct churn_log_field *fields, size_t n);

/** churn_log_level_parse() - "error", "warn", "info", "debug" → level; false if unknown. */
bool churn_log_level_parse(const char *s, enum churn_log_level *out);

/** churn_log_format_parse() - "text" or "json" → format; false if unknown. */
bool churn_log_format_parse(const char *s, enum churn_log_format *out);

/* churn_log(level, event, fields...) - at least one field, e.g. CHURN_LF_STR("msg", "..."). */
#define churn_log(level, event, ...)                                                               \
    do {                                                                                           \
        if (churn_log_enabled(level)) {                                                            \
            const struct churn_log_field churn__lf[] = {__VA_ARGS__};                              \
            churn_log_write((level), (event), churn__lf,                                           \
                            sizeof(churn__lf) / sizeof(churn__lf[0]));                             \
        }                                                                                          \
    } while (0)

#endif
