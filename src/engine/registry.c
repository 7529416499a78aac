/*
 * engine/registry.c - the model registry (churn/registry.h): an in-memory copy of the record
 * kept under the store's meta name "model_registry", changed under one lock and written back
 * whole after each change (one durable LMDB transaction, so a crash leaves the old or the new
 * record, never a mix), its versioned little-endian codec, and the identity of a model file
 * (hash of its bytes, its own checksum and training metadata).
 */
#include "churn/registry.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/file.h"
#include "churn/arena.h"
#include "churn/buf.h"
#include "churn/hash.h"
#include "churn/model.h"
#include "churn/store.h"

struct churn_registry {
    pthread_mutex_t mu;
    struct churn_store *store;
    struct churn_registry_view v; /* (mu) */
};

/* ---- codec ------------------------------------------------------------------------------- */

struct wr {
    uint8_t *p;
    size_t cap, len;
    bool overflow;
};

struct rd {
    const uint8_t *p;
    size_t len, off;
    bool bad;
};

static void
wr_bytes(struct wr *w, const void *src, size_t n)
{
    if (w->overflow || w->cap - w->len < n) {
        w->overflow = true;
        return;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void
wr_u64(struct wr *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    wr_bytes(w, b, 8);
}

static void
wr_f64(struct wr *w, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    wr_u64(w, v);
}

static void
wr_str(struct wr *w, const char *s)
{
    size_t n = strlen(s);
    wr_u64(w, n);
    wr_bytes(w, s, n);
}

static const uint8_t *
rd_take(struct rd *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

static uint64_t
rd_u64(struct rd *r)
{
    const uint8_t *b = rd_take(r, 8);
    uint64_t v = 0;
    for (int i = 0; b && i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static double
rd_f64(struct rd *r)
{
    uint64_t v = rd_u64(r);
    double d;
    memcpy(&d, &v, 8);
    if (isinf(d))
        r->bad = true;
    return d;
}

/* A string that must fit @size bytes with its NUL and hold no NUL. */
static void
rd_str(struct rd *r, char *out, size_t size)
{
    uint64_t n = rd_u64(r);
    const uint8_t *p = n < size ? rd_take(r, (size_t)n) : NULL;
    if (!p || memchr(p, 0, (size_t)n)) {
        r->bad = true;
        out[0] = '\0';
        return;
    }
    memcpy(out, p, (size_t)n);
    out[n] = '\0';
}

static void
wr_figures(struct wr *w, const struct churn_backtest_figures *f)
{
    wr_u64(w, f->present);
    wr_u64(w, (uint64_t)f->as_of_ms);
    wr_u64(w, (uint64_t)(int64_t)f->horizon_days);
    wr_u64(w, f->customers);
    wr_f64(w, f->auc);
    wr_f64(w, f->pr_auc);
    wr_f64(w, f->mean_predicted);
    wr_f64(w, f->realised_rate);
}

static void
rd_figures(struct rd *r, struct churn_backtest_figures *f)
{
    uint64_t present = rd_u64(r);
    f->present = present == 1;
    f->as_of_ms = (int64_t)rd_u64(r);
    f->horizon_days = (int32_t)(int64_t)rd_u64(r);
    f->customers = rd_u64(r);
    f->auc = rd_f64(r);
    f->pr_auc = rd_f64(r);
    f->mean_predicted = rd_f64(r);
    f->realised_rate = rd_f64(r);
    if (present > 1)
        r->bad = true;
}

static void
wr_entry(struct wr *w, const struct churn_registry_entry *e)
{
    wr_u64(w, e->id);
    wr_str(w, e->path);
    wr_str(w, e->file.checksum);
    wr_u64(w, e->file.file_hash);
    wr_u64(w, e->file.size);
    wr_u64(w, (uint64_t)(int64_t)e->file.kind);
    wr_str(w, e->file.version);
    wr_u64(w, (uint64_t)e->file.trained_at_ms);
    wr_u64(w, (uint64_t)e->file.train_from_ms);
    wr_u64(w, (uint64_t)e->file.train_until_ms);
    wr_u64(w, e->file.training_rows);
    wr_u64(w, (uint64_t)e->origin);
    wr_figures(w, &e->backtest);
    wr_u64(w, (uint64_t)e->registered_at_ms);
    wr_u64(w, (uint64_t)e->promoted_at_ms);
    wr_u64(w, (uint64_t)e->retired_at_ms);
    wr_str(w, e->refused);
}

static void
rd_entry(struct rd *r, struct churn_registry_entry *e)
{
    e->id = (uint32_t)rd_u64(r);
    rd_str(r, e->path, sizeof(e->path));
    rd_str(r, e->file.checksum, sizeof(e->file.checksum));
    e->file.file_hash = rd_u64(r);
    e->file.size = rd_u64(r);
    e->file.kind = (int)(int64_t)rd_u64(r);
    rd_str(r, e->file.version, sizeof(e->file.version));
    e->file.trained_at_ms = (int64_t)rd_u64(r);
    e->file.train_from_ms = (int64_t)rd_u64(r);
    e->file.train_until_ms = (int64_t)rd_u64(r);
    e->file.training_rows = rd_u64(r);
    uint64_t origin = rd_u64(r);
    e->origin = (enum churn_model_origin)origin;
    rd_figures(r, &e->backtest);
    e->registered_at_ms = (int64_t)rd_u64(r);
    e->promoted_at_ms = (int64_t)rd_u64(r);
    e->retired_at_ms = (int64_t)rd_u64(r);
    rd_str(r, e->refused, sizeof(e->refused));
    if (e->id == 0 || origin > CHURN_ORIGIN_RETRAIN || !*e->path)
        r->bad = true;
}

static void
wr_decision(struct wr *w, const struct churn_retrain_decision *d)
{
    wr_u64(w, d->run_id);
    wr_u64(w, (uint64_t)d->started_ms);
    wr_u64(w, (uint64_t)d->finished_ms);
    wr_u64(w, (uint64_t)d->outcome);
    wr_str(w, d->trigger);
    wr_u64(w, d->candidate_id);
    wr_u64(w, d->champion_id);
    wr_figures(w, &d->candidate);
    wr_figures(w, &d->champion);
    wr_u64(w, d->training_rows);
    wr_u64(w, d->positives);
    wr_f64(w, d->margin);
    wr_str(w, d->reason);
}

static void
rd_decision(struct rd *r, struct churn_retrain_decision *d)
{
    d->run_id = rd_u64(r);
    d->started_ms = (int64_t)rd_u64(r);
    d->finished_ms = (int64_t)rd_u64(r);
    uint64_t outcome = rd_u64(r);
    d->outcome = (enum churn_retrain_outcome)outcome;
    rd_str(r, d->trigger, sizeof(d->trigger));
    d->candidate_id = (uint32_t)rd_u64(r);
    d->champion_id = (uint32_t)rd_u64(r);
    rd_figures(r, &d->candidate);
    rd_figures(r, &d->champion);
    d->training_rows = rd_u64(r);
    d->positives = rd_u64(r);
    d->margin = rd_f64(r);
    rd_str(r, d->reason, sizeof(d->reason));
    if (outcome > CHURN_RETRAIN_CANCELLED || d->run_id == 0)
        r->bad = true;
}

size_t
churn_registry_encoded_size_max(void)
{
    size_t entry = sizeof(struct churn_registry_entry) + 40 * 8;
    size_t decision = sizeof(struct churn_retrain_decision) + 40 * 8;
    return 64 + CHURN_REGISTRY_MAX_MODELS * entry + CHURN_REGISTRY_MAX_HISTORY * 8 +
           CHURN_REGISTRY_MAX_DECISIONS * decision;
}

enum churn_err
churn_registry_encode(const struct churn_registry_view *v, uint8_t *out, size_t cap, size_t *len)
{
    if (v->n_models > CHURN_REGISTRY_MAX_MODELS || v->n_history > CHURN_REGISTRY_MAX_HISTORY ||
        v->n_decisions > CHURN_REGISTRY_MAX_DECISIONS)
        return CHURN_EINVAL;
    struct wr w = {.p = out, .cap = cap};
    uint8_t version = CHURN_REGISTRY_FORMAT;
    wr_bytes(&w, &version, 1);
    wr_u64(&w, v->served_id);
    wr_u64(&w, v->next_run_id);
    wr_u64(&w, v->n_models);
    for (size_t i = 0; i < v->n_models; i++)
        wr_entry(&w, &v->models[i]);
    wr_u64(&w, v->n_history);
    for (size_t i = 0; i < v->n_history; i++)
        wr_u64(&w, v->history[i]);
    wr_u64(&w, v->n_decisions);
    for (size_t i = 0; i < v->n_decisions; i++)
        wr_decision(&w, &v->decisions[i]);
    if (w.overflow)
        return CHURN_ETOOBIG;
    *len = w.len;
    return CHURN_OK;
}

static const struct churn_registry_entry *
view_find(const struct churn_registry_view *v, uint32_t id)
{
    for (size_t i = 0; i < v->n_models; i++)
        if (v->models[i].id == id)
            return &v->models[i];
    return NULL;
}

/* Every id the record refers to exists, ids ascend, the served one is the history's last. */
static bool
view_consistent(const struct churn_registry_view *v)
{
    for (size_t i = 1; i < v->n_models; i++)
        if (v->models[i].id <= v->models[i - 1].id)
            return false;
    for (size_t i = 0; i < v->n_history; i++)
        if (!view_find(v, v->history[i]))
            return false;
    if (v->served_id)
        return v->n_history && v->history[v->n_history - 1] == v->served_id;
    return true;
}

enum churn_err
churn_registry_decode(const uint8_t *data, size_t len, struct churn_registry_view *v)
{
    struct rd r = {.p = data, .len = len};
    const uint8_t *version = rd_take(&r, 1);
    if (!version || *version != CHURN_REGISTRY_FORMAT)
        return CHURN_ECORRUPT;
    memset(v, 0, sizeof(*v));
    v->served_id = (uint32_t)rd_u64(&r);
    v->next_run_id = rd_u64(&r);
    uint64_t n = rd_u64(&r);
    if (n > CHURN_REGISTRY_MAX_MODELS)
        return CHURN_ECORRUPT;
    v->n_models = (size_t)n;
    for (size_t i = 0; i < v->n_models && !r.bad; i++)
        rd_entry(&r, &v->models[i]);
    n = rd_u64(&r);
    if (n > CHURN_REGISTRY_MAX_HISTORY)
        return CHURN_ECORRUPT;
    v->n_history = (size_t)n;
    for (size_t i = 0; i < v->n_history; i++)
        v->history[i] = (uint32_t)rd_u64(&r);
    n = rd_u64(&r);
    if (n > CHURN_REGISTRY_MAX_DECISIONS)
        return CHURN_ECORRUPT;
    v->n_decisions = (size_t)n;
    for (size_t i = 0; i < v->n_decisions && !r.bad; i++)
        rd_decision(&r, &v->decisions[i]);
    if (r.bad || r.off != r.len || !view_consistent(v))
        return CHURN_ECORRUPT;
    return CHURN_OK;
}

/* ---- the object -------------------------------------------------------------------------- */

/* Write the registry back (mu held). */
static enum churn_err
save_locked(struct churn_registry *reg)
{
    size_t cap = churn_registry_encoded_size_max(), len = 0;
    if (cap > CHURN_STORE_VALUE_MAX)
        cap = CHURN_STORE_VALUE_MAX;
    uint8_t *buf = churn_malloc(cap);
    if (!buf)
        return CHURN_ENOMEM;
    enum churn_err e = churn_registry_encode(&reg->v, buf, cap, &len);
    if (!e)
        e = churn_store_put_meta(reg->store, CHURN_REGISTRY_META_NAME, buf, len);
    churn_free(buf);
    return e;
}

enum churn_err
churn_registry_open(struct churn_store *store, struct churn_registry **out, char *err,
                    size_t errlen)
{
    struct churn_registry *reg = churn_calloc(1, sizeof(*reg));
    if (!reg)
        return churn_fail(err, errlen, CHURN_ENOMEM, "model registry: out of memory");
    struct churn_arena a;
    churn_arena_init(&a, CHURN_STORE_VALUE_MAX + 4096);
    void *data = NULL;
    size_t len = 0;
    enum churn_err e = churn_store_get_meta(store, CHURN_REGISTRY_META_NAME, &a, &data, &len);
    if (e == CHURN_OK && churn_registry_decode(data, len, &reg->v) != CHURN_OK)
        e = churn_fail(err, errlen, CHURN_ECORRUPT,
                       "model registry (meta '%s'): undecodable record of %zu bytes",
                       CHURN_REGISTRY_META_NAME, len);
    else if (e == CHURN_ENOTFOUND)
        e = CHURN_OK; /* a new store: an empty registry */
    else if (e)
        churn_fail(err, errlen, e, "model registry: %s", churn_store_last_error());
    churn_arena_fini(&a);
    if (e) {
        churn_free(reg);
        return e;
    }
    pthread_mutex_init(&reg->mu, NULL);
    reg->store = store;
    *out = reg;
    return CHURN_OK;
}

void
churn_registry_close(struct churn_registry *reg)
{
    if (!reg)
        return;
    pthread_mutex_destroy(&reg->mu);
    churn_free(reg);
}

static struct churn_registry_entry *
find_locked(struct churn_registry *reg, uint32_t id)
{
    return (struct churn_registry_entry *)view_find(&reg->v, id);
}

static bool
in_history(const struct churn_registry_view *v, uint32_t id)
{
    for (size_t i = 0; i < v->n_history; i++)
        if (v->history[i] == id)
            return true;
    return false;
}

/* Make room for one entry: drop the oldest entry that is not in the history. */
static bool
make_room_locked(struct churn_registry *reg)
{
    struct churn_registry_view *v = &reg->v;
    if (v->n_models < CHURN_REGISTRY_MAX_MODELS)
        return true;
    for (size_t i = 0; i < v->n_models; i++) {
        if (in_history(v, v->models[i].id))
            continue;
        memmove(&v->models[i], &v->models[i + 1], (v->n_models - i - 1) * sizeof(v->models[0]));
        v->n_models--;
        return true;
    }
    return false;
}

uint32_t
churn_registry_find_file(struct churn_registry *reg, const char *path, uint64_t file_hash)
{
    uint32_t id = 0;
    pthread_mutex_lock(&reg->mu);
    for (size_t i = 0; i < reg->v.n_models && !id; i++) {
        const struct churn_registry_entry *e = &reg->v.models[i];
        if (e->file.file_hash == file_hash && strcmp(e->path, path) == 0)
            id = e->id;
    }
    pthread_mutex_unlock(&reg->mu);
    return id;
}

enum churn_err
churn_registry_add(struct churn_registry *reg, const char *path,
                   const struct churn_model_file_id *id, enum churn_model_origin origin,
                   int64_t now_ms, const struct churn_backtest_figures *fig, uint32_t *id_out)
{
    if (!*path || strlen(path) >= CHURN_REGISTRY_PATH_MAX)
        return CHURN_ETOOBIG;
    uint32_t known = churn_registry_find_file(reg, path, id->file_hash);
    if (known) {
        *id_out = known;
        return CHURN_OK;
    }
    pthread_mutex_lock(&reg->mu);
    enum churn_err e = CHURN_EFULL;
    if (make_room_locked(reg)) {
        struct churn_registry_view *v = &reg->v;
        struct churn_registry_entry *n = &v->models[v->n_models];
        memset(n, 0, sizeof(*n));
        n->id = v->n_models ? v->models[v->n_models - 1].id + 1 : 1;
        snprintf(n->path, sizeof(n->path), "%s", path);
        n->file = *id;
        n->origin = origin;
        n->registered_at_ms = now_ms;
        if (fig)
            n->backtest = *fig;
        v->n_models++;
        e = save_locked(reg);
        if (e)
            v->n_models--;
        else
            *id_out = n->id;
    }
    pthread_mutex_unlock(&reg->mu);
    return e;
}

/* Serve @id from @now (mu held; the history already ends with it). */
static void
set_served_locked(struct churn_registry *reg, uint32_t id, int64_t now_ms)
{
    struct churn_registry_entry *old = find_locked(reg, reg->v.served_id);
    if (old && old->id != id)
        old->retired_at_ms = now_ms;
    struct churn_registry_entry *e = find_locked(reg, id);
    e->promoted_at_ms = now_ms;
    e->refused[0] = '\0';
    reg->v.served_id = id;
}

enum churn_err
churn_registry_promote(struct churn_registry *reg, uint32_t id, int64_t now_ms)
{
    pthread_mutex_lock(&reg->mu);
    uint32_t saved_history[CHURN_REGISTRY_MAX_HISTORY];
    size_t saved_n = reg->v.n_history;
    memcpy(saved_history, reg->v.history, sizeof(saved_history));
    enum churn_err e = CHURN_ENOTFOUND;
    if (find_locked(reg, id)) {
        struct churn_registry_view *v = &reg->v;
        uint32_t served_before = v->served_id;
        if (served_before != id) {
            if (v->n_history == CHURN_REGISTRY_MAX_HISTORY) {
                memmove(v->history, v->history + 1, (v->n_history - 1) * sizeof(v->history[0]));
                v->n_history--;
            }
            v->history[v->n_history++] = id;
        }
        struct churn_registry_entry before_old = {0}, before_new = *find_locked(reg, id);
        if (served_before)
            before_old = *find_locked(reg, served_before);
        set_served_locked(reg, id, now_ms);
        e = save_locked(reg);
        if (e) { /* undo: the registry in memory stays what the store holds */
            v->n_history = saved_n;
            memcpy(v->history, saved_history, sizeof(v->history));
            *find_locked(reg, id) = before_new;
            if (served_before)
                *find_locked(reg, served_before) = before_old;
            v->served_id = served_before;
        }
    }
    pthread_mutex_unlock(&reg->mu);
    return e;
}

enum churn_err
churn_registry_rollback_target(struct churn_registry *reg, uint32_t id,
                               struct churn_registry_entry *out, char *err, size_t errlen)
{
    pthread_mutex_lock(&reg->mu);
    struct churn_registry_view *v = &reg->v;
    enum churn_err e = CHURN_OK;
    uint32_t target = id;
    if (id == 0) {
        if (v->n_history < 2)
            e = churn_fail(err, errlen, CHURN_EPRECOND, "no earlier model to roll back to: %s",
                           v->served_id ? "only the model serving now was ever served"
                                        : "no model was ever served from the registry");
        else
            target = v->history[v->n_history - 2];
    } else if (!find_locked(reg, id)) {
        e = churn_fail(err, errlen, CHURN_ENOTFOUND, "no model with registry id %u", id);
    } else if (id == v->served_id) {
        e = churn_fail(err, errlen, CHURN_EPRECOND, "model %u is the one serving now", id);
    } else if (!find_locked(reg, id)->promoted_at_ms) {
        e = churn_fail(err, errlen, CHURN_EPRECOND,
                       "model %u never served: roll back only to a model that served (use "
                       "PromoteModel for a new one)",
                       id);
    }
    if (!e)
        *out = *find_locked(reg, target);
    pthread_mutex_unlock(&reg->mu);
    return e;
}

enum churn_err
churn_registry_rollback(struct churn_registry *reg, uint32_t id, int64_t now_ms)
{
    pthread_mutex_lock(&reg->mu);
    struct churn_registry_view *v = &reg->v;
    if (!find_locked(reg, id)) {
        pthread_mutex_unlock(&reg->mu);
        return CHURN_ENOTFOUND;
    }
    size_t n = v->n_history;
    while (n > 0 && v->history[n - 1] != id)
        n--;
    pthread_mutex_unlock(&reg->mu);
    if (n == 0) /* not in the remembered history: serve it as a promotion */
        return churn_registry_promote(reg, id, now_ms);
    pthread_mutex_lock(&reg->mu);
    size_t saved_n = v->n_history;
    struct churn_registry_entry *old = find_locked(reg, v->served_id);
    struct churn_registry_entry before_old = old ? *old : (struct churn_registry_entry){0};
    struct churn_registry_entry before_new = *find_locked(reg, id);
    uint32_t served_before = v->served_id;
    v->n_history = n; /* the entries served after it are cut off */
    set_served_locked(reg, id, now_ms);
    enum churn_err e = save_locked(reg);
    if (e) {
        v->n_history = saved_n;
        if (old)
            *old = before_old;
        *find_locked(reg, id) = before_new;
        v->served_id = served_before;
    }
    pthread_mutex_unlock(&reg->mu);
    return e;
}

/* Change entry @id with @fn (mu held) and save; the change is undone when saving fails. */
static enum churn_err
update_entry(struct churn_registry *reg, uint32_t id,
             void (*fn)(struct churn_registry_entry *, const void *), const void *arg)
{
    pthread_mutex_lock(&reg->mu);
    struct churn_registry_entry *e = find_locked(reg, id);
    enum churn_err err = CHURN_ENOTFOUND;
    if (e) {
        struct churn_registry_entry before = *e;
        fn(e, arg);
        err = save_locked(reg);
        if (err)
            *e = before;
    }
    pthread_mutex_unlock(&reg->mu);
    return err;
}

static void
set_refused(struct churn_registry_entry *e, const void *why)
{
    snprintf(e->refused, sizeof(e->refused), "%s", (const char *)why);
}

static void
set_path(struct churn_registry_entry *e, const void *path)
{
    snprintf(e->path, sizeof(e->path), "%s", (const char *)path);
    e->refused[0] = '\0';
}

enum churn_err
churn_registry_relocate(struct churn_registry *reg, uint32_t id, const char *path, char *err,
                        size_t errlen)
{
    struct churn_registry_entry e;
    if (churn_registry_get(reg, id, &e) != CHURN_OK)
        return churn_fail(err, errlen, CHURN_ENOTFOUND, "no model with registry id %u", id);
    if (strlen(path) >= sizeof(e.path))
        return churn_fail(err, errlen, CHURN_ETOOBIG, "model path %s: too long", path);
    snprintf(e.path, sizeof(e.path), "%s", path);
    enum churn_err r = churn_registry_verify(&e, err, errlen);
    if (r)
        return r;
    r = update_entry(reg, id, set_path, path);
    return r ? churn_fail(err, errlen, r, "model %u: the registry could not be saved", id) : r;
}

static void
set_backtest(struct churn_registry_entry *e, const void *fig)
{
    e->backtest = *(const struct churn_backtest_figures *)fig;
}

enum churn_err
churn_registry_refuse(struct churn_registry *reg, uint32_t id, const char *why)
{
    return update_entry(reg, id, set_refused, why);
}

enum churn_err
churn_registry_set_backtest(struct churn_registry *reg, uint32_t id,
                            const struct churn_backtest_figures *fig)
{
    return update_entry(reg, id, set_backtest, fig);
}

enum churn_err
churn_registry_record_decision(struct churn_registry *reg, const struct churn_retrain_decision *d)
{
    pthread_mutex_lock(&reg->mu);
    struct churn_registry_view *v = &reg->v;
    struct churn_retrain_decision *slot = NULL;
    for (size_t i = 0; i < v->n_decisions && !slot; i++)
        if (v->decisions[i].run_id == d->run_id)
            slot = &v->decisions[i];
    struct churn_retrain_decision before = slot ? *slot : (struct churn_retrain_decision){0};
    struct churn_retrain_decision dropped = v->decisions[0];
    bool shifted = false;
    if (!slot) {
        if (v->n_decisions == CHURN_REGISTRY_MAX_DECISIONS) {
            memmove(v->decisions, v->decisions + 1, (v->n_decisions - 1) * sizeof(v->decisions[0]));
            v->n_decisions--;
            shifted = true;
        }
        slot = &v->decisions[v->n_decisions++];
    }
    *slot = *d;
    if (v->next_run_id <= d->run_id)
        v->next_run_id = d->run_id + 1;
    enum churn_err e = save_locked(reg);
    if (e && before.run_id) {
        *slot = before;
    } else if (e) {
        v->n_decisions--;
        if (shifted) {
            memmove(v->decisions + 1, v->decisions, v->n_decisions * sizeof(v->decisions[0]));
            v->decisions[0] = dropped;
            v->n_decisions++;
        }
    }
    pthread_mutex_unlock(&reg->mu);
    return e;
}

uint64_t
churn_registry_next_run_id(struct churn_registry *reg)
{
    pthread_mutex_lock(&reg->mu);
    if (reg->v.next_run_id == 0)
        reg->v.next_run_id = 1;
    uint64_t id = reg->v.next_run_id++;
    pthread_mutex_unlock(&reg->mu);
    return id;
}

enum churn_err
churn_registry_get(struct churn_registry *reg, uint32_t id, struct churn_registry_entry *out)
{
    pthread_mutex_lock(&reg->mu);
    const struct churn_registry_entry *e = find_locked(reg, id);
    if (e)
        *out = *e;
    pthread_mutex_unlock(&reg->mu);
    return e ? CHURN_OK : CHURN_ENOTFOUND;
}

uint32_t
churn_registry_served_id(struct churn_registry *reg)
{
    pthread_mutex_lock(&reg->mu);
    uint32_t id = reg->v.served_id;
    pthread_mutex_unlock(&reg->mu);
    return id;
}

void
churn_registry_snapshot(struct churn_registry *reg, struct churn_registry_view *out)
{
    pthread_mutex_lock(&reg->mu);
    *out = reg->v;
    pthread_mutex_unlock(&reg->mu);
}

size_t
churn_registry_start_candidates(struct churn_registry *reg, uint32_t *ids, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&reg->mu);
    for (size_t i = reg->v.n_history; i > 0 && n < max; i--) {
        uint32_t id = reg->v.history[i - 1];
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = ids[k] == id;
        if (!seen)
            ids[n++] = id;
    }
    pthread_mutex_unlock(&reg->mu);
    return n;
}

/* ---- model files ------------------------------------------------------------------------- */

/* Read @path whole into a heap buffer (NUL-terminated); never blocks on a FIFO (issue 13). */
static enum churn_err
read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    char why[CHURN_REGISTRY_PATH_MAX + 200];
    enum churn_err e =
        churn_file_read_regular(path, CHURN_MODEL_MAX_FILE, false, out, len, why, sizeof(why));
    return e ? churn_fail(err, errlen, e, "model file %s", why) : CHURN_OK;
}

/* The integer after "key": in JSON text @j (0 when absent). */
static int64_t
json_int_after(const char *j, const char *key)
{
    const char *p = j ? strstr(j, key) : NULL;
    return p ? strtoll(p + strlen(key), NULL, 10) : 0;
}

enum churn_err
churn_model_file_identify(const char *path, struct churn_model_file_id *out, char *err,
                          size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    enum churn_err e = read_file(path, &text, &len, err, errlen);
    if (e)
        return e;
    struct churn_model *m = NULL;
    char why[400];
    e = churn_model_load_json(text, len, 0, &m, why, sizeof(why));
    if (e) {
        churn_free(text);
        return churn_fail(err, errlen, e, "model file %s: %s", path, why);
    }
    const struct churn_model_info *info = churn_model_info(m);
    memset(out, 0, sizeof(*out));
    out->file_hash = churn_fnv1a64(CHURN_FNV64_OFFSET, text, len);
    out->size = len;
    out->kind = (int)info->kind;
    snprintf(out->checksum, sizeof(out->checksum), "%s", info->checksum ? info->checksum : "");
    snprintf(out->version, sizeof(out->version), "%s", info->version ? info->version : "");
    out->trained_at_ms = info->trained_at_ms;
    out->training_rows = info->training_rows;
    out->train_from_ms = json_int_after(info->algorithm_params, "\"train_from_ms\":");
    out->train_until_ms = json_int_after(info->algorithm_params, "\"train_until_ms\":");
    churn_model_unref(m);
    churn_free(text);
    return CHURN_OK;
}

enum churn_err
churn_registry_verify(const struct churn_registry_entry *entry, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    char why[512];
    enum churn_err e = read_file(entry->path, &text, &len, why, sizeof(why));
    if (e == CHURN_ENOTFOUND)
        return churn_fail(err, errlen, e, "model %u (%s): the file is gone", entry->id,
                          entry->path);
    if (e)
        return churn_fail(err, errlen, e, "model %u: %s", entry->id, why);
    uint64_t h = churn_fnv1a64(CHURN_FNV64_OFFSET, text, len);
    churn_free(text);
    if (len != entry->file.size || h != entry->file.file_hash)
        return churn_fail(err, errlen, CHURN_ECORRUPT,
                          "model %u (%s): the file was altered since it was registered "
                          "(%zu bytes, fnv1a64 %016llx; registered %llu bytes, %016llx)",
                          entry->id, entry->path, len, (unsigned long long)h,
                          (unsigned long long)entry->file.size,
                          (unsigned long long)entry->file.file_hash);
    return CHURN_OK;
}

const char *
churn_retrain_outcome_name(enum churn_retrain_outcome o)
{
    static const char *const names[] = {"unspecified",   "running", "promoted",
                                        "kept_champion", "failed",  "cancelled"};
    return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "unspecified";
}

const char *
churn_model_origin_name(enum churn_model_origin o)
{
    static const char *const names[] = {"unspecified", "flag", "reload", "retrain"};
    return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "unspecified";
}
