/*
 * churn/metrics.h - the metrics registry: counters and histograms kept per thread and merged
 * when scraped, gauges read by collectors at scrape time, and the Prometheus text exposition
 * of all of them (format 0.0.4).
 *
 * The request path never takes a lock or a shared atomic: each thread that counts gets its
 * own shard of slots on first use (one mutex acquisition per thread and registry, ever), and
 * an increment is a relaxed load and store on a slot only that thread writes. A scrape sums
 * the slots of every shard. The gRPC server metrics carry go-grpc-prometheus's names and
 * labels (grpc_server_started_total, grpc_server_handled_total, grpc_server_msg_received_total,
 * grpc_server_msg_sent_total, grpc_server_handling_seconds); the registry knows method names
 * and status codes as numbers and strings only, never a gRPC type.
 *
 * Register every series before serving (registration takes the registry mutex); counting
 * functions take a NULL registry as "metrics off" and do nothing.
 */
#ifndef CHURN_METRICS_H
#define CHURN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "churn/buf.h"
#include "churn/error.h"

/* Limits: exceeding them at registration is CHURN_EFULL. */
#define CHURN_METRICS_MAX_METHODS    128
#define CHURN_METRICS_MAX_SERIES     256 /* counters and histograms registered by name */
#define CHURN_METRICS_MAX_BUCKETS    24  /* bounds of one histogram */
#define CHURN_METRICS_MAX_COLLECTORS 16
#define CHURN_METRICS_GRPC_CODES     17 /* OK .. UNAUTHENTICATED */

struct churn_metrics;
struct churn_metrics_sink;

/**
 * churn_metrics_create() - an empty registry with the process collector (CPU seconds,
 * resident memory, open file descriptors, start time) already added. @out: OUT.
 */
enum churn_err churn_metrics_create(struct churn_metrics **out);

/** churn_metrics_destroy() - free the registry and every shard. NULL is a no-op. */
void churn_metrics_destroy(struct churn_metrics *m);

/* ---- gRPC server metrics --------------------------------------------------------------- */

/**
 * churn_metrics_rpc_methods() - declare the served methods, once: @names[i] is the full
 * method path ("/churn.v1.ScoringService/GetScore") and @types[i] its go-grpc-prometheus
 * grpc_type ("unary", "client_stream", "server_stream", "bidi_stream"); both are copied.
 * Method i is then counted by index. CHURN_EINVAL for a name that is not "/Service/Method"
 * or holds characters outside [A-Za-z0-9_.]; CHURN_EEXIST when called twice; CHURN_EFULL
 * past CHURN_METRICS_MAX_METHODS.
 */
enum churn_err churn_metrics_rpc_methods(struct churn_metrics *m, const char *const *names,
                                         const char *const *types, size_t n);

/** churn_metrics_rpc_started() - a call to method @i arrived. */
void churn_metrics_rpc_started(struct churn_metrics *m, size_t i);

/** churn_metrics_rpc_received() - one request message of method @i was read. */
void churn_metrics_rpc_received(struct churn_metrics *m, size_t i);

/** churn_metrics_rpc_sent() - one response message of method @i was written. */
void churn_metrics_rpc_sent(struct churn_metrics *m, size_t i);

/**
 * churn_metrics_rpc_handled() - a call to method @i ended with gRPC status @code (0..16; a
 * value outside counts as UNKNOWN) after @duration_ns.
 */
void churn_metrics_rpc_handled(struct churn_metrics *m, size_t i, int code, int64_t duration_ns);

/* ---- counters and histograms of churnd's own ------------------------------------------- */

/**
 * churn_metrics_counter() - register a counter series: @name (a Prometheus metric name ending
 * in _total), @help, and @labels, the label pairs as exposition text (`result="accepted"`,
 * or "" for none). Series of one name form one family. @name, @help and @labels are copied.
 * @id: OUT, for churn_metrics_add().
 */
enum churn_err churn_metrics_counter(struct churn_metrics *m, const char *name, const char *help,
                                     const char *labels, size_t *id);

/** churn_metrics_add() - add @n to counter @id (no-op when @m is NULL). */
void churn_metrics_add(struct churn_metrics *m, size_t id, uint64_t n);

/**
 * churn_metrics_histogram() - register a histogram series like churn_metrics_counter(), with
 * @n_bounds (1..CHURN_METRICS_MAX_BUCKETS) strictly rising upper bounds @bounds (copied).
 */
enum churn_err churn_metrics_histogram(struct churn_metrics *m, const char *name, const char *help,
                                       const char *labels, const double *bounds, size_t n_bounds,
                                       size_t *id);

/** churn_metrics_observe() - record @value in histogram @id (no-op when @m is NULL). */
void churn_metrics_observe(struct churn_metrics *m, size_t id, double value);

/* ---- gauges, read at scrape time --------------------------------------------------------- */

/*
 * typedef churn_metrics_collect_fn - called on the scraping thread (the admin listener's)
 * for every scrape; writes current values with churn_metrics_sink_gauge() and
 * churn_metrics_sink_counter(). Series of one family must be written one after the other.
 * Must not block for long: the scraper waits.
 */
typedef void churn_metrics_collect_fn(void *ctx, struct churn_metrics_sink *sink);

/**
 * churn_metrics_collector() - add @fn(@ctx) to every scrape, after the registered series,
 * in the order added. @ctx is borrowed until churn_metrics_destroy().
 */
enum churn_err churn_metrics_collector(struct churn_metrics *m, churn_metrics_collect_fn *fn,
                                       void *ctx);

/**
 * churn_metrics_sink_gauge() - one gauge sample: @name, @help (written once per family),
 * @labels as in churn_metrics_counter(), @value.
 */
void churn_metrics_sink_gauge(struct churn_metrics_sink *sink, const char *name, const char *help,
                              const char *labels, double value);

/** churn_metrics_sink_counter() - one counter sample kept elsewhere (a total since start). */
void churn_metrics_sink_counter(struct churn_metrics_sink *sink, const char *name, const char *help,
                                const char *labels, double value);

/* ---- exposition -------------------------------------------------------------------------- */

/**
 * churn_metrics_render() - append the whole exposition (text format 0.0.4) to @out. Safe from
 * any thread while others count; scrapes are serialised. CHURN_ETOOBIG when @out's cap is
 * reached (the text is then incomplete), CHURN_ENOMEM.
 */
enum churn_err churn_metrics_render(struct churn_metrics *m, struct churn_buf *out);

#endif
