/*
 * http_answer.c - the incremental reader of one HTTP/1.x answer behind churnd's own webhook
 * client (contract in churn/http_answer.h). Lines (the status line, headers, chunk sizes,
 * trailers) are gathered into a capped buffer and checked whole; body bytes are counted and
 * skipped. Framing follows RFC 9112 strictly where a lenient reading could misplace the next
 * answer on a kept-alive connection: one Content-Length (digits only, repeated copies must
 * agree), chunked as the only transfer coding and never beside a Content-Length, no obsolete
 * line folding, no control bytes; a body with neither ends at the close.
 */
#include "churn/http_answer.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
    S_STATUS,
    S_HEADERS,
    S_BODY_LENGTH,
    S_BODY_CLOSE,
    S_CHUNK_SIZE,
    S_CHUNK_DATA,
    S_CHUNK_END,
    S_TRAILERS,
    S_DONE,
    S_BAD,
};

/* Per-answer header facts gathered while the headers are read (a->facts). */
enum { F_HTTP11 = 1, F_CLOSE = 2, F_KEEP_ALIVE = 4 };

static void
answer_reset(struct churn_http_answer *a)
{
    a->status = 0;
    a->keep_alive = false;
    a->chunked = false;
    a->head_only = false;
    a->content_length = -1;
    a->body_bytes = 0;
    a->left = 0;
    a->facts = 0;
    a->line_len = 0;
    a->state = S_STATUS;
}

void
churn_http_answer_init(struct churn_http_answer *a)
{
    memset(a, 0, sizeof(*a));
    answer_reset(a);
}

bool
churn_http_answer_started(const struct churn_http_answer *a)
{
    return a->head_bytes > 0 || a->line_len > 0;
}

static enum churn_err
refuse(struct churn_http_answer *a, const char *why)
{
    snprintf(a->why, sizeof(a->why), "%s", why);
    a->state = S_BAD;
    return CHURN_EINVAL;
}

static bool
is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* "HTTP/1.x SSS[ reason]" */
static enum churn_err
status_line(struct churn_http_answer *a, const char *s, size_t n)
{
    if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') || s[8] != ' ')
        return refuse(a, "the status line is not HTTP/1.0 or HTTP/1.1");
    if (s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' ||
        (n > 12 && s[12] != ' '))
        return refuse(a, "the status code is not three digits from 100 to 599");
    a->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    a->keep_alive = s[7] == '1'; /* until a Connection header says otherwise */
    a->facts = s[7] == '1' ? F_HTTP11 : 0;
    a->state = S_HEADERS;
    return CHURN_OK;
}

/* @v (@n bytes, trimmed) compared case-insensitively with the token @t. */
static bool
token_is(const char *v, size_t n, const char *t)
{
    return n == strlen(t) && strncasecmp(v, t, n) == 0;
}

static enum churn_err
content_length(struct churn_http_answer *a, const char *v, size_t n)
{
    if (n == 0 || n > 18)
        return refuse(a, "Content-Length is not a number of at most 18 digits");
    int64_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return refuse(a, "Content-Length is not a number of at most 18 digits");
        len = len * 10 + (v[i] - '0');
    }
    if (a->content_length >= 0 && a->content_length != len)
        return refuse(a, "conflicting Content-Length headers");
    a->content_length = len;
    return CHURN_OK;
}

/* The Connection header's comma-separated tokens. */
static void
connection(struct churn_http_answer *a, const char *v, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        size_t s = i, e = j;
        while (s < e && (v[s] == ' ' || v[s] == '\t'))
            s++;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (token_is(v + s, e - s, "close"))
            a->facts |= F_CLOSE;
        else if (token_is(v + s, e - s, "keep-alive"))
            a->facts |= F_KEEP_ALIVE;
        i = j + 1;
    }
}

static enum churn_err
header_line(struct churn_http_answer *a, const char *s, size_t n)
{
    if (s[0] == ' ' || s[0] == '\t')
        return refuse(a, "obsolete line folding in the headers");
    size_t k = 0;
    while (k < n && is_tchar((unsigned char)s[k]))
        k++;
    if (k == 0 || k == n || s[k] != ':')
        return refuse(a, "a header line is not NAME: VALUE");
    const char *v = s + k + 1;
    size_t vn = n - k - 1;
    while (vn && (*v == ' ' || *v == '\t'))
        v++, vn--;
    while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
        vn--;
    if (token_is(s, k, "content-length"))
        return content_length(a, v, vn);
    if (token_is(s, k, "transfer-encoding")) {
        if (a->chunked || !token_is(v, vn, "chunked"))
            return refuse(a, "a transfer coding other than one chunked");
        a->chunked = true;
    } else if (token_is(s, k, "connection")) {
        connection(a, v, vn);
    }
    return CHURN_OK;
}

/* The empty line after the headers: an interim answer starts over; the body's framing. */
static enum churn_err
headers_end(struct churn_http_answer *a)
{
    unsigned facts = a->facts;
    if (a->status == 101)
        return refuse(a, "101 Switching Protocols was not asked for");
    if (a->status < 200) {
        answer_reset(a); /* 100 Continue and the like: the answer follows */
        return CHURN_OK;
    }
    if (a->chunked && a->content_length >= 0)
        return refuse(a, "both Transfer-Encoding and Content-Length");
    a->keep_alive = !(facts & F_CLOSE) && ((facts & F_HTTP11) || (facts & F_KEEP_ALIVE));
    a->head_only = a->status == 204 || a->status == 304;
    if (a->head_only || (!a->chunked && a->content_length == 0)) {
        a->state = S_DONE;
    } else if (a->chunked) {
        a->state = S_CHUNK_SIZE;
    } else if (a->content_length > 0) {
        a->left = (uint64_t)a->content_length;
        a->state = S_BODY_LENGTH;
    } else {
        a->keep_alive = false; /* the close ends the body */
        a->state = S_BODY_CLOSE;
    }
    return CHURN_OK;
}

/* "HEX[;extension]" */
static enum churn_err
chunk_size(struct churn_http_answer *a, const char *s, size_t n)
{
    uint64_t size = 0;
    size_t k = 0;
    for (; k < n && k < 16; k++) {
        char c = s[k];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            break;
        size = size * 16 + (uint64_t)d;
    }
    if (k == 0 || k > 15 || (k < n && s[k] != ';' && s[k] != ' ' && s[k] != '\t'))
        return refuse(a, "a chunk size is not a hexadecimal number of at most 15 digits");
    a->left = size;
    a->state = size ? S_CHUNK_DATA : S_TRAILERS;
    return CHURN_OK;
}

/* One complete line (without its CR LF) in the state that gathers lines. */
static enum churn_err
take_line(struct churn_http_answer *a, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
            return refuse(a, "a control byte in a status, header or chunk line");
    switch (a->state) {
    case S_STATUS:
        return status_line(a, s, n);
    case S_HEADERS:
        return n == 0 ? headers_end(a) : header_line(a, s, n);
    case S_CHUNK_SIZE:
        return chunk_size(a, s, n);
    case S_CHUNK_END:
        if (n != 0)
            return refuse(a, "a chunk's data is longer than its size");
        a->state = S_CHUNK_SIZE;
        return CHURN_OK;
    default: /* S_TRAILERS: checked as headers, their values ignored */
        if (n == 0)
            a->state = S_DONE;
        else if (s[0] == ' ' || s[0] == '\t' || !memchr(s, ':', n))
            return refuse(a, "a trailer line is not NAME: VALUE");
        return CHURN_OK;
    }
}

/* Gather line bytes from @data; a complete line is taken. Returns the bytes used. */
static size_t
gather(struct churn_http_answer *a, const char *data, size_t len, enum churn_err *rc)
{
    const char *nl = memchr(data, '\n', len);
    size_t n = nl ? (size_t)(nl - data) + 1 : len;
    bool head = a->state == S_STATUS || a->state == S_HEADERS || a->state == S_TRAILERS;
    if (a->line_len + n > CHURN_HTTP_LINE_MAX ||
        (head && a->head_bytes + n > CHURN_HTTP_HEAD_MAX)) {
        snprintf(a->why, sizeof(a->why), "%s", "the status line or headers are too long");
        a->state = S_BAD;
        *rc = CHURN_ETOOBIG;
        return n;
    }
    memcpy(a->line + a->line_len, data, n);
    a->line_len += n;
    a->head_bytes += head ? n : 0;
    *rc = CHURN_EAGAIN;
    if (!nl)
        return n;
    size_t l = a->line_len - 1;
    if (l > 0 && a->line[l - 1] == '\r')
        l--;
    a->line_len = 0;
    enum churn_err t = take_line(a, a->line, l);
    *rc = t != CHURN_OK ? t : a->state == S_DONE ? CHURN_OK : CHURN_EAGAIN;
    return n;
}

/* Body bytes: counted and skipped. Returns the bytes used. */
static size_t
skip_body(struct churn_http_answer *a, size_t len)
{
    size_t n = len;
    if (a->state != S_BODY_CLOSE && (uint64_t)n > a->left)
        n = (size_t)a->left;
    a->body_bytes += n;
    if (a->state == S_BODY_CLOSE)
        return n;
    a->left -= n;
    if (a->left == 0)
        a->state = a->state == S_CHUNK_DATA ? S_CHUNK_END : S_DONE;
    return n;
}

enum churn_err
churn_http_answer_feed(struct churn_http_answer *a, const char *data, size_t len, size_t *used)
{
    size_t pos = 0;
    enum churn_err rc = a->state == S_DONE  ? CHURN_OK
                        : a->state == S_BAD ? CHURN_EINVAL
                                            : CHURN_EAGAIN;
    while (pos < len && rc == CHURN_EAGAIN) {
        if (a->state == S_BODY_LENGTH || a->state == S_BODY_CLOSE || a->state == S_CHUNK_DATA) {
            pos += skip_body(a, len - pos);
            rc = a->state == S_DONE ? CHURN_OK : CHURN_EAGAIN;
        } else {
            pos += gather(a, data + pos, len - pos, &rc);
        }
    }
    *used = pos;
    return rc;
}

enum churn_err
churn_http_answer_eof(struct churn_http_answer *a)
{
    if (a->state == S_DONE)
        return CHURN_OK;
    if (a->state == S_BODY_CLOSE) {
        a->state = S_DONE;
        return CHURN_OK;
    }
    if (a->state == S_BAD)
        return CHURN_EINVAL;
    return refuse(a, churn_http_answer_started(a) ? "the connection closed inside the answer"
                                                  : "the connection closed without an answer");
}
