/*
 * churn/score_index.h - the in-memory index of every listable customer's current score
 * (issue 12 item 4): ordered by priority and by probability within each risk tier, with
 * running counts and expected revenue at risk per risk tier, per value tier and per
 * (risk tier x value tier) cell, so that listings cost O(page * log N) and the dashboard's
 * KPI strip and risk x value matrix cost O(1). The engine feeds it with every score it
 * computes and removes customers who churned or were erased; readers see a consistent state
 * (one reader-writer lock). Domain types only.
 */
#ifndef CHURN_SCORE_INDEX_H
#define CHURN_SCORE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/alerts.h" /* enum churn_tier */
#include "churn/error.h"
#include "churn/event.h" /* CHURN_NAME_MAX */
#include "churn/segments.h"

#define CHURN_SCORE_INDEX_ID_MAX 129u /* customer id: 128 bytes + NUL */
#define CHURN_SCORE_INDEX_TIERS  4u   /* indexed by enum churn_tier (0 unused) */

struct churn_score_index;

/*
 * struct churn_score_index_item - one customer's indexed score: what a listing needs to
 * order, filter and answer (the full score is in the store beside the record).
 */
struct churn_score_index_item {
    char customer_id[CHURN_SCORE_INDEX_ID_MAX];
    double probability; /* calibrated churn probability, 0..1 */
    double priority;    /* expected revenue at risk (probability x value) */
    double value;       /* the customer's annual value */
    enum churn_tier risk_tier;
    enum churn_tier value_tier;
    char segment[CHURN_NAME_MAX + 1]; /* the customer's segment ("" for none) */
    uint64_t generation;              /* the served model's generation the score came from */
    int64_t scored_at_ms;
};

/* struct churn_score_cell - how many customers, and their summed expected revenue at risk. */
struct churn_score_cell {
    uint64_t customers;
    double revenue_at_risk;
};

/*
 * struct churn_score_summary - the index's aggregates, read in O(1): @cells[r][v] for risk
 * tier r and value tier v (1..3), @by_risk[r], @by_value[v] and @total.
 */
struct churn_score_summary {
    struct churn_score_cell cells[CHURN_SCORE_INDEX_TIERS][CHURN_SCORE_INDEX_TIERS];
    struct churn_score_cell by_risk[CHURN_SCORE_INDEX_TIERS];
    struct churn_score_cell by_value[CHURN_SCORE_INDEX_TIERS];
    struct churn_score_cell total;
    uint64_t epoch;   /* changes when the index is cleared (a rebuild): older cursors are void */
    uint64_t version; /* the number of changes so far */
};

enum churn_score_order {
    CHURN_SCORE_BY_PRIORITY = 0,    /* priority, then probability, descending; then id */
    CHURN_SCORE_BY_PROBABILITY = 1, /* probability, then priority, descending; then id */
};

/*
 * struct churn_score_filter - which customers a page read returns. A mask bit (1 << tier)
 * per tier; 0 means every tier. Segments: @n_segments names (borrowed), 0 for any.
 */
struct churn_score_filter {
    unsigned risk_mask, value_mask;
    double min_probability, min_priority;
    const char *const *segments;
    size_t n_segments;
};

/*
 * struct churn_score_cursor - where a listing stands: zero-initialised for the first page;
 * churn_score_index_page() sets it for the next. @epoch and @snapshot tie it to the index:
 * customers whose score changed after the listing began are skipped on later pages (so a
 * customer never appears twice in one listing), and a cursor from another epoch is refused.
 */
struct churn_score_cursor {
    bool started;
    enum churn_score_order order;
    uint64_t epoch, snapshot;
    double priority, probability; /* the last item returned */
    char customer_id[CHURN_SCORE_INDEX_ID_MAX];
};

/** churn_score_index_create() - an empty index. CHURN_ENOMEM. */
enum churn_err churn_score_index_create(struct churn_score_index **out);

/** churn_score_index_destroy() - free @idx (NULL is fine). */
void churn_score_index_destroy(struct churn_score_index *idx);

/**
 * churn_score_index_put() - insert or replace the score of @it->customer_id (copied) and clear
 * its changed mark. The same numbers, tiers and segment again change nothing (a listing in
 * progress is not disturbed); with the same generation too, the put takes only the read lock
 * and the entry keeps its first scored_at_ms. The tiers must be 1..3 and the numbers finite and not
 * negative (CHURN_EINVAL otherwise, the index unchanged); CHURN_ENOMEM. O(log N).
 */
enum churn_err churn_score_index_put(struct churn_score_index *idx,
                                     const struct churn_score_index_item *it);

/** churn_score_index_remove() - forget @customer_id (churned or erased); whether it was there. */
bool churn_score_index_remove(struct churn_score_index *idx, const char *customer_id);

/**
 * churn_score_index_retier() - the tier cut-offs changed (issue 15): give every entry the
 * risk and value tiers @cuts assign to its probability and value, moving it between the risk
 * orders and the cells, in one pass under the write lock (O(N) plus O(log N) per entry that
 * moves). Moved entries count as changed for listings in progress. Returns how many moved.
 */
size_t churn_score_index_retier(struct churn_score_index *idx, const struct churn_segments *cuts);

/** churn_score_index_get() - the indexed score of @customer_id into @out; false if none. */
bool churn_score_index_get(struct churn_score_index *idx, const char *customer_id,
                           struct churn_score_index_item *out);

/**
 * churn_score_index_clear() - forget everything and start a new epoch (a rebuild): cursors
 * taken before are refused from now on.
 */
void churn_score_index_clear(struct churn_score_index *idx);

/** churn_score_index_summary() - the aggregates, read under the lock in O(1). */
void churn_score_index_summary(struct churn_score_index *idx, struct churn_score_summary *out);

/**
 * churn_score_index_count() - how many indexed customers pass @f (NULL: all): O(1) when @f
 * filters by tiers only (from the cells), else a walk of the tiers it selects.
 */
uint64_t churn_score_index_count(struct churn_score_index *idx, const struct churn_score_filter *f);

/**
 * churn_score_index_page() - up to @limit items passing @f (NULL: all), in @cur's order,
 * after the position @cur holds (a zero cursor: from the top, in order @order), into @out;
 * @cur then points after the last item returned, and *@more says whether any item may
 * follow. CHURN_EINVAL when @cur comes from another epoch or another order (a rebuild
 * happened, or it was altered): its message is in @msg. O(limit * log N) for a tier filter,
 * plus the items skipped by the other filters.
 */
enum churn_err churn_score_index_page(struct churn_score_index *idx,
                                      const struct churn_score_filter *f,
                                      enum churn_score_order order, struct churn_score_cursor *cur,
                                      size_t limit, struct churn_score_index_item *out, size_t *n,
                                      bool *more, char *msg, size_t msglen);

/**
 * churn_score_index_mark_changed() - note that @customer_id's record changed (committed) and
 * its indexed score may be stale until a new score is put; a listing rescores such customers
 * first (read your writes). CHURN_ETOOBIG when too many are marked already (then the caller
 * should not trust the index until they are taken).
 */
enum churn_err churn_score_index_mark_changed(struct churn_score_index *idx,
                                              const char *customer_id);

/**
 * churn_score_index_take_changed() - up to @max customers marked changed (the marks are
 * removed), into @ids; *@more says whether marks remain.
 */
size_t churn_score_index_take_changed(struct churn_score_index *idx,
                                      char (*ids)[CHURN_SCORE_INDEX_ID_MAX], size_t max,
                                      bool *more);

/** churn_score_index_bytes() - the heap bytes the index holds (entries, links, table). */
size_t churn_score_index_bytes(struct churn_score_index *idx);

#endif
