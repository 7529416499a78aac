/*
 * feed.c - GET /api/feed: every alert change (new alerts, chat escalations, actions) as
 * server-sent events, `id:` being the change's sequence in the alert log. A client that
 * reconnects with Last-Event-ID (or ?after=N) gets every change after it, none twice: what is
 * older than the hub's ring is read back from the store, then the stream follows the hub,
 * and a stream that fell behind the ring goes back to the store. While nothing is pending
 * the listener suspends the connection; the hub's notification wakes it.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alerts.h"
#include "churn/alerts_hub.h"
#include "churn/alloc.h"
#include "churn/buf.h"
#include "churn/service.h"
#include "internal.h"

#define FEED_BUF_CAP  (1u << 20)
#define BACKLOG_BATCH 64 /* store reads per read() call while catching up */

struct feed {
    struct churn_services *svc;
    struct churn_alert_hub *hub;
    struct churn_alert_sub *sub; /* NULL while reading the backlog from the store */
    struct churn_admin_stream *stream;
    uint64_t last;        /* the last sequence sent (the resume point) */
    struct churn_buf out; /* events formatted, not yet handed to the listener */
    size_t out_pos;
    struct churn_alert alert; /* the one being formatted */
};

static void
feed_notify(void *ctx, struct churn_alert_sub *sub, enum churn_alert_hub_event event)
{
    struct feed *f = ctx;
    (void)sub;
    (void)event;
    churn_admin_stream_wake(f->stream);
}

static enum churn_err
format_event(struct feed *f)
{
    enum churn_err err = churn_buf_printf(
        &f->out, "id: %llu\nevent: alert\ndata: ", (unsigned long long)f->alert.sequence);
    if (!err)
        err = churn_services_alert_json(&f->alert, &f->out);
    if (!err)
        err = churn_buf_append_str(&f->out, "\n\n");
    f->last = f->alert.sequence;
    return err;
}

/* Catch up from the store up to the hub's oldest, then subscribe; false on a hard error. */
static bool
feed_backlog(struct feed *f)
{
    uint64_t oldest = churn_alert_hub_oldest(f->hub);
    for (int i = 0; i < BACKLOG_BATCH && f->last < oldest; i++) {
        enum churn_err err = churn_services_alert_read(f->svc, f->last + 1, &f->alert);
        if (err == CHURN_ENOTFOUND) {
            f->last++; /* erased (privacy): there is nothing to send for it */
            continue;
        }
        if (err || format_event(f))
            return false;
    }
    if (f->last < oldest)
        return true;
    char msg[256];
    enum churn_err err =
        churn_alert_hub_subscribe(f->hub, f->last, NULL, feed_notify, f, &f->sub, msg, sizeof(msg));
    return err == CHURN_OK || err == CHURN_ERANGE; /* ERANGE: the ring moved on, read more */
}

/* Take what the hub has pending; on a lag go back to the store from the last sent. */
static bool
feed_live(struct feed *f)
{
    for (;;) {
        enum churn_err err = churn_alert_hub_next(f->sub, &f->alert);
        if (err == CHURN_EAGAIN)
            return true;
        if (err == CHURN_ETOOBIG) {
            churn_alert_hub_unsubscribe(f->sub);
            f->sub = NULL;
            return true;
        }
        if (err || format_event(f))
            return false;
        if (f->out.len > FEED_BUF_CAP / 2)
            return true;
    }
}

static long
feed_read(void *ctx, char *buf, size_t max)
{
    struct feed *f = ctx;
    if (f->out_pos == f->out.len) {
        churn_buf_reset(&f->out);
        f->out_pos = 0;
        if (!f->sub && !feed_backlog(f))
            return -1;
        if (f->sub && f->out.len == 0 && !feed_live(f))
            return -1;
        if (f->out.len == 0 && !f->sub)
            return feed_read(ctx, buf, max); /* subscribed just now, or more backlog */
    }
    size_t n = f->out.len - f->out_pos;
    if (n > max)
        n = max;
    memcpy(buf, f->out.data + f->out_pos, n);
    f->out_pos += n;
    return (long)n;
}

static void
feed_close(void *ctx)
{
    struct feed *f = ctx;
    churn_alert_hub_unsubscribe(f->sub);
    churn_buf_free(&f->out);
    churn_free(f);
}

static const struct churn_admin_stream_ops feed_ops = {feed_read, feed_close};

/* The resume point: Last-Event-ID, else ?after=, else the head (live changes only). */
static bool
feed_start(const struct churn_admin_request *r, uint64_t head, uint64_t *after,
           struct churn_admin_reply *reply)
{
    const char *name = "Last-Event-ID";
    const char *v = churn_admin_request_header(r, name);
    if (!v) {
        name = "after";
        v = churn_admin_query(r, name);
    }
    *after = head;
    if (!v)
        return true;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end || errno || x > head || *v == '-') {
        char what[96];
        snprintf(what, sizeof(what), "not a sequence from 0 to the head (%llu)",
                 (unsigned long long)head);
        churn__dashboard_bad_request(reply, name, what);
        return false;
    }
    *after = x;
    return true;
}

void
churn__dashboard_feed(void *ctx, const struct churn_admin_request *r,
                      struct churn_admin_reply *reply)
{
    struct churn_dashboard *d = ctx;
    static const char *const known[] = {"after"};
    const char *bad = churn_admin_query_unknown(r, known, 1);
    if (bad) {
        churn__dashboard_bad_request(reply, bad, "unknown parameter");
        return;
    }
    struct churn_alert_hub *hub = churn_services_alert_hub(d->svc);
    if (!hub) {
        reply->status = 503;
        churn_buf_append_str(&reply->body, "the store is not open yet\n");
        return;
    }
    uint64_t after;
    if (!feed_start(r, churn_alert_hub_head(hub), &after, reply))
        return;
    struct feed *f = churn_calloc(1, sizeof(*f));
    if (!f) {
        reply->status = 503;
        churn_buf_append_str(&reply->body, "out of memory\n");
        return;
    }
    f->svc = d->svc;
    f->hub = hub;
    f->last = after;
    churn_buf_init(&f->out, FEED_BUF_CAP);
    /* the first bytes tell the browser how soon to reconnect */
    churn_buf_append_str(&f->out, "retry: 1000\n\n");
    reply->content_type = "text/event-stream";
    f->stream = churn_admin_reply_stream(reply, &feed_ops, f);
}
