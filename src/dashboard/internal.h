/*
 * dashboard/internal.h - what the files of the dashboard share: the dashboard struct, the
 * embedded assets (generated at build time from src/dashboard/assets by tools/embed-assets),
 * the JSON endpoints (api.c) and the live feed (feed.c).
 */
#ifndef CHURN_DASHBOARD_INTERNAL_H
#define CHURN_DASHBOARD_INTERNAL_H

#include <stddef.h>

#include "churn/admin.h"
#include "churn/dashboard.h"

struct churn_dashboard {
    struct churn_services *svc;
};

/* One embedded file: served at @path with @type. */
struct churn__dashboard_asset {
    const char *path;
    const char *type;
    const unsigned char *data;
    size_t len;
};

extern const struct churn__dashboard_asset churn__dashboard_assets[];
extern const size_t churn__dashboard_n_assets;

/* api.c: the JSON endpoints (ctx: the dashboard) */
churn_admin_request_fn churn__dashboard_queue;
churn_admin_request_fn churn__dashboard_customer;
churn_admin_request_fn churn__dashboard_alerts;
churn_admin_request_fn churn__dashboard_model;
churn_admin_request_fn churn__dashboard_act;

/* panels.c: key figures and matrix (score index), trends (snapshots), playbooks (outcomes) */
churn_admin_request_fn churn__dashboard_summary;
churn_admin_request_fn churn__dashboard_trends;
churn_admin_request_fn churn__dashboard_playbooks;

/* feed.c: GET /api/feed, the alert feed as server-sent events */
churn_admin_request_fn churn__dashboard_feed;

/**
 * churn__dashboard_bad_request() - answer 400 with {"error": "<param>: <what>"}.
 */
void churn__dashboard_bad_request(struct churn_admin_reply *reply, const char *param,
                                  const char *what);

#endif
