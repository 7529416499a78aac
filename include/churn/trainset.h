/*
 * churn/trainset.h - training sets and prospective backtests from the store, both built on
 * the served feature function (churn_features_extract_observed() with the store's observed
 * history) so that what a model learns from, what it is judged on and what it is served agree.
 *
 * Time: a prediction "as of day D" sees every event of the days up to and including D (its
 * as_of_ms is the last millisecond of D, churn_features_day_end()) and its label is churn in
 * the H days after D: (day_end(D), day_end(D) + H days]. A training set stacks cutoffs whose
 * label windows are fully observed; a backtest scores as of one day and compares with what
 * happened afterwards. docs/MODELS.md ("Training that tells the truth") is the contract.
 */
#ifndef CHURN_TRAINSET_H
#define CHURN_TRAINSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/alerts.h"
#include "churn/segments.h"
#include "churn/buf.h"
#include "churn/error.h"
#include "churn/model.h"
#include "churn/store.h"
#include "churn/train.h"

#define CHURN_TRAINSET_MAX_CUTOFFS 24
/* Days of observed history a cutoff needs before it (else it is skipped, or refused). */
#define CHURN_TRAINSET_MIN_HISTORY_DAYS 30
/* Cutoffs 0 ("auto"): every cutoff, step days apart, with this much observed history before it
 * (the 90-day windows of the catalogue fully seen), at most CHURN_TRAINSET_AUTO_MAX_CUTOFFS
 * and at least the newest. More cutoffs, more churners to learn from: docs/MODELS.md. */
#define CHURN_TRAINSET_AUTO_HISTORY_DAYS 90
#define CHURN_TRAINSET_AUTO_MAX_CUTOFFS  6

struct churn_trainset_options {
    int64_t observed_until_ms; /* the data reaches this far (0: now): labels end before it */
    int horizon_days;          /* label: churn within H days after the cutoff (1..365) */
    int cutoffs;               /* stacked cutoffs, newest first (1..24; 0: auto, above) */
    int step_days;             /* days between cutoffs (>= 1) */
    int inactivity_days; /* 0: explicit churn only; N: also N quiet days (churn_features_label) */
};

struct churn_trainset_report {
    size_t rows, positives, customers;
    int64_t history_from_ms; /* where the store's observed history starts */
    int n_cutoffs;
    int64_t cutoff_ms[CHURN_TRAINSET_MAX_CUTOFFS]; /* newest first */
    size_t rows_at[CHURN_TRAINSET_MAX_CUTOFFS], positives_at[CHURN_TRAINSET_MAX_CUTOFFS];
    bool skipped[CHURN_TRAINSET_MAX_CUTOFFS]; /* less than the minimum history before it */
};

/** churn_trainset_options_default() - now, 90-day horizon, cutoffs 30 days apart and as many as
 * the history allows (0: auto), explicit churn only. */
void churn_trainset_options_default(struct churn_trainset_options *o);

/**
 * churn_trainset_from_store() - the point-in-time training set of @store.
 *
 * Cutoff k (k = 0 newest) is the end of day D_k = (the day before observed_until's day) - H -
 * k * step, so every label window ends before observed_until. Per cutoff, every customer that
 * was a customer and had not churned at the cutoff gives a row: the features as of the cutoff
 * (from events up to its day, windows clipped to the store's observed history) and the label
 * (churn_features_label()). A cutoff with less than CHURN_TRAINSET_MIN_HISTORY_DAYS of
 * observed history before it is skipped (reported). The set's columns: segment, plan,
 * country (categorical), every catalogue feature, and the label "churned"; rows carry the
 * customer as their group (cross-validation keeps a customer's rows in one fold) and the cutoff
 * as their time (calibration is fitted on the newest cutoff).
 *
 * Return: CHURN_OK and *@out; CHURN_EINVAL for bad options, or when no cutoff has enough
 * history, or no rows are labelled, or the rows have one class only (@err says which and
 * why: "no churn at all in the labelled windows ..."); storage errors from the store.
 */
enum churn_err churn_trainset_from_store(struct churn_store *store,
                                         const struct churn_trainset_options *o,
                                         struct churn_dataset **out,
                                         struct churn_trainset_report *rep, char *err,
                                         size_t errlen);

/**
 * churn_trainset_csv() - the rows of churn_trainset_from_store() as CSV text appended to @csv:
 * the header of churn_features_csv_header(), then one churn_features_csv_row() per row
 * (customer_id and as_of_ms identify the row and its cutoff; "churned" is the label). Loading
 * the text with the group customer_id, the time as_of_ms and the categorical segment, plan and
 * country gives the same training set. The one builder behind training, retraining and
 * `store-export`.
 * @csv: appended to; up to its cap (CHURN_ETOOBIG past it); unchanged on error.
 * Return: as churn_trainset_from_store() (the same refusals, with @err), and CHURN_ETOOBIG.
 */
enum churn_err churn_trainset_csv(struct churn_store *store, const struct churn_trainset_options *o,
                                  struct churn_buf *csv, struct churn_trainset_report *rep,
                                  char *err, size_t errlen);

/* ---- prospective backtest ---- */

struct churn_backtest_options {
    int64_t as_of_ms;          /* scored as of the end of this instant's UTC day */
    int horizon_days;          /* truth: churn within H days after it */
    int inactivity_days;       /* as for training */
    int64_t observed_until_ms; /* the data reaches this far (0: now) */
    bool scores_only; /* no truth needed: H may reach past observed_until (metrics are NaN) */
    const struct churn_segment_config *tiers; /* NULL: the default tiers */
};

struct churn_backtest_result {
    int64_t as_of_ms; /* the effective as_of: the end of the day */
    size_t customers, churned;
    double realised_rate, mean_predicted;
    bool has_truth;
    struct churn_metrics metrics; /* with truth only */
    double tier_share[4];         /* by enum churn_tier: share of customers */
    double tier_churn_rate[4];    /* realised churn rate per tier (NaN if empty) */
    struct churn_segments cuts;   /* the risk tiers' cut-offs */
};

/* Called for every scored customer in key order; @churned is -1 without truth. Return 0 to go
 * on, anything else to stop (the backtest then fails with CHURN_ECANCELLED). */
typedef int churn_backtest_score_fn(void *user, const char *customer_id, double probability,
                                    int churned);

/**
 * churn_backtest_model() - score every customer of @store that was a customer and had not
 * churned as of @o->as_of_ms with @model (features from events up to that day only, exactly as
 * served) and compare with churn in the horizon after it.
 * @on_score: optional per-customer callback (may be NULL).
 * Return: CHURN_OK; CHURN_EINVAL with @err naming the rule: as-of before the store's data (less
 * than CHURN_TRAINSET_MIN_HISTORY_DAYS observed before it) or after observed_until, a horizon
 * that reaches past observed_until (unless scores_only), no customer to score, one class of
 * truth only ("no customer churned in ..."); CHURN_EPRECOND when the model needs an input the
 * store does not provide; storage errors.
 */
enum churn_err churn_backtest_model(struct churn_store *store, const struct churn_model *model,
                                    const struct churn_backtest_options *o,
                                    churn_backtest_score_fn *on_score, void *user,
                                    struct churn_backtest_result *out, char *err, size_t errlen);

#endif
