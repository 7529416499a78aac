/*
 * fuzz_record.c - libFuzzer target for the customer record decoder (src/store/record.c): any
 * bytes either decode or fail CHURN_ECORRUPT; a record that decodes re-encodes to bytes that
 * decode to the same encoding again (round trip). Never a crash, a leak or a read out of
 * bounds (issue 13 item 6).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../../src/store/store_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct churn_customer rec, again;
    static unsigned char out[CHURN__RECORD_MAX], out2[CHURN__RECORD_MAX];
    enum churn_err err = churn__record_decode(data, size, "c-1", 3, &rec);
    if (err != CHURN_OK) {
        if (err != CHURN_ECORRUPT)
            __builtin_trap();
        return 0;
    }
    size_t n = churn__record_encode(&rec, out, sizeof(out));
    if (n == 0 || churn__record_decode(out, n, "c-1", 3, &again) != CHURN_OK)
        __builtin_trap();
    size_t n2 = churn__record_encode(&again, out2, sizeof(out2));
    if (n2 != n || memcmp(out, out2, n) != 0)
        __builtin_trap();
    return 0;
}
