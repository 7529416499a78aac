/*
 * reasons.c - reasons in words: one table says, for every catalogue feature, which sentence
 * shape tells it (a count against the window before, how often something was done, days
 * since, money, a share, stars, tenure, the plan...) and the nouns and phrases it needs; one
 * formatter per shape writes the sentence from the feature vector and the customer record.
 * A paired feature (logins in the last 30 days, the 30 before, and their decline) is told as
 * the pair whichever of the three the model named. Pure: no allocation, no I/O, no clock.
 * See churn/reasons.h for the contract.
 */
#include "churn/reasons.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum shape {
    GENERIC = 0,   /* a feature the table does not know yet: "<label>: <value>" in its unit */
    PAIR,          /* a count in the last window against the window before */
    SHARE_PAIR,    /* a share (0..1) in the last window against the window before */
    COUNT,         /* how many, in a window or now */
    COUNT_EARLIER, /* how many, in a window that ends before as_of (the phrase names it) */
    TIMES,         /* how often the customer did something in a window */
    PLAN_CUTS,     /* TIMES for plan downgrades, which names a cancellation as one */
    ACTIVE_DAYS,   /* active days out of a window */
    SINCE,         /* days since something */
    MONEY,         /* an amount of money */
    SHARE,         /* a share (0..1) in a window */
    STARS,         /* an average rating */
    LEVEL,         /* a 0..1 score in words */
    TENURE,        /* how long a customer */
    PLAN,          /* the plan and what it is worth */
    CHANGE,        /* the relative change of a state over a window */
};

/*
 * How one feature is told. The strings are whole phrases; which ones a shape uses:
 * PAIR, COUNT: @one/@many the noun ("login"/"logins"), @zero the sentence for none;
 * COUNT_EARLIER: the same, each naming the window ("logins two to three months ago");
 * SHARE_PAIR: @one the share phrase ("of reviews negative"), @many what rose or fell;
 * TIMES: @one the deed ("Downgraded the plan"), @zero the sentence for never;
 * SINCE: @one the prefix ("No activity for"), @zero the sentence for today;
 * MONEY: @one the verb ("Spent"), @many a suffix (" in total"), @zero for no money;
 * SHARE: @one the share phrase; STARS: @one the prefix (NULL: "Average rating"), @many the
 * suffix when not windowed.
 * @missing is the sentence for NaN (NULL: "No data on <many>"); a windowed feature's
 * @zero and @missing get " in the last N days" appended.
 */
struct phrase {
    enum shape shape;
    int now, before; /* PAIR, SHARE_PAIR: the last window and the one before; CHANGE: the state */
    const char *one, *many, *zero, *missing;
};

#define F(id) CHURN_FEAT_##id
#define LOGINS                                                                                     \
    {                                                                                              \
        PAIR, F(LOGINS_30D), F(LOGINS_PREV_30D), "login", "logins", "No logins", NULL              \
    }
#define ORDERS                                                                                     \
    {                                                                                              \
        PAIR, F(ORDERS_90D), F(ORDERS_PREV_90D), "completed order", "completed orders",            \
            "No completed orders", NULL                                                            \
    }
#define TICKETS                                                                                    \
    {                                                                                              \
        PAIR, F(TICKETS_30D), F(TICKETS_PREV_30D), "support ticket", "support tickets",            \
            "No support tickets", NULL                                                             \
    }
#define NEGATIVE                                                                                   \
    {                                                                                              \
        SHARE_PAIR, F(NEGATIVE_REVIEW_RATIO_90D), F(NEGATIVE_REVIEW_RATIO_PREV_90D),               \
            "of reviews negative", "negative reviews", NULL, "No reviews"                          \
    }

static const struct phrase phrases[CHURN_FEAT__COUNT] = {
    [F(LOGINS_30D)] = LOGINS,
    [F(LOGINS_PREV_30D)] = LOGINS,
    [F(LOGIN_DECLINE_30D)] = LOGINS,
    [F(ACTIVE_DAYS_30D)] = {ACTIVE_DAYS, 0, 0, NULL, "active days", "No activity", NULL},
    [F(ACTIVE_DAYS_90D)] = {ACTIVE_DAYS, 0, 0, NULL, "active days", "No activity", NULL},
    [F(SESSION_MINUTES_30D)] = {COUNT, 0, 0, "session minute", "session minutes", "No sessions",
                                NULL},
    [F(DAYS_SINCE_LAST_ACTIVITY)] = {SINCE, 0, 0, "No activity for", NULL, "Active today",
                                     "Never active"},
    [F(ORDERS_90D)] = ORDERS,
    [F(ORDERS_PREV_90D)] = ORDERS,
    [F(ORDER_DECLINE_90D)] = ORDERS,
    [F(SPEND_90D)] = {MONEY, 0, 0, "Spent", "", "No spend", NULL},
    [F(AVG_ORDER_VALUE_90D)] = {MONEY, 0, 0, "Average order of", "", "Average order of 0.00",
                                "No completed orders"},
    [F(CANCEL_REFUND_RATIO_90D)] = {SHARE, 0, 0, "of orders cancelled or refunded", NULL,
                                    "No order cancelled or refunded", "No orders"},
    [F(DAYS_SINCE_LAST_PURCHASE)] = {SINCE, 0, 0, "No purchase for", NULL, "Bought something today",
                                     "No orders yet"},
    [F(REVIEWS_90D)] = {COUNT, 0, 0, "review", "reviews", "No reviews", NULL},
    [F(AVG_RATING_90D)] = {STARS, 0, 0, NULL, NULL, NULL, "No reviews"},
    [F(NEGATIVE_REVIEW_RATIO_90D)] = NEGATIVE,
    [F(NEGATIVE_REVIEW_RATIO_PREV_90D)] = NEGATIVE,
    [F(NEGATIVE_REVIEW_RISE)] = NEGATIVE,
    [F(AVG_RATING_LIFETIME)] = {STARS, 0, 0, NULL, " over all reviews", NULL, "No reviews yet"},
    [F(TICKETS_30D)] = TICKETS,
    [F(TICKETS_PREV_30D)] = TICKETS,
    [F(TICKET_GROWTH_30D)] = TICKETS,
    [F(OPEN_TICKETS)] = {COUNT, 0, 0, "support ticket open", "support tickets open",
                         "No open support tickets", NULL},
    [F(CHAT_DISSATISFACTION)] = {LEVEL, 0, 0, NULL, NULL, NULL, "No recent chats"},
    [F(ESCALATIONS_30D)] = {TIMES, 0, 0, "Chat handed to a person", "chat escalations",
                            "No chat handed to a person", NULL},
    [F(ESCALATIONS_90D)] = {TIMES, 0, 0, "Chat handed to a person", "chat escalations",
                            "No chat handed to a person", NULL},
    [F(CHURN_INTENTS_30D)] = {TIMES, 0, 0, "Said they want to leave in chat", "chats",
                              "No mention of leaving in chat", NULL},
    [F(CHURN_INTENTS_90D)] = {TIMES, 0, 0, "Said they want to leave in chat", "chats",
                              "No mention of leaving in chat", NULL},
    [F(TENURE_DAYS)] = {TENURE, 0, 0, NULL, NULL, NULL, "Signup date unknown"},
    [F(LIFETIME_VALUE)] = {MONEY, 0, 0, "Spent", " in total", "No spend yet", NULL},
    [F(LIFETIME_ORDERS)] = {COUNT, 0, 0, "completed order in total", "completed orders in total",
                            "No orders yet", NULL},
    [F(RFM_FREQUENCY)] = {COUNT, 0, 0, "order a month on average", "orders a month on average",
                          "No orders yet", "Order frequency unknown (no signup date)"},
    [F(RFM_MONETARY)] = {MONEY, 0, 0, "Spends", " a month on average", "No spend yet",
                         "Monthly spend unknown (no signup date)"},
    [F(PLAN_MONTHLY_VALUE)] = {PLAN, 0, 0, NULL, NULL, "No paid plan", "Plan unknown"},
    [F(PLAN_DOWNGRADES_90D)] = {PLAN_CUTS, 0, 0, "Downgraded the plan", "plan changes",
                                "No plan downgrades", NULL},
    [F(ACTIVE_LISTINGS)] = {COUNT, 0, 0, "active listing", "active listings", "No active listings",
                            "No listings reported"},
    [F(LISTINGS_CHANGE_30D)] = {CHANGE, F(ACTIVE_LISTINGS), 0, NULL, "active listings", NULL,
                                "No listings reported"},
    [F(LOGINS_7D)] = {COUNT, 0, 0, "login", "logins", "No logins", NULL},
    [F(ACTIVE_DAYS_7D)] = {ACTIVE_DAYS, 0, 0, NULL, "active days", "No activity", NULL},
    [F(TICKETS_90D)] = {COUNT, 0, 0, "support ticket", "support tickets", "No support tickets",
                        NULL},
    [F(LOGINS_90D)] = {COUNT, 0, 0, "login", "logins", "No logins", NULL},
    [F(AVG_SESSION_MINUTES_30D)] = {COUNT, 0, 0, "minute per session on average",
                                    "minutes per session on average", "Sessions of no length",
                                    "No sessions"},
    [F(AVG_SESSION_MINUTES_7D)] = {COUNT, 0, 0, "minute per session on average",
                                   "minutes per session on average", "Sessions of no length",
                                   "No sessions"},
    [F(ORDERS_30D)] = {COUNT, 0, 0, "completed order", "completed orders", "No completed orders",
                       NULL},
    [F(SPEND_30D)] = {MONEY, 0, 0, "Spent", "", "No spend", NULL},
    [F(CANCELLED_REFUNDED_90D)] = {COUNT, 0, 0, "order cancelled or refunded",
                                   "orders cancelled or refunded", "No order cancelled or refunded",
                                   NULL},
    [F(NEGATIVE_REVIEWS_90D)] = {COUNT, 0, 0, "negative review", "negative reviews",
                                 "No negative reviews", NULL},
    [F(CHAT_DAYS_30D)] = {COUNT, 0, 0, "day with a support chat", "days with a support chat",
                          "No support chats", NULL},
    [F(CHAT_DAYS_90D)] = {COUNT, 0, 0, "day with a support chat", "days with a support chat",
                          "No support chats", NULL},
    [F(LOGINS_61_90D)] = {COUNT_EARLIER, 0, 0, "login two to three months ago",
                          "logins two to three months ago", "No logins two to three months ago",
                          NULL},
    [F(ACTIVE_DAYS_14D)] = {ACTIVE_DAYS, 0, 0, NULL, "active days", "No activity", NULL},
    [F(SESSION_MINUTES_90D)] = {COUNT, 0, 0, "session minute", "session minutes", "No sessions",
                                NULL},
    [F(MIN_RATING_90D)] = {STARS, 0, 0, "Lowest rating", NULL, NULL, "No reviews"},
    [F(CHAT_MAX_DISSATISFACTION_30D)] = {LEVEL, 0, 0, NULL, NULL, NULL,
                                         "No chats in the last 30 days"},
};
#undef NEGATIVE
#undef TICKETS
#undef ORDERS
#undef LOGINS
#undef F

/* ---- a bounded writer ---------------------------------------------------------------- */

struct writer {
    char *out;
    size_t cap, len;
};

static void put(struct writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct writer *w, const char *fmt, ...)
{
    if (w->len + 1 >= w->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(w->out + w->len, w->cap - w->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        w->len = w->len + (size_t)n < w->cap ? w->len + (size_t)n : w->cap - 1;
}

/* @s with its first letter in upper case. */
static void
put_capital(struct writer *w, const char *s)
{
    if (!*s)
        return;
    put(w, "%c%s", toupper((unsigned char)s[0]), s + 1);
}

static void
put_window(struct writer *w, int days)
{
    if (days > 0)
        put(w, " in the last %d days", days);
}

/* ---- numbers in words ---------------------------------------------------------------- */

/* A count: whole when it is whole, else one decimal (two below 1): "14", "2.5", "0.25". */
static const char *
count_text(double v, char *buf, size_t len)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, len, "%.0f", v);
    else
        snprintf(buf, len, fabs(v) >= 1 ? "%.1f" : "%.2f", v);
    return buf;
}

static const char *
money_text(double v, char *buf, size_t len)
{
    snprintf(buf, len, "%.2f", fabs(v) < 0.005 ? 0.0 : v);
    return buf;
}

static const char *
percent_text(double share, char *buf, size_t len)
{
    snprintf(buf, len, "%.0f%%", share * 100 + 0.0);
    return buf;
}

/* One decimal, without a trailing ".0": "1.5", "4". */
static const char *
decimal_text(double v, char *buf, size_t len)
{
    snprintf(buf, len, "%.1f", v);
    size_t n = strlen(buf);
    if (n > 2 && strcmp(buf + n - 2, ".0") == 0)
        buf[n - 2] = '\0';
    return buf;
}

static bool
is_one(double v)
{
    return fabs(v - 1.0) < 1e-9;
}

/* "1 login" / "2 logins". */
static void
put_count(struct writer *w, double v, const struct phrase *p)
{
    char n[32];
    put(w, "%s %s", count_text(v, n, sizeof(n)), is_one(v) ? p->one : p->many);
}

/* The sentence for a missing value. */
static void
put_missing(struct writer *w, const struct phrase *p, int window)
{
    if (p->missing) {
        put(w, "%s", p->missing);
        put_window(w, window);
    } else {
        put(w, "No data on %s", p->many ? p->many : "this");
        if (window > 0)
            put(w, " for the last %d days", window);
    }
}

/* ---- one formatter per shape ------------------------------------------------------------ */

static int
window_of(int feature)
{
    return churn_features_catalogue()[feature].window_days;
}

static void
say_count(struct writer *w, const struct phrase *p, double v, int window)
{
    if (isnan(v)) {
        put_missing(w, p, window);
    } else if (v == 0) {
        put(w, "%s", p->zero);
        put_window(w, window);
    } else {
        put_count(w, v, p);
        put_window(w, window);
    }
}

static void
say_pair(struct writer *w, const struct phrase *p, const struct churn_feature_vector *vec)
{
    double now = vec->values[p->now], before = vec->values[p->before];
    int window = window_of(p->now);
    char a[32], b[32];
    if (isnan(now) || isnan(before)) {
        say_count(w, p, now, window); /* no window before to compare with */
    } else if (now == 0 && before == 0) {
        put(w, "%s", p->zero);
        put_window(w, 2 * window);
    } else if (now < before) {
        put_capital(w, p->many);
        put(w, " fell from %s to %s in %d days", count_text(before, b, sizeof(b)),
            count_text(now, a, sizeof(a)), window);
    } else {
        put_count(w, now, p);
        put_window(w, window);
        if (now == before)
            put(w, ", as many as the %d days before", window);
        else
            put(w, " (%s the %d days before)",
                before == 0 ? "none" : count_text(before, b, sizeof(b)), window);
    }
}

static void
say_share_pair(struct writer *w, const struct phrase *p, const struct churn_feature_vector *vec)
{
    double now = vec->values[p->now], before = vec->values[p->before];
    int window = window_of(p->now);
    char a[32], b[32];
    if (isnan(now)) {
        put_missing(w, p, window);
    } else if (isnan(before) || now == before) {
        put(w, "%s %s", percent_text(now, a, sizeof(a)), p->one);
        put_window(w, window);
        if (!isnan(before))
            put(w, ", as in the %d days before", window);
    } else {
        put_capital(w, p->many);
        put(w, " %s from %s to %s of reviews in %d days", now < before ? "fell" : "rose",
            percent_text(before, b, sizeof(b)), percent_text(now, a, sizeof(a)), window);
    }
}

static void
say_times(struct writer *w, const struct phrase *p, double v, int window)
{
    char n[32];
    if (isnan(v) || v == 0) {
        say_count(w, p, v, window);
        return;
    }
    put(w, "%s", p->one);
    if (!is_one(v))
        put(w, " %s times", count_text(v, n, sizeof(n)));
    put_window(w, window);
}

/* Whether the latest plan change at or before @as_of_ms cancelled the plan. */
static bool
cancelled_last(const struct churn_customer *rec, int64_t as_of_ms)
{
    const struct churn_plan_change *last = NULL;
    for (unsigned i = 0; rec && i < rec->n_plan_changes && rec->plan_changes[i].at_ms <= as_of_ms;
         i++)
        last = &rec->plan_changes[i];
    return last && last->action == CHURN_PLAN_CANCEL;
}

/* Downgrades and cancellations in the window; when the latest was a cancellation (then it is
 * in the window, since the count is not 0), it is said as one. */
static void
say_plan_cuts(struct writer *w, const struct phrase *p, const struct churn_feature_vector *vec,
              const struct churn_customer *rec, double v, int window)
{
    char n[32];
    if (isnan(v) || v <= 0 || !cancelled_last(rec, vec->as_of_ms)) {
        say_times(w, p, v, window);
        return;
    }
    put(w, "Cancelled the plan");
    put_window(w, window);
    if (v >= 2)
        put(w, ", after %s earlier %s", count_text(v - 1, n, sizeof(n)),
            is_one(v - 1) ? "downgrade" : "downgrades");
}

static void
say_active_days(struct writer *w, const struct phrase *p, double v, int window)
{
    char n[32];
    if (isnan(v) || v == 0)
        say_count(w, p, v, window);
    else
        put(w, "Active on %s of the last %d days", count_text(v, n, sizeof(n)), window);
}

static void
say_since(struct writer *w, const struct phrase *p, double v)
{
    char n[32];
    if (isnan(v))
        put(w, "%s", p->missing);
    else if (v <= 0)
        put(w, "%s", p->zero);
    else
        put(w, "%s %s %s", p->one, count_text(v, n, sizeof(n)), is_one(v) ? "day" : "days");
}

static void
say_money(struct writer *w, const struct phrase *p, double v, int window)
{
    char m[48];
    if (isnan(v)) {
        put_missing(w, p, window);
        return;
    }
    money_text(v, m, sizeof(m));
    if (strcmp(m, "0.00") == 0)
        put(w, "%s", p->zero);
    else if (v < 0)
        put(w, "Refunds exceeded purchases by %s%s", money_text(-v, m, sizeof(m)), p->many);
    else
        put(w, "%s %s%s", p->one, m, p->many);
    put_window(w, window);
}

static void
say_share(struct writer *w, const struct phrase *p, double v, int window)
{
    char n[32];
    if (isnan(v))
        put_missing(w, p, window);
    else if (v == 0)
        put(w, "%s", p->zero);
    else
        put(w, "%s %s", percent_text(v, n, sizeof(n)), p->one);
    if (!isnan(v))
        put_window(w, window);
}

static void
say_stars(struct writer *w, const struct phrase *p, double v, int window)
{
    char n[32];
    if (isnan(v)) {
        put_missing(w, p, window);
        return;
    }
    decimal_text(v, n, sizeof(n));
    put(w, "%s %s %s", p->one ? p->one : "Average rating", n,
        strcmp(n, "1") == 0 ? "star" : "stars");
    if (window > 0)
        put(w, " over the last %d days", window);
    else
        put(w, "%s", p->many);
}

static void
say_level(struct writer *w, const struct phrase *p, double v)
{
    char n[32];
    if (isnan(v)) {
        put(w, "%s", p->missing);
        return;
    }
    const char *words = v >= 0.6   ? "Very unhappy in recent chats"
                        : v >= 0.3 ? "Unhappy in recent chats"
                        : v > 0    ? "Slightly unhappy in recent chats"
                                   : "Content in recent chats";
    snprintf(n, sizeof(n), "%.2f", v);
    put(w, "%s (dissatisfaction %s of 1)", words, n);
}

static void
say_tenure(struct writer *w, const struct phrase *p, double days, int sign)
{
    char n[32];
    if (isnan(days)) {
        put(w, "%s", p->missing);
        return;
    }
    if (days < 1) {
        put(w, "Customer since today");
        return;
    }
    double amount = floor(days);
    const char *unit = "day", *units = "days";
    if (days >= 730) {
        amount = days / 365.25;
        unit = "year";
        units = "years";
    } else if (days >= 61) {
        amount = floor(days / 30.4375);
        unit = "month";
        units = "months";
    }
    decimal_text(amount, n, sizeof(n));
    put(w, "Customer for %s%s %s", sign > 0 ? "only " : "", n, strcmp(n, "1") == 0 ? unit : units);
}

static void
say_plan(struct writer *w, const struct phrase *p, const struct churn_feature_vector *vec,
         const struct churn_customer *rec)
{
    double v = vec->values[CHURN_FEAT_PLAN_MONTHLY_VALUE];
    const char *name = rec ? churn_features_plan_at(rec, vec->as_of_ms) : "";
    char m[48];
    if (!isnan(v) && strcmp(money_text(v, m, sizeof(m)), "0.00") == 0)
        put(w, "%s", p->zero);
    else if (name && *name)
        put(w, "On the %s plan", name);
    else if (isnan(v))
        put(w, "%s", p->missing);
    else
        put(w, "On a plan");
    if (!isnan(v) && strcmp(m, "0.00") != 0)
        put(w, " (%s a month)", m);
}

static void
say_change(struct writer *w, const struct phrase *p, const struct churn_feature_vector *vec,
           double x, int window)
{
    double now = vec->values[p->now];
    char a[32], b[32];
    if (isnan(x) || isnan(now)) {
        put(w, "%s", p->missing);
        return;
    }
    put_capital(w, p->many);
    if (x == 0) {
        put(w, " unchanged in %d days", window);
        return;
    }
    /* x = (now - then) / max(now, then, 1): recover then from now */
    double then = x > 0 ? now * (1 - x) : x > -1 ? now / (1 + x) : NAN;
    if (isnan(then))
        put(w, " fell to none in %d days", window);
    else
        put(w, " %s from %s to %s in %d days", x < 0 ? "fell" : "rose",
            count_text(round(then), b, sizeof(b)), count_text(now, a, sizeof(a)), window);
}

static const char *unit_text(int feature, double v, char *buf, size_t len);

static void
say_generic(struct writer *w, int feature, double v)
{
    char n[48];
    const char *label = churn_features_catalogue()[feature].label;
    if (isnan(v))
        put(w, "%s: no data", label);
    else
        put(w, "%s: %s", label, unit_text(feature, v, n, sizeof(n)));
}

char *
churn_reason_feature_text(int feature, const struct churn_feature_vector *vec,
                          const struct churn_customer *rec, int sign, char *out, size_t outlen)
{
    struct writer w = {.out = out, .cap = outlen};
    if (outlen == 0)
        return out;
    out[0] = '\0';
    if (feature < 0 || feature >= CHURN_FEAT__COUNT || !vec) {
        put(&w, "Unknown feature");
        return out;
    }
    const struct phrase *p = &phrases[feature];
    double v = vec->values[feature];
    int window = window_of(feature);
    switch (p->shape) {
    case GENERIC:
        say_generic(&w, feature, v);
        break;
    case PAIR:
        say_pair(&w, p, vec);
        break;
    case SHARE_PAIR:
        say_share_pair(&w, p, vec);
        break;
    case COUNT:
        say_count(&w, p, v, window);
        break;
    case COUNT_EARLIER:
        say_count(&w, p, v, 0);
        break;
    case TIMES:
        say_times(&w, p, v, window);
        break;
    case PLAN_CUTS:
        say_plan_cuts(&w, p, vec, rec, v, window);
        break;
    case ACTIVE_DAYS:
        say_active_days(&w, p, v, window);
        break;
    case SINCE:
        say_since(&w, p, v);
        break;
    case MONEY:
        say_money(&w, p, v, window);
        break;
    case SHARE:
        say_share(&w, p, v, window);
        break;
    case STARS:
        say_stars(&w, p, v, window);
        break;
    case LEVEL:
        say_level(&w, p, v);
        break;
    case TENURE:
        say_tenure(&w, p, v, sign);
        break;
    case PLAN:
        say_plan(&w, p, vec, rec);
        break;
    case CHANGE:
        say_change(&w, p, vec, v, window);
        break;
    }
    return out;
}

/* ---- inputs outside the catalogue ------------------------------------------------------- */

char *
churn_reason_category_text(const char *name, const char *label, const char *value, char *out,
                           size_t outlen)
{
    static const struct {
        const char *name, *before, *after, *unknown;
    } words[] = {{"plan", "On the ", " plan", "Plan unknown"},
                 {"segment", "In the ", " segment", "Segment unknown"},
                 {"country", "Based in ", "", "Country unknown"}};
    struct writer w = {.out = out, .cap = outlen};
    if (outlen == 0)
        return out;
    out[0] = '\0';
    const char *l = label && *label ? label : name ? name : "";
    bool known = value && *value;
    for (size_t i = 0; name && i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcmp(name, words[i].name) != 0)
            continue;
        if (known)
            put(&w, "%s%s%s", words[i].before, value, words[i].after);
        else
            put(&w, "%s", words[i].unknown);
        return out;
    }
    if (known)
        put(&w, "%s: %s", l, value);
    else
        put(&w, "%s unknown", l);
    return out;
}

char *
churn_reason_number_text(const char *label, double value, char *out, size_t outlen)
{
    struct writer w = {.out = out, .cap = outlen};
    if (outlen == 0)
        return out;
    out[0] = '\0';
    if (isnan(value))
        put(&w, "%s: no data", label ? label : "");
    else
        put(&w, "%s: %.4g", label ? label : "", value);
    return out;
}

/* ---- what moved between two scores -------------------------------------------------------- */

/* @v in the unit of @feature. */
static const char *
unit_text(int feature, double v, char *buf, size_t len)
{
    const char *unit = churn_features_catalogue()[feature].unit;
    if (strncmp(unit, "currency", 8) == 0)
        return money_text(v, buf, len);
    if (strcmp(unit, "ratio") == 0)
        return percent_text(v, buf, len);
    if (strcmp(unit, "stars") == 0)
        return decimal_text(v, buf, len);
    if (strcmp(unit, "score 0-1") == 0 || strcmp(unit, "days") == 0 ||
        strcmp(unit, "minutes") == 0) {
        snprintf(buf, len, unit[0] == 's' ? "%.2f" : "%.0f", v);
        return buf;
    }
    return count_text(v, buf, len);
}

char *
churn_reason_moved_text(int feature, double before, double after, char *out, size_t outlen)
{
    struct writer w = {.out = out, .cap = outlen};
    if (outlen == 0)
        return out;
    out[0] = '\0';
    if (feature < 0 || feature >= CHURN_FEAT__COUNT) {
        put(&w, "Unknown feature");
        return out;
    }
    const char *label = churn_features_catalogue()[feature].label;
    char a[48], b[48];
    if (isnan(before) && isnan(after))
        put(&w, "%s: no value to compare", label);
    else if (isnan(before))
        put(&w, "%s is now %s", label, unit_text(feature, after, a, sizeof(a)));
    else if (isnan(after))
        put(&w, "%s was %s", label, unit_text(feature, before, b, sizeof(b)));
    else if (strcmp(unit_text(feature, before, b, sizeof(b)),
                    unit_text(feature, after, a, sizeof(a))) == 0)
        put(&w, "%s unchanged at %s", label, a);
    else
        put(&w, "%s %s from %s to %s", label, after < before ? "fell" : "rose", b, a);
    return out;
}
