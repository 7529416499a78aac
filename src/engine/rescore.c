/*
 * service/rescore.c - rescoring for the alert engine. Customers touched by an ingestion
 * batch or a chat turn, customers whose snooze ended and every customer of the periodic
 * sweep go through one de-duplicated queue (a customer queued twice is rescored once, and
 * the rescore sees everything ingested before it runs). The engine takes them in batches:
 * each customer is scored without any lock; then, under log_mu, the score is compared with
 * the previous snapshot kept in the customer's alert state (format 2: per-cause states
 * followed by the encoded snapshot), one TIER_WORSENED or PROBABILITY_JUMP alert is raised
 * or updated (a tier rise that also jumped is one TIER_WORSENED alert, and an open
 * TIER_WORSENED alert absorbs a later jump), the other cause's open alert is auto-closed when
 * its condition cleared, snoozed alerts whose time has come are woken, and every new
 * snapshot of the batch is stored in ONE durable write. A customer's first score only stores
 * the snapshot. The queue is bounded; what does not fit is counted and logged (at most once
 * a second) and caught by the next sweep.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "churn/alerts.h"
#include "churn/alert_rules.h"
#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/features.h"
#include "churn/hash.h"
#include "churn/log.h"
#include "churn/score.h"
#include "churn/score_index.h"
#include "churn/store.h"
#include "churn/store_chat.h"
#include "alert_engine.h"

/* ---- one customer ------------------------------------------------------------------------ */

/* 64-bit FNV-1a of the model version: snapshots of different models are not compared
 * feature by feature. */
static uint64_t
feature_set_of(const char *version)
{
    return churn_fnv1a64_str(version);
}

/* The snapshot of score @sc into @snap over the catalogue's features (@contrib, @values:
 * CHURN_FEAT__COUNT each): the features that raise the risk, with their values; the others
 * (unused, or lowering the risk) contribute 0 with no value. */
static void
snapshot_of(const struct churn_score *sc, double *contrib, double *values,
            struct churn_score_snapshot *snap)
{
    for (size_t i = 0; i < CHURN_FEAT__COUNT; i++) {
        bool raises = sc->contributions[i] > 0;
        contrib[i] = raises ? sc->contributions[i] : 0.0;
        values[i] = raises ? sc->values[i] : NAN;
    }
    memset(snap, 0, sizeof(*snap));
    snap->scored_at_ms = sc->scored_at_ms;
    snap->probability = sc->probability;
    snap->risk_tier = sc->risk_tier;
    snap->value_tier = sc->value_tier;
    snap->value = isfinite(sc->value) && sc->value >= 0 ? sc->value : 0;
    snap->feature_set = feature_set_of(sc->model_version);
    snap->n_features = CHURN_FEAT__COUNT;
    snap->contributions = contrib;
    snap->values = values;
}

void
churn__alert_add_score_reasons(struct churn_alert *alert, const struct churn_score *sc)
{
    for (size_t i = 0; i < sc->n_reasons && alert->n_reasons < CHURN_ALERT_MAX_REASONS; i++) {
        const struct churn_score_reason *r = &sc->reasons[i];
        churn_alert_add_reason(alert, r->name, r->label, isnan(r->value) ? 0.0 : r->value,
                               r->contribution);
    }
}

/*
 * Say in @alert's what-moved that the model changed since the customer's scores were last
 * told in an alert, and how much of the probability that moved (the last item when the list
 * is full: the model's move matters more than the smallest feature's).
 */
static void
tell_model_change(const struct churn_score_snapshot *cur, struct churn_alert *alert)
{
    uint32_t i = alert->n_moved < CHURN_ALERT_MAX_MOVED ? alert->n_moved++ : alert->n_moved - 1;
    struct churn_alert_moved *m = &alert->moved[i];
    char when[40];
    churn_format_time_ms(cur->model_changed_ms, when, sizeof(when));
    snprintf(m->feature, sizeof(m->feature), "model");
    snprintf(m->label, sizeof(m->label), "served model");
    m->before = cur->model_from_probability;
    m->after = cur->model_to_probability;
    m->contribution_delta = cur->model_to_probability - cur->model_from_probability;
    snprintf(m->sentence, sizeof(m->sentence),
             "the served model changed at %s: that alone moved the churn probability from "
             "%.2f to %.2f (not a change in the customer)",
             when, cur->model_from_probability, cur->model_to_probability);
}

/* A fresh alert of @cause for the rescore of @sc against @prev (al->labels for what moved). */
static enum churn_err
build_rescore_alert(struct churn__alerts *al, enum churn_alert_cause cause,
                    const struct churn_score *sc, const struct churn_score_snapshot *prev,
                    const struct churn_score_snapshot *cur, int64_t now, struct churn_alert *fresh)
{
    enum churn_err err = churn_alert_init(fresh, sc->customer_id, cause, now);
    if (!err)
        err = churn_alert_set_score(fresh, cur->probability, cur->risk_tier, prev->probability,
                                    prev->risk_tier, cur->value_tier, cur->value);
    if (err)
        return err;
    churn__alert_add_score_reasons(fresh, sc);
    churn_alert_what_moved(&al->rules, prev, cur, al->labels, CHURN_FEAT__COUNT, fresh);
    if (cur->model_changed_ms)
        tell_model_change(cur, fresh);
    struct churn_source_freshness src[CHURN_SOURCE_COUNT];
    for (int i = 0; i < CHURN_SOURCE_COUNT; i++) {
        src[i].source = churn_features_source_name((enum churn_source)i);
        src[i].last_event_ms = sc->freshness.at[i];
    }
    churn_alert_mark_stale(&al->rules, src, CHURN_SOURCE_COUNT, now,
                           fresh); /* keeps those that fit */
    return CHURN_OK;
}

/* Auto-close the open alert of @cause when its condition cleared for @cur. log_mu held. */
static enum churn_err
maybe_auto_close_locked(struct churn__alerts *al, enum churn_alert_cause cause,
                        struct churn__state_set *set, const struct churn_score_snapshot *cur,
                        int64_t now, struct churn_arena *a)
{
    if (!set->have[cause] || !set->st[cause].open_id)
        return CHURN_OK;
    enum churn_err err = churn__alerts_read(al, set->st[cause].last_sequence, &al->work);
    if (err == CHURN_ENOTFOUND)
        return CHURN_OK; /* erased */
    if (err)
        return err;
    if (!churn_alert_condition_cleared(&al->rules, &al->work, cur))
        return CHURN_OK;
    char msg[CHURN_ALERT_ERRMSG];
    err = churn_alert_close(&al->work, CHURN_RESOLUTION_AUTO_CLEARED, now, msg, sizeof(msg));
    if (err)
        return CHURN_OK; /* already closed */
    err = churn__alerts_commit_locked(al, false, set, a);
    if (!err)
        churn_log(CHURN_LOG_INFO, "alert_auto_closed",
                  CHURN_LF_INT("sequence", (int64_t)al->work.sequence),
                  CHURN_LF_STR("customer_id", al->work.customer_id),
                  CHURN_LF_STR("cause", churn_alert_cause_name(cause)));
    return err;
}

/* Raise or update an alert of @cause (fired for @cur against @prev). log_mu held. */
static enum churn_err
trigger_locked(struct churn__alerts *al, enum churn_alert_cause cause, const struct churn_score *sc,
               const struct churn_score_snapshot *prev, const struct churn_score_snapshot *cur,
               struct churn__state_set *set, int64_t now, struct churn_arena *a,
               struct churn_alert *fresh)
{
    enum churn_err err = build_rescore_alert(al, cause, sc, prev, cur, now, fresh);
    return err ? err : churn__alerts_trigger_locked(al, fresh, set, now, a);
}

/* A jump while the customer's TIER_WORSENED alert is open: that alert absorbs it, and keeps
 * the baseline it was raised against (so it auto-closes when the tier is back there, not at
 * once). log_mu held. */
static enum churn_err
fold_jump_locked(struct churn__alerts *al, const struct churn_score *sc,
                 const struct churn_score_snapshot *prev, const struct churn_score_snapshot *cur,
                 struct churn__state_set *set, int64_t now, struct churn_arena *a,
                 struct churn_alert *fresh)
{
    enum churn_err err =
        build_rescore_alert(al, CHURN_CAUSE_TIER_WORSENED, sc, prev, cur, now, fresh);
    if (err)
        return err;
    err = churn__alerts_read(al, set->st[CHURN_CAUSE_TIER_WORSENED].last_sequence, &al->work);
    if (err && err != CHURN_ENOTFOUND)
        return err;
    if (!err) {
        fresh->risk_tier_before = al->work.risk_tier_before;
        fresh->probability_before = al->work.probability_before;
    }
    return churn__alerts_trigger_locked(al, fresh, set, now, a);
}

/* ---- the batch ---------------------------------------------------------------------------- */

/*
 * Store the batch's @n states in ONE durable write: riding the chat saver's next commit when
 * there is one (issue 13: a chat load's rescores then take the write lock and pay an fsync
 * with the turns' group rather than on their own), else alone.
 */
static void
put_states(struct churn__alerts *al, const struct churn_alert_state_put *puts, size_t n)
{
    struct churn_chat_rider r = {.alert_states = puts, .n_alert_states = n};
    enum churn_err err = CHURN_OK;
    const char *msg = r.error;
    if (n && churn__chat_saver_ride(al->cfg.chat_saver, &r)) {
        err = r.err;
    } else if (n) {
        err = churn_store_put_alert_states(al->store, puts, n);
        msg = churn_store_last_error();
    }
    if (err)
        churn_log(CHURN_LOG_ERROR, "rescore_state_write_failed",
                  CHURN_LF_INT("customers", (int64_t)n), CHURN_LF_STR("error", msg));
}

struct scored {
    const char *customer_id;
    struct churn_score *sc; /* NULL: unknown customer or no model (only wake-ups apply) */
    struct churn_score_snapshot cur;
    double contrib[CHURN_FEAT__COUNT], values[CHURN_FEAT__COUNT];
    uint8_t *enc; /* cur encoded */
    size_t enc_len;
};

/* Encode @s->cur into @a as the snapshot to store. */
static enum churn_err
encode_cur(struct scored *s, struct churn_arena *a)
{
    size_t cap = churn_score_snapshot_encoded_size(&s->cur);
    uint8_t *enc = churn_arena_alloc(a, cap);
    if (!enc)
        return CHURN_ENOMEM;
    enum churn_err err = churn_score_snapshot_encode(&s->cur, enc, cap, &s->enc_len);
    if (!err)
        s->enc = enc;
    return err;
}

/* Score one customer (no lock held). */
static void
score_one(struct churn__alerts *al, struct scored *s, struct churn_arena *a)
{
    char msg[300];
    s->sc = NULL;
    struct churn_score *sc = churn_arena_alloc(a, sizeof(*sc));
    struct churn_score_request req = {.max_reasons = CHURN_ALERT_MAX_REASONS,
                                      .contributions = true};
    struct churn_score *offered = churn__rescore_take_prescored(al, s->customer_id);
    if (sc && offered && offered->have_contributions)
        churn_score_copy(sc, offered); /* the score its change already computed: no second
                                        * evaluation */
    else if (!sc || churn_scorer_score(al->cfg.scorer, NULL, s->customer_id, &req, NULL, sc, msg,
                                       sizeof(msg)) != CHURN_OK)
        sc = NULL;
    churn_free(offered);
    if (!sc)
        return; /* unknown customer or no model: nothing to compare */
    snapshot_of(sc, s->contrib, s->values, &s->cur);
    if (encode_cur(s, a) != CHURN_OK)
        return;
    s->sc = sc;
}

/*
 * The new snapshot of @s carries the model change since @prev: a new one when @moved (now,
 * from @prev's probability to this one), else the one @prev carried (not yet told).
 */
static enum churn_err
carry_model_change(struct scored *s, const struct churn_score_snapshot *prev, bool moved,
                   int64_t now, struct churn_arena *a)
{
    struct churn_score_snapshot *cur = &s->cur;
    if (moved) {
        cur->model_changed_ms = now;
        cur->model_from_probability = prev->probability;
        cur->model_to_probability = cur->probability;
    } else if (prev->model_changed_ms) {
        cur->model_changed_ms = prev->model_changed_ms;
        cur->model_from_probability = prev->model_from_probability;
        cur->model_to_probability = prev->model_to_probability;
    } else {
        return CHURN_OK; /* nothing to carry: the encoding made without the lock stands */
    }
    return encode_cur(s, a);
}

/* Wake the snoozed alerts of @set whose time has come. log_mu held. */
static enum churn_err
wake_locked(struct churn__alerts *al, struct churn__state_set *set, int64_t now,
            struct churn_arena *a, bool *changed)
{
    for (int c = 1; c < CHURN_CAUSE_COUNT; c++) {
        struct churn_alert_state *st = &set->st[c];
        if (!set->have[c] || !st->open_id || !st->snoozed_until_ms || st->snoozed_until_ms > now)
            continue;
        enum churn_err err = churn__alerts_read(al, st->last_sequence, &al->work);
        if (err == CHURN_ENOTFOUND)
            continue; /* erased */
        if (err)
            return err;
        if (!churn_alert_wake(&al->work, now))
            continue;
        if ((err = churn__alerts_commit_locked(al, false, set, a)))
            return err;
        *changed = true;
        churn_log(CHURN_LOG_INFO, "alert_woken", CHURN_LF_INT("alert", (int64_t)al->work.id),
                  CHURN_LF_INT("sequence", (int64_t)al->work.sequence),
                  CHURN_LF_STR("customer_id", al->work.customer_id));
    }
    return CHURN_OK;
}

/* Compare, alert, wake for one scored customer; its new state blob into @put. log_mu held. */
static enum churn_err
rescore_locked(struct churn__alerts *al, struct scored *s, int64_t now, struct churn_arena *a,
               struct churn_alert *fresh, struct churn_alert_state_put *put, bool *have_put)
{
    static const enum churn_alert_cause causes[] = {CHURN_CAUSE_TIER_WORSENED,
                                                    CHURN_CAUSE_PROBABILITY_JUMP};
    struct churn__state_set set;
    struct churn_score_snapshot prev = {0};
    bool have_prev = false, woke = false;
    *have_put = false;
    enum churn_err err = churn__alerts_load_states(al, s->customer_id, a, &set);
    if (!err)
        err = wake_locked(al, &set, now, a, &woke);
    if (err || !s->sc)
        return err; /* a wake-up stored its own state */
    have_prev = set.snap && churn_score_snapshot_decode(set.snap, set.snap_len, &prev) == CHURN_OK;
    /* a score of another model is a new baseline: compared with nothing, neither raising nor
     * auto-closing; the model's move is kept for the next alert to tell */
    bool model_moved = have_prev && prev.feature_set != s->cur.feature_set;
    if (have_prev && (err = carry_model_change(s, &prev, model_moved, now, a)))
        goto out;
    set.snap = s->enc; /* every state write from here on carries the new snapshot */
    set.snap_len = s->enc_len;
    if (have_prev && !model_moved) {
        struct churn_alert_triggers tr;
        err = churn_alert_rules_evaluate(&al->rules, &prev, &s->cur, NULL, &tr);
        /* one alert per rescore: a tier rise that also jumped is one TIER_WORSENED alert,
         * and an open TIER_WORSENED alert absorbs a later jump */
        bool tier_open =
            set.have[CHURN_CAUSE_TIER_WORSENED] && set.st[CHURN_CAUSE_TIER_WORSENED].open_id;
        enum churn_alert_cause raise =
            err ? CHURN_CAUSE_UNSPECIFIED : churn_alert_score_cause(&tr, tier_open);
        for (size_t i = 0; !err && i < sizeof(causes) / sizeof(causes[0]); i++) {
            if (causes[i] == raise && (tr.causes & (1u << raise)))
                err = trigger_locked(al, causes[i], s->sc, &prev, &s->cur, &set, now, a, fresh);
            else if (causes[i] == raise)
                err = fold_jump_locked(al, s->sc, &prev, &s->cur, &set, now, a, fresh);
            else if (!(tr.causes & (1u << causes[i])))
                err = maybe_auto_close_locked(al, causes[i], &set, &s->cur, now, a);
        }
        /* told in the alert just raised or updated: later alerts need not repeat it */
        bool told = !err && (tr.causes & ((1u << CHURN_CAUSE_TIER_WORSENED) |
                                          (1u << CHURN_CAUSE_PROBABILITY_JUMP)));
        if (told && s->cur.model_changed_ms) {
            s->cur.model_changed_ms = 0;
            if (!(err = encode_cur(s, a))) {
                set.snap = s->enc;
                set.snap_len = s->enc_len;
            }
        }
    }
out:
    if (have_prev)
        churn_score_snapshot_fini(&prev);
    if (err)
        return err;
    put->customer_id = s->customer_id;
    put->data = churn__alerts_encode_states(&set, a, &put->len);
    if (!put->data)
        return CHURN_ENOMEM;
    *have_put = true;
    return CHURN_OK;
}

size_t
churn__alerts_owned_only(struct churn__alerts *al, char (*ids)[CHURN_ALERT_ID_MAX], size_t n)
{
    if (!al->cfg.owns)
        return n;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (al->cfg.owns(al->cfg.owns_ctx, ids[i])) {
            if (k != i)
                memcpy(ids[k], ids[i], sizeof(ids[i]));
            k++;
        }
    return k;
}

void
churn__rescore_batch(struct churn__alerts *al, char (*ids)[CHURN_ALERT_ID_MAX], size_t n,
                     struct churn_arena *a, struct churn_alert *fresh)
{
    churn_arena_reset(a);
    n = churn__alerts_owned_only(al, ids, n); /* a wake-up or a late job of a moved customer */
    if (n == 0)
        return;
    struct scored *s = churn_arena_zalloc(a, n * sizeof(*s));
    struct churn_alert_state_put *puts = churn_arena_alloc(a, n * sizeof(*puts));
    if (!s || !puts) {
        churn_log(CHURN_LOG_ERROR, "rescore_failed", CHURN_LF_STR("error", "out of memory"));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        s[i].customer_id = ids[i];
        score_one(al, &s[i], a);
    }
    pthread_mutex_lock(&al->mu);
    if (al->sweep.running) /* the sweep's scores set the tier cut-offs when it ends */
        for (size_t i = 0; i < n; i++)
            if (s[i].sc)
                churn__segments_sample_locked(al, s[i].sc->probability, s[i].cur.value);
    pthread_mutex_unlock(&al->mu);
    int64_t now = churn_now_ms();
    size_t n_puts = 0;
    pthread_mutex_lock(&al->log_mu);
    for (size_t i = 0; i < n; i++) {
        bool have_put = false;
        enum churn_err err = rescore_locked(al, &s[i], now, a, fresh, &puts[n_puts], &have_put);
        if (err)
            churn_log(CHURN_LOG_ERROR, "rescore_failed",
                      CHURN_LF_STR("customer_id", s[i].customer_id),
                      CHURN_LF_STR("error", churn_strerror(err)));
        else if (have_put)
            n_puts++;
    }
    /* under log_mu: an acknowledgement must not interleave with the batch's state write */
    put_states(al, puts, n_puts);
    pthread_mutex_unlock(&al->log_mu);
}

/* ---- the queue ---------------------------------------------------------------------------- */

/*
 * The set of customers with a rescore queued: a burst of events for one customer queues one
 * rescore, not one per batch. Keys are churn_id_hash() values (0 is the empty slot), linear
 * probing, backward-shift deletion. Caller holds al->mu.
 */
static bool
pending_add(struct churn__alerts *al, uint64_t h)
{
    size_t i = h % CHURN__RESCORE_PENDING;
    while (al->pending[i]) {
        if (al->pending[i] == h)
            return false;
        i = (i + 1) % CHURN__RESCORE_PENDING;
    }
    al->pending[i] = h;
    return true;
}

static void
pending_remove(struct churn__alerts *al, uint64_t h)
{
    const size_t cap = CHURN__RESCORE_PENDING;
    size_t i = h % cap;
    while (al->pending[i] && al->pending[i] != h)
        i = (i + 1) % cap;
    if (!al->pending[i])
        return;
    al->pending[i] = 0;
    /* shift back the entries of the same probe run that follow the hole */
    for (size_t j = (i + 1) % cap; al->pending[j]; j = (j + 1) % cap) {
        size_t home = al->pending[j] % cap;
        bool movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            al->pending[i] = al->pending[j];
            al->pending[j] = 0;
            i = j;
        }
    }
}

/* The slot of the score offered for @id, or n_prescored. al->mu held. */
static size_t
prescored_find_locked(const struct churn__alerts *al, const char *id)
{
    size_t i = 0;
    while (i < al->n_prescored && strcmp(al->prescored[i]->customer_id, id) != 0)
        i++;
    return i;
}

/* Forget the score offered in slot @i (order does not matter). al->mu held. */
static struct churn_score *
prescored_remove_locked(struct churn__alerts *al, size_t i)
{
    struct churn_score *sc = al->prescored[i];
    al->prescored[i] = al->prescored[--al->n_prescored];
    return sc;
}

struct churn_score *
churn__rescore_take_prescored(struct churn__alerts *al, const char *customer_id)
{
    pthread_mutex_lock(&al->mu);
    size_t i = prescored_find_locked(al, customer_id);
    struct churn_score *sc = i < al->n_prescored ? prescored_remove_locked(al, i) : NULL;
    pthread_mutex_unlock(&al->mu);
    return sc;
}

/* Queue @id unless it is queued already. al->mu held. 1 queued, 0 coalesced, -1 full. */
static int
enqueue_locked(struct churn__alerts *al, const char *id)
{
    if (al->rq_n == CHURN__RESCORE_QUEUE_CAP)
        return -1;
    if (!pending_add(al, churn_id_hash(id))) {
        al->rescores_coalesced++; /* its queued rescore will see this change too */
        return 0;
    }
    char *slot = al->rq[(al->rq_head + al->rq_n) % CHURN__RESCORE_QUEUE_CAP];
    snprintf(slot, CHURN_ALERT_ID_MAX, "%s", id);
    al->rq_n++;
    return 1;
}

size_t
churn__rescore_take_locked(struct churn__alerts *al, char (*ids)[CHURN_ALERT_ID_MAX], size_t max)
{
    size_t n = 0;
    while (n < max && al->rq_n) {
        memcpy(ids[n], al->rq[al->rq_head], CHURN_ALERT_ID_MAX);
        pending_remove(al, churn_id_hash(ids[n]));
        al->rq_head = (al->rq_head + 1) % CHURN__RESCORE_QUEUE_CAP;
        al->rq_n--;
        n++;
    }
    al->rescores_done += n;
    if (n && al->rq_n <= CHURN__RESCORE_QUEUE_CAP / 2)
        pthread_cond_broadcast(&al->space_cv);
    return n;
}

size_t
churn__alerts_rescore(struct churn__alerts *al, const char *const *customer_ids, size_t n)
{
    if (!al || n == 0)
        return 0;
    size_t queued = 0, dropped = 0;
    pthread_mutex_lock(&al->mu);
    for (size_t i = 0; i < n && !al->stop; i++) {
        const char *id = customer_ids[i];
        if (!id || !*id || strlen(id) >= CHURN_ALERT_ID_MAX)
            continue;
        size_t p = prescored_find_locked(al, id);
        if (p < al->n_prescored) /* a later change: its rescore must score afresh */
            churn_free(prescored_remove_locked(al, p));
        /* a listing rescores it first if it reads before this rescore ran */
        churn_score_index_mark_changed(al->cfg.scores, id);
        int r = enqueue_locked(al, id);
        queued += r == 1;
        dropped += r < 0;
    }
    al->rescores_dropped += dropped;
    uint64_t dropped_total = al->rescores_dropped;
    /* at most one warning a second: a sustained burst must not flood the log */
    int64_t now = churn_now_ms();
    bool log_now = dropped && now - al->dropped_logged_ms >= 1000;
    if (log_now)
        al->dropped_logged_ms = now;
    if (queued)
        pthread_cond_signal(&al->cv);
    pthread_mutex_unlock(&al->mu);
    if (log_now)
        churn_log(CHURN_LOG_WARN, "rescore_queue_full", CHURN_LF_INT("dropped", (int64_t)dropped),
                  CHURN_LF_INT("dropped_total", (int64_t)dropped_total),
                  CHURN_LF_STR("msg", "the next sweep rescores them"));
    return queued;
}

bool
churn__alerts_rescore_scored(struct churn__alerts *al, const struct churn_score *sc)
{
    struct churn_score *copy = al ? churn_malloc(sizeof(*copy)) : NULL;
    if (!copy)
        return false;
    churn_score_copy(copy, sc);
    struct churn_score *evicted = NULL;
    pthread_mutex_lock(&al->mu);
    size_t p = prescored_find_locked(al, sc->customer_id);
    if (p < al->n_prescored)
        evicted = prescored_remove_locked(al, p);
    else if (al->n_prescored == CHURN__PRESCORED_MAX)
        evicted = prescored_remove_locked(al, 0); /* that customer is scored as usual */
    int r = al->stop ? -1 : enqueue_locked(al, sc->customer_id);
    if (r >= 0)
        al->prescored[al->n_prescored++] = copy;
    if (r == 1)
        pthread_cond_signal(&al->cv);
    pthread_mutex_unlock(&al->mu);
    churn_free(evicted);
    if (r < 0)
        churn_free(copy);
    return r >= 0;
}

bool
churn__rescore_enqueue_wait(struct churn__alerts *al, char (*ids)[CHURN_ALERT_ID_MAX], size_t n)
{
    pthread_mutex_lock(&al->mu);
    for (size_t i = 0; i < n && !al->stop; i++) {
        while (!al->stop && al->rq_n > CHURN__RESCORE_QUEUE_CAP / 2)
            pthread_cond_wait(&al->space_cv, &al->mu);
        if (!al->stop)
            enqueue_locked(al, ids[i]);
    }
    bool ok = !al->stop;
    pthread_cond_signal(&al->cv);
    pthread_mutex_unlock(&al->mu);
    return ok;
}

/* ---- snoozes ending ----------------------------------------------------------------------- */

void
churn__alerts_note_snooze(struct churn__alerts *al, const char *customer_id, int64_t until_ms)
{
    pthread_mutex_lock(&al->mu);
    if (al->n_wakes < CHURN__WAKE_MAX) {
        /* beyond the cap the sweep wakes it, late by at most one sweep interval */
        struct churn__wake *w = &al->wakes[al->n_wakes++];
        snprintf(w->customer_id, sizeof(w->customer_id), "%s", customer_id);
        w->at_ms = until_ms;
        if (until_ms < al->next_wake_ms)
            al->next_wake_ms = until_ms;
    }
    pthread_mutex_unlock(&al->mu);
}

void
churn__rescore_due_wakes_locked(struct churn__alerts *al, int64_t now)
{
    if (now < al->next_wake_ms)
        return;
    int64_t next = INT64_MAX;
    size_t k = 0;
    for (size_t i = 0; i < al->n_wakes; i++) {
        if (al->wakes[i].at_ms <= now && enqueue_locked(al, al->wakes[i].customer_id) >= 0)
            continue; /* queued (or already queued): the rescore wakes it */
        if (al->wakes[i].at_ms < next)
            next = al->wakes[i].at_ms;
        al->wakes[k++] = al->wakes[i];
    }
    al->n_wakes = k;
    al->next_wake_ms = next;
}

enum churn_err
churn__rescore_init(struct churn__alerts *al)
{
    al->rq = churn_calloc(CHURN__RESCORE_QUEUE_CAP, sizeof(*al->rq));
    al->pending = churn_calloc(CHURN__RESCORE_PENDING, sizeof(*al->pending));
    al->next_wake_ms = INT64_MAX;
    return al->rq && al->pending ? CHURN_OK : CHURN_ENOMEM;
}

void
churn__rescore_fini(struct churn__alerts *al)
{
    for (size_t i = 0; i < al->n_prescored; i++)
        churn_free(al->prescored[i]);
    al->n_prescored = 0;
    churn_free(al->rq);
    churn_free(al->pending);
    al->rq = NULL;
    al->pending = NULL;
}
