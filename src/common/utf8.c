/*
 * utf8.c - strict UTF-8 validation (no overlong forms, no surrogates, nothing past
 * U+10FFFF), shared by every module that accepts text: the transport (every string field
 * of every request), the store (ids), the analyzer and the lexicon loader. ASCII runs are
 * checked eight bytes at a time.
 */
#include "churn/utf8.h"

#include <string.h>

size_t
churn_utf8_check(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            while (i + 8 <= len) { /* ASCII runs eight bytes at a time */
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & 0x8080808080808080ull)
                    break;
                i += 8;
            }
            continue;
        }
        size_t need;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (len - i <= need)
            return i;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += need + 1;
    }
    return len;
}

bool
churn_utf8_valid(const char *s, size_t len, size_t *bad_at)
{
    size_t at = churn_utf8_check(s, len);
    if (at == len)
        return true;
    if (bad_at)
        *bad_at = at;
    return false;
}
