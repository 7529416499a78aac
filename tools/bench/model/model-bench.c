/*
 * model-bench.c - measures the model module and the trainers and prints JSON.
 *
 *   model-bench cv --data FILE --label COL [--positive V] [--algo auto|lr|gbdt] [--folds K]
 *                  [--trees N] [--depth D] [--eta X] [--ignore a,b] [--threads T]
 *                  [--monotone NAME=+1,NAME=-1|catalogue]
 *       stratified k-fold CV figures (AUC, PR-AUC, log loss, Brier: mean and sd) and time;
 *       with --monotone, each algorithm also with the constraints on the same folds, and the
 *       time ratio constrained / unconstrained
 *   model-bench speed --data FILE --label COL [--positive V] [--rows N] [--seconds S]
 *       tiles the data set to N rows (default 100,000), times the training of logistic
 *       regression and of 100 trees of depth 6 on 2 threads, then single-row prediction
 *       throughput on one core with and without contributions
 *   model-bench export --data FILE --label COL [--positive V] [--rows N] --out FILE
 *       the tiled, encoded matrix (category codes, empty for missing; a categorical column's
 *       name is prefixed "c:") with the label and churnd's fold of each row last, for the
 *       side-by-side xgboost and sklearn script in this directory
 *   model-bench select --data FILE --label COL [--positive V] [--budget S]
 *       the auto search (churn_train_select()) on the whole set: every candidate's CV figures,
 *       which ran and which was chosen
 *   model-bench auto --data FILE --label COL [--positive V] [--folds K] [--budget S]
 *       churnd's `--algo auto` as a whole, measured the way the anchors are: for each of the
 *       K folds of churn_train_folds() (the folds `export` writes), churn_train() with the
 *       search, calibration and final fit on the other folds, scored on that fold; per-fold
 *       AUC, PR-AUC, log loss, Brier (mean and sd) and the total training time
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/model.h"
#include "churn/train.h"

struct args {
    const char *cmd, *data, *label, *positive, *out, *algo, *monotone;
    char *ignore_buf;
    const char *ignore[64];
    size_t n_ignore;
    long folds, trees, depth, rows, threads;
    double eta, seconds, budget;
};

static int
usage(void)
{
    fprintf(stderr,
            "usage: model-bench cv|speed|export|select|auto --data FILE --label COL [options]\n");
    return 2;
}

static int
parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int
parse_args(int argc, char **argv, struct args *a)
{
    *a = (struct args){.folds = 5,
                       .trees = 100,
                       .depth = 6,
                       .rows = 100000,
                       .threads = 2,
                       .eta = 0.1,
                       .seconds = 1.0,
                       .budget = 120,
                       .algo = "auto"};
    if (argc < 2)
        return -1;
    a->cmd = argv[1];
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc)
            return -1;
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--data"))
            a->data = v;
        else if (!strcmp(k, "--label"))
            a->label = v;
        else if (!strcmp(k, "--positive"))
            a->positive = v;
        else if (!strcmp(k, "--out"))
            a->out = v;
        else if (!strcmp(k, "--algo"))
            a->algo = v;
        else if (!strcmp(k, "--monotone"))
            a->monotone = v;
        else if (!strcmp(k, "--folds") && !parse_long(v, 2, 20, &a->folds))
            continue;
        else if (!strcmp(k, "--trees") && !parse_long(v, 1, 10000, &a->trees))
            continue;
        else if (!strcmp(k, "--depth") && !parse_long(v, 1, 16, &a->depth))
            continue;
        else if (!strcmp(k, "--rows") && !parse_long(v, 1, 100000000, &a->rows))
            continue;
        else if (!strcmp(k, "--threads") && !parse_long(v, 1, 16, &a->threads))
            continue;
        else if (!strcmp(k, "--eta"))
            a->eta = strtod(v, NULL);
        else if (!strcmp(k, "--seconds"))
            a->seconds = strtod(v, NULL);
        else if (!strcmp(k, "--budget"))
            a->budget = strtod(v, NULL);
        else if (!strcmp(k, "--ignore")) {
            a->ignore_buf = churn_strdup(v);
            for (char *p = a->ignore_buf; p && *p && a->n_ignore < 64;) {
                a->ignore[a->n_ignore++] = p;
                char *c = strchr(p, ',');
                if (!c)
                    break;
                *c = '\0';
                p = c + 1;
            }
        } else
            return -1;
    }
    return a->data && a->label ? 0 : -1;
}

static struct churn_dataset *
load(const struct args *a)
{
    struct churn_dataset_options o = {
        .label = a->label, .positive = a->positive, .ignore = a->ignore, .n_ignore = a->n_ignore};
    struct churn_dataset *ds = NULL;
    char err[CHURN_TRAIN_ERRMSG];
    if (churn_dataset_load_csv(a->data, &o, &ds, err, sizeof err)) {
        fprintf(stderr, "model-bench: %s\n", err);
        return NULL;
    }
    return ds;
}

/* A copy of @ds with its rows repeated until it has @rows rows (for timing only). */
static struct churn_dataset *
tile(const struct churn_dataset *ds, size_t rows)
{
    struct churn_dataset *t = churn_calloc(1, sizeof(*t));
    *t = *ds;
    t->n_rows = rows;
    t->group = NULL; /* timing only: tiled rows need no groups or times */
    t->time = NULL;
    t->cols = churn_calloc(ds->n_features, sizeof(double *));
    t->y = churn_malloc(rows * sizeof(double));
    t->n_positive = 0;
    for (size_t f = 0; f < ds->n_features; f++) {
        t->cols[f] = churn_malloc(rows * sizeof(double));
        for (size_t r = 0; r < rows; r++)
            t->cols[f][r] = ds->cols[f][r % ds->n_rows];
    }
    for (size_t r = 0; r < rows; r++) {
        t->y[r] = ds->y[r % ds->n_rows];
        t->n_positive += t->y[r] > 0;
    }
    return t;
}

static void
untile(struct churn_dataset *t)
{
    for (size_t f = 0; f < t->n_features; f++)
        churn_free(t->cols[f]);
    churn_free(t->cols);
    churn_free(t->y);
    churn_free(t->group);
    churn_free(t->time);
    churn_free(t);
}

static void
print_cv(const char *name, const struct churn_cv_result *r)
{
    printf("  \"%s\": {\"auc\": %.4f, \"auc_sd\": %.4f, \"pr_auc\": %.4f, \"pr_auc_sd\": %.4f, "
           "\"log_loss\": %.4f, \"brier\": %.4f, \"brier_sd\": %.4f, \"seconds\": %.3f}",
           name, r->auc_mean, r->auc_sd, r->pr_auc_mean, r->pr_auc_sd, r->log_loss_mean,
           r->brier_mean, r->brier_sd, r->seconds);
}

/* One algorithm's CV, and with @mono (not NULL) the same again with the constraints on the
 * same folds, then the time ratio. */
static int
cv_pair(const struct churn_dataset *ds, struct churn_train_options *o, enum churn_train_algo algo,
        const signed char *mono)
{
    static int first = 1;
    char err[CHURN_TRAIN_ERRMSG], name[64];
    struct churn_cv_result r[2];
    for (int c = 0; c < (mono ? 2 : 1); c++) {
        o->monotone = c ? mono : NULL;
        o->n_monotone = c ? ds->n_features : 0;
        if (churn_train_cv(ds, o, algo, &r[c], NULL, err, sizeof err)) {
            fprintf(stderr, "model-bench: %s\n", err);
            return 1;
        }
        snprintf(name, sizeof name, "%s%s", churn_train_algo_name(algo), c ? "_monotone" : "");
        printf("%s", first ? "" : ",\n");
        print_cv(name, &r[c]);
        first = 0;
    }
    if (mono)
        printf(",\n  \"%s_monotone_time_ratio\": %.3f", churn_train_algo_name(algo),
               r[1].seconds / r[0].seconds);
    return 0;
}

static int
cmd_cv(const struct args *a)
{
    struct churn_dataset *ds = load(a);
    if (!ds)
        return 1;
    struct churn_train_options o;
    churn_train_options_default(&o);
    o.folds = (unsigned)a->folds;
    o.n_trees = (unsigned)a->trees;
    o.max_depth = (unsigned)a->depth;
    o.learning_rate = a->eta;
    o.threads = (unsigned)a->threads;
    char err[CHURN_TRAIN_ERRMSG];
    signed char *mono = churn_malloc(ds->n_features ? ds->n_features : 1);
    if (!mono ||
        (a->monotone && churn_train_parse_monotone(ds, a->monotone, mono, err, sizeof err))) {
        fprintf(stderr, "model-bench: %s\n", mono ? err : "out of memory");
        churn_free(mono);
        churn_dataset_free(ds);
        return mono ? 2 : 1;
    }
    printf("{\n  \"data\": \"%s\", \"rows\": %zu, \"positives\": %zu, \"features\": %zu, "
           "\"folds\": %ld,\n",
           a->data, ds->n_rows, ds->n_positive, ds->n_features, a->folds);
    int rc = 0;
    for (int algo = CHURN_TRAIN_LOGREG; algo <= CHURN_TRAIN_GBDT && !rc; algo++) {
        if (strcmp(a->algo, "auto") && strcmp(a->algo, algo == CHURN_TRAIN_LOGREG ? "lr" : "gbdt"))
            continue;
        rc = cv_pair(ds, &o, (enum churn_train_algo)algo, a->monotone ? mono : NULL);
    }
    printf("\n}\n");
    churn_free(mono);
    churn_dataset_free(ds);
    return rc;
}

/* CPU time of this thread: throughput per core even when other processes share the machine */
static int64_t
thread_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double
time_predict(struct churn_model *m, const double *rows, size_t n, size_t nf, bool contrib,
             double seconds, double *sink)
{
    double *c = churn_malloc(nf * sizeof(double));
    size_t done = 0;
    int64_t t0 = thread_ns(), t1;
    do {
        for (size_t r = 0; r < n; r++) {
            const double *x = &rows[(r % n) * nf];
            if (contrib) {
                double bias;
                *sink += churn_model_contributions(m, x, c, &bias) + c[0];
            } else {
                struct churn_model_prediction p;
                churn_model_predict(m, x, &p);
                *sink += p.probability;
            }
        }
        done += n;
        t1 = thread_ns();
    } while ((double)(t1 - t0) < seconds * 1e9);
    churn_free(c);
    return (double)done / ((double)(t1 - t0) / 1e9);
}

static int
cmd_speed(const struct args *a)
{
    struct churn_dataset *base = load(a);
    if (!base)
        return 1;
    struct churn_dataset *ds = tile(base, (size_t)a->rows);
    struct churn_train_options o;
    churn_train_options_default(&o);
    o.folds = 0;
    o.calibration = CHURN_CALIBRATION_NONE;
    o.threads = (unsigned)a->threads;
    o.n_trees = (unsigned)a->trees;
    o.max_depth = (unsigned)a->depth;
    char err[CHURN_TRAIN_ERRMSG];
    struct churn_model *lr = NULL, *gb = NULL;
    o.algo = CHURN_TRAIN_LOGREG;
    int64_t t0 = churn_mono_ns();
    if (churn_train(ds, &o, &lr, NULL, err, sizeof err))
        goto out_err;
    double lr_s = (double)(churn_mono_ns() - t0) / 1e9;
    o.algo = CHURN_TRAIN_GBDT;
    t0 = churn_mono_ns();
    if (churn_train(ds, &o, &gb, NULL, err, sizeof err))
        goto out_err;
    double gb_s = (double)(churn_mono_ns() - t0) / 1e9;
    size_t nf = ds->n_features, n = base->n_rows;
    double *rows = churn_malloc(n * nf * sizeof(double));
    for (size_t r = 0; r < n; r++)
        churn_dataset_row(base, r, &rows[r * nf]);
    double sink = 0;
    double lr_p = time_predict(lr, rows, n, nf, false, a->seconds, &sink);
    double lr_c = time_predict(lr, rows, n, nf, true, a->seconds, &sink);
    double gb_p = time_predict(gb, rows, n, nf, false, a->seconds, &sink);
    double gb_c = time_predict(gb, rows, n, nf, true, a->seconds, &sink);
    printf("{\n  \"data\": \"%s\", \"train_rows\": %zu, \"features\": %zu, \"threads\": %ld,\n"
           "  \"train_seconds\": {\"logistic_regression\": %.3f, \"gbdt\": %.3f},\n"
           "  \"gbdt\": {\"trees\": %zu, \"max_depth\": %ld},\n"
           "  \"predict_rows_per_s_one_core\": {\"logistic_regression\": %.0f, "
           "\"logistic_regression_contributions\": %.0f, \"gbdt\": %.0f, "
           "\"gbdt_contributions\": %.0f},\n  \"checksum\": %.3f\n}\n",
           a->data, ds->n_rows, nf, a->threads, lr_s, gb_s, churn_model_info(gb)->n_trees, a->depth,
           lr_p, lr_c, gb_p, gb_c, fmod(sink, 1000.0));
    churn_free(rows);
    churn_model_unref(lr);
    churn_model_unref(gb);
    untile(ds);
    churn_dataset_free(base);
    return 0;
out_err:
    fprintf(stderr, "model-bench: %s\n", err);
    churn_model_unref(lr);
    untile(ds);
    churn_dataset_free(base);
    return 1;
}

static int
cmd_export(const struct args *a)
{
    if (!a->out)
        return usage();
    struct churn_dataset *base = load(a);
    if (!base)
        return 1;
    FILE *f = fopen(a->out, "w");
    if (!f) {
        fprintf(stderr, "model-bench: %s: %s\n", a->out, strerror(errno));
        churn_dataset_free(base);
        return 1;
    }
    /* the folds churn_train_cv() uses (default seed), for rows of the untiled set */
    unsigned *fold = churn_malloc(base->n_rows * sizeof(unsigned));
    char err[CHURN_TRAIN_ERRMSG];
    struct churn_train_options o;
    churn_train_options_default(&o);
    if (!fold || churn_train_folds(base, (unsigned)a->folds, o.seed, fold, err, sizeof err)) {
        fprintf(stderr, "model-bench: %s\n", fold ? err : "out of memory");
        churn_free(fold);
        fclose(f);
        churn_dataset_free(base);
        return 1;
    }
    for (size_t k = 0; k < base->n_features; k++) /* "c:" marks a categorical column */
        fprintf(f, "%s%s,", base->features[k].type == CHURN_FEATURE_CATEGORICAL ? "c:" : "",
                base->features[k].name);
    fprintf(f, "label,fold\n");
    for (size_t i = 0; i < (size_t)a->rows; i++) {
        size_t r = i % base->n_rows;
        for (size_t k = 0; k < base->n_features; k++) {
            double v = base->cols[k][r];
            if (isnan(v))
                fputc(',', f);
            else
                fprintf(f, "%.17g,", v);
        }
        fprintf(f, "%d,%u\n", base->y[r] > 0, fold[r]);
    }
    churn_free(fold);
    fclose(f);
    churn_dataset_free(base);
    return 0;
}

static int
cmd_select(const struct args *a)
{
    struct churn_dataset *ds = load(a);
    if (!ds)
        return 1;
    struct churn_train_options o;
    churn_train_options_default(&o);
    o.folds = (unsigned)a->folds;
    o.threads = (unsigned)a->threads;
    o.time_budget_s = a->budget;
    char err[CHURN_TRAIN_ERRMSG];
    struct churn_select_result *r = churn_malloc(sizeof(*r));
    if (!r || churn_train_select(ds, &o, r, NULL, err, sizeof err)) {
        fprintf(stderr, "model-bench: %s\n", r ? err : "out of memory");
        churn_free(r);
        churn_dataset_free(ds);
        return 1;
    }
    const struct churn_select_report *s = &r->report;
    printf("{\n  \"data\": \"%s\", \"rows\": %zu, \"folds\": %ld, \"budget_s\": %g, "
           "\"budget_hit\": %s, \"seconds\": %.3f,\n  \"chosen\": %zu, \"candidates\": [\n",
           a->data, ds->n_rows, a->folds, s->budget_s, s->budget_hit ? "true" : "false", s->seconds,
           s->chosen);
    for (size_t i = 0; i < s->n_candidates; i++) {
        const struct churn_select_candidate *c = &s->cand[i];
        printf("   {\"name\": \"%s\", \"ran\": %s, \"auc\": %.4f, \"auc_sd\": %.4f, "
               "\"pr_auc\": %.4f, \"log_loss\": %.4f, \"blend_weight\": %.2f, "
               "\"seconds\": %.3f}%s\n",
               c->name, c->ran ? "true" : "false", c->auc_mean, c->auc_sd, c->pr_auc_mean,
               c->log_loss_mean, c->blend_weight, c->seconds, i + 1 < s->n_candidates ? "," : "");
    }
    printf("  ]\n}\n");
    churn_free(r);
    churn_dataset_free(ds);
    return 0;
}

/* A view of @ds with the rows whose fold is (@in ? == : !=) @f; columns are copied. */
static struct churn_dataset *
subset(const struct churn_dataset *ds, const unsigned *fold, unsigned f, bool in)
{
    struct churn_dataset *t = churn_calloc(1, sizeof(*t));
    *t = *ds;
    t->n_rows = 0;
    t->n_positive = 0;
    t->cols = churn_calloc(ds->n_features, sizeof(double *));
    t->y = churn_malloc(ds->n_rows * sizeof(double));
    t->group = ds->group ? churn_malloc(ds->n_rows * sizeof(uint64_t)) : NULL;
    t->time = ds->time ? churn_malloc(ds->n_rows * sizeof(double)) : NULL;
    for (size_t k = 0; k < ds->n_features; k++)
        t->cols[k] = churn_malloc(ds->n_rows * sizeof(double));
    for (size_t r = 0; r < ds->n_rows; r++) {
        if ((fold[r] == f) != in)
            continue;
        for (size_t k = 0; k < ds->n_features; k++)
            t->cols[k][t->n_rows] = ds->cols[k][r];
        t->y[t->n_rows] = ds->y[r];
        if (t->group)
            t->group[t->n_rows] = ds->group[r];
        if (t->time)
            t->time[t->n_rows] = ds->time[r];
        t->n_positive += ds->y[r] > 0;
        t->n_rows++;
    }
    return t;
}

/* Probabilities of @model for every row of @ds (features bound by name). */
static int
predict_all(struct churn_model *model, const struct churn_dataset *ds, double *p)
{
    const char **names = churn_malloc(ds->n_features * sizeof(char *));
    double *row = churn_malloc(ds->n_features * sizeof(double));
    double *x = churn_malloc((churn_model_n_features(model) + 1) * sizeof(double));
    struct churn_model_binding *b = NULL;
    char err[CHURN_MODEL_ERRMSG];
    for (size_t k = 0; k < ds->n_features; k++)
        names[k] = ds->features[k].name;
    int rc = churn_model_bind(model, names, ds->n_features, &b, err, sizeof err) ? -1 : 0;
    for (size_t r = 0; rc == 0 && r < ds->n_rows; r++) {
        struct churn_model_prediction pr;
        for (size_t k = 0; k < ds->n_features; k++)
            row[k] = ds->cols[k][r];
        churn_model_binding_apply(b, row, x);
        churn_model_predict(model, x, &pr);
        p[r] = pr.probability;
    }
    if (rc)
        fprintf(stderr, "model-bench: %s\n", err);
    churn_model_binding_free(b);
    churn_free(names);
    churn_free(row);
    churn_free(x);
    return rc;
}

static int
cmd_auto(const struct args *a)
{
    struct churn_dataset *ds = load(a);
    if (!ds)
        return 1;
    struct churn_train_options o;
    churn_train_options_default(&o);
    o.threads = (unsigned)a->threads;
    o.time_budget_s = a->budget;
    unsigned k = (unsigned)a->folds, *fold = churn_malloc(ds->n_rows * sizeof(unsigned));
    struct churn_cv_result *cv = churn_calloc(1, sizeof(*cv));
    char err[CHURN_TRAIN_ERRMSG];
    int rc = churn_train_folds(ds, k, o.seed, fold, err, sizeof err) ? 1 : 0;
    printf("{\n  \"data\": \"%s\", \"rows\": %zu, \"folds\": %u, \"per_fold\": [", a->data,
           ds->n_rows, k);
    int64_t t0 = churn_mono_ns();
    double train_s = 0;
    cv->folds = k;
    for (unsigned f = 0; rc == 0 && f < k; f++) {
        struct churn_dataset *tr = subset(ds, fold, f, false), *te = subset(ds, fold, f, true);
        struct churn_model *m = NULL;
        struct churn_train_report *rep = churn_malloc(sizeof(*rep));
        double *p = churn_malloc(te->n_rows * sizeof(double));
        int64_t t1 = churn_mono_ns();
        if (churn_train(tr, &o, &m, rep, err, sizeof err) || predict_all(m, te, p) ||
            churn_metrics_compute(p, te->y, te->n_rows, 0.5, &cv->fold[f])) {
            rc = 1;
        } else {
            train_s += (double)(churn_mono_ns() - t1) / 1e9;
            printf("%s\n   {\"auc\": %.4f, \"chosen\": \"%s\", \"ran\": %zu}", f ? "," : "",
                   cv->fold[f].auc, rep->select.cand[rep->select.chosen].name, rep->select.n_ran);
        }
        churn_model_unref(m);
        churn_free(rep);
        churn_free(p);
        untile(tr);
        untile(te);
    }
    if (rc) {
        fprintf(stderr, "model-bench: %s\n", err);
    } else {
        churn_cv_summarise(cv);
        printf("\n  ],\n  \"auc\": %.4f, \"auc_sd\": %.4f, \"pr_auc\": %.4f, \"log_loss\": "
               "%.4f, \"brier\": %.4f, \"train_seconds\": %.3f, \"seconds\": %.3f\n}\n",
               cv->auc_mean, cv->auc_sd, cv->pr_auc_mean, cv->log_loss_mean, cv->brier_mean,
               train_s, (double)(churn_mono_ns() - t0) / 1e9);
    }
    churn_free(fold);
    churn_free(cv);
    churn_dataset_free(ds);
    return rc;
}

int
main(int argc, char **argv)
{
    struct args a;
    if (parse_args(argc, argv, &a))
        return usage();
    int rc;
    if (!strcmp(a.cmd, "cv"))
        rc = cmd_cv(&a);
    else if (!strcmp(a.cmd, "speed"))
        rc = cmd_speed(&a);
    else if (!strcmp(a.cmd, "export"))
        rc = cmd_export(&a);
    else if (!strcmp(a.cmd, "select"))
        rc = cmd_select(&a);
    else if (!strcmp(a.cmd, "auto"))
        rc = cmd_auto(&a);
    else
        rc = usage();
    churn_free(a.ignore_buf);
    return rc;
}
