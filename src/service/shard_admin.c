/*
 * shard_admin.c - AdminService.ReloadShardTable (issue 16): an operator puts a new partition
 * table in force on a running shard and reads the outcome in the answer (the epochs, the
 * partitions owned and still moving, the streams ended) or the reason it was refused while
 * the table in force keeps serving. The checks and the swap are churn/shard.h's business.
 */
#include "churn/cluster.h"
#include "churn/service.h"
#include "churn/shard.h"
#include "churn_proto.h"
#include "service_internal.h"

static enum churn_err
reload_shard_table(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__ReloadShardTableRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    if (!svc->shard)
        return churn_rpc_error(rpc, CHURN_EPRECOND,
                               "this churnd is not a shard of a cluster (no --cluster table)");
    char err[1024];
    struct churn_shard_change c;
    enum churn_err e = churn_shard_install(svc->shard, (const char *)req->table.data,
                                           req->table.len, &c, err, sizeof(err));
    if (e)
        return churn_rpc_error(rpc, e, "%s; the table in force (epoch %llu) stays", err,
                               (unsigned long long)churn_shard_epoch(svc->shard));
    Churn__V1__ReloadShardTableResponse *r = churn_arena_alloc(churn_rpc_arena(rpc), sizeof(*r));
    if (!r)
        return CHURN_ENOMEM;
    churn__v1__reload_shard_table_response__init(r);
    r->shard = (char *)churn_shard_name(svc->shard);
    r->previous_epoch = c.previous_epoch;
    r->epoch = c.epoch;
    r->partitions_owned = c.owned;
    r->partitions_moving = c.moving;
    r->streams_ended = (uint32_t)c.streams_ended;
    *out = &r->base;
    return CHURN_OK;
}

const struct churn_method churn__shard_admin_methods[] = {
    {
        .name = "/churn.v1.AdminService/ReloadShardTable",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__reload_shard_table_request__descriptor,
        .response = &churn__v1__reload_shard_table_response__descriptor,
        .unary = reload_shard_table,
        .max_request_bytes = CHURN_CLUSTER_FILE_MAX + 16,
    },
};
const size_t churn__n_shard_admin_methods =
    sizeof(churn__shard_admin_methods) / sizeof(churn__shard_admin_methods[0]);
