/*
 * delivery_render.c - the service side of alert delivery: the bodies webhooks receive (the
 * alert exactly as WatchAlerts' JSON mapping shows it, or a Slack-compatible {"text": ...}
 * message built from the engine's one-line summary), and the start and stop of the delivery
 * engine with the store and the alert engine's hub. The engine (src/engine/delivery.c)
 * never sees a protobuf type; this file is where the API's mapping meets it.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "churn/delivery.h"
#include "churn/pbjson.h"
#include "../engine/alert_engine.h"
#include "service_internal.h"

static enum churn_err
render_slack(const struct churn_alert *alert, struct churn_buf *out)
{
    struct churn_buf line;
    churn_buf_init(&line, 64 * 1024);
    enum churn_err rc = churn_delivery_summary(alert, &line);
    json_t *doc = rc == CHURN_OK ? json_pack("{s:s}", "text", churn_buf_str(&line)) : NULL;
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (rc == CHURN_OK)
        rc = text ? churn_buf_append_str(out, text) : CHURN_ENOMEM;
    free(text);
    json_decref(doc);
    churn_buf_free(&line);
    return rc;
}

static enum churn_err
render(void *ctx, const struct churn_alert *alert, enum churn_delivery_format format,
       struct churn_buf *out)
{
    (void)ctx;
    return format == CHURN_DELIVERY_SLACK ? render_slack(alert, out)
                                          : churn_services_alert_json(alert, out);
}

/* Issue 15: a playbook's webhook accepted its action: recorded on the alert. */
static void
action_done(void *ctx, const char *dest, const struct churn_alert *alert, int http_status,
            unsigned attempts, int64_t at_ms)
{
    churn__alerts_record_action_call(ctx, dest, alert->id, http_status, attempts, at_ms);
}

enum churn_err
churn__delivery_start(struct churn_services *svc)
{
    if (!svc->delivery_config || svc->delivery_config->n_dests == 0)
        return CHURN_OK;
    struct churn_delivery_config cfg = *svc->delivery_config; /* copied again by the start */
    cfg.action_done = action_done;
    cfg.action_ctx = svc->alerts;
    return churn_delivery_start(svc->store, churn__alerts_hub(svc->alerts), &cfg, render, NULL,
                                &svc->delivery);
}

void
churn__delivery_stop(struct churn_services *svc)
{
    churn_delivery_stop(svc->delivery);
    svc->delivery = NULL;
}
