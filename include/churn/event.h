/*
 * churn/event.h - the behavioural events churnd ingests and the customer attributes it keeps.
 *
 * An event is one thing a customer did (logged in, ordered, opened a ticket, reviewed, changed
 * plan, churned, ...) at one instant. Every event carries an event id (the idempotency key,
 * together with the customer id), a customer id and the time it occurred. The structs here
 * are plain domain types: they borrow every string they point to and never own memory, so a
 * decoder (protobuf, CSV, JSON Lines) can fill them from its own buffers. Validation is
 * separate from storage so that importers can reject a bad row with the same precise message
 * the server would give.
 */
#ifndef CHURN_EVENT_H
#define CHURN_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"
#include "churn/ident.h"
#include "churn/utf8.h"

/* Longest free-text reason, category, plan or attribute name/value (bytes). */
#define CHURN_NAME_MAX 64
/* Longest review text accepted (bytes); the store does not keep the text. */
#define CHURN_REVIEW_TEXT_MAX 16384
/* Default tolerance for timestamps in the future (clock skew between systems). */
#define CHURN_EVENT_SKEW_MS (5LL * 60 * 1000)
/* Capacity of a validation or rejection message, including the NUL. */
#define CHURN_REASON_MAX 160

/* X(NAME, "name"): the event kinds; the text is the API and CSV spelling. */
#define CHURN_EVENT_KINDS(X)                                                                       \
    X(LOGIN, "login")                                                                              \
    X(SESSION, "session")                                                                          \
    X(ORDER, "order")                                                                              \
    X(LISTING, "listing_update")                                                                   \
    X(TICKET, "support_ticket")                                                                    \
    X(REVIEW, "review")                                                                            \
    X(PLAN_CHANGE, "plan_change")                                                                  \
    X(CHURN, "churn")                                                                              \
    X(CUSTOM, "custom")                                                                            \
    X(CHAT, "chat_signal")

enum churn_event_kind {
    CHURN_EVENT_UNSPECIFIED = 0,
#define CHURN__EV_ENUM(name, text) CHURN_EVENT_##name,
    CHURN_EVENT_KINDS(CHURN__EV_ENUM)
#undef CHURN__EV_ENUM
        CHURN_EVENT__COUNT
};

enum churn_order_status {
    CHURN_ORDER_UNSPECIFIED = 0,
    CHURN_ORDER_COMPLETED,
    CHURN_ORDER_CANCELLED,
    CHURN_ORDER_REFUNDED,
};

enum churn_ticket_action {
    CHURN_TICKET_UNSPECIFIED = 0,
    CHURN_TICKET_OPENED,
    CHURN_TICKET_RESOLVED,
};

enum churn_plan_action {
    CHURN_PLAN_UNSPECIFIED = 0,
    CHURN_PLAN_UPGRADE,
    CHURN_PLAN_DOWNGRADE,
    CHURN_PLAN_CANCEL,
};

/*
 * struct churn_event - one event. Strings are borrowed, NUL-terminated, and must stay valid
 * for as long as the event is in use (for a writer submission: until its callback ran).
 * Only the member of the union that matches @kind is read.
 */
struct churn_event {
    enum churn_event_kind kind;
    const char *event_id;    /* required, 1..CHURN_ID_MAX bytes of UTF-8 */
    const char *customer_id; /* required, 1..CHURN_ID_MAX bytes of UTF-8 */
    int64_t occurred_at_ms;  /* unix ms; > 0, not beyond now + skew */
    union {
        struct {
            double minutes; /* >= 0, finite, at most one day */
        } session;
        struct {
            const char *order_id; /* optional (NULL or ""), up to CHURN_ID_MAX */
            double amount;        /* >= 0, finite, in the account's reporting currency */
            const char *currency; /* optional; else three upper-case letters (ISO 4217) */
            enum churn_order_status status;
        } order;
        struct {
            int64_t active_listings; /* >= 0: the seller's live listings after the update */
        } listing;
        struct {
            enum churn_ticket_action action;
            const char *category; /* optional, up to CHURN_NAME_MAX */
        } ticket;
        struct {
            int rating;       /* 1..5 */
            const char *text; /* optional, up to CHURN_REVIEW_TEXT_MAX, not stored */
            double sentiment; /* compound score in [-1, 1] set by the caller, or NaN */
        } review;
        struct {
            enum churn_plan_action action;
            const char *plan;     /* optional: the plan after the change */
            double monthly_value; /* >= 0, finite: monthly value after the change */
        } plan;
        struct {
            const char *reason; /* optional, up to CHURN_NAME_MAX */
        } churn;
        struct {
            const char *name; /* required: churn_attr_name_check() */
            double value;     /* finite */
        } custom;
        struct {
            double dissatisfaction; /* conversation dissatisfaction in [0, 1] */
            bool escalated;         /* the turn escalated to a human */
            bool churn_intent;      /* the customer said they want to leave */
        } chat;
    };
};

/* Caps on a customer's attributes: none of them can grow past these. */
#define CHURN_ATTRS_MAX 32

struct churn_attr_num {
    char name[CHURN_NAME_MAX + 1];
    double value;
};

struct churn_attr_cat {
    char name[CHURN_NAME_MAX + 1];
    char value[CHURN_NAME_MAX + 1];
};

/*
 * struct churn_customer_attrs - what the platform tells us about a customer (UpsertCustomers).
 * Empty strings mean "unknown"; signup_ms 0 means unknown; monthly_value NaN means unknown.
 */
struct churn_customer_attrs {
    char segment[CHURN_NAME_MAX + 1];
    char plan[CHURN_NAME_MAX + 1];
    char country[CHURN_NAME_MAX + 1];
    int64_t signup_ms;
    double monthly_value;
    unsigned n_num;
    struct churn_attr_num num[CHURN_ATTRS_MAX];
    unsigned n_cat;
    struct churn_attr_cat cat[CHURN_ATTRS_MAX];
};

/**
 * churn_event_validate() - check @ev against every rule above.
 * @ev: the event to check (borrowed).
 * @now_ms: the current time; @ev->occurred_at_ms may not pass @now_ms + @skew_ms.
 * @skew_ms: tolerated clock skew (CHURN_EVENT_SKEW_MS is a sensible default).
 * @reason: OUT: on failure, a message naming the field ("customer_id: invalid UTF-8 at byte 3");
 *          may be NULL.
 * @reason_len: capacity of @reason (CHURN_REASON_MAX is enough for every message).
 *
 * Return: CHURN_OK, or CHURN_EINVAL for a bad field or unknown kind, CHURN_ETOOBIG for a
 * field over its length limit. Pure; never allocates.
 */
enum churn_err churn_event_validate(const struct churn_event *ev, int64_t now_ms, int64_t skew_ms,
                                    char *reason, size_t reason_len);

/* The one rule for attribute names and custom event names, from every source. */
#define CHURN_ATTR_NAME_RULE "1..64 bytes of [a-z0-9_]"

/**
 * churn_attr_name_check() - whether @name is a valid attribute or custom event name: the one
 * rule for UpsertCustomers keys, imported columns and JSON keys, and custom events, so a name
 * accepted by one way in is accepted by all (CHURN_ATTR_NAME_RULE, the API's documented key
 * rule). @field names the input in @reason (may be NULL): "<field>: '<name>' must be ...".
 * Return: CHURN_OK; CHURN_EINVAL (a bad byte, or empty); CHURN_ETOOBIG (over 64 bytes).
 */
enum churn_err churn_attr_name_check(const char *name, const char *field, char *reason,
                                     size_t reason_len);

/**
 * churn_id_validate() - churn_ident_check() of the NUL-terminated @id (NULL is empty): non-NULL,
 * 1..CHURN_ID_MAX bytes, valid UTF-8, no control characters. @field names it in @reason (e.g.
 * "customer_id"). Same returns as churn_ident_check().
 */
enum churn_err churn_id_validate(const char *id, const char *field, char *reason,
                                 size_t reason_len);

/** churn_event_kind_name() - "login", "order", ...; "unspecified" for anything unknown. */
const char *churn_event_kind_name(enum churn_event_kind kind);

/**
 * churn_event_kind_parse() - the kind whose name is @name (as churn_event_kind_name() spells
 * it). Return: true and *@out set, or false (*@out untouched) for an unknown name.
 */
bool churn_event_kind_parse(const char *name, enum churn_event_kind *out);

/**
 * churn_customer_attrs_init() - an attribute set with every field unknown.
 */
void churn_customer_attrs_init(struct churn_customer_attrs *attrs);

/**
 * churn_customer_attrs_set_num() - set numeric attribute @name to @value (replacing an
 * existing one). Return: CHURN_OK; CHURN_EINVAL for a bad name or non-finite value;
 * CHURN_ETOOBIG when CHURN_ATTRS_MAX attributes already exist.
 */
enum churn_err churn_customer_attrs_set_num(struct churn_customer_attrs *attrs, const char *name,
                                            double value);

/**
 * churn_customer_attrs_set_cat() - set categorical attribute @name to @value (replacing).
 * Same returns as churn_customer_attrs_set_num(); values are 0..CHURN_NAME_MAX bytes of UTF-8.
 */
enum churn_err churn_customer_attrs_set_cat(struct churn_customer_attrs *attrs, const char *name,
                                            const char *value);

#endif
