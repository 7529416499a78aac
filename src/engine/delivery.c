/*
 * delivery.c - the delivery engine: one thread per destination reads the alert log after its
 * durable cursor, keeps what passes the destination's filter, and hands each change to the
 * receiver until it is accepted, retrying with exponential backoff and jitter. The cursors
 * are stored (store meta "delivery.<name>"; every destination's that moved in one commit) at
 * most every CURSOR_SAVE_MS, and a delivered change waits at most that long for its commit
 * (also when its destination has caught up), so a restart resumes where delivery stopped
 * and a change is delivered again only if churnd died between the receiver's acceptance and
 * the cursor's commit; the delivery id "<name>-<sequence>" is the same on every attempt, so
 * receivers drop such duplicates. The log is read, decoded and each change's body rendered
 * once for all destinations (delivery_batch.c: shared batches). The alert hub only rings a
 * doorbell; a timed wait covers a missed ring; delivery threads run at nice 19, so that
 * delivering does not slow the engine down. E-mail destinations may gather changes
 * into a digest: the cursor then advances when the digest is accepted.
 */
#define _GNU_SOURCE /* pthread_setname_np, gettid */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "churn/alloc.h"
#include "churn/arena.h"
#include "churn/clock.h"
#include "churn/delivery.h"
#include "churn/log.h"
#include "churn/store.h"
#include "delivery_internal.h"

enum {
    IDLE_WAIT_MS = 1000,  /* the longest wait for the doorbell */
    DIGEST_MAX = 200,     /* changes in one e-mail digest at most */
    CURSOR_SAVE_MS = 200, /* the longest a delivered change waits for its cursor commit */
    SETTLE_MIN_MS = 5,    /* the shortest wait for a cursor commit still owed */
    DELIVERY_NICE = 19,   /* delivery threads' nice (the lowest): the engine goes first */
};

struct dest_worker {
    struct churn_delivery *owner;
    struct churn_delivery_dest dest; /* strings owned by owner->cfg */
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool rung;
    struct churn_alert_sub *sub;
    struct churn__net *net;
    struct churn_delivery_status status; /* under mu */
    int64_t failing_since_ms;            /* 0: the last attempt succeeded */
    uint64_t stored;                     /* the cursor in the store (under owner->save_mu) */
    char cursor_key[96];                 /* its name there */
    unsigned rand_state;
    const struct churn__dbatch *b; /* the window being delivered, shared (NULL: none) */
    size_t n_batch;                /* b->n (0: no window) */
};

/* Change @i of the window @w is delivering. */
static const struct churn_alert *
at(const struct dest_worker *w, size_t i)
{
    return &w->b->e[i]->alert;
}

struct churn_delivery {
    struct churn_store *store;
    struct churn_alert_hub *hub;
    struct churn_delivery_config cfg;
    atomic_bool stop;
    size_t n;
    struct dest_worker *workers;
    struct churn__dlog *log;           /* the alert log, read and rendered once for all */
    pthread_mutex_t save_mu;           /* one thread stores the cursors at a time */
    _Atomic int64_t saved_ms;          /* when they were last stored */
    struct churn_store_meta_put *puts; /* n: one commit's cursors (under save_mu) */
    uint64_t *values;                  /* n */
    size_t *movers;                    /* n: the workers in puts */
};

/* ---------------------------------------------------------------- the cursor -------- */

static enum churn_err
cursor_load(struct dest_worker *w, uint64_t *seq, bool *found)
{
    struct churn_arena arena;
    churn_arena_init(&arena, 256);
    void *data = NULL;
    size_t len = 0;
    enum churn_err rc = churn_store_get_meta(w->owner->store, w->cursor_key, &arena, &data, &len);
    *found = rc == CHURN_OK;
    if (rc == CHURN_OK && len == sizeof(*seq))
        memcpy(seq, data, sizeof(*seq));
    else if (rc == CHURN_OK)
        rc = CHURN_ECORRUPT;
    churn_arena_fini(&arena);
    return rc == CHURN_ENOTFOUND ? CHURN_OK : rc;
}

/* @w has delivered (or skipped) everything up to @seq: the next flush stores it. */
static void
cursor_advance(struct dest_worker *w, uint64_t seq)
{
    pthread_mutex_lock(&w->mu);
    w->status.cursor = seq;
    pthread_mutex_unlock(&w->mu);
}

/*
 * Store every destination's cursor that moved since it was last stored, in one commit (ten
 * destinations cost one fsync, not ten). Unless @now, only when CURSOR_SAVE_MS passed since
 * the last flush and no other delivery thread is flushing: a crash re-sends at most the
 * changes accepted in that time, with the same delivery ids.
 */
static void
cursors_flush(struct churn_delivery *d, bool now)
{
    if (!now && (churn_now_ms() - atomic_load(&d->saved_ms) < CURSOR_SAVE_MS ||
                 pthread_mutex_trylock(&d->save_mu) != 0))
        return;
    if (now)
        pthread_mutex_lock(&d->save_mu);
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++) {
        struct dest_worker *w = &d->workers[i];
        pthread_mutex_lock(&w->mu);
        d->values[i] = w->status.cursor;
        pthread_mutex_unlock(&w->mu);
        if (d->values[i] != w->stored) {
            d->puts[n] = (struct churn_store_meta_put){w->cursor_key, &d->values[i], 8};
            d->movers[n++] = i;
        }
    }
    enum churn_err rc = n ? churn_store_put_metas(d->store, d->puts, n) : CHURN_OK;
    for (size_t k = 0; k < n && rc == CHURN_OK; k++)
        d->workers[d->movers[k]].stored = d->values[d->movers[k]];
    if (rc != CHURN_OK)
        churn_log(CHURN_LOG_ERROR, "delivery_cursor_not_saved",
                  CHURN_LF_STR("destination", d->workers[d->movers[0]].dest.name),
                  CHURN_LF_INT("destinations", (long long)n),
                  CHURN_LF_STR("error", churn_strerror(rc)));
    atomic_store(&d->saved_ms, churn_now_ms());
    pthread_mutex_unlock(&d->save_mu);
}

/* @w's cursor moved since it was stored. */
static bool
cursor_unstored(struct dest_worker *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t cursor = w->status.cursor;
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_lock(&w->owner->save_mu);
    bool unstored = cursor != w->stored;
    pthread_mutex_unlock(&w->owner->save_mu);
    return unstored;
}

/*
 * @w has caught up with the log: its cursor is stored now if CURSOR_SAVE_MS passed since the
 * last commit. Returns how long until the commit it is still owed may be made (0: none owed).
 * Committing at every catch-up instead cost 550 commits with fsync in a 2,000-alert burst to
 * ten destinations, each holding the store's one write lock that the alert engine commits
 * under.
 */
static int64_t
cursors_settle(struct dest_worker *w)
{
    struct churn_delivery *d = w->owner;
    cursors_flush(d, false); /* when due and no other thread is flushing */
    if (!cursor_unstored(w))
        return 0;
    int64_t wait = atomic_load(&d->saved_ms) + CURSOR_SAVE_MS - churn_now_ms();
    return wait > SETTLE_MIN_MS ? wait : SETTLE_MIN_MS; /* another thread may be flushing */
}

/* ---------------------------------------------------------------- waiting ----------- */

static void
ring(void *ctx, struct churn_alert_sub *sub, enum churn_alert_hub_event event)
{
    (void)sub;
    (void)event;
    struct dest_worker *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->rung = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

/* Empty the doorbell subscription (re-arms READY); one that lagged is renewed at the head. */
static void
drain_doorbell(struct dest_worker *w)
{
    struct churn_alert_hub *hub = w->owner->hub;
    if (!hub)
        return;
    if (w->sub && churn_alert_hub_skip(w->sub) == CHURN_OK)
        return; /* the log is read after the cursor: the hub's copies are not needed */
    churn_alert_hub_unsubscribe(w->sub);
    w->sub = NULL;
    char err[128];
    if (churn_alert_hub_subscribe(hub, churn_alert_hub_head(hub), &w->dest.filter, ring, w, &w->sub,
                                  err, sizeof(err)) != CHURN_OK)
        w->sub = NULL; /* the timed wait still covers delivery */
}

/* Sleep up to @ms or until rung or stopped; true unless stopping. */
static bool
wait_for(struct dest_worker *w, int64_t ms, bool wake_on_ring)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (!atomic_load(&w->owner->stop) && !(wake_on_ring && w->rung))
        if (pthread_cond_timedwait(&w->cond, &w->mu, &until) != 0)
            break;
    if (wake_on_ring)
        w->rung = false;
    pthread_mutex_unlock(&w->mu);
    return !atomic_load(&w->owner->stop);
}

/* ---------------------------------------------------------------- one attempt ------- */

/* Change @i of the batch to the webhook; its body is rendered once for every destination. */
static enum churn_err
post_one(struct dest_worker *w, size_t i, char *err, size_t errlen)
{
    const struct churn_alert *a = at(w, i);
    const struct churn_buf *body = NULL;
    enum churn_err rc = churn__dlog_body(w->owner->log, w->b->e[i], w->dest.format, &body);
    if (rc != CHURN_OK)
        return churn_fail(err, errlen, rc, "rendering alert %" PRIu64 ": %s", a->sequence,
                          churn_strerror(rc));
    char id[CHURN_DELIVERY_NAME_MAX + 24], scratch[CHURN__SIGNATURE_MAX];
    const char *sig = w->dest.secret
                          ? churn__dlog_signature(w->owner->log, w->b->e[i], w->dest.format,
                                                  w->dest.secret, body, w->net, scratch)
                          : NULL;
    if (w->dest.secret && !sig)
        return churn_fail(err, errlen, CHURN_EINTERNAL, "signing the body failed");
    snprintf(id, sizeof(id), "%s-%" PRIu64, w->dest.name, a->sequence);
    return churn__net_post(w->net, w->dest.url, sig, id, body, err, errlen);
}

static const char *
change_name(enum churn_alert_change c)
{
    static const char *const names[] = {"change",       "raised",           "updated",
                                        "acknowledged", "snoozed",          "woken",
                                        "closed",       "outcome recorded", "action called"};
    return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : names[0];
}

enum churn_err
churn_delivery_summary(const struct churn_alert *a, struct churn_buf *out)
{
    char tier[16] = "UNSCORED";
    if (a->risk_tier != 0)
        snprintf(tier, sizeof(tier), "%s", churn_tier_name(a->risk_tier));
    for (char *p = tier; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    enum churn_err rc = churn_buf_printf(out, "[%s] %s: %s %s", tier, a->customer_id,
                                         churn_alert_cause_name(a->cause), change_name(a->change));
    if (rc == CHURN_OK && a->risk_tier != 0)
        rc = churn_buf_printf(out, ", risk %.0f%% (was %.0f%%), value %.2f, revenue at risk %.2f",
                              100.0 * a->probability, 100.0 * a->probability_before, a->value,
                              a->priority);
    if (rc == CHURN_OK && a->n_reasons > 0)
        rc = churn_buf_printf(out, "; top reason: %s", a->reasons[0].label);
    if (rc == CHURN_OK && a->chat_evidence[0])
        rc = churn_buf_printf(out, "; they said: \"%s\"", a->chat_evidence);
    if (rc == CHURN_OK && a->playbook_id[0])
        rc = churn_buf_printf(out, "; playbook %s: %s%s%s", a->playbook_id,
                              churn_action_kind_name(a->action.kind),
                              a->action.detail[0] ? " - " : "", a->action.detail);
    return rc;
}

static enum churn_err
mail_header(struct dest_worker *w, const char *subject, const char *msgid, struct churn_buf *m)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    return churn_buf_printf(m,
                            "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n"
                            "Message-ID: <%s@churnd>\r\nMIME-Version: 1.0\r\n"
                            "Content-Type: text/plain; charset=utf-8\r\n"
                            "Content-Transfer-Encoding: 8bit\r\n\r\n",
                            w->owner->cfg.smtp_from, w->dest.to, subject, date, msgid);
}

/* The changes of the batch from @first to @last (a digest, or one change) as one message. */
static enum churn_err
mail_some(struct dest_worker *w, size_t first, size_t last, char *err, size_t errlen)
{
    const struct churn_alert *a = at(w, first);
    char subject[256], msgid[CHURN_DELIVERY_NAME_MAX + 48];
    size_t n = last - first + 1;
    if (n == 1 && a->risk_tier != 0)
        snprintf(subject, sizeof(subject), "[churnd] %s: %s %s (%s risk)", a->customer_id,
                 churn_alert_cause_name(a->cause), change_name(a->change),
                 churn_tier_name(a->risk_tier));
    else if (n == 1)
        snprintf(subject, sizeof(subject), "[churnd] %s: %s %s", a->customer_id,
                 churn_alert_cause_name(a->cause), change_name(a->change));
    else
        snprintf(subject, sizeof(subject), "[churnd] %zu alert changes", n);
    snprintf(msgid, sizeof(msgid), "%s-%" PRIu64 "-%" PRIu64, w->dest.name, a->sequence,
             at(w, last)->sequence);
    struct churn_buf m;
    churn_buf_init(&m, 4u << 20);
    enum churn_err rc = mail_header(w, subject, msgid, &m);
    for (size_t i = first; i <= last && rc == CHURN_OK; i++) {
        if (!churn_alert_filter_match(&w->dest.filter, at(w, i)))
            continue;
        rc = churn_delivery_summary(at(w, i), &m);
        if (rc == CHURN_OK)
            rc = churn_buf_printf(&m, "\r\n(alert %" PRIu64 ", change %" PRIu64 ")\r\n\r\n",
                                  at(w, i)->id, at(w, i)->sequence);
    }
    if (rc == CHURN_OK)
        rc = churn__net_mail(w->net, w->owner->cfg.smtp_url, w->owner->cfg.smtp_from, w->dest.to,
                             &m, err, errlen);
    else
        snprintf(err, errlen, "composing the message: %s", churn_strerror(rc));
    churn_buf_free(&m);
    return rc;
}

/* ---------------------------------------------------------------- retries ---------- */

static void
note_success(struct dest_worker *w, const struct churn_alert *last)
{
    pthread_mutex_lock(&w->mu);
    w->status.delivered++;
    w->status.last_lag_ms = churn_now_ms() - last->updated_ms;
    w->status.last_error[0] = '\0';
    if (w->status.paused)
        churn_log(CHURN_LOG_INFO, "delivery_resumed", CHURN_LF_STR("destination", w->dest.name));
    w->status.paused = false;
    pthread_mutex_unlock(&w->mu);
    w->failing_since_ms = 0;
}

/* The wait before retry @attempt (1, 2, ...): doubling from backoff_min, jittered. */
static int64_t
backoff_ms(struct dest_worker *w, unsigned attempt)
{
    const struct churn_delivery_config *cfg = &w->owner->cfg;
    int64_t d = cfg->backoff_min_ms;
    for (unsigned i = 1; i < attempt && d < cfg->backoff_max_ms; i++)
        d *= 2;
    if (d > cfg->backoff_max_ms || w->status.paused)
        d = cfg->backoff_max_ms;
    return d / 2 + (int64_t)(rand_r(&w->rand_state) % (unsigned)(d / 2 + 1));
}

static void
note_failure(struct dest_worker *w, uint64_t seq, const char *err)
{
    int64_t now = churn_now_ms();
    if (!w->failing_since_ms)
        w->failing_since_ms = now;
    pthread_mutex_lock(&w->mu);
    w->status.failed++;
    snprintf(w->status.last_error, sizeof(w->status.last_error), "%s", err);
    bool pause = !w->status.paused && now - w->failing_since_ms >= w->owner->cfg.pause_after_ms;
    w->status.paused |= pause;
    pthread_mutex_unlock(&w->mu);
    churn_log(pause ? CHURN_LOG_ERROR : CHURN_LOG_WARN,
              pause ? "delivery_paused" : "delivery_failed",
              CHURN_LF_STR("destination", w->dest.name), CHURN_LF_INT("sequence", (long long)seq),
              CHURN_LF_STR("error", err));
}

/* Deliver batch[first..last] until accepted (after *@attempts attempts); false only when
 * churnd stops first. */
static bool
deliver(struct dest_worker *w, size_t first, size_t last, unsigned *attempts)
{
    for (unsigned attempt = 0;; attempt++) {
        *attempts = attempt + 1;
        if (attempt > 0) {
            if (!wait_for(w, backoff_ms(w, attempt), false))
                return false;
            pthread_mutex_lock(&w->mu);
            w->status.retried++;
            pthread_mutex_unlock(&w->mu);
        }
        char err[256] = "";
        enum churn_err rc = w->dest.kind == CHURN_DELIVERY_WEBHOOK
                                ? post_one(w, first, err, sizeof(err))
                                : mail_some(w, first, last, err, sizeof(err));
        if (rc == CHURN_OK) {
            note_success(w, at(w, last));
            return true;
        }
        if (atomic_load(&w->owner->stop))
            return false;
        note_failure(w, at(w, first)->sequence, err);
    }
}

/* ---------------------------------------------------------------- the loop --------- */

/* Issue 15: the revision that raised an alert whose playbook calls this webhook. */
static bool
is_action(const struct dest_worker *w, const struct churn_alert *a)
{
    return w->dest.kind == CHURN_DELIVERY_WEBHOOK && a->change == CHURN_CHANGE_RAISED &&
           a->action.webhook[0] && strcmp(a->action.webhook, w->dest.name) == 0;
}

/* Batch entry @i goes to this destination: it matches (or calls its action) and was raised
 * here, not moved from another shard, whose destinations had it. */
static bool
wanted(const struct dest_worker *w, size_t i)
{
    const struct churn_alert *a = at(w, i);
    return !w->b->e[i]->moved && (churn_alert_filter_match(&w->dest.filter, a) || is_action(w, a));
}

static void
tell_action(struct dest_worker *w, const struct churn_alert *a, unsigned attempts)
{
    const struct churn_delivery_config *cfg = &w->owner->cfg;
    if (!is_action(w, a) || !cfg->action_done)
        return;
    cfg->action_done(cfg->action_ctx, w->dest.name, a, (int)churn__net_last_status(w->net),
                     attempts, churn_now_ms());
}

/* Read the batch after @after (shared with the other destinations), in place of the last. */
static enum churn_err
read_batch(struct dest_worker *w, uint64_t after)
{
    churn__dlog_put(w->owner->log, w->b);
    enum churn_err err = churn__dlog_get(w->owner->log, after, &w->b);
    w->n_batch = w->b ? w->b->n : 0;
    return err;
}

/* Index of the last change of the digest that starts at @first (webhooks: @first itself). */
static size_t
group_end(struct dest_worker *w, size_t first)
{
    if (w->dest.kind == CHURN_DELIVERY_WEBHOOK || w->owner->cfg.digest_ms <= 0)
        return first;
    size_t last = first;
    for (size_t i = first + 1; i < w->n_batch && i - first < DIGEST_MAX; i++)
        if (churn_alert_filter_match(&w->dest.filter, at(w, i)))
            last = i;
    return last;
}

/* A digest waits until its oldest change is digest_ms old (or the batch is full). */
static bool
digest_due(struct dest_worker *w, size_t first)
{
    if (w->dest.kind != CHURN_DELIVERY_EMAIL || w->owner->cfg.digest_ms <= 0 ||
        w->b->last == w->b->end)
        return true;
    return churn_now_ms() - at(w, first)->updated_ms >= w->owner->cfg.digest_ms;
}

/*
 * Deliver what the window holds after @cursor; returns the new cursor. The cursors are
 * stored at most every CURSOR_SAVE_MS while deliveries flow, and within that time after a
 * destination catches up (worker_main).
 */
static uint64_t
work_batch(struct dest_worker *w, uint64_t cursor, bool *waiting)
{
    *waiting = false;
    for (size_t i = 0; i < w->n_batch && !atomic_load(&w->owner->stop); i++) {
        if (at(w, i)->sequence <= cursor || !wanted(w, i))
            continue; /* the window's start was delivered already, or not for this one */
        if (!digest_due(w, i)) {
            *waiting = true;
            break;
        }
        size_t last = group_end(w, i);
        unsigned attempts;
        if (!deliver(w, i, last, &attempts))
            break;
        tell_action(w, at(w, i), attempts);
        cursor = at(w, last)->sequence;
        cursor_advance(w, cursor);
        cursors_flush(w->owner, false);
        i = last;
    }
    if (!*waiting && w->b && w->b->last > cursor && !atomic_load(&w->owner->stop))
        cursor = w->b->last; /* the rest was filtered out (or could not be decoded) */
    cursor_advance(w, cursor);
    return cursor;
}

static void *
worker_main(void *arg)
{
    struct dest_worker *w = arg;
    char thread_name[16];
    snprintf(thread_name, sizeof(thread_name), "deliver-%.7s", w->dest.name);
    pthread_setname_np(pthread_self(), thread_name);
    /* Delivery is behind the log by design: when the cores are busy, the engine that commits
     * alerts and the calls being served go first (Linux: nice is per thread). The lowest
     * nice, because the scheduler weighs the destinations' threads together: ten at nice 10
     * weigh 10 x 110 = 1,100 against an engine thread's 1,024 at nice 0, so they took about
     * half of a contended core from it; ten at nice 19 weigh 150. */
    setpriority(PRIO_PROCESS, (id_t)gettid(), DELIVERY_NICE);
    uint64_t cursor = w->status.cursor;
    while (!atomic_load(&w->owner->stop)) {
        drain_doorbell(w);
        enum churn_err rc = read_batch(w, cursor);
        if (rc != CHURN_OK)
            churn_log(CHURN_LOG_ERROR, "delivery_read_failed",
                      CHURN_LF_STR("destination", w->dest.name),
                      CHURN_LF_STR("error", churn_strerror(rc)));
        bool waiting = false;
        uint64_t before = cursor;
        cursor = work_batch(w, cursor, &waiting);
        if (cursor == before || waiting) {
            int64_t owed = cursors_settle(w), idle = waiting ? IDLE_WAIT_MS / 4 : IDLE_WAIT_MS;
            wait_for(w, owed > 0 && owed < idle ? owed : idle, !waiting);
        }
    }
    cursors_flush(w->owner, true);
    return NULL;
}

/* ---------------------------------------------------------------- life cycle ------- */

static int
note_last(uint64_t seq, const char *customer_id, const void *data, size_t len, void *user)
{
    (void)customer_id;
    (void)data;
    (void)len;
    *(uint64_t *)user = seq;
    return 0;
}

/* The last sequence in the alert log: the hub knows it; without one, the log is walked. */
static enum churn_err
log_head(struct churn_delivery *d, uint64_t *head)
{
    *head = 0;
    if (d->hub) {
        *head = churn_alert_hub_head(d->hub);
        return CHURN_OK;
    }
    return churn_store_foreach_alert(d->store, 0, 0, note_last, head);
}

static enum churn_err
worker_init(struct churn_delivery *d, struct dest_worker *w, const struct churn_delivery_dest *dest)
{
    w->owner = d;
    w->dest = *dest;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    snprintf(w->cursor_key, sizeof(w->cursor_key), "delivery.%s", dest->name);
    snprintf(w->status.name, sizeof(w->status.name), "%s", dest->name);
    w->status.kind = dest->kind;
    w->rand_state = (unsigned)churn_now_ms() ^ (unsigned)(uintptr_t)w;
    uint64_t cursor = 0;
    bool found = false;
    enum churn_err rc = cursor_load(w, &cursor, &found);
    if (rc == CHURN_OK && !found) {
        rc = log_head(d, &cursor); /* a new destination is not sent the history */
        if (rc == CHURN_OK)
            rc = churn_store_put_meta(d->store, w->cursor_key, &cursor, sizeof(cursor));
    }
    w->status.cursor = w->stored = cursor;
    if (rc == CHURN_OK)
        rc = churn__net_open(d->cfg.timeout_ms, &d->stop, &w->net);
    if (rc == CHURN_OK && d->hub) {
        char err[128];
        if (churn_alert_hub_subscribe(d->hub, churn_alert_hub_head(d->hub), &dest->filter, ring, w,
                                      &w->sub, err, sizeof(err)) != CHURN_OK)
            w->sub = NULL;
    }
    return rc;
}

static enum churn_err
copy_config(struct churn_delivery_config *to, const struct churn_delivery_config *from)
{
    *to = *from;
    to->smtp_url = from->smtp_url ? strdup(from->smtp_url) : NULL;
    to->smtp_from = strdup(from->smtp_from ? from->smtp_from : "churnd@localhost");
    bool ok = to->smtp_from && (!from->smtp_url || to->smtp_url);
    for (size_t i = 0; i < from->n_dests; i++) {
        struct churn_delivery_dest *d = &to->dests[i];
        const struct churn_delivery_dest *s = &from->dests[i];
        d->url = s->url ? strdup(s->url) : NULL;
        d->secret = s->secret ? strdup(s->secret) : NULL;
        d->to = s->to ? strdup(s->to) : NULL;
        ok = ok && (!s->url || d->url) && (!s->secret || d->secret) && (!s->to || d->to);
    }
    return ok ? CHURN_OK : CHURN_ENOMEM;
}

enum churn_err
churn_delivery_start(struct churn_store *store, struct churn_alert_hub *hub,
                     const struct churn_delivery_config *cfg, churn_delivery_render_fn render,
                     void *render_ctx, struct churn_delivery **out)
{
    *out = NULL;
    if (cfg->n_dests == 0)
        return CHURN_OK;
    enum churn_err rc = churn__net_global_init();
    struct churn_delivery *d = churn_calloc(1, sizeof(*d));
    if (rc != CHURN_OK || !d) {
        churn_free(d);
        return rc != CHURN_OK ? rc : CHURN_ENOMEM;
    }
    d->store = store;
    d->hub = hub;
    atomic_init(&d->stop, false);
    d->workers = churn_calloc(cfg->n_dests, sizeof(*d->workers));
    d->puts = churn_calloc(cfg->n_dests, sizeof(*d->puts));
    d->values = churn_calloc(cfg->n_dests, sizeof(*d->values));
    d->movers = churn_calloc(cfg->n_dests, sizeof(*d->movers));
    pthread_mutex_init(&d->save_mu, NULL);
    atomic_init(&d->saved_ms, 0);
    rc = d->workers && d->puts && d->values && d->movers ? copy_config(&d->cfg, cfg) : CHURN_ENOMEM;
    if (rc == CHURN_OK)
        rc = churn__dlog_open(store, hub, render, render_ctx, &d->log);
    for (size_t i = 0; rc == CHURN_OK && i < cfg->n_dests; i++, d->n++)
        rc = worker_init(d, &d->workers[i], &d->cfg.dests[i]);
    for (size_t i = 0; rc == CHURN_OK && i < d->n; i++) {
        if (pthread_create(&d->workers[i].thread, NULL, worker_main, &d->workers[i]) != 0)
            rc = CHURN_ENOMEM;
        d->workers[i].started = rc == CHURN_OK;
    }
    if (rc != CHURN_OK) {
        churn_delivery_stop(d);
        return rc;
    }
    *out = d;
    return CHURN_OK;
}

void
churn_delivery_stop(struct churn_delivery *d)
{
    if (!d)
        return;
    atomic_store(&d->stop, true);
    for (size_t i = 0; i < d->n; i++) {
        struct dest_worker *w = &d->workers[i];
        pthread_mutex_lock(&w->mu);
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->mu);
        if (w->started)
            pthread_join(w->thread, NULL);
        churn_alert_hub_unsubscribe(w->sub);
        churn__net_close(w->net);
        churn__dlog_put(d->log, w->b);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cond);
    }
    churn__dlog_close(d->log);
    churn_free(d->puts);
    churn_free(d->values);
    churn_free(d->movers);
    pthread_mutex_destroy(&d->save_mu);
    churn_free(d->workers);
    churn_delivery_config_fini(&d->cfg);
    churn_free(d);
}

size_t
churn_delivery_count(const struct churn_delivery *d)
{
    return d ? d->n : 0;
}

void
churn_delivery_status(struct churn_delivery *d, size_t i, struct churn_delivery_status *out)
{
    struct dest_worker *w = &d->workers[i];
    pthread_mutex_lock(&w->mu);
    *out = w->status;
    pthread_mutex_unlock(&w->mu);
}
