/*
 * sentiment/stem.c - Snowball stems through libstemmer, the only file that touches it, and
 * the per-thread state that holds the stemmers. A libstemmer object is not thread-safe, so
 * every thread that analyzes with an analyzer gets its own stemmer plus a memo of recent
 * words (words.c), created on first use, found again through a pthread key without locks,
 * and registered with the analyzer so that churn_sentiment_close() frees them all. A thread
 * that exits first frees its own through the key's destructor. A word's stem form is its
 * Snowball stem only when the word is that stem plus an inflection; for Korean it is the
 * stem of our own reducer (korean.c), which needs no per-thread object, only the memo.
 */
#include <string.h>

#include <libstemmer.h>

#include "churn/alloc.h"
#include "churn/sentiment_ko.h"
#include "internal.h"

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
    if (strcmp(algorithm, CHURN_SENTIMENT_KO_REDUCER) == 0)
        return true;
    for (const char **p = sb_stemmer_list(); *p; p++)
        if (strcmp(*p, algorithm) == 0)
            return true;
    return false;
}

static void
tls_unlink(struct churn__thread *th)
{
    struct churn_sentiment *s = th->owner;
    if (th->prev)
        th->prev->next = th->next;
    else
        s->tls_all = th->next;
    if (th->next)
        th->next->prev = th->prev;
}

static void
tls_free(struct churn__thread *th)
{
    if (th->stemmer)
        sb_stemmer_delete(th->stemmer);
    churn_free(th);
}

/* pthread key destructor: the thread exits while the analyzer lives. */
static void
tls_destroy(void *p)
{
    struct churn__thread *th = p;
    struct churn_sentiment *s = th->owner;
    pthread_mutex_lock(&s->tls_lock);
    tls_unlink(th);
    pthread_mutex_unlock(&s->tls_lock);
    tls_free(th);
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
    struct churn__thread *th = s->tls_all;
    while (th) {
        struct churn__thread *next = th->next;
        tls_free(th);
        th = next;
    }
    s->tls_all = NULL;
    pthread_mutex_destroy(&s->tls_lock);
    s->has_key = false;
}

static struct churn__thread *
thread_get(const struct churn_sentiment *cs)
{
    struct churn_sentiment *s = (struct churn_sentiment *)cs; /* only the registry changes */
    struct churn__thread *th = pthread_getspecific(s->tls_key);
    if (th)
        return th;
    th = churn_calloc(1, sizeof(*th));
    if (!th)
        return NULL;
    th->owner = s;
    if (!s->korean)
        th->stemmer = sb_stemmer_new(s->snowball, "UTF_8");
    if (!s->korean && !th->stemmer) {
        churn_free(th);
        return NULL;
    }
    if (pthread_setspecific(s->tls_key, th) != 0) {
        tls_free(th);
        return NULL;
    }
    pthread_mutex_lock(&s->tls_lock);
    th->next = s->tls_all;
    if (th->next)
        th->next->prev = th;
    s->tls_all = th;
    pthread_mutex_unlock(&s->tls_lock);
    return th;
}

struct churn__thread *
churn__thread_get(const struct churn_sentiment *s)
{
    return s->snowball[0] ? thread_get(s) : NULL;
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

size_t
churn__stem_form(struct churn__thread *th, const char *word, size_t len, char *out)
{
    if (th->owner->korean)
        return churn_sentiment_ko_stem(word, len, out, CHURN__STEM_MAX_WORD);
    const sb_symbol *stem = sb_stemmer_stem(th->stemmer, (const sb_symbol *)word, (int)len);
    size_t n = stem ? (size_t)sb_stemmer_length(th->stemmer) : 0;
    if (n == 0 || n > CHURN__STEM_MAX_WORD || !inflection_of(word, len, (const char *)stem, n)) {
        /* no stem (no memory in libstemmer) or a derivation: the word stands for itself,
         * less a plural "s" ("subscriptions" -> "subscription", whose stem "subscript" is a
         * derivation) */
        stem = (const sb_symbol *)word;
        n = len;
        if (len > 3 && word[len - 1] == 's' && word[len - 2] != 's' && word[len - 2] != '\'')
            n = len - 1;
    }
    memcpy(out, stem, n);
    return n;
}

enum churn_err
churn__stem_thread(const struct churn_sentiment *s, const char *word, size_t len, char *buf,
                   const char **stem, size_t *stem_len)
{
    *stem = word;
    *stem_len = len;
    if (!s->snowball[0] || !churn__stem_wanted(word, len))
        return 0;
    if (s->korean) { /* a lexicon term's word: its own rule */
        *stem_len = churn_sentiment_ko_lemma(word, len, buf, CHURN__STEM_MAX_WORD);
        *stem = buf;
        return 0;
    }
    struct churn__thread *th = thread_get(s);
    if (!th)
        return CHURN_ENOMEM;
    *stem_len = churn__stem_form(th, word, len, buf);
    *stem = buf;
    return 0;
}
