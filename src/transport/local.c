/*
 * local.c - a unary method of the table run in-process, without a connection (issue 15: the
 * dashboard's JSON endpoints). The handler sees an ordinary struct churn_rpc with its
 * method row, arenas and no deadline or metadata, so the page shows exactly what the gRPC
 * API answers; the response lives in the call's arena until churn_rpc_local_free().
 */
#include <string.h>

#include <grpc/byte_buffer_reader.h>

#include "churn/alloc.h"
#include "churn/pb_arena.h"
#include "internal.h"

#define LOCAL_ARENA (16u << 20)

/* The response the handler gave as bytes (churn_rpc_respond_packed), decoded into the call's
 * arena as a response message would be; NULL when it does not decode. */
static ProtobufCMessage *
unpack_packed(struct churn_rpc *rpc)
{
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, rpc->packed))
        return NULL;
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    ProtobufCAllocator alloc = churn_pb_arena_allocator(&rpc->arena);
    ProtobufCMessage *r = protobuf_c_message_unpack(
        rpc->method->response, &alloc, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
    grpc_slice_unref(all);
    return r;
}

enum churn_err
churn_rpc_local_unary(const struct churn_method *m, const ProtobufCMessage *req,
                      struct churn_rpc **out, ProtobufCMessage **resp, char *msg, size_t msglen)
{
    if (m->shape != CHURN_RPC_UNARY || !m->unary || m->unimplemented)
        return churn_fail(msg, msglen, CHURN_EUNIMPL, "%s is not a unary method", m->name);
    struct churn_rpc *rpc = churn_calloc(1, sizeof(*rpc));
    if (!rpc)
        return churn_fail(msg, msglen, CHURN_ENOMEM, "out of memory");
    rpc->method = m;
    pthread_mutex_init(&rpc->mu, NULL);
    atomic_init(&rpc->refs, 1);
    grpc_metadata_array_init(&rpc->request_md);
    rpc->deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
    rpc->status_details = grpc_empty_slice();
    churn_arena_init(&rpc->arena, m->arena_bytes ? m->arena_bytes : LOCAL_ARENA);
    churn_arena_init(&rpc->scratch, m->arena_bytes ? m->arena_bytes : LOCAL_ARENA);
    ProtobufCMessage *r = NULL;
    enum churn_err err = m->unary(rpc, req, &r);
    if (!err && !r && rpc->packed)
        r = unpack_packed(rpc);
    if (!err && !r)
        err = churn_rpc_error(rpc, CHURN_EINTERNAL, "%s answered nothing", m->name);
    if (err) {
        churn_fail(msg, msglen, err, "%s", rpc->error_msg ? rpc->error_msg : churn_strerror(err));
        churn_rpc_local_free(rpc);
        return err;
    }
    *out = rpc;
    *resp = r;
    return CHURN_OK;
}

void
churn_rpc_local_free(struct churn_rpc *rpc)
{
    if (!rpc)
        return;
    grpc_metadata_array_destroy(&rpc->request_md);
    if (rpc->packed)
        grpc_byte_buffer_destroy(rpc->packed);
    churn_arena_fini(&rpc->arena);
    churn_arena_fini(&rpc->scratch);
    churn_rpc_unref(rpc);
}
