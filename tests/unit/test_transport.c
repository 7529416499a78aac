/*
 * test_transport.c - the transport over real sockets: an in-process server with a test
 * method table of all four call shapes, driven by the project's own client. Checks the
 * status mapping, each shape's state machine, per-method size limits, deferred replies from
 * another thread, stream flow, and the drain on shutdown.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "churn/alloc.h"
#include "churn/transport.h"
#include "churn_proto.h"

typedef Grpc__Health__V1__HealthCheckRequest req_t;
typedef Grpc__Health__V1__HealthCheckResponse resp_t;

static resp_t *
new_resp(struct churn_rpc *rpc, int status)
{
    resp_t *r = churn_arena_alloc(churn_rpc_arena(rpc), sizeof(*r));
    grpc__health__v1__health_check_response__init(r);
    r->status = status;
    return r;
}

/* unary: "ok" → 1; "slow" → deferred answer from another thread; anything else → EINVAL */
static void *
deferred_answer(void *arg)
{
    struct churn_rpc *rpc = arg;
    resp_t r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    r.status = 7;
    churn_rpc_reply(rpc, &r.base);
    churn_rpc_unref(rpc);
    return NULL;
}

static enum churn_err
t_unary(struct churn_rpc *rpc, const ProtobufCMessage *m, ProtobufCMessage **out)
{
    const req_t *req = (const void *)m;
    if (strcmp(req->service, "ok") == 0) {
        *out = &new_resp(rpc, 1)->base;
        return CHURN_OK;
    }
    if (strcmp(req->service, "slow") == 0) {
        churn_rpc_defer(rpc);
        pthread_t t;
        pthread_create(&t, NULL, deferred_answer, churn_rpc_ref(rpc));
        pthread_detach(t);
        return CHURN_OK;
    }
    if (strcmp(req->service, "missing") == 0)
        return CHURN_ENOTFOUND;
    return churn_rpc_error(rpc, CHURN_EINVAL, "service: '%s' is not ok", req->service);
}

/* client stream: the answer's status is the number of messages received */
static enum churn_err
t_cs_start(struct churn_rpc *rpc, const ProtobufCMessage *m)
{
    *churn_rpc_state(rpc) = churn_arena_zalloc(churn_rpc_arena(rpc), sizeof(int));
    return CHURN_OK;
}

static enum churn_err
t_cs_msg(struct churn_rpc *rpc, const ProtobufCMessage *m)
{
    const req_t *req = (const void *)m;
    if (strcmp(req->service, "stop") == 0)
        return churn_rpc_error(rpc, CHURN_EPRECOND, "told to stop");
    (*(int *)*churn_rpc_state(rpc))++;
    return CHURN_OK;
}

static enum churn_err
t_cs_end(struct churn_rpc *rpc, ProtobufCMessage **out)
{
    *out = &new_resp(rpc, *(int *)*churn_rpc_state(rpc))->base;
    return CHURN_OK;
}

/* server stream: as many answers as the service name is long; "forever" never ends */
static enum churn_err
t_ss_start(struct churn_rpc *rpc, const ProtobufCMessage *m)
{
    const req_t *req = (const void *)m;
    if (strcmp(req->service, "forever") == 0)
        return CHURN_OK;
    for (size_t i = 0; i < strlen(req->service); i++) {
        resp_t r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        r.status = (int)i;
        cr_assert_eq(churn_rpc_send(rpc, &r.base), CHURN_OK);
    }
    churn_rpc_finish(rpc, CHURN_OK, "");
    return CHURN_OK;
}

/* bidi: each message answered with its length */
static enum churn_err
t_bidi_msg(struct churn_rpc *rpc, const ProtobufCMessage *m)
{
    const req_t *req = (const void *)m;
    resp_t r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    r.status = (int)strlen(req->service);
    return churn_rpc_send(rpc, &r.base);
}

#define D_REQ  &grpc__health__v1__health_check_request__descriptor
#define D_RESP &grpc__health__v1__health_check_response__descriptor

static const struct churn_method methods[] = {
    {.name = "/t.T/Unary",
     .shape = CHURN_RPC_UNARY,
     .request = D_REQ,
     .response = D_RESP,
     .unary = t_unary,
     .max_request_bytes = 256},
    {.name = "/t.T/Client",
     .shape = CHURN_RPC_CLIENT_STREAM,
     .request = D_REQ,
     .response = D_RESP,
     .on_start = t_cs_start,
     .on_message = t_cs_msg,
     .on_half_close = t_cs_end},
    {.name = "/t.T/Server",
     .shape = CHURN_RPC_SERVER_STREAM,
     .request = D_REQ,
     .response = D_RESP,
     .on_start = t_ss_start},
    {.name = "/t.T/Bidi",
     .shape = CHURN_RPC_BIDI_STREAM,
     .request = D_REQ,
     .response = D_RESP,
     .on_message = t_bidi_msg},
    {.name = "/t.T/Later",
     .shape = CHURN_RPC_UNARY,
     .request = D_REQ,
     .response = D_RESP,
     .unimplemented = "comes later"},
};

static struct churn_server *server;
static struct churn_client *client;

static void
start(void)
{
    struct churn_server_options o;
    churn_server_options_default(&o);
    o.listen = "127.0.0.1:0";
    o.workers = 2;
    o.requests_per_method = 4;
    o.drain_timeout_ms = 2000;
    char err[256];
    int port;
    cr_assert_eq(churn_server_start(&o, methods, sizeof(methods) / sizeof(methods[0]), &server,
                                    &port, err, sizeof(err)),
                 CHURN_OK, "%s", err);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    cr_assert_eq(churn_client_open(target, &client), CHURN_OK);
}

static void
stop(void)
{
    churn_client_close(client);
    churn_server_shutdown(server);
    churn_server_destroy(server);
}

TestSuite(transport, .init = start, .fini = stop, .timeout = 60);

static size_t
pack_req(const char *service, uint8_t *buf)
{
    req_t r = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    r.service = (char *)service;
    return protobuf_c_message_pack(&r.base, buf);
}

static int
resp_status(const void *data, size_t len)
{
    resp_t *r = grpc__health__v1__health_check_response__unpack(NULL, len, data);
    cr_assert_not_null(r);
    int s = r->status;
    grpc__health__v1__health_check_response__free_unpacked(r, NULL);
    return s;
}

static struct churn_client_status
unary(const char *method, const char *service, int *status)
{
    uint8_t buf[4096];
    size_t n = pack_req(service, buf);
    void *resp = NULL;
    size_t len = 0;
    struct churn_client_status st = {0};
    cr_assert_eq(churn_client_unary(client, method, buf, n, 5000, &resp, &len, &st), CHURN_OK);
    if (st.code == 0)
        *status = resp_status(resp, len);
    churn_free(resp);
    return st;
}

Test(transport, status_mapping_is_total_and_never_unknown)
{
    for (int e = 0; e < CHURN__ERR_COUNT; e++)
        cr_assert_neq(churn_transport_status_code(e), 2 /* UNKNOWN */, "%s", churn_err_name(e));
    cr_assert_eq(churn_transport_status_code(CHURN_OK), 0);
    cr_assert_eq(churn_transport_status_code(CHURN_EINVAL), 3);
    cr_assert_eq(churn_transport_status_code(CHURN_ENOTFOUND), 5);
    cr_assert_eq(churn_transport_status_code(CHURN_ETOOBIG), 8);
    cr_assert_eq(churn_transport_status_code(CHURN_EPRECOND), 9);
    cr_assert_eq(churn_transport_status_code(CHURN_EUNAVAIL), 14);
    cr_assert_eq(churn_transport_status_code(CHURN_EDEADLINE), 4);
    cr_assert_str_eq(churn_transport_status_name(8), "RESOURCE_EXHAUSTED");
}

Test(transport, unary_answers_and_errors)
{
    int s = -1;
    struct churn_client_status st = unary("/t.T/Unary", "ok", &s);
    cr_assert_eq(st.code, 0);
    cr_assert_eq(s, 1);
    churn_client_status_clear(&st);
    st = unary("/t.T/Unary", "bad", &s);
    cr_assert_eq(st.code, 3);
    cr_assert_str_eq(st.details, "service: 'bad' is not ok");
    churn_client_status_clear(&st);
    st = unary("/t.T/Unary", "missing", &s);
    cr_assert_eq(st.code, 5);
    cr_assert_str_eq(st.details, "not found");
    churn_client_status_clear(&st);
}

Test(transport, deferred_reply_from_another_thread)
{
    for (int i = 0; i < 20; i++) {
        int s = -1;
        struct churn_client_status st = unary("/t.T/Unary", "slow", &s);
        cr_assert_eq(st.code, 0, "%s", st.details);
        cr_assert_eq(s, 7);
        churn_client_status_clear(&st);
    }
}

Test(transport, per_method_size_limit_and_garbage)
{
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    int s;
    struct churn_client_status st = unary("/t.T/Unary", big, &s);
    cr_assert_eq(st.code, 8, "%d %s", st.code, st.details);
    cr_assert(strstr(st.details, "over the 256-byte limit"));
    churn_client_status_clear(&st);
    void *resp = NULL;
    size_t len;
    cr_assert_eq(
        churn_client_unary(client, "/t.T/Unary", "\xff\xff\xff", 3, 5000, &resp, &len, &st),
        CHURN_OK);
    cr_assert_eq(st.code, 3);
    churn_client_status_clear(&st);
    st = unary("/t.T/Unary", "ok", &s);
    cr_assert_eq(st.code, 0);
    churn_client_status_clear(&st);
}

Test(transport, unimplemented_and_unknown_methods)
{
    int s;
    struct churn_client_status st = unary("/t.T/Later", "x", &s);
    cr_assert_eq(st.code, 12);
    cr_assert_str_eq(st.details, "comes later");
    churn_client_status_clear(&st);
    st = unary("/no.Such/Method", "x", &s);
    cr_assert_eq(st.code, 12);
    cr_assert(strstr(st.details, "/no.Such/Method"));
    churn_client_status_clear(&st);
}

Test(transport, client_stream_counts_messages)
{
    struct churn_client_stream *cs;
    cr_assert_eq(churn_client_stream_open(client, "/t.T/Client", 5000, &cs), CHURN_OK);
    uint8_t buf[64];
    for (int i = 0; i < 50; i++) {
        size_t n = pack_req("m", buf);
        cr_assert_eq(churn_client_stream_send(cs, buf, n), CHURN_OK);
    }
    cr_assert_eq(churn_client_stream_close_send(cs), CHURN_OK);
    void *msg;
    size_t len;
    cr_assert_eq(churn_client_stream_recv(cs, &msg, &len), CHURN_OK);
    cr_assert_eq(resp_status(msg, len), 50);
    churn_free(msg);
    struct churn_client_status st = {0};
    cr_assert_eq(churn_client_stream_finish(cs, false, &st), CHURN_OK);
    cr_assert_eq(st.code, 0);
    churn_client_status_clear(&st);
}

Test(transport, client_stream_error_ends_the_call)
{
    struct churn_client_stream *cs;
    cr_assert_eq(churn_client_stream_open(client, "/t.T/Client", 5000, &cs), CHURN_OK);
    uint8_t buf[64];
    size_t n = pack_req("stop", buf);
    churn_client_stream_send(cs, buf, n);
    struct churn_client_status st = {0};
    cr_assert_eq(churn_client_stream_finish(cs, false, &st), CHURN_OK);
    cr_assert_eq(st.code, 9);
    cr_assert_str_eq(st.details, "told to stop");
    churn_client_status_clear(&st);
}

Test(transport, server_stream_sends_in_order)
{
    struct churn_client_stream *ss;
    cr_assert_eq(churn_client_stream_open(client, "/t.T/Server", 5000, &ss), CHURN_OK);
    uint8_t buf[64];
    size_t n = pack_req("abcdefghij", buf);
    cr_assert_eq(churn_client_stream_send(ss, buf, n), CHURN_OK);
    churn_client_stream_close_send(ss);
    void *msg;
    size_t len;
    int got = 0;
    while (churn_client_stream_recv(ss, &msg, &len) == CHURN_OK) {
        cr_assert_eq(resp_status(msg, len), got);
        got++;
        churn_free(msg);
    }
    cr_assert_eq(got, 10);
    struct churn_client_status st = {0};
    churn_client_stream_finish(ss, false, &st);
    cr_assert_eq(st.code, 0);
    churn_client_status_clear(&st);
}

Test(transport, bidi_answers_each_message)
{
    struct churn_client_stream *bs;
    cr_assert_eq(churn_client_stream_open(client, "/t.T/Bidi", 5000, &bs), CHURN_OK);
    for (int i = 1; i <= 30; i++) {
        char name[64];
        memset(name, 'x', (size_t)i);
        name[i] = '\0';
        uint8_t buf[128];
        size_t n = pack_req(name, buf);
        cr_assert_eq(churn_client_stream_send(bs, buf, n), CHURN_OK);
        void *msg;
        size_t len;
        cr_assert_eq(churn_client_stream_recv(bs, &msg, &len), CHURN_OK);
        cr_assert_eq(resp_status(msg, len), i);
        churn_free(msg);
    }
    churn_client_stream_close_send(bs);
    void *msg;
    size_t len;
    cr_assert_eq(churn_client_stream_recv(bs, &msg, &len), CHURN_ENOTFOUND);
    struct churn_client_status st = {0};
    churn_client_stream_finish(bs, false, &st);
    cr_assert_eq(st.code, 0);
    churn_client_status_clear(&st);
}

/* issue 13: a stream run in-process goes through the same decoding, wire check and handler */
Test(transport, local_stream_runs_the_handler_in_process)
{
    struct churn_rpc *rpc;
    char msg[256];
    cr_assert_eq(churn_rpc_local_stream_open(&methods[0], &rpc, msg, sizeof(msg)), CHURN_EUNIMPL);
    cr_assert_eq(churn_rpc_local_stream_open(&methods[3], &rpc, msg, sizeof(msg)), CHURN_OK);
    uint8_t buf[64];
    size_t n = pack_req("abc", buf);
    cr_assert_eq(churn_rpc_local_stream_send(rpc, buf, n), CHURN_OK);
    uint8_t *out;
    size_t len;
    cr_assert(churn_rpc_local_stream_take(rpc, &out, &len));
    cr_assert_eq(resp_status(out, len), 3);
    churn_free(out);
    cr_assert_not(churn_rpc_local_stream_take(rpc, &out, &len));
    enum churn_err err;
    cr_assert_not(churn_rpc_local_stream_status(rpc, &err, msg, sizeof(msg)));
    const uint8_t bad[] = {0x0a, 0xff, 0xff}; /* a string longer than the message */
    cr_assert_eq(churn_rpc_local_stream_send(rpc, bad, sizeof(bad)), CHURN_EINVAL);
    cr_assert(churn_rpc_local_stream_status(rpc, &err, msg, sizeof(msg)));
    cr_assert_eq(err, CHURN_EINVAL);
    cr_assert_not_null(strstr(msg, "not a valid grpc.health.v1.HealthCheckRequest"), "%s", msg);
    cr_assert_eq(churn_rpc_local_stream_send(rpc, buf, n), CHURN_ECANCELLED);
    churn_rpc_local_stream_close(rpc);

    cr_assert_eq(churn_rpc_local_stream_open(&methods[3], &rpc, msg, sizeof(msg)), CHURN_OK);
    churn_rpc_local_stream_half_close(rpc);
    cr_assert(churn_rpc_local_stream_status(rpc, &err, msg, sizeof(msg)));
    cr_assert_eq(err, CHURN_OK);
    churn_rpc_local_stream_close(rpc);
}

Test(transport, cancellation_and_deadline_leave_the_server_healthy)
{
    uint8_t buf[64];
    size_t n = pack_req("forever", buf);
    struct churn_client_stream *ss;
    cr_assert_eq(churn_client_stream_open(client, "/t.T/Server", 5000, &ss), CHURN_OK);
    churn_client_stream_send(ss, buf, n);
    struct churn_client_status st = {0};
    churn_client_stream_finish(ss, true, &st);
    cr_assert_eq(st.code, 1 /* CANCELLED */);
    churn_client_status_clear(&st);
    cr_assert_eq(churn_client_stream_open(client, "/t.T/Server", 200, &ss), CHURN_OK);
    churn_client_stream_send(ss, buf, n);
    void *msg;
    size_t len;
    cr_assert_eq(churn_client_stream_recv(ss, &msg, &len), CHURN_ENOTFOUND);
    churn_client_stream_finish(ss, false, &st);
    cr_assert_eq(st.code, 4 /* DEADLINE_EXCEEDED */);
    churn_client_status_clear(&st);
    int s;
    st = unary("/t.T/Unary", "ok", &s);
    cr_assert_eq(st.code, 0);
    churn_client_status_clear(&st);
    for (int i = 0; i < 100 && churn_server_active_calls(server) > 0; i++)
        usleep(20000);
    cr_assert_eq(churn_server_active_calls(server), 0);
}

struct shutdown_arg {
    struct churn_server *server;
};

static void *
shutdown_later(void *arg)
{
    usleep(200000);
    churn_server_shutdown(arg);
    return NULL;
}

Test(transport, shutdown_ends_open_streams_with_unavailable)
{
    uint8_t buf[64];
    size_t n = pack_req("forever", buf);
    struct churn_client_stream *ss;
    cr_assert_eq(churn_client_stream_open(client, "/t.T/Server", 10000, &ss), CHURN_OK);
    churn_client_stream_send(ss, buf, n);
    pthread_t t;
    pthread_create(&t, NULL, shutdown_later, server);
    void *msg;
    size_t len;
    cr_assert_eq(churn_client_stream_recv(ss, &msg, &len), CHURN_ENOTFOUND);
    struct churn_client_status st = {0};
    churn_client_stream_finish(ss, false, &st);
    cr_assert_eq(st.code, 14, "%d %s", st.code, st.details);
    cr_assert_str_eq(st.details, "server is shutting down");
    churn_client_status_clear(&st);
    pthread_join(t, NULL);
}
