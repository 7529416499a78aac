/*
 * engine/score_codec.c - the stored form of a score (churn/score_codec.h). Layout, all
 * little-endian: version u8, total length u32; model id, cut-offs id, record digest u64;
 * scored-at, observed history start, horizon i64; probability, margin, value, revenue at risk,
 * priority f64; risk and value tier u8; flags u8 (1: churned, 2: explained); model version and
 * segment (u8 length
 * + bytes); freshness (last event i64, source count u8, each source's day i64, stale bits u8);
 * when explained (flag 2): feature count u16, a bitmap of the features with a contribution (not 0)
 * and one of those with a value (not missing), then those contributions and values f64; reason
 * count u8 and each reason's model input u16, contribution and value f64; always, last, the
 * churn_digest64 of everything before.
 */
#include "churn/score_codec.h"

#include <endian.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "churn/hash.h"
#include "churn/score_store.h"

_Static_assert(CHURN_SCORE_ENCODED_MAX <= CHURN_STORE_SCORE_MAX, "a score must fit the store");
_Static_assert(CHURN_SOURCE_COUNT <= 8, "stale sources are one byte of bits");

#define HEADER_LEN     5u /* version and total length */
#define FLAG_CHURNED   1u /* the record says the customer churned */
#define FLAG_EXPLAINED 2u /* contributions and reasons follow */
#define FEAT_BITMAP    ((CHURN_FEAT__COUNT + 7u) / 8u)
#define CHECKSUM_LEN   8u

/* ---- writing ------------------------------------------------------------------------------ */

struct wbuf {
    unsigned char *p;
    size_t cap, len;
    bool over;
};

static void
put_bytes(struct wbuf *w, const void *data, size_t n)
{
    if (w->over || w->cap - w->len < n) {
        w->over = true;
        return;
    }
    memcpy(w->p + w->len, data, n);
    w->len += n;
}

static void
put_uint(struct wbuf *w, uint64_t v, unsigned bytes)
{
    unsigned char b[8];
    for (unsigned i = 0; i < bytes; i++, v >>= 8)
        b[i] = (unsigned char)v;
    put_bytes(w, b, bytes);
}

static void
put_f64(struct wbuf *w, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof(v));
    put_uint(w, v, 8);
}

static void
put_str(struct wbuf *w, const char *s, size_t max)
{
    size_t n = strnlen(s, max - 1);
    put_uint(w, n, 1);
    put_bytes(w, s, n);
}

static void
put_freshness(struct wbuf *w, const struct churn_freshness *f)
{
    put_uint(w, (uint64_t)f->last_event_ms, 8);
    put_uint(w, CHURN_SOURCE_COUNT, 1);
    unsigned stale = 0;
    for (unsigned i = 0; i < CHURN_SOURCE_COUNT; i++) {
        put_uint(w, (uint64_t)f->at[i], 8);
        stale |= f->stale[i] ? 1u << i : 0u;
    }
    put_uint(w, stale, 1);
}

/* Whether feature @i's contribution (@values: value) is stored: not 0 (not missing). */
static bool
feature_kept(const struct churn_score *s, size_t i, bool values)
{
    return values ? !isnan(s->values[i]) : s->contributions[i] != 0.0;
}

/* The feature count, two presence bitmaps (contributions not 0, values not missing), then the
 * numbers present: a model uses some of the catalogue, and the store packs small values. */
static void
put_features(struct wbuf *w, const struct churn_score *s)
{
    put_uint(w, CHURN_FEAT__COUNT, 2);
    for (int values = 0; values < 2; values++)
        for (size_t byte = 0; byte < FEAT_BITMAP; byte++) {
            unsigned bits = 0;
            for (size_t i = byte * 8; i < byte * 8 + 8 && i < CHURN_FEAT__COUNT; i++)
                bits |= feature_kept(s, i, values) ? 1u << (i % 8) : 0u;
            put_uint(w, bits, 1);
        }
    for (int values = 0; values < 2; values++)
        for (size_t i = 0; i < CHURN_FEAT__COUNT; i++)
            if (feature_kept(s, i, values))
                put_f64(w, values ? s->values[i] : s->contributions[i]);
}

enum churn_err
churn_score_encode(const struct churn_score *s, unsigned char *out, size_t cap, size_t *len)
{
    if (s->n_reasons > (s->have_contributions ? CHURN_SCORE_REASONS_MAX : 0))
        return CHURN_EINVAL;
    struct wbuf w = {out, cap, 0, false};
    put_uint(&w, CHURN_SCORE_CODEC_VERSION, 1);
    put_uint(&w, 0, 4); /* the length, once known */
    const uint64_t ids[] = {s->model_id,
                            s->cuts_id,
                            s->record_digest,
                            (uint64_t)s->scored_at_ms,
                            (uint64_t)s->history_from_ms,
                            (uint64_t)s->horizon_ms};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        put_uint(&w, ids[i], 8);
    const double nums[] = {s->probability, s->margin, s->value, s->revenue_at_risk, s->priority};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        put_f64(&w, nums[i]);
    put_uint(&w, (uint64_t)s->risk_tier, 1);
    put_uint(&w, (uint64_t)s->value_tier, 1);
    put_uint(&w, (s->churned ? FLAG_CHURNED : 0u) | (s->have_contributions ? FLAG_EXPLAINED : 0u),
             1);
    put_str(&w, s->model_version, sizeof(s->model_version));
    put_str(&w, s->segment, sizeof(s->segment));
    put_freshness(&w, &s->freshness);
    if (s->have_contributions) {
        put_features(&w, s);
        put_uint(&w, s->n_reasons, 1);
    }
    for (size_t i = 0; i < s->n_reasons; i++) {
        put_uint(&w, s->reasons[i].input, 2);
        put_f64(&w, s->reasons[i].contribution);
        put_f64(&w, s->reasons[i].value);
    }
    if (w.over || w.cap - w.len < CHECKSUM_LEN)
        return CHURN_ETOOBIG;
    size_t total = w.len + CHECKSUM_LEN;
    for (unsigned i = 0; i < 4; i++)
        out[1 + i] = (unsigned char)(total >> (8 * i));
    put_uint(&w, churn_digest64(out, w.len), 8);
    *len = w.len;
    return CHURN_OK;
}

/* ---- reading ------------------------------------------------------------------------------ */

struct rbuf {
    const unsigned char *p;
    size_t len, pos;
    char *why;
    size_t whylen;
    bool bad;
};

static void __attribute__((format(printf, 2, 3))) fail(struct rbuf *r, const char *fmt, ...)
{
    if (r->bad)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, r->whylen, fmt, ap);
    va_end(ap);
    r->bad = true;
}

static bool
take(struct rbuf *r, size_t n, const char *field)
{
    if (r->bad)
        return false;
    if (r->len - r->pos < n) {
        fail(r, "stored score truncated in %s (offset %zu, %zu bytes left)", field, r->pos,
             r->len - r->pos);
        return false;
    }
    return true;
}

static uint64_t
get_uint(struct rbuf *r, unsigned bytes, const char *field)
{
    if (!take(r, bytes, field))
        return 0;
    uint64_t v = 0;
    if (bytes == 8) { /* the common width: one load (the encoding is little-endian) */
        memcpy(&v, r->p + r->pos, 8);
        v = le64toh(v);
    } else {
        for (unsigned i = 0; i < bytes; i++)
            v |= (uint64_t)r->p[r->pos + i] << (8 * i);
    }
    r->pos += bytes;
    return v;
}

static double
get_f64(struct rbuf *r, const char *field)
{
    uint64_t v = get_uint(r, 8, field);
    double d;
    memcpy(&d, &v, sizeof(d));
    return d;
}

static void
get_str(struct rbuf *r, char *out, size_t cap, const char *field)
{
    size_t n = (size_t)get_uint(r, 1, field);
    out[0] = '\0';
    if (n >= cap)
        fail(r, "stored score: %s is %zu bytes, too long", field, n);
    if (!take(r, n, field))
        return;
    if (memchr(r->p + r->pos, '\0', n))
        fail(r, "stored score: %s holds a NUL byte", field);
    memcpy(out, r->p + r->pos, n);
    out[n] = '\0';
    r->pos += n;
}

/* @d must be finite and within [lo, hi]. */
static double
get_ranged(struct rbuf *r, const char *field, double lo, double hi)
{
    double d = get_f64(r, field);
    if (!r->bad && !(isfinite(d) && d >= lo && d <= hi))
        fail(r, "stored score: %s is %g, out of range", field, d);
    return d;
}

static enum churn_tier
get_tier(struct rbuf *r, const char *field)
{
    uint64_t t = get_uint(r, 1, field);
    if (!r->bad && (t < CHURN_TIER_LOW || t > CHURN_TIER_HIGH))
        fail(r, "stored score: %s is %llu, not a tier (1..3)", field, (unsigned long long)t);
    return (enum churn_tier)t;
}

static void
get_freshness(struct rbuf *r, struct churn_freshness *f)
{
    memset(f, 0, sizeof(*f));
    f->last_event_ms = (int64_t)get_uint(r, 8, "freshness.last_event");
    uint64_t n = get_uint(r, 1, "freshness.sources");
    if (!r->bad && n != CHURN_SOURCE_COUNT)
        fail(r, "stored score: freshness counts %llu event sources, not this build's %d",
             (unsigned long long)n, (int)CHURN_SOURCE_COUNT);
    for (unsigned i = 0; i < CHURN_SOURCE_COUNT && !r->bad; i++)
        f->at[i] = (int64_t)get_uint(r, 8, "freshness.at");
    uint64_t stale = get_uint(r, 1, "freshness.stale");
    if (!r->bad && stale >> CHURN_SOURCE_COUNT)
        fail(r, "stored score: freshness.stale marks unknown sources (0x%llx)",
             (unsigned long long)stale);
    for (unsigned i = 0; i < CHURN_SOURCE_COUNT; i++) {
        f->stale[i] = stale >> i & 1u;
        f->n_stale += f->stale[i];
    }
}

/* One presence bitmap into @present; bits past the catalogue must be clear. */
static void
get_bitmap(struct rbuf *r, bool *present, const char *what)
{
    for (size_t byte = 0; byte < FEAT_BITMAP; byte++) {
        uint64_t bits = get_uint(r, 1, what);
        for (size_t b = 0; b < 8; b++) {
            size_t i = byte * 8 + b;
            if (i < CHURN_FEAT__COUNT)
                present[i] = bits >> b & 1u;
            else if (!r->bad && bits >> b & 1u)
                fail(r, "stored score: %s marks feature %zu, past the catalogue", what, i);
        }
    }
}

static void
get_features(struct rbuf *r, struct churn_score *s)
{
    uint64_t n = get_uint(r, 2, "feature count");
    if (!r->bad && n != CHURN_FEAT__COUNT)
        fail(r, "stored score: feature count is %llu, not this build's catalogue (%d)",
             (unsigned long long)n, (int)CHURN_FEAT__COUNT);
    bool has_contribution[CHURN_FEAT__COUNT], has_value[CHURN_FEAT__COUNT];
    get_bitmap(r, has_contribution, "contribution bitmap");
    get_bitmap(r, has_value, "value bitmap");
    for (size_t i = 0; i < CHURN_FEAT__COUNT && !r->bad; i++) {
        s->contributions[i] = has_contribution[i] ? get_f64(r, "contributions") : 0.0;
        /* what the encoder leaves out is never written: 0 and NaN stored are garbled bytes */
        if (!r->bad && !(isfinite(s->contributions[i]) &&
                         (s->contributions[i] != 0.0 || !has_contribution[i])))
            fail(r, "stored score: contribution of feature %zu is %g", i, s->contributions[i]);
    }
    for (size_t i = 0; i < CHURN_FEAT__COUNT && !r->bad; i++) {
        s->values[i] = has_value[i] ? get_f64(r, "values") : NAN;
        if (!r->bad && has_value[i] && isnan(s->values[i]))
            fail(r, "stored score: value of feature %zu is stored as NaN", i);
    }
    s->have_contributions = !r->bad;
}

static void
get_reasons(struct rbuf *r, struct churn_score *s)
{
    uint64_t n = get_uint(r, 1, "reason count");
    if (!r->bad && n > CHURN_SCORE_REASONS_MAX)
        fail(r, "stored score: reason count is %llu, over the limit (%u)", (unsigned long long)n,
             CHURN_SCORE_REASONS_MAX);
    s->n_reasons = r->bad ? 0 : (size_t)n;
    for (size_t i = 0; i < s->n_reasons && !r->bad; i++) {
        struct churn_score_reason *x = &s->reasons[i];
        /* no memset: a reason is about 700 bytes, mostly words written only for a response */
        x->categorical = false;
        x->name[0] = x->label[0] = x->category[0] = x->explanation[0] = '\0';
        x->input = (uint32_t)get_uint(r, 2, "reason input");
        x->feature = -1;
        x->contribution = get_f64(r, "reason contribution");
        x->value = get_f64(r, "reason value");
        if (!r->bad && !(isfinite(x->contribution) && x->contribution > 0))
            fail(r, "stored score: reason %zu's contribution is %g, not a positive number", i,
                 x->contribution);
    }
}

/* The version, the length and the checksum, before any field is read. */
static void
check_frame(struct rbuf *r)
{
    if (r->len > CHURN_STORE_SCORE_MAX) {
        fail(r, "stored score of %zu bytes is over the limit (%u)", r->len, CHURN_STORE_SCORE_MAX);
        return;
    }
    if (r->len < HEADER_LEN + CHECKSUM_LEN) {
        fail(r, "stored score truncated: %zu bytes, shorter than its frame", r->len);
        return;
    }
    uint64_t version = get_uint(r, 1, "version");
    if (version != CHURN_SCORE_CODEC_VERSION) {
        fail(r, "stored score: unknown version %llu", (unsigned long long)version);
        return;
    }
    uint64_t total = get_uint(r, 4, "length");
    if (total != r->len) {
        fail(r, "stored score: length field says %llu bytes, %zu stored%s",
             (unsigned long long)total, r->len, total > r->len ? " (truncated)" : "");
        return;
    }
    r->len -= CHECKSUM_LEN;
    uint64_t sum = 0;
    for (unsigned i = 0; i < CHECKSUM_LEN; i++)
        sum |= (uint64_t)r->p[r->len + i] << (8 * i);
    if (sum != churn_digest64(r->p, r->len))
        fail(r, "stored score: checksum mismatch (garbled bytes)");
}

enum churn_err
churn_score_decode(const void *data, size_t len, struct churn_score *out, char *why, size_t whylen)
{
    struct rbuf r = {.p = data, .len = len, .why = why, .whylen = whylen};
    memset(out, 0, sizeof(*out) - sizeof(out->reasons));
    check_frame(&r);
    out->model_id = get_uint(&r, 8, "model id");
    out->cuts_id = get_uint(&r, 8, "cuts id");
    out->record_digest = get_uint(&r, 8, "record digest");
    out->scored_at_ms = (int64_t)get_uint(&r, 8, "scored at");
    out->history_from_ms = (int64_t)get_uint(&r, 8, "history start");
    out->horizon_ms = (int64_t)get_uint(&r, 8, "horizon");
    out->probability = get_ranged(&r, "probability", 0, 1);
    out->margin = get_f64(&r, "margin");
    out->value = get_ranged(&r, "value", 0, DBL_MAX);
    out->revenue_at_risk = get_ranged(&r, "revenue at risk", 0, DBL_MAX);
    out->priority = get_ranged(&r, "priority", 0, DBL_MAX);
    out->risk_tier = get_tier(&r, "risk tier");
    out->value_tier = get_tier(&r, "value tier");
    uint64_t flags = get_uint(&r, 1, "flags");
    if (!r.bad && flags & ~(uint64_t)(FLAG_CHURNED | FLAG_EXPLAINED))
        fail(&r, "stored score: unknown flags 0x%llx", (unsigned long long)flags);
    out->churned = flags & FLAG_CHURNED;
    get_str(&r, out->model_version, sizeof(out->model_version), "model version");
    get_str(&r, out->segment, sizeof(out->segment), "segment");
    get_freshness(&r, &out->freshness);
    if (flags & FLAG_EXPLAINED) { /* else: no contributions and no reasons were kept */
        get_features(&r, out);
        get_reasons(&r, out);
    }
    if (!r.bad && r.pos != r.len)
        fail(&r, "stored score: %zu trailing bytes", r.len - r.pos);
    return r.bad ? CHURN_ECORRUPT : CHURN_OK;
}

bool
churn_score_peek(const void *data, size_t len, struct churn_score_head *out)
{
    char why[8];
    struct rbuf r = {.p = data, .len = len, .why = why, .whylen = sizeof(why)};
    if (len > CHURN_STORE_SCORE_MAX || len < HEADER_LEN + 5 * 8 + CHECKSUM_LEN ||
        get_uint(&r, 1, "version") != CHURN_SCORE_CODEC_VERSION || get_uint(&r, 4, "length") != len)
        return false;
    out->model_id = get_uint(&r, 8, "model id");
    out->cuts_id = get_uint(&r, 8, "cuts id");
    out->record_digest = get_uint(&r, 8, "record digest");
    out->scored_at_ms = (int64_t)get_uint(&r, 8, "scored at");
    out->history_from_ms = (int64_t)get_uint(&r, 8, "history start");
    r.pos = len - CHECKSUM_LEN;
    out->checksum = get_uint(&r, 8, "checksum");
    return !r.bad;
}
