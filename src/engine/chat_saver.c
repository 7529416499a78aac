/*
 * chat_saver.c - writes conversation tracker states to the store off the request path. A
 * chat turn must not wait for an fsync on a worker thread, so turns hand their new state to
 * this saver, and its thread writes everything queued since its last commit in one durable
 * transaction (group commit, as for events): the states that arrive while one commit runs
 * form the next. A conversation's newer state replaces its older one in the queue (a hash
 * index over the queue), so a busy conversation costs one write per commit rather than one
 * per turn. Each queued state gets a ticket, the number of the commit that will carry it;
 * watchers (the AnalyzeChat streams, whose answers wait for their state to be durable) are
 * told after every commit, in commit order, by a second thread (the teller) while turns wait
 * for the next commit, so that sending a group's answers overlaps that commit instead of
 * delaying it (by the saver's own thread when nothing waits: no extra thread hop for a lone
 * turn). A turn's chat signal
 * (its customer's record update and event id) and the score it leaves go into the same transaction
 * as its state (issue 13: one commit and one fsync for a group of turns, where the states, the
 * signals and the scores each had their own writer); each signal is told its outcome after the
 * commit. Other writers (the alert engine's rescores, the score keeper) may ride a commit with
 * their own items and wait for it, so that a chat load takes the write lock and pays an fsync
 * once per group rather than once per writer. A flush (the privacy erase) and stopping write
 * what is queued.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/event.h"
#include "churn/hash.h"
#include "churn/log.h"
#include "churn/score.h"
#include "churn/score_codec.h"
#include "churn/store.h"
#include "churn/store_chat.h"
#include "churn/engine.h"

#define SAVER_QUEUE_MAX 16384
#define SAVER_STATE_MAX 512
#define SAVER_SLOTS     (4 * SAVER_QUEUE_MAX) /* hash index over the queue, power of two */
#define SAVER_UNTOLD    64 /* commits written but not yet told, at most (power of two) */
#define SAVER_RIDERS    8  /* riders waiting for one commit, at most */

struct saved_state {
    uint32_t slot; /* its place in the index while queued */
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
    unsigned flush_wanted;     /* (mu) flushes waiting: commit without pacing */
    uint32_t *index;           /* (mu) SAVER_SLOTS: queue position + 1 of each key, 0: free */
    struct churn__chat_signal **sigs;                    /* (mu) the signals of the queued turns */
    size_t n_sigs;                                       /* (mu) */
    struct churn__chat_signal **spare_sigs;              /* the signals being written */
    struct churn_chat_rider *riders[SAVER_RIDERS];       /* (mu) waiting for the next commit */
    size_t n_riders;                                     /* (mu) */
    struct churn_chat_rider *spare_riders[SAVER_RIDERS]; /* riding the commit being written */
    size_t spare_n_riders;
    struct churn_conversation_put *items;
    struct churn_chat_signal_put *sig_items;
    unsigned char score_buf[CHURN_SCORE_ENCODED_MAX]; /* the score being stored */
    struct churn_score score_tmp;                     /* ... with its record's digest */
    pthread_mutex_t watch_mu;                         /* the watcher list; held while telling it */
    struct churn__chat_saver_watcher *watchers;       /* (watch_mu) doubly linked */
    pthread_t teller;                                 /* tells the watchers of each commit */
    pthread_cond_t untold;    /* (mu) a commit was written, or the saver stopped */
    pthread_cond_t told_cond; /* (mu) the teller caught up with a commit */
    uint64_t told;            /* (mu) commits told to the watchers */
    uint64_t handed;          /* (mu) commits handed to the teller (told on the saver's own
                               * thread when nothing else waits) */
    bool writer_done;         /* (mu) the saver thread wrote its last commit */
    bool ok[SAVER_UNTOLD];    /* (mu) commit i's outcome at i % SAVER_UNTOLD, until told */
};

static uint32_t
key_slot(const char *customer_id, const char *conversation_id)
{
    uint64_t h = churn_fnv1a64(churn_fnv1a64_str(customer_id), "\0", 1);
    h = churn_fnv1a64(h, conversation_id, strlen(conversation_id));
    return (uint32_t)(h ^ h >> 32) & (SAVER_SLOTS - 1);
}

/* The queued state of (customer, conversation), or NULL; *@slot_out: where it is or would go
 * in the index (linear probing; the index is at most a quarter full). */
static struct saved_state *
queued_state(struct churn__chat_saver *sv, const char *customer_id, const char *conversation_id,
             uint32_t *slot_out)
{
    uint32_t s = key_slot(customer_id, conversation_id);
    for (;; s = (s + 1) & (SAVER_SLOTS - 1)) {
        uint32_t at = sv->index[s];
        if (at == 0)
            break;
        struct saved_state *st = &sv->queue[at - 1];
        if (strcmp(st->conversation_id, conversation_id) == 0 &&
            strcmp(st->customer_id, customer_id) == 0) {
            *slot_out = s;
            return st;
        }
    }
    *slot_out = s;
    return NULL;
}

/* Remove the queue's entries from the index (the queue is being handed to the writer). */
static void
index_clear(struct churn__chat_saver *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        sv->index[sv->queue[i].slot] = 0;
}

/* Tell every watcher that commit @batch is over (@ok: durable). */
static void
tell_watchers(struct churn__chat_saver *sv, uint64_t batch, bool ok)
{
    pthread_mutex_lock(&sv->watch_mu);
    for (struct churn__chat_saver_watcher *w = sv->watchers; w; w = w->next)
        w->committed(w->ctx, batch, ok);
    pthread_mutex_unlock(&sv->watch_mu);
}

/* churn_chat_score_fill_fn: signal @i's score, its record's new digest set. */
static enum churn_err
fill_score(size_t i, uint64_t record_digest, void *user, const void **data, size_t *len)
{
    struct churn__chat_saver *sv = user;
    struct churn_score *sc = &sv->score_tmp;
    churn_score_copy(sc, sv->spare_sigs[i]->score);
    sc->record_digest = record_digest;
    sc->base_digest = 0;
    enum churn_err err = churn_score_encode(sc, sv->score_buf, sizeof(sv->score_buf), len);
    *data = sv->score_buf;
    return err;
}

/* Write the @n states of @batch and the @n_sigs signals of spare_sigs in one transaction;
 * each signal is told how it ended. Whether it was durable. */
static bool
write_group(struct churn__chat_saver *sv, const struct saved_state *batch, size_t n, size_t n_sigs)
{
    for (size_t i = 0; i < n; i++)
        sv->items[i] = (struct churn_conversation_put){
            batch[i].customer_id, batch[i].conversation_id, batch[i].data, batch[i].len};
    for (size_t i = 0; i < n_sigs; i++) {
        const struct churn__chat_signal *sig = sv->spare_sigs[i];
        sv->sig_items[i] = (struct churn_chat_signal_put){&sig->event, &sv->spare_sigs[i]->result,
                                                          sig->score ? sig->score->base_digest : 0};
    }
    struct churn_chat_group g = {sv->items,
                                 n,
                                 sv->sig_items,
                                 n_sigs,
                                 churn_now_ms(),
                                 fill_score,
                                 sv,
                                 sv->spare_riders,
                                 sv->spare_n_riders};
    enum churn_err err = churn_store_commit_chat(sv->store, &g);
    if (err)
        churn_log(CHURN_LOG_ERROR, "chat_turns_not_saved", CHURN_LF_INT("states", (long long)n),
                  CHURN_LF_INT("signals", (long long)n_sigs),
                  CHURN_LF_STR("error", churn_store_last_error()));
    for (size_t i = 0; i < n_sigs; i++)
        sv->spare_sigs[i]->done(sv->spare_sigs[i], err);
    return err == CHURN_OK;
}

/*
 * Commit number written+1 ended (@ok: durable). Its watchers are told on this thread when no
 * turn waits for the next commit and the teller has nothing left to tell (so a lone turn's
 * answer takes no second thread hop), else by the teller, while this thread commits the turns
 * that wait.
 */
static void
written(struct churn__chat_saver *sv, bool ok)
{
    pthread_mutex_lock(&sv->mu);
    while (sv->written - sv->told >= SAVER_UNTOLD) /* the teller is that far behind */
        pthread_cond_wait(&sv->told_cond, &sv->mu);
    uint64_t batch = ++sv->written;
    sv->ok[batch % SAVER_UNTOLD] = ok;
    pthread_cond_broadcast(&sv->done);
    bool here = sv->n == 0 && sv->told == sv->handed;
    if (!here) {
        sv->handed = batch;
        pthread_cond_signal(&sv->untold);
    }
    pthread_mutex_unlock(&sv->mu);
    if (!here)
        return;
    tell_watchers(sv, batch, ok);
    pthread_mutex_lock(&sv->mu);
    sv->told = sv->handed = batch;
    pthread_cond_signal(&sv->told_cond);
    pthread_mutex_unlock(&sv->mu);
}

static void *
saver_main(void *arg)
{
    struct churn__chat_saver *sv = arg;
    pthread_setname_np(pthread_self(), "chat-saver");
    for (;;) {
        pthread_mutex_lock(&sv->mu);
        while (sv->n == 0 && sv->n_riders == 0 && !sv->stopping)
            pthread_cond_wait(&sv->cond, &sv->mu);
        if (sv->n == 0 && sv->n_riders == 0 && sv->stopping) {
            pthread_mutex_unlock(&sv->mu);
            break;
        }
        /* take the whole queue; turns go on filling the other buffer meanwhile */
        index_clear(sv);
        struct saved_state *batch = sv->queue;
        size_t n = sv->n, n_sigs = sv->n_sigs;
        struct churn__chat_signal **sigs = sv->sigs;
        sv->queue = sv->spare;
        sv->spare = batch;
        sv->spare_n = n;
        sv->sigs = sv->spare_sigs;
        sv->spare_sigs = sigs;
        sv->n = 0;
        sv->n_sigs = 0;
        memcpy(sv->spare_riders, sv->riders, sv->n_riders * sizeof(sv->riders[0]));
        sv->spare_n_riders = sv->n_riders;
        sv->n_riders = 0;
        sv->taken++;
        pthread_mutex_unlock(&sv->mu);
        bool ok = write_group(sv, batch, n, n_sigs);
        written(sv, ok);
    }
    pthread_mutex_lock(&sv->mu);
    sv->writer_done = true;
    pthread_cond_signal(&sv->untold);
    pthread_mutex_unlock(&sv->mu);
    return NULL;
}

/* The next commit to tell and its outcome, waiting for one; false once the saver has stopped
 * and every commit is told. A run of durable commits is told as its last one (a watcher takes
 * a durable commit as covering every ticket up to it); a failed one is told on its own. */
static bool
next_untold(struct churn__chat_saver *sv, uint64_t *batch, bool *ok)
{
    pthread_mutex_lock(&sv->mu);
    while (sv->told == sv->handed && !sv->writer_done)
        pthread_cond_wait(&sv->untold, &sv->mu);
    bool more = sv->told < sv->handed;
    if (more) {
        uint64_t b = sv->told + 1;
        *ok = sv->ok[b % SAVER_UNTOLD];
        while (*ok && b < sv->handed && sv->ok[(b + 1) % SAVER_UNTOLD])
            b++;
        *batch = b;
    }
    pthread_mutex_unlock(&sv->mu);
    return more;
}

/* The teller: tells the watchers of each commit, in order, off the saver's thread. */
static void *
teller_main(void *arg)
{
    struct churn__chat_saver *sv = arg;
    pthread_setname_np(pthread_self(), "chat-teller");
    uint64_t batch;
    bool ok;
    while (next_untold(sv, &batch, &ok)) {
        tell_watchers(sv, batch, ok);
        pthread_mutex_lock(&sv->mu);
        sv->told = batch;
        pthread_cond_signal(&sv->told_cond);
        pthread_mutex_unlock(&sv->mu);
    }
    return NULL;
}

static void
saver_free(struct churn__chat_saver *sv)
{
    churn_free(sv->queue);
    churn_free(sv->spare);
    churn_free(sv->items);
    churn_free(sv->index);
    churn_free(sv->sigs);
    churn_free(sv->spare_sigs);
    churn_free(sv->sig_items);
    churn_free(sv);
}

static void
sync_destroy(struct churn__chat_saver *sv)
{
    pthread_mutex_destroy(&sv->watch_mu);
    pthread_cond_destroy(&sv->told_cond);
    pthread_cond_destroy(&sv->untold);
    pthread_cond_destroy(&sv->done);
    pthread_mutex_destroy(&sv->mu);
    pthread_cond_destroy(&sv->cond);
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
    sv->index = churn_calloc(SAVER_SLOTS, sizeof(*sv->index));
    sv->sigs = churn_malloc(SAVER_QUEUE_MAX * sizeof(*sv->sigs));
    sv->spare_sigs = churn_malloc(SAVER_QUEUE_MAX * sizeof(*sv->spare_sigs));
    sv->sig_items = churn_malloc(SAVER_QUEUE_MAX * sizeof(*sv->sig_items));
    if (!sv->queue || !sv->spare || !sv->items || !sv->index || !sv->sigs || !sv->spare_sigs ||
        !sv->sig_items)
        goto out_free;
    pthread_mutex_init(&sv->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sv->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&sv->done, NULL);
    pthread_cond_init(&sv->untold, NULL);
    pthread_cond_init(&sv->told_cond, NULL);
    pthread_mutex_init(&sv->watch_mu, NULL);
    if (pthread_create(&sv->teller, NULL, teller_main, sv) != 0)
        goto out_sync;
    if (pthread_create(&sv->thread, NULL, saver_main, sv) != 0) {
        sv->writer_done = true; /* nothing was written: the teller ends at once */
        pthread_cond_signal(&sv->untold);
        pthread_join(sv->teller, NULL);
        goto out_sync;
    }
    *out = sv;
    return CHURN_OK;
out_sync:
    sync_destroy(sv);
out_free:
    saver_free(sv);
    return CHURN_ENOMEM;
}

void
churn__chat_saver_flush(struct churn__chat_saver *sv)
{
    if (!sv)
        return;
    pthread_mutex_lock(&sv->mu);
    /* the batch in progress and what is queued */
    uint64_t target = sv->taken + (sv->n > 0 || sv->n_sigs > 0);
    sv->flush_wanted++;
    pthread_cond_signal(&sv->cond);
    while (sv->written < target && !sv->stopping)
        pthread_cond_wait(&sv->done, &sv->mu);
    sv->flush_wanted--;
    pthread_mutex_unlock(&sv->mu);
}

uint64_t
churn__chat_saver_put(struct churn__chat_saver *sv, const char *customer_id,
                      const char *conversation_id, const void *data, size_t len)
{
    return churn__chat_saver_put_turn(sv, customer_id, conversation_id, data, len, NULL);
}

uint64_t
churn__chat_saver_put_turn(struct churn__chat_saver *sv, const char *customer_id,
                           const char *conversation_id, const void *data, size_t len,
                           struct churn__chat_signal *sig)
{
    if (!sv || len > SAVER_STATE_MAX)
        return 0;
    pthread_mutex_lock(&sv->mu);
    uint32_t slot;
    struct saved_state *st = queued_state(sv, customer_id, conversation_id, &slot);
    bool ok =
        !sv->stopping && (st || sv->n < SAVER_QUEUE_MAX) && (!sig || sv->n_sigs < SAVER_QUEUE_MAX);
    if (ok && sig)
        sv->sigs[sv->n_sigs++] = sig;
    if (ok && st) { /* a newer state of a queued conversation replaces the older */
        memcpy(st->data, data, len);
        st->len = len;
    } else if (ok) {
        st = &sv->queue[sv->n++];
        st->slot = slot;
        sv->index[slot] = (uint32_t)sv->n;
        snprintf(st->customer_id, sizeof(st->customer_id), "%s", customer_id);
        snprintf(st->conversation_id, sizeof(st->conversation_id), "%s", conversation_id);
        memcpy(st->data, data, len);
        st->len = len;
        if (sv->n == 1)
            pthread_cond_signal(&sv->cond); /* the saver waits for a first state */
    } else {
        sv->dropped++;
    }
    uint64_t ticket = ok ? sv->taken + 1 : 0; /* the next commit takes the whole queue */
    pthread_mutex_unlock(&sv->mu);
    return ticket;
}

bool
churn__chat_saver_ride(struct churn__chat_saver *sv, struct churn_chat_rider *r)
{
    return churn__chat_saver_ride_turns(sv, r, NULL, 0);
}

bool
churn__chat_saver_ride_turns(struct churn__chat_saver *sv, struct churn_chat_rider *r,
                             struct churn__chat_signal *const *sigs, size_t n_sigs)
{
    if (!sv)
        return false;
    pthread_mutex_lock(&sv->mu);
    bool ok =
        !sv->stopping && sv->n_riders < SAVER_RIDERS && n_sigs <= SAVER_QUEUE_MAX - sv->n_sigs;
    uint64_t ticket = sv->taken + 1; /* the next commit takes every rider and signal waiting */
    if (ok) {
        sv->riders[sv->n_riders++] = r;
        for (size_t i = 0; i < n_sigs; i++)
            sv->sigs[sv->n_sigs++] = sigs[i];
        pthread_cond_signal(&sv->cond);
    }
    while (ok && sv->written < ticket)
        pthread_cond_wait(&sv->done, &sv->mu);
    pthread_mutex_unlock(&sv->mu);
    return ok;
}

size_t
churn__chat_saver_riders(struct churn__chat_saver *sv)
{
    pthread_mutex_lock(&sv->mu);
    size_t n = sv->n_riders;
    pthread_mutex_unlock(&sv->mu);
    return n;
}

void
churn__chat_saver_watch(struct churn__chat_saver *sv, struct churn__chat_saver_watcher *w)
{
    pthread_mutex_lock(&sv->watch_mu);
    w->prev = NULL;
    w->next = sv->watchers;
    if (sv->watchers)
        sv->watchers->prev = w;
    sv->watchers = w;
    pthread_mutex_unlock(&sv->watch_mu);
}

void
churn__chat_saver_unwatch(struct churn__chat_saver *sv, struct churn__chat_saver_watcher *w)
{
    pthread_mutex_lock(&sv->watch_mu);
    if (w->prev)
        w->prev->next = w->next;
    else
        sv->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&sv->watch_mu);
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
    uint32_t slot;
    const struct saved_state *st = queued_state(sv, customer_id, conversation_id, &slot);
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
    pthread_join(sv->teller, NULL); /* every commit told */
    if (sv->dropped)
        churn_log(CHURN_LOG_WARN, "conversation_states_dropped",
                  CHURN_LF_INT("count", (long long)sv->dropped));
    sync_destroy(sv);
    saver_free(sv);
}
