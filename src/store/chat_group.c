/*
 * chat_group.c - the chat turns' group commit (churn/store_chat.h): the conversation states,
 * the chat signals (applied with the ingestion path's own validation and idempotency) and the
 * scores of the records those signals leave, in one durable write transaction. A score is
 * stored only when the record it was previewed from is still the one its signal is applied to
 * and no other signal of the group touches that customer, so a stored score always matches
 * the stored record it claims (its digest). Riders (other writers' alert states and scores)
 * are written after the turns in the same transaction; one that fails its checks is refused
 * alone.
 */
#include "churn/store_chat.h"

#include <stdio.h>
#include <string.h>

#include <lmdb.h>

#include "churn/alloc.h"
#include "churn/hash.h"
#include "churn/score_store.h"
#include "store_internal.h"
#include "store_lmdb.h"

struct chat_ctx {
    const struct churn_chat_group *g;
    struct churn__apply apply;
    bool *lone; /* per signal: the only valid signal of its customer in the group */
    bool *base; /* per signal: its customer's record had the score's base digest */
};

/* The digest of @cid's stored record in @txn (0: none). */
static enum churn_err
record_digest(struct churn_store *s, MDB_txn *txn, const char *cid, uint64_t *digest)
{
    MDB_val k = {strlen(cid), (void *)cid}, v;
    int rc = mdb_get(txn, s->dbi[CHURN__DB_CUSTOMERS], &k, &v);
    *digest = 0;
    if (rc == MDB_NOTFOUND)
        return CHURN_OK;
    if (rc)
        return churn__mdb_err(rc, "reading a customer");
    *digest = churn_digest64(v.mv_data, v.mv_size);
    return CHURN_OK;
}

/* Store signal @i's score, its record now having digest @digest. */
static enum churn_err
put_score(struct churn_store *s, MDB_txn *txn, struct chat_ctx *c, size_t i, uint64_t digest)
{
    const void *data = NULL;
    size_t len = 0;
    enum churn_err err = c->g->fill(i, digest, c->g->fill_user, &data, &len);
    if (err)
        return err;
    if (len == 0 || len > CHURN_STORE_SCORE_MAX)
        return churn__store_fail(CHURN_EINVAL, "signals[%zu]: a stored score of %zu bytes", i, len);
    const char *cid = c->g->signals[i].event->customer_id;
    MDB_val k = {strlen(cid), (void *)cid}, v = {len, (void *)data};
    int rc = mdb_put(txn, s->dbi[CHURN__DB_SCORES], &k, &v, 0);
    return rc ? churn__mdb_err(rc, "storing a score") : CHURN_OK;
}

/* The scores of the signals that may have one, after the signals were applied. */
static enum churn_err
put_scores(struct churn_store *s, MDB_txn *txn, struct chat_ctx *c)
{
    if (!c->g->fill || !s->dbi[CHURN__DB_SCORES])
        return CHURN_OK;
    for (size_t i = 0; i < c->g->n_signals; i++) {
        const struct churn_chat_signal_put *sg = &c->g->signals[i];
        if (!c->lone[i] || !c->base[i] || sg->result->status != CHURN_EVENT_ACCEPTED)
            continue;
        uint64_t digest;
        enum churn_err err = record_digest(s, txn, sg->event->customer_id, &digest);
        if (!err && digest)
            err = put_score(s, txn, c, i, digest);
        if (err)
            return err;
    }
    return CHURN_OK;
}

/* Rider @r's items in @txn. */
static enum churn_err
rider_txn(struct churn_store *s, MDB_txn *txn, struct churn_chat_rider *r)
{
    enum churn_err err = churn__conversations_txn(s, txn, r->states, r->n_states);
    if (!err)
        err = churn__alerts_append_txn(s, txn, r->n_alerts, r->alert_ids, r->alert_fill,
                                       r->alert_user, r->alert_seqs);
    if (!err)
        err = churn__alert_states_txn(s, txn, r->alert_states, r->n_alert_states);
    if (!err)
        err = churn__scores_txn(s, txn, r->scores, r->n_scores, &r->written);
    return err;
}

/* Whether @err is the store's (the disk, the map): it fails the whole group. */
static bool
storage_error(enum churn_err err)
{
    return err == CHURN_EFULL || err == CHURN_EIO || err == CHURN_ECORRUPT;
}

/* The riders that passed their checks (err 0), each in a nested transaction: one that fails
 * on its own (its fill) is undone and refused alone; a storage error fails the group. */
static enum churn_err
put_riders(struct churn_store *s, MDB_txn *txn, const struct churn_chat_group *g)
{
    for (size_t i = 0; i < g->n_riders; i++) {
        struct churn_chat_rider *r = g->riders[i];
        if (r->err)
            continue;
        MDB_txn *child;
        int rc = mdb_txn_begin(s->env, txn, 0, &child);
        if (rc)
            return churn__mdb_err(rc, "writing a rider");
        enum churn_err err = rider_txn(s, child, r);
        if (err) {
            mdb_txn_abort(child);
            if (storage_error(err))
                return err;
            r->err = err;
            r->written = 0;
            snprintf(r->error, sizeof(r->error), "%s", churn_store_last_error());
            churn__store_clear_error();
            continue;
        }
        if ((rc = mdb_txn_commit(child)))
            return churn__mdb_err(rc, "writing a rider");
    }
    return CHURN_OK;
}

static enum churn_err
chat_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct chat_ctx *c = vctx;
    const struct churn_chat_group *g = c->g;
    for (size_t i = 0; i < g->n_signals; i++) { /* the records the scores were taken from */
        uint64_t digest = 0;
        c->base[i] = false;
        if (!g->signals[i].base_digest || !c->lone[i])
            continue;
        enum churn_err err = record_digest(s, txn, g->signals[i].event->customer_id, &digest);
        if (err)
            return err;
        c->base[i] = digest == g->signals[i].base_digest;
    }
    c->apply.first_day = INT32_MAX; /* the body may run again after the map grew */
    enum churn_err err = g->n_signals ? churn__apply_txn(s, txn, &c->apply) : CHURN_OK;
    if (!err)
        err = churn__conversations_txn(s, txn, g->states, g->n_states);
    if (!err)
        err = put_scores(s, txn, c);
    if (!err)
        err = put_riders(s, txn, g);
    return err;
}

/* Mark the signals that are the only valid one of their customer (the valid ones are in
 * customer order in @c->apply). */
static void
mark_lone(struct chat_ctx *c)
{
    const struct churn__apply *a = &c->apply;
    for (size_t k = 0; k < a->n_valid; k++) {
        const char *cid = a->ev[a->order[k]]->customer_id;
        bool same_before = k > 0 && strcmp(a->ev[a->order[k - 1]]->customer_id, cid) == 0;
        bool same_after =
            k + 1 < a->n_valid && strcmp(a->ev[a->order[k + 1]]->customer_id, cid) == 0;
        c->lone[a->order[k]] = !same_before && !same_after;
    }
}

static enum churn_err
check_group(const struct churn_chat_group *g)
{
    enum churn_err err = churn__conversations_check(g->states, g->n_states);
    if (err)
        return err;
    for (size_t i = 0; i < g->n_signals; i++)
        if (!g->signals[i].event || !g->signals[i].result)
            return churn__store_fail(CHURN_EINVAL, "signals[%zu]: no event or result", i);
    return CHURN_OK;
}

/* Check each rider: one that fails is refused alone (its err and message set). Whether any
 * rider is left to write. */
static bool
check_riders(struct churn_store *s, const struct churn_chat_group *g)
{
    bool any = false;
    for (size_t i = 0; i < g->n_riders; i++) {
        struct churn_chat_rider *r = g->riders[i];
        r->written = 0;
        r->error[0] = '\0';
        r->err = churn__conversations_check(r->states, r->n_states);
        if (!r->err)
            r->err = churn__alerts_append_check(r->alert_ids, r->n_alerts);
        if (!r->err)
            r->err = churn__alert_states_check(r->alert_states, r->n_alert_states);
        if (!r->err && r->n_scores)
            r->err = churn__scores_check(s, r->scores, r->n_scores);
        if (r->err)
            snprintf(r->error, sizeof(r->error), "%s", churn_store_last_error());
        any |= !r->err;
    }
    churn__store_clear_error();
    return any;
}

/* Tell the riders that were written how the group ended (@err). */
static void
riders_done(const struct churn_chat_group *g, enum churn_err err)
{
    for (size_t i = 0; i < g->n_riders; i++) {
        struct churn_chat_rider *r = g->riders[i];
        if (r->err)
            continue;
        r->err = err;
        if (err) {
            r->written = 0;
            snprintf(r->error, sizeof(r->error), "%s", churn_store_last_error());
        }
    }
}

enum churn_err
churn_store_commit_chat(struct churn_store *s, const struct churn_chat_group *g)
{
    churn__store_clear_error();
    enum churn_err err = check_group(g);
    if (err) {
        riders_done(g, err); /* nothing was written */
        return err;
    }
    bool riders = check_riders(s, g);
    if (g->n_states == 0 && g->n_signals == 0 && !riders)
        return CHURN_OK;
    size_t n = g->n_signals;
    struct churn__segment *segs = churn_malloc((n ? n : 1) * sizeof(*segs));
    struct chat_ctx c = {.g = g};
    c.lone = churn_calloc(n ? n : 1, sizeof(*c.lone));
    c.base = churn_calloc(n ? n : 1, sizeof(*c.base));
    if (!segs || !c.lone || !c.base) {
        err = churn__store_fail(CHURN_ENOMEM, "out of memory committing %zu chat signals", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        segs[i] = (struct churn__segment){g->signals[i].event, 1, g->signals[i].result};
    err = churn__apply_begin(s, segs, n, g->now_ms, &c.apply);
    if (!err) {
        mark_lone(&c);
        err = churn__store_write(s, chat_txn, &c, "committing chat turns");
    }
    churn__apply_end(s, &c.apply, err);
out:
    riders_done(g, err);
    churn_free(c.base);
    churn_free(c.lone);
    churn_free(segs);
    return err;
}
