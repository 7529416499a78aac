/*
 * sentiment/scan.c - one pass over a text before it is analyzed. It validates the UTF-8
 * (the same strict rules as churn_utf8_check()), counts what language detection weighs
 * (Hangul syllables and jamo, ASCII letters), and notes whether the text holds code points
 * that NFKC rewrites (decomposed Hangul, half/full-width forms: normalize.c) and letters of
 * Han or Kana (the only words ICU's word breaks are asked about: segment.c). Before it, the
 * analyzer read a Korean text four times (validate, detect, normalization check, ICU check);
 * Hangul syllables, the bulk of Korean chat, take a fast path of a few compares, and ASCII
 * is read eight bytes at a time.
 */
#include "internal.h"

bool
churn__wants_nfkc(uint32_t cp)
{
    return (cp >= 0x1100 && cp <= 0x11ff) || (cp >= 0xa960 && cp <= 0xa97f) ||
           (cp >= 0xd7b0 && cp <= 0xd7ff) || (cp >= 0xff01 && cp <= 0xffee);
}

bool
churn__han_or_kana(uint32_t cp)
{
    return (cp >= 0x3040 && cp <= 0x30ff) || (cp >= 0x3400 && cp <= 0x9fff) ||
           (cp >= 0xf900 && cp <= 0xfaff);
}

/* Hangul syllables and jamo, as language detection counts them. */
static bool
hangul(uint32_t cp)
{
    return (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0x3131 && cp <= 0x318e) ||
           (cp >= 0x1100 && cp <= 0x11ff);
}

/* The code point of the multi-byte sequence at @s (lead @c, @need continuation bytes, the
 * first @avail bytes readable); sets *@ok when it is valid. */
static uint32_t
decode_strict(const unsigned char *s, size_t avail, size_t need, bool *ok)
{
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    unsigned char c = s[0];
    uint32_t cp = need == 1 ? c & 0x1fu : need == 2 ? c & 0x0fu : c & 0x07u;
    *ok = false;
    if (avail <= need)
        return 0;
    for (size_t k = 1; k <= need; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    *ok = cp >= min[need] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    return cp;
}

void
churn__text_scan(const char *text, size_t len, struct churn__text_info *out)
{
    const unsigned char *s = (const unsigned char *)text;
    struct churn__text_info r = {.valid_to = len};
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            uint64_t x;
            if (i + 8 <= len && !((x = churn__load_bytes(text + i, 8)) & CHURN__BYTES(0x80))) {
                /* 8 ASCII: sum the mask's one bit a byte into the top byte (no popcnt
                 * instruction in the baseline x86-64 this builds for: a libgcc call) */
                r.latin += (size_t)(((churn__letter_bytes(x) >> 7) * CHURN__BYTES(1)) >> 56);
                i += 8;
                continue;
            }
            r.latin += (unsigned)((c | 0x20) - 'a') < 26u;
            i++;
            continue;
        }
        if (c >= 0xea && c <= 0xed && i + 2 < len && (s[i + 1] & 0xc0) == 0x80 &&
            (s[i + 2] & 0xc0) == 0x80 && !(c == 0xed && s[i + 1] >= 0xa0)) {
            /* U+A000-D7FF: Hangul syllables and few others, never overlong or a surrogate */
            uint32_t cp =
                (uint32_t)(c & 0x0f) << 12 | (uint32_t)(s[i + 1] & 0x3f) << 6 | (s[i + 2] & 0x3f);
            if (cp >= 0xac00 && cp <= 0xd7a3) /* a syllable: nothing for NFKC to rewrite */
                r.hangul++;
            else
                r.nfkc |= churn__wants_nfkc(cp);
            i += 3;
            continue;
        }
        size_t need = c >= 0xc2 && c <= 0xdf   ? 1
                      : c >= 0xe0 && c <= 0xef ? 2
                      : c >= 0xf0 && c <= 0xf4 ? 3
                                               : 0;
        bool ok = false;
        uint32_t cp = need ? decode_strict(s + i, len - i, need, &ok) : 0;
        if (!ok) {
            r.valid_to = i;
            break;
        }
        r.hangul += hangul(cp);
        r.nfkc |= churn__wants_nfkc(cp);
        r.han_kana |= churn__han_or_kana(cp);
        i += need + 1;
    }
    *out = r;
}

const char *
churn__detect_counts(const struct churn__text_info *info)
{
    /* a syllable carries about as much as two Latin letters */
    return info->hangul > 0 && 2 * info->hangul >= info->latin ? "ko" : "en";
}
