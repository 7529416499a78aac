/*
 * churn/timeline.h - a customer's history as the store keeps it, newest first and paged (the
 * dashboard's events timeline, issue 15): one entry per day and event kind from the record's
 * day buckets (logins, orders with their spend, tickets, reviews with their average rating,
 * listings), the day's chat signals (escalations, churn intents, highest dissatisfaction),
 * the remembered plan changes, the explicit churn event and the first event, and one entry
 * per revision of the customer's alerts (raised, updated, acknowledged, snoozed, woken,
 * closed, outcome recorded, action called: every change the alert log recorded, at the
 * moment of the change). Lifetime totals come with every page.
 * Domain types only: building is pure; listing reads the store (the alert log through its
 * per-customer index).
 */
#ifndef CHURN_TIMELINE_H
#define CHURN_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "churn/alerts.h"
#include "churn/customer.h"
#include "churn/error.h"

struct churn_store;

/* A page holds at most this many entries (a larger limit is refused, not capped). */
#define CHURN_TIMELINE_LIMIT_MAX 500
/* The customer's newest alert revisions (log records) listed, at most. */
#define CHURN_TIMELINE_REVISIONS_MAX 2000
/* Entries per day bucket (event kinds and chat signals), at most. */
#define CHURN_TIMELINE_DAY_KINDS 13
/* Entries one record and @n alert revisions can produce, at most. */
#define CHURN_TIMELINE_ENTRIES_MAX(n)                                                              \
    ((size_t)CHURN_DAYS_MAX * CHURN_TIMELINE_DAY_KINDS + CHURN_PLAN_HISTORY_MAX + 2 + (size_t)(n))

enum churn_timeline_kind {
    CHURN_TIMELINE_ACTIVITY = 1, /* one day's count of one event kind */
    CHURN_TIMELINE_CHAT,         /* one day's chat signal */
    CHURN_TIMELINE_PLAN,         /* a plan change */
    CHURN_TIMELINE_CHURN,        /* the explicit churn event (the latest) */
    CHURN_TIMELINE_FIRST_SEEN,   /* the customer's first event */
    CHURN_TIMELINE_ALERT,        /* a moment of an alert's life */
};

/*
 * struct churn_timeline_entry - one line of the timeline. @what is a static word:
 * ACTIVITY "logins", "sessions", "orders_completed", "orders_cancelled", "orders_refunded",
 * "tickets_opened", "tickets_resolved", "reviews", "reviews_negative", "listings"; CHAT
 * "escalations", "churn_intents", "dissatisfaction"; PLAN "upgrade", "downgrade", "cancel",
 * "change"; CHURN "churned"; FIRST_SEEN "first_seen"; ALERT "raised", "updated",
 * "acknowledged", "snoozed", "closed", "outcome", "action_called".
 */
struct churn_timeline_entry {
    uint64_t key;  /* the order (newest first: key descending) and the page cursor */
    int64_t at_ms; /* when; the UTC day's start for ACTIVITY and CHAT */
    enum churn_timeline_kind kind;
    const char *what;
    /* ACTIVITY and CHAT: the day's count (listings: the count reported; dissatisfaction: the
     * day's highest, 0..1); PLAN: the monthly value after; ALERT: the alert's probability */
    double count;
    /* ACTIVITY: orders_completed the day's net spend, sessions their minutes, reviews the
     * average rating; ALERT "outcome": the revenue recorded; NaN otherwise */
    double amount;
    uint64_t alert_id; /* ALERT: the alert (the sequence of its first revision); else 0 */
    uint32_t revision; /* ALERT: the revision this entry is (its change); else 0 */
    char detail[160];  /* ALERT: cause, then status, actor, resolution or outcome; PLAN: the
                        * plan after; CHURN: the reason; "" otherwise (truncated, UTF-8 kept
                        * whole) */
};

/**
 * churn_timeline_build() - every entry of @rec and @alerts (@n_alerts revisions of the
 * record's customer's alerts, one entry each at its change's moment; other customers'
 * are skipped) into @out (room for @cap;
 * CHURN_TIMELINE_ENTRIES_MAX(@n_alerts) is always enough), sorted newest first. Pure.
 * Return: how many were written (at most @cap: the newest are kept).
 */
size_t churn_timeline_build(const struct churn_customer *rec, const struct churn_alert *alerts,
                            size_t n_alerts, struct churn_timeline_entry *out, size_t cap);

/* One page of a customer's timeline and what stays the same across pages. */
struct churn_timeline_page {
    struct churn_timeline_entry *entries; /* owned: churn_timeline_page_free() */
    size_t n;
    size_t total;  /* entries in the whole timeline */
    uint64_t next; /* the cursor of the next page (its @before); 0 when this is the last */
    struct churn_lifetime life;
    int64_t first_seen_ms, last_seen_ms, churned_at_ms;
    uint32_t open_tickets;
    unsigned days_held; /* day buckets the store keeps for the customer */
};

/**
 * churn_timeline_list() - the entries of @customer_id's timeline older than cursor @before
 * (0: from the newest), at most @limit (1..CHURN_TIMELINE_LIMIT_MAX), into @out (OUT; free
 * with churn_timeline_page_free()), with one entry per revision of the customer's newest
 * CHURN_TIMELINE_REVISIONS_MAX alert records. Errors name the culprit in @msg: CHURN_EINVAL (limit
 * out of range), CHURN_ENOTFOUND (no such customer), CHURN_ENOMEM, or the store's error. @out
 * untouched on error.
 */
enum churn_err churn_timeline_list(struct churn_store *store, const char *customer_id,
                                   uint64_t before, size_t limit, struct churn_timeline_page *out,
                                   char *msg, size_t msglen);

/** churn_timeline_page_free() - free @page's entries (a zeroed page is fine). */
void churn_timeline_page_free(struct churn_timeline_page *page);

#endif
