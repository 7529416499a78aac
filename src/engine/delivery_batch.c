/*
 * delivery_batch.c - the alert log as the delivery workers read it: one read of up to
 * CHURN__DBATCH_MAX changes after a sequence, decoded once, its revisions imported from
 * other shards marked, and each change's webhook body rendered once per format on first use,
 * shared by every destination through a reference count. Ten destinations used to read,
 * decode (about 9 KB per struct churn_alert) and render the same changes ten times over; now
 * the first worker to reach a position reads it under the cache's lock while the others wait
 * for it and then share it. A cached batch is handed out again only while it is fresh
 * (REUSE_MS: a customer's erased alerts are not delivered from an old copy) and complete:
 * full, or read after the alert hub's head that the asker knows of, so that a worker woken
 * by the doorbell never misses the change that rang it. Batches are recycled through a free
 * list; at most CACHE_SLOTS + readers exist.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/log.h"
#include "churn/store.h"
#include "delivery_internal.h"

enum {
    CACHE_SLOTS = 4,     /* recent batches kept for the workers behind */
    REUSE_MS = 1000,     /* a cached batch is handed out again only this long after its read */
    BODY_CAP = 1u << 20, /* the largest body of one delivery */
    FORMATS = 2,         /* CHURN_DELIVERY_JSON, CHURN_DELIVERY_SLACK */
};

/* A change's body in one format, rendered by the first worker that needs it. */
struct body {
    atomic_bool ready; /* set (release) once buf holds the body; never cleared while shared */
    struct churn_buf buf;
};

struct batch {
    struct churn__dbatch pub; /* first: the workers see only this */
    size_t refs;              /* under the cache's mu: the cache's own and one per worker */
    uint64_t head_seen;       /* the hub's head before the read: all changes up to it are in */
    int64_t read_ms;          /* churn_mono_ns() / 1e6 at the read */
    pthread_mutex_t render_mu;
    struct body bodies[CHURN__DBATCH_MAX][FORMATS];
    struct batch *next_free;
};

struct churn__dlog {
    struct churn_store *store;
    struct churn_alert_hub *hub;
    churn_delivery_render_fn render;
    void *render_ctx;
    pthread_mutex_t mu; /* the cache, the free list, the refs and the imports; held to read */
    struct batch *cache[CACHE_SLOTS];
    struct batch *free;
    /* the imported alert ranges (issue 16), read again only for a batch past what they cover */
    uint64_t (*imports)[2]; /* CHURN_STORE_ALERT_IMPORTS_MAX */
    size_t n_imports;
    uint64_t imports_cover; /* every range holding a sequence <= this is in imports */
};

static int64_t
mono_ms(void)
{
    return churn_mono_ns() / 1000000;
}

/* ---------------------------------------------------------------- the pool --------- */

static struct batch *
batch_new(struct churn__dlog *log)
{
    struct batch *b = log->free;
    if (b) {
        log->free = b->next_free;
    } else if ((b = churn_calloc(1, sizeof(*b))) != NULL) {
        pthread_mutex_init(&b->render_mu, NULL);
        for (size_t i = 0; i < CHURN__DBATCH_MAX; i++)
            for (size_t f = 0; f < FORMATS; f++)
                churn_buf_init(&b->bodies[i][f].buf, BODY_CAP);
    }
    if (!b)
        return NULL;
    b->pub.n = 0;
    b->refs = 0;
    for (size_t i = 0; i < CHURN__DBATCH_MAX; i++)
        for (size_t f = 0; f < FORMATS; f++)
            atomic_store(&b->bodies[i][f].ready, false);
    return b;
}

static void
batch_free(struct batch *b)
{
    pthread_mutex_destroy(&b->render_mu);
    for (size_t i = 0; i < CHURN__DBATCH_MAX; i++)
        for (size_t f = 0; f < FORMATS; f++)
            churn_buf_free(&b->bodies[i][f].buf);
    churn_free(b);
}

/* Drop one reference (under log->mu); the last one returns @b to the free list. */
static void
batch_unref(struct churn__dlog *log, struct batch *b)
{
    if (b && --b->refs == 0) {
        b->next_free = log->free;
        log->free = b;
    }
}

/* ---------------------------------------------------------------- reading ---------- */

static int
take_alert(uint64_t seq, const char *customer_id, const void *data, size_t len, void *user)
{
    (void)customer_id;
    struct churn__dbatch *b = user;
    b->last = seq;
    struct churn_alert *a = &b->alerts[b->n];
    if (churn_alert_decode(data, len, a) != CHURN_OK) {
        churn_log(CHURN_LOG_ERROR, "delivery_skipped_undecodable",
                  CHURN_LF_INT("sequence", (long long)seq));
        return 0;
    }
    a->sequence = seq;
    b->n++;
    return 0;
}

/*
 * Mark the batch's revisions that an import of moved customers appended (under log->mu).
 * An import notes its range in the commit that appends its revisions, so ranges read after
 * a batch was read hold every range of that batch's sequences.
 */
static enum churn_err
mark_moved(struct churn__dlog *log, struct churn__dbatch *b)
{
    enum churn_err err = CHURN_OK;
    uint64_t last = b->n ? b->alerts[b->n - 1].sequence : 0;
    if (b->n && last > log->imports_cover) {
        size_t n = 0;
        err =
            churn_store_alert_imports(log->store, log->imports, CHURN_STORE_ALERT_IMPORTS_MAX, &n);
        log->n_imports = err == CHURN_OK ? n : 0;
        log->imports_cover = err == CHURN_OK ? last : 0;
    }
    for (size_t i = 0; i < b->n; i++) {
        b->moved[i] = false;
        for (size_t r = 0; r < log->n_imports && !b->moved[i]; r++)
            b->moved[i] = b->alerts[i].sequence >= log->imports[r][0] &&
                          b->alerts[i].sequence <= log->imports[r][1];
    }
    return err;
}

/* A fresh read of the log after @after into a new batch (under log->mu). */
static enum churn_err
batch_read(struct churn__dlog *log, uint64_t after, struct batch **out)
{
    struct batch *b = batch_new(log);
    if (!b)
        return CHURN_ENOMEM;
    b->head_seen = log->hub ? churn_alert_hub_head(log->hub) : 0;
    b->read_ms = mono_ms();
    b->pub.after = b->pub.last = after;
    enum churn_err err =
        churn_store_foreach_alert(log->store, after, CHURN__DBATCH_MAX, take_alert, &b->pub);
    if (err == CHURN_OK)
        err = mark_moved(log, &b->pub);
    b->refs = 1;
    if (err != CHURN_OK) {
        batch_unref(log, b);
        return err;
    }
    *out = b;
    return CHURN_OK;
}

/* The cached batch after @after that an asker who knows of head @head may use, or NULL. */
static struct batch *
cache_find(struct churn__dlog *log, uint64_t after, uint64_t head, int64_t now)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct batch *b = log->cache[i];
        if (b && b->pub.after == after && now - b->read_ms < REUSE_MS &&
            (b->pub.n == CHURN__DBATCH_MAX || (log->hub && b->head_seen >= head)))
            return b;
    }
    return NULL;
}

/* Keep @b for the workers behind, in place of the stalest slot. */
static void
cache_keep(struct churn__dlog *log, struct batch *b)
{
    size_t victim = 0;
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        if (!log->cache[i] || log->cache[i]->pub.after == b->pub.after) {
            victim = i;
            break;
        }
        if (log->cache[i]->read_ms < log->cache[victim]->read_ms)
            victim = i;
    }
    batch_unref(log, log->cache[victim]);
    log->cache[victim] = b;
    b->refs++;
}

enum churn_err
churn__dlog_get(struct churn__dlog *log, uint64_t after, const struct churn__dbatch **out)
{
    *out = NULL;
    uint64_t head = log->hub ? churn_alert_hub_head(log->hub) : 0;
    pthread_mutex_lock(&log->mu);
    struct batch *b = cache_find(log, after, head, mono_ms());
    enum churn_err err = CHURN_OK;
    if (b)
        b->refs++;
    else if ((err = batch_read(log, after, &b)) == CHURN_OK)
        cache_keep(log, b);
    pthread_mutex_unlock(&log->mu);
    if (err == CHURN_OK)
        *out = &b->pub;
    return err;
}

void
churn__dlog_put(struct churn__dlog *log, const struct churn__dbatch *batch)
{
    if (!batch)
        return;
    pthread_mutex_lock(&log->mu);
    batch_unref(log, (struct batch *)batch);
    pthread_mutex_unlock(&log->mu);
}

/* ---------------------------------------------------------------- bodies ----------- */

enum churn_err
churn__dlog_body(struct churn__dlog *log, const struct churn__dbatch *batch, size_t i,
                 enum churn_delivery_format format, const struct churn_buf **out)
{
    struct batch *b = (struct batch *)batch;
    unsigned f = (unsigned)format - 1;
    if (i >= b->pub.n || f >= FORMATS)
        return CHURN_EINVAL;
    struct body *body = &b->bodies[i][f];
    enum churn_err rc = CHURN_OK;
    if (!atomic_load_explicit(&body->ready, memory_order_acquire)) {
        pthread_mutex_lock(&b->render_mu);
        if (!atomic_load_explicit(&body->ready, memory_order_relaxed)) {
            churn_buf_reset(&body->buf);
            rc = log->render(log->render_ctx, &b->pub.alerts[i], format, &body->buf);
            /* a failure is not kept: the next attempt renders again */
            atomic_store_explicit(&body->ready, rc == CHURN_OK, memory_order_release);
        }
        pthread_mutex_unlock(&b->render_mu);
    }
    if (rc == CHURN_OK)
        *out = &body->buf;
    return rc;
}

/* ---------------------------------------------------------------- life cycle ------- */

enum churn_err
churn__dlog_open(struct churn_store *store, struct churn_alert_hub *hub,
                 churn_delivery_render_fn render, void *render_ctx, struct churn__dlog **out)
{
    *out = NULL;
    struct churn__dlog *log = churn_calloc(1, sizeof(*log));
    if (log)
        log->imports = churn_calloc(CHURN_STORE_ALERT_IMPORTS_MAX, sizeof(*log->imports));
    if (!log || !log->imports) {
        churn_free(log);
        return CHURN_ENOMEM;
    }
    log->store = store;
    log->hub = hub;
    log->render = render;
    log->render_ctx = render_ctx;
    pthread_mutex_init(&log->mu, NULL);
    *out = log;
    return CHURN_OK;
}

void
churn__dlog_close(struct churn__dlog *log)
{
    if (!log)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        batch_unref(log, log->cache[i]);
    while (log->free) {
        struct batch *b = log->free;
        log->free = b->next_free;
        batch_free(b);
    }
    pthread_mutex_destroy(&log->mu);
    churn_free(log->imports);
    churn_free(log);
}
