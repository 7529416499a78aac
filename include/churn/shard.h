/*
 * churn/shard.h - churnd as one shard of a cluster (issue 16, docs/CLUSTER.md): the
 * partition table in force (churn/cluster.h), the ownership gate the transport runs before
 * every handler callback, and the table's reload, which ends the open streams of customers
 * the shard no longer owns.
 *
 * The gate, for every RPC about a customer (a request with a customer_id, customer_ids, or a
 * message field holding a customer_id):
 *   - no x-customer-id header: INVALID_ARGUMENT (the proxy routes on it);
 *   - the header differs from the request's customer_id: INVALID_ARGUMENT (client streams of
 *     events may carry several customers: each must be owned instead);
 *   - a customer this shard does not own: FAILED_PRECONDITION naming the owner, with trailers
 *     x-churn-owner, x-churn-owner-address, x-churn-epoch and x-churn-partition;
 *   - a customer whose partition is moving: UNAVAILABLE, so that clients retry.
 * RPCs about no customer (listings, alerts, models, health, reflection) pass: cross-customer
 * reads are answered per shard and merged by the caller.
 */
#ifndef CHURN_SHARD_H
#define CHURN_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "churn/error.h"
#include "churn/rpc.h"

struct churn_shard;

/**
 * churn_shard_open() - load the table at @table_path and serve as shard @name of it. With a
 * non-empty @nats_config_path, that NATS configuration's partition() mapping must use the
 * table's P. Errors (a bad table, an unknown shard, a different P) are written to @errbuf.
 */
enum churn_err churn_shard_open(const char *table_path, const char *name,
                                const char *nats_config_path, struct churn_shard **out,
                                char *errbuf, size_t errlen);

/**
 * churn_shard_reload() - re-read the table file. A table that does not parse, has a lower
 * epoch, changes the assignment without raising the epoch, changes P or drops this shard is
 * refused (the old one stays in force). On success, the open streams of customers this shard
 * no longer owns end with FAILED_PRECONDITION naming the new owner; *ended (may be NULL)
 * receives how many.
 */
enum churn_err churn_shard_reload(struct churn_shard *shard, size_t *ended, char *errbuf,
                                  size_t errlen);

/** What a table change did (churn_shard_install()). */
struct churn_shard_change {
    uint64_t previous_epoch, epoch;
    uint32_t owned, moving; /* partitions this shard owns now, and of those still moving */
    size_t streams_ended;   /* open streams ended: their customer is owned elsewhere now */
};

/**
 * churn_shard_install() - put the table text @text (@len bytes) in force while serving (the
 * admin RPC): parsed, checked like churn_shard_reload(), then written to the table file (a synced
 * temporary file renamed over it, so that a SIGHUP or a restart keeps it) and swapped in; the open
 * streams of customers owned elsewhere now end. @len 0: churn_shard_reload() of the file. Refused
 * (the table in force stays, the file is untouched): CHURN_EINVAL for a table that does not parse
 * or lacks this shard, CHURN_EPRECOND for a successor the epoch rules refuse, CHURN_EIO when the
 * file cannot be written; the reason in @errbuf. On success
 * *@change (may be NULL) says what changed.
 */
enum churn_err churn_shard_install(struct churn_shard *shard, const char *text, size_t len,
                                   struct churn_shard_change *change, char *errbuf, size_t errlen);

/**
 * churn_shard_sighup() - churn_shard_reload() with the outcome logged: the new epoch and the
 * streams ended, or the refusal (the table in force stays).
 */
void churn_shard_sighup(struct churn_shard *shard);

/**
 * churn_shard_log_reloaded() - log cluster_table_reloaded (shard, epoch in force, @streams_ended,
 * and @how it came: "sighup", "rpc"), the line operators and tools/cluster read.
 */
void churn_shard_log_reloaded(struct churn_shard *shard, size_t streams_ended, const char *how);

/** churn_shard_partitions() - P of the table in force. */
uint32_t churn_shard_partitions(struct churn_shard *shard);

/**
 * churn_shard_serves() - does this shard serve partition @part now (owns it, not moving)? A
 * partition it does not serve may have its customers' data copied out or in (a move).
 */
bool churn_shard_serves(struct churn_shard *shard, uint32_t part);

/**
 * churn_shard_serves_customer() - churn_shard_serves() of customer @id's partition; @shard is a
 * struct churn_shard * (the alert engine's ownership callback: the sweep rescores only these).
 */
bool churn_shard_serves_customer(void *shard, const char *id);

/**
 * churn_shard_may_drop() - may this shard delete its copy of partition @part: the table in force
 * names another owner and no move of it is in flight? False with the reason in @why otherwise.
 */
bool churn_shard_may_drop(struct churn_shard *shard, uint32_t part, char *why, size_t len);

/** churn_shard_epoch() - the epoch of the table in force. */
uint64_t churn_shard_epoch(struct churn_shard *shard);

/** churn_shard_name() - this shard's name in the table (lives as long as @shard). */
const char *churn_shard_name(const struct churn_shard *shard);

/**
 * churn_shard_owned() - the partitions this shard owns in the table in force, ascending,
 * into a new array *parts (churn_free() it) of *n entries. Partitions moving to this shard
 * are included: it ingests them (catches up) before it serves them.
 */
enum churn_err churn_shard_owned(struct churn_shard *shard, uint32_t **parts, size_t *n);

/** churn_shard_close() - release the table and the stream references. NULL is a no-op. */
void churn_shard_close(struct churn_shard *shard);

/**
 * churn_shard_request_customer() - the first customer id @req names (its customer_id, the
 * first of customer_ids, or a message field's customer_id): what a client sends as
 * x-customer-id. NULL for a request about no customer (or an empty id). Borrowed from @req.
 */
const char *churn_shard_request_customer(const ProtobufCMessage *req);

/**
 * churn_shard_gate() - the transport's gate (struct churn_server_options.gate; @ctx is the
 * struct churn_shard): the checks above; an error is recorded on @rpc with its message.
 */
enum churn_err churn_shard_gate(void *ctx, struct churn_rpc *rpc, const ProtobufCMessage *req,
                                bool first);

#endif
