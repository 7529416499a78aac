/*
 * sentiment/tokenize.c - the UTF-8 tokenizer of chat text. One validating pass refuses bad
 * UTF-8 with its byte offset, then one scanning pass produces words (case folded, with an
 * ALL-CAPS flag, contractions kept whole, elongations squeezed), numbers and money,
 * emoticons, emoji (with modifiers and ZWJ sequences), URLs, e-mail addresses and
 * punctuation runs. Linear time; memory is a token array and a buffer of normalized forms in
 * the caller's arena, never an allocation per token.
 */
#include "churn/sentiment.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

uint32_t
churn__utf8_decode(const unsigned char *s, size_t len, size_t *adv)
{
    unsigned char c = s[0];
    if (c < 0x80 || len < 2) {
        *adv = 1;
        return c;
    }
    if (c < 0xe0) {
        *adv = 2;
        return ((uint32_t)(c & 0x1f) << 6) | (s[1] & 0x3f);
    }
    if (c < 0xf0 || len < 4) {
        *adv = 3;
        return ((uint32_t)(c & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
    }
    *adv = 4;
    return ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
           ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
}

/* Character classes. */
enum cclass {
    C_SPACE,  /* whitespace, controls and NUL: separate tokens */
    C_IGNORE, /* zero-width and variation selectors: dropped, never separate a word */
    C_LETTER, /* letters of any script */
    C_DIGIT,  /* ASCII digits */
    C_PUNCT,  /* punctuation and symbols */
    C_CURRENCY,
    C_EMOJI,
    C_EMOJI_MOD, /* skin tones, tags: attach to the emoji before them */
};

static inline bool
is_ascii_letter(unsigned char b)
{
    return (unsigned)((b | 0x20) - 'a') < 26u;
}

static inline enum cclass
classify_ascii(unsigned char b)
{
    if (is_ascii_letter(b))
        return C_LETTER;
    if (b <= 0x20 || b == 0x7f)
        return C_SPACE;
    if (b >= '0' && b <= '9')
        return C_DIGIT;
    if (b == '$')
        return C_CURRENCY;
    return C_PUNCT;
}

static enum cclass
classify(uint32_t cp)
{
    if (cp < 0x80)
        return classify_ascii((unsigned char)cp);
    if (cp >= 0xac00 && cp <= 0xd7a3)
        return C_LETTER; /* a Hangul syllable, the bulk of Korean text: none of the ranges below */
    if (cp < 0xa0 || cp == 0x85)
        return C_SPACE; /* C1 controls */
    if (cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
        cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000)
        return C_SPACE;
    if (cp == 0xad || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2060 && cp <= 0x2064) ||
        cp == 0xfeff || (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0x202a && cp <= 0x202e))
        return C_IGNORE;
    if (cp == 0xa2 || cp == 0xa3 || cp == 0xa5 || (cp >= 0x20a0 && cp <= 0x20cf))
        return C_CURRENCY;
    if (cp < 0xc0)
        return (cp == 0xaa || cp == 0xb5 || cp == 0xba) ? C_LETTER : C_PUNCT;
    if (cp == 0xd7 || cp == 0xf7)
        return C_PUNCT;
    if ((cp >= 0x1f3fb && cp <= 0x1f3ff) || (cp >= 0xe0020 && cp <= 0xe007f))
        return C_EMOJI_MOD;
    if ((cp >= 0x1f000 && cp <= 0x1faff) || (cp >= 0x2600 && cp <= 0x27bf) ||
        (cp >= 0x2300 && cp <= 0x23ff) || (cp >= 0x2b00 && cp <= 0x2bff) || cp == 0x203c ||
        cp == 0x2049)
        return C_EMOJI;
    if ((cp >= 0x2010 && cp <= 0x2027) || (cp >= 0x2030 && cp <= 0x205e) ||
        (cp >= 0x2190 && cp <= 0x22ff) || (cp >= 0x2500 && cp <= 0x25ff) ||
        (cp >= 0x3001 && cp <= 0x303f) || (cp >= 0xff01 && cp <= 0xff0f) ||
        (cp >= 0xfff0 && cp <= 0xfffd) || (cp >= 0xe000 && cp <= 0xf8ff))
        return C_PUNCT;
    return C_LETTER;
}

/* Simple case folding that keeps the UTF-8 length (Latin-1, Latin Extended-A, Greek,
 * Cyrillic); other scripts are left as they are. */
static uint32_t
fold(uint32_t cp, int *upper, int *lower)
{
    if (cp < 0x80) {
        if (cp >= 'A' && cp <= 'Z') {
            *upper = 1;
            return cp + 32;
        }
        if (cp >= 'a' && cp <= 'z')
            *lower = 1;
        return cp;
    }
    if ((cp >= 0xc0 && cp <= 0xde && cp != 0xd7) || (cp >= 0x391 && cp <= 0x3ab && cp != 0x3a2) ||
        (cp >= 0x410 && cp <= 0x42f)) {
        *upper = 1;
        return cp + 32;
    }
    if (cp >= 0x400 && cp <= 0x40f) {
        *upper = 1;
        return cp + 80;
    }
    if (cp >= 0x100 && cp <= 0x137) {
        if (!(cp & 1)) {
            *upper = 1;
            return cp + 1;
        }
        *lower = 1;
        return cp;
    }
    if ((cp >= 0xdf && cp <= 0xff) || (cp >= 0x3ac && cp <= 0x3ce) || (cp >= 0x430 && cp <= 0x45f))
        *lower = 1;
    return cp;
}

size_t
churn__utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

struct tokenizer {
    const unsigned char *s;
    size_t len;
    struct churn_arena *arena;
    struct churn_sentiment_token *tok;
    size_t n, cap;
    char *norm;
    size_t norm_len;
    bool has_at; /* the text contains '@': e-mail addresses are possible */
};

static uint32_t
peek(const struct tokenizer *t, size_t i, size_t *adv)
{
    if (i >= t->len) {
        *adv = 0;
        return 0;
    }
    return churn__utf8_decode(t->s + i, t->len - i, adv);
}

static enum cclass
class_at(const struct tokenizer *t, size_t i)
{
    size_t adv;
    if (i >= t->len)
        return C_SPACE;
    return classify(peek(t, i, &adv));
}

/* The class of the code point that ends just before byte @i (C_SPACE at the start). */
static enum cclass
class_before(const struct tokenizer *t, size_t i)
{
    if (i == 0)
        return C_SPACE;
    size_t j = i - 1;
    while (j > 0 && (t->s[j] & 0xc0) == 0x80)
        j--;
    return class_at(t, j);
}

static inline struct churn_sentiment_token *
push(struct tokenizer *t, size_t start, size_t end, size_t norm_start, unsigned kind)
{
    if (t->n == t->cap) {
        size_t cap = t->cap * 2;
        struct churn_sentiment_token *tok = churn_arena_alloc(t->arena, cap * sizeof(*tok));
        if (!tok)
            return NULL;
        memcpy(tok, t->tok, t->n * sizeof(*tok));
        t->tok = tok;
        t->cap = cap;
    }
    struct churn_sentiment_token *k = &t->tok[t->n++];
    k->start = (uint32_t)start;
    k->end = (uint32_t)end;
    k->norm = (uint32_t)norm_start;
    k->norm_len = (uint32_t)(t->norm_len - norm_start);
    k->elong_at = CHURN_TOK_NO_ELONG;
    k->kind = (uint8_t)kind;
    k->flags = 0;
    return k;
}

static void
norm_copy(struct tokenizer *t, size_t from, size_t to, int lower)
{
    for (size_t i = from; i < to; i++) {
        unsigned char c = t->s[i];
        if (lower && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        t->norm[t->norm_len++] = (char)c;
    }
}

static int
is_email_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '%' || c == '+' || c == '-' || c == '@';
}

/* An e-mail address starting at @i (a run start): its end, or 0. *@scanned: where the run of
 * address characters ends, so that no later start inside it is scanned again. */
static size_t
match_email(const struct tokenizer *t, size_t i, size_t *scanned)
{
    size_t j = i, at = 0, ats = 0;
    while (j < t->len && is_email_char(t->s[j])) {
        if (t->s[j] == '@') {
            at = j;
            ats++;
        }
        j++;
    }
    *scanned = j;
    while (j > i && (t->s[j - 1] == '.' || t->s[j - 1] == '-'))
        j--;
    if (ats != 1 || at == i || at + 1 >= j)
        return 0;
    size_t dot = 0;
    for (size_t k = at + 1; k < j; k++)
        if (t->s[k] == '.')
            dot = k;
    if (!dot || dot == at + 1 || j - dot < 3)
        return 0;
    for (size_t k = dot + 1; k < j; k++)
        if (!((t->s[k] | 0x20) >= 'a' && (t->s[k] | 0x20) <= 'z'))
            return 0;
    return j;
}

static int
prefix_ci(const struct tokenizer *t, size_t i, const char *p, size_t n)
{
    if (t->len - i < n)
        return 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = t->s[i + k];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (c != (unsigned char)p[k])
            return 0;
    }
    return 1;
}

/* A URL starting at @i: its end, or 0. */
static size_t
match_url(const struct tokenizer *t, size_t i)
{
    size_t j;
    if (prefix_ci(t, i, "https://", 8))
        j = i + 8;
    else if (prefix_ci(t, i, "http://", 7))
        j = i + 7;
    else if (prefix_ci(t, i, "www.", 4))
        j = i + 4;
    else
        return 0;
    size_t body = j;
    while (j < t->len) {
        unsigned char c = t->s[j];
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"' || c >= 0x80)
            break;
        j++;
    }
    while (j > body && strchr(".,!?;:)]}'", t->s[j - 1]))
        j--;
    return j > body ? j : 0;
}

/* Emoticons, longest first within a shared prefix. */
static const char *const emoticons[] = {
    ">:-(", ">:(", ":'-(", ":'(", ":-((", ":-))", ":-(", ":-)", ":-D", ":-P",
    ":-p",  ":-/", ":-|",  ":-o", ":-O",  ":(",   ":)",  ":D",  ":P",  ":p",
    ":/",   ":|",  ":o",   ":O",  ":@",   ";-)",  ";)",  ";D",  "=)",  "=(",
    "=D",   "</3", "<3",   "^_^", "^^",   "-_-",  "T_T", "xD",  "XD",  "D:",
};

/* First and second characters of the emoticons above. */
static const bool emoticon_start[128] = {
    [':'] = 1, [';'] = 1, ['='] = 1, ['<'] = 1, ['>'] = 1, ['^'] = 1,
    ['-'] = 1, ['x'] = 1, ['X'] = 1, ['D'] = 1, ['T'] = 1,
};
static const bool emoticon_second[128] = {
    [':'] = 1, ['\''] = 1, ['-'] = 1, ['('] = 1, [')'] = 1, ['D'] = 1, ['P'] = 1, ['p'] = 1,
    ['/'] = 1, ['|'] = 1,  ['o'] = 1, ['O'] = 1, ['@'] = 1, ['3'] = 1, ['_'] = 1, ['^'] = 1,
};

static int
is_alnum_at(const struct tokenizer *t, size_t i)
{
    enum cclass c = class_at(t, i);
    return c == C_LETTER || c == C_DIGIT;
}

/* An emoticon starting at @i: its length (repeated final ')' or '(' included), or 0. */
static size_t
match_emoticon(const struct tokenizer *t, size_t i, size_t *base_len)
{
    if (i + 1 >= t->len || t->s[i + 1] >= 0x80 || !emoticon_second[t->s[i + 1]])
        return 0; /* every emoticon has two characters or more */
    for (size_t k = 0; k < sizeof(emoticons) / sizeof(emoticons[0]); k++) {
        const char *e = emoticons[k];
        if ((unsigned char)e[0] != t->s[i] ||
            (i + 1 < t->len && (unsigned char)e[1] != t->s[i + 1]))
            continue;
        size_t n = strlen(e);
        if (t->len - i < n || memcmp(t->s + i, e, n) != 0)
            continue;
        unsigned char first = (unsigned char)e[0], last = (unsigned char)e[n - 1];
        int letter_first = (first | 0x20) >= 'a' && (first | 0x20) <= 'z';
        int letter_last = ((last | 0x20) >= 'a' && (last | 0x20) <= 'z') || last == '3';
        if (letter_first && (class_before(t, i) == C_LETTER || class_before(t, i) == C_DIGIT))
            continue;
        if ((letter_last || letter_first) && is_alnum_at(t, i + n))
            continue;
        size_t end = i + n;
        if (last == ')' || last == '(')
            while (end < t->len && t->s[end] == last)
                end++;
        *base_len = n;
        return end - i;
    }
    return 0;
}

/* ---- the common word, ASCII letters, eight bytes at a time ---- */

#define BYTES(c) CHURN__BYTES(c)

/* A run of ASCII letters being folded into a word: the case seen and the last two letters. */
struct letters {
    size_t upper;         /* upper-case letters, counted up to 2 per step: enough for ALL-CAPS */
    bool lower;           /* a lower-case letter was seen */
    bool elong;           /* a letter three times in a row: scan_word() squeezes it */
    unsigned char p1, p2; /* the last and second last letter, folded; 0 after a mark */
};

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* Does a byte among the first @n - 2 of @y start three equal bytes? */
static inline bool
has_triple(uint64_t y, size_t n)
{
    if (n < 3)
        return false;
    uint64_t z = (y ^ (y >> 8)) | (y ^ (y >> 16)); /* byte k is 0: bytes k, k+1, k+2 equal */
    uint64_t zero = ~(((z & BYTES(0x7f)) + BYTES(0x7f)) | z) & BYTES(0x80);
    return (zero & ((1ull << (8 * (n - 2))) - 1)) != 0;
}

/* Fold the ASCII letters of the eight bytes at @s into @out (all eight bytes are written) and
 * return how many lead them; the case and the last letters go into @r. */
static size_t
fold8(const unsigned char *s, char *out, struct letters *r)
{
    uint64_t x;
    memcpy(&x, s, 8);
    uint64_t lm = churn__letter_bytes(x);
    size_t n = lm == BYTES(0x80) ? 8 : (size_t)__builtin_ctzll(~lm & BYTES(0x80)) / 8;
    if (n == 0)
        return 0;
    uint64_t y = x | BYTES(0x20);
    memcpy(out, &y, 8);
    lm &= n == 8 ? ~0ull : (1ull << (8 * n)) - 1;
    uint64_t caps = ((~x & BYTES(0x20)) << 2) & lm; /* bit 5 clear: upper case */
    r->upper += (caps != 0) + ((caps & (caps - 1)) != 0);
    r->lower |= (((x & BYTES(0x20)) << 2) & lm) != 0;
    unsigned char y0 = (unsigned char)y, y1 = (unsigned char)(y >> 8);
    if ((y0 == r->p1 && y0 == r->p2) || (n >= 2 && y0 == r->p1 && y1 == y0) || has_triple(y, n))
        r->elong = true;
    r->p2 = n >= 2 ? (unsigned char)(y >> (8 * (n - 2))) : r->p1;
    r->p1 = (unsigned char)(y >> (8 * (n - 1)));
    return n;
}
#endif

/* Fold the ASCII letters at @s (up to @end) into @out one at a time; returns how many. */
static size_t
fold_bytes(const unsigned char *s, const unsigned char *end, char *out, struct letters *r)
{
    size_t n = 0;
    for (; s + n < end && is_ascii_letter(s[n]); n++) {
        unsigned char f = (unsigned char)(s[n] | 0x20);
        r->elong |= f == r->p1 && f == r->p2;
        r->upper += s[n] < 'a';
        r->lower |= s[n] >= 'a';
        out[n] = (char)f;
        r->p2 = r->p1;
        r->p1 = f;
    }
    return n;
}

/* The common word: ASCII letters, perhaps with inner apostrophes or hyphens, no letter three
 * times in a row (nothing to squeeze), ended by an ASCII byte that cannot continue a word.
 * Pushes it and sets *@next to its end; false (nothing pushed) for anything else, which
 * scan_word() then takes from the start. @i is at an ASCII letter. Normalized forms never
 * outgrow the text (t->norm_len <= @i), so eight bytes written at the word's place in t->norm
 * stay inside it while eight bytes are read inside the text. */
static bool
scan_ascii_word(struct tokenizer *t, size_t i, size_t *next)
{
    const unsigned char *const s = t->s;
    const size_t len = t->len;
    char *const norm = t->norm + t->norm_len;
    struct letters r = {0};
    size_t j = i;
    unsigned flags = 0;
    if (t->n == t->cap)
        return false; /* scan_word() grows the token array */
    for (;;) {
        size_t n;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (j + 8 <= len) {
            n = fold8(s + j, norm + (j - i), &r);
            j += n;
            if (n == 8)
                continue;
        } else
#endif
        {
            n = fold_bytes(s + j, s + len, norm + (j - i), &r);
            j += n;
        }
        if (r.elong)
            return false;
        if (j == len)
            break;
        unsigned char b = s[j];
        if (b >= 0x80 || (b >= '0' && b <= '9'))
            return false; /* may continue the word: a letter of another script, a digit */
        if ((b != '\'' && b != '-') || j + 1 == len)
            break;
        if (s[j + 1] >= 0x80)
            return false;
        if (!is_ascii_letter(s[j + 1]))
            break;
        norm[j - i] = (char)b; /* an inner apostrophe or hyphen */
        flags |= b == '\'' ? CHURN_TOK_F_CONTRACTION : 0;
        r.p1 = r.p2 = 0;
        j++;
    }
    t->norm_len += j - i;
    struct churn_sentiment_token *k = push(t, i, j, t->norm_len - (j - i), CHURN_TOK_WORD);
    if (r.upper >= 2 && !r.lower)
        flags |= CHURN_TOK_F_ALLCAPS;
    k->flags = (uint8_t)flags;
    *next = j;
    return true;
}

static enum churn_err
scan_word(struct tokenizer *t, size_t i, size_t *next)
{
    /* locals, not t->...: stores through char * would make the compiler reload every field */
    const unsigned char *const s = t->s;
    const size_t len = t->len;
    char *const norm = t->norm;
    size_t nl = t->norm_len;
    size_t start = i, nstart = nl;
    int upper = 0, lower = 0, letters = 0, flags = 0;
    size_t run_start = 0, run_len = 0;
    uint32_t run_cp = 0;
    uint16_t elong_at = CHURN_TOK_NO_ELONG;
    int all_digits = 1;
    bool last_jamo = false; /* the last letter was a compatibility jamo */
    size_t end = i;

    while (i < len) {
        size_t adv;
        uint32_t cp;
        enum cclass c;
        unsigned char b = s[i];
        if ((unsigned)((b | 0x20) - 'a') < 26u) { /* an ASCII letter: the common case */
            if (last_jamo && letters > 0)
                break;
            unsigned char f = (unsigned char)(b | 0x20);
            upper += b < 'a';
            lower += b >= 'a';
            letters++;
            all_digits = 0;
            if (f == run_cp && run_len > 0) {
                if (++run_len == 3)
                    nl = run_start + 1; /* squeeze: keep one letter of the run */
                else if (run_len < 3)
                    norm[nl++] = (char)f;
            } else {
                if (run_len >= 3) {
                    if (elong_at == CHURN_TOK_NO_ELONG && run_start - nstart < CHURN_TOK_NO_ELONG)
                        elong_at = (uint16_t)(run_start - nstart);
                    flags |= CHURN_TOK_F_ELONGATED;
                }
                run_cp = f;
                run_start = nl;
                run_len = 1;
                norm[nl++] = (char)f;
            }
            end = ++i;
            continue;
        }
        if (b >= 0xea && b <= 0xed && i + 2 < len) {
            /* a Hangul syllable, the common case of Korean chat: a letter without case */
            uint32_t h =
                (uint32_t)(b & 0x0f) << 12 | (uint32_t)(s[i + 1] & 0x3f) << 6 | (s[i + 2] & 0x3f);
            if (h >= 0xac00 && h <= 0xd7a3) {
                if (last_jamo && letters > 0)
                    break;
                all_digits = 0;
                for (;;) { /* the syllables that follow, in a loop of their own */
                    letters++;
                    if (h == run_cp && run_len > 0) {
                        if (++run_len == 3)
                            nl = run_start + 3; /* squeeze: keep one syllable of the run */
                        else if (run_len < 3)
                            memcpy(norm + nl, s + i, 3), nl += 3;
                    } else {
                        if (run_len >= 3) {
                            if (elong_at == CHURN_TOK_NO_ELONG &&
                                run_start - nstart < CHURN_TOK_NO_ELONG)
                                elong_at = (uint16_t)(run_start - nstart);
                            flags |= CHURN_TOK_F_ELONGATED;
                        }
                        run_cp = h;
                        run_start = nl;
                        run_len = 1;
                        memcpy(norm + nl, s + i, 3);
                        nl += 3;
                    }
                    i += 3;
                    if (i + 2 >= len || s[i] < 0xea || s[i] > 0xed)
                        break;
                    h = (uint32_t)(s[i] & 0x0f) << 12 | (uint32_t)(s[i + 1] & 0x3f) << 6 |
                        (s[i + 2] & 0x3f);
                    if (h < 0xac00 || h > 0xd7a3)
                        break;
                }
                end = i;
                continue;
            }
        }
        if (b < 0x80) { /* other ASCII */
            cp = b;
            adv = 1;
            c = (b | 0x20) >= 'a' && (b | 0x20) <= 'z' ? C_LETTER
                : b >= '0' && b <= '9'                 ? C_DIGIT
                                                       : C_PUNCT;
        } else {
            cp = peek(t, i, &adv);
            c = classify(cp);
        }
        if (c == C_IGNORE) {
            i += adv;
            continue;
        }
        if (c == C_LETTER || c == C_DIGIT) {
            /* Hangul compatibility jamo (ㅋㅋ, ㅠㅠ) never join other letters into one word:
             * "좋아요ㅋㅋ" is a word and a laughter marker */
            bool jamo = cp >= 0x3131 && cp <= 0x318e;
            if (c == C_LETTER && letters > 0 && jamo != last_jamo)
                break;
            if (c == C_LETTER)
                last_jamo = jamo;
            int up = 0, lo = 0;
            uint32_t f;
            if (cp < 0x80) {
                f = c == C_LETTER ? (cp | 0x20) : cp;
                up = c == C_LETTER && cp < 'a';
                lo = c == C_LETTER && cp >= 'a';
            } else {
                f = fold(cp, &up, &lo);
            }
            upper += up;
            lower += lo;
            if (c == C_LETTER) {
                letters++;
                all_digits = 0;
            }
            if (c == C_LETTER && f == run_cp && run_len > 0) {
                run_len++;
            } else {
                if (run_len >= 3) {
                    if (elong_at == CHURN_TOK_NO_ELONG && run_start - nstart < CHURN_TOK_NO_ELONG)
                        elong_at = (uint16_t)(run_start - nstart);
                    flags |= CHURN_TOK_F_ELONGATED;
                }
                run_cp = c == C_LETTER ? f : 0;
                run_start = nl;
                run_len = 1;
            }
            if (run_len < 3) {
                if (f < 0x80)
                    norm[nl++] = (char)f;
                else
                    nl += churn__utf8_encode(f, norm + nl);
            } else if (run_len == 3) {
                /* squeeze: keep one letter of the run */
                nl = run_start + churn__utf8_encode(f, norm + run_start);
            }
            i += adv;
            end = i;
            continue;
        }
        /* inner apostrophe or hyphen between letters */
        if ((cp == '\'' || cp == 0x2019 || cp == 0x2018 || cp == 0x2bc || cp == '-') &&
            letters > 0) {
            size_t adv2;
            uint32_t nx = peek(t, i + adv, &adv2);
            if (adv2 && classify(nx) == C_LETTER) {
                norm[nl++] = cp == '-' ? '-' : '\'';
                if (cp != '-')
                    flags |= CHURN_TOK_F_CONTRACTION;
                run_len = 0;
                run_cp = 0;
                i += adv;
                continue;
            }
        }
        break;
    }
    if (run_len >= 3) {
        if (elong_at == CHURN_TOK_NO_ELONG && run_start - nstart < CHURN_TOK_NO_ELONG)
            elong_at = (uint16_t)(run_start - nstart);
        flags |= CHURN_TOK_F_ELONGATED;
    }
    t->norm_len = nl; /* trailing ignorables are not part of the token span */
    struct churn_sentiment_token *k = push(t, start, end, nstart, CHURN_TOK_WORD);
    if (!k)
        return CHURN_ENOMEM;
    if (all_digits)
        k->kind = CHURN_TOK_NUMBER;
    if (upper >= 2 && lower == 0)
        flags |= CHURN_TOK_F_ALLCAPS;
    k->flags = (uint8_t)flags;
    k->elong_at = elong_at;
    *next = i;
    return 0;
}

/* A number: digits with inner separators, an optional % or trailing currency symbol. */
static size_t
scan_number(const struct tokenizer *t, size_t i, int *money)
{
    while (i < t->len) {
        unsigned char c = t->s[i];
        if (c >= '0' && c <= '9') {
            i++;
        } else if ((c == '.' || c == ',') && i + 1 < t->len && t->s[i + 1] >= '0' &&
                   t->s[i + 1] <= '9') {
            i++;
        } else {
            break;
        }
    }
    if (i < t->len && t->s[i] == '%')
        return i + 1;
    if (i < t->len) {
        size_t adv;
        uint32_t cp = peek(t, i, &adv);
        if (classify(cp) == C_CURRENCY) {
            *money = 1;
            return i + adv;
        }
    }
    return i;
}

static enum churn_err
scan_emoji(struct tokenizer *t, size_t i, size_t *next)
{
    size_t start = i, adv;
    uint32_t cp = peek(t, i, &adv);
    size_t nstart = t->norm_len;
    t->norm_len +=
        churn__utf8_encode(cp, t->norm + t->norm_len); /* the base pictograph is the key */
    int regional = cp >= 0x1f1e6 && cp <= 0x1f1ff;
    i += adv;
    if (regional && i < t->len) {
        uint32_t cp2 = peek(t, i, &adv);
        if (cp2 >= 0x1f1e6 && cp2 <= 0x1f1ff)
            i += adv;
    }
    for (;;) {
        if (i >= t->len)
            break;
        uint32_t nx = peek(t, i, &adv);
        enum cclass c = classify(nx);
        if (c == C_EMOJI_MOD || nx == 0xfe0f || nx == 0xfe0e || nx == 0x20e3) {
            i += adv;
            continue;
        }
        if (nx == 0x200d) { /* zero-width joiner: the next pictograph belongs to this one */
            size_t adv2;
            uint32_t after = peek(t, i + adv, &adv2);
            if (adv2 && classify(after) == C_EMOJI) {
                i += adv + adv2;
                continue;
            }
        }
        break;
    }
    if (!push(t, start, i, nstart, CHURN_TOK_EMOJI))
        return CHURN_ENOMEM;
    *next = i;
    return 0;
}

const char *
churn_sentiment_token_kind_name(enum churn_sentiment_token_kind kind)
{
    static const char *const names[] = {"word",  "number", "money", "emoticon",
                                        "emoji", "url",    "email", "punct"};
    if ((unsigned)kind >= sizeof(names) / sizeof(names[0]))
        return "unknown";
    return names[kind];
}

/* May a URL or an e-mail address start at @i (after a space, punctuation or an emoji)? */
static bool
run_start(const struct tokenizer *t, size_t i)
{
    enum cclass before = class_before(t, i);
    return before == C_SPACE || before == C_PUNCT || before == C_EMOJI;
}

static enum churn_err
tokenize(struct tokenizer *t)
{
    size_t i = 0, no_email_before = 0;
    while (i < t->len) {
        size_t adv = 1;
        uint32_t cp = t->s[i];
        enum cclass c;
        if (cp < 0x80) {
            c = classify_ascii((unsigned char)cp);
        } else {
            cp = peek(t, i, &adv);
            c = classify(cp);
        }
        size_t end, base;

        if (c == C_SPACE || c == C_IGNORE || c == C_EMOJI_MOD) {
            i += adv;
            continue;
        }
        if ((cp == 'h' || cp == 'H' || cp == 'w' || cp == 'W') && (end = match_url(t, i)) &&
            run_start(t, i)) {
            size_t n0 = t->norm_len;
            norm_copy(t, i, end, 0);
            if (!push(t, i, end, n0, CHURN_TOK_URL))
                return CHURN_ENOMEM;
            i = end;
            continue;
        }
        if (t->has_at && i >= no_email_before && cp < 0x80 && is_email_char((unsigned char)cp) &&
            cp != '@' && run_start(t, i) && (end = match_email(t, i, &no_email_before))) {
            size_t n0 = t->norm_len;
            norm_copy(t, i, end, 1);
            if (!push(t, i, end, n0, CHURN_TOK_EMAIL))
                return CHURN_ENOMEM;
            i = end;
            continue;
        }
        if (cp < 0x80 && emoticon_start[cp] && (end = match_emoticon(t, i, &base))) {
            size_t n0 = t->norm_len;
            norm_copy(t, i, i + base, 1);
            struct churn_sentiment_token *k = push(t, i, i + end, n0, CHURN_TOK_EMOTICON);
            if (!k)
                return CHURN_ENOMEM;
            if (end > base)
                k->flags |= CHURN_TOK_F_ELONGATED;
            i += end;
            continue;
        }
        if (c == C_CURRENCY) {
            size_t adv2;
            uint32_t nx = peek(t, i + adv, &adv2);
            if (adv2 && nx >= '0' && nx <= '9') {
                int money = 0;
                end = scan_number(t, i + adv, &money);
                size_t n0 = t->norm_len;
                norm_copy(t, i, end, 1);
                if (!push(t, i, end, n0, CHURN_TOK_MONEY))
                    return CHURN_ENOMEM;
                i = end;
                continue;
            }
        }
        if (c == C_DIGIT) {
            int money = 0;
            end = scan_number(t, i, &money);
            if (end < t->len && !money && class_at(t, end) == C_LETTER && t->s[end - 1] != '%') {
                /* "4g", "2fa", "3rd": a word */
                size_t nx;
                enum churn_err err = scan_word(t, i, &nx);
                if (err)
                    return err;
                i = nx;
                continue;
            }
            size_t n0 = t->norm_len;
            norm_copy(t, i, end, 1);
            if (!push(t, i, end, n0, money ? CHURN_TOK_MONEY : CHURN_TOK_NUMBER))
                return CHURN_ENOMEM;
            i = end;
            continue;
        }
        if (c == C_LETTER) {
            size_t nx;
            if (cp >= 0x80 || !scan_ascii_word(t, i, &nx)) {
                enum churn_err err = scan_word(t, i, &nx);
                if (err)
                    return err;
            }
            i = nx;
            continue;
        }
        if (c == C_EMOJI) {
            size_t nx;
            enum churn_err err = scan_emoji(t, i, &nx);
            if (err)
                return err;
            i = nx;
            continue;
        }
        /* punctuation */
        size_t n0 = t->norm_len;
        if (cp == '!' || cp == '?') {
            end = i;
            while (end < t->len && (t->s[end] == '!' || t->s[end] == '?'))
                end++;
            norm_copy(t, i, end, 0);
        } else if (cp == '.') {
            end = i;
            while (end < t->len && t->s[end] == '.')
                end++;
            norm_copy(t, i, end, 0);
        } else if (cp == 0x2026) {
            end = i + adv;
            memcpy(t->norm + t->norm_len, "...", 3);
            t->norm_len += 3;
        } else if (cp == 0x2019 || cp == 0x2018) {
            end = i + adv;
            t->norm[t->norm_len++] = '\'';
        } else if (cp == 0x201c || cp == 0x201d) {
            end = i + adv;
            t->norm[t->norm_len++] = '"';
        } else {
            end = i + adv;
            norm_copy(t, i, end, 0);
        }
        if (!push(t, i, end, n0, CHURN_TOK_PUNCT))
            return CHURN_ENOMEM;
        i = end;
    }
    return 0;
}

enum churn_err
churn_sentiment_tokenize(const char *text, size_t len, struct churn_arena *scratch,
                         struct churn_sentiment_tokens *out, char *errbuf, size_t errlen)
{
    if (!text && len)
        return CHURN_EINVAL;
    if (len > CHURN_SENTIMENT_MAX_TEXT_LIMIT) {
        churn_errf(errbuf, errlen, "text of %zu bytes is over the limit of %d bytes", len,
                   CHURN_SENTIMENT_MAX_TEXT_LIMIT);
        return CHURN_ETOOBIG;
    }
    size_t bad = churn_utf8_check(text, len);
    if (bad != len) {
        churn_errf(errbuf, errlen, "invalid UTF-8 at byte %zu", bad);
        return CHURN_EINVAL;
    }
    return churn__tokenize_valid(text, len, scratch, out, errbuf, errlen);
}

enum churn_err
churn__tokenize_valid(const char *text, size_t len, struct churn_arena *scratch,
                      struct churn_sentiment_tokens *out, char *errbuf, size_t errlen)
{
    struct tokenizer t = {.s = (const unsigned char *)text, .len = len, .arena = scratch};
    t.has_at = len && memchr(text, '@', len) != NULL;
    t.cap = len / 4 + 16;
    /* one block: the tokens, then the normalized forms, which never outgrow the text (+4 for
     * the "..." of a lone U+2026); a token array that fills up is replaced, not grown */
    char *block = churn_arena_alloc(scratch, t.cap * sizeof(*t.tok) + len + 4);
    if (!block)
        goto out_nomem;
    t.tok = (struct churn_sentiment_token *)(void *)block;
    t.norm = block + t.cap * sizeof(*t.tok);
    if (tokenize(&t) != 0)
        goto out_nomem;
    out->tok = t.tok;
    out->n = t.n;
    out->norm = t.norm;
    return 0;

out_nomem:
    churn_errf(errbuf, errlen, "scratch memory exhausted tokenizing %zu bytes", len);
    return CHURN_ENOMEM;
}
