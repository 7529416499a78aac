/*
 * churn/rpc.h - the contract between the transport and the service handlers.
 *
 * The service layer describes each RPC with a struct churn_method row (name, shape,
 * protobuf-c descriptors, handlers, limits); the transport drives the gRPC call and hands the
 * handlers decoded protobuf-c messages and an opaque struct churn_rpc. Handlers never see a
 * gRPC type. The four shapes:
 *
 *   unary          unary(req, &resp)                          → one response or an error
 *   client stream  on_start, on_message(req)..., on_half_close(&resp) → one response
 *   server stream  on_start(req); churn_rpc_send()... ; churn_rpc_finish()
 *   bidi stream    on_start, on_message(req) (may churn_rpc_send)..., on_half_close
 *
 * on_done() is called exactly once when the call is over (finished, cancelled by the client,
 * deadline passed, or server shutdown), on the call's worker thread; after it returns the
 * transport drops its reference. A handler that keeps the rpc beyond a callback (a
 * subscriber list) takes a reference with churn_rpc_ref() and drops it in on_done.
 *
 * Threading: callbacks for one call never run concurrently. churn_rpc_send(),
 * churn_rpc_finish() and churn_rpc_reply() may be called from any thread.
 */
#ifndef CHURN_RPC_H
#define CHURN_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "churn/arena.h"
#include "churn/error.h"

enum churn_rpc_shape {
    CHURN_RPC_UNARY,
    CHURN_RPC_CLIENT_STREAM,
    CHURN_RPC_SERVER_STREAM,
    CHURN_RPC_BIDI_STREAM,
};

struct churn_rpc;

struct churn_method {
    const char *name; /* full gRPC path: "/churn.v1.ScoringService/GetScore" */
    enum churn_rpc_shape shape;
    const ProtobufCMessageDescriptor *request;
    const ProtobufCMessageDescriptor *response;

    /* unary: build *resp (in churn_rpc_arena) or return an error */
    enum churn_err (*unary)(struct churn_rpc *rpc, const ProtobufCMessage *req,
                            ProtobufCMessage **resp);
    /* streams: start of the call; @req is the request for server streams, NULL otherwise */
    enum churn_err (*on_start)(struct churn_rpc *rpc, const ProtobufCMessage *req);
    /* client and bidi streams: one received message (valid until the callback returns) */
    enum churn_err (*on_message)(struct churn_rpc *rpc, const ProtobufCMessage *req);
    /* client and bidi streams: the client half-closed. Client streams set *resp (or defer);
     * bidi streams leave it NULL and the call ends with OK after queued messages. */
    enum churn_err (*on_half_close)(struct churn_rpc *rpc, ProtobufCMessage **resp);
    /* every shape that has per-call state: the call is over */
    void (*on_done)(struct churn_rpc *rpc);
    /* server and bidi streams: the send queue went below the mark given to
     * churn_rpc_notify_writable() (once per request; on the call's worker thread) */
    void (*on_writable)(struct churn_rpc *rpc);

    uint32_t max_request_bytes; /* per message; 0: the server's receive limit */
    uint32_t arena_bytes;       /* call and scratch arena cap; 0: 16 x max_request_bytes */
    const char *unimplemented;  /* non-NULL: answer UNIMPLEMENTED with this text */
    void *service;              /* handler context, returned by churn_rpc_service() */
    /* issue 13: the handler turns the request's faults (churn_rpc_faults()) into per-item
     * errors itself; otherwise the transport answers the first one INVALID_ARGUMENT */
    bool per_item_faults;
};

/*
 * struct churn_rpc_fault - a field of the request that breaks the rules of the wire: a string
 * that is not valid UTF-8 or holds a NUL byte, an identifier (a field named "*_id" or
 * "*_ids") that is over 128 bytes or holds a control character (churn/ident.h), or an enum
 * number its enum does not define. The transport checks every request message on its bytes
 * before any handler sees it.
 */
struct churn_rpc_fault {
    uint32_t field;         /* number of the request's top-level field the fault is in */
    const char *field_name; /* and its name ("events"); static */
    bool repeated;          /* that field is repeated: @index says which of its values */
    size_t index;           /* 0-based value of that field (0 when not repeated) */
    enum churn_err err;     /* CHURN_EINVAL */
    bool no_echo;           /* a string cut short by a NUL byte or not UTF-8: never send it back */
    char path[96];          /* the field below it ("order.status"; "" for the field itself) */
    char what[96];          /* what is wrong ("NUL byte at byte 6") */
};

/* ---- for handlers ---------------------------------------------------------------------- */

/** churn_rpc_method() - the method row this call runs. */
const struct churn_method *churn_rpc_method(const struct churn_rpc *rpc);

/** churn_rpc_service() - the method row's service pointer. */
void *churn_rpc_service(const struct churn_rpc *rpc);

/**
 * churn_rpc_arena() - memory that lives as long as the call: responses, per-call state.
 * Only for use from the call's own callbacks (not thread-safe).
 */
struct churn_arena *churn_rpc_arena(struct churn_rpc *rpc);

/**
 * churn_rpc_scratch() - memory that lives until the current callback returns: streamed
 * messages are decoded here, and a streamed response may be built here (churn_rpc_send
 * copies it).
 */
struct churn_arena *churn_rpc_scratch(struct churn_rpc *rpc);

/** churn_rpc_state() - a slot for the handler's per-call state pointer. */
void **churn_rpc_state(struct churn_rpc *rpc);

/**
 * churn_rpc_error() - record the status message for @err and return @err, so a handler can
 * write `return churn_rpc_error(rpc, CHURN_EINVAL, "customer_id: empty");`.
 */
enum churn_err churn_rpc_error(struct churn_rpc *rpc, enum churn_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** churn_rpc_deadline_ms() - the client's deadline (unix ms), INT64_MAX when none. */
int64_t churn_rpc_deadline_ms(const struct churn_rpc *rpc);

/** churn_rpc_deadline_passed() - true once the deadline is behind us (for long handlers). */
bool churn_rpc_deadline_passed(const struct churn_rpc *rpc);

/**
 * churn_rpc_metadata() - the value of request header @key (lower case), NULL if absent.
 * The returned bytes are not NUL-terminated: *len receives the length. Valid for the call.
 */
const char *churn_rpc_metadata(const struct churn_rpc *rpc, const char *key, size_t *len);

/**
 * churn_rpc_send() - queue one streamed response (server and bidi streams). Thread-safe.
 * The message is serialized before the function returns. Returns CHURN_ECANCELLED when the
 * call is already over, CHURN_EFULL when the subscriber's queue is over its cap (the caller
 * decides: drop, or finish with an error).
 */
enum churn_err churn_rpc_send(struct churn_rpc *rpc, const ProtobufCMessage *msg);

/*
 * struct churn_rpc_payload - a response serialized once and sent on many streams (the same
 * alert to every watcher). Immutable; thread-safe to send from several threads.
 */
struct churn_rpc_payload;

/** churn_rpc_payload_pack() - serialize @msg; NULL when out of memory. */
struct churn_rpc_payload *churn_rpc_payload_pack(const ProtobufCMessage *msg);

/** churn_rpc_payload_copy() - a payload of @len bytes already serialized at @bytes (copied). */
struct churn_rpc_payload *churn_rpc_payload_copy(const void *bytes, size_t len);

/**
 * churn_rpc_payload_free() - drop the creator's hold (NULL is fine); sends still queued keep
 * the bytes alive until they are written.
 */
void churn_rpc_payload_free(struct churn_rpc_payload *p);

/** churn_rpc_send_payload() - churn_rpc_send() of pre-serialized bytes. Thread-safe. */
enum churn_err churn_rpc_send_payload(struct churn_rpc *rpc, const struct churn_rpc_payload *p);

/** churn_rpc_queued() - number of responses queued and not yet written (for flow control). */
size_t churn_rpc_queued(struct churn_rpc *rpc);

/**
 * churn_rpc_notify_writable() - flow control for a stream that sends as fast as its client
 * reads: ask for one call of the method's on_writable() once fewer than @below responses are
 * queued. Returns false, and asks nothing, when fewer are queued already (send on now) or
 * the call is over. Thread-safe.
 */
bool churn_rpc_notify_writable(struct churn_rpc *rpc, size_t below);

/**
 * churn_rpc_finish() - end a stream with @err (CHURN_OK: status OK) and the message. Queued
 * responses are written first. Thread-safe; later calls are ignored.
 */
void churn_rpc_finish(struct churn_rpc *rpc, enum churn_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * churn_rpc_defer() - the unary or on_half_close handler will answer later with
 * churn_rpc_reply() or churn_rpc_finish(); it returns CHURN_OK with *resp left NULL. A bidi
 * stream's on_half_close that defers ends the stream later with churn_rpc_finish().
 */
void churn_rpc_defer(struct churn_rpc *rpc);

/**
 * churn_rpc_reply() - the deferred answer: @msg and status OK. Thread-safe. @msg is
 * serialized before the function returns.
 */
void churn_rpc_reply(struct churn_rpc *rpc, const ProtobufCMessage *msg);

/**
 * churn_rpc_respond_packed() - a unary handler's response given as bytes already serialized:
 * @len bytes at @data (copied now; a message of the method's response type). The handler
 * then returns CHURN_OK with *resp left NULL. CHURN_ENOMEM.
 */
enum churn_err churn_rpc_respond_packed(struct churn_rpc *rpc, const void *data, size_t len);

/**
 * churn_rpc_hold_recv() - client and bidi streams: do not read the next message when the
 * current callback returns (backpressure while earlier messages are still being processed
 * elsewhere). Call from on_message.
 */
void churn_rpc_hold_recv(struct churn_rpc *rpc);

/**
 * churn_rpc_resume_recv() - read the next message again after churn_rpc_hold_recv().
 * Thread-safe; a no-op when nothing is held or the call is over.
 */
void churn_rpc_resume_recv(struct churn_rpc *rpc);

/** churn_rpc_ref() - keep @rpc alive beyond the callbacks (e.g. in a subscriber list). */
struct churn_rpc *churn_rpc_ref(struct churn_rpc *rpc);

/** churn_rpc_unref() - drop a reference taken with churn_rpc_ref(). */
void churn_rpc_unref(struct churn_rpc *rpc);

/**
 * churn_rpc_status_code() - the gRPC status code number @err is answered with, for messages
 * that carry per-item statuses (implemented by the transport: the one mapping).
 */
int churn_rpc_status_code(enum churn_err err);

/**
 * churn_rpc_identity() - the name the caller authenticated as (the token file's NAME for its
 * token or certificate), in the call's arena; NULL when the server checks no credentials or
 * the caller of an open method sent none. Only from the call's own callbacks.
 */
const char *churn_rpc_identity(struct churn_rpc *rpc);

/**
 * churn_rpc_faults() - the faults of the request message the current callback received, in
 * wire order, at most one per value of a top-level field; *@n receives their number. Only
 * methods with per_item_faults ever see any (the others are answered INVALID_ARGUMENT).
 * Valid until the callback returns.
 */
const struct churn_rpc_fault *churn_rpc_faults(const struct churn_rpc *rpc, size_t *n);

/**
 * churn_rpc_fault_for() - the fault in value @index of top-level field @field, or NULL.
 */
const struct churn_rpc_fault *churn_rpc_fault_for(const struct churn_rpc *rpc, uint32_t field,
                                                  size_t index);

/**
 * churn_rpc_fault_format() - "events[3].customer_id: NUL byte at byte 6" into @buf; with
 * @prefix non-NULL, the top-level field is replaced by it ("event.customer_id: ...").
 * Return: @buf.
 */
char *churn_rpc_fault_format(const struct churn_rpc_fault *f, const char *prefix, char *buf,
                             size_t len);

/**
 * churn_rpc_set_trailer() - add trailing metadata @key (lower case) = @value to the status
 * the call ends with (at most 4; later ones are dropped). From the call's own callbacks,
 * before the status is sent; CHURN_EFULL when 4 are set already.
 */
enum churn_err churn_rpc_set_trailer(struct churn_rpc *rpc, const char *key, const char *value);

/** churn_rpc_is_over() - true once the call has ended (sends will fail). Thread-safe. */
bool churn_rpc_is_over(struct churn_rpc *rpc);

/* ---- in-process calls (issue 15: the dashboard) ------------------------------------------ */

/**
 * churn_rpc_local_unary() - run unary method @m on @req in this process, without a
 * connection: no deadline, no metadata, no token (the caller has checked its own). On success
 * *@resp lives in the call *@out until churn_rpc_local_free(). Errors are the handler's, with
 * its message in @msg; CHURN_EUNIMPL for a method that is not unary. A handler that defers
 * its answer (churn_rpc_defer()) must not be called this way.
 */
enum churn_err churn_rpc_local_unary(const struct churn_method *m, const ProtobufCMessage *req,
                                     struct churn_rpc **out, ProtobufCMessage **resp, char *msg,
                                     size_t msglen);

/** churn_rpc_local_free() - end a call of churn_rpc_local_unary(). NULL is a no-op. */
void churn_rpc_local_free(struct churn_rpc *rpc);

/* ---- in-process streams (issue 13: the AnalyzeChat fuzz target) -------------------------- */

/**
 * churn_rpc_local_stream_open() - start client- or bidi-streaming method @m in this process,
 * without a connection, with the production server options (churn_server_options_default):
 * its on_start runs here. CHURN_EUNIMPL for another shape; an on_start error ends the stream
 * (see churn_rpc_local_stream_status()) and is returned, *@out still set. End it with
 * churn_rpc_local_stream_close().
 */
enum churn_err churn_rpc_local_stream_open(const struct churn_method *m, struct churn_rpc **out,
                                           char *msg, size_t msglen);

/**
 * churn_rpc_local_stream_send() - one request message as wire bytes, handled by the code every
 * call uses: size limit, protobuf-c decoding, the wire check, the method's on_message. An
 * error ends the stream with it and is returned; CHURN_ECANCELLED once the stream has ended;
 * CHURN_EAGAIN while the handler holds reading (take the answers first).
 */
enum churn_err churn_rpc_local_stream_send(struct churn_rpc *rpc, const uint8_t *data, size_t len);

/** churn_rpc_local_stream_half_close() - the client's half-close: on_half_close, then the end. */
void churn_rpc_local_stream_half_close(struct churn_rpc *rpc);

/**
 * churn_rpc_local_stream_take() - the next response message the handler sent, as wire bytes
 * in *@data (the caller frees it with churn_free()) and *@len. False: none waiting.
 */
bool churn_rpc_local_stream_take(struct churn_rpc *rpc, uint8_t **data, size_t *len);

/**
 * churn_rpc_local_stream_status() - true once the stream has ended, with the error it ended
 * with in *@err and its message in @msg.
 */
bool churn_rpc_local_stream_status(struct churn_rpc *rpc, enum churn_err *err, char *msg,
                                   size_t msglen);

/**
 * churn_rpc_local_stream_close() - end the stream (its on_done runs) and free it; responses not
 * taken are dropped. Work the handler left on other threads may only send or finish on the
 * call, which it then refuses. NULL is a no-op.
 */
void churn_rpc_local_stream_close(struct churn_rpc *rpc);

#endif
