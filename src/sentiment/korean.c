/*
 * sentiment/korean.c - the Korean morphological reducer, written for churnd (libstemmer has
 * no Korean algorithm). A Korean word as written in chat (an eojeol) is a stem with particles
 * (배송이, 환불을, 상담원이랑) or endings (늦어서, 싶어요, 했어요, 감사합니다) attached; the
 * reducer strips them back to the stem so that one lexicon entry matches every form. It works
 * on Hangul syllables decomposed arithmetically (Unicode 3.12: lead, vowel, tail), strips the
 * longest particle or ending it recognizes, undoes the contractions of the 아/어 form (했 → 하,
 * 됐 → 되, 봐 → 보, 어려워 → 어렵, 아파 → 아프, 몰라 → 모르), auxiliaries (해주 → 하) and the
 * light verbs 하다/되다/시키다/당하다/스럽다 after a noun of two syllables or more (환불하 →
 * 환불). Lexicon terms are reduced differently: a term ending in 다 is a predicate in its
 * dictionary form (늦다 → 늦), anything else a noun or adverb that loses a particle at most,
 * so that nouns ending in a syllable that looks like an ending (해지, 최고) stay whole. Chat
 * markers made of compatibility jamo are reduced to one canonical form each (ㅋㅋㅋ → ㅋㅋ,
 * ㅜㅜ → ㅠㅠ). Pure functions: no state, no allocation, safe from any thread.
 */
#include <pthread.h>
#include <string.h>

#include "churn/sentiment_ko.h"
#include "internal.h"

#define MAX_CP 64 /* code points of one word; longer words are left as they are */

#define SYL_FIRST 0xac00
#define SYL_LAST  0xd7a3

/* Jamo indexes (Unicode's order of leads, vowels and tails). */
enum {
    L_G = 0,
    L_GG = 1,
    L_N = 2,
    L_DD = 4,
    L_SS = 10,
    L_K = 15,
    L_D = 3,
    L_R = 5,
    L_M = 6,
    L_B = 7,
    L_BB = 8,
    L_S = 9,
    L_NG = 11,
    L_J = 12,
    L_C = 14,
    L_P = 17,
    L_H = 18
};
enum {
    V_A = 0,
    V_AE = 1,
    V_EO = 4,
    V_E = 5,
    V_YEO = 6,
    V_O = 8,
    V_WA = 9,
    V_WAE = 10,
    V_OE = 11,
    V_U = 13,
    V_WO = 14,
    V_EU = 18,
    V_I = 20
};
enum { T_NONE = 0, T_N = 4, T_R = 8, T_M = 16, T_B = 17, T_SS = 20, T_NG = 21 };

static bool
is_syl(uint32_t c)
{
    return c >= SYL_FIRST && c <= SYL_LAST;
}

static int
lead(uint32_t c)
{
    return (int)((c - SYL_FIRST) / 588);
}

static int
vowel(uint32_t c)
{
    return (int)((c - SYL_FIRST) % 588 / 28);
}

static int
tail(uint32_t c)
{
    return (int)((c - SYL_FIRST) % 28);
}

static uint32_t
syl(int l, int v, int t)
{
    return SYL_FIRST + (uint32_t)(l * 588 + v * 28 + t);
}

static uint32_t
with_tail(uint32_t c, int t)
{
    return syl(lead(c), vowel(c), t);
}

/* A compatibility jamo standing for a tail at the start of an ending ("ㅂ니다"): its tail
 * index, or 0. */
static int
jamo_tail(uint32_t c)
{
    switch (c) {
    case 0x3134:
        return T_N; /* ㄴ */
    case 0x3139:
        return T_R; /* ㄹ */
    case 0x3141:
        return T_M; /* ㅁ */
    case 0x3142:
        return T_B; /* ㅂ */
    default:
        return 0;
    }
}

/* ---- suffix tables, decoded once ---- */

enum suffix_kind {
    SUF_PARTICLE, /* after a noun: stripping one ends the reduction */
    SUF_PLAIN,    /* an ending on the bare stem */
    SUF_INF,      /* an ending on the 아/어 form: the form's contraction is undone after it */
};

struct suffix {
    const char *text;
    uint8_t kind;
    uint8_t min_rest; /* syllables that must remain */
    uint8_t follows;  /* A, C, V or R (particles); F: only after the 아/어 form */
};

/* what a suffix follows: anything, a consonant, a vowel, a vowel or ㄹ, the 아/어 form, one of
 * the stems 있, 없 (the question 있나요, 없나요; 화나요 and 짜증나요 are 나다), the past tail ㅆ
 * (the hearsay 했대요; 기대, 상대, 절대 are nouns) */
enum { A, C, V, R, F, Q, S };

#define P(s, r, f)                                                                                 \
    {                                                                                              \
        s, SUF_PARTICLE, r, f                                                                      \
    }
#define E(s)                                                                                       \
    {                                                                                              \
        s, SUF_PLAIN, 1, A                                                                         \
    }
#define I(s)                                                                                       \
    {                                                                                              \
        s, SUF_INF, 1, A                                                                           \
    }
/* an ending on the 아/어 form that nouns also end in: only after an unambiguous 아/어 form
 * (좋아용, 감사해용; not 이용, 사용, 비용) */
#define IF(s)                                                                                      \
    {                                                                                              \
        s, SUF_INF, 1, F                                                                           \
    }

/* clang-format off */
static const struct suffix suffixes[] = {
    /* particles and the copula on nouns; C: after a consonant-final noun only (배송이,
     * 환불을), V: after a vowel-final noun only (문제가, 서비스를) */
    P("이에요", 1, C), P("이예요", 1, C), P("예요", 1, V), P("입니다", 1, A), P("이었어요", 1, C), P("였어요", 1, V),
    P("이요", 1, C), P("이고", 1, C), P("이라서", 1, C), P("이라", 1, C), P("라서", 1, V), P("이어서", 1, C), P("여서", 1, V), P("이라고", 1, C), P("이라도", 1, C),
    P("라도", 1, V), P("이랑", 1, C), P("랑", 1, V), P("이나", 1, C), P("인데", 1, A), P("인데요", 1, A), P("인가요", 1, A),
    P("이네요", 1, A), P("임", 2, A), P("에서는", 1, A), P("에서도", 1, A), P("에서", 1, A), P("에게서", 1, A),
    P("에게", 1, A), P("에는", 1, A), P("에도", 1, A), P("에다", 1, A), P("한테서", 1, A), P("한테", 1, A),
    P("께서", 1, A), P("께", 2, A), P("으로는", 1, C), P("으로도", 1, C), P("으로", 1, C), P("로는", 2, R), P("로도", 2, R),
    P("로", 2, R), P("까지", 1, A), P("부터", 1, A),
    /* particles stacked on 부터/까지/한테/에게 (다음 달부터는, 저한테도) */
    P("부터는", 1, A), P("부터도", 1, A), P("까지는", 1, A), P("까지도", 1, A), P("한테는", 1, A),
    P("한테도", 1, A), P("에게는", 1, A), P("에게도", 1, A), P("처럼", 1, A), P("보다", 1, A), P("마다", 1, A),
    P("만큼", 1, A), P("밖에", 1, A), P("마저", 1, A), P("조차", 1, A), P("든지", 2, A), P("와", 1, V),
    P("과", 1, C), P("의", 2, A), P("에", 1, A), P("도", 1, A), P("만", 1, A), P("은", 1, C),
    P("는", 1, V), P("을", 1, C), P("를", 1, V), P("이", 1, C), P("가", 1, V),
    /* endings on the stem */
    E("습니다"), E("습니까"), E("ㅂ니다"), E("ㅂ니까"), E("ㅂ시다"), E("네요"), E("네여"), E("네용"), E("네"), E("군요"),
    E("는군요"), E("구나"), E("는구나"), E("구요"), E("고요"), E("고"), E("지요"), E("죠"), E("지"), E("지만"),
    E("지만요"), E("는데"), E("는데요"), E("은데"), E("은데요"), E("ㄴ데"), E("ㄴ데요"), E("던데"), E("던데요"),
    E("더라고요"), E("더라구요"), E("더라고"), E("더라"), E("거든요"), E("거든"), E("잖아요"), E("잖아"), E("니까"),
    E("니까요"), E("으니까"), E("니깐"), E("으니깐"), E("으니"), E("니"), E("면"), E("으면"), E("면요"), E("려고"),
    E("려고요"), E("려구요"), E("으려고"), E("으려고요"), E("려다가"), E("으려다가"), E("려다"), E("으려다"), E("려던"), E("으려던"), E("려면"), E("으려면"), E("게"), E("게요"), E("다"), E("는다"),
    E("ㄴ다"), E("다고"), E("다고요"), E("다구요"), E("다는"), E("다던"), E("다던데"), E("다던데요"),
    {"대요", SUF_PLAIN, 1, S}, {"대", SUF_PLAIN, 1, S}, E("다면"), E("는다고"), E("ㄴ다고"), E("냐고"), E("자고"),
    E("냐"), {"나요", SUF_PLAIN, 1, Q}, E("는가요"), E("은가요"), E("ㄴ가요"), E("는지"), E("은지"), E("ㄴ지"), E("을지"), E("ㄹ지"), E("도록"), E("세요"), E("으세요"), E("셔요"),
    E("시죠"), E("십시오"), E("으십시오"), E("십니다"), E("으십니다"), E("던"), E("을게요"), E("ㄹ게요"), E("을게"),
    E("ㄹ게"), E("을까요"), E("ㄹ까요"), E("을까"), E("ㄹ까"), E("을래요"), E("ㄹ래요"), E("을래"), E("ㄹ래"), E("을수록"),
    E("ㄹ수록"), E("기도"), E("기는"), E("기만"), E("기에"), E("기로"), E("는"), E("은"), E("을"), E("에요"),
    /* endings on the 아/어 form */
    I("요"), I("여"), IF("용"), I("서"), I("서요"), I("서는"), I("도"), I("야"), I("야지"), I("야죠"), I("야지요"),
    I("야겠"),
};
/* clang-format on */

#define N_SUFFIXES (sizeof(suffixes) / sizeof(suffixes[0]))
#define SUF_MAX    5

struct decoded {
    uint32_t cp[SUF_MAX];
    uint8_t n;
};

static struct decoded decoded[N_SUFFIXES];
static pthread_once_t decoded_once = PTHREAD_ONCE_INIT;

/* The suffixes that may end a word, by its last code point: a suffix can match only where
 * the word's last code point is its own last one, except a lone tail jamo (ㄴ, ㄹ, ㅂ), which
 * matches the tail of any syllable. So longest_suffix() reads one bucket, by the last code
 * point's low bits, and the lone tails, both in table order, instead of every suffix.
 * Filled once with decoded[]. */
#define SUF_BUCKETS 64
static uint16_t bucket_first[SUF_BUCKETS + 1]; /* bucket b: bucket_list[first[b] .. first[b+1]) */
static uint16_t bucket_list[N_SUFFIXES];
static uint16_t lone_tail[N_SUFFIXES];
_Static_assert(N_SUFFIXES <= UINT16_MAX, "suffix indexes are 16 bits");
static size_t n_lone_tail;

static size_t
decode_word(const char *w, size_t len, uint32_t *cp, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < cap;) {
        size_t adv;
        cp[n++] = churn__utf8_decode((const unsigned char *)w + i, len - i, &adv);
        i += adv ? adv : 1;
    }
    return n;
}

static bool
is_lone_tail(size_t k)
{
    return decoded[k].n == 1 && jamo_tail(decoded[k].cp[0]);
}

static size_t
bucket_of(uint32_t cp)
{
    return cp & (SUF_BUCKETS - 1);
}

/* Fill bucket_list (a counting sort by bucket, stable: table order within a bucket) and
 * lone_tail. */
static void
index_suffixes(void)
{
    uint16_t count[SUF_BUCKETS] = {0};
    for (size_t k = 0; k < N_SUFFIXES; k++)
        if (is_lone_tail(k))
            lone_tail[n_lone_tail++] = (uint16_t)k;
        else
            count[bucket_of(decoded[k].cp[decoded[k].n - 1])]++;
    for (size_t b = 0; b < SUF_BUCKETS; b++)
        bucket_first[b + 1] = (uint16_t)(bucket_first[b] + count[b]);
    uint16_t at[SUF_BUCKETS];
    memcpy(at, bucket_first, sizeof(at));
    for (size_t k = 0; k < N_SUFFIXES; k++)
        if (!is_lone_tail(k))
            bucket_list[at[bucket_of(decoded[k].cp[decoded[k].n - 1])]++] = (uint16_t)k;
}

static void
decode_suffixes(void)
{
    for (size_t i = 0; i < N_SUFFIXES; i++)
        decoded[i].n = (uint8_t)decode_word(suffixes[i].text, strlen(suffixes[i].text),
                                            decoded[i].cp, SUF_MAX);
    index_suffixes();
}

/* ---- the word being reduced ---- */

struct word {
    uint32_t cp[MAX_CP];
    size_t n;
};

/* Is @c the 아/어 form of a verb (받아, 먹어, 해, 돼, 봐, 줘, 어려워, 쳐)? A bare-stem ending
 * never follows it: "해지" is a noun, not 해 + 지. */
static bool
inf_form(uint32_t c)
{
    if (!is_syl(c) || tail(c) != T_NONE)
        return false;
    int l = lead(c), v = vowel(c);
    if (l == L_NG && (v == V_A || v == V_EO || v == V_YEO))
        return true;
    return (l == L_H && v == V_AE) || v == V_WAE || v == V_WA || v == V_WO || v == V_YEO;
}

/* May a particle that follows @f (C, V or R) come after the syllable @c? */
static bool
follows_ok(uint32_t c, int f)
{
    if (!is_syl(c))
        return false;
    if (f == F)
        return inf_form(c);
    if (f == Q)
        return c == 0xc788 /* 있 */ || c == 0xc5c6 /* 없 */;
    if (f == S)
        return tail(c) == T_SS;
    int t = tail(c);
    return f == C ? t != T_NONE : f == V ? t == T_NONE : (t == T_NONE || t == T_R);
}

/* Is suffix @k's text also an ending on the 아/어 form (the particle 도: 봐도, 해도)? */
static bool
inf_ending(size_t k)
{
    for (size_t i = 0; i < N_SUFFIXES; i++)
        if (suffixes[i].kind == SUF_INF && decoded[i].n == decoded[k].n &&
            memcmp(decoded[i].cp, decoded[k].cp, decoded[k].n * sizeof(decoded[k].cp[0])) == 0)
            return true;
    return false;
}

/* Does @w end with suffix @k? Returns the code points the match starts at in *at (the syllable
 * that carries the tail for a suffix written with a leading jamo). */
static bool
ends_with(const struct word *w, size_t k, size_t *at)
{
    const struct decoded *d = &decoded[k];
    size_t m = d->n;
    int t = jamo_tail(d->cp[0]);
    if (t) {
        if (w->n < m || !is_syl(w->cp[w->n - m]) || tail(w->cp[w->n - m]) != t)
            return false;
        for (size_t i = 1; i < m; i++)
            if (w->cp[w->n - m + i] != d->cp[i])
                return false;
        *at = w->n - m;
        return true;
    }
    if (w->n < m)
        return false;
    for (size_t i = 0; i < m; i++)
        if (w->cp[w->n - m + i] != d->cp[i])
            return false;
    *at = w->n - m;
    return true;
}

/* Strip suffix @k matched at @at. */
static void
strip_at(struct word *w, size_t k, size_t at)
{
    if (jamo_tail(decoded[k].cp[0])) {
        w->cp[at] = with_tail(w->cp[at], T_NONE);
        w->n = at + 1;
    } else {
        w->n = at;
    }
}

/* The longest suffix of @kind set (bit per enum suffix_kind) that may be stripped from @w;
 * -1 when none. */
static long
longest_suffix(const struct word *w, unsigned kinds, size_t *at_out)
{
    long best = -1;
    size_t best_len = 0, best_at = 0;
    size_t b = w->n ? bucket_of(w->cp[w->n - 1]) : 0;
    const uint16_t *x = bucket_list + bucket_first[b], *x_end = bucket_list + bucket_first[b + 1];
    const uint16_t *y = lone_tail, *y_end = lone_tail + (w->n ? n_lone_tail : 0);
    while (x < x_end || y < y_end) { /* the two lists merged: table order decides ties */
        size_t k = y == y_end || (x < x_end && *x < *y) ? *x++ : *y++;
        const struct suffix *sf = &suffixes[k];
        size_t at;
        if (!(kinds & (1u << sf->kind)) || !ends_with(w, k, &at))
            continue;
        size_t rest = jamo_tail(decoded[k].cp[0]) ? at + 1 : at;
        size_t mlen = w->n - at;
        if (rest < sf->min_rest || mlen < best_len || (mlen == best_len && best >= 0))
            continue;
        if (sf->follows != A && !follows_ok(w->cp[at - 1], sf->follows))
            continue;
        /* a bare-stem ending never follows the 아/어 form (해지 is no 해 + 지), nor does a
         * particle that is also one of its endings (봐도); any other particle after a syllable
         * of that shape is a noun's (전화로, 통화를, 대화가, 뭐가) */
        if (sf->kind != SUF_INF && at > 0 && !jamo_tail(decoded[k].cp[0]) &&
            inf_form(w->cp[at - 1]) && (sf->kind != SUF_PARTICLE || inf_ending(k)))
            continue;
        best = (long)k;
        best_len = mlen;
        best_at = at;
    }
    *at_out = best_at;
    return best;
}

/* Undo the contraction of the 아/어 form at the end of @w. */
static void
uncontract(struct word *w)
{
    if (w->n == 0 || !is_syl(w->cp[w->n - 1]))
        return;
    uint32_t c = w->cp[w->n - 1];
    int l = lead(c), v = vowel(c), t = tail(c);
    uint32_t prev = w->n >= 2 ? w->cp[w->n - 2] : 0;
    if (t != T_NONE)
        return;
    if (l == L_NG && (v == V_A || v == V_EO || v == V_YEO) && w->n >= 2) {
        w->n--; /* 받아 → 받, 먹어 → 먹, 하여 → 하 */
    } else if (l == L_H && v == V_AE) {
        w->cp[w->n - 1] = syl(L_H, V_A, T_NONE); /* 해 → 하 */
    } else if (v == V_WAE) {
        w->cp[w->n - 1] = syl(l, V_OE, T_NONE); /* 돼 → 되 */
    } else if (v == V_WA) {
        w->cp[w->n - 1] = syl(l, V_O, T_NONE); /* 봐 → 보, 와 → 오 */
    } else if (v == V_WO && l == L_NG && is_syl(prev) && tail(prev) == T_NONE) {
        w->n--; /* 어려워 → 어렵: ㅂ-irregular */
        w->cp[w->n - 1] = with_tail(prev, T_B);
    } else if (v == V_WO) {
        w->cp[w->n - 1] = syl(l, V_U, T_NONE); /* 줘 → 주 */
    } else if (v == V_YEO) {
        w->cp[w->n - 1] = syl(l, V_I, T_NONE); /* 쳐 → 치, 져 → 지, 셔 → 시 */
    } else if ((l == L_P || l == L_BB) && (v == V_A || v == V_EO) && w->n >= 2) {
        w->cp[w->n - 1] = syl(l, V_EU, T_NONE); /* 아파 → 아프, 나빠 → 나쁘 */
    } else if ((l == L_SS || l == L_GG || l == L_DD || l == L_K) && v == V_EO) {
        w->cp[w->n - 1] = syl(l, V_EU, T_NONE); /* 써 → 쓰, 꺼 → 끄, 커 → 크 */
    } else if (l == L_R && (v == V_A || v == V_EO) && is_syl(prev) && tail(prev) == T_R) {
        w->cp[w->n - 2] = with_tail(prev, T_NONE); /* 몰라 → 모르 */
        w->cp[w->n - 1] = syl(L_R, V_EU, T_NONE);
    }
}

static bool inf_form_at(const struct word *w, size_t i);

/* The past or presumptive tail ㅆ: 았/었/였/겠 go, 했/됐/봤 lose it and their contraction;
 * 졌 after an 아/어 form is the passive 아/어지다 in the past and goes with it (수월해졌 →
 * 수월하, 나빠졌 → 나쁘: never the noun 해지 + 었, which is written 해지했). */
static bool
strip_past(struct word *w)
{
    if (w->n < 1 || !is_syl(w->cp[w->n - 1]) || tail(w->cp[w->n - 1]) != T_SS)
        return false;
    uint32_t c = w->cp[w->n - 1];
    if (c == 0xc84c /* 졌 */ && w->n >= 2 && inf_form_at(w, w->n - 2)) {
        w->n--;
        uncontract(w);
        return true;
    }
    int l = lead(c), v = vowel(c);
    if ((l == L_NG && (v == V_A || v == V_EO || v == V_YEO)) || (l == L_G && v == V_E)) {
        if (w->n < 2)
            return false;
        w->n--;
        return true;
    }
    bool contracted = (l == L_H && v == V_AE) || v == V_WAE || v == V_WA || v == V_WO ||
                      v == V_YEO || v == V_A || v == V_EO;
    if (!contracted)
        return false; /* 있 is a stem */
    w->cp[w->n - 1] = with_tail(c, T_NONE);
    uncontract(w);
    return true;
}

/* A bare ㄴ/ㄹ/ㅁ tail on a verb-final syllable: 불편한 → 불편하, 망가진 → 망가지, 실망함. */
static bool
strip_bare_tail(struct word *w)
{
    if (w->n == 1 && is_syl(w->cp[0]) && tail(w->cp[0]) == T_R) {
        /* the future adnominal of a few one-syllable verbs: 할, 될, 갈, 올, 쓸, 볼, 살 */
        static const uint32_t one[] = {0xd558 /* 하 */, 0xb418 /* 되 */, 0xac00 /* 가 */,
                                       0xc624 /* 오 */, 0xc4f0 /* 쓰 */, 0xbcf4 /* 보 */,
                                       0xc0ac /* 사 */};
        uint32_t base = with_tail(w->cp[0], T_NONE);
        for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++)
            if (base == one[i]) {
                w->cp[0] = base;
                return true;
            }
        return false;
    }
    if (w->n < 2 || !is_syl(w->cp[w->n - 1]))
        return false;
    uint32_t c = w->cp[w->n - 1];
    int t = tail(c);
    if (t != T_N && t != T_R && t != T_M)
        return false;
    uint32_t base = with_tail(c, T_NONE);
    static const uint32_t verbish[] = {0xd558 /* 하 */, 0xb418 /* 되 */, 0xc9c0 /* 지 */,
                                       0xb9ac /* 리 */, 0xae30 /* 기 */, 0xd788 /* 히 */,
                                       0xce58 /* 치 */, 0xb0b4 /* 내 */, 0xd0c0 /* 타 */};
    size_t nv = t == T_M ? 2 : sizeof(verbish) / sizeof(verbish[0]);
    for (size_t i = 0; i < nv; i++) {
        if (base == verbish[i]) {
            w->cp[w->n - 1] = base;
            return true;
        }
    }
    if ((t == T_N || t == T_R) && lead(c) == L_NG && vowel(c) == V_U && is_syl(w->cp[w->n - 2]) &&
        tail(w->cp[w->n - 2]) == T_NONE) {
        w->n--; /* 어려운 → 어렵: ㅂ-irregular adnominal */
        w->cp[w->n - 1] = with_tail(w->cp[w->n - 1], T_B);
        return true;
    }
    return false;
}

/* Does @w end in a 아/어 form with no ending after it, one written before a separate
 * auxiliary (해지해 주세요, 바꿔 주세요, 끊어 주세요, 꺼 주세요, 깨져 있어요) or ending a casual
 * sentence (너무 늦어, 좋아)? Only the unambiguous forms: 해, ㅝ (바꿔, 미뤄), ㅙ (돼), ㅕ after
 * ㅈ/ㅊ/ㅋ/ㅎ (깨져, 다쳐, 켜), 아/어 after a syllable closed by a consonant other than ㄴ or ㅇ
 * (받아, 끊어, 괜찮아: nouns end in 영어, 단어, 용어), a one-syllable ㅡ-dropping form (꺼, 써);
 * not ㅘ, which ends nouns (전화, 영화). */
static bool eu_elided(const struct word *w, size_t i);

static bool
bare_inf(const struct word *w)
{
    if (w->n == 1 && eu_elided(w, 0))
        return true; /* 꺼 (주세요), 써 (주세요); 벌써, 오빠, 달러 are words */
    if (w->n < 2 || !is_syl(w->cp[w->n - 1]) || !is_syl(w->cp[w->n - 2]))
        return false;
    uint32_t c = w->cp[w->n - 1];
    int l = lead(c), v = vowel(c);
    if (tail(c) != T_NONE)
        return false;
    int pt = tail(w->cp[w->n - 2]);
    return (l == L_H && v == V_AE) || v == V_WO || v == V_WAE ||
           (v == V_YEO && (l == L_J || l == L_C || l == L_K || l == L_H)) ||
           (l == L_NG && (v == V_A || v == V_EO) && pt != T_NONE && pt != T_N && pt != T_NG);
}

/* Is the syllable at @i the 아/어 form of a 르-irregular verb (불러 of 부르다, 골라 of 고르다)? */
static bool
r_irregular(const struct word *w, size_t i)
{
    if (i < 1 || !is_syl(w->cp[i]) || !is_syl(w->cp[i - 1]))
        return false;
    uint32_t c = w->cp[i];
    return lead(c) == L_R && (vowel(c) == V_A || vowel(c) == V_EO) && tail(c) == T_NONE &&
           tail(w->cp[i - 1]) == T_R;
}

/* Is the syllable at @i an 아/어 form, contracted or not (받아, 해, 봐, 줘, 나빠, 아파, 불러)? */
static bool
inf_form_at(const struct word *w, size_t i)
{
    uint32_t c = w->cp[i];
    if (inf_form(c) || r_irregular(w, i))
        return true;
    return i >= 1 && is_syl(c) && tail(c) == T_NONE && (lead(c) == L_P || lead(c) == L_BB) &&
           (vowel(c) == V_A || vowel(c) == V_EO);
}

/* Is the syllable at @i the 아/어 form of a stem whose ㅡ drops (꺼 of 끄다, 써 of 쓰다, 아파 of
 * 아프다)? Only before an auxiliary in the same word (꺼주세요): alone, 커 or 파 may be a word. */
static bool
eu_elided(const struct word *w, size_t i)
{
    uint32_t c = w->cp[i];
    if (!is_syl(c) || tail(c) != T_NONE)
        return false;
    int l = lead(c), v = vowel(c);
    if (v == V_EO && (l == L_SS || l == L_GG || l == L_DD || l == L_K))
        return true;
    return i >= 1 && (l == L_P || l == L_BB) && (v == V_A || v == V_EO);
}

/* Auxiliary verbs in one word: 해주 → 하, 해드리 → 하, 해보 → 하, 꺼주 → 끄, 하고싶 → 하,
 * 하고있 → 하. */
static bool
strip_auxiliary(struct word *w)
{
    static const char *const after_inf[] = {"주", "드리", "보", "버리"};
    static const char *const after_go[] = {"고싶", "고있"};
    for (size_t i = 0; i < sizeof(after_inf) / sizeof(after_inf[0]); i++) {
        uint32_t a[2];
        size_t m = decode_word(after_inf[i], strlen(after_inf[i]), a, 2);
        if (w->n > m && memcmp(&w->cp[w->n - m], a, m * sizeof(a[0])) == 0 &&
            (inf_form(w->cp[w->n - m - 1]) || r_irregular(w, w->n - m - 1) ||
             eu_elided(w, w->n - m - 1))) {
            w->n -= m;
            uncontract(w);
            return true;
        }
    }
    if (w->n >= 3 && w->cp[w->n - 1] == 0xc9c0 /* 지 */ && inf_form_at(w, w->n - 2) &&
        w->cp[w->n - 2] != 0xd574 /* 해: 해지 is a noun */) {
        w->n--; /* 미뤄지 → 미루, 만들어지 → 만들: the passive 아/어지다 */
        uncontract(w);
        return true;
    }
    for (size_t i = 0; i < sizeof(after_go) / sizeof(after_go[0]); i++) {
        uint32_t a[2];
        decode_word(after_go[i], strlen(after_go[i]), a, 2);
        if (w->n > 2 && w->cp[w->n - 2] == a[0] && w->cp[w->n - 1] == a[1]) {
            w->n -= 2;
            return true;
        }
    }
    return false;
}

/* Light verbs after a noun of two syllables or more: 환불하 → 환불, 취소되 → 취소, 만족스럽 →
 * 만족, 사기당하 → 사기, 취소시키 → 취소. */
static void
strip_light_verb(struct word *w)
{
    static const char *const light[] = {"당하", "시키", "스럽", "하", "되"};
    for (size_t i = 0; i < sizeof(light) / sizeof(light[0]); i++) {
        uint32_t a[2];
        size_t m = decode_word(light[i], strlen(light[i]), a, 2);
        if (w->n >= m + 2 && memcmp(&w->cp[w->n - m], a, m * sizeof(a[0])) == 0 &&
            is_syl(w->cp[w->n - m - 1])) {
            w->n -= m;
            return;
        }
    }
}

/* Chat markers of compatibility jamo, each run reduced to one form: ㅋ… → ㅋㅋ, ㅎ… → ㅎㅎ,
 * ㅠ/ㅜ… → ㅠㅠ, ㅡ… → ㅡㅡ, ㄷ… → ㄷㄷ. Returns false for other words. */
static bool
jamo_marker(struct word *w)
{
    static const struct {
        uint32_t a, b, out;
    } classes[] = {{0x314b, 0x314e, 0x314b},  /* ㅋ (with ㅎ mixed in: still laughter) */
                   {0x314e, 0x314e, 0x314e},  /* ㅎ */
                   {0x3160, 0x315c, 0x3160},  /* ㅠ ㅜ */
                   {0x3161, 0x3161, 0x3161},  /* ㅡ */
                   {0x3137, 0x3137, 0x3137}}; /* ㄷ */
    if (w->n == 0)
        return false;
    for (size_t k = 0; k < sizeof(classes) / sizeof(classes[0]); k++) {
        size_t i = 0, first = 0;
        for (; i < w->n; i++) {
            if (w->cp[i] != classes[k].a && w->cp[i] != classes[k].b)
                break;
            first += w->cp[i] == classes[k].a;
        }
        if (i == w->n && (first > 0 || k != 0)) {
            w->cp[0] = w->cp[1] = classes[k].out;
            w->n = 2;
            return true;
        }
    }
    return false;
}

/* The honorific title 님 or 분 after a noun of two syllables or more: 상담원님 → 상담원,
 * 직원분 → 직원 (기분, 부분, 충분 are too short to lose theirs). */
static bool
strip_title(struct word *w)
{
    if (w->n < 3 || (w->cp[w->n - 1] != 0xb2d8 /* 님 */ && w->cp[w->n - 1] != 0xbd84 /* 분 */) ||
        !is_syl(w->cp[w->n - 2]) || !is_syl(w->cp[w->n - 3]))
        return false;
    w->n--;
    return true;
}

/* The honorific 시 before other endings: 하시 → 하, 주시 → 주. */
static bool
strip_honorific(struct word *w)
{
    if (w->n < 2 || w->cp[w->n - 1] != 0xc2dc /* 시 */ || inf_form(w->cp[w->n - 2]))
        return false;
    w->n--;
    if (w->n >= 2 && w->cp[w->n - 1] == 0xc73c /* 으 */)
        w->n--;
    return true;
}

/* The full reduction of a word of chat text: the longest particle or ending (a particle on
 * a tie; after a particle the word is a noun), one final ending, then the pre-final markers (past,
 * presumptive, honorific), auxiliaries and a light verb. A final ending is stripped once:
 * "최고네요" is 최고 + 네요, not 최 + 고 + 네요. */
static void
reduce_text(struct word *w)
{
    size_t at;
    long k = longest_suffix(w, 1u << SUF_PARTICLE | 1u << SUF_PLAIN | 1u << SUF_INF, &at);
    if (k >= 0 && suffixes[k].kind == SUF_PARTICLE) {
        strip_at(w, (size_t)k, at);
        if (!strip_title(w))
            strip_light_verb(w); /* 환불하는 → 환불 */
        return;
    }
    if (k < 0 && strip_title(w))
        return;
    if (k >= 0) {
        strip_at(w, (size_t)k, at);
        if (suffixes[k].kind == SUF_INF)
            uncontract(w);
    } else if (!strip_bare_tail(w) && bare_inf(w)) {
        uncontract(w); /* 해지해 (주세요) → 해지하, 바꿔 → 바꾸, 깨져 → 깨지 */
    }
    for (int round = 0; round < 8; round++) {
        if (!strip_past(w) && !strip_honorific(w) && !strip_auxiliary(w))
            break;
    }
    strip_light_verb(w);
    if (k >= 0 && w->n == 1 && w->cp[0] == 0xc5c5 /* 업 */)
        w->cp[0] = 0xc5c6; /* 없 as chat spells it by its sound: 업네요, 업어요 */
}

/* Is @c a syllable that ends nouns as often as it is a particle (랑, 과, 와, 의)? */
static bool
noun_final(uint32_t c)
{
    return c == 0xb791 /* 랑 */ || c == 0xacfc /* 과 */ || c == 0xc640 /* 와 */ ||
           c == 0xc758 /* 의 */;
}

/* A lexicon term's word: a predicate in its dictionary form loses 다 and a light verb; any
 * other word a particle at most. */
static void
reduce_lemma(struct word *w)
{
    if (w->n >= 2 && w->cp[w->n - 1] == 0xb2e4 /* 다 */ && is_syl(w->cp[w->n - 2])) {
        w->n--;
        strip_light_verb(w);
        return;
    }
    size_t at;
    long k = longest_suffix(w, 1u << SUF_PARTICLE, &at);
    /* a noun of two syllables keeps a last syllable that looks like a particle and that nouns
     * often end in: 사랑 is not 사 + 랑, nor 사과 사 + 과, nor 문의 문 + 의 (말도, 기가 in
     * phrases do lose theirs) */
    if (k >= 0 && !(w->n == 2 && at == 1 && noun_final(w->cp[1])))
        strip_at(w, (size_t)k, at);
    strip_title(w);
}

static size_t
encode_word(const struct word *w, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < w->n; i++) {
        char b[4];
        size_t m = churn__utf8_encode(w->cp[i], b);
        if (o + m > cap)
            break;
        memcpy(out + o, b, m);
        o += m;
    }
    return o;
}

static size_t
reduce(const char *word, size_t len, char *out, size_t cap, bool lemma)
{
    pthread_once(&decoded_once, decode_suffixes);
    struct word w;
    w.n = decode_word(word, len, w.cp, MAX_CP);
    bool hangul = w.n > 0 && w.n < MAX_CP && len <= cap;
    if (hangul && !jamo_marker(&w)) {
        if (!lemma && w.n >= 2 && w.cp[w.n - 1] == 0xc6a7 /* 욧 */)
            w.cp[w.n - 1] = 0xc694; /* chat's 요 with a closing ㅅ: 해주세욧, 알겠어욧 */
        if (!is_syl(w.cp[w.n - 1]))
            hangul = false;
        else if (lemma)
            reduce_lemma(&w);
        else
            reduce_text(&w);
    }
    if (!hangul) {
        size_t n = len < cap ? len : cap;
        memcpy(out, word, n);
        return n;
    }
    return encode_word(&w, out, cap);
}

size_t
churn_sentiment_ko_stem(const char *word, size_t len, char *out, size_t cap)
{
    return reduce(word, len, out, cap, false);
}

size_t
churn_sentiment_ko_lemma(const char *word, size_t len, char *out, size_t cap)
{
    return reduce(word, len, out, cap, true);
}

/* The contrastive endings, each followed by its length in bytes (all end in 만 or 데), and
 * each also with the polite 요 after it (지만요, 는데요). */
#define ENDING(e)                                                                                  \
    {                                                                                              \
        e, sizeof(e) - 1                                                                           \
    }
static const struct {
    const char *text;
    size_t len;
} contrast_endings[] = {ENDING("지만"), ENDING("는데"), ENDING("은데"),
                        ENDING("던데"), ENDING("한데"), ENDING("인데")};

/* Is @p (3 bytes) the UTF-8 of @cp? */
static bool
is_cp3(const char *p, uint32_t cp)
{
    const unsigned char *u = (const unsigned char *)p;
    return u[0] == (0xe0 | cp >> 12) && u[1] == (0x80 | ((cp >> 6) & 0x3f)) &&
           u[2] == (0x80 | (cp & 0x3f));
}

/* Does @word (@len bytes) end in the ending @e (@m >= 3 bytes, at most @len)? Its last three
 * bytes are compared inline first: most words end otherwise. */
static inline bool
ends_like(const char *word, size_t len, const char *e, size_t m)
{
    return memcmp(word + len - 3, e + m - 3, 3) == 0 && memcmp(word + len - m, e, m) == 0;
}

/* Called for every Korean item: the last syllable (만, 데 or 요) turns most words away before
 * any ending is compared. */
bool
churn__ko_contrast_ending(const char *word, size_t len)
{
    if (len < 6)
        return false; /* an ending of two syllables after at least one more byte */
    const char *last = word + len - 3;
    bool de = is_cp3(last, 0xb370 /* 데 */);
    /* the word without a polite 요: an ending then ends it, with a byte or more before */
    size_t n = is_cp3(last, 0xc694 /* 요 */) ? len - 3 : len;
    if (n == len ? !de && !is_cp3(last, 0xb9cc /* 만 */)
                 : !is_cp3(word + n - 3, 0xb370) && !is_cp3(word + n - 3, 0xb9cc))
        return false;
    for (size_t i = 0; i < sizeof(contrast_endings) / sizeof(contrast_endings[0]); i++) {
        size_t m = contrast_endings[i].len;
        if (n > m && ends_like(word, n, contrast_endings[i].text, m))
            return true;
    }
    /* -ㄴ데 on any vowel-final stem: 예쁜데, 싼데, 큰데 */
    if (!de)
        return false;
    const unsigned char *u = (const unsigned char *)word + len - 6;
    uint32_t prev = (uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f);
    return (u[0] & 0xf0) == 0xe0 && is_syl(prev) && tail(prev) == T_N;
}

/* Endings that, after a past tense, tell a past event rather than intend one: the quotative
 * -다고/-다는/-다던 and the hearsay -대(요) (what was said or heard), and the connectives
 * -는데/-고/-지만 (the background of what follows: 해지했는데 아직 결제돼요). */
static const struct {
    const char *text;
    size_t len;
} past_event_endings[] = {ENDING("다고"),   ENDING("다고요"),   ENDING("다는"), ENDING("다던"),
                          ENDING("다던데"), ENDING("다던데요"), ENDING("대"),   ENDING("대요"),
                          ENDING("는데"),   ENDING("는데요"),   ENDING("고"),   ENDING("지만"),
                          ENDING("지만요")};

bool
churn__ko_past_event(const char *word, size_t len)
{
    for (size_t i = 0; i < sizeof(past_event_endings) / sizeof(past_event_endings[0]); i++) {
        size_t m = past_event_endings[i].len;
        if (len < m + 3 || !ends_like(word, len, past_event_endings[i].text, m))
            continue;
        const unsigned char *u = (const unsigned char *)word + len - m - 3;
        uint32_t prev =
            (uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f);
        if ((u[0] & 0xf0) == 0xe0 && is_syl(prev) && tail(prev) == T_SS)
            return true;
    }
    return false;
}
