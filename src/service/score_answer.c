/*
 * service/score_answer.c - GetScore's answers kept encoded (issue 12): an answer built from a
 * stored score is encoded once and kept in the services' answer cache (churn/answer_cache.h)
 * under the customer and max_reasons, with the stored score's stamp; the next GetScore of the
 * same customer and max_reasons asks the engine whether that stamp is still what it would
 * serve (same model load, cut-offs, record bytes, stored bytes, observed history and day:
 * churn_scorer_stamp_current) and, if so, sends the kept bytes: no score decoded, no
 * sentence written, no message encoded. Anything else is a miss and builds the answer anew.
 */
#include "churn/answer_cache.h"
#include "churn/score.h"
#include "churn/service.h"
#include "churn/service_metrics.h"
#include "service_internal.h"

/* The largest answer kept (20 reasons with their sentences are about 3 KB). */
#define ANSWER_MAX (16u * 1024u)

bool
churn__answer_reuse(struct churn_services *svc, struct churn_rpc *rpc, struct churn_served *m,
                    const char *id, size_t k)
{
    if (!svc->answers)
        return false;
    struct churn_answer_meta meta;
    size_t len = 0;
    unsigned char buf[ANSWER_MAX]; /* not the call's arena: a chunk this size is a malloc */
    if (!churn_answer_cache_get(svc->answers, id, (uint32_t)k, &meta, buf, sizeof(buf), &len))
        return false;
    if (!churn_scorer_stamp_current(svc->scoring, m, id, &meta.stamp)) {
        churn_answer_cache_drop_stale(svc->answers, id, (uint32_t)k, &meta.stamp);
        return false;
    }
    if (churn_rpc_respond_packed(rpc, buf, len) != CHURN_OK)
        return false;
    churn_service_metrics_score(svc->metrics, meta.probability, meta.risk_tier);
    return true;
}

uint64_t
churn__answer_erasures(struct churn_services *svc)
{
    return svc->answers ? churn_answer_cache_erasures(svc->answers) : 0;
}

bool
churn__answer_keep(struct churn_services *svc, struct churn_rpc *rpc, const char *id, size_t k,
                   const struct churn_score *s, const ProtobufCMessage *resp, uint64_t erasures)
{
    if (!svc->answers || !s->stored_check)
        return false;
    size_t len = protobuf_c_message_get_packed_size(resp);
    void *buf = len <= ANSWER_MAX ? churn_arena_alloc(churn_rpc_arena(rpc), len) : NULL;
    if (!buf)
        return false;
    protobuf_c_message_pack(resp, buf);
    struct churn_answer_meta meta = {.probability = s->probability, .risk_tier = (int)s->risk_tier};
    churn_score_stamp_of(s, &meta.stamp);
    churn_answer_cache_put(svc->answers, id, (uint32_t)k, &meta, buf, len, erasures);
    return churn_rpc_respond_packed(rpc, buf, len) == CHURN_OK;
}
