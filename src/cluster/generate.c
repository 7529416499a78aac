/*
 * generate.c - the configuration a partition table generates: HAProxy 2.6's configuration,
 * its partition -> backend map and the Lua converter computing the partition of the
 * x-customer-id header; each NATS node's configuration (routes, JetStream, the partition()
 * subject mapping); the JetStream streams per partition; and each shard's ownership list.
 */
#include "churn/cluster.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Replicas of each ingestion stream: three where the cluster has them. */
#define STREAM_REPLICAS 3

enum churn_err
churn_cluster_gen_map(const struct churn_cluster_table *t, struct churn_buf *out)
{
    enum churn_err err =
        churn_buf_printf(out, "# partition -> backend, epoch %" PRIu64 "\n", t->epoch);
    for (uint32_t i = 0; !err && i < t->partitions; i++)
        err = churn_buf_printf(out, "%" PRIu32 " shard_%s\n", i, t->shards[t->owner[i]].name);
    return err;
}

enum churn_err
churn_cluster_gen_lua(const struct churn_cluster_table *t, struct churn_buf *out)
{
    /* string.byte as a local (no method lookup per byte) and an integer result (no string
     * made per call; the map converter casts it): the proxy's Lua is per call
     * (docs/BENCHMARKS.md "Cluster", session 7) */
    return churn_buf_printf(out,
                            "-- generated from the partition table (epoch %" PRIu64
                            "): the partition of a\n"
                            "-- customer id, FNV-1a-32 mod P, as in churnd and NATS partition().\n"
                            "local P = %" PRIu32 "\n"
                            "local byte = string.byte\n"
                            "core.register_converters(\"churn_partition\", function(s)\n"
                            "    local h = 2166136261\n"
                            "    for i = 1, #s do\n"
                            "        h = ((h ~ byte(s, i)) * 16777619) & 0xffffffff\n"
                            "    end\n"
                            "    return h %% P\n"
                            "end)\n",
                            t->epoch, t->partitions);
}

/* A line of the proxy's own gRPC answer: HTTP 200 or an error status, trailers-only. */
static enum churn_err
reply(struct churn_buf *out, const char *rule, int grpc_status, const char *msg, const char *cond)
{
    return churn_buf_printf(out,
                            "    %s hdr grpc-status %d "
                            "hdr grpc-message \"%s\"%s\n",
                            rule, grpc_status, msg, cond);
}

static enum churn_err
gen_haproxy_backend(const struct churn_cluster_shard *s, size_t id, struct churn_buf *out)
{
    char down[96], late[96];
    snprintf(down, sizeof(down), "shard %s unavailable", s->name);
    snprintf(late, sizeof(late), "shard %s timed out", s->name);
    /* no health checks, retries or redispatch: a dead shard's customers get UNAVAILABLE,
     * never another shard's answer; explicit ids keep server numbers stable */
    enum churn_err err = churn_buf_printf(out,
                                          "\nbackend shard_%s\n"
                                          "    http-reuse always\n"
                                          "    server %s %s proto h2 id %zu\n",
                                          s->name, s->name, s->addr, id);
    if (!err)
        err = reply(out, "http-error status 502", 14, down, "");
    if (!err)
        err = reply(out, "http-error status 503", 14, down, "");
    return err ? err : reply(out, "http-error status 504", 14, late, "");
}

enum churn_err
churn_cluster_gen_haproxy(const struct churn_cluster_table *t, const char *lua_path,
                          const char *map_path, const char *admin_sock, struct churn_buf *out)
{
    const char *bind = *t->proxy ? t->proxy : "127.0.0.1:18080";
    enum churn_err err = churn_buf_printf(
        out,
        "# generated from the partition table (epoch %" PRIu64 ", %" PRIu32 " partitions, "
        "%zu shards): do not edit\n"
        "global\n"
        "    lua-load %s\n"
        "    stats socket %s mode 600 level admin\n"
        "    maxconn 4000\n"
        "\n"
        "defaults\n"
        "    mode http\n"
        "    retries 0\n"
        "    timeout connect 2s\n"
        "    timeout client 1h\n"
        "    timeout server 1h\n"
        "    timeout tunnel 1h\n"
        "\n"
        "frontend churn_grpc\n"
        "    bind %s proto h2\n",
        t->epoch, t->partitions, t->n_shards, lua_path, admin_sock, bind);
    if (!err)
        err = reply(out, "http-request return status 200", 3,
                    "x-customer-id: header missing (the cluster routes every call on it)",
                    " unless { req.hdr(x-customer-id) -m found }");
    /* a client that knows P may send the partition itself: the Lua converter is 6 of the
     * proxy's 15 us of CPU per call (docs/CLUSTER.md); a wrong one reaches a shard that
     * refuses the customer naming its owner, never a wrong answer */
    if (!err)
        err = churn_buf_printf(out,
                               "    http-request return status 200 hdr grpc-status 3 hdr "
                               "grpc-message \"x-churn-partition: not a partition 0-%" PRIu32
                               "\" if { req.hdr(x-churn-partition) -m found } "
                               "!{ req.hdr(x-churn-partition),map(%s) -m found }\n"
                               "    http-request set-var(txn.part) req.hdr(x-churn-partition) "
                               "if { req.hdr(x-churn-partition) -m found }\n"
                               "    http-request set-var(txn.part) "
                               "req.hdr(x-customer-id),lua.churn_partition "
                               "unless { var(txn.part) -m found }\n"
                               "    use_backend %%[var(txn.part),map(%s,shard_none)]\n"
                               "    default_backend shard_none\n",
                               t->partitions - 1, map_path, map_path);
    for (size_t i = 0; !err && i < t->n_shards; i++)
        err = gen_haproxy_backend(&t->shards[i], i + 1, out);
    if (!err)
        err = churn_buf_append_str(out, "\nbackend shard_none\n");
    return err ? err
               : reply(out, "http-request return status 200", 14, "no shard owns this partition",
                       "");
}

enum churn_err
churn_cluster_gen_nats(const struct churn_cluster_table *t, size_t node, const char *store_dir,
                       struct churn_buf *out)
{
    const struct churn_cluster_nats *n = &t->nats[node];
    enum churn_err err =
        churn_buf_printf(out,
                         "# generated from the partition table (epoch %" PRIu64 "): NATS node %s\n"
                         "server_name: %s\n"
                         "listen: %s\n"
                         "jetstream {\n    store_dir: \"%s\"\n}\n",
                         t->epoch, n->name, n->name, n->client, store_dir);
    /* one node is no cluster: JetStream refuses a cluster block without routes */
    if (!err && t->n_nats > 1)
        err = churn_buf_printf(out, "cluster {\n    name: churn\n    listen: %s\n    routes: [\n",
                               n->route);
    for (size_t i = 0; !err && t->n_nats > 1 && i < t->n_nats; i++)
        if (i != node)
            err = churn_buf_printf(out, "        nats-route://%s\n", t->nats[i].route);
    if (!err && t->n_nats > 1)
        err = churn_buf_printf(out, "    ]\n}\n");
    if (!err)
        err = churn_buf_printf(out,
                               "# ingest.<customer> -> ingest.<customer>.<partition>, the same "
                               "FNV-1a-32 mod P as the table\n"
                               "mappings {\n"
                               "    \"ingest.*\": \"ingest.{{wildcard(1)}}.{{partition(%" PRIu32
                               ",1)}}\"\n"
                               "}\n",
                               t->partitions);
    return err;
}

enum churn_err
churn_cluster_gen_streams(const struct churn_cluster_table *t, struct churn_buf *out)
{
    size_t replicas = t->n_nats < STREAM_REPLICAS ? t->n_nats : STREAM_REPLICAS;
    if (replicas == 0)
        replicas = 1;
    enum churn_err err = CHURN_OK;
    for (uint32_t i = 0; !err && i < t->partitions; i++)
        err = churn_buf_printf(out,
                               "{\"name\":\"INGEST_%" PRIu32 "\",\"subjects\":[\"ingest.*.%" PRIu32
                               "\"],\"storage\":\"file\",\"retention\":\"limits\","
                               "\"num_replicas\":%zu,\"owner\":\"%s\"}\n",
                               i, i, replicas, t->shards[t->owner[i]].name);
    return err;
}

enum churn_err
churn_cluster_gen_ownership(const struct churn_cluster_table *t, int shard, struct churn_buf *out)
{
    enum churn_err err = churn_buf_printf(
        out,
        "# generated from the partition table: what shard %s owns\nshard %s %s\nepoch %" PRIu64
        "\npartitions %" PRIu32 " of %" PRIu32 ": ",
        t->shards[shard].name, t->shards[shard].name, t->shards[shard].addr, t->epoch,
        churn_cluster_owned_count(t, shard), t->partitions);
    if (!err)
        err = churn_cluster_ranges(t, shard, out);
    return err ? err : churn_buf_append_str(out, "\n");
}
