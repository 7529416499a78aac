/*
 * load.c - reading and validating a native model file (docs/MODELS.md). The file is parsed
 * with jansson (duplicate keys refused), its checksum verified over the canonical text, and
 * every member checked for presence, type, range and finiteness before it is compiled; each
 * refusal names the member ("features[2].std: must be > 0") and the reason. A blend's members
 * are whole model documents read by the same code, their messages prefixed with their path
 * ("blend.members[1].model.gbdt.trees: missing").
 */
#include "churn/model.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "churn/alloc.h"
#include "churn/file.h"
#include "internal.h"

#define NAME_MAX_BYTES   256
#define BLEND_MAX_WEIGHT 1000.0 /* a blend member's weight on the margin */

static enum churn_err
get_member(struct churn__mctx *ctx, const json_t *obj, const char *path, const char *key,
           bool required, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v && required)
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s%s%s: missing", path, *path ? "." : "",
                                 key);
    *out = v;
    return CHURN_OK;
}

static enum churn_err
get_number(struct churn__mctx *ctx, const json_t *obj, const char *path, const char *key,
           bool required, double *out)
{
    json_t *v = NULL;
    enum churn_err err = get_member(ctx, obj, path, key, required, &v);
    if (err || !v)
        return err;
    if (!json_is_number(v))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s%s%s: expected a number", path,
                                 *path ? "." : "", key);
    double d = json_number_value(v);
    if (!isfinite(d))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s%s%s: not a finite number", path,
                                 *path ? "." : "", key);
    *out = d;
    return CHURN_OK;
}

static enum churn_err
get_string(struct churn__mctx *ctx, const json_t *obj, const char *path, const char *key,
           bool required, const char **out)
{
    json_t *v = NULL;
    enum churn_err err = get_member(ctx, obj, path, key, required, &v);
    if (err || !v)
        return err;
    if (!json_is_string(v))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s%s%s: expected a string", path,
                                 *path ? "." : "", key);
    *out = json_string_value(v);
    return CHURN_OK;
}

static enum churn_err
get_array(struct churn__mctx *ctx, const json_t *obj, const char *path, const char *key, size_t min,
          size_t max, json_t **out)
{
    json_t *v = NULL;
    enum churn_err err = get_member(ctx, obj, path, key, true, &v);
    if (err)
        return err;
    if (!json_is_array(v))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s%s%s: expected an array", path,
                                 *path ? "." : "", key);
    size_t n = json_array_size(v);
    if (n < min || n > max)
        return churn__model_fail(ctx, CHURN_ECORRUPT,
                                 "%s%s%s: %zu elements, expected between %zu and %zu", path,
                                 *path ? "." : "", key, n, min, max);
    *out = v;
    return CHURN_OK;
}

static enum churn_err
array_number(struct churn__mctx *ctx, const json_t *arr, size_t i, const char *path,
             const char *key, double *out)
{
    json_t *v = json_array_get(arr, i);
    if (!json_is_number(v))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s.%s[%zu]: expected a number", path, key,
                                 i);
    double d = json_number_value(v);
    if (!isfinite(d))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s.%s[%zu]: not a finite number", path, key,
                                 i);
    *out = d;
    return CHURN_OK;
}

static enum churn_err
array_int(struct churn__mctx *ctx, const json_t *arr, size_t i, const char *path, const char *key,
          long long min, long long max, long long *out)
{
    json_t *v = json_array_get(arr, i);
    if (json_is_true(v) || json_is_false(v)) {
        *out = json_is_true(v);
    } else if (json_is_integer(v)) {
        *out = json_integer_value(v);
    } else {
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s.%s[%zu]: expected an integer", path, key,
                                 i);
    }
    if (*out < min || *out > max)
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s.%s[%zu]: %lld out of range [%lld, %lld]",
                                 path, key, i, *out, min, max);
    return CHURN_OK;
}

enum churn_err
churn__model_checksum(const json_t *doc, char *out, size_t outlen)
{
    json_t *copy = json_copy((json_t *)doc);
    if (!copy)
        return CHURN_ENOMEM;
    json_object_del(copy, "checksum");
    char *text = json_dumps(copy, CHURN__JSON_CANONICAL);
    json_decref(copy);
    if (!text)
        return CHURN_ENOMEM;
    uint64_t h = churn_model_fnv1a64(0, text, strlen(text));
    free(text); /* allocated by jansson */
    snprintf(out, outlen, "fnv1a64:%016" PRIx64, h);
    return CHURN_OK;
}

/* "monotone": optional, -1, 0 or 1 (0 when absent); numeric features only. */
static enum churn_err
load_monotone(struct churn__mctx *ctx, struct churn__feature *f, const json_t *fj, const char *path)
{
    json_t *v = json_object_get(fj, "monotone");
    if (!v)
        return CHURN_OK;
    if (!json_is_integer(v) || json_integer_value(v) < -1 || json_integer_value(v) > 1)
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s.monotone: expected -1, 0 or 1", path);
    f->pub.monotone = (int)json_integer_value(v);
    if (f->pub.monotone && f->pub.type != CHURN_FEATURE_NUMERIC)
        return churn__model_fail(ctx, CHURN_ECORRUPT,
                                 "%s.monotone: a categorical feature cannot have a direction",
                                 path);
    return CHURN_OK;
}

static enum churn_err
load_feature(struct churn__mctx *ctx, struct churn_model *m, size_t i, const json_t *fj)
{
    char path[48];
    snprintf(path, sizeof(path), "features[%zu]", i);
    struct churn__feature *f = &m->features[i];
    if (!json_is_object(fj))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s: expected an object", path);
    const char *name = NULL, *label = NULL, *type = NULL;
    enum churn_err err = get_string(ctx, fj, path, "name", true, &name);
    if (!err)
        err = get_string(ctx, fj, path, "label", false, &label);
    if (!err)
        err = get_string(ctx, fj, path, "type", true, &type);
    if (err)
        return err;
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > NAME_MAX_BYTES)
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s.name: must be 1 to %d bytes", path,
                                 NAME_MAX_BYTES);
    for (size_t j = 0; j < i; j++) {
        if (strcmp(m->features[j].name, name) == 0)
            return churn__model_fail(ctx, CHURN_ECORRUPT,
                                     "%s.name: duplicate feature name '%s' (also features[%zu])",
                                     path, name, j);
    }
    f->name = churn_strdup(name);
    f->label = label ? churn_strdup(label) : NULL;
    if (!f->name || (label && !f->label))
        return churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
    f->std = 1;
    if (strcmp(type, "numeric") == 0) {
        f->pub.type = CHURN_FEATURE_NUMERIC;
        bool need = m->kind == CHURN_MODEL_LOGISTIC_REGRESSION;
        err = get_number(ctx, fj, path, "mean", need, &f->mean);
        if (!err)
            err = get_number(ctx, fj, path, "std", need, &f->std);
        if (err)
            return err;
        if (!(f->std > 0))
            return churn__model_fail(ctx, CHURN_ECORRUPT, "%s.std: must be > 0", path);
        f->impute = f->mean;
    } else if (strcmp(type, "categorical") == 0) {
        f->pub.type = CHURN_FEATURE_CATEGORICAL;
        json_t *cats;
        err = get_array(ctx, fj, path, "categories", 0, CHURN_MODEL_MAX_CATEGORIES, &cats);
        if (err)
            return err;
        size_t n = json_array_size(cats);
        f->cats = churn_calloc(n ? n : 1, sizeof(*f->cats));
        if (!f->cats)
            return churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
        for (size_t c = 0; c < n; c++) {
            json_t *cv = json_array_get(cats, c);
            if (!json_is_string(cv))
                return churn__model_fail(ctx, CHURN_ECORRUPT,
                                         "%s.categories[%zu]: expected a string", path, c);
            if (strlen(json_string_value(cv)) > NAME_MAX_BYTES)
                return churn__model_fail(ctx, CHURN_ECORRUPT,
                                         "%s.categories[%zu]: longer than %d bytes", path, c,
                                         NAME_MAX_BYTES);
            f->cats[c] = churn_strdup(json_string_value(cv));
            if (!f->cats[c])
                return churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
            f->pub.n_categories = c + 1;
        }
    } else {
        return churn__model_fail(ctx, CHURN_ECORRUPT,
                                 "%s.type: unknown type '%s' (numeric or categorical)", path, type);
    }
    if ((err = load_monotone(ctx, f, fj, path)))
        return err;
    json_t *miss;
    err = get_member(ctx, fj, path, "missing", false, &miss);
    if (err || !miss)
        return err;
    char mpath[64];
    snprintf(mpath, sizeof(mpath), "%s.missing", path);
    if (!json_is_object(miss))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s: expected an object", mpath);
    json_t *ind = json_object_get(miss, "indicator");
    if (ind && !json_is_boolean(ind))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s.indicator: expected true or false",
                                 mpath);
    f->indicator = ind && json_is_true(ind);
    if (f->pub.type == CHURN_FEATURE_NUMERIC)
        return get_number(ctx, miss, mpath, "impute", false, &f->impute);
    return CHURN_OK;
}

static enum churn_err
load_lr(struct churn__mctx *ctx, struct churn_model *m, const json_t *doc)
{
    json_t *lr = NULL, *coef = NULL;
    enum churn_err err = get_member(ctx, doc, "", "logistic_regression", true, &lr);
    if (err)
        return err;
    if (!json_is_object(lr))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "logistic_regression: expected an object");
    err = get_number(ctx, lr, "logistic_regression", "intercept", true, &m->intercept);
    if (!err)
        err = get_array(ctx, lr, "logistic_regression", "coefficients", 1,
                        (size_t)CHURN_MODEL_MAX_FEATURES * (CHURN_MODEL_MAX_CATEGORIES + 2), &coef);
    if (err)
        return err;
    m->n_cols = json_array_size(coef);
    m->coef = churn_malloc(m->n_cols * sizeof(*m->coef));
    if (!m->coef)
        return churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->n_cols; i++) {
        err = array_number(ctx, coef, i, "logistic_regression", "coefficients", &m->coef[i]);
        if (err)
            return err;
    }
    return CHURN_OK;
}

static const char *const tree_keys[] = {"feature", "threshold",    "left", "right",
                                        "value",   "default_left", "cover"};

static enum churn_err
load_gbdt(struct churn__mctx *ctx, struct churn_model *m, const json_t *doc)
{
    json_t *g = NULL, *trees = NULL;
    enum churn_err err = get_member(ctx, doc, "", "gbdt", true, &g);
    if (err)
        return err;
    if (!json_is_object(g))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "gbdt: expected an object");
    err = get_number(ctx, g, "gbdt", "base_margin", true, &m->base_margin);
    if (!err)
        err = get_array(ctx, g, "gbdt", "trees", 1, CHURN_MODEL_MAX_TREES, &trees);
    if (err)
        return err;
    m->n_trees = json_array_size(trees);
    size_t *first = churn_malloc((m->n_trees + 1) * sizeof(*first));
    if (!first)
        return churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
    /* pass 1: shapes and total size */
    size_t total = 0;
    for (size_t t = 0; t < m->n_trees; t++) {
        char path[48];
        snprintf(path, sizeof(path), "gbdt.trees[%zu]", t);
        json_t *tj = json_array_get(trees, t);
        if (!json_is_object(tj)) {
            err = churn__model_fail(ctx, CHURN_ECORRUPT, "%s: expected an object", path);
            goto out_free;
        }
        size_t n = 0;
        for (size_t k = 0; k < sizeof(tree_keys) / sizeof(tree_keys[0]); k++) {
            json_t *a;
            err = get_array(ctx, tj, path, tree_keys[k], 1, CHURN_MODEL_MAX_NODES, &a);
            if (err)
                goto out_free;
            if (k == 0) {
                n = json_array_size(a);
            } else if (json_array_size(a) != n) {
                err = churn__model_fail(ctx, CHURN_ECORRUPT,
                                        "%s.%s: %zu elements, but feature has %zu", path,
                                        tree_keys[k], json_array_size(a), n);
                goto out_free;
            }
        }
        first[t] = total;
        total += n;
        if (total > CHURN_MODEL_MAX_NODES) {
            err = churn__model_fail(ctx, CHURN_ETOOBIG, "gbdt.trees: more than %u nodes in all",
                                    CHURN_MODEL_MAX_NODES);
            goto out_free;
        }
    }
    first[m->n_trees] = total;
    m->raw = churn_calloc(total, sizeof(*m->raw));
    if (!m->raw) {
        err = churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
        goto out_free;
    }
    /* pass 2: values */
    for (size_t t = 0; t < m->n_trees; t++) {
        char path[48];
        snprintf(path, sizeof(path), "gbdt.trees[%zu]", t);
        json_t *tj = json_array_get(trees, t);
        json_t *a[7];
        for (size_t k = 0; k < 7; k++)
            a[k] = json_object_get(tj, tree_keys[k]);
        size_t n = first[t + 1] - first[t];
        for (size_t i = 0; i < n; i++) {
            struct churn__raw_node *nd = &m->raw[first[t] + i];
            long long feat, left, right, dl;
            double thr, val, cover;
            if ((err = array_int(ctx, a[0], i, path, "feature", -1, INT32_MAX, &feat)) ||
                (err = array_number(ctx, a[1], i, path, "threshold", &thr)) ||
                (err = array_int(ctx, a[2], i, path, "left", -1, INT32_MAX, &left)) ||
                (err = array_int(ctx, a[3], i, path, "right", -1, INT32_MAX, &right)) ||
                (err = array_number(ctx, a[4], i, path, "value", &val)) ||
                (err = array_int(ctx, a[5], i, path, "default_left", 0, 1, &dl)) ||
                (err = array_number(ctx, a[6], i, path, "cover", &cover)))
                goto out_free;
            if (fabs(thr) > FLT_MAX) {
                err = churn__model_fail(ctx, CHURN_ECORRUPT,
                                        "%s.threshold[%zu]: outside the float range", path, i);
                goto out_free;
            }
            if ((left == -1) != (right == -1) || ((left == -1) != (feat == -1))) {
                err = churn__model_fail(ctx, CHURN_ECORRUPT,
                                        "%s: node %zu: a leaf has feature, left and right all -1, "
                                        "an inner node none",
                                        path, i);
                goto out_free;
            }
            *nd = (struct churn__raw_node){.feature = (int32_t)feat,
                                           .threshold = (float)thr,
                                           .left = (int32_t)left,
                                           .right = (int32_t)right,
                                           .default_left = (int32_t)dl,
                                           .value = val,
                                           .cover = cover};
        }
    }
    err = churn__model_compile_trees(m, first, true, "gbdt.trees", ctx);
out_free:
    churn_free(first);
    return err;
}

static enum churn_err
load_calibration(struct churn__mctx *ctx, struct churn_model *m, const json_t *doc)
{
    json_t *c;
    const char *method;
    enum churn_err err = get_member(ctx, doc, "", "calibration", false, &c);
    if (err || !c)
        return err;
    if (!json_is_object(c))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "calibration: expected an object");
    err = get_string(ctx, c, "calibration", "method", true, &method);
    if (err)
        return err;
    if (strcmp(method, "none") == 0)
        return CHURN_OK;
    if (strcmp(method, "platt") == 0) {
        m->calibration = CHURN_CALIBRATION_PLATT;
        err = get_number(ctx, c, "calibration", "a", true, &m->platt_a);
        if (!err)
            err = get_number(ctx, c, "calibration", "b", true, &m->platt_b);
        return err;
    }
    if (strcmp(method, "isotonic") != 0)
        return churn__model_fail(ctx, CHURN_ECORRUPT,
                                 "calibration.method: unknown method '%s' (none, platt, isotonic)",
                                 method);
    m->calibration = CHURN_CALIBRATION_ISOTONIC;
    json_t *xs, *ys;
    err = get_array(ctx, c, "calibration", "x", 2, 100000, &xs);
    if (!err)
        err = get_array(ctx, c, "calibration", "y", 2, 100000, &ys);
    if (err)
        return err;
    size_t n = json_array_size(xs);
    if (json_array_size(ys) != n)
        return churn__model_fail(ctx, CHURN_ECORRUPT, "calibration.y: %zu elements, but x has %zu",
                                 json_array_size(ys), n);
    m->iso_x = churn_malloc(n * sizeof(double));
    m->iso_y = churn_malloc(n * sizeof(double));
    if (!m->iso_x || !m->iso_y)
        return churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
    m->n_iso = n;
    for (size_t i = 0; i < n; i++) {
        if ((err = array_number(ctx, xs, i, "calibration", "x", &m->iso_x[i])) ||
            (err = array_number(ctx, ys, i, "calibration", "y", &m->iso_y[i])))
            return err;
        if (m->iso_x[i] < 0 || m->iso_x[i] > 1 || m->iso_y[i] < 0 || m->iso_y[i] > 1)
            return churn__model_fail(ctx, CHURN_ECORRUPT, "calibration: point %zu outside [0, 1]",
                                     i);
        if (i && !(m->iso_x[i] > m->iso_x[i - 1]))
            return churn__model_fail(ctx, CHURN_ECORRUPT,
                                     "calibration.x[%zu]: not strictly increasing", i);
        if (i && m->iso_y[i] < m->iso_y[i - 1])
            return churn__model_fail(ctx, CHURN_ECORRUPT, "calibration.y[%zu]: decreasing", i);
    }
    return CHURN_OK;
}

/* A logistic regression keeps the declared sign of each constrained coefficient. */
static enum churn_err
check_monotone_lr(struct churn__mctx *ctx, const struct churn_model *m)
{
    for (size_t i = 0; i < m->n_features; i++) {
        const struct churn__feature *f = &m->features[i];
        if (f->pub.monotone * m->coef[f->col] < 0)
            return churn__model_fail(ctx, CHURN_ECORRUPT,
                                     "features[%zu].monotone: %+d, but its coefficient is %.17g", i,
                                     f->pub.monotone, m->coef[f->col]);
    }
    return CHURN_OK;
}

/* Tree @t (compiled nodes [@first, @end)): at every split on a constrained feature, no leaf
 * below the lower side may exceed a leaf below the upper side (the other way round for -1).
 * The trainer's bounds guarantee it, and it makes the tree monotone. @lo, @hi: scratch, the
 * smallest and largest leaf value below each node, filled bottom-up (children come after
 * their parent). */
static enum churn_err
check_monotone_tree(struct churn__mctx *ctx, const struct churn_model *m, size_t t, size_t first,
                    size_t end, double *lo, double *hi)
{
    for (size_t i = end; i-- > first;) {
        const struct churn__node *nd = &m->nodes[i];
        if (nd->feature == (int32_t)m->n_features) {
            lo[i] = hi[i] = m->values[i];
            continue;
        }
        size_t l = (size_t)nd->left, r = l + 1;
        lo[i] = fmin(lo[l], lo[r]);
        hi[i] = fmax(hi[l], hi[r]);
        int dir = m->features[nd->feature].pub.monotone;
        if ((dir > 0 && hi[l] > lo[r]) || (dir < 0 && lo[l] < hi[r]))
            return churn__model_fail(
                ctx, CHURN_ECORRUPT,
                "gbdt.trees[%zu]: a split on '%s' (monotone %+d) has leaf values "
                "against the direction (%.17g below, %.17g above)",
                t, m->features[nd->feature].name, dir, dir > 0 ? hi[l] : lo[l],
                dir > 0 ? lo[r] : hi[r]);
    }
    return CHURN_OK;
}

/* Verify the declared directions: exact for logistic regression; for trees, the sufficient
 * per-split condition above (O(nodes)). */
static enum churn_err
check_monotone(struct churn__mctx *ctx, const struct churn_model *m)
{
    bool any = false;
    for (size_t i = 0; i < m->n_features; i++)
        any |= m->features[i].pub.monotone != 0;
    if (!any)
        return CHURN_OK;
    if (m->kind == CHURN_MODEL_LOGISTIC_REGRESSION)
        return check_monotone_lr(ctx, m);
    double *lo = churn_malloc((m->n_nodes ? m->n_nodes : 1) * sizeof(double));
    double *hi = churn_malloc((m->n_nodes ? m->n_nodes : 1) * sizeof(double));
    enum churn_err err = CHURN_OK;
    if (!lo || !hi)
        err = churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
    for (size_t t = 0; !err && t < m->n_trees; t++) {
        size_t end = t + 1 < m->n_trees ? (size_t)m->roots[t + 1] : m->n_nodes;
        err = check_monotone_tree(ctx, m, t, (size_t)m->roots[t], end, lo, hi);
    }
    churn_free(lo);
    churn_free(hi);
    return err;
}

static enum churn_err
dup_json_text(struct churn__mctx *ctx, const json_t *v, const char *path, char **out)
{
    if (!json_is_object(v))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s: expected an object", path);
    char *t = json_dumps(v, CHURN__JSON_CANONICAL);
    if (!t)
        return churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
    *out = churn_strdup(t);
    free(t); /* allocated by jansson */
    return *out ? CHURN_OK : churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
}

static enum churn_err
load_training(struct churn__mctx *ctx, struct churn_model *m, const json_t *doc)
{
    json_t *tr, *v;
    enum churn_err err = get_member(ctx, doc, "", "training", false, &tr);
    if (err || !tr)
        return err;
    if (!json_is_object(tr))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "training: expected an object");
    const char *hash = NULL;
    err = get_string(ctx, tr, "training", "data_hash", false, &hash);
    if (err)
        return err;
    if (hash && !(m->data_hash = churn_strdup(hash)))
        return churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
    if ((v = json_object_get(tr, "rows"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return churn__model_fail(ctx, CHURN_ECORRUPT,
                                     "training.rows: expected an integer >= 0");
        m->info.training_rows = (uint64_t)json_integer_value(v);
    }
    if ((v = json_object_get(tr, "trained_at_ms"))) {
        if (!json_is_integer(v))
            return churn__model_fail(ctx, CHURN_ECORRUPT,
                                     "training.trained_at_ms: expected an integer");
        m->info.trained_at_ms = json_integer_value(v);
    }
    if ((v = json_object_get(tr, "horizon_days"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 365)
            return churn__model_fail(ctx, CHURN_ECORRUPT,
                                     "training.horizon_days: expected an integer in 1..365");
        m->info.horizon_days = (int)json_integer_value(v);
    }
    if ((v = json_object_get(tr, "params")) &&
        (err = dup_json_text(ctx, v, "training.params", &m->params_json)))
        return err;
    if ((v = json_object_get(tr, "metrics"))) {
        if ((err = dup_json_text(ctx, v, "training.metrics", &m->metrics_json)))
            return err;
        const char *k;
        json_t *mv;
        json_object_foreach(v, k, mv)
        {
            if (!json_is_number(mv) && !json_is_null(mv))
                return churn__model_fail(ctx, CHURN_ECORRUPT,
                                         "training.metrics.%s: expected a number", k);
        }
    }
    return CHURN_OK;
}

static enum churn_err load_body(const json_t *doc, const char *sum, bool member,
                                struct churn_model **out, struct churn__mctx *ctx);

/* Member @i of a blend: its weight, and a model of its own whose features must be the blend's
 * (names, types and categories in the same order, so one input row serves every member). */
static enum churn_err
load_member(struct churn__mctx *ctx, struct churn_model *m, size_t i, const json_t *mj)
{
    char path[48];
    snprintf(path, sizeof(path), "blend.members[%zu]", i);
    if (!json_is_object(mj))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s: expected an object", path);
    double w = 0;
    json_t *md = NULL;
    enum churn_err err = get_number(ctx, mj, path, "weight", true, &w);
    if (!err)
        err = get_member(ctx, mj, path, "model", true, &md);
    if (err)
        return err;
    if (!(w >= 0 && w <= BLEND_MAX_WEIGHT))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s.weight: must be in [0, %g] (is %g)", path,
                                 BLEND_MAX_WEIGHT, w);
    if (!json_is_object(md))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "%s.model: expected an object", path);
    char msg[CHURN_MODEL_ERRMSG];
    struct churn__mctx sub = {msg, sizeof(msg)};
    struct churn_model *mm = NULL;
    if ((err = load_body(md, NULL, true, &mm, &sub)))
        return err == CHURN_ENOMEM ? churn__model_fail(ctx, err, "out of memory")
                                   : churn__model_fail(ctx, err, "%s.model.%s", path, msg);
    m->members[i] = mm;
    m->weights[i] = w;
    m->n_members = i + 1;
    if (mm->n_features != m->n_features)
        return churn__model_fail(ctx, CHURN_ECORRUPT,
                                 "%s.model.features: %zu features, the blend has %zu", path,
                                 mm->n_features, m->n_features);
    for (size_t f = 0; f < m->n_features; f++) {
        const struct churn__feature *a = &m->features[f], *b = &mm->features[f];
        bool same = strcmp(a->name, b->name) == 0 && a->pub.type == b->pub.type &&
                    a->pub.n_categories == b->pub.n_categories;
        for (size_t c = 0; same && c < a->pub.n_categories; c++)
            same = strcmp(a->cats[c], b->cats[c]) == 0;
        if (!same)
            return churn__model_fail(ctx, CHURN_ECORRUPT,
                                     "%s.model.features[%zu]: '%s' differs from the blend's "
                                     "features[%zu] '%s' (name, type or categories)",
                                     path, f, b->name, f, a->name);
    }
    return CHURN_OK;
}

static enum churn_err
load_blend(struct churn__mctx *ctx, struct churn_model *m, const json_t *doc)
{
    json_t *b = NULL, *members = NULL;
    enum churn_err err = get_member(ctx, doc, "", "blend", true, &b);
    if (err)
        return err;
    if (!json_is_object(b))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "blend: expected an object");
    if ((err = get_number(ctx, b, "blend", "intercept", false, &m->blend_intercept)) ||
        (err = get_array(ctx, b, "blend", "members", 2, CHURN_MODEL_MAX_MEMBERS, &members)))
        return err;
    size_t n = json_array_size(members);
    m->members = churn_calloc(n, sizeof(*m->members));
    m->weights = churn_calloc(n, sizeof(*m->weights));
    if (!m->members || !m->weights)
        return churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        if ((err = load_member(ctx, m, i, json_array_get(members, i))))
            return err;
        total += m->weights[i];
    }
    if (!(total > 0))
        return churn__model_fail(ctx, CHURN_ECORRUPT,
                                 "blend.members: every weight is 0 (at least one must be > 0)");
    return CHURN_OK;
}

static enum churn_err
load_kind(struct churn__mctx *ctx, const char *kind, bool member, enum churn_model_kind *out)
{
    if (strcmp(kind, "logistic_regression") == 0)
        *out = CHURN_MODEL_LOGISTIC_REGRESSION;
    else if (strcmp(kind, "gbdt") == 0)
        *out = CHURN_MODEL_GBDT;
    else if (strcmp(kind, "blend") == 0 && !member)
        *out = CHURN_MODEL_BLEND;
    else if (member)
        return churn__model_fail(ctx, CHURN_ECORRUPT,
                                 "kind: '%.64s' cannot be a blend member (logistic_regression or "
                                 "gbdt)",
                                 kind);
    else
        return churn__model_fail(ctx, CHURN_ECORRUPT,
                                 "kind: unknown kind '%.64s' (logistic_regression, gbdt or blend)",
                                 kind);
    return CHURN_OK;
}

static enum churn_err
load_params(struct churn__mctx *ctx, struct churn_model *m, const json_t *doc)
{
    switch (m->kind) {
    case CHURN_MODEL_LOGISTIC_REGRESSION:
        return load_lr(ctx, m, doc);
    case CHURN_MODEL_GBDT:
        return load_gbdt(ctx, m, doc);
    case CHURN_MODEL_BLEND:
        return load_blend(ctx, m, doc);
    }
    return churn__model_fail(ctx, CHURN_EINTERNAL, "kind: not handled");
}

/* Everything after the header: kind, version, features, the kind's parameters, calibration
 * and training metadata. A blend @member is logistic regression or trees, uncalibrated (the
 * blend carries the calibration). @sum: the verified checksum, or NULL. */
static enum churn_err
load_body(const json_t *doc, const char *sum, bool member, struct churn_model **out,
          struct churn__mctx *ctx)
{
    const char *kind = NULL, *version = NULL;
    enum churn_err err;
    if ((err = get_string(ctx, doc, "", "kind", true, &kind)) ||
        (err = get_string(ctx, doc, "", "version", false, &version)))
        return err;
    if (member && json_object_get(doc, "calibration"))
        return churn__model_fail(ctx, CHURN_ECORRUPT,
                                 "calibration: a blend member is not calibrated (the blend is)");
    struct churn_model *m = churn__model_new();
    if (!m)
        return churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
    if ((err = load_kind(ctx, kind, member, &m->kind)))
        goto out_free;
    if (version && !(m->version = churn_strdup(version))) {
        err = churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
        goto out_free;
    }
    if (sum && !(m->checksum = churn_strdup(sum))) {
        err = churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
        goto out_free;
    }
    json_t *feats;
    if ((err = get_array(ctx, doc, "", "features", 1, CHURN_MODEL_MAX_FEATURES, &feats)))
        goto out_free;
    m->n_features = json_array_size(feats);
    m->features = churn_calloc(m->n_features, sizeof(*m->features));
    if (!m->features) {
        err = churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
        goto out_free;
    }
    for (size_t i = 0; i < m->n_features; i++) {
        if ((err = load_feature(ctx, m, i, json_array_get(feats, i))))
            goto out_free;
    }
    if ((err = load_params(ctx, m, doc)) || (err = load_calibration(ctx, m, doc)) ||
        (err = load_training(ctx, m, doc)) || (err = churn__model_finish(m, ctx)) ||
        (err = check_monotone(ctx, m)))
        goto out_free;
    *out = m;
    return CHURN_OK;
out_free:
    churn__model_destroy(m);
    return err;
}

static enum churn_err
load_native(const json_t *doc, unsigned flags, struct churn_model **out, struct churn__mctx *ctx)
{
    const char *sum = NULL;
    enum churn_err err = get_string(ctx, doc, "", "checksum", false, &sum);
    if (err)
        return err;
    if (!sum && !(flags & CHURN_MODEL_LOAD_NO_CHECKSUM))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "checksum: missing");
    if (sum) {
        char want[40];
        if ((err = churn__model_checksum(doc, want, sizeof(want))))
            return churn__model_fail(ctx, err, "out of memory");
        if (strcmp(want, sum) != 0)
            return churn__model_fail(ctx, CHURN_ECORRUPT,
                                     "checksum: mismatch (file says %.40s, content hashes to %s)",
                                     sum, want);
    }
    json_t *fv = NULL;
    if ((err = get_member(ctx, doc, "", "format_version", true, &fv)))
        return err;
    if (!json_is_integer(fv))
        return churn__model_fail(ctx, CHURN_ECORRUPT, "format_version: expected an integer");
    if (json_integer_value(fv) != CHURN_MODEL_FORMAT_VERSION)
        return churn__model_fail(ctx, CHURN_ECORRUPT,
                                 "format_version: unsupported version %lld (this build reads %d)",
                                 (long long)json_integer_value(fv), CHURN_MODEL_FORMAT_VERSION);
    return load_body(doc, sum, false, out, ctx);
}

enum churn_err
churn_model_load_json(const char *text, size_t len, unsigned flags, struct churn_model **out,
                      char *errbuf, size_t errlen)
{
    struct churn__mctx ctx = {errbuf, errlen};
    if (errbuf && errlen)
        errbuf[0] = '\0';
    if (len > CHURN_MODEL_MAX_FILE)
        return churn__model_fail(&ctx, CHURN_ETOOBIG, "model larger than %u bytes",
                                 CHURN_MODEL_MAX_FILE);
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return churn__model_fail(&ctx, CHURN_ECORRUPT, "JSON error at line %d column %d: %s",
                                 jerr.line, jerr.column, jerr.text);
    enum churn_err err;
    if (!json_is_object(doc))
        err = churn__model_fail(&ctx, CHURN_ECORRUPT, "document: expected a JSON object");
    else if (json_object_get(doc, "learner"))
        err = churn__model_from_xgboost(doc, 0, out, &ctx);
    else
        err = load_native(doc, flags, out, &ctx);
    json_decref(doc);
    return err;
}

/* Whole file, never blocking on a FIFO or reading a device (churn/file.h). */
static enum churn_err
read_file(const char *path, char **out, size_t *len, struct churn__mctx *ctx)
{
    return churn_file_read_regular(path, CHURN_MODEL_MAX_FILE, false, out, len, ctx->errbuf,
                                   ctx->errlen);
}

enum churn_err
churn_model_load_file(const char *path, struct churn_model **out, char *errbuf, size_t errlen)
{
    struct churn__mctx ctx = {errbuf, errlen};
    char *text = NULL;
    size_t len = 0;
    enum churn_err err = read_file(path, &text, &len, &ctx);
    if (err)
        return err;
    err = churn_model_load_json(text, len, 0, out, errbuf, errlen);
    churn_free(text);
    return err;
}
