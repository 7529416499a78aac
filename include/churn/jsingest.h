/*
 * churn/jsingest.h - a shard's ingestion from NATS JetStream (issue 16, docs/CLUSTER.md).
 * Producers publish to `ingest.<customer>`; the NATS account mapping appends the partition
 * (FNV-1a-32 mod P, churn/cluster.h) and stream INGEST_<p> keeps subject `ingest.*.<p>`. The
 * shard pulls each partition it owns with a durable consumer `churnd-<shard>` of that stream,
 * decodes each message as a churn.v1.RecordEventsRequest (its `event` and `events`), applies
 * the events through the store's group-commit writer (idempotent on event ids, as
 * RecordEvents) and acknowledges the messages only after the durable LMDB commit; a failed
 * commit NAKs them (redelivered). A message that does not decode, holds no event, names a
 * customer other than its subject's, or carries an invalid event is terminated (never
 * redelivered), logged with the reason and counted. Lag per partition is the consumer's
 * pending count, logged with the counters every few seconds (event `jetstream_ingest`).
 */
#ifndef CHURN_JSINGEST_H
#define CHURN_JSINGEST_H

#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"

struct churn_services;
struct churn_shard;
struct churn_jsingest;

/** Counters since start (a snapshot). */
struct churn_jsingest_stats {
    uint64_t messages;   /* acknowledged after commit */
    uint64_t accepted;   /* events applied */
    uint64_t duplicates; /* events already applied (redeliveries, producer retries) */
    uint64_t rejected;   /* events the store refused (acknowledged: permanent) */
    uint64_t terminated; /* messages terminated: undecodable or invalid */
    uint64_t lag;        /* messages pending over all owned partitions, last seen */
};

/**
 * churn_jsingest_start() - start consuming the partitions @shard owns from the NATS servers
 * @urls ("nats://h:p,nats://h:p"). Returns at once: a thread connects (retrying until the
 * servers answer), creates the durable consumers (retrying while the streams are missing)
 * and applies what they deliver through @svc's writer. CHURN_EINVAL names a bad @urls.
 */
enum churn_err churn_jsingest_start(struct churn_services *svc, struct churn_shard *shard,
                                    const char *urls, struct churn_jsingest **out, char *errbuf,
                                    size_t errlen);

/** churn_jsingest_stats() - the counters now. */
void churn_jsingest_stats(struct churn_jsingest *js, struct churn_jsingest_stats *out);

/**
 * churn_jsingest_stop() - stop fetching, let the batch in hand commit and be acknowledged,
 * close the connection and free @js (NULL is a no-op). Before the writer stops.
 */
void churn_jsingest_stop(struct churn_jsingest *js);

#endif
