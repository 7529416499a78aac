/*
 * metrics_bench.c - how long one scrape of the metrics registry takes when every method has
 * every status code and a histogram: --methods unary methods (default 30), each called from
 * --threads threads (each thread its own counters, merged on scrape) with all 17 codes and
 * durations across the buckets, then --scrapes renders timed one by one. The baseline in the
 * same run is the same registry with one method. Prints one JSON line per registry: methods,
 * threads, series lines, bytes, render p50/p99/max in microseconds, and the ratio of the
 * p50 to the baseline's.
 *
 *   metrics-bench [--methods 30] [--threads 4] [--scrapes 2000]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/buf.h"
#include "churn/clock.h"
#include "churn/metrics.h"
#include "../common/bench_stats.h"

#define N_CODES  17
#define NAME_LEN 64

struct result {
    double p50_us, p99_us, max_us;
    size_t lines, bytes;
};

struct fill_arg {
    struct churn_metrics *m;
    size_t methods;
};

/* every method × every code, durations from 1 us to 10 s so every bucket holds some */
static void *
fill(void *p)
{
    struct fill_arg *a = p;
    for (size_t i = 0; i < a->methods; i++)
        for (int code = 0; code < N_CODES; code++)
            for (int64_t ns = 1000; ns <= 10000000000LL; ns *= 10) {
                churn_metrics_rpc_started(a->m, i);
                churn_metrics_rpc_received(a->m, i);
                churn_metrics_rpc_sent(a->m, i);
                churn_metrics_rpc_handled(a->m, i, code, ns);
            }
    return NULL;
}

static int
declare(struct churn_metrics *m, size_t methods)
{
    char(*names)[NAME_LEN] = churn_calloc(methods, NAME_LEN);
    const char **ptrs = churn_calloc(methods, sizeof(*ptrs));
    const char **types = churn_calloc(methods, sizeof(*types));
    if (!names || !ptrs || !types)
        return -1;
    for (size_t i = 0; i < methods; i++) {
        snprintf(names[i], NAME_LEN, "/bench.v1.Service%zu/Method%zu", i % 5, i);
        ptrs[i] = names[i];
        types[i] = "unary";
    }
    int rc = churn_metrics_rpc_methods(m, ptrs, types, methods) == CHURN_OK ? 0 : -1;
    churn_free(names);
    churn_free(ptrs);
    churn_free(types);
    return rc;
}

static size_t
count_lines(const struct churn_buf *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->len; i++)
        n += b->data[i] == '\n';
    return n;
}

static int
run(size_t methods, int threads, int scrapes, struct result *r)
{
    struct churn_metrics *m = NULL;
    if (churn_metrics_create(&m) != CHURN_OK || declare(m, methods) != 0)
        return -1;
    pthread_t t[64];
    struct fill_arg arg = {m, methods};
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, fill, &arg);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double *us = churn_calloc((size_t)scrapes, sizeof(double));
    struct churn_buf b;
    churn_buf_init(&b, 1 << 26);
    for (int i = 0; i < scrapes && us; i++) {
        b.len = 0;
        int64_t t0 = churn_mono_ns();
        if (churn_metrics_render(m, &b) != CHURN_OK)
            return -1;
        us[i] = (double)(churn_mono_ns() - t0) / 1000.0;
    }
    qsort(us, (size_t)scrapes, sizeof(double), bench_cmp_double);
    *r = (struct result){bench_percentile(us, (size_t)scrapes, 0.5),
                         bench_percentile(us, (size_t)scrapes, 0.99), us[scrapes - 1],
                         count_lines(&b), b.len};
    churn_free(us);
    churn_buf_free(&b);
    churn_metrics_destroy(m);
    return 0;
}

static void
print(const char *name, size_t methods, int threads, const struct result *r, double ratio)
{
    printf("{\"benchmark\":\"metrics_render\",\"registry\":\"%s\",\"methods\":%zu,\"codes\":%d,"
           "\"threads\":%d,\"lines\":%zu,\"bytes\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,"
           "\"max_us\":%.1f,\"p50_over_baseline\":%.2f}\n",
           name, methods, N_CODES, threads, r->lines, r->bytes, r->p50_us, r->p99_us, r->max_us,
           ratio);
}

static long
opt(int argc, char **argv, const char *name, long def, long max)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) {
            char *end;
            long v = strtol(argv[i + 1], &end, 10);
            if (*end || v < 1 || v > max) {
                fprintf(stderr, "metrics-bench: %s must be 1..%ld\n", name, max);
                exit(2);
            }
            return v;
        }
    return def;
}

int
main(int argc, char **argv)
{
    size_t methods = (size_t)opt(argc, argv, "--methods", 30, CHURN_METRICS_MAX_METHODS);
    int threads = (int)opt(argc, argv, "--threads", 4, 64);
    int scrapes = (int)opt(argc, argv, "--scrapes", 2000, 1000000);
    struct result base, full;
    if (run(1, threads, scrapes, &base) != 0 || run(methods, threads, scrapes, &full) != 0) {
        fprintf(stderr, "metrics-bench: the registry refused the setup\n");
        return 1;
    }
    print("baseline", 1, threads, &base, 1.0);
    print("full", methods, threads, &full, full.p50_us / base.p50_us);
    return 0;
}
