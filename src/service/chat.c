/*
 * chat.c - churn.v1.ChatService: AnalyzeText (one text, unary) and AnalyzeChat (a bidi
 * stream of conversation turns; one assessment per turn, in order, with the escalation
 * decided in the same response). Customer turns are scored by the lexicon analyzer, fed to
 * the conversation tracker (the customer's churn score lowers the escalation threshold for
 * high-risk and high-value customers; a conversation keeps its customer's score and reuses
 * it while the stored record is unchanged), and the tracker's state is kept in the store so a
 * conversation survives a reconnect or a restart. Each answer is sent only once the state it
 * reports (and an escalation's alert) is durable, through the stream's outbox
 * (chat_outbox.c) and the saver's group commit; a turn whose state cannot be queued changes
 * nothing. The turn's chat signal reaches the customer's record through the group-commit
 * writer, so the model's chat features see it.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/log.h"
#include "churn/score.h"
#include "churn/score_index.h"
#include "churn/sentiment.h"
#include "churn/sentiment_tracker.h"
#include "churn/service.h"
#include "churn/service_metrics.h"
#include "churn/store.h"
#include "churn_proto.h"
#include "service_internal.h"

#define CHAT_MAX_CONVERSATIONS 1000 /* open conversations per stream */
#define CHAT_MAX_EVIDENCE      64
#define CHAT_STATE_MAX         256 /* encoded tracker state */
#define CHAT_RECORD_HEAD       17  /* last sequence, SEEN_MARK, the seen window */
#define CHAT_RECORD_MAX        (CHAT_RECORD_HEAD + CHAT_STATE_MAX)
#define SEEN_MARK                                                                                  \
    0xff                     /* after the sequence: a seen window follows (a tracker               \
                              * state starts with its version, 1 or 2) */
#define SEEN_WINDOW       64 /* turns below the last whose processing is remembered */
#define TURN_SEQUENCE_MAX INT64_MAX

/* ---- shared: analysis → protobuf ---------------------------------------------------------- */

/* The analyzer for a request's language: "" or "auto" picks per text (by script). */
static const struct churn_sentiment *
analyzer_for(struct churn_rpc *rpc, const char *language)
{
    struct churn_services *svc = churn_rpc_service(rpc);
    return churn_sentiment_select(svc->sentiment, language);
}

/* The language @an analyzes @text in: its own, or for "auto" the one detected. */
static const char *
language_of(const struct churn_sentiment *an, const char *text)
{
    const char *l = churn_sentiment_language(an);
    return strcmp(l, "auto") == 0 ? churn_sentiment_detect(text, strlen(text)) : l;
}

static enum churn_err
language_error(struct churn_rpc *rpc, const char *language)
{
    struct churn_services *svc = churn_rpc_service(rpc);
    if (!svc->sentiment)
        return churn_rpc_error(rpc, CHURN_EUNAVAIL, "the sentiment analyzer is not loaded");
    return churn_rpc_error(rpc, CHURN_EINVAL, "language: '%.32s' is not supported (supported: %s)",
                           language, churn_sentiment_supported_languages());
}

static Churn__V1__EvidenceKind
evidence_kind(uint16_t kind)
{
    switch (kind) {
    case CHURN_EVIDENCE_PHRASE:
        return CHURN__V1__EVIDENCE_KIND__EVIDENCE_KIND_PHRASE;
    case CHURN_EVIDENCE_EMOTICON:
        return CHURN__V1__EVIDENCE_KIND__EVIDENCE_KIND_EMOTICON;
    case CHURN_EVIDENCE_EMOJI:
        return CHURN__V1__EVIDENCE_KIND__EVIDENCE_KIND_EMOJI;
    default:
        return CHURN__V1__EVIDENCE_KIND__EVIDENCE_KIND_WORD;
    }
}

static Churn__V1__ChatFlags *
flags_to_proto(bool intent, bool human, bool hard, struct churn_arena *a)
{
    Churn__V1__ChatFlags *f = churn_arena_alloc(a, sizeof(*f));
    if (f) {
        churn__v1__chat_flags__init(f);
        f->churn_intent = intent;
        f->human_requested = human;
        f->hard_trigger = hard;
    }
    return f;
}

/* Fill sentiment, evidence and flags of an analysis into the three out fields. */
static enum churn_err
analysis_to_proto(const struct churn_sentiment_result *r, struct churn_arena *a,
                  Churn__V1__Sentiment **sentiment, size_t *n_evidence,
                  Churn__V1__Evidence ***evidence, Churn__V1__ChatFlags **flags)
{
    Churn__V1__Sentiment *s = churn_arena_alloc(a, sizeof(*s));
    size_t n = r->n_evidence < CHAT_MAX_EVIDENCE ? r->n_evidence : CHAT_MAX_EVIDENCE;
    Churn__V1__Evidence *ev = churn_arena_alloc(a, (n + 1) * sizeof(*ev));
    Churn__V1__Evidence **list = churn_arena_alloc(a, (n + 1) * sizeof(*list));
    Churn__V1__EvidenceModifiers *mods = churn_arena_alloc(a, (n + 1) * sizeof(*mods));
    if (!s || !ev || !list || !mods)
        return CHURN_ENOMEM;
    churn__v1__sentiment__init(s);
    s->compound = r->compound;
    s->positive = r->positive;
    s->negative = r->negative;
    s->neutral = r->neutral;
    for (size_t i = 0; i < n; i++) {
        const struct churn_sentiment_evidence *e = &r->evidence[i];
        churn__v1__evidence__init(&ev[i]);
        churn__v1__evidence_modifiers__init(&mods[i]);
        ev[i].term = churn_arena_strndup(a, e->term, e->term_len);
        ev[i].kind = evidence_kind(e->kind);
        ev[i].byte_start = e->start;
        ev[i].byte_end = e->end;
        ev[i].valence = e->valence;
        ev[i].contribution = e->contribution;
        mods[i].negated = e->flags & CHURN_EVIDENCE_F_NEGATED;
        mods[i].all_caps = e->flags & CHURN_EVIDENCE_F_CAPS;
        mods[i].elongated = e->flags & CHURN_EVIDENCE_F_ELONGATED;
        mods[i].stem_match = e->flags & CHURN_EVIDENCE_F_STEM;
        mods[i].contrast_weight = e->flags & CHURN_EVIDENCE_F_BEFORE_CONTRAST  ? 0.5
                                  : e->flags & CHURN_EVIDENCE_F_AFTER_CONTRAST ? 1.5
                                                                               : 1.0;
        ev[i].modifiers = &mods[i];
        ev[i].flags = flags_to_proto(e->flags & CHURN_EVIDENCE_F_CHURN_INTENT,
                                     e->flags & CHURN_EVIDENCE_F_HUMAN_REQUEST,
                                     e->flags & CHURN_EVIDENCE_F_HARD_TRIGGER, a);
        if (!ev[i].term || !ev[i].flags)
            return CHURN_ENOMEM;
        list[i] = &ev[i];
    }
    *sentiment = s;
    *n_evidence = n;
    *evidence = list;
    *flags = flags_to_proto(r->churn_intent, r->human_requested, r->hard_trigger, a);
    return *flags ? CHURN_OK : CHURN_ENOMEM;
}

/* Map an analyzer error to the status the API promises. */
static enum churn_err
analyze_error(struct churn_rpc *rpc, enum churn_err e, const char *msg)
{
    if (e == CHURN_ETOOBIG)
        return churn_rpc_error(rpc, CHURN_ETOOBIG, "text: %s", msg);
    if (e == CHURN_ENOMEM)
        return churn_rpc_error(rpc, CHURN_ETOOBIG, "text: too complex to analyze (%s)", msg);
    return churn_rpc_error(rpc, e, "text: %s", msg);
}

/* ---- AnalyzeText ------------------------------------------------------------------------- */

static enum churn_err
analyze_text(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__AnalyzeTextRequest *req = (const void *)msg;
    const struct churn_sentiment *an = analyzer_for(rpc, req->language);
    if (!an)
        return language_error(rpc, req->language);
    struct churn_arena *a = churn_rpc_arena(rpc);
    struct churn_sentiment_result r;
    char err[256];
    enum churn_err e =
        churn_sentiment_analyze(an, req->text, strlen(req->text), a, &r, err, sizeof(err));
    if (e)
        return analyze_error(rpc, e, err);
    Churn__V1__AnalyzeTextResponse *resp = churn_arena_alloc(a, sizeof(*resp));
    if (!resp)
        return CHURN_ENOMEM;
    churn__v1__analyze_text_response__init(resp);
    resp->language = (char *)language_of(an, req->text);
    if (analysis_to_proto(&r, a, &resp->sentiment, &resp->n_evidence, &resp->evidence,
                          &resp->flags) != CHURN_OK)
        return churn_rpc_error(rpc, CHURN_ETOOBIG, "response too large");
    *out = &resp->base;
    return CHURN_OK;
}

/* ---- AnalyzeChat ------------------------------------------------------------------------- */

struct conversation {
    char id[CHURN_ID_MAX + 1];
    char customer_id[CHURN_ID_MAX + 1];
    uint64_t last_sequence;
    uint64_t seen; /* bit i: turn last_sequence - i was processed */
    struct churn_chat_state state;
    /* the chat signal last sent to the customer's record (in memory: a reconnect sends one
     * again at its first customer turn) */
    bool signalled;
    int32_t signalled_day;
    double signalled_dissatisfaction;
    /* the customer's last score, reused while the record is unchanged (NULL: none yet, or
     * reuse is off) */
    struct churn_score_memo *score_memo;
};

/* A customer turn's signal is written to the record only when the record would change: the
 * first turn, a new day, an escalation or churn intent (counted), or a dissatisfaction at least
 * SIGNAL_STEP above the one last written (the record keeps the day's highest). Neutral turns
 * of a calm conversation then cost no disk write and no rescore. */
#define SIGNAL_STEP 0.05

static bool
signal_worth_writing(const struct conversation *c, int64_t at_ms, double dissatisfaction,
                     bool escalated, bool intent)
{
    return !c->signalled || escalated || intent || churn_day_of_ms(at_ms) != c->signalled_day ||
           dissatisfaction >= c->signalled_dissatisfaction + SIGNAL_STEP;
}

struct chat_stream {
    struct conversation *convs; /* open conversations of this stream, linear: few per stream */
    size_t n, cap;
    struct churn__chat_outbox *ob; /* the answers, sent once durable */
};

static Churn__V1__EscalationReason
reason_to_proto(enum churn_chat_reason r)
{
    switch (r) {
    case CHURN_CHAT_REASON_HARD_TRIGGER:
        return CHURN__V1__ESCALATION_REASON__ESCALATION_REASON_HARD_TRIGGER;
    case CHURN_CHAT_REASON_CHURN_INTENT:
        return CHURN__V1__ESCALATION_REASON__ESCALATION_REASON_CHURN_INTENT;
    case CHURN_CHAT_REASON_HUMAN_REQUESTED:
        return CHURN__V1__ESCALATION_REASON__ESCALATION_REASON_HUMAN_REQUESTED;
    case CHURN_CHAT_REASON_DISSATISFACTION:
        return CHURN__V1__ESCALATION_REASON__ESCALATION_REASON_DISSATISFACTION;
    default:
        return CHURN__V1__ESCALATION_REASON__ESCALATION_REASON_UNSPECIFIED;
    }
}

static void
put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t
get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The stored record of a conversation: the last turn sequence and which of the SEEN_WINDOW
 * turns below it were processed (so a replay is recognised after a restart, and a turn that
 * never was is not taken for one), then the tracker state. */
static enum churn_err
encode_record(uint64_t last_sequence, uint64_t seen, const struct churn_chat_state *st,
              uint8_t *rec, size_t cap, size_t *len)
{
    if (cap < CHAT_RECORD_HEAD)
        return CHURN_ETOOBIG;
    put_u64(rec, last_sequence);
    rec[8] = SEEN_MARK;
    put_u64(rec + 9, seen);
    enum churn_err err =
        churn_chat_state_encode(st, rec + CHAT_RECORD_HEAD, cap - CHAT_RECORD_HEAD, len);
    if (!err)
        *len += CHAT_RECORD_HEAD;
    return err;
}

/* Decode a stored record into @c; false when it does not decode (the conversation starts
 * afresh). A record written before the seen window counts every turn below its last as
 * processed, as that build did. */
static bool
decode_record(const uint8_t *d, size_t len, struct conversation *c)
{
    if (len <= 8)
        return false;
    uint64_t seen = UINT64_MAX;
    size_t head = 8;
    if (d[8] == SEEN_MARK) {
        if (len <= CHAT_RECORD_HEAD)
            return false;
        seen = get_u64(d + 9);
        head = CHAT_RECORD_HEAD;
    }
    struct churn_chat_state st;
    if (churn_chat_state_decode(d + head, len - head, &st) != CHURN_OK)
        return false;
    c->state = st;
    c->last_sequence = get_u64(d);
    c->seen = seen;
    return true;
}

/* The seen window once turn @seq (above the last) is processed. */
static uint64_t
seen_after(const struct conversation *c, uint64_t seq)
{
    uint64_t shift = seq - c->last_sequence;
    return (shift >= SEEN_WINDOW ? 0 : c->seen << shift) | 1u;
}

/* The stream's conversation @id, loaded from the store or new. NULL: too many open. */
static struct conversation *
open_conversation(struct churn_services *svc, struct chat_stream *cs, const char *id,
                  const char *customer_id, struct churn_arena *scratch)
{
    for (size_t i = 0; i < cs->n; i++)
        if (strcmp(cs->convs[i].id, id) == 0)
            return &cs->convs[i];
    if (cs->n == CHAT_MAX_CONVERSATIONS)
        return NULL;
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 4;
        struct conversation *c = churn_realloc(cs->convs, cap * sizeof(*c));
        if (!c)
            return NULL;
        cs->convs = c;
        cs->cap = cap;
    }
    struct conversation *c = &cs->convs[cs->n++];
    memset(c, 0, sizeof(*c));
    snprintf(c->id, sizeof(c->id), "%s", id);
    snprintf(c->customer_id, sizeof(c->customer_id), "%s", customer_id);
    churn_chat_state_init(&c->state);
    void *data = NULL;
    size_t len = 0;
    unsigned char pending[CHAT_RECORD_MAX];
    bool found =
        churn__chat_saver_lookup(svc->chat_saver, customer_id, id, pending, sizeof(pending), &len);
    if (found)
        data = pending;
    else
        found = svc->store && churn_store_get_conversation(svc->store, customer_id, id, scratch,
                                                           &data, &len) == CHURN_OK;
    if (found)
        decode_record(data, len, c);
    return c;
}

static void
close_conversation(struct chat_stream *cs, struct conversation *c)
{
    size_t i = (size_t)(c - cs->convs);
    churn_free(c->score_memo);
    cs->convs[i] = cs->convs[--cs->n];
}

static enum churn_err
chat_start(struct churn_rpc *rpc, const ProtobufCMessage *unused)
{
    struct churn_services *svc = churn_rpc_service(rpc);
    struct chat_stream *cs = churn_arena_zalloc(churn_rpc_arena(rpc), sizeof(*cs));
    if (!cs || churn__chat_outbox_open(rpc, svc->chat_saver, &cs->ob) != CHURN_OK)
        return CHURN_ENOMEM;
    *churn_rpc_state(rpc) = cs;
    return CHURN_OK;
}

/* A refused turn: an assessment carrying only the error, after the answers before it; the
 * stream goes on. */
static enum churn_err
turn_error(struct churn_rpc *rpc, const Churn__V1__AnalyzeChatRequest *req, enum churn_err e,
           const char *field, const char *msg)
{
    struct chat_stream *cs = *churn_rpc_state(rpc);
    Churn__V1__AnalyzeChatResponse resp = CHURN__V1__ANALYZE_CHAT_RESPONSE__INIT;
    Churn__V1__ErrorDetail d = CHURN__V1__ERROR_DETAIL__INIT;
    d.code = churn_rpc_status_code(e);
    d.message = (char *)msg;
    d.field = (char *)field;
    resp.conversation_id = req->conversation_id;
    resp.turn_sequence = req->turn_sequence;
    resp.error = &d;
    resp.analyzed_at_ms = churn_now_ms();
    return churn__chat_outbox_answer(cs->ob, &resp.base, req->turn_sequence, 0);
}

/* The turn's chat signal for the customer's record: built before the turn is scored (the
 * score sees it applied), committed with the turn's conversation state by the saver (one
 * transaction for a group of turns), with the score, which is stored beside the record. */
struct chat_signal {
    struct churn__chat_signal w; /* first: the saver's view */
    struct churn_services *svc;
    char event_id[CHURN_ID_MAX + 24];
    char customer_id[CHURN_ID_MAX + 1];
    struct churn_score score; /* the customer's score with the signal applied (w.score) */
};

/* The end of a signal's commit (churn__chat_signal.done): frees it. */
static void
chat_signal_done(struct churn__chat_signal *w, enum churn_err err)
{
    struct chat_signal *sig = (struct chat_signal *)w;
    /* the turn changed the customer's chat features: rescore (tier and jump alerts) with the
     * score the turn already computed from the record as the signal left it */
    if (err == CHURN_OK && w->result.status == CHURN_EVENT_ACCEPTED) {
        const char *id = sig->customer_id;
        if (!w->score || !churn__alerts_rescore_scored(sig->svc->alerts, w->score))
            churn__alerts_rescore(sig->svc->alerts, &id, 1);
    }
    churn_free(sig);
}

/* The ingestion writer's completion of a signal sent without a saver (no store to group in). */
static void
chat_signal_written(void *user, enum churn_err err, const struct churn_event_result *r, size_t n)
{
    (void)r;
    struct chat_signal *sig = user;
    chat_signal_done(&sig->w, err == CHURN_OK && n == 1 ? CHURN_OK : CHURN_EIO);
}

/* The chat signal of turn @seq of @c at @at_ms (NULL: no writer, or out of memory). */
static struct chat_signal *
chat_signal_new(struct churn_services *svc, const struct conversation *c, uint64_t seq,
                int64_t at_ms, double dissatisfaction, bool escalated, bool intent)
{
    if (!svc->writer)
        return NULL;
    struct chat_signal *sig = churn_malloc(sizeof(*sig));
    if (!sig)
        return NULL;
    memset(sig, 0, offsetof(struct chat_signal, score)); /* the score is set when computed */
    snprintf(sig->event_id, sizeof(sig->event_id), "chat:%.100s:%llu", c->id,
             (unsigned long long)seq);
    snprintf(sig->customer_id, sizeof(sig->customer_id), "%s", c->customer_id);
    sig->svc = svc;
    sig->w.done = chat_signal_done;
    sig->w.event.kind = CHURN_EVENT_CHAT;
    sig->w.event.event_id = sig->event_id;
    sig->w.event.customer_id = sig->customer_id;
    sig->w.event.occurred_at_ms = at_ms;
    sig->w.event.chat.dissatisfaction = dissatisfaction;
    sig->w.event.chat.escalated = escalated;
    sig->w.event.chat.churn_intent = intent;
    return sig;
}

/* Without a saver (no store to group in), the signal goes through the ingestion writer. */
static void
chat_signal_submit(struct churn_services *svc, struct chat_signal *sig)
{
    if (churn_store_writer_submit(svc->writer, &sig->w.event, 1, &sig->w.result,
                                  chat_signal_written, sig) != CHURN_OK)
        churn_free(sig);
}

/* What an accepted turn makes of its conversation (applied once its answer is queued). */
struct turn_outcome {
    struct churn_chat_state state;
    uint64_t sequence, seen;
};

/* The alert cause of an escalating decision. */
static enum churn_alert_cause
escalation_cause(const struct churn_chat_decision *d)
{
    return d->reason == CHURN_CHAT_REASON_CHURN_INTENT ? CHURN_CAUSE_CHURN_INTENT
                                                       : CHURN_CAUSE_CHAT_ESCALATION;
}

#define ANSWER_REASONS 3 /* the reasons a turn's answer shows */

/* What a customer turn asks of its customer's score: every reason an alert keeps (words only
 * for those the answer shows: alerts keep names, values and contributions), the contributions
 * a rescore compares, and a new one each turn when reuse is off. */
static struct churn_score_request
turn_request(const struct churn_services *svc)
{
    return (struct churn_score_request){.max_reasons = CHURN_ALERT_MAX_REASONS,
                                        .explain = true,
                                        .explained = ANSWER_REASONS,
                                        .contributions = true,
                                        .fresh = svc->chat_score_reuse_ms == 0};
}

/* The customer's score of the stored record into @out, through the conversation's memo
 * (reused while the record's bytes are unchanged). */
static enum churn_err
memo_score(struct churn_services *svc, struct conversation *c, const char *customer_id,
           struct churn_score *out, char *msg, size_t msglen)
{
    if (!c->score_memo && svc->chat_score_reuse_ms > 0) {
        c->score_memo = churn_calloc(1, sizeof(*c->score_memo)); /* NULL: score anyway */
        if (c->score_memo)
            c->score_memo->reuse_ms = svc->chat_score_reuse_ms;
    }
    struct churn_score_request req = turn_request(svc);
    return churn_scorer_score(svc->scoring, NULL, customer_id, &req, c->score_memo, out, msg,
                              msglen);
}

/* The customer's current score as the tracker's hint: the index's (kept by the last score,
 * no model evaluation); else (a customer the index does not list: churned, or never scored
 * since start-up) the conversation's memo while the record is unchanged, which is returned (in
 * @a) for the turn to answer with when it writes no signal; else scored now, bare. NULL: no
 * score to reuse. */
static struct churn_score *
turn_hint(struct churn_services *svc, struct conversation *c, const char *customer_id,
          struct churn_arena *a, struct churn_chat_customer_hint *hint)
{
    struct churn_score_index_item it;
    if (svc->scores && churn_score_index_get(svc->scores, customer_id, &it)) {
        hint->churn_probability = it.probability;
        hint->high_value = it.value_tier == CHURN_TIER_HIGH;
        return NULL;
    }
    struct churn_score *sc = churn_arena_alloc(a, sizeof(*sc));
    struct churn_score_request req = turn_request(svc);
    req.memo_only = true;
    char msg[300];
    bool reused = sc && c->score_memo &&
                  churn_scorer_score(svc->scoring, NULL, customer_id, &req, c->score_memo, sc, msg,
                                     sizeof(msg)) == CHURN_OK;
    struct churn_score_request bare = {0};
    if (reused || (sc && churn_scorer_score(svc->scoring, NULL, customer_id, &bare, NULL, sc, msg,
                                            sizeof(msg)) == CHURN_OK)) {
        hint->churn_probability = sc->probability;
        hint->high_value = sc->value_tier == CHURN_TIER_HIGH;
    }
    return reused ? sc : NULL;
}

/* Score @customer_id once for the turn, with @sig (NULL: none) applied first, into @resp's
 * score (or its score error); @hinted is the stored record's score the hint took (NULL: none),
 * the answer's when the turn has no signal to apply. Returns the score (in @a), NULL on error. */
static struct churn_score *
turn_score(struct churn_services *svc, struct conversation *c, const char *customer_id,
           struct chat_signal *sig, struct churn_score *hinted, struct churn_arena *a,
           Churn__V1__AnalyzeChatResponse *resp, Churn__V1__ErrorDetail *err, char *msg,
           size_t msglen)
{
    struct churn_score_request req = turn_request(svc);
    struct churn_score *ds = sig || !hinted ? churn_arena_alloc(a, sizeof(*ds)) : hinted;
    enum churn_err e = ds ? CHURN_EINVAL : CHURN_ETOOBIG; /* EINVAL: no signal applied */
    snprintf(msg, msglen, "response too large");
    if (ds && sig)
        e = churn_scorer_score_after(svc->scoring, customer_id, &sig->w.event, &req, ds, msg,
                                     msglen);
    bool previewed = sig && e == CHURN_OK; /* stored with the signal's commit */
    if (e == CHURN_EINVAL && hinted) {     /* no signal, or one the store will refuse */
        ds = hinted;
        e = CHURN_OK;
    } else if (e == CHURN_EINVAL) {
        e = memo_score(svc, c, customer_id, ds, msg, msglen);
    }
    if (e == CHURN_OK) {
        size_t n = ds->n_reasons;
        ds->n_reasons = n < ANSWER_REASONS ? n : ANSWER_REASONS;
        resp->score = churn__score_to_proto(ds, a);
        ds->n_reasons = n;
        if (!resp->score) {
            e = CHURN_ETOOBIG;
            snprintf(msg, msglen, "response too large");
        }
    }
    if (e) {
        err->code = churn_rpc_status_code(e);
        err->message = msg;
        resp->score_result_case = CHURN__V1__ANALYZE_CHAT_RESPONSE__SCORE_RESULT_SCORE_ERROR;
        resp->score_error = err;
        return NULL;
    }
    resp->score_result_case = CHURN__V1__ANALYZE_CHAT_RESPONSE__SCORE_RESULT_SCORE;
    if (sig) {
        churn_score_copy(&sig->score, ds);
        if (!previewed)
            sig->score.base_digest = 0; /* not a score of the record the signal leaves */
        sig->w.score = &sig->score;
    }
    return ds;
}

/* The escalating turn's suggested action: the playbook's for the alert it raises (as that
 * alert gets it), else a hand-off to a person (no playbook, or the customer is held out: a
 * customer asking in a live chat is never left alone). NULL when @a is full. */
static Churn__V1__Action *
turn_action(struct churn_services *svc, const char *customer_id, const struct churn_score *ds,
            const struct churn_chat_decision *d, struct churn_arena *a)
{
    Churn__V1__Action *act = churn_arena_alloc(a, sizeof(*act));
    if (!act)
        return NULL;
    churn__v1__action__init(act);
    struct churn_alert_action pa;
    char playbook[CHURN_ALERT_NAME_MAX];
    if (churn__alerts_suggest(svc->alerts, ds ? ds->risk_tier : CHURN_TIER_UNSPECIFIED,
                              ds ? ds->value_tier : CHURN_TIER_UNSPECIFIED, escalation_cause(d),
                              customer_id, &pa, playbook, sizeof(playbook)) &&
        pa.kind != CHURN_ACTION_NONE) {
        act->kind = (Churn__V1__ActionKind)pa.kind;
        act->detail = churn_arena_strdup(a, pa.detail);
        act->coupon_value = pa.coupon_value;
        act->playbook_id = churn_arena_strdup(a, playbook);
        return act->detail && act->playbook_id ? act : NULL;
    }
    act->kind = CHURN__V1__ACTION_KIND__ACTION_KIND_HUMAN_HANDOFF;
    act->detail = (char *)"transfer the chat to a retention specialist";
    return act;
}

/*
 * Queue the answer of an accepted turn behind the durable commit of what it reports: the
 * conversation's new state (@next) through the saver, with the turn's signal *@sigp (NULL:
 * none; set to NULL once the saver or the escalation's job owns it), and for an escalation
 * first its alert. CHURN_EAGAIN: the state could not be queued, the turn was answered with
 * the error and changes nothing.
 */
static enum churn_err
queue_durable_answer(struct churn_rpc *rpc, const struct conversation *c,
                     const Churn__V1__AnalyzeChatRequest *req, const ProtobufCMessage *resp,
                     const struct turn_outcome *next, const struct churn_chat_decision *d,
                     const struct churn_score *score, struct chat_signal **sigp)
{
    struct churn_services *svc = churn_rpc_service(rpc);
    struct chat_stream *cs = *churn_rpc_state(rpc);
    uint8_t rec[CHAT_RECORD_MAX];
    size_t len = 0;
    if (encode_record(next->sequence, next->seen, &next->state, rec, sizeof(rec), &len) != CHURN_OK)
        return churn_rpc_error(rpc, CHURN_EINTERNAL, "conversation state does not encode");
    churn_service_metrics_chat_turn(svc->metrics, (int)req->role, d->escalate ? (int)d->reason : 0);
    if (d->escalate && svc->alerts) {
        churn_log(CHURN_LOG_INFO, "chat_escalation", CHURN_LF_STR("conversation", c->id),
                  CHURN_LF_STR("customer_id", c->customer_id),
                  CHURN_LF_STR("reason", churn_chat_reason_name(d->reason)),
                  CHURN_LF_DBL("confidence", d->confidence));
        struct churn__chat_escalation esc = {
            .alerts = svc->alerts,
            .customer_id = c->customer_id,
            .conversation_id = c->id,
            .cause = escalation_cause(d),
            .reason = churn_chat_reason_name(d->reason),
            .evidence = req->text,
            .confidence = d->confidence,
            .state = rec,
            .state_len = len,
            .score = score,
            .signal = svc->chat_saver && *sigp ? &(*sigp)->w : NULL,
        };
        if (esc.signal)
            *sigp = NULL; /* the job's now */
        return churn__chat_outbox_escalation(cs->ob, resp, req->turn_sequence, &esc);
    }
    uint64_t ticket = 0;
    if (svc->chat_saver) {
        /* written by the saver's group commit, never with an fsync on this worker thread */
        ticket = churn__chat_saver_put_turn(svc->chat_saver, c->customer_id, c->id, rec, len,
                                            *sigp ? &(*sigp)->w : NULL);
        if (ticket)
            *sigp = NULL; /* the saver's now */
        if (!ticket) {
            enum churn_err e = turn_error(rpc, req, CHURN_EUNAVAIL, "",
                                          "the conversation state queue is full: resend the "
                                          "turn later");
            return e ? e : CHURN_EAGAIN;
        }
    }
    return churn__chat_outbox_answer(cs->ob, resp, req->turn_sequence, ticket);
}

/*
 * The turn's sequence against its conversation: 1..TURN_SEQUENCE_MAX, the top number only on
 * a turn that ends the conversation (issue 13: it would leave no number for a later turn, so
 * every later turn would be refused); above the last turn a new turn; at or below it a replay when
 * that turn was processed (*@replay), else refused (never processed: out of order; or too far back
 * to tell). CHURN_EAGAIN: refused with its per-turn error.
 */
static enum churn_err
check_sequence(struct churn_rpc *rpc, const Churn__V1__AnalyzeChatRequest *req,
               const struct conversation *c, bool *replay)
{
    char msg[200];
    uint64_t seq = req->turn_sequence, last = c->last_sequence;
    const char *why = NULL;
    if (seq == 0 || seq > TURN_SEQUENCE_MAX)
        snprintf(msg, sizeof(msg), "turn_sequence: %llu is out of range (1 to %lld)",
                 (unsigned long long)seq, (long long)TURN_SEQUENCE_MAX);
    else if (seq == TURN_SEQUENCE_MAX && !req->ends_conversation)
        snprintf(msg, sizeof(msg),
                 "turn_sequence: %llu is the top of the range and leaves no number for a later "
                 "turn (allowed only on a turn with ends_conversation)",
                 (unsigned long long)seq);
    else if (seq > last)
        return CHURN_OK;
    else if (last - seq >= SEEN_WINDOW)
        why = "is more than 64 turns behind";
    else if (!(c->seen >> (last - seq) & 1u))
        why = "was never processed and comes after";
    else {
        *replay = true;
        return CHURN_OK;
    }
    if (why)
        snprintf(msg, sizeof(msg),
                 "turn_sequence: %llu %s the conversation's last turn %llu (send turns in "
                 "increasing order)",
                 (unsigned long long)seq, why, (unsigned long long)last);
    enum churn_err e = turn_error(rpc, req, CHURN_EINVAL, "turn_sequence", msg);
    return e ? e : CHURN_EAGAIN;
}

/*
 * A turn the wire check faulted (a NUL byte, invalid UTF-8, an unknown enum: issue 13): its
 * own error, the stream goes on. A string that cannot be echoed is not sent back.
 */
static enum churn_err
turn_fault(struct churn_rpc *rpc, const Churn__V1__AnalyzeChatRequest *req,
           const struct churn_rpc_fault *f)
{
    char msg[256];
    churn_rpc_fault_format(f, NULL, msg, sizeof(msg));
    Churn__V1__AnalyzeChatRequest safe = *req;
    if (f->no_echo)
        safe.conversation_id = "";
    return turn_error(rpc, &safe, f->err, f->field_name, msg);
}

static enum churn_err
chat_turn(struct churn_rpc *rpc, const ProtobufCMessage *msg)
{
    const Churn__V1__AnalyzeChatRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    struct chat_stream *cs = *churn_rpc_state(rpc);
    struct churn_arena *a = churn_rpc_scratch(rpc);
    char reason[256];
    size_t n_faults = 0;
    const struct churn_rpc_fault *faults = churn_rpc_faults(rpc, &n_faults);
    if (n_faults)
        return turn_fault(rpc, req, &faults[0]);

    if (churn_id_validate(req->conversation_id, "conversation_id", reason, sizeof(reason)))
        return turn_error(rpc, req, CHURN_EINVAL, "conversation_id", reason);
    if (churn_id_validate(req->customer_id, "customer_id", reason, sizeof(reason)))
        return turn_error(rpc, req, CHURN_EINVAL, "customer_id", reason);
    enum churn_chat_role role;
    switch (req->role) {
    case CHURN__V1__CHAT_ROLE__CHAT_ROLE_CUSTOMER:
        role = CHURN_CHAT_ROLE_CUSTOMER;
        break;
    case CHURN__V1__CHAT_ROLE__CHAT_ROLE_AGENT:
        role = CHURN_CHAT_ROLE_AGENT;
        break;
    case CHURN__V1__CHAT_ROLE__CHAT_ROLE_BOT:
        role = CHURN_CHAT_ROLE_BOT;
        break;
    default:
        return turn_error(rpc, req, CHURN_EINVAL, "role", "role: must be CUSTOMER, AGENT or BOT");
    }
    const struct churn_sentiment *an = analyzer_for(rpc, req->language);
    if (!an) {
        snprintf(reason, sizeof(reason), "language: '%.32s' is not supported (supported: %s)",
                 req->language, churn_sentiment_supported_languages());
        return turn_error(rpc, req, svc->sentiment ? CHURN_EINVAL : CHURN_EUNAVAIL, "language",
                          reason);
    }
    if (req->sent_at_ms < 0)
        return turn_error(rpc, req, CHURN_EINVAL, "sent_at_ms", "sent_at_ms: negative");
    struct conversation *c = open_conversation(svc, cs, req->conversation_id, req->customer_id, a);
    if (!c)
        return churn_rpc_error(rpc, CHURN_ETOOBIG,
                               "more than %d conversations open in one stream: end some "
                               "(ends_conversation) or use another stream",
                               CHAT_MAX_CONVERSATIONS);
    if (strcmp(c->customer_id, req->customer_id) != 0)
        return turn_error(rpc, req, CHURN_EINVAL, "customer_id",
                          "customer_id: differs from the conversation's customer");

    Churn__V1__AnalyzeChatResponse resp = CHURN__V1__ANALYZE_CHAT_RESPONSE__INIT;
    resp.conversation_id = req->conversation_id;
    resp.turn_sequence = req->turn_sequence;
    resp.language = (char *)language_of(an, req->text);
    int64_t now = req->sent_at_ms ? req->sent_at_ms : churn_now_ms();
    resp.analyzed_at_ms = churn_now_ms();

    bool replay = false;
    enum churn_err se = check_sequence(rpc, req, c, &replay);
    if (se)
        return se == CHURN_EAGAIN ? CHURN_OK : se; /* EAGAIN: refused with its error */
    struct churn_sentiment_result r;
    bool customer = role == CHURN_CHAT_ROLE_CUSTOMER;
    if (customer || replay) {
        char err[200];
        enum churn_err e =
            churn_sentiment_analyze(an, req->text, strlen(req->text), a, &r, err, sizeof(err));
        if (e) {
            snprintf(reason, sizeof(reason), "text: %s", err);
            return turn_error(rpc, req, e == CHURN_ENOMEM ? CHURN_ETOOBIG : e, "text", reason);
        }
        if (analysis_to_proto(&r, a, &resp.sentiment, &resp.n_evidence, &resp.evidence,
                              &resp.flags) != CHURN_OK)
            return churn_rpc_error(rpc, CHURN_ETOOBIG, "response too large");
    }
    if (replay) {
        /* a resent turn: its analysis again (a pure function of the text), the conversation's
         * totals as they are; nothing is counted, scored or escalated a second time */
        resp.replayed = true;
        resp.dissatisfaction = c->state.dissatisfaction;
        resp.consecutive_negative_turns = (int32_t)c->state.consecutive_negative;
        resp.customer_turns = (int32_t)c->state.customer_turns;
        resp.churn_intent_seen = c->state.churn_intent;
        return churn__chat_outbox_answer(cs->ob, &resp.base, req->turn_sequence, 0);
    }

    /* how sensitive the escalation is: the customer's current score, from the index */
    struct churn_chat_customer_hint hint = {.churn_probability = -1};
    struct churn_score *hinted = customer ? turn_hint(svc, c, req->customer_id, a, &hint) : NULL;

    /* the turn's state is a copy until the durable path accepted it: a refused turn changes
     * nothing, so resending it is processed afresh */
    struct turn_outcome next = {c->state, req->turn_sequence, seen_after(c, req->turn_sequence)};
    struct churn_chat_decision d;
    enum churn_err e =
        churn_chat_tracker_update(&next.state, NULL, role, customer ? &r : NULL, &hint, now, &d);
    if (e)
        return turn_error(rpc, req, e, "", "turn could not be tracked");
    resp.counted = customer;
    resp.dissatisfaction = next.state.dissatisfaction;
    resp.consecutive_negative_turns = (int32_t)next.state.consecutive_negative;
    resp.customer_turns = (int32_t)next.state.customer_turns;
    resp.churn_intent_seen = next.state.churn_intent;

    /* the customer's score once, after the turn's signal: the answer, the alert and the
     * rescore all use it */
    struct chat_signal *sig = NULL;
    if (customer &&
        signal_worth_writing(c, now, next.state.dissatisfaction, d.escalate, r.churn_intent))
        sig = chat_signal_new(svc, c, req->turn_sequence, now, next.state.dissatisfaction,
                              d.escalate, r.churn_intent);
    struct churn_score *ds = NULL;
    Churn__V1__ErrorDetail score_err = CHURN__V1__ERROR_DETAIL__INIT;
    char score_msg[300];
    if (customer)
        ds = turn_score(svc, c, req->customer_id, sig, hinted, a, &resp, &score_err, score_msg,
                        sizeof(score_msg));

    Churn__V1__Escalation esc = CHURN__V1__ESCALATION__INIT;
    esc.escalate = d.escalate;
    esc.reason = reason_to_proto(d.reason);
    esc.confidence = d.confidence;
    esc.dissatisfaction_threshold = d.threshold;
    Churn__V1__EscalationReason active[4];
    enum churn_chat_reason reasons[4];
    esc.n_active_reasons = churn_chat_state_reasons(&next.state, reasons); /* in order */
    for (size_t k = 0; k < esc.n_active_reasons; k++)
        active[k] = reason_to_proto(reasons[k]);
    esc.active_reasons = active;
    if (d.escalate) {
        esc.message = churn_arena_printf(a,
                                         "hand this conversation to a person now (%s, "
                                         "confidence %.2f)",
                                         churn_chat_reason_name(d.reason), d.confidence);
        resp.suggested_action = turn_action(svc, req->customer_id, ds, &d, a);
    }
    resp.escalation = &esc;

    bool signalled = sig != NULL;
    e = queue_durable_answer(rpc, c, req, &resp.base, &next, &d, ds, &sig);
    if (e) {
        churn_free(sig);
        return e == CHURN_EAGAIN ? CHURN_OK : e; /* EAGAIN: refused, answered with the error */
    }
    c->state = next.state;
    c->last_sequence = next.sequence;
    c->seen = next.seen;
    if (sig) /* no saver: not grouped */
        chat_signal_submit(svc, sig);
    if (signalled) {
        bool new_day = !c->signalled || churn_day_of_ms(now) != c->signalled_day;
        if (new_day || c->state.dissatisfaction > c->signalled_dissatisfaction)
            c->signalled_dissatisfaction = c->state.dissatisfaction;
        c->signalled = true;
        c->signalled_day = churn_day_of_ms(now);
    }
    if (req->ends_conversation)
        close_conversation(cs, c);
    return CHURN_OK;
}

static enum churn_err
chat_message(struct churn_rpc *rpc, const ProtobufCMessage *msg)
{
    enum churn_err err = chat_turn(rpc, msg);
    struct chat_stream *cs = *churn_rpc_state(rpc);
    if (!err)
        churn__chat_outbox_hold(cs->ob); /* stops reading while an escalation commits */
    return err;
}

static enum churn_err
chat_half_close(struct churn_rpc *rpc, ProtobufCMessage **resp)
{
    (void)resp;
    struct chat_stream *cs = *churn_rpc_state(rpc);
    churn_rpc_defer(rpc); /* the stream ends after the last answer is durable and sent */
    churn__chat_outbox_half_close(cs->ob);
    return CHURN_OK;
}

static void
chat_writable(struct churn_rpc *rpc)
{
    struct chat_stream *cs = *churn_rpc_state(rpc);
    if (cs)
        churn__chat_outbox_writable(cs->ob);
}

static void
chat_done(struct churn_rpc *rpc)
{
    struct chat_stream *cs = *churn_rpc_state(rpc);
    if (!cs)
        return;
    /* every accepted turn's state is queued already (an escalating one by its alert job) */
    for (size_t i = 0; i < cs->n; i++)
        churn_free(cs->convs[i].score_memo);
    churn_free(cs->convs);
    churn__chat_outbox_close(cs->ob);
}

const struct churn_method churn__chat_methods[] = {
    {
        .name = "/churn.v1.ChatService/AnalyzeChat",
        .shape = CHURN_RPC_BIDI_STREAM,
        .request = &churn__v1__analyze_chat_request__descriptor,
        .response = &churn__v1__analyze_chat_response__descriptor,
        .on_start = chat_start,
        .on_message = chat_message,
        .on_half_close = chat_half_close,
        .on_done = chat_done,
        .on_writable = chat_writable,
        .per_item_faults = true, /* a faulty turn gets its own error (turn_fault) */
        .max_request_bytes = 80 * 1024,
        .arena_bytes = 32 * 1024 * 1024, /* a 64 KiB text needs room to be analyzed */
    },
    {
        .name = "/churn.v1.ChatService/AnalyzeText",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__analyze_text_request__descriptor,
        .response = &churn__v1__analyze_text_response__descriptor,
        .unary = analyze_text,
        .max_request_bytes = 80 * 1024,
        .arena_bytes = 32 * 1024 * 1024, /* a 64 KiB text needs room to be analyzed */
    },
};
const size_t churn__n_chat_methods = sizeof(churn__chat_methods) / sizeof(churn__chat_methods[0]);
