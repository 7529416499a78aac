/*
 * event_codec.c - the one conversion between the API's Event message and the domain's
 * struct churn_event, in both directions: proto → domain for RecordEvents and the JetStream
 * consumer (every required enum checked, the reason naming the field), domain → proto for
 * churnctl import, which sends what it parsed from CSV or JSON Lines to a server or NATS.
 * Both directions allocate in the caller's arena, so nothing here is freed by hand.
 */
#include "churn/event_codec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "churn_proto.h"

/* ---- proto → domain --------------------------------------------------------------------- */

static const char *
arena_copy(struct churn_arena *a, const char *s)
{
    return s ? churn_arena_strdup(a, s) : NULL;
}

enum churn_err
churn__event_from_proto(const Churn__V1__Event *pe, struct churn_arena *a, struct churn_event *ev,
                        char *reason, size_t rlen, const char **field)
{
    memset(ev, 0, sizeof(*ev));
    ev->event_id = arena_copy(a, pe->event_id);
    ev->customer_id = arena_copy(a, pe->customer_id);
    ev->occurred_at_ms = pe->occurred_at_ms;
    if (!ev->event_id || !ev->customer_id)
        return CHURN_ENOMEM;
    switch (pe->kind_case) {
    case CHURN__V1__EVENT__KIND_LOGIN:
        ev->kind = CHURN_EVENT_LOGIN;
        break;
    case CHURN__V1__EVENT__KIND_SESSION:
        ev->kind = CHURN_EVENT_SESSION;
        ev->session.minutes = pe->session->minutes;
        break;
    case CHURN__V1__EVENT__KIND_ORDER:
        ev->kind = CHURN_EVENT_ORDER;
        ev->order.order_id = arena_copy(a, pe->order->order_id);
        ev->order.amount = pe->order->amount;
        ev->order.currency = arena_copy(a, pe->order->currency);
        if (pe->order->status == CHURN__V1__ORDER_STATUS__ORDER_STATUS_UNSPECIFIED) {
            *field = "event.order.status";
            snprintf(reason, rlen,
                     "event.order.status: required (COMPLETED, CANCELLED or "
                     "REFUNDED)");
            return CHURN_EINVAL;
        }
        ev->order.status = pe->order->status == CHURN__V1__ORDER_STATUS__ORDER_STATUS_CANCELLED
                               ? CHURN_ORDER_CANCELLED
                           : pe->order->status == CHURN__V1__ORDER_STATUS__ORDER_STATUS_REFUNDED
                               ? CHURN_ORDER_REFUNDED
                               : CHURN_ORDER_COMPLETED;
        break;
    case CHURN__V1__EVENT__KIND_LISTING_UPDATE:
        ev->kind = CHURN_EVENT_LISTING;
        ev->listing.active_listings = pe->listing_update->active_listings;
        break;
    case CHURN__V1__EVENT__KIND_SUPPORT_TICKET:
        ev->kind = CHURN_EVENT_TICKET;
        if (pe->support_ticket->action == CHURN__V1__TICKET_ACTION__TICKET_ACTION_UNSPECIFIED) {
            *field = "event.support_ticket.action";
            snprintf(reason, rlen, "event.support_ticket.action: required (OPENED or RESOLVED)");
            return CHURN_EINVAL;
        }
        ev->ticket.action =
            pe->support_ticket->action == CHURN__V1__TICKET_ACTION__TICKET_ACTION_RESOLVED
                ? CHURN_TICKET_RESOLVED
                : CHURN_TICKET_OPENED;
        ev->ticket.category = arena_copy(a, pe->support_ticket->category);
        break;
    case CHURN__V1__EVENT__KIND_REVIEW:
        ev->kind = CHURN_EVENT_REVIEW;
        ev->review.rating = pe->review->rating;
        ev->review.text = arena_copy(a, pe->review->text);
        ev->review.sentiment = NAN;
        break;
    case CHURN__V1__EVENT__KIND_PLAN_CHANGE:
        ev->kind = CHURN_EVENT_PLAN_CHANGE;
        switch (pe->plan_change->direction) {
        case CHURN__V1__PLAN_CHANGE_DIRECTION__PLAN_CHANGE_DIRECTION_UPGRADE:
            ev->plan.action = CHURN_PLAN_UPGRADE;
            break;
        case CHURN__V1__PLAN_CHANGE_DIRECTION__PLAN_CHANGE_DIRECTION_DOWNGRADE:
            ev->plan.action = CHURN_PLAN_DOWNGRADE;
            break;
        case CHURN__V1__PLAN_CHANGE_DIRECTION__PLAN_CHANGE_DIRECTION_CANCEL:
            ev->plan.action = CHURN_PLAN_CANCEL;
            break;
        default:
            *field = "event.plan_change.direction";
            snprintf(reason, rlen,
                     "event.plan_change.direction: must be UPGRADE, DOWNGRADE or "
                     "CANCEL");
            return CHURN_EINVAL;
        }
        ev->plan.plan = arena_copy(a, pe->plan_change->to_plan);
        ev->plan.monthly_value = pe->plan_change->monthly_value;
        break;
    case CHURN__V1__EVENT__KIND_CHURN:
        ev->kind = CHURN_EVENT_CHURN;
        ev->churn.reason = arena_copy(a, pe->churn->reason);
        break;
    case CHURN__V1__EVENT__KIND_CUSTOM:
        ev->kind = CHURN_EVENT_CUSTOM;
        ev->custom.name = arena_copy(a, pe->custom->name);
        ev->custom.value = pe->custom->value;
        break;
    default:
        *field = "event";
        snprintf(reason, rlen,
                 "event: unknown event type (set one of login, session, order, "
                 "listing_update, support_ticket, review, plan_change, churn, "
                 "custom)");
        return CHURN_EINVAL;
    }
    return CHURN_OK;
}

/* ---- domain → proto --------------------------------------------------------------------- */

static char *
pb_str(const char *s)
{
    return (char *)(s ? s : "");
}

static Churn__V1__OrderStatus
order_status_to_proto(enum churn_order_status s)
{
    return s == CHURN_ORDER_CANCELLED  ? CHURN__V1__ORDER_STATUS__ORDER_STATUS_CANCELLED
           : s == CHURN_ORDER_REFUNDED ? CHURN__V1__ORDER_STATUS__ORDER_STATUS_REFUNDED
                                       : CHURN__V1__ORDER_STATUS__ORDER_STATUS_COMPLETED;
}

static Churn__V1__PlanChangeDirection
plan_direction_to_proto(enum churn_plan_action a)
{
    return a == CHURN_PLAN_UPGRADE ? CHURN__V1__PLAN_CHANGE_DIRECTION__PLAN_CHANGE_DIRECTION_UPGRADE
           : a == CHURN_PLAN_DOWNGRADE
               ? CHURN__V1__PLAN_CHANGE_DIRECTION__PLAN_CHANGE_DIRECTION_DOWNGRADE
               : CHURN__V1__PLAN_CHANGE_DIRECTION__PLAN_CHANGE_DIRECTION_CANCEL;
}

/* The kinds whose payload has no strings: login, session, listing, custom's value. */
static bool
simple_kind_to_proto(const struct churn_event *ev, Churn__V1__Event *pe, struct churn_arena *a)
{
    switch (ev->kind) {
    case CHURN_EVENT_LOGIN:
        pe->kind_case = CHURN__V1__EVENT__KIND_LOGIN;
        pe->login = churn_arena_alloc(a, sizeof(*pe->login));
        if (pe->login)
            churn__v1__event__login__init(pe->login);
        return pe->login != NULL;
    case CHURN_EVENT_SESSION:
        pe->kind_case = CHURN__V1__EVENT__KIND_SESSION;
        pe->session = churn_arena_alloc(a, sizeof(*pe->session));
        if (!pe->session)
            return false;
        churn__v1__event__session__init(pe->session);
        pe->session->minutes = ev->session.minutes;
        return true;
    case CHURN_EVENT_LISTING:
        pe->kind_case = CHURN__V1__EVENT__KIND_LISTING_UPDATE;
        pe->listing_update = churn_arena_alloc(a, sizeof(*pe->listing_update));
        if (!pe->listing_update)
            return false;
        churn__v1__event__listing_update__init(pe->listing_update);
        pe->listing_update->active_listings = (int32_t)ev->listing.active_listings;
        return true;
    default:
        return false;
    }
}

/* Orders, tickets and reviews. */
static bool
commerce_kind_to_proto(const struct churn_event *ev, Churn__V1__Event *pe, struct churn_arena *a)
{
    switch (ev->kind) {
    case CHURN_EVENT_ORDER:
        pe->kind_case = CHURN__V1__EVENT__KIND_ORDER;
        if (!(pe->order = churn_arena_alloc(a, sizeof(*pe->order))))
            return false;
        churn__v1__event__order__init(pe->order);
        pe->order->order_id = pb_str(ev->order.order_id);
        pe->order->amount = ev->order.amount;
        pe->order->currency = pb_str(ev->order.currency);
        pe->order->status = order_status_to_proto(ev->order.status);
        return true;
    case CHURN_EVENT_TICKET:
        pe->kind_case = CHURN__V1__EVENT__KIND_SUPPORT_TICKET;
        if (!(pe->support_ticket = churn_arena_alloc(a, sizeof(*pe->support_ticket))))
            return false;
        churn__v1__event__support_ticket__init(pe->support_ticket);
        pe->support_ticket->action = ev->ticket.action == CHURN_TICKET_RESOLVED
                                         ? CHURN__V1__TICKET_ACTION__TICKET_ACTION_RESOLVED
                                         : CHURN__V1__TICKET_ACTION__TICKET_ACTION_OPENED;
        pe->support_ticket->category = pb_str(ev->ticket.category);
        return true;
    case CHURN_EVENT_REVIEW:
        pe->kind_case = CHURN__V1__EVENT__KIND_REVIEW;
        if (!(pe->review = churn_arena_alloc(a, sizeof(*pe->review))))
            return false;
        churn__v1__event__review__init(pe->review);
        pe->review->rating = ev->review.rating;
        pe->review->text = pb_str(ev->review.text);
        return true;
    default:
        return false;
    }
}

/* Plan changes, churn and custom events. */
static bool
account_kind_to_proto(const struct churn_event *ev, Churn__V1__Event *pe, struct churn_arena *a)
{
    switch (ev->kind) {
    case CHURN_EVENT_PLAN_CHANGE:
        pe->kind_case = CHURN__V1__EVENT__KIND_PLAN_CHANGE;
        if (!(pe->plan_change = churn_arena_alloc(a, sizeof(*pe->plan_change))))
            return false;
        churn__v1__event__plan_change__init(pe->plan_change);
        pe->plan_change->direction = plan_direction_to_proto(ev->plan.action);
        pe->plan_change->to_plan = pb_str(ev->plan.plan);
        pe->plan_change->monthly_value = ev->plan.monthly_value;
        return true;
    case CHURN_EVENT_CHURN:
        pe->kind_case = CHURN__V1__EVENT__KIND_CHURN;
        if (!(pe->churn = churn_arena_alloc(a, sizeof(*pe->churn))))
            return false;
        churn__v1__event__churn__init(pe->churn);
        pe->churn->reason = pb_str(ev->churn.reason);
        return true;
    case CHURN_EVENT_CUSTOM:
        pe->kind_case = CHURN__V1__EVENT__KIND_CUSTOM;
        if (!(pe->custom = churn_arena_alloc(a, sizeof(*pe->custom))))
            return false;
        churn__v1__event__custom__init(pe->custom);
        pe->custom->name = pb_str(ev->custom.name);
        pe->custom->value = ev->custom.value;
        return true;
    default:
        return false;
    }
}

Churn__V1__Event *
churn__event_to_proto(const struct churn_event *ev, struct churn_arena *a)
{
    Churn__V1__Event *pe = churn_arena_alloc(a, sizeof(*pe));
    if (!pe)
        return NULL;
    churn__v1__event__init(pe);
    pe->event_id = pb_str(ev->event_id);
    pe->customer_id = pb_str(ev->customer_id);
    pe->occurred_at_ms = ev->occurred_at_ms;
    if (simple_kind_to_proto(ev, pe, a) || commerce_kind_to_proto(ev, pe, a) ||
        account_kind_to_proto(ev, pe, a))
        return pe;
    return NULL; /* chat signals have no API event; or out of memory */
}
