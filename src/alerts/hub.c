/*
 * hub.c - the alert fan-out hub: a bounded ring of recent alerts (copied in once, no
 * allocation per publish), subscribers with filters and cursors, edge-triggered READY
 * notifications and a one-time LAGGED notification for a subscriber that is too slow: one
 * that would lose a matching alert it has not read yet to the ring's wrap. A subscription
 * starts at most catch_up_max positions behind the head, so every subscriber begins with at
 * least ring_capacity - catch_up_max positions of headroom. One mutex guards everything; it
 * is held only for copies and counters.
 */
#include "churn/alerts_hub.h"

#include <pthread.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/segments.h"
#include "internal.h"

#define RING_MIN 16u
#define RING_MAX 16384u
#define SUBS_MAX 65536u

struct slot {
    uint64_t prev_head; /* the head before this alert was published */
    bool erased;        /* its customer was erased or dropped: never delivered again */
    struct churn_alert alert;
};

struct churn_alert_sub {
    struct churn_alert_hub *hub;
    struct churn_alert_filter filter;
    churn_alert_hub_notify_fn notify;
    void *ctx;
    uint64_t cursor;   /* ring position of the next alert to look at */
    uint64_t last_seq; /* last sequence handed out (or after_seq) */
    size_t pending;    /* matching alerts at positions >= cursor */
    size_t index;      /* in hub->subs */
    bool armed;        /* notify READY on the next matching publish */
    bool lagged;
};

struct churn_alert_hub {
    pthread_mutex_t mu;
    struct churn_alert_hub_config cfg;
    struct slot *ring;
    uint64_t published; /* positions ever used; valid: [published - filled, published) */
    uint64_t filled;
    uint64_t head;
    struct churn_alert_sub **subs;
    size_t n_subs;
};

void
churn_alert_hub_config_default(struct churn_alert_hub_config *cfg)
{
    cfg->ring_capacity = 2048;
    cfg->max_subscribers = 1024;
    cfg->catch_up_max = 1024;
}

#define ALL_CAUSE_BITS  (((1u << CHURN_CAUSE_COUNT) - 1) & ~1u)
#define ALL_TIER_BITS   (((1u << (CHURN_TIER_HIGH + 1)) - 1) & ~1u)
#define ALL_STATUS_BITS (((1u << (CHURN_STATUS_CLOSED + 1)) - 1) & ~1u)
#define ALL_CELL_BITS   ((1u << 9) - 1)

enum churn_err
churn_alert_filter_check(const struct churn_alert_filter *f, char *errbuf, size_t errlen)
{
    if (f->causes & ~ALL_CAUSE_BITS) {
        churn_errf(errbuf, errlen, "filter.causes: unknown cause bits 0x%x",
                   f->causes & ~ALL_CAUSE_BITS);
        return CHURN_EINVAL;
    }
    if (f->min_risk < CHURN_TIER_UNSPECIFIED || f->min_risk > CHURN_TIER_HIGH) {
        churn_errf(errbuf, errlen, "filter.min_risk: unknown tier %d", (int)f->min_risk);
        return CHURN_EINVAL;
    }
    if (f->value_tiers & ~ALL_TIER_BITS) {
        churn_errf(errbuf, errlen, "filter.value_tiers: unknown tier bits 0x%x",
                   f->value_tiers & ~ALL_TIER_BITS);
        return CHURN_EINVAL;
    }
    if (f->segments & ~ALL_CELL_BITS) {
        churn_errf(errbuf, errlen, "filter.segments: unknown segment bits 0x%x",
                   f->segments & ~ALL_CELL_BITS);
        return CHURN_EINVAL;
    }
    if (f->statuses & ~ALL_STATUS_BITS) {
        churn_errf(errbuf, errlen, "filter.statuses: unknown status bits 0x%x",
                   f->statuses & ~ALL_STATUS_BITS);
        return CHURN_EINVAL;
    }
    return CHURN_OK;
}

/* one value of a filter dimension into @f; false when unknown */
static bool
filter_value(const char *dim, const char *v, struct churn_alert_filter *f)
{
    if (strcmp(dim, "cause") == 0) {
        enum churn_alert_cause c;
        if (churn_alert_cause_parse(v, &c))
            return false;
        f->causes |= 1u << c;
    } else if (strcmp(dim, "risk") == 0) {
        return churn_tier_parse(v, &f->min_risk) == CHURN_OK;
    } else if (strcmp(dim, "value") == 0) {
        enum churn_tier t;
        if (churn_tier_parse(v, &t))
            return false;
        f->value_tiers |= 1u << t;
    } else if (strcmp(dim, "status") == 0) {
        enum churn_alert_status st;
        if (churn_alert_status_parse(v, &st))
            return false;
        f->statuses |= 1u << st;
    } else {
        char r[16], val[16];
        const char *slash = strchr(v, '/');
        size_t rl = slash ? (size_t)(slash - v) : 0;
        if (!slash || rl < 6 || rl - 5 >= sizeof(r) || strncmp(v + rl - 5, "-risk", 5) != 0)
            return false;
        memcpy(r, v, rl - 5);
        r[rl - 5] = '\0';
        size_t vl = strlen(slash + 1);
        if (vl < 7 || vl - 6 >= sizeof(val) || strcmp(slash + 1 + vl - 6, "-value") != 0)
            return false;
        memcpy(val, slash + 1, vl - 6);
        val[vl - 6] = '\0';
        enum churn_tier rt, vt;
        if (churn_tier_parse(r, &rt) || churn_tier_parse(val, &vt))
            return false;
        f->segments |= 1u << churn_segment_cell(rt, vt);
    }
    return true;
}

enum churn_err
churn_alert_filter_parse(const char *text, struct churn_alert_filter *filter, char *errbuf,
                         size_t errlen)
{
    static const char *const dims[] = {"cause", "risk", "value", "segment", "status"};
    char buf[1025];
    size_t n = strlen(text);
    if (n >= sizeof(buf)) {
        churn_errf(errbuf, errlen, "filter: longer than %zu bytes", sizeof(buf) - 1);
        return CHURN_ETOOBIG;
    }
    memcpy(buf, text, n + 1);
    struct churn_alert_filter f = {0};
    bool seen[5] = {false};
    char *p = buf;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        char *term = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (*p)
            *p++ = '\0';
        char *colon = strchr(term, ':');
        size_t d = 0;
        if (colon) {
            *colon = '\0';
            while (d < 5 && strcmp(term, dims[d]) != 0)
                d++;
        }
        if (!colon || d == 5) {
            churn_errf(errbuf, errlen,
                       "filter: '%s' is not cause:, risk:, value:, segment: or status:", term);
            return CHURN_EINVAL;
        }
        if (seen[d]) {
            churn_errf(errbuf, errlen, "filter: %s given twice", term);
            return CHURN_EINVAL;
        }
        seen[d] = true;
        for (char *v = colon + 1;;) {
            char *comma = strchr(v, ',');
            if (comma)
                *comma = '\0';
            if (!*v || !filter_value(term, v, &f) || (d == 1 && comma)) {
                churn_errf(errbuf, errlen, "filter: %s: bad value '%s'%s", term, v,
                           d == 1 ? " (one minimum tier: low, medium or high)" : "");
                return CHURN_EINVAL;
            }
            if (!comma)
                break;
            v = comma + 1;
        }
    }
    *filter = f;
    return CHURN_OK;
}

bool
churn_alert_filter_match_fields(const struct churn_alert_filter *f, enum churn_alert_cause cause,
                                enum churn_tier risk_tier, enum churn_tier value_tier,
                                enum churn_alert_status status)
{
    if (!f)
        return true;
    if (f->causes && !(f->causes & (1u << cause)))
        return false;
    if (f->min_risk && risk_tier < f->min_risk)
        return false;
    if (f->value_tiers && !(f->value_tiers & (1u << value_tier)))
        return false;
    if (f->segments) {
        int cell = churn_segment_cell(risk_tier, value_tier);
        if (cell < 0 || !(f->segments & (1u << cell)))
            return false;
    }
    if (f->statuses && !(f->statuses & (1u << status)))
        return false;
    return true;
}

bool
churn_alert_filter_match(const struct churn_alert_filter *f, const struct churn_alert *a)
{
    return churn_alert_filter_match_fields(f, a->cause, a->risk_tier, a->value_tier, a->status);
}

enum churn_err
churn_alert_hub_create(const struct churn_alert_hub_config *cfg, uint64_t head_sequence,
                       struct churn_alert_hub **out)
{
    if (cfg->ring_capacity < RING_MIN || cfg->ring_capacity > RING_MAX ||
        cfg->max_subscribers < 1 || cfg->max_subscribers > SUBS_MAX || cfg->catch_up_max < 1 ||
        cfg->catch_up_max >= cfg->ring_capacity)
        return CHURN_EINVAL;
    struct churn_alert_hub *hub = churn_calloc(1, sizeof(*hub));
    if (!hub)
        return CHURN_ENOMEM;
    hub->ring = churn_calloc(cfg->ring_capacity, sizeof(*hub->ring));
    if (!hub->ring)
        goto out_hub;
    hub->subs = churn_calloc(cfg->max_subscribers, sizeof(*hub->subs));
    if (!hub->subs)
        goto out_ring;
    pthread_mutex_init(&hub->mu, NULL);
    hub->cfg = *cfg;
    hub->head = head_sequence;
    *out = hub;
    return CHURN_OK;

out_ring:
    churn_free(hub->ring);
out_hub:
    churn_free(hub);
    return CHURN_ENOMEM;
}

void
churn_alert_hub_destroy(struct churn_alert_hub *hub)
{
    if (!hub)
        return;
    for (size_t i = 0; i < hub->n_subs; i++)
        churn_free(hub->subs[i]);
    churn_free(hub->subs);
    churn_free(hub->ring);
    pthread_mutex_destroy(&hub->mu);
    churn_free(hub);
}

static struct slot *
slot_at(struct churn_alert_hub *hub, uint64_t pos)
{
    return &hub->ring[pos % hub->cfg.ring_capacity];
}

static uint64_t
first_pos(const struct churn_alert_hub *hub)
{
    return hub->published - hub->filled;
}

static void
cut_off(struct churn_alert_sub *sub)
{
    if (sub->lagged)
        return;
    sub->lagged = true;
    if (sub->notify)
        sub->notify(sub->ctx, sub, CHURN_ALERT_HUB_LAGGED);
}

enum churn_err
churn_alert_hub_publish(struct churn_alert_hub *hub, const struct churn_alert *alert)
{
    pthread_mutex_lock(&hub->mu);
    if (alert->sequence <= hub->head) {
        pthread_mutex_unlock(&hub->mu);
        return CHURN_EINVAL;
    }
    uint64_t pos = hub->published;
    struct slot *s = slot_at(hub, pos);
    bool evicting = hub->filled == hub->cfg.ring_capacity;
    uint64_t evicted_pos = pos - hub->cfg.ring_capacity;
    for (size_t i = 0; i < hub->n_subs; i++) {
        struct churn_alert_sub *sub = hub->subs[i];
        if (sub->lagged)
            continue;
        /* an unread matching alert is about to be overwritten: the subscriber lost it */
        if (evicting && sub->cursor <= evicted_pos) {
            if (!s->erased && churn_alert_filter_match(&sub->filter, &s->alert)) {
                cut_off(sub);
                continue;
            }
            sub->cursor = evicted_pos + 1;
        }
        if (!churn_alert_filter_match(&sub->filter, alert))
            continue;
        sub->pending++;
        if (sub->armed && sub->notify) {
            sub->armed = false;
            sub->notify(sub->ctx, sub, CHURN_ALERT_HUB_READY);
        }
    }
    s->prev_head = hub->head;
    s->erased = false;
    s->alert = *alert;
    hub->published++;
    if (!evicting)
        hub->filled++;
    hub->head = alert->sequence;
    pthread_mutex_unlock(&hub->mu);
    return CHURN_OK;
}

uint64_t
churn_alert_hub_head(struct churn_alert_hub *hub)
{
    pthread_mutex_lock(&hub->mu);
    uint64_t h = hub->head;
    pthread_mutex_unlock(&hub->mu);
    return h;
}

/* the lowest after_sequence a subscription may start from: at most catch_up_max ring
 * positions behind the head */
static uint64_t
oldest_locked(struct churn_alert_hub *hub)
{
    if (!hub->filled)
        return hub->head;
    uint64_t pos = first_pos(hub);
    if (hub->published - pos > hub->cfg.catch_up_max)
        pos = hub->published - hub->cfg.catch_up_max;
    return slot_at(hub, pos)->prev_head;
}

uint64_t
churn_alert_hub_oldest(struct churn_alert_hub *hub)
{
    pthread_mutex_lock(&hub->mu);
    uint64_t o = oldest_locked(hub);
    pthread_mutex_unlock(&hub->mu);
    return o;
}

enum churn_err
churn_alert_hub_subscribe(struct churn_alert_hub *hub, uint64_t after_seq,
                          const struct churn_alert_filter *filter, churn_alert_hub_notify_fn notify,
                          void *ctx, struct churn_alert_sub **out, char *errbuf, size_t errlen)
{
    enum churn_err err;
    if (filter && (err = churn_alert_filter_check(filter, errbuf, errlen)))
        return err;
    struct churn_alert_sub *sub = churn_calloc(1, sizeof(*sub));
    if (!sub)
        return CHURN_ENOMEM;
    pthread_mutex_lock(&hub->mu);
    if (after_seq > hub->head) {
        churn_errf(errbuf, errlen, "after_sequence: %llu is beyond the head %llu",
                   (unsigned long long)after_seq, (unsigned long long)hub->head);
        err = CHURN_EINVAL;
        goto out_unlock;
    }
    if (after_seq < oldest_locked(hub)) {
        churn_errf(errbuf, errlen,
                   "after_sequence: %llu is older than the catch-up window (from %llu); "
                   "read the backlog first",
                   (unsigned long long)after_seq, (unsigned long long)oldest_locked(hub));
        err = CHURN_ERANGE;
        goto out_unlock;
    }
    if (hub->n_subs == hub->cfg.max_subscribers) {
        churn_errf(errbuf, errlen, "too many subscribers (%u)", hub->cfg.max_subscribers);
        err = CHURN_ETOOBIG;
        goto out_unlock;
    }
    sub->hub = hub;
    if (filter)
        sub->filter = *filter;
    sub->notify = notify;
    sub->ctx = ctx;
    sub->last_seq = after_seq;
    sub->cursor = hub->published;
    /* step back over the ring entries after after_seq, counting the matching ones */
    for (uint64_t pos = hub->published; pos > first_pos(hub); pos--) {
        const struct churn_alert *a = &slot_at(hub, pos - 1)->alert;
        if (a->sequence <= after_seq)
            break;
        sub->cursor = pos - 1;
        if (churn_alert_filter_match(&sub->filter, a))
            sub->pending++;
    }
    sub->armed = sub->pending == 0;
    sub->index = hub->n_subs;
    hub->subs[hub->n_subs++] = sub;
    pthread_mutex_unlock(&hub->mu);
    *out = sub;
    return CHURN_OK;

out_unlock:
    pthread_mutex_unlock(&hub->mu);
    churn_free(sub);
    return err;
}

enum churn_err
churn_alert_hub_next(struct churn_alert_sub *sub, struct churn_alert *alert)
{
    struct churn_alert_hub *hub = sub->hub;
    enum churn_err err = CHURN_EAGAIN;
    pthread_mutex_lock(&hub->mu);
    if (sub->lagged) {
        err = CHURN_ETOOBIG;
        goto out;
    }
    if (sub->cursor < first_pos(hub))
        sub->cursor = first_pos(hub); /* only non-matching alerts were dropped (see publish) */
    while (sub->pending > 0 && sub->cursor < hub->published) {
        const struct slot *sl = slot_at(hub, sub->cursor);
        const struct churn_alert *a = &sl->alert;
        sub->cursor++;
        if (sl->erased || !churn_alert_filter_match(&sub->filter, a))
            continue;
        *alert = *a;
        sub->pending--;
        sub->last_seq = a->sequence;
        err = CHURN_OK;
        goto out;
    }
    sub->cursor = hub->published;
    sub->armed = true;
out:
    pthread_mutex_unlock(&hub->mu);
    return err;
}

size_t
churn_alert_hub_forget_customer(struct churn_alert_hub *hub, const char *customer_id)
{
    size_t n = 0;
    pthread_mutex_lock(&hub->mu);
    for (uint64_t pos = first_pos(hub); pos < hub->published; pos++) {
        struct slot *sl = slot_at(hub, pos);
        if (!sl->erased && strcmp(sl->alert.customer_id, customer_id) == 0) {
            sl->erased = true;
            n++;
        }
    }
    pthread_mutex_unlock(&hub->mu);
    return n;
}

bool
churn_alert_hub_lagged(struct churn_alert_sub *sub, uint64_t *resume_after)
{
    pthread_mutex_lock(&sub->hub->mu);
    bool lagged = sub->lagged;
    if (resume_after)
        *resume_after = sub->last_seq;
    pthread_mutex_unlock(&sub->hub->mu);
    return lagged;
}

uint64_t
churn_alert_hub_last_sequence(struct churn_alert_sub *sub)
{
    pthread_mutex_lock(&sub->hub->mu);
    uint64_t s = sub->last_seq;
    pthread_mutex_unlock(&sub->hub->mu);
    return s;
}

enum churn_err
churn_alert_hub_skip(struct churn_alert_sub *sub)
{
    struct churn_alert_hub *hub = sub->hub;
    pthread_mutex_lock(&hub->mu);
    bool lagged = sub->lagged;
    if (!lagged) {
        sub->cursor = hub->published;
        sub->pending = 0;
        sub->armed = true;
    }
    pthread_mutex_unlock(&hub->mu);
    return lagged ? CHURN_ETOOBIG : CHURN_OK;
}

size_t
churn_alert_hub_pending(struct churn_alert_sub *sub)
{
    pthread_mutex_lock(&sub->hub->mu);
    size_t n = sub->pending;
    pthread_mutex_unlock(&sub->hub->mu);
    return n;
}

void
churn_alert_hub_unsubscribe(struct churn_alert_sub *sub)
{
    if (!sub)
        return;
    struct churn_alert_hub *hub = sub->hub;
    pthread_mutex_lock(&hub->mu);
    size_t i = sub->index;
    hub->subs[i] = hub->subs[--hub->n_subs];
    hub->subs[i]->index = i;
    hub->subs[hub->n_subs] = NULL;
    pthread_mutex_unlock(&hub->mu);
    churn_free(sub);
}

size_t
churn_alert_hub_subscriber_count(struct churn_alert_hub *hub)
{
    pthread_mutex_lock(&hub->mu);
    size_t n = hub->n_subs;
    pthread_mutex_unlock(&hub->mu);
    return n;
}
