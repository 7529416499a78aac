/*
 * segment.c - segments: risk tiers by probability thresholds or by the top share of a score
 * distribution, value tiers by the top shares of a value sample, the risk x value matrix,
 * priority (expected revenue at risk), and the versioned encoding of computed cut-offs so
 * every process of a deployment tiers customers the same way.
 */
#include "churn/alerts.h"
#include "churn/segments.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "internal.h"

#define MAX_SAMPLE 10000000u

void
churn_segment_config_default(struct churn_segment_config *cfg)
{
    cfg->risk_mode = CHURN_RISK_BY_THRESHOLD;
    cfg->risk_high_min = 0.6;
    cfg->risk_medium_min = 0.3;
    cfg->risk_high_share = 0.10;
    cfg->risk_medium_share = 0.20;
    cfg->value_high_share = 0.20;
    cfg->value_medium_share = 0.30;
    cfg->value_mode = CHURN_RISK_BY_TOP_SHARE;
    cfg->value_high_min = 2000;
    cfg->value_medium_min = 500;
}

static bool
shares_ok(double high, double medium)
{
    return high > 0 && high < 1 && medium > 0 && medium < 1 && high + medium < 1;
}

/* "threshold:A,B" or "top:A,B" into @mode, @a, @b. */
static enum churn_err
parse_spec(const char *what, const char *spec, enum churn_risk_mode *mode, double *a, double *b,
           char *errbuf, size_t errlen)
{
    const char *rest;
    if (strncmp(spec, "threshold:", 10) == 0) {
        *mode = CHURN_RISK_BY_THRESHOLD;
        rest = spec + 10;
    } else if (strncmp(spec, "top:", 4) == 0) {
        *mode = CHURN_RISK_BY_TOP_SHARE;
        rest = spec + 4;
    } else {
        churn_errf(errbuf, errlen,
                   "%s: '%.64s' is neither threshold:HIGH,MEDIUM nor top:HIGH,MEDIUM", what, spec);
        return CHURN_EINVAL;
    }
    char *end;
    errno = 0;
    *a = strtod(rest, &end);
    if (end == rest || *end != ',' || errno) {
        churn_errf(errbuf, errlen, "%s: '%.64s': expected two numbers separated by a comma", what,
                   spec);
        return CHURN_EINVAL;
    }
    const char *second = end + 1;
    *b = strtod(second, &end);
    if (end == second || *end || errno || !isfinite(*a) || !isfinite(*b)) {
        churn_errf(errbuf, errlen, "%s: '%.64s': expected two numbers separated by a comma", what,
                   spec);
        return CHURN_EINVAL;
    }
    return CHURN_OK;
}

enum churn_err
churn_segment_config_parse(struct churn_segment_config *cfg, const char *risk, const char *value,
                           char *errbuf, size_t errlen)
{
    struct churn_segment_config c = *cfg;
    double a, b;
    enum churn_risk_mode mode;
    if (risk && *risk) {
        if (parse_spec("risk tiers", risk, &mode, &a, &b, errbuf, errlen))
            return CHURN_EINVAL;
        c.risk_mode = mode;
        if (mode == CHURN_RISK_BY_THRESHOLD) {
            if (!(b > 0 && b <= a && a < 1)) {
                churn_errf(errbuf, errlen,
                           "risk tiers: '%.64s': need 0 < MEDIUM <= HIGH < 1 (probabilities)",
                           risk);
                return CHURN_EINVAL;
            }
            c.risk_high_min = a;
            c.risk_medium_min = b;
        } else {
            if (!shares_ok(a, b)) {
                churn_errf(errbuf, errlen,
                           "risk tiers: '%.64s': shares must be in (0, 1) and sum below 1", risk);
                return CHURN_EINVAL;
            }
            c.risk_high_share = a;
            c.risk_medium_share = b;
        }
    }
    if (value && *value) {
        if (parse_spec("value tiers", value, &mode, &a, &b, errbuf, errlen))
            return CHURN_EINVAL;
        c.value_mode = mode;
        if (mode == CHURN_RISK_BY_THRESHOLD) {
            if (!(b >= 0 && b <= a)) {
                churn_errf(errbuf, errlen, "value tiers: '%.64s': need 0 <= MEDIUM <= HIGH", value);
                return CHURN_EINVAL;
            }
            c.value_high_min = a;
            c.value_medium_min = b;
        } else {
            if (!shares_ok(a, b)) {
                churn_errf(errbuf, errlen,
                           "value tiers: '%.64s': shares must be in (0, 1) and sum below 1", value);
                return CHURN_EINVAL;
            }
            c.value_high_share = a;
            c.value_medium_share = b;
        }
    }
    *cfg = c;
    return CHURN_OK;
}

void
churn_segments_initial(const struct churn_segment_config *cfg,
                       const struct churn_segments *fallback, struct churn_segments *out)
{
    *out = *fallback;
    out->risk_sample_size = 0;
    out->value_sample_size = 0;
    if (cfg->risk_mode == CHURN_RISK_BY_THRESHOLD) {
        out->risk_high_cut = cfg->risk_high_min;
        out->risk_medium_cut = cfg->risk_medium_min;
    }
    if (cfg->value_mode == CHURN_RISK_BY_THRESHOLD) {
        out->value_high_cut = cfg->value_high_min;
        out->value_medium_cut = cfg->value_medium_min;
    }
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * Cut-offs for the top @high share and the next @medium share of @sample: sorted ascending,
 * the high cut is the value at rank ceil(n * (1 - high)) (0-based, clamped), so roughly the
 * top share of items is at or above it.
 */
static enum churn_err
share_cuts(const double *sample, size_t n, double high, double medium, const char *what,
           double *high_cut, double *medium_cut, char *errbuf, size_t errlen)
{
    if (n == 0) {
        churn_errf(errbuf, errlen, "%s: the sample is empty", what);
        return CHURN_EINVAL;
    }
    if (n > MAX_SAMPLE) {
        churn_errf(errbuf, errlen, "%s: more than %u samples", what, MAX_SAMPLE);
        return CHURN_ETOOBIG;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(sample[i]) || sample[i] < 0) {
            churn_errf(errbuf, errlen, "%s: sample %zu is negative or not a number", what, i);
            return CHURN_EINVAL;
        }
    }
    double *s = churn_malloc(n * sizeof(*s));
    if (!s)
        return CHURN_ENOMEM;
    memcpy(s, sample, n * sizeof(*s));
    qsort(s, n, sizeof(*s), cmp_double);
    size_t hi = (size_t)ceil((double)n * (1.0 - high) - 1e-9);
    size_t mid = (size_t)ceil((double)n * (1.0 - high - medium) - 1e-9);
    if (hi >= n)
        hi = n - 1;
    if (mid >= n)
        mid = n - 1;
    *high_cut = s[hi];
    *medium_cut = s[mid];
    churn_free(s);
    return CHURN_OK;
}

enum churn_err
churn_segments_compute(const struct churn_segment_config *cfg, const double *probs, size_t n_probs,
                       const double *values, size_t n_values, struct churn_segments *out,
                       char *errbuf, size_t errlen)
{
    struct churn_segments seg = {0};
    enum churn_err err;
    if (cfg->risk_mode == CHURN_RISK_BY_THRESHOLD) {
        if (!(cfg->risk_medium_min > 0 && cfg->risk_medium_min <= cfg->risk_high_min &&
              cfg->risk_high_min < 1)) {
            churn_errf(errbuf, errlen, "risk thresholds: need 0 < medium (%g) <= high (%g) < 1",
                       cfg->risk_medium_min, cfg->risk_high_min);
            return CHURN_EINVAL;
        }
        seg.risk_high_cut = cfg->risk_high_min;
        seg.risk_medium_cut = cfg->risk_medium_min;
    } else if (cfg->risk_mode == CHURN_RISK_BY_TOP_SHARE) {
        if (!shares_ok(cfg->risk_high_share, cfg->risk_medium_share)) {
            churn_errf(errbuf, errlen,
                       "risk shares: need 0 < high (%g), medium (%g) and high + medium < 1",
                       cfg->risk_high_share, cfg->risk_medium_share);
            return CHURN_EINVAL;
        }
        for (size_t i = 0; i < n_probs; i++) {
            if (!(probs[i] >= 0 && probs[i] <= 1)) {
                churn_errf(errbuf, errlen, "probabilities: sample %zu is outside [0, 1]", i);
                return CHURN_EINVAL;
            }
        }
        err = share_cuts(probs, n_probs, cfg->risk_high_share, cfg->risk_medium_share,
                         "probabilities", &seg.risk_high_cut, &seg.risk_medium_cut, errbuf, errlen);
        if (err)
            return err;
        seg.risk_sample_size = (uint32_t)n_probs;
    } else {
        churn_errf(errbuf, errlen, "risk mode: unknown value %d", (int)cfg->risk_mode);
        return CHURN_EINVAL;
    }
    if (cfg->value_mode == CHURN_RISK_BY_THRESHOLD) {
        if (!(cfg->value_medium_min >= 0 && cfg->value_medium_min <= cfg->value_high_min)) {
            churn_errf(errbuf, errlen, "value thresholds: need 0 <= medium (%g) <= high (%g)",
                       cfg->value_medium_min, cfg->value_high_min);
            return CHURN_EINVAL;
        }
        seg.value_high_cut = cfg->value_high_min;
        seg.value_medium_cut = cfg->value_medium_min;
        *out = seg;
        return CHURN_OK;
    }
    if (!shares_ok(cfg->value_high_share, cfg->value_medium_share)) {
        churn_errf(errbuf, errlen,
                   "value shares: need 0 < high (%g), medium (%g) and high + medium < 1",
                   cfg->value_high_share, cfg->value_medium_share);
        return CHURN_EINVAL;
    }
    err = share_cuts(values, n_values, cfg->value_high_share, cfg->value_medium_share, "values",
                     &seg.value_high_cut, &seg.value_medium_cut, errbuf, errlen);
    if (err)
        return err;
    seg.value_sample_size = (uint32_t)n_values;
    *out = seg;
    return CHURN_OK;
}

enum churn_tier
churn_segments_risk_tier(const struct churn_segments *seg, double p)
{
    if (p >= seg->risk_high_cut)
        return CHURN_TIER_HIGH;
    if (p >= seg->risk_medium_cut)
        return CHURN_TIER_MEDIUM;
    return CHURN_TIER_LOW;
}

enum churn_tier
churn_segments_value_tier(const struct churn_segments *seg, double value)
{
    if (value >= seg->value_high_cut)
        return CHURN_TIER_HIGH;
    if (value >= seg->value_medium_cut)
        return CHURN_TIER_MEDIUM;
    return CHURN_TIER_LOW;
}

double
churn_priority(double p, double value)
{
    if (!isfinite(p) || !isfinite(value) || p <= 0 || value <= 0)
        return 0;
    return (p > 1 ? 1 : p) * value;
}

int
churn_segment_cell(enum churn_tier risk, enum churn_tier value)
{
    if (risk < CHURN_TIER_LOW || risk > CHURN_TIER_HIGH || value < CHURN_TIER_LOW ||
        value > CHURN_TIER_HIGH)
        return -1;
    return ((int)risk - 1) * 3 + ((int)value - 1);
}

char *
churn_segment_name(enum churn_tier risk, enum churn_tier value, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s-risk/%s-value", churn_tier_name(risk), churn_tier_name(value));
    return out;
}

enum churn_err
churn_segments_encode(const struct churn_segments *seg, uint8_t *out, size_t cap, size_t *len)
{
    struct churn__wr w = {.p = out, .cap = cap};
    churn__wr_u8(&w, CHURN_SEGMENTS_FORMAT_VERSION);
    churn__wr_f64(&w, seg->risk_high_cut);
    churn__wr_f64(&w, seg->risk_medium_cut);
    churn__wr_f64(&w, seg->value_high_cut);
    churn__wr_f64(&w, seg->value_medium_cut);
    churn__wr_u32(&w, seg->risk_sample_size);
    churn__wr_u32(&w, seg->value_sample_size);
    if (w.overflow)
        return CHURN_ETOOBIG;
    *len = w.len;
    return CHURN_OK;
}

enum churn_err
churn_segments_decode(const uint8_t *data, size_t len, struct churn_segments *seg)
{
    struct churn__rd r = {.p = data, .len = len};
    if (!data || len == 0 || churn__rd_u8(&r) != CHURN_SEGMENTS_FORMAT_VERSION)
        return CHURN_ECORRUPT;
    struct churn_segments s;
    s.risk_high_cut = churn__rd_f64(&r);
    s.risk_medium_cut = churn__rd_f64(&r);
    s.value_high_cut = churn__rd_f64(&r);
    s.value_medium_cut = churn__rd_f64(&r);
    s.risk_sample_size = churn__rd_u32(&r);
    s.value_sample_size = churn__rd_u32(&r);
    if (r.bad || r.off != r.len || s.risk_medium_cut > s.risk_high_cut ||
        s.value_medium_cut > s.value_high_cut || s.risk_medium_cut < 0 || s.value_medium_cut < 0)
        return CHURN_ECORRUPT;
    *seg = s;
    return CHURN_OK;
}
