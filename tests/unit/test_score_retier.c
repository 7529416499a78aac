/*
 * test_score_retier.c - new tier cut-offs pushed to the score index (issue 15,
 * churn_score_index_retier): every entry gets the tiers the new cuts give its probability and
 * value; the cells, the per-tier counts and the risk-tier listings equal a recount; entries
 * already right do not move; a listing in progress never returns a customer twice.
 */
#include "churn/score_index.h"
#include "churn/segments.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#define N 2000

static void
item(struct churn_score_index_item *it, int i, const struct churn_segments *cuts)
{
    memset(it, 0, sizeof(*it));
    snprintf(it->customer_id, sizeof(it->customer_id), "c-%05d", i);
    unsigned r = (unsigned)i * 2654435761u;
    it->probability = (r % 1000) / 1000.0;
    it->value = (double)((r >> 10) % 5000);
    it->priority = it->probability * it->value;
    it->risk_tier = churn_segments_risk_tier(cuts, it->probability);
    it->value_tier = churn_segments_value_tier(cuts, it->value);
}

Test(score_retier, every_entry_follows_the_new_cuts)
{
    const struct churn_segments old = {0.6, 0.3, 4000, 2500, 0, 0};
    const struct churn_segments cut = {0.2, 0.1, 1000, 500, 0, 0};
    struct churn_score_index *idx;
    cr_assert_eq(churn_score_index_create(&idx), CHURN_OK);
    static struct churn_score_index_item its[N];
    for (int i = 0; i < N; i++) {
        item(&its[i], i, &old);
        cr_assert_eq(churn_score_index_put(idx, &its[i]), CHURN_OK);
    }
    /* a listing begins under the old tiers */
    struct churn_score_cursor cur = {0};
    struct churn_score_index_item page[N];
    size_t n1, n2;
    bool more;
    char msg[128];
    cr_assert_eq(churn_score_index_page(idx, NULL, CHURN_SCORE_BY_PRIORITY, &cur, 100, page, &n1,
                                        &more, msg, sizeof(msg)),
                 CHURN_OK);
    size_t expect_moved = 0;
    struct churn_score_summary want = {0};
    for (int i = 0; i < N; i++) {
        enum churn_tier r = churn_segments_risk_tier(&cut, its[i].probability);
        enum churn_tier v = churn_segments_value_tier(&cut, its[i].value);
        expect_moved += r != its[i].risk_tier || v != its[i].value_tier;
        want.cells[r][v].customers++;
        want.by_risk[r].customers++;
        want.by_value[v].customers++;
    }
    cr_assert_gt(expect_moved, 0);
    cr_assert_eq(churn_score_index_retier(idx, &cut), expect_moved);
    cr_assert_eq(churn_score_index_retier(idx, &cut), 0, "entries already right moved");
    struct churn_score_summary got;
    churn_score_index_summary(idx, &got);
    for (int r = 1; r <= 3; r++) {
        cr_assert_eq(got.by_risk[r].customers, want.by_risk[r].customers);
        cr_assert_eq(got.by_value[r].customers, want.by_value[r].customers);
        for (int v = 1; v <= 3; v++)
            cr_assert_eq(got.cells[r][v].customers, want.cells[r][v].customers);
        /* a risk-tier listing holds exactly that tier's customers */
        struct churn_score_filter f = {.risk_mask = 1u << r};
        struct churn_score_cursor c = {0};
        size_t n;
        cr_assert_eq(churn_score_index_page(idx, &f, CHURN_SCORE_BY_PROBABILITY, &c, N, page, &n,
                                            &more, msg, sizeof(msg)),
                     CHURN_OK);
        cr_assert_eq(n, want.by_risk[r].customers);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(page[i].risk_tier, (enum churn_tier)r);
            cr_assert_eq(page[i].value_tier, churn_segments_value_tier(&cut, page[i].value));
        }
    }
    /* the listing begun before goes on without repeating anyone */
    struct churn_score_index_item first[100];
    cr_assert_eq(churn_score_index_page(idx, NULL, CHURN_SCORE_BY_PRIORITY, &cur, 100, page, &n1,
                                        &more, msg, sizeof(msg)),
                 CHURN_OK);
    memcpy(first, page, n1 * sizeof(*page));
    cr_assert_eq(churn_score_index_page(idx, NULL, CHURN_SCORE_BY_PRIORITY, &cur, N, page, &n2,
                                        &more, msg, sizeof(msg)),
                 CHURN_OK);
    for (size_t i = 0; i < n1; i++)
        for (size_t j = 0; j < n2; j++)
            cr_assert_str_neq(first[i].customer_id, page[j].customer_id);
    churn_score_index_destroy(idx);
}
