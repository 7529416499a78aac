/*
 * sentiment/spacing.c - Korean words run together in chat (띄어쓰기 errors: 환불이안돼요,
 * 정말감사합니다, 상담원이불친절해요) split where the lexicon says so. Only a word the lexicon
 * knows nothing about (neither its surface nor its stem, as a word or as part of a phrase), of
 * at least four Hangul syllables
 * written as they are (nothing normalized inside it), is tried: it is cut after a known word
 * or modifier (정말, 너무, 덕분에, 상담원) or after a particle (환불이, 답변이) when what follows
 * is known, may continue a phrase the first piece starts, or can itself be cut (two levels
 * deep: 답변이|너무|늦어요); what is left is tried again until it is known. The cut pieces become
 * tokens of their own, so negation, boosters and phrases see them as if the customer had typed the
 * spaces.
 */
#include <string.h>

#include "internal.h"

#define MAX_SYL 32 /* syllables of one run-together word considered */

/* What the lexicon holds for @p (@n bytes). */
static void
lookup(const struct churn_sentiment *s, struct churn__thread *th, const char *p, size_t n,
       struct churn__word *w)
{
    churn__word_lookup(s, th, p, n, churn__hash_word(p, n), w);
}

static bool
known(const struct churn__word *w)
{
    return w->surf.entry >= 0 || w->stem_match.entry >= 0;
}

/* Is the syllable at @p (3 bytes) a particle that ends a noun (이 가 은 는 을 를 도 에 만)? */
static bool
particle_syllable(const char *p)
{
    static const char *const particles[] = {"이", "가", "은", "는", "을", "를", "도", "에", "만"};
    for (size_t i = 0; i < sizeof(particles) / sizeof(particles[0]); i++)
        if (memcmp(p, particles[i], 3) == 0)
            return true;
    return false;
}

/* Does @p (@n bytes) begin with a particle of two syllables that never begins a word (까지,
 * 부터, 에서, 처럼, 만큼, 마다, 한테, 에게, 께서)? A cut before one splits a noun from its
 * particle: 언제까지예요 is no 언제 + 까지예요 (까지다, to be scraped). */
static bool
particle_start(const char *p, size_t n)
{
    static const char two[][7] = {"까지", "부터", "에서", "처럼", "만큼",
                                  "마다", "한테", "에게", "께서"};
    for (size_t i = 0; n >= 6 && i < sizeof(two) / sizeof(two[0]); i++)
        if (memcmp(p, two[i], 6) == 0)
            return true;
    return false;
}

/* How many syllables @p (@n bytes of valid UTF-8 from a character boundary) has when it is
 * Hangul syllables only (3 bytes each), else 0. In valid UTF-8, a lead byte 0xea-0xed starts
 * a three-byte character, so the syllable is decoded without the general decoder. */
static size_t
syllables(const char *p, size_t n)
{
    if (n % 3 || n / 3 > MAX_SYL)
        return 0;
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < n; i += 3) {
        if (u[i] < 0xea || u[i] > 0xed)
            return 0;
        uint32_t cp =
            (uint32_t)(u[i] & 0x0f) << 12 | (uint32_t)(u[i + 1] & 0x3f) << 6 | (u[i + 2] & 0x3f);
        if (cp < 0xac00 || cp > 0xd7a3)
            return 0;
    }
    return n / 3;
}

/* The first cut of the unknown word @p (@n bytes of syllables): the byte length of its first
 * piece (at least two syllables, and two left after it), 0 for none. */
static size_t
first_cut(const struct churn_sentiment *s, struct churn__thread *th, const char *p, size_t n,
          int depth)
{
    size_t ns = n / 3;
    for (size_t j = 2; j + 1 < ns; j++) {
        struct churn__word left, right;
        size_t cut = 3 * j;
        lookup(s, th, p, cut, &left);
        bool left_ok = known(&left) || left.surf.prefix || left.stem_match.prefix ||
                       (j >= 3 && particle_syllable(p + cut - 3));
        if (!left_ok || particle_start(p + cut, n - cut))
            continue;
        lookup(s, th, p + cut, n - cut, &right);
        bool phrase = (left.surf.prefix || left.stem_match.prefix) &&
                      (right.surf.later || right.stem_match.later);
        if (known(&right) || phrase)
            return cut;
        if (depth > 0 && n - cut >= 12 && first_cut(s, th, p + cut, n - cut, depth - 1))
            return cut; /* 답변이|너무|늦어요 */
    }
    return 0;
}

/* May token @t be a run-together word: a word of Hangul syllables only, of at least four,
 * its normalized form its text byte for byte, that the lexicon does not know? */
static bool
candidate(const struct churn_sentiment *s, struct churn__thread *th, const char *text,
          const struct churn_sentiment_tokens *toks, const struct churn_sentiment_token *t)
{
    size_t n = t->end - t->start;
    if (t->kind != CHURN_TOK_WORD || t->flags || t->norm_len != n || n < 12 ||
        memcmp(toks->norm + t->norm, text + t->start, n) != 0)
        return false;
    if (syllables(text + t->start, n) < 4)
        return false;
    struct churn__word w;
    lookup(s, th, text + t->start, n, &w);
    return !known(&w) && !w.surf.prefix && !w.stem_match.prefix && !w.surf.later &&
           !w.stem_match.later; /* nor one a phrase may go on with: 구독 그만할게요 */
}

/* Append token @t cut into pieces at the lexicon's word boundaries to @out. */
static size_t
cut_word(const struct churn_sentiment *s, struct churn__thread *th, const char *text,
         const struct churn_sentiment_token *t, struct churn_sentiment_token *out)
{
    size_t n = 0, from = 0, len = t->end - t->start;
    const char *p = text + t->start;
    while (len - from >= 12) {
        struct churn__word rest;
        lookup(s, th, p + from, len - from, &rest);
        size_t cut = known(&rest) ? 0 : first_cut(s, th, p + from, len - from, 2);
        if (!cut)
            break;
        out[n] = *t;
        out[n].start = t->start + (uint32_t)from;
        out[n].end = out[n].start + (uint32_t)cut;
        out[n].norm = t->norm + (uint32_t)from;
        out[n].norm_len = (uint32_t)cut;
        n++;
        from += cut;
    }
    out[n] = *t;
    out[n].start = t->start + (uint32_t)from;
    out[n].norm = t->norm + (uint32_t)from;
    out[n].norm_len = (uint32_t)(len - from);
    return n + 1;
}

enum churn_err
churn__ko_split_spacing(const struct churn_sentiment *s, struct churn__thread *th, const char *text,
                        struct churn_sentiment_tokens *toks, struct churn_arena *scratch)
{
    size_t first = toks->n;
    for (size_t i = 0; i < toks->n && first == toks->n; i++)
        if (candidate(s, th, text, toks, &toks->tok[i]))
            first = i;
    if (first == toks->n)
        return 0;
    size_t cap = toks->n;
    for (size_t i = first; i < toks->n; i++)
        cap += (toks->tok[i].end - toks->tok[i].start) / 3;
    struct churn_sentiment_token *out = churn_arena_alloc(scratch, cap * sizeof(*out));
    if (!out)
        return CHURN_ENOMEM;
    memcpy(out, toks->tok, first * sizeof(*out));
    size_t n = first;
    for (size_t i = first; i < toks->n; i++) {
        if (candidate(s, th, text, toks, &toks->tok[i]))
            n += cut_word(s, th, text, &toks->tok[i], out + n);
        else
            out[n++] = toks->tok[i];
    }
    toks->tok = out;
    toks->n = n;
    return 0;
}
