/*
 * monotone.c - monotone constraints of a training run: parsing a "NAME=+1,NAME=-1" list (or
 * the catalogue's declared directions) into one direction per dataset feature, checking the
 * array a caller puts in struct churn_train_options, and the direction of each feature a fit
 * uses. The fitters (gbdt.c, logreg.c) enforce the directions; this file only says what they
 * are.
 */
#include <string.h>

#include "churn/alloc.h"
#include "churn/features.h"
#include "internal.h"

#define ITEM_MAX 300u /* bytes of one NAME=DIR item */

static int
find_column(const struct churn_dataset *ds, const char *name, size_t len)
{
    for (size_t f = 0; f < ds->n_features; f++) {
        const char *n = ds->features[f].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return (int)f;
    }
    return -1;
}

static bool
parse_direction(const char *s, signed char *out)
{
    static const struct {
        const char *text;
        signed char dir;
    } dirs[] = {{"+1", 1}, {"1", 1}, {"-1", -1}, {"0", 0}};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        if (strcmp(s, dirs[i].text) == 0) {
            *out = dirs[i].dir;
            return true;
        }
    }
    return false;
}

static enum churn_err
categorical(const struct churn_dataset *ds, size_t f, struct churn__tctx *ctx)
{
    return churn__train_fail(ctx, CHURN_EINVAL,
                             "monotone: column '%s' is categorical: only a numeric column can "
                             "have a direction",
                             ds->features[f].name);
}

static void
apply_catalogue(const struct churn_dataset *ds, signed char *out)
{
    for (size_t f = 0; f < ds->n_features; f++)
        if (ds->features[f].type == CHURN_FEATURE_NUMERIC)
            out[f] = (signed char)churn_features_monotone(ds->features[f].name);
}

/* One item "NAME=DIR" of @len bytes at @item; @named marks the columns already given. */
static enum churn_err
parse_item(const struct churn_dataset *ds, const char *item, size_t len, signed char *out,
           bool *named, struct churn__tctx *ctx)
{
    const char *eq = memchr(item, '=', len);
    if (!eq || eq == item)
        return churn__train_fail(ctx, CHURN_EINVAL,
                                 "monotone: '%.*s': expected NAME=+1, NAME=-1, NAME=0 or catalogue",
                                 (int)len, item);
    size_t nlen = (size_t)(eq - item), dlen = len - nlen - 1;
    char dir[8];
    signed char d = 0;
    if (dlen >= sizeof(dir))
        dlen = sizeof(dir) - 1; /* too long for a direction: refused below */
    memcpy(dir, eq + 1, dlen);
    dir[dlen] = '\0';
    if (len - nlen - 1 >= sizeof(dir) || !parse_direction(dir, &d))
        return churn__train_fail(ctx, CHURN_EINVAL,
                                 "monotone: '%.*s': the direction must be +1, 1, -1 or 0", (int)len,
                                 item);
    int f = find_column(ds, item, nlen);
    if (f < 0)
        return churn__train_fail(ctx, CHURN_EINVAL, "monotone: '%.*s': no column called '%.*s'",
                                 (int)len, item, (int)nlen, item);
    if (named[f])
        return churn__train_fail(ctx, CHURN_EINVAL, "monotone: column '%s' is named twice",
                                 ds->features[f].name);
    if (d && ds->features[f].type != CHURN_FEATURE_NUMERIC)
        return categorical(ds, (size_t)f, ctx);
    named[f] = true;
    out[f] = d;
    return CHURN_OK;
}

enum churn_err
churn_train_parse_monotone(const struct churn_dataset *ds, const char *spec, signed char *out,
                           char *errbuf, size_t errlen)
{
    struct churn__tctx ctx = {errbuf, errlen};
    memset(out, 0, ds->n_features);
    if (!spec || !*spec)
        return CHURN_OK;
    bool *named = churn_calloc(ds->n_features ? ds->n_features : 1, sizeof(bool));
    if (!named)
        return churn__train_fail(&ctx, CHURN_ENOMEM, "out of memory");
    enum churn_err err = CHURN_OK;
    for (const char *p = spec; !err;) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len > ITEM_MAX)
            err =
                churn__train_fail(&ctx, CHURN_EINVAL, "monotone: item %zu: %s", (size_t)(p - spec),
                                  len ? "longer than 300 bytes"
                                      : "empty (two commas, or a "
                                        "comma at an end)");
        else if (len == strlen("catalogue") && memcmp(p, "catalogue", len) == 0)
            apply_catalogue(ds, out);
        else
            err = parse_item(ds, p, len, out, named, &ctx);
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    churn_free(named);
    return err;
}

enum churn_err
churn__monotone_check(const struct churn_dataset *ds, const struct churn_train_options *o,
                      struct churn__tctx *ctx)
{
    if (!o->monotone)
        return CHURN_OK;
    if (o->n_monotone != ds->n_features)
        return churn__train_fail(ctx, CHURN_EINVAL,
                                 "monotone: %zu directions for %zu dataset columns", o->n_monotone,
                                 ds->n_features);
    for (size_t f = 0; f < ds->n_features; f++) {
        int d = o->monotone[f];
        if (d < -1 || d > 1)
            return churn__train_fail(ctx, CHURN_EINVAL,
                                     "monotone: column '%s': direction %d is not -1, 0 or +1",
                                     ds->features[f].name, d);
        if (d && ds->features[f].type != CHURN_FEATURE_NUMERIC)
            return categorical(ds, f, ctx);
    }
    return CHURN_OK;
}

int
churn__fit_monotone(const struct churn__fit *fit, const struct churn_train_options *o, size_t k)
{
    return o->monotone ? o->monotone[fit->feat[k]] : 0;
}
