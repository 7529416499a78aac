/*
 * select.c - the search behind `--algo auto`: a small, fixed grid of candidates (the logistic
 * regression, the trees as configured, trees of other shapes whose number is found by early
 * stopping, and a blend of the logistic regression with the best trees) cross-validated on the
 * same stratified folds, in an order chosen so that a time budget that cuts the grid short
 * still leaves the best candidate so far; and the blend's model document. When the rows carry
 * times (a store training set's cutoffs), candidates are ranked out of time: for each of up to
 * three of the newest cutoffs, each is also fitted on the older cutoffs and judged on that one,
 * and the mean of those AUCs ranks them, because a model that wins a cross-validation across
 * time can lose the future (a logistic regression did, by 0.07 of prospective AUC on the demo
 * platform), and one holdout cutoff alone is a noisy judge (by about 0.007). The blend's weight
 * is chosen on out-of-fold margins: for each fold on the other folds' margins (so that its CV
 * figure is not fitted to the fold it is measured on), for the final model on all of them.
 * The choice is made once every candidate has run: the best selection score, or (opt-in) a
 * one-standard-error rule over DeLong's paired errors against the best on the holdout rows.
 */
#include "churn/train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "internal.h"

#define BLEND_STEPS           19 /* weights 0.05, 0.10, ..., 0.95 */
#define EARLY_STOPPING_ROUNDS 20

/* A tree candidate: depth, leaves (0: 2^depth; fewer grow best-first, the deepest where the
 * loss falls most), learning rate, minimum child weight, at most this many trees (early
 * stopping picks the number), row and column fraction per tree. */
struct tree_shape {
    unsigned depth, leaves;
    double eta, mcw;
    unsigned trees;
    double subsample, colsample;
};

/* Most generally useful first: 31 leaves grown best-first at a small learning rate (the
 * shape of sklearn's HistGradientBoosting; alone it beat the prospective reference on all six
 * backtests of docs/BENCHMARKS.md, where the grid's choice missed one), shallow, moderately
 * shrunk trees; then the extremes. */
static const struct tree_shape grid[] = {
    {16, 31, 0.05, 1, 400, 1, 1},    {3, 0, 0.1, 1, 400, 1, 1},
    {4, 0, 0.05, 5, 600, 1, 1},      {2, 0, 0.1, 1, 600, 1, 1},
    {6, 0, 0.05, 5, 600, 0.8, 0.8},  {8, 0, 0.05, 10, 600, 0.8, 0.8},
    {3, 0, 0.05, 10, 800, 0.8, 0.5},
};
#define GRID_N (sizeof(grid) / sizeof(grid[0]))

/* Working memory of one search. Every candidate keeps its options, folds, out-of-fold margins
 * and holdout margins, so that the choice can be made once all have run. */
struct search {
    const struct churn_dataset *ds;
    const struct churn_train_options *o;
    struct churn_select_result *out;
    unsigned *fold;
    double *p, *q, *y, *pa, *pb;      /* a holdout's or a fold's rows */
    struct churn_cv_result *cv;       /* per candidate */
    struct churn_train_options *opts; /* per candidate */
    double *oof_all, *hold_all;       /* per candidate: ds->n_rows margins each */
    double *oof_lr, *oof_gb, *mix;    /* candidate 0's, the best trees', the blend's */
    double *t_lr, *t_gb, *t_mix;      /* the same, of each holdout time's rows */
    size_t best_trees;                /* the candidate whose margins oof_gb are (0: none) */
    bool by_newest; /* rank out of time (rows carry times): see churn_select_candidate */
    unsigned n_hold;
    double hold[CHURN_SELECT_MAX_HOLDOUTS]; /* the holdout times, newest first */
    double gap; /* a holdout's model learns from rows at least this much older (ms) */
    int64_t t0;
    double budget_t0; /* search_clock_s() at the start */
    struct churn__tctx ctx;
};

#define N_CANDIDATES (GRID_N + 3) /* the logistic regression, GRID_N + 1 trees, the blend */
#define BLEND        (GRID_N + 2)

static double *
oof_of(const struct search *s, size_t i)
{
    return s->oof_all + i * s->ds->n_rows;
}

static double *
hold_of(const struct search *s, size_t i)
{
    return s->hold_all + i * s->ds->n_rows;
}

static void
tree_options(const struct churn_train_options *o, const struct tree_shape *g,
             struct churn_train_options *t)
{
    *t = *o;
    t->algo = CHURN_TRAIN_GBDT;
    t->max_depth = g->depth;
    t->max_leaves = g->leaves ? g->leaves : 1u << g->depth;
    t->learning_rate = g->eta;
    t->min_child_weight = g->mcw;
    t->n_trees = g->trees;
    t->subsample = g->subsample;
    t->colsample = g->colsample;
    t->early_stopping = EARLY_STOPPING_ROUNDS;
}

static void
name_trees(char *buf, size_t len, const struct churn_train_options *t, const char *how)
{
    char leaves[32] = ""; /* named when fewer than the depth allows */
    if (t->max_depth < 31 && t->max_leaves && t->max_leaves < 1u << t->max_depth)
        snprintf(leaves, sizeof(leaves), ", %u leaves", t->max_leaves);
    snprintf(buf, len, "gbdt depth %u%s, eta %g, mcw %g, %s%u trees%s", t->max_depth, leaves,
             t->learning_rate, t->min_child_weight, t->early_stopping ? "<= " : "", t->n_trees,
             how);
}

/* The rows of holdout @h: margins @a into s->p, @b (when not NULL) into s->q, labels into
 * s->y; returns their number. */
static size_t
holdout_rows(struct search *s, unsigned h, const double *a, const double *b)
{
    size_t n = 0;
    for (size_t r = 0; r < s->ds->n_rows; r++) {
        if (s->ds->time[r] != s->hold[h])
            continue;
        s->p[n] = a[r];
        if (b)
            s->q[n] = b[r];
        s->y[n++] = s->ds->y[r];
    }
    return n;
}

/* The mean over the holdout times of the AUC of that time's rows from their margins @margin
 * (each AUC into @per when not NULL). */
static double
holdout_auc(struct search *s, const double *margin, double *per)
{
    double sum = 0;
    for (unsigned h = 0; h < s->n_hold; h++) {
        size_t n = holdout_rows(s, h, margin, NULL);
        for (size_t i = 0; i < n; i++)
            s->p[i] = churn__sigmoid(s->p[i]);
        struct churn_metrics m;
        double auc = churn_metrics_compute(s->p, s->y, n, 0.5, &m) ? NAN : m.auc;
        if (per)
            per[h] = auc;
        sum += auc;
    }
    return sum / s->n_hold;
}

/* The selection score of a candidate (@t, @algo) whose CV is @cv: its mean CV AUC, or, out of
 * time, holdout_auc() of the same candidate fitted, per holdout time, on the older rows (its
 * holdout margins into @buf, each holdout's AUC into @per). */
static enum churn_err
select_auc(struct search *s, const struct churn_train_options *t, enum churn_train_algo algo,
           const struct churn_cv_result *cv, double *buf, double *per, double *score)
{
    *score = cv->auc_mean;
    if (!s->by_newest)
        return CHURN_OK;
    for (unsigned h = 0; h < s->n_hold; h++) {
        enum churn_err err = churn__train_holdout(s->ds, t, algo, s->hold[h], s->gap, buf, &s->ctx);
        if (err)
            return err;
    }
    *score = holdout_auc(s, buf, per);
    return CHURN_OK;
}

static void
record(struct search *s, size_t i, enum churn_train_algo algo, const struct churn_cv_result *cv,
       double score)
{
    struct churn_select_report *r = &s->out->report;
    struct churn_select_candidate *c = &r->cand[i];
    c->algo = algo;
    c->ran = true;
    c->select_auc = score;
    c->auc_mean = cv->auc_mean;
    c->auc_sd = cv->auc_sd;
    c->pr_auc_mean = cv->pr_auc_mean;
    c->log_loss_mean = cv->log_loss_mean;
    c->seconds = cv->seconds;
    c->se_vs_best = NAN;
    r->n_ran++;
    if (i != 0 && score > r->cand[r->best].select_auc)
        r->best = i;
    s->cv[i] = *cv;
}

/* Metrics of fold @f from the out-of-fold margins @margin. */
static enum churn_err
fold_metrics(struct search *s, unsigned f, const double *margin, struct churn_metrics *out)
{
    size_t n = 0;
    for (size_t r = 0; r < s->ds->n_rows; r++) {
        if (s->fold[r] != f)
            continue;
        s->p[n] = churn__sigmoid(margin[r]);
        s->y[n++] = s->ds->y[r];
    }
    return churn_metrics_compute(s->p, s->y, n, s->o->threshold, out);
}

static void
mix_margins(struct search *s, double w)
{
    for (size_t r = 0; r < s->ds->n_rows; r++)
        s->mix[r] = w * s->oof_lr[r] + (1 - w) * s->oof_gb[r];
}

static double
step_weight(size_t i)
{
    return 0.05 * (double)(i + 1);
}

/* The blend's CV into s->cv: fold f is scored with the weight that maximises the mean AUC of
 * the other folds; *@w_all maximises the mean over all folds (the final model's weight). */
static enum churn_err
blend_cv(struct search *s, double *w_all)
{
    unsigned k = s->o->folds;
    double auc[BLEND_STEPS][CHURN_TRAIN_MAX_FOLDS];
    int64_t t0 = churn_mono_ns();
    enum churn_err err;
    struct churn_metrics m;
    for (size_t i = 0; i < BLEND_STEPS; i++) {
        mix_margins(s, step_weight(i));
        for (unsigned f = 0; f < k; f++) {
            if ((err = fold_metrics(s, f, s->mix, &m)))
                return err;
            auc[i][f] = m.auc;
        }
    }
    struct churn_cv_result *cv = s->cv + N_CANDIDATES; /* the scratch slot */
    memset(cv, 0, sizeof(*cv));
    cv->algo = CHURN_TRAIN_BLEND;
    cv->folds = k;
    for (unsigned f = 0; f <= k; f++) { /* f == k: every fold, for the final weight */
        size_t best = 0;
        double best_sum = -INFINITY;
        for (size_t i = 0; i < BLEND_STEPS; i++) {
            double sum = 0;
            for (unsigned g = 0; g < k; g++)
                sum += g == f ? 0 : auc[i][g];
            if (sum > best_sum) {
                best_sum = sum;
                best = i;
            }
        }
        if (f == k) {
            *w_all = step_weight(best);
            break;
        }
        mix_margins(s, step_weight(best));
        if ((err = fold_metrics(s, f, s->mix, &cv->fold[f])))
            return err;
    }
    churn_cv_summarise(cv);
    cv->seconds = (double)(churn_mono_ns() - t0) / 1e9;
    return CHURN_OK;
}

/* Rows of @s's set at time @at (*@n, *@pos) and those a model judged there learns from (*@n_old,
 * *@pos_old): older than @at by the gap. */
static void
count_at(const struct search *s, double at, double *n, double *pos, double *n_old, double *pos_old)
{
    const struct churn_dataset *ds = s->ds;
    *n = *pos = *n_old = *pos_old = 0;
    for (size_t r = 0; r < ds->n_rows; r++) {
        if (ds->time[r] == at)
            *n += 1, *pos += ds->y[r] > 0;
        else if (ds->time[r] < at && ds->time[r] <= at - s->gap)
            *n_old += 1, *pos_old += ds->y[r] > 0;
    }
}

/* The holdout times of @s (churn_select_report.holdout_time): out of time when there is one.
 * A store set's rows carry their cutoff in ms and its horizon: a holdout's model learns only
 * from the cutoffs whose labels had ended by the holdout's cutoff (a horizon older), as the
 * served model learns from labels that ended before it serves; a CSV's times, from every
 * older time. A holdout also needs both classes, and at least half the rows to learn from
 * that the newest holdout has. */
static void
plan_holdouts(struct search *s)
{
    const struct churn_dataset *ds = s->ds;
    double t_prev = INFINITY, first_old = 0;
    s->gap = (double)ds->horizon_days * CHURN_MS_PER_DAY;
    s->n_hold = 0;
    for (unsigned i = 0; ds->time && i < CHURN_SELECT_MAX_HOLDOUTS; i++) {
        double t = -INFINITY; /* the next newest distinct time */
        for (size_t r = 0; r < ds->n_rows; r++)
            if (ds->time[r] < t_prev && ds->time[r] > t)
                t = ds->time[r];
        if (t == -INFINITY)
            break;
        t_prev = t;
        double n, pos, n_old, pos_old;
        count_at(s, t, &n, &pos, &n_old, &pos_old);
        if (pos < 1 || pos >= n || pos_old < 1 || pos_old >= n_old)
            continue;
        if (s->n_hold > 0 && n_old * 2 < first_old)
            break;
        if (s->n_hold == 0)
            first_old = n_old;
        s->hold[s->n_hold++] = t;
    }
    s->by_newest = s->n_hold > 0;
}

/* The budget's clock: the CPU time this process has used, in seconds, over the training
 * threads. On an idle machine that is about the wall time of the search; on a busy one it still
 * counts only the search's own work, so the same data gives the same search, and the same
 * model, whatever else the machine runs (a wall-clock budget chose a worse model by 0.037 of
 * prospective AUC at load 10 on 2 cores: docs/BENCHMARKS.md). */
static double
search_clock_s(const struct search *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    unsigned threads = s->o->threads ? s->o->threads : 1;
    return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9) / threads;
}

static bool
over_budget(const struct search *s)
{
    double budget = s->o->time_budget_s;
    return budget > 0 && search_clock_s(s) - s->budget_t0 >= budget;
}

/* Tree candidates 1.. in order while the budget lasts; the best of them (by selection score)
 * is s->best_trees, its margins s->oof_gb and s->t_gb. */
static enum churn_err
run_trees(struct search *s)
{
    struct churn_select_report *r = &s->out->report;
    for (size_t i = 1; i <= GRID_N + 1; i++) {
        struct churn_train_options *t = &s->opts[i];
        if (i == 1) {
            *t = *s->o;
            t->algo = CHURN_TRAIN_GBDT;
        } else {
            tree_options(s->o, &grid[i - 2], t);
        }
        struct churn_select_candidate *c = &r->cand[i];
        name_trees(c->name, sizeof(c->name), t, i == 1 ? " (as configured)" : ", early stopping");
        c->algo = CHURN_TRAIN_GBDT;
        if (over_budget(s)) {
            r->budget_hit = true;
            continue;
        }
        enum churn_err err = churn_train_cv(s->ds, t, CHURN_TRAIN_GBDT, s->cv + N_CANDIDATES,
                                            oof_of(s, i), c->skipped, sizeof(c->skipped));
        if (err == CHURN_EINVAL) /* this shape does not fit this data: the others may */
            continue;
        if (err)
            return churn__train_fail(&s->ctx, err, "%s", c->skipped);
        c->skipped[0] = '\0';
        double score;
        err = select_auc(s, t, CHURN_TRAIN_GBDT, s->cv + N_CANDIDATES, hold_of(s, i),
                         c->holdout_auc, &score);
        if (err == CHURN_EINVAL) { /* too little data in the older cutoffs for this shape */
            snprintf(c->skipped, sizeof(c->skipped), "%s", s->ctx.errbuf);
            continue;
        }
        if (err)
            return err;
        record(s, i, CHURN_TRAIN_GBDT, s->cv + N_CANDIDATES, score);
        if (!s->best_trees || score > r->cand[s->best_trees].select_auc) {
            s->best_trees = i;
            s->oof_gb = oof_of(s, i);
            s->t_gb = hold_of(s, i);
        }
    }
    return CHURN_OK;
}

/* The standard error of candidate @a's selection score minus candidate @b's, into *@se:
 * DeLong's paired error on each holdout time's rows (the two candidates score the same rows,
 * so most of each AUC's own noise cancels), combined as for a mean of independent AUCs. */
static enum churn_err
score_diff_se(struct search *s, size_t a, size_t b, double *se)
{
    double var = 0;
    for (unsigned h = 0; h < s->n_hold; h++) {
        size_t n = holdout_rows(s, h, hold_of(s, a), hold_of(s, b));
        enum churn_err err = churn_metrics_auc_placements(s->p, s->y, n, s->pa);
        if (!err)
            err = churn_metrics_auc_placements(s->q, s->y, n, s->pb);
        if (err)
            return churn__train_fail(&s->ctx, err, "holdout %u: cannot place the scores", h);
        double e = churn_metrics_auc_diff_se(s->pa, s->pb, s->y, n);
        var += e * e;
    }
    *se = sqrt(var) / s->n_hold;
    return CHURN_OK;
}

/* The order in which the one-standard-error rule prefers the candidates that the holdouts
 * cannot tell apart from the best (the grid's trees first, in the grid's order). */
static const size_t prefer[] = {2, 3, 4, 5, 6, 7, 8, BLEND, 1, 0};
_Static_assert(sizeof(prefer) / sizeof(prefer[0]) == N_CANDIDATES, "prefer: every candidate");

/* Whether candidate @c of @r is within one standard error of the best's selection score. */
static bool
within_one_se(const struct churn_select_report *r, const struct churn_select_candidate *c)
{
    return c->ran && r->cand[r->best].select_auc - c->select_auc <= c->se_vs_best;
}

void
churn_select_choose(struct churn_select_report *r, enum churn_select_rule rule)
{
    r->rule = rule;
    r->chosen = r->best;
    if (rule == CHURN_SELECT_BEST || !r->by_newest || r->n_candidates != N_CANDIDATES)
        return;
    bool found = false;
    for (size_t k = 0; k < N_CANDIDATES; k++) {
        size_t i = prefer[k];
        if (!within_one_se(r, &r->cand[i]))
            continue;
        if (!found || r->cand[i].auc_mean > r->cand[r->chosen].auc_mean) /* ONE_SE_CV */
            r->chosen = i;
        found = true;
        if (rule == CHURN_SELECT_ONE_SE)
            return;
    }
}

/* Out of time, every candidate's standard error against the best; then the rule's choice. */
static enum churn_err
choose(struct search *s)
{
    struct churn_select_report *r = &s->out->report;
    for (size_t i = 0; s->by_newest && i < N_CANDIDATES; i++) {
        struct churn_select_candidate *c = &r->cand[i];
        enum churn_err err;
        if (c->ran && i != r->best && (err = score_diff_se(s, r->best, i, &c->se_vs_best)))
            return err;
    }
    if (s->by_newest)
        r->cand[r->best].se_vs_best = 0;
    churn_select_choose(r, s->o->select_rule);
    return CHURN_OK;
}

/* The blend of the logistic regression and the best trees (needs no fit): its weight and CV
 * from the out-of-fold margins, its holdout margins mixed with that weight. */
static enum churn_err
run_blend(struct search *s)
{
    struct churn_select_candidate *c = &s->out->report.cand[BLEND];
    snprintf(c->name, sizeof(c->name), "blend: logistic regression + the best trees");
    c->algo = CHURN_TRAIN_BLEND;
    if (!s->best_trees)
        return CHURN_OK;
    double w;
    enum churn_err err = blend_cv(s, &w);
    if (err)
        return churn__train_fail(&s->ctx, err, "blend: cannot compute metrics");
    c->blend_weight = w;
    mix_margins(s, w);
    double score = s->cv[N_CANDIDATES].auc_mean;
    if (s->by_newest) { /* the holdout margins mixed with the weight CV chose */
        for (size_t q = 0; q < s->ds->n_rows; q++)
            s->t_mix[q] = w * s->t_lr[q] + (1 - w) * s->t_gb[q];
        score = holdout_auc(s, s->t_mix, c->holdout_auc);
    }
    record(s, BLEND, CHURN_TRAIN_BLEND, s->cv + N_CANDIDATES, score);
    s->opts[BLEND] = s->opts[s->best_trees];
    s->opts[BLEND].algo = CHURN_TRAIN_BLEND;
    return CHURN_OK;
}

static enum churn_err
search_run(struct search *s, double *oof)
{
    struct churn_select_result *out = s->out;
    struct churn_select_report *r = &out->report;
    struct churn_train_options *lr = &s->opts[0];
    *lr = *s->o;
    lr->algo = CHURN_TRAIN_LOGREG;
    r->n_candidates = N_CANDIDATES;
    snprintf(r->cand[0].name, sizeof(r->cand[0].name), "logistic regression, l2 %g", lr->l2);
    enum churn_err err = churn_train_cv(s->ds, lr, CHURN_TRAIN_LOGREG, s->cv + N_CANDIDATES,
                                        s->oof_lr, s->ctx.errbuf, s->ctx.errlen);
    if (err)
        return err;
    double score;
    if ((err = select_auc(s, lr, CHURN_TRAIN_LOGREG, s->cv + N_CANDIDATES, s->t_lr,
                          r->cand[0].holdout_auc, &score)))
        return err;
    record(s, 0, CHURN_TRAIN_LOGREG, s->cv + N_CANDIDATES, score);
    if ((err = run_trees(s)) || (err = run_blend(s)) || (err = choose(s)))
        return err;
    size_t k = r->chosen;
    out->algo = r->cand[k].algo;
    out->opts = s->opts[k];
    out->cv_chosen = s->cv[k];
    out->cv_logreg = s->cv[0];
    out->has_cv_gbdt = s->best_trees != 0;
    if (out->has_cv_gbdt)
        out->cv_gbdt = s->cv[s->best_trees];
    out->blend_weight = k == BLEND ? r->cand[BLEND].blend_weight : 0;
    if (oof)
        memcpy(oof, oof_of(s, k), s->ds->n_rows * sizeof(double));
    return CHURN_OK;
}

enum churn_err
churn_train_select(const struct churn_dataset *ds, const struct churn_train_options *opts,
                   struct churn_select_result *out, double *oof, char *errbuf, size_t errlen)
{
    struct churn__tctx ctx = {errbuf, errlen};
    if (opts->folds < 2 || opts->folds > CHURN_TRAIN_MAX_FOLDS)
        return churn__train_fail(&ctx, CHURN_EINVAL, "algorithm auto needs folds 2..%u",
                                 CHURN_TRAIN_MAX_FOLDS);
    if (!(opts->time_budget_s >= 0))
        return churn__train_fail(&ctx, CHURN_EINVAL, "time_budget_s: must be a number >= 0");
    size_t n = ds->n_rows ? ds->n_rows : 1;
    struct churn_select_result *res = churn_calloc(1, sizeof(*res));
    struct search s = {
        .ds = ds,
        .o = opts,
        .out = res,
        .fold = churn_malloc(n * sizeof(unsigned)),
        .p = churn_malloc(n * sizeof(double)),
        .q = churn_malloc(n * sizeof(double)),
        .y = churn_malloc(n * sizeof(double)),
        .pa = churn_malloc(n * sizeof(double)),
        .pb = churn_malloc(n * sizeof(double)),
        .cv = churn_calloc(N_CANDIDATES + 1, sizeof(struct churn_cv_result)),
        .opts = churn_calloc(N_CANDIDATES, sizeof(struct churn_train_options)),
        .oof_all = churn_calloc(N_CANDIDATES * n, sizeof(double)),
        .hold_all = churn_calloc(N_CANDIDATES * n, sizeof(double)),
        .t0 = churn_mono_ns(),
        .ctx = ctx,
    };
    s.budget_t0 = search_clock_s(&s);
    enum churn_err err;
    if (!res || !s.fold || !s.p || !s.q || !s.y || !s.pa || !s.pb || !s.cv || !s.opts ||
        !s.oof_all || !s.hold_all) {
        err = churn__train_fail(&ctx, CHURN_ENOMEM, "out of memory");
        goto out_free;
    }
    s.oof_lr = oof_of(&s, 0);
    s.t_lr = hold_of(&s, 0);
    s.mix = oof_of(&s, BLEND);
    s.t_mix = hold_of(&s, BLEND);
    res->report.budget_s = opts->time_budget_s;
    plan_holdouts(&s);
    res->report.by_newest = s.by_newest;
    res->report.n_holdouts = s.n_hold;
    memcpy(res->report.holdout_time, s.hold, sizeof(s.hold));
    if ((err = churn_train_folds(ds, opts->folds, opts->seed, s.fold, errbuf, errlen)) ||
        (err = search_run(&s, oof)))
        goto out_free;
    res->report.seconds = (double)(churn_mono_ns() - s.t0) / 1e9;
    *out = *res;
out_free:
    churn_free(res);
    churn_free(s.fold);
    churn_free(s.p);
    churn_free(s.q);
    churn_free(s.y);
    churn_free(s.pa);
    churn_free(s.pb);
    churn_free(s.cv);
    churn_free(s.opts);
    churn_free(s.oof_all);
    churn_free(s.hold_all);
    return err;
}

enum churn_err
churn__blend_doc(json_t *lr, json_t *gbdt, double w_lr, json_t **doc, struct churn__tctx *ctx)
{
    json_t *feats = json_deep_copy(json_object_get(gbdt, "features"));
    json_t *d = json_pack("{sssos{sfs[{sfso}{sfso}]}}", "kind", "blend", "features", feats, "blend",
                          "intercept", 0.0, "members", "weight", w_lr, "model", lr, "weight",
                          1.0 - w_lr, "model", gbdt);
    if (!d)
        return churn__train_fail(ctx, CHURN_ENOMEM, "out of memory (blend document)");
    *doc = d;
    return CHURN_OK;
}
