/*
 * snapshot.c - the pure half of the daily aggregate snapshot (churn/snapshot.h): starting a
 * day, counting scores, alert revisions and churn into it, the versioned encoding of the
 * stored list of days (the module's bounded writer and reader) and merging a new day into
 * the list with retention. No I/O: src/engine/snapshot.c walks the store and stores the list.
 */
#include "churn/snapshot.h"

#include <math.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/store.h" /* churn_day_of_ms(), a pure function */
#include "churn/segments.h"
#include "internal.h"

/* The bytes of one encoded day (fixed size: the list's length tells the count). */
#define DAY_ENCODED (4 + 8 + 8 + 8 + 8 + 8 + 4 * 8 + 4 * 8 + 8 + 8 * 5)

void
churn_daily_snapshot_start(struct churn_daily_snapshot *s, int64_t now_ms, int64_t from_ms)
{
    memset(s, 0, sizeof(*s));
    s->day = churn_day_of_ms(now_ms);
    s->taken_at_ms = now_ms;
    s->from_ms = from_ms;
}

bool
churn_daily_snapshot_add_score(struct churn_daily_snapshot *s, enum churn_tier risk, double p,
                               double value)
{
    if (risk < CHURN_TIER_LOW || risk > CHURN_TIER_HIGH)
        return false;
    s->scored++;
    s->at_risk[risk]++;
    s->revenue_at_risk[risk] += churn_priority(p, value);
    return true;
}

static bool
in_window(const struct churn_daily_snapshot *s, int64_t t)
{
    return t > s->from_ms && t <= s->taken_at_ms;
}

void
churn_daily_snapshot_add_revision(struct churn_daily_snapshot *s, const struct churn_alert *a)
{
    if (!in_window(s, a->updated_ms))
        return;
    if (a->change == CHURN_CHANGE_RAISED) {
        s->alerts_raised++;
        if (a->cause == CHURN_CAUSE_CHAT_ESCALATION || a->cause == CHURN_CAUSE_CHURN_INTENT)
            s->escalations++;
    } else if (a->change == CHURN_CHANGE_CLOSED) {
        s->alerts_closed++;
    }
}

void
churn_daily_snapshot_add_churn(struct churn_daily_snapshot *s, int64_t churned_at_ms)
{
    if (churned_at_ms > 0 && in_window(s, churned_at_ms))
        s->churned++;
}

double
churn_daily_snapshot_revenue_at_risk(const struct churn_daily_snapshot *s)
{
    return s->revenue_at_risk[CHURN_TIER_LOW] + s->revenue_at_risk[CHURN_TIER_MEDIUM] +
           s->revenue_at_risk[CHURN_TIER_HIGH];
}

uint64_t
churn_daily_snapshot_at_risk(const struct churn_daily_snapshot *s)
{
    return s->at_risk[CHURN_TIER_MEDIUM] + s->at_risk[CHURN_TIER_HIGH];
}

/* ---- encoding ---------------------------------------------------------------------------- */

static void
day_encode(struct churn__wr *w, const struct churn_daily_snapshot *s)
{
    churn__wr_u32(w, (uint32_t)s->day);
    churn__wr_i64(w, s->taken_at_ms);
    churn__wr_i64(w, s->from_ms);
    churn__wr_u64(w, s->customers);
    churn__wr_u64(w, s->lost);
    churn__wr_u64(w, s->scored);
    for (int t = 0; t < 4; t++)
        churn__wr_u64(w, s->at_risk[t]);
    for (int t = 0; t < 4; t++)
        churn__wr_f64(w, s->revenue_at_risk[t]);
    churn__wr_u64(w, s->open_alerts);
    churn__wr_u64(w, s->alerts_raised);
    churn__wr_u64(w, s->alerts_closed);
    churn__wr_u64(w, s->escalations);
    churn__wr_u64(w, s->churned);
    churn__wr_u64(w, s->alert_seq);
}

static void
day_decode(struct churn__rd *r, struct churn_daily_snapshot *s)
{
    s->day = (int32_t)churn__rd_u32(r);
    s->taken_at_ms = churn__rd_i64(r);
    s->from_ms = churn__rd_i64(r);
    s->customers = churn__rd_u64(r);
    s->lost = churn__rd_u64(r);
    s->scored = churn__rd_u64(r);
    for (int t = 0; t < 4; t++)
        s->at_risk[t] = churn__rd_u64(r);
    for (int t = 0; t < 4; t++)
        s->revenue_at_risk[t] = churn__rd_f64(r);
    s->open_alerts = churn__rd_u64(r);
    s->alerts_raised = churn__rd_u64(r);
    s->alerts_closed = churn__rd_u64(r);
    s->escalations = churn__rd_u64(r);
    s->churned = churn__rd_u64(r);
    s->alert_seq = churn__rd_u64(r);
}

static bool
ascending(const struct churn_daily_snapshot *days, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (days[i].day <= days[i - 1].day)
            return false;
    return true;
}

enum churn_err
churn_daily_list_encode(const struct churn_daily_snapshot *days, size_t n, uint8_t **out,
                        size_t *len)
{
    if (!ascending(days, n) || n > CHURN_SNAPSHOT_KEEP_DAYS_MAX)
        return CHURN_EINVAL;
    size_t cap = 1 + n * DAY_ENCODED;
    uint8_t *buf = churn_malloc(cap);
    if (!buf)
        return CHURN_ENOMEM;
    struct churn__wr w = {.p = buf, .cap = cap};
    churn__wr_u8(&w, CHURN_DAILY_FORMAT_VERSION);
    for (size_t i = 0; i < n; i++)
        day_encode(&w, &days[i]);
    if (w.overflow || w.len != cap) {
        churn_free(buf);
        return CHURN_EINVAL;
    }
    *out = buf;
    *len = w.len;
    return CHURN_OK;
}

enum churn_err
churn_daily_list_decode(const uint8_t *data, size_t len, struct churn_daily_snapshot **out,
                        size_t *n)
{
    if (len < 1 || data[0] != CHURN_DAILY_FORMAT_VERSION || (len - 1) % DAY_ENCODED != 0)
        return CHURN_ECORRUPT;
    size_t count = (len - 1) / DAY_ENCODED;
    struct churn_daily_snapshot *days = count ? churn_calloc(count, sizeof(*days)) : NULL;
    if (count && !days)
        return CHURN_ENOMEM;
    struct churn__rd r = {.p = data, .len = len, .off = 1};
    for (size_t i = 0; i < count; i++)
        day_decode(&r, &days[i]);
    if (r.bad || r.off != len || !ascending(days, count)) {
        churn_free(days);
        return CHURN_ECORRUPT;
    }
    *out = days;
    *n = count;
    return CHURN_OK;
}

enum churn_err
churn_daily_list_merge(struct churn_daily_snapshot **days, size_t *n,
                       const struct churn_daily_snapshot *s, unsigned keep_days)
{
    if (keep_days == 0 || keep_days > CHURN_SNAPSHOT_KEEP_DAYS_MAX)
        return CHURN_EINVAL;
    struct churn_daily_snapshot *d = *days;
    size_t count = *n, at = 0;
    while (at < count && d[at].day < s->day)
        at++;
    if (at == count || d[at].day != s->day) { /* a new day: make room at @at */
        struct churn_daily_snapshot *p = churn_realloc(d, (count + 1) * sizeof(*d));
        if (!p)
            return CHURN_ENOMEM;
        d = p;
        memmove(&d[at + 1], &d[at], (count - at) * sizeof(*d));
        count++;
    }
    d[at] = *s;
    /* retention: the oldest day kept is s->day - keep_days + 1 */
    int64_t oldest = (int64_t)s->day - keep_days + 1;
    size_t drop = 0;
    while (drop < count && d[drop].day < oldest)
        drop++;
    memmove(d, d + drop, (count - drop) * sizeof(*d));
    *days = d;
    *n = count - drop;
    return CHURN_OK;
}
