/*
 * client.c - a small blocking gRPC client on C core for churnctl and the tests: unary calls
 * and streams driven one batch at a time on a pluck completion queue, over plaintext, TLS or
 * mutual TLS, with an optional bearer token sent on every call. It moves serialized bytes;
 * callers pack and unpack protobuf-c messages themselves.
 */
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "churn/alloc.h"
#include "churn/file.h"
#include "churn/transport.h"
#include "internal.h"

struct churn_client {
    grpc_channel *channel;
    grpc_metadata auth_md; /* "authorization: Bearer TOKEN" when has_token */
    bool has_token;
};

enum { HEADERS_MAX = 4 };

struct churn_client_stream {
    const struct churn_client *client;
    grpc_call *call;
    grpc_completion_queue *cq;
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    bool md_sent;
    bool md_received;
    bool send_closed;
    /* churn_client_stream_set_header() (at most HEADERS_MAX), then the client's token: sent
     * with the first batch */
    grpc_metadata headers[HEADERS_MAX + 1];
    size_t n_headers;
    int tag; /* address used as the tag of every batch */
};

enum churn_err
churn_client_open(const char *target, struct churn_client **out)
{
    return churn_client_open_ex(target, NULL, out, NULL, 0);
}

static bool
given(const char *s)
{
    return s && *s;
}

/* Read a PEM file for the channel credentials; @what names the flag in errors. */
static enum churn_err
read_pem(const char *what, const char *path, char **out, char *err, size_t errlen)
{
    size_t len;
    char why[512];
    enum churn_err e = churn_file_read_regular(path, 1 << 20, false, out, &len, why, sizeof(why));
    return e ? churn_fail(err, errlen, e, "%s %s", what, why) : CHURN_OK;
}

/* TLS channel credentials from @o's files, or plaintext when no TLS option is given. */
static enum churn_err
channel_credentials(const struct churn_client_options *o, grpc_channel_credentials **out, char *err,
                    size_t errlen)
{
    bool tls = o && (given(o->tls_ca) || given(o->tls_cert) || given(o->tls_server_name));
    if (!tls) {
        *out = grpc_insecure_credentials_create();
        return CHURN_OK;
    }
    if (given(o->tls_cert) != given(o->tls_key))
        return churn_fail(err, errlen, CHURN_EINVAL, "--tls-cert and --tls-key go together");
    char *ca = NULL, *cert = NULL, *key = NULL;
    enum churn_err e = CHURN_OK;
    if (given(o->tls_ca))
        e = read_pem("--tls-ca", o->tls_ca, &ca, err, errlen);
    if (!e && given(o->tls_cert) && !(e = read_pem("--tls-cert", o->tls_cert, &cert, err, errlen)))
        e = read_pem("--tls-key", o->tls_key, &key, err, errlen);
    if (!e) {
        grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
        *out = grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
    }
    churn_free(ca);
    churn_free(cert);
    churn_free(key);
    return e;
}

static enum churn_err
set_token(struct churn_client *c, const char *token, char *err, size_t errlen)
{
    if (strpbrk(token, "\r\n"))
        return churn_fail(err, errlen, CHURN_EINVAL, "token: contains a line break");
    size_t n = strlen(token);
    char *v = churn_malloc(n + 8);
    if (!v)
        return churn_fail(err, errlen, CHURN_ENOMEM, "out of memory");
    memcpy(v, "Bearer ", 7);
    memcpy(v + 7, token, n + 1);
    c->auth_md.key = grpc_slice_from_static_string("authorization");
    c->auth_md.value = grpc_slice_from_copied_string(v);
    c->has_token = true;
    churn_free(v);
    return CHURN_OK;
}

enum churn_err
churn_client_open_ex(const char *target, const struct churn_client_options *o,
                     struct churn_client **out, char *err, size_t errlen)
{
    grpc_init();
    struct churn_client *c = churn_calloc(1, sizeof(*c));
    grpc_channel_credentials *creds = NULL;
    enum churn_err e = c ? CHURN_OK : churn_fail(err, errlen, CHURN_ENOMEM, "out of memory");
    if (!e && o && given(o->token))
        e = set_token(c, o->token, err, errlen);
    if (!e)
        e = channel_credentials(o, &creds, err, errlen);
    if (!e) {
        grpc_arg args[2];
        memset(args, 0, sizeof(args));
        args[0].type = GRPC_ARG_INTEGER;
        args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
        args[0].value.integer = 64 * 1024 * 1024;
        args[1].type = GRPC_ARG_STRING;
        args[1].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
        args[1].value.string = o && given(o->tls_server_name) ? (char *)o->tls_server_name : NULL;
        grpc_channel_args channel_args = {.num_args = args[1].value.string ? 2 : 1, .args = args};
        c->channel = grpc_channel_create(target, creds, &channel_args);
        grpc_channel_credentials_release(creds);
        if (!c->channel)
            e = churn_fail(err, errlen, CHURN_EINVAL, "%s: not a channel target", target);
    }
    if (e) {
        if (c)
            churn_client_close(c);
        else
            grpc_shutdown();
        return e;
    }
    *out = c;
    return CHURN_OK;
}

void
churn_client_close(struct churn_client *c)
{
    if (!c)
        return;
    if (c->channel)
        grpc_channel_destroy(c->channel);
    if (c->has_token)
        grpc_slice_unref(c->auth_md.value);
    churn_free(c);
    grpc_shutdown();
}

void
churn_client_status_clear(struct churn_client_status *st)
{
    churn_free(st->details);
    st->details = NULL;
    churn_free(st->owner_address);
    st->owner_address = NULL;
}

static gpr_timespec
deadline_in(int timeout_ms)
{
    if (timeout_ms <= 0)
        return gpr_inf_future(GPR_CLOCK_REALTIME);
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                        gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

static grpc_byte_buffer *
bytes_to_bb(const void *data, size_t len)
{
    grpc_slice slice = grpc_slice_from_copied_buffer(data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return bb;
}

enum churn_err
churn__bb_to_bytes(grpc_byte_buffer *bb, void **out, size_t *len)
{
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb))
        return CHURN_EIO;
    grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    size_t n = GRPC_SLICE_LENGTH(slice);
    void *p = churn_malloc(n + 1);
    if (!p) {
        grpc_slice_unref(slice);
        return CHURN_ENOMEM;
    }
    memcpy(p, GRPC_SLICE_START_PTR(slice), n);
    ((char *)p)[n] = '\0';
    grpc_slice_unref(slice);
    *out = p;
    *len = n;
    return CHURN_OK;
}

/* A heap copy of @s as a string (NULL without memory). */
static char *
slice_dup(grpc_slice s)
{
    size_t n = GRPC_SLICE_LENGTH(s);
    char *p = churn_malloc(n + 1);
    if (p) {
        memcpy(p, GRPC_SLICE_START_PTR(s), n);
        p[n] = '\0';
    }
    return p;
}

static void
set_status(struct churn_client_status *st, grpc_status_code code, grpc_slice details,
           const grpc_metadata_array *trailers)
{
    st->code = (int)code;
    st->details = slice_dup(details);
    st->owner_address = NULL;
    for (size_t i = 0; code != GRPC_STATUS_OK && i < trailers->count; i++)
        if (grpc_slice_str_cmp(trailers->metadata[i].key, "x-churn-owner-address") == 0)
            st->owner_address = slice_dup(trailers->metadata[i].value);
}

/* SEND_INITIAL_METADATA with the stream's headers and the client's token, if any. */
static void
set_initial_md(struct churn_client_stream *s, grpc_op *op)
{
    if (s->client->has_token) {
        grpc_metadata *md = &s->headers[s->n_headers++];
        md->key = grpc_slice_ref(s->client->auth_md.key);
        md->value = grpc_slice_ref(s->client->auth_md.value);
    }
    op->op = GRPC_OP_SEND_INITIAL_METADATA;
    op->data.send_initial_metadata.count = s->n_headers;
    op->data.send_initial_metadata.metadata = s->headers;
}

static bool
run_batch(grpc_call *call, grpc_completion_queue *cq, grpc_op *ops, size_t n, void *tag)
{
    if (grpc_call_start_batch(call, ops, n, tag, NULL) != GRPC_CALL_OK)
        return false;
    grpc_event ev = grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

enum churn_err
churn_client_unary(struct churn_client *c, const char *method, const void *req, size_t req_len,
                   int timeout_ms, void **resp, size_t *resp_len, struct churn_client_status *st)
{
    return churn_client_unary_with(c, method, NULL, 0, req, req_len, timeout_ms, resp, resp_len,
                                   st);
}

enum churn_err
churn_client_unary_with(struct churn_client *c, const char *method,
                        const struct churn_client_header *headers, size_t n_headers,
                        const void *req, size_t req_len, int timeout_ms, void **resp,
                        size_t *resp_len, struct churn_client_status *st)
{
    struct churn_client_stream *s;
    enum churn_err err = churn_client_stream_open(c, method, timeout_ms, &s);
    if (err)
        return err;
    for (size_t i = 0; i < n_headers && !err; i++)
        err = churn_client_stream_set_header(s, headers[i].key, headers[i].value);
    if (err) {
        churn_client_stream_finish(s, true, NULL);
        return err;
    }
    grpc_byte_buffer *send = bytes_to_bb(req, req_len);
    grpc_byte_buffer *recv = NULL;
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    set_initial_md(s, &ops[0]);
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    ops[5].data.recv_status_on_client.status = &code;
    ops[5].data.recv_status_on_client.status_details = &details;
    if (!run_batch(s->call, s->cq, ops, 6, &s->tag)) {
        err = CHURN_EIO;
        goto out;
    }
    *resp = NULL;
    *resp_len = 0;
    if (code == GRPC_STATUS_OK && recv) {
        err = churn__bb_to_bytes(recv, resp, resp_len);
        if (err)
            goto out;
    }
    set_status(st, code, details, &s->trailing_md);
out:
    grpc_byte_buffer_destroy(send);
    if (recv)
        grpc_byte_buffer_destroy(recv);
    grpc_slice_unref(details);
    s->md_received = true;
    churn_client_stream_finish(s, false, NULL);
    return err;
}

enum churn_err
churn_client_stream_open(struct churn_client *c, const char *method, int timeout_ms,
                         struct churn_client_stream **out)
{
    struct churn_client_stream *s = churn_calloc(1, sizeof(*s));
    if (!s)
        return CHURN_ENOMEM;
    s->client = c;
    s->cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice m = grpc_slice_from_copied_string(method);
    s->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, m, NULL,
                                       deadline_in(timeout_ms), NULL);
    grpc_slice_unref(m);
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    if (!s->call) {
        grpc_completion_queue_shutdown(s->cq);
        grpc_completion_queue_destroy(s->cq);
        churn_free(s);
        return CHURN_EIO;
    }
    *out = s;
    return CHURN_OK;
}

enum churn_err
churn_client_stream_set_header(struct churn_client_stream *s, const char *key, const char *value)
{
    if (s->md_sent || s->n_headers == HEADERS_MAX)
        return CHURN_EFULL;
    grpc_metadata *md = &s->headers[s->n_headers++];
    memset(md, 0, sizeof(*md));
    md->key = grpc_slice_from_copied_string(key);
    md->value = grpc_slice_from_copied_string(value);
    return CHURN_OK;
}

enum churn_err
churn_client_stream_send(struct churn_client_stream *s, const void *msg, size_t len)
{
    grpc_byte_buffer *bb = bytes_to_bb(msg, len);
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    if (!s->md_sent)
        set_initial_md(s, &ops[n++]);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = bb;
    n++;
    bool ok = run_batch(s->call, s->cq, ops, n, &s->tag);
    s->md_sent = true;
    grpc_byte_buffer_destroy(bb);
    return ok ? CHURN_OK : CHURN_EIO;
}

enum churn_err
churn_client_stream_close_send(struct churn_client_stream *s)
{
    if (s->send_closed)
        return CHURN_OK;
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    if (!s->md_sent)
        set_initial_md(s, &ops[n++]);
    ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    bool ok = run_batch(s->call, s->cq, ops, n, &s->tag);
    s->md_sent = true;
    s->send_closed = true;
    return ok ? CHURN_OK : CHURN_EIO;
}

enum churn_err
churn_client_stream_recv(struct churn_client_stream *s, void **msg, size_t *len)
{
    grpc_byte_buffer *bb = NULL;
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    if (!s->md_received) {
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
        n++;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n].data.recv_message.recv_message = &bb;
    n++;
    bool ok = run_batch(s->call, s->cq, ops, n, &s->tag);
    s->md_received = true;
    if (!ok || !bb) {
        if (bb)
            grpc_byte_buffer_destroy(bb);
        return CHURN_ENOTFOUND;
    }
    enum churn_err err = churn__bb_to_bytes(bb, msg, len);
    grpc_byte_buffer_destroy(bb);
    return err;
}

enum churn_err
churn_client_stream_finish(struct churn_client_stream *s, bool cancel,
                           struct churn_client_status *st)
{
    enum churn_err err = CHURN_OK;
    if (cancel)
        grpc_call_cancel(s->call, NULL);
    if (st) {
        grpc_status_code code = GRPC_STATUS_UNKNOWN;
        grpc_slice details = grpc_empty_slice();
        grpc_op ops[2];
        memset(ops, 0, sizeof(ops));
        size_t n = 0;
        if (!s->md_received) {
            ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
            ops[n].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
            n++;
        }
        ops[n].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[n].data.recv_status_on_client.trailing_metadata = &s->trailing_md;
        ops[n].data.recv_status_on_client.status = &code;
        ops[n].data.recv_status_on_client.status_details = &details;
        n++;
        if (grpc_call_start_batch(s->call, ops, n, &s->tag, NULL) == GRPC_CALL_OK) {
            grpc_completion_queue_pluck(s->cq, &s->tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
            set_status(st, code, details, &s->trailing_md);
        } else {
            err = CHURN_EIO;
        }
        grpc_slice_unref(details);
    }
    grpc_call_unref(s->call);
    /* every batch was plucked already: the queue is empty */
    grpc_completion_queue_shutdown(s->cq);
    grpc_completion_queue_destroy(s->cq);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    for (size_t i = 0; i < s->n_headers; i++) {
        grpc_slice_unref(s->headers[i].key);
        grpc_slice_unref(s->headers[i].value);
    }
    churn_free(s);
    return err;
}
