/*
 * delivery_internal.h - what the delivery engine (delivery.c, delivery_config.c) needs from
 * its network half (delivery_net.c, the only file that includes libcurl and OpenSSL): one
 * exchange per call, a webhook POST or an SMTP message, on a handle kept per destination so
 * that connections are reused; and the URL check the configuration runs.
 */
#ifndef CHURN_ENGINE_DELIVERY_INTERNAL_H
#define CHURN_ENGINE_DELIVERY_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/delivery.h"

struct churn__net;

/** churn__net_global_init() - once per process, before any thread exchanges. */
enum churn_err churn__net_global_init(void);

/**
 * churn__net_open() - a handle for one destination: every exchange times out after
 * @timeout_ms, and is aborted as soon as *@stop becomes true.
 */
enum churn_err churn__net_open(int64_t timeout_ms, const atomic_bool *stop,
                               struct churn__net **out);

void churn__net_close(struct churn__net *net);

/**
 * churn__net_post() - POST @body (JSON) to @url with the headers X-Churnd-Delivery: @id and,
 * when @secret is non-NULL, X-Churnd-Signature-256. CHURN_OK when the receiver answered
 * 2xx (its body is read up to 64 KiB and dropped); otherwise CHURN_EIO with the reason
 * ("HTTP 500", "Couldn't resolve host name", "Timeout was reached...") in @err.
 */
enum churn_err churn__net_post(struct churn__net *net, const char *url, const char *secret,
                               const char *id, const struct churn_buf *body, char *err,
                               size_t errlen);

/** churn__net_last_status() - the HTTP status of the last churn__net_post() answer (0: none). */
long churn__net_last_status(const struct churn__net *net);

/**
 * churn__net_mail() - send @message (headers and body, CRLF lines) from @from to the
 * comma-separated @to through the relay at @smtp_url. CHURN_OK when the relay accepted it;
 * CHURN_EIO with the reason in @err.
 */
enum churn_err churn__net_mail(struct churn__net *net, const char *smtp_url, const char *from,
                               const char *to, const struct churn_buf *message, char *err,
                               size_t errlen);

/**
 * churn__net_url_check() - CHURN_OK when @url parses as an http or https URL with a host and
 * does not point at one of the @n "HOST:PORT" entries of @forbidden (loopback names count as
 * one host); CHURN_EINVAL with the reason otherwise.
 */
enum churn_err churn__net_url_check(const char *url, const char (*forbidden)[96], size_t n,
                                    char *err, size_t errlen);

#endif
