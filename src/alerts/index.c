/*
 * index.c - the in-memory index of current alert revisions (see churn/alerts_index.h): a
 * dense array of entries plus an open-addressing table from alert id to position, under a
 * read-write lock. Selection keeps the k best accepted entries in a bounded heap whose root
 * is the one that comes last, then pops it into order.
 */
#include "churn/alerts_index.h"

#include <pthread.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/hash.h"

struct churn_alert_index {
    pthread_rwlock_t lock;
    struct churn_alert_index_entry *ents; /* (lock) */
    size_t n, cap;                        /* (lock) */
    uint32_t *slots;                      /* (lock) position + 1 of each id; 0: free */
    size_t n_slots;                       /* (lock) a power of two, at least 2n */
    uint64_t head;                        /* (lock) */
};

static size_t
slot_of(uint64_t id, size_t n_slots)
{
    uint64_t h = id * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h ^ h >> 29) & (n_slots - 1);
}

/* The slot holding @id, or the free slot where it would go. */
static size_t
find_slot(const struct churn_alert_index *ix, uint64_t id)
{
    size_t s = slot_of(id, ix->n_slots);
    while (ix->slots[s] && ix->ents[ix->slots[s] - 1].id != id)
        s = (s + 1) & (ix->n_slots - 1);
    return s;
}

/* Rebuild the id table with @n_slots slots from the entries. */
static enum churn_err
rehash(struct churn_alert_index *ix, size_t n_slots)
{
    uint32_t *slots = churn_calloc(n_slots, sizeof(*slots));
    if (!slots)
        return CHURN_ENOMEM;
    churn_free(ix->slots);
    ix->slots = slots;
    ix->n_slots = n_slots;
    for (size_t i = 0; i < ix->n; i++)
        ix->slots[find_slot(ix, ix->ents[i].id)] = (uint32_t)(i + 1);
    return CHURN_OK;
}

enum churn_err
churn_alert_index_create(struct churn_alert_index **out)
{
    struct churn_alert_index *ix = churn_calloc(1, sizeof(*ix));
    if (!ix)
        return CHURN_ENOMEM;
    if (rehash(ix, 1024) != CHURN_OK) {
        churn_free(ix);
        return CHURN_ENOMEM;
    }
    pthread_rwlock_init(&ix->lock, NULL);
    *out = ix;
    return CHURN_OK;
}

void
churn_alert_index_destroy(struct churn_alert_index *ix)
{
    if (!ix)
        return;
    pthread_rwlock_destroy(&ix->lock);
    churn_free(ix->ents);
    churn_free(ix->slots);
    churn_free(ix);
}

static void
fill_entry(struct churn_alert_index_entry *e, uint64_t seq, const struct churn_alert *a)
{
    e->id = a->id;
    e->seq = seq;
    e->priority = a->priority;
    e->created_ms = a->created_ms;
    e->customer_hash = churn_fnv1a64_str(a->customer_id);
    e->owner_hash = churn_fnv1a64_str(a->owner);
    e->cause = (uint8_t)a->cause;
    e->status = (uint8_t)a->status;
    e->risk_tier = (uint8_t)a->risk_tier;
    e->value_tier = (uint8_t)a->value_tier;
}

enum churn_err
churn_alert_index_put(struct churn_alert_index *ix, uint64_t seq, const struct churn_alert *a)
{
    enum churn_err err = CHURN_OK;
    pthread_rwlock_wrlock(&ix->lock);
    size_t s = find_slot(ix, a->id);
    if (ix->slots[s]) {
        struct churn_alert_index_entry *e = &ix->ents[ix->slots[s] - 1];
        if (seq > e->seq)
            fill_entry(e, seq, a);
    } else if (ix->n >= UINT32_MAX - 1) {
        err = CHURN_ENOMEM;
    } else {
        if (ix->n == ix->cap) {
            size_t cap = ix->cap ? 2 * ix->cap : 1024;
            struct churn_alert_index_entry *ents = churn_realloc(ix->ents, cap * sizeof(*ents));
            if (!ents) {
                err = CHURN_ENOMEM;
                goto out;
            }
            ix->ents = ents;
            ix->cap = cap;
        }
        fill_entry(&ix->ents[ix->n], seq, a);
        ix->slots[s] = (uint32_t)++ix->n;
        if (2 * ix->n > ix->n_slots && rehash(ix, 2 * ix->n_slots) != CHURN_OK) {
            ix->slots[find_slot(ix, a->id)] = 0; /* keep the table usable: undo the entry */
            ix->n--;
            err = CHURN_ENOMEM;
            goto out;
        }
    }
    if (!err && seq > ix->head)
        ix->head = seq;
out:
    pthread_rwlock_unlock(&ix->lock);
    return err;
}

size_t
churn_alert_index_forget_customer(struct churn_alert_index *ix, const char *customer_id)
{
    uint64_t h = churn_fnv1a64_str(customer_id);
    pthread_rwlock_wrlock(&ix->lock);
    size_t kept = 0;
    for (size_t i = 0; i < ix->n; i++)
        if (ix->ents[i].customer_hash != h)
            ix->ents[kept++] = ix->ents[i];
    size_t removed = ix->n - kept;
    ix->n = kept;
    if (removed) { /* rare (a privacy erase): rebuild the table in place */
        memset(ix->slots, 0, ix->n_slots * sizeof(*ix->slots));
        for (size_t i = 0; i < ix->n; i++)
            ix->slots[find_slot(ix, ix->ents[i].id)] = (uint32_t)(i + 1);
    }
    pthread_rwlock_unlock(&ix->lock);
    return removed;
}

size_t
churn_alert_index_count(struct churn_alert_index *ix)
{
    pthread_rwlock_rdlock(&ix->lock);
    size_t n = ix->n;
    pthread_rwlock_unlock(&ix->lock);
    return n;
}

uint64_t
churn_alert_index_head(struct churn_alert_index *ix)
{
    pthread_rwlock_rdlock(&ix->lock);
    uint64_t h = ix->head;
    pthread_rwlock_unlock(&ix->lock);
    return h;
}

bool
churn_alert_index_before(enum churn_alert_index_order order,
                         const struct churn_alert_index_entry *a,
                         const struct churn_alert_index_entry *b)
{
    switch (order) {
    case CHURN_ALERT_INDEX_OLDEST:
        return a->id < b->id;
    case CHURN_ALERT_INDEX_NEWEST:
        return a->seq > b->seq;
    case CHURN_ALERT_INDEX_PRIORITY:
    default:
        if (a->priority != b->priority)
            return a->priority > b->priority;
        return a->seq > b->seq;
    }
}

/* The heap of the k best so far: the root is the one that comes last in @order. */
static void
sift_down(struct churn_alert_index_entry *h, size_t n, size_t i, enum churn_alert_index_order order)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, last = i;
        if (l < n && churn_alert_index_before(order, &h[last], &h[l]))
            last = l;
        if (r < n && churn_alert_index_before(order, &h[last], &h[r]))
            last = r;
        if (last == i)
            return;
        struct churn_alert_index_entry t = h[i];
        h[i] = h[last];
        h[last] = t;
        i = last;
    }
}

static void
sift_up(struct churn_alert_index_entry *h, size_t i, enum churn_alert_index_order order)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!churn_alert_index_before(order, &h[p], &h[i]))
            return;
        struct churn_alert_index_entry t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

size_t
churn_alert_index_select(struct churn_alert_index *ix, enum churn_alert_index_order order,
                         churn_alert_index_accept_fn *accept, void *user, size_t k,
                         struct churn_alert_index_entry *out, size_t *accepted, uint64_t *head)
{
    size_t n = 0, total = 0;
    pthread_rwlock_rdlock(&ix->lock);
    if (head)
        *head = ix->head;
    /* entries are roughly in id order (appended as alerts are raised): walking the newest
     * first when they come first fills the heap with winners, so later ones rarely replace */
    bool backwards = order != CHURN_ALERT_INDEX_OLDEST;
    for (size_t j = 0; j < ix->n; j++) {
        const struct churn_alert_index_entry *e = &ix->ents[backwards ? ix->n - 1 - j : j];
        if (!accept(e, user))
            continue;
        total++;
        if (n < k) {
            out[n] = *e;
            sift_up(out, n++, order);
        } else if (k && churn_alert_index_before(order, e, &out[0])) {
            out[0] = *e;
            sift_down(out, n, 0, order);
        }
    }
    pthread_rwlock_unlock(&ix->lock);
    /* pop the last one to the back until the heap is empty: @out ends up in order */
    for (size_t m = n; m > 1; m--) {
        struct churn_alert_index_entry t = out[0];
        out[0] = out[m - 1];
        out[m - 1] = t;
        sift_down(out, m - 1, 0, order);
    }
    if (accepted)
        *accepted = total;
    return n;
}
