/*
 * churn/customer.h - what churnd knows of one customer, as the store keeps it and the features
 * read it: attributes, lifetime totals, the plan history and one bucket of activity per UTC
 * day of the retention horizon. Below both the store (which encodes and decodes it) and the
 * features (pure functions of it), so neither depends on the other for its shape.
 */
#ifndef CHURN_CUSTOMER_H
#define CHURN_CUSTOMER_H

#include <stdint.h>

#include "churn/event.h"

#define CHURN_HORIZON_DAYS_DEFAULT 180
#define CHURN_HORIZON_DAYS_MAX     400
/* Day buckets a record can hold: the horizon plus today and one day of future skew. */
#define CHURN_DAYS_MAX (CHURN_HORIZON_DAYS_MAX + 2)
/* Plan changes remembered per customer (oldest dropped first). */
#define CHURN_PLAN_HISTORY_MAX 16

/*
 * struct churn_day - one UTC day of a customer's activity. Counters saturate at 65535.
 * chat_dissatisfaction is the day's highest conversation dissatisfaction (NaN: no chat);
 * listings is the last active-listings count reported that day (-1: none). spend is net:
 * completed order amounts minus refunded amounts.
 */
struct churn_day {
    int32_t day; /* days since 1970-01-01 UTC */
    uint16_t logins;
    uint16_t sessions;
    float session_minutes;
    uint16_t orders_completed;
    uint16_t orders_cancelled;
    uint16_t orders_refunded;
    uint16_t tickets_opened;
    uint16_t tickets_resolved;
    uint16_t reviews;
    uint16_t rating_sum;
    uint16_t reviews_negative; /* rating <= 2, or sentiment <= -0.5 */
    uint16_t escalations;
    uint16_t churn_intents;
    float chat_dissatisfaction;
    int32_t listings;
    double spend;
};

/* struct churn_lifetime - totals over every event ever applied, inside the horizon or not. */
struct churn_lifetime {
    uint64_t events;
    uint32_t logins;
    uint32_t sessions;
    uint32_t orders_completed;
    uint32_t orders_cancelled;
    uint32_t orders_refunded;
    uint32_t tickets_opened;
    uint32_t tickets_resolved;
    uint32_t reviews;
    uint32_t reviews_negative;
    uint32_t escalations;
    uint32_t churn_intents;
    uint64_t rating_sum;
    double session_minutes;
    double spend; /* net */
};

struct churn_plan_change {
    int64_t at_ms;
    enum churn_plan_action action;
    double monthly_value;          /* after the change */
    char plan[CHURN_NAME_MAX + 1]; /* after the change ("": unchanged name) */
};

/*
 * struct churn_customer - a decoded customer record. About 26 KiB: allocate one per thread
 * (or in an arena) and reuse it; decoding touches only the parts in use.
 */
struct churn_customer {
    char id[CHURN_ID_MAX + 1];
    struct churn_customer_attrs attrs; /* attrs.plan/monthly_value follow plan changes */
    int64_t first_seen_ms;             /* first event of any kind (0: none) */
    int64_t last_seen_ms;              /* last event of any kind (0: none) */
    int64_t last_active_ms;            /* last login, session, order, listing or review */
    int64_t last_order_ms;             /* last completed order */
    int64_t churned_at_ms;             /* last explicit churn event (0: not churned) */
    int64_t updated_at_ms;             /* when the record was last written */
    char churn_reason[CHURN_NAME_MAX + 1];
    uint32_t open_tickets;   /* opened minus resolved, never below 0 */
    int32_t active_listings; /* latest report (-1: never reported) */
    int64_t listings_at_ms;
    struct churn_lifetime life;
    /* The plan before the oldest remembered change (for point-in-time plan features). */
    double plan_base_value; /* NaN: unknown */
    char plan_base[CHURN_NAME_MAX + 1];
    unsigned n_plan_changes; /* oldest first */
    struct churn_plan_change plan_changes[CHURN_PLAN_HISTORY_MAX];
    unsigned n_days; /* ascending by day, no duplicates */
    struct churn_day days[CHURN_DAYS_MAX];
};

#endif
