/*
 * alert_bench.c - the alert fan-out benchmark, on the project's own gRPC core client: many
 * WatchAlerts streams, alerts raised by ingestion, and how fast and how late they reach every
 * watcher. One JSON document on stdout, progress on stderr.
 *
 *   alert-bench --target H:P [--watchers 100] [--customers 500] [--batch 50] [--threads 1]
 *               [--rate 0] [--timeout-s 60] [--customer-prefix cust-] [--first 0]
 *               [--scan 10000] [--run ID] [--server-pid PID]
 *
 * The run, in order:
 *
 * 1. Customers: ids PREFIX + 7 digits (tools/synth's format) from --first on, scored with
 *    BatchGetScores; the first --customers whose risk tier is below HIGH are taken. A plan
 *    cancellation lifts such a customer to HIGH and raises TIER_WORSENED (and nearly always
 *    PROBABILITY_JUMP as well) under the demo models of tools/run; a customer already HIGH
 *    often raises nothing. Customers that raised nothing are counted (without_alert).
 * 2. Watchers: the head of the alert log from ListAlerts, then --watchers WatchAlerts streams
 *    from that head (no filter, 1 s heartbeats); waits until each has sent caught_up.
 * 3. Baseline: the alert engine compares a rescore with the customer's previous score and
 *    raises nothing on a customer's first rescore, so each customer first gets one login
 *    (ingested in the same batches). Then a fence: one chat turn with churn intent for a
 *    customer id of this run, which the engine turns into a CHURN_INTENT alert. The engine
 *    takes chat jobs before rescores, so the fence's alert only says the baselines were
 *    queued; baseline rescores raise nothing, so they cannot be watched either: after the
 *    fence the tool waits a settle time (SETTLE_NS + customers x SETTLE_PER_CUSTOMER_NS,
 *    far more than the engine needs at its slowest measured rate) before the window opens
 *    at the log head.
 * 4. Trigger (measured): one plan cancellation per customer, in RecordEvents streams of
 *    --batch customers (--threads streams at a time; --rate customers/s paces the batches,
 *    0 = each as soon as the last was acknowledged). The time the batch's durable summary
 *    (RecordEventsResponse) arrives is each of its customers' ingestion time.
 * 5. End: a second fence. When every watcher has it and has received everything up to the
 *    log head, and the head has not moved for a quiet period (QUIET_NS: rescores queued
 *    before the fence finish after it), the window closes; or at --timeout-s.
 *
 * For every change received in the window by every watcher: delivery latency = receive time -
 * the ingestion time of the change's customer (both on this process's monotonic clock).
 * Reported: changes in the window (the log is contiguous: every sequence in the window is a
 * change every unfiltered watcher must get, the fences excepted), alerts raised (distinct
 * alerts with a RAISED change), deliveries, missing and duplicate deliveries, alerts/s
 * (changes / time from the first trigger batch to the last change's first delivery),
 * deliveries/s, latency percentiles over all deliveries, the latency to the first watcher
 * (engine and transport) and the spread from the first watcher to the last (the fan-out
 * itself), each watcher's own p50 and p99 (min / median / max over watchers, and how many are
 * "late": their p50 more than 20% and 5 ms above the median watcher's), the tool's CPU time,
 * the server's (with --server-pid, same machine: all its threads and its busiest one, with
 * the time that one was runnable but waiting for a CPU, from /proc/PID/task/TID/schedstat),
 * and whether every stream ended only when told to. In a paced run alerts/s is the
 * offered rate; the burst (--rate 0) measures what the server sustains.
 * Exit status 0 when nothing is missing, duplicated or failed; 1 otherwise; 2 on usage errors;
 * 3 when the run could not be set up.
 *
 * Threads: the client is blocking (churn_client_stream_recv() plucks the stream's own
 * completion queue with no deadline, and nothing waits on several streams at once), so a
 * thread serving a group of streams would sit on one idle stream while the others fill up.
 * Each watcher stream therefore has its own reader thread (256 KiB stack), asleep in recv
 * while idle, decoding into its own arena (reset per message, no malloc per alert); all
 * streams share one channel (gRPC core shares the subchannel, so one HTTP/2 connection, as
 * separate channels with the same target would anyway). The cost is measured: the tool
 * reports its CPU time (getrusage) over the measured phase and per delivery, to be compared
 * with the server's on the same cores. Most of it is thread wake-ups (one per delivery); a
 * client call that waits on many streams at once (one completion queue) would remove them.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "churn/alloc.h"
#include "churn/arena.h"
#include "churn/clock.h"
#include "churn/transport.h"
#include "churn_proto.h"
#include "../common/bench_stats.h"

#define M_WATCH                "/churn.v1.AlertService/WatchAlerts"
#define M_LIST                 "/churn.v1.AlertService/ListAlerts"
#define M_RECORD               "/churn.v1.IngestService/RecordEvents"
#define M_CHAT                 "/churn.v1.ChatService/AnalyzeChat"
#define M_SCORES               "/churn.v1.ScoringService/BatchGetScores"
#define MAX_WATCHERS           1000 /* the server's default cap on watchers */
#define MAX_THREADS            64
#define MAX_CUSTOMERS          100000
#define ID_MAX                 64
#define SCORE_CHUNK            1000 /* ids per BatchGetScores (the server's max_batch) */
#define EVENTS_PER_MSG         200  /* keeps a message under the server's 64 KiB request limit */
#define HEARTBEAT_MS           1000 /* the smallest interval: a stopped watcher notices within it */
#define WATCH_ARENA            (1 << 20) /* one decoded WatchAlertsResponse at most */
#define READER_STACK           (256 * 1024)
#define RPC_TIMEOUT_MS         30000
#define MAX_SERVER_THREADS     256
#define POLL_NS                2000000   /* 2 ms between checks of the watchers' progress */
#define QUIET_NS               500000000 /* the log head must stand still this long at a fence */
#define SETTLE_NS              300000000 /* after the baseline fence: rescores still queued */
#define SETTLE_PER_CUSTOMER_NS 1000000   /* 1 ms each: 1,000 rescores/s, the slowest seen */
#define FENCE_TEXT             "I'm cancelling my subscription, this is the third time"

struct opts {
    const char *target, *prefix;
    int watchers, customers, batch, threads, timeout_s;
    long first, scan;
    double rate;     /* customers per second; 0: unpaced */
    long server_pid; /* 0: unknown (no server CPU figures) */
    char run[48];
};

/* The customers of the run: ids, a hash index over them, their ingestion times. */
struct customers {
    char (*ids)[ID_MAX];
    int n;
    uint32_t *slots; /* index + 1; 0 = empty; power-of-two size */
    size_t mask;
    int64_t *summary_ns; /* when the trigger batch's summary arrived; 0 = not yet */
    long scanned;
};

/* One change as a watcher received it. */
struct rec {
    uint64_t rev;    /* revision_sequence: the change's log sequence */
    uint64_t id;     /* Alert.sequence: the alert's id */
    int64_t recv_ns; /* churn_mono_ns() right after recv returned */
    int32_t cust;    /* index in the customer table; -1: not one of ours (a fence) */
    uint8_t change, cause;
};

struct bench;

struct watcher {
    struct bench *b;
    pthread_t thread;
    bool started;
    struct rec *recs;
    size_t n, cap, dropped;
    _Atomic uint64_t max_rev; /* highest revision received */
    atomic_bool caught_up, ended;
    long heartbeats, undecodable;
    bool failed; /* the stream ended without being told to */
    char error[200];
};

struct bench {
    const struct opts *o;
    struct churn_client *client;
    struct customers cust;
    uint64_t head0;
    atomic_bool stop;
    char fence_id[2][96];
    _Atomic uint64_t fence_seq[2]; /* the fence alert's revision, from the first watcher */
    struct watcher *w;
    size_t rec_cap; /* records kept per watcher at most */
    /* ingestion */
    atomic_int next_batch;
    bool trigger;      /* the phase being sent: false = baseline logins */
    int64_t t0_ns;     /* start of the measured phase */
    double *ingest_us; /* per trigger batch: stream open to summary */
    atomic_long ingest_failures;
    char ingest_error[200];
    pthread_mutex_t mu; /* ingest_error */
};

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("alert-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- customers ------------------------------------------------------------------------- */

static uint64_t
fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return h;
}

static int
customers_find(const struct customers *c, const char *id)
{
    if (!c->slots || !id)
        return -1;
    for (size_t i = fnv1a(id) & c->mask;; i = (i + 1) & c->mask) {
        uint32_t s = c->slots[i];
        if (!s)
            return -1;
        if (strcmp(c->ids[s - 1], id) == 0)
            return (int)(s - 1);
    }
}

static enum churn_err
customers_index(struct customers *c)
{
    size_t size = 16;
    while (size < 2 * (size_t)c->n)
        size *= 2;
    c->slots = churn_calloc(size, sizeof(*c->slots));
    c->summary_ns = churn_calloc((size_t)c->n + 1, sizeof(*c->summary_ns));
    if (!c->slots || !c->summary_ns)
        return CHURN_ENOMEM;
    c->mask = size - 1;
    for (int k = 0; k < c->n; k++) {
        size_t i = fnv1a(c->ids[k]) & c->mask;
        while (c->slots[i])
            i = (i + 1) & c->mask;
        c->slots[i] = (uint32_t)k + 1;
    }
    return CHURN_OK;
}

/* One unary call with a packed request; *resp is the heap reply on CHURN_OK. */
static enum churn_err
unary(struct churn_client *client, const char *method, const ProtobufCMessage *req, void **resp,
      size_t *len, char *err, size_t errlen)
{
    size_t n = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = churn_malloc(n ? n : 1);
    if (!buf)
        return CHURN_ENOMEM;
    protobuf_c_message_pack(req, buf);
    struct churn_client_status st = {0};
    enum churn_err e = churn_client_unary(client, method, buf, n, RPC_TIMEOUT_MS, resp, len, &st);
    churn_free(buf);
    if (e == CHURN_OK && st.code != 0) {
        snprintf(err, errlen, "%s: %s: %s", method, churn_transport_status_name(st.code),
                 st.details ? st.details : "");
        e = CHURN_EIO;
    } else if (e != CHURN_OK) {
        snprintf(err, errlen, "%s: %s", method, churn_strerror(e));
    }
    churn_client_status_clear(&st);
    return e;
}

/* The first o->customers ids from --first on whose risk tier is LOW or MEDIUM. */
static enum churn_err
select_customers(struct bench *b, char *err, size_t errlen)
{
    const struct opts *o = b->o;
    struct customers *c = &b->cust;
    c->ids = churn_calloc((size_t)o->customers, sizeof(*c->ids));
    char(*chunk)[ID_MAX] = churn_calloc(SCORE_CHUNK, sizeof(*chunk));
    char **ptrs = churn_calloc(SCORE_CHUNK, sizeof(*ptrs));
    enum churn_err e = CHURN_ENOMEM;
    if (!c->ids || !chunk || !ptrs)
        goto out;
    e = CHURN_OK;
    for (long at = o->first; at < o->first + o->scan && c->n < o->customers;) {
        size_t k = 0;
        for (; k < SCORE_CHUNK && at < o->first + o->scan; k++, at++) {
            snprintf(chunk[k], ID_MAX, "%s%07ld", o->prefix, at);
            ptrs[k] = chunk[k];
        }
        Churn__V1__BatchGetScoresRequest req = CHURN__V1__BATCH_GET_SCORES_REQUEST__INIT;
        req.n_customer_ids = k;
        req.customer_ids = ptrs;
        req.max_reasons = 1;
        void *resp;
        size_t len;
        if ((e = unary(b->client, M_SCORES, &req.base, &resp, &len, err, errlen)))
            goto out;
        Churn__V1__BatchGetScoresResponse *r =
            churn__v1__batch_get_scores_response__unpack(NULL, len, resp);
        churn_free(resp);
        if (!r) {
            snprintf(err, errlen, "BatchGetScores: undecodable response");
            e = CHURN_EIO;
            goto out;
        }
        c->scanned += (long)k;
        for (size_t i = 0; i < r->n_results && c->n < o->customers; i++) {
            const Churn__V1__BatchGetScoresResult *x = r->results[i];
            if (x->result_case != CHURN__V1__BATCH_GET_SCORES_RESULT__RESULT_SCORE ||
                x->score->risk_tier == CHURN__V1__RISK_TIER__RISK_TIER_UNSPECIFIED ||
                x->score->risk_tier == CHURN__V1__RISK_TIER__RISK_TIER_HIGH)
                continue;
            snprintf(c->ids[c->n++], ID_MAX, "%s", x->customer_id);
        }
        churn__v1__batch_get_scores_response__free_unpacked(r, NULL);
    }
    if (c->n < o->customers) {
        snprintf(err, errlen,
                 "only %d customers below HIGH risk among %ld ids from %s%07ld: give a larger "
                 "--scan, another --first or fewer --customers",
                 c->n, c->scanned, o->prefix, o->first);
        e = CHURN_ENOTFOUND;
        goto out;
    }
    e = customers_index(c);
out:
    churn_free(ptrs);
    churn_free(chunk);
    return e;
}

/* ---- the alert log ---------------------------------------------------------------------- */

static enum churn_err
log_head(struct bench *b, uint64_t *head, char *err, size_t errlen)
{
    Churn__V1__ListAlertsRequest req = CHURN__V1__LIST_ALERTS_REQUEST__INIT;
    req.page_size = 1;
    req.order = CHURN__V1__ALERT_ORDER__ALERT_ORDER_NEWEST;
    void *resp;
    size_t len;
    enum churn_err e = unary(b->client, M_LIST, &req.base, &resp, &len, err, errlen);
    if (e)
        return e;
    Churn__V1__ListAlertsResponse *r = churn__v1__list_alerts_response__unpack(NULL, len, resp);
    churn_free(resp);
    if (!r) {
        snprintf(err, errlen, "ListAlerts: undecodable response");
        return CHURN_EIO;
    }
    *head = r->head_sequence;
    churn__v1__list_alerts_response__free_unpacked(r, NULL);
    return CHURN_OK;
}

/* ---- watchers --------------------------------------------------------------------------- */

static void
watcher_fail(struct watcher *w, const char *what, const struct churn_client_status *st)
{
    w->failed = true;
    if (st)
        snprintf(w->error, sizeof(w->error), "%s: %s: %s", what,
                 churn_transport_status_name(st->code), st->details ? st->details : "");
    else
        snprintf(w->error, sizeof(w->error), "%s", what);
}

static void
watcher_record(struct watcher *w, const Churn__V1__Alert *a, int64_t t)
{
    struct bench *b = w->b;
    int cust = customers_find(&b->cust, a->customer_id);
    if (cust < 0) {
        for (int k = 0; k < 2; k++) {
            uint64_t none = 0;
            if (strcmp(a->customer_id, b->fence_id[k]) == 0)
                atomic_compare_exchange_strong(&b->fence_seq[k], &none, a->revision_sequence);
        }
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 1024;
        if (cap > b->rec_cap)
            cap = b->rec_cap;
        struct rec *p = cap > w->cap ? churn_realloc(w->recs, cap * sizeof(*p)) : NULL;
        if (!p) {
            w->dropped++;
            goto out;
        }
        w->recs = p;
        w->cap = cap;
    }
    w->recs[w->n++] = (struct rec){.rev = a->revision_sequence,
                                   .id = a->sequence,
                                   .recv_ns = t,
                                   .cust = cust,
                                   .change = (uint8_t)a->change,
                                   .cause = (uint8_t)a->cause};
out:
    if (a->revision_sequence > atomic_load(&w->max_rev))
        atomic_store(&w->max_rev, a->revision_sequence);
}

/* protobuf-c allocations of a watcher's messages go to its arena, reset per message */
static void *
arena_pb_alloc(void *arena, size_t size)
{
    return churn_arena_alloc(arena, size);
}

static void
arena_pb_free(void *arena, void *p)
{
    (void)arena;
    (void)p;
}

static void *
watch_thread(void *arg)
{
    struct watcher *w = arg;
    struct bench *b = w->b;
    struct churn_arena arena;
    churn_arena_init(&arena, WATCH_ARENA);
    ProtobufCAllocator alloc = {
        .alloc = arena_pb_alloc, .free = arena_pb_free, .allocator_data = &arena};
    struct churn_client_stream *s;
    int timeout_ms = (b->o->timeout_s + 60) * 1000;
    if (churn_client_stream_open(b->client, M_WATCH, timeout_ms, &s) != CHURN_OK) {
        watcher_fail(w, "WatchAlerts: cannot open the stream", NULL);
        atomic_store(&w->ended, true);
        churn_arena_fini(&arena);
        return NULL;
    }
    Churn__V1__WatchAlertsRequest req = CHURN__V1__WATCH_ALERTS_REQUEST__INIT;
    req.after_sequence = b->head0;
    req.heartbeat_interval_ms = HEARTBEAT_MS;
    uint8_t buf[64];
    size_t n = protobuf_c_message_pack(&req.base, buf);
    if (churn_client_stream_send(s, buf, n) != CHURN_OK || churn_client_stream_close_send(s))
        watcher_fail(w, "WatchAlerts: cannot send the request", NULL);
    while (!w->failed && !atomic_load(&b->stop)) {
        void *msg;
        size_t len;
        if (churn_client_stream_recv(s, &msg, &len) != CHURN_OK)
            break; /* the server ended the stream: the status says why */
        int64_t t = churn_mono_ns();
        churn_arena_reset(&arena);
        Churn__V1__WatchAlertsResponse *r =
            churn__v1__watch_alerts_response__unpack(&alloc, len, msg);
        churn_free(msg);
        if (!r) {
            w->undecodable++;
            continue;
        }
        switch (r->event_case) {
        case CHURN__V1__WATCH_ALERTS_RESPONSE__EVENT_ALERT:
            watcher_record(w, r->alert, t);
            break;
        case CHURN__V1__WATCH_ALERTS_RESPONSE__EVENT_CAUGHT_UP:
            atomic_store(&w->caught_up, true);
            break;
        case CHURN__V1__WATCH_ALERTS_RESPONSE__EVENT_HEARTBEAT:
            w->heartbeats++;
            break;
        default:
            w->undecodable++;
            break;
        }
    }
    bool told = atomic_load(&b->stop);
    struct churn_client_status st = {0};
    churn_client_stream_finish(s, told, &st);
    if (!told && !w->failed)
        watcher_fail(w, "WatchAlerts ended", &st);
    churn_client_status_clear(&st);
    churn_arena_fini(&arena);
    atomic_store(&w->ended, true);
    return NULL;
}

/* ---- ingestion -------------------------------------------------------------------------- */

static void ingest_fail(struct bench *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
ingest_fail(struct bench *b, const char *fmt, ...)
{
    pthread_mutex_lock(&b->mu);
    if (!b->ingest_error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->ingest_error, sizeof(b->ingest_error), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&b->mu);
    atomic_fetch_add(&b->ingest_failures, 1);
}

/* Pack events for customers @first..@first+@n-1 (a login, or a plan cancellation). */
static size_t
pack_events(struct bench *b, int first, int n, int64_t at_ms, uint8_t *buf, size_t cap)
{
    static _Thread_local char eid[EVENTS_PER_MSG][ID_MAX + 48];
    static _Thread_local Churn__V1__Event ev[EVENTS_PER_MSG];
    static _Thread_local Churn__V1__Event *evp[EVENTS_PER_MSG];
    Churn__V1__Event__Login login = CHURN__V1__EVENT__LOGIN__INIT;
    Churn__V1__Event__PlanChange cancel = CHURN__V1__EVENT__PLAN_CHANGE__INIT;
    cancel.direction = CHURN__V1__PLAN_CHANGE_DIRECTION__PLAN_CHANGE_DIRECTION_CANCEL;
    cancel.from_plan = "pro";
    cancel.monthly_value = 0.0;
    for (int k = 0; k < n; k++) {
        snprintf(eid[k], sizeof(eid[k]), "ab-%s-%c-%d", b->o->run, b->trigger ? 't' : 'b',
                 first + k);
        churn__v1__event__init(&ev[k]);
        ev[k].event_id = eid[k];
        ev[k].customer_id = b->cust.ids[first + k];
        ev[k].occurred_at_ms = at_ms;
        if (b->trigger) {
            ev[k].kind_case = CHURN__V1__EVENT__KIND_PLAN_CHANGE;
            ev[k].plan_change = &cancel;
        } else {
            ev[k].kind_case = CHURN__V1__EVENT__KIND_LOGIN;
            ev[k].login = &login;
        }
        evp[k] = &ev[k];
    }
    Churn__V1__RecordEventsRequest req = CHURN__V1__RECORD_EVENTS_REQUEST__INIT;
    req.n_events = (size_t)n;
    req.events = evp;
    if (protobuf_c_message_get_packed_size(&req.base) > cap)
        return 0;
    return protobuf_c_message_pack(&req.base, buf);
}

static void
sleep_until_ns(int64_t t)
{
    struct timespec ts = {.tv_sec = t / 1000000000LL, .tv_nsec = t % 1000000000LL};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* One batch: one RecordEvents stream; its summary time becomes each customer's time. */
static void
send_batch(struct bench *b, int k)
{
    static _Thread_local uint8_t buf[64 * 1024];
    const struct opts *o = b->o;
    int first = k * o->batch, n = b->cust.n - first < o->batch ? b->cust.n - first : o->batch;
    if (b->trigger && o->rate > 0)
        sleep_until_ns(b->t0_ns + (int64_t)((double)first / o->rate * 1e9));
    int64_t t_open = churn_mono_ns(), at_ms = churn_now_ms() - 60000;
    struct churn_client_stream *s;
    if (churn_client_stream_open(b->client, M_RECORD, RPC_TIMEOUT_MS, &s) != CHURN_OK) {
        ingest_fail(b, "RecordEvents: cannot open a stream");
        return;
    }
    bool sent = true;
    for (int i = 0; i < n && sent; i += EVENTS_PER_MSG) {
        int m = n - i < EVENTS_PER_MSG ? n - i : EVENTS_PER_MSG;
        size_t len = pack_events(b, first + i, m, at_ms, buf, sizeof(buf));
        sent = len && churn_client_stream_send(s, buf, len) == CHURN_OK;
    }
    void *msg = NULL;
    size_t len = 0;
    bool got = sent && churn_client_stream_close_send(s) == CHURN_OK &&
               churn_client_stream_recv(s, &msg, &len) == CHURN_OK;
    int64_t t = churn_mono_ns();
    struct churn_client_status st = {0};
    churn_client_stream_finish(s, false, &st);
    if (!got || st.code != 0) {
        ingest_fail(b, "RecordEvents: %s: %s", churn_transport_status_name(st.code),
                    st.details ? st.details : "no summary");
        churn_client_status_clear(&st);
        churn_free(msg);
        return;
    }
    churn_client_status_clear(&st);
    Churn__V1__RecordEventsResponse *r = churn__v1__record_events_response__unpack(NULL, len, msg);
    churn_free(msg);
    if (!r || r->accepted != n) {
        ingest_fail(b, "RecordEvents: %lld of %d events accepted (%lld rejected%s%s)",
                    r ? (long long)r->accepted : -1LL, n, r ? (long long)r->rejected : -1LL,
                    r && r->n_rejections ? ": " : "",
                    r && r->n_rejections ? r->rejections[0]->reason : "");
        if (r)
            churn__v1__record_events_response__free_unpacked(r, NULL);
        return;
    }
    churn__v1__record_events_response__free_unpacked(r, NULL);
    if (b->trigger) {
        for (int i = 0; i < n; i++)
            b->cust.summary_ns[first + i] = t;
        b->ingest_us[k] = (double)(t - t_open) / 1000.0;
    }
}

static void *
send_thread(void *arg)
{
    struct bench *b = arg;
    int batches = (b->cust.n + b->o->batch - 1) / b->o->batch;
    for (int k; (k = atomic_fetch_add(&b->next_batch, 1)) < batches;)
        send_batch(b, k);
    return NULL;
}

/* Send the phase's batches on o->threads streams at a time; returns after every summary. */
static bool
ingest(struct bench *b, bool trigger)
{
    pthread_t th[MAX_THREADS];
    int started = 0;
    b->trigger = trigger;
    atomic_store(&b->next_batch, 0);
    for (int i = 0; i < b->o->threads; i++)
        if (pthread_create(&th[started], NULL, send_thread, b) == 0)
            started++;
    if (!started)
        send_thread(b);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    return atomic_load(&b->ingest_failures) == 0;
}

/* A fence: one churn-intent chat turn for fence customer @k; the engine queues it behind
 * every rescore queued so far. */
static enum churn_err
send_fence(struct bench *b, int k, char *err, size_t errlen)
{
    struct churn_client_stream *s;
    if (churn_client_stream_open(b->client, M_CHAT, RPC_TIMEOUT_MS, &s) != CHURN_OK) {
        snprintf(err, errlen, "AnalyzeChat: cannot open a stream");
        return CHURN_EIO;
    }
    Churn__V1__AnalyzeChatRequest req = CHURN__V1__ANALYZE_CHAT_REQUEST__INIT;
    req.conversation_id = b->fence_id[k];
    req.customer_id = b->fence_id[k];
    req.turn_sequence = 1;
    req.role = CHURN__V1__CHAT_ROLE__CHAT_ROLE_CUSTOMER;
    req.text = FENCE_TEXT;
    uint8_t buf[512];
    size_t n = protobuf_c_message_pack(&req.base, buf);
    void *msg = NULL;
    size_t len = 0;
    bool got = churn_client_stream_send(s, buf, n) == CHURN_OK &&
               churn_client_stream_close_send(s) == CHURN_OK &&
               churn_client_stream_recv(s, &msg, &len) == CHURN_OK;
    struct churn_client_status st = {0};
    churn_client_stream_finish(s, false, &st);
    Churn__V1__AnalyzeChatResponse *r =
        got ? churn__v1__analyze_chat_response__unpack(NULL, len, msg) : NULL;
    churn_free(msg);
    bool intent =
        r && r->escalation && r->escalation->escalate &&
        r->escalation->reason == CHURN__V1__ESCALATION_REASON__ESCALATION_REASON_CHURN_INTENT;
    if (r)
        churn__v1__analyze_chat_response__free_unpacked(r, NULL);
    enum churn_err e = CHURN_OK;
    if (!got || st.code != 0) {
        snprintf(err, errlen, "AnalyzeChat: %s: %s", churn_transport_status_name(st.code),
                 st.details ? st.details : "no answer");
        e = CHURN_EIO;
    } else if (!intent) {
        snprintf(err, errlen,
                 "AnalyzeChat: the fence turn did not escalate with churn intent (lexicons?)");
        e = CHURN_EINVAL;
    }
    churn_client_status_clear(&st);
    return e;
}

/* ---- waiting ---------------------------------------------------------------------------- */

static bool
past(int64_t deadline)
{
    return churn_mono_ns() >= deadline;
}

static void
nap(void)
{
    struct timespec ts = {0, POLL_NS};
    nanosleep(&ts, NULL);
}

static bool
all_caught_up(const struct bench *b)
{
    for (int i = 0; i < b->o->watchers; i++)
        if (!atomic_load(&b->w[i].caught_up) && !atomic_load(&b->w[i].ended))
            return false;
    return true;
}

static bool
all_reached(const struct bench *b, uint64_t rev)
{
    for (int i = 0; i < b->o->watchers; i++)
        if (atomic_load(&b->w[i].max_rev) < rev && !atomic_load(&b->w[i].ended))
            return false;
    return true;
}

/* After fence @k: wait until its alert is known and every watcher has everything up to the
 * log head, read again until it stands still. *head is that head. False on timeout. */
static bool
wait_fence(struct bench *b, int k, int64_t deadline, uint64_t *head, char *err, size_t errlen)
{
    while (!atomic_load(&b->fence_seq[k])) {
        if (past(deadline))
            return false;
        nap();
    }
    uint64_t h = atomic_load(&b->fence_seq[k]);
    for (;;) {
        while (!all_reached(b, h)) {
            if (past(deadline))
                return false;
            nap();
        }
        /* the engine answers chat jobs before rescores, so rescores queued before the fence
         * may still be running: the head must also stand still for a quiet period */
        struct timespec quiet = {0, QUIET_NS};
        nanosleep(&quiet, NULL);
        uint64_t now;
        if (log_head(b, &now, err, errlen))
            return false;
        if (now <= h)
            break;
        h = now;
    }
    *head = h;
    return true;
}

/* ---- figures ---------------------------------------------------------------------------- */

/* @s as a JSON string (quotes, backslashes and control characters escaped). */
static void
json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void
json_num(const char *key, double v, int decimals, bool comma)
{
    if (isfinite(v))
        printf("\"%s\":%.*f%s", key, decimals, v, comma ? "," : "");
    else
        printf("\"%s\":null%s", key, comma ? "," : "");
}

static void
json_pcts(const char *key, double *v, size_t n, bool comma)
{
    qsort(v, n, sizeof(*v), bench_cmp_double);
    printf("\"%s\":{", key);
    json_num("p50", bench_percentile(v, n, 0.5), 1, true);
    json_num("p90", bench_percentile(v, n, 0.9), 1, true);
    json_num("p99", bench_percentile(v, n, 0.99), 1, true);
    json_num("max", n ? v[n - 1] : NAN, 1, true);
    printf("\"n\":%zu}%s", n, comma ? "," : "");
}

/* min / median / max of @v (sorted in place; NaN entries, watchers without data, sort last). */
static void
json_range(const char *key, double *v, size_t n, bool comma)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]))
            v[k++] = v[i];
    qsort(v, k, sizeof(*v), bench_cmp_double);
    printf("\"%s\":{", key);
    json_num("min", k ? v[0] : NAN, 1, true);
    json_num("median", bench_percentile(v, k, 0.5), 1, true);
    json_num("max", k ? v[k - 1] : NAN, 1, false);
    printf("}%s", comma ? "," : "");
}

/* The cause and change names as in alert.proto, without the prefix. */
static const char *
cause_key(int c)
{
    static const char *const names[] = {"unspecified", "tier_worsened", "probability_jump",
                                        "chat_escalation", "churn_intent"};
    return c >= 0 && c < 5 ? names[c] : "other";
}

static const char *
change_key(int c)
{
    static const char *const names[] = {"unspecified", "raised", "updated", "acknowledged",
                                        "snoozed",     "woken",  "closed",  "outcome_recorded"};
    return c >= 0 && c < 8 ? names[c] : "other";
}

static double
tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Time on a CPU and waiting for one, of every thread of the server process, from
 * /proc/PID/task/TID/schedstat (same machine only; nanoseconds). */
struct server_cpu {
    int n;
    long tid[MAX_SERVER_THREADS];
    unsigned long long run_ns[MAX_SERVER_THREADS], wait_ns[MAX_SERVER_THREADS];
};

static void
server_cpu_sample(long pid, struct server_cpu *out)
{
    char path[64];
    out->n = 0;
    snprintf(path, sizeof(path), "/proc/%ld/task", pid);
    DIR *d = pid > 0 ? opendir(path) : NULL;
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d)) && out->n < MAX_SERVER_THREADS;) {
        char *end;
        long tid = strtol(e->d_name, &end, 10);
        if (*end || tid <= 0)
            continue;
        char name[80];
        snprintf(name, sizeof(name), "/proc/%ld/task/%ld/schedstat", pid, tid);
        FILE *f = fopen(name, "r");
        if (!f)
            continue;
        int got = fscanf(f, "%llu %llu", &out->run_ns[out->n], &out->wait_ns[out->n]);
        fclose(f);
        if (got == 2)
            out->tid[out->n++] = tid;
    }
    closedir(d);
}

struct server_delta {
    double total_s;        /* all threads on a CPU */
    double busiest_s;      /* the thread longest on a CPU (the alert engine in these runs) */
    double busiest_wait_s; /* ... and its time runnable but waiting for a CPU */
};

static struct server_delta
server_cpu_delta(const struct server_cpu *a, const struct server_cpu *b)
{
    struct server_delta d = {NAN, NAN, NAN};
    unsigned long long sum = 0, top = 0, top_wait = 0;
    for (int i = 0; i < b->n; i++) {
        unsigned long long run0 = 0, wait0 = 0;
        for (int j = 0; j < a->n; j++)
            if (a->tid[j] == b->tid[i]) {
                run0 = a->run_ns[j];
                wait0 = a->wait_ns[j];
            }
        unsigned long long run = b->run_ns[i] - run0;
        sum += run;
        if (run > top) {
            top = run;
            top_wait = b->wait_ns[i] - wait0;
        }
    }
    if (b->n) {
        d.total_s = (double)sum / 1e9;
        d.busiest_s = (double)top / 1e9;
        d.busiest_wait_s = (double)top_wait / 1e9;
    }
    return d;
}

struct window {
    uint64_t lo, hi; /* changes with lo < rev <= hi */
    int64_t t_end_ns;
    struct rusage ru0, ru1;
    struct server_cpu srv0, srv1;
    bool timed_out, set_up;
    char error[256];
};

/* What the union of the watchers saw of one change of the window. */
struct change {
    int32_t cust;        /* customer index; -1 not ours (a fence); -2 nobody received it */
    uint8_t cause, kind; /* Alert.cause, Alert.change */
    int64_t first, last; /* earliest and latest receive time over the watchers */
};

/* The figures of a run, computed from the watchers' records after they stopped. */
struct figures {
    size_t span; /* sequences in the window */
    struct change *ch;
    double *lat, *lat_first, *spread, *wp50, *wp99, *sorted;
    size_t n_lat, n_first, n_spread;
    size_t changes, raised, others, by_cause[6], by_change[9];
    size_t deliveries, missing, dups, out_of_order, before_summary, dropped, failed;
    long heartbeats, undecodable;
    int without_alert, slowest, late;
    int64_t last_first, last_delivery;
    const char *first_error;
};

static void
figures_free(struct figures *f)
{
    churn_free(f->ch);
    churn_free(f->lat);
    churn_free(f->lat_first);
    churn_free(f->spread);
    churn_free(f->wp50);
    churn_free(f->wp99);
    churn_free(f->sorted);
}

static enum churn_err
figures_alloc(struct figures *f, const struct bench *b, const struct window *win)
{
    size_t total = 0, w = (size_t)b->o->watchers;
    for (size_t i = 0; i < w; i++)
        total += b->w[i].n;
    f->span = win->hi > win->lo ? (size_t)(win->hi - win->lo) : 0;
    f->ch = churn_calloc(f->span + 1, sizeof(*f->ch));
    f->lat = churn_malloc((total + 1) * sizeof(*f->lat));
    f->lat_first = churn_malloc((f->span + 1) * sizeof(*f->lat_first));
    f->spread = churn_malloc((f->span + 1) * sizeof(*f->spread));
    f->wp50 = churn_malloc(w * sizeof(*f->wp50));
    f->wp99 = churn_malloc(w * sizeof(*f->wp99));
    f->sorted = churn_malloc(w * sizeof(*f->sorted));
    if (!f->ch || !f->lat || !f->lat_first || !f->spread || !f->wp50 || !f->wp99 || !f->sorted)
        return CHURN_ENOMEM;
    for (size_t j = 0; j < f->span; j++)
        f->ch[j].cust = -2;
    return CHURN_OK;
}

/* Per change: who it was for, what it was, when the first and the last watcher got it. */
static void
figures_changes(struct figures *f, const struct bench *b, const struct window *win)
{
    bool *hit = churn_calloc((size_t)b->cust.n + 1, sizeof(*hit));
    for (int i = 0; i < b->o->watchers; i++)
        for (size_t r = 0; r < b->w[i].n; r++) {
            const struct rec *x = &b->w[i].recs[r];
            if (x->rev <= win->lo || x->rev > win->hi)
                continue;
            struct change *c = &f->ch[x->rev - win->lo - 1];
            if (c->cust == -2)
                *c = (struct change){x->cust, x->cause, x->change, x->recv_ns, x->recv_ns};
            if (x->recv_ns < c->first)
                c->first = x->recv_ns;
            if (x->recv_ns > c->last)
                c->last = x->recv_ns;
        }
    /* every sequence of the window is a change, the fences excepted: one nobody got counts */
    for (size_t j = 0; j < f->span; j++) {
        const struct change *c = &f->ch[j];
        if (c->cust == -1) {
            f->others++;
            continue;
        }
        f->changes++;
        if (c->cust < 0)
            continue;
        if (hit)
            hit[c->cust] = true;
        f->by_cause[c->cause < 5 ? c->cause : 5]++;
        f->by_change[c->kind < 8 ? c->kind : 8]++;
        if (c->kind == CHURN__V1__ALERT_CHANGE__ALERT_CHANGE_RAISED)
            f->raised++;
        if (c->first > f->last_first)
            f->last_first = c->first;
        int64_t at = b->cust.summary_ns[c->cust];
        if (at) {
            f->lat_first[f->n_first++] = (double)(c->first - at) / 1000.0;
            f->spread[f->n_spread++] = (double)(c->last - c->first) / 1000.0;
        }
    }
    for (int k = 0; k < b->cust.n && hit; k++)
        if (!hit[k])
            f->without_alert++;
    churn_free(hit);
}

/* Per watcher: deliveries, gaps, duplicates, order, and its own latency percentiles. */
static void
figures_watchers(struct figures *f, const struct bench *b, const struct window *win)
{
    uint8_t *seen = churn_malloc(f->span + 1);
    f->slowest = -1;
    for (int i = 0; i < b->o->watchers && seen; i++) {
        const struct watcher *w = &b->w[i];
        memset(seen, 0, f->span + 1);
        uint64_t prev = 0;
        size_t mine = f->n_lat;
        for (size_t r = 0; r < w->n; r++) {
            const struct rec *x = &w->recs[r];
            if (x->rev <= win->lo || x->rev > win->hi)
                continue;
            size_t j = (size_t)(x->rev - win->lo - 1);
            if (x->rev < prev)
                f->out_of_order++;
            prev = x->rev;
            if (seen[j]) {
                f->dups++;
                continue;
            }
            seen[j] = 1;
            if (x->cust < 0)
                continue;
            f->deliveries++;
            if (x->recv_ns > f->last_delivery)
                f->last_delivery = x->recv_ns;
            int64_t at = b->cust.summary_ns[x->cust];
            if (!at)
                continue;
            if (x->recv_ns < at)
                f->before_summary++;
            f->lat[f->n_lat++] = (double)(x->recv_ns - at) / 1000.0;
        }
        for (size_t j = 0; j < f->span; j++)
            if (!seen[j] && f->ch[j].cust != -1)
                f->missing++;
        qsort(f->lat + mine, f->n_lat - mine, sizeof(*f->lat), bench_cmp_double);
        f->wp50[i] = bench_percentile(f->lat + mine, f->n_lat - mine, 0.5);
        f->wp99[i] = bench_percentile(f->lat + mine, f->n_lat - mine, 0.99);
        if (isfinite(f->wp50[i]) && (f->slowest < 0 || f->wp50[i] > f->wp50[f->slowest]))
            f->slowest = i;
        f->dropped += w->dropped;
        f->heartbeats += w->heartbeats;
        f->undecodable += w->undecodable;
        if (w->failed) {
            f->failed++;
            if (!f->first_error)
                f->first_error = w->error;
        }
    }
    if (!seen)
        f->missing = SIZE_MAX; /* could not check: never a good run */
    churn_free(seen);
    /* late: served well after the typical watcher (p50 over 20% and 5 ms above the median's) */
    size_t k = 0;
    for (int i = 0; i < b->o->watchers; i++)
        if (isfinite(f->wp50[i]))
            f->sorted[k++] = f->wp50[i];
    qsort(f->sorted, k, sizeof(*f->sorted), bench_cmp_double);
    double typical = bench_percentile(f->sorted, k, 0.5);
    for (int i = 0; i < b->o->watchers; i++)
        if (isfinite(f->wp50[i]) && f->wp50[i] - typical > fmax(5000.0, 0.2 * typical))
            f->late++;
}

static double
seconds_since(int64_t t0, int64_t t)
{
    return t > t0 ? (double)(t - t0) / 1e9 : NAN;
}

/* The JSON document of a run. */
static void
figures_print(struct figures *f, struct bench *b, const struct window *win, bool ok)
{
    const struct opts *o = b->o;
    double cpu_user = tv_s(win->ru1.ru_utime) - tv_s(win->ru0.ru_utime);
    double cpu_sys = tv_s(win->ru1.ru_stime) - tv_s(win->ru0.ru_stime);
    double raise_s = seconds_since(b->t0_ns, f->last_first);
    double deliver_s = seconds_since(b->t0_ns, f->last_delivery);
    double window_s = seconds_since(b->t0_ns, win->t_end_ns);
    int nb = (b->cust.n + o->batch - 1) / o->batch;

    printf("{\"benchmark\":\"alert-fanout\",\"target\":");
    json_str(o->target);
    printf(",\"run\":\"%s\",\"watchers\":%d,\"reader_threads\":%d,\"sender_threads\":%d,"
           "\"batch\":%d,",
           o->run, o->watchers, o->watchers, o->threads, o->batch);
    json_num("rate_customers_per_s", o->rate, 1, true);
    printf("\"customers\":{\"requested\":%d,\"triggered\":%d,\"scanned\":%ld,\"first\":",
           o->customers, b->cust.n, b->cust.scanned);
    json_str(b->cust.n ? b->cust.ids[0] : "");
    printf(",\"last\":");
    json_str(b->cust.n ? b->cust.ids[b->cust.n - 1] : "");
    printf(",\"without_alert\":%d},", f->without_alert);
    printf("\"log\":{\"head_before\":%" PRIu64 ",\"window_after\":%" PRIu64
           ",\"window_to\":%" PRIu64 ",\"fences\":[%" PRIu64 ",%" PRIu64 "],"
           "\"other_changes_in_window\":%zu},",
           b->head0, win->lo, win->hi, atomic_load(&b->fence_seq[0]), atomic_load(&b->fence_seq[1]),
           f->others);
    printf("\"changes\":%zu,\"alerts_raised\":%zu,\"by_cause\":{", f->changes, f->raised);
    for (int c = 1; c <= 5; c++)
        printf("\"%s\":%zu%s", cause_key(c), f->by_cause[c], c < 5 ? "," : "},\"by_change\":{");
    for (int c = 1; c <= 8; c++)
        printf("\"%s\":%zu%s", change_key(c), f->by_change[c], c < 8 ? "," : "},");
    printf("\"deliveries\":%zu,\"expected_deliveries\":%zu,\"missing\":%zu,\"duplicates\":%zu,"
           "\"out_of_order\":%zu,\"delivered_before_summary\":%zu,\"records_dropped\":%zu,",
           f->deliveries, f->changes * (size_t)o->watchers, f->missing, f->dups, f->out_of_order,
           f->before_summary, f->dropped);
    json_num("alerts_per_s", (double)f->changes / raise_s, 1, true);
    json_num("deliveries_per_s", (double)f->deliveries / deliver_s, 1, true);
    json_pcts("latency_us", f->lat, f->n_lat, true);
    json_pcts("first_delivery_latency_us", f->lat_first, f->n_first, true);
    json_pcts("fanout_spread_us", f->spread, f->n_spread, true);
    printf("\"per_watcher\":{\"slowest\":%d,\"late\":%d,", f->slowest, f->late);
    json_range("p50_us", f->wp50, (size_t)o->watchers, true);
    json_range("p99_us", f->wp99, (size_t)o->watchers, false);
    printf("},\"ingest\":{\"batches\":%d,\"events\":%d,", nb, b->cust.n);
    json_pcts("summary_latency_us", b->ingest_us, (size_t)nb, true);
    printf("\"failures\":%ld},\"elapsed_s\":{", atomic_load(&b->ingest_failures));
    json_num("to_last_first_delivery", raise_s, 3, true);
    json_num("to_last_delivery", deliver_s, 3, true);
    json_num("window", window_s, 3, false);
    printf("},\"client_cpu_s\":{");
    json_num("user", cpu_user, 3, true);
    json_num("sys", cpu_sys, 3, true);
    json_num("per_wall_s", (cpu_user + cpu_sys) / window_s, 3, false);
    printf("},");
    json_num("client_cpu_us_per_delivery",
             f->deliveries ? (cpu_user + cpu_sys) * 1e6 / (double)f->deliveries : NAN, 1, true);
    if (o->server_pid) {
        struct server_delta d = server_cpu_delta(&win->srv0, &win->srv1);
        printf("\"server_cpu_s\":{\"pid\":%ld,", o->server_pid);
        json_num("total", d.total_s, 3, true);
        json_num("busiest_thread", d.busiest_s, 3, true);
        json_num("busiest_thread_per_wall_s", d.busiest_s / window_s, 3, true);
        json_num("busiest_thread_runqueue_wait", d.busiest_wait_s, 3, false);
        printf("},");
    }
    printf("\"heartbeats\":%ld,\"undecodable\":%ld,\"stream_failures\":%zu,", f->heartbeats,
           f->undecodable, f->failed);
    if (f->first_error) {
        printf("\"first_stream_error\":");
        json_str(f->first_error);
        putchar(',');
    }
    if (win->error[0] || b->ingest_error[0]) {
        printf("\"error\":");
        json_str(win->error[0] ? win->error : b->ingest_error);
        putchar(',');
    }
    printf("\"timed_out\":%s,\"ok\":%s}\n", win->timed_out ? "true" : "false",
           ok ? "true" : "false");
}

/* Everything after the run, as one JSON document on stdout; true for a good run. */
static bool
report(struct bench *b, const struct window *win)
{
    struct figures f = {0};
    bool ok = false;
    if (figures_alloc(&f, b, win) != CHURN_OK) {
        progress("out of memory for the figures");
        goto out_free;
    }
    figures_changes(&f, b, win);
    figures_watchers(&f, b, win);
    ok = win->set_up && !win->timed_out && f.changes > 0 && f.missing == 0 && f.dups == 0 &&
         f.failed == 0 && f.dropped == 0 && atomic_load(&b->ingest_failures) == 0;
    figures_print(&f, b, win, ok);
out_free:
    figures_free(&f);
    return ok;
}

/* ---- main ------------------------------------------------------------------------------- */

static int
usage(void)
{
    fputs("usage: alert-bench --target HOST:PORT [--watchers N] [--customers N] [--batch N]\n"
          "                   [--threads N] [--rate CUSTOMERS_PER_S] [--timeout-s S]\n"
          "                   [--customer-prefix P] [--first N] [--scan N] [--run ID]\n"
          "                   [--server-pid PID]\n",
          stderr);
    return 2;
}

static bool
parse_opts(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            return false;
        const char *k = argv[i], *v = argv[i + 1];
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        bool num = *end == '\0' && end != v && errno == 0 && d >= 0 && d < 1e9 && d == floor(d);
        if (strcmp(k, "--target") == 0)
            o->target = v;
        else if (strcmp(k, "--customer-prefix") == 0 && strlen(v) < ID_MAX - 8)
            o->prefix = v;
        else if (strcmp(k, "--run") == 0 && strlen(v) < sizeof(o->run) &&
                 strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
                     strlen(v))
            snprintf(o->run, sizeof(o->run), "%s", v);
        else if (strcmp(k, "--rate") == 0 && *end == '\0' && end != v && d >= 0 && d < 1e7)
            o->rate = d;
        else if (!num)
            return false;
        else if (strcmp(k, "--watchers") == 0 && d >= 1 && d <= MAX_WATCHERS)
            o->watchers = (int)d;
        else if (strcmp(k, "--customers") == 0 && d >= 1 && d <= MAX_CUSTOMERS)
            o->customers = (int)d;
        else if (strcmp(k, "--batch") == 0 && d >= 1 && d <= 1000)
            o->batch = (int)d;
        else if (strcmp(k, "--threads") == 0 && d >= 1 && d <= MAX_THREADS)
            o->threads = (int)d;
        else if (strcmp(k, "--timeout-s") == 0 && d >= 1 && d <= 3600)
            o->timeout_s = (int)d;
        else if (strcmp(k, "--first") == 0 && d <= 9999999)
            o->first = (long)d;
        else if (strcmp(k, "--scan") == 0 && d >= 1 && d <= 10000000)
            o->scan = (long)d;
        else if (strcmp(k, "--server-pid") == 0 && d >= 1)
            o->server_pid = (long)d;
        else
            return false;
    }
    return o->target != NULL;
}

/* Open the watchers and run the phases; @win gets the window and how the run ended. */
static void
run(struct bench *b, struct window *win)
{
    const struct opts *o = b->o;
    int64_t deadline = churn_mono_ns() + (int64_t)o->timeout_s * 1000000000LL;
    char *err = win->error;
    size_t errlen = sizeof(win->error);
    if (log_head(b, &b->head0, err, errlen))
        return;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, READER_STACK);
    for (int i = 0; i < o->watchers; i++) {
        b->w[i].b = b;
        if (pthread_create(&b->w[i].thread, &attr, watch_thread, &b->w[i]) != 0) {
            snprintf(err, errlen, "cannot start reader thread %d", i);
            atomic_store(&b->w[i].ended, true);
            pthread_attr_destroy(&attr);
            return;
        }
        b->w[i].started = true;
    }
    pthread_attr_destroy(&attr);
    while (!all_caught_up(b)) {
        if (past(deadline))
            goto out_timeout;
        nap();
    }
    progress("%d watchers caught up at sequence %" PRIu64, o->watchers, b->head0);

    if (!ingest(b, false)) {
        snprintf(err, errlen, "baseline: %s", b->ingest_error);
        return;
    }
    if (send_fence(b, 0, err, errlen))
        return;
    if (!wait_fence(b, 0, deadline, &win->lo, err, errlen))
        goto out_timeout;
    {
        int64_t settle = SETTLE_NS + (int64_t)b->cust.n * SETTLE_PER_CUSTOMER_NS;
        struct timespec ts = {(time_t)(settle / 1000000000), (long)(settle % 1000000000)};
        nanosleep(&ts, NULL);
        if (log_head(b, &win->lo, err, errlen))
            return;
    }
    progress("baseline of %d customers scored; window opens after sequence %" PRIu64, b->cust.n,
             win->lo);

    server_cpu_sample(o->server_pid, &win->srv0);
    getrusage(RUSAGE_SELF, &win->ru0);
    b->t0_ns = churn_mono_ns();
    win->set_up = true;
    bool ingested = ingest(b, true);
    progress("%d cancellations acknowledged in %.2f s%s", b->cust.n,
             (double)(churn_mono_ns() - b->t0_ns) / 1e9, ingested ? "" : " (with failures)");
    if (send_fence(b, 1, err, errlen))
        return;
    if (!wait_fence(b, 1, deadline, &win->hi, err, errlen))
        goto out_timeout;
    win->t_end_ns = churn_mono_ns();
    getrusage(RUSAGE_SELF, &win->ru1);
    server_cpu_sample(o->server_pid, &win->srv1);
    progress("window closes at sequence %" PRIu64 " after %.2f s", win->hi,
             (double)(win->t_end_ns - b->t0_ns) / 1e9);
    return;
out_timeout:
    win->timed_out = true;
    if (!err[0])
        snprintf(err, errlen, "timed out after %d s", o->timeout_s);
}

int
main(int argc, char **argv)
{
    struct opts o = {.prefix = "cust-",
                     .watchers = 100,
                     .customers = 500,
                     .batch = 50,
                     .threads = 1,
                     .timeout_s = 60,
                     .scan = 10000};
    snprintf(o.run, sizeof(o.run), "%d-%lld", (int)getpid(), (long long)churn_now_ms());
    if (!parse_opts(argc, argv, &o))
        return usage();
    static struct bench b;
    b.o = &o;
    pthread_mutex_init(&b.mu, NULL);
    for (int k = 0; k < 2; k++)
        snprintf(b.fence_id[k], sizeof(b.fence_id[k]), "alert-bench-%s-fence-%d", o.run, k);
    b.rec_cap = 16 * (size_t)o.customers + 4096;
    b.w = churn_calloc((size_t)o.watchers, sizeof(*b.w));
    b.ingest_us = churn_calloc((size_t)o.customers / (size_t)o.batch + 2, sizeof(double));
    if (!b.w || !b.ingest_us) {
        progress("out of memory");
        return 3;
    }
    if (churn_client_open(o.target, &b.client) != CHURN_OK) {
        progress("cannot open a channel to %s", o.target);
        return 3;
    }
    char err[512];
    if (select_customers(&b, err, sizeof(err)) != CHURN_OK) {
        progress("%s", err);
        churn_client_close(b.client);
        return 3;
    }
    progress("%d customers below HIGH risk among %ld scanned (%s .. %s)", b.cust.n, b.cust.scanned,
             b.cust.ids[0], b.cust.ids[b.cust.n - 1]);

    struct window win = {0};
    run(&b, &win);
    if (win.error[0])
        progress("%s", win.error);
    if (!win.t_end_ns) {
        win.t_end_ns = churn_mono_ns();
        getrusage(RUSAGE_SELF, &win.ru1);
        server_cpu_sample(o.server_pid, &win.srv1);
        if (!win.set_up) {
            win.ru0 = win.ru1;
            win.srv0 = win.srv1;
        }
    }
    if (!win.hi) /* an unfinished run: count what arrived up to the highest change seen */
        for (int i = 0; i < o.watchers; i++)
            if (atomic_load(&b.w[i].max_rev) > win.hi)
                win.hi = atomic_load(&b.w[i].max_rev);
    if (!win.lo)
        win.lo = b.head0;
    atomic_store(&b.stop, true);
    for (int i = 0; i < o.watchers; i++)
        if (b.w[i].started)
            pthread_join(b.w[i].thread, NULL);
    bool ok = report(&b, &win);
    fflush(stdout);
    for (int i = 0; i < o.watchers; i++)
        churn_free(b.w[i].recs);
    churn_free(b.w);
    churn_free(b.ingest_us);
    churn_free(b.cust.ids);
    churn_free(b.cust.slots);
    churn_free(b.cust.summary_ns);
    churn_client_close(b.client);
    return !win.set_up ? 3 : ok ? 0 : 1;
}
