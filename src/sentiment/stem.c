/*
 * sentiment/stem.c - Snowball stems through libstemmer, the only file besides lexicon.c that
 * touches it. A libstemmer object is not thread-safe, so every thread that analyzes with an
 * analyzer gets its own stemmer plus a small direct-mapped cache of recent words (chat text
 * repeats the same few hundred words), created on first use, found again through a pthread
 * key without locks, and registered with the analyzer so that churn_sentiment_close() frees
 * them all. A thread that exits first frees its own through the key's destructor.
 */
#include <string.h>

#include <libstemmer.h>

#include "churn/alloc.h"
#include "internal.h"

#define CACHE_SLOTS 4096 /* 220 KiB per thread: the working vocabulary of a busy chat service */

struct stem_slot {
    uint64_t hash; /* 0: empty */
    uint8_t word_len;
    uint8_t stem_len;
    bool changed; /* the stem form differs from the word */
    char word[CHURN__STEM_MAX_WORD];
    char stem[CHURN__STEM_MAX_WORD];
};

struct churn__stem_tls {
    struct churn_sentiment *owner;
    struct sb_stemmer *stemmer;
    struct churn__stem_tls *prev, *next;
    struct stem_slot slots[CACHE_SLOTS];
};

bool
churn__stem_wanted(const char *word, size_t len)
{
    if (len < 3 || len > CHURN__STEM_MAX_WORD)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)word[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 0x80 && c < 0xf0))) /* no emoji */
            return false;
    }
    return true;
}

bool
churn__stem_known(const char *algorithm)
{
    for (const char **p = sb_stemmer_list(); *p; p++)
        if (strcmp(*p, algorithm) == 0)
            return true;
    return false;
}

static void
tls_unlink(struct churn__stem_tls *st)
{
    struct churn_sentiment *s = st->owner;
    if (st->prev)
        st->prev->next = st->next;
    else
        s->tls_all = st->next;
    if (st->next)
        st->next->prev = st->prev;
}

static void
tls_free(struct churn__stem_tls *st)
{
    if (st->stemmer)
        sb_stemmer_delete(st->stemmer);
    churn_free(st);
}

/* pthread key destructor: the thread exits while the analyzer lives. */
static void
tls_destroy(void *p)
{
    struct churn__stem_tls *st = p;
    struct churn_sentiment *s = st->owner;
    pthread_mutex_lock(&s->tls_lock);
    tls_unlink(st);
    pthread_mutex_unlock(&s->tls_lock);
    tls_free(st);
}

enum churn_err
churn__stem_init(struct churn_sentiment *s)
{
    if (pthread_mutex_init(&s->tls_lock, NULL) != 0)
        return CHURN_ENOMEM;
    if (pthread_key_create(&s->tls_key, tls_destroy) != 0) {
        pthread_mutex_destroy(&s->tls_lock);
        return CHURN_ENOMEM;
    }
    s->has_key = true;
    return 0;
}

void
churn__stem_fini(struct churn_sentiment *s)
{
    if (!s->has_key)
        return;
    pthread_key_delete(s->tls_key);
    struct churn__stem_tls *st = s->tls_all;
    while (st) {
        struct churn__stem_tls *next = st->next;
        tls_free(st);
        st = next;
    }
    s->tls_all = NULL;
    pthread_mutex_destroy(&s->tls_lock);
    s->has_key = false;
}

static struct churn__stem_tls *
tls_get(const struct churn_sentiment *cs)
{
    struct churn_sentiment *s = (struct churn_sentiment *)cs; /* only the registry changes */
    struct churn__stem_tls *st = pthread_getspecific(s->tls_key);
    if (st)
        return st;
    st = churn_calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->owner = s;
    st->stemmer = sb_stemmer_new(s->snowball, "UTF_8");
    if (!st->stemmer) {
        churn_free(st);
        return NULL;
    }
    if (pthread_setspecific(s->tls_key, st) != 0) {
        tls_free(st);
        return NULL;
    }
    pthread_mutex_lock(&s->tls_lock);
    st->next = s->tls_all;
    if (st->next)
        st->next->prev = st;
    s->tls_all = st;
    pthread_mutex_unlock(&s->tls_lock);
    return st;
}

struct churn__stem_tls *
churn__stem_tls(const struct churn_sentiment *s)
{
    return s->snowball[0] ? tls_get(s) : NULL;
}

enum churn_err
churn__stem_thread(const struct churn_sentiment *s, const char *word, size_t len, const char **stem,
                   size_t *stem_len)
{
    if (!s->snowball[0] || !churn__stem_wanted(word, len)) {
        *stem = word;
        *stem_len = len;
        return 0;
    }
    struct churn__stem_tls *st = tls_get(s);
    if (!st)
        return CHURN_ENOMEM;
    *stem = word;
    *stem_len = len;
    churn__stem_cached(st, word, len, churn__hash_bytes(churn__hash_start(), word, len), stem,
                       stem_len);
    return 0;
}

static bool
same_bytes(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) /* short words: no call to memcmp */
        if (a[i] != b[i])
            return false;
    return true;
}

/* Is @word its stem plus an inflection ("cancel" + "led", "care" - "e" + "ing", "cri" + "es"
 * for "cries")? Derivations ("useful" -> "use", "questionable" -> "question") change the
 * meaning, so for them the word stands for itself. */
static bool
inflection_of(const char *word, size_t len, const char *stem, size_t n)
{
    static const char *const endings[] = {"", "s", "es", "ed", "d", "ing", "e"};
    size_t base = n;
    if (n == 0 || n > len + 1)
        return false;
    if (n <= len && same_bytes(word, stem, n)) {
        base = n;
    } else if ((stem[n - 1] == 'e' || stem[n - 1] == 'i') && n - 1 <= len &&
               same_bytes(word, stem, n - 1)) {
        base = n - 1; /* "caring" for "care", "crying" for "cri" */
        if (stem[n - 1] == 'i' && base < len && word[base] == 'y')
            base++;
    } else {
        return false;
    }
    if (base > n - 1 && base < len && word[base] == word[base - 1] && base + 1 < len)
        base++; /* doubled consonant: "stopped", "cancelled" */
    size_t rest = len - base;
    for (size_t i = 0; i < sizeof(endings) / sizeof(endings[0]); i++)
        if (strlen(endings[i]) == rest && same_bytes(word + base, endings[i], rest))
            return true;
    return false;
}

static bool
slot_result(const struct stem_slot *slot, const char **stem, size_t *stem_len)
{
    if (!slot->changed)
        return false;
    *stem = slot->stem;
    *stem_len = slot->stem_len;
    return true;
}

bool
churn__stem_cached(struct churn__stem_tls *st, const char *word, size_t len, uint64_t h,
                   const char **stem, size_t *stem_len)
{
    if (!churn__stem_wanted(word, len))
        return false;
    h |= 1;
    struct stem_slot *slot = &st->slots[(h >> 7) & (CACHE_SLOTS - 1)];
    if (slot->hash == h && slot->word_len == len && same_bytes(slot->word, word, len))
        return slot_result(slot, stem, stem_len);
    const sb_symbol *out = sb_stemmer_stem(st->stemmer, (const sb_symbol *)word, (int)len);
    size_t n = out ? (size_t)sb_stemmer_length(st->stemmer) : 0;
    if (n == 0 || n > CHURN__STEM_MAX_WORD || !inflection_of(word, len, (const char *)out, n)) {
        /* no stem (no memory in libstemmer) or a derivation: the word stands for itself,
         * less a plural "s" ("subscriptions" -> "subscription", whose stem "subscript" is a
         * derivation) */
        out = (const sb_symbol *)word;
        n = len;
        if (len > 3 && word[len - 1] == 's' && word[len - 2] != 's' && word[len - 2] != '\'')
            n = len - 1;
    }
    slot->hash = h;
    slot->word_len = (uint8_t)len;
    memcpy(slot->word, word, len);
    slot->stem_len = (uint8_t)n;
    memcpy(slot->stem, out, n);
    slot->changed = !(n == len && same_bytes(slot->stem, word, len));
    return slot_result(slot, stem, stem_len);
}
