/*
 * churn/alloc.h - the project's heap allocation entry points, with fault injection.
 *
 * All project code allocates through these wrappers so that tests can make the Nth
 * allocation fail (the SQLite test_malloc technique) and prove that every constructor and
 * handler unwinds cleanly. In production the hook is off and the wrappers are plain
 * malloc/calloc/realloc/free.
 */
#ifndef CHURN_ALLOC_H
#define CHURN_ALLOC_H

#include <stddef.h>

void *churn_malloc(size_t size);
void *churn_calloc(size_t n, size_t size);
void *churn_realloc(void *ptr, size_t size);
void churn_free(void *ptr);

/**
 * churn_strdup() - heap copy of @s (NULL if @s is NULL or memory ran out).
 */
char *churn_strdup(const char *s);

/**
 * churn_alloc_fail_after() - test hook: the next @n allocations succeed, every later one
 * fails, until churn_alloc_fail_off(). Process-wide; for single-threaded tests only.
 */
void churn_alloc_fail_after(long n);

/** churn_alloc_fail_off() - test hook: stop injecting failures. */
void churn_alloc_fail_off(void);

/** churn_alloc_failures() - how many allocations the hook has failed since it was armed. */
long churn_alloc_failures(void);

#endif
