/*
 * store/scores.c - the store's side of scores (churn/score_store.h): an event applied to a
 * decoded record in memory with the same validation and bucketing as a committed one.
 */
#include "churn/score_store.h"

#include "store_internal.h"
#include "store_lmdb.h"

enum churn_err
churn_store_preview_event(struct churn_store *s, struct churn_customer *rec,
                          const struct churn_event *ev, int64_t now_ms, char *reason,
                          size_t reason_len)
{
    enum churn_err err = churn_event_validate(ev, now_ms, s->opts.skew_ms, reason, reason_len);
    if (!err)
        err = churn__record_check_event(rec, ev, reason, reason_len);
    if (err)
        return err;
    int32_t min_day = churn_day_of_ms(now_ms) - (int32_t)s->opts.horizon_days + 1;
    churn__record_apply(rec, ev, min_day);
    churn__record_prune(rec, min_day);
    return CHURN_OK;
}
