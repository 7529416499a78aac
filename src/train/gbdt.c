/*
 * gbdt.c - histogram gradient-boosted trees for the logistic loss. Each feature is cut into at
 * most max_bins quantile bins (float cut points, so that training and serving compare the same
 * float values) plus one bin for missing values. Trees grow leaf-wise, best gain first, within
 * the depth and leaf limits; a split also learns where missing values go. Histograms are
 * built for the smaller child and derived for the larger by subtraction, split across threads
 * by feature. Rows and features are subsampled per tree, and a stratified validation split
 * stops the boosting when its log loss stops improving.
 *
 * Monotone constraints (the XGBoost way): every leaf carries bounds [lo, hi] on its weight,
 * -inf..inf at the root. Candidate weights are clipped to the leaf's bounds and the gain is
 * measured with the clipped weights; a split on a constrained feature whose lower side would
 * get a weight above the upper side's (for +1; below, for -1) is rejected, and an accepted
 * one gives the lower side [lo, mid] and the upper side [mid, hi] (the other way round for
 * -1), mid the mean of the two weights. Every leaf value is clipped to its bounds, so in each
 * tree all leaves below the lower side of a constrained split are <= mid <= all leaves below
 * the upper side: each tree, and so their sum, is monotone in the feature over its values.
 * Missing values follow the learned default side and are not ordered against the values.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "internal.h"

#define MISSING_BIN   255
#define HIST_BINS     256
#define MAX_SAMPLE    200000
#define PARALLEL_WORK 65536 /* rows x features below which one thread builds */

struct gstat {
    double g, h;
};

struct split {
    double gain;
    size_t feat; /* position in the fit's feature list */
    int bin;     /* left: bins <= bin */
    bool miss_left;
    double gl, hl;
};

struct leaf {
    size_t begin, end; /* range of idx */
    double G, H;
    unsigned depth;
    int node;
    struct gstat *hist; /* F x HIST_BINS */
    struct split best;
    double lo, hi; /* bounds of the leaf's weight (monotone constraints) */
};

struct tree_out {
    size_t n, cap;
    int32_t *feature, *left, *right, *dl, *bin;
    double *threshold, *value, *cover;
};

struct gb {
    const struct churn__fit *fit;
    const struct churn_train_options *o;
    size_t F, nds;
    uint8_t *bins; /* F x nds, column-major: scans of ascending rows read it front to back */
    float **cuts;
    size_t *ncuts;
    double *g, *h, *pred;
    size_t *idx;
    struct gstat *ogh; /* gradient and hessian of idx[i], kept in idx order (sequential reads) */
    size_t *tmp_idx;   /* partition scratch */
    struct gstat *tmp_ogh;
    bool *fmask;
    signed char *mono; /* direction per feature position, NULL when none is constrained */
    uint64_t rng;
    unsigned threads;
    struct pool *pool; /* histogram workers, NULL for one thread */
};

static uint64_t
rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double
rnd01(uint64_t *s)
{
    return (double)(rnd(s) >> 11) * (1.0 / 9007199254740992.0);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint8_t
bin_of(const float *cuts, size_t ncuts, double v)
{
    if (isnan(v))
        return MISSING_BIN;
    float x = (float)v;
    size_t lo = 0, hi = ncuts; /* number of cuts <= x */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cuts[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (uint8_t)lo;
}

static enum churn_err
make_bins(struct gb *B)
{
    const struct churn__fit *fit = B->fit;
    size_t maxb = B->o->max_bins;
    double *vals = churn_malloc(
        (fit->n_rows < MAX_SAMPLE ? fit->n_rows : MAX_SAMPLE) * sizeof(double) + sizeof(double));
    if (!vals)
        return CHURN_ENOMEM;
    size_t stride = fit->n_rows > MAX_SAMPLE ? (fit->n_rows + MAX_SAMPLE - 1) / MAX_SAMPLE : 1;
    for (size_t k = 0; k < B->F; k++) {
        const double *col = fit->ds->cols[fit->feat[k]];
        size_t m = 0;
        for (size_t i = 0; i < fit->n_rows; i += stride) {
            double v = col[fit->rows[i]];
            if (!isnan(v))
                vals[m++] = v;
        }
        qsort(vals, m, sizeof(double), cmp_double);
        size_t distinct = 0;
        for (size_t i = 0; i < m; i++)
            distinct += i == 0 || (float)vals[i] != (float)vals[i - 1];
        float *cuts = churn_malloc(maxb * sizeof(float));
        if (!cuts) {
            churn_free(vals);
            return CHURN_ENOMEM;
        }
        size_t nc = 0;
        if (distinct <= maxb) {
            for (size_t i = 1; i < m; i++)
                if ((float)vals[i] != (float)vals[i - 1])
                    cuts[nc++] = (float)vals[i];
        } else {
            for (size_t q = 1; q < maxb; q++) {
                float c = (float)vals[q * m / maxb];
                if (c > (float)vals[0] && (nc == 0 || c > cuts[nc - 1]))
                    cuts[nc++] = c;
            }
        }
        B->cuts[k] = cuts;
        B->ncuts[k] = nc;
        for (size_t i = 0; i < fit->n_rows; i++) {
            size_t r = fit->rows[i];
            B->bins[k * B->nds + r] = bin_of(cuts, nc, col[r]);
        }
        for (size_t i = 0; i < fit->n_val; i++) {
            size_t r = fit->val[i];
            B->bins[k * B->nds + r] = bin_of(cuts, nc, col[r]);
        }
    }
    churn_free(vals);
    return CHURN_OK;
}

/* ---- histograms ---- */

struct hist_job {
    const struct gb *B;
    struct gstat *hist;
    size_t begin, end;
    size_t first, step; /* features first, first + step, ... */
};

static void *
hist_work(void *arg)
{
    struct hist_job *j = arg;
    const struct gb *B = j->B;
    const size_t *idx = B->idx;
    const struct gstat *ogh = B->ogh;
    for (size_t k = j->first; k < B->F; k += j->step) {
        if (!B->fmask[k])
            continue;
        struct gstat *hk = &j->hist[k * HIST_BINS];
        memset(hk, 0, HIST_BINS * sizeof(*hk));
        const uint8_t *col = &B->bins[k * B->nds];
        for (size_t i = j->begin; i < j->end; i++) {
            struct gstat *st = &hk[col[idx[i]]];
            st->g += ogh[i].g;
            st->h += ogh[i].h;
        }
    }
    return NULL;
}

/* A small persistent pool: the workers wait for a new generation of jobs, so a histogram
 * costs two condition-variable hand-offs instead of thread creations. */
struct pool {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned n; /* workers running */
    unsigned pending;
    uint64_t gen;
    bool stop;
    struct hist_job jobs[16];
    pthread_t th[16];
    struct pool_slot {
        struct pool *p;
        unsigned slot;
    } slots[16];
};

static void *
pool_worker(void *arg)
{
    struct pool_slot *ps = arg;
    struct pool *p = ps->p;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->gen == seen)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->stop)
            break;
        seen = p->gen;
        struct hist_job job = p->jobs[ps->slot];
        pthread_mutex_unlock(&p->mu);
        hist_work(&job);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void
pool_start(struct pool *p, unsigned workers)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    for (unsigned i = 0; i < workers && i < 15; i++) {
        p->slots[p->n] = (struct pool_slot){p, p->n + 1};
        if (pthread_create(&p->th[p->n], NULL, pool_worker, &p->slots[p->n]) != 0)
            break; /* fewer workers: the caller does more of the work */
        p->n++;
    }
}

static void
pool_stop(struct pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n; i++)
        pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
}

static void
build_hist(const struct gb *B, struct gstat *hist, size_t begin, size_t end)
{
    struct pool *p = B->pool;
    if (!p || p->n == 0 || (end - begin) * B->F < PARALLEL_WORK) {
        struct hist_job one = {B, hist, begin, end, 0, 1};
        hist_work(&one);
        return;
    }
    unsigned nt = p->n + 1;
    pthread_mutex_lock(&p->mu);
    for (unsigned t = 0; t < nt; t++)
        p->jobs[t] = (struct hist_job){B, hist, begin, end, t, nt};
    p->pending = p->n;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    hist_work(&p->jobs[0]);
    pthread_mutex_lock(&p->mu);
    while (p->pending)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static double
score(double g, double h, double lambda)
{
    return g * g / (h + lambda);
}

/* The optimal weight of a leaf with sums @g, @h, clipped to [@lo, @hi]. */
static double
leaf_weight(double g, double h, double lambda, double lo, double hi)
{
    double w = -g / (h + lambda);
    return w < lo ? lo : w > hi ? hi : w;
}

/* The loss reduction of weight @w (equal to score() at the optimal weight). */
static double
score_at(double g, double h, double lambda, double w)
{
    return -(2 * g * w + (h + lambda) * w * w);
}

/* The gain of the split (GL, HL | GR, HR) of leaf @L on feature @k, measured with the weights
 * clipped to the leaf's bounds; -1 when the weights go against the feature's direction. */
static double
constrained_gain(const struct gb *B, const struct leaf *L, size_t k, double GL, double HL,
                 double GR, double HR, double parent)
{
    double lambda = B->o->lambda;
    double wl = leaf_weight(GL, HL, lambda, L->lo, L->hi);
    double wr = leaf_weight(GR, HR, lambda, L->lo, L->hi);
    if ((B->mono[k] > 0 && wl > wr) || (B->mono[k] < 0 && wl < wr))
        return -1;
    return score_at(GL, HL, lambda, wl) + score_at(GR, HR, lambda, wr) - parent;
}

static void
find_split(const struct gb *B, struct leaf *L)
{
    const struct churn_train_options *o = B->o;
    L->best.gain = 0;
    L->best.bin = -1;
    if (L->depth >= o->max_depth || L->end - L->begin < 2)
        return;
    double parent =
        B->mono ? score_at(L->G, L->H, o->lambda, leaf_weight(L->G, L->H, o->lambda, L->lo, L->hi))
                : score(L->G, L->H, o->lambda);
    for (size_t k = 0; k < B->F; k++) {
        if (!B->fmask[k] || B->ncuts[k] == 0)
            continue;
        const struct gstat *hk = &L->hist[k * HIST_BINS];
        double gm = hk[MISSING_BIN].g, hm = hk[MISSING_BIN].h;
        double gl = 0, hl = 0;
        for (size_t b = 0; b < B->ncuts[k]; b++) {
            gl += hk[b].g;
            hl += hk[b].h;
            for (int ml = 0; ml < 2; ml++) {
                if (ml && hm <= 0)
                    break;
                double GL = gl + (ml ? gm : 0), HL = hl + (ml ? hm : 0);
                double GR = L->G - GL, HR = L->H - HL;
                if (HL < o->min_child_weight || HR < o->min_child_weight || HL <= 0 || HR <= 0)
                    continue;
                double gain = B->mono
                                  ? constrained_gain(B, L, k, GL, HL, GR, HR, parent)
                                  : score(GL, HL, o->lambda) + score(GR, HR, o->lambda) - parent;
                if (gain > L->best.gain + 1e-12) {
                    bool miss_left = ml;
                    if (hm <= 0)
                        miss_left = HL >= HR; /* unseen: follow the heavier side */
                    L->best = (struct split){gain, k, (int)b, miss_left, GL, HL};
                }
            }
        }
    }
}

static enum churn_err
tree_push(struct tree_out *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        int32_t **ia[] = {&t->feature, &t->left, &t->right, &t->dl, &t->bin};
        double **da[] = {&t->threshold, &t->value, &t->cover};
        for (size_t i = 0; i < 5; i++) {
            int32_t *p = churn_realloc(*ia[i], cap * sizeof(int32_t));
            if (!p)
                return CHURN_ENOMEM;
            *ia[i] = p;
        }
        for (size_t i = 0; i < 3; i++) {
            double *p = churn_realloc(*da[i], cap * sizeof(double));
            if (!p)
                return CHURN_ENOMEM;
            *da[i] = p;
        }
        t->cap = cap;
    }
    size_t i = t->n++;
    t->feature[i] = t->left[i] = t->right[i] = -1;
    t->dl[i] = 0;
    t->bin[i] = -1;
    t->threshold[i] = t->value[i] = t->cover[i] = 0;
    return CHURN_OK;
}

static void
tree_free(struct tree_out *t)
{
    churn_free(t->feature);
    churn_free(t->left);
    churn_free(t->right);
    churn_free(t->dl);
    churn_free(t->bin);
    churn_free(t->threshold);
    churn_free(t->value);
    churn_free(t->cover);
    memset(t, 0, sizeof(*t));
}

static double
tree_predict_bins(const struct gb *B, const struct tree_out *t, size_t r)
{
    int32_t i = 0;
    while (t->feature[i] >= 0) {
        uint8_t b = B->bins[(size_t)t->feature[i] * B->nds + r];
        bool left = b == MISSING_BIN ? t->dl[i] != 0 : b <= t->bin[i];
        i = left ? t->left[i] : t->right[i];
    }
    return t->value[i];
}

/* The bounds of the children @L (lower values) and @R of @P's split on a constrained
 * feature: they meet at the mean of their clipped weights. */
static void
child_bounds(const struct gb *B, const struct leaf *P, struct leaf *L, struct leaf *R)
{
    double lambda = B->o->lambda;
    double wl = leaf_weight(L->G, L->H, lambda, P->lo, P->hi);
    double wr = leaf_weight(R->G, R->H, lambda, P->lo, P->hi);
    double mid = 0.5 * (wl + wr);
    if (B->mono[P->best.feat] > 0) {
        L->hi = mid;
        R->lo = mid;
    } else {
        L->lo = mid;
        R->hi = mid;
    }
}

static struct gstat *
pool_get(const struct gb *B, struct gstat **pool, size_t i)
{
    if (!pool[i])
        pool[i] = churn_malloc(B->F * HIST_BINS * sizeof(struct gstat));
    return pool[i];
}

/* Grow one tree on idx[0..n); the leaves' histogram buffers come from @pool (max_leaves
 * slots, allocated on first use and kept for the next trees). */
static enum churn_err
grow_tree(struct gb *B, size_t n, struct gstat **pool, struct leaf *leaves, struct tree_out *t,
          size_t *n_leaves)
{
    const struct churn_train_options *o = B->o;
    size_t max_leaves = o->max_leaves;
    size_t nleaves = 1, pool_used = 1;
    if (tree_push(t))
        return CHURN_ENOMEM;
    struct leaf *root = &leaves[0];
    *root = (struct leaf){.begin = 0,
                          .end = n,
                          .node = 0,
                          .hist = pool_get(B, pool, 0),
                          .lo = -INFINITY,
                          .hi = INFINITY};
    if (!root->hist)
        return CHURN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        B->ogh[i] = (struct gstat){B->g[B->idx[i]], B->h[B->idx[i]]};
        root->G += B->ogh[i].g;
        root->H += B->ogh[i].h;
    }
    build_hist(B, root->hist, 0, n);
    find_split(B, root);
    while (nleaves < max_leaves) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < nleaves; i++)
            if (leaves[i].best.bin >= 0 &&
                (best == SIZE_MAX || leaves[i].best.gain > leaves[best].best.gain))
                best = i;
        if (best == SIZE_MAX)
            break;
        struct leaf P = leaves[best];
        const struct split *s = &P.best;
        const uint8_t *col = &B->bins[s->feat * B->nds];
        /* stable, branch-free partition of idx[begin, end): left rows first, both sides
         * keep ascending row order (so later scans read the bins front to back) */
        size_t nl = 0, nr = 0;
        for (size_t i = P.begin; i < P.end; i++) {
            size_t r = B->idx[i];
            struct gstat gh = B->ogh[i];
            uint8_t b = col[r];
            size_t left = b == MISSING_BIN ? s->miss_left : b <= (uint8_t)s->bin;
            B->idx[P.begin + nl] = r;
            B->ogh[P.begin + nl] = gh;
            B->tmp_idx[nr] = r;
            B->tmp_ogh[nr] = gh;
            nl += left;
            nr += 1 - left;
        }
        memcpy(&B->idx[P.begin + nl], B->tmp_idx, nr * sizeof(size_t));
        memcpy(&B->ogh[P.begin + nl], B->tmp_ogh, nr * sizeof(struct gstat));
        size_t lo = P.begin + nl;
        if (tree_push(t) || tree_push(t))
            return CHURN_ENOMEM;
        int ln = (int)t->n - 2, rn = (int)t->n - 1;
        t->feature[P.node] = (int32_t)s->feat;
        t->bin[P.node] = s->bin;
        t->threshold[P.node] = B->cuts[s->feat][s->bin];
        t->dl[P.node] = s->miss_left;
        t->left[P.node] = ln;
        t->right[P.node] = rn;
        t->cover[P.node] = P.H;
        struct leaf L = {.begin = P.begin, .end = lo, .G = s->gl, .H = s->hl};
        struct leaf R = {.begin = lo, .end = P.end, .G = P.G - s->gl, .H = P.H - s->hl};
        L.depth = R.depth = P.depth + 1;
        L.node = ln;
        R.node = rn;
        L.lo = R.lo = P.lo; /* the bounds pass down unchanged unless the split is constrained */
        L.hi = R.hi = P.hi;
        if (B->mono && B->mono[s->feat])
            child_bounds(B, &P, &L, &R);
        /* smaller child by scan into a fresh buffer, larger by subtraction in the parent's */
        struct leaf *small = (L.end - L.begin) <= (R.end - R.begin) ? &L : &R;
        struct leaf *large = small == &L ? &R : &L;
        small->hist = pool_get(B, pool, pool_used++);
        large->hist = P.hist;
        if (!small->hist)
            return CHURN_ENOMEM;
        build_hist(B, small->hist, small->begin, small->end);
        for (size_t k = 0; k < B->F; k++) {
            if (!B->fmask[k])
                continue;
            struct gstat *a = &large->hist[k * HIST_BINS];
            const struct gstat *c = &small->hist[k * HIST_BINS];
            for (size_t b = 0; b < HIST_BINS; b++) {
                a[b].g -= c[b].g;
                a[b].h -= c[b].h;
            }
        }
        find_split(B, &L);
        find_split(B, &R);
        leaves[best] = L;
        leaves[nleaves++] = R;
    }
    for (size_t i = 0; i < nleaves; i++) {
        struct leaf *L = &leaves[i];
        t->value[L->node] = leaf_weight(L->G, L->H, o->lambda, L->lo, L->hi) * o->learning_rate;
        t->cover[L->node] = L->H;
    }
    *n_leaves = nleaves;
    return CHURN_OK;
}

static void
update_grad(struct gb *B, const size_t *rows, size_t n)
{
    const struct churn__fit *fit = B->fit;
    for (size_t i = 0; i < n; i++) {
        size_t r = rows[i];
        double p = churn__sigmoid(B->pred[r]);
        double w = fit->w ? fit->w[r] : 1.0;
        B->g[r] = w * (p - fit->ds->y[r]);
        B->h[r] = w * fmax(p * (1 - p), 1e-16);
    }
}

static double
val_loss(const struct gb *B)
{
    const struct churn__fit *fit = B->fit;
    double s = 0;
    for (size_t i = 0; i < fit->n_val; i++) {
        size_t r = fit->val[i];
        double z = B->pred[r], y = fit->ds->y[r];
        s += (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - y * z;
    }
    return s / (double)fit->n_val;
}

static json_t *
tree_doc(const struct tree_out *t)
{
    json_t *o = json_object();
    json_t *a[7];
    for (int k = 0; k < 7; k++)
        a[k] = json_array();
    for (size_t i = 0; i < t->n; i++) {
        json_array_append_new(a[0], json_integer(t->feature[i]));
        json_array_append_new(a[1], json_real(t->feature[i] >= 0 ? t->threshold[i] : 0));
        json_array_append_new(a[2], json_integer(t->left[i]));
        json_array_append_new(a[3], json_integer(t->right[i]));
        json_array_append_new(a[4], json_real(t->value[i]));
        json_array_append_new(a[5], json_integer(t->dl[i]));
        json_array_append_new(a[6], json_real(t->cover[i]));
    }
    static const char *const keys[] = {"feature", "threshold",    "left", "right",
                                       "value",   "default_left", "cover"};
    for (int k = 0; k < 7; k++)
        json_object_set_new(o, keys[k], a[k]);
    return o;
}

/* B->mono: the direction of each feature position, left NULL when none is constrained (the
 * unconstrained search stays as it was). */
static enum churn_err
monotone_init(struct gb *B, const struct churn_train_options *o)
{
    bool any = false;
    for (size_t k = 0; k < B->F; k++)
        any |= churn__fit_monotone(B->fit, o, k) != 0;
    if (!any)
        return CHURN_OK;
    B->mono = churn_malloc(B->F);
    if (!B->mono)
        return CHURN_ENOMEM;
    for (size_t k = 0; k < B->F; k++)
        B->mono[k] = (signed char)churn__fit_monotone(B->fit, o, k);
    return CHURN_OK;
}

enum churn_err
churn__fit_gbdt(const struct churn__fit *fit, const struct churn_train_options *o, json_t **out,
                struct churn__tctx *ctx)
{
    enum churn_err err = CHURN_OK;
    struct gb B = {.fit = fit,
                   .o = o,
                   .F = fit->n_feat,
                   .nds = fit->ds->n_rows,
                   .rng = o->seed ^ 0x5851f42d4c957f2dULL,
                   .threads = o->threads};
    size_t max_leaves = o->max_leaves;
    struct tree_out *trees = NULL;
    size_t n_trees = 0;
    struct gstat **pool = NULL;
    struct leaf *leaves = NULL;
    json_t *doc = NULL;
    B.bins = churn_malloc(B.F * B.nds);
    B.cuts = churn_calloc(B.F, sizeof(*B.cuts));
    B.ncuts = churn_calloc(B.F, sizeof(*B.ncuts));
    B.g = churn_calloc(B.nds, sizeof(double));
    B.h = churn_calloc(B.nds, sizeof(double));
    B.pred = churn_calloc(B.nds, sizeof(double));
    B.idx = churn_malloc((fit->n_rows ? fit->n_rows : 1) * sizeof(size_t));
    B.ogh = churn_malloc((fit->n_rows ? fit->n_rows : 1) * sizeof(struct gstat));
    B.tmp_idx = churn_malloc((fit->n_rows ? fit->n_rows : 1) * sizeof(size_t));
    B.tmp_ogh = churn_malloc((fit->n_rows ? fit->n_rows : 1) * sizeof(struct gstat));
    B.fmask = churn_calloc(B.F, sizeof(bool));
    trees = churn_calloc(o->n_trees, sizeof(*trees));
    pool = churn_calloc(max_leaves, sizeof(*pool));
    leaves = churn_calloc(max_leaves, sizeof(*leaves));
    if (!B.bins || !B.cuts || !B.ncuts || !B.g || !B.h || !B.pred || !B.idx || !B.ogh ||
        !B.tmp_idx || !B.tmp_ogh || !B.fmask || !trees || !pool || !leaves) {
        err = churn__train_fail(ctx, CHURN_ENOMEM, "out of memory");
        goto out_free;
    }
    struct pool workers;
    if (o->threads > 1) {
        pool_start(&workers, o->threads - 1);
        B.pool = &workers;
    }
    if ((err = monotone_init(&B, o))) {
        err = churn__train_fail(ctx, err, "out of memory");
        goto out_free;
    }
    if ((err = make_bins(&B))) {
        err = churn__train_fail(ctx, err, "out of memory (bins)");
        goto out_free;
    }
    double wy = 0, ws = 0;
    for (size_t i = 0; i < fit->n_rows; i++) {
        size_t r = fit->rows[i];
        double w = fit->w ? fit->w[r] : 1.0;
        wy += w * fit->ds->y[r];
        ws += w;
    }
    double base = wy / ws;
    base = base < 1e-6 ? 1e-6 : base > 1 - 1e-6 ? 1 - 1e-6 : base;
    double base_margin = log(base / (1 - base));
    for (size_t i = 0; i < fit->n_rows; i++)
        B.pred[fit->rows[i]] = base_margin;
    for (size_t i = 0; i < fit->n_val; i++)
        B.pred[fit->val[i]] = base_margin;

    double best_loss = INFINITY;
    size_t best_n = 0;
    size_t ncol = (size_t)ceil(o->colsample * (double)B.F);
    if (ncol < 1)
        ncol = 1;
    for (unsigned it = 0; it < o->n_trees; it++) {
        update_grad(&B, fit->rows, fit->n_rows);
        size_t n = 0;
        for (size_t i = 0; i < fit->n_rows; i++)
            if (o->subsample >= 1 || rnd01(&B.rng) < o->subsample)
                B.idx[n++] = fit->rows[i];
        if (n < 2) {
            err = churn__train_fail(ctx, CHURN_EINVAL, "subsample left fewer than 2 rows");
            goto out_free;
        }
        /* column sample: a partial Fisher-Yates over feature positions */
        memset(B.fmask, 0, B.F * sizeof(bool));
        if (ncol >= B.F) {
            memset(B.fmask, 1, B.F * sizeof(bool));
        } else {
            size_t chosen = 0;
            while (chosen < ncol) {
                size_t k = (size_t)(rnd(&B.rng) % B.F);
                if (!B.fmask[k]) {
                    B.fmask[k] = true;
                    chosen++;
                }
            }
        }
        struct tree_out *t = &trees[n_trees];
        size_t nleaves = 0;
        if (grow_tree(&B, n, pool, leaves, t, &nleaves)) {
            tree_free(t);
            err = churn__train_fail(ctx, CHURN_ENOMEM, "out of memory (tree)");
            goto out_free;
        }
        n_trees++;
        if (n == fit->n_rows) { /* every row is in a leaf's range of idx */
            for (size_t l = 0; l < nleaves; l++) {
                double v = t->value[leaves[l].node];
                for (size_t i = leaves[l].begin; i < leaves[l].end; i++)
                    B.pred[B.idx[i]] += v;
            }
        } else {
            for (size_t i = 0; i < fit->n_rows; i++) {
                size_t r = fit->rows[i];
                B.pred[r] += tree_predict_bins(&B, t, r);
            }
        }
        if (fit->n_val && o->early_stopping) {
            for (size_t i = 0; i < fit->n_val; i++) {
                size_t r = fit->val[i];
                B.pred[r] += tree_predict_bins(&B, t, r);
            }
            double l = val_loss(&B);
            if (l < best_loss - 1e-12) {
                best_loss = l;
                best_n = n_trees;
            } else if (n_trees - best_n >= o->early_stopping) {
                break;
            }
        }
    }
    if (fit->n_val && o->early_stopping && best_n > 0) {
        while (n_trees > best_n)
            tree_free(&trees[--n_trees]);
    }
    doc = json_object();
    json_t *feats = json_array(), *tarr = json_array(), *g = json_object();
    json_object_set_new(doc, "kind", json_string("gbdt"));
    json_object_set_new(doc, "features", feats);
    json_object_set_new(g, "base_margin", json_real(base_margin));
    json_object_set_new(g, "trees", tarr);
    json_object_set_new(doc, "gbdt", g);
    for (size_t k = 0; k < B.F; k++)
        json_array_append_new(
            feats, churn__feature_doc(fit->ds, fit->feat[k], churn__fit_monotone(fit, o, k)));
    for (size_t i = 0; i < n_trees; i++)
        json_array_append_new(tarr, tree_doc(&trees[i]));
    if (json_array_size(tarr) != n_trees || json_array_size(feats) != B.F) {
        err = churn__train_fail(ctx, CHURN_ENOMEM, "out of memory (model document)");
        goto out_free;
    }
    *out = doc;
    doc = NULL;
out_free:
    if (B.pool)
        pool_stop(B.pool);
    json_decref(doc);
    for (size_t i = 0; trees && i < n_trees; i++)
        tree_free(&trees[i]);
    churn_free(trees);
    for (size_t i = 0; pool && i < max_leaves; i++)
        churn_free(pool[i]);
    churn_free(pool);
    churn_free(leaves);
    for (size_t k = 0; B.cuts && k < B.F; k++)
        churn_free(B.cuts[k]);
    churn_free(B.cuts);
    churn_free(B.ncuts);
    churn_free(B.bins);
    churn_free(B.g);
    churn_free(B.h);
    churn_free(B.pred);
    churn_free(B.idx);
    churn_free(B.ogh);
    churn_free(B.tmp_idx);
    churn_free(B.tmp_ogh);
    churn_free(B.fmask);
    churn_free(B.mono);
    return err;
}
