/*
 * churn/cluster.h - the partition table of a churnd cluster: customers belong to P
 * partitions (partition = FNV-1a-32(customer id) mod P, the function of NATS 2.9's
 * `partition()` subject mapping), and a versioned table with an epoch says which shard owns
 * each partition. The table is one text file, the one source of truth from which the proxy's
 * map, each shard's ownership and the NATS configuration are generated (docs/CLUSTER.md):
 *
 *   # comment
 *   partitions 256
 *   epoch 3
 *   proxy 127.0.0.1:18080                     (optional: where HAProxy listens)
 *   shard a 127.0.0.1:50061                   (name, gRPC address; one line per shard)
 *   nats n1 127.0.0.1:4222 127.0.0.1:6222     (optional: client and route address per node)
 *   assign 0-85 a                             (partitions FROM-TO, or one; "moving" after the
 *   assign 86-255 b moving                     shard marks a move in flight)
 *
 * Domain code: no gRPC, no protobuf. A loaded table is immutable and may be shared by threads;
 * a reload builds a new one.
 */
#ifndef CHURN_CLUSTER_H
#define CHURN_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/buf.h"
#include "churn/error.h"

#define CHURN_CLUSTER_PARTITIONS_DEFAULT 256
#define CHURN_CLUSTER_PARTITIONS_MAX     65536
#define CHURN_CLUSTER_SHARDS_MAX         64
#define CHURN_CLUSTER_NATS_MAX           16
#define CHURN_CLUSTER_NAME_MAX           32 /* bytes of a shard or node name, with the NUL */
#define CHURN_CLUSTER_ADDR_MAX           128
#define CHURN_CLUSTER_FILE_MAX           (1 << 20)

struct churn_cluster_shard {
    char name[CHURN_CLUSTER_NAME_MAX]; /* [a-z0-9_-], starts with a letter or digit */
    char addr[CHURN_CLUSTER_ADDR_MAX]; /* host:port of its gRPC listener */
};

struct churn_cluster_nats {
    char name[CHURN_CLUSTER_NAME_MAX];
    char client[CHURN_CLUSTER_ADDR_MAX]; /* host:port for clients */
    char route[CHURN_CLUSTER_ADDR_MAX];  /* host:port for the cluster routes */
};

struct churn_cluster_table {
    uint32_t partitions; /* P */
    uint64_t epoch;
    char proxy[CHURN_CLUSTER_ADDR_MAX]; /* "" when the file names none */
    size_t n_shards;
    struct churn_cluster_shard shards[CHURN_CLUSTER_SHARDS_MAX];
    size_t n_nats;
    struct churn_cluster_nats nats[CHURN_CLUSTER_NATS_MAX];
    uint8_t *owner;  /* [partitions]: index into shards */
    uint8_t *moving; /* [partitions]: 1 while a move of the partition is in flight */
};

/**
 * churn_cluster_hash() - FNV-1a-32 of @len bytes at @id (offset basis 2166136261, prime
 * 16777619): the hash of NATS `partition()` and of the proxy's Lua converter.
 */
uint32_t churn_cluster_hash(const char *id, size_t len);

/** churn_cluster_partition_of() - FNV-1a-32(@id) mod @partitions (> 0). */
uint32_t churn_cluster_partition_of(const char *id, size_t len, uint32_t partitions);

/**
 * churn_cluster_table_parse() - parse and validate table text (@len bytes; @source names it
 * in errors). Every error says what is wrong and where: an unknown keyword or shard, a
 * partition out of range, an overlap ("partitions 80-85 on line 9 are already assigned to
 * a on line 8"), a gap ("partitions 86-90 have no shard"), a shard owning nothing, a
 * duplicate shard. On success *out is a new table (churn_cluster_table_free() it).
 */
enum churn_err churn_cluster_table_parse(const char *source, const char *text, size_t len,
                                         struct churn_cluster_table **out, char *errbuf,
                                         size_t errlen);

/** churn_cluster_table_load() - churn_cluster_table_parse() of the file at @path. */
enum churn_err churn_cluster_table_load(const char *path, struct churn_cluster_table **out,
                                        char *errbuf, size_t errlen);

/** churn_cluster_table_free() - free a table. NULL is a no-op. */
void churn_cluster_table_free(struct churn_cluster_table *t);

/**
 * churn_cluster_table_check_successor() - may @next replace @current? Refused
 * (CHURN_EPRECOND with the reason) when its epoch is lower, when the epoch is equal but the
 * assignment differs, or when P differs (re-sharding moves partitions; P is fixed).
 */
enum churn_err churn_cluster_table_check_successor(const struct churn_cluster_table *current,
                                                   const struct churn_cluster_table *next,
                                                   char *errbuf, size_t errlen);

/**
 * churn_cluster_table_check_nats() - does the NATS server configuration text @conf map
 * subjects with `partition(P, ...)` for the table's P? CHURN_EINVAL naming both numbers when
 * not, or when @conf has no partition() mapping at all.
 */
enum churn_err churn_cluster_table_check_nats(const struct churn_cluster_table *t, const char *conf,
                                              char *errbuf, size_t errlen);

/** churn_cluster_shard_index() - index of shard @name, -1 if the table has none. */
int churn_cluster_shard_index(const struct churn_cluster_table *t, const char *name);

/** churn_cluster_owner() - the shard that owns customer @id (@len bytes). */
const struct churn_cluster_shard *churn_cluster_owner(const struct churn_cluster_table *t,
                                                      const char *id, size_t len);

/** churn_cluster_owned_count() - how many partitions shard @shard (an index) owns. */
uint32_t churn_cluster_owned_count(const struct churn_cluster_table *t, int shard);

/**
 * churn_cluster_ranges() - the partitions of shard @shard as "0-85,90,120-130" into @out.
 * CHURN_ETOOBIG past the buffer's cap.
 */
enum churn_err churn_cluster_ranges(const struct churn_cluster_table *t, int shard,
                                    struct churn_buf *out);

/**
 * churn_cluster_parse_range() - "12" or "12-40", partitions of @t, into [*lo, *hi]; CHURN_EINVAL
 * ("--partitions: 'x' is not a partition or FROM-TO range", or out of range) otherwise.
 */
enum churn_err churn_cluster_parse_range(const struct churn_cluster_table *t, const char *range,
                                         uint32_t *lo, uint32_t *hi, char *errbuf, size_t errlen);

/**
 * churn_cluster_table_begin_move() - the first step of a move, applied to @t: the partitions
 * of @range ("12" or "12-40") belong to shard @to from now on but are marked moving (every
 * shard answers their customers UNAVAILABLE while the new owner catches up), and the epoch
 * is raised. Refused, with the reason and @t unchanged: a bad or out-of-range @range, an
 * unknown shard, a partition of the range that @to owns already, a move already in flight,
 * a shard left with no partition.
 */
enum churn_err churn_cluster_table_begin_move(struct churn_cluster_table *t, const char *range,
                                              const char *to, char *errbuf, size_t errlen);

/**
 * churn_cluster_table_finish_moves() - the last step of a move: no partition is moving any
 * more (the new owners serve them) and the epoch is raised. CHURN_EINVAL when nothing moves.
 */
enum churn_err churn_cluster_table_finish_moves(struct churn_cluster_table *t, char *errbuf,
                                                size_t errlen);

/**
 * churn_cluster_table_format() - @t as table text (the format above, comments left out,
 * consecutive partitions of one shard in one assign line): churn_cluster_table_parse() of it
 * gives the same table.
 */
enum churn_err churn_cluster_table_format(const struct churn_cluster_table *t,
                                          struct churn_buf *out);

/* ---- generated configuration (src/cluster/generate.c) ----------------------------------- */

/** The proxy map: one "PARTITION shard_NAME" line per partition. */
enum churn_err churn_cluster_gen_map(const struct churn_cluster_table *t, struct churn_buf *out);

/** The proxy's Lua converter `churn_partition`: FNV-1a-32(header) mod P. */
enum churn_err churn_cluster_gen_lua(const struct churn_cluster_table *t, struct churn_buf *out);

/**
 * churn_cluster_gen_haproxy() - haproxy.cfg for HAProxy 2.6: h2 on both sides, the Lua
 * converter from @lua_path, use_backend through the map at @map_path, a missing header
 * answered INVALID_ARGUMENT by the proxy, a dead shard UNAVAILABLE (no retries, no
 * redispatch), the admin socket at @admin_sock (for `set map`). Paths should be absolute.
 */
enum churn_err churn_cluster_gen_haproxy(const struct churn_cluster_table *t, const char *lua_path,
                                         const char *map_path, const char *admin_sock,
                                         struct churn_buf *out);

/**
 * churn_cluster_gen_nats() - the configuration of NATS node @node (an index): client and
 * cluster listeners, routes to every other node, JetStream in @store_dir, and the subject
 * mapping "ingest.*" -> "ingest.{{wildcard(1)}}.{{partition(P,1)}}".
 */
enum churn_err churn_cluster_gen_nats(const struct churn_cluster_table *t, size_t node,
                                      const char *store_dir, struct churn_buf *out);

/**
 * churn_cluster_gen_streams() - the JetStream streams, one JSON object a line: name
 * INGEST_<partition>, subject "ingest.*.<partition>", file storage, R3 (or fewer nodes).
 */
enum churn_err churn_cluster_gen_streams(const struct churn_cluster_table *t,
                                         struct churn_buf *out);

/**
 * churn_cluster_gen_ownership() - shard @shard's ownership: its name, the epoch and its
 * partitions, one "partition N" line each.
 */
enum churn_err churn_cluster_gen_ownership(const struct churn_cluster_table *t, int shard,
                                           struct churn_buf *out);

#endif
