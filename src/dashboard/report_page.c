/*
 * report_page.c - GET /report on the dashboard: the retention report that `churnctl report
 * html` writes (churn/report.h), rendered from churnd's own store and served as the same
 * self-contained HTML page, so that a manager can open, print or save it from the browser.
 * Query parameters: from and to (UTC dates, YYYY-MM-DD, inclusive) and top (customers
 * listed); anything else, or a value out of range, is a 400 naming the parameter.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "churn/clock.h"
#include "churn/report.h"
#include "churn/service.h"
#include "internal.h"

/* The UTC day of parameter @name (a date), or @dflt when absent; false when malformed. */
static bool
day_param(const struct churn_admin_request *r, const char *name, int32_t dflt, int32_t *out)
{
    const char *v = churn_admin_query(r, name);
    int64_t ms;
    if (!v) {
        *out = dflt;
        return true;
    }
    if (!churn_parse_iso8601_ms(v, &ms))
        return false;
    *out = churn_day_of_ms(ms);
    return true;
}

static bool
top_param(const struct churn_admin_request *r, size_t *out)
{
    const char *v = churn_admin_query(r, "top");
    if (!v)
        return true;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < 1 || n > CHURN_REPORT_TOP_MAX)
        return false;
    *out = (size_t)n;
    return true;
}

/* The report's options from the query; the name of the bad parameter, or NULL. */
static const char *
report_options(const struct churn_admin_request *r, struct churn_report_options *o)
{
    static const char *const known[] = {"from", "to", "top"};
    const char *bad = churn_admin_query_unknown(r, known, 3);
    if (bad)
        return bad;
    churn_report_options_default(o);
    if (!day_param(r, "from", INT32_MIN, &o->from_day))
        return "from";
    if (!day_param(r, "to", INT32_MAX, &o->to_day) || o->to_day < o->from_day)
        return "to";
    if (!top_param(r, &o->top))
        return "top";
    return NULL;
}

void
churn__dashboard_report(void *ctx, const struct churn_admin_request *r,
                        struct churn_admin_reply *reply)
{
    struct churn_dashboard *d = ctx;
    struct churn_report_options o;
    const char *bad = report_options(r, &o);
    if (bad) {
        churn__dashboard_bad_request(reply, bad,
                                     "from and to are UTC dates (YYYY-MM-DD, from not after "
                                     "to), top a whole number from 1 to 1000, nothing else");
        return;
    }
    if (!d->svc->store) {
        reply->status = 503;
        churn_buf_append_str(&reply->body, "the store is not open yet\n");
        return;
    }
    char err[256];
    enum churn_err e = churn_report_render(d->svc->store, &o, &reply->body, err, sizeof(err));
    if (e) {
        churn_buf_reset(&reply->body);
        reply->status = e == CHURN_EINVAL ? 400 : 500;
        churn_buf_append_str(&reply->body, err);
        churn_buf_append_str(&reply->body, "\n");
        return;
    }
    reply->content_type = "text/html; charset=utf-8";
}
