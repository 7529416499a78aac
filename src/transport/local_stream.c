/*
 * local_stream.c - a client- or bidi-streaming method of the table run in-process, without a
 * connection (issue 13: the AnalyzeChat fuzz target drives the handler the RPC uses). The call
 * is an ordinary struct churn_rpc made by churn__rpc_new() on a private server and worker with
 * the production options and no grpc_call: each request message goes through
 * churn__rpc_message() (size limit, decoding, wire check, on_message) exactly as a received
 * one does, what the handler sends waits in the call's send queue until it is taken, and the
 * end of the stream is the call's queued status.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/support/time.h>

#include "churn/alloc.h"
#include "internal.h"

/* The server and worker a local call hangs from; freed with the call's close. */
struct local_host {
    struct churn_server server;
    struct churn__worker worker;
};

static struct local_host *
host_of(struct churn_rpc *rpc)
{
    return (struct local_host *)((char *)rpc->worker - offsetof(struct local_host, worker));
}

enum churn_err
churn_rpc_local_stream_open(const struct churn_method *m, struct churn_rpc **out, char *msg,
                            size_t msglen)
{
    if ((m->shape != CHURN_RPC_CLIENT_STREAM && m->shape != CHURN_RPC_BIDI_STREAM) ||
        !m->on_message || m->unimplemented)
        return churn_fail(msg, msglen, CHURN_EUNIMPL, "%s is not a client or bidi stream", m->name);
    struct local_host *h = churn_calloc(1, sizeof(*h));
    if (!h)
        return churn_fail(msg, msglen, CHURN_ENOMEM, "out of memory");
    churn_server_options_default(&h->server.opts);
    h->server.methods = m;
    h->server.n_methods = 1;
    h->worker.server = &h->server;
    struct churn_rpc *rpc = churn__rpc_new(&h->worker, 0);
    if (!rpc) {
        churn_free(h);
        return churn_fail(msg, msglen, CHURN_ENOMEM, "out of memory");
    }
    rpc->deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
    *out = rpc;
    enum churn_err err = m->on_start ? m->on_start(rpc, NULL) : CHURN_OK;
    if (err) {
        const char *why = rpc->error_msg ? rpc->error_msg : churn_strerror(err);
        churn_rpc_finish(rpc, err, "%s", why);
        return churn_fail(msg, msglen, err, "%s", why);
    }
    return CHURN_OK;
}

enum churn_err
churn_rpc_local_stream_send(struct churn_rpc *rpc, const uint8_t *data, size_t len)
{
    pthread_mutex_lock(&rpc->mu);
    bool ended = rpc->status_queued || rpc->over, held = rpc->hold_recv;
    pthread_mutex_unlock(&rpc->mu);
    if (ended)
        return CHURN_ECANCELLED;
    if (held)
        return CHURN_EAGAIN;
    enum churn_err err = churn__rpc_message(rpc, data, len);
    churn_arena_reset(&rpc->scratch);
    return err;
}

void
churn_rpc_local_stream_half_close(struct churn_rpc *rpc)
{
    pthread_mutex_lock(&rpc->mu);
    bool ended = rpc->status_queued || rpc->over;
    pthread_mutex_unlock(&rpc->mu);
    if (!ended)
        churn__rpc_half_close(rpc);
    churn_arena_reset(&rpc->scratch);
}

bool
churn_rpc_local_stream_take(struct churn_rpc *rpc, uint8_t **data, size_t *len)
{
    pthread_mutex_lock(&rpc->mu);
    struct churn__outmsg *m = rpc->q_head;
    if (m) {
        rpc->q_head = m->next;
        if (!rpc->q_head)
            rpc->q_tail = NULL;
        rpc->q_len--;
    }
    /* as the transport does once a send completes: the handler asked to hear of room */
    bool writable = m && rpc->writable_below && rpc->q_len < rpc->writable_below &&
                    !rpc->status_queued && !rpc->over;
    if (writable)
        rpc->writable_below = 0;
    pthread_mutex_unlock(&rpc->mu);
    if (!m)
        return false;
    bool ok = churn__bb_to_bytes(m->bb, (void **)data, len) == CHURN_OK;
    grpc_byte_buffer_destroy(m->bb);
    churn_free(m);
    if (writable && rpc->method->on_writable)
        rpc->method->on_writable(rpc);
    return ok;
}

bool
churn_rpc_local_stream_status(struct churn_rpc *rpc, enum churn_err *err, char *msg, size_t msglen)
{
    pthread_mutex_lock(&rpc->mu);
    bool ended = rpc->status_queued;
    if (ended) {
        *err = rpc->status_err;
        snprintf(msg, msglen, "%.*s", (int)GRPC_SLICE_LENGTH(rpc->status_details),
                 (const char *)GRPC_SLICE_START_PTR(rpc->status_details));
    }
    pthread_mutex_unlock(&rpc->mu);
    return ended;
}

void
churn_rpc_local_stream_close(struct churn_rpc *rpc)
{
    if (!rpc)
        return;
    struct local_host *h = host_of(rpc);
    pthread_mutex_lock(&rpc->mu);
    rpc->over = true; /* from here every send and finish is refused before it looks further */
    bool done = rpc->done_called;
    rpc->done_called = true;
    pthread_mutex_unlock(&rpc->mu);
    if (!done && rpc->method->on_done)
        rpc->method->on_done(rpc);
    churn__rpc_discard(rpc);
    churn_free(h);
}
