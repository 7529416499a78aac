/*
 * service/answer_cache.c - encoded answers kept for reuse (churn/answer_cache.h). Customers
 * are spread over SHARDS shards by the hash of their id, each with its own lock, a chained
 * hash table of a fixed bucket count and a least-recently-used list; each shard holds at most
 * its share of the bytes and entries. An entry is one allocation: bookkeeping, the customer
 * id (compared in full, so a hash collision never answers for another customer) and the
 * answer's bytes.
 */
#include "churn/answer_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/hash.h"

#define SHARDS 16u

struct entry {
    struct entry *chain;         /* the next in its bucket */
    struct entry *newer, *older; /* the shard's use order */
    uint64_t hash;
    struct churn_answer_meta meta;
    uint32_t variant;
    uint32_t len;
    size_t id_len;
    char bytes[]; /* the id, its NUL, then the answer */
};

struct shard {
    pthread_mutex_t mu;
    struct entry **buckets;
    struct entry *newest, *oldest;
    size_t entries, bytes;
};

struct churn_answer_cache {
    size_t shard_bytes, shard_entries, n_buckets; /* per shard; n_buckets a power of two */
    atomic_uint_fast64_t found, misses, stale, evictions;
    atomic_uint_fast64_t erasures; /* forget() calls: a put built before one is refused */
    struct shard shards[SHARDS];
};

enum churn_err
churn_answer_cache_create(size_t max_bytes, size_t max_entries, struct churn_answer_cache **out)
{
    if (!max_bytes || !max_entries)
        return CHURN_EINVAL;
    struct churn_answer_cache *c = churn_calloc(1, sizeof(*c));
    if (!c)
        return CHURN_ENOMEM;
    c->shard_bytes = max_bytes / SHARDS ? max_bytes / SHARDS : 1;
    c->shard_entries = max_entries / SHARDS ? max_entries / SHARDS : 1;
    c->n_buckets = 16;
    while (c->n_buckets < c->shard_entries && c->n_buckets < (1u << 20))
        c->n_buckets *= 2;
    for (size_t i = 0; i < SHARDS; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        s->buckets = churn_calloc(c->n_buckets, sizeof(*s->buckets));
        if (!s->buckets) {
            churn_answer_cache_destroy(c);
            return CHURN_ENOMEM;
        }
    }
    *out = c;
    return CHURN_OK;
}

void
churn_answer_cache_destroy(struct churn_answer_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < SHARDS; i++) {
        struct shard *s = &c->shards[i];
        for (struct entry *e = s->newest, *next; e; e = next) {
            next = e->older;
            churn_free(e);
        }
        churn_free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    churn_free(c);
}

static size_t
entry_bytes(const struct entry *e)
{
    return sizeof(*e) + e->id_len + 1 + e->len;
}

static struct shard *
shard_of(struct churn_answer_cache *c, uint64_t hash)
{
    return &c->shards[(hash >> 32) % SHARDS];
}

static struct entry **
bucket_of(struct churn_answer_cache *c, struct shard *s, uint64_t hash)
{
    return &s->buckets[hash & (c->n_buckets - 1)];
}

/* Whether @e is an answer of the customer @id (@id_len bytes, hashed @hash): the id in full. */
static bool
same_id(const struct entry *e, uint64_t hash, const char *id, size_t id_len)
{
    return e->hash == hash && e->id_len == id_len && memcmp(e->bytes, id, id_len) == 0;
}

/* The link that points at @id's answer of @variant in its bucket (*link NULL: none). */
static struct entry **
find(struct churn_answer_cache *c, struct shard *s, uint64_t hash, const char *id, size_t id_len,
     uint32_t variant)
{
    struct entry **link = bucket_of(c, s, hash);
    for (; *link; link = &(*link)->chain) {
        if ((*link)->variant == variant && same_id(*link, hash, id, id_len))
            break;
    }
    return link;
}

static void
lru_unlink(struct shard *s, struct entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        s->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        s->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void
lru_push(struct shard *s, struct entry *e)
{
    e->newer = NULL;
    e->older = s->newest;
    if (s->newest)
        s->newest->newer = e;
    s->newest = e;
    if (!s->oldest)
        s->oldest = e;
}

/* Unlink the entry at @link from its bucket and the use order, and free it. */
static void
remove_at(struct shard *s, struct entry **link)
{
    struct entry *e = *link;
    *link = e->chain;
    lru_unlink(s, e);
    s->entries--;
    s->bytes -= entry_bytes(e);
    churn_free(e);
}

/* Remove entry @e, wherever it is in its bucket. */
static void
remove_entry(struct churn_answer_cache *c, struct shard *s, struct entry *e)
{
    struct entry **link = bucket_of(c, s, e->hash);
    while (*link != e)
        link = &(*link)->chain;
    remove_at(s, link);
}

bool
churn_answer_cache_get(struct churn_answer_cache *c, const char *customer_id, uint32_t variant,
                       struct churn_answer_meta *meta, void *buf, size_t cap, size_t *len)
{
    uint64_t hash = churn_id_hash(customer_id);
    size_t id_len = strlen(customer_id);
    struct shard *s = shard_of(c, hash);
    pthread_mutex_lock(&s->mu);
    struct entry *e = *find(c, s, hash, customer_id, id_len, variant);
    bool ok = e && e->len <= cap;
    if (ok) {
        *meta = e->meta;
        memcpy(buf, e->bytes + e->id_len + 1, e->len);
        *len = e->len;
        lru_unlink(s, e);
        lru_push(s, e);
    }
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add(ok ? &c->found : &c->misses, 1);
    return ok;
}

void
churn_answer_cache_drop_stale(struct churn_answer_cache *c, const char *customer_id,
                              uint32_t variant, const struct churn_score_stamp *stamp)
{
    uint64_t hash = churn_id_hash(customer_id);
    struct shard *s = shard_of(c, hash);
    pthread_mutex_lock(&s->mu);
    struct entry **link = find(c, s, hash, customer_id, strlen(customer_id), variant);
    if (*link && memcmp(&(*link)->meta.stamp, stamp, sizeof(*stamp)) == 0)
        remove_at(s, link);
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add(&c->stale, 1);
}

/* Evict the least recently used answers of @s until @need more bytes and one more entry fit. */
static void
make_room(struct churn_answer_cache *c, struct shard *s, size_t need)
{
    while (s->oldest && (s->bytes + need > c->shard_bytes || s->entries + 1 > c->shard_entries)) {
        remove_entry(c, s, s->oldest);
        atomic_fetch_add(&c->evictions, 1);
    }
}

uint64_t
churn_answer_cache_erasures(struct churn_answer_cache *c)
{
    return atomic_load(&c->erasures);
}

void
churn_answer_cache_put(struct churn_answer_cache *c, const char *customer_id, uint32_t variant,
                       const struct churn_answer_meta *meta, const void *data, size_t len,
                       uint64_t erasures)
{
    size_t id_len = strlen(customer_id);
    size_t size = sizeof(struct entry) + id_len + 1 + len;
    if (len > UINT32_MAX || size > c->shard_bytes / 8)
        return;
    struct entry *e = churn_malloc(size);
    if (!e)
        return;
    e->hash = churn_id_hash(customer_id);
    e->meta = *meta;
    e->variant = variant;
    e->len = (uint32_t)len;
    e->id_len = id_len;
    memcpy(e->bytes, customer_id, id_len + 1);
    memcpy(e->bytes + id_len + 1, data, len);
    struct shard *s = shard_of(c, e->hash);
    pthread_mutex_lock(&s->mu);
    /* forget() counts before it takes the lock: either it sees this entry, or this sees it */
    if (atomic_load(&c->erasures) != erasures) {
        pthread_mutex_unlock(&s->mu);
        churn_free(e);
        return;
    }
    struct entry **link = find(c, s, e->hash, customer_id, id_len, variant);
    if (*link)
        remove_at(s, link);
    make_room(c, s, size);
    struct entry **bucket = bucket_of(c, s, e->hash);
    e->chain = *bucket;
    *bucket = e;
    lru_push(s, e);
    s->entries++;
    s->bytes += size;
    pthread_mutex_unlock(&s->mu);
}

void
churn_answer_cache_forget(struct churn_answer_cache *c, const char *customer_id)
{
    uint64_t hash = churn_id_hash(customer_id);
    size_t id_len = strlen(customer_id);
    struct shard *s = shard_of(c, hash);
    atomic_fetch_add(&c->erasures, 1);
    pthread_mutex_lock(&s->mu);
    struct entry **link = bucket_of(c, s, hash);
    while (*link) {
        if (same_id(*link, hash, customer_id, id_len))
            remove_at(s, link);
        else
            link = &(*link)->chain;
    }
    pthread_mutex_unlock(&s->mu);
}

void
churn_answer_cache_stats(struct churn_answer_cache *c, struct churn_answer_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
    uint64_t found = atomic_load(&c->found);
    out->stale = atomic_load(&c->stale);
    out->hits = found > out->stale ? found - out->stale : 0;
    out->misses = atomic_load(&c->misses);
    out->evictions = atomic_load(&c->evictions);
    for (size_t i = 0; i < SHARDS; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        out->entries += s->entries;
        out->bytes += s->bytes;
        pthread_mutex_unlock(&s->mu);
    }
}
