/*
 * service/alerting.c - the alert engine: one background thread that turns chat signals into
 * durable alerts and fans alerts out to WatchAlerts streams. Chat handlers enqueue a job
 * (customer, cause, reason, evidence, confidence) into a bounded queue and never wait; the
 * engine reads the customer's alert state, decides RAISE / UPDATE / SUPPRESS with the rules
 * of src/alerts, builds the alert (score, reasons, playbook), appends it to the alert log,
 * stores the state and publishes it to the in-memory hub, all under one lock (log_mu) that
 * also serialises AcknowledgeAlert, so sequences are published in order. The hub's notify
 * callback only marks a watcher pending and wakes this thread, which drains the watcher with
 * churn_alert_hub_next() and sends with churn_rpc_send() (never blocking on a client); the
 * same thread sends heartbeats to watchers idle for their interval.
 *
 * Rescoring: after each durable ingestion batch the ingest path enqueues the customers it
 * touched (churn__alerts_rescore(), same bounded queue); the engine scores each one, compares
 * the score with the previous snapshot kept in the customer's alert state blob (format 2:
 * the per-cause states followed by the encoded snapshot), raises or updates TIER_WORSENED and
 * PROBABILITY_JUMP alerts with what moved and stale sources, auto-closes those whose
 * condition cleared, and stores the new snapshot. A customer's first score only stores it.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "churn/alerts.h"
#include "churn/alerts_hub.h"
#include "churn/alerts_playbook.h"
#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/features.h"
#include "churn/log.h"
#include "churn/store.h"
#include "service_internal.h"

#define JOB_QUEUE_CAP     4096u      /* chat jobs waiting for the engine (~3 MiB) */
#define HEARTBEAT_TICK_MS 250        /* how often idle watchers are checked */
#define FANOUT_BATCH      64u        /* watchers drained per wake-up */
#define ENGINE_ARENA      (1u << 20) /* per-job scratch (scores) */
#define STATE_BLOB_SIZE   (1u + (CHURN_CAUSE_COUNT - 1u) * (1u + CHURN_ALERT_STATE_ENCODED_SIZE))
#define STATE_VERSION     1u  /* the per-cause states only */
#define STATE_VERSION_2   2u  /* ... followed by the last score snapshot */
#define RESCORE_REASONS   64u /* reasons asked for: every catalogue feature the model uses */
#define RESCORE_WINDOW    24u /* "in 180 days" */
#define PENDING_SLOTS     (2u * JOB_QUEUE_CAP) /* open addressing, at most half full */

#ifndef CHURN_DEFAULT_PLAYBOOKS
#define CHURN_DEFAULT_PLAYBOOKS                                                                    \
    CHURN_DEFAULT_LEXICON_DIR "/../tests/data/playbooks/default.playbooks"
#endif

struct alert_job {
    char customer_id[CHURN_ALERT_ID_MAX];
    enum churn_alert_cause cause; /* UNSPECIFIED: a rescore job */
    char reason[CHURN_ALERT_NAME_MAX];
    char evidence[CHURN_ALERT_TEXT_MAX];
    double confidence;
};

struct churn__alerts {
    struct churn_services *svc;
    struct churn_store *store;
    struct churn_alert_hub *hub;
    struct churn_playbook_registry *playbooks;
    struct churn_alert_rules_config rules;

    pthread_mutex_t log_mu;  /* append, state and publish: one change at a time, in order */
    struct churn_alert work; /* (log_mu) the alert being built */
    uint8_t buf[CHURN_ALERT_ENCODED_MAX]; /* (log_mu) its encoding */

    pthread_mutex_t mu; /* the fields below */
    pthread_cond_t cv;
    pthread_t thread;
    bool started;
    bool stop;
    bool fanout;            /* some watcher is pending */
    struct alert_job *jobs; /* ring of JOB_QUEUE_CAP */
    size_t job_head, n_jobs;
    struct churn__watcher *watchers; /* doubly linked */
    size_t dropped;                  /* jobs refused because the queue was full */
    uint64_t rescores_dropped;       /* (mu) rescore jobs refused: queue full */
    uint64_t rescores_coalesced;     /* (mu) rescores already queued for the customer */
    uint64_t pending[PENDING_SLOTS]; /* (mu) hashes of customers with a queued rescore */
    int64_t dropped_logged_ms;       /* (mu) last rescore_queue_full warning */

    /* rescoring: feature labels of the catalogue (immutable after start) */
    char windows[CHURN_FEAT__COUNT][RESCORE_WINDOW];
    struct churn_feature_label labels[CHURN_FEAT__COUNT];
};

static uint64_t pending_hash(const char *id);
static void pending_remove(struct churn__alerts *al, uint64_t h);

/* The customer's alert state as loaded: per-cause states and the last score snapshot (the
 * encoded bytes, in the caller's arena or buffer; NULL when there is none). */
struct state_set {
    struct churn_alert_state st[CHURN_CAUSE_COUNT];
    bool have[CHURN_CAUSE_COUNT];
    const uint8_t *snap;
    size_t snap_len;
};

/* ---- the packed per-customer state: one blob for all causes ---------------------------- */

static void
states_decode(const uint8_t *data, size_t len, struct state_set *set)
{
    struct churn_alert_state *st = set->st;
    bool *have = set->have;
    for (int c = 0; c < CHURN_CAUSE_COUNT; c++)
        have[c] = false;
    set->snap = NULL;
    set->snap_len = 0;
    if (len < STATE_BLOB_SIZE)
        return;
    if (data[0] == STATE_VERSION_2) {
        if (len > STATE_BLOB_SIZE) {
            set->snap = data + STATE_BLOB_SIZE;
            set->snap_len = len - STATE_BLOB_SIZE;
        }
    } else if (len != STATE_BLOB_SIZE || data[0] != STATE_VERSION) {
        return;
    }
    const uint8_t *p = data + 1;
    for (int c = 1; c < CHURN_CAUSE_COUNT; c++) {
        if (p[0] == 1 &&
            churn_alert_state_decode(p + 1, CHURN_ALERT_STATE_ENCODED_SIZE, &st[c]) == CHURN_OK)
            have[c] = true;
        p += 1 + CHURN_ALERT_STATE_ENCODED_SIZE;
    }
}

/* Encode @set into @out (STATE_BLOB_SIZE + set->snap_len bytes). */
static enum churn_err
states_encode(const struct state_set *set, uint8_t *out)
{
    const struct churn_alert_state *st = set->st;
    const bool *have = set->have;
    memset(out, 0, STATE_BLOB_SIZE);
    out[0] = set->snap_len ? STATE_VERSION_2 : STATE_VERSION;
    uint8_t *p = out + 1;
    for (int c = 1; c < CHURN_CAUSE_COUNT; c++) {
        if (have[c]) {
            size_t len;
            p[0] = 1;
            enum churn_err err =
                churn_alert_state_encode(&st[c], p + 1, CHURN_ALERT_STATE_ENCODED_SIZE, &len);
            if (err)
                return err;
        }
        p += 1 + CHURN_ALERT_STATE_ENCODED_SIZE;
    }
    if (set->snap_len)
        memcpy(out + STATE_BLOB_SIZE, set->snap, set->snap_len);
    return CHURN_OK;
}

static enum churn_err
load_states(struct churn__alerts *al, const char *customer_id, struct churn_arena *a,
            struct state_set *set)
{
    void *data = NULL;
    size_t len = 0;
    memset(set, 0, sizeof(*set));
    enum churn_err err = churn_store_get_alert_state(al->store, customer_id, a, &data, &len);
    if (err == CHURN_ENOTFOUND) {
        states_decode(NULL, 0, set);
        return CHURN_OK;
    }
    if (err)
        return err;
    states_decode(data, len, set);
    return CHURN_OK;
}

/* Store @set for @customer_id (the state blob plus the snapshot), in @a. */
static enum churn_err
store_states(struct churn__alerts *al, const char *customer_id, const struct state_set *set,
             struct churn_arena *a)
{
    size_t len = STATE_BLOB_SIZE + set->snap_len;
    uint8_t *blob = churn_arena_alloc(a, len);
    if (!blob)
        return CHURN_ENOMEM;
    enum churn_err err = states_encode(set, blob);
    if (!err)
        err = churn_store_put_alert_state(al->store, customer_id, blob, len);
    return err;
}

/* ---- reading the log -------------------------------------------------------------------- */

struct read_one {
    uint64_t seq;
    struct churn_alert *out;
    bool found;
};

static int
read_one_cb(uint64_t seq, const char *customer_id, const void *data, size_t len, void *user)
{
    (void)customer_id;
    struct read_one *r = user;
    if (seq == r->seq && churn_alert_decode(data, len, r->out) == CHURN_OK)
        r->found = true;
    return 1;
}

enum churn_err
churn__alerts_read(struct churn__alerts *al, uint64_t seq, struct churn_alert *out)
{
    if (seq == 0)
        return CHURN_ENOTFOUND;
    struct read_one r = {.seq = seq, .out = out};
    enum churn_err err = churn_store_foreach_alert(al->store, seq - 1, 1, read_one_cb, &r);
    if (err && err != CHURN_ECANCELLED) /* ECANCELLED: the callback stopped the walk */
        return err;
    return r.found ? CHURN_OK : CHURN_ENOTFOUND;
}

static int
head_cb(uint64_t seq, const char *customer_id, const void *data, size_t len, void *user)
{
    (void)customer_id;
    (void)data;
    (void)len;
    *(uint64_t *)user = seq;
    return 0;
}

/* ---- appending a change ---------------------------------------------------------------- */

/* Append al->work (a new alert when @is_new) to the log, record and store the state of its
 * customer and cause, publish it. Caller holds log_mu and has loaded @set; @a holds the
 * encoded state while it is stored. */
static enum churn_err
commit_locked(struct churn__alerts *al, bool is_new, struct state_set *set, struct churn_arena *a)
{
    struct churn_alert *w = &al->work;
    uint64_t predicted = churn_alert_hub_head(al->hub) + 1;
    w->sequence = predicted;
    if (is_new)
        w->id = predicted;
    size_t len;
    enum churn_err err = churn_alert_encode(w, al->buf, sizeof(al->buf), &len);
    if (err)
        return err;
    uint64_t seq;
    err = churn_store_append_alert(al->store, w->customer_id, al->buf, len, &seq);
    if (err)
        return err;
    if (seq != predicted) {
        /* the store's counter is ahead (alerts erased at the end of the log) */
        w->sequence = seq;
        if (is_new)
            w->id = seq;
        err = churn_alert_encode(w, al->buf, sizeof(al->buf), &len);
        if (!err)
            err = churn_store_replace_alert(al->store, seq, al->buf, len);
        if (err)
            return err;
    }
    churn_alert_state_record(&set->st[w->cause], w);
    set->have[w->cause] = true;
    err = store_states(al, w->customer_id, set, a);
    if (err)
        churn_log(CHURN_LOG_ERROR, "alert_state_put_failed",
                  CHURN_LF_STR("customer_id", w->customer_id),
                  CHURN_LF_STR("error", churn_strerror(err)));
    err = churn_alert_hub_publish(al->hub, w);
    if (err)
        churn_log(CHURN_LOG_ERROR, "alert_publish_failed", CHURN_LF_INT("sequence", (int64_t)seq),
                  CHURN_LF_STR("error", churn_strerror(err)));
    return CHURN_OK;
}

/* ---- the chat job ---------------------------------------------------------------------- */

static void
apply_score(struct churn__alerts *al, struct churn_alert *fresh, struct churn_arena *a)
{
    Churn__V1__Score *sc = NULL;
    char msg[300];
    if (churn__score_customer(al->svc, fresh->customer_id, CHURN_ALERT_MAX_REASONS, a, &sc, msg,
                              sizeof(msg)) != CHURN_OK)
        return; /* an unknown customer or no model: the alert carries no score */
    enum churn_tier tier = (enum churn_tier)sc->risk_tier;
    enum churn_tier vt = (enum churn_tier)sc->value_tier;
    double before = sc->previous ? sc->previous->probability : sc->probability;
    if (churn_alert_set_score(fresh, sc->probability, tier, before, tier, vt, sc->customer_value))
        return;
    for (size_t i = 0; i < sc->n_reasons && i < CHURN_ALERT_MAX_REASONS; i++)
        churn_alert_add_reason(fresh, sc->reasons[i]->feature, sc->reasons[i]->label,
                               sc->reasons[i]->value, sc->reasons[i]->contribution);
}

static void
apply_playbook(struct churn__alerts *al, struct churn_alert *alert, int64_t now)
{
    struct churn_playbooks *set = churn_playbook_registry_get(al->playbooks);
    if (!set)
        return;
    /* an unscored customer (unknown, or no model) is matched as low risk and low value:
     * rules that need a tier do not fire on a guess, "any" rules (chat causes) still do */
    enum churn_tier risk = alert->risk_tier ? alert->risk_tier : CHURN_TIER_LOW;
    enum churn_tier value = alert->value_tier ? alert->value_tier : CHURN_TIER_LOW;
    struct churn_playbook_match m;
    if (churn_playbooks_select(set, risk, value, alert->cause, 0, alert->customer_id, &m) ==
        CHURN_OK)
        churn_alert_apply_playbook(alert, &m, now);
    churn_playbooks_unref(set);
}

static void
process_job(struct churn__alerts *al, const struct alert_job *job, struct churn_arena *a,
            struct churn_alert *fresh)
{
    churn_arena_reset(a);
    int64_t now = churn_now_ms();
    if (churn_alert_init(fresh, job->customer_id, job->cause, now) != CHURN_OK)
        return;
    apply_score(al, fresh, a);
    churn_alert_set_chat(fresh, job->reason, job->evidence);

    pthread_mutex_lock(&al->log_mu);
    struct state_set set;
    enum churn_err err = load_states(al, job->customer_id, a, &set);
    if (err)
        goto out_unlock;
    struct churn_alert_state *st = set.st;
    enum churn_alert_decision d = churn_alert_decide(
        &al->rules, set.have[job->cause] ? &st[job->cause] : NULL, fresh->risk_tier, now);
    bool is_new = d == CHURN_ALERT_RAISE;
    if (d == CHURN_ALERT_RAISE) {
        al->work = *fresh;
        apply_playbook(al, &al->work, now);
    } else if (d == CHURN_ALERT_UPDATE) {
        char msg[CHURN_ALERT_ERRMSG];
        err = churn__alerts_read(al, st[job->cause].last_sequence, &al->work);
        if (!err)
            err = churn_alert_update(&al->work, fresh, now, msg, sizeof(msg));
        if (err)
            goto out_unlock;
    } else {
        churn_log(CHURN_LOG_DEBUG, "alert_suppressed",
                  CHURN_LF_STR("customer_id", job->customer_id),
                  CHURN_LF_STR("cause", churn_alert_cause_name(job->cause)));
        goto out_unlock;
    }
    err = commit_locked(al, is_new, &set, a);
    if (!err)
        churn_log(CHURN_LOG_INFO, is_new ? "alert_raised" : "alert_updated",
                  CHURN_LF_INT("sequence", (int64_t)al->work.sequence),
                  CHURN_LF_STR("customer_id", job->customer_id),
                  CHURN_LF_STR("cause", churn_alert_cause_name(job->cause)));
out_unlock:
    pthread_mutex_unlock(&al->log_mu);
    if (err)
        churn_log(CHURN_LOG_ERROR, "alert_failed", CHURN_LF_STR("customer_id", job->customer_id),
                  CHURN_LF_STR("error", churn_strerror(err)));
}

/* ---- the rescore job ------------------------------------------------------------------- */

static const char *
source_name(int source)
{
    static const char *const names[] = {"unspecified", "activity", "orders", "listings",
                                        "support",     "reviews",  "plan",   "chat",
                                        "attributes",  "custom"};
    if (source < 0 || (size_t)source >= sizeof(names) / sizeof(names[0]))
        return "unspecified";
    return names[source];
}

/* 64-bit FNV-1a of the model version: snapshots of different models are not compared
 * feature by feature. */
static uint64_t
feature_set_of(const char *version)
{
    uint64_t h = 14695981039346656037ull;
    for (const char *p = version ? version : ""; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return h;
}

/* The snapshot of score @sc into @snap over the catalogue's features (@contrib, @values:
 * CHURN_FEAT__COUNT each): features the model does not use contribute 0 with no value. */
static void
snapshot_of(const Churn__V1__Score *sc, double *contrib, double *values,
            struct churn_score_snapshot *snap)
{
    for (size_t i = 0; i < CHURN_FEAT__COUNT; i++) {
        contrib[i] = 0.0;
        values[i] = NAN;
    }
    for (size_t i = 0; i < sc->n_reasons; i++) {
        const Churn__V1__Reason *r = sc->reasons[i];
        int f = churn_features_find(r->feature);
        if (f < 0 || !isfinite(r->contribution))
            continue;
        contrib[f] += r->contribution;
        values[f] = r->missing ? NAN : r->value;
    }
    memset(snap, 0, sizeof(*snap));
    snap->scored_at_ms = sc->scored_at_ms;
    snap->probability = sc->probability;
    snap->risk_tier = (enum churn_tier)sc->risk_tier;
    snap->value_tier = (enum churn_tier)sc->value_tier;
    snap->value = isfinite(sc->customer_value) && sc->customer_value >= 0 ? sc->customer_value : 0;
    snap->feature_set = feature_set_of(sc->model_version);
    snap->n_features = CHURN_FEAT__COUNT;
    snap->contributions = contrib;
    snap->values = values;
}

/* A fresh alert of @cause for the rescore of @sc against @prev (al->labels for what moved). */
static enum churn_err
build_rescore_alert(struct churn__alerts *al, enum churn_alert_cause cause,
                    const Churn__V1__Score *sc, const struct churn_score_snapshot *prev,
                    const struct churn_score_snapshot *cur, int64_t now, struct churn_alert *fresh)
{
    enum churn_err err = churn_alert_init(fresh, sc->customer_id, cause, now);
    if (!err)
        err = churn_alert_set_score(fresh, cur->probability, cur->risk_tier, prev->probability,
                                    prev->risk_tier, cur->value_tier, cur->value);
    if (err)
        return err;
    for (size_t i = 0; i < sc->n_reasons && fresh->n_reasons < CHURN_ALERT_MAX_REASONS; i++)
        churn_alert_add_reason(fresh, sc->reasons[i]->feature, sc->reasons[i]->label,
                               sc->reasons[i]->missing ? 0.0 : sc->reasons[i]->value,
                               sc->reasons[i]->contribution);
    churn_alert_what_moved(&al->rules, prev, cur, al->labels, CHURN_FEAT__COUNT, fresh);
    if (sc->freshness) {
        struct churn_source_freshness src[16];
        size_t n = 0;
        for (size_t i = 0; i < sc->freshness->n_sources && n < 16; i++) {
            src[n].source = source_name(sc->freshness->sources[i]->source);
            src[n].last_event_ms = sc->freshness->sources[i]->last_event_at_ms;
            n++;
        }
        churn_alert_mark_stale(&al->rules, src, n, now, fresh); /* keeps those that fit */
    }
    return CHURN_OK;
}

/* Auto-close the open alert of @cause when its condition cleared for @cur. log_mu held. */
static enum churn_err
maybe_auto_close_locked(struct churn__alerts *al, enum churn_alert_cause cause,
                        struct state_set *set, const struct churn_score_snapshot *cur, int64_t now,
                        struct churn_arena *a)
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
    err = commit_locked(al, false, set, a);
    if (!err)
        churn_log(CHURN_LOG_INFO, "alert_auto_closed",
                  CHURN_LF_INT("sequence", (int64_t)al->work.sequence),
                  CHURN_LF_STR("customer_id", al->work.customer_id),
                  CHURN_LF_STR("cause", churn_alert_cause_name(cause)));
    return err;
}

/* Raise or update an alert of @cause (fired for @cur against @prev). log_mu held. */
static enum churn_err
trigger_locked(struct churn__alerts *al, enum churn_alert_cause cause, const Churn__V1__Score *sc,
               const struct churn_score_snapshot *prev, const struct churn_score_snapshot *cur,
               struct state_set *set, int64_t now, struct churn_arena *a, struct churn_alert *fresh)
{
    enum churn_err err = build_rescore_alert(al, cause, sc, prev, cur, now, fresh);
    if (err)
        return err;
    enum churn_alert_decision d = churn_alert_decide(
        &al->rules, set->have[cause] ? &set->st[cause] : NULL, cur->risk_tier, now);
    bool is_new = d == CHURN_ALERT_RAISE;
    if (d == CHURN_ALERT_RAISE) {
        al->work = *fresh;
        apply_playbook(al, &al->work, now);
    } else if (d == CHURN_ALERT_UPDATE) {
        char msg[CHURN_ALERT_ERRMSG];
        err = churn__alerts_read(al, set->st[cause].last_sequence, &al->work);
        if (!err)
            err = churn_alert_update(&al->work, fresh, now, msg, sizeof(msg));
        if (err)
            return err;
    } else {
        churn_log(CHURN_LOG_DEBUG, "alert_suppressed", CHURN_LF_STR("customer_id", sc->customer_id),
                  CHURN_LF_STR("cause", churn_alert_cause_name(cause)));
        return CHURN_OK;
    }
    err = commit_locked(al, is_new, set, a);
    if (!err)
        churn_log(CHURN_LOG_INFO, is_new ? "alert_raised" : "alert_updated",
                  CHURN_LF_INT("sequence", (int64_t)al->work.sequence),
                  CHURN_LF_STR("customer_id", sc->customer_id),
                  CHURN_LF_STR("cause", churn_alert_cause_name(cause)));
    return err;
}

static void
process_rescore(struct churn__alerts *al, const struct alert_job *job, struct churn_arena *a,
                struct churn_alert *fresh)
{
    static const enum churn_alert_cause causes[] = {CHURN_CAUSE_TIER_WORSENED,
                                                    CHURN_CAUSE_PROBABILITY_JUMP};
    churn_arena_reset(a);
    Churn__V1__Score *sc = NULL;
    char msg[300];
    if (churn__score_customer(al->svc, job->customer_id, RESCORE_REASONS, a, &sc, msg,
                              sizeof(msg)) != CHURN_OK)
        return; /* unknown customer or no model: nothing to compare */
    int risk = (int)sc->risk_tier, vt = (int)sc->value_tier;
    if (risk < CHURN_TIER_LOW || risk > CHURN_TIER_HIGH || vt < CHURN_TIER_LOW ||
        vt > CHURN_TIER_HIGH)
        return;
    double contrib[CHURN_FEAT__COUNT], values[CHURN_FEAT__COUNT];
    struct churn_score_snapshot cur, prev = {0};
    snapshot_of(sc, contrib, values, &cur);
    size_t cap = churn_score_snapshot_encoded_size(&cur), len = 0;
    uint8_t *enc = churn_arena_alloc(a, cap);
    if (!enc || churn_score_snapshot_encode(&cur, enc, cap, &len) != CHURN_OK)
        return;
    int64_t now = churn_now_ms();

    pthread_mutex_lock(&al->log_mu);
    struct state_set set;
    bool have_prev = false;
    enum churn_err err = load_states(al, job->customer_id, a, &set);
    if (err)
        goto out_unlock;
    have_prev = set.snap && churn_score_snapshot_decode(set.snap, set.snap_len, &prev) == CHURN_OK;
    set.snap = enc; /* every state write from here on carries the new snapshot */
    set.snap_len = len;
    if (have_prev) {
        struct churn_alert_triggers tr;
        err = churn_alert_rules_evaluate(&al->rules, &prev, &cur, NULL, &tr);
        for (size_t i = 0; !err && i < sizeof(causes) / sizeof(causes[0]); i++) {
            if (tr.causes & (1u << causes[i]))
                err = trigger_locked(al, causes[i], sc, &prev, &cur, &set, now, a, fresh);
            else
                err = maybe_auto_close_locked(al, causes[i], &set, &cur, now, a);
        }
    }
    if (!err)
        err = store_states(al, job->customer_id, &set, a);
out_unlock:
    pthread_mutex_unlock(&al->log_mu);
    if (have_prev)
        churn_score_snapshot_fini(&prev);
    if (err)
        churn_log(CHURN_LOG_ERROR, "rescore_failed", CHURN_LF_STR("customer_id", job->customer_id),
                  CHURN_LF_STR("error", churn_strerror(err)));
}

/* ---- acknowledge ----------------------------------------------------------------------- */

struct latest {
    uint64_t id;
    uint64_t seq;
};

static int
latest_cb(uint64_t seq, const char *customer_id, const void *data, size_t len, void *user)
{
    (void)customer_id;
    struct latest *l = user;
    struct churn_alert a;
    if (churn_alert_decode(data, len, &a) == CHURN_OK && a.id == l->id)
        l->seq = seq;
    return 0;
}

enum churn_err
churn__alerts_acknowledge(struct churn__alerts *al, const struct churn__ack *req,
                          struct churn_alert *out, char *msg, size_t msglen)
{
    pthread_mutex_lock(&al->log_mu);
    struct churn_alert *w = &al->work;
    struct churn_arena a;
    churn_arena_init(&a, 64 * 1024);
    enum churn_err err = churn__alerts_read(al, req->sequence, w);
    if (err == CHURN_ENOTFOUND || (!err && w->id != req->sequence)) {
        snprintf(msg, msglen, "sequence: no alert with sequence %llu",
                 (unsigned long long)req->sequence);
        err = CHURN_ENOTFOUND;
        goto out;
    }
    if (err)
        goto out;
    struct latest l = {.id = req->sequence, .seq = req->sequence};
    err = churn_store_foreach_alert(al->store, req->sequence, 0, latest_cb, &l);
    if (!err && l.seq != req->sequence)
        err = churn__alerts_read(al, l.seq, w);
    if (err)
        goto out;
    int64_t now = churn_now_ms();
    bool transition = req->snooze_until_ms || req->resolution;
    if (!(transition && w->status == CHURN_STATUS_ACKNOWLEDGED)) {
        err = churn_alert_acknowledge(w, req->actor, req->action_taken, now, msg, msglen);
        if (err == CHURN_EEXIST)
            err = CHURN_EPRECOND;
        else if (err == CHURN_ETOOBIG)
            err = CHURN_EINVAL;
        if (err)
            goto out;
    }
    if (req->snooze_until_ms) {
        err = churn_alert_snooze(w, req->snooze_until_ms, req->snooze_reason, now, msg, msglen);
        if (err == CHURN_ERANGE || err == CHURN_ETOOBIG)
            err = CHURN_EINVAL;
    } else if (req->resolution) {
        err = churn_alert_close(w, req->resolution, now, msg, msglen);
    }
    if (err)
        goto out;
    struct state_set set;
    err = load_states(al, w->customer_id, &a, &set);
    if (!err)
        err = commit_locked(al, false, &set, &a);
    if (!err) {
        *out = *w;
        churn_log(CHURN_LOG_INFO, "alert_acknowledged", CHURN_LF_INT("alert", (int64_t)w->id),
                  CHURN_LF_INT("sequence", (int64_t)w->sequence),
                  CHURN_LF_STR("status", churn_alert_status_name(w->status)));
    }
out:
    churn_arena_fini(&a);
    pthread_mutex_unlock(&al->log_mu);
    return err;
}

/* ---- watchers and fan-out -------------------------------------------------------------- */

uint64_t
churn__alerts_head(struct churn__alerts *al)
{
    /* a change being committed is published before log_mu is released */
    pthread_mutex_lock(&al->log_mu);
    uint64_t head = churn_alert_hub_head(al->hub);
    pthread_mutex_unlock(&al->log_mu);
    return head;
}

struct churn_alert_hub *
churn__alerts_hub(struct churn__alerts *al)
{
    return al->hub;
}

static void
watcher_notify(void *ctx, struct churn_alert_sub *sub, enum churn_alert_hub_event event)
{
    (void)sub;
    (void)event;
    struct churn__watcher *w = ctx;
    struct churn__alerts *al = w->engine;
    pthread_mutex_lock(&al->mu);
    w->pending = true;
    al->fanout = true;
    pthread_cond_signal(&al->cv);
    pthread_mutex_unlock(&al->mu);
}

churn_alert_hub_notify_fn
churn__alerts_notify_fn(void)
{
    return watcher_notify;
}

void
churn__alerts_add_watcher(struct churn__alerts *al, struct churn__watcher *w)
{
    pthread_mutex_lock(&al->mu);
    atomic_fetch_add(&w->refs, 1);
    w->prev = NULL;
    w->next = al->watchers;
    if (al->watchers)
        al->watchers->prev = w;
    al->watchers = w;
    w->listed = true;
    pthread_mutex_unlock(&al->mu);
}

void
churn__alerts_remove_watcher(struct churn__alerts *al, struct churn__watcher *w)
{
    pthread_mutex_lock(&al->mu);
    bool listed = w->listed;
    if (listed) {
        if (w->prev)
            w->prev->next = w->next;
        else
            al->watchers = w->next;
        if (w->next)
            w->next->prev = w->prev;
        w->listed = false;
    }
    pthread_mutex_unlock(&al->mu);
    if (listed)
        churn__watcher_put(w);
}

/* Wake-up: drain every pending watcher, FANOUT_BATCH at a time. Called without al->mu. */
static void
fan_out(struct churn__alerts *al)
{
    struct churn__watcher *batch[FANOUT_BATCH];
    size_t n = 0;
    pthread_mutex_lock(&al->mu);
    al->fanout = false;
    for (struct churn__watcher *w = al->watchers; w; w = w->next) {
        if (!w->pending)
            continue;
        if (n == FANOUT_BATCH) {
            al->fanout = true; /* the rest next round */
            break;
        }
        w->pending = false;
        atomic_fetch_add(&w->refs, 1);
        batch[n++] = w;
    }
    pthread_mutex_unlock(&al->mu);
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&batch[i]->mu);
        churn__watcher_drain_locked(batch[i]);
        pthread_mutex_unlock(&batch[i]->mu);
        churn__watcher_put(batch[i]);
    }
}

/* Tick: a heartbeat to every watcher idle for its interval, FANOUT_BATCH per tick. */
static void
heartbeats(struct churn__alerts *al)
{
    struct churn__watcher *batch[FANOUT_BATCH];
    size_t n = 0;
    int64_t now = churn_now_ms();
    pthread_mutex_lock(&al->mu);
    for (struct churn__watcher *w = al->watchers; w && n < FANOUT_BATCH; w = w->next) {
        if (now - atomic_load(&w->last_send_ms) < w->heartbeat_ms)
            continue;
        atomic_fetch_add(&w->refs, 1);
        batch[n++] = w;
    }
    pthread_mutex_unlock(&al->mu);
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&batch[i]->mu);
        churn__watcher_heartbeat_locked(batch[i]);
        pthread_mutex_unlock(&batch[i]->mu);
        churn__watcher_put(batch[i]);
    }
}

static void *
engine_main(void *arg)
{
    struct churn__alerts *al = arg;
    struct churn_arena a;
    churn_arena_init(&a, ENGINE_ARENA);
    struct churn_alert *fresh = churn_malloc(sizeof(*fresh));
    struct alert_job *job = churn_malloc(sizeof(*job));
    int64_t next_tick = churn_now_ms() + HEARTBEAT_TICK_MS;
    for (;;) {
        pthread_mutex_lock(&al->mu);
        while (!al->stop && al->n_jobs == 0 && !al->fanout && churn_now_ms() < next_tick) {
            struct timespec ts = {.tv_sec = next_tick / 1000,
                                  .tv_nsec = (long)(next_tick % 1000) * 1000000L};
            pthread_cond_timedwait(&al->cv, &al->mu, &ts);
        }
        bool fanout = al->fanout;
        bool have_job = al->n_jobs > 0 && fresh && job;
        if (have_job) {
            *job = al->jobs[al->job_head];
            al->job_head = (al->job_head + 1) % JOB_QUEUE_CAP;
            al->n_jobs--;
            if (job->cause == CHURN_CAUSE_UNSPECIFIED)
                pending_remove(al, pending_hash(job->customer_id));
        }
        bool stop = al->stop && !have_job && !fanout;
        if (al->stop && (!fresh || !job))
            stop = true;
        pthread_mutex_unlock(&al->mu);
        if (stop)
            break;
        if (fanout)
            fan_out(al);
        if (have_job && job->cause == CHURN_CAUSE_UNSPECIFIED)
            process_rescore(al, job, &a, fresh);
        else if (have_job)
            process_job(al, job, &a, fresh);
        if (churn_now_ms() >= next_tick) {
            heartbeats(al);
            next_tick = churn_now_ms() + HEARTBEAT_TICK_MS;
        }
    }
    churn_free(job);
    churn_free(fresh);
    churn_arena_fini(&a);
    return NULL;
}

/* ---- life cycle ------------------------------------------------------------------------ */

bool
churn__alerts_chat(struct churn__alerts *al, const char *customer_id, enum churn_alert_cause cause,
                   const char *reason, const char *evidence, double confidence)
{
    if (!al || !customer_id || strlen(customer_id) >= CHURN_ALERT_ID_MAX)
        return false;
    pthread_mutex_lock(&al->mu);
    bool ok = al->n_jobs < JOB_QUEUE_CAP && !al->stop;
    if (ok) {
        struct alert_job *j = &al->jobs[(al->job_head + al->n_jobs) % JOB_QUEUE_CAP];
        memset(j, 0, sizeof(*j));
        snprintf(j->customer_id, sizeof(j->customer_id), "%s", customer_id);
        j->cause = cause;
        snprintf(j->reason, sizeof(j->reason), "%s", reason ? reason : "");
        /* the customer's words, cut on a UTF-8 boundary */
        size_t n = evidence ? strlen(evidence) : 0;
        if (n >= sizeof(j->evidence)) {
            n = sizeof(j->evidence) - 1;
            while (n > 0 && ((unsigned char)evidence[n] & 0xC0) == 0x80)
                n--;
        }
        if (n)
            memcpy(j->evidence, evidence, n);
        j->confidence = confidence;
        al->n_jobs++;
        pthread_cond_signal(&al->cv);
    } else {
        al->dropped++;
    }
    pthread_mutex_unlock(&al->mu);
    if (!ok)
        churn_log(CHURN_LOG_WARN, "alert_queue_full", CHURN_LF_STR("customer_id", customer_id));
    return ok;
}

/*
 * The set of customers with a rescore already queued: a burst of events for one customer
 * queues one rescore, not one per batch. Keys are 64-bit FNV-1a hashes (0 is the empty
 * slot), linear probing, backward-shift deletion. Caller holds al->mu.
 */
static uint64_t
pending_hash(const char *id)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return h ? h : 1;
}

static bool
pending_add(struct churn__alerts *al, uint64_t h)
{
    size_t i = h % PENDING_SLOTS;
    while (al->pending[i]) {
        if (al->pending[i] == h)
            return false;
        i = (i + 1) % PENDING_SLOTS;
    }
    al->pending[i] = h;
    return true;
}

static void
pending_remove(struct churn__alerts *al, uint64_t h)
{
    size_t i = h % PENDING_SLOTS;
    while (al->pending[i] && al->pending[i] != h)
        i = (i + 1) % PENDING_SLOTS;
    if (!al->pending[i])
        return;
    al->pending[i] = 0;
    /* shift back the entries of the same probe run that follow the hole */
    for (size_t j = (i + 1) % PENDING_SLOTS; al->pending[j]; j = (j + 1) % PENDING_SLOTS) {
        size_t home = al->pending[j] % PENDING_SLOTS;
        bool movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            al->pending[i] = al->pending[j];
            al->pending[j] = 0;
            i = j;
        }
    }
}

size_t
churn__alerts_rescore(struct churn__alerts *al, const char *const *customer_ids, size_t n)
{
    if (!al || n == 0)
        return 0;
    size_t queued = 0, dropped = 0;
    uint64_t dropped_total = 0;
    pthread_mutex_lock(&al->mu);
    for (size_t i = 0; i < n && !al->stop; i++) {
        const char *id = customer_ids[i];
        if (!id || !*id || strlen(id) >= CHURN_ALERT_ID_MAX)
            continue;
        if (al->n_jobs == JOB_QUEUE_CAP) {
            dropped++;
            continue;
        }
        if (!pending_add(al, pending_hash(id))) {
            al->rescores_coalesced++; /* its queued rescore will see this batch too */
            continue;
        }
        struct alert_job *j = &al->jobs[(al->job_head + al->n_jobs) % JOB_QUEUE_CAP];
        memset(j, 0, sizeof(*j));
        snprintf(j->customer_id, sizeof(j->customer_id), "%s", id);
        j->cause = CHURN_CAUSE_UNSPECIFIED;
        al->n_jobs++;
        queued++;
    }
    al->rescores_dropped += dropped;
    dropped_total = al->rescores_dropped;
    /* at most one warning a second: a sustained burst must not flood the log */
    bool log_now = dropped && churn_now_ms() - al->dropped_logged_ms >= 1000;
    if (log_now)
        al->dropped_logged_ms = churn_now_ms();
    if (queued)
        pthread_cond_signal(&al->cv);
    pthread_mutex_unlock(&al->mu);
    if (log_now)
        churn_log(CHURN_LOG_WARN, "rescore_queue_full", CHURN_LF_INT("dropped", (int64_t)dropped),
                  CHURN_LF_INT("dropped_total", (int64_t)dropped_total));
    return queued;
}

enum churn_err
churn__alerts_start(struct churn_services *svc, struct churn_store *store,
                    struct churn__alerts **out)
{
    struct churn__alerts *al = churn_calloc(1, sizeof(*al));
    if (!al)
        return CHURN_ENOMEM;
    al->svc = svc;
    al->store = store;
    churn_alert_rules_config_default(&al->rules);
    const struct churn_feature_info *cat = churn_features_catalogue();
    for (size_t i = 0; i < CHURN_FEAT__COUNT; i++) {
        if (cat[i].window_days > 0)
            snprintf(al->windows[i], sizeof(al->windows[i]), "in %d days", cat[i].window_days);
        al->labels[i].name = cat[i].name;
        al->labels[i].label = cat[i].label;
        al->labels[i].window = al->windows[i];
    }
    pthread_mutex_init(&al->log_mu, NULL);
    pthread_mutex_init(&al->mu, NULL);
    pthread_cond_init(&al->cv, NULL);
    enum churn_err err = CHURN_ENOMEM;
    al->jobs = churn_calloc(JOB_QUEUE_CAP, sizeof(*al->jobs));
    if (!al->jobs)
        goto out_fail;
    uint64_t head = 0;
    err = churn_store_foreach_alert(store, 0, 0, head_cb, &head);
    if (err)
        goto out_fail;
    struct churn_alert_hub_config hc;
    churn_alert_hub_config_default(&hc);
    err = churn_alert_hub_create(&hc, head, &al->hub);
    if (err)
        goto out_fail;
    err = churn_playbook_registry_create(&al->playbooks);
    if (err)
        goto out_fail;
    char msg[512];
    if (churn_playbook_registry_reload_file(al->playbooks, CHURN_DEFAULT_PLAYBOOKS, msg,
                                            sizeof(msg)) != CHURN_OK)
        churn_log(CHURN_LOG_WARN, "playbooks_not_loaded", CHURN_LF_STR("reason", msg));
    if (pthread_create(&al->thread, NULL, engine_main, al) != 0) {
        err = CHURN_ENOMEM;
        goto out_fail;
    }
    al->started = true;
    churn_log(CHURN_LOG_INFO, "alerts_started", CHURN_LF_INT("head_sequence", (int64_t)head));
    *out = al;
    return CHURN_OK;
out_fail:
    churn__alerts_stop(al);
    return err;
}

void
churn__alerts_stop(struct churn__alerts *al)
{
    if (!al)
        return;
    if (al->started) {
        pthread_mutex_lock(&al->mu);
        al->stop = true;
        pthread_cond_signal(&al->cv);
        pthread_mutex_unlock(&al->mu);
        pthread_join(al->thread, NULL);
    }
    /* streams still registered (the server normally ended them first) */
    for (;;) {
        pthread_mutex_lock(&al->mu);
        struct churn__watcher *w = al->watchers;
        if (w)
            atomic_fetch_add(&w->refs, 1);
        pthread_mutex_unlock(&al->mu);
        if (!w)
            break;
        pthread_mutex_lock(&w->mu);
        churn_alert_hub_unsubscribe(w->sub);
        w->sub = NULL;
        pthread_mutex_unlock(&w->mu);
        churn__alerts_remove_watcher(al, w);
        churn__watcher_put(w);
    }
    churn_alert_hub_destroy(al->hub);
    if (al->playbooks)
        churn_playbook_registry_destroy(al->playbooks);
    churn_free(al->jobs);
    pthread_cond_destroy(&al->cv);
    pthread_mutex_destroy(&al->mu);
    pthread_mutex_destroy(&al->log_mu);
    churn_free(al);
}
