/*
 * jsingest.c - a shard's ingestion from NATS JetStream (churn/jsingest.h): one thread owns
 * the connection and one durable pull consumer per owned partition; it fetches a batch from
 * each partition in turn (no wait when the partition is empty), decodes the messages into
 * domain events (the RecordEvents conversion), hands them to the store's group-commit writer,
 * waits for the durable commit and only then acknowledges; bad messages are terminated with
 * the reason logged. The applied customers are rescored as for RecordEvents. When the table
 * in force changes (a reload), the set of consumers follows it between two passes: partitions
 * gained get their consumer, partitions lost have theirs deleted.
 */
#include "churn/jsingest.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "churn/alloc.h"
#include "churn/arena.h"
#include "churn/clock.h"
#include "churn/event_codec.h"
#include "churn/log.h"
#include "churn/nats_end.h"
#include "churn/service_metrics.h"
#include "churn/shard.h"
#include "service_internal.h"

#define FETCH_MESSAGES         64   /* messages per fetch from one partition */
#define MESSAGE_EVENTS         1000 /* events in one message at most (RecordEvents' limit) */
#define BATCH_EVENTS           8192 /* events in one durable commit at most */
#define MESSAGE_EVENTS_TYPICAL 4    /* room kept per message of the next fetch */
#define BATCH_ARENA            (4 << 20)
#define IDLE_SLEEP_MIN_MS      2    /* after an empty pass, doubling ... */
#define IDLE_SLEEP_MAX_MS      100  /* ... up to this: idle shards poll little */
#define NATS_TEARDOWN_MS       5000 /* the library's threads wind down within this */
#define RETRY_SLEEP_MS         500
#define REPORT_EVERY_MS        5000
#define ACK_WAIT_NS            (30LL * 1000 * 1000 * 1000)
#define URLS_MAX               16
#define NAME_MAX_BYTES         64

struct part {
    uint32_t id;
    natsSubscription *sub;
    uint64_t pending; /* messages left in the consumer after the last fetch */
    bool warned;      /* the consumer could not be created: said once */
};

/* One fetched batch on its way to the writer. */
struct batch {
    struct churn_event events[BATCH_EVENTS];
    struct churn_event_result results[BATCH_EVENTS];
    size_t n;
    struct churn_arena strings;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    enum churn_err err;
};

/* The message lists of one pass over the partitions, kept until the commit is acknowledged. */
struct sweep {
    size_t n_lists;
    natsMsgList *lists;           /* [n_parts] */
    bool (*good)[FETCH_MESSAGES]; /* [n_parts]: the message went into the batch */
};

struct churn_jsingest {
    struct churn_services *svc;
    struct churn_shard *owner; /* the table in force */
    uint64_t epoch;            /* of the table the partitions below follow */
    char shard[NAME_MAX_BYTES];
    char *urls_buf;
    const char *urls[URLS_MAX];
    int n_urls;
    struct part *parts;
    size_t n_parts;
    natsConnection *nc;
    jsCtx *js;
    pthread_t thread;
    atomic_bool stop;
    struct batch *batch;
    struct sweep *sweep;
    _Atomic uint64_t messages, accepted, duplicates, rejected, terminated, lag;
};

static void
sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Split "u1,u2" into js->urls (pointers into a private copy). */
static enum churn_err
parse_urls(struct churn_jsingest *js, const char *urls, char *errbuf, size_t errlen)
{
    if (!(js->urls_buf = churn_strdup(urls)))
        return churn_fail(errbuf, errlen, CHURN_ENOMEM, "out of memory");
    for (char *p = js->urls_buf; p && *p;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (!*p || js->n_urls == URLS_MAX || !strstr(p, "://"))
            return churn_fail(errbuf, errlen, CHURN_EINVAL,
                              "--cluster-nats: '%s' is not a list of up to %d nats://HOST:PORT "
                              "URLs separated by commas",
                              urls, URLS_MAX);
        js->urls[js->n_urls++] = p;
        p = comma ? comma + 1 : NULL;
    }
    if (js->n_urls == 0)
        return churn_fail(errbuf, errlen, CHURN_EINVAL, "--cluster-nats: empty");
    return CHURN_OK;
}

/* Connect (reconnecting forever once connected); false when the servers do not answer. */
static bool
connect_nats(struct churn_jsingest *js)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, js->urls, js->n_urls);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 250);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, 2000);
    if (s == NATS_OK)
        s = natsConnection_Connect(&js->nc, o);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&js->js, js->nc, NULL);
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        jsCtx_Destroy(js->js);
        js->js = NULL;
        natsConnection_Destroy(js->nc);
        js->nc = NULL;
        return false;
    }
    churn_log(CHURN_LOG_INFO, "jetstream_connected", CHURN_LF_STR("shard", js->shard),
              CHURN_LF_STR("url", js->urls[0]), CHURN_LF_INT("partitions", (long long)js->n_parts));
    return true;
}

/* The durable pull consumer of partition @p; false while its stream is not there. */
static bool
subscribe_part(struct churn_jsingest *js, struct part *p)
{
    char subject[64], stream[64], durable[NAME_MAX_BYTES + 16];
    snprintf(subject, sizeof(subject), "ingest.*.%" PRIu32, p->id);
    snprintf(stream, sizeof(stream), "INGEST_%" PRIu32, p->id);
    snprintf(durable, sizeof(durable), "churnd-%s", js->shard);
    /* bound to the durable consumer (tools/cluster makes them ahead); made here when it is
     * missing, then bound: a consumer the library makes while subscribing would be deleted
     * with the subscription, and the durable position with it */
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Consumer = durable;
    jsErrCode jerr = 0;
    natsStatus s = js_PullSubscribe(&p->sub, js->js, subject, durable, NULL, &so, &jerr);
    if (s != NATS_OK) {
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = durable;
        cc.AckPolicy = js_AckExplicit;
        cc.AckWait = ACK_WAIT_NS;
        cc.FilterSubject = subject;
        jsConsumerInfo *ci = NULL;
        s = js_AddConsumer(&ci, js->js, stream, &cc, NULL, &jerr);
        jsConsumerInfo_Destroy(ci);
        if (s == NATS_OK)
            s = js_PullSubscribe(&p->sub, js->js, subject, durable, NULL, &so, &jerr);
    }
    if (s == NATS_OK)
        return true;
    p->sub = NULL;
    if (!p->warned)
        churn_log(CHURN_LOG_WARN, "jetstream_consumer_pending", CHURN_LF_STR("stream", stream),
                  CHURN_LF_STR("error", natsStatus_GetText(s)), CHURN_LF_INT("js_error", jerr),
                  CHURN_LF_STR("msg", "retrying until the stream exists"));
    p->warned = true;
    return false;
}

/* Terminate @m (never redelivered) and say why. */
static void
terminate(struct churn_jsingest *js, natsMsg *m, const char *reason)
{
    natsMsg_Term(m, NULL);
    atomic_fetch_add(&js->terminated, 1);
    churn_log(CHURN_LOG_WARN, "jetstream_message_terminated",
              CHURN_LF_STR("subject", natsMsg_GetSubject(m)), CHURN_LF_STR("reason", reason));
}

/* The customer token of "ingest.<customer>.<partition>" into @out. */
static void
subject_customer(const char *subject, char *out, size_t len)
{
    const char *a = strchr(subject, '.');
    const char *b = a ? strrchr(subject, '.') : NULL;
    size_t n = a && b > a ? (size_t)(b - a - 1) : 0;
    snprintf(out, len, "%.*s", (int)n, a ? a + 1 : "");
}

/* Add @m's events to the batch; false (message terminated) when it is not a good one. */
static bool
add_message(struct churn_jsingest *js, struct batch *b, natsMsg *m)
{
    const uint8_t *data = (const uint8_t *)natsMsg_GetData(m);
    Churn__V1__RecordEventsRequest *req =
        churn__v1__record_events_request__unpack(NULL, (size_t)natsMsg_GetDataLength(m), data);
    char reason[CHURN_REASON_MAX + 320], cust[160];
    size_t n = req ? req->n_events + (req->event ? 1 : 0) : 0;
    if (req && n > 0 && n <= MESSAGE_EVENTS && b->n + n > BATCH_EVENTS) {
        churn__v1__record_events_request__free_unpacked(req, NULL);
        natsMsg_Nak(m, NULL); /* no room in this commit: redelivered */
        return false;
    }
    if (!req || n == 0 || n > MESSAGE_EVENTS) {
        snprintf(reason, sizeof(reason), "%s",
                 !req     ? "does not decode as a churn.v1.RecordEventsRequest"
                 : n == 0 ? "holds no event"
                          : "holds more events than one message may (1000)");
        if (req)
            churn__v1__record_events_request__free_unpacked(req, NULL);
        terminate(js, m, reason);
        return false;
    }
    subject_customer(natsMsg_GetSubject(m), cust, sizeof(cust));
    size_t start = b->n;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        const Churn__V1__Event *pe =
            req->event ? (i == 0 ? req->event : req->events[i - 1]) : req->events[i];
        char why[CHURN_REASON_MAX];
        const char *field = NULL;
        enum churn_err err =
            churn__event_from_proto(pe, &b->strings, &b->events[b->n], why, sizeof(why), &field);
        if (err == CHURN_ENOMEM && start > 0) {
            b->n = start; /* this commit's strings are full: redelivered for the next */
            churn__v1__record_events_request__free_unpacked(req, NULL);
            natsMsg_Nak(m, NULL);
            return false;
        }
        if (err == CHURN_OK && strcmp(b->events[b->n].customer_id, cust) != 0) {
            snprintf(reason, sizeof(reason),
                     "event %zu: customer_id '%.128s' differs from the subject's customer '%s'", i,
                     b->events[b->n].customer_id, cust);
            ok = false;
        } else if (err) {
            snprintf(reason, sizeof(reason), "event %zu: %s", i,
                     err == CHURN_ENOMEM ? "too large" : why);
            ok = false;
        } else {
            b->n++;
        }
    }
    churn__v1__record_events_request__free_unpacked(req, NULL);
    if (!ok) {
        b->n = start;
        terminate(js, m, reason);
    }
    return ok;
}

/* Writer thread: the batch committed (or failed). */
static void
batch_done(void *user, enum churn_err err, const struct churn_event_result *results, size_t n)
{
    (void)results;
    (void)n;
    struct batch *b = user;
    pthread_mutex_lock(&b->mu);
    b->err = err;
    b->done = true;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* Commit the batch durably; CHURN_OK once the writer committed it. */
static enum churn_err
commit(struct churn_jsingest *js, struct batch *b)
{
    b->done = false;
    enum churn_err err =
        churn_store_writer_submit(js->svc->writer, b->events, b->n, b->results, batch_done, b);
    if (err)
        return err;
    pthread_mutex_lock(&b->mu);
    while (!b->done)
        pthread_cond_wait(&b->cv, &b->mu);
    err = b->err;
    pthread_mutex_unlock(&b->mu);
    return err;
}

/* Count the outcome and rescore the customers with an accepted event. */
static void
account(struct churn_jsingest *js, struct batch *b)
{
    const char *ids[BATCH_EVENTS];
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        switch (b->results[i].status) {
        case CHURN_EVENT_ACCEPTED:
            atomic_fetch_add(&js->accepted, 1);
            churn_service_metrics_events(js->svc->metrics, 1, 0);
            if (k == 0 || strcmp(ids[k - 1], b->events[i].customer_id) != 0)
                ids[k++] = b->events[i].customer_id;
            break;
        case CHURN_EVENT_DUPLICATE:
            atomic_fetch_add(&js->duplicates, 1);
            churn_service_metrics_events(js->svc->metrics, 0, 1);
            break;
        case CHURN_EVENT_REJECTED:
            atomic_fetch_add(&js->rejected, 1);
            churn_service_metrics_rejected(js->svc->metrics, b->results[i].reason);
            churn_log(CHURN_LOG_WARN, "jetstream_event_rejected",
                      CHURN_LF_STR("customer_id", b->events[i].customer_id),
                      CHURN_LF_STR("event_id", b->events[i].event_id),
                      CHURN_LF_STR("reason", b->results[i].reason));
            break;
        }
    }
    if (k && js->svc->alerts)
        churn__alerts_rescore(js->svc->alerts, ids, k);
}

/* Fetch what partition @p has (no wait) into a new list of the sweep, and add its messages
 * to the batch; the number fetched. Good messages stay in the list for the ack. */
static size_t
fetch_part(struct churn_jsingest *js, struct part *p, struct sweep *sw)
{
    if (!p->sub && !subscribe_part(js, p))
        return 0;
    natsMsgList *list = &sw->lists[sw->n_lists];
    memset(list, 0, sizeof(*list));
    jsFetchRequest fr;
    jsFetchRequest_Init(&fr);
    fr.Batch = FETCH_MESSAGES;
    fr.NoWait = true;
    if (natsSubscription_FetchRequest(list, p->sub, &fr) != NATS_OK || list->Count == 0) {
        natsMsgList_Destroy(list);
        p->pending = 0;
        return 0;
    }
    bool *good = sw->good[sw->n_lists++];
    for (int i = 0; i < list->Count; i++)
        good[i] = add_message(js, js->batch, list->Msgs[i]);
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, list->Msgs[list->Count - 1]) == NATS_OK) {
        p->pending = meta->NumPending;
        jsMsgMetaData_Destroy(meta);
    }
    return (size_t)list->Count;
}

/* Commit the sweep's batch durably, then acknowledge its good messages (NAK them when the
 * commit failed: redelivered); the lists are released. */
static void
settle(struct churn_jsingest *js, struct sweep *sw)
{
    struct batch *b = js->batch;
    enum churn_err err = b->n ? commit(js, b) : CHURN_OK;
    for (size_t l = 0; l < sw->n_lists; l++) {
        natsMsgList *list = &sw->lists[l];
        for (int i = 0; i < list->Count; i++) {
            if (!sw->good[l][i])
                continue;
            if (err == CHURN_OK) {
                natsMsg_Ack(list->Msgs[i], NULL);
                atomic_fetch_add(&js->messages, 1);
            } else {
                natsMsg_Nak(list->Msgs[i], NULL);
            }
        }
        natsMsgList_Destroy(list);
    }
    sw->n_lists = 0;
    if (err)
        churn_log(CHURN_LOG_WARN, "jetstream_commit_failed",
                  CHURN_LF_STR("error", churn_strerror(err)),
                  CHURN_LF_STR("msg", "the messages were NAKed and will be redelivered"));
    else
        account(js, b);
    b->n = 0;
    churn_arena_reset(&b->strings);
}

/* One pass over the owned partitions from @next on, while the batch has room for another
 * fetch: one durable commit for all of it. The number of messages fetched. */
static size_t
sweep(struct churn_jsingest *js, size_t *next)
{
    struct sweep *sw = js->sweep;
    size_t got = 0, i = 0;
    for (; i < js->n_parts && !atomic_load(&js->stop); i++) {
        if (BATCH_EVENTS - js->batch->n < FETCH_MESSAGES * MESSAGE_EVENTS_TYPICAL)
            break; /* the rest on the next pass, from here */
        got += fetch_part(js, &js->parts[(*next + i) % js->n_parts], sw);
    }
    *next = js->n_parts ? (*next + i) % js->n_parts : 0;
    settle(js, sw);
    return got;
}

static void
report(struct churn_jsingest *js)
{
    uint64_t lag = 0, worst = 0;
    uint32_t worst_part = 0;
    for (size_t i = 0; i < js->n_parts; i++) {
        lag += js->parts[i].pending;
        if (js->parts[i].pending > worst) {
            worst = js->parts[i].pending;
            worst_part = js->parts[i].id;
        }
    }
    atomic_store(&js->lag, lag);
    churn_log(CHURN_LOG_INFO, "jetstream_ingest", CHURN_LF_STR("shard", js->shard),
              CHURN_LF_INT("messages", (long long)atomic_load(&js->messages)),
              CHURN_LF_INT("accepted", (long long)atomic_load(&js->accepted)),
              CHURN_LF_INT("duplicates", (long long)atomic_load(&js->duplicates)),
              CHURN_LF_INT("rejected", (long long)atomic_load(&js->rejected)),
              CHURN_LF_INT("terminated", (long long)atomic_load(&js->terminated)),
              CHURN_LF_INT("lag", (long long)lag), CHURN_LF_INT("lag_max", (long long)worst),
              CHURN_LF_INT("lag_max_partition", (long long)worst_part));
}

/* Drop partition @p: its subscription, and its durable consumer (a later owner of the
 * partition, this shard again included, starts at the stream's first message). */
static void
drop_part(struct churn_jsingest *js, struct part *p)
{
    natsSubscription_Destroy(p->sub);
    p->sub = NULL;
    char stream[64], durable[NAME_MAX_BYTES + 16];
    snprintf(stream, sizeof(stream), "INGEST_%" PRIu32, p->id);
    snprintf(durable, sizeof(durable), "churnd-%s", js->shard);
    jsErrCode jerr = 0;
    natsStatus s = js->js ? js_DeleteConsumer(js->js, stream, durable, NULL, &jerr) : NATS_OK;
    if (s != NATS_OK && jerr != JSConsumerNotFoundErr)
        churn_log(CHURN_LOG_WARN, "jetstream_consumer_not_deleted", CHURN_LF_STR("stream", stream),
                  CHURN_LF_STR("error", natsStatus_GetText(s)), CHURN_LF_INT("js_error", jerr));
}

/* New parts for the partitions @ids (ascending), keeping the subscriptions of those already
 * consumed; the others are dropped. Sizes the sweep for them. */
static enum churn_err
replace_parts(struct churn_jsingest *js, const uint32_t *ids, size_t n, size_t *added,
              size_t *dropped)
{
    size_t np = n ? n : 1;
    struct part *parts = churn_calloc(np, sizeof(*parts));
    natsMsgList *lists = churn_calloc(np, sizeof(*lists));
    bool(*good)[FETCH_MESSAGES] = churn_calloc(np, sizeof(*good));
    if (!parts || !lists || !good) {
        churn_free(parts);
        churn_free(lists);
        churn_free(good);
        return CHURN_ENOMEM;
    }
    size_t o = 0;
    *added = *dropped = 0;
    for (size_t i = 0; i < n; i++) {
        for (; o < js->n_parts && js->parts[o].id < ids[i]; o++, (*dropped)++)
            drop_part(js, &js->parts[o]);
        if (o < js->n_parts && js->parts[o].id == ids[i]) {
            parts[i] = js->parts[o++];
        } else {
            parts[i] = (struct part){.id = ids[i]};
            (*added)++;
        }
    }
    for (; o < js->n_parts; o++, (*dropped)++)
        drop_part(js, &js->parts[o]);
    churn_free(js->parts);
    churn_free(js->sweep->lists);
    churn_free(js->sweep->good);
    js->parts = parts;
    js->n_parts = n;
    js->sweep->lists = lists;
    js->sweep->good = good;
    return CHURN_OK;
}

/* Follow the table in force when a reload changed it (between passes: no batch in hand). */
static void
follow_table(struct churn_jsingest *js, size_t *next)
{
    uint64_t epoch = churn_shard_epoch(js->owner);
    if (epoch == js->epoch)
        return;
    uint32_t *ids = NULL;
    size_t n = 0, added = 0, dropped = 0;
    enum churn_err err = churn_shard_owned(js->owner, &ids, &n);
    if (!err)
        err = replace_parts(js, ids, n, &added, &dropped);
    churn_free(ids);
    if (err) {
        churn_log(CHURN_LOG_ERROR, "jetstream_partitions_unchanged",
                  CHURN_LF_STR("error", churn_strerror(err)),
                  CHURN_LF_STR("msg", "retrying on the next pass"));
        return;
    }
    js->epoch = epoch;
    *next = 0;
    churn_log(CHURN_LOG_INFO, "jetstream_partitions_changed", CHURN_LF_STR("shard", js->shard),
              CHURN_LF_INT("epoch", (long long)epoch), CHURN_LF_INT("partitions", (long long)n),
              CHURN_LF_INT("added", (long long)added), CHURN_LF_INT("dropped", (long long)dropped));
}

static void *
run(void *arg)
{
    struct churn_jsingest *js = arg;
    int64_t last_report = churn_now_ms();
    uint64_t last_total = 0;
    size_t next = 0; /* the partition the next pass starts from */
    long idle_ms = IDLE_SLEEP_MIN_MS;
    while (!atomic_load(&js->stop)) {
        if (!js->nc && !connect_nats(js)) {
            sleep_ms(RETRY_SLEEP_MS);
            continue;
        }
        follow_table(js, &next);
        size_t got = sweep(js, &next);
        bool missing = false;
        for (size_t i = 0; i < js->n_parts; i++)
            missing |= js->parts[i].sub == NULL;
        uint64_t total = atomic_load(&js->messages) + atomic_load(&js->terminated);
        if (churn_now_ms() - last_report >= REPORT_EVERY_MS && total != last_total) {
            report(js);
            last_report = churn_now_ms();
            last_total = total;
        }
        if (got == 0) {
            sleep_ms(missing ? RETRY_SLEEP_MS : idle_ms);
            idle_ms = idle_ms * 2 > IDLE_SLEEP_MAX_MS ? IDLE_SLEEP_MAX_MS : idle_ms * 2;
        } else {
            idle_ms = IDLE_SLEEP_MIN_MS;
        }
    }
    report(js);
    return NULL;
}

static void
free_sweep(struct sweep *sw)
{
    if (!sw)
        return;
    churn_free(sw->lists);
    churn_free(sw->good);
    churn_free(sw);
}

enum churn_err
churn_jsingest_start(struct churn_services *svc, struct churn_shard *shard, const char *urls,
                     struct churn_jsingest **out, char *errbuf, size_t errlen)
{
    struct churn_jsingest *js = churn_calloc(1, sizeof(*js));
    if (!js || !(js->batch = churn_calloc(1, sizeof(*js->batch)))) {
        churn_free(js);
        return churn_fail(errbuf, errlen, CHURN_ENOMEM, "out of memory");
    }
    js->svc = svc;
    js->owner = shard;
    js->epoch = churn_shard_epoch(shard);
    snprintf(js->shard, sizeof(js->shard), "%s", churn_shard_name(shard));
    churn_arena_init(&js->batch->strings, BATCH_ARENA);
    pthread_mutex_init(&js->batch->mu, NULL);
    pthread_cond_init(&js->batch->cv, NULL);
    enum churn_err err = parse_urls(js, urls, errbuf, errlen);
    uint32_t *ids = NULL;
    if (!err && (err = churn_shard_owned(shard, &ids, &js->n_parts)) != CHURN_OK)
        churn_fail(errbuf, errlen, err, "out of memory");
    if (!err && !(js->parts = churn_calloc(js->n_parts ? js->n_parts : 1, sizeof(*js->parts))))
        err = churn_fail(errbuf, errlen, CHURN_ENOMEM, "out of memory");
    for (size_t i = 0; !err && i < js->n_parts; i++)
        js->parts[i].id = ids[i];
    size_t np = js->n_parts ? js->n_parts : 1;
    if (!err && (!(js->sweep = churn_calloc(1, sizeof(*js->sweep))) ||
                 !(js->sweep->lists = churn_calloc(np, sizeof(*js->sweep->lists))) ||
                 !(js->sweep->good = churn_calloc(np, sizeof(*js->sweep->good)))))
        err = churn_fail(errbuf, errlen, CHURN_ENOMEM, "out of memory");
    churn_free(ids);
    if (!err && pthread_create(&js->thread, NULL, run, js) != 0)
        err = churn_fail(errbuf, errlen, CHURN_EIO, "cannot start the JetStream thread");
    if (err) {
        free_sweep(js->sweep);
        churn_arena_fini(&js->batch->strings);
        churn_free(js->batch);
        churn_free(js->parts);
        churn_free(js->urls_buf);
        churn_free(js);
        return err;
    }
    *out = js;
    return CHURN_OK;
}

void
churn_jsingest_stats(struct churn_jsingest *js, struct churn_jsingest_stats *out)
{
    out->messages = atomic_load(&js->messages);
    out->accepted = atomic_load(&js->accepted);
    out->duplicates = atomic_load(&js->duplicates);
    out->rejected = atomic_load(&js->rejected);
    out->terminated = atomic_load(&js->terminated);
    out->lag = atomic_load(&js->lag);
}

void
churn_jsingest_stop(struct churn_jsingest *js)
{
    if (!js)
        return;
    atomic_store(&js->stop, true);
    pthread_join(js->thread, NULL);
    for (size_t i = 0; i < js->n_parts; i++)
        natsSubscription_Destroy(js->parts[i].sub); /* the durable consumer stays */
    churn_nats_end(js->nc, js->js, NATS_TEARDOWN_MS);
    free_sweep(js->sweep);
    churn_arena_fini(&js->batch->strings);
    pthread_mutex_destroy(&js->batch->mu);
    pthread_cond_destroy(&js->batch->cv);
    churn_free(js->batch);
    churn_free(js->parts);
    churn_free(js->urls_buf);
    churn_free(js);
}
