/*
 * churn/alerts_index.h - an in-memory index of the current revision of every alert in the
 * log: what ListAlerts needs to filter and order alerts (cause, status, tiers, priority,
 * creation time, hashes of the customer and owner) without reading the log. The alert engine
 * fills it once from the log at start and then with every revision it commits, in sequence
 * order; a privacy erase removes a customer's alerts. Readers take the first k entries of a
 * selection in one of the three ListAlerts orders, in O(n log k), under a read lock, so
 * listing costs the same at 10,000 and at 1,000,000 alerts per entry scanned and never needs
 * memory for more than k entries. Thread-safe.
 */
#ifndef CHURN_ALERTS_INDEX_H
#define CHURN_ALERTS_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/alerts.h"
#include "churn/error.h"

/* One alert as the index keeps it: its latest revision's fields. */
struct churn_alert_index_entry {
    uint64_t id;  /* the alert (the sequence of its first revision) */
    uint64_t seq; /* its latest revision */
    double priority;
    int64_t created_ms;
    uint64_t customer_hash; /* churn_fnv1a64_str(customer_id): a candidate test only */
    uint64_t owner_hash;    /* churn_fnv1a64_str(owner) */
    uint8_t cause, status, risk_tier, value_tier;
};

enum churn_alert_index_order {
    CHURN_ALERT_INDEX_PRIORITY, /* priority descending, then latest revision descending */
    CHURN_ALERT_INDEX_OLDEST,   /* id ascending */
    CHURN_ALERT_INDEX_NEWEST,   /* latest revision descending */
};

struct churn_alert_index;

/** churn_alert_index_create() - an empty index. CHURN_ENOMEM. */
enum churn_err churn_alert_index_create(struct churn_alert_index **out);

/** churn_alert_index_destroy() - free @ix (NULL is fine). */
void churn_alert_index_destroy(struct churn_alert_index *ix);

/**
 * churn_alert_index_put() - record revision @seq of alert @a (@a->id names the alert): a new
 * entry, or the existing one replaced when @seq is newer than what it holds (an older
 * revision is ignored). The index's head becomes @seq if that is higher. CHURN_ENOMEM.
 */
enum churn_err churn_alert_index_put(struct churn_alert_index *ix, uint64_t seq,
                                     const struct churn_alert *a);

/**
 * churn_alert_index_forget_customer() - remove every alert of @customer_id (matched by its
 * hash; see struct churn_alert_index_entry). Returns how many were removed.
 */
size_t churn_alert_index_forget_customer(struct churn_alert_index *ix, const char *customer_id);

/** churn_alert_index_count() - alerts in the index. */
size_t churn_alert_index_count(struct churn_alert_index *ix);

/** churn_alert_index_head() - the highest revision put so far (0: none). */
uint64_t churn_alert_index_head(struct churn_alert_index *ix);

/**
 * typedef churn_alert_index_accept_fn - whether @e belongs to the selection; called under the
 * index's read lock (it must not call the index).
 */
typedef bool churn_alert_index_accept_fn(const struct churn_alert_index_entry *e, void *user);

/**
 * churn_alert_index_select() - the first @k accepted entries in @order, copied to @out (room
 * for @k) in that order, all consistent with one head (*@head, may be NULL). Returns how many
 * were copied (at most @k); *@accepted (may be NULL) is how many entries were accepted in all.
 */
size_t churn_alert_index_select(struct churn_alert_index *ix, enum churn_alert_index_order order,
                                churn_alert_index_accept_fn *accept, void *user, size_t k,
                                struct churn_alert_index_entry *out, size_t *accepted,
                                uint64_t *head);

/**
 * churn_alert_index_before() - whether @a comes before @b in @order (the order select uses;
 * also what a page cursor compares with).
 */
bool churn_alert_index_before(enum churn_alert_index_order order,
                              const struct churn_alert_index_entry *a,
                              const struct churn_alert_index_entry *b);

#endif
