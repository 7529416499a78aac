/*
 * churn/store_chat.h - one durable write transaction for a group of AnalyzeChat turns
 * (src/store/chat_group.c, issue 13): the conversation states, the chat signals (each an event
 * applied to its customer's record, idempotent on its event id) and the scores computed from
 * the records those signals leave, so that a group of turns costs one commit and one fsync,
 * and a turn's answer, released after it, reports only what is durable. Other writers' items
 * (the alert engine's rescored states, the score keeper's scores) may ride the same commit, so
 * that a chat load's writers take LMDB's write lock and pay an fsync once per group.
 */
#ifndef CHURN_STORE_CHAT_H
#define CHURN_STORE_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"
#include "churn/event.h"
#include "churn/score_store.h"
#include "churn/store.h"

/*
 * struct churn_chat_signal_put - one turn's chat signal: @event (its customer's own, with an
 * event id) applied as churn_store_apply_events() would, its outcome in *@result. When
 * @base_digest is not 0 the turn also has a score, computed from the record whose stored
 * bytes have that digest with @event applied in memory; it is stored (see
 * churn_store_commit_chat()) only when that record is still the one the event is applied to.
 */
struct churn_chat_signal_put {
    const struct churn_event *event;
    struct churn_event_result *result;
    uint64_t base_digest;
};

/*
 * typedef churn_chat_score_fill_fn - the encoded score of signal @i, now that its record's
 * new bytes have digest @record_digest: *@data (valid until the next call) and *@len (1 ..
 * CHURN_STORE_SCORE_MAX). An error aborts the transaction. May run again for the same @i if
 * the transaction is retried.
 */
typedef enum churn_err churn_chat_score_fill_fn(size_t i, uint64_t record_digest, void *user,
                                                const void **data, size_t *len);

/*
 * struct churn_chat_rider - another writer's items riding a group's commit, written after the
 * turns and in this order: @n_states conversation states (an escalating turn's, with its
 * alert: both or neither), @n_alerts alerts appended with their customers' states as
 * churn_store_append_alerts_with_states() would (@alert_ids, @alert_fill with @alert_user,
 * the sequences into @alert_seqs), @alert_states as churn_store_put_alert_states() would,
 * then @scores as churn_store_put_scores() would (each only while its customer's record,
 * signals of the group applied, still has its digest). A rider is written whole or not at
 * all, apart from the others: one whose items fail their checks, or whose @alert_fill fails,
 * is refused alone and the group goes on without it; a storage error (disk or map full, I/O)
 * fails the group. OUT, set by churn_store_commit_chat(): @err (the rider's own error, else
 * the group's outcome), @written (scores stored) and @error (the message when @err is not 0).
 */
struct churn_chat_rider {
    const struct churn_conversation_put *states;
    size_t n_states;
    size_t n_alerts;
    const char *const *alert_ids;
    churn_store_alerts_fill_fn *alert_fill;
    void *alert_user;
    uint64_t *alert_seqs;
    const struct churn_alert_state_put *alert_states;
    size_t n_alert_states;
    const struct churn_store_score_put *scores;
    size_t n_scores;
    enum churn_err err;
    size_t written;
    char error[256];
};

/*
 * struct churn_chat_group - what one commit carries: @n_states conversation states (later
 * items win over earlier ones with the same key) and @n_signals signals at @now_ms, with
 * @fill for their scores (NULL: no scores stored), and @n_riders riders (written after the
 * turns).
 */
struct churn_chat_group {
    const struct churn_conversation_put *states;
    size_t n_states;
    const struct churn_chat_signal_put *signals;
    size_t n_signals;
    int64_t now_ms;
    churn_chat_score_fill_fn *fill;
    void *fill_user;
    struct churn_chat_rider *const *riders;
    size_t n_riders;
};

/**
 * churn_store_commit_chat() - write @g in ONE durable transaction: every state, every signal
 * (each result set: accepted, duplicate or rejected with its reason, as for ingestion) and,
 * for each accepted signal with a score whose customer had, before the transaction, the
 * record of digest base_digest and gets no other signal in @g, that score (the stored score
 * of the record the signal leaves), then every rider's items (each rider's err and written
 * set). All or nothing: on an error nothing of @g is stored and the results are meaningless
 * (a rider refused by its checks is not an error of the group). CHURN_EINVAL (a bad id or an
 * oversized state, nothing written), CHURN_EFULL (disk or map full), CHURN_EIO.
 */
enum churn_err churn_store_commit_chat(struct churn_store *store, const struct churn_chat_group *g);

#endif
