/*
 * churn/model_inputs.h - how a model's input row is computed from a customer record: each
 * input of a model is bound once, by name, to a catalogue feature, an imported numeric
 * attribute ("attr.<name>") or a category (segment, plan, country, "attr.<name>"). Served
 * scores, backtests and retraining all fill rows through this one binding, so a model sees the
 * same inputs wherever it runs.
 */
#ifndef CHURN_MODEL_INPUTS_H
#define CHURN_MODEL_INPUTS_H

#include <stddef.h>

#include "churn/error.h"
#include "churn/features.h"
#include "churn/model.h"

struct churn_model_inputs;

/**
 * churn_model_inputs_bind() - bind every input of @model.
 * @out: OUT: the binding (immutable; share it across threads), churn_model_inputs_free().
 * Return: CHURN_OK; CHURN_EPRECOND when an input is something no customer record provides
 * (@err names it: "model feature 'x' is not provided by the store (see docs/FEATURES.md)");
 * CHURN_ENOMEM.
 */
enum churn_err churn_model_inputs_bind(const struct churn_model *model,
                                       struct churn_model_inputs **out, char *err, size_t errlen);

/** churn_model_inputs_free() - release a binding (NULL is a no-op). */
void churn_model_inputs_free(struct churn_model_inputs *in);

/**
 * churn_model_inputs_fill() - the input row of @model (bound as @in) for @rec with the
 * features @vec (computed from @rec) into @x (churn_model_n_features() doubles).
 */
void churn_model_inputs_fill(const struct churn_model_inputs *in, const struct churn_model *model,
                             const struct churn_customer *rec,
                             const struct churn_feature_vector *vec, double *x);

/** churn_model_inputs_feature() - the catalogue feature behind input @i, or -1 for another kind
 * of input (or @i out of range). */
int churn_model_inputs_feature(const struct churn_model_inputs *in, size_t i);

#endif
