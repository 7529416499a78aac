/*
 * engine/score_build.c - the background build of the score index (churn/score.h): once a
 * model serves, every customer of the store gets its current score in the index: the one
 * stored beside the record when it is current (no model evaluation), else a new one, which is
 * stored too (churn_scorer_refresh); when the served model's generation or the tier cuts change
 * (a promotion, new share-based cuts), the index is rebuilt the same way while listings keep
 * reading it (scores of the old generation stay listed until their customer is scored
 * again). Listings read the index once the first build is complete. The builder looks for a
 * new model or new cuts when poked (by the engine's housekeeping timer, churn/housekeeping.h).
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/log.h"
#include "churn/score.h"
#include "churn/score_index.h"
#include "churn/store.h"
#include "churn/segments.h"

struct churn_score_builder {
    struct churn_scorer *scorer;
    struct churn_store *store;
    struct churn_score_index *index;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;  /* (mu) */
    bool poked; /* (mu) churn_score_builder_poke() since the builder last looked */
    atomic_bool complete, running;
    atomic_uint_fast64_t builds;
    _Atomic int64_t pace_per_s; /* customers a second in a rebuild (0: unpaced) */
    _Atomic int64_t last_ms;    /* how long the last build took */
    uint64_t built_generation, built_cuts;
};

#define PAGE 512 /* customer ids listed per short read transaction */

struct build_walk {
    struct churn_score_builder *b;
    struct churn_served *m;
    struct churn_score *scratch;
    uint64_t customers, rescored;
    char (*ids)[CHURN_ID_MAX + 1];
    bool paced;    /* a rebuild: churn_score_builder_pace() applies */
    int64_t t0_ms; /* when the walk began */
};

static bool
stopping(struct churn_score_builder *b)
{
    pthread_mutex_lock(&b->mu);
    bool stop = b->stop;
    pthread_mutex_unlock(&b->mu);
    return stop;
}

/* In a paced rebuild, wait until the @done-th customer is due (woken early by a stop). */
static void
pace(struct build_walk *w, uint64_t done)
{
    int64_t per_s = atomic_load(&w->b->pace_per_s);
    if (!w->paced || per_s <= 0)
        return;
    int64_t due = w->t0_ms + (int64_t)(done * 1000 / (uint64_t)per_s);
    pthread_mutex_lock(&w->b->mu);
    while (!w->b->stop && churn_now_ms() < due) {
        struct timespec ts = churn_timespec_of_ms(due);
        pthread_cond_timedwait(&w->b->cv, &w->b->mu, &ts);
    }
    pthread_mutex_unlock(&w->b->mu);
}

/* Refresh every customer, a page of ids at a time; CHURN_ECANCELLED when told to stop. */
static enum churn_err
walk(struct build_walk *w)
{
    char after[CHURN_ID_MAX + 1] = "";
    size_t n = PAGE;
    while (n == PAGE) {
        if (stopping(w->b))
            return CHURN_ECANCELLED;
        enum churn_err err = churn_store_list_customer_ids(w->b->store, after, w->ids, PAGE, &n);
        if (err)
            return err;
        for (size_t i = 0; i < n; i++) {
            bool evaluated = false;
            pace(w, w->customers);
            /* a customer erased meanwhile is simply gone */
            if (churn_scorer_refresh(w->b->scorer, w->m, w->ids[i], w->scratch, &evaluated) ==
                CHURN_OK)
                w->customers++;
            w->rescored += evaluated;
        }
        if (n)
            memcpy(after, w->ids[n - 1], sizeof(after));
    }
    return CHURN_OK;
}

/* Score every customer with @m; true when the walk finished. */
static bool
build(struct churn_score_builder *b, struct churn_served *m, struct churn_score *scratch)
{
    int64_t t0 = churn_now_ms();
    struct build_walk w = {b,
                           m,
                           scratch,
                           0,
                           0,
                           churn_malloc(PAGE * sizeof(*w.ids)),
                           .paced = atomic_load(&b->complete),
                           .t0_ms = t0};
    atomic_store(&b->running, true);
    enum churn_err err = w.ids ? walk(&w) : CHURN_ENOMEM;
    churn_free(w.ids);
    atomic_store(&b->running, false);
    bool done = err == CHURN_OK && !stopping(b);
    int64_t ms = churn_now_ms() - t0;
    if (done) {
        atomic_store(&b->last_ms, ms);
        atomic_fetch_add(&b->builds, 1);
    }
    churn_log(
        done ? CHURN_LOG_INFO : CHURN_LOG_WARN, "score_index_built",
        CHURN_LF_INT("customers", (int64_t)w.customers),
        CHURN_LF_INT("from_store", (int64_t)(w.customers - w.rescored)),
        CHURN_LF_INT("rescored", (int64_t)w.rescored), CHURN_LF_INT("duration_ms", ms),
        CHURN_LF_INT("generation", (int64_t)m->generation),
        CHURN_LF_STR("result", done ? "complete" : churn_strerror(err ? err : CHURN_EUNAVAIL)));
    return done;
}

static void *
builder_main(void *arg)
{
    struct churn_score_builder *b = arg;
    pthread_setname_np(pthread_self(), "score-index");
    struct churn_score *scratch = churn_malloc(sizeof(*scratch));
    while (scratch && !stopping(b)) {
        struct churn_served *m = churn_scorer_acquire(b->scorer);
        struct churn_segments cuts;
        uint64_t cuts_version = 0;
        churn_scorer_segments(b->scorer, &cuts, &cuts_version);
        bool stale = m && (m->generation != b->built_generation || cuts_version != b->built_cuts);
        if (stale && build(b, m, scratch)) {
            b->built_generation = m->generation;
            b->built_cuts = cuts_version;
            atomic_store(&b->complete, true);
        }
        churn_served_release(m);
        /* until churn_score_builder_poke() (the housekeeping timer's "score-index" task) */
        pthread_mutex_lock(&b->mu);
        if (!b->stop && !b->poked)
            pthread_cond_wait(&b->cv, &b->mu);
        b->poked = false;
        pthread_mutex_unlock(&b->mu);
    }
    churn_free(scratch);
    return NULL;
}

enum churn_err
churn_score_builder_start(struct churn_scorer *scorer, struct churn_store *store,
                          struct churn_score_index *index, struct churn_score_builder **out)
{
    struct churn_score_builder *b = churn_calloc(1, sizeof(*b));
    if (!b)
        return CHURN_ENOMEM;
    b->scorer = scorer;
    b->store = store;
    b->index = index;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    if (pthread_create(&b->thread, NULL, builder_main, b) != 0) {
        pthread_cond_destroy(&b->cv);
        pthread_mutex_destroy(&b->mu);
        churn_free(b);
        return CHURN_ENOMEM;
    }
    *out = b;
    return CHURN_OK;
}

void
churn_score_builder_poke(struct churn_score_builder *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->poked = true;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

void
churn_score_builder_pace(struct churn_score_builder *b, int64_t per_s)
{
    if (b)
        atomic_store(&b->pace_per_s, per_s > 0 ? per_s : 0);
}

void
churn_score_builder_stop(struct churn_score_builder *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->stop = true;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    churn_free(b);
}

bool
churn_score_builder_complete(const struct churn_score_builder *b)
{
    return b && atomic_load(&b->complete);
}

void
churn_score_builder_status(const struct churn_score_builder *b, bool *running, uint64_t *builds,
                           int64_t *last_ms)
{
    *running = b && atomic_load(&b->running);
    *builds = b ? atomic_load(&b->builds) : 0;
    *last_ms = b ? atomic_load(&b->last_ms) : 0;
}
