/*
 * test_chat_group.c - the chat turns' group commit (issue 13): several turns of several
 * customers (conversation states, chat signals, the scores those signals leave) in ONE write
 * transaction, counted by the store's commit observer; a score stored only when its record is
 * the one it was previewed from and no other signal of the group touches the customer; a
 * refused or failed group (bad id, map full at its cap) stores nothing of any of its turns and
 * the store goes on serving; and the chat saver on top: every signal of a failed commit is told
 * the error, its watchers are told the commit was not durable, nothing of it is stored; a
 * watcher still busy with one commit (sending its answers) does not hold the next commit, and
 * commits are told in order.
 */
#include "churn/store_chat.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "churn/arena.h"
#include "churn/clock.h"
#include "churn/engine.h"
#include "churn/hash.h"
#include "churn/score.h"
#include "churn/score_codec.h"
#include "churn/score_store.h"
#include "churn/store.h"

#include "store_fixture.h"
#include "tmpdir.h"

static char dir[64];
static struct churn_store *st;
static atomic_int commits;
static struct churn_score score; /* big: off the stack */
static unsigned char blob[CHURN_SCORE_ENCODED_MAX];

/* A commit can be held (on the committing thread, once durable) until the test lets it go. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool hold, held;
} commit_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};

static void
count_commit(void *ctx, int64_t ns)
{
    (void)ctx;
    (void)ns;
    atomic_fetch_add(&commits, 1);
    pthread_mutex_lock(&commit_gate.mu);
    commit_gate.held = commit_gate.hold;
    pthread_cond_broadcast(&commit_gate.cv);
    while (commit_gate.hold)
        pthread_cond_wait(&commit_gate.cv, &commit_gate.mu);
    pthread_mutex_unlock(&commit_gate.mu);
}

/* Queue a first state on @sv and hold its commit (durable) on the saver's thread. */
static void
commit_one_and_hold(struct churn__chat_saver *sv)
{
    pthread_mutex_lock(&commit_gate.mu);
    commit_gate.hold = true;
    pthread_mutex_unlock(&commit_gate.mu);
    cr_assert(churn__chat_saver_put(sv, "c1", "conv-1", "s", 1));
    pthread_mutex_lock(&commit_gate.mu);
    while (!commit_gate.held)
        pthread_cond_wait(&commit_gate.cv, &commit_gate.mu);
    pthread_mutex_unlock(&commit_gate.mu);
}

/* Let the held commit go. */
static void
release_commit(void)
{
    pthread_mutex_lock(&commit_gate.mu);
    commit_gate.hold = false;
    pthread_cond_broadcast(&commit_gate.cv);
    pthread_mutex_unlock(&commit_gate.mu);
}

/* A store in a new directory whose map cannot grow past @map_max bytes (0: the default). */
static void
open_store(size_t map_max)
{
    churn_test_mkdtemp(dir, sizeof(dir), "chatgroup");
    struct churn_store_options o;
    churn_store_options_init(&o);
    o.on_commit_ns = count_commit;
    if (map_max)
        o.map_size = o.map_size_max = map_max;
    cr_assert_eq(churn_store_open(dir, &o, &st), CHURN_OK, "%s", churn_store_last_error());
}

static void
setup(void)
{
    open_store(0);
}

static void
teardown(void)
{
    churn_store_close(st);
    st = NULL;
    churn_test_rm_rf(dir);
}

static void
login(const char *cid, const char *eid)
{
    churn_test_login(st, cid, eid);
}

static uint64_t
digest_of(const char *cid)
{
    return churn_test_digest(st, cid);
}

/* The stored score of @cid decoded into @out; false when none is stored. */
static bool
stored_score(const char *cid, struct churn_score *out)
{
    static unsigned char buf[CHURN_STORE_SCORE_MAX];
    size_t len = 0;
    char why[128];
    cr_assert_eq(churn_store_get_score(st, cid, buf, sizeof(buf), &len), CHURN_OK);
    if (len == 0)
        return false;
    cr_assert_eq(churn_score_decode(buf, len, out, why, sizeof(why)), CHURN_OK, "%s", why);
    return true;
}

static bool
has_state(const char *cid, const char *conv, const char *want)
{
    struct churn_arena a;
    churn_arena_init(&a, 0);
    void *data = NULL;
    size_t len = 0;
    bool found = churn_store_get_conversation(st, cid, conv, &a, &data, &len) == CHURN_OK;
    if (found && want)
        cr_assert(len == strlen(want) && memcmp(data, want, len) == 0, "%.*s", (int)len,
                  (char *)data);
    churn_arena_fini(&a);
    return found;
}

static struct churn_event
chat_signal(const char *cid, const char *eid, double dissatisfaction)
{
    return (struct churn_event){.kind = CHURN_EVENT_CHAT,
                                .event_id = eid,
                                .customer_id = cid,
                                .occurred_at_ms = churn_now_ms() - 10,
                                .chat = {.dissatisfaction = dissatisfaction}};
}

/* churn_chat_score_fill_fn: a score of the signal's customer with the digest it is given. */
static enum churn_err
fill(size_t i, uint64_t record_digest, void *user, const void **data, size_t *len)
{
    const struct churn_chat_signal_put *sigs = user;
    memset(&score, 0, sizeof(score));
    snprintf(score.customer_id, sizeof(score.customer_id), "%s", sigs[i].event->customer_id);
    score.probability = 0.25 + 0.01 * (double)i;
    score.risk_tier = CHURN_TIER_LOW;
    score.value_tier = CHURN_TIER_LOW;
    score.record_digest = record_digest;
    score.scored_at_ms = churn_now_ms();
    score.horizon_ms = 90 * CHURN_MS_PER_DAY;
    *data = blob;
    return churn_score_encode(&score, blob, sizeof(blob), len);
}

Test(chat_group, several_turns_of_several_customers_commit_as_one, .init = setup, .fini = teardown)
{
    login("c1", "l1");
    login("c2", "l2");
    login("c3", "l3");
    login("c4", "l4");
    struct churn_event old = chat_signal("c4", "chat:old:1", 0.1);
    struct churn_event_result r0;
    cr_assert_eq(churn_store_apply_events(st, &old, 1, churn_now_ms(), &r0), CHURN_OK);
    uint64_t d1 = digest_of("c1"), d2 = digest_of("c2"), d4 = digest_of("c4");

    struct churn_conversation_put states[] = {
        {"c1", "conv-a", "state a", 7},
        {"c2", "conv-b", "state b", 7},
        {"c3", "conv-c", "state c", 7},
        {"c1", "conv-d", "state d", 7},
    };
    struct churn_event ev[] = {
        chat_signal("c1", "chat:conv-a:1", 0.5), /* c1 twice: no score stored for c1 */
        chat_signal("c2", "chat:conv-b:1", 0.7), /* alone, its base unchanged: stored */
        chat_signal("c3", "chat:conv-c:1", 0.2), /* a base that is not c3's record */
        chat_signal("c1", "chat:conv-d:1", 0.9),
        chat_signal("c4", "chat:old:1", 0.3), /* committed before: a duplicate */
        chat_signal("c4", "chat:bad:1", 1.5), /* out of range: rejected */
    };
    struct churn_event_result res[6];
    struct churn_chat_signal_put sigs[6];
    uint64_t base[6] = {d1, d2, 12345, d1, d4, d4};
    for (size_t i = 0; i < 6; i++)
        sigs[i] = (struct churn_chat_signal_put){&ev[i], &res[i], base[i]};
    struct churn_chat_group g = {states, 4, sigs, 6, churn_now_ms(), fill, sigs};
    int before = atomic_load(&commits);
    cr_assert_eq(churn_store_commit_chat(st, &g), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(atomic_load(&commits) - before, 1, "one transaction for the whole group");

    cr_assert(has_state("c1", "conv-a", "state a") && has_state("c2", "conv-b", "state b") &&
              has_state("c3", "conv-c", "state c") && has_state("c1", "conv-d", "state d"));
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(res[i].status, CHURN_EVENT_ACCEPTED, "signal %zu: %s", i, res[i].reason);
    cr_assert_eq(res[4].status, CHURN_EVENT_DUPLICATE);
    cr_assert_eq(res[5].status, CHURN_EVENT_REJECTED);
    cr_assert_not_null(strstr(res[5].reason, "dissatisfaction"), "%s", res[5].reason);
    cr_assert_neq(digest_of("c1"), d1, "the signals reached the records");
    cr_assert_neq(digest_of("c2"), d2);

    static struct churn_score got;
    cr_assert(stored_score("c2", &got), "c2's score is stored with its signal");
    cr_assert_eq(got.record_digest, digest_of("c2"), "for the record as the signal left it");
    cr_assert_float_eq(got.probability, 0.26, 1e-9);
    cr_assert_not(stored_score("c1", &got), "two signals of c1: neither score is c1's record's");
    cr_assert_not(stored_score("c3", &got), "c3's score came from another record");
    cr_assert_not(stored_score("c4", &got), "no score for a duplicate or a rejected signal");

    /* sent again (a replayed group): every signal a duplicate, the records unchanged */
    uint64_t d1b = digest_of("c1");
    cr_assert_eq(churn_store_commit_chat(st, &g), CHURN_OK);
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(res[i].status, CHURN_EVENT_DUPLICATE, "signal %zu", i);
    cr_assert_eq(digest_of("c1"), d1b);
}

Test(chat_group, a_bad_item_refuses_the_whole_group, .init = setup, .fini = teardown)
{
    login("c1", "l1");
    struct churn_conversation_put states[] = {{"c1", "conv-a", "a", 1}, {"c1", "bad\nid", "b", 1}};
    struct churn_event ev = chat_signal("c1", "chat:conv-a:1", 0.5);
    struct churn_event_result res;
    struct churn_chat_signal_put sig = {&ev, &res, 0};
    struct churn_chat_group g = {states, 2, &sig, 1, churn_now_ms(), NULL, NULL};
    uint64_t d = digest_of("c1");
    cr_assert_eq(churn_store_commit_chat(st, &g), CHURN_EINVAL);
    cr_assert_not_null(strstr(churn_store_last_error(), "conversation_id"), "%s",
                       churn_store_last_error());
    cr_assert_not(has_state("c1", "conv-a", NULL));
    cr_assert_eq(digest_of("c1"), d, "the signal of a refused group is not applied");
    struct churn_chat_signal_put none = {NULL, &res, 0};
    g = (struct churn_chat_group){states, 1, &none, 1, churn_now_ms(), NULL, NULL};
    cr_assert_eq(churn_store_commit_chat(st, &g), CHURN_EINVAL);
    cr_assert_not_null(strstr(churn_store_last_error(), "signals[0]"));
}

#define BIG_STATE 4000
#define MAP_CAP   (1u << 20)

/* A group too big for a map that may not grow: nothing of it is stored, the error says the
 * store is full, and the store goes on taking a group that fits. */
Test(chat_group, a_failed_commit_stores_nothing_of_the_group, .fini = teardown)
{
    open_store(MAP_CAP);
    login("c1", "l1");
    login("c2", "l2");
    uint64_t d1 = digest_of("c1");
    enum { N = 2 * MAP_CAP / BIG_STATE };
    static struct churn_conversation_put states[N];
    static char ids[N][16], data[BIG_STATE];
    memset(data, 'x', sizeof(data));
    for (size_t i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "conv-%zu", i);
        states[i] = (struct churn_conversation_put){i % 2 ? "c1" : "c2", ids[i], data, BIG_STATE};
    }
    struct churn_event ev[2] = {chat_signal("c1", "chat:big:1", 0.4),
                                chat_signal("c2", "chat:big:2", 0.6)};
    struct churn_event_result res[2];
    struct churn_chat_signal_put sigs[2] = {{&ev[0], &res[0], d1}, {&ev[1], &res[1], 0}};
    struct churn_chat_group g = {states, N, sigs, 2, churn_now_ms(), fill, sigs};
    cr_assert_eq(churn_store_commit_chat(st, &g), CHURN_EFULL, "%s", churn_store_last_error());
    cr_assert_not(has_state("c1", "conv-1", NULL));
    cr_assert_not(has_state("c2", "conv-0", NULL));
    cr_assert_eq(digest_of("c1"), d1, "no signal of the failed group was applied");
    static struct churn_score got;
    cr_assert_not(stored_score("c1", &got));

    g.n_states = 2; /* the same turns, small enough: committed */
    cr_assert_eq(churn_store_commit_chat(st, &g), CHURN_OK, "%s", churn_store_last_error());
    cr_assert(has_state("c2", "conv-0", NULL) && has_state("c1", "conv-1", NULL));
    cr_assert_eq(res[0].status, CHURN_EVENT_ACCEPTED, "%s", res[0].reason);
    cr_assert(stored_score("c1", &got));
    cr_assert_eq(got.record_digest, digest_of("c1"));
}

/* ---- the chat saver over a group commit ------------------------------------------------- */

#define TOLD_MAX 64

struct told {
    atomic_int ok, failed; /* commits, as the watcher heard of them */
    atomic_int n;          /* signals told */
    char eid[TOLD_MAX][32];
    char cid[TOLD_MAX][16];
    bool durable[TOLD_MAX];
};

static struct told t;

static void
committed(void *ctx, uint64_t batch, bool ok)
{
    (void)batch;
    (void)ctx;
    atomic_fetch_add(ok ? &t.ok : &t.failed, 1);
}

/* churn__chat_signal.done: note how the signal ended (on the saver's thread), free it. */
static void
signal_done(struct churn__chat_signal *sig, enum churn_err err)
{
    int i = atomic_fetch_add(&t.n, 1);
    cr_assert_lt(i, TOLD_MAX);
    snprintf(t.eid[i], sizeof(t.eid[i]), "%s", sig->event.event_id);
    snprintf(t.cid[i], sizeof(t.cid[i]), "%s", sig->event.customer_id);
    t.durable[i] = err == CHURN_OK;
    cr_assert(err || sig->result.status == CHURN_EVENT_ACCEPTED, "%s: %d %s", sig->event.event_id,
              (int)sig->result.status, sig->result.reason);
    free(sig);
}

/* A signal that owns its strings (they live as long as the signal). */
struct test_signal {
    struct churn__chat_signal w; /* first */
    char cid[16], eid[32];
};

static struct churn__chat_signal *
new_signal(const char *cid, const char *eid)
{
    struct test_signal *sig = calloc(1, sizeof(*sig));
    cr_assert_not_null(sig);
    snprintf(sig->cid, sizeof(sig->cid), "%s", cid);
    snprintf(sig->eid, sizeof(sig->eid), "%s", eid);
    sig->w.event = chat_signal(sig->cid, sig->eid, 0.5);
    sig->w.done = signal_done;
    return &sig->w;
}

/* Whether the signal told at @i was applied: sent again, it is a duplicate exactly then. */
static bool
applied(int i)
{
    struct churn_event ev = chat_signal(t.cid[i], t.eid[i], 0.5);
    struct churn_event_result r;
    cr_assert_eq(churn_store_apply_events(st, &ev, 1, churn_now_ms(), &r), CHURN_OK);
    return r.status == CHURN_EVENT_DUPLICATE;
}

/* Turns put while no commit runs go into one; a commit the store refuses tells every one of
 * its signals and its watchers, and applies none of its signals. */
Test(chat_group, the_saver_fails_every_turn_of_a_failed_group, .fini = teardown)
{
    open_store(MAP_CAP);
    login("c1", "l1");
    login("c2", "l2");
    memset(&t, 0, sizeof(t));
    struct churn__chat_saver *sv;
    cr_assert_eq(churn__chat_saver_start(st, &sv), CHURN_OK);
    struct churn__chat_saver_watcher w = {.committed = committed};
    churn__chat_saver_watch(sv, &w);

    /* small turns of two customers: durable, every signal accepted */
    static char eids[4][32];
    for (int i = 0; i < 4; i++) {
        snprintf(eids[i], sizeof(eids[i]), "chat:small:%d", i);
        cr_assert(churn__chat_saver_put_turn(sv, i % 2 ? "c1" : "c2", eids[i], "s", 1,
                                             new_signal(i % 2 ? "c1" : "c2", eids[i])));
    }
    churn__chat_saver_flush(sv);
    cr_assert_eq(atomic_load(&t.n), 4);
    cr_assert_eq(atomic_load(&t.failed), 0);
    cr_assert(has_state("c1", "chat:small:1", "s") && has_state("c2", "chat:small:2", "s"));

    /* states that cannot all fit the map: the groups that do not fail whole */
    static char big[500], conv[16];
    memset(big, 'y', sizeof(big));
    enum { N = 3 * MAP_CAP / 500 };
    int queued = 4;
    for (int i = 0; i < N; i++) {
        snprintf(conv, sizeof(conv), "big-%d", i);
        struct churn__chat_signal *sig = i % 200 ? NULL : new_signal("c1", conv);
        if (churn__chat_saver_put_turn(sv, "c1", conv, big, sizeof(big), sig))
            queued += sig != NULL;
        else
            free(sig); /* not queued: still ours */
    }
    churn__chat_saver_flush(sv);
    /* watchers are told on the teller's thread, maybe after the flush returns: stopping tells
     * every commit first */
    cr_assert(churn__chat_saver_put(sv, "c2", "last", "z", 1));
    churn__chat_saver_flush(sv);
    churn__chat_saver_stop(sv);
    cr_assert_gt(atomic_load(&t.failed), 0, "the watcher heard of a failed commit");
    cr_assert_eq(atomic_load(&t.n), queued, "every queued signal was told exactly once");
    int failed = 0;
    for (int i = 0; i < queued; i++) {
        cr_assert_eq(applied(i), t.durable[i], "signal %s: told %s", t.eid[i],
                     t.durable[i] ? "durable" : "failed");
        failed += !t.durable[i];
    }
    cr_assert_gt(failed, 0, "the signals of a failed commit were told so");
}

/* A watcher held at a gate, as one sending a group's answers is busy: it notes the commits it
 * is told, in the order told. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    uint64_t last;    /* the last commit told */
    int out_of_order; /* commits told at or below one told before */
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0};

static void
gated_committed(void *ctx, uint64_t batch, bool ok)
{
    (void)ctx;
    cr_assert(ok);
    pthread_mutex_lock(&gate.mu);
    gate.out_of_order += batch <= gate.last;
    gate.last = batch;
    while (!gate.open)
        pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
}

/* The saver's next commit does not wait for the watchers of the last one while turns wait for
 * it (they are told on another thread): a turn queued during commit 1, then three more, are
 * written while commit 1 is still being told; then every commit is told, in order, the last
 * one included. */
Test(chat_group, a_busy_watcher_does_not_hold_the_next_commit, .init = setup, .fini = teardown)
{
    struct churn__chat_saver *sv;
    cr_assert_eq(churn__chat_saver_start(st, &sv), CHURN_OK);
    struct churn__chat_saver_watcher w = {.committed = gated_committed};
    churn__chat_saver_watch(sv, &w);
    int before = atomic_load(&commits);
    commit_one_and_hold(sv); /* commit 1 is durable, its saver not back yet */
    cr_assert(churn__chat_saver_put(sv, "c1", "conv-2", "s", 1)); /* waits for commit 2 */
    release_commit();
    for (int i = 2; i <= 5; i++) {
        char conv[16];
        snprintf(conv, sizeof(conv), "conv-%d", i);
        if (i > 2)
            cr_assert(churn__chat_saver_put(sv, "c1", conv, "s", 1));
        churn__chat_saver_flush(sv); /* written, whatever the watcher is doing */
        cr_assert(has_state("c1", conv, "s"), "%s", conv);
    }
    cr_assert_eq(atomic_load(&commits) - before, 5);
    pthread_mutex_lock(&gate.mu);
    gate.open = true;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    churn__chat_saver_stop(sv); /* tells what is left */
    cr_assert_eq(gate.out_of_order, 0);
    cr_assert_eq(gate.last, 5, "the last commit was told");
}

/* The alert state of @cid is @want (NULL: none is stored). */
static void
assert_alert_state(const char *cid, const char *want)
{
    struct churn_arena a;
    churn_arena_init(&a, 0);
    void *data = NULL;
    size_t len = 0;
    enum churn_err err = churn_store_get_alert_state(st, cid, &a, &data, &len);
    if (!want)
        cr_assert_eq(err, CHURN_ENOTFOUND, "%s has an alert state", cid);
    else
        cr_assert(err == CHURN_OK && len == strlen(want) && memcmp(data, want, len) == 0, "%s: %s",
                  cid, err ? churn_strerror(err) : "another state");
    churn_arena_fini(&a);
}

/* The encoded score of @cid computed from the record of digest @digest, into @buf. */
static struct churn_store_score_put
score_put(const char *cid, uint64_t digest, unsigned char *buf)
{
    struct churn_chat_signal_put one = {&(struct churn_event){.customer_id = cid}, NULL, 0};
    const void *data;
    size_t len;
    cr_assert_eq(fill(0, digest, &one, &data, &len), CHURN_OK);
    memcpy(buf, data, len);
    return (struct churn_store_score_put){cid, digest, buf, len};
}

/* Riders' items go in the turns' transaction (one commit); a rider whose items fail their
 * checks is refused alone, with a message naming the item, and nothing of it is written; a
 * rider's score whose record changed since it was computed is skipped, as alone. */
Test(chat_group, riders_commit_with_the_turns_and_a_bad_one_is_refused_alone, .init = setup,
     .fini = teardown)
{
    login("c1", "l1");
    login("c2", "l2");
    static unsigned char bufs[2][CHURN_SCORE_ENCODED_MAX];
    struct churn_store_score_put scores[2] = {score_put("c2", digest_of("c2"), bufs[0]),
                                              score_put("c1", digest_of("c1") ^ 1, bufs[1])};
    struct churn_alert_state_put good[2] = {{"c1", "A1", 2}, {"c2", "A2", 2}};
    struct churn_alert_state_put bad_id[2] = {{"c1", "B1", 2}, {"bad\001id", "B2", 2}};
    struct churn_store_score_put empty = {"c1", digest_of("c1"), blob, 0};
    struct churn_chat_rider a = {
        .alert_states = good, .n_alert_states = 2, .scores = scores, .n_scores = 2};
    struct churn_chat_rider b = {.alert_states = bad_id, .n_alert_states = 2};
    struct churn_chat_rider c = {.scores = &empty, .n_scores = 1};
    struct churn_chat_rider *riders[] = {&b, &a, &c};
    struct churn_conversation_put state = {"c1", "conv", "s1", 2};
    struct churn_chat_group g = {
        .states = &state, .n_states = 1, .now_ms = churn_now_ms(), .riders = riders, .n_riders = 3};
    int before = atomic_load(&commits);
    cr_assert_eq(churn_store_commit_chat(st, &g), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(atomic_load(&commits) - before, 1, "one transaction for the turn and riders");
    cr_assert(has_state("c1", "conv", "s1"));
    cr_assert_eq(a.err, CHURN_OK, "%s", a.error);
    cr_assert_eq(a.written, 1, "the score of a changed record is skipped");
    assert_alert_state("c1", "A1"); /* not B1: the bad rider wrote nothing */
    assert_alert_state("c2", "A2");
    static struct churn_score got;
    cr_assert(stored_score("c2", &got) && got.record_digest == digest_of("c2"));
    cr_assert_not(stored_score("c1", &got));
    cr_assert_eq(b.err, CHURN_EINVAL);
    cr_assert(strstr(b.error, "alert state 1") != NULL, "%s", b.error);
    cr_assert_eq(c.err, CHURN_EINVAL);
    cr_assert(strstr(c.error, "scores[0]") != NULL, "%s", c.error);

    /* riders alone: a commit of their own */
    struct churn_alert_state_put later = {"c1", "A3", 2};
    struct churn_chat_rider d = {.alert_states = &later, .n_alert_states = 1};
    struct churn_chat_rider *only[] = {&d};
    g = (struct churn_chat_group){.now_ms = churn_now_ms(), .riders = only, .n_riders = 1};
    cr_assert_eq(churn_store_commit_chat(st, &g), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(d.err, CHURN_OK);
    assert_alert_state("c1", "A3");
}

/* churn_store_alerts_fill_fn: alert "alert-<seq>" and state "S<seq>"; fails for "fails". */
static enum churn_err
alert_fill(size_t i, uint64_t seq, void *user, const void **alert, size_t *alert_len,
           const void **state, size_t *state_len)
{
    const char *const *ids = user;
    static char abuf[4][32], sbuf[4][32];
    if (strcmp(ids[i], "fails") == 0)
        return CHURN_ENOMEM;
    *alert_len = (size_t)snprintf(abuf[i], sizeof(abuf[i]), "alert-%llu", (unsigned long long)seq);
    *state_len = (size_t)snprintf(sbuf[i], sizeof(sbuf[i]), "S%llu", (unsigned long long)seq);
    *alert = abuf[i];
    *state = sbuf[i];
    return CHURN_OK;
}

static int
count_alert(uint64_t seq, const char *cid, const void *data, size_t len, void *user)
{
    (void)seq;
    (void)cid;
    (void)data;
    (void)len;
    (*(int *)user)++;
    return 0;
}

/* A rider's alerts are appended in the turns' transaction with their customers' states; a
 * rider whose fill fails is undone whole (its alert and its other items) and refused alone,
 * while the turns and the other riders are written. */
Test(chat_group, a_rider_that_fails_midway_is_undone_alone, .init = setup, .fini = teardown)
{
    login("c1", "l1");
    const char *ok_ids[] = {"c1"}, *bad_ids[] = {"c2", "fails"};
    uint64_t ok_seq[1] = {0}, bad_seq[2] = {0};
    struct churn_alert_state_put bad_state = {"c2", "X", 1};
    struct churn_chat_rider ok = {.n_alerts = 1,
                                  .alert_ids = ok_ids,
                                  .alert_fill = alert_fill,
                                  .alert_user = ok_ids,
                                  .alert_seqs = ok_seq};
    struct churn_chat_rider bad = {.n_alerts = 2,
                                   .alert_ids = bad_ids,
                                   .alert_fill = alert_fill,
                                   .alert_user = bad_ids,
                                   .alert_seqs = bad_seq,
                                   .alert_states = &bad_state,
                                   .n_alert_states = 1};
    struct churn_chat_rider *riders[] = {&bad, &ok};
    struct churn_conversation_put state = {"c1", "conv", "s1", 2};
    struct churn_chat_group g = {
        .states = &state, .n_states = 1, .now_ms = churn_now_ms(), .riders = riders, .n_riders = 2};
    int before = atomic_load(&commits);
    cr_assert_eq(churn_store_commit_chat(st, &g), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(atomic_load(&commits) - before, 1);
    cr_assert(has_state("c1", "conv", "s1"));
    cr_assert_eq(bad.err, CHURN_ENOMEM);
    cr_assert_eq(ok.err, CHURN_OK, "%s", ok.error);
    cr_assert_eq(ok_seq[0], 1, "the refused rider's sequences were not used");
    assert_alert_state("c1", "S1");
    assert_alert_state("c2", NULL); /* the refused rider's first alert's state is undone too */
    int n = 0;
    cr_assert_eq(churn_store_foreach_alert(st, 0, 0, count_alert, &n), CHURN_OK);
    cr_assert_eq(n, 1, "only the written rider's alert is in the log");
}

static struct churn__chat_saver *ride_sv;

static void *
ride_thread(void *arg)
{
    return churn__chat_saver_ride(ride_sv, arg) ? arg : NULL;
}

/* A rider that comes while the saver commits goes in its next commit with the turns queued
 * meanwhile, and returns once that commit is durable; a rider refused by its checks gets its
 * error while the turns of its commit are written. No saver: not taken. */
Test(chat_group, a_rider_shares_the_next_commit_with_the_turns, .init = setup, .fini = teardown)
{
    login("c1", "l1");
    struct churn_chat_rider none = {0};
    cr_assert_not(churn__chat_saver_ride(NULL, &none));
    cr_assert_eq(churn__chat_saver_start(st, &ride_sv), CHURN_OK);
    struct churn_alert_state_put good = {"c1", "R1", 2}, bad = {"", "R2", 2};
    struct churn_chat_rider r[2] = {{.alert_states = &good, .n_alert_states = 1},
                                    {.alert_states = &bad, .n_alert_states = 1}};
    int before = atomic_load(&commits);
    commit_one_and_hold(ride_sv); /* commit 1 is durable, its saver not back yet */
    cr_assert(churn__chat_saver_put(ride_sv, "c1", "conv-2", "s", 1)); /* for commit 2 */
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, ride_thread, &r[i]), 0);
    while (churn__chat_saver_riders(ride_sv) < 2)
        sched_yield();
    release_commit();
    for (int i = 0; i < 2; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        cr_assert_eq(ret, &r[i], "rider %d was taken", i);
    }
    /* returned once durable: no flush needed to see it */
    assert_alert_state("c1", "R1");
    cr_assert(has_state("c1", "conv-2", "s"));
    cr_assert_eq(r[0].err, CHURN_OK, "%s", r[0].error);
    cr_assert_eq(r[1].err, CHURN_EINVAL);
    cr_assert(strstr(r[1].error, "alert state 0") != NULL, "%s", r[1].error);
    cr_assert_eq(atomic_load(&commits) - before, 2, "the riders rode commit 2");
    churn__chat_saver_stop(ride_sv);
}
