/*
 * churn/sentiment.h - the lexicon sentiment analyzer: UTF-8 tokenizer, lexicon loader and
 * compiler, and the VADER-class rule engine that turns one chat turn into a compound score,
 * positive/negative/neutral proportions, evidence (which words and phrases moved the score,
 * with byte offsets into the caller's text) and the churn-intent / human-request /
 * hard-trigger flags that drive escalation.
 *
 * An analyzer (struct churn_sentiment) is one language: a set of lexicon files plus a
 * stemmer (a Snowball algorithm, or for Korean our reducer, churn/sentiment_ko.h), or "auto":
 * every language, one picked per text by script. It is immutable once opened and may be shared by
 * any number of threads without locks; each thread lazily gets its own stemmer and memo of recent
 * words (352 KiB), owned by the analyzer and released by churn_sentiment_close(). Analysis
 * allocates only from the caller's arena, never per token from the heap. The lexicon file
 * format is described in docs/SENTIMENT.md and in the header comment of every file under
 * lexicons/.
 */
#ifndef CHURN_SENTIMENT_H
#define CHURN_SENTIMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/arena.h"
#include "churn/error.h"

/* Default and hard limits. */
#define CHURN_SENTIMENT_MAX_TEXT_DEFAULT (64 * 1024)   /* bytes of one text to analyze */
#define CHURN_SENTIMENT_MAX_TEXT_LIMIT   (1024 * 1024) /* the option cannot go above this */
#define CHURN_SENTIMENT_MAX_PHRASE_WORDS 8             /* words in one lexicon phrase */
#define CHURN_SENTIMENT_MAX_LINE         1024          /* bytes in one lexicon line */
#define CHURN_SENTIMENT_MAX_LEXICON_FILE (8 * 1024 * 1024)
#define CHURN_SENTIMENT_MAX_ENTRIES      (256 * 1024) /* entries over all files */

/* ---------------------------------------------------------------------------------------- */
/* Tokenizer                                                                                  */
/* ---------------------------------------------------------------------------------------- */

enum churn_sentiment_token_kind {
    CHURN_TOK_WORD,     /* letters (and digits, inner apostrophes and hyphens) */
    CHURN_TOK_NUMBER,   /* 42, 3.5, 1,000, 20% */
    CHURN_TOK_MONEY,    /* $20, 20€, £9.99 */
    CHURN_TOK_EMOTICON, /* :( :-) </3 :D */
    CHURN_TOK_EMOJI,    /* one pictograph with its modifiers and ZWJ sequence */
    CHURN_TOK_URL,      /* http://, https://, www. */
    CHURN_TOK_EMAIL,    /* local@domain.tld */
    CHURN_TOK_PUNCT,    /* a punctuation run: "!!!", "?!", "...", or one other mark */
};

/* Token flags. */
#define CHURN_TOK_F_ALLCAPS     0x01 /* at least two cased letters, none lower case */
#define CHURN_TOK_F_ELONGATED   0x02 /* a letter repeated 3+ times was squeezed ("soooo") */
#define CHURN_TOK_F_CONTRACTION 0x04 /* contains an apostrophe ("don't", "I'm") */

#define CHURN_TOK_NO_ELONG 0xffff

/**
 * struct churn_sentiment_token - one token of a text.
 * @start, @end: byte offsets [start, end) into the text that was tokenized.
 * @norm, @norm_len: the normalized form (case folded, curly apostrophes made straight,
 *   zero-width characters dropped, letter runs of 3+ squeezed to one letter) at
 *   tokens->norm + @norm; not NUL-terminated.
 * @elong_at: offset in the normalized form of the first squeezed letter, or
 *   CHURN_TOK_NO_ELONG (the analyzer also tries that letter doubled: "goood" -> "good").
 */
struct churn_sentiment_token {
    uint32_t start;
    uint32_t end;
    uint32_t norm;
    uint32_t norm_len;
    uint16_t elong_at;
    uint8_t kind;  /* enum churn_sentiment_token_kind */
    uint8_t flags; /* CHURN_TOK_F_* */
};

/** struct churn_sentiment_tokens - the tokens of one text, all memory in the scratch arena. */
struct churn_sentiment_tokens {
    struct churn_sentiment_token *tok;
    size_t n;
    const char *norm; /* the normalized forms, back to back */
};

/**
 * churn_sentiment_tokenize() - split @text (@len bytes, need not be NUL-terminated, may
 * contain NUL bytes which separate tokens) into tokens.
 * @scratch: arena the token array and normalized forms are allocated from; they stay valid
 *   until the arena is reset. Two or three allocations per call, none per token.
 * @out: OUT: the tokens; untouched on error.
 * @errbuf, @errlen: on error a precise message ("invalid UTF-8 at byte 17"); may be NULL.
 *
 * Linear in @len. Returns 0, CHURN_EINVAL for invalid UTF-8 (overlong forms, surrogates,
 * truncated sequences, code points above U+10FFFF), CHURN_ETOOBIG when @len is above
 * CHURN_SENTIMENT_MAX_TEXT_LIMIT, or CHURN_ENOMEM when the arena is exhausted.
 */
enum churn_err churn_sentiment_tokenize(const char *text, size_t len, struct churn_arena *scratch,
                                        struct churn_sentiment_tokens *out, char *errbuf,
                                        size_t errlen);

/** churn_sentiment_token_kind_name() - "word", "emoji", ...; never NULL. */
const char *churn_sentiment_token_kind_name(enum churn_sentiment_token_kind kind);

/* ---------------------------------------------------------------------------------------- */
/* Analyzer                                                                                   */
/* ---------------------------------------------------------------------------------------- */

struct churn_sentiment;

/** enum churn_sentiment_lexicon_format - how a lexicon source is written. */
enum churn_sentiment_lexicon_format {
    CHURN_LEX_FORMAT_CHURN, /* ours: term<TAB>value[<TAB>flags], '#' comments */
    CHURN_LEX_FORMAT_VADER, /* vader_lexicon.txt: term<TAB>mean<TAB>stddev<TAB>ratings */
};

/**
 * struct churn_sentiment_source - one lexicon held in memory.
 * @name: used in error messages ("support.lex:17: ..."); borrowed for the call only.
 * @data, @len: the file contents; borrowed for the call only.
 */
struct churn_sentiment_source {
    const char *name;
    const char *data;
    size_t len;
    enum churn_sentiment_lexicon_format format;
};

/** struct churn_sentiment_options - analyzer settings; a zeroed struct means defaults. */
struct churn_sentiment_options {
    size_t max_text_bytes; /* 0: CHURN_SENTIMENT_MAX_TEXT_DEFAULT; at most ..._LIMIT */
};

/**
 * churn_sentiment_open() - load the lexicons of @language from @lexicon_dir and compile them.
 * @lexicon_dir: the lexicons/ directory (holding en/ and vendor/).
 * @language: a language code ("en", "ko"), or "auto" or "" for an analyzer that opens every
 *   language and analyzes each text in the language churn_sentiment_detect() picks (the
 *   result says which); an unknown code is CHURN_EINVAL with a message that lists the
 *   supported codes ("unsupported language 'xx' (supported: en, ko, auto)").
 * @opts: may be NULL for defaults.
 * @out: OUT: the analyzer, owned by the caller, released with churn_sentiment_close().
 * @errbuf, @errlen: on error a precise message, e.g. "en/support.lex:17: valence 'abc' is
 *   not a number", or, when the vendored VADER lexicon is missing, a message telling to run
 *   tools/setup; may be NULL.
 *
 * Returns 0, CHURN_EINVAL (unknown language, malformed lexicon, bad option), CHURN_EIO
 * (missing or unreadable file), CHURN_ETOOBIG (file or entry count over a limit) or
 * CHURN_ENOMEM.
 */
enum churn_err churn_sentiment_open(const char *lexicon_dir, const char *language,
                                    const struct churn_sentiment_options *opts,
                                    struct churn_sentiment **out, char *errbuf, size_t errlen);

/**
 * churn_sentiment_open_sources() - compile an analyzer from lexicons held in memory (the
 * same rules as churn_sentiment_open(); used by tests, the fuzzer and embedders).
 * @sources, @n: lexicons in precedence order: a term defined in a later source overrides
 *   the valence of an earlier one and adds its flags; a term twice in one source is an error.
 * @language: the code reported by churn_sentiment_language(); copied.
 * @snowball: a libstemmer algorithm name ("english"), or NULL for no stemming.
 * Everything is borrowed for the duration of the call only.
 */
enum churn_err churn_sentiment_open_sources(const struct churn_sentiment_source *sources, size_t n,
                                            const char *language, const char *snowball,
                                            const struct churn_sentiment_options *opts,
                                            struct churn_sentiment **out, char *errbuf,
                                            size_t errlen);

/**
 * churn_sentiment_close() - release @s and every per-thread stemmer it created. No thread may
 * be inside churn_sentiment_analyze() on @s. NULL is a no-op.
 */
void churn_sentiment_close(struct churn_sentiment *s);

/** churn_sentiment_language() - the language code of @s; valid until close. */
const char *churn_sentiment_language(const struct churn_sentiment *s);

/** churn_sentiment_entry_count() - distinct lexicon terms and phrases compiled into @s. */
size_t churn_sentiment_entry_count(const struct churn_sentiment *s);

/**
 * churn_sentiment_supported_languages() - the codes churn_sentiment_open() takes, comma
 * separated ("en, ko, auto"); static.
 */
const char *churn_sentiment_supported_languages(void);

/**
 * churn_sentiment_detect() - the language of @text (@len bytes) by script: "ko" when its
 * Hangul syllables and jamo, each counted twice (a syllable carries about as much as two
 * Latin letters), are at least as many as its Latin letters, else "en"; text that is not
 * valid UTF-8 is judged by what comes before its first invalid byte. Linear, no allocation;
 * a static string.
 */
const char *churn_sentiment_detect(const char *text, size_t len);

/**
 * churn_sentiment_select() - the analyzer of @s for @language: @s itself for its own code, ""
 * or "auto"; for an "auto" analyzer, the one of that language. NULL for a code @s does not
 * hold. Valid as long as @s.
 */
const struct churn_sentiment *churn_sentiment_select(const struct churn_sentiment *s,
                                                     const char *language);

/** enum churn_sentiment_evidence_kind - what matched. */
enum churn_sentiment_evidence_kind {
    CHURN_EVIDENCE_WORD,     /* one word */
    CHURN_EVIDENCE_PHRASE,   /* a multiword lexicon phrase or idiom */
    CHURN_EVIDENCE_EMOTICON, /* :( */
    CHURN_EVIDENCE_EMOJI,
};

/* Evidence flags: what the term is and which rules changed it. */
#define CHURN_EVIDENCE_F_CHURN_INTENT      0x0001
#define CHURN_EVIDENCE_F_HUMAN_REQUEST     0x0002
#define CHURN_EVIDENCE_F_HARD_TRIGGER      0x0004
#define CHURN_EVIDENCE_F_NEGATED           0x0008 /* a negator in the window flipped it */
#define CHURN_EVIDENCE_F_BOOSTED           0x0010 /* a booster raised its magnitude */
#define CHURN_EVIDENCE_F_DAMPENED          0x0020 /* a dampener lowered its magnitude */
#define CHURN_EVIDENCE_F_CAPS              0x0040 /* ALL-CAPS emphasis */
#define CHURN_EVIDENCE_F_ELONGATED         0x0080 /* elongation emphasis ("sooo bad") */
#define CHURN_EVIDENCE_F_BEFORE_CONTRAST   0x0100 /* before "but": weight lowered */
#define CHURN_EVIDENCE_F_AFTER_CONTRAST    0x0200 /* after "but": weight raised */
#define CHURN_EVIDENCE_F_STEM              0x0400 /* matched through its Snowball stem */
#define CHURN_EVIDENCE_F_INTENT_SUPPRESSED 0x0800 /* intent flag negated ("won't cancel") */
#define CHURN_EVIDENCE_F_HEDGED            0x1000 /* churn intent said tentatively */

/**
 * struct churn_sentiment_evidence - one term or phrase that contributed.
 * @start, @end: byte offsets [start, end) into the analyzed text.
 * @term, @term_len: the lexicon key that matched (owned by the analyzer, valid until close).
 * @valence: the lexicon valence; @contribution: its value after every rule (the summands of
 *   the raw score before punctuation emphasis and normalization).
 */
struct churn_sentiment_evidence {
    uint32_t start;
    uint32_t end;
    const char *term;
    uint32_t term_len;
    uint16_t kind;  /* enum churn_sentiment_evidence_kind */
    uint16_t flags; /* CHURN_EVIDENCE_F_* */
    float valence;
    float contribution;
};

/**
 * struct churn_sentiment_result - the analysis of one text.
 * @compound: normalized score in [-1, 1]; >= 0.05 reads positive, <= -0.05 negative.
 * @positive, @negative, @neutral: proportions of the text, summing to 1 (all 0 when the
 *   text has no words).
 * @evidence: in the scratch arena, valid until it is reset; @n_evidence entries in text
 *   order.
 */
struct churn_sentiment_result {
    double compound;
    double positive;
    double negative;
    double neutral;
    bool churn_intent;
    bool human_requested;
    bool hard_trigger;
    size_t n_tokens;
    size_t n_evidence;
    struct churn_sentiment_evidence *evidence;
    const char *language;     /* the code of the language analyzed with ("en", "ko"); static */
    double intent_confidence; /* 1: churn intent said outright, 0.6: only hedged ("thinking
                               * about switching"), 0: none */
};

/**
 * churn_sentiment_analyze() - score one text (a chat turn).
 * @s: the analyzer; shared, never modified.
 * @text, @len: UTF-8; need not be NUL-terminated. Empty or whitespace-only text is a valid,
 *   neutral result with no evidence.
 * @scratch: the caller's arena (one per call or per thread); the result points into it.
 * @out: OUT: the result; untouched on error.
 * @errbuf, @errlen: a precise message on error; may be NULL.
 *
 * Returns 0, CHURN_EINVAL (invalid UTF-8, with its byte offset in the message),
 * CHURN_ETOOBIG (text longer than the analyzer's max_text_bytes) or CHURN_ENOMEM (arena
 * limit, or the first call on a thread could not create its stemmer).
 */
enum churn_err churn_sentiment_analyze(const struct churn_sentiment *s, const char *text,
                                       size_t len, struct churn_arena *scratch,
                                       struct churn_sentiment_result *out, char *errbuf,
                                       size_t errlen);

/** churn_sentiment_evidence_kind_name() - "word", "phrase", "emoticon", "emoji". */
const char *churn_sentiment_evidence_kind_name(enum churn_sentiment_evidence_kind kind);

#endif
