/*
 * models.c - churnctl's model registry commands against a running churnd: `models list` (every
 * registered model, the one serving marked, and the last retraining decisions), `models promote
 * ID|VERSION`, `models rollback [ID]` and `retrain` (start a retraining run now). Human lines by
 * default, the response as JSON with --json.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/clock.h"
#include "churn_proto.h"
#include "ctl.h"

#define LIST_METHOD     "/churn.v1.ModelService/ListModels"
#define PROMOTE_METHOD  "/churn.v1.ModelService/PromoteModel"
#define ROLLBACK_METHOD "/churn.v1.ModelService/RollbackModel"
#define RETRAIN_METHOD  "/churn.v1.ModelService/RetrainModel"

static void
models_usage(FILE *out)
{
    fputs("usage: churnctl models list [--json]\n"
          "       churnctl models promote ID|VERSION [--json]\n"
          "       churnctl models rollback [ID] [--json]\n"
          "       churnctl retrain [--json]\n"
          "list: every model in churnd's registry ('*' marks the one serving) and the last\n"
          "retraining decisions; promote: serve a registered model (its file must be unchanged);\n"
          "rollback: serve again the model that served before (or the one named);\n"
          "retrain: start a retraining run now (the decision shows in `models list`).\n",
          out);
}

static const char *
day(int64_t ms, char *buf, size_t len)
{
    if (ms <= 0)
        return "-";
    churn_format_time_ms(ms, buf, len);
    buf[10 < len ? 10 : len - 1] = '\0'; /* the date is enough in a table */
    return buf;
}

static const char *
outcome_word(Churn__V1__RetrainOutcome o)
{
    static const char *const words[] = {"?",      "running",  "promoted", "kept-champion",
                                        "failed", "cancelled"};
    return (unsigned)o < sizeof(words) / sizeof(words[0]) ? words[o] : "?";
}

static void
print_entry(const Churn__V1__RegistryEntry *e)
{
    char reg[40], pro[40];
    const Churn__V1__BacktestFigures *b = e->backtest;
    char bt[64] = "-";
    if (b && b->as_of_ms)
        snprintf(bt, sizeof(bt), "%.3f/%.3f", b->auc, b->pr_auc);
    printf("%s %-3" PRIu32 " %-28s %-8s %-7s %-10s %-10s %-13s %s%s%s\n", e->serving ? "*" : " ",
           e->id, e->version,
           e->kind == CHURN__V1__MODEL_KIND__MODEL_KIND_GRADIENT_BOOSTED_TREES ? "gbdt" : "logreg",
           e->origin == CHURN__V1__MODEL_ORIGIN__MODEL_ORIGIN_RETRAIN ? "retrain"
           : e->origin == CHURN__V1__MODEL_ORIGIN__MODEL_ORIGIN_FLAG  ? "flag"
                                                                      : "reload",
           day(e->registered_at_ms, reg, sizeof(reg)), day(e->promoted_at_ms, pro, sizeof(pro)), bt,
           e->path, *e->refused_reason ? "  REFUSED: " : "", e->refused_reason);
}

static void
print_decision(const Churn__V1__RetrainDecision *d)
{
    char when[40];
    printf("run %" PRIu64 " %s %s (%s): %s\n", d->run_id, day(d->started_at_ms, when, sizeof(when)),
           outcome_word(d->outcome), d->trigger, d->reason);
}

static int
models_list(struct ctl *ctl, bool json)
{
    Churn__V1__ListModelsRequest req = CHURN__V1__LIST_MODELS_REQUEST__INIT;
    ProtobufCMessage *out;
    int rc = churnctl_unary(ctl, LIST_METHOD, &req.base, &out);
    if (rc)
        return rc;
    const Churn__V1__ListModelsResponse *r = (const void *)out;
    if (json) {
        rc = churnctl_print_json(ctl, out);
    } else if (r->n_models == 0) {
        printf("no models registered\n");
    } else {
        printf("  %-3s %-28s %-8s %-7s %-10s %-10s %-13s %s\n", "ID", "VERSION", "KIND", "ORIGIN",
               "REGISTERED", "PROMOTED", "AUC/PR-AUC", "PATH");
        for (size_t i = 0; i < r->n_models; i++)
            print_entry(r->models[i]);
        for (size_t i = 0; i < r->n_decisions; i++)
            print_decision(r->decisions[i]);
    }
    fflush(stdout);
    protobuf_c_message_free_unpacked(out, NULL);
    return rc;
}

/* An id in 1..UINT32_MAX from @s; false when @s is not one. */
static bool
parse_id(const char *s, uint32_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || *s == '-' || v == 0 || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Print the outcome of a promotion or rollback: the entry now serving. */
static int
print_swap(struct ctl *ctl, ProtobufCMessage *out, const char *old,
           const Churn__V1__RegistryEntry *e, bool json)
{
    int rc = 0;
    if (json)
        rc = churnctl_print_json(ctl, out);
    else if (e)
        printf("serving model %" PRIu32 " (%s, %s); was %s\n", e->id, e->version, e->path,
               *old ? old : "none");
    fflush(stdout);
    protobuf_c_message_free_unpacked(out, NULL);
    return rc;
}

static int
models_promote(struct ctl *ctl, const char *which, bool json)
{
    Churn__V1__PromoteModelRequest req = CHURN__V1__PROMOTE_MODEL_REQUEST__INIT;
    /* a number is a registry id; anything else a version */
    if (!parse_id(which, &req.id)) {
        if (*which >= '0' && *which <= '9') {
            fprintf(stderr, "churnctl: models promote: '%s' is not a registry id\n", which);
            return EXIT_USAGE;
        }
        req.version = (char *)which;
    }
    ProtobufCMessage *out;
    int rc = churnctl_unary(ctl, PROMOTE_METHOD, &req.base, &out);
    if (rc)
        return rc;
    const Churn__V1__PromoteModelResponse *r = (const void *)out;
    return print_swap(ctl, out, r->old_version, r->model, json);
}

static int
models_rollback(struct ctl *ctl, const char *which, bool json)
{
    Churn__V1__RollbackModelRequest req = CHURN__V1__ROLLBACK_MODEL_REQUEST__INIT;
    if (which && !parse_id(which, &req.id)) {
        fprintf(stderr, "churnctl: models rollback: '%s' is not a registry id\n", which);
        return EXIT_USAGE;
    }
    ProtobufCMessage *out;
    int rc = churnctl_unary(ctl, ROLLBACK_METHOD, &req.base, &out);
    if (rc)
        return rc;
    const Churn__V1__RollbackModelResponse *r = (const void *)out;
    return print_swap(ctl, out, r->old_version, r->model, json);
}

/* Split @argv into --json and at most @max positional words; false on anything else. */
static bool
split_args(int argc, char **argv, bool *json, const char **words, int max, int *n)
{
    *n = 0;
    *json = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            *json = true;
        } else if (strncmp(argv[i], "--", 2) == 0 || *n == max) {
            fprintf(stderr, "churnctl: unexpected argument '%s'\n", argv[i]);
            return false;
        } else {
            words[(*n)++] = argv[i];
        }
    }
    return true;
}

int
churnctl_models(struct ctl *ctl, int argc, char **argv)
{
    const char *words[2];
    int n;
    bool json;
    if (argc >= 1 && strcmp(argv[0], "--help") == 0) {
        models_usage(stdout);
        return 0;
    }
    if (argc < 1 || !split_args(argc - 1, argv + 1, &json, words, 1, &n)) {
        models_usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[0], "list") == 0 && n == 0)
        return models_list(ctl, json);
    if (strcmp(argv[0], "promote") == 0 && n == 1)
        return models_promote(ctl, words[0], json);
    if (strcmp(argv[0], "rollback") == 0)
        return models_rollback(ctl, n ? words[0] : NULL, json);
    fprintf(stderr, "churnctl: models: unknown or incomplete subcommand '%s'\n", argv[0]);
    models_usage(stderr);
    return EXIT_USAGE;
}

int
churnctl_retrain(struct ctl *ctl, int argc, char **argv)
{
    const char *words[1];
    int n;
    bool json;
    if (!split_args(argc, argv, &json, words, 0, &n)) {
        models_usage(stderr);
        return EXIT_USAGE;
    }
    Churn__V1__RetrainModelRequest req = CHURN__V1__RETRAIN_MODEL_REQUEST__INIT;
    ProtobufCMessage *out;
    int rc = churnctl_unary(ctl, RETRAIN_METHOD, &req.base, &out);
    if (rc)
        return rc;
    const Churn__V1__RetrainModelResponse *r = (const void *)out;
    if (json)
        rc = churnctl_print_json(ctl, out);
    else
        printf("retraining run %" PRIu64 " started; `churnctl models list` shows its decision\n",
               r->run_id);
    fflush(stdout);
    protobuf_c_message_free_unpacked(out, NULL);
    return rc;
}
