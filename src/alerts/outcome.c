/*
 * outcome.c - holdouts and outcomes: deterministic control-group assignment by a hash of
 * customer and playbook, Wilson score intervals, per-playbook retention in treatment versus
 * control with Newcombe's hybrid score interval for the difference, revenue retained, and
 * the versioned encoding of an outcome record.
 */
#include "churn/alerts.h"
#include "churn/outcomes.h"

#include <math.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/hash.h"
#include "internal.h"

#define Z95 1.959963984540054 /* two-sided 95% normal quantile */

uint64_t
churn_holdout_hash(const char *customer_id, const char *playbook_id)
{
    static const unsigned char zero = 0;
    uint64_t h = churn_fnv1a64(CHURN_FNV64_OFFSET, customer_id, strlen(customer_id));
    h = churn_fnv1a64(h, &zero, 1);
    h = churn_fnv1a64(h, playbook_id, strlen(playbook_id));
    /* splitmix64 finaliser */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

bool
churn_holdout_assign(const char *customer_id, const char *playbook_id, double share)
{
    if (!(share > 0))
        return false;
    double u = (double)(churn_holdout_hash(customer_id, playbook_id) >> 11) * 0x1.0p-53;
    return u < share;
}

enum churn_err
churn_wilson_interval(uint64_t successes, uint64_t n, double *low, double *high)
{
    if (n == 0 || successes > n)
        return CHURN_EINVAL;
    double nn = (double)n, p = (double)successes / nn, z2 = Z95 * Z95;
    double denom = 1 + z2 / nn;
    double centre = (p + z2 / (2 * nn)) / denom;
    double half = Z95 / denom * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    double lo = centre - half, hi = centre + half;
    *low = lo < 0 ? 0 : lo;
    *high = hi > 1 ? 1 : hi;
    return CHURN_OK;
}

static void
finish(struct churn_outcome_stats *s, double treated_value_sum)
{
    s->treated_rate = s->control_rate = NAN;
    s->diff = s->diff_low = s->diff_high = NAN;
    s->treated_mean_value = s->treated ? treated_value_sum / (double)s->treated : 0;
    s->revenue_retained = 0;
    double l1 = 0, u1 = 0, l2 = 0, u2 = 0;
    if (s->treated) {
        s->treated_rate = (double)s->treated_retained / (double)s->treated;
        churn_wilson_interval(s->treated_retained, s->treated, &l1, &u1);
    }
    if (s->control) {
        s->control_rate = (double)s->control_retained / (double)s->control;
        churn_wilson_interval(s->control_retained, s->control, &l2, &u2);
    }
    if (!s->treated || !s->control)
        return;
    double p1 = s->treated_rate, p2 = s->control_rate;
    s->diff = p1 - p2;
    s->diff_low = s->diff - sqrt((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2));
    s->diff_high = s->diff + sqrt((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2));
    s->revenue_retained = s->diff * (double)s->treated * s->treated_mean_value;
}

enum churn_err
churn_outcomes_compute(const struct churn_outcome_record *records, size_t n,
                       struct churn_outcome_stats *out, size_t out_cap, size_t *n_out)
{
    for (size_t i = 0; i < n; i++) {
        const struct churn_outcome_record *r = &records[i];
        if (r->outcome < CHURN_OUTCOME_UNKNOWN || r->outcome > CHURN_OUTCOME_CHURNED ||
            !isfinite(r->value) || r->value < 0 ||
            !churn__terminated(r->playbook_id, sizeof(r->playbook_id)))
            return CHURN_EINVAL;
    }
    /* count the playbooks first, so @out is untouched when there are too many */
    const char **ids = churn_calloc(out_cap + 1, sizeof(*ids));
    if (!ids)
        return CHURN_ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!records[i].playbook_id[0])
            continue;
        size_t k = 0;
        while (k < m && strcmp(ids[k], records[i].playbook_id) != 0)
            k++;
        if (k == m) {
            if (m == out_cap) {
                churn_free(ids);
                return CHURN_ETOOBIG;
            }
            ids[m++] = records[i].playbook_id;
        }
    }
    churn_free(ids);
    m = 0;
    for (size_t i = 0; i < n; i++) {
        const struct churn_outcome_record *r = &records[i];
        if (!r->playbook_id[0])
            continue;
        size_t k = 0;
        while (k < m && strcmp(out[k].playbook_id, r->playbook_id) != 0)
            k++;
        if (k == m) {
            memset(&out[m], 0, sizeof(out[m]));
            memcpy(out[m].playbook_id, r->playbook_id, sizeof(out[m].playbook_id));
            /* treated_mean_value holds the running value sum until finish() */
            m++;
        }
        struct churn_outcome_stats *s = &out[k];
        if (r->outcome == CHURN_OUTCOME_UNKNOWN) {
            if (r->holdout)
                s->control_unknown++;
            else
                s->treated_unknown++;
            continue;
        }
        bool retained = r->outcome == CHURN_OUTCOME_RETAINED;
        if (r->holdout) {
            s->control++;
            s->control_retained += retained;
        } else {
            s->treated++;
            s->treated_retained += retained;
            s->treated_mean_value += r->value;
        }
    }
    for (size_t k = 0; k < m; k++)
        finish(&out[k], out[k].treated_mean_value);
    *n_out = m;
    return CHURN_OK;
}

enum churn_err
churn_outcome_encode(const struct churn_outcome_record *rec, uint8_t *out, size_t cap, size_t *len)
{
    if (!churn__terminated(rec->customer_id, sizeof(rec->customer_id)) ||
        !churn__terminated(rec->playbook_id, sizeof(rec->playbook_id)) || !rec->customer_id[0] ||
        rec->outcome < CHURN_OUTCOME_UNKNOWN || rec->outcome > CHURN_OUTCOME_CHURNED ||
        !isfinite(rec->value) || rec->value < 0)
        return CHURN_EINVAL;
    struct churn__wr w = {.p = out, .cap = cap};
    churn__wr_u8(&w, CHURN_OUTCOME_FORMAT_VERSION);
    churn__wr_str(&w, rec->customer_id);
    churn__wr_str(&w, rec->playbook_id);
    churn__wr_u8(&w, rec->holdout ? 1 : 0);
    churn__wr_u8(&w, (uint8_t)rec->outcome);
    churn__wr_f64(&w, rec->value);
    churn__wr_i64(&w, rec->recorded_ms);
    if (w.overflow)
        return CHURN_ETOOBIG;
    *len = w.len;
    return CHURN_OK;
}

enum churn_err
churn_outcome_decode(const uint8_t *data, size_t len, struct churn_outcome_record *rec)
{
    struct churn__rd r = {.p = data, .len = len};
    if (!data || len == 0 || churn__rd_u8(&r) != CHURN_OUTCOME_FORMAT_VERSION)
        return CHURN_ECORRUPT;
    struct churn_outcome_record o;
    memset(&o, 0, sizeof(o));
    churn__rd_str(&r, o.customer_id, sizeof(o.customer_id));
    churn__rd_str(&r, o.playbook_id, sizeof(o.playbook_id));
    uint8_t holdout = churn__rd_u8(&r);
    uint8_t outcome = churn__rd_u8(&r);
    o.value = churn__rd_f64(&r);
    o.recorded_ms = churn__rd_i64(&r);
    if (r.bad || r.off != r.len || holdout > 1 || outcome > CHURN_OUTCOME_CHURNED ||
        !o.customer_id[0] || o.value < 0)
        return CHURN_ECORRUPT;
    o.holdout = holdout;
    o.outcome = outcome;
    *rec = o;
    return CHURN_OK;
}
