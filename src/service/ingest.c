/*
 * ingest.c - churn.v1.IngestService: RecordEvents (client stream of events, group-committed
 * through the store's writer and acknowledged only after the durable commit),
 * UpsertCustomers, GetCustomer (attributes, totals, label, every feature with its freshness)
 * and DeleteCustomer (the privacy erase). Converts between the protobuf messages and the
 * store's domain structs; never touches LMDB itself.
 */
#include <math.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/hash.h"
#include "churn/clock.h"
#include "churn/event_codec.h"
#include "churn/features.h"
#include "churn/log.h"
#include "churn/service.h"
#include "churn/service_metrics.h"
#include "churn/store.h"
#include "churn_proto.h"
#include "service_internal.h"

#define INGEST_BATCH_EVENTS    512  /* events per writer submission */
#define INGEST_MAX_OUTSTANDING 8    /* submitted batches per stream before reading pauses */
#define INGEST_MAX_REJECTIONS  100  /* listed in the summary; the count goes on */
#define INGEST_MAX_PER_MESSAGE 1000 /* events in one RecordEventsRequest */
#define INGEST_BATCH_ARENA     (1u << 20)
#define UPSERT_MAX_CUSTOMERS   1000
#define FIELD_EVENT            1 /* RecordEventsRequest.event */
#define FIELD_EVENTS           2 /* RecordEventsRequest.events */

/* ---- RecordEvents ------------------------------------------------------------------------ */

struct ingest_batch {
    struct ingest_stream *stream;
    int64_t first_index;
    size_t n;
    struct churn_event events[INGEST_BATCH_EVENTS];
    struct churn_event_result results[INGEST_BATCH_EVENTS];
    int64_t index[INGEST_BATCH_EVENTS]; /* stream position of each event */
    struct churn_arena strings;
};

struct ingest_stream {
    struct churn_rpc *rpc;
    struct churn_services *svc;
    pthread_mutex_t mu;
    int refs;         /* (mu) the call + each outstanding batch */
    int outstanding;  /* (mu) batches submitted and not completed */
    bool half_closed; /* (mu) the client sent everything */
    bool failed;      /* (mu) a commit failed: the call ends with that error */
    enum churn_err fail_err;
    char fail_msg[256];
    int64_t received, accepted, duplicates, rejected, committed_at_ms, lifetime_only;
    uint64_t *touched; /* (mu) hashes of the customers with an accepted event (open addressing) */
    size_t touched_n, touched_cap;
    size_t n_rejections;
    Churn__V1__Rejection rejections[INGEST_MAX_REJECTIONS];
    /* "reason\0event_id\0field" for each listed rejection */
    char rejection_text[INGEST_MAX_REJECTIONS][CHURN_REASON_MAX + 2 * (CHURN_ID_MAX + 1) + 8];
    struct ingest_batch *filling; /* worker thread only */
};

static void
stream_unref(struct ingest_stream *st)
{
    pthread_mutex_lock(&st->mu);
    bool last = --st->refs == 0;
    pthread_mutex_unlock(&st->mu);
    if (!last)
        return;
    if (st->filling) {
        churn_arena_fini(&st->filling->strings);
        churn_free(st->filling);
    }
    pthread_mutex_destroy(&st->mu);
    churn_rpc_unref(st->rpc);
    churn_free(st->touched);
    churn_free(st);
}

static void
touched_insert(uint64_t *slots, size_t cap, uint64_t h, size_t *n)
{
    size_t i = h & (cap - 1);
    while (slots[i] && slots[i] != h)
        i = (i + 1) & (cap - 1);
    if (!slots[i]) {
        slots[i] = h;
        (*n)++;
    }
}

/* Count @id among the customers the stream touched (st->mu held). On allocation failure the
 * count stays a lower bound: it is a report, not a decision. */
static void
touched_add_locked(struct ingest_stream *st, const char *id)
{
    if (2 * (st->touched_n + 1) > st->touched_cap) {
        size_t cap = st->touched_cap ? 2 * st->touched_cap : 256;
        uint64_t *slots = churn_calloc(cap, sizeof(*slots));
        if (!slots)
            return;
        size_t n = 0;
        for (size_t i = 0; i < st->touched_cap; i++)
            if (st->touched[i])
                touched_insert(slots, cap, st->touched[i], &n);
        churn_free(st->touched);
        st->touched = slots;
        st->touched_cap = cap;
        st->touched_n = n;
    }
    touched_insert(st->touched, st->touched_cap, churn_id_hash(id), &st->touched_n);
}

/*
 * The status code a Rejection carries (ingest.proto): RESOURCE_EXHAUSTED for a text over its
 * limit, INVALID_ARGUMENT for every other bad field.
 */
static int
rejection_code(enum churn_err err, const char *reason)
{
    if (err == CHURN_ETOOBIG && strstr(reason, "text"))
        return churn_rpc_status_code(CHURN_ETOOBIG);
    return churn_rpc_status_code(CHURN_EINVAL);
}

/* Record a rejection. Caller holds st->mu. */
static void
add_rejection_locked(struct ingest_stream *st, int64_t index, const char *event_id, int code,
                     const char *reason, const char *field)
{
    st->rejected++;
    churn_service_metrics_rejected(st->svc->metrics, reason);
    if (st->n_rejections == INGEST_MAX_REJECTIONS)
        return;
    size_t i = st->n_rejections++;
    Churn__V1__Rejection *r = &st->rejections[i];
    churn__v1__rejection__init(r);
    r->index = index;
    r->code = code;
    /* one buffer holds both strings: "reason\0event_id" */
    char *text = st->rejection_text[i];
    size_t rl = strnlen(reason, CHURN_REASON_MAX - 1);
    memcpy(text, reason, rl);
    text[rl] = '\0';
    char *id = text + rl + 1;
    snprintf(id, CHURN_ID_MAX + 1, "%s", event_id ? event_id : "");
    r->reason = text;
    r->event_id = id;
    r->field = (char *)(field ? field : "");
    if (!field) {
        /* reasons read "field.path: what is wrong": the field is the part before ": " */
        char *fld = id + strlen(id) + 1;
        size_t n = strcspn(reason, ": ");
        if (n < CHURN_ID_MAX && reason[n] == ':') {
            snprintf(fld, CHURN_ID_MAX + 1, "%.*s", (int)n, reason);
            r->field = fld;
        }
    }
}

static int
by_index(const void *a, const void *b)
{
    const Churn__V1__Rejection *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

/* Send the summary once everything the client sent is committed. Caller holds st->mu. */
static void
maybe_reply_locked(struct ingest_stream *st)
{
    if (!st->half_closed || st->outstanding > 0)
        return;
    if (st->failed) {
        churn_rpc_finish(st->rpc, st->fail_err, "%s", st->fail_msg);
        return;
    }
    Churn__V1__RecordEventsResponse resp = CHURN__V1__RECORD_EVENTS_RESPONSE__INIT;
    Churn__V1__Rejection *list[INGEST_MAX_REJECTIONS];
    /* refused on arrival or at commit: listed in stream order either way */
    qsort(st->rejections, st->n_rejections, sizeof(st->rejections[0]), by_index);
    for (size_t i = 0; i < st->n_rejections; i++)
        list[i] = &st->rejections[i];
    resp.received = st->received;
    resp.accepted = st->accepted;
    resp.duplicates = st->duplicates;
    resp.rejected = st->rejected;
    resp.lifetime_only = st->lifetime_only;
    resp.customers_touched = (int64_t)st->touched_n;
    resp.n_rejections = st->n_rejections;
    resp.rejections = list;
    resp.rejections_truncated = st->rejected > (int64_t)st->n_rejections;
    resp.committed_at_ms = st->committed_at_ms ? st->committed_at_ms : churn_now_ms();
    churn_rpc_reply(st->rpc, &resp.base);
}

/* Queue a rescore of each distinct customer with an accepted event in @b (the alert engine
 * never blocks the writer: what does not fit its queue is dropped and counted there). */
static void
enqueue_rescores(struct churn_services *svc, const struct ingest_batch *b,
                 const struct churn_event_result *results, size_t n)
{
    const char *ids[INGEST_BATCH_EVENTS];
    size_t k = 0;
    for (size_t i = 0; i < n && i < INGEST_BATCH_EVENTS; i++) {
        if (results[i].status != CHURN_EVENT_ACCEPTED)
            continue;
        const char *id = b->events[i].customer_id;
        bool seen = false;
        for (size_t j = k; j-- > 0 && !seen;)
            seen = strcmp(ids[j], id) == 0;
        if (!seen)
            ids[k++] = id;
    }
    churn__alerts_rescore(svc->alerts, ids, k);
}

/* Writer thread: the batch's transaction committed (or failed). */
static void
batch_done(void *user, enum churn_err err, const struct churn_event_result *results, size_t n)
{
    struct ingest_batch *b = user;
    struct ingest_stream *st = b->stream;
    if (!err) /* before the summary can go out: its alerts follow it */
        enqueue_rescores(st->svc, b, results, n);
    pthread_mutex_lock(&st->mu);
    if (err) {
        if (!st->failed) {
            st->failed = true;
            st->fail_err = err == CHURN_EFULL ? CHURN_EFULL : CHURN_EUNAVAIL;
            snprintf(st->fail_msg, sizeof(st->fail_msg),
                     "events from index %lld could not be committed (%s): resend them",
                     (long long)b->first_index, churn_strerror(err));
        }
    } else {
        st->committed_at_ms = churn_now_ms();
        int64_t accepted = st->accepted, duplicates = st->duplicates;
        for (size_t i = 0; i < n; i++) {
            switch (results[i].status) {
            case CHURN_EVENT_ACCEPTED:
                st->accepted++;
                st->lifetime_only += results[i].lifetime_only;
                touched_add_locked(st, b->events[i].customer_id);
                break;
            case CHURN_EVENT_DUPLICATE:
                st->duplicates++;
                break;
            case CHURN_EVENT_REJECTED: {
                /* the store names fields within the event: say "event.<field>" as the API
                 * does */
                char reason[CHURN_REASON_MAX + 8];
                snprintf(reason, sizeof(reason), "%s%s",
                         strncmp(results[i].reason, "event", 5) == 0 ? "" : "event.",
                         results[i].reason);
                add_rejection_locked(st, b->index[i], b->events[i].event_id,
                                     rejection_code(results[i].err, results[i].reason), reason,
                                     NULL);
                break;
            }
            }
        }
        churn_service_metrics_events(st->svc->metrics, (uint64_t)(st->accepted - accepted),
                                     (uint64_t)(st->duplicates - duplicates));
    }
    st->outstanding--;
    bool resume = st->outstanding < INGEST_MAX_OUTSTANDING && !st->half_closed;
    maybe_reply_locked(st);
    pthread_mutex_unlock(&st->mu);
    if (resume)
        churn_rpc_resume_recv(st->rpc);
    churn_arena_fini(&b->strings);
    churn_free(b);
    stream_unref(st);
}

/* Hand the filling batch to the group-commit writer. Worker thread. */
static enum churn_err
submit_batch(struct ingest_stream *st)
{
    struct ingest_batch *b = st->filling;
    if (!b || b->n == 0)
        return CHURN_OK;
    st->filling = NULL;
    pthread_mutex_lock(&st->mu);
    st->outstanding++;
    st->refs++;
    bool hold = st->outstanding >= INGEST_MAX_OUTSTANDING;
    pthread_mutex_unlock(&st->mu);
    if (hold)
        churn_rpc_hold_recv(st->rpc);
    enum churn_err err =
        churn_store_writer_submit(st->svc->writer, b->events, b->n, b->results, batch_done, b);
    if (err) {
        pthread_mutex_lock(&st->mu);
        st->outstanding--;
        st->refs--;
        pthread_mutex_unlock(&st->mu);
        churn_arena_fini(&b->strings);
        churn_free(b);
        if (hold)
            churn_rpc_resume_recv(st->rpc);
        return churn_rpc_error(st->rpc, err == CHURN_EAGAIN ? CHURN_EUNAVAIL : err,
                               "ingestion queue is full or stopping: resend the events not "
                               "acknowledged");
    }
    return CHURN_OK;
}

static enum churn_err
record_start(struct churn_rpc *rpc, const ProtobufCMessage *unused)
{
    struct churn_services *svc = churn_rpc_service(rpc);
    if (!svc->writer)
        return churn_rpc_error(rpc, CHURN_EUNAVAIL, "the store is not open yet");
    struct ingest_stream *st = churn_calloc(1, sizeof(*st));
    if (!st)
        return CHURN_ENOMEM;
    pthread_mutex_init(&st->mu, NULL);
    st->rpc = churn_rpc_ref(rpc);
    st->svc = svc;
    st->refs = 1;
    *churn_rpc_state(rpc) = st;
    return CHURN_OK;
}

/* Reject the event at @index for @fault (a string or enum the transport refused). */
static void
reject_fault(struct ingest_stream *st, int64_t index, const Churn__V1__Event *pe,
             const struct churn_rpc_fault *fault)
{
    char reason[CHURN_REASON_MAX];
    churn_rpc_fault_format(fault, "event", reason, sizeof(reason));
    /* an event_id cut short by a NUL byte or not UTF-8 is not sent back */
    bool cut = fault->no_echo && strcmp(fault->path, "event_id") == 0;
    pthread_mutex_lock(&st->mu);
    add_rejection_locked(st, index, cut ? "" : pe->event_id, churn_rpc_status_code(fault->err),
                         reason, NULL);
    pthread_mutex_unlock(&st->mu);
}

/* Add one API event to the filling batch (or reject it). Worker thread. */
static enum churn_err
record_one(struct churn_rpc *rpc, struct ingest_stream *st, const Churn__V1__Event *pe,
           const struct churn_rpc_fault *fault)
{
    int64_t index = st->received++;
    if (pe && fault) {
        reject_fault(st, index, pe, fault);
        return CHURN_OK;
    }
    if (!pe) {
        pthread_mutex_lock(&st->mu);
        add_rejection_locked(st, index, NULL, churn_rpc_status_code(CHURN_EINVAL), "event: missing",
                             "event");
        pthread_mutex_unlock(&st->mu);
        return CHURN_OK;
    }
    if (!st->filling) {
        st->filling = churn_malloc(sizeof(*st->filling));
        if (!st->filling)
            return CHURN_ENOMEM;
        st->filling->stream = st;
        st->filling->n = 0;
        st->filling->first_index = index;
        churn_arena_init(&st->filling->strings, INGEST_BATCH_ARENA);
    }
    struct ingest_batch *b = st->filling;
    char reason[CHURN_REASON_MAX];
    const char *field = NULL;
    enum churn_err err =
        churn__event_from_proto(pe, &b->strings, &b->events[b->n], reason, sizeof(reason), &field);
    if (err == CHURN_ENOMEM && b->n > 0) {
        /* the batch's string arena is full: commit it and start a new one */
        if ((err = submit_batch(st)))
            return err;
        st->received--;
        return record_one(rpc, st, pe, NULL);
    }
    if (err == CHURN_ENOMEM)
        return churn_rpc_error(rpc, CHURN_ETOOBIG, "event %lld is too large", (long long)index);
    if (err) {
        pthread_mutex_lock(&st->mu);
        add_rejection_locked(st, index, pe->event_id, churn_rpc_status_code(err), reason, field);
        pthread_mutex_unlock(&st->mu);
        return CHURN_OK;
    }
    b->index[b->n++] = index;
    if (b->n == INGEST_BATCH_EVENTS)
        return submit_batch(st);
    return CHURN_OK;
}

static enum churn_err
record_message(struct churn_rpc *rpc, const ProtobufCMessage *msg)
{
    const Churn__V1__RecordEventsRequest *req = (const void *)msg;
    struct ingest_stream *st = *churn_rpc_state(rpc);
    if (req->n_events > INGEST_MAX_PER_MESSAGE)
        return churn_rpc_error(rpc, CHURN_ETOOBIG,
                               "events: %zu in one message is over the "
                               "limit of %d",
                               req->n_events, INGEST_MAX_PER_MESSAGE);
    /* a bad string or enum rejects its own event only (ingest.proto: per-event errors) */
    enum churn_err err = CHURN_OK;
    if (req->event || req->n_events == 0)
        err = record_one(rpc, st, req->event, churn_rpc_fault_for(rpc, FIELD_EVENT, 0));
    for (size_t i = 0; i < req->n_events && !err; i++)
        err = record_one(rpc, st, req->events[i], churn_rpc_fault_for(rpc, FIELD_EVENTS, i));
    return err;
}

static enum churn_err
record_half_close(struct churn_rpc *rpc, ProtobufCMessage **out)
{
    struct ingest_stream *st = *churn_rpc_state(rpc);
    enum churn_err err = submit_batch(st);
    if (err)
        return err;
    churn_rpc_defer(rpc);
    pthread_mutex_lock(&st->mu);
    st->half_closed = true;
    maybe_reply_locked(st);
    pthread_mutex_unlock(&st->mu);
    return CHURN_OK;
}

static void
record_done(struct churn_rpc *rpc)
{
    struct ingest_stream *st = *churn_rpc_state(rpc);
    if (st)
        stream_unref(st);
}

/* ---- UpsertCustomers ------------------------------------------------------------------- */

static enum churn_err
attrs_from_proto(const Churn__V1__Customer *c, struct churn_customer_attrs *attrs, bool merge,
                 char *reason, size_t rlen)
{
    struct {
        const char *value, *name;
        char *dst;
    } text[] = {{c->segment, "segment", attrs->segment},
                {c->plan, "plan", attrs->plan},
                {c->country, "country", attrs->country}};
    for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
        size_t len = strlen(text[i].value);
        if (len > CHURN_NAME_MAX) {
            snprintf(reason, rlen, "%s: over %d bytes", text[i].name, CHURN_NAME_MAX);
            return CHURN_EINVAL;
        }
        if (!churn_utf8_valid(text[i].value, len, NULL)) {
            snprintf(reason, rlen, "%s: not valid UTF-8", text[i].name);
            return CHURN_EINVAL;
        }
        if (len || !merge)
            memcpy(text[i].dst, text[i].value, len + 1);
    }
    if (c->signup_at_ms < 0) {
        snprintf(reason, rlen, "signup_at_ms: negative");
        return CHURN_EINVAL;
    }
    if (c->signup_at_ms || !merge)
        attrs->signup_ms = c->signup_at_ms;
    for (size_t i = 0; i < c->n_numeric_attributes; i++) {
        const Churn__V1__Customer__NumericAttributesEntry *e = c->numeric_attributes[i];
        if (churn_attr_name_check(e->key, "numeric_attributes", reason, rlen))
            return CHURN_EINVAL;
        if (!isfinite(e->value)) {
            snprintf(reason, rlen, "numeric_attributes[%.64s]: not a finite number", e->key);
            return CHURN_EINVAL;
        }
        if (churn_customer_attrs_set_num(attrs, e->key, e->value) != CHURN_OK) {
            snprintf(reason, rlen,
                     "numeric_attributes[%.64s]: bad name or more than %d "
                     "attributes",
                     e->key, CHURN_ATTRS_MAX);
            return CHURN_EINVAL;
        }
    }
    for (size_t i = 0; i < c->n_categorical_attributes; i++) {
        const Churn__V1__Customer__CategoricalAttributesEntry *e = c->categorical_attributes[i];
        if (churn_attr_name_check(e->key, "categorical_attributes", reason, rlen))
            return CHURN_EINVAL;
        if (churn_customer_attrs_set_cat(attrs, e->key, e->value) != CHURN_OK) {
            snprintf(reason, rlen,
                     "categorical_attributes[%.64s]: bad name or value, or more "
                     "than %d attributes",
                     e->key, CHURN_ATTRS_MAX);
            return CHURN_EINVAL;
        }
    }
    return CHURN_OK;
}

static enum churn_err
upsert_customers(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__UpsertCustomersRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    struct churn_arena *a = churn_rpc_arena(rpc);
    if (!svc->store)
        return churn_rpc_error(rpc, CHURN_EUNAVAIL, "the store is not open yet");
    if (req->n_customers == 0)
        return churn_rpc_error(rpc, CHURN_EINVAL, "customers: empty");
    if (req->n_customers > UPSERT_MAX_CUSTOMERS)
        return churn_rpc_error(rpc, CHURN_ETOOBIG, "customers: %zu is over the limit of %d",
                               req->n_customers, UPSERT_MAX_CUSTOMERS);
    bool merge = req->mode != CHURN__V1__UPSERT_MODE__UPSERT_MODE_REPLACE;
    size_t n = req->n_customers;
    Churn__V1__UpsertCustomersResponse *resp = churn_arena_alloc(a, sizeof(*resp));
    Churn__V1__UpsertCustomersResult *results = churn_arena_zalloc(a, n * sizeof(*results));
    Churn__V1__UpsertCustomersResult **list = churn_arena_alloc(a, n * sizeof(*list));
    struct churn_customer_upsert *items = churn_arena_alloc(a, n * sizeof(*items));
    struct churn_customer_attrs *attrs = churn_arena_alloc(a, n * sizeof(*attrs));
    struct churn_customer *existing = churn_arena_alloc(a, sizeof(*existing));
    if (!resp || !results || !list || !items || !attrs || !existing)
        return churn_rpc_error(rpc, CHURN_ETOOBIG, "request too large to process");
    churn__v1__upsert_customers_response__init(resp);
    size_t n_items = 0;
    for (size_t i = 0; i < n; i++) {
        const Churn__V1__Customer *c = req->customers[i];
        Churn__V1__UpsertCustomersResult *r = &results[i];
        churn__v1__upsert_customers_result__init(r);
        list[i] = r;
        r->customer_id = c->customer_id;
        char reason[256];
        enum churn_err err =
            churn_id_validate(c->customer_id, "customer_id", reason, sizeof(reason));
        bool found = false;
        if (!err) {
            churn_customer_attrs_init(&attrs[n_items]);
            enum churn_err gerr = churn_store_get_customer(svc->store, c->customer_id, existing);
            found = gerr == CHURN_OK;
            if (found && merge)
                attrs[n_items] = existing->attrs;
            err = attrs_from_proto(c, &attrs[n_items], merge, reason, sizeof(reason));
        }
        if (err) {
            r->status = CHURN__V1__UPSERT_STATUS__UPSERT_STATUS_REJECTED;
            r->error = churn_arena_alloc(a, sizeof(*r->error));
            if (r->error) {
                churn__v1__error_detail__init(r->error);
                r->error->code = churn_rpc_status_code(err);
                r->error->message = churn_arena_strdup(a, reason);
                size_t flen = strcspn(reason, ": [");
                r->error->field = churn_arena_strndup(a, reason, flen);
            }
            resp->rejected++;
            continue;
        }
        if (found && memcmp(&existing->attrs, &attrs[n_items], sizeof(attrs[n_items])) == 0) {
            r->status = CHURN__V1__UPSERT_STATUS__UPSERT_STATUS_UNCHANGED;
            resp->unchanged++;
            continue;
        }
        r->status = found ? CHURN__V1__UPSERT_STATUS__UPSERT_STATUS_UPDATED
                          : CHURN__V1__UPSERT_STATUS__UPSERT_STATUS_CREATED;
        if (found)
            resp->updated++;
        else
            resp->created++;
        items[n_items].customer_id = c->customer_id;
        items[n_items].attrs = &attrs[n_items];
        n_items++;
    }
    if (n_items) {
        enum churn_err err = churn_store_upsert_customers(svc->store, items, n_items);
        if (err)
            return churn_rpc_error(rpc, err, "upsert failed: %s", churn_store_last_error());
    }
    resp->n_results = n;
    resp->results = list;
    resp->committed_at_ms = churn_now_ms();
    *out = &resp->base;
    return CHURN_OK;
}

/* ---- GetCustomer ----------------------------------------------------------------------- */

static Churn__V1__DataSource
source_of(const char *name)
{
    static const struct {
        const char *name;
        Churn__V1__DataSource source;
    } map[] = {
        {"activity", CHURN__V1__DATA_SOURCE__DATA_SOURCE_ACTIVITY},
        {"transactions", CHURN__V1__DATA_SOURCE__DATA_SOURCE_ORDERS},
        {"reviews", CHURN__V1__DATA_SOURCE__DATA_SOURCE_REVIEWS},
        {"support", CHURN__V1__DATA_SOURCE__DATA_SOURCE_SUPPORT},
        {"chat", CHURN__V1__DATA_SOURCE__DATA_SOURCE_CHAT},
        {"account", CHURN__V1__DATA_SOURCE__DATA_SOURCE_PLAN},
        {"listings", CHURN__V1__DATA_SOURCE__DATA_SOURCE_LISTINGS},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].name, name) == 0)
            return map[i].source;
    return CHURN__V1__DATA_SOURCE__DATA_SOURCE_UNSPECIFIED;
}

static const Churn__V1__DataSource src_proto[CHURN_SOURCE_COUNT] = {
    [CHURN_SOURCE_ACTIVITY] = CHURN__V1__DATA_SOURCE__DATA_SOURCE_ACTIVITY,
    [CHURN_SOURCE_ORDERS] = CHURN__V1__DATA_SOURCE__DATA_SOURCE_ORDERS,
    [CHURN_SOURCE_SUPPORT] = CHURN__V1__DATA_SOURCE__DATA_SOURCE_SUPPORT,
    [CHURN_SOURCE_REVIEWS] = CHURN__V1__DATA_SOURCE__DATA_SOURCE_REVIEWS,
    [CHURN_SOURCE_CHAT] = CHURN__V1__DATA_SOURCE__DATA_SOURCE_CHAT,
    [CHURN_SOURCE_LISTINGS] = CHURN__V1__DATA_SOURCE__DATA_SOURCE_LISTINGS,
};

Churn__V1__Freshness *
churn__freshness_to_proto(const struct churn_freshness *t, int64_t as_of_ms, struct churn_arena *a)
{
    Churn__V1__Freshness *f = churn_arena_alloc(a, sizeof(*f));
    Churn__V1__SourceFreshness *sf = churn_arena_alloc(a, CHURN_SOURCE_COUNT * sizeof(*sf));
    Churn__V1__SourceFreshness **sfl = churn_arena_alloc(a, CHURN_SOURCE_COUNT * sizeof(*sfl));
    Churn__V1__DataSource *stale = churn_arena_alloc(a, CHURN_SOURCE_COUNT * sizeof(*stale));
    if (!f || !sf || !sfl || !stale)
        return NULL;
    churn__v1__freshness__init(f);
    f->last_event_at_ms = t->last_event_ms;
    for (int s = 0; s < CHURN_SOURCE_COUNT; s++) {
        churn__v1__source_freshness__init(&sf[s]);
        sf[s].source = src_proto[s];
        sf[s].last_event_at_ms = t->at[s];
        sf[s].stale = churn_features_source_stale(t, (enum churn_source)s, as_of_ms);
        if (sf[s].stale)
            stale[f->n_stale_sources++] = src_proto[s];
        sfl[s] = &sf[s];
    }
    f->n_sources = CHURN_SOURCE_COUNT;
    f->sources = sfl;
    f->stale_sources = stale;
    return f;
}

static Churn__V1__Customer *
customer_to_proto(const struct churn_customer *rec, struct churn_arena *a)
{
    Churn__V1__Customer *c = churn_arena_alloc(a, sizeof(*c));
    if (!c)
        return NULL;
    churn__v1__customer__init(c);
    const struct churn_customer_attrs *at = &rec->attrs;
    c->customer_id = (char *)rec->id;
    c->segment = (char *)at->segment;
    c->plan = (char *)at->plan;
    c->country = (char *)at->country;
    c->signup_at_ms = at->signup_ms;
    c->numeric_attributes = churn_arena_alloc(a, (at->n_num + 1) * sizeof(void *));
    c->categorical_attributes = churn_arena_alloc(a, (at->n_cat + 1) * sizeof(void *));
    if (!c->numeric_attributes || !c->categorical_attributes)
        return NULL;
    for (unsigned i = 0; i < at->n_num; i++) {
        Churn__V1__Customer__NumericAttributesEntry *e = churn_arena_alloc(a, sizeof(*e));
        if (!e)
            return NULL;
        churn__v1__customer__numeric_attributes_entry__init(e);
        e->key = (char *)at->num[i].name;
        e->value = at->num[i].value;
        c->numeric_attributes[c->n_numeric_attributes++] = e;
    }
    for (unsigned i = 0; i < at->n_cat; i++) {
        Churn__V1__Customer__CategoricalAttributesEntry *e = churn_arena_alloc(a, sizeof(*e));
        if (!e)
            return NULL;
        churn__v1__customer__categorical_attributes_entry__init(e);
        e->key = (char *)at->cat[i].name;
        e->value = (char *)at->cat[i].value;
        c->categorical_attributes[c->n_categorical_attributes++] = e;
    }
    return c;
}

static enum churn_err
get_customer(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__GetCustomerRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    struct churn_arena *a = churn_rpc_arena(rpc);
    if (!svc->store)
        return churn_rpc_error(rpc, CHURN_EUNAVAIL, "the store is not open yet");
    char reason[256];
    if (churn_id_validate(req->customer_id, "customer_id", reason, sizeof(reason)) != CHURN_OK)
        return churn_rpc_error(rpc, CHURN_EINVAL, "%s", reason);
    if (req->as_of_ms < 0)
        return churn_rpc_error(rpc, CHURN_EINVAL, "as_of_ms: negative");
    struct churn_customer *rec = churn_arena_alloc(a, sizeof(*rec));
    struct churn_feature_vector *vec = churn_arena_alloc(a, sizeof(*vec));
    if (!rec || !vec)
        return CHURN_ENOMEM;
    enum churn_err err = churn_store_get_customer(svc->store, req->customer_id, rec);
    if (err == CHURN_ENOTFOUND)
        return churn_rpc_error(rpc, err, "customer '%s' not found", req->customer_id);
    if (err)
        return churn_rpc_error(rpc, err, "%s", churn_store_last_error());
    int64_t as_of = req->as_of_ms ? req->as_of_ms : churn_now_ms();
    /* the history the store observes, as for scores (churn/features.h) */
    churn_features_extract_observed(rec, as_of, churn_store_history_from_ms(svc->store, as_of),
                                    vec);

    Churn__V1__GetCustomerResponse *resp = churn_arena_alloc(a, sizeof(*resp));
    Churn__V1__LifetimeTotals *tot = churn_arena_alloc(a, sizeof(*tot));
    Churn__V1__ChurnLabel *label = churn_arena_alloc(a, sizeof(*label));
    Churn__V1__FeatureValue *fv = churn_arena_alloc(a, CHURN_FEAT__COUNT * sizeof(*fv));
    Churn__V1__FeatureValue **fvl = churn_arena_alloc(a, CHURN_FEAT__COUNT * sizeof(*fvl));
    if (!resp || !tot || !label || !fv || !fvl)
        return CHURN_ENOMEM;
    churn__v1__get_customer_response__init(resp);
    resp->customer = customer_to_proto(rec, a);
    struct churn_freshness fresh;
    churn_features_freshness(rec, as_of, &fresh);
    resp->freshness = churn__freshness_to_proto(&fresh, as_of, a);
    if (!resp->customer || !resp->freshness)
        return CHURN_ENOMEM;
    churn__v1__lifetime_totals__init(tot);
    tot->events = (int64_t)rec->life.events;
    tot->logins = rec->life.logins;
    tot->session_minutes = rec->life.session_minutes;
    tot->orders_completed = rec->life.orders_completed;
    tot->orders_cancelled = rec->life.orders_cancelled;
    tot->orders_refunded = rec->life.orders_refunded;
    tot->revenue = rec->life.spend;
    tot->tickets_opened = rec->life.tickets_opened;
    tot->tickets_resolved = rec->life.tickets_resolved;
    tot->reviews = rec->life.reviews;
    tot->average_rating = rec->life.reviews ? (double)rec->life.rating_sum / rec->life.reviews : 0;
    tot->chat_escalations = rec->life.escalations;
    tot->plan_changes = rec->n_plan_changes;
    resp->totals = tot;
    churn__v1__churn_label__init(label);
    if (rec->churned_at_ms > 0) {
        label->churned = true;
        label->churned_at_ms = rec->churned_at_ms;
        label->reason = rec->churn_reason;
        label->source = CHURN__V1__CHURN_LABEL_SOURCE__CHURN_LABEL_SOURCE_CHURN_EVENT;
    }
    resp->label = label;
    resp->first_seen_at_ms = rec->first_seen_ms;
    resp->last_seen_at_ms = rec->last_seen_ms;
    resp->as_of_ms = as_of;
    const struct churn_feature_info *cat = churn_features_catalogue();
    for (int i = 0; i < CHURN_FEAT__COUNT; i++) {
        churn__v1__feature_value__init(&fv[i]);
        fv[i].name = (char *)cat[i].name;
        fv[i].label = (char *)cat[i].label;
        fv[i].unit = (char *)cat[i].unit;
        fv[i].window_ms = (int64_t)cat[i].window_days * CHURN_MS_PER_DAY;
        fv[i].source = source_of(cat[i].source);
        if (!isnan(vec->values[i])) {
            fv[i].value_case = CHURN__V1__FEATURE_VALUE__VALUE_NUMBER_VALUE;
            fv[i].number_value = vec->values[i];
        }
        fv[i].last_event_at_ms = vec->data_as_of_ms;
        fvl[i] = &fv[i];
    }
    resp->n_features = CHURN_FEAT__COUNT;
    resp->features = fvl;
    *out = &resp->base;
    return CHURN_OK;
}

/* ---- DeleteCustomer -------------------------------------------------------------------- */

static enum churn_err
delete_customer(struct churn_rpc *rpc, const ProtobufCMessage *msg, ProtobufCMessage **out)
{
    const Churn__V1__DeleteCustomerRequest *req = (const void *)msg;
    struct churn_services *svc = churn_rpc_service(rpc);
    if (!svc->store)
        return churn_rpc_error(rpc, CHURN_EUNAVAIL, "the store is not open yet");
    char reason[256];
    if (churn_id_validate(req->customer_id, "customer_id", reason, sizeof(reason)) != CHURN_OK)
        return churn_rpc_error(rpc, CHURN_EINVAL, "%s", reason);
    /* what is already on its way to the store (chat signals, conversation states) lands
     * first, so that the erase takes it too instead of it reappearing afterwards */
    if (svc->writer)
        churn_store_writer_flush(svc->writer);
    churn__chat_saver_flush(svc->chat_saver);
    struct churn_store_erase_report rep;
    enum churn_err err = churn_store_delete_customer(svc->store, req->customer_id, &rep);
    if (err == CHURN_ENOTFOUND)
        return churn_rpc_error(rpc, err, "customer '%s' not found", req->customer_id);
    if (err)
        return churn_rpc_error(rpc, err, "%s", churn_store_last_error());
    churn__forget_customer(svc, req->customer_id);
    churn_log(CHURN_LOG_INFO, "customer_erased", CHURN_LF_STR("customer_id", req->customer_id));
    Churn__V1__DeleteCustomerResponse *resp =
        churn_arena_alloc(churn_rpc_arena(rpc), sizeof(*resp));
    if (!resp)
        return CHURN_ENOMEM;
    churn__v1__delete_customer_response__init(resp);
    resp->customer_id = req->customer_id;
    resp->record_erased = rep.record;
    resp->event_ids_erased = (int64_t)rep.event_ids;
    resp->conversations_erased = (int64_t)rep.conversations;
    resp->alert_states_erased = rep.alert_states;
    resp->alerts_redacted = (int64_t)rep.alerts;
    resp->erased_at_ms = churn_now_ms();
    *out = &resp->base;
    return CHURN_OK;
}

const struct churn_method churn__ingest_methods[] = {
    {
        .name = "/churn.v1.IngestService/RecordEvents",
        .shape = CHURN_RPC_CLIENT_STREAM,
        .request = &churn__v1__record_events_request__descriptor,
        .response = &churn__v1__record_events_response__descriptor,
        .on_start = record_start,
        .on_message = record_message,
        .on_half_close = record_half_close,
        .on_done = record_done,
        .max_request_bytes = 1024 * 1024,
        .per_item_faults = true,
    },
    {
        .name = "/churn.v1.IngestService/UpsertCustomers",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__upsert_customers_request__descriptor,
        .response = &churn__v1__upsert_customers_response__descriptor,
        .unary = upsert_customers,
        .max_request_bytes = 4 * 1024 * 1024,
    },
    {
        .name = "/churn.v1.IngestService/GetCustomer",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__get_customer_request__descriptor,
        .response = &churn__v1__get_customer_response__descriptor,
        .unary = get_customer,
        .max_request_bytes = 4096,
    },
    {
        .name = "/churn.v1.IngestService/DeleteCustomer",
        .shape = CHURN_RPC_UNARY,
        .request = &churn__v1__delete_customer_request__descriptor,
        .response = &churn__v1__delete_customer_response__descriptor,
        .unary = delete_customer,
        .max_request_bytes = 4096,
    },
};
const size_t churn__n_ingest_methods =
    sizeof(churn__ingest_methods) / sizeof(churn__ingest_methods[0]);
