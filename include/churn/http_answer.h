/*
 * churn/http_answer.h - an incremental reader of one HTTP/1.x answer, for churnd's own webhook
 * client (src/engine/delivery_http.c). A webhook receiver is untrusted: the reader takes bytes
 * as they arrive, never stores the body (it counts it), caps the status line and the headers,
 * refuses what it cannot frame exactly (a garbage status line, a bad or conflicting
 * Content-Length, a transfer coding other than chunked, a bad chunk size, obsolete line
 * folding, control bytes) with a reason, skips interim 1xx answers, and says whether the
 * connection may carry the next request. Pure: no I/O, no allocation.
 */
#ifndef CHURN_HTTP_ANSWER_H
#define CHURN_HTTP_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"

/* The longest status or header line, and all of an answer's lines together. */
#define CHURN_HTTP_LINE_MAX 4096
#define CHURN_HTTP_HEAD_MAX 32768

/* Where the reader is; fields are read-only to callers but for status, keep_alive, body_bytes. */
struct churn_http_answer {
    int state;
    unsigned facts;         /* version and Connection tokens of the answer being read */
    int status;             /* the final answer's status code (100-599), once read */
    bool keep_alive;        /* the connection may carry the next request (valid when done) */
    bool chunked;           /* the body is chunked */
    bool head_only;         /* the answer has no body (204, 304) */
    int64_t content_length; /* -1: none given */
    uint64_t body_bytes;    /* body bytes seen (chunked: the chunks' data only) */
    uint64_t left;          /* bytes left in the body (length) or the chunk */
    size_t head_bytes;      /* status and header bytes of this answer */
    size_t line_len;
    char line[CHURN_HTTP_LINE_MAX];
    char why[128]; /* the reason of a refusal */
};

/** churn_http_answer_init() - ready @a for an answer to a request that was not HEAD. */
void churn_http_answer_init(struct churn_http_answer *a);

/**
 * churn_http_answer_feed() - give @a the next @len bytes of the connection.
 * @used: OUT: how many were part of this answer (the rest follow it).
 *
 * Return: CHURN_OK when the answer is complete (then status and keep_alive are final);
 * CHURN_EAGAIN when it needs more bytes (all @len were used); CHURN_EINVAL when the bytes are
 * not an HTTP/1.x answer that can be framed, with the reason in @a->why (the connection must
 * be closed); CHURN_ETOOBIG when the status line or headers pass their caps.
 */
enum churn_err churn_http_answer_feed(struct churn_http_answer *a, const char *data, size_t len,
                                      size_t *used);

/**
 * churn_http_answer_eof() - the peer closed the connection.
 *
 * Return: CHURN_OK when that completes the answer (a body delimited by the close; keep_alive
 * is then false); CHURN_EINVAL with the reason in @a->why when the answer was cut short.
 */
enum churn_err churn_http_answer_eof(struct churn_http_answer *a);

/** churn_http_answer_started() - true once any byte of an answer was given to @a. */
bool churn_http_answer_started(const struct churn_http_answer *a);

#endif
