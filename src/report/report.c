/*
 * report/report.c - churn_report_render(): the retention report's sections in order, each from
 * its own source: the summary KPIs (the customers now, the period's daily snapshots and
 * realised churn), the trends (daily snapshots), the segment analysis and top at-risk
 * customers (one walk over the customers, gather.c), realised churn reasons by month, the
 * playbook experiments (outcome log, with holdouts) and model quality (the model registry).
 * A section without data says so in words instead of drawing an empty chart.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/features.h"
#include "churn/registry.h"
#include "churn/store.h"
#include "churn/outcomes.h"
#include "internal.h"

#define DEFAULT_TITLE "Customer retention report"
#define PERIOD_DAYS   365 /* without --from: this many days up to the end */

void
churn_report_options_default(struct churn_report_options *o)
{
    memset(o, 0, sizeof(*o));
    o->from_day = INT32_MIN;
    o->to_day = INT32_MAX;
    o->top = CHURN_REPORT_TOP_DEFAULT;
}

struct report {
    struct churn__page p;
    const struct churn_report_options *o;
    int64_t now_ms;
    struct churn__figures f;
    struct churn_daily_snapshot *days;
    size_t n_days;
    struct churn_report_outcomes *outcomes;
    struct churn_registry_view *models;
};

static const char *
money(double v, char *out, size_t len)
{
    snprintf(out, len, "%.0f", v);
    return out;
}

/* ---- summary --------------------------------------------------------------------------- */

static void
kpi(struct report *r, const char *label, const char *value)
{
    churn__raw(&r->p, "<div class=\"kpi\"><b>");
    churn__text(&r->p, value);
    churn__raw(&r->p, "</b><span>");
    churn__text(&r->p, label);
    churn__raw(&r->p, "</span></div>");
}

static void
kpi_u(struct report *r, const char *label, uint64_t v)
{
    char t[32];
    snprintf(t, sizeof(t), "%llu", (unsigned long long)v);
    kpi(r, label, t);
}

static void
section_summary(struct report *r)
{
    const struct churn__figures *f = &r->f;
    uint64_t raised = 0, escalations = 0, closed = 0;
    for (size_t i = 0; i < r->n_days; i++) {
        raised += r->days[i].alerts_raised;
        escalations += r->days[i].escalations;
        closed += r->days[i].alerts_closed;
    }
    char t[64];
    churn__raw(&r->p, "<section id=\"summary\"><h2>Summary</h2><div class=\"kpis\">");
    kpi_u(r, "active customers", f->active);
    kpi_u(r, "at high risk", f->at_risk[CHURN_TIER_HIGH]);
    kpi_u(r, "at medium risk", f->at_risk[CHURN_TIER_MEDIUM]);
    kpi(r, "expected revenue at risk (high + medium)",
        money(f->revenue_at_risk[CHURN_TIER_HIGH] + f->revenue_at_risk[CHURN_TIER_MEDIUM], t,
              sizeof(t)));
    kpi_u(r, "open alerts", f->open_alerts);
    kpi_u(r, "customers lost in the period", f->churned_total);
    snprintf(t, sizeof(t), "%.1f%%",
             f->active + f->churned_total
                 ? 100.0 * (double)f->active / (double)(f->active + f->churned_total)
                 : 100.0);
    kpi(r, "retained over the period (active / active + lost in it)", t);
    kpi_u(r, "alerts raised in the period", raised);
    kpi_u(r, "chat escalations in the period", escalations);
    kpi_u(r, "alerts closed in the period", closed);
    churn__raw(&r->p, "</div>");
    churn__rawf(&r->p,
                "<p class=\"note\">Customers now: %llu (%llu lost). Risk counts are the latest "
                "materialized scores of customers not lost; period counts come from %zu daily "
                "snapshot%s.</p></section>\n",
                (unsigned long long)f->customers, (unsigned long long)f->lost, r->n_days,
                r->n_days == 1 ? "" : "s");
}

/* ---- trends ---------------------------------------------------------------------------- */

static void
section_trends(struct report *r)
{
    churn__raw(&r->p, "<section id=\"trends\"><h2>Trends</h2>");
    size_t n = r->n_days;
    if (n == 0) {
        churn__raw(&r->p, "<p class=\"empty\">No daily snapshot in this period: churnd takes one "
                          "at the end of the first sweep of each day.</p></section>\n");
        return;
    }
    char(*labels)[12] = churn_calloc(n, sizeof(*labels));
    const char **xl = churn_calloc(n, sizeof(*xl));
    double *v = churn_calloc(6 * n, sizeof(*v));
    if (!labels || !xl || !v) {
        r->p.err = CHURN_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct churn_daily_snapshot *d = &r->days[i];
        xl[i] = churn__day_text(d->day, labels[i], sizeof(labels[i]));
        v[i] = (double)d->at_risk[CHURN_TIER_HIGH];
        v[n + i] = (double)d->at_risk[CHURN_TIER_MEDIUM];
        v[2 * n + i] = d->revenue_at_risk[CHURN_TIER_HIGH] + d->revenue_at_risk[CHURN_TIER_MEDIUM];
        v[3 * n + i] = (double)d->churned;
        v[4 * n + i] = (double)d->alerts_raised;
        v[5 * n + i] = (double)d->escalations;
    }
    struct churn__series risk[] = {{"high risk", v}, {"medium risk", v + n}};
    churn__chart_lines(&r->p, "Customers at risk per day", xl, n, risk, 2, "");
    struct churn__series rev[] = {{"expected revenue at risk (high + medium)", v + 2 * n}};
    churn__chart_lines(&r->p, "Expected revenue at risk per day", xl, n, rev, 1, "");
    struct churn__series flow[] = {{"realised churn", v + 3 * n},
                                   {"alerts raised", v + 4 * n},
                                   {"chat escalations", v + 5 * n}};
    churn__chart_lines(&r->p, "Realised churn and alerts per day", xl, n, flow, 3, "");
out:
    churn_free(labels);
    churn_free(xl);
    churn_free(v);
    churn__raw(&r->p, "</section>\n");
}

/* ---- segments -------------------------------------------------------------------------- */

static void
matrix_table(struct report *r)
{
    static const char *const tier[3] = {"low", "medium", "high"};
    char t[32];
    churn__raw(&r->p, "<h3>Risk x value</h3><table><tr><th>risk \\ value</th>");
    for (int vt = 2; vt >= 0; vt--)
        churn__rawf(&r->p,
                    "<th class=\"n\">%s value: customers</th><th class=\"n\">revenue at "
                    "risk</th>",
                    tier[vt]);
    churn__raw(&r->p, "</tr>");
    for (int rt = 2; rt >= 0; rt--) {
        churn__rawf(&r->p, "<tr><th>%s risk</th>", tier[rt]);
        for (int vt = 2; vt >= 0; vt--)
            churn__rawf(&r->p, "<td class=\"n\">%llu</td><td class=\"n\">%s</td>",
                        (unsigned long long)r->f.matrix[rt][vt],
                        money(r->f.matrix_revenue[rt][vt], t, sizeof(t)));
        churn__raw(&r->p, "</tr>");
    }
    churn__raw(&r->p, "</table>");
}

struct trait {
    const char *dim;
    const struct churn__dim_value *v;
    double lift;
};

static int
by_lift(const void *a, const void *b)
{
    const struct trait *x = a, *y = b;
    if (x->lift != y->lift)
        return x->lift < y->lift ? 1 : -1;
    return x->v->at_risk < y->v->at_risk ? 1 : x->v->at_risk > y->v->at_risk ? -1 : 0;
}

/* What the at-risk have in common: values over-represented among them (lift > 1). */
static void
traits_table(struct report *r, uint64_t at_risk)
{
    struct trait t[4 * (CHURN__DIM_VALUES + 1)];
    size_t n = 0;
    for (int d = 0; d < 4; d++) {
        const struct churn__dim *dim = &r->f.dims[d];
        for (size_t i = 0; i <= CHURN__DIM_VALUES; i++) {
            const struct churn__dim_value *v = &dim->v[i];
            if ((i < dim->n || (i == CHURN__DIM_VALUES && v->all)) && v->at_risk >= 3)
                t[n++] = (struct trait){dim->name, v,
                                        ((double)v->at_risk / (double)at_risk) /
                                            ((double)v->all / (double)r->f.scored)};
        }
    }
    qsort(t, n, sizeof(*t), by_lift);
    churn__raw(&r->p, "<h3>What the customers at risk have in common</h3>");
    if (n == 0) {
        churn__raw(&r->p, "<p class=\"empty\">Too few customers at risk to compare.</p>");
        return;
    }
    churn__raw(&r->p, "<table><tr><th>trait</th><th>value</th><th class=\"n\">at risk</th>"
                      "<th class=\"n\">share of at-risk</th><th class=\"n\">share of all</th>"
                      "<th class=\"n\">lift</th></tr>");
    for (size_t i = 0; i < n && i < 12; i++) {
        churn__rawf(&r->p, "<tr><td>%s</td><td>", t[i].dim);
        churn__text(&r->p, t[i].v->name);
        churn__rawf(&r->p,
                    "</td><td class=\"n\">%llu</td><td class=\"n\">%.1f%%</td><td "
                    "class=\"n\">%.1f%%</td><td class=\"n\">%.2fx</td></tr>",
                    (unsigned long long)t[i].v->at_risk,
                    100.0 * (double)t[i].v->at_risk / (double)at_risk,
                    100.0 * (double)t[i].v->all / (double)r->f.scored, t[i].lift);
    }
    churn__raw(&r->p, "</table><p class=\"note\">Lift: how much more common a trait is among the "
                      "customers at medium or high risk than among all scored active customers; "
                      "traits held by at least 3 at-risk customers.</p>");
}

static void
reasons_chart(struct report *r)
{
    const struct churn__dim *d = &r->f.dims[3];
    const char *labels[CHURN__DIM_VALUES + 1];
    double v[CHURN__DIM_VALUES + 1];
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].at_risk) {
            labels[n] = d->v[i].name;
            v[n++] = (double)d->v[i].at_risk;
        }
    for (size_t i = 1; i < n; i++) /* insertion sort, largest first */
        for (size_t k = i; k > 0 && v[k] > v[k - 1]; k--) {
            double tv = v[k];
            v[k] = v[k - 1];
            v[k - 1] = tv;
            const char *tl = labels[k];
            labels[k] = labels[k - 1];
            labels[k - 1] = tl;
        }
    churn__chart_bars(&r->p, "Top reason of each customer at risk (largest contribution)", labels,
                      v, n < 10 ? n : 10, "");
}

static void
section_segments(struct report *r)
{
    uint64_t at_risk = r->f.at_risk[CHURN_TIER_HIGH] + r->f.at_risk[CHURN_TIER_MEDIUM];
    churn__raw(&r->p, "<section id=\"segments\"><h2>Segment analysis of customers at risk</h2>");
    if (r->f.scored == 0) {
        churn__raw(&r->p, "<p class=\"empty\">No customer has a materialized score yet: churnd "
                          "scores every customer in its sweep.</p></section>\n");
        return;
    }
    matrix_table(r);
    if (at_risk)
        reasons_chart(r);
    traits_table(r, at_risk ? at_risk : 1);
    churn__raw(&r->p, "</section>\n");
}

static void
section_top(struct report *r)
{
    const struct churn_feature_info *cat = churn_features_catalogue();
    churn__rawf(&r->p, "<section id=\"top\"><h2>Top %zu customers at risk</h2>", r->f.n_top);
    if (r->f.n_top == 0) {
        churn__raw(&r->p, "<p class=\"empty\">No customer at medium or high risk.</p></section>\n");
        return;
    }
    churn__raw(&r->p, "<table><tr><th>customer</th><th>plan</th><th>risk</th><th class=\"n\">"
                      "P(churn)</th><th class=\"n\">value</th><th class=\"n\">revenue at risk</th>"
                      "<th>top reason</th></tr>");
    char t[32];
    for (size_t i = 0; i < r->f.n_top; i++) {
        const struct churn__top *c = &r->f.top[i];
        churn__raw(&r->p, "<tr><td>");
        churn__text(&r->p, c->id);
        churn__raw(&r->p, "</td><td>");
        churn__text(&r->p, c->plan);
        churn__rawf(&r->p, "</td><td>%s</td><td class=\"n\">%.2f</td><td class=\"n\">%s</td>",
                    churn_tier_name(c->risk), c->probability, money(c->value, t, sizeof(t)));
        churn__rawf(&r->p, "<td class=\"n\">%s</td><td>", money(c->priority, t, sizeof(t)));
        churn__text(&r->p, c->top_feature >= 0 ? cat[c->top_feature].label : "-");
        churn__raw(&r->p, "</td></tr>");
    }
    churn__raw(&r->p, "</table></section>\n");
}

/* ---- churn reasons over time ------------------------------------------------------------ */

static void
section_churn_reasons(struct report *r)
{
    const struct churn__figures *f = &r->f;
    churn__raw(&r->p, "<section id=\"churn\"><h2>Realised churn and its reasons over time</h2>");
    if (f->churned_total == 0) {
        churn__raw(&r->p, "<p class=\"empty\">No customer churned in this period.</p></section>\n");
        return;
    }
    /* the five most frequent reasons as series over the months */
    size_t order[CHURN__REASONS + 1], nr = f->n_reasons + 1;
    uint64_t total[CHURN__REASONS + 1] = {0};
    for (size_t k = 0; k < nr; k++) {
        order[k] = k < f->n_reasons ? k : CHURN__REASONS;
        for (size_t m = 0; m < f->n_months; m++)
            total[k] += f->churned[m][order[k]];
    }
    for (size_t i = 1; i < nr; i++)
        for (size_t k = i; k > 0 && total[k] > total[k - 1]; k--) {
            uint64_t tt = total[k];
            total[k] = total[k - 1];
            total[k - 1] = tt;
            size_t to = order[k];
            order[k] = order[k - 1];
            order[k - 1] = to;
        }
    size_t ns = 0;
    while (ns < nr && ns < 5 && total[ns])
        ns++;
    char(*labels)[12] = churn_calloc(f->n_months, sizeof(*labels));
    const char **xl = churn_calloc(f->n_months, sizeof(*xl));
    double *v = churn_calloc(ns * f->n_months + 1, sizeof(*v));
    if (!labels || !xl || !v) {
        r->p.err = CHURN_ENOMEM;
        goto out;
    }
    struct churn__series s[5];
    for (size_t m = 0; m < f->n_months; m++)
        xl[m] = churn__month_text(f->first_month + (int32_t)m, labels[m], sizeof(labels[m]));
    for (size_t k = 0; k < ns; k++) {
        s[k] = (struct churn__series){f->reasons[order[k]], v + k * f->n_months};
        for (size_t m = 0; m < f->n_months; m++)
            v[k * f->n_months + m] = (double)f->churned[m][order[k]];
    }
    churn__chart_lines(&r->p, "Customers lost per month, by stated reason", xl, f->n_months, s, ns,
                       "");
    churn__raw(&r->p, "<table><tr><th>reason</th><th class=\"n\">customers lost</th>"
                      "<th class=\"n\">share</th></tr>");
    for (size_t k = 0; k < nr && k < 10 && total[k]; k++) {
        churn__raw(&r->p, "<tr><td>");
        churn__text(&r->p, f->reasons[order[k]]);
        churn__rawf(&r->p, "</td><td class=\"n\">%llu</td><td class=\"n\">%.1f%%</td></tr>",
                    (unsigned long long)total[k],
                    100.0 * (double)total[k] / (double)f->churned_total);
    }
    churn__raw(&r->p, "</table>");
out:
    churn_free(labels);
    churn_free(xl);
    churn_free(v);
    churn__raw(&r->p, "</section>\n");
}

/* ---- playbooks -------------------------------------------------------------------------- */

static void
pp(struct report *r, double v)
{
    if (isfinite(v))
        churn__rawf(&r->p, "%+.1f", 100 * v);
    else
        churn__raw(&r->p, "n/a");
}

static void
section_playbooks(struct report *r)
{
    const struct churn_report_outcomes *o = r->outcomes;
    churn__raw(&r->p, "<section id=\"playbooks\"><h2>Playbook outcomes against their "
                      "holdouts</h2>");
    if (o->n == 0) {
        churn__raw(&r->p, "<p class=\"empty\">No outcome recorded against a playbook's alert "
                          "yet (RecordOutcome).</p></section>\n");
        return;
    }
    churn__raw(&r->p, "<table><tr><th>playbook</th><th class=\"n\">treated kept / decided</th>"
                      "<th class=\"n\">control kept / decided</th><th class=\"n\">difference "
                      "(pp)</th><th class=\"n\">95% CI (pp)</th><th class=\"n\">revenue "
                      "retained</th></tr>");
    const char *labels[CHURN_REPORT_PLAYBOOKS];
    double diff[CHURN_REPORT_PLAYBOOKS];
    char t[32];
    for (size_t i = 0; i < o->n; i++) {
        const struct churn_outcome_stats *s = &o->stats[i];
        labels[i] = s->playbook_id;
        diff[i] = isfinite(s->diff) ? 100 * s->diff : NAN;
        churn__raw(&r->p, "<tr><td>");
        churn__text(&r->p, s->playbook_id);
        churn__rawf(&r->p,
                    "</td><td class=\"n\">%llu / %llu</td><td class=\"n\">%llu / %llu</td>"
                    "<td class=\"n\">",
                    (unsigned long long)s->treated_retained,
                    (unsigned long long)(s->treated - s->treated_unknown),
                    (unsigned long long)s->control_retained,
                    (unsigned long long)(s->control - s->control_unknown));
        pp(r, s->diff);
        churn__raw(&r->p, "</td><td class=\"n\">[");
        pp(r, s->diff_low);
        churn__raw(&r->p, ", ");
        pp(r, s->diff_high);
        churn__rawf(&r->p, "]</td><td class=\"n\">%s</td></tr>",
                    money(s->revenue_retained, t, sizeof(t)));
    }
    churn__raw(&r->p, "</table>");
    churn__chart_bars(&r->p, "Retention of treated minus control customers (percentage points)",
                      labels, diff, o->n, " pp");
    churn__rawf(&r->p,
                "<p class=\"note\">%zu outcomes (the latest per customer and playbook; %zu "
                "without a playbook left out). Control customers are the playbook's holdout: "
                "alerted, never acted on. Interval: Newcombe's hybrid score method.</p>"
                "</section>\n",
                o->outcomes, o->untied);
}

/* ---- model quality ---------------------------------------------------------------------- */

static void
section_models(struct report *r)
{
    const struct churn_registry_view *v = r->models;
    churn__raw(&r->p, "<section id=\"models\"><h2>Model quality</h2>");
    const char *labels[CHURN_REGISTRY_MAX_MODELS];
    double auc[CHURN_REGISTRY_MAX_MODELS];
    size_t n = 0;
    if (v)
        for (size_t i = 0; i < v->n_models; i++)
            if (v->models[i].backtest.present) {
                labels[n] = v->models[i].file.version;
                auc[n++] = v->models[i].backtest.auc;
            }
    if (!v || v->n_models == 0) {
        churn__raw(&r->p, "<p class=\"empty\">No model registered in this store.</p></section>\n");
        return;
    }
    churn__raw(&r->p, "<table><tr><th>model</th><th>served</th><th>registered</th>"
                      "<th class=\"n\">backtest AUC</th><th class=\"n\">PR-AUC</th>"
                      "<th class=\"n\">mean predicted / realised churn</th><th class=\"n\">"
                      "horizon (days)</th></tr>");
    char t[12];
    for (size_t i = v->n_models; i-- > 0;) {
        const struct churn_registry_entry *e = &v->models[i];
        const struct churn_backtest_figures *b = &e->backtest;
        churn__raw(&r->p, "<tr><td>");
        churn__text(&r->p, e->file.version);
        churn__rawf(&r->p, "</td><td>%s</td><td>%s</td>", e->id == v->served_id ? "yes" : "",
                    churn__day_text(churn_day_of_ms(e->registered_at_ms), t, sizeof(t)));
        if (b->present)
            churn__rawf(&r->p,
                        "<td class=\"n\">%.3f</td><td class=\"n\">%.3f</td><td class=\"n\">%.3f "
                        "/ %.3f (%.2fx)</td><td class=\"n\">%d</td></tr>",
                        b->auc, b->pr_auc, b->mean_predicted, b->realised_rate,
                        b->realised_rate > 0 ? b->mean_predicted / b->realised_rate : NAN,
                        b->horizon_days);
        else
            churn__raw(&r->p, "<td colspan=\"4\" class=\"note\">not backtested</td></tr>");
    }
    churn__raw(&r->p, "</table>");
    churn__chart_bars(&r->p, "Backtest AUC by model (0.5 is chance)", labels, auc, n, "");
    churn__raw(&r->p, "<p class=\"note\">Calibration: the mean predicted probability against the "
                      "churn rate realised in the backtest window (1.00x is calibrated).</p>"
                      "</section>\n");
}

/* ---- the page ------------------------------------------------------------------------- */

static enum churn_err
period(struct report *r, struct churn_store *store, char *err, size_t errlen)
{
    const struct churn_report_options *o = r->o;
    int32_t today = churn_day_of_ms(r->now_ms);
    int32_t to = o->to_day == INT32_MAX ? today : o->to_day;
    int32_t from = o->from_day == INT32_MIN ? to - PERIOD_DAYS + 1 : o->from_day;
    if (from > to)
        return churn_fail(err, errlen, CHURN_EINVAL, "the period starts (from) after it ends (to)");
    r->f.from_day = from;
    r->f.to_day = to;
    enum churn_err e = churn_snapshot_list(store, from, to, &r->days, &r->n_days);
    if (e)
        return churn_fail(err, errlen, e, "reading the daily snapshots: %s",
                          e == CHURN_ECORRUPT ? "the stored list is damaged"
                                              : churn_store_last_error());
    return CHURN_OK;
}

static enum churn_err
load(struct report *r, struct churn_store *store, char *err, size_t errlen)
{
    enum churn_err e = period(r, store, err, errlen);
    if (!e && (e = churn__gather(store, r->o->top, &r->f)))
        return churn_fail(err, errlen, e, "reading the customers: %s", churn_store_last_error());
    r->outcomes = churn_calloc(1, sizeof(*r->outcomes));
    if (!e && !r->outcomes)
        e = CHURN_ENOMEM;
    if (!e && (e = churn_report_outcomes(store, r->outcomes)))
        return churn_fail(err, errlen, e, "reading the outcomes: %s", churn_strerror(e));
    struct churn_registry *reg = NULL;
    char msg[256];
    if (!e && churn_registry_open(store, &reg, msg, sizeof(msg)) == CHURN_OK) {
        r->models = churn_malloc(sizeof(*r->models));
        if (r->models)
            churn_registry_snapshot(reg, r->models);
        churn_registry_close(reg);
    }
    return e;
}

static void
header(struct report *r)
{
    char a[12], b[12], now[40];
    churn__raw(&r->p, "<header><h1>");
    churn__text(&r->p, r->o->title ? r->o->title : DEFAULT_TITLE);
    churn__rawf(&r->p,
                "</h1><p class=\"meta\">Period %s to %s (UTC) &middot; generated %s by "
                "churnd</p></header>\n",
                churn__day_text(r->f.from_day, a, sizeof(a)),
                churn__day_text(r->f.to_day, b, sizeof(b)),
                churn_format_time_ms(r->now_ms, now, sizeof(now)));
}

enum churn_err
churn_report_render(struct churn_store *store, const struct churn_report_options *o,
                    struct churn_buf *out, char *err, size_t errlen)
{
    if (o->top > CHURN_REPORT_TOP_MAX)
        return churn_fail(err, errlen, CHURN_EINVAL, "top: at most %d customers",
                          CHURN_REPORT_TOP_MAX);
    struct report *r = churn_calloc(1, sizeof(*r));
    if (!r)
        return CHURN_ENOMEM;
    r->o = o;
    r->now_ms = o->now_ms ? o->now_ms : churn_now_ms();
    r->p.out = out;
    enum churn_err e = load(r, store, err, errlen);
    if (!e) {
        churn__page_begin(&r->p, o->title ? o->title : DEFAULT_TITLE);
        header(r);
        section_summary(r);
        section_trends(r);
        section_segments(r);
        section_top(r);
        section_churn_reasons(r);
        section_playbooks(r);
        section_models(r);
        churn__raw(&r->p, "<footer class=\"note\">Built from the store by churn_report_render(): "
                          "daily aggregate snapshots, materialized scores, the outcome log and the "
                          "model registry (docs/REPORTS.md).</footer>\n");
        churn__page_end(&r->p);
        e = r->p.err;
        if (e)
            churn_fail(err, errlen, e, "writing the page: %s", churn_strerror(e));
    }
    churn__figures_fini(&r->f);
    churn_free(r->days);
    churn_free(r->outcomes);
    churn_free(r->models);
    churn_free(r);
    return e;
}
