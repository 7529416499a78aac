/*
 * codec.c - the bounded little-endian writer and reader behind every alerts record encoding,
 * and the small string helpers of the module. The writer never writes past its capacity (it
 * only notes the overflow); the reader never reads past its input (it only notes the damage),
 * so each encoder and decoder checks one flag at the end instead of every step.
 */
#include "internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void
wr_bytes(struct churn__wr *w, const void *src, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

void
churn__wr_u8(struct churn__wr *w, uint8_t v)
{
    wr_bytes(w, &v, 1);
}

void
churn__wr_u32(struct churn__wr *w, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    wr_bytes(w, b, sizeof(b));
}

void
churn__wr_u64(struct churn__wr *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    wr_bytes(w, b, sizeof(b));
}

void
churn__wr_i64(struct churn__wr *w, int64_t v)
{
    churn__wr_u64(w, (uint64_t)v);
}

void
churn__wr_f64(struct churn__wr *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    churn__wr_u64(w, bits);
}

void
churn__wr_str(struct churn__wr *w, const char *s)
{
    size_t n = strlen(s);
    if (n > UINT16_MAX) {
        w->overflow = true;
        return;
    }
    uint8_t b[2] = {(uint8_t)n, (uint8_t)(n >> 8)};
    wr_bytes(w, b, 2);
    wr_bytes(w, s, n);
}

static const uint8_t *
rd_bytes(struct churn__rd *r, size_t n)
{
    if (r->bad || n > r->len - r->off) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t
churn__rd_u8(struct churn__rd *r)
{
    const uint8_t *p = rd_bytes(r, 1);
    return p ? p[0] : 0;
}

uint32_t
churn__rd_u32(struct churn__rd *r)
{
    const uint8_t *p = rd_bytes(r, 4);
    uint32_t v = 0;
    if (p)
        for (int i = 3; i >= 0; i--)
            v = (v << 8) | p[i];
    return v;
}

uint64_t
churn__rd_u64(struct churn__rd *r)
{
    const uint8_t *p = rd_bytes(r, 8);
    uint64_t v = 0;
    if (p)
        for (int i = 7; i >= 0; i--)
            v = (v << 8) | p[i];
    return v;
}

int64_t
churn__rd_i64(struct churn__rd *r)
{
    return (int64_t)churn__rd_u64(r);
}

double
churn__rd_f64_any(struct churn__rd *r)
{
    uint64_t bits = churn__rd_u64(r);
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

double
churn__rd_f64(struct churn__rd *r)
{
    double v = churn__rd_f64_any(r);
    if (!isfinite(v)) {
        r->bad = true;
        return 0;
    }
    return v;
}

void
churn__rd_str(struct churn__rd *r, char *out, size_t size)
{
    const uint8_t *lb = rd_bytes(r, 2);
    if (!lb) {
        out[0] = '\0';
        return;
    }
    size_t n = (size_t)lb[0] | ((size_t)lb[1] << 8);
    const uint8_t *p = n < size ? rd_bytes(r, n) : NULL;
    if (!p || memchr(p, '\0', n)) {
        r->bad = true;
        out[0] = '\0';
        return;
    }
    memcpy(out, p, n);
    out[n] = '\0';
}

enum churn_err
churn__copy(char *out, size_t size, const char *s)
{
    size_t n = strlen(s);
    if (n >= size)
        return CHURN_ETOOBIG;
    memcpy(out, s, n + 1);
    return CHURN_OK;
}

bool
churn__terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}
