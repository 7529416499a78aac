/*
 * churn/train.h - training sets, trainers and evaluation metrics (used by churnctl, never on
 * the serving path).
 *
 * A training set is read from CSV with a label column; column types are inferred (a column is
 * numeric when every non-missing value parses as a finite number) and can be forced. The
 * trainers fit L2 logistic regression (standardised numerics, one-hot categoricals with an
 * "other" bucket, missing-value indicators, L-BFGS, class weights) and histogram
 * gradient-boosted trees (quantile bins, leaf-wise growth limited by depth and leaves,
 * shrinkage, L2, minimum child weight, row and column subsampling, learned default direction
 * for missing values, early stopping, histogram building on several threads). Model selection
 * is by stratified k-fold cross-validated ROC-AUC over a small grid that includes a blend of
 * both (churn_train_select(), within a time budget), and calibration (Platt or isotonic) is
 * fitted on out-of-fold predictions. Every trainer returns a struct churn_model that passed
 * the same validation as a model file.
 */
#ifndef CHURN_TRAIN_H
#define CHURN_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"
#include "churn/model.h"

#define CHURN_TRAIN_ERRMSG    512u
#define CHURN_TRAIN_MAX_FOLDS 20u

/* ---- training sets ---- */

struct churn_dataset_feature {
    char *name;
    enum churn_feature_type type;
    size_t n_categories;  /* categorical: kept categories, code i is categories[i] */
    char **categories;    /* ordered by the positive rate, lowest first */
    size_t n_missing;     /* rows where the value is missing */
    size_t n_distinct;    /* distinct values seen (capped at max_distinct) */
    bool distinct_capped; /* more distinct values than max_distinct */
    size_t n_bucketed;    /* categorical: rows put in "other" (rare or over the cap) */
    bool constant;        /* fewer than two distinct non-missing values */
};

struct churn_dataset {
    size_t n_rows;
    size_t n_features;
    struct churn_dataset_feature *features;
    double **cols;   /* cols[f][row]: numeric value or category code; NaN missing */
    double *y;       /* 0 or 1 */
    uint64_t *group; /* with options.group: a hash of the row's group (NULL otherwise) */
    double *time;    /* with options.time: the row's time value (NULL otherwise) */
    size_t n_positive;
    char *label;        /* label column name */
    char *positive;     /* label value counted as churn */
    char data_hash[32]; /* "fnv1a64:<16 hex>" of the parsed cells */
    int horizon_days;   /* the labels' horizon (a store training set); 0: unknown (a CSV). A
                           model trained on it records it as training.horizon_days */
};

struct churn_dataset_options {
    const char *label;          /* required: the label column */
    const char *positive;       /* NULL: infer ("1", "yes", "true", "churn", ... of two values) */
    const char *const *numeric; /* columns forced numeric: text in them is an error */
    size_t n_numeric;
    const char *const *categorical; /* columns forced categorical */
    size_t n_categorical;
    const char *const *ignore; /* columns not used (ids, leaks) */
    size_t n_ignore;
    /* Optional, not features: rows with the same value of the @group column (a customer id)
     * always share a cross-validation fold; the numeric @time column (a cutoff) marks the rows
     * whose latest value the calibration is fitted on. */
    const char *group;
    const char *time;
    size_t max_rows;           /* 0: 10,000,000 */
    size_t max_record;         /* 0: CSV default */
    size_t max_categories;     /* 0: 64 kept categories per column, the rest is "other" */
    size_t min_category_count; /* 0: max(5, rows / 2000); rarer values are "other" */
    size_t max_distinct;       /* 0: 100,000 distinct values tracked per column */
};

/**
 * churn_dataset_load_csv() - read a training set from the CSV file at @path (header line
 * first). @out: OUT: owned by the caller, churn_dataset_free(). @errbuf gets a message with
 * the line and column for bad input: missing label column, empty file, a label with one class,
 * text in a forced-numeric column, wrong field counts, oversized records.
 */
enum churn_err churn_dataset_load_csv(const char *path, const struct churn_dataset_options *opts,
                                      struct churn_dataset **out, char *errbuf, size_t errlen);

/** churn_dataset_load_csv_mem() - the same from @len bytes of CSV text (borrowed). */
enum churn_err churn_dataset_load_csv_mem(const char *text, size_t len,
                                          const struct churn_dataset_options *opts,
                                          struct churn_dataset **out, char *errbuf, size_t errlen);

/** churn_dataset_free() - release a training set (NULL is a no-op). */
void churn_dataset_free(struct churn_dataset *ds);

/* ---- metrics ---- */

struct churn_confusion {
    double threshold; /* predicted churn when p >= threshold */
    uint64_t tp, fp, tn, fn;
    double accuracy, precision, recall, f1;
};

struct churn_calibration_bin {
    double lo, hi; /* [lo, hi) of predicted probability; the last bin includes 1 */
    size_t count;
    double mean_pred; /* NaN when empty */
    double frac_pos;  /* NaN when empty */
};

struct churn_metrics {
    size_t n, n_positive;
    double auc;      /* ROC-AUC, ties count one half (average ranks); NaN with one class */
    double pr_auc;   /* average precision over distinct thresholds; NaN without positives */
    double log_loss; /* mean, probabilities clipped to [1e-15, 1 - 1e-15] */
    double brier;
    struct churn_confusion at_threshold;
    struct churn_confusion best_f1;
    double decile_rate[10];    /* positive rate in each tenth, highest scores first */
    double decile_lift[10];    /* decile_rate / overall positive rate */
    double decile_capture[10]; /* cumulative share of all positives in deciles 0..d */
    struct churn_calibration_bin calibration[10];
};

/**
 * churn_metrics_compute() - all metrics of predicted probabilities @p against labels @y
 * (0 or 1), @n rows, with the confusion matrix at @threshold. Return: CHURN_EINVAL for n == 0,
 * a probability outside [0, 1] or NaN, or a label other than 0 and 1; CHURN_ENOMEM.
 */
enum churn_err churn_metrics_compute(const double *p, const double *y, size_t n, double threshold,
                                     struct churn_metrics *out);

/**
 * churn_metrics_auc_placements() - DeLong's placement of every row of @score against labels
 * @y (0 or 1), @n rows, into @out (n doubles): for a positive row the share of negative rows
 * scored below it, for a negative row the share of positive rows scored above it (ties count
 * one half). Either class's mean placement is the ROC-AUC. Return: CHURN_EINVAL for a NaN
 * score, a label other than 0 and 1, or a class with no row (@out untouched); CHURN_ENOMEM.
 */
enum churn_err churn_metrics_auc_placements(const double *score, const double *y, size_t n,
                                            double *out);

/**
 * churn_metrics_auc_diff_se() - the standard error of AUC(a) - AUC(b) for two scorings of the
 * same @n rows with labels @y, from their placements @pa and @pb
 * (churn_metrics_auc_placements()): DeLong, DeLong and Clarke-Pearson (1988), which counts
 * how much the two rankings move together, so that two close models are told apart by far
 * less than each AUC's own error. NaN with fewer than two rows of a class.
 */
double churn_metrics_auc_diff_se(const double *pa, const double *pb, const double *y, size_t n);

/* ---- trainers ---- */

/* How the auto search chooses among its candidates (churn_train_options.select_rule). */
enum churn_select_rule {
    CHURN_SELECT_BEST = 0, /* the highest selection score (the earlier candidate on a tie) */
    /* Out of time, the most preferred candidate whose holdout score is within one standard error
     * of the best's (the error of their difference, paired on the same rows): the grid's trees
     * in the grid's order, then the blend, the trees as configured, the logistic regression.
     * Ranked by CV (no holdout), the same as BEST. The default (docs/MODELS.md). */
    CHURN_SELECT_ONE_SE = 1,
    /* Out of time, among the candidates within one standard error of the best (as ONE_SE), the
     * highest cross-validated AUC (the earlier in ONE_SE's order on a tie): the holdout rules
     * out what does not hold up in the future, the CV, on every cutoff's rows, separates what
     * the holdout cannot. Ranked by CV, the same as BEST. */
    CHURN_SELECT_ONE_SE_CV = 2,
};

enum churn_train_algo {
    CHURN_TRAIN_AUTO = 0,
    CHURN_TRAIN_LOGREG = 1,
    CHURN_TRAIN_GBDT = 2,
    CHURN_TRAIN_BLEND = 3, /* chosen by AUTO only: logistic regression and trees, one margin */
};

struct churn_train_options {
    enum churn_train_algo algo;
    enum churn_calibration_kind calibration; /* fitted out of fold; needs folds >= 2 */
    unsigned folds;                          /* k of stratified k-fold CV (2..20; 0: no CV) */
    uint64_t seed;
    bool balanced; /* class weights n / (2 n_class) */
    unsigned threads;
    /* logistic regression */
    double l2;         /* penalty 0.5 * l2 * |w|^2 on the summed log loss (not the intercept) */
    unsigned max_iter; /* L-BFGS iterations */
    /* gradient-boosted trees */
    unsigned n_trees;
    unsigned max_depth;  /* 1..16 */
    unsigned max_leaves; /* 0: 2^max_depth */
    unsigned max_bins;   /* 2..255 */
    double learning_rate;
    double lambda; /* L2 on leaf weights */
    double min_child_weight;
    double subsample;           /* row fraction per tree, (0, 1] */
    double colsample;           /* feature fraction per tree, (0, 1] */
    unsigned early_stopping;    /* rounds without improvement on the validation split; 0 off */
    double validation_fraction; /* held out for early stopping (stratified) */
    double threshold;           /* decision threshold for the reported confusion matrices */
    /* Monotone constraints, one direction per dataset feature (aligned with ds->features),
     * NULL for none: +1 the model's output never decreases as the value increases (the other
     * inputs fixed), -1 never increases, 0 unconstrained. Numeric features only. GBDT rejects
     * splits against the direction and bounds the leaf values below them (a missing value is
     * not ordered: its prediction is unconstrained); logistic regression keeps the
     * coefficient's sign (the missing indicator is free). Recorded in the model file. */
    const signed char *monotone;
    size_t n_monotone;                  /* ds->n_features when monotone is set */
    enum churn_select_rule select_rule; /* auto: how the search chooses */
    double time_budget_s; /* auto: the search stops starting candidates after this many
                             seconds of its own work (the process's CPU time over threads:
                             the same on a busy machine; 0: no limit); the first always runs */
};

/** churn_train_options_default() - the defaults documented in docs/MODELS.md. */
void churn_train_options_default(struct churn_train_options *opts);

struct churn_cv_result {
    enum churn_train_algo algo;
    unsigned folds;
    struct churn_metrics fold[CHURN_TRAIN_MAX_FOLDS];
    double auc_mean, auc_sd, pr_auc_mean, pr_auc_sd, log_loss_mean, log_loss_sd, brier_mean,
        brier_sd;
    double seconds;
};

/* ---- the auto search (src/train/select.c) ---- */

#define CHURN_SELECT_MAX_CANDIDATES 16u
/* Out of time, the search judges candidates on up to this many of the newest cutoffs. */
#define CHURN_SELECT_MAX_HOLDOUTS 3u

/* One candidate of the search, as it ran (or not, past the budget). */
struct churn_select_candidate {
    char name[96]; /* e.g. "gbdt depth 3, eta 0.1, mcw 1, <= 400 trees, early stopping" */
    enum churn_train_algo algo;
    bool ran;
    double auc_mean, auc_sd, pr_auc_mean, log_loss_mean, seconds; /* stratified CV */
    /* What the search ranks by: auc_mean; or, when the rows carry times (a store training
     * set's cutoffs), out of time: the mean over the holdout cutoffs (churn_select_report) of
     * the AUC on that cutoff's rows of the candidate fitted on the older rows only - how it
     * does on futures it has not seen. */
    double select_auc;
    double holdout_auc[CHURN_SELECT_MAX_HOLDOUTS]; /* out of time: per holdout cutoff */
    double blend_weight; /* BLEND: the logistic regression's weight on the margin */
    /* Out of time: the standard error of the best candidate's select_auc minus this one's
     * (DeLong's, paired on the same holdout rows; 0 for the best, NaN otherwise). */
    double se_vs_best;
    char skipped[96]; /* why a candidate that could not be trained on this data did not
                         run (e.g. too few rows to subsample); empty otherwise */
};

struct churn_select_report {
    size_t n_candidates; /* in the grid, in the order they run */
    size_t n_ran;        /* the first n_ran ran; the rest were cut by the budget */
    size_t best;         /* index of the highest select_auc among those that ran */
    size_t chosen;       /* the candidate the rule chose: best, or see CHURN_SELECT_ONE_SE */
    enum churn_select_rule rule;
    bool by_newest; /* select_auc is out of time (else the mean CV AUC) */
    /* Out of time: the holdout cutoffs, newest first - the newest times that have both
     * classes and, older than them, rows of both classes from at least two times (one when the
     * rows carry two times only). */
    unsigned n_holdouts;
    double holdout_time[CHURN_SELECT_MAX_HOLDOUTS];
    bool budget_hit;
    double budget_s, seconds;
    struct churn_select_candidate cand[CHURN_SELECT_MAX_CANDIDATES];
};

struct churn_select_result {
    struct churn_select_report report;
    enum churn_train_algo algo;       /* LOGREG, GBDT or BLEND */
    struct churn_train_options opts;  /* options to fit the chosen candidate on every row */
    double blend_weight;              /* BLEND: margin = w * LR margin + (1 - w) * GBDT margin */
    struct churn_cv_result cv_chosen; /* the chosen candidate's folds */
    struct churn_cv_result cv_logreg; /* the logistic regression's */
    struct churn_cv_result cv_gbdt;   /* the best tree candidate's, when one ran */
    bool has_cv_gbdt;
};

/**
 * churn_train_select() - the search behind algorithm AUTO: a fixed, ordered grid of
 * candidates (logistic regression with @opts; trees with @opts; trees of other depths,
 * learning rates and minimum child weights whose number is found by early stopping on each
 * fold's own validation split; then the blend of the logistic regression and the best trees,
 * its weight chosen on out-of-fold margins of the other folds for each fold) cross-validated
 * on the folds of churn_train_folds() (through churn_train_cv()), keeping the highest mean AUC
 * (the earlier candidate on a tie). Candidates start while less than opts->time_budget_s has
 * passed; the blend costs no fit and is scored whenever trees ran. @out: OUT: the report,
 * the chosen candidate and its options. @oof: OUT: when not NULL, the chosen candidate's
 * out-of-fold margins (ds->n_rows doubles), for calibration.
 * Return: the errors of churn_train_cv(); CHURN_ENOMEM.
 */
enum churn_err churn_train_select(const struct churn_dataset *ds,
                                  const struct churn_train_options *opts,
                                  struct churn_select_result *out, double *oof, char *errbuf,
                                  size_t errlen);

/**
 * churn_select_choose() - set @r->chosen by @rule from what the search measured: @r->best
 * (the highest select_auc), and for CHURN_SELECT_ONE_SE, when @r is ranked out of time and
 * has the search's full list of candidates (n_candidates, in the search's order), the most
 * preferred candidate that ran whose select_auc is at most its se_vs_best below the best's:
 * the grid's trees in the grid's order (#2 onwards), then the blend, the trees as configured
 * (#1), the logistic regression (#0); for CHURN_SELECT_ONE_SE_CV, the one of those with the
 * highest auc_mean (CV). Candidates that did not run are never chosen.
 */
void churn_select_choose(struct churn_select_report *r, enum churn_select_rule rule);

/**
 * churn_cv_summarise() - fill the means and sample standard deviations of AUC, PR-AUC, log
 * loss and Brier in @res from res->fold[0 .. res->folds).
 */
void churn_cv_summarise(struct churn_cv_result *res);

struct churn_train_report {
    enum churn_train_algo chosen;
    bool has_select; /* AUTO: what the search ran and found */
    struct churn_select_report select;
    bool has_cv_logreg, has_cv_gbdt;
    struct churn_cv_result cv_logreg, cv_gbdt;
    bool has_oof;
    struct churn_metrics oof;   /* out-of-fold predictions of the chosen algorithm, calibrated */
    struct churn_metrics train; /* the final model on its own training rows */
    size_t calibration_rows;    /* rows the calibration was fitted on */
    double calibration_time;    /* their time (the latest cutoff), NaN: every row */
    size_t n_features_used;
    char dropped[1024]; /* "name: reason; ..." features left out (constant, all missing) */
    double seconds;     /* wall time of the whole run */
};

/**
 * churn_train() - select (when opts->algo is AUTO), cross-validate, calibrate and fit a model
 * on all of @ds. @report may be NULL. @out: OUT: a model with one reference, owned by the
 * caller; its file carries the data hash, rows, time, parameters and CV metrics.
 * Return: CHURN_EINVAL for bad options or data that cannot be trained on (with a message:
 * one class, no usable feature, fewer positives than folds), CHURN_ENOMEM.
 */
enum churn_err churn_train(const struct churn_dataset *ds, const struct churn_train_options *opts,
                           struct churn_model **out, struct churn_train_report *report,
                           char *errbuf, size_t errlen);

/**
 * churn_train_cv() - stratified k-fold cross-validation of one algorithm (not AUTO) into @out;
 * @oof, when not NULL, receives the out-of-fold margins (ds->n_rows doubles).
 */
enum churn_err churn_train_cv(const struct churn_dataset *ds,
                              const struct churn_train_options *opts, enum churn_train_algo algo,
                              struct churn_cv_result *out, double *oof, char *errbuf,
                              size_t errlen);

/**
 * churn_train_folds() - the stratified fold (0..@k-1) of every row of @ds into @fold
 * (ds->n_rows values): each class shuffled with @seed and dealt round-robin. These are the
 * folds churn_train() and churn_train_cv() use for the same seed, exposed so that other tools
 * can be evaluated on identical splits. CHURN_EINVAL when a class has fewer than @k rows.
 */
enum churn_err churn_train_folds(const struct churn_dataset *ds, unsigned k, uint64_t seed,
                                 unsigned *fold, char *errbuf, size_t errlen);

/**
 * churn_train_parse_monotone() - monotone constraints for @ds from @spec into @out
 * (ds->n_features values, all set: 0 where @spec says nothing). @spec is a comma-separated
 * list of NAME=+1, NAME=1, NAME=-1 or NAME=0 for dataset columns, and the word "catalogue":
 * every column named like a catalogue feature gets the catalogue's direction
 * (churn_features_monotone()). Later items override earlier ones, so
 * "catalogue,tenure_days=-1" is the catalogue with one change. NULL or "" sets none.
 * Return: CHURN_EINVAL with a message naming the item for an unknown column, a column named
 * twice, a direction other than those four, an empty item, or a direction on a categorical
 * column (@out then undefined).
 */
enum churn_err churn_train_parse_monotone(const struct churn_dataset *ds, const char *spec,
                                          signed char *out, char *errbuf, size_t errlen);

/** churn_train_algo_name() - "auto", "logistic_regression", "gbdt" or "blend". */
const char *churn_train_algo_name(enum churn_train_algo algo);

/**
 * churn_dataset_row() - gather row @row of @ds into @x (ds->n_features doubles) in the order a
 * model trained on @ds by churn_train() expects when no feature was dropped; use
 * churn_model_bind() with the dataset's feature names otherwise.
 */
void churn_dataset_row(const struct churn_dataset *ds, size_t row, double *x);

#endif
