/*
 * report/internal.h - what the files of the report module share: the page writer (a churn_buf
 * with a sticky error, raw and HTML-escaped text), the inline SVG charts, and the figures one
 * walk over the customers gathers for the sections. Nothing here is public API.
 */
#ifndef CHURN_REPORT_INTERNAL_H
#define CHURN_REPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/buf.h"
#include "churn/report.h"
#include "churn/snapshot.h"

/* ---- page.c ---- */

struct churn__page {
    struct churn_buf *out;
    enum churn_err err; /* the first failure; later writes are skipped */
};

/** churn__raw() - append markup written by this module (never data). */
void churn__raw(struct churn__page *p, const char *s);

/** churn__rawf() - formatted markup; only numbers and this module's strings as arguments. */
void churn__rawf(struct churn__page *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** churn__text() - append data as HTML text: & < > " ' escaped, control characters dropped. */
void churn__text(struct churn__page *p, const char *s);

/** churn__page_begin() - doctype, head with the inline style sheet, and the opening body. */
void churn__page_begin(struct churn__page *p, const char *title);

/** churn__page_end() - close the body and the document. */
void churn__page_end(struct churn__page *p);

/** churn__day_text() - "2026-12-07" for UTC day @day into @out (>= 11 bytes); returns @out. */
char *churn__day_text(int32_t day, char *out, size_t len);

/* ---- chart.c ---- */

struct churn__series {
    const char *name; /* this module's label, or data (escaped) */
    const double *v;  /* n values; NaN: no point */
};

/**
 * churn__chart_lines() - a line chart of @ns series over @n x positions labelled @xlabels
 * (first, middle and last are shown), titled @title, with the y axis from 0 to the largest
 * value. Wrapped in <figure class="chart" data-points="N">.
 */
void churn__chart_lines(struct churn__page *p, const char *title, const char *const *xlabels,
                        size_t n, const struct churn__series *s, size_t ns, const char *unit);

/**
 * churn__chart_bars() - a horizontal bar chart of @n labelled values (labels are data:
 * escaped), titled @title; negative values extend left of a zero line.
 */
void churn__chart_bars(struct churn__page *p, const char *title, const char *const *labels,
                       const double *v, size_t n, const char *unit);

/* ---- gather.c: one walk over the customers ---- */

#define CHURN__DIM_VALUES 48 /* distinct values kept per dimension; the rest count as "other" */
#define CHURN__REASONS    32 /* distinct churn reasons kept */
#define CHURN__MONTHS     121

struct churn__dim_value {
    char name[80];
    uint64_t all, at_risk;
};

struct churn__dim {
    const char *name; /* "plan", "segment", "tenure", "top reason" */
    struct churn__dim_value v[CHURN__DIM_VALUES + 1]; /* the last slot is "other" */
    size_t n;
};

struct churn__top {
    char id[CHURN_ALERT_ID_MAX];
    char plan[80];
    double probability, value, priority;
    enum churn_tier risk, value_tier;
    int top_feature;
};

struct churn__figures {
    int32_t from_day, to_day;
    uint64_t customers, lost, active, scored, at_risk[4];
    double revenue_at_risk[4];
    uint64_t matrix[3][3]; /* [risk - 1][value - 1], scored active customers */
    double matrix_revenue[3][3];
    uint64_t open_alerts;
    struct churn__dim dims[4];
    /* the top at-risk customers by priority: a min-heap while gathering, sorted after */
    struct churn__top *top;
    size_t n_top, top_cap;
    /* realised churn in the period by month and reason */
    int32_t first_month; /* months since 1970-01 of the period's first month */
    size_t n_months;
    char reasons[CHURN__REASONS + 1][80]; /* the last slot: "other reasons" */
    size_t n_reasons;
    uint64_t churned[CHURN__MONTHS][CHURN__REASONS + 1];
    uint64_t churned_total;
};

/**
 * churn__gather() - walk every customer of @store once (churn_snapshot_foreach_customer) and
 * fill @f for the period @f->from_day..@f->to_day (set by the caller, bounded) with room for
 * @top customers (@f->top allocated here; free with churn__figures_fini()).
 */
enum churn_err churn__gather(struct churn_store *store, size_t top, struct churn__figures *f);

void churn__figures_fini(struct churn__figures *f);

/** churn__month_text() - "2026-12" for month index @m (months since 1970-01). */
char *churn__month_text(int32_t m, char *out, size_t len);

/** churn__month_of_day() - months since 1970-01 of UTC day @day. */
int32_t churn__month_of_day(int32_t day);

#endif
