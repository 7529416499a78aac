/*
 * churn/clock.h - time in the units churnd uses everywhere: int64 unix milliseconds for
 * wall-clock instants (the API's unit too), UTC day numbers (the store's day buckets and the
 * features' windows) and a monotonic nanosecond clock for durations.
 */
#ifndef CHURN_CLOCK_H
#define CHURN_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define CHURN_MS_PER_DAY (86400LL * 1000LL)

/** churn_day_of_ms() - the UTC day number (days since 1970-01-01) of unix ms @ms, rounded down. */
int32_t churn_day_of_ms(int64_t ms);

/** churn_day_start_ms() - the first unix millisecond of UTC day @day. */
static inline int64_t
churn_day_start_ms(int32_t day)
{
    return (int64_t)day * CHURN_MS_PER_DAY;
}

/** churn_day_end_ms() - the last unix millisecond of UTC day @day. */
static inline int64_t
churn_day_end_ms(int32_t day)
{
    return churn_day_start_ms(day) + CHURN_MS_PER_DAY - 1;
}

/** churn_now_ms() - wall-clock time, unix milliseconds. */
int64_t churn_now_ms(void);

/** churn_mono_ns() - monotonic clock in nanoseconds, for measuring durations. */
int64_t churn_mono_ns(void);

/** churn_timespec_of_ms() - unix ms as the absolute time pthread_cond_timedwait() takes. */
static inline struct timespec
churn_timespec_of_ms(int64_t ms)
{
    return (struct timespec){.tv_sec = (time_t)(ms / 1000),
                             .tv_nsec = (long)(ms % 1000) * 1000000L};
}

/** churn_timespec_of_ns() - a churn_mono_ns() instant as the absolute time that
 * pthread_cond_timedwait() takes on a condition variable set to CLOCK_MONOTONIC. */
static inline struct timespec
churn_timespec_of_ns(int64_t ns)
{
    return (struct timespec){.tv_sec = (time_t)(ns / 1000000000LL),
                             .tv_nsec = (long)(ns % 1000000000LL)};
}

/**
 * churn_format_time_ms() - ISO-8601 UTC text ("2026-11-22T20:34:13.123Z") of @ms into @out
 * (at least 32 bytes). Returns @out.
 */
char *churn_format_time_ms(int64_t ms, char *out, unsigned long outlen);

/**
 * churn_parse_iso8601_ms() - parse ISO-8601 text into unix milliseconds: YYYY-MM-DD,
 * optionally followed by T (or a space) HH:MM[:SS[.fff]] and Z or an offset (+HH:MM, +HHMM,
 * +HH); no zone means UTC. Return: true and *@out_ms; false (untouched) for anything else.
 */
bool churn_parse_iso8601_ms(const char *s, int64_t *out_ms);

#endif
