/*
 * freshness.c - how recent a customer's inputs are: the last day each source of events
 * (activity, orders, support, reviews, chat, listings) reported in the record's day buckets,
 * as of an instant, and which of them have gone quiet for longer than the stale limit. A pure
 * function of the record, like every feature; the service only turns it into its message.
 */
#include "churn/features.h"

#include <math.h>
#include <string.h>

#include "churn/clock.h"

void
churn_features_freshness(const struct churn_customer *rec, int64_t as_of_ms,
                         struct churn_freshness *out)
{
    memset(out, 0, sizeof(*out));
    int64_t *at = out->at;
    int32_t as_of_day = churn_day_of_ms(as_of_ms);
    for (unsigned i = 0; i < rec->n_days; i++) {
        const struct churn_day *d = &rec->days[i];
        if (d->day > as_of_day)
            break;
        int64_t end = churn_day_end_ms(d->day);
        if (end > as_of_ms)
            end = as_of_ms;
        if (rec->last_seen_ms > 0 && end > rec->last_seen_ms)
            end = rec->last_seen_ms; /* never later than the newest event */
        if (d->logins || d->sessions)
            at[CHURN_SOURCE_ACTIVITY] = end;
        if (d->orders_completed || d->orders_cancelled || d->orders_refunded)
            at[CHURN_SOURCE_ORDERS] = end;
        if (d->tickets_opened || d->tickets_resolved)
            at[CHURN_SOURCE_SUPPORT] = end;
        if (d->reviews)
            at[CHURN_SOURCE_REVIEWS] = end;
        if (!isnan(d->chat_dissatisfaction) || d->escalations || d->churn_intents)
            at[CHURN_SOURCE_CHAT] = end;
        if (d->listings >= 0)
            at[CHURN_SOURCE_LISTINGS] = end;
    }
    out->last_event_ms = rec->last_seen_ms <= as_of_ms ? rec->last_seen_ms : as_of_ms;
    for (int s = 0; s < CHURN_SOURCE_COUNT; s++) {
        out->stale[s] = at[s] > 0 && as_of_ms - at[s] > CHURN_SOURCE_STALE_AFTER_MS;
        out->n_stale += out->stale[s];
    }
}

const char *
churn_features_source_name(enum churn_source s)
{
    static const char *const names[CHURN_SOURCE_COUNT] = {
        [CHURN_SOURCE_ACTIVITY] = "activity", [CHURN_SOURCE_ORDERS] = "orders",
        [CHURN_SOURCE_SUPPORT] = "support",   [CHURN_SOURCE_REVIEWS] = "reviews",
        [CHURN_SOURCE_CHAT] = "chat",         [CHURN_SOURCE_LISTINGS] = "listings",
    };
    return s >= 0 && s < CHURN_SOURCE_COUNT ? names[s] : "unspecified";
}

bool
churn_features_source_stale(const struct churn_freshness *f, enum churn_source s, int64_t as_of_ms)
{
    return f->at[s] > 0 && as_of_ms - f->at[s] > CHURN_SOURCE_STALE_AFTER_MS;
}
