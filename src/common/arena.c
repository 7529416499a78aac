/*
 * arena.c - chunked bump allocator with a byte limit. Chunks double in size from 4 KiB up to
 * 256 KiB; a request larger than that gets a chunk of its own. Reset keeps one chunk (the
 * largest recently used) so steady-state calls never touch the heap.
 */
#include "churn/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"

#define ARENA_ALIGN     16
#define ARENA_MIN_CHUNK 4096
#define ARENA_MAX_CHUNK (256 * 1024)

struct churn__arena_chunk {
    struct churn__arena_chunk *next;
    size_t size; /* usable bytes after the header */
    _Alignas(ARENA_ALIGN) char data[];
};

void
churn_arena_init(struct churn_arena *arena, size_t limit)
{
    memset(arena, 0, sizeof(*arena));
    arena->limit = limit;
}

static size_t
align_up(size_t n)
{
    return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

static int
arena_grow(struct churn_arena *arena, size_t need)
{
    size_t want = arena->chunks ? arena->chunks->size * 2 : ARENA_MIN_CHUNK;
    if (want > ARENA_MAX_CHUNK)
        want = ARENA_MAX_CHUNK;
    if (want < need)
        want = need;
    if (arena->limit && (arena->total + want > arena->limit)) {
        if (arena->total + need > arena->limit)
            return -1;
        want = arena->limit - arena->total;
    }
    struct churn__arena_chunk *c = churn_malloc(sizeof(*c) + want);
    if (!c)
        return -1;
    c->size = want;
    c->next = arena->chunks;
    arena->chunks = c;
    arena->cur = c->data;
    arena->end = c->data + want;
    arena->total += want;
    return 0;
}

void *
churn_arena_alloc(struct churn_arena *arena, size_t size)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    size_t n = align_up(size ? size : 1);
    if ((size_t)(arena->end - arena->cur) < n && arena_grow(arena, n) != 0)
        return NULL;
    void *p = arena->cur;
    arena->cur += n;
    return p;
}

void *
churn_arena_zalloc(struct churn_arena *arena, size_t size)
{
    void *p = churn_arena_alloc(arena, size);
    if (p)
        memset(p, 0, size);
    return p;
}

void *
churn_arena_memdup(struct churn_arena *arena, const void *src, size_t len)
{
    void *p = churn_arena_alloc(arena, len);
    if (p && len)
        memcpy(p, src, len);
    return p;
}

char *
churn_arena_strndup(struct churn_arena *arena, const char *s, size_t len)
{
    size_t n = strnlen(s, len);
    char *p = churn_arena_alloc(arena, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *
churn_arena_strdup(struct churn_arena *arena, const char *s)
{
    return churn_arena_strndup(arena, s, strlen(s));
}

char *
churn_arena_vprintf(struct churn_arena *arena, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return NULL;
    char *p = churn_arena_alloc(arena, (size_t)n + 1);
    if (p)
        vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *
churn_arena_printf(struct churn_arena *arena, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = churn_arena_vprintf(arena, fmt, ap);
    va_end(ap);
    return p;
}

size_t
churn_arena_used(const struct churn_arena *arena)
{
    return arena->total;
}

void
churn_arena_reset(struct churn_arena *arena)
{
    struct churn__arena_chunk *keep = arena->chunks;
    if (!keep)
        return;
    struct churn__arena_chunk *c = keep->next;
    while (c) {
        struct churn__arena_chunk *next = c->next;
        churn_free(c);
        c = next;
    }
    keep->next = NULL;
    arena->chunks = keep;
    arena->cur = keep->data;
    arena->end = keep->data + keep->size;
    arena->total = keep->size;
}

void
churn_arena_fini(struct churn_arena *arena)
{
    struct churn__arena_chunk *c = arena->chunks;
    while (c) {
        struct churn__arena_chunk *next = c->next;
        churn_free(c);
        c = next;
    }
    churn_arena_init(arena, arena->limit);
}
