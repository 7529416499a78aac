/*
 * store_bench.c - measures the feature store and prints one JSON object: durable ingestion
 * through the group-commit writer (many producer threads, events/s), one event per commit for
 * comparison, the store size per customer, and the serving read path (one reader lookup plus
 * feature extraction for a random customer, ns per customer). The data are synthetic but
 * realistic in shape: every customer gets a history of logins, sessions, orders, tickets and
 * reviews spread over the 180-day horizon, streamed interleaved across customers as a live
 * platform would send them.
 *
 *   store-bench [--dir DIR] [--customers N] [--events-per-customer E] [--batch B]
 *               [--producers P] [--single K] [--reads R] [--keep]
 */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "churn/clock.h"
#include "churn/features.h"
#include "churn/store.h"

#define SLOTS  32 /* batches in flight per producer */
#define ID_LEN 32

struct opts {
    const char *dir;
    long customers;
    long events_per_customer;
    long batch;
    long producers;
    long single;
    long reads;
    int keep;
};

struct producer;

struct slot {
    struct producer *owner;
    struct churn_event *ev;
    struct churn_event_result *res;
    char (*cid)[ID_LEN];
    char (*eid)[ID_LEN];
    atomic_int busy;
};

struct producer {
    struct churn_store_writer *w;
    const struct opts *o;
    long first, last; /* customers [first, last) */
    int64_t now;
    struct slot slots[SLOTS];
    pthread_mutex_t lock;
    pthread_cond_t freed;
    atomic_long accepted, rejected, failed;
};

static void
on_done(void *user, enum churn_err err, const struct churn_event_result *res, size_t n)
{
    struct slot *s = user;
    struct producer *pr = s->owner;
    long acc = 0, rej = 0;
    for (size_t i = 0; i < n && !err; i++) {
        acc += res[i].status == CHURN_EVENT_ACCEPTED;
        rej += res[i].status == CHURN_EVENT_REJECTED;
    }
    atomic_fetch_add(&pr->accepted, acc);
    atomic_fetch_add(&pr->rejected, rej);
    if (err)
        atomic_fetch_add(&pr->failed, (long)n);
    pthread_mutex_lock(&pr->lock);
    atomic_store(&s->busy, 0);
    pthread_cond_signal(&pr->freed);
    pthread_mutex_unlock(&pr->lock);
}

/* The j-th event of customer c: a realistic mix spread over the horizon, oldest first. */
static void
make_event(struct churn_event *e, char *cid, char *eid, long c, long j, long total, int64_t now)
{
    snprintf(cid, ID_LEN, "cust-%08ld", c);
    snprintf(eid, ID_LEN, "e-%ld", j);
    memset(e, 0, sizeof(*e));
    e->customer_id = cid;
    e->event_id = eid;
    int64_t span = 179LL * CHURN_MS_PER_DAY;
    e->occurred_at_ms = now - span + span * j / (total ? total : 1) + (c * 7919) % 3600000;
    if (e->occurred_at_ms > now)
        e->occurred_at_ms = now;
    long k = (j + c) % 20;
    if (k < 3) {
        e->kind = CHURN_EVENT_ORDER;
        e->order.amount = 5 + (double)((c * 31 + j * 17) % 20000) / 100.0;
        e->order.status = k == 0 && j % 7 == 0 ? CHURN_ORDER_REFUNDED : CHURN_ORDER_COMPLETED;
    } else if (k < 6) {
        e->kind = CHURN_EVENT_SESSION;
        e->session.minutes = (double)((c + j) % 90);
    } else if (k == 6) {
        e->kind = CHURN_EVENT_TICKET;
        e->ticket.action = j % 2 ? CHURN_TICKET_RESOLVED : CHURN_TICKET_OPENED;
    } else if (k == 7) {
        e->kind = CHURN_EVENT_REVIEW;
        e->review.rating = 1 + (int)((c + j) % 5);
        e->review.sentiment = NAN;
    } else {
        e->kind = CHURN_EVENT_LOGIN;
    }
}

static void *
produce(void *arg)
{
    struct producer *p = arg;
    const struct opts *o = p->o;
    long E = o->events_per_customer, B = o->batch;
    long c = p->first, j = 0;

    while (j < E) {
        /* Find a free slot. */
        struct slot *s = NULL;
        pthread_mutex_lock(&p->lock);
        for (;;) {
            for (int i = 0; i < SLOTS && !s; i++) {
                if (!atomic_load(&p->slots[i].busy))
                    s = &p->slots[i];
            }
            if (s)
                break;
            pthread_cond_wait(&p->freed, &p->lock);
        }
        atomic_store(&s->busy, 1);
        pthread_mutex_unlock(&p->lock);

        long n = 0;
        while (n < B && j < E) {
            make_event(&s->ev[n], s->cid[n], s->eid[n], c, j, E, p->now);
            n++;
            if (++c == p->last) {
                c = p->first;
                j++;
            }
        }
        enum churn_err err;
        while ((err = churn_store_writer_submit(p->w, s->ev, (size_t)n, s->res, on_done, s)) ==
               CHURN_EAGAIN)
            usleep(50);
        if (err) {
            fprintf(stderr, "submit: %s\n", churn_store_last_error());
            atomic_store(&s->busy, 0);
            return (void *)1;
        }
    }
    /* Wait for every slot to come back. */
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < SLOTS; i++) {
        while (atomic_load(&p->slots[i].busy))
            pthread_cond_wait(&p->freed, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static long
arg_long(const char *s, const char *name)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0) {
        fprintf(stderr, "store-bench: %s needs a non-negative integer\n", name);
        exit(2);
    }
    return v;
}

int
main(int argc, char **argv)
{
    struct opts o = {NULL, 100000, 20, 256, 4, 300, 1000000, 0};
    char tmpl[] = "/tmp/churn-store-bench-XXXXXX";

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0) {
            o.keep = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "store-bench: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--dir") == 0)
            o.dir = v;
        else if (strcmp(a, "--customers") == 0)
            o.customers = arg_long(v, a);
        else if (strcmp(a, "--events-per-customer") == 0)
            o.events_per_customer = arg_long(v, a);
        else if (strcmp(a, "--batch") == 0)
            o.batch = arg_long(v, a);
        else if (strcmp(a, "--producers") == 0)
            o.producers = arg_long(v, a);
        else if (strcmp(a, "--single") == 0)
            o.single = arg_long(v, a);
        else if (strcmp(a, "--reads") == 0)
            o.reads = arg_long(v, a);
        else {
            fprintf(stderr, "store-bench: unknown option %s\n", a);
            return 2;
        }
    }
    if (o.customers < 1 || o.batch < 1 || o.producers < 1 || o.producers > 64 ||
        o.customers < o.producers) {
        fprintf(stderr, "store-bench: need customers >= producers >= 1, batch >= 1\n");
        return 2;
    }
    if (!o.dir) {
        if (!mkdtemp(tmpl)) {
            perror("mkdtemp");
            return 1;
        }
        o.dir = tmpl;
    }

    struct churn_store *st;
    struct churn_store_options so;
    churn_store_options_init(&so);
    so.map_size = (size_t)1 << 30;
    if (churn_store_open(o.dir, &so, &st)) {
        fprintf(stderr, "store-bench: %s\n", churn_store_last_error());
        return 1;
    }
    int64_t now = churn_now_ms();

    /* 1. Durable ingestion through the group-commit writer. */
    struct churn_store_writer *w;
    if (churn_store_writer_start(st, NULL, &w)) {
        fprintf(stderr, "store-bench: %s\n", churn_store_last_error());
        return 1;
    }
    struct producer *prod = calloc((size_t)o.producers, sizeof(*prod));
    pthread_t *th = calloc((size_t)o.producers, sizeof(*th));
    for (long i = 0; i < o.producers; i++) {
        struct producer *p = &prod[i];
        p->w = w;
        p->o = &o;
        p->first = o.customers * i / o.producers;
        p->last = o.customers * (i + 1) / o.producers;
        p->now = now;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->freed, NULL);
        for (int k = 0; k < SLOTS; k++) {
            struct slot *s = &p->slots[k];
            s->ev = calloc((size_t)o.batch, sizeof(*s->ev));
            s->res = calloc((size_t)o.batch, sizeof(*s->res));
            s->owner = p;
            s->cid = calloc((size_t)o.batch, ID_LEN);
            s->eid = calloc((size_t)o.batch, ID_LEN);
        }
    }
    int64_t t0 = churn_mono_ns();
    for (long i = 0; i < o.producers; i++)
        pthread_create(&th[i], NULL, produce, &prod[i]);
    for (long i = 0; i < o.producers; i++)
        pthread_join(th[i], NULL);
    int64_t t1 = churn_mono_ns();
    uint64_t groups = churn_store_writer_groups(w);
    churn_store_writer_stop(w);
    long accepted = 0, rejected = 0, failed = 0;
    for (long i = 0; i < o.producers; i++) {
        accepted += atomic_load(&prod[i].accepted);
        rejected += atomic_load(&prod[i].rejected);
        failed += atomic_load(&prod[i].failed);
    }
    double ingest_s = (double)(t1 - t0) / 1e9;

    /* 2. One event per durable commit. */
    int64_t t2 = churn_mono_ns();
    for (long i = 0; i < o.single; i++) {
        struct churn_event e;
        struct churn_event_result r;
        char cid[ID_LEN], eid[ID_LEN];
        make_event(&e, cid, eid, i % o.customers, o.events_per_customer + i, 1, now);
        e.occurred_at_ms = now;
        if (churn_store_apply_events(st, &e, 1, now, &r)) {
            fprintf(stderr, "store-bench: %s\n", churn_store_last_error());
            return 1;
        }
    }
    int64_t t3 = churn_mono_ns();
    double single_s = (double)(t3 - t2) / 1e9;

    struct churn_store_stats stats;
    churn_store_stats(st, &stats);

    /* 3. Serving read path: reader lookup + features for a random customer. */
    struct churn_store_reader *r;
    struct churn_customer *rec = malloc(sizeof(*rec));
    struct churn_feature_vector fv;
    churn_store_reader_open(st, &r);
    uint64_t x = 88172645463325252ULL;
    long found = 0;
    double sink = 0;
    char cid[ID_LEN];
    int64_t t4 = churn_mono_ns();
    for (long i = 0; i < o.reads; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        snprintf(cid, sizeof(cid), "cust-%08ld", (long)(x % (uint64_t)o.customers));
        if (churn_store_reader_get_customer(r, cid, rec) == CHURN_OK) {
            found++;
            churn_features_extract(rec, now, &fv);
            sink += fv.values[CHURN_FEAT_LOGINS_30D];
        }
    }
    int64_t t5 = churn_mono_ns();
    /* The read alone, and the extraction alone (on the last record), to split the cost. */
    int64_t t6 = churn_mono_ns();
    for (long i = 0; i < o.reads; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        snprintf(cid, sizeof(cid), "cust-%08ld", (long)(x % (uint64_t)o.customers));
        churn_store_reader_get_customer(r, cid, rec);
    }
    int64_t t7 = churn_mono_ns();
    long extract_n = o.reads;
    for (long i = 0; i < extract_n; i++) {
        churn_features_extract(rec, now + i, &fv);
        sink += fv.values[CHURN_FEAT_LOGINS_30D];
    }
    int64_t t8 = churn_mono_ns();
    int64_t t9 = churn_mono_ns();
    for (long i = 0; i < o.reads; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        snprintf(cid, sizeof(cid), "cust-%08ld", (long)(x % (uint64_t)o.customers));
    }
    int64_t t10 = churn_mono_ns();
    churn_store_reader_close(r);

    double reads = o.reads ? (double)o.reads : 1;
    printf("{\n");
    printf("  \"customers\": %ld,\n  \"events_per_customer\": %ld,\n", o.customers,
           o.events_per_customer);
    printf("  \"group_commit\": {\"producers\": %ld, \"batch\": %ld, \"events\": %ld, "
           "\"accepted\": %ld, \"rejected\": %ld, \"failed\": %ld, \"transactions\": %" PRIu64
           ", \"seconds\": %.3f, \"events_per_s\": %.0f},\n",
           o.producers, o.batch, accepted + rejected + failed, accepted, rejected, failed, groups,
           ingest_s, (double)(accepted + rejected) / ingest_s);
    printf("  \"one_event_per_commit\": {\"events\": %ld, \"seconds\": %.3f, \"events_per_s\": "
           "%.0f},\n",
           o.single, single_s, (double)o.single / (single_s > 0 ? single_s : 1));
    printf("  \"store\": {\"customers\": %zu, \"event_ids\": %zu, \"file_bytes\": %zu, "
           "\"customers_db_bytes\": %zu, \"event_ids_db_bytes\": %zu, "
           "\"bytes_per_customer\": %.0f, \"record_bytes_per_customer\": %.0f},\n",
           stats.customers, stats.event_ids, stats.used_bytes, stats.customers_bytes,
           stats.event_ids_bytes, (double)stats.used_bytes / (double)stats.customers,
           (double)stats.customers_bytes / (double)stats.customers);
    double id_ns = (double)(t10 - t9) / reads;
    printf("  \"read\": {\"reads\": %ld, \"found\": %ld, "
           "\"read_and_features_ns\": %.0f, \"read_ns\": %.0f, \"features_ns\": %.0f, "
           "\"id_formatting_ns\": %.0f},\n",
           o.reads, found, (double)(t5 - t4) / reads - id_ns, (double)(t7 - t6) / reads - id_ns,
           (double)(t8 - t7) / (double)(extract_n ? extract_n : 1), id_ns);
    printf("  \"sink\": %.0f\n}\n", sink);

    for (long i = 0; i < o.producers; i++) {
        for (int k = 0; k < SLOTS; k++) {
            free(prod[i].slots[k].ev);
            free(prod[i].slots[k].res);
            free(prod[i].slots[k].cid);
            free(prod[i].slots[k].eid);
        }
        pthread_cond_destroy(&prod[i].freed);
        pthread_mutex_destroy(&prod[i].lock);
    }
    free(prod);
    free(th);
    free(rec);
    churn_store_close(st);
    if (!o.keep && o.dir == tmpl)
        nftw(tmpl, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return failed ? 1 : 0;
}
