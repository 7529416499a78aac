/*
 * test_engine.c - the engine suite: the model registry's record codec (round trip, every
 * truncation, an unknown format version, inconsistent references), its life in a store
 * (registration de-duplicated by path and bytes, promotion, survival across reopening,
 * rollback targets and their refusals, the history cut by a rollback, start-up candidates),
 * the identity of model files (a file gone or altered is refused with the reason), the
 * bounded list of retraining decisions and the champion/challenger promotion rule.
 */
#define _GNU_SOURCE /* mkdtemp */
#include "churn/registry.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "churn/alloc.h"
#include "churn/model.h"
#include "churn/retrain.h"
#include "churn/store.h"

#include "tmpdir.h"

#define LR_DOC                                                                                     \
    "{\"format_version\":1,\"kind\":\"logistic_regression\",\"version\":\"%s\","                   \
    "\"features\":[{\"name\":\"tenure\",\"type\":\"numeric\",\"mean\":10,\"std\":5}],"             \
    "\"training\":{\"params\":{\"train_from_ms\":1000,\"train_until_ms\":2000}},"                  \
    "\"logistic_regression\":{\"intercept\":-1.0,\"coefficients\":[-0.5]}}"

static char dir[64];
static struct churn_store *st;
static struct churn_registry *reg;
static struct churn_registry_view *view; /* big: off the stack */

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/churn-engine-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char sdir[128];
    snprintf(sdir, sizeof(sdir), "%s/store", dir);
    cr_assert_eq(churn_store_open(sdir, NULL, &st), CHURN_OK, "%s", churn_store_last_error());
    char err[256];
    cr_assert_eq(churn_registry_open(st, &reg, err, sizeof(err)), CHURN_OK, "%s", err);
    view = churn_calloc(1, sizeof(*view));
    cr_assert_not_null(view);
}

static void
teardown(void)
{
    churn_registry_close(reg);
    churn_store_close(st);
    churn_free(view);
    churn_test_rm_rf(dir);
}

static void
reopen(void)
{
    churn_registry_close(reg);
    char err[256];
    cr_assert_eq(churn_registry_open(st, &reg, err, sizeof(err)), CHURN_OK, "%s", err);
}

/* Write a model of version @version to dir/@name; returns the path (static buffer per call). */
static const char *
write_model(const char *name, const char *version, char *path, size_t len)
{
    char doc[1024], err[256];
    snprintf(doc, sizeof(doc), LR_DOC, version);
    struct churn_model *m = NULL;
    cr_assert_eq(
        churn_model_load_json(doc, strlen(doc), CHURN_MODEL_LOAD_NO_CHECKSUM, &m, err, sizeof(err)),
        CHURN_OK, "%s", err);
    snprintf(path, len, "%s/%s", dir, name);
    cr_assert_eq(churn_model_save_file(m, path, err, sizeof(err)), CHURN_OK, "%s", err);
    churn_model_unref(m);
    return path;
}

/* Register the model file at @path; returns its id. */
static uint32_t
add(const char *path)
{
    struct churn_model_file_id id;
    char err[512];
    cr_assert_eq(churn_model_file_identify(path, &id, err, sizeof(err)), CHURN_OK, "%s", err);
    uint32_t out = 0;
    cr_assert_eq(churn_registry_add(reg, path, &id, CHURN_ORIGIN_RELOAD, 1000, NULL, &out),
                 CHURN_OK);
    return out;
}

TestSuite(registry, .init = setup, .fini = teardown);

Test(registry, a_file_is_identified_by_its_bytes_and_metadata)
{
    char p[256];
    write_model("a.json", "v-a", p, sizeof(p));
    struct churn_model_file_id id;
    char err[512];
    cr_assert_eq(churn_model_file_identify(p, &id, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_str_eq(id.version, "v-a");
    cr_assert_eq(strncmp(id.checksum, "fnv1a64:", 8), 0, "checksum %s", id.checksum);
    cr_assert_gt(id.size, 0);
    cr_assert_neq(id.file_hash, 0);
    cr_assert_eq(id.kind, CHURN_MODEL_LOGISTIC_REGRESSION);
    cr_assert_eq(id.train_from_ms, 1000);
    cr_assert_eq(id.train_until_ms, 2000);
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/none.json", dir);
    cr_assert_eq(churn_model_file_identify(missing, &id, err, sizeof(err)), CHURN_ENOTFOUND);
}

Test(registry, registration_promotion_and_restart)
{
    char pa[256], pb[256];
    uint32_t a = add(write_model("a.json", "v-a", pa, sizeof(pa)));
    uint32_t b = add(write_model("b.json", "v-b", pb, sizeof(pb)));
    cr_assert_eq(a, 1);
    cr_assert_eq(b, 2);
    cr_assert_eq(add(pa), a, "the same path and bytes register once");
    cr_assert_eq(churn_registry_served_id(reg), 0);
    cr_assert_eq(churn_registry_promote(reg, a, 5000), CHURN_OK);
    cr_assert_eq(churn_registry_promote(reg, b, 6000), CHURN_OK);
    cr_assert_eq(churn_registry_promote(reg, 77, 7000), CHURN_ENOTFOUND);
    reopen();
    cr_assert_eq(churn_registry_served_id(reg), b, "the served model survives a reopen");
    struct churn_registry_entry e;
    cr_assert_eq(churn_registry_get(reg, a, &e), CHURN_OK);
    cr_assert_eq(e.promoted_at_ms, 5000);
    cr_assert_eq(e.retired_at_ms, 6000);
    cr_assert_str_eq(e.file.version, "v-a");
    uint32_t ids[8];
    size_t n = churn_registry_start_candidates(reg, ids, 8);
    cr_assert_eq(n, 2);
    cr_assert_eq(ids[0], b);
    cr_assert_eq(ids[1], a);
}

Test(registry, rollback_targets_and_refusals)
{
    char pa[256], pb[256], pc[256], err[256];
    struct churn_registry_entry t;
    cr_assert_eq(churn_registry_rollback_target(reg, 0, &t, err, sizeof(err)), CHURN_EPRECOND);
    cr_assert(strstr(err, "no model was ever served"), "%s", err);
    uint32_t a = add(write_model("a.json", "v-a", pa, sizeof(pa)));
    uint32_t b = add(write_model("b.json", "v-b", pb, sizeof(pb)));
    uint32_t c = add(write_model("c.json", "v-c", pc, sizeof(pc)));
    cr_assert_eq(churn_registry_promote(reg, a, 10), CHURN_OK);
    cr_assert_eq(churn_registry_rollback_target(reg, 0, &t, err, sizeof(err)), CHURN_EPRECOND);
    cr_assert(strstr(err, "only the model serving now"), "%s", err);
    cr_assert_eq(churn_registry_promote(reg, b, 20), CHURN_OK);
    cr_assert_eq(churn_registry_rollback_target(reg, 99, &t, err, sizeof(err)), CHURN_ENOTFOUND);
    cr_assert(strstr(err, "no model with registry id 99"), "%s", err);
    cr_assert_eq(churn_registry_rollback_target(reg, c, &t, err, sizeof(err)), CHURN_EPRECOND);
    cr_assert(strstr(err, "never served"), "%s", err);
    cr_assert_eq(churn_registry_rollback_target(reg, b, &t, err, sizeof(err)), CHURN_EPRECOND);
    cr_assert(strstr(err, "serving now"), "%s", err);
    cr_assert_eq(churn_registry_rollback_target(reg, 0, &t, err, sizeof(err)), CHURN_OK);
    cr_assert_eq(t.id, a);
    cr_assert_eq(churn_registry_rollback(reg, a, 30), CHURN_OK);
    cr_assert_eq(churn_registry_served_id(reg), a);
    /* b was cut from the history: nothing earlier than a to go back to */
    cr_assert_eq(churn_registry_rollback_target(reg, 0, &t, err, sizeof(err)), CHURN_EPRECOND);
    /* ... but b served once, so it may be named */
    cr_assert_eq(churn_registry_rollback_target(reg, b, &t, err, sizeof(err)), CHURN_OK);
    reopen();
    cr_assert_eq(churn_registry_served_id(reg), a);
}

Test(registry, a_file_gone_or_altered_is_refused_with_the_reason)
{
    char pa[256], err[512];
    uint32_t a = add(write_model("a.json", "v-a", pa, sizeof(pa)));
    struct churn_registry_entry e;
    cr_assert_eq(churn_registry_get(reg, a, &e), CHURN_OK);
    cr_assert_eq(churn_registry_verify(&e, err, sizeof(err)), CHURN_OK, "%s", err);
    FILE *f = fopen(pa, "ab");
    cr_assert_not_null(f);
    fputs(" ", f); /* still valid JSON with the same checksum, but not the registered bytes */
    fclose(f);
    cr_assert_eq(churn_registry_verify(&e, err, sizeof(err)), CHURN_ECORRUPT);
    cr_assert(strstr(err, "altered"), "%s", err);
    cr_assert_eq(unlink(pa), 0);
    cr_assert_eq(churn_registry_verify(&e, err, sizeof(err)), CHURN_ENOTFOUND);
    cr_assert(strstr(err, "gone"), "%s", err);
    cr_assert_eq(churn_registry_refuse(reg, a, err), CHURN_OK);
    reopen();
    cr_assert_eq(churn_registry_get(reg, a, &e), CHURN_OK);
    cr_assert(strstr(e.refused, "gone"), "%s", e.refused);
}

Test(registry, a_moved_file_is_relocated_only_with_its_registered_bytes)
{
    char pa[256], moved[300], err[512];
    uint32_t a = add(write_model("a.json", "v-a", pa, sizeof(pa)));
    snprintf(moved, sizeof(moved), "%s/moved.json", dir);
    cr_assert_eq(churn_registry_relocate(reg, a, moved, err, sizeof(err)), CHURN_ENOTFOUND);
    cr_assert(strstr(err, "gone"), "%s", err);
    cr_assert_eq(churn_registry_relocate(reg, 99, pa, err, sizeof(err)), CHURN_ENOTFOUND);
    char pb[256];
    write_model("moved.json", "v-b", pb, sizeof(pb)); /* another model under the new name */
    cr_assert_eq(churn_registry_relocate(reg, a, moved, err, sizeof(err)), CHURN_ECORRUPT);
    cr_assert(strstr(err, "altered"), "%s", err);
    struct churn_registry_entry e;
    cr_assert_eq(churn_registry_get(reg, a, &e), CHURN_OK);
    cr_assert_str_eq(e.path, pa, "a refused relocation changes nothing");
    cr_assert_eq(churn_registry_refuse(reg, a, "gone"), CHURN_OK);
    cr_assert_eq(rename(pa, moved), 0);
    cr_assert_eq(churn_registry_relocate(reg, a, moved, err, sizeof(err)), CHURN_OK, "%s", err);
    reopen();
    cr_assert_eq(churn_registry_get(reg, a, &e), CHURN_OK);
    cr_assert_str_eq(e.path, moved, "the new path survives a reopen");
    cr_assert_str_eq(e.refused, "", "the refusal is cleared");
    cr_assert_eq(churn_registry_verify(&e, err, sizeof(err)), CHURN_OK, "%s", err);
}

Test(registry, decisions_are_bounded_and_replaced_by_run)
{
    for (uint64_t i = 1; i <= CHURN_REGISTRY_MAX_DECISIONS + 3; i++) {
        struct churn_retrain_decision d = {.run_id = i, .outcome = CHURN_RETRAIN_RUNNING};
        snprintf(d.trigger, sizeof(d.trigger), "rpc");
        cr_assert_eq(churn_registry_record_decision(reg, &d), CHURN_OK);
    }
    struct churn_retrain_decision d = {.run_id = 10, .outcome = CHURN_RETRAIN_KEPT_CHAMPION};
    snprintf(d.reason, sizeof(d.reason), "challenger AUC 0.70 does not beat 0.71 + 0.005");
    cr_assert_eq(churn_registry_record_decision(reg, &d), CHURN_OK);
    reopen();
    churn_registry_snapshot(reg, view);
    cr_assert_eq(view->n_decisions, CHURN_REGISTRY_MAX_DECISIONS);
    cr_assert_eq(view->decisions[0].run_id, 4, "the oldest were dropped");
    cr_assert_eq(view->decisions[6].run_id, 10);
    cr_assert_eq(view->decisions[6].outcome, CHURN_RETRAIN_KEPT_CHAMPION);
    cr_assert_eq(churn_registry_next_run_id(reg), CHURN_REGISTRY_MAX_DECISIONS + 4);
}

TestSuite(registry_codec);

static void
sample_view(struct churn_registry_view *v)
{
    memset(v, 0, sizeof(*v));
    v->n_models = 2;
    for (uint32_t i = 0; i < 2; i++) {
        struct churn_registry_entry *e = &v->models[i];
        e->id = i + 1;
        snprintf(e->path, sizeof(e->path), "/models/m%u.json", i);
        snprintf(e->file.version, sizeof(e->file.version), "v%u", i);
        e->file.file_hash = 0x1234 + i;
        e->origin = CHURN_ORIGIN_RETRAIN;
        e->backtest = (struct churn_backtest_figures){true, 5, 90, 100, 0.7, 0.3, 0.1, 0.12};
    }
    v->n_history = 2;
    v->history[0] = 1;
    v->history[1] = 2;
    v->served_id = 2;
    v->n_decisions = 1;
    v->decisions[0].run_id = 3;
    v->decisions[0].outcome = CHURN_RETRAIN_PROMOTED;
    v->next_run_id = 4;
}

Test(registry_codec, round_trip_and_every_truncation)
{
    struct churn_registry_view *v = churn_calloc(2, sizeof(*v));
    cr_assert_not_null(v);
    sample_view(&v[0]);
    size_t cap = churn_registry_encoded_size_max(), len = 0;
    uint8_t *buf = churn_malloc(cap);
    cr_assert_eq(churn_registry_encode(&v[0], buf, cap, &len), CHURN_OK);
    cr_assert_eq(buf[0], CHURN_REGISTRY_FORMAT, "a version byte leads the record");
    cr_assert_eq(churn_registry_decode(buf, len, &v[1]), CHURN_OK);
    cr_assert_str_eq(v[1].models[1].path, "/models/m1.json");
    cr_assert_eq(v[1].models[0].backtest.auc, 0.7);
    cr_assert_eq(v[1].served_id, 2);
    cr_assert_eq(v[1].decisions[0].outcome, CHURN_RETRAIN_PROMOTED);
    for (size_t cut = 0; cut < len; cut++)
        cr_assert_eq(churn_registry_decode(buf, cut, &v[1]), CHURN_ECORRUPT, "cut at %zu", cut);
    buf[0] = CHURN_REGISTRY_FORMAT + 1;
    cr_assert_eq(churn_registry_decode(buf, len, &v[1]), CHURN_ECORRUPT, "unknown version");
    size_t small = 0;
    cr_assert_eq(churn_registry_encode(&v[0], buf, 10, &small), CHURN_ETOOBIG);
    churn_free(buf);
    churn_free(v);
}

Test(registry_codec, inconsistent_references_are_refused)
{
    struct churn_registry_view *v = churn_calloc(2, sizeof(*v));
    size_t cap = churn_registry_encoded_size_max(), len = 0;
    uint8_t *buf = churn_malloc(cap);
    sample_view(&v[0]);
    v[0].served_id = 1; /* not the last of the history */
    cr_assert_eq(churn_registry_encode(&v[0], buf, cap, &len), CHURN_OK);
    cr_assert_eq(churn_registry_decode(buf, len, &v[1]), CHURN_ECORRUPT);
    sample_view(&v[0]);
    v[0].history[0] = 9; /* no such entry */
    cr_assert_eq(churn_registry_encode(&v[0], buf, cap, &len), CHURN_OK);
    cr_assert_eq(churn_registry_decode(buf, len, &v[1]), CHURN_ECORRUPT);
    churn_free(buf);
    churn_free(v);
}

TestSuite(retrain_rule);

Test(retrain_rule, a_challenger_serves_only_when_better_by_the_margin)
{
    char why[256];
    struct churn_backtest_figures champ = {.present = true, .auc = 0.70};
    struct churn_backtest_figures c = {.present = true, .auc = 0.705};
    cr_assert_not(churn_retrain_challenger_wins(0.005, &c, &champ, why, sizeof(why)),
                  "equal to champion + margin is not better");
    cr_assert(strstr(why, "does not beat champion 0.7000 + margin 0.0050"), "%s", why);
    c.auc = 0.7051;
    cr_assert(churn_retrain_challenger_wins(0.005, &c, &champ, why, sizeof(why)));
    cr_assert(strstr(why, "beats"), "%s", why);
    cr_assert_not(churn_retrain_challenger_wins(0.01, &c, &champ, why, sizeof(why)));
    c.auc = 0.5;
    cr_assert(churn_retrain_challenger_wins(0.005, &c, NULL, why, sizeof(why)),
              "without a champion any defined challenger serves");
    cr_assert(strstr(why, "no model was serving"), "%s", why);
    c.auc = NAN;
    cr_assert_not(churn_retrain_challenger_wins(0.005, &c, NULL, why, sizeof(why)));
    cr_assert(strstr(why, "undefined"), "%s", why);
    c.auc = 0.9;
    champ.auc = NAN;
    cr_assert_not(churn_retrain_challenger_wins(0.005, &c, &champ, why, sizeof(why)),
                  "a champion that cannot be judged is not replaced blindly");
    c.present = false;
    cr_assert_not(churn_retrain_challenger_wins(0.005, &c, NULL, why, sizeof(why)));
}
