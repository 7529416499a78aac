/*
 * tls.c - the gRPC listener's security: server credentials (plaintext, TLS, or mutual TLS)
 * from the certificate files, re-read on the next handshake after they change (gRPC's
 * certificate config fetcher; a bad new set keeps the old one and is logged once), the
 * rule that only loopback may listen in plaintext, and the auth metadata processor that
 * authenticates and authorizes every call (churn/auth.h) before the call reaches a queue.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <grpc/grpc_security.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "churn/alloc.h"
#include "churn/auth.h"
#include "churn/config.h"
#include "churn/file.h"
#include "churn/log.h"
#include "internal.h"

#define PEM_MAX   (1 << 20)
#define AUTHZ_KEY "authorization"

/* What identifies the files' contents cheaply: compared on every handshake. */
struct file_sig {
    long long mtime_ns, size, ino;
};

struct churn__tls {
    const char *cert, *key, *ca; /* borrowed from the options (ca: NULL without mTLS) */
    pthread_mutex_t mu;
    struct file_sig loaded[3]; /* (mu) the set serving */
    struct file_sig tried[3];  /* (mu) the last set looked at (so a bad set is logged once) */
};

/* ---- certificate files ----------------------------------------------------------------- */

static void
sig_of(const char *path, struct file_sig *s)
{
    struct stat st;
    memset(s, 0, sizeof(*s));
    if (path && stat(path, &st) == 0) {
        s->mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        s->size = (long long)st.st_size;
        s->ino = (long long)st.st_ino;
    }
}

static void
sigs_of(const struct churn__tls *t, struct file_sig s[3])
{
    sig_of(t->cert, &s[0]);
    sig_of(t->key, &s[1]);
    sig_of(t->ca, &s[2]);
}

static bool
read_pem(const char *what, const char *path, char **out, char *err, size_t errlen)
{
    size_t len;
    char why[512];
    if (churn_file_read_regular(path, PEM_MAX, false, out, &len, why, sizeof(why)) == CHURN_OK)
        return true;
    churn_errf(err, errlen, "%s %s", what, why);
    return false;
}

/* Parse the PEM text of a certificate; NULL if it is none. */
static X509 *
parse_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

static EVP_PKEY *
parse_key(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return k;
}

/* Do the PEM texts hold a certificate, its private key and (if any) a CA certificate? */
static bool
check_pems(const struct churn__tls *t, const char *cert, const char *key, const char *ca, char *err,
           size_t errlen)
{
    X509 *x = parse_cert(cert);
    EVP_PKEY *k = x ? parse_key(key) : NULL;
    X509 *c = ca ? parse_cert(ca) : NULL;
    bool ok = false;
    if (!x)
        churn_errf(err, errlen, "--tls-cert %s: no PEM certificate in it", t->cert);
    else if (!k)
        churn_errf(err, errlen, "--tls-key %s: no PEM private key in it", t->key);
    else if (X509_check_private_key(x, k) != 1)
        churn_errf(err, errlen, "--tls-key %s: does not match the certificate in --tls-cert %s",
                   t->key, t->cert);
    else if (ca && !c)
        churn_errf(err, errlen, "--tls-client-ca %s: no PEM certificate in it", t->ca);
    else
        ok = true;
    X509_free(x);
    X509_free(c);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return ok;
}

/* Read and check the three files; on success a new gRPC config in *out. */
static bool
load_config(const struct churn__tls *t, grpc_ssl_server_certificate_config **out, char *err,
            size_t errlen)
{
    char *cert = NULL, *key = NULL, *ca = NULL;
    bool ok = read_pem("--tls-cert", t->cert, &cert, err, errlen) &&
              read_pem("--tls-key", t->key, &key, err, errlen) &&
              (!t->ca || read_pem("--tls-client-ca", t->ca, &ca, err, errlen)) &&
              check_pems(t, cert, key, ca, err, errlen);
    if (ok) {
        /* gRPC 1.51 asserts on NULL roots in a fetched config; without mTLS they go unused */
        grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
        *out = grpc_ssl_server_certificate_config_create(ca ? ca : cert, &pair, 1);
    }
    if (key)
        OPENSSL_cleanse(key, strlen(key));
    churn_free(cert);
    churn_free(key);
    churn_free(ca);
    return ok;
}

/* gRPC's fetcher: runs on every handshake, so unchanged files cost three stat calls. */
static grpc_ssl_certificate_config_reload_status
fetch_config(void *user, grpc_ssl_server_certificate_config **config)
{
    struct churn__tls *t = user;
    struct file_sig now[3];
    sigs_of(t, now);
    pthread_mutex_lock(&t->mu);
    grpc_ssl_certificate_config_reload_status r = GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;
    if (memcmp(now, t->loaded, sizeof(now)) != 0 && memcmp(now, t->tried, sizeof(now)) != 0) {
        char err[1024];
        memcpy(t->tried, now, sizeof(now));
        if (load_config(t, config, err, sizeof(err))) {
            churn_log(CHURN_LOG_INFO, t->loaded[0].ino ? "tls_reloaded" : "tls_loaded",
                      CHURN_LF_STR("cert", t->cert), CHURN_LF_STR("mtls", t->ca ? "yes" : "no"));
            memcpy(t->loaded, now, sizeof(now));
            r = GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
        } else {
            r = GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_FAIL;
            churn_log(CHURN_LOG_WARN, "tls_reload_refused", CHURN_LF_STR("error", err),
                      CHURN_LF_STR("msg", "the certificates loaded before stay in use"));
        }
    }
    pthread_mutex_unlock(&t->mu);
    return r;
}

/* ---- plaintext only on loopback ----------------------------------------------------------- */

static bool
is_loopback(const char *listen)
{
    const char *colon = strrchr(listen, ':');
    size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
    char host[256];
    if (n >= sizeof(host))
        return false;
    memcpy(host, listen, n);
    host[n] = '\0';
    const char *h = host;
    if (strncmp(h, "ipv4:", 5) == 0 || strncmp(h, "ipv6:", 5) == 0)
        h += 5;
    return strcmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 || strcmp(h, "[::1]") == 0;
}

/* ---- the auth metadata processor -------------------------------------------------------- */

struct auth_state {
    struct churn_auth *auth;
    bool open_health;
};

/* The common name of the verified client certificate, copied into @buf; NULL when none. */
static const char *
peer_cn(const grpc_auth_context *ctx, char *buf, size_t len)
{
    grpc_auth_property_iterator it =
        grpc_auth_context_find_properties_by_name(ctx, GRPC_X509_CN_PROPERTY_NAME);
    const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);
    if (!p || p->value_length >= len)
        return NULL;
    memcpy(buf, p->value, p->value_length);
    buf[p->value_length] = '\0';
    return buf;
}

static bool
key_is(const grpc_metadata *md, const char *key)
{
    size_t n = strlen(key);
    return GRPC_SLICE_LENGTH(md->key) == n && memcmp(GRPC_SLICE_START_PTR(md->key), key, n) == 0;
}

static void
process_call(void *state, grpc_auth_context *ctx, const grpc_metadata *md, size_t n,
             grpc_process_auth_metadata_done_cb done, void *user)
{
    struct auth_state *st = state;
    const grpc_metadata *authz = NULL, *path = NULL;
    int n_authz = 0;
    for (size_t i = 0; i < n; i++) {
        if (key_is(&md[i], AUTHZ_KEY) && ++n_authz)
            authz = &md[i];
        else if (key_is(&md[i], ":path"))
            path = &md[i];
    }
    enum churn_role needed =
        path ? churn_auth_method_role((const char *)GRPC_SLICE_START_PTR(path->value),
                                      GRPC_SLICE_LENGTH(path->value), st->open_health)
             : CHURN_ROLE_ADMIN;
    char cnbuf[256], err[256] = "";
    struct churn_identity who;
    enum churn_auth_result r = CHURN_AUTH_UNAUTHENTICATED;
    if (n_authz > 1)
        snprintf(err, sizeof(err), "authorization: sent %d times", n_authz);
    else
        r = churn_auth_check(st->auth,
                             authz ? (const char *)GRPC_SLICE_START_PTR(authz->value) : NULL,
                             authz ? GRPC_SLICE_LENGTH(authz->value) : 0,
                             peer_cn(ctx, cnbuf, sizeof(cnbuf)), needed, &who, err, sizeof(err));
    if (r == CHURN_AUTH_OK) {
        /* nothing is added to @ctx: it is the connection's, shared by all its calls (a
         * property per call grew it without bound); churn_rpc_identity() asks again */
        done(user, NULL, 0, NULL, 0, GRPC_STATUS_OK, NULL);
        return;
    }
    done(user, NULL, 0, NULL, 0,
         r == CHURN_AUTH_DENIED ? GRPC_STATUS_PERMISSION_DENIED : GRPC_STATUS_UNAUTHENTICATED, err);
}

static void
auth_state_destroy(void *state)
{
    churn_free(state);
}

static enum churn_err
attach_processor(const struct churn_server_options *o, grpc_server_credentials *creds, char *err,
                 size_t errlen)
{
    struct auth_state *st = churn_calloc(1, sizeof(*st));
    if (!st)
        return churn_fail(err, errlen, CHURN_ENOMEM, "out of memory");
    st->auth = o->auth;
    st->open_health = !o->auth_health_closed;
    grpc_auth_metadata_processor p = {process_call, auth_state_destroy, st};
    grpc_server_credentials_set_auth_metadata_processor(creds, p);
    return CHURN_OK;
}

/* ---- the credentials --------------------------------------------------------------------- */

static enum churn_err
tls_credentials(struct churn_server *s, grpc_server_credentials **out, char *err, size_t errlen)
{
    const struct churn_server_options *o = &s->opts;
    struct churn__tls *t = churn_calloc(1, sizeof(*t));
    if (!t)
        return churn_fail(err, errlen, CHURN_ENOMEM, "out of memory");
    t->cert = o->tls_cert;
    t->key = o->tls_key;
    t->ca = o->tls_client_ca && *o->tls_client_ca ? o->tls_client_ca : NULL;
    pthread_mutex_init(&t->mu, NULL);
    s->tls = t;
    /* the first set is checked here, so that a bad file stops the start naming it */
    grpc_ssl_server_certificate_config *first = NULL;
    if (!load_config(t, &first, err, errlen))
        return CHURN_EINVAL;
    grpc_ssl_server_certificate_config_destroy(first); /* gRPC's first fetch loads them */
    grpc_ssl_server_credentials_options *opts =
        grpc_ssl_server_credentials_create_options_using_config_fetcher(
            t->ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                  : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
            fetch_config, t);
    *out = opts ? grpc_ssl_server_credentials_create_with_options(opts) : NULL;
    if (!*out)
        return churn_fail(err, errlen, CHURN_EINVAL, "TLS: gRPC refused the certificate set");
    return CHURN_OK;
}

static bool
set(const char *s)
{
    return s && *s;
}

/* The flags belong together, and plaintext is for loopback only. */
static enum churn_err
check_options(const struct churn_server_options *o, char *err, size_t errlen)
{
    bool tls = set(o->tls_cert);
    if (!tls && (set(o->tls_key) || set(o->tls_client_ca)))
        return churn_fail(err, errlen, CHURN_EINVAL,
                          "--tls-key and --tls-client-ca need --tls-cert");
    if (tls && !set(o->tls_key))
        return churn_fail(err, errlen, CHURN_EINVAL, "--tls-cert needs --tls-key");
    if (!tls && !o->insecure_listen && !is_loopback(o->listen))
        return churn_fail(err, errlen, CHURN_EPERM,
                          "--listen %s: plaintext is only for loopback addresses; give "
                          "--tls-cert and --tls-key, or --insecure-listen",
                          o->listen);
    return CHURN_OK;
}

enum churn_err
churn__tls_server_credentials(struct churn_server *s, grpc_server_credentials **out, char *err,
                              size_t errlen)
{
    const struct churn_server_options *o = &s->opts;
    bool tls = set(o->tls_cert);
    enum churn_err e = check_options(o, err, errlen);
    if (e)
        return e;
    *out = NULL;
    if (tls)
        e = tls_credentials(s, out, err, errlen);
    else
        *out = grpc_insecure_server_credentials_create();
    if (!e && o->auth)
        e = attach_processor(o, *out, err, errlen);
    if (e && *out) {
        grpc_server_credentials_release(*out);
        *out = NULL;
    }
    return e;
}

void
churn__tls_free(struct churn_server *s)
{
    if (!s->tls)
        return;
    pthread_mutex_destroy(&s->tls->mu);
    churn_free(s->tls);
    s->tls = NULL;
}

enum churn_err
churn_server_security_check(struct churn_server_options *o, char *err, size_t errlen)
{
    enum churn_err e = check_options(o, err, errlen);
    if (e || !set(o->tls_cert))
        return e;
    struct churn__tls t = {.cert = o->tls_cert,
                           .key = o->tls_key,
                           .ca = set(o->tls_client_ca) ? o->tls_client_ca : NULL};
    grpc_ssl_server_certificate_config *c = NULL;
    if (!load_config(&t, &c, err, errlen))
        return CHURN_EINVAL;
    grpc_ssl_server_certificate_config_destroy(c);
    return CHURN_OK;
}

enum churn_err
churn_server_security_open(const struct churn_config *cfg, struct churn_server_options *o,
                           struct churn_auth **auth, char *err, size_t errlen)
{
    o->tls_cert = cfg->tls_cert;
    o->tls_key = cfg->tls_key;
    o->tls_client_ca = cfg->tls_client_ca;
    o->insecure_listen = cfg->insecure_listen;
    o->auth_health_closed = !cfg->auth_open_health;
    enum churn_err e = churn_server_security_check(o, err, errlen);
    if (e || !set(cfg->auth_tokens))
        return e;
    char why[512];
    if ((e = churn_auth_open(cfg->auth_tokens, auth, why, sizeof(why))))
        return churn_fail(err, errlen, e, "--auth-tokens %s", why);
    o->auth = *auth;
    churn_log(CHURN_LOG_INFO, "auth_tokens_loaded", CHURN_LF_STR("file", cfg->auth_tokens),
              CHURN_LF_INT("entries", (long long)churn_auth_entries(*auth)));
    return CHURN_OK;
}

/* ---- for handlers ------------------------------------------------------------------------ */

const char *
churn_rpc_identity(struct churn_rpc *rpc)
{
    struct churn_auth *auth = rpc->worker ? rpc->worker->server->opts.auth : NULL;
    if (!auth || !rpc->call)
        return NULL;
    size_t len = 0;
    const char *authz = churn_rpc_metadata(rpc, AUTHZ_KEY, &len);
    grpc_auth_context *ctx = grpc_call_auth_context(rpc->call);
    char cnbuf[256], err[256];
    const char *cn = ctx ? peer_cn(ctx, cnbuf, sizeof(cnbuf)) : NULL;
    struct churn_identity who;
    enum churn_auth_result r =
        churn_auth_check(auth, authz, len, cn, CHURN_ROLE_NONE, &who, err, sizeof(err));
    if (ctx)
        grpc_auth_context_release(ctx);
    if (r != CHURN_AUTH_OK || !who.name[0])
        return NULL;
    size_t n = strlen(who.name);
    char *copy = churn_arena_alloc(&rpc->arena, n + 1);
    if (copy)
        memcpy(copy, who.name, n + 1);
    return copy;
}
