/*
 * fuzz_event.c - libFuzzer target for the domain side of RecordEvents validation
 * (churn_event_validate, src/store/event.c): the first byte picks the kind, 0xFF-separated
 * parts give the event id, customer id and the kind's text field, and the last bytes the
 * numbers. Every event is accepted or refused with a message that names a field; never a
 * crash, a leak or a read out of bounds (issue 13 item 6).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "churn/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PARTS    3
#define PART_MAX 512

static size_t
split(const uint8_t *data, size_t size, char parts[PARTS][PART_MAX + 1], size_t *used)
{
    size_t p = 0, n = 0, i = 0;
    for (; i < size && p < PARTS; i++) {
        if (data[i] == 0xff) {
            parts[p++][n] = '\0';
            n = 0;
        } else if (n < PART_MAX) {
            parts[p][n++] = (char)data[i];
        }
    }
    if (p < PARTS)
        parts[p][n] = '\0';
    *used = i;
    return p;
}

static int64_t
number(const uint8_t *data, size_t size, size_t at)
{
    int64_t v = 0;
    if (at + sizeof(v) <= size)
        memcpy(&v, data + at, sizeof(v));
    return v;
}

static void
fill_kind(struct churn_event *ev, const char *text, int64_t v)
{
    double x = (double)v / 1000.0;
    int small = (int)(v % 1000);
    switch (ev->kind) {
    case CHURN_EVENT_SESSION:
        ev->session.minutes = x;
        break;
    case CHURN_EVENT_ORDER:
        ev->order.order_id = text;
        ev->order.amount = x;
        ev->order.currency = text;
        ev->order.status = (enum churn_order_status)(small & 7);
        break;
    case CHURN_EVENT_LISTING:
        ev->listing.active_listings = v;
        break;
    case CHURN_EVENT_TICKET:
        ev->ticket.action = (enum churn_ticket_action)(small & 3);
        ev->ticket.category = text;
        break;
    case CHURN_EVENT_REVIEW:
        ev->review.rating = small;
        ev->review.text = text;
        ev->review.sentiment = NAN;
        break;
    case CHURN_EVENT_PLAN_CHANGE:
        ev->plan.action = (enum churn_plan_action)(small & 7);
        ev->plan.plan = text;
        ev->plan.monthly_value = x;
        break;
    case CHURN_EVENT_CHURN:
        ev->churn.reason = text;
        break;
    default:
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static char parts[PARTS][PART_MAX + 1];
    memset(parts, 0, sizeof(parts));
    size_t used;
    split(data + 1, size - 1, parts, &used);
    struct churn_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = (enum churn_event_kind)(data[0] % (CHURN_EVENT__COUNT + 2));
    ev.event_id = parts[0];
    ev.customer_id = parts[1];
    ev.occurred_at_ms = number(data, size, 1 + used);
    fill_kind(&ev, parts[2], number(data, size, 1 + used + 8));
    char why[CHURN_REASON_MAX];
    why[0] = '\0';
    if (churn_event_validate(&ev, 1800000000000LL, CHURN_EVENT_SKEW_MS, why, sizeof(why)) !=
            CHURN_OK &&
        (!why[0] || !strchr(why, ':')))
        __builtin_trap();
    return 0;
}
