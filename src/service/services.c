/*
 * services.c - assembles the method table from each service's rows, points every row at
 * the shared context, derives the list of service names (for reflection and health), and
 * owns the health registry and the reflection index.
 */
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/answer_cache.h"
#include "churn/engine.h"
#include "churn/housekeeping.h"
#include "churn/score.h"
#include "churn/score_index.h"
#include "churn/score_keep.h"
#include "churn/log.h"
#include "churn/service.h"
#include "churn/shard.h"
#include "service_internal.h"

static const struct {
    const struct churn_method *rows;
    const size_t *n;
} tables[] = {
    {churn__health_methods, &churn__n_health_methods},
    {churn__reflection_methods, &churn__n_reflection_methods},
    {churn__ingest_methods, &churn__n_ingest_methods},
    {churn__scoring_methods, &churn__n_scoring_methods},
    {churn__chat_methods, &churn__n_chat_methods},
    {churn__alert_methods, &churn__n_alert_methods},
    {churn__model_methods, &churn__n_model_methods},
    {churn__admin_methods, &churn__n_admin_methods},
    {churn__shard_admin_methods, &churn__n_shard_admin_methods},
};

/* "/pkg.Service/Method" → heap "pkg.Service" */
static char *
service_of(const char *method)
{
    const char *start = method + 1;
    const char *slash = strchr(start, '/');
    size_t n = slash ? (size_t)(slash - start) : strlen(start);
    char *s = churn_malloc(n + 1);
    if (s) {
        memcpy(s, start, n);
        s[n] = '\0';
    }
    return s;
}

static enum churn_err
collect_service_names(struct churn_services *svc)
{
    svc->service_names = churn_calloc(svc->n_methods, sizeof(char *));
    if (!svc->service_names)
        return CHURN_ENOMEM;
    for (size_t i = 0; i < svc->n_methods; i++) {
        char *name = service_of(svc->methods[i].name);
        if (!name)
            return CHURN_ENOMEM;
        bool seen = false;
        for (size_t j = 0; j < svc->n_service_names && !seen; j++)
            seen = strcmp(svc->service_names[j], name) == 0;
        if (seen)
            churn_free(name);
        else
            svc->service_names[svc->n_service_names++] = name;
    }
    return CHURN_OK;
}

void
churn__forget_customer(struct churn_services *svc, const char *customer_id)
{
    churn__alerts_forget_customer(svc->alerts, customer_id); /* ListAlerts' index too */
    churn_score_index_remove(svc->scores, customer_id);      /* and every listing */
    if (svc->answers) /* and every GetScore answer kept encoded */
        churn_answer_cache_forget(svc->answers, customer_id);
}

enum churn_err
churn_services_init(struct churn_services *svc, char *errbuf, size_t errlen)
{
    memset(svc, 0, sizeof(*svc));
    enum churn_err err = churn_health_create(&svc->health);
    if (err)
        goto out_fail;
    err = churn_scorer_create(&svc->scoring);
    if (err)
        goto out_fail;
    err = churn_score_index_create(&svc->scores);
    if (err)
        goto out_fail;
    err = churn_reflection_open(churn_descriptor_set, churn_descriptor_set_len, &svc->reflection,
                                errbuf, errlen);
    if (err)
        goto out_fail;
    size_t total = 0;
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
        total += *tables[t].n;
    svc->methods = churn_calloc(total, sizeof(*svc->methods));
    if (!svc->methods) {
        err = CHURN_ENOMEM;
        goto out_fail;
    }
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        for (size_t i = 0; i < *tables[t].n; i++) {
            svc->methods[svc->n_methods] = tables[t].rows[i];
            svc->methods[svc->n_methods].service = svc;
            svc->n_methods++;
        }
    }
    err = collect_service_names(svc);
    if (err)
        goto out_fail;
    for (size_t i = 0; i < svc->n_service_names && !err; i++)
        err = churn_health_set(svc->health, svc->service_names[i], CHURN_HEALTH_NOT_SERVING);
    if (err)
        goto out_fail;
    return CHURN_OK;
out_fail:
    if (err == CHURN_ENOMEM)
        snprintf(errbuf, errlen, "out of memory");
    churn_services_fini(svc);
    return err;
}

void
churn_services_fini(struct churn_services *svc)
{
    for (size_t i = 0; i < svc->n_service_names; i++)
        churn_free((char *)svc->service_names[i]);
    churn_free(svc->service_names);
    churn_free(svc->methods);
    churn_reflection_close(svc->reflection);
    churn_health_destroy(svc->health);
    churn_scorer_destroy(svc->scoring);
    churn_score_index_destroy(svc->scores);
    memset(svc, 0, sizeof(*svc));
}

enum churn_err
churn_services_load_model(struct churn_services *svc, const char *path, char *errbuf, size_t errlen)
{
    char old[256];
    return churn__models_serve_path(svc, path, CHURN_ORIGIN_RELOAD, NULL, old, sizeof(old), errbuf,
                                    errlen);
}

bool
churn_services_has_model(struct churn_services *svc)
{
    return churn_scorer_has_model(svc->scoring);
}

#define MAINTAIN_EVERY_MS 10000  /* store maintenance: stale readers, expired event ids */
#define MAINTAIN_BUDGET   100000 /* event ids scanned per maintenance round */

/* The housekeeping timer's "store-maintenance" task. */
static void
maintain_store(void *ctx, int64_t now_ms)
{
    struct churn_services *svc = ctx;
    struct churn_store_maintenance m;
    if (churn_store_maintain(svc->store, now_ms, MAINTAIN_BUDGET, &m) != CHURN_OK)
        churn_log(CHURN_LOG_WARN, "maintenance_failed",
                  CHURN_LF_STR("error", churn_store_last_error()));
    else if (m.stale_readers_cleared || m.event_ids_pruned)
        churn_log(CHURN_LOG_INFO, "maintenance",
                  CHURN_LF_INT("stale_readers_cleared", m.stale_readers_cleared),
                  CHURN_LF_INT("event_ids_pruned", (long long)m.event_ids_pruned));
}

/* The housekeeping timer's "score-index" task: the builder looks for a new model or cuts. */
static void
poke_score_builder(void *ctx, int64_t now_ms)
{
    (void)now_ms;
    churn_score_builder_poke(ctx);
}

/* The engine's one housekeeping timer and its tasks, started. */
static enum churn_err
start_housekeeping(struct churn_services *svc)
{
    enum churn_err err = churn_housekeeping_create(NULL, NULL, &svc->housekeeping);
    if (!err)
        err = churn_housekeeping_add(svc->housekeeping, "store-maintenance", MAINTAIN_EVERY_MS,
                                     MAINTAIN_EVERY_MS, maintain_store, svc);
    if (!err)
        err = churn_housekeeping_add(svc->housekeeping, "score-index", CHURN_SCORE_BUILDER_POKE_MS,
                                     0, poke_score_builder, svc->score_builder);
    if (!err)
        err = churn_housekeeping_start(svc->housekeeping);
    if (err) {
        churn_housekeeping_destroy(svc->housekeeping);
        svc->housekeeping = NULL;
    }
    return err;
}

enum churn_err
churn_services_attach_store(struct churn_services *svc, struct churn_store *store,
                            struct churn_store_writer *writer)
{
    enum churn_err err = churn__chat_saver_start(store, &svc->chat_saver);
    if (err)
        return err;
    svc->store = store;
    svc->writer = writer;
    churn_scorer_attach(svc->scoring, store, svc->scores);
    if (svc->stored_scores &&
        churn_score_keeper_start(store, svc->chat_saver, &svc->score_keeper) == CHURN_OK)
        churn_scorer_keep(svc->scoring, svc->score_keeper);
    else if (svc->stored_scores)
        churn_log(CHURN_LOG_WARN, "scores_not_kept", CHURN_LF_STR("error", "out of memory"));
    if (svc->score_keeper && svc->answer_cache_bytes &&
        churn_answer_cache_create(svc->answer_cache_bytes, CHURN_ANSWER_CACHE_ENTRIES_DEFAULT,
                                  &svc->answers) != CHURN_OK)
        churn_log(CHURN_LOG_WARN, "answers_not_kept", CHURN_LF_STR("error", "out of memory"));
    char why[512];
    err = churn__models_open(svc, why, sizeof(why));
    if (err)
        churn_log(CHURN_LOG_ERROR, "model_registry_unreadable", CHURN_LF_STR("error", why));
    else
        err = churn__alerts_start(
            &(struct churn_alert_engine_config){
                .store = store,
                .scorer = svc->scoring,
                .scores = svc->scores,
                .playbooks_path = svc->playbooks_path,
                .segments = svc->segments,
                .alert_rules = svc->alert_rules,
                .sweep_interval_ms = svc->sweep_interval_ms,
                .sweep_delay_ms = svc->sweep_delay_ms,
                .metrics = svc->metrics,
                .delivery_config = svc->delivery_config,
                .trend_keep_days = svc->trend_keep_days,
                .owns = svc->shard ? churn_shard_serves_customer : NULL,
                .owns_ctx = svc->shard,
                .chat_saver = svc->chat_saver,
            },
            &svc->alerts);
    if (!err) {
        err = churn__delivery_start(svc);
        if (err) {
            churn__alerts_stop(svc->alerts);
            svc->alerts = NULL;
        }
    }
    if (!err) {
        err = churn_score_builder_start(svc->scoring, store, svc->scores, &svc->score_builder);
        churn_score_builder_pace(svc->score_builder, err ? 0 : svc->score_rebuild_rate);
        if (!err && (err = start_housekeeping(svc)) != CHURN_OK) {
            churn_score_builder_stop(svc->score_builder);
            svc->score_builder = NULL;
        }
        if (err) {
            churn__delivery_stop(svc);
            churn__alerts_stop(svc->alerts);
            svc->alerts = NULL;
        }
    }
    if (err) {
        churn__models_close(svc);
        churn_scorer_keep(svc->scoring, NULL);
        churn_score_keeper_stop(svc->score_keeper); /* before the saver whose commits it rides */
        svc->score_keeper = NULL;
        churn__chat_saver_stop(svc->chat_saver);
        svc->chat_saver = NULL;
        churn_answer_cache_destroy(svc->answers);
        svc->answers = NULL;
        churn_scorer_detach(svc->scoring);
        svc->store = NULL;
        svc->writer = NULL;
        return err;
    }
    return CHURN_OK;
}

enum churn_err
churn_services_reload_playbooks(struct churn_services *svc, char *errbuf, size_t errlen)
{
    if (!svc->alerts)
        return churn_fail(errbuf, errlen, CHURN_EUNAVAIL, "no store attached");
    return churn__alerts_reload_playbooks(svc->alerts, errbuf, errlen);
}

void
churn_services_detach_store(struct churn_services *svc)
{
    churn_services_stop_admin(svc); /* a backup in progress completes first */
    churn_services_stop_retrainer(svc);
    churn_housekeeping_destroy(svc->housekeeping); /* first: its tasks use what follows */
    svc->housekeeping = NULL;
    churn_score_builder_stop(svc->score_builder);
    svc->score_builder = NULL;
    churn__delivery_stop(svc);
    churn__alerts_stop(svc->alerts);
    svc->alerts = NULL;
    churn__alert_service_fini();
    churn_scorer_keep(svc->scoring, NULL);      /* nothing scores any more: write what is queued */
    churn_score_keeper_stop(svc->score_keeper); /* before the saver whose commits it rides */
    svc->score_keeper = NULL;
    churn__chat_saver_stop(svc->chat_saver);
    svc->chat_saver = NULL;
    churn_answer_cache_destroy(svc->answers); /* after the server stopped: nobody reads it */
    svc->answers = NULL;
    churn_scorer_detach(svc->scoring);
    churn__models_close(svc);
    svc->store = NULL;
    svc->writer = NULL;
}

void
churn_services_set_serving(struct churn_services *svc, enum churn_health_status status)
{
    churn__health_set_serving(svc, status);
}
