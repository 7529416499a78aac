/*
 * test_sentiment.c - the sentiment module as its users see it: tokens of real chat text,
 * lexicon errors a lexicon author would hit, the analyzer's scores, rules and evidence
 * offsets, the conversation tracker's escalations and hysteresis, the state encoding against
 * hostile bytes, and bad input of every kind. Lexicons are the real files under lexicons/;
 * the general English lexicon must have been installed by tools/setup.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/arena.h"
#include "churn/sentiment.h"
#include "churn/sentiment_json.h"
#include "churn/sentiment_tracker.h"

#define LEXDIR CHURN_SOURCE_ROOT "/lexicons"

static struct churn_sentiment *an;
static struct churn_arena arena;
static char err[512];

static void
setup_analyzer(void)
{
    churn_arena_init(&arena, 64u * 1024 * 1024);
    err[0] = '\0';
    enum churn_err e = churn_sentiment_open(LEXDIR, "en", NULL, &an, err, sizeof(err));
    cr_assert_eq(e, CHURN_OK,
                 "cannot open the English analyzer: %s (the VADER lexicon comes from tools/setup: "
                 "run tools/setup, which runs tools/fetch-lexicons)",
                 err);
}

static void
teardown_analyzer(void)
{
    churn_sentiment_close(an);
    an = NULL;
    churn_arena_fini(&arena);
}

static void
setup_arena(void)
{
    churn_arena_init(&arena, 64u * 1024 * 1024);
}

static void
teardown_arena(void)
{
    churn_arena_fini(&arena);
}

static struct churn_sentiment_result
analyze(const char *text)
{
    struct churn_sentiment_result r;
    churn_arena_reset(&arena);
    enum churn_err e =
        churn_sentiment_analyze(an, text, strlen(text), &arena, &r, err, sizeof(err));
    cr_assert_eq(e, CHURN_OK, "analyze(\"%s\"): %s", text, err);
    return r;
}

static double
compound(const char *text)
{
    return analyze(text).compound;
}

static const struct churn_sentiment_evidence *
find_evidence(const struct churn_sentiment_result *r, const char *term)
{
    for (size_t i = 0; i < r->n_evidence; i++)
        if (r->evidence[i].term_len == strlen(term) &&
            memcmp(r->evidence[i].term, term, r->evidence[i].term_len) == 0)
            return &r->evidence[i];
    return NULL;
}

static struct churn_sentiment_tokens
tokenize(const char *text, size_t len)
{
    struct churn_sentiment_tokens t;
    enum churn_err e = churn_sentiment_tokenize(text, len, &arena, &t, err, sizeof(err));
    cr_assert_eq(e, CHURN_OK, "tokenize: %s", err);
    return t;
}

static bool
norm_is(const struct churn_sentiment_tokens *t, size_t i, const char *want)
{
    return t->tok[i].norm_len == strlen(want) &&
           memcmp(t->norm + t->tok[i].norm, want, t->tok[i].norm_len) == 0;
}

#define ASSERT_TOKEN(t, i, want_norm, want_kind)                                                   \
    do {                                                                                           \
        cr_assert_lt((i), (t).n, "token %d missing", (int)(i));                                    \
        cr_assert(norm_is(&(t), (i), (want_norm)), "token %d is '%.*s', want '%s'", (int)(i),      \
                  (int)(t).tok[i].norm_len, (t).norm + (t).tok[i].norm, (want_norm));              \
        cr_assert_eq((t).tok[i].kind, (want_kind), "token %d '%s' kind %s", (int)(i), (want_norm), \
                     churn_sentiment_token_kind_name((t).tok[i].kind));                            \
    } while (0)

/* ---------------------------------------------------------------------------------------- */
TestSuite(tokenizer, .init = setup_arena, .fini = teardown_arena);

Test(tokenizer, words_fold_case_and_flag_all_caps)
{
    const char *s = "I am SO ANGRY right Now";
    struct churn_sentiment_tokens t = tokenize(s, strlen(s));
    cr_assert_eq(t.n, 6);
    ASSERT_TOKEN(t, 0, "i", CHURN_TOK_WORD);
    ASSERT_TOKEN(t, 2, "so", CHURN_TOK_WORD);
    ASSERT_TOKEN(t, 3, "angry", CHURN_TOK_WORD);
    ASSERT_TOKEN(t, 5, "now", CHURN_TOK_WORD);
    cr_assert_not(t.tok[0].flags & CHURN_TOK_F_ALLCAPS, "a lone 'I' is not shouting");
    cr_assert(t.tok[2].flags & CHURN_TOK_F_ALLCAPS);
    cr_assert(t.tok[3].flags & CHURN_TOK_F_ALLCAPS);
    cr_assert_not(t.tok[5].flags & CHURN_TOK_F_ALLCAPS);
    cr_assert_eq(t.tok[3].start, 8);
    cr_assert_eq(t.tok[3].end, 13);
}

Test(tokenizer, contractions_stay_whole_with_straight_apostrophes)
{
    const char *s = "don't won't I'm can\xe2\x80\x99t";
    struct churn_sentiment_tokens t = tokenize(s, strlen(s));
    cr_assert_eq(t.n, 4);
    ASSERT_TOKEN(t, 0, "don't", CHURN_TOK_WORD);
    ASSERT_TOKEN(t, 1, "won't", CHURN_TOK_WORD);
    ASSERT_TOKEN(t, 2, "i'm", CHURN_TOK_WORD);
    ASSERT_TOKEN(t, 3, "can't", CHURN_TOK_WORD);
    cr_assert(t.tok[3].flags & CHURN_TOK_F_CONTRACTION);
    cr_assert_eq(t.tok[3].end, strlen(s), "the span covers the 3-byte apostrophe");
}

Test(tokenizer, emoticons)
{
    const char *s = "ugh :( fine :-) </3 :D <3 :(((";
    struct churn_sentiment_tokens t = tokenize(s, strlen(s));
    cr_assert_eq(t.n, 8);
    ASSERT_TOKEN(t, 1, ":(", CHURN_TOK_EMOTICON);
    ASSERT_TOKEN(t, 3, ":-)", CHURN_TOK_EMOTICON);
    ASSERT_TOKEN(t, 4, "</3", CHURN_TOK_EMOTICON);
    ASSERT_TOKEN(t, 5, ":d", CHURN_TOK_EMOTICON);
    ASSERT_TOKEN(t, 6, "<3", CHURN_TOK_EMOTICON);
    ASSERT_TOKEN(t, 7, ":(", CHURN_TOK_EMOTICON);
    cr_assert(t.tok[7].flags & CHURN_TOK_F_ELONGATED);
    cr_assert_eq(t.tok[7].end, strlen(s));
}

Test(tokenizer, emoticon_lookalikes_are_not_emoticons)
{
    const char *s = "Note:Data <30 boxD: xDrive";
    struct churn_sentiment_tokens t = tokenize(s, strlen(s));
    for (size_t i = 0; i < t.n; i++)
        cr_assert_neq(t.tok[i].kind, CHURN_TOK_EMOTICON, "token %zu '%.*s' taken for an emoticon",
                      i, (int)t.tok[i].norm_len, t.norm + t.tok[i].norm);
}

Test(tokenizer, emoji_with_modifiers_and_zwj_are_single_tokens)
{
    /* thumbs up + skin tone, family (man ZWJ woman ZWJ girl), flag FR, heart + VS16 */
    const char *s = "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd great "
                    "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 "
                    "\xf0\x9f\x87\xab\xf0\x9f\x87\xb7 \xe2\x9d\xa4\xef\xb8\x8f";
    struct churn_sentiment_tokens t = tokenize(s, strlen(s));
    cr_assert_eq(t.n, 5);
    ASSERT_TOKEN(t, 0, "\xf0\x9f\x91\x8d", CHURN_TOK_EMOJI);
    cr_assert_eq(t.tok[0].end, 8, "the skin tone belongs to the emoji");
    ASSERT_TOKEN(t, 1, "great", CHURN_TOK_WORD);
    ASSERT_TOKEN(t, 2, "\xf0\x9f\x91\xa8", CHURN_TOK_EMOJI);
    cr_assert_eq(t.tok[2].end - t.tok[2].start, 18, "the whole ZWJ family is one token");
    cr_assert_eq(t.tok[3].kind, CHURN_TOK_EMOJI);
    cr_assert_eq(t.tok[3].end - t.tok[3].start, 8, "a flag is one token");
    ASSERT_TOKEN(t, 4, "\xe2\x9d\xa4", CHURN_TOK_EMOJI);
    cr_assert_eq(t.tok[4].end, strlen(s));
}

Test(tokenizer, urls_and_email_addresses_are_single_tokens)
{
    const char *s = "see https://example.com/a?b=1. or mail Help.Desk@example.co.uk! www.x.org";
    struct churn_sentiment_tokens t = tokenize(s, strlen(s));
    cr_assert_eq(t.n, 8);
    ASSERT_TOKEN(t, 1, "https://example.com/a?b=1", CHURN_TOK_URL);
    ASSERT_TOKEN(t, 2, ".", CHURN_TOK_PUNCT);
    ASSERT_TOKEN(t, 5, "help.desk@example.co.uk", CHURN_TOK_EMAIL);
    ASSERT_TOKEN(t, 6, "!", CHURN_TOK_PUNCT);
    ASSERT_TOKEN(t, 7, "www.x.org", CHURN_TOK_URL);
}

Test(tokenizer, punctuation_runs)
{
    const char *s = "why?! no!!! ok... fine\xe2\x80\xa6";
    struct churn_sentiment_tokens t = tokenize(s, strlen(s));
    cr_assert_eq(t.n, 8);
    ASSERT_TOKEN(t, 1, "?!", CHURN_TOK_PUNCT);
    ASSERT_TOKEN(t, 3, "!!!", CHURN_TOK_PUNCT);
    ASSERT_TOKEN(t, 5, "...", CHURN_TOK_PUNCT);
    ASSERT_TOKEN(t, 7, "...", CHURN_TOK_PUNCT);
}

Test(tokenizer, elongation_is_squeezed_and_flagged)
{
    const char *s = "soooo goooood NOOOO good";
    struct churn_sentiment_tokens t = tokenize(s, strlen(s));
    cr_assert_eq(t.n, 4);
    ASSERT_TOKEN(t, 0, "so", CHURN_TOK_WORD);
    cr_assert(t.tok[0].flags & CHURN_TOK_F_ELONGATED);
    cr_assert_eq(t.tok[0].elong_at, 1);
    ASSERT_TOKEN(t, 1, "god", CHURN_TOK_WORD);
    cr_assert_eq(t.tok[1].elong_at, 1, "the analyzer retries 'good' from here");
    ASSERT_TOKEN(t, 2, "no", CHURN_TOK_WORD);
    cr_assert(t.tok[2].flags & CHURN_TOK_F_ALLCAPS);
    ASSERT_TOKEN(t, 3, "good", CHURN_TOK_WORD);
    cr_assert_not(t.tok[3].flags & CHURN_TOK_F_ELONGATED, "a double letter is not elongation");
}

/* Long words are folded eight bytes at a time: the word ends, elongations and case must come
 * out the same wherever they fall against those steps, and at the end of the text. */
Test(tokenizer, long_words_across_eight_byte_steps)
{
    const char *s = "Internationalization INTERNATIONALIZATION abcdefgggh abcdefghhhh "
                    "ABCDEFGh ABCDEFGHi Wednesday's abcdefgh-ij abcdefgh-\xc3\xa9t xxyyzzxxyy "
                    "abcdefg4 abcdefghI";
    struct churn_sentiment_tokens t = tokenize(s, strlen(s));
    cr_assert_eq(t.n, 12);
    ASSERT_TOKEN(t, 0, "internationalization", CHURN_TOK_WORD);
    cr_assert_eq(t.tok[0].flags, 0);
    cr_assert_eq(t.tok[0].end - t.tok[0].start, 20);
    ASSERT_TOKEN(t, 1, "internationalization", CHURN_TOK_WORD);
    cr_assert_eq(t.tok[1].flags, CHURN_TOK_F_ALLCAPS);
    ASSERT_TOKEN(t, 2, "abcdefgh", CHURN_TOK_WORD); /* "ggg" across the first step */
    cr_assert_eq(t.tok[2].flags, CHURN_TOK_F_ELONGATED);
    cr_assert_eq(t.tok[2].elong_at, 6);
    ASSERT_TOKEN(t, 3, "abcdefgh", CHURN_TOK_WORD); /* "hhhh" in the second step */
    cr_assert_eq(t.tok[3].elong_at, 7);
    cr_assert_eq(t.tok[4].flags, 0, "one lower-case letter: not ALL-CAPS");
    cr_assert_eq(t.tok[5].flags, 0, "one lower-case letter after the first step");
    ASSERT_TOKEN(t, 6, "wednesday's", CHURN_TOK_WORD);
    cr_assert_eq(t.tok[6].flags, CHURN_TOK_F_CONTRACTION);
    ASSERT_TOKEN(t, 7, "abcdefgh-ij", CHURN_TOK_WORD);
    ASSERT_TOKEN(t, 8, "abcdefgh-\xc3\xa9t", CHURN_TOK_WORD);
    ASSERT_TOKEN(t, 9, "xxyyzzxxyy", CHURN_TOK_WORD);
    cr_assert_eq(t.tok[9].flags, 0, "double letters are not elongation");
    ASSERT_TOKEN(t, 10, "abcdefg4", CHURN_TOK_WORD);
    ASSERT_TOKEN(t, 11, "abcdefghi", CHURN_TOK_WORD); /* ends the text */
    cr_assert_eq(t.tok[11].end, strlen(s));
}

Test(tokenizer, numbers_and_money)
{
    const char *s = "$20.50 20% 1,000 3rd 20\xe2\x82\xac \xc2\xa3"
                    "9";
    struct churn_sentiment_tokens t = tokenize(s, strlen(s));
    cr_assert_eq(t.n, 6);
    ASSERT_TOKEN(t, 0, "$20.50", CHURN_TOK_MONEY);
    ASSERT_TOKEN(t, 1, "20%", CHURN_TOK_NUMBER);
    ASSERT_TOKEN(t, 2, "1,000", CHURN_TOK_NUMBER);
    ASSERT_TOKEN(t, 3, "3rd", CHURN_TOK_WORD);
    ASSERT_TOKEN(t, 4, "20\xe2\x82\xac", CHURN_TOK_MONEY);
    ASSERT_TOKEN(t, 5,
                 "\xc2\xa3"
                 "9",
                 CHURN_TOK_MONEY);
}

Test(tokenizer, invalid_utf8_is_refused_with_its_offset)
{
    static const struct {
        const char *s;
        size_t len;
        size_t at;
    } bad[] = {
        {"abc\xff", 4, 3},          /* never valid */
        {"x\xc0\xaf", 3, 1},        /* overlong '/' */
        {"ok \xed\xa0\x80", 6, 3},  /* surrogate */
        {"euro \xe2\x82", 7, 5},    /* truncated */
        {"\xf4\x90\x80\x80", 4, 0}, /* above U+10FFFF */
        {"fine \x80 fine", 11, 5},  /* lone continuation */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct churn_sentiment_tokens t = {.n = 12345};
        char want[64];
        enum churn_err e =
            churn_sentiment_tokenize(bad[i].s, bad[i].len, &arena, &t, err, sizeof(err));
        cr_assert_eq(e, CHURN_EINVAL, "case %zu accepted", i);
        snprintf(want, sizeof(want), "invalid UTF-8 at byte %zu", bad[i].at);
        cr_assert_str_eq(err, want);
        cr_assert_eq(t.n, 12345, "out-param untouched on error");
    }
}

Test(tokenizer, nul_controls_and_zero_width_characters)
{
    const char s1[] = "bad\0good";
    struct churn_sentiment_tokens t = tokenize(s1, sizeof(s1) - 1);
    cr_assert_eq(t.n, 2, "a NUL byte separates words");
    ASSERT_TOKEN(t, 1, "good", CHURN_TOK_WORD);

    const char *s2 = "\x01\x02terrible\x07\x1b";
    t = tokenize(s2, strlen(s2));
    cr_assert_eq(t.n, 1);
    ASSERT_TOKEN(t, 0, "terrible", CHURN_TOK_WORD);

    const char *s3 = "can\xe2\x80\x8b"
                     "cel ter\xe2\x80\x8drible";
    t = tokenize(s3, strlen(s3));
    cr_assert_eq(t.n, 2, "zero-width characters do not split words");
    ASSERT_TOKEN(t, 0, "cancel", CHURN_TOK_WORD);
    ASSERT_TOKEN(t, 1, "terrible", CHURN_TOK_WORD);

    const char *s4 = "\xe2\x80\x8d\xef\xbb\xbf\xe2\x80\x8b \t\r\n";
    t = tokenize(s4, strlen(s4));
    cr_assert_eq(t.n, 0);
}

Test(tokenizer, a_10k_character_token_and_long_text)
{
    char *s = malloc(10001);
    for (size_t i = 0; i < 10000; i++)
        s[i] = "abcdefghij"[i % 10];
    s[10000] = '\0';
    struct churn_sentiment_tokens t = tokenize(s, 10000);
    cr_assert_eq(t.n, 1);
    cr_assert_eq(t.tok[0].norm_len, 10000);
    free(s);

    size_t n = 64 * 1024;
    char *p = malloc(n);
    for (size_t i = 0; i < n; i += 2) {
        p[i] = 'a' + (char)(i % 26);
        p[i + 1] = ',';
    }
    t = tokenize(p, n);
    cr_assert_eq(t.n, n, "every letter and comma is a token");
    free(p);
}

Test(tokenizer, arena_limit_is_an_error_not_a_crash)
{
    struct churn_arena small;
    churn_arena_init(&small, 256);
    struct churn_sentiment_tokens t = {.n = 7};
    const char *s = "this text needs more than two hundred and fifty six bytes of scratch memory";
    enum churn_err e = churn_sentiment_tokenize(s, strlen(s), &small, &t, err, sizeof(err));
    cr_assert_eq(e, CHURN_ENOMEM);
    cr_assert_eq(t.n, 7);
    churn_arena_fini(&small);
}

/* ---------------------------------------------------------------------------------------- */
TestSuite(lexicon, .init = setup_arena, .fini = teardown_arena);

static enum churn_err
load_one(const char *name, const char *data, size_t len, enum churn_sentiment_lexicon_format fmt,
         struct churn_sentiment **out)
{
    struct churn_sentiment_source src = {.name = name, .data = data, .len = len, .format = fmt};
    err[0] = '\0';
    return churn_sentiment_open_sources(&src, 1, "en", "english", NULL, out, err, sizeof(err));
}

static void
expect_error(const char *data, size_t len, enum churn_err want, const char *msg)
{
    struct churn_sentiment *s = (struct churn_sentiment *)0x1;
    enum churn_err e = load_one("support.lex", data, len, CHURN_LEX_FORMAT_CHURN, &s);
    cr_assert_eq(e, want, "got %s (%s), want %s", churn_err_name(e), err, churn_err_name(want));
    cr_assert(strstr(err, msg), "message '%s' lacks '%s'", err, msg);
    cr_assert_eq(s, (struct churn_sentiment *)0x1, "out-param untouched on error");
}

#define EXPECT_ERROR(data, want, msg) expect_error((data), sizeof(data) - 1, (want), (msg))

Test(lexicon, errors_name_the_file_and_line)
{
    EXPECT_ERROR("# comment\n\ngood\t1.5\nnice\tabc\n", CHURN_EINVAL,
                 "support.lex:4: valence 'abc' is not a number");
    EXPECT_ERROR("good\n", CHURN_EINVAL, "support.lex:1: expected 'term<TAB>value[<TAB>flags]'");
    EXPECT_ERROR("good\t9\n", CHURN_EINVAL, "support.lex:1: valence 9 is out of range [-4, 4]");
    EXPECT_ERROR("good\tnan\n", CHURN_EINVAL, "support.lex:1: valence 'nan' is not a number");
    EXPECT_ERROR("good\t1\tshiny\n", CHURN_EINVAL, "support.lex:1: unknown flag 'shiny'");
    EXPECT_ERROR("very\t5\tbooster\n", CHURN_EINVAL, "booster amount 5 is out of range");
    EXPECT_ERROR("not\t-0.7\tnegator,booster\n", CHURN_EINVAL, "at most one of");
    EXPECT_ERROR("x\t1\tmodal\n", CHURN_EINVAL, "flag 'modal' needs 'negator'");
    EXPECT_ERROR("maybe leaving\t-1\thedged\n", CHURN_EINVAL, "flag 'hedged' needs 'churn'");
    EXPECT_ERROR("keep using\t1\tstay,churn\n", CHURN_EINVAL,
                 "flag 'stay' goes with no intent or modifier flag");
    EXPECT_ERROR("keep\t1\tstay,booster\n", CHURN_EINVAL, "flag 'stay' goes with no intent");
    EXPECT_ERROR("a\t1\t\tb\n", CHURN_EINVAL, "more than 3 tab-separated fields");
    EXPECT_ERROR("what?\t1\n", CHURN_EINVAL, "contains '?'");
    EXPECT_ERROR("one two three four five six seven eight nine\t-1\n", CHURN_EINVAL,
                 "phrase of 9 words is longer than 8");
    EXPECT_ERROR(" \t1\n", CHURN_EINVAL, "support.lex:1: expected");
}

Test(lexicon, truncated_lines)
{
    EXPECT_ERROR("good\t1\nstill waiting\t-", CHURN_EINVAL,
                 "support.lex:2: valence '-' is not a number");
    EXPECT_ERROR("good\t1\nstill waiting", CHURN_EINVAL, "support.lex:2: expected");
    EXPECT_ERROR("good\t1\nstill waiting\t", CHURN_EINVAL, "support.lex:2: valence '' is not");
}

Test(lexicon, duplicates_in_one_file_are_errors)
{
    EXPECT_ERROR("good\t1\nbad\t-1\nGood\t2\n", CHURN_EINVAL,
                 "support.lex:3: duplicate entry 'good' (first on line 1)");
    EXPECT_ERROR("still waiting\t-2\nSTILL  waiting\t-2\n", CHURN_EINVAL,
                 "duplicate entry 'still waiting'");
}

Test(lexicon, oversized_line_and_file)
{
    char line[2100];
    memset(line, 'a', 2000);
    memcpy(line + 2000, "\t1\n", 4);
    expect_error(line, strlen(line), CHURN_EINVAL,
                 "support.lex:1: line of 2002 bytes is longer than 1024");

    size_t big = CHURN_SENTIMENT_MAX_LEXICON_FILE + 1;
    char *p = malloc(big);
    memset(p, '#', big);
    expect_error(p, big, CHURN_ETOOBIG, "over the limit");
    free(p);
}

Test(lexicon, bad_utf8_and_nul_bytes)
{
    EXPECT_ERROR("good\t1\ngo\xffod\t1\n", CHURN_EINVAL,
                 "support.lex:2: invalid UTF-8 at column 3");
    expect_error("good\t1\nba\0d\t-1\n", 14, CHURN_EINVAL, "support.lex:2: NUL byte");
}

Test(lexicon, vader_format_layering_and_stems)
{
    static const char vader[] = "ok\t1.6\t0.6\t[1, 2]\nok\t1.2\t0.5\t[1, 1]\n"
                                "%-)\t-1.5\t1.4\t[-2]\ndisappoint\t-1.7\t0.6\t[-2]\n"
                                "care\t2.2\t0.9\t[2]\nspoil\t-1.5\t0.5\t[-2]\n"
                                "good\t1.9\t0.9\t[2]\n";
    static const char ours[] = "# ours\ngood\t0.5\nspoiled\t1.0\n";
    struct churn_sentiment_source src[] = {
        {"vader_lexicon.txt", vader, sizeof(vader) - 1, CHURN_LEX_FORMAT_VADER},
        {"ours.lex", ours, sizeof(ours) - 1, CHURN_LEX_FORMAT_CHURN},
    };
    struct churn_sentiment *s;
    enum churn_err e =
        churn_sentiment_open_sources(src, 2, "en", "english", NULL, &s, err, sizeof(err));
    cr_assert_eq(e, CHURN_OK, "%s", err);
    cr_assert_eq(churn_sentiment_entry_count(s), 6, "the '%%-)' line is skipped, 'ok' kept once");
    /* entries: ok, disappoint, care, spoil, good, spoiled */

    struct churn_sentiment_result r;
    const char *t1 = "ok";
    cr_assert_eq(churn_sentiment_analyze(s, t1, 2, &arena, &r, err, sizeof(err)), CHURN_OK);
    cr_assert_float_eq(r.evidence[0].valence, 1.6, 1e-6, "VADER duplicates keep the first");

    const char *t2 = "good";
    cr_assert_eq(churn_sentiment_analyze(s, t2, 4, &arena, &r, err, sizeof(err)), CHURN_OK);
    cr_assert_float_eq(r.evidence[0].valence, 0.5, 1e-6, "a later file overrides");

    const char *t3 = "it disappoints me";
    cr_assert_eq(churn_sentiment_analyze(s, t3, strlen(t3), &arena, &r, err, sizeof(err)),
                 CHURN_OK);
    cr_assert_eq(r.n_evidence, 1, "inflections match through the stem");
    cr_assert(r.evidence[0].flags & CHURN_EVIDENCE_F_STEM);

    /* spoil (-) and spoiled (+) share the stem "spoil": different meanings are not merged */
    const char *t4 = "it spoils";
    cr_assert_eq(churn_sentiment_analyze(s, t4, strlen(t4), &arena, &r, err, sizeof(err)),
                 CHURN_OK);
    cr_assert_eq(r.n_evidence, 0, "an ambiguous stem matches nothing");
    const char *t5 = "spoil";
    cr_assert_eq(churn_sentiment_analyze(s, t5, 5, &arena, &r, err, sizeof(err)), CHURN_OK);
    cr_assert_eq(r.n_evidence, 1, "the surface form still matches");
    /* a derivation never borrows its base word's valence: "careless" is not "care" */
    const char *t6 = "she cares, he is careless";
    cr_assert_eq(churn_sentiment_analyze(s, t6, strlen(t6), &arena, &r, err, sizeof(err)),
                 CHURN_OK);
    cr_assert_eq(r.n_evidence, 1, "only 'cares' (an inflection of 'care') matches");
    cr_assert_eq(r.evidence[0].start, 4);
    churn_sentiment_close(s);
}

Test(lexicon, unknown_language_lists_the_supported_ones)
{
    struct churn_sentiment *s = NULL;
    enum churn_err e = churn_sentiment_open(LEXDIR, "xx", NULL, &s, err, sizeof(err));
    cr_assert_eq(e, CHURN_EINVAL);
    cr_assert_str_eq(err, "unsupported language 'xx' (supported: en, ko, auto)");
    cr_assert_null(s);
}

Test(lexicon, missing_vendor_lexicon_says_to_run_setup)
{
    struct churn_sentiment *s = NULL;
    enum churn_err e =
        churn_sentiment_open(CHURN_SOURCE_ROOT "/tests", "en", NULL, &s, err, sizeof(err));
    cr_assert_eq(e, CHURN_EIO);
    cr_assert(strstr(err, "vendor/vader_lexicon.txt"), "%s", err);
    cr_assert(strstr(err, "tools/setup"), "%s", err);
}

Test(lexicon, bad_options)
{
    struct churn_sentiment *s = NULL;
    struct churn_sentiment_options o = {.max_text_bytes = CHURN_SENTIMENT_MAX_TEXT_LIMIT + 1};
    cr_assert_eq(churn_sentiment_open(LEXDIR, "en", &o, &s, err, sizeof(err)), CHURN_EINVAL);
    struct churn_sentiment_source src = {"x.lex", "good\t1\n", 7, CHURN_LEX_FORMAT_CHURN};
    cr_assert_eq(churn_sentiment_open_sources(&src, 1, "en", "klingon", NULL, &s, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert(strstr(err, "klingon"), "%s", err);
    cr_assert_null(s);
}

Test(lexicon, every_allocation_failure_unwinds)
{
    static const char data[] = "good\t1\nstill waiting\t-2\ncancel my subscription\t-1.5\tchurn\n"
                               "not\t-0.74\tnegator\nvery\t0.293\tbooster\n";
    struct churn_sentiment_source src = {"t.lex", data, sizeof(data) - 1, CHURN_LEX_FORMAT_CHURN};
    long n;
    for (n = 0; n < 10000; n++) {
        struct churn_sentiment *s = NULL;
        churn_alloc_fail_after(n);
        enum churn_err e =
            churn_sentiment_open_sources(&src, 1, "en", "english", NULL, &s, err, sizeof(err));
        churn_alloc_fail_off();
        if (e == CHURN_OK) {
            cr_assert_not_null(s);
            struct churn_sentiment_result r;
            cr_assert_eq(churn_sentiment_analyze(s, "very good", 9, &arena, &r, err, sizeof(err)),
                         CHURN_OK);
            cr_assert_gt(r.compound, 0.3, "the booster and the word were loaded");
            churn_sentiment_close(s);
            break;
        }
        cr_assert_eq(e, CHURN_ENOMEM, "failure %ld gave %s: %s", n, churn_err_name(e), err);
        cr_assert_null(s);
    }
    cr_assert_gt(n, 3, "the loader allocates; the hook must have hit it");
}

/* ---------------------------------------------------------------------------------------- */
TestSuite(analyzer, .init = setup_analyzer, .fini = teardown_analyzer);

Test(analyzer, polarity_of_plain_sentences)
{
    cr_assert_gt(compound("The agent was very helpful, thank you so much"), 0.5);
    cr_assert_lt(compound("This is the worst service I have ever had"), -0.5);
    double n = compound("I need to update the billing address on my account");
    cr_assert(fabs(n) < 0.05, "a neutral request scored %f", n);
    cr_assert(fabs(compound("Please reset my password")) < 0.05);
    cr_assert(fabs(compound("I would like to change my plan")) < 0.05);
}

Test(analyzer, negation_flips)
{
    cr_assert_gt(compound("the update is good"), 0.3);
    struct churn_sentiment_result r = analyze("the update is not good");
    cr_assert_lt(r.compound, -0.2);
    const struct churn_sentiment_evidence *e = find_evidence(&r, "good");
    cr_assert_not_null(e);
    cr_assert(e->flags & CHURN_EVIDENCE_F_NEGATED);
    cr_assert_lt(e->contribution, 0);
    cr_assert_lt(compound("it was never good"), -0.2);
    cr_assert_lt(compound("the app isn't helpful"), -0.2);
    cr_assert_gt(compound("it worked without problems"), 0.1);
    cr_assert_lt(compound("this amn't good"), -0.2, "any word ending in n't negates");
    cr_assert_gt(compound("not good, great"), 0.2, "negation stops at the clause");
}

Test(analyzer, boosters_raise_and_dampeners_lower)
{
    double good = compound("the service is good");
    double very = compound("the service is very good");
    double slightly = compound("the service is slightly good");
    cr_assert_gt(very, good);
    cr_assert_lt(slightly, good);
    double bad = compound("the service is bad");
    cr_assert_lt(compound("the service is extremely bad"), bad);
    cr_assert_gt(compound("the service is kind of bad"), bad);
    struct churn_sentiment_result r = analyze("really terrible");
    cr_assert(find_evidence(&r, "terrible")->flags & CHURN_EVIDENCE_F_BOOSTED);
}

Test(analyzer, but_shifts_the_weight_to_what_follows)
{
    struct churn_sentiment_result r = analyze("The product is great but the support is terrible");
    cr_assert_lt(r.compound, 0);
    const struct churn_sentiment_evidence *g = find_evidence(&r, "great");
    const struct churn_sentiment_evidence *t = find_evidence(&r, "terrible");
    cr_assert(g->flags & CHURN_EVIDENCE_F_BEFORE_CONTRAST);
    cr_assert(t->flags & CHURN_EVIDENCE_F_AFTER_CONTRAST);
    cr_assert_float_eq(g->contribution, g->valence * 0.5, 1e-5);
    cr_assert_float_eq(t->contribution, t->valence * 1.5, 1e-5);
    cr_assert_gt(compound("The support is terrible but the product is great"), 0);
    cr_assert_gt(compound("It was slow. However, the agent fixed it and it works great"), 0.3);
}

Test(analyzer, caps_emphasis_only_when_not_all_caps)
{
    double lower = compound("this is bad service");
    double caps = compound("this is BAD service");
    cr_assert_lt(caps, lower);
    cr_assert(analyze("this is BAD service").evidence[0].flags & CHURN_EVIDENCE_F_CAPS);
    cr_assert_float_eq(compound("THIS IS BAD SERVICE"), lower, 1e-9, "all caps is no emphasis");
}

Test(analyzer, exclamation_and_question_marks)
{
    double plain = compound("this is bad");
    cr_assert_lt(compound("this is bad!!!"), plain);
    cr_assert_lt(compound("this is bad!!!!!!!!"), compound("this is bad!!!") + 1e-9);
    cr_assert_float_eq(compound("this is bad!!!!!!!!"), compound("this is bad!!!!"), 1e-9,
                       "at most four marks count");
    cr_assert_lt(compound("why is this so bad??"), compound("why is this so bad"));
    cr_assert_float_eq(compound("!!!???"), 0.0, 1e-12, "punctuation alone is neutral");
}

Test(analyzer, idioms_and_least)
{
    cr_assert_lt(compound("yeah right"), -0.2);
    cr_assert_gt(compound("no problem"), 0.2, "no problem is not two negative words");
    cr_assert_lt(compound("this is the last straw"), -0.3);
    cr_assert_lt(compound("the least helpful agent"), -0.2);
    cr_assert_gt(compound("at least it works now"), 0.1);
}

Test(analyzer, elongation_matches_and_emphasizes)
{
    struct churn_sentiment_result r = analyze("goooood job");
    cr_assert_eq(r.n_evidence, 1);
    cr_assert_eq(r.evidence[0].term_len, 4);
    cr_assert_eq(memcmp(r.evidence[0].term, "good", 4), 0, "goooood is good, not god");
    cr_assert(r.evidence[0].flags & CHURN_EVIDENCE_F_ELONGATED);
    cr_assert_lt(compound("sooooo bad"), compound("so bad"));
}

Test(analyzer, emoji_and_emoticons_carry_valence)
{
    cr_assert_lt(compound("\xf0\x9f\x98\xa1"), -0.3);                       /* pouting face */
    cr_assert_gt(compound("thanks \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd"), 0.3); /* thumbs up, tone */
    cr_assert_lt(compound("ok :("), compound("ok"));
    struct churn_sentiment_result r = analyze("broke again </3");
    cr_assert_not_null(find_evidence(&r, "</3"));
}

Test(analyzer, evidence_offsets_point_into_the_text)
{
    const char *s = "Hi, I'm STILL WAITING for the refund. caf\xc3\xa9 \xf0\x9f\x98\xa1 terrible";
    struct churn_sentiment_result r = analyze(s);
    const struct churn_sentiment_evidence *w = find_evidence(&r, "still waiting");
    cr_assert_not_null(w);
    cr_assert_eq(w->kind, CHURN_EVIDENCE_PHRASE);
    cr_assert_eq(w->end - w->start, 13);
    cr_assert_eq(memcmp(s + w->start, "STILL WAITING", 13), 0);
    const struct churn_sentiment_evidence *e = find_evidence(&r, "\xf0\x9f\x98\xa1");
    cr_assert_not_null(e);
    cr_assert_eq(e->kind, CHURN_EVIDENCE_EMOJI);
    cr_assert_eq(memcmp(s + e->start, "\xf0\x9f\x98\xa1", 4), 0);
    cr_assert_eq(e->end - e->start, 4);
    const struct churn_sentiment_evidence *t = find_evidence(&r, "terrible");
    cr_assert_eq(memcmp(s + t->start, "terrible", 8), 0);
    cr_assert_eq(t->end, strlen(s));
    for (size_t i = 1; i < r.n_evidence; i++)
        cr_assert_geq(r.evidence[i].start, r.evidence[i - 1].end, "evidence is in text order");
    double sum = r.positive + r.negative + r.neutral;
    cr_assert_float_eq(sum, 1.0, 1e-9);
}

Test(analyzer, churn_intent_human_and_hard_triggers)
{
    struct churn_sentiment_result r = analyze("This is useless, I want to cancel my subscription");
    cr_assert(r.churn_intent);
    cr_assert_not(r.human_requested);
    r = analyze("I am cancelling my subscriptions today");
    cr_assert(r.churn_intent, "an inflected phrase matches through stems");
    cr_assert(r.evidence[0].flags & CHURN_EVIDENCE_F_STEM);
    r = analyze("We are switching to another provider next month");
    cr_assert(r.churn_intent);
    r = analyze("Can I talk to a real person please?");
    cr_assert(r.human_requested);
    cr_assert_not(r.churn_intent);
    r = analyze("If this is not refunded I will file a chargeback");
    cr_assert(r.hard_trigger);
    r = analyze("my lawyer will hear about this");
    cr_assert(r.hard_trigger);
    r = analyze("I am going to report you");
    cr_assert(r.hard_trigger);
    r = analyze("We are suing you");
    cr_assert(r.hard_trigger, "an inflected threat is still a threat");
    r = analyze("Sue from billing was great");
    cr_assert_not(r.hard_trigger, "a name is not a legal threat");
    r = analyze("Thanks, the new plan is great");
    cr_assert_not(r.churn_intent || r.human_requested || r.hard_trigger);
}

Test(analyzer, negated_intent_is_suppressed_but_inability_is_not)
{
    struct churn_sentiment_result r = analyze("I don't want to cancel my subscription");
    cr_assert_not(r.churn_intent);
    cr_assert_eq(r.n_evidence, 1);
    cr_assert(r.evidence[0].flags & CHURN_EVIDENCE_F_INTENT_SUPPRESSED);
    r = analyze("I can't cancel my subscription on the website");
    cr_assert(r.churn_intent, "not being able to cancel is still wanting to");
    cr_assert_lt(r.compound, 0);
    r = analyze("I will not go to a lawyer, but I will never file a chargeback");
    cr_assert(r.hard_trigger, "hard triggers always reach a human");
}

Test(analyzer, hedged_intent_is_intent_with_a_lower_confidence)
{
    static const char *const hedged[] = {
        "I'm thinking about cancelling, the app keeps crashing",
        "we might switch to another tool next quarter",
        "Not sure I'll renew next year",
        "honestly I'm considering other options",
        "other providers are cheaper, I'm shopping around",
        "how do I downgrade to the free plan?",
    };
    for (size_t i = 0; i < sizeof(hedged) / sizeof(hedged[0]); i++) {
        struct churn_sentiment_result r = analyze(hedged[i]);
        cr_expect(r.churn_intent, "%s: hedged intent is intent", hedged[i]);
        cr_expect_float_eq(r.intent_confidence, 0.6, 1e-9, "%s", hedged[i]);
        bool flagged = false;
        for (size_t k = 0; k < r.n_evidence; k++)
            flagged |= (r.evidence[k].flags & CHURN_EVIDENCE_F_HEDGED) != 0;
        cr_expect(flagged, "%s: the evidence says hedged", hedged[i]);
    }
    struct churn_sentiment_result r = analyze("I want to cancel my subscription");
    cr_expect_float_eq(r.intent_confidence, 1.0, 1e-9, "explicit intent");
    r = analyze("I might switch, actually no, cancel my subscription today");
    cr_expect_float_eq(r.intent_confidence, 1.0, 1e-9, "explicit wins over hedged");
    r = analyze("I'm not thinking about cancelling, I love it");
    cr_expect_not(r.churn_intent, "negated hedged intent is suppressed");
    cr_expect_float_eq(r.intent_confidence, 0.0, 1e-9);
    r = analyze("Thanks, the new plan is great");
    cr_expect_float_eq(r.intent_confidence, 0.0, 1e-9);

    /* the tracker escalates both, the hedged one with a lower confidence */
    struct churn_chat_state st;
    struct churn_chat_decision dh, de;
    churn_chat_state_init(&st);
    r = analyze("we might switch to another tool");
    cr_assert_eq(churn_chat_tracker_update(&st, NULL, CHURN_CHAT_ROLE_CUSTOMER, &r, NULL, 0, &dh),
                 CHURN_OK);
    churn_chat_state_init(&st);
    r = analyze("I want to cancel my subscription");
    cr_assert_eq(churn_chat_tracker_update(&st, NULL, CHURN_CHAT_ROLE_CUSTOMER, &r, NULL, 0, &de),
                 CHURN_OK);
    cr_expect(dh.escalate && de.escalate);
    cr_expect_eq(dh.reason, CHURN_CHAT_REASON_CHURN_INTENT);
    cr_expect_lt(dh.confidence, de.confidence);
}

Test(analyzer, empty_and_whitespace_only)
{
    struct churn_sentiment_result r;
    cr_assert_eq(churn_sentiment_analyze(an, NULL, 0, &arena, &r, err, sizeof(err)), CHURN_OK);
    cr_assert_float_eq(r.compound, 0.0, 1e-12);
    cr_assert_eq(r.n_evidence, 0);
    cr_assert_eq(r.n_tokens, 0);
    r = analyze(" \t\r\n \xc2\xa0 \xe3\x80\x80 ");
    cr_assert_eq(r.n_tokens, 0);
    cr_assert_float_eq(r.compound, 0.0, 1e-12);
    cr_assert_float_eq(r.positive + r.negative + r.neutral, 0.0, 1e-12);
}

Test(analyzer, text_size_limit)
{
    size_t n = CHURN_SENTIMENT_MAX_TEXT_DEFAULT;
    char *p = malloc(n + 1);
    for (size_t i = 0; i < n; i += 5)
        memcpy(p + i, i + 5 <= n ? "bad. " : "bad..", n - i < 5 ? n - i : 5);
    p[n] = 'x';
    struct churn_sentiment_result r = {.compound = 42};
    cr_assert_eq(churn_sentiment_analyze(an, p, n, &arena, &r, err, sizeof(err)), CHURN_OK, "%s",
                 err);
    cr_assert_lt(r.compound, -0.9);
    cr_assert_gt(r.n_evidence, 10000);
    r.compound = 42;
    cr_assert_eq(churn_sentiment_analyze(an, p, n + 1, &arena, &r, err, sizeof(err)),
                 CHURN_ETOOBIG);
    cr_assert(strstr(err, "over the limit of 65536 bytes"), "%s", err);
    cr_assert_float_eq(r.compound, 42, 0, "out-param untouched");
    free(p);

    struct churn_sentiment *small;
    struct churn_sentiment_options o = {.max_text_bytes = 16};
    cr_assert_eq(churn_sentiment_open(LEXDIR, "en", &o, &small, err, sizeof(err)), CHURN_OK);
    cr_assert_eq(
        churn_sentiment_analyze(small, "sixteen bytes ok", 16, &arena, &r, err, sizeof(err)),
        CHURN_OK);
    cr_assert_eq(
        churn_sentiment_analyze(small, "seventeen bytes!!", 17, &arena, &r, err, sizeof(err)),
        CHURN_ETOOBIG);
    churn_sentiment_close(small);
}

Test(analyzer, hostile_text)
{
    const char nul[] = "terrible\0\0\0service";
    struct churn_sentiment_result r;
    cr_assert_eq(churn_sentiment_analyze(an, nul, sizeof(nul) - 1, &arena, &r, err, sizeof(err)),
                 CHURN_OK);
    cr_assert_lt(r.compound, -0.3);
    cr_assert_eq(r.n_tokens, 2);

    cr_assert_lt(compound("\x01\x02terrible\x07\x7f"), -0.3, "control characters are spaces");
    cr_assert_lt(compound("ter\xe2\x80\x8drible"), -0.3,
                 "a zero-width joiner does not hide a word");
    cr_assert_lt(compound("\xe2\x80\x8b\xe2\x80\x8dterrible\xef\xbb\xbf"), -0.3);

    char bad[] = "fine \xc3\x28 fine";
    cr_assert_eq(churn_sentiment_analyze(an, bad, strlen(bad), &arena, &r, err, sizeof(err)),
                 CHURN_EINVAL);
    cr_assert_str_eq(err, "invalid UTF-8 at byte 5");

    char *tok = malloc(10000);
    for (size_t i = 0; i < 10000; i++)
        tok[i] = "terrible"[i % 8];
    cr_assert_eq(churn_sentiment_analyze(an, tok, 10000, &arena, &r, err, sizeof(err)), CHURN_OK);
    cr_assert_eq(r.n_tokens, 1);
    cr_assert_eq(r.n_evidence, 0, "one 10k-character word is no known word");
    free(tok);
}

Test(analyzer, a_hundred_thousand_emoji)
{
    size_t n = 100000;
    char *p = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        memcpy(p + 4 * i, "\xf0\x9f\x98\xa1", 4);
    struct churn_sentiment_result r;
    cr_assert_eq(churn_sentiment_analyze(an, p, n * 4, &arena, &r, err, sizeof(err)), CHURN_ETOOBIG,
                 "400 KB is over the default limit");
    struct churn_sentiment *big;
    struct churn_sentiment_options o = {.max_text_bytes = CHURN_SENTIMENT_MAX_TEXT_LIMIT};
    cr_assert_eq(churn_sentiment_open(LEXDIR, "en", &o, &big, err, sizeof(err)), CHURN_OK);
    churn_arena_reset(&arena);
    cr_assert_eq(churn_sentiment_analyze(big, p, n * 4, &arena, &r, err, sizeof(err)), CHURN_OK,
                 "%s", err);
    cr_assert_eq(r.n_tokens, n);
    cr_assert_eq(r.n_evidence, n);
    cr_assert_lt(r.compound, -0.99);
    churn_sentiment_close(big);
    free(p);
}

Test(analyzer, scratch_exhaustion_is_an_error)
{
    struct churn_arena small;
    churn_arena_init(&small, 512);
    struct churn_sentiment_result r = {.compound = 7};
    const char *s = "this is a rather long sentence about a terrible, terrible experience with the "
                    "support team that never answers";
    cr_assert_eq(churn_sentiment_analyze(an, s, strlen(s), &small, &r, err, sizeof(err)),
                 CHURN_ENOMEM);
    cr_assert_float_eq(r.compound, 7, 0);
    churn_arena_fini(&small);
}

/* Each thread remembers the stems of the words it saw last; a long text of new words pushes
 * out the early ones, which must still match through their stems. */
Test(analyzer, stems_survive_a_text_of_thousands_of_new_words)
{
    static char text[48 * 1024];
    size_t n = (size_t)snprintf(text, sizeof(text), "cancelling my subscriptions");
    for (unsigned i = 0; i < 6000; i++) { /* "qaabx", "qbabx", ...: in no lexicon */
        char w[8] = {' ', 'q'};
        size_t k = 2;
        for (unsigned v = i + 26 * 26; v; v /= 26)
            w[k++] = (char)('a' + v % 26);
        w[k++] = 'x';
        cr_assert_lt(n + k, sizeof(text));
        memcpy(text + n, w, k);
        n += k;
    }
    text[n] = '\0';
    struct churn_sentiment_result r = analyze(text);
    cr_assert(r.churn_intent);
    const struct churn_sentiment_evidence *e = find_evidence(&r, "cancel my subscription");
    cr_assert_not_null(e);
    cr_assert_eq(e->start, 0);
    cr_assert_eq(e->end, strlen("cancelling my subscriptions"));
    cr_assert(e->flags & CHURN_EVIDENCE_F_STEM);
}

static void *
first_call_without_memory(void *p)
{
    enum churn_err *out = p;
    struct churn_arena ar;
    churn_arena_init(&ar, 1 << 20);
    struct churn_sentiment_result r = {.compound = 5};
    char buf[128];
    /* the arena's first chunk is allocated before the hook is armed */
    void *warm = churn_arena_alloc(&ar, 16);
    churn_alloc_fail_after(0);
    out[0] = churn_sentiment_analyze(an, "not good", 8, &ar, &r, buf, sizeof(buf));
    churn_alloc_fail_off();
    out[1] = r.compound == 5 ? CHURN_OK : CHURN_EINTERNAL;
    out[2] = churn_sentiment_analyze(an, "not good", 8, &ar, &r, buf, sizeof(buf));
    churn_arena_fini(&ar);
    (void)warm;
    return NULL;
}

Test(analyzer, a_thread_without_memory_for_its_stemmer_gets_enomem)
{
    enum churn_err res[3];
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, first_call_without_memory, res), 0);
    pthread_join(th, NULL);
    cr_assert_eq(res[0], CHURN_ENOMEM, "got %s", churn_err_name(res[0]));
    cr_assert_eq(res[1], CHURN_OK, "out-param untouched on error");
    cr_assert_eq(res[2], CHURN_OK, "the next call recovers");
}

struct thread_arg {
    const char *text;
    double want;
    int mismatches;
};

static void *
analyze_thread(void *p)
{
    struct thread_arg *a = p;
    struct churn_arena ar;
    churn_arena_init(&ar, 1 << 20);
    for (int i = 0; i < 2000; i++) {
        struct churn_sentiment_result r;
        churn_arena_reset(&ar);
        if (churn_sentiment_analyze(an, a->text, strlen(a->text), &ar, &r, NULL, 0) != CHURN_OK ||
            r.compound != a->want)
            a->mismatches++;
    }
    churn_arena_fini(&ar);
    return NULL;
}

Test(analyzer, shared_across_threads)
{
    const char *texts[] = {
        "I keep getting charged twice and nobody answers my emails",
        "The refunds were processed quickly, thanks a lot",
        "cancelling my subscriptions, the disappointing updates broke everything",
        "hopefully the agents will respond sooner next time",
    };
    struct thread_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){texts[i], compound(texts[i]), 0};
        cr_assert_eq(pthread_create(&th[i], NULL, analyze_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(args[i].mismatches, 0, "thread %d saw different results", i);
    }
}

/* ---------------------------------------------------------------------------------------- */
TestSuite(tracker, .init = setup_analyzer, .fini = teardown_analyzer);

static const int64_t T0 = 1795000000000LL;

static struct churn_chat_decision
turn(struct churn_chat_state *st, enum churn_chat_role role, const char *text,
     const struct churn_chat_customer_hint *hint, int64_t now)
{
    struct churn_sentiment_result r = analyze(text);
    struct churn_chat_decision d;
    enum churn_err e = churn_chat_tracker_update(st, NULL, role, &r, hint, now, &d);
    cr_assert_eq(e, CHURN_OK);
    return d;
}

Test(tracker, dissatisfaction_escalates_once)
{
    struct churn_chat_state st;
    churn_chat_state_init(&st);
    struct churn_chat_decision d;
    d = turn(&st, CHURN_CHAT_ROLE_CUSTOMER, "Hi, my order hasn't arrived yet", NULL, T0);
    cr_assert_not(d.escalate);
    d = turn(&st, CHURN_CHAT_ROLE_CUSTOMER, "This is ridiculous, I am still waiting", NULL,
             T0 + 60000);
    cr_assert_not(d.escalate);
    d = turn(&st, CHURN_CHAT_ROLE_CUSTOMER, "Terrible service, nobody answers, I'm so frustrated!",
             NULL, T0 + 120000);
    cr_assert(d.escalate, "dissatisfaction %.3f threshold %.3f", d.dissatisfaction, d.threshold);
    cr_assert_eq(d.reason, CHURN_CHAT_REASON_DISSATISFACTION);
    cr_assert_gt(d.confidence, 0.5);
    cr_assert_leq(d.confidence, 1.0);
    cr_assert_eq(st.consecutive_negative, 3);
    d = turn(&st, CHURN_CHAT_ROLE_CUSTOMER, "This is the worst, absolutely awful", NULL,
             T0 + 180000);
    cr_assert_not(d.escalate, "hysteresis: one escalation per cause");
    cr_assert_eq(d.reason, CHURN_CHAT_REASON_NONE);
    cr_assert_gt(d.dissatisfaction, 0.6);
}

Test(tracker, churn_intent_escalates_immediately_and_once)
{
    struct churn_chat_state st;
    churn_chat_state_init(&st);
    struct churn_chat_decision d =
        turn(&st, CHURN_CHAT_ROLE_CUSTOMER, "How do I cancel my subscription?", NULL, T0);
    cr_assert(d.escalate);
    cr_assert_eq(d.reason, CHURN_CHAT_REASON_CHURN_INTENT);
    cr_assert_float_eq(d.confidence, 0.9, 1e-9);
    d = turn(&st, CHURN_CHAT_ROLE_CUSTOMER, "I said I want to close my account", NULL, T0 + 1000);
    cr_assert_not(d.escalate);
    cr_assert_eq(st.churn_intent_mentions, 2);
    cr_assert(st.churn_intent);
}

Test(tracker, causes_have_a_priority_and_each_fires_once)
{
    struct churn_chat_state st;
    churn_chat_state_init(&st);
    struct churn_chat_decision d =
        turn(&st, CHURN_CHAT_ROLE_CUSTOMER,
             "Cancel my subscription or I will file a chargeback and call my lawyer", NULL, T0);
    cr_assert(d.escalate);
    cr_assert_eq(d.reason, CHURN_CHAT_REASON_HARD_TRIGGER);
    cr_assert_eq(d.new_causes, CHURN_CHAT_REASON_BIT(CHURN_CHAT_REASON_HARD_TRIGGER) |
                                   CHURN_CHAT_REASON_BIT(CHURN_CHAT_REASON_CHURN_INTENT));
    d = turn(&st, CHURN_CHAT_ROLE_CUSTOMER, "I want to cancel, get me a real person now", NULL,
             T0 + 5000);
    cr_assert(d.escalate);
    cr_assert_eq(d.reason, CHURN_CHAT_REASON_HUMAN_REQUESTED, "only the new cause fires");
    cr_assert_eq(d.new_causes, CHURN_CHAT_REASON_BIT(CHURN_CHAT_REASON_HUMAN_REQUESTED));
    cr_assert_str_eq(churn_chat_reason_name(d.reason), "HUMAN_REQUESTED");
}

static size_t
reasons_of(const struct churn_chat_state *st, enum churn_chat_reason out[4])
{
    return churn_chat_state_reasons(st, out);
}

Test(tracker, active_reasons_are_in_the_order_they_escalated)
{
    struct churn_chat_state st;
    churn_chat_state_init(&st);
    enum churn_chat_reason r[4];
    cr_assert_eq(reasons_of(&st, r), 0);
    struct churn_chat_decision d =
        turn(&st, CHURN_CHAT_ROLE_CUSTOMER, "Can I talk to a real person please", NULL, T0);
    cr_assert_eq(d.reason, CHURN_CHAT_REASON_HUMAN_REQUESTED);
    d = turn(&st, CHURN_CHAT_ROLE_CUSTOMER, "I want to cancel my subscription", NULL, T0 + 1000);
    cr_assert_eq(d.reason, CHURN_CHAT_REASON_CHURN_INTENT);
    cr_assert_eq(reasons_of(&st, r), 2);
    cr_assert_eq(r[0], CHURN_CHAT_REASON_HUMAN_REQUESTED, "the first escalation comes first");
    cr_assert_eq(r[1], CHURN_CHAT_REASON_CHURN_INTENT);
    /* two new causes on one turn follow in priority order, after the earlier ones */
    d = turn(&st, CHURN_CHAT_ROLE_CUSTOMER,
             "Terrible, awful, useless service, I will file a chargeback", NULL, T0 + 2000);
    cr_assert_eq(d.reason, CHURN_CHAT_REASON_HARD_TRIGGER);
    cr_assert_eq(reasons_of(&st, r), 4, "dissatisfaction %.3f", st.dissatisfaction);
    cr_assert_eq(r[2], CHURN_CHAT_REASON_HARD_TRIGGER);
    cr_assert_eq(r[3], CHURN_CHAT_REASON_DISSATISFACTION);
    /* the order survives the store */
    uint8_t buf[CHURN_CHAT_STATE_MAX_SIZE];
    size_t n;
    struct churn_chat_state back;
    cr_assert_eq(churn_chat_state_encode(&st, buf, sizeof(buf), &n), CHURN_OK);
    cr_assert_eq(churn_chat_state_decode(buf, n, &back), CHURN_OK);
    enum churn_chat_reason rb[4];
    cr_assert_eq(reasons_of(&back, rb), 4);
    cr_assert_eq(memcmp(rb, r, sizeof(r)), 0);
}

Test(tracker, a_version_1_state_still_decodes)
{
    /* written by the tracker before it kept the escalation order: hard trigger, churn
     * intent and dissatisfaction escalated; 3 turns, 2 by the customer */
    static const uint8_t v1[] = {0x01, 0x05, 0x16, 0x10, 0x80, 0x03, 0x02, 0x01, 0x01, 0xc0, 0xb8,
                                 0x97, 0xa8, 0xbe, 0x62, 0xc0, 0xb8, 0x97, 0xa8, 0xbe, 0x62};
    struct churn_chat_state st;
    cr_assert_eq(churn_chat_state_decode(v1, sizeof(v1), &st), CHURN_OK);
    cr_assert(st.churn_intent && st.hard_trigger && !st.human_requested);
    cr_assert_eq(st.turns, 3);
    cr_assert_eq(st.customer_turns, 2);
    cr_assert_eq(st.churn_intent_mentions, 1);
    cr_assert_float_eq(st.dissatisfaction, 0x8010 / 65535.0, 1e-12);
    cr_assert_eq(st.last_turn_ms, 1691990814240LL);
    enum churn_chat_reason r[4];
    cr_assert_eq(reasons_of(&st, r), 3);
    cr_assert_eq(r[0], CHURN_CHAT_REASON_HARD_TRIGGER, "unknown order: priority order");
    cr_assert_eq(r[1], CHURN_CHAT_REASON_CHURN_INTENT);
    cr_assert_eq(r[2], CHURN_CHAT_REASON_DISSATISFACTION);
    /* the conversation goes on: a new cause comes after the old ones, and the state is
     * written back in the current version */
    struct churn_chat_decision d = turn(
        &st, CHURN_CHAT_ROLE_CUSTOMER, "Can I talk to a real person please", NULL, 1691990874240LL);
    cr_assert_eq(d.reason, CHURN_CHAT_REASON_HUMAN_REQUESTED);
    cr_assert_eq(reasons_of(&st, r), 4);
    cr_assert_eq(r[3], CHURN_CHAT_REASON_HUMAN_REQUESTED);
    uint8_t buf[CHURN_CHAT_STATE_MAX_SIZE];
    size_t n;
    cr_assert_eq(churn_chat_state_encode(&st, buf, sizeof(buf), &n), CHURN_OK);
    cr_assert_eq(buf[0], 2);
    struct churn_chat_state back;
    cr_assert_eq(churn_chat_state_decode(buf, n, &back), CHURN_OK);
    cr_assert_eq(reasons_of(&back, r), 4);
    cr_assert_eq(r[3], CHURN_CHAT_REASON_HUMAN_REQUESTED);
}

Test(tracker, agent_and_bot_turns_are_context_only)
{
    struct churn_chat_state st;
    churn_chat_state_init(&st);
    struct churn_chat_decision d =
        turn(&st, CHURN_CHAT_ROLE_AGENT,
             "I'm sorry, that is terrible, you can cancel your subscription", NULL, T0);
    cr_assert_not(d.escalate);
    d = turn(&st, CHURN_CHAT_ROLE_BOT, "Do you want to talk to a human agent?", NULL, T0 + 1);
    cr_assert_not(d.escalate);
    cr_assert_eq(st.turns, 2);
    cr_assert_eq(st.customer_turns, 0);
    cr_assert_float_eq(st.dissatisfaction, 0.0, 1e-12);
    cr_assert_not(st.churn_intent);
    struct churn_chat_decision keep = {.confidence = 3};
    cr_assert_eq(
        churn_chat_tracker_update(&st, NULL, CHURN_CHAT_ROLE_CUSTOMER, NULL, NULL, T0, &keep),
        CHURN_EINVAL, "a customer turn needs its analysis");
    cr_assert_eq(
        churn_chat_tracker_update(&st, NULL, (enum churn_chat_role)9, NULL, NULL, T0, &keep),
        CHURN_EINVAL, "unknown role");
    cr_assert_eq(st.turns, 2, "state untouched on error");
    cr_assert_float_eq(keep.confidence, 3, 0);
}

Test(tracker, high_value_or_high_risk_customers_escalate_sooner)
{
    const char *turns[] = {"The app keeps crashing", "It is still not working"};
    struct churn_chat_customer_hint normal = {.churn_probability = 0.1};
    struct churn_chat_customer_hint risky = {.churn_probability = 0.8};
    struct churn_chat_customer_hint vip = {.churn_probability = -1, .high_value = true};
    const struct churn_chat_customer_hint *hints[] = {NULL, &normal, &risky, &vip};
    bool escalated[4] = {0};
    for (int h = 0; h < 4; h++) {
        struct churn_chat_state st;
        churn_chat_state_init(&st);
        for (int i = 0; i < 2; i++) {
            struct churn_chat_decision d =
                turn(&st, CHURN_CHAT_ROLE_CUSTOMER, turns[i], hints[h], T0 + i * 30000);
            escalated[h] |= d.escalate;
            if (h >= 2)
                cr_assert_float_eq(d.threshold, 0.45, 1e-12);
        }
    }
    cr_assert_not(escalated[0]);
    cr_assert_not(escalated[1]);
    cr_assert(escalated[2], "a high-risk customer escalates after two complaints");
    cr_assert(escalated[3], "a high-value customer escalates after two complaints");
}

Test(tracker, dissatisfaction_decays_and_recovers)
{
    struct churn_chat_state st;
    churn_chat_state_init(&st);
    turn(&st, CHURN_CHAT_ROLE_CUSTOMER, "This is awful and I am really angry", NULL, T0);
    double d0 = st.dissatisfaction;
    cr_assert_gt(d0, 0.3);
    double later = churn_chat_state_dissatisfaction_at(&st, NULL, T0 + 30 * 60 * 1000);
    cr_assert_float_eq(later, d0 / 2, 1e-9, "one half-life halves it");
    cr_assert_float_eq(churn_chat_state_dissatisfaction_at(&st, NULL, T0 - 5000), d0, 1e-12,
                       "a clock going back decays nothing");
    turn(&st, CHURN_CHAT_ROLE_CUSTOMER, "Oh great, that fixed it, thank you so much!", NULL,
         T0 + 60000);
    cr_assert_lt(st.dissatisfaction, d0 * 0.75, "a happy turn brings it down");
    cr_assert_eq(st.consecutive_negative, 0);
}

Test(tracker, state_round_trip)
{
    struct churn_chat_state st;
    churn_chat_state_init(&st);
    turn(&st, CHURN_CHAT_ROLE_CUSTOMER, "I want to cancel my subscription, this is terrible", NULL,
         T0);
    turn(&st, CHURN_CHAT_ROLE_AGENT, "Sorry to hear that", NULL, T0 + 10);
    turn(&st, CHURN_CHAT_ROLE_CUSTOMER, "Still waiting!!!", NULL, T0 + 20);
    uint8_t buf[CHURN_CHAT_STATE_MAX_SIZE];
    size_t n;
    cr_assert_eq(churn_chat_state_encode(&st, buf, sizeof(buf), &n), CHURN_OK);
    cr_assert_eq(buf[0], CHURN_CHAT_STATE_VERSION, "the version byte comes first");
    cr_assert_leq(n, 32, "compact: %zu bytes", n);
    struct churn_chat_state back;
    cr_assert_eq(churn_chat_state_decode(buf, n, &back), CHURN_OK);
    cr_assert_float_eq(back.dissatisfaction, st.dissatisfaction, 1.0 / 65535);
    cr_assert_eq(back.turns, 3);
    cr_assert_eq(back.customer_turns, 2);
    cr_assert_eq(back.consecutive_negative, st.consecutive_negative);
    cr_assert_eq(back.churn_intent_mentions, 1);
    cr_assert(back.churn_intent);
    cr_assert_eq(back.escalated, st.escalated);
    cr_assert_eq(back.last_customer_ms, T0 + 20);
    cr_assert_eq(back.last_turn_ms, T0 + 20);
    /* the conversation continues after a restart: churn intent does not escalate twice */
    struct churn_chat_decision d =
        turn(&back, CHURN_CHAT_ROLE_CUSTOMER, "cancel my account now", NULL, T0 + 30);
    cr_assert_neq(d.reason, CHURN_CHAT_REASON_CHURN_INTENT);
    uint8_t tiny[4];
    cr_assert_eq(churn_chat_state_encode(&st, tiny, sizeof(tiny), &n), CHURN_ETOOBIG);

    struct churn_chat_state extreme;
    churn_chat_state_init(&extreme);
    extreme.turns = extreme.customer_turns = extreme.consecutive_negative = UINT32_MAX;
    extreme.churn_intent_mentions = UINT32_MAX;
    extreme.churn_intent = true;
    extreme.last_customer_ms = INT64_MIN;
    extreme.last_turn_ms = INT64_MAX;
    extreme.dissatisfaction = 1;
    cr_assert_eq(churn_chat_state_encode(&extreme, buf, sizeof(buf), &n), CHURN_OK);
    cr_assert_eq(churn_chat_state_decode(buf, n, &back), CHURN_OK);
    cr_assert_eq(back.last_customer_ms, INT64_MIN);
    cr_assert_eq(back.last_turn_ms, INT64_MAX);
    cr_assert_eq(back.turns, UINT32_MAX);
}

Test(tracker, hostile_state_bytes_fail_cleanly)
{
    struct churn_chat_state st, back;
    churn_chat_state_init(&st);
    turn(&st, CHURN_CHAT_ROLE_CUSTOMER, "please cancel my subscription", NULL, T0);
    uint8_t buf[CHURN_CHAT_STATE_MAX_SIZE + 4];
    size_t n;
    cr_assert_eq(churn_chat_state_encode(&st, buf, sizeof(buf), &n), CHURN_OK);

    memset(&back, 0x5a, sizeof(back));
    struct churn_chat_state sentinel = back;
    cr_assert_eq(churn_chat_state_decode(buf, 0, &back), CHURN_ECORRUPT);
    cr_assert_eq(churn_chat_state_decode(NULL, 3, &back), CHURN_ECORRUPT);
    for (size_t cut = 1; cut < n; cut++)
        cr_assert_eq(churn_chat_state_decode(buf, cut, &back), CHURN_ECORRUPT, "cut at %zu", cut);
    buf[n] = 0;
    cr_assert_eq(churn_chat_state_decode(buf, n + 1, &back), CHURN_ECORRUPT, "trailing byte");
    uint8_t v = buf[0];
    buf[0] = 99;
    cr_assert_eq(churn_chat_state_decode(buf, n, &back), CHURN_EUNIMPL, "unknown version");
    buf[0] = v;
    uint8_t f = buf[1];
    buf[1] = 0x80;
    cr_assert_eq(churn_chat_state_decode(buf, n, &back), CHURN_ECORRUPT, "unknown flag bits");
    buf[1] = f;
    /* the order byte (version 2) lists exactly the escalated causes, each once */
    static const uint8_t orders[][12] = {
        {2, 0, 0x06, 0x08, 0, 0, 0, 0, 0, 0, 0, 0}, /* a cause that did not escalate */
        {2, 0, 0x06, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}, /* hard trigger twice */
        {2, 0, 0x02, 0x40, 0, 0, 0, 0, 0, 0, 0, 0}, /* bits past the last cause */
        {2, 0, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}, /* an order without causes */
    };
    for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++)
        cr_assert_eq(churn_chat_state_decode(orders[i], sizeof(orders[i]), &back), CHURN_ECORRUPT,
                     "order %zu", i);
    static const uint8_t good_order[] = {2, 0, 0x06, 0x01, 0, 0, 0, 0, 0, 0, 0, 0};
    struct churn_chat_state ok;
    cr_assert_eq(churn_chat_state_decode(good_order, sizeof(good_order), &ok), CHURN_OK);
    enum churn_chat_reason order[4];
    cr_assert_eq(churn_chat_state_reasons(&ok, order), 2);
    cr_assert_eq(order[0], CHURN_CHAT_REASON_CHURN_INTENT);
    cr_assert_eq(order[1], CHURN_CHAT_REASON_HARD_TRIGGER);
    static const uint8_t overlong[] = {1,    0,    0,    0, 0, 0x80, 0x80, 0x80,
                                       0x80, 0x80, 0x01, 0, 0, 0,    0,    0};
    cr_assert_eq(churn_chat_state_decode(overlong, sizeof(overlong), &back), CHURN_ECORRUPT);
    static const uint8_t nonminimal[] = {1, 0, 0, 0, 0, 0x81, 0x00, 0, 0, 0, 0, 0};
    cr_assert_eq(churn_chat_state_decode(nonminimal, sizeof(nonminimal), &back), CHURN_ECORRUPT);
    static const uint8_t inconsistent[] = {1, 0, 0, 0, 0, 1, 5, 0, 0, 0, 0}; /* 5 of 1 turns */
    cr_assert_eq(churn_chat_state_decode(inconsistent, sizeof(inconsistent), &back),
                 CHURN_ECORRUPT);
    cr_assert_eq(memcmp(&back, &sentinel, sizeof(back)), 0, "state untouched on error");

    /* random bytes: never a crash; whatever decodes as the current version re-encodes to the
     * same bytes, and a version-1 state to the same state one order byte longer */
    uint64_t x = 88172645463325252ull;
    int decoded[3] = {0};
    for (int i = 0; i < 400000; i++) {
        uint8_t r[24];
        size_t len = 1 + (size_t)(i % 23);
        for (size_t k = 0; k < len; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            r[k] = (uint8_t)x;
        }
        r[0] = (uint8_t)(1 + (i & 1));
        if (i & 2)
            r[1] &= 7, r[2] &= 0x1e;
        if (r[0] == 2 && (i & 4) && len > 3)
            r[2] = 0, r[3] = 0; /* an order byte that fits: no cause escalated */
        if (churn_chat_state_decode(r, len, &back) != CHURN_OK)
            continue;
        uint8_t again[CHURN_CHAT_STATE_MAX_SIZE];
        size_t m;
        cr_assert_eq(churn_chat_state_encode(&back, again, sizeof(again), &m), CHURN_OK);
        if (r[0] == 2) {
            cr_assert_eq(m, len);
            cr_assert_eq(memcmp(again, r, len), 0, "decode accepted a non-canonical encoding");
        } else {
            cr_assert_eq(m, len + 1);
            cr_assert_eq(again[0], 2);
            cr_assert_eq(memcmp(again + 1, r + 1, 2), 0, "flags and escalated mask");
            cr_assert_eq(memcmp(again + 4, r + 3, len - 3), 0, "the rest as it was");
            struct churn_chat_state twice;
            cr_assert_eq(churn_chat_state_decode(again, m, &twice), CHURN_OK);
            cr_assert_eq(memcmp(&twice, &back, sizeof(twice)), 0);
        }
        decoded[r[0]]++;
    }
    cr_assert_gt(decoded[1], 0, "the random walk never produced a valid version-1 state");
    cr_assert_gt(decoded[2], 0, "the random walk never produced a valid version-2 state");
}

/* ---------------------------------------------------------------------------------------- */
TestSuite(quality, .init = setup_analyzer, .fini = teardown_analyzer);

/* The figures of tools/sentiment-eval on the labelled support chats must not fall (measured
 * 2026-11-22: accuracy 0.908, macro-F1 0.891, escalation precision 1.0, recall 0.94). */
Test(quality, support_chat_eval_does_not_regress)
{
    FILE *fp = fopen(CHURN_SOURCE_ROOT "/tests/data/support_chat_eval.tsv", "r");
    cr_assert_not_null(fp);
    char line[4096];
    size_t n = 0, correct = 0, tp = 0, fp_ = 0, fn = 0, conf[3][3] = {{0}};
    bool header = false;
    while (fgets(line, sizeof(line), fp)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || !line[0])
            continue;
        if (!header) {
            header = true;
            continue;
        }
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        cr_assert_not_null(t2, "row without 3 columns: %s", line);
        *t1 = *t2 = '\0';
        int want = strcmp(t1 + 1, "negative") == 0 ? 0 : strcmp(t1 + 1, "neutral") == 0 ? 1 : 2;
        bool want_esc = strcmp(t2 + 1, "yes") == 0;
        struct churn_sentiment_result r = analyze(line);
        int got = r.compound >= 0.05 ? 2 : r.compound <= -0.05 ? 0 : 1;
        conf[want][got]++;
        correct += got == want;
        struct churn_chat_state st;
        struct churn_chat_decision d;
        churn_chat_state_init(&st);
        cr_assert_eq(
            churn_chat_tracker_update(&st, NULL, CHURN_CHAT_ROLE_CUSTOMER, &r, NULL, 0, &d),
            CHURN_OK);
        tp += d.escalate && want_esc;
        fp_ += d.escalate && !want_esc;
        fn += !d.escalate && want_esc;
        n++;
    }
    fclose(fp);
    cr_assert_geq(n, 300, "the evaluation set has at least 300 utterances");
    double f1 = 0;
    for (int c = 0; c < 3; c++) {
        double pc = 0, tc = 0;
        for (int k = 0; k < 3; k++) {
            pc += (double)conf[k][c];
            tc += (double)conf[c][k];
        }
        double p = pc ? (double)conf[c][c] / pc : 0, rc = tc ? (double)conf[c][c] / tc : 0;
        f1 += p + rc > 0 ? 2 * p * rc / (p + rc) : 0;
    }
    double acc = (double)correct / (double)n;
    double prec = (double)tp / (double)(tp + fp_), rec = (double)tp / (double)(tp + fn);
    cr_assert_geq(acc, 0.88, "polarity accuracy fell to %.3f", acc);
    cr_assert_geq(f1 / 3, 0.86, "macro-F1 fell to %.3f", f1 / 3);
    cr_assert_geq(prec, 0.95, "escalation precision fell to %.3f", prec);
    cr_assert_geq(rec, 0.90, "escalation recall fell to %.3f", rec);
}

/* ---------------------------------------------------------------------------------------- */
TestSuite(json, .init = setup_analyzer, .fini = teardown_analyzer);

/* Significant digits of the decimal text @s ("-0.0340" has 3: leading zeros do not count). */
static int
sig_digits(const char *s)
{
    int n = 0, lead = 1, trail = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (lead && *s == '0')
            continue;
        lead = 0;
        n++;
        trail = *s == '0' ? trail + 1 : 0;
    }
    return n - trail;
}

/* Decimals of at most four places (valences, weights, confidences) take a fast path of their
 * own: the same text as the exact search gives, for doubles and floats alike. */
Test(json, short_decimals_print_as_written)
{
    unsigned seed = 29;
    for (int i = 0; i < 50000; i++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int)(seed >> 4) % 5;
        long m = (long)(seed >> 8) % 2000000 - 1000000;
        if (m == 0 || m % 10 == 0)
            continue;
        char want[40], b[32];
        snprintf(want, sizeof(want), "%.*f", k, (double)m / pow(10, k));
        double v = strtod(want, NULL);
        churn_json_double(v, b);
        cr_assert_str_eq(b, want, "%.17g", v);
        float f = strtof(want, NULL);
        churn_json_float(f, b);
        cr_assert_eq(strtof(b, NULL), f, "%s printed as %s", want, b);
        cr_assert_leq(strlen(b), strlen(want), "%s printed as %s", want, b);
    }
}

/* The significant digits of the decimal text @s into @out, without leading or trailing zeros
 * ("-0.03400" gives "34"). */
static void
digits_of(const char *s, char *out)
{
    size_t n = 0, keep = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9' || (n == 0 && *s == '0'))
            continue;
        out[n++] = *s;
        keep = *s != '0' ? n : keep;
    }
    out[keep] = '\0';
}

/* Computed scores (a compound, a proportion, a contribution) take the digits of the nearest
 * decimal of the fewest digits that reads back: glibc's correctly rounded %.Ng at the smallest
 * N that reads back gives the same digits. */
Test(json, computed_scores_print_the_nearest_shortest_decimal)
{
    unsigned seed = 41;
    for (int i = 0; i < 30000; i++) {
        seed = seed * 1103515245u + 12345u;
        double sum = ((double)(seed >> 8) / (1 << 24) - 0.5) * 20.0;
        double v = i % 2 ? sum / sqrt(sum * sum + 15.0) : fabs(sum) / (fabs(sum) + 3.7);
        if (fabs(v) < 1e-4)
            continue;
        char b[32], r[40], want[24], got[24];
        churn_json_double(v, b);
        for (int p = 1; p <= 17; p++) {
            snprintf(r, sizeof(r), "%.*g", p, v);
            if (strtod(r, NULL) == v)
                break;
        }
        digits_of(r, want);
        digits_of(b, got);
        cr_assert_str_eq(got, want, "%.17g printed as %s, %%g gives %s", v, b, r);
        float f = (float)(v * 2.5);
        churn_json_float(f, b);
        for (int p = 1; p <= 9; p++) {
            snprintf(r, sizeof(r), "%.*g", p, (double)f);
            if (strtof(r, NULL) == f)
                break;
        }
        digits_of(r, want);
        digits_of(b, got);
        cr_assert_str_eq(got, want, "%.9g printed as %s, %%g gives %s", (double)f, b, r);
    }
}

Test(json, doubles_round_trip_in_their_shortest_form)
{
    char b[32];
    churn_json_double(0.1, b);
    cr_expect_str_eq(b, "0.1");
    churn_json_double(-0.5, b);
    cr_expect_str_eq(b, "-0.5");
    churn_json_double(2, b);
    cr_expect_str_eq(b, "2");
    churn_json_double(0, b);
    cr_expect_str_eq(b, "0");
    churn_json_double(NAN, b);
    cr_expect_str_eq(b, "null");
    churn_json_double(INFINITY, b);
    cr_expect_str_eq(b, "null");
    churn_json_float(1.9f, b);
    cr_expect_str_eq(b, "1.9");
    churn_json_float(-1.406f, b);
    cr_expect_str_eq(b, "-1.406");
    /* any value: reads back exactly, with no more digits than the shortest %.Ng that does */
    unsigned seed = 17;
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        double v = ((double)(seed >> 8) / (1 << 24) - 0.5) * pow(10, (int)(seed % 23) - 11);
        if (i % 3 == 0)
            v = (double)(float)v;
        churn_json_double(v, b);
        cr_assert_eq(strtod(b, NULL), v, "%.17g printed as %s", v, b);
        int shortest = 17;
        for (int p = 1; p <= 17; p++) {
            char r[40];
            snprintf(r, sizeof(r), "%.*g", p, v);
            if (strtod(r, NULL) == v) {
                shortest = p;
                break;
            }
        }
        cr_assert_leq(sig_digits(b), shortest, "%.17g printed as %s, %d digits suffice", v, b,
                      shortest);
        float f = (float)v;
        churn_json_float(f, b);
        cr_assert_eq(strtof(b, NULL), f, "%.9g printed as %s", (double)f, b);
        int fshortest = 9;
        for (int p = 1; p <= 9; p++) {
            char r[40];
            snprintf(r, sizeof(r), "%.*g", p, (double)f);
            if (strtof(r, NULL) == f) {
                fshortest = p;
                break;
            }
        }
        if (fabsf(f) < 1e7f) /* beyond, fixed point writes every digit of the integer */
            cr_assert_leq(sig_digits(b), fshortest, "%.9g printed as %s, %d digits suffice",
                          (double)f, b, fshortest);
    }
    /* the edges of the exact search: powers of two (a closer neighbour below), powers of
     * ten, halfway cases, the ends of the fixed-point range */
    const double edge[] = {0x1p-20,
                           0x1p-3,
                           0x1p40,
                           1e-7,
                           1e-5,
                           0.001,
                           1e14,
                           9.999999999999999e14,
                           0.3,
                           2.675,
                           1.0000000000000002,
                           0.9999999999999999,
                           123456789.125};
    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
        churn_json_double(edge[i], b);
        cr_assert_eq(strtod(b, NULL), edge[i], "%.17g printed as %s", edge[i], b);
        churn_json_double(nextafter(edge[i], 0), b);
        cr_assert_eq(strtod(b, NULL), nextafter(edge[i], 0), "%.17g printed as %s",
                     nextafter(edge[i], 0), b);
        churn_json_float((float)edge[i], b);
        cr_assert_eq(strtof(b, NULL), (float)edge[i], "%.9g printed as %s", edge[i], b);
    }
    churn_json_double(0.3, b);
    cr_expect_str_eq(b, "0.3");
    churn_json_double(1e-5, b);
    cr_expect_str_eq(b, "0.00001");
    for (double v = 1e-300; v < 1e300; v *= 1e37) { /* beyond fixed point: the exponent form */
        churn_json_double(v, b);
        cr_assert_eq(strtod(b, NULL), v, "%.17g printed as %s", v, b);
    }
}

Test(json, an_analysis_as_one_line)
{
    const char *t = "I \"HATE\" this\t\\ \xf0\x9f\x98\xa1 \xea\xb0\x80\x01";
    struct churn_sentiment_result r = analyze(t);
    char out[2048];
    size_t n = churn_sentiment_json(t, strlen(t), &r, out, sizeof(out));
    cr_assert_lt(n, sizeof(out));
    out[n] = '\0';
    cr_expect(
        strncmp(out,
                "{\"text\":\"I \\\"HATE\\\" this\\t\\\\ \\uD83D\\uDE21 \\uAC00\\u0001\","
                "\"language\":\"en\",\"compound\":-",
                strlen("{\"text\":\"I \\\"HATE\\\" this\\t\\\\ \\uD83D\\uDE21 \\uAC00\\u0001\","
                       "\"language\":\"en\",\"compound\":-")) == 0,
        "%s", out);
    cr_expect(strstr(out, "{\"term\":\"hate\",\"kind\":\"word\",\"start\":3,\"end\":7,"), "%s",
              out);
    cr_expect(strstr(out, "\"churn_intent\":false,\"intent_confidence\":0,"), "%s", out);
    cr_expect_eq(out[n - 1], '}');
    for (size_t k = 0; k < n; k++)
        cr_expect((unsigned char)out[k] >= 0x20 && (unsigned char)out[k] < 0x80, "ASCII only");
    /* a buffer too small: the same length back, nothing written past the cap */
    char small[40];
    memset(small, 'Z', sizeof(small));
    cr_expect_eq(churn_sentiment_json(t, strlen(t), &r, small, 30), n);
    cr_expect_eq(memcmp(small, out, 30), 0);
    cr_expect_eq(small[30], 'Z');
    /* every cap, on both sides of the room a string is written in place with: the same
     * prefix, the same length */
    for (size_t cap = 0; cap <= n + 300; cap++) {
        char part[2048];
        memset(part, 'Z', sizeof(part));
        cr_assert_eq(churn_sentiment_json(t, strlen(t), &r, part, cap), n, "cap %zu", cap);
        cr_assert_eq(memcmp(part, out, cap < n ? cap : n), 0, "cap %zu", cap);
        cr_assert_eq(part[cap < n ? cap : n], 'Z', "cap %zu", cap);
    }
}
