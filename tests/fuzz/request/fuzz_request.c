/*
 * fuzz_request.c - libFuzzer target for request decoding as the transport does it: the
 * first byte picks a method, the rest is the wire message, decoded into a limited arena
 * with protobuf-c; whatever decodes must re-encode and print as JSON.
 */
#include <stdint.h>
#include <stdlib.h>

#include "churn/pbjson.h"
#include "churn/service.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *
arena_alloc(void *a, size_t n)
{
    return churn_arena_alloc(a, n);
}

static void
arena_free(void *a, void *p)
{
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct churn_services svc;
    static int ready;
    char err[512];
    if (!ready) {
        if (churn_services_init(&svc, err, sizeof(err)) != CHURN_OK)
            abort();
        ready = 1;
    }
    if (size < 1)
        return 0;
    const struct churn_method *m = &svc.methods[data[0] % svc.n_methods];
    struct churn_arena arena;
    churn_arena_init(&arena, 1 << 20);
    ProtobufCAllocator alloc = {.alloc = arena_alloc, .free = arena_free, .allocator_data = &arena};
    ProtobufCMessage *msg = protobuf_c_message_unpack(m->request, &alloc, size - 1, data + 1);
    if (msg) {
        size_t n = protobuf_c_message_get_packed_size(msg);
        uint8_t *buf = malloc(n ? n : 1);
        protobuf_c_message_pack(msg, buf);
        free(buf);
        free(churn_pbjson_dumps(msg, false));
    }
    churn_arena_fini(&arena);
    return 0;
}
