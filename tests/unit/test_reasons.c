/*
 * test_reasons.c - the reasons suite: every sentence shape of churn/reasons.h (a count against
 * the window before, how often, days since, money, shares, stars, chat level, tenure, plan,
 * listings, categories, imported numbers, what moved) with singular and plural, zero, missing
 * (NaN) values, and the rules every sentence keeps: never empty, never "nan" or "log-odds",
 * cut at the buffer's size.
 */
#include "churn/reasons.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "churn/clock.h"

static struct churn_feature_vector vec;
static struct churn_customer rec;
static char text[CHURN_REASON_TEXT_MAX];

static void
blank(void)
{
    memset(&rec, 0, sizeof(rec));
    snprintf(rec.attrs.plan, sizeof(rec.attrs.plan), "basic");
    vec.as_of_ms = 20000 * CHURN_MS_PER_DAY;
    for (int i = 0; i < CHURN_FEAT__COUNT; i++)
        vec.values[i] = NAN;
}

TestSuite(reasons, .init = blank);

/* The sentence for @f after setting @n features to the values that follow. */
static const char *
say(int f, int sign)
{
    return churn_reason_feature_text(f, &vec, &rec, sign, text, sizeof(text));
}

#define SET(id, v) (vec.values[CHURN_FEAT_##id] = (v))

Test(reasons, a_pair_that_fell_is_told_the_same_for_all_three_features)
{
    SET(LOGINS_30D, 2);
    SET(LOGINS_PREV_30D, 14);
    SET(LOGIN_DECLINE_30D, 12.0 / 14);
    cr_assert_str_eq(say(CHURN_FEAT_LOGINS_30D, 1), "Logins fell from 14 to 2 in 30 days");
    cr_assert_str_eq(say(CHURN_FEAT_LOGINS_PREV_30D, 1), "Logins fell from 14 to 2 in 30 days");
    cr_assert_str_eq(say(CHURN_FEAT_LOGIN_DECLINE_30D, 1), "Logins fell from 14 to 2 in 30 days");
    SET(ORDERS_90D, 1);
    SET(ORDERS_PREV_90D, 6);
    cr_assert_str_eq(say(CHURN_FEAT_ORDER_DECLINE_90D, 1),
                     "Completed orders fell from 6 to 1 in 90 days");
}

Test(reasons, a_pair_that_rose_names_the_window_before)
{
    SET(TICKETS_30D, 3);
    SET(TICKETS_PREV_30D, 0);
    cr_assert_str_eq(say(CHURN_FEAT_TICKET_GROWTH_30D, 1),
                     "3 support tickets in the last 30 days (none the 30 days before)");
    SET(TICKETS_30D, 1);
    cr_assert_str_eq(say(CHURN_FEAT_TICKETS_30D, 1),
                     "1 support ticket in the last 30 days (none the 30 days before)");
    SET(TICKETS_30D, 5);
    SET(TICKETS_PREV_30D, 1);
    cr_assert_str_eq(say(CHURN_FEAT_TICKETS_30D, 1),
                     "5 support tickets in the last 30 days (1 the 30 days before)");
}

Test(reasons, a_pair_that_held_or_is_empty_or_missing)
{
    SET(LOGINS_30D, 2);
    SET(LOGINS_PREV_30D, 2);
    cr_assert_str_eq(say(CHURN_FEAT_LOGINS_30D, 1),
                     "2 logins in the last 30 days, as many as the 30 days before");
    SET(LOGINS_30D, 0);
    SET(LOGINS_PREV_30D, 0);
    cr_assert_str_eq(say(CHURN_FEAT_LOGINS_30D, 1), "No logins in the last 60 days");
    SET(LOGINS_30D, 1);
    SET(LOGINS_PREV_30D, NAN); /* history shorter than the window before */
    cr_assert_str_eq(say(CHURN_FEAT_LOGINS_30D, 1), "1 login in the last 30 days");
    SET(LOGINS_30D, NAN);
    cr_assert_str_eq(say(CHURN_FEAT_LOGIN_DECLINE_30D, 1),
                     "No data on logins for the last 30 days");
}

Test(reasons, days_since_in_words)
{
    SET(DAYS_SINCE_LAST_ACTIVITY, 23);
    cr_assert_str_eq(say(CHURN_FEAT_DAYS_SINCE_LAST_ACTIVITY, 1), "No activity for 23 days");
    SET(DAYS_SINCE_LAST_ACTIVITY, 1);
    cr_assert_str_eq(say(CHURN_FEAT_DAYS_SINCE_LAST_ACTIVITY, 1), "No activity for 1 day");
    SET(DAYS_SINCE_LAST_ACTIVITY, 0);
    cr_assert_str_eq(say(CHURN_FEAT_DAYS_SINCE_LAST_ACTIVITY, -1), "Active today");
    SET(DAYS_SINCE_LAST_ACTIVITY, NAN);
    cr_assert_str_eq(say(CHURN_FEAT_DAYS_SINCE_LAST_ACTIVITY, 1), "Never active");
    SET(DAYS_SINCE_LAST_PURCHASE, NAN);
    cr_assert_str_eq(say(CHURN_FEAT_DAYS_SINCE_LAST_PURCHASE, 1), "No orders yet");
    SET(DAYS_SINCE_LAST_PURCHASE, 40);
    cr_assert_str_eq(say(CHURN_FEAT_DAYS_SINCE_LAST_PURCHASE, 1), "No purchase for 40 days");
}

Test(reasons, active_days_out_of_the_window)
{
    SET(ACTIVE_DAYS_90D, 84);
    cr_assert_str_eq(say(CHURN_FEAT_ACTIVE_DAYS_90D, -1), "Active on 84 of the last 90 days");
    SET(ACTIVE_DAYS_30D, 0);
    cr_assert_str_eq(say(CHURN_FEAT_ACTIVE_DAYS_30D, 1), "No activity in the last 30 days");
    cr_assert_str_eq(say(CHURN_FEAT_ACTIVE_DAYS_90D + 0, 1), "Active on 84 of the last 90 days");
    SET(SESSION_MINUTES_30D, 1);
    cr_assert_str_eq(say(CHURN_FEAT_SESSION_MINUTES_30D, -1),
                     "1 session minute in the last 30 days");
    SET(SESSION_MINUTES_30D, 0);
    cr_assert_str_eq(say(CHURN_FEAT_SESSION_MINUTES_30D, 1), "No sessions in the last 30 days");
}

Test(reasons, how_often_the_customer_did_something)
{
    SET(PLAN_DOWNGRADES_90D, 1);
    cr_assert_str_eq(say(CHURN_FEAT_PLAN_DOWNGRADES_90D, 1),
                     "Downgraded the plan in the last 90 days");
    SET(PLAN_DOWNGRADES_90D, 2);
    cr_assert_str_eq(say(CHURN_FEAT_PLAN_DOWNGRADES_90D, 1),
                     "Downgraded the plan 2 times in the last 90 days");
    SET(PLAN_DOWNGRADES_90D, 0);
    cr_assert_str_eq(say(CHURN_FEAT_PLAN_DOWNGRADES_90D, -1),
                     "No plan downgrades in the last 90 days");
    /* the latest plan change a cancellation: said as one */
    rec.n_plan_changes = 2;
    rec.plan_changes[0] = (struct churn_plan_change){.at_ms = vec.as_of_ms - 9 * CHURN_MS_PER_DAY,
                                                     .action = CHURN_PLAN_DOWNGRADE};
    rec.plan_changes[1] = (struct churn_plan_change){.at_ms = vec.as_of_ms - CHURN_MS_PER_DAY,
                                                     .action = CHURN_PLAN_CANCEL};
    SET(PLAN_DOWNGRADES_90D, 1);
    cr_assert_str_eq(say(CHURN_FEAT_PLAN_DOWNGRADES_90D, 1),
                     "Cancelled the plan in the last 90 days");
    SET(PLAN_DOWNGRADES_90D, 2);
    cr_assert_str_eq(say(CHURN_FEAT_PLAN_DOWNGRADES_90D, 1),
                     "Cancelled the plan in the last 90 days, after 1 earlier downgrade");
    rec.plan_changes[1].at_ms = vec.as_of_ms + 1; /* after as_of: the downgrade is the latest */
    cr_assert_str_eq(say(CHURN_FEAT_PLAN_DOWNGRADES_90D, 1),
                     "Downgraded the plan 2 times in the last 90 days");
    SET(CHURN_INTENTS_30D, 2);
    cr_assert_str_eq(say(CHURN_FEAT_CHURN_INTENTS_30D, 1),
                     "Said they want to leave in chat 2 times in the last 30 days");
    SET(ESCALATIONS_90D, 1);
    cr_assert_str_eq(say(CHURN_FEAT_ESCALATIONS_90D, 1),
                     "Chat handed to a person in the last 90 days");
    cr_assert_str_eq(say(CHURN_FEAT_ESCALATIONS_30D, 1),
                     "No data on chat escalations for the last 30 days");
}

Test(reasons, money_has_two_decimals_and_says_none_and_refunds)
{
    SET(SPEND_90D, 1234.5);
    cr_assert_str_eq(say(CHURN_FEAT_SPEND_90D, -1), "Spent 1234.50 in the last 90 days");
    SET(SPEND_90D, 0.004);
    cr_assert_str_eq(say(CHURN_FEAT_SPEND_90D, 1), "No spend in the last 90 days");
    SET(SPEND_90D, -12);
    cr_assert_str_eq(say(CHURN_FEAT_SPEND_90D, 1),
                     "Refunds exceeded purchases by 12.00 in the last 90 days");
    SET(LIFETIME_VALUE, 99.9);
    cr_assert_str_eq(say(CHURN_FEAT_LIFETIME_VALUE, -1), "Spent 99.90 in total");
    SET(LIFETIME_VALUE, 0);
    cr_assert_str_eq(say(CHURN_FEAT_LIFETIME_VALUE, 1), "No spend yet");
    cr_assert_str_eq(say(CHURN_FEAT_RFM_MONETARY, 1), "Monthly spend unknown (no signup date)");
    SET(RFM_MONETARY, 45);
    cr_assert_str_eq(say(CHURN_FEAT_RFM_MONETARY, -1), "Spends 45.00 a month on average");
    cr_assert_str_eq(say(CHURN_FEAT_AVG_ORDER_VALUE_90D, 1),
                     "No completed orders in the last 90 days");
    SET(AVG_ORDER_VALUE_90D, 45.2);
    cr_assert_str_eq(say(CHURN_FEAT_AVG_ORDER_VALUE_90D, 1),
                     "Average order of 45.20 in the last 90 days");
}

Test(reasons, counts_and_frequencies)
{
    SET(LIFETIME_ORDERS, 0);
    cr_assert_str_eq(say(CHURN_FEAT_LIFETIME_ORDERS, 1), "No orders yet");
    SET(LIFETIME_ORDERS, 1);
    cr_assert_str_eq(say(CHURN_FEAT_LIFETIME_ORDERS, 1), "1 completed order in total");
    SET(RFM_FREQUENCY, 2.5);
    cr_assert_str_eq(say(CHURN_FEAT_RFM_FREQUENCY, -1), "2.5 orders a month on average");
    SET(RFM_FREQUENCY, 0.25);
    cr_assert_str_eq(say(CHURN_FEAT_RFM_FREQUENCY, 1), "0.25 orders a month on average");
    SET(OPEN_TICKETS, 2);
    cr_assert_str_eq(say(CHURN_FEAT_OPEN_TICKETS, 1), "2 support tickets open");
    SET(OPEN_TICKETS, 0);
    cr_assert_str_eq(say(CHURN_FEAT_OPEN_TICKETS, -1), "No open support tickets");
    SET(REVIEWS_90D, 1);
    cr_assert_str_eq(say(CHURN_FEAT_REVIEWS_90D, 1), "1 review in the last 90 days");
    cr_assert_str_eq(say(CHURN_FEAT_ACTIVE_LISTINGS, 1), "No listings reported");
    SET(ACTIVE_LISTINGS, 12);
    cr_assert_str_eq(say(CHURN_FEAT_ACTIVE_LISTINGS, -1), "12 active listings");
}

Test(reasons, ratings_in_stars)
{
    SET(AVG_RATING_90D, 1.5);
    cr_assert_str_eq(say(CHURN_FEAT_AVG_RATING_90D, 1),
                     "Average rating 1.5 stars over the last 90 days");
    SET(AVG_RATING_90D, 1);
    cr_assert_str_eq(say(CHURN_FEAT_AVG_RATING_90D, 1),
                     "Average rating 1 star over the last 90 days");
    SET(AVG_RATING_90D, NAN);
    cr_assert_str_eq(say(CHURN_FEAT_AVG_RATING_90D, 1), "No reviews in the last 90 days");
    cr_assert_str_eq(say(CHURN_FEAT_AVG_RATING_LIFETIME, 1), "No reviews yet");
    SET(AVG_RATING_LIFETIME, 4);
    cr_assert_str_eq(say(CHURN_FEAT_AVG_RATING_LIFETIME, -1),
                     "Average rating 4 stars over all reviews");
}

/* Issue 11's third set of reference features: each told in its own words */
Test(reasons, earlier_logins_a_fortnight_a_quarter_the_lowest_rating_and_the_worst_chat)
{
    SET(LOGINS_61_90D, 14);
    cr_assert_str_eq(say(CHURN_FEAT_LOGINS_61_90D, -1), "14 logins two to three months ago");
    SET(LOGINS_61_90D, 1);
    cr_assert_str_eq(say(CHURN_FEAT_LOGINS_61_90D, -1), "1 login two to three months ago");
    SET(LOGINS_61_90D, 0);
    cr_assert_str_eq(say(CHURN_FEAT_LOGINS_61_90D, 1), "No logins two to three months ago");
    SET(ACTIVE_DAYS_14D, 3);
    cr_assert_str_eq(say(CHURN_FEAT_ACTIVE_DAYS_14D, 1), "Active on 3 of the last 14 days");
    SET(SESSION_MINUTES_90D, 250);
    cr_assert_str_eq(say(CHURN_FEAT_SESSION_MINUTES_90D, -1),
                     "250 session minutes in the last 90 days");
    SET(MIN_RATING_90D, 1);
    cr_assert_str_eq(say(CHURN_FEAT_MIN_RATING_90D, 1),
                     "Lowest rating 1 star over the last 90 days");
    SET(MIN_RATING_90D, NAN);
    cr_assert_str_eq(say(CHURN_FEAT_MIN_RATING_90D, 1), "No reviews in the last 90 days");
    cr_assert_str_eq(say(CHURN_FEAT_CHAT_MAX_DISSATISFACTION_30D, 1),
                     "No chats in the last 30 days");
    SET(CHAT_MAX_DISSATISFACTION_30D, 0.4);
    cr_assert_str_eq(say(CHURN_FEAT_CHAT_MAX_DISSATISFACTION_30D, 1),
                     "Unhappy in recent chats (dissatisfaction 0.40 of 1)");
}

Test(reasons, shares_in_percent)
{
    SET(NEGATIVE_REVIEW_RATIO_90D, 0.6);
    SET(NEGATIVE_REVIEW_RATIO_PREV_90D, 0.1);
    cr_assert_str_eq(say(CHURN_FEAT_NEGATIVE_REVIEW_RISE, 1),
                     "Negative reviews rose from 10% to 60% of reviews in 90 days");
    SET(NEGATIVE_REVIEW_RATIO_PREV_90D, NAN);
    cr_assert_str_eq(say(CHURN_FEAT_NEGATIVE_REVIEW_RATIO_90D, 1),
                     "60% of reviews negative in the last 90 days");
    SET(NEGATIVE_REVIEW_RATIO_90D, NAN);
    cr_assert_str_eq(say(CHURN_FEAT_NEGATIVE_REVIEW_RATIO_PREV_90D, 1),
                     "No reviews in the last 90 days");
    SET(CANCEL_REFUND_RATIO_90D, 0.25);
    cr_assert_str_eq(say(CHURN_FEAT_CANCEL_REFUND_RATIO_90D, 1),
                     "25% of orders cancelled or refunded in the last 90 days");
    SET(CANCEL_REFUND_RATIO_90D, 0);
    cr_assert_str_eq(say(CHURN_FEAT_CANCEL_REFUND_RATIO_90D, -1),
                     "No order cancelled or refunded in the last 90 days");
}

Test(reasons, chat_tenure_plan_and_listings)
{
    cr_assert_str_eq(say(CHURN_FEAT_CHAT_DISSATISFACTION, 1), "No recent chats");
    SET(CHAT_DISSATISFACTION, 0.82);
    cr_assert_str_eq(say(CHURN_FEAT_CHAT_DISSATISFACTION, 1),
                     "Very unhappy in recent chats (dissatisfaction 0.82 of 1)");
    SET(TENURE_DAYS, 45.7);
    cr_assert_str_eq(say(CHURN_FEAT_TENURE_DAYS, 1), "Customer for only 45 days");
    cr_assert_str_eq(say(CHURN_FEAT_TENURE_DAYS, -1), "Customer for 45 days");
    SET(TENURE_DAYS, 400);
    cr_assert_str_eq(say(CHURN_FEAT_TENURE_DAYS, -1), "Customer for 13 months");
    SET(TENURE_DAYS, 1000);
    cr_assert_str_eq(say(CHURN_FEAT_TENURE_DAYS, -1), "Customer for 2.7 years");
    SET(TENURE_DAYS, 1.2);
    cr_assert_str_eq(say(CHURN_FEAT_TENURE_DAYS, 0), "Customer for 1 day");
    SET(TENURE_DAYS, NAN);
    cr_assert_str_eq(say(CHURN_FEAT_TENURE_DAYS, 1), "Signup date unknown");
    SET(PLAN_MONTHLY_VALUE, 49);
    cr_assert_str_eq(say(CHURN_FEAT_PLAN_MONTHLY_VALUE, 1), "On the basic plan (49.00 a month)");
    SET(PLAN_MONTHLY_VALUE, 0);
    cr_assert_str_eq(say(CHURN_FEAT_PLAN_MONTHLY_VALUE, 1), "No paid plan");
    SET(PLAN_MONTHLY_VALUE, NAN);
    rec.attrs.plan[0] = '\0';
    cr_assert_str_eq(say(CHURN_FEAT_PLAN_MONTHLY_VALUE, 1), "Plan unknown");
    SET(ACTIVE_LISTINGS, 6);
    SET(LISTINGS_CHANGE_30D, -0.4);
    cr_assert_str_eq(say(CHURN_FEAT_LISTINGS_CHANGE_30D, 1),
                     "Active listings fell from 10 to 6 in 30 days");
}

Test(reasons, categories_and_imported_numbers)
{
    char s[CHURN_REASON_TEXT_MAX];
    cr_assert_str_eq(churn_reason_category_text("plan", "Plan", "basic", s, sizeof(s)),
                     "On the basic plan");
    cr_assert_str_eq(churn_reason_category_text("segment", NULL, "smb", s, sizeof(s)),
                     "In the smb segment");
    cr_assert_str_eq(churn_reason_category_text("country", "Country", "DE", s, sizeof(s)),
                     "Based in DE");
    cr_assert_str_eq(churn_reason_category_text("plan", "Plan", "", s, sizeof(s)), "Plan unknown");
    cr_assert_str_eq(
        churn_reason_category_text("attr.industry", "Industry", "retail", s, sizeof(s)),
        "Industry: retail");
    cr_assert_str_eq(churn_reason_category_text("attr.industry", NULL, NULL, s, sizeof(s)),
                     "attr.industry unknown");
    cr_assert_str_eq(churn_reason_number_text("Seats", 12, s, sizeof(s)), "Seats: 12");
    cr_assert_str_eq(churn_reason_number_text("Seats", NAN, s, sizeof(s)), "Seats: no data");
}

Test(reasons, what_moved_in_the_feature_unit)
{
    char s[CHURN_REASON_TEXT_MAX];
    cr_assert_str_eq(churn_reason_moved_text(CHURN_FEAT_LOGINS_30D, 14, 2, s, sizeof(s)),
                     "Logins in the last 30 days fell from 14 to 2");
    cr_assert_str_eq(churn_reason_moved_text(CHURN_FEAT_SPEND_90D, 10, 12.5, s, sizeof(s)),
                     "Spend in the last 90 days rose from 10.00 to 12.50");
    cr_assert_str_eq(churn_reason_moved_text(CHURN_FEAT_LOGIN_DECLINE_30D, 0.1, 0.85, s, 99),
                     "Decline in logins rose from 10% to 85%");
    cr_assert_str_eq(churn_reason_moved_text(CHURN_FEAT_TENURE_DAYS, 40, 40.001, s, sizeof(s)),
                     "Tenure unchanged at 40");
    cr_assert_str_eq(churn_reason_moved_text(CHURN_FEAT_AVG_RATING_90D, NAN, 2, s, sizeof(s)),
                     "Average rating in the last 90 days is now 2");
    cr_assert_str_eq(churn_reason_moved_text(CHURN_FEAT_AVG_RATING_90D, 4.5, NAN, s, sizeof(s)),
                     "Average rating in the last 90 days was 4.5");
    cr_assert_str_eq(churn_reason_moved_text(CHURN_FEAT_AVG_RATING_90D, NAN, NAN, s, sizeof(s)),
                     "Average rating in the last 90 days: no value to compare");
    cr_assert_str_eq(churn_reason_moved_text(-1, 1, 2, s, sizeof(s)), "Unknown feature");
}

Test(reasons, every_sentence_is_words_for_any_value)
{
    const double values[] = {NAN, 0, 1, 2, 0.5, 37.25, -1, -0.3};
    for (size_t k = 0; k < sizeof(values) / sizeof(values[0]); k++) {
        for (int i = 0; i < CHURN_FEAT__COUNT; i++)
            vec.values[i] = values[k];
        for (int f = 0; f < CHURN_FEAT__COUNT; f++) {
            for (int sign = -1; sign <= 1; sign++) {
                const char *t = say(f, sign);
                cr_assert((t[0] >= 'A' && t[0] <= 'Z') || (t[0] >= '0' && t[0] <= '9') ||
                              t[0] == '-',
                          "feature %d value %g: '%s'", f, values[k], t);
                cr_assert(!strstr(t, "nan") && !strstr(t, "inf") && !strstr(t, "log-odds") &&
                              !strstr(t, "(null)"),
                          "feature %d value %g: '%s'", f, values[k], t);
            }
            char s[CHURN_REASON_TEXT_MAX];
            const char *m = churn_reason_moved_text(f, values[k], 2 * values[k], s, sizeof(s));
            cr_assert(!strstr(m, "nan") && !strstr(m, "(null)"), "moved %d: '%s'", f, m);
        }
    }
}

Test(reasons, every_catalogue_feature_has_its_own_sentence)
{
    /* a feature added to the catalogue without a row in the table gets the generic
     * "<label>: <value>": this test names it */
    const struct churn_feature_info *cat = churn_features_catalogue();
    for (int f = 0; f < CHURN_FEAT__COUNT; f++) {
        for (int i = 0; i < CHURN_FEAT__COUNT; i++)
            vec.values[i] = 2;
        char generic[CHURN_REASON_TEXT_MAX];
        snprintf(generic, sizeof(generic), "%s: ", cat[f].label);
        cr_assert(strncmp(say(f, 1), generic, strlen(generic)) != 0,
                  "%s has no sentence of its own: '%s'", cat[f].name, text);
    }
}

Test(reasons, a_small_buffer_cuts_the_sentence)
{
    char s[8] = "xxxxxxx";
    SET(DAYS_SINCE_LAST_ACTIVITY, 23);
    churn_reason_feature_text(CHURN_FEAT_DAYS_SINCE_LAST_ACTIVITY, &vec, &rec, 1, s, sizeof(s));
    cr_assert_str_eq(s, "No acti");
    churn_reason_feature_text(CHURN_FEAT_DAYS_SINCE_LAST_ACTIVITY, &vec, &rec, 1, s, 0);
    cr_assert_str_eq(s, "No acti", "a zero-size buffer is not touched");
    cr_assert_str_eq(churn_reason_feature_text(CHURN_FEAT__COUNT, &vec, &rec, 1, text, 99),
                     "Unknown feature");
}
