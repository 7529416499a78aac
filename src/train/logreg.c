/*
 * logreg.c - L2-regularised logistic regression. The fit computes the preprocessing from its
 * own rows (means and standard deviations, imputation by the mean, missing-value indicators,
 * one-hot columns with an "other" column), builds the sparse design matrix once and minimises
 * the weighted log loss plus 0.5 * l2 * |w|^2 (intercept free) with L-BFGS and a backtracking
 * Armijo line search. The result is written as the model's preprocessing and coefficients, so
 * serving applies exactly the transformation the fit saw.
 *
 * Monotone constraints keep the sign of a numeric feature's coefficient (>= 0 for +1, <= 0
 * for -1, on the standardised scale; the missing indicator is free) by projection: a
 * coefficient at zero whose gradient points across zero is held there for the iteration (its
 * component of the gradient and of the L-BFGS direction is zero), a free one at zero does not
 * step across it, and every trial point of the line search is projected back onto the allowed
 * signs. The curvature memory is kept when the held set changes, but a small decrease does
 * not end the fit in an iteration where it changed.
 */
#include <math.h>
#include <string.h>

#include "churn/alloc.h"
#include "internal.h"

#define LBFGS_M 10

struct prep {
    double mean, std;
    bool indicator;
    size_t col, ncols, ncat;
    bool categorical;
};

/* The design matrix is sparse (one-hot columns, indicators): each row keeps exactly k
 * entries (column, value), k = features + indicator columns; unused slots have value 0. */
struct problem {
    size_t n, d, k;          /* rows, design columns (the intercept is extra), entries per row */
    const signed char *sign; /* d + 1 allowed signs (0 free), NULL when none is constrained */
    int32_t *col;            /* n x k */
    double *val;             /* n x k */
    double *y, *w;
    double wsum, l2;
};

double
churn__sigmoid(double z)
{
    if (z >= 0)
        return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

/* objective and gradient at theta (d coefficients then the intercept), scaled by 1 / wsum */
static double
evaluate(const struct problem *P, const double *theta, double *grad)
{
    size_t d = P->d;
    memset(grad, 0, (d + 1) * sizeof(double));
    double f = 0;
    size_t k = P->k;
    for (size_t i = 0; i < P->n; i++) {
        const int32_t *ci = &P->col[i * k];
        const double *vi = &P->val[i * k];
        double s = theta[d];
        for (size_t j = 0; j < k; j++)
            s += vi[j] * theta[ci[j]];
        double wi = P->w[i];
        /* log(1 + e^s) - y s, stably */
        double l = s > 0 ? s + log1p(exp(-s)) : log1p(exp(s));
        f += wi * (l - P->y[i] * s);
        double r = wi * (churn__sigmoid(s) - P->y[i]);
        for (size_t j = 0; j < k; j++)
            grad[ci[j]] += r * vi[j];
        grad[d] += r;
    }
    for (size_t j = 0; j < d; j++) {
        f += 0.5 * P->l2 * theta[j] * theta[j];
        grad[j] += P->l2 * theta[j];
    }
    for (size_t j = 0; j <= d; j++)
        grad[j] /= P->wsum;
    return f / P->wsum;
}

static double
dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Hold at zero every constrained coefficient that sits there while the gradient @v points
 * across zero (descent would cross it): zero its component of @v. Returns whether the set of
 * held coefficients differs from @held, which is updated. */
static bool
hold_at_bound(const struct problem *P, const double *x, double *v, unsigned char *held)
{
    bool changed = false;
    for (size_t i = 0; i <= P->d; i++) {
        unsigned char h = P->sign[i] && x[i] == 0 && P->sign[i] * v[i] > 0;
        if (h)
            v[i] = 0;
        changed |= h != held[i];
        held[i] = h;
    }
    return changed;
}

/* Project @x onto the allowed signs. */
static void
project(const struct problem *P, double *x)
{
    for (size_t i = 0; i <= P->d; i++)
        if (P->sign[i] * x[i] < 0)
            x[i] = 0;
}

/*
 * Backtracking from @step along @dir (first-order decrease @gd per unit step) until the Armijo
 * condition holds at @xn (projected onto the allowed signs, when there are constraints), with
 * its objective in *@fn and gradient in @gn. Returns false after 50 halvings.
 */
static bool
line_search(const struct problem *P, const double *x, const double *g, const double *dir, double gd,
            double f, double step, double *xn, double *gn, double *fn)
{
    size_t n = P->d + 1;
    for (int tries = 0; tries < 50; tries++, step *= 0.5) {
        for (size_t i = 0; i < n; i++)
            xn[i] = x[i] + step * dir[i];
        double decrease = step * gd;
        if (P->sign) { /* the projected step's first-order decrease */
            project(P, xn);
            decrease = 0;
            for (size_t i = 0; i < n; i++)
                decrease += g[i] * (xn[i] - x[i]);
        }
        *fn = evaluate(P, xn, gn);
        if (*fn <= f + 1e-4 * decrease)
            return true;
    }
    return false;
}

static enum churn_err
lbfgs(const struct problem *P, double *x, unsigned max_iter)
{
    size_t n = P->d + 1;
    double *mem = churn_calloc((5 + 2 * LBFGS_M) * n, sizeof(double));
    unsigned char *held = P->sign ? churn_calloc(n, 1) : NULL;
    if (!mem || (P->sign && !held)) {
        churn_free(mem);
        churn_free(held);
        return CHURN_ENOMEM;
    }
    double *g = mem, *dir = mem + n, *xn = mem + 2 * n, *gn = mem + 3 * n, *gr = mem + 4 * n;
    double *S = mem + 5 * n, *Y = S + LBFGS_M * n;
    double rho[LBFGS_M], alpha[LBFGS_M];
    size_t k = 0, head = 0; /* stored pairs, next slot */
    double f = evaluate(P, x, g);
    for (unsigned it = 0; it < max_iter; it++) {
        /* the gradient of the coefficients free to move (all of them without constraints) */
        memcpy(gr, g, n * sizeof(double));
        bool moved_bound = P->sign && hold_at_bound(P, x, gr, held);
        double gmax = 0;
        for (size_t i = 0; i < n; i++)
            gmax = fmax(gmax, fabs(gr[i]));
        if (gmax < 1e-7)
            break;
        /* two-loop recursion */
        memcpy(dir, gr, n * sizeof(double));
        for (size_t j = 0; j < k; j++) {
            size_t s = (head + LBFGS_M - 1 - j) % LBFGS_M;
            alpha[s] = rho[s] * dot(&S[s * n], dir, n);
            for (size_t i = 0; i < n; i++)
                dir[i] -= alpha[s] * Y[s * n + i];
        }
        if (k) {
            size_t s = (head + LBFGS_M - 1) % LBFGS_M;
            double gamma = dot(&S[s * n], &Y[s * n], n) / dot(&Y[s * n], &Y[s * n], n);
            for (size_t i = 0; i < n; i++)
                dir[i] *= gamma;
        }
        for (size_t j = k; j-- > 0;) {
            size_t s = (head + LBFGS_M - 1 - j) % LBFGS_M;
            double beta = rho[s] * dot(&Y[s * n], dir, n);
            for (size_t i = 0; i < n; i++)
                dir[i] += S[s * n + i] * (alpha[s] - beta);
        }
        for (size_t i = 0; i < n; i++)
            dir[i] = -dir[i];
        if (P->sign) { /* held coefficients stay; none steps across zero from zero */
            for (size_t i = 0; i < n; i++)
                if (held[i] || (P->sign[i] && x[i] == 0 && P->sign[i] * dir[i] < 0))
                    dir[i] = 0;
        }
        double gd = dot(g, dir, n);
        if (!(gd < 0)) { /* not a descent direction: restart from the gradient */
            for (size_t i = 0; i < n; i++)
                dir[i] = -gr[i];
            gd = -dot(gr, gr, n);
            k = 0;
        }
        double step = k ? 1.0 : 1.0 / sqrt(dot(gr, gr, n));
        double fn = f;
        if (!line_search(P, x, g, dir, gd, f, step, xn, gn, &fn))
            break; /* no progress possible at this precision */
        double *s = &S[head * n], *y = &Y[head * n];
        for (size_t i = 0; i < n; i++) {
            s[i] = xn[i] - x[i];
            y[i] = gn[i] - g[i];
        }
        double sy = dot(s, y, n);
        if (sy > 1e-16) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % LBFGS_M;
            if (k < LBFGS_M)
                k++;
        }
        memcpy(x, xn, n * sizeof(double));
        memcpy(g, gn, n * sizeof(double));
        double df = f - fn;
        f = fn;
        if (df < 1e-11 * fmax(1.0, fabs(f)) && !moved_bound)
            break;
    }
    churn_free(mem);
    churn_free(held);
    return CHURN_OK;
}

/* The allowed sign of each design column: a constrained numeric feature's value column gets
 * its direction; indicators, categories and the intercept are free. @sign stays NULL (and
 * P->sign too) when nothing is constrained. Returns CHURN_ENOMEM or CHURN_OK. */
static enum churn_err
signs(const struct churn__fit *fit, const struct churn_train_options *o, const struct prep *pp,
      struct problem *P, signed char **sign)
{
    bool any = false;
    for (size_t k = 0; k < fit->n_feat; k++)
        any |= churn__fit_monotone(fit, o, k) != 0;
    if (!any)
        return CHURN_OK;
    *sign = churn_calloc(P->d + 1, 1);
    if (!*sign)
        return CHURN_ENOMEM;
    for (size_t k = 0; k < fit->n_feat; k++)
        if (!pp[k].categorical)
            (*sign)[pp[k].col] = (signed char)churn__fit_monotone(fit, o, k);
    P->sign = *sign;
    return CHURN_OK;
}

enum churn_err
churn__fit_logreg(const struct churn__fit *fit, const struct churn_train_options *o, json_t **out,
                  struct churn__tctx *ctx)
{
    const struct churn_dataset *ds = fit->ds;
    enum churn_err err = CHURN_OK;
    struct problem P = {.n = fit->n_rows, .l2 = o->l2};
    struct prep *pp = churn_calloc(fit->n_feat, sizeof(*pp));
    double *theta = NULL;
    signed char *sign = NULL;
    json_t *doc = NULL;
    if (!pp)
        return churn__train_fail(ctx, CHURN_ENOMEM, "out of memory");
    size_t d = 0;
    for (size_t k = 0; k < fit->n_feat; k++) {
        const double *col = ds->cols[fit->feat[k]];
        const struct churn_dataset_feature *df = &ds->features[fit->feat[k]];
        struct prep *p = &pp[k];
        size_t miss = 0, cnt = 0;
        double sum = 0, sq = 0;
        for (size_t i = 0; i < fit->n_rows; i++) {
            double v = col[fit->rows[i]];
            if (isnan(v)) {
                miss++;
                continue;
            }
            cnt++;
            sum += v;
        }
        p->mean = cnt ? sum / (double)cnt : 0;
        for (size_t i = 0; cnt && i < fit->n_rows; i++) {
            double v = col[fit->rows[i]];
            if (!isnan(v))
                sq += (v - p->mean) * (v - p->mean);
        }
        p->std = cnt > 1 ? sqrt(sq / (double)cnt) : 0;
        if (!(p->std > 1e-12))
            p->std = 1;
        p->indicator = miss > 0;
        p->categorical = df->type == CHURN_FEATURE_CATEGORICAL;
        p->ncat = df->n_categories;
        p->col = d;
        p->ncols = (p->categorical ? p->ncat + 1 : 1) + (p->indicator ? 1 : 0);
        d += p->ncols;
    }
    P.d = d;
    P.k = 0;
    for (size_t k = 0; k < fit->n_feat; k++)
        P.k += 1 + (pp[k].indicator ? 1 : 0);
    P.col = churn_calloc(P.n * P.k, sizeof(*P.col));
    P.val = churn_calloc(P.n * P.k, sizeof(*P.val));
    P.y = churn_malloc(P.n * sizeof(double));
    P.w = churn_malloc(P.n * sizeof(double));
    theta = churn_calloc(d + 1, sizeof(double));
    if (!P.col || !P.val || !P.y || !P.w || !theta || signs(fit, o, pp, &P, &sign)) {
        err =
            churn__train_fail(ctx, CHURN_ENOMEM, "out of memory (design matrix %zu x %zu)", P.n, d);
        goto out_free;
    }
    double ypos = 0;
    for (size_t i = 0; i < P.n; i++) {
        size_t r = fit->rows[i];
        int32_t *ci = &P.col[i * P.k];
        double *vi = &P.val[i * P.k];
        size_t e = 0;
        for (size_t k = 0; k < fit->n_feat; k++) {
            const struct prep *p = &pp[k];
            double v = ds->cols[fit->feat[k]][r];
            bool miss = isnan(v);
            ci[e] = (int32_t)p->col;
            if (!p->categorical) {
                vi[e] = miss ? 0 : (v - p->mean) / p->std;
            } else if (!miss || !p->indicator) {
                size_t c = miss ? p->ncat : (size_t)v;
                ci[e] = (int32_t)(p->col + (c <= p->ncat ? c : p->ncat));
                vi[e] = 1;
            } else {
                vi[e] = 0;
            }
            e++;
            if (p->indicator) {
                ci[e] = (int32_t)(p->col + p->ncols - 1);
                vi[e] = miss ? 1 : 0;
                e++;
            }
        }
        P.y[i] = ds->y[r];
        P.w[i] = fit->w ? fit->w[r] : 1.0;
        P.wsum += P.w[i];
        ypos += P.w[i] * P.y[i];
    }
    double base = ypos / P.wsum;
    theta[d] = base > 0 && base < 1 ? log(base / (1 - base)) : 0;
    if ((err = lbfgs(&P, theta, o->max_iter))) {
        err = churn__train_fail(ctx, err, "out of memory");
        goto out_free;
    }
    for (size_t j = 0; j <= d; j++) {
        if (!isfinite(theta[j])) {
            err = churn__train_fail(ctx, CHURN_EINTERNAL,
                                    "logistic regression diverged (non-finite weight)");
            goto out_free;
        }
    }
    doc = json_object();
    json_t *feats = json_array(), *coef = json_array(), *lr = json_object();
    if (!doc || !feats || !coef || !lr) {
        json_decref(feats);
        json_decref(coef);
        json_decref(lr);
        err = churn__train_fail(ctx, CHURN_ENOMEM, "out of memory");
        goto out_free;
    }
    json_object_set_new(doc, "features", feats);
    json_object_set_new(lr, "coefficients", coef);
    json_object_set_new(lr, "intercept", json_real(theta[d]));
    json_object_set_new(doc, "logistic_regression", lr);
    json_object_set_new(doc, "kind", json_string("logistic_regression"));
    bool ok = true;
    for (size_t k = 0; k < fit->n_feat; k++) {
        const struct prep *p = &pp[k];
        json_t *fj = churn__feature_doc(ds, fit->feat[k], churn__fit_monotone(fit, o, k));
        if (!fj) {
            ok = false;
            break;
        }
        if (!p->categorical) {
            json_object_set_new(fj, "mean", json_real(p->mean));
            json_object_set_new(fj, "std", json_real(p->std));
        }
        json_object_set_new(
            fj, "missing",
            p->categorical ? json_pack("{sb}", "indicator", p->indicator)
                           : json_pack("{sbsf}", "indicator", p->indicator, "impute", p->mean));
        ok &= json_array_append_new(feats, fj) == 0;
    }
    for (size_t j = 0; j < d; j++)
        ok &= json_array_append_new(coef, json_real(theta[j])) == 0;
    if (!ok) {
        err = churn__train_fail(ctx, CHURN_ENOMEM, "out of memory");
        goto out_free;
    }
    *out = doc;
    doc = NULL;
out_free:
    json_decref(doc);
    churn_free(pp);
    churn_free(P.col);
    churn_free(P.val);
    churn_free(P.y);
    churn_free(P.w);
    churn_free(theta);
    churn_free(sign);
    return err;
}
