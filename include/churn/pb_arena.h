/*
 * churn/pb_arena.h - a protobuf-c allocator that takes its memory from a churn_arena, so a
 * message unpacked for one call (a request, a remembered score) is freed with the call's
 * arena and costs no malloc. Header only; protobuf-c's free is a no-op here.
 */
#ifndef CHURN_PB_ARENA_H
#define CHURN_PB_ARENA_H

#include <protobuf-c/protobuf-c.h>

#include "churn/arena.h"

static inline void *
churn__pb_arena_alloc(void *arena, size_t size)
{
    return churn_arena_alloc(arena, size);
}

static inline void
churn__pb_arena_free(void *arena, void *ptr)
{
    (void)arena;
    (void)ptr;
}

/** churn_pb_arena_allocator() - an allocator for protobuf_c_message_unpack() drawing on @a. */
static inline ProtobufCAllocator
churn_pb_arena_allocator(struct churn_arena *a)
{
    return (ProtobufCAllocator){
        .alloc = churn__pb_arena_alloc, .free = churn__pb_arena_free, .allocator_data = a};
}

#endif
