/*
 * inputs.c - binding a model's inputs to what a customer record provides, and filling a
 * model's input row from a record and its feature vector (see churn/model_inputs.h).
 */
#include "churn/model_inputs.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"

enum input_kind {
    INPUT_FEATURE,  /* catalogue feature, by index */
    INPUT_NUMERIC,  /* imported numeric attribute "attr.<name>" */
    INPUT_CATEGORY, /* segment, plan, country or "attr.<name>" categorical */
};

struct input {
    enum input_kind kind;
    int feature;
    const char *name; /* borrowed from the model */
};

struct churn_model_inputs {
    size_t n;
    struct input in[];
};

static bool
is_category_name(const char *name)
{
    return strcmp(name, "segment") == 0 || strcmp(name, "plan") == 0 ||
           strcmp(name, "country") == 0 || strncmp(name, "attr.", 5) == 0;
}

/* Bind one input; CHURN_EPRECOND with @err set when nothing provides it. */
static enum churn_err
bind_one(const struct churn_model_feature *f, struct input *in, char *err, size_t errlen)
{
    in->name = f->name;
    in->feature = -1;
    if (f->type == CHURN_FEATURE_CATEGORICAL) {
        in->kind = INPUT_CATEGORY;
        if (is_category_name(f->name))
            return CHURN_OK;
        snprintf(err, errlen,
                 "model feature '%s' is categorical but the store provides no such category "
                 "(segment, plan, country or attr.<name>)",
                 f->name);
        return CHURN_EPRECOND;
    }
    if (strncmp(f->name, "attr.", 5) == 0) {
        in->kind = INPUT_NUMERIC;
        return CHURN_OK;
    }
    in->kind = INPUT_FEATURE;
    in->feature = churn_features_find(f->name);
    if (in->feature >= 0)
        return CHURN_OK;
    snprintf(err, errlen, "model feature '%s' is not provided by the store (see docs/FEATURES.md)",
             f->name);
    return CHURN_EPRECOND;
}

enum churn_err
churn_model_inputs_bind(const struct churn_model *model, struct churn_model_inputs **out, char *err,
                        size_t errlen)
{
    size_t n = churn_model_n_features(model);
    struct churn_model_inputs *b = churn_calloc(1, sizeof(*b) + (n + 1) * sizeof(struct input));
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return CHURN_ENOMEM;
    }
    b->n = n;
    for (size_t i = 0; i < n; i++) {
        enum churn_err e = bind_one(churn_model_feature(model, i), &b->in[i], err, errlen);
        if (e) {
            churn_free(b);
            return e;
        }
    }
    *out = b;
    return CHURN_OK;
}

void
churn_model_inputs_free(struct churn_model_inputs *in)
{
    churn_free(in);
}

void
churn_model_inputs_fill(const struct churn_model_inputs *b, const struct churn_model *model,
                        const struct churn_customer *rec, const struct churn_feature_vector *vec,
                        double *x)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct input *in = &b->in[i];
        switch (in->kind) {
        case INPUT_FEATURE:
            x[i] = vec->values[in->feature];
            break;
        case INPUT_NUMERIC:
            if (churn_features_value(rec, vec, in->name, &x[i]) != CHURN_OK)
                x[i] = NAN;
            break;
        case INPUT_CATEGORY: {
            const char *v = churn_features_category(rec, in->name);
            x[i] = churn_model_category_code(model, i, v && *v ? v : NULL);
            break;
        }
        }
    }
}

int
churn_model_inputs_feature(const struct churn_model_inputs *b, size_t i)
{
    return i < b->n ? b->in[i].feature : -1;
}
