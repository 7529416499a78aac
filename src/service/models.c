/*
 * models.c - the served model's life across restarts and its churn.v1.ModelService registry
 * RPCs: at start-up the registry's served model serves again (its file checked against the
 * registered bytes; a file gone or altered is refused, logged and remembered, and the model
 * served before it, or --model, serves instead); every swap (--model, ReloadModel, SIGHUP,
 * promotion, rollback, retraining) is recorded in the registry after the new model serves; and
 * the handlers of ListModels, PromoteModel, RollbackModel and RetrainModel, plus the registry
 * part of GetModelInfo. The registry itself is engine code (engine/registry.c).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/file.h"
#include "churn/log.h"
#include "churn/model.h"
#include "churn/registry.h"
#include "churn/retrain.h"
#include "churn/service.h"
#include "churn_proto.h"
#include "churn/score.h"
#include "service_internal.h"

#define START_CANDIDATES 16 /* registry entries tried at start-up */

struct churn__models {
    pthread_mutex_t mu; /* one swap-and-record at a time, so registry and server agree */
    struct churn_registry *reg;
};

enum churn_err
churn__models_open(struct churn_services *svc, char *err, size_t errlen)
{
    struct churn__models *ms = churn_calloc(1, sizeof(*ms));
    if (!ms)
        return churn_fail(err, errlen, CHURN_ENOMEM, "out of memory");
    enum churn_err e = churn_registry_open(svc->store, &ms->reg, err, errlen);
    if (e) {
        churn_free(ms);
        return e;
    }
    pthread_mutex_init(&ms->mu, NULL);
    svc->models = ms;
    return CHURN_OK;
}

void
churn__models_close(struct churn_services *svc)
{
    struct churn__models *ms = svc->models;
    if (!ms)
        return;
    churn_registry_close(ms->reg);
    pthread_mutex_destroy(&ms->mu);
    churn_free(ms);
    svc->models = NULL;
}

struct churn_registry *
churn__models_registry(struct churn_services *svc)
{
    return svc->models ? svc->models->reg : NULL;
}

/* The path of the file serving now, copied into @buf. */
static const char *
served_path(struct churn_services *svc, char *buf, size_t len)
{
    churn_scorer_path(svc->scoring, buf, len);
    return buf;
}

/* Swap in @path (mu held); @old gets the version serving before. */
static enum churn_err
swap_locked(struct churn_services *svc, const char *path, char *old, size_t oldlen, char *err,
            size_t errlen)
{
    enum churn_err e =
        churn_scorer_reload(svc->scoring, path, false, old, oldlen, NULL, err, errlen);
    if (e == CHURN_OK)
        churn__health_model_served(svc);
    return e;
}

/* Register @path (identified now) with @origin and record it as serving (mu held). */
static enum churn_err
record_serving_locked(struct churn__models *ms, const char *path, enum churn_model_origin origin,
                      uint32_t *id_out, char *err, size_t errlen)
{
    struct churn_model_file_id fid;
    enum churn_err e = churn_model_file_identify(path, &fid, err, errlen);
    uint32_t id = 0;
    int64_t now = churn_now_ms();
    if (!e && (e = churn_registry_add(ms->reg, path, &fid, origin, now, NULL, &id)))
        churn_fail(err, errlen, e, "model registry: cannot register %s: %s", path,
                   e == CHURN_EFULL ? "every entry is in the served history"
                                    : churn_store_last_error());
    if (!e && (e = churn_registry_promote(ms->reg, id, now)))
        churn_fail(err, errlen, e, "model registry: cannot record %s as serving: %s", path,
                   churn_store_last_error());
    if (!e && id_out)
        *id_out = id;
    return e;
}

/* Log a registry failure after a swap that did happen: the model serves, the record lags. */
static void
log_record_failure(const char *path, const char *err)
{
    churn_log(CHURN_LOG_WARN, "model_registry_write_failed", CHURN_LF_STR("path", path),
              CHURN_LF_STR("error", err),
              CHURN_LF_STR("msg", "the model serves but will not be restored after a restart"));
}

enum churn_err
churn__models_serve_path(struct churn_services *svc, const char *path,
                         enum churn_model_origin origin, uint32_t *id_out, char *old, size_t oldlen,
                         char *err, size_t errlen)
{
    struct churn__models *ms = svc->models;
    if (!ms)
        return swap_locked(svc, path, old, oldlen, err, errlen);
    pthread_mutex_lock(&ms->mu);
    enum churn_err e = swap_locked(svc, path, old, oldlen, err, errlen);
    if (!e) {
        char why[600], buf[CHURN_REGISTRY_PATH_MAX];
        const char *p = *path ? path : served_path(svc, buf, sizeof(buf));
        if (record_serving_locked(ms, p, origin, id_out, why, sizeof(why)) != CHURN_OK)
            log_record_failure(p, why);
    }
    pthread_mutex_unlock(&ms->mu);
    return e;
}

enum churn_err
churn__models_check_path(const struct churn_services *svc, const char *path, char *resolved,
                         size_t cap, char *err, size_t errlen)
{
    if (!svc->model_dir || !*svc->model_dir)
        return churn_fail(err, errlen, CHURN_EINVAL, "path: no --model-dir to read models from");
    char why[600];
    enum churn_err e = churn_file_inside_dir(svc->model_dir, path, resolved, cap, why, sizeof(why));
    if (e)
        return churn_fail(err, errlen, e == CHURN_ENOTFOUND ? e : CHURN_EINVAL,
                          "%s (model files are read only from inside --model-dir %s)", why,
                          svc->model_dir);
    return CHURN_OK;
}

/* At start-up, entry @e's file is gone from its path: a store restored onto another machine
 * (churnctl restore --model-dir) or a moved model directory. The file of the same name inside
 * --model-dir, when it has exactly the registered bytes, becomes the entry's path (@e is
 * updated); false when there is none. */
static bool
relocated(struct churn_services *svc, struct churn_registry_entry *e)
{
    const char *base = strrchr(e->path, '/');
    base = base ? base + 1 : e->path;
    char cand[CHURN_REGISTRY_PATH_MAX], resolved[CHURN_REGISTRY_PATH_MAX], why[700];
    if (!svc->model_dir || !*svc->model_dir ||
        snprintf(cand, sizeof(cand), "%s/%s", svc->model_dir, base) >= (int)sizeof(cand) ||
        churn__models_check_path(svc, cand, resolved, sizeof(resolved), why, sizeof(why)) ||
        strcmp(resolved, e->path) == 0)
        return false;
    if (churn_registry_relocate(svc->models->reg, e->id, resolved, why, sizeof(why))) {
        churn_log(CHURN_LOG_WARN, "model_not_relocated", CHURN_LF_INT("registry_id", e->id),
                  CHURN_LF_STR("candidate", resolved), CHURN_LF_STR("error", why));
        return false;
    }
    churn_log(CHURN_LOG_INFO, "model_relocated", CHURN_LF_INT("registry_id", e->id),
              CHURN_LF_STR("from", e->path), CHURN_LF_STR("to", resolved),
              CHURN_LF_STR("msg", "the registered file, found in --model-dir"));
    snprintf(e->path, sizeof(e->path), "%s", resolved);
    return true;
}

/* Check entry @id's file and serve it (mu held); on failure @err says why. With @rpc_path
 * (a promotion or rollback over the wire) an entry that did not come from --model must be
 * inside --model-dir. */
static enum churn_err
serve_entry_locked(struct churn_services *svc, uint32_t id, bool rpc_path, char *old, size_t oldlen,
                   char *err, size_t errlen)
{
    struct churn_registry_entry e;
    char resolved[CHURN_REGISTRY_PATH_MAX];
    if (churn_registry_get(svc->models->reg, id, &e) != CHURN_OK)
        return churn_fail(err, errlen, CHURN_ENOTFOUND, "no model with registry id %u", id);
    enum churn_err r = CHURN_OK;
    if (rpc_path && e.origin != CHURN_ORIGIN_FLAG)
        r = churn__models_check_path(svc, e.path, resolved, sizeof(resolved), err, errlen);
    if (r == CHURN_ENOTFOUND)
        r = CHURN_OK; /* a file gone: the registry's verification says so */
    if (!r)
        r = churn_registry_verify(&e, err, errlen);
    if (r == CHURN_ENOTFOUND && !rpc_path && relocated(svc, &e))
        r = CHURN_OK;
    if (!r)
        r = swap_locked(svc, e.path, old, oldlen, err, errlen);
    return r;
}

/* Try the registry's candidates at start-up; true when one serves. */
static bool
serve_from_registry(struct churn_services *svc)
{
    struct churn__models *ms = svc->models;
    uint32_t ids[START_CANDIDATES];
    size_t n = churn_registry_start_candidates(ms->reg, ids, START_CANDIDATES);
    uint32_t served = churn_registry_served_id(ms->reg);
    for (size_t i = 0; i < n; i++) {
        char err[700], old[256];
        if (serve_entry_locked(svc, ids[i], false, old, sizeof(old), err, sizeof(err)) !=
            CHURN_OK) {
            churn_log(CHURN_LOG_WARN, "model_refused", CHURN_LF_INT("registry_id", ids[i]),
                      CHURN_LF_STR("error", err),
                      CHURN_LF_STR("msg", "trying the model served before it"));
            churn_registry_refuse(ms->reg, ids[i], err);
            continue;
        }
        char buf[CHURN_REGISTRY_PATH_MAX];
        served_path(svc, buf, sizeof(buf));
        if (ids[i] != served && churn_registry_rollback(ms->reg, ids[i], churn_now_ms()))
            log_record_failure(buf, churn_store_last_error());
        churn_log(CHURN_LOG_INFO, "model_restored", CHURN_LF_INT("registry_id", ids[i]),
                  CHURN_LF_STR("path", buf));
        return true;
    }
    return false;
}

enum churn_err
churn_services_start_model(struct churn_services *svc, const char *flag_path, char *err,
                           size_t errlen)
{
    struct churn__models *ms = svc->models;
    char old[256];
    if (!ms) /* no store: only the flag */
        return *flag_path ? swap_locked(svc, flag_path, old, sizeof(old), err, errlen) : CHURN_OK;
    pthread_mutex_lock(&ms->mu);
    enum churn_err e = CHURN_OK;
    struct churn_model_file_id fid;
    bool flag_known = false;
    if (*flag_path) {
        e = churn_model_file_identify(flag_path, &fid, err, errlen);
        flag_known = !e && churn_registry_find_file(ms->reg, flag_path, fid.file_hash) != 0;
    }
    /* --model names a file the registry has not seen (new or changed): it serves. Otherwise
     * the registry's served model serves (it may have been promoted since). */
    if (!e && (!*flag_path || flag_known) && serve_from_registry(svc))
        goto out;
    if (!e && *flag_path)
        e = swap_locked(svc, flag_path, old, sizeof(old), err, errlen);
    if (!e && *flag_path) {
        char why[600];
        if (record_serving_locked(ms, flag_path, CHURN_ORIGIN_FLAG, NULL, why, sizeof(why)))
            log_record_failure(flag_path, why);
    }
out:
    pthread_mutex_unlock(&ms->mu);
    return e;
}

/* ---- retraining ------------------------------------------------------------------------- */

static struct churn_model *
hook_champion(void *user)
{
    struct churn_services *svc = user;
    return churn_scorer_model(svc->scoring);
}

/* Serve the retrained model @path, registered as @id: swap, then record the promotion. */
static enum churn_err
hook_serve(void *user, const char *path, uint32_t id, char *err, size_t errlen)
{
    struct churn_services *svc = user;
    struct churn__models *ms = svc->models;
    char old[256];
    pthread_mutex_lock(&ms->mu);
    enum churn_err e = swap_locked(svc, path, old, sizeof(old), err, errlen);
    if (!e && churn_registry_promote(ms->reg, id, churn_now_ms()) != CHURN_OK)
        log_record_failure(path, churn_store_last_error());
    pthread_mutex_unlock(&ms->mu);
    if (!e)
        churn_log(CHURN_LOG_INFO, "model_promoted", CHURN_LF_INT("registry_id", id),
                  CHURN_LF_STR("path", path), CHURN_LF_STR("previous_version", old),
                  CHURN_LF_STR("by", "retraining"));
    return e;
}

enum churn_err
churn_services_start_retrainer(struct churn_services *svc, const struct churn_retrain_options *o,
                               char *err, size_t errlen)
{
    if (!svc->models)
        return churn_fail(err, errlen, CHURN_EPRECOND, "no store attached");
    struct churn_retrain_hooks hooks = {
        .champion = hook_champion, .serve = hook_serve, .user = svc};
    return churn_retrainer_start(svc->models->reg, o, &hooks, &svc->retrainer, err, errlen);
}

void
churn_services_stop_retrainer(struct churn_services *svc)
{
    churn_retrainer_stop(svc->retrainer);
    svc->retrainer = NULL;
}

/* ---- conversions ------------------------------------------------------------------------- */

static Churn__V1__BacktestFigures *
figures_to_proto(const struct churn_backtest_figures *f, struct churn_arena *a)
{
    Churn__V1__BacktestFigures *p = churn_arena_alloc(a, sizeof(*p));
    if (!p)
        return NULL;
    churn__v1__backtest_figures__init(p);
    if (!f->present)
        return p;
    p->as_of_ms = f->as_of_ms;
    p->horizon_days = f->horizon_days;
    p->customers = (int64_t)f->customers;
    p->auc = f->auc;
    p->pr_auc = f->pr_auc;
    p->mean_predicted = f->mean_predicted;
    p->realised_rate = f->realised_rate;
    return p;
}

static Churn__V1__RegistryEntry *
entry_to_proto(const struct churn_registry_entry *e, uint32_t served, struct churn_arena *a)
{
    Churn__V1__RegistryEntry *p = churn_arena_alloc(a, sizeof(*p));
    if (!p)
        return NULL;
    churn__v1__registry_entry__init(p);
    p->id = e->id;
    p->version = churn_arena_strdup(a, e->file.version);
    p->kind = e->file.kind == CHURN_MODEL_GBDT
                  ? CHURN__V1__MODEL_KIND__MODEL_KIND_GRADIENT_BOOSTED_TREES
                  : CHURN__V1__MODEL_KIND__MODEL_KIND_LOGISTIC_REGRESSION;
    p->path = churn_arena_strdup(a, e->path);
    p->checksum = churn_arena_strdup(a, e->file.checksum);
    p->file_hash = churn_arena_printf(a, "fnv1a64:%016" PRIx64, e->file.file_hash);
    p->size_bytes = (int64_t)e->file.size;
    p->trained_at_ms = e->file.trained_at_ms;
    p->training_rows = (int64_t)e->file.training_rows;
    p->train_from_ms = e->file.train_from_ms;
    p->train_until_ms = e->file.train_until_ms;
    p->origin = (Churn__V1__ModelOrigin)e->origin; /* same numbers */
    p->backtest = figures_to_proto(&e->backtest, a);
    p->registered_at_ms = e->registered_at_ms;
    p->promoted_at_ms = e->promoted_at_ms;
    p->retired_at_ms = e->retired_at_ms;
    p->serving = e->id == served;
    p->refused_reason = churn_arena_strdup(a, e->refused);
    bool ok =
        p->version && p->path && p->checksum && p->file_hash && p->backtest && p->refused_reason;
    return ok ? p : NULL;
}

static Churn__V1__RetrainDecision *
decision_to_proto(const struct churn_retrain_decision *d, struct churn_arena *a)
{
    Churn__V1__RetrainDecision *p = churn_arena_alloc(a, sizeof(*p));
    if (!p)
        return NULL;
    churn__v1__retrain_decision__init(p);
    p->run_id = d->run_id;
    p->started_at_ms = d->started_ms;
    p->finished_at_ms = d->finished_ms;
    p->outcome = (Churn__V1__RetrainOutcome)d->outcome; /* same numbers */
    p->trigger = churn_arena_strdup(a, d->trigger);
    p->candidate_id = d->candidate_id;
    p->champion_id = d->champion_id;
    p->candidate = figures_to_proto(&d->candidate, a);
    p->champion = figures_to_proto(&d->champion, a);
    p->training_rows = (int64_t)d->training_rows;
    p->positives = (int64_t)d->positives;
    p->margin = d->margin;
    p->reason = churn_arena_strdup(a, d->reason);
    return p->trigger && p->candidate && p->champion && p->reason ? p : NULL;
}

/* The decisions of @v as a proto list in @a (NULL when @a is full). */
static Churn__V1__RetrainDecision **
decisions_to_proto(const struct churn_registry_view *v, struct churn_arena *a)
{
    Churn__V1__RetrainDecision **list = churn_arena_alloc(a, (v->n_decisions + 1) * sizeof(*list));
    for (size_t i = 0; list && i < v->n_decisions; i++)
        if (!(list[i] = decision_to_proto(&v->decisions[i], a)))
            return NULL;
    return list;
}

/* A heap snapshot of the registry (the view is large); NULL when out of memory. */
static struct churn_registry_view *
snapshot(struct churn_services *svc)
{
    struct churn_registry_view *v = churn_malloc(sizeof(*v));
    if (v)
        churn_registry_snapshot(svc->models->reg, v);
    return v;
}

enum churn_err
churn__models_fill_info(struct churn_services *svc, Churn__V1__GetModelInfoResponse *resp,
                        struct churn_arena *a)
{
    if (!svc->models)
        return CHURN_OK;
    struct churn_registry_view *v = snapshot(svc);
    if (!v)
        return CHURN_ENOMEM;
    enum churn_err e = CHURN_OK;
    for (size_t i = 0; i < v->n_models; i++)
        if (v->models[i].id == v->served_id &&
            !(resp->registry = entry_to_proto(&v->models[i], v->served_id, a)))
            e = CHURN_ETOOBIG;
    resp->decisions = decisions_to_proto(v, a);
    resp->n_decisions = resp->decisions ? v->n_decisions : 0;
    if (!resp->decisions)
        e = CHURN_ETOOBIG;
    churn_free(v);
    return e;
}

/* ---- handlers ---------------------------------------------------------------------------- */

static enum churn_err
no_registry(struct churn_rpc *rpc)
{
    return churn_rpc_error(rpc, CHURN_EUNAVAIL, "the store (and its model registry) is not open");
}

static enum churn_err
list_models(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    (void)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    if (!svc->models)
        return no_registry(rpc);
    struct churn_arena *a = churn_rpc_arena(rpc);
    struct churn_registry_view *v = snapshot(svc);
    if (!v)
        return CHURN_ENOMEM;
    Churn__V1__ListModelsResponse *resp = churn_arena_alloc(a, sizeof(*resp));
    Churn__V1__RegistryEntry **list = churn_arena_alloc(a, (v->n_models + 1) * sizeof(*list));
    enum churn_err e = resp && list ? CHURN_OK : CHURN_ETOOBIG;
    for (size_t i = 0; !e && i < v->n_models; i++)
        if (!(list[i] = entry_to_proto(&v->models[i], v->served_id, a)))
            e = CHURN_ETOOBIG;
    if (!e) {
        churn__v1__list_models_response__init(resp);
        resp->models = list;
        resp->n_models = v->n_models;
        resp->serving_id = v->served_id;
        resp->decisions = decisions_to_proto(v, a);
        resp->n_decisions = v->n_decisions;
        e = resp->decisions ? CHURN_OK : CHURN_ETOOBIG;
    }
    churn_free(v);
    if (e)
        return churn_rpc_error(rpc, e, "response too large");
    *out = &resp->base;
    return CHURN_OK;
}

/* The newest entry of @version; 0 if none. */
static uint32_t
find_version(struct churn_services *svc, const char *version)
{
    struct churn_registry_view *v = snapshot(svc);
    uint32_t id = 0;
    for (size_t i = 0; v && i < v->n_models; i++)
        if (strcmp(v->models[i].file.version, version) == 0)
            id = v->models[i].id;
    churn_free(v);
    return id;
}

/* Answer a promotion or rollback to @id: old version and the entry serving now. */
static enum churn_err
swap_answer(struct churn_rpc *rpc, uint32_t id, const char *old, ProtobufCMessage **out,
            bool promote)
{
    struct churn_services *svc = churn_rpc_service(rpc);
    struct churn_arena *a = churn_rpc_arena(rpc);
    struct churn_registry_entry *e = churn_arena_alloc(a, sizeof(*e));
    if (!e || churn_registry_get(svc->models->reg, id, e) != CHURN_OK)
        return churn_rpc_error(rpc, CHURN_EINTERNAL, "registry entry %u vanished", id);
    Churn__V1__RegistryEntry *entry = entry_to_proto(e, id, a);
    char *old_copy = churn_arena_strdup(a, old);
    if (!entry || !old_copy)
        return churn_rpc_error(rpc, CHURN_ETOOBIG, "response too large");
    if (promote) {
        Churn__V1__PromoteModelResponse *r = churn_arena_alloc(a, sizeof(*r));
        if (!r)
            return CHURN_ENOMEM;
        churn__v1__promote_model_response__init(r);
        r->old_version = old_copy;
        r->model = entry;
        *out = &r->base;
    } else {
        Churn__V1__RollbackModelResponse *r = churn_arena_alloc(a, sizeof(*r));
        if (!r)
            return CHURN_ENOMEM;
        churn__v1__rollback_model_response__init(r);
        r->old_version = old_copy;
        r->model = entry;
        *out = &r->base;
    }
    return CHURN_OK;
}

/* Serve entry @id and record it (promotion or rollback); @err on refusal. */
static enum churn_err
move_to(struct churn_services *svc, uint32_t id, bool rollback, char *old, size_t oldlen, char *err,
        size_t errlen)
{
    struct churn__models *ms = svc->models;
    pthread_mutex_lock(&ms->mu);
    enum churn_err e = serve_entry_locked(svc, id, true, old, oldlen, err, errlen);
    if (e == CHURN_ENOTFOUND && strstr(err, "the file is gone"))
        e = CHURN_EPRECOND; /* the entry exists: its file does not */
    else if (e == CHURN_ECORRUPT || e == CHURN_EIO || e == CHURN_ETOOBIG)
        e = CHURN_EPRECOND;
    if (!e) {
        int64_t now = churn_now_ms();
        enum churn_err r = rollback ? churn_registry_rollback(ms->reg, id, now)
                                    : churn_registry_promote(ms->reg, id, now);
        char buf[CHURN_REGISTRY_PATH_MAX];
        if (r)
            log_record_failure(served_path(svc, buf, sizeof(buf)), churn_store_last_error());
        churn_log(CHURN_LOG_INFO, rollback ? "model_rolled_back" : "model_promoted",
                  CHURN_LF_INT("registry_id", id), CHURN_LF_STR("previous_version", old));
    }
    pthread_mutex_unlock(&ms->mu);
    return e;
}

static enum churn_err
promote_model(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__PromoteModelRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    if (!svc->models)
        return no_registry(rpc);
    uint32_t id = req->id;
    if (!id && !*req->version)
        return churn_rpc_error(rpc, CHURN_EINVAL, "id: 0 and version: empty; name one");
    if (!id && !(id = find_version(svc, req->version)))
        return churn_rpc_error(rpc, CHURN_ENOTFOUND, "version: no registered model '%s'",
                               req->version);
    char err[800], old[256] = "";
    enum churn_err e = move_to(svc, id, false, old, sizeof(old), err, sizeof(err));
    if (e)
        return churn_rpc_error(rpc, e, "%s%s", err,
                               e == CHURN_EPRECOND ? "; the serving model keeps serving" : "");
    return swap_answer(rpc, id, old, out, true);
}

static enum churn_err
rollback_model(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__RollbackModelRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    if (!svc->models)
        return no_registry(rpc);
    struct churn_registry_entry *target = churn_arena_alloc(churn_rpc_arena(rpc), sizeof(*target));
    char err[800], old[256] = "";
    if (!target)
        return CHURN_ENOMEM;
    enum churn_err e =
        churn_registry_rollback_target(svc->models->reg, req->id, target, err, sizeof(err));
    if (e)
        return churn_rpc_error(rpc, e, "%s", err);
    e = move_to(svc, target->id, true, old, sizeof(old), err, sizeof(err));
    if (e)
        return churn_rpc_error(rpc, e, "%s%s", err,
                               e == CHURN_EPRECOND ? "; the serving model keeps serving" : "");
    return swap_answer(rpc, target->id, old, out, false);
}

static enum churn_err
retrain_model(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    (void)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    if (!svc->retrainer)
        return churn_rpc_error(rpc, CHURN_EUNAVAIL, "retraining is not running (no store yet)");
    char err[400];
    uint64_t run_id = 0;
    int64_t started = 0;
    enum churn_err e =
        churn_retrainer_trigger(svc->retrainer, "rpc", &run_id, &started, err, sizeof(err));
    if (e)
        return churn_rpc_error(rpc, e, "%s", err);
    Churn__V1__RetrainModelResponse *r = churn_arena_alloc(churn_rpc_arena(rpc), sizeof(*r));
    if (!r)
        return CHURN_ENOMEM;
    churn__v1__retrain_model_response__init(r);
    r->run_id = run_id;
    r->started_at_ms = started;
    *out = &r->base;
    churn_log(CHURN_LOG_INFO, "retrain_started", CHURN_LF_INT("run", (int64_t)run_id),
              CHURN_LF_STR("trigger", "rpc"));
    return CHURN_OK;
}

const struct churn_method churn__model_methods[] = {
    {
        .name = "/churn.v1.ModelService/ListModels",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__list_models_request__descriptor,
        .response = &churn__v1__list_models_response__descriptor,
        .unary = list_models,
        .max_request_bytes = 1024,
        .arena_bytes = 4 * 1024 * 1024,
    },
    {
        .name = "/churn.v1.ModelService/PromoteModel",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__promote_model_request__descriptor,
        .response = &churn__v1__promote_model_response__descriptor,
        .unary = promote_model,
        .max_request_bytes = 1024,
    },
    {
        .name = "/churn.v1.ModelService/RollbackModel",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__rollback_model_request__descriptor,
        .response = &churn__v1__rollback_model_response__descriptor,
        .unary = rollback_model,
        .max_request_bytes = 1024,
    },
    {
        .name = "/churn.v1.ModelService/RetrainModel",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__retrain_model_request__descriptor,
        .response = &churn__v1__retrain_model_response__descriptor,
        .unary = retrain_model,
        .max_request_bytes = 1024,
    },
};
const size_t churn__n_model_methods =
    sizeof(churn__model_methods) / sizeof(churn__model_methods[0]);
