/*
 * delivery_batch.c - the alert log as the delivery workers read it: each change decoded once,
 * its import from another shard marked once and its webhook body rendered once per format,
 * shared by every destination through reference counts. Ten destinations used to read,
 * decode (about 9 KB per struct churn_alert) and render the same changes ten times over.
 * The log is cut in fixed windows of CHURN__DBATCH_MAX sequences, so that workers at
 * different cursors still ask for the same window; the first worker to need a window reads
 * it under the cache's lock while the others wait and then share it. The window at the log's
 * head grows: a later read adds the new changes to the entries already decoded. A cached
 * window is handed out only when it is complete or holds every change up to the alert hub's
 * head as the asker knows it (a worker the doorbell woke never misses the change that rang),
 * and only while it is fresh (REUSE_MS: an erased customer's changes are not delivered from
 * an old copy). Entries and windows are recycled through free lists; at most
 * CACHE_SLOTS + readers windows are alive, each with at most CHURN__DBATCH_MAX entries.
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
    CACHE_SLOTS = 4,     /* recent windows kept for the workers behind */
    REUSE_MS = 1000,     /* a cached window is handed out again only this long after its read */
    BODY_CAP = 1u << 20, /* the largest body of one delivery */
    FORMATS = 2,         /* CHURN_DELIVERY_JSON, CHURN_DELIVERY_SLACK */
};

/* A change's body in one format, rendered by the first worker that needs it, and its
 * signature under the first secret it was signed with. */
struct body {
    atomic_bool ready; /* set (release) once buf holds the body; never cleared while shared */
    struct churn_buf buf;
    _Atomic(const char *) signed_with; /* set (release) once signature holds; NULL: not yet */
    char signature[CHURN__SIGNATURE_MAX];
};

struct entry {
    struct churn__dentry pub; /* first: the workers see only this */
    size_t refs;              /* under the log's mu: one per window version holding it */
    struct body bodies[FORMATS];
    struct entry *next_free;
};

struct batch {
    struct churn__dbatch pub; /* first */
    size_t refs;              /* under the log's mu: the cache's own and one per worker */
    uint64_t head_seen;       /* the hub's head before the read: all changes up to it are in */
    uint64_t read_to;         /* the last sequence the reads got to (pub.first: none) */
    int64_t read_ms;          /* churn_mono_ns() / 1e6 at the first read */
    struct batch *next_free;
};

struct churn__dlog {
    struct churn_store *store;
    struct churn_alert_hub *hub;
    churn_delivery_render_fn render;
    void *render_ctx;
    pthread_mutex_t mu; /* the cache, the free lists, the refs and the imports; held to read */
    pthread_mutex_t render_mu;
    struct batch *cache[CACHE_SLOTS];
    struct batch *free_batches;
    struct entry *free_entries;
    /* the imported alert ranges (issue 16), read again only for a change past what they cover */
    uint64_t (*imports)[2]; /* CHURN_STORE_ALERT_IMPORTS_MAX */
    size_t n_imports;
    uint64_t imports_cover; /* every range holding a sequence <= this is in imports */
};

static int64_t
mono_ms(void)
{
    return churn_mono_ns() / 1000000;
}

/* ---------------------------------------------------------------- the pools -------- */

static struct entry *
entry_new(struct churn__dlog *log)
{
    struct entry *e = log->free_entries;
    if (e) {
        log->free_entries = e->next_free;
    } else if ((e = churn_calloc(1, sizeof(*e))) != NULL) {
        for (size_t f = 0; f < FORMATS; f++)
            churn_buf_init(&e->bodies[f].buf, BODY_CAP);
    }
    if (!e)
        return NULL;
    e->refs = 1;
    for (size_t f = 0; f < FORMATS; f++) {
        atomic_store(&e->bodies[f].ready, false);
        atomic_store(&e->bodies[f].signed_with, NULL);
    }
    return e;
}

static void
entry_unref(struct churn__dlog *log, const struct churn__dentry *pub)
{
    struct entry *e = (struct entry *)pub;
    if (--e->refs == 0) {
        e->next_free = log->free_entries;
        log->free_entries = e;
    }
}

static struct batch *
batch_new(struct churn__dlog *log, uint64_t first)
{
    struct batch *b = log->free_batches;
    if (b)
        log->free_batches = b->next_free;
    else
        b = churn_calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->pub.first = b->pub.last = b->read_to = first;
    b->pub.end = first + CHURN__DBATCH_MAX;
    b->pub.n = 0;
    b->refs = 1;
    b->read_ms = mono_ms();
    return b;
}

/* Drop one reference (under log->mu); the last one frees @b's entries and recycles it. */
static void
batch_unref(struct churn__dlog *log, struct batch *b)
{
    if (!b || --b->refs > 0)
        return;
    for (size_t i = 0; i < b->pub.n; i++)
        entry_unref(log, b->pub.e[i]);
    b->next_free = log->free_batches;
    log->free_batches = b;
}

/* ---------------------------------------------------------------- reading ---------- */

struct reading {
    struct churn__dlog *log;
    struct batch *b;
    bool beyond; /* a change past the window was seen: the window is complete */
    enum churn_err err;
};

static int
take_alert(uint64_t seq, const char *customer_id, const void *data, size_t len, void *user)
{
    (void)customer_id;
    struct reading *r = user;
    struct batch *b = r->b;
    if (seq > b->pub.end) {
        r->beyond = true;
        return 1;
    }
    b->read_to = seq;
    struct entry *e = entry_new(r->log);
    if (!e) {
        r->err = CHURN_ENOMEM;
        return 1;
    }
    if (churn_alert_decode(data, len, &e->pub.alert) != CHURN_OK) {
        churn_log(CHURN_LOG_ERROR, "delivery_skipped_undecodable",
                  CHURN_LF_INT("sequence", (long long)seq));
        entry_unref(r->log, &e->pub);
        return 0;
    }
    e->pub.alert.sequence = seq;
    b->pub.e[b->pub.n++] = &e->pub;
    return 0;
}

/*
 * Mark the window's changes from @from on that an import of moved customers appended (under
 * log->mu). An import notes its range in the commit that appends its revisions, so ranges
 * read after a change was read hold every range of that change.
 */
static enum churn_err
mark_moved(struct churn__dlog *log, struct batch *b, size_t from)
{
    enum churn_err err = CHURN_OK;
    if (b->pub.n > from && b->read_to > log->imports_cover) {
        size_t n = 0;
        err =
            churn_store_alert_imports(log->store, log->imports, CHURN_STORE_ALERT_IMPORTS_MAX, &n);
        log->n_imports = err == CHURN_OK ? n : 0;
        log->imports_cover = err == CHURN_OK ? b->read_to : 0;
    }
    for (size_t i = from; i < b->pub.n; i++) {
        struct churn__dentry *e = (struct churn__dentry *)b->pub.e[i];
        uint64_t seq = e->alert.sequence;
        e->moved = false;
        for (size_t r = 0; r < log->n_imports && !e->moved; r++)
            e->moved = seq >= log->imports[r][0] && seq <= log->imports[r][1];
    }
    return err;
}

/*
 * The window starting after @first: @old's entries (a version of it read less than REUSE_MS
 * ago; NULL: none) and the changes after what @old read, read now (under log->mu).
 */
static enum churn_err
window_read(struct churn__dlog *log, uint64_t first, const struct batch *old, struct batch **out)
{
    struct batch *b = batch_new(log, first);
    if (!b)
        return CHURN_ENOMEM;
    b->head_seen = log->hub ? churn_alert_hub_head(log->hub) : 0;
    for (size_t i = 0; old && i < old->pub.n; i++) {
        b->pub.e[b->pub.n++] = old->pub.e[i];
        ((struct entry *)old->pub.e[i])->refs++;
    }
    b->read_to = old ? old->read_to : first;
    b->read_ms = old ? old->read_ms : b->read_ms;
    size_t from = b->pub.n;
    struct reading r = {log, b, false, CHURN_OK};
    enum churn_err err = churn_store_foreach_alert(log->store, b->read_to,
                                                   CHURN__DBATCH_MAX + 1 - from, take_alert, &r);
    err = err == CHURN_ECANCELLED ? r.err : err;
    if (err == CHURN_OK)
        err = mark_moved(log, b, from);
    if (err != CHURN_OK) {
        batch_unref(log, b);
        return err;
    }
    /* complete: a change past the window exists, or the hub's head is at or past its end */
    bool complete = r.beyond || (log->hub && b->head_seen >= b->pub.end);
    b->pub.last = complete ? b->pub.end : b->read_to;
    *out = b;
    return CHURN_OK;
}

/* The cache's slot of the window starting after @first, else the stalest (or an empty) one. */
static size_t
cache_slot(struct churn__dlog *log, uint64_t first)
{
    size_t victim = 0;
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        if (log->cache[i] && log->cache[i]->pub.first == first)
            return i;
        if (!log->cache[i])
            victim = i;
        else if (log->cache[victim] && log->cache[i]->read_ms < log->cache[victim]->read_ms)
            victim = i;
    }
    return victim;
}

enum churn_err
churn__dlog_get(struct churn__dlog *log, uint64_t after, const struct churn__dbatch **out)
{
    *out = NULL;
    uint64_t head = log->hub ? churn_alert_hub_head(log->hub) : 0;
    uint64_t first = after - after % CHURN__DBATCH_MAX;
    pthread_mutex_lock(&log->mu);
    size_t slot = cache_slot(log, first);
    struct batch *b = log->cache[slot];
    bool mine = b && b->pub.first == first && mono_ms() - b->read_ms < REUSE_MS;
    enum churn_err err = CHURN_OK;
    if (!mine || (b->pub.last < b->pub.end && !(log->hub && b->head_seen >= head))) {
        struct batch *fresh = NULL;
        err = window_read(log, first, mine ? b : NULL, &fresh);
        if (err == CHURN_OK) {
            batch_unref(log, log->cache[slot]);
            log->cache[slot] = b = fresh;
        }
    }
    if (err == CHURN_OK)
        b->refs++;
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
churn__dlog_body(struct churn__dlog *log, const struct churn__dentry *entry,
                 enum churn_delivery_format format, const struct churn_buf **out)
{
    struct entry *e = (struct entry *)entry;
    unsigned f = (unsigned)format - 1;
    if (f >= FORMATS)
        return CHURN_EINVAL;
    struct body *body = &e->bodies[f];
    enum churn_err rc = CHURN_OK;
    if (!atomic_load_explicit(&body->ready, memory_order_acquire)) {
        pthread_mutex_lock(&log->render_mu);
        if (!atomic_load_explicit(&body->ready, memory_order_relaxed)) {
            churn_buf_reset(&body->buf);
            rc = log->render(log->render_ctx, &e->pub.alert, format, &body->buf);
            /* a failure is not kept: the next attempt renders again */
            atomic_store_explicit(&body->ready, rc == CHURN_OK, memory_order_release);
        }
        pthread_mutex_unlock(&log->render_mu);
    }
    if (rc == CHURN_OK)
        *out = &body->buf;
    return rc;
}

const char *
churn__dlog_signature(struct churn__dlog *log, const struct churn__dentry *entry,
                      enum churn_delivery_format format, const char *secret,
                      const struct churn_buf *body, struct churn__net *net, char *scratch)
{
    struct body *b = &((struct entry *)entry)->bodies[(unsigned)format - 1];
    const char *with = atomic_load_explicit(&b->signed_with, memory_order_acquire);
    if (with && strcmp(with, secret) == 0)
        return b->signature;
    if (!churn__net_sign(net, secret, body, scratch, CHURN__SIGNATURE_MAX))
        return NULL;
    if (with)
        return scratch; /* kept for another secret */
    pthread_mutex_lock(&log->render_mu);
    if (!atomic_load_explicit(&b->signed_with, memory_order_relaxed)) {
        memcpy(b->signature, scratch, CHURN__SIGNATURE_MAX);
        atomic_store_explicit(&b->signed_with, secret, memory_order_release);
    }
    pthread_mutex_unlock(&log->render_mu);
    return scratch;
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
    pthread_mutex_init(&log->render_mu, NULL);
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
    while (log->free_batches) {
        struct batch *b = log->free_batches;
        log->free_batches = b->next_free;
        churn_free(b);
    }
    while (log->free_entries) {
        struct entry *e = log->free_entries;
        log->free_entries = e->next_free;
        for (size_t f = 0; f < FORMATS; f++)
            churn_buf_free(&e->bodies[f].buf);
        churn_free(e);
    }
    pthread_mutex_destroy(&log->mu);
    pthread_mutex_destroy(&log->render_mu);
    churn_free(log->imports);
    churn_free(log);
}
