/*
 * cluster.c - `churnctl cluster`: the partition table's commands (issue 16, docs/CLUSTER.md).
 * validate (the table alone, against the table in force and against a NATS configuration),
 * balance (partitions and, from a file of ids, customers per shard), plan (what moves from
 * one table to the next), generate (HAProxy configuration, map and Lua converter, NATS node
 * configurations, JetStream streams, each shard's ownership), owner (who serves these
 * customers), and at-risk (ListAtRiskCustomers answered by every shard, merged, each item
 * naming its shard), reload (a new table put in force on running shards through
 * AdminService.ReloadShardTable) and copy (a moving partition's customers from their old
 * owner to the new one, AdminService.ExportCustomers / ImportCustomers).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "churn/alloc.h"
#include "churn/buf.h"
#include "churn/cluster.h"
#include "churn_proto.h"
#include "ctl.h"

#define GEN_MAX     (8 << 20)
#define ID_LINE_MAX 1024

static int
usage(void)
{
    fputs("usage: churnctl cluster COMMAND TABLE [options]\n"
          "  validate TABLE [--in-force OLD_TABLE] [--nats-config FILE]\n"
          "                       check the table (and that it may replace OLD_TABLE, and that\n"
          "                       the NATS mapping partitions alike)\n"
          "  balance TABLE [--ids FILE]\n"
          "                       partitions (and customers, one id a line in FILE) per shard\n"
          "  plan OLD_TABLE NEW_TABLE [--ids FILE]\n"
          "                       the partitions that move, and how many customers with them\n"
          "  generate TABLE --out DIR [--nats-store DIR]\n"
          "                       haproxy.cfg, part2shard.map, partition.lua, nats-NODE.conf,\n"
          "                       streams.jsonl and ownership-SHARD.txt into DIR\n"
          "  owner TABLE ID...    partition and owning shard of each customer id\n"
          "  move TABLE --partitions FROM-TO --to SHARD --out NEW_TABLE\n"
          "  move TABLE --finish --out NEW_TABLE\n"
          "                       the next table of a move: the partitions go to SHARD marked\n"
          "                       moving (epoch + 1); --finish: nothing moving (epoch + 1)\n"
          "  at-risk TABLE [--limit N] [--tiers low,medium,high]\n"
          "                       ListAtRiskCustomers from every shard, merged by priority\n"
          "  copy TABLE --partitions FROM-TO --to SHARD\n"
          "                       during a move: the customers of those partitions (records,\n"
          "                       event ids, conversations, alert state, alerts, outcomes)\n"
          "                       from the shards that own them in TABLE (the table before the\n"
          "                       move) to SHARD\n"
          "  drop TABLE --partitions FROM-TO [--shard NAME]\n"
          "                       after a move: delete the copy of those partitions on every\n"
          "                       shard (or NAME) that does not own them in TABLE, the table in\n"
          "                       force everywhere (its epoch is checked by each shard)\n"
          "  reload TABLE [--shard NAME | --address HOST:PORT]\n"
          "                       put TABLE in force on every shard it names (or on NAME, or\n"
          "                       on the churnd at HOST:PORT, sent unchecked): one JSON line\n"
          "                       per shard, reloaded or refused with the reason\n",
          stderr);
    return EXIT_USAGE;
}

static int
load(const char *path, struct churn_cluster_table **t)
{
    char err[1024];
    if (churn_cluster_table_load(path, t, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: %s\n", err);
        return EXIT_USAGE;
    }
    return 0;
}

/* The value of option @name in @argv, or NULL. */
static const char *
option(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

/* Every option of @argv from index @from must be one of @known (each taking a value). */
static int
check_options(int argc, char **argv, int from, const char *const *known)
{
    for (int i = from; i < argc; i += 2) {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(argv[i], *k) == 0;
        if (!ok || i + 1 >= argc) {
            fprintf(stderr, "churnctl: cluster: %s '%s'\n",
                    ok ? "a value is missing after" : "unknown option", argv[i]);
            return EXIT_USAGE;
        }
    }
    return 0;
}

static int
read_text(const char *path, struct churn_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "churnctl: %s: %s\n", path, strerror(errno));
        return EXIT_USAGE;
    }
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (churn_buf_append(out, chunk, n) != CHURN_OK) {
            fprintf(stderr, "churnctl: %s: too large\n", path);
            rc = EXIT_USAGE;
        }
    fclose(f);
    return rc;
}

static int
cmd_validate(int argc, char **argv)
{
    static const char *const known[] = {"--in-force", "--nats-config", NULL};
    struct churn_cluster_table *t, *old = NULL;
    int rc = check_options(argc, argv, 1, known);
    if (rc || (rc = load(argv[0], &t)))
        return rc;
    char err[1024];
    const char *in_force = option(argc, argv, "--in-force");
    const char *nats = option(argc, argv, "--nats-config");
    if (in_force && !(rc = load(in_force, &old)) &&
        churn_cluster_table_check_successor(old, t, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: %s: %s\n", argv[0], err);
        rc = EXIT_USAGE;
    }
    if (!rc && nats) {
        struct churn_buf text;
        churn_buf_init(&text, GEN_MAX);
        if (!(rc = read_text(nats, &text)) &&
            churn_cluster_table_check_nats(t, churn_buf_str(&text), err, sizeof(err)) != CHURN_OK) {
            fprintf(stderr, "churnctl: %s: %s\n", nats, err);
            rc = EXIT_USAGE;
        }
        churn_buf_free(&text);
    }
    if (!rc)
        printf("%s: valid: %" PRIu32 " partitions, epoch %" PRIu64 ", %zu shards, %zu NATS "
               "nodes\n",
               argv[0], t->partitions, t->epoch, t->n_shards, t->n_nats);
    churn_cluster_table_free(old);
    churn_cluster_table_free(t);
    return rc;
}

/* Count the ids of @path (one a line) per shard of @t into @counts; with @moved (and @next),
 * also those whose owner differs between @t and @next. */
static int
count_ids(const char *path, const struct churn_cluster_table *t,
          const struct churn_cluster_table *next, uint64_t *counts, uint64_t *moved)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "churnctl: %s: %s\n", path, strerror(errno));
        return EXIT_USAGE;
    }
    char line[ID_LINE_MAX];
    while (fgets(line, sizeof(line), f)) {
        size_t n = strcspn(line, "\r\n");
        if (n == 0)
            continue;
        uint32_t part = churn_cluster_partition_of(line, n, t->partitions);
        counts[t->owner[part]]++;
        if (next &&
            strcmp(t->shards[t->owner[part]].name, next->shards[next->owner[part]].name) != 0)
            (*moved)++;
    }
    fclose(f);
    return 0;
}

static int
cmd_balance(int argc, char **argv)
{
    static const char *const known[] = {"--ids", NULL};
    struct churn_cluster_table *t;
    int rc = check_options(argc, argv, 1, known);
    if (rc || (rc = load(argv[0], &t)))
        return rc;
    uint64_t counts[CHURN_CLUSTER_SHARDS_MAX] = {0}, total = 0;
    const char *ids = option(argc, argv, "--ids");
    if (ids)
        rc = count_ids(ids, t, NULL, counts, NULL);
    for (size_t s = 0; s < t->n_shards; s++)
        total += counts[s];
    printf("%-16s %10s %8s%s\n", "shard", "partitions", "share", ids ? "  customers  share" : "");
    for (size_t s = 0; !rc && s < t->n_shards; s++) {
        uint32_t owned = churn_cluster_owned_count(t, (int)s);
        printf("%-16s %10" PRIu32 " %7.1f%%", t->shards[s].name, owned,
               100.0 * owned / t->partitions);
        if (ids)
            printf(" %10" PRIu64 " %5.1f%%", counts[s], total ? 100.0 * counts[s] / total : 0.0);
        putchar('\n');
    }
    churn_cluster_table_free(t);
    return rc;
}

static int
cmd_plan(int argc, char **argv)
{
    static const char *const known[] = {"--ids", NULL};
    struct churn_cluster_table *old, *next;
    int rc = argc < 2 ? usage() : check_options(argc, argv, 2, known);
    if (rc || (rc = load(argv[0], &old)))
        return rc;
    if ((rc = load(argv[1], &next))) {
        churn_cluster_table_free(old);
        return rc;
    }
    char err[1024];
    if (churn_cluster_table_check_successor(old, next, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: %s: %s\n", argv[1], err);
        rc = EXIT_USAGE;
    }
    uint32_t moves = 0;
    for (uint32_t i = 0; !rc && i < old->partitions; i++) {
        const char *from = old->shards[old->owner[i]].name, *to = next->shards[next->owner[i]].name;
        if (strcmp(from, to) != 0) {
            printf("move partition %" PRIu32 " %s -> %s\n", i, from, to);
            moves++;
        }
    }
    uint64_t counts[CHURN_CLUSTER_SHARDS_MAX] = {0}, moved = 0;
    const char *ids = option(argc, argv, "--ids");
    if (!rc && ids)
        rc = count_ids(ids, old, next, counts, &moved);
    if (!rc) {
        printf("epoch %" PRIu64 " -> %" PRIu64 ": %" PRIu32 " of %" PRIu32 " partitions move",
               old->epoch, next->epoch, moves, old->partitions);
        if (ids)
            printf(", %" PRIu64 " customers", moved);
        putchar('\n');
    }
    churn_cluster_table_free(old);
    churn_cluster_table_free(next);
    return rc;
}

/* Write @b to @path through a temporary file renamed over it (a reader never sees half). */
static int
write_atomically(const char *path, const struct churn_buf *b)
{
    char tmp[8192];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    const char *text = churn_buf_str(b);
    bool ok = f && fwrite(text, 1, strlen(text), f) == strlen(text);
    if (f && fclose(f) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok) {
        fprintf(stderr, "churnctl: cannot write %s: %s\n", path, strerror(errno));
        remove(tmp);
        return EXIT_TRANSPORT;
    }
    return 0;
}

static int
write_file(const char *dir, const char *name, const struct churn_buf *b)
{
    char path[8000];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return write_atomically(path, b);
}

/* Generate one file @name into @dir with @gen's text. */
#define GEN(dir, name, call)                                                                       \
    do {                                                                                           \
        churn_buf_reset(&b);                                                                       \
        if (!rc && (call) != CHURN_OK) {                                                           \
            fprintf(stderr, "churnctl: %s: over %d bytes\n", name, GEN_MAX);                       \
            rc = EXIT_TRANSPORT;                                                                   \
        }                                                                                          \
        if (!rc)                                                                                   \
            rc = write_file(dir, name, &b);                                                        \
    } while (0)

static int
generate_all(const struct churn_cluster_table *t, const char *out, const char *store)
{
    char p_lua[4200], p_map[4200], p_sock[4200], name[128], dir[4200];
    snprintf(p_lua, sizeof(p_lua), "%s/partition.lua", out);
    snprintf(p_map, sizeof(p_map), "%s/part2shard.map", out);
    snprintf(p_sock, sizeof(p_sock), "%s/haproxy.sock", out);
    struct churn_buf b;
    churn_buf_init(&b, GEN_MAX);
    int rc = 0;
    GEN(out, "partition.lua", churn_cluster_gen_lua(t, &b));
    GEN(out, "part2shard.map", churn_cluster_gen_map(t, &b));
    GEN(out, "haproxy.cfg", churn_cluster_gen_haproxy(t, p_lua, p_map, p_sock, &b));
    GEN(out, "streams.jsonl", churn_cluster_gen_streams(t, &b));
    for (size_t i = 0; !rc && i < t->n_nats; i++) {
        snprintf(name, sizeof(name), "nats-%s.conf", t->nats[i].name);
        snprintf(dir, sizeof(dir), "%s/nats-%s", store, t->nats[i].name);
        GEN(out, name, churn_cluster_gen_nats(t, i, dir, &b));
    }
    for (size_t s = 0; !rc && s < t->n_shards; s++) {
        snprintf(name, sizeof(name), "ownership-%s.txt", t->shards[s].name);
        GEN(out, name, churn_cluster_gen_ownership(t, (int)s, &b));
    }
    churn_buf_free(&b);
    return rc;
}

static int
cmd_generate(int argc, char **argv)
{
    static const char *const known[] = {"--out", "--nats-store", NULL};
    struct churn_cluster_table *t;
    int rc = check_options(argc, argv, 1, known);
    const char *out = option(argc, argv, "--out");
    if (!rc && !out) {
        fputs("churnctl: cluster generate: --out DIR is required\n", stderr);
        rc = EXIT_USAGE;
    }
    if (rc || (rc = load(argv[0], &t)))
        return rc;
    const char *store = option(argc, argv, "--nats-store");
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "churnctl: %s: %s\n", out, strerror(errno));
        rc = EXIT_TRANSPORT;
    }
    char abs_out[4096];
    if (!rc && !realpath(out, abs_out)) {
        fprintf(stderr, "churnctl: %s: %s\n", out, strerror(errno));
        rc = EXIT_TRANSPORT;
    }
    if (!rc)
        rc = generate_all(t, abs_out, store ? store : abs_out);
    if (!rc)
        printf("generated from %s (epoch %" PRIu64 ") into %s\n", argv[0], t->epoch, out);
    churn_cluster_table_free(t);
    return rc;
}

static int
cmd_owner(int argc, char **argv)
{
    struct churn_cluster_table *t;
    int rc = argc < 2 ? usage() : load(argv[0], &t);
    if (rc)
        return rc;
    for (int i = 1; i < argc; i++) {
        size_t n = strlen(argv[i]);
        uint32_t part = churn_cluster_partition_of(argv[i], n, t->partitions);
        const struct churn_cluster_shard *s = &t->shards[t->owner[part]];
        printf("%s partition %" PRIu32 " shard %s %s%s\n", argv[i], part, s->name, s->addr,
               t->moving[part] ? " (moving)" : "");
    }
    churn_cluster_table_free(t);
    return 0;
}

/* `move TABLE (--partitions R --to S | --finish) --out NEW`: the next table of a move. */
static int
cmd_move(int argc, char **argv)
{
    static const char *const known[] = {"--partitions", "--to", "--out", NULL};
    bool finish = argc >= 2 && strcmp(argv[1], "--finish") == 0;
    int rc = argc < 1 ? usage() : check_options(argc, argv, finish ? 2 : 1, known);
    const char *range = option(argc, argv, "--partitions"), *to = option(argc, argv, "--to");
    const char *out = option(argc, argv, "--out");
    if (!rc && (!out || (finish ? range || to : !range || !to))) {
        fputs("churnctl: cluster move: expected --partitions FROM-TO --to SHARD --out NEW, or "
              "--finish --out NEW\n",
              stderr);
        rc = EXIT_USAGE;
    }
    struct churn_cluster_table *t;
    if (rc || (rc = load(argv[0], &t)))
        return rc;
    char err[1024];
    enum churn_err e = finish ? churn_cluster_table_finish_moves(t, err, sizeof(err))
                              : churn_cluster_table_begin_move(t, range, to, err, sizeof(err));
    struct churn_buf b;
    churn_buf_init(&b, CHURN_CLUSTER_FILE_MAX);
    if (e != CHURN_OK) {
        fprintf(stderr, "churnctl: cluster move: %s: %s\n", argv[0], err);
        rc = EXIT_USAGE;
    } else if (churn_buf_printf(&b, "# written by churnctl cluster move from %s\n", argv[0]) ||
               churn_cluster_table_format(t, &b)) {
        fprintf(stderr, "churnctl: cluster move: the table is over %d bytes\n",
                CHURN_CLUSTER_FILE_MAX);
        rc = EXIT_USAGE;
    }
    if (!rc)
        rc = write_atomically(out, &b);
    if (!rc)
        printf("epoch %" PRIu64 ": %s\n", t->epoch,
               finish ? "moves finished" : "partitions moving");
    churn_buf_free(&b);
    churn_cluster_table_free(t);
    return rc;
}

/* One scored customer of the merged listing, and the shard that answered it. */
struct shard_score {
    const Churn__V1__Score *score;
    const char *shard;
};

static int
by_priority(const void *a, const void *b)
{
    const Churn__V1__Score *x = ((const struct shard_score *)a)->score;
    const Churn__V1__Score *y = ((const struct shard_score *)b)->score;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    if (x->probability != y->probability)
        return x->probability > y->probability ? -1 : 1;
    return strcmp(x->customer_id, y->customer_id);
}

/* ListAtRiskCustomers of shard @s into *out (0), or an exit code after a message. */
/* The risk tiers of "low,medium,high" (any of them) into @tiers; how many, 0 when bad. */
static size_t
parse_tiers(const char *text, Churn__V1__RiskTier tiers[static 3])
{
    static const char *const names[] = {"low", "medium", "high"};
    size_t n = 0;
    for (const char *p = text; n < 3;) {
        size_t len = strcspn(p, ",");
        size_t k = 0;
        while (k < 3 && (strlen(names[k]) != len || strncmp(p, names[k], len) != 0))
            k++;
        if (k == 3)
            return 0;
        tiers[n++] = (Churn__V1__RiskTier)(CHURN__V1__RISK_TIER__RISK_TIER_LOW + (int)k);
        if (!p[len])
            return n;
        p += len + 1;
    }
    return 0;
}

static int
shard_at_risk(struct ctl *ctl, const struct churn_cluster_shard *s, int32_t limit,
              Churn__V1__AtRiskFilter *filter, ProtobufCMessage **out)
{
    Churn__V1__ListAtRiskCustomersRequest req = CHURN__V1__LIST_AT_RISK_CUSTOMERS_REQUEST__INIT;
    req.page_size = limit;
    req.filter = filter;
    ctl->server = s->addr;
    int rc = churnctl_connect(ctl);
    if (rc)
        return rc;
    rc = churnctl_unary(ctl, "/churn.v1.ScoringService/ListAtRiskCustomers", &req.base, out);
    if (rc)
        fprintf(stderr, "churnctl: shard %s (%s) did not answer: its customers are missing\n",
                s->name, s->addr);
    churn_client_close(ctl->client);
    ctl->client = NULL;
    return rc;
}

static void
print_shard_score(const struct shard_score *it, size_t rank)
{
    const Churn__V1__Score *s = it->score;
    printf("{\"rank\":%zu,\"shard\":\"%s\",\"customer_id\":\"", rank, it->shard);
    for (const char *c = s->customer_id; *c; c++) /* ids are UTF-8; escape what JSON needs */
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if ((unsigned char)*c < 0x20)
            printf("\\u%04x", *c);
        else
            putchar(*c);
    printf("\",\"probability\":%.6f,\"priority\":%.2f,\"risk_tier\":%d,\"value_tier\":%d}\n",
           s->probability, s->priority, (int)s->risk_tier, (int)s->value_tier);
}

/* Fan-out: every shard's at-risk page, merged by priority, each item naming its shard. */
static int
cluster_at_risk(struct ctl *ctl, const struct churn_cluster_table *t, int argc, char **argv)
{
    static const char *const known[] = {"--limit", "--tiers", NULL};
    int rc = check_options(argc, argv, 0, known);
    Churn__V1__AtRiskFilter filter = CHURN__V1__AT_RISK_FILTER__INIT;
    Churn__V1__RiskTier tiers[3];
    const char *tier_list = option(argc, argv, "--tiers");
    if (!rc && tier_list && !(filter.n_risk_tiers = parse_tiers(tier_list, tiers))) {
        fprintf(stderr,
                "churnctl: cluster at-risk: --tiers: '%s' is not a list of low, medium, high\n",
                tier_list);
        rc = EXIT_USAGE;
    }
    filter.risk_tiers = tiers;
    const char *lim = option(argc, argv, "--limit");
    char *end = NULL;
    long limit = lim ? strtol(lim, &end, 10) : 20;
    if (!rc && (limit < 1 || limit > 1000 || (end && *end))) {
        fprintf(stderr, "churnctl: cluster at-risk: --limit: '%s' is not 1 to 1000\n", lim);
        rc = EXIT_USAGE;
    }
    char err[512];
    if (rc || churn_services_init(&ctl->svc, err, sizeof(err)) != CHURN_OK)
        return rc ? rc : EXIT_TRANSPORT;
    ProtobufCMessage *answers[CHURN_CLUSTER_SHARDS_MAX] = {0};
    struct shard_score *all = NULL;
    size_t n = 0;
    for (size_t s = 0; s < t->n_shards; s++) {
        int r = shard_at_risk(ctl, &t->shards[s], (int32_t)limit, &filter, &answers[s]);
        rc = rc ? rc : r;
        const Churn__V1__ListAtRiskCustomersResponse *a = (void *)answers[s];
        struct shard_score *p = a ? churn_realloc(all, (n + a->n_scores + 1) * sizeof(*p)) : NULL;
        if (!p)
            continue;
        all = p;
        for (size_t i = 0; i < a->n_scores; i++)
            all[n++] = (struct shard_score){a->scores[i], t->shards[s].name};
    }
    if (n)
        qsort(all, n, sizeof(*all), by_priority);
    for (size_t i = 0; i < n && i < (size_t)limit; i++)
        print_shard_score(&all[i], i + 1);
    churn_free(all);
    for (size_t s = 0; s < t->n_shards; s++)
        if (answers[s])
            protobuf_c_message_free_unpacked(answers[s], NULL);
    churn_services_fini(&ctl->svc);
    return rc;
}

/* ReloadShardTable(@text) on the churnd at @addr ("shard" @name in the output, may be ""). */
static int
reload_one(struct ctl *ctl, const char *name, const char *addr, const struct churn_buf *text)
{
    Churn__V1__ReloadShardTableRequest req = CHURN__V1__RELOAD_SHARD_TABLE_REQUEST__INIT;
    req.table.data = (uint8_t *)churn_buf_str(text);
    req.table.len = text->len;
    ctl->server = addr;
    ProtobufCMessage *resp = NULL;
    printf("{\"shard\":\"%s\",\"address\":\"%s\",", name, addr);
    fflush(stdout); /* churnctl_unary() says why on stderr */
    int rc = churnctl_connect(ctl);
    if (!rc)
        rc = churnctl_unary(ctl, "/churn.v1.AdminService/ReloadShardTable", &req.base, &resp);
    churn_client_close(ctl->client);
    ctl->client = NULL;
    const Churn__V1__ReloadShardTableResponse *r = (const void *)resp;
    if (rc) {
        printf("\"result\":\"refused\",\"exit\":%d}\n", rc);
        return rc;
    }
    printf("\"result\":\"reloaded\",\"previous_epoch\":%" PRIu64 ",\"epoch\":%" PRIu64
           ",\"partitions_owned\":%" PRIu32 ",\"partitions_moving\":%" PRIu32
           ",\"streams_ended\":%" PRIu32 "}\n",
           r->previous_epoch, r->epoch, r->partitions_owned, r->partitions_moving,
           r->streams_ended);
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

/* What a copy did. */
struct copy_stats {
    uint64_t copied, refused, pages;
};

/* Import one exported page into the shard @to (the client in @dst); refusals on stderr. */
static int
import_page(struct ctl *ctl, struct churn_client *dst, const char *to,
            const Churn__V1__ExportCustomersResponse *page, struct copy_stats *st)
{
    Churn__V1__ImportCustomersRequest req = CHURN__V1__IMPORT_CUSTOMERS_REQUEST__INIT;
    req.bundles = page->bundles;
    req.n_bundles = page->n_bundles;
    struct churn_client *src = ctl->client;
    const char *src_name = ctl->server;
    ctl->client = dst;
    ctl->server = to;
    ProtobufCMessage *resp = NULL;
    int rc = churnctl_unary(ctl, "/churn.v1.AdminService/ImportCustomers", &req.base, &resp);
    ctl->client = src;
    ctl->server = src_name;
    if (rc)
        return rc;
    const Churn__V1__ImportCustomersResponse *r = (const void *)resp;
    st->copied += r->imported;
    st->refused += r->n_refused;
    for (size_t i = 0; i < r->n_refused; i++)
        fprintf(stderr, "churnctl: cluster copy: customer '%s' refused by %s: %s\n",
                r->refused[i]->id, to, r->refused[i]->reason);
    rc = r->n_refused ? EXIT_STATUS : 0;
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

/* Every page of @partitions from shard @from into the shard at @to_addr. */
static int
copy_from(struct ctl *ctl, const struct churn_cluster_shard *from, const char *to_addr,
          uint32_t *partitions, size_t n, struct copy_stats *st)
{
    struct churn_client *dst;
    char err[600];
    if (churn_client_open_ex(to_addr, &ctl->conn, &dst, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: cannot open a channel to %s: %s\n", to_addr, err);
        return EXIT_TRANSPORT;
    }
    ctl->server = from->addr;
    int rc = churnctl_connect(ctl);
    char after[CHURN_ID_MAX + 1] = "";
    for (bool more = !rc; more && !rc;) {
        Churn__V1__ExportCustomersRequest req = CHURN__V1__EXPORT_CUSTOMERS_REQUEST__INIT;
        req.partitions = partitions;
        req.n_partitions = n;
        req.after = after;
        ProtobufCMessage *resp = NULL;
        rc = churnctl_unary(ctl, "/churn.v1.AdminService/ExportCustomers", &req.base, &resp);
        if (rc)
            break;
        const Churn__V1__ExportCustomersResponse *page = (const void *)resp;
        st->pages++;
        if (page->n_bundles)
            rc = import_page(ctl, dst, to_addr, page, st);
        more = *page->next_after;
        snprintf(after, sizeof(after), "%s", page->next_after);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    churn_client_close(ctl->client);
    ctl->client = NULL;
    churn_client_close(dst);
    return rc;
}

/* `copy TABLE --partitions R --to SHARD`: each old owner's customers of R into SHARD. */
static int
cmd_copy(struct ctl *ctl, int argc, char **argv)
{
    static const char *const known[] = {"--partitions", "--to", NULL};
    int rc = argc < 1 ? usage() : check_options(argc, argv, 1, known);
    const char *range = option(argc, argv, "--partitions"), *to = option(argc, argv, "--to");
    if (!rc && (!range || !to)) {
        fputs("churnctl: cluster copy: expected TABLE --partitions FROM-TO --to SHARD\n", stderr);
        rc = EXIT_USAGE;
    }
    struct churn_cluster_table *t = NULL;
    if (rc || (rc = load(argv[0], &t)))
        return rc;
    char err[512];
    uint32_t lo = 0, hi = 0;
    int dest = churn_cluster_shard_index(t, to);
    if (churn_cluster_parse_range(t, range, &lo, &hi, err, sizeof(err)) != CHURN_OK || dest < 0) {
        fprintf(stderr, "churnctl: cluster copy: %s\n",
                dest < 0 ? "--to: no shard of the table has that name" : err);
        rc = EXIT_USAGE;
    } else if (churn_services_init(&ctl->svc, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: %s\n", err);
        rc = EXIT_TRANSPORT;
    }
    uint32_t *parts = rc ? NULL : churn_malloc((hi - lo + 1) * sizeof(*parts));
    struct copy_stats st = {0};
    for (size_t s = 0; !rc && parts && s < t->n_shards; s++) {
        size_t n = 0;
        for (uint32_t p = lo; p <= hi; p++)
            if (t->owner[p] == s && (int)s != dest)
                parts[n++] = p;
        if (n)
            rc = copy_from(ctl, &t->shards[s], t->shards[dest].addr, parts, n, &st);
    }
    if (!rc && !parts)
        rc = EXIT_TRANSPORT;
    if (!rc || st.copied || st.refused)
        printf("{\"partitions\":\"%s\",\"to\":\"%s\",\"copied\":%" PRIu64 ",\"refused\":%" PRIu64
               ",\"pages\":%" PRIu64 "}\n",
               range, to, st.copied, st.refused, st.pages);
    churn_free(parts);
    if (ctl->svc.methods)
        churn_services_fini(&ctl->svc);
    churn_cluster_table_free(t);
    return rc;
}

/* What a drop did on one shard. */
struct drop_stats {
    uint64_t customers, alerts, outcomes, pages;
};

/* Every page of DropPartitions(@epoch, @partitions) on shard @sh; one JSON line. */
static int
drop_on(struct ctl *ctl, const struct churn_cluster_shard *sh, uint64_t epoch, uint32_t *partitions,
        size_t n)
{
    struct drop_stats st = {0};
    ctl->server = sh->addr;
    printf("{\"shard\":\"%s\",\"address\":\"%s\",", sh->name, sh->addr);
    fflush(stdout); /* churnctl_unary() says why on stderr */
    int rc = churnctl_connect(ctl);
    char after[CHURN_ID_MAX + 1] = "";
    for (bool more = !rc; more && !rc;) {
        Churn__V1__DropPartitionsRequest req = CHURN__V1__DROP_PARTITIONS_REQUEST__INIT;
        req.epoch = epoch;
        req.partitions = partitions;
        req.n_partitions = n;
        req.after = after;
        ProtobufCMessage *resp = NULL;
        rc = churnctl_unary(ctl, "/churn.v1.AdminService/DropPartitions", &req.base, &resp);
        if (rc)
            break;
        const Churn__V1__DropPartitionsResponse *r = (const void *)resp;
        st.pages++;
        st.customers += r->customers_dropped;
        st.alerts += r->alerts_dropped;
        st.outcomes += r->outcomes_dropped;
        more = *r->next_after;
        snprintf(after, sizeof(after), "%s", r->next_after);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    churn_client_close(ctl->client);
    ctl->client = NULL;
    if (rc)
        printf("\"result\":\"refused\",\"exit\":%d}\n", rc);
    else
        printf("\"result\":\"dropped\",\"epoch\":%" PRIu64 ",\"customers\":%" PRIu64
               ",\"alerts\":%" PRIu64 ",\"outcomes\":%" PRIu64 ",\"pages\":%" PRIu64 "}\n",
               epoch, st.customers, st.alerts, st.outcomes, st.pages);
    return rc;
}

/* `drop TABLE --partitions FROM-TO [--shard NAME]`: the copies a finished move left behind. */
static int
cmd_drop(struct ctl *ctl, int argc, char **argv)
{
    static const char *const known[] = {"--partitions", "--shard", NULL};
    int rc = argc < 1 ? usage() : check_options(argc, argv, 1, known);
    const char *range = option(argc, argv, "--partitions"), *only = option(argc, argv, "--shard");
    if (!rc && !range) {
        fputs("churnctl: cluster drop: expected TABLE --partitions FROM-TO [--shard NAME]\n",
              stderr);
        rc = EXIT_USAGE;
    }
    struct churn_cluster_table *t = NULL;
    if (rc || (rc = load(argv[0], &t)))
        return rc;
    char err[512];
    uint32_t lo = 0, hi = 0;
    if (churn_cluster_parse_range(t, range, &lo, &hi, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: cluster drop: %s\n", err);
        rc = EXIT_USAGE;
    } else if (only && churn_cluster_shard_index(t, only) < 0) {
        fprintf(stderr, "churnctl: cluster drop: %s names no shard '%s'\n", argv[0], only);
        rc = EXIT_USAGE;
    }
    for (uint32_t p = lo; !rc && p <= hi; p++)
        if (t->moving[p]) {
            fprintf(stderr,
                    "churnctl: cluster drop: partition %u is moving in %s: finish the "
                    "move first\n",
                    p, argv[0]);
            rc = EXIT_USAGE;
        }
    if (!rc && churn_services_init(&ctl->svc, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: %s\n", err);
        rc = EXIT_TRANSPORT;
    }
    uint32_t *parts = rc ? NULL : churn_malloc((hi - lo + 1) * sizeof(*parts));
    int first = rc || parts ? rc : EXIT_TRANSPORT; /* every shard is asked; the first failure */
    for (size_t s = 0; parts && s < t->n_shards; s++) {
        if (only && strcmp(only, t->shards[s].name) != 0)
            continue;
        size_t n = 0;
        for (uint32_t p = lo; p <= hi; p++) /* NAME alone is sent all: it judges its own */
            if (only || t->owner[p] != s)
                parts[n++] = p;
        int r = n ? drop_on(ctl, &t->shards[s], t->epoch, parts, n) : 0;
        first = first ? first : r;
    }
    churn_free(parts);
    if (ctl->svc.methods)
        churn_services_fini(&ctl->svc);
    churn_cluster_table_free(t);
    return first;
}

/* `reload TABLE [--shard NAME | --address HOST:PORT]`: the table in force on running shards. */
static int
cmd_reload(struct ctl *ctl, int argc, char **argv)
{
    static const char *const known[] = {"--shard", "--address", NULL};
    int rc = argc < 1 ? usage() : check_options(argc, argv, 1, known);
    const char *only = option(argc, argv, "--shard"), *addr = option(argc, argv, "--address");
    if (!rc && only && addr) {
        fputs("churnctl: cluster reload: --shard and --address exclude each other\n", stderr);
        rc = EXIT_USAGE;
    }
    struct churn_buf text;
    churn_buf_init(&text, CHURN_CLUSTER_FILE_MAX);
    struct churn_cluster_table *t = NULL;
    char err[512];
    if (!rc && !(rc = read_text(argv[0], &text)) && !addr)
        rc = load(argv[0], &t); /* --address: sent as it is, the server judges it */
    if (!rc && only && churn_cluster_shard_index(t, only) < 0) {
        fprintf(stderr, "churnctl: cluster reload: %s names no shard '%s'\n", argv[0], only);
        rc = EXIT_USAGE;
    }
    if (!rc && churn_services_init(&ctl->svc, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: %s\n", err);
        rc = EXIT_TRANSPORT;
    }
    if (!rc && addr)
        rc = reload_one(ctl, "", addr, &text);
    int first = rc; /* every shard is asked; the exit code is the first failure's */
    for (size_t s = 0; !rc && t && s < t->n_shards; s++)
        if (!only || strcmp(only, t->shards[s].name) == 0) {
            int r = reload_one(ctl, t->shards[s].name, t->shards[s].addr, &text);
            first = first ? first : r;
        }
    rc = rc ? rc : first;
    if (ctl->svc.methods)
        churn_services_fini(&ctl->svc);
    churn_cluster_table_free(t);
    churn_buf_free(&text);
    return rc;
}

int
churnctl_cluster(struct ctl *ctl, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[0], "--help") == 0)
        return usage();
    const char *cmd = argv[0];
    if (strcmp(cmd, "validate") == 0)
        return cmd_validate(argc - 1, argv + 1);
    if (strcmp(cmd, "balance") == 0)
        return cmd_balance(argc - 1, argv + 1);
    if (strcmp(cmd, "plan") == 0)
        return cmd_plan(argc - 1, argv + 1);
    if (strcmp(cmd, "generate") == 0)
        return cmd_generate(argc - 1, argv + 1);
    if (strcmp(cmd, "owner") == 0)
        return cmd_owner(argc - 1, argv + 1);
    if (strcmp(cmd, "move") == 0)
        return cmd_move(argc - 1, argv + 1);
    if (strcmp(cmd, "copy") == 0)
        return cmd_copy(ctl, argc - 1, argv + 1);
    if (strcmp(cmd, "reload") == 0)
        return cmd_reload(ctl, argc - 1, argv + 1);
    if (strcmp(cmd, "drop") == 0)
        return cmd_drop(ctl, argc - 1, argv + 1);
    if (strcmp(cmd, "at-risk") == 0) {
        struct churn_cluster_table *t = NULL;
        int rc = load(argv[1], &t);
        if (!rc)
            rc = cluster_at_risk(ctl, t, argc - 2, argv + 2);
        churn_cluster_table_free(t);
        return rc;
    }
    fprintf(stderr, "churnctl: cluster: unknown command '%s'\n", cmd);
    return usage();
}
