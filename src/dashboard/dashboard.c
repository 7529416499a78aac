/*
 * dashboard.c - the dashboard's route table on the admin listener (churn/dashboard.h): the
 * page and its assets, embedded at build time and served from the binary's memory, and the
 * JSON and event endpoints (api.c, feed.c) behind the read role, the alert actions behind
 * the operate role.
 */
#include "churn/dashboard.h"

#include <string.h>

#include "churn/alloc.h"
#include "internal.h"

enum churn_err
churn_dashboard_create(struct churn_services *svc, struct churn_dashboard **out)
{
    struct churn_dashboard *d = churn_calloc(1, sizeof(*d));
    if (!d)
        return CHURN_ENOMEM;
    d->svc = svc;
    enum churn_err err = churn__dashboard_lift_start(d);
    if (err) {
        churn_free(d);
        return err;
    }
    *out = d;
    return CHURN_OK;
}

void
churn_dashboard_destroy(struct churn_dashboard *d)
{
    if (d)
        churn__dashboard_lift_stop(d);
    churn_free(d);
}

/* GET / and /assets/...: an embedded file, from memory, never copied. */
static void
serve_asset(void *ctx, const struct churn_admin_request *req, struct churn_admin_reply *reply)
{
    (void)ctx;
    const char *path = churn_admin_request_path(req);
    for (size_t i = 0; i < churn__dashboard_n_assets; i++) {
        const struct churn__dashboard_asset *a = &churn__dashboard_assets[i];
        if (strcmp(a->path, path) == 0) {
            reply->content_type = a->type;
            reply->static_body = a->data;
            reply->static_len = a->len;
            return;
        }
    }
    reply->status = 404;
    churn_buf_append_str(&reply->body, "not found\n");
}

size_t
churn_dashboard_routes(struct churn_dashboard *d, const char *read_role,
                       struct churn_admin_route *out)
{
    const char *operate = read_role ? "operate" : NULL;
    const struct churn_admin_route routes[] = {
        {.path = "/", .serve = serve_asset},
        {.path = "/assets/", .serve = serve_asset, .prefix = true},
        {.path = "/api/queue", .serve = churn__dashboard_queue, .ctx = d, .role = read_role},
        {.path = "/api/customer", .serve = churn__dashboard_customer, .ctx = d, .role = read_role},
        {.path = "/api/alerts", .serve = churn__dashboard_alerts, .ctx = d, .role = read_role},
        {.path = "/api/model", .serve = churn__dashboard_model, .ctx = d, .role = read_role},
        {.path = "/api/lift", .serve = churn__dashboard_lift, .ctx = d, .role = read_role},
        {.path = "/api/timeline", .serve = churn__dashboard_timeline, .ctx = d, .role = read_role},
        {.path = "/api/feed", .serve = churn__dashboard_feed, .ctx = d, .role = read_role},
        {.path = "/api/summary", .serve = churn__dashboard_summary, .ctx = d, .role = read_role},
        {.path = "/api/trends", .serve = churn__dashboard_trends, .ctx = d, .role = read_role},
        {.path = "/api/playbooks",
         .serve = churn__dashboard_playbooks,
         .ctx = d,
         .role = read_role},
        {.path = "/report", .serve = churn__dashboard_report, .ctx = d, .role = read_role},
        {.path = "/api/act",
         .serve = churn__dashboard_act,
         .ctx = d,
         .role = operate,
         .method = "POST"},
    };
    size_t n = sizeof(routes) / sizeof(routes[0]);
    memcpy(out, routes, sizeof(routes));
    return n;
}
