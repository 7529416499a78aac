/*
 * ident.c - the one rule for identifiers and free text from outside (churn/ident.h): length,
 * valid UTF-8 (through utf8.c), no NUL, and for identifiers no control characters. The
 * transport applies it to every string of every request before a handler runs, the
 * importers to every row, and the domain validators (event.c) delegate to it.
 */
#include "churn/ident.h"

#include <string.h>

#include "churn/utf8.h"

size_t
churn_ident_control_at(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f)
            return i;
        /* C1 controls U+0080..U+009F are 0xC2 0x80..0x9F in UTF-8 */
        if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
            return i;
    }
    return len;
}

static enum churn_err
check_utf8_nul(const char *s, size_t len, const char *field, char *reason, size_t reason_len)
{
    size_t bad;
    if (!churn_utf8_valid(s, len, &bad))
        return churn_fail(reason, reason_len, CHURN_EINVAL, "%s: invalid UTF-8 at byte %zu", field,
                          bad);
    const char *nul = memchr(s, '\0', len);
    if (nul)
        return churn_fail(reason, reason_len, CHURN_EINVAL, "%s: NUL byte at byte %zu", field,
                          (size_t)(nul - s));
    return CHURN_OK;
}

enum churn_err
churn_ident_check_optional(const char *s, size_t len, const char *field, char *reason,
                           size_t reason_len)
{
    if (len > CHURN_ID_MAX)
        return churn_fail(reason, reason_len, CHURN_ETOOBIG, "%s: longer than %d bytes (%zu)",
                          field, CHURN_ID_MAX, len);
    enum churn_err err = check_utf8_nul(s, len, field, reason, reason_len);
    if (err)
        return err;
    size_t at = churn_ident_control_at(s, len);
    if (at < len)
        return churn_fail(reason, reason_len, CHURN_EINVAL, "%s: control character at byte %zu",
                          field, at);
    return CHURN_OK;
}

enum churn_err
churn_ident_check(const char *s, size_t len, const char *field, char *reason, size_t reason_len)
{
    if (len == 0)
        return churn_fail(reason, reason_len, CHURN_EINVAL, "%s: required and must not be empty",
                          field);
    return churn_ident_check_optional(s, len, field, reason, reason_len);
}

enum churn_err
churn_ident_check_text(const char *s, size_t len, size_t max, const char *field, char *reason,
                       size_t reason_len)
{
    if (max && len > max)
        return churn_fail(reason, reason_len, CHURN_ETOOBIG, "%s: longer than %zu bytes (%zu)",
                          field, max, len);
    return check_utf8_nul(s, len, field, reason, reason_len);
}

static bool
ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n > k && memcmp(s + n - k, suffix, k) == 0;
}

bool
churn_ident_field_is_id(const char *name)
{
    size_t n = strlen(name);
    return ends_with(name, n, "_id") || ends_with(name, n, "_ids");
}
