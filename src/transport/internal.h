/*
 * transport/internal.h - state shared by the files of the transport module: the server,
 * its workers, and the per-call struct that owns a call's ops, buffers, arenas and tags.
 */
#ifndef CHURN_TRANSPORT_INTERNAL_H
#define CHURN_TRANSPORT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>

#include "churn/arena.h"
#include "churn/rpc.h"
#include "churn/transport.h"

/* What a completion-queue tag stands for: each call embeds one tag per kind of batch. */
enum churn__tag_kind {
    CHURN__TAG_NEW_CALL, /* a requested call arrived (or the request was cancelled) */
    CHURN__TAG_RECV,     /* RECV_MESSAGE completed */
    CHURN__TAG_SEND,     /* a send batch completed */
    CHURN__TAG_CLOSE,    /* RECV_CLOSE_ON_SERVER completed: the call is over */
    CHURN__TAG_SHUTDOWN, /* grpc_server_shutdown_and_notify completed */
};

struct churn__tag {
    enum churn__tag_kind kind;
};

struct churn__outmsg {
    struct churn__outmsg *next;
    grpc_byte_buffer *bb;
};

struct churn__worker {
    struct churn_server *server;
    int index;
    grpc_completion_queue *cq;
    pthread_t thread;
    struct churn_rpc *active; /* calls in progress on this worker (worker thread only) */
    bool streams_ended;       /* drain: open streams were told to end */
};

struct churn_server {
    grpc_server *grpc;
    struct churn_server_options opts;
    const struct churn_method *methods;
    size_t n_methods;
    void **registered; /* grpc_server_register_method handle per method */
    struct churn__worker *workers;
    int n_workers;
    atomic_bool draining;
    atomic_long active_calls;
    struct churn__tag shutdown_tag;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool shutdown_notified;
    bool shut_down;
    bool threads_started;
    struct churn__tls *tls; /* certificate files and their reload state; NULL: plaintext */
};

/*
 * One call. Fields marked (w) are touched only by the worker thread that owns the call's
 * completion queue; fields marked (mu) are shared with threads that send on the call.
 */
struct churn_rpc {
    struct churn__worker *worker;      /* (w) */
    const struct churn_method *method; /* NULL: an unregistered method */
    size_t method_index;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array request_md;
    grpc_byte_buffer *payload; /* first request message (unary, server stream) */
    grpc_call_details details; /* unregistered methods only */
    bool unregistered;

    struct churn__tag t_new, t_recv, t_send, t_close;

    pthread_mutex_t mu;
    atomic_int refs;
    int pending;                           /* (mu) batches started and not completed */
    bool over;                             /* (mu) the call has ended; nothing more can be sent */
    bool want_md;                          /* (mu) send initial metadata even with nothing queued */
    bool md_sent;                          /* (mu) */
    bool send_active;                      /* (mu) */
    bool status_queued;                    /* (mu) */
    bool status_sent;                      /* (mu) */
    bool unary_batch;                      /* (mu) the send batch also carried RECV_CLOSE */
    struct churn__outmsg *q_head, *q_tail; /* (mu) */
    size_t q_len;                          /* (mu) */
    grpc_byte_buffer *send_bb;             /* (mu) the message in flight */
    grpc_status_code status_code;          /* (mu) */
    grpc_slice status_details;             /* (mu) */
    int close_cancelled;                   /* written by grpc at RECV_CLOSE */
    bool hold_recv;                        /* (mu) the handler asked not to read on */
    bool recv_parked;                      /* (mu) a read was skipped because of hold_recv */
    size_t writable_below;                 /* (mu) call on_writable below this queue (0: no) */

    grpc_byte_buffer *recv_bb; /* (w) */
    grpc_byte_buffer *packed;  /* (w) the unary response churn_rpc_respond_packed() gave */
    bool recv_paused;          /* (w) waiting for the send queue to drain */
    bool half_closed;          /* (w) */
    bool deferred;             /* (w) the handler answers later */
    bool done_called;          /* (w) */
    bool cancelled;            /* (w) client cancelled or deadline passed */

    char *peer;                /* the client address for the debug log (gpr heap) or NULL */
    char *error_msg;           /* churn_rpc_error() text (heap) */
    enum churn_err status_err; /* the error the call ended with, for the log */
    grpc_metadata trailers[4]; /* churn_rpc_set_trailer(): sent with the status */
    size_t n_trailers;
    struct churn_arena arena;
    struct churn_arena scratch;
    void *state;
    const struct churn_rpc_fault *faults; /* (w) of the message being handled (issue 13) */
    size_t n_faults;
    long long start_ns;
    struct churn_rpc *prev, *next; /* (w) worker's active list */
};

/* call.c */
/*
 * churn__recv_limit() - the largest request message @m (NULL: an unregistered method)
 * accepts: its own limit, never above the server's --max-recv-bytes ceiling.
 */
/* Descriptors kept free of connections for the store, logs and files (accept_guard.c). */
#define CHURN__FD_RESERVE 32

/* Raise the soft RLIMIT_NOFILE to the hard one and bound accepted connections by what is
 * left of it (accept_guard.c); called once by churn_server_start(). */
void churn__accept_guard_init(void);

/* Connections accepted and closed at once for want of descriptors, since the start. */
unsigned long churn__accept_guard_refused(void);

uint32_t churn__recv_limit(const struct churn_server_options *opts, const struct churn_method *m);
struct churn_rpc *churn__rpc_new(struct churn__worker *w, size_t method_index);
/*
 * churn__rpc_decode() - @len bytes at @data as @rpc's request, decoded into @arena as every
 * call decodes them: the size limit, protobuf-c, then the wire check (its faults recorded on
 * @rpc). CHURN_OK with *@out set, or the error recorded with churn_rpc_error().
 */
enum churn_err churn__rpc_decode(struct churn_rpc *rpc, const uint8_t *data, size_t len,
                                 struct churn_arena *arena, ProtobufCMessage **out);
/*
 * churn__rpc_message() - one request message of a client or bidi stream, as wire bytes:
 * decoded into the call's scratch arena (churn__rpc_decode), the gate, the method's
 * on_message; an error ends the call with its status (queued) and is returned.
 */
enum churn_err churn__rpc_message(struct churn_rpc *rpc, const uint8_t *data, size_t len);
/* churn__rpc_half_close() - the client half-closed a stream: on_half_close, then the status or
 * the client stream's response (queued). */
void churn__rpc_half_close(struct churn_rpc *rpc);
void churn__rpc_on_new_call(struct churn_rpc *rpc, bool ok);
void churn__rpc_on_recv(struct churn_rpc *rpc, bool ok);
void churn__rpc_on_send(struct churn_rpc *rpc, bool ok);
void churn__rpc_on_close(struct churn_rpc *rpc, bool ok);
void churn__rpc_discard(struct churn_rpc *rpc);

/* client.c: the bytes of @bb in one heap copy (*@out, NUL-terminated for convenience, free with
 * churn_free) of *@len bytes. CHURN_EIO: @bb cannot be read; CHURN_ENOMEM. */
enum churn_err churn__bb_to_bytes(grpc_byte_buffer *bb, void **out, size_t *len);

/* server.c */
void churn__server_request(struct churn__worker *w, size_t method_index);

/* tls.c: the listener's credentials (plaintext, TLS, mTLS) with the auth processor */
struct churn__tls;
enum churn_err churn__tls_server_credentials(struct churn_server *s, grpc_server_credentials **out,
                                             char *err, size_t errlen);
void churn__tls_free(struct churn_server *s);
/*
 * wire_check.c: check the request bytes @data (@len, already decoded once as @d) against the
 * wire rules; the faults (in @arena) go to *@faults. Return: CHURN_OK, CHURN_EINVAL for bytes
 * that are not a message, CHURN_ENOMEM when @arena cannot hold the list.
 */
enum churn_err churn__wire_check(const ProtobufCMessageDescriptor *d, const uint8_t *data,
                                 size_t len, struct churn_arena *arena,
                                 struct churn_rpc_fault **faults, size_t *n_faults);

/* status.c */
grpc_status_code churn__status_from_err(enum churn_err err);

#endif
