/*
 * test_service.c - the service layer without a network: the method table is complete and
 * consistent with the protos, reflection answers decode to the right files, the health
 * registry notifies watchers, and the JSON codec round-trips and names bad fields.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/pbjson.h"
#include "churn/rpc.h"
#include "churn/service.h"
#include "churn_proto.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "churn/arena.h"
#include "churn/store.h"
#include "../../src/service/service_internal.h" /* the conversation saver */

static struct churn_services svc;

static void
setup(void)
{
    char err[256];
    cr_assert_eq(churn_services_init(&svc, err, sizeof(err)), CHURN_OK, "%s", err);
}

static void
teardown(void)
{
    churn_services_fini(&svc);
}

TestSuite(service, .init = setup, .fini = teardown);

Test(service, method_table_rows_are_consistent)
{
    cr_assert_geq(svc.n_methods, 19);
    for (size_t i = 0; i < svc.n_methods; i++) {
        const struct churn_method *m = &svc.methods[i];
        cr_assert_eq(m->name[0], '/', "%s", m->name);
        cr_assert_not_null(strchr(m->name + 1, '/'), "%s", m->name);
        cr_assert_not_null(m->request, "%s", m->name);
        cr_assert_not_null(m->response, "%s", m->name);
        cr_assert_eq(m->service, &svc);
        if (!m->unimplemented) {
            switch (m->shape) {
            case CHURN_RPC_UNARY:
                cr_assert_not_null(m->unary, "%s", m->name);
                break;
            case CHURN_RPC_SERVER_STREAM:
                cr_assert_not_null(m->on_start, "%s", m->name);
                break;
            case CHURN_RPC_CLIENT_STREAM:
                cr_assert(m->on_message && m->on_half_close, "%s", m->name);
                break;
            case CHURN_RPC_BIDI_STREAM:
                cr_assert_not_null(m->on_message, "%s", m->name);
                break;
            }
        }
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(m->name, svc.methods[j].name);
    }
}

/* Every RPC declared in the churn.v1 protos has a row with the right shape and types. */
Test(service, method_table_covers_every_proto_rpc)
{
    size_t declared = 0;
    for (size_t f = 0; f < churn_reflection_file_count(svc.reflection); f++) {
        const uint8_t *data;
        size_t len;
        churn_reflection_file_bytes(svc.reflection, (int)f, &data, &len);
        Google__Protobuf__FileDescriptorProto *fd =
            google__protobuf__file_descriptor_proto__unpack(NULL, len, data);
        cr_assert_not_null(fd);
        if (strcmp(fd->package, "churn.v1") == 0) {
            for (size_t s = 0; s < fd->n_service; s++) {
                for (size_t k = 0; k < fd->service[s]->n_method; k++) {
                    Google__Protobuf__MethodDescriptorProto *md = fd->service[s]->method[k];
                    char path[256];
                    snprintf(path, sizeof(path), "/churn.v1.%s/%s", fd->service[s]->name, md->name);
                    const struct churn_method *row = NULL;
                    for (size_t i = 0; i < svc.n_methods; i++)
                        if (strcmp(svc.methods[i].name, path) == 0)
                            row = &svc.methods[i];
                    cr_assert_not_null(row, "no row for %s", path);
                    enum churn_rpc_shape shape =
                        md->client_streaming
                            ? (md->server_streaming ? CHURN_RPC_BIDI_STREAM
                                                    : CHURN_RPC_CLIENT_STREAM)
                            : (md->server_streaming ? CHURN_RPC_SERVER_STREAM : CHURN_RPC_UNARY);
                    cr_assert_eq(row->shape, shape, "%s", path);
                    cr_assert_str_eq(md->input_type + 1, row->request->name, "%s", path);
                    cr_assert_str_eq(md->output_type + 1, row->response->name, "%s", path);
                    declared++;
                }
            }
        }
        google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
    }
    cr_assert_eq(declared, 24); /* 15 + ListModels, PromoteModel, RollbackModel, RetrainModel,
                                   AdminService.Backup, and for a shard ReloadShardTable,
                                   ExportCustomers, ImportCustomers, DropPartitions (issue 16) */
}

Test(service, service_names_for_reflection)
{
    const char *want[] = {"grpc.health.v1.Health",
                          "grpc.reflection.v1.ServerReflection",
                          "grpc.reflection.v1alpha.ServerReflection",
                          "churn.v1.ScoringService",
                          "churn.v1.IngestService",
                          "churn.v1.ChatService",
                          "churn.v1.AlertService",
                          "churn.v1.ModelService",
                          "churn.v1.AdminService"};
    cr_assert_eq(svc.n_service_names, sizeof(want) / sizeof(want[0]));
    for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
        bool found = false;
        for (size_t i = 0; i < svc.n_service_names; i++)
            found |= strcmp(svc.service_names[i], want[w]) == 0;
        cr_assert(found, "%s is not listed", want[w]);
    }
}

Test(service, reflection_resolves_symbols_and_imports)
{
    struct churn_reflection *r = svc.reflection;
    int f = churn_reflection_find_symbol(r, "churn.v1.ScoringService");
    cr_assert_geq(f, 0);
    cr_assert_str_eq(churn_reflection_file_name(r, f), "churn/v1/scoring.proto");
    cr_assert_eq(churn_reflection_find_symbol(r, "churn.v1.ScoringService.GetScore"), f);
    cr_assert_eq(churn_reflection_find_symbol(r, "churn.v1.GetScoreRequest"), f);
    cr_assert_geq(churn_reflection_find_symbol(r, "churn.v1.Score"), 0);
    cr_assert_geq(
        churn_reflection_find_symbol(r, "grpc.health.v1.HealthCheckResponse.ServingStatus"), 0);
    cr_assert_eq(churn_reflection_find_symbol(r, "churn.v1.Nope"), -1);
    cr_assert_eq(churn_reflection_find_symbol(r, ""), -1);
    cr_assert_eq(churn_reflection_find_file(r, "nope.proto"), -1);
    int closure[16];
    size_t n = churn_reflection_closure(r, f, closure, 16);
    cr_assert_geq(n, 2);
    cr_assert_eq(closure[0], f);
    bool has_common = false;
    for (size_t i = 0; i < n; i++)
        has_common |=
            strcmp(churn_reflection_file_name(r, closure[i]), "churn/v1/common.proto") == 0;
    cr_assert(has_common);
    /* the file bytes are a real FileDescriptorProto of that name */
    const uint8_t *data;
    size_t len;
    churn_reflection_file_bytes(r, f, &data, &len);
    Google__Protobuf__FileDescriptorProto *fd =
        google__protobuf__file_descriptor_proto__unpack(NULL, len, data);
    cr_assert_str_eq(fd->name, "churn/v1/scoring.proto");
    google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
}

Test(service, reflection_refuses_a_corrupt_set)
{
    struct churn_reflection *r;
    char err[256];
    const uint8_t junk[] = {0x0a, 0x50, 0x01};
    cr_assert_eq(churn_reflection_open(junk, sizeof(junk), &r, err, sizeof(err)), CHURN_ECORRUPT);
    cr_assert(strstr(err, "malformed"), "%s", err);
    const uint8_t wrong_field[] = {0x12, 0x00};
    cr_assert_eq(churn_reflection_open(wrong_field, sizeof(wrong_field), &r, err, sizeof(err)),
                 CHURN_ECORRUPT);
    /* a truncated copy of the real set fails cleanly too */
    cr_assert_neq(churn_reflection_open(churn_descriptor_set, churn_descriptor_set_len / 2, &r, err,
                                        sizeof(err)),
                  CHURN_OK);
}

struct seen {
    int calls;
    enum churn_health_status last;
};

static void
on_health(void *ctx, enum churn_health_status st)
{
    struct seen *s = ctx;
    s->calls++;
    s->last = st;
}

Test(service, health_registry_and_watchers)
{
    struct churn_health *h = svc.health;
    cr_assert_eq(churn_health_get(h, ""), CHURN_HEALTH_NOT_SERVING);
    cr_assert_eq(churn_health_get(h, "churn.v1.ScoringService"), CHURN_HEALTH_NOT_SERVING);
    cr_assert_eq(churn_health_get(h, "nope"), CHURN_HEALTH_SERVICE_UNKNOWN);
    struct seen s = {0};
    int id;
    cr_assert_eq(churn_health_watch(h, "churn.v1.IngestService", on_health, &s, &id), CHURN_OK);
    cr_assert_eq(s.calls, 1);
    cr_assert_eq(s.last, CHURN_HEALTH_NOT_SERVING);
    churn_services_set_serving(&svc, CHURN_HEALTH_SERVING);
    cr_assert_eq(s.calls, 2);
    cr_assert_eq(s.last, CHURN_HEALTH_SERVING);
    cr_assert_eq(churn_health_get(h, ""), CHURN_HEALTH_SERVING);
    /* no model is served: scoring stays NOT_SERVING while the rest serve (issue 14) */
    cr_assert_eq(churn_health_get(h, "churn.v1.ScoringService"), CHURN_HEALTH_NOT_SERVING);
    churn_services_set_serving(&svc, CHURN_HEALTH_SERVING); /* no change, no call */
    cr_assert_eq(s.calls, 2);
    churn_health_unwatch(h, id);
    churn_services_set_serving(&svc, CHURN_HEALTH_NOT_SERVING);
    cr_assert_eq(s.calls, 2);
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    cr_assert_eq(churn_health_set(h, longname, CHURN_HEALTH_SERVING), CHURN_ETOOBIG);
}

Test(service, pbjson_round_trip)
{
    const char *json = "{\"service\":\"churn.v1.ScoringService\"}";
    struct churn_arena a;
    churn_arena_init(&a, 0);
    ProtobufCMessage *m;
    char err[256];
    cr_assert_eq(churn_pbjson_decode(&grpc__health__v1__health_check_request__descriptor, json,
                                     strlen(json), &a, &m, err, sizeof(err)),
                 CHURN_OK, "%s", err);
    char *out = churn_pbjson_dumps(m, false);
    cr_assert_str_eq(out, json);
    free(out);
    Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    r.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    out = churn_pbjson_dumps(&r.base, false);
    cr_assert_str_eq(out, "{\"status\":\"NOT_SERVING\"}");
    free(out);
    churn_arena_fini(&a);
}

Test(service, pbjson_errors_name_the_field)
{
    struct churn_arena a;
    churn_arena_init(&a, 0);
    ProtobufCMessage *m;
    char err[256];
    const ProtobufCMessageDescriptor *d = &grpc__health__v1__health_check_request__descriptor;
    cr_assert_eq(churn_pbjson_decode(d, "{\"service\":1}", 13, &a, &m, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert_str_eq(err, "service: expected a string");
    cr_assert_eq(churn_pbjson_decode(d, "{\"srv\":\"x\"}", 11, &a, &m, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert_str_eq(err, "srv: no such field in grpc.health.v1.HealthCheckRequest");
    cr_assert_eq(churn_pbjson_decode(d, "{\"service\":", 11, &a, &m, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert(strstr(err, "JSON line 1"), "%s", err);
    cr_assert_eq(churn_pbjson_decode(d, "[]", 2, &a, &m, err, sizeof(err)), CHURN_EINVAL);
    const ProtobufCMessageDescriptor *rd = &grpc__health__v1__health_check_response__descriptor;
    cr_assert_eq(churn_pbjson_decode(rd, "{\"status\":\"SLEEPY\"}", 19, &a, &m, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert(strstr(err, "status: not a value of"), "%s", err);
    churn_arena_fini(&a);
}

/* The conversation saver: 50 rounds of states for 100 conversations, put faster than it
 * commits. A conversation's newer state replaces its queued one, lookup always sees the newest
 * (queued, being written, or already stored), and after a flush the store holds the newest
 * state of every conversation. */
Test(service, chat_saver_keeps_the_newest_state_of_each_conversation)
{
    char dir[] = "/tmp/churn-saver-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    struct churn_store *st;
    struct churn__chat_saver *sv;
    cr_assert_eq(churn_store_open(dir, NULL, &st), CHURN_OK);
    cr_assert_eq(churn__chat_saver_start(st, &sv), CHURN_OK);
    struct churn_arena a;
    churn_arena_init(&a, 0);
    char conv[32], data[32], got[64];
    for (int round = 0; round < 50; round++) {
        for (int c = 0; c < 100; c++) {
            snprintf(conv, sizeof(conv), "conv-%d", c);
            int n = snprintf(data, sizeof(data), "round %d conv %d", round, c);
            cr_assert(churn__chat_saver_put(sv, "cust-1", conv, data, (size_t)n));
            size_t len = 0;
            if (churn__chat_saver_lookup(sv, "cust-1", conv, got, sizeof(got), &len)) {
                cr_assert_eq(len, (size_t)n);
                cr_assert_eq(memcmp(got, data, len), 0, "%.*s", (int)len, got);
            } else { /* written already: the store has it */
                void *stored;
                cr_assert_eq(churn_store_get_conversation(st, "cust-1", conv, &a, &stored, &len),
                             CHURN_OK);
                cr_assert_eq(memcmp(stored, data, len), 0);
            }
        }
    }
    churn__chat_saver_flush(sv);
    for (int c = 0; c < 100; c++) {
        snprintf(conv, sizeof(conv), "conv-%d", c);
        int n = snprintf(data, sizeof(data), "round 49 conv %d", c);
        void *stored;
        size_t len = 0;
        cr_assert_eq(churn_store_get_conversation(st, "cust-1", conv, &a, &stored, &len), CHURN_OK);
        cr_assert_eq(len, (size_t)n);
        cr_assert_eq(memcmp(stored, data, len), 0, "%.*s", (int)len, (char *)stored);
        size_t qlen; /* the last batch written may still be held: then it is the same */
        if (churn__chat_saver_lookup(sv, "cust-1", conv, got, sizeof(got), &qlen))
            cr_assert(qlen == len && memcmp(got, data, len) == 0);
    }
    churn__chat_saver_stop(sv);
    churn_arena_fini(&a);
    churn_store_close(st);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static const struct churn_method *
method_named(const char *name)
{
    for (size_t i = 0; i < svc.n_methods; i++)
        if (strcmp(svc.methods[i].name, name) == 0)
            return &svc.methods[i];
    cr_assert_fail("no method %s", name);
    return NULL;
}

/* issue 15: the dashboard runs unary handlers in-process and gets their answers or errors */
Test(service, local_unary_calls_answer_like_the_wire)
{
    const struct churn_method *check = method_named("/grpc.health.v1.Health/Check");
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "churn.v1.ScoringService";
    struct churn_rpc *rpc = NULL;
    ProtobufCMessage *resp = NULL;
    char msg[256] = "";
    cr_assert_eq(churn_rpc_local_unary(check, &req.base, &rpc, &resp, msg, sizeof(msg)), CHURN_OK,
                 "%s", msg);
    char *out = churn_pbjson_dumps(resp, false);
    cr_assert_str_eq(out, "{\"status\":\"NOT_SERVING\"}");
    free(out);
    churn_rpc_local_free(rpc);
    req.service = "no.such.Service";
    rpc = NULL;
    cr_assert_eq(churn_rpc_local_unary(check, &req.base, &rpc, &resp, msg, sizeof(msg)),
                 CHURN_ENOTFOUND);
    cr_assert_null(rpc);
    cr_assert(strstr(msg, "no.such.Service") || strstr(msg, "unknown"), "%s", msg);
    const struct churn_method *watch = method_named("/churn.v1.AlertService/WatchAlerts");
    cr_assert_eq(churn_rpc_local_unary(watch, &req.base, &rpc, &resp, msg, sizeof(msg)),
                 CHURN_EUNIMPL);
    cr_assert(strstr(msg, "WatchAlerts"), "%s", msg);
}
