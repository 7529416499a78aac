/*
 * fuzz_score.c - libFuzzer target for the stored-score decoder (src/engine/score_codec.c),
 * which reads bytes from the store that a disk fault, a downgrade or a hand edit may have
 * garbled: the input is either refused with a reason, or decoded into a score whose encoding
 * gives the input back byte for byte (nothing is read that is not checked, nothing accepted
 * that the encoder would not have written).
 */
#include <stdint.h>
#include <string.h>

#include "churn/score_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct churn_score s;
    static unsigned char again[CHURN_SCORE_ENCODED_MAX];
    char why[256] = "";
    if (churn_score_decode(data, size, &s, why, sizeof(why)) != CHURN_OK) {
        if (!why[0])
            __builtin_trap();
        return 0;
    }
    size_t len = 0;
    if (churn_score_encode(&s, again, sizeof(again), &len) != CHURN_OK || len != size ||
        memcmp(again, data, size) != 0)
        __builtin_trap();
    return 0;
}
