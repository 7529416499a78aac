/*
 * synth.c - a deterministic generator of a believable platform for demos, tests and
 * benchmarks: customers with segments, plans, countries, tenure and value; logins, sessions,
 * orders (some cancelled or refunded), support tickets, reviews and chat signals with weekly
 * and yearly seasonality; and churners whose engagement decays over the weeks before they
 * leave, while their tickets, bad reviews, chat dissatisfaction and downgrades rise, ending
 * in a plan cancellation and an explicit churn event. Not every story is that clear: about a
 * third of churners leave with little warning, and some loyal customers go through a slump
 * (fewer visits, a few complaints) and stay. Churn happens at a steady pace over the whole
 * window and goes on after "now": some customers alive at now are already fading and leave
 * within the next 90 days (their churn is not written), as on a real platform, so that a model
 * served at now has churners to foresee and every stretch of history has its share of churn.
 *
 * Output goes straight into a store (--store DIR, through churn_store_apply_events, batched)
 * or to JSON Lines (--jsonl FILE, "-" for stdout): one object per line, each customer's line
 * ({"type":"customer","customer_id":...,"segment":...,"plan":...,"country":...,
 * "signup_ms":...,"monthly_value":...}) followed by that customer's events, day by day
 * ({"type":"login"|"session"|"order"|"support_ticket"|"review"|"plan_change"|"churn"|
 * "chat_signal","event_id":...,"customer_id":...,"occurred_at_ms":..., kind fields}).
 *
 * Each customer draws from its own random stream (seed, customer index), so the output for a
 * customer does not depend on how many are generated: the same --seed, --now and --days give
 * byte-identical output.
 *
 *   synth --customers N [--days D] [--seed S] [--now MS] [--churn-rate P]
 *         (--store DIR | --jsonl FILE)
 *
 * --churn-rate P is the share of customers who churn inside the D days (default 0.2); the
 * customers who will churn in the 90 days after now come on top of it.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/clock.h"
#include "churn/event.h"
#include "churn/store.h"

#define MAX_EVENTS_PER_CUSTOMER 20000
#define STORE_BATCH             8192
#define ID_LEN                  64
#define FUTURE_CHURN_DAYS       90 /* churn goes on this long after now (not written) */

struct rng {
    uint64_t s[4];
};

static uint64_t
splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void
rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&x);
}

static uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t
next_u64(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static double
uniform(struct rng *r)
{
    return (double)(next_u64(r) >> 11) * 0x1.0p-53;
}

static int
poisson(struct rng *r, double lambda)
{
    if (lambda <= 0)
        return 0;
    if (lambda > 30) /* normal approximation, plenty for daily counts */
        return (int)fmax(0, round(lambda + sqrt(lambda) * sqrt(-2 * log(uniform(r) + 1e-300)) *
                                               cos(2 * M_PI * uniform(r))));
    double l = exp(-lambda), p = 1;
    int k = 0;
    do {
        k++;
        p *= uniform(r);
    } while (p > l);
    return k - 1;
}

struct plan {
    const char *name;
    double monthly;
};

static const struct plan plans[] = {
    {"free", 0}, {"basic", 9.99}, {"pro", 29}, {"business", 99}, {"enterprise", 499}};
static const char *const countries[] = {"US", "DE", "GB", "FR", "IN", "BR", "JP", "ES", "NL", "PL"};
static const char *const categories[] = {"billing", "delivery", "bug", "account", "quality"};
static const char *const reasons[] = {"price", "competitor", "quality", "support", "no_need"};

/* One generated customer's profile. */
struct profile {
    char id[24];
    const char *segment;
    int plan;
    const char *country;
    int64_t signup_ms;
    double logins_per_day;
    double orders_per_day;
    double aov;
    double tickets_per_day;
    bool churns;
    int64_t churn_ms;
    int decay_days;
    int64_t dip_from_day; /* a temporary slump of a loyal customer (holiday, busy season) */
    int dip_days;
};

struct out {
    FILE *jsonl;
    struct churn_store *store;
    struct churn_event *ev;
    struct churn_event_result *res;
    char (*eid)[ID_LEN];
    char (*cid)[ID_LEN];
    size_t n;
    uint64_t events, accepted, customers;
};

static int
flush(struct out *o, int64_t now)
{
    if (!o->store || o->n == 0)
        return 0;
    if (churn_store_apply_events(o->store, o->ev, o->n, now, o->res)) {
        fprintf(stderr, "synth: %s\n", churn_store_last_error());
        return -1;
    }
    for (size_t i = 0; i < o->n; i++) {
        if (o->res[i].status == CHURN_EVENT_ACCEPTED)
            o->accepted++;
        else if (o->res[i].status == CHURN_EVENT_REJECTED)
            fprintf(stderr, "synth: event %s rejected: %s\n", o->ev[i].event_id, o->res[i].reason);
    }
    o->n = 0;
    return 0;
}

static void
print_event_jsonl(FILE *f, const struct churn_event *e)
{
    fprintf(
        f,
        "{\"type\":\"%s\",\"event_id\":\"%s\",\"customer_id\":\"%s\",\"occurred_at_ms\":%" PRId64,
        churn_event_kind_name(e->kind), e->event_id, e->customer_id, e->occurred_at_ms);
    switch (e->kind) {
    case CHURN_EVENT_SESSION:
        fprintf(f, ",\"minutes\":%.1f", e->session.minutes);
        break;
    case CHURN_EVENT_ORDER:
        fprintf(f, ",\"order_id\":\"%s\",\"amount\":%.2f,\"currency\":\"USD\",\"status\":\"%s\"",
                e->event_id, e->order.amount,
                e->order.status == CHURN_ORDER_COMPLETED   ? "completed"
                : e->order.status == CHURN_ORDER_CANCELLED ? "cancelled"
                                                           : "refunded");
        break;
    case CHURN_EVENT_TICKET:
        fprintf(f, ",\"action\":\"%s\",\"category\":\"%s\"",
                e->ticket.action == CHURN_TICKET_OPENED ? "opened" : "resolved",
                e->ticket.category);
        break;
    case CHURN_EVENT_REVIEW:
        fprintf(f, ",\"rating\":%d", e->review.rating);
        break;
    case CHURN_EVENT_PLAN_CHANGE:
        fprintf(f, ",\"action\":\"%s\",\"plan\":\"%s\",\"monthly_value\":%.2f",
                e->plan.action == CHURN_PLAN_UPGRADE     ? "upgrade"
                : e->plan.action == CHURN_PLAN_DOWNGRADE ? "downgrade"
                                                         : "cancel",
                e->plan.plan, e->plan.monthly_value);
        break;
    case CHURN_EVENT_CHURN:
        fprintf(f, ",\"reason\":\"%s\"", e->churn.reason);
        break;
    case CHURN_EVENT_CHAT:
        fprintf(f, ",\"dissatisfaction\":%.3f,\"escalated\":%s,\"churn_intent\":%s",
                e->chat.dissatisfaction, e->chat.escalated ? "true" : "false",
                e->chat.churn_intent ? "true" : "false");
        break;
    default:
        break;
    }
    fputs("}\n", f);
}

/* Append one event (the out owns the id strings until the next flush). */
static int
emit(struct out *o, const struct profile *p, struct churn_event *e, uint64_t *seq, int64_t now)
{
    static char jsonl_eid[ID_LEN], jsonl_cid[ID_LEN];
    char *eid = o->jsonl ? jsonl_eid : o->eid[o->n];
    char *cid = o->jsonl ? jsonl_cid : o->cid[o->n];
    snprintf(eid, ID_LEN, "syn-%s-%" PRIu64, p->id, (*seq)++);
    snprintf(cid, ID_LEN, "%s", p->id);
    e->event_id = eid;
    e->customer_id = cid;
    o->events++;
    if (o->jsonl) {
        print_event_jsonl(o->jsonl, e);
        return 0;
    }
    o->ev[o->n++] = *e;
    return o->n == STORE_BATCH ? flush(o, now) : 0;
}

static void
make_profile(struct profile *p, struct rng *r, long index, int64_t now, int days, double churn_rate)
{
    snprintf(p->id, sizeof(p->id), "cust-%07ld", index % 10000000);
    double u = uniform(r);
    p->segment = u < 0.70 ? "consumer" : u < 0.95 ? "smb" : "enterprise";
    if (strcmp(p->segment, "consumer") == 0)
        p->plan = uniform(r) < 0.4 ? 0 : uniform(r) < 0.7 ? 1 : 2;
    else if (strcmp(p->segment, "smb") == 0)
        p->plan = uniform(r) < 0.6 ? 2 : 3;
    else
        p->plan = uniform(r) < 0.5 ? 3 : 4;
    p->country = countries[next_u64(r) % (sizeof(countries) / sizeof(countries[0]))];
    /* Tenure: up to three years before the window, some signing up inside it. */
    double tenure_days = uniform(r) < 0.15 ? uniform(r) * days : days + uniform(r) * 3 * 365;
    p->signup_ms = now - (int64_t)(tenure_days * CHURN_MS_PER_DAY);
    double engagement = exp(0.6 * (uniform(r) - 0.5) * 2); /* lognormal-ish, 0.55..1.8 */
    p->logins_per_day = (0.3 + 0.35 * p->plan) * engagement;
    p->orders_per_day = (0.02 + 0.03 * p->plan) * engagement;
    p->aov = (15 + 40 * p->plan) * exp(0.3 * (uniform(r) - 0.5));
    p->tickets_per_day = 0.01 + 0.005 * p->plan;
    /* Churn at a steady pace over the window and the FUTURE_CHURN_DAYS after now, with
     * churn_rate the share churning inside the window. */
    double span = days + FUTURE_CHURN_DAYS;
    p->churns = uniform(r) < fmin(1, churn_rate * span / days);
    p->churn_ms = now + (int64_t)FUTURE_CHURN_DAYS * CHURN_MS_PER_DAY -
                  (int64_t)(uniform(r) * span * CHURN_MS_PER_DAY);
    if (p->churn_ms < p->signup_ms + 20 * CHURN_MS_PER_DAY)
        p->churns = false;
    /* fading churners drift away over one to four months, as subscribers do */
    p->decay_days = 30 + (int)(uniform(r) * 90);
    if (uniform(r) < 0.35)
        p->decay_days = 1 + (int)(uniform(r) * 5); /* leaves suddenly, little warning */
    p->dip_days = 0;
    if (uniform(r) < 0.3) {
        p->dip_days = 10 + (int)(uniform(r) * 35);
        p->dip_from_day = churn_day_of_ms(now) - (int64_t)(uniform(r) * days);
    }
}

/* Weekly and yearly seasonality of activity for @segment on @day. */
static double
season(const struct profile *p, int64_t day)
{
    int weekday = (int)((day + 4) % 7); /* 1970-01-01 was a Thursday; 0 = Sunday */
    bool weekend = weekday == 0 || weekday == 6;
    double week =
        strcmp(p->segment, "consumer") == 0 ? (weekend ? 1.25 : 0.95) : (weekend ? 0.45 : 1.15);
    double year = 1 + 0.15 * cos(2 * M_PI * (double)((day - 355) % 365) / 365.0); /* Dec peak */
    return week * year;
}

static int
generate(struct out *o, long index, uint64_t seed, int64_t now, int days, double churn_rate)
{
    struct rng r;
    struct profile p;
    uint64_t seq = 0;
    rng_seed(&r, seed, (uint64_t)index);
    make_profile(&p, &r, index, now, days, churn_rate);

    struct churn_customer_attrs a;
    churn_customer_attrs_init(&a);
    snprintf(a.segment, sizeof(a.segment), "%s", p.segment);
    snprintf(a.plan, sizeof(a.plan), "%s", plans[p.plan].name);
    snprintf(a.country, sizeof(a.country), "%s", p.country);
    a.signup_ms = p.signup_ms;
    a.monthly_value = plans[p.plan].monthly;
    o->customers++;
    if (o->jsonl) {
        fprintf(o->jsonl,
                "{\"type\":\"customer\",\"customer_id\":\"%s\",\"segment\":\"%s\",\"plan\":\"%s\","
                "\"country\":\"%s\",\"signup_ms\":%" PRId64 ",\"monthly_value\":%.2f}\n",
                p.id, a.segment, a.plan, a.country, a.signup_ms, a.monthly_value);
    } else {
        struct churn_customer_upsert u = {p.id, &a};
        if (churn_store_upsert_customers(o->store, &u, 1)) {
            fprintf(stderr, "synth: %s\n", churn_store_last_error());
            return -1;
        }
    }

    int64_t first_day = churn_day_of_ms(now) - days + 1;
    int64_t signup_day = churn_day_of_ms(p.signup_ms);
    /* Daily activity runs through yesterday (today is not over) or the churn day. */
    int64_t churn_day = churn_day_of_ms(p.churn_ms);
    int64_t end_day = p.churns ? churn_day : churn_day_of_ms(now) - 1;
    if (end_day > churn_day_of_ms(now) - 1)
        end_day = churn_day_of_ms(now) - 1;
    int open_tickets = 0, generated = 0;
    bool downgraded = false;
    for (int64_t day = first_day > signup_day ? first_day : signup_day; day <= end_day; day++) {
        /* Engagement decays over the decay window before churn; distress rises. */
        double to_churn = p.churns ? (double)(churn_day - day) : 1e9;
        double decay = to_churn < p.decay_days ? pow(to_churn / p.decay_days, 1.5) : 1.0;
        double distress = to_churn < p.decay_days ? 1 - to_churn / p.decay_days : 0;
        if (p.dip_days && day >= p.dip_from_day && day < p.dip_from_day + p.dip_days) {
            decay *= 0.3;
            distress = fmax(distress, 0.4);
        }
        double s = season(&p, day);
        int64_t base = day * CHURN_MS_PER_DAY;
        struct churn_event e;

        int n = poisson(&r, p.logins_per_day * s * (0.1 + 0.9 * decay));
        for (int i = 0; i < n && generated < MAX_EVENTS_PER_CUSTOMER; i++, generated += 2) {
            int64_t t = base + (int64_t)(uniform(&r) * (CHURN_MS_PER_DAY - 1));
            if (t > now)
                t = now - 1;
            e = (struct churn_event){.kind = CHURN_EVENT_LOGIN, .occurred_at_ms = t};
            if (emit(o, &p, &e, &seq, now))
                return -1;
            e = (struct churn_event){.kind = CHURN_EVENT_SESSION, .occurred_at_ms = t};
            e.session.minutes = round(fmin(600, 2 + 30 * uniform(&r) * (0.5 + decay)) * 10) / 10;
            if (emit(o, &p, &e, &seq, now))
                return -1;
        }
        n = poisson(&r, p.orders_per_day * s * (0.05 + 0.95 * decay));
        for (int i = 0; i < n && generated < MAX_EVENTS_PER_CUSTOMER; i++, generated++) {
            e = (struct churn_event){.kind = CHURN_EVENT_ORDER,
                                     .occurred_at_ms =
                                         base + (int64_t)(uniform(&r) * CHURN_MS_PER_DAY / 2)};
            if (e.occurred_at_ms > now)
                e.occurred_at_ms = now - 1;
            e.order.amount = round(p.aov * exp(0.5 * (uniform(&r) - 0.5)) * 100) / 100;
            double bad = 0.04 + 0.25 * distress;
            double u = uniform(&r);
            e.order.status = u < bad / 2 ? CHURN_ORDER_CANCELLED
                             : u < bad   ? CHURN_ORDER_REFUNDED
                                         : CHURN_ORDER_COMPLETED;
            if (emit(o, &p, &e, &seq, now))
                return -1;
        }
        n = poisson(&r, p.tickets_per_day * (1 + 6 * distress));
        for (int i = 0; i < n; i++, generated++) {
            e = (struct churn_event){.kind = CHURN_EVENT_TICKET, .occurred_at_ms = base + 1000};
            e.ticket.action = CHURN_TICKET_OPENED;
            e.ticket.category = categories[next_u64(&r) % 5];
            open_tickets++;
            if (emit(o, &p, &e, &seq, now))
                return -1;
        }
        if (open_tickets > 0 && uniform(&r) < 0.3 * (1 - distress)) {
            e = (struct churn_event){.kind = CHURN_EVENT_TICKET, .occurred_at_ms = base + 2000};
            e.ticket.action = CHURN_TICKET_RESOLVED;
            e.ticket.category = categories[0];
            open_tickets--;
            if (emit(o, &p, &e, &seq, now))
                return -1;
        }
        if (uniform(&r) < 0.01 + 0.02 * distress) {
            e = (struct churn_event){.kind = CHURN_EVENT_REVIEW, .occurred_at_ms = base + 3000};
            double mean = 4.3 - 2.5 * distress;
            int rating = (int)lround(mean + (uniform(&r) - 0.5) * 2.5);
            e.review.rating = rating < 1 ? 1 : rating > 5 ? 5 : rating;
            e.review.sentiment = NAN;
            if (emit(o, &p, &e, &seq, now))
                return -1;
        }
        if (uniform(&r) < 0.004 + 0.06 * distress) {
            e = (struct churn_event){.kind = CHURN_EVENT_CHAT, .occurred_at_ms = base + 4000};
            e.chat.dissatisfaction =
                fmin(1, 0.1 + 0.8 * distress * uniform(&r) + 0.1 * uniform(&r));
            e.chat.escalated = e.chat.dissatisfaction > 0.7;
            e.chat.churn_intent = distress > 0.6 && uniform(&r) < 0.4;
            if (emit(o, &p, &e, &seq, now))
                return -1;
        }
        if (p.churns && !downgraded && p.plan > 1 && distress > 0.5 && uniform(&r) < 0.05) {
            downgraded = true;
            e = (struct churn_event){.kind = CHURN_EVENT_PLAN_CHANGE,
                                     .occurred_at_ms = base + 5000};
            e.plan.action = CHURN_PLAN_DOWNGRADE;
            e.plan.plan = plans[p.plan - 1].name;
            e.plan.monthly_value = plans[p.plan - 1].monthly;
            if (emit(o, &p, &e, &seq, now))
                return -1;
        }
    }
    if (p.churns && p.churn_ms + 1 < now) { /* a churn after now has not happened yet */
        struct churn_event e = {.kind = CHURN_EVENT_PLAN_CHANGE, .occurred_at_ms = p.churn_ms};
        e.plan.action = CHURN_PLAN_CANCEL;
        e.plan.plan = plans[0].name;
        e.plan.monthly_value = 0;
        if (emit(o, &p, &e, &seq, now))
            return -1;
        e = (struct churn_event){.kind = CHURN_EVENT_CHURN, .occurred_at_ms = p.churn_ms + 1};
        e.churn.reason = reasons[next_u64(&r) % 5];
        if (emit(o, &p, &e, &seq, now))
            return -1;
    }
    return 0;
}

static int
parse_num(const char *s, const char *name, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !(v >= lo && v <= hi)) {
        fprintf(stderr, "synth: %s must be a number in [%g, %g]\n", name, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int
main(int argc, char **argv)
{
    double customers = 1000, days = 180, seed = 1, churn_rate = 0.2, now_d = 0;
    const char *store_dir = NULL, *jsonl = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "synth: %s needs a value\n", a);
            return 2;
        }
        i++;
        int bad = 0;
        if (strcmp(a, "--customers") == 0)
            bad = parse_num(v, a, 1, 10000000, &customers);
        else if (strcmp(a, "--days") == 0)
            bad = parse_num(v, a, 1, CHURN_HORIZON_DAYS_MAX, &days);
        else if (strcmp(a, "--seed") == 0)
            bad = parse_num(v, a, 0, 9007199254740991.0, &seed);
        else if (strcmp(a, "--churn-rate") == 0)
            bad = parse_num(v, a, 0, 1, &churn_rate);
        else if (strcmp(a, "--now") == 0)
            bad = parse_num(v, a, 1, 9007199254740991.0, &now_d);
        else if (strcmp(a, "--store") == 0)
            store_dir = v;
        else if (strcmp(a, "--jsonl") == 0)
            jsonl = v;
        else {
            fprintf(stderr, "synth: unknown option %s\n", a);
            return 2;
        }
        if (bad)
            return 2;
    }
    if (!store_dir == !jsonl) {
        fprintf(stderr, "synth: give exactly one of --store DIR or --jsonl FILE\n");
        return 2;
    }
    /* Default now: the start of the current UTC day, so a day's runs are identical. */
    int64_t now =
        now_d > 0 ? (int64_t)now_d : (int64_t)churn_day_of_ms(churn_now_ms()) * CHURN_MS_PER_DAY;

    struct out o = {0};
    struct churn_store_options so;
    if (jsonl) {
        o.jsonl = strcmp(jsonl, "-") == 0 ? stdout : fopen(jsonl, "w");
        if (!o.jsonl) {
            fprintf(stderr, "synth: %s: %s\n", jsonl, strerror(errno));
            return 1;
        }
    } else {
        churn_store_options_init(&so);
        so.horizon_days = (unsigned)days;
        if (churn_store_open(store_dir, &so, &o.store)) {
            fprintf(stderr, "synth: %s\n", churn_store_last_error());
            return 1;
        }
        o.ev = calloc(STORE_BATCH, sizeof(*o.ev));
        o.res = calloc(STORE_BATCH, sizeof(*o.res));
        o.eid = calloc(STORE_BATCH, ID_LEN);
        o.cid = calloc(STORE_BATCH, ID_LEN);
        if (!o.ev || !o.res || !o.eid || !o.cid) {
            fprintf(stderr, "synth: out of memory\n");
            return 1;
        }
    }
    int rc = 0;
    for (long i = 0; i < (long)customers && rc == 0; i++)
        rc = generate(&o, i, (uint64_t)seed, now, (int)days, churn_rate);
    if (rc == 0)
        rc = flush(&o, now);
    fprintf(stderr, "synth: %" PRIu64 " customers, %" PRIu64 " events%s\n", o.customers, o.events,
            o.store ? " written to the store" : "");
    if (o.jsonl && o.jsonl != stdout && fclose(o.jsonl) != 0)
        rc = -1;
    churn_store_close(o.store);
    free(o.ev);
    free(o.res);
    free(o.eid);
    free(o.cid);
    return rc ? 1 : 0;
}
