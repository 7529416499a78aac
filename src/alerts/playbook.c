/*
 * playbook.c - the playbook file parser and validator, the immutable reference-counted
 * playbook set, selection by segment and cause with fallbacks and holdouts, and the registry
 * that swaps a reloaded set in atomically (a failed reload keeps the old set in force).
 * The file format is documented in docs/PLAYBOOKS.md.
 */
#include "churn/alerts_playbook.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "churn/alloc.h"
#include "churn/outcomes.h"
#include "internal.h"

struct churn_playbooks {
    atomic_long refs;
    size_t count;
    struct churn_playbook *items; /* evaluation order */
};

#define ALL_TIERS ((1u << CHURN_TIER_LOW) | (1u << CHURN_TIER_MEDIUM) | (1u << CHURN_TIER_HIGH))
#define ALL_CAUSES                                                                                 \
    ((1u << CHURN_CAUSE_TIER_WORSENED) | (1u << CHURN_CAUSE_PROBABILITY_JUMP) |                    \
     (1u << CHURN_CAUSE_CHAT_ESCALATION) | (1u << CHURN_CAUSE_CHURN_INTENT))

/* keys a section may set; each at most once */
enum key {
    KEY_MATCH,
    KEY_ACTION,
    KEY_DETAIL,
    KEY_COUPON_VALUE,
    KEY_OWNER,
    KEY_DUE_IN_HOURS,
    KEY_HOLDOUT,
    KEY_PRIORITY,
    KEY_FALLBACK,
    KEY_WEBHOOK, /* issue 15 */
    KEY_COUNT
};

static const char *const key_names[KEY_COUNT] = {
    "match",        "action",  "detail",   "coupon_value", "owner",
    "due_in_hours", "holdout", "priority", "fallback",     "webhook",
};

/* parse state for one playbook while reading */
struct draft {
    struct churn_playbook pb;
    int32_t key_line[KEY_COUNT]; /* 0: not set */
    char fallback_id[CHURN_ALERT_NAME_MAX];
};

struct parser {
    const char *source;
    char *errbuf;
    size_t errlen;
    struct draft *drafts;
    size_t n;
};

static enum churn_err fail(struct parser *ps, int line, enum churn_err err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum churn_err
fail(struct parser *ps, int line, enum churn_err err, const char *fmt, ...)
{
    if (!ps->errbuf || ps->errlen == 0)
        return err;
    char msg[CHURN_ALERT_ERRMSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(ps->errbuf, ps->errlen, "%s:%d: %s", ps->source, line, msg);
    return err;
}

static char *
trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static bool
id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= CHURN_ALERT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

/* strict decimal number: the whole text, finite */
static bool
parse_double(const char *s, double *out)
{
    if (!*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static bool
parse_int(const char *s, long long lo, long long hi, long long *out)
{
    if (!*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* one value of a match dimension into @mask, or false */
static bool
match_value(const char *dim, const char *v, unsigned *mask)
{
    if (strcasecmp(v, "any") == 0) {
        *mask |= strcmp(dim, "cause") == 0 ? ALL_CAUSES : ALL_TIERS;
        return true;
    }
    if (strcmp(dim, "cause") == 0) {
        enum churn_alert_cause c;
        if (churn_alert_cause_parse(v, &c))
            return false;
        *mask |= 1u << c;
        return true;
    }
    enum churn_tier t;
    if (churn_tier_parse(v, &t))
        return false;
    *mask |= 1u << t;
    return true;
}

/* "risk:high,medium value:high cause:tier_worsened" or "any" */
static enum churn_err
parse_match(struct parser *ps, int line, char *text, struct churn_playbook *pb)
{
    unsigned risk = 0, value = 0, cause = 0;
    bool seen_any = false;
    char *p = text;
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
        if (strcasecmp(term, "any") == 0) {
            seen_any = true;
            continue;
        }
        char *colon = strchr(term, ':');
        if (!colon)
            return fail(ps, line, CHURN_EINVAL,
                        "match: '%s' is not dimension:values (risk:, value: or cause:)", term);
        *colon = '\0';
        const char *dim = term;
        unsigned *mask;
        if (strcmp(dim, "risk") == 0)
            mask = &risk;
        else if (strcmp(dim, "value") == 0)
            mask = &value;
        else if (strcmp(dim, "cause") == 0)
            mask = &cause;
        else
            return fail(ps, line, CHURN_EINVAL,
                        "match: unknown dimension '%s' (risk, value or cause)", dim);
        if (*mask)
            return fail(ps, line, CHURN_EINVAL, "match: %s given twice", dim);
        char *vals = colon + 1;
        if (!*vals)
            return fail(ps, line, CHURN_EINVAL, "match: %s has no values", dim);
        for (char *v = vals;;) {
            char *comma = strchr(v, ',');
            if (comma)
                *comma = '\0';
            if (!match_value(dim, v, mask))
                return fail(ps, line, CHURN_EINVAL, "match: unknown %s '%s'%s", dim, v,
                            strcmp(dim, "cause") == 0
                                ? " (tier_worsened, probability_jump, chat_escalation, "
                                  "churn_intent, any)"
                                : " (high, medium, low, any)");
            if (!comma)
                break;
            v = comma + 1;
        }
    }
    if (seen_any && (risk || value || cause))
        return fail(ps, line, CHURN_EINVAL, "match: 'any' cannot be combined with conditions");
    if (!seen_any && !risk && !value && !cause)
        return fail(ps, line, CHURN_EINVAL, "match: empty (use 'any' to match everything)");
    pb->matchable = true;
    pb->risk_mask = risk ? risk : ALL_TIERS;
    pb->value_mask = value ? value : ALL_TIERS;
    pb->cause_mask = cause ? cause : ALL_CAUSES;
    return CHURN_OK;
}

static enum churn_err
set_key(struct parser *ps, int line, struct draft *d, char *key, char *val)
{
    int k = 0;
    while (k < KEY_COUNT && strcmp(key, key_names[k]) != 0)
        k++;
    if (k == KEY_COUNT)
        return fail(ps, line, CHURN_EINVAL,
                    "unknown key '%s' (match, action, detail, coupon_value, owner, "
                    "due_in_hours, holdout, priority, fallback, webhook)",
                    key);
    if (d->key_line[k])
        return fail(ps, line, CHURN_EINVAL, "%s: already set on line %d", key, d->key_line[k]);
    d->key_line[k] = line;
    struct churn_playbook *pb = &d->pb;
    double dv;
    long long iv;
    switch ((enum key)k) {
    case KEY_MATCH:
        return parse_match(ps, line, val, pb);
    case KEY_ACTION:
        if (churn_action_kind_parse(val, &pb->action))
            return fail(ps, line, CHURN_EINVAL,
                        "action: unknown action '%s' (coupon, email_campaign, consultation, "
                        "human_handoff, feedback_call)",
                        val);
        return CHURN_OK;
    case KEY_DETAIL:
        if (churn__copy(pb->detail, sizeof(pb->detail), val))
            return fail(ps, line, CHURN_ETOOBIG, "detail: longer than %u bytes",
                        CHURN_ALERT_TEXT_MAX - 1);
        return CHURN_OK;
    case KEY_COUPON_VALUE:
        if (!parse_double(val, &dv) || dv <= 0 || dv > 1e6)
            return fail(ps, line, CHURN_EINVAL,
                        "coupon_value: '%s' is not a number in (0, 1000000]", val);
        pb->coupon_value = dv;
        return CHURN_OK;
    case KEY_OWNER:
        if (!id_ok(val))
            return fail(ps, line, CHURN_EINVAL,
                        "owner: '%s' must be 1-63 letters, digits, '-', '_' or '.'", val);
        churn__copy(pb->owner, sizeof(pb->owner), val);
        return CHURN_OK;
    case KEY_DUE_IN_HOURS:
        if (!parse_int(val, 0, 8760, &iv))
            return fail(ps, line, CHURN_EINVAL, "due_in_hours: '%s' is not an integer in [0, 8760]",
                        val);
        pb->due_in_ms = iv * 3600 * 1000;
        return CHURN_OK;
    case KEY_HOLDOUT:
        if (!parse_double(val, &dv) || dv < 0 || dv > CHURN_PLAYBOOK_MAX_HOLDOUT)
            return fail(ps, line, CHURN_EINVAL, "holdout: '%s' is not a share in [0, %g]", val,
                        CHURN_PLAYBOOK_MAX_HOLDOUT);
        pb->holdout = dv;
        return CHURN_OK;
    case KEY_PRIORITY:
        if (!parse_int(val, 1, 1000000, &iv))
            return fail(ps, line, CHURN_EINVAL, "priority: '%s' is not an integer in [1, 1000000]",
                        val);
        pb->priority = (int32_t)iv;
        return CHURN_OK;
    case KEY_FALLBACK:
        if (!id_ok(val))
            return fail(ps, line, CHURN_EINVAL, "fallback: '%s' is not a playbook id", val);
        churn__copy(d->fallback_id, sizeof(d->fallback_id), val);
        return CHURN_OK;
    case KEY_WEBHOOK:
        if (!id_ok(val))
            return fail(ps, line, CHURN_EINVAL,
                        "webhook: '%s' must be a --webhook name (1-63 letters, digits, '-', '_' "
                        "or '.')",
                        val);
        churn__copy(pb->webhook, sizeof(pb->webhook), val);
        pb->webhook_line = line;
        return CHURN_OK;
    case KEY_COUNT:
        break;
    }
    return CHURN_EINTERNAL;
}

/* checks that need the whole section */
static enum churn_err
finish_section(struct parser *ps, struct draft *d)
{
    struct churn_playbook *pb = &d->pb;
    if (!d->key_line[KEY_ACTION])
        return fail(ps, pb->line, CHURN_EINVAL, "playbook %s: no action", pb->id);
    if (pb->action == CHURN_ACTION_COUPON && !d->key_line[KEY_COUPON_VALUE])
        return fail(ps, pb->line, CHURN_EINVAL, "playbook %s: a coupon needs coupon_value", pb->id);
    if (pb->action != CHURN_ACTION_COUPON && d->key_line[KEY_COUPON_VALUE])
        return fail(ps, d->key_line[KEY_COUPON_VALUE], CHURN_EINVAL,
                    "coupon_value: only for action = coupon");
    if (strcmp(d->fallback_id, pb->id) == 0)
        return fail(ps, d->key_line[KEY_FALLBACK], CHURN_EINVAL,
                    "fallback: playbook %s falls back to itself", pb->id);
    for (size_t i = 0; i + 1 < ps->n && pb->matchable; i++) {
        const struct churn_playbook *o = &ps->drafts[i].pb;
        if (o->matchable && o->risk_mask == pb->risk_mask && o->value_mask == pb->value_mask &&
            o->cause_mask == pb->cause_mask)
            return fail(ps, d->key_line[KEY_MATCH], CHURN_EINVAL,
                        "duplicate rule: playbook %s has the same match as %s (line %d)", pb->id,
                        o->id, o->line);
    }
    return CHURN_OK;
}

static enum churn_err
begin_section(struct parser *ps, int line, char *text)
{
    size_t n = strlen(text);
    if (text[n - 1] != ']')
        return fail(ps, line, CHURN_EINVAL, "section header without a closing ']'");
    text[n - 1] = '\0';
    char *inner = trim(text + 1);
    if (strncmp(inner, "playbook", 8) != 0 || (inner[8] != ' ' && inner[8] != '\t'))
        return fail(ps, line, CHURN_EINVAL, "unknown section '[%s]' (expected [playbook ID])",
                    inner);
    char *id = trim(inner + 8);
    if (!id_ok(id))
        return fail(ps, line, CHURN_EINVAL,
                    "playbook id '%s' must be 1-63 letters, digits, '-', '_' or '.'", id);
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->drafts[i].pb.id, id) == 0)
            return fail(ps, line, CHURN_EINVAL, "duplicate playbook id '%s' (first on line %d)", id,
                        ps->drafts[i].pb.line);
    if (ps->n == CHURN_PLAYBOOK_MAX_COUNT)
        return fail(ps, line, CHURN_ETOOBIG, "more than %u playbooks", CHURN_PLAYBOOK_MAX_COUNT);
    struct draft *d = &ps->drafts[ps->n++];
    memset(d, 0, sizeof(*d));
    churn__copy(d->pb.id, sizeof(d->pb.id), id);
    d->pb.line = line;
    d->pb.priority = CHURN_PLAYBOOK_DEFAULT_PRIORITY;
    d->pb.fallback = -1;
    return CHURN_OK;
}

static int
cmp_order(const void *a, const void *b)
{
    const struct churn_playbook *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

/* resolve fallback ids to indices in the sorted array and refuse cycles */
static enum churn_err
link_fallbacks(struct parser *ps, struct churn_playbook *items)
{
    for (size_t i = 0; i < ps->n; i++) {
        const struct draft *d = NULL;
        for (size_t j = 0; j < ps->n; j++)
            if (ps->drafts[j].pb.line == items[i].line)
                d = &ps->drafts[j];
        if (!d->fallback_id[0])
            continue;
        size_t t = 0;
        while (t < ps->n && strcmp(items[t].id, d->fallback_id) != 0)
            t++;
        if (t == ps->n)
            return fail(ps, d->key_line[KEY_FALLBACK], CHURN_EINVAL,
                        "fallback: no playbook called '%s'", d->fallback_id);
        items[i].fallback = (int32_t)t;
    }
    /* a chain longer than the number of playbooks must revisit one: a cycle */
    for (size_t i = 0; i < ps->n; i++) {
        int32_t cur = (int32_t)i;
        for (size_t steps = 0; cur >= 0; steps++) {
            if (steps > ps->n) {
                int fb_line = 0;
                for (size_t j = 0; j < ps->n; j++)
                    if (ps->drafts[j].pb.line == items[i].line)
                        fb_line = ps->drafts[j].key_line[KEY_FALLBACK];
                return fail(ps, fb_line, CHURN_EINVAL, "fallback: cycle through playbook %s",
                            items[i].id);
            }
            cur = items[cur].fallback;
        }
    }
    return CHURN_OK;
}

enum churn_err
churn_playbooks_load_text(const char *source, const char *text, size_t len,
                          struct churn_playbooks **out, char *errbuf, size_t errlen)
{
    struct parser ps = {
        .source = source ? source : "playbooks", .errbuf = errbuf, .errlen = errlen};
    enum churn_err err = CHURN_OK;
    struct churn_playbooks *set = NULL;
    char line_buf[CHURN_PLAYBOOK_MAX_LINE + 1];
    if (len > CHURN_PLAYBOOK_MAX_FILE)
        return fail(&ps, 0, CHURN_ETOOBIG, "file is larger than %u bytes", CHURN_PLAYBOOK_MAX_FILE);
    ps.drafts = churn_calloc(CHURN_PLAYBOOK_MAX_COUNT, sizeof(*ps.drafts));
    if (!ps.drafts)
        return CHURN_ENOMEM;

    size_t pos = 0;
    int line = 0;
    while (pos < len) {
        line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        if (n > CHURN_PLAYBOOK_MAX_LINE) {
            err = fail(&ps, line, CHURN_ETOOBIG, "line longer than %u bytes",
                       CHURN_PLAYBOOK_MAX_LINE);
            goto out_drafts;
        }
        if (memchr(text + pos, '\0', n)) {
            err = fail(&ps, line, CHURN_EINVAL, "NUL byte in the line");
            goto out_drafts;
        }
        memcpy(line_buf, text + pos, n);
        line_buf[n] = '\0';
        pos += n + (nl ? 1 : 0);
        char *s = trim(line_buf);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            if (ps.n > 0 && (err = finish_section(&ps, &ps.drafts[ps.n - 1])))
                goto out_drafts;
            if ((err = begin_section(&ps, line, s)))
                goto out_drafts;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            err = fail(&ps, line, CHURN_EINVAL, "expected 'key = value' or '[playbook ID]'");
            goto out_drafts;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        if (ps.n == 0) {
            err = fail(&ps, line, CHURN_EINVAL, "'%s' outside a [playbook ID] section", key);
            goto out_drafts;
        }
        if (!*val) {
            err = fail(&ps, line, CHURN_EINVAL, "%s: empty value", key);
            goto out_drafts;
        }
        if ((err = set_key(&ps, line, &ps.drafts[ps.n - 1], key, val)))
            goto out_drafts;
    }
    if (ps.n == 0) {
        err = fail(&ps, line ? line : 1, CHURN_EINVAL, "no playbooks defined");
        goto out_drafts;
    }
    if ((err = finish_section(&ps, &ps.drafts[ps.n - 1])))
        goto out_drafts;

    set = churn_calloc(1, sizeof(*set));
    if (!set) {
        err = CHURN_ENOMEM;
        goto out_drafts;
    }
    set->items = churn_calloc(ps.n, sizeof(*set->items));
    if (!set->items) {
        err = CHURN_ENOMEM;
        goto out_set;
    }
    for (size_t i = 0; i < ps.n; i++)
        set->items[i] = ps.drafts[i].pb;
    qsort(set->items, ps.n, sizeof(*set->items), cmp_order);
    if ((err = link_fallbacks(&ps, set->items)))
        goto out_set;
    set->count = ps.n;
    atomic_init(&set->refs, 1);
    churn_free(ps.drafts);
    *out = set;
    return CHURN_OK;

out_set:
    churn_free(set->items);
    churn_free(set);
out_drafts:
    churn_free(ps.drafts);
    return err;
}

enum churn_err
churn_playbooks_load_file(const char *path, struct churn_playbooks **out, char *errbuf,
                          size_t errlen)
{
    enum churn_err err;
    FILE *f = fopen(path, "rb");
    if (!f) {
        err = churn_err_from_errno(errno);
        churn_errf(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
        return err;
    }
    char *text = churn_malloc(CHURN_PLAYBOOK_MAX_FILE + 1);
    if (!text) {
        err = CHURN_ENOMEM;
        goto out_file;
    }
    size_t n = fread(text, 1, CHURN_PLAYBOOK_MAX_FILE + 1, f);
    if (ferror(f)) {
        churn_errf(errbuf, errlen, "%s: read error", path);
        err = CHURN_EIO;
        goto out_text;
    }
    err = churn_playbooks_load_text(path, text, n, out, errbuf, errlen);
out_text:
    churn_free(text);
out_file:
    fclose(f);
    return err;
}

struct churn_playbooks *
churn_playbooks_ref(struct churn_playbooks *set)
{
    if (set)
        atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

void
churn_playbooks_unref(struct churn_playbooks *set)
{
    if (!set || atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) != 1)
        return;
    churn_free(set->items);
    churn_free(set);
}

size_t
churn_playbooks_count(const struct churn_playbooks *set)
{
    return set->count;
}

const struct churn_playbook *
churn_playbooks_at(const struct churn_playbooks *set, size_t i)
{
    return i < set->count ? &set->items[i] : NULL;
}

const struct churn_playbook *
churn_playbooks_find(const struct churn_playbooks *set, const char *id)
{
    for (size_t i = 0; i < set->count; i++)
        if (strcmp(set->items[i].id, id) == 0)
            return &set->items[i];
    return NULL;
}

enum churn_err
churn_playbooks_select(const struct churn_playbooks *set, enum churn_tier risk,
                       enum churn_tier value, enum churn_alert_cause cause, unsigned unavailable,
                       const char *customer_id, struct churn_playbook_match *out)
{
    if (risk < CHURN_TIER_LOW || risk > CHURN_TIER_HIGH || value < CHURN_TIER_LOW ||
        value > CHURN_TIER_HIGH || cause < CHURN_CAUSE_TIER_WORSENED ||
        cause > CHURN_CAUSE_CHURN_INTENT || !customer_id)
        return CHURN_EINVAL;
    for (size_t i = 0; i < set->count; i++) {
        const struct churn_playbook *pb = &set->items[i];
        if (!pb->matchable || !(pb->risk_mask & (1u << risk)) ||
            !(pb->value_mask & (1u << value)) || !(pb->cause_mask & (1u << cause)))
            continue;
        const struct churn_playbook *use = pb;
        /* chains are acyclic (checked at load), so this ends */
        while (unavailable & (1u << use->action)) {
            if (use->fallback < 0)
                return CHURN_ENOTFOUND;
            use = &set->items[use->fallback];
        }
        out->matched = pb;
        out->playbook = use;
        out->holdout = churn_holdout_assign(customer_id, use->id, use->holdout);
        return CHURN_OK;
    }
    return CHURN_ENOTFOUND;
}

void
churn_alert_apply_playbook(struct churn_alert *alert, const struct churn_playbook_match *match,
                           int64_t now_ms)
{
    memset(&alert->action, 0, sizeof(alert->action));
    alert->playbook_id[0] = '\0';
    alert->owner[0] = '\0';
    alert->holdout = false;
    alert->due_at_ms = 0;
    if (!match || !match->playbook)
        return;
    const struct churn_playbook *pb = match->playbook;
    churn__copy(alert->playbook_id, sizeof(alert->playbook_id), pb->id);
    alert->holdout = match->holdout;
    if (match->holdout)
        return;
    alert->action.kind = pb->action;
    churn__copy(alert->action.detail, sizeof(alert->action.detail), pb->detail);
    alert->action.coupon_value = pb->action == CHURN_ACTION_COUPON ? pb->coupon_value : 0;
    churn__copy(alert->owner, sizeof(alert->owner), pb->owner);
    alert->due_at_ms = pb->due_in_ms ? now_ms + pb->due_in_ms : 0;
    churn__copy(alert->action.webhook, sizeof(alert->action.webhook), pb->webhook);
}

enum churn_err
churn_playbooks_check_webhooks(const struct churn_playbooks *set, const char *source,
                               const char *const *names, size_t n, char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < set->count; i++) {
        const struct churn_playbook *pb = &set->items[i];
        bool known = !pb->webhook[0];
        for (size_t k = 0; k < n && !known; k++)
            known = strcmp(names[k], pb->webhook) == 0;
        if (known)
            continue;
        size_t off = (size_t)snprintf(
            errbuf, errlen, "%s:%d: webhook: '%s' is not a --webhook destination (%s", source,
            pb->webhook_line, pb->webhook, n ? "configured: " : "none is configured");
        for (size_t k = 0; k < n && off < errlen; k++)
            off += (size_t)snprintf(errbuf + off, errlen - off, "%s%s", k ? ", " : "", names[k]);
        if (off < errlen)
            snprintf(errbuf + off, errlen - off, ")");
        return CHURN_EINVAL;
    }
    return CHURN_OK;
}

/* ---- registry ---- */

#define REGISTRY_MAX_WEBHOOKS 32

struct churn_playbook_registry {
    pthread_mutex_t mu;
    struct churn_playbooks *cur;
    char webhooks[REGISTRY_MAX_WEBHOOKS][CHURN_ALERT_NAME_MAX]; /* what playbooks may name */
    size_t n_webhooks;
};

enum churn_err
churn_playbook_registry_set_webhooks(struct churn_playbook_registry *reg, const char *const *names,
                                     size_t n)
{
    if (n > REGISTRY_MAX_WEBHOOKS)
        return CHURN_ETOOBIG;
    for (size_t i = 0; i < n; i++)
        if (churn__copy(reg->webhooks[i], sizeof(reg->webhooks[i]), names[i]))
            return CHURN_ETOOBIG;
    reg->n_webhooks = n;
    return CHURN_OK;
}

enum churn_err
churn_playbook_registry_create(struct churn_playbook_registry **out)
{
    struct churn_playbook_registry *reg = churn_calloc(1, sizeof(*reg));
    if (!reg)
        return CHURN_ENOMEM;
    pthread_mutex_init(&reg->mu, NULL);
    *out = reg;
    return CHURN_OK;
}

void
churn_playbook_registry_destroy(struct churn_playbook_registry *reg)
{
    if (!reg)
        return;
    churn_playbooks_unref(reg->cur);
    pthread_mutex_destroy(&reg->mu);
    churn_free(reg);
}

struct churn_playbooks *
churn_playbook_registry_get(struct churn_playbook_registry *reg)
{
    pthread_mutex_lock(&reg->mu);
    struct churn_playbooks *set = churn_playbooks_ref(reg->cur);
    pthread_mutex_unlock(&reg->mu);
    return set;
}

void
churn_playbook_registry_install(struct churn_playbook_registry *reg, struct churn_playbooks *set)
{
    churn_playbooks_ref(set);
    pthread_mutex_lock(&reg->mu);
    struct churn_playbooks *old = reg->cur;
    reg->cur = set;
    pthread_mutex_unlock(&reg->mu);
    churn_playbooks_unref(old);
}

enum churn_err
churn_playbook_registry_reload_file(struct churn_playbook_registry *reg, const char *path,
                                    char *errbuf, size_t errlen)
{
    struct churn_playbooks *set;
    enum churn_err err = churn_playbooks_load_file(path, &set, errbuf, errlen);
    if (err)
        return err;
    const char *names[REGISTRY_MAX_WEBHOOKS];
    for (size_t i = 0; i < reg->n_webhooks; i++)
        names[i] = reg->webhooks[i];
    err = churn_playbooks_check_webhooks(set, path, names, reg->n_webhooks, errbuf, errlen);
    if (err) {
        churn_playbooks_unref(set);
        return err;
    }
    churn_playbook_registry_install(reg, set);
    churn_playbooks_unref(set);
    return CHURN_OK;
}
