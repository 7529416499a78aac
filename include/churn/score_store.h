/*
 * churn/score_store.h - what the engine needs from the store for scores (issue 12): the
 * record a score is computed from, with an event applied in memory exactly as the store
 * would apply it, so a chat turn scores the customer once, after its own signal, before that
 * signal is committed.
 */
#ifndef CHURN_SCORE_STORE_H
#define CHURN_SCORE_STORE_H

#include <stdint.h>

#include "churn/error.h"
#include "churn/event.h"
#include "churn/store.h"

/**
 * churn_store_preview_event() - apply @ev to the decoded record @rec in memory as a commit
 * at @now_ms would (same validation, day buckets inside the store's horizon, pruning), the
 * store unchanged. CHURN_EINVAL (with @reason) for an event the store would reject; @rec is
 * then unchanged.
 */
enum churn_err churn_store_preview_event(struct churn_store *store, struct churn_customer *rec,
                                         const struct churn_event *ev, int64_t now_ms, char *reason,
                                         size_t reason_len);

#endif
