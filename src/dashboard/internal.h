/*
 * dashboard/internal.h - what the files of the dashboard share: the dashboard struct, the
 * embedded assets (generated at build time from src/dashboard/assets by tools/embed-assets),
 * the JSON endpoints (api.c) and the live feed (feed.c).
 */
#ifndef CHURN_DASHBOARD_INTERNAL_H
#define CHURN_DASHBOARD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "churn/admin.h"
#include "churn/dashboard.h"
#include "churn/lift.h"

struct churn_dashboard {
    struct churn_services *svc;
    /* lift.c: the lift, computed by its own thread at start, after a model change and at
     * the UTC day's change, never by a request */
    pthread_mutex_t lift_mu;
    pthread_cond_t lift_cv; /* rings the lift thread: a request found it stale, or stop */
    pthread_t lift_thread;
    bool lift_started;
    atomic_bool lift_stop;
    uint64_t lift_generation; /* (lift_mu) the model generation of lift / lift_err */
    int64_t lift_day;         /* (lift_mu) and the UTC day (-1: nothing computed yet) */
    enum churn_err lift_err;  /* (lift_mu) how that computation ended */
    char lift_msg[256];       /* (lift_mu) its refusal, when it was refused */
    struct churn_lift lift;   /* (lift_mu) its result, when it succeeded */
};

/* lift.c: the lift thread started (at dashboard creation) and stopped (at its destruction). */
enum churn_err churn__dashboard_lift_start(struct churn_dashboard *d);
void churn__dashboard_lift_stop(struct churn_dashboard *d);

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

/* report_page.c: GET /report, the retention report of churn/report.h as a page */
churn_admin_request_fn churn__dashboard_report;

/* feed.c: GET /api/feed, the alert feed as server-sent events */
churn_admin_request_fn churn__dashboard_feed;

/* lift.c: GET /api/lift, the served model's lift and gains over the store (churn/lift.h) */
churn_admin_request_fn churn__dashboard_lift;

/* timeline.c: GET /api/timeline, a customer's history newest first (churn/timeline.h) */
churn_admin_request_fn churn__dashboard_timeline;

/**
 * churn__dashboard_reply_json() - answer @doc (stolen) as JSON, or @status with
 * {"error": @error} when @doc is NULL (panels.c).
 */
struct json_t;
void churn__dashboard_reply_json(struct churn_admin_reply *reply, struct json_t *doc, int status,
                                 const char *error);

/**
 * churn__dashboard_unknown_param() - true, with a 400 naming it sent, when the query has a
 * parameter not among @known (@n names) (api.c).
 */
bool churn__dashboard_unknown_param(const struct churn_admin_request *req, const char *const *known,
                                    size_t n, struct churn_admin_reply *reply);

/** churn__dashboard_number() - @v as a JSON real, or null when it is not finite (panels.c). */
struct json_t *churn__dashboard_number(double v);

/**
 * churn__dashboard_param_long() - query parameter @name as a whole number in [@lo, @hi] into
 * *@out (untouched when absent); false, with a 400 naming it sent, when it is anything else
 * (signs, spaces, trailing bytes, overflow included) (api.c).
 */
bool churn__dashboard_param_long(const struct churn_admin_request *r, const char *name, long lo,
                                 long hi, long *out, struct churn_admin_reply *reply);

/**
 * churn__dashboard_bad_request() - answer 400 with {"error": "<param>: <what>"}.
 */
void churn__dashboard_bad_request(struct churn_admin_reply *reply, const char *param,
                                  const char *what);

#endif
