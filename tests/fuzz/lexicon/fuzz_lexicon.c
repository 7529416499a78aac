/*
 * fuzz_lexicon.c - libFuzzer target for the lexicon loader and compiler: any bytes are a
 * lexicon file, read as our format or as VADER's (the first byte chooses). Loading must end
 * in success or a clean error with a message; a loaded analyzer must then analyze a fixed
 * sentence and the input itself without breaking its contracts. Entry point only.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "churn/arena.h"
#include "churn/sentiment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static const char base[] = "not\t-0.74\tnegator\nvery\t0.293\tbooster\nbut\t1.5\tcontrast\n";
    enum churn_sentiment_lexicon_format fmt =
        (data[0] & 1) ? CHURN_LEX_FORMAT_VADER : CHURN_LEX_FORMAT_CHURN;
    struct churn_sentiment_source src[2] = {
        {"fuzz.lex", (const char *)data + 1, size - 1, fmt},
        {"base.lex", base, sizeof(base) - 1, CHURN_LEX_FORMAT_CHURN},
    };
    struct churn_sentiment *s = NULL;
    char err[512];
    err[0] = '\0';
    enum churn_err e = churn_sentiment_open_sources(src, 2, "en", (data[0] & 2) ? NULL : "english",
                                                    NULL, &s, err, sizeof(err));
    if (e != CHURN_OK) {
        if (s || err[0] == '\0')
            abort(); /* an error always says why and leaves no analyzer */
        return 0;
    }
    struct churn_arena arena;
    churn_arena_init(&arena, 64u * 1024 * 1024);
    struct churn_sentiment_result r;
    static const char probe[] = "I am not very happy but still waiting :( to cancel";
    if (churn_sentiment_analyze(s, probe, sizeof(probe) - 1, &arena, &r, err, sizeof(err)) !=
        CHURN_OK)
        abort();
    if (!(r.compound >= -1 && r.compound <= 1))
        abort();
    churn_arena_reset(&arena);
    e = churn_sentiment_analyze(s, (const char *)data + 1, size - 1, &arena, &r, err, sizeof(err));
    if (e == CHURN_OK) {
        if (!(r.compound >= -1 && r.compound <= 1))
            abort();
        for (size_t i = 0; i < r.n_evidence; i++)
            if (r.evidence[i].end > size - 1 || r.evidence[i].start >= r.evidence[i].end)
                abort();
    }
    churn_arena_fini(&arena);
    churn_sentiment_close(s);
    return 0;
}
