/*
 * features.c - point-in-time feature extraction from one decoded customer record (pure: no
 * allocation, no I/O, no clock) and the feature catalogue. One backwards pass over the day
 * buckets fills every windowed counter; buckets after as_of's day are summed separately to
 * roll lifetime totals and open tickets back to as_of, so a later event never changes a
 * feature computed at an earlier as_of. See churn/features.h for the contract and
 * docs/FEATURES.md for the list.
 */
#include "churn/features.h"

#include <math.h>
#include <string.h>

#include "churn/clock.h"

static const struct churn_feature_info catalogue[CHURN_FEAT__COUNT] = {
#define CHURN__FEAT_INFO(id, n, l, d, u, w, s, m)                                                  \
    [CHURN_FEAT_##id] = {.name = n,                                                                \
                         .label = l,                                                               \
                         .description = d,                                                         \
                         .unit = u,                                                                \
                         .window_days = w,                                                         \
                         .source = s,                                                              \
                         .monotone = m},
    CHURN_FEATURES(CHURN__FEAT_INFO)
#undef CHURN__FEAT_INFO
};

const struct churn_feature_info *
churn_features_catalogue(void)
{
    return catalogue;
}

int
churn_features_find(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < CHURN_FEAT__COUNT; i++) {
        if (strcmp(catalogue[i].name, name) == 0)
            return i;
    }
    return -1;
}

int
churn_features_monotone(const char *name)
{
    int i = churn_features_find(name);
    return i < 0 ? 0 : catalogue[i].monotone;
}

int64_t
churn_features_day_end(int64_t ms)
{
    return churn_day_end_ms(churn_day_of_ms(ms));
}

/* (before - after) / max(before, after, 1): 1 = everything stopped, -1 = everything is new. */
static double
decline(double before, double after)
{
    double d = before > after ? before : after;
    if (d < 1)
        d = 1;
    return (before - after) / d;
}

static double
ratio(double num, double den)
{
    return den > 0 ? num / den : NAN;
}

static bool
day_active(const struct churn_day *d)
{
    return d->logins || d->sessions || d->orders_completed || d->orders_cancelled ||
           d->orders_refunded || d->reviews || d->listings >= 0;
}

/* The first day of @rec's history that the day buckets observe: the later of the customer's
 * first day (signup, else first event) and @history_from_ms's day; INT32_MIN when neither is
 * known. */
static int32_t
observed_from_day(const struct churn_customer *rec, int64_t history_from_ms)
{
    int32_t from = INT32_MIN;
    int64_t start = rec->attrs.signup_ms > 0 ? rec->attrs.signup_ms : rec->first_seen_ms;
    if (start > 0)
        from = churn_day_of_ms(start);
    if (history_from_ms > 0 && churn_day_of_ms(history_from_ms) > from)
        from = churn_day_of_ms(history_from_ms);
    return from;
}

/*
 * A count over the days of ages [lo, hi) before as_of's day @D, of which only the days from
 * @from on were observed: the count itself when the whole window was observed, scaled to the
 * window's width when at least a third of it was, else unknown (NaN) - never zero activity
 * for days nobody saw.
 */
static double
window_count(double count, int32_t D, int lo, int hi, int32_t from)
{
    int64_t seen = (int64_t)D - lo - from + 1;
    int width = hi - lo;
    if (from == INT32_MIN || seen >= width)
        return count;
    if (seen * 3 < width)
        return NAN;
    return count * width / (double)seen;
}

enum churn_err
churn_features_extract(const struct churn_customer *rec, int64_t as_of_ms,
                       struct churn_feature_vector *out)
{
    return churn_features_extract_observed(rec, as_of_ms, 0, out);
}

enum churn_err
churn_features_extract_observed(const struct churn_customer *rec, int64_t as_of_ms,
                                int64_t history_from_ms, struct churn_feature_vector *out)
{
    if (as_of_ms <= 0 || as_of_ms > CHURN_FEATURES_AS_OF_MAX || history_from_ms < 0)
        return CHURN_EINVAL;

    const int32_t D = churn_day_of_ms(as_of_ms);
    const int32_t from = observed_from_day(rec, history_from_ms);
    double logins30 = 0, logins_prev30 = 0, active30 = 0, active90 = 0, minutes30 = 0;
    double orders90 = 0, orders_prev90 = 0, spend90 = 0, cancelled90 = 0, refunded90 = 0;
    double reviews90 = 0, rating90 = 0, neg90 = 0, reviews_prev90 = 0, neg_prev90 = 0;
    double tickets30 = 0, tickets_prev30 = 0, tickets90 = 0, logins7 = 0, active7 = 0;
    double esc30 = 0, esc90 = 0, intent30 = 0, intent90 = 0;
    double logins90 = 0, sessions30 = 0, sessions7 = 0, minutes7 = 0, orders30 = 0, spend30 = 0;
    double chat_days30 = 0, chat_days90 = 0;
    double logins61_90 = 0, active14 = 0, minutes90 = 0, min_rating90 = NAN, chat_max30 = NAN;
    double chat = NAN;
    double after_orders = 0, after_spend = 0, after_reviews = 0, after_rating = 0;
    double after_opened = 0, after_resolved = 0;
    int32_t last_active_day = INT32_MIN, last_order_day = INT32_MIN, latest_day = INT32_MIN;
    int32_t listings_now = -1, listings_then = -1;

    for (unsigned i = rec->n_days; i-- > 0;) {
        const struct churn_day *d = &rec->days[i];
        if (d->day > D) {
            after_orders += d->orders_completed;
            after_spend += d->spend;
            after_reviews += d->reviews;
            after_rating += d->rating_sum;
            after_opened += d->tickets_opened;
            after_resolved += d->tickets_resolved;
            continue;
        }
        if (from != INT32_MIN && d->day < from)
            break;                /* not observed: ignored like days the store no longer keeps */
        int32_t age = D - d->day; /* 0 = as_of's day */
        if (latest_day == INT32_MIN)
            latest_day = d->day;
        bool active = day_active(d);
        if (active && last_active_day == INT32_MIN)
            last_active_day = d->day;
        if (d->orders_completed && last_order_day == INT32_MIN)
            last_order_day = d->day;
        if (d->listings >= 0) {
            if (listings_now < 0)
                listings_now = d->listings;
            if (age >= 30 && listings_then < 0)
                listings_then = d->listings;
        }
        if (!isnan(d->chat_dissatisfaction)) {
            double v = d->chat_dissatisfaction * pow(0.5, age / CHURN_FEATURES_CHAT_HALF_LIFE_DAYS);
            if (isnan(chat) || v > chat)
                chat = v;
        }
        if (age < 14)
            active14 += active;
        if (age < 7) {
            logins7 += d->logins;
            active7 += active;
            sessions7 += d->sessions;
            minutes7 += d->session_minutes;
        }
        if (age < 30) {
            logins30 += d->logins;
            active30 += active;
            minutes30 += d->session_minutes;
            sessions30 += d->sessions;
            orders30 += d->orders_completed;
            spend30 += d->spend;
            chat_days30 += !isnan(d->chat_dissatisfaction);
            if (!isnan(d->chat_dissatisfaction) &&
                (isnan(chat_max30) || d->chat_dissatisfaction > chat_max30))
                chat_max30 = d->chat_dissatisfaction;
            tickets30 += d->tickets_opened;
            esc30 += d->escalations;
            intent30 += d->churn_intents;
        } else if (age < 60) {
            logins_prev30 += d->logins;
            tickets_prev30 += d->tickets_opened;
        }
        if (age < 90) {
            active90 += active;
            orders90 += d->orders_completed;
            spend90 += d->spend;
            cancelled90 += d->orders_cancelled;
            refunded90 += d->orders_refunded;
            reviews90 += d->reviews;
            rating90 += d->rating_sum;
            neg90 += d->reviews_negative;
            esc90 += d->escalations;
            intent90 += d->churn_intents;
            tickets90 += d->tickets_opened;
            logins90 += d->logins;
            chat_days90 += !isnan(d->chat_dissatisfaction);
            minutes90 += d->session_minutes;
            logins61_90 += age >= 60 ? d->logins : 0;
            double day_rating = ratio(d->rating_sum, d->reviews);
            if (!isnan(day_rating) && (isnan(min_rating90) || day_rating < min_rating90))
                min_rating90 = day_rating;
        } else if (age < 180) {
            orders_prev90 += d->orders_completed;
            reviews_prev90 += d->reviews;
            neg_prev90 += d->reviews_negative;
        }
    }

    /* windows that reach before the observed history are scaled to it, or unknown (ratios
     * within one window need no scaling) */
    double reviews90_seen = window_count(reviews90, D, 0, 90, from);
    double cancelled_refunded90 = cancelled90 + refunded90;
    double avg_session30 = ratio(minutes30, sessions30), avg_session7 = ratio(minutes7, sessions7);
#define W(x, lo, hi) x = window_count(x, D, lo, hi, from)
    W(logins30, 0, 30), W(active30, 0, 30), W(minutes30, 0, 30), W(tickets30, 0, 30);
    W(esc30, 0, 30), W(intent30, 0, 30), W(logins_prev30, 30, 60), W(tickets_prev30, 30, 60);
    W(active90, 0, 90), W(esc90, 0, 90), W(intent90, 0, 90), W(orders_prev90, 90, 180);
    W(logins7, 0, 7), W(active7, 0, 7), W(tickets90, 0, 90);
    W(logins90, 0, 90), W(orders30, 0, 30), W(spend30, 0, 30), W(chat_days30, 0, 30);
    W(chat_days90, 0, 90);
    W(logins61_90, 60, 90), W(active14, 0, 14), W(minutes90, 0, 90);
#undef W
    double orders90_seen = window_count(orders90, D, 0, 90, from);
    double spend90_seen = window_count(spend90, D, 0, 90, from);

    double *v = out->values;
    v[CHURN_FEAT_LOGINS_30D] = logins30;
    v[CHURN_FEAT_LOGINS_PREV_30D] = logins_prev30;
    v[CHURN_FEAT_LOGIN_DECLINE_30D] = decline(logins_prev30, logins30);
    v[CHURN_FEAT_ACTIVE_DAYS_30D] = active30;
    v[CHURN_FEAT_ACTIVE_DAYS_90D] = active90;
    v[CHURN_FEAT_SESSION_MINUTES_30D] = minutes30;

    if (last_active_day != INT32_MIN)
        v[CHURN_FEAT_DAYS_SINCE_LAST_ACTIVITY] = D - last_active_day;
    else if (rec->last_active_ms > 0 && rec->last_active_ms <= as_of_ms)
        v[CHURN_FEAT_DAYS_SINCE_LAST_ACTIVITY] =
            (double)D - (double)churn_day_of_ms(rec->last_active_ms);
    else
        v[CHURN_FEAT_DAYS_SINCE_LAST_ACTIVITY] = NAN;

    v[CHURN_FEAT_ORDERS_90D] = orders90_seen;
    v[CHURN_FEAT_ORDERS_PREV_90D] = orders_prev90;
    v[CHURN_FEAT_ORDER_DECLINE_90D] = decline(orders_prev90, orders90_seen);
    v[CHURN_FEAT_SPEND_90D] = spend90_seen;
    v[CHURN_FEAT_AVG_ORDER_VALUE_90D] = ratio(spend90, orders90);
    v[CHURN_FEAT_CANCEL_REFUND_RATIO_90D] =
        ratio(cancelled_refunded90, orders90 + cancelled_refunded90);
    if (last_order_day != INT32_MIN)
        v[CHURN_FEAT_DAYS_SINCE_LAST_PURCHASE] = D - last_order_day;
    else if (rec->last_order_ms > 0 && rec->last_order_ms <= as_of_ms)
        v[CHURN_FEAT_DAYS_SINCE_LAST_PURCHASE] =
            (double)D - (double)churn_day_of_ms(rec->last_order_ms);
    else
        v[CHURN_FEAT_DAYS_SINCE_LAST_PURCHASE] = NAN;

    v[CHURN_FEAT_REVIEWS_90D] = reviews90_seen;
    v[CHURN_FEAT_AVG_RATING_90D] = ratio(rating90, reviews90);
    v[CHURN_FEAT_NEGATIVE_REVIEW_RATIO_90D] = ratio(neg90, reviews90);
    v[CHURN_FEAT_NEGATIVE_REVIEW_RATIO_PREV_90D] = ratio(neg_prev90, reviews_prev90);
    v[CHURN_FEAT_NEGATIVE_REVIEW_RISE] =
        v[CHURN_FEAT_NEGATIVE_REVIEW_RATIO_90D] - v[CHURN_FEAT_NEGATIVE_REVIEW_RATIO_PREV_90D];
    v[CHURN_FEAT_AVG_RATING_LIFETIME] = ratio((double)rec->life.rating_sum - after_rating,
                                              (double)rec->life.reviews - after_reviews);

    v[CHURN_FEAT_TICKETS_30D] = tickets30;
    v[CHURN_FEAT_TICKETS_PREV_30D] = tickets_prev30;
    v[CHURN_FEAT_TICKETS_90D] = tickets90;
    v[CHURN_FEAT_LOGINS_7D] = logins7;
    v[CHURN_FEAT_LOGINS_90D] = logins90;
    v[CHURN_FEAT_AVG_SESSION_MINUTES_30D] = avg_session30;
    v[CHURN_FEAT_AVG_SESSION_MINUTES_7D] = avg_session7;
    v[CHURN_FEAT_ORDERS_30D] = orders30;
    v[CHURN_FEAT_SPEND_30D] = spend30;
    v[CHURN_FEAT_CANCELLED_REFUNDED_90D] = window_count(cancelled_refunded90, D, 0, 90, from);
    v[CHURN_FEAT_NEGATIVE_REVIEWS_90D] = window_count(neg90, D, 0, 90, from);
    v[CHURN_FEAT_CHAT_DAYS_30D] = chat_days30;
    v[CHURN_FEAT_CHAT_DAYS_90D] = chat_days90;
    v[CHURN_FEAT_LOGINS_61_90D] = logins61_90;
    v[CHURN_FEAT_ACTIVE_DAYS_14D] = active14;
    v[CHURN_FEAT_SESSION_MINUTES_90D] = minutes90;
    v[CHURN_FEAT_MIN_RATING_90D] = min_rating90;
    v[CHURN_FEAT_CHAT_MAX_DISSATISFACTION_30D] = chat_max30;
    v[CHURN_FEAT_ACTIVE_DAYS_7D] = active7;
    v[CHURN_FEAT_TICKET_GROWTH_30D] = decline(tickets30, tickets_prev30); /* growth */
    double open = (double)rec->open_tickets - after_opened + after_resolved;
    v[CHURN_FEAT_OPEN_TICKETS] = open > 0 ? open : 0;

    v[CHURN_FEAT_CHAT_DISSATISFACTION] = chat;
    v[CHURN_FEAT_ESCALATIONS_30D] = esc30;
    v[CHURN_FEAT_ESCALATIONS_90D] = esc90;
    v[CHURN_FEAT_CHURN_INTENTS_30D] = intent30;
    v[CHURN_FEAT_CHURN_INTENTS_90D] = intent90;

    int64_t start = rec->attrs.signup_ms > 0 ? rec->attrs.signup_ms : rec->first_seen_ms;
    double tenure =
        start > 0 && start <= as_of_ms ? (double)(as_of_ms - start) / CHURN_MS_PER_DAY : NAN;
    double ltv = rec->life.spend - after_spend;
    double orders = (double)rec->life.orders_completed - after_orders;
    if (orders < 0)
        orders = 0;
    v[CHURN_FEAT_TENURE_DAYS] = tenure;
    v[CHURN_FEAT_LIFETIME_VALUE] = ltv;
    v[CHURN_FEAT_LIFETIME_ORDERS] = orders;
    double months = tenure / 30.0 > 1.0 ? tenure / 30.0 : 1.0;
    v[CHURN_FEAT_RFM_FREQUENCY] = isnan(tenure) ? NAN : orders / months;
    v[CHURN_FEAT_RFM_MONETARY] = isnan(tenure) ? NAN : ltv / months;

    double plan = rec->n_plan_changes ? rec->plan_base_value : rec->attrs.monthly_value;
    double downgrades = 0;
    for (unsigned i = 0; i < rec->n_plan_changes; i++) {
        const struct churn_plan_change *pc = &rec->plan_changes[i];
        if (pc->at_ms > as_of_ms)
            break;
        plan = pc->monthly_value;
        if (pc->action != CHURN_PLAN_UPGRADE && churn_day_of_ms(pc->at_ms) > D - 90)
            downgrades++;
    }
    v[CHURN_FEAT_PLAN_MONTHLY_VALUE] = plan;
    v[CHURN_FEAT_PLAN_DOWNGRADES_90D] = downgrades;

    if (rec->active_listings >= 0 && rec->listings_at_ms <= as_of_ms) {
        listings_now = rec->active_listings;
        if (churn_day_of_ms(rec->listings_at_ms) <= D - 30)
            listings_then = rec->active_listings;
    }
    v[CHURN_FEAT_ACTIVE_LISTINGS] = listings_now >= 0 ? listings_now : NAN;
    v[CHURN_FEAT_LISTINGS_CHANGE_30D] =
        listings_now >= 0 && listings_then >= 0 ? decline(listings_now, listings_then) : NAN;

    out->as_of_ms = as_of_ms;
    if (rec->last_seen_ms > 0 && rec->last_seen_ms <= as_of_ms) {
        out->data_as_of_ms = rec->last_seen_ms;
    } else if (latest_day != INT32_MIN) {
        int64_t end = churn_day_end_ms(latest_day);
        out->data_as_of_ms = end < as_of_ms ? end : as_of_ms;
    } else {
        out->data_as_of_ms = 0;
    }
    return CHURN_OK;
}

enum churn_err
churn_features_value(const struct churn_customer *rec, const struct churn_feature_vector *vec,
                     const char *name, double *out)
{
    if (!name)
        return CHURN_ENOTFOUND;
    int f = churn_features_find(name);
    if (f >= 0) {
        *out = vec->values[f];
        return CHURN_OK;
    }
    if (strncmp(name, "attr.", 5) != 0 || !name[5])
        return CHURN_ENOTFOUND;
    for (unsigned i = 0; i < rec->attrs.n_num; i++) {
        if (strcmp(rec->attrs.num[i].name, name + 5) == 0) {
            *out = rec->attrs.num[i].value;
            return CHURN_OK;
        }
    }
    *out = NAN;
    return CHURN_OK;
}

const char *
churn_features_category(const struct churn_customer *rec, const char *name)
{
    if (!name)
        return NULL;
    if (strcmp(name, "segment") == 0)
        return rec->attrs.segment;
    if (strcmp(name, "plan") == 0)
        return rec->attrs.plan;
    if (strcmp(name, "country") == 0)
        return rec->attrs.country;
    if (strncmp(name, "attr.", 5) != 0 || !name[5])
        return NULL;
    for (unsigned i = 0; i < rec->attrs.n_cat; i++) {
        if (strcmp(rec->attrs.cat[i].name, name + 5) == 0)
            return rec->attrs.cat[i].value;
    }
    return "";
}

int
churn_features_label(const struct churn_customer *rec, int64_t as_of_ms, int horizon_days,
                     int inactivity_days, int64_t observed_until_ms)
{
    if (as_of_ms <= 0 || as_of_ms > CHURN_FEATURES_AS_OF_MAX || horizon_days < 1 ||
        horizon_days > CHURN_HORIZON_DAYS_MAX || inactivity_days < 0 ||
        inactivity_days > CHURN_HORIZON_DAYS_MAX)
        return -1;
    int64_t end = as_of_ms + (int64_t)horizon_days * CHURN_MS_PER_DAY;
    int64_t start = rec->attrs.signup_ms > 0 ? rec->attrs.signup_ms : rec->first_seen_ms;
    if (start <= 0 || start > as_of_ms)
        return -1; /* not a customer yet */
    if (rec->churned_at_ms > 0 && rec->churned_at_ms <= as_of_ms)
        return -1; /* already gone */
    if (rec->churned_at_ms > as_of_ms && rec->churned_at_ms <= end)
        return 1;
    if (observed_until_ms < end)
        return -1; /* the window is not over */
    if (inactivity_days > 0) {
        int32_t quiet_from = churn_day_of_ms(end) - inactivity_days + 1;
        int32_t as_of_day = churn_day_of_ms(as_of_ms);
        bool active_before = false, active_late = false;
        for (unsigned i = 0; i < rec->n_days; i++) {
            const struct churn_day *d = &rec->days[i];
            if (!day_active(d) || d->day > churn_day_of_ms(end))
                continue;
            if (d->day <= as_of_day)
                active_before = true;
            if (d->day >= quiet_from)
                active_late = true;
        }
        if (!active_before && rec->last_active_ms > 0 && rec->last_active_ms <= as_of_ms)
            active_before = true;
        if (active_before && !active_late)
            return 1;
    }
    return 0;
}

/* Append @s as a quoted CSV field. */
static enum churn_err
csv_text(struct churn_buf *out, const char *s)
{
    enum churn_err err = churn_buf_append(out, "\"", 1);
    for (const char *p = s; !err && *p; p++)
        err = *p == '"' ? churn_buf_append(out, "\"\"", 2) : churn_buf_append(out, p, 1);
    return err ? err : churn_buf_append(out, "\"", 1);
}

enum churn_err
churn_features_csv_header(struct churn_buf *out)
{
    enum churn_err err = churn_buf_append_str(out, "customer_id,as_of_ms,segment,plan,country");
    for (int i = 0; i < CHURN_FEAT__COUNT && !err; i++)
        err = churn_buf_printf(out, ",%s", catalogue[i].name);
    return err ? err : churn_buf_append_str(out, ",churned\n");
}

enum churn_err
churn_features_csv_row(const struct churn_customer *rec, const struct churn_feature_vector *vec,
                       int label, struct churn_buf *out)
{
    if (label != 0 && label != 1)
        return CHURN_EINVAL;
    size_t before = out->len;
    enum churn_err err = csv_text(out, rec->id);
    if (!err)
        err = churn_buf_printf(out, ",%lld,", (long long)vec->as_of_ms);
    if (!err)
        err = csv_text(out, rec->attrs.segment);
    if (!err)
        err = churn_buf_append(out, ",", 1);
    if (!err)
        err = csv_text(out, churn_features_plan_at(rec, vec->as_of_ms));
    if (!err)
        err = churn_buf_append(out, ",", 1);
    if (!err)
        err = csv_text(out, rec->attrs.country);
    for (int i = 0; i < CHURN_FEAT__COUNT && !err; i++) {
        double v = vec->values[i];
        err = isnan(v) ? churn_buf_append(out, ",", 1) : churn_buf_printf(out, ",%.10g", v);
    }
    if (!err)
        err = churn_buf_printf(out, ",%d\n", label);
    if (err)
        churn_buf_truncate(out, before);
    return err;
}

const char *
churn_features_plan_at(const struct churn_customer *rec, int64_t as_of_ms)
{
    if (!rec->n_plan_changes)
        return rec->attrs.plan;
    const char *plan = rec->plan_base;
    for (unsigned i = 0; i < rec->n_plan_changes && rec->plan_changes[i].at_ms <= as_of_ms; i++) {
        if (rec->plan_changes[i].plan[0])
            plan = rec->plan_changes[i].plan;
    }
    return plan;
}
