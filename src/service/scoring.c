/*
 * scoring.c - churn.v1.ScoringService and churn.v1.ModelService handlers: requests checked,
 * scores taken from the engine's scorer (churn/score.h) and converted once for the response,
 * the at-risk listing, model information and reloads.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/features.h"
#include "churn/log.h"
#include "churn/model.h"
#include "churn/model_inputs.h"
#include "churn/page_token.h"
#include "churn/registry.h"
#include "churn/score.h"
#include "churn/service.h"
#include "churn/service_metrics.h"
#include "churn/store.h"
#include "churn_proto.h"
#include "service_internal.h"

#define MAX_REASONS_DEFAULT 5
#define MAX_REASONS_LIMIT   20
#define BATCH_LIMIT         1000
#define PAGE_SIZE_DEFAULT   50
#define PAGE_SIZE_LIMIT     1000

static enum churn_err
no_model(struct churn_rpc *rpc)
{
    return churn_rpc_error(rpc, CHURN_EPRECOND,
                           "no model is loaded: train one (churnctl train --store DIR --out "
                           "model.json) and start churnd with --model model.json, or call "
                           "ModelService/ReloadModel");
}

/* max_reasons (scoring.proto): 0 for @dflt, else 1..MAX_REASONS_LIMIT; others refused. */
static enum churn_err
reasons_wanted(struct churn_rpc *rpc, int32_t asked, size_t dflt, size_t *out)
{
    if (asked < 0 || asked > MAX_REASONS_LIMIT)
        return churn_rpc_error(rpc, CHURN_EINVAL,
                               "max_reasons: %d is out of range (0 for the default, 1 to %d)",
                               (int)asked, MAX_REASONS_LIMIT);
    *out = asked ? (size_t)asked : dflt;
    return CHURN_OK;
}

static enum churn_err
get_score(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__GetScoreRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    if (!svc->store)
        return churn_rpc_error(rpc, CHURN_EUNAVAIL, "the store is not open yet");
    size_t k = 0;
    if (reasons_wanted(rpc, req->max_reasons, MAX_REASONS_DEFAULT, &k))
        return CHURN_EINVAL;
    struct churn_served *m = churn_scorer_acquire(svc->scoring);
    if (!m)
        return no_model(rpc);
    if (churn__answer_reuse(svc, rpc, m, req->customer_id, k)) {
        churn_served_release(m);
        return CHURN_OK; /* the kept bytes are the response */
    }
    struct churn_arena *a = churn_rpc_arena(rpc);
    Churn__V1__GetScoreResponse *resp = churn_arena_alloc(a, sizeof(*resp));
    if (!resp) {
        churn_served_release(m);
        return CHURN_ENOMEM;
    }
    churn__v1__get_score_response__init(resp);
    char err[300];
    struct churn_score *scratch = churn_arena_alloc(a, sizeof(*scratch));
    uint64_t erasures = churn__answer_erasures(svc); /* before the score is read */
    enum churn_err e = scratch ? churn__score_for_response(svc, m, req->customer_id, k, scratch, a,
                                                           &resp->score, err, sizeof(err))
                               : CHURN_ENOMEM;
    churn_served_release(m);
    if (e == CHURN_ENOMEM)
        return e;
    if (e)
        return churn_rpc_error(rpc, e, "%s", err);
    if (!churn__answer_keep(svc, rpc, req->customer_id, k, scratch, &resp->base, erasures))
        *out = &resp->base;
    return CHURN_OK;
}

static enum churn_err
batch_get_scores(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__BatchGetScoresRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    if (!svc->store)
        return churn_rpc_error(rpc, CHURN_EUNAVAIL, "the store is not open yet");
    if (req->n_customer_ids == 0)
        return churn_rpc_error(rpc, CHURN_EINVAL, "customer_ids: empty");
    if (req->n_customer_ids > BATCH_LIMIT)
        return churn_rpc_error(rpc, CHURN_ETOOBIG, "customer_ids: %zu is over the limit of %d",
                               req->n_customer_ids, BATCH_LIMIT);
    size_t k = 0;
    if (reasons_wanted(rpc, req->max_reasons, MAX_REASONS_DEFAULT, &k))
        return CHURN_EINVAL;
    struct churn_served *m = churn_scorer_acquire(svc->scoring);
    if (!m)
        return no_model(rpc);
    struct churn_arena *a = churn_rpc_arena(rpc);
    size_t n = req->n_customer_ids;
    Churn__V1__BatchGetScoresResponse *resp = churn_arena_alloc(a, sizeof(*resp));
    Churn__V1__BatchGetScoresResult *results = churn_arena_alloc(a, n * sizeof(*results));
    Churn__V1__BatchGetScoresResult **list = churn_arena_alloc(a, n * sizeof(*list));
    struct churn_score *scratch = churn_arena_alloc(a, sizeof(*scratch));
    if (!resp || !results || !list || !scratch) {
        churn_served_release(m);
        return churn_rpc_error(rpc, CHURN_ETOOBIG, "response too large");
    }
    churn__v1__batch_get_scores_response__init(resp);
    for (size_t i = 0; i < n; i++) {
        Churn__V1__BatchGetScoresResult *r = &results[i];
        churn__v1__batch_get_scores_result__init(r);
        r->customer_id = req->customer_ids[i];
        char err[300];
        Churn__V1__Score *s = NULL;
        /* an id the transport refused (NUL, control character) fails its own item only */
        const struct churn_rpc_fault *fault = churn_rpc_fault_for(rpc, 1, i);
        enum churn_err e = fault ? fault->err : CHURN_OK;
        if (fault) {
            churn_rpc_fault_format(fault, NULL, err, sizeof(err));
            if (fault->no_echo)
                r->customer_id = "";
        } else {
            e = churn__score_for_response(svc, m, req->customer_ids[i], k, scratch, a, &s, err,
                                          sizeof(err));
        }
        if (e == CHURN_OK) {
            r->result_case = CHURN__V1__BATCH_GET_SCORES_RESULT__RESULT_SCORE;
            r->score = s;
            resp->scored++;
        } else {
            Churn__V1__ErrorDetail *d = churn_arena_alloc(a, sizeof(*d));
            if (!d) {
                churn_served_release(m);
                return churn_rpc_error(rpc, CHURN_ETOOBIG, "response too large");
            }
            churn__v1__error_detail__init(d);
            d->code = churn_rpc_status_code(e);
            d->message = churn_arena_strdup(a, err);
            d->field = churn_arena_printf(a, "customer_ids[%zu]", i);
            r->result_case = CHURN__V1__BATCH_GET_SCORES_RESULT__RESULT_ERROR;
            r->error = d;
            resp->failed++;
        }
        list[i] = r;
    }
    churn_served_release(m);
    resp->n_results = n;
    resp->results = list;
    *out = &resp->base;
    return CHURN_OK;
}

/* ListAtRiskCustomers: score everyone, keep those passing the filter, sort by priority. */
struct at_risk_entry {
    char id[CHURN_ID_MAX + 1];
    double priority;
    double probability;
};

struct at_risk_scan {
    struct churn_services *svc;
    struct churn_served *m;
    const Churn__V1__AtRiskFilter *filter;
    struct at_risk_entry *entries;
    size_t n, cap;
    struct churn_score *score; /* scratch */
    enum churn_err err;
};

static bool
filter_has(const int *list, size_t n, int v)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if (list[i] == v)
            return true;
    return false;
}

static int
at_risk_visit(const struct churn_customer *rec, void *user)
{
    struct at_risk_scan *sc = user;
    const Churn__V1__AtRiskFilter *f = sc->filter;
    if (rec->churned_at_ms > 0)
        return 0; /* already lost: nothing to warn about */
    struct churn_score *s = sc->score;
    churn_scorer_score_record(sc->svc->scoring, sc->m, rec, s); /* the index refreshed too */
    /* no risk tiers asked for: MEDIUM and HIGH (scoring.proto) */
    if ((!f || f->n_risk_tiers == 0) && s->risk_tier < CHURN_TIER_MEDIUM)
        return 0;
    if (f) {
        if (!filter_has((const int *)f->risk_tiers, f->n_risk_tiers, (int)s->risk_tier) ||
            !filter_has((const int *)f->value_tiers, f->n_value_tiers, (int)s->value_tier) ||
            s->probability < f->min_probability || s->priority < f->min_priority)
            return 0;
        if (f->n_segments) {
            bool ok = false;
            for (size_t i = 0; i < f->n_segments && !ok; i++)
                ok = strcmp(f->segments[i], rec->attrs.segment) == 0;
            if (!ok)
                return 0;
        }
    }
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 1024;
        struct at_risk_entry *e = churn_realloc(sc->entries, cap * sizeof(*e));
        if (!e) {
            sc->err = CHURN_ENOMEM;
            return 1;
        }
        sc->entries = e;
        sc->cap = cap;
    }
    struct at_risk_entry *e = &sc->entries[sc->n++];
    snprintf(e->id, sizeof(e->id), "%s", rec->id);
    e->priority = s->priority;
    e->probability = s->probability;
    return 0;
}

static int
by_priority(const void *a, const void *b)
{
    const struct at_risk_entry *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? 1 : -1;
    if (x->probability != y->probability)
        return x->probability < y->probability ? 1 : -1;
    return strcmp(x->id, y->id);
}

static enum churn_err
list_at_risk(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__ListAtRiskCustomersRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    if (!svc->store)
        return churn_rpc_error(rpc, CHURN_EUNAVAIL, "the store is not open yet");
    if (req->page_size < 0)
        return churn_rpc_error(rpc, CHURN_EINVAL, "page_size: must be >= 0");
    size_t k = 0;
    if (reasons_wanted(rpc, req->max_reasons, 3, &k))
        return CHURN_EINVAL;
    const Churn__V1__AtRiskFilter *f = req->filter;
    if (f) {
        if (!(f->min_probability >= 0 && f->min_probability <= 1))
            return churn_rpc_error(rpc, CHURN_EINVAL, "filter.min_probability: must be 0 to 1");
        if (!(f->min_priority >= 0))
            return churn_rpc_error(rpc, CHURN_EINVAL, "filter.min_priority: must be >= 0");
        for (size_t i = 0; i < f->n_risk_tiers; i++)
            if (f->risk_tiers[i] < CHURN__V1__RISK_TIER__RISK_TIER_LOW ||
                f->risk_tiers[i] > CHURN__V1__RISK_TIER__RISK_TIER_HIGH)
                return churn_rpc_error(rpc, CHURN_EINVAL, "filter.risk_tiers[%zu]: not a tier", i);
        for (size_t i = 0; i < f->n_value_tiers; i++)
            if (f->value_tiers[i] < CHURN__V1__VALUE_TIER__VALUE_TIER_LOW ||
                f->value_tiers[i] > CHURN__V1__VALUE_TIER__VALUE_TIER_HIGH)
                return churn_rpc_error(rpc, CHURN_EINVAL, "filter.value_tiers[%zu]: not a tier", i);
    }
    /* from the score index once it is built (O(page log N)); before, a scan of the store */
    enum churn_err ie = churn__at_risk_from_index(rpc, req, k, out);
    if (ie != CHURN_EAGAIN)
        return ie;
    /* the scan's page token is the offset into the priority order, as decimal text */
    size_t offset = 0;
    if (*req->page_token) {
        struct churn_page_token t;
        const char *why;
        if (churn_page_token_parse(req->page_token, CHURN_PAGE_OFFSET, &t, &why) ||
            t.position > 100000000ULL)
            return churn_rpc_error(rpc, CHURN_EINVAL, "page_token: not a token from this API");
        offset = (size_t)t.position;
    }
    struct churn_served *m = churn_scorer_acquire(svc->scoring);
    if (!m)
        return no_model(rpc);
    struct churn_score *scratch = churn_arena_alloc(churn_rpc_arena(rpc), sizeof(*scratch));
    if (!scratch) {
        churn_served_release(m);
        return CHURN_ENOMEM;
    }
    struct at_risk_scan scan = {.svc = svc, .m = m, .filter = req->filter, .score = scratch};
    enum churn_err e = churn_store_foreach_customer(svc->store, at_risk_visit, &scan);
    if (!e && scan.err)
        e = scan.err;
    if (e) {
        churn_served_release(m);
        churn_free(scan.entries);
        return churn_rpc_error(rpc, e, "cannot scan customers: %s", churn_strerror(e));
    }
    qsort(scan.entries, scan.n, sizeof(*scan.entries), by_priority);
    size_t page = req->page_size ? (size_t)req->page_size : PAGE_SIZE_DEFAULT;
    if (page > PAGE_SIZE_LIMIT)
        page = PAGE_SIZE_LIMIT; /* larger values are clamped (scoring.proto) */
    size_t first = offset < scan.n ? offset : scan.n;
    size_t count = scan.n - first < page ? scan.n - first : page;
    struct churn_arena *a = churn_rpc_arena(rpc);
    Churn__V1__ListAtRiskCustomersResponse *resp = churn_arena_alloc(a, sizeof(*resp));
    Churn__V1__Score **scores = churn_arena_alloc(a, (count + 1) * sizeof(*scores));
    if (!resp || !scores) {
        churn_served_release(m);
        churn_free(scan.entries);
        return CHURN_ENOMEM;
    }
    churn__v1__list_at_risk_customers_response__init(resp);
    for (size_t i = 0; i < count; i++) {
        char err[300];
        e = churn__score_for_response(svc, m, scan.entries[first + i].id, k, scratch, a,
                                      &scores[resp->n_scores], err, sizeof(err));
        if (e == CHURN_OK)
            resp->n_scores++; /* a customer erased meanwhile is skipped */
    }
    resp->scores = scores;
    resp->total_size = (int64_t)scan.n;
    resp->snapshot_at_ms = churn_now_ms();
    char tok[CHURN_PAGE_TOKEN_MAX];
    struct churn_page_token next = {CHURN_PAGE_OFFSET, 0, first + count};
    if (first + count < scan.n && churn_page_token_format(&next, tok, sizeof(tok)))
        resp->next_page_token = churn_arena_strdup(a, tok);
    churn_served_release(m);
    churn_free(scan.entries);
    *out = &resp->base;
    return CHURN_OK;
}

/* ---- ModelService ------------------------------------------------------------------------ */

static Churn__V1__ModelInfo *
model_info_to_proto(const struct churn_served *m, struct churn_arena *a)
{
    const struct churn_model_info *info = churn_model_info(m->model);
    Churn__V1__ModelInfo *mi = churn_arena_alloc(a, sizeof(*mi));
    Churn__V1__FeatureSpec *fs = churn_arena_alloc(a, (m->n_inputs + 1) * sizeof(*fs));
    Churn__V1__FeatureSpec **fl = churn_arena_alloc(a, (m->n_inputs + 1) * sizeof(*fl));
    if (!mi || !fs || !fl)
        return NULL;
    churn__v1__model_info__init(mi);
    mi->version = (char *)(info->version ? info->version : "");
    mi->kind =
        info->kind == CHURN_MODEL_GBDT    ? CHURN__V1__MODEL_KIND__MODEL_KIND_GRADIENT_BOOSTED_TREES
        : info->kind == CHURN_MODEL_BLEND ? CHURN__V1__MODEL_KIND__MODEL_KIND_BLEND
                                          : CHURN__V1__MODEL_KIND__MODEL_KIND_LOGISTIC_REGRESSION;
    mi->trained_at_ms = info->trained_at_ms;
    mi->loaded_at_ms = m->loaded_at_ms;
    mi->path = (char *)m->path;
    mi->checksum = (char *)(info->checksum ? info->checksum : "");
    mi->data_hash = (char *)(info->data_hash ? info->data_hash : "");
    mi->num_trees = (int32_t)info->n_trees;
    mi->calibration = info->calibration == CHURN_CALIBRATION_PLATT
                          ? CHURN__V1__CALIBRATION_METHOD__CALIBRATION_METHOD_PLATT
                      : info->calibration == CHURN_CALIBRATION_ISOTONIC
                          ? CHURN__V1__CALIBRATION_METHOD__CALIBRATION_METHOD_ISOTONIC
                          : CHURN__V1__CALIBRATION_METHOD__CALIBRATION_METHOD_NONE;
    mi->horizon_ms = churn_served_horizon_ms(m);
    const struct churn_feature_info *cat = churn_features_catalogue();
    for (size_t i = 0; i < m->n_inputs; i++) {
        const struct churn_model_feature *f = churn_model_feature(m->model, i);
        churn__v1__feature_spec__init(&fs[i]);
        fs[i].name = (char *)f->name;
        int in_cat = churn_model_inputs_feature(m->inputs, i);
        fs[i].label = (char *)(in_cat >= 0 ? cat[in_cat].label : f->label);
        fs[i].type = f->type == CHURN_FEATURE_CATEGORICAL
                         ? CHURN__V1__FEATURE_TYPE__FEATURE_TYPE_CATEGORICAL
                         : CHURN__V1__FEATURE_TYPE__FEATURE_TYPE_NUMERIC;
        fs[i].monotone = f->monotone;
        if (in_cat >= 0) {
            const struct churn_feature_info *c = &cat[in_cat];
            fs[i].description = (char *)c->description;
            fs[i].unit = (char *)c->unit;
            fs[i].window_ms = (int64_t)c->window_days * CHURN_MS_PER_DAY;
        }
        fl[i] = &fs[i];
    }
    mi->n_features = m->n_inputs;
    mi->features = fl;
    /* training metrics are JSON text in the file; pick the figures the API carries */
    Churn__V1__TrainingMetrics *tm = churn_arena_alloc(a, sizeof(*tm));
    if (tm) {
        churn__v1__training_metrics__init(tm);
        const char *j = info->metrics ? info->metrics : "";
        const struct {
            const char *key;
            double *dst;
        } keys[] = {{"\"cv_auc\":", &tm->auc},
                    {"\"auc\":", &tm->auc},
                    {"\"pr_auc\":", &tm->pr_auc},
                    {"\"log_loss\":", &tm->log_loss},
                    {"\"brier\":", &tm->brier}};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            const char *p = strstr(j, keys[i].key);
            if (p && *keys[i].dst == 0)
                *keys[i].dst = strtod(p + strlen(keys[i].key), NULL);
        }
        tm->rows = (int64_t)info->training_rows;
        mi->metrics = tm;
    }
    return mi;
}

/* The ModelInfo of @m with every string copied into @a (it outlives our reference). */
static Churn__V1__ModelInfo *
model_info_copy(const struct churn_served *m, struct churn_arena *a)
{
    Churn__V1__ModelInfo *mi = model_info_to_proto(m, a);
    if (!mi)
        return NULL;
    mi->version = churn_arena_strdup(a, mi->version);
    mi->path = churn_arena_strdup(a, mi->path);
    mi->checksum = churn_arena_strdup(a, mi->checksum);
    mi->data_hash = churn_arena_strdup(a, mi->data_hash);
    for (size_t k = 0; k < mi->n_features; k++) {
        mi->features[k]->name = churn_arena_strdup(a, mi->features[k]->name);
        mi->features[k]->label = churn_arena_strdup(a, mi->features[k]->label);
    }
    return mi;
}

static enum churn_err
get_model_info(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    struct churn_services *svc = churn_rpc_service(rpc);
    struct churn_served *m = churn_scorer_acquire(svc->scoring);
    if (!m)
        return no_model(rpc);
    struct churn_arena *a = churn_rpc_arena(rpc);
    Churn__V1__GetModelInfoResponse *resp = churn_arena_alloc(a, sizeof(*resp));
    Churn__V1__ModelInfo *mi = model_info_copy(m, a);
    enum churn_err e = CHURN_OK;
    if (!resp || !mi) {
        e = CHURN_ENOMEM;
    } else {
        churn__v1__get_model_info_response__init(resp);
        resp->model = mi;
        e = churn__models_fill_info(svc, resp, a);
        *out = &resp->base;
    }
    churn_served_release(m);
    return e;
}

static enum churn_err
reload_model(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__ReloadModelRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    if (strlen(req->path) > 4096)
        return churn_rpc_error(rpc, CHURN_EINVAL, "path: over 4096 bytes");
    char err[512], old[256] = "", path[CHURN_REGISTRY_PATH_MAX] = "";
    /* issue 14: only files inside --model-dir (an empty path re-reads the one serving) */
    enum churn_err e =
        *req->path ? churn__models_check_path(svc, req->path, path, sizeof(path), err, sizeof(err))
                   : CHURN_OK;
    if (e)
        return churn_rpc_error(rpc, e, "%s", err);
    struct churn_served *candidate = NULL;
    e = req->dry_run ? churn_scorer_reload(svc->scoring, path, true, old, sizeof(old), &candidate,
                                           err, sizeof(err))
                     : churn__models_serve_path(svc, path, CHURN_ORIGIN_RELOAD, NULL, old,
                                                sizeof(old), err, sizeof(err));
    if (e == CHURN_ECORRUPT || e == CHURN_ETOOBIG)
        e = CHURN_EPRECOND; /* a bad file: the old model keeps serving */
    if (e)
        return churn_rpc_error(rpc, e, "model refused, the previous one keeps serving: %s", err);
    struct churn_arena *a = churn_rpc_arena(rpc);
    Churn__V1__ReloadModelResponse *resp = churn_arena_alloc(a, sizeof(*resp));
    if (!resp)
        return CHURN_ENOMEM;
    churn__v1__reload_model_response__init(resp);
    resp->old_version = churn_arena_strdup(a, old);
    resp->swapped = !req->dry_run;
    if (resp->swapped)
        resp->reloaded_at_ms = churn_now_ms();
    struct churn_served *m = churn_scorer_acquire(svc->scoring);
    if (m) {
        const char *v = churn_model_info(m->model)->version;
        resp->new_version = churn_arena_strdup(a, v ? v : "");
        churn_served_release(m);
    }
    /* the model loaded (the candidate of a dry run, else the one serving), strings copied */
    if (!candidate)
        candidate = churn_scorer_acquire(svc->scoring);
    resp->model = candidate ? model_info_copy(candidate, a) : NULL;
    churn_served_release(candidate);
    *out = &resp->base;
    return CHURN_OK;
}

const struct churn_method churn__scoring_methods[] = {
    {
        .name = "/churn.v1.ScoringService/GetScore",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__get_score_request__descriptor,
        .response = &churn__v1__get_score_response__descriptor,
        .unary = get_score,
        .max_request_bytes = 4096,
    },
    {
        .name = "/churn.v1.ScoringService/BatchGetScores",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__batch_get_scores_request__descriptor,
        .response = &churn__v1__batch_get_scores_response__descriptor,
        .unary = batch_get_scores,
        .max_request_bytes = 256 * 1024,
        .arena_bytes = 64 * 1024 * 1024, /* 1,000 scores with 20 reasons each */
        .per_item_faults = true,
    },
    {
        .name = "/churn.v1.ScoringService/ListAtRiskCustomers",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__list_at_risk_customers_request__descriptor,
        .response = &churn__v1__list_at_risk_customers_response__descriptor,
        .unary = list_at_risk,
        .max_request_bytes = 16 * 1024,
        .arena_bytes = 64 * 1024 * 1024, /* a page of 1,000 scores */
    },
    {
        .name = "/churn.v1.ModelService/GetModelInfo",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__get_model_info_request__descriptor,
        .response = &churn__v1__get_model_info_response__descriptor,
        .unary = get_model_info,
        .max_request_bytes = 1024,
    },
    {
        .name = "/churn.v1.ModelService/ReloadModel",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__reload_model_request__descriptor,
        .response = &churn__v1__reload_model_response__descriptor,
        .unary = reload_model,
        .max_request_bytes = 8192,
    },
};
const size_t churn__n_scoring_methods =
    sizeof(churn__scoring_methods) / sizeof(churn__scoring_methods[0]);
