/*
 * churn/model.h - churn models: the model file, inference, calibration and reasons.
 *
 * A model is loaded from a versioned JSON file (docs/MODELS.md), validated field by field,
 * and compiled into a flat representation: a coefficient vector for logistic regression,
 * one node array for all trees of a gradient-boosted ensemble. Once loaded it is immutable
 * and may be shared by any number of threads without locks; a reference count lets a reload
 * swap the served model while calls already in flight finish on the old one.
 *
 * Inputs are dense double vectors in the model's feature order: a numeric feature's raw
 * value, a categorical feature's category code (churn_model_category_code()), NaN for a
 * missing value. Preprocessing (imputation, indicators, standardisation, one-hot encoding)
 * is part of the model, so callers never reproduce it.
 */
#ifndef CHURN_MODEL_H
#define CHURN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"

#define CHURN_MODEL_FORMAT_VERSION 1
#define CHURN_MODEL_MAX_FILE       (256u << 20) /* bytes of a model file */
#define CHURN_MODEL_MAX_FEATURES   4096u
#define CHURN_MODEL_MAX_CATEGORIES 1024u /* per categorical feature */
#define CHURN_MODEL_MAX_TREES      100000u
#define CHURN_MODEL_MAX_NODES      (1u << 24) /* all trees together */
#define CHURN_MODEL_MAX_DEPTH      64u
#define CHURN_MODEL_ERRMSG         256u /* a good size for the errbuf arguments */

struct churn_model;
struct churn_model_binding;

enum churn_model_kind {
    CHURN_MODEL_LOGISTIC_REGRESSION = 1,
    CHURN_MODEL_GBDT = 2,
    CHURN_MODEL_BLEND = 3, /* weighted sum of member models' margins (docs/MODELS.md) */
};

#define CHURN_MODEL_MAX_MEMBERS 8u /* members of a blend */

enum churn_feature_type {
    CHURN_FEATURE_NUMERIC = 1,
    CHURN_FEATURE_CATEGORICAL = 2,
};

enum churn_calibration_kind {
    CHURN_CALIBRATION_NONE = 0,
    CHURN_CALIBRATION_PLATT = 1,    /* p = 1 / (1 + exp(-(a * margin + b))) */
    CHURN_CALIBRATION_ISOTONIC = 2, /* piecewise linear map of the raw probability */
};

/* One input feature as the model sees it. Strings are owned by the model. */
struct churn_model_feature {
    const char *name;
    const char *label; /* human label for reasons (the name when the file has none) */
    enum churn_feature_type type;
    size_t n_categories;           /* categorical: known categories; code n_categories is "other" */
    const char *const *categories; /* categorical: category code i is categories[i] */
    int monotone; /* +1 the margin never falls as the value rises, -1 never rises, 0 free */
};

struct churn_model_prediction {
    double margin;      /* log-odds before calibration */
    double raw;         /* sigmoid(margin) */
    double probability; /* calibrated P(churn) */
};

struct churn_model_reason {
    size_t feature;      /* index into the model's features */
    double value;        /* the input value (NaN when missing) */
    double contribution; /* log-odds contribution; positive raises the risk */
};

/* Training metadata carried by the file (all optional: zero or NULL when absent). */
struct churn_model_info {
    enum churn_model_kind kind;
    const char *version;   /* free-form model version, e.g. "2026-11-22T21:00:00Z-gbdt" */
    const char *data_hash; /* "fnv1a64:..." of the training data */
    int64_t trained_at_ms; /* unix ms */
    uint64_t training_rows;
    const char *algorithm_params; /* compact JSON text of the trainer's parameters */
    const char *metrics;          /* compact JSON object text, e.g. {"cv_auc":0.84,...} */
    const char *checksum;         /* "fnv1a64:<16 hex>" as found in or written to the file */
    size_t n_trees;               /* GBDT: its trees; blend: the trees of its members */
    enum churn_calibration_kind calibration;
    int horizon_days; /* training.horizon_days: the churn horizon its labels looked ahead
                         (1..365), 0 when the file does not say (older files, CSV training) */
};

/* Flags for churn_model_load_json(). */
#define CHURN_MODEL_LOAD_NO_CHECKSUM 1u /* accept a document without a checksum (trainers) */

/**
 * churn_model_load_file() - read, validate and compile the model file at @path.
 * @out: OUT: a model with one reference, owned by the caller (churn_model_unref()).
 * @errbuf, @errlen: on error, a message naming the field and the reason, e.g.
 *   "trees[3].left[5]: child index 17 out of range (tree has 9 nodes)". May be NULL.
 *
 * Both the native format and XGBoost's JSON model format (binary:logistic) are accepted; the
 * latter is recognised by its "learner" member. The checksum of a native file is required.
 *
 * Return: CHURN_OK; CHURN_ENOTFOUND, CHURN_EPERM, CHURN_EIO for the file; CHURN_ETOOBIG over
 * CHURN_MODEL_MAX_FILE; CHURN_ECORRUPT for any invalid content; CHURN_ENOMEM.
 */
enum churn_err churn_model_load_file(const char *path, struct churn_model **out, char *errbuf,
                                     size_t errlen);

/**
 * churn_model_load_json() - like churn_model_load_file() from @len bytes of JSON text at
 * @text (borrowed for the call only). @flags: CHURN_MODEL_LOAD_NO_CHECKSUM or 0.
 */
enum churn_err churn_model_load_json(const char *text, size_t len, unsigned flags,
                                     struct churn_model **out, char *errbuf, size_t errlen);

/**
 * churn_model_import_xgboost() - compile an XGBoost JSON model (objective binary:logistic,
 * numeric splits only) from @len bytes at @text. Feature names come from the model's
 * "feature_names" when present, else "f0", "f1", ...; @n_features_hint, when not zero, is the
 * number of input features (else one more than the highest split index, or the learner's
 * num_feature).
 */
enum churn_err churn_model_import_xgboost(const char *text, size_t len, size_t n_features_hint,
                                          struct churn_model **out, char *errbuf, size_t errlen);

/**
 * churn_model_to_json() - the model as native-format JSON text with its checksum, in a
 * buffer the caller frees with churn_free(); @len gets its length.
 */
enum churn_err churn_model_to_json(const struct churn_model *model, char **out, size_t *len);

/**
 * churn_model_save_file() - write the model (native format, with checksum) to @path
 * atomically: a temporary file in the same directory, fsync, rename, fsync of the directory.
 * On error @path is unchanged and the temporary file is removed.
 */
enum churn_err churn_model_save_file(const struct churn_model *model, const char *path,
                                     char *errbuf, size_t errlen);

/** churn_model_ref() - take one more reference (atomic; any thread). Returns @model. */
struct churn_model *churn_model_ref(struct churn_model *model);

/** churn_model_unref() - drop one reference; the last one frees the model. NULL is a no-op. */
void churn_model_unref(struct churn_model *model);

/** churn_model_info() - metadata; valid as long as the caller holds a reference. */
const struct churn_model_info *churn_model_info(const struct churn_model *model);

/** churn_model_n_features() - number of input features. */
size_t churn_model_n_features(const struct churn_model *model);

/** churn_model_feature() - input feature @i (NULL when out of range); lives with the model. */
const struct churn_model_feature *churn_model_feature(const struct churn_model *model, size_t i);

/** churn_model_feature_index() - index of the feature called @name; CHURN_ENOTFOUND if none. */
enum churn_err churn_model_feature_index(const struct churn_model *model, const char *name,
                                         size_t *out);

/**
 * churn_model_category_code() - the input value for category @value of categorical feature
 * @feature: its code, the "other" code for an unknown value, NaN for NULL (missing).
 * A numeric feature gets NaN.
 */
double churn_model_category_code(const struct churn_model *model, size_t feature,
                                 const char *value);

/**
 * churn_model_predict() - score one row @x (churn_model_n_features() doubles, NaN missing).
 * Never fails. NaN is missing; trees compare infinities as values (as XGBoost does), logistic
 * regression treats them as missing (they would make the margin infinite). Thread-safe,
 * allocation-free.
 */
void churn_model_predict(const struct churn_model *model, const double *x,
                         struct churn_model_prediction *out);

/**
 * churn_model_contributions() - per-feature log-odds contributions of row @x into @contrib
 * (churn_model_n_features() doubles) and the bias into @bias, such that
 * *bias + sum(contrib) == margin (up to rounding). Logistic regression: coefficient times
 * the standardised (or one-hot, or indicator) value, summed per input feature; the bias is the
 * intercept. Trees: Saabas path contributions, the bias is the cover-weighted mean margin.
 * Blend: each member's contributions and bias times its weight, summed, plus the blend's
 * intercept in the bias. Returns the margin. Thread-safe, allocation-free.
 */
double churn_model_contributions(const struct churn_model *model, const double *x, double *contrib,
                                 double *bias);

/**
 * churn_model_top_reasons() - the @k features whose contributions raise the risk most
 * (positive contributions, largest first) into @out; returns how many were written (<= k).
 * @scratch: churn_model_n_features() doubles of working space owned by the caller.
 */
size_t churn_model_top_reasons(const struct churn_model *model, const double *x, size_t k,
                               double *scratch, struct churn_model_reason *out);

/**
 * churn_model_bind() - map a caller's feature list (@names, @n, in the caller's vector
 * order) onto the model's features. Every model feature must be provided: one that is not is
 * an error naming it ("model feature 'tenure' is not provided"). Caller features the model
 * does not use are ignored. @out: OUT: owned by the caller, churn_model_binding_free(); it
 * borrows nothing from @names and may outlive the model.
 */
enum churn_err churn_model_bind(const struct churn_model *model, const char *const *names, size_t n,
                                struct churn_model_binding **out, char *errbuf, size_t errlen);

/**
 * churn_model_binding_apply() - gather the caller's vector @in into the model's order in
 * @out (churn_model_n_features() doubles).
 */
void churn_model_binding_apply(const struct churn_model_binding *binding, const double *in,
                               double *out);

/** churn_model_binding_free() - release a binding (NULL is a no-op). */
void churn_model_binding_free(struct churn_model_binding *binding);

/** churn_model_kind_name() - "logistic_regression", "gbdt", "blend" or "unknown". */
const char *churn_model_kind_name(enum churn_model_kind kind);

/** churn_model_fnv1a64() - FNV-1a 64-bit hash of @len bytes, chained from @h (start 0). */
uint64_t churn_model_fnv1a64(uint64_t h, const void *data, size_t len);

#endif
