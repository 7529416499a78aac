/*
 * tools/bench/common/bench_stats.h - the latency statistics the load tools print: samples sorted
 * ascending with qsort(..., bench_cmp_double) and read at a percentile (nearest rank). Header
 * only: each tool is its own program.
 */
#ifndef CHURN_TOOLS_BENCH_STATS_H
#define CHURN_TOOLS_BENCH_STATS_H

#include <math.h>
#include <stddef.h>

/** bench_cmp_double() - ascending order of doubles, for qsort. */
static inline int
bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/** bench_percentile() - the @p quantile (0..1) of the sorted @v (@n values); NaN if empty. */
static inline double
bench_percentile(const double *v, size_t n, double p)
{
    if (!n)
        return NAN;
    return v[(size_t)(p * (double)(n - 1) + 0.5)];
}

#endif
