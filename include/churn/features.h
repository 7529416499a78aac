/*
 * churn/features.h - the behavioural features of a customer at a point in time.
 *
 * churn_features_extract() is a pure function of a decoded customer record and an as_of
 * instant: the same code builds training sets and serves scores. It is point-in-time correct
 * at day granularity: a feature at as_of sees only the day buckets of days <= as_of's UTC day
 * and plan changes at or before as_of; lifetime totals are rolled back by the buckets after
 * as_of's day. So for training, use as_of at the end of a UTC day (churn_features_day_end()):
 * then nothing that happened after as_of can change a feature. Windows reach back at most the
 * store's retention horizon (180 days by default), so training as_of values older than
 * "now - horizon + 180 days" see truncated windows.
 *
 * A feature that cannot be computed (no reviews, no orders, never seen) is NaN: models treat
 * it as missing. The catalogue (name, human label, description, unit, window, source) is the
 * one list that GetCustomer, the model's reasons and docs/FEATURES.md are built from.
 */
#ifndef CHURN_FEATURES_H
#define CHURN_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/buf.h"
#include "churn/error.h"
#include "churn/customer.h"

/* Latest as_of accepted: 9999-12-31T23:59:59.999Z. */
#define CHURN_FEATURES_AS_OF_MAX 253402300799999LL

/* Half-life of the chat dissatisfaction decay, in days. */
#define CHURN_FEATURES_CHAT_HALF_LIFE_DAYS 7.0

/*
 * X(ID, name, label, description, unit, window_days, source, monotone) - every feature, in
 * vector order. window_days 0 means "not windowed" (a state or a lifetime figure). monotone is
 * the direction a model may give the feature, other inputs fixed (docs/FEATURES.md gives the
 * reason for each): +1 more of it never lowers the risk, -1 more of it never raises the risk,
 * 0 no law (unconstrained).
 */
#define CHURN_FEATURES(X)                                                                          \
    X(LOGINS_30D, "logins_30d", "Logins in the last 30 days",                                      \
      "Number of logins in the 30 days up to as_of.", "count", 30, "activity", -1)                 \
    X(LOGINS_PREV_30D, "logins_prev_30d", "Logins in the 30 days before",                          \
      "Number of logins in days 31-60 before as_of.", "count", 60, "activity", 0)                  \
    X(LOGIN_DECLINE_30D, "login_decline_30d", "Decline in logins",                                 \
      "(before - last) / max(before, last, 1) for the two 30-day login windows: 1 means all "      \
      "logins stopped, -1 all are new.",                                                           \
      "ratio", 60, "activity", +1)                                                                 \
    X(ACTIVE_DAYS_30D, "active_days_30d", "Active days in the last 30 days",                       \
      "Days with a login, session, order, listing update or review in the last 30 days.", "days",  \
      30, "activity", -1)                                                                          \
    X(ACTIVE_DAYS_90D, "active_days_90d", "Active days in the last 90 days",                       \
      "Days with a login, session, order, listing update or review in the last 90 days.", "days",  \
      90, "activity", -1)                                                                          \
    X(SESSION_MINUTES_30D, "session_minutes_30d", "Session minutes in the last 30 days",           \
      "Total minutes of sessions in the last 30 days.", "minutes", 30, "activity", -1)             \
    X(DAYS_SINCE_LAST_ACTIVITY, "days_since_last_activity", "Days since last activity",            \
      "Whole days from the last active day to as_of's day; NaN if never active.", "days", 0,       \
      "activity", +1)                                                                              \
    X(ORDERS_90D, "orders_90d", "Completed orders in the last 90 days",                            \
      "Completed transactions in the 90 days up to as_of.", "count", 90, "transactions", -1)       \
    X(ORDERS_PREV_90D, "orders_prev_90d", "Completed orders in the 90 days before",                \
      "Completed transactions in days 91-180 before as_of.", "count", 180, "transactions", 0)      \
    X(ORDER_DECLINE_90D, "order_decline_90d", "Decline in completed orders",                       \
      "(before - last) / max(before, last, 1) for the two 90-day order windows.", "ratio", 180,    \
      "transactions", +1)                                                                          \
    X(SPEND_90D, "spend_90d", "Spend in the last 90 days",                                         \
      "Net spend (completed minus refunded amounts) in the last 90 days.", "currency", 90,         \
      "transactions", -1)                                                                          \
    X(AVG_ORDER_VALUE_90D, "avg_order_value_90d", "Average order value",                           \
      "Net spend / completed orders in the last 90 days; NaN without orders.", "currency", 90,     \
      "transactions", 0)                                                                           \
    X(CANCEL_REFUND_RATIO_90D, "cancel_refund_ratio_90d", "Share of orders cancelled or refunded", \
      "(cancelled + refunded) / all orders in the last 90 days; NaN without orders.", "ratio", 90, \
      "transactions", +1)                                                                          \
    X(DAYS_SINCE_LAST_PURCHASE, "days_since_last_purchase", "Days since last purchase",            \
      "Whole days since the last completed order (the R of RFM); NaN if none.", "days", 0,         \
      "transactions", +1)                                                                          \
    X(REVIEWS_90D, "reviews_90d", "Reviews in the last 90 days",                                   \
      "Number of reviews written in the last 90 days.", "count", 90, "reviews", 0)                 \
    X(AVG_RATING_90D, "avg_rating_90d", "Average rating in the last 90 days",                      \
      "Mean review rating (1-5) in the last 90 days; NaN without reviews.", "stars", 90,           \
      "reviews", -1)                                                                               \
    X(NEGATIVE_REVIEW_RATIO_90D, "negative_review_ratio_90d", "Share of negative reviews",         \
      "Negative reviews (rating <= 2 or sentiment <= -0.5) / reviews, last 90 days; NaN "          \
      "without reviews.",                                                                          \
      "ratio", 90, "reviews", +1)                                                                  \
    X(NEGATIVE_REVIEW_RATIO_PREV_90D, "negative_review_ratio_prev_90d",                            \
      "Share of negative reviews before", "The same ratio for days 91-180; NaN without reviews.",  \
      "ratio", 180, "reviews", 0)                                                                  \
    X(NEGATIVE_REVIEW_RISE, "negative_review_rise", "Rise in negative reviews",                    \
      "negative_review_ratio_90d - negative_review_ratio_prev_90d; NaN if either is NaN.",         \
      "ratio", 180, "reviews", +1)                                                                 \
    X(AVG_RATING_LIFETIME, "avg_rating_lifetime", "Average rating overall",                        \
      "Mean rating of every review up to as_of; NaN without reviews.", "stars", 0, "reviews", -1)  \
    X(TICKETS_30D, "tickets_30d", "Support tickets in the last 30 days",                           \
      "Support tickets opened in the last 30 days.", "count", 30, "support", +1)                   \
    X(TICKETS_PREV_30D, "tickets_prev_30d", "Support tickets in the 30 days before",               \
      "Support tickets opened in days 31-60.", "count", 60, "support", 0)                          \
    X(TICKET_GROWTH_30D, "ticket_growth_30d", "Growth in support tickets",                         \
      "(last - before) / max(before, last, 1) for the two 30-day ticket windows.", "ratio", 60,    \
      "support", +1)                                                                               \
    X(OPEN_TICKETS, "open_tickets", "Open support tickets",                                        \
      "Tickets opened and not yet resolved at as_of.", "count", 0, "support", +1)                  \
    X(CHAT_DISSATISFACTION, "chat_dissatisfaction", "Chat dissatisfaction",                        \
      "Highest daily conversation dissatisfaction, halved every 7 days of age; NaN if the "        \
      "customer never chatted within the horizon.",                                                \
      "score 0-1", 0, "chat", +1)                                                                  \
    X(ESCALATIONS_30D, "escalations_30d", "Chat escalations in the last 30 days",                  \
      "Chat turns escalated to a human in the last 30 days.", "count", 30, "chat", +1)             \
    X(ESCALATIONS_90D, "escalations_90d", "Chat escalations in the last 90 days",                  \
      "Chat turns escalated to a human in the last 90 days.", "count", 90, "chat", +1)             \
    X(CHURN_INTENTS_30D, "churn_intents_30d", "Churn-intent mentions in the last 30 days",         \
      "Chat turns in which the customer said they want to leave, last 30 days.", "count", 30,      \
      "chat", +1)                                                                                  \
    X(CHURN_INTENTS_90D, "churn_intents_90d", "Churn-intent mentions in the last 90 days",         \
      "Chat turns in which the customer said they want to leave, last 90 days.", "count", 90,      \
      "chat", +1)                                                                                  \
    X(TENURE_DAYS, "tenure_days", "Tenure",                                                        \
      "Days from signup (or the first event) to as_of; NaN if unknown.", "days", 0, "account", 0)  \
    X(LIFETIME_VALUE, "lifetime_value", "Lifetime value", "Net spend of every order up to as_of.", \
      "currency", 0, "account", -1)                                                                \
    X(LIFETIME_ORDERS, "lifetime_orders", "Lifetime completed orders",                             \
      "Completed orders up to as_of.", "count", 0, "account", -1)                                  \
    X(RFM_FREQUENCY, "rfm_frequency", "Order frequency",                                           \
      "Completed orders per 30 days of tenure (the F of RFM); NaN if tenure is unknown.",          \
      "orders/30d", 0, "account", -1)                                                              \
    X(RFM_MONETARY, "rfm_monetary", "Monthly spend",                                               \
      "Net spend per 30 days of tenure (the M of RFM); NaN if tenure is unknown.", "currency/30d", \
      0, "account", -1)                                                                            \
    X(PLAN_MONTHLY_VALUE, "plan_monthly_value", "Plan value",                                      \
      "Monthly value of the plan at as_of (plan changes included); NaN if unknown.",               \
      "currency/month", 0, "account", 0)                                                           \
    X(PLAN_DOWNGRADES_90D, "plan_downgrades_90d", "Plan downgrades in the last 90 days",           \
      "Downgrades and cancellations of the plan in the last 90 days.", "count", 90, "account", +1) \
    X(ACTIVE_LISTINGS, "active_listings", "Active listings",                                       \
      "Live listings of a marketplace seller at as_of; NaN if never reported.", "count", 0,        \
      "listings", 0)                                                                               \
    X(LISTINGS_CHANGE_30D, "listings_change_30d", "Change in active listings",                     \
      "(now - 30 days ago) / max(now, 30 days ago, 1) of active listings; NaN if unknown.",        \
      "ratio", 30, "listings", 0)                                                                  \
    X(LOGINS_7D, "logins_7d", "Logins in the last 7 days",                                         \
      "Number of logins in the 7 days up to as_of.", "count", 7, "activity", -1)                   \
    X(ACTIVE_DAYS_7D, "active_days_7d", "Active days in the last 7 days",                          \
      "Days with a login, session, order, listing update or review in the last 7 days.", "days",   \
      7, "activity", -1)                                                                           \
    X(TICKETS_90D, "tickets_90d", "Support tickets in the last 90 days",                           \
      "Support tickets opened in the last 90 days.", "count", 90, "support", 1)                    \
    X(LOGINS_90D, "logins_90d", "Logins in the last 90 days",                                      \
      "Number of logins in the 90 days up to as_of.", "count", 90, "activity", -1)                 \
    X(AVG_SESSION_MINUTES_30D, "avg_session_minutes_30d", "Average session length",                \
      "Session minutes / sessions in the last 30 days; NaN without sessions.", "minutes", 30,      \
      "activity", -1)                                                                              \
    X(AVG_SESSION_MINUTES_7D, "avg_session_minutes_7d", "Average session length last week",        \
      "Session minutes / sessions in the last 7 days; NaN without sessions.", "minutes", 7,        \
      "activity", -1)                                                                              \
    X(ORDERS_30D, "orders_30d", "Completed orders in the last 30 days",                            \
      "Completed transactions in the 30 days up to as_of.", "count", 30, "transactions", -1)       \
    X(SPEND_30D, "spend_30d", "Spend in the last 30 days",                                         \
      "Net spend (completed minus refunded amounts) in the last 30 days.", "currency", 30,         \
      "transactions", -1)                                                                          \
    X(CANCELLED_REFUNDED_90D, "cancelled_refunded_90d", "Orders cancelled or refunded",            \
      "Cancelled plus refunded orders in the last 90 days.", "count", 90, "transactions", 1)       \
    X(NEGATIVE_REVIEWS_90D, "negative_reviews_90d", "Negative reviews in the last 90 days",        \
      "Negative reviews (rating <= 2 or sentiment <= -0.5) in the last 90 days.", "count", 90,     \
      "reviews", 1)                                                                                \
    X(CHAT_DAYS_30D, "chat_days_30d", "Days with a support chat in the last 30 days",              \
      "Days on which the customer chatted with support in the last 30 days.", "days", 30, "chat",  \
      1)                                                                                           \
    X(CHAT_DAYS_90D, "chat_days_90d", "Days with a support chat in the last 90 days",              \
      "Days on which the customer chatted with support in the last 90 days.", "days", 90, "chat",  \
      1)                                                                                           \
    X(LOGINS_61_90D, "logins_61_90d", "Logins two to three months ago",                            \
      "Number of logins in days 61-90 before as_of.", "count", 90, "activity", 0)                  \
    X(ACTIVE_DAYS_14D, "active_days_14d", "Active days in the last 14 days",                       \
      "Days with a login, session, order, listing update or review in the last 14 days.", "days",  \
      14, "activity", -1)                                                                          \
    X(SESSION_MINUTES_90D, "session_minutes_90d", "Session minutes in the last 90 days",           \
      "Total minutes of sessions in the last 90 days.", "minutes", 90, "activity", -1)             \
    X(MIN_RATING_90D, "min_rating_90d", "Lowest rating in the last 90 days",                       \
      "Lowest daily average review rating (1-5) in the last 90 days; NaN without reviews.",        \
      "stars", 90, "reviews", -1)                                                                  \
    X(CHAT_MAX_DISSATISFACTION_30D, "chat_max_dissatisfaction_30d",                                \
      "Highest chat dissatisfaction in the last 30 days",                                          \
      "Highest daily conversation dissatisfaction in the last 30 days, not decayed; NaN without "  \
      "chats.",                                                                                    \
      "score 0-1", 30, "chat", 1)

enum churn_feature {
#define CHURN__FEAT_ENUM(id, name, label, desc, unit, window, source, monotone) CHURN_FEAT_##id,
    CHURN_FEATURES(CHURN__FEAT_ENUM)
#undef CHURN__FEAT_ENUM
        CHURN_FEAT__COUNT
};

/* struct churn_feature_info - one catalogue row; all strings are static. */
struct churn_feature_info {
    const char *name;        /* stable snake_case identifier (model files use it) */
    const char *label;       /* short human text, for reasons ("Decline in logins") */
    const char *description; /* how it is computed */
    const char *unit;
    int window_days; /* how far back it looks (0: state or lifetime) */
    const char *source;
    int monotone; /* +1 more never lowers the risk, -1 more never raises it, 0 unconstrained */
};

/* struct churn_feature_vector - the features of one customer at one instant. */
struct churn_feature_vector {
    int64_t as_of_ms;
    /* Freshness: the newest event at or before as_of (0: none). Exact when the record's last
     * event is at or before as_of, else the end of the newest day bucket <= as_of (capped at
     * as_of). Metadata, not a feature: day-granular, unlike the values. */
    int64_t data_as_of_ms;
    double values[CHURN_FEAT__COUNT];
};

/** churn_features_catalogue() - the @CHURN_FEAT__COUNT rows, in vector order; static. */
const struct churn_feature_info *churn_features_catalogue(void);

/** churn_features_find() - the feature called @name, or -1. */
int churn_features_find(const char *name);

/**
 * churn_features_monotone() - the declared monotone direction of the model input called
 * @name: the catalogue's +1 or -1 for a feature with a direction, 0 for an unconstrained
 * feature, an attribute ("attr.<name>", "segment", ...), an unknown name or NULL.
 */
int churn_features_monotone(const char *name);

/**
 * churn_features_extract() - compute every feature of @rec at @as_of_ms into @out.
 * Pure: no allocation, no I/O, no clock. Return: CHURN_OK; CHURN_EINVAL when @as_of_ms is not
 * in 1..CHURN_FEATURES_AS_OF_MAX (@out untouched).
 */
enum churn_err churn_features_extract(const struct churn_customer *rec, int64_t as_of_ms,
                                      struct churn_feature_vector *out);

/**
 * churn_features_extract_observed() - churn_features_extract() for a record whose day buckets
 * observe the customer's history only from @history_from_ms on (the store's data start or
 * retention limit: churn_store_history_from_ms()); 0 means "from the customer's first day".
 *
 * The observed history starts at the later of @history_from_ms's UTC day and the customer's
 * first day (signup, else first event); buckets before it are ignored. A windowed count whose
 * window reaches before that start is scaled to the window's width when at least a third of
 * the window was observed (a customer seen for 15 of 30 days with 4 logins has 8), and is
 * NaN (missing) when less was: days nobody observed are never counted as zero activity.
 * Ratios within one window are not scaled. Training sets, backtests and served scores call
 * this with the same @history_from_ms rule, so the model sees one distribution.
 * Return: as churn_features_extract(); CHURN_EINVAL also for a negative @history_from_ms.
 */
enum churn_err churn_features_extract_observed(const struct churn_customer *rec, int64_t as_of_ms,
                                               int64_t history_from_ms,
                                               struct churn_feature_vector *out);

/**
 * churn_features_value() - a value by name: a catalogue feature from @vec, or an imported
 * numeric attribute of @rec spelled "attr.<name>" (current value, not point-in-time).
 * Return: CHURN_OK and *@out; CHURN_ENOTFOUND for an unknown name (*@out untouched). A known
 * attribute that the customer lacks gives NaN.
 */
enum churn_err churn_features_value(const struct churn_customer *rec,
                                    const struct churn_feature_vector *vec, const char *name,
                                    double *out);

/**
 * churn_features_category() - a categorical input by name: "segment", "plan", "country" or
 * "attr.<name>" for an imported categorical attribute. Return: the value (borrowed from @rec,
 * valid as long as @rec), "" when unknown, or NULL for a name that is none of these.
 */
const char *churn_features_category(const struct churn_customer *rec, const char *name);

/**
 * churn_features_label() - the training label of @rec for a prediction made at @as_of_ms:
 * did the customer churn within the next @horizon_days?
 * @inactivity_days: 0 to count explicit churn events only; N > 0 to also count a customer
 *                   who was active before as_of and had no active day in the last N days of
 *                   the window (platforms without subscriptions).
 * @observed_until_ms: how far the data reaches (the export time): a window not yet over is
 *                     unknown.
 *
 * Return: 1 churned in (as_of, as_of + horizon]; 0 did not; -1 no label: not a customer yet
 * at as_of, already churned at or before as_of, the window is not over, or bad arguments.
 * Pure. Point-in-time: looks only at what happened up to the window's end.
 */
int churn_features_label(const struct churn_customer *rec, int64_t as_of_ms, int horizon_days,
                         int inactivity_days, int64_t observed_until_ms);

/**
 * churn_features_csv_header() - append the header line of a training CSV to @out:
 * customer_id, as_of_ms, segment, plan, country, every catalogue feature, churned.
 * Return: CHURN_OK or CHURN_ETOOBIG past @out's cap.
 */
enum churn_err churn_features_csv_header(struct churn_buf *out);

/**
 * churn_features_csv_row() - append one CSV line for @rec with the features @vec and @label
 * (0 or 1) to @out. Text fields are quoted (RFC 4180); a NaN feature is an empty field (a
 * missing value for the trainer). Return: CHURN_OK; CHURN_EINVAL for a label other than 0/1;
 * CHURN_ETOOBIG past @out's cap (@out keeps what it had before the call).
 */
enum churn_err churn_features_csv_row(const struct churn_customer *rec,
                                      const struct churn_feature_vector *vec, int label,
                                      struct churn_buf *out);

/**
 * churn_features_plan_at() - the name of the customer's plan at @as_of_ms: the plan set by
 * the latest plan change at or before as_of, else the plan before the first remembered change
 * ("" when unknown). Borrowed from @rec, valid as long as @rec.
 */
const char *churn_features_plan_at(const struct churn_customer *rec, int64_t as_of_ms);

/** churn_features_day_end() - the last millisecond of the UTC day containing @ms. */
int64_t churn_features_day_end(int64_t ms);

/* enum churn_source - the sources of a customer's events whose freshness is reported. */
enum churn_source {
    CHURN_SOURCE_ACTIVITY, /* logins and sessions */
    CHURN_SOURCE_ORDERS,
    CHURN_SOURCE_SUPPORT, /* tickets */
    CHURN_SOURCE_REVIEWS,
    CHURN_SOURCE_CHAT,
    CHURN_SOURCE_LISTINGS,
    CHURN_SOURCE_COUNT,
};

/* A source that reported once and then stayed silent longer than this is stale. */
#define CHURN_SOURCE_STALE_AFTER_MS (30LL * CHURN_MS_PER_DAY)

/* struct churn_freshness - how recent a customer's inputs are, as of some instant. */
struct churn_freshness {
    int64_t last_event_ms;          /* the newest event at or before as_of (0: none) */
    int64_t at[CHURN_SOURCE_COUNT]; /* each source's last reported day (its end, never later
                                       than as_of or the newest event); 0: never */
    bool stale[CHURN_SOURCE_COUNT]; /* reported once, silent for over the stale limit */
    unsigned n_stale;
};

/**
 * churn_features_freshness() - when each source of @rec last reported, as of @as_of_ms (days
 * after it are ignored), and which are stale: a source silent for longer than
 * CHURN_SOURCE_STALE_AFTER_MS is reported as stale, never counted as healthy.
 * @out: OUT.
 */
void churn_features_freshness(const struct churn_customer *rec, int64_t as_of_ms,
                              struct churn_freshness *out);

/** churn_features_source_name() - "activity", "orders", "support", "reviews", "chat", "listings".
 */
const char *churn_features_source_name(enum churn_source s);

/**
 * churn_features_source_stale() - whether source @s of @f is stale at @as_of_ms: it reported
 * once and then stayed silent for more than CHURN_SOURCE_STALE_AFTER_MS (never "healthy").
 */
bool churn_features_source_stale(const struct churn_freshness *f, enum churn_source s,
                                 int64_t as_of_ms);

#endif
