/*
 * api.c - the dashboard's JSON endpoints: each turns its query parameters into the request
 * of a gRPC method (bad ones are 400 naming the parameter), runs the method's own handler
 * in-process (churn_rpc_local_unary) and answers the response in the API's JSON mapping, so
 * the page's numbers are the API's. Errors keep the handler's message, as HTTP statuses.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/pbjson.h"
#include "churn/rpc.h"
#include "churn/service.h"
#include "internal.h"

#define JSON_TYPE "application/json; charset=utf-8"
#define MSG_MAX   512

void
churn__dashboard_bad_request(struct churn_admin_reply *reply, const char *param, const char *what)
{
    char msg[MSG_MAX];
    snprintf(msg, sizeof(msg), "%s: %s", param, what);
    json_t *doc = json_pack("{s:s}", "error", msg);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    reply->status = 400;
    reply->content_type = JSON_TYPE;
    churn_buf_reset(&reply->body);
    churn_buf_append_str(&reply->body, text ? text : "{\"error\":\"bad request\"}");
    free(text);
    json_decref(doc);
}

static int
http_status(enum churn_err err)
{
    switch (err) {
    case CHURN_EINVAL:
        return 400;
    case CHURN_ENOTFOUND:
        return 404;
    case CHURN_EPRECOND:
        return 409;
    case CHURN_EUNAVAIL:
        return 503;
    default:
        return 500;
    }
}

/* Answer @doc (stolen) as JSON, or @status with {"error": @msg} when @doc is NULL. */
static void
answer(struct churn_admin_reply *reply, json_t *doc, int status, const char *msg)
{
    if (!doc) {
        doc = json_pack("{s:s}", "error", msg);
        reply->status = status;
    }
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    reply->content_type = JSON_TYPE;
    if (!text || churn_buf_append_str(&reply->body, text) != CHURN_OK) {
        churn_buf_reset(&reply->body);
        reply->status = 500;
        churn_buf_append_str(&reply->body, "{\"error\":\"out of memory\"}");
    }
    free(text);
    json_decref(doc);
}

static const struct churn_method *
find_method(struct churn_services *svc, const char *name)
{
    for (size_t i = 0; i < svc->n_methods; i++)
        if (strcmp(svc->methods[i].name, name) == 0)
            return &svc->methods[i];
    return NULL;
}

/*
 * Run method @name on @req (borrowed) in-process: the response as JSON in *@out, or an error
 * with its message in @msg.
 */
static enum churn_err
call(struct churn_dashboard *d, const char *name, json_t *req, json_t **out, char *msg,
     size_t msglen)
{
    const struct churn_method *m = find_method(d->svc, name);
    if (!m)
        return churn_fail(msg, msglen, CHURN_EINTERNAL, "%s is not served", name);
    char *text = json_dumps(req, JSON_COMPACT);
    if (!text)
        return churn_fail(msg, msglen, CHURN_ENOMEM, "out of memory");
    struct churn_arena ar;
    churn_arena_init(&ar, 1u << 20);
    ProtobufCMessage *pb = NULL;
    enum churn_err err = churn_pbjson_decode(m->request, text, strlen(text), &ar, &pb, msg, msglen);
    free(text);
    struct churn_rpc *rpc = NULL;
    ProtobufCMessage *resp = NULL;
    if (!err)
        err = churn_rpc_local_unary(m, pb, &rpc, &resp, msg, msglen);
    if (!err) {
        *out = churn_pbjson_encode(resp);
        if (!*out)
            err = churn_fail(msg, msglen, CHURN_ENOMEM, "out of memory");
    }
    churn_rpc_local_free(rpc);
    churn_arena_fini(&ar);
    return err;
}

/* Run @name on @req (stolen) and answer its response (or its error). */
static void
call_answer(struct churn_dashboard *d, const char *name, json_t *req,
            struct churn_admin_reply *reply)
{
    char msg[MSG_MAX] = "";
    json_t *doc = NULL;
    enum churn_err err = req ? call(d, name, req, &doc, msg, sizeof(msg)) : CHURN_ENOMEM;
    json_decref(req);
    answer(reply, err ? NULL : doc, http_status(err), err ? msg : "");
}

/* ---- query parameters ---------------------------------------------------------------------- */

bool
churn__dashboard_unknown_param(const struct churn_admin_request *req, const char *const *known,
                               size_t n, struct churn_admin_reply *reply)
{
    const char *bad = churn_admin_query_unknown(req, known, n);
    if (bad)
        churn__dashboard_bad_request(reply, bad, "unknown parameter");
    return bad != NULL;
}

/* A number in [lo, hi] into @obj[@field] when @name is given; false (400 sent) when bad. */
static bool
param_number(const struct churn_admin_request *req, const char *name, double lo, double hi,
             json_t *obj, const char *field, struct churn_admin_reply *reply)
{
    const char *v = churn_admin_query(req, name);
    if (!v)
        return true;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x) || x < lo || x > hi) {
        char what[96];
        snprintf(what, sizeof(what), "not a number from %g to %g", lo, hi);
        churn__dashboard_bad_request(reply, name, what);
        return false;
    }
    json_object_set_new(obj, field, json_real(x));
    return true;
}

/* A comma-separated list of @allowed words, each into @obj[@field] as PREFIX_WORD. */
static bool
param_enum_list(const struct churn_admin_request *req, const char *name, const char *prefix,
                const char *const *allowed, size_t n, json_t *obj, const char *field,
                struct churn_admin_reply *reply)
{
    const char *v = churn_admin_query(req, name);
    if (!v)
        return true;
    json_t *arr = json_array();
    for (const char *p = v; arr;) {
        size_t len = strcspn(p, ",");
        size_t i = 0;
        while (i < n && !(strlen(allowed[i]) == len && strncmp(p, allowed[i], len) == 0))
            i++;
        if (i == n) {
            char what[160];
            snprintf(what, sizeof(what), "'%.*s' is not one of the accepted values", (int)len, p);
            churn__dashboard_bad_request(reply, name, what);
            json_decref(arr);
            return false;
        }
        char word[64];
        snprintf(word, sizeof(word), "%s%s", prefix, allowed[i]);
        for (char *w = word; *w; w++)
            *w = (char)(*w >= 'a' && *w <= 'z' ? *w - 32 : *w);
        json_array_append_new(arr, json_string(word));
        if (!p[len])
            break;
        p += len + 1;
    }
    json_object_set_new(obj, field, arr);
    return true;
}

/* Free text of at most @max bytes (valid UTF-8) into @obj[@field] (or a list of one). */
static bool
param_text(const struct churn_admin_request *req, const char *name, size_t max, bool list,
           json_t *obj, const char *field, struct churn_admin_reply *reply)
{
    const char *v = churn_admin_query(req, name);
    if (!v)
        return true;
    json_t *s = json_string(v);
    if (!*v || strlen(v) > max || !s) {
        json_decref(s);
        churn__dashboard_bad_request(reply, name, !*v ? "empty" : "too long or not UTF-8 text");
        return false;
    }
    json_object_set_new(obj, field, list ? json_pack("[o]", s) : s);
    return true;
}

bool
churn__dashboard_param_long(const struct churn_admin_request *r, const char *name, long lo, long hi,
                            long *out, struct churn_admin_reply *reply)
{
    const char *v = churn_admin_query(r, name);
    if (!v)
        return true;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    /* digits only: strtol would also take leading spaces and a sign */
    if (!isdigit((unsigned char)v[0]) || *end || errno || n < lo || n > hi) {
        char what[96];
        snprintf(what, sizeof(what), "not a whole number from %ld to %ld", lo, hi);
        churn__dashboard_bad_request(reply, name, what);
        return false;
    }
    *out = n;
    return true;
}

/* page_size (1..1000) and page_token into @req. */
static bool
param_page(const struct churn_admin_request *r, json_t *req, struct churn_admin_reply *reply)
{
    long n = 0;
    if (!churn__dashboard_param_long(r, "page_size", 1, 1000, &n, reply))
        return false;
    if (n)
        json_object_set_new(req, "page_size", json_integer(n));
    return param_text(r, "page_token", 64, false, req, "page_token", reply);
}

static const char *const TIERS[] = {"low", "medium", "high"};
static const char *const STATUSES[] = {"open", "acknowledged", "snoozed", "closed"};

/* ---- endpoints ----------------------------------------------------------------------------- */

void
churn__dashboard_queue(void *ctx, const struct churn_admin_request *r,
                       struct churn_admin_reply *reply)
{
    static const char *const known[] = {"risk",      "value",     "segment", "min_probability",
                                        "page_size", "page_token"};
    if (churn__dashboard_unknown_param(r, known, 6, reply))
        return;
    json_t *req = json_object(), *filter = json_object();
    bool ok = req && filter &&
              param_enum_list(r, "risk", "RISK_TIER_", TIERS, 3, filter, "risk_tiers", reply) &&
              param_enum_list(r, "value", "VALUE_TIER_", TIERS, 3, filter, "value_tiers", reply) &&
              param_text(r, "segment", 128, true, filter, "segments", reply) &&
              param_number(r, "min_probability", 0, 1, filter, "min_probability", reply) &&
              param_page(r, req, reply);
    if (!ok) {
        json_decref(req);
        json_decref(filter);
        return;
    }
    json_object_set_new(req, "filter", filter);
    json_object_set_new(req, "max_reasons", json_integer(3));
    call_answer(ctx, "/churn.v1.ScoringService/ListAtRiskCustomers", req, reply);
}

void
churn__dashboard_alerts(void *ctx, const struct churn_admin_request *r,
                        struct churn_admin_reply *reply)
{
    static const char *const known[] = {"status", "customer", "order", "page_size", "page_token"};
    static const char *const ORDERS[] = {"priority", "newest", "oldest"};
    if (churn__dashboard_unknown_param(r, known, 5, reply))
        return;
    json_t *req = json_object(), *filter = json_object();
    bool ok =
        req && filter &&
        param_enum_list(r, "status", "ALERT_STATUS_", STATUSES, 4, filter, "statuses", reply) &&
        param_text(r, "customer", 128, true, filter, "customer_ids", reply) &&
        param_page(r, req, reply);
    json_t *order = json_object();
    ok = ok && order &&
         param_enum_list(r, "order", "ALERT_ORDER_", ORDERS, 3, order, "order", reply);
    json_t *o = ok ? json_object_get(order, "order") : NULL;
    if (ok && o && json_array_size(o) != 1) {
        churn__dashboard_bad_request(reply, "order", "exactly one of priority, newest, oldest");
        ok = false;
    }
    if (!ok) {
        json_decref(req);
        json_decref(filter);
        json_decref(order);
        return;
    }
    if (o)
        json_object_set(req, "order", json_array_get(o, 0));
    json_decref(order);
    json_object_set_new(req, "filter", filter);
    call_answer(ctx, "/churn.v1.AlertService/ListAlerts", req, reply);
}

void
churn__dashboard_model(void *ctx, const struct churn_admin_request *r,
                       struct churn_admin_reply *reply)
{
    if (churn__dashboard_unknown_param(r, NULL, 0, reply))
        return;
    char msg[MSG_MAX] = "";
    json_t *info = NULL, *models = NULL;
    json_t *empty = json_object();
    enum churn_err err =
        call(ctx, "/churn.v1.ModelService/GetModelInfo", empty, &info, msg, sizeof(msg));
    if (!err)
        err = call(ctx, "/churn.v1.ModelService/ListModels", empty, &models, msg, sizeof(msg));
    json_decref(empty);
    json_t *doc = err ? NULL : json_pack("{s:o,s:o}", "info", info, "models", models);
    if (err) {
        json_decref(info);
        json_decref(models);
    }
    answer(reply, doc, http_status(err), msg);
}

/* The customer page: the score, the record and the alerts of one customer. */
void
churn__dashboard_customer(void *ctx, const struct churn_admin_request *r,
                          struct churn_admin_reply *reply)
{
    static const char *const known[] = {"id"};
    if (churn__dashboard_unknown_param(r, known, 1, reply))
        return;
    const char *id = churn_admin_query(r, "id");
    if (!id) {
        churn__dashboard_bad_request(reply, "id", "missing: the customer id");
        return;
    }
    json_t *by_id = json_object(), *alerts_req = json_object();
    if (!param_text(r, "id", 128, false, by_id, "customer_id", reply)) {
        json_decref(by_id);
        json_decref(alerts_req);
        return;
    }
    json_object_set_new(by_id, "max_reasons", json_integer(8));
    json_object_set_new(
        alerts_req, "filter",
        json_pack("{s:[O]}", "customer_ids", json_object_get(by_id, "customer_id")));
    json_object_set_new(alerts_req, "order", json_string("ALERT_ORDER_NEWEST"));
    char msg[MSG_MAX] = "";
    json_t *score = NULL, *customer = NULL, *alerts = NULL;
    enum churn_err err =
        call(ctx, "/churn.v1.ScoringService/GetScore", by_id, &score, msg, sizeof(msg));
    json_object_del(by_id, "max_reasons");
    if (!err)
        err = call(ctx, "/churn.v1.IngestService/GetCustomer", by_id, &customer, msg, sizeof(msg));
    if (!err)
        err = call(ctx, "/churn.v1.AlertService/ListAlerts", alerts_req, &alerts, msg, sizeof(msg));
    json_decref(by_id);
    json_decref(alerts_req);
    json_t *doc = NULL;
    if (!err)
        doc = json_pack("{s:O*,s:o,s:O*}", "score", json_object_get(score, "score"), "customer",
                        customer, "alerts", json_object_get(alerts, "alerts"));
    else
        json_decref(customer);
    json_decref(score);
    json_decref(alerts);
    answer(reply, doc, http_status(err), err ? msg : "out of memory");
}

/* ---- POST /api/act ------------------------------------------------------------------------- */

/* The AcknowledgeAlert request of the page's JSON body {sequence, action, note, until_ms,
 * resolution}; NULL with a 400 naming the field. */
static json_t *
act_request(const char *body, size_t len, const char *actor, struct churn_admin_reply *reply)
{
    static const char *const RESOLUTIONS[] = {"saved", "lost", "not_actionable"};
    json_error_t jerr;
    json_t *in = json_loadb(body, len, 0, &jerr);
    json_int_t seq = in ? json_integer_value(json_object_get(in, "sequence")) : 0;
    const char *action = in ? json_string_value(json_object_get(in, "action")) : NULL;
    const char *note = in ? json_string_value(json_object_get(in, "note")) : NULL;
    const char *why = !in                   ? "the body is not a JSON object"
                      : !json_is_object(in) ? "the body is not a JSON object"
                      : seq < 1             ? "sequence: a whole number >= 1 is required"
                      : !action             ? "action: acknowledge, snooze or close is required"
                      : json_object_get(in, "note") && !note ? "note: not a string"
                                                             : NULL;
    json_t *req =
        why ? NULL
            : json_pack("{s:I,s:s,s:s}", "sequence", seq, "actor", actor, "note", note ? note : "");
    if (req && strcmp(action, "snooze") == 0) {
        json_int_t until = json_integer_value(json_object_get(in, "until_ms"));
        if (until <= 0)
            why = "until_ms: the end of the snooze (unix ms) is required";
        else
            json_object_set_new(req, "snooze", json_pack("{s:I}", "snooze_until_ms", until));
    } else if (req && strcmp(action, "close") == 0) {
        const char *res = json_string_value(json_object_get(in, "resolution"));
        size_t i = 0;
        while (res && i < 3 && strcmp(res, RESOLUTIONS[i]) != 0)
            i++;
        char word[48];
        snprintf(word, sizeof(word), "ALERT_RESOLUTION_%s",
                 i == 0   ? "SAVED"
                 : i == 1 ? "LOST"
                          : "NOT_ACTIONABLE");
        if (!res || i == 3)
            why = "resolution: saved, lost or not_actionable is required";
        else
            json_object_set_new(req, "close", json_pack("{s:s}", "resolution", word));
    } else if (req && strcmp(action, "acknowledge") != 0) {
        why = "action: must be acknowledge, snooze or close";
    }
    json_decref(in);
    if (why) {
        json_decref(req);
        const char *colon = strchr(why, ':');
        char param[32] = "body";
        if (colon && (size_t)(colon - why) < sizeof(param))
            snprintf(param, sizeof(param), "%.*s", (int)(colon - why), why);
        churn__dashboard_bad_request(reply, param, colon ? colon + 2 : why);
        return NULL;
    }
    return req;
}

void
churn__dashboard_act(void *ctx, const struct churn_admin_request *r,
                     struct churn_admin_reply *reply)
{
    size_t len;
    const char *body = churn_admin_request_body(r, &len);
    const char *who = churn_admin_request_who(r);
    json_t *req = act_request(body, len, *who ? who : "dashboard", reply);
    if (req)
        call_answer(ctx, "/churn.v1.AlertService/AcknowledgeAlert", req, reply);
}
