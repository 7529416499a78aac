/*
 * report/gather.c - the figures of the report's "now" sections, from one walk over the
 * customers with their materialized scores (churn_snapshot_foreach_customer): active and lost
 * customers, the at-risk counts and revenue per tier and per risk x value cell, the share of
 * at-risk against all active customers by plan, segment, tenure and top reason (what the
 * at-risk have in common), the top customers by expected revenue at risk (a bounded min-heap),
 * and realised churn in the period by month and stated reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/features.h"
#include "churn/store.h"
#include "churn/segments.h"
#include "internal.h"

enum { DIM_PLAN, DIM_SEGMENT, DIM_TENURE, DIM_REASON };

static void
dim_count(struct churn__dim *d, const char *name, bool at_risk)
{
    size_t i = 0;
    while (i < d->n && strcmp(d->v[i].name, name) != 0)
        i++;
    if (i == d->n) {
        if (d->n < CHURN__DIM_VALUES) {
            snprintf(d->v[d->n].name, sizeof(d->v[d->n].name), "%s", name);
            d->n++;
        } else {
            i = CHURN__DIM_VALUES; /* "other" */
            snprintf(d->v[i].name, sizeof(d->v[i].name), "(other values)");
        }
    }
    d->v[i].all++;
    d->v[i].at_risk += at_risk;
}

static const char *
tenure_bucket(const struct churn_customer *rec, int64_t now_ms)
{
    int64_t since = rec->attrs.signup_ms > 0 ? rec->attrs.signup_ms : rec->first_seen_ms;
    if (since <= 0)
        return "unknown";
    int64_t days = (now_ms - since) / CHURN_MS_PER_DAY;
    return days < 90    ? "under 3 months"
           : days < 365 ? "3-12 months"
           : days < 730 ? "1-2 years"
                        : "2 years or more";
}

/* ---- the top customers: a min-heap on priority, the smallest at the root ---- */

static void
sift_down(struct churn__top *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].priority < h[m].priority)
            m = l;
        if (r < n && h[r].priority < h[m].priority)
            m = r;
        if (m == i)
            return;
        struct churn__top t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void
top_offer(struct churn__figures *f, const struct churn_customer *rec,
          const struct churn_snapshot_state *st)
{
    double prio = churn_priority(st->probability, st->value);
    if (f->top_cap == 0 || (f->n_top == f->top_cap && prio <= f->top[0].priority))
        return;
    struct churn__top t = {.probability = st->probability,
                           .value = st->value,
                           .priority = prio,
                           .risk = st->risk,
                           .value_tier = st->value_tier,
                           .top_feature = st->top_feature};
    snprintf(t.id, sizeof(t.id), "%s", rec->id);
    snprintf(t.plan, sizeof(t.plan), "%s", rec->attrs.plan);
    if (f->n_top < f->top_cap) { /* sift up */
        size_t i = f->n_top++;
        f->top[i] = t;
        while (i > 0 && f->top[(i - 1) / 2].priority > f->top[i].priority) {
            struct churn__top x = f->top[i];
            f->top[i] = f->top[(i - 1) / 2];
            f->top[(i - 1) / 2] = x;
            i = (i - 1) / 2;
        }
    } else {
        f->top[0] = t;
        sift_down(f->top, f->n_top, 0);
    }
}

static int
by_priority_desc(const void *a, const void *b)
{
    const struct churn__top *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? 1 : -1;
    return strcmp(x->id, y->id);
}

/* ---- realised churn by month and reason ---- */

static void
count_churn(struct churn__figures *f, const struct churn_customer *rec)
{
    int32_t day = churn_day_of_ms(rec->churned_at_ms);
    if (day < f->from_day || day > f->to_day)
        return;
    int32_t m = churn__month_of_day(day) - f->first_month;
    if (m < 0 || (size_t)m >= f->n_months)
        return;
    const char *why = rec->churn_reason[0] ? rec->churn_reason : "(no reason given)";
    size_t r = 0;
    while (r < f->n_reasons && strcmp(f->reasons[r], why) != 0)
        r++;
    if (r == f->n_reasons) {
        if (f->n_reasons < CHURN__REASONS)
            snprintf(f->reasons[f->n_reasons++], sizeof(f->reasons[0]), "%s", why);
        else
            r = CHURN__REASONS; /* "other reasons" */
    }
    f->churned[m][r]++;
    f->churned_total++;
}

/* ---- the walk ---- */

struct gather {
    struct churn__figures *f;
    const struct churn_feature_info *cat;
    int64_t now_ms;
};

static int
customer_cb(const struct churn_customer *rec, const struct churn_snapshot_state *st, void *user)
{
    struct gather *g = user;
    struct churn__figures *f = g->f;
    f->customers++;
    if (st)
        f->open_alerts += st->open_alerts;
    if (rec->churned_at_ms > 0) {
        f->lost++;
        count_churn(f, rec);
        return 0;
    }
    f->active++;
    if (!st || !st->has_score || st->risk < CHURN_TIER_LOW || st->risk > CHURN_TIER_HIGH)
        return 0;
    bool at_risk = st->risk >= CHURN_TIER_MEDIUM;
    double prio = churn_priority(st->probability, st->value);
    f->scored++;
    f->at_risk[st->risk]++;
    f->revenue_at_risk[st->risk] += prio;
    if (st->value_tier >= CHURN_TIER_LOW && st->value_tier <= CHURN_TIER_HIGH) {
        f->matrix[st->risk - 1][st->value_tier - 1]++;
        f->matrix_revenue[st->risk - 1][st->value_tier - 1] += prio;
    }
    dim_count(&f->dims[DIM_PLAN], rec->attrs.plan[0] ? rec->attrs.plan : "(no plan)", at_risk);
    dim_count(&f->dims[DIM_SEGMENT], rec->attrs.segment[0] ? rec->attrs.segment : "(no segment)",
              at_risk);
    dim_count(&f->dims[DIM_TENURE], tenure_bucket(rec, g->now_ms), at_risk);
    dim_count(&f->dims[DIM_REASON],
              st->top_feature >= 0 ? g->cat[st->top_feature].label : "(no positive reason)",
              at_risk);
    if (at_risk)
        top_offer(f, rec, st);
    return 0;
}

enum churn_err
churn__gather(struct churn_store *store, size_t top, struct churn__figures *f)
{
    static const char *const names[4] = {"plan", "segment", "tenure", "top reason"};
    for (int d = 0; d < 4; d++)
        f->dims[d].name = names[d];
    f->first_month = churn__month_of_day(f->from_day);
    int32_t last = churn__month_of_day(f->to_day);
    if (last - f->first_month + 1 > CHURN__MONTHS)
        f->first_month = last - CHURN__MONTHS + 1;
    f->n_months = (size_t)(last - f->first_month + 1);
    snprintf(f->reasons[CHURN__REASONS], sizeof(f->reasons[0]), "(other reasons)");
    f->top = top ? churn_calloc(top, sizeof(*f->top)) : NULL;
    if (top && !f->top)
        return CHURN_ENOMEM;
    f->top_cap = top;
    struct gather g = {f, churn_features_catalogue(), churn_now_ms()};
    enum churn_err err =
        churn_snapshot_foreach_customer(store, churn_snapshot_read_state, customer_cb, &g);
    qsort(f->top, f->n_top, sizeof(*f->top), by_priority_desc);
    return err;
}

void
churn__figures_fini(struct churn__figures *f)
{
    churn_free(f->top);
    f->top = NULL;
}
