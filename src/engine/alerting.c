/*
 * engine/alerting.c - the alert engine: one background thread that turns chat signals and
 * rescores into durable alerts and fans alerts out to WatchAlerts streams. Chat handlers
 * enqueue a job (customer, cause, reason, evidence, confidence) into a bounded queue and
 * never block: the job's completion callback tells them when its alert is durable; the engine reads
 * the customer's alert state, decides RAISE / UPDATE / SUPPRESS with the rules of src/alerts,
 * builds the alert (score, reasons, playbook), appends it to the alert log, stores the state and
 * publishes it to the in-memory hub, all under one lock (log_mu) that also serialises
 * AcknowledgeAlert and RecordOutcome, so sequences are published in order. The hub's notify
 * callback only marks a listener (a WatchAlerts stream the service registered, churn/engine.h)
 * pending and wakes this thread, which has the listener drain what the hub holds for it (the
 * service sends without blocking on a client); the same thread asks listeners idle for their
 * interval to send a heartbeat.
 *
 * Order of work on each wake-up: chat jobs first (a person may be waiting for a hand-off),
 * then pending watchers, then one batch of rescores (rescore.c), then timers (heartbeats,
 * snoozes that ended). The periodic sweep (sweep.c) feeds the rescore queue from its own
 * thread. See alert_engine.h for who owns what.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "churn/alerts.h"
#include "churn/alert_rules.h"
#include "churn/outcomes.h"
#include "churn/alerts_hub.h"
#include "churn/alerts_playbook.h"
#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/delivery.h"
#include "churn/features.h"
#include "churn/log.h"
#include "churn/reasons.h"
#include "churn/share.h"
#include "churn/service_metrics.h"
#include "churn/store.h"
#include "churn/store_chat.h"
#include "churn/score.h"
#include "alert_engine.h"

#define HEARTBEAT_TICK_MS 250        /* how often idle watchers are checked */
#define FANOUT_BATCH      64u        /* watchers drained per wake-up */
#define ENGINE_ARENA      (8u << 20) /* per-job scratch (a rescore batch's scores) */
#define STATE_BLOB_SIZE   (1u + (CHURN_CAUSE_COUNT - 1u) * (1u + CHURN_ALERT_STATE_ENCODED_SIZE))
#define STATE_VERSION     1u /* the per-cause states only */
#define STATE_VERSION_2   2u /* ... followed by the last score snapshot */

#ifndef CHURN_DEFAULT_PLAYBOOKS /* the installed file; from the build, the source tree's */
#define CHURN_DEFAULT_PLAYBOOKS                                                                    \
    churn_share_choose(CHURN_SHARE_DIR "/playbooks/default.playbooks",                             \
                       CHURN_DEFAULT_LEXICON_DIR "/../tests/data/playbooks/default.playbooks")
#endif

/* ---- the packed per-customer state: one blob for all causes ---------------------------- */

static void
states_decode(const uint8_t *data, size_t len, struct churn__state_set *set)
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
states_encode(const struct churn__state_set *set, uint8_t *out)
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

enum churn_err
churn__alerts_load_states(struct churn__alerts *al, const char *customer_id, struct churn_arena *a,
                          struct churn__state_set *set)
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

uint8_t *
churn__alerts_encode_states(const struct churn__state_set *set, struct churn_arena *a, size_t *len)
{
    *len = STATE_BLOB_SIZE + set->snap_len;
    uint8_t *blob = churn_arena_alloc(a, *len);
    if (!blob || states_encode(set, blob) != CHURN_OK)
        return NULL;
    return blob;
}

/* The catalogue feature with the largest positive contribution (-1: none). */
static int
top_feature(const struct churn_score_snapshot *snap)
{
    int best = -1;
    for (uint32_t i = 0; i < snap->n_features; i++)
        if (snap->contributions[i] > 0 &&
            (best < 0 || snap->contributions[i] > snap->contributions[best]))
            best = (int)i;
    return snap->n_features == CHURN_FEAT__COUNT ? best : -1;
}

bool
churn_snapshot_read_state(const void *data, size_t len, struct churn_snapshot_state *out)
{
    struct churn__state_set set;
    states_decode(data, len, &set);
    memset(out, 0, sizeof(*out));
    out->top_feature = -1;
    for (int c = 1; c < CHURN_CAUSE_COUNT; c++)
        if (set.have[c] && set.st[c].open_id)
            out->open_alerts++;
    struct churn_score_snapshot snap = {0};
    if (set.snap && churn_score_snapshot_decode(set.snap, set.snap_len, &snap) == CHURN_OK) {
        out->has_score = true;
        out->risk = snap.risk_tier;
        out->value_tier = snap.value_tier;
        out->probability = snap.probability;
        out->value = snap.value;
        out->scored_at_ms = snap.scored_at_ms;
        out->top_feature = top_feature(&snap);
        churn_score_snapshot_fini(&snap);
    }
    return true;
}

/* ---- customers moved from another shard (issue 16) ------------------------------------- */

/* An imported alert revision (churn_store_rewrite_fn): its id renumbered, its sequence @seq. */
static enum churn_err
rewrite_alert(const char *customer_id, const void *in, size_t len, uint64_t seq,
              const struct churn_store_seq_map *map, void *out, size_t cap, size_t *out_len,
              char *reason, size_t rlen)
{
    struct churn_alert *a = churn_malloc(sizeof(*a));
    if (!a)
        return CHURN_ENOMEM;
    enum churn_err err = churn_alert_decode(in, len, a);
    uint64_t id = err ? 0 : churn_store_seq_map_find(map, a->id);
    if (err)
        err = churn_fail(reason, rlen, CHURN_EINVAL, "alert: does not decode (%s)",
                         churn_strerror(err));
    else if (strcmp(a->customer_id, customer_id) != 0)
        err = churn_fail(reason, rlen, CHURN_EINVAL, "alert %llu: of customer %s, not %s",
                         (unsigned long long)a->sequence, a->customer_id, customer_id);
    else if (!id)
        err = churn_fail(reason, rlen, CHURN_EINVAL,
                         "alert %llu: its first revision (%llu) is not in the bundle",
                         (unsigned long long)a->sequence, (unsigned long long)a->id);
    if (!err) {
        a->id = id;
        a->sequence = seq;
        err = churn_alert_encode(a, out, cap, out_len);
    }
    churn_free(a);
    return err;
}

/* An imported alert state (churn_store_rewrite_fn): the alerts it names renumbered; a cause
 * whose alert did not come along keeps its cooldown and tier but names no alert. */
static enum churn_err
rewrite_state(const char *customer_id, const void *in, size_t len, uint64_t seq,
              const struct churn_store_seq_map *map, void *out, size_t cap, size_t *out_len,
              char *reason, size_t rlen)
{
    (void)customer_id;
    (void)seq;
    const uint8_t *p = in;
    struct churn__state_set set;
    if (len < STATE_BLOB_SIZE || (p[0] != STATE_VERSION_2 && p[0] != STATE_VERSION) ||
        (p[0] == STATE_VERSION && len != STATE_BLOB_SIZE))
        return churn_fail(reason, rlen, CHURN_EINVAL, "alert state: %zu bytes that do not decode",
                          len);
    states_decode(p, len, &set);
    for (int c = 1; c < CHURN_CAUSE_COUNT; c++) {
        if (!set.have[c])
            continue;
        set.st[c].open_id = churn_store_seq_map_find(map, set.st[c].open_id);
        set.st[c].last_sequence = churn_store_seq_map_find(map, set.st[c].last_sequence);
        if (!set.st[c].open_id)
            set.st[c].snoozed_until_ms = 0;
    }
    *out_len = STATE_BLOB_SIZE + set.snap_len;
    if (*out_len > cap)
        return churn_fail(reason, rlen, CHURN_ETOOBIG, "alert state: over %zu bytes", cap);
    return states_encode(&set, out);
}

/* Imported revisions after the store committed them: published and indexed, in order. */
struct import_walk {
    struct churn__alerts *al;
    struct churn_alert alert;
};

static int
import_walk_cb(uint64_t seq, const char *customer_id, const void *data, size_t len, void *user)
{
    (void)customer_id;
    struct import_walk *w = user;
    if (churn_alert_decode(data, len, &w->alert) != CHURN_OK)
        return 0;
    churn_alert_hub_publish(w->al->hub, &w->alert);
    churn_alert_index_put(w->al->index, seq, &w->alert);
    if (w->alert.status == CHURN_STATUS_SNOOZED)
        churn__alerts_note_snooze(w->al, w->alert.customer_id, w->alert.snoozed_until_ms);
    return 0;
}

enum churn_err
churn__alerts_import_customers(struct churn__alerts *al, struct churn_store *store,
                               struct churn_store_import *items, size_t n)
{
    static const struct churn_store_import_hooks hooks = {rewrite_alert, rewrite_state};
    if (!al)
        return churn_store_import_customers(store, items, n, &hooks);
    struct import_walk *w = churn_malloc(sizeof(*w));
    if (!w)
        return CHURN_ENOMEM;
    w->al = al;
    /* under log_mu: the imported sequences are published in order with the engine's own */
    pthread_mutex_lock(&al->log_mu);
    enum churn_err err = churn_store_import_customers(al->store, items, n, &hooks);
    for (size_t i = 0; !err && i < n; i++) {
        if (items[i].err)
            continue;
        if (items[i].alerts_replaced)
            churn__alerts_forget_customer(al, items[i].id);
        if (items[i].alerts_added)
            churn_store_foreach_alert(al->store, items[i].alerts_first - 1, items[i].alerts_added,
                                      import_walk_cb, w);
    }
    pthread_mutex_unlock(&al->log_mu);
    churn_free(w);
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

/* The start-up walk of the log: its head, and every alert's latest revision indexed. */
struct index_load {
    struct churn_alert_index *index;
    struct churn_alert alert;
    uint64_t head;
    size_t undecodable;
    enum churn_err err;
};

static int
index_load_cb(uint64_t seq, const char *customer_id, const void *data, size_t len, void *user)
{
    (void)customer_id;
    struct index_load *l = user;
    l->head = seq;
    if (churn_alert_decode(data, len, &l->alert) != CHURN_OK) {
        l->undecodable++; /* listed by nobody, as before the index */
        return 0;
    }
    l->err = churn_alert_index_put(l->index, seq, &l->alert);
    return l->err != CHURN_OK;
}

/* ---- appending a change ---------------------------------------------------------------- */

struct commit_fill {
    struct churn__alerts *al;
    struct churn__commit_item *items;
    struct churn_arena *a;
};

/* Item @i's alert and state bytes once the log has chosen @seq (see
 * churn_store_alerts_fill_fn: may run twice, and gives the same bytes each time). */
static enum churn_err
commit_fill(size_t i, uint64_t seq, void *user, const void **alert, size_t *alert_len,
            const void **state, size_t *state_len)
{
    struct commit_fill *f = user;
    struct churn__commit_item *it = &f->items[i];
    struct churn_alert *w = it->work;
    w->sequence = seq;
    if (it->is_new)
        w->id = seq;
    uint8_t *buf = churn_arena_alloc(f->a, CHURN_ALERT_ENCODED_MAX);
    if (!buf)
        return CHURN_ENOMEM;
    enum churn_err err = churn_alert_encode(w, buf, CHURN_ALERT_ENCODED_MAX, alert_len);
    if (err)
        return err;
    *alert = buf;
    churn_alert_state_record(&it->set->st[w->cause], w);
    it->set->have[w->cause] = true;
    *state = churn__alerts_encode_states(it->set, f->a, state_len);
    return *state ? CHURN_OK : CHURN_ENOMEM;
}

/* The turns of @f's @n items into @r (their states) and @sigs (their signals); how many
 * signals. */
static size_t
collect_turns(const struct commit_fill *f, size_t n, struct churn_conversation_put *states,
              struct churn__chat_signal **sigs, struct churn_chat_rider *r)
{
    size_t n_sigs = 0;
    r->states = states;
    r->n_states = 0;
    for (size_t i = 0; i < n; i++) {
        const struct churn__chat_turn_put *t = f->items[i].turn;
        if (!t)
            continue;
        states[r->n_states++] =
            (struct churn_conversation_put){t->customer_id, t->conversation_id, t->data, t->len};
        if (t->signal)
            sigs[n_sigs++] = t->signal;
    }
    return n_sigs;
}

/*
 * Append the @n alerts of @f (and their customers' states) in ONE durable transaction: riding
 * the chat saver's next commit when there is one (a chat load's alerts then take the write
 * lock and pay an fsync with the turns' group, not on their own; an escalating turn's state
 * and signal go in the same commit as its alert, marked written), else alone.
 */
static enum churn_err
append_alerts(struct churn__alerts *al, size_t n, const char *const *ids, struct commit_fill *f,
              uint64_t *seqs)
{
    struct churn_conversation_put states[CHURN__COMMIT_BATCH_MAX];
    struct churn__chat_signal *sigs[CHURN__COMMIT_BATCH_MAX] = {NULL};
    struct churn_chat_rider r = {.n_alerts = n,
                                 .alert_ids = ids,
                                 .alert_fill = commit_fill,
                                 .alert_user = f,
                                 .alert_seqs = seqs};
    size_t n_sigs = collect_turns(f, n, states, sigs, &r);
    if (!churn__chat_saver_ride_turns(al->cfg.chat_saver, &r, sigs, n_sigs))
        return churn_store_append_alerts_with_states(al->store, n, ids, commit_fill, f, seqs);
    for (size_t i = 0; i < n; i++)
        if (f->items[i].turn) {
            f->items[i].turn->written = true;
            f->items[i].turn->signal = NULL; /* the saver's now */
        }
    if (r.err)
        churn_log(CHURN_LOG_WARN, "alerts_not_appended", CHURN_LF_INT("alerts", (int64_t)n),
                  CHURN_LF_STR("error", r.error));
    return r.err;
}

enum churn_err
churn__alerts_commit_batch_locked(struct churn__alerts *al, struct churn__commit_item *items,
                                  size_t n, struct churn_arena *a)
{
    const char *ids[CHURN__COMMIT_BATCH_MAX] = {NULL};
    uint64_t seqs[CHURN__COMMIT_BATCH_MAX];
    if (n > CHURN__COMMIT_BATCH_MAX)
        return CHURN_EINVAL;
    for (size_t i = 0; i < n; i++)
        ids[i] = items[i].work->customer_id;
    struct commit_fill f = {al, items, a};
    /* each alert and its customer's state in one transaction: a crash keeps both or neither,
     * and a batch shares one fsync (the chat saver's, when there is one: issue 13) */
    enum churn_err err = append_alerts(al, n, ids, &f, seqs);
    if (err)
        return err;
    for (size_t i = 0; i < n; i++) {
        struct churn_alert *w = items[i].work;
        atomic_fetch_add(&al->alerts_committed, 1);
        churn_service_metrics_alert(al->cfg.metrics, (int)w->cause, (int)w->change);
        err = churn_alert_hub_publish(al->hub, w);
        if (err)
            churn_log(CHURN_LOG_ERROR, "alert_publish_failed",
                      CHURN_LF_INT("sequence", (int64_t)seqs[i]),
                      CHURN_LF_STR("error", churn_strerror(err)));
        /* indexed after it is published: ListAlerts' head is never ahead of WatchAlerts' */
        err = churn_alert_index_put(al->index, seqs[i], w);
        if (err)
            churn_log(CHURN_LOG_ERROR, "alert_index_failed",
                      CHURN_LF_INT("sequence", (int64_t)seqs[i]),
                      CHURN_LF_STR("error", churn_strerror(err)));
    }
    return CHURN_OK;
}

enum churn_err
churn__alerts_commit_locked(struct churn__alerts *al, bool is_new, struct churn__state_set *set,
                            struct churn_arena *a)
{
    struct churn__commit_item item = {&al->work, set, is_new};
    return churn__alerts_commit_batch_locked(al, &item, 1, a);
}

/* What a trigger does to the log: raise a new alert or revise the open one into @work
 * (*@commit), or nothing (suppressed, logged). log_mu held. */
static enum churn_err
trigger_prepare_locked(struct churn__alerts *al, const struct churn_alert *fresh,
                       const struct churn__state_set *set, int64_t now, struct churn_alert *work,
                       bool *commit, bool *is_new)
{
    enum churn_alert_cause cause = fresh->cause;
    enum churn_alert_decision d = churn_alert_decide(
        &al->rules, set->have[cause] ? &set->st[cause] : NULL, fresh->risk_tier, now);
    *is_new = d == CHURN_ALERT_RAISE;
    *commit = false;
    if (d == CHURN_ALERT_RAISE) {
        *work = *fresh;
        churn__alerts_apply_playbook(al, work, now);
    } else if (d == CHURN_ALERT_UPDATE) {
        char msg[CHURN_ALERT_ERRMSG];
        enum churn_err err = churn__alerts_read(al, set->st[cause].last_sequence, work);
        if (!err)
            err = churn_alert_update(work, fresh, now, msg, sizeof(msg));
        if (err)
            return err;
    } else {
        churn_log(CHURN_LOG_DEBUG, "alert_suppressed",
                  CHURN_LF_STR("customer_id", fresh->customer_id),
                  CHURN_LF_STR("cause", churn_alert_cause_name(cause)));
        return CHURN_OK;
    }
    *commit = true;
    return CHURN_OK;
}

static void
log_committed(const struct churn_alert *w, bool is_new)
{
    churn_log(CHURN_LOG_INFO, is_new ? "alert_raised" : "alert_updated",
              CHURN_LF_INT("sequence", (int64_t)w->sequence),
              CHURN_LF_STR("customer_id", w->customer_id),
              CHURN_LF_STR("cause", churn_alert_cause_name(w->cause)));
}

enum churn_err
churn__alerts_trigger_locked(struct churn__alerts *al, const struct churn_alert *fresh,
                             struct churn__state_set *set, int64_t now, struct churn_arena *a)
{
    bool commit, is_new;
    enum churn_err err = trigger_prepare_locked(al, fresh, set, now, &al->work, &commit, &is_new);
    if (err || !commit)
        return err;
    err = churn__alerts_commit_locked(al, is_new, set, a);
    if (!err)
        log_committed(&al->work, is_new);
    return err;
}

/* A new revision of al->work (acknowledged, snoozed, an outcome...): its customer's state
 * loaded, the revision appended with it and published. log_mu held. */
static enum churn_err
commit_revision_locked(struct churn__alerts *al, struct churn_arena *a)
{
    struct churn__state_set set;
    enum churn_err err = churn__alerts_load_states(al, al->work.customer_id, a, &set);
    return err ? err : churn__alerts_commit_locked(al, false, &set, a);
}

/* ---- the chat job ---------------------------------------------------------------------- */

/* What a chat job keeps of the turn's score @sc. */
static void
job_score_of(const struct churn_score *sc, struct churn__job_score *js)
{
    js->have = true;
    js->probability = sc->probability;
    js->value = sc->value;
    js->risk_tier = sc->risk_tier;
    js->value_tier = sc->value_tier;
    js->n_reasons = 0;
    for (size_t i = 0; i < sc->n_reasons && js->n_reasons < CHURN_ALERT_MAX_REASONS; i++) {
        const struct churn_score_reason *r = &sc->reasons[i];
        size_t k = js->n_reasons++;
        snprintf(js->reasons[k].name, sizeof(js->reasons[k].name), "%s", r->name);
        snprintf(js->reasons[k].label, sizeof(js->reasons[k].label), "%s", r->label);
        js->reasons[k].value = isnan(r->value) ? 0.0 : r->value;
        js->reasons[k].contribution = r->contribution;
    }
}

/* The job's score on @fresh (no model evaluation). */
static void
apply_job_score(const struct churn__job_score *js, struct churn_alert *fresh)
{
    if (churn_alert_set_score(fresh, js->probability, js->risk_tier, js->probability, js->risk_tier,
                              js->value_tier, js->value))
        return;
    for (size_t i = 0; i < js->n_reasons; i++)
        churn_alert_add_reason(fresh, js->reasons[i].name, js->reasons[i].label,
                               js->reasons[i].value, js->reasons[i].contribution);
}

static void
apply_score(struct churn__alerts *al, struct churn_alert *fresh, struct churn_arena *a)
{
    struct churn_score *sc = churn_arena_alloc(a, sizeof(*sc));
    struct churn_score_request req = {.max_reasons = CHURN_ALERT_MAX_REASONS};
    char msg[300];
    if (!sc || churn_scorer_score(al->cfg.scorer, NULL, fresh->customer_id, &req, NULL, sc, msg,
                                  sizeof(msg)) != CHURN_OK)
        return; /* an unknown customer or no model: the alert carries no score */
    if (churn_alert_set_score(fresh, sc->probability, sc->risk_tier, sc->probability, sc->risk_tier,
                              sc->value_tier, sc->value))
        return;
    churn__alert_add_score_reasons(fresh, sc);
}

void
churn__alerts_apply_playbook(struct churn__alerts *al, struct churn_alert *alert, int64_t now)
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

bool
churn__alerts_suggest(struct churn__alerts *al, enum churn_tier risk, enum churn_tier value,
                      enum churn_alert_cause cause, const char *customer_id,
                      struct churn_alert_action *out, char *playbook_id, size_t len)
{
    struct churn_playbooks *set = al ? churn_playbook_registry_get(al->playbooks) : NULL;
    if (!set)
        return false;
    struct churn_playbook_match m;
    bool found =
        churn_playbooks_select(set, risk ? risk : CHURN_TIER_LOW, value ? value : CHURN_TIER_LOW,
                               cause, 0, customer_id, &m) == CHURN_OK &&
        m.playbook && !m.holdout;
    if (found) {
        out->kind = m.playbook->action;
        snprintf(out->detail, sizeof(out->detail), "%s", m.playbook->detail);
        out->coupon_value =
            m.playbook->action == CHURN_ACTION_COUPON ? m.playbook->coupon_value : 0;
        snprintf(playbook_id, len, "%s", m.playbook->id);
    }
    churn_playbooks_unref(set);
    return found;
}

/* Up to CHURN__COMMIT_BATCH_MAX chat jobs at once (see process_jobs). */
struct chat_batch {
    struct churn_alert fresh[CHURN__COMMIT_BATCH_MAX]; /* the triggers */
    struct churn_alert work[CHURN__COMMIT_BATCH_MAX];  /* what each appends */
    struct churn__state_set set[CHURN__COMMIT_BATCH_MAX];
    struct churn__commit_item items[CHURN__COMMIT_BATCH_MAX];
    size_t item_job[CHURN__COMMIT_BATCH_MAX]; /* the job of each item */
    bool ready[CHURN__COMMIT_BATCH_MAX];
    enum churn_err err[CHURN__COMMIT_BATCH_MAX]; /* per job, for its completion */
    uint64_t alert_id[CHURN__COMMIT_BATCH_MAX];
};

static void
job_failed(const char *customer_id, enum churn_err err)
{
    churn_log(CHURN_LOG_ERROR, "alert_failed", CHURN_LF_STR("customer_id", customer_id),
              CHURN_LF_STR("error", churn_strerror(err)));
}

/* Where the batch starting at @start ends: before the first job whose customer is already in
 * it (that job must see the state the earlier one writes). */
static size_t
batch_end(const struct churn__alert_job *jobs, size_t start, size_t n)
{
    size_t end = start + 1;
    for (; end < n; end++)
        for (size_t j = start; j < end; j++)
            if (strcmp(jobs[j].customer_id, jobs[end].customer_id) == 0)
                return end;
    return end;
}

/* Commit items @it[0..@k) together, or one by one if the batch is refused (one bad alert
 * then costs only itself); @errs[j]: item j's result. log_mu held. */
static void
commit_items_locked(struct churn__alerts *al, struct churn__commit_item *it, size_t k,
                    struct churn_arena *a, enum churn_err *errs)
{
    enum churn_err err = churn__alerts_commit_batch_locked(al, it, k, a);
    if (!err) {
        for (size_t j = 0; j < k; j++) {
            errs[j] = CHURN_OK;
            log_committed(it[j].work, it[j].is_new);
        }
        return;
    }
    if (k > 1)
        churn_log(CHURN_LOG_WARN, "alert_batch_refused", CHURN_LF_INT("alerts", (int64_t)k),
                  CHURN_LF_STR("error", churn_strerror(err)));
    for (size_t j = 0; j < k; j++) {
        /* a turn that rode the refused commit went with it: its answer fails, no retry */
        bool rode = it[j].turn && it[j].turn->written;
        err = k > 1 && !rode ? churn__alerts_commit_batch_locked(al, &it[j], 1, a) : err;
        errs[j] = err;
        if (err)
            job_failed(it[j].work->customer_id, err);
        else
            log_committed(it[j].work, it[j].is_new);
    }
}

/* Tell each job's stream how it ended (without any engine lock). */
static void
jobs_done(const struct churn__alert_job *jobs, size_t n, const struct chat_batch *b)
{
    for (size_t i = 0; i < n; i++)
        if (jobs[i].done)
            jobs[i].done(jobs[i].done_ctx, b->err[i], b->err[i] ? 0 : b->alert_id[i]);
}

/* Chat jobs: each scored without a lock, then, under log_mu, decided against its customer's
 * state and committed with the others in one transaction (one fsync for up to 64 alerts,
 * where each used to be its own). */
static void
process_jobs(struct churn__alerts *al, const struct churn__alert_job *jobs, size_t n,
             struct churn_arena *a, struct chat_batch *b)
{
    churn_arena_reset(a);
    int64_t now = churn_now_ms();
    for (size_t i = 0; i < n; i++) {
        b->ready[i] =
            churn_alert_init(&b->fresh[i], jobs[i].customer_id, jobs[i].cause, now) == CHURN_OK;
        b->err[i] = CHURN_EINVAL;
        b->alert_id[i] = 0;
        if (!b->ready[i])
            continue;
        if (jobs[i].score.have)
            apply_job_score(&jobs[i].score, &b->fresh[i]); /* the turn's own score */
        else
            apply_score(al, &b->fresh[i], a);
        churn_alert_set_chat(&b->fresh[i], jobs[i].reason, jobs[i].evidence);
    }
    pthread_mutex_lock(&al->log_mu);
    for (size_t start = 0, end; start < n; start = end) {
        end = batch_end(jobs, start, n);
        size_t k = 0;
        for (size_t i = start; i < end; i++) {
            if (!b->ready[i])
                continue;
            bool commit = false, is_new = false;
            enum churn_err err = churn__alerts_load_states(al, jobs[i].customer_id, a, &b->set[i]);
            if (!err)
                err = trigger_prepare_locked(al, &b->fresh[i], &b->set[i], now, &b->work[i],
                                             &commit, &is_new);
            b->err[i] = err;
            if (err) {
                job_failed(jobs[i].customer_id, err);
            } else if (commit) {
                b->item_job[k] = i;
                b->items[k++] =
                    (struct churn__commit_item){&b->work[i], &b->set[i], is_new, jobs[i].turn};
            } else { /* suppressed: the open alert it would have updated, if any */
                b->alert_id[i] =
                    b->set[i].have[jobs[i].cause] ? b->set[i].st[jobs[i].cause].open_id : 0;
            }
        }
        enum churn_err errs[CHURN__COMMIT_BATCH_MAX];
        if (k)
            commit_items_locked(al, b->items, k, a, errs);
        for (size_t j = 0; j < k; j++) {
            b->err[b->item_job[j]] = errs[j];
            b->alert_id[b->item_job[j]] = b->work[b->item_job[j]].id;
        }
    }
    pthread_mutex_unlock(&al->log_mu);
    jobs_done(jobs, n, b);
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

/*
 * The latest revision of alert @id into *@w (log_mu held). The customer's state names the
 * last revision of its cause, which is this alert's unless a newer alert of the same cause
 * was raised since; only then is the log scanned.
 */
static enum churn_err
read_latest_locked(struct churn__alerts *al, uint64_t id, struct churn_alert *w,
                   struct churn_arena *a, char *msg, size_t msglen)
{
    enum churn_err err = churn__alerts_read(al, id, w);
    if (err == CHURN_ENOTFOUND || (!err && w->id != id)) {
        snprintf(msg, msglen, "sequence: no alert with sequence %llu", (unsigned long long)id);
        return CHURN_ENOTFOUND;
    }
    if (err)
        return err;
    struct churn__state_set set;
    uint64_t last = 0;
    if (churn__alerts_load_states(al, w->customer_id, a, &set) == CHURN_OK && set.have[w->cause])
        last = set.st[w->cause].last_sequence;
    if (last > id) {
        struct churn_alert *cand = churn_arena_alloc(a, sizeof(*cand));
        if (cand && churn__alerts_read(al, last, cand) == CHURN_OK && cand->id == id) {
            *w = *cand;
            return CHURN_OK;
        }
    } else if (last == id) {
        return CHURN_OK;
    }
    struct latest l = {.id = id, .seq = id};
    err = churn_store_foreach_alert(al->store, id, 0, latest_cb, &l);
    if (!err && l.seq != id)
        err = churn__alerts_read(al, l.seq, w);
    return err;
}

enum churn_err
churn__alerts_acknowledge(struct churn__alerts *al, const struct churn__ack *req,
                          struct churn_alert *out, bool *changed, char *msg, size_t msglen)
{
    *changed = false;
    pthread_mutex_lock(&al->log_mu);
    struct churn_alert *w = &al->work;
    struct churn_arena a;
    churn_arena_init(&a, 64 * 1024);
    enum churn_err err = read_latest_locked(al, req->sequence, w, &a, msg, msglen);
    if (err)
        goto out;
    int64_t now = churn_now_ms();
    bool transition = req->snooze_until_ms || req->resolution;
    bool same_snooze = req->snooze_until_ms && w->status == CHURN_STATUS_SNOOZED &&
                       w->snoozed_until_ms == req->snooze_until_ms &&
                       strcmp(w->snooze_reason, req->snooze_reason) == 0;
    if ((!transition && w->status == CHURN_STATUS_ACKNOWLEDGED) || same_snooze) {
        *out = *w; /* the request changes nothing: idempotent, nothing logged */
        goto out;
    }
    if (!(transition && w->status == CHURN_STATUS_ACKNOWLEDGED)) {
        err = churn_alert_acknowledge(w, req->actor, req->action_taken, now, msg, msglen);
        if (!err && req->note && req->note[0])
            snprintf(w->note, sizeof(w->note), "%s", req->note);
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
    if (!err)
        err = commit_revision_locked(al, &a);
    if (!err && w->status == CHURN_STATUS_SNOOZED)
        churn__alerts_note_snooze(al, w->customer_id, w->snoozed_until_ms);
    if (!err) {
        *out = *w;
        *changed = true;
        churn_log(CHURN_LOG_INFO, "alert_acknowledged", CHURN_LF_INT("alert", (int64_t)w->id),
                  CHURN_LF_INT("sequence", (int64_t)w->sequence),
                  CHURN_LF_STR("status", churn_alert_status_name(w->status)));
    }
out:
    churn_arena_fini(&a);
    pthread_mutex_unlock(&al->log_mu);
    return err;
}

/* ---- outcomes ---------------------------------------------------------------------------- */

/* The customer's latest alert of any cause into *@w; false when it has none. log_mu held. */
static bool
latest_of_customer_locked(struct churn__alerts *al, const char *customer_id, struct churn_alert *w,
                          struct churn_arena *a)
{
    struct churn__state_set set;
    if (churn__alerts_load_states(al, customer_id, a, &set) != CHURN_OK)
        return false;
    uint64_t last = 0;
    for (int c = 1; c < CHURN_CAUSE_COUNT; c++)
        if (set.have[c] && set.st[c].last_sequence > last)
            last = set.st[c].last_sequence;
    return last && churn__alerts_read(al, last, w) == CHURN_OK;
}

enum churn_err
churn__alerts_record_outcome(struct churn__alerts *al, const struct churn__outcome_req *req,
                             struct churn__outcome_done *done, char *msg, size_t msglen)
{
    struct churn_arena a;
    churn_arena_init(&a, 256 * 1024);
    memset(done, 0, sizeof(*done));
    struct churn_customer *rec = churn_arena_alloc(&a, sizeof(*rec));
    if (!rec) {
        churn_arena_fini(&a);
        return CHURN_ENOMEM;
    }
    enum churn_err err = churn_store_get_customer(al->store, req->customer_id, rec);
    if (err) {
        if (err == CHURN_ENOTFOUND)
            snprintf(msg, msglen, "customer_id: no customer \"%s\"", req->customer_id);
        churn_arena_fini(&a);
        return err;
    }
    pthread_mutex_lock(&al->log_mu);
    struct churn_alert *w = &al->work;
    bool have_alert = false;
    if (req->alert_sequence) {
        err = read_latest_locked(al, req->alert_sequence, w, &a, msg, msglen);
        if (err == CHURN_ENOTFOUND)
            snprintf(msg, msglen, "alert_sequence: no alert with sequence %llu",
                     (unsigned long long)req->alert_sequence);
        if (!err && strcmp(w->customer_id, req->customer_id) != 0) {
            snprintf(msg, msglen, "alert_sequence: alert %llu is for another customer",
                     (unsigned long long)req->alert_sequence);
            err = CHURN_EINVAL;
        }
        have_alert = !err;
    } else {
        have_alert = latest_of_customer_locked(al, req->customer_id, w, &a);
    }
    if (err)
        goto out;
    int64_t now = churn_now_ms();
    struct churn_outcome_record o;
    memset(&o, 0, sizeof(o));
    snprintf(o.customer_id, sizeof(o.customer_id), "%s", req->customer_id);
    o.outcome = req->outcome.outcome;
    o.value = req->outcome.revenue;
    o.recorded_ms = now;
    if (have_alert) {
        snprintf(o.playbook_id, sizeof(o.playbook_id), "%s", w->playbook_id);
        o.holdout = w->holdout;
        if (o.value <= 0)
            o.value = w->value; /* no revenue given: what the customer is worth */
        err = churn_alert_record_outcome(w, &req->outcome, now, msg, msglen);
        if (!err)
            err = commit_revision_locked(al, &a);
        if (err)
            goto out;
    }
    uint8_t enc[256];
    size_t len;
    err = churn_outcome_encode(&o, enc, sizeof(enc), &len);
    if (!err)
        err = churn_store_append_outcome(al->store, req->customer_id, enc, len,
                                         &done->outcome_sequence);
    if (err) {
        snprintf(msg, msglen, "recording the outcome: %s", churn_store_last_error());
        goto out;
    }
    done->recorded_at_ms = now;
    snprintf(done->playbook_id, sizeof(done->playbook_id), "%s", o.playbook_id);
    done->holdout = o.holdout;
    churn_log(CHURN_LOG_INFO, "outcome_recorded", CHURN_LF_STR("customer_id", req->customer_id),
              CHURN_LF_STR("outcome", churn_outcome_name(o.outcome)),
              CHURN_LF_STR("playbook", o.playbook_id), CHURN_LF_INT("holdout", o.holdout),
              CHURN_LF_INT("outcome_sequence", (int64_t)done->outcome_sequence));
out:
    pthread_mutex_unlock(&al->log_mu);
    churn_arena_fini(&a);
    return err;
}

/* ---- playbook webhook actions (issue 15) ------------------------------------------------- */

void
churn__alerts_record_action_call(struct churn__alerts *al, const char *dest, uint64_t id,
                                 int http_status, unsigned attempts, int64_t at_ms)
{
    struct churn_arena a;
    churn_arena_init(&a, 256 * 1024);
    char msg[256] = "";
    pthread_mutex_lock(&al->log_mu);
    struct churn_alert *w = &al->work;
    enum churn_err err = read_latest_locked(al, id, w, &a, msg, sizeof(msg));
    if (!err)
        err = churn_alert_record_action_call(w, http_status, attempts, at_ms, churn_now_ms(), msg,
                                             sizeof(msg));
    if (!err)
        err = commit_revision_locked(al, &a);
    if (!err)
        churn_log(CHURN_LOG_INFO, "action_called", CHURN_LF_INT("alert", (int64_t)id),
                  CHURN_LF_STR("webhook", dest), CHURN_LF_INT("http_status", http_status),
                  CHURN_LF_INT("attempts", attempts),
                  CHURN_LF_INT("sequence", (int64_t)w->sequence));
    else if (err != CHURN_EEXIST) /* a re-delivery after a restart: already recorded */
        churn_log(CHURN_LOG_WARN, "action_not_recorded", CHURN_LF_INT("alert", (int64_t)id),
                  CHURN_LF_STR("webhook", dest),
                  CHURN_LF_STR("error", msg[0] ? msg : churn_strerror(err)));
    pthread_mutex_unlock(&al->log_mu);
    churn_arena_fini(&a);
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

struct churn_alert_index *
churn__alerts_index(struct churn__alerts *al)
{
    return al ? al->index : NULL;
}

void
churn__alerts_forget_customer(struct churn__alerts *al, const char *customer_id)
{
    if (al && al->index)
        churn_alert_index_forget_customer(al->index, customer_id);
    if (al && al->hub) /* WatchAlerts' ring too */
        churn_alert_hub_forget_customer(al->hub, customer_id);
}

struct churn_alert_hub *
churn__alerts_hub(struct churn__alerts *al)
{
    return al->hub;
}

static void
listener_notify(void *ctx, struct churn_alert_sub *sub, enum churn_alert_hub_event event)
{
    (void)sub;
    (void)event;
    struct churn_alert_listener *l = ctx;
    struct churn__alerts *al = l->engine;
    pthread_mutex_lock(&al->mu);
    l->pending = true;
    al->fanout = true;
    pthread_cond_signal(&al->cv);
    pthread_mutex_unlock(&al->mu);
}

churn_alert_hub_notify_fn
churn__alerts_notify_fn(void)
{
    return listener_notify;
}

void
churn__alerts_add_listener(struct churn__alerts *al, struct churn_alert_listener *l)
{
    l->engine = al;
    l->ops->hold(l);
    pthread_mutex_lock(&al->mu);
    l->prev = NULL;
    l->next = al->listeners;
    if (al->listeners)
        al->listeners->prev = l;
    al->listeners = l;
    l->listed = true;
    pthread_mutex_unlock(&al->mu);
}

void
churn__alerts_remove_listener(struct churn__alerts *al, struct churn_alert_listener *l)
{
    pthread_mutex_lock(&al->mu);
    bool listed = l->listed;
    if (listed) {
        if (l->prev)
            l->prev->next = l->next;
        else
            al->listeners = l->next;
        if (l->next)
            l->next->prev = l->prev;
        l->listed = false;
    }
    pthread_mutex_unlock(&al->mu);
    if (listed)
        l->ops->release(l);
}

size_t
churn__alerts_listeners(struct churn__alerts *al)
{
    size_t n = 0;
    pthread_mutex_lock(&al->mu);
    for (struct churn_alert_listener *l = al->listeners; l; l = l->next)
        n++;
    pthread_mutex_unlock(&al->mu);
    return n;
}

/* One batch: up to FANOUT_BATCH pending listeners, drained. Returns how many were taken. */
static size_t
fan_out_batch(struct churn__alerts *al)
{
    struct churn_alert_listener *batch[FANOUT_BATCH];
    size_t n = 0;
    pthread_mutex_lock(&al->mu);
    for (struct churn_alert_listener *l = al->listeners; l && n < FANOUT_BATCH; l = l->next) {
        if (!l->pending)
            continue;
        l->pending = false;
        l->ops->hold(l);
        batch[n++] = l;
    }
    pthread_mutex_unlock(&al->mu);
    for (size_t i = 0; i < n; i++) {
        batch[i]->ops->drain(batch[i]);
        batch[i]->ops->release(batch[i]);
    }
    return n;
}

/*
 * Wake-up: drain EVERY pending listener before the engine takes its next job, FANOUT_BATCH
 * at a time (so the listener list lock is never held while sending). Stopping after one
 * batch would starve the listeners past the first FANOUT_BATCH while alerts keep coming:
 * the first ones are pending again after every job. Called without al->mu.
 */
static void
fan_out(struct churn__alerts *al)
{
    pthread_mutex_lock(&al->mu);
    al->fanout = false;
    pthread_mutex_unlock(&al->mu);
    /* capped: publishers on other threads (acknowledgements) could keep it going forever;
     * whatever is left is still marked pending and the next wake-up continues */
    for (int pass = 0; pass < 64 && fan_out_batch(al) == FANOUT_BATCH; pass++)
        ;
}

/* Tick: a heartbeat to every listener idle for its interval, FANOUT_BATCH per tick. */
static void
heartbeats(struct churn__alerts *al)
{
    struct churn_alert_listener *batch[FANOUT_BATCH];
    size_t n = 0;
    int64_t now = churn_now_ms();
    pthread_mutex_lock(&al->mu);
    for (struct churn_alert_listener *l = al->listeners; l && n < FANOUT_BATCH; l = l->next) {
        if (!l->ops->idle(l, now))
            continue;
        l->ops->hold(l);
        batch[n++] = l;
    }
    pthread_mutex_unlock(&al->mu);
    for (size_t i = 0; i < n; i++) {
        batch[i]->ops->heartbeat(batch[i]);
        batch[i]->ops->release(batch[i]);
    }
}

static void *
engine_main(void *arg)
{
    struct churn__alerts *al = arg;
    struct churn_arena a;
    pthread_setname_np(pthread_self(), "alert-engine");
    churn_arena_init(&a, ENGINE_ARENA);
    struct churn_alert *fresh = churn_malloc(sizeof(*fresh));
    struct churn__alert_job *jobs = churn_malloc(CHURN__COMMIT_BATCH_MAX * sizeof(*jobs));
    struct chat_batch *batch = churn_malloc(sizeof(*batch));
    char(*ids)[CHURN_ALERT_ID_MAX] = churn_malloc(CHURN__RESCORE_BATCH * sizeof(*ids));
    bool ready = fresh && jobs && batch && ids;
    if (!ready)
        churn_log(CHURN_LOG_ERROR, "alert_engine_no_memory");
    int64_t next_tick = churn_now_ms() + HEARTBEAT_TICK_MS;
    for (;;) {
        pthread_mutex_lock(&al->mu);
        while (!al->stop && al->n_jobs == 0 && !al->fanout && (al->rq_n == 0 || !ready) &&
               churn_now_ms() < next_tick) {
            struct timespec ts = churn_timespec_of_ms(next_tick);
            pthread_cond_timedwait(&al->cv, &al->mu, &ts);
        }
        bool fanout = al->fanout;
        bool have_job = al->n_jobs > 0 && ready;
        size_t n_ids = 0, n_taken = 0;
        if (have_job) {
            while (al->n_jobs > 0 && n_taken < CHURN__COMMIT_BATCH_MAX) {
                jobs[n_taken++] = al->jobs[al->job_head];
                al->job_head = (al->job_head + 1) % CHURN__JOB_QUEUE_CAP;
                al->n_jobs--;
            }
        } else if (ready && !al->stop) {
            /* rescores are recomputed by the next sweep: a stopping engine drops them */
            n_ids = churn__rescore_take_locked(al, ids, CHURN__RESCORE_BATCH);
        }
        bool stop = al->stop && !have_job && !fanout;
        if (al->stop && !ready)
            stop = true;
        size_t dropped_at_stop = stop ? al->rq_n : 0;
        pthread_mutex_unlock(&al->mu);
        if (stop) {
            if (dropped_at_stop)
                churn_log(CHURN_LOG_INFO, "rescores_dropped_at_stop",
                          CHURN_LF_INT("customers", (int64_t)dropped_at_stop));
            break;
        }
        if (fanout)
            fan_out(al);
        if (have_job)
            process_jobs(al, jobs, n_taken, &a, batch);
        if (n_ids) {
            churn__rescore_batch(al, ids, n_ids, &a, fresh);
            pthread_mutex_lock(&al->mu); /* the sweep's end waits for the batch in flight */
            al->rescores_finished += n_ids;
            pthread_cond_broadcast(&al->space_cv);
            pthread_mutex_unlock(&al->mu);
        }
        int64_t now = churn_now_ms();
        if (now >= next_tick) {
            heartbeats(al);
            pthread_mutex_lock(&al->mu);
            churn__rescore_due_wakes_locked(al, now);
            pthread_mutex_unlock(&al->mu);
            next_tick = churn_now_ms() + HEARTBEAT_TICK_MS;
        }
    }
    churn_free(ids);
    churn_free(jobs);
    churn_free(batch);
    churn_free(fresh);
    churn_arena_fini(&a);
    return NULL;
}

/* ---- life cycle ------------------------------------------------------------------------ */

bool
churn__alerts_chat(struct churn__alerts *al, const char *customer_id, enum churn_alert_cause cause,
                   const char *reason, const char *evidence, double confidence,
                   const struct churn_score *score, struct churn__chat_turn_put *turn,
                   churn__chat_alert_done_fn *done, void *done_ctx)
{
    if (!al || !customer_id || strlen(customer_id) >= CHURN_ALERT_ID_MAX)
        return false;
    pthread_mutex_lock(&al->mu);
    bool ok = al->n_jobs < CHURN__JOB_QUEUE_CAP && !al->stop;
    if (ok) {
        struct churn__alert_job *j = &al->jobs[(al->job_head + al->n_jobs) % CHURN__JOB_QUEUE_CAP];
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
        if (score)
            job_score_of(score, &j->score);
        j->done = done;
        j->done_ctx = done_ctx;
        j->turn = turn;
        if (turn)
            turn->written = false;
        al->n_jobs++;
        pthread_cond_signal(&al->cv);
    } else {
        al->dropped++;
    }
    pthread_mutex_unlock(&al->mu);
    if (!ok)
        churn_log(CHURN_LOG_ERROR, "alert_queue_full", CHURN_LF_STR("customer_id", customer_id),
                  CHURN_LF_STR("msg", "chat alert dropped: the engine is far behind"));
    return ok;
}

/* Start-up: every snoozed alert of the store goes on the wake list, so it wakes on time
 * after a restart too (not only at the next sweep). */
struct snooze_scan {
    struct churn__alerts *al;
    size_t found;
};

static int
snooze_scan_cb(const char *customer_id, const void *data, size_t len, void *user)
{
    struct snooze_scan *sc = user;
    struct churn__state_set set;
    states_decode(data, len, &set);
    for (int c = 1; c < CHURN_CAUSE_COUNT; c++) {
        if (set.have[c] && set.st[c].open_id && set.st[c].snoozed_until_ms) {
            churn__alerts_note_snooze(sc->al, customer_id, set.st[c].snoozed_until_ms);
            sc->found++;
        }
    }
    return 0;
}

static const char *
playbooks_file(const struct churn__alerts *al)
{
    const char *p = al->cfg.playbooks_path;
    return p && *p ? p : CHURN_DEFAULT_PLAYBOOKS;
}

enum churn_err
churn__alerts_reload_playbooks(struct churn__alerts *al, char *msg, size_t msglen)
{
    enum churn_err err =
        churn_playbook_registry_reload_file(al->playbooks, playbooks_file(al), msg, msglen);
    if (!err)
        churn_log(CHURN_LOG_INFO, "playbooks_reloaded",
                  CHURN_LF_STR("playbooks", playbooks_file(al)));
    return err;
}

/* Issue 15: the --webhook destinations a playbook may name. */
static enum churn_err
playbook_webhooks(struct churn__alerts *al)
{
    const struct churn_delivery_config *cfg = al->cfg.delivery_config;
    const char *names[CHURN_DELIVERY_MAX_DESTS];
    size_t n = 0;
    for (size_t i = 0; cfg && i < cfg->n_dests; i++)
        if (cfg->dests[i].kind == CHURN_DELIVERY_WEBHOOK)
            names[n++] = cfg->dests[i].name;
    return churn_playbook_registry_set_webhooks(al->playbooks, names, n);
}

enum churn_err
churn__alerts_start(const struct churn_alert_engine_config *cfg, struct churn__alerts **out)
{
    struct churn__alerts *al = churn_calloc(1, sizeof(*al));
    if (!al)
        return CHURN_ENOMEM;
    struct churn_store *store = cfg->store;
    al->cfg = *cfg;
    al->store = store;
    churn_alert_rules_config_default(&al->rules);
    if (cfg->alert_rules)
        al->rules = *cfg->alert_rules;
    const struct churn_feature_info *cat = churn_features_catalogue();
    for (size_t i = 0; i < CHURN_FEAT__COUNT; i++) {
        if (cat[i].window_days > 0)
            snprintf(al->windows[i], sizeof(al->windows[i]), "in %d days", cat[i].window_days);
        al->labels[i].name = cat[i].name;
        al->labels[i].label = cat[i].label;
        al->labels[i].window = al->windows[i];
        al->labels[i].sentence = churn_reason_moved_text; /* in words, in the feature's unit */
    }
    pthread_mutex_init(&al->log_mu, NULL);
    pthread_mutex_init(&al->mu, NULL);
    pthread_cond_init(&al->cv, NULL);
    pthread_cond_init(&al->space_cv, NULL);
    pthread_cond_init(&al->sweep_cv, NULL);
    al->sweep_interval_ms = cfg->sweep_interval_ms;
    al->sweep_delay_ms = cfg->sweep_delay_ms;
    enum churn_err err = CHURN_ENOMEM;
    al->jobs = churn_calloc(CHURN__JOB_QUEUE_CAP, sizeof(*al->jobs));
    if (!al->jobs || churn__rescore_init(al) != CHURN_OK)
        goto out_fail;
    struct index_load *load = churn_calloc(1, sizeof(*load));
    if (!load || churn_alert_index_create(&al->index) != CHURN_OK) {
        churn_free(load);
        goto out_fail;
    }
    load->index = al->index;
    int64_t t0 = churn_mono_ns();
    err = churn_store_foreach_alert(store, 0, 0, index_load_cb, load);
    if (err == CHURN_ECANCELLED)
        err = load->err;
    uint64_t head = load->head;
    if (!err)
        churn_log(CHURN_LOG_INFO, "alert_index_loaded",
                  CHURN_LF_INT("alerts", (int64_t)churn_alert_index_count(al->index)),
                  CHURN_LF_INT("head_sequence", (int64_t)head),
                  CHURN_LF_INT("undecodable", (int64_t)load->undecodable),
                  CHURN_LF_INT("ms", (churn_mono_ns() - t0) / 1000000));
    churn_free(load);
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
    err = playbook_webhooks(al);
    if (err)
        goto out_fail;
    char msg[512];
    const char *playbooks = playbooks_file(al);
    if (churn_playbook_registry_reload_file(al->playbooks, playbooks, msg, sizeof(msg)) !=
        CHURN_OK) {
        /* an explicitly configured file must load; the built-in default is best effort */
        if (cfg->playbooks_path && *cfg->playbooks_path) {
            churn_log(CHURN_LOG_ERROR, "playbooks_refused", CHURN_LF_STR("reason", msg));
            err = CHURN_EINVAL;
            goto out_fail;
        }
        churn_log(CHURN_LOG_WARN, "playbooks_not_loaded", CHURN_LF_STR("reason", msg));
    }
    struct snooze_scan scan = {al, 0};
    if (churn_store_foreach_alert_state(store, snooze_scan_cb, &scan) != CHURN_OK)
        churn_log(CHURN_LOG_WARN, "snooze_scan_failed",
                  CHURN_LF_STR("error", churn_store_last_error()),
                  CHURN_LF_STR("msg", "snoozed alerts wake at the next sweep"));
    else if (scan.found)
        churn_log(CHURN_LOG_INFO, "snoozed_alerts", CHURN_LF_INT("count", (int64_t)scan.found));
    if (pthread_create(&al->thread, NULL, engine_main, al) != 0) {
        err = CHURN_ENOMEM;
        goto out_fail;
    }
    al->started = true;
    if ((err = churn__sweep_start(al)) != CHURN_OK)
        goto out_fail;
    churn_log(CHURN_LOG_INFO, "alerts_started", CHURN_LF_INT("head_sequence", (int64_t)head),
              CHURN_LF_STR("playbooks", playbooks),
              CHURN_LF_INT("sweep_interval_ms", al->sweep_interval_ms));
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
        pthread_cond_broadcast(&al->space_cv);
        pthread_cond_broadcast(&al->sweep_cv);
        pthread_mutex_unlock(&al->mu);
        churn__sweep_stop(al);
        pthread_join(al->thread, NULL);
    }
    /* listeners still registered (the server normally ended their streams first) */
    for (;;) {
        pthread_mutex_lock(&al->mu);
        struct churn_alert_listener *l = al->listeners;
        if (l)
            l->ops->hold(l);
        pthread_mutex_unlock(&al->mu);
        if (!l)
            break;
        l->ops->close(l);
        churn__alerts_remove_listener(al, l);
        l->ops->release(l);
    }
    churn_alert_hub_destroy(al->hub);
    churn_alert_index_destroy(al->index);
    if (al->playbooks)
        churn_playbook_registry_destroy(al->playbooks);
    /* jobs the engine never took (it never started, or stopped without memory): their
     * streams are told, so none waits for ever */
    for (; al->n_jobs > 0; al->n_jobs--) {
        struct churn__alert_job *j = &al->jobs[al->job_head];
        al->job_head = (al->job_head + 1) % CHURN__JOB_QUEUE_CAP;
        if (j->done)
            j->done(j->done_ctx, CHURN_EUNAVAIL, 0);
    }
    churn_free(al->jobs);
    churn__rescore_fini(al);
    pthread_cond_destroy(&al->sweep_cv);
    pthread_cond_destroy(&al->space_cv);
    pthread_cond_destroy(&al->cv);
    pthread_mutex_destroy(&al->mu);
    pthread_mutex_destroy(&al->log_mu);
    churn_free(al);
}
