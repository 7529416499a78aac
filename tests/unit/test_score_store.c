/*
 * test_score_store.c - stored scores (issue 12): the codec's round trip and its refusal of
 * hostile bytes (every truncation, every flipped byte, oversized, unknown version, a lying
 * length, out-of-range fields and trailing bytes behind a valid checksum), and the store's
 * "scores" database: a score is written only while its record has the digest it came from
 * (a record changed or erased in between is caught), read in the record's transaction,
 * erased with the customer, counted in the statistics.
 */
#define _GNU_SOURCE /* mkdtemp */
#include "churn/score_codec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "churn/clock.h"
#include "churn/hash.h"
#include "churn/score_store.h"
#include "churn/store.h"

#include "store_fixture.h"
#include "tmpdir.h"

static char dir[64];
static struct churn_store *st;
static struct churn_score score, back; /* big: off the stack */
static struct churn_customer rec;
static unsigned char blob[CHURN_STORE_SCORE_MAX + 64];
static size_t blob_len;

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/churn-scores-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(churn_store_open(dir, NULL, &st), CHURN_OK, "%s", churn_store_last_error());
}

static void
teardown(void)
{
    churn_store_close(st);
    st = NULL;
    churn_test_rm_rf(dir);
}

/* A score with every field set, encoded into blob. */
static void
sample(void)
{
    memset(&score, 0, sizeof(score));
    snprintf(score.customer_id, sizeof(score.customer_id), "c1");
    snprintf(score.segment, sizeof(score.segment), "smb");
    snprintf(score.model_version, sizeof(score.model_version), "gbdt-2026-12-01");
    score.probability = 0.625;
    score.margin = 0.51;
    score.risk_tier = CHURN_TIER_HIGH;
    score.value_tier = CHURN_TIER_MEDIUM;
    score.value = 1200;
    score.revenue_at_risk = score.priority = 750;
    score.churned = true;
    score.model_id = 0x1122334455667788ull;
    score.cuts_id = 0x99aabbccddeeff00ull;
    score.record_digest = 42;
    score.scored_at_ms = 1765000000000;
    score.history_from_ms = 1760000000000;
    score.horizon_ms = 90 * CHURN_MS_PER_DAY;
    score.freshness.last_event_ms = 1764990000000;
    score.freshness.at[1] = 1764000000000;
    score.freshness.stale[1] = true;
    score.freshness.n_stale = 1;
    score.have_contributions = true;
    for (size_t i = 0; i < CHURN_FEAT__COUNT; i++) {
        score.contributions[i] = (double)i / 100.0 - 0.1;
        score.values[i] = i % 3 ? (double)i : NAN;
    }
    score.n_reasons = CHURN_SCORE_REASONS_MAX;
    for (size_t i = 0; i < score.n_reasons; i++) {
        score.reasons[i].input = (uint32_t)i;
        score.reasons[i].contribution = 2.0 - (double)i / 20.0;
        score.reasons[i].value = (double)i * 1.5;
    }
    cr_assert_eq(churn_score_encode(&score, blob, sizeof(blob), &blob_len), CHURN_OK);
}

/* Rewrite blob's length field and checksum after an edit (a well-framed lie). */
static void
reframe(void)
{
    for (unsigned i = 0; i < 4; i++)
        blob[1 + i] = (unsigned char)(blob_len >> (8 * i));
    uint64_t sum = churn_digest64(blob, blob_len - 8);
    for (unsigned i = 0; i < 8; i++)
        blob[blob_len - 8 + i] = (unsigned char)(sum >> (8 * i));
}

static void
assert_refused(const char *needle)
{
    char why[256] = "";
    cr_assert_eq(churn_score_decode(blob, blob_len, &back, why, sizeof(why)), CHURN_ECORRUPT,
                 "accepted; wanted '%s'", needle);
    cr_assert_not_null(strstr(why, needle), "'%s' does not say '%s'", why, needle);
}

Test(score_store, the_encoding_round_trips_every_field)
{
    sample();
    cr_assert_leq(blob_len, CHURN_SCORE_ENCODED_MAX);
    char why[256] = "";
    cr_assert_eq(churn_score_decode(blob, blob_len, &back, why, sizeof(why)), CHURN_OK, "%s", why);
    cr_assert_eq(back.probability, score.probability);
    cr_assert_eq(back.margin, score.margin);
    cr_assert_eq(back.risk_tier, CHURN_TIER_HIGH);
    cr_assert_eq(back.value_tier, CHURN_TIER_MEDIUM);
    cr_assert_eq(back.priority, 750);
    cr_assert(back.churned);
    cr_assert_eq(back.model_id, score.model_id);
    cr_assert_eq(back.cuts_id, score.cuts_id);
    cr_assert_eq(back.record_digest, 42);
    cr_assert_eq(back.scored_at_ms, score.scored_at_ms);
    cr_assert_eq(back.history_from_ms, score.history_from_ms);
    cr_assert_str_eq(back.model_version, "gbdt-2026-12-01");
    cr_assert_str_eq(back.segment, "smb");
    cr_assert(back.freshness.stale[1] && back.freshness.n_stale == 1);
    cr_assert_eq(back.freshness.at[1], score.freshness.at[1]);
    cr_assert(back.have_contributions);
    for (size_t i = 0; i < CHURN_FEAT__COUNT; i++) {
        cr_assert_eq(back.contributions[i], score.contributions[i]);
        cr_assert(isnan(score.values[i]) ? isnan(back.values[i])
                                         : back.values[i] == score.values[i]);
    }
    cr_assert_eq(back.n_reasons, CHURN_SCORE_REASONS_MAX);
    cr_assert_eq(back.reasons[7].input, 7);
    cr_assert_eq(back.reasons[7].contribution, score.reasons[7].contribution);
    cr_assert_eq(back.reasons[7].feature, -1);
}

Test(score_store, a_bare_score_keeps_no_contributions_and_no_reasons)
{
    sample();
    size_t explained = blob_len;
    score.have_contributions = false;
    cr_assert_eq(churn_score_encode(&score, blob, sizeof(blob), &blob_len), CHURN_EINVAL,
                 "reasons without contributions");
    score.n_reasons = 0;
    cr_assert_eq(churn_score_encode(&score, blob, sizeof(blob), &blob_len), CHURN_OK);
    cr_assert_lt(blob_len, explained / 2);
    char why[256] = "";
    cr_assert_eq(churn_score_decode(blob, blob_len, &back, why, sizeof(why)), CHURN_OK, "%s", why);
    cr_assert(!back.have_contributions);
    cr_assert_eq(back.n_reasons, 0);
    cr_assert_eq(back.probability, score.probability);
    cr_assert(back.churned);
    score.have_contributions = true;
    cr_assert_eq(churn_score_encode(&score, blob, 100, &blob_len), CHURN_ETOOBIG);
}

Test(score_store, every_truncation_is_refused)
{
    sample();
    size_t full = blob_len;
    for (blob_len = 0; blob_len < full; blob_len++) {
        char why[256] = "";
        cr_assert_eq(churn_score_decode(blob, blob_len, &back, why, sizeof(why)), CHURN_ECORRUPT,
                     "accepted %zu of %zu bytes", blob_len, full);
        cr_assert(strstr(why, "truncated") || strstr(why, "length"), "%zu: %s", blob_len, why);
    }
}

Test(score_store, every_flipped_byte_is_refused)
{
    sample();
    for (size_t i = 0; i < blob_len; i++) {
        blob[i] ^= 0x5a;
        char why[256] = "";
        cr_assert_eq(churn_score_decode(blob, blob_len, &back, why, sizeof(why)), CHURN_ECORRUPT,
                     "byte %zu flipped was accepted", i);
        cr_assert_neq(why[0], '\0');
        blob[i] ^= 0x5a;
    }
}

Test(score_store, oversized_unknown_and_lying_frames_are_named)
{
    sample();
    size_t len = blob_len;
    blob_len = CHURN_STORE_SCORE_MAX + 1;
    assert_refused("over the limit");
    blob_len = len;
    blob[0] = 9;
    assert_refused("unknown version 9");
    blob[0] = CHURN_SCORE_CODEC_VERSION;
    blob[1] ^= 1; /* the length field */
    assert_refused("length field");
}

Test(score_store, the_head_is_peeked_without_decoding_and_any_change_shows_in_it)
{
    sample();
    struct churn_score_head h, h2;
    cr_assert(churn_score_peek(blob, blob_len, &h));
    cr_assert_eq(h.model_id, score.model_id);
    cr_assert_eq(h.cuts_id, score.cuts_id);
    cr_assert_eq(h.record_digest, score.record_digest);
    cr_assert_eq(h.scored_at_ms, score.scored_at_ms);
    cr_assert_eq(h.history_from_ms, score.history_from_ms);
    cr_assert_eq(h.checksum, churn_digest64(blob, blob_len - 8));
    /* the same score with one number changed: another checksum */
    score.probability = 0.626;
    cr_assert_eq(churn_score_encode(&score, blob, sizeof(blob), &blob_len), CHURN_OK);
    cr_assert(churn_score_peek(blob, blob_len, &h2));
    cr_assert_neq(h2.checksum, h.checksum);
}

Test(score_store, a_peek_refuses_frames_that_are_not_this_version)
{
    sample();
    struct churn_score_head h;
    for (size_t len = 0; len < 5 + 5 * 8 + 8; len++)
        cr_assert_not(churn_score_peek(blob, len, &h), "%zu bytes peeked", len);
    cr_assert_not(churn_score_peek(blob, blob_len - 1, &h), "a length field that lies");
    cr_assert_not(churn_score_peek(blob, CHURN_STORE_SCORE_MAX + 1, &h), "oversized");
    blob[0] = 9;
    cr_assert_not(churn_score_peek(blob, blob_len, &h), "unknown version");
}

Test(score_store, well_framed_lies_are_refused_by_field)
{
    /* offsets: version 1, length 4, six u64 = 53; probability there */
    sample();
    double bad = 1.5;
    memcpy(blob + 53, &bad, 8);
    reframe();
    assert_refused("probability is 1.5");
    sample();
    blob[53 + 5 * 8] = 7; /* the risk tier */
    reframe();
    assert_refused("risk tier is 7");
    sample();
    blob[53 + 5 * 8 + 2] = 4; /* the flags */
    reframe();
    assert_refused("unknown flags 0x4");
    sample();
    blob[53 + 5 * 8 + 3] = 200; /* the model version's length */
    reframe();
    assert_refused("model version");
    sample();
    memset(blob + blob_len - 8, 0, 8); /* room for a trailing byte */
    blob_len += 1;
    reframe();
    assert_refused("trailing");
}

/* ---- the store's scores database -------------------------------------------------------- */

static void
put_customer(const char *cid, const char *eid)
{
    churn_test_login(st, cid, eid);
}

static uint64_t
digest_of(const char *cid)
{
    uint64_t d = churn_test_digest(st, cid);
    cr_assert_neq(d, 0, "%s has no record", cid);
    return d;
}

static size_t
stored_len(const char *cid)
{
    static unsigned char buf[CHURN_STORE_SCORE_MAX];
    size_t len = 99;
    cr_assert_eq(churn_store_get_score(st, cid, buf, sizeof(buf), &len), CHURN_OK);
    return len;
}

Test(score_store, a_score_is_stored_only_while_its_record_is_unchanged, .init = setup,
     .fini = teardown)
{
    sample();
    put_customer("c1", "e1");
    uint64_t d = digest_of("c1");
    struct churn_store_score_put p = {"c1", d, blob, blob_len};
    size_t written = 9;
    cr_assert_eq(churn_store_put_scores(st, &p, 1, &written), CHURN_OK);
    cr_assert_eq(written, 1);
    cr_assert_eq(stored_len("c1"), blob_len);

    /* the record changes between the score and its storage: the digest catches it */
    put_customer("c1", "e2");
    cr_assert_neq(digest_of("c1"), d);
    p.data = blob + 0; /* the same bytes, computed from the record before */
    p.len = blob_len - 1;
    cr_assert_eq(churn_store_put_scores(st, &p, 1, &written), CHURN_OK);
    cr_assert_eq(written, 0);
    cr_assert_eq(stored_len("c1"), blob_len, "the older score was replaced");

    /* read with the record, in one transaction */
    struct churn_store_reader *rd;
    static unsigned char buf[CHURN_STORE_SCORE_MAX];
    uint64_t digest;
    bool decoded;
    size_t len = 0;
    cr_assert_eq(churn_store_reader_open(st, &rd), CHURN_OK);
    cr_assert_eq(churn_store_reader_get_scored(rd, "c1", NULL, &digest, &decoded, &rec, buf,
                                               sizeof(buf), &len),
                 CHURN_OK);
    churn_store_reader_close(rd);
    cr_assert_eq(len, blob_len);
    cr_assert_eq(memcmp(buf, blob, len), 0);
    cr_assert_eq(digest, digest_of("c1"));
    cr_assert_str_eq(rec.id, "c1");
}

Test(score_store, no_score_is_stored_for_an_unknown_or_erased_customer, .init = setup,
     .fini = teardown)
{
    sample();
    struct churn_store_score_put p = {"ghost", 1, blob, blob_len};
    size_t written = 9;
    cr_assert_eq(churn_store_put_scores(st, &p, 1, &written), CHURN_OK);
    cr_assert_eq(written, 0);
    cr_assert_eq(stored_len("ghost"), 0);

    put_customer("c2", "e1");
    p = (struct churn_store_score_put){"c2", digest_of("c2"), blob, blob_len};
    cr_assert_eq(churn_store_put_scores(st, &p, 1, &written), CHURN_OK);
    struct churn_store_stats stats;
    cr_assert_eq(churn_store_stats(st, &stats), CHURN_OK);
    cr_assert_eq(stats.scores, 1);
    cr_assert_gt(stats.scores_bytes, 0);

    struct churn_store_erase_report rep;
    cr_assert_eq(churn_store_delete_customer(st, "c2", &rep), CHURN_OK);
    cr_assert(rep.score && rep.record);
    cr_assert_eq(stored_len("c2"), 0);
    /* a score queued before the erase lands after it: refused, nothing comes back */
    cr_assert_eq(churn_store_put_scores(st, &p, 1, &written), CHURN_OK);
    cr_assert_eq(written, 0);
    cr_assert_eq(stored_len("c2"), 0);
}

Test(score_store, bad_puts_are_refused_whole, .init = setup, .fini = teardown)
{
    sample();
    put_customer("c3", "e1");
    uint64_t d = digest_of("c3");
    struct churn_store_score_put p[2] = {{"c3", d, blob, blob_len}, {"c3", d, blob, 0}};
    cr_assert_eq(churn_store_put_scores(st, p, 2, NULL), CHURN_EINVAL);
    cr_assert_not_null(strstr(churn_store_last_error(), "scores[1]"));
    p[1].len = CHURN_STORE_SCORE_MAX + 1;
    cr_assert_eq(churn_store_put_scores(st, p, 2, NULL), CHURN_EINVAL);
    p[1] = (struct churn_store_score_put){"bad id with spaces\n", d, blob, blob_len};
    cr_assert_eq(churn_store_put_scores(st, p, 2, NULL), CHURN_EINVAL);
    cr_assert_eq(stored_len("c3"), 0, "nothing of a refused batch is written");
}
