/*
 * sentiment/internal.h - what the files of the sentiment module share and nobody else sees:
 * the compiled lexicon (entries and the two open-addressing tables, surface forms and
 * Snowball stems), the analyzer object, UTF-8 helpers and the per-thread stem cache.
 */
#ifndef CHURN_SENTIMENT_INTERNAL_H
#define CHURN_SENTIMENT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/sentiment.h"
#include "churn/utf8.h"

/* Entry flags (what a lexicon line declares). */
#define CHURN__LEX_VALENCE  0x0001 /* carries a valence */
#define CHURN__LEX_NEGATOR  0x0002 /* value: multiplier applied to the negated valence */
#define CHURN__LEX_MODAL    0x0004 /* negator of ability ("can't"): leaves intent alone */
#define CHURN__LEX_BOOSTER  0x0008 /* value: added to the magnitude of the next valence */
#define CHURN__LEX_DAMPENER 0x0010 /* value: taken from the magnitude of the next valence */
#define CHURN__LEX_CONTRAST 0x0020 /* value: weight after it; before it weighs 2 - value */
#define CHURN__LEX_CHURN    0x0040 /* churn intent */
#define CHURN__LEX_HUMAN    0x0080 /* asks for a human */
#define CHURN__LEX_HARD     0x0100 /* hard trigger: escalate now */
#define CHURN__LEX_NOSTEM   0x0200 /* match the surface form only */
#define CHURN__LEX_IDIOM    0x0400 /* documentation only: a fixed-valence idiom */

#define CHURN__LEX_MODIFIER                                                                        \
    (CHURN__LEX_NEGATOR | CHURN__LEX_BOOSTER | CHURN__LEX_DAMPENER | CHURN__LEX_CONTRAST)
#define CHURN__LEX_INTENT (CHURN__LEX_CHURN | CHURN__LEX_HUMAN | CHURN__LEX_HARD)

struct churn__lex_entry {
    uint32_t key;     /* offset of the surface key in the string pool */
    uint32_t key_len; /* words joined by single spaces */
    uint16_t flags;   /* CHURN__LEX_* */
    uint8_t words;    /* words in the key */
    float valence;
    float modifier; /* negator multiplier, booster/dampener amount or contrast weight */
};

/* One slot of an open-addressing table. */
struct churn__lex_slot {
    uint32_t tag;     /* high bits of the key's hash, odd; 0: empty */
    uint32_t key;     /* pool offset of the key */
    int32_t entry;    /* index into entries; -1: only a prefix of longer phrases; -2: ambiguous */
    uint16_t key_len; /* keys are at most a lexicon line long */
    uint8_t prefix;   /* some longer phrase starts with this key */
};

#define CHURN__BLOOM_BITS 65536 /* 8 KiB: stays in the L1 cache */

struct churn__lex_table {
    struct churn__lex_slot *slots;
    size_t mask; /* capacity - 1 (power of two) */
    size_t used;
    /* one bit per hash of every one-word key: most words of a text are in no lexicon, and
     * this filter turns them away without touching the (much larger) slot array */
    uint64_t bloom[CHURN__BLOOM_BITS / 64];
};

struct churn__stem_tls; /* per-thread stemmer and cache, stem.c */

struct churn_sentiment {
    char language[16];
    char snowball[32];
    size_t max_text;
    char *pool; /* every key, surface and stem */
    size_t pool_len;
    struct churn__lex_entry *entries;
    size_t n_entries;
    struct churn__lex_table surface;
    struct churn__lex_table stem;
    /* per-thread stemmers (stem.c) */
    bool has_key;
    pthread_key_t tls_key;
    pthread_mutex_t tls_lock;
    struct churn__stem_tls *tls_all; /* every thread's state, freed by close */
};

/* UTF-8 (tokenize.c). */
uint32_t churn__utf8_decode(const unsigned char *s, size_t len, size_t *adv); /* valid input */

/* Hashing of keys built from words joined by one space: FNV-1a, fed word by word with a
 * space between words so that a phrase can be hashed while it is matched. Inline: they run
 * for every word of every text. */
static inline uint64_t
churn__hash_start(void)
{
    return 0xcbf29ce484222325ull;
}

static inline uint64_t
churn__hash_bytes(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* FNV-1a mixes its low bits poorly; a final avalanche (MurmurHash3 fmix64) spreads keys
 * evenly over the slots. The low bits pick the slot, the high bits are the slot's tag. */
static inline uint64_t
churn__slot_hash(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static inline uint32_t
churn__slot_tag(uint64_t h)
{
    return (uint32_t)(h >> 32) | 1;
}

static inline size_t
churn__bloom_bit(uint64_t slot_hash)
{
    return (size_t)(slot_hash >> 20) & (CHURN__BLOOM_BITS - 1);
}

/* May the table hold a one-word key of hash @h (churn__hash_bytes)? No false negatives. */
static inline bool
churn__table_may_have(const struct churn__lex_table *t, uint64_t h)
{
    size_t b = churn__bloom_bit(churn__slot_hash(h));
    return (t->bloom[b / 64] >> (b % 64)) & 1;
}

const struct churn__lex_slot *churn__table_find(const struct churn__lex_table *t, const char *pool,
                                                uint64_t h, const char *const *forms,
                                                const uint32_t *lens, size_t nforms);

/* Stems (stem.c). The result points into per-thread memory valid until the next call. */
enum churn_err churn__stem_thread(const struct churn_sentiment *s, const char *word, size_t len,
                                  const char **stem, size_t *stem_len);
enum churn_err churn__stem_init(struct churn_sentiment *s);
void churn__stem_fini(struct churn_sentiment *s);
/* The calling thread's stemmer and cache (created on first use; NULL: no memory or no
 * stemming), then cached stems through it. */
struct churn__stem_tls *churn__stem_tls(const struct churn_sentiment *s);
/* @h: churn__hash_bytes() of @word. Returns whether the stem differs from @word (when it
 * does not, *stem and *stem_len are left alone). */
bool churn__stem_cached(struct churn__stem_tls *st, const char *word, size_t len, uint64_t h,
                        const char **stem, size_t *stem_len);
bool churn__stem_wanted(const char *word, size_t len);
bool churn__stem_known(const char *algorithm);

#define CHURN__STEM_MAX_WORD 24 /* longer words are never stemmed */

#endif
