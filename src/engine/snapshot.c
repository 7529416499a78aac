/*
 * engine/snapshot.c - the store half of the daily aggregate snapshot (churn/snapshot.h):
 * reading the stored list of days (meta "trend.days"), storing a new day with retention, and
 * computing a day from the store: a walk over the alert log since the previous snapshot, and
 * one walk over the customer records (realised churn) with each customer's alert state (its
 * materialized score and open alerts, read through the engine's callback). The sweep calls
 * churn_snapshot_take_daily() at the end of every sweep; only the first of a UTC day does any work.
 */
#include "churn/snapshot.h"

#include <stdint.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/arena.h"
#include "churn/clock.h"
#include "churn/store.h"

static enum churn_err
load_all(struct churn_store *store, struct churn_daily_snapshot **out, size_t *n)
{
    struct churn_arena a;
    churn_arena_init(&a, CHURN_STORE_VALUE_MAX + 4096);
    void *data;
    size_t len;
    enum churn_err err = churn_store_get_meta(store, CHURN_SNAPSHOT_META, &a, &data, &len);
    if (err == CHURN_ENOTFOUND) {
        *out = NULL;
        *n = 0;
        err = CHURN_OK;
    } else if (err == CHURN_OK) {
        err = churn_daily_list_decode(data, len, out, n);
    }
    churn_arena_fini(&a);
    return err;
}

enum churn_err
churn_snapshot_list(struct churn_store *store, int32_t from_day, int32_t to_day,
                    struct churn_daily_snapshot **out, size_t *n)
{
    struct churn_daily_snapshot *days;
    size_t count;
    enum churn_err err = load_all(store, &days, &count);
    if (err)
        return err;
    size_t k = 0;
    for (size_t i = 0; i < count; i++)
        if (days[i].day >= from_day && days[i].day <= to_day)
            days[k++] = days[i];
    if (k == 0) {
        churn_free(days);
        days = NULL;
    }
    *out = days;
    *n = k;
    return CHURN_OK;
}

enum churn_err
churn_snapshot_latest(struct churn_store *store, struct churn_daily_snapshot *out)
{
    struct churn_daily_snapshot *days;
    size_t n;
    enum churn_err err = load_all(store, &days, &n);
    if (err)
        return err;
    if (n)
        *out = days[n - 1];
    churn_free(days);
    return n ? CHURN_OK : CHURN_ENOTFOUND;
}

enum churn_err
churn_snapshot_put(struct churn_store *store, const struct churn_daily_snapshot *s,
                   unsigned keep_days)
{
    struct churn_daily_snapshot *days;
    size_t n;
    enum churn_err err = load_all(store, &days, &n);
    if (err == CHURN_ECORRUPT) { /* an unreadable list is replaced, not kept forever */
        days = NULL;
        n = 0;
    } else if (err) {
        return err;
    }
    uint8_t *enc = NULL;
    size_t len = 0;
    err = churn_daily_list_merge(&days, &n, s, keep_days);
    if (!err)
        err = churn_daily_list_encode(days, n, &enc, &len);
    if (!err)
        err = churn_store_put_meta(store, CHURN_SNAPSHOT_META, enc, len);
    churn_free(enc);
    churn_free(days);
    return err;
}

/* ---- computing a day --------------------------------------------------------------------- */

struct walk {
    struct churn_store *store;
    churn_snapshot_state_fn *read_state;
    churn_snapshot_customer_fn *fn;
    void *user;
    struct churn_arena arena; /* one customer's alert state */
    enum churn_err err;
};

static int
walk_cb(const struct churn_customer *rec, void *user)
{
    struct walk *w = user;
    void *data;
    size_t len;
    churn_arena_reset(&w->arena);
    enum churn_err err = churn_store_get_alert_state(w->store, rec->id, &w->arena, &data, &len);
    if (err && err != CHURN_ENOTFOUND) {
        w->err = err;
        return 1;
    }
    struct churn_snapshot_state st = {0};
    bool have = !err && w->read_state(data, len, &st);
    return w->fn(rec, have ? &st : NULL, w->user);
}

enum churn_err
churn_snapshot_foreach_customer(struct churn_store *store, churn_snapshot_state_fn *read_state,
                                churn_snapshot_customer_fn *fn, void *user)
{
    struct walk w = {.store = store, .read_state = read_state, .fn = fn, .user = user};
    churn_arena_init(&w.arena, CHURN_STORE_VALUE_MAX + 4096);
    enum churn_err err = churn_store_foreach_customer(store, walk_cb, &w);
    if (err == CHURN_ECANCELLED && w.err)
        err = w.err;
    churn_arena_fini(&w.arena);
    return err;
}

struct compute {
    struct churn_daily_snapshot *s;
    struct churn_alert alert;
    uint64_t last_seq;
};

/* One customer: realised churn, open alerts and, unless the customer is already lost, the
 * latest score. */
static int
customer_cb(const struct churn_customer *rec, const struct churn_snapshot_state *st, void *user)
{
    struct compute *c = user;
    bool lost = rec->churned_at_ms > 0;
    c->s->customers++;
    c->s->lost += lost;
    churn_daily_snapshot_add_churn(c->s, rec->churned_at_ms);
    if (!st)
        return 0;
    c->s->open_alerts += st->open_alerts;
    if (st->has_score && !lost) /* as ListAtRiskCustomers: the lost are not at risk */
        churn_daily_snapshot_add_score(c->s, st->risk, st->probability, st->value);
    return 0;
}

static int
alert_cb(uint64_t seq, const char *customer_id, const void *data, size_t len, void *user)
{
    (void)customer_id;
    struct compute *c = user;
    c->last_seq = seq;
    if (churn_alert_decode(data, len, &c->alert) == CHURN_OK)
        churn_daily_snapshot_add_revision(c->s, &c->alert);
    return 0;
}

enum churn_err
churn_snapshot_compute(struct churn_store *store, int64_t now_ms,
                       const struct churn_daily_snapshot *prev, churn_snapshot_state_fn *read_state,
                       struct churn_daily_snapshot *out)
{
    struct churn_daily_snapshot s;
    churn_daily_snapshot_start(&s, now_ms, prev ? prev->taken_at_ms : now_ms - CHURN_MS_PER_DAY);
    struct compute c = {.s = &s, .last_seq = prev ? prev->alert_seq : 0};
    enum churn_err err = churn_store_foreach_alert(store, c.last_seq, 0, alert_cb, &c);
    s.alert_seq = c.last_seq;
    if (!err)
        err = churn_snapshot_foreach_customer(store, read_state, customer_cb, &c);
    if (err)
        return err;
    *out = s;
    return CHURN_OK;
}

enum churn_err
churn_snapshot_take_daily(struct churn_store *store, int64_t now_ms, unsigned keep_days,
                          churn_snapshot_state_fn *read_state, bool *taken)
{
    struct churn_daily_snapshot prev, s;
    if (taken)
        *taken = false;
    enum churn_err err = churn_snapshot_latest(store, &prev);
    if (err && err != CHURN_ENOTFOUND && err != CHURN_ECORRUPT)
        return err;
    bool have_prev = err == CHURN_OK;
    if (have_prev && prev.day >= churn_day_of_ms(now_ms))
        return CHURN_OK; /* today's is there */
    err = churn_snapshot_compute(store, now_ms, have_prev ? &prev : NULL, read_state, &s);
    if (!err)
        err = churn_snapshot_put(store, &s, keep_days);
    if (!err && taken)
        *taken = true;
    return err;
}
