/*
 * health_state.c - the registry behind grpc.health.v1: a small fixed table of service
 * names and statuses, and the watchers of each, under one mutex.
 */
#include "churn/health.h"

#include <pthread.h>
#include <string.h>

#include "churn/alloc.h"

#define HEALTH_MAX_SERVICES 64
#define HEALTH_MAX_NAME     200
#define HEALTH_MAX_WATCHES  4096

struct health_entry {
    char name[HEALTH_MAX_NAME + 1];
    enum churn_health_status status;
};

struct health_watch {
    int id; /* 0: free slot */
    char service[HEALTH_MAX_NAME + 1];
    churn_health_watch_fn *fn;
    void *ctx;
};

struct churn_health {
    pthread_mutex_t mu;
    struct health_entry entries[HEALTH_MAX_SERVICES];
    int n_entries;
    struct health_watch *watches;
    int n_watches; /* slots in use at the end of the array */
    int next_id;
};

enum churn_err
churn_health_create(struct churn_health **out)
{
    struct churn_health *h = churn_calloc(1, sizeof(*h));
    if (!h)
        return CHURN_ENOMEM;
    h->watches = churn_calloc(HEALTH_MAX_WATCHES, sizeof(*h->watches));
    if (!h->watches) {
        churn_free(h);
        return CHURN_ENOMEM;
    }
    pthread_mutex_init(&h->mu, NULL);
    h->next_id = 1;
    h->n_entries = 1; /* "" */
    h->entries[0].status = CHURN_HEALTH_NOT_SERVING;
    *out = h;
    return CHURN_OK;
}

void
churn_health_destroy(struct churn_health *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->mu);
    churn_free(h->watches);
    churn_free(h);
}

static struct health_entry *
find_locked(struct churn_health *h, const char *service)
{
    for (int i = 0; i < h->n_entries; i++)
        if (strcmp(h->entries[i].name, service) == 0)
            return &h->entries[i];
    return NULL;
}

static void
notify_locked(struct churn_health *h, const char *service, enum churn_health_status status)
{
    for (int i = 0; i < h->n_watches; i++) {
        struct health_watch *w = &h->watches[i];
        if (w->id && strcmp(w->service, service) == 0)
            w->fn(w->ctx, status);
    }
}

enum churn_err
churn_health_set(struct churn_health *h, const char *service, enum churn_health_status status)
{
    if (strlen(service) > HEALTH_MAX_NAME)
        return CHURN_ETOOBIG;
    pthread_mutex_lock(&h->mu);
    struct health_entry *e = find_locked(h, service);
    if (!e) {
        if (h->n_entries == HEALTH_MAX_SERVICES) {
            pthread_mutex_unlock(&h->mu);
            return CHURN_EFULL;
        }
        e = &h->entries[h->n_entries++];
        memcpy(e->name, service, strlen(service) + 1);
        e->status = CHURN_HEALTH_SERVICE_UNKNOWN;
    }
    if (e->status != status) {
        e->status = status;
        notify_locked(h, service, status);
    }
    pthread_mutex_unlock(&h->mu);
    return CHURN_OK;
}

void
churn_health_set_all(struct churn_health *h, enum churn_health_status status)
{
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < h->n_entries; i++) {
        struct health_entry *e = &h->entries[i];
        if (e->status != status) {
            e->status = status;
            notify_locked(h, e->name, status);
        }
    }
    pthread_mutex_unlock(&h->mu);
}

enum churn_health_status
churn_health_get(struct churn_health *h, const char *service)
{
    pthread_mutex_lock(&h->mu);
    struct health_entry *e = find_locked(h, service);
    enum churn_health_status st = e ? e->status : CHURN_HEALTH_SERVICE_UNKNOWN;
    pthread_mutex_unlock(&h->mu);
    return st;
}

enum churn_err
churn_health_watch(struct churn_health *h, const char *service, churn_health_watch_fn *fn,
                   void *ctx, int *id)
{
    if (strlen(service) > HEALTH_MAX_NAME)
        return CHURN_ETOOBIG;
    pthread_mutex_lock(&h->mu);
    struct health_watch *slot = NULL;
    for (int i = 0; i < h->n_watches && !slot; i++)
        if (!h->watches[i].id)
            slot = &h->watches[i];
    if (!slot && h->n_watches < HEALTH_MAX_WATCHES)
        slot = &h->watches[h->n_watches++];
    if (!slot) {
        pthread_mutex_unlock(&h->mu);
        return CHURN_EFULL;
    }
    slot->id = h->next_id++;
    memcpy(slot->service, service, strlen(service) + 1);
    slot->fn = fn;
    slot->ctx = ctx;
    *id = slot->id;
    struct health_entry *e = find_locked(h, service);
    fn(ctx, e ? e->status : CHURN_HEALTH_SERVICE_UNKNOWN);
    pthread_mutex_unlock(&h->mu);
    return CHURN_OK;
}

void
churn_health_unwatch(struct churn_health *h, int id)
{
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < h->n_watches; i++) {
        if (h->watches[i].id == id) {
            h->watches[i].id = 0;
            break;
        }
    }
    while (h->n_watches > 0 && !h->watches[h->n_watches - 1].id)
        h->n_watches--;
    pthread_mutex_unlock(&h->mu);
}
