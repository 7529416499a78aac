/*
 * churn/dashboard.h - the retention team's live dashboard (issue 15 item 1), served on the
 * admin HTTP listener: the page and its assets (embedded in the binary at build time), the
 * JSON endpoints the page reads (each one answered by the gRPC API's own handler run
 * in-process, so the page shows exactly what the API answers), the alert actions
 * (acknowledge, snooze, close; role `operate`) and the live alert feed as server-sent events
 * resumable with Last-Event-ID. docs/DASHBOARD.md describes the endpoints.
 */
#ifndef CHURN_DASHBOARD_H
#define CHURN_DASHBOARD_H

#include <stddef.h>

#include "churn/admin.h"
#include "churn/error.h"

struct churn_services;
struct churn_dashboard;

#define CHURN_DASHBOARD_MAX_ROUTES 16

/**
 * churn_dashboard_create() - a dashboard over @svc (borrowed until destroyed; its store and
 * alert engine may be attached later: the endpoints answer 503 until then). @out: OUT.
 */
enum churn_err churn_dashboard_create(struct churn_services *svc, struct churn_dashboard **out);

/**
 * churn_dashboard_routes() - the dashboard's routes into @out (room for
 * CHURN_DASHBOARD_MAX_ROUTES), valid while @d lives; returns how many. With @read_role
 * non-NULL the data endpoints need it and the alert actions need "operate"; the page and its
 * assets stay public (they hold no data). NULL: no role is checked.
 */
size_t churn_dashboard_routes(struct churn_dashboard *d, const char *read_role,
                              struct churn_admin_route *out);

/** churn_dashboard_destroy() - free @d, after the listener that served it stopped. NULL: no-op. */
void churn_dashboard_destroy(struct churn_dashboard *d);

#endif
