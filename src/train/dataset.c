/*
 * dataset.c - training sets from CSV. One streaming pass over the file: every column starts
 * numeric and stays so while each value parses as a finite number; the first text value turns
 * it categorical (or is an error when the column was forced numeric). Categorical values go
 * through a capped per-column dictionary; after the pass, rare values and values past the cap
 * are bucketed as "other", kept categories are ordered by positive rate (so that trees can
 * split them as ordinals), and the label becomes 0/1 from its positive value.
 */
#include "churn/train.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "churn/alloc.h"
#include "churn/csv.h"

#define DEFAULT_MAX_ROWS     10000000u
#define DEFAULT_MAX_CATS     64u
#define DEFAULT_MAX_DISTINCT 100000u
#define LABEL_MAX_DISTINCT   64u
#define CODE_MISSING         (-1)
#define CODE_OVERFLOW        (-2)

struct dict {
    char **keys;
    uint32_t *table; /* 0 empty, else id + 1 */
    size_t n, cap_table, max;
    bool capped;
};

static uint32_t
hash_str(const char *s, size_t len)
{
    return (uint32_t)churn_model_fnv1a64(0, s, len);
}

static void
dict_free(struct dict *d)
{
    for (size_t i = 0; i < d->n; i++)
        churn_free(d->keys[i]);
    churn_free(d->keys);
    churn_free(d->table);
    memset(d, 0, sizeof(*d));
}

static enum churn_err
dict_grow(struct dict *d)
{
    size_t cap = d->cap_table ? d->cap_table * 2 : 64;
    uint32_t *t = churn_calloc(cap, sizeof(*t));
    char **k = churn_realloc(d->keys, (cap / 2) * sizeof(*k));
    if (!t || !k) {
        churn_free(t);
        if (k)
            d->keys = k;
        return CHURN_ENOMEM;
    }
    d->keys = k;
    for (size_t i = 0; i < d->n; i++) {
        size_t h = hash_str(d->keys[i], strlen(d->keys[i])) & (cap - 1);
        while (t[h])
            h = (h + 1) & (cap - 1);
        t[h] = (uint32_t)i + 1;
    }
    churn_free(d->table);
    d->table = t;
    d->cap_table = cap;
    return CHURN_OK;
}

/* id of @s (inserting it), CODE_OVERFLOW past the cap; -3 when out of memory */
static int32_t
dict_id(struct dict *d, const char *s, size_t len)
{
    if (d->cap_table) {
        size_t h = hash_str(s, len) & (d->cap_table - 1);
        while (d->table[h]) {
            const char *k = d->keys[d->table[h] - 1];
            if (strlen(k) == len && memcmp(k, s, len) == 0)
                return (int32_t)d->table[h] - 1;
            h = (h + 1) & (d->cap_table - 1);
        }
    }
    if (d->n >= d->max) {
        d->capped = true;
        return CODE_OVERFLOW;
    }
    if ((d->n + 1) * 2 > d->cap_table && dict_grow(d))
        return -3;
    char *k = churn_malloc(len + 1);
    if (!k)
        return -3;
    memcpy(k, s, len);
    k[len] = '\0';
    size_t h = hash_str(s, len) & (d->cap_table - 1);
    while (d->table[h])
        h = (h + 1) & (d->cap_table - 1);
    d->keys[d->n] = k;
    d->table[h] = (uint32_t)d->n + 1;
    return (int32_t)d->n++;
}

enum forced { INFER, NUMERIC, CATEGORICAL };

struct colb {
    const char *name; /* in names[] */
    enum forced forced;
    bool ignore, is_label, numeric;
    bool is_group, is_time; /* kept per row, not features (they are also "ignore") */
    double *num;
    int32_t *code;
    struct dict dict;
    size_t n_missing;
};

struct loader {
    struct churn_csv *csv;
    const struct churn_dataset_options *o;
    size_t ncols;
    char **names;
    struct colb *cols;
    size_t label_col;
    size_t n_rows, cap_rows, max_rows;
    uint8_t *label_id;
    uint64_t *group; /* per row, with options.group */
    double *time;    /* per row, with options.time */
    struct dict labels;
    uint64_t hash;
    char *errbuf;
    size_t errlen;
};

static enum churn_err lfail(struct loader *L, enum churn_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum churn_err
lfail(struct loader *L, enum churn_err err, const char *fmt, ...)
{
    if (L->errbuf && L->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->errbuf, L->errlen, fmt, ap);
        va_end(ap);
    }
    return err;
}

static bool
in_list(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] && strcmp(list[i], s) == 0)
            return true;
    return false;
}

static void
trim(const char **s, size_t *len)
{
    while (*len && isspace((unsigned char)(*s)[0])) {
        (*s)++;
        (*len)--;
    }
    while (*len && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

static bool
is_missing(const char *s, size_t len)
{
    static const char *const tokens[] = {"NA", "N/A", "NaN", "nan", "null", "NULL", "?"};
    if (len == 0)
        return true;
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
        if (strlen(tokens[i]) == len && memcmp(tokens[i], s, len) == 0)
            return true;
    return false;
}

static bool
parse_number(const char *s, size_t len, double *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!(isdigit((unsigned char)c) || c == '.' || c == '-' || c == '+' || c == 'e' ||
              c == 'E'))
            return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    double d = strtod(buf, &end);
    if (end != buf + len || !isfinite(d))
        return false;
    *out = d;
    return true;
}

static enum churn_err
check_list(struct loader *L, const char *const *list, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        size_t c = 0;
        while (c < L->ncols && strcmp(L->names[c], list[i] ? list[i] : "") != 0)
            c++;
        if (c == L->ncols)
            return lfail(L, CHURN_EINVAL, "%s: no column '%s' in the header", what,
                         list[i] ? list[i] : "(null)");
    }
    return CHURN_OK;
}

static enum churn_err
read_header(struct loader *L)
{
    bool eof;
    enum churn_err err = churn_csv_next(L->csv, &eof);
    if (err)
        return lfail(L, err, "%s", churn_csv_error(L->csv));
    if (eof)
        return lfail(L, CHURN_EINVAL, "empty CSV: no header line");
    L->ncols = churn_csv_nfields(L->csv);
    L->names = churn_calloc(L->ncols, sizeof(*L->names));
    L->cols = churn_calloc(L->ncols, sizeof(*L->cols));
    if (!L->names || !L->cols)
        return lfail(L, CHURN_ENOMEM, "out of memory");
    bool found = false;
    for (size_t c = 0; c < L->ncols; c++) {
        size_t len;
        const char *s = churn_csv_field(L->csv, c, &len);
        trim(&s, &len);
        if (len == 0)
            return lfail(L, CHURN_EINVAL, "header: column %zu has an empty name", c + 1);
        if (len > 256)
            return lfail(L, CHURN_EINVAL, "header: column %zu has a name over 256 bytes", c + 1);
        L->names[c] = churn_malloc(len + 1);
        if (!L->names[c])
            return lfail(L, CHURN_ENOMEM, "out of memory");
        memcpy(L->names[c], s, len);
        L->names[c][len] = '\0';
        L->hash = churn_model_fnv1a64(L->hash, L->names[c], len + 1);
        for (size_t k = 0; k < c; k++)
            if (strcmp(L->names[k], L->names[c]) == 0)
                return lfail(L, CHURN_EINVAL, "header: duplicate column name '%s'", L->names[c]);
        struct colb *cb = &L->cols[c];
        cb->name = L->names[c];
        cb->numeric = true;
        cb->dict.max = L->o->max_distinct ? L->o->max_distinct : DEFAULT_MAX_DISTINCT;
        if (strcmp(L->names[c], L->o->label) == 0) {
            cb->is_label = true;
            L->label_col = c;
            found = true;
        }
        cb->ignore = in_list(L->o->ignore, L->o->n_ignore, L->names[c]);
        cb->is_group = L->o->group && strcmp(L->names[c], L->o->group) == 0;
        cb->is_time = L->o->time && strcmp(L->names[c], L->o->time) == 0;
        if ((cb->is_group || cb->is_time) && cb->is_label)
            return lfail(L, CHURN_EINVAL, "column '%s' cannot be the label and a %s column",
                         L->names[c], cb->is_group ? "group" : "time");
        cb->ignore |= cb->is_group || cb->is_time;
        if (in_list(L->o->numeric, L->o->n_numeric, L->names[c]))
            cb->forced = NUMERIC;
        if (in_list(L->o->categorical, L->o->n_categorical, L->names[c])) {
            if (cb->forced == NUMERIC)
                return lfail(L, CHURN_EINVAL, "column '%s' is forced numeric and categorical",
                             L->names[c]);
            cb->forced = CATEGORICAL;
            cb->numeric = false;
        }
    }
    if (!found)
        return lfail(L, CHURN_EINVAL, "label column '%s' not found in the header", L->o->label);
    const char *roles[2] = {L->o->group, L->o->time};
    for (int i = 0; i < 2; i++) {
        bool there = false;
        for (size_t c = 0; roles[i] && c < L->ncols; c++)
            there |= strcmp(L->names[c], roles[i]) == 0;
        if (roles[i] && !there)
            return lfail(L, CHURN_EINVAL, "%s column '%s' not found in the header",
                         i ? "time" : "group", roles[i]);
    }
    if ((err = check_list(L, L->o->numeric, L->o->n_numeric, "numeric")) ||
        (err = check_list(L, L->o->categorical, L->o->n_categorical, "categorical")) ||
        (err = check_list(L, L->o->ignore, L->o->n_ignore, "ignore")))
        return err;
    L->labels.max = LABEL_MAX_DISTINCT;
    return CHURN_OK;
}

static enum churn_err
grow_rows(struct loader *L)
{
    if (L->n_rows >= L->max_rows)
        return lfail(L, CHURN_ETOOBIG, "line %lu: more than %zu data rows", churn_csv_line(L->csv),
                     L->max_rows);
    size_t cap = L->cap_rows ? L->cap_rows * 2 : 1024;
    if (cap > L->max_rows)
        cap = L->max_rows;
    uint8_t *lab = churn_realloc(L->label_id, cap);
    if (!lab)
        return lfail(L, CHURN_ENOMEM, "out of memory");
    L->label_id = lab;
    if (L->o->group) {
        uint64_t *g = churn_realloc(L->group, cap * sizeof(*g));
        if (!g)
            return lfail(L, CHURN_ENOMEM, "out of memory");
        L->group = g;
    }
    if (L->o->time) {
        double *t = churn_realloc(L->time, cap * sizeof(*t));
        if (!t)
            return lfail(L, CHURN_ENOMEM, "out of memory");
        L->time = t;
    }
    for (size_t c = 0; c < L->ncols; c++) {
        struct colb *cb = &L->cols[c];
        if (cb->is_label || cb->ignore)
            continue;
        if (cb->numeric) {
            double *p = churn_realloc(cb->num, cap * sizeof(*p));
            if (!p)
                return lfail(L, CHURN_ENOMEM, "out of memory");
            cb->num = p;
        } else {
            int32_t *p = churn_realloc(cb->code, cap * sizeof(*p));
            if (!p)
                return lfail(L, CHURN_ENOMEM, "out of memory");
            cb->code = p;
        }
    }
    L->cap_rows = cap;
    return CHURN_OK;
}

/* The column held numbers so far and now sees text: re-encode the earlier rows as text. */
static enum churn_err
to_categorical(struct loader *L, struct colb *cb)
{
    int32_t *code = churn_malloc((L->cap_rows ? L->cap_rows : 1) * sizeof(*code));
    if (!code)
        return lfail(L, CHURN_ENOMEM, "out of memory");
    for (size_t r = 0; r < L->n_rows; r++) {
        double v = cb->num[r];
        if (isnan(v)) {
            code[r] = CODE_MISSING;
            continue;
        }
        char buf[40];
        snprintf(buf, sizeof(buf), "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, sizeof(buf), "%.17g", v);
        int32_t id = dict_id(&cb->dict, buf, strlen(buf));
        if (id == -3) {
            churn_free(code);
            return lfail(L, CHURN_ENOMEM, "out of memory");
        }
        code[r] = id;
    }
    churn_free(cb->num);
    cb->num = NULL;
    cb->code = code;
    cb->numeric = false;
    return CHURN_OK;
}

static enum churn_err
read_rows(struct loader *L)
{
    for (;;) {
        bool eof;
        enum churn_err err = churn_csv_next(L->csv, &eof);
        if (err)
            return lfail(L, err, "%s", churn_csv_error(L->csv));
        if (eof)
            return CHURN_OK;
        unsigned long line = churn_csv_line(L->csv);
        if (churn_csv_nfields(L->csv) != L->ncols)
            return lfail(L, CHURN_ECORRUPT, "line %lu: %zu fields, expected %zu", line,
                         churn_csv_nfields(L->csv), L->ncols);
        if (L->n_rows == L->cap_rows && (err = grow_rows(L)))
            return err;
        size_t r = L->n_rows;
        for (size_t c = 0; c < L->ncols; c++) {
            size_t len;
            const char *s = churn_csv_field(L->csv, c, &len);
            L->hash = churn_model_fnv1a64(L->hash, s, len + 1);
            struct colb *cb = &L->cols[c];
            if (cb->is_group)
                L->group[r] = churn_model_fnv1a64(0, s, len);
            if (cb->is_time && !parse_number(s, len, &L->time[r]))
                return lfail(L, CHURN_EINVAL, "line %lu, time column '%s': '%.40s' is not a number",
                             line, cb->name, s);
            if (cb->ignore)
                continue;
            trim(&s, &len);
            if (cb->is_label) {
                if (is_missing(s, len))
                    return lfail(L, CHURN_EINVAL, "line %lu: label '%s' is missing", line,
                                 cb->name);
                int32_t id = dict_id(&L->labels, s, len);
                if (id == CODE_OVERFLOW)
                    return lfail(L, CHURN_EINVAL,
                                 "line %lu: label '%s' has more than %u distinct values", line,
                                 cb->name, LABEL_MAX_DISTINCT);
                if (id < 0)
                    return lfail(L, CHURN_ENOMEM, "out of memory");
                L->label_id[r] = (uint8_t)id;
                continue;
            }
            bool miss = is_missing(s, len);
            cb->n_missing += miss;
            if (cb->numeric) {
                double v = NAN;
                if (!miss && !parse_number(s, len, &v)) {
                    if (cb->forced == NUMERIC)
                        return lfail(L, CHURN_EINVAL,
                                     "line %lu, column '%s': '%.40s' is not a number", line,
                                     cb->name, s);
                    if ((err = to_categorical(L, cb)))
                        return err;
                } else {
                    cb->num[r] = v;
                    continue;
                }
            }
            int32_t id = CODE_MISSING;
            if (!miss) {
                id = dict_id(&cb->dict, s, len);
                if (id == -3)
                    return lfail(L, CHURN_ENOMEM, "out of memory");
            }
            cb->code[r] = id;
        }
        L->n_rows++;
    }
}

static bool
positive_word(const char *s)
{
    static const char *const words[] = {"1",     "yes",     "true",     "y",  "t",
                                        "churn", "churned", "positive", "1.0"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasecmp(s, words[i]) == 0)
            return true;
    return false;
}

static enum churn_err
resolve_label(struct loader *L, struct churn_dataset *ds)
{
    const char *label = L->names[L->label_col];
    if (L->labels.n == 1)
        return lfail(L, CHURN_EINVAL, "label column '%s' has one class only ('%s')", label,
                     L->labels.keys[0]);
    int pos = -1;
    if (L->o->positive) {
        for (size_t i = 0; i < L->labels.n; i++)
            if (strcmp(L->labels.keys[i], L->o->positive) == 0)
                pos = (int)i;
        if (pos < 0)
            return lfail(L, CHURN_EINVAL, "positive value '%s' does not occur in label column '%s'",
                         L->o->positive, label);
    } else {
        if (L->labels.n != 2)
            return lfail(L, CHURN_EINVAL,
                         "label column '%s' has %zu distinct values: name the positive one", label,
                         L->labels.n);
        for (size_t i = 0; i < 2; i++)
            if (positive_word(L->labels.keys[i]))
                pos = pos < 0 ? (int)i : -2;
        if (pos < 0)
            return lfail(L, CHURN_EINVAL,
                         "label column '%s': cannot tell which of '%s' and '%s' means churn: "
                         "name the positive value",
                         label, L->labels.keys[0], L->labels.keys[1]);
    }
    ds->y = churn_malloc(L->n_rows * sizeof(*ds->y));
    ds->label = churn_strdup(label);
    ds->positive = churn_strdup(L->labels.keys[pos]);
    if (!ds->y || !ds->label || !ds->positive)
        return lfail(L, CHURN_ENOMEM, "out of memory");
    for (size_t r = 0; r < L->n_rows; r++) {
        ds->y[r] = L->label_id[r] == pos ? 1.0 : 0.0;
        ds->n_positive += L->label_id[r] == pos;
    }
    if (ds->n_positive == 0 || ds->n_positive == L->n_rows)
        return lfail(L, CHURN_EINVAL, "label column '%s' has one class only", label);
    return CHURN_OK;
}

struct catstat {
    uint32_t id;
    size_t count, pos;
};

static int
cmp_count(const void *a, const void *b)
{
    const struct catstat *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int
cmp_rate(const void *a, const void *b)
{
    const struct catstat *x = a, *y = b;
    double rx = (double)x->pos / (double)x->count, ry = (double)y->pos / (double)y->count;
    if (rx != ry)
        return rx < ry ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static enum churn_err
finish_categorical(struct loader *L, struct colb *cb, struct churn_dataset_feature *f, double *out,
                   const double *y)
{
    size_t n = cb->dict.n;
    struct catstat *st = churn_calloc(n ? n : 1, sizeof(*st));
    int32_t *map = churn_malloc((n ? n : 1) * sizeof(*map));
    if (!st || !map) {
        churn_free(st);
        churn_free(map);
        return lfail(L, CHURN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        st[i].id = (uint32_t)i;
    for (size_t r = 0; r < L->n_rows; r++) {
        int32_t c = cb->code[r];
        if (c >= 0) {
            st[c].count++;
            st[c].pos += y[r] > 0;
        }
    }
    size_t min_count = L->o->min_category_count;
    if (!min_count) {
        min_count = L->n_rows / 2000;
        if (min_count < 5)
            min_count = 5;
    }
    size_t max_cats = L->o->max_categories ? L->o->max_categories : DEFAULT_MAX_CATS;
    if (max_cats > CHURN_MODEL_MAX_CATEGORIES)
        max_cats = CHURN_MODEL_MAX_CATEGORIES;
    qsort(st, n, sizeof(*st), cmp_count);
    size_t kept = 0;
    while (kept < n && kept < max_cats && st[kept].count >= min_count)
        kept++;
    qsort(st, kept, sizeof(*st), cmp_rate);
    for (size_t i = 0; i < n; i++)
        map[i] = -1;
    f->categories = churn_calloc(kept ? kept : 1, sizeof(*f->categories));
    if (!f->categories) {
        churn_free(st);
        churn_free(map);
        return lfail(L, CHURN_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < kept; k++) {
        map[st[k].id] = (int32_t)k;
        f->categories[k] = cb->dict.keys[st[k].id];
        cb->dict.keys[st[k].id] = NULL; /* moved */
        f->n_categories = k + 1;
    }
    size_t used_other = 0;
    bool used[CHURN_MODEL_MAX_CATEGORIES] = {0};
    size_t distinct_codes = 0;
    for (size_t r = 0; r < L->n_rows; r++) {
        int32_t c = cb->code[r];
        if (c == CODE_MISSING) {
            out[r] = NAN;
            continue;
        }
        int32_t k = c >= 0 ? map[c] : -1;
        if (k < 0) {
            out[r] = (double)kept;
            used_other++;
        } else {
            out[r] = (double)k;
            if (!used[k]) {
                used[k] = true;
                distinct_codes++;
            }
        }
    }
    f->n_bucketed = used_other;
    f->n_distinct = n;
    f->distinct_capped = cb->dict.capped;
    f->constant = distinct_codes + (used_other ? 1 : 0) < 2;
    /* keys moved to the feature are NULL in the dictionary; free the rest */
    for (size_t i = 0; i < n; i++)
        churn_free(cb->dict.keys[i]);
    cb->dict.n = 0;
    churn_free(st);
    churn_free(map);
    return CHURN_OK;
}

static enum churn_err
build(struct loader *L, struct churn_dataset **out)
{
    struct churn_dataset *ds = churn_calloc(1, sizeof(*ds));
    if (!ds)
        return lfail(L, CHURN_ENOMEM, "out of memory");
    enum churn_err err;
    if (L->n_rows == 0) {
        err = lfail(L, CHURN_EINVAL, "no data rows after the header");
        goto out_free;
    }
    ds->n_rows = L->n_rows;
    if ((err = resolve_label(L, ds)))
        goto out_free;
    size_t nf = 0;
    for (size_t c = 0; c < L->ncols; c++)
        nf += !L->cols[c].is_label && !L->cols[c].ignore;
    if (nf == 0) {
        err = lfail(L, CHURN_EINVAL, "no feature columns besides the label");
        goto out_free;
    }
    ds->features = churn_calloc(nf, sizeof(*ds->features));
    ds->cols = churn_calloc(nf, sizeof(*ds->cols));
    if (!ds->features || !ds->cols) {
        err = lfail(L, CHURN_ENOMEM, "out of memory");
        goto out_free;
    }
    ds->n_features = nf;
    size_t f = 0;
    for (size_t c = 0; c < L->ncols; c++) {
        struct colb *cb = &L->cols[c];
        if (cb->is_label || cb->ignore)
            continue;
        struct churn_dataset_feature *df = &ds->features[f];
        df->name = churn_strdup(cb->name);
        df->n_missing = cb->n_missing;
        if (!df->name) {
            err = lfail(L, CHURN_ENOMEM, "out of memory");
            goto out_free;
        }
        if (cb->numeric) {
            df->type = CHURN_FEATURE_NUMERIC;
            ds->cols[f] = churn_realloc(cb->num, L->n_rows * sizeof(double));
            if (!ds->cols[f]) {
                err = lfail(L, CHURN_ENOMEM, "out of memory");
                goto out_free;
            }
            cb->num = NULL;
            double lo = INFINITY, hi = -INFINITY;
            for (size_t r = 0; r < L->n_rows; r++) {
                double v = ds->cols[f][r];
                if (v < lo)
                    lo = v;
                if (v > hi)
                    hi = v;
            }
            df->constant = !(lo < hi);
        } else {
            df->type = CHURN_FEATURE_CATEGORICAL;
            ds->cols[f] = churn_malloc(L->n_rows * sizeof(double));
            if (!ds->cols[f]) {
                err = lfail(L, CHURN_ENOMEM, "out of memory");
                goto out_free;
            }
            if ((err = finish_categorical(L, cb, df, ds->cols[f], ds->y)))
                goto out_free;
        }
        f++;
    }
    snprintf(ds->data_hash, sizeof(ds->data_hash), "fnv1a64:%016" PRIx64, L->hash);
    ds->group = L->group;
    ds->time = L->time;
    L->group = NULL;
    L->time = NULL;
    *out = ds;
    return CHURN_OK;
out_free:
    churn_dataset_free(ds);
    return err;
}

static void
loader_fini(struct loader *L)
{
    for (size_t c = 0; L->cols && c < L->ncols; c++) {
        churn_free(L->cols[c].num);
        churn_free(L->cols[c].code);
        dict_free(&L->cols[c].dict);
    }
    for (size_t c = 0; L->names && c < L->ncols; c++)
        churn_free(L->names[c]);
    churn_free(L->names);
    churn_free(L->cols);
    churn_free(L->label_id);
    churn_free(L->group);
    churn_free(L->time);
    dict_free(&L->labels);
    churn_csv_close(L->csv);
}

static enum churn_err
load(struct loader *L, struct churn_dataset **out)
{
    if (!L->o->label || !*L->o->label)
        return lfail(L, CHURN_EINVAL, "no label column given");
    L->max_rows = L->o->max_rows ? L->o->max_rows : DEFAULT_MAX_ROWS;
    enum churn_err err = read_header(L);
    if (!err)
        err = read_rows(L);
    if (!err)
        err = build(L, out);
    return err;
}

enum churn_err
churn_dataset_load_csv(const char *path, const struct churn_dataset_options *opts,
                       struct churn_dataset **out, char *errbuf, size_t errlen)
{
    struct loader L = {.o = opts, .errbuf = errbuf, .errlen = errlen};
    struct churn_csv_options co = {.max_record = opts->max_record};
    enum churn_err err = churn_csv_open_file(path, &co, &L.csv);
    if (err)
        return lfail(&L, err, "%s: cannot open (%s)", path, churn_strerror(err));
    err = load(&L, out);
    loader_fini(&L);
    return err;
}

enum churn_err
churn_dataset_load_csv_mem(const char *text, size_t len, const struct churn_dataset_options *opts,
                           struct churn_dataset **out, char *errbuf, size_t errlen)
{
    struct loader L = {.o = opts, .errbuf = errbuf, .errlen = errlen};
    struct churn_csv_options co = {.max_record = opts->max_record};
    enum churn_err err = churn_csv_open_mem(text, len, &co, &L.csv);
    if (err)
        return lfail(&L, err, "cannot read CSV (%s)", churn_strerror(err));
    err = load(&L, out);
    loader_fini(&L);
    return err;
}

void
churn_dataset_free(struct churn_dataset *ds)
{
    if (!ds)
        return;
    for (size_t f = 0; ds->features && f < ds->n_features; f++) {
        struct churn_dataset_feature *df = &ds->features[f];
        churn_free(df->name);
        for (size_t c = 0; df->categories && c < df->n_categories; c++)
            churn_free(df->categories[c]);
        churn_free(df->categories);
    }
    for (size_t f = 0; ds->cols && f < ds->n_features; f++)
        churn_free(ds->cols[f]);
    churn_free(ds->group);
    churn_free(ds->time);
    churn_free(ds->features);
    churn_free(ds->cols);
    churn_free(ds->y);
    churn_free(ds->label);
    churn_free(ds->positive);
    churn_free(ds);
}

void
churn_dataset_row(const struct churn_dataset *ds, size_t row, double *x)
{
    for (size_t f = 0; f < ds->n_features; f++)
        x[f] = ds->cols[f][row];
}
