/*
 * service/daily_snapshot.c - the alert engine's side of the daily aggregate snapshot (issue
 * 15): at the end of each sweep, churn_snapshot_take_daily() with the engine's reader of the
 * stored alert states and --trend-keep-days; only the first sweep of a UTC day does any work.
 * The outcome is logged (daily_snapshot_taken with the day's figures, or
 * daily_snapshot_failed); a failure never stops the sweep.
 */
#include <stdint.h>

#include "churn/clock.h"
#include "churn/log.h"
#include "churn/snapshot.h"
#include "churn/store.h"
#include "../engine/alert_engine.h"

void
churn__daily_snapshot(struct churn__alerts *al)
{
    int64_t keep = al->svc->trend_keep_days;
    unsigned keep_days = keep > 0 ? (unsigned)keep : CHURN_SNAPSHOT_KEEP_DAYS_DEFAULT;
    int64_t t0 = churn_now_ms();
    bool taken = false;
    enum churn_err err =
        churn_snapshot_take_daily(al->store, t0, keep_days, churn_snapshot_read_state, &taken);
    if (err) {
        churn_log(CHURN_LOG_WARN, "daily_snapshot_failed",
                  CHURN_LF_STR("error", churn_store_last_error()));
        return;
    }
    struct churn_daily_snapshot s;
    if (!taken || churn_snapshot_latest(al->store, &s) != CHURN_OK)
        return;
    churn_log(CHURN_LOG_INFO, "daily_snapshot_taken", CHURN_LF_INT("day", s.day),
              CHURN_LF_INT("customers", (int64_t)s.customers),
              CHURN_LF_INT("at_risk", (int64_t)churn_daily_snapshot_at_risk(&s)),
              CHURN_LF_DBL("revenue_at_risk", churn_daily_snapshot_revenue_at_risk(&s)),
              CHURN_LF_INT("alerts_raised", (int64_t)s.alerts_raised),
              CHURN_LF_INT("churned", (int64_t)s.churned),
              CHURN_LF_INT("duration_ms", churn_now_ms() - t0));
}
