/*
 * engine/housekeeping.c - the engine's one housekeeping timer (churn/housekeeping.h): a fixed
 * table of named periodic tasks with their next due times, one thread that sleeps until the
 * earliest is due, runs what is due in due order and sleeps again. The bookkeeping is under a
 * mutex, the tasks run outside it; the schedule's clock is injected so that tests drive
 * churn_housekeeping_run_due() by hand.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "churn/housekeeping.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/clock.h"

#define IDLE_WAIT_MS 1000 /* the longest sleep: a clock that is not the wall clock is re-read */

struct task {
    char name[CHURN_HOUSEKEEPING_NAME_MAX];
    int64_t interval_ms, next_due_ms;
    uint64_t runs;
    churn_housekeeping_fn fn;
    void *ctx;
};

struct churn_housekeeping {
    churn_housekeeping_clock_fn clock;
    void *clock_ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct task tasks[CHURN_HOUSEKEEPING_TASKS_MAX]; /* (mu) */
    size_t n_tasks;                                  /* (mu) */
    bool running, stop;                              /* (mu) */
    pthread_t thread;
};

static int64_t
now_of(const struct churn_housekeeping *hk)
{
    return hk->clock ? hk->clock(hk->clock_ctx) : churn_now_ms();
}

enum churn_err
churn_housekeeping_create(churn_housekeeping_clock_fn clock, void *clock_ctx,
                          struct churn_housekeeping **out)
{
    struct churn_housekeeping *hk = churn_calloc(1, sizeof(*hk));
    if (!hk)
        return CHURN_ENOMEM;
    hk->clock = clock;
    hk->clock_ctx = clock_ctx;
    pthread_mutex_init(&hk->mu, NULL);
    pthread_cond_init(&hk->cv, NULL);
    *out = hk;
    return CHURN_OK;
}

enum churn_err
churn_housekeeping_add(struct churn_housekeeping *hk, const char *name, int64_t interval_ms,
                       int64_t delay_ms, churn_housekeeping_fn fn, void *ctx)
{
    size_t len = name ? strnlen(name, CHURN_HOUSEKEEPING_NAME_MAX) : 0;
    if (interval_ms <= 0 || delay_ms < 0 || !fn || len == 0 || len >= CHURN_HOUSEKEEPING_NAME_MAX)
        return CHURN_EINVAL;
    enum churn_err e = CHURN_OK;
    pthread_mutex_lock(&hk->mu);
    for (size_t i = 0; i < hk->n_tasks && !e; i++)
        if (strcmp(hk->tasks[i].name, name) == 0)
            e = CHURN_EINVAL;
    if (!e && hk->n_tasks == CHURN_HOUSEKEEPING_TASKS_MAX)
        e = CHURN_ETOOBIG;
    if (!e) {
        struct task *t = &hk->tasks[hk->n_tasks++];
        memcpy(t->name, name, len + 1);
        t->interval_ms = interval_ms;
        t->next_due_ms = now_of(hk) + delay_ms;
        t->runs = 0;
        t->fn = fn;
        t->ctx = ctx;
        pthread_cond_signal(&hk->cv); /* a running timer recomputes its sleep */
    }
    pthread_mutex_unlock(&hk->mu);
    return e;
}

/* The task due earliest at @now (ties: the first added), rescheduled; NULL when none is. */
static struct task *
take_due_locked(struct churn_housekeeping *hk, int64_t now)
{
    struct task *due = NULL;
    for (size_t i = 0; i < hk->n_tasks; i++) {
        struct task *t = &hk->tasks[i];
        if (t->next_due_ms <= now && (!due || t->next_due_ms < due->next_due_ms))
            due = t;
    }
    if (due) {
        due->next_due_ms = now + due->interval_ms;
        due->runs++;
    }
    return due;
}

static int64_t
next_due_locked(const struct churn_housekeeping *hk)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < hk->n_tasks; i++)
        if (hk->tasks[i].next_due_ms < next)
            next = hk->tasks[i].next_due_ms;
    return next;
}

int64_t
churn_housekeeping_run_due(struct churn_housekeeping *hk, int64_t now_ms)
{
    for (;;) {
        pthread_mutex_lock(&hk->mu);
        struct task *t = take_due_locked(hk, now_ms);
        churn_housekeeping_fn fn = t ? t->fn : NULL;
        void *ctx = t ? t->ctx : NULL;
        int64_t next = next_due_locked(hk);
        pthread_mutex_unlock(&hk->mu);
        if (!fn)
            return next;
        fn(ctx, now_ms);
    }
}

static void *
timer_main(void *arg)
{
    struct churn_housekeeping *hk = arg;
    pthread_setname_np(pthread_self(), "housekeeping");
    pthread_mutex_lock(&hk->mu);
    while (!hk->stop) {
        pthread_mutex_unlock(&hk->mu);
        int64_t now = now_of(hk);
        int64_t next = churn_housekeeping_run_due(hk, now);
        int64_t wait = next == INT64_MAX || next - now > IDLE_WAIT_MS ? IDLE_WAIT_MS : next - now;
        pthread_mutex_lock(&hk->mu);
        if (!hk->stop && wait > 0) {
            struct timespec ts = churn_timespec_of_ms(churn_now_ms() + wait);
            pthread_cond_timedwait(&hk->cv, &hk->mu, &ts);
        }
    }
    pthread_mutex_unlock(&hk->mu);
    return NULL;
}

enum churn_err
churn_housekeeping_start(struct churn_housekeeping *hk)
{
    pthread_mutex_lock(&hk->mu);
    enum churn_err e = CHURN_OK;
    if (!hk->running) {
        hk->stop = false;
        if (pthread_create(&hk->thread, NULL, timer_main, hk) != 0)
            e = CHURN_ENOMEM;
        else
            hk->running = true;
    }
    pthread_mutex_unlock(&hk->mu);
    return e;
}

void
churn_housekeeping_stop(struct churn_housekeeping *hk)
{
    pthread_mutex_lock(&hk->mu);
    bool running = hk->running;
    hk->stop = true;
    hk->running = false;
    pthread_cond_signal(&hk->cv);
    pthread_mutex_unlock(&hk->mu);
    if (running)
        pthread_join(hk->thread, NULL);
}

void
churn_housekeeping_destroy(struct churn_housekeeping *hk)
{
    if (!hk)
        return;
    churn_housekeeping_stop(hk);
    pthread_cond_destroy(&hk->cv);
    pthread_mutex_destroy(&hk->mu);
    churn_free(hk);
}

size_t
churn_housekeeping_stats(struct churn_housekeeping *hk, struct churn_housekeeping_stats *out,
                         size_t cap)
{
    pthread_mutex_lock(&hk->mu);
    size_t n = hk->n_tasks;
    for (size_t i = 0; i < n && i < cap; i++) {
        const struct task *t = &hk->tasks[i];
        memcpy(out[i].name, t->name, sizeof(out[i].name));
        out[i].interval_ms = t->interval_ms;
        out[i].next_due_ms = t->next_due_ms;
        out[i].runs = t->runs;
    }
    pthread_mutex_unlock(&hk->mu);
    return n;
}
