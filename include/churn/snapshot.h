/*
 * churn/snapshot.h - the daily aggregate snapshot: once a day (at the end of the first sweep of
 * a UTC day) churnd records the portfolio's stock figures (customers, scored customers and
 * at-risk counts and expected revenue at risk per risk tier, from every customer's latest
 * materialized score) and its flows since the previous snapshot (alerts raised and closed,
 * chat escalations, realised churn). The dashboard's trends panel and the HTML report read
 * them. They are kept in the store (meta "trend.days", one versioned list ordered by day) for
 * a configurable number of days (--trend-keep-days, default 400).
 *
 * The pure half (record, accumulation, encoding, merging with retention) lives in
 * src/alerts/snapshot.c; the half that walks the store lives in src/engine/snapshot.c.
 */
#ifndef CHURN_SNAPSHOT_H
#define CHURN_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/alerts.h"
#include "churn/segments.h"
#include "churn/error.h"

struct churn_customer;

#define CHURN_SNAPSHOT_KEEP_DAYS_DEFAULT 400
#define CHURN_SNAPSHOT_KEEP_DAYS_MAX     3660
#define CHURN_SNAPSHOT_META              "trend.days"
#define CHURN_DAILY_FORMAT_VERSION       1

/*
 * struct churn_daily_snapshot - one day. Stocks are as of @taken_at_ms; flows count what
 * happened in (@from_ms, @taken_at_ms]: since the previous snapshot, or over the 24 hours
 * before the first one. Arrays indexed by risk tier use enum churn_tier (slot 0 unused).
 */
struct churn_daily_snapshot {
    int32_t day;         /* UTC day number of @taken_at_ms */
    int64_t taken_at_ms; /* when the snapshot was taken */
    int64_t from_ms;     /* start of the flow window (exclusive) */
    /* stocks */
    uint64_t customers;        /* customer records in the store */
    uint64_t lost;             /* of which churned (an explicit churn event, ever) */
    uint64_t scored;           /* customers not lost with a materialized score */
    uint64_t at_risk[4];       /* scored customers per risk tier */
    double revenue_at_risk[4]; /* sum of P(churn) x value per risk tier */
    uint64_t open_alerts;      /* alerts not closed, as of @taken_at_ms */
    /* flows in (from_ms, taken_at_ms] */
    uint64_t alerts_raised; /* new alerts (change RAISED) */
    uint64_t alerts_closed; /* revisions that closed an alert */
    uint64_t escalations;   /* new alerts of a chat cause (escalation or churn intent) */
    uint64_t churned;       /* customers whose explicit churn falls in the window */
    uint64_t alert_seq;     /* the alert log's head when taken: the next window starts after */
};

/** churn_daily_snapshot_start() - a zeroed snapshot of @now_ms's day, window from @from_ms. */
void churn_daily_snapshot_start(struct churn_daily_snapshot *s, int64_t now_ms, int64_t from_ms);

/**
 * churn_daily_snapshot_add_score() - count one customer's latest score (@risk tier,
 * probability @p, customer value @value): scored, at_risk[@risk] and
 * revenue_at_risk[@risk] += churn_priority(@p, @value). An unspecified or unknown tier is
 * ignored (returns false).
 */
bool churn_daily_snapshot_add_score(struct churn_daily_snapshot *s, enum churn_tier risk, double p,
                                    double value);

/**
 * churn_daily_snapshot_add_revision() - count one alert revision with log sequence > the
 * previous snapshot's alert_seq: a RAISED revision inside the window is raised (and an
 * escalation for a chat cause), a CLOSED one inside the window is closed. Revisions whose
 * updated time falls outside the window are not counted.
 */
void churn_daily_snapshot_add_revision(struct churn_daily_snapshot *s, const struct churn_alert *a);

/** churn_daily_snapshot_add_churn() - count a customer whose churn time is @churned_at_ms
 * (0: not churned) when it falls in the window. */
void churn_daily_snapshot_add_churn(struct churn_daily_snapshot *s, int64_t churned_at_ms);

/** churn_daily_snapshot_revenue_at_risk() - the sum over all tiers. */
double churn_daily_snapshot_revenue_at_risk(const struct churn_daily_snapshot *s);

/** churn_daily_snapshot_at_risk() - customers in the MEDIUM and HIGH tiers. */
uint64_t churn_daily_snapshot_at_risk(const struct churn_daily_snapshot *s);

/**
 * churn_daily_list_encode() - @n snapshots (ascending by day, no two on one day) as the
 * stored list into a new heap buffer *@out of *@len bytes (free with churn_free()).
 * CHURN_EINVAL when out of order, CHURN_ENOMEM.
 */
enum churn_err churn_daily_list_encode(const struct churn_daily_snapshot *days, size_t n,
                                       uint8_t **out, size_t *len);

/**
 * churn_daily_list_decode() - parse a stored list into a new heap array *@out of *@n
 * snapshots (free with churn_free(); NULL when empty). CHURN_ECORRUPT for any unknown
 * version, truncation, trailing bytes, days out of order or non-finite numbers; CHURN_ENOMEM.
 * Outputs untouched on error.
 */
enum churn_err churn_daily_list_decode(const uint8_t *data, size_t len,
                                       struct churn_daily_snapshot **out, size_t *n);

/**
 * churn_daily_list_merge() - put @s into the list @days (*@n entries, ascending, heap array
 * of churn_realloc) replacing an entry of the same day, then drop the entries older than
 * @keep_days days before @s->day (the day of @s counts as one). *@days may be reallocated.
 * CHURN_EINVAL for @keep_days of 0 or over CHURN_SNAPSHOT_KEEP_DAYS_MAX; CHURN_ENOMEM.
 */
enum churn_err churn_daily_list_merge(struct churn_daily_snapshot **days, size_t *n,
                                      const struct churn_daily_snapshot *s, unsigned keep_days);

/* ---- in the store (src/engine/snapshot.c) ---- */

struct churn_store;

/**
 * churn_snapshot_list() - the stored snapshots whose day is within [@from_day, @to_day]
 * (INT32_MIN / INT32_MAX for no bound), ascending, as a heap array *@out of *@n (free with
 * churn_free(); NULL when none). Works on a read-only store. CHURN_ECORRUPT when the stored
 * list does not decode; store errors.
 */
enum churn_err churn_snapshot_list(struct churn_store *store, int32_t from_day, int32_t to_day,
                                   struct churn_daily_snapshot **out, size_t *n);

/**
 * churn_snapshot_latest() - the most recent stored snapshot into @out.
 * Return: CHURN_OK; CHURN_ENOTFOUND when none was taken; errors of churn_snapshot_list().
 */
enum churn_err churn_snapshot_latest(struct churn_store *store, struct churn_daily_snapshot *out);

/**
 * churn_snapshot_put() - store @s (replacing a snapshot of the same day) and forget those
 * older than @keep_days days, in one durable meta write.
 */
enum churn_err churn_snapshot_put(struct churn_store *store, const struct churn_daily_snapshot *s,
                                  unsigned keep_days);

/* struct churn_snapshot_state - what one customer's stored alert state tells a snapshot. */
struct churn_snapshot_state {
    bool has_score; /* a materialized score is there: the fields below up to top_feature are set */
    enum churn_tier risk;
    enum churn_tier value_tier;
    double probability;
    double value;
    int top_feature;      /* catalogue index of the largest positive contribution (-1: none) */
    int64_t scored_at_ms; /* when the score was computed */
    unsigned open_alerts; /* causes with an open (not closed) alert */
};

/*
 * typedef churn_snapshot_state_fn - read one customer's stored alert state (@state, @len
 * bytes; the engine owns that format) into @out. False when the bytes do not decode (the
 * customer is then skipped).
 */
typedef bool churn_snapshot_state_fn(const void *state, size_t len,
                                     struct churn_snapshot_state *out);

/**
 * churn_snapshot_read_state() - the churn_snapshot_state_fn of the alert engine's own state
 * format (defined beside it, in src/service/alerting.c): what the daemon, the report and
 * churnctl pass.
 */
bool churn_snapshot_read_state(const void *state, size_t len, struct churn_snapshot_state *out);

/*
 * typedef churn_snapshot_customer_fn - one customer of churn_snapshot_foreach_customer():
 * its record and what its alert state tells (@st NULL: it has none). Both valid only during
 * the call; no transaction is open. Non-zero stops the walk.
 */
typedef int churn_snapshot_customer_fn(const struct churn_customer *rec,
                                       const struct churn_snapshot_state *st, void *user);

/**
 * churn_snapshot_foreach_customer() - every customer in id order with its alert state read
 * through @read_state (one short read per customer; no transaction held across customers).
 * CHURN_ECANCELLED when @fn stopped; store errors.
 */
enum churn_err churn_snapshot_foreach_customer(struct churn_store *store,
                                               churn_snapshot_state_fn *read_state,
                                               churn_snapshot_customer_fn *fn, void *user);

/**
 * churn_snapshot_compute() - compute the snapshot of @now_ms into @out without storing it:
 * alert flows from the revisions after @prev's alert_seq (@prev NULL: the whole log, window
 * the 24 hours before @now_ms); customers, the lost and realised churn by decoding every
 * customer record, and with each one its alert state through @read_state (open alerts, and the
 * latest score of a customer not lost, as ListAtRiskCustomers counts them). No transaction is
 * held between customers. Seconds per million customers: run it off the serving path (the
 * sweep thread).
 */
enum churn_err churn_snapshot_compute(struct churn_store *store, int64_t now_ms,
                                      const struct churn_daily_snapshot *prev,
                                      churn_snapshot_state_fn *read_state,
                                      struct churn_daily_snapshot *out);

/**
 * churn_snapshot_take_daily() - once per UTC day: when the latest stored snapshot is of an
 * earlier day than @now_ms's (or there is none), compute today's and store it with
 * @keep_days retention; *@taken (may be NULL) says whether it did. Errors are the store's.
 */
enum churn_err churn_snapshot_take_daily(struct churn_store *store, int64_t now_ms,
                                         unsigned keep_days, churn_snapshot_state_fn *read_state,
                                         bool *taken);

#endif
