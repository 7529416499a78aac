/*
 * sentiment/analyze.c - the rule engine, in the class of VADER (Hutto & Gilbert, ICWSM 2014).
 * Tokens are matched against the compiled lexicon (longest phrase first; surface form, then
 * Snowball stem), then each valenced item is adjusted by the three items before it in its
 * clause (boosters, dampeners, negators with their multiplier), by ALL-CAPS and elongation
 * emphasis, and by the first contrastive conjunction of its sentence ("but", "however").
 * The sum, amplified by "!" and "?", is normalized to a compound score in [-1, 1]; the
 * positive, negative and neutral proportions and the evidence list come from the same items.
 * Everything lives in the caller's arena; the analyzer itself is never written.
 */
#include <math.h>
#include <string.h>

#include "churn/sentiment.h"
#include "churn/utf8.h"
#include "internal.h"

#define B_INCR            0.293 /* booster step (VADER) */
#define C_INCR            0.733 /* ALL-CAPS emphasis (VADER) */
#define E_INCR            0.293 /* elongation emphasis ("sooo bad") */
#define WINDOW            3     /* items before a term that may modify it */
#define ALPHA             15.0  /* normalization constant (VADER) */
#define EP_STEP           0.292 /* per "!" (at most 4) */
#define QM_STEP           0.18  /* per "?" when 2 or 3 */
#define QM_MAX            0.96  /* 4 or more "?" */
#define CONTRAST_DEF      1.5
#define HEDGED_CONFIDENCE 0.6   /* churn intent only hedged ("thinking about switching") */
#define N_SCALAR          -0.74 /* negation of words ending in "n't" that no lexicon lists */

/* One token with its lexicon forms and its one-word matches. */
struct tok_form {
    const char *surf;
    uint64_t surf_h; /* churn__hash_word() of the surface form, computed once */
    uint32_t surf_len;
    uint32_t tok;    /* index in the token array */
    uint16_t clause; /* punctuation other than quotes starts a new clause */
    uint16_t sentence;
    uint8_t kind;         /* the token's */
    uint8_t tok_flags;    /* the token's */
    struct churn__word w; /* stem form and one-word matches */
};

/* One matched unit: a word, a phrase, an emoji, ... */
struct item {
    uint32_t first, last;             /* tok_form indexes, inclusive */
    const struct churn__lex_entry *e; /* NULL: no lexicon entry */
    uint16_t lex_flags;               /* e->flags, 0 without an entry */
    uint16_t clause, sentence;
    uint16_t ev_flags;
    uint8_t tok_flags;
    bool pivot; /* ends in a contrastive ending (Korean -지만, -는데): weight shifts after it */
    double v;
};

/* A token's form in the surface or the stem table: the string, its length and its hash. */
static const char *
form_of(const struct tok_form *x, bool use_stem, uint32_t *len, uint64_t *h)
{
    *len = use_stem ? x->w.stem_len : x->surf_len;
    *h = use_stem ? x->w.stem_h : x->surf_h;
    return use_stem ? x->w.stem : x->surf;
}

/* What the surface or the stem table holds for a token as a one-word key. */
static const struct churn__match1 *
match1_of(const struct tok_form *x, bool use_stem)
{
    return use_stem ? &x->w.stem_match : &x->w.surf;
}

/* Is @x a Korean word that chat puts inside a phrase without changing what the phrase says:
 * the softener 좀 ("please", "a bit": 상담원 좀 연결해 주세요, 자동갱신 좀 꺼 주세요) or an
 * adverb of repetition (계속, 자꾸, 또, 맨날, 매번: 말을 계속 끊어서, 상담원이 자꾸 말을
 * 끊어요)? A phrase match steps over it. Degree adverbs (너무, 정말) are not stepped over: they
 * boost the phrase's word and are kept as items of their own. */
static inline bool
is_phrase_filler(const struct tok_form *x)
{
    static const char one[][4] = {"좀", "또"};
    static const char two[][7] = {"계속", "자꾸", "맨날", "매번"};
    if (x->surf_len == 3)
        return memcmp(x->surf, one[0], 3) == 0 || memcmp(x->surf, one[1], 3) == 0;
    for (size_t k = 0; x->surf_len == 6 && k < sizeof(two) / sizeof(two[0]); k++)
        if (memcmp(x->surf, two[k], 6) == 0)
            return true;
    return false;
}

/* Is @x a Korean count of times on its own (세번이나, 몇번, 3번) when @alone, or the word
 * 번 of one written apart (번이나, 번씩 after 세, 몇, 두, 3) when not? The ordinal 번째 (몇
 * 번째: a phrase of its own) is neither. */
static bool
ko_times_word(const struct tok_form *x, bool alone)
{
    static const char num[][4] = {"한", "두", "세", "네", "몇", "열"};
    const char *w = x->surf;
    uint32_t n = x->surf_len, k = 0;
    if (x->kind != CHURN_TOK_WORD || n < 3)
        return false;
    if (alone) { /* most words turned away by one compare */
        if (n >= 6 && memcmp(w + 3, "번", 3) == 0) {
            for (size_t m = 0; m < sizeof(num) / sizeof(num[0]); m++)
                if (memcmp(w, num[m], 3) == 0)
                    k = 3;
        } else {
            while (k < n && w[k] >= '0' && w[k] <= '9')
                k++;
        }
        if (k == 0)
            return false;
    }
    if (k + 3 > n || memcmp(w + k, "번", 3) != 0)
        return false;
    return !(k + 6 <= n && memcmp(w + k + 3, "째", 3) == 0);
}

/* Is @x a Korean numeral that counts times before a separate 번 (세, 몇, 두, 여러, 3)? */
static bool
ko_count_word(const struct tok_form *x)
{
    static const char one[][4] = {"한", "두", "세", "네", "몇", "열"};
    if (x->kind == CHURN_TOK_NUMBER)
        return true;
    if (x->kind == CHURN_TOK_WORD && x->surf_len == 6 && memcmp(x->surf, "여러", 6) == 0)
        return true;
    for (size_t k = 0; x->kind == CHURN_TOK_WORD && x->surf_len == 3 && k < sizeof(one) / 4; k++)
        if (memcmp(x->surf, one[k], 3) == 0)
            return true;
    return false;
}

/* How many forms from @j (of @nf) a Korean phrase match steps over: a filler word
 * (is_phrase_filler()), or a count of times, which chat puts inside a phrase as it puts an
 * adverb of repetition there (전화를 세 번이나 끊으시고, 상담원을 몇 번 불러도); 0 for none. */
static size_t
phrase_filler(const struct tok_form *f, size_t nf, size_t j)
{
    if (is_phrase_filler(&f[j]) || ko_times_word(&f[j], true))
        return 1;
    if (j + 1 < nf && f[j + 1].clause == f[j].clause && ko_count_word(&f[j]) &&
        ko_times_word(&f[j + 1], false))
        return 2;
    return 0;
}

/* Continue a match in @t from form @i, whose one-word key starts a longer phrase, while a
 * phrase is still possible; returns the forms the longest entry spans (@best when none
 * longer), a filler inside it (phrase_filler()) included. Out of line: most words start no
 * phrase, and match_at() stays small. */
static __attribute__((noinline)) size_t
match_phrase(const struct churn_sentiment *s, const struct churn__lex_table *t,
             const struct tok_form *f, size_t nf, size_t i, bool use_stem, size_t best,
             int32_t *entry)
{
    const char *forms[CHURN_SENTIMENT_MAX_PHRASE_WORDS];
    uint32_t lens[CHURN_SENTIMENT_MAX_PHRASE_WORDS];
    uint64_t h;
    forms[0] = form_of(&f[i], use_stem, &lens[0], &h);
    size_t k = 1;
    for (size_t j = 1; k < CHURN_SENTIMENT_MAX_PHRASE_WORDS && i + j < nf; j++) {
        const struct tok_form *x = &f[i + j];
        if (x->clause != f[i].clause)
            break;
        size_t skip = s->korean ? phrase_filler(f, nf, i + j) : 0;
        if (skip && i + j + skip < nf) {
            j += skip - 1;
            continue;
        }
        if (!match1_of(x, use_stem)->later)
            break;
        uint64_t wh;
        forms[k] = form_of(x, use_stem, &lens[k], &wh);
        h = churn__hash_join(h, wh);
        const struct churn__lex_slot *sl = churn__table_find(t, s->pool, h, forms, lens, k + 1);
        if (!sl)
            break;
        if (sl->entry >= 0) {
            best = j + 1;
            *entry = sl->entry;
        }
        if (!sl->prefix)
            break;
        k++;
    }
    return best;
}

/* Longest entry in @t starting at form @i; returns the number of forms matched (0: none). */
static inline size_t
match_at(const struct churn_sentiment *s, const struct churn__lex_table *t,
         const struct tok_form *f, size_t nf, size_t i, bool use_stem, int32_t *entry)
{
    const struct churn__match1 *m = match1_of(&f[i], use_stem);
    size_t best = 0;
    if (m->entry >= 0) {
        best = 1;
        *entry = m->entry;
    }
    if (!m->prefix || i + 1 >= nf ||
        !(match1_of(&f[i + 1], use_stem)->later || (s->korean && phrase_filler(f, nf, i + 1))))
        return best;
    return match_phrase(s, t, f, nf, i, use_stem, best, entry);
}

/* Single-token lookup with the elongation retry: "goood" -> "good" before "god". */
static int32_t
match_elongated(const struct churn_sentiment *s, const struct churn_sentiment_tokens *toks,
                const struct tok_form *f)
{
    if (!(f->tok_flags & CHURN_TOK_F_ELONGATED))
        return -1;
    const struct churn_sentiment_token *t = &toks->tok[f->tok];
    if (t->elong_at == CHURN_TOK_NO_ELONG || f->surf_len >= 64 || t->elong_at >= f->surf_len)
        return -1;
    char buf[72];
    size_t at = t->elong_at;
    memcpy(buf, f->surf, at + 1);
    buf[at + 1] = f->surf[at];
    memcpy(buf + at + 2, f->surf + at + 1, f->surf_len - at - 1);
    const char *form = buf;
    uint32_t len = f->surf_len + 1;
    uint64_t h = churn__hash_word(buf, len);
    const struct churn__lex_slot *sl = churn__table_find(&s->surface, s->pool, h, &form, &len, 1);
    return sl && sl->entry >= 0 ? sl->entry : -1;
}

static bool
is_clause_break(const char *norm, uint32_t len)
{
    return !(len == 1 && (norm[0] == '\'' || norm[0] == '"' || norm[0] == '-' || norm[0] == '*'));
}

static bool
is_sentence_break(const char *norm, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        if (norm[i] == '.' || norm[i] == '!' || norm[i] == '?' || norm[i] == ';')
            return true;
    return false;
}

const char *
churn_sentiment_evidence_kind_name(enum churn_sentiment_evidence_kind kind)
{
    static const char *const names[] = {"word", "phrase", "emoticon", "emoji"};
    if ((unsigned)kind >= sizeof(names) / sizeof(names[0]))
        return "unknown";
    return names[kind];
}

/* Is @it an unlisted word ending in "n't" (a negator all the same)? */
static bool
is_nt(const struct item *it, const struct tok_form *f)
{
    const struct tok_form *x = &f[it->first];
    return !it->e && it->first == it->last && x->kind == CHURN_TOK_WORD && x->surf_len > 3 &&
           memcmp(x->surf + x->surf_len - 3, "n't", 3) == 0;
}

/* Is @x (a word between a term and a suffix negator) a noun that an adnominal clause heads,
 * so that the negator denies the clause (좋은 게 아니에요, 탈퇴할 생각 없어요, 해결된 건
 * 없어요, 한 적 없어요, 할 수 없어요)? A content noun is the negated verb's own subject or
 * object instead (아직도 입금이 안 됐어요, 튕겨서 결제를 못 해요): the negator is not the
 * term's. */
static bool
ko_head_noun(const struct tok_form *x)
{
    static const char one[][4] = {"것", "거", "게", "건", "걸", "수", "적"};
    static const char two[][7] = {"생각", "마음", "계획", "정도", "필요", "이유"};
    const char *w[2] = {x->surf, x->w.stem};
    uint32_t n[2] = {x->surf_len, x->w.stem_len};
    for (size_t v = 0; v < 2; v++) {
        for (size_t k = 0; n[v] == 3 && k < sizeof(one) / sizeof(one[0]); k++)
            if (memcmp(w[v], one[k], 3) == 0)
                return true;
        for (size_t k = 0; n[v] == 6 && k < sizeof(two) / sizeof(two[0]); k++)
            if (memcmp(w[v], two[k], 6) == 0)
                return true;
    }
    return false;
}

/* Is @x the noun of a means (방법, 버튼, 메뉴) that ends an intent phrase (해지 방법, 탈퇴
 * 버튼)? Its absence is no denial of the intent: 해지 방법이 전혀 없어요 still wants out. */
static bool
ko_means_noun(const struct tok_form *x)
{
    static const char two[][7] = {"방법", "버튼", "메뉴"};
    for (size_t k = 0; x->w.stem_len == 6 && k < sizeof(two) / sizeof(two[0]); k++)
        if (memcmp(x->w.stem, two[k], 6) == 0)
            return true;
    return false;
}

/* The item after @i that a suffix negator in that place would negate @i from: the next
 * item of @i's clause, stepping over booster and dampener adverbs (탈퇴할 생각 전혀 없어요,
 * 문제가 정말 없어요) and, in Korean, over one ko_head_noun() without a lexicon entry (좋은 게
 * 아니에요); a valenced word or another word in between ends the search. Returns n_items when
 * there is none. */
static size_t
suffix_negator_at(const struct item *items, size_t n_items, const struct tok_form *f, size_t i)
{
    bool plain = false;
    for (size_t j = i + 1; j < n_items && j <= i + 3 && items[j].clause == items[i].clause; j++) {
        uint16_t jf = items[j].lex_flags;
        if ((jf & CHURN__LEX_NEGATOR) && (jf & CHURN__LEX_SUFFIX))
            return j;
        if (!items[j].e && !plain && items[j].first == items[j].last &&
            ko_head_noun(&f[items[j].first]))
            plain = true;
        else if (!(jf & (CHURN__LEX_BOOSTER | CHURN__LEX_DAMPENER)))
            break;
    }
    return n_items;
}

/* A negator written after what it negates (Korean: 좋지 않아요, 문제 없어요, 해결하지
 * 못했어요): the suffix negator suffix_negator_at() finds after @i multiplies @v by its
 * value. */
static double
suffix_negation(struct item *items, size_t n_items, const struct tok_form *f, size_t i, double v,
                bool intent)
{
    struct item *it = &items[i];
    size_t j = suffix_negator_at(items, n_items, f, i);
    if (j >= n_items)
        return v;
    const struct item *nx = &items[j];
    if (intent && ((nx->lex_flags & CHURN__LEX_MODAL) || ko_means_noun(&f[it->last])))
        return v; /* 해지를 못 하고 있어요, 해지 방법이 없어요: still intent */
    it->ev_flags ^= CHURN_EVIDENCE_F_NEGATED;
    return v * nx->e->modifier;
}

/* Korean: an intent item whose last word is in the past adnominal form (-한, -된, -던) with a
 * word after it in its clause describes what happened, it intends nothing (탈퇴한 친구,
 * 해지했던 계정, 해지한 줄 알았는데); the future form (탈퇴할 거예요) is still intent. So is a
 * past event reported as said or heard (친구가 탈퇴했다고 하던데, 해지했대요) or told as the
 * background of a clause (해지했는데 아직 결제돼요, 담당자가 얘기했는데); the present quotative
 * (해지한다고 몇 번 말했어요) is still the customer's own intent. */
static bool
ko_past_mention(const struct item *items, size_t n_items, const struct tok_form *f, size_t i)
{
    const struct item *it = &items[i];
    const struct tok_form *x = &f[it->last];
    if (x->kind == CHURN_TOK_WORD && churn__ko_past_event(x->surf, x->surf_len))
        return true;
    if (i + 1 >= n_items || items[i + 1].clause != it->clause ||
        f[items[i + 1].first].kind != CHURN_TOK_WORD || x->surf_len <= 3)
        return false;
    const char *end = x->surf + x->surf_len - 3;
    return memcmp(end, "한", 3) == 0 || memcmp(end, "된", 3) == 0 || memcmp(end, "던", 3) == 0;
}

/* Korean: is item @it (of the forms @f, @nf) what the customer believed and found untrue,
 * "X인 줄 알았는데" (사기 당한 줄 알았는데 배송이 늦은 거였네요, 해지된 줄 알았어요): the
 * noun 줄 right after it or after one more word, then a past form of 알다 (알았는데, 알았어요)?
 * A belief that turned out wrong intends nothing and triggers nothing; 사기 당했어요 and 사기인
 * 줄 몰랐어요 ("I didn't know it was a scam": it was) still do. */
static bool
ko_mistaken_belief(const struct item *it, const struct tok_form *f, size_t nf)
{
    for (size_t k = it->last + 1; k <= it->last + 2 && k + 1 < nf; k++) {
        if (f[k].clause != f[it->first].clause || f[k + 1].clause != f[k].clause)
            return false;
        if (f[k].surf_len == 3 && memcmp(f[k].surf, "줄", 3) == 0)
            return f[k + 1].surf_len >= 6 && memcmp(f[k + 1].surf, "알았", 6) == 0;
    }
    return false;
}

/* Does the Korean word @x end in a syllable with the tail ㄹ, the future adnominal form of a
 * predicate (신고할, 고소할, 갈)? */
static bool
ko_future_adnominal(const struct tok_form *x)
{
    if (x->kind != CHURN_TOK_WORD || x->surf_len < 3)
        return false;
    unsigned char lead = (unsigned char)x->surf[x->surf_len - 3];
    if (lead < 0xea || lead > 0xed) /* the lead byte of U+AC00-D7A3 */
        return false;
    size_t adv;
    uint32_t cp = churn__utf8_decode((const unsigned char *)x->surf + x->surf_len - 3, 3, &adv);
    return adv == 3 && cp >= 0xac00 && cp <= 0xd7a3 && (cp - 0xac00) % 28 == 8;
}

/* Korean: is the hard trigger @i something the customer says they will not go as far as: in
 * the future adnominal form before a noun of extent or intention (정도, 생각, 마음, 계획) that
 * a suffix negator denies (신고할 정도는 아니에요, 고소할 생각은 없어요)? Any other negated
 * hard trigger still reaches a human (사기 아니에요?, 신고 안 할 수가 없네요). */
static bool
ko_denied_extent(const struct item *items, size_t n_items, const struct tok_form *f, size_t i)
{
    static const char nouns[][8] = {"정도", "생각", "마음", "계획"};
    const struct tok_form *last = &f[items[i].last];
    if (i + 2 < n_items && !items[i + 1].e && last->surf_len > 3 &&
        ko_future_adnominal(&f[items[i + 1].first]) && f[items[i + 1].first].surf_len == 3)
        last = &f[items[++i].first]; /* a noun with its light verb apart: 법적 조치 할 생각 */
    if (i + 2 >= n_items || !ko_future_adnominal(last))
        return false;
    const struct item *nx = &items[i + 1];
    const struct tok_form *x = &f[nx->first];
    size_t j = suffix_negator_at(items, n_items, f, i);
    if (nx->first != nx->last || j >= n_items || (items[j].lex_flags & CHURN__LEX_MODAL))
        return false;
    for (size_t k = 0; k < sizeof(nouns) / sizeof(nouns[0]); k++)
        if (x->w.stem_len == 6 && memcmp(x->w.stem, nouns[k], 6) == 0)
            return true;
    return false;
}

/* Does the Korean word @x end in a request (해주세요, 주세요, 줘요, 주십시오, 부탁드려요), or
 * is it thanks in the future, the polite close of a request (주시면 감사하겠습니다)? */
static bool
ko_request_word(const struct tok_form *x)
{
    static const struct {
        char text[28];
        uint8_t len;
    } ends[] = {{"주세요", 9},        {"줘요", 6},
                {"주십시오", 12},     {"줘", 3},
                {"부탁해요", 12},     {"부탁드려요", 15},
                {"부탁드립니다", 18}, {"감사하겠습니다", 21},
                {"감사하겠어요", 18}, {"감사드리겠습니다", 24}};
    if (x->kind != CHURN_TOK_WORD)
        return false;
    for (size_t k = 0; k < sizeof(ends) / sizeof(ends[0]); k++) {
        size_t n = ends[k].len;
        if (x->surf_len >= n && memcmp(x->surf + x->surf_len - 3, ends[k].text + n - 3, 3) == 0 &&
            memcmp(x->surf + x->surf_len - n, ends[k].text, n) == 0)
            return true;
    }
    return false;
}

/* Korean: is the positive term @i what the customer asks for rather than praises: a request
 * on its own word or one of the next two in its clause (빨리 처리해 주세요, 친절하게 답변
 * 부탁드려요)? A wish is no praise; thanks for what was done (빨리 처리해 주셔서 감사해요) are. */
static bool
ko_requested(const struct item *items, size_t n_items, const struct tok_form *f, size_t i)
{
    const struct item *it = &items[i];
    size_t end = items[n_items - 1].last; /* the items cover every form, in order */
    for (size_t k = it->last; k <= it->last + 2 && k <= end && f[k].clause == it->clause; k++)
        if (ko_request_word(&f[k]))
            return true;
    return false;
}

/* One analysis in progress: the tokens, their forms and the matched items, all in the
 * caller's arena. */
struct analysis {
    const struct churn_sentiment *s;
    struct churn_sentiment_tokens toks;
    struct tok_form *f;
    size_t nf;
    struct item *items;
    size_t ni;
    uint32_t *scored; /* indexes of the valenced or flagged items, in text order */
    size_t ns;
    size_t bangs, qmarks; /* punctuation emphasis */
    bool cap_diff;        /* some but not all words are in caps */
    bool pivot;           /* some item ends in a contrastive ending */
    uint16_t seen;        /* the lexicon flags of all items, or'ed: which rules have work */
};

/* The VADER rules for item @i (of the forms @f), returning its adjusted valence. */
static double
apply_rules(struct analysis *a, size_t i)
{
    struct item *items = a->items;
    size_t n_items = a->ni;
    const struct tok_form *f = a->f;
    bool cap_diff = a->cap_diff, korean = a->s->korean;
    struct item *it = &items[i];
    const struct churn__lex_entry *e = it->e;
    double v = e->valence;
    if (v != 0.0 && cap_diff && (it->tok_flags & CHURN_TOK_F_ALLCAPS)) {
        v += v > 0 ? C_INCR : -C_INCR;
        it->ev_flags |= CHURN_EVIDENCE_F_CAPS;
    }
    if (v != 0.0 && (it->tok_flags & CHURN_TOK_F_ELONGATED)) {
        v += v > 0 ? E_INCR : -E_INCR;
        it->ev_flags |= CHURN_EVIDENCE_F_ELONGATED;
    }
    bool intent = (e->flags & CHURN__LEX_INTENT) != 0;
    for (size_t k = 1; k <= WINDOW && k <= i; k++) {
        const struct item *p = &items[i - k];
        if (p->clause != it->clause)
            break;
        uint16_t pf = p->lex_flags;
        if (!p->e) {
            if (is_nt(p, f)) {
                v *= N_SCALAR;
                it->ev_flags ^= CHURN_EVIDENCE_F_NEGATED;
            }
            continue;
        }
        if (pf & (CHURN__LEX_BOOSTER | CHURN__LEX_DAMPENER)) {
            double sc = p->e->modifier;
            if (pf & CHURN__LEX_DAMPENER)
                sc = -sc;
            if (v < 0)
                sc = -sc;
            if (p->tok_flags & CHURN_TOK_F_ELONGATED)
                sc *= 2.0; /* "sooooo bad" */
            if (cap_diff && (p->tok_flags & CHURN_TOK_F_ALLCAPS))
                sc += v > 0 ? C_INCR : -C_INCR;
            sc *= k == 1 ? 1.0 : k == 2 ? 0.95 : 0.9;
            if (v != 0.0) {
                v += sc;
                it->ev_flags |= (pf & CHURN__LEX_BOOSTER) ? CHURN_EVIDENCE_F_BOOSTED
                                                          : CHURN_EVIDENCE_F_DAMPENED;
            }
        } else if (pf & CHURN__LEX_NEGATOR) {
            if (pf & CHURN__LEX_SUFFIX)
                continue; /* negates what comes before it (suffix_negation()) */
            if (korean && k > 1)
                continue; /* 안/못 negate the next word only: 안 쓸래요 탈퇴할게요 */
            if (intent && (pf & CHURN__LEX_MODAL))
                continue; /* "I can't cancel my subscription" is still churn intent */
            v *= p->e->modifier;
            it->ev_flags ^= CHURN_EVIDENCE_F_NEGATED;
        } else if (pf & CHURN__LEX_VALENCE) {
            continue; /* a valenced word shields nothing but is not a modifier (VADER) */
        }
    }
    if (a->seen & CHURN__LEX_SUFFIX)
        v = suffix_negation(items, n_items, f, i, v, intent);
    if (korean && v > 0 && !intent && ko_requested(items, n_items, f, i))
        v = 0.0; /* 빨리 처리해 주세요: a wish, no praise */
    if (intent && korean && !(e->flags & CHURN__LEX_HARD) &&
        ko_past_mention(items, n_items, f, i)) {
        it->ev_flags |= CHURN_EVIDENCE_F_INTENT_SUPPRESSED;
        v = 0.0; /* a mention: 탈퇴한 친구 */
    }
    bool believed = intent && korean && ko_mistaken_belief(it, f, a->nf);
    if (intent && ((it->ev_flags & CHURN_EVIDENCE_F_NEGATED) || believed)) {
        it->ev_flags |= CHURN_EVIDENCE_F_INTENT_SUPPRESSED;
        v = 0.0; /* not leaving is no praise: 탈퇴 안 할게요, "I don't want to cancel" */
    }
    if (intent && !(it->ev_flags & CHURN_EVIDENCE_F_INTENT_SUPPRESSED)) {
        if (e->flags & CHURN__LEX_CHURN)
            it->ev_flags |= CHURN_EVIDENCE_F_CHURN_INTENT |
                            ((e->flags & CHURN__LEX_HEDGED) ? CHURN_EVIDENCE_F_HEDGED : 0);
        if (e->flags & CHURN__LEX_HUMAN)
            it->ev_flags |= CHURN_EVIDENCE_F_HUMAN_REQUEST;
    }
    if (believed) {
        it->ev_flags |= CHURN_EVIDENCE_F_INTENT_SUPPRESSED;
        v = 0.0; /* 사기 당한 줄 알았는데: it was not */
    } else if ((e->flags & CHURN__LEX_HARD) && korean && ko_denied_extent(items, n_items, f, i)) {
        it->ev_flags |= CHURN_EVIDENCE_F_INTENT_SUPPRESSED;
        v = 0.0; /* 신고할 정도는 아니에요: not going that far */
    } else if (e->flags & CHURN__LEX_HARD) {
        it->ev_flags |= CHURN_EVIDENCE_F_HARD_TRIGGER; /* else never suppressed: a human looks */
    }
    return v;
}

/* Copy a stem form out of the thread's memo (a later word of the text may evict it). */
static const char *
keep_stem(struct tok_form *x, const char *norm, char *stems, size_t *used)
{
    if (x->w.stem == norm)
        return norm;
    char *p = memcpy(stems + *used, x->w.stem, x->w.stem_len);
    *used += x->w.stem_len;
    return p;
}

/* 1. Forms with their one-word matches, clauses, sentences, punctuation emphasis. @stems
 * holds the stem forms that differ from their word (each at most one byte longer). */
static void
collect_forms(struct analysis *a, struct churn__thread *th, char *stems)
{
    const struct churn_sentiment_tokens *toks = &a->toks;
    size_t stems_used = 0;
    uint16_t clause = 0, sentence = 0;
    for (size_t i = 0; i < toks->n; i++) {
        const struct churn_sentiment_token *t = &toks->tok[i];
        const char *norm = toks->norm + t->norm;
        if (t->kind == CHURN_TOK_PUNCT) {
            for (uint32_t k = 0; k < t->norm_len; k++) {
                a->bangs += norm[k] == '!';
                a->qmarks += norm[k] == '?';
            }
            if (is_clause_break(norm, t->norm_len) && clause < UINT16_MAX)
                clause++;
            if (is_sentence_break(norm, t->norm_len) && sentence < UINT16_MAX)
                sentence++;
            continue;
        }
        if (t->kind == CHURN_TOK_URL || t->kind == CHURN_TOK_EMAIL) {
            if (clause < UINT16_MAX)
                clause++;
            continue;
        }
        struct tok_form *x = &a->f[a->nf++];
        x->surf = norm;
        x->surf_len = t->norm_len;
        x->surf_h = churn__hash_word(norm, t->norm_len);
        x->tok = (uint32_t)i;
        x->clause = clause;
        x->sentence = sentence;
        x->kind = t->kind;
        x->tok_flags = t->flags;
        if (t->kind == CHURN_TOK_WORD) {
            churn__word_lookup(a->s, th, norm, t->norm_len, x->surf_h, &x->w);
            x->w.stem = keep_stem(x, norm, stems, &stems_used);
        } else {
            churn__form_lookup(a->s, norm, t->norm_len, x->surf_h, &x->w);
        }
    }
}

/* Is @it a valenced or flagged term, not a modifier? */
static bool
is_scored(const struct item *it)
{
    return !(it->lex_flags & CHURN__LEX_MODIFIER) &&
           (it->lex_flags & (CHURN__LEX_VALENCE | CHURN__LEX_INTENT));
}

/* One item for the @m forms from @i, matched to @entry (-1: none) through its stem or not. */
static void
add_item(struct analysis *a, size_t i, size_t m, int32_t entry, bool stem)
{
    const struct tok_form *x = &a->f[i];
    struct item *it = &a->items[a->ni];
    it->e = entry >= 0 ? &a->s->entries[entry] : NULL;
    it->lex_flags = it->e ? it->e->flags : 0;
    it->first = (uint32_t)i;
    it->last = (uint32_t)(i + m - 1);
    it->clause = x->clause;
    it->sentence = x->sentence;
    it->ev_flags = stem ? CHURN_EVIDENCE_F_STEM : 0;
    it->tok_flags = m == 1 ? x->tok_flags : 0;
    it->v = 0.0;
    const struct tok_form *lx = &a->f[i + m - 1];
    it->pivot = a->s->korean && lx->kind == CHURN_TOK_WORD && lx->w.contrast;
    a->seen |= it->lex_flags;
    a->pivot |= it->pivot;
    if (is_scored(it))
        a->scored[a->ns++] = (uint32_t)a->ni;
    a->ni++;
}

/* The evidence kind of @it. */
static uint16_t
evidence_kind(const struct item *it, const struct tok_form *f)
{
    uint8_t kind = f[it->first].kind;
    return it->last > it->first         ? CHURN_EVIDENCE_PHRASE
           : kind == CHURN_TOK_EMOJI    ? CHURN_EVIDENCE_EMOJI
           : kind == CHURN_TOK_EMOTICON ? CHURN_EVIDENCE_EMOTICON
                                        : CHURN_EVIDENCE_WORD;
}

/* 2. Greedy longest match, surface first, then stem; counts words and words in caps. */
static void
match_items(struct analysis *a)
{
    const struct churn_sentiment *s = a->s;
    const struct tok_form *f = a->f;
    size_t words = 0, caps = 0;
    for (size_t i = 0; i < a->nf;) {
        int32_t e1 = -1, e2 = -1;
        size_t m1 = match_at(s, &s->surface, f, a->nf, i, false, &e1);
        size_t m2 = 0;
        if (m1 <= 1) { /* an elongated word tries its doubled letter first: "goood" */
            int32_t e3 = match_elongated(s, &a->toks, &f[i]);
            if (e3 >= 0) {
                e1 = e3;
                m1 = 1;
            }
        }
        if (s->stem.slots)
            m2 = match_at(s, &s->stem, f, a->nf, i, true, &e2);
        size_t m = 1;
        if (m1 && m1 >= m2) {
            m = m1;
            add_item(a, i, m, e1, false);
        } else if (m2) {
            m = m2;
            add_item(a, i, m, e2, true);
        } else {
            add_item(a, i, m, -1, false);
        }
        for (size_t k = i; k < i + m; k++) {
            if (f[k].kind == CHURN_TOK_WORD) {
                words++;
                caps += (f[k].tok_flags & CHURN_TOK_F_ALLCAPS) != 0;
            }
        }
        i += m;
    }
    a->cap_diff = caps > 0 && caps < words;
}

/* Does a scored item go into the evidence? */
static bool
is_evidence(const struct item *it)
{
    return it->v != 0.0 ||
           (it->ev_flags & (CHURN_EVIDENCE_F_CHURN_INTENT | CHURN_EVIDENCE_F_HUMAN_REQUEST |
                            CHURN_EVIDENCE_F_HARD_TRIGGER | CHURN_EVIDENCE_F_INTENT_SUPPRESSED));
}

/* 3. The rules per valenced or flagged item; returns the number of evidence items. */
static size_t
score_items(struct analysis *a)
{
    size_t n_ev = 0;
    for (size_t k = 0; k < a->ns; k++) {
        struct item *it = &a->items[a->scored[k]];
        it->v = apply_rules(a, a->scored[k]);
        n_ev += is_evidence(it);
    }
    return n_ev;
}

/* Is the scored item @k followed in its sentence by a stay term that is not negated? */
static bool
stays_after(const struct analysis *a, size_t k)
{
    const struct item *it = &a->items[a->scored[k]];
    for (size_t m = k + 1; m < a->ns; m++) {
        const struct item *st = &a->items[a->scored[m]];
        if (st->sentence != it->sentence)
            return false;
        if ((st->lex_flags & CHURN__LEX_STAY) && !(st->ev_flags & CHURN_EVIDENCE_F_NEGATED))
            return true;
    }
    return false;
}

/* 3b. A change of mind: churn intent followed in its sentence by a stay term that is not
 * negated (해지하려고 했는데 그냥 계속 쓰기로 했어요: the customer stays) intends nothing;
 * staying before the intent (계속 쓰려고 했는데 이제 탈퇴할게요) changes nothing, nor does it
 * touch a request for a human or a hard trigger. */
static void
apply_stay(struct analysis *a)
{
    for (size_t k = 0; (a->seen & CHURN__LEX_STAY) && k < a->ns; k++) {
        struct item *it = &a->items[a->scored[k]];
        if (!(it->ev_flags & CHURN_EVIDENCE_F_CHURN_INTENT) || !stays_after(a, k))
            continue;
        it->ev_flags &= (uint16_t) ~(CHURN_EVIDENCE_F_CHURN_INTENT | CHURN_EVIDENCE_F_HEDGED);
        it->ev_flags |= CHURN_EVIDENCE_F_INTENT_SUPPRESSED;
        it->v = 0.0; /* as a negated intent: not leaving is no praise */
    }
}

/* 4. Contrast: the first contrast word of a sentence shifts weight after it. */
static void
apply_contrast(struct analysis *a)
{
    struct item *items = a->items;
    bool contrast = (a->seen & CHURN__LEX_CONTRAST) || a->pivot;
    for (size_t i = 0; contrast && i < a->ni; i++) {
        const struct churn__lex_entry *e = items[i].e;
        if (!(items[i].lex_flags & CHURN__LEX_CONTRAST) && !items[i].pivot)
            continue;
        uint16_t sent = items[i].sentence;
        double w =
            e && e->modifier > 0 && (e->flags & CHURN__LEX_CONTRAST) ? e->modifier : CONTRAST_DEF;
        size_t first = i;
        while (first > 0 && items[first - 1].sentence == sent)
            first--;
        /* a contrastive ending belongs to the first clause: 좋지만 weighs as before it */
        for (size_t k = first; k < i + items[i].pivot; k++) {
            if (items[k].v != 0.0) {
                items[k].v *= 2.0 - w;
                items[k].ev_flags |= CHURN_EVIDENCE_F_BEFORE_CONTRAST;
            }
        }
        size_t b = i + 1;
        for (; b < a->ni && items[b].sentence == sent; b++) {
            if (items[b].v != 0.0) {
                items[b].v *= w;
                items[b].ev_flags |= CHURN_EVIDENCE_F_AFTER_CONTRAST;
            }
        }
        i = b - 1; /* later contrast words in the same sentence are ignored */
    }
}

/* 5. The compound score and the proportions. */
static void
score_text(const struct analysis *a, struct churn_sentiment_result *out)
{
    double sum = 0.0, pos = 0.0, neg = 0.0;
    size_t neu = a->ni - a->ns; /* the items that are not scored have no valence */
    for (size_t k = 0; k < a->ns; k++) {
        double v = a->items[a->scored[k]].v;
        sum += v;
        if (v > 0)
            pos += v + 1.0;
        else if (v < 0)
            neg += v - 1.0;
        else
            neu++;
    }
    double ep = (double)(a->bangs > 4 ? 4 : a->bangs) * EP_STEP;
    double qm = a->qmarks > 1 ? (a->qmarks <= 3 ? (double)a->qmarks * QM_STEP : QM_MAX) : 0.0;
    double amp = ep + qm;
    if (sum > 0)
        sum += amp;
    else if (sum < 0)
        sum -= amp;
    double compound = sum / sqrt(sum * sum + ALPHA);
    if (compound > 1.0)
        compound = 1.0;
    if (compound < -1.0)
        compound = -1.0;
    if (pos > fabs(neg))
        pos += amp;
    else if (pos < fabs(neg))
        neg -= amp;
    double total = pos + fabs(neg) + (double)neu;
    out->compound = compound;
    out->positive = total > 0 ? fabs(pos / total) : 0.0;
    out->negative = total > 0 ? fabs(neg / total) : 0.0;
    out->neutral = total > 0 ? (double)neu / total : 0.0;
}

/* 6. The evidence list (@ev: room for every evidence item) and the intent flags. */
static void
fill_evidence(const struct analysis *a, struct churn_sentiment_evidence *ev,
              struct churn_sentiment_result *out)
{
    const struct churn_sentiment *s = a->s;
    size_t k = 0;
    bool churn = false, human = false, hard = false, outright = false;
    for (size_t i = 0; i < a->ns; i++) {
        const struct item *it = &a->items[a->scored[i]];
        const struct churn__lex_entry *e = it->e;
        if (!is_evidence(it))
            continue;
        struct churn_sentiment_evidence *x = &ev[k++];
        x->start = a->toks.tok[a->f[it->first].tok].start;
        x->end = a->toks.tok[a->f[it->last].tok].end;
        x->term = s->pool + e->key;
        x->term_len = e->key_len;
        x->kind = evidence_kind(it, a->f);
        x->flags = it->ev_flags;
        x->valence = e->valence;
        x->contribution = (float)it->v;
        churn |= (it->ev_flags & CHURN_EVIDENCE_F_CHURN_INTENT) != 0;
        outright |= (it->ev_flags & (CHURN_EVIDENCE_F_CHURN_INTENT | CHURN_EVIDENCE_F_HEDGED)) ==
                    CHURN_EVIDENCE_F_CHURN_INTENT;
        human |= (it->ev_flags & CHURN_EVIDENCE_F_HUMAN_REQUEST) != 0;
        hard |= (it->ev_flags & CHURN_EVIDENCE_F_HARD_TRIGGER) != 0;
    }
    out->churn_intent = churn;
    out->intent_confidence = outright ? 1.0 : churn ? HEDGED_CONFIDENCE : 0.0;
    out->human_requested = human;
    out->hard_trigger = hard;
    out->n_evidence = k;
    out->evidence = ev;
}

/* Tokenize @text, normalized first when it holds decomposed Hangul or half/full-width
 * forms, with ICU's word breaks for Korean; token offsets always point into @text. *@len
 * becomes the length tokenized. */
static enum churn_err
read_text(struct analysis *a, const char *text, size_t *len, const struct churn__text_info *info,
          struct churn_arena *scratch, char *errbuf, size_t errlen)
{
    const char *t = text;
    size_t n = *len;
    uint32_t *map = NULL;
    char *norm;
    bool han_kana = info->han_kana;
    if (info->valid_to != n) {
        churn_errf(errbuf, errlen, "invalid UTF-8 at byte %zu", info->valid_to);
        return CHURN_EINVAL;
    }
    if (info->nfkc) {
        if (churn__normalize(text, n, scratch, &norm, &n, &map) != 0) {
            churn_errf(errbuf, errlen, "scratch memory exhausted normalizing %zu bytes", *len);
            return CHURN_ENOMEM;
        }
        t = norm;
        struct churn__text_info after; /* half-width katakana become Kana */
        churn__text_scan(t, n, &after);
        han_kana = after.han_kana;
    }
    enum churn_err err = churn__tokenize_valid(t, n, scratch, &a->toks, errbuf, errlen);
    if (!err && a->s->korean)
        err = churn__ko_segment(t, han_kana, &a->toks, scratch);
    if (err) {
        if (err == CHURN_ENOMEM)
            churn_errf(errbuf, errlen, "scratch memory exhausted analyzing %zu bytes", *len);
        return err;
    }
    for (size_t i = 0; map && i < a->toks.n; i++) {
        a->toks.tok[i].start = map[a->toks.tok[i].start];
        a->toks.tok[i].end = map[a->toks.tok[i].end];
    }
    *len = n;
    return 0;
}

/* Allocate @a's per-token arrays (forms, items, the scored items' indexes) and the buffer of
 * stem forms in one block from @scratch; returns the stem buffer, NULL when out of memory. A
 * stem form is at most one byte longer than its word; normalized forms never outgrow the text
 * plus the 4 bytes of tokenize(). */
static char *
analysis_arrays(struct analysis *a, size_t len, struct churn_arena *scratch)
{
    _Static_assert(sizeof(struct tok_form) % 8 == 0 && sizeof(struct item) % 8 == 0,
                   "the arrays follow each other 8-byte aligned");
    size_t n = a->toks.n + 1;
    size_t f_size = n * sizeof(*a->f), items_size = n * sizeof(*a->items);
    size_t scored_size = n * sizeof(*a->scored);
    char *p = churn_arena_alloc(scratch, f_size + items_size + scored_size + len + 4 + n);
    if (!p)
        return NULL;
    a->f = (struct tok_form *)(void *)p;
    a->items = (struct item *)(void *)(p + f_size);
    a->scored = (uint32_t *)(void *)(p + f_size + items_size);
    return p + f_size + items_size + scored_size;
}

enum churn_err
churn_sentiment_analyze(const struct churn_sentiment *s, const char *text, size_t len,
                        struct churn_arena *scratch, struct churn_sentiment_result *out,
                        char *errbuf, size_t errlen)
{
    if (!s || !scratch || !out || (!text && len)) {
        churn_errf(errbuf, errlen, "invalid arguments");
        return CHURN_EINVAL;
    }
    struct churn__text_info info;
    if (len <= s->max_text) /* an oversized text is refused below without reading it */
        churn__text_scan(text, len, &info);
    else
        info = (struct churn__text_info){.valid_to = len};
    s = churn__sentiment_pick(s, &info);
    if (len > s->max_text) {
        churn_errf(errbuf, errlen, "text of %zu bytes is over the limit of %zu bytes", len,
                   s->max_text);
        return CHURN_ETOOBIG;
    }
    struct analysis a = {.s = s};
    enum churn_err err = read_text(&a, text, &len, &info, scratch, errbuf, errlen);
    if (err)
        return err;
    struct churn__thread *th = NULL;
    if (s->korean && (th = churn__thread_get(s)) &&
        churn__ko_split_spacing(s, th, text, &a.toks, scratch) != 0)
        goto out_nomem;

    char *stems = analysis_arrays(&a, len, scratch);
    if (!stems)
        goto out_nomem;

    if (s->snowball[0] && !th && !(th = churn__thread_get(s))) {
        churn_errf(errbuf, errlen, "cannot create this thread's stemmer");
        return CHURN_ENOMEM;
    }

    collect_forms(&a, th, stems);
    match_items(&a);
    size_t n_ev = score_items(&a);
    apply_stay(&a);
    apply_contrast(&a);

    struct churn_sentiment_evidence *ev = NULL;
    if (n_ev && !(ev = churn_arena_alloc(scratch, n_ev * sizeof(*ev))))
        goto out_nomem;
    score_text(&a, out);
    fill_evidence(&a, ev, out);
    out->n_tokens = a.toks.n;
    out->language = s->language;
    return 0;

out_nomem:
    churn_errf(errbuf, errlen, "scratch memory exhausted analyzing %zu bytes", len);
    return CHURN_ENOMEM;
}
