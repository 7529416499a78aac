/*
 * chat_saver.c - writes conversation tracker states to the store off the request path. A
 * chat turn must not wait for an fsync on a worker thread, so turns hand their new state to
 * this saver, and its thread writes everything queued since the last round in one durable
 * transaction (group commit, as for events). Later states of a conversation overwrite
 * earlier ones in the same transaction. Stopping writes whatever is still queued.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/event.h"
#include "churn/log.h"
#include "churn/store.h"
#include "service_internal.h"

#define SAVER_QUEUE_MAX 16384
#define SAVER_STATE_MAX 512

struct saved_state {
    char customer_id[CHURN_ID_MAX + 1];
    char conversation_id[CHURN_ID_MAX + 1];
    size_t len;
    unsigned char data[SAVER_STATE_MAX];
};

struct churn__chat_saver {
    struct churn_store *store;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stopping;             /* (mu) */
    struct saved_state *queue; /* (mu) filled by turns */
    size_t n;                  /* (mu) */
    struct saved_state *spare; /* the batch being written (or last written) */
    size_t spare_n;            /* (mu) states in spare */
    unsigned long dropped;     /* (mu) states not queued because the queue was full */
    uint64_t taken, written;   /* (mu) batches taken from the queue, and written */
    pthread_cond_t done;       /* (mu) a batch was written */
    struct churn_conversation_put *items;
};

static void *
saver_main(void *arg)
{
    struct churn__chat_saver *sv = arg;
    for (;;) {
        pthread_mutex_lock(&sv->mu);
        while (sv->n == 0 && !sv->stopping)
            pthread_cond_wait(&sv->cond, &sv->mu);
        if (sv->n == 0 && sv->stopping) {
            pthread_mutex_unlock(&sv->mu);
            break;
        }
        /* take the whole queue; turns go on filling the other buffer meanwhile */
        struct saved_state *batch = sv->queue;
        size_t n = sv->n;
        sv->queue = sv->spare;
        sv->spare = batch;
        sv->spare_n = n;
        sv->n = 0;
        sv->taken++;
        pthread_mutex_unlock(&sv->mu);
        for (size_t i = 0; i < n; i++) {
            sv->items[i].customer_id = batch[i].customer_id;
            sv->items[i].conversation_id = batch[i].conversation_id;
            sv->items[i].data = batch[i].data;
            sv->items[i].len = batch[i].len;
        }
        if (churn_store_put_conversations(sv->store, sv->items, n) != CHURN_OK)
            churn_log(CHURN_LOG_WARN, "conversations_not_saved",
                      CHURN_LF_INT("count", (long long)n),
                      CHURN_LF_STR("error", churn_store_last_error()));
        pthread_mutex_lock(&sv->mu);
        sv->written++;
        pthread_cond_broadcast(&sv->done);
        pthread_mutex_unlock(&sv->mu);
    }
    return NULL;
}

enum churn_err
churn__chat_saver_start(struct churn_store *store, struct churn__chat_saver **out)
{
    struct churn__chat_saver *sv = churn_calloc(1, sizeof(*sv));
    if (!sv)
        return CHURN_ENOMEM;
    sv->store = store;
    sv->queue = churn_malloc(SAVER_QUEUE_MAX * sizeof(*sv->queue));
    sv->spare = churn_malloc(SAVER_QUEUE_MAX * sizeof(*sv->spare));
    sv->items = churn_malloc(SAVER_QUEUE_MAX * sizeof(*sv->items));
    if (!sv->queue || !sv->spare || !sv->items)
        goto out_free;
    pthread_mutex_init(&sv->mu, NULL);
    pthread_cond_init(&sv->cond, NULL);
    pthread_cond_init(&sv->done, NULL);
    if (pthread_create(&sv->thread, NULL, saver_main, sv) != 0) {
        pthread_cond_destroy(&sv->done);
        pthread_mutex_destroy(&sv->mu);
        pthread_cond_destroy(&sv->cond);
        goto out_free;
    }
    *out = sv;
    return CHURN_OK;
out_free:
    churn_free(sv->queue);
    churn_free(sv->spare);
    churn_free(sv->items);
    churn_free(sv);
    return CHURN_ENOMEM;
}

void
churn__chat_saver_flush(struct churn__chat_saver *sv)
{
    if (!sv)
        return;
    pthread_mutex_lock(&sv->mu);
    uint64_t target = sv->taken + (sv->n > 0); /* the batch in progress and what is queued */
    while (sv->written < target && !sv->stopping)
        pthread_cond_wait(&sv->done, &sv->mu);
    pthread_mutex_unlock(&sv->mu);
}

bool
churn__chat_saver_put(struct churn__chat_saver *sv, const char *customer_id,
                      const char *conversation_id, const void *data, size_t len)
{
    if (!sv || len > SAVER_STATE_MAX)
        return false;
    pthread_mutex_lock(&sv->mu);
    bool ok = sv->n < SAVER_QUEUE_MAX && !sv->stopping;
    if (ok) {
        struct saved_state *st = &sv->queue[sv->n++];
        snprintf(st->customer_id, sizeof(st->customer_id), "%s", customer_id);
        snprintf(st->conversation_id, sizeof(st->conversation_id), "%s", conversation_id);
        memcpy(st->data, data, len);
        st->len = len;
        pthread_cond_signal(&sv->cond);
    } else {
        sv->dropped++;
    }
    pthread_mutex_unlock(&sv->mu);
    return ok;
}

/* Newest state of (customer, conversation) among @n states of @list, or NULL. */
static const struct saved_state *
find_newest(const struct saved_state *list, size_t n, const char *customer_id,
            const char *conversation_id)
{
    for (size_t i = n; i-- > 0;)
        if (strcmp(list[i].conversation_id, conversation_id) == 0 &&
            strcmp(list[i].customer_id, customer_id) == 0)
            return &list[i];
    return NULL;
}

bool
churn__chat_saver_lookup(struct churn__chat_saver *sv, const char *customer_id,
                         const char *conversation_id, void *out, size_t cap, size_t *len)
{
    if (!sv)
        return false;
    pthread_mutex_lock(&sv->mu);
    /* queued states are newer than the batch being written, which is newer than the store */
    const struct saved_state *st = find_newest(sv->queue, sv->n, customer_id, conversation_id);
    if (!st)
        st = find_newest(sv->spare, sv->spare_n, customer_id, conversation_id);
    bool found = st && st->len <= cap;
    if (found) {
        memcpy(out, st->data, st->len);
        *len = st->len;
    }
    pthread_mutex_unlock(&sv->mu);
    return found;
}

void
churn__chat_saver_stop(struct churn__chat_saver *sv)
{
    if (!sv)
        return;
    pthread_mutex_lock(&sv->mu);
    sv->stopping = true;
    pthread_cond_signal(&sv->cond);
    pthread_mutex_unlock(&sv->mu);
    pthread_join(sv->thread, NULL);
    if (sv->dropped)
        churn_log(CHURN_LOG_WARN, "conversation_states_dropped",
                  CHURN_LF_INT("count", (long long)sv->dropped));
    pthread_mutex_destroy(&sv->mu);
    pthread_cond_destroy(&sv->cond);
    pthread_cond_destroy(&sv->done);
    churn_free(sv->queue);
    churn_free(sv->spare);
    churn_free(sv->items);
    churn_free(sv);
}
