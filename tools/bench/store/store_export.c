/*
 * store_export.c - writes the point-in-time training set of a store as CSV, the very rows
 * `churnctl train --store` learns from: churn_trainset_csv() (churn/trainset.h), the one
 * training-set builder of the library. Cutoffs at day ends whose label windows end before the
 * data does, features from the served feature function with the store's observed history,
 * label = churn within --label-days after the cutoff (churn_features_label()).
 *
 *   store-export --store DIR [--observed MS] [--label-days 90] [--inactivity-days 0]
 *                [--snapshots 0] [--every 30] [--out FILE]
 *
 * --observed: where the data ends (now); --snapshots: the stacked cutoffs (0: auto, as
 * churnctl train); --every: days between them. Pass `--ignore customer_id,as_of_ms` (or the
 * trainer's equivalent) when training on the file: they identify rows and are not features.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/buf.h"
#include "churn/features.h"
#include "churn/store.h"
#include "churn/trainset.h"

#define EXPORT_MAX_BYTES (4ULL << 30)
#define EXPORT_DAYS_MAX  365 /* the bound of churn_trainset_csv() */

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

/* The options of argv into @o and the paths; exits 2 on a bad one. */
static void
parse(int argc, char **argv, struct churn_trainset_options *o, const char **dir, const char **out)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "store-export: %s needs a value\n", a);
            exit(2);
        }
        i++;
        if (strcmp(a, "--store") == 0)
            *dir = v;
        else if (strcmp(a, "--out") == 0)
            *out = v;
        else if (strcmp(a, "--observed") == 0)
            o->observed_until_ms = arg_long(v, a, 1, CHURN_FEATURES_AS_OF_MAX);
        else if (strcmp(a, "--label-days") == 0)
            o->horizon_days = (int)arg_long(v, a, 1, EXPORT_DAYS_MAX);
        else if (strcmp(a, "--inactivity-days") == 0)
            o->inactivity_days = (int)arg_long(v, a, 0, EXPORT_DAYS_MAX);
        else if (strcmp(a, "--snapshots") == 0)
            o->cutoffs = (int)arg_long(v, a, 0, CHURN_TRAINSET_MAX_CUTOFFS);
        else if (strcmp(a, "--every") == 0)
            o->step_days = (int)arg_long(v, a, 1, EXPORT_DAYS_MAX);
        else {
            fprintf(stderr, "store-export: unknown option %s\n", a);
            exit(2);
        }
    }
    if (!*dir) {
        fprintf(stderr, "store-export: --store DIR is required\n");
        exit(2);
    }
}

/* Write @csv to @path (stdout when NULL); 0 or 1 with the reason on stderr. */
static int
write_out(const struct churn_buf *csv, const char *path)
{
    FILE *f = path ? fopen(path, "w") : stdout;
    if (!f) {
        fprintf(stderr, "store-export: %s: %s\n", path, strerror(errno));
        return 1;
    }
    int failed = fwrite(csv->data, 1, csv->len, f) != csv->len;
    failed |= path ? fclose(f) != 0 : fflush(f) != 0;
    if (failed)
        fprintf(stderr, "store-export: writing %s failed\n", path ? path : "stdout");
    return failed;
}

int
main(int argc, char **argv)
{
    struct churn_trainset_options o;
    churn_trainset_options_default(&o);
    const char *dir = NULL, *out = NULL;
    parse(argc, argv, &o, &dir, &out);
    struct churn_store *st;
    struct churn_store_options so;
    churn_store_options_init(&so);
    so.read_only = true;
    if (churn_store_open(dir, &so, &st)) {
        fprintf(stderr, "store-export: %s\n", churn_store_last_error());
        return 1;
    }
    struct churn_buf csv;
    churn_buf_init(&csv, EXPORT_MAX_BYTES);
    struct churn_trainset_report rep;
    char err[1024];
    int rc = 1;
    if (churn_trainset_csv(st, &o, &csv, &rep, err, sizeof(err)))
        fprintf(stderr, "store-export: %s\n", err);
    else if (!(rc = write_out(&csv, out)))
        fprintf(stderr, "store-export: %zu rows (%zu churned) of %zu customers, %d cutoffs\n",
                rep.rows, rep.positives, rep.customers, rep.n_cutoffs);
    churn_buf_free(&csv);
    churn_store_close(st);
    return rc;
}
