/*
 * sentiment/segment.c - word segmentation of Korean text by ICU's word break iterator
 * (UAX #29 with ICU's dictionaries). The tokenizer keeps a run of letters as one word, which
 * for Hangul is exactly what ICU does (Hangul runs are kept as eojeol: [배송이][너무][늦어서]),
 * so ICU is asked only where the two can differ: a word that mixes Hangul with letters of
 * another non-Latin script (Han, Kana: 韓國사람, 카카오ペイ). Such a word is split where ICU
 * breaks it. Everything else keeps the tokenizer's answer without calling ICU, which keeps the
 * common path free of ICU's per-call cost.
 */
#include <string.h>

#include <unicode/ubrk.h>
#include <unicode/utext.h>

#include "internal.h"

/* Does the word @p (@n bytes) mix Hangul with a non-Latin letter of another script? */
static bool
mixes_scripts(const char *p, size_t n)
{
    bool hangul = false, other = false;
    for (size_t i = 0; i < n;) {
        size_t adv;
        uint32_t cp = churn__utf8_decode((const unsigned char *)p + i, n - i, &adv);
        i += adv ? adv : 1;
        if ((cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0x3131 && cp <= 0x318e))
            hangul = true;
        else if (churn__han_or_kana(cp))
            other = true;
    }
    return hangul && other;
}

/* Is token @t one to ask ICU about? Its normalized form must be its text byte for byte
 * (nothing squeezed or dropped), so a break in one is a break in the other. */
static bool
wants_icu(const char *text, const struct churn_sentiment_tokens *toks,
          const struct churn_sentiment_token *t)
{
    return t->kind == CHURN_TOK_WORD && t->norm_len == t->end - t->start &&
           memcmp(toks->norm + t->norm, text + t->start, t->norm_len) == 0 &&
           mixes_scripts(text + t->start, t->end - t->start);
}

/* The ICU word boundaries inside [start, end) of @text into @at (room for @cap); returns how
 * many, 0 when ICU fails (the word is then left whole). */
static size_t
icu_breaks(UBreakIterator *bi, const char *text, uint32_t start, uint32_t end, uint32_t *at,
           size_t cap)
{
    UErrorCode st = U_ZERO_ERROR;
    UText *ut = utext_openUTF8(NULL, text + start, end - start, &st);
    if (U_FAILURE(st))
        return 0;
    ubrk_setUText(bi, ut, &st);
    size_t n = 0;
    if (U_SUCCESS(st))
        for (int32_t b = ubrk_next(bi); b != UBRK_DONE && n < cap; b = ubrk_next(bi))
            if ((uint32_t)b < end - start)
                at[n++] = start + (uint32_t)b;
    utext_close(ut);
    return U_SUCCESS(st) ? n : 0;
}

enum churn_err
churn__ko_segment(const char *text, bool han_kana, struct churn_sentiment_tokens *toks,
                  struct churn_arena *scratch)
{
    if (!han_kana)
        return 0;
    size_t first = toks->n;
    for (size_t i = 0; i < toks->n && first == toks->n; i++)
        if (wants_icu(text, toks, &toks->tok[i]))
            first = i;
    if (first == toks->n)
        return 0;
    UErrorCode st = U_ZERO_ERROR;
    UBreakIterator *bi = ubrk_open(UBRK_WORD, "ko", NULL, 0, &st);
    if (U_FAILURE(st))
        return 0; /* no ICU data: the tokenizer's words stand */
    /* a word splits into at most as many pieces as it has code points */
    size_t cap = toks->n;
    for (size_t i = first; i < toks->n; i++)
        cap += toks->tok[i].end - toks->tok[i].start;
    struct churn_sentiment_token *out = churn_arena_alloc(scratch, cap * sizeof(*out));
    if (!out) {
        ubrk_close(bi);
        return CHURN_ENOMEM;
    }
    memcpy(out, toks->tok, first * sizeof(*out));
    size_t n = first;
    for (size_t i = first; i < toks->n; i++) {
        struct churn_sentiment_token t = toks->tok[i];
        uint32_t at[64];
        size_t nb = wants_icu(text, toks, &t) ? icu_breaks(bi, text, t.start, t.end, at, 64) : 0;
        uint32_t from = t.start;
        for (size_t k = 0; k <= nb; k++) {
            uint32_t to = k < nb ? at[k] : t.end;
            out[n] = t;
            out[n].start = from;
            out[n].end = to;
            out[n].norm = t.norm + (from - t.start);
            out[n].norm_len = to - from;
            n++;
            from = to;
        }
    }
    ubrk_close(bi);
    toks->tok = out;
    toks->n = n;
    return 0;
}
