/*
 * fuzz_sentiment.c - libFuzzer target for the tokenizer, the analyzer and the conversation
 * tracker: any bytes are chat text. Checks the contracts a caller relies on: no crash, scores
 * in range, evidence inside the text and in order, tokens inside the text, and state bytes
 * that decode (the input itself is also tried as an encoded tracker state) re-encode the same
 * (an older version: to a current one that is stable).
 * The lexicons are the real ones (CHURN_LEXICON_DIR, or CHURN_SOURCE_ROOT/lexicons when
 * built in the tree), opened as "auto" so that Hangul input runs the Korean analyzer
 * (normalization, ICU segmentation, the reducer) and other input the English one; failing
 * both, a small embedded English set covering every kind of entry.
 * Entry point only: a replay driver or -fsanitize=fuzzer provides main().
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "churn/arena.h"
#include "churn/sentiment.h"
#include "churn/sentiment_tracker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char embedded[] = "good\t1.9\nbad\t-2.5\nstill waiting\t-2\n:(\t-1.9\n"
                               "\xf0\x9f\x98\xa1\t-3\ncancel my subscription\t-1.5\tchurn\n"
                               "real person\t0\thuman\nchargeback\t-2\thard\n"
                               "not\t-0.74\tnegator\ncan't\t-0.74\tnegator,modal\n"
                               "very\t0.293\tbooster\nslightly\t0.293\tdampener\n"
                               "but\t1.5\tcontrast\nat least\t0\nleast\t-0.74\tnegator\n";

static struct churn_sentiment *an;
static struct churn_arena arena;

static void
init(void)
{
    struct churn_sentiment_options o = {.max_text_bytes = CHURN_SENTIMENT_MAX_TEXT_LIMIT};
    const char *dir = getenv("CHURN_LEXICON_DIR");
    if (dir && churn_sentiment_open(dir, "auto", &o, &an, NULL, 0) == CHURN_OK)
        goto out;
#ifdef CHURN_SOURCE_ROOT
    if (churn_sentiment_open(CHURN_SOURCE_ROOT "/lexicons", "auto", &o, &an, NULL, 0) == CHURN_OK)
        goto out;
#endif
    struct churn_sentiment_source src = {"embedded.lex", embedded, sizeof(embedded) - 1,
                                         CHURN_LEX_FORMAT_CHURN};
    if (churn_sentiment_open_sources(&src, 1, "en", "english", &o, &an, NULL, 0) != CHURN_OK)
        abort();
out:
    churn_arena_init(&arena, 256u * 1024 * 1024);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!an)
        init();
    const char *text = (const char *)data;
    char err[256];
    churn_arena_reset(&arena);

    struct churn_sentiment_tokens toks;
    if (churn_sentiment_tokenize(text, size, &arena, &toks, err, sizeof(err)) == CHURN_OK) {
        for (size_t i = 0; i < toks.n; i++) {
            const struct churn_sentiment_token *t = &toks.tok[i];
            if (t->start >= t->end || t->end > size || (i && t->start < toks.tok[i - 1].end))
                abort();
            if (t->norm_len > t->end - t->start + 3)
                abort();
        }
    }

    struct churn_sentiment_result r;
    enum churn_err e = churn_sentiment_analyze(an, text, size, &arena, &r, err, sizeof(err));
    if (e == CHURN_OK) {
        if (!(r.compound >= -1.0 && r.compound <= 1.0) || !isfinite(r.positive) ||
            !isfinite(r.negative) || !isfinite(r.neutral))
            abort();
        double sum = r.positive + r.negative + r.neutral;
        if (r.n_tokens && r.n_evidence && fabs(sum - 1.0) > 1e-6)
            abort();
        for (size_t i = 0; i < r.n_evidence; i++) {
            const struct churn_sentiment_evidence *x = &r.evidence[i];
            if (x->start >= x->end || x->end > size || !isfinite(x->contribution))
                abort();
            if (i && x->start < r.evidence[i - 1].end)
                abort();
        }
        struct churn_chat_state st;
        struct churn_chat_decision d;
        churn_chat_state_init(&st);
        for (int k = 0; k < 3; k++) {
            if (churn_chat_tracker_update(&st, NULL, CHURN_CHAT_ROLE_CUSTOMER, &r, NULL,
                                          1700000000000LL + k * 1000, &d) != CHURN_OK)
                abort();
            if (!(st.dissatisfaction >= 0 && st.dissatisfaction <= 1) ||
                !(d.confidence >= 0 && d.confidence <= 1))
                abort();
        }
    } else if (e != CHURN_EINVAL && e != CHURN_ETOOBIG) {
        abort();
    }

    struct churn_chat_state st;
    if (churn_chat_state_decode(data, size, &st) == CHURN_OK) {
        uint8_t again[CHURN_CHAT_STATE_MAX_SIZE];
        size_t n;
        if (churn_chat_state_encode(&st, again, sizeof(again), &n) != CHURN_OK)
            abort();
        if (data[0] == CHURN_CHAT_STATE_VERSION && (n != size || memcmp(again, data, n) != 0))
            abort(); /* the current version is canonical */
        struct churn_chat_state back;
        uint8_t third[CHURN_CHAT_STATE_MAX_SIZE];
        size_t m;
        if (churn_chat_state_decode(again, n, &back) != CHURN_OK ||
            churn_chat_state_encode(&back, third, sizeof(third), &m) != CHURN_OK || m != n ||
            memcmp(third, again, n) != 0)
            abort(); /* an older version re-encodes to a stable current one */
    }
    return 0;
}
