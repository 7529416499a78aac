/*
 * auth.c - the token file, the method → role table and the check (churn/auth.h): a table
 * of SHA-256 token hashes and certificate common names with their roles, parsed with
 * file:line errors, swapped whole under a read-write lock on reload, and looked up in
 * constant time per entry. No token or hash ever reaches a message or a log line.
 */
#include "churn/auth.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "churn/alloc.h"
#include "churn/file.h"

#define TOKEN_FILE_MAX (1 << 20) /* bytes */
#define TOKEN_MAX      4096      /* bytes of a bearer token */
#define CN_MAX         256       /* bytes of a certificate common name */
#define LINE_MAX_BYTES 4096
#define BEARER         "bearer "
#define BEARER_LEN     (sizeof(BEARER) - 1)

struct entry {
    char name[CHURN_AUTH_NAME_MAX];
    unsigned char hash[SHA256_DIGEST_LENGTH]; /* token lines */
    char cn[CN_MAX];                          /* certificate lines ("" for tokens) */
    unsigned roles;
};

struct table {
    struct entry *entries;
    size_t n;
};

struct churn_auth {
    char *path;
    pthread_rwlock_t lock;
    struct table *table; /* (lock) */
};

static const struct {
    const char *name;
    enum churn_role role;
} role_names[] = {
    {"read", CHURN_ROLE_READ},
    {"ingest", CHURN_ROLE_INGEST},
    {"operate", CHURN_ROLE_OPERATE},
    {"admin", CHURN_ROLE_ADMIN},
};

#define N_ROLES (sizeof(role_names) / sizeof(role_names[0]))

const char *
churn_role_name(enum churn_role role)
{
    for (size_t i = 0; i < N_ROLES; i++)
        if (role_names[i].role == role)
            return role_names[i].name;
    return "none";
}

/* ---- the method table: the one place that says which role a method needs ------------- */

static const struct {
    const char *prefix; /* a full method path, or a "/pkg.Service/" prefix */
    enum churn_role role;
} method_roles[] = {
    {"/churn.v1.ScoringService/", CHURN_ROLE_READ},
    {"/churn.v1.IngestService/GetCustomer", CHURN_ROLE_READ},
    {"/churn.v1.IngestService/DeleteCustomer", CHURN_ROLE_ADMIN},
    {"/churn.v1.IngestService/", CHURN_ROLE_INGEST},
    {"/churn.v1.ChatService/", CHURN_ROLE_INGEST},
    {"/churn.v1.AlertService/WatchAlerts", CHURN_ROLE_READ},
    {"/churn.v1.AlertService/ListAlerts", CHURN_ROLE_READ},
    {"/churn.v1.AlertService/", CHURN_ROLE_OPERATE},
    {"/churn.v1.ModelService/GetModelInfo", CHURN_ROLE_READ},
    {"/churn.v1.ModelService/ListModels", CHURN_ROLE_READ},
    {"/churn.v1.ModelService/", CHURN_ROLE_ADMIN},
    {"/churn.v1.AdminService/", CHURN_ROLE_ADMIN}, /* backups (issue 18) */
};

static bool
is_open_service(const char *path, size_t len)
{
    static const char *const open[] = {"/grpc.health.v1.Health/",
                                       "/grpc.reflection.v1.ServerReflection/",
                                       "/grpc.reflection.v1alpha.ServerReflection/"};
    for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++)
        if (len > strlen(open[i]) && memcmp(path, open[i], strlen(open[i])) == 0)
            return true;
    return false;
}

enum churn_role
churn_auth_method_role(const char *path, size_t len, bool open_health_reflection)
{
    if (is_open_service(path, len))
        return open_health_reflection ? CHURN_ROLE_NONE : CHURN_ROLE_READ;
    for (size_t i = 0; i < sizeof(method_roles) / sizeof(method_roles[0]); i++) {
        size_t pl = strlen(method_roles[i].prefix);
        bool whole = method_roles[i].prefix[pl - 1] != '/';
        if (whole ? len == pl && memcmp(path, method_roles[i].prefix, pl) == 0
                  : len > pl && memcmp(path, method_roles[i].prefix, pl) == 0)
            return method_roles[i].role;
    }
    return CHURN_ROLE_ADMIN; /* a method nobody classified: the strictest role */
}

/* ---- parsing ---------------------------------------------------------------------------- */

void
churn_auth_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(data, len, d);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[64] = '\0';
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool
parse_hash(const char *s, size_t n, unsigned char out[SHA256_DIGEST_LENGTH])
{
    if (n != 2 * SHA256_DIGEST_LENGTH)
        return false;
    for (size_t i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* "read,operate" → bits; on error @bad points at the unknown role (@badlen bytes). */
static unsigned
parse_roles(const char *s, size_t n, const char **bad, size_t *badlen)
{
    unsigned roles = 0;
    for (size_t pos = 0; pos <= n;) {
        const char *comma = memchr(s + pos, ',', n - pos);
        size_t l = comma ? (size_t)(comma - (s + pos)) : n - pos;
        unsigned r = 0;
        for (size_t i = 0; i < N_ROLES; i++)
            if (strlen(role_names[i].name) == l && memcmp(role_names[i].name, s + pos, l) == 0)
                r = role_names[i].role;
        if (!r) {
            *bad = s + pos;
            *badlen = l;
            return 0;
        }
        roles |= r;
        pos += l + 1;
    }
    return roles;
}

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Split @line into up to 4 blank-separated fields; returns how many there are. */
static int
split_fields(char *line, char **f, size_t *fl)
{
    int n = 0;
    for (char *p = line; *p;) {
        while (is_blank(*p))
            p++;
        if (!*p)
            break;
        char *start = p;
        while (*p && !is_blank(*p))
            p++;
        if (n < 4) {
            f[n] = start;
            fl[n] = (size_t)(p - start);
        }
        n++;
    }
    return n;
}

/* Fill @e from the fields of one line; @err without the "file:line: " prefix. */
static enum churn_err
parse_entry(char **f, size_t *fl, struct entry *e, char *err, size_t errlen)
{
    memset(e, 0, sizeof(*e));
    if (fl[0] >= CHURN_AUTH_NAME_MAX)
        return churn_fail(err, errlen, CHURN_EINVAL, "name: over %d bytes",
                          CHURN_AUTH_NAME_MAX - 1);
    memcpy(e->name, f[0], fl[0]);
    if (fl[1] > 3 && memcmp(f[1], "cn=", 3) == 0) {
        if (fl[1] - 3 >= CN_MAX)
            return churn_fail(err, errlen, CHURN_EINVAL, "cn=: over %d bytes", CN_MAX - 1);
        memcpy(e->cn, f[1] + 3, fl[1] - 3);
    } else if (!parse_hash(f[1], fl[1], e->hash)) {
        return churn_fail(err, errlen, CHURN_EINVAL,
                          "second field: not 64 hex digits (the SHA-256 of the token) nor "
                          "cn=COMMON-NAME");
    }
    const char *bad = NULL;
    size_t badlen = 0;
    e->roles = parse_roles(f[2], fl[2], &bad, &badlen);
    if (!e->roles)
        return churn_fail(err, errlen, CHURN_EINVAL,
                          "role '%.*s' is not one of read, ingest, operate, admin",
                          (int)(badlen > 32 ? 32 : badlen), bad);
    return CHURN_OK;
}

/* Parse one line (comment stripped) into @t; blank lines add nothing. */
static enum churn_err
parse_line(char *line, struct table *t, size_t cap, char *err, size_t errlen)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *f[4];
    size_t fl[4];
    int n = split_fields(line, f, fl);
    if (n == 0)
        return CHURN_OK;
    if (n != 3)
        return churn_fail(err, errlen, CHURN_EINVAL,
                          "expected 3 fields (NAME SHA256-HEX ROLE[,ROLE...]), found %d", n);
    if (t->n == cap)
        return churn_fail(err, errlen, CHURN_ETOOBIG, "too many lines");
    struct entry *e = &t->entries[t->n];
    enum churn_err r = parse_entry(f, fl, e, err, errlen);
    for (size_t i = 0; !r && i < t->n; i++)
        if (strcmp(t->entries[i].name, e->name) == 0)
            r = churn_fail(err, errlen, CHURN_EEXIST, "name '%s' appears twice", e->name);
    if (!r)
        t->n++;
    return r;
}

static void
table_free(struct table *t)
{
    if (!t)
        return;
    OPENSSL_cleanse(t->entries, t->n * sizeof(*t->entries));
    churn_free(t->entries);
    churn_free(t);
}

static size_t
count_lines(const char *text, size_t len)
{
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += text[i] == '\n';
    return n;
}

static enum churn_err
parse_text(const char *path, const char *text, size_t len, struct table **out, char *err,
           size_t errlen)
{
    struct table *t = churn_calloc(1, sizeof(*t));
    size_t cap = count_lines(text, len);
    if (!t || !(t->entries = churn_calloc(cap, sizeof(*t->entries)))) {
        churn_free(t);
        return churn_fail(err, errlen, CHURN_ENOMEM, "%s: out of memory", path);
    }
    char line[LINE_MAX_BYTES + 1];
    size_t pos = 0;
    for (int lineno = 1; pos < len; lineno++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        char why[256];
        enum churn_err e = CHURN_OK;
        if (n > LINE_MAX_BYTES)
            e = churn_fail(why, sizeof(why), CHURN_ETOOBIG, "line over %d bytes", LINE_MAX_BYTES);
        else if (memchr(text + pos, '\0', n))
            e = churn_fail(why, sizeof(why), CHURN_EINVAL, "NUL byte in line");
        if (!e) {
            memcpy(line, text + pos, n);
            line[n] = '\0';
            e = parse_line(line, t, cap, why, sizeof(why));
        }
        OPENSSL_cleanse(line, sizeof(line));
        if (e) {
            table_free(t);
            return churn_fail(err, errlen, e, "%s:%d: %s", path, lineno, why);
        }
        pos += n + (nl ? 1 : 0);
    }
    *out = t;
    return CHURN_OK;
}

static enum churn_err
load_table(const char *path, struct table **out, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    enum churn_err e =
        churn_file_read_regular(path, TOKEN_FILE_MAX, false, &text, &len, err, errlen);
    if (e)
        return e;
    e = parse_text(path, text, len, out, err, errlen);
    OPENSSL_cleanse(text, len);
    churn_free(text);
    return e;
}

/* ---- the holder -------------------------------------------------------------------------- */

enum churn_err
churn_auth_open(const char *path, struct churn_auth **out, char *err, size_t errlen)
{
    struct churn_auth *a = churn_calloc(1, sizeof(*a));
    if (!a || !(a->path = churn_strdup(path))) {
        churn_free(a);
        return churn_fail(err, errlen, CHURN_ENOMEM, "out of memory");
    }
    enum churn_err e = load_table(path, &a->table, err, errlen);
    if (e) {
        churn_free(a->path);
        churn_free(a);
        return e;
    }
    pthread_rwlock_init(&a->lock, NULL);
    *out = a;
    return CHURN_OK;
}

enum churn_err
churn_auth_reload(struct churn_auth *a, char *err, size_t errlen)
{
    struct table *t = NULL;
    enum churn_err e = load_table(a->path, &t, err, errlen);
    if (e)
        return e;
    pthread_rwlock_wrlock(&a->lock);
    struct table *old = a->table;
    a->table = t;
    pthread_rwlock_unlock(&a->lock);
    table_free(old);
    return CHURN_OK;
}

void
churn_auth_close(struct churn_auth *a)
{
    if (!a)
        return;
    table_free(a->table);
    pthread_rwlock_destroy(&a->lock);
    churn_free(a->path);
    churn_free(a);
}

size_t
churn_auth_entries(struct churn_auth *a)
{
    pthread_rwlock_rdlock(&a->lock);
    size_t n = a->table->n;
    pthread_rwlock_unlock(&a->lock);
    return n;
}

/* ---- the check --------------------------------------------------------------------------- */

/* The entry whose hash equals @digest: every entry compared in constant time. */
static const struct entry *
find_token(const struct table *t, const unsigned char digest[SHA256_DIGEST_LENGTH])
{
    const struct entry *found = NULL;
    for (size_t i = 0; i < t->n; i++) {
        bool token_line = t->entries[i].cn[0] == '\0';
        bool same = CRYPTO_memcmp(t->entries[i].hash, digest, SHA256_DIGEST_LENGTH) == 0;
        if (token_line && same)
            found = &t->entries[i];
    }
    return found;
}

static const struct entry *
find_cn(const struct table *t, const char *cn)
{
    for (size_t i = 0; cn && i < t->n; i++)
        if (t->entries[i].cn[0] && strcmp(t->entries[i].cn, cn) == 0)
            return &t->entries[i];
    return NULL;
}

static bool
has_bearer_prefix(const char *h, size_t len)
{
    if (len < BEARER_LEN)
        return false;
    for (size_t i = 0; i < BEARER_LEN; i++) {
        char c = h[i] >= 'A' && h[i] <= 'Z' ? (char)(h[i] - 'A' + 'a') : h[i];
        if (c != BEARER[i])
            return false;
    }
    return true;
}

/* Who the credentials name: an entry, or NULL with @err saying why. */
static const struct entry *
authenticate(const struct table *t, const char *authz, size_t len, const char *cert_cn, char *err,
             size_t errlen)
{
    if (!authz) {
        const struct entry *e = find_cn(t, cert_cn);
        if (!e)
            churn_errf(err, errlen,
                       cert_cn ? "the client certificate (cn=%.64s) is not in the token file"
                               : "no credentials: send 'authorization: Bearer TOKEN'%s",
                       cert_cn ? cert_cn : "");
        return e;
    }
    if (!has_bearer_prefix(authz, len)) {
        churn_errf(err, errlen, "authorization: not 'Bearer TOKEN'");
        return NULL;
    }
    if (len - BEARER_LEN > TOKEN_MAX) {
        churn_errf(err, errlen, "authorization: token over %d bytes", TOKEN_MAX);
        return NULL;
    }
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)authz + BEARER_LEN, len - BEARER_LEN, digest);
    const struct entry *e = find_token(t, digest);
    if (!e)
        churn_errf(err, errlen, "authorization: unknown token");
    return e;
}

enum churn_auth_result
churn_auth_check(struct churn_auth *a, const char *authorization, size_t len, const char *cert_cn,
                 enum churn_role needed, struct churn_identity *who, char *err, size_t errlen)
{
    pthread_rwlock_rdlock(&a->lock);
    char why[160] = "";
    const struct entry *e = authenticate(a->table, authorization, len, cert_cn, why, sizeof(why));
    enum churn_auth_result r = CHURN_AUTH_OK;
    if (!e && needed != CHURN_ROLE_NONE) {
        r = CHURN_AUTH_UNAUTHENTICATED;
        churn_errf(err, errlen, "%s", why);
    } else if (e && needed != CHURN_ROLE_NONE && !(e->roles & (unsigned)needed)) {
        r = CHURN_AUTH_DENIED;
        churn_errf(err, errlen, "'%s' lacks the role '%s' this method needs", e->name,
                   churn_role_name(needed));
    } else {
        memset(who, 0, sizeof(*who));
        if (e) {
            memcpy(who->name, e->name, sizeof(who->name));
            who->roles = e->roles;
            who->by_certificate = e->cn[0] != '\0';
        }
    }
    pthread_rwlock_unlock(&a->lock);
    return r;
}
