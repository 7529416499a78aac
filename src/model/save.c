/*
 * save.c - writing a model back as a native model file: the JSON document (features with
 * preprocessing, parameters or a blend's member documents, calibration, training metadata),
 * its checksum over the canonical text, and the atomic write (temporary file, fsync, rename,
 * fsync of the directory) so that a reader never sees half a model.
 */
#include "churn/model.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "churn/alloc.h"
#include "internal.h"

static void
set(json_t *obj, const char *key, json_t *v, bool *ok)
{
    if (json_object_set_new(obj, key, v) != 0)
        *ok = false;
}

static void
push(json_t *arr, json_t *v, bool *ok)
{
    if (json_array_append_new(arr, v) != 0)
        *ok = false;
}

static json_t *
parse_or_null(const char *text)
{
    return text ? json_loads(text, 0, NULL) : NULL;
}

static json_t *
feature_doc(const struct churn_model *m, const struct churn__feature *f, bool *ok)
{
    json_t *o = json_object();
    if (!o) {
        *ok = false;
        return NULL;
    }
    set(o, "name", json_string(f->name), ok);
    if (f->label)
        set(o, "label", json_string(f->label), ok);
    if (f->pub.type == CHURN_FEATURE_NUMERIC) {
        set(o, "type", json_string("numeric"), ok);
        if (m->kind == CHURN_MODEL_LOGISTIC_REGRESSION) {
            set(o, "mean", json_real(f->mean), ok);
            set(o, "std", json_real(f->std), ok);
        }
    } else {
        set(o, "type", json_string("categorical"), ok);
        json_t *cats = json_array();
        for (size_t c = 0; cats && c < f->pub.n_categories; c++)
            push(cats, json_string(f->cats[c]), ok);
        set(o, "categories", cats, ok);
    }
    if (f->pub.monotone)
        set(o, "monotone", json_integer(f->pub.monotone), ok);
    json_t *miss = json_object();
    if (miss) {
        set(miss, "indicator", json_boolean(f->indicator), ok);
        if (f->pub.type == CHURN_FEATURE_NUMERIC && m->kind == CHURN_MODEL_LOGISTIC_REGRESSION)
            set(miss, "impute", json_real(f->impute), ok);
    }
    set(o, "missing", miss, ok);
    return o;
}

static json_t *
tree_doc(const struct churn_model *m, size_t t, bool *ok)
{
    size_t start = (size_t)m->roots[t];
    size_t end = t + 1 < m->n_trees ? (size_t)m->roots[t + 1] : m->n_nodes;
    json_t *o = json_object();
    json_t *a[7];
    static const char *const keys[] = {"feature", "threshold",    "left", "right",
                                       "value",   "default_left", "cover"};
    for (size_t k = 0; k < 7; k++) {
        a[k] = json_array();
        if (o)
            set(o, keys[k], a[k], ok);
    }
    if (!o)
        *ok = false;
    for (size_t i = start; o && i < end; i++) {
        const struct churn__node *nd = &m->nodes[i];
        bool leaf = nd->feature == (int32_t)m->n_features; /* leaves loop to themselves */
        json_int_t l = leaf ? -1 : (json_int_t)(nd->left - (int32_t)start);
        push(a[0], json_integer(leaf ? -1 : nd->feature), ok);
        push(a[1], json_real(leaf ? 0.0 : (double)nd->threshold), ok);
        push(a[2], json_integer(l), ok);
        push(a[3], json_integer(leaf ? -1 : l + 1), ok);
        push(a[4], json_real(m->values[i]), ok);
        push(a[5], json_integer(nd->default_left ? 1 : 0), ok);
        push(a[6], json_real(m->covers[i]), ok);
    }
    return o;
}

/* A blend's "blend" object: the intercept and each member's weight and document (without the
 * header, calibration and training metadata, which belong to the blend). */
static json_t *
blend_doc(const struct churn_model *m, bool *ok)
{
    static const char *const drop[] = {"format_version", "checksum", "calibration", "training"};
    json_t *b = json_object(), *members = json_array();
    if (!b || !members) {
        json_decref(b);
        json_decref(members);
        *ok = false;
        return NULL;
    }
    set(b, "intercept", json_real(m->blend_intercept), ok);
    for (size_t i = 0; i < m->n_members; i++) {
        json_t *sub = churn__model_to_doc(m->members[i]), *o = json_object();
        if (!sub || !o) {
            json_decref(sub);
            json_decref(o);
            *ok = false;
            continue;
        }
        for (size_t k = 0; k < sizeof(drop) / sizeof(drop[0]); k++)
            json_object_del(sub, drop[k]);
        set(o, "weight", json_real(m->weights[i]), ok);
        set(o, "model", sub, ok);
        push(members, o, ok);
    }
    set(b, "members", members, ok);
    return b;
}

json_t *
churn__model_to_doc(const struct churn_model *m)
{
    bool ok = true;
    json_t *doc = json_object();
    if (!doc)
        return NULL;
    set(doc, "format_version", json_integer(CHURN_MODEL_FORMAT_VERSION), &ok);
    set(doc, "kind", json_string(churn_model_kind_name(m->kind)), &ok);
    if (m->version)
        set(doc, "version", json_string(m->version), &ok);
    json_t *feats = json_array();
    for (size_t i = 0; feats && i < m->n_features; i++)
        push(feats, feature_doc(m, &m->features[i], &ok), &ok);
    set(doc, "features", feats, &ok);
    if (m->kind == CHURN_MODEL_LOGISTIC_REGRESSION) {
        json_t *lr = json_object(), *coef = json_array();
        for (size_t i = 0; coef && i < m->n_cols; i++)
            push(coef, json_real(m->coef[i]), &ok);
        if (lr) {
            set(lr, "intercept", json_real(m->intercept), &ok);
            set(lr, "coefficients", coef, &ok);
        }
        set(doc, "logistic_regression", lr, &ok);
    } else if (m->kind == CHURN_MODEL_BLEND) {
        set(doc, "blend", blend_doc(m, &ok), &ok);
    } else {
        json_t *g = json_object(), *trees = json_array();
        for (size_t t = 0; trees && t < m->n_trees; t++)
            push(trees, tree_doc(m, t, &ok), &ok);
        if (g) {
            set(g, "base_margin", json_real(m->base_margin), &ok);
            set(g, "trees", trees, &ok);
        }
        set(doc, "gbdt", g, &ok);
    }
    json_t *cal = json_object();
    if (cal) {
        if (m->calibration == CHURN_CALIBRATION_PLATT) {
            set(cal, "method", json_string("platt"), &ok);
            set(cal, "a", json_real(m->platt_a), &ok);
            set(cal, "b", json_real(m->platt_b), &ok);
        } else if (m->calibration == CHURN_CALIBRATION_ISOTONIC) {
            json_t *xs = json_array(), *ys = json_array();
            for (size_t i = 0; xs && ys && i < m->n_iso; i++) {
                push(xs, json_real(m->iso_x[i]), &ok);
                push(ys, json_real(m->iso_y[i]), &ok);
            }
            set(cal, "method", json_string("isotonic"), &ok);
            set(cal, "x", xs, &ok);
            set(cal, "y", ys, &ok);
        } else {
            set(cal, "method", json_string("none"), &ok);
        }
    }
    set(doc, "calibration", cal, &ok);
    json_t *tr = json_object();
    if (tr) {
        if (m->data_hash)
            set(tr, "data_hash", json_string(m->data_hash), &ok);
        set(tr, "rows", json_integer((json_int_t)m->info.training_rows), &ok);
        set(tr, "trained_at_ms", json_integer(m->info.trained_at_ms), &ok);
        if (m->info.horizon_days > 0)
            set(tr, "horizon_days", json_integer(m->info.horizon_days), &ok);
        if (m->params_json)
            set(tr, "params", parse_or_null(m->params_json), &ok);
        if (m->metrics_json)
            set(tr, "metrics", parse_or_null(m->metrics_json), &ok);
    }
    set(doc, "training", tr, &ok);
    char sum[40];
    if (ok && churn__model_checksum(doc, sum, sizeof(sum)) == CHURN_OK)
        set(doc, "checksum", json_string(sum), &ok);
    else
        ok = false;
    if (!ok) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

enum churn_err
churn_model_to_json(const struct churn_model *model, char **out, size_t *len)
{
    json_t *doc = churn__model_to_doc(model);
    if (!doc)
        return CHURN_ENOMEM;
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(doc);
    if (!text)
        return CHURN_ENOMEM;
    size_t n = strlen(text);
    char *copy = churn_malloc(n + 2);
    if (copy) {
        memcpy(copy, text, n);
        copy[n] = '\n';
        copy[n + 1] = '\0';
    }
    free(text); /* allocated by jansson */
    if (!copy)
        return CHURN_ENOMEM;
    *out = copy;
    *len = n + 1;
    return CHURN_OK;
}

static enum churn_err
write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return churn_err_from_errno(errno);
        }
        p += w;
        n -= (size_t)w;
    }
    return CHURN_OK;
}

enum churn_err
churn_model_save_file(const struct churn_model *model, const char *path, char *errbuf,
                      size_t errlen)
{
    struct churn__mctx ctx = {errbuf, errlen};
    char *text = NULL, *tmp = NULL, *dir = NULL;
    size_t len;
    int fd = -1;
    enum churn_err err = churn_model_to_json(model, &text, &len);
    if (err)
        return churn__model_fail(&ctx, err, "cannot serialise the model");
    size_t plen = strlen(path);
    tmp = churn_malloc(plen + 16);
    dir = churn_strdup(path);
    if (!tmp || !dir) {
        err = churn__model_fail(&ctx, CHURN_ENOMEM, "out of memory");
        goto out_free;
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        err = churn__model_fail(&ctx, churn_err_from_errno(errno), "%s: %s", tmp, strerror(errno));
        goto out_free;
    }
    if ((err = write_all(fd, text, len)) || fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
        err = churn__model_fail(&ctx, err ? err : churn_err_from_errno(errno),
                                "%s: write failed: %s", tmp, strerror(errno));
        goto out_unlink;
    }
    if (close(fd) != 0) {
        fd = -1;
        err = churn__model_fail(&ctx, CHURN_EIO, "%s: close failed: %s", tmp, strerror(errno));
        goto out_unlink;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        err = churn__model_fail(&ctx, churn_err_from_errno(errno), "%s: rename failed: %s", path,
                                strerror(errno));
        goto out_unlink;
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = '\0';
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    goto out_free;
out_unlink:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out_free:
    churn_free(text);
    churn_free(tmp);
    churn_free(dir);
    return err;
}
