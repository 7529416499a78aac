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
#include "internal.h"

#define B_INCR       0.293 /* booster step (VADER) */
#define C_INCR       0.733 /* ALL-CAPS emphasis (VADER) */
#define E_INCR       0.293 /* elongation emphasis ("sooo bad") */
#define WINDOW       3     /* items before a term that may modify it */
#define ALPHA        15.0  /* normalization constant (VADER) */
#define EP_STEP      0.292 /* per "!" (at most 4) */
#define QM_STEP      0.18  /* per "?" when 2 or 3 */
#define QM_MAX       0.96  /* 4 or more "?" */
#define CONTRAST_DEF 1.5
#define N_SCALAR     -0.74 /* negation of words ending in "n't" that no lexicon lists */

/* One token with its lexicon forms. */
struct tok_form {
    const char *surf;
    const char *stem;
    uint64_t surf_h; /* churn__hash_bytes() of the forms, computed once */
    uint64_t stem_h;
    uint32_t surf_len;
    uint32_t stem_len;
    uint32_t tok;    /* index in the token array */
    uint16_t clause; /* punctuation other than quotes starts a new clause */
    uint16_t sentence;
};

/* One matched unit: a word, a phrase, an emoji, ... */
struct item {
    uint32_t first, last; /* tok_form indexes, inclusive */
    int32_t entry;        /* -1: no lexicon entry */
    uint16_t clause, sentence;
    uint16_t ev_flags;
    uint8_t tok_flags;
    uint8_t kind; /* evidence kind */
    bool stem;
    bool nt; /* an unlisted word ending in "n't": a negator all the same */
    double v;
};

static const struct churn__lex_entry *
item_entry(const struct churn_sentiment *s, const struct item *it)
{
    return it->entry >= 0 ? &s->entries[it->entry] : NULL;
}

/* Longest entry in @t starting at form @i; returns the number of forms matched (0: none). */
static size_t
match_at(const struct churn_sentiment *s, const struct churn__lex_table *t,
         const struct tok_form *f, size_t nf, size_t i, bool use_stem, int32_t *entry)
{
    const char *forms[CHURN_SENTIMENT_MAX_PHRASE_WORDS];
    uint32_t lens[CHURN_SENTIMENT_MAX_PHRASE_WORDS];
    uint64_t h = churn__hash_start();
    size_t best = 0;
    for (size_t k = 0; k < CHURN_SENTIMENT_MAX_PHRASE_WORDS && i + k < nf; k++) {
        const struct tok_form *x = &f[i + k];
        if (k > 0 && x->clause != f[i].clause)
            break;
        forms[k] = use_stem ? x->stem : x->surf;
        lens[k] = use_stem ? x->stem_len : x->surf_len;
        if (k == 0) {
            h = use_stem ? x->stem_h : x->surf_h;
            if (!churn__table_may_have(t, h))
                break;
        } else {
            h = churn__hash_bytes(churn__hash_bytes(h, " ", 1), forms[k], lens[k]);
        }
        const struct churn__lex_slot *sl = churn__table_find(t, s->pool, h, forms, lens, k + 1);
        if (!sl)
            break;
        if (sl->entry >= 0) {
            best = k + 1;
            *entry = sl->entry;
        }
        if (!sl->prefix)
            break;
    }
    return best;
}

/* Single-token lookup with the elongation retry: "goood" -> "good" before "god". */
static int32_t
match_elongated(const struct churn_sentiment *s, const struct churn_sentiment_tokens *toks,
                const struct tok_form *f)
{
    const struct churn_sentiment_token *t = &toks->tok[f->tok];
    if (!(t->flags & CHURN_TOK_F_ELONGATED) || t->elong_at == CHURN_TOK_NO_ELONG ||
        f->surf_len >= 64 || t->elong_at >= f->surf_len)
        return -1;
    char buf[72];
    size_t at = t->elong_at;
    memcpy(buf, f->surf, at + 1);
    buf[at + 1] = f->surf[at];
    memcpy(buf + at + 2, f->surf + at + 1, f->surf_len - at - 1);
    const char *form = buf;
    uint32_t len = f->surf_len + 1;
    uint64_t h = churn__hash_bytes(churn__hash_start(), buf, len);
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

/* The VADER rules for item @i, returning its adjusted valence. */
static double
apply_rules(const struct churn_sentiment *s, struct item *items, size_t i, bool cap_diff)
{
    struct item *it = &items[i];
    const struct churn__lex_entry *e = item_entry(s, it);
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
        const struct churn__lex_entry *pe = item_entry(s, p);
        if (!pe) {
            if (p->nt) {
                v *= N_SCALAR;
                it->ev_flags ^= CHURN_EVIDENCE_F_NEGATED;
            }
            continue;
        }
        if (pe->flags & (CHURN__LEX_BOOSTER | CHURN__LEX_DAMPENER)) {
            double sc = pe->modifier;
            if (pe->flags & CHURN__LEX_DAMPENER)
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
                it->ev_flags |= (pe->flags & CHURN__LEX_BOOSTER) ? CHURN_EVIDENCE_F_BOOSTED
                                                                 : CHURN_EVIDENCE_F_DAMPENED;
            }
        } else if (pe->flags & CHURN__LEX_NEGATOR) {
            if (intent && (pe->flags & CHURN__LEX_MODAL))
                continue; /* "I can't cancel my subscription" is still churn intent */
            v *= pe->modifier;
            it->ev_flags ^= CHURN_EVIDENCE_F_NEGATED;
        } else if (pe->flags & CHURN__LEX_VALENCE) {
            continue; /* a valenced word shields nothing but is not a modifier (VADER) */
        }
    }
    if (intent && (it->ev_flags & CHURN_EVIDENCE_F_NEGATED))
        it->ev_flags |= CHURN_EVIDENCE_F_INTENT_SUPPRESSED;
    if (intent && !(it->ev_flags & CHURN_EVIDENCE_F_INTENT_SUPPRESSED)) {
        if (e->flags & CHURN__LEX_CHURN)
            it->ev_flags |= CHURN_EVIDENCE_F_CHURN_INTENT;
        if (e->flags & CHURN__LEX_HUMAN)
            it->ev_flags |= CHURN_EVIDENCE_F_HUMAN_REQUEST;
    }
    if (e->flags & CHURN__LEX_HARD)
        it->ev_flags |= CHURN_EVIDENCE_F_HARD_TRIGGER; /* never suppressed: a human looks */
    return v;
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
    if (len > s->max_text) {
        churn_errf(errbuf, errlen, "text of %zu bytes is over the limit of %zu bytes", len,
                   s->max_text);
        return CHURN_ETOOBIG;
    }
    struct churn_sentiment_tokens toks;
    enum churn_err err = churn_sentiment_tokenize(text, len, scratch, &toks, errbuf, errlen);
    if (err)
        return err;

    struct tok_form *f = churn_arena_alloc(scratch, (toks.n + 1) * sizeof(*f));
    struct item *items = churn_arena_alloc(scratch, (toks.n + 1) * sizeof(*items));
    if (!f || !items)
        goto out_nomem;

    struct churn__stem_tls *stems = NULL;
    if (s->snowball[0] && !(stems = churn__stem_tls(s))) {
        churn_errf(errbuf, errlen, "cannot create this thread's stemmer");
        return CHURN_ENOMEM;
    }

    /* 1. forms, clauses, sentences, punctuation emphasis */
    size_t nf = 0, bangs = 0, qmarks = 0;
    uint16_t clause = 0, sentence = 0;
    for (size_t i = 0; i < toks.n; i++) {
        const struct churn_sentiment_token *t = &toks.tok[i];
        const char *norm = toks.norm + t->norm;
        if (t->kind == CHURN_TOK_PUNCT) {
            for (uint32_t k = 0; k < t->norm_len; k++) {
                bangs += norm[k] == '!';
                qmarks += norm[k] == '?';
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
        struct tok_form *x = &f[nf++];
        x->surf = norm;
        x->surf_len = t->norm_len;
        x->stem = norm;
        x->stem_len = t->norm_len;
        x->surf_h = churn__hash_bytes(churn__hash_start(), norm, t->norm_len);
        x->stem_h = x->surf_h;
        x->tok = (uint32_t)i;
        x->clause = clause;
        x->sentence = sentence;
        if (t->kind == CHURN_TOK_WORD && stems) {
            size_t sl;
            if (churn__stem_cached(stems, norm, t->norm_len, x->surf_h, &x->stem, &sl)) {
                x->stem_len = (uint32_t)sl;
                x->stem_h = churn__hash_bytes(churn__hash_start(), x->stem, sl);
            }
        }
    }

    /* 2. greedy longest match: surface first, then stem */
    size_t ni = 0, words = 0, caps = 0;
    for (size_t i = 0; i < nf;) {
        int32_t e1 = -1, e2 = -1;
        size_t m1 = match_at(s, &s->surface, f, nf, i, false, &e1);
        size_t m2 = 0;
        if (m1 <= 1) { /* an elongated word tries its doubled letter first: "goood" */
            int32_t e3 = match_elongated(s, &toks, &f[i]);
            if (e3 >= 0) {
                e1 = e3;
                m1 = 1;
            }
        }
        if (s->stem.slots)
            m2 = match_at(s, &s->stem, f, nf, i, true, &e2);
        struct item *it = &items[ni++];
        const struct churn_sentiment_token *t = &toks.tok[f[i].tok];
        size_t m = 1;
        it->entry = -1;
        it->stem = false;
        if (m1 && m1 >= m2) {
            m = m1;
            it->entry = e1;
        } else if (m2) {
            m = m2;
            it->entry = e2;
            it->stem = true;
        }
        it->first = (uint32_t)i;
        it->last = (uint32_t)(i + m - 1);
        it->clause = f[i].clause;
        it->sentence = f[i].sentence;
        it->ev_flags = it->stem ? CHURN_EVIDENCE_F_STEM : 0;
        it->tok_flags = m == 1 ? t->flags : 0;
        it->kind = m > 1                           ? CHURN_EVIDENCE_PHRASE
                   : t->kind == CHURN_TOK_EMOJI    ? CHURN_EVIDENCE_EMOJI
                   : t->kind == CHURN_TOK_EMOTICON ? CHURN_EVIDENCE_EMOTICON
                                                   : CHURN_EVIDENCE_WORD;
        it->v = 0.0;
        it->nt = it->entry < 0 && m == 1 && t->kind == CHURN_TOK_WORD && f[i].surf_len > 3 &&
                 memcmp(f[i].surf + f[i].surf_len - 3, "n't", 3) == 0;
        for (size_t k = i; k < i + m; k++) {
            const struct churn_sentiment_token *tk = &toks.tok[f[k].tok];
            if (tk->kind == CHURN_TOK_WORD) {
                words++;
                caps += (tk->flags & CHURN_TOK_F_ALLCAPS) != 0;
            }
        }
        i += m;
    }
    bool cap_diff = caps > 0 && caps < words;

    /* 3. rules per valenced or flagged item */
    size_t n_ev = 0;
    for (size_t i = 0; i < ni; i++) {
        const struct churn__lex_entry *e = item_entry(s, &items[i]);
        if (!e || (e->flags & CHURN__LEX_MODIFIER) ||
            !(e->flags & (CHURN__LEX_VALENCE | CHURN__LEX_INTENT)))
            continue;
        items[i].v = apply_rules(s, items, i, cap_diff);
        if (items[i].v != 0.0 ||
            (items[i].ev_flags &
             (CHURN_EVIDENCE_F_CHURN_INTENT | CHURN_EVIDENCE_F_HUMAN_REQUEST |
              CHURN_EVIDENCE_F_HARD_TRIGGER | CHURN_EVIDENCE_F_INTENT_SUPPRESSED)))
            n_ev++;
    }

    /* 4. contrast: the first contrast word of a sentence shifts weight after it */
    for (size_t i = 0; i < ni; i++) {
        const struct churn__lex_entry *e = item_entry(s, &items[i]);
        if (!e || !(e->flags & CHURN__LEX_CONTRAST))
            continue;
        uint16_t sent = items[i].sentence;
        double w = e->modifier > 0 ? e->modifier : CONTRAST_DEF;
        size_t a = i;
        while (a > 0 && items[a - 1].sentence == sent)
            a--;
        for (size_t k = a; k < i; k++) {
            if (items[k].v != 0.0) {
                items[k].v *= 2.0 - w;
                items[k].ev_flags |= CHURN_EVIDENCE_F_BEFORE_CONTRAST;
            }
        }
        size_t b = i + 1;
        for (; b < ni && items[b].sentence == sent; b++) {
            if (items[b].v != 0.0) {
                items[b].v *= w;
                items[b].ev_flags |= CHURN_EVIDENCE_F_AFTER_CONTRAST;
            }
        }
        i = b - 1; /* later contrast words in the same sentence are ignored */
    }

    /* 5. score */
    double sum = 0.0, pos = 0.0, neg = 0.0;
    size_t neu = 0;
    for (size_t i = 0; i < ni; i++) {
        double v = items[i].v;
        sum += v;
        if (v > 0)
            pos += v + 1.0;
        else if (v < 0)
            neg += v - 1.0;
        else
            neu++;
    }
    double ep = (double)(bangs > 4 ? 4 : bangs) * EP_STEP;
    double qm = qmarks > 1 ? (qmarks <= 3 ? (double)qmarks * QM_STEP : QM_MAX) : 0.0;
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

    /* 6. evidence */
    struct churn_sentiment_evidence *ev = NULL;
    if (n_ev) {
        ev = churn_arena_alloc(scratch, n_ev * sizeof(*ev));
        if (!ev)
            goto out_nomem;
    }
    size_t k = 0;
    bool churn = false, human = false, hard = false;
    for (size_t i = 0; i < ni && k < n_ev; i++) {
        const struct item *it = &items[i];
        const struct churn__lex_entry *e = item_entry(s, it);
        if (!e || (e->flags & CHURN__LEX_MODIFIER) ||
            !(e->flags & (CHURN__LEX_VALENCE | CHURN__LEX_INTENT)))
            continue;
        if (it->v == 0.0 &&
            !(it->ev_flags & (CHURN_EVIDENCE_F_CHURN_INTENT | CHURN_EVIDENCE_F_HUMAN_REQUEST |
                              CHURN_EVIDENCE_F_HARD_TRIGGER | CHURN_EVIDENCE_F_INTENT_SUPPRESSED)))
            continue;
        struct churn_sentiment_evidence *x = &ev[k++];
        x->start = toks.tok[f[it->first].tok].start;
        x->end = toks.tok[f[it->last].tok].end;
        x->term = s->pool + e->key;
        x->term_len = e->key_len;
        x->kind = it->kind;
        x->flags = it->ev_flags;
        x->valence = e->valence;
        x->contribution = (float)it->v;
        churn |= (it->ev_flags & CHURN_EVIDENCE_F_CHURN_INTENT) != 0;
        human |= (it->ev_flags & CHURN_EVIDENCE_F_HUMAN_REQUEST) != 0;
        hard |= (it->ev_flags & CHURN_EVIDENCE_F_HARD_TRIGGER) != 0;
    }

    out->compound = compound;
    out->positive = total > 0 ? fabs(pos / total) : 0.0;
    out->negative = total > 0 ? fabs(neg / total) : 0.0;
    out->neutral = total > 0 ? (double)neu / total : 0.0;
    out->churn_intent = churn;
    out->human_requested = human;
    out->hard_trigger = hard;
    out->n_tokens = toks.n;
    out->n_evidence = k;
    out->evidence = ev;
    return 0;

out_nomem:
    churn_errf(errbuf, errlen, "scratch memory exhausted analyzing %zu bytes", len);
    return CHURN_ENOMEM;
}
