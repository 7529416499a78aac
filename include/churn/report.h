/*
 * churn/report.h - the retention report a manager forwards (issue 15): one self-contained
 * HTML page (inline CSS and SVG charts, no script and no external resource, printable) built
 * from a store: summary KPIs, the trends of the daily aggregate snapshots (churn/snapshot.h),
 * segment analysis of the customers at risk now (what they have in common, against all active
 * customers), the top at-risk customers, realised churn reasons over time, playbook outcomes
 * with their holdouts, and model quality from the model registry. `churnctl report html`
 * writes it to a file; the dashboard's /report page serves the same bytes.
 *
 * Every text that comes from data (customer ids, plans, segments, reasons, playbook ids) is
 * HTML-escaped. Reading is done with ordinary store calls, so churnd may keep running.
 */
#ifndef CHURN_REPORT_H
#define CHURN_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "churn/alerts.h"
#include "churn/outcomes.h"
#include "churn/buf.h"
#include "churn/error.h"

struct churn_store;

#define CHURN_REPORT_TOP_DEFAULT 20
#define CHURN_REPORT_TOP_MAX     1000
#define CHURN_REPORT_PLAYBOOKS   256

struct churn_report_options {
    int32_t from_day; /* UTC day numbers, inclusive; INT32_MIN / INT32_MAX: no bound */
    int32_t to_day;
    int64_t now_ms;    /* "generated at", and the age of scores (0: churn_now_ms()) */
    const char *title; /* NULL: "Customer retention report" */
    size_t top;        /* at-risk customers listed (default 20, at most 1000) */
};

/** churn_report_options_default() - no period bounds, now, the default title and top. */
void churn_report_options_default(struct churn_report_options *o);

/* struct churn_report_outcomes - the playbook experiments of a store's outcome log. */
struct churn_report_outcomes {
    struct churn_outcome_stats stats[CHURN_REPORT_PLAYBOOKS];
    size_t n;          /* playbooks */
    size_t outcomes;   /* latest outcome per customer and playbook */
    size_t superseded; /* replaced by a later outcome of the same customer and playbook */
    size_t untied;     /* outcomes without a playbook (no alert): left out */
    size_t corrupt;    /* undecodable entries: left out */
};

/**
 * churn_report_outcomes() - read the outcome log of @store, keep the latest outcome per
 * customer and playbook, and compute each playbook's treated-versus-control statistics
 * (churn_outcomes_compute()) into @out. Errors: the store's; CHURN_ETOOBIG over
 * CHURN_REPORT_PLAYBOOKS playbooks; CHURN_ENOMEM.
 */
enum churn_err churn_report_outcomes(struct churn_store *store, struct churn_report_outcomes *out);

/**
 * churn_report_render() - append the report of @store for @o to @out (its cap bounds the
 * page). Errors with a message in @err: CHURN_EINVAL for options out of range (the message
 * names them), CHURN_ETOOBIG when @out's cap is reached, the store's errors, CHURN_ENOMEM.
 * Seconds per million customers (one walk over the records).
 */
enum churn_err churn_report_render(struct churn_store *store, const struct churn_report_options *o,
                                   struct churn_buf *out, char *err, size_t errlen);

#endif
