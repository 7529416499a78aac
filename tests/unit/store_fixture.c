/*
 * tests/unit/store_fixture.c: the shared store steps of the unit suites (store_fixture.h),
 * through the store's public contract only.
 */
#include "store_fixture.h"

#include <criterion/criterion.h>

#include "churn/clock.h"
#include "churn/customer.h"
#include "churn/event.h"

void
churn_test_login(struct churn_store *st, const char *cid, const char *eid)
{
    struct churn_event ev = {.kind = CHURN_EVENT_LOGIN,
                             .event_id = eid,
                             .customer_id = cid,
                             .occurred_at_ms = churn_now_ms() - 1000};
    struct churn_event_result r;
    cr_assert_eq(churn_store_apply_events(st, &ev, 1, churn_now_ms(), &r), CHURN_OK, "%s",
                 churn_store_last_error());
}

uint64_t
churn_test_digest(struct churn_store *st, const char *cid)
{
    static struct churn_customer rec; /* big: off the stack */
    struct churn_store_reader *rd;
    uint64_t d = 0;
    bool decoded;
    cr_assert_eq(churn_store_reader_open(st, &rd), CHURN_OK);
    enum churn_err e = churn_store_reader_get_customer_digest(rd, cid, NULL, &d, &decoded, &rec);
    churn_store_reader_close(rd);
    return e == CHURN_OK ? d : 0;
}
