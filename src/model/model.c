/*
 * model.c - the compiled model at serving time: reference counting, scoring (logistic
 * regression from precomputed per-feature scale and shift, trees from one flat node array),
 * blends (a weighted sum of member models' margins), calibration, per-feature contributions
 * and top-k reasons, binding a caller's feature list, and the compilation steps shared by the
 * loaders (tree checks and renumbering, derived data).
 */
#include "churn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "internal.h"

struct churn_model_binding {
    size_t n;
    size_t *src; /* model feature i comes from caller index src[i] */
};

enum churn_err
churn__model_fail(struct churn__mctx *ctx, enum churn_err err, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        churn_verrf(ctx->errbuf, ctx->errlen, fmt, ap);
        va_end(ap);
    }
    return err;
}

struct churn_model *
churn__model_new(void)
{
    struct churn_model *m = churn_calloc(1, sizeof(*m));
    if (m)
        atomic_init(&m->refs, 1);
    return m;
}

void
churn__model_destroy(struct churn_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; m->features && i < m->n_features; i++) {
        struct churn__feature *f = &m->features[i];
        churn_free(f->name);
        churn_free(f->label);
        for (size_t c = 0; f->cats && c < f->pub.n_categories; c++)
            churn_free(f->cats[c]);
        churn_free(f->cats);
        churn_free(f->sorted);
    }
    churn_free(m->features);
    for (size_t i = 0; m->members && i < m->n_members; i++)
        churn__model_destroy(m->members[i]);
    churn_free(m->members);
    churn_free(m->weights);
    churn_free(m->coef);
    churn_free(m->roots);
    churn_free(m->nodes);
    churn_free(m->values);
    churn_free(m->covers);
    churn_free(m->depths);
    churn_free(m->raw);
    churn_free(m->iso_x);
    churn_free(m->iso_y);
    churn_free(m->version);
    churn_free(m->data_hash);
    churn_free(m->params_json);
    churn_free(m->metrics_json);
    churn_free(m->checksum);
    churn_free(m);
}

struct churn_model *
churn_model_ref(struct churn_model *model)
{
    atomic_fetch_add_explicit(&model->refs, 1, memory_order_relaxed);
    return model;
}

void
churn_model_unref(struct churn_model *model)
{
    if (!model)
        return;
    if (atomic_fetch_sub_explicit(&model->refs, 1, memory_order_acq_rel) == 1)
        churn__model_destroy(model);
}

const char *
churn_model_kind_name(enum churn_model_kind kind)
{
    switch (kind) {
    case CHURN_MODEL_LOGISTIC_REGRESSION:
        return "logistic_regression";
    case CHURN_MODEL_GBDT:
        return "gbdt";
    case CHURN_MODEL_BLEND:
        return "blend";
    }
    return "unknown";
}

uint64_t
churn_model_fnv1a64(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    if (h == 0)
        h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

size_t
churn__feature_ncols(const struct churn__feature *f)
{
    size_t n = f->pub.type == CHURN_FEATURE_CATEGORICAL ? f->pub.n_categories + 1 : 1;
    return n + (f->indicator ? 1 : 0);
}

/* ---- compilation ---- */

struct bfs_item {
    int32_t node; /* raw index within the tree */
    uint32_t depth;
};

enum churn_err
churn__model_compile_trees(struct churn_model *m, const size_t *first, bool strict,
                           const char *what, struct churn__mctx *ctx)
{
    enum churn_err err = CHURN_OK;
    size_t total = first[m->n_trees], cap = total ? total : 1;
    struct churn__node *out = churn_calloc(cap, sizeof(*out));
    double *values = churn_calloc(cap, sizeof(*values));
    double *covers = churn_calloc(cap, sizeof(*covers));
    int32_t *map = churn_malloc(cap * sizeof(*map));
    struct bfs_item *queue = churn_malloc(cap * sizeof(*queue));
    int32_t *roots = churn_calloc(m->n_trees ? m->n_trees : 1, sizeof(*roots));
    uint32_t *depths = churn_calloc(m->n_trees ? m->n_trees : 1, sizeof(*depths));
    if (!out || !values || !covers || !map || !queue || !roots || !depths) {
        err = churn__model_fail(ctx, CHURN_ENOMEM, "out of memory compiling trees");
        goto out_free;
    }
    size_t next = 0;
    for (size_t t = 0; t < m->n_trees; t++) {
        const struct churn__raw_node *raw = &m->raw[first[t]];
        size_t n = first[t + 1] - first[t];
        if (n == 0) {
            err = churn__model_fail(ctx, CHURN_ECORRUPT, "%s[%zu]: tree has no nodes", what, t);
            goto out_free;
        }
        for (size_t i = 0; i < n; i++) {
            const struct churn__raw_node *nd = &raw[i];
            map[i] = -1;
            if (nd->left == -1 && nd->right == -1) {
                if (!isfinite(nd->value)) {
                    err = churn__model_fail(ctx, CHURN_ECORRUPT,
                                            "%s[%zu].value[%zu]: leaf value is not finite", what, t,
                                            i);
                    goto out_free;
                }
                continue;
            }
            if (nd->left < 0 || (size_t)nd->left >= n || nd->right < 0 || (size_t)nd->right >= n) {
                int32_t bad = (nd->left < 0 || (size_t)nd->left >= n) ? nd->left : nd->right;
                err = churn__model_fail(
                    ctx, CHURN_ECORRUPT,
                    "%s[%zu]: node %zu: child index %d out of range (tree has %zu nodes)", what, t,
                    i, (int)bad, n);
                goto out_free;
            }
            if (nd->feature < 0 || (size_t)nd->feature >= m->n_features) {
                err = churn__model_fail(
                    ctx, CHURN_ECORRUPT,
                    "%s[%zu]: node %zu: feature index %d out of range (model has %zu features)",
                    what, t, i, (int)nd->feature, m->n_features);
                goto out_free;
            }
            if (!isfinite(nd->threshold)) {
                err = churn__model_fail(ctx, CHURN_ECORRUPT,
                                        "%s[%zu]: node %zu: threshold is not finite", what, t, i);
                goto out_free;
            }
            if (!(nd->cover >= 0) || !isfinite(nd->cover)) {
                err = churn__model_fail(ctx, CHURN_ECORRUPT,
                                        "%s[%zu]: node %zu: cover must be a finite number >= 0",
                                        what, t, i);
                goto out_free;
            }
        }
        /* breadth-first: a node's two children get the next two slots; a node met twice is a
         * cycle or a shared child */
        size_t head = 0, tail = 0, placed = 1;
        queue[tail++] = (struct bfs_item){0, 0};
        map[0] = (int32_t)next;
        while (head < tail) {
            struct bfs_item it = queue[head++];
            const struct churn__raw_node *nd = &raw[it.node];
            size_t at = (size_t)map[it.node];
            out[at] = (struct churn__node){
                .feature = -1, .threshold = 0, .left = -1, .default_left = nd->default_left};
            values[at] = nd->value;
            covers[at] = nd->cover;
            if (it.depth > depths[t])
                depths[t] = it.depth;
            if (nd->left == -1)
                continue;
            if (it.depth + 1 > CHURN_MODEL_MAX_DEPTH) {
                err = churn__model_fail(ctx, CHURN_ECORRUPT, "%s[%zu]: deeper than %u levels", what,
                                        t, CHURN_MODEL_MAX_DEPTH);
                goto out_free;
            }
            int32_t kids[2] = {nd->left, nd->right};
            for (int k = 0; k < 2; k++) {
                if (map[kids[k]] != -1) {
                    err = churn__model_fail(
                        ctx, CHURN_ECORRUPT,
                        "%s[%zu]: node %d is reached twice (a cycle or a shared child)", what, t,
                        (int)kids[k]);
                    goto out_free;
                }
                map[kids[k]] = (int32_t)(next + placed++);
                queue[tail++] = (struct bfs_item){kids[k], it.depth + 1};
            }
            out[at].feature = nd->feature;
            out[at].threshold = nd->threshold;
            out[at].left = map[nd->left];
        }
        if (strict && placed != n) {
            size_t i = 0;
            while (map[i] != -1)
                i++;
            err = churn__model_fail(ctx, CHURN_ECORRUPT,
                                    "%s[%zu]: node %zu is not reachable from the root", what, t, i);
            goto out_free;
        }
        /* expected values bottom-up: children always come after their parent */
        for (size_t k = placed; k-- > 0;) {
            size_t at = next + k;
            if (out[at].feature < 0)
                continue;
            size_t l = (size_t)out[at].left, r = l + 1;
            double cw = covers[l] + covers[r];
            values[at] = cw > 0 ? (covers[l] * values[l] + covers[r] * values[r]) / cw
                                : 0.5 * (values[l] + values[r]);
        }
        for (size_t k = 0; k < placed; k++) {
            struct churn__node *o = &out[next + k];
            if (o->feature < 0)
                *o = (struct churn__node){.feature = (int32_t)m->n_features,
                                          .threshold = 1.0f,
                                          .left = (int32_t)(next + k),
                                          .default_left = 1};
        }
        roots[t] = (int32_t)next;
        next += placed;
    }
    churn_free(m->raw);
    m->raw = NULL;
    m->nodes = out;
    m->values = values;
    m->covers = covers;
    m->n_nodes = next;
    m->roots = roots;
    m->depths = depths;
    out = NULL;
    values = covers = NULL;
    roots = NULL;
    depths = NULL;
out_free:
    churn_free(out);
    churn_free(values);
    churn_free(covers);
    churn_free(map);
    churn_free(queue);
    churn_free(roots);
    churn_free(depths);
    return err;
}

static void
sort_indices(const struct churn__feature *f, uint32_t *idx, size_t n)
{
    /* categories are capped (CHURN_MODEL_MAX_CATEGORIES), so a shell sort is enough */
    for (size_t gap = n / 2; gap > 0; gap /= 2) {
        for (size_t i = gap; i < n; i++) {
            uint32_t v = idx[i];
            size_t j = i;
            while (j >= gap && strcmp(f->cats[idx[j - gap]], f->cats[v]) > 0) {
                idx[j] = idx[j - gap];
                j -= gap;
            }
            idx[j] = v;
        }
    }
}

enum churn_err
churn__model_finish(struct churn_model *m, struct churn__mctx *ctx)
{
    size_t col = 0;
    for (size_t i = 0; i < m->n_features; i++) {
        struct churn__feature *f = &m->features[i];
        f->pub.name = f->name;
        f->pub.label = f->label ? f->label : f->name;
        f->pub.categories = (const char *const *)f->cats;
        if (f->pub.type == CHURN_FEATURE_CATEGORICAL && f->pub.n_categories) {
            f->sorted = churn_malloc(f->pub.n_categories * sizeof(*f->sorted));
            if (!f->sorted)
                return churn__model_fail(ctx, CHURN_ENOMEM, "out of memory");
            for (size_t c = 0; c < f->pub.n_categories; c++)
                f->sorted[c] = (uint32_t)c;
            sort_indices(f, f->sorted, f->pub.n_categories);
            for (size_t c = 1; c < f->pub.n_categories; c++) {
                if (strcmp(f->cats[f->sorted[c - 1]], f->cats[f->sorted[c]]) == 0)
                    return churn__model_fail(ctx, CHURN_ECORRUPT,
                                             "features[%zu].categories: duplicate category '%s'", i,
                                             f->cats[f->sorted[c]]);
            }
        }
        f->col = col;
        col += churn__feature_ncols(f);
    }
    if (m->kind == CHURN_MODEL_LOGISTIC_REGRESSION) {
        if (col != m->n_cols)
            return churn__model_fail(ctx, CHURN_ECORRUPT,
                                     "logistic_regression.coefficients: %zu values, the features "
                                     "need %zu",
                                     m->n_cols, col);
        for (size_t i = 0; i < m->n_features; i++) {
            struct churn__feature *f = &m->features[i];
            const double *w = &m->coef[f->col];
            if (f->pub.type == CHURN_FEATURE_NUMERIC) {
                f->scale = w[0] / f->std;
                f->shift = -w[0] * f->mean / f->std;
                f->missing_contrib = w[0] * (f->impute - f->mean) / f->std;
                if (f->indicator)
                    f->missing_contrib += w[1];
            } else {
                size_t other = f->pub.n_categories;
                f->missing_contrib = f->indicator ? w[other + 1] : w[other];
            }
        }
    }
    m->info.kind = m->kind;
    m->info.version = m->version;
    m->info.data_hash = m->data_hash;
    m->info.algorithm_params = m->params_json;
    m->info.metrics = m->metrics_json;
    m->info.checksum = m->checksum;
    m->info.n_trees = m->n_trees;
    for (size_t i = 0; i < m->n_members; i++)
        m->info.n_trees += m->members[i]->n_trees;
    m->info.calibration = m->calibration;
    return CHURN_OK;
}

/* ---- accessors ---- */

const struct churn_model_info *
churn_model_info(const struct churn_model *model)
{
    return &model->info;
}

size_t
churn_model_n_features(const struct churn_model *model)
{
    return model->n_features;
}

const struct churn_model_feature *
churn_model_feature(const struct churn_model *model, size_t i)
{
    return i < model->n_features ? &model->features[i].pub : NULL;
}

enum churn_err
churn_model_feature_index(const struct churn_model *model, const char *name, size_t *out)
{
    for (size_t i = 0; i < model->n_features; i++) {
        if (strcmp(model->features[i].name, name) == 0) {
            *out = i;
            return CHURN_OK;
        }
    }
    return CHURN_ENOTFOUND;
}

double
churn_model_category_code(const struct churn_model *model, size_t feature, const char *value)
{
    if (feature >= model->n_features || !value)
        return NAN;
    const struct churn__feature *f = &model->features[feature];
    if (f->pub.type != CHURN_FEATURE_CATEGORICAL)
        return NAN;
    size_t lo = 0, hi = f->pub.n_categories;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->cats[f->sorted[mid]], value);
        if (c == 0)
            return (double)f->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (double)f->pub.n_categories;
}

/* ---- scoring ---- */

static inline double
lr_feature(const struct churn_model *m, const struct churn__feature *f, double x)
{
    if (!isfinite(x))
        return f->missing_contrib;
    if (f->pub.type == CHURN_FEATURE_NUMERIC)
        return f->scale * x + f->shift;
    const double *w = &m->coef[f->col];
    size_t n = f->pub.n_categories;
    if (x >= 0 && x < (double)n && x == floor(x))
        return w[(size_t)x];
    return w[n];
}

static inline int32_t
step(const struct churn__node *nodes, int32_t i, const float *xf)
{
    const struct churn__node *nd = &nodes[i];
    float v = xf[nd->feature];
    /* right when v >= threshold, or when v is NaN and missing values go right */
    int right = (v >= nd->threshold) | ((v != v) & !nd->default_left);
    return nd->left + right;
}

/* Sum of the leaf values: four trees walked in lockstep so that their independent load
 * chains overlap; each walk takes exactly its tree's depth in steps (leaves loop). */
static double
trees_sum(const struct churn_model *m, const double *x)
{
    float xf[CHURN_MODEL_MAX_FEATURES + 1];
    for (size_t i = 0; i < m->n_features; i++)
        xf[i] = (float)x[i];
    xf[m->n_features] = 0;
    const struct churn__node *nodes = m->nodes;
    const double *values = m->values;
    const int32_t *roots = m->roots;
    const uint32_t *depths = m->depths;
    double s = 0;
    size_t t = 0;
    for (; t + 4 <= m->n_trees; t += 4) {
        int32_t a = roots[t], b = roots[t + 1], c = roots[t + 2], d = roots[t + 3];
        uint32_t n = depths[t];
        for (int k = 1; k < 4; k++)
            n = depths[t + k] > n ? depths[t + k] : n;
        for (uint32_t k = 0; k < n; k++) {
            a = step(nodes, a, xf);
            b = step(nodes, b, xf);
            c = step(nodes, c, xf);
            d = step(nodes, d, xf);
        }
        s += values[a] + values[b] + values[c] + values[d];
    }
    for (; t < m->n_trees; t++) {
        int32_t a = roots[t];
        for (uint32_t k = 0; k < depths[t]; k++)
            a = step(nodes, a, xf);
        s += values[a];
    }
    return s;
}

static double
margin_of(const struct churn_model *m, const double *x)
{
    if (m->kind == CHURN_MODEL_LOGISTIC_REGRESSION) {
        double s = m->intercept;
        for (size_t i = 0; i < m->n_features; i++)
            s += lr_feature(m, &m->features[i], x[i]);
        return s;
    }
    if (m->kind == CHURN_MODEL_BLEND) {
        double s = m->blend_intercept;
        for (size_t i = 0; i < m->n_members; i++)
            s += m->weights[i] * margin_of(m->members[i], x);
        return s;
    }
    return m->base_margin + trees_sum(m, x);
}

static double
sigmoid(double z)
{
    if (z >= 0)
        return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

static double
calibrate(const struct churn_model *m, double margin, double raw)
{
    switch (m->calibration) {
    case CHURN_CALIBRATION_NONE:
        return raw;
    case CHURN_CALIBRATION_PLATT:
        return sigmoid(m->platt_a * margin + m->platt_b);
    case CHURN_CALIBRATION_ISOTONIC: {
        const double *x = m->iso_x, *y = m->iso_y;
        size_t n = m->n_iso;
        if (raw <= x[0])
            return y[0];
        if (raw >= x[n - 1])
            return y[n - 1];
        size_t lo = 0, hi = n - 1; /* x[lo] < raw < x[hi] */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (x[mid] <= raw)
                lo = mid;
            else
                hi = mid;
        }
        double t = (raw - x[lo]) / (x[hi] - x[lo]);
        return y[lo] + t * (y[hi] - y[lo]);
    }
    }
    return raw;
}

void
churn_model_predict(const struct churn_model *model, const double *x,
                    struct churn_model_prediction *out)
{
    double m = margin_of(model, x);
    double raw = sigmoid(m);
    out->margin = m;
    out->raw = raw;
    out->probability = calibrate(model, m, raw);
}

/* Add @w times the contributions of @m for row @x to @contrib and @w times its bias to *@bias;
 * returns @w times the margin. */
static double
add_contributions(const struct churn_model *m, const double *x, double w, double *contrib,
                  double *bias)
{
    if (m->kind == CHURN_MODEL_BLEND) {
        double s = w * m->blend_intercept;
        *bias += s;
        for (size_t i = 0; i < m->n_members; i++)
            s += add_contributions(m->members[i], x, w * m->weights[i], contrib, bias);
        return s;
    }
    if (m->kind == CHURN_MODEL_LOGISTIC_REGRESSION) {
        double s = w * m->intercept;
        *bias += s;
        for (size_t i = 0; i < m->n_features; i++) {
            double c = w * lr_feature(m, &m->features[i], x[i]);
            contrib[i] += c;
            s += c;
        }
        return s;
    }
    double b = m->base_margin, s = m->base_margin;
    for (size_t t = 0; t < m->n_trees; t++) {
        int32_t i = m->roots[t];
        b += m->values[i];
        const struct churn__node *nd = &m->nodes[i];
        while (nd->feature != (int32_t)m->n_features) {
            double v = x[nd->feature];
            int right = isnan(v) ? !nd->default_left : !((float)v < nd->threshold);
            int32_t child = nd->left + right;
            contrib[nd->feature] += w * (m->values[child] - m->values[i]);
            i = child;
            nd = &m->nodes[i];
        }
        s += m->values[i];
    }
    *bias += w * b;
    return w * s;
}

double
churn_model_contributions(const struct churn_model *model, const double *x, double *contrib,
                          double *bias)
{
    for (size_t i = 0; i < model->n_features; i++)
        contrib[i] = 0;
    *bias = 0;
    return add_contributions(model, x, 1.0, contrib, bias);
}

size_t
churn_model_top_reasons(const struct churn_model *model, const double *x, size_t k, double *scratch,
                        struct churn_model_reason *out)
{
    double bias;
    churn_model_contributions(model, x, scratch, &bias);
    size_t n = 0;
    for (size_t i = 0; i < model->n_features; i++) {
        double c = scratch[i];
        if (!(c > 0))
            continue;
        size_t pos = n;
        while (pos > 0 && out[pos - 1].contribution < c)
            pos--;
        if (pos >= k)
            continue;
        size_t last = n < k ? n : k - 1;
        for (size_t j = last; j > pos; j--)
            out[j] = out[j - 1];
        out[pos] = (struct churn_model_reason){.feature = i, .value = x[i], .contribution = c};
        if (n < k)
            n++;
    }
    return n;
}

/* ---- binding ---- */

enum churn_err
churn_model_bind(const struct churn_model *model, const char *const *names, size_t n,
                 struct churn_model_binding **out, char *errbuf, size_t errlen)
{
    struct churn__mctx ctx = {errbuf, errlen};
    struct churn_model_binding *b = churn_calloc(1, sizeof(*b));
    if (!b)
        return churn__model_fail(&ctx, CHURN_ENOMEM, "out of memory");
    b->n = model->n_features;
    b->src = churn_malloc((b->n ? b->n : 1) * sizeof(*b->src));
    if (!b->src) {
        churn_model_binding_free(b);
        return churn__model_fail(&ctx, CHURN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < model->n_features; i++) {
        size_t j = 0;
        while (j < n && !(names[j] && strcmp(names[j], model->features[i].name) == 0))
            j++;
        if (j == n) {
            churn_model_binding_free(b);
            return churn__model_fail(&ctx, CHURN_ENOTFOUND, "model feature '%s' is not provided",
                                     model->features[i].name);
        }
        b->src[i] = j;
    }
    *out = b;
    return CHURN_OK;
}

void
churn_model_binding_apply(const struct churn_model_binding *binding, const double *in, double *out)
{
    for (size_t i = 0; i < binding->n; i++)
        out[i] = in[binding->src[i]];
}

void
churn_model_binding_free(struct churn_model_binding *binding)
{
    if (!binding)
        return;
    churn_free(binding->src);
    churn_free(binding);
}
