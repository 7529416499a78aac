/*
 * call.c - one gRPC call from arrival to release: the four call shapes as small state
 * machines over gRPC core batches, the request decoding into the call's arena, the send
 * queue (one SEND_MESSAGE outstanding, one RECV_MESSAGE outstanding), status, cancellation
 * and the struct churn_rpc API that handlers use. Completions arrive on the call's worker
 * thread; sends may come from any thread and are serialised by the call's mutex.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/log.h"
#include "churn/metrics.h"
#include "churn/pb_arena.h"
#include "internal.h"

#define CALL_ARENA_MIN   (1024 * 1024)
#define CALL_ARENA_RATIO 16 /* decoded messages may take this many times their wire size */

uint32_t
churn__recv_limit(const struct churn_server_options *opts, const struct churn_method *m)
{
    uint32_t limit = opts->max_recv_bytes;
    if (m && m->max_request_bytes && m->max_request_bytes < limit)
        limit = m->max_request_bytes;
    return limit;
}

/* ---- allocation -------------------------------------------------------------------------- */

struct churn_rpc *
churn__rpc_new(struct churn__worker *w, size_t method_index)
{
    struct churn_rpc *rpc = churn_calloc(1, sizeof(*rpc));
    if (!rpc)
        return NULL;
    struct churn_server *s = w->server;
    rpc->worker = w;
    rpc->method_index = method_index;
    rpc->unregistered = method_index >= s->n_methods;
    rpc->method = rpc->unregistered ? NULL : &s->methods[method_index];
    rpc->t_new.kind = CHURN__TAG_NEW_CALL;
    rpc->t_recv.kind = CHURN__TAG_RECV;
    rpc->t_send.kind = CHURN__TAG_SEND;
    rpc->t_close.kind = CHURN__TAG_CLOSE;
    pthread_mutex_init(&rpc->mu, NULL);
    atomic_init(&rpc->refs, 1);
    grpc_metadata_array_init(&rpc->request_md);
    grpc_call_details_init(&rpc->details);
    size_t limit = (size_t)churn__recv_limit(&s->opts, rpc->method) * CALL_ARENA_RATIO;
    if (rpc->method && rpc->method->arena_bytes)
        limit = rpc->method->arena_bytes;
    if (limit < CALL_ARENA_MIN)
        limit = CALL_ARENA_MIN;
    churn_arena_init(&rpc->arena, limit);
    churn_arena_init(&rpc->scratch, limit);
    rpc->status_details = grpc_empty_slice();
    return rpc;
}

static void
drop_queue_locked(struct churn_rpc *rpc)
{
    struct churn__outmsg *m = rpc->q_head;
    while (m) {
        struct churn__outmsg *next = m->next;
        grpc_byte_buffer_destroy(m->bb);
        churn_free(m);
        m = next;
    }
    rpc->q_head = rpc->q_tail = NULL;
    rpc->q_len = 0;
}

/* Release everything that belongs to gRPC; the struct itself lives while references do. */
static void
release_call_resources(struct churn_rpc *rpc)
{
    pthread_mutex_lock(&rpc->mu);
    drop_queue_locked(rpc);
    if (rpc->send_bb) {
        grpc_byte_buffer_destroy(rpc->send_bb);
        rpc->send_bb = NULL;
    }
    if (rpc->packed) {
        grpc_byte_buffer_destroy(rpc->packed);
        rpc->packed = NULL;
    }
    grpc_slice_unref(rpc->status_details);
    rpc->status_details = grpc_empty_slice();
    for (size_t i = 0; i < rpc->n_trailers; i++) {
        grpc_slice_unref(rpc->trailers[i].key);
        grpc_slice_unref(rpc->trailers[i].value);
    }
    rpc->n_trailers = 0;
    pthread_mutex_unlock(&rpc->mu);
    if (rpc->recv_bb) {
        grpc_byte_buffer_destroy(rpc->recv_bb);
        rpc->recv_bb = NULL;
    }
    if (rpc->payload) {
        grpc_byte_buffer_destroy(rpc->payload);
        rpc->payload = NULL;
    }
    if (rpc->call) {
        grpc_call_unref(rpc->call);
        rpc->call = NULL;
    }
    grpc_metadata_array_destroy(&rpc->request_md);
    grpc_metadata_array_init(&rpc->request_md);
    grpc_call_details_destroy(&rpc->details);
    grpc_call_details_init(&rpc->details);
    churn_arena_fini(&rpc->arena);
    churn_arena_fini(&rpc->scratch);
}

void
churn__rpc_discard(struct churn_rpc *rpc)
{
    release_call_resources(rpc);
    churn_rpc_unref(rpc);
}

struct churn_rpc *
churn_rpc_ref(struct churn_rpc *rpc)
{
    atomic_fetch_add(&rpc->refs, 1);
    return rpc;
}

void
churn_rpc_unref(struct churn_rpc *rpc)
{
    if (atomic_fetch_sub(&rpc->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&rpc->mu);
    gpr_free(rpc->peer);
    churn_free(rpc->error_msg);
    churn_free(rpc);
}

/* ---- accessors ---------------------------------------------------------------------------- */

const struct churn_method *
churn_rpc_method(const struct churn_rpc *rpc)
{
    return rpc->method;
}

void *
churn_rpc_service(const struct churn_rpc *rpc)
{
    return rpc->method ? rpc->method->service : NULL;
}

struct churn_arena *
churn_rpc_arena(struct churn_rpc *rpc)
{
    return &rpc->arena;
}

struct churn_arena *
churn_rpc_scratch(struct churn_rpc *rpc)
{
    return &rpc->scratch;
}

void **
churn_rpc_state(struct churn_rpc *rpc)
{
    return &rpc->state;
}

static char *
vformat_heap(const char *fmt, va_list ap)
{
    char tmp[1024];
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    return churn_strdup(tmp);
}

enum churn_err
churn_rpc_error(struct churn_rpc *rpc, enum churn_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat_heap(fmt, ap);
    va_end(ap);
    churn_free(rpc->error_msg);
    rpc->error_msg = msg;
    return err;
}

int64_t
churn_rpc_deadline_ms(const struct churn_rpc *rpc)
{
    gpr_timespec d = gpr_convert_clock_type(rpc->deadline, GPR_CLOCK_REALTIME);
    if (gpr_time_cmp(d, gpr_inf_future(GPR_CLOCK_REALTIME)) == 0)
        return INT64_MAX;
    return (int64_t)d.tv_sec * 1000 + d.tv_nsec / 1000000;
}

bool
churn_rpc_deadline_passed(const struct churn_rpc *rpc)
{
    return gpr_time_cmp(gpr_now(rpc->deadline.clock_type), rpc->deadline) >= 0;
}

const char *
churn_rpc_metadata(const struct churn_rpc *rpc, const char *key, size_t *len)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < rpc->request_md.count; i++) {
        const grpc_metadata *md = &rpc->request_md.metadata[i];
        if (GRPC_SLICE_LENGTH(md->key) == klen &&
            memcmp(GRPC_SLICE_START_PTR(md->key), key, klen) == 0) {
            *len = GRPC_SLICE_LENGTH(md->value);
            return (const char *)GRPC_SLICE_START_PTR(md->value);
        }
    }
    return NULL;
}

enum churn_err
churn_rpc_set_trailer(struct churn_rpc *rpc, const char *key, const char *value)
{
    size_t max = sizeof(rpc->trailers) / sizeof(rpc->trailers[0]);
    pthread_mutex_lock(&rpc->mu);
    bool room = rpc->n_trailers < max && !rpc->status_sent;
    if (room) {
        grpc_metadata *md = &rpc->trailers[rpc->n_trailers++];
        memset(md, 0, sizeof(*md));
        md->key = grpc_slice_from_copied_string(key);
        md->value = grpc_slice_from_copied_string(value);
    }
    pthread_mutex_unlock(&rpc->mu);
    return room ? CHURN_OK : CHURN_EFULL;
}

bool
churn_rpc_is_over(struct churn_rpc *rpc)
{
    pthread_mutex_lock(&rpc->mu);
    bool over = rpc->over;
    pthread_mutex_unlock(&rpc->mu);
    return over;
}

size_t
churn_rpc_queued(struct churn_rpc *rpc)
{
    pthread_mutex_lock(&rpc->mu);
    size_t n = rpc->q_len;
    pthread_mutex_unlock(&rpc->mu);
    return n;
}

bool
churn_rpc_notify_writable(struct churn_rpc *rpc, size_t below)
{
    pthread_mutex_lock(&rpc->mu);
    bool wait = rpc->q_len >= below && !rpc->over && !rpc->status_queued;
    rpc->writable_below = wait ? below : 0;
    pthread_mutex_unlock(&rpc->mu);
    return wait;
}

const struct churn_rpc_fault *
churn_rpc_faults(const struct churn_rpc *rpc, size_t *n)
{
    *n = rpc->n_faults;
    return rpc->faults;
}

const struct churn_rpc_fault *
churn_rpc_fault_for(const struct churn_rpc *rpc, uint32_t field, size_t index)
{
    for (size_t i = 0; i < rpc->n_faults; i++)
        if (rpc->faults[i].field == field && rpc->faults[i].index == index)
            return &rpc->faults[i];
    return NULL;
}

char *
churn_rpc_fault_format(const struct churn_rpc_fault *f, const char *prefix, char *buf, size_t len)
{
    char top[80];
    if (prefix)
        snprintf(top, sizeof(top), "%s", prefix);
    else if (f->repeated)
        snprintf(top, sizeof(top), "%s[%zu]", f->field_name, f->index);
    else
        snprintf(top, sizeof(top), "%s", f->field_name);
    snprintf(buf, len, "%s%s%s: %s", top, f->path[0] ? "." : "", f->path, f->what);
    return buf;
}

/* ---- codec ---------------------------------------------------------------------------------- */

static grpc_byte_buffer *
pack_message(const ProtobufCMessage *msg)
{
    size_t size = protobuf_c_message_get_packed_size(msg);
    grpc_slice slice = grpc_slice_malloc(size);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return bb;
}

/*
 * The edge rule for strings and enums (wire_check.c): the first fault fails the call unless
 * the method turns faults into per-item errors itself.
 */
static enum churn_err
check_wire(struct churn_rpc *rpc, const struct churn_method *m, const uint8_t *data, size_t len,
           struct churn_arena *arena)
{
    struct churn_rpc_fault *faults;
    size_t n;
    rpc->faults = NULL;
    rpc->n_faults = 0;
    enum churn_err err = churn__wire_check(m->request, data, len, arena, &faults, &n);
    if (err == CHURN_EINVAL)
        return churn_rpc_error(rpc, err, "request: not a valid %s message (%zu bytes)",
                               m->request->name, len);
    if (err)
        return churn_rpc_error(rpc, CHURN_ETOOBIG, "request: too many bad fields to list");
    if (n && !m->per_item_faults) {
        char msg[256];
        return churn_rpc_error(rpc, CHURN_EINVAL, "%s",
                               churn_rpc_fault_format(&faults[0], NULL, msg, sizeof(msg)));
    }
    rpc->faults = faults;
    rpc->n_faults = n;
    return CHURN_OK;
}

enum churn_err
churn__rpc_decode(struct churn_rpc *rpc, const uint8_t *data, size_t len, struct churn_arena *arena,
                  ProtobufCMessage **out)
{
    const struct churn_method *m = rpc->method;
    churn_metrics_rpc_received(rpc->worker->server->opts.metrics, rpc->method_index);
    uint32_t limit = churn__recv_limit(&rpc->worker->server->opts, m);
    if (len > limit)
        return churn_rpc_error(rpc, CHURN_ETOOBIG,
                               "request: %zu bytes is over the %u-byte limit of %s", len,
                               (unsigned)limit, m->name);
    ProtobufCAllocator alloc = churn_pb_arena_allocator(arena);
    ProtobufCMessage *msg = protobuf_c_message_unpack(m->request, &alloc, len, data);
    if (!msg)
        return churn_rpc_error(rpc, CHURN_EINVAL, "request: not a valid %s message (%zu bytes)",
                               m->request->name, len);
    enum churn_err err = check_wire(rpc, m, data, len, arena);
    if (err == CHURN_OK)
        *out = msg;
    return err;
}

/*
 * Decode @bb as the method's request into @arena. Returns CHURN_OK with *out set, or an
 * error recorded with churn_rpc_error().
 */
static enum churn_err
decode_request(struct churn_rpc *rpc, grpc_byte_buffer *bb, struct churn_arena *arena,
               ProtobufCMessage **out)
{
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb))
        return churn_rpc_error(rpc, CHURN_EINVAL, "request: message cannot be read");
    grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    enum churn_err err =
        churn__rpc_decode(rpc, GRPC_SLICE_START_PTR(slice), GRPC_SLICE_LENGTH(slice), arena, out);
    grpc_slice_unref(slice);
    return err;
}

/* ---- sending ------------------------------------------------------------------------------- */

static void
queue_status_locked(struct churn_rpc *rpc, enum churn_err err, const char *msg)
{
    if (rpc->status_queued || rpc->over)
        return;
    rpc->status_queued = true;
    rpc->status_err = err;
    rpc->status_code = churn__status_from_err(err);
    grpc_slice_unref(rpc->status_details);
    rpc->status_details = grpc_slice_from_copied_string(msg ? msg : "");
}

/* Start the next send batch if none is in flight. Caller holds rpc->mu. */
static void
pump_locked(struct churn_rpc *rpc)
{
    if (rpc->send_active || rpc->over || rpc->status_sent || !rpc->call)
        return;
    if (!rpc->q_head && !rpc->status_queued && !(rpc->want_md && !rpc->md_sent))
        return;
    grpc_op ops[3];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    bool with_md = !rpc->md_sent;
    if (with_md)
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    struct churn__outmsg *m = rpc->q_head;
    if (m) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = m->bb;
        n++;
    }
    bool with_status = rpc->status_queued && (!m || !m->next);
    if (with_status) {
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = rpc->status_code;
        ops[n].data.send_status_from_server.status_details = &rpc->status_details;
        ops[n].data.send_status_from_server.trailing_metadata_count = rpc->n_trailers;
        ops[n].data.send_status_from_server.trailing_metadata = rpc->trailers;
        n++;
    }
    grpc_call_error e = grpc_call_start_batch(rpc->call, ops, n, &rpc->t_send, NULL);
    if (e != GRPC_CALL_OK) {
        /* a failed batch never completes: give up on the call right here */
        churn_log(CHURN_LOG_ERROR, "send_failed",
                  CHURN_LF_STR("method", rpc->method ? rpc->method->name : "?"),
                  CHURN_LF_INT("grpc_call_error", e));
        rpc->status_sent = true;
        drop_queue_locked(rpc);
        grpc_call_cancel(rpc->call, NULL);
        return;
    }
    rpc->pending++;
    rpc->send_active = true;
    rpc->md_sent = true;
    if (m) {
        rpc->q_head = m->next;
        if (!rpc->q_head)
            rpc->q_tail = NULL;
        rpc->q_len--;
        rpc->send_bb = m->bb;
        churn_free(m);
    }
    if (with_status)
        rpc->status_sent = true;
}

static enum churn_err
enqueue_locked(struct churn_rpc *rpc, grpc_byte_buffer *bb, bool over_cap_ok)
{
    if (rpc->over || rpc->status_queued)
        return CHURN_ECANCELLED;
    if (!over_cap_ok && rpc->q_len >= rpc->worker->server->opts.max_send_queue)
        return CHURN_EFULL;
    struct churn__outmsg *m = churn_malloc(sizeof(*m));
    if (!m)
        return CHURN_ENOMEM;
    m->bb = bb;
    m->next = NULL;
    if (rpc->q_tail)
        rpc->q_tail->next = m;
    else
        rpc->q_head = m;
    rpc->q_tail = m;
    rpc->q_len++;
    return CHURN_OK;
}

static enum churn_err send_buffer(struct churn_rpc *rpc, grpc_byte_buffer *bb);

enum churn_err
churn_rpc_send(struct churn_rpc *rpc, const ProtobufCMessage *msg)
{
    return send_buffer(rpc, pack_message(msg));
}

/* Queue @bb (owned) on @rpc's send queue and pump; destroyed here when refused. */
static enum churn_err
send_buffer(struct churn_rpc *rpc, grpc_byte_buffer *bb)
{
    pthread_mutex_lock(&rpc->mu);
    enum churn_err err = enqueue_locked(rpc, bb, false);
    if (err == CHURN_OK)
        pump_locked(rpc);
    pthread_mutex_unlock(&rpc->mu);
    if (err)
        grpc_byte_buffer_destroy(bb);
    return err;
}

/* A serialized message shared by many sends: the grpc_slice's own reference count does it. */
struct churn_rpc_payload {
    grpc_slice slice;
};

struct churn_rpc_payload *
churn_rpc_payload_pack(const ProtobufCMessage *msg)
{
    struct churn_rpc_payload *p = churn_malloc(sizeof(*p));
    if (!p)
        return NULL;
    size_t size = protobuf_c_message_get_packed_size(msg);
    p->slice = grpc_slice_malloc(size);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(p->slice));
    return p;
}

struct churn_rpc_payload *
churn_rpc_payload_copy(const void *bytes, size_t len)
{
    struct churn_rpc_payload *p = churn_malloc(sizeof(*p));
    if (p)
        p->slice = grpc_slice_from_copied_buffer(bytes, len);
    return p;
}

void
churn_rpc_payload_free(struct churn_rpc_payload *p)
{
    if (!p)
        return;
    grpc_slice_unref(p->slice); /* byte buffers still queued hold their own references */
    churn_free(p);
}

enum churn_err
churn_rpc_send_payload(struct churn_rpc *rpc, const struct churn_rpc_payload *p)
{
    grpc_slice s = p->slice;
    return send_buffer(rpc, grpc_raw_byte_buffer_create(&s, 1)); /* takes a slice reference */
}

static void
finish_with(struct churn_rpc *rpc, enum churn_err err, const char *msg)
{
    pthread_mutex_lock(&rpc->mu);
    queue_status_locked(rpc, err, msg);
    pump_locked(rpc);
    pthread_mutex_unlock(&rpc->mu);
}

void
churn_rpc_finish(struct churn_rpc *rpc, enum churn_err err, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    finish_with(rpc, err, msg);
}

void
churn_rpc_defer(struct churn_rpc *rpc)
{
    rpc->deferred = true;
}

enum churn_err
churn_rpc_respond_packed(struct churn_rpc *rpc, const void *data, size_t len)
{
    grpc_slice slice = grpc_slice_from_copied_buffer(data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    if (!bb)
        return CHURN_ENOMEM;
    if (rpc->packed)
        grpc_byte_buffer_destroy(rpc->packed);
    rpc->packed = bb;
    return CHURN_OK;
}

void
churn_rpc_reply(struct churn_rpc *rpc, const ProtobufCMessage *msg)
{
    grpc_byte_buffer *bb = pack_message(msg);
    pthread_mutex_lock(&rpc->mu);
    enum churn_err err = enqueue_locked(rpc, bb, true);
    if (err == CHURN_OK) {
        queue_status_locked(rpc, CHURN_OK, "");
        pump_locked(rpc);
    }
    pthread_mutex_unlock(&rpc->mu);
    if (err)
        grpc_byte_buffer_destroy(bb);
}

/* End the call with the handler's error (its recorded message, or the generic text). */
static void
finish_error(struct churn_rpc *rpc, enum churn_err err)
{
    finish_with(rpc, err, rpc->error_msg ? rpc->error_msg : churn_strerror(err));
}

/* ---- receiving ----------------------------------------------------------------------------- */

static bool
start_locked_batch(struct churn_rpc *rpc, grpc_op *ops, size_t n, struct churn__tag *tag)
{
    pthread_mutex_lock(&rpc->mu);
    grpc_call_error e =
        rpc->call ? grpc_call_start_batch(rpc->call, ops, n, tag, NULL) : GRPC_CALL_ERROR;
    if (e == GRPC_CALL_OK)
        rpc->pending++;
    pthread_mutex_unlock(&rpc->mu);
    if (e != GRPC_CALL_OK)
        churn_log(CHURN_LOG_ERROR, "batch_failed",
                  CHURN_LF_STR("method", rpc->method ? rpc->method->name : "?"),
                  CHURN_LF_INT("grpc_call_error", e));
    return e == GRPC_CALL_OK;
}

static void
post_recv(struct churn_rpc *rpc)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &rpc->recv_bb;
    if (!start_locked_batch(rpc, &op, 1, &rpc->t_recv))
        finish_with(rpc, CHURN_EINTERNAL, "cannot receive");
}

static bool
post_close(struct churn_rpc *rpc)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &rpc->close_cancelled;
    return start_locked_batch(rpc, &op, 1, &rpc->t_close);
}

void
churn_rpc_hold_recv(struct churn_rpc *rpc)
{
    pthread_mutex_lock(&rpc->mu);
    rpc->hold_recv = true;
    pthread_mutex_unlock(&rpc->mu);
}

void
churn_rpc_resume_recv(struct churn_rpc *rpc)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &rpc->recv_bb;
    pthread_mutex_lock(&rpc->mu);
    rpc->hold_recv = false;
    bool post = rpc->recv_parked && !rpc->over && !rpc->status_queued && rpc->call;
    rpc->recv_parked = false;
    if (post && grpc_call_start_batch(rpc->call, &op, 1, &rpc->t_recv, NULL) == GRPC_CALL_OK)
        rpc->pending++;
    pthread_mutex_unlock(&rpc->mu);
}

/* ---- the end of a call ---------------------------------------------------------------------- */

static void
log_call(struct churn_rpc *rpc)
{
    if (!churn_log_enabled(CHURN_LOG_DEBUG))
        return;
    char method[256];
    if (rpc->method) {
        snprintf(method, sizeof(method), "%s", rpc->method->name);
    } else {
        snprintf(method, sizeof(method), "%.*s", (int)GRPC_SLICE_LENGTH(rpc->details.method),
                 (const char *)GRPC_SLICE_START_PTR(rpc->details.method));
    }
    const char *status =
        rpc->cancelled ? "CANCELLED" : churn_transport_status_name(rpc->status_code);
    churn_log(CHURN_LOG_DEBUG, "call", CHURN_LF_STR("method", method),
              CHURN_LF_STR("status", status),
              CHURN_LF_INT("duration_us", (churn_mono_ns() - rpc->start_ns) / 1000),
              CHURN_LF_STR("peer", rpc->peer ? rpc->peer : "?"));
}

static void
unlink_active(struct churn_rpc *rpc)
{
    struct churn__worker *w = rpc->worker;
    if (rpc->prev)
        rpc->prev->next = rpc->next;
    else if (w->active == rpc)
        w->active = rpc->next;
    if (rpc->next)
        rpc->next->prev = rpc->prev;
    rpc->prev = rpc->next = NULL;
}

/* Called on the worker thread after every completion: end the call once nothing is left. */
static void
maybe_end(struct churn_rpc *rpc)
{
    pthread_mutex_lock(&rpc->mu);
    bool end = rpc->over && rpc->pending == 0 && !rpc->done_called;
    if (end)
        rpc->done_called = true;
    pthread_mutex_unlock(&rpc->mu);
    if (!end)
        return;
    if (rpc->method && rpc->method->on_done)
        rpc->method->on_done(rpc);
    log_call(rpc);
    churn_metrics_rpc_handled(rpc->worker->server->opts.metrics, rpc->method_index,
                              rpc->cancelled ? GRPC_STATUS_CANCELLED : (int)rpc->status_code,
                              churn_mono_ns() - rpc->start_ns);
    unlink_active(rpc);
    atomic_fetch_sub(&rpc->worker->server->active_calls, 1);
    churn__rpc_discard(rpc);
}

static void
mark_over(struct churn_rpc *rpc, bool cancelled)
{
    pthread_mutex_lock(&rpc->mu);
    rpc->over = true;
    drop_queue_locked(rpc);
    pthread_mutex_unlock(&rpc->mu);
    rpc->cancelled = cancelled;
}

/* ---- the shapes ------------------------------------------------------------------------------ */

/* The server's gate (a shard's ownership check, issue 16), when it has one. */
static enum churn_err
run_gate(struct churn_rpc *rpc, const ProtobufCMessage *req, bool first)
{
    const struct churn_server_options *o = &rpc->worker->server->opts;
    return o->gate ? o->gate(o->gate_ctx, rpc, req, first) : CHURN_OK;
}

/* Unary: one batch carries the response, the status and RECV_CLOSE. */
static void
unary_respond(struct churn_rpc *rpc, enum churn_err err, const ProtobufCMessage *resp)
{
    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    pthread_mutex_lock(&rpc->mu);
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (err == CHURN_OK && (resp || rpc->packed)) {
        rpc->send_bb = resp ? pack_message(resp) : rpc->packed;
        rpc->packed = resp ? rpc->packed : NULL;
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = rpc->send_bb;
        n++;
    }
    rpc->status_err = err;
    rpc->status_code = churn__status_from_err(err);
    grpc_slice_unref(rpc->status_details);
    rpc->status_details = grpc_slice_from_copied_string(
        err == CHURN_OK ? "" : (rpc->error_msg ? rpc->error_msg : churn_strerror(err)));
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = rpc->status_code;
    ops[n].data.send_status_from_server.status_details = &rpc->status_details;
    ops[n].data.send_status_from_server.trailing_metadata_count = rpc->n_trailers;
    ops[n].data.send_status_from_server.trailing_metadata = rpc->trailers;
    n++;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n].data.recv_close_on_server.cancelled = &rpc->close_cancelled;
    n++;
    grpc_call_error e = grpc_call_start_batch(rpc->call, ops, n, &rpc->t_send, NULL);
    if (e == GRPC_CALL_OK) {
        rpc->pending++;
        rpc->send_active = true;
        rpc->md_sent = rpc->status_queued = rpc->status_sent = true;
        rpc->unary_batch = true;
    } else {
        rpc->over = true;
    }
    pthread_mutex_unlock(&rpc->mu);
    if (e != GRPC_CALL_OK)
        churn_log(CHURN_LOG_ERROR, "batch_failed", CHURN_LF_STR("method", rpc->method->name),
                  CHURN_LF_INT("grpc_call_error", e));
}

static void
start_unary(struct churn_rpc *rpc)
{
    const struct churn_method *m = rpc->method;
    ProtobufCMessage *req = NULL, *resp = NULL;
    enum churn_err err;
    if (!rpc->payload)
        err = churn_rpc_error(rpc, CHURN_EINVAL,
                              "request: no complete message received (none was sent, or the stream "
                              "ended inside one)");
    else
        err = decode_request(rpc, rpc->payload, &rpc->arena, &req);
    if (err == CHURN_OK)
        err = run_gate(rpc, req, true);
    if (err == CHURN_OK) {
        err = m->unary(rpc, req, &resp);
        if (err == CHURN_OK && rpc->deferred && !resp) {
            /* the answer comes later from another thread; listen for the end of the call */
            if (!post_close(rpc))
                mark_over(rpc, false);
            return;
        }
        if (err == CHURN_OK && !resp && !rpc->packed)
            err = churn_rpc_error(rpc, CHURN_EINTERNAL, "%s produced no response", m->name);
    }
    unary_respond(rpc, err, resp);
}

static void
start_stream(struct churn_rpc *rpc)
{
    const struct churn_method *m = rpc->method;
    if (!post_close(rpc)) {
        mark_over(rpc, false);
        return;
    }
    ProtobufCMessage *req = NULL;
    enum churn_err err = CHURN_OK;
    if (m->shape == CHURN_RPC_SERVER_STREAM) {
        if (!rpc->payload)
            err = churn_rpc_error(rpc, CHURN_EINVAL,
                                  "request: no complete message received (none was sent, or the "
                                  "stream ended inside one)");
        else
            err = decode_request(rpc, rpc->payload, &rpc->arena, &req);
    }
    if (m->shape != CHURN_RPC_CLIENT_STREAM) {
        /* streams answer with headers at once, so clients see the call is accepted */
        pthread_mutex_lock(&rpc->mu);
        rpc->want_md = true;
        pump_locked(rpc);
        pthread_mutex_unlock(&rpc->mu);
    }
    if (err == CHURN_OK)
        err = run_gate(rpc, req, true);
    if (err == CHURN_OK && m->on_start)
        err = m->on_start(rpc, req);
    if (err) {
        finish_error(rpc, err);
        return;
    }
    if (m->shape != CHURN_RPC_SERVER_STREAM)
        post_recv(rpc);
}

static void
answer_unregistered(struct churn_rpc *rpc)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "unknown method %.*s: see `grpcurl -plaintext HOST list`",
             (int)GRPC_SLICE_LENGTH(rpc->details.method),
             (const char *)GRPC_SLICE_START_PTR(rpc->details.method));
    rpc->deadline = rpc->details.deadline;
    if (!post_close(rpc)) {
        mark_over(rpc, false);
        return;
    }
    pthread_mutex_lock(&rpc->mu);
    rpc->status_queued = true;
    rpc->status_code = GRPC_STATUS_UNIMPLEMENTED;
    grpc_slice_unref(rpc->status_details);
    rpc->status_details = grpc_slice_from_copied_string(msg);
    pump_locked(rpc);
    pthread_mutex_unlock(&rpc->mu);
}

/* --max-metadata-bytes, counted as HTTP/2 does (name, value and 32 bytes an entry). Core's
 * own limit is higher (server.c): core ends the whole connection for a header block over its
 * limit, so this one refuses the call alone and the connection serves the next call. */
static bool
metadata_over_limit(struct churn_rpc *rpc, int limit)
{
    size_t total = GRPC_SLICE_LENGTH(rpc->details.method) + GRPC_SLICE_LENGTH(rpc->details.host);
    for (size_t i = 0; i < rpc->request_md.count; i++) {
        const grpc_metadata *md = &rpc->request_md.metadata[i];
        total += GRPC_SLICE_LENGTH(md->key) + GRPC_SLICE_LENGTH(md->value) + 32;
    }
    if (total <= (size_t)limit)
        return false;
    churn_rpc_error(rpc, CHURN_ETOOBIG,
                    "request metadata: %zu bytes, over the limit of %d (--max-metadata-bytes)",
                    total, limit);
    return true;
}

void
churn__rpc_on_new_call(struct churn_rpc *rpc, bool ok)
{
    struct churn__worker *w = rpc->worker;
    struct churn_server *s = w->server;
    if (!ok) {
        /* the server is shutting down: the request was cancelled */
        churn__rpc_discard(rpc);
        return;
    }
    if (!atomic_load(&s->draining))
        churn__server_request(w, rpc->method_index);
    rpc->start_ns = churn_mono_ns();
    churn_metrics_rpc_started(s->opts.metrics, rpc->method_index);
    if (churn_log_enabled(CHURN_LOG_DEBUG))
        rpc->peer = grpc_call_get_peer(rpc->call); /* gone once a cancelled call ends */
    atomic_fetch_add(&s->active_calls, 1);
    rpc->next = w->active;
    if (w->active)
        w->active->prev = rpc;
    w->active = rpc;

    if (metadata_over_limit(rpc, s->opts.max_metadata_bytes)) {
        unary_respond(rpc, CHURN_ETOOBIG, NULL);
    } else if (rpc->unregistered) {
        answer_unregistered(rpc);
    } else if (rpc->method->unimplemented) {
        churn_rpc_error(rpc, CHURN_EUNIMPL, "%s", rpc->method->unimplemented);
        unary_respond(rpc, CHURN_EUNIMPL, NULL);
    } else if (atomic_load(&s->draining)) {
        churn_rpc_error(rpc, CHURN_EUNAVAIL, "server is shutting down");
        unary_respond(rpc, CHURN_EUNAVAIL, NULL);
    } else if (rpc->method->shape == CHURN_RPC_UNARY) {
        start_unary(rpc);
    } else {
        start_stream(rpc);
    }
    churn_arena_reset(&rpc->scratch);
    maybe_end(rpc);
}

void
churn__rpc_half_close(struct churn_rpc *rpc)
{
    const struct churn_method *m = rpc->method;
    rpc->half_closed = true;
    ProtobufCMessage *resp = NULL;
    enum churn_err err = m->on_half_close ? m->on_half_close(rpc, &resp) : CHURN_OK;
    if (err) {
        finish_error(rpc, err);
        return;
    }
    if (m->shape == CHURN_RPC_BIDI_STREAM) {
        if (!rpc->deferred) /* a deferred stream ends with the handler's churn_rpc_finish() */
            finish_with(rpc, CHURN_OK, "");
        return;
    }
    if (rpc->deferred && !resp)
        return;
    if (!resp) {
        churn_rpc_error(rpc, CHURN_EINTERNAL, "%s produced no response", m->name);
        finish_error(rpc, CHURN_EINTERNAL);
        return;
    }
    churn_rpc_reply(rpc, resp);
}

enum churn_err
churn__rpc_message(struct churn_rpc *rpc, const uint8_t *data, size_t len)
{
    ProtobufCMessage *req = NULL;
    enum churn_err err = churn__rpc_decode(rpc, data, len, &rpc->scratch, &req);
    if (err == CHURN_OK)
        err = run_gate(rpc, req, false);
    if (err == CHURN_OK)
        err = rpc->method->on_message(rpc, req);
    if (err)
        finish_error(rpc, err);
    return err;
}

void
churn__rpc_on_recv(struct churn_rpc *rpc, bool ok)
{
    pthread_mutex_lock(&rpc->mu);
    rpc->pending--;
    bool stopped = rpc->status_queued || rpc->over;
    pthread_mutex_unlock(&rpc->mu);
    grpc_byte_buffer *bb = rpc->recv_bb;
    rpc->recv_bb = NULL;
    if (!ok || stopped) {
        if (bb)
            grpc_byte_buffer_destroy(bb);
        goto out;
    }
    if (!bb) {
        churn__rpc_half_close(rpc);
        goto out;
    }
    grpc_byte_buffer_reader reader;
    enum churn_err err = CHURN_OK;
    if (!grpc_byte_buffer_reader_init(&reader, bb)) {
        churn_rpc_error(rpc, CHURN_EINVAL, "request: message cannot be read");
        finish_error(rpc, err = CHURN_EINVAL);
    } else {
        grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);
        err = churn__rpc_message(rpc, GRPC_SLICE_START_PTR(slice), GRPC_SLICE_LENGTH(slice));
        grpc_slice_unref(slice);
    }
    grpc_byte_buffer_destroy(bb);
    if (err)
        goto out;
    pthread_mutex_lock(&rpc->mu);
    bool full = rpc->q_len >= rpc->worker->server->opts.max_send_queue;
    stopped = rpc->status_queued || rpc->over;
    pthread_mutex_unlock(&rpc->mu);
    if (stopped)
        goto out;
    if (full) {
        rpc->recv_paused = true; /* resumed when the client has read enough */
    } else {
        pthread_mutex_lock(&rpc->mu);
        bool held = rpc->hold_recv;
        rpc->recv_parked = held;
        pthread_mutex_unlock(&rpc->mu);
        if (!held)
            post_recv(rpc);
    }
out:
    churn_arena_reset(&rpc->scratch);
    maybe_end(rpc);
}

void
churn__rpc_on_send(struct churn_rpc *rpc, bool ok)
{
    pthread_mutex_lock(&rpc->mu);
    rpc->pending--;
    rpc->send_active = false;
    if (rpc->send_bb) {
        if (ok)
            churn_metrics_rpc_sent(rpc->worker->server->opts.metrics, rpc->method_index);
        grpc_byte_buffer_destroy(rpc->send_bb);
        rpc->send_bb = NULL;
    }
    bool unary = rpc->unary_batch;
    if (!ok)
        drop_queue_locked(rpc);
    else
        pump_locked(rpc);
    bool resume = rpc->q_len <= rpc->worker->server->opts.max_send_queue / 2 && !rpc->status_queued;
    bool writable = ok && rpc->writable_below && rpc->q_len < rpc->writable_below &&
                    !rpc->status_queued && !rpc->over;
    if (writable)
        rpc->writable_below = 0;
    pthread_mutex_unlock(&rpc->mu);
    if (writable && rpc->method && rpc->method->on_writable)
        rpc->method->on_writable(rpc);
    if (unary) {
        mark_over(rpc, rpc->close_cancelled != 0);
    } else if (ok && resume && rpc->recv_paused) {
        rpc->recv_paused = false;
        post_recv(rpc);
    }
    maybe_end(rpc);
}

void
churn__rpc_on_close(struct churn_rpc *rpc, bool ok)
{
    pthread_mutex_lock(&rpc->mu);
    rpc->pending--;
    pthread_mutex_unlock(&rpc->mu);
    mark_over(rpc, rpc->close_cancelled != 0 || !ok);
    maybe_end(rpc);
}
