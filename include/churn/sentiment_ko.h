/*
 * churn/sentiment_ko.h - the Korean morphological reducer of the sentiment analyzer, the
 * reducer the `ko` language entry names where `en` names a Snowball algorithm. A Korean word
 * as written (an eojeol: 배송이, 늦어서, 환불해주세요, 했어요) is reduced to its stem (배송, 늦,
 * 환불, 하) by stripping particles and endings and undoing contractions; lexicon terms are
 * reduced by their own rule (a predicate in its dictionary form loses 다, other words lose a
 * particle at most) so that the two meet. The rules are documented in docs/SENTIMENT.md and
 * at the top of src/sentiment/korean.c. Pure functions, safe from any thread.
 */
#ifndef CHURN_SENTIMENT_KO_H
#define CHURN_SENTIMENT_KO_H

#include <stdbool.h>
#include <stddef.h>

/** The reducer's name in the language table (where `en` names "english"). */
#define CHURN_SENTIMENT_KO_REDUCER "korean"

/**
 * churn_sentiment_ko_stem() - the stem of one word of chat text.
 * @word, @len: one normalized word token (valid UTF-8, NFC); not NUL-terminated.
 * @out, @cap: OUT: the stem, not NUL-terminated; a stem is never longer than its word, so
 *   @cap >= @len always suffices.
 *
 * A word that does not end in a Hangul syllable is copied unchanged, except chat markers of
 * compatibility jamo, which come out in one canonical form (ㅋㅋㅋㅋ → ㅋㅋ, ㅜㅜ → ㅠㅠ, ㅎ →
 * ㅎㅎ, ㅡㅡㅡ → ㅡㅡ). Words of more than 63 code points are copied unchanged. Returns the
 * length written.
 */
size_t churn_sentiment_ko_stem(const char *word, size_t len, char *out, size_t cap);

/**
 * churn_sentiment_ko_lemma() - the stem of one word of a lexicon term: a word ending in 다 is
 * a predicate in its dictionary form and loses 다 and a light verb (늦다 → 늦, 환불하다 →
 * 환불); any other word loses a particle at most (해지 stays 해지, 배송이 → 배송). Same
 * arguments and result as churn_sentiment_ko_stem().
 */
size_t churn_sentiment_ko_lemma(const char *word, size_t len, char *out, size_t cap);

#endif
