/*
 * internal.h - the compiled model shared by the files of src/model: the loaders (load.c,
 * xgboost.c) fill it, model.c scores with it, save.c writes it back. Nothing outside
 * src/model sees these structures.
 */
#ifndef CHURN_MODEL_INTERNAL_H
#define CHURN_MODEL_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "churn/model.h"

/* A tree node as a loader reads it: children relative to the tree's first node (-1 for a
 * leaf), value the leaf value, cover the hessian sum (weights for contributions). */
struct churn__raw_node {
    int32_t feature;
    float threshold;
    int32_t left;
    int32_t right;
    int32_t default_left;
    double value;
    double cover;
};

/* A compiled node: 16 bytes, siblings adjacent (the right child is left + 1), absolute
 * indices. Go right when !((float)x < threshold), or when x is NaN and default_left is 0.
 * A leaf loops to itself: its feature is the sentinel n_features (an input slot that is
 * always 0), threshold 1 and left its own index, so that a walk of exactly the tree's depth
 * steps ends on the leaf without a data-dependent branch. */
struct churn__node {
    int32_t feature;
    float threshold;
    int32_t left;
    int32_t default_left;
};

struct churn__feature {
    struct churn_model_feature pub;
    char *name;
    char *label;
    char **cats;      /* n_categories owned strings */
    uint32_t *sorted; /* category indices sorted by name, for lookups */
    /* logistic regression preprocessing */
    double mean, std, impute;
    bool indicator;
    size_t col; /* first design column */
    /* derived for fast scoring (numeric): contribution = scale * v + shift */
    double scale, shift;
    double missing_contrib; /* total contribution when missing */
};

struct churn_model {
    atomic_long refs;
    enum churn_model_kind kind;
    size_t n_features;
    struct churn__feature *features;

    /* logistic regression */
    size_t n_cols;
    double *coef;
    double intercept;

    /* gbdt */
    double base_margin;
    size_t n_trees;
    int32_t *roots;
    size_t n_nodes;
    struct churn__node *nodes;
    double *values;   /* per node: leaf value, or the cover-weighted mean of an inner node */
    double *covers;   /* per node */
    uint32_t *depths; /* per tree: steps from the root to the deepest leaf */
    struct churn__raw_node *raw; /* loaders' input to churn__model_compile_trees() */

    /* blend: margin = blend_intercept + sum of weights[i] * members[i]'s margin; every member
     * has the blend's features (names, types, categories) in the same order */
    size_t n_members;
    struct churn_model **members;
    double *weights;
    double blend_intercept;

    /* calibration */
    enum churn_calibration_kind calibration;
    double platt_a, platt_b;
    size_t n_iso;
    double *iso_x, *iso_y;

    /* metadata */
    struct churn_model_info info;
    char *version, *data_hash, *params_json, *metrics_json, *checksum;
};

/* Error context for the loaders: the message goes to errbuf. */
struct churn__mctx {
    char *errbuf;
    size_t errlen;
};

enum churn_err churn__model_fail(struct churn__mctx *ctx, enum churn_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A zeroed model with one reference. */
struct churn_model *churn__model_new(void);

/* Free everything a (possibly half-built) model holds. */
void churn__model_destroy(struct churn_model *model);

/* Number of design columns of feature @f for logistic regression. */
size_t churn__feature_ncols(const struct churn__feature *f);

/*
 * Check and compile the trees in model->raw (tree t occupies raw nodes [first[t], first[t+1]),
 * children relative to its first node, -1 for leaves): ranges, cycles, depth, reachability
 * (when @strict; unreachable nodes are dropped otherwise). Renumbers breadth-first into
 * model->nodes (siblings adjacent, absolute indices), fills roots, values (expected values
 * for inner nodes) and covers, and frees model->raw. @what names the tree array in messages.
 */
enum churn_err churn__model_compile_trees(struct churn_model *model, const size_t *first,
                                          bool strict, const char *what, struct churn__mctx *ctx);

/* Derived data after loading: category indices, LR scale/shift, info. */
enum churn_err churn__model_finish(struct churn_model *model, struct churn__mctx *ctx);

/* Import an XGBoost JSON document (xgboost.c). */
enum churn_err churn__model_from_xgboost(const json_t *doc, size_t n_features_hint,
                                         struct churn_model **out, struct churn__mctx *ctx);

/* The native document of @model without its checksum (save.c); NULL when out of memory. */
json_t *churn__model_to_doc(const struct churn_model *model);

/* "fnv1a64:<16 hex>" of the canonical text of @doc without its "checksum" member into @out
 * (at least 32 bytes). */
enum churn_err churn__model_checksum(const json_t *doc, char *out, size_t outlen);

/* Compact, key-sorted, round-trip-exact text of @doc: the form the checksum covers. */
#define CHURN__JSON_CANONICAL (JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17))

#endif
