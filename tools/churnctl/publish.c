/*
 * publish.c - the NATS JetStream sink of `churnctl import --events FILE --nats URLS` (issue 16,
 * docs/CLUSTER.md): each event, serialized as a churn.v1.RecordEventsRequest, is published
 * asynchronously to `ingest.<customer>` (the cluster's NATS maps the subject to the
 * customer's partition and its stream); a flush waits until JetStream has acknowledged every
 * message (stored in its replicated stream) and fails naming how many were not. A customer id
 * that cannot be a subject token ('.', '*', '>', whitespace, control bytes) is refused with
 * the reason, so the caller rejects that line.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <nats/nats.h>

#include "churn/alloc.h"
#include "churn/nats_end.h"
#include "ctl.h"

#define PUBLISH_MAX_PENDING 4096
#define PUBLISH_WAIT_MS     30000
#define SUBJECT_MAX         256
#define NATS_TEARDOWN_MS    5000 /* the library's threads wind down within this */

struct ctl_publisher {
    natsConnection *nc;
    jsCtx *js;
    atomic_int failed;     /* publishes JetStream refused (no stream, ...) */
    char first_error[256]; /* the first refusal's text */
};

/* A refused publish (the library's thread): counted, the first one's reason kept. */
static void
on_pub_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    (void)js;
    struct ctl_publisher *p = closure;
    if (atomic_fetch_add(&p->failed, 1) == 0)
        snprintf(p->first_error, sizeof(p->first_error), "%s: %s", natsMsg_GetSubject(pae->Msg),
                 pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
}

int
ctl_publisher_open(const char *urls, struct ctl_publisher **out)
{
    struct ctl_publisher *p = churn_calloc(1, sizeof(*p));
    if (!p) {
        fprintf(stderr, "churnctl: out of memory\n");
        return -1;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = PUBLISH_MAX_PENDING;
    jo.PublishAsync.StallWait = PUBLISH_WAIT_MS; /* a loaded cluster: wait, do not fail */
    jo.PublishAsync.ErrHandler = on_pub_error;
    jo.PublishAsync.ErrHandlerClosure = p;
    natsStatus s = natsConnection_ConnectTo(&p->nc, urls);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&p->js, p->nc, &jo);
    if (s != NATS_OK) {
        fprintf(stderr, "churnctl: --nats %s: %s\n", urls, natsStatus_GetText(s));
        ctl_publisher_close(p);
        return -1;
    }
    *out = p;
    return 0;
}

const char *
ctl_publisher_first_error(const struct ctl_publisher *p)
{
    return p->first_error;
}

bool
ctl_publisher_subject_ok(const char *customer, char *reason, size_t rlen)
{
    for (const unsigned char *c = (const unsigned char *)customer; *c; c++) {
        if (*c <= ' ' || *c == '.' || *c == '*' || *c == '>' || *c == 0x7f) {
            snprintf(reason, rlen,
                     "customer_id '%s': a NATS subject token cannot hold '.', '*', '>', "
                     "whitespace or control characters",
                     customer);
            return false;
        }
    }
    return true;
}

int
ctl_publisher_send(struct ctl_publisher *p, const char *customer, const void *data, size_t len)
{
    char subject[SUBJECT_MAX];
    snprintf(subject, sizeof(subject), "ingest.%s", customer);
    natsStatus s = js_PublishAsync(p->js, subject, data, (int)len, NULL);
    if (s != NATS_OK) {
        fprintf(stderr, "churnctl: publish %s: %s\n", subject, natsStatus_GetText(s));
        return -1;
    }
    return 0;
}

int
ctl_publisher_flush(struct ctl_publisher *p)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = PUBLISH_WAIT_MS;
    natsStatus s = js_PublishAsyncComplete(p->js, &po);
    int failed = atomic_exchange(&p->failed, 0);
    if (s == NATS_OK && failed == 0)
        return 0;
    if (s == NATS_OK)
        return failed; /* refused (a stream without a leader for a moment): resend */
    natsMsgList pending = {0};
    int n = js_PublishAsyncGetPendingList(&pending, p->js) == NATS_OK ? pending.Count : 0;
    natsMsgList_Destroy(&pending);
    fprintf(stderr,
            "churnctl: JetStream did not acknowledge %d published events within %d ms (%s): "
            "run the same import again (events already stored count as duplicates)\n",
            n, PUBLISH_WAIT_MS, natsStatus_GetText(s));
    return -1;
}

void
ctl_publisher_close(struct ctl_publisher *p)
{
    if (!p)
        return;
    /* messages never acknowledged (a flush that gave up) are ours once taken off the list */
    natsMsgList pending = {0};
    if (p->js && js_PublishAsyncGetPendingList(&pending, p->js) == NATS_OK)
        natsMsgList_Destroy(&pending);
    churn_nats_end(p->nc, p->js, NATS_TEARDOWN_MS);
    churn_free(p);
}
