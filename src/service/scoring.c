/*
 * scoring.c - churn.v1.ScoringService and churn.v1.ModelService: the served model (loaded,
 * validated against what the store provides, swapped atomically under a reference count so
 * in-flight calls finish on the model they started with), scoring one customer (one store
 * read, features at now, prediction, top reasons, tiers, priority; or a caller's remembered
 * score when the record's bytes, the model and the tier cuts are unchanged), and the RPC
 * handlers.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alerts.h"
#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/features.h"
#include "churn/log.h"
#include "churn/model.h"
#include "churn/model_inputs.h"
#include "churn/page_token.h"
#include "churn/pb_arena.h"
#include "churn/reasons.h"
#include "churn/registry.h"
#include "churn/score_index.h"
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
/* The days a score looks ahead when the served model's file does not say (churnctl's default
 * training horizon). */
#define HORIZON_DAYS_DEFAULT 90

struct churn__served_model {
    atomic_int refs;
    struct churn_model *model;
    size_t n;
    struct churn_model_inputs *inputs; /* how each input is computed from a record */
    char *path;
    int64_t loaded_at_ms;
    uint64_t generation; /* unique per load: what a score memo was computed with */
};

static atomic_uint_fast64_t served_generations;

static void
served_unref(struct churn__served_model *m)
{
    if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
        return;
    churn_model_unref(m->model);
    churn_model_inputs_free(m->inputs);
    churn_free(m->path);
    churn_free(m);
}

/* Load @path and check that every input it needs is something the store provides. */
static enum churn_err
served_load(const char *path, struct churn__served_model **out, char *err, size_t errlen)
{
    struct churn_model *model;
    enum churn_err e = churn_model_load_file(path, &model, err, errlen);
    if (e)
        return e;
    struct churn__served_model *m = churn_calloc(1, sizeof(*m));
    char *p = churn_strdup(path);
    struct churn_model_inputs *inputs = NULL;
    if (!m || !p) {
        snprintf(err, errlen, "out of memory");
        e = CHURN_ENOMEM;
    } else {
        e = churn_model_inputs_bind(model, &inputs, err, errlen);
    }
    if (e) {
        churn_free(m);
        churn_free(p);
        churn_model_unref(model);
        return e;
    }
    atomic_init(&m->refs, 1);
    m->model = model;
    m->n = churn_model_n_features(model);
    m->inputs = inputs;
    m->path = p;
    m->loaded_at_ms = churn_now_ms();
    m->generation = atomic_fetch_add(&served_generations, 1) + 1;
    *out = m;
    return CHURN_OK;
}

#define MAX_THREADS 512

/* What one thread keeps for scoring: a reusable read transaction and a record buffer. */
struct thread_slot {
    struct churn_store_reader *reader;
    struct churn_customer *record;
};

struct churn__scoring {
    pthread_mutex_t mu;
    struct thread_slot threads[MAX_THREADS]; /* (mu) registered per-thread state */
    size_t n_threads;
    struct churn__served_model *current; /* (mu) */
    pthread_mutex_t reload_mu;           /* reloads (RPC and SIGHUP) run one after the other */
    char *default_path;
    /* the tier cut-offs in force: an immutable object swapped by churn__scoring_set_segments;
     * replaced ones are kept until destroy (a score may still read one; one per sweep) */
    _Atomic(struct segments_version *) segments;
};

struct segments_version {
    struct churn_segments cuts;
    struct segments_version *older;
};

static struct churn__served_model *
acquire(struct churn__scoring *sc)
{
    pthread_mutex_lock(&sc->mu);
    struct churn__served_model *m = sc->current;
    if (m)
        atomic_fetch_add(&m->refs, 1);
    pthread_mutex_unlock(&sc->mu);
    return m;
}

enum churn_err
churn__scoring_create(const char *model_path, struct churn__scoring **out, char *err, size_t errlen)
{
    struct churn__scoring *sc = churn_calloc(1, sizeof(*sc));
    if (!sc)
        return CHURN_ENOMEM;
    pthread_mutex_init(&sc->mu, NULL);
    pthread_mutex_init(&sc->reload_mu, NULL);
    sc->default_path = churn_strdup(model_path ? model_path : "");
    struct churn_segments initial = {.risk_high_cut = 0.5,
                                     .risk_medium_cut = 0.2,
                                     .value_high_cut = 2000,
                                     .value_medium_cut = 500};
    if (churn__scoring_set_segments(sc, &initial) != CHURN_OK) {
        churn__scoring_destroy(sc);
        return CHURN_ENOMEM;
    }
    if (model_path && *model_path) {
        enum churn_err e = served_load(model_path, &sc->current, err, errlen);
        if (e) {
            churn__scoring_destroy(sc);
            return e;
        }
    }
    *out = sc;
    return CHURN_OK;
}

void
churn__scoring_release_threads(struct churn__scoring *sc)
{
    pthread_mutex_lock(&sc->mu);
    for (size_t i = 0; i < sc->n_threads; i++) {
        churn_store_reader_close(sc->threads[i].reader);
        churn_free(sc->threads[i].record);
    }
    sc->n_threads = 0;
    pthread_mutex_unlock(&sc->mu);
}

void
churn__scoring_destroy(struct churn__scoring *sc)
{
    if (!sc)
        return;
    churn__scoring_release_threads(sc);
    served_unref(sc->current);
    for (struct segments_version *v = atomic_load(&sc->segments), *next; v; v = next) {
        next = v->older;
        churn_free(v);
    }
    pthread_mutex_destroy(&sc->mu);
    pthread_mutex_destroy(&sc->reload_mu);
    churn_free(sc->default_path);
    churn_free(sc);
}

enum churn_err
churn__scoring_reload(struct churn__scoring *sc, const char *path, bool dry_run, char *old_version,
                      size_t old_len, struct churn__served_model **loaded, char *err, size_t errlen)
{
    pthread_mutex_lock(&sc->reload_mu);
    const char *p = path && *path ? path : sc->default_path;
    enum churn_err e = CHURN_EPRECOND;
    struct churn__served_model *m = NULL;
    if (!*p) {
        snprintf(err, errlen,
                 "no model path configured: start churnd with --model FILE or "
                 "name one in the request");
        goto out;
    }
    e = served_load(p, &m, err, errlen);
    if (e)
        goto out;
    pthread_mutex_lock(&sc->mu);
    const char *cur = sc->current ? churn_model_info(sc->current->model)->version : NULL;
    snprintf(old_version, old_len, "%s", cur ? cur : "");
    pthread_mutex_unlock(&sc->mu);
    if (loaded) {
        atomic_fetch_add(&m->refs, 1);
        *loaded = m;
    }
    if (dry_run) {
        served_unref(m);
        goto out;
    }
    char *path_copy = p != sc->default_path ? churn_strdup(p) : NULL;
    pthread_mutex_lock(&sc->mu);
    struct churn__served_model *old = sc->current;
    sc->current = m;
    if (path_copy) {
        /* SIGHUP and an empty ReloadModel path re-read the file now being served */
        churn_free(sc->default_path);
        sc->default_path = path_copy;
    }
    pthread_mutex_unlock(&sc->mu);
    churn_log(CHURN_LOG_INFO, "model_loaded", CHURN_LF_STR("path", p),
              CHURN_LF_STR("version", churn_model_info(m->model)->version
                                          ? churn_model_info(m->model)->version
                                          : ""));
    served_unref(old); /* in-flight calls still hold their own references */
out:
    pthread_mutex_unlock(&sc->reload_mu);
    return e;
}

/* ---- scoring one customer ------------------------------------------------------------- */

static _Thread_local struct thread_slot *tls_slot;
static _Thread_local struct churn__scoring *tls_owner;

/* The monthly value of the latest plan the customer paid for (a plan change or the plan
 * before the first remembered one) at or before @as_of_ms; 0 when none was paid for. */
static double
last_paid_plan(const struct churn_customer *rec, int64_t as_of_ms)
{
    double paid = rec->n_plan_changes ? rec->plan_base_value : rec->attrs.monthly_value;
    if (!(paid > 0))
        paid = 0;
    for (unsigned i = 0; i < rec->n_plan_changes && rec->plan_changes[i].at_ms <= as_of_ms; i++)
        if (rec->plan_changes[i].monthly_value > 0)
            paid = rec->plan_changes[i].monthly_value;
    return paid;
}

/*
 * The customer's annual value (docs/ALERTS.md "Customer value"): 12 x the monthly revenue,
 * the larger of the plan's value and the recent spend (spend of the last 90 days / 3); when
 * both are nothing (no plan, or a plan just cancelled, and no recent order), what the record
 * says the customer was worth: the latest plan they paid for, else their lifetime spend per
 * month of tenure. So a customer who is cancelling keeps the value at risk.
 */
static double
customer_value(const struct churn_customer *rec, const struct churn_feature_vector *vec)
{
    double plan = vec->values[CHURN_FEAT_PLAN_MONTHLY_VALUE];
    double spend = vec->values[CHURN_FEAT_SPEND_90D];
    double per_month = vec->values[CHURN_FEAT_RFM_MONETARY];
    double monthly = 0;
    if (plan > 0)
        monthly = plan;
    if (spend / 3.0 > monthly)
        monthly = spend / 3.0;
    if (monthly <= 0)
        monthly = last_paid_plan(rec, vec->as_of_ms);
    if (monthly <= 0 && per_month > 0)
        monthly = per_month;
    return monthly * 12.0;
}

enum churn_err
churn__scoring_set_segments(struct churn__scoring *sc, const struct churn_segments *cuts)
{
    struct segments_version *v = churn_calloc(1, sizeof(*v));
    if (!v)
        return CHURN_ENOMEM;
    v->cuts = *cuts;
    pthread_mutex_lock(&sc->mu); /* one writer at a time keeps the chain intact */
    v->older = atomic_load(&sc->segments);
    atomic_store(&sc->segments, v);
    pthread_mutex_unlock(&sc->mu);
    return CHURN_OK;
}

void
churn__scoring_path(struct churn__scoring *sc, char *out, size_t len)
{
    pthread_mutex_lock(&sc->mu);
    snprintf(out, len, "%s", sc->current ? sc->current->path : "");
    pthread_mutex_unlock(&sc->mu);
}

struct churn_model *
churn__scoring_model(struct churn__scoring *sc)
{
    pthread_mutex_lock(&sc->mu);
    struct churn_model *m = sc->current ? churn_model_ref(sc->current->model) : NULL;
    pthread_mutex_unlock(&sc->mu);
    return m;
}

bool
churn__scoring_has_model(struct churn__scoring *sc)
{
    pthread_mutex_lock(&sc->mu);
    bool has = sc->current != NULL;
    pthread_mutex_unlock(&sc->mu);
    return has;
}

void
churn__scoring_segments(struct churn__scoring *sc, struct churn_segments *out)
{
    *out = atomic_load(&sc->segments)->cuts;
}

/* churn_tier and the proto's RiskTier / ValueTier share their numbers (LOW 1 .. HIGH 3). */
static Churn__V1__RiskTier
risk_tier(const struct churn__scoring *sc, double p)
{
    return (Churn__V1__RiskTier)churn_segments_risk_tier(&atomic_load(&sc->segments)->cuts, p);
}

static Churn__V1__ValueTier
value_tier(const struct churn__scoring *sc, double v)
{
    return (Churn__V1__ValueTier)churn_segments_value_tier(&atomic_load(&sc->segments)->cuts, v);
}

/* The reason @r (of model input @f, catalogue feature @cat or -1) in words, in @a; the numbers
 * stay in @r's numeric fields. */
static char *
reason_text(int cat, const struct churn_model_feature *f, const Churn__V1__Reason *r,
            const struct churn_customer *rec, const struct churn_feature_vector *vec,
            struct churn_arena *a)
{
    char text[CHURN_REASON_TEXT_MAX];
    int sign = r->contribution > 0 ? 1 : r->contribution < 0 ? -1 : 0;
    if (cat >= 0)
        churn_reason_feature_text(cat, vec, rec, sign, text, sizeof(text));
    else if (f->type == CHURN_FEATURE_CATEGORICAL)
        churn_reason_category_text(f->name, r->label, r->category, text, sizeof(text));
    else
        churn_reason_number_text(r->label, r->missing ? NAN : r->value, text, sizeof(text));
    char *copy = churn_arena_strdup(a, text);
    return copy ? copy : (char *)"";
}

/* The milliseconds a score of model @info looks ahead: its training horizon
 * (training.horizon_days), or HORIZON_DAYS_DEFAULT for a file that does not record one. */
static int64_t
horizon_ms(const struct churn_model_info *info)
{
    int days = info->horizon_days > 0 ? info->horizon_days : HORIZON_DAYS_DEFAULT;
    return (int64_t)days * CHURN_MS_PER_DAY;
}

/*
 * The score of @rec at @now. Features are taken as of the end of today (every event so far,
 * day-granular as in training) with the store's observed history, exactly as a training set
 * or a backtest of the same day computes them (churn/trainset.h).
 */
static Churn__V1__Score *
build_score(const struct churn__scoring *sc, const struct churn__served_model *m,
            struct churn_store *store, const struct churn_customer *rec, int64_t now,
            size_t max_reasons, struct churn_arena *a)
{
    struct churn_feature_vector vec;
    churn_features_extract_observed(rec, churn_features_day_end(now),
                                    churn_store_history_from_ms(store, now), &vec);
    size_t n = m->n;
    double *x = churn_arena_alloc(a, (n + 1) * sizeof(double));
    double *scratch = churn_arena_alloc(a, (n + 1) * sizeof(double));
    struct churn_model_reason *rs = churn_arena_alloc(a, (max_reasons + 1) * sizeof(*rs));
    Churn__V1__Score *s = churn_arena_alloc(a, sizeof(*s));
    Churn__V1__Reason *reasons = churn_arena_alloc(a, (max_reasons + 1) * sizeof(*reasons));
    Churn__V1__Reason **rlist = churn_arena_alloc(a, (max_reasons + 1) * sizeof(*rlist));
    if (!x || !scratch || !rs || !s || !reasons || !rlist)
        return NULL;
    churn_model_inputs_fill(m->inputs, m->model, rec, &vec, x);
    struct churn_model_prediction pred;
    churn_model_predict(m->model, x, &pred);
    size_t k = max_reasons ? churn_model_top_reasons(m->model, x, max_reasons, scratch, rs) : 0;

    churn__v1__score__init(s);
    s->customer_id = (char *)rec->id;
    s->probability = pred.probability;
    s->margin = pred.margin;
    s->risk_tier = risk_tier(sc, pred.probability);
    s->customer_value = customer_value(rec, &vec);
    s->value_tier = value_tier(sc, s->customer_value);
    s->expected_revenue_at_risk = pred.probability * s->customer_value;
    s->priority = s->expected_revenue_at_risk;
    const char *version = churn_model_info(m->model)->version;
    s->model_version = (char *)(version ? version : "");
    s->scored_at_ms = now;
    s->horizon_ms = horizon_ms(churn_model_info(m->model));
    s->segment = (char *)rec->attrs.segment;
    s->freshness = churn__freshness_to_proto(rec, now, a);
    for (size_t i = 0; i < k; i++) {
        const struct churn_model_feature *f = churn_model_feature(m->model, rs[i].feature);
        Churn__V1__Reason *r = &reasons[i];
        churn__v1__reason__init(r);
        r->feature = (char *)f->name;
        /* catalogue features carry human labels; others keep the model's own */
        int cat = churn_model_inputs_feature(m->inputs, rs[i].feature);
        r->label = (char *)(cat >= 0 ? churn_features_catalogue()[cat].label : f->label);
        r->contribution = rs[i].contribution;
        r->direction = rs[i].contribution >= 0
                           ? CHURN__V1__REASON_DIRECTION__REASON_DIRECTION_INCREASES_RISK
                           : CHURN__V1__REASON_DIRECTION__REASON_DIRECTION_DECREASES_RISK;
        if (f->type == CHURN_FEATURE_CATEGORICAL) {
            r->category = (char *)churn_features_category(rec, f->name);
            if (!r->category)
                r->category = (char *)"";
        } else if (isnan(rs[i].value)) {
            r->missing = true;
        } else {
            r->value = rs[i].value;
        }
        r->explanation = reason_text(cat, f, r, rec, &vec, a);
        rlist[i] = r;
    }
    s->n_reasons = k;
    s->reasons = rlist;
    return s;
}

/* This thread's read transaction and record buffer for @svc (made on first use). */
static struct thread_slot *
thread_slot(struct churn_services *svc)
{
    struct churn__scoring *sc = svc->scoring;
    if (tls_owner != sc) {
        /* first use on this thread: one reusable read transaction and record buffer, kept
         * until churn__scoring_release_threads() (after the workers stopped) */
        struct churn_store_reader *reader;
        struct churn_customer *rec = churn_malloc(sizeof(*rec));
        if (!rec || churn_store_reader_open(svc->store, &reader) != CHURN_OK) {
            churn_free(rec);
            return NULL;
        }
        pthread_mutex_lock(&sc->mu);
        if (sc->n_threads == MAX_THREADS) {
            pthread_mutex_unlock(&sc->mu);
            churn_store_reader_close(reader);
            churn_free(rec);
            return NULL;
        }
        tls_slot = &sc->threads[sc->n_threads++];
        tls_slot->reader = reader;
        tls_slot->record = rec;
        pthread_mutex_unlock(&sc->mu);
        tls_owner = sc;
    }
    return tls_slot;
}

/* Whether @memo holds a score of @m with @max_reasons that may be reused at @now. */
static bool
memo_usable(const struct churn_services *svc, const struct churn__score_memo *memo,
            const struct churn__served_model *m, size_t max_reasons, int64_t now)
{
    return memo && memo->score && memo->model_generation == m->generation &&
           memo->segments == atomic_load(&svc->scoring->segments) &&
           memo->max_reasons == max_reasons && now >= memo->scored_at_ms &&
           now - memo->scored_at_ms < svc->chat_score_reuse_ms;
}

#define SCORE_MEMO_LIMIT (64 * 1024)

void
churn__score_memo_free(struct churn__score_memo *memo)
{
    if (!memo)
        return;
    churn_arena_fini(&memo->arena);
    churn_free(memo);
}

/* Remember a deep copy of @s (the score of the record with @digest) in @memo, through a
 * pack and unpack with @a as scratch; when that fails the memo is left empty. */
static void
memo_keep(const struct churn_services *svc, struct churn__score_memo *memo,
          const struct churn__served_model *m, size_t max_reasons, uint64_t digest,
          const Churn__V1__Score *s, struct churn_arena *a)
{
    memo->score = NULL;
    churn_arena_reset(&memo->arena);
    if (memo->arena.limit == 0)
        churn_arena_init(&memo->arena, SCORE_MEMO_LIMIT);
    size_t n = protobuf_c_message_get_packed_size(&s->base);
    uint8_t *packed = churn_arena_alloc(a, n ? n : 1);
    if (!packed)
        return;
    protobuf_c_message_pack(&s->base, packed);
    ProtobufCAllocator alloc = churn_pb_arena_allocator(&memo->arena);
    memo->score = churn__v1__score__unpack(&alloc, n, packed);
    memo->digest = digest;
    memo->model_generation = m->generation;
    memo->segments = atomic_load(&svc->scoring->segments);
    memo->max_reasons = max_reasons;
    memo->scored_at_ms = s->scored_at_ms;
}

/* Keep @s, the score of @rec by @m just computed, in the score index (a churned customer
 * leaves it: nothing to warn about). A score the index refuses (NaN) leaves the old one out. */
static void
index_feed(struct churn_services *svc, const struct churn__served_model *m,
           const struct churn_customer *rec, const Churn__V1__Score *s)
{
    if (rec->churned_at_ms > 0) {
        churn_score_index_remove(svc->scores, rec->id);
        return;
    }
    struct churn_score_index_item it = {
        .probability = s->probability,
        .priority = s->priority,
        .value = s->customer_value,
        .risk_tier = (enum churn_tier)s->risk_tier,
        .value_tier = (enum churn_tier)s->value_tier,
        .generation = m->generation,
        .scored_at_ms = s->scored_at_ms,
    };
    snprintf(it.customer_id, sizeof(it.customer_id), "%s", rec->id);
    snprintf(it.segment, sizeof(it.segment), "%s", rec->attrs.segment);
    if (churn_score_index_put(svc->scores, &it) != CHURN_OK)
        churn_score_index_remove(svc->scores, rec->id);
}

/* Score @id with @m (or take it from @memo, see churn__score_customer); on error fill @msg.
 * The score's strings point into @a. */
static enum churn_err
score_one(struct churn_services *svc, struct churn__served_model *m, const char *id,
          size_t max_reasons, struct churn__score_memo *memo, struct churn_arena *a,
          Churn__V1__Score **out, char *msg, size_t msglen)
{
    char reason[256];
    if (churn_id_validate(id, "customer_id", reason, sizeof(reason)) != CHURN_OK) {
        snprintf(msg, msglen, "%s", reason);
        return CHURN_EINVAL;
    }
    struct thread_slot *slot = thread_slot(svc);
    if (!slot) {
        snprintf(msg, msglen, "cannot read customer '%s': no reader for this thread", id);
        return CHURN_EUNAVAIL;
    }
    struct churn_customer *rec = slot->record;
    int64_t now = churn_now_ms();
    /* with a memo the record's digest is taken too, and a usable memo of the same bytes
     * spares the decode and the scoring */
    uint64_t digest = 0;
    bool decoded = true;
    const uint64_t *known = memo_usable(svc, memo, m, max_reasons, now) ? &memo->digest : NULL;
    enum churn_err e = churn_store_reader_get_customer_digest(slot->reader, id, known,
                                                              memo ? &digest : NULL, &decoded, rec);
    if (e == CHURN_OK && !decoded) {
        *out = memo->score;
        churn_service_metrics_score(svc->metrics, (*out)->probability, (int)(*out)->risk_tier);
        return CHURN_OK;
    }
    if (e == CHURN_ENOTFOUND) {
        snprintf(msg, msglen, "customer '%s' not found", id);
        return e;
    }
    if (e) {
        snprintf(msg, msglen, "cannot read customer '%s': %s", id, churn_store_last_error());
        return e;
    }
    /* the record is per thread: copy the strings the score points to */
    char *cid = churn_arena_strdup(a, rec->id);
    char *seg = churn_arena_strdup(a, rec->attrs.segment);
    Churn__V1__Score *s = build_score(svc->scoring, m, svc->store, rec, now, max_reasons, a);
    if (!s || !cid || !seg) {
        snprintf(msg, msglen, "response too large");
        return CHURN_ETOOBIG;
    }
    s->customer_id = cid;
    s->segment = seg;
    /* the response is serialized after the model reference is dropped (a reload may free
     * the model meanwhile): nothing in it may point into the model or the record */
    s->model_version = churn_arena_strdup(a, s->model_version);
    bool ok = s->model_version != NULL;
    for (size_t i = 0; i < s->n_reasons && ok; i++) {
        Churn__V1__Reason *r = s->reasons[i];
        r->feature = churn_arena_strdup(a, r->feature);
        r->label = churn_arena_strdup(a, r->label);
        if (r->category && *r->category)
            r->category = churn_arena_strdup(a, r->category);
        ok = r->feature && r->label && r->category;
    }
    if (!ok) {
        snprintf(msg, msglen, "response too large");
        return CHURN_ETOOBIG;
    }
    if (memo)
        memo_keep(svc, memo, m, max_reasons, digest, s, a);
    index_feed(svc, m, rec, s);
    *out = s;
    churn_service_metrics_score(svc->metrics, s->probability, (int)s->risk_tier);
    return CHURN_OK;
}

enum churn_err
churn__score_customer(struct churn_services *svc, const char *customer_id, size_t max_reasons,
                      struct churn__score_memo *memo, struct churn_arena *a, Churn__V1__Score **out,
                      char *msg, size_t msglen)
{
    if (!svc->store) {
        snprintf(msg, msglen, "the store is not open yet");
        return CHURN_EUNAVAIL;
    }
    struct churn__served_model *m = acquire(svc->scoring);
    if (!m) {
        snprintf(msg, msglen, "no model is loaded");
        return CHURN_EPRECOND;
    }
    enum churn_err e = score_one(svc, m, customer_id, max_reasons, memo, a, out, msg, msglen);
    served_unref(m);
    return e;
}

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
    struct churn__served_model *m = acquire(svc->scoring);
    if (!m)
        return no_model(rpc);
    struct churn_arena *a = churn_rpc_arena(rpc);
    Churn__V1__GetScoreResponse *resp = churn_arena_alloc(a, sizeof(*resp));
    if (!resp) {
        served_unref(m);
        return CHURN_ENOMEM;
    }
    churn__v1__get_score_response__init(resp);
    char err[300];
    enum churn_err e =
        score_one(svc, m, req->customer_id, k, NULL, a, &resp->score, err, sizeof(err));
    served_unref(m);
    if (e)
        return churn_rpc_error(rpc, e, "%s", err);
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
    struct churn__served_model *m = acquire(svc->scoring);
    if (!m)
        return no_model(rpc);
    struct churn_arena *a = churn_rpc_arena(rpc);
    size_t n = req->n_customer_ids;
    Churn__V1__BatchGetScoresResponse *resp = churn_arena_alloc(a, sizeof(*resp));
    Churn__V1__BatchGetScoresResult *results = churn_arena_alloc(a, n * sizeof(*results));
    Churn__V1__BatchGetScoresResult **list = churn_arena_alloc(a, n * sizeof(*list));
    if (!resp || !results || !list) {
        served_unref(m);
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
            e = score_one(svc, m, req->customer_ids[i], k, NULL, a, &s, err, sizeof(err));
        }
        if (e == CHURN_OK) {
            r->result_case = CHURN__V1__BATCH_GET_SCORES_RESULT__RESULT_SCORE;
            r->score = s;
            resp->scored++;
        } else {
            Churn__V1__ErrorDetail *d = churn_arena_alloc(a, sizeof(*d));
            if (!d) {
                served_unref(m);
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
    served_unref(m);
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
    struct churn__served_model *m;
    const Churn__V1__AtRiskFilter *filter;
    struct at_risk_entry *entries;
    size_t n, cap;
    struct churn_arena scratch;
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
    churn_arena_reset(&sc->scratch);
    Churn__V1__Score *s =
        build_score(sc->svc->scoring, sc->m, sc->svc->store, rec, churn_now_ms(), 0, &sc->scratch);
    if (!s) {
        sc->err = CHURN_ENOMEM;
        return 1;
    }
    index_feed(sc->svc, sc->m, rec, s); /* the scan refreshes the index on its way */
    /* no risk tiers asked for: MEDIUM and HIGH (scoring.proto) */
    if ((!f || f->n_risk_tiers == 0) && s->risk_tier < CHURN__V1__RISK_TIER__RISK_TIER_MEDIUM)
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
    /* the page token is the offset into the priority order, as decimal text */
    size_t offset = 0;
    if (*req->page_token) {
        struct churn_page_token t;
        const char *why;
        if (churn_page_token_parse(req->page_token, CHURN_PAGE_OFFSET, &t, &why) ||
            t.position > 100000000ULL)
            return churn_rpc_error(rpc, CHURN_EINVAL, "page_token: not a token from this API");
        offset = (size_t)t.position;
    }
    struct churn__served_model *m = acquire(svc->scoring);
    if (!m)
        return no_model(rpc);
    struct at_risk_scan scan = {.svc = svc, .m = m, .filter = req->filter};
    churn_arena_init(&scan.scratch, 1 << 20);
    enum churn_err e = churn_store_foreach_customer(svc->store, at_risk_visit, &scan);
    churn_arena_fini(&scan.scratch);
    if (!e && scan.err)
        e = scan.err;
    if (e) {
        served_unref(m);
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
        served_unref(m);
        churn_free(scan.entries);
        return CHURN_ENOMEM;
    }
    churn__v1__list_at_risk_customers_response__init(resp);
    for (size_t i = 0; i < count; i++) {
        char err[300];
        e = score_one(svc, m, scan.entries[first + i].id, k, NULL, a, &scores[resp->n_scores], err,
                      sizeof(err));
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
    served_unref(m);
    churn_free(scan.entries);
    *out = &resp->base;
    return CHURN_OK;
}

/* ---- ModelService ------------------------------------------------------------------------ */

static Churn__V1__ModelInfo *
model_info_to_proto(const struct churn__served_model *m, struct churn_arena *a)
{
    const struct churn_model_info *info = churn_model_info(m->model);
    Churn__V1__ModelInfo *mi = churn_arena_alloc(a, sizeof(*mi));
    Churn__V1__FeatureSpec *fs = churn_arena_alloc(a, (m->n + 1) * sizeof(*fs));
    Churn__V1__FeatureSpec **fl = churn_arena_alloc(a, (m->n + 1) * sizeof(*fl));
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
    mi->path = m->path;
    mi->checksum = (char *)(info->checksum ? info->checksum : "");
    mi->data_hash = (char *)(info->data_hash ? info->data_hash : "");
    mi->num_trees = (int32_t)info->n_trees;
    mi->calibration = info->calibration == CHURN_CALIBRATION_PLATT
                          ? CHURN__V1__CALIBRATION_METHOD__CALIBRATION_METHOD_PLATT
                      : info->calibration == CHURN_CALIBRATION_ISOTONIC
                          ? CHURN__V1__CALIBRATION_METHOD__CALIBRATION_METHOD_ISOTONIC
                          : CHURN__V1__CALIBRATION_METHOD__CALIBRATION_METHOD_NONE;
    mi->horizon_ms = horizon_ms(info);
    const struct churn_feature_info *cat = churn_features_catalogue();
    for (size_t i = 0; i < m->n; i++) {
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
    mi->n_features = m->n;
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
model_info_copy(const struct churn__served_model *m, struct churn_arena *a)
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
    struct churn__served_model *m = acquire(svc->scoring);
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
    served_unref(m);
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
    struct churn__served_model *candidate = NULL;
    e = req->dry_run ? churn__scoring_reload(svc->scoring, path, true, old, sizeof(old), &candidate,
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
    struct churn__served_model *m = acquire(svc->scoring);
    if (m) {
        const char *v = churn_model_info(m->model)->version;
        resp->new_version = churn_arena_strdup(a, v ? v : "");
        served_unref(m);
    }
    /* the model loaded (the candidate of a dry run, else the one serving), strings copied */
    if (!candidate)
        candidate = acquire(svc->scoring);
    resp->model = candidate ? model_info_copy(candidate, a) : NULL;
    served_unref(candidate);
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
