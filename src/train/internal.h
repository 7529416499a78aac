/*
 * internal.h - what the files of src/train share: the view of a training set that one fit
 * sees (rows, features, weights), the two fitters that turn it into a model document, the
 * blend of their documents, and the helpers that build the JSON and summaries shared by all.
 */
#ifndef CHURN_TRAIN_INTERNAL_H
#define CHURN_TRAIN_INTERNAL_H

#include <jansson.h>
#include <stdarg.h>

#include "churn/train.h"

struct churn__fit {
    const struct churn_dataset *ds;
    const size_t *feat; /* dataset feature indices used, in model order */
    size_t n_feat;
    const size_t *rows; /* training rows */
    size_t n_rows;
    const size_t *val; /* validation rows for early stopping (GBDT), may be NULL */
    size_t n_val;
    const double *w; /* weight per dataset row, NULL for 1 */
};

struct churn__tctx {
    char *errbuf;
    size_t errlen;
};

enum churn_err churn__train_fail(struct churn__tctx *ctx, enum churn_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fit L2 logistic regression; @doc: OUT: the model document without metadata. */
enum churn_err churn__fit_logreg(const struct churn__fit *fit, const struct churn_train_options *o,
                                 json_t **doc, struct churn__tctx *ctx);

/* Fit gradient-boosted trees; @doc as above. */
enum churn_err churn__fit_gbdt(const struct churn__fit *fit, const struct churn_train_options *o,
                               json_t **doc, struct churn__tctx *ctx);

/* The "features" array entry of dataset feature @f (name, type, categories, and "monotone"
 * when @monotone is not 0). */
json_t *churn__feature_doc(const struct churn_dataset *ds, size_t f, int monotone);

/* CHURN_EINVAL with a message when o->monotone does not fit @ds (length, values, a direction
 * on a categorical column). */
enum churn_err churn__monotone_check(const struct churn_dataset *ds,
                                     const struct churn_train_options *o, struct churn__tctx *ctx);

/* The direction (-1, 0, +1) of the fit's feature @k (position in fit->feat). */
int churn__fit_monotone(const struct churn__fit *fit, const struct churn_train_options *o,
                        size_t k);

/* The blend document of two fitted documents on the same features, consumed: margin =
 * @w_lr * logistic regression margin + (1 - @w_lr) * trees margin (select.c). */
enum churn_err churn__blend_doc(json_t *lr, json_t *gbdt, double w_lr, json_t **doc,
                                struct churn__tctx *ctx);

/* Numerically safe logistic function. */
double churn__sigmoid(double z);

/**
 * churn__train_holdout() - the out-of-time check of @algo with @opts at time @at: one model
 * fitted on the rows older than @at by at least @gap (ds->time < @at and <= @at - @gap)
 * scores the rows of time @at, their margins into @oof[row] (other rows untouched). The
 * search judges candidates with it on its holdout cutoffs.
 * Return: CHURN_EINVAL when no row is old enough or none is at @at (or the fit's own
 * errors); CHURN_ENOMEM.
 */
enum churn_err churn__train_holdout(const struct churn_dataset *ds,
                                    const struct churn_train_options *opts,
                                    enum churn_train_algo algo, double at, double gap, double *oof,
                                    struct churn__tctx *ctx);

#endif
