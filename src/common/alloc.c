/*
 * alloc.c - thin allocation wrappers with an optional fail-the-Nth-allocation hook used by
 * the fault-injection tests. The hook is a pair of relaxed atomics, so the cost when it is
 * off is one load per allocation.
 */
#include "churn/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_budget = -1; /* -1: off */
static atomic_long fail_count;

static int
should_fail(void)
{
    long budget = atomic_load_explicit(&fail_budget, memory_order_relaxed);
    if (budget < 0)
        return 0;
    if (budget == 0) {
        atomic_fetch_add_explicit(&fail_count, 1, memory_order_relaxed);
        return 1;
    }
    atomic_store_explicit(&fail_budget, budget - 1, memory_order_relaxed);
    return 0;
}

void *
churn_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc(size ? size : 1);
}

void *
churn_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *
churn_realloc(void *ptr, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc(ptr, size ? size : 1);
}

void
churn_free(void *ptr)
{
    free(ptr);
}

char *
churn_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = churn_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void
churn_alloc_fail_after(long n)
{
    atomic_store(&fail_count, 0);
    atomic_store(&fail_budget, n < 0 ? 0 : n);
}

void
churn_alloc_fail_off(void)
{
    atomic_store(&fail_budget, -1);
}

long
churn_alloc_failures(void)
{
    return atomic_load(&fail_count);
}
