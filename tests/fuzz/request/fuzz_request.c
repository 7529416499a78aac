/*
 * fuzz_request.c - libFuzzer target for request decoding as the transport does it: the
 * first byte picks a method, the rest is the wire message, decoded into a limited arena
 * with protobuf-c; whatever decodes must re-encode and print as JSON, and pass the wire check
 * (wire_check.c, issue 13: strings, identifiers, enums) with every fault naming its field and
 * what is wrong.
 */
#include <stdint.h>
#include <stdlib.h>

#include "churn/pbjson.h"
#include "churn/service.h"

#include "../../../src/transport/internal.h"

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

static void
check_wire(const struct churn_method *m, const uint8_t *data, size_t len, struct churn_arena *a)
{
    struct churn_rpc_fault *faults = NULL;
    size_t n = 0;
    enum churn_err err = churn__wire_check(m->request, data, len, a, &faults, &n);
    if (err == CHURN_ENOMEM)
        return;
    if (err != CHURN_OK)
        __builtin_trap(); /* it decoded: the wire check must read it too */
    for (size_t i = 0; i < n; i++)
        if (!faults[i].field_name || !faults[i].what[0])
            __builtin_trap();
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
        check_wire(m, data + 1, size - 1, &arena);
    }
    churn_arena_fini(&arena);
    return 0;
}
