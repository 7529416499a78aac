/*
 * service/alerts.c - the AlertService handlers: WatchAlerts (the backlog from the durable
 * log after after_sequence, a caught_up marker, then live changes from the engine's hub and
 * heartbeats while idle, all sent as fast as the client reads; a watcher too slow for the
 * hub's live window is ended with RESOURCE_EXHAUSTED and resumes from its last sequence),
 * ListAlerts (the current revision of each alert, filtered, ordered and paged with a cursor token)
 * and AcknowledgeAlert (acknowledge, snooze or close: a new revision through the engine). Also the
 * conversions between alert records and churn.v1 messages. The engine itself (queue, log appends,
 * fan-out and heartbeat thread) is in alerting.c.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alerts.h"
#include "churn/segments.h"
#include "churn/alerts_hub.h"
#include "churn/hash.h"
#include "churn/alloc.h"
#include "churn/event.h"
#include "churn/clock.h"
#include "churn/log.h"
#include "churn/page_token.h"
#include "churn/sentiment_tracker.h"
#include "churn/service.h"
#include "churn/service_metrics.h"
#include "churn/store.h"
#include "churn_proto.h"
#include "service_internal.h"

#define WATCH_ARENA       (256u * 1024u) /* one alert message being built */
#define LIST_PAGE_DEFAULT 50
#define LIST_PAGE_MAX     1000

/* ---- filters ---------------------------------------------------------------------------- */

static enum churn_err
filter_from_proto(struct churn_rpc *rpc, const Churn__V1__AlertFilter *f,
                  struct churn_alert_filter *hf, struct churn__alert_extra *x)
{
    memset(hf, 0, sizeof(*hf));
    memset(x, 0, sizeof(*x));
    if (!f)
        return CHURN_OK;
    if (f->n_causes > CHURN__WATCH_LIST_MAX || f->n_value_tiers > CHURN__WATCH_LIST_MAX ||
        f->n_segments > CHURN__WATCH_LIST_MAX || f->n_statuses > CHURN__WATCH_LIST_MAX ||
        f->n_customer_ids > CHURN__WATCH_LIST_MAX || f->n_owners > CHURN__WATCH_LIST_MAX)
        return churn_rpc_error(rpc, CHURN_EINVAL, "filter: at most %d entries per list",
                               CHURN__WATCH_LIST_MAX);
    for (size_t i = 0; i < f->n_causes; i++) {
        if (f->causes[i] <= 0 || f->causes[i] >= CHURN_CAUSE_COUNT)
            return churn_rpc_error(rpc, CHURN_EINVAL, "filter.causes[%zu]: unknown cause %d", i,
                                   (int)f->causes[i]);
        hf->causes |= 1u << f->causes[i];
    }
    if (f->min_risk_tier < 0 || (int)f->min_risk_tier > (int)CHURN_TIER_HIGH)
        return churn_rpc_error(rpc, CHURN_EINVAL, "filter.min_risk_tier: unknown tier %d",
                               (int)f->min_risk_tier);
    hf->min_risk = (enum churn_tier)f->min_risk_tier;
    for (size_t i = 0; i < f->n_value_tiers; i++) {
        if (f->value_tiers[i] <= 0 || (int)f->value_tiers[i] > (int)CHURN_TIER_HIGH)
            return churn_rpc_error(rpc, CHURN_EINVAL, "filter.value_tiers[%zu]: unknown tier %d", i,
                                   (int)f->value_tiers[i]);
        hf->value_tiers |= 1u << f->value_tiers[i];
    }
    for (size_t i = 0; i < f->n_segments; i++) {
        int cell = -1;
        for (int r = CHURN_TIER_LOW; r <= CHURN_TIER_HIGH && cell < 0; r++)
            for (int v = CHURN_TIER_LOW; v <= CHURN_TIER_HIGH && cell < 0; v++) {
                char name[48];
                churn_segment_name(r, v, name, sizeof(name));
                if (strcmp(name, f->segments[i]) == 0)
                    cell = churn_segment_cell(r, v);
            }
        if (cell < 0)
            return churn_rpc_error(rpc, CHURN_EINVAL,
                                   "filter.segments[%zu]: unknown segment (expected e.g. "
                                   "\"high-risk/high-value\")",
                                   i);
        hf->segments |= 1u << cell;
    }
    for (size_t i = 0; i < f->n_statuses; i++) {
        if (f->statuses[i] <= 0 || (int)f->statuses[i] > (int)CHURN_STATUS_CLOSED)
            return churn_rpc_error(rpc, CHURN_EINVAL, "filter.statuses[%zu]: unknown status %d", i,
                                   (int)f->statuses[i]);
        hf->statuses |= 1u << f->statuses[i];
    }
    for (size_t i = 0; i < f->n_customer_ids; i++) {
        size_t n = strlen(f->customer_ids[i]);
        if (n == 0 || n >= CHURN_ALERT_ID_MAX)
            return churn_rpc_error(rpc, CHURN_EINVAL,
                                   "filter.customer_ids[%zu]: must be 1..%u bytes", i,
                                   CHURN_ALERT_ID_MAX - 1);
        memcpy(x->customers[x->n_customers++], f->customer_ids[i], n + 1);
    }
    for (size_t i = 0; i < f->n_owners; i++) {
        size_t n = strlen(f->owners[i]);
        if (n == 0 || n >= CHURN_ALERT_NAME_MAX)
            return churn_rpc_error(rpc, CHURN_EINVAL, "filter.owners[%zu]: must be 1..%u bytes", i,
                                   CHURN_ALERT_NAME_MAX - 1);
        memcpy(x->owners[x->n_owners++], f->owners[i], n + 1);
    }
    if (!isfinite(f->min_priority) || f->min_priority < 0)
        return churn_rpc_error(rpc, CHURN_EINVAL, "filter.min_priority: must be finite and >= 0");
    x->min_priority = f->min_priority;
    char msg[CHURN_ALERT_ERRMSG];
    if (churn_alert_filter_check(hf, msg, sizeof(msg)) != CHURN_OK)
        return churn_rpc_error(rpc, CHURN_EINVAL, "filter: %s", msg);
    return CHURN_OK;
}

static bool
extra_match(const struct churn__alert_extra *x, const struct churn_alert *a)
{
    if (a->priority < x->min_priority)
        return false;
    bool ok = x->n_customers == 0;
    for (size_t i = 0; i < x->n_customers && !ok; i++)
        ok = strcmp(x->customers[i], a->customer_id) == 0;
    if (!ok)
        return false;
    ok = x->n_owners == 0;
    for (size_t i = 0; i < x->n_owners && !ok; i++)
        ok = strcmp(x->owners[i], a->owner) == 0;
    return ok;
}

/* ---- alert record -> churn.v1.Alert --------------------------------------------------- */

static Churn__V1__EscalationReason
escalation_reason_of(const char *name)
{
    static const struct {
        enum churn_chat_reason r;
        Churn__V1__EscalationReason p;
    } map[] = {
        {CHURN_CHAT_REASON_HARD_TRIGGER,
         CHURN__V1__ESCALATION_REASON__ESCALATION_REASON_HARD_TRIGGER},
        {CHURN_CHAT_REASON_CHURN_INTENT,
         CHURN__V1__ESCALATION_REASON__ESCALATION_REASON_CHURN_INTENT},
        {CHURN_CHAT_REASON_HUMAN_REQUESTED,
         CHURN__V1__ESCALATION_REASON__ESCALATION_REASON_HUMAN_REQUESTED},
        {CHURN_CHAT_REASON_DISSATISFACTION,
         CHURN__V1__ESCALATION_REASON__ESCALATION_REASON_DISSATISFACTION},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(churn_chat_reason_name(map[i].r), name) == 0)
            return map[i].p;
    return CHURN__V1__ESCALATION_REASON__ESCALATION_REASON_UNSPECIFIED;
}

/* enum churn_alert_change has the proto's values (checked at compile time). */
_Static_assert((int)CHURN_CHANGE_ACTION_CALLED ==
                   (int)CHURN__V1__ALERT_CHANGE__ALERT_CHANGE_ACTION_CALLED,
               "alert change values (issue 15)");
_Static_assert((int)CHURN_CHANGE_OUTCOME_RECORDED ==
                       (int)CHURN__V1__ALERT_CHANGE__ALERT_CHANGE_OUTCOME_RECORDED &&
                   (int)CHURN_CHANGE_WOKEN == (int)CHURN__V1__ALERT_CHANGE__ALERT_CHANGE_WOKEN &&
                   (int)CHURN_CHANGE_RAISED == (int)CHURN__V1__ALERT_CHANGE__ALERT_CHANGE_RAISED,
               "alert change values");

static Churn__V1__AlertChange
change_of(const struct churn_alert *a)
{
    return (Churn__V1__AlertChange)a->change;
}

/* The Alert message of @a in @ar; NULL when @ar is full. */
static Churn__V1__Alert *
alert_to_proto(const struct churn_alert *a, struct churn_arena *ar)
{
    Churn__V1__Alert *m = churn_arena_alloc(ar, sizeof(*m));
    Churn__V1__Score *sc = churn_arena_alloc(ar, sizeof(*sc));
    char *summary = churn_arena_alloc(ar, 1024);
    if (!m || !sc || !summary)
        return NULL;
    *m = (Churn__V1__Alert)CHURN__V1__ALERT__INIT;
    *sc = (Churn__V1__Score)CHURN__V1__SCORE__INIT;
    m->sequence = a->id;
    m->revision_sequence = a->sequence;
    m->change = change_of(a);
    m->customer_id = (char *)a->customer_id;
    m->cause = (Churn__V1__AlertCause)a->cause;
    m->status = (Churn__V1__AlertStatus)a->status;
    m->resolution = (Churn__V1__AlertResolution)a->resolution;
    m->created_at_ms = a->created_ms;
    m->updated_at_ms = a->updated_ms;
    sc->customer_id = (char *)a->customer_id;
    sc->probability = a->probability;
    sc->risk_tier = (Churn__V1__RiskTier)a->risk_tier;
    sc->value_tier = (Churn__V1__ValueTier)a->value_tier;
    sc->priority = a->priority;
    sc->expected_revenue_at_risk = a->priority;
    sc->customer_value = a->value;
    if (a->n_reasons) {
        sc->reasons = churn_arena_alloc(ar, a->n_reasons * sizeof(*sc->reasons));
        if (!sc->reasons)
            return NULL;
        for (uint32_t i = 0; i < a->n_reasons; i++) {
            Churn__V1__Reason *r = churn_arena_alloc(ar, sizeof(*r));
            if (!r)
                return NULL;
            *r = (Churn__V1__Reason)CHURN__V1__REASON__INIT;
            r->feature = (char *)a->reasons[i].feature;
            r->label = (char *)a->reasons[i].label;
            r->value = a->reasons[i].value;
            r->contribution = a->reasons[i].contribution;
            sc->reasons[sc->n_reasons++] = r;
        }
    }
    m->score = sc;
    if (a->n_moved) {
        m->what_moved = churn_arena_alloc(ar, a->n_moved * sizeof(*m->what_moved));
        if (!m->what_moved)
            return NULL;
        for (uint32_t i = 0; i < a->n_moved; i++) {
            Churn__V1__FeatureMovement *fm = churn_arena_alloc(ar, sizeof(*fm));
            if (!fm)
                return NULL;
            *fm = (Churn__V1__FeatureMovement)CHURN__V1__FEATURE_MOVEMENT__INIT;
            fm->feature = (char *)a->moved[i].feature;
            fm->label = (char *)a->moved[i].label;
            /* NaN: the feature had no value then (or was not among the model's reasons) */
            fm->before_missing = isnan(a->moved[i].before);
            fm->after_missing = isnan(a->moved[i].after);
            fm->before = fm->before_missing ? 0.0 : a->moved[i].before;
            fm->after = fm->after_missing ? 0.0 : a->moved[i].after;
            fm->contribution_delta = a->moved[i].contribution_delta;
            fm->explanation = (char *)a->moved[i].sentence;
            m->what_moved[m->n_what_moved++] = fm;
        }
    }
    if (a->n_stale) {
        m->stale_features = churn_arena_alloc(ar, a->n_stale * sizeof(char *));
        if (!m->stale_features)
            return NULL;
        for (uint32_t i = 0; i < a->n_stale; i++)
            m->stale_features[m->n_stale_features++] = (char *)a->stale[i];
    }
    m->risk_tier = (Churn__V1__RiskTier)a->risk_tier;
    m->value_tier = (Churn__V1__ValueTier)a->value_tier;
    m->priority = a->priority;
    if (a->risk_tier && a->value_tier) {
        char *seg = churn_arena_alloc(ar, 48);
        if (!seg)
            return NULL;
        m->segment = churn_segment_name(a->risk_tier, a->value_tier, seg, 48);
    }
    if (a->action.kind != CHURN_ACTION_NONE) {
        Churn__V1__Action *act = churn_arena_alloc(ar, sizeof(*act));
        if (!act)
            return NULL;
        *act = (Churn__V1__Action)CHURN__V1__ACTION__INIT;
        act->kind = (Churn__V1__ActionKind)a->action.kind;
        act->detail = (char *)a->action.detail;
        act->coupon_value = a->action.coupon_value;
        act->playbook_id = (char *)a->playbook_id;
        m->suggested_action = act;
    }
    m->playbook_id = (char *)a->playbook_id;
    m->holdout = a->holdout;
    m->owner = (char *)a->owner;
    m->due_at_ms = a->due_at_ms;
    if (a->cause == CHURN_CAUSE_CHAT_ESCALATION || a->cause == CHURN_CAUSE_CHURN_INTENT) {
        Churn__V1__ChatContext *chat = churn_arena_alloc(ar, sizeof(*chat));
        if (!chat)
            return NULL;
        *chat = (Churn__V1__ChatContext)CHURN__V1__CHAT_CONTEXT__INIT;
        chat->escalation_reason = escalation_reason_of(a->chat_reason);
        chat->excerpt = (char *)a->chat_evidence;
        m->chat = chat;
    }
    m->summary = churn_alert_summary(a, summary, 1024);
    m->trigger_count = (int32_t)a->trigger_count;
    m->acknowledged_by = (char *)a->ack_actor;
    m->acknowledged_at_ms = a->ack_ms;
    m->note = (char *)a->note;
    enum churn_action_kind taken = CHURN_ACTION_NONE;
    if (a->ack_action[0] && churn_action_kind_parse(a->ack_action, &taken) != CHURN_OK)
        taken = CHURN_ACTION_NONE;
    m->action_taken = (Churn__V1__ActionKind)taken;
    m->snoozed_until_ms = a->status == CHURN_STATUS_SNOOZED ? a->snoozed_until_ms : 0;
    m->snooze_reason = (char *)a->snooze_reason;
    m->closed_at_ms = a->closed_ms;
    if (a->has_outcome) {
        Churn__V1__OutcomeRecord *o = churn_arena_alloc(ar, sizeof(*o));
        if (!o)
            return NULL;
        *o = (Churn__V1__OutcomeRecord)CHURN__V1__OUTCOME_RECORD__INIT;
        o->outcome = churn__outcome_to_proto(a->outcome);
        o->intervention = (Churn__V1__ActionKind)a->outcome_intervention;
        o->revenue = a->outcome_revenue;
        o->currency = (char *)a->outcome_currency;
        o->actor = (char *)a->outcome_actor;
        o->observed_at_ms = a->outcome_observed_ms;
        m->outcome = o;
    }
    if (a->action.webhook[0]) { /* issue 15: the playbook's webhook action */
        Churn__V1__ActionCall *c = churn_arena_alloc(ar, sizeof(*c));
        if (!c)
            return NULL;
        *c = (Churn__V1__ActionCall)CHURN__V1__ACTION_CALL__INIT;
        c->webhook = (char *)a->action.webhook;
        c->http_status = a->action_call.http_status;
        c->called_at_ms = a->action_call.called_ms;
        c->attempts = (int32_t)a->action_call.attempts;
        m->action_call = c;
    }
    return m;
}

Churn__V1__Outcome
churn__outcome_to_proto(enum churn_outcome o)
{
    switch (o) {
    case CHURN_OUTCOME_RETAINED:
        return CHURN__V1__OUTCOME__OUTCOME_RETAINED;
    case CHURN_OUTCOME_CHURNED:
        return CHURN__V1__OUTCOME__OUTCOME_CHURNED;
    default:
        return CHURN__V1__OUTCOME__OUTCOME_UNKNOWN;
    }
}

/* ---- WatchAlerts ------------------------------------------------------------------------ */

static void
watcher_put(struct churn__watcher *w)
{
    if (atomic_fetch_sub(&w->refs, 1) != 1)
        return;
    churn_arena_fini(&w->arena);
    pthread_mutex_destroy(&w->mu);
    churn_rpc_unref(w->rpc);
    churn_free(w);
}

static void watcher_send_failed_locked(struct churn__watcher *w, enum churn_err err);

/* The latest change serialized once for every watcher (the fan-out of one alert to 100
 * watchers was 100 conversions and encodings). */
static struct pack_cache {
    pthread_mutex_t mu;
    const struct churn__alerts *engine;
    uint64_t seq;
    struct churn_rpc_payload *payload;
    struct churn_arena arena;
} pack_cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

void
churn__alert_service_fini(void)
{
    pthread_mutex_lock(&pack_cache.mu);
    churn_rpc_payload_free(pack_cache.payload);
    pack_cache.payload = NULL;
    pack_cache.engine = NULL;
    if (pack_cache.arena.limit)
        churn_arena_fini(&pack_cache.arena);
    memset(&pack_cache.arena, 0, sizeof(pack_cache.arena));
    pthread_mutex_unlock(&pack_cache.mu);
}

/* Send one alert on @w's stream (w->mu held). False when the stream is over. */
static bool
watcher_send_locked(struct churn__watcher *w, const struct churn_alert *a)
{
    /* every watcher gets the same bytes for a change: serialize it once (the fan-out of one
     * alert to 100 watchers was 100 conversions and encodings) */
    struct pack_cache *pc = &pack_cache;
    enum churn_err err = CHURN_OK;
    pthread_mutex_lock(&pc->mu);
    if (!pc->payload || pc->engine != w->engine || pc->seq != a->sequence) {
        if (!pc->arena.limit)
            churn_arena_init(&pc->arena, 1u << 20);
        churn_arena_reset(&pc->arena);
        Churn__V1__WatchAlertsResponse resp = CHURN__V1__WATCH_ALERTS_RESPONSE__INIT;
        resp.event_case = CHURN__V1__WATCH_ALERTS_RESPONSE__EVENT_ALERT;
        resp.alert = alert_to_proto(a, &pc->arena);
        struct churn_rpc_payload *p = resp.alert ? churn_rpc_payload_pack(&resp.base) : NULL;
        if (p) {
            churn_rpc_payload_free(pc->payload);
            pc->payload = p;
            pc->engine = w->engine;
            pc->seq = a->sequence;
        } else {
            err = CHURN_ENOMEM;
        }
    }
    if (!err)
        err = churn_rpc_send_payload(w->rpc, pc->payload);
    pthread_mutex_unlock(&pc->mu);
    if (err == CHURN_OK) {
        w->last_sent = a->sequence;
        atomic_store(&w->last_send_ms, churn_now_ms());
        return true;
    }
    watcher_send_failed_locked(w, err);
    return false;
}

/*
 * Flow control: a watcher puts at most WATCH_WINDOW responses on its stream's send queue and
 * goes on when the client has read it down to WATCH_RESUME (on_writable). So a watcher that
 * reads as fast as the server sends reaches the head from any position: the backlog comes
 * from the log at the client's pace, the ring takes over within its catch-up window, and
 * only a watcher that lets the ring wrap over an alert it has not read is too slow.
 */
#define WATCH_WINDOW 128
#define WATCH_RESUME 64

/* true when the stream has room for one more response; else on_writable is asked for */
static bool
watcher_room(struct churn__watcher *w)
{
    if (churn_rpc_queued(w->rpc) < WATCH_WINDOW)
        return true;
    return !churn_rpc_notify_writable(w->rpc, WATCH_RESUME);
}

static void
watcher_too_slow_locked(struct churn__watcher *w)
{
    uint64_t resume = w->last_sent;
    churn_alert_hub_lagged(w->sub, &resume);
    churn_service_metrics_watcher_cut(w->metrics);
    churn_rpc_finish(w->rpc, CHURN_EFULL,
                     "watcher too slow: fell behind after sequence %" PRIu64
                     "; resume after sequence %" PRIu64,
                     resume, resume);
    w->finished = true;
}

/* The caught_up marker, once, when everything up to the head at the start was delivered. */
static void
watcher_caught_up_locked(struct churn__watcher *w)
{
    if (w->caught_up || w->finished)
        return;
    w->caught_up = true;
    Churn__V1__WatchAlertsResponse resp = CHURN__V1__WATCH_ALERTS_RESPONSE__INIT;
    Churn__V1__WatchAlertsResponse__CaughtUp cu = CHURN__V1__WATCH_ALERTS_RESPONSE__CAUGHT_UP__INIT;
    cu.head_sequence = w->last_sent > w->start_head ? w->last_sent : w->start_head;
    cu.backlog_delivered = w->delivered;
    resp.event_case = CHURN__V1__WATCH_ALERTS_RESPONSE__EVENT_CAUGHT_UP;
    resp.caught_up = &cu;
    enum churn_err err = churn_rpc_send(w->rpc, &resp.base);
    if (err)
        watcher_send_failed_locked(w, err);
}

/* One alert from the hub. CHURN_EAGAIN: nothing pending (READY is re-armed). */
static enum churn_err
watcher_take_locked(struct churn__watcher *w)
{
    enum churn_err err = churn_alert_hub_next(w->sub, &w->alert);
    if (err == CHURN_EAGAIN) {
        watcher_caught_up_locked(w);
        return err;
    }
    if (err) {
        watcher_too_slow_locked(w);
        return err;
    }
    bool backlog = w->ring_backlog > 0;
    if (backlog)
        w->ring_backlog--;
    if (extra_match(&w->extra, &w->alert) && watcher_send_locked(w, &w->alert) && backlog)
        w->delivered++;
    if (backlog && w->ring_backlog == 0)
        watcher_caught_up_locked(w);
    return CHURN_OK;
}

struct backlog {
    struct churn__watcher *w;
    uint64_t upto;
    bool stopped; /* before upto: the window is full or the stream is over */
};

static int
backlog_cb(uint64_t seq, const char *customer_id, const void *data, size_t len, void *user)
{
    (void)customer_id;
    struct backlog *b = user;
    struct churn__watcher *w = b->w;
    if (seq > b->upto)
        return 1;
    if (w->finished || churn_rpc_queued(w->rpc) >= WATCH_WINDOW) {
        b->stopped = true;
        return 1;
    }
    if (churn_alert_decode(data, len, &w->alert) != CHURN_OK) {
        churn_log(CHURN_LOG_WARN, "alert_corrupt", CHURN_LF_INT("sequence", (int64_t)seq));
        w->last_sent = seq;
        return 0;
    }
    w->alert.sequence = seq;
    if (churn_alert_filter_match(&w->filter, &w->alert) && extra_match(&w->extra, &w->alert)) {
        if (!watcher_send_locked(w, &w->alert)) {
            b->stopped = true;
            return 1;
        }
        w->delivered++;
    }
    w->last_sent = seq; /* the filtered-out ones are passed too: the resume point */
    return 0;
}

/* Subscribe after last_sent, or, when that is behind the hub's catch-up window, send the next
 * part of the backlog from the durable log. */
static enum churn_err
watcher_backlog_locked(struct churn__watcher *w)
{
    struct churn_alert_hub *hub = churn__alerts_hub(w->engine);
    struct churn_services *svc = churn_rpc_service(w->rpc);
    char emsg[CHURN_ALERT_ERRMSG];
    enum churn_err err =
        churn_alert_hub_subscribe(hub, w->last_sent, &w->filter, churn__alerts_notify_fn(),
                                  &w->listener, &w->sub, emsg, sizeof(emsg));
    if (err == CHURN_OK) {
        w->ring_backlog = churn_alert_hub_pending(w->sub);
        return CHURN_OK;
    }
    if (err != CHURN_ERANGE) {
        churn_rpc_finish(w->rpc, err, "%s", emsg);
        w->finished = true;
        return err;
    }
    struct backlog b = {.w = w, .upto = churn_alert_hub_oldest(hub)};
    err = churn_store_foreach_alert(svc->store, w->last_sent, 0, backlog_cb, &b);
    if (err && err != CHURN_ECANCELLED) { /* ECANCELLED: backlog_cb stopped the walk */
        churn_rpc_finish(w->rpc, err, "reading the alert log: %s", churn_strerror(err));
        w->finished = true;
        return err;
    }
    if (!b.stopped && w->last_sent < b.upto)
        w->last_sent = b.upto; /* nothing more in the log up to there */
    return w->finished ? CHURN_ECANCELLED : CHURN_OK;
}

static void
watcher_drain_locked(struct churn__watcher *w)
{
    while (!w->finished && watcher_room(w)) {
        if (w->sub && churn_alert_hub_lagged(w->sub, NULL)) {
            watcher_too_slow_locked(w);
            return;
        }
        enum churn_err err = w->sub ? watcher_take_locked(w) : watcher_backlog_locked(w);
        if (err == CHURN_EAGAIN)
            return;
    }
}

static void
watcher_heartbeat_locked(struct churn__watcher *w)
{
    if (w->finished || !w->sub)
        return;
    Churn__V1__WatchAlertsResponse resp = CHURN__V1__WATCH_ALERTS_RESPONSE__INIT;
    Churn__V1__WatchAlertsResponse__Heartbeat hb =
        CHURN__V1__WATCH_ALERTS_RESPONSE__HEARTBEAT__INIT;
    /* the head first, then everything the hub holds for this watcher ahead of the heartbeat
     * in the same stream: a client resuming after the heartbeat's head misses nothing (and
     * while some of it waits for room in the stream, there is no heartbeat) */
    hb.head_sequence = churn_alert_hub_head(churn__alerts_hub(w->engine));
    watcher_drain_locked(w);
    if (w->finished || !w->sub || !w->caught_up || churn_alert_hub_pending(w->sub) > 0)
        return;
    hb.server_time_ms = churn_now_ms();
    resp.event_case = CHURN__V1__WATCH_ALERTS_RESPONSE__EVENT_HEARTBEAT;
    resp.heartbeat = &hb;
    enum churn_err err = churn_rpc_send(w->rpc, &resp.base);
    if (err == CHURN_OK)
        atomic_store(&w->last_send_ms, hb.server_time_ms);
    else
        watcher_send_failed_locked(w, err);
}

static void
watcher_send_failed_locked(struct churn__watcher *w, enum churn_err err)
{
    if (err == CHURN_EFULL)
        churn_service_metrics_watcher_cut(w->metrics);
    if (err == CHURN_EFULL)
        churn_rpc_finish(w->rpc, CHURN_EFULL,
                         "watcher too slow: fell behind after sequence %" PRIu64
                         "; resume after sequence %" PRIu64,
                         w->last_sent, w->last_sent);
    else if (err != CHURN_ECANCELLED)
        churn_rpc_finish(w->rpc, err, "could not send to the watcher: %s", churn_strerror(err));
    w->finished = true;
}

/* ---- the watcher as the engine's listener ---- */

static struct churn__watcher *
watcher_of(struct churn_alert_listener *l)
{
    return (struct churn__watcher *)((char *)l - offsetof(struct churn__watcher, listener));
}

static void
listener_drain(struct churn_alert_listener *l)
{
    struct churn__watcher *w = watcher_of(l);
    pthread_mutex_lock(&w->mu);
    watcher_drain_locked(w);
    pthread_mutex_unlock(&w->mu);
}

static bool
listener_idle(struct churn_alert_listener *l, int64_t now_ms)
{
    struct churn__watcher *w = watcher_of(l);
    return now_ms - atomic_load(&w->last_send_ms) >= w->heartbeat_ms;
}

static void
listener_heartbeat(struct churn_alert_listener *l)
{
    struct churn__watcher *w = watcher_of(l);
    pthread_mutex_lock(&w->mu);
    watcher_heartbeat_locked(w);
    pthread_mutex_unlock(&w->mu);
}

static void
listener_hold(struct churn_alert_listener *l)
{
    atomic_fetch_add(&watcher_of(l)->refs, 1);
}

static void
listener_release(struct churn_alert_listener *l)
{
    watcher_put(watcher_of(l));
}

/* The engine stops with the stream still open: the hub is going, nothing more is sent. */
static void
listener_close(struct churn_alert_listener *l)
{
    struct churn__watcher *w = watcher_of(l);
    pthread_mutex_lock(&w->mu);
    churn_alert_hub_unsubscribe(w->sub);
    w->sub = NULL;
    w->finished = true; /* no backlog step subscribes again */
    pthread_mutex_unlock(&w->mu);
}

static const struct churn_alert_listener_ops listener_ops = {
    .drain = listener_drain,
    .idle = listener_idle,
    .heartbeat = listener_heartbeat,
    .hold = listener_hold,
    .release = listener_release,
    .close = listener_close,
};

static enum churn_err
watch_start(struct churn_rpc *rpc, const ProtobufCMessage *msg)
{
    const Churn__V1__WatchAlertsRequest *req = (const Churn__V1__WatchAlertsRequest *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    struct churn__alerts *al = svc->alerts;
    if (!al || !svc->store)
        return churn_rpc_error(rpc, CHURN_EUNAVAIL, "the store is not open");
    if (req->heartbeat_interval_ms != 0 &&
        (req->heartbeat_interval_ms < 1000 || req->heartbeat_interval_ms > 300000))
        return churn_rpc_error(rpc, CHURN_EINVAL,
                               "heartbeat_interval_ms: must be 0 or 1000..300000");
    struct churn__watcher *w = churn_calloc(1, sizeof(*w));
    if (!w)
        return churn_rpc_error(rpc, CHURN_ENOMEM, "out of memory");
    enum churn_err err = filter_from_proto(rpc, req->filter, &w->filter, &w->extra);
    if (err) {
        churn_free(w);
        return err;
    }
    uint64_t head = churn__alerts_head(al);
    if (!req->live_only && req->after_sequence > head) {
        churn_free(w);
        return churn_rpc_error(rpc, CHURN_ERANGE,
                               "after_sequence: %" PRIu64 " is beyond the head of the log (%" PRIu64
                               ")",
                               req->after_sequence, head);
    }
    w->engine = al;
    w->metrics = svc->metrics;
    w->rpc = churn_rpc_ref(rpc);
    atomic_init(&w->refs, 1); /* the call's */
    pthread_mutex_init(&w->mu, NULL);
    churn_arena_init(&w->arena, WATCH_ARENA);
    w->heartbeat_ms = req->heartbeat_interval_ms ? req->heartbeat_interval_ms : 15000;
    atomic_init(&w->last_send_ms, churn_now_ms());
    w->start_head = head;
    w->last_sent = req->live_only ? head : req->after_sequence;
    *churn_rpc_state(rpc) = w;
    w->listener.ops = &listener_ops;
    churn__alerts_add_listener(al, &w->listener);
    pthread_mutex_lock(&w->mu);
    watcher_drain_locked(w);
    pthread_mutex_unlock(&w->mu);
    return CHURN_OK;
}

/* on_writable: the client read the stream down: send on */
static void
watch_writable(struct churn_rpc *rpc)
{
    struct churn__watcher *w = *churn_rpc_state(rpc);
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    watcher_drain_locked(w);
    pthread_mutex_unlock(&w->mu);
}

static void
watch_done(struct churn_rpc *rpc)
{
    struct churn__watcher *w = *churn_rpc_state(rpc);
    if (!w)
        return;
    *churn_rpc_state(rpc) = NULL;
    churn__alerts_remove_listener(w->engine, &w->listener);
    pthread_mutex_lock(&w->mu);
    churn_alert_hub_unsubscribe(w->sub);
    w->sub = NULL;
    w->finished = true;
    pthread_mutex_unlock(&w->mu);
    watcher_put(w);
}

/* ---- ListAlerts ------------------------------------------------------------------------- */

/* What a ListAlerts call selects from the index: the filter (customers and owners by hash;
 * each selected alert is then checked on its record), the creation window and the cursor. */
struct list_sel {
    enum churn_alert_index_order order;
    const struct churn_alert_filter *filter;
    const struct churn__alert_extra *extra;
    uint64_t customers[CHURN__WATCH_LIST_MAX], owners[CHURN__WATCH_LIST_MAX];
    int64_t created_after_ms, created_before_ms;
    bool have_cursor;
    struct churn_alert_index_entry cursor; /* the last entry of the previous page */
};

static bool
hash_in(uint64_t h, const uint64_t *list, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if (list[i] == h)
            return true;
    return false;
}

static bool
list_accept(const struct churn_alert_index_entry *e, void *user)
{
    const struct list_sel *s = user;
    return churn_alert_filter_match_fields(s->filter, e->cause, e->risk_tier, e->value_tier,
                                           e->status) &&
           e->priority >= s->extra->min_priority &&
           hash_in(e->customer_hash, s->customers, s->extra->n_customers) &&
           hash_in(e->owner_hash, s->owners, s->extra->n_owners) &&
           (!s->created_after_ms || e->created_ms >= s->created_after_ms) &&
           (!s->created_before_ms || e->created_ms < s->created_before_ms) &&
           (!s->have_cursor || churn_alert_index_before(s->order, &s->cursor, e));
}

static enum churn_page_kind
token_kind(int order)
{
    return order == CHURN__V1__ALERT_ORDER__ALERT_ORDER_OLDEST   ? CHURN_PAGE_OLDEST
           : order == CHURN__V1__ALERT_ORDER__ALERT_ORDER_NEWEST ? CHURN_PAGE_NEWEST
                                                                 : CHURN_PAGE_PRIORITY;
}

static enum churn_err
parse_token(struct churn_rpc *rpc, const char *tok, int order, double *prio, uint64_t *seq)
{
    struct churn_page_token t;
    const char *why;
    if (churn_page_token_parse(tok, token_kind(order), &t, &why))
        return churn_rpc_error(rpc, CHURN_EINVAL, "page_token: %s", why);
    *prio = t.priority;
    *seq = t.position;
    return CHURN_OK;
}

static enum churn_err
list_alerts(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__ListAlertsRequest *req = (const Churn__V1__ListAlertsRequest *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    struct churn__alerts *al = svc->alerts;
    struct churn_arena *ar = churn_rpc_arena(rpc);
    if (!al || !svc->store)
        return churn_rpc_error(rpc, CHURN_EUNAVAIL, "the store is not open");
    if (req->page_size < 0)
        return churn_rpc_error(rpc, CHURN_EINVAL, "page_size: must be >= 0");
    int order = req->order == CHURN__V1__ALERT_ORDER__ALERT_ORDER_UNSPECIFIED
                    ? CHURN__V1__ALERT_ORDER__ALERT_ORDER_PRIORITY
                    : (int)req->order;
    if (order < CHURN__V1__ALERT_ORDER__ALERT_ORDER_PRIORITY ||
        order > CHURN__V1__ALERT_ORDER__ALERT_ORDER_OLDEST)
        return churn_rpc_error(rpc, CHURN_EINVAL, "order: unknown order %d", order);
    if (req->created_after_ms < 0 || req->created_before_ms < 0)
        return churn_rpc_error(rpc, CHURN_EINVAL, "created_after_ms/created_before_ms: >= 0");
    size_t page = req->page_size == 0              ? LIST_PAGE_DEFAULT
                  : req->page_size > LIST_PAGE_MAX ? LIST_PAGE_MAX
                                                   : (size_t)req->page_size;
    double tok_prio = 0;
    uint64_t tok_seq = 0;
    bool have_tok = req->page_token && req->page_token[0];
    if (have_tok) {
        enum churn_err err = parse_token(rpc, req->page_token, order, &tok_prio, &tok_seq);
        if (err)
            return err;
    }
    struct churn__alert_extra *extra = churn_malloc(sizeof(*extra));
    struct list_sel *sel = churn_calloc(1, sizeof(*sel));
    struct churn_alert_index_entry *ents = NULL;
    enum churn_err err = CHURN_ENOMEM;
    if (!extra || !sel)
        goto out;
    struct churn_alert_filter hf;
    err = filter_from_proto(rpc, req->filter, &hf, extra);
    if (err)
        goto out;
    sel->order = order == CHURN__V1__ALERT_ORDER__ALERT_ORDER_OLDEST   ? CHURN_ALERT_INDEX_OLDEST
                 : order == CHURN__V1__ALERT_ORDER__ALERT_ORDER_NEWEST ? CHURN_ALERT_INDEX_NEWEST
                                                                       : CHURN_ALERT_INDEX_PRIORITY;
    sel->filter = &hf;
    sel->extra = extra;
    for (size_t i = 0; i < extra->n_customers; i++)
        sel->customers[i] = churn_fnv1a64_str(extra->customers[i]);
    for (size_t i = 0; i < extra->n_owners; i++)
        sel->owners[i] = churn_fnv1a64_str(extra->owners[i]);
    sel->created_after_ms = req->created_after_ms;
    sel->created_before_ms = req->created_before_ms;
    sel->have_cursor = have_tok;
    sel->cursor.id = tok_seq;
    sel->cursor.seq = tok_seq;
    sel->cursor.priority = tok_prio;

    Churn__V1__ListAlertsResponse *resp = churn_arena_alloc(ar, sizeof(*resp));
    Churn__V1__Alert **list = churn_arena_alloc(ar, page * sizeof(*list));
    /* the messages point into these records until the response is serialized */
    struct churn_alert *alerts = churn_arena_alloc(ar, page * sizeof(*alerts));
    if (!resp || !list || !alerts) {
        err = churn_rpc_error(rpc, CHURN_ETOOBIG, "response too large");
        goto out;
    }
    *resp = (Churn__V1__ListAlertsResponse)CHURN__V1__LIST_ALERTS_RESPONSE__INIT;
    resp->alerts = list;
    /* the first page + 1 candidates in order; each is read from the log and checked whole
     * (a customer or owner hash may collide, an erase may have just removed it). When some
     * are dropped and more candidates remain, select again with room for more. */
    struct churn_alert_index *ix = churn__alerts_index(al);
    const struct churn_alert_index_entry *last = NULL;
    bool more = false;
    for (size_t k = page + 1;; k *= 2) {
        churn_free(ents);
        ents = churn_malloc(k * sizeof(*ents));
        if (!ents) {
            err = CHURN_ENOMEM;
            goto out;
        }
        size_t accepted = 0;
        uint64_t head = 0;
        size_t n =
            churn_alert_index_select(ix, sel->order, list_accept, sel, k, ents, &accepted, &head);
        resp->head_sequence = head;
        resp->n_alerts = 0;
        size_t used = 0;
        last = NULL;
        for (; used < n && resp->n_alerts < page; used++) {
            struct churn_alert *alert = &alerts[resp->n_alerts];
            err = churn__alerts_read(al, ents[used].seq, alert);
            if (err == CHURN_ENOTFOUND)
                continue; /* erased since it was indexed */
            if (err) {
                err = churn_rpc_error(rpc, err, "reading alert %" PRIu64, ents[used].seq);
                goto out;
            }
            if (!churn_alert_filter_match(&hf, alert) || !extra_match(extra, alert))
                continue; /* a hash that matched another customer or owner */
            alert->sequence = ents[used].seq;
            Churn__V1__Alert *a = alert_to_proto(alert, ar);
            if (!a) {
                err = churn_rpc_error(rpc, CHURN_ETOOBIG, "response too large");
                goto out;
            }
            list[resp->n_alerts++] = a;
            last = &ents[used];
        }
        more = accepted > used;
        if (resp->n_alerts == page || n < k)
            break; /* a full page, or every candidate was looked at */
    }
    if (more && last) {
        struct churn_page_token t = {token_kind(order), last->priority,
                                     sel->order == CHURN_ALERT_INDEX_OLDEST ? last->id : last->seq};
        char tok[CHURN_PAGE_TOKEN_MAX];
        resp->next_page_token =
            churn_page_token_format(&t, tok, sizeof(tok)) ? churn_arena_strdup(ar, tok) : NULL;
        if (!resp->next_page_token) {
            err = churn_rpc_error(rpc, CHURN_ETOOBIG, "response too large");
            goto out;
        }
    }
    *out = &resp->base;
    err = CHURN_OK;
out:
    churn_free(ents);
    churn_free(sel);
    churn_free(extra);
    if (err == CHURN_ENOMEM)
        return churn_rpc_error(rpc, CHURN_ENOMEM, "out of memory");
    return err;
}

/* ---- AcknowledgeAlert ------------------------------------------------------------------ */

/*
 * Issue 14: with credentials, the actor is who authenticated; an actor the client named
 * otherwise is kept in the note ("client-supplied actor: X"). Without, the client's actor.
 */
static enum churn_err
acting_actor(struct churn_rpc *rpc, const char *claimed, const char *note, const char **actor,
             const char **note_out)
{
    const char *who = churn_rpc_identity(rpc);
    *actor = who ? who : claimed;
    *note_out = note;
    if (!who || !*claimed || strcmp(claimed, who) == 0)
        return CHURN_OK;
    size_t n = strlen(claimed) + strlen(note) + 40;
    char *combined = churn_arena_alloc(churn_rpc_arena(rpc), n);
    if (!combined)
        return churn_rpc_error(rpc, CHURN_ENOMEM, "out of memory");
    snprintf(combined, n, "client-supplied actor: %s%s%s", claimed, *note ? "; " : "", note);
    *note_out = combined;
    return CHURN_OK;
}

static enum churn_err
acknowledge_alert(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__AcknowledgeAlertRequest *req = (const Churn__V1__AcknowledgeAlertRequest *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    struct churn__alerts *al = svc->alerts;
    struct churn_arena *ar = churn_rpc_arena(rpc);
    if (!al || !svc->store)
        return churn_rpc_error(rpc, CHURN_EUNAVAIL, "the store is not open");
    if (req->sequence == 0)
        return churn_rpc_error(rpc, CHURN_EINVAL, "sequence: must be >= 1");
    const char *actor, *note;
    if (acting_actor(rpc, req->actor, req->note, &actor, &note))
        return CHURN_ENOMEM;
    size_t actor_len = strlen(actor);
    if (actor_len == 0)
        return churn_rpc_error(rpc, CHURN_EINVAL, "actor: required");
    if (strlen(req->actor) >= CHURN_ALERT_ACTOR_MAX)
        return churn_rpc_error(rpc, CHURN_EINVAL, "actor: at most %u bytes",
                               CHURN_ALERT_ACTOR_MAX - 1);
    if (strlen(note) >= CHURN_ALERT_NOTE_MAX)
        return churn_rpc_error(rpc, CHURN_EINVAL, "note: at most %u bytes",
                               CHURN_ALERT_NOTE_MAX - 1);
    if (req->action_taken < 0 || (int)req->action_taken > (int)CHURN_ACTION_FEEDBACK_CALL)
        return churn_rpc_error(rpc, CHURN_EINVAL, "action_taken: unknown action %d",
                               (int)req->action_taken);
    struct churn__ack ack = {
        .sequence = req->sequence,
        .actor = actor,
        .note = note,
        .action_taken = req->action_taken
                            ? churn_action_kind_name((enum churn_action_kind)req->action_taken)
                            : "",
        .snooze_reason = "",
    };
    if (req->transition_case == CHURN__V1__ACKNOWLEDGE_ALERT_REQUEST__TRANSITION_SNOOZE) {
        if (req->snooze->snooze_until_ms <= 0)
            return churn_rpc_error(rpc, CHURN_EINVAL, "snooze.snooze_until_ms: required");
        ack.snooze_until_ms = req->snooze->snooze_until_ms;
        ack.snooze_reason = req->snooze->reason;
    } else if (req->transition_case == CHURN__V1__ACKNOWLEDGE_ALERT_REQUEST__TRANSITION_CLOSE) {
        Churn__V1__AlertResolution r = req->close->resolution;
        if (r != CHURN__V1__ALERT_RESOLUTION__ALERT_RESOLUTION_SAVED &&
            r != CHURN__V1__ALERT_RESOLUTION__ALERT_RESOLUTION_LOST &&
            r != CHURN__V1__ALERT_RESOLUTION__ALERT_RESOLUTION_NOT_ACTIONABLE)
            return churn_rpc_error(rpc, CHURN_EINVAL,
                                   "close.resolution: must be SAVED, LOST or NOT_ACTIONABLE");
        ack.resolution = (enum churn_alert_resolution)r;
    }
    struct churn_alert *a = churn_arena_alloc(ar, sizeof(*a));
    Churn__V1__AcknowledgeAlertResponse *resp = churn_arena_alloc(ar, sizeof(*resp));
    if (!a || !resp)
        return churn_rpc_error(rpc, CHURN_ENOMEM, "out of memory");
    char emsg[CHURN_ALERT_ERRMSG] = "";
    bool changed = false;
    enum churn_err err = churn__alerts_acknowledge(al, &ack, a, &changed, emsg, sizeof(emsg));
    if (err)
        return churn_rpc_error(rpc, err, "%s", emsg[0] ? emsg : churn_strerror(err));
    *resp = (Churn__V1__AcknowledgeAlertResponse)CHURN__V1__ACKNOWLEDGE_ALERT_RESPONSE__INIT;
    resp->alert = alert_to_proto(a, ar);
    if (!resp->alert)
        return churn_rpc_error(rpc, CHURN_ENOMEM, "out of memory");
    resp->changed = changed;
    *out = &resp->base;
    return CHURN_OK;
}

/* ---- RecordOutcome ------------------------------------------------------------------------ */

static enum churn_err
record_outcome(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__RecordOutcomeRequest *req = (const Churn__V1__RecordOutcomeRequest *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    struct churn_arena *ar = churn_rpc_arena(rpc);
    if (!svc->alerts || !svc->store)
        return churn_rpc_error(rpc, CHURN_EUNAVAIL, "the store is not open");
    char reason[256];
    if (churn_id_validate(req->customer_id, "customer_id", reason, sizeof(reason)))
        return churn_rpc_error(rpc, CHURN_EINVAL, "%s", reason);
    struct churn__outcome_req o = {.customer_id = req->customer_id,
                                   .alert_sequence = req->alert_sequence};
    switch (req->outcome) {
    case CHURN__V1__OUTCOME__OUTCOME_RETAINED:
        o.outcome.outcome = CHURN_OUTCOME_RETAINED;
        break;
    case CHURN__V1__OUTCOME__OUTCOME_CHURNED:
        o.outcome.outcome = CHURN_OUTCOME_CHURNED;
        break;
    case CHURN__V1__OUTCOME__OUTCOME_UNKNOWN:
        o.outcome.outcome = CHURN_OUTCOME_UNKNOWN;
        break;
    default:
        return churn_rpc_error(rpc, CHURN_EINVAL,
                               "outcome: required (RETAINED, CHURNED or UNKNOWN), got %d",
                               (int)req->outcome);
    }
    if ((int)req->intervention < 0 || (int)req->intervention >= (int)CHURN_ACTION_COUNT)
        return churn_rpc_error(rpc, CHURN_EINVAL, "intervention: unknown action %d",
                               (int)req->intervention);
    o.outcome.intervention = (enum churn_action_kind)req->intervention;
    if (!isfinite(req->revenue) || req->revenue < 0)
        return churn_rpc_error(rpc, CHURN_EINVAL, "revenue: must be finite and >= 0");
    o.outcome.revenue = req->revenue;
    o.outcome.currency = req->currency;
    if (strlen(req->actor) >= CHURN_ALERT_ACTOR_MAX)
        return churn_rpc_error(rpc, CHURN_EINVAL, "actor: at most %u bytes",
                               CHURN_ALERT_ACTOR_MAX - 1);
    const char *outcome_note;
    if (acting_actor(rpc, req->actor, req->note, &o.outcome.actor, &outcome_note))
        return CHURN_ENOMEM;
    if (strlen(req->note) > 1024)
        return churn_rpc_error(rpc, CHURN_EINVAL, "note: at most 1024 bytes");
    int64_t now = churn_now_ms();
    if (req->observed_at_ms < 0 || req->observed_at_ms > now + CHURN_EVENT_SKEW_MS)
        return churn_rpc_error(rpc, CHURN_EINVAL,
                               "observed_at_ms: must be 0 (now) or a unix time in ms not in "
                               "the future");
    o.outcome.observed_ms = req->observed_at_ms ? req->observed_at_ms : now;
    struct churn__outcome_done done;
    char emsg[CHURN_ALERT_ERRMSG] = "";
    enum churn_err err = churn__alerts_record_outcome(svc->alerts, &o, &done, emsg, sizeof(emsg));
    if (err)
        return churn_rpc_error(rpc, err, "%s", emsg[0] ? emsg : churn_strerror(err));
    Churn__V1__RecordOutcomeResponse *resp = churn_arena_alloc(ar, sizeof(*resp));
    char *playbook = churn_arena_strdup(ar, done.playbook_id);
    if (!resp || !playbook)
        return churn_rpc_error(rpc, CHURN_ENOMEM, "out of memory");
    *resp = (Churn__V1__RecordOutcomeResponse)CHURN__V1__RECORD_OUTCOME_RESPONSE__INIT;
    resp->outcome_sequence = done.outcome_sequence;
    resp->recorded_at_ms = done.recorded_at_ms;
    resp->playbook_id = playbook;
    resp->holdout = done.holdout;
    *out = &resp->base;
    return CHURN_OK;
}

/* ---- the method rows ------------------------------------------------------------------- */

const struct churn_method churn__alert_methods[] = {
    {
        .name = "/churn.v1.AlertService/WatchAlerts",
        .shape = CHURN_RPC_SERVER_STREAM,
        .request = &churn__v1__watch_alerts_request__descriptor,
        .response = &churn__v1__watch_alerts_response__descriptor,
        .on_start = watch_start,
        .on_done = watch_done,
        .on_writable = watch_writable,
        .max_request_bytes = 64 * 1024,
    },
    {
        .name = "/churn.v1.AlertService/ListAlerts",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__list_alerts_request__descriptor,
        .response = &churn__v1__list_alerts_response__descriptor,
        .unary = list_alerts,
        .max_request_bytes = 64 * 1024,
        .arena_bytes = 32u * 1024u * 1024u,
    },
    {
        .name = "/churn.v1.AlertService/AcknowledgeAlert",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__acknowledge_alert_request__descriptor,
        .response = &churn__v1__acknowledge_alert_response__descriptor,
        .unary = acknowledge_alert,
        .max_request_bytes = 16 * 1024,
    },
    {
        .name = "/churn.v1.AlertService/RecordOutcome",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__record_outcome_request__descriptor,
        .response = &churn__v1__record_outcome_response__descriptor,
        .unary = record_outcome,
        .max_request_bytes = 16 * 1024,
    },
};
const size_t churn__n_alert_methods =
    sizeof(churn__alert_methods) / sizeof(churn__alert_methods[0]);

Churn__V1__Alert *
churn__alert_to_proto(const struct churn_alert *a, struct churn_arena *ar)
{
    return alert_to_proto(a, ar);
}
