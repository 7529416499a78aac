/*
 * test_answer_cache.c - GetScore's encoded answers kept for reuse (churn/answer_cache.h,
 * issue 12): an answer comes back only for its own customer id (in full, never a prefix)
 * and variant, with its stamp; a newer answer replaces it; a stale one is dropped unless a
 * newer one replaced it first; erasing a customer drops all of theirs, and an answer built
 * before an erasure is not kept; the bounds on entries
 * and bytes hold, the least recently used answer going first; and under threads that put,
 * read and forget the same customers, every answer read is its own customer's.
 */
#include "churn/answer_cache.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

static struct churn_answer_meta
meta_of(uint64_t check)
{
    struct churn_answer_meta m = {.probability = 0.25, .risk_tier = 2};
    m.stamp = (struct churn_score_stamp){.stored_check = check,
                                         .record_digest = check * 3,
                                         .generation = 1,
                                         .cuts_version = 1,
                                         .scored_at_ms = 1000,
                                         .history_from_ms = 5};
    return m;
}

static void
put_text(struct churn_answer_cache *c, const char *id, uint32_t variant, uint64_t check,
         const char *text)
{
    struct churn_answer_meta m = meta_of(check);
    churn_answer_cache_put(c, id, variant, &m, text, strlen(text), churn_answer_cache_erasures(c));
}

/* The answer kept for (@id, @variant) as a string into @out ("" when none). */
static bool
get_text(struct churn_answer_cache *c, const char *id, uint32_t variant, char *out, size_t cap,
         struct churn_answer_meta *meta)
{
    size_t len = 0;
    struct churn_answer_meta m;
    bool ok = churn_answer_cache_get(c, id, variant, meta ? meta : &m, out, cap - 1, &len);
    out[ok ? len : 0] = '\0';
    return ok;
}

Test(answer_cache, an_answer_comes_back_only_for_its_customer_and_variant)
{
    struct churn_answer_cache *c;
    cr_assert_eq(churn_answer_cache_create(1 << 20, 1000, &c), CHURN_OK);
    put_text(c, "c1", 5, 7, "answer of c1 with 5 reasons");
    char buf[128];
    struct churn_answer_meta m;
    cr_assert(get_text(c, "c1", 5, buf, sizeof(buf), &m));
    cr_assert_str_eq(buf, "answer of c1 with 5 reasons");
    cr_assert_eq(m.stamp.stored_check, 7);
    cr_assert_eq(m.stamp.record_digest, 21);
    cr_assert_eq(m.risk_tier, 2);
    cr_assert_not(get_text(c, "c1", 3, buf, sizeof(buf), NULL), "another max_reasons");
    cr_assert_not(get_text(c, "c10", 5, buf, sizeof(buf), NULL), "a longer id");
    cr_assert_not(get_text(c, "c", 5, buf, sizeof(buf), NULL), "a prefix");
    cr_assert_not(get_text(c, "C1", 5, buf, sizeof(buf), NULL), "another case");
    /* a buffer too small gets nothing, untouched */
    memset(buf, 'x', sizeof(buf));
    size_t len = 0;
    cr_assert_not(churn_answer_cache_get(c, "c1", 5, &m, buf, 4, &len));
    cr_assert_eq(buf[0], 'x');
    struct churn_answer_cache_stats st;
    churn_answer_cache_stats(c, &st);
    cr_assert_eq(st.hits, 1);
    cr_assert_eq(st.misses, 5);
    cr_assert_eq(st.entries, 1);
    cr_assert_gt(st.bytes, strlen("answer of c1 with 5 reasons"));
    churn_answer_cache_destroy(c);
}

Test(answer_cache, a_newer_answer_replaces_and_a_stale_one_is_dropped_only_if_still_there)
{
    struct churn_answer_cache *c;
    cr_assert_eq(churn_answer_cache_create(1 << 20, 1000, &c), CHURN_OK);
    put_text(c, "c1", 5, 1, "old");
    put_text(c, "c1", 5, 2, "new");
    char buf[64];
    struct churn_answer_meta m;
    cr_assert(get_text(c, "c1", 5, buf, sizeof(buf), &m));
    cr_assert_str_eq(buf, "new");
    cr_assert_eq(m.stamp.stored_check, 2);
    /* a reader that saw the old answer drops nothing: the new one replaced it */
    struct churn_answer_meta old = meta_of(1);
    churn_answer_cache_drop_stale(c, "c1", 5, &old.stamp);
    cr_assert(get_text(c, "c1", 5, buf, sizeof(buf), NULL));
    churn_answer_cache_drop_stale(c, "c1", 5, &m.stamp);
    cr_assert_not(get_text(c, "c1", 5, buf, sizeof(buf), NULL));
    struct churn_answer_cache_stats st;
    churn_answer_cache_stats(c, &st);
    cr_assert_eq(st.entries, 0);
    cr_assert_eq(st.bytes, 0);
    cr_assert_eq(st.stale, 2);
    cr_assert_eq(st.hits, 0); /* two found, each reported stale after */
    churn_answer_cache_destroy(c);
}

Test(answer_cache, forgetting_a_customer_drops_every_answer_of_theirs_only)
{
    struct churn_answer_cache *c;
    cr_assert_eq(churn_answer_cache_create(1 << 20, 1000, &c), CHURN_OK);
    for (uint32_t k = 1; k <= 20; k++) {
        put_text(c, "gone", k, k, "of gone");
        put_text(c, "gone2", k, k, "of gone2");
    }
    churn_answer_cache_forget(c, "gone");
    char buf[64];
    for (uint32_t k = 1; k <= 20; k++) {
        cr_assert_not(get_text(c, "gone", k, buf, sizeof(buf), NULL), "variant %u kept", k);
        cr_assert(get_text(c, "gone2", k, buf, sizeof(buf), NULL), "variant %u lost", k);
        cr_assert_str_eq(buf, "of gone2");
    }
    struct churn_answer_cache_stats st;
    churn_answer_cache_stats(c, &st);
    cr_assert_eq(st.entries, 20);
    churn_answer_cache_forget(c, "never-kept");
    /* an answer built before an erasure (of anyone) is not kept: it may be the erased one's */
    uint64_t seen = churn_answer_cache_erasures(c);
    churn_answer_cache_forget(c, "someone-else");
    struct churn_answer_meta m = meta_of(9);
    churn_answer_cache_put(c, "gone", 5, &m, "late", 4, seen);
    cr_assert_not(get_text(c, "gone", 5, buf, sizeof(buf), NULL), "kept across an erasure");
    churn_answer_cache_put(c, "gone", 5, &m, "late", 4, churn_answer_cache_erasures(c));
    cr_assert(get_text(c, "gone", 5, buf, sizeof(buf), NULL));
    churn_answer_cache_destroy(c);
}

Test(answer_cache, the_bounds_hold_and_the_least_recently_used_goes_first)
{
    struct churn_answer_cache *c;
    cr_assert_eq(churn_answer_cache_create(1 << 20, 32, &c), CHURN_OK); /* 2 per shard */
    put_text(c, "hot", 5, 1, "hot answer");
    char id[32], buf[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "cust-%d", i);
        put_text(c, id, 5, 1, id);
        cr_assert(get_text(c, id, 5, buf, sizeof(buf), NULL), "%s not kept", id);
        cr_assert_str_eq(buf, id);
        cr_assert(get_text(c, "hot", 5, buf, sizeof(buf), NULL), "hot evicted at put %d", i);
    }
    struct churn_answer_cache_stats st;
    churn_answer_cache_stats(c, &st);
    cr_assert_leq(st.entries, 32);
    cr_assert_geq(st.evictions, 1001 - 32);
    churn_answer_cache_destroy(c);

    /* bytes: 16 shards of 4 KiB; an answer over an eighth of a shard is not kept at all */
    cr_assert_eq(churn_answer_cache_create(16 * 4096, 100000, &c), CHURN_OK);
    char big[600];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    put_text(c, "big", 5, 1, big);
    cr_assert_not(get_text(c, "big", 5, buf, sizeof(buf), NULL));
    char mid[300];
    memset(mid, 'm', sizeof(mid) - 1);
    mid[sizeof(mid) - 1] = '\0';
    for (int i = 0; i < 2000; i++) {
        snprintf(id, sizeof(id), "cust-%d", i);
        put_text(c, id, 5, 1, mid);
        churn_answer_cache_stats(c, &st);
        cr_assert_leq(st.bytes, 16 * 4096, "%llu bytes after %d puts", (unsigned long long)st.bytes,
                      i + 1);
    }
    cr_assert_gt(st.entries, 16, "only %llu kept", (unsigned long long)st.entries);
    churn_answer_cache_destroy(c);
}

Test(answer_cache, bad_bounds_are_refused)
{
    struct churn_answer_cache *c = NULL;
    cr_assert_eq(churn_answer_cache_create(0, 10, &c), CHURN_EINVAL);
    cr_assert_eq(churn_answer_cache_create(10, 0, &c), CHURN_EINVAL);
    cr_assert_null(c);
    struct churn_answer_cache_stats st;
    churn_answer_cache_stats(NULL, &st);
    cr_assert_eq(st.entries, 0);
    churn_answer_cache_destroy(NULL);
}

/* ---- threads --------------------------------------------------------------------------- */

static struct churn_answer_cache *shared;

static void *
churner(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    char id[32], buf[64];
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        snprintf(id, sizeof(id), "c%u", seed >> 16 & 63u);
        switch (seed >> 8 & 3u) {
        case 0:
            churn_answer_cache_forget(shared, id);
            break;
        case 1:
            put_text(shared, id, seed & 1u, seed, id);
            break;
        default: {
            struct churn_answer_meta m;
            if (get_text(shared, id, seed & 1u, buf, sizeof(buf), &m))
                cr_assert_str_eq(buf, id, "%s read another customer's answer %s", id, buf);
            break;
        }
        }
    }
    return NULL;
}

Test(answer_cache, threads_read_only_their_customers_answers)
{
    cr_assert_eq(churn_answer_cache_create(64 * 1024, 48, &shared), CHURN_OK);
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, churner, (void *)(i + 1)), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    struct churn_answer_cache_stats st;
    churn_answer_cache_stats(shared, &st);
    cr_assert_leq(st.entries, 48);
    cr_assert_gt(st.hits, 0);
    churn_answer_cache_destroy(shared);
}
