/*
 * sentiment/words.c - what the lexicon holds for one word: its stem form, whether it ends in a
 * Korean contrastive ending (-지만, -는데: the rule engine asks for every Korean item) and, in the
 * surface and stem tables, the entry of the one-word key, whether a longer phrase starts with it
 * and whether it may continue one. Finding that takes a Snowball stem and up to four probes; chat
 * text repeats the same few hundred words, so each thread keeps a memo of the answers for the words
 * it saw last (struct churn__thread: 4096 words, 8-way set associative, 88 bytes each). Eight ways,
 * because with two or four, a few of a chat's common words falling in one set evicted each other on
 * every pass, a Snowball or Korean stem each time (the 1,086 words and pieces of the Korean support
 * set put up to six in one of 1,024 sets of four). The analyzer is immutable once opened, so a
 * remembered answer never goes stale. An answer's stem form lives in the memo: the analyzer copies
 * it before the next lookup can evict it.
 */
#include <string.h>

#include "internal.h"

/* Are the @n bytes at @a and @b equal? Short words, no call to memcmp: eight bytes at a time
 * from 8 bytes on (the last eight overlapping), byte by byte below. */
static bool
same_word(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8)
            if (churn__load_bytes(a + i, 8) != churn__load_bytes(b + i, 8))
                return false;
        return churn__load_bytes(a + n - 8, 8) == churn__load_bytes(b + n - 8, 8);
    }
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

/* What @t holds for the one-word key @form (@h: its churn__hash_word()). */
static struct churn__match1
find_one(const struct churn_sentiment *s, const struct churn__lex_table *t, const char *form,
         uint32_t len, uint64_t h)
{
    struct churn__match1 m = {.entry = -1};
    m.later = churn__table_may_continue(t, h);
    const struct churn__lex_slot *sl = churn__table_find(t, s->pool, h, &form, &len, 1);
    if (sl) {
        m.entry = sl->entry;
        m.prefix = sl->prefix != 0;
    }
    return m;
}

void
churn__form_lookup(const struct churn_sentiment *s, const char *form, size_t len, uint64_t h,
                   struct churn__word *out)
{
    out->stem = form;
    out->stem_len = (uint32_t)len;
    out->stem_h = h;
    out->surf = find_one(s, &s->surface, form, (uint32_t)len, h);
    out->stem_match = find_one(s, &s->stem, form, (uint32_t)len, h);
    out->contrast = false;
}

/* Fill @slot for @word: stem it, probe both tables. Out of line: the memo mostly hits. */
static __attribute__((noinline)) void
memo_fill(const struct churn_sentiment *s, struct churn__thread *th, struct churn__memo_slot *slot,
          const char *word, size_t len, uint64_t h)
{
    size_t n = len;
    if (churn__stem_wanted(word, len))
        n = churn__stem_form(th, word, len, slot->stem);
    else
        memcpy(slot->stem, word, len);
    slot->hash = h;
    slot->word_len = (uint8_t)len;
    memcpy(slot->word, word, len);
    slot->stem_len = (uint8_t)n;
    slot->stem_same = n == len && same_word(slot->stem, word, len);
    slot->stem_h = slot->stem_same ? h : churn__hash_word(slot->stem, n);
    slot->surf = find_one(s, &s->surface, word, (uint32_t)len, h);
    slot->stem_match = find_one(s, &s->stem, slot->stem, (uint32_t)n, slot->stem_h);
    slot->contrast = s->korean && churn__ko_contrast_ending(word, len);
}

/* Does @slot hold @word? Up to 8 bytes, equal hashes and lengths mean equal words. */
static bool
memo_holds(const struct churn__memo_slot *slot, const char *word, size_t len, uint64_t h)
{
    return slot->hash == h && slot->word_len == len &&
           (len <= 8 || same_word(slot->word, word, len));
}

/* The memo slot of @word, filled on a miss. The memo is CHURN__MEMO_WAYS-way set associative,
 * newest word first: a miss moves the set's words one way down, dropping the oldest, and takes
 * the first way. */
static const struct churn__memo_slot *
memo_slot(const struct churn_sentiment *s, struct churn__thread *th, const char *word, size_t len,
          uint64_t h)
{
    /* the high bits of a word's hash are its best mixed */
    struct churn__memo_slot *set = &th->memo[(h >> (64 - CHURN__MEMO_SET_BITS)) * CHURN__MEMO_WAYS];
    for (size_t k = 0; k < CHURN__MEMO_WAYS; k++)
        if (memo_holds(&set[k], word, len, h))
            return &set[k];
    memmove(&set[1], &set[0], (CHURN__MEMO_WAYS - 1) * sizeof(set[0]));
    memo_fill(s, th, &set[0], word, len, h);
    return &set[0];
}

void
churn__word_lookup(const struct churn_sentiment *s, struct churn__thread *th, const char *word,
                   size_t len, uint64_t h, struct churn__word *out)
{
    if (!th || len == 0 || len > CHURN__STEM_MAX_WORD) { /* not remembered */
        churn__form_lookup(s, word, len, h, out);
        out->contrast = s->korean && churn__ko_contrast_ending(word, len);
        return;
    }
    const struct churn__memo_slot *slot = memo_slot(s, th, word, len, h);
    /* the stem form is the word: point at the caller's copy */
    out->stem = slot->stem_same ? word : slot->stem;
    out->stem_len = slot->stem_len;
    out->stem_h = slot->stem_h;
    out->surf = slot->surf;
    out->stem_match = slot->stem_match;
    out->contrast = slot->contrast;
}
