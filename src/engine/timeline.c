/*
 * timeline.c - a customer's history as the store keeps it (churn/timeline.h): the record's
 * day buckets turned into one entry per day and event kind, its plan changes, churn and first
 * event, and one entry per revision of the customer's alerts (each change the log recorded:
 * raised, updated, acknowledged, snoozed, woken, closed, outcome, action called), read newest
 * first through the store's per-customer alert index; sorted newest first by a key (time, then a
 * rank that tells apart entries of the same millisecond) that is also the page cursor, so a page
 * never repeats or skips an entry when newer ones arrive between pages.
 */
#include "churn/timeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/store.h"

#define DAY_MS      86400000LL
#define AT_MS_MAX   ((1LL << 47) - 1) /* keys hold the time in their top 48 bits */
#define RANK_PLAN   32u
#define RANK_FIRST  16u
#define RANK_CHURN  64u
#define RANK_ALERTS 0x8000u

/* The entries being built, capped. */
struct sink {
    struct churn_timeline_entry *out;
    size_t cap, n;
};

static uint64_t
make_key(int64_t at_ms, unsigned rank)
{
    int64_t t = at_ms < 0 ? 0 : at_ms > AT_MS_MAX ? AT_MS_MAX : at_ms;
    return ((uint64_t)t << 16) | (rank & 0xFFFFu);
}

/* A new entry (zeroed but for its key, time, kind and word), or NULL when the sink is full. */
static struct churn_timeline_entry *
add(struct sink *s, int64_t at_ms, unsigned rank, enum churn_timeline_kind kind, const char *what,
    double count)
{
    if (s->n == s->cap)
        return NULL;
    struct churn_timeline_entry *e = &s->out[s->n++];
    memset(e, 0, sizeof(*e));
    e->key = make_key(at_ms, rank);
    e->at_ms = at_ms;
    e->kind = kind;
    e->what = what;
    e->count = count;
    e->amount = NAN;
    return e;
}

/* @src into @e->detail, cut at a UTF-8 character boundary. */
static void
set_detail(struct churn_timeline_entry *e, const char *src)
{
    size_t n = strlen(src);
    if (n >= sizeof(e->detail)) {
        n = sizeof(e->detail) - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(e->detail, src, n);
    e->detail[n] = '\0';
}

/* One day bucket: an entry per non-zero event kind and chat signal. */
static void
add_day(struct sink *s, const struct churn_day *d)
{
    const struct {
        const char *what;
        double count, amount;
        enum churn_timeline_kind kind;
    } k[CHURN_TIMELINE_DAY_KINDS] = {
        {"logins", d->logins, NAN, CHURN_TIMELINE_ACTIVITY},
        {"sessions", d->sessions, d->session_minutes, CHURN_TIMELINE_ACTIVITY},
        {"orders_completed", d->orders_completed, d->spend, CHURN_TIMELINE_ACTIVITY},
        {"orders_cancelled", d->orders_cancelled, NAN, CHURN_TIMELINE_ACTIVITY},
        {"orders_refunded", d->orders_refunded, NAN, CHURN_TIMELINE_ACTIVITY},
        {"tickets_opened", d->tickets_opened, NAN, CHURN_TIMELINE_ACTIVITY},
        {"tickets_resolved", d->tickets_resolved, NAN, CHURN_TIMELINE_ACTIVITY},
        {"reviews", d->reviews, d->reviews ? (double)d->rating_sum / d->reviews : NAN,
         CHURN_TIMELINE_ACTIVITY},
        {"reviews_negative", d->reviews_negative, NAN, CHURN_TIMELINE_ACTIVITY},
        {"listings", d->listings >= 0 ? d->listings : NAN, NAN, CHURN_TIMELINE_ACTIVITY},
        {"escalations", d->escalations, NAN, CHURN_TIMELINE_CHAT},
        {"churn_intents", d->churn_intents, NAN, CHURN_TIMELINE_CHAT},
        {"dissatisfaction", d->chat_dissatisfaction, NAN, CHURN_TIMELINE_CHAT},
    };
    int64_t at = (int64_t)d->day * DAY_MS;
    for (unsigned i = 0; i < CHURN_TIMELINE_DAY_KINDS; i++) {
        bool shown =
            isfinite(k[i].count) && (k[i].count != 0 || strcmp(k[i].what, "listings") == 0);
        if (!shown)
            continue;
        /* within a day, the order of the table (a higher rank sorts first) */
        struct churn_timeline_entry *e =
            add(s, at, CHURN_TIMELINE_DAY_KINDS - i, k[i].kind, k[i].what, k[i].count);
        if (e)
            e->amount = k[i].amount;
    }
}

static const char *
plan_word(enum churn_plan_action a)
{
    return a == CHURN_PLAN_UPGRADE     ? "upgrade"
           : a == CHURN_PLAN_DOWNGRADE ? "downgrade"
           : a == CHURN_PLAN_CANCEL    ? "cancel"
                                       : "change";
}

static void
add_record(struct sink *s, const struct churn_customer *rec)
{
    for (unsigned i = 0; i < rec->n_days && i < CHURN_DAYS_MAX; i++)
        add_day(s, &rec->days[i]);
    for (unsigned i = 0; i < rec->n_plan_changes && i < CHURN_PLAN_HISTORY_MAX; i++) {
        const struct churn_plan_change *p = &rec->plan_changes[i];
        struct churn_timeline_entry *e = add(s, p->at_ms, RANK_PLAN + i, CHURN_TIMELINE_PLAN,
                                             plan_word(p->action), p->monthly_value);
        if (e)
            set_detail(e, p->plan);
    }
    if (rec->churned_at_ms > 0) {
        struct churn_timeline_entry *e =
            add(s, rec->churned_at_ms, RANK_CHURN, CHURN_TIMELINE_CHURN, "churned", 1);
        if (e)
            set_detail(e, rec->churn_reason);
    }
    if (rec->first_seen_ms > 0)
        add(s, rec->first_seen_ms, RANK_FIRST, CHURN_TIMELINE_FIRST_SEEN, "first_seen", 1);
}

/* The moment of revision @a's change and its words: what, and the detail after the cause. */
static int64_t
change_moment(const struct churn_alert *a, const char **what, char *extra, size_t len)
{
    *extra = '\0';
    switch (a->change) {
    case CHURN_CHANGE_RAISED:
        *what = "raised";
        return a->created_ms;
    case CHURN_CHANGE_ACKNOWLEDGED:
        *what = "acknowledged";
        snprintf(extra, len, "%.64s%s%.60s", a->ack_actor, *a->ack_action ? " - " : "",
                 a->ack_action);
        return a->ack_ms > 0 ? a->ack_ms : a->updated_ms;
    case CHURN_CHANGE_SNOOZED:
        *what = "snoozed";
        snprintf(extra, len, "%.120s", a->snooze_reason);
        return a->updated_ms;
    case CHURN_CHANGE_CLOSED:
        *what = "closed";
        snprintf(extra, len, "%s", churn_alert_resolution_name(a->resolution));
        return a->closed_ms > 0 ? a->closed_ms : a->updated_ms;
    case CHURN_CHANGE_OUTCOME_RECORDED:
        *what = "outcome";
        snprintf(extra, len, "%s", churn_outcome_name(a->outcome));
        return a->outcome_observed_ms > 0 ? a->outcome_observed_ms : a->updated_ms;
    case CHURN_CHANGE_ACTION_CALLED:
        *what = "action_called";
        snprintf(extra, len, "%s", a->action.webhook);
        return a->action_call.called_ms > 0 ? a->action_call.called_ms : a->updated_ms;
    default: /* updated, woken */
        *what = a->change == CHURN_CHANGE_WOKEN ? "woken" : "updated";
        snprintf(extra, len, "%s, trigger %u", churn_alert_status_name(a->status),
                 a->trigger_count);
        return a->updated_ms;
    }
}

/*
 * The entry of one revision @a (one record of the alert log). Its rank holds the low bits of
 * the record's sequence, so two revisions of one millisecond keep apart and in log order.
 */
static void
add_revision(struct sink *s, const struct churn_alert *a)
{
    const char *what;
    char extra[128], detail[sizeof(s->out->detail) + 8];
    int64_t at_ms = change_moment(a, &what, extra, sizeof(extra));
    if (at_ms <= 0)
        return;
    unsigned rank = RANK_ALERTS | (unsigned)(a->sequence & 0x7FFFu);
    struct churn_timeline_entry *e =
        add(s, at_ms, rank, CHURN_TIMELINE_ALERT, what, a->probability);
    if (!e)
        return;
    e->alert_id = a->id;
    e->revision = a->revision;
    if (a->change == CHURN_CHANGE_OUTCOME_RECORDED)
        e->amount = a->outcome_revenue;
    snprintf(detail, sizeof(detail), "%s%s%s", churn_alert_cause_name(a->cause), *extra ? ": " : "",
             extra);
    set_detail(e, detail);
}

static int
newest_first(const void *pa, const void *pb)
{
    const struct churn_timeline_entry *a = pa, *b = pb;
    return a->key < b->key ? 1 : a->key > b->key ? -1 : 0;
}

size_t
churn_timeline_build(const struct churn_customer *rec, const struct churn_alert *alerts,
                     size_t n_alerts, struct churn_timeline_entry *out, size_t cap)
{
    size_t need = CHURN_TIMELINE_ENTRIES_MAX(n_alerts);
    struct churn_timeline_entry *all = cap >= need ? out : churn_malloc(need * sizeof(*all));
    struct sink s = {all ? all : out, all ? need : cap, 0};
    add_record(&s, rec);
    for (size_t i = 0; i < n_alerts; i++)
        if (strcmp(alerts[i].customer_id, rec->id) == 0)
            add_revision(&s, &alerts[i]);
    qsort(s.out, s.n, sizeof(*s.out), newest_first);
    if (s.out == out)
        return s.n < cap ? s.n : cap;
    size_t n = s.n < cap ? s.n : cap; /* the newest @cap */
    memcpy(out, s.out, n * sizeof(*out));
    churn_free(all);
    return n;
}

/* ---- listing: the store's record and the customer's alert revisions ------------------- */

/* One walk of the customer's alert records: each decoded and added as it comes. */
struct revision_walk {
    struct sink *sink;
    struct churn_alert scratch;
    size_t undecodable;
};

static int
take_revision(uint64_t seq, const char *customer_id, const void *data, size_t len, void *user)
{
    (void)customer_id;
    struct revision_walk *w = user;
    if (churn_alert_decode(data, len, &w->scratch) != CHURN_OK) {
        w->undecodable++;
        return 0;
    }
    w->scratch.sequence = seq;
    add_revision(w->sink, &w->scratch);
    return 0;
}

/* @rec's entries and its newest CHURN_TIMELINE_REVISIONS_MAX alert revisions, sorted. */
static enum churn_err
build_listed(struct churn_store *store, const struct churn_customer *rec, struct sink *s)
{
    add_record(s, rec);
    struct revision_walk *w = churn_malloc(sizeof(*w));
    if (!w)
        return CHURN_ENOMEM;
    w->sink = s;
    w->undecodable = 0;
    enum churn_err err = churn_store_foreach_customer_alert(
        store, rec->id, 0, CHURN_TIMELINE_REVISIONS_MAX, take_revision, w);
    churn_free(w);
    qsort(s->out, s->n, sizeof(*s->out), newest_first);
    return err;
}

/* The page of @all (@n, newest first) after cursor @before into @page. */
static enum churn_err
cut_page(const struct churn_timeline_entry *all, size_t n, uint64_t before, size_t limit,
         struct churn_timeline_page *page)
{
    size_t from = 0;
    while (before && from < n && all[from].key >= before)
        from++;
    size_t take = n - from < limit ? n - from : limit;
    page->entries = churn_malloc((take ? take : 1) * sizeof(*page->entries));
    if (!page->entries)
        return CHURN_ENOMEM;
    memcpy(page->entries, all + from, take * sizeof(*all));
    page->n = take;
    page->total = n;
    page->next = from + take < n && take ? all[from + take - 1].key : 0;
    return CHURN_OK;
}

static void
page_summary(const struct churn_customer *rec, struct churn_timeline_page *page)
{
    page->life = rec->life;
    page->first_seen_ms = rec->first_seen_ms;
    page->last_seen_ms = rec->last_seen_ms;
    page->churned_at_ms = rec->churned_at_ms;
    page->open_tickets = rec->open_tickets;
    page->days_held = rec->n_days;
}

enum churn_err
churn_timeline_list(struct churn_store *store, const char *customer_id, uint64_t before,
                    size_t limit, struct churn_timeline_page *out, char *msg, size_t msglen)
{
    if (limit < 1 || limit > CHURN_TIMELINE_LIMIT_MAX)
        return churn_fail(msg, msglen, CHURN_EINVAL, "limit: %zu is not from 1 to %d", limit,
                          CHURN_TIMELINE_LIMIT_MAX);
    struct churn_customer *rec = churn_malloc(sizeof(*rec));
    size_t cap = CHURN_TIMELINE_ENTRIES_MAX(CHURN_TIMELINE_REVISIONS_MAX);
    struct churn_timeline_entry *all = churn_malloc(cap * sizeof(*all));
    enum churn_err err = rec && all ? CHURN_OK : CHURN_ENOMEM;
    if (!err && (err = churn_store_get_customer(store, customer_id, rec)) != CHURN_OK)
        churn_fail(msg, msglen, err, "customer_id: %s",
                   err == CHURN_ENOTFOUND ? "no such customer" : churn_strerror(err));
    struct churn_timeline_page page = {0};
    struct sink sink = {all, cap, 0};
    if (!err && (err = build_listed(store, rec, &sink)) != CHURN_OK && err != CHURN_ENOMEM)
        churn_fail(msg, msglen, err, "reading the alerts of %s: %s", customer_id,
                   churn_strerror(err));
    if (!err)
        err = cut_page(all, sink.n, before, limit, &page);
    if (err == CHURN_ENOMEM)
        churn_fail(msg, msglen, err, "out of memory");
    if (!err) {
        page_summary(rec, &page);
        *out = page;
    }
    churn_free(rec);
    churn_free(all);
    return err;
}

void
churn_timeline_page_free(struct churn_timeline_page *page)
{
    churn_free(page->entries);
    page->entries = NULL;
    page->n = 0;
}
