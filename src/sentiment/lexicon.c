/*
 * sentiment/lexicon.c - the lexicon loader and compiler. It parses lexicon files (our
 * "term<TAB>value[<TAB>flags]" format and VADER's vader_lexicon.txt), reports every problem
 * as "file:line: what is wrong", tokenizes each term with the analyzer's own tokenizer so
 * that keys and text normalize alike, layers the files (a later file overrides a valence and
 * adds flags), and compiles the result into two open-addressing hash tables: surface keys
 * and Snowball-stem keys. Multiword phrases are keys of words joined by one space; every
 * proper prefix of a phrase is marked in the table so that matching a phrase in text walks
 * forward only while a longer phrase is still possible.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/arena.h"
#include "churn/sentiment.h"
#include "churn/sentiment_ko.h"
#include "internal.h"

#define POOL_CAP (64u * 1024 * 1024)

/* Are the @n bytes at @a and @b the same? Words are short: two overlapping 4-byte loads
 * compare one of 4 to 8 bytes, no call to memcmp. */
static inline bool
same_bytes(const char *a, const char *b, size_t n)
{
    if (n >= 4 && n <= 8)
        return churn__load_bytes(a, 4) == churn__load_bytes(b, 4) &&
               churn__load_bytes(a + n - 4, 4) == churn__load_bytes(b + n - 4, 4);
    if (n > 8)
        return memcmp(a, b, n) == 0;
    for (size_t k = 0; k < n; k++)
        if (a[k] != b[k])
            return false;
    return true;
}

/* Does the pool key equal the forms joined by single spaces? */
static bool
key_equals(const char *key, size_t key_len, const char *const *forms, const uint32_t *lens,
           size_t n)
{
    size_t total = n - 1;
    for (size_t i = 0; i < n; i++)
        total += lens[i];
    if (total != key_len)
        return false;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && key[off++] != ' ')
            return false;
        if (!same_bytes(key + off, forms[i], lens[i]))
            return false;
        off += lens[i];
    }
    return true;
}

const struct churn__lex_slot *
churn__table_find(const struct churn__lex_table *t, const char *pool, uint64_t h,
                  const char *const *forms, const uint32_t *lens, size_t nforms)
{
    if (!t->slots)
        return NULL;
    h = churn__slot_hash(h);
    if (!churn__bloom_has(t->bloom, h))
        return NULL;
    uint32_t tag = churn__slot_tag(h);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const struct churn__lex_slot *sl = &t->slots[i];
        if (sl->tag == 0)
            return NULL;
        if (sl->tag == tag && key_equals(pool + sl->key, sl->key_len, forms, lens, nforms))
            return sl;
    }
}

struct loader {
    struct churn_sentiment *s;
    size_t pool_alloc;
    size_t entries_alloc;
    uint16_t *entry_src;  /* source index that defined the entry */
    uint32_t *entry_line; /* line that defined it */
    char *errbuf;
    size_t errlen;
    struct churn_arena scratch;
};

static enum churn_err
pool_add(struct loader *ld, const char *p, size_t n, uint32_t *off)
{
    struct churn_sentiment *s = ld->s;
    if (s->pool_len + n + 1 > POOL_CAP)
        return CHURN_ETOOBIG;
    if (s->pool_len + n + 1 > ld->pool_alloc) {
        size_t want = ld->pool_alloc ? ld->pool_alloc * 2 : 64 * 1024;
        while (want < s->pool_len + n + 1)
            want *= 2;
        char *np = churn_realloc(s->pool, want);
        if (!np)
            return CHURN_ENOMEM;
        s->pool = np;
        ld->pool_alloc = want;
    }
    memcpy(s->pool + s->pool_len, p, n);
    s->pool[s->pool_len + n] = '\0';
    *off = (uint32_t)s->pool_len;
    s->pool_len += n + 1;
    return 0;
}

static enum churn_err
table_grow(struct churn__lex_table *t, const char *pool)
{
    size_t cap = t->slots ? (t->mask + 1) * 2 : 1024;
    struct churn__lex_slot *slots = churn_calloc(cap, sizeof(*slots));
    if (!slots)
        return CHURN_ENOMEM;
    if (t->slots) {
        for (size_t i = 0; i <= t->mask; i++) {
            struct churn__lex_slot *sl = &t->slots[i];
            if (!sl->tag)
                continue;
            uint64_t h = churn__slot_hash(churn__hash_key(pool + sl->key, sl->key_len));
            size_t j = h & (cap - 1);
            while (slots[j].tag)
                j = (j + 1) & (cap - 1);
            slots[j] = *sl;
        }
        churn_free(t->slots);
    }
    t->slots = slots;
    t->mask = cap - 1;
    return 0;
}

/* Find or add the slot of @key (a pool string); *found tells which. */
static enum churn_err
table_upsert(struct loader *ld, struct churn__lex_table *t, const char *key, size_t key_len,
             struct churn__lex_slot **out, bool *found)
{
    if (key_len > UINT16_MAX)
        return CHURN_ETOOBIG;
    if (!t->slots || (t->used + 1) * 4 > (t->mask + 1) * 3) { /* load <= 0.75 */
        enum churn_err err = table_grow(t, ld->s->pool);
        if (err)
            return err;
    }
    uint64_t key_h = churn__hash_key(key, key_len);
    uint64_t h = churn__slot_hash(key_h);
    uint32_t tag = churn__slot_tag(h);
    uint32_t len32 = (uint32_t)key_len;
    size_t i = h & t->mask;
    for (;; i = (i + 1) & t->mask) {
        struct churn__lex_slot *sl = &t->slots[i];
        if (sl->tag == 0)
            break;
        if (sl->tag == tag && key_equals(ld->s->pool + sl->key, sl->key_len, &key, &len32, 1)) {
            *out = sl;
            *found = true;
            return 0;
        }
    }
    uint32_t off;
    enum churn_err err = pool_add(ld, key, key_len, &off);
    if (err)
        return err;
    struct churn__lex_slot *sl = &t->slots[i];
    churn__bloom_set(t->bloom, key_h);
    sl->tag = tag;
    sl->key = off;
    sl->key_len = (uint16_t)key_len;
    sl->entry = -1;
    sl->prefix = 0;
    t->used++;
    *out = sl;
    *found = false;
    return 0;
}

static const struct {
    const char *name;
    uint16_t flag;
} flag_names[] = {
    {"negator", CHURN__LEX_NEGATOR},   {"modal", CHURN__LEX_MODAL},
    {"booster", CHURN__LEX_BOOSTER},   {"dampener", CHURN__LEX_DAMPENER},
    {"contrast", CHURN__LEX_CONTRAST}, {"churn", CHURN__LEX_CHURN},
    {"human", CHURN__LEX_HUMAN},       {"hard", CHURN__LEX_HARD},
    {"nostem", CHURN__LEX_NOSTEM},     {"idiom", CHURN__LEX_IDIOM},
    {"suffix", CHURN__LEX_SUFFIX},     {"hedged", CHURN__LEX_HEDGED},
    {"stay", CHURN__LEX_STAY},
};

static bool
parse_flags(struct loader *ld, const char *name, size_t line, const char *p, size_t n,
            uint16_t *flags)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && p[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && (p[a] == ' ' || p[a] == '\t'))
            a++;
        while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t'))
            b--;
        bool ok = false;
        for (size_t k = 0; k < sizeof(flag_names) / sizeof(flag_names[0]); k++) {
            if (strlen(flag_names[k].name) == b - a &&
                memcmp(flag_names[k].name, p + a, b - a) == 0) {
                *flags |= flag_names[k].flag;
                ok = true;
            }
        }
        if (!ok) {
            churn_errf(ld->errbuf, ld->errlen,
                       "%s:%zu: unknown flag '%.*s' (known: negator, modal, booster, dampener, "
                       "contrast, churn, human, hard, nostem, idiom, suffix, hedged, stay)",
                       name, line, (int)(b - a > 40 ? 40 : b - a), p + a);
            return false;
        }
        i = j + 1;
    }
    uint16_t mods = *flags & CHURN__LEX_MODIFIER;
    if (mods & (mods - 1)) {
        churn_errf(ld->errbuf, ld->errlen,
                   "%s:%zu: a term is at most one of negator, booster, dampener, contrast", name,
                   line);
        return false;
    }
    if ((*flags & CHURN__LEX_MODAL) && !(*flags & CHURN__LEX_NEGATOR)) {
        churn_errf(ld->errbuf, ld->errlen, "%s:%zu: flag 'modal' needs 'negator'", name, line);
        return false;
    }
    if ((*flags & CHURN__LEX_SUFFIX) && !(*flags & CHURN__LEX_NEGATOR)) {
        churn_errf(ld->errbuf, ld->errlen, "%s:%zu: flag 'suffix' needs 'negator'", name, line);
        return false;
    }
    if ((*flags & CHURN__LEX_STAY) && (*flags & (CHURN__LEX_INTENT | CHURN__LEX_MODIFIER))) {
        churn_errf(ld->errbuf, ld->errlen,
                   "%s:%zu: flag 'stay' goes with no intent or modifier flag", name, line);
        return false;
    }
    if ((*flags & CHURN__LEX_HEDGED) && !(*flags & CHURN__LEX_CHURN)) {
        churn_errf(ld->errbuf, ld->errlen, "%s:%zu: flag 'hedged' needs 'churn'", name, line);
        return false;
    }
    return true;
}

static bool
parse_number(struct loader *ld, const char *name, size_t line, const char *what, const char *p,
             size_t n, double lo, double hi, double *out)
{
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp)) {
        churn_errf(ld->errbuf, ld->errlen, "%s:%zu: %s '%.*s' is not a number", name, line, what,
                   (int)(n > 40 ? 40 : n), p);
        return false;
    }
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (end == tmp || *end != '\0' || errno == ERANGE || !isfinite(v)) {
        churn_errf(ld->errbuf, ld->errlen, "%s:%zu: %s '%s' is not a number", name, line, what,
                   tmp);
        return false;
    }
    if (v < lo || v > hi) {
        churn_errf(ld->errbuf, ld->errlen, "%s:%zu: %s %s is out of range [%g, %g]", name, line,
                   what, tmp, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

/* Tokenize a term into its key (words joined by one space).
 * 0: ok, 1: skip the line, -1: malformed, -2: out of memory. */
static int
term_key(struct loader *ld, const char *name, size_t line, const char *term, size_t n, bool strict,
         char *key, size_t *key_len, uint8_t *words)
{
    struct churn_sentiment_tokens toks;
    char err[128];
    churn_arena_reset(&ld->scratch);
    enum churn_err e = churn_sentiment_tokenize(term, n, &ld->scratch, &toks, err, sizeof(err));
    if (e) {
        churn_errf(ld->errbuf, ld->errlen, "%s:%zu: term: %s", name, line, err);
        return e == CHURN_ENOMEM ? -2 : -1;
    }
    if (toks.n == 0) {
        if (!strict)
            return 1;
        churn_errf(ld->errbuf, ld->errlen, "%s:%zu: empty term", name, line);
        return -1;
    }
    if (toks.n > CHURN_SENTIMENT_MAX_PHRASE_WORDS) {
        if (!strict)
            return 1;
        churn_errf(ld->errbuf, ld->errlen, "%s:%zu: phrase of %zu words is longer than %d", name,
                   line, toks.n, CHURN_SENTIMENT_MAX_PHRASE_WORDS);
        return -1;
    }
    size_t off = 0;
    for (size_t i = 0; i < toks.n; i++) {
        const struct churn_sentiment_token *t = &toks.tok[i];
        if (t->kind == CHURN_TOK_PUNCT || t->kind == CHURN_TOK_URL || t->kind == CHURN_TOK_EMAIL) {
            if (!strict)
                return 1;
            churn_errf(ld->errbuf, ld->errlen,
                       "%s:%zu: term '%.*s' contains '%.*s', which text never matches as a word",
                       name, line, (int)(n > 60 ? 60 : n), term, (int)(t->end - t->start),
                       term + t->start);
            return -1;
        }
        if (i > 0)
            key[off++] = ' ';
        memcpy(key + off, toks.norm + t->norm, t->norm_len);
        off += t->norm_len;
    }
    *key_len = off;
    *words = (uint8_t)toks.n;
    return 0;
}

static enum churn_err
add_entry(struct loader *ld, size_t src, size_t line, const char *name, bool strict,
          const char *key, size_t key_len, uint8_t words, uint16_t flags, double valence,
          double modifier)
{
    struct churn_sentiment *s = ld->s;
    struct churn__lex_slot *sl;
    bool found;
    enum churn_err err = table_upsert(ld, &s->surface, key, key_len, &sl, &found);
    if (err)
        return err;
    if (found && sl->entry >= 0) {
        struct churn__lex_entry *e = &s->entries[sl->entry];
        if (ld->entry_src[sl->entry] == src) {
            if (!strict)
                return 0; /* VADER lists some terms twice in two cases: keep the first */
            churn_errf(ld->errbuf, ld->errlen, "%s:%zu: duplicate entry '%.*s' (first on line %u)",
                       name, line, (int)(key_len > 60 ? 60 : key_len), key,
                       ld->entry_line[sl->entry]);
            return CHURN_EINVAL;
        }
        if (flags & CHURN__LEX_VALENCE)
            e->valence = (float)valence;
        if (flags & CHURN__LEX_MODIFIER) {
            e->flags &= (uint16_t) ~(CHURN__LEX_MODIFIER | CHURN__LEX_MODAL);
            e->modifier = (float)modifier;
        }
        e->flags |= flags;
        ld->entry_src[sl->entry] = (uint16_t)src;
        ld->entry_line[sl->entry] = (uint32_t)line;
        return 0;
    }
    if (s->n_entries >= CHURN_SENTIMENT_MAX_ENTRIES) {
        churn_errf(ld->errbuf, ld->errlen, "%s:%zu: more than %d lexicon entries", name, line,
                   CHURN_SENTIMENT_MAX_ENTRIES);
        return CHURN_ETOOBIG;
    }
    if (s->n_entries == ld->entries_alloc) {
        size_t want = ld->entries_alloc ? ld->entries_alloc * 2 : 4096;
        struct churn__lex_entry *ne = churn_realloc(s->entries, want * sizeof(*ne));
        if (!ne)
            return CHURN_ENOMEM;
        s->entries = ne;
        uint16_t *nsrc = churn_realloc(ld->entry_src, want * sizeof(*nsrc));
        if (!nsrc)
            return CHURN_ENOMEM;
        ld->entry_src = nsrc;
        uint32_t *nline = churn_realloc(ld->entry_line, want * sizeof(*nline));
        if (!nline)
            return CHURN_ENOMEM;
        ld->entry_line = nline;
        ld->entries_alloc = want;
    }
    struct churn__lex_entry *e = &s->entries[s->n_entries];
    e->key = sl->key;
    e->key_len = (uint32_t)key_len;
    e->flags = flags;
    e->words = words;
    e->valence = (flags & CHURN__LEX_VALENCE) ? (float)valence : 0.0f;
    e->modifier = (flags & CHURN__LEX_MODIFIER) ? (float)modifier : 0.0f;
    ld->entry_src[s->n_entries] = (uint16_t)src;
    ld->entry_line[s->n_entries] = (uint32_t)line;
    sl->entry = (int32_t)s->n_entries;
    s->n_entries++;
    return 0;
}

/* Split a line at tabs into at most @max fields (the last field keeps further tabs). */
static size_t
split_tabs(const char *p, size_t n, const char **f, size_t *fl, size_t max)
{
    size_t k = 0, i = 0;
    while (k < max) {
        size_t j = i;
        while (j < n && (p[j] != '\t' || k == max - 1))
            j++;
        /* trim spaces */
        size_t a = i, b = j;
        while (a < b && p[a] == ' ')
            a++;
        while (b > a && p[b - 1] == ' ')
            b--;
        f[k] = p + a;
        fl[k] = b - a;
        k++;
        if (j >= n)
            break;
        i = j + 1;
    }
    return k;
}

static enum churn_err
load_line(struct loader *ld, size_t src, const struct churn_sentiment_source *so, size_t line,
          const char *p, size_t n)
{
    bool strict = so->format == CHURN_LEX_FORMAT_CHURN;
    const char *f[4];
    size_t fl[4];
    size_t nf = split_tabs(p, n, f, fl, strict ? 4 : 3);
    if (nf < 2 || fl[0] == 0) {
        churn_errf(ld->errbuf, ld->errlen, "%s:%zu: expected '%s'", so->name, line,
                   strict ? "term<TAB>value[<TAB>flags]" : "term<TAB>mean<TAB>...");
        return CHURN_EINVAL;
    }
    if (strict && nf > 3) {
        churn_errf(ld->errbuf, ld->errlen, "%s:%zu: more than 3 tab-separated fields", so->name,
                   line);
        return CHURN_EINVAL;
    }
    uint16_t flags = 0;
    if (strict && nf == 3 && !parse_flags(ld, so->name, line, f[2], fl[2], &flags))
        return CHURN_EINVAL;
    double value;
    uint16_t mods = flags & CHURN__LEX_MODIFIER;
    const char *what = "valence";
    double lo = -4.0, hi = 4.0;
    if (mods == CHURN__LEX_NEGATOR) {
        what = "negation multiplier", lo = -2.0, hi = 2.0;
    } else if (mods == CHURN__LEX_BOOSTER || mods == CHURN__LEX_DAMPENER) {
        what = mods == CHURN__LEX_BOOSTER ? "booster amount" : "dampener amount", lo = 0.0,
        hi = 2.0;
    } else if (mods == CHURN__LEX_CONTRAST) {
        what = "contrast weight", lo = 1.0, hi = 2.0;
    }
    if (!parse_number(ld, so->name, line, what, f[1], fl[1], lo, hi, &value))
        return CHURN_EINVAL;
    if (!mods)
        flags |= CHURN__LEX_VALENCE;

    char key[CHURN_SENTIMENT_MAX_LINE + 16];
    size_t key_len;
    uint8_t words;
    int r = term_key(ld, so->name, line, f[0], fl[0], strict, key, &key_len, &words);
    if (r < 0)
        return r == -2 ? CHURN_ENOMEM : CHURN_EINVAL;
    if (r > 0)
        return 0;
    return add_entry(ld, src, line, so->name, strict, key, key_len, words, flags,
                     mods ? 0.0 : value, mods ? value : 0.0);
}

static enum churn_err
load_source(struct loader *ld, size_t src, const struct churn_sentiment_source *so)
{
    if (so->len > CHURN_SENTIMENT_MAX_LEXICON_FILE) {
        churn_errf(ld->errbuf, ld->errlen, "%s: %zu bytes is over the limit of %d", so->name,
                   so->len, CHURN_SENTIMENT_MAX_LEXICON_FILE);
        return CHURN_ETOOBIG;
    }
    const char *d = so->data;
    size_t pos = 0, line = 0;
    while (pos < so->len) {
        line++;
        const char *nl = memchr(d + pos, '\n', so->len - pos);
        size_t end = nl ? (size_t)(nl - d) : so->len;
        size_t n = end - pos;
        const char *p = d + pos;
        pos = nl ? end + 1 : so->len;
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n > CHURN_SENTIMENT_MAX_LINE) {
            churn_errf(ld->errbuf, ld->errlen, "%s:%zu: line of %zu bytes is longer than %d",
                       so->name, line, n, CHURN_SENTIMENT_MAX_LINE);
            return CHURN_EINVAL;
        }
        if (memchr(p, '\0', n)) {
            churn_errf(ld->errbuf, ld->errlen, "%s:%zu: NUL byte in line", so->name, line);
            return CHURN_EINVAL;
        }
        size_t bad = churn_utf8_check(p, n);
        if (bad != n) {
            churn_errf(ld->errbuf, ld->errlen, "%s:%zu: invalid UTF-8 at column %zu", so->name,
                       line, bad + 1);
            return CHURN_EINVAL;
        }
        size_t a = 0;
        while (a < n && (p[a] == ' ' || p[a] == '\t'))
            a++;
        if (a == n || (so->format == CHURN_LEX_FORMAT_CHURN && p[a] == '#'))
            continue;
        enum churn_err err = load_line(ld, src, so, line, p, n);
        if (err)
            return err;
    }
    return 0;
}

/* Note the words after the first of every phrase key of @t in its filter of later words. */
static void
note_later_words(const struct churn_sentiment *s, struct churn__lex_table *t)
{
    for (size_t i = 0; t->slots && i <= t->mask; i++) {
        const struct churn__lex_slot *sl = &t->slots[i];
        if (!sl->tag)
            continue;
        const char *key = s->pool + sl->key;
        const char *sp = memchr(key, ' ', sl->key_len);
        while (sp) {
            const char *word = sp + 1;
            sp = memchr(word, ' ', (size_t)(key + sl->key_len - word));
            size_t n = sp ? (size_t)(sp - word) : (size_t)(key + sl->key_len - word);
            churn__bloom_set(t->later, churn__hash_word(word, n));
        }
    }
}

/* Mark every proper prefix of every phrase key in @t. */
static enum churn_err
mark_prefixes(struct loader *ld, struct churn__lex_table *t)
{
    if (!t->slots)
        return 0;
    size_t n = t->mask + 1;
    /* the table may grow while we insert: collect phrase keys first */
    uint32_t *keys = churn_malloc((t->used + 1) * 2 * sizeof(*keys));
    if (!keys)
        return CHURN_ENOMEM;
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        const struct churn__lex_slot *sl = &t->slots[i];
        if (sl->tag && sl->entry >= 0 && memchr(ld->s->pool + sl->key, ' ', sl->key_len)) {
            keys[nk++] = sl->key;
            keys[nk++] = sl->key_len;
        }
    }
    enum churn_err err = 0;
    for (size_t k = 0; k < nk && !err; k += 2) {
        for (uint32_t j = 0; j < keys[k + 1] && !err; j++) {
            if (ld->s->pool[keys[k] + j] != ' ')
                continue;
            struct churn__lex_slot *sl;
            bool found;
            /* copy: pool_add may move the pool */
            char tmp[CHURN_SENTIMENT_MAX_LINE + 16];
            memcpy(tmp, ld->s->pool + keys[k], j);
            err = table_upsert(ld, t, tmp, j, &sl, &found);
            if (!err)
                sl->prefix = 1;
        }
    }
    churn_free(keys);
    if (!err)
        note_later_words(ld->s, t);
    return err;
}

/* The stem key of an entry: each stemmable word replaced by its stem. */
static enum churn_err
stem_key(struct loader *ld, const struct churn__lex_entry *e, char *out, size_t *out_len)
{
    const char *k = ld->s->pool + e->key;
    size_t i = 0, o = 0;
    while (i < e->key_len) {
        size_t j = i;
        while (j < e->key_len && k[j] != ' ')
            j++;
        char buf[CHURN__STEM_MAX_WORD];
        const char *st;
        size_t sl;
        enum churn_err err = churn__stem_thread(ld->s, k + i, j - i, buf, &st, &sl);
        if (err)
            return err;
        if (o)
            out[o++] = ' ';
        memcpy(out + o, st, sl);
        o += sl;
        i = j + 1;
    }
    *out_len = o;
    return 0;
}

static enum churn_err
build_stem_table(struct loader *ld)
{
    struct churn_sentiment *s = ld->s;
    if (!s->snowball[0])
        return 0;
    for (size_t i = 0; i < s->n_entries; i++) {
        const struct churn__lex_entry *e = &s->entries[i];
        /* Korean negators inflect (않아요, 못했어요): they get stem keys; adverbs do not */
        bool modifier = (e->flags & CHURN__LEX_MODIFIER) != 0;
        bool inflects = s->korean && (e->flags & CHURN__LEX_NEGATOR);
        if ((e->flags & CHURN__LEX_NOSTEM) || (modifier && !inflects) ||
            (!modifier && !(e->flags & (CHURN__LEX_VALENCE | CHURN__LEX_INTENT))))
            continue;
        char key[CHURN_SENTIMENT_MAX_LINE * 2 + 16];
        size_t key_len;
        enum churn_err err = stem_key(ld, e, key, &key_len);
        if (err)
            return err;
        struct churn__lex_slot *sl;
        bool found;
        err = table_upsert(ld, &s->stem, key, key_len, &sl, &found);
        if (err)
            return err;
        if (!found || sl->entry == -1) {
            sl->entry = (int32_t)i;
            continue;
        }
        if (sl->entry < 0)
            continue; /* already ambiguous */
        /* Two terms share a stem. Keep one only if they mean the same thing: same sign and
         * the same intent flags; prefer the term that is its own stem. */
        const struct churn__lex_entry *o = &s->entries[sl->entry];
        bool same = ((o->valence > 0) == (e->valence > 0)) &&
                    ((o->valence < 0) == (e->valence < 0)) &&
                    ((o->flags & CHURN__LEX_INTENT) == (e->flags & CHURN__LEX_INTENT)) &&
                    ((o->flags & CHURN__LEX_MODIFIER) == (e->flags & CHURN__LEX_MODIFIER));
        if (!same)
            sl->entry = -2;
        else if (e->key_len == key_len && memcmp(s->pool + e->key, key, key_len) == 0)
            sl->entry = (int32_t)i;
    }
    return mark_prefixes(ld, &s->stem);
}

enum churn_err
churn_sentiment_open_sources(const struct churn_sentiment_source *sources, size_t n,
                             const char *language, const char *snowball,
                             const struct churn_sentiment_options *opts,
                             struct churn_sentiment **out, char *errbuf, size_t errlen)
{
    enum churn_err err;
    if (!out || (n && !sources) || n > 64) {
        churn_errf(errbuf, errlen, "invalid lexicon source list");
        return CHURN_EINVAL;
    }
    size_t max_text =
        opts && opts->max_text_bytes ? opts->max_text_bytes : CHURN_SENTIMENT_MAX_TEXT_DEFAULT;
    if (max_text > CHURN_SENTIMENT_MAX_TEXT_LIMIT) {
        churn_errf(errbuf, errlen, "max_text_bytes %zu is over the limit of %d", max_text,
                   CHURN_SENTIMENT_MAX_TEXT_LIMIT);
        return CHURN_EINVAL;
    }
    if (!language || strlen(language) >= sizeof(((struct churn_sentiment *)0)->language) ||
        (snowball && strlen(snowball) >= sizeof(((struct churn_sentiment *)0)->snowball))) {
        churn_errf(errbuf, errlen, "invalid language or stemmer name");
        return CHURN_EINVAL;
    }
    struct churn_sentiment *s = churn_calloc(1, sizeof(*s));
    if (!s) {
        churn_errf(errbuf, errlen, "out of memory");
        return CHURN_ENOMEM;
    }
    memcpy(s->language, language, strlen(language) + 1);
    if (snowball)
        memcpy(s->snowball, snowball, strlen(snowball) + 1);
    s->korean = snowball && strcmp(snowball, CHURN_SENTIMENT_KO_REDUCER) == 0;
    s->max_text = max_text;
    struct loader ld = {.s = s, .errbuf = errbuf, .errlen = errlen};
    churn_arena_init(&ld.scratch, 256 * 1024);
    if (errbuf && errlen)
        errbuf[0] = '\0';

    err = churn__stem_init(s);
    if (err)
        goto out_fail;
    if (s->snowball[0] && !churn__stem_known(s->snowball)) {
        churn_errf(errbuf, errlen, "unknown Snowball algorithm '%s'", s->snowball);
        err = CHURN_EINVAL;
        goto out_fail;
    }
    for (size_t i = 0; i < n; i++) {
        const struct churn_sentiment_source *so = &sources[i];
        if (!so->name || (!so->data && so->len)) {
            churn_errf(errbuf, errlen, "lexicon source %zu has no name or data", i);
            err = CHURN_EINVAL;
            goto out_fail;
        }
        err = load_source(&ld, i, so);
        if (err)
            goto out_fail;
    }
    err = mark_prefixes(&ld, &s->surface);
    if (!err)
        err = build_stem_table(&ld);
    if (err)
        goto out_fail;
    churn_free(ld.entry_src);
    churn_free(ld.entry_line);
    churn_arena_fini(&ld.scratch);
    *out = s;
    return 0;

out_fail:
    if (err == CHURN_ENOMEM && (!errbuf || !errbuf[0]))
        churn_errf(errbuf, errlen, "out of memory loading lexicons");
    if (err == CHURN_ETOOBIG && (!errbuf || !errbuf[0]))
        churn_errf(errbuf, errlen, "lexicons are over the size limit");
    churn_free(ld.entry_src);
    churn_free(ld.entry_line);
    churn_arena_fini(&ld.scratch);
    churn_sentiment_close(s);
    return err;
}

enum churn_err
churn__sentiment_open_auto(struct churn_sentiment *const *peers, size_t n,
                           struct churn_sentiment **out, char *errbuf, size_t errlen)
{
    struct churn_sentiment *s = churn_calloc(1, sizeof(*s));
    if (!s || n > CHURN__MAX_PEERS) {
        churn_free(s);
        churn_errf(errbuf, errlen, "out of memory");
        return CHURN_ENOMEM;
    }
    memcpy(s->language, "auto", 5);
    for (size_t i = 0; i < n; i++)
        s->peers[i] = peers[i];
    s->n_peers = n;
    s->max_text = peers[0]->max_text;
    *out = s;
    return 0;
}

const struct churn_sentiment *
churn_sentiment_select(const struct churn_sentiment *s, const char *language)
{
    if (!s || !language)
        return NULL;
    if (language[0] == '\0' || strcmp(language, "auto") == 0)
        return s;
    if (strcmp(language, s->language) == 0)
        return s;
    for (size_t i = 0; i < s->n_peers; i++)
        if (strcmp(language, s->peers[i]->language) == 0)
            return s->peers[i];
    return NULL;
}

const struct churn_sentiment *
churn__sentiment_pick(const struct churn_sentiment *s, const struct churn__text_info *info)
{
    if (!s->n_peers)
        return s;
    const char *code = churn__detect_counts(info); /* two letters */
    for (size_t i = 0; i < s->n_peers; i++) {
        const char *l = s->peers[i]->language;
        if (l[0] == code[0] && l[1] == code[1] && l[2] == '\0')
            return s->peers[i];
    }
    return s->peers[0];
}

void
churn_sentiment_close(struct churn_sentiment *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_peers; i++)
        churn_sentiment_close(s->peers[i]);
    churn__stem_fini(s);
    churn_free(s->surface.slots);
    churn_free(s->stem.slots);
    churn_free(s->entries);
    churn_free(s->pool);
    churn_free(s);
}

const char *
churn_sentiment_language(const struct churn_sentiment *s)
{
    return s->language;
}

size_t
churn_sentiment_entry_count(const struct churn_sentiment *s)
{
    size_t n = s->n_entries;
    for (size_t i = 0; i < s->n_peers; i++)
        n += s->peers[i]->n_entries;
    return n;
}
