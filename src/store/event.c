/*
 * event.c - validation of behavioural events and customer attributes (churn/event.h).
 *
 * Everything that can reach the store from outside passes through churn_event_validate()
 * first: ids are bounded, well-formed UTF-8 without control characters; numbers are finite
 * and in range; the time is not in the future beyond a skew. Each failure names the field so
 * that an importer's reject file and the server's RecordEvents summary say what to fix.
 */
#include "churn/event.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_names[CHURN_EVENT__COUNT] = {[CHURN_EVENT_UNSPECIFIED] =
                                                               "unspecified",
#define CHURN__EV_NAME(name, text) [CHURN_EVENT_##name] = text,
                                                           CHURN_EVENT_KINDS(CHURN__EV_NAME)
#undef CHURN__EV_NAME
};

const char *
churn_event_kind_name(enum churn_event_kind kind)
{
    if ((unsigned)kind >= CHURN_EVENT__COUNT)
        return "unspecified";
    return kind_names[kind];
}

bool
churn_event_kind_parse(const char *name, enum churn_event_kind *out)
{
    if (!name)
        return false;
    for (unsigned k = 1; k < CHURN_EVENT__COUNT; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (enum churn_event_kind)k;
            return true;
        }
    }
    return false;
}

static enum churn_err fail(char *reason, size_t reason_len, enum churn_err err, const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));

static enum churn_err
fail(char *reason, size_t reason_len, enum churn_err err, const char *fmt, ...)
{
    if (reason && reason_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, reason_len, fmt, ap);
        va_end(ap);
    }
    return err;
}

/* A bounded text field (churn/ident.h's rule); @required forbids NULL and "". */
static enum churn_err
check_text(const char *s, const char *field, size_t max, bool required, bool no_controls,
           char *reason, size_t reason_len)
{
    if (!s || !*s) {
        if (!required)
            return CHURN_OK;
        return fail(reason, reason_len, CHURN_EINVAL, "%s: required and must not be empty", field);
    }
    size_t len = strnlen(s, max + 1);
    if (len > max)
        return fail(reason, reason_len, CHURN_ETOOBIG, "%s: longer than %lld bytes", field,
                    (long long)max);
    if (no_controls)
        return churn_ident_check_optional(s, len, field, reason, reason_len);
    return churn_ident_check_text(s, len, max, field, reason, reason_len);
}

enum churn_err
churn_id_validate(const char *id, const char *field, char *reason, size_t reason_len)
{
    size_t len = id ? strnlen(id, CHURN_ID_MAX + 1) : 0;
    return churn_ident_check(id ? id : "", len, field, reason, reason_len);
}

enum churn_err
churn_attr_name_check(const char *name, const char *field, char *reason, size_t reason_len)
{
    size_t len = name ? strnlen(name, CHURN_NAME_MAX + 1) : 0;
    if (len == 0)
        return fail(reason, reason_len, CHURN_EINVAL, "%s: required (%s)", field,
                    CHURN_ATTR_NAME_RULE);
    if (len > CHURN_NAME_MAX)
        return fail(reason, reason_len, CHURN_ETOOBIG, "%s: '%.64s...' must be %s", field, name,
                    CHURN_ATTR_NAME_RULE);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return fail(reason, reason_len, CHURN_EINVAL, "%s: '%.64s' must be %s (byte %zu)",
                        field, name, CHURN_ATTR_NAME_RULE, i);
    }
    return CHURN_OK;
}

/* A finite, non-negative amount no larger than @max. */
static enum churn_err
check_amount(double v, const char *field, double max, char *reason, size_t reason_len)
{
    if (isnan(v))
        return fail(reason, reason_len, CHURN_EINVAL, "%s: is NaN", field);
    if (!isfinite(v))
        return fail(reason, reason_len, CHURN_EINVAL, "%s: is infinite", field);
    if (v < 0)
        return fail(reason, reason_len, CHURN_EINVAL, "%s: is negative", field);
    if (v > max)
        return fail(reason, reason_len, CHURN_ERANGE, "%s: larger than %lld", field,
                    (long long)max);
    return CHURN_OK;
}

enum churn_err
churn_event_validate(const struct churn_event *ev, int64_t now_ms, int64_t skew_ms, char *reason,
                     size_t reason_len)
{
    enum churn_err err;

    if (!ev)
        return fail(reason, reason_len, CHURN_EINVAL, "%s: missing", "event");
    if ((unsigned)ev->kind == CHURN_EVENT_UNSPECIFIED || (unsigned)ev->kind >= CHURN_EVENT__COUNT)
        return fail(reason, reason_len, CHURN_EINVAL, "%s: unknown event kind %lld", "kind",
                    (long long)ev->kind);
    if ((err = churn_id_validate(ev->event_id, "event_id", reason, reason_len)))
        return err;
    if ((err = churn_id_validate(ev->customer_id, "customer_id", reason, reason_len)))
        return err;
    if (ev->occurred_at_ms <= 0)
        return fail(reason, reason_len, CHURN_EINVAL, "%s: must be a positive unix time, got %lld",
                    "occurred_at_ms", (long long)ev->occurred_at_ms);
    if (skew_ms < 0)
        skew_ms = 0;
    if (ev->occurred_at_ms > now_ms && ev->occurred_at_ms - now_ms > skew_ms)
        return fail(reason, reason_len, CHURN_EINVAL,
                    "%s: %lld ms in the future (more than the allowed clock skew)",
                    "occurred_at_ms", (long long)(ev->occurred_at_ms - now_ms));

    switch (ev->kind) {
    case CHURN_EVENT_LOGIN:
        return CHURN_OK;
    case CHURN_EVENT_SESSION:
        return check_amount(ev->session.minutes, "session.minutes", 24 * 60, reason, reason_len);
    case CHURN_EVENT_ORDER:
        if ((err = check_text(ev->order.order_id, "order.order_id", CHURN_ID_MAX, false, true,
                              reason, reason_len)))
            return err;
        if ((err = check_amount(ev->order.amount, "order.amount", 1e12, reason, reason_len)))
            return err;
        if (ev->order.currency && *ev->order.currency) {
            const char *c = ev->order.currency;
            if (strnlen(c, 4) != 3 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' ||
                c[2] < 'A' || c[2] > 'Z')
                return fail(reason, reason_len, CHURN_EINVAL,
                            "%s: must be three upper-case letters (ISO 4217)", "order.currency");
        }
        if (ev->order.status < CHURN_ORDER_COMPLETED || ev->order.status > CHURN_ORDER_REFUNDED)
            return fail(reason, reason_len, CHURN_EINVAL,
                        "%s: must be completed, cancelled or refunded (got %lld)", "order.status",
                        (long long)ev->order.status);
        return CHURN_OK;
    case CHURN_EVENT_LISTING:
        if (ev->listing.active_listings < 0 || ev->listing.active_listings > INT32_MAX)
            return fail(reason, reason_len, CHURN_ERANGE, "%s: out of range (got %lld)",
                        "listing.active_listings", (long long)ev->listing.active_listings);
        return CHURN_OK;
    case CHURN_EVENT_TICKET:
        if (ev->ticket.action != CHURN_TICKET_OPENED && ev->ticket.action != CHURN_TICKET_RESOLVED)
            return fail(reason, reason_len, CHURN_EINVAL,
                        "%s: must be opened or resolved (got %lld)", "ticket.action",
                        (long long)ev->ticket.action);
        return check_text(ev->ticket.category, "ticket.category", CHURN_NAME_MAX, false, true,
                          reason, reason_len);
    case CHURN_EVENT_REVIEW:
        if (ev->review.rating < 1 || ev->review.rating > 5)
            return fail(reason, reason_len, CHURN_ERANGE, "%s: must be 1..5 (got %lld)",
                        "review.rating", (long long)ev->review.rating);
        if (!isnan(ev->review.sentiment) &&
            (!isfinite(ev->review.sentiment) || ev->review.sentiment < -1.0 ||
             ev->review.sentiment > 1.0))
            return fail(reason, reason_len, CHURN_ERANGE, "%s: must be in [-1, 1] or unset",
                        "review.sentiment");
        return check_text(ev->review.text, "review.text", CHURN_REVIEW_TEXT_MAX, false, false,
                          reason, reason_len);
    case CHURN_EVENT_PLAN_CHANGE:
        if (ev->plan.action < CHURN_PLAN_UPGRADE || ev->plan.action > CHURN_PLAN_CANCEL)
            return fail(reason, reason_len, CHURN_EINVAL,
                        "%s: must be upgrade, downgrade or cancel (got %lld)", "plan.action",
                        (long long)ev->plan.action);
        if ((err = check_text(ev->plan.plan, "plan.plan", CHURN_NAME_MAX, false, true, reason,
                              reason_len)))
            return err;
        return check_amount(ev->plan.monthly_value, "plan.monthly_value", 1e9, reason, reason_len);
    case CHURN_EVENT_CHURN:
        return check_text(ev->churn.reason, "churn.reason", CHURN_NAME_MAX, false, true, reason,
                          reason_len);
    case CHURN_EVENT_CUSTOM:
        if ((err = churn_attr_name_check(ev->custom.name, "custom.name", reason, reason_len)))
            return err;
        if (!isfinite(ev->custom.value))
            return fail(reason, reason_len, CHURN_EINVAL, "%s: must be finite", "custom.value");
        return CHURN_OK;
    case CHURN_EVENT_CHAT:
        if (isnan(ev->chat.dissatisfaction) || ev->chat.dissatisfaction < 0.0 ||
            ev->chat.dissatisfaction > 1.0)
            return fail(reason, reason_len, CHURN_ERANGE, "%s: must be in [0, 1]",
                        "chat.dissatisfaction");
        return CHURN_OK;
    default:
        return fail(reason, reason_len, CHURN_EINVAL, "%s: unknown event kind %lld", "kind",
                    (long long)ev->kind);
    }
}

void
churn_customer_attrs_init(struct churn_customer_attrs *attrs)
{
    memset(attrs, 0, sizeof(*attrs));
    attrs->monthly_value = NAN;
}

enum churn_err
churn_customer_attrs_set_num(struct churn_customer_attrs *attrs, const char *name, double value)
{
    if (churn_attr_name_check(name, "attribute name", NULL, 0) || !isfinite(value))
        return CHURN_EINVAL;
    for (unsigned i = 0; i < attrs->n_num; i++) {
        if (strcmp(attrs->num[i].name, name) == 0) {
            attrs->num[i].value = value;
            return CHURN_OK;
        }
    }
    if (attrs->n_num >= CHURN_ATTRS_MAX)
        return CHURN_ETOOBIG;
    struct churn_attr_num *a = &attrs->num[attrs->n_num++];
    snprintf(a->name, sizeof(a->name), "%s", name);
    a->value = value;
    return CHURN_OK;
}

enum churn_err
churn_customer_attrs_set_cat(struct churn_customer_attrs *attrs, const char *name,
                             const char *value)
{
    if (churn_attr_name_check(name, "attribute name", NULL, 0) ||
        check_text(value, "attribute value", CHURN_NAME_MAX, false, true, NULL, 0))
        return CHURN_EINVAL;
    if (!value)
        value = "";
    for (unsigned i = 0; i < attrs->n_cat; i++) {
        if (strcmp(attrs->cat[i].name, name) == 0) {
            snprintf(attrs->cat[i].value, sizeof(attrs->cat[i].value), "%s", value);
            return CHURN_OK;
        }
    }
    if (attrs->n_cat >= CHURN_ATTRS_MAX)
        return CHURN_ETOOBIG;
    struct churn_attr_cat *a = &attrs->cat[attrs->n_cat++];
    snprintf(a->name, sizeof(a->name), "%s", name);
    snprintf(a->value, sizeof(a->value), "%s", value);
    return CHURN_OK;
}
