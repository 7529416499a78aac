/*
 * test_model.c - the model module: hand-computed logistic regression and tree scores,
 * contributions that sum to the margin, calibration, reasons, binding, save/load round
 * trips, XGBoost import against python3-xgboost's own predictions, blends (the weighted sum of
 * their members, contributions included), reference counting across threads, monotone
 * directions (kept through save and load, verified against the coefficients and trees), and a
 * refusal with a precise message for each kind of bad model file.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "churn/alloc.h"
#include "churn/csv.h"
#include "churn/model.h"

#define DATA CHURN_SOURCE_ROOT "/tests/data/models/"

/* tenure numeric (mean 10, std 5, missing -> impute 10 + indicator), plan categorical */
static const char *lr_doc =
    "{\"format_version\":1,\"kind\":\"logistic_regression\",\"version\":\"t1\","
    "\"features\":["
    "{\"name\":\"tenure\",\"label\":\"Months as a customer\",\"type\":\"numeric\","
    "\"mean\":10,\"std\":5,\"missing\":{\"impute\":10,\"indicator\":true}},"
    "{\"name\":\"plan\",\"type\":\"categorical\",\"categories\":[\"basic\",\"pro\"]}],"
    "\"logistic_regression\":{\"intercept\":-1.0,\"coefficients\":[-0.5,0.7,0.1,0.2,-0.3]}}";

/* one tree: x0 < 2 ? (x1 < 1 ? 0.1 : 0.4) : -0.2; missing x0 goes right, x1 left */
static const char *gbdt_doc =
    "{\"format_version\":1,\"kind\":\"gbdt\",\"features\":["
    "{\"name\":\"a\",\"type\":\"numeric\"},{\"name\":\"b\",\"type\":\"numeric\"}],"
    "\"gbdt\":{\"base_margin\":0.5,\"trees\":[{"
    "\"feature\":[0,1,-1,-1,-1],\"threshold\":[2,1,0,0,0],\"left\":[1,2,-1,-1,-1],"
    "\"right\":[4,3,-1,-1,-1],\"value\":[0,0,0.1,0.4,-0.2],\"default_left\":[0,1,0,0,0],"
    "\"cover\":[10,6,2,4,4]}]},"
    "\"calibration\":{\"method\":\"platt\",\"a\":2.0,\"b\":-0.5}}";

/* A blend of a logistic regression and the tree above on the same two features: margin =
 * 0.1 + 0.4 * LR margin + 0.6 * tree margin. The LR member: a standardised with mean 2, std 1
 * and a missing indicator; b with mean 1, std 2. */
#define BLEND_LR_MEMBER                                                                            \
    "\"kind\":\"logistic_regression\",\"features\":["                                              \
    "{\"name\":\"a\",\"type\":\"numeric\",\"mean\":2,\"std\":1,"                                   \
    "\"missing\":{\"impute\":2,\"indicator\":true}},"                                              \
    "{\"name\":\"b\",\"type\":\"numeric\",\"mean\":1,\"std\":2}],"                                 \
    "\"logistic_regression\":{\"intercept\":-1.0,\"coefficients\":[0.5,0.3,-0.25]}}"
#define BLEND_TREE_MEMBER                                                                          \
    "\"kind\":\"gbdt\",\"features\":["                                                             \
    "{\"name\":\"a\",\"type\":\"numeric\"},{\"name\":\"b\",\"type\":\"numeric\"}],"                \
    "\"gbdt\":{\"base_margin\":0.5,\"trees\":[{"                                                   \
    "\"feature\":[0,1,-1,-1,-1],\"threshold\":[2,1,0,0,0],\"left\":[1,2,-1,-1,-1],"                \
    "\"right\":[4,3,-1,-1,-1],\"value\":[0,0,0.1,0.4,-0.2],\"default_left\":[0,1,0,0,0],"          \
    "\"cover\":[10,6,2,4,4]}]}}"
static const char *blend_doc =
    "{\"format_version\":1,\"kind\":\"blend\",\"version\":\"b1\",\"features\":["
    "{\"name\":\"a\",\"label\":\"Logins\",\"type\":\"numeric\"},{\"name\":\"b\",\"type\":"
    "\"numeric\"}],"
    "\"blend\":{\"intercept\":0.1,\"members\":["
    "{\"weight\":0.4,\"model\":{" BLEND_LR_MEMBER "},"
    "{\"weight\":0.6,\"model\":{" BLEND_TREE_MEMBER "}]},"
    "\"calibration\":{\"method\":\"platt\",\"a\":1.5,\"b\":-0.2}}";
static const char *blend_lr_alone = "{\"format_version\":1," BLEND_LR_MEMBER;
static const char *blend_tree_alone = "{\"format_version\":1," BLEND_TREE_MEMBER;

static struct churn_model *
load_ok(const char *doc)
{
    char err[CHURN_MODEL_ERRMSG] = "";
    struct churn_model *m = NULL;
    enum churn_err e =
        churn_model_load_json(doc, strlen(doc), CHURN_MODEL_LOAD_NO_CHECKSUM, &m, err, sizeof err);
    cr_assert_eq(e, CHURN_OK, "load failed: %s", err);
    return m;
}

static void
expect_refusal(const char *doc, unsigned flags, const char *needle)
{
    char err[CHURN_MODEL_ERRMSG] = "";
    struct churn_model *m = (struct churn_model *)0x1;
    enum churn_err e = churn_model_load_json(doc, strlen(doc), flags, &m, err, sizeof err);
    cr_assert_neq(e, CHURN_OK, "accepted a bad model (wanted '%s')", needle);
    cr_assert_eq(m, (struct churn_model *)0x1, "out-param touched on error");
    cr_assert(strstr(err, needle), "message '%s' does not contain '%s'", err, needle);
}

static double
sigm(double z)
{
    return 1 / (1 + exp(-z));
}

Test(model, lr_hand_computed_score_and_contributions)
{
    struct churn_model *m = load_ok(lr_doc);
    cr_assert_eq(churn_model_n_features(m), 2);
    double x[2] = {20, churn_model_category_code(m, 1, "pro")};
    cr_assert_eq(x[1], 1.0);
    struct churn_model_prediction p;
    churn_model_predict(m, x, &p);
    /* -1 + -0.5 * (20-10)/5 + 0.2 (pro) = -1.8 */
    cr_assert_float_eq(p.margin, -1.8, 1e-12);
    cr_assert_float_eq(p.probability, sigm(-1.8), 1e-12);
    double c[2], bias;
    double margin = churn_model_contributions(m, x, c, &bias);
    cr_assert_float_eq(margin, -1.8, 1e-12);
    cr_assert_float_eq(bias, -1.0, 1e-12);
    cr_assert_float_eq(c[0], -1.0, 1e-12);
    cr_assert_float_eq(c[1], 0.2, 1e-12);

    /* missing tenure: imputed to the mean (0) plus the indicator weight 0.7; unknown plan:
     * the "other" bucket (-0.3) */
    double y[2] = {NAN, churn_model_category_code(m, 1, "enterprise")};
    cr_assert_eq(y[1], 2.0);
    churn_model_predict(m, y, &p);
    cr_assert_float_eq(p.margin, -1.0 + 0.7 - 0.3, 1e-12);
    /* missing category without an indicator goes to "other" too */
    double z[2] = {10, NAN};
    churn_model_predict(m, z, &p);
    cr_assert_float_eq(p.margin, -1.3, 1e-12);
    cr_assert_str_eq(churn_model_feature(m, 0)->label, "Months as a customer");
    cr_assert_str_eq(churn_model_feature(m, 1)->label, "plan");
    churn_model_unref(m);
}

Test(model, gbdt_paths_missing_and_platt)
{
    struct churn_model *m = load_ok(gbdt_doc);
    struct churn_model_prediction p;
    double r1[2] = {1, 0.5}, r2[2] = {1, 3}, r3[2] = {5, 0}, r4[2] = {NAN, 0}, r5[2] = {1, NAN};
    churn_model_predict(m, r1, &p);
    cr_assert_float_eq(p.margin, 0.6, 1e-12);
    cr_assert_float_eq(p.raw, sigm(0.6), 1e-12);
    cr_assert_float_eq(p.probability, sigm(2.0 * 0.6 - 0.5), 1e-12);
    churn_model_predict(m, r2, &p);
    cr_assert_float_eq(p.margin, 0.9, 1e-12);
    churn_model_predict(m, r3, &p);
    cr_assert_float_eq(p.margin, 0.3, 1e-12);
    churn_model_predict(m, r4, &p); /* default right */
    cr_assert_float_eq(p.margin, 0.3, 1e-12);
    churn_model_predict(m, r5, &p); /* default left at node 1 */
    cr_assert_float_eq(p.margin, 0.6, 1e-12);

    /* Saabas: E[root] = (6 * E[n1] + 4 * -0.2) / 10, E[n1] = (2*0.1 + 4*0.4)/6 = 0.3 */
    double c[2], bias;
    double margin = churn_model_contributions(m, r1, c, &bias);
    double e1 = 0.3, e0 = (6 * e1 + 4 * -0.2) / 10;
    cr_assert_float_eq(bias, 0.5 + e0, 1e-12);
    cr_assert_float_eq(c[0], e1 - e0, 1e-12);
    cr_assert_float_eq(c[1], 0.1 - e1, 1e-12);
    cr_assert_float_eq(bias + c[0] + c[1], margin, 1e-12);

    struct churn_model_reason rs[2];
    double scratch[2];
    size_t n = churn_model_top_reasons(m, r2, 2, scratch, rs);
    /* r2: c0 = 0.3 - 0.1 = 0.2 (positive), c1 = 0.4 - 0.3 = 0.1 */
    cr_assert_eq(n, 2);
    cr_assert_eq(rs[0].feature, 0);
    cr_assert_eq(rs[1].feature, 1);
    cr_assert_float_eq(rs[0].contribution, 0.2, 1e-12);
    n = churn_model_top_reasons(m, r3, 2, scratch, rs); /* only c0 < 0 */
    cr_assert_eq(n, 0);
    churn_model_unref(m);
}

Test(model, isotonic_calibration_interpolates)
{
    const char *doc =
        "{\"format_version\":1,\"kind\":\"gbdt\",\"features\":[{\"name\":\"a\",\"type\":"
        "\"numeric\"}],\"gbdt\":{\"base_margin\":0,\"trees\":[{\"feature\":[-1],\"threshold\":"
        "[0],\"left\":[-1],\"right\":[-1],\"value\":[0],\"default_left\":[0],\"cover\":[1]}]},"
        "\"calibration\":{\"method\":\"isotonic\",\"x\":[0.2,0.6],\"y\":[0.1,0.3]}}";
    struct churn_model *m = load_ok(doc);
    double x = 1;
    struct churn_model_prediction p;
    churn_model_predict(m, &x, &p); /* raw 0.5 -> 0.1 + 0.75 * 0.2 */
    cr_assert_float_eq(p.raw, 0.5, 1e-12);
    cr_assert_float_eq(p.probability, 0.25, 1e-12);
    churn_model_unref(m);
}

Test(model, save_and_reload_round_trip)
{
    struct churn_model *m = load_ok(lr_doc);
    char path[] = "/tmp/churn-model-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    char err[CHURN_MODEL_ERRMSG];
    cr_assert_eq(churn_model_save_file(m, path, err, sizeof err), CHURN_OK, "%s", err);
    struct churn_model *m2 = NULL;
    cr_assert_eq(churn_model_load_file(path, &m2, err, sizeof err), CHURN_OK, "%s", err);
    cr_assert(strncmp(churn_model_info(m2)->checksum, "fnv1a64:", 8) == 0);
    cr_assert_str_eq(churn_model_info(m2)->version, "t1");
    double rows[4][2] = {{20, 1}, {NAN, 2}, {3, NAN}, {-4, 0}};
    for (int i = 0; i < 4; i++) {
        struct churn_model_prediction a, b;
        churn_model_predict(m, rows[i], &a);
        churn_model_predict(m2, rows[i], &b);
        cr_assert_eq(a.margin, b.margin, "row %d differs after a round trip", i);
    }
    churn_model_unref(m2);

    /* the checksum covers the content: change one coefficient digit and it is refused */
    char *text;
    size_t len;
    cr_assert_eq(churn_model_to_json(m, &text, &len), CHURN_OK);
    char *p = strstr(text, "-0.29999");
    cr_assert(p, "coefficient not found in %s", text);
    p[3] = '3';
    expect_refusal(text, 0, "checksum: mismatch");
    churn_free(text);
    unlink(path);
    churn_model_unref(m);
}

/* lr_doc with a training object whose horizon_days is @h (a JSON value), in @buf. */
static const char *
with_horizon(char *buf, size_t len, const char *h)
{
    size_t n = strlen(lr_doc) - 1; /* without the closing brace */
    snprintf(buf, len, "%.*s,\"training\":{\"horizon_days\":%s}}", (int)n, lr_doc, h);
    return buf;
}

Test(model, the_training_horizon_is_kept_and_older_files_load_without_it)
{
    struct churn_model *old = load_ok(lr_doc);
    cr_assert_eq(churn_model_info(old)->horizon_days, 0, "a file without it: unknown");
    churn_model_unref(old);

    char doc[1024];
    struct churn_model *m = load_ok(with_horizon(doc, sizeof doc, "30"));
    cr_assert_eq(churn_model_info(m)->horizon_days, 30);
    char *text, err[CHURN_MODEL_ERRMSG];
    size_t len;
    cr_assert_eq(churn_model_to_json(m, &text, &len), CHURN_OK);
    struct churn_model *m2 = NULL;
    cr_assert_eq(churn_model_load_json(text, len, 0, &m2, err, sizeof err), CHURN_OK, "%s", err);
    cr_assert_eq(churn_model_info(m2)->horizon_days, 30, "kept through save and load");
    churn_free(text);
    churn_model_unref(m2);
    churn_model_unref(m);

    const char *bad[] = {"0", "366", "-5", "30.5", "\"30\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_refusal(with_horizon(doc, sizeof doc, bad[i]), CHURN_MODEL_LOAD_NO_CHECKSUM,
                       "training.horizon_days: expected an integer in 1..365");
}

Test(model, gbdt_round_trip_keeps_trees)
{
    struct churn_model *m = load_ok(gbdt_doc);
    char *text;
    size_t len;
    cr_assert_eq(churn_model_to_json(m, &text, &len), CHURN_OK);
    char err[CHURN_MODEL_ERRMSG];
    struct churn_model *m2 = NULL;
    cr_assert_eq(churn_model_load_json(text, len, 0, &m2, err, sizeof err), CHURN_OK, "%s", err);
    double rows[3][2] = {{1, 0.5}, {NAN, NAN}, {7, 2}};
    for (int i = 0; i < 3; i++) {
        struct churn_model_prediction a, b;
        churn_model_predict(m, rows[i], &a);
        churn_model_predict(m2, rows[i], &b);
        cr_assert_eq(a.probability, b.probability);
    }
    cr_assert_eq(churn_model_info(m2)->calibration, CHURN_CALIBRATION_PLATT);
    churn_free(text);
    churn_model_unref(m2);
    churn_model_unref(m);
}

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

Test(model, xgboost_import_matches_python_xgboost)
{
    char err[CHURN_MODEL_ERRMSG];
    struct churn_model *m = NULL;
    cr_assert_eq(churn_model_load_file(DATA "xgb_small.json", &m, err, sizeof err), CHURN_OK, "%s",
                 err);
    cr_assert_eq(churn_model_n_features(m), 6);
    cr_assert_str_eq(churn_model_feature(m, 0)->name, "tenure");
    cr_assert_eq(churn_model_info(m)->n_trees, 20);

    struct churn_csv *csv;
    struct churn_csv_options o = {.fixed_columns = true};
    cr_assert_eq(churn_csv_open_file(DATA "xgb_small_expected.csv", &o, &csv), CHURN_OK);
    bool eof;
    cr_assert_eq(churn_csv_next(csv, &eof), CHURN_OK);
    size_t rows = 0, with_missing = 0;
    double worst = 0;
    for (;;) {
        cr_assert_eq(churn_csv_next(csv, &eof), CHURN_OK, "%s", churn_csv_error(csv));
        if (eof)
            break;
        double x[6];
        bool miss = false;
        for (int i = 0; i < 6; i++) {
            const char *s = churn_csv_field(csv, (size_t)i, NULL);
            x[i] = *s ? strtod(s, NULL) : NAN;
            miss |= !*s;
        }
        with_missing += miss;
        double want = strtod(churn_csv_field(csv, 6, NULL), NULL);
        double want_margin = strtod(churn_csv_field(csv, 7, NULL), NULL);
        struct churn_model_prediction p;
        churn_model_predict(m, x, &p);
        cr_assert(fabs(p.probability - want) < 1e-6, "row %zu: %.9g vs xgboost %.9g", rows,
                  p.probability, want);
        cr_assert(fabs(p.margin - want_margin) < 1e-5, "row %zu: margin %.9g vs %.9g", rows,
                  p.margin, want_margin);
        if (fabs(p.probability - want) > worst)
            worst = fabs(p.probability - want);
        double c[6], bias;
        double mg = churn_model_contributions(m, x, c, &bias);
        double s = bias;
        for (int i = 0; i < 6; i++)
            s += c[i];
        cr_assert_float_eq(s, mg, 1e-9);
        cr_assert_float_eq(mg, p.margin, 1e-12);
        rows++;
    }
    cr_assert_eq(rows, 200);
    cr_assert(with_missing > 20, "fixture should exercise missing values");
    churn_csv_close(csv);

    /* imported models can be saved in the native format and served from it */
    char *text;
    size_t len;
    cr_assert_eq(churn_model_to_json(m, &text, &len), CHURN_OK);
    struct churn_model *m2 = NULL;
    cr_assert_eq(churn_model_load_json(text, len, 0, &m2, err, sizeof err), CHURN_OK, "%s", err);
    double x[6] = {0.1, NAN, -0.3, 2, 1.5, 4};
    struct churn_model_prediction a, b;
    churn_model_predict(m, x, &a);
    churn_model_predict(m2, x, &b);
    cr_assert_eq(a.probability, b.probability);
    churn_free(text);
    churn_model_unref(m2);
    churn_model_unref(m);
}

Test(model, xgboost_unsupported_objective_refused)
{
    size_t len;
    char *text = slurp(DATA "xgb_small.json", &len);
    char *p = strstr(text, "binary:logistic");
    cr_assert(p);
    memcpy(p, "reg:squarederro", 15);
    expect_refusal(text, 0, "learner.objective.name: 'reg:squarederro' is not supported");
    free(text);
}

Test(model, bind_maps_names_and_reports_missing_feature)
{
    struct churn_model *m = load_ok(lr_doc);
    const char *names[] = {"logins", "plan", "tenure"};
    struct churn_model_binding *b = NULL;
    char err[CHURN_MODEL_ERRMSG];
    cr_assert_eq(churn_model_bind(m, names, 3, &b, err, sizeof err), CHURN_OK, "%s", err);
    double in[3] = {99, 1, 20}, out[2];
    churn_model_binding_apply(b, in, out);
    cr_assert_eq(out[0], 20);
    cr_assert_eq(out[1], 1);
    churn_model_binding_free(b);

    const char *fewer[] = {"logins", "plan"};
    b = NULL;
    cr_assert_eq(churn_model_bind(m, fewer, 2, &b, err, sizeof err), CHURN_ENOTFOUND);
    cr_assert_null(b);
    cr_assert_str_eq(err, "model feature 'tenure' is not provided");
    size_t idx;
    cr_assert_eq(churn_model_feature_index(m, "plan", &idx), CHURN_OK);
    cr_assert_eq(idx, 1);
    cr_assert_eq(churn_model_feature_index(m, "nope", &idx), CHURN_ENOTFOUND);
    churn_model_unref(m);
}

static struct churn_model *shared_model;

static void *
score_loop(void *arg)
{
    struct churn_model *m = arg;
    double x[2] = {3, 1};
    double acc = 0;
    for (int i = 0; i < 20000; i++) {
        struct churn_model_prediction p;
        churn_model_predict(m, x, &p);
        acc += p.probability;
    }
    churn_model_unref(m);
    return (void *)(acc > 0 ? (uintptr_t)1 : (uintptr_t)0);
}

Test(model, refcount_keeps_model_alive_for_inflight_calls)
{
    shared_model = load_ok(gbdt_doc);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, score_loop, churn_model_ref(shared_model)), 0);
    /* the "reload": the owner drops its reference while the threads are scoring */
    churn_model_unref(shared_model);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        cr_assert_eq((uintptr_t)r, 1);
    }
}

Test(model, allocation_failures_unwind_cleanly)
{
    for (long n = 0; n < 200; n++) {
        churn_alloc_fail_after(n);
        struct churn_model *m = NULL;
        enum churn_err e = churn_model_load_json(gbdt_doc, strlen(gbdt_doc),
                                                 CHURN_MODEL_LOAD_NO_CHECKSUM, &m, NULL, 0);
        long failures = churn_alloc_failures();
        churn_alloc_fail_off();
        if (e == CHURN_OK) {
            cr_assert_eq(failures, 0);
            churn_model_unref(m);
            return;
        }
        cr_assert_eq(e, CHURN_ENOMEM);
        cr_assert_null(m);
    }
    cr_assert_fail("load never succeeded");
}

Test(model, blend_is_the_weighted_sum_of_its_members)
{
    struct churn_model *m = load_ok(blend_doc), *lr = load_ok(blend_lr_alone),
                       *tr = load_ok(blend_tree_alone);
    cr_assert_eq(churn_model_info(m)->kind, CHURN_MODEL_BLEND);
    cr_assert_str_eq(churn_model_kind_name(churn_model_info(m)->kind), "blend");
    cr_assert_eq(churn_model_info(m)->n_trees, 1);
    cr_assert_str_eq(churn_model_feature(m, 0)->label, "Logins");
    double rows[][2] = {{1, 0.5}, {1, 3}, {5, 0}, {NAN, 0}, {1, NAN}, {-4, 9}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct churn_model_prediction p, pl, pt;
        churn_model_predict(m, rows[i], &p);
        churn_model_predict(lr, rows[i], &pl);
        churn_model_predict(tr, rows[i], &pt);
        double want = 0.1 + 0.4 * pl.margin + 0.6 * pt.margin;
        cr_assert_float_eq(p.margin, want, 1e-12, "row %zu", i);
        cr_assert_float_eq(p.probability, sigm(1.5 * want - 0.2), 1e-12);
        /* contributions: the members' own, weighted; the bias takes the intercepts */
        double c[2], cl[2], ct[2], bias, bl, bt;
        double margin = churn_model_contributions(m, rows[i], c, &bias);
        churn_model_contributions(lr, rows[i], cl, &bl);
        churn_model_contributions(tr, rows[i], ct, &bt);
        cr_assert_float_eq(margin, p.margin, 1e-12);
        cr_assert_float_eq(bias + c[0] + c[1], margin, 1e-12);
        cr_assert_float_eq(bias, 0.1 + 0.4 * bl + 0.6 * bt, 1e-12);
        for (int k = 0; k < 2; k++)
            cr_assert_float_eq(c[k], 0.4 * cl[k] + 0.6 * ct[k], 1e-12);
    }
    /* reasons are the blended contributions that raise the risk, largest first: for
     * {1.5, -3}, a: 0.4 * 0.5 * (1.5 - 2) + 0.6 * (0.3 - 0.1) = 0.02 and
     * b: 0.4 * -0.25 * (-3 - 1) / 2 + 0.6 * (0.1 - 0.3) = 0.08 */
    struct churn_model_reason rs[2];
    double scratch[2], row[2] = {1.5, -3};
    cr_assert_eq(churn_model_top_reasons(m, row, 2, scratch, rs), 2);
    cr_assert_eq(rs[0].feature, 1);
    cr_assert_float_eq(rs[0].contribution, 0.08, 1e-12);
    cr_assert_eq(rs[1].feature, 0);
    cr_assert_float_eq(rs[1].contribution, 0.02, 1e-12);
    churn_model_unref(m);
    churn_model_unref(lr);
    churn_model_unref(tr);
}

Test(model, blend_round_trip_predicts_the_same)
{
    struct churn_model *m = load_ok(blend_doc);
    char path[] = "/tmp/churn-blend-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    char err[CHURN_MODEL_ERRMSG] = "";
    cr_assert_eq(churn_model_save_file(m, path, err, sizeof err), CHURN_OK, "%s", err);
    struct churn_model *m2 = NULL;
    cr_assert_eq(churn_model_load_file(path, &m2, err, sizeof err), CHURN_OK, "%s", err);
    unlink(path);
    cr_assert_eq(churn_model_info(m2)->kind, CHURN_MODEL_BLEND);
    cr_assert_str_eq(churn_model_info(m2)->version, "b1");
    cr_assert_str_eq(churn_model_feature(m2, 0)->label, "Logins");
    double rows[][2] = {{1, 0.5}, {1, 3}, {5, 0}, {NAN, 0}, {1, NAN}, {2.5, -1}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct churn_model_prediction a, b;
        churn_model_predict(m, rows[i], &a);
        churn_model_predict(m2, rows[i], &b);
        cr_assert_eq(a.margin, b.margin, "row %zu", i);
        cr_assert_eq(a.probability, b.probability, "row %zu", i);
    }
    /* saving again gives the same text (and checksum) */
    char *t1 = NULL, *t2 = NULL;
    size_t l1, l2;
    cr_assert_eq(churn_model_to_json(m, &t1, &l1), CHURN_OK);
    cr_assert_eq(churn_model_to_json(m2, &t2, &l2), CHURN_OK);
    cr_assert_eq(l1, l2);
    cr_assert_eq(memcmp(t1, t2, l1), 0);
    churn_free(t1);
    churn_free(t2);
    churn_model_unref(m2);
    churn_model_unref(m);
}

Test(model, blend_allocation_failures_unwind_cleanly)
{
    for (long n = 0; n < 400; n++) {
        churn_alloc_fail_after(n);
        struct churn_model *m = NULL;
        enum churn_err e = churn_model_load_json(blend_doc, strlen(blend_doc),
                                                 CHURN_MODEL_LOAD_NO_CHECKSUM, &m, NULL, 0);
        long failures = churn_alloc_failures();
        churn_alloc_fail_off();
        if (e == CHURN_OK) {
            cr_assert_eq(failures, 0);
            churn_model_unref(m);
            return;
        }
        cr_assert_eq(e, CHURN_ENOMEM, "allocation %ld: %s", n, churn_err_name(e));
        cr_assert_null(m);
    }
    cr_assert_fail("load never succeeded");
}

/* ---- bad model files: each refused with the field and the reason ---- */

static char *
replace(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    cr_assert(p, "'%s' not in document", from);
    size_t a = (size_t)(p - s), fl = strlen(from), tl = strlen(to), sl = strlen(s);
    char *out = malloc(sl - fl + tl + 1);
    memcpy(out, s, a);
    memcpy(out + a, to, tl);
    memcpy(out + a + tl, p + fl, sl - a - fl + 1);
    return out;
}

static void
refuse_edit(const char *doc, const char *from, const char *to, const char *needle)
{
    char *bad = replace(doc, from, to);
    expect_refusal(bad, CHURN_MODEL_LOAD_NO_CHECKSUM, needle);
    free(bad);
}

/* ---- monotone directions ---- */

Test(model, monotone_directions_are_loaded_kept_and_verified)
{
    /* gbdt_doc falls with a (0.1 or 0.4 below 2, -0.2 above) and rises with b (0.1, 0.4) */
    char *doc = replace(gbdt_doc, "{\"name\":\"a\",\"type\":\"numeric\"},{\"name\":\"b\"",
                        "{\"name\":\"a\",\"type\":\"numeric\",\"monotone\":-1},"
                        "{\"monotone\":1,\"name\":\"b\"");
    struct churn_model *m = load_ok(doc);
    cr_assert_eq(churn_model_feature(m, 0)->monotone, -1);
    cr_assert_eq(churn_model_feature(m, 1)->monotone, 1);
    char *text;
    size_t len;
    cr_assert_eq(churn_model_to_json(m, &text, &len), CHURN_OK);
    struct churn_model *m2 = NULL;
    char err[CHURN_MODEL_ERRMSG] = "";
    cr_assert_eq(churn_model_load_json(text, len, 0, &m2, err, sizeof err), CHURN_OK, "%s", err);
    cr_assert_eq(churn_model_feature(m2, 0)->monotone, -1);
    cr_assert_eq(churn_model_feature(m2, 1)->monotone, 1);
    churn_free(text);
    churn_model_unref(m2);
    churn_model_unref(m);
    /* absent means 0, and a model without directions is written without them */
    m = load_ok(gbdt_doc);
    cr_assert_eq(churn_model_feature(m, 0)->monotone, 0);
    cr_assert_eq(churn_model_to_json(m, &text, &len), CHURN_OK);
    cr_assert_null(strstr(text, "monotone"));
    churn_free(text);
    churn_model_unref(m);
    free(doc);
}

Test(model_bad, monotone_values_and_models_against_their_directions)
{
    const char *a = "{\"name\":\"a\",\"type\":\"numeric\"}";
    refuse_edit(gbdt_doc, a, "{\"name\":\"a\",\"type\":\"numeric\",\"monotone\":2}",
                "features[0].monotone: expected -1, 0 or 1");
    refuse_edit(gbdt_doc, a, "{\"name\":\"a\",\"type\":\"numeric\",\"monotone\":\"up\"}",
                "features[0].monotone: expected -1, 0 or 1");
    refuse_edit(gbdt_doc, a, "{\"name\":\"a\",\"type\":\"numeric\",\"monotone\":1.0}",
                "features[0].monotone: expected -1, 0 or 1");
    refuse_edit(lr_doc, "\"type\":\"categorical\"", "\"type\":\"categorical\",\"monotone\":1",
                "features[1].monotone: a categorical feature cannot have a direction");
    /* the trees or the coefficients go against the declared direction */
    refuse_edit(gbdt_doc, a, "{\"name\":\"a\",\"type\":\"numeric\",\"monotone\":1}",
                "gbdt.trees[0]: a split on 'a' (monotone +1) has leaf values against the "
                "direction (0.40000000000000002 below, -0.20000000000000001 above)");
    refuse_edit(gbdt_doc, "{\"name\":\"b\",", "{\"name\":\"b\",\"monotone\":-1,",
                "gbdt.trees[0]: a split on 'b' (monotone -1)");
    refuse_edit(lr_doc, "\"type\":\"numeric\",", "\"type\":\"numeric\",\"monotone\":1,",
                "features[0].monotone: +1, but its coefficient is -0.5");
    /* the same directions that agree load */
    char *ok = replace(lr_doc, "\"type\":\"numeric\",", "\"type\":\"numeric\",\"monotone\":-1,");
    churn_model_unref(load_ok(ok));
    free(ok);
}

Test(model_bad, truncated_json)
{
    char buf[4096];
    size_t n = strlen(gbdt_doc);
    for (size_t cut = 0; cut < n; cut += 7) {
        memcpy(buf, gbdt_doc, cut);
        buf[cut] = 0;
        expect_refusal(buf, CHURN_MODEL_LOAD_NO_CHECKSUM, "JSON error at line 1");
    }
}

Test(model_bad, not_a_number_and_overflow)
{
    refuse_edit(lr_doc, "-0.5,", "NaN,", "JSON error");
    refuse_edit(lr_doc, "-0.5,", "1e999,", "JSON error");
    refuse_edit(lr_doc, "-0.5,", "\"NaN\",",
                "logistic_regression.coefficients[0]: expected a number");
    refuse_edit(lr_doc, "\"intercept\":-1.0", "\"intercept\":null",
                "logistic_regression.intercept: expected a number");
}

Test(model_bad, wrong_types_and_missing_members)
{
    refuse_edit(lr_doc, "\"format_version\":1", "\"format_version\":\"1\"",
                "format_version: expected an integer");
    refuse_edit(lr_doc, "\"format_version\":1", "\"format_version\":9",
                "format_version: unsupported version 9");
    refuse_edit(lr_doc, "\"kind\":\"logistic_regression\"", "\"kind\":\"neural_net\"",
                "kind: unknown kind 'neural_net'");
    refuse_edit(lr_doc, "\"kind\":\"logistic_regression\",", "", "kind: missing");
    refuse_edit(lr_doc, "\"std\":5", "\"std\":0", "features[0].std: must be > 0");
    refuse_edit(lr_doc, "\"std\":5", "\"std\":[5]", "features[0].std: expected a number");
    refuse_edit(lr_doc, "\"type\":\"categorical\"", "\"type\":\"text\"",
                "features[1].type: unknown type 'text'");
    refuse_edit(lr_doc, "\"name\":\"plan\"", "\"name\":\"tenure\"",
                "features[1].name: duplicate feature name 'tenure'");
    refuse_edit(lr_doc, "[\"basic\",\"pro\"]", "[\"basic\",\"basic\"]",
                "duplicate category 'basic'");
    refuse_edit(lr_doc, ",-0.3]", "]", "coefficients: 4 values, the features need 5");
    refuse_edit(lr_doc, "\"features\":[", "\"features\":{},\"x\":[", "features: expected an array");
    refuse_edit(gbdt_doc, "\"default_left\":[0,1,0,0,0]", "\"default_left\":[0,1,0,0]",
                "gbdt.trees[0].default_left: 4 elements, but feature has 5");
    refuse_edit(gbdt_doc, "\"method\":\"platt\"", "\"method\":\"magic\"",
                "calibration.method: unknown method 'magic'");
    expect_refusal("[1,2]", CHURN_MODEL_LOAD_NO_CHECKSUM, "document: expected a JSON object");
    expect_refusal(lr_doc, 0, "checksum: missing");
}

Test(model_bad, blend_weights_and_members)
{
    refuse_edit(blend_doc, "\"weight\":0.4", "\"weight\":-1",
                "blend.members[0].weight: must be in [0, 1000] (is -1)");
    refuse_edit(blend_doc, "\"weight\":0.6", "\"weight\":1e300",
                "blend.members[1].weight: must be in [0, 1000] (is 1e+300)");
    refuse_edit(blend_doc, "\"weight\":0.4", "\"weight\":\"0.4\"",
                "blend.members[0].weight: expected a number");
    refuse_edit(blend_doc, "\"weight\":0.6,", "", "blend.members[1].weight: missing");
    refuse_edit(blend_doc, "{\"weight\":0.4,\"model\":{" BLEND_LR_MEMBER "},", "",
                "blend.members: 1 elements, expected between 2 and 8");
    refuse_edit(blend_doc, "\"weight\":0.6,\"model\":{" BLEND_TREE_MEMBER,
                "\"weight\":0.6,\"tree\":{" BLEND_TREE_MEMBER, "blend.members[1].model: missing");
    char *zero = replace(blend_doc, "\"weight\":0.4", "\"weight\":0");
    refuse_edit(zero, "\"weight\":0.6", "\"weight\":0", "blend.members: every weight is 0");
    free(zero);
    refuse_edit(blend_doc, "\"mean\":2,\"std\":1", "\"mean\":2,\"std\":0",
                "blend.members[0].model.features[0].std: must be > 0");
    refuse_edit(blend_doc, "\"base_margin\":0.5,", "",
                "blend.members[1].model.gbdt.base_margin: missing");
    refuse_edit(blend_doc, "{\"name\":\"b\",\"type\":\"numeric\"}]",
                "{\"name\":\"c\",\"type\":\"numeric\"}]",
                "blend.members[0].model.features[1]: 'b' differs from the blend's features[1] 'c'");
    refuse_edit(blend_doc, "\"kind\":\"gbdt\"", "\"kind\":\"blend\"",
                "blend.members[1].model.kind: 'blend' cannot be a blend member");
    refuse_edit(blend_doc, "\"kind\":\"gbdt\",",
                "\"kind\":\"gbdt\",\"calibration\":{\"method\":\"none\"},",
                "blend.members[1].model.calibration: a blend member is not calibrated");
    refuse_edit(blend_doc, "\"blend\":{", "\"mix\":{", "blend: missing");
    refuse_edit(blend_doc, "\"intercept\":0.1", "\"intercept\":\"x\"",
                "blend.intercept: expected a number");
}

Test(model_bad, tree_structure)
{
    refuse_edit(gbdt_doc, "\"left\":[1,2,-1,-1,-1]", "\"left\":[1,17,-1,-1,-1]",
                "gbdt.trees[0]: node 1: child index 17 out of range (tree has 5 nodes)");
    refuse_edit(gbdt_doc, "\"left\":[1,2,-1,-1,-1]", "\"left\":[1,0,-1,-1,-1]",
                "gbdt.trees[0]: node 0 is reached twice (a cycle or a shared child)");
    refuse_edit(gbdt_doc, "\"right\":[4,3,-1,-1,-1]", "\"right\":[4,2,-1,-1,-1]", "reached twice");
    refuse_edit(gbdt_doc, "\"right\":[4,3,-1,-1,-1]", "\"right\":[4,-1,-1,-1,-1]",
                "a leaf has feature, left and right all -1");
    refuse_edit(gbdt_doc, "\"feature\":[0,1,-1,-1,-1]", "\"feature\":[0,7,-1,-1,-1]",
                "node 1: feature index 7 out of range (model has 2 features)");
    refuse_edit(gbdt_doc, "\"left\":[1,2,-1,-1,-1],\"right\":[4,3,-1,-1,-1]",
                "\"left\":[4,2,-1,-1,-1],\"right\":[4,3,-1,-1,-1]", "reached twice");
    refuse_edit(gbdt_doc, "\"value\":[0,0,0.1,0.4,-0.2]", "\"value\":[0,0,0.1,0.4,1e400]",
                "JSON error");
    refuse_edit(gbdt_doc, "\"threshold\":[2,1,0,0,0]", "\"threshold\":[2e300,1,0,0,0]",
                "gbdt.trees[0].threshold[0]: outside the float range");
    refuse_edit(gbdt_doc, "\"cover\":[10,6,2,4,4]", "\"cover\":[10,-6,2,4,4]",
                "node 1: cover must be a finite number >= 0");
}

Test(model_bad, unreachable_node_and_depth_bomb)
{
    /* node 3 hangs off nothing */
    const char *doc =
        "{\"format_version\":1,\"kind\":\"gbdt\",\"features\":[{\"name\":\"a\",\"type\":"
        "\"numeric\"}],\"gbdt\":{\"base_margin\":0,\"trees\":[{\"feature\":[0,-1,-1,-1],"
        "\"threshold\":[1,0,0,0],\"left\":[1,-1,-1,-1],\"right\":[2,-1,-1,-1],\"value\":"
        "[0,1,2,3],\"default_left\":[0,0,0,0],\"cover\":[1,1,1,1]}]}}";
    expect_refusal(doc, CHURN_MODEL_LOAD_NO_CHECKSUM,
                   "gbdt.trees[0]: node 3 is not reachable from the root");

    /* a chain 100 levels deep */
    char buf[65536];
    size_t n = 201, off = 0;
    off += (size_t)snprintf(buf + off, sizeof buf - off,
                            "{\"format_version\":1,\"kind\":\"gbdt\",\"features\":[{\"name\":"
                            "\"a\",\"type\":\"numeric\"}],\"gbdt\":{\"base_margin\":0,"
                            "\"trees\":[{");
    const char *keys[] = {"feature", "threshold",    "left", "right",
                          "value",   "default_left", "cover"};
    for (int k = 0; k < 7; k++) {
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%s\"%s\":[", k ? "," : "", keys[k]);
        for (size_t i = 0; i < n; i++) {
            bool inner = i % 2 == 0 && i + 2 < n;
            long v;
            switch (k) {
            case 0:
                v = inner ? 0 : -1;
                break;
            case 2:
                v = inner ? (long)i + 1 : -1;
                break;
            case 3:
                v = inner ? (long)i + 2 : -1;
                break;
            case 6:
                v = 1;
                break;
            default:
                v = 0;
            }
            off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%ld", i ? "," : "", v);
        }
        off += (size_t)snprintf(buf + off, sizeof buf - off, "]");
    }
    snprintf(buf + off, sizeof buf - off, "}]}}");
    expect_refusal(buf, CHURN_MODEL_LOAD_NO_CHECKSUM, "deeper than 64 levels");
}

Test(model_bad, files)
{
    char err[CHURN_MODEL_ERRMSG];
    struct churn_model *m = NULL;
    cr_assert_eq(churn_model_load_file("/nonexistent/model.json", &m, err, sizeof err),
                 CHURN_ENOTFOUND);
    cr_assert(strstr(err, "/nonexistent/model.json"));
    cr_assert_null(m);
    cr_assert_eq(churn_model_load_file("/tmp", &m, err, sizeof err) != CHURN_OK, true);
    cr_assert_null(m);
}

/* Hostile input: thousands of seeded mutations (byte flips, truncations, digit swaps) of
 * valid documents. Each must load or be refused with a message; never crash. The sanitizer
 * build runs this too. */
Test(model_bad, mutated_documents_never_crash)
{
    const char *docs[] = {lr_doc, gbdt_doc};
    static const char alphabet[] = "{}[]\",:-01279eE.n";
    uint64_t s = 12345;
    size_t refused = 0, loaded = 0;
    for (int d = 0; d < 2; d++) {
        size_t n = strlen(docs[d]);
        char *buf = malloc(n + 1);
        for (int it = 0; it < 3000; it++) {
            memcpy(buf, docs[d], n + 1);
            int edits = 1 + it % 3;
            for (int e = 0; e < edits; e++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                size_t pos = (size_t)(s >> 33) % n;
                buf[pos] = alphabet[(s >> 20) % (sizeof(alphabet) - 1)];
            }
            char err[CHURN_MODEL_ERRMSG] = "";
            struct churn_model *m = NULL;
            if (churn_model_load_json(buf, n, CHURN_MODEL_LOAD_NO_CHECKSUM, &m, err, sizeof err) ==
                CHURN_OK) {
                double x[2] = {1, NAN}, c[2], bias;
                struct churn_model_prediction p;
                churn_model_predict(m, x, &p);
                double margin = churn_model_contributions(m, x, c, &bias);
                cr_assert(isfinite(p.probability) && p.probability >= 0 && p.probability <= 1);
                cr_assert_float_eq(bias + c[0] + c[1], margin, 1e-9);
                churn_model_unref(m);
                loaded++;
            } else {
                cr_assert(err[0], "refusal without a message");
                refused++;
            }
        }
        free(buf);
    }
    cr_assert(refused > 1000 && loaded > 10, "refused %zu loaded %zu", refused, loaded);
}
