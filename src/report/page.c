/*
 * report/page.c - the report's page writer: markup appended to a capped churn_buf with a sticky
 * error, data escaped as HTML text (so a customer id holding "<script>" is shown, never run),
 * and the document's frame: the inline style sheet (screen and print: A4, sections kept whole
 * on a page, colours kept) and the UTC date helpers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "churn/clock.h"
#include "internal.h"

void
churn__raw(struct churn__page *p, const char *s)
{
    if (!p->err)
        p->err = churn_buf_append_str(p->out, s);
}

void
churn__rawf(struct churn__page *p, const char *fmt, ...)
{
    if (p->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    p->err = churn_buf_vprintf(p->out, fmt, ap);
    va_end(ap);
}

void
churn__text(struct churn__page *p, const char *s)
{
    const char *run = s;
    for (; *s && !p->err; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            if ((unsigned char)*s < 0x20 || *s == 0x7f)
                rep = "";
        }
        if (!rep)
            continue;
        p->err = churn_buf_append(p->out, run, (size_t)(s - run));
        if (!p->err)
            p->err = churn_buf_append_str(p->out, rep);
        run = s + 1;
    }
    if (!p->err)
        p->err = churn_buf_append(p->out, run, (size_t)(s - run));
}

static const char STYLE[] =
    "*{box-sizing:border-box}"
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2430;"
    "margin:0 auto;max-width:1100px;padding:24px}"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;"
    "border-bottom:2px solid #dde3ec;padding-bottom:4px}h3{font-size:14px;margin:16px 0 6px}"
    ".meta{color:#5b6573;margin:0 0 16px}"
    ".kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:10px}"
    ".kpi{border:1px solid #dde3ec;border-radius:8px;padding:10px 12px;background:#f8fafc}"
    ".kpi b{display:block;font-size:22px}.kpi span{color:#5b6573;font-size:12px}"
    "table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}"
    "th,td{border-bottom:1px solid #e6eaf0;padding:4px 8px;text-align:left;vertical-align:top}"
    "th{background:#f1f4f8}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".chart{margin:8px 0 16px}.chart figcaption{font-weight:600;margin-bottom:4px}"
    ".chart svg{width:100%;height:auto;max-width:900px}.legend{font-size:12px;color:#5b6573}"
    ".legend i{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}"
    ".empty{color:#8a94a3;font-style:italic}.note{color:#5b6573;font-size:12px}"
    ".s0{stroke:#c0392b;fill:#c0392b}.s1{stroke:#e67e22;fill:#e67e22}"
    ".s2{stroke:#2e86c1;fill:#2e86c1}.s3{stroke:#27ae60;fill:#27ae60}"
    ".s4{stroke:#8e44ad;fill:#8e44ad}.s5{stroke:#7f8c8d;fill:#7f8c8d}"
    "svg text{font-size:11px;fill:#5b6573;stroke:none}svg .axis{stroke:#b8c1cc}"
    "svg polyline{fill:none !important;stroke-width:2}"
    "@page{size:A4;margin:14mm}"
    "@media print{body{padding:0;font-size:11px;max-width:none}"
    "section{break-inside:avoid;page-break-inside:avoid}"
    "h2{break-after:avoid}*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}"
    "@media (max-width:640px){body{padding:12px}table{font-size:12px}}";

void
churn__page_begin(struct churn__page *p, const char *title)
{
    churn__raw(p, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                  "<title>");
    churn__text(p, title);
    churn__raw(p, "</title><style>");
    churn__raw(p, STYLE);
    churn__raw(p, "</style></head>\n<body>\n");
}

void
churn__page_end(struct churn__page *p)
{
    churn__raw(p, "</body></html>\n");
}

char *
churn__day_text(int32_t day, char *out, size_t len)
{
    time_t t = (time_t)day * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%d", &tm);
    return out;
}

int32_t
churn__month_of_day(int32_t day)
{
    time_t t = (time_t)day * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    return (int32_t)((tm.tm_year - 70) * 12 + tm.tm_mon);
}

char *
churn__month_text(int32_t m, char *out, size_t len)
{
    snprintf(out, len, "%04d-%02d", 1970 + m / 12, m % 12 + 1);
    return out;
}
