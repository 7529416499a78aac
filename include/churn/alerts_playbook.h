/*
 * churn/alerts_playbook.h - playbooks: which retention action an alert suggests, chosen by
 * segment (risk tier, value tier) and cause, from a text file (docs/PLAYBOOKS.md) validated
 * at load with "file:line: reason" errors. A loaded set is immutable and reference-counted:
 * any number of threads may read it without locks, and a registry swaps in a newly loaded
 * set while readers finish on the one they hold. A reload that fails leaves the old set in
 * force.
 */
#ifndef CHURN_ALERTS_PLAYBOOK_H
#define CHURN_ALERTS_PLAYBOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/alerts.h"
#include "churn/error.h"

#define CHURN_PLAYBOOK_MAX_LINE         1024u      /* bytes of one line, without the newline */
#define CHURN_PLAYBOOK_MAX_COUNT        256u       /* playbooks in one file */
#define CHURN_PLAYBOOK_MAX_FILE         (1u << 20) /* bytes of a playbook file */
#define CHURN_PLAYBOOK_MAX_HOLDOUT      0.9
#define CHURN_PLAYBOOK_DEFAULT_PRIORITY 100

/*
 * struct churn_playbook - one rule, read-only, valid while the set holding it is referenced.
 * The masks have bit (1u << tier) or (1u << cause) set for each accepted value; "any" sets
 * them all. A playbook with no match line (matchable == false) is reached only as another
 * playbook's fallback.
 */
struct churn_playbook {
    char id[CHURN_ALERT_NAME_MAX];
    bool matchable;
    unsigned risk_mask;
    unsigned value_mask;
    unsigned cause_mask;
    enum churn_action_kind action;
    char detail[CHURN_ALERT_TEXT_MAX];
    double coupon_value;
    char owner[CHURN_ALERT_NAME_MAX];
    int64_t due_in_ms; /* 0: no due date */
    double holdout;    /* share of customers held out as control, [0, 0.9] */
    int32_t priority;  /* lower is tried first; ties in file order */
    int32_t line;      /* where the [playbook] header is */
    int32_t fallback;  /* index in the set of the fallback playbook, -1 for none */
    /* issue 15: the --webhook destination called when this playbook's alert is raised ("":
     * none); where it is written in the file (0: not set) */
    char webhook[CHURN_ALERT_NAME_MAX];
    int32_t webhook_line;
};

struct churn_playbooks;

/**
 * churn_playbooks_load_text() - parse and validate playbook text @text (@len bytes, need not
 * be NUL-terminated) named @source in messages. On success *@out is a new set with one
 * reference, owned by the caller (churn_playbooks_unref()). On error *@out is untouched and
 * @errbuf holds "source:line: reason" for: lines over CHURN_PLAYBOOK_MAX_LINE, NUL bytes,
 * text outside a section, unknown section kinds, bad or duplicate playbook ids, unknown or
 * repeated keys, unknown actions, tiers or causes, bad numbers or ranges, a coupon without
 * a value (or a value without a coupon), a missing action, duplicate rules (the same match
 * as an earlier playbook), unknown fallback targets, fallback cycles, more than
 * CHURN_PLAYBOOK_MAX_COUNT playbooks, or none at all. Errors: CHURN_EINVAL, CHURN_ETOOBIG
 * (file or line or count over a cap), CHURN_ENOMEM.
 */
enum churn_err churn_playbooks_load_text(const char *source, const char *text, size_t len,
                                         struct churn_playbooks **out, char *errbuf, size_t errlen);

/**
 * churn_playbooks_load_file() - read @path (at most CHURN_PLAYBOOK_MAX_FILE bytes) and load
 * it as above, naming it @path in messages. CHURN_ENOTFOUND / CHURN_EIO when it cannot be
 * read.
 */
enum churn_err churn_playbooks_load_file(const char *path, struct churn_playbooks **out,
                                         char *errbuf, size_t errlen);

/** churn_playbooks_ref() - take one more reference to @set (thread-safe); returns @set. */
struct churn_playbooks *churn_playbooks_ref(struct churn_playbooks *set);

/** churn_playbooks_unref() - drop a reference; the last one frees the set. NULL is a no-op. */
void churn_playbooks_unref(struct churn_playbooks *set);

/** churn_playbooks_count() - number of playbooks in @set. */
size_t churn_playbooks_count(const struct churn_playbooks *set);

/**
 * churn_playbooks_at() - playbook @i in evaluation order (priority, then file order), or
 * NULL past the end. Valid while @set is referenced.
 */
const struct churn_playbook *churn_playbooks_at(const struct churn_playbooks *set, size_t i);

/** churn_playbooks_find() - the playbook called @id, or NULL. Valid while @set is referenced. */
const struct churn_playbook *churn_playbooks_find(const struct churn_playbooks *set,
                                                  const char *id);

/*
 * struct churn_playbook_match - the outcome of a selection. @matched is the first playbook
 * whose match accepted the alert; @playbook is the one that decides after following
 * fallbacks (equal to @matched when its action was available); @holdout is this customer's
 * control-group assignment for @playbook. Pointers valid while the set is referenced.
 */
struct churn_playbook_match {
    const struct churn_playbook *matched;
    const struct churn_playbook *playbook;
    bool holdout;
};

/**
 * churn_playbooks_select() - the playbook for an alert with @risk, @value and @cause for
 * @customer_id. @unavailable is a bit set of (1u << enum churn_action_kind) the caller cannot
 * carry out for this customer (no consultation slots, opted out of e-mail, ...): a playbook
 * whose action is unavailable hands over to its fallback. Returns CHURN_ENOTFOUND when no
 * playbook matches or the fallback chain ends at an unavailable action (@out untouched).
 */
enum churn_err churn_playbooks_select(const struct churn_playbooks *set, enum churn_tier risk,
                                      enum churn_tier value, enum churn_alert_cause cause,
                                      unsigned unavailable, const char *customer_id,
                                      struct churn_playbook_match *out);

/**
 * churn_alert_apply_playbook() - record @match in @alert: playbook id, holdout flag, owner,
 * due date (@now_ms + due_in) and, unless held out, the action (kind, detail, coupon value).
 * A control-group alert gets CHURN_ACTION_NONE and no owner or due date, so nobody acts on
 * it. @match NULL clears all of those fields.
 */
void churn_alert_apply_playbook(struct churn_alert *alert, const struct churn_playbook_match *match,
                                int64_t now_ms);

/*
 * struct churn_playbook_registry - the set in force, swapped atomically on reload.
 */
struct churn_playbook_registry;

/** churn_playbook_registry_create() - an empty registry (no set in force). CHURN_ENOMEM. */
enum churn_err churn_playbook_registry_create(struct churn_playbook_registry **out);

/** churn_playbook_registry_destroy() - drop the registry's reference to its set and free it. */
void churn_playbook_registry_destroy(struct churn_playbook_registry *reg);

/**
 * churn_playbook_registry_get() - a new reference to the set in force (caller unrefs), or
 * NULL when none was ever installed. Thread-safe.
 */
struct churn_playbooks *churn_playbook_registry_get(struct churn_playbook_registry *reg);

/**
 * churn_playbook_registry_install() - make @set the set in force (the registry takes its own
 * reference; the caller keeps theirs). The previous set is released once its last reader
 * lets go.
 */
void churn_playbook_registry_install(struct churn_playbook_registry *reg,
                                     struct churn_playbooks *set);

/**
 * churn_playbooks_check_webhooks() - every playbook of @set that names a webhook names one of
 * the @n destinations @names; otherwise CHURN_EINVAL and @errbuf says "@source:line: webhook:
 * 'X' is not a --webhook destination (configured: A, B)".
 */
enum churn_err churn_playbooks_check_webhooks(const struct churn_playbooks *set, const char *source,
                                              const char *const *names, size_t n, char *errbuf,
                                              size_t errlen);

/**
 * churn_playbook_registry_set_webhooks() - the webhook destinations a playbook may name
 * (@names copied; at most 32), checked by every later reload. Before the first reload.
 */
enum churn_err churn_playbook_registry_set_webhooks(struct churn_playbook_registry *reg,
                                                    const char *const *names, size_t n);

/**
 * churn_playbook_registry_reload_file() - load @path, check its webhooks against the names of
 * churn_playbook_registry_set_webhooks(), and install it. On any error the set in force is
 * unchanged and @errbuf says why ("file:line: reason").
 */
enum churn_err churn_playbook_registry_reload_file(struct churn_playbook_registry *reg,
                                                   const char *path, char *errbuf, size_t errlen);

#endif
