/*
 * service/at_risk.c - ListAtRiskCustomers from the engine's score index (issue 12 item 4):
 * customers whose records changed since their last score are rescored first (a listing reads
 * its writes), the page is read from the index in priority order with the request's filter,
 * each listed customer's score is computed for the response (reasons in words only for it),
 * and the page token is the index's cursor: tied to the index's epoch, checksummed with a key
 * of this process, so a token from before a rebuild or altered by hand is refused by name.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/hash.h"
#include "churn/score.h"
#include "churn/score_index.h"
#include "churn/service_metrics.h"
#include "service_internal.h"

#define PAGE_SIZE_DEFAULT 50
#define PAGE_SIZE_LIMIT   1000
#define CHANGED_BATCH     256    /* changed customers rescored per take */
#define CHANGED_MAX       10000u /* more than this waiting: scan the store instead */
#define TOKEN_MAX         (2 * CHURN_SCORE_INDEX_ID_MAX + 128)

/* This process's token key: a token is only good for the index that issued it. */
static uint64_t
token_key(void)
{
    static uint64_t key; /* plain: clang's __atomic builtins refuse an _Atomic operand */
    uint64_t k = __atomic_load_n(&key, __ATOMIC_SEQ_CST);
    if (!k) {
        k = churn_fnv1a64(CHURN_FNV64_OFFSET, &(int64_t){churn_now_ms()}, sizeof(int64_t));
        k = churn_fnv1a64(k, &(void *){&key}, sizeof(void *)) | 1;
        uint64_t zero = 0;
        if (!__atomic_compare_exchange_n(&key, &zero, k, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            k = zero;
    }
    return k;
}

static uint64_t
token_check(const char *body, size_t len)
{
    uint64_t k = token_key();
    return churn_fnv1a64(churn_fnv1a64(CHURN_FNV64_OFFSET, &k, sizeof(k)), body, len);
}

/* @cur as a page token in @a: "i1.<epoch>.<snapshot>.<priority bits>.<probability bits>.<id
 * in hex>.<check>". */
static char *
token_encode(const struct churn_score_cursor *cur, struct churn_arena *a)
{
    char body[TOKEN_MAX], hex[2 * CHURN_SCORE_INDEX_ID_MAX + 1];
    uint64_t pb, qb;
    memcpy(&pb, &cur->priority, sizeof(pb));
    memcpy(&qb, &cur->probability, sizeof(qb));
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)cur->customer_id; *p; p++)
        n += (size_t)snprintf(hex + n, sizeof(hex) - n, "%02x", *p);
    hex[n] = 0;
    int len = snprintf(body, sizeof(body), "i1.%" PRIx64 ".%" PRIx64 ".%" PRIx64 ".%" PRIx64 ".%s",
                       cur->epoch, cur->snapshot, pb, qb, hex);
    return churn_arena_printf(a, "%s.%016" PRIx64, body, token_check(body, (size_t)len));
}

/* The next '.'-separated hex number of @p into *@v; false when it is not one. */
static bool
hex_field(const char **p, uint64_t *v)
{
    char *end;
    if (!**p || **p == '.')
        return false;
    *v = strtoull(*p, &end, 16);
    if (*end != '.')
        return false;
    *p = end + 1;
    return true;
}

/* @token into @cur; false when it is not a token this index issued (or it was altered). */
static bool
token_decode(const char *token, struct churn_score_cursor *cur)
{
    size_t len = strlen(token);
    if (len < 20 || len >= TOKEN_MAX || strncmp(token, "i1.", 3) != 0 || token[len - 17] != '.')
        return false;
    char *end;
    uint64_t check = strtoull(token + len - 16, &end, 16);
    if (*end || check != token_check(token, len - 17))
        return false;
    const char *p = token + 3;
    uint64_t pb, qb;
    if (!hex_field(&p, &cur->epoch) || !hex_field(&p, &cur->snapshot) || !hex_field(&p, &pb) ||
        !hex_field(&p, &qb))
        return false;
    memcpy(&cur->priority, &pb, sizeof(pb));
    memcpy(&cur->probability, &qb, sizeof(qb));
    size_t hex_len = (size_t)(token + len - 17 - p);
    if (hex_len % 2 || hex_len / 2 >= sizeof(cur->customer_id))
        return false;
    for (size_t i = 0; i < hex_len / 2; i++) {
        char byte[3] = {p[2 * i], p[2 * i + 1], 0};
        cur->customer_id[i] = (char)strtoul(byte, &end, 16);
        if (*end)
            return false;
    }
    cur->customer_id[hex_len / 2] = 0;
    cur->started = true;
    cur->order = CHURN_SCORE_BY_PRIORITY;
    return true;
}

/* The request's filter for the index (no risk tiers: MEDIUM and HIGH, scoring.proto). */
static void
filter_of(const Churn__V1__AtRiskFilter *f, struct churn_score_filter *out)
{
    memset(out, 0, sizeof(*out));
    out->risk_mask = 1u << CHURN_TIER_MEDIUM | 1u << CHURN_TIER_HIGH;
    if (!f)
        return;
    if (f->n_risk_tiers)
        out->risk_mask = 0;
    for (size_t i = 0; i < f->n_risk_tiers; i++)
        out->risk_mask |= 1u << f->risk_tiers[i];
    for (size_t i = 0; i < f->n_value_tiers; i++)
        out->value_mask |= 1u << f->value_tiers[i];
    out->min_probability = f->min_probability;
    out->min_priority = f->min_priority;
    out->segments = (const char *const *)f->segments;
    out->n_segments = f->n_segments;
}

/* Rescore the customers whose records changed since their last score (they reach the index
 * on the way). False when too many wait: the caller scans the store instead. */
static bool
rescore_changed(struct churn_services *svc, struct churn_score *scratch)
{
    char(*ids)[CHURN_SCORE_INDEX_ID_MAX] = churn_malloc(CHANGED_BATCH * sizeof(*ids));
    if (!ids)
        return false;
    struct churn_score_request bare = {0};
    bool more = true;
    size_t done = 0;
    while (more && done < CHANGED_MAX) {
        size_t n = churn_score_index_take_changed(svc->scores, ids, CHANGED_BATCH, &more);
        for (size_t i = 0; i < n; i++) {
            char msg[300];
            if (churn_scorer_score(svc->scoring, NULL, ids[i], &bare, NULL, scratch, msg,
                                   sizeof(msg)) == CHURN_ENOTFOUND)
                churn_score_index_remove(svc->scores, ids[i]); /* erased meanwhile */
        }
        done += n;
    }
    churn_free(ids);
    return !more;
}

/* During a rebuild, @it's place in the index comes from a model no longer serving: the stored
 * score it was listed by, marked previous_model, into *@out (NULL: none stored, or not that
 * score; the caller computes a current one). The tiers are the index's (cuts may be newer). */
static void
previous_score(struct churn_services *svc, const struct churn_served *m,
               const struct churn_score_index_item *it, struct churn_score *scratch,
               struct churn_arena *a, Churn__V1__Score **out)
{
    *out = NULL;
    if (it->generation == m->generation ||
        churn_scorer_previous(svc->scoring, m, it->customer_id, scratch) != CHURN_OK ||
        scratch->priority != it->priority || scratch->probability != it->probability)
        return;
    scratch->risk_tier = it->risk_tier;
    scratch->value_tier = it->value_tier;
    if ((*out = churn__score_to_proto(scratch, a)))
        churn_service_metrics_score(svc->metrics, scratch->probability, (int)scratch->risk_tier);
}

/* The scores of the page's customers, for the response (an erased one is left out); a
 * customer still listed by a previous model's score gets that score, marked. */
static enum churn_err
page_scores(struct churn_services *svc, struct churn_served *m,
            const struct churn_score_index_item *items, size_t n, size_t k,
            struct churn_score *scratch, struct churn_arena *a,
            Churn__V1__ListAtRiskCustomersResponse *resp)
{
    resp->scores = churn_arena_alloc(a, (n + 1) * sizeof(*resp->scores));
    if (!resp->scores)
        return CHURN_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        char err[300];
        previous_score(svc, m, &items[i], scratch, a, &resp->scores[resp->n_scores]);
        if (resp->scores[resp->n_scores]) {
            resp->n_scores++;
            continue;
        }
        enum churn_err e =
            churn__score_for_response(svc, m, items[i].customer_id, k, scratch, a,
                                      &resp->scores[resp->n_scores], err, sizeof(err));
        if (e == CHURN_OK)
            resp->n_scores++;
        else if (e != CHURN_ENOTFOUND)
            return e;
    }
    return CHURN_OK;
}

enum churn_err
churn__at_risk_from_index(struct churn_rpc *rpc, const Churn__V1__ListAtRiskCustomersRequest *req,
                          size_t k, ProtobufCMessage **out)
{
    struct churn_services *svc = churn_rpc_service(rpc);
    struct churn_arena *a = churn_rpc_arena(rpc);
    if (!churn_score_builder_complete(svc->score_builder) || !svc->scores)
        return CHURN_EAGAIN;
    /* a listing that began on the scan (before the index was built) goes on there: its
     * tokens are offsets, and the scan also refuses what is neither */
    if (*req->page_token && strncmp(req->page_token, "i1.", 3) != 0)
        return CHURN_EAGAIN;
    struct churn_score_cursor cur = {0};
    if (*req->page_token && !token_decode(req->page_token, &cur))
        return churn_rpc_error(rpc, CHURN_EINVAL,
                               "page_token: '%.64s' is not a token of this listing (altered, or "
                               "from another server or an earlier start): list again without it",
                               req->page_token);
    struct churn_served *m = churn_scorer_acquire(svc->scoring);
    if (!m)
        return CHURN_EAGAIN; /* the scan says there is no model */
    struct churn_score *scratch = churn_arena_alloc(a, sizeof(*scratch));
    size_t page = req->page_size ? (size_t)req->page_size : PAGE_SIZE_DEFAULT;
    if (page > PAGE_SIZE_LIMIT)
        page = PAGE_SIZE_LIMIT; /* larger values are clamped (scoring.proto) */
    struct churn_score_index_item *items = churn_arena_alloc(a, page * sizeof(*items));
    Churn__V1__ListAtRiskCustomersResponse *resp = churn_arena_alloc(a, sizeof(*resp));
    enum churn_err e = CHURN_OK;
    if (!scratch || !items || !resp) {
        e = churn_rpc_error(rpc, CHURN_ETOOBIG, "response too large");
        goto out;
    }
    if (!rescore_changed(svc, scratch)) {
        e = CHURN_EAGAIN;
        goto out;
    }
    churn__v1__list_at_risk_customers_response__init(resp);
    struct churn_score_filter f;
    filter_of(req->filter, &f);
    size_t n = 0;
    bool more = false;
    char msg[300];
    if (churn_score_index_page(svc->scores, &f, CHURN_SCORE_BY_PRIORITY, &cur, page, items, &n,
                               &more, msg, sizeof(msg)) != CHURN_OK) {
        e = churn_rpc_error(rpc, CHURN_EINVAL, "page_token: %s", msg);
        goto out;
    }
    if ((e = page_scores(svc, m, items, n, k, scratch, a, resp))) {
        e = churn_rpc_error(rpc, e, "cannot score the page: %s", churn_strerror(e));
        goto out;
    }
    resp->total_size = (int64_t)churn_score_index_count(svc->scores, &f);
    resp->snapshot_at_ms = churn_now_ms();
    if (more && !(resp->next_page_token = token_encode(&cur, a)))
        e = CHURN_ETOOBIG;
    *out = &resp->base;
out:
    churn_served_release(m);
    return e;
}
