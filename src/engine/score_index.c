/*
 * engine/score_index.c - the in-memory index of current scores (churn/score_index.h). Each
 * customer is one heap block: its numbers, the links of two skip lists (by priority and by
 * probability, both within its risk tier) and its id; a chained hash table finds the block
 * by id. Segments are interned (a 16-bit number per customer). Cells keep running counts and
 * sums. One reader-writer lock: page reads share it, puts and removes take it alone.
 */
#include "churn/score_index.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/hash.h"
#include "churn/segments.h"

#define LEVELS        24
#define ORDERS        2
#define SEG_MAX       65535u /* interned segments; later ones share SEG_OTHER */
#define SEG_OTHER     65535u
#define SEG_NAME      (CHURN_NAME_MAX + 1)
#define BUCKETS_MIN   1024u
#define DIRTY_BUCKETS 4096u
#define DIRTY_MAX     100000u /* beyond: the caller is told to read the store instead */

struct entry {
    struct entry *hnext;
    double probability, priority, value;
    uint64_t generation, changed; /* changed: the index version of its last put */
    int64_t scored_at_ms;
    uint16_t segment;
    uint8_t risk, vtier;
    uint8_t levels[ORDERS];
    struct entry **links; /* levels[0] + levels[1] pointers, then the id (same block) */
    char *id;
};

struct list {
    struct entry *head[LEVELS];
    int level; /* levels in use */
};

struct churn_score_index {
    pthread_rwlock_t lock;
    struct entry **buckets;
    size_t n_buckets, n;
    struct list lists[ORDERS][CHURN_SCORE_INDEX_TIERS];
    struct churn_score_summary sum;
    char (*segs)[SEG_NAME];
    size_t n_segs, cap_segs;
    bool seg_overflow;
    uint64_t rng;
    size_t bytes;
    struct dirty **dirty; /* DIRTY_BUCKETS chains of customers changed, not yet rescored */
    size_t n_dirty;
};

struct dirty {
    struct dirty *next;
    char id[];
};

/* ---- ordering ---------------------------------------------------------------------------- */

/* <0 when (@p1, @q1, @id1) comes before (@p2, @q2, @id2): larger first, then id ascending. */
static int
cmp_key(double p1, double q1, const char *id1, double p2, double q2, const char *id2)
{
    if (p1 != p2)
        return p1 > p2 ? -1 : 1;
    if (q1 != q2)
        return q1 > q2 ? -1 : 1;
    return strcmp(id1, id2);
}

static double
key1(const struct entry *e, int order)
{
    return order == CHURN_SCORE_BY_PRIORITY ? e->priority : e->probability;
}

static double
key2(const struct entry *e, int order)
{
    return order == CHURN_SCORE_BY_PRIORITY ? e->probability : e->priority;
}

static int
cmp_entry(const struct entry *e, int order, double k1, double k2, const char *id)
{
    return cmp_key(key1(e, order), key2(e, order), e->id, k1, k2, id);
}

static struct entry **
link_of(struct entry *e, int order, int level)
{
    return &e->links[(order ? e->levels[0] : 0) + level];
}

static struct entry **
next_of(struct list *l, struct entry *e, int order, int level)
{
    return e ? link_of(e, order, level) : &l->head[level];
}

/* ---- skip lists -------------------------------------------------------------------------- */

static int
random_level(struct churn_score_index *idx)
{
    /* xorshift64; a level more with probability 1/4 */
    uint64_t x = idx->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    idx->rng = x;
    int lvl = 1;
    while (lvl < LEVELS && (x & 3) == 0) {
        lvl++;
        x >>= 2;
    }
    return lvl;
}

/* The last entry at each level that comes before key (k1, k2, id) in @l, into @prev. */
static void
find_prev(struct list *l, int order, double k1, double k2, const char *id,
          struct entry *prev[LEVELS])
{
    struct entry *x = NULL;
    for (int i = l->level - 1; i >= 0; i--) {
        struct entry *n;
        while ((n = *next_of(l, x, order, i)) && cmp_entry(n, order, k1, k2, id) < 0)
            x = n;
        prev[i] = x;
    }
}

static void
list_insert(struct list *l, int order, struct entry *e)
{
    struct entry *prev[LEVELS];
    find_prev(l, order, key1(e, order), key2(e, order), e->id, prev);
    int lvl = e->levels[order];
    for (int i = l->level; i < lvl; i++)
        prev[i] = NULL;
    if (lvl > l->level)
        l->level = lvl;
    for (int i = 0; i < lvl; i++) {
        struct entry **p = next_of(l, prev[i], order, i);
        *link_of(e, order, i) = *p;
        *p = e;
    }
}

static void
list_remove(struct list *l, int order, struct entry *e)
{
    struct entry *prev[LEVELS];
    find_prev(l, order, key1(e, order), key2(e, order), e->id, prev);
    for (int i = 0; i < e->levels[order]; i++) {
        struct entry **p = next_of(l, prev[i], order, i);
        if (*p == e)
            *p = *link_of(e, order, i);
    }
    while (l->level > 0 && !l->head[l->level - 1])
        l->level--;
}

/* The first entry of @l after key (k1, k2, id) (strictly), or the first one when !@after. */
static struct entry *
list_seek(struct list *l, int order, bool after, double k1, double k2, const char *id)
{
    if (!after)
        return l->head[0];
    struct entry *prev[LEVELS];
    find_prev(l, order, k1, k2, id, prev);
    struct entry *n = *next_of(l, l->level ? prev[0] : NULL, order, 0);
    if (n && cmp_entry(n, order, k1, k2, id) == 0)
        n = *link_of(n, order, 0);
    return n;
}

/* ---- the hash table ---------------------------------------------------------------------- */

static struct entry **
slot_of(struct churn_score_index *idx, const char *id)
{
    struct entry **p = &idx->buckets[churn_fnv1a64_str(id) & (idx->n_buckets - 1)];
    while (*p && strcmp((*p)->id, id) != 0)
        p = &(*p)->hnext;
    return p;
}

static enum churn_err
grow_table(struct churn_score_index *idx)
{
    size_t nb = idx->n_buckets * 2;
    struct entry **b = churn_calloc(nb, sizeof(*b));
    if (!b)
        return CHURN_ENOMEM;
    for (size_t i = 0; i < idx->n_buckets; i++)
        for (struct entry *e = idx->buckets[i], *next; e; e = next) {
            next = e->hnext;
            struct entry **p = &b[churn_fnv1a64_str(e->id) & (nb - 1)];
            e->hnext = *p;
            *p = e;
        }
    churn_free(idx->buckets);
    idx->bytes += (nb - idx->n_buckets) * sizeof(*b);
    idx->buckets = b;
    idx->n_buckets = nb;
    return CHURN_OK;
}

/* ---- segments ---------------------------------------------------------------------------- */

/* The interned number of @name (cut to SEG_NAME - 1 bytes); SEG_OTHER past SEG_MAX names. */
static uint16_t
intern(struct churn_score_index *idx, const char *name)
{
    char cut[SEG_NAME];
    snprintf(cut, sizeof(cut), "%s", name ? name : "");
    for (size_t i = 0; i < idx->n_segs; i++)
        if (strcmp(idx->segs[i], cut) == 0)
            return (uint16_t)i;
    if (idx->n_segs == SEG_MAX)
        goto other;
    if (idx->n_segs == idx->cap_segs) {
        size_t cap = idx->cap_segs ? idx->cap_segs * 2 : 16;
        void *p = churn_realloc(idx->segs, cap * SEG_NAME);
        if (!p)
            goto other;
        idx->bytes += (cap - idx->cap_segs) * SEG_NAME;
        idx->segs = p;
        idx->cap_segs = cap;
    }
    memcpy(idx->segs[idx->n_segs], cut, SEG_NAME);
    return (uint16_t)idx->n_segs++;
other:
    idx->seg_overflow = true;
    return SEG_OTHER;
}

/* ---- aggregates -------------------------------------------------------------------------- */

static void
cell_add(struct churn_score_cell *c, double revenue, int sign)
{
    c->customers += (uint64_t)(int64_t)sign;
    c->revenue_at_risk += sign * revenue;
    if (c->customers == 0 || c->revenue_at_risk < 0)
        c->revenue_at_risk = 0; /* no rounding drift below nothing */
}

static void
account(struct churn_score_index *idx, const struct entry *e, int sign)
{
    struct churn_score_summary *s = &idx->sum;
    cell_add(&s->cells[e->risk][e->vtier], e->priority, sign);
    cell_add(&s->by_risk[e->risk], e->priority, sign);
    cell_add(&s->by_value[e->vtier], e->priority, sign);
    cell_add(&s->total, e->priority, sign);
}

/* ---- changed, not yet rescored ----------------------------------------------------------- */

static struct dirty **
dirty_slot(struct churn_score_index *idx, const char *id)
{
    struct dirty **p = &idx->dirty[churn_fnv1a64_str(id) % DIRTY_BUCKETS];
    while (*p && strcmp((*p)->id, id) != 0)
        p = &(*p)->next;
    return p;
}

/* Forget that @id changed (its score is being put). Write lock held. */
static void
dirty_clear_locked(struct churn_score_index *idx, const char *id)
{
    if (!idx->n_dirty)
        return;
    struct dirty **p = dirty_slot(idx, id);
    if (*p) {
        struct dirty *d = *p;
        *p = d->next;
        churn_free(d);
        idx->n_dirty--;
    }
}

enum churn_err
churn_score_index_mark_changed(struct churn_score_index *idx, const char *customer_id)
{
    pthread_rwlock_wrlock(&idx->lock);
    enum churn_err err = CHURN_OK;
    struct dirty **p = dirty_slot(idx, customer_id);
    if (!*p) {
        size_t len = strlen(customer_id) + 1;
        struct dirty *d = idx->n_dirty < DIRTY_MAX ? churn_malloc(sizeof(*d) + len) : NULL;
        if (d) {
            d->next = NULL;
            memcpy(d->id, customer_id, len);
            *p = d;
            idx->n_dirty++;
        } else {
            err = CHURN_ETOOBIG;
        }
    }
    pthread_rwlock_unlock(&idx->lock);
    return err;
}

size_t
churn_score_index_take_changed(struct churn_score_index *idx, char (*ids)[CHURN_SCORE_INDEX_ID_MAX],
                               size_t max, bool *more)
{
    pthread_rwlock_wrlock(&idx->lock);
    size_t n = 0;
    for (size_t b = 0; b < DIRTY_BUCKETS && n < max && idx->n_dirty; b++)
        while (idx->dirty[b] && n < max) {
            struct dirty *d = idx->dirty[b];
            idx->dirty[b] = d->next;
            snprintf(ids[n++], CHURN_SCORE_INDEX_ID_MAX, "%s", d->id);
            churn_free(d);
            idx->n_dirty--;
        }
    *more = idx->n_dirty > 0;
    pthread_rwlock_unlock(&idx->lock);
    return n;
}

static void
dirty_free(struct churn_score_index *idx)
{
    for (size_t b = 0; idx->dirty && b < DIRTY_BUCKETS; b++)
        for (struct dirty *d = idx->dirty[b], *next; d; d = next) {
            next = d->next;
            churn_free(d);
        }
    churn_free(idx->dirty);
}

/* ---- life cycle -------------------------------------------------------------------------- */

enum churn_err
churn_score_index_create(struct churn_score_index **out)
{
    struct churn_score_index *idx = churn_calloc(1, sizeof(*idx));
    if (!idx)
        return CHURN_ENOMEM;
    idx->buckets = churn_calloc(BUCKETS_MIN, sizeof(*idx->buckets));
    idx->dirty = churn_calloc(DIRTY_BUCKETS, sizeof(*idx->dirty));
    if (!idx->buckets || !idx->dirty) {
        churn_free(idx->buckets);
        churn_free(idx->dirty);
        churn_free(idx);
        return CHURN_ENOMEM;
    }
    idx->n_buckets = BUCKETS_MIN;
    idx->bytes = sizeof(*idx) + BUCKETS_MIN * sizeof(*idx->buckets);
    idx->rng = 0x9e3779b97f4a7c15ULL;
    idx->sum.epoch = 1;
    pthread_rwlock_init(&idx->lock, NULL);
    *out = idx;
    return CHURN_OK;
}

static size_t
entry_bytes(const struct entry *e)
{
    return sizeof(*e) + (e->levels[0] + e->levels[1]) * sizeof(struct entry *) + strlen(e->id) + 1;
}

static void
free_entries(struct churn_score_index *idx)
{
    for (size_t i = 0; i < idx->n_buckets; i++) {
        for (struct entry *e = idx->buckets[i], *next; e; e = next) {
            next = e->hnext;
            churn_free(e);
        }
        idx->buckets[i] = NULL;
    }
}

void
churn_score_index_destroy(struct churn_score_index *idx)
{
    if (!idx)
        return;
    free_entries(idx);
    dirty_free(idx);
    churn_free(idx->buckets);
    churn_free(idx->segs);
    pthread_rwlock_destroy(&idx->lock);
    churn_free(idx);
}

void
churn_score_index_clear(struct churn_score_index *idx)
{
    pthread_rwlock_wrlock(&idx->lock);
    free_entries(idx);
    memset(idx->lists, 0, sizeof(idx->lists));
    uint64_t epoch = idx->sum.epoch + 1, version = idx->sum.version + 1;
    memset(&idx->sum, 0, sizeof(idx->sum));
    idx->sum.epoch = epoch;
    idx->sum.version = version;
    idx->n = 0;
    idx->bytes = sizeof(*idx) + idx->n_buckets * sizeof(*idx->buckets) + idx->cap_segs * SEG_NAME;
    pthread_rwlock_unlock(&idx->lock);
}

/* ---- changes ----------------------------------------------------------------------------- */

static bool
item_valid(const struct churn_score_index_item *it)
{
    bool tiers = it->risk_tier >= CHURN_TIER_LOW && it->risk_tier <= CHURN_TIER_HIGH &&
                 it->value_tier >= CHURN_TIER_LOW && it->value_tier <= CHURN_TIER_HIGH;
    bool nums = isfinite(it->probability) && it->probability >= 0 && isfinite(it->priority) &&
                it->priority >= 0 && isfinite(it->value) && it->value >= 0;
    size_t len = strnlen(it->customer_id, CHURN_SCORE_INDEX_ID_MAX);
    return tiers && nums && len > 0 && len < CHURN_SCORE_INDEX_ID_MAX;
}

/* Unlink @e (found at *@slot) from everything and free it. Write lock held. */
static void
drop_locked(struct churn_score_index *idx, struct entry **slot)
{
    struct entry *e = *slot;
    for (int o = 0; o < ORDERS; o++)
        list_remove(&idx->lists[o][e->risk], o, e);
    account(idx, e, -1);
    *slot = e->hnext;
    idx->n--;
    idx->bytes -= entry_bytes(e);
    churn_free(e);
}

static struct entry *
entry_new(struct churn_score_index *idx, const char *id)
{
    int l0 = random_level(idx), l1 = random_level(idx);
    size_t len = strlen(id) + 1;
    size_t links = (size_t)(l0 + l1) * sizeof(struct entry *);
    struct entry *e = churn_malloc(sizeof(*e) + links + len);
    if (!e)
        return NULL;
    memset(e, 0, sizeof(*e));
    e->levels[0] = (uint8_t)l0;
    e->levels[1] = (uint8_t)l1;
    e->links = (struct entry **)(e + 1);
    e->id = (char *)e->links + links;
    memcpy(e->id, id, len);
    return e;
}

/* Whether @it would leave @e where it is: same numbers, tiers and segment. */
static bool
same_place(struct churn_score_index *idx, const struct entry *e,
           const struct churn_score_index_item *it)
{
    const char *seg = e->segment == SEG_OTHER ? NULL : idx->segs[e->segment];
    return e->probability == it->probability && e->priority == it->priority &&
           e->value == it->value && e->risk == (uint8_t)it->risk_tier &&
           e->vtier == (uint8_t)it->value_tier && seg && strncmp(seg, it->segment, SEG_NAME) == 0;
}

/* Whether @it is already in the index as it is, with no changed mark: then a put changes
 * nothing but the generation and time, which are written in place under the read lock only
 * when they are the same too (so concurrent readers never see a torn value). */
static bool
unchanged(struct churn_score_index *idx, const struct churn_score_index_item *it)
{
    pthread_rwlock_rdlock(&idx->lock);
    struct entry *e = *slot_of(idx, it->customer_id);
    bool same = e && same_place(idx, e, it) && e->generation == it->generation &&
                (idx->n_dirty == 0 || !*dirty_slot(idx, it->customer_id));
    pthread_rwlock_unlock(&idx->lock);
    return same;
}

enum churn_err
churn_score_index_put(struct churn_score_index *idx, const struct churn_score_index_item *it)
{
    if (!item_valid(it))
        return CHURN_EINVAL;
    if (unchanged(idx, it))
        return CHURN_OK; /* the common case (a read scoring an unchanged customer): no writer */
    pthread_rwlock_wrlock(&idx->lock);
    enum churn_err err = CHURN_OK;
    struct entry **slot = slot_of(idx, it->customer_id);
    dirty_clear_locked(idx, it->customer_id);
    if (*slot && same_place(idx, *slot, it)) {
        (*slot)->generation = it->generation; /* the same score again: nothing moves */
        (*slot)->scored_at_ms = it->scored_at_ms;
        goto out;
    }
    if (*slot)
        drop_locked(idx, slot); /* re-inserted at its new place below */
    if (idx->n >= idx->n_buckets && grow_table(idx) != CHURN_OK) {
        err = CHURN_ENOMEM;
        goto out;
    }
    struct entry *e = entry_new(idx, it->customer_id);
    if (!e) {
        err = CHURN_ENOMEM;
        goto out;
    }
    e->probability = it->probability;
    e->priority = it->priority;
    e->value = it->value;
    e->generation = it->generation;
    e->scored_at_ms = it->scored_at_ms;
    e->risk = (uint8_t)it->risk_tier;
    e->vtier = (uint8_t)it->value_tier;
    e->segment = intern(idx, it->segment);
    e->changed = ++idx->sum.version;
    slot = slot_of(idx, it->customer_id);
    *slot = e;
    for (int o = 0; o < ORDERS; o++)
        list_insert(&idx->lists[o][e->risk], o, e);
    account(idx, e, +1);
    idx->n++;
    idx->bytes += entry_bytes(e);
out:
    pthread_rwlock_unlock(&idx->lock);
    return err;
}

bool
churn_score_index_remove(struct churn_score_index *idx, const char *customer_id)
{
    pthread_rwlock_wrlock(&idx->lock);
    struct entry **slot = slot_of(idx, customer_id);
    bool found = *slot != NULL;
    if (found) {
        drop_locked(idx, slot);
        idx->sum.version++;
    }
    pthread_rwlock_unlock(&idx->lock);
    return found;
}

/* Move @e to tiers @r and @v (its risk list, its cells). Write lock held. */
static void
retier_locked(struct churn_score_index *idx, struct entry *e, uint8_t r, uint8_t v)
{
    account(idx, e, -1);
    if (r != e->risk) {
        for (int o = 0; o < ORDERS; o++)
            list_remove(&idx->lists[o][e->risk], o, e);
        e->risk = r;
        for (int o = 0; o < ORDERS; o++)
            list_insert(&idx->lists[o][e->risk], o, e);
    }
    e->vtier = v;
    e->changed = ++idx->sum.version; /* a listing in progress skips it: never listed twice */
    account(idx, e, +1);
}

size_t
churn_score_index_retier(struct churn_score_index *idx, const struct churn_segments *cuts)
{
    size_t moved = 0;
    pthread_rwlock_wrlock(&idx->lock);
    for (size_t b = 0; b < idx->n_buckets; b++) {
        for (struct entry *e = idx->buckets[b]; e; e = e->hnext) {
            uint8_t r = (uint8_t)churn_segments_risk_tier(cuts, e->probability);
            uint8_t v = (uint8_t)churn_segments_value_tier(cuts, e->value);
            if (r != e->risk || v != e->vtier) {
                retier_locked(idx, e, r, v);
                moved++;
            }
        }
    }
    pthread_rwlock_unlock(&idx->lock);
    return moved;
}

/* ---- reads ------------------------------------------------------------------------------- */

static void
item_of(const struct churn_score_index *idx, const struct entry *e,
        struct churn_score_index_item *out)
{
    snprintf(out->customer_id, sizeof(out->customer_id), "%s", e->id);
    out->probability = e->probability;
    out->priority = e->priority;
    out->value = e->value;
    out->risk_tier = (enum churn_tier)e->risk;
    out->value_tier = (enum churn_tier)e->vtier;
    snprintf(out->segment, sizeof(out->segment), "%s",
             e->segment == SEG_OTHER ? "" : idx->segs[e->segment]);
    out->generation = e->generation;
    out->scored_at_ms = e->scored_at_ms;
}

bool
churn_score_index_get(struct churn_score_index *idx, const char *customer_id,
                      struct churn_score_index_item *out)
{
    pthread_rwlock_rdlock(&idx->lock);
    struct entry *e = *slot_of(idx, customer_id);
    if (e)
        item_of(idx, e, out);
    pthread_rwlock_unlock(&idx->lock);
    return e != NULL;
}

void
churn_score_index_summary(struct churn_score_index *idx, struct churn_score_summary *out)
{
    pthread_rwlock_rdlock(&idx->lock);
    *out = idx->sum;
    pthread_rwlock_unlock(&idx->lock);
}

size_t
churn_score_index_bytes(struct churn_score_index *idx)
{
    pthread_rwlock_rdlock(&idx->lock);
    size_t b = idx->bytes;
    pthread_rwlock_unlock(&idx->lock);
    return b;
}

/* The filter resolved against the index: segment names as interned numbers. */
struct resolved {
    const struct churn_score_filter *f;
    unsigned risk_mask, value_mask;
    bool any_segment;
    uint16_t segs[64];
    size_t n_segs;
    bool seg_other; /* a name the index did not intern: SEG_OTHER entries may match */
};

static void
resolve(const struct churn_score_index *idx, const struct churn_score_filter *f, struct resolved *r)
{
    memset(r, 0, sizeof(*r));
    r->f = f;
    r->risk_mask = f && f->risk_mask ? f->risk_mask : ~0u;
    r->value_mask = f && f->value_mask ? f->value_mask : ~0u;
    r->any_segment = !f || f->n_segments == 0;
    for (size_t i = 0; f && i < f->n_segments && r->n_segs < 64; i++) {
        size_t j = 0;
        while (j < idx->n_segs && strncmp(idx->segs[j], f->segments[i], SEG_NAME) != 0)
            j++;
        if (j < idx->n_segs)
            r->segs[r->n_segs++] = (uint16_t)j;
        else if (idx->seg_overflow)
            r->seg_other = true;
    }
}

static bool
passes(const struct resolved *r, const struct entry *e)
{
    if (!(r->value_mask & (1u << e->vtier)))
        return false;
    if (r->f && (e->probability < r->f->min_probability || e->priority < r->f->min_priority))
        return false;
    if (r->any_segment)
        return true;
    for (size_t i = 0; i < r->n_segs; i++)
        if (r->segs[i] == e->segment)
            return true;
    return r->seg_other && e->segment == SEG_OTHER;
}

uint64_t
churn_score_index_count(struct churn_score_index *idx, const struct churn_score_filter *f)
{
    pthread_rwlock_rdlock(&idx->lock);
    struct resolved r;
    resolve(idx, f, &r);
    uint64_t n = 0;
    bool tiers_only =
        !f || (f->n_segments == 0 && !(f->min_probability > 0) && !(f->min_priority > 0));
    for (unsigned t = CHURN_TIER_LOW; t <= CHURN_TIER_HIGH; t++) {
        if (!(r.risk_mask & (1u << t)))
            continue;
        if (tiers_only) {
            for (unsigned v = CHURN_TIER_LOW; v <= CHURN_TIER_HIGH; v++)
                if (r.value_mask & (1u << v))
                    n += idx->sum.cells[t][v].customers;
            continue;
        }
        /* by probability: the walk stops at the first one under min_probability */
        for (struct entry *e = idx->lists[CHURN_SCORE_BY_PROBABILITY][t].head[0]; e;
             e = *link_of(e, CHURN_SCORE_BY_PROBABILITY, 0)) {
            if (f && e->probability < f->min_probability)
                break;
            n += passes(&r, e);
        }
    }
    pthread_rwlock_unlock(&idx->lock);
    return n;
}

/* Whether @e, the head of a list, is past the end of a listing (ordered by @order) whose
 * filter bounds the first key from below. */
static bool
past_bound(const struct churn_score_filter *f, const struct entry *e, int order)
{
    if (!f)
        return false;
    return order == CHURN_SCORE_BY_PRIORITY ? e->priority < f->min_priority
                                            : e->probability < f->min_probability;
}

/* Merge the heads of the selected tiers' lists, @limit items into @out. Read lock held. */
static size_t
merge_page(struct churn_score_index *idx, const struct resolved *r, int order,
           struct churn_score_cursor *cur, size_t limit, struct churn_score_index_item *out,
           bool *more)
{
    struct entry *heads[CHURN_SCORE_INDEX_TIERS] = {0};
    for (unsigned t = CHURN_TIER_LOW; t <= CHURN_TIER_HIGH; t++)
        if (r->risk_mask & (1u << t))
            heads[t] = list_seek(&idx->lists[order][t], order, cur->started,
                                 order ? cur->probability : cur->priority,
                                 order ? cur->priority : cur->probability, cur->customer_id);
    size_t n = 0;
    *more = false;
    for (;;) {
        int best = -1;
        for (int t = CHURN_TIER_LOW; t <= CHURN_TIER_HIGH; t++) {
            if (heads[t] && past_bound(r->f, heads[t], order))
                heads[t] = NULL;
            if (heads[t] && (best < 0 || cmp_entry(heads[t], order, key1(heads[best], order),
                                                   key2(heads[best], order), heads[best]->id) < 0))
                best = t;
        }
        if (best < 0)
            return n;
        struct entry *e = heads[best];
        if (n == limit) {
            *more = true;
            return n;
        }
        heads[best] = *link_of(e, order, 0);
        /* changed since the listing began: it may have been listed already at its old place */
        if (e->changed > cur->snapshot || !passes(r, e))
            continue;
        item_of(idx, e, &out[n++]);
        cur->started = true;
        cur->priority = e->priority;
        cur->probability = e->probability;
        snprintf(cur->customer_id, sizeof(cur->customer_id), "%s", e->id);
    }
}

enum churn_err
churn_score_index_page(struct churn_score_index *idx, const struct churn_score_filter *f,
                       enum churn_score_order order, struct churn_score_cursor *cur, size_t limit,
                       struct churn_score_index_item *out, size_t *n, bool *more, char *msg,
                       size_t msglen)
{
    if (order != CHURN_SCORE_BY_PRIORITY && order != CHURN_SCORE_BY_PROBABILITY) {
        snprintf(msg, msglen, "unknown order %d", (int)order);
        return CHURN_EINVAL;
    }
    pthread_rwlock_rdlock(&idx->lock);
    enum churn_err err = CHURN_OK;
    if (cur->epoch == 0) {
        cur->epoch = idx->sum.epoch;
        cur->snapshot = idx->sum.version;
        cur->order = order;
        cur->started = false;
    } else if (cur->epoch != idx->sum.epoch || cur->order != order ||
               cur->snapshot > idx->sum.version) {
        snprintf(msg, msglen,
                 "the listing it continues is gone (the index was rebuilt since), or it was "
                 "altered: start again without a token");
        err = CHURN_EINVAL;
        goto out;
    }
    struct resolved r;
    resolve(idx, f, &r);
    *n = merge_page(idx, &r, order, cur, limit, out, more);
out:
    pthread_rwlock_unlock(&idx->lock);
    return err;
}
