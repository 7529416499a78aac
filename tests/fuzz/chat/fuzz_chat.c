/*
 * fuzz_chat.c - libFuzzer target for the AnalyzeChat handler (issue 13): the input is a stream
 * of turns, each a 2-byte big-endian length and that many bytes of wire message (the last one
 * takes what is left), sent in order to one AnalyzeChat stream run in-process
 * (churn_rpc_local_stream_*: the decoding, wire check and handler every call uses, no network)
 * with the real lexicons and no store, then half-closed. Checks what a chatbot client relies
 * on: every turn handled answers exactly once, in order, with its own sequence and conversation
 * (or an error naming a field); a conversation never changes customer; a message that is not a
 * turn ends the stream with a status that says why; the stream ends OK after the half-close.
 * Entry point only: a replay driver or -fsanitize=fuzzer provides main().
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/ident.h"
#include "churn/rpc.h"
#include "churn/sentiment.h"
#include "churn/service.h"
#include "churn_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_TURNS 32

static struct churn_services svc;
static const struct churn_method *chat;

/* The services as churnd has them before a store is attached, with the analyzer loaded. */
static void
init(void)
{
    char err[512];
    if (churn_services_init(&svc, err, sizeof(err)) != CHURN_OK)
        abort();
    const char *dir = getenv("CHURN_LEXICON_DIR");
#ifdef CHURN_SOURCE_ROOT
    if (!dir)
        dir = CHURN_SOURCE_ROOT "/lexicons";
#endif
    if (!dir || churn_sentiment_open(dir, "auto", NULL, &svc.sentiment, err, sizeof(err)))
        abort();
    for (size_t i = 0; i < svc.n_methods; i++)
        if (strcmp(svc.methods[i].name, "/churn.v1.ChatService/AnalyzeChat") == 0)
            chat = &svc.methods[i];
    if (!chat)
        abort();
}

/* Conversations seen answered in this stream, and their customers. */
struct owners {
    char conv[MAX_TURNS][CHURN_ID_MAX + 1];
    char cust[MAX_TURNS][CHURN_ID_MAX + 1];
    size_t n;
};

/* An accepted turn of @conv for @cust: the conversation's customer never changes. */
static void
check_owner(struct owners *o, const char *conv, const char *cust, bool ends)
{
    size_t i = 0;
    while (i < o->n && strcmp(o->conv[i], conv) != 0)
        i++;
    if (i < o->n && strcmp(o->cust[i], cust) != 0)
        __builtin_trap(); /* one customer's turn reached another's conversation */
    if (i == o->n && o->n < MAX_TURNS && strlen(conv) <= CHURN_ID_MAX &&
        strlen(cust) <= CHURN_ID_MAX) {
        strcpy(o->conv[o->n], conv);
        strcpy(o->cust[o->n++], cust);
    }
    if (ends && i < o->n) { /* closed: the id may start a new conversation */
        o->n--;
        memmove(o->conv[i], o->conv[o->n], sizeof(o->conv[i]));
        memmove(o->cust[i], o->cust[o->n], sizeof(o->cust[i]));
    }
}

/* The one answer to @req (decoded by us as the handler saw it) must be its own. */
static void
check_answer(const Churn__V1__AnalyzeChatRequest *req, const uint8_t *data, size_t len,
             struct owners *o)
{
    Churn__V1__AnalyzeChatResponse *r = churn__v1__analyze_chat_response__unpack(NULL, len, data);
    if (!r || r->turn_sequence != req->turn_sequence)
        __builtin_trap();
    if (r->conversation_id[0] && strcmp(r->conversation_id, req->conversation_id) != 0)
        __builtin_trap();
    if (r->error) {
        if (!r->error->code || !r->error->message[0])
            __builtin_trap();
    } else {
        if (!r->conversation_id[0] || !isfinite(r->dissatisfaction) || r->customer_turns < 0)
            __builtin_trap();
        if (r->sentiment && !(r->sentiment->compound >= -1 && r->sentiment->compound <= 1))
            __builtin_trap();
        if (!r->replayed)
            check_owner(o, req->conversation_id, req->customer_id, req->ends_conversation);
    }
    churn__v1__analyze_chat_response__free_unpacked(r, NULL);
}

/* Send one turn; false once the stream has ended. */
static bool
send_turn(struct churn_rpc *rpc, const uint8_t *data, size_t len, struct owners *o)
{
    enum churn_err err = churn_rpc_local_stream_send(rpc, data, len);
    uint8_t *out = NULL;
    size_t out_len = 0, answers = 0;
    Churn__V1__AnalyzeChatRequest *req = churn__v1__analyze_chat_request__unpack(NULL, len, data);
    while (churn_rpc_local_stream_take(rpc, &out, &out_len)) {
        if (!req || ++answers > 1)
            __builtin_trap(); /* an answer to no turn, or two to one */
        check_answer(req, out, out_len, o);
        churn_free(out);
    }
    if (req)
        churn__v1__analyze_chat_request__free_unpacked(req, NULL);
    if (err == CHURN_OK && answers != 1)
        __builtin_trap(); /* a handled turn answers at once (no store: nothing to wait for) */
    if (err == CHURN_OK)
        return true;
    enum churn_err status;
    char msg[1100];
    if (err == CHURN_EAGAIN || !churn_rpc_local_stream_status(rpc, &status, msg, sizeof(msg)) ||
        status != err || !msg[0] || (!req && err != CHURN_EINVAL && err != CHURN_ETOOBIG))
        __builtin_trap(); /* an ended stream says why; bytes that are no turn are INVALID */
    return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!chat)
        init();
    struct churn_rpc *rpc;
    char msg[512];
    if (churn_rpc_local_stream_open(chat, &rpc, msg, sizeof(msg)) != CHURN_OK)
        abort();
    struct owners o = {.n = 0};
    bool open = true;
    for (int turn = 0; turn < MAX_TURNS && open && size >= 2; turn++) {
        size_t len = (size_t)data[0] << 8 | data[1];
        data += 2;
        size -= 2;
        if (len > size)
            len = size;
        open = send_turn(rpc, data, len, &o);
        data += len;
        size -= len;
    }
    if (open) {
        churn_rpc_local_stream_half_close(rpc);
        enum churn_err status;
        if (!churn_rpc_local_stream_status(rpc, &status, msg, sizeof(msg)) || status != CHURN_OK)
            __builtin_trap(); /* every answer was out: the stream ends OK */
    }
    churn_rpc_local_stream_close(rpc);
    return 0;
}
