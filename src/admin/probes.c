/*
 * probes.c - the admin listener's standard routes: /metrics (the registry's exposition),
 * /livez (the process answers) and /readyz (the daemon's readiness callback).
 */
#include "churn/admin.h"
#include "churn/metrics.h"

void
churn_admin_metrics_handler(void *ctx, struct churn_admin_reply *reply)
{
    enum churn_err err = churn_metrics_render(ctx, &reply->body);
    if (err) {
        churn_buf_reset(&reply->body);
        reply->status = 500;
        churn_buf_printf(&reply->body, "metrics: %s\n", churn_strerror(err));
        return;
    }
    reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

void
churn_admin_livez_handler(void *ctx, struct churn_admin_reply *reply)
{
    churn_buf_append_str(&reply->body, "ok\n");
}

void
churn_admin_readyz_handler(void *ctx, struct churn_admin_reply *reply)
{
    const struct churn_admin_readiness *r = ctx;
    char why[256] = "";
    if (r->ready(r->ctx, why, sizeof(why))) {
        churn_buf_append_str(&reply->body, "ready\n");
        return;
    }
    reply->status = 503;
    churn_buf_printf(&reply->body, "not ready: %s\n", why);
}
