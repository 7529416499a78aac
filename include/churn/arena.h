/*
 * churn/arena.h - a bump allocator freed all at once (the nginx pool / h2o mem_pool idea).
 *
 * Each RPC call owns one arena: the request is decoded into it, the handler builds its
 * response in it, and the whole lot is released by one churn_arena_reset() when the call
 * ends. An arena has a hard byte limit so that no input can make it grow without bound.
 * Not thread-safe: an arena belongs to one call, and a call is driven by one thread at a time.
 */
#ifndef CHURN_ARENA_H
#define CHURN_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct churn__arena_chunk;

struct churn_arena {
    struct churn__arena_chunk *chunks; /* newest first; the last one is kept across resets */
    char *cur;                         /* next free byte in chunks */
    char *end;                         /* end of chunks' usable space */
    size_t total;                      /* bytes of chunk memory held */
    size_t limit;                      /* refuse to hold more than this */
};

/** churn_arena_init() - an empty arena that will hold at most @limit bytes (0: no limit). */
void churn_arena_init(struct churn_arena *arena, size_t limit);

/**
 * churn_arena_alloc() - @size bytes aligned to 16, valid until the next reset or fini.
 * Returns NULL when the limit would be passed or memory ran out; the arena stays usable.
 */
void *churn_arena_alloc(struct churn_arena *arena, size_t size);

/** churn_arena_zalloc() - like churn_arena_alloc(), zero-filled. */
void *churn_arena_zalloc(struct churn_arena *arena, size_t size);

/** churn_arena_memdup() - copy of @len bytes of @src (NULL on failure). */
void *churn_arena_memdup(struct churn_arena *arena, const void *src, size_t len);

/** churn_arena_strndup() - NUL-terminated copy of at most @len bytes of @s. */
char *churn_arena_strndup(struct churn_arena *arena, const char *s, size_t len);

/** churn_arena_strdup() - NUL-terminated copy of @s. */
char *churn_arena_strdup(struct churn_arena *arena, const char *s);

/** churn_arena_printf() - formatted string in the arena (NULL on failure). */
char *churn_arena_printf(struct churn_arena *arena, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** churn_arena_vprintf() - va_list form of churn_arena_printf(). */
char *churn_arena_vprintf(struct churn_arena *arena, const char *fmt, va_list ap);

/** churn_arena_used() - bytes of chunk memory currently held (for limits and tests). */
size_t churn_arena_used(const struct churn_arena *arena);

/**
 * churn_arena_reset() - forget every allocation. The most recent chunk is kept for reuse so a
 * steady stream of similar calls allocates nothing from the heap.
 */
void churn_arena_reset(struct churn_arena *arena);

/** churn_arena_fini() - release all memory; the arena may be initialised again. */
void churn_arena_fini(struct churn_arena *arena);

#endif
