/*
 * train.c - the training pipeline: option checks, the features a fit may use (constant and
 * all-missing columns are left out and reported), class weights, stratified k-fold
 * cross-validation, model selection by mean CV AUC, Platt or isotonic calibration fitted on
 * the out-of-fold predictions, the final fit on every row and the model document with its
 * training metadata. Every fitted document goes through the model loader, so a trained model
 * passes the same validation as a file.
 */
#define _GNU_SOURCE /* qsort_r */
#include "churn/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "internal.h"

#define ISOTONIC_MAX_POINTS 1000

enum churn_err
churn__train_fail(struct churn__tctx *ctx, enum churn_err err, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        churn_verrf(ctx->errbuf, ctx->errlen, fmt, ap);
        va_end(ap);
    }
    return err;
}

const char *
churn_train_algo_name(enum churn_train_algo algo)
{
    switch (algo) {
    case CHURN_TRAIN_AUTO:
        return "auto";
    case CHURN_TRAIN_LOGREG:
        return "logistic_regression";
    case CHURN_TRAIN_GBDT:
        return "gbdt";
    case CHURN_TRAIN_BLEND:
        return "blend";
    }
    return "unknown";
}

void
churn_train_options_default(struct churn_train_options *o)
{
    *o = (struct churn_train_options){
        .algo = CHURN_TRAIN_AUTO,
        .calibration = CHURN_CALIBRATION_PLATT,
        .folds = 5,
        .seed = 42,
        .threads = 2,
        .l2 = 1.0,
        .max_iter = 500,
        .n_trees = 100,
        .max_depth = 6,
        .max_leaves = 0,
        .max_bins = 255,
        .learning_rate = 0.1,
        .lambda = 1.0,
        .min_child_weight = 1.0,
        .subsample = 1.0,
        .colsample = 1.0,
        .early_stopping = 0,
        .validation_fraction = 0.1,
        .threshold = 0.5,
        .time_budget_s = 120,
        .select_rule = CHURN_SELECT_ONE_SE,
    };
}

json_t *
churn__feature_doc(const struct churn_dataset *ds, size_t f, int monotone)
{
    const struct churn_dataset_feature *df = &ds->features[f];
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "name", json_string(df->name));
    if (df->type == CHURN_FEATURE_NUMERIC) {
        json_object_set_new(o, "type", json_string("numeric"));
    } else {
        json_object_set_new(o, "type", json_string("categorical"));
        json_t *cats = json_array();
        for (size_t c = 0; c < df->n_categories; c++)
            json_array_append_new(cats, json_string(df->categories[c]));
        json_object_set_new(o, "categories", cats);
    }
    if (monotone)
        json_object_set_new(o, "monotone", json_integer(monotone));
    return o;
}

static enum churn_err
check_options(const struct churn_train_options *o, struct churn_train_options *n,
              struct churn__tctx *ctx)
{
    *n = *o;
    if (o->algo != CHURN_TRAIN_AUTO && o->algo != CHURN_TRAIN_LOGREG && o->algo != CHURN_TRAIN_GBDT)
        return churn__train_fail(ctx, CHURN_EINVAL,
                                 "algo: auto, logistic_regression or gbdt (auto chooses a blend)");
    if (!(o->time_budget_s >= 0))
        return churn__train_fail(ctx, CHURN_EINVAL, "time_budget_s: must be a number >= 0");
    if (o->select_rule != CHURN_SELECT_BEST && o->select_rule != CHURN_SELECT_ONE_SE &&
        o->select_rule != CHURN_SELECT_ONE_SE_CV)
        return churn__train_fail(ctx, CHURN_EINVAL,
                                 "select_rule: %d is not best (0), one-se (1) or one-se-cv (2)",
                                 (int)o->select_rule);
    if (o->folds == 1 || o->folds > CHURN_TRAIN_MAX_FOLDS)
        return churn__train_fail(ctx, CHURN_EINVAL, "folds: %u is not 0 or 2..%u", o->folds,
                                 CHURN_TRAIN_MAX_FOLDS);
    if (o->algo == CHURN_TRAIN_AUTO && o->folds < 2)
        return churn__train_fail(ctx, CHURN_EINVAL, "algorithm auto needs folds >= 2");
    if (o->calibration != CHURN_CALIBRATION_NONE && o->folds < 2)
        return churn__train_fail(ctx, CHURN_EINVAL,
                                 "calibration is fitted out of fold: it needs folds >= 2");
    if (!(o->l2 >= 0) || !isfinite(o->l2))
        return churn__train_fail(ctx, CHURN_EINVAL, "l2: must be a finite number >= 0");
    if (o->max_iter == 0 || o->max_iter > 100000)
        return churn__train_fail(ctx, CHURN_EINVAL, "max_iter: must be 1..100000");
    if (o->n_trees == 0 || o->n_trees > 10000)
        return churn__train_fail(ctx, CHURN_EINVAL, "trees: must be 1..10000");
    if (o->max_depth == 0 || o->max_depth > 16)
        return churn__train_fail(ctx, CHURN_EINVAL, "max_depth: must be 1..16");
    if (!n->max_leaves)
        n->max_leaves = o->max_depth >= 10 ? 1024 : 1u << o->max_depth;
    if (n->max_leaves < 2 || n->max_leaves > 1024)
        return churn__train_fail(ctx, CHURN_EINVAL, "max_leaves: must be 2..1024");
    if (o->max_bins < 2 || o->max_bins > 255)
        return churn__train_fail(ctx, CHURN_EINVAL, "max_bins: must be 2..255");
    if (!(o->learning_rate > 0 && o->learning_rate <= 1))
        return churn__train_fail(ctx, CHURN_EINVAL, "learning_rate: must be in (0, 1]");
    if (!(o->lambda >= 0) || !isfinite(o->lambda) || !(o->min_child_weight >= 0))
        return churn__train_fail(ctx, CHURN_EINVAL,
                                 "lambda and min_child_weight: must be finite numbers >= 0");
    if (!(o->subsample > 0 && o->subsample <= 1) || !(o->colsample > 0 && o->colsample <= 1))
        return churn__train_fail(ctx, CHURN_EINVAL, "subsample, colsample: must be in (0, 1]");
    if (o->early_stopping && !(o->validation_fraction > 0 && o->validation_fraction < 0.5))
        return churn__train_fail(ctx, CHURN_EINVAL, "validation_fraction: must be in (0, 0.5)");
    if (!(o->threshold >= 0 && o->threshold <= 1))
        return churn__train_fail(ctx, CHURN_EINVAL, "threshold: must be in [0, 1]");
    if (n->threads == 0)
        n->threads = 1;
    if (n->threads > 16)
        n->threads = 16;
    return CHURN_OK;
}

/* A fit's context: the features it may use and the class weights. */
struct plan {
    const struct churn_dataset *ds;
    const struct churn_train_options *o;
    size_t *feat;
    size_t n_feat;
    double *w;
};

static void
plan_fini(struct plan *p)
{
    churn_free(p->feat);
    churn_free(p->w);
}

static enum churn_err
plan_init(struct plan *p, const struct churn_dataset *ds, const struct churn_train_options *o,
          char *dropped, size_t dropped_len, struct churn__tctx *ctx)
{
    memset(p, 0, sizeof(*p));
    p->ds = ds;
    p->o = o;
    if (ds->n_rows < 2 || ds->n_positive == 0 || ds->n_positive == ds->n_rows)
        return churn__train_fail(ctx, CHURN_EINVAL, "training data has one class only");
    enum churn_err err = churn__monotone_check(ds, o, ctx);
    if (err)
        return err;
    p->feat = churn_malloc((ds->n_features ? ds->n_features : 1) * sizeof(size_t));
    if (!p->feat)
        return churn__train_fail(ctx, CHURN_ENOMEM, "out of memory");
    size_t off = 0;
    if (dropped && dropped_len)
        dropped[0] = '\0';
    for (size_t f = 0; f < ds->n_features; f++) {
        const struct churn_dataset_feature *df = &ds->features[f];
        const char *why = NULL;
        if (df->n_missing == ds->n_rows)
            why = "all values missing";
        else if (df->constant && df->n_missing == 0)
            why = "constant";
        if (!why) {
            p->feat[p->n_feat++] = f;
            continue;
        }
        if (dropped && off < dropped_len) {
            int k = snprintf(dropped + off, dropped_len - off, "%s%s: %s", off ? "; " : "",
                             df->name, why);
            off += k > 0 ? (size_t)k : 0;
        }
    }
    if (p->n_feat == 0)
        return churn__train_fail(ctx, CHURN_EINVAL,
                                 "no usable feature: every column is constant or missing");
    if (o->balanced) {
        p->w = churn_malloc(ds->n_rows * sizeof(double));
        if (!p->w)
            return churn__train_fail(ctx, CHURN_ENOMEM, "out of memory");
        double n = (double)ds->n_rows, np = (double)ds->n_positive;
        for (size_t r = 0; r < ds->n_rows; r++)
            p->w[r] = ds->y[r] > 0 ? n / (2 * np) : n / (2 * (n - np));
    }
    return CHURN_OK;
}

static void
shuffle(size_t *a, size_t n, uint64_t *s)
{
    for (size_t i = n; i > 1; i--) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t j = (size_t)((*s >> 33) % i);
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

static int
cmp_group(const void *a, const void *b, void *vgroup)
{
    const uint64_t *g = vgroup;
    uint64_t x = g[*(const size_t *)a], y = g[*(const size_t *)b];
    return x < y ? -1 : x > y;
}

/*
 * Grouped and stratified: every row of a group (a customer's rows at several cutoffs) in one
 * fold, so no fold is scored by a model that saw the same customer; groups with a positive
 * row and groups without are each shuffled with @seed and dealt round-robin.
 */
static enum churn_err
make_group_folds(const struct churn_dataset *ds, unsigned k, uint64_t seed, unsigned *fold,
                 struct churn__tctx *ctx)
{
    size_t n = ds->n_rows, npos = 0, nneg = 0;
    size_t *rows = churn_malloc((n + 1) * sizeof(size_t));
    size_t *pos = churn_malloc((n + 1) * sizeof(size_t)); /* where each group's rows start */
    size_t *neg = churn_malloc((n + 1) * sizeof(size_t));
    enum churn_err err = CHURN_OK;
    if (!rows || !pos || !neg) {
        err = churn__train_fail(ctx, CHURN_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t r = 0; r < n; r++)
        rows[r] = r;
    qsort_r(rows, n, sizeof(size_t), cmp_group, ds->group);
    for (size_t i = 0, j; i < n; i = j) {
        bool positive = false;
        for (j = i; j < n && ds->group[rows[j]] == ds->group[rows[i]]; j++)
            positive |= ds->y[rows[j]] > 0;
        if (positive)
            pos[npos++] = i;
        else
            neg[nneg++] = i;
    }
    if (npos < k || nneg < k) {
        err = churn__train_fail(ctx, CHURN_EINVAL,
                                "%zu customers (groups) %s: fewer than the %u folds, a fold would "
                                "have one class only",
                                npos < k ? npos : nneg,
                                npos < k ? "with a churned row" : "without one", k);
        goto out;
    }
    uint64_t s = seed * 2654435761ULL + 1;
    shuffle(pos, npos, &s);
    shuffle(neg, nneg, &s);
    for (size_t i = 0; i < npos + nneg; i++) {
        size_t start = i < npos ? pos[i] : neg[i - npos];
        unsigned f = (unsigned)((i < npos ? i : i - npos) % k);
        for (size_t j = start; j < n && ds->group[rows[j]] == ds->group[rows[start]]; j++)
            fold[rows[j]] = f;
    }
out:
    churn_free(rows);
    churn_free(pos);
    churn_free(neg);
    return err;
}

/* Stratified fold of each row: each class shuffled with @seed, then dealt round-robin. */
static enum churn_err
make_folds(const struct churn_dataset *ds, unsigned k, uint64_t seed, unsigned *fold,
           struct churn__tctx *ctx)
{
    if (ds->group)
        return make_group_folds(ds, k, seed, fold, ctx);
    size_t npos = ds->n_positive, nneg = ds->n_rows - npos;
    if (npos < k || nneg < k)
        return churn__train_fail(ctx, CHURN_EINVAL,
                                 "%zu rows of the %s class: fewer than the %u folds, a fold "
                                 "would have one class only",
                                 npos < k ? npos : nneg, npos < k ? "positive" : "negative", k);
    size_t *pos = churn_malloc(npos * sizeof(size_t)), *neg = churn_malloc(nneg * sizeof(size_t));
    if (!pos || !neg) {
        churn_free(pos);
        churn_free(neg);
        return churn__train_fail(ctx, CHURN_ENOMEM, "out of memory");
    }
    size_t a = 0, b = 0;
    for (size_t r = 0; r < ds->n_rows; r++) {
        if (ds->y[r] > 0)
            pos[a++] = r;
        else
            neg[b++] = r;
    }
    uint64_t s = seed * 2654435761ULL + 1;
    shuffle(pos, npos, &s);
    shuffle(neg, nneg, &s);
    for (size_t i = 0; i < npos; i++)
        fold[pos[i]] = (unsigned)(i % k);
    for (size_t i = 0; i < nneg; i++)
        fold[neg[i]] = (unsigned)(i % k);
    churn_free(pos);
    churn_free(neg);
    return CHURN_OK;
}

enum churn_err
churn_train_folds(const struct churn_dataset *ds, unsigned k, uint64_t seed, unsigned *fold,
                  char *errbuf, size_t errlen)
{
    struct churn__tctx ctx = {errbuf, errlen};
    if (k < 2 || k > CHURN_TRAIN_MAX_FOLDS)
        return churn__train_fail(&ctx, CHURN_EINVAL, "folds: %u is not 2..%u", k,
                                 CHURN_TRAIN_MAX_FOLDS);
    return make_folds(ds, k, seed, fold, &ctx);
}

static enum churn_err
doc_to_model(json_t *doc, struct churn_model **out, struct churn__tctx *ctx)
{
    json_object_set_new(doc, "format_version", json_integer(CHURN_MODEL_FORMAT_VERSION));
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (!text)
        return churn__train_fail(ctx, CHURN_ENOMEM, "out of memory (model text)");
    char msg[CHURN_MODEL_ERRMSG];
    enum churn_err err = churn_model_load_json(text, strlen(text), CHURN_MODEL_LOAD_NO_CHECKSUM,
                                               out, msg, sizeof(msg));
    free(text); /* allocated by jansson */
    if (err)
        return churn__train_fail(ctx, err == CHURN_ENOMEM ? err : CHURN_EINTERNAL,
                                 "trained model refused by the loader: %s", msg);
    return CHURN_OK;
}

static int
cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* Fit @algo on @rows; early-stopping validation rows are carved out of them (stratified). */
static enum churn_err
fit_doc(const struct plan *p, enum churn_train_algo algo, const size_t *rows, size_t n,
        uint64_t seed, json_t **doc, struct churn__tctx *ctx)
{
    const struct churn_train_options *o = p->o;
    struct churn__fit fit = {p->ds, p->feat, p->n_feat, rows, n, NULL, 0, p->w};
    if (algo == CHURN_TRAIN_LOGREG)
        return churn__fit_logreg(&fit, o, doc, ctx);
    if (!o->early_stopping)
        return churn__fit_gbdt(&fit, o, doc, ctx);
    size_t *tr = churn_malloc(n * sizeof(size_t)), *va = churn_malloc(n * sizeof(size_t));
    size_t *cls = churn_malloc(n * sizeof(size_t));
    if (!tr || !va || !cls) {
        churn_free(tr);
        churn_free(va);
        churn_free(cls);
        return churn__train_fail(ctx, CHURN_ENOMEM, "out of memory");
    }
    size_t ntr = 0, nva = 0;
    uint64_t s = seed ^ 0xa0761d6478bd642fULL;
    for (int c = 0; c < 2; c++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if ((p->ds->y[rows[i]] > 0) == (c == 1))
                cls[m++] = rows[i];
        shuffle(cls, m, &s);
        size_t nv = (size_t)ceil(o->validation_fraction * (double)m);
        if (nv >= m)
            nv = m > 1 ? m - 1 : 0;
        for (size_t i = 0; i < m; i++) {
            if (i < nv)
                va[nva++] = cls[i];
            else
                tr[ntr++] = cls[i];
        }
    }
    qsort(tr, ntr, sizeof(size_t), cmp_size); /* ascending rows: sequential memory access */
    qsort(va, nva, sizeof(size_t), cmp_size);
    fit.rows = tr;
    fit.n_rows = ntr;
    fit.val = va;
    fit.n_val = nva;
    enum churn_err err = churn__fit_gbdt(&fit, o, doc, ctx);
    churn_free(tr);
    churn_free(va);
    churn_free(cls);
    return err;
}

/* fit_doc(), and for a blend both fits joined into one document weighted by @w_lr. */
static enum churn_err
fit_final(const struct plan *p, enum churn_train_algo algo, double w_lr, const size_t *rows,
          size_t n, uint64_t seed, json_t **doc, struct churn__tctx *ctx)
{
    if (algo != CHURN_TRAIN_BLEND)
        return fit_doc(p, algo, rows, n, seed, doc, ctx);
    json_t *lr = NULL, *gb = NULL;
    enum churn_err err = fit_doc(p, CHURN_TRAIN_LOGREG, rows, n, seed, &lr, ctx);
    if (!err && (err = fit_doc(p, CHURN_TRAIN_GBDT, rows, n, seed, &gb, ctx)))
        json_decref(lr);
    return err ? err : churn__blend_doc(lr, gb, w_lr, doc, ctx);
}

static void
gather(const struct plan *p, size_t r, double *x)
{
    for (size_t k = 0; k < p->n_feat; k++)
        x[k] = p->ds->cols[p->feat[k]][r];
}

/* Rows to fit on and rows to score, and the fit's seed. */
struct split {
    const size_t *rows;
    size_t n;
    const size_t *test;
    size_t nt;
    uint64_t seed;
};

/* Fit @algo on @sp's rows and score its test rows: raw probabilities and labels into @pr and
 * @yy (in test order), margins into @oof[row] when @oof is not NULL. */
static enum churn_err
fit_and_score(const struct plan *p, enum churn_train_algo algo, const struct split *sp, double *pr,
              double *yy, double *oof, struct churn__tctx *ctx)
{
    json_t *doc = NULL;
    struct churn_model *m = NULL;
    enum churn_err err = fit_doc(p, algo, sp->rows, sp->n, sp->seed, &doc, ctx);
    if (err)
        return err;
    err = doc_to_model(doc, &m, ctx);
    json_decref(doc);
    if (err)
        return err;
    double *x = churn_malloc(p->n_feat * sizeof(double));
    if (!x) {
        churn_model_unref(m);
        return churn__train_fail(ctx, CHURN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < sp->nt; i++) {
        struct churn_model_prediction pred;
        gather(p, sp->test[i], x);
        churn_model_predict(m, x, &pred);
        pr[i] = pred.raw;
        yy[i] = p->ds->y[sp->test[i]];
        if (oof)
            oof[sp->test[i]] = pred.margin;
    }
    churn_free(x);
    churn_model_unref(m);
    return CHURN_OK;
}

static enum churn_err
cv_run(const struct plan *p, enum churn_train_algo algo, const unsigned *fold,
       struct churn_cv_result *res, double *oof, struct churn__tctx *ctx)
{
    const struct churn_dataset *ds = p->ds;
    unsigned k = p->o->folds;
    enum churn_err err = CHURN_OK;
    int64_t t0 = churn_mono_ns();
    size_t *rows = churn_malloc(ds->n_rows * sizeof(size_t));
    size_t *test = churn_malloc(ds->n_rows * sizeof(size_t));
    double *pr = churn_malloc(ds->n_rows * sizeof(double));
    double *yy = churn_malloc(ds->n_rows * sizeof(double));
    if (!rows || !test || !pr || !yy) {
        err = churn__train_fail(ctx, CHURN_ENOMEM, "out of memory");
        goto out_free;
    }
    memset(res, 0, sizeof(*res));
    res->algo = algo;
    res->folds = k;
    for (unsigned f = 0; f < k; f++) {
        size_t n = 0, nt = 0;
        for (size_t r = 0; r < ds->n_rows; r++) {
            if (fold[r] == f)
                test[nt++] = r;
            else
                rows[n++] = r;
        }
        struct split sp = {rows, n, test, nt, p->o->seed + f};
        if ((err = fit_and_score(p, algo, &sp, pr, yy, oof, ctx)))
            goto out_free;
        if ((err = churn_metrics_compute(pr, yy, nt, p->o->threshold, &res->fold[f]))) {
            err = churn__train_fail(ctx, err, "fold %u: cannot compute metrics", f);
            goto out_free;
        }
    }
    churn_cv_summarise(res);
    res->seconds = (double)(churn_mono_ns() - t0) / 1e9;
out_free:
    churn_free(rows);
    churn_free(test);
    churn_free(pr);
    churn_free(yy);
    return err;
}

enum churn_err
churn_train_cv(const struct churn_dataset *ds, const struct churn_train_options *opts,
               enum churn_train_algo algo, struct churn_cv_result *out, double *oof, char *errbuf,
               size_t errlen)
{
    struct churn__tctx ctx = {errbuf, errlen};
    struct churn_train_options o;
    struct plan p;
    enum churn_err err = check_options(opts, &o, &ctx);
    if (err)
        return err;
    if (algo != CHURN_TRAIN_LOGREG && algo != CHURN_TRAIN_GBDT)
        return churn__train_fail(&ctx, CHURN_EINVAL, "cv needs one algorithm, not auto");
    if (o.folds < 2)
        return churn__train_fail(&ctx, CHURN_EINVAL, "cv needs folds >= 2");
    unsigned *fold = churn_malloc(ds->n_rows * sizeof(unsigned));
    if (!fold)
        return churn__train_fail(&ctx, CHURN_ENOMEM, "out of memory");
    if (!(err = plan_init(&p, ds, &o, NULL, 0, &ctx))) {
        struct churn_cv_result res;
        if (!(err = make_folds(ds, o.folds, o.seed, fold, &ctx)) &&
            !(err = cv_run(&p, algo, fold, &res, oof, &ctx)))
            *out = res;
    }
    plan_fini(&p);
    churn_free(fold);
    return err;
}

enum churn_err
churn__train_holdout(const struct churn_dataset *ds, const struct churn_train_options *opts,
                     enum churn_train_algo algo, double at, double gap, double *oof,
                     struct churn__tctx *ctx)
{
    struct churn_train_options o;
    struct plan p;
    memset(&p, 0, sizeof(p));
    enum churn_err err = check_options(opts, &o, ctx);
    if (err)
        return err;
    size_t *rows = churn_malloc(ds->n_rows * sizeof(size_t));
    size_t *test = churn_malloc(ds->n_rows * sizeof(size_t));
    double *pr = churn_malloc(ds->n_rows * sizeof(double));
    double *yy = churn_malloc(ds->n_rows * sizeof(double));
    struct split sp = {rows, 0, test, 0, o.seed};
    for (size_t r = 0; rows && test && ds->time && r < ds->n_rows; r++) {
        if (ds->time[r] == at)
            test[sp.nt++] = r;
        else if (ds->time[r] < at && ds->time[r] <= at - gap)
            rows[sp.n++] = r;
    }
    if (!rows || !test || !pr || !yy)
        err = churn__train_fail(ctx, CHURN_ENOMEM, "out of memory");
    else if (sp.n == 0 || sp.nt == 0)
        err = churn__train_fail(ctx, CHURN_EINVAL, "no rows before or at the holdout time");
    else if (!(err = plan_init(&p, ds, &o, NULL, 0, ctx)))
        err = fit_and_score(&p, algo, &sp, pr, yy, oof, ctx);
    plan_fini(&p);
    churn_free(rows);
    churn_free(test);
    churn_free(pr);
    churn_free(yy);
    return err;
}

/* ---- calibration ---- */

struct calib {
    enum churn_calibration_kind kind;
    double a, b;
    size_t n;
    double *x, *y;
};

static double
calib_apply(const struct calib *c, double margin)
{
    double raw = churn__sigmoid(margin);
    if (c->kind == CHURN_CALIBRATION_PLATT)
        return churn__sigmoid(c->a * margin + c->b);
    if (c->kind != CHURN_CALIBRATION_ISOTONIC)
        return raw;
    if (raw <= c->x[0])
        return c->y[0];
    if (raw >= c->x[c->n - 1])
        return c->y[c->n - 1];
    size_t lo = 0, hi = c->n - 1;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (c->x[mid] <= raw)
            lo = mid;
        else
            hi = mid;
    }
    double t = (raw - c->x[lo]) / (c->x[hi] - c->x[lo]);
    return c->y[lo] + t * (c->y[hi] - c->y[lo]);
}

/* Platt: logistic regression of the label on the margin, Newton's method with a tiny ridge. */
static void
fit_platt(const double *m, const double *y, size_t n, struct calib *c)
{
    double a = 1, b = 0;
    for (int it = 0; it < 100; it++) {
        double ga = 0, gb = 0, haa = 1e-9, hab = 0, hbb = 1e-9;
        for (size_t i = 0; i < n; i++) {
            double p = churn__sigmoid(a * m[i] + b), r = p - y[i], w = p * (1 - p);
            ga += r * m[i];
            gb += r;
            haa += w * m[i] * m[i];
            hab += w * m[i];
            hbb += w;
        }
        double det = haa * hbb - hab * hab;
        if (!(fabs(det) > 1e-300))
            break;
        double da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if (fabs(da) + fabs(db) < 1e-12)
            break;
    }
    c->kind = CHURN_CALIBRATION_PLATT;
    c->a = isfinite(a) ? a : 1;
    c->b = isfinite(b) ? b : 0;
}

struct pav_pt {
    double x, y;
};

static int
cmp_pt(const void *a, const void *b)
{
    const struct pav_pt *p = a, *q = b;
    return p->x < q->x ? -1 : p->x > q->x;
}

/* Isotonic: pool adjacent violators on (raw probability, label); one point per block. */
static enum churn_err
fit_isotonic(const double *m, const double *y, size_t n, struct calib *c)
{
    struct pav_pt *pt = churn_malloc(n * sizeof(*pt));
    double *bx = churn_malloc((n + 2) * sizeof(double));
    double *by = churn_malloc((n + 2) * sizeof(double));
    double *bw = churn_malloc(n * sizeof(double));
    if (!pt || !bx || !by || !bw) {
        churn_free(pt);
        churn_free(bx);
        churn_free(by);
        churn_free(bw);
        return CHURN_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        pt[i] = (struct pav_pt){churn__sigmoid(m[i]), y[i]};
    qsort(pt, n, sizeof(*pt), cmp_pt);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bx[k] = pt[i].x;
        by[k] = pt[i].y;
        bw[k] = 1;
        k++;
        /* merge while the block before is not strictly below (in label and in score) */
        while (k > 1 && (by[k - 2] >= by[k - 1] || bx[k - 2] >= bx[k - 1])) {
            double w = bw[k - 2] + bw[k - 1];
            bx[k - 2] = (bx[k - 2] * bw[k - 2] + bx[k - 1] * bw[k - 1]) / w;
            by[k - 2] = (by[k - 2] * bw[k - 2] + by[k - 1] * bw[k - 1]) / w;
            bw[k - 2] = w;
            k--;
        }
    }
    if (k > ISOTONIC_MAX_POINTS) { /* thin evenly, keeping both ends: still monotone */
        for (size_t i = 0; i < ISOTONIC_MAX_POINTS; i++) {
            size_t j = i * (k - 1) / (ISOTONIC_MAX_POINTS - 1);
            bx[i] = bx[j];
            by[i] = by[j];
        }
        k = ISOTONIC_MAX_POINTS;
    }
    churn_free(pt);
    churn_free(bw);
    if (k < 2) { /* a constant map: two points with the same value */
        double v = by[0];
        bx[0] = 0;
        by[0] = v;
        bx[1] = 1;
        by[1] = v;
        k = 2;
    }
    c->kind = CHURN_CALIBRATION_ISOTONIC;
    c->n = k;
    c->x = bx;
    c->y = by;
    return CHURN_OK;
}

static json_t *
calib_doc(const struct calib *c)
{
    if (c->kind == CHURN_CALIBRATION_PLATT)
        return json_pack("{sssfsf}", "method", "platt", "a", c->a, "b", c->b);
    if (c->kind == CHURN_CALIBRATION_ISOTONIC) {
        json_t *xs = json_array(), *ys = json_array();
        for (size_t i = 0; i < c->n; i++) {
            json_array_append_new(xs, json_real(c->x[i]));
            json_array_append_new(ys, json_real(c->y[i]));
        }
        return json_pack("{ssso so}", "method", "isotonic", "x", xs, "y", ys);
    }
    return json_pack("{ss}", "method", "none");
}

/* ---- the pipeline ---- */

/*
 * Fit the calibration on out-of-fold margins: of every row, or, when the rows carry a time
 * (a store training set's cutoffs), of the rows at the latest time only, so that probabilities
 * match the churn rate of the newest window - the one closest to the customers served now.
 * Falls back to every row when the latest time has fewer than 20 rows of a class.
 */
static enum churn_err
calibrate(const struct churn_dataset *ds, const double *oof, enum churn_calibration_kind kind,
          struct calib *cal, struct churn_train_report *rep, struct churn__tctx *ctx)
{
    size_t n = ds->n_rows, m = 0, pos = 0;
    double *mm = churn_malloc((n + 1) * sizeof(double)),
           *yy = churn_malloc((n + 1) * sizeof(double));
    if (!mm || !yy) {
        churn_free(mm);
        churn_free(yy);
        return churn__train_fail(ctx, CHURN_ENOMEM, "out of memory");
    }
    double latest = -INFINITY;
    for (size_t r = 0; ds->time && r < n; r++)
        if (ds->time[r] > latest)
            latest = ds->time[r];
    for (size_t r = 0; r < n; r++) {
        if (ds->time && ds->time[r] != latest)
            continue;
        mm[m] = oof[r];
        yy[m++] = ds->y[r];
        pos += ds->y[r] > 0;
    }
    if (ds->time && (pos < 20 || m - pos < 20)) {
        for (size_t r = 0; r < n; r++)
            mm[r] = oof[r], yy[r] = ds->y[r];
        m = n;
        latest = NAN;
    }
    rep->calibration_rows = m;
    rep->calibration_time = ds->time ? latest : NAN;
    enum churn_err err = CHURN_OK;
    if (kind == CHURN_CALIBRATION_PLATT)
        fit_platt(mm, yy, m, cal);
    else if (kind == CHURN_CALIBRATION_ISOTONIC && fit_isotonic(mm, yy, m, cal))
        err = churn__train_fail(ctx, CHURN_ENOMEM, "out of memory");
    churn_free(mm);
    churn_free(yy);
    return err;
}

static json_t *
params_doc(const struct churn_train_options *o, enum churn_train_algo algo)
{
    json_t *p = json_pack("{sssisisbsi}", "algorithm", churn_train_algo_name(algo), "folds",
                          (json_int_t)o->folds, "seed", (json_int_t)(o->seed & 0x7fffffff),
                          "balanced", o->balanced, "threads", (json_int_t)o->threads);
    if (!p)
        return NULL;
    if (algo != CHURN_TRAIN_GBDT) {
        json_object_set_new(p, "l2", json_real(o->l2));
        json_object_set_new(p, "max_iter", json_integer(o->max_iter));
    }
    if (algo != CHURN_TRAIN_LOGREG) {
        json_object_set_new(p, "trees", json_integer(o->n_trees));
        json_object_set_new(p, "max_depth", json_integer(o->max_depth));
        json_object_set_new(p, "max_leaves", json_integer(o->max_leaves));
        json_object_set_new(p, "max_bins", json_integer(o->max_bins));
        json_object_set_new(p, "learning_rate", json_real(o->learning_rate));
        json_object_set_new(p, "lambda", json_real(o->lambda));
        json_object_set_new(p, "min_child_weight", json_real(o->min_child_weight));
        json_object_set_new(p, "subsample", json_real(o->subsample));
        json_object_set_new(p, "colsample", json_real(o->colsample));
        json_object_set_new(p, "early_stopping", json_integer(o->early_stopping));
    }
    return p;
}

static void
set_metric(json_t *m, const char *key, double v)
{
    json_object_set_new(m, key, isfinite(v) ? json_real(v) : json_null());
}

enum churn_err
churn_train(const struct churn_dataset *ds, const struct churn_train_options *opts,
            struct churn_model **out, struct churn_train_report *report, char *errbuf,
            size_t errlen)
{
    struct churn__tctx ctx = {errbuf, errlen};
    struct churn_train_options o;
    struct churn_train_report rep;
    struct plan p = {0};
    struct calib cal = {0};
    struct churn_select_result *sel = NULL;
    unsigned *fold = NULL;
    double *oof_lr = NULL, *oof_gb = NULL, *prob = NULL, *x = NULL;
    size_t *all = NULL;
    json_t *doc = NULL;
    struct churn_model *model = NULL;
    int64_t t0 = churn_mono_ns();
    enum churn_err err = check_options(opts, &o, &ctx);
    if (err)
        return err;
    memset(&rep, 0, sizeof(rep));
    if ((err = plan_init(&p, ds, &o, rep.dropped, sizeof(rep.dropped), &ctx)))
        goto out_free;
    rep.n_features_used = p.n_feat;
    enum churn_train_algo algo = o.algo;
    double *oof = NULL;
    if (o.folds >= 2) {
        fold = churn_malloc(ds->n_rows * sizeof(unsigned));
        oof_lr = churn_malloc(ds->n_rows * sizeof(double));
        oof_gb = churn_malloc(ds->n_rows * sizeof(double));
        if (!fold || !oof_lr || !oof_gb) {
            err = churn__train_fail(&ctx, CHURN_ENOMEM, "out of memory");
            goto out_free;
        }
        if ((err = make_folds(ds, o.folds, o.seed, fold, &ctx)))
            goto out_free;
        if (algo == CHURN_TRAIN_AUTO) { /* the search (select.c) */
            if (!(sel = churn_malloc(sizeof(*sel)))) {
                err = churn__train_fail(&ctx, CHURN_ENOMEM, "out of memory");
                goto out_free;
            }
            if ((err = churn_train_select(ds, &o, sel, oof_gb, errbuf, errlen)))
                goto out_free;
            rep.has_select = true;
            rep.select = sel->report;
            rep.cv_logreg = sel->cv_logreg;
            rep.has_cv_logreg = true;
            rep.cv_gbdt = sel->cv_gbdt;
            rep.has_cv_gbdt = sel->has_cv_gbdt;
            o = sel->opts;
            algo = sel->algo;
        }
        if (algo == CHURN_TRAIN_LOGREG && !rep.has_cv_logreg) {
            if ((err = cv_run(&p, CHURN_TRAIN_LOGREG, fold, &rep.cv_logreg, oof_lr, &ctx)))
                goto out_free;
            rep.has_cv_logreg = true;
        }
        if (algo == CHURN_TRAIN_GBDT && !rep.has_cv_gbdt) {
            if ((err = cv_run(&p, CHURN_TRAIN_GBDT, fold, &rep.cv_gbdt, oof_gb, &ctx)))
                goto out_free;
            rep.has_cv_gbdt = true;
        }
        oof = algo == CHURN_TRAIN_LOGREG && !sel ? oof_lr : oof_gb;
    }
    rep.chosen = algo;

    if (oof && (err = calibrate(ds, oof, o.calibration, &cal, &rep, &ctx)))
        goto out_free;
    prob = churn_malloc(ds->n_rows * sizeof(double));
    all = churn_malloc(ds->n_rows * sizeof(size_t));
    x = churn_malloc(p.n_feat * sizeof(double));
    if (!prob || !all || !x) {
        err = churn__train_fail(&ctx, CHURN_ENOMEM, "out of memory");
        goto out_free;
    }
    if (oof) {
        for (size_t r = 0; r < ds->n_rows; r++)
            prob[r] = calib_apply(&cal, oof[r]);
        if ((err = churn_metrics_compute(prob, ds->y, ds->n_rows, o.threshold, &rep.oof))) {
            err = churn__train_fail(&ctx, err, "out-of-fold metrics: %s", churn_strerror(err));
            goto out_free;
        }
        rep.has_oof = true;
    }

    /* the final model on every row */
    for (size_t r = 0; r < ds->n_rows; r++)
        all[r] = r;
    if ((err =
             fit_final(&p, algo, sel ? sel->blend_weight : 0, all, ds->n_rows, o.seed, &doc, &ctx)))
        goto out_free;
    int64_t now = churn_now_ms();
    char ts[40], version[80];
    churn_format_time_ms(now, ts, sizeof(ts));
    snprintf(version, sizeof(version), "%s-%s", ts, churn_train_algo_name(algo));
    json_object_set_new(doc, "version", json_string(version));
    json_object_set_new(doc, "calibration", calib_doc(&cal));
    json_t *metrics = json_object();
    const struct churn_cv_result *cv = sel ? &sel->cv_chosen
                                       : algo == CHURN_TRAIN_GBDT
                                           ? (rep.has_cv_gbdt ? &rep.cv_gbdt : NULL)
                                           : (rep.has_cv_logreg ? &rep.cv_logreg : NULL);
    if (cv) {
        set_metric(metrics, "cv_auc_mean", cv->auc_mean);
        set_metric(metrics, "cv_auc_sd", cv->auc_sd);
        set_metric(metrics, "cv_pr_auc_mean", cv->pr_auc_mean);
        set_metric(metrics, "cv_log_loss_mean", cv->log_loss_mean);
        set_metric(metrics, "cv_brier_mean", cv->brier_mean);
    }
    if (rep.has_oof) {
        set_metric(metrics, "oof_calibrated_log_loss", rep.oof.log_loss);
        set_metric(metrics, "oof_calibrated_brier", rep.oof.brier);
        set_metric(metrics, "oof_top_decile_capture", rep.oof.decile_capture[0]);
    }
    json_t *params = params_doc(&o, algo);
    if (params && sel && algo == CHURN_TRAIN_BLEND)
        json_object_set_new(params, "blend_weight_logistic_regression",
                            json_real(sel->blend_weight));
    json_t *training =
        json_pack("{sssIsIsoso}", "data_hash", ds->data_hash, "rows", (json_int_t)ds->n_rows,
                  "trained_at_ms", (json_int_t)now, "params", params, "metrics", metrics);
    if (!training) {
        err = churn__train_fail(&ctx, CHURN_ENOMEM, "out of memory");
        goto out_free;
    }
    if (ds->horizon_days > 0) /* the horizon the scores look ahead (churn/model.h) */
        json_object_set_new(training, "horizon_days", json_integer(ds->horizon_days));
    json_object_set_new(doc, "training", training);
    if ((err = doc_to_model(doc, &model, &ctx)))
        goto out_free;
    for (size_t r = 0; r < ds->n_rows; r++) {
        struct churn_model_prediction pr;
        gather(&p, r, x);
        churn_model_predict(model, x, &pr);
        prob[r] = pr.probability;
    }
    if ((err = churn_metrics_compute(prob, ds->y, ds->n_rows, o.threshold, &rep.train))) {
        err = churn__train_fail(&ctx, err, "training metrics: %s", churn_strerror(err));
        goto out_free;
    }
    rep.seconds = (double)(churn_mono_ns() - t0) / 1e9;
    *out = model;
    model = NULL;
    if (report)
        *report = rep;
out_free:
    churn_model_unref(model);
    json_decref(doc);
    plan_fini(&p);
    churn_free(sel);
    churn_free(cal.x);
    churn_free(cal.y);
    churn_free(fold);
    churn_free(oof_lr);
    churn_free(oof_gb);
    churn_free(prob);
    churn_free(all);
    churn_free(x);
    return err;
}
