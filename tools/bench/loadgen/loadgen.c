/*
 * loadgen.c - a load generator for churnd's streaming RPCs, on the project's own gRPC core
 * client, printing one JSON document. Threads each drive their own streams:
 *
 *   loadgen ingest --target H:P [--threads 4] [--streams 8] [--events 20000] [--customers 10000]
 *                  [--per-message 1]
 *       RecordEvents client streams (--per-message events in each message, up to 1000);
 *       events/s counted from the acknowledged summaries
 *       (durable group commit), and checks that every event was accepted.
 *   loadgen chat --target H:P [--threads 4] [--conversations 200] [--turns 20] [--window 1]
 *       AnalyzeChat bidi streams, --window turns in flight per stream (1: each turn waits for
 *       the previous assessment, as a chatbot does; more: a platform relaying many chats on
 *       one stream); turns/s and per-turn latency p50/p99 (send to assessment).
 *
 * Unique event ids come from --run (default: the process id and time), so reruns never
 * collide with earlier data.
 *
 * Through a cluster (issue 16) every stream carries x-customer-id, which the proxy routes
 * on; with --partitions P (the cluster's P) it also carries x-churn-partition, the routing
 * hint that spares the proxy its hash, and each ingest stream sends the events of one
 * partition's customers only, so that one shard owns the whole stream. A stream a shard
 * refuses naming the customer's owner (FAILED_PRECONDITION with x-churn-owner-address: a
 * stale proxy map, or --target a shard) is sent again once, to that owner ("followed").
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/cluster.h"
#include "churn/transport.h"
#include "churn_proto.h"
#include "../common/bench_stats.h"
#include "../common/chat_texts.h"

struct opts {
    const char *mode, *target;
    int threads, streams, conversations, turns, customers;
    long events;
    int per_message;
    int window;          /* chat: turns in flight per stream */
    uint32_t partitions; /* a cluster's P (0: no partition hint, customers mixed) */
    char run[64];
};

#define WINDOW_MAX 256

struct shared {
    const struct opts *o;
    struct churn_client *client;
    atomic_long sent, accepted, rejected, duplicates, failures, next_stream, followed;
    pthread_mutex_t mu;
    double *lat_us;
    size_t n_lat, cap_lat;
};

/* The customers of one ingest stream: all (mixed) or those of one partition. */
struct stream_customers {
    long *num; /* customer numbers (lg-cust-N); NULL: every customer, mixed */
    size_t n;
    char first[48];
    char part[12]; /* the partition as text, for x-churn-partition ("" without) */
};

/* With --partitions: the customers of partition @stream mod P (the next partition that has
 * some); otherwise every customer. 0, or -1 without memory. */
static int
stream_customers(const struct opts *o, long stream, struct stream_customers *sc)
{
    memset(sc, 0, sizeof(*sc));
    if (!o->partitions)
        return 0;
    if (!(sc->num = churn_malloc((size_t)o->customers * sizeof(long))))
        return -1;
    for (uint32_t k = 0; k < o->partitions && sc->n == 0; k++) {
        uint32_t p = (uint32_t)((stream + k) % o->partitions);
        for (long c = 0; c < o->customers; c++) {
            char id[48];
            int len = snprintf(id, sizeof(id), "lg-cust-%ld", c);
            if (churn_cluster_partition_of(id, (size_t)len, o->partitions) == p)
                sc->num[sc->n++] = c;
        }
        snprintf(sc->part, sizeof(sc->part), "%" PRIu32, p);
    }
    snprintf(sc->first, sizeof(sc->first), "lg-cust-%ld", sc->n ? sc->num[0] : 0L);
    return 0;
}

/* Pack events @first..@first+@n-1 of @stream (to customers @sc) into one RecordEventsRequest. */
static size_t
pack_events(const struct shared *sh, long stream, const struct stream_customers *sc, long first,
            int n, uint8_t *buf, size_t cap)
{
    enum { MAX_PER = 1000 };
    static _Thread_local char eid[MAX_PER][96], cid[MAX_PER][48];
    static _Thread_local Churn__V1__Event ev[MAX_PER];
    static _Thread_local Churn__V1__Event *evp[MAX_PER];
    Churn__V1__Event__Login login = CHURN__V1__EVENT__LOGIN__INIT;
    Churn__V1__Event__Order order = CHURN__V1__EVENT__ORDER__INIT;
    order.amount = 12.5;
    order.status = CHURN__V1__ORDER_STATUS__ORDER_STATUS_COMPLETED;
    int64_t now = churn_now_ms();
    for (int k = 0; k < n && k < MAX_PER; k++) {
        long i = first + k;
        snprintf(eid[k], sizeof(eid[k]), "lg-%s-%ld-%ld", sh->o->run, stream, i);
        long c = sc->num ? sc->num[(size_t)i % sc->n] : (stream * 7919 + i) % sh->o->customers;
        snprintf(cid[k], sizeof(cid[k]), "lg-cust-%ld", c);
        churn__v1__event__init(&ev[k]);
        ev[k].event_id = eid[k];
        ev[k].customer_id = cid[k];
        ev[k].occurred_at_ms = now - (i % 90) * CHURN_MS_PER_DAY;
        if (i % 4 == 0) {
            ev[k].kind_case = CHURN__V1__EVENT__KIND_ORDER;
            ev[k].order = &order;
        } else {
            ev[k].kind_case = CHURN__V1__EVENT__KIND_LOGIN;
            ev[k].login = &login;
        }
        evp[k] = &ev[k];
    }
    Churn__V1__RecordEventsRequest req = CHURN__V1__RECORD_EVENTS_REQUEST__INIT;
    if (n == 1) {
        req.event = evp[0];
    } else {
        req.n_events = (size_t)n;
        req.events = evp;
    }
    if (protobuf_c_message_get_packed_size(&req.base) > cap)
        return 0;
    return protobuf_c_message_pack(&req.base, buf);
}

/* The headers a cluster routes @st on: x-customer-id @cust (NULL: none, a single server) and
 * the x-churn-partition hint @part ("" : none). */
static void
set_routing(struct churn_client_stream *st, const char *cust, const char *part)
{
    if (cust)
        churn_client_stream_set_header(st, "x-customer-id", cust);
    if (*part)
        churn_client_stream_set_header(st, "x-churn-partition", part);
}

/* On a refusal naming the customer's owner (FAILED_PRECONDITION and x-churn-owner-address): a
 * client to that owner, for one more attempt, and @st cleared; NULL otherwise. */
static struct churn_client *
follow_owner(struct shared *sh, struct churn_client_status *st)
{
    struct churn_client *c = NULL;
    if (st->code != 9 || !st->owner_address || churn_client_open(st->owner_address, &c))
        return NULL;
    atomic_fetch_add(&sh->followed, 1);
    churn_client_status_clear(st);
    *st = (struct churn_client_status){0};
    return c;
}

/* Ingest stream @s of @sc's customers on @client; its status into @st. Returns the events
 * sent (the summary counted when it came). */
static long
ingest_stream(struct shared *sh, struct churn_client *client, long s,
              const struct stream_customers *sc, struct churn_client_status *st)
{
    static _Thread_local uint8_t buf[256 * 1024];
    long per_stream = sh->o->events / sh->o->streams, sent = 0;
    int per = sh->o->per_message;
    struct churn_client_stream *cs;
    if (churn_client_stream_open(client, "/churn.v1.IngestService/RecordEvents", 600000, &cs) !=
        CHURN_OK) {
        st->code = 14; /* UNAVAILABLE: no stream */
        return 0;
    }
    set_routing(cs, sc->num ? sc->first : NULL, sc->part);
    for (long i = 0; i < per_stream; i += per) {
        int k = per_stream - i < per ? (int)(per_stream - i) : per;
        size_t n = pack_events(sh, s, sc, i, k, buf, sizeof(buf));
        if (!n || churn_client_stream_send(cs, buf, n) != CHURN_OK)
            break;
        sent += k;
    }
    churn_client_stream_close_send(cs);
    void *msg;
    size_t len;
    if (churn_client_stream_recv(cs, &msg, &len) == CHURN_OK) {
        Churn__V1__RecordEventsResponse *r =
            churn__v1__record_events_response__unpack(NULL, len, msg);
        if (r) {
            atomic_fetch_add(&sh->accepted, r->accepted);
            atomic_fetch_add(&sh->rejected, r->rejected);
            atomic_fetch_add(&sh->duplicates, r->duplicates);
            churn__v1__record_events_response__free_unpacked(r, NULL);
        }
        churn_free(msg);
    }
    churn_client_stream_finish(cs, false, st);
    return sent;
}

static void *
ingest_thread(void *arg)
{
    struct shared *sh = arg;
    for (;;) {
        long s = atomic_fetch_add(&sh->next_stream, 1);
        if (s >= sh->o->streams)
            break;
        struct stream_customers sc;
        if (stream_customers(sh->o, s, &sc) != 0 || (sh->o->partitions && sc.n == 0)) {
            churn_free(sc.num);
            atomic_fetch_add(&sh->failures, 1);
            continue;
        }
        struct churn_client_status status = {0};
        long sent = ingest_stream(sh, sh->client, s, &sc, &status);
        struct churn_client *owner = follow_owner(sh, &status); /* refused: nothing applied */
        if (owner) {
            sent = ingest_stream(sh, owner, s, &sc, &status);
            churn_client_close(owner);
        }
        atomic_fetch_add(&sh->sent, sent);
        if (status.code != 0) {
            fprintf(stderr, "loadgen: stream %ld: status %d %s\n", s, status.code,
                    status.details ? status.details : "");
            atomic_fetch_add(&sh->failures, 1);
        }
        churn_client_status_clear(&status);
        churn_free(sc.num);
    }
    return NULL;
}

static void
add_latency(struct shared *sh, const double *lat, size_t n)
{
    pthread_mutex_lock(&sh->mu);
    if (sh->n_lat + n > sh->cap_lat) {
        size_t cap = (sh->n_lat + n) * 2;
        double *p = churn_realloc(sh->lat_us, cap * sizeof(double));
        if (!p) {
            pthread_mutex_unlock(&sh->mu);
            return;
        }
        sh->lat_us = p;
        sh->cap_lat = cap;
    }
    memcpy(sh->lat_us + sh->n_lat, lat, n * sizeof(double));
    sh->n_lat += n;
    pthread_mutex_unlock(&sh->mu);
}

/* Conversation @c on @client: its turn latencies into @lat; how many turns were answered.
 * Its status into @st. */
static size_t
chat_stream(struct shared *sh, struct churn_client *client, long c, double *lat,
            struct churn_client_status *st)
{
    int turns = sh->o->turns;
    uint8_t buf[2048];
    struct churn_client_stream *cs;
    if (churn_client_stream_open(client, "/churn.v1.ChatService/AnalyzeChat", 600000, &cs) !=
        CHURN_OK) {
        st->code = 14; /* UNAVAILABLE: no stream */
        return 0;
    }
    char conv[96], cust[64];
    snprintf(conv, sizeof(conv), "lg-%s-%ld", sh->o->run, c);
    snprintf(cust, sizeof(cust), "cust-%07ld", c % (sh->o->customers ? sh->o->customers : 1));
    char part[12] = "";
    if (sh->o->partitions)
        snprintf(part, sizeof(part), "%" PRIu32,
                 churn_cluster_partition_of(cust, strlen(cust), sh->o->partitions));
    set_routing(cs, cust, part); /* a cluster routes on them */
    /* up to --window turns in flight on the stream (1: send, wait, send...) */
    int window = sh->o->window > 0 ? sh->o->window : 1;
    int64_t sent_at[WINDOW_MAX];
    size_t done = 0;
    int sent = 0;
    bool ok = true;
    while (ok && (int)done < turns) {
        while (ok && sent < turns && sent - (int)done < window) {
            int t = sent;
            Churn__V1__AnalyzeChatRequest req = CHURN__V1__ANALYZE_CHAT_REQUEST__INIT;
            req.conversation_id = conv;
            req.customer_id = cust;
            req.turn_sequence = (uint64_t)t + 1;
            req.role = t % 3 == 0 ? CHURN__V1__CHAT_ROLE__CHAT_ROLE_BOT
                                  : CHURN__V1__CHAT_ROLE__CHAT_ROLE_CUSTOMER;
            req.text = (char *)bench_chat_texts[(size_t)(c + t) % BENCH_N_CHAT_TEXTS];
            size_t n = protobuf_c_message_pack(&req.base, buf);
            sent_at[t % WINDOW_MAX] = churn_mono_ns();
            ok = churn_client_stream_send(cs, buf, n) == CHURN_OK;
            sent += ok;
        }
        void *msg;
        size_t len;
        if (!ok || churn_client_stream_recv(cs, &msg, &len) != CHURN_OK)
            break;
        lat[done] = (double)(churn_mono_ns() - sent_at[done % WINDOW_MAX]) / 1000.0;
        done++;
        churn_free(msg);
    }
    churn_client_stream_close_send(cs);
    churn_client_stream_finish(cs, false, st);
    return done;
}

static void *
chat_thread(void *arg)
{
    struct shared *sh = arg;
    double *lat = churn_calloc((size_t)sh->o->turns, sizeof(double));
    for (;;) {
        long c = atomic_fetch_add(&sh->next_stream, 1);
        if (c >= sh->o->conversations || !lat)
            break;
        struct churn_client_status status = {0};
        size_t done = chat_stream(sh, sh->client, c, lat, &status);
        struct churn_client *owner = done ? NULL : follow_owner(sh, &status);
        if (owner) { /* refused at its first turn: the conversation again, at the owner */
            done = chat_stream(sh, owner, c, lat, &status);
            churn_client_close(owner);
        }
        atomic_fetch_add(&sh->sent, (long)done);
        if (status.code != 0 || done != (size_t)sh->o->turns)
            atomic_fetch_add(&sh->failures, 1);
        churn_client_status_clear(&status);
        add_latency(sh, lat, done);
    }
    churn_free(lat);
    return NULL;
}

static int
usage(void)
{
    fputs("usage: loadgen ingest|chat --target HOST:PORT [--threads N] [--streams N] "
          "[--events N]\n               [--per-message N] [--customers N] [--conversations N] "
          "[--turns N] "
          "[--window N] [--run ID]\n               [--partitions P]\n",
          stderr);
    return 2;
}

int
main(int argc, char **argv)
{
    struct opts o = {.threads = 4,
                     .streams = 8,
                     .events = 20000,
                     .customers = 10000,
                     .conversations = 200,
                     .turns = 20,
                     .per_message = 1,
                     .window = 1};
    snprintf(o.run, sizeof(o.run), "%d-%lld", (int)getpid(), (long long)churn_now_ms());
    if (argc < 2)
        return usage();
    o.mode = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        char *end;
        long n = strtol(v, &end, 10);
        bool num = *end == '\0' && n > 0;
        if (strcmp(k, "--target") == 0)
            o.target = v;
        else if (strcmp(k, "--run") == 0)
            snprintf(o.run, sizeof(o.run), "%s", v);
        else if (!num)
            return usage();
        else if (strcmp(k, "--threads") == 0)
            o.threads = (int)n;
        else if (strcmp(k, "--streams") == 0)
            o.streams = (int)n;
        else if (strcmp(k, "--events") == 0)
            o.events = n;
        else if (strcmp(k, "--customers") == 0)
            o.customers = (int)n;
        else if (strcmp(k, "--conversations") == 0)
            o.conversations = (int)n;
        else if (strcmp(k, "--turns") == 0)
            o.turns = (int)n;
        else if (strcmp(k, "--per-message") == 0 && n <= 1000)
            o.per_message = (int)n;
        else if (strcmp(k, "--window") == 0 && n <= WINDOW_MAX)
            o.window = (int)n;
        else if (strcmp(k, "--partitions") == 0 && n <= CHURN_CLUSTER_PARTITIONS_MAX)
            o.partitions = (uint32_t)n;
        else
            return usage();
    }
    bool ingest = strcmp(o.mode, "ingest") == 0;
    if (!o.target || (!ingest && strcmp(o.mode, "chat") != 0) || o.threads > 256)
        return usage();
    struct shared sh = {.o = &o};
    pthread_mutex_init(&sh.mu, NULL);
    if (churn_client_open(o.target, &sh.client) != CHURN_OK) {
        fprintf(stderr, "loadgen: cannot open a channel to %s\n", o.target);
        return 3;
    }
    pthread_t th[256];
    int64_t t0 = churn_mono_ns();
    for (int i = 0; i < o.threads; i++)
        pthread_create(&th[i], NULL, ingest ? ingest_thread : chat_thread, &sh);
    for (int i = 0; i < o.threads; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(churn_mono_ns() - t0) / 1e9;
    if (ingest) {
        printf("{\"mode\":\"ingest\",\"threads\":%d,\"streams\":%d,\"events_sent\":%ld,"
               "\"accepted\":%ld,\"duplicates\":%ld,\"rejected\":%ld,\"failed_streams\":%ld,"
               "\"followed\":%ld,\"seconds\":%.3f,\"events_per_s\":%.0f}\n",
               o.threads, o.streams, atomic_load(&sh.sent), atomic_load(&sh.accepted),
               atomic_load(&sh.duplicates), atomic_load(&sh.rejected), atomic_load(&sh.failures),
               atomic_load(&sh.followed), secs, (double)atomic_load(&sh.accepted) / secs);
    } else {
        qsort(sh.lat_us, sh.n_lat, sizeof(double), bench_cmp_double);
        printf(
            "{\"mode\":\"chat\",\"threads\":%d,\"conversations\":%d,\"window\":%d,"
            "\"turns\":%ld,\"failed_streams\":%ld,\"followed\":%ld,\"seconds\":%.3f,"
            "\"turns_per_s\":%.0f,"
            "\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f}}\n",
            o.threads, o.conversations, o.window, atomic_load(&sh.sent), atomic_load(&sh.failures),
            atomic_load(&sh.followed), secs, (double)atomic_load(&sh.sent) / secs,
            bench_percentile(sh.lat_us, sh.n_lat, 0.5), bench_percentile(sh.lat_us, sh.n_lat, 0.9),
            bench_percentile(sh.lat_us, sh.n_lat, 0.99), sh.n_lat ? sh.lat_us[sh.n_lat - 1] : NAN);
    }
    churn_client_close(sh.client);
    churn_free(sh.lat_us);
    bool ok = atomic_load(&sh.failures) == 0 &&
              (!ingest ||
               atomic_load(&sh.accepted) + atomic_load(&sh.duplicates) == atomic_load(&sh.sent));
    return ok ? 0 : 1;
}
