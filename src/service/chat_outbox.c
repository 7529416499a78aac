/*
 * chat_outbox.c - the answers of one AnalyzeChat stream, sent in turn order once what each
 * reports is durable. A turn's answer waits for the chat saver's commit that carries the
 * conversation state it produced (its ticket); an escalating turn's answer waits for the alert
 * engine to commit its alert (then its Escalation.alert_sequence is set) with the turn's
 * conversation state and chat signal in the same transaction (the engine's commit rides the
 * chat saver's: one commit for the turn), or, when the engine could not take them along (the
 * rules suppressed the alert, no saver), queues them once the alert is durable, so a state on
 * disk never runs ahead of the alert of a turn it includes. Answers that need nothing
 * (refused turns, replays) still wait for the ones before them. The stream stops reading while an
 * escalation is being committed (so no later turn of it changes state meanwhile) and while too many
 * answers wait, so a client that reads nothing cannot grow the queue. The outbox is shared with the
 * saver's and the engine's threads and freed with its last reference.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/log.h"
#include "churn_proto.h"
#include "service_internal.h"

#define OUTBOX_HIGH 256 /* answers waiting or queued on the stream: stop reading */
#define OUTBOX_LOW  128 /* ... and read again below this */
#define STATE_MAX   600 /* a conversation record (sequence + tracker state) */

/* An escalating turn's state, committed with its alert or queued once its alert is durable. */
struct pending_state {
    char customer_id[CHURN_ID_MAX + 1];
    char conversation_id[CHURN_ID_MAX + 1];
    unsigned char data[STATE_MAX];
    struct churn__chat_turn_put put; /* the above, and the signal committed with the state */
};

struct answer {
    struct answer *next;
    struct churn__chat_outbox *ob;
    struct churn_rpc_payload *payload; /* the bytes to send (no alert to wait for) */
    uint8_t *packed;                   /* escalation: sent with the alert's sequence set */
    size_t packed_len;
    uint64_t ticket;       /* the saver commit to wait for; 0: none */
    bool alert_wait;       /* the alert is being committed */
    enum churn_err failed; /* what it reports could not be made durable */
    const char *failed_what;
    uint64_t alert_sequence;
    uint64_t turn_sequence;
    struct pending_state *state;
};

struct churn__chat_outbox {
    pthread_mutex_t mu;
    atomic_int refs; /* the stream's, each alert job's, the saver watcher's */
    struct churn_rpc *rpc;
    struct churn__chat_saver *saver;
    struct churn__chat_saver_watcher watcher;
    struct answer *head, *tail; /* (mu) in turn order */
    size_t n;                   /* (mu) */
    size_t escalations;         /* (mu) answers waiting for their alert */
    uint64_t durable_upto;      /* (mu) saver commits done */
    uint64_t failed_batch;      /* (mu) the last saver commit that failed (0: none) */
    bool held;                  /* (mu) the stream is not reading */
    bool half_closed;           /* (mu) the client sent everything: finish when empty */
    bool over;                  /* (mu) finished or closed: nothing more is sent */
};

static void
outbox_put(struct churn__chat_outbox *ob)
{
    if (atomic_fetch_sub(&ob->refs, 1) != 1)
        return;
    for (struct answer *a = ob->head, *next; a; a = next) {
        next = a->next;
        churn_rpc_payload_free(a->payload);
        churn_free(a->packed);
        churn_free(a->state);
        churn_free(a);
    }
    pthread_mutex_destroy(&ob->mu);
    churn_rpc_unref(ob->rpc);
    churn_free(ob);
}

static void
answer_free(struct answer *a)
{
    churn_rpc_payload_free(a->payload);
    churn_free(a->packed);
    churn_free(a->state);
    churn_free(a);
}

/* Send an escalating answer with its alert's sequence set. */
static enum churn_err
send_escalation_locked(struct churn__chat_outbox *ob, struct answer *a)
{
    Churn__V1__AnalyzeChatResponse *m =
        churn__v1__analyze_chat_response__unpack(NULL, a->packed_len, a->packed);
    if (!m)
        return CHURN_ENOMEM;
    if (m->escalation)
        m->escalation->alert_sequence = a->alert_sequence;
    enum churn_err err = churn_rpc_send(ob->rpc, &m->base);
    churn__v1__analyze_chat_response__free_unpacked(m, NULL);
    return err;
}

/* Saver commit @batch failed: the answers waiting for it fail. */
static void
fail_batch_locked(struct churn__chat_outbox *ob, uint64_t batch)
{
    ob->failed_batch = batch;
    for (struct answer *a = ob->head; a; a = a->next)
        if (a->ticket == batch && !a->failed) {
            a->failed = CHURN_EIO;
            a->failed_what = "the turn (its conversation state and chat signal)";
        }
}

static void
fail_locked(struct churn__chat_outbox *ob, const struct answer *a, const char *what,
            enum churn_err err)
{
    churn_log(CHURN_LOG_ERROR, "chat_answer_not_durable", CHURN_LF_STR("what", what),
              CHURN_LF_STR("error", churn_strerror(err)));
    churn_rpc_finish(ob->rpc, CHURN_EUNAVAIL,
                     "%s could not be made durable (%s): resend from turn_sequence %llu", what,
                     churn_strerror(err), (unsigned long long)a->turn_sequence);
    ob->over = true;
}

static bool
ready_locked(const struct churn__chat_outbox *ob, const struct answer *a)
{
    return !a->alert_wait && (a->ticket == 0 || a->ticket <= ob->durable_upto);
}

/* Read again when nothing holds the stream back; ask to be told when the stream's own
 * queue is the reason. */
static void
maybe_resume_locked(struct churn__chat_outbox *ob)
{
    if (!ob->held || ob->over || ob->escalations || ob->n >= OUTBOX_LOW)
        return;
    if (churn_rpc_queued(ob->rpc) >= OUTBOX_LOW && churn_rpc_notify_writable(ob->rpc, OUTBOX_LOW))
        return;
    ob->held = false;
    churn_rpc_resume_recv(ob->rpc);
}

/* Send the answers at the head that are ready, in order. */
static void
release_locked(struct churn__chat_outbox *ob)
{
    while (!ob->over && ob->head) {
        struct answer *a = ob->head;
        if (a->failed) {
            fail_locked(ob, a, a->failed_what, a->failed);
            return;
        }
        if (!ready_locked(ob, a))
            break;
        enum churn_err err =
            a->packed ? send_escalation_locked(ob, a) : churn_rpc_send_payload(ob->rpc, a->payload);
        if (err == CHURN_ECANCELLED) {
            ob->over = true; /* the call is over */
            return;
        }
        if (err) {
            fail_locked(ob, a, "the answer", err);
            return;
        }
        ob->head = a->next;
        if (!ob->head)
            ob->tail = NULL;
        ob->n--;
        answer_free(a);
    }
    if (!ob->over && !ob->head && ob->half_closed) {
        churn_rpc_finish(ob->rpc, CHURN_OK, "");
        ob->over = true;
    }
    maybe_resume_locked(ob);
}

/* The saver's watcher: commit @batch is over. */
static void
saver_committed(void *ctx, uint64_t batch, bool ok)
{
    struct churn__chat_outbox *ob = ctx;
    pthread_mutex_lock(&ob->mu);
    if (ok && batch > ob->durable_upto)
        ob->durable_upto = batch;
    else if (!ok)
        fail_batch_locked(ob, batch);
    release_locked(ob);
    pthread_mutex_unlock(&ob->mu);
}

enum churn_err
churn__chat_outbox_open(struct churn_rpc *rpc, struct churn__chat_saver *saver,
                        struct churn__chat_outbox **out)
{
    struct churn__chat_outbox *ob = churn_calloc(1, sizeof(*ob));
    if (!ob)
        return CHURN_ENOMEM;
    pthread_mutex_init(&ob->mu, NULL);
    atomic_init(&ob->refs, 1);
    ob->rpc = churn_rpc_ref(rpc);
    ob->saver = saver;
    ob->watcher.committed = saver_committed;
    ob->watcher.ctx = ob;
    if (saver)
        churn__chat_saver_watch(saver, &ob->watcher);
    *out = ob;
    return CHURN_OK;
}

void
churn__chat_outbox_close(struct churn__chat_outbox *ob)
{
    if (!ob)
        return;
    if (ob->saver)
        churn__chat_saver_unwatch(ob->saver, &ob->watcher);
    pthread_mutex_lock(&ob->mu);
    ob->over = true;
    pthread_mutex_unlock(&ob->mu);
    outbox_put(ob);
}

static void
append_locked(struct churn__chat_outbox *ob, struct answer *a)
{
    a->ob = ob;
    if (a->ticket && a->ticket == ob->failed_batch) { /* told before it was here */
        a->failed = CHURN_EIO;
        a->failed_what = "the turn (its conversation state and chat signal)";
    }
    if (ob->tail)
        ob->tail->next = a;
    else
        ob->head = a;
    ob->tail = a;
    ob->n++;
}

enum churn_err
churn__chat_outbox_answer(struct churn__chat_outbox *ob, const ProtobufCMessage *resp,
                          uint64_t turn_sequence, uint64_t ticket)
{
    struct answer *a = churn_calloc(1, sizeof(*a));
    struct churn_rpc_payload *p =
        a ? churn__chat_answer_payload((const Churn__V1__AnalyzeChatResponse *)resp) : NULL;
    if (!p) {
        churn_free(a);
        return CHURN_ENOMEM;
    }
    a->payload = p;
    a->ticket = ticket;
    a->turn_sequence = turn_sequence;
    pthread_mutex_lock(&ob->mu);
    append_locked(ob, a);
    release_locked(ob);
    pthread_mutex_unlock(&ob->mu);
    return CHURN_OK;
}

/* The engine's completion of an escalation's alert: done when the turn went with it, else
 * queue the turn's state, then wait for it. */
static void
alert_done(void *ctx, enum churn_err err, uint64_t alert_sequence)
{
    struct answer *a = ctx;
    struct churn__chat_outbox *ob = a->ob;
    struct churn__chat_turn_put *t = &a->state->put;
    uint64_t ticket = 0;
    struct churn__chat_signal *sig = t->signal; /* NULL when the turn went with the alert */
    t->signal = NULL;
    if (!err && ob->saver && !t->written) {
        ticket = churn__chat_saver_put_turn(ob->saver, t->customer_id, t->conversation_id, t->data,
                                            t->len, sig);
        if (!ticket)
            err = CHURN_EAGAIN;
    }
    if (sig && !ticket)
        sig->done(sig, err ? err : CHURN_EAGAIN); /* not committed */
    pthread_mutex_lock(&ob->mu);
    a->alert_wait = false;
    a->alert_sequence = alert_sequence;
    a->ticket = ticket;
    if (err && !a->failed) {
        a->failed = err;
        a->failed_what =
            ticket ? "the turn (its conversation state and chat signal)" : "the escalation's alert";
    } else if (ticket && ticket == ob->failed_batch) {
        a->failed = CHURN_EIO;
        a->failed_what = "the turn (its conversation state and chat signal)";
    }
    ob->escalations--;
    release_locked(ob);
    pthread_mutex_unlock(&ob->mu);
    outbox_put(ob);
}

enum churn_err
churn__chat_outbox_escalation(struct churn__chat_outbox *ob, const ProtobufCMessage *resp,
                              uint64_t turn_sequence, const struct churn__chat_escalation *esc)
{
    struct answer *a = churn_calloc(1, sizeof(*a));
    struct pending_state *st = churn_malloc(sizeof(*st));
    size_t size = protobuf_c_message_get_packed_size(resp);
    uint8_t *packed = churn_malloc(size ? size : 1);
    if (!a || !st || !packed || esc->state_len > sizeof(st->data)) {
        churn_free(a);
        churn_free(st);
        churn_free(packed);
        if (esc->signal)
            esc->signal->done(esc->signal, CHURN_ENOMEM);
        return CHURN_ENOMEM;
    }
    a->packed_len = protobuf_c_message_pack(resp, packed);
    a->packed = packed;
    snprintf(st->customer_id, sizeof(st->customer_id), "%s", esc->customer_id);
    snprintf(st->conversation_id, sizeof(st->conversation_id), "%s", esc->conversation_id);
    memcpy(st->data, esc->state, esc->state_len);
    st->put = (struct churn__chat_turn_put){st->customer_id, st->conversation_id, st->data,
                                            esc->state_len,  esc->signal,         false};
    a->state = st;
    a->turn_sequence = turn_sequence;
    a->alert_wait = true;
    pthread_mutex_lock(&ob->mu);
    append_locked(ob, a);
    ob->escalations++;
    atomic_fetch_add(&ob->refs, 1); /* the job's */
    pthread_mutex_unlock(&ob->mu);
    if (churn__alerts_chat(esc->alerts, esc->customer_id, esc->cause, esc->reason, esc->evidence,
                           esc->confidence, esc->score, &st->put, alert_done, a))
        return CHURN_OK;
    alert_done(a, CHURN_EAGAIN, 0); /* refused: the stream ends, asking for the turn again */
    return CHURN_OK;
}

bool
churn__chat_outbox_hold(struct churn__chat_outbox *ob)
{
    pthread_mutex_lock(&ob->mu);
    if (!ob->held && !ob->over &&
        (ob->escalations || ob->n >= OUTBOX_HIGH || churn_rpc_queued(ob->rpc) >= OUTBOX_HIGH)) {
        ob->held = true;
        churn_rpc_hold_recv(ob->rpc); /* under mu: a resume cannot come before it */
    }
    bool held = ob->held;
    pthread_mutex_unlock(&ob->mu);
    return held;
}

void
churn__chat_outbox_writable(struct churn__chat_outbox *ob)
{
    pthread_mutex_lock(&ob->mu);
    maybe_resume_locked(ob);
    pthread_mutex_unlock(&ob->mu);
}

void
churn__chat_outbox_half_close(struct churn__chat_outbox *ob)
{
    pthread_mutex_lock(&ob->mu);
    ob->half_closed = true;
    release_locked(ob);
    pthread_mutex_unlock(&ob->mu);
}
