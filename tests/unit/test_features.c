/*
 * test_features.c - the features suite: the catalogue, every feature family computed from
 * records built by the real store from events (activity, transactions, reviews, support, chat,
 * tenure/value/RFM, plan, listings), missing values as NaN, point-in-time correctness (events
 * after as_of never change a feature at as_of), lookups by name and bad input.
 */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#define _DEFAULT_SOURCE
#include "churn/features.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "churn/clock.h"
#include "churn/store.h"

#include "tmpdir.h"

#define DAY   CHURN_MS_PER_DAY
#define NOW   (20010 * DAY + DAY / 2)
#define AS_OF churn_features_day_end(NOW)

static char dir[64];
static struct churn_store *st;
static struct churn_customer rec;
static struct churn_feature_vector fv;
static int next_id;

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/churn-features-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(churn_store_open(dir, NULL, &st), CHURN_OK, "%s", churn_store_last_error());
    next_id = 0;
}

static void
teardown(void)
{
    churn_store_close(st);
    churn_test_rm_rf(dir);
}

/* Apply one event to customer "c" (ids are generated), asserting it was accepted. */
static void
apply(struct churn_event e, int64_t now)
{
    static char ids[4096][16];
    struct churn_event_result res;
    cr_assert_lt(next_id, 4096);
    snprintf(ids[next_id], sizeof(ids[next_id]), "ev%d", next_id);
    e.event_id = ids[next_id++];
    if (!e.customer_id)
        e.customer_id = "c";
    cr_assert_eq(churn_store_apply_events(st, &e, 1, now, &res), CHURN_OK);
    cr_assert_eq(res.status, CHURN_EVENT_ACCEPTED, "%s", res.reason);
}

static void
logins(int days_ago, int n)
{
    for (int i = 0; i < n; i++)
        apply(
            (struct churn_event){.kind = CHURN_EVENT_LOGIN, .occurred_at_ms = NOW - days_ago * DAY},
            NOW);
}

static void
order_at(int days_ago, double amount, enum churn_order_status s)
{
    struct churn_event e = {.kind = CHURN_EVENT_ORDER, .occurred_at_ms = NOW - days_ago * DAY};
    e.order.amount = amount;
    e.order.status = s;
    apply(e, NOW);
}

static void
review_at(int days_ago, int rating)
{
    struct churn_event e = {.kind = CHURN_EVENT_REVIEW, .occurred_at_ms = NOW - days_ago * DAY};
    e.review.rating = rating;
    e.review.sentiment = NAN;
    apply(e, NOW);
}

static void
ticket_at(int days_ago, enum churn_ticket_action a)
{
    struct churn_event e = {.kind = CHURN_EVENT_TICKET, .occurred_at_ms = NOW - days_ago * DAY};
    e.ticket.action = a;
    apply(e, NOW);
}

static double
feat(enum churn_feature f)
{
    return fv.values[f];
}

/* Make customer "c" a customer since @days_ago, so every window of the test is observed. */
static void
customer_since(int days_ago)
{
    struct churn_customer_attrs a;
    churn_customer_attrs_init(&a);
    a.signup_ms = NOW - (int64_t)days_ago * DAY;
    struct churn_customer_upsert u = {"c", &a};
    cr_assert_eq(churn_store_upsert_customers(st, &u, 1), CHURN_OK);
}

static void
extract(int64_t as_of)
{
    cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_OK);
    cr_assert_eq(churn_features_extract(&rec, as_of, &fv), CHURN_OK);
}

Test(features, catalogue_is_complete_and_unique)
{
    const struct churn_feature_info *cat = churn_features_catalogue();
    for (int i = 0; i < CHURN_FEAT__COUNT; i++) {
        cr_assert(cat[i].name && *cat[i].name, "feature %d has no name", i);
        cr_assert(cat[i].label && *cat[i].label && cat[i].description && *cat[i].description, "%s",
                  cat[i].name);
        cr_assert(cat[i].unit && *cat[i].unit && cat[i].source && *cat[i].source);
        cr_assert(cat[i].window_days >= 0 && cat[i].window_days <= CHURN_HORIZON_DAYS_DEFAULT);
        cr_assert_eq(churn_features_find(cat[i].name), i, "%s", cat[i].name);
        for (const char *p = cat[i].name; *p; p++)
            cr_assert((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_',
                      "%s is not snake_case", cat[i].name);
    }
    cr_assert_eq(churn_features_find("no_such_feature"), -1);
    cr_assert_eq(churn_features_find(NULL), -1);
    cr_assert_geq(CHURN_FEAT__COUNT, 35);
}

Test(features, a_customer_without_history_is_missing_not_healthy, .init = setup, .fini = teardown)
{
    struct churn_customer_attrs a;
    churn_customer_attrs_init(&a);
    struct churn_customer_upsert u = {"c", &a};
    cr_assert_eq(churn_store_upsert_customers(st, &u, 1), CHURN_OK);
    extract(AS_OF);
    cr_assert(isnan(feat(CHURN_FEAT_DAYS_SINCE_LAST_ACTIVITY)));
    cr_assert(isnan(feat(CHURN_FEAT_DAYS_SINCE_LAST_PURCHASE)));
    cr_assert(isnan(feat(CHURN_FEAT_AVG_RATING_90D)));
    cr_assert(isnan(feat(CHURN_FEAT_AVG_ORDER_VALUE_90D)));
    cr_assert(isnan(feat(CHURN_FEAT_NEGATIVE_REVIEW_RISE)));
    cr_assert(isnan(feat(CHURN_FEAT_CHAT_DISSATISFACTION)));
    cr_assert(isnan(feat(CHURN_FEAT_TENURE_DAYS)));
    cr_assert(isnan(feat(CHURN_FEAT_PLAN_MONTHLY_VALUE)));
    cr_assert(isnan(feat(CHURN_FEAT_ACTIVE_LISTINGS)));
    cr_assert_eq(feat(CHURN_FEAT_LOGINS_30D), 0);
    cr_assert_eq(feat(CHURN_FEAT_LOGIN_DECLINE_30D), 0);
    cr_assert_eq(fv.data_as_of_ms, 0);
    cr_assert_eq(fv.as_of_ms, AS_OF);
}

Test(features, login_decline_and_activity, .init = setup, .fini = teardown)
{
    customer_since(400);
    logins(40, 6); /* previous window: 10 logins on 2 days */
    logins(55, 4);
    logins(3, 2); /* last window: 2 logins on 1 day */
    struct churn_event s = {.kind = CHURN_EVENT_SESSION, .occurred_at_ms = NOW - 3 * DAY};
    s.session.minutes = 25;
    apply(s, NOW);
    extract(AS_OF);
    cr_assert_eq(feat(CHURN_FEAT_LOGINS_30D), 2);
    cr_assert_eq(feat(CHURN_FEAT_LOGINS_PREV_30D), 10);
    cr_assert_float_eq(feat(CHURN_FEAT_LOGIN_DECLINE_30D), 0.8, 1e-12);
    cr_assert_eq(feat(CHURN_FEAT_ACTIVE_DAYS_30D), 1);
    cr_assert_eq(feat(CHURN_FEAT_ACTIVE_DAYS_90D), 3);
    cr_assert_float_eq(feat(CHURN_FEAT_SESSION_MINUTES_30D), 25, 1e-6);
    cr_assert_eq(feat(CHURN_FEAT_DAYS_SINCE_LAST_ACTIVITY), 3);
    cr_assert_eq(fv.data_as_of_ms, NOW - 3 * DAY);
    /* The window boundary: day 29 is in the last 30 days, day 30 in the 30 before. */
    logins(29, 1);
    logins(30, 1);
    extract(AS_OF);
    cr_assert_eq(feat(CHURN_FEAT_LOGINS_30D), 3);
    cr_assert_eq(feat(CHURN_FEAT_LOGINS_PREV_30D), 11);
    /* Growth is a negative decline, bounded at -1. */
    logins(1, 50);
    extract(AS_OF);
    cr_assert_lt(feat(CHURN_FEAT_LOGIN_DECLINE_30D), 0);
    cr_assert_geq(feat(CHURN_FEAT_LOGIN_DECLINE_30D), -1);
}

Test(features, transactions, .init = setup, .fini = teardown)
{
    customer_since(400);
    order_at(120, 100, CHURN_ORDER_COMPLETED); /* previous 90 days: 4 orders */
    order_at(100, 100, CHURN_ORDER_COMPLETED);
    order_at(95, 100, CHURN_ORDER_COMPLETED);
    order_at(91, 100, CHURN_ORDER_COMPLETED);
    order_at(10, 30, CHURN_ORDER_COMPLETED); /* last 90 days: 1 order, 1 cancelled, 1 refund */
    order_at(8, 50, CHURN_ORDER_CANCELLED);
    order_at(5, 10, CHURN_ORDER_REFUNDED);
    extract(AS_OF);
    cr_assert_eq(feat(CHURN_FEAT_ORDERS_90D), 1);
    cr_assert_eq(feat(CHURN_FEAT_ORDERS_PREV_90D), 4);
    cr_assert_float_eq(feat(CHURN_FEAT_ORDER_DECLINE_90D), 0.75, 1e-12);
    cr_assert_float_eq(feat(CHURN_FEAT_SPEND_90D), 20, 1e-9);
    cr_assert_float_eq(feat(CHURN_FEAT_AVG_ORDER_VALUE_90D), 20, 1e-9);
    cr_assert_float_eq(feat(CHURN_FEAT_CANCEL_REFUND_RATIO_90D), 2.0 / 3.0, 1e-12);
    cr_assert_eq(feat(CHURN_FEAT_DAYS_SINCE_LAST_PURCHASE), 10);
    cr_assert_float_eq(feat(CHURN_FEAT_LIFETIME_VALUE), 420, 1e-9);
    cr_assert_eq(feat(CHURN_FEAT_LIFETIME_ORDERS), 5);
}

Test(features, purchases_before_the_horizon_still_count_for_recency, .init = setup,
     .fini = teardown)
{
    order_at(300, 80, CHURN_ORDER_COMPLETED); /* lifetime only */
    extract(AS_OF);
    cr_assert_eq(feat(CHURN_FEAT_ORDERS_90D) + feat(CHURN_FEAT_ORDERS_PREV_90D), 0);
    cr_assert_eq(feat(CHURN_FEAT_DAYS_SINCE_LAST_PURCHASE), 300);
    cr_assert_eq(feat(CHURN_FEAT_DAYS_SINCE_LAST_ACTIVITY), 300);
    cr_assert_float_eq(feat(CHURN_FEAT_LIFETIME_VALUE), 80, 1e-9);
    /* First seen at noon 300 days before as_of's day ends: 300.5 days of tenure. */
    cr_assert_float_eq(feat(CHURN_FEAT_TENURE_DAYS), 300.5, 1e-6);
    cr_assert_float_eq(feat(CHURN_FEAT_RFM_FREQUENCY), 30 / 300.5, 1e-9);
    cr_assert_float_eq(feat(CHURN_FEAT_RFM_MONETARY), 80 * 30 / 300.5, 1e-9);
}

Test(features, negative_review_rise, .init = setup, .fini = teardown)
{
    review_at(150, 5); /* before: 1 negative of 4 */
    review_at(140, 4);
    review_at(130, 1);
    review_at(100, 5);
    review_at(20, 1); /* now: 2 negative of 3 */
    review_at(10, 2);
    review_at(5, 4);
    struct churn_event e = {.kind = CHURN_EVENT_REVIEW, .occurred_at_ms = NOW - 2 * DAY};
    e.review.rating = 3;
    e.review.sentiment = -0.9; /* a three-star review with a furious text is negative */
    apply(e, NOW);
    extract(AS_OF);
    cr_assert_eq(feat(CHURN_FEAT_REVIEWS_90D), 4);
    cr_assert_float_eq(feat(CHURN_FEAT_AVG_RATING_90D), 10.0 / 4.0, 1e-12);
    cr_assert_float_eq(feat(CHURN_FEAT_NEGATIVE_REVIEW_RATIO_90D), 0.75, 1e-12);
    cr_assert_float_eq(feat(CHURN_FEAT_NEGATIVE_REVIEW_RATIO_PREV_90D), 0.25, 1e-12);
    cr_assert_float_eq(feat(CHURN_FEAT_NEGATIVE_REVIEW_RISE), 0.5, 1e-12);
    cr_assert_float_eq(feat(CHURN_FEAT_AVG_RATING_LIFETIME), 25.0 / 8.0, 1e-12);
}

Test(features, support_tickets, .init = setup, .fini = teardown)
{
    customer_since(400);
    ticket_at(45, CHURN_TICKET_OPENED);
    ticket_at(44, CHURN_TICKET_RESOLVED);
    for (int i = 0; i < 4; i++)
        ticket_at(10 - i, CHURN_TICKET_OPENED);
    ticket_at(2, CHURN_TICKET_RESOLVED);
    extract(AS_OF);
    cr_assert_eq(feat(CHURN_FEAT_TICKETS_30D), 4);
    cr_assert_eq(feat(CHURN_FEAT_TICKETS_PREV_30D), 1);
    cr_assert_float_eq(feat(CHURN_FEAT_TICKET_GROWTH_30D), 0.75, 1e-12);
    cr_assert_eq(feat(CHURN_FEAT_OPEN_TICKETS), 3);
    /* Tickets alone are not activity. */
    cr_assert(isnan(feat(CHURN_FEAT_DAYS_SINCE_LAST_ACTIVITY)));
}

/* Freshness: each source's last reported day, as of an instant; a quiet source is stale. */
Test(features, freshness_per_source_and_stale_sources, .init = setup, .fini = teardown)
{
    customer_since(400);
    logins(2, 1);
    order_at(45, 10, CHURN_ORDER_COMPLETED);
    ticket_at(40, CHURN_TICKET_OPENED);
    cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_OK);
    struct churn_freshness f;
    churn_features_freshness(&rec, AS_OF, &f);
    cr_assert_eq(f.last_event_ms, NOW - 2 * DAY);
    cr_assert_eq(f.at[CHURN_SOURCE_ACTIVITY], NOW - 2 * DAY, "never later than the newest event");
    cr_assert_eq(f.at[CHURN_SOURCE_ORDERS], churn_day_end_ms(churn_day_of_ms(NOW - 45 * DAY)));
    cr_assert_eq(f.at[CHURN_SOURCE_SUPPORT], churn_day_end_ms(churn_day_of_ms(NOW - 40 * DAY)));
    cr_assert_eq(f.at[CHURN_SOURCE_REVIEWS], 0);
    cr_assert_eq(f.at[CHURN_SOURCE_CHAT], 0);
    cr_assert(!f.stale[CHURN_SOURCE_ACTIVITY] && !f.stale[CHURN_SOURCE_REVIEWS]);
    cr_assert(f.stale[CHURN_SOURCE_ORDERS] && f.stale[CHURN_SOURCE_SUPPORT]);
    cr_assert_eq(f.n_stale, 2);
    /* As of 41 days ago: the later days are ignored, and nothing is stale yet. */
    churn_features_freshness(&rec, NOW - 41 * DAY, &f);
    cr_assert_eq(f.at[CHURN_SOURCE_ACTIVITY], 0);
    cr_assert_eq(f.at[CHURN_SOURCE_SUPPORT], 0);
    cr_assert_eq(f.last_event_ms, NOW - 41 * DAY);
    cr_assert_eq(f.n_stale, 0);
}

Test(features, chat_signals_decay, .init = setup, .fini = teardown)
{
    customer_since(400);
    struct churn_event e = {.kind = CHURN_EVENT_CHAT, .occurred_at_ms = NOW - 7 * DAY};
    e.chat.dissatisfaction = 0.8;
    e.chat.escalated = true;
    apply(e, NOW);
    e.occurred_at_ms = NOW - 40 * DAY;
    e.chat.dissatisfaction = 0.3;
    e.chat.churn_intent = true;
    apply(e, NOW);
    extract(AS_OF);
    cr_assert_float_eq(feat(CHURN_FEAT_CHAT_DISSATISFACTION), 0.4, 1e-6);
    cr_assert_eq(feat(CHURN_FEAT_ESCALATIONS_30D), 1);
    cr_assert_eq(feat(CHURN_FEAT_ESCALATIONS_90D), 2);
    cr_assert_eq(feat(CHURN_FEAT_CHURN_INTENTS_30D), 0);
    cr_assert_eq(feat(CHURN_FEAT_CHURN_INTENTS_90D), 1);
    /* Two weeks later the same chat weighs a quarter as much. */
    extract(AS_OF + 7 * DAY);
    cr_assert_float_eq(feat(CHURN_FEAT_CHAT_DISSATISFACTION), 0.2, 1e-6);
}

Test(features, plan_tenure_and_listings, .init = setup, .fini = teardown)
{
    struct churn_customer_attrs a;
    churn_customer_attrs_init(&a);
    a.signup_ms = NOW - 365 * DAY;
    a.monthly_value = 99;
    cr_assert_eq(churn_customer_attrs_set_num(&a, "seats", 12), CHURN_OK);
    cr_assert_eq(churn_customer_attrs_set_cat(&a, "industry", "retail"), CHURN_OK);
    snprintf(a.segment, sizeof(a.segment), "smb");
    snprintf(a.plan, sizeof(a.plan), "pro");
    struct churn_customer_upsert u = {"c", &a};
    cr_assert_eq(churn_store_upsert_customers(st, &u, 1), CHURN_OK);
    extract(AS_OF);
    cr_assert_float_eq(feat(CHURN_FEAT_PLAN_MONTHLY_VALUE), 99, 1e-9);
    cr_assert_str_eq(churn_features_plan_at(&rec, AS_OF), "pro");
    cr_assert_float_eq(feat(CHURN_FEAT_TENURE_DAYS), 365 + 0.5, 1e-6);

    struct churn_event p = {.kind = CHURN_EVENT_PLAN_CHANGE, .occurred_at_ms = NOW - 20 * DAY};
    p.plan.action = CHURN_PLAN_DOWNGRADE;
    p.plan.monthly_value = 29;
    p.plan.plan = "lite";
    apply(p, NOW);
    struct churn_event l = {.kind = CHURN_EVENT_LISTING, .occurred_at_ms = NOW - 60 * DAY};
    l.listing.active_listings = 100;
    apply(l, NOW);
    l.occurred_at_ms = NOW - DAY;
    l.listing.active_listings = 25;
    apply(l, NOW);
    extract(AS_OF);
    cr_assert_float_eq(feat(CHURN_FEAT_PLAN_MONTHLY_VALUE), 29, 1e-9);
    cr_assert_eq(feat(CHURN_FEAT_PLAN_DOWNGRADES_90D), 1);
    cr_assert_eq(feat(CHURN_FEAT_ACTIVE_LISTINGS), 25);
    cr_assert_float_eq(feat(CHURN_FEAT_LISTINGS_CHANGE_30D), -0.75, 1e-12);
    cr_assert_str_eq(churn_features_plan_at(&rec, AS_OF), "lite");
    /* Before the downgrade the plan was the imported one, at its imported value. */
    extract(churn_features_day_end(NOW - 30 * DAY));
    cr_assert_float_eq(feat(CHURN_FEAT_PLAN_MONTHLY_VALUE), 99, 1e-9);
    cr_assert_str_eq(churn_features_plan_at(&rec, fv.as_of_ms), "pro");
    cr_assert_eq(feat(CHURN_FEAT_PLAN_DOWNGRADES_90D), 0);
    cr_assert_eq(feat(CHURN_FEAT_ACTIVE_LISTINGS), 100);

    double v;
    cr_assert_eq(churn_features_value(&rec, &fv, "attr.seats", &v), CHURN_OK);
    cr_assert_float_eq(v, 12, 1e-12);
    cr_assert_eq(churn_features_value(&rec, &fv, "attr.unknown", &v), CHURN_OK);
    cr_assert(isnan(v));
    cr_assert_eq(churn_features_value(&rec, &fv, "tenure_days", &v), CHURN_OK);
    cr_assert_eq(churn_features_value(&rec, &fv, "bogus", &v), CHURN_ENOTFOUND);
    cr_assert_eq(churn_features_value(&rec, &fv, "attr.", &v), CHURN_ENOTFOUND);
    cr_assert_str_eq(churn_features_category(&rec, "segment"), "smb");
    cr_assert_str_eq(churn_features_category(&rec, "attr.industry"), "retail");
    cr_assert_str_eq(churn_features_category(&rec, "attr.nothing"), "");
    cr_assert_null(churn_features_category(&rec, "bogus"));
}

static bool
same_vector(const struct churn_feature_vector *a, const struct churn_feature_vector *b, int *which)
{
    for (int i = 0; i < CHURN_FEAT__COUNT; i++) {
        double x = a->values[i], y = b->values[i];
        if (!(x == y || (isnan(x) && isnan(y)))) {
            *which = i;
            return false;
        }
    }
    return true;
}

Test(features, later_events_never_change_an_earlier_as_of, .init = setup, .fini = teardown)
{
    /* Imported attributes and a history up to 40 days ago. */
    struct churn_customer_attrs a;
    churn_customer_attrs_init(&a);
    snprintf(a.plan, sizeof(a.plan), "gold");
    a.monthly_value = 120;
    a.signup_ms = NOW - 300 * DAY;
    struct churn_customer_upsert u = {"c", &a};
    cr_assert_eq(churn_store_upsert_customers(st, &u, 1), CHURN_OK);
    logins(100, 3);
    logins(50, 2);
    order_at(70, 40, CHURN_ORDER_COMPLETED);
    review_at(60, 2);
    ticket_at(45, CHURN_TICKET_OPENED);
    const int64_t as_of = churn_features_day_end(NOW - 40 * DAY);
    extract(as_of);
    struct churn_feature_vector before = fv;
    struct churn_buf row_before, row_after;
    churn_buf_init(&row_before, 1 << 14);
    churn_buf_init(&row_after, 1 << 14);
    cr_assert_eq(churn_features_csv_row(&rec, &fv, 0, &row_before), CHURN_OK);
    cr_assert_float_eq(before.values[CHURN_FEAT_PLAN_MONTHLY_VALUE], 120, 1e-9);

    /* Everything that can happen afterwards, of every kind. */
    logins(39, 5);
    order_at(30, 500, CHURN_ORDER_COMPLETED);
    order_at(20, 40, CHURN_ORDER_REFUNDED);
    review_at(10, 1);
    ticket_at(35, CHURN_TICKET_RESOLVED);
    ticket_at(5, CHURN_TICKET_OPENED);
    ticket_at(4, CHURN_TICKET_OPENED);
    struct churn_event e = {.kind = CHURN_EVENT_CHAT, .occurred_at_ms = NOW - 2 * DAY};
    e.chat.dissatisfaction = 0.9;
    e.chat.escalated = e.chat.churn_intent = true;
    apply(e, NOW);
    struct churn_event p = {.kind = CHURN_EVENT_PLAN_CHANGE, .occurred_at_ms = NOW - DAY};
    p.plan.action = CHURN_PLAN_CANCEL;
    p.plan.plan = "none";
    apply(p, NOW);
    struct churn_event l = {.kind = CHURN_EVENT_LISTING, .occurred_at_ms = NOW - DAY};
    l.listing.active_listings = 3;
    apply(l, NOW);

    extract(as_of);
    cr_assert_leq(fv.data_as_of_ms, as_of, "freshness never points past as_of");
    /* The training row (categorical plan included) is byte-for-byte the same. */
    cr_assert_eq(churn_features_csv_row(&rec, &fv, 0, &row_after), CHURN_OK);
    cr_assert_str_eq(churn_buf_str(&row_before), churn_buf_str(&row_after));
    churn_buf_free(&row_before);
    churn_buf_free(&row_after);
    int which = -1;
    cr_assert(same_vector(&before, &fv, &which), "feature %s changed: %g -> %g",
              churn_features_catalogue()[which].name, before.values[which], fv.values[which]);
    /* ... while at the later as_of they are all visible. */
    extract(AS_OF);
    cr_assert_eq(feat(CHURN_FEAT_OPEN_TICKETS), 2);
    cr_assert_float_eq(feat(CHURN_FEAT_LIFETIME_VALUE), 500, 1e-9);
    cr_assert_eq(feat(CHURN_FEAT_PLAN_DOWNGRADES_90D), 1);
    cr_assert_eq(before.values[CHURN_FEAT_OPEN_TICKETS], 1);
    cr_assert_float_eq(before.values[CHURN_FEAT_LIFETIME_VALUE], 40, 1e-9);
}

Test(features, bad_as_of_is_an_error)
{
    static struct churn_customer empty;
    struct churn_feature_vector v;
    v.as_of_ms = 42;
    cr_assert_eq(churn_features_extract(&empty, 0, &v), CHURN_EINVAL);
    cr_assert_eq(churn_features_extract(&empty, -DAY, &v), CHURN_EINVAL);
    cr_assert_eq(churn_features_extract(&empty, INT64_MAX, &v), CHURN_EINVAL);
    cr_assert_eq(v.as_of_ms, 42, "out-parameter untouched on error");
    cr_assert_eq(churn_features_extract(&empty, CHURN_FEATURES_AS_OF_MAX, &v), CHURN_OK);
    cr_assert_eq(churn_features_day_end(0), DAY - 1);
    cr_assert_eq(churn_features_day_end(DAY), 2 * DAY - 1);
}

Test(features, the_documentation_lists_every_feature)
{
    FILE *f = fopen(CHURN_SOURCE_ROOT "/docs/FEATURES.md", "r");
    cr_assert_not_null(f, "docs/FEATURES.md is missing");
    static char doc[1 << 16];
    size_t len = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[len] = '\0';
    const struct churn_feature_info *cat = churn_features_catalogue();
    for (int i = 0; i < CHURN_FEAT__COUNT; i++) {
        char row[256];
        snprintf(row, sizeof(row), "| %d | `%s` | %s | %s |", i, cat[i].name, cat[i].label,
                 cat[i].unit);
        cr_assert_not_null(strstr(doc, row), "docs/FEATURES.md lacks or misstates: %s", row);
    }
}

Test(features, monotone_directions_are_declared_and_documented)
{
    cr_assert_eq(churn_features_monotone("logins_30d"), -1);
    cr_assert_eq(churn_features_monotone("tickets_30d"), 1);
    cr_assert_eq(churn_features_monotone("days_since_last_activity"), 1);
    cr_assert_eq(churn_features_monotone("spend_90d"), -1);
    cr_assert_eq(churn_features_monotone("avg_order_value_90d"), 0);
    cr_assert_eq(churn_features_monotone("attr.seats"), 0);
    cr_assert_eq(churn_features_monotone("segment"), 0);
    cr_assert_eq(churn_features_monotone("no_such_feature"), 0);
    cr_assert_eq(churn_features_monotone(NULL), 0);
    FILE *f = fopen(CHURN_SOURCE_ROOT "/docs/FEATURES.md", "r");
    cr_assert_not_null(f, "docs/FEATURES.md is missing");
    static char doc[1 << 16];
    size_t len = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[len] = '\0';
    const struct churn_feature_info *cat = churn_features_catalogue();
    for (int i = 0; i < CHURN_FEAT__COUNT; i++) {
        cr_assert(cat[i].monotone >= -1 && cat[i].monotone <= 1);
        cr_assert_eq(churn_features_monotone(cat[i].name), cat[i].monotone);
        char row[128];
        snprintf(row, sizeof(row), "| `%s` | %s |", cat[i].name,
                 cat[i].monotone > 0   ? "+1"
                 : cat[i].monotone < 0 ? "-1"
                                       : "0");
        cr_assert_not_null(strstr(doc, row), "docs/FEATURES.md lacks or misstates: %s", row);
    }
}

/* ---- the demo data generator (tools/synth), when it is built ------------------------------- */

#define SYNTH     CHURN_BUILD_ROOT "/tools/synth/synth"
#define SYNTH_NOW "1763769600000" /* 2025-11-22T00:00:00Z */

struct cohort {
    double decline[2], tickets[2], dissatisfied[2];
    long n[2];
};

static int
add_to_cohort(const struct churn_customer *c, void *user)
{
    struct cohort *co = user;
    const int64_t now = 1763769600000LL;
    int churned = c->churned_at_ms > 0;
    /* Churners are looked at a week before they left, as an early warning would. */
    int64_t as_of = churned ? churn_features_day_end(c->churned_at_ms - 8 * DAY) : now - 1;
    if (churned && c->churned_at_ms < now - 100 * DAY)
        return 0; /* too early in the window for a full history */
    struct churn_feature_vector v;
    cr_assert_eq(churn_features_extract(c, as_of, &v), CHURN_OK);
    if (isnan(v.values[CHURN_FEAT_LOGIN_DECLINE_30D]))
        return 0; /* a customer too new for both login windows */
    co->n[churned]++;
    co->decline[churned] += v.values[CHURN_FEAT_LOGIN_DECLINE_30D];
    co->tickets[churned] += v.values[CHURN_FEAT_TICKETS_30D];
    co->dissatisfied[churned] += v.values[CHURN_FEAT_CHAT_DISSATISFACTION] > 0.2;
    return 0;
}

Test(features, synthetic_churners_show_the_warning_signs)
{
    if (access(SYNTH, X_OK) != 0)
        cr_skip_test("tools/synth is not built");
    char d[64], cmd[256];
    snprintf(d, sizeof(d), "/tmp/churn-synth-XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    snprintf(cmd, sizeof(cmd), SYNTH " --customers 3000 --seed 3 --now " SYNTH_NOW " --store %s",
             d);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(churn_store_open(d, NULL, &st), CHURN_OK);
    struct cohort co = {0};
    cr_assert_eq(churn_store_foreach_customer(st, add_to_cohort, &co), CHURN_OK);
    churn_store_close(st);
    st = NULL;
    churn_test_rm_rf(d);

    cr_assert_gt(co.n[1], 50, "some customers churn");
    cr_assert_gt(co.n[0], co.n[1], "most stay");
    cr_assert_gt(co.decline[1] / co.n[1], co.decline[0] / co.n[0] + 0.2,
                 "logins decline before churn");
    cr_assert_gt(co.tickets[1] / co.n[1], 2 * co.tickets[0] / co.n[0], "tickets rise");
    cr_assert_gt(co.dissatisfied[1] / co.n[1], co.dissatisfied[0] / co.n[0]);
}

Test(features, synth_is_deterministic)
{
    if (access(SYNTH, X_OK) != 0)
        cr_skip_test("tools/synth is not built");
    /* Same seed, same data; and a customer's data does not depend on how many are made. */
    const char *cmds[2] = {
        SYNTH " --customers 300 --seed 11 --now " SYNTH_NOW " --jsonl - 2>/dev/null | sha256sum",
        SYNTH " --customers 600 --seed 11 --now " SYNTH_NOW " --jsonl - 2>/dev/null"
              " | grep -m 1 -B 100000000 '\"customer_id\":\"cust-0000300\",\"segment' "
              " | head -n -1 | sha256sum",
    };
    char out[2][256];
    for (int i = 0; i < 2; i++) {
        FILE *p = popen(cmds[i], "r");
        cr_assert_not_null(p);
        cr_assert_not_null(fgets(out[i], sizeof(out[i]), p));
        pclose(p);
    }
    cr_assert_str_eq(out[0], out[1]);
    /* Bad options are refused. */
    cr_assert_neq(system(SYNTH " --customers -5 --jsonl /dev/null 2>/dev/null"), 0);
    cr_assert_neq(system(SYNTH " --customers 5 2>/dev/null"), 0);
    cr_assert_neq(system(SYNTH " --customers 5 --days 9999 --jsonl /dev/null 2>/dev/null"), 0);
}

Test(features, training_labels_are_point_in_time, .init = setup, .fini = teardown)
{
    logins(100, 1);
    struct churn_event c = {.kind = CHURN_EVENT_CHURN, .occurred_at_ms = NOW - 20 * DAY};
    c.churn.reason = "price";
    apply(c, NOW);
    cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_OK);
    const int64_t before = churn_features_day_end(NOW - 40 * DAY);
    cr_assert_eq(churn_features_label(&rec, before, 30, 0, NOW), 1, "churned within 30 days");
    cr_assert_eq(churn_features_label(&rec, before, 10, 0, NOW), 0, "not within 10 days");
    cr_assert_eq(churn_features_label(&rec, NOW - 10 * DAY, 5, 0, NOW), -1, "already gone");
    cr_assert_eq(churn_features_label(&rec, NOW - 120 * DAY, 30, 0, NOW), -1, "not a customer yet");
    cr_assert_eq(churn_features_label(&rec, churn_features_day_end(NOW - 25 * DAY), 1, 0, NOW), 0);
    cr_assert_eq(churn_features_label(&rec, before, 0, 0, NOW), -1, "bad horizon");

    /* A window that is not over yet has no label (unless the churn already happened). */
    struct churn_customer_attrs a;
    churn_customer_attrs_init(&a);
    struct churn_customer_upsert u = {"quiet", &a};
    cr_assert_eq(churn_store_upsert_customers(st, &u, 1), CHURN_OK);
    apply((struct churn_event){.kind = CHURN_EVENT_LOGIN,
                               .customer_id = "quiet",
                               .occurred_at_ms = NOW - 90 * DAY},
          NOW);
    static struct churn_customer q;
    cr_assert_eq(churn_store_get_customer(st, "quiet", &q), CHURN_OK);
    cr_assert_eq(churn_features_label(&q, NOW - 10 * DAY, 30, 0, NOW), -1);
    /* Inactivity as churn: active before as_of, silent for the last 30 days of the window. */
    const int64_t as_of = churn_features_day_end(NOW - 80 * DAY);
    cr_assert_eq(churn_features_label(&q, as_of, 60, 0, NOW), 0);
    cr_assert_eq(churn_features_label(&q, as_of, 60, 30, NOW), 1);
    cr_assert_eq(churn_features_label(&q, churn_features_day_end(NOW - 91 * DAY), 60, 30, NOW), -1,
                 "not active before as_of: not a customer yet either");
}

Test(features, training_csv_rows, .init = setup, .fini = teardown)
{
    struct churn_customer_attrs a;
    churn_customer_attrs_init(&a);
    snprintf(a.segment, sizeof(a.segment), "small, \"quoted\"");
    a.signup_ms = NOW - 400 * DAY;
    struct churn_customer_upsert u = {"c", &a};
    cr_assert_eq(churn_store_upsert_customers(st, &u, 1), CHURN_OK);
    logins(3, 2);
    extract(AS_OF);
    struct churn_buf b;
    churn_buf_init(&b, 1 << 16);
    cr_assert_eq(churn_features_csv_header(&b), CHURN_OK);
    cr_assert(strncmp(churn_buf_str(&b), "customer_id,as_of_ms,segment,plan,country,logins_30d,",
                      52) == 0,
              "%s", churn_buf_str(&b));
    size_t header_len = b.len;
    cr_assert_eq(churn_features_csv_row(&rec, &fv, 1, &b), CHURN_OK);
    const char *row = churn_buf_str(&b) + header_len;
    cr_assert(strstr(row, "\"c\","), "%s", row);
    cr_assert(strstr(row, "\"small, \"\"quoted\"\"\""), "quotes doubled: %s", row);
    cr_assert(strstr(row, ",2,"), "logins_30d: %s", row);
    cr_assert(strstr(row, ",,"), "NaN features are empty fields: %s", row);
    cr_assert(row[strlen(row) - 2] == '1' && row[strlen(row) - 1] == '\n');
    /* Same number of fields as the header. */
    int commas_header = 0, commas_row = 0, quoted = 0;
    for (size_t i = 0; i < header_len; i++)
        commas_header += churn_buf_str(&b)[i] == ',';
    for (const char *p = row; *p; p++) {
        if (*p == '"')
            quoted = !quoted;
        commas_row += !quoted && *p == ',';
    }
    cr_assert_eq(commas_row, commas_header);
    cr_assert_eq(churn_features_csv_row(&rec, &fv, 2, &b), CHURN_EINVAL);
    /* Over the cap: an error, and the buffer keeps what it had. */
    struct churn_buf small;
    churn_buf_init(&small, 64);
    cr_assert_eq(churn_features_csv_row(&rec, &fv, 0, &small), CHURN_ETOOBIG);
    cr_assert_eq(small.len, 0);
    churn_buf_free(&small);
    churn_buf_free(&b);
}

/* ---- windows that reach before the observed history ----------------------------------------- */

Test(features, windows_before_the_first_day_are_scaled_or_missing, .init = setup, .fini = teardown)
{
    /* first seen 44 days ago (no signup date): the older login window saw 15 of its 30 days */
    logins(44, 2);
    logins(35, 2);
    logins(3, 6);
    extract(AS_OF);
    cr_assert_eq(feat(CHURN_FEAT_LOGINS_30D), 6, "a fully observed window is not scaled");
    cr_assert_float_eq(feat(CHURN_FEAT_LOGINS_PREV_30D), 8, 1e-9, "4 logins in 15 days: 8 in 30");
    cr_assert(isnan(feat(CHURN_FEAT_ORDERS_PREV_90D)), "days 91-180 were never observed");
    cr_assert(isnan(feat(CHURN_FEAT_ORDER_DECLINE_90D)));
    cr_assert_eq(feat(CHURN_FEAT_ORDERS_90D), 0, "44 of 90 days observed: zero orders is zero");
}

Test(features, a_new_customer_has_no_window_counts, .init = setup, .fini = teardown)
{
    logins(4, 3);
    extract(AS_OF);
    cr_assert(isnan(feat(CHURN_FEAT_LOGINS_30D)), "5 of 30 days is too little to say");
    cr_assert(isnan(feat(CHURN_FEAT_ACTIVE_DAYS_90D)));
    cr_assert_eq(feat(CHURN_FEAT_DAYS_SINCE_LAST_ACTIVITY), 4, "recency needs no window");
}

Test(features, history_before_the_store_observed_it_is_ignored, .init = setup, .fini = teardown)
{
    customer_since(400);
    logins(25, 5);
    logins(50, 7);
    extract(AS_OF);
    cr_assert_eq(feat(CHURN_FEAT_LOGINS_PREV_30D), 7);
    /* the same record, but the data is only trusted from 20 days ago on */
    struct churn_feature_vector cut;
    cr_assert_eq(churn_features_extract_observed(&rec, AS_OF, NOW - 20 * DAY, &cut), CHURN_OK);
    cr_assert(isnan(cut.values[CHURN_FEAT_LOGINS_PREV_30D]), "not observed at all");
    cr_assert_eq(cut.values[CHURN_FEAT_LOGINS_30D], 0,
                 "21 of 30 days observed, the login 25 days ago is outside them");
    cr_assert_eq(churn_features_extract_observed(&rec, AS_OF, -1, &cut), CHURN_EINVAL);
}

Test(features, serving_and_training_see_the_store_history_alike, .init = setup, .fini = teardown)
{
    customer_since(400);
    logins(100, 1); /* the store's data start: 100 days ago */
    logins(70, 4);
    logins(10, 2);
    cr_assert_eq(churn_store_history_from_ms(st, NOW),
                 (int64_t)churn_day_of_ms(NOW - 100 * DAY) * DAY);
    /* a cutoff 60 days ago: its 90-day window reaches 30 days before the data start */
    const int64_t cutoff = churn_features_day_end(NOW - 60 * DAY);
    cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_OK);
    struct churn_feature_vector v;
    cr_assert_eq(
        churn_features_extract_observed(&rec, cutoff, churn_store_history_from_ms(st, NOW), &v),
        CHURN_OK);
    cr_assert_float_eq(v.values[CHURN_FEAT_ACTIVE_DAYS_90D], 2 * 90.0 / 41, 1e-9,
                       "2 active days in the 41 observed days of the window");
}

Test(features, the_last_week_and_the_quarter_of_tickets, .init = setup, .fini = teardown)
{
    customer_since(400);
    logins(2, 3);
    logins(10, 4);
    ticket_at(60, CHURN_TICKET_OPENED);
    ticket_at(5, CHURN_TICKET_OPENED);
    extract(AS_OF);
    cr_assert_eq(feat(CHURN_FEAT_LOGINS_7D), 3, "the logins 10 days ago are not last week");
    cr_assert_eq(feat(CHURN_FEAT_LOGINS_30D), 7);
    cr_assert_eq(feat(CHURN_FEAT_ACTIVE_DAYS_7D), 1);
    cr_assert_eq(feat(CHURN_FEAT_TICKETS_90D), 2);
    cr_assert_eq(feat(CHURN_FEAT_TICKETS_30D), 1);
}

static void
session_at(int days_ago, double minutes)
{
    struct churn_event e = {.kind = CHURN_EVENT_SESSION, .occurred_at_ms = NOW - days_ago * DAY};
    e.session.minutes = minutes;
    apply(e, NOW);
}

static void
chat_at(int days_ago, double dissatisfaction)
{
    struct churn_event e = {.kind = CHURN_EVENT_CHAT, .occurred_at_ms = NOW - days_ago * DAY};
    e.chat.dissatisfaction = dissatisfaction;
    apply(e, NOW);
}

/* Issue 11: the features an independent reference had and the catalogue lacked (logins over a
 * quarter, session length, the last month's orders and spend, bad orders, negative reviews and
 * chat days), each at an as_of that splits the events: what happened after it never counts. */
Test(features, session_length_recent_orders_and_contact_days, .init = setup, .fini = teardown)
{
    customer_since(400);
    logins(80, 5);
    logins(20, 2);
    session_at(3, 10), session_at(3, 20); /* last week: 2 sessions, 15 minutes each */
    session_at(20, 60);                   /* the month: 3 sessions, 90 minutes */
    session_at(100, 500);                 /* outside every window */
    order_at(10, 30, CHURN_ORDER_COMPLETED);
    order_at(40, 50, CHURN_ORDER_COMPLETED);
    order_at(15, 20, CHURN_ORDER_REFUNDED);
    order_at(60, 20, CHURN_ORDER_CANCELLED);
    review_at(50, 1);
    review_at(5, 2);
    review_at(6, 5);
    chat_at(2, 0.5), chat_at(2, 0.9); /* two chats on one day are one chat day */
    chat_at(45, 0.2);
    extract(churn_features_day_end(NOW - 4 * DAY)); /* before the last week's sessions */
    cr_assert_float_eq(feat(CHURN_FEAT_AVG_SESSION_MINUTES_30D), 60, 1e-9);
    cr_assert(isnan(feat(CHURN_FEAT_AVG_SESSION_MINUTES_7D)), "no session in that week");
    cr_assert_eq(feat(CHURN_FEAT_NEGATIVE_REVIEWS_90D), 2, "the 1- and 2-star reviews");
    cr_assert_eq(feat(CHURN_FEAT_CHAT_DAYS_30D), 0, "the chats 2 days ago are after as_of");
    extract(AS_OF);
    cr_assert_eq(feat(CHURN_FEAT_LOGINS_90D), 7);
    cr_assert_eq(feat(CHURN_FEAT_LOGINS_30D), 2);
    cr_assert_float_eq(feat(CHURN_FEAT_AVG_SESSION_MINUTES_30D), 30, 1e-9);
    cr_assert_float_eq(feat(CHURN_FEAT_AVG_SESSION_MINUTES_7D), 15, 1e-9);
    cr_assert_eq(feat(CHURN_FEAT_ORDERS_30D), 1, "the refunded order is not completed");
    cr_assert_float_eq(feat(CHURN_FEAT_SPEND_30D), 30 - 20, 1e-9, "net of the refund");
    cr_assert_eq(feat(CHURN_FEAT_ORDERS_90D), 2);
    cr_assert_eq(feat(CHURN_FEAT_CANCELLED_REFUNDED_90D), 2);
    cr_assert_eq(feat(CHURN_FEAT_NEGATIVE_REVIEWS_90D), 2);
    cr_assert_eq(feat(CHURN_FEAT_CHAT_DAYS_30D), 1);
    cr_assert_eq(feat(CHURN_FEAT_CHAT_DAYS_90D), 2);
}

Test(features, new_counts_scale_to_the_observed_days, .init = setup, .fini = teardown)
{
    customer_since(45); /* half of a 90-day window observed */
    logins(10, 3);
    order_at(12, 40, CHURN_ORDER_CANCELLED);
    chat_at(20, 0.4);
    extract(AS_OF);
    cr_assert_float_eq(feat(CHURN_FEAT_LOGINS_90D), 3 * 90.0 / 46, 1e-9, "46 of 90 days seen");
    cr_assert_float_eq(feat(CHURN_FEAT_CANCELLED_REFUNDED_90D), 90.0 / 46, 1e-9);
    cr_assert_float_eq(feat(CHURN_FEAT_CHAT_DAYS_90D), 90.0 / 46, 1e-9);
    cr_assert_eq(feat(CHURN_FEAT_CHAT_DAYS_30D), 1, "the 30-day window is whole");
    cr_assert(isnan(feat(CHURN_FEAT_AVG_SESSION_MINUTES_30D)), "no sessions: no length");
}

/* Issue 11: the last five features the reference had (logins two to three months back, active
 * days in a fortnight, session minutes over a quarter, the lowest rating and the worst chat of
 * the month), each at an as_of that splits the events. */
Test(features, earlier_logins_fortnight_quarter_lowest_rating_and_worst_chat, .init = setup,
     .fini = teardown)
{
    customer_since(400);
    logins(70, 4); /* two to three months back */
    logins(89, 1); /* the window's last day */
    logins(90, 6); /* outside it */
    logins(40, 3); /* the month before */
    logins(10, 2); /* in the fortnight */
    session_at(5, 30);
    session_at(80, 45);
    session_at(95, 500);                /* outside the quarter */
    review_at(60, 4), review_at(60, 2); /* one day: average 3 */
    review_at(20, 5);
    review_at(2, 1);                  /* after the earlier as_of */
    chat_at(3, 0.3), chat_at(3, 0.8); /* the day's highest: 0.8 */
    chat_at(20, 0.5);
    chat_at(40, 0.95); /* outside the month */
    extract(AS_OF);
    cr_assert_eq(feat(CHURN_FEAT_LOGINS_61_90D), 5);
    cr_assert_eq(feat(CHURN_FEAT_ACTIVE_DAYS_14D), 3,
                 "logins 10, session 5, review 2 (chats are not activity)");
    cr_assert_float_eq(feat(CHURN_FEAT_SESSION_MINUTES_90D), 75, 1e-9);
    cr_assert_float_eq(feat(CHURN_FEAT_MIN_RATING_90D), 1, 1e-9);
    cr_assert_float_eq(feat(CHURN_FEAT_CHAT_MAX_DISSATISFACTION_30D), 0.8, 1e-6, "not decayed");
    extract(churn_features_day_end(NOW - 4 * DAY)); /* 4 days earlier */
    cr_assert_float_eq(feat(CHURN_FEAT_MIN_RATING_90D), 3, 1e-9, "the lowest day's average");
    cr_assert_float_eq(feat(CHURN_FEAT_CHAT_MAX_DISSATISFACTION_30D), 0.5, 1e-6);
    cr_assert_eq(feat(CHURN_FEAT_ACTIVE_DAYS_14D), 2, "logins 10 and session 5 days back");
    cr_assert_float_eq(feat(CHURN_FEAT_SESSION_MINUTES_90D), 75, 1e-9, "days 4-93 back");
    cr_assert_eq(feat(CHURN_FEAT_LOGINS_61_90D), 4 + 1 + 6, "days 64-93 back: 70, 89 and 90");
}

Test(features, earlier_logins_scale_to_the_observed_days_and_missing_is_nan, .init = setup,
     .fini = teardown)
{
    customer_since(75); /* 16 of the 30 days 60-89 back observed */
    logins(70, 2);
    extract(AS_OF);
    cr_assert_float_eq(feat(CHURN_FEAT_LOGINS_61_90D), 2 * 30.0 / 16, 1e-9);
    cr_assert(isnan(feat(CHURN_FEAT_MIN_RATING_90D)), "no reviews: no lowest rating");
    cr_assert(isnan(feat(CHURN_FEAT_CHAT_MAX_DISSATISFACTION_30D)), "no chats");
}
