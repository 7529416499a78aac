/*
 * sentiment/normalize.c - Unicode normalization of chat text before it is tokenized, through
 * ICU's NFKC normalizer (the only file of the module that includes ICU): decomposed (NFD)
 * Hangul, conjoining jamo typed one by one, becomes syllables (ᄒ ᅡ ᆫ → 한), and half-width
 * and full-width forms become their ordinary characters (ＡＢＣ → ABC, ！ → !, ﾡ → ㄱ; a
 * jamo left without a syllable becomes the compatibility jamo chat uses, ᄏ → ㅋ), so they
 * match the lexicon like any other text. Most text needs none of it: the scan before analysis
 * (scan.c) finds the code points that do, and only then is the text rewritten, chunk by chunk (the
 * conjoining jamo of one syllable, or one half/full-width character, is one chunk), with a map from
 * every byte of the rewritten text to the byte of the original its chunk started at, so evidence
 * offsets still point into the caller's text.
 */
#include <string.h>

#include <unicode/unorm2.h>

#include "internal.h"

/* A conjoining jamo NFKC left standing (no syllable to join: ﾻ → ᄏ, ᅲ alone) as the
 * compatibility jamo chat is typed in (ㅋ, ㅠ); any other code point unchanged. */
static uint32_t
standalone_jamo(uint32_t cp)
{
    static const uint16_t lead[19] = {0x3131, 0x3132, 0x3134, 0x3137, 0x3138, 0x3139, 0x3141,
                                      0x3142, 0x3143, 0x3145, 0x3146, 0x3147, 0x3148, 0x3149,
                                      0x314a, 0x314b, 0x314c, 0x314d, 0x314e};
    if (cp >= 0x1100 && cp <= 0x1112)
        return lead[cp - 0x1100];
    if (cp >= 0x1161 && cp <= 0x1175)
        return cp - 0x1161 + 0x314f; /* ㅏ ... ㅣ */
    return cp;
}

/* A conjoining jamo's place in a syllable NFKC composes: 1 modern lead (U+1100-1112), 2
 * modern vowel (U+1161-1175), 3 modern tail (U+11A8-11C2); 0 for any other, which stays a
 * chunk of its own. */
static int
jamo_role(uint32_t cp)
{
    if (cp >= 0x1100 && cp <= 0x1112)
        return 1;
    if (cp >= 0x1161 && cp <= 0x1175)
        return 2;
    if (cp >= 0x11a8 && cp <= 0x11c2)
        return 3;
    return 0;
}

/* NFKC of one chunk (@n UTF-16 units of BMP code points) appended at @out; returns the bytes
 * written, 0 when ICU fails (the caller then copies the chunk as it was). */
static size_t
nfkc_chunk(const UChar *in, int32_t n, char *out)
{
    UErrorCode st = U_ZERO_ERROR;
    const UNormalizer2 *nf = unorm2_getNFKCInstance(&st);
    UChar buf[64];
    if (U_FAILURE(st))
        return 0;
    int32_t m = unorm2_normalize(nf, in, n, buf, 64, &st);
    if (U_FAILURE(st) || m < 0 || m > 64)
        return 0;
    size_t o = 0;
    for (int32_t i = 0; i < m; i++) /* NFKC of these ranges stays in the BMP */
        o += churn__utf8_encode(standalone_jamo(buf[i]), out + o);
    return o;
}

enum churn_err
churn__normalize(const char *text, size_t len, struct churn_arena *scratch, char **out,
                 size_t *out_len, uint32_t **map)
{
    /* NFKC never triples a chunk of these ranges: 3 bytes in, at most 3 x 3 bytes out */
    char *o = churn_arena_alloc(scratch, len * 3 + 4);
    uint32_t *m = churn_arena_alloc(scratch, (len * 3 + 5) * sizeof(*m));
    if (!o || !m)
        return CHURN_ENOMEM;
    const unsigned char *s = (const unsigned char *)text;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t adv;
        uint32_t cp = churn__utf8_decode(s + i, len - i, &adv);
        if (!churn__wants_nfkc(cp)) {
            for (size_t k = 0; k < adv; k++) {
                m[n] = (uint32_t)i;
                o[n++] = (char)s[i + k];
            }
            i += adv;
            continue;
        }
        /* one chunk: the conjoining jamo of one syllable (a lead, then a vowel, then a tail:
         * NFKC makes them one character; any other jamo alone), or one half/full-width
         * character. One character out per chunk, so a token never ends inside a chunk. */
        UChar u[4];
        int32_t nu = 0;
        size_t j = i;
        int role = jamo_role(cp) == 1 ? 1 : 0; /* a syllable starts with its lead */
        do {
            u[nu++] = (UChar)cp;
            j += adv;
        } while (role && nu < 3 && j < len &&
                 jamo_role(cp = churn__utf8_decode(s + j, len - j, &adv)) == role + 1 &&
                 (role = role + 1));
        size_t w = nfkc_chunk(u, nu, o + n);
        if (w == 0) {
            memcpy(o + n, s + i, j - i);
            w = j - i;
        }
        for (size_t k = 0; k < w; k++)
            m[n + k] = (uint32_t)i;
        n += w;
        i = j;
    }
    m[n] = (uint32_t)len;
    *out = o;
    *out_len = n;
    *map = m;
    return 0;
}
