/*
 * backtest.c - `churnctl backtest`: the prospective evaluation of a model on a store. Scores
 * every customer as of a day T exactly as churnd would have served them then, and compares
 * with who churned in the H days after: ROC-AUC, PR-AUC, lift and capture by decile, the
 * calibration table, mean predicted against realised, and each risk tier's share. `--model`
 * judges a given model; `--train` first trains one on data strictly before T (labels ending by
 * T, features up to T - H at the newest cutoff) with train's options - an honest out-of-time
 * test. Human output, or one JSON object with --json.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alerts.h"
#include "churn/segments.h"
#include "churn/clock.h"
#include "churn/config.h"
#include "churn/features.h"
#include "churn/trainset.h"
#include "ctl.h"

struct backtest_args {
    struct train_args t; /* --store, --model, --horizon-days, --json, ... and train's options */
    int64_t as_of_ms, data_until_ms;
    bool train, scores_only;
    const char *scores_out;
    const char *risk_tiers; /* as churnd's --risk-tiers */
    json_t *search;         /* --train with the auto search: what it ran and chose */
    json_t *trainset;       /* --train: its training set's as-of and cutoffs */
};

static void
backtest_usage(FILE *out)
{
    fputs(
        "usage: churnctl backtest --store DIR --as-of T (--model MODEL.json | --train) [options]\n"
        "  --as-of T            YYYY-MM-DD or unix ms: score as of the end of that UTC day,\n"
        "                       from events up to it only\n"
        "  --horizon-days H     truth: churn within H days after T [90]\n"
        "  --inactivity-days N  also count N days without activity as churn [0: explicit only]\n"
        "  --model MODEL.json   the model to judge\n"
        "  --train              train on data before T with train's options (--algo, --trees,\n"
        "                       --cutoffs, --step-days, ...) and judge that; --out M keeps it\n"
        "  --data-until T       where the store's data ends [now]\n"
        "  --scores-only        no truth needed (T + H may be in the future): scores and tiers\n"
        "  --risk-tiers SPEC    the tiers to report, as churnd's --risk-tiers\n"
        "                       [" CHURN_RISK_TIERS_DEFAULT ", churnd's default]\n"
        "  --scores-out FILE    every customer's score as JSON lines\n"
        "                       {\"customer_id\",\"probability\",\"churned\"}\n"
        "  --json               one JSON object instead of the report\n",
        out);
}

/* T as unix ms or an ISO-8601 date/time; false for anything else. */
static bool
parse_when(const char *v, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long ms = strtoll(v, &end, 10);
    if (end && *end == '\0' && *v && !errno && ms > 0) {
        *out = ms;
        return true;
    }
    return churn_parse_iso8601_ms(v, out) && *out > 0;
}

/* Take backtest's own options out of @argv, hand the rest to train's parser. */
static int
parse_args(int argc, char **argv, struct backtest_args *a)
{
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    int n = 0, rc = 0;
    memset(a, 0, sizeof(*a));
    for (int i = 0; i < argc && !rc; i++) {
        const char *k = argv[i];
        if (strcmp(k, "--train") == 0) {
            a->train = true;
        } else if (strcmp(k, "--scores-only") == 0) {
            a->scores_only = true;
        } else if (strcmp(k, "--as-of") == 0 || strcmp(k, "--data-until") == 0) {
            int64_t *dst = k[2] == 'a' ? &a->as_of_ms : &a->data_until_ms;
            if (i + 1 >= argc || !parse_when(argv[i + 1], dst)) {
                fprintf(stderr, "churnctl: %s: '%s' is not YYYY-MM-DD or unix ms\n", k,
                        i + 1 < argc ? argv[i + 1] : "");
                rc = EXIT_USAGE;
            }
            i++;
        } else if (strcmp(k, "--risk-tiers") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "churnctl: --risk-tiers needs a SPEC\n");
                rc = EXIT_USAGE;
            }
            a->risk_tiers = argv[++i];
        } else if (strcmp(k, "--scores-out") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "churnctl: --scores-out needs a file\n");
                rc = EXIT_USAGE;
            }
            a->scores_out = argv[++i];
        } else if (strcmp(k, "--help") == 0) {
            backtest_usage(stdout);
            rc = -1;
        } else {
            rest[n++] = argv[i];
        }
    }
    if (!rc)
        rc = churnctl_train_parse(n, rest, &a->t);
    free(rest);
    if (rc)
        return rc;
    const char *bad = NULL;
    if (!a->t.store)
        bad = "backtest needs --store DIR (a CSV has no time to go back to)";
    else if (!a->as_of_ms)
        bad = "backtest needs --as-of T";
    else if (!a->train == !a->t.model)
        bad = "give either --model MODEL.json or --train";
    if (bad) {
        fprintf(stderr, "churnctl: %s\n", bad);
        return EXIT_USAGE;
    }
    return 0;
}

/* A model trained on the data before T, the newest labels ending by T. */
static int
train_before(struct backtest_args *a, struct churn_store *store, struct churn_model **out)
{
    struct churn_dataset *ds = NULL;
    int rc = churnctl_trainset(&a->t, store, a->as_of_ms, &ds, &a->trainset);
    if (rc)
        return rc;
    char err[1024];
    struct churn_train_report rep;
    struct train_args t = a->t;
    signed char *mono = NULL;
    if ((rc = churnctl_monotone(&t, ds, &mono))) {
        churn_dataset_free(ds);
        return rc;
    }
    if (churn_train(ds, &t.opts, out, &rep, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: training: %s\n", err);
        rc = EXIT_USAGE;
    } else {
        fprintf(stderr, "churnctl: trained %s on %zu rows before the as-of day (%.1f s)\n",
                churn_train_algo_name(rep.chosen), ds->n_rows, rep.seconds);
        if (rep.has_select)
            a->search = churnctl_select_json(&rep.select);
        if (a->t.out && churn_model_save_file(*out, a->t.out, err, sizeof(err)) != CHURN_OK) {
            fprintf(stderr, "churnctl: %s: %s\n", a->t.out, err);
            rc = EXIT_TRANSPORT;
        }
    }
    churn_dataset_free(ds);
    free(mono);
    return rc;
}

static int
write_score(void *user, const char *customer_id, double p, int churned)
{
    FILE *f = user;
    json_t *j = json_pack("{s:s,s:f,s:i}", "customer_id", customer_id, "probability", p, "churned",
                          churned);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    int bad = !s || fprintf(f, "%s\n", s) < 0;
    free(s);
    json_decref(j);
    return bad;
}

static const char *const tier_names[4] = {"unspecified", "low", "medium", "high"};

static json_t *
result_json(const struct backtest_args *a, const struct churn_model *model,
            const struct churn_backtest_result *r)
{
    json_t *j = json_object();
    json_object_set_new(j, "as_of_ms", json_integer(r->as_of_ms));
    json_object_set_new(j, "horizon_days", json_integer(a->t.horizon_days));
    json_object_set_new(j, "customers", json_integer((json_int_t)r->customers));
    json_object_set_new(j, "mean_predicted", json_real(r->mean_predicted));
    if (r->has_truth) {
        const struct churn_metrics *m = &r->metrics;
        json_object_set_new(j, "churned", json_integer((json_int_t)r->churned));
        json_object_set_new(j, "realised_rate", json_real(r->realised_rate));
        json_object_set_new(j, "auc", json_real(m->auc));
        json_object_set_new(j, "pr_auc", json_real(m->pr_auc));
        json_object_set_new(j, "log_loss", json_real(m->log_loss));
        json_object_set_new(j, "brier", json_real(m->brier));
        json_t *dec = json_array(), *cal = json_array();
        for (int d = 0; d < 10; d++) {
            json_array_append_new(dec,
                                  json_pack("{s:f,s:f,s:f}", "rate", m->decile_rate[d], "lift",
                                            m->decile_lift[d], "capture", m->decile_capture[d]));
            const struct churn_calibration_bin *b = &m->calibration[d];
            json_array_append_new(cal, json_pack("{s:f,s:f,s:I,s:o,s:o}", "lo", b->lo, "hi", b->hi,
                                                 "count", (json_int_t)b->count, "mean_pred",
                                                 b->count ? json_real(b->mean_pred) : json_null(),
                                                 "frac_pos",
                                                 b->count ? json_real(b->frac_pos) : json_null()));
        }
        json_object_set_new(j, "deciles", dec);
        json_object_set_new(j, "calibration", cal);
    }
    json_t *share = json_object(), *rate = json_object();
    for (int t = 1; t < 4; t++) {
        json_object_set_new(share, tier_names[t], json_real(r->tier_share[t]));
        if (r->has_truth)
            json_object_set_new(rate, tier_names[t],
                                r->tier_churn_rate[t] == r->tier_churn_rate[t]
                                    ? json_real(r->tier_churn_rate[t])
                                    : json_null());
    }
    json_object_set_new(j, "tier_share", share);
    if (r->has_truth)
        json_object_set_new(j, "tier_churn_rate", rate);
    else
        json_decref(rate);
    const struct churn_model_info *info = churn_model_info(model);
    json_t *m = json_pack("{s:s?,s:s,s:s?}", "path", a->t.model, "kind",
                          churn_model_kind_name(info->kind), "version", info->version);
    if (m && a->search)
        json_object_set(m, "search", a->search);
    if (m && a->trainset)
        json_object_set(m, "training_set", a->trainset);
    json_object_set_new(j, "model", m);
    return j;
}

static void
print_result(const struct backtest_args *a, const struct churn_backtest_result *r)
{
    char when[40];
    churn_format_time_ms(r->as_of_ms, when, sizeof(when));
    printf("backtest as of %s, horizon %d days: %zu customers\n", when, a->t.horizon_days,
           r->customers);
    if (r->has_truth) {
        printf("  churned afterwards   %zu (%.2f%%)\n", r->churned, 100 * r->realised_rate);
        printf("  mean predicted       %.2f%% (%.2fx the realised rate)\n", 100 * r->mean_predicted,
               r->mean_predicted / r->realised_rate);
    } else {
        printf("  mean predicted       %.2f%% (no truth: --scores-only)\n",
               100 * r->mean_predicted);
    }
    for (int t = 3; t >= 1; t--) {
        printf("  %-6s risk tier     %5.1f%% of customers", tier_names[t], 100 * r->tier_share[t]);
        if (r->has_truth && r->tier_churn_rate[t] == r->tier_churn_rate[t])
            printf(", %.1f%% of them churned", 100 * r->tier_churn_rate[t]);
        putchar('\n');
    }
    if (r->has_truth)
        churnctl_print_metrics("prospective", &r->metrics);
}

static int
run(const struct backtest_args *a, struct churn_store *store, struct churn_model *model)
{
    struct churn_segment_config tiers;
    char err[1024];
    churn_segment_config_default(&tiers);
    if (churn_segment_config_parse(&tiers, a->risk_tiers ? a->risk_tiers : CHURN_RISK_TIERS_DEFAULT,
                                   NULL, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: --risk-tiers: %s\n", err);
        return EXIT_USAGE;
    }
    FILE *scores = NULL;
    if (a->scores_out && !(scores = fopen(a->scores_out, "w"))) {
        fprintf(stderr, "churnctl: %s: %s\n", a->scores_out, strerror(errno));
        return EXIT_TRANSPORT;
    }
    struct churn_backtest_options o = {.tiers = &tiers,
                                       .as_of_ms = a->as_of_ms,
                                       .horizon_days = a->t.horizon_days,
                                       .inactivity_days = a->t.inactivity_days,
                                       .observed_until_ms = a->data_until_ms,
                                       .scores_only = a->scores_only};
    struct churn_backtest_result r;
    enum churn_err e = churn_backtest_model(store, model, &o, scores ? write_score : NULL, scores,
                                            &r, err, sizeof(err));
    if (scores && fclose(scores) != 0 && !e) {
        fprintf(stderr, "churnctl: %s: %s\n", a->scores_out, strerror(errno));
        return EXIT_TRANSPORT;
    }
    if (e) {
        fprintf(stderr, "churnctl: %s\n", err);
        return e == CHURN_EINVAL || e == CHURN_EPRECOND ? EXIT_USAGE : EXIT_TRANSPORT;
    }
    if (a->t.json) {
        json_t *j = result_json(a, model, &r);
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(s);
        free(s);
        json_decref(j);
    } else {
        print_result(a, &r);
    }
    return 0;
}

int
churnctl_backtest(int argc, char **argv)
{
    struct backtest_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    struct churn_store *store;
    if ((rc = churnctl_open_store(a.t.store, &store)))
        return rc;
    struct churn_model *model = NULL;
    char err[1024];
    if (a.train) {
        rc = train_before(&a, store, &model);
    } else if (churn_model_load_file(a.t.model, &model, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: %s: %s\n", a.t.model, err);
        rc = EXIT_USAGE;
    }
    if (!rc)
        rc = run(&a, store, model);
    churn_model_unref(model);
    churn_store_close(store);
    json_decref(a.search);
    json_decref(a.trainset);
    return rc;
}
