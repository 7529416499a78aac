/*
 * record.c - the customer record: its versioned binary encoding (little-endian, bounds-checked,
 * strict) and the in-memory application of one event to it (lifetime totals, the day bucket,
 * plan history, open tickets). The decoder reads the current version 2 and the previous
 * version 1 (before chat aggregates, listings and plan history existed); the encoder always
 * writes the current one, so a record is upgraded the first time it is written again. The
 * byte layouts are documented in docs/STORAGE.md.
 */
#include "store_internal.h"

#include <endian.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "churn/clock.h"

/* Day-bucket field presence bits: a day stores only the fields that are non-zero. */
enum {
    F_LOGINS,
    F_SESSIONS,
    F_SESSION_MINUTES,
    F_ORDERS_COMPLETED,
    F_ORDERS_CANCELLED,
    F_ORDERS_REFUNDED,
    F_SPEND,
    F_TICKETS_OPENED,
    F_TICKETS_RESOLVED,
    F_REVIEWS,
    F_RATING_SUM,
    F_REVIEWS_NEGATIVE,
    F_V1_COUNT, /* version 1 knew the fields above */
    F_CHAT_DISSATISFACTION = F_V1_COUNT,
    F_ESCALATIONS,
    F_CHURN_INTENTS,
    F_LISTINGS,
};

static void
day_init(struct churn_day *d, int32_t day)
{
    memset(d, 0, sizeof(*d));
    d->day = day;
    d->chat_dissatisfaction = NAN;
    d->listings = -1;
}

void
churn__record_init(struct churn_customer *rec, const char *customer_id)
{
    memset(rec, 0, offsetof(struct churn_customer, days));
    snprintf(rec->id, sizeof(rec->id), "%s", customer_id ? customer_id : "");
    churn_customer_attrs_init(&rec->attrs);
    rec->active_listings = -1;
    rec->plan_base_value = NAN;
    rec->n_days = 0;
}

/* ---- encoding ---------------------------------------------------------------------------- */

struct wr {
    unsigned char *p;
    size_t len;
    size_t cap;
};

static void
put(struct wr *w, const void *src, size_t n)
{
    if (w->len + n <= w->cap)
        memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void
put_u8(struct wr *w, unsigned v)
{
    unsigned char b = (unsigned char)v;
    put(w, &b, 1);
}

static void
put_u16(struct wr *w, unsigned v)
{
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(w, b, 2);
}

static void
put_u32(struct wr *w, uint32_t v)
{
    unsigned char b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, 4);
}

static void
put_u64(struct wr *w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, 8);
}

static void
put_f64(struct wr *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    put_u64(w, u);
}

static void
put_f32(struct wr *w, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    put_u32(w, u);
}

static void
put_str(struct wr *w, const char *s)
{
    size_t n = strnlen(s, 255);
    put_u8(w, (unsigned)n);
    put(w, s, n);
}

static unsigned
day_mask(const struct churn_day *d)
{
    unsigned m = 0;
    m |= (d->logins != 0) << F_LOGINS;
    m |= (d->sessions != 0) << F_SESSIONS;
    m |= (d->session_minutes != 0) << F_SESSION_MINUTES;
    m |= (d->orders_completed != 0) << F_ORDERS_COMPLETED;
    m |= (d->orders_cancelled != 0) << F_ORDERS_CANCELLED;
    m |= (d->orders_refunded != 0) << F_ORDERS_REFUNDED;
    m |= (d->spend != 0) << F_SPEND;
    m |= (d->tickets_opened != 0) << F_TICKETS_OPENED;
    m |= (d->tickets_resolved != 0) << F_TICKETS_RESOLVED;
    m |= (d->reviews != 0) << F_REVIEWS;
    m |= (d->rating_sum != 0) << F_RATING_SUM;
    m |= (d->reviews_negative != 0) << F_REVIEWS_NEGATIVE;
    m |= (!isnan(d->chat_dissatisfaction)) << F_CHAT_DISSATISFACTION;
    m |= (d->escalations != 0) << F_ESCALATIONS;
    m |= (d->churn_intents != 0) << F_CHURN_INTENTS;
    m |= (d->listings >= 0) << F_LISTINGS;
    return m;
}

size_t
churn__record_encode(const struct churn_customer *rec, unsigned char *out, size_t cap)
{
    struct wr w = {out, 0, cap};
    const struct churn_customer_attrs *a = &rec->attrs;
    const struct churn_lifetime *l = &rec->life;

    put_u8(&w, CHURN__RECORD_VERSION);
    put_u64(&w, (uint64_t)rec->first_seen_ms);
    put_u64(&w, (uint64_t)rec->last_seen_ms);
    put_u64(&w, (uint64_t)rec->last_active_ms);
    put_u64(&w, (uint64_t)rec->last_order_ms);
    put_u64(&w, (uint64_t)rec->churned_at_ms);
    put_u64(&w, (uint64_t)rec->updated_at_ms);
    put_str(&w, rec->churn_reason);

    put_str(&w, a->segment);
    put_str(&w, a->plan);
    put_str(&w, a->country);
    put_u64(&w, (uint64_t)a->signup_ms);
    put_f64(&w, a->monthly_value);
    put_u8(&w, a->n_num);
    for (unsigned i = 0; i < a->n_num; i++) {
        put_str(&w, a->num[i].name);
        put_f64(&w, a->num[i].value);
    }
    put_u8(&w, a->n_cat);
    for (unsigned i = 0; i < a->n_cat; i++) {
        put_str(&w, a->cat[i].name);
        put_str(&w, a->cat[i].value);
    }

    put_u32(&w, rec->open_tickets);
    put_u64(&w, l->events);
    put_u32(&w, l->logins);
    put_u32(&w, l->sessions);
    put_u32(&w, l->orders_completed);
    put_u32(&w, l->orders_cancelled);
    put_u32(&w, l->orders_refunded);
    put_u32(&w, l->tickets_opened);
    put_u32(&w, l->tickets_resolved);
    put_u32(&w, l->reviews);
    put_u32(&w, l->reviews_negative);
    put_u64(&w, l->rating_sum);
    put_f64(&w, l->session_minutes);
    put_f64(&w, l->spend);

    /* version 2 */
    put_u32(&w, l->escalations);
    put_u32(&w, l->churn_intents);
    put_u32(&w, (uint32_t)rec->active_listings);
    put_u64(&w, (uint64_t)rec->listings_at_ms);
    put_u8(&w, rec->n_plan_changes);
    for (unsigned i = 0; i < rec->n_plan_changes; i++) {
        put_u64(&w, (uint64_t)rec->plan_changes[i].at_ms);
        put_u8(&w, rec->plan_changes[i].action);
        put_f64(&w, rec->plan_changes[i].monthly_value);
        put_str(&w, rec->plan_changes[i].plan);
    }
    put_f64(&w, rec->plan_base_value);
    put_str(&w, rec->plan_base);

    put_u16(&w, rec->n_days);
    for (unsigned i = 0; i < rec->n_days; i++) {
        const struct churn_day *d = &rec->days[i];
        unsigned m = day_mask(d);
        put_u32(&w, (uint32_t)d->day);
        put_u16(&w, m);
        if (m & (1u << F_LOGINS))
            put_u16(&w, d->logins);
        if (m & (1u << F_SESSIONS))
            put_u16(&w, d->sessions);
        if (m & (1u << F_SESSION_MINUTES))
            put_f32(&w, d->session_minutes);
        if (m & (1u << F_ORDERS_COMPLETED))
            put_u16(&w, d->orders_completed);
        if (m & (1u << F_ORDERS_CANCELLED))
            put_u16(&w, d->orders_cancelled);
        if (m & (1u << F_ORDERS_REFUNDED))
            put_u16(&w, d->orders_refunded);
        if (m & (1u << F_SPEND))
            put_f64(&w, d->spend);
        if (m & (1u << F_TICKETS_OPENED))
            put_u16(&w, d->tickets_opened);
        if (m & (1u << F_TICKETS_RESOLVED))
            put_u16(&w, d->tickets_resolved);
        if (m & (1u << F_REVIEWS))
            put_u16(&w, d->reviews);
        if (m & (1u << F_RATING_SUM))
            put_u16(&w, d->rating_sum);
        if (m & (1u << F_REVIEWS_NEGATIVE))
            put_u16(&w, d->reviews_negative);
        if (m & (1u << F_CHAT_DISSATISFACTION))
            put_f32(&w, d->chat_dissatisfaction);
        if (m & (1u << F_ESCALATIONS))
            put_u16(&w, d->escalations);
        if (m & (1u << F_CHURN_INTENTS))
            put_u16(&w, d->churn_intents);
        if (m & (1u << F_LISTINGS))
            put_u32(&w, (uint32_t)d->listings);
    }
    return w.len;
}

/* ---- decoding ---------------------------------------------------------------------------- */

struct rd {
    const unsigned char *p;
    size_t len;
    size_t off;
    const char *what; /* first failure */
};

/* Bounds check; records the first failure and makes every later read a no-op. */
static inline __attribute__((always_inline)) bool
need(struct rd *r, size_t n, const char *what)
{
    if (__builtin_expect(r->what != NULL || r->len - r->off < n, 0)) {
        if (!r->what)
            r->what = what;
        return false;
    }
    return true;
}

static inline __attribute__((always_inline)) unsigned
get_u8(struct rd *r, const char *what)
{
    if (!need(r, 1, what))
        return 0;
    return r->p[r->off++];
}

static inline __attribute__((always_inline)) unsigned
get_u16(struct rd *r, const char *what)
{
    uint16_t v;
    if (!need(r, 2, what))
        return 0;
    memcpy(&v, r->p + r->off, 2);
    r->off += 2;
    return le16toh(v);
}

static inline __attribute__((always_inline)) uint32_t
get_u32(struct rd *r, const char *what)
{
    uint32_t v;
    if (!need(r, 4, what))
        return 0;
    memcpy(&v, r->p + r->off, 4);
    r->off += 4;
    return le32toh(v);
}

static inline __attribute__((always_inline)) uint64_t
get_u64(struct rd *r, const char *what)
{
    uint64_t v;
    if (!need(r, 8, what))
        return 0;
    memcpy(&v, r->p + r->off, 8);
    r->off += 8;
    return le64toh(v);
}

static inline __attribute__((always_inline)) double
get_f64(struct rd *r, const char *what)
{
    uint64_t u = get_u64(r, what);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

static inline __attribute__((always_inline)) float
get_f32(struct rd *r, const char *what)
{
    uint32_t u = get_u32(r, what);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

static void
get_str(struct rd *r, char *dst, size_t cap, const char *what)
{
    unsigned n = get_u8(r, what);
    dst[0] = '\0';
    if (n >= cap) {
        if (!r->what)
            r->what = what;
        return;
    }
    if (!need(r, n, what))
        return;
    memcpy(dst, r->p + r->off, n);
    dst[n] = '\0';
    r->off += n;
}

enum churn_err
churn__record_decode(const void *data, size_t len, const char *id, size_t id_len,
                     struct churn_customer *out)
{
    struct rd r = {data, len, 0, NULL};
    struct churn_customer_attrs *a = &out->attrs;
    struct churn_lifetime *l = &out->life;

    if (len < 1)
        return churn__store_fail(CHURN_ECORRUPT, "customer record %.*s: empty value", (int)id_len,
                                 id);
    unsigned version = r.p[0];
    r.off = 1;
    if (version < CHURN__RECORD_VERSION_MIN || version > CHURN__RECORD_VERSION)
        return churn__store_fail(
            CHURN_ECORRUPT, "customer record %.*s: format version %u, this build reads %d..%d",
            (int)id_len, id, version, CHURN__RECORD_VERSION_MIN, CHURN__RECORD_VERSION);
    if (id_len > CHURN_ID_MAX)
        return churn__store_fail(CHURN_ECORRUPT, "customer key longer than %d bytes", CHURN_ID_MAX);

    /* Zero the scalars only: attribute slots past n_num/n_cat are left as they were. */
    memset(&out->first_seen_ms, 0,
           offsetof(struct churn_customer, plan_changes) -
               offsetof(struct churn_customer, first_seen_ms));
    out->n_plan_changes = 0;
    out->plan_base_value = NAN;
    memcpy(out->id, id, id_len);
    out->id[id_len] = '\0';
    out->active_listings = -1;

    out->first_seen_ms = (int64_t)get_u64(&r, "first_seen");
    out->last_seen_ms = (int64_t)get_u64(&r, "last_seen");
    out->last_active_ms = (int64_t)get_u64(&r, "last_active");
    out->last_order_ms = (int64_t)get_u64(&r, "last_order");
    out->churned_at_ms = (int64_t)get_u64(&r, "churned_at");
    out->updated_at_ms = (int64_t)get_u64(&r, "updated_at");
    get_str(&r, out->churn_reason, sizeof(out->churn_reason), "churn_reason");

    get_str(&r, a->segment, sizeof(a->segment), "segment");
    get_str(&r, a->plan, sizeof(a->plan), "plan");
    get_str(&r, a->country, sizeof(a->country), "country");
    a->signup_ms = (int64_t)get_u64(&r, "signup");
    a->monthly_value = get_f64(&r, "monthly_value");
    a->n_num = get_u8(&r, "numeric attribute count");
    if (a->n_num > CHURN_ATTRS_MAX && !r.what)
        r.what = "numeric attribute count";
    for (unsigned i = 0; i < a->n_num && !r.what; i++) {
        get_str(&r, a->num[i].name, sizeof(a->num[i].name), "numeric attribute name");
        a->num[i].value = get_f64(&r, "numeric attribute value");
    }
    a->n_cat = get_u8(&r, "categorical attribute count");
    if (a->n_cat > CHURN_ATTRS_MAX && !r.what)
        r.what = "categorical attribute count";
    for (unsigned i = 0; i < a->n_cat && !r.what; i++) {
        get_str(&r, a->cat[i].name, sizeof(a->cat[i].name), "categorical attribute name");
        get_str(&r, a->cat[i].value, sizeof(a->cat[i].value), "categorical attribute value");
    }

    out->open_tickets = get_u32(&r, "open_tickets");
    l->events = get_u64(&r, "lifetime events");
    l->logins = get_u32(&r, "lifetime logins");
    l->sessions = get_u32(&r, "lifetime sessions");
    l->orders_completed = get_u32(&r, "lifetime orders");
    l->orders_cancelled = get_u32(&r, "lifetime orders");
    l->orders_refunded = get_u32(&r, "lifetime orders");
    l->tickets_opened = get_u32(&r, "lifetime tickets");
    l->tickets_resolved = get_u32(&r, "lifetime tickets");
    l->reviews = get_u32(&r, "lifetime reviews");
    l->reviews_negative = get_u32(&r, "lifetime reviews");
    l->rating_sum = get_u64(&r, "lifetime rating sum");
    l->session_minutes = get_f64(&r, "lifetime session minutes");
    l->spend = get_f64(&r, "lifetime spend");

    if (version >= 2) {
        l->escalations = get_u32(&r, "lifetime escalations");
        l->churn_intents = get_u32(&r, "lifetime churn intents");
        out->active_listings = (int32_t)get_u32(&r, "active_listings");
        out->listings_at_ms = (int64_t)get_u64(&r, "listings_at");
        out->n_plan_changes = get_u8(&r, "plan change count");
        if (out->n_plan_changes > CHURN_PLAN_HISTORY_MAX && !r.what)
            r.what = "plan change count";
        for (unsigned i = 0; i < out->n_plan_changes && !r.what; i++) {
            struct churn_plan_change *pc = &out->plan_changes[i];
            pc->at_ms = (int64_t)get_u64(&r, "plan change");
            pc->action = (enum churn_plan_action)get_u8(&r, "plan change");
            pc->monthly_value = get_f64(&r, "plan change");
            get_str(&r, pc->plan, sizeof(pc->plan), "plan change name");
            if ((pc->action < CHURN_PLAN_UPGRADE || pc->action > CHURN_PLAN_CANCEL) && !r.what)
                r.what = "plan change action";
        }
        out->plan_base_value = get_f64(&r, "plan base value");
        get_str(&r, out->plan_base, sizeof(out->plan_base), "plan base name");
    }

    unsigned valid_mask = version >= 2 ? 0xffffu : (1u << F_V1_COUNT) - 1;
    out->n_days = get_u16(&r, "day count");
    if (out->n_days > CHURN_DAYS_MAX && !r.what)
        r.what = "day count";
    for (unsigned i = 0; i < out->n_days && !r.what; i++) {
        struct churn_day *d = &out->days[i];
        day_init(d, (int32_t)get_u32(&r, "day"));
        unsigned m = get_u16(&r, "day mask");
        if ((m & ~valid_mask) && !r.what)
            r.what = "day mask";
        if (i > 0 && d->day <= out->days[i - 1].day && !r.what)
            r.what = "day order";
        if ((d->day < 0 || d->day > CHURN__DAY_MAX) && !r.what)
            r.what = "day number";
        if (m & (1u << F_LOGINS))
            d->logins = (uint16_t)get_u16(&r, "day logins");
        if (m & (1u << F_SESSIONS))
            d->sessions = (uint16_t)get_u16(&r, "day sessions");
        if (m & (1u << F_SESSION_MINUTES))
            d->session_minutes = get_f32(&r, "day session minutes");
        if (m & (1u << F_ORDERS_COMPLETED))
            d->orders_completed = (uint16_t)get_u16(&r, "day orders");
        if (m & (1u << F_ORDERS_CANCELLED))
            d->orders_cancelled = (uint16_t)get_u16(&r, "day orders");
        if (m & (1u << F_ORDERS_REFUNDED))
            d->orders_refunded = (uint16_t)get_u16(&r, "day orders");
        if (m & (1u << F_SPEND))
            d->spend = get_f64(&r, "day spend");
        if (m & (1u << F_TICKETS_OPENED))
            d->tickets_opened = (uint16_t)get_u16(&r, "day tickets");
        if (m & (1u << F_TICKETS_RESOLVED))
            d->tickets_resolved = (uint16_t)get_u16(&r, "day tickets");
        if (m & (1u << F_REVIEWS))
            d->reviews = (uint16_t)get_u16(&r, "day reviews");
        if (m & (1u << F_RATING_SUM))
            d->rating_sum = (uint16_t)get_u16(&r, "day reviews");
        if (m & (1u << F_REVIEWS_NEGATIVE))
            d->reviews_negative = (uint16_t)get_u16(&r, "day reviews");
        if (m & (1u << F_CHAT_DISSATISFACTION))
            d->chat_dissatisfaction = get_f32(&r, "day chat");
        if (m & (1u << F_ESCALATIONS))
            d->escalations = (uint16_t)get_u16(&r, "day chat");
        if (m & (1u << F_CHURN_INTENTS))
            d->churn_intents = (uint16_t)get_u16(&r, "day chat");
        if (m & (1u << F_LISTINGS))
            d->listings = (int32_t)get_u32(&r, "day listings");
    }
    if (!r.what && r.off != r.len)
        r.what = "trailing bytes";
    if (r.what) {
        out->n_days = 0;
        return churn__store_fail(
            CHURN_ECORRUPT, "customer record %.*s (version %u): bad or truncated %s at byte %zu",
            (int)id_len, id, version, r.what, r.off);
    }
    return CHURN_OK;
}

/* ---- applying events --------------------------------------------------------------------- */

static uint16_t
sat16(unsigned a, unsigned b)
{
    unsigned s = a + b;
    return (uint16_t)(s > 0xffff ? 0xffff : s);
}

static uint32_t
sat32(uint32_t a)
{
    return a == UINT32_MAX ? a : a + 1;
}

/* The bucket of @day, inserted in order if missing (the record has room: see prune). */
static struct churn_day *
bucket(struct churn_customer *rec, int32_t day)
{
    unsigned lo = 0, hi = rec->n_days;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (rec->days[mid].day < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < rec->n_days && rec->days[lo].day == day)
        return &rec->days[lo];
    if (rec->n_days == CHURN_DAYS_MAX) {
        /* Full: drop the oldest bucket (only reachable with a horizon change). */
        if (lo == 0)
            return NULL;
        memmove(&rec->days[0], &rec->days[1], (lo - 1) * sizeof(rec->days[0]));
        lo--;
    } else {
        memmove(&rec->days[lo + 1], &rec->days[lo], (rec->n_days - lo) * sizeof(rec->days[0]));
        rec->n_days++;
    }
    day_init(&rec->days[lo], day);
    return &rec->days[lo];
}

void
churn__record_prune(struct churn_customer *rec, int32_t min_day)
{
    unsigned k = 0;
    while (k < rec->n_days && rec->days[k].day < min_day)
        k++;
    if (k) {
        memmove(&rec->days[0], &rec->days[k], (rec->n_days - k) * sizeof(rec->days[0]));
        rec->n_days -= k;
    }
}

enum churn_err
churn__record_check_event(const struct churn_customer *rec, const struct churn_event *ev,
                          char *reason, size_t reason_len)
{
    if (ev->kind != CHURN_EVENT_CUSTOM)
        return CHURN_OK;
    for (unsigned i = 0; i < rec->attrs.n_num; i++) {
        if (strcmp(rec->attrs.num[i].name, ev->custom.name) == 0)
            return CHURN_OK;
    }
    if (rec->attrs.n_num < CHURN_ATTRS_MAX)
        return CHURN_OK;
    snprintf(reason, reason_len, "custom.name: the customer already has %d numeric attributes",
             CHURN_ATTRS_MAX);
    return CHURN_ETOOBIG;
}

static void
add_plan_change(struct churn_customer *rec, const struct churn_event *ev)
{
    unsigned n = rec->n_plan_changes;
    unsigned pos = n;
    if (n == 0) {
        /* The first change: remember what the plan was before it. */
        rec->plan_base_value = rec->attrs.monthly_value;
        snprintf(rec->plan_base, sizeof(rec->plan_base), "%s", rec->attrs.plan);
    }
    while (pos > 0 && rec->plan_changes[pos - 1].at_ms > ev->occurred_at_ms)
        pos--;
    if (n == CHURN_PLAN_HISTORY_MAX) {
        if (pos == 0)
            return; /* older than everything remembered */
        /* The oldest change is forgotten: the plan after it becomes the base. */
        rec->plan_base_value = rec->plan_changes[0].monthly_value;
        if (rec->plan_changes[0].plan[0])
            memcpy(rec->plan_base, rec->plan_changes[0].plan, sizeof(rec->plan_base));
        memmove(&rec->plan_changes[0], &rec->plan_changes[1],
                (pos - 1) * sizeof(rec->plan_changes[0]));
        pos--;
    } else {
        memmove(&rec->plan_changes[pos + 1], &rec->plan_changes[pos],
                (n - pos) * sizeof(rec->plan_changes[0]));
        rec->n_plan_changes++;
    }
    rec->plan_changes[pos] = (struct churn_plan_change){
        .at_ms = ev->occurred_at_ms,
        .action = ev->plan.action,
        .monthly_value = ev->plan.monthly_value,
    };
    snprintf(rec->plan_changes[pos].plan, sizeof(rec->plan_changes[pos].plan), "%s",
             ev->plan.plan ? ev->plan.plan : "");
    if (pos == rec->n_plan_changes - 1) {
        rec->attrs.monthly_value = ev->plan.monthly_value;
        if (ev->plan.plan && *ev->plan.plan)
            snprintf(rec->attrs.plan, sizeof(rec->attrs.plan), "%s", ev->plan.plan);
    }
}

void
churn__record_apply(struct churn_customer *rec, const struct churn_event *ev, int32_t min_day)
{
    int64_t t = ev->occurred_at_ms;
    int32_t day = churn_day_of_ms(t);
    struct churn_day *d = day >= min_day ? bucket(rec, day) : NULL;
    struct churn_lifetime *l = &rec->life;
    bool active = false;

    l->events++;
    if (!rec->first_seen_ms || t < rec->first_seen_ms)
        rec->first_seen_ms = t;
    if (t > rec->last_seen_ms)
        rec->last_seen_ms = t;

    switch (ev->kind) {
    case CHURN_EVENT_LOGIN:
        active = true;
        l->logins = sat32(l->logins);
        if (d)
            d->logins = sat16(d->logins, 1);
        break;
    case CHURN_EVENT_SESSION:
        active = true;
        l->sessions = sat32(l->sessions);
        l->session_minutes += ev->session.minutes;
        if (d) {
            d->sessions = sat16(d->sessions, 1);
            d->session_minutes += (float)ev->session.minutes;
        }
        break;
    case CHURN_EVENT_ORDER:
        active = true;
        switch (ev->order.status) {
        case CHURN_ORDER_COMPLETED:
            l->orders_completed = sat32(l->orders_completed);
            l->spend += ev->order.amount;
            if (t > rec->last_order_ms)
                rec->last_order_ms = t;
            if (d) {
                d->orders_completed = sat16(d->orders_completed, 1);
                d->spend += ev->order.amount;
            }
            break;
        case CHURN_ORDER_CANCELLED:
            l->orders_cancelled = sat32(l->orders_cancelled);
            if (d)
                d->orders_cancelled = sat16(d->orders_cancelled, 1);
            break;
        case CHURN_ORDER_REFUNDED:
            l->orders_refunded = sat32(l->orders_refunded);
            l->spend -= ev->order.amount;
            if (d) {
                d->orders_refunded = sat16(d->orders_refunded, 1);
                d->spend -= ev->order.amount;
            }
            break;
        default:
            break;
        }
        break;
    case CHURN_EVENT_LISTING:
        active = true;
        if (t >= rec->listings_at_ms) {
            rec->listings_at_ms = t;
            rec->active_listings = (int32_t)ev->listing.active_listings;
        }
        if (d)
            d->listings = (int32_t)ev->listing.active_listings;
        break;
    case CHURN_EVENT_TICKET:
        if (ev->ticket.action == CHURN_TICKET_OPENED) {
            l->tickets_opened = sat32(l->tickets_opened);
            rec->open_tickets = sat32(rec->open_tickets);
            if (d)
                d->tickets_opened = sat16(d->tickets_opened, 1);
        } else {
            l->tickets_resolved = sat32(l->tickets_resolved);
            if (rec->open_tickets)
                rec->open_tickets--;
            if (d)
                d->tickets_resolved = sat16(d->tickets_resolved, 1);
        }
        break;
    case CHURN_EVENT_REVIEW: {
        active = true;
        bool negative = ev->review.rating <= 2 ||
                        (!isnan(ev->review.sentiment) && ev->review.sentiment <= -0.5);
        l->reviews = sat32(l->reviews);
        l->rating_sum += (unsigned)ev->review.rating;
        if (negative)
            l->reviews_negative = sat32(l->reviews_negative);
        if (d && d->reviews < 0xffff && d->rating_sum <= 0xffff - 5) {
            d->reviews++;
            d->rating_sum = (uint16_t)(d->rating_sum + ev->review.rating);
            if (negative)
                d->reviews_negative++;
        }
        break;
    }
    case CHURN_EVENT_PLAN_CHANGE:
        add_plan_change(rec, ev);
        break;
    case CHURN_EVENT_CHURN:
        if (t >= rec->churned_at_ms) {
            rec->churned_at_ms = t;
            snprintf(rec->churn_reason, sizeof(rec->churn_reason), "%s",
                     ev->churn.reason ? ev->churn.reason : "");
        }
        break;
    case CHURN_EVENT_CUSTOM:
        churn_customer_attrs_set_num(&rec->attrs, ev->custom.name, ev->custom.value);
        break;
    case CHURN_EVENT_CHAT:
        if (ev->chat.escalated)
            l->escalations = sat32(l->escalations);
        if (ev->chat.churn_intent)
            l->churn_intents = sat32(l->churn_intents);
        if (d) {
            float v = (float)ev->chat.dissatisfaction;
            if (isnan(d->chat_dissatisfaction) || v > d->chat_dissatisfaction)
                d->chat_dissatisfaction = v;
            if (ev->chat.escalated)
                d->escalations = sat16(d->escalations, 1);
            if (ev->chat.churn_intent)
                d->churn_intents = sat16(d->churn_intents, 1);
        }
        break;
    default:
        break;
    }
    if (active && t > rec->last_active_ms)
        rec->last_active_ms = t;
}
