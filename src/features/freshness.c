/*
 * features/freshness.c - when each event source (activity, orders, support, reviews, chat,
 * listings) last reported for a customer as of a time, from the record's day buckets, and
 * whether a source went stale. Pure: the score and GetCustomer report it the same way.
 */
#include "churn/features.h"

#include <math.h>
#include <string.h>

#include "churn/clock.h"

const char *
churn_features_source_name(enum churn_source s)
{
    static const char *const names[CHURN_SRC__COUNT] = {
        [CHURN_SRC_ACTIVITY] = "activity", [CHURN_SRC_ORDERS] = "orders",
        [CHURN_SRC_SUPPORT] = "support",   [CHURN_SRC_REVIEWS] = "reviews",
        [CHURN_SRC_CHAT] = "chat",         [CHURN_SRC_LISTINGS] = "listings",
    };
    return s >= 0 && s < CHURN_SRC__COUNT ? names[s] : "unspecified";
}

void
churn_features_freshness(const struct churn_customer *rec, int64_t as_of_ms,
                         struct churn_freshness *out)
{
    memset(out, 0, sizeof(*out));
    out->last_event_ms = rec->last_seen_ms <= as_of_ms ? rec->last_seen_ms : as_of_ms;
    int32_t as_of_day = churn_day_of_ms(as_of_ms);
    for (unsigned i = 0; i < rec->n_days; i++) {
        const struct churn_day *d = &rec->days[i];
        if (d->day > as_of_day)
            break;
        int64_t end = ((int64_t)d->day + 1) * CHURN_MS_PER_DAY - 1;
        if (end > as_of_ms)
            end = as_of_ms;
        if (rec->last_seen_ms > 0 && end > rec->last_seen_ms)
            end = rec->last_seen_ms; /* never later than the newest event */
        if (d->logins || d->sessions)
            out->at[CHURN_SRC_ACTIVITY] = end;
        if (d->orders_completed || d->orders_cancelled || d->orders_refunded)
            out->at[CHURN_SRC_ORDERS] = end;
        if (d->tickets_opened || d->tickets_resolved)
            out->at[CHURN_SRC_SUPPORT] = end;
        if (d->reviews)
            out->at[CHURN_SRC_REVIEWS] = end;
        if (!isnan(d->chat_dissatisfaction) || d->escalations || d->churn_intents)
            out->at[CHURN_SRC_CHAT] = end;
        if (d->listings >= 0)
            out->at[CHURN_SRC_LISTINGS] = end;
    }
}

bool
churn_features_source_stale(const struct churn_freshness *f, enum churn_source s, int64_t as_of_ms)
{
    return f->at[s] > 0 && as_of_ms - f->at[s] > CHURN_SOURCE_STALE_AFTER_MS;
}
