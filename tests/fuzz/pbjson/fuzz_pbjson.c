/*
 * fuzz_pbjson.c - libFuzzer target for the JSON → protobuf decoder churnctl uses on user
 * input: the first byte picks a request type of the method table, the rest is JSON. A
 * decoded message must pack, and encode back to JSON.
 */
#include <stdint.h>
#include <stdlib.h>

#include "churn/pbjson.h"
#include "churn/service.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    churn_arena_init(&arena, 16 << 20);
    ProtobufCMessage *msg;
    if (churn_pbjson_decode(m->request, (const char *)data + 1, size - 1, &arena, &msg, err,
                            sizeof(err)) == CHURN_OK) {
        size_t n = protobuf_c_message_get_packed_size(msg);
        uint8_t *buf = malloc(n ? n : 1);
        protobuf_c_message_pack(msg, buf);
        free(buf);
        free(churn_pbjson_dumps(msg, false));
    }
    churn_arena_fini(&arena);
    return 0;
}
