/*
 * table.c - the partition table: FNV-1a-32 partitioning, parsing and validating the table
 * file (gaps, overlaps, unknown shards, ranges, epochs), the successor check of a reload,
 * the check of a NATS configuration's partition() mapping, and ownership look-ups.
 */
#include "churn/cluster.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"

#define FNV32_OFFSET 2166136261u
#define FNV32_PRIME  16777619u
#define MAX_WORDS    6
#define LINE_MAX_LEN 1024

uint32_t
churn_cluster_hash(const char *id, size_t len)
{
    uint32_t h = FNV32_OFFSET;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)id[i]) * FNV32_PRIME;
    return h;
}

uint32_t
churn_cluster_partition_of(const char *id, size_t len, uint32_t partitions)
{
    return churn_cluster_hash(id, len) % partitions;
}

/* The parser's state: the table being built and, per partition, the line assigning it. */
struct parse {
    const char *source;
    struct churn_cluster_table *t;
    uint32_t *assigned_on; /* [CHURN_CLUSTER_PARTITIONS_MAX]: line number, 0 = none */
    int lineno;
    bool have_partitions, have_epoch, have_assign;
    char *errbuf;
    size_t errlen;
};

static enum churn_err fail(struct parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum churn_err
fail(struct parse *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    churn_errf(p->errbuf, p->errlen, "%s:%d: %s", p->source, p->lineno, msg);
    return CHURN_EINVAL;
}

static bool
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v > max)
        return false;
    *out = v;
    return true;
}

static bool
valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= CHURN_CLUSTER_NAME_MAX || !isalnum((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
              s[i] == '_'))
            return false;
    return true;
}

static bool
valid_addr(const char *s)
{
    const char *colon = strrchr(s, ':');
    uint64_t port;
    return colon && colon > s && strlen(s) < CHURN_CLUSTER_ADDR_MAX &&
           parse_u64(colon + 1, 65535, &port) && port > 0 && !strpbrk(s, " \t\"'#;");
}

static enum churn_err
kw_partitions(struct parse *p, char **w, int n)
{
    uint64_t v;
    if (n != 2 || !parse_u64(w[1], CHURN_CLUSTER_PARTITIONS_MAX, &v) || v == 0)
        return fail(p, "partitions: '%s' is not a count from 1 to 65536", n > 1 ? w[1] : "");
    if (p->have_partitions)
        return fail(p, "partitions: given twice");
    if (p->have_assign)
        return fail(p, "partitions: must come before the first assign line");
    p->t->partitions = (uint32_t)v;
    p->have_partitions = true;
    return CHURN_OK;
}

static enum churn_err
kw_epoch(struct parse *p, char **w, int n)
{
    uint64_t v;
    if (n != 2 || !parse_u64(w[1], UINT64_MAX, &v))
        return fail(p, "epoch: '%s' is not a non-negative integer", n > 1 ? w[1] : "");
    if (p->have_epoch)
        return fail(p, "epoch: given twice");
    p->t->epoch = v;
    p->have_epoch = true;
    return CHURN_OK;
}

static enum churn_err
kw_shard(struct parse *p, char **w, int n)
{
    struct churn_cluster_table *t = p->t;
    if (n != 3)
        return fail(p, "shard: expected `shard NAME HOST:PORT`");
    if (!valid_name(w[1]))
        return fail(p, "shard: '%s' is not a name ([a-z0-9_-], at most 31 bytes)", w[1]);
    if (!valid_addr(w[2]))
        return fail(p, "shard %s: '%s' is not HOST:PORT", w[1], w[2]);
    if (churn_cluster_shard_index(t, w[1]) >= 0)
        return fail(p, "shard %s: declared twice", w[1]);
    if (t->n_shards == CHURN_CLUSTER_SHARDS_MAX)
        return fail(p, "shard %s: more than 64 shards", w[1]);
    struct churn_cluster_shard *s = &t->shards[t->n_shards++];
    snprintf(s->name, sizeof(s->name), "%s", w[1]);
    snprintf(s->addr, sizeof(s->addr), "%s", w[2]);
    return CHURN_OK;
}

static enum churn_err
kw_nats(struct parse *p, char **w, int n)
{
    struct churn_cluster_table *t = p->t;
    if (n != 4)
        return fail(p, "nats: expected `nats NAME CLIENT_HOST:PORT ROUTE_HOST:PORT`");
    if (!valid_name(w[1]))
        return fail(p, "nats: '%s' is not a name ([a-z0-9_-], at most 31 bytes)", w[1]);
    if (!valid_addr(w[2]) || !valid_addr(w[3]))
        return fail(p, "nats %s: '%s' is not HOST:PORT", w[1], valid_addr(w[2]) ? w[3] : w[2]);
    for (size_t i = 0; i < t->n_nats; i++)
        if (strcmp(t->nats[i].name, w[1]) == 0)
            return fail(p, "nats %s: declared twice", w[1]);
    if (t->n_nats == CHURN_CLUSTER_NATS_MAX)
        return fail(p, "nats %s: more than 16 nodes", w[1]);
    struct churn_cluster_nats *s = &t->nats[t->n_nats++];
    snprintf(s->name, sizeof(s->name), "%s", w[1]);
    snprintf(s->client, sizeof(s->client), "%s", w[2]);
    snprintf(s->route, sizeof(s->route), "%s", w[3]);
    return CHURN_OK;
}

static enum churn_err
kw_proxy(struct parse *p, char **w, int n)
{
    if (n != 2 || !valid_addr(w[1]))
        return fail(p, "proxy: '%s' is not HOST:PORT", n > 1 ? w[1] : "");
    snprintf(p->t->proxy, sizeof(p->t->proxy), "%s", w[1]);
    return CHURN_OK;
}

enum range_result { RANGE_OK, RANGE_MALFORMED, RANGE_OUTSIDE };

/* "12" or "12-40" within 0..@partitions-1 into [*lo, *hi]. */
static enum range_result
range_of(const char *text, uint32_t partitions, uint32_t *lo, uint32_t *hi)
{
    char a[32] = "", b[32] = "";
    const char *dash = strchr(text, '-');
    size_t alen = dash ? (size_t)(dash - text) : strlen(text);
    if (alen >= sizeof(a) || (dash && strlen(dash + 1) >= sizeof(b)))
        return RANGE_MALFORMED;
    memcpy(a, text, alen);
    snprintf(b, sizeof(b), "%s", dash ? dash + 1 : a);
    uint64_t x, y;
    if (!parse_u64(a, UINT32_MAX, &x) || !parse_u64(b, UINT32_MAX, &y) || x > y)
        return RANGE_MALFORMED;
    if (y >= partitions)
        return RANGE_OUTSIDE;
    *lo = (uint32_t)x;
    *hi = (uint32_t)y;
    return RANGE_OK;
}

static enum churn_err
parse_range(struct parse *p, const char *text, uint32_t *lo, uint32_t *hi)
{
    enum range_result r = range_of(text, p->t->partitions, lo, hi);
    if (r == RANGE_MALFORMED)
        return fail(p, "assign: '%s' is not a partition or FROM-TO range", text);
    if (r == RANGE_OUTSIDE)
        return fail(p, "assign: '%s' is out of range: partitions are 0-%" PRIu32, text,
                    p->t->partitions - 1);
    return CHURN_OK;
}

static enum churn_err
kw_assign(struct parse *p, char **w, int n)
{
    if (!p->have_partitions)
        return fail(p, "assign: `partitions P` must come first");
    if (n < 3 || n > 4 || (n == 4 && strcmp(w[3], "moving") != 0))
        return fail(p, "assign: expected `assign FROM-TO SHARD [moving]`");
    int shard = churn_cluster_shard_index(p->t, w[2]);
    if (shard < 0)
        return fail(p, "assign %s: unknown shard '%s' (declare it with a shard line first)", w[1],
                    w[2]);
    uint32_t lo = 0, hi = 0;
    enum churn_err err = parse_range(p, w[1], &lo, &hi);
    if (err)
        return err;
    for (uint32_t i = lo; i <= hi; i++) {
        if (p->assigned_on[i]) {
            uint32_t end = i;
            while (end < hi && p->assigned_on[end + 1])
                end++;
            return fail(p,
                        "assign: overlap: partitions %" PRIu32 "-%" PRIu32
                        " are already assigned to %s on line %" PRIu32,
                        i, end, p->t->shards[p->t->owner[i]].name, p->assigned_on[i]);
        }
        p->assigned_on[i] = (uint32_t)p->lineno;
        p->t->owner[i] = (uint8_t)shard;
        p->t->moving[i] = n == 4;
    }
    p->have_assign = true;
    return CHURN_OK;
}

static enum churn_err
parse_line(struct parse *p, char *line)
{
    char *w[MAX_WORDS + 1];
    int n = 0;
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    for (char *s = line; *s && n <= MAX_WORDS;) {
        while (*s == ' ' || *s == '\t' || *s == '\r')
            *s++ = '\0';
        if (!*s)
            break;
        w[n++] = s;
        while (*s && *s != ' ' && *s != '\t' && *s != '\r')
            s++;
    }
    if (n == 0)
        return CHURN_OK;
    if (n > MAX_WORDS)
        return fail(p, "%s: too many words", w[0]);
    if (strcmp(w[0], "partitions") == 0)
        return kw_partitions(p, w, n);
    if (strcmp(w[0], "epoch") == 0)
        return kw_epoch(p, w, n);
    if (strcmp(w[0], "shard") == 0)
        return kw_shard(p, w, n);
    if (strcmp(w[0], "nats") == 0)
        return kw_nats(p, w, n);
    if (strcmp(w[0], "proxy") == 0)
        return kw_proxy(p, w, n);
    if (strcmp(w[0], "assign") == 0)
        return kw_assign(p, w, n);
    return fail(p, "unknown keyword '%s' (partitions, epoch, proxy, shard, nats, assign)", w[0]);
}

/* After the last line: the whole table must be there, every partition owned exactly once. */
static enum churn_err
check_complete(struct parse *p)
{
    struct churn_cluster_table *t = p->t;
    const char *src = p->source;
    if (!p->have_partitions)
        return churn_fail(p->errbuf, p->errlen, CHURN_EINVAL, "%s: no `partitions P` line", src);
    if (!p->have_epoch)
        return churn_fail(p->errbuf, p->errlen, CHURN_EINVAL, "%s: no `epoch N` line", src);
    if (t->n_shards == 0)
        return churn_fail(p->errbuf, p->errlen, CHURN_EINVAL, "%s: no shard lines", src);
    for (uint32_t i = 0; i < t->partitions; i++) {
        if (p->assigned_on[i])
            continue;
        uint32_t end = i;
        while (end + 1 < t->partitions && !p->assigned_on[end + 1])
            end++;
        return churn_fail(p->errbuf, p->errlen, CHURN_EINVAL,
                          "%s: gap: partitions %" PRIu32 "-%" PRIu32 " have no shard", src, i, end);
    }
    for (size_t s = 0; s < t->n_shards; s++)
        if (churn_cluster_owned_count(t, (int)s) == 0)
            return churn_fail(p->errbuf, p->errlen, CHURN_EINVAL,
                              "%s: shard %s owns no partition (assign it some, or remove it)", src,
                              t->shards[s].name);
    return CHURN_OK;
}

static struct churn_cluster_table *
table_new(void)
{
    struct churn_cluster_table *t = churn_calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->owner = churn_calloc(CHURN_CLUSTER_PARTITIONS_MAX, 1);
    t->moving = churn_calloc(CHURN_CLUSTER_PARTITIONS_MAX, 1);
    if (!t->owner || !t->moving) {
        churn_cluster_table_free(t);
        return NULL;
    }
    return t;
}

static enum churn_err
parse_lines(struct parse *p, const char *text, size_t len)
{
    char line[LINE_MAX_LEN];
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        p->lineno++;
        if (n >= sizeof(line))
            return fail(p, "line is over 1023 bytes");
        memcpy(line, text + pos, n);
        line[n] = '\0';
        if (memchr(line, '\0', n))
            return fail(p, "NUL byte in the line");
        enum churn_err err = parse_line(p, line);
        if (err)
            return err;
        pos += n + 1;
    }
    return check_complete(p);
}

enum churn_err
churn_cluster_table_parse(const char *source, const char *text, size_t len,
                          struct churn_cluster_table **out, char *errbuf, size_t errlen)
{
    struct parse p = {.source = source ? source : "table", .errbuf = errbuf, .errlen = errlen};
    p.t = table_new();
    p.assigned_on = churn_calloc(CHURN_CLUSTER_PARTITIONS_MAX, sizeof(uint32_t));
    if (!p.t || !p.assigned_on) {
        churn_free(p.assigned_on);
        churn_cluster_table_free(p.t);
        return churn_fail(errbuf, errlen, CHURN_ENOMEM, "%s: out of memory", p.source);
    }
    enum churn_err err = parse_lines(&p, text, len);
    churn_free(p.assigned_on);
    if (err) {
        churn_cluster_table_free(p.t);
        return err;
    }
    *out = p.t;
    return CHURN_OK;
}

enum churn_err
churn_cluster_table_load(const char *path, struct churn_cluster_table **out, char *errbuf,
                         size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        enum churn_err err = churn_err_from_errno(errno);
        churn_errf(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
        return err;
    }
    enum churn_err err = CHURN_OK;
    char *text = churn_malloc(CHURN_CLUSTER_FILE_MAX + 1);
    if (!text) {
        err = churn_fail(errbuf, errlen, CHURN_ENOMEM, "%s: out of memory", path);
        goto out_file;
    }
    size_t n = fread(text, 1, CHURN_CLUSTER_FILE_MAX + 1, f);
    if (ferror(f))
        err = churn_fail(errbuf, errlen, CHURN_EIO, "%s: read error", path);
    else if (n > CHURN_CLUSTER_FILE_MAX)
        err = churn_fail(errbuf, errlen, CHURN_ETOOBIG, "%s: over %d bytes", path,
                         CHURN_CLUSTER_FILE_MAX);
    else
        err = churn_cluster_table_parse(path, text, n, out, errbuf, errlen);
    churn_free(text);
out_file:
    fclose(f);
    return err;
}

void
churn_cluster_table_free(struct churn_cluster_table *t)
{
    if (!t)
        return;
    churn_free(t->owner);
    churn_free(t->moving);
    churn_free(t);
}

static bool
same_assignment(const struct churn_cluster_table *a, const struct churn_cluster_table *b)
{
    for (uint32_t i = 0; i < a->partitions; i++) {
        if (strcmp(a->shards[a->owner[i]].name, b->shards[b->owner[i]].name) != 0 ||
            a->moving[i] != b->moving[i])
            return false;
    }
    return true;
}

enum churn_err
churn_cluster_table_check_successor(const struct churn_cluster_table *cur,
                                    const struct churn_cluster_table *next, char *errbuf,
                                    size_t errlen)
{
    if (next->partitions != cur->partitions)
        return churn_fail(errbuf, errlen, CHURN_EPRECOND,
                          "partitions %" PRIu32 " differs from %" PRIu32
                          " in force: P is fixed for a cluster (move partitions instead)",
                          next->partitions, cur->partitions);
    if (next->epoch < cur->epoch)
        return churn_fail(errbuf, errlen, CHURN_EPRECOND,
                          "epoch %" PRIu64 " is lower than epoch %" PRIu64 " in force", next->epoch,
                          cur->epoch);
    if (next->epoch == cur->epoch && !same_assignment(cur, next))
        return churn_fail(errbuf, errlen, CHURN_EPRECOND,
                          "the assignment changed but the epoch is still %" PRIu64
                          ": raise the epoch",
                          next->epoch);
    return CHURN_OK;
}

enum churn_err
churn_cluster_table_check_nats(const struct churn_cluster_table *t, const char *conf, char *errbuf,
                               size_t errlen)
{
    const char *at = strstr(conf, "partition(");
    if (!at)
        return churn_fail(errbuf, errlen, CHURN_EINVAL,
                          "the NATS configuration maps no subject with partition(P, ...): "
                          "ingestion would not be partitioned like the table (P = %" PRIu32 ")",
                          t->partitions);
    for (; at; at = strstr(at + 1, "partition(")) {
        char *end;
        unsigned long p = strtoul(at + strlen("partition("), &end, 10);
        if (p != t->partitions)
            return churn_fail(errbuf, errlen, CHURN_EINVAL,
                              "the NATS mapping partitions into %lu, the table into %" PRIu32
                              ": both must use the same P",
                              p, t->partitions);
    }
    return CHURN_OK;
}

int
churn_cluster_shard_index(const struct churn_cluster_table *t, const char *name)
{
    for (size_t i = 0; i < t->n_shards; i++)
        if (strcmp(t->shards[i].name, name) == 0)
            return (int)i;
    return -1;
}

const struct churn_cluster_shard *
churn_cluster_owner(const struct churn_cluster_table *t, const char *id, size_t len)
{
    return &t->shards[t->owner[churn_cluster_partition_of(id, len, t->partitions)]];
}

uint32_t
churn_cluster_owned_count(const struct churn_cluster_table *t, int shard)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->partitions; i++)
        n += t->owner[i] == shard;
    return n;
}

enum churn_err
churn_cluster_ranges(const struct churn_cluster_table *t, int shard, struct churn_buf *out)
{
    bool first = true;
    for (uint32_t i = 0; i < t->partitions; i++) {
        if (t->owner[i] != shard)
            continue;
        uint32_t end = i;
        while (end + 1 < t->partitions && t->owner[end + 1] == shard)
            end++;
        enum churn_err err =
            end == i ? churn_buf_printf(out, "%s%" PRIu32, first ? "" : ",", i)
                     : churn_buf_printf(out, "%s%" PRIu32 "-%" PRIu32, first ? "" : ",", i, end);
        if (err)
            return err;
        first = false;
        i = end;
    }
    return CHURN_OK;
}

/* Every shard must keep a partition: the parser refuses a table where one owns none. */
static enum churn_err
check_every_shard_owns(const struct churn_cluster_table *t, char *errbuf, size_t errlen)
{
    for (size_t s = 0; s < t->n_shards; s++)
        if (churn_cluster_owned_count(t, (int)s) == 0)
            return churn_fail(errbuf, errlen, CHURN_EINVAL,
                              "shard %s would own no partition: remove it from the table "
                              "instead, or keep it one",
                              t->shards[s].name);
    return CHURN_OK;
}

enum churn_err
churn_cluster_parse_range(const struct churn_cluster_table *t, const char *range, uint32_t *lo,
                          uint32_t *hi, char *errbuf, size_t errlen)
{
    enum range_result r = range_of(range, t->partitions, lo, hi);
    if (r != RANGE_OK)
        return churn_fail(
            errbuf, errlen, CHURN_EINVAL, "--partitions: '%s' is %s (partitions are 0-%" PRIu32 ")",
            range, r == RANGE_MALFORMED ? "not a partition or FROM-TO range" : "out of range",
            t->partitions - 1);
    return CHURN_OK;
}

enum churn_err
churn_cluster_table_begin_move(struct churn_cluster_table *t, const char *range, const char *to,
                               char *errbuf, size_t errlen)
{
    uint32_t lo = 0, hi = 0;
    enum churn_err rerr = churn_cluster_parse_range(t, range, &lo, &hi, errbuf, errlen);
    if (rerr)
        return rerr;
    int dest = churn_cluster_shard_index(t, to);
    if (dest < 0)
        return churn_fail(errbuf, errlen, CHURN_EINVAL, "--to: no shard named '%s' in the table",
                          to);
    for (uint32_t i = 0; i < t->partitions; i++)
        if (t->moving[i])
            return churn_fail(errbuf, errlen, CHURN_EPRECOND,
                              "partition %" PRIu32 " is moving to shard %s (epoch %" PRIu64
                              "): finish that move first",
                              i, t->shards[t->owner[i]].name, t->epoch);
    for (uint32_t i = lo; i <= hi; i++)
        if (t->owner[i] == dest)
            return churn_fail(errbuf, errlen, CHURN_EINVAL,
                              "partition %" PRIu32 " already belongs to shard %s", i, to);
    uint8_t *before = churn_malloc(t->partitions);
    if (!before)
        return churn_fail(errbuf, errlen, CHURN_ENOMEM, "out of memory");
    memcpy(before, t->owner, t->partitions);
    for (uint32_t i = lo; i <= hi; i++) {
        t->owner[i] = (uint8_t)dest;
        t->moving[i] = 1;
    }
    enum churn_err err = check_every_shard_owns(t, errbuf, errlen);
    if (err) {
        memcpy(t->owner, before, t->partitions);
        memset(t->moving + lo, 0, (size_t)(hi - lo) + 1);
    } else {
        t->epoch++;
    }
    churn_free(before);
    return err;
}

enum churn_err
churn_cluster_table_finish_moves(struct churn_cluster_table *t, char *errbuf, size_t errlen)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->partitions; i++) {
        n += t->moving[i];
        t->moving[i] = 0;
    }
    if (n == 0)
        return churn_fail(errbuf, errlen, CHURN_EINVAL,
                          "no partition is moving at epoch %" PRIu64 ": nothing to finish",
                          t->epoch);
    t->epoch++;
    return CHURN_OK;
}

enum churn_err
churn_cluster_table_format(const struct churn_cluster_table *t, struct churn_buf *out)
{
    enum churn_err err = churn_buf_printf(out, "partitions %" PRIu32 "\nepoch %" PRIu64 "\n",
                                          t->partitions, t->epoch);
    if (!err && *t->proxy)
        err = churn_buf_printf(out, "proxy %s\n", t->proxy);
    for (size_t i = 0; !err && i < t->n_shards; i++)
        err = churn_buf_printf(out, "shard %s %s\n", t->shards[i].name, t->shards[i].addr);
    for (size_t i = 0; !err && i < t->n_nats; i++)
        err = churn_buf_printf(out, "nats %s %s %s\n", t->nats[i].name, t->nats[i].client,
                               t->nats[i].route);
    for (uint32_t i = 0; !err && i < t->partitions;) {
        uint32_t end = i;
        while (end + 1 < t->partitions && t->owner[end + 1] == t->owner[i] &&
               t->moving[end + 1] == t->moving[i])
            end++;
        err = churn_buf_printf(out, "assign %" PRIu32 "-%" PRIu32 " %s%s\n", i, end,
                               t->shards[t->owner[i]].name, t->moving[i] ? " moving" : "");
        i = end + 1;
    }
    return err;
}
