/*
 * delivery_net.c - the network half of alert delivery, and the only file that includes
 * libcurl and OpenSSL's HMAC: a webhook POST with its delivery id and signature, an SMTP
 * message through a relay, the URL check of the configuration. A POST to an http:// URL
 * without credentials goes through churnd's own HTTP/1.1 client (delivery_http.c: libcurl's
 * exchange was most of a delivery's CPU); https:// and SMTP go through libcurl. Every exchange is
 * bounded: a timeout, http(s) or smtp(s) only, no redirects, at most 64 KiB of a receiver's answer
 * read, and an abort as soon as churnd stops. A destination's handle keeps what one POST
 * after another shares, so that a delivery costs its exchange and little else: the curl
 * handle with its options and its kept-alive connection, the header list (only the id and
 * signature lines are rewritten in place), and the HMAC keyed once (the signature is made
 * by churn__net_sign() before the POST: delivery_batch.c keeps it for destinations sharing a
 * secret).
 */
#include <curl/curl.h>
#include <sys/uio.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "churn/alloc.h"
#include "churn/buf.h"
#include "churn/clock.h"
#include "churn/error.h"
#include "delivery_internal.h"

enum {
    ANSWER_CAP = 64 * 1024,
    HEADER_LINES = 5,
    HEADER_LINE_CAP = 176,
    TARGET_CAP = 4096,    /* the path and query of a plain http:// URL */
    HEAD_CAP = 16 * 1024, /* the request head written by the own client */
};

/* What the curl handle is set up for: after a POST, the next POST sets only its body. */
enum net_mode { MODE_NONE, MODE_POST, MODE_MAIL };

struct churn__net {
    CURL *curl;
    int64_t timeout_ms;
    const atomic_bool *stop;
    size_t answer_bytes;
    const struct churn_buf *upload; /* SMTP: the message being read by curl */
    size_t upload_pos;
    long last_status; /* of the last webhook POST's answer (0: none) */
    enum net_mode mode;
    const char *post_url; /* the URL the handle is set up to POST to */
    /* the POST's headers: a list curl only reads, its last two lines rewritten per POST */
    struct curl_slist headers[HEADER_LINES];
    char id_line[HEADER_LINE_CAP], sig_line[HEADER_LINE_CAP];
    EVP_MAC_CTX *mac; /* HMAC-SHA256 keyed with mac_key (NULL: not yet) */
    const char *mac_key;
    /* the own client's side: set up for plain_url (one of the destination's URLs) */
    const char *plain_url;
    bool plain; /* plain_url goes through the own client */
    struct churn__http_conn http;
    char target[TARGET_CAP], host_header[300];
    struct churn_buf head; /* the request head, rewritten per POST */
};

long
churn__net_last_status(const struct churn__net *net)
{
    return net->last_status;
}

enum churn_err
churn__net_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? CHURN_OK : CHURN_EINTERNAL;
}

enum churn_err
churn__net_open(int64_t timeout_ms, const atomic_bool *stop, struct churn__net **out)
{
    struct churn__net *net = churn_calloc(1, sizeof(*net));
    if (!net)
        return CHURN_ENOMEM;
    net->curl = curl_easy_init();
    if (!net->curl) {
        churn_free(net);
        return CHURN_ENOMEM;
    }
    net->timeout_ms = timeout_ms;
    net->stop = stop;
    churn__http_conn_init(&net->http);
    churn_buf_init(&net->head, HEAD_CAP);
    static const char *const fixed[] = {"Content-Type: application/json", "User-Agent: churnd",
                                        "Expect:"};
    for (size_t i = 0; i < HEADER_LINES; i++) {
        net->headers[i].data = i < 3 ? (char *)fixed[i] : i == 3 ? net->id_line : net->sig_line;
        net->headers[i].next = i + 1 < HEADER_LINES ? &net->headers[i + 1] : NULL;
    }
    *out = net;
    return CHURN_OK;
}

void
churn__net_close(struct churn__net *net)
{
    if (!net)
        return;
    curl_easy_cleanup(net->curl);
    churn__http_conn_close(&net->http);
    churn_buf_free(&net->head);
    EVP_MAC_CTX_free(net->mac);
    churn_free(net);
}

/* "sha256=<hex of @mac>" into @out (at least 8 + 2 * @len bytes, else cut short). */
static void
signature_text(const unsigned char *mac, size_t len, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t pos = (size_t)snprintf(out, outlen, "sha256=");
    for (size_t i = 0; i < len && pos + 3 <= outlen; i++) {
        out[pos++] = hex[mac[i] >> 4];
        out[pos++] = hex[mac[i] & 15];
    }
    out[pos < outlen ? pos : outlen - 1] = '\0';
}

void
churn_delivery_signature(const char *secret, const void *body, size_t len, char *out, size_t outlen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), body, len, mac, &maclen);
    signature_text(mac, maclen, out, outlen);
}

bool
churn__net_sign(struct churn__net *net, const char *secret, const struct churn_buf *body, char *out,
                size_t outlen)
{
    if (!net->mac) {
        EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        net->mac = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
        EVP_MAC_free(hmac); /* the context holds its own reference */
        if (!net->mac)
            return false;
    }
    bool rekey = net->mac_key != secret;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end()};
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    /* a NULL key re-initialises with the key already set: no digest fetch, no key schedule */
    if (!EVP_MAC_init(net->mac, rekey ? (const unsigned char *)secret : NULL,
                      rekey ? strlen(secret) : 0, rekey ? params : NULL) ||
        !EVP_MAC_update(net->mac, (const unsigned char *)(body->data ? body->data : ""),
                        body->len) ||
        !EVP_MAC_final(net->mac, mac, &maclen, sizeof(mac))) {
        net->mac_key = NULL;
        return false;
    }
    net->mac_key = secret;
    signature_text(mac, maclen, out, outlen);
    return true;
}

/* The receiver's answer is read and dropped; past ANSWER_CAP the exchange ends. */
static size_t
drop_answer(char *data, size_t size, size_t nmemb, void *user)
{
    (void)data;
    struct churn__net *net = user;
    net->answer_bytes += size * nmemb;
    return net->answer_bytes > ANSWER_CAP ? 0 : size * nmemb;
}

static int
abort_on_stop(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
              curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    struct churn__net *net = user;
    return atomic_load(net->stop) ? 1 : 0;
}

/* The options every exchange shares, on a handle reset from the previous one. */
static void
common_options(struct churn__net *net, const char *url, const char *protocols)
{
    CURL *c = net->curl;
    curl_easy_reset(c); /* keeps the connection cache: the next exchange reuses it */
    net->answer_bytes = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)net->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(net->timeout_ms < 5000 ? net->timeout_ms : 5000));
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, net);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop_answer);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, net);
}

/* Set @net up to POST to @url, unless it already is: the options of a POST but its body. */
static void
post_options(struct churn__net *net, const char *url)
{
    if (net->mode == MODE_POST && net->post_url == url)
        return;
    common_options(net, url, "http,https");
    curl_easy_setopt(net->curl, CURLOPT_HTTPHEADER, net->headers);
    curl_easy_setopt(net->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    net->mode = MODE_POST;
    net->post_url = url;
}

/* Host, port and target of @u into @net's own-client fields; false when it does not fit
 * (credentials, a scheme other than http, bytes a request line cannot carry). */
static bool
plain_parts(struct churn__net *net, CURLU *u)
{
    char *scheme = NULL, *user = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
    bool ok = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              !strcmp(scheme, "http") &&
              curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK;
    if (ok && curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
        query = NULL;
    size_t hl = ok ? strlen(host) : 0;
    bool bracketed = hl > 2 && host[0] == '[' && host[hl - 1] == ']';
    ok = ok && hl + 1 < sizeof(net->http.host) && strlen(port) < sizeof(net->http.port) &&
         snprintf(net->target, sizeof(net->target), "%s%s%s", path, query ? "?" : "",
                  query ? query : "") < (int)sizeof(net->target) &&
         snprintf(net->host_header, sizeof(net->host_header), "%s:%s", host, port) <
             (int)sizeof(net->host_header);
    for (const char *p = net->target; ok && *p; p++)
        ok = (unsigned char)*p > 0x20 && *p != 0x7f;
    if (ok)
        snprintf(net->http.host, sizeof(net->http.host), "%.*s", (int)(bracketed ? hl - 2 : hl),
                 bracketed ? host + 1 : host);
    if (ok)
        snprintf(net->http.port, sizeof(net->http.port), "%s", port);
    curl_free(scheme), curl_free(user), curl_free(host), curl_free(port), curl_free(path);
    curl_free(query);
    return ok;
}

/* Whether @url goes through the own client; parsed once per URL. */
static bool
plain_setup(struct churn__net *net, const char *url)
{
    if (net->plain_url == url)
        return net->plain;
    churn__http_conn_close(&net->http);
    CURLU *u = curl_url();
    net->plain = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK && plain_parts(net, u);
    curl_url_cleanup(u);
    net->plain_url = url;
    return net->plain;
}

/* The POST through the own client, with the header lines already in @net. */
static enum churn_err
plain_post(struct churn__net *net, bool is_signed, const struct churn_buf *body, char *err,
           size_t errlen)
{
    churn_buf_reset(&net->head);
    enum churn_err rc =
        churn_buf_printf(&net->head,
                         "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                         "User-Agent: churnd\r\n%s\r\n%s%sContent-Length: %zu\r\n\r\n",
                         net->target, net->host_header, net->id_line,
                         is_signed ? net->sig_line : "", is_signed ? "\r\n" : "", body->len);
    if (rc != CHURN_OK)
        return churn_fail(err, errlen, rc, "the request head is over %d bytes", HEAD_CAP);
    struct iovec iov[2] = {{net->head.data, net->head.len},
                           {body->data ? body->data : (char *)"", body->len}};
    struct churn__http_limits lim = {churn_mono_ns() / 1000000 + net->timeout_ms, net->timeout_ms,
                                     net->stop, ANSWER_CAP};
    long status = 0;
    rc = churn__http_exchange(&net->http, iov, 2, &lim, &status, err, errlen);
    net->last_status = status;
    if (rc == CHURN_OK && (status < 200 || status >= 300))
        return churn_fail(err, errlen, CHURN_EIO, "HTTP %ld", status);
    return rc;
}

enum churn_err
churn__net_post(struct churn__net *net, const char *url, const char *signature, const char *id,
                const struct churn_buf *body, char *err, size_t errlen)
{
    snprintf(net->id_line, sizeof(net->id_line), "X-Churnd-Delivery: %s", id);
    net->headers[3].next = signature ? &net->headers[4] : NULL;
    if (signature)
        snprintf(net->sig_line, sizeof(net->sig_line), "X-Churnd-Signature-256: %s", signature);
    if (plain_setup(net, url))
        return plain_post(net, signature != NULL, body, err, errlen);
    post_options(net, url);
    net->answer_bytes = 0;
    curl_easy_setopt(net->curl, CURLOPT_POSTFIELDS, body->data ? body->data : "");
    curl_easy_setopt(net->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    CURLcode rc = curl_easy_perform(net->curl);
    long status = 0;
    curl_easy_getinfo(net->curl, CURLINFO_RESPONSE_CODE, &status);
    net->last_status = status;
    bool capped = rc == CURLE_WRITE_ERROR && net->answer_bytes > ANSWER_CAP;
    if ((rc == CURLE_OK || capped) && status >= 200 && status < 300)
        return CHURN_OK;
    if (rc == CURLE_OK || capped)
        return churn_fail(err, errlen, CHURN_EIO, "HTTP %ld", status);
    return churn_fail(err, errlen, CHURN_EIO, "%s", curl_easy_strerror(rc));
}

static size_t
read_message(char *out, size_t size, size_t nmemb, void *user)
{
    struct churn__net *net = user;
    size_t left = net->upload->len - net->upload_pos, n = size * nmemb;
    if (n > left)
        n = left;
    memcpy(out, net->upload->data + net->upload_pos, n);
    net->upload_pos += n;
    return n;
}

/* "<a>" per comma-separated address of @to, as SMTP's RCPT list. */
static struct curl_slist *
recipients(const char *to)
{
    struct curl_slist *list = NULL;
    char one[320];
    for (const char *p = to; *p;) {
        size_t n = strcspn(p, ",");
        if (n && n + 3 <= sizeof(one)) {
            snprintf(one, sizeof(one), "<%.*s>", (int)n, p);
            struct curl_slist *grown = curl_slist_append(list, one);
            if (!grown) {
                curl_slist_free_all(list);
                return NULL;
            }
            list = grown;
        }
        p += n + (p[n] == ',');
    }
    return list;
}

enum churn_err
churn__net_mail(struct churn__net *net, const char *smtp_url, const char *from, const char *to,
                const struct churn_buf *message, char *err, size_t errlen)
{
    struct curl_slist *rcpt = recipients(to);
    if (!rcpt)
        return churn_fail(err, errlen, CHURN_ENOMEM, "out of memory");
    char sender[320];
    snprintf(sender, sizeof(sender), "<%s>", from);
    common_options(net, smtp_url, "smtp,smtps");
    net->mode = MODE_MAIL;
    net->upload = message;
    net->upload_pos = 0;
    curl_easy_setopt(net->curl, CURLOPT_MAIL_FROM, sender);
    curl_easy_setopt(net->curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(net->curl, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY); /* STARTTLS if offered */
    curl_easy_setopt(net->curl, CURLOPT_READFUNCTION, read_message);
    curl_easy_setopt(net->curl, CURLOPT_READDATA, net);
    curl_easy_setopt(net->curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(net->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)message->len);
    CURLcode rc = curl_easy_perform(net->curl);
    curl_slist_free_all(rcpt);
    net->upload = NULL;
    if (rc == CURLE_OK)
        return CHURN_OK;
    long status = 0;
    curl_easy_getinfo(net->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status)
        return churn_fail(err, errlen, CHURN_EIO, "SMTP %ld: %s", status, curl_easy_strerror(rc));
    return churn_fail(err, errlen, CHURN_EIO, "%s", curl_easy_strerror(rc));
}

static bool
is_loopback_name(const char *host)
{
    return !strcasecmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1") ||
           !strcmp(host, "[::1]") || !strcmp(host, "0.0.0.0") || !strcmp(host, "::") ||
           !strcmp(host, "[::]");
}

/* True when HOST:PORT entry @hp names the same listener as @host and @port. */
static bool
same_listener(const char *hp, const char *host, const char *port)
{
    const char *colon = strrchr(hp, ':');
    if (!colon || strcmp(colon + 1, port) != 0)
        return false;
    char h[96];
    snprintf(h, sizeof(h), "%.*s", (int)(colon - hp), hp);
    if (!strcasecmp(h, host))
        return true;
    return is_loopback_name(h) && is_loopback_name(host);
}

enum churn_err
churn__net_url_check(const char *url, const char (*forbidden)[96], size_t n, char *err,
                     size_t errlen)
{
    CURLU *u = curl_url();
    if (!u)
        return churn_fail(err, errlen, CHURN_ENOMEM, "out of memory");
    char *scheme = NULL, *host = NULL, *port = NULL;
    enum churn_err e = CHURN_OK;
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (rc != CURLUE_OK)
        e = churn_fail(err, errlen, CHURN_EINVAL, "'%s' is not a URL (%s)", url,
                       curl_url_strerror(rc));
    else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
             (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        e = churn_fail(err, errlen, CHURN_EINVAL, "'%s' is not an http or https URL", url);
    else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
        e = churn_fail(err, errlen, CHURN_EINVAL, "'%s' has no host", url);
    else if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        for (size_t i = 0; i < n && !e; i++)
            if (same_listener(forbidden[i], host, port))
                e = churn_fail(err, errlen, CHURN_EINVAL, "'%s' points at churnd's own listener %s",
                               url, forbidden[i]);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return e;
}
