/*
 * engine/score_keep.c - the writer of stored scores (churn/score_keep.h): producers encode a
 * score into the pending batch under a mutex; the writer thread swaps the pending batch with
 * its own and stores it in one durable transaction, so a build that scores every customer
 * costs one commit per batch, not one per customer. With a chat saver, a batch rides the
 * saver's next group commit instead of taking the write lock and an fsync of its own.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "churn/score_keep.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/engine.h"
#include "churn/log.h"
#include "churn/score_codec.h"
#include "churn/score_store.h"
#include "churn/store.h"
#include "churn/store_chat.h"

#define BATCH_MAX 1024u /* scores per write transaction (and queued at most) */

struct kept {
    char customer_id[CHURN_ID_MAX + 1];
    uint64_t record_digest;
    size_t len;
    unsigned char data[CHURN_SCORE_ENCODED_MAX];
};

struct batch {
    struct kept *items;
    size_t n;
};

struct churn_score_keeper {
    struct churn_store *store;
    struct churn__chat_saver *saver; /* NULL: every batch in its own transaction */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work, room, done;
    struct batch pending;                  /* (mu) */
    struct batch writing;                  /* the writer's own */
    bool stop;                             /* (mu) */
    uint64_t queued_seq;                   /* (mu) scores queued so far */
    uint64_t stored_seq;                   /* (mu) of those, handled by the writer */
    struct churn_score_keeper_stats stats; /* (mu) */
    struct churn_store_score_put *puts;    /* the writer's */
};

/* Store @b; the counts into @k->stats. */
static void
write_batch(struct churn_score_keeper *k, const struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        k->puts[i] = (struct churn_store_score_put){
            b->items[i].customer_id, b->items[i].record_digest, b->items[i].data, b->items[i].len};
    struct churn_chat_rider r = {.scores = k->puts, .n_scores = b->n};
    size_t written = 0;
    enum churn_err err;
    const char *msg = r.error;
    if (churn__chat_saver_ride(k->saver, &r)) {
        err = r.err;
        written = r.written;
    } else {
        err = churn_store_put_scores(k->store, k->puts, b->n, &written);
        msg = churn_store_last_error();
    }
    if (err)
        churn_log(CHURN_LOG_WARN, "scores_not_stored", CHURN_LF_INT("scores", (int64_t)b->n),
                  CHURN_LF_STR("error", msg));
    pthread_mutex_lock(&k->mu);
    k->stats.written += err ? 0 : written;
    k->stats.skipped += err ? 0 : b->n - written;
    k->stats.failed += err ? b->n : 0;
    pthread_mutex_unlock(&k->mu);
}

static void *
keeper_main(void *arg)
{
    struct churn_score_keeper *k = arg;
    pthread_setname_np(pthread_self(), "score-keep");
    pthread_mutex_lock(&k->mu);
    for (;;) {
        while (!k->pending.n && !k->stop)
            pthread_cond_wait(&k->work, &k->mu);
        if (!k->pending.n)
            break; /* stopping with nothing left */
        struct batch b = k->pending;
        k->pending = k->writing;
        k->pending.n = 0;
        k->writing = b;
        pthread_cond_broadcast(&k->room);
        pthread_mutex_unlock(&k->mu);
        write_batch(k, &k->writing);
        pthread_mutex_lock(&k->mu);
        k->stored_seq += k->writing.n;
        k->writing.n = 0;
        pthread_cond_broadcast(&k->done);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

static void
keeper_free(struct churn_score_keeper *k)
{
    pthread_cond_destroy(&k->work);
    pthread_cond_destroy(&k->room);
    pthread_cond_destroy(&k->done);
    pthread_mutex_destroy(&k->mu);
    churn_free(k->pending.items);
    churn_free(k->writing.items);
    churn_free(k->puts);
    churn_free(k);
}

enum churn_err
churn_score_keeper_start(struct churn_store *store, struct churn__chat_saver *saver,
                         struct churn_score_keeper **out)
{
    struct churn_score_keeper *k = churn_calloc(1, sizeof(*k));
    if (!k)
        return CHURN_ENOMEM;
    k->store = store;
    k->saver = saver;
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->work, NULL);
    pthread_cond_init(&k->room, NULL);
    pthread_cond_init(&k->done, NULL);
    k->pending.items = churn_malloc(BATCH_MAX * sizeof(struct kept));
    k->writing.items = churn_malloc(BATCH_MAX * sizeof(struct kept));
    k->puts = churn_malloc(BATCH_MAX * sizeof(*k->puts));
    if (!k->pending.items || !k->writing.items || !k->puts ||
        pthread_create(&k->thread, NULL, keeper_main, k) != 0) {
        keeper_free(k);
        return CHURN_ENOMEM;
    }
    *out = k;
    return CHURN_OK;
}

void
churn_score_keeper_stop(struct churn_score_keeper *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    pthread_cond_signal(&k->work);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
    keeper_free(k);
}

bool
churn_score_keeper_offer(struct churn_score_keeper *k, const struct churn_score *s, bool wait)
{
    if (!k || !s->record_digest)
        return false;
    pthread_mutex_lock(&k->mu);
    while (wait && k->pending.n == BATCH_MAX && !k->stop)
        pthread_cond_wait(&k->room, &k->mu);
    struct kept *slot =
        k->pending.n < BATCH_MAX && !k->stop ? &k->pending.items[k->pending.n] : NULL;
    if (slot && churn_score_encode(s, slot->data, sizeof(slot->data), &slot->len) == CHURN_OK) {
        snprintf(slot->customer_id, sizeof(slot->customer_id), "%s", s->customer_id);
        slot->record_digest = s->record_digest;
        k->pending.n++;
        k->queued_seq++;
        k->stats.offered++;
        pthread_cond_signal(&k->work);
    } else {
        slot = NULL;
        k->stats.dropped++;
    }
    pthread_mutex_unlock(&k->mu);
    return slot != NULL;
}

void
churn_score_keeper_flush(struct churn_score_keeper *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    uint64_t target = k->queued_seq;
    while (k->stored_seq < target)
        pthread_cond_wait(&k->done, &k->mu);
    pthread_mutex_unlock(&k->mu);
}

void
churn_score_keeper_stats(struct churn_score_keeper *k, struct churn_score_keeper_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    *out = k->stats;
    pthread_mutex_unlock(&k->mu);
}
