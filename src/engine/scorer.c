/*
 * engine/scorer.c - the served model's life cycle and scoring one customer
 * (churn/score.h): a model file is loaded, bound to what the store provides and swapped in
 * under a reference count; the tier cut-offs are immutable versions swapped likewise; a
 * score costs one store read on the thread's reusable read transaction, the features at the
 * end of today, one model evaluation, the top reasons (their sentences only when asked),
 * tiers, value and priority. Every score computed is kept in the score index and, through
 * the keeper (churn/score_keep.h), in the store beside the record; a stored score that is
 * current (same model file, same cut-offs, same record bytes, same day and observed history)
 * is served again without evaluating the model.
 */
#include "churn/score.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/hash.h"
#include "churn/ident.h"
#include "churn/log.h"
#include "churn/model.h"
#include "churn/model_inputs.h"
#include "churn/score_codec.h"
#include "churn/score_index.h"
#include "churn/score_keep.h"
#include "churn/score_store.h"
#include "churn/store.h"
#include "churn/segments.h"

/* The days a score looks ahead when the served model's file does not say (churnctl's default
 * training horizon). */
#define HORIZON_DAYS_DEFAULT 90
#define MAX_THREADS          512

struct served {
    struct churn_served pub; /* first: a struct churn_served * is a struct served * */
    atomic_int refs;
    uint64_t model_id; /* the digest of the model's native JSON: the same file, the same id */
};

static atomic_uint_fast64_t served_generations;

void
churn_served_release(struct churn_served *pub)
{
    struct served *m = (struct served *)pub;
    if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
        return;
    churn_model_unref(m->pub.model);
    churn_model_inputs_free(m->pub.inputs);
    churn_free((char *)m->pub.path);
    churn_free(m);
}

/* Load @path and check that every input it needs is something the store provides. */
static enum churn_err
served_load(const char *path, struct served **out, char *err, size_t errlen)
{
    struct churn_model *model;
    enum churn_err e = churn_model_load_file(path, &model, err, errlen);
    if (e)
        return e;
    struct served *m = churn_calloc(1, sizeof(*m));
    char *p = churn_strdup(path);
    struct churn_model_inputs *inputs = NULL;
    char *json = NULL;
    size_t json_len = 0;
    if (!m || !p || churn_model_to_json(model, &json, &json_len) != CHURN_OK) {
        snprintf(err, errlen, "out of memory");
        e = CHURN_ENOMEM;
    } else {
        m->model_id = churn_digest64(json, json_len);
        e = churn_model_inputs_bind(model, &inputs, err, errlen);
    }
    churn_free(json);
    if (e) {
        churn_free(m);
        churn_free(p);
        churn_model_unref(model);
        return e;
    }
    atomic_init(&m->refs, 1);
    m->pub.model = model;
    m->pub.n_inputs = churn_model_n_features(model);
    m->pub.inputs = inputs;
    m->pub.path = p;
    m->pub.loaded_at_ms = churn_now_ms();
    m->pub.generation = atomic_fetch_add(&served_generations, 1) + 1;
    *out = m;
    return CHURN_OK;
}

/* What one thread keeps for scoring: a reusable read transaction and a record buffer. */
struct thread_slot {
    struct churn_store_reader *reader;
    struct churn_customer *record;
    unsigned char *stored; /* CHURN_STORE_SCORE_MAX bytes: the stored score read */
};

struct cuts_version {
    struct churn_segments cuts;
    uint64_t version;
    uint64_t id; /* the digest of the four cut-offs: the same cuts, the same id */
    struct cuts_version *older;
};

struct churn_scorer {
    pthread_mutex_t mu;
    struct thread_slot threads[MAX_THREADS]; /* (mu) registered per-thread state */
    size_t n_threads;
    struct served *current;    /* (mu) */
    pthread_mutex_t reload_mu; /* reloads (RPC and SIGHUP) run one after the other */
    char *default_path;
    struct churn_store *store;
    struct churn_score_index *index;
    _Atomic(struct churn_score_keeper *) keeper; /* NULL: scores are not stored */
    uint64_t attach_epoch; /* (mu) a thread's slot is renewed after a new attach */
    /* the tier cut-offs in force: immutable versions, replaced ones kept until destroy (a
     * score may still read one; one per sweep) */
    _Atomic(struct cuts_version *) cuts;
    atomic_uint_fast64_t evaluations;
};

enum churn_err
churn_scorer_create(struct churn_scorer **out)
{
    struct churn_scorer *sc = churn_calloc(1, sizeof(*sc));
    if (!sc)
        return CHURN_ENOMEM;
    pthread_mutex_init(&sc->mu, NULL);
    pthread_mutex_init(&sc->reload_mu, NULL);
    sc->default_path = churn_strdup("");
    struct churn_segments initial = {.risk_high_cut = 0.5,
                                     .risk_medium_cut = 0.2,
                                     .value_high_cut = 2000,
                                     .value_medium_cut = 500};
    if (!sc->default_path || churn_scorer_set_segments(sc, &initial) != CHURN_OK) {
        churn_scorer_destroy(sc);
        return CHURN_ENOMEM;
    }
    *out = sc;
    return CHURN_OK;
}

void
churn_scorer_attach(struct churn_scorer *sc, struct churn_store *store,
                    struct churn_score_index *index)
{
    pthread_mutex_lock(&sc->mu);
    sc->store = store;
    sc->index = index;
    sc->attach_epoch++;
    pthread_mutex_unlock(&sc->mu);
}

void
churn_scorer_detach(struct churn_scorer *sc)
{
    pthread_mutex_lock(&sc->mu);
    for (size_t i = 0; i < sc->n_threads; i++) {
        churn_store_reader_close(sc->threads[i].reader);
        churn_free(sc->threads[i].record);
        churn_free(sc->threads[i].stored);
    }
    sc->n_threads = 0;
    sc->store = NULL;
    sc->index = NULL;
    sc->attach_epoch++;
    pthread_mutex_unlock(&sc->mu);
}

void
churn_scorer_destroy(struct churn_scorer *sc)
{
    if (!sc)
        return;
    churn_scorer_detach(sc);
    churn_served_release(sc->current ? &sc->current->pub : NULL);
    for (struct cuts_version *v = atomic_load(&sc->cuts), *next; v; v = next) {
        next = v->older;
        churn_free(v);
    }
    pthread_mutex_destroy(&sc->mu);
    pthread_mutex_destroy(&sc->reload_mu);
    churn_free(sc->default_path);
    churn_free(sc);
}

struct churn_served *
churn_scorer_acquire(struct churn_scorer *sc)
{
    pthread_mutex_lock(&sc->mu);
    struct served *m = sc->current;
    if (m)
        atomic_fetch_add(&m->refs, 1);
    pthread_mutex_unlock(&sc->mu);
    return m ? &m->pub : NULL;
}

static const char *
version_of(const struct churn_model *model)
{
    const char *v = churn_model_info(model)->version;
    return v ? v : "";
}

enum churn_err
churn_scorer_reload(struct churn_scorer *sc, const char *path, bool dry_run, char *old_version,
                    size_t old_len, struct churn_served **loaded, char *err, size_t errlen)
{
    pthread_mutex_lock(&sc->reload_mu);
    const char *p = path && *path ? path : sc->default_path;
    enum churn_err e = CHURN_EPRECOND;
    struct served *m = NULL;
    if (!*p) {
        snprintf(err, errlen,
                 "no model path configured: start churnd with --model FILE or "
                 "name one in the request");
        goto out;
    }
    if ((e = served_load(p, &m, err, errlen)))
        goto out;
    pthread_mutex_lock(&sc->mu);
    snprintf(old_version, old_len, "%s", sc->current ? version_of(sc->current->pub.model) : "");
    pthread_mutex_unlock(&sc->mu);
    if (loaded) {
        atomic_fetch_add(&m->refs, 1);
        *loaded = &m->pub;
    }
    if (dry_run) {
        churn_served_release(&m->pub);
        goto out;
    }
    char *path_copy = p != sc->default_path ? churn_strdup(p) : NULL;
    pthread_mutex_lock(&sc->mu);
    struct served *old = sc->current;
    sc->current = m;
    if (path_copy) {
        /* SIGHUP and an empty ReloadModel path re-read the file now being served */
        churn_free(sc->default_path);
        sc->default_path = path_copy;
    }
    pthread_mutex_unlock(&sc->mu);
    churn_log(CHURN_LOG_INFO, "model_loaded", CHURN_LF_STR("path", p),
              CHURN_LF_STR("version", version_of(m->pub.model)));
    churn_served_release(old ? &old->pub : NULL); /* scores in progress hold their own */
out:
    pthread_mutex_unlock(&sc->reload_mu);
    return e;
}

void
churn_scorer_path(struct churn_scorer *sc, char *out, size_t len)
{
    pthread_mutex_lock(&sc->mu);
    snprintf(out, len, "%s", sc->current ? sc->current->pub.path : "");
    pthread_mutex_unlock(&sc->mu);
}

struct churn_model *
churn_scorer_model(struct churn_scorer *sc)
{
    pthread_mutex_lock(&sc->mu);
    struct churn_model *m = sc->current ? churn_model_ref(sc->current->pub.model) : NULL;
    pthread_mutex_unlock(&sc->mu);
    return m;
}

bool
churn_scorer_has_model(struct churn_scorer *sc)
{
    pthread_mutex_lock(&sc->mu);
    bool has = sc->current != NULL;
    pthread_mutex_unlock(&sc->mu);
    return has;
}

enum churn_err
churn_scorer_set_segments(struct churn_scorer *sc, const struct churn_segments *cuts)
{
    struct cuts_version *v = churn_calloc(1, sizeof(*v));
    if (!v)
        return CHURN_ENOMEM;
    v->cuts = *cuts;
    const double four[] = {cuts->risk_high_cut, cuts->risk_medium_cut, cuts->value_high_cut,
                           cuts->value_medium_cut};
    v->id = churn_digest64(four, sizeof(four));
    pthread_mutex_lock(&sc->mu); /* one writer at a time keeps the chain intact */
    v->older = atomic_load(&sc->cuts);
    v->version = v->older ? v->older->version + 1 : 1;
    atomic_store(&sc->cuts, v);
    /* issue 15: the index follows at once (under mu, so the last cuts set are the ones it
     * holds); a score built with the older cuts and put after this is re-tiered by
     * index_feed() */
    if (sc->index)
        churn_score_index_retier(sc->index, &v->cuts);
    pthread_mutex_unlock(&sc->mu);
    return CHURN_OK;
}

void
churn_scorer_segments(struct churn_scorer *sc, struct churn_segments *out, uint64_t *version)
{
    const struct cuts_version *v = atomic_load(&sc->cuts);
    *out = v->cuts;
    if (version)
        *version = v->version;
}

uint64_t
churn_scorer_evaluations(struct churn_scorer *sc)
{
    return atomic_load(&sc->evaluations);
}

/* ---- the customer's value ---------------------------------------------------------------- */

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

/* The milliseconds a score of model @info looks ahead: its training horizon
 * (training.horizon_days), or HORIZON_DAYS_DEFAULT for a file that does not record one. */
static int64_t
horizon_ms(const struct churn_model_info *info)
{
    int days = info->horizon_days > 0 ? info->horizon_days : HORIZON_DAYS_DEFAULT;
    return (int64_t)days * CHURN_MS_PER_DAY;
}

int64_t
churn_served_horizon_ms(const struct churn_served *m)
{
    return horizon_ms(churn_model_info(m->model));
}

/* ---- one score --------------------------------------------------------------------------- */

/* @src into @dst of @cap bytes, cut at cap - 1 (snprintf's "%s" without its format parser,
 * which is a measurable share of a served score: five of these per reason). */
static void
copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Reason @r of model input @in, from the row: names, value or category, and the sentence
 * when @explain. */
static void
fill_reason(const struct churn_served *m, const struct churn_customer *rec,
            const struct churn_feature_vector *vec, const struct churn_model_reason *mr,
            bool explain, struct churn_score_reason *r)
{
    const struct churn_model_feature *f = churn_model_feature(m->model, mr->feature);
    int cat = churn_model_inputs_feature(m->inputs, mr->feature);
    r->input = (uint32_t)mr->feature;
    r->feature = cat;
    r->contribution = mr->contribution;
    r->categorical = f->type == CHURN_FEATURE_CATEGORICAL;
    r->value = r->categorical ? NAN : mr->value;
    copy_str(r->name, sizeof(r->name), f->name);
    /* catalogue features carry human labels; others keep the model's own */
    copy_str(r->label, sizeof(r->label),
             cat >= 0 ? churn_features_catalogue()[cat].label : f->label);
    const char *category = r->categorical ? churn_features_category(rec, f->name) : NULL;
    copy_str(r->category, sizeof(r->category), category ? category : "");
    r->explanation[0] = 0;
    if (!explain)
        return;
    int sign = r->contribution > 0 ? 1 : r->contribution < 0 ? -1 : 0;
    if (cat >= 0)
        churn_reason_feature_text(cat, vec, rec, sign, r->explanation, sizeof(r->explanation));
    else if (r->categorical)
        churn_reason_category_text(f->name, r->label, r->category, r->explanation,
                                   sizeof(r->explanation));
    else
        churn_reason_number_text(r->label, r->value, r->explanation, sizeof(r->explanation));
}

/* The per-catalogue-feature contributions and values of row @x (contributions in @c). */
static void
fill_contributions(const struct churn_served *m, const double *x, const double *c,
                   struct churn_score *s)
{
    for (size_t i = 0; i < CHURN_FEAT__COUNT; i++) {
        s->contributions[i] = 0.0;
        s->values[i] = NAN;
    }
    for (size_t i = 0; i < m->n_inputs; i++) {
        int f = churn_model_inputs_feature(m->inputs, i);
        if (f < 0 || !isfinite(c[i]))
            continue;
        s->contributions[f] += c[i];
        s->values[f] = x[i];
    }
    s->have_contributions = true;
}

/* Whether reason @i of a score for @req gets its sentence (@asked: the reasons @req asks). */
static bool
explains(const struct churn_score_request *req, size_t i, size_t asked)
{
    return req->explain && i < asked && (!req->explained || i < req->explained);
}

static _Thread_local uint64_t tls_evaluations; /* this thread's share of sc->evaluations */

/*
 * The score of @rec at @now into @s. Features are taken as of the end of today (every event
 * so far, day-granular as in training) with the store's observed history, exactly as a
 * training set or a backtest of the same day computes them (churn/trainset.h). With @full,
 * whatever @req says, @s gets every top reason and the contributions (what the store keeps);
 * reasons past @req's are left without words.
 */
static void
build_score(struct churn_scorer *sc, const struct churn_served *m, const struct churn_customer *rec,
            int64_t now, const struct churn_score_request *req, bool full, struct churn_score *s)
{
    struct churn_feature_vector vec;
    s->history_from_ms = churn_store_history_from_ms(sc->store, now);
    churn_features_extract_observed(rec, churn_features_day_end(now), s->history_from_ms, &vec);
    double x[CHURN_MODEL_MAX_FEATURES], c[CHURN_MODEL_MAX_FEATURES];
    churn_model_inputs_fill(m->inputs, m->model, rec, &vec, x);
    struct churn_model_prediction pred;
    churn_model_predict(m->model, x, &pred);
    atomic_fetch_add(&sc->evaluations, 1);
    tls_evaluations++;
    const struct cuts_version *cv = atomic_load(&sc->cuts);
    copy_str(s->customer_id, sizeof(s->customer_id), rec->id);
    copy_str(s->segment, sizeof(s->segment), rec->attrs.segment);
    s->churned = rec->churned_at_ms > 0;
    s->previous_model = false;
    s->probability = pred.probability;
    s->margin = pred.margin;
    s->risk_tier = churn_segments_risk_tier(&cv->cuts, pred.probability);
    s->value = customer_value(rec, &vec);
    s->value_tier = churn_segments_value_tier(&cv->cuts, s->value);
    s->revenue_at_risk = pred.probability * s->value;
    s->priority = s->revenue_at_risk;
    copy_str(s->model_version, sizeof(s->model_version), version_of(m->model));
    s->generation = m->generation;
    s->cuts_version = cv->version;
    s->model_id = ((const struct served *)m)->model_id;
    s->cuts_id = cv->id;
    s->scored_at_ms = now;
    s->horizon_ms = horizon_ms(churn_model_info(m->model));
    churn_features_freshness(rec, now, &s->freshness);
    s->have_contributions = false;
    s->stored_check = 0;
    s->n_reasons = 0;
    size_t asked =
        req->max_reasons < CHURN_SCORE_REASONS_MAX ? req->max_reasons : CHURN_SCORE_REASONS_MAX;
    size_t k = full ? CHURN_SCORE_REASONS_MAX : asked;
    if (!k && !req->contributions)
        return;
    struct churn_model_reason rs[CHURN_SCORE_REASONS_MAX];
    /* the top reasons leave every input's contribution in @c */
    s->n_reasons = churn_model_top_reasons(m->model, x, k, c, rs);
    for (size_t i = 0; i < s->n_reasons; i++)
        fill_reason(m, rec, &vec, &rs[i], explains(req, i, asked), &s->reasons[i]);
    if (req->contributions || full)
        fill_contributions(m, x, c, s);
}

/* Keep @s of customer @id in the index (a churned customer leaves it: nothing to warn
 * about). */
static void
index_feed_score(struct churn_scorer *sc, const char *id, const struct churn_score *s)
{
    if (!sc->index)
        return;
    if (s->churned) {
        churn_score_index_remove(sc->index, id);
        return;
    }
    struct churn_score_index_item it = {
        .probability = s->probability,
        .priority = s->priority,
        .value = s->value,
        .risk_tier = s->risk_tier,
        .value_tier = s->value_tier,
        .generation = s->generation,
        .scored_at_ms = s->scored_at_ms,
    };
    copy_str(it.customer_id, sizeof(it.customer_id), id);
    copy_str(it.segment, sizeof(it.segment), s->segment);
    if (churn_score_index_put(sc->index, &it) != CHURN_OK) {
        churn_score_index_remove(sc->index, id); /* a score it refuses is not listed */
        return;
    }
    /* issue 15: cuts set since this score was built were pushed to the index before this
     * put may have landed: put it again with their tiers */
    const struct cuts_version *cv = atomic_load(&sc->cuts);
    if (cv->version != s->cuts_version) {
        it.risk_tier = churn_segments_risk_tier(&cv->cuts, it.probability);
        it.value_tier = churn_segments_value_tier(&cv->cuts, it.value);
        if (churn_score_index_put(sc->index, &it) != CHURN_OK)
            churn_score_index_remove(sc->index, id);
    }
}

/* index_feed_score() of @rec's score @s, with the record's own churn mark and segment. */
static void
index_feed(struct churn_scorer *sc, const struct churn_customer *rec, struct churn_score *s)
{
    s->churned = rec->churned_at_ms > 0;
    copy_str(s->segment, sizeof(s->segment), rec->attrs.segment);
    index_feed_score(sc, rec->id, s);
}

void
churn_scorer_score_record(struct churn_scorer *sc, struct churn_served *m,
                          const struct churn_customer *rec, struct churn_score *out)
{
    static const struct churn_score_request bare = {0};
    build_score(sc, m, rec, churn_now_ms(), &bare, false, out);
    out->record_digest = 0;
    index_feed(sc, rec, out);
}

static _Thread_local struct thread_slot *tls_slot;
static _Thread_local struct churn_scorer *tls_owner;
static _Thread_local uint64_t tls_epoch;

/* This thread's read transaction and record buffer (made on first use after an attach). */
static struct thread_slot *
thread_slot(struct churn_scorer *sc)
{
    if (tls_owner == sc && tls_epoch == sc->attach_epoch)
        return tls_slot;
    struct churn_store_reader *reader;
    struct churn_customer *rec = churn_malloc(sizeof(*rec));
    unsigned char *stored = churn_malloc(CHURN_STORE_SCORE_MAX);
    if (!rec || !stored || !sc->store || churn_store_reader_open(sc->store, &reader) != CHURN_OK) {
        churn_free(rec);
        churn_free(stored);
        return NULL;
    }
    pthread_mutex_lock(&sc->mu);
    if (sc->n_threads == MAX_THREADS) {
        pthread_mutex_unlock(&sc->mu);
        churn_store_reader_close(reader);
        churn_free(rec);
        churn_free(stored);
        return NULL;
    }
    tls_slot = &sc->threads[sc->n_threads++];
    tls_slot->reader = reader;
    tls_slot->record = rec;
    tls_slot->stored = stored;
    tls_epoch = sc->attach_epoch;
    pthread_mutex_unlock(&sc->mu);
    tls_owner = sc;
    return tls_slot;
}

/* Whether @memo holds a score of @m for @req that may be reused at @now. */
static bool
memo_usable(struct churn_scorer *sc, const struct churn_score_memo *memo,
            const struct churn_served *m, const struct churn_score_request *req, int64_t now)
{
    return memo && memo->have && memo->score.generation == m->generation &&
           memo->score.cuts_version == atomic_load(&sc->cuts)->version &&
           memo->req.max_reasons == req->max_reasons && memo->req.explain == req->explain &&
           memo->req.explained == req->explained && memo->req.contributions == req->contributions &&
           now >= memo->score.scored_at_ms && now - memo->score.scored_at_ms < memo->reuse_ms;
}

/*
 * Whether the stored score @st may be served at @now by @m under the cuts @cv for the record
 * whose bytes have digest @digest (0: not checked here): computed from the same model file,
 * cut-offs, record bytes and observed history, on the same day (features are day-granular), with
 * reasons the model has.
 */
static bool
stored_current(const struct churn_score *st, const struct churn_served *m,
               const struct cuts_version *cv, uint64_t digest, int64_t history_from, int64_t now)
{
    if (st->model_id != ((const struct served *)m)->model_id || st->cuts_id != cv->id ||
        (digest && st->record_digest != digest) || st->history_from_ms != history_from ||
        st->scored_at_ms > now || churn_day_of_ms(st->scored_at_ms) != churn_day_of_ms(now))
        return false;
    for (size_t i = 0; i < st->n_reasons; i++)
        if (st->reasons[i].input >= m->n_inputs)
            return false;
    return true;
}

/*
 * The stored score of @rec, decoded into @out, if it is current (stored_current) and younger
 * than @max_age_ms: this
 * process's generation and cuts version set, its reasons cut to @req's and given their words.
 */
static bool
serve_stored(struct churn_scorer *sc, const struct churn_served *m,
             const struct churn_customer *rec, uint64_t digest, const void *blob, size_t len,
             const struct churn_score_request *req, int64_t now, int64_t max_age_ms,
             struct churn_score *out)
{
    char why[160];
    const struct cuts_version *cv = atomic_load(&sc->cuts);
    int64_t history_from = churn_store_history_from_ms(sc->store, now);
    if (!len || len > CHURN_STORE_SCORE_MAX ||
        churn_score_decode(blob, len, out, why, sizeof(why)) != CHURN_OK ||
        !stored_current(out, m, cv, digest, history_from, now) ||
        now - out->scored_at_ms >= max_age_ms ||
        (!out->have_contributions && (req->max_reasons || req->contributions)))
        return false;
    copy_str(out->customer_id, sizeof(out->customer_id), rec->id);
    out->generation = m->generation;
    out->cuts_version = cv->version;
    struct churn_score_head head;
    out->stored_check = churn_score_peek(blob, len, &head) ? head.checksum : 0;
    if (out->n_reasons > req->max_reasons)
        out->n_reasons = req->max_reasons;
    struct churn_feature_vector vec;
    if (req->explain && out->n_reasons)
        churn_features_extract_observed(rec, churn_features_day_end(now), history_from, &vec);
    for (size_t i = 0; i < out->n_reasons; i++) {
        struct churn_score_reason *r = &out->reasons[i];
        struct churn_model_reason mr = {r->input, r->value, r->contribution};
        fill_reason(m, rec, &vec, &mr, explains(req, i, out->n_reasons), r);
    }
    return true;
}

/*
 * The index build's fast path, for a request without reasons: @id's stored score, decoded
 * into @out, when it is current (stored_current) and the record's bytes still have its
 * digest, found without decoding the record. False: take the ordinary path.
 */
static bool
take_stored(struct churn_scorer *sc, struct thread_slot *slot, const struct churn_served *m,
            const char *id, int64_t now, struct churn_score *out)
{
    char why[160];
    size_t len = 0;
    uint64_t digest = 0;
    bool decoded = true;
    const struct cuts_version *cv = atomic_load(&sc->cuts);
    if (churn_store_reader_get_score(slot->reader, id, slot->stored, CHURN_STORE_SCORE_MAX, &len) !=
            CHURN_OK ||
        !len || len > CHURN_STORE_SCORE_MAX ||
        churn_score_decode(slot->stored, len, out, why, sizeof(why)) != CHURN_OK ||
        !stored_current(out, m, cv, 0, churn_store_history_from_ms(sc->store, now), now) ||
        churn_store_reader_get_customer_digest(slot->reader, id, &out->record_digest, &digest,
                                               &decoded, slot->record) != CHURN_OK ||
        decoded)
        return false;
    copy_str(out->customer_id, sizeof(out->customer_id), id);
    out->generation = m->generation;
    out->cuts_version = cv->version;
    out->n_reasons = 0;
    index_feed_score(sc, id, out);
    return true;
}

/* How score_one() keeps a score it computed. */
enum keep_mode {
    KEEP_NONE,  /* a previewed record: not the stored one */
    KEEP_OFFER, /* the serving path: dropped when the keeper is behind */
    KEEP_WAIT,  /* the index build: waits for the keeper */
};

/* Score @id with @m into @out, after applying @ev (NULL: none) in memory (see
 * churn_scorer_score and churn_scorer_score_after); a current stored score is served as is. */
static enum churn_err
score_one(struct churn_scorer *sc, const struct churn_served *m, const char *id,
          const struct churn_event *ev, const struct churn_score_request *req,
          struct churn_score_memo *memo, enum keep_mode keep, struct churn_score *out, char *msg,
          size_t msglen)
{
    char reason[256];
    if (churn_id_validate(id, "customer_id", reason, sizeof(reason)) != CHURN_OK) {
        snprintf(msg, msglen, "%s", reason);
        return CHURN_EINVAL;
    }
    struct thread_slot *slot = thread_slot(sc);
    if (!slot) {
        snprintf(msg, msglen, "cannot read customer '%s': no reader for this thread", id);
        return CHURN_EUNAVAIL;
    }
    int64_t now = churn_now_ms();
    /* a usable memo of the same bytes spares the decode and the scoring */
    uint64_t digest = 0;
    bool decoded = true;
    size_t stored_len = 0;
    struct churn_score_keeper *keeper = keep != KEEP_NONE ? atomic_load(&sc->keeper) : NULL;
    bool stored = keeper != NULL;
    if (keep == KEEP_WAIT && stored && !req->max_reasons && take_stored(sc, slot, m, id, now, out))
        return CHURN_OK;
    const uint64_t *known = memo_usable(sc, memo, m, req, now) ? &memo->score.record_digest : NULL;
    if (req->memo_only && !known) {
        snprintf(msg, msglen, "no score of customer '%s' to reuse", id);
        return CHURN_EAGAIN;
    }
    /* with a memo the stored score is read only when the record changed (it usually has not) */
    bool stored_now = stored && !known;
    enum churn_err e = churn_store_reader_get_scored(
        slot->reader, id, known, &digest, &decoded, slot->record, stored_now ? slot->stored : NULL,
        CHURN_STORE_SCORE_MAX, stored_now ? &stored_len : NULL);
    if (e == CHURN_OK && !decoded) {
        churn_score_copy(out, &memo->score);
        return CHURN_OK;
    }
    if (e == CHURN_OK && req->memo_only) {
        snprintf(msg, msglen, "customer '%s' changed since the score to reuse", id);
        return CHURN_EAGAIN;
    }
    if (e == CHURN_OK && stored && !stored_now &&
        churn_store_reader_get_score(slot->reader, id, slot->stored, CHURN_STORE_SCORE_MAX,
                                     &stored_len) != CHURN_OK)
        stored_len = 0; /* none: computed below (its digest check holds either way) */
    if (e == CHURN_ENOTFOUND) {
        snprintf(msg, msglen, "customer '%s' not found", id);
        return e;
    }
    if (e) {
        snprintf(msg, msglen, "cannot read customer '%s': %s", id, churn_store_last_error());
        return e;
    }
    if (ev && churn_store_preview_event(sc->store, slot->record, ev, now, reason, sizeof(reason)) !=
                  CHURN_OK) {
        snprintf(msg, msglen, "%s", reason);
        return CHURN_EINVAL;
    }
    /* a conversation's memo says how old a score it accepts (0: a new one every turn) */
    int64_t max_age = req->fresh ? 0 : memo ? memo->reuse_ms : INT64_MAX;
    if (!stored || !serve_stored(sc, m, slot->record, digest, slot->stored, stored_len, req, now,
                                 max_age, out)) {
        /* what is kept: every reason and the contributions when the caller wants any (a
         * bare score, e.g. the index build's, is kept bare and explained when first asked) */
        bool full = stored && (req->max_reasons || req->contributions);
        build_score(sc, m, slot->record, now, req, full, out);
        out->record_digest = ev ? 0 : digest; /* a previewed record is not the stored one yet */
        out->base_digest = ev ? digest : 0;   /* ... but the one it was previewed from */
        if (stored)
            churn_score_keeper_offer(keeper, out, keep == KEEP_WAIT);
        if (out->n_reasons > req->max_reasons)
            out->n_reasons = req->max_reasons;
    }
    index_feed(sc, slot->record, out);
    if (memo && !ev) {
        churn_score_copy(&memo->score, out);
        memo->req = *req;
        memo->have = true;
    }
    return CHURN_OK;
}

/* churn_score_copy() copies everything before the reasons: they must stay the last member */
_Static_assert(offsetof(struct churn_score, reasons) + sizeof(((struct churn_score *)0)->reasons) ==
                   sizeof(struct churn_score),
               "struct churn_score: reasons[] is the last member");

void
churn_score_copy(struct churn_score *dst, const struct churn_score *src)
{
    size_t n = src->n_reasons < CHURN_SCORE_REASONS_MAX ? src->n_reasons : CHURN_SCORE_REASONS_MAX;
    memcpy(dst, src, offsetof(struct churn_score, reasons) + n * sizeof(src->reasons[0]));
}

enum churn_err
churn_scorer_score(struct churn_scorer *sc, struct churn_served *m, const char *customer_id,
                   const struct churn_score_request *req, struct churn_score_memo *memo,
                   struct churn_score *out, char *msg, size_t msglen)
{
    if (!sc->store) {
        snprintf(msg, msglen, "the store is not open yet");
        return CHURN_EUNAVAIL;
    }
    struct churn_served *held = m ? NULL : churn_scorer_acquire(sc);
    if (!m && !held) {
        snprintf(msg, msglen, "no model is loaded");
        return CHURN_EPRECOND;
    }
    enum churn_err e =
        score_one(sc, m ? m : held, customer_id, NULL, req, memo, KEEP_OFFER, out, msg, msglen);
    churn_served_release(held);
    return e;
}

enum churn_err
churn_scorer_score_after(struct churn_scorer *sc, const char *customer_id,
                         const struct churn_event *ev, const struct churn_score_request *req,
                         struct churn_score *out, char *msg, size_t msglen)
{
    if (!sc->store) {
        snprintf(msg, msglen, "the store is not open yet");
        return CHURN_EUNAVAIL;
    }
    struct churn_served *m = churn_scorer_acquire(sc);
    if (!m) {
        snprintf(msg, msglen, "no model is loaded");
        return CHURN_EPRECOND;
    }
    enum churn_err e = score_one(sc, m, customer_id, ev, req, NULL, KEEP_NONE, out, msg, msglen);
    churn_served_release(m);
    return e;
}

void
churn_scorer_keep(struct churn_scorer *sc, struct churn_score_keeper *keeper)
{
    atomic_store(&sc->keeper, keeper);
}

void
churn_score_stamp_of(const struct churn_score *s, struct churn_score_stamp *out)
{
    *out = (struct churn_score_stamp){
        .stored_check = s->stored_check,
        .record_digest = s->record_digest,
        .generation = s->generation,
        .cuts_version = s->cuts_version,
        .scored_at_ms = s->scored_at_ms,
        .history_from_ms = s->history_from_ms,
    };
}

/* Whether the stored bytes' head @h is what stamp @st was taken from, still current at @now
 * under @m and @cv for a record whose bytes have digest @digest (stored_current's rule). */
static bool
head_current(struct churn_scorer *sc, const struct churn_score_head *h,
             const struct churn_score_stamp *st, const struct churn_served *m,
             const struct cuts_version *cv, uint64_t digest, int64_t now)
{
    return h->checksum == st->stored_check && h->model_id == ((const struct served *)m)->model_id &&
           h->cuts_id == cv->id && h->record_digest == digest &&
           h->scored_at_ms == st->scored_at_ms && h->history_from_ms == st->history_from_ms &&
           h->history_from_ms == churn_store_history_from_ms(sc->store, now) &&
           h->scored_at_ms <= now && churn_day_of_ms(h->scored_at_ms) == churn_day_of_ms(now);
}

bool
churn_scorer_stamp_current(struct churn_scorer *sc, const struct churn_served *m,
                           const char *customer_id, const struct churn_score_stamp *st)
{
    const struct cuts_version *cv = atomic_load(&sc->cuts);
    if (!st->stored_check || st->generation != m->generation || st->cuts_version != cv->version ||
        !sc->store || !atomic_load(&sc->keeper))
        return false;
    struct thread_slot *slot = thread_slot(sc);
    if (!slot)
        return false;
    uint64_t digest = 0;
    bool decoded = true;
    size_t len = 0;
    struct churn_score_head head;
    return churn_store_reader_get_scored(slot->reader, customer_id, &st->record_digest, &digest,
                                         &decoded, slot->record, slot->stored,
                                         CHURN_STORE_SCORE_MAX, &len) == CHURN_OK &&
           !decoded && churn_score_peek(slot->stored, len, &head) &&
           head_current(sc, &head, st, m, cv, digest, churn_now_ms());
}

enum churn_err
churn_scorer_previous(struct churn_scorer *sc, const struct churn_served *m,
                      const char *customer_id, struct churn_score *out)
{
    char why[160];
    size_t len = 0;
    struct thread_slot *slot = sc->store && atomic_load(&sc->keeper) ? thread_slot(sc) : NULL;
    if (!slot)
        return sc->store && atomic_load(&sc->keeper) ? CHURN_EUNAVAIL : CHURN_ENOTFOUND;
    enum churn_err e = churn_store_reader_get_score(slot->reader, customer_id, slot->stored,
                                                    CHURN_STORE_SCORE_MAX, &len);
    if (e)
        return e;
    if (!len || len > CHURN_STORE_SCORE_MAX)
        return CHURN_ENOTFOUND;
    if (churn_score_decode(slot->stored, len, out, why, sizeof(why)) != CHURN_OK)
        return CHURN_ECORRUPT;
    if (out->model_id == ((const struct served *)m)->model_id)
        return CHURN_ENOTFOUND; /* the serving model's: not a previous one */
    copy_str(out->customer_id, sizeof(out->customer_id), customer_id);
    out->previous_model = true;
    out->n_reasons = 0;
    return CHURN_OK;
}

enum churn_err
churn_scorer_refresh(struct churn_scorer *sc, struct churn_served *m, const char *customer_id,
                     struct churn_score *out, bool *evaluated)
{
    static const struct churn_score_request bare = {0};
    char msg[256];
    if (!sc->store)
        return CHURN_EUNAVAIL;
    uint64_t before = tls_evaluations;
    enum churn_err e =
        score_one(sc, m, customer_id, NULL, &bare, NULL, KEEP_WAIT, out, msg, sizeof(msg));
    *evaluated = tls_evaluations != before;
    return e;
}
