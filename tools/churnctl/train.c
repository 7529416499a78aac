/*
 * train.c - `churnctl train` and `churnctl cv`: build a training set (a CSV file, or the
 * store, point-in-time correct: features as of several cutoffs, the label from what
 * happened in the horizon after each), cross-validate, train and write the model file.
 * Prints a summary, or JSON with --json.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/buf.h"
#include "churn/clock.h"
#include "churn/features.h"
#include "churn/model.h"
#include "churn/store.h"
#include "churn/train.h"
#include "churn/trainset.h"
#include "ctl.h"

static void
train_usage(FILE *out)
{
    fputs("usage: churnctl train|cv|eval SOURCE [options]\n"
          "source (one of):\n"
          "  --data FILE.csv --label COL [--positive VALUE] [--ignore COL,COL]\n"
          "  --store DIR [--horizon-days 90] [--cutoffs N|0] [--step-days 30]\n"
          "              [--inactivity-days 0] [--as-of UNIX_MS]\n"
          "      --as-of T: the data ends with T's UTC day (T stands for its last\n"
          "      millisecond, as in backtest) [now: with yesterday]; cutoffs at day ends, the\n"
          "      newest one horizon days before that, then step days earlier each\n"
          "      (docs/MODELS.md);\n"
          "      --cutoffs 0 (auto, the default): every cutoff with 90 days of history\n"
          "      before it, at most 6;\n"
          "      label = an explicit churn within the horizon after the cutoff (or, with\n"
          "      --inactivity-days N, N days without activity)\n"
          "options:\n"
          "  --out MODEL.json       where train writes the model (atomically)\n"
          "  --model MODEL.json     eval: score the data with this model and print every metric\n"
          "  --threshold P          decision threshold for the confusion matrix [0.5]\n"
          "  --algo auto|logreg|gbdt  [auto: the best cross-validated AUC of a small grid of\n"
          "                         trees, the logistic regression and their blend]\n"
          "  --time-budget-s S      auto: start no candidate after S seconds of the search's own\n"
          "                         work (CPU time over threads) [120; 0: no limit]\n"
          "  --select-rule best|one-se|one-se-cv  auto, ranked out of time: the best holdout\n"
          "                         AUC; the first grid candidate within one standard error of\n"
          "                         it; or the best CV AUC within one standard error [one-se]\n"
          "  --folds K [5]  --seed N  --trees N [200]  --depth N [6]  --learning-rate X\n"
          "  --leaves N [2^depth]  --min-child-weight X [1]  --early-stopping ROUNDS [0]\n"
          "  --calibration none|platt|isotonic [platt]  --l2 X  --balanced\n"
          "  --monotone SPEC        NAME=+1|-1|0,... or catalogue (the features' declared\n"
          "                         directions), or none [--store: catalogue; --data: none]\n"
          "  --json                 machine-readable output\n",
          out);
}

int
churnctl_train_parse(int argc, char **argv, struct train_args *a)
{
    memset(a, 0, sizeof(*a));
    churn_train_options_default(&a->opts);
    a->horizon_days = 90;
    a->cutoffs = 0; /* auto (churn/trainset.h) */
    a->step_days = 30;
    for (int i = 0; i < argc; i++) {
        const char *k = argv[i];
        if (strcmp(k, "--help") == 0) {
            train_usage(stdout);
            return -1;
        }
        if (strcmp(k, "--json") == 0) {
            a->json = true;
            continue;
        }
        if (strcmp(k, "--balanced") == 0) {
            a->opts.balanced = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "churnctl: %s needs a value\n", k);
            return EXIT_USAGE;
        }
        const char *v = argv[++i];
        char *end = NULL;
        double num = strtod(v, &end);
        bool is_num = end && *end == '\0' && *v;
        if (strcmp(k, "--data") == 0)
            a->data = v;
        else if (strcmp(k, "--label") == 0)
            a->label = v;
        else if (strcmp(k, "--positive") == 0)
            a->positive = v;
        else if (strcmp(k, "--ignore") == 0)
            a->ignore = v;
        else if (strcmp(k, "--monotone") == 0)
            a->monotone = v;
        else if (strcmp(k, "--store") == 0)
            a->store = v;
        else if (strcmp(k, "--out") == 0)
            a->out = v;
        else if (strcmp(k, "--model") == 0)
            a->model = v;
        else if (strcmp(k, "--algo") == 0) {
            if (strcmp(v, "auto") == 0)
                a->algo = CHURN_TRAIN_AUTO;
            else if (strcmp(v, "logreg") == 0 || strcmp(v, "logistic_regression") == 0)
                a->algo = CHURN_TRAIN_LOGREG;
            else if (strcmp(v, "gbdt") == 0)
                a->algo = CHURN_TRAIN_GBDT;
            else {
                fprintf(stderr, "churnctl: --algo: '%s' is not auto, logreg or gbdt\n", v);
                return EXIT_USAGE;
            }
        } else if (strcmp(k, "--select-rule") == 0) {
            if (strcmp(v, "best") == 0)
                a->opts.select_rule = CHURN_SELECT_BEST;
            else if (strcmp(v, "one-se") == 0)
                a->opts.select_rule = CHURN_SELECT_ONE_SE;
            else if (strcmp(v, "one-se-cv") == 0)
                a->opts.select_rule = CHURN_SELECT_ONE_SE_CV;
            else {
                fprintf(stderr, "churnctl: --select-rule: '%s' is not best, one-se or one-se-cv\n",
                        v);
                return EXIT_USAGE;
            }
        } else if (strcmp(k, "--calibration") == 0) {
            if (strcmp(v, "none") == 0)
                a->opts.calibration = CHURN_CALIBRATION_NONE;
            else if (strcmp(v, "platt") == 0)
                a->opts.calibration = CHURN_CALIBRATION_PLATT;
            else if (strcmp(v, "isotonic") == 0)
                a->opts.calibration = CHURN_CALIBRATION_ISOTONIC;
            else {
                fprintf(stderr, "churnctl: --calibration: '%s' is not none, platt or isotonic\n",
                        v);
                return EXIT_USAGE;
            }
        } else if (!is_num) {
            fprintf(stderr, "churnctl: %s: '%s' is not a number (or an unknown option)\n", k, v);
            return EXIT_USAGE;
        } else if (strcmp(k, "--folds") == 0)
            a->opts.folds = (unsigned)num;
        else if (strcmp(k, "--seed") == 0)
            a->opts.seed = (uint64_t)num;
        else if (strcmp(k, "--trees") == 0)
            a->opts.n_trees = (unsigned)num;
        else if (strcmp(k, "--depth") == 0)
            a->opts.max_depth = (unsigned)num;
        else if (strcmp(k, "--leaves") == 0)
            a->opts.max_leaves = (unsigned)num;
        else if (strcmp(k, "--min-child-weight") == 0)
            a->opts.min_child_weight = num;
        else if (strcmp(k, "--early-stopping") == 0)
            a->opts.early_stopping = (unsigned)num;
        else if (strcmp(k, "--time-budget-s") == 0) {
            if (!(num >= 0) || !isfinite(num)) {
                fprintf(stderr, "churnctl: --time-budget-s: '%s' is not a number of seconds >= 0\n",
                        v);
                return EXIT_USAGE;
            }
            a->opts.time_budget_s = num;
        } else if (strcmp(k, "--learning-rate") == 0)
            a->opts.learning_rate = num;
        else if (strcmp(k, "--l2") == 0)
            a->opts.l2 = num;
        else if (strcmp(k, "--threshold") == 0)
            a->opts.threshold = num;
        else if (strcmp(k, "--horizon-days") == 0)
            a->horizon_days = (int)num;
        else if (strcmp(k, "--cutoffs") == 0)
            a->cutoffs = (int)num;
        else if (strcmp(k, "--step-days") == 0)
            a->step_days = (int)num;
        else if (strcmp(k, "--inactivity-days") == 0)
            a->inactivity_days = (int)num;
        else if (strcmp(k, "--as-of") == 0)
            a->as_of_ms = (int64_t)num;
        else {
            fprintf(stderr, "churnctl: unknown option '%s' (see churnctl train --help)\n", k);
            return EXIT_USAGE;
        }
    }
    a->opts.algo = a->algo;
    if (!a->data == !a->store) {
        fprintf(stderr, "churnctl: give either --data FILE.csv --label COL or --store DIR\n");
        return EXIT_USAGE;
    }
    if (a->data && !a->label) {
        fprintf(stderr, "churnctl: --data needs --label COLUMN\n");
        return EXIT_USAGE;
    }
    if (a->horizon_days < 1 || a->horizon_days > 365 || a->cutoffs < 0 || a->cutoffs > 24 ||
        a->step_days < 1 || a->inactivity_days < 0 || a->inactivity_days > 365) {
        fprintf(stderr, "churnctl: --horizon-days 1..365, --cutoffs 0..24, --step-days >= 1, "
                        "--inactivity-days 0..365\n");
        return EXIT_USAGE;
    }
    return 0;
}

int
churnctl_open_store(const char *dir, struct churn_store **out)
{
    struct churn_store_options so;
    churn_store_options_init(&so);
    so.read_only = true;
    if (churn_store_open(dir, &so, out) != CHURN_OK) {
        fprintf(stderr, "churnctl: store %s: %s\n", dir, churn_store_last_error());
        return EXIT_TRANSPORT;
    }
    return 0;
}

int
churnctl_monotone(struct train_args *a, const struct churn_dataset *ds, signed char **out)
{
    const char *spec = a->monotone ? a->monotone : a->store ? "catalogue" : NULL;
    *out = NULL;
    if (!spec || strcmp(spec, "none") == 0)
        return 0;
    signed char *m = calloc(ds->n_features + 1, 1);
    char err[512];
    if (!m) {
        fprintf(stderr, "churnctl: out of memory\n");
        return EXIT_TRANSPORT;
    }
    if (churn_train_parse_monotone(ds, spec, m, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: --monotone: %s\n", err);
        free(m);
        return EXIT_USAGE;
    }
    a->opts.monotone = m;
    a->opts.n_monotone = ds->n_features;
    *out = m;
    return 0;
}

/* ---- training set from the store ------------------------------------------------------- */

/*
 * The end of the data a training set "as of T" learns from, for train and backtest --train
 * alike (docs/MODELS.md, "One feature function, one as-of rule"): T stands for the last
 * millisecond of its UTC day, so the data reaches through T's day, the newest cutoff is T's
 * day - H and its labels end with T's day. 0 (no --as-of): now, whose day is not over, so
 * the newest labels end with yesterday (churn_trainset_from_store()).
 */
static int64_t
trainset_until(int64_t as_of_ms)
{
    return as_of_ms ? churn_features_day_end(as_of_ms) + 1 : 0;
}

/* The cutoffs of @rep, those used and those skipped, as JSON (new reference). */
static json_t *
trainset_json(int64_t as_of_ms, int64_t until_ms, const struct churn_trainset_report *rep)
{
    json_t *j = json_object(), *used = json_array(), *skipped = json_array();
    json_object_set_new(j, "as_of_ms", as_of_ms ? json_integer(as_of_ms) : json_null());
    json_object_set_new(j, "observed_until_ms", until_ms ? json_integer(until_ms) : json_null());
    for (int c = 0; c < rep->n_cutoffs; c++)
        json_array_append_new(rep->skipped[c] ? skipped : used, json_integer(rep->cutoff_ms[c]));
    json_object_set_new(j, "cutoffs_ms", used);
    json_object_set_new(j, "skipped_cutoffs_ms", skipped);
    return j;
}

/* The cutoffs of @rep on stderr. */
static void
print_trainset(const struct train_args *a, const struct churn_trainset_report *rep)
{
    fprintf(stderr, "churnctl: training set from %s: %zu rows (%zu churned) of %zu customers\n",
            a->store, rep->rows, rep->positives, rep->customers);
    for (int c = 0; c < rep->n_cutoffs; c++) {
        char when[40];
        churn_format_time_ms(rep->cutoff_ms[c], when, sizeof(when));
        if (rep->skipped[c])
            fprintf(stderr, "  cutoff %s: skipped (less than %d days of history before it)\n", when,
                    CHURN_TRAINSET_MIN_HISTORY_DAYS);
        else
            fprintf(stderr, "  cutoff %s: %zu rows, %zu churned within %d days (%.1f%%)\n", when,
                    rep->rows_at[c], rep->positives_at[c], a->horizon_days,
                    rep->rows_at[c] ? 100.0 * (double)rep->positives_at[c] / (double)rep->rows_at[c]
                                    : 0.0);
    }
}

int
churnctl_trainset(const struct train_args *a, struct churn_store *store, int64_t as_of_ms,
                  struct churn_dataset **ds, json_t **summary)
{
    int64_t until = trainset_until(as_of_ms);
    struct churn_trainset_options o = {.observed_until_ms = until,
                                       .horizon_days = a->horizon_days,
                                       .cutoffs = a->cutoffs,
                                       .step_days = a->step_days,
                                       .inactivity_days = a->inactivity_days};
    struct churn_trainset_report rep;
    char err[1024];
    enum churn_err e = churn_trainset_from_store(store, &o, ds, &rep, err, sizeof(err));
    if (e) {
        fprintf(stderr, "churnctl: %s: %s\n", a->store, err);
        return e == CHURN_EINVAL ? EXIT_USAGE : EXIT_TRANSPORT;
    }
    print_trainset(a, &rep);
    if (summary)
        *summary = trainset_json(as_of_ms, until, &rep);
    return 0;
}

/* ---- output ----------------------------------------------------------------------------- */

json_t *
churnctl_metrics_json(const struct churn_metrics *m)
{
    json_t *j = json_object();
    json_object_set_new(j, "rows", json_integer((json_int_t)m->n));
    json_object_set_new(j, "positives", json_integer((json_int_t)m->n_positive));
    json_object_set_new(j, "auc", json_real(m->auc));
    json_object_set_new(j, "pr_auc", json_real(m->pr_auc));
    json_object_set_new(j, "log_loss", json_real(m->log_loss));
    json_object_set_new(j, "brier", json_real(m->brier));
    json_t *cap = json_array(), *lift = json_array();
    for (int d = 0; d < 10; d++) {
        json_array_append_new(cap, json_real(m->decile_capture[d]));
        json_array_append_new(lift, json_real(m->decile_lift[d]));
    }
    json_object_set_new(j, "decile_capture", cap);
    json_object_set_new(j, "decile_lift", lift);
    const struct churn_confusion *cs[2] = {&m->at_threshold, &m->best_f1};
    const char *names[2] = {"at_threshold", "best_f1"};
    for (int k = 0; k < 2; k++) {
        const struct churn_confusion *c = cs[k];
        json_object_set_new(j, names[k],
                            json_pack("{s:f,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:f}", "threshold",
                                      c->threshold, "tp", (json_int_t)c->tp, "fp",
                                      (json_int_t)c->fp, "tn", (json_int_t)c->tn, "fn",
                                      (json_int_t)c->fn, "accuracy", c->accuracy, "precision",
                                      c->precision, "recall", c->recall, "f1", c->f1));
    }
    json_t *cal = json_array();
    for (int b = 0; b < 10; b++) {
        const struct churn_calibration_bin *cb = &m->calibration[b];
        json_array_append_new(cal,
                              json_pack("{s:f,s:f,s:I,s:f,s:f}", "lo", cb->lo, "hi", cb->hi,
                                        "count", (json_int_t)cb->count, "mean_predicted",
                                        isnan(cb->mean_pred) ? 0.0 : cb->mean_pred, "observed_rate",
                                        isnan(cb->frac_pos) ? 0.0 : cb->frac_pos));
    }
    json_object_set_new(j, "calibration", cal);
    return j;
}

void
churnctl_print_metrics(const char *title, const struct churn_metrics *m)
{
    printf("%s: %zu rows, %zu churned\n", title, m->n, m->n_positive);
    printf("  ROC-AUC %.4f   PR-AUC %.4f   log loss %.4f   Brier %.4f\n", m->auc, m->pr_auc,
           m->log_loss, m->brier);
    const struct churn_confusion *cs[2] = {&m->at_threshold, &m->best_f1};
    const char *names[2] = {"at threshold", "best F1     "};
    for (int k = 0; k < 2; k++)
        printf("  %s %.3f: accuracy %.3f precision %.3f recall %.3f F1 %.3f   "
               "(tp %llu fp %llu tn %llu fn %llu)\n",
               names[k], cs[k]->threshold, cs[k]->accuracy, cs[k]->precision, cs[k]->recall,
               cs[k]->f1, (unsigned long long)cs[k]->tp, (unsigned long long)cs[k]->fp,
               (unsigned long long)cs[k]->tn, (unsigned long long)cs[k]->fn);
    printf("  decile  churn rate  lift  capture\n");
    for (int d = 0; d < 10; d++)
        printf("  %6d  %9.3f  %5.2f  %6.3f\n", d + 1, m->decile_rate[d], m->decile_lift[d],
               m->decile_capture[d]);
    printf("  calibration: predicted -> observed\n");
    for (int b = 0; b < 10; b++)
        if (m->calibration[b].count)
            printf("    [%.1f, %.1f) %6zu rows  %.3f -> %.3f\n", m->calibration[b].lo,
                   m->calibration[b].hi, m->calibration[b].count, m->calibration[b].mean_pred,
                   m->calibration[b].frac_pos);
}

static json_t *
cv_json(const struct churn_cv_result *cv)
{
    json_t *j = json_object();
    json_object_set_new(j, "algo", json_string(churn_train_algo_name(cv->algo)));
    json_object_set_new(j, "folds", json_integer(cv->folds));
    json_object_set_new(j, "auc_mean", json_real(cv->auc_mean));
    json_object_set_new(j, "auc_sd", json_real(cv->auc_sd));
    json_object_set_new(j, "pr_auc_mean", json_real(cv->pr_auc_mean));
    json_object_set_new(j, "log_loss_mean", json_real(cv->log_loss_mean));
    json_object_set_new(j, "brier_mean", json_real(cv->brier_mean));
    json_object_set_new(j, "seconds", json_real(cv->seconds));
    json_t *folds = json_array();
    for (unsigned f = 0; f < cv->folds && f < CHURN_TRAIN_MAX_FOLDS; f++)
        json_array_append_new(folds, churnctl_metrics_json(&cv->fold[f]));
    json_object_set_new(j, "per_fold", folds);
    return j;
}

json_t *
churnctl_select_json(const struct churn_select_report *r)
{
    json_t *j = json_object(), *list = json_array();
    json_object_set_new(j, "budget_s", json_real(r->budget_s));
    json_object_set_new(j, "budget_hit", json_boolean(r->budget_hit));
    json_object_set_new(j, "seconds", json_real(r->seconds));
    json_object_set_new(j, "chosen", json_string(r->cand[r->chosen].name));
    json_object_set_new(j, "best", json_string(r->cand[r->best].name));
    json_object_set_new(j, "rule",
                        json_string(r->rule == CHURN_SELECT_ONE_SE      ? "one-se"
                                    : r->rule == CHURN_SELECT_ONE_SE_CV ? "one-se-cv"
                                                                        : "best"));
    json_object_set_new(j, "ranked_by", json_string(r->by_newest ? "out_of_time_auc" : "cv_auc"));
    if (r->by_newest) {
        json_t *at = json_array();
        for (unsigned h = 0; h < r->n_holdouts; h++)
            json_array_append_new(at, json_integer((json_int_t)r->holdout_time[h]));
        json_object_set_new(j, "holdout_times", at);
    }
    for (size_t i = 0; i < r->n_candidates; i++) {
        const struct churn_select_candidate *c = &r->cand[i];
        json_t *o = json_pack("{sssssb}", "name", c->name, "algo", churn_train_algo_name(c->algo),
                              "ran", c->ran);
        if (c->ran) {
            json_object_set_new(o, "auc_mean", json_real(c->auc_mean));
            json_object_set_new(o, "auc_sd", json_real(c->auc_sd));
            json_object_set_new(o, "select_auc", json_real(c->select_auc));
            json_t *per = json_array();
            for (unsigned h = 0; r->by_newest && h < r->n_holdouts; h++)
                json_array_append_new(per, json_real(c->holdout_auc[h]));
            if (r->by_newest) {
                json_object_set_new(o, "holdout_auc", per);
                json_object_set_new(o, "se_vs_best",
                                    isfinite(c->se_vs_best) ? json_real(c->se_vs_best)
                                                            : json_null());
            } else
                json_decref(per);
            json_object_set_new(o, "seconds", json_real(c->seconds));
        }
        if (c->algo == CHURN_TRAIN_BLEND && c->ran)
            json_object_set_new(o, "blend_weight", json_real(c->blend_weight));
        if (c->skipped[0])
            json_object_set_new(o, "skipped", json_string(c->skipped));
        json_array_append_new(list, o);
    }
    json_object_set_new(j, "candidates", list);
    return j;
}

static void
print_select(const struct churn_select_report *r)
{
    if (r->by_newest)
        printf("ranked out of time: mean AUC on the newest %u cutoffs, each judged by a model of "
               "the cutoffs whose labels had ended by then:\n",
               r->n_holdouts);
    for (size_t i = 0; i < r->n_candidates; i++) {
        const struct churn_select_candidate *c = &r->cand[i];
        if (c->ran && r->by_newest)
            printf("%s %-62s AUC %.4f ± %.4f  future %.4f (best - this %+.4f ± %.4f)  (%.1f s)\n",
                   i == r->chosen ? "*" : " ", c->name, c->auc_mean, c->auc_sd, c->select_auc,
                   r->cand[r->best].select_auc - c->select_auc, c->se_vs_best, c->seconds);
        else if (c->ran)
            printf("%s %-62s AUC %.4f ± %.4f  (%.1f s)\n", i == r->chosen ? "*" : " ", c->name,
                   c->auc_mean, c->auc_sd, c->seconds);
        else
            printf("  %-62s %s\n", c->name, c->skipped[0] ? c->skipped : "not run: time budget");
    }
}

static void
print_cv(const struct churn_cv_result *cv)
{
    printf("%-20s AUC %.4f ± %.4f   PR-AUC %.4f   log loss %.4f   Brier %.4f   (%u folds, "
           "%.1f s)\n",
           churn_train_algo_name(cv->algo), cv->auc_mean, cv->auc_sd, cv->pr_auc_mean,
           cv->log_loss_mean, cv->brier_mean, cv->folds, cv->seconds);
}

/* Score every row of @ds with @model; the model's features are found by name. */
static int
evaluate(const struct train_args *a, const struct churn_dataset *ds, json_t *out)
{
    char err[1024];
    struct churn_model *model;
    if (churn_model_load_file(a->model, &model, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: %s: %s\n", a->model, err);
        return EXIT_USAGE;
    }
    size_t n = churn_model_n_features(model);
    /* for each model feature: the dataset column, and for categories a code translation */
    int *col = churn_calloc(n + 1, sizeof(int));
    double *x = churn_calloc(n + 1, sizeof(double));
    double *p = churn_calloc(ds->n_rows + 1, sizeof(double));
    int rc = 0;
    if (!col || !x || !p) {
        rc = EXIT_TRANSPORT;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        col[i] = -1;
        for (size_t f = 0; f < ds->n_features; f++)
            if (strcmp(ds->features[f].name, churn_model_feature(model, i)->name) == 0)
                col[i] = (int)f;
        if (col[i] < 0) {
            fprintf(stderr, "churnctl: the data has no column '%s' that the model needs\n",
                    churn_model_feature(model, i)->name);
            rc = EXIT_USAGE;
            goto out;
        }
    }
    for (size_t r = 0; r < ds->n_rows; r++) {
        for (size_t i = 0; i < n; i++) {
            const struct churn_dataset_feature *f = &ds->features[col[i]];
            double v = ds->cols[col[i]][r];
            if (churn_model_feature(model, i)->type == CHURN_FEATURE_CATEGORICAL) {
                const char *cat = NULL;
                if (!isnan(v) && (size_t)v < f->n_categories)
                    cat = f->categories[(size_t)v];
                x[i] = isnan(v) ? NAN : churn_model_category_code(model, i, cat ? cat : "");
            } else {
                x[i] = v;
            }
        }
        struct churn_model_prediction pred;
        churn_model_predict(model, x, &pred);
        p[r] = pred.probability;
    }
    struct churn_metrics m;
    if (churn_metrics_compute(p, ds->y, ds->n_rows, a->opts.threshold > 0 ? a->opts.threshold : 0.5,
                              &m) != CHURN_OK) {
        fprintf(stderr, "churnctl: cannot compute metrics (one class only?)\n");
        rc = EXIT_USAGE;
        goto out;
    }
    if (!a->json)
        churnctl_print_metrics(a->model, &m);
    json_object_set_new(out, "model", json_string(a->model));
    json_object_set_new(out, "metrics", churnctl_metrics_json(&m));
out:
    churn_free(col);
    churn_free(x);
    churn_free(p);
    churn_model_unref(model);
    return rc;
}

int
churnctl_train(int argc, char **argv, bool cv_only)
{
    struct train_args a;
    int rc = churnctl_train_parse(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    bool eval_only = a.model != NULL;
    if (!cv_only && !eval_only && !a.out) {
        fprintf(stderr, "churnctl: train needs --out MODEL.json\n");
        return EXIT_USAGE;
    }
    char err[1024];
    struct churn_dataset *ds = NULL;
    json_t *trainset = NULL; /* a store's training set: its as-of and cutoffs */
    struct churn_dataset_options dopts = {0};
    const char *ignore[64];
    char ignore_buf[4096];
    if (a.store) {
        struct churn_store *store;
        if ((rc = churnctl_open_store(a.store, &store)))
            return rc;
        rc = churnctl_trainset(&a, store, a.as_of_ms, &ds, &trainset);
        churn_store_close(store);
        if (rc)
            return rc;
    } else {
        dopts.label = a.label;
        dopts.positive = a.positive;
        if (a.ignore) {
            snprintf(ignore_buf, sizeof(ignore_buf), "%s", a.ignore);
            char *save = NULL;
            for (char *t = strtok_r(ignore_buf, ",", &save); t && dopts.n_ignore < 64;
                 t = strtok_r(NULL, ",", &save))
                ignore[dopts.n_ignore++] = t;
            dopts.ignore = ignore;
        }
        if (churn_dataset_load_csv(a.data, &dopts, &ds, err, sizeof(err)) != CHURN_OK) {
            fprintf(stderr, "churnctl: %s\n", err);
            return EXIT_USAGE;
        }
    }
    signed char *mono = NULL;
    if ((rc = churnctl_monotone(&a, ds, &mono))) {
        churn_dataset_free(ds);
        return rc;
    }
    json_t *out = json_object();
    json_object_set_new(out, "rows", json_integer((json_int_t)ds->n_rows));
    json_object_set_new(out, "positives", json_integer((json_int_t)ds->n_positive));
    json_object_set_new(out, "data_hash", json_string(ds->data_hash));
    if (trainset)
        json_object_set_new(out, "training_set", trainset);
    if (eval_only) {
        rc = evaluate(&a, ds, out);
    } else if (cv_only) {
        enum churn_train_algo algos[2] = {CHURN_TRAIN_LOGREG, CHURN_TRAIN_GBDT};
        json_t *list = json_array();
        for (int i = 0; i < 2; i++) {
            if (a.algo != CHURN_TRAIN_AUTO && a.algo != algos[i])
                continue;
            struct churn_cv_result cv;
            if (a.opts.folds < 2)
                a.opts.folds = 5;
            if (churn_train_cv(ds, &a.opts, algos[i], &cv, NULL, err, sizeof(err)) != CHURN_OK) {
                fprintf(stderr, "churnctl: cross-validation: %s\n", err);
                rc = EXIT_USAGE;
                break;
            }
            if (!a.json) {
                print_cv(&cv);
                for (unsigned f = 0; f < cv.folds && f < CHURN_TRAIN_MAX_FOLDS; f++)
                    printf("  fold %u: AUC %.4f  PR-AUC %.4f  log loss %.4f  Brier %.4f\n", f + 1,
                           cv.fold[f].auc, cv.fold[f].pr_auc, cv.fold[f].log_loss,
                           cv.fold[f].brier);
            }
            json_array_append_new(list, cv_json(&cv));
        }
        json_object_set_new(out, "cv", list);
    } else {
        struct churn_model *model = NULL;
        struct churn_train_report rep;
        if (churn_train(ds, &a.opts, &model, &rep, err, sizeof(err)) != CHURN_OK) {
            fprintf(stderr, "churnctl: training: %s\n", err);
            rc = EXIT_USAGE;
        } else if (churn_model_save_file(model, a.out, err, sizeof(err)) != CHURN_OK) {
            fprintf(stderr, "churnctl: %s: %s\n", a.out, err);
            rc = EXIT_TRANSPORT;
        } else {
            json_object_set_new(out, "model", json_string(a.out));
            json_object_set_new(out, "algo", json_string(churn_train_algo_name(rep.chosen)));
            if (rep.has_cv_logreg)
                json_object_set_new(out, "cv_logistic_regression", cv_json(&rep.cv_logreg));
            if (rep.has_cv_gbdt)
                json_object_set_new(out, "cv_gbdt", cv_json(&rep.cv_gbdt));
            if (rep.has_oof)
                json_object_set_new(out, "out_of_fold", churnctl_metrics_json(&rep.oof));
            if (rep.has_select)
                json_object_set_new(out, "search", churnctl_select_json(&rep.select));
            json_object_set_new(out, "dropped", json_string(rep.dropped));
            json_object_set_new(out, "seconds", json_real(rep.seconds));
            if (!a.json && rep.has_select) {
                print_select(&rep.select);
            } else if (!a.json) {
                if (rep.has_cv_logreg)
                    print_cv(&rep.cv_logreg);
                if (rep.has_cv_gbdt)
                    print_cv(&rep.cv_gbdt);
            }
            if (!a.json) {
                printf("chose %s; model written to %s (%zu rows, %.1f s)\n",
                       churn_train_algo_name(rep.chosen), a.out, ds->n_rows, rep.seconds);
            }
        }
        churn_model_unref(model);
    }
    if (a.json && rc == 0) {
        char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(s);
        free(s);
    }
    json_decref(out);
    churn_dataset_free(ds);
    free(mono);
    return rc;
}
