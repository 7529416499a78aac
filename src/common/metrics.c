/*
 * metrics.c - the metrics registry (churn/metrics.h): slots of per-thread shards written
 * without locks or shared atomics, the series and gRPC method tables that name the slots,
 * and the merge of every shard into the Prometheus text exposition at scrape time.
 */
#include "churn/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"

#define SLOTS      8192 /* per shard: methods x RPC_BLOCK + series slots */
#define MAX_SHARDS 64   /* threads with a private shard; later ones share one */

/* gRPC latency buckets (seconds): go-grpc-prometheus's, plus sub-millisecond ones */
static const double rpc_bounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                    0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                    0.5,     1,      2.5,     5,      10};
#define RPC_NB (sizeof(rpc_bounds) / sizeof(rpc_bounds[0]))

/* Slot offsets inside one method's block. */
enum {
    RPC_STARTED = 0,
    RPC_RECV = 1,
    RPC_SENT = 2,
    RPC_HANDLED = 3,                                     /* 17 codes */
    RPC_BUCKET = RPC_HANDLED + CHURN_METRICS_GRPC_CODES, /* RPC_NB + 1 buckets (+Inf) */
    RPC_SUM = RPC_BUCKET + RPC_NB + 1,                   /* seconds, as double bits */
    RPC_BLOCK = RPC_SUM + 1,
};

static const char *const grpc_code_names[CHURN_METRICS_GRPC_CODES] = {
    "OK",       "Canceled",        "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",   "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",      "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated",
};

struct shard {
    _Atomic uint64_t slot[SLOTS];
    pthread_t owner;
    bool shared; /* the overflow shard: written with atomic read-modify-write */
    struct shard *next;
};

struct series {
    char *name, *help, *labels;
    size_t first;    /* counter: one slot; histogram: n_bounds + 1 buckets, then the sum */
    size_t n_bounds; /* 0: a counter */
    double bounds[CHURN_METRICS_MAX_BUCKETS];
};

struct rpc_method {
    char *service, *method, *type;
    size_t first;
};

struct collector {
    churn_metrics_collect_fn *fn;
    void *ctx;
};

struct churn_metrics {
    uint64_t id;        /* distinguishes registries in the per-thread cache */
    pthread_mutex_t mu; /* registration and the shard list */
    pthread_mutex_t scrape_mu;
    struct shard *shards;
    size_t n_shards;
    struct shard *overflow;
    size_t n_slots;
    bool is_double[SLOTS];
    struct rpc_method *methods;
    size_t n_methods;
    struct series series[CHURN_METRICS_MAX_SERIES];
    size_t n_series;
    struct collector collectors[CHURN_METRICS_MAX_COLLECTORS];
    size_t n_collectors;
    uint64_t merged[SLOTS]; /* (scrape_mu) */
};

struct churn_metrics_sink {
    struct churn_buf *out;
    const char *family; /* the last family written */
    enum churn_err err;
};

static _Atomic uint64_t next_registry_id = 1;
static _Thread_local struct {
    uint64_t id;
    struct shard *shard;
} tl_cache;

void churn__metrics_process_collect(void *ctx, struct churn_metrics_sink *sink);

/* ---- life cycle ------------------------------------------------------------------------- */

enum churn_err
churn_metrics_create(struct churn_metrics **out)
{
    struct churn_metrics *m = churn_calloc(1, sizeof(*m));
    if (!m)
        return CHURN_ENOMEM;
    m->overflow = churn_calloc(1, sizeof(*m->overflow));
    if (!m->overflow) {
        churn_free(m);
        return CHURN_ENOMEM;
    }
    m->overflow->shared = true;
    m->id = atomic_fetch_add(&next_registry_id, 1);
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->scrape_mu, NULL);
    churn_metrics_collector(m, churn__metrics_process_collect, NULL);
    *out = m;
    return CHURN_OK;
}

static void
free_series(struct series *s)
{
    churn_free(s->name);
    churn_free(s->help);
    churn_free(s->labels);
}

void
churn_metrics_destroy(struct churn_metrics *m)
{
    if (!m)
        return;
    for (struct shard *s = m->shards, *next; s; s = next) {
        next = s->next;
        churn_free(s);
    }
    churn_free(m->overflow);
    for (size_t i = 0; i < m->n_series; i++)
        free_series(&m->series[i]);
    for (size_t i = 0; i < m->n_methods; i++) {
        churn_free(m->methods[i].service);
        churn_free(m->methods[i].method);
        churn_free(m->methods[i].type);
    }
    churn_free(m->methods);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->scrape_mu);
    churn_free(m);
}

/* ---- the hot path ------------------------------------------------------------------------- */

/* This thread's shard of @m: cached per thread; the first use per registry takes the lock. */
static struct shard *
thread_shard_slow(struct churn_metrics *m)
{
    pthread_t self = pthread_self();
    pthread_mutex_lock(&m->mu);
    struct shard *s = m->shards;
    while (s && !pthread_equal(s->owner, self))
        s = s->next;
    if (!s && m->n_shards < MAX_SHARDS) {
        s = churn_calloc(1, sizeof(*s));
        if (s) {
            s->owner = self;
            s->next = m->shards;
            m->shards = s;
            m->n_shards++;
        }
    }
    if (!s)
        s = m->overflow;
    pthread_mutex_unlock(&m->mu);
    tl_cache.id = m->id;
    tl_cache.shard = s;
    return s;
}

static inline struct shard *
thread_shard(struct churn_metrics *m)
{
    if (tl_cache.id == m->id)
        return tl_cache.shard;
    return thread_shard_slow(m);
}

static inline void
slot_add(struct shard *s, size_t i, uint64_t n)
{
    if (s->shared) {
        atomic_fetch_add_explicit(&s->slot[i], n, memory_order_relaxed);
        return;
    }
    /* the only writer of this slot: a plain load and store, no locked instruction */
    uint64_t v = atomic_load_explicit(&s->slot[i], memory_order_relaxed);
    atomic_store_explicit(&s->slot[i], v + n, memory_order_relaxed);
}

static inline uint64_t
double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static inline double
bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static inline void
slot_add_double(struct shard *s, size_t i, double x)
{
    uint64_t old = atomic_load_explicit(&s->slot[i], memory_order_relaxed);
    if (!s->shared) {
        atomic_store_explicit(&s->slot[i], double_bits(bits_double(old) + x), memory_order_relaxed);
        return;
    }
    while (!atomic_compare_exchange_weak_explicit(&s->slot[i], &old,
                                                  double_bits(bits_double(old) + x),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* Index of the bucket @v falls in: the first bound >= v, or n (the +Inf bucket). */
static inline size_t
bucket_of(const double *bounds, size_t n, double v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void
churn_metrics_rpc_started(struct churn_metrics *m, size_t i)
{
    if (m && i < m->n_methods)
        slot_add(thread_shard(m), m->methods[i].first + RPC_STARTED, 1);
}

void
churn_metrics_rpc_received(struct churn_metrics *m, size_t i)
{
    if (m && i < m->n_methods)
        slot_add(thread_shard(m), m->methods[i].first + RPC_RECV, 1);
}

void
churn_metrics_rpc_sent(struct churn_metrics *m, size_t i)
{
    if (m && i < m->n_methods)
        slot_add(thread_shard(m), m->methods[i].first + RPC_SENT, 1);
}

void
churn_metrics_rpc_handled(struct churn_metrics *m, size_t i, int code, int64_t duration_ns)
{
    if (!m || i >= m->n_methods)
        return;
    if (code < 0 || code >= CHURN_METRICS_GRPC_CODES)
        code = 2; /* UNKNOWN */
    struct shard *s = thread_shard(m);
    size_t first = m->methods[i].first;
    double seconds = duration_ns > 0 ? (double)duration_ns / 1e9 : 0.0;
    slot_add(s, first + RPC_HANDLED + (size_t)code, 1);
    slot_add(s, first + RPC_BUCKET + bucket_of(rpc_bounds, RPC_NB, seconds), 1);
    slot_add_double(s, first + RPC_SUM, seconds);
}

void
churn_metrics_add(struct churn_metrics *m, size_t id, uint64_t n)
{
    if (m && id < m->n_series)
        slot_add(thread_shard(m), m->series[id].first, n);
}

void
churn_metrics_observe(struct churn_metrics *m, size_t id, double value)
{
    if (!m || id >= m->n_series)
        return;
    const struct series *se = &m->series[id];
    struct shard *s = thread_shard(m);
    slot_add(s, se->first + bucket_of(se->bounds, se->n_bounds, value), 1);
    slot_add_double(s, se->first + se->n_bounds + 1, value);
}

/* ---- registration ------------------------------------------------------------------------ */

static bool
name_chars_ok(const char *s, size_t n, const char *extra)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || (extra && c && strchr(extra, c));
        if (!ok)
            return false;
    }
    return true;
}

static char *
dup_n(const char *s, size_t n)
{
    char *d = churn_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* "/pkg.Service/Method" → service and method, copied. */
static enum churn_err
split_method(const char *full, struct rpc_method *out)
{
    const char *slash = full[0] == '/' ? strchr(full + 1, '/') : NULL;
    if (!slash)
        return CHURN_EINVAL;
    size_t sn = (size_t)(slash - full - 1), mn = strlen(slash + 1);
    if (!name_chars_ok(full + 1, sn, ".") || !name_chars_ok(slash + 1, mn, NULL))
        return CHURN_EINVAL;
    out->service = dup_n(full + 1, sn);
    out->method = dup_n(slash + 1, mn);
    return out->service && out->method ? CHURN_OK : CHURN_ENOMEM;
}

static enum churn_err
add_methods_locked(struct churn_metrics *m, const char *const *names, const char *const *types,
                   size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct rpc_method *rm = &m->methods[i];
        enum churn_err err = split_method(names[i], rm);
        if (!err && !name_chars_ok(types[i], strlen(types[i]), NULL))
            err = CHURN_EINVAL;
        if (!err && !(rm->type = dup_n(types[i], strlen(types[i]))))
            err = CHURN_ENOMEM;
        m->n_methods = i + 1; /* freed by destroy even when half filled */
        if (err)
            return err;
        rm->first = m->n_slots;
        m->is_double[rm->first + RPC_SUM] = true;
        m->n_slots += RPC_BLOCK;
    }
    return CHURN_OK;
}

enum churn_err
churn_metrics_rpc_methods(struct churn_metrics *m, const char *const *names,
                          const char *const *types, size_t n)
{
    pthread_mutex_lock(&m->mu);
    enum churn_err err = CHURN_OK;
    if (m->methods)
        err = CHURN_EEXIST;
    else if (n > CHURN_METRICS_MAX_METHODS || m->n_slots + n * RPC_BLOCK > SLOTS)
        err = CHURN_EFULL;
    else if (!(m->methods = churn_calloc(n ? n : 1, sizeof(*m->methods))))
        err = CHURN_ENOMEM;
    if (!err)
        err = add_methods_locked(m, names, types, n);
    /* a refused table counts nothing: the indexes stay out of range */
    size_t keep = err ? 0 : n;
    if (err && m->methods) {
        for (size_t i = 0; i < m->n_methods; i++) {
            churn_free(m->methods[i].service);
            churn_free(m->methods[i].method);
            churn_free(m->methods[i].type);
        }
        churn_free(m->methods);
        m->methods = NULL;
    }
    m->n_methods = keep;
    pthread_mutex_unlock(&m->mu);
    return err;
}

static enum churn_err
add_series(struct churn_metrics *m, const char *name, const char *help, const char *labels,
           const double *bounds, size_t n_bounds, size_t *id)
{
    if (!name_chars_ok(name, strlen(name), ":") || (name[0] >= '0' && name[0] <= '9'))
        return CHURN_EINVAL;
    for (size_t i = 1; i < n_bounds; i++)
        if (!(bounds[i] > bounds[i - 1]))
            return CHURN_EINVAL;
    size_t need = n_bounds ? n_bounds + 2 : 1;
    pthread_mutex_lock(&m->mu);
    enum churn_err err = CHURN_OK;
    if (m->n_series == CHURN_METRICS_MAX_SERIES || m->n_slots + need > SLOTS) {
        err = CHURN_EFULL;
        goto out;
    }
    struct series *s = &m->series[m->n_series];
    s->name = dup_n(name, strlen(name));
    s->help = dup_n(help, strlen(help));
    s->labels = dup_n(labels, strlen(labels));
    if (!s->name || !s->help || !s->labels) {
        free_series(s);
        memset(s, 0, sizeof(*s));
        err = CHURN_ENOMEM;
        goto out;
    }
    s->first = m->n_slots;
    s->n_bounds = n_bounds;
    if (n_bounds) {
        memcpy(s->bounds, bounds, n_bounds * sizeof(*bounds));
        m->is_double[s->first + n_bounds + 1] = true;
    }
    m->n_slots += need;
    *id = m->n_series++;
out:
    pthread_mutex_unlock(&m->mu);
    return err;
}

enum churn_err
churn_metrics_counter(struct churn_metrics *m, const char *name, const char *help,
                      const char *labels, size_t *id)
{
    return add_series(m, name, help, labels, NULL, 0, id);
}

enum churn_err
churn_metrics_histogram(struct churn_metrics *m, const char *name, const char *help,
                        const char *labels, const double *bounds, size_t n_bounds, size_t *id)
{
    if (n_bounds == 0 || n_bounds > CHURN_METRICS_MAX_BUCKETS)
        return CHURN_EINVAL;
    return add_series(m, name, help, labels, bounds, n_bounds, id);
}

enum churn_err
churn_metrics_collector(struct churn_metrics *m, churn_metrics_collect_fn *fn, void *ctx)
{
    pthread_mutex_lock(&m->mu);
    enum churn_err err = CHURN_EFULL;
    if (m->n_collectors < CHURN_METRICS_MAX_COLLECTORS) {
        m->collectors[m->n_collectors++] = (struct collector){fn, ctx};
        err = CHURN_OK;
    }
    pthread_mutex_unlock(&m->mu);
    return err;
}

/* ---- exposition -------------------------------------------------------------------------- */

static void
merge_shards(struct churn_metrics *m, size_t n_slots)
{
    memset(m->merged, 0, n_slots * sizeof(m->merged[0]));
    pthread_mutex_lock(&m->mu);
    struct shard *s = m->shards;
    pthread_mutex_unlock(&m->mu);
    /* shards are only ever prepended, so the list from the head we read is stable */
    for (bool overflow = false; !overflow; s = s->next) {
        if (!s) {
            s = m->overflow;
            overflow = true;
        }
        for (size_t i = 0; i < n_slots; i++) {
            uint64_t v = atomic_load_explicit(&s->slot[i], memory_order_relaxed);
            if (m->is_double[i])
                m->merged[i] = double_bits(bits_double(m->merged[i]) + bits_double(v));
            else
                m->merged[i] += v;
        }
    }
}

static void
sink_header(struct churn_metrics_sink *k, const char *name, const char *help, const char *type)
{
    if (k->family && strcmp(k->family, name) == 0)
        return;
    k->family = name;
    if (!k->err)
        k->err = churn_buf_printf(k->out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
sink_sample(struct churn_metrics_sink *k, const char *name, const char *suffix, const char *labels,
            const char *extra, const char *value)
{
    if (k->err)
        return;
    bool any = *labels || *extra;
    k->err = churn_buf_printf(k->out, "%s%s%s%s%s%s%s %s\n", name, suffix, any ? "{" : "", labels,
                              *labels && *extra ? "," : "", extra, any ? "}" : "", value);
}

void
churn_metrics_sink_gauge(struct churn_metrics_sink *sink, const char *name, const char *help,
                         const char *labels, double value)
{
    char v[64];
    snprintf(v, sizeof(v), "%.15g", value);
    sink_header(sink, name, help, "gauge");
    sink_sample(sink, name, "", labels, "", v);
}

void
churn_metrics_sink_counter(struct churn_metrics_sink *sink, const char *name, const char *help,
                           const char *labels, double value)
{
    char v[64];
    snprintf(v, sizeof(v), "%.15g", value);
    sink_header(sink, name, help, "counter");
    sink_sample(sink, name, "", labels, "", v);
}

/* _bucket lines (cumulative), _sum and _count of one histogram whose slots start at @first */
static void
render_histogram(struct churn_metrics_sink *k, const uint64_t *slots, const char *name,
                 const char *labels, const double *bounds, size_t n_bounds)
{
    char le[64], v[64];
    uint64_t cum = 0;
    for (size_t b = 0; b <= n_bounds; b++) {
        cum += slots[b];
        if (b < n_bounds)
            snprintf(le, sizeof(le), "le=\"%.9g\"", bounds[b]);
        else
            snprintf(le, sizeof(le), "le=\"+Inf\"");
        snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
        sink_sample(k, name, "_bucket", labels, le, v);
    }
    snprintf(v, sizeof(v), "%.9g", bits_double(slots[n_bounds + 1]));
    sink_sample(k, name, "_sum", labels, "", v);
    snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
    sink_sample(k, name, "_count", labels, "", v);
}

static void
method_labels(const struct rpc_method *rm, char *out, size_t len)
{
    snprintf(out, len, "grpc_method=\"%s\",grpc_service=\"%s\",grpc_type=\"%s\"", rm->method,
             rm->service, rm->type);
}

/* One per-method counter family (started, received, sent) at offset @off. */
static void
render_rpc_counter(struct churn_metrics *m, struct churn_metrics_sink *k, const char *name,
                   const char *help, size_t off)
{
    char labels[512], v[32];
    for (size_t i = 0; i < m->n_methods; i++) {
        method_labels(&m->methods[i], labels, sizeof(labels));
        snprintf(v, sizeof(v), "%llu", (unsigned long long)m->merged[m->methods[i].first + off]);
        sink_header(k, name, help, "counter");
        sink_sample(k, name, "", labels, "", v);
    }
}

static void
render_rpc(struct churn_metrics *m, struct churn_metrics_sink *k)
{
    char labels[512], code[64], v[32];
    render_rpc_counter(m, k, "grpc_server_started_total",
                       "Total number of RPCs started on the server.", RPC_STARTED);
    for (size_t i = 0; i < m->n_methods; i++) {
        method_labels(&m->methods[i], labels, sizeof(labels));
        for (size_t c = 0; c < CHURN_METRICS_GRPC_CODES; c++) {
            snprintf(code, sizeof(code), "grpc_code=\"%s\"", grpc_code_names[c]);
            snprintf(v, sizeof(v), "%llu",
                     (unsigned long long)m->merged[m->methods[i].first + RPC_HANDLED + c]);
            sink_header(k, "grpc_server_handled_total",
                        "Total number of RPCs completed on the server, regardless of success or "
                        "failure.",
                        "counter");
            sink_sample(k, "grpc_server_handled_total", "", code, labels, v);
        }
    }
    render_rpc_counter(m, k, "grpc_server_msg_received_total",
                       "Total number of RPC stream messages received on the server.", RPC_RECV);
    render_rpc_counter(m, k, "grpc_server_msg_sent_total",
                       "Total number of gRPC stream messages sent by the server.", RPC_SENT);
    for (size_t i = 0; i < m->n_methods; i++) {
        method_labels(&m->methods[i], labels, sizeof(labels));
        sink_header(k, "grpc_server_handling_seconds",
                    "Histogram of response latency (seconds) of gRPC that had been application-"
                    "level handled by the server.",
                    "histogram");
        render_histogram(k, &m->merged[m->methods[i].first + RPC_BUCKET],
                         "grpc_server_handling_seconds", labels, rpc_bounds, RPC_NB);
    }
}

/* Registered series, family by family (a family's series need not be adjacent). */
static void
render_series(struct churn_metrics *m, size_t n_series, struct churn_metrics_sink *k)
{
    char v[32];
    for (size_t i = 0; i < n_series; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(m->series[j].name, m->series[i].name) == 0;
        if (seen)
            continue;
        for (size_t j = i; j < n_series; j++) {
            const struct series *s = &m->series[j];
            if (strcmp(s->name, m->series[i].name) != 0)
                continue;
            sink_header(k, s->name, s->help, s->n_bounds ? "histogram" : "counter");
            if (s->n_bounds) {
                render_histogram(k, &m->merged[s->first], s->name, s->labels, s->bounds,
                                 s->n_bounds);
            } else {
                snprintf(v, sizeof(v), "%llu", (unsigned long long)m->merged[s->first]);
                sink_sample(k, s->name, "", s->labels, "", v);
            }
        }
    }
}

enum churn_err
churn_metrics_render(struct churn_metrics *m, struct churn_buf *out)
{
    pthread_mutex_lock(&m->scrape_mu);
    pthread_mutex_lock(&m->mu);
    size_t n_slots = m->n_slots, n_series = m->n_series, n_collectors = m->n_collectors;
    pthread_mutex_unlock(&m->mu);
    merge_shards(m, n_slots);
    struct churn_metrics_sink k = {.out = out};
    render_rpc(m, &k);
    render_series(m, n_series, &k);
    for (size_t i = 0; i < n_collectors; i++) {
        k.family = NULL;
        m->collectors[i].fn(m->collectors[i].ctx, &k);
    }
    pthread_mutex_unlock(&m->scrape_mu);
    return k.err;
}
