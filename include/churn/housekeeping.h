/*
 * churn/housekeeping.h - the engine's one housekeeping timer (engine/housekeeping.c, the
 * serverCron idea of DESIGN.md): named periodic tasks, each with its interval and next due
 * time, run by one thread in due order. A task must return quickly: work that takes long (a
 * sweep, an index rebuild, a retraining) stays on its own worker, which the task only wakes.
 * The clock is injected, so the schedule can be driven by hand in tests
 * (churn_housekeeping_run_due() with any "now").
 */
#ifndef CHURN_HOUSEKEEPING_H
#define CHURN_HOUSEKEEPING_H

#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"

#define CHURN_HOUSEKEEPING_TASKS_MAX 16
#define CHURN_HOUSEKEEPING_NAME_MAX  32

/* A task's work: @now_ms is the timer's clock when it ran. */
typedef void (*churn_housekeeping_fn)(void *ctx, int64_t now_ms);

/* The timer's clock (unix ms); NULL in churn_housekeeping_create(): churn_now_ms(). */
typedef int64_t (*churn_housekeeping_clock_fn)(void *ctx);

/* struct churn_housekeeping_stats - one task's runs so far and when it is due next. */
struct churn_housekeeping_stats {
    char name[CHURN_HOUSEKEEPING_NAME_MAX];
    int64_t interval_ms;
    int64_t next_due_ms;
    uint64_t runs;
};

struct churn_housekeeping;

/**
 * churn_housekeeping_create() - an empty schedule on @clock (@clock_ctx borrowed; NULL clock:
 * the wall clock). Not running until churn_housekeeping_start(). CHURN_ENOMEM.
 */
enum churn_err churn_housekeeping_create(churn_housekeeping_clock_fn clock, void *clock_ctx,
                                         struct churn_housekeeping **out);

/**
 * churn_housekeeping_add() - run @fn(@ctx) every @interval_ms (> 0), first after @delay_ms
 * (>= 0) from now on the schedule's clock. @name (1 to CHURN_HOUSEKEEPING_NAME_MAX - 1 bytes,
 * unique) names it in logs and stats. Before churn_housekeeping_start() or after
 * churn_housekeeping_stop(). CHURN_EINVAL (bad interval, delay or name, a name taken),
 * CHURN_ETOOBIG (CHURN_HOUSEKEEPING_TASKS_MAX tasks already).
 */
enum churn_err churn_housekeeping_add(struct churn_housekeeping *hk, const char *name,
                                      int64_t interval_ms, int64_t delay_ms,
                                      churn_housekeeping_fn fn, void *ctx);

/**
 * churn_housekeeping_run_due() - run every task due at @now_ms, earliest due first (ties in
 * the order added), each once however late it is (a missed period is skipped, not repeated);
 * its next due time is @now_ms + its interval. Returns the earliest next due time (INT64_MAX
 * without tasks). The timer thread calls it; a test calls it with a clock of its own.
 */
int64_t churn_housekeeping_run_due(struct churn_housekeeping *hk, int64_t now_ms);

/** churn_housekeeping_start() - run the schedule on its own thread. CHURN_ENOMEM. */
enum churn_err churn_housekeeping_start(struct churn_housekeeping *hk);

/** churn_housekeeping_stop() - stop the thread (after the task running returns); no-op if
 * not running. */
void churn_housekeeping_stop(struct churn_housekeeping *hk);

/** churn_housekeeping_destroy() - stop and free (NULL is fine). */
void churn_housekeeping_destroy(struct churn_housekeeping *hk);

/**
 * churn_housekeeping_stats() - up to @cap tasks' stats into @out, in the order added;
 * returns how many tasks there are.
 */
size_t churn_housekeeping_stats(struct churn_housekeeping *hk, struct churn_housekeeping_stats *out,
                                size_t cap);

#endif
