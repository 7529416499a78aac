/*
 * shard.c - churnd as a shard of a cluster: holds the partition table in force, runs the
 * ownership gate before every handler callback (x-customer-id present, equal to the
 * request's customer, owned here, not moving), keeps the open streams about a customer so
 * that a reload of the table ends those of customers owned elsewhere now, and refuses a
 * successor table that would break the epoch rules (churn_cluster_table_check_successor).
 * A new table comes from the file (SIGHUP) or as text (AdminService.ReloadShardTable, which
 * writes it to the file before it takes effect).
 */
#include "churn/shard.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "churn/alloc.h"
#include "churn/cluster.h"
#include "churn/log.h"

#define ID_MAX        128 /* bytes of a customer id (common.proto) */
#define NATS_CONF_MAX (1 << 20)

struct stream_ref {
    struct churn_rpc *rpc; /* a reference taken with churn_rpc_ref() */
    char customer[ID_MAX + 1];
};

struct churn_shard {
    pthread_mutex_t reload_mu; /* one table change at a time; held around mu when swapping */
    pthread_mutex_t mu;
    char *path;
    char name[CHURN_CLUSTER_NAME_MAX];
    struct churn_cluster_table *table; /* (mu; changed under reload_mu too) in force */
    int self;                          /* (mu; changed under reload_mu too) index in table */
    struct stream_ref *streams;        /* (mu) open streams about a customer */
    size_t n_streams, cap_streams;     /* (mu) */
};

/* Where a request names its customers. */
enum cust_kind {
    CUST_NONE,     /* about no customer */
    CUST_FIELD,    /* string customer_id */
    CUST_NESTED,   /* a message field with a string customer_id (RecordEventsRequest.event) */
    CUST_LIST,     /* repeated string customer_ids */
    CUST_MSG_LIST, /* repeated messages with a customer_id (UpsertCustomersRequest.customers) */
};

struct cust_path {
    enum cust_kind kind;
    const ProtobufCFieldDescriptor *outer, *inner;
};

static const ProtobufCFieldDescriptor *
string_field(const ProtobufCMessageDescriptor *d, const char *name, bool repeated)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, name);
    if (!f || f->type != PROTOBUF_C_TYPE_STRING ||
        (f->label == PROTOBUF_C_LABEL_REPEATED) != repeated)
        return NULL;
    return f;
}

static struct cust_path
customer_path(const ProtobufCMessageDescriptor *d)
{
    struct cust_path p = {CUST_NONE, NULL, NULL};
    if ((p.outer = string_field(d, "customer_id", false))) {
        p.kind = CUST_FIELD;
        return p;
    }
    if ((p.outer = string_field(d, "customer_ids", true))) {
        p.kind = CUST_LIST;
        return p;
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const ProtobufCFieldDescriptor *in = string_field(f->descriptor, "customer_id", false);
        if (in) {
            p.kind = f->label == PROTOBUF_C_LABEL_REPEATED ? CUST_MSG_LIST : CUST_NESTED;
            p.outer = f;
            p.inner = in;
            return p;
        }
    }
    p.outer = NULL;
    return p;
}

static const char *
string_at(const void *msg, const ProtobufCFieldDescriptor *f)
{
    const char *s = *(char *const *)((const char *)msg + f->offset);
    return s ? s : "";
}

/* The @i-th customer id of @req under @p, NULL past the end. */
static const char *
customer_at(const ProtobufCMessage *req, const struct cust_path *p, size_t i)
{
    const char *base = (const char *)req;
    if (p->kind == CUST_FIELD)
        return i == 0 ? string_at(req, p->outer) : NULL;
    if (p->kind == CUST_NESTED) {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)(base + p->outer->offset);
        return i == 0 && m ? string_at(m, p->inner) : NULL;
    }
    size_t n = *(const size_t *)(base + p->outer->quantifier_offset);
    if (i >= n)
        return NULL;
    if (p->kind == CUST_LIST)
        return (*(char *const *const *)(base + p->outer->offset))[i];
    const ProtobufCMessage *m = (*(ProtobufCMessage *const *const *)(base + p->outer->offset))[i];
    return string_at(m, p->inner);
}

const char *
churn_shard_request_customer(const ProtobufCMessage *req)
{
    struct cust_path p = customer_path(req->descriptor);
    const char *id = p.kind == CUST_NONE ? NULL : customer_at(req, &p, 0);
    return id && *id ? id : NULL;
}

/* FAILED_PRECONDITION (or UNAVAILABLE while moving) for customer @id; caller holds mu. */
static enum churn_err
refuse_locked(struct churn_shard *sh, struct churn_rpc *rpc, const char *id, size_t len)
{
    const struct churn_cluster_table *t = sh->table;
    uint32_t part = churn_cluster_partition_of(id, len, t->partitions);
    const struct churn_cluster_shard *owner = &t->shards[t->owner[part]];
    char num[32];
    snprintf(num, sizeof(num), "%" PRIu64, t->epoch);
    churn_rpc_set_trailer(rpc, "x-churn-owner", owner->name);
    churn_rpc_set_trailer(rpc, "x-churn-owner-address", owner->addr);
    churn_rpc_set_trailer(rpc, "x-churn-epoch", num);
    snprintf(num, sizeof(num), "%" PRIu32, part);
    churn_rpc_set_trailer(rpc, "x-churn-partition", num);
    if (t->moving[part])
        return churn_rpc_error(rpc, CHURN_EUNAVAIL,
                               "customer '%.*s': partition %" PRIu32 " is moving to shard %s "
                               "(epoch %" PRIu64 "): retry shortly",
                               (int)len, id, part, owner->name, t->epoch);
    return churn_rpc_error(rpc, CHURN_EPRECOND,
                           "customer '%.*s' belongs to shard %s (%s), partition %" PRIu32
                           ", not to shard %s (epoch %" PRIu64 ")",
                           (int)len, id, owner->name, owner->addr, part, sh->name, t->epoch);
}

/* Is customer @id served here right now? Otherwise the refusal; caller holds mu. */
static enum churn_err
check_owned_locked(struct churn_shard *sh, struct churn_rpc *rpc, const char *id, size_t len)
{
    const struct churn_cluster_table *t = sh->table;
    uint32_t part = churn_cluster_partition_of(id, len, t->partitions);
    if (t->owner[part] == sh->self && !t->moving[part])
        return CHURN_OK;
    return refuse_locked(sh, rpc, id, len);
}

/* Keep a stream about @id so that a reload can end it; caller holds mu. */
static void
track_stream_locked(struct churn_shard *sh, struct churn_rpc *rpc, const char *id, size_t len)
{
    if (sh->n_streams == sh->cap_streams) {
        /* drop the streams that are over before growing */
        size_t k = 0;
        for (size_t i = 0; i < sh->n_streams; i++) {
            if (churn_rpc_is_over(sh->streams[i].rpc))
                churn_rpc_unref(sh->streams[i].rpc);
            else
                sh->streams[k++] = sh->streams[i];
        }
        sh->n_streams = k;
    }
    if (sh->n_streams == sh->cap_streams) {
        size_t cap = sh->cap_streams ? 2 * sh->cap_streams : 64;
        struct stream_ref *p = churn_realloc(sh->streams, cap * sizeof(*p));
        if (!p)
            return; /* the stream is served, only not ended by a reload */
        sh->streams = p;
        sh->cap_streams = cap;
    }
    struct stream_ref *r = &sh->streams[sh->n_streams++];
    r->rpc = churn_rpc_ref(rpc);
    snprintf(r->customer, sizeof(r->customer), "%.*s", (int)len, id);
}

/* The call's start: the header must be there and its customer owned here. */
static enum churn_err
gate_start_locked(struct churn_shard *sh, struct churn_rpc *rpc, const char *hdr, size_t hlen)
{
    if (!hdr)
        return churn_rpc_error(rpc, CHURN_EINVAL,
                               "x-customer-id: header missing: this churnd is shard %s of a "
                               "cluster (epoch %" PRIu64 ") and serves only the customers it "
                               "owns; send the customer id in x-customer-id",
                               sh->name, sh->table->epoch);
    if (hlen == 0 || hlen > ID_MAX)
        return churn_rpc_error(rpc, CHURN_EINVAL, "x-customer-id: %s",
                               hlen ? "longer than 128 bytes" : "empty");
    enum churn_err err = check_owned_locked(sh, rpc, hdr, hlen);
    enum churn_rpc_shape shape = churn_rpc_method(rpc)->shape;
    if (!err && shape != CHURN_RPC_UNARY)
        track_stream_locked(sh, rpc, hdr, hlen);
    return err;
}

/* Every customer the request names: equal to the header (one) or owned here (several). */
static enum churn_err
gate_request_locked(struct churn_shard *sh, struct churn_rpc *rpc, const ProtobufCMessage *req,
                    const struct cust_path *p, const char *hdr, size_t hlen)
{
    bool single = p->kind == CUST_FIELD || p->kind == CUST_NESTED;
    bool events = churn_rpc_method(rpc)->shape == CHURN_RPC_CLIENT_STREAM;
    for (size_t i = 0;; i++) {
        const char *id = customer_at(req, p, i);
        if (!id)
            return CHURN_OK;
        size_t len = strlen(id);
        if (len == 0)
            continue; /* the handler names the empty field */
        if (single && !events && (len != hlen || memcmp(id, hdr, len) != 0))
            return churn_rpc_error(rpc, CHURN_EINVAL,
                                   "customer_id: '%.*s' differs from the x-customer-id header "
                                   "'%.*s'",
                                   (int)(len > ID_MAX ? ID_MAX : len), id, (int)hlen, hdr);
        enum churn_err err = check_owned_locked(sh, rpc, id, len);
        if (err)
            return err;
    }
}

enum churn_err
churn_shard_gate(void *ctx, struct churn_rpc *rpc, const ProtobufCMessage *req, bool first)
{
    struct churn_shard *sh = ctx;
    struct cust_path p = customer_path(churn_rpc_method(rpc)->request);
    if (p.kind == CUST_NONE)
        return CHURN_OK;
    size_t hlen = 0;
    const char *hdr = churn_rpc_metadata(rpc, "x-customer-id", &hlen);
    pthread_mutex_lock(&sh->mu);
    enum churn_err err = first ? gate_start_locked(sh, rpc, hdr, hlen) : CHURN_OK;
    if (!err && req)
        err = gate_request_locked(sh, rpc, req, &p, hdr, hlen);
    pthread_mutex_unlock(&sh->mu);
    return err;
}

static enum churn_err
check_nats(const struct churn_cluster_table *t, const char *path, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return churn_fail(errbuf, errlen, CHURN_EIO, "%s: cannot open", path);
    char *text = churn_malloc(NATS_CONF_MAX + 1);
    enum churn_err err = CHURN_ENOMEM;
    if (text) {
        size_t n = fread(text, 1, NATS_CONF_MAX, f);
        text[n] = '\0';
        char msg[512];
        err = churn_cluster_table_check_nats(t, text, msg, sizeof(msg));
        if (err)
            churn_errf(errbuf, errlen, "%s: %s", path, msg);
    }
    churn_free(text);
    fclose(f);
    return err;
}

/* This shard's index in @t (read from @source), or the refusal: a table without it. */
static enum churn_err
find_self(const struct churn_cluster_table *t, const char *source, const char *name, int *self,
          char *errbuf, size_t errlen)
{
    *self = churn_cluster_shard_index(t, name);
    if (*self < 0)
        return churn_fail(errbuf, errlen, CHURN_EINVAL, "%s: no shard named '%s' in the table",
                          source, name);
    return CHURN_OK;
}

/* Load @path and find @name in it. */
static enum churn_err
load_for(const char *path, const char *name, struct churn_cluster_table **out, int *self,
         char *errbuf, size_t errlen)
{
    struct churn_cluster_table *t;
    enum churn_err err = churn_cluster_table_load(path, &t, errbuf, errlen);
    if (!err && (err = find_self(t, path, name, self, errbuf, errlen)) != CHURN_OK)
        churn_cluster_table_free(t);
    if (!err)
        *out = t;
    return err;
}

enum churn_err
churn_shard_open(const char *table_path, const char *name, const char *nats_config_path,
                 struct churn_shard **out, char *errbuf, size_t errlen)
{
    if (!*name)
        return churn_fail(errbuf, errlen, CHURN_EINVAL,
                          "--cluster %s needs --shard NAME (this churnd's name in the table)",
                          table_path);
    struct churn_shard *sh = churn_calloc(1, sizeof(*sh));
    if (!sh || !(sh->path = churn_strdup(table_path))) {
        churn_free(sh);
        return churn_fail(errbuf, errlen, CHURN_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&sh->mu, NULL);
    pthread_mutex_init(&sh->reload_mu, NULL);
    snprintf(sh->name, sizeof(sh->name), "%s", name);
    enum churn_err err = load_for(table_path, name, &sh->table, &sh->self, errbuf, errlen);
    if (!err && nats_config_path && *nats_config_path)
        err = check_nats(sh->table, nats_config_path, errbuf, errlen);
    if (err) {
        churn_shard_close(sh);
        return err;
    }
    churn_log(
        CHURN_LOG_INFO, "cluster_shard", CHURN_LF_STR("shard", name),
        CHURN_LF_STR("table", table_path), CHURN_LF_INT("epoch", (long long)sh->table->epoch),
        CHURN_LF_INT("partitions_owned", (long long)churn_cluster_owned_count(sh->table, sh->self)),
        CHURN_LF_INT("partitions", (long long)sh->table->partitions));
    *out = sh;
    return CHURN_OK;
}

/* End the tracked streams whose customer is not owned here any more; caller holds mu. */
static size_t
end_moved_streams_locked(struct churn_shard *sh)
{
    const struct churn_cluster_table *t = sh->table;
    size_t k = 0, ended = 0;
    for (size_t i = 0; i < sh->n_streams; i++) {
        struct stream_ref *r = &sh->streams[i];
        size_t len = strlen(r->customer);
        uint32_t part = churn_cluster_partition_of(r->customer, len, t->partitions);
        bool owned = t->owner[part] == sh->self && !t->moving[part];
        if (owned && !churn_rpc_is_over(r->rpc)) {
            sh->streams[k++] = *r;
            continue;
        }
        if (!owned && !churn_rpc_is_over(r->rpc)) {
            const struct churn_cluster_shard *o = &t->shards[t->owner[part]];
            churn_rpc_finish(r->rpc, t->moving[part] ? CHURN_EUNAVAIL : CHURN_EPRECOND,
                             "customer '%s' moved to shard %s (%s) at epoch %" PRIu64, r->customer,
                             o->name, o->addr, t->epoch);
            ended++;
        }
        churn_rpc_unref(r->rpc);
    }
    sh->n_streams = k;
    return ended;
}

/* @len bytes of @text as the table file @path: a synced temporary file renamed over it. */
static enum churn_err
write_table_file(const char *path, const char *text, size_t len, char *errbuf, size_t errlen)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp))
        return churn_fail(errbuf, errlen, CHURN_EIO, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return churn_fail(errbuf, errlen, CHURN_EIO, "%s: %s", tmp, strerror(errno));
    size_t done = 0;
    ssize_t n = 0;
    while (done < len && (n = write(fd, text + done, len - done)) > 0)
        done += (size_t)n;
    int saved = n < 0 ? errno : 0;
    bool ok = done == len && fsync(fd) == 0;
    saved = ok ? 0 : (saved ? saved : errno);
    if (close(fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        saved = errno;
    }
    if (ok)
        return CHURN_OK;
    unlink(tmp);
    return churn_fail(errbuf, errlen, CHURN_EIO, "%s: cannot write the table: %s", path,
                      strerror(saved ? saved : EIO));
}

/* May @next (read from @source) follow the table in force? Caller holds reload_mu. */
static enum churn_err
check_next_locked(struct churn_shard *sh, const char *source,
                  const struct churn_cluster_table *next, char *errbuf, size_t errlen)
{
    char msg[512];
    enum churn_err err = churn_cluster_table_check_successor(sh->table, next, msg, sizeof(msg));
    if (err)
        return churn_fail(errbuf, errlen, err, "%s: %s", source, msg);
    return CHURN_OK;
}

/* Swap @next (this shard at @self) in, ending moved streams; caller holds reload_mu. */
static void
swap_in_locked(struct churn_shard *sh, struct churn_cluster_table *next, int self,
               struct churn_shard_change *change)
{
    struct churn_shard_change c = {.previous_epoch = sh->table->epoch, .epoch = next->epoch};
    for (uint32_t i = 0; i < next->partitions; i++)
        if (next->owner[i] == self) {
            c.owned++;
            c.moving += next->moving[i];
        }
    pthread_mutex_lock(&sh->mu);
    struct churn_cluster_table *old = sh->table;
    sh->table = next;
    sh->self = self;
    c.streams_ended = end_moved_streams_locked(sh);
    pthread_mutex_unlock(&sh->mu);
    churn_cluster_table_free(old);
    if (change)
        *change = c;
}

/* Check @next (from @source) and, when @text is not NULL, write it to the table file; then put
 * it in force. Takes @next in every case. */
static enum churn_err
change_table(struct churn_shard *sh, const char *source, struct churn_cluster_table *next,
             const char *text, size_t len, struct churn_shard_change *change, char *errbuf,
             size_t errlen)
{
    int self;
    pthread_mutex_lock(&sh->reload_mu);
    enum churn_err err = find_self(next, source, sh->name, &self, errbuf, errlen);
    if (!err)
        err = check_next_locked(sh, source, next, errbuf, errlen);
    if (!err && text)
        err = write_table_file(sh->path, text, len, errbuf, errlen);
    if (!err) {
        swap_in_locked(sh, next, self, change);
        next = NULL;
    }
    pthread_mutex_unlock(&sh->reload_mu);
    churn_cluster_table_free(next);
    return err;
}

enum churn_err
churn_shard_install(struct churn_shard *sh, const char *text, size_t len,
                    struct churn_shard_change *change, char *errbuf, size_t errlen)
{
    struct churn_cluster_table *next;
    const char *source = len ? "table" : sh->path;
    enum churn_err err = len ? churn_cluster_table_parse(source, text, len, &next, errbuf, errlen)
                             : churn_cluster_table_load(sh->path, &next, errbuf, errlen);
    if (err)
        return err;
    return change_table(sh, source, next, len ? text : NULL, len, change, errbuf, errlen);
}

enum churn_err
churn_shard_reload(struct churn_shard *sh, size_t *ended, char *errbuf, size_t errlen)
{
    struct churn_shard_change c;
    enum churn_err err = churn_shard_install(sh, NULL, 0, &c, errbuf, errlen);
    if (!err && ended)
        *ended = c.streams_ended;
    return err;
}

void
churn_shard_sighup(struct churn_shard *sh)
{
    char err[1024];
    size_t ended = 0;
    if (churn_shard_reload(sh, &ended, err, sizeof(err)) != CHURN_OK) {
        churn_log(CHURN_LOG_ERROR, "cluster_table_refused", CHURN_LF_STR("error", err),
                  CHURN_LF_STR("msg", "the table in force stays"));
        return;
    }
    churn_shard_log_reloaded(sh, ended, "sighup");
}

void
churn_shard_log_reloaded(struct churn_shard *sh, size_t streams_ended, const char *how)
{
    churn_log(CHURN_LOG_INFO, "cluster_table_reloaded", CHURN_LF_STR("shard", sh->name),
              CHURN_LF_INT("epoch", (long long)churn_shard_epoch(sh)),
              CHURN_LF_INT("streams_ended", (long long)streams_ended), CHURN_LF_STR("by", how));
}

const char *
churn_shard_name(const struct churn_shard *sh)
{
    return sh->name;
}

enum churn_err
churn_shard_owned(struct churn_shard *sh, uint32_t **parts, size_t *n)
{
    pthread_mutex_lock(&sh->mu);
    const struct churn_cluster_table *t = sh->table;
    uint32_t *p = churn_malloc((size_t)t->partitions * sizeof(*p));
    size_t k = 0;
    for (uint32_t i = 0; p && i < t->partitions; i++)
        if (t->owner[i] == sh->self)
            p[k++] = i;
    pthread_mutex_unlock(&sh->mu);
    *parts = p;
    *n = k;
    return p ? CHURN_OK : CHURN_ENOMEM;
}

uint32_t
churn_shard_partitions(struct churn_shard *sh)
{
    pthread_mutex_lock(&sh->mu);
    uint32_t p = sh->table->partitions;
    pthread_mutex_unlock(&sh->mu);
    return p;
}

bool
churn_shard_serves(struct churn_shard *sh, uint32_t part)
{
    pthread_mutex_lock(&sh->mu);
    const struct churn_cluster_table *t = sh->table;
    bool yes = part < t->partitions && t->owner[part] == sh->self && !t->moving[part];
    pthread_mutex_unlock(&sh->mu);
    return yes;
}

bool
churn_shard_serves_customer(void *shard, const char *id)
{
    struct churn_shard *sh = shard;
    return churn_shard_serves(
        sh, churn_cluster_partition_of(id, strlen(id), churn_shard_partitions(sh)));
}

bool
churn_shard_may_drop(struct churn_shard *sh, uint32_t part, char *why, size_t len)
{
    pthread_mutex_lock(&sh->mu);
    const struct churn_cluster_table *t = sh->table;
    bool mine = part < t->partitions && t->owner[part] == sh->self;
    bool moving = part < t->partitions && t->moving[part];
    if (mine)
        snprintf(why, len,
                 "partition %u is owned by this shard (epoch %llu): only a copy another "
                 "shard owns may be dropped",
                 part, (unsigned long long)t->epoch);
    else if (moving)
        snprintf(why, len, "partition %u is moving (epoch %llu): finish the move first", part,
                 (unsigned long long)t->epoch);
    pthread_mutex_unlock(&sh->mu);
    return !mine && !moving;
}

uint64_t
churn_shard_epoch(struct churn_shard *sh)
{
    pthread_mutex_lock(&sh->mu);
    uint64_t e = sh->table->epoch;
    pthread_mutex_unlock(&sh->mu);
    return e;
}

void
churn_shard_close(struct churn_shard *sh)
{
    if (!sh)
        return;
    for (size_t i = 0; i < sh->n_streams; i++)
        churn_rpc_unref(sh->streams[i].rpc);
    churn_free(sh->streams);
    churn_cluster_table_free(sh->table);
    pthread_mutex_destroy(&sh->mu);
    pthread_mutex_destroy(&sh->reload_mu);
    churn_free(sh->path);
    churn_free(sh);
}
