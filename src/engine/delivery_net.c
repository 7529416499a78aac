/*
 * delivery_net.c - the network half of alert delivery, and the only file that includes
 * libcurl and OpenSSL's HMAC: a webhook POST with its delivery id and signature, an SMTP
 * message through a relay, the URL check of the configuration. Every exchange is bounded:
 * a timeout, http(s) or smtp(s) only, no redirects, at most 64 KiB of a receiver's answer
 * read, and an abort as soon as churnd stops.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "churn/alloc.h"
#include "churn/error.h"
#include "delivery_internal.h"

enum { ANSWER_CAP = 64 * 1024 };

struct churn__net {
    CURL *curl;
    int64_t timeout_ms;
    const atomic_bool *stop;
    size_t answer_bytes;
    const struct churn_buf *upload; /* SMTP: the message being read by curl */
    size_t upload_pos;
    long last_status; /* of the last webhook POST's answer (0: none) */
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
    *out = net;
    return CHURN_OK;
}

void
churn__net_close(struct churn__net *net)
{
    if (!net)
        return;
    curl_easy_cleanup(net->curl);
    churn_free(net);
}

void
churn_delivery_signature(const char *secret, const void *body, size_t len, char *out, size_t outlen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), body, len, mac, &maclen);
    size_t pos = (size_t)snprintf(out, outlen, "sha256=");
    for (unsigned int i = 0; i < maclen && pos + 3 <= outlen; i++)
        pos += (size_t)snprintf(out + pos, outlen - pos, "%02x", mac[i]);
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
    curl_easy_reset(c);
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

enum churn_err
churn__net_post(struct churn__net *net, const char *url, const char *secret, const char *id,
                const struct churn_buf *body, char *err, size_t errlen)
{
    char header[160], sig[96];
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "User-Agent: churnd");
    headers = curl_slist_append(headers, "Expect:");
    snprintf(header, sizeof(header), "X-Churnd-Delivery: %s", id);
    headers = curl_slist_append(headers, header);
    if (secret) {
        churn_delivery_signature(secret, body->data, body->len, sig, sizeof(sig));
        snprintf(header, sizeof(header), "X-Churnd-Signature-256: %s", sig);
        headers = curl_slist_append(headers, header);
    }
    if (!headers)
        return churn_fail(err, errlen, CHURN_ENOMEM, "out of memory");
    common_options(net, url, "http,https");
    curl_easy_setopt(net->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(net->curl, CURLOPT_POSTFIELDS, body->data ? body->data : "");
    curl_easy_setopt(net->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    CURLcode rc = curl_easy_perform(net->curl);
    long status = 0;
    curl_easy_getinfo(net->curl, CURLINFO_RESPONSE_CODE, &status);
    net->last_status = status;
    curl_slist_free_all(headers);
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
