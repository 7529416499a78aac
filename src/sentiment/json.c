/*
 * sentiment/json.c - an analysis as one line of JSON without a JSON library: the output of
 * `churnctl sentiment`, where formatting used to cost more than analyzing. A writer appends
 * to a capped buffer and counts what does not fit; numbers take their shortest round-trip
 * form, found with integer arithmetic (a candidate m / 10^k is the value itself exactly when
 * the correctly rounded division gives it back, which is what strtod would read) and printed
 * without printf; strings are escaped to ASCII as jansson's JSON_ENSURE_ASCII does.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/sentiment_json.h"
#include "internal.h"

struct jw {
    char *out;
    size_t cap, n;
};

static void
put(struct jw *w, const char *s, size_t n)
{
    if (w->n < w->cap)
        memcpy(w->out + w->n, s, w->n + n <= w->cap ? n : w->cap - w->n);
    w->n += n;
}

#define PUT_LIT(w, s) put((w), (s), sizeof(s) - 1)

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Decimal digits of @m (< 2^63) right-aligned ending at @end; returns where they start. */
static char *
utoa_back(uint64_t m, char *end)
{
    do {
        *--end = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    return end;
}

/* m / 10^k as text: "-0.034", "12.5", "3". */
static size_t
fixed_text(bool neg, uint64_t m, int k, char *out)
{
    char digits[24];
    char *d = utoa_back(m, digits + sizeof(digits));
    size_t nd = (size_t)(digits + sizeof(digits) - d), o = 0;
    if (neg)
        out[o++] = '-';
    if ((size_t)k >= nd) { /* 0.00ddd */
        out[o++] = '0';
        out[o++] = '.';
        for (size_t z = (size_t)k - nd; z > 0; z--)
            out[o++] = '0';
        memcpy(out + o, d, nd);
        o += nd;
    } else {
        size_t ip = nd - (size_t)k;
        memcpy(out + o, d, ip);
        o += ip;
        if (k) {
            out[o++] = '.';
            memcpy(out + o, d + ip, (size_t)k);
            o += (size_t)k;
        }
    }
    out[o] = '\0';
    return o;
}

/* The shortest fixed-point text of @v with at most 17 significant digits found by integer
 * arithmetic; 0 when @v is out of its reach (then printf's %.17g is used). @as_float: the
 * text must read back as the float @v. */
static size_t
short_fixed(double v, bool as_float, char *out)
{
    double a = fabs(v);
    if (!(a >= 1e-7 && a < 1e15))
        return 0;
    for (int k = 0; k <= 22; k++) {
        double scaled = a * pow10_exact[k];
        if (scaled >= 9007199254740992.0) /* 2^53: m / 10^k would not be exact */
            return 0;
        uint64_t m = (uint64_t)llround(scaled);
        const uint64_t cands[3] = {m, m ? m - 1 : m, m + 1}; /* the nearest first */
        for (int t = 0; t < 3; t++) {
            uint64_t c = cands[t];
            double back = (double)c / pow10_exact[k];
            if (as_float ? (float)back != (float)a : back != a)
                continue;
            size_t n = fixed_text(v < 0, c, k, out);
            if (as_float && strtof(out, NULL) != (float)v)
                continue; /* a double rounding in (float)back: confirm the slow way */
            return n;
        }
    }
    return 0;
}

size_t
churn_json_double(double v, char *out)
{
    if (!isfinite(v))
        return (size_t)snprintf(out, 32, "null");
    if (v == 0)
        return (size_t)snprintf(out, 32, signbit(v) ? "-0" : "0");
    size_t n = short_fixed(v, false, out);
    if (n)
        return n;
    for (int p = 15; p <= 17; p++) { /* very large or very small: exponent form */
        n = (size_t)snprintf(out, 32, "%.*g", p, v);
        if (strtod(out, NULL) == v)
            break;
    }
    return n;
}

size_t
churn_json_float(float v, char *out)
{
    if (!isfinite(v))
        return (size_t)snprintf(out, 32, "null");
    if (v == 0)
        return (size_t)snprintf(out, 32, signbit(v) ? "-0" : "0");
    size_t n = short_fixed(v, true, out);
    if (n)
        return n;
    for (int p = 6; p <= 9; p++) {
        n = (size_t)snprintf(out, 32, "%.*g", p, (double)v);
        if (strtof(out, NULL) == v)
            break;
    }
    return n;
}

static void
put_double(struct jw *w, double v)
{
    char b[32];
    put(w, b, churn_json_double(v, b));
}

static void
put_float(struct jw *w, float v)
{
    char b[32];
    put(w, b, churn_json_float(v, b));
}

static void
put_uint(struct jw *w, uint64_t v)
{
    char b[24];
    char *s = utoa_back(v, b + sizeof(b));
    put(w, s, (size_t)(b + sizeof(b) - s));
}

static void
put_u16_escape(struct jw *w, uint32_t u)
{
    static const char hex[] = "0123456789ABCDEF";
    char e[6] = {'\\', 'u', hex[u >> 12 & 15], hex[u >> 8 & 15], hex[u >> 4 & 15], hex[u & 15]};
    put(w, e, 6);
}

/* A JSON string of the UTF-8 @s (@n bytes), escaped to ASCII. */
static void
put_string(struct jw *w, const char *s, size_t n)
{
    PUT_LIT(w, "\"");
    size_t run = 0; /* start of the pending run of plain ASCII */
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        put(w, s + run, i - run);
        if (c < 0x80) {
            static const char short_esc[] = "\"\"\\\\\bb\ff\nn\rr\tt";
            const char *x = c ? memchr(short_esc, c, sizeof(short_esc) - 1) : NULL;
            if (x && (x - short_esc) % 2 == 0) {
                char e[2] = {'\\', x[1]};
                put(w, e, 2);
            } else {
                put_u16_escape(w, c);
            }
            i++;
        } else {
            size_t adv;
            uint32_t cp = churn__utf8_decode((const unsigned char *)s + i, n - i, &adv);
            i += adv ? adv : 1;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                put_u16_escape(w, 0xd800 | (cp >> 10));
                put_u16_escape(w, 0xdc00 | (cp & 0x3ff));
            } else {
                put_u16_escape(w, cp);
            }
        }
        run = i;
    }
    put(w, s + run, n - run);
    PUT_LIT(w, "\"");
}

static void
put_bool(struct jw *w, bool b)
{
    if (b)
        PUT_LIT(w, "true");
    else
        PUT_LIT(w, "false");
}

size_t
churn_sentiment_json(const char *text, size_t len, const struct churn_sentiment_result *r,
                     char *out, size_t cap)
{
    struct jw w = {out, cap, 0};
    PUT_LIT(&w, "{\"text\":");
    put_string(&w, text, len);
    PUT_LIT(&w, ",\"language\":");
    const char *lang = r->language ? r->language : "";
    put_string(&w, lang, strlen(lang));
    PUT_LIT(&w, ",\"compound\":");
    put_double(&w, r->compound);
    PUT_LIT(&w, ",\"positive\":");
    put_double(&w, r->positive);
    PUT_LIT(&w, ",\"negative\":");
    put_double(&w, r->negative);
    PUT_LIT(&w, ",\"neutral\":");
    put_double(&w, r->neutral);
    PUT_LIT(&w, ",\"churn_intent\":");
    put_bool(&w, r->churn_intent);
    PUT_LIT(&w, ",\"intent_confidence\":");
    put_double(&w, r->intent_confidence);
    PUT_LIT(&w, ",\"human_requested\":");
    put_bool(&w, r->human_requested);
    PUT_LIT(&w, ",\"hard_trigger\":");
    put_bool(&w, r->hard_trigger);
    PUT_LIT(&w, ",\"evidence\":[");
    for (size_t i = 0; i < r->n_evidence; i++) {
        const struct churn_sentiment_evidence *e = &r->evidence[i];
        if (i)
            PUT_LIT(&w, ",");
        PUT_LIT(&w, "{\"term\":");
        put_string(&w, e->term, e->term_len);
        PUT_LIT(&w, ",\"kind\":\"");
        const char *k = churn_sentiment_evidence_kind_name(e->kind);
        put(&w, k, strlen(k));
        PUT_LIT(&w, "\",\"start\":");
        put_uint(&w, e->start);
        PUT_LIT(&w, ",\"end\":");
        put_uint(&w, e->end);
        PUT_LIT(&w, ",\"valence\":");
        put_float(&w, e->valence);
        PUT_LIT(&w, ",\"contribution\":");
        put_float(&w, e->contribution);
        PUT_LIT(&w, "}");
    }
    PUT_LIT(&w, "]}");
    return w.n;
}
