/*
 * chat_wire.c - the wire bytes of a chat answer (churn.v1.AnalyzeChatResponse), written in one
 * pass. Every turn of every chat sends one, and protobuf-c's generic packer walks the
 * descriptors twice and sizes each nested message again at every level of nesting (the answer's
 * score, reasons, evidence): about a sixth of a turn's instructions in churnd's own code. This
 * writer follows protobuf-c's rules for proto3 exactly (fields in number order; a zero scalar,
 * an empty string and a NULL message left out; a oneof member written when its case is set;
 * repeated scalars packed), so the bytes are protobuf_c_message_pack()'s: a unit test compares
 * them on answers filled at random from the descriptors. What it does not write (unknown
 * fields, a score's history or movements, which answers never carry) is left to protobuf-c.
 */
#include <string.h>

#include "churn_proto.h"
#include "service_internal.h"

#define WIRE_VARINT 0
#define WIRE_64BIT  1
#define WIRE_LEN    2

/* The bytes being written: [p, end); @full once something did not fit. */
struct wire {
    uint8_t *p, *end;
    bool full;
};

static void
put_varint(struct wire *w, uint64_t v)
{
    if (w->end - w->p < 10) {
        w->full = true;
        return;
    }
    while (v >= 0x80) {
        *w->p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *w->p++ = (uint8_t)v;
}

static void
put_tag(struct wire *w, unsigned field, unsigned type)
{
    put_varint(w, (uint64_t)field << 3 | type);
}

static void
put_double(struct wire *w, unsigned field, double v)
{
    if (v == 0) /* protobuf-c compares: -0.0 is left out too */
        return;
    put_tag(w, field, WIRE_64BIT);
    if (w->end - w->p < 8) {
        w->full = true;
        return;
    }
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(w->p, &v, 8); /* the wire's order */
    w->p += 8;
#else
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    for (int i = 0; i < 8; i++)
        *w->p++ = (uint8_t)(bits >> (8 * i));
#endif
}

static void
put_bool(struct wire *w, unsigned field, protobuf_c_boolean v)
{
    if (!v)
        return;
    put_tag(w, field, WIRE_VARINT);
    put_varint(w, 1);
}

/* int32 and enums: a negative one is sign-extended to ten bytes */
static void
put_int32(struct wire *w, unsigned field, int32_t v)
{
    if (!v)
        return;
    put_tag(w, field, WIRE_VARINT);
    put_varint(w, (uint64_t)(int64_t)v);
}

static void
put_uint64(struct wire *w, unsigned field, uint64_t v)
{
    if (!v)
        return;
    put_tag(w, field, WIRE_VARINT);
    put_varint(w, v);
}

static void
put_bytes(struct wire *w, unsigned field, const char *s, size_t n)
{
    put_tag(w, field, WIRE_LEN);
    put_varint(w, n);
    if ((size_t)(w->end - w->p) < n) {
        w->full = true;
        return;
    }
    memcpy(w->p, s, n);
    w->p += n;
}

static void
put_string(struct wire *w, unsigned field, const char *s)
{
    if (s && *s)
        put_bytes(w, field, s, strlen(s));
}

/* A nested message's tag and a one-byte length to fix by close_message(); its content follows. */
static uint8_t *
open_message(struct wire *w, unsigned field)
{
    put_tag(w, field, WIRE_LEN);
    if (w->p == w->end) {
        w->full = true;
        return w->p;
    }
    return ++w->p;
}

/* Write the length of the message whose content starts at @start, moving the content when the
 * length takes more than the byte kept for it. */
static void
close_message(struct wire *w, uint8_t *start)
{
    if (w->full)
        return;
    size_t len = (size_t)(w->p - start);
    if (len < 0x80) {
        start[-1] = (uint8_t)len;
        return;
    }
    size_t extra = 0;
    for (size_t v = len >> 7; v; v >>= 7)
        extra++;
    if ((size_t)(w->end - w->p) < extra) {
        w->full = true;
        return;
    }
    memmove(start + extra, start, len);
    w->p = start - 1;
    put_varint(w, len);
    w->p += len;
}

static void
put_error(struct wire *w, unsigned field, const Churn__V1__ErrorDetail *m)
{
    uint8_t *at = open_message(w, field);
    put_int32(w, 1, m->code);
    put_string(w, 2, m->message);
    put_string(w, 3, m->field);
    close_message(w, at);
}

static void
put_sentiment(struct wire *w, const Churn__V1__Sentiment *m)
{
    uint8_t *at = open_message(w, 6);
    put_double(w, 1, m->compound);
    put_double(w, 2, m->positive);
    put_double(w, 3, m->negative);
    put_double(w, 4, m->neutral);
    close_message(w, at);
}

static void
put_flags(struct wire *w, unsigned field, const Churn__V1__ChatFlags *m)
{
    uint8_t *at = open_message(w, field);
    put_bool(w, 1, m->churn_intent);
    put_bool(w, 2, m->human_requested);
    put_bool(w, 3, m->hard_trigger);
    close_message(w, at);
}

static void
put_modifiers(struct wire *w, const Churn__V1__EvidenceModifiers *m)
{
    uint8_t *at = open_message(w, 7);
    put_bool(w, 1, m->negated);
    put_double(w, 2, m->booster);
    put_bool(w, 3, m->all_caps);
    put_bool(w, 4, m->elongated);
    put_double(w, 5, m->contrast_weight);
    put_bool(w, 6, m->stem_match);
    close_message(w, at);
}

static void
put_evidence(struct wire *w, const Churn__V1__Evidence *m)
{
    uint8_t *at = open_message(w, 7);
    if (m) {
        put_string(w, 1, m->term);
        put_int32(w, 2, (int32_t)m->kind);
        put_uint64(w, 3, m->byte_start);
        put_uint64(w, 4, m->byte_end);
        put_double(w, 5, m->valence);
        put_double(w, 6, m->contribution);
        if (m->modifiers)
            put_modifiers(w, m->modifiers);
        if (m->flags)
            put_flags(w, 8, m->flags);
    }
    close_message(w, at);
}

/* A packed repeated enum. */
static void
put_enums(struct wire *w, unsigned field, const int *v, size_t n)
{
    if (!n)
        return;
    uint8_t *at = open_message(w, field);
    for (size_t i = 0; i < n; i++)
        put_varint(w, (uint64_t)(int64_t)v[i]);
    close_message(w, at);
}

static void
put_escalation(struct wire *w, const Churn__V1__Escalation *m)
{
    uint8_t *at = open_message(w, 13);
    put_bool(w, 1, m->escalate);
    put_int32(w, 2, (int32_t)m->reason);
    put_double(w, 3, m->confidence);
    put_string(w, 4, m->message);
    put_enums(w, 5, (const int *)m->active_reasons, m->n_active_reasons);
    put_double(w, 6, m->dissatisfaction_threshold);
    put_uint64(w, 7, m->alert_sequence);
    close_message(w, at);
}

static void
put_reason(struct wire *w, const Churn__V1__Reason *m)
{
    uint8_t *at = open_message(w, 9);
    if (m) {
        put_string(w, 1, m->feature);
        put_string(w, 2, m->label);
        put_double(w, 3, m->value);
        put_string(w, 4, m->category);
        put_bool(w, 5, m->missing);
        put_double(w, 6, m->contribution);
        put_int32(w, 7, (int32_t)m->direction);
        put_string(w, 8, m->explanation);
    }
    close_message(w, at);
}

static void
put_source(struct wire *w, const Churn__V1__SourceFreshness *m)
{
    uint8_t *at = open_message(w, 3);
    if (m) {
        put_int32(w, 1, (int32_t)m->source);
        put_uint64(w, 2, (uint64_t)m->last_event_at_ms);
        put_bool(w, 3, m->stale);
    }
    close_message(w, at);
}

static void
put_freshness(struct wire *w, const Churn__V1__Freshness *m)
{
    uint8_t *at = open_message(w, 11);
    put_uint64(w, 1, (uint64_t)m->last_event_at_ms);
    put_enums(w, 2, (const int *)m->stale_sources, m->n_stale_sources);
    for (size_t i = 0; i < m->n_sources; i++)
        put_source(w, m->sources[i]);
    for (size_t i = 0; i < m->n_stale_features; i++) {
        const char *f = m->stale_features[i];
        put_bytes(w, 4, f ? f : "", f ? strlen(f) : 0);
    }
    close_message(w, at);
}

static void
put_score(struct wire *w, const Churn__V1__Score *m)
{
    uint8_t *at = open_message(w, 14);
    put_string(w, 1, m->customer_id);
    put_double(w, 2, m->probability);
    put_int32(w, 3, (int32_t)m->risk_tier);
    put_int32(w, 4, (int32_t)m->value_tier);
    put_double(w, 5, m->priority);
    put_double(w, 6, m->expected_revenue_at_risk);
    put_double(w, 7, m->customer_value);
    put_string(w, 8, m->currency);
    for (size_t i = 0; i < m->n_reasons; i++)
        put_reason(w, m->reasons[i]);
    put_string(w, 10, m->model_version);
    if (m->freshness)
        put_freshness(w, m->freshness);
    put_uint64(w, 12, (uint64_t)m->scored_at_ms);
    put_uint64(w, 13, (uint64_t)m->horizon_ms);
    put_string(w, 16, m->segment);
    put_double(w, 17, m->margin);
    put_bool(w, 18, m->previous_model);
    close_message(w, at);
}

static void
put_action(struct wire *w, const Churn__V1__Action *m)
{
    uint8_t *at = open_message(w, 16);
    put_int32(w, 1, (int32_t)m->kind);
    put_string(w, 2, m->detail);
    put_double(w, 3, m->coupon_value);
    put_string(w, 4, m->currency);
    put_string(w, 5, m->playbook_id);
    close_message(w, at);
}

/* Whether @m carries something this writer leaves to protobuf-c. */
static bool
beyond_wire(const Churn__V1__AnalyzeChatResponse *m)
{
    const Churn__V1__Score *s =
        m->score_result_case == CHURN__V1__ANALYZE_CHAT_RESPONSE__SCORE_RESULT_SCORE ? m->score
                                                                                     : NULL;
    return m->base.n_unknown_fields || (s && (s->previous || s->n_what_moved));
}

size_t
churn__chat_answer_pack(const Churn__V1__AnalyzeChatResponse *m, uint8_t *buf, size_t cap)
{
    if (beyond_wire(m))
        return 0;
    struct wire w = {buf, buf + cap, false};
    put_string(&w, 1, m->conversation_id);
    put_uint64(&w, 2, m->turn_sequence);
    if (m->error)
        put_error(&w, 3, m->error);
    put_bool(&w, 4, m->replayed);
    put_bool(&w, 5, m->counted);
    if (m->sentiment)
        put_sentiment(&w, m->sentiment);
    for (size_t i = 0; i < m->n_evidence; i++)
        put_evidence(&w, m->evidence[i]);
    if (m->flags)
        put_flags(&w, 8, m->flags);
    put_double(&w, 9, m->dissatisfaction);
    put_int32(&w, 10, m->consecutive_negative_turns);
    put_int32(&w, 11, m->customer_turns);
    put_bool(&w, 12, m->churn_intent_seen);
    if (m->escalation)
        put_escalation(&w, m->escalation);
    if (m->score_result_case == CHURN__V1__ANALYZE_CHAT_RESPONSE__SCORE_RESULT_SCORE && m->score)
        put_score(&w, m->score);
    if (m->score_result_case == CHURN__V1__ANALYZE_CHAT_RESPONSE__SCORE_RESULT_SCORE_ERROR &&
        m->score_error)
        put_error(&w, 15, m->score_error);
    if (m->suggested_action)
        put_action(&w, m->suggested_action);
    put_string(&w, 17, m->language);
    put_uint64(&w, 18, (uint64_t)m->analyzed_at_ms);
    return w.full ? 0 : (size_t)(w.p - buf);
}

struct churn_rpc_payload *
churn__chat_answer_payload(const Churn__V1__AnalyzeChatResponse *m)
{
    uint8_t buf[4096]; /* an answer is about 750 bytes; a bigger one goes to protobuf-c */
    size_t n = churn__chat_answer_pack(m, buf, sizeof(buf));
    return n ? churn_rpc_payload_copy(buf, n) : churn_rpc_payload_pack(&m->base);
}
