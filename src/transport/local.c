/*
 * local.c - a unary method of the table run in-process, without a connection (issue 15: the
 * dashboard's JSON endpoints). The handler sees an ordinary struct churn_rpc with its
 * method row, arenas and no deadline or metadata, so the page shows exactly what the gRPC
 * API answers; the response lives in the call's arena until churn_rpc_local_free().
 */
#include <string.h>

#include "churn/alloc.h"
#include "internal.h"

#define LOCAL_ARENA (16u << 20)

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
    churn_arena_fini(&rpc->arena);
    churn_arena_fini(&rpc->scratch);
    churn_rpc_unref(rpc);
}
