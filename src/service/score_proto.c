/*
 * service/score_proto.c - the one conversion of a domain score (struct churn_score) into the
 * API's Score message: tiers, value, priority, reasons with their direction and sentence,
 * the model version, the sources' freshness. Every string is copied into the response's
 * arena, so the message outlives the score and the model it came from; and a score computed
 * for a response.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "churn/score.h"
#include "churn/service.h"
#include "churn/service_metrics.h"
#include "service_internal.h"

/* Reason @r as the API's Reason, in @a; NULL when @a is full. */
static Churn__V1__Reason *
reason_to_proto(const struct churn_score_reason *r, struct churn_arena *a)
{
    Churn__V1__Reason *p = churn_arena_alloc(a, sizeof(*p));
    if (!p)
        return NULL;
    churn__v1__reason__init(p);
    p->feature = churn_arena_strdup(a, r->name);
    p->label = churn_arena_strdup(a, r->label);
    p->contribution = r->contribution;
    p->direction = r->contribution >= 0
                       ? CHURN__V1__REASON_DIRECTION__REASON_DIRECTION_INCREASES_RISK
                       : CHURN__V1__REASON_DIRECTION__REASON_DIRECTION_DECREASES_RISK;
    if (r->categorical)
        p->category = churn_arena_strdup(a, r->category);
    else if (isnan(r->value))
        p->missing = true;
    else
        p->value = r->value;
    p->explanation = churn_arena_strdup(a, r->explanation);
    return p->feature && p->label && p->category && p->explanation ? p : NULL;
}

Churn__V1__Score *
churn__score_to_proto(const struct churn_score *s, struct churn_arena *a)
{
    Churn__V1__Score *p = churn_arena_alloc(a, sizeof(*p));
    Churn__V1__Reason **rl = churn_arena_alloc(a, (s->n_reasons + 1) * sizeof(*rl));
    if (!p || !rl)
        return NULL;
    churn__v1__score__init(p);
    p->customer_id = churn_arena_strdup(a, s->customer_id);
    p->segment = churn_arena_strdup(a, s->segment);
    p->model_version = churn_arena_strdup(a, s->model_version);
    if (!p->customer_id || !p->segment || !p->model_version)
        return NULL;
    p->probability = s->probability;
    p->margin = s->margin;
    /* churn_tier and the proto's RiskTier / ValueTier share their numbers (LOW 1 .. HIGH 3) */
    p->risk_tier = (Churn__V1__RiskTier)s->risk_tier;
    p->value_tier = (Churn__V1__ValueTier)s->value_tier;
    p->customer_value = s->value;
    p->expected_revenue_at_risk = s->revenue_at_risk;
    p->priority = s->priority;
    p->scored_at_ms = s->scored_at_ms;
    p->horizon_ms = s->horizon_ms;
    p->previous_model = s->previous_model;
    p->freshness = churn__freshness_to_proto(&s->freshness, s->scored_at_ms, a);
    if (!p->freshness)
        return NULL;
    for (size_t i = 0; i < s->n_reasons; i++)
        if (!(rl[i] = reason_to_proto(&s->reasons[i], a)))
            return NULL;
    p->n_reasons = s->n_reasons;
    p->reasons = rl;
    return p;
}

enum churn_err
churn__score_for_response(struct churn_services *svc, struct churn_served *m, const char *id,
                          size_t k, struct churn_score *scratch, struct churn_arena *a,
                          Churn__V1__Score **out, char *err, size_t errlen)
{
    struct churn_score_request req = {.max_reasons = k, .explain = true};
    enum churn_err e = churn_scorer_score(svc->scoring, m, id, &req, NULL, scratch, err, errlen);
    if (e)
        return e;
    if (!(*out = churn__score_to_proto(scratch, a))) {
        snprintf(err, errlen, "response too large");
        return CHURN_ETOOBIG;
    }
    churn_service_metrics_score(svc->metrics, scratch->probability, (int)scratch->risk_tier);
    return CHURN_OK;
}
