/*
 * test_score_index.c - the in-memory score index (churn/score_index.h): inserts, replaces and
 * removals keep the per-tier and per-cell counts and revenue at risk equal to a recount; page
 * reads return the same order as a full sort, across tiers and both orders, with every
 * filter; a listing never repeats a customer whose score changed between its pages; a
 * cursor from before a clear (rebuild) or from another order is refused; bad items are
 * refused.
 */
#include "churn/score_index.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#define N 3000

static struct churn_score_index_item items[N];

static enum churn_tier
tier_of(double x, double hi, double mid)
{
    return x >= hi ? CHURN_TIER_HIGH : x >= mid ? CHURN_TIER_MEDIUM : CHURN_TIER_LOW;
}

static void
make_item(struct churn_score_index_item *it, int i, unsigned seed)
{
    memset(it, 0, sizeof(*it));
    snprintf(it->customer_id, sizeof(it->customer_id), "cust-%05d", i);
    unsigned r = (unsigned)i * 2654435761u ^ seed;
    it->probability = (r % 1000) / 1000.0;
    it->value = (double)((r >> 10) % 5000);
    if (i % 7 == 0)
        it->probability = 0.5; /* ties: ordered by the second key, then the id */
    it->priority = it->probability * it->value;
    it->risk_tier = tier_of(it->probability, 0.5, 0.2);
    it->value_tier = tier_of(it->value, 2000, 500);
    snprintf(it->segment, sizeof(it->segment), "%s", i % 3 ? "smb" : "enterprise");
}

/* The number in "cust-NNNNN" modulo 5. */
static long
number_mod5(const char *id)
{
    return strtol(id + 5, NULL, 10) % 5;
}

static struct churn_score_index *
filled(void)
{
    struct churn_score_index *idx;
    cr_assert_eq(churn_score_index_create(&idx), CHURN_OK);
    for (int i = 0; i < N; i++) {
        make_item(&items[i], i, 17);
        cr_assert_eq(churn_score_index_put(idx, &items[i]), CHURN_OK);
    }
    return idx;
}

static int
by_priority(const void *a, const void *b)
{
    const struct churn_score_index_item *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    if (x->probability != y->probability)
        return x->probability > y->probability ? -1 : 1;
    return strcmp(x->customer_id, y->customer_id);
}

static int
by_probability(const void *a, const void *b)
{
    const struct churn_score_index_item *x = a, *y = b;
    if (x->probability != y->probability)
        return x->probability > y->probability ? -1 : 1;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return strcmp(x->customer_id, y->customer_id);
}

static bool
want(const struct churn_score_filter *f, const struct churn_score_index_item *it)
{
    if (f->risk_mask && !(f->risk_mask & (1u << it->risk_tier)))
        return false;
    if (f->value_mask && !(f->value_mask & (1u << it->value_tier)))
        return false;
    if (it->probability < f->min_probability || it->priority < f->min_priority)
        return false;
    for (size_t i = 0; i < f->n_segments; i++)
        if (strcmp(f->segments[i], it->segment) == 0)
            return true;
    return f->n_segments == 0;
}

/* Page through @idx with @f, @order, @page at a time, and compare with a filtered sort. */
static void
check_listing(struct churn_score_index *idx, const struct churn_score_filter *f,
              enum churn_score_order order, size_t page)
{
    static struct churn_score_index_item expect[N], got[N];
    size_t ne = 0;
    for (int i = 0; i < N; i++)
        if (want(f, &items[i]))
            expect[ne++] = items[i];
    qsort(expect, ne, sizeof(*expect), order ? by_probability : by_priority);
    cr_assert_eq(churn_score_index_count(idx, f), ne);
    struct churn_score_cursor cur = {0};
    size_t ng = 0;
    bool more = true;
    char msg[200];
    while (more) {
        size_t n = 0;
        cr_assert_eq(churn_score_index_page(idx, f, order, &cur, page, got + ng, &n, &more, msg,
                                            sizeof(msg)),
                     CHURN_OK, "%s", msg);
        cr_assert(n <= page);
        ng += n;
        cr_assert(ng <= ne);
    }
    cr_assert_eq(ng, ne, "listed %zu, expected %zu", ng, ne);
    for (size_t i = 0; i < ne; i++)
        cr_assert_str_eq(got[i].customer_id, expect[i].customer_id, "item %zu", i);
}

Test(score_index, pages_equal_a_full_sort_under_every_filter)
{
    struct churn_score_index *idx = filled();
    const char *seg[] = {"enterprise"};
    const char *none[] = {"no-such-segment"};
    struct churn_score_filter filters[] = {
        {0},
        {.risk_mask = 1u << CHURN_TIER_HIGH | 1u << CHURN_TIER_MEDIUM},
        {.value_mask = 1u << CHURN_TIER_HIGH},
        {.min_probability = 0.8},
        {.min_priority = 1500},
        {.segments = seg, .n_segments = 1, .risk_mask = 1u << CHURN_TIER_LOW},
        {.segments = none, .n_segments = 1},
    };
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
        for (int order = 0; order < 2; order++) {
            check_listing(idx, &filters[i], order, 1);
            check_listing(idx, &filters[i], order, 97);
            check_listing(idx, &filters[i], order, N);
        }
    churn_score_index_destroy(idx);
}

/* The summary against a recount of items[]. */
static void
check_summary(struct churn_score_index *idx, const bool *present)
{
    struct churn_score_summary s;
    churn_score_index_summary(idx, &s);
    uint64_t count[4][4] = {{0}};
    double rev[4][4] = {{0}};
    uint64_t total = 0;
    for (int i = 0; i < N; i++)
        if (!present || present[i]) {
            count[items[i].risk_tier][items[i].value_tier]++;
            rev[items[i].risk_tier][items[i].value_tier] += items[i].priority;
            total++;
        }
    cr_assert_eq(s.total.customers, total);
    for (int r = 1; r <= 3; r++) {
        uint64_t by_r = 0;
        for (int v = 1; v <= 3; v++) {
            cr_assert_eq(s.cells[r][v].customers, count[r][v], "cell %d,%d", r, v);
            cr_assert(fabs(s.cells[r][v].revenue_at_risk - rev[r][v]) < 1e-6 * (1 + rev[r][v]));
            by_r += count[r][v];
        }
        cr_assert_eq(s.by_risk[r].customers, by_r);
    }
}

Test(score_index, aggregates_follow_puts_replaces_and_removals)
{
    struct churn_score_index *idx = filled();
    check_summary(idx, NULL);
    /* new scores for a third of the customers: the old ones leave their cells */
    for (int i = 0; i < N; i += 3) {
        make_item(&items[i], i, 99);
        cr_assert_eq(churn_score_index_put(idx, &items[i]), CHURN_OK);
    }
    check_summary(idx, NULL);
    static bool present[N];
    for (int i = 0; i < N; i++) {
        present[i] = i % 5 != 0;
        if (!present[i])
            cr_assert(churn_score_index_remove(idx, items[i].customer_id));
    }
    cr_assert_not(churn_score_index_remove(idx, items[0].customer_id));
    check_summary(idx, present);
    /* an erased customer is in no listing */
    struct churn_score_index_item got;
    cr_assert_not(churn_score_index_get(idx, items[5].customer_id, &got));
    cr_assert(churn_score_index_get(idx, items[6].customer_id, &got));
    cr_assert_float_eq(got.priority, items[6].priority, 1e-12);
    cr_assert_str_eq(got.segment, "enterprise");
    static struct churn_score_index_item page[N];
    struct churn_score_cursor cur = {0};
    size_t n;
    bool more;
    char msg[200];
    cr_assert_eq(churn_score_index_page(idx, NULL, CHURN_SCORE_BY_PRIORITY, &cur, N, page, &n,
                                        &more, msg, sizeof(msg)),
                 CHURN_OK);
    cr_assert_eq(n, N - (N + 4) / 5);
    for (size_t i = 0; i < n; i++)
        cr_assert_neq(number_mod5(page[i].customer_id), 0);
    churn_score_index_destroy(idx);
}

Test(score_index, a_listing_never_repeats_a_customer_whose_score_moved)
{
    struct churn_score_index *idx = filled();
    static struct churn_score_index_item page[N];
    static int seen[N];
    struct churn_score_cursor cur = {0};
    size_t n, total = 0;
    bool more = true;
    char msg[200];
    for (int round = 0; more; round++) {
        cr_assert_eq(churn_score_index_page(idx, NULL, CHURN_SCORE_BY_PRIORITY, &cur, 100, page, &n,
                                            &more, msg, sizeof(msg)),
                     CHURN_OK, "%s", msg);
        for (size_t i = 0; i < n; i++) {
            int k = (int)strtol(page[i].customer_id + 5, NULL, 10);
            cr_assert_eq(seen[k]++, 0, "%s listed twice", page[i].customer_id);
        }
        total += n;
        /* between pages, customers already listed jump to the top of the order */
        for (size_t i = 0; i < n && i < 10; i++) {
            struct churn_score_index_item it;
            cr_assert(churn_score_index_get(idx, page[i].customer_id, &it));
            it.probability = 1.0;
            it.priority = 1e9 + round;
            it.risk_tier = CHURN_TIER_HIGH;
            cr_assert_eq(churn_score_index_put(idx, &it), CHURN_OK);
        }
    }
    cr_assert(total > N / 2);
    churn_score_index_destroy(idx);
}

Test(score_index, a_cursor_from_before_a_rebuild_or_another_order_is_refused)
{
    struct churn_score_index *idx = filled();
    static struct churn_score_index_item page[10];
    struct churn_score_cursor cur = {0};
    size_t n;
    bool more;
    char msg[200] = "";
    cr_assert_eq(churn_score_index_page(idx, NULL, CHURN_SCORE_BY_PRIORITY, &cur, 10, page, &n,
                                        &more, msg, sizeof(msg)),
                 CHURN_OK);
    cr_assert(more);
    struct churn_score_cursor other = cur;
    cr_assert_eq(churn_score_index_page(idx, NULL, CHURN_SCORE_BY_PROBABILITY, &other, 10, page, &n,
                                        &more, msg, sizeof(msg)),
                 CHURN_EINVAL);
    cr_assert(strstr(msg, "start again"), "%s", msg);
    struct churn_score_cursor future = cur;
    future.snapshot += 1000000;
    cr_assert_eq(churn_score_index_page(idx, NULL, CHURN_SCORE_BY_PRIORITY, &future, 10, page, &n,
                                        &more, msg, sizeof(msg)),
                 CHURN_EINVAL);
    churn_score_index_clear(idx);
    cr_assert_eq(churn_score_index_page(idx, NULL, CHURN_SCORE_BY_PRIORITY, &cur, 10, page, &n,
                                        &more, msg, sizeof(msg)),
                 CHURN_EINVAL);
    struct churn_score_summary s;
    churn_score_index_summary(idx, &s);
    cr_assert_eq(s.total.customers, 0);
    cr_assert_eq(s.epoch, 2);
    churn_score_index_destroy(idx);
}

Test(score_index, bad_items_are_refused_and_change_nothing)
{
    struct churn_score_index *idx;
    cr_assert_eq(churn_score_index_create(&idx), CHURN_OK);
    struct churn_score_index_item it;
    make_item(&it, 1, 3);
    struct churn_score_index_item bad[6];
    for (int i = 0; i < 6; i++)
        bad[i] = it;
    bad[0].risk_tier = CHURN_TIER_UNSPECIFIED;
    bad[1].value_tier = 4;
    bad[2].probability = NAN;
    bad[3].priority = -1;
    bad[4].value = INFINITY;
    bad[5].customer_id[0] = 0;
    for (int i = 0; i < 6; i++)
        cr_assert_eq(churn_score_index_put(idx, &bad[i]), CHURN_EINVAL, "bad item %d", i);
    struct churn_score_summary s;
    churn_score_index_summary(idx, &s);
    cr_assert_eq(s.total.customers, 0);
    cr_assert_eq(churn_score_index_put(idx, &it), CHURN_OK);
    cr_assert(churn_score_index_bytes(idx) > 0);
    churn_score_index_destroy(idx);
}

Test(score_index, changed_marks_are_taken_once_and_cleared_by_a_new_score)
{
    struct churn_score_index *idx = filled();
    cr_assert_eq(churn_score_index_mark_changed(idx, items[1].customer_id), CHURN_OK);
    cr_assert_eq(churn_score_index_mark_changed(idx, items[2].customer_id), CHURN_OK);
    cr_assert_eq(churn_score_index_mark_changed(idx, items[2].customer_id), CHURN_OK);
    cr_assert_eq(churn_score_index_put(idx, &items[1]), CHURN_OK); /* rescored: mark gone */
    char ids[8][CHURN_SCORE_INDEX_ID_MAX];
    bool more = true;
    cr_assert_eq(churn_score_index_take_changed(idx, ids, 8, &more), 1);
    cr_assert_str_eq(ids[0], items[2].customer_id);
    cr_assert_not(more);
    cr_assert_eq(churn_score_index_take_changed(idx, ids, 8, &more), 0);
    /* the same score again moves nothing: the version stays */
    struct churn_score_summary before, after;
    churn_score_index_summary(idx, &before);
    cr_assert_eq(churn_score_index_put(idx, &items[3]), CHURN_OK);
    churn_score_index_summary(idx, &after);
    cr_assert_eq(after.version, before.version);
    struct churn_score_index_item moved = items[3];
    moved.priority += 1;
    cr_assert_eq(churn_score_index_put(idx, &moved), CHURN_OK);
    churn_score_index_summary(idx, &after);
    cr_assert_eq(after.version, before.version + 1);
    churn_score_index_destroy(idx);
}
