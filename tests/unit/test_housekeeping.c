/*
 * test_housekeeping.c - the engine's one housekeeping timer (churn/housekeeping.h) on a fake
 * clock: each task runs when due and then every interval, in due order; a late timer runs a
 * missed task once, not once per missed period; bad tasks are refused by name; and the real
 * thread runs a task on the wall clock and stops.
 */
#include "churn/housekeeping.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

struct fake_clock {
    int64_t now;
};

static int64_t
fake_now(void *ctx)
{
    return ((struct fake_clock *)ctx)->now;
}

/* What the tasks did, in order: "name@time" joined by spaces. */
static char trail[512];

struct probe {
    const char *name;
    atomic_int runs;
};

static void
record(void *ctx, int64_t now_ms)
{
    struct probe *p = ctx;
    atomic_fetch_add(&p->runs, 1);
    size_t used = strlen(trail);
    snprintf(trail + used, sizeof(trail) - used, "%s%s@%lld", used ? " " : "", p->name,
             (long long)now_ms);
}

static struct churn_housekeeping *
on_fake(struct fake_clock *c)
{
    struct churn_housekeeping *hk = NULL;
    trail[0] = '\0';
    cr_assert_eq(churn_housekeeping_create(fake_now, c, &hk), CHURN_OK);
    return hk;
}

Test(housekeeping, tasks_run_when_due_in_due_order_then_every_interval)
{
    struct fake_clock c = {1000};
    struct churn_housekeeping *hk = on_fake(&c);
    struct probe sweep = {"sweep"}, maintain = {"maintain"};
    cr_assert_eq(churn_housekeeping_add(hk, "sweep", 300, 200, record, &sweep), CHURN_OK);
    cr_assert_eq(churn_housekeeping_add(hk, "maintain", 100, 0, record, &maintain), CHURN_OK);
    /* maintain is due at once; sweep at 1200 */
    cr_assert_eq(churn_housekeeping_run_due(hk, 1000), 1100);
    cr_assert_eq(churn_housekeeping_run_due(hk, 1099), 1100, "nothing due yet");
    cr_assert_eq(churn_housekeeping_run_due(hk, 1100), 1200);
    /* both due at 1200: sweep was due at 1200 and maintain at 1200 too; sweep added first */
    cr_assert_eq(churn_housekeeping_run_due(hk, 1200), 1300);
    cr_assert_str_eq(trail, "maintain@1000 maintain@1100 sweep@1200 maintain@1200");
    struct churn_housekeeping_stats st[4];
    cr_assert_eq(churn_housekeeping_stats(hk, st, 4), 2);
    cr_assert_str_eq(st[0].name, "sweep");
    cr_assert_eq(st[0].runs, 1);
    cr_assert_eq(st[0].next_due_ms, 1500);
    cr_assert_eq(st[1].runs, 3);
    cr_assert_eq(st[1].next_due_ms, 1300);
    churn_housekeeping_destroy(hk);
}

Test(housekeeping, a_late_timer_runs_a_missed_task_once_and_the_earliest_first)
{
    struct fake_clock c = {0};
    struct churn_housekeeping *hk = on_fake(&c);
    struct probe a = {"a"}, b = {"b"};
    cr_assert_eq(churn_housekeeping_add(hk, "a", 100, 50, record, &a), CHURN_OK);
    cr_assert_eq(churn_housekeeping_add(hk, "b", 1000, 10, record, &b), CHURN_OK);
    /* ten of a's periods pass: a runs once, after b (due earlier), and is due 100 later */
    cr_assert_eq(churn_housekeeping_run_due(hk, 1000), 1100);
    cr_assert_str_eq(trail, "b@1000 a@1000");
    cr_assert_eq(atomic_load(&a.runs), 1);
    cr_assert_eq(atomic_load(&b.runs), 1);
    churn_housekeeping_destroy(hk);
}

Test(housekeeping, bad_tasks_are_refused)
{
    struct fake_clock c = {0};
    struct churn_housekeeping *hk = on_fake(&c);
    struct probe p = {"p"};
    cr_assert_eq(churn_housekeeping_add(hk, "p", 0, 0, record, &p), CHURN_EINVAL, "interval 0");
    cr_assert_eq(churn_housekeeping_add(hk, "p", -5, 0, record, &p), CHURN_EINVAL);
    cr_assert_eq(churn_housekeeping_add(hk, "p", 10, -1, record, &p), CHURN_EINVAL, "delay < 0");
    cr_assert_eq(churn_housekeeping_add(hk, "", 10, 0, record, &p), CHURN_EINVAL, "no name");
    cr_assert_eq(churn_housekeeping_add(hk, NULL, 10, 0, record, &p), CHURN_EINVAL);
    cr_assert_eq(churn_housekeeping_add(hk, "p", 10, 0, NULL, &p), CHURN_EINVAL, "no function");
    char long_name[CHURN_HOUSEKEEPING_NAME_MAX + 1];
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    cr_assert_eq(churn_housekeeping_add(hk, long_name, 10, 0, record, &p), CHURN_EINVAL);
    cr_assert_eq(churn_housekeeping_add(hk, "p", 10, 0, record, &p), CHURN_OK);
    cr_assert_eq(churn_housekeeping_add(hk, "p", 20, 0, record, &p), CHURN_EINVAL, "name taken");
    for (int i = 1; i < CHURN_HOUSEKEEPING_TASKS_MAX; i++) {
        char name[16];
        snprintf(name, sizeof(name), "t%d", i);
        cr_assert_eq(churn_housekeeping_add(hk, name, 10, 0, record, &p), CHURN_OK);
    }
    cr_assert_eq(churn_housekeeping_add(hk, "one-more", 10, 0, record, &p), CHURN_ETOOBIG);
    cr_assert_eq(churn_housekeeping_run_due(hk, 0), 10, "an empty or full table still runs");
    churn_housekeeping_destroy(hk);
}

Test(housekeeping, no_tasks_means_nothing_is_ever_due)
{
    struct fake_clock c = {0};
    struct churn_housekeeping *hk = on_fake(&c);
    cr_assert_eq(churn_housekeeping_run_due(hk, 123456), INT64_MAX);
    churn_housekeeping_destroy(hk);
}

Test(housekeeping, the_thread_runs_tasks_on_the_wall_clock_and_stops)
{
    struct churn_housekeeping *hk = NULL;
    cr_assert_eq(churn_housekeeping_create(NULL, NULL, &hk), CHURN_OK);
    static struct probe p = {"tick"};
    trail[0] = '\0';
    cr_assert_eq(churn_housekeeping_add(hk, "tick", 5, 0, record, &p), CHURN_OK);
    cr_assert_eq(churn_housekeeping_start(hk), CHURN_OK);
    cr_assert_eq(churn_housekeeping_start(hk), CHURN_OK, "a second start is a no-op");
    /* no timing asserted: wait (bounded by the suite's timeout) until it ran three times */
    while (atomic_load(&p.runs) < 3) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    churn_housekeeping_stop(hk);
    int after = atomic_load(&p.runs);
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    cr_assert_eq(atomic_load(&p.runs), after, "nothing runs after stop");
    churn_housekeeping_destroy(hk);
}
