/*
 * writer.c - group commit. Producer threads submit batches of events into a bounded queue and
 * return at once; one writer thread takes everything queued (up to a group size), applies it
 * in a single LMDB write transaction, commits durably (one fsync for the whole group), then
 * runs every batch's callback with its per-event results. Many small batches thus share one
 * fsync, which is what makes hundreds of thousands of durable events per second possible.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "churn/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/log.h"
#include "store_internal.h"

struct submission {
    const struct churn_event *events;
    size_t n;
    struct churn_event_result *results;
    churn_store_writer_cb *cb;
    void *user;
};

struct churn_store_writer {
    struct churn_store *store;
    struct churn_store_writer_options opts;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    struct submission *ring; /* opts.queue_batches slots */
    size_t head;             /* oldest queued */
    size_t count;
    size_t queued_events;
    bool stopping;
    uint64_t submitted; /* (lock) batches accepted */
    uint64_t completed; /* (lock) batches whose callback has run */
    pthread_cond_t drained;
    atomic_uint_fast64_t groups;
    /* writer-thread scratch */
    struct submission *taken;
    struct churn__segment *segs;
};

void
churn_store_writer_options_init(struct churn_store_writer_options *opts)
{
    opts->queue_batches = 1024;
    opts->queue_events = 262144;
    opts->group_events = 65536;
}

static void *
writer_main(void *arg)
{
    struct churn_store_writer *w = arg;

    pthread_setname_np(pthread_self(), "store-writer");
    for (;;) {
        size_t k = 0, events = 0;

        pthread_mutex_lock(&w->lock);
        while (w->count == 0 && !w->stopping)
            pthread_cond_wait(&w->nonempty, &w->lock);
        if (w->count == 0 && w->stopping) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        while (w->count > 0) {
            struct submission *s = &w->ring[w->head];
            if (k > 0 && events + s->n > w->opts.group_events)
                break;
            w->taken[k++] = *s;
            events += s->n;
            w->head = (w->head + 1) % w->opts.queue_batches;
            w->count--;
        }
        w->queued_events -= events;
        pthread_mutex_unlock(&w->lock);

        for (size_t i = 0; i < k; i++)
            w->segs[i] =
                (struct churn__segment){w->taken[i].events, w->taken[i].n, w->taken[i].results};
        enum churn_err err = churn__store_apply(w->store, w->segs, k, churn_now_ms());
        if (err)
            churn_log(CHURN_LOG_ERROR, "store_group_commit_failed",
                      CHURN_LF_STR("error", churn_store_last_error()),
                      CHURN_LF_INT("batches", (long long)k));
        else
            atomic_fetch_add(&w->groups, 1);
        for (size_t i = 0; i < k; i++)
            w->taken[i].cb(w->taken[i].user, err, w->taken[i].results, w->taken[i].n);
        pthread_mutex_lock(&w->lock);
        w->completed += k;
        pthread_cond_broadcast(&w->drained);
        pthread_mutex_unlock(&w->lock);
    }
    return NULL;
}

enum churn_err
churn_store_writer_start(struct churn_store *store, const struct churn_store_writer_options *opts,
                         struct churn_store_writer **out)
{
    struct churn_store_writer *w = churn_calloc(1, sizeof(*w));
    if (!w)
        return churn__store_fail(CHURN_ENOMEM, "out of memory starting the writer");
    if (opts)
        w->opts = *opts;
    else
        churn_store_writer_options_init(&w->opts);
    if (!w->opts.queue_batches || !w->opts.queue_events || !w->opts.group_events) {
        churn_free(w);
        return churn__store_fail(CHURN_EINVAL, "writer queue sizes must be positive");
    }
    w->store = store;
    w->ring = churn_calloc(w->opts.queue_batches, sizeof(*w->ring));
    w->taken = churn_calloc(w->opts.queue_batches, sizeof(*w->taken));
    w->segs = churn_calloc(w->opts.queue_batches, sizeof(*w->segs));
    if (!w->ring || !w->taken || !w->segs)
        goto out_nomem;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->nonempty, NULL);
    pthread_cond_init(&w->drained, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_cond_destroy(&w->drained);
        pthread_cond_destroy(&w->nonempty);
        pthread_mutex_destroy(&w->lock);
        goto out_nomem;
    }
    *out = w;
    return CHURN_OK;

out_nomem:
    churn_free(w->segs);
    churn_free(w->taken);
    churn_free(w->ring);
    churn_free(w);
    return churn__store_fail(CHURN_ENOMEM, "out of memory starting the writer");
}

enum churn_err
churn_store_writer_submit(struct churn_store_writer *w, const struct churn_event *events, size_t n,
                          struct churn_event_result *results, churn_store_writer_cb *cb, void *user)
{
    enum churn_err err = CHURN_OK;

    if (n == 0 || !events || !results || !cb)
        return churn__store_fail(CHURN_EINVAL, "writer submit: empty batch or no callback");
    if (n > w->opts.group_events || n > w->opts.queue_events)
        return churn__store_fail(CHURN_EINVAL, "writer submit: %zu events, at most %zu per batch",
                                 n, w->opts.group_events);
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        err = churn__store_fail(CHURN_EUNAVAIL, "writer is stopping");
    } else if (w->count == w->opts.queue_batches || w->queued_events + n > w->opts.queue_events) {
        err = churn__store_fail(CHURN_EAGAIN, "writer queue full (%zu batches, %zu events)",
                                w->count, w->queued_events);
    } else {
        size_t slot = (w->head + w->count) % w->opts.queue_batches;
        w->ring[slot] = (struct submission){events, n, results, cb, user};
        w->count++;
        w->submitted++;
        w->queued_events += n;
        pthread_cond_signal(&w->nonempty);
    }
    pthread_mutex_unlock(&w->lock);
    return err;
}

void
churn_store_writer_stop(struct churn_store_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->nonempty);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->drained);
    pthread_cond_destroy(&w->nonempty);
    pthread_mutex_destroy(&w->lock);
    churn_free(w->segs);
    churn_free(w->taken);
    churn_free(w->ring);
    churn_free(w);
}

void
churn_store_writer_flush(struct churn_store_writer *w)
{
    pthread_mutex_lock(&w->lock);
    uint64_t target = w->submitted;
    while (w->completed < target)
        pthread_cond_wait(&w->drained, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

uint64_t
churn_store_writer_groups(const struct churn_store_writer *w)
{
    return atomic_load(&((struct churn_store_writer *)w)->groups);
}
