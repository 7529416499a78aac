/*
 * echo_server: the bare gRPC C-core baseline that tools/bench/transport drives beside churnd. It
 * answers every call to any method by echoing the request message with status OK, using the
 * smallest correct C-core server shape: one completion queue and one thread per worker (two),
 * many pre-posted non-registered grpc_server_request_call()s per queue, re-armed as soon as
 * a call arrives, then one RECV_MESSAGE batch and one SEND_INITIAL_METADATA + SEND_MESSAGE +
 * SEND_STATUS_FROM_SERVER + RECV_CLOSE_ON_SERVER batch per call. A call to a method whose
 * name ends in "/Stream" (tools/bench/loadgen/cqload uses /bench.Echo/Stream) is a bidi echo
 * instead: each message received is sent back (one RECV_MESSAGE, then one SEND_MESSAGE, in
 * turn), and the client's half-close ends it with status OK. It deliberately has no
 * arenas, limits, logging or shutdown logic: it is the transport's ceiling on this machine.
 * Usage: echo_server PORT (0 picks a free port); it prints the bound address and runs until
 * killed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#define WORKERS      2
#define POSTED_CALLS 256 /* pre-posted request_call()s per completion queue */

enum call_state { CALL_WAITING, CALL_RECEIVING, CALL_SENDING, STREAM_RECEIVING, STREAM_SENDING };

struct call {
    enum call_state state;
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array request_metadata;
    grpc_byte_buffer *message;
    int cancelled;
    int metadata_sent;
};

static int
is_stream_method(grpc_slice method)
{
    static const char suffix[] = "/Stream";
    size_t n = GRPC_SLICE_LENGTH(method), k = sizeof(suffix) - 1;
    return n >= k && memcmp(GRPC_SLICE_START_PTR(method) + n - k, suffix, k) == 0;
}

/* Posts the stream's next receive. */
static int
stream_recv(struct call *c)
{
    grpc_op op;

    memset(&op, 0, sizeof(op));
    c->state = STREAM_RECEIVING;
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->message;
    return grpc_call_start_batch(c->call, &op, 1, c, NULL) == GRPC_CALL_OK;
}

static grpc_server *server;

static void
call_post(grpc_completion_queue *cq)
{
    struct call *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        abort();
    }
    c->cq = cq;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->request_metadata);
    if (grpc_server_request_call(server, &c->call, &c->details, &c->request_metadata, cq, cq, c) !=
        GRPC_CALL_OK) {
        abort();
    }
}

static void
call_free(struct call *c)
{
    if (c->message != NULL) {
        grpc_byte_buffer_destroy(c->message);
    }
    if (c->call != NULL) {
        grpc_call_unref(c->call);
    }
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->request_metadata);
    free(c);
}

/* Advances one call after its outstanding batch completed; returns false when it is over. */
static int
call_step(struct call *c, int ok)
{
    grpc_op ops[4];

    memset(ops, 0, sizeof(ops));
    switch (c->state) {
    case CALL_WAITING:
        if (!ok) { /* the server is shutting down */
            return 0;
        }
        call_post(c->cq); /* re-arm before handling */
        if (is_stream_method(c->details.method)) {
            return stream_recv(c);
        }
        c->state = CALL_RECEIVING;
        ops[0].op = GRPC_OP_RECV_MESSAGE;
        ops[0].data.recv_message.recv_message = &c->message;
        return grpc_call_start_batch(c->call, ops, 1, c, NULL) == GRPC_CALL_OK;
    case CALL_RECEIVING:
        if (!ok) {
            return 0;
        }
        if (c->message == NULL) { /* half-closed without a message: echo an empty one */
            c->message = grpc_raw_byte_buffer_create(NULL, 0);
        }
        c->state = CALL_SENDING;
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = c->message;
        ops[2].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[2].data.send_status_from_server.status = GRPC_STATUS_OK;
        ops[3].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[3].data.recv_close_on_server.cancelled = &c->cancelled;
        return grpc_call_start_batch(c->call, ops, 4, c, NULL) == GRPC_CALL_OK;
    case CALL_SENDING:
        return 0;
    case STREAM_RECEIVING:
        if (!ok) {
            return 0;
        }
        if (c->message == NULL) { /* the client half-closed: end with OK */
            int n = 0;
            if (!c->metadata_sent) {
                ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
            }
            ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
            ops[n++].data.send_status_from_server.status = GRPC_STATUS_OK;
            ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
            ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
            c->state = CALL_SENDING;
            return grpc_call_start_batch(c->call, ops, (size_t)n, c, NULL) == GRPC_CALL_OK;
        }
        c->state = STREAM_SENDING;
        {
            int n = 0;
            if (!c->metadata_sent) {
                ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
                c->metadata_sent = 1;
            }
            ops[n].op = GRPC_OP_SEND_MESSAGE;
            ops[n++].data.send_message.send_message = c->message;
            return grpc_call_start_batch(c->call, ops, (size_t)n, c, NULL) == GRPC_CALL_OK;
        }
    case STREAM_SENDING:
        grpc_byte_buffer_destroy(c->message);
        c->message = NULL;
        return ok && stream_recv(c);
    }
    return 0;
}

static void *
worker_run(void *arg)
{
    grpc_completion_queue *cq = arg;

    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            return NULL;
        }
        if (ev.type == GRPC_OP_COMPLETE && !call_step(ev.tag, ev.success)) {
            call_free(ev.tag);
        }
    }
}

int
main(int argc, char **argv)
{
    grpc_completion_queue *cqs[WORKERS];
    pthread_t threads[WORKERS];
    grpc_server_credentials *creds;
    char addr[64];
    long port;
    char *end;
    int bound;

    port = argc == 2 ? strtol(argv[1], &end, 10) : -1;
    if (argc != 2 || *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    snprintf(addr, sizeof(addr), "127.0.0.1:%ld", port);

    grpc_init();
    server = grpc_server_create(NULL, NULL);
    for (int i = 0; i < WORKERS; i++) {
        cqs[i] = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(server, cqs[i], NULL);
    }
    creds = grpc_insecure_server_credentials_create();
    bound = grpc_server_add_http2_port(server, addr, creds);
    grpc_server_credentials_release(creds);
    if (bound == 0) {
        fprintf(stderr, "echo_server: cannot listen on %s\n", addr);
        return 1;
    }
    grpc_server_start(server);
    for (int i = 0; i < WORKERS; i++) {
        for (int j = 0; j < POSTED_CALLS; j++) {
            call_post(cqs[i]);
        }
        pthread_create(&threads[i], NULL, worker_run, cqs[i]);
    }
    printf("echo_server listening on 127.0.0.1:%d\n", bound);
    fflush(stdout);
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(threads[i], NULL);
    }
    return 0;
}
