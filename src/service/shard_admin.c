/*
 * shard_admin.c - the AdminService RPCs of a shard (issue 16): ReloadShardTable, where an
 * operator puts a new partition table in force on a running shard and reads the outcome in
 * the answer (the epochs, the partitions owned and still moving, the streams ended) or the
 * reason it was refused while the table in force keeps serving; and ExportCustomers /
 * ImportCustomers, which move the customers of partitions neither side serves during a move
 * (each customer as a bundle, churn_store_export_customer(), its alerts renumbered on import);
 * and DropPartitions, which deletes the copy a finished move left on the old owner. The checks
 * and the swap of a
 * table are churn/shard.h's business; the bundles are the store's.
 */
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/buf.h"
#include "churn/engine.h"
#include "churn/ident.h"
#include "churn/log.h"
#include "churn/score_index.h"
#include "churn/store.h"
#include "churn/cluster.h"
#include "churn/service.h"
#include "churn/shard.h"
#include "churn_proto.h"
#include "service_internal.h"

#define EXPORT_PAGE_DEFAULT 500
#define EXPORT_PAGE_MAX     1000
#define EXPORT_PAGE_BYTES   (1u << 20) /* a page ends past this many bundle bytes ... */
#define EXPORT_BUNDLE_MAX   (3u << 20) /* ... and one bundle may not exceed this */
#define EXPORT_SCAN_CHUNK   256        /* customer ids listed at a time */
#define EXPORT_SCAN_MAX     20000      /* ids scanned per page at most (a page may be short) */

static enum churn_err
not_a_shard(struct churn_rpc *rpc)
{
    return churn_rpc_error(rpc, CHURN_EPRECOND,
                           "this churnd is not a shard of a cluster (no --cluster table)");
}

/* The RPCs that read or write the store of a shard: refused when it is neither. */
static enum churn_err
shard_with_store(struct churn_rpc *rpc, const struct churn_services *svc)
{
    if (!svc->shard)
        return not_a_shard(rpc);
    if (!svc->store)
        return churn_rpc_error(rpc, CHURN_EUNAVAIL, "the store is not open");
    return CHURN_OK;
}

static enum churn_err
reload_shard_table(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__ReloadShardTableRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    if (!svc->shard)
        return not_a_shard(rpc);
    char err[1024];
    struct churn_shard_change c;
    enum churn_err e = churn_shard_install(svc->shard, (const char *)req->table.data,
                                           req->table.len, &c, err, sizeof(err));
    if (e) {
        churn_log(CHURN_LOG_WARN, "cluster_table_refused", CHURN_LF_STR("error", err),
                  CHURN_LF_STR("by", "rpc"), CHURN_LF_STR("msg", "the table in force stays"));
        return churn_rpc_error(rpc, e, "%s; the table in force (epoch %llu) stays", err,
                               (unsigned long long)churn_shard_epoch(svc->shard));
    }
    churn_shard_log_reloaded(svc->shard, c.streams_ended, "rpc");
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

/* The partitions of @req as flags into @want (P entries): each in range and not served here. */
static enum churn_err
export_partitions(struct churn_rpc *rpc, struct churn_shard *sh,
                  const Churn__V1__ExportCustomersRequest *req, uint8_t *want, uint32_t parts)
{
    if (req->n_partitions == 0)
        return churn_rpc_error(rpc, CHURN_EINVAL, "partitions: none given");
    for (size_t i = 0; i < req->n_partitions; i++) {
        uint32_t p = req->partitions[i];
        if (p >= parts)
            return churn_rpc_error(rpc, CHURN_EINVAL,
                                   "partitions: %u is out of range (partitions are 0-%u)", p,
                                   parts - 1);
        if (churn_shard_serves(sh, p))
            return churn_rpc_error(rpc, CHURN_EPRECOND,
                                   "partition %u is served here (epoch %llu): begin its move "
                                   "first, so that nothing changes after the copy",
                                   p, (unsigned long long)churn_shard_epoch(sh));
        want[p] = 1;
    }
    return CHURN_OK;
}

/* One page of an export. */
struct export_page {
    struct churn_buf bytes;      /* the bundles, back to back */
    size_t off[EXPORT_PAGE_MAX]; /* where each starts in bytes */
    char (*id)[CHURN_ID_MAX + 1];
    size_t n;
    char next[CHURN_ID_MAX + 1]; /* "" at the end */
};

/* The wanted customers after @pg->next into @pg->id (up to @max, or as many as a scan of
 * EXPORT_SCAN_MAX ids finds); @cursor: where the scan stopped ("" at the end). */
static enum churn_err
export_candidates(struct churn_store *store, const uint8_t *want, uint32_t parts, size_t max,
                  struct export_page *pg, char *cursor)
{
    char(*ids)[CHURN_ID_MAX + 1] = churn_malloc(EXPORT_SCAN_CHUNK * sizeof(*ids));
    if (!ids)
        return CHURN_ENOMEM;
    enum churn_err err = CHURN_OK;
    snprintf(cursor, CHURN_ID_MAX + 1, "%s", pg->next);
    for (size_t scanned = 0; pg->n < max;) {
        size_t n = 0;
        if ((err = churn_store_list_customer_ids(store, cursor, ids, EXPORT_SCAN_CHUNK, &n)))
            break;
        size_t i = 0;
        for (; i < n && pg->n < max; i++) {
            if (want[churn_cluster_partition_of(ids[i], strlen(ids[i]), parts)])
                memcpy(pg->id[pg->n++], ids[i], sizeof(ids[i]));
            memcpy(cursor, ids[i], sizeof(ids[i]));
        }
        scanned += n;
        if (i == n && n < EXPORT_SCAN_CHUNK)
            cursor[0] = '\0'; /* every customer scanned */
        if (n < EXPORT_SCAN_CHUNK || scanned >= EXPORT_SCAN_MAX)
            break;
    }
    churn_free(ids);
    return err;
}

/* Bundles of the wanted customers after @pg->next into @pg, up to @max or the byte cap: the
 * candidates exported in one read of the store (one walk of the alert and outcome logs). */
static enum churn_err
export_scan(struct churn_rpc *rpc, struct churn_store *store, const uint8_t *want, uint32_t parts,
            size_t max, struct export_page *pg)
{
    char cursor[CHURN_ID_MAX + 1];
    enum churn_err err = export_candidates(store, want, parts, max, pg, cursor);
    struct churn_store_export *it = churn_calloc(pg->n + 1, sizeof(*it));
    if (!err && !it)
        err = CHURN_ENOMEM;
    for (size_t i = 0; !err && i < pg->n; i++)
        it[i].id = pg->id[i];
    if (!err)
        err = churn_store_export_customers(store, it, pg->n, &pg->bytes, EXPORT_PAGE_BYTES);
    size_t kept = 0, i = 0;
    for (; !err && i < pg->n; i++) {
        if (it[i].err == CHURN_ETOOBIG && i == 0) /* alone over the cap: refused */
            err = churn_rpc_error(rpc, CHURN_ETOOBIG, "customer '%s': over %u bytes", pg->id[i],
                                  EXPORT_BUNDLE_MAX);
        if (err || it[i].err == CHURN_ETOOBIG || it[i].err == CHURN_EAGAIN)
            break;                        /* the next page starts with it */
        if (it[i].err == CHURN_ENOTFOUND) /* erased meanwhile */
            continue;
        if (it[i].err) {
            err = churn_rpc_error(rpc, it[i].err, "exporting '%s': %s", pg->id[i],
                                  churn_store_last_error());
            break;
        }
        pg->off[kept] = it[i].off;
        memmove(pg->id[kept++], pg->id[i], sizeof(pg->id[i]));
    }
    if (!err && i < pg->n) /* resume after the last one looked at */
        memcpy(cursor, i ? it[i - 1].id : pg->next, CHURN_ID_MAX + 1);
    memcpy(pg->next, cursor, sizeof(pg->next));
    pg->n = kept;
    churn_free(it);
    return err;
}

/* @pg as the response, copied into the call's arena. */
static enum churn_err
export_response(struct churn_rpc *rpc, const struct export_page *pg, ProtobufCMessage **out)
{
    struct churn_arena *a = churn_rpc_arena(rpc);
    Churn__V1__ExportCustomersResponse *r = churn_arena_alloc(a, sizeof(*r));
    Churn__V1__CustomerBundle *b = churn_arena_alloc(a, (pg->n + 1) * sizeof(*b));
    Churn__V1__CustomerBundle **bp = churn_arena_alloc(a, (pg->n + 1) * sizeof(*bp));
    if (!r || !b || !bp)
        return CHURN_ENOMEM;
    churn__v1__export_customers_response__init(r);
    for (size_t i = 0; i < pg->n; i++) {
        size_t end = i + 1 < pg->n ? pg->off[i + 1] : pg->bytes.len;
        churn__v1__customer_bundle__init(&b[i]);
        b[i].id = churn_arena_strdup(a, pg->id[i]);
        b[i].bundle.len = end - pg->off[i];
        b[i].bundle.data = churn_arena_memdup(a, pg->bytes.data + pg->off[i], b[i].bundle.len);
        if (!b[i].id || !b[i].bundle.data)
            return CHURN_ENOMEM;
        bp[i] = &b[i];
    }
    r->bundles = bp;
    r->n_bundles = pg->n;
    r->next_after = churn_arena_strdup(a, pg->next);
    *out = &r->base;
    return r->next_after ? CHURN_OK : CHURN_ENOMEM;
}

static enum churn_err
export_customers(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__ExportCustomersRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    enum churn_err ready = shard_with_store(rpc, svc);
    if (ready)
        return ready;
    uint32_t parts = churn_shard_partitions(svc->shard);
    size_t max = req->page_size ? req->page_size : EXPORT_PAGE_DEFAULT;
    if (max > EXPORT_PAGE_MAX)
        return churn_rpc_error(rpc, CHURN_EINVAL, "page_size: %u is over %d", req->page_size,
                               EXPORT_PAGE_MAX);
    if (strlen(req->after) > CHURN_ID_MAX)
        return churn_rpc_error(rpc, CHURN_EINVAL, "after: longer than %d bytes", CHURN_ID_MAX);
    uint8_t *want = churn_arena_zalloc(churn_rpc_arena(rpc), parts);
    struct export_page *pg = churn_calloc(1, sizeof(*pg));
    if (!want || !pg) {
        churn_free(pg);
        return CHURN_ENOMEM;
    }
    enum churn_err err = export_partitions(rpc, svc->shard, req, want, parts);
    churn_buf_init(&pg->bytes, EXPORT_BUNDLE_MAX);
    pg->id = churn_malloc(max * sizeof(*pg->id));
    if (!err && !pg->id)
        err = CHURN_ENOMEM;
    snprintf(pg->next, sizeof(pg->next), "%s", req->after);
    if (!err)
        err = export_scan(rpc, svc->store, want, parts, max, pg);
    if (!err)
        err = export_response(rpc, pg, out);
    churn_buf_free(&pg->bytes);
    churn_free(pg->id);
    churn_free(pg);
    return err;
}

/* Bundle @i (customer @id) refused with @reason: added to @r's refusals. */
static enum churn_err
refuse_bundle(struct churn_rpc *rpc, const char *id, uint32_t i, const char *reason,
              Churn__V1__ImportCustomersResponse *r)
{
    struct churn_arena *a = churn_rpc_arena(rpc);
    size_t len = strlen(id) > CHURN_ID_MAX ? CHURN_ID_MAX : strlen(id);
    Churn__V1__ImportRefusal *f = churn_arena_alloc(a, sizeof(*f));
    if (!f)
        return CHURN_ENOMEM;
    churn__v1__import_refusal__init(f);
    f->index = i;
    f->id = churn_arena_memdup(a, id, len + 1);
    f->reason = churn_arena_strdup(a, reason);
    if (!f->id || !f->reason)
        return CHURN_ENOMEM;
    f->id[len] = '\0';
    r->refused[r->n_refused++] = f;
    return CHURN_OK;
}

/* The bundles of customers this shard does not serve, in one durable transaction, their alerts
 * renumbered into this shard's log; the rest refused in @r. */
static enum churn_err
import_bundles(struct churn_rpc *rpc, struct churn_services *svc,
               const Churn__V1__ImportCustomersRequest *req, Churn__V1__ImportCustomersResponse *r)
{
    struct churn_store_import *it = churn_calloc(req->n_bundles + 1, sizeof(*it));
    if (!it)
        return CHURN_ENOMEM;
    uint32_t parts = churn_shard_partitions(svc->shard);
    size_t k = 0;
    uint32_t *index = churn_calloc(req->n_bundles + 1, sizeof(*index));
    enum churn_err err = index ? CHURN_OK : CHURN_ENOMEM;
    for (size_t i = 0; !err && i < req->n_bundles; i++) {
        const Churn__V1__CustomerBundle *b = req->bundles[i];
        uint32_t part = churn_cluster_partition_of(b->id, strlen(b->id), parts);
        char reason[256];
        if (churn_shard_serves(svc->shard, part)) {
            snprintf(reason, sizeof(reason),
                     "partition %u is served here: only a customer this shard does not serve "
                     "yet may be imported",
                     part);
            err = refuse_bundle(rpc, b->id, (uint32_t)i, reason, r);
            continue;
        }
        it[k] = (struct churn_store_import){
            .id = b->id, .bundle = b->bundle.data, .len = b->bundle.len};
        index[k++] = (uint32_t)i;
    }
    if (!err && (err = churn__alerts_import_customers(svc->alerts, svc->store, it, k)) != CHURN_OK)
        err = churn_rpc_error(rpc, err, "importing customers: %s", churn_store_last_error());
    for (size_t j = 0; !err && j < k; j++) {
        if (it[j].err)
            err = refuse_bundle(rpc, it[j].id, index[j], it[j].reason, r);
        else
            r->imported++;
    }
    churn_free(index);
    churn_free(it);
    return err;
}

static enum churn_err
import_customers(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__ImportCustomersRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    enum churn_err ready = shard_with_store(rpc, svc);
    if (ready)
        return ready;
    struct churn_arena *a = churn_rpc_arena(rpc);
    Churn__V1__ImportCustomersResponse *r = churn_arena_alloc(a, sizeof(*r));
    if (!r)
        return CHURN_ENOMEM;
    churn__v1__import_customers_response__init(r);
    r->refused = churn_arena_alloc(a, (req->n_bundles + 1) * sizeof(*r->refused));
    enum churn_err err = r->refused ? import_bundles(rpc, svc, req, r) : CHURN_ENOMEM;
    if (!err)
        *out = &r->base;
    return err;
}

/* The partitions of a drop as flags into @want: each in range, owned elsewhere, not moving. */
static enum churn_err
drop_partitions_wanted(struct churn_rpc *rpc, struct churn_shard *sh,
                       const Churn__V1__DropPartitionsRequest *req, uint8_t *want, uint32_t parts)
{
    if (req->n_partitions == 0)
        return churn_rpc_error(rpc, CHURN_EINVAL, "partitions: none given");
    for (size_t i = 0; i < req->n_partitions; i++) {
        uint32_t p = req->partitions[i];
        char why[256];
        if (p >= parts)
            return churn_rpc_error(rpc, CHURN_EINVAL,
                                   "partitions: %u is out of range (partitions are 0-%u)", p,
                                   parts - 1);
        if (!churn_shard_may_drop(sh, p, why, sizeof(why)))
            return churn_rpc_error(rpc, CHURN_EPRECOND, "%s", why);
        want[p] = 1;
    }
    return CHURN_OK;
}

/* The request's epoch and page, checked against the table in force. */
static enum churn_err
drop_request_check(struct churn_rpc *rpc, struct churn_shard *sh,
                   const Churn__V1__DropPartitionsRequest *req)
{
    uint64_t epoch = churn_shard_epoch(sh);
    if (req->epoch == 0)
        return churn_rpc_error(rpc, CHURN_EINVAL,
                               "epoch: required (the epoch of the table that finished the move)");
    if (req->epoch != epoch)
        return churn_rpc_error(rpc, CHURN_EPRECOND,
                               "epoch: the table in force here is epoch %llu, not %llu: drop once "
                               "the move's last table is in force on every shard",
                               (unsigned long long)epoch, (unsigned long long)req->epoch);
    if (req->page_size > EXPORT_PAGE_MAX)
        return churn_rpc_error(rpc, CHURN_EINVAL, "page_size: %u is over %d", req->page_size,
                               EXPORT_PAGE_MAX);
    if (strlen(req->after) > CHURN_ID_MAX)
        return churn_rpc_error(rpc, CHURN_EINVAL, "after: longer than %d bytes", CHURN_ID_MAX);
    return CHURN_OK;
}

/* Drop @pg's customers from the store and from what the service keeps of them in memory
 * (churn__forget_customer()); the answer into @r. */
static enum churn_err
drop_page(struct churn_rpc *rpc, struct churn_services *svc, const struct export_page *pg,
          Churn__V1__DropPartitionsResponse *r)
{
    const char **ids = churn_calloc(pg->n + 1, sizeof(*ids));
    if (!ids)
        return CHURN_ENOMEM;
    for (size_t i = 0; i < pg->n; i++)
        ids[i] = pg->id[i];
    struct churn_store_drop_report rep = {0};
    enum churn_err err = churn_store_drop_customers(svc->store, ids, pg->n, &rep);
    if (err)
        err = churn_rpc_error(rpc, err, "dropping customers: %s", churn_store_last_error());
    for (size_t i = 0; !err && i < pg->n; i++)
        churn__forget_customer(svc, ids[i]); /* listings, alerts and kept answers alike */
    churn_free(ids);
    r->customers_dropped = (uint32_t)rep.customers;
    r->alerts_dropped = rep.alerts;
    r->outcomes_dropped = rep.outcomes;
    r->next_after = churn_arena_strdup(churn_rpc_arena(rpc), pg->next);
    return err ? err : r->next_after ? CHURN_OK : CHURN_ENOMEM;
}

static enum churn_err
drop_partitions(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__DropPartitionsRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    enum churn_err ready = shard_with_store(rpc, svc);
    if (ready)
        return ready;
    uint32_t parts = churn_shard_partitions(svc->shard);
    struct churn_arena *a = churn_rpc_arena(rpc);
    uint8_t *want = churn_arena_zalloc(a, parts);
    Churn__V1__DropPartitionsResponse *r = churn_arena_alloc(a, sizeof(*r));
    struct export_page *pg = churn_calloc(1, sizeof(*pg));
    size_t max = req->page_size ? req->page_size : EXPORT_PAGE_DEFAULT;
    enum churn_err err = want && r && pg ? drop_request_check(rpc, svc->shard, req) : CHURN_ENOMEM;
    if (!err)
        err = drop_partitions_wanted(rpc, svc->shard, req, want, parts);
    if (!err && !(pg->id = churn_malloc(max * sizeof(*pg->id))))
        err = CHURN_ENOMEM;
    char cursor[CHURN_ID_MAX + 1];
    if (!err) {
        snprintf(pg->next, sizeof(pg->next), "%s", req->after);
        err = export_candidates(svc->store, want, parts, max, pg, cursor);
    }
    if (!err) {
        memcpy(pg->next, cursor, sizeof(pg->next));
        churn__v1__drop_partitions_response__init(r);
        err = drop_page(rpc, svc, pg, r);
    }
    if (!err)
        *out = &r->base;
    if (pg)
        churn_free(pg->id);
    churn_free(pg);
    return err;
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
    {
        .name = "/churn.v1.AdminService/ExportCustomers",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__export_customers_request__descriptor,
        .response = &churn__v1__export_customers_response__descriptor,
        .unary = export_customers,
        .max_request_bytes = 4 * CHURN_CLUSTER_PARTITIONS_MAX + 4096,
    },
    {
        .name = "/churn.v1.AdminService/ImportCustomers",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__import_customers_request__descriptor,
        .response = &churn__v1__import_customers_response__descriptor,
        .unary = import_customers,
        .max_request_bytes = 8u << 20,
    },
    {
        .name = "/churn.v1.AdminService/DropPartitions",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__drop_partitions_request__descriptor,
        .response = &churn__v1__drop_partitions_response__descriptor,
        .unary = drop_partitions,
        .max_request_bytes = 4 * CHURN_CLUSTER_PARTITIONS_MAX + 4096,
    },
};
const size_t churn__n_shard_admin_methods =
    sizeof(churn__shard_admin_methods) / sizeof(churn__shard_admin_methods[0]);
