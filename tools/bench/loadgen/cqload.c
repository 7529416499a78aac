/*
 * cqload.c - an asynchronous load generator for bidirectional streams, written directly on
 * gRPC core's completion queue (like tools/bench/echo/echo_server, and unlike loadgen, whose
 * project client is blocking and costs a thread wake-up per message). Each thread owns one
 * completion queue and one connection and keeps --streams streams open at once; each stream
 * is one conversation of --turns turns with up to --window turns in flight. When a
 * conversation ends its stream closes and the next one opens, until --conversations per
 * thread are done. Prints one JSON document: turns/s and per-turn latency (send to answer).
 *
 *   cqload chat --target H:P [--threads 2] [--streams 64] [--conversations 640] [--turns 100]
 *               [--window 1] [--customers 20000] [--run ID] [--partitions P]
 *       AnalyzeChat turns to churnd (every third turn a bot's, the rest a customer's); each
 *       answer is decoded and its conversation and turn sequence checked.
 *   cqload echo --target H:P [same options]
 *       the same request bytes to echo_server's bidi method /bench.Echo/Stream, which sends
 *       each message back: the bare gRPC core ceiling for the same traffic.
 *
 * Every stream carries x-customer-id (a cluster's proxy routes on it, issue 16), and with
 * --partitions P (the cluster's P) the routing hint x-churn-partition too. A conversation a
 * shard refuses at its first turn naming the customer's owner (FAILED_PRECONDITION with
 * x-churn-owner-address) is sent again once, to that owner, on a channel the thread keeps for
 * it ("followed").
 */
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "churn/clock.h"
#include "churn/cluster.h"
#include "churn_proto.h"
#include "../common/bench_stats.h"
#include "../common/chat_texts.h"

#define WINDOW_MAX  256
#define STREAMS_MAX 4096
#define OWNERS_MAX  16 /* owners' channels a thread keeps (issue 16) */
#define ADDR_MAX    256

struct opts {
    bool echo;
    const char *target;
    int threads, streams, conversations, turns, window, customers;
    uint32_t partitions; /* a cluster's P: send x-churn-partition (0: no hint) */
    char run[64];
};

enum tag_kind { TAG_INIT, TAG_SEND, TAG_RECV, TAG_CLOSE, TAG_STATUS };

struct stream;

struct tag {
    struct stream *s;
    enum tag_kind kind;
};

struct stream {
    struct worker *w;
    grpc_call *call;
    long conversation;
    char conv[96], cust[64];
    int sent, answered, outstanding; /* outstanding: batches not yet completed */
    bool sending, close_sent, failed;
    grpc_byte_buffer *recv_buf;
    grpc_metadata_array initial_md, trailing_md;
    grpc_metadata routing_md[2]; /* x-customer-id and x-churn-partition (issue 16) */
    bool followed;               /* sent again to the owner a refusal named */
    char part[12];
    grpc_status_code status;
    grpc_slice details;
    int64_t sent_at[WINDOW_MAX];
    struct tag t_init, t_send, t_recv, t_close, t_status;
    uint8_t out[2048];
};

struct worker {
    const struct opts *o;
    int index;
    grpc_channel *channel;
    grpc_completion_queue *cq;
    grpc_slice method;
    long next_conversation, conversations_end;
    int open;
    long turns, failures, followed;
    struct {
        char addr[ADDR_MAX];
        grpc_channel *channel;
    } owners[OWNERS_MAX];
    int n_owners;
    double *lat;
    size_t n_lat, cap_lat;
    struct stream *streams;
};

static bool
start_batch(struct stream *s, const grpc_op *ops, size_t n, struct tag *t)
{
    if (grpc_call_start_batch(s->call, ops, n, t, NULL) != GRPC_CALL_OK) {
        s->failed = true;
        return false; /* a failed start never completes */
    }
    s->outstanding++;
    return true;
}

static void
send_turn(struct stream *s)
{
    int t = s->sent;
    Churn__V1__AnalyzeChatRequest req = CHURN__V1__ANALYZE_CHAT_REQUEST__INIT;
    req.conversation_id = s->conv;
    req.customer_id = s->cust;
    req.turn_sequence = (uint64_t)t + 1;
    req.role =
        t % 3 == 0 ? CHURN__V1__CHAT_ROLE__CHAT_ROLE_BOT : CHURN__V1__CHAT_ROLE__CHAT_ROLE_CUSTOMER;
    req.text = (char *)bench_chat_texts[(size_t)(s->conversation + t) % BENCH_N_CHAT_TEXTS];
    size_t n = protobuf_c_message_pack(&req.base, s->out);
    grpc_slice slice = grpc_slice_from_copied_buffer((const char *)s->out, n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    s->sent_at[t % WINDOW_MAX] = churn_mono_ns();
    if (start_batch(s, &op, 1, &s->t_send)) {
        s->sending = true;
        s->sent++;
    }
    grpc_byte_buffer_destroy(bb); /* the call holds its own reference */
}

/* Sends what the window allows, or the half-close once every turn is out. */
static void
pump(struct stream *s)
{
    if (s->sending || s->failed)
        return;
    if (s->sent < s->w->o->turns && s->sent - s->answered < s->w->o->window) {
        send_turn(s);
    } else if (s->sent == s->w->o->turns && !s->close_sent) {
        grpc_op op;
        memset(&op, 0, sizeof(op));
        op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        s->close_sent = true;
        start_batch(s, &op, 1, &s->t_close);
    }
}

static void
post_recv(struct stream *s)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv_buf;
    start_batch(s, &op, 1, &s->t_recv);
}

/* A channel to @target: one connection of its own (a thread's). */
static grpc_channel *
open_channel(const char *target)
{
    grpc_arg args[2];
    memset(args, 0, sizeof(args));
    args[0].type = GRPC_ARG_INTEGER; /* one connection per thread */
    args[0].key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    args[0].value.integer = 1;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[1].value.integer = 16 * 1024 * 1024;
    grpc_channel_args ca = {.num_args = 2, .args = args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(target, creds, &ca);
    grpc_channel_credentials_release(creds);
    return ch;
}

static void stream_start(struct worker *w, struct stream *s, long conversation,
                         grpc_channel *channel, bool followed);

static bool
stream_open(struct worker *w, struct stream *s)
{
    if (w->next_conversation >= w->conversations_end)
        return false;
    stream_start(w, s, w->next_conversation++, w->channel, false);
    return true;
}

/* Conversation @conversation on @channel (@followed: the second attempt, at an owner). */
static void
stream_start(struct worker *w, struct stream *s, long conversation, grpc_channel *channel,
             bool followed)
{
    memset(s, 0, offsetof(struct stream, sent_at));
    s->w = w;
    s->conversation = conversation;
    s->followed = followed;
    snprintf(s->conv, sizeof(s->conv), "cq-%s-%ld", w->o->run, s->conversation);
    snprintf(s->cust, sizeof(s->cust), "cust-%07ld",
             s->conversation % (w->o->customers > 0 ? w->o->customers : 1));
    s->t_init = (struct tag){s, TAG_INIT};
    s->t_send = (struct tag){s, TAG_SEND};
    s->t_recv = (struct tag){s, TAG_RECV};
    s->t_close = (struct tag){s, TAG_CLOSE};
    s->t_status = (struct tag){s, TAG_STATUS};
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    s->call = grpc_channel_create_call(channel, NULL, GRPC_PROPAGATE_DEFAULTS, w->cq, w->method,
                                       NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    w->open++;
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    ops[0].data.recv_status_on_client.status = &s->status;
    ops[0].data.recv_status_on_client.status_details = &s->details;
    if (!start_batch(s, ops, 1, &s->t_status))
        return;
    memset(ops, 0, sizeof(ops));
    s->routing_md[0].key = grpc_slice_from_static_string("x-customer-id");
    s->routing_md[0].value = grpc_slice_from_static_string(s->cust);
    size_t n_md = 1;
    if (w->o->partitions) {
        snprintf(s->part, sizeof(s->part), "%" PRIu32,
                 churn_cluster_partition_of(s->cust, strlen(s->cust), w->o->partitions));
        s->routing_md[1].key = grpc_slice_from_static_string("x-churn-partition");
        s->routing_md[1].value = grpc_slice_from_static_string(s->part);
        n_md = 2;
    }
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = n_md;
    ops[0].data.send_initial_metadata.metadata = s->routing_md;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    if (!start_batch(s, ops, 2, &s->t_init))
        return;
    post_recv(s);
    pump(s);
}

static void
add_latency(struct worker *w, double us)
{
    if (w->n_lat == w->cap_lat) {
        size_t cap = w->cap_lat ? w->cap_lat * 2 : 65536;
        double *p = realloc(w->lat, cap * sizeof(double));
        if (!p)
            return;
        w->lat = p;
        w->cap_lat = cap;
    }
    w->lat[w->n_lat++] = us;
}

static bool
read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* Checks one answer without decoding all of it (a chat platform would read every field; the
 * load generator only needs to know it is the right one): in chat mode its top-level fields
 * must be well formed, conversation_id (1) this stream's, turn_sequence (2) the next turn, and
 * no error (3). */
static bool
answer_ok(struct stream *s, grpc_byte_buffer *bb)
{
    if (s->w->o->echo)
        return true;
    grpc_byte_buffer_reader rd;
    if (!grpc_byte_buffer_reader_init(&rd, bb))
        return false;
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    const uint8_t *p = GRPC_SLICE_START_PTR(all), *end = p + GRPC_SLICE_LENGTH(all);
    bool ok = true, conv_ok = false;
    uint64_t seq = 0;
    while (ok && p < end) {
        uint64_t key, v;
        ok = read_varint(&p, end, &key);
        switch (ok ? key & 7 : 9) {
        case 0:
            ok = read_varint(&p, end, &v);
            if (key >> 3 == 2)
                seq = v;
            break;
        case 1:
            ok = end - p >= 8;
            p += ok ? 8 : 0;
            break;
        case 2:
            ok = read_varint(&p, end, &v) && v <= (uint64_t)(end - p);
            if (ok && key >> 3 == 1)
                conv_ok = v == strlen(s->conv) && memcmp(p, s->conv, v) == 0;
            if (key >> 3 == 3)
                ok = false; /* the turn was refused */
            p += ok ? v : 0;
            break;
        case 5:
            ok = end - p >= 4;
            p += ok ? 4 : 0;
            break;
        default:
            ok = false;
        }
    }
    grpc_slice_unref(all);
    return ok && conv_ok && seq == (uint64_t)s->answered + 1;
}

/* The owner a refusal of @s named (FAILED_PRECONDITION, x-churn-owner-address) into @addr. */
static bool
owner_hint(const struct stream *s, char *addr, size_t len)
{
    if (s->status != GRPC_STATUS_FAILED_PRECONDITION || s->answered != 0)
        return false;
    for (size_t i = 0; i < s->trailing_md.count; i++) {
        const grpc_metadata *m = &s->trailing_md.metadata[i];
        if (grpc_slice_str_cmp(m->key, "x-churn-owner-address") == 0 &&
            GRPC_SLICE_LENGTH(m->value) > 0 && GRPC_SLICE_LENGTH(m->value) < len) {
            memcpy(addr, GRPC_SLICE_START_PTR(m->value), GRPC_SLICE_LENGTH(m->value));
            addr[GRPC_SLICE_LENGTH(m->value)] = '\0';
            return true;
        }
    }
    return false;
}

/* The thread's channel to @addr (opened the first time; NULL past OWNERS_MAX owners). */
static grpc_channel *
owner_channel(struct worker *w, const char *addr)
{
    for (int i = 0; i < w->n_owners; i++)
        if (strcmp(w->owners[i].addr, addr) == 0)
            return w->owners[i].channel;
    if (w->n_owners == OWNERS_MAX)
        return NULL;
    snprintf(w->owners[w->n_owners].addr, ADDR_MAX, "%s", addr);
    w->owners[w->n_owners].channel = open_channel(addr);
    return w->owners[w->n_owners++].channel;
}

static void
stream_finish(struct worker *w, struct stream *s)
{
    char owner[ADDR_MAX];
    grpc_channel *follow =
        !s->followed && owner_hint(s, owner, sizeof(owner)) ? owner_channel(w, owner) : NULL;
    if (!follow && (s->failed || s->status != GRPC_STATUS_OK || s->answered != w->o->turns)) {
        char *d = grpc_slice_to_c_string(s->details);
        fprintf(stderr, "cqload: conversation %ld: status %d (%s), %d of %d turns answered\n",
                s->conversation, (int)s->status, d, s->answered, w->o->turns);
        gpr_free(d);
        w->failures++;
    }
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_call_unref(s->call);
    s->call = NULL;
    w->open--;
    if (follow) { /* refused at its first turn: once more, at the owner */
        w->followed++;
        stream_start(w, s, s->conversation, follow, true);
    } else {
        stream_open(w, s);
    }
}

static void
on_event(struct worker *w, struct tag *t, bool ok)
{
    struct stream *s = t->s;
    s->outstanding--;
    switch (t->kind) {
    case TAG_INIT:
    case TAG_CLOSE:
        if (!ok)
            s->failed = true;
        break;
    case TAG_SEND:
        s->sending = false;
        if (!ok)
            s->failed = true;
        pump(s);
        break;
    case TAG_RECV:
        if (ok && s->recv_buf) {
            if (s->answered < s->sent) {
                int64_t now = churn_mono_ns();
                add_latency(w, (double)(now - s->sent_at[s->answered % WINDOW_MAX]) / 1000.0);
            }
            if (!answer_ok(s, s->recv_buf))
                s->failed = true;
            grpc_byte_buffer_destroy(s->recv_buf);
            s->recv_buf = NULL;
            s->answered++;
            w->turns++;
            post_recv(s);
            pump(s);
        }
        break;
    case TAG_STATUS:
        break;
    }
    if (s->outstanding == 0 && s->call)
        stream_finish(w, s);
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->o->streams; i++)
        if (!stream_open(w, &w->streams[i]))
            break;
    while (w->open > 0) {
        grpc_event ev =
            grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            on_event(w, ev.tag, ev.success != 0);
        else if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
    }
    return NULL;
}

static int
usage(void)
{
    fputs("usage: cqload chat|echo --target HOST:PORT [--threads N] [--streams N] "
          "[--conversations N] [--turns N] [--window N] [--customers N] [--run ID]\n"
          "              [--partitions P]\n",
          stderr);
    return 2;
}

int
main(int argc, char **argv)
{
    struct opts o = {.threads = 2,
                     .streams = 64,
                     .conversations = 640,
                     .turns = 100,
                     .window = 1,
                     .customers = 20000};
    snprintf(o.run, sizeof(o.run), "%d-%ld", (int)getpid(), (long)time(NULL));
    if (argc < 2 || (strcmp(argv[1], "chat") != 0 && strcmp(argv[1], "echo") != 0))
        return usage();
    o.echo = strcmp(argv[1], "echo") == 0;
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc)
            return usage();
        const char *k = argv[i], *v = argv[i + 1];
        char *end;
        long n = strtol(v, &end, 10);
        bool num = *end == '\0' && n > 0 && n <= 100000000;
        if (strcmp(k, "--target") == 0)
            o.target = v;
        else if (strcmp(k, "--run") == 0)
            snprintf(o.run, sizeof(o.run), "%s", v);
        else if (!num)
            return usage();
        else if (strcmp(k, "--threads") == 0 && n <= 64)
            o.threads = (int)n;
        else if (strcmp(k, "--streams") == 0 && n <= STREAMS_MAX)
            o.streams = (int)n;
        else if (strcmp(k, "--conversations") == 0)
            o.conversations = (int)n;
        else if (strcmp(k, "--turns") == 0)
            o.turns = (int)n;
        else if (strcmp(k, "--window") == 0 && n <= WINDOW_MAX)
            o.window = (int)n;
        else if (strcmp(k, "--partitions") == 0 && n <= CHURN_CLUSTER_PARTITIONS_MAX)
            o.partitions = (uint32_t)n;
        else if (strcmp(k, "--customers") == 0)
            o.customers = (int)n;
        else
            return usage();
    }
    if (!o.target)
        return usage();
    grpc_init();
    struct worker *ws = calloc((size_t)o.threads, sizeof(*ws));
    pthread_t th[64];
    long per = o.conversations / o.threads;
    for (int i = 0; i < o.threads; i++) {
        struct worker *w = &ws[i];
        w->o = &o;
        w->index = i;
        w->channel = open_channel(o.target);
        w->cq = grpc_completion_queue_create_for_next(NULL);
        w->method = grpc_slice_from_static_string(o.echo ? "/bench.Echo/Stream"
                                                         : "/churn.v1.ChatService/AnalyzeChat");
        w->next_conversation = per * i;
        w->conversations_end = i == o.threads - 1 ? o.conversations : per * (i + 1);
        w->streams = calloc((size_t)o.streams, sizeof(struct stream));
        if (!w->streams)
            return 3;
    }
    int64_t t0 = churn_mono_ns();
    for (int i = 0; i < o.threads; i++)
        pthread_create(&th[i], NULL, worker_main, &ws[i]);
    long turns = 0, failures = 0, followed = 0;
    size_t n_lat = 0;
    for (int i = 0; i < o.threads; i++) {
        pthread_join(th[i], NULL);
        turns += ws[i].turns;
        failures += ws[i].failures;
        followed += ws[i].followed;
        n_lat += ws[i].n_lat;
    }
    double secs = (double)(churn_mono_ns() - t0) / 1e9;
    double *lat = malloc((n_lat ? n_lat : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < o.threads; i++) {
        if (lat && ws[i].n_lat)
            memcpy(lat + k, ws[i].lat, ws[i].n_lat * sizeof(double));
        k += ws[i].n_lat;
    }
    if (lat)
        qsort(lat, n_lat, sizeof(double), bench_cmp_double);
    printf("{\"mode\":\"%s\",\"threads\":%d,\"streams_per_thread\":%d,\"conversations\":%d,"
           "\"turns_per_conversation\":%d,\"window\":%d,\"turns\":%ld,\"failed_conversations\":%ld,"
           "\"followed\":%ld,\"seconds\":%.3f,\"turns_per_s\":%.0f,",
           o.echo ? "echo" : "chat", o.threads, o.streams, o.conversations, o.turns, o.window,
           turns, failures, followed, secs, (double)turns / secs);
    if (n_lat)
        printf("\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f}}\n",
               bench_percentile(lat, n_lat, 0.5), bench_percentile(lat, n_lat, 0.9),
               bench_percentile(lat, n_lat, 0.99), lat[n_lat - 1]);
    else
        printf("\"latency_us\":null}\n"); /* nothing was answered */
    for (int i = 0; i < o.threads; i++) {
        grpc_channel_destroy(ws[i].channel);
        for (int j = 0; j < ws[i].n_owners; j++)
            grpc_channel_destroy(ws[i].owners[j].channel);
        grpc_completion_queue_shutdown(ws[i].cq);
        while (
            grpc_completion_queue_next(ws[i].cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
            GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(ws[i].cq);
        free(ws[i].streams);
        free(ws[i].lat);
    }
    free(lat);
    free(ws);
    grpc_shutdown();
    return failures == 0 && turns == (long)o.conversations * o.turns ? 0 : 1;
}
