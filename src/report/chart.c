/*
 * report/chart.c - the report's charts as inline SVG (no script, no font or image to fetch, so
 * the page prints and mails as one file): a line chart of series over labelled x positions,
 * and a horizontal bar chart. Each sits in a <figure class="chart"> whose data-points attribute
 * says how many values it drew; series and bar labels that come from data are escaped.
 */
#include <math.h>
#include <stdio.h>

#include "internal.h"

#define W      900.0
#define H      260.0
#define LEFT   70.0
#define RIGHT  20.0
#define TOP    12.0
#define BOTTOM 30.0

static const char *
tick(double v, const char *unit, char *out, size_t len)
{
    if (fabs(v) >= 1e6)
        snprintf(out, len, "%.1fM%s", v / 1e6, unit);
    else if (fabs(v) >= 1e4)
        snprintf(out, len, "%.0fk%s", v / 1e3, unit);
    else if (v == floor(v))
        snprintf(out, len, "%.0f%s", v, unit);
    else
        snprintf(out, len, "%.2f%s", v, unit);
    return out;
}

static double
series_max(const struct churn__series *s, size_t ns, size_t n)
{
    double max = 0;
    for (size_t k = 0; k < ns; k++)
        for (size_t i = 0; i < n; i++)
            if (isfinite(s[k].v[i]) && s[k].v[i] > max)
                max = s[k].v[i];
    return max > 0 ? max : 1;
}

/* the colours of the style sheet's .s0 ... .s5 */
static const char *const COLOURS[6] = {"#c0392b", "#e67e22", "#2e86c1",
                                       "#27ae60", "#8e44ad", "#7f8c8d"};

static void
legend(struct churn__page *p, const struct churn__series *s, size_t ns)
{
    churn__raw(p, "<div class=\"legend\">");
    for (size_t k = 0; k < ns; k++) {
        churn__rawf(p, "<i style=\"background:%s\"></i>", COLOURS[k % 6]);
        churn__text(p, s[k].name);
    }
    churn__raw(p, "</div>");
}

static void
axes(struct churn__page *p, double max, const char *unit, const char *const *xl, size_t n)
{
    char t[32];
    for (int g = 0; g <= 2; g++) {
        double y = TOP + (H - TOP - BOTTOM) * (1 - g / 2.0);
        churn__rawf(p, "<line class=\"axis\" x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\"/>",
                    LEFT, y, W - RIGHT, y);
        churn__rawf(p, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", LEFT - 6, y + 4);
        churn__text(p, tick(max * g / 2.0, unit, t, sizeof(t)));
        churn__raw(p, "</text>");
    }
    size_t at[3] = {0, n / 2, n - 1};
    for (int k = 0; k < 3; k++) {
        if (k > 0 && at[k] == at[k - 1])
            continue;
        double x = n > 1 ? LEFT + (W - LEFT - RIGHT) * (double)at[k] / (double)(n - 1) : LEFT;
        churn__rawf(p, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"%s\">", x, H - 8,
                    k == 0   ? "start"
                    : k == 2 ? "end"
                             : "middle");
        churn__text(p, xl[at[k]]);
        churn__raw(p, "</text>");
    }
}

void
churn__chart_lines(struct churn__page *p, const char *title, const char *const *xlabels, size_t n,
                   const struct churn__series *s, size_t ns, const char *unit)
{
    if (n == 0 || ns == 0)
        return;
    double max = series_max(s, ns, n);
    churn__rawf(p, "<figure class=\"chart\" data-points=\"%zu\"><figcaption>", n * ns);
    churn__text(p, title);
    churn__raw(p, "</figcaption>");
    legend(p, s, ns);
    churn__rawf(p, "<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"", W, H);
    churn__text(p, title);
    churn__raw(p, "\">");
    axes(p, max, unit, xlabels, n);
    double span = W - LEFT - RIGHT, height = H - TOP - BOTTOM;
    for (size_t k = 0; k < ns; k++) {
        churn__rawf(p, "<polyline class=\"s%zu\" points=\"", k % 6);
        for (size_t i = 0; i < n; i++)
            if (isfinite(s[k].v[i]))
                churn__rawf(p, "%.1f,%.1f ",
                            n > 1 ? LEFT + span * (double)i / (double)(n - 1) : LEFT,
                            TOP + height * (1 - s[k].v[i] / max));
        churn__raw(p, "\"/>");
        for (size_t i = 0; n <= 62 && i < n; i++) /* dots where they stay readable */
            if (isfinite(s[k].v[i]))
                churn__rawf(p, "<circle class=\"s%zu\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>", k % 6,
                            n > 1 ? LEFT + span * (double)i / (double)(n - 1) : LEFT,
                            TOP + height * (1 - s[k].v[i] / max));
    }
    churn__raw(p, "</svg></figure>\n");
}

void
churn__chart_bars(struct churn__page *p, const char *title, const char *const *labels,
                  const double *v, size_t n, const char *unit)
{
    if (n == 0)
        return;
    double max = 0;
    bool neg = false;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(v[i]) && fabs(v[i]) > max)
            max = fabs(v[i]);
        neg |= v[i] < 0;
    }
    max = max > 0 ? max : 1;
    const double label_w = 300, value_w = 90, row = 22;
    double zero = neg ? label_w + (W - label_w - value_w) / 2 : label_w;
    double scale = (W - label_w - value_w) / (neg ? 2 * max : max);
    double h = row * (double)n + 8;
    churn__rawf(p, "<figure class=\"chart\" data-points=\"%zu\"><figcaption>", n);
    churn__text(p, title);
    churn__rawf(p, "</figcaption><svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"", W, h);
    churn__text(p, title);
    churn__raw(p, "\">");
    char t[32];
    for (size_t i = 0; i < n; i++) {
        double y = 4 + row * (double)i, len = isfinite(v[i]) ? fabs(v[i]) * scale : 0;
        double x = v[i] < 0 ? zero - len : zero;
        churn__rawf(p, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", label_w - 8, y + 14);
        churn__text(p, labels[i]);
        churn__rawf(p,
                    "</text><rect class=\"s%d\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                    "height=\"%.0f\"/>",
                    v[i] < 0 ? 0 : 2, x, y + 3, len > 0.5 ? len : 0.5, row - 8);
        churn__rawf(p, "<text x=\"%.1f\" y=\"%.1f\">", x + (v[i] < 0 ? 0 : len) + 6, y + 14);
        churn__text(p, isfinite(v[i]) ? tick(v[i], unit, t, sizeof(t)) : "n/a");
        churn__raw(p, "</text>");
    }
    churn__rawf(p, "<line class=\"axis\" x1=\"%.1f\" y1=\"0\" x2=\"%.1f\" y2=\"%.0f\"/>", zero,
                zero, h);
    churn__raw(p, "</svg></figure>\n");
}
