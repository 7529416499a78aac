/*
 * fuzz_score.c - libFuzzer target for the stored-score decoder (src/engine/score_codec.c),
 * which reads bytes from the store that a disk fault, a downgrade or a hand edit may have
 * garbled: the input is either refused with a reason, or decoded into a score whose encoding
 * gives the input back byte for byte (nothing is read that is not checked, nothing accepted
 * that the encoder would not have written); and a decodable input's head peek
 * (churn_score_peek) says what the decoder read.
 */
#include <stdbool.h>
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
    /* the head peek (a kept answer's check) reads only a frame the decoder's framing accepts */
    struct churn_score_head head;
    bool peeked = churn_score_peek(data, size, &head);
    if (churn_score_decode(data, size, &s, why, sizeof(why)) != CHURN_OK) {
        if (!why[0])
            __builtin_trap();
        return 0;
    }
    if (!peeked || head.model_id != s.model_id || head.cuts_id != s.cuts_id ||
        head.record_digest != s.record_digest || head.scored_at_ms != s.scored_at_ms ||
        head.history_from_ms != s.history_from_ms)
        __builtin_trap(); /* a decodable score peeks as what it decodes to */
    size_t len = 0;
    if (churn_score_encode(&s, again, sizeof(again), &len) != CHURN_OK || len != size ||
        memcmp(again, data, size) != 0)
        __builtin_trap();
    return 0;
}
