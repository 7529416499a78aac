/*
 * health.c - grpc.health.v1.Health: Check answers the registry's status (NOT_FOUND for a
 * service nobody registered), Watch streams the status now and at every change. Also what
 * the statuses mean: the scoring service is NOT_SERVING until a model is served, and the
 * daemon's readiness (/readyz) is store open, model served, not draining.
 */
#include <string.h>

#include "churn/service.h"
#include "churn_proto.h"
#include "service_internal.h"

#define SCORING_SERVICE "churn.v1.ScoringService"

void
churn__health_set_serving(struct churn_services *svc, enum churn_health_status status)
{
    if (status != CHURN_HEALTH_SERVING) {
        churn_health_set_all(svc->health, status);
        return;
    }
    /* scores fail with FAILED_PRECONDITION until a model serves: say so before they are asked */
    bool model = churn_services_has_model(svc);
    for (size_t i = 0; i < svc->n_service_names; i++) {
        bool waits = !model && strcmp(svc->service_names[i], SCORING_SERVICE) == 0;
        churn_health_set(svc->health, svc->service_names[i],
                         waits ? CHURN_HEALTH_NOT_SERVING : CHURN_HEALTH_SERVING);
    }
    churn_health_set(svc->health, "", CHURN_HEALTH_SERVING);
}

void
churn__health_model_served(struct churn_services *svc)
{
    if (churn_health_get(svc->health, "") == CHURN_HEALTH_SERVING)
        churn_health_set(svc->health, SCORING_SERVICE, CHURN_HEALTH_SERVING);
}

bool
churn_services_ready(struct churn_services *svc, char *why, size_t len)
{
    const char *reason = NULL;
    if (!svc->store)
        reason = "the store is not open";
    else if (!churn_services_has_model(svc))
        reason = "no model is served";
    else if (churn_health_get(svc->health, "") != CHURN_HEALTH_SERVING)
        reason = "draining";
    if (reason)
        churn_errf(why, len, "%s", reason);
    return reason == NULL;
}

static enum churn_err
health_check(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    enum churn_health_status st = churn_health_get(svc->health, req->service);
    if (st == CHURN_HEALTH_SERVICE_UNKNOWN)
        return churn_rpc_error(rpc, CHURN_ENOTFOUND, "service '%s' is not served here",
                               req->service);
    Grpc__Health__V1__HealthCheckResponse *resp =
        churn_arena_alloc(churn_rpc_arena(rpc), sizeof(*resp));
    if (!resp)
        return CHURN_ENOMEM;
    grpc__health__v1__health_check_response__init(resp);
    resp->status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)st;
    *out = &resp->base;
    return CHURN_OK;
}

struct health_watcher {
    int id;
    struct churn_rpc *rpc;
};

/* Called under the health lock: serialize and queue, never block. */
static void
health_watch_notify(void *ctx, enum churn_health_status status)
{
    struct churn_rpc *rpc = ctx;
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)status;
    /* a watcher too slow to take its queue misses intermediate states, which Watch allows */
    churn_rpc_send(rpc, &resp.base);
}

static enum churn_err
health_watch_start(struct churn_rpc *rpc, const ProtobufCMessage *msg)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    struct health_watcher *w = churn_arena_zalloc(churn_rpc_arena(rpc), sizeof(*w));
    if (!w)
        return CHURN_ENOMEM;
    w->rpc = churn_rpc_ref(rpc);
    enum churn_err err =
        churn_health_watch(svc->health, req->service, health_watch_notify, rpc, &w->id);
    if (err) {
        churn_rpc_unref(rpc);
        return churn_rpc_error(rpc, err, "cannot watch '%s': %s", req->service,
                               churn_strerror(err));
    }
    *churn_rpc_state(rpc) = w;
    return CHURN_OK;
}

static void
health_watch_done(struct churn_rpc *rpc)
{
    struct health_watcher *w = *churn_rpc_state(rpc);
    if (!w)
        return;
    struct churn_services *svc = churn_rpc_service(rpc);
    churn_health_unwatch(svc->health, w->id);
    churn_rpc_unref(w->rpc);
}

const struct churn_method churn__health_methods[] = {
    {
        .name = "/grpc.health.v1.Health/Check",
        .shape = CHURN_RPC_UNARY,
        .request = &grpc__health__v1__health_check_request__descriptor,
        .response = &grpc__health__v1__health_check_response__descriptor,
        .unary = health_check,
        .max_request_bytes = 1024,
    },
    {
        .name = "/grpc.health.v1.Health/Watch",
        .shape = CHURN_RPC_SERVER_STREAM,
        .request = &grpc__health__v1__health_check_request__descriptor,
        .response = &grpc__health__v1__health_check_response__descriptor,
        .on_start = health_watch_start,
        .on_done = health_watch_done,
        .max_request_bytes = 1024,
    },
};
const size_t churn__n_health_methods =
    sizeof(churn__health_methods) / sizeof(churn__health_methods[0]);
