/*
 * store_export.c - writes a point-in-time training set from a store as CSV, for
 * `churnctl train`: for each snapshot time as_of (the end of a UTC day), every customer who
 * was a customer then and had not churned yet gets one row with its features at as_of and
 * the label "churned within the next --label-days" (churn_features_label()). Snapshots step
 * back from the newest as_of whose label window is fully observed.
 *
 *   store-export --store DIR [--observed MS] [--label-days 30] [--inactivity-days 0]
 *                [--snapshots 1] [--every 30] [--out FILE]
 *
 * Pass `--ignore customer_id,as_of_ms` (or the trainer's equivalent) when training: they
 * identify rows and are not features.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/buf.h"
#include "churn/clock.h"
#include "churn/features.h"
#include "churn/store.h"

struct export
{
    FILE *out;
    struct churn_buf line;
    int64_t as_of[64];
    int snapshots;
    int label_days;
    int inactivity_days;
    int64_t observed;
    long rows, positives, skipped;
    int failed;
};

static int
export_customer(const struct churn_customer *rec, void *user)
{
    struct export *x = user;
    for (int s = 0; s < x->snapshots; s++) {
        int label =
            churn_features_label(rec, x->as_of[s], x->label_days, x->inactivity_days, x->observed);
        if (label < 0) {
            x->skipped++;
            continue;
        }
        struct churn_feature_vector v;
        churn_buf_reset(&x->line);
        if (churn_features_extract(rec, x->as_of[s], &v) ||
            churn_features_csv_row(rec, &v, label, &x->line) ||
            fwrite(x->line.data, 1, x->line.len, x->out) != x->line.len) {
            x->failed = 1;
            return 1;
        }
        x->rows++;
        x->positives += label;
    }
    return 0;
}

static long
arg_long(const char *s, const char *name, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "store-export: %s must be an integer in [%ld, %ld]\n", name, lo, hi);
        exit(2);
    }
    return v;
}

int
main(int argc, char **argv)
{
    struct export x = {.snapshots = 1, .label_days = 30};
    const char *dir = NULL, *out = NULL;
    long every = 30;
    x.observed = churn_now_ms();

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "store-export: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--store") == 0)
            dir = v;
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--observed") == 0)
            x.observed = arg_long(v, a, 1, CHURN_FEATURES_AS_OF_MAX);
        else if (strcmp(a, "--label-days") == 0)
            x.label_days = (int)arg_long(v, a, 1, CHURN_HORIZON_DAYS_MAX);
        else if (strcmp(a, "--inactivity-days") == 0)
            x.inactivity_days = (int)arg_long(v, a, 0, CHURN_HORIZON_DAYS_MAX);
        else if (strcmp(a, "--snapshots") == 0)
            x.snapshots = (int)arg_long(v, a, 1, 64);
        else if (strcmp(a, "--every") == 0)
            every = arg_long(v, a, 1, CHURN_HORIZON_DAYS_MAX);
        else {
            fprintf(stderr, "store-export: unknown option %s\n", a);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "store-export: --store DIR is required\n");
        return 2;
    }
    /* The newest as_of whose label window is over: the end of the day before. */
    int64_t newest = churn_features_day_end(x.observed - (int64_t)x.label_days * CHURN_MS_PER_DAY -
                                            CHURN_MS_PER_DAY);
    for (int s = 0; s < x.snapshots; s++)
        x.as_of[s] = newest - (int64_t)s * every * CHURN_MS_PER_DAY;

    struct churn_store *st;
    struct churn_store_options so;
    churn_store_options_init(&so);
    so.read_only = true;
    if (churn_store_open(dir, &so, &st)) {
        fprintf(stderr, "store-export: %s\n", churn_store_last_error());
        return 1;
    }
    x.out = out ? fopen(out, "w") : stdout;
    if (!x.out) {
        fprintf(stderr, "store-export: %s: %s\n", out, strerror(errno));
        churn_store_close(st);
        return 1;
    }
    churn_buf_init(&x.line, 1 << 16);
    enum churn_err err = churn_features_csv_header(&x.line);
    if (!err && fwrite(x.line.data, 1, x.line.len, x.out) != x.line.len)
        err = CHURN_EIO;
    if (!err)
        err = churn_store_foreach_customer(st, export_customer, &x);
    if (err == CHURN_ECANCELLED || x.failed)
        fprintf(stderr, "store-export: writing a row failed\n");
    else if (err)
        fprintf(stderr, "store-export: %s\n", churn_store_last_error());
    if (out && fclose(x.out) != 0)
        err = CHURN_EIO;
    fprintf(stderr,
            "store-export: %ld rows (%ld churned), %ld customer-snapshots without a label\n",
            x.rows, x.positives, x.skipped);
    churn_buf_free(&x.line);
    churn_store_close(st);
    return err || x.failed ? 1 : 0;
}
