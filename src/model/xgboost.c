/*
 * xgboost.c - import of XGBoost's JSON model format (as written by Booster.save_model() to a
 * .json file) so that a model trained in Python can be served. Supported: gbtree boosters
 * with objective binary:logistic and numeric splits; the base score is turned into a margin,
 * leaf values come from split_conditions, covers from sum_hessian (for contributions). XGBoost
 * compares float32 inputs with "x < split_condition", which the compiled trees reproduce.
 */
#include "churn/model.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "internal.h"

#define XGB "learner.gradient_booster.model.trees"

static const json_t *
path_get(const json_t *v, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n && v; i++)
        v = json_object_get(v, keys[i]);
    return v;
}

/* XGBoost writes most scalars as strings ("5E-1", "[5E-1]" in newer versions). */
static bool
parse_num(const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return isfinite(*out);
    }
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    char tmp[64];
    if (n >= sizeof(tmp))
        return false;
    memcpy(tmp, s, n + 1);
    char *p = tmp;
    if (*p == '[' && n >= 2 && tmp[n - 1] == ']') {
        tmp[n - 1] = '\0';
        p++;
    }
    char *end;
    double d = strtod(p, &end);
    if (end == p || *end || !isfinite(d))
        return false;
    *out = d;
    return true;
}

static enum churn_err
int_array(struct churn__mctx *ctx, const json_t *tree, size_t t, const char *key, size_t n,
          long long min, long long max, long long *out)
{
    const json_t *a = json_object_get(tree, key);
    if (!json_is_array(a) || json_array_size(a) != n)
        return churn__model_fail(ctx, CHURN_ECORRUPT, XGB "[%zu].%s: expected an array of %zu", t,
                                 key, n);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, i);
        long long x;
        if (json_is_integer(v))
            x = json_integer_value(v);
        else if (json_is_boolean(v))
            x = json_is_true(v);
        else
            return churn__model_fail(ctx, CHURN_ECORRUPT, XGB "[%zu].%s[%zu]: expected an integer",
                                     t, key, i);
        if (x < min || x > max)
            return churn__model_fail(ctx, CHURN_ECORRUPT, XGB "[%zu].%s[%zu]: %lld out of range", t,
                                     key, i, x);
        out[i] = x;
    }
    return CHURN_OK;
}

static enum churn_err
num_array(struct churn__mctx *ctx, const json_t *tree, size_t t, const char *key, size_t n,
          double *out)
{
    const json_t *a = json_object_get(tree, key);
    if (!json_is_array(a) || json_array_size(a) != n)
        return churn__model_fail(ctx, CHURN_ECORRUPT, XGB "[%zu].%s: expected an array of %zu", t,
                                 key, n);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, i);
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
            return churn__model_fail(ctx, CHURN_ECORRUPT,
                                     XGB "[%zu].%s[%zu]: expected a finite number", t, key, i);
        out[i] = json_number_value(v);
    }
    return CHURN_OK;
}

static enum churn_err
load_trees(struct churn__mctx *ctx, struct churn_model *m, const json_t *trees, size_t *max_feat)
{
    enum churn_err err = CHURN_OK;
    m->n_trees = json_array_size(trees);
    size_t *first = churn_malloc((m->n_trees + 1) * sizeof(*first));
    if (!first)
        return churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
    size_t total = 0;
    for (size_t t = 0; t < m->n_trees; t++) {
        const json_t *tj = json_array_get(trees, t);
        const json_t *lc = json_object_get(tj, "left_children");
        if (!json_is_object(tj) || !json_is_array(lc) || json_array_size(lc) == 0) {
            err = churn__model_fail(ctx, CHURN_ECORRUPT,
                                    XGB "[%zu].left_children: expected a non-empty array", t);
            goto out_free;
        }
        first[t] = total;
        total += json_array_size(lc);
        if (total > CHURN_MODEL_MAX_NODES) {
            err = churn__model_fail(ctx, CHURN_ETOOBIG, XGB ": more than %u nodes in all",
                                    CHURN_MODEL_MAX_NODES);
            goto out_free;
        }
    }
    first[m->n_trees] = total;
    m->raw = churn_calloc(total ? total : 1, sizeof(*m->raw));
    long long *li = churn_malloc((total ? total : 1) * 4 * sizeof(long long));
    double *dv = churn_malloc((total ? total : 1) * 2 * sizeof(double));
    if (!m->raw || !li || !dv) {
        err = churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
        goto out_arrays;
    }
    for (size_t t = 0; t < m->n_trees; t++) {
        const json_t *tj = json_array_get(trees, t);
        size_t n = first[t + 1] - first[t];
        long long *left = li, *right = li + n, *feat = li + 2 * n, *dl = li + 3 * n;
        double *cond = dv, *hess = dv + n;
        if ((err = int_array(ctx, tj, t, "left_children", n, -1, INT32_MAX, left)) ||
            (err = int_array(ctx, tj, t, "right_children", n, -1, INT32_MAX, right)) ||
            (err = int_array(ctx, tj, t, "split_indices", n, 0, INT32_MAX, feat)) ||
            (err = int_array(ctx, tj, t, "default_left", n, 0, 1, dl)) ||
            (err = num_array(ctx, tj, t, "split_conditions", n, cond)) ||
            (err = num_array(ctx, tj, t, "sum_hessian", n, hess)))
            goto out_arrays;
        const json_t *st = json_object_get(tj, "split_type");
        for (size_t i = 0; json_is_array(st) && i < json_array_size(st); i++) {
            const json_t *v = json_array_get(st, i);
            if (json_is_integer(v) && json_integer_value(v) != 0) {
                err = churn__model_fail(ctx, CHURN_EUNIMPL,
                                        XGB "[%zu].split_type[%zu]: categorical splits are not "
                                            "supported (numeric features only)",
                                        t, i);
                goto out_arrays;
            }
        }
        for (size_t i = 0; i < n; i++) {
            struct churn__raw_node *nd = &m->raw[first[t] + i];
            bool leaf = left[i] == -1;
            if (fabs(cond[i]) > FLT_MAX) {
                err = churn__model_fail(ctx, CHURN_ECORRUPT,
                                        XGB "[%zu].split_conditions[%zu]: outside the float range",
                                        t, i);
                goto out_arrays;
            }
            if (leaf && right[i] != -1) {
                err = churn__model_fail(ctx, CHURN_ECORRUPT,
                                        XGB "[%zu]: node %zu has one child only", t, i);
                goto out_arrays;
            }
            *nd = (struct churn__raw_node){
                .feature = leaf ? -1 : (int32_t)feat[i],
                .threshold = (float)cond[i],
                .left = (int32_t)left[i],
                .right = (int32_t)right[i],
                .default_left = (int32_t)dl[i],
                .value = leaf ? (double)(float)cond[i] : 0,
                .cover = hess[i],
            };
            if (!leaf && (size_t)feat[i] + 1 > *max_feat)
                *max_feat = (size_t)feat[i] + 1;
        }
    }
out_arrays:
    churn_free(li);
    churn_free(dv);
    if (err)
        goto out_free;
    if (*max_feat > m->n_features)
        m->n_features = *max_feat; /* checked by the caller before compiling */
out_free:
    churn_free(first);
    return err;
}

enum churn_err
churn__model_from_xgboost(const json_t *doc, size_t hint, struct churn_model **out,
                          struct churn__mctx *ctx)
{
    static const char *const k_obj[] = {"learner", "objective", "name"};
    static const char *const k_gb[] = {"learner", "gradient_booster", "name"};
    static const char *const k_trees[] = {"learner", "gradient_booster", "model", "trees"};
    static const char *const k_base[] = {"learner", "learner_model_param", "base_score"};
    static const char *const k_nfeat[] = {"learner", "learner_model_param", "num_feature"};
    static const char *const k_ncls[] = {"learner", "learner_model_param", "num_class"};
    static const char *const k_names[] = {"learner", "feature_names"};
    static const char *const k_types[] = {"learner", "feature_types"};

    const json_t *obj = path_get(doc, k_obj, 3);
    if (!json_is_string(obj))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "learner.objective.name: missing");
    if (strcmp(json_string_value(obj), "binary:logistic") != 0)
        return churn__model_fail(ctx, CHURN_EUNIMPL,
                                 "learner.objective.name: '%.64s' is not supported "
                                 "(binary:logistic only)",
                                 json_string_value(obj));
    const json_t *gb = path_get(doc, k_gb, 3);
    if (!json_is_string(gb) || strcmp(json_string_value(gb), "gbtree") != 0)
        return churn__model_fail(ctx, CHURN_EUNIMPL, "learner.gradient_booster.name: gbtree only");
    double ncls = 0;
    if (path_get(doc, k_ncls, 3) && (!parse_num(path_get(doc, k_ncls, 3), &ncls) || ncls > 1))
        return churn__model_fail(ctx, CHURN_EUNIMPL,
                                 "learner.learner_model_param.num_class: multi-class models are "
                                 "not supported");
    double base;
    if (!parse_num(path_get(doc, k_base, 3), &base) || !(base > 0 && base < 1))
        return churn__model_fail(ctx, CHURN_ECORRUPT,
                                 "learner.learner_model_param.base_score: expected a probability "
                                 "in (0, 1)");
    double nfeat = 0;
    if (path_get(doc, k_nfeat, 3) && (!parse_num(path_get(doc, k_nfeat, 3), &nfeat) || nfeat < 0 ||
                                      nfeat > CHURN_MODEL_MAX_FEATURES || nfeat != floor(nfeat)))
        return churn__model_fail(ctx, CHURN_ECORRUPT,
                                 "learner.learner_model_param.num_feature: expected an integer "
                                 "0..%u",
                                 CHURN_MODEL_MAX_FEATURES);
    const json_t *types = path_get(doc, k_types, 2);
    for (size_t i = 0; json_is_array(types) && i < json_array_size(types); i++) {
        const json_t *v = json_array_get(types, i);
        if (json_is_string(v) && strcmp(json_string_value(v), "c") == 0)
            return churn__model_fail(ctx, CHURN_EUNIMPL,
                                     "learner.feature_types[%zu]: categorical features are not "
                                     "supported",
                                     i);
    }
    const json_t *trees = path_get(doc, k_trees, 4);
    if (!json_is_array(trees) || json_array_size(trees) == 0 ||
        json_array_size(trees) > CHURN_MODEL_MAX_TREES)
        return churn__model_fail(ctx, CHURN_ECORRUPT, XGB ": expected an array of 1 to %u trees",
                                 CHURN_MODEL_MAX_TREES);

    enum churn_err err = CHURN_OK;
    struct churn_model *m = churn__model_new();
    if (!m)
        return churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
    m->kind = CHURN_MODEL_GBDT;
    m->base_margin = log(base / (1 - base));
    size_t max_feat = 0;
    m->n_features = hint ? hint : (size_t)nfeat;
    if ((err = load_trees(ctx, m, trees, &max_feat)))
        goto out_free;
    if (hint && max_feat > hint) {
        err = churn__model_fail(ctx, CHURN_ECORRUPT,
                                XGB ": a split uses feature %zu but only %zu features were given",
                                max_feat - 1, hint);
        goto out_free;
    }
    if (m->n_features == 0 || m->n_features > CHURN_MODEL_MAX_FEATURES) {
        err = churn__model_fail(ctx, CHURN_ECORRUPT, "learner: no usable feature count");
        goto out_free;
    }
    const json_t *names = path_get(doc, k_names, 2);
    size_t n_names = json_is_array(names) ? json_array_size(names) : 0;
    if (n_names && n_names != m->n_features) {
        err = churn__model_fail(ctx, CHURN_ECORRUPT,
                                "learner.feature_names: %zu names for %zu features", n_names,
                                m->n_features);
        goto out_free;
    }
    m->features = churn_calloc(m->n_features, sizeof(*m->features));
    if (!m->features) {
        err = churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
        goto out_free;
    }
    for (size_t i = 0; i < m->n_features; i++) {
        struct churn__feature *f = &m->features[i];
        f->pub.type = CHURN_FEATURE_NUMERIC;
        f->std = 1;
        char buf[32];
        const char *name = buf;
        if (n_names) {
            const json_t *v = json_array_get(names, i);
            if (!json_is_string(v) || !*json_string_value(v)) {
                err =
                    churn__model_fail(ctx, CHURN_ECORRUPT,
                                      "learner.feature_names[%zu]: expected a non-empty string", i);
                goto out_free;
            }
            name = json_string_value(v);
        } else {
            snprintf(buf, sizeof(buf), "f%zu", i);
        }
        if (!(f->name = churn_strdup(name))) {
            err = churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
            goto out_free;
        }
    }
    /* tree boundaries again, for the compiler */
    size_t *first = churn_malloc((m->n_trees + 1) * sizeof(*first));
    if (!first) {
        err = churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
        goto out_free;
    }
    first[0] = 0;
    for (size_t t = 0; t < m->n_trees; t++)
        first[t + 1] =
            first[t] + json_array_size(json_object_get(json_array_get(trees, t), "left_children"));
    err = churn__model_compile_trees(m, first, false, XGB, ctx);
    churn_free(first);
    if (err || (err = churn__model_finish(m, ctx)))
        goto out_free;
    if (!(m->version = churn_strdup("xgboost-import"))) {
        err = churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
        goto out_free;
    }
    m->info.version = m->version;
    *out = m;
    return CHURN_OK;
out_free:
    churn__model_destroy(m);
    return err;
}

enum churn_err
churn_model_import_xgboost(const char *text, size_t len, size_t n_features_hint,
                           struct churn_model **out, char *errbuf, size_t errlen)
{
    struct churn__mctx ctx = {errbuf, errlen};
    if (len > CHURN_MODEL_MAX_FILE)
        return churn__model_fail(&ctx, CHURN_ETOOBIG, "model larger than %u bytes",
                                 CHURN_MODEL_MAX_FILE);
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, 0, &jerr);
    if (!doc)
        return churn__model_fail(&ctx, CHURN_ECORRUPT, "JSON error at line %d column %d: %s",
                                 jerr.line, jerr.column, jerr.text);
    enum churn_err err =
        json_is_object(doc)
            ? churn__model_from_xgboost(doc, n_features_hint, out, &ctx)
            : churn__model_fail(&ctx, CHURN_ECORRUPT, "document: expected a JSON object");
    json_decref(doc);
    return err;
}
