/*
 * sentiment/internal.h - what the files of the sentiment module share and nobody else sees:
 * the compiled lexicon (entries and the two open-addressing tables, surface forms and
 * Snowball stems), the analyzer object, key hashing, UTF-8 helpers and the per-thread state
 * (stemmer and memo of recent words).
 */
#ifndef CHURN_SENTIMENT_INTERNAL_H
#define CHURN_SENTIMENT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
#define CHURN__LEX_SUFFIX   0x0800 /* negator after what it negates (Korean 않다, 없다) */
#define CHURN__LEX_HEDGED   0x1000 /* churn intent said tentatively: lower confidence */
#define CHURN__LEX_STAY     0x2000 /* staying on (keep using): a churn intent before it is dropped */

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
    /* one bit per hash of every key: most words of a text are in no lexicon and most word
     * pairs in no phrase, and this filter turns them away without touching the (much
     * larger) slot array */
    uint64_t bloom[CHURN__BLOOM_BITS / 64];
    /* the same over the words after the first of every phrase key: a word that is in none
     * cannot continue a phrase */
    uint64_t later[CHURN__BLOOM_BITS / 64];
};

struct churn__thread; /* per-thread stemmer and word memo */

#define CHURN__MAX_PEERS 4 /* languages an "auto" analyzer picks from */

struct churn_sentiment {
    char language[16];
    /* "auto": the analyzers it picks from by script; such an analyzer has no lexicon */
    struct churn_sentiment *peers[CHURN__MAX_PEERS];
    size_t n_peers;
    char snowball[32];
    bool korean; /* the reducer is ours (korean.c), not a Snowball algorithm */
    size_t max_text;
    char *pool; /* every key, surface and stem */
    size_t pool_len;
    struct churn__lex_entry *entries;
    size_t n_entries;
    struct churn__lex_table surface;
    struct churn__lex_table stem;
    /* per-thread stemmers and word memos (stem.c) */
    bool has_key;
    pthread_key_t tls_key;
    pthread_mutex_t tls_lock;
    struct churn__thread *tls_all; /* every thread's state, freed by close */
};

/* UTF-8 (tokenize.c). */
uint32_t churn__utf8_decode(const unsigned char *s, size_t len, size_t *adv); /* valid input */
size_t churn__utf8_encode(uint32_t cp, char *out);                            /* 1 to 4 bytes */

/* Eight bytes at a time (scan.c, tokenize.c). */
#define CHURN__BYTES(c) (0x0101010101010101ull * (uint64_t)(c))

/* Bit 7 of each byte of @x that is an ASCII letter (any byte order). */
static inline uint64_t
churn__letter_bytes(uint64_t x)
{
    uint64_t y = (x & CHURN__BYTES(0x7f)) | CHURN__BYTES(0x20); /* folded; no carry */
    uint64_t ge_a = y + CHURN__BYTES(0x80 - 'a');               /* bit 7: y >= 'a' */
    uint64_t gt_z = y + CHURN__BYTES(0x80 - 'z' - 1);           /* bit 7: y > 'z' */
    return ge_a & ~gt_z & ~x & CHURN__BYTES(0x80);              /* ~x: bytes below 0x80 only */
}

/* Hashing of keys built from words joined by one space. A key's hash is built word by word:
 * churn__hash_word() of its first word, then churn__hash_join() with the hash of each next
 * word, so that the analyzer hashes every token once and a phrase's hash while it is matched.
 * Inline: they run for every word of every text. */
static inline uint64_t
churn__load_bytes(const char *p, size_t n)
{
    uint64_t v = 0;
    memcpy(&v, p, n);
    return v;
}

/* Words are short: one or two overlapping loads read all of a word of up to 8 bytes (so
 * distinct words of one length load distinct values), 8-byte steps read longer ones. For up to
 * 8 bytes the hash is the loaded value times an odd constant, a bijection: two words of one
 * length up to 8 bytes are equal exactly when their hashes are (the word memo relies on it). */
static inline uint64_t
churn__hash_word(const char *p, size_t n)
{
    const uint64_t k = 0x9e3779b97f4a7c15ull;
    if (n <= 8) {
        uint64_t v;
        if (n >= 4)
            v = churn__load_bytes(p, 4) << 32 | churn__load_bytes(p + n - 4, 4);
        else if (n > 0)
            v = (uint64_t)(unsigned char)p[0] << 16 | (uint64_t)(unsigned char)p[n / 2] << 8 |
                (unsigned char)p[n - 1];
        else
            v = 0;
        return (v ^ n) * k;
    }
    uint64_t h = n * k;
    for (; n > 8; p += 8, n -= 8) {
        h = (h ^ churn__load_bytes(p, 8)) * k;
        h ^= h >> 32;
    }
    h = (h ^ churn__load_bytes(p + n - 8, 8)) * k; /* the last 8 bytes, overlapping */
    return h ^ (h >> 32);
}

/* The hash of a phrase continued by one more word whose churn__hash_word() is @word. */
static inline uint64_t
churn__hash_join(uint64_t phrase, uint64_t word)
{
    return ((phrase ^ (phrase >> 29)) * 0xbf58476d1ce4e5b9ull) ^ word;
}

/* The hash of a whole key (words joined by single spaces), as the two above build it. */
static inline uint64_t
churn__hash_key(const char *key, size_t len)
{
    uint64_t h = 0;
    size_t i = 0;
    for (bool first = true;; first = false) {
        size_t j = i;
        while (j < len && key[j] != ' ')
            j++;
        uint64_t w = churn__hash_word(key + i, j - i);
        h = first ? w : churn__hash_join(h, w);
        if (j >= len)
            return h;
        i = j + 1;
    }
}

/* A final avalanche (MurmurHash3 fmix64) spreads keys evenly over the slots. The low bits
 * pick the slot, the high bits are the slot's tag. */
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

/* Is the bit of @slot_hash (churn__slot_hash()) set in @bloom? No false negatives. */
static inline bool
churn__bloom_has(const uint64_t *bloom, uint64_t slot_hash)
{
    size_t b = churn__bloom_bit(slot_hash);
    return (bloom[b / 64] >> (b % 64)) & 1;
}

static inline void
churn__bloom_set(uint64_t *bloom, uint64_t h)
{
    size_t b = churn__bloom_bit(churn__slot_hash(h));
    bloom[b / 64] |= 1ull << (b % 64);
}

/* May the word of hash @h (churn__hash_word()) be a phrase's second or later word? */
static inline bool
churn__table_may_continue(const struct churn__lex_table *t, uint64_t h)
{
    return churn__bloom_has(t->later, churn__slot_hash(h));
}

/* The slot of the key made of @nforms words (@h: churn__hash_key() of it), or NULL. The
 * table's filter turns most absent keys away before a slot is read. */
const struct churn__lex_slot *churn__table_find(const struct churn__lex_table *t, const char *pool,
                                                uint64_t h, const char *const *forms,
                                                const uint32_t *lens, size_t nforms);

/* ---- per-thread state: stemmer and word memo (stem.c, words.c) ---- */

#define CHURN__STEM_MAX_WORD 24 /* longer words are never stemmed */
#define CHURN__MEMO_BITS     12 /* 4096 words remembered per thread */
#define CHURN__MEMO_SLOTS    (1u << CHURN__MEMO_BITS)
#define CHURN__MEMO_WAYS     8                      /* slots per set */
#define CHURN__MEMO_SET_BITS (CHURN__MEMO_BITS - 3) /* 512 sets of 8 */

/* What one table holds for a word as a one-word key. */
struct churn__match1 {
    int32_t entry; /* -1: none; -2 in the stem table: ambiguous */
    bool prefix;   /* a longer phrase starts with it */
    bool later;    /* it may be a phrase's second or later word */
};

/* What the lexicon holds for one word: its stem form and what each table holds for it. */
struct churn__word {
    const char *stem; /* the word itself when the stem form is the same */
    uint32_t stem_len;
    uint64_t stem_h; /* churn__hash_word() of the stem form */
    struct churn__match1 surf;
    struct churn__match1 stem_match;
    bool contrast; /* Korean: the word ends in a contrastive ending (churn__ko_contrast_ending()) */
};

/* One remembered word: the word itself and its struct churn__word. */
struct churn__memo_slot {
    uint64_t hash; /* churn__hash_word() of the word */
    uint64_t stem_h;
    struct churn__match1 surf;
    struct churn__match1 stem_match;
    uint8_t word_len; /* 0: empty (a word token has at least one letter) */
    uint8_t stem_len;
    bool stem_same; /* the stem form is the word */
    bool contrast;
    char word[CHURN__STEM_MAX_WORD];
    char stem[CHURN__STEM_MAX_WORD];
};

struct sb_stemmer;

/* What one thread keeps for one analyzer. Created on the thread's first analysis, found again
 * through the analyzer's pthread key, freed by churn_sentiment_close() or when the thread
 * exits. The memo is an 8-way set-associative cache of recent words (words.c). */
struct churn__thread {
    struct churn_sentiment *owner;
    struct sb_stemmer *stemmer;
    struct churn__thread *prev, *next;
    struct churn__memo_slot memo[CHURN__MEMO_SLOTS];
};

enum churn_err churn__stem_init(struct churn_sentiment *s);
void churn__stem_fini(struct churn_sentiment *s);
bool churn__stem_known(const char *algorithm);
bool churn__stem_wanted(const char *word, size_t len);

/* churn_sentiment_tokenize() of a text known to be valid UTF-8 of at most
 * CHURN_SENTIMENT_MAX_TEXT_LIMIT bytes (tokenize.c). */
enum churn_err churn__tokenize_valid(const char *text, size_t len, struct churn_arena *scratch,
                                     struct churn_sentiment_tokens *out, char *errbuf,
                                     size_t errlen);

/* What one pass over a text finds before analysis (scan.c). */
struct churn__text_info {
    size_t valid_to; /* the first byte of invalid UTF-8, or the length: valid */
    size_t hangul;   /* Hangul syllables and jamo (language detection) */
    size_t latin;    /* ASCII letters (language detection) */
    bool nfkc;       /* some code point NFKC rewrites (churn__wants_nfkc()) */
    bool han_kana;   /* some Han or Kana letter (churn__han_or_kana()) */
};

/* Scan @text (@len bytes) once: validity, the counts of detection, normalization and ICU
 * needs; the counts stop at the first invalid byte. */
void churn__text_scan(const char *text, size_t len, struct churn__text_info *out);
/* The language the counts of @info pick: "ko" or "en" (churn_sentiment_detect()). */
const char *churn__detect_counts(const struct churn__text_info *info);
/* Does NFKC rewrite @cp: conjoining jamo (U+1100-11FF, U+A960-A97F, U+D7B0-D7FF) or a
 * half/full-width form (U+FF01-FFEE)? */
bool churn__wants_nfkc(uint32_t cp);
/* Is @cp a Kana (U+3040-30FF) or Han (U+3400-9FFF, U+F900-FAFF) letter? */
bool churn__han_or_kana(uint32_t cp);

/* Normalization (normalize.c): the NFKC form of @text with a map from each byte of it (and
 * its end) to a byte of @text. */
enum churn_err churn__normalize(const char *text, size_t len, struct churn_arena *scratch,
                                char **out, size_t *out_len, uint32_t **map);

/* An "auto" analyzer taking ownership of @n analyzers (lexicon.c). */
enum churn_err churn__sentiment_open_auto(struct churn_sentiment *const *peers, size_t n,
                                          struct churn_sentiment **out, char *errbuf,
                                          size_t errlen);

/* The analyzer of @s that analyzes @text: @s itself, or for "auto" the peer of the detected
 * language. */
const struct churn_sentiment *churn__sentiment_pick(const struct churn_sentiment *s,
                                                    const struct churn__text_info *info);

/* Split the Korean word tokens of @toks (of @text) that mix Hangul with another non-Latin
 * script where ICU's word break iterator breaks them (segment.c); @han_kana: whether @text
 * holds a Han or Kana letter at all (else nothing is split). */
enum churn_err churn__ko_segment(const char *text, bool han_kana,
                                 struct churn_sentiment_tokens *toks, struct churn_arena *scratch);

/* Split the Korean words of @toks (of @text) that run several words together (spacing.c):
 * 환불이안돼요 → 환불이 안돼요. */
enum churn_err churn__ko_split_spacing(const struct churn_sentiment *s, struct churn__thread *th,
                                       const char *text, struct churn_sentiment_tokens *toks,
                                       struct churn_arena *scratch);

/* Does the Korean word @word end in a contrastive connective ending (-지만, -는데, -은데)? */
bool churn__ko_contrast_ending(const char *word, size_t len);

/* Does the Korean word @word tell a past event rather than intend one: a past tense before the
 * quotative -다고/-다는/-다던, the hearsay -대 (해지했다고, 탈퇴했대요) or the connectives
 * -는데/-고/-지만 (해지했는데, 얘기했는데)? */
bool churn__ko_past_event(const char *word, size_t len);

/* The calling thread's state for @s, created on first use; NULL when @s does not stem or
 * there is no memory. */
struct churn__thread *churn__thread_get(const struct churn_sentiment *s);

/* The stem form of the churn__stem_wanted() word @word (@len bytes) into @out
 * (CHURN__STEM_MAX_WORD bytes), through the thread's stemmer: its Snowball stem when the word
 * is that stem plus an inflection, else the word less a plural "s". Returns its length, at
 * most @len + 1. */
size_t churn__stem_form(struct churn__thread *th, const char *word, size_t len, char *out);

/* The stem form of a lexicon term's word while the tables are built (no memo: lookups are
 * not final yet). *stem points into @buf (CHURN__STEM_MAX_WORD bytes) or at @word. */
enum churn_err churn__stem_thread(const struct churn_sentiment *s, const char *word, size_t len,
                                  char *buf, const char **stem, size_t *stem_len);

/* What the lexicon holds for the word token @word (@h: its churn__hash_word()), through the
 * memo of @th (may be NULL: no stemming, no memo). @out->stem may point into the memo: valid
 * until the thread's next lookup. */
void churn__word_lookup(const struct churn_sentiment *s, struct churn__thread *th, const char *word,
                        size_t len, uint64_t h, struct churn__word *out);

/* The same for a token that is never stemmed (emoji, emoticons, numbers): no memo, and no
 * contrastive ending. */
void churn__form_lookup(const struct churn_sentiment *s, const char *form, size_t len, uint64_t h,
                        struct churn__word *out);

#endif
