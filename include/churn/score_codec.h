/*
 * churn/score_codec.h - the stored form of a customer's score (engine/score_codec.c): a
 * versioned, checksummed little-endian encoding of struct churn_score as the store keeps it
 * beside the record (churn/score_store.h): the numbers, tiers, per-feature contributions,
 * freshness, when it was scored, the top reasons as model inputs (their words are written
 * only for a response), and what it was computed from (record digest, model id, cut-offs id,
 * observed history). The decoder refuses truncated, garbled or oversized bytes with a reason
 * naming what was wrong; it never trusts a length it has not checked.
 */
#ifndef CHURN_SCORE_CODEC_H
#define CHURN_SCORE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"
#include "churn/score.h"

#define CHURN_SCORE_CODEC_VERSION 1

/* The largest encoding this build writes (it fits CHURN_STORE_SCORE_MAX). */
#define CHURN_SCORE_ENCODED_MAX                                                                    \
    (65 + 8 * 11 + CHURN_SCORE_VERSION_MAX + CHURN_NAME_MAX + 2 + 8 * (CHURN_SOURCE_COUNT + 1) +   \
     2 * ((CHURN_FEAT__COUNT + 7) / 8) + 16 * CHURN_FEAT__COUNT + 18 * CHURN_SCORE_REASONS_MAX)

/**
 * churn_score_encode() - the stored bytes of @s into @out (capacity @cap, at least
 * CHURN_SCORE_ENCODED_MAX), *@len their length. A score with its contributions
 * (have_contributions) keeps them and its reasons (as model inputs, contributions and values);
 * one without keeps neither and must have no reasons (CHURN_EINVAL). CHURN_ETOOBIG when @cap
 * is too small.
 */
enum churn_err churn_score_encode(const struct churn_score *s, unsigned char *out, size_t cap,
                                  size_t *len);

/**
 * churn_score_decode() - decode @len bytes at @data into @out (customer_id is left empty,
 * each reason's input, feature (-1: to be resolved), contribution and value are set, its
 * words empty; generation and cuts_version 0). CHURN_ECORRUPT with @why naming what was
 * wrong (unknown version, length, checksum, a truncated field, a value out of range, a
 * feature count this build does not have, trailing bytes); @out is then unspecified.
 */
enum churn_err churn_score_decode(const void *data, size_t len, struct churn_score *out, char *why,
                                  size_t whylen);

/*
 * struct churn_score_head - the fixed fields at the front of a stored score and the checksum
 * at its end, read without decoding the rest.
 */
struct churn_score_head {
    uint64_t model_id, cuts_id, record_digest;
    int64_t scored_at_ms, history_from_ms;
    uint64_t checksum;
};

/**
 * churn_score_peek() - the head of the @len stored bytes at @data into @out, for a caller that
 * compares it with the head of bytes it decoded before (the checksum is read, not verified:
 * equal heads with equal checksums are the same bytes). False (@out unspecified) when the
 * frame is not this version's (unknown version, a length field that is not @len, too short
 * or too long).
 */
bool churn_score_peek(const void *data, size_t len, struct churn_score_head *out);

#endif
