/*
 * rpc.c - churnctl's commands that talk to a running churnd over gRPC with the project's
 * own client: health, methods and call (any RPC, JSON in, JSON lines out, converted with
 * the generated descriptors); and the helpers every command that calls churnd shares
 * (method lookup, unary calls, status reports, JSON output).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/buf.h"
#include "churn/cluster.h"
#include "churn/pbjson.h"
#include "churn/service.h"
#include "churn/shard.h"
#include "churn/transport.h"
#include "churn_proto.h"
#include "ctl.h"

#define CTL_MAX_INPUT (64 * 1024 * 1024)

static const char *const shape_names[] = {"unary", "client stream", "server stream", "bidi stream"};

const struct churn_method *
churnctl_find_method(struct ctl *ctl, const char *name)
{
    char want[512];
    snprintf(want, sizeof(want), "%s", name);
    char *dot = strrchr(want, '.');
    if (!strchr(want, '/') && dot)
        *dot = '/'; /* Service.Method → Service/Method */
    for (size_t i = 0; i < ctl->svc.n_methods; i++) {
        const char *full = ctl->svc.methods[i].name;
        size_t fl = strlen(full), wl = strlen(want);
        if (strcmp(full, want) == 0 || strcmp(full + 1, want) == 0)
            return &ctl->svc.methods[i];
        /* suffix match on a component boundary: "ScoringService/GetScore" */
        if (wl < fl && strcmp(full + fl - wl, want) == 0 &&
            (full[fl - wl - 1] == '.' || full[fl - wl - 1] == '/'))
            return &ctl->svc.methods[i];
    }
    return NULL;
}

int
churnctl_report_status(const struct churn_client_status *st)
{
    if (st->code == 0)
        return 0;
    bool unreachable = st->code == 14; /* UNAVAILABLE */
    fprintf(stderr, "churnctl: %s: %s\n", churn_transport_status_name(st->code),
            st->details ? st->details : "");
    return unreachable ? EXIT_TRANSPORT : EXIT_STATUS;
}

int
churnctl_print_json(struct ctl *ctl, const ProtobufCMessage *msg)
{
    char *text = churn_pbjson_dumps(msg, ctl->pretty);
    if (!text)
        return EXIT_TRANSPORT;
    puts(text);
    fflush(stdout);
    free(text);
    return 0;
}

ProtobufCMessage *
churnctl_unpack(const struct churn_method *m, const void *data, size_t len)
{
    ProtobufCMessage *msg = protobuf_c_message_unpack(m->response, NULL, len, data);
    if (!msg)
        fprintf(stderr, "churnctl: the server's answer is not a valid %s\n", m->response->name);
    return msg;
}

static int
print_response(struct ctl *ctl, const struct churn_method *m, const void *data, size_t len)
{
    ProtobufCMessage *msg = churnctl_unpack(m, data, len);
    if (!msg)
        return EXIT_TRANSPORT;
    int rc = churnctl_print_json(ctl, msg);
    protobuf_c_message_free_unpacked(msg, NULL);
    return rc;
}

size_t
churnctl_routing_headers(const struct ctl *ctl, const char *customer, char part[static 12],
                         struct churn_client_header hdr[static 2])
{
    if (!customer)
        return 0;
    hdr[0] = (struct churn_client_header){"x-customer-id", customer};
    if (!ctl->partitions)
        return 1;
    snprintf(part, 12, "%" PRIu32,
             churn_cluster_partition_of(customer, strlen(customer), ctl->partitions));
    hdr[1] = (struct churn_client_header){"x-churn-partition", part};
    return 2;
}

/* One unary call of @m on @client (at @server); on a refusal naming the customer's owner,
 * its address into *@owner (heap) instead of a report. */
static int
unary_once(struct ctl *ctl, struct churn_client *client, const char *server,
           const struct churn_method *m, const uint8_t *req, size_t req_len, const char *customer,
           ProtobufCMessage **resp, char **owner)
{
    struct churn_client_status st = {0};
    void *data = NULL;
    size_t len = 0;
    int rc;
    struct churn_client_header hdr[2];
    char part[12];
    size_t n_hdr = churnctl_routing_headers(ctl, customer, part, hdr);
    if (churn_client_unary_with(client, m->name, hdr, n_hdr, req, req_len, ctl->timeout_ms, &data,
                                &len, &st) != CHURN_OK) {
        fprintf(stderr, "churnctl: cannot reach %s\n", server);
        rc = EXIT_TRANSPORT;
    } else if (owner && st.code == 9 && st.owner_address) { /* FAILED_PRECONDITION */
        *owner = st.owner_address;
        st.owner_address = NULL;
        rc = EXIT_STATUS;
    } else if ((rc = churnctl_report_status(&st)) == 0) {
        *resp = churnctl_unpack(m, data ? data : "", len);
        rc = *resp ? 0 : EXIT_TRANSPORT;
    }
    churn_free(data);
    churn_client_status_clear(&st);
    return rc;
}

/*
 * The unary call @m with the serialized @req; the answer unpacked into *resp. A request about
 * a customer (@customer, or NULL) carries it in x-customer-id, which a cluster routes on (and
 * its partition with --partitions). A shard that refuses the customer names its owner: the
 * call goes there once (never further, so two shards with different tables cannot bounce it).
 */
static int
unary_packed(struct ctl *ctl, const struct churn_method *m, const uint8_t *req, size_t req_len,
             const char *customer, ProtobufCMessage **resp)
{
    char *owner = NULL;
    int rc = unary_once(ctl, ctl->client, ctl->server, m, req, req_len, customer, resp,
                        customer ? &owner : NULL);
    if (!owner)
        return rc;
    fprintf(stderr, "churnctl: %s does not serve customer '%s': following the owner hint to %s\n",
            ctl->server, customer, owner);
    struct churn_client *c;
    char err[600];
    if (churn_client_open_ex(owner, &ctl->conn, &c, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: cannot open a channel to %s: %s\n", owner, err);
        rc = EXIT_TRANSPORT;
    } else {
        rc = unary_once(ctl, c, owner, m, req, req_len, customer, resp, NULL);
        churn_client_close(c);
    }
    churn_free(owner);
    return rc;
}

int
churnctl_unary(struct ctl *ctl, const char *method, const ProtobufCMessage *req,
               ProtobufCMessage **resp)
{
    const struct churn_method *m = churnctl_find_method(ctl, method);
    if (!m || m->request != req->descriptor) {
        fprintf(stderr, "churnctl: %s is not a method taking %s\n", method, req->descriptor->name);
        return EXIT_USAGE;
    }
    size_t len = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = churn_malloc(len ? len : 1);
    if (!buf)
        return EXIT_TRANSPORT;
    protobuf_c_message_pack(req, buf);
    int rc = unary_packed(ctl, m, buf, len, churn_shard_request_customer(req), resp);
    churn_free(buf);
    return rc;
}

/* JSON text → serialized request bytes (heap, churn_free them); its customer id, if any,
 * into @customer (x-customer-id). */
static int
encode_request(const struct churn_method *m, const char *json, size_t len, uint8_t **out,
               size_t *out_len, char customer[static 129])
{
    struct churn_arena arena;
    churn_arena_init(&arena, 0);
    ProtobufCMessage *msg;
    char err[512];
    int rc = 0;
    if (churn_pbjson_decode(m->request, json, len, &arena, &msg, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: request for %s: %s\n", m->name, err);
        rc = EXIT_USAGE;
        goto out;
    }
    const char *id = churn_shard_request_customer(msg);
    snprintf(customer, 129, "%s", id ? id : "");
    *out_len = protobuf_c_message_get_packed_size(msg);
    *out = churn_malloc(*out_len ? *out_len : 1);
    if (!*out) {
        rc = EXIT_TRANSPORT;
        goto out;
    }
    protobuf_c_message_pack(msg, *out);
out:
    churn_arena_fini(&arena);
    return rc;
}

static int
read_stdin(struct churn_buf *buf)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
        if (churn_buf_append(buf, chunk, n) != CHURN_OK) {
            fprintf(stderr, "churnctl: standard input is over %d bytes\n", CTL_MAX_INPUT);
            return EXIT_USAGE;
        }
    }
    return 0;
}

static int
call_unary_like(struct ctl *ctl, const struct churn_method *m, const char *json)
{
    uint8_t *req;
    size_t req_len;
    char customer[129];
    int rc = encode_request(m, json, strlen(json), &req, &req_len, customer);
    if (rc)
        return rc;
    if (m->shape == CHURN_RPC_UNARY) {
        ProtobufCMessage *resp = NULL;
        rc = unary_packed(ctl, m, req, req_len, *customer ? customer : NULL, &resp);
        churn_free(req);
        if (!rc) {
            rc = churnctl_print_json(ctl, resp);
            protobuf_c_message_free_unpacked(resp, NULL);
        }
        return rc;
    }
    struct churn_client_status st = {0};
    /* server stream: one request, then every response until the status */
    struct churn_client_stream *s;
    struct churn_client_header hdr[2];
    char part[12];
    size_t n_hdr = churnctl_routing_headers(ctl, *customer ? customer : NULL, part, hdr);
    bool ok = churn_client_stream_open(ctl->client, m->name, ctl->timeout_ms, &s) == CHURN_OK;
    for (size_t i = 0; ok && i < n_hdr; i++)
        ok = churn_client_stream_set_header(s, hdr[i].key, hdr[i].value) == CHURN_OK;
    if (!ok || churn_client_stream_send(s, req, req_len) != CHURN_OK) {
        churn_free(req);
        fprintf(stderr, "churnctl: cannot reach %s\n", ctl->server);
        return EXIT_TRANSPORT;
    }
    churn_free(req);
    churn_client_stream_close_send(s);
    void *msg;
    size_t len;
    while (rc == 0 && churn_client_stream_recv(s, &msg, &len) == CHURN_OK) {
        rc = print_response(ctl, m, msg, len);
        churn_free(msg);
    }
    churn_client_stream_finish(s, rc != 0, &st);
    if (!rc)
        rc = churnctl_report_status(&st);
    churn_client_status_clear(&st);
    return rc;
}

/* Client and bidi streams: each non-empty stdin line is one request. */
static int
call_streaming(struct ctl *ctl, const struct churn_method *m, const char *input)
{
    struct churn_client_stream *s;
    if (churn_client_stream_open(ctl->client, m->name, ctl->timeout_ms, &s) != CHURN_OK) {
        fprintf(stderr, "churnctl: cannot reach %s\n", ctl->server);
        return EXIT_TRANSPORT;
    }
    int rc = 0;
    const char *p = input;
    while (*p && rc == 0) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n > 0 && strspn(p, " \t\r") < n) {
            char *line = churn_malloc(n + 1);
            memcpy(line, p, n);
            line[n] = '\0';
            uint8_t *req;
            size_t req_len;
            char customer[129];
            rc = encode_request(m, line, n, &req, &req_len, customer);
            churn_free(line);
            if (rc)
                break;
            /* the stream's first customer is its x-customer-id (ignored once sent) */
            if (*customer)
                churn_client_stream_set_header(s, "x-customer-id", customer);
            if (churn_client_stream_send(s, req, req_len) != CHURN_OK)
                rc = -1; /* the server ended the stream: its status says why */
            churn_free(req);
            if (!rc && m->shape == CHURN_RPC_BIDI_STREAM) {
                void *msg;
                size_t len;
                if (churn_client_stream_recv(s, &msg, &len) == CHURN_OK) {
                    rc = print_response(ctl, m, msg, len);
                    churn_free(msg);
                }
            }
        }
        p = nl ? nl + 1 : p + n;
    }
    struct churn_client_status st = {0};
    if (rc <= 0) {
        churn_client_stream_close_send(s);
        void *msg;
        size_t len;
        while (churn_client_stream_recv(s, &msg, &len) == CHURN_OK) {
            print_response(ctl, m, msg, len);
            churn_free(msg);
        }
        rc = 0;
    }
    churn_client_stream_finish(s, rc != 0, &st);
    if (!rc)
        rc = churnctl_report_status(&st);
    churn_client_status_clear(&st);
    return rc;
}

int
churnctl_call(struct ctl *ctl, int argc, char **argv)
{
    if (argc < 1) {
        fputs("usage: churnctl call METHOD [JSON|-]\n", stderr);
        return EXIT_USAGE;
    }
    const struct churn_method *m = churnctl_find_method(ctl, argv[0]);
    if (!m) {
        fprintf(stderr, "churnctl: unknown method '%s' (see `churnctl methods`)\n", argv[0]);
        return EXIT_USAGE;
    }
    struct churn_buf input;
    churn_buf_init(&input, CTL_MAX_INPUT);
    int rc;
    bool streaming_in = m->shape == CHURN_RPC_CLIENT_STREAM || m->shape == CHURN_RPC_BIDI_STREAM;
    if (argc >= 2 && strcmp(argv[1], "-") != 0)
        rc = churn_buf_append_str(&input, argv[1]) == CHURN_OK ? 0 : EXIT_USAGE;
    else if (argc >= 2 || streaming_in)
        rc = read_stdin(&input);
    else
        rc = churn_buf_append_str(&input, "{}") == CHURN_OK ? 0 : EXIT_USAGE;
    if (!rc)
        rc = streaming_in ? call_streaming(ctl, m, churn_buf_str(&input))
                          : call_unary_like(ctl, m, churn_buf_str(&input));
    churn_buf_free(&input);
    return rc;
}

int
churnctl_health(struct ctl *ctl, int argc, char **argv)
{
    const char *service = "";
    bool watch = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--watch") == 0)
            watch = true;
        else
            service = argv[i];
    }
    const struct churn_method *m = churnctl_find_method(
        ctl, watch ? "/grpc.health.v1.Health/Watch" : "/grpc.health.v1.Health/Check");
    char json[512];
    snprintf(json, sizeof(json), "{\"service\":\"%.400s\"}", service);
    if (strchr(service, '"') || strchr(service, '\\')) {
        fprintf(stderr, "churnctl: service names contain no quotes or backslashes\n");
        return EXIT_USAGE;
    }
    return call_unary_like(ctl, m, json);
}

int
churnctl_methods(struct ctl *ctl)
{
    for (size_t i = 0; i < ctl->svc.n_methods; i++) {
        const struct churn_method *m = &ctl->svc.methods[i];
        printf("%-62s %s%s\n", m->name, shape_names[m->shape],
               m->unimplemented ? " (not implemented yet)" : "");
    }
    return 0;
}

int
churnctl_connect(struct ctl *ctl)
{
    char err[600];
    enum churn_err e =
        churn_client_open_ex(ctl->server, &ctl->conn, &ctl->client, err, sizeof(err));
    if (e == CHURN_EINVAL && err[0] == '-') {
        fprintf(stderr, "churnctl: %s\n", err); /* a bad --tls-* option */
        return EXIT_USAGE;
    }
    if (e) {
        fprintf(stderr, "churnctl: cannot open a channel to %s: %s\n", ctl->server, err);
        return e == CHURN_ENOTFOUND || e == CHURN_EPERM ? EXIT_USAGE : EXIT_TRANSPORT;
    }
    return 0;
}
