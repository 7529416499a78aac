/*
 * feed.c - what the dashboard's live alert feed needs from the service layer (issue 15): the
 * attached store's alert hub, a log entry read back by sequence (to resume a feed from
 * further back than the hub's ring), and an alert rendered exactly as the API's JSON mapping
 * shows it (webhooks use the same rendering).
 */
#include <stdlib.h>

#include "churn/buf.h"
#include "churn/pbjson.h"
#include "service_internal.h"

struct churn_alert_hub *
churn_services_alert_hub(struct churn_services *svc)
{
    return svc->alerts ? churn__alerts_hub(svc->alerts) : NULL;
}

enum churn_err
churn_services_alert_read(struct churn_services *svc, uint64_t seq, struct churn_alert *out)
{
    return svc->alerts ? churn__alerts_read(svc->alerts, seq, out) : CHURN_EUNAVAIL;
}

enum churn_err
churn_services_alert_json(const struct churn_alert *alert, struct churn_buf *out)
{
    struct churn_arena ar;
    churn_arena_init(&ar, 1u << 20);
    Churn__V1__Alert *m = churn__alert_to_proto(alert, &ar);
    char *text = m ? churn_pbjson_dumps(&m->base, false) : NULL;
    enum churn_err rc = text ? churn_buf_append_str(out, text) : CHURN_ENOMEM;
    free(text);
    churn_arena_fini(&ar);
    return rc;
}
