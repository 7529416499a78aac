/*
 * customers.c - customers and their events: applying batches of events in one durable write
 * transaction (validation, idempotency keys "customer id NUL event id", the record updated in
 * place, the event sequence and observed history noted), customer upserts and reads.
 */
#define _GNU_SOURCE /* qsort_r */
#include "churn/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/hash.h"
#include "store_internal.h"
#include "store_lmdb.h"

/* ---- events ---------------------------------------------------------------------------------- */

static int
cmp_order(const void *a, const void *b, void *vctx)
{
    const struct churn__apply *c = vctx;
    uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;
    int r = strcmp(c->ev[ia]->customer_id, c->ev[ib]->customer_id);
    if (r)
        return r;
    return ia < ib ? -1 : ia > ib;
}

static void
set_result(struct churn_event_result *r, enum churn_event_status st, enum churn_err err,
           const char *reason)
{
    r->status = st;
    r->err = err;
    r->lifetime_only = false;
    snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
}

enum churn_err
churn__apply_txn(struct churn_store *s, MDB_txn *txn, struct churn__apply *c)
{
    int32_t today = churn_day_of_ms(c->now_ms);
    int32_t min_day = today - (int32_t)s->opts.horizon_days + 1;
    unsigned char seen[5] = {VALUE_VERSION, (unsigned char)today, (unsigned char)(today >> 8),
                             (unsigned char)(today >> 16), (unsigned char)(today >> 24)};
    char ekey[2 * CHURN_ID_MAX + 2];
    uint64_t accepted = 0;
    enum churn_err err;
    int rc;

    for (size_t g = 0; g < c->n_valid;) {
        const char *cid = c->ev[c->order[g]]->customer_id;
        size_t end = g + 1;
        while (end < c->n_valid && strcmp(c->ev[c->order[end]]->customer_id, cid) == 0)
            end++;

        struct churn_customer *rec = s->wrec;
        MDB_val k = {strlen(cid), (void *)cid}, v;
        bool changed = false, corrupt = false;
        rc = mdb_get(txn, s->dbi[CHURN__DB_CUSTOMERS], &k, &v);
        if (rc == MDB_NOTFOUND)
            churn__record_init(rec, cid);
        else if (rc)
            return churn__mdb_err(rc, "reading a customer");
        else if (churn__record_decode(v.mv_data, v.mv_size, cid, k.mv_size, rec))
            corrupt = true;

        for (size_t j = g; j < end; j++) {
            const struct churn_event *ev = c->ev[c->order[j]];
            struct churn_event_result *res = c->res[c->order[j]];
            char reason[CHURN_REASON_MAX];

            if (corrupt) {
                set_result(res, CHURN_EVENT_REJECTED, CHURN_ECORRUPT, churn_store_last_error());
                continue;
            }
            MDB_val ek = {churn__store_pair_key(ekey, cid, ev->event_id), ekey}, ev_v;
            rc = mdb_get(txn, s->dbi[CHURN__DB_EVENT_IDS], &ek, &ev_v);
            if (rc == 0) {
                set_result(res, CHURN_EVENT_DUPLICATE, CHURN_OK, NULL);
                continue;
            }
            if (rc != MDB_NOTFOUND)
                return churn__mdb_err(rc, "looking up an event id");
            if ((err = churn__record_check_event(rec, ev, reason, sizeof(reason)))) {
                set_result(res, CHURN_EVENT_REJECTED, err, reason);
                continue;
            }
            MDB_val sv = {sizeof(seen), seen};
            if ((rc = mdb_put(txn, s->dbi[CHURN__DB_EVENT_IDS], &ek, &sv, 0)))
                return churn__mdb_err(rc, "recording an event id");
            churn__record_apply(rec, ev, min_day);
            set_result(res, CHURN_EVENT_ACCEPTED, CHURN_OK, NULL);
            accepted++;
            int32_t ev_day = churn_day_of_ms(ev->occurred_at_ms);
            res->lifetime_only = ev_day < min_day;
            if (!res->lifetime_only && ev_day < c->first_day)
                c->first_day = ev_day;
            changed = true;
        }
        if (changed) {
            churn__record_prune(rec, min_day);
            rec->updated_at_ms = c->now_ms;
            size_t len = churn__record_encode(rec, s->wbuf, CHURN__RECORD_MAX);
            if (len > CHURN__RECORD_MAX)
                return churn__store_fail(CHURN_EINTERNAL, "customer %s: record of %zu bytes", cid,
                                         len);
            MDB_val rv = {len, s->wbuf};
            if ((rc = mdb_put(txn, s->dbi[CHURN__DB_CUSTOMERS], &k, &rv, 0)))
                return churn__mdb_err(rc, "writing a customer");
        }
        g = end;
    }
    if ((err = churn__store_events_note(s, txn, accepted)))
        return err;
    return churn__store_history_note(s, txn, c->first_day);
}

enum churn_err
churn__apply_begin(struct churn_store *s, const struct churn__segment *segs, size_t nsegs,
                   int64_t now_ms, struct churn__apply *c)
{
    size_t total = 0;
    *c = (struct churn__apply){.now_ms = now_ms, .first_day = INT32_MAX};
    for (size_t i = 0; i < nsegs; i++)
        total += segs[i].n;
    c->total = total;
    if (total == 0)
        return CHURN_OK;
    if (total > UINT32_MAX)
        return churn__store_fail(CHURN_ETOOBIG, "too many events in one transaction");
    c->ev = churn_malloc(total * sizeof(*c->ev));
    c->res = churn_malloc(total * sizeof(*c->res));
    c->order = churn_malloc(total * sizeof(*c->order));
    if (!c->ev || !c->res || !c->order) {
        churn__apply_end(s, c, CHURN_ENOMEM);
        return churn__store_fail(CHURN_ENOMEM, "out of memory applying %zu events", total);
    }
    size_t g = 0;
    for (size_t i = 0; i < nsegs; i++) {
        for (size_t j = 0; j < segs[i].n; j++, g++) {
            char reason[CHURN_REASON_MAX];
            c->ev[g] = &segs[i].events[j];
            c->res[g] = &segs[i].results[j];
            enum churn_err verr =
                churn_event_validate(c->ev[g], now_ms, s->opts.skew_ms, reason, sizeof(reason));
            if (verr)
                set_result(c->res[g], CHURN_EVENT_REJECTED, verr, reason);
            else
                c->order[c->n_valid++] = (uint32_t)g;
        }
    }
    qsort_r(c->order, c->n_valid, sizeof(*c->order), cmp_order, c);
    return CHURN_OK;
}

void
churn__apply_end(struct churn_store *s, struct churn__apply *c, enum churn_err err)
{
    if (!err && c->total) {
        churn__store_history_commit(s, c->first_day);
        if (s->opts.on_group) /* issue 14: events per group commit */
            s->opts.on_group(s->opts.observer_ctx, c->total);
    }
    churn_free(c->order);
    churn_free(c->res);
    churn_free(c->ev);
    c->order = NULL;
    c->res = NULL;
    c->ev = NULL;
}

static enum churn_err
apply_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct churn__apply *c = vctx;
    c->first_day = INT32_MAX; /* the body may run again after the map grew */
    return churn__apply_txn(s, txn, c);
}

enum churn_err
churn__store_apply(struct churn_store *s, const struct churn__segment *segs, size_t nsegs,
                   int64_t now_ms)
{
    struct churn__apply c;
    churn__store_clear_error();
    enum churn_err err = churn__apply_begin(s, segs, nsegs, now_ms, &c);
    if (err || c.total == 0)
        return err;
    err = churn__store_write(s, apply_txn, &c, "applying events");
    churn__apply_end(s, &c, err);
    return err;
}

enum churn_err
churn_store_apply_events(struct churn_store *s, const struct churn_event *events, size_t n,
                         int64_t now_ms, struct churn_event_result *results)
{
    if (n && (!events || !results))
        return churn__store_fail(CHURN_EINVAL, "churn_store_apply_events: no events or results");
    struct churn__segment seg = {events, n, results};
    return churn__store_apply(s, &seg, 1, now_ms);
}

/* ---- customers ------------------------------------------------------------------------------- */

struct upsert_ctx {
    const struct churn_customer_upsert *items;
    size_t n;
    int64_t now_ms;
};

static enum churn_err
upsert_txn(struct churn_store *s, MDB_txn *txn, void *vctx)
{
    struct upsert_ctx *c = vctx;
    for (size_t i = 0; i < c->n; i++) {
        const char *cid = c->items[i].customer_id;
        MDB_val k = {strlen(cid), (void *)cid}, v;
        int rc = mdb_get(txn, s->dbi[CHURN__DB_CUSTOMERS], &k, &v);
        if (rc == MDB_NOTFOUND) {
            churn__record_init(s->wrec, cid);
        } else if (rc) {
            return churn__mdb_err(rc, "reading a customer");
        } else {
            enum churn_err err =
                churn__record_decode(v.mv_data, v.mv_size, cid, k.mv_size, s->wrec);
            if (err)
                return err;
        }
        struct churn_customer *rec = s->wrec;
        char plan[sizeof(rec->attrs.plan)];
        double value = rec->attrs.monthly_value;
        memcpy(plan, rec->attrs.plan, sizeof(plan));
        rec->attrs = *c->items[i].attrs;
        if (rec->n_plan_changes) {
            /* Plan change events are newer knowledge than an import of attributes. */
            rec->attrs.monthly_value = value;
            if (plan[0])
                memcpy(rec->attrs.plan, plan, sizeof(plan));
        }
        rec->updated_at_ms = c->now_ms;
        size_t len = churn__record_encode(rec, s->wbuf, CHURN__RECORD_MAX);
        if (len > CHURN__RECORD_MAX)
            return churn__store_fail(CHURN_EINTERNAL, "customer %s: record of %zu bytes", cid, len);
        MDB_val rv = {len, s->wbuf};
        if ((rc = mdb_put(txn, s->dbi[CHURN__DB_CUSTOMERS], &k, &rv, 0)))
            return churn__mdb_err(rc, "writing a customer");
    }
    return CHURN_OK;
}

static enum churn_err
check_attrs(const struct churn_customer_attrs *a, size_t index)
{
    const char *fields[] = {a->segment, a->plan, a->country};
    const char *names[] = {"segment", "plan", "country"};
    for (int i = 0; i < 3; i++) {
        size_t len = strnlen(fields[i], CHURN_NAME_MAX + 1);
        if (len > CHURN_NAME_MAX || !churn_utf8_valid(fields[i], len, NULL))
            return churn__store_fail(CHURN_EINVAL,
                                     "customers[%zu].%s: not a string of at most "
                                     "%d bytes of UTF-8",
                                     index, names[i], CHURN_NAME_MAX);
    }
    if (a->n_num > CHURN_ATTRS_MAX || a->n_cat > CHURN_ATTRS_MAX)
        return churn__store_fail(CHURN_ETOOBIG, "customers[%zu]: more than %d attributes", index,
                                 CHURN_ATTRS_MAX);
    if (a->signup_ms < 0)
        return churn__store_fail(CHURN_EINVAL, "customers[%zu].signup_ms: negative", index);
    if (a->monthly_value < 0 || a->monthly_value > 1e9)
        return churn__store_fail(CHURN_EINVAL, "customers[%zu].monthly_value: out of range", index);
    for (unsigned i = 0; i < a->n_num; i++) {
        size_t len = strnlen(a->num[i].name, CHURN_NAME_MAX + 1);
        if (!len || len > CHURN_NAME_MAX || !churn_utf8_valid(a->num[i].name, len, NULL) ||
            a->num[i].value != a->num[i].value)
            return churn__store_fail(CHURN_EINVAL, "customers[%zu].num[%u]: bad name or value",
                                     index, i);
    }
    for (unsigned i = 0; i < a->n_cat; i++) {
        size_t ln = strnlen(a->cat[i].name, CHURN_NAME_MAX + 1);
        size_t lv = strnlen(a->cat[i].value, CHURN_NAME_MAX + 1);
        if (!ln || ln > CHURN_NAME_MAX || lv > CHURN_NAME_MAX ||
            !churn_utf8_valid(a->cat[i].name, ln, NULL) ||
            !churn_utf8_valid(a->cat[i].value, lv, NULL))
            return churn__store_fail(CHURN_EINVAL, "customers[%zu].cat[%u]: bad name or value",
                                     index, i);
    }
    return CHURN_OK;
}

enum churn_err
churn_store_upsert_customers(struct churn_store *s, const struct churn_customer_upsert *items,
                             size_t n)
{
    churn__store_clear_error();
    for (size_t i = 0; i < n; i++) {
        char reason[CHURN_REASON_MAX];
        enum churn_err err =
            churn_id_validate(items[i].customer_id, "customer_id", reason, sizeof(reason));
        if (err)
            return churn__store_fail(err, "customers[%zu].%s", i, reason);
        if (!items[i].attrs)
            return churn__store_fail(CHURN_EINVAL, "customers[%zu]: no attributes", i);
        if ((err = check_attrs(items[i].attrs, i)))
            return err;
    }
    struct upsert_ctx c = {items, n, churn_now_ms()};
    return churn__store_write(s, upsert_txn, &c, "upserting customers");
}

enum churn_err
churn__store_get_customer_digest(struct churn_store *s, MDB_txn *txn, const char *id,
                                 const uint64_t *known, uint64_t *digest, bool *decoded,
                                 struct churn_customer *out)
{
    MDB_val k = {strlen(id), (void *)id}, v;
    int rc = mdb_get(txn, s->dbi[CHURN__DB_CUSTOMERS], &k, &v);
    if (rc == MDB_NOTFOUND)
        return churn__store_fail(CHURN_ENOTFOUND, "customer %s not found", id);
    if (rc)
        return churn__mdb_err(rc, "reading a customer");
    if (digest) {
        *digest = churn_digest64(v.mv_data, v.mv_size);
        if (known && *known == *digest) {
            *decoded = false;
            return CHURN_OK;
        }
    }
    if (decoded)
        *decoded = true;
    return churn__record_decode(v.mv_data, v.mv_size, id, k.mv_size, out);
}

enum churn_err
churn__store_get_customer(struct churn_store *s, MDB_txn *txn, const char *id,
                          struct churn_customer *out)
{
    return churn__store_get_customer_digest(s, txn, id, NULL, NULL, NULL, out);
}

enum churn_err
churn_store_get_customer(struct churn_store *s, const char *customer_id, struct churn_customer *out)
{
    MDB_txn *txn = NULL;
    enum churn_err err;

    churn__store_clear_error();
    if ((err = churn__store_check_id(customer_id, "customer_id")))
        return err;
    if ((err = churn__store_read_begin(s, &txn)))
        return err;
    err = churn__store_get_customer(s, txn, customer_id, out);
    churn__store_read_end(s, txn);
    mdb_txn_abort(txn);
    return err;
}
