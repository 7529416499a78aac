/*
 * test_cluster.c - the partition table (issue 16): FNV-1a-32 against published vectors,
 * partitions, parsing a table, every refusal with the reason (gap, overlap, unknown shard,
 * out of range, lower epoch, an unannounced change at the same epoch, P unlike the NATS
 * mapping), and the generated proxy map, Lua converter, HAProxy and NATS configuration.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "churn/cluster.h"

static char err[1024];

static const char *const GOOD = "# three shards\n"
                                "partitions 16\n"
                                "epoch 4\n"
                                "proxy 127.0.0.1:18080\n"
                                "shard a 127.0.0.1:50061\n"
                                "shard b 127.0.0.1:50062\n"
                                "shard c 127.0.0.1:50063\n"
                                "nats n1 127.0.0.1:4222 127.0.0.1:6222\n"
                                "nats n2 127.0.0.1:4223 127.0.0.1:6223\n"
                                "assign 0-5 a\n"
                                "assign 6-10 b   # five\n"
                                "assign 11-14 c\n"
                                "assign 15 c moving\n";

static struct churn_cluster_table *
parse(const char *text)
{
    struct churn_cluster_table *t = NULL;
    err[0] = '\0';
    if (churn_cluster_table_parse("t.conf", text, strlen(text), &t, err, sizeof(err)) != CHURN_OK)
        return NULL;
    return t;
}

/* The table GOOD with @from replaced by @to. */
static struct churn_cluster_table *
parse_edited(const char *from, const char *to)
{
    char text[2048];
    const char *at = strstr(GOOD, from);
    cr_assert(at, "%s not in the table", from);
    snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - GOOD), GOOD, to, at + strlen(from));
    return parse(text);
}

Test(cluster, fnv1a32_vectors)
{
    /* the published FNV-1a 32-bit test vectors */
    cr_assert_eq(churn_cluster_hash("", 0), 0x811c9dc5u);
    cr_assert_eq(churn_cluster_hash("a", 1), 0xe40c292cu);
    cr_assert_eq(churn_cluster_hash("foobar", 6), 0xbf9cf968u);
    cr_assert_eq(churn_cluster_partition_of("foobar", 6, 256), 0xbf9cf968u % 256);
}

Test(cluster, parses_a_table)
{
    struct churn_cluster_table *t = parse(GOOD);
    cr_assert(t, "%s", err);
    cr_assert_eq(t->partitions, 16);
    cr_assert_eq(t->epoch, 4);
    cr_assert_eq(t->n_shards, 3);
    cr_assert_eq(t->n_nats, 2);
    cr_assert_str_eq(t->proxy, "127.0.0.1:18080");
    cr_assert_eq(churn_cluster_owned_count(t, 0), 6);
    cr_assert_eq(churn_cluster_owned_count(t, 1), 5);
    cr_assert_eq(churn_cluster_owned_count(t, 2), 5);
    cr_assert_eq(t->moving[15], 1);
    cr_assert_eq(t->moving[14], 0);
    /* the owner is the shard of the id's partition */
    uint32_t part = churn_cluster_partition_of("cust-0000042", 12, 16);
    const struct churn_cluster_shard *o = churn_cluster_owner(t, "cust-0000042", 12);
    cr_assert_str_eq(o->name, part <= 5 ? "a" : part <= 10 ? "b" : "c");
    struct churn_buf b;
    churn_buf_init(&b, 4096);
    cr_assert_eq(churn_cluster_ranges(t, 2, &b), CHURN_OK);
    cr_assert_str_eq(churn_buf_str(&b), "11-15");
    churn_buf_free(&b);
    churn_cluster_table_free(t);
}

Test(cluster, gap_is_refused)
{
    cr_assert_null(parse_edited("assign 6-10 b", "assign 6-8 b"));
    cr_assert_str_eq(err, "t.conf: gap: partitions 9-10 have no shard");
}

Test(cluster, overlap_is_refused)
{
    cr_assert_null(parse_edited("assign 6-10 b", "assign 4-10 b"));
    cr_assert_str_eq(err, "t.conf:11: assign: overlap: partitions 4-5 are already assigned to a "
                          "on line 10");
}

Test(cluster, unknown_shard_is_refused)
{
    cr_assert_null(parse_edited("assign 6-10 b", "assign 6-10 x"));
    cr_assert(strstr(err, "t.conf:11: assign 6-10: unknown shard 'x'"), "%s", err);
}

Test(cluster, out_of_range_and_bad_lines_are_refused)
{
    cr_assert_null(parse_edited("assign 15 c moving", "assign 15-16 c"));
    cr_assert(strstr(err, "t.conf:13: assign: '15-16' is out of range: partitions are 0-15"), "%s",
              err);
    cr_assert_null(parse_edited("epoch 4", "epoch -1"));
    cr_assert(strstr(err, "t.conf:3: epoch: '-1' is not a non-negative integer"), "%s", err);
    cr_assert_null(parse_edited("partitions 16", "partitions 0"));
    cr_assert(strstr(err, "partitions: '0' is not a count"), "%s", err);
    cr_assert_null(parse_edited("shard c 127.0.0.1:50063", "shard c nowhere"));
    cr_assert(strstr(err, "t.conf:7: shard c: 'nowhere' is not HOST:PORT"), "%s", err);
    cr_assert_null(parse_edited("shard c 127.0.0.1:50063", "shard a 127.0.0.1:50063"));
    cr_assert(strstr(err, "shard a: declared twice"), "%s", err);
    cr_assert_null(parse_edited("proxy", "proxi"));
    cr_assert(strstr(err, "t.conf:4: unknown keyword 'proxi'"), "%s", err);
    cr_assert_null(parse_edited("epoch 4\n", ""));
    cr_assert_str_eq(err, "t.conf: no `epoch N` line");
    cr_assert_null(parse_edited("assign 11-14 c\nassign 15 c moving", "assign 11-15 b"));
    cr_assert_str_eq(err, "t.conf: shard c owns no partition (assign it some, or remove it)");
}

Test(cluster, successor_epochs)
{
    struct churn_cluster_table *cur = parse(GOOD);
    cr_assert(cur);
    struct churn_cluster_table *lower = parse_edited("epoch 4", "epoch 3");
    cr_assert_eq(churn_cluster_table_check_successor(cur, lower, err, sizeof(err)), CHURN_EPRECOND);
    cr_assert_str_eq(err, "epoch 3 is lower than epoch 4 in force");
    struct churn_cluster_table *same = parse_edited("assign 15 c moving", "assign 15 c");
    cr_assert_eq(churn_cluster_table_check_successor(cur, same, err, sizeof(err)), CHURN_EPRECOND);
    cr_assert(strstr(err, "the assignment changed but the epoch is still 4"), "%s", err);
    struct churn_cluster_table *next = parse_edited("epoch 4\n", "epoch 5\n");
    cr_assert_eq(churn_cluster_table_check_successor(cur, next, err, sizeof(err)), CHURN_OK);
    cr_assert_eq(churn_cluster_table_check_successor(cur, cur, err, sizeof(err)), CHURN_OK);
    /* P changes too */
    char text[2048];
    snprintf(text, sizeof(text), "%.*sassign 15-16 c moving\n", (int)(strlen(GOOD) - 19), GOOD);
    memcpy(strstr(text, "partitions 16"), "partitions 17", 13);
    struct churn_cluster_table *other_p = parse(text);
    cr_assert(other_p, "%s", err);
    cr_assert_eq(churn_cluster_table_check_successor(cur, other_p, err, sizeof(err)),
                 CHURN_EPRECOND);
    cr_assert(strstr(err, "partitions 17 differs from 16 in force"), "%s", err);
    churn_cluster_table_free(cur);
    churn_cluster_table_free(lower);
    churn_cluster_table_free(same);
    churn_cluster_table_free(next);
    churn_cluster_table_free(other_p);
}

Test(cluster, nats_mapping_must_use_the_same_p)
{
    struct churn_cluster_table *t = parse(GOOD);
    const char *ok = "mappings {\n \"ingest.*\": \"ingest.{{wildcard(1)}}.{{partition(16,1)}}\"\n}";
    cr_assert_eq(churn_cluster_table_check_nats(t, ok, err, sizeof(err)), CHURN_OK);
    const char *bad = "mappings { \"ingest.*\": \"ingest.{{wildcard(1)}}.{{partition(32,1)}}\" }";
    cr_assert_eq(churn_cluster_table_check_nats(t, bad, err, sizeof(err)), CHURN_EINVAL);
    cr_assert_str_eq(err, "the NATS mapping partitions into 32, the table into 16: both must use "
                          "the same P");
    cr_assert_eq(churn_cluster_table_check_nats(t, "listen: 1.2.3.4:4222", err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert(strstr(err, "maps no subject with partition(P, ...)"), "%s", err);
    churn_cluster_table_free(t);
}

Test(cluster, generated_configuration)
{
    struct churn_cluster_table *t = parse(GOOD);
    struct churn_buf b;
    churn_buf_init(&b, 1 << 20);
    cr_assert_eq(churn_cluster_gen_map(t, &b), CHURN_OK);
    cr_assert(strstr(churn_buf_str(&b), "\n0 shard_a\n"));
    cr_assert(strstr(churn_buf_str(&b), "\n10 shard_b\n11 shard_c\n"));
    churn_buf_reset(&b);
    cr_assert_eq(churn_cluster_gen_haproxy(t, "/x/p.lua", "/x/p.map", "/x/admin.sock", &b),
                 CHURN_OK);
    const char *h = churn_buf_str(&b);
    cr_assert(strstr(h, "bind 127.0.0.1:18080 proto h2\n"));
    cr_assert(strstr(h, "use_backend %[var(txn.part),map(/x/p.map,shard_none)]\n"));
    cr_assert(strstr(h, "server b 127.0.0.1:50062 proto h2 id 2\n"));
    cr_assert(strstr(h, "retries 0\n"));
    cr_assert(strstr(h, "hdr grpc-status 3"));
    churn_buf_reset(&b);
    cr_assert_eq(churn_cluster_gen_lua(t, &b), CHURN_OK);
    cr_assert(strstr(churn_buf_str(&b), "local P = 16\n"));
    cr_assert(strstr(churn_buf_str(&b), "    return h % P\nend)\n"));
    churn_buf_reset(&b);
    cr_assert_eq(churn_cluster_gen_nats(t, 1, "/x/js", &b), CHURN_OK);
    const char *n = churn_buf_str(&b);
    cr_assert(strstr(n, "server_name: n2\nlisten: 127.0.0.1:4223\n"));
    cr_assert(strstr(n, "nats-route://127.0.0.1:6222\n"));
    cr_assert_null(strstr(n, "nats-route://127.0.0.1:6223"));
    cr_assert(strstr(n, "{{partition(16,1)}}"));
    cr_assert_eq(churn_cluster_table_check_nats(t, n, err, sizeof(err)), CHURN_OK);
    churn_buf_reset(&b);
    cr_assert_eq(churn_cluster_gen_streams(t, &b), CHURN_OK);
    cr_assert(strstr(churn_buf_str(&b), "{\"name\":\"INGEST_7\",\"subjects\":[\"ingest.*.7\"],"
                                        "\"storage\":\"file\",\"retention\":\"limits\","
                                        "\"num_replicas\":2,\"owner\":\"b\"}\n"));
    churn_buf_reset(&b);
    cr_assert_eq(churn_cluster_gen_ownership(t, 0, &b), CHURN_OK);
    cr_assert(strstr(churn_buf_str(&b), "epoch 4\npartitions 6 of 16: 0-5\n"));
    churn_buf_free(&b);
    churn_cluster_table_free(t);
}

/* GOOD without its move in flight. */
static struct churn_cluster_table *
parse_settled(void)
{
    return parse_edited("assign 15 c moving", "assign 15 c");
}

Test(cluster, a_move_begins_and_finishes)
{
    struct churn_cluster_table *t = parse_settled();
    cr_assert(t, "%s", err);
    uint64_t epoch = t->epoch;
    cr_assert_eq(churn_cluster_table_begin_move(t, "4-7", "c", err, sizeof(err)), CHURN_OK, "%s",
                 err);
    cr_assert_eq(t->epoch, epoch + 1);
    for (uint32_t i = 0; i < t->partitions; i++) {
        bool moved = i >= 4 && i <= 7;
        cr_assert_eq(t->moving[i], moved, "partition %u", i);
        if (moved)
            cr_assert_str_eq(t->shards[t->owner[i]].name, "c");
    }
    cr_assert_str_eq(t->shards[t->owner[3]].name, "a");
    cr_assert_str_eq(t->shards[t->owner[8]].name, "b");
    /* the text of the table parses back into the same table, a valid successor */
    struct churn_buf b;
    churn_buf_init(&b, CHURN_CLUSTER_FILE_MAX);
    cr_assert_eq(churn_cluster_table_format(t, &b), CHURN_OK);
    struct churn_cluster_table *back = parse(churn_buf_str(&b));
    cr_assert(back, "%s\n%s", err, churn_buf_str(&b));
    cr_assert_eq(back->epoch, t->epoch);
    cr_assert_str_eq(back->proxy, t->proxy);
    cr_assert_eq(back->n_shards, t->n_shards);
    cr_assert_eq(back->n_nats, t->n_nats);
    cr_assert_str_eq(back->nats[1].route, t->nats[1].route);
    cr_assert_eq(memcmp(back->owner, t->owner, t->partitions), 0);
    cr_assert_eq(memcmp(back->moving, t->moving, t->partitions), 0);
    struct churn_cluster_table *before = parse_settled();
    cr_assert_eq(churn_cluster_table_check_successor(before, back, err, sizeof(err)), CHURN_OK,
                 "%s", err);
    /* finished: nothing moving, the next epoch */
    cr_assert_eq(churn_cluster_table_finish_moves(t, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_eq(t->epoch, epoch + 2);
    for (uint32_t i = 0; i < t->partitions; i++)
        cr_assert_eq(t->moving[i], 0);
    cr_assert_str_eq(t->shards[t->owner[5]].name, "c");
    churn_buf_free(&b);
    churn_cluster_table_free(back);
    churn_cluster_table_free(before);
    churn_cluster_table_free(t);
}

/* begin_move(@range, @to) on the settled table is refused with @want; the table unchanged. */
static void
assert_move_refused(const char *range, const char *to, const char *want)
{
    struct churn_cluster_table *t = parse_settled(), *same = parse_settled();
    cr_assert(t && same, "%s", err);
    cr_assert_neq(churn_cluster_table_begin_move(t, range, to, err, sizeof(err)), CHURN_OK);
    cr_assert(strstr(err, want), "'%s' not in '%s'", want, err);
    cr_assert_eq(t->epoch, same->epoch);
    cr_assert_eq(memcmp(t->owner, same->owner, t->partitions), 0);
    cr_assert_eq(memcmp(t->moving, same->moving, t->partitions), 0);
    churn_cluster_table_free(t);
    churn_cluster_table_free(same);
}

Test(cluster, bad_moves_are_refused)
{
    assert_move_refused("9-3", "a", "'9-3' is not a partition or FROM-TO range");
    assert_move_refused("x", "a", "'x' is not a partition or FROM-TO range");
    assert_move_refused("10-16", "a", "'10-16' is out of range (partitions are 0-15)");
    assert_move_refused("3", "zz", "--to: no shard named 'zz'");
    assert_move_refused("2-7", "a", "partition 2 already belongs to shard a");
    assert_move_refused("6-10", "a", "shard b would own no partition");
    /* one move at a time; nothing to finish without one */
    struct churn_cluster_table *t = parse(GOOD);
    cr_assert(t, "%s", err);
    cr_assert_eq(churn_cluster_table_begin_move(t, "0", "b", err, sizeof(err)), CHURN_EPRECOND);
    cr_assert(strstr(err, "partition 15 is moving to shard c"), "%s", err);
    churn_cluster_table_free(t);
    t = parse_settled();
    cr_assert_eq(churn_cluster_table_finish_moves(t, err, sizeof(err)), CHURN_EINVAL);
    cr_assert(strstr(err, "no partition is moving"), "%s", err);
    churn_cluster_table_free(t);
}
