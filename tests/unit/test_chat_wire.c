/*
 * test_chat_wire.c - a chat answer's one-pass writer (src/service/chat_wire.c, session 8)
 * against protobuf-c: answers filled at random from the descriptors (every field of every
 * nested message, so a field the writer forgets, or one added to the proto later, fails here;
 * zero, negative, -0.0, NaN and long values; empty and long strings; oneof cases set and
 * unset) give the bytes protobuf_c_message_pack() gives;
 * an answer that does not fit the buffer is refused without a byte written past it; and what
 * the writer leaves to protobuf-c (a score's history) is refused, not written wrong.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../src/service/service_internal.h" /* churn__chat_answer_pack */
#include "churn_proto.h"

#define POOL_BYTES (4u << 20)
#define MAX_DEPTH  5

/* Everything one random answer points to, freed at once. */
struct pool {
    unsigned char *base;
    size_t used;
    uint64_t rng;
};

static void *
pool_zalloc(struct pool *p, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    cr_assert(p->used + n <= POOL_BYTES, "test pool exhausted");
    void *r = p->base + p->used;
    p->used += n;
    memset(r, 0, n);
    return r;
}

static uint64_t
next(struct pool *p)
{
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return p->rng;
}

static bool
chance(struct pool *p, unsigned percent)
{
    return next(p) % 100 < percent;
}

static uint64_t
any_int(struct pool *p)
{
    static const uint64_t edges[] = {0,
                                     1,
                                     127,
                                     128,
                                     16383,
                                     16384,
                                     UINT32_MAX,
                                     INT32_MAX,
                                     (uint64_t)-1,
                                     (uint64_t)INT32_MIN,
                                     (uint64_t)INT64_MIN};
    return chance(p, 50) ? edges[next(p) % (sizeof(edges) / sizeof(edges[0]))] : next(p);
}

static double
any_double(struct pool *p)
{
    static const double edges[] = {0.0, -0.0, 1.0, -2.5, 0.1, 1e300, -1e-300};
    switch (next(p) % 10) {
    case 0:
        return NAN;
    case 1:
        return INFINITY;
    case 2:
    case 3:
    case 4:
        return edges[next(p) % (sizeof(edges) / sizeof(edges[0]))];
    default:
        return (double)(int64_t)next(p) / 1e6;
    }
}

static char *
any_string(struct pool *p)
{
    static const size_t lengths[] = {0, 1, 5, 40, 127, 128, 300, 5000};
    size_t n = lengths[next(p) % (sizeof(lengths) / sizeof(lengths[0]))];
    char *s = pool_zalloc(p, n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + next(p) % 26);
    return s;
}

static void *fill_message(struct pool *p, const ProtobufCMessageDescriptor *d, int depth);

/* One value of field @f at @at; an element of a repeated field is never NULL (protobuf-c's
 * sizing would not survive it). */
static void
fill_value(struct pool *p, const ProtobufCFieldDescriptor *f, void *at, int depth)
{
    bool may_be_null = f->label != PROTOBUF_C_LABEL_REPEATED;
    uint64_t v = any_int(p);
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        *(uint32_t *)at = (uint32_t)v;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)at = (protobuf_c_boolean)(next(p) % 3); /* 2: true too */
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)at = v;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)at = any_double(p);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *)at = (float)any_double(p);
        break;
    case PROTOBUF_C_TYPE_STRING:
        *(char **)at = may_be_null && chance(p, 5) ? NULL : any_string(p);
        break;
    case PROTOBUF_C_TYPE_MESSAGE:
        *(void **)at = !may_be_null || (depth < MAX_DEPTH && !chance(p, 10))
                           ? fill_message(p, f->descriptor, depth + 1)
                           : NULL;
        break;
    case PROTOBUF_C_TYPE_BYTES:
        break; /* no answer carries bytes */
    }
}

/* The size of one element of repeated field @f: the answer's repeated fields are enums,
 * messages and strings (a repeated field of another type fails here, to be added). */
static size_t
value_size(const ProtobufCFieldDescriptor *f)
{
    if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
        return sizeof(void *);
    cr_assert(f->type == PROTOBUF_C_TYPE_ENUM, "repeated field %s: type %d not handled here",
              f->name, (int)f->type);
    return sizeof(int);
}

/* Whether field @f is a Score's history (previous score, movements): left to protobuf-c. */
static bool
history_field(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
    return d == &churn__v1__score__descriptor && (f->id == 14 || f->id == 15);
}

static void *
fill_message(struct pool *p, const ProtobufCMessageDescriptor *d, int depth)
{
    unsigned char *m = pool_zalloc(p, d->sizeof_message);
    d->message_init((ProtobufCMessage *)m);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (history_field(d, f) || !chance(p, 70))
            continue;
        void *at = m + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = next(p) % 4;
            unsigned char *arr = pool_zalloc(p, n * value_size(f) + 1);
            for (size_t k = 0; k < n; k++)
                fill_value(p, f, arr + k * value_size(f), depth);
            *(size_t *)(m + f->quantifier_offset) = n;
            *(void **)at = arr;
            continue;
        }
        fill_value(p, f, at, depth);
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) /* a later member may take the case */
            *(uint32_t *)(m + f->quantifier_offset) = chance(p, 80) ? f->id : 0;
    }
    return m;
}

static size_t
reference_pack(const ProtobufCMessage *m, uint8_t **out)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    *out = malloc(n ? n : 1);
    cr_assert(*out);
    cr_assert_eq(protobuf_c_message_pack(m, *out), n);
    return n;
}

Test(chat_wire, random_answers_pack_as_protobuf_c_does)
{
    struct pool p = {.base = malloc(POOL_BYTES), .rng = 0x9e3779b97f4a7c15u};
    size_t cap = 1u << 20;
    uint8_t *got = malloc(cap);
    cr_assert(p.base && got);
    size_t written = 0;
    for (int i = 0; i < 20000; i++) {
        p.used = 0;
        const Churn__V1__AnalyzeChatResponse *m =
            fill_message(&p, &churn__v1__analyze_chat_response__descriptor, 0);
        uint8_t *want = NULL;
        size_t n = reference_pack(&m->base, &want);
        size_t k = churn__chat_answer_pack(m, got, cap);
        cr_assert_eq(k, n, "answer %d: %zu bytes, protobuf-c packs %zu", i, k, n);
        cr_assert(memcmp(got, want, n) == 0, "answer %d: bytes differ from protobuf-c's", i);
        written += k;
        free(want);
    }
    cr_assert_gt(written, 20000u * 100, "the answers were not filled");
    free(got);
    free(p.base);
}

Test(chat_wire, an_answer_that_does_not_fit_is_refused_within_the_buffer)
{
    struct pool p = {.base = malloc(POOL_BYTES), .rng = 42};
    cr_assert(p.base);
    enum { GUARD = 64 };
    uint8_t buf[4096 + GUARD];
    for (int i = 0; i < 2000; i++) {
        p.used = 0;
        const Churn__V1__AnalyzeChatResponse *m =
            fill_message(&p, &churn__v1__analyze_chat_response__descriptor, 0);
        size_t n = protobuf_c_message_get_packed_size(&m->base);
        size_t cap = n ? next(&p) % n : 0; /* always short of room */
        memset(buf, 0xa5, sizeof(buf));
        if (cap > 4096)
            cap = 4096;
        cr_assert_eq(churn__chat_answer_pack(m, buf, cap), 0, "answer %d: %zu bytes in %zu", i, n,
                     cap);
        for (size_t g = cap; g < cap + GUARD; g++)
            cr_assert_eq(buf[g], 0xa5, "answer %d: byte %zu written past %zu", i, g, cap);
    }
    free(p.base);
}

Test(chat_wire, a_score_with_history_is_left_to_protobuf_c)
{
    Churn__V1__ScorePoint prev = CHURN__V1__SCORE_POINT__INIT;
    prev.probability = 0.5;
    Churn__V1__Score s = CHURN__V1__SCORE__INIT;
    s.customer_id = "c1";
    s.previous = &prev;
    Churn__V1__AnalyzeChatResponse m = CHURN__V1__ANALYZE_CHAT_RESPONSE__INIT;
    m.conversation_id = "conv";
    m.score_result_case = CHURN__V1__ANALYZE_CHAT_RESPONSE__SCORE_RESULT_SCORE;
    m.score = &s;
    uint8_t buf[512];
    cr_assert_eq(churn__chat_answer_pack(&m, buf, sizeof(buf)), 0);
    /* the payload still carries protobuf-c's bytes */
    struct churn_rpc_payload *pl = churn__chat_answer_payload(&m);
    cr_assert(pl);
    churn_rpc_payload_free(pl);
    s.previous = NULL;
    uint8_t *want = NULL;
    size_t n = reference_pack(&m.base, &want);
    cr_assert_eq(churn__chat_answer_pack(&m, buf, sizeof(buf)), n);
    cr_assert(memcmp(buf, want, n) == 0);
    free(want);
}
