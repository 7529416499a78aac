/*
 * sentiment/json.c - an analysis as one line of JSON without a JSON library: the output of
 * `churnctl sentiment`, where formatting used to cost more than analyzing. A writer appends
 * to a capped buffer and counts what does not fit; numbers take their shortest round-trip
 * form, found exactly with 128-bit integers (the decimal of p digits nearest to the binary
 * value reads back as it when it lies within half the gap to the neighbouring value; the
 * smallest such p by bisection) and printed without printf; strings are escaped to ASCII as
 * jansson's JSON_ENSURE_ASCII does.
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

/* put() past the end of the buffer: the part that fits, and the count of the rest. */
static __attribute__((noinline)) void
put_tail(struct jw *w, const char *s, size_t n)
{
    if (w->n < w->cap)
        memcpy(w->out + w->n, s, w->cap - w->n);
    w->n += n;
}

/* Inline: the lengths of literals are constants, so their copies become a few moves. */
static inline void
put(struct jw *w, const char *s, size_t n)
{
    if (w->n + n > w->cap) {
        put_tail(w, s, n);
        return;
    }
    memcpy(w->out + w->n, s, n);
    w->n += n;
}

#define PUT_LIT(w, s) put((w), (s), sizeof(s) - 1)

static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930"
                               "31323334353637383940414243444546474849505152535455565758596061"
                               "62636465666768697071727374757677787980818283848586878889909192"
                               "93949596979899";

/* The four digits of @v (below 10000), leading zeros included, ending at @end; returns where
 * they start. */
static inline char *
four_back(uint32_t v, char *end)
{
    uint32_t hi = v / 100, lo = v - hi * 100;
    end -= 4;
    memcpy(end, pairs + 2 * hi, 2);
    memcpy(end + 2, pairs + 2 * lo, 2);
    return end;
}

/* Decimal digits of @m right-aligned ending at @end; returns where they start. Eight digits
 * per 64-bit division (a computed score has 17), then two per division in 32 bits. */
static char *
utoa_back(uint64_t m, char *end)
{
    while (m >= 100000000) {
        uint64_t q = m / 100000000;
        uint32_t r = (uint32_t)(m - q * 100000000), h = r / 10000;
        end = four_back(r - h * 10000, end);
        end = four_back(h, end);
        m = q;
    }
    uint32_t v = (uint32_t)m;
    while (v >= 100) {
        const char *p = pairs + 2 * (v % 100);
        v /= 100;
        *--end = p[1];
        *--end = p[0];
    }
    m = v;
    if (m >= 10) {
        *--end = pairs[2 * m + 1];
        *--end = pairs[2 * m];
    } else {
        *--end = (char)('0' + m);
    }
    return end;
}

/* 10^j for j = 0..19. */
static const uint64_t pow10_u64[20] = {
    1ull,
    10ull,
    100ull,
    1000ull,
    10000ull,
    100000ull,
    1000000ull,
    10000000ull,
    100000000ull,
    1000000000ull,
    10000000000ull,
    100000000000ull,
    1000000000000ull,
    10000000000000ull,
    100000000000000ull,
    1000000000000000ull,
    10000000000000000ull,
    100000000000000000ull,
    1000000000000000000ull,
    10000000000000000000ull,
};

/* fixed_text() of an integer part of more than six digits or more than 24 places. */
static size_t
fixed_text_long(bool neg, uint64_t m, int k, char *out)
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

/* m / 10^k as text: "-0.034", "12.5", "3"; NUL-terminated, at most 32 bytes with it. The
 * digits go straight to their place, after the places are filled with zeros: a fraction of
 * fewer than k significant digits keeps its leading zeros. */
static size_t
fixed_text(bool neg, uint64_t m, int k, char *out)
{
    static const char zeros[24] = "000000000000000000000000";
    size_t o = neg, ip_digits = 1;
    if (k >= 20)
        return fixed_text_long(neg, m, k, out);
    uint64_t ip = m / pow10_u64[k];
    while (ip_digits < 20 && ip >= pow10_u64[ip_digits])
        ip_digits++;
    if (o + ip_digits + 1 + sizeof(zeros) > 32)
        return fixed_text_long(neg, m, k, out);
    if (neg)
        out[0] = '-';
    utoa_back(ip, out + o + ip_digits);
    o += ip_digits;
    if (k) {
        out[o++] = '.';
        memcpy(out + o, zeros, sizeof(zeros));
        o += (size_t)k;
        utoa_back(m - ip * pow10_u64[k], out + o);
    }
    out[o] = '\0';
    return o;
}

/* 5^k for k = 0..27 (5^27 < 2^63). */
static const uint64_t pow5[28] = {
    1ull,
    5ull,
    25ull,
    125ull,
    625ull,
    3125ull,
    15625ull,
    78125ull,
    390625ull,
    1953125ull,
    9765625ull,
    48828125ull,
    244140625ull,
    1220703125ull,
    6103515625ull,
    30517578125ull,
    152587890625ull,
    762939453125ull,
    3814697265625ull,
    19073486328125ull,
    95367431640625ull,
    476837158203125ull,
    2384185791015625ull,
    11920928955078125ull,
    59604644775390625ull,
    298023223876953125ull,
    1490116119384765625ull,
    7450580596923828125ull,
};

/* A finite positive binary value M x 2^E with a mantissa of @bits bits (the leading one
 * included): a double has 53, a float 24. */
struct binval {
    uint64_t m;
    int e, bits;
};

/* The decimal q / 10^k nearest to @b (ties to even), exactly, by 128-bit integers:
 * b x 10^k = m x 5^k / 2^s with s = -(k + e). Whether it reads back as @b: it lies within half
 * the gap to @b's neighbour on its side (a quarter gap below a power of two, whose lower
 * neighbour is closer), a tie going to the even mantissa as strtod does. */
static bool
nearest_reads_back(struct binval b, int k, uint64_t *q_out)
{
    int s = -(k + b.e);
    unsigned __int128 num = (unsigned __int128)b.m * pow5[k];
    if (s <= 0) { /* b x 10^k is an integer: exact */
        *q_out = (uint64_t)(num << -s);
        return true;
    }
    unsigned __int128 q = num >> s, r = num - (q << s), half = (unsigned __int128)1 << (s - 1);
    if (r > half || (r == half && (q & 1)))
        q++;
    unsigned __int128 qs = q << s;
    bool below = qs < num;
    unsigned __int128 diff = below ? num - qs : qs - num;
    unsigned __int128 lhs = diff * (below && b.m == 1ull << (b.bits - 1) ? 4 : 2);
    *q_out = (uint64_t)q;
    return lhs < pow5[k] || (lhs == pow5[k] && !(b.m & 1));
}

/* shortest_fixed() in one multiplication: b x 10^k for the most digits, @max_p, is
 * num / 2^s with num = m x 5^k; its integer part q fits 64 bits, and the nearest decimal of
 * j digits fewer is q / 10^j rounded by the digits dropped and the bits below q (a tie only
 * when both are exactly half), so each shorter candidate costs a division and one exact
 * 128-bit test of nearest_reads_back(). Candidates are tried from @max_p - 1 down, the first
 * that does not read back ending the search (if p digits read back, so do p + 1). Returns 0
 * where that monotony is not certain or the product does not fit: a power of two (its lower
 * neighbour is closer, so a shorter candidate below it may fail where a longer one above it
 * reads back), b x 10^k an integer, more than 18 digits after the point; shortest_fixed()
 * answers those. */
static size_t
shortest_fixed_fast(double v, struct binval b, int max_p, int e10, char *out)
{
    int k = max_p - 1 - e10, s = -(k + b.e);
    int lo = e10 + 1 > 1 ? e10 + 1 : 1; /* no fewer digits than the integer part */
    if (b.m == 1ull << (b.bits - 1) || s <= 0 || s >= 64 || k > 27 || lo >= max_p)
        return 0;
    unsigned __int128 num = (unsigned __int128)b.m * pow5[k];
    uint64_t q = (uint64_t)(num >> s), low = (uint64_t)num & ((1ull << s) - 1);
    uint64_t best = q, half_low = 1ull << (s - 1); /* the most digits: rounded as nearest */
    if (low > half_low || (low == half_low && (q & 1)))
        best++;
    int best_j = 0;
    uint64_t trunc = q, dropped = 0, p10 = 1; /* q / 10^j, q % 10^j, 10^j */
    for (int j = 1; max_p - j >= lo; j++) {
        uint64_t half = 5 * p10;
        dropped += trunc % 10 * p10;
        trunc /= 10;
        p10 *= 10;
        uint64_t c = trunc;
        if (dropped > half || (dropped == half && (low || (c & 1))))
            c++;
        unsigned __int128 cs = ((unsigned __int128)c * p10) << s;
        unsigned __int128 diff = cs < num ? num - cs : cs - num;
        unsigned __int128 lhs = diff * 2;
        if (!(lhs < pow5[k] || (lhs == pow5[k] && !(b.m & 1))))
            break;
        best = c;
        best_j = j;
    }
    k -= best_j;
    while (k > 0 && best % 10 == 0) { /* a rounding up to 10^p leaves a zero */
        best /= 10;
        k--;
    }
    return fixed_text(v < 0, best, k, out);
}

/* The shortest fixed-point text of @v (|v| in [1e-7, 1e15), as the binary value @b) that
 * reads back as @v: the nearest decimal of p significant digits for the smallest p that
 * reads back (found by bisection: if p digits read back, so do p + 1), at most @max_p. */
static size_t
shortest_fixed(double v, struct binval b, int max_p, char *out)
{
    static const double p10[] = {1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1e0,  1e1,  1e2,  1e3,
                                 1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14};
    double a = fabs(v);
    int e10 = a >= 0.1 ? -1 : -7; /* the power of ten of the leading digit */
    while (e10 < 14 && a >= p10[e10 + 8])
        e10++;
    size_t fast = shortest_fixed_fast(v, b, max_p, e10, out);
    if (fast)
        return fast;
    int lo = e10 + 1 > 1 ? e10 + 1 : 1, hi = max_p; /* no fewer digits than the integer part */
    uint64_t q = 0, best = 0;
    int best_p = 0; /* the digits @best was found for */
    if (lo >= hi) { /* a float of 10 digits or more before the point is an integer */
        nearest_reads_back(b, 0, &q);
        return fixed_text(v < 0, q, 0, out);
    }
    /* most computed values need nearly every digit: try two fewer than the most first */
    for (int mid = max_p - 2 > lo ? max_p - 2 : (lo + hi) / 2; lo < hi; mid = (lo + hi) / 2) {
        if (nearest_reads_back(b, mid - 1 - e10, &q)) {
            hi = mid;
            best = q;
            best_p = mid;
        } else {
            lo = mid + 1;
        }
    }
    if (best_p != lo)
        nearest_reads_back(b, lo - 1 - e10, &best);
    q = best;
    int k = lo - 1 - e10;
    while (k > 0 && q % 10 == 0) { /* a rounding up to 10^p leaves a zero */
        q /= 10;
        k--;
    }
    return fixed_text(v < 0, q, k, out);
}

/* The shortest fixed-point text of @v, or 0 when |v| is outside [1e-7, 1e15) (then printf's
 * exponent form is used). @as_float: the text must read back as the float @v. */
static size_t
short_fixed(double v, bool as_float, char *out)
{
    double a = fabs(v);
    if (!(a >= 1e-7 && a < 1e15))
        return 0;
    struct binval b;
    if (as_float) {
        float f = (float)a;
        uint32_t u;
        memcpy(&u, &f, sizeof(u));
        b = (struct binval){(u & 0x7fffffu) | 0x800000u, (int)(u >> 23 & 0xff) - 150, 24};
        return shortest_fixed(v, b, 9, out);
    }
    uint64_t u;
    memcpy(&u, &a, sizeof(u));
    b = (struct binval){(u & 0xfffffffffffffull) | 1ull << 52, (int)(u >> 52 & 0x7ff) - 1075, 53};
    return shortest_fixed(v, b, 17, out);
}

/* The text of @v when it is a decimal of at most four places below 1e9 in magnitude (a
 * lexicon valence, a weight, a confidence: most numbers of an analysis but its four scores),
 * else 0; @as_float: it must read back as the float @v. The integer m nearest v x 10^k, for
 * the fewest places k first, is the answer when m / 10^k is @v: m and 10^k are exact, so
 * their quotient is @v's decimal rounded once, as strtod rounds the text; for a float the
 * quotient is never near enough a float's rounding midpoint (a decimal of four places is at
 * least 2^-38 of its value away unless on it) for the second rounding to differ from strtof. */
static size_t
short_decimal(double v, bool as_float, char *out)
{
    static const double p10[] = {1, 10, 100, 1000, 10000};
    double a = fabs(v);
    if (!(a < 1e9))
        return 0;
    /* a computed score is turned away at once: v x 10^4 is no integer (to within v's own
     * precision, 2^-52 or the float's 2^-23, times the rounding of the product) */
    double m4 = a * 1e4, r4 = (double)(uint64_t)(m4 + 0.5); /* below 2^53: exact */
    if (fabs(m4 - r4) > m4 * (as_float ? 0x1p-22 : 0x1p-50))
        return 0;
    for (int k = 0; k < 5; k++) {
        double m = (double)(uint64_t)(a * p10[k] + 0.5), q = m / p10[k];
        if (as_float ? (float)q == (float)a : q == a)
            return fixed_text(v < 0, (uint64_t)m, k, out);
    }
    return 0;
}

/* Copy the string literal @s with its NUL to @out; its length. */
#define LITERAL(s, out) (memcpy((out), (s), sizeof(s)), sizeof(s) - 1)

size_t
churn_json_double(double v, char *out)
{
    if (!isfinite(v))
        return LITERAL("null", out);
    if (v == 0)
        return signbit(v) ? LITERAL("-0", out) : LITERAL("0", out);
    size_t n = short_decimal(v, false, out);
    if (n)
        return n;
    n = short_fixed(v, false, out);
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
        return LITERAL("null", out);
    if (v == 0)
        return signbit(v) ? LITERAL("-0", out) : LITERAL("0", out);
    size_t n = short_decimal(v, true, out);
    if (n)
        return n;
    n = short_fixed(v, true, out);
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
    if (w->n <= w->cap && w->cap - w->n >= sizeof(b)) { /* in place; its NUL is written over */
        w->n += churn_json_double(v, w->out + w->n);
        return;
    }
    put(w, b, churn_json_double(v, b));
}

static void
put_float(struct jw *w, float v)
{
    char b[32];
    if (w->n <= w->cap && w->cap - w->n >= sizeof(b)) {
        w->n += churn_json_float(v, w->out + w->n);
        return;
    }
    put(w, b, churn_json_float(v, b));
}

static void
put_uint(struct jw *w, uint64_t v)
{
    char b[24];
    size_t digits = 1;
    while (digits < 20 && v >= pow10_u64[digits])
        digits++;
    if (w->n <= w->cap && w->cap - w->n >= digits) { /* in place */
        utoa_back(v, w->out + w->n + digits);
        w->n += digits;
        return;
    }
    char *s = utoa_back(v, b + sizeof(b));
    put(w, s, (size_t)(b + sizeof(b) - s));
}

/* "\\uXXXX" for the UTF-16 unit @u at @o: its two bytes as hex pairs from one table. Returns
 * the end. */
static inline char *
u16_escape(char *o, uint32_t u)
{
    static const char hex2[513] =
        "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
        "202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F"
        "404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F"
        "606162636465666768696A6B6C6D6E6F707172737475767778797A7B7C7D7E7F"
        "808182838485868788898A8B8C8D8E8F909192939495969798999A9B9C9D9E9F"
        "A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF"
        "C0C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
        "E0E1E2E3E4E5E6E7E8E9EAEBECEDEEEFF0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF";
    const char *hi = hex2 + 2 * (u >> 8 & 0xff), *lo = hex2 + 2 * (u & 0xff);
    o[0] = '\\';
    o[1] = 'u';
    o[2] = hi[0];
    o[3] = hi[1];
    o[4] = lo[0];
    o[5] = lo[1];
    return o + 6;
}

/* Does any of the eight bytes @x need more than a copy in a JSON string: a control
 * character (< 0x20), '"', '\\', or a byte of a multi-byte character (>= 0x80)? Each test is
 * exact as a whole (the borrow of "x - c" only marks bytes above one that is truly below c). */
static inline bool
any_special8(uint64_t x)
{
    uint64_t q = x ^ CHURN__BYTES('"'), b = x ^ CHURN__BYTES('\\');
    uint64_t ctl = (x - CHURN__BYTES(0x20)) & ~x;
    uint64_t quote = (q - CHURN__BYTES(0x01)) & ~q, bslash = (b - CHURN__BYTES(0x01)) & ~b;
    return ((ctl | quote | bslash | x) & CHURN__BYTES(0x80)) != 0;
}

/* Is the byte @c copied as it is into a JSON string? */
static inline bool
is_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Is a three-byte character (Hangul, most of the BMP) at @s[@i] (of @n bytes)? Its code point
 * into *@u, decoded here: the text is valid UTF-8. */
static inline bool
three_bytes_at(const char *s, size_t n, size_t i, uint32_t *u)
{
    const unsigned char *b = (const unsigned char *)s + i;
    if ((b[0] & 0xf0) != 0xe0 || i + 2 >= n || (b[1] & 0xc0) != 0x80 || (b[2] & 0xc0) != 0x80)
        return false;
    *u = (uint32_t)(b[0] & 0x0f) << 12 | (uint32_t)(b[1] & 0x3f) << 6 | (b[2] & 0x3f);
    return true;
}

/* The escape of the character that is not is_plain() at @s[@i] (of @n bytes, valid UTF-8)
 * written at @o (at most 12 bytes); *@i moves past it. Returns the end. */
static char *
escape_at(const char *s, size_t n, size_t *i, char *o)
{
    unsigned char c = (unsigned char)s[*i];
    if (c < 0x80) {
        static const char short_esc[] = "\"\"\\\\\bb\ff\nn\rr\tt";
        const char *x = c ? memchr(short_esc, c, sizeof(short_esc) - 1) : NULL;
        (*i)++;
        if (x && (x - short_esc) % 2 == 0) {
            o[0] = '\\';
            o[1] = x[1];
            return o + 2;
        }
        return u16_escape(o, c);
    }
    uint32_t u;
    if (three_bytes_at(s, n, *i, &u)) {
        *i += 3;
        return u16_escape(o, u);
    }
    size_t adv;
    uint32_t cp = churn__utf8_decode((const unsigned char *)s + *i, n - *i, &adv);
    *i += adv ? adv : 1;
    if (cp < 0x10000)
        return u16_escape(o, cp);
    cp -= 0x10000;
    return u16_escape(u16_escape(o, 0xd800 | (cp >> 10)), 0xdc00 | (cp & 0x3ff));
}

/* put_string() with room for any escaping (6 bytes out per byte in, and 16 more): written in
 * place without a test of room per piece, plain ASCII eight bytes at a time. */
static void
put_string_roomy(struct jw *w, const char *s, size_t n)
{
    char *o = w->out + w->n;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        uint64_t x;
        uint32_t u;
        if (three_bytes_at(s, n, i, &u)) { /* Korean text: syllable after syllable */
            o = u16_escape(o, u);
            i += 3;
        } else if (i + 8 <= n && (memcpy(&x, s + i, 8), !any_special8(x))) {
            memcpy(o, &x, 8);
            o += 8;
            i += 8;
        } else if (is_plain((unsigned char)s[i])) {
            *o++ = s[i++];
        } else {
            o = escape_at(s, n, &i, o);
        }
    }
    *o++ = '"';
    w->n = (size_t)(o - w->out);
}

/* A JSON string of the UTF-8 @s (@n bytes), escaped to ASCII. Plain ASCII is passed over
 * eight bytes at a time. */
static void
put_string(struct jw *w, const char *s, size_t n)
{
    if (n <= (SIZE_MAX - 16) / 6 && w->n <= w->cap && w->cap - w->n >= 6 * n + 16) {
        put_string_roomy(w, s, n);
        return;
    }
    PUT_LIT(w, "\"");
    size_t run = 0; /* start of the pending run of plain ASCII */
    for (size_t i = 0; i < n;) {
        uint64_t x;
        if (is_plain((unsigned char)s[i])) {
            if (i + 8 <= n && (unsigned char)s[i + 1] < 0x80 &&
                (memcpy(&x, s + i, 8), !any_special8(x))) /* not before a Hangul word */
                i += 8;
            else
                i++;
            continue;
        }
        put(w, s + run, i - run);
        char e[12];
        put(w, e, (size_t)(escape_at(s, n, &i, e) - e));
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
