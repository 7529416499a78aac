/*
 * delivery_config.c - the delivery destinations from churnd's repeatable options, checked
 * once at start-up so that a typo is a refusal to start naming the option and destination,
 * never a destination that silently receives nothing. Each list holds one NAME=VALUE per
 * line: --webhook NAME=URL, --webhook-secret NAME=KEY, --webhook-filter NAME=FILTER (the
 * alert filter syntax of WatchAlerts' text form), --webhook-format NAME=json|slack and
 * --email NAME=ADDR[,ADDR...]. The filter option applies to e-mail destinations too.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/delivery.h"
#include "delivery_internal.h"

void
churn_delivery_config_init(struct churn_delivery_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->timeout_ms = 10000;
    cfg->pause_after_ms = 300000;
    cfg->backoff_min_ms = 250;
    cfg->backoff_max_ms = 60000;
}

void
churn_delivery_config_fini(struct churn_delivery_config *cfg)
{
    for (size_t i = 0; i < cfg->n_dests; i++) {
        free(cfg->dests[i].url);
        free(cfg->dests[i].secret);
        free(cfg->dests[i].to);
    }
    cfg->n_dests = 0;
    free(cfg->smtp_url);
    free(cfg->smtp_from);
    cfg->smtp_url = cfg->smtp_from = NULL;
}

/* One NAME=VALUE line, split in place; @line is a writable copy. */
struct kv {
    const char *name;
    const char *value;
};

static enum churn_err
split_line(char *line, const char *option, struct kv *out, char *err, size_t errlen)
{
    char *eq = strchr(line, '=');
    if (!eq || eq == line || eq[1] == '\0') {
        snprintf(err, errlen, "--%s '%s': expected NAME=VALUE", option, line);
        return CHURN_EINVAL;
    }
    *eq = '\0';
    size_t n = strlen(line);
    if (n >= CHURN_DELIVERY_NAME_MAX) {
        snprintf(err, errlen, "--%s: destination name '%s' is longer than %d bytes", option, line,
                 CHURN_DELIVERY_NAME_MAX - 1);
        return CHURN_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)line[i];
        if (!isalnum(c) && c != '-' && c != '_') {
            snprintf(err, errlen,
                     "--%s: destination name '%s' may hold only letters, digits, '-' and '_'",
                     option, line);
            return CHURN_EINVAL;
        }
    }
    out->name = line;
    out->value = eq + 1;
    return CHURN_OK;
}

typedef enum churn_err (*line_fn)(struct churn_delivery_config *cfg, const char *option,
                                  const struct kv *kv, char *err, size_t errlen);

/* Call @fn for every line of @list (NULL or "": none). */
static enum churn_err
each_line(struct churn_delivery_config *cfg, const char *list, const char *option, line_fn fn,
          char *err, size_t errlen)
{
    if (!list || !*list)
        return CHURN_OK;
    char *copy = strdup(list);
    if (!copy)
        return CHURN_ENOMEM;
    enum churn_err rc = CHURN_OK;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line && rc == CHURN_OK;
         line = strtok_r(NULL, "\n", &save)) {
        struct kv kv;
        rc = split_line(line, option, &kv, err, errlen);
        if (rc == CHURN_OK)
            rc = fn(cfg, option, &kv, err, errlen);
    }
    free(copy);
    return rc;
}

static struct churn_delivery_dest *
find_dest(struct churn_delivery_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_dests; i++)
        if (strcmp(cfg->dests[i].name, name) == 0)
            return &cfg->dests[i];
    return NULL;
}

static enum churn_err
new_dest(struct churn_delivery_config *cfg, const char *option, const char *name,
         enum churn_delivery_kind kind, struct churn_delivery_dest **out, char *err, size_t errlen)
{
    if (find_dest(cfg, name)) {
        snprintf(err, errlen, "--%s: destination '%s' is defined twice", option, name);
        return CHURN_EINVAL;
    }
    if (cfg->n_dests == CHURN_DELIVERY_MAX_DESTS) {
        snprintf(err, errlen, "--%s '%s': at most %d destinations", option, name,
                 CHURN_DELIVERY_MAX_DESTS);
        return CHURN_EINVAL;
    }
    struct churn_delivery_dest *d = &cfg->dests[cfg->n_dests++];
    memset(d, 0, sizeof(*d));
    snprintf(d->name, sizeof(d->name), "%s", name);
    d->kind = kind;
    d->format = CHURN_DELIVERY_JSON;
    *out = d;
    return CHURN_OK;
}

static enum churn_err
add_webhook(struct churn_delivery_config *cfg, const char *option, const struct kv *kv, char *err,
            size_t errlen)
{
    char why[256];
    if (churn__net_url_check(kv->value, (const char(*)[96])cfg->forbidden_hosts, cfg->n_forbidden,
                             why, sizeof(why)) != CHURN_OK) {
        snprintf(err, errlen, "--%s %s: %s", option, kv->name, why);
        return CHURN_EINVAL;
    }
    struct churn_delivery_dest *d;
    enum churn_err rc = new_dest(cfg, option, kv->name, CHURN_DELIVERY_WEBHOOK, &d, err, errlen);
    if (rc != CHURN_OK)
        return rc;
    d->url = strdup(kv->value);
    return d->url ? CHURN_OK : CHURN_ENOMEM;
}

/* local@domain: printable ASCII without blanks, quotes, angle brackets or a second '@'. */
static bool
is_address(const char *a, size_t n)
{
    const char *at = memchr(a, '@', n);
    if (!at || at == a || at == a + n - 1 || n > 254 || memchr(at + 1, '@', n - (at - a) - 1))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c <= ' ' || c >= 0x7f || strchr("<>()[]\\,;:\"", c))
            return false;
    }
    return strchr(at + 1, '.') != NULL || strncmp(at + 1, "localhost", n - (at - a) - 1) == 0;
}

static enum churn_err
add_email(struct churn_delivery_config *cfg, const char *option, const struct kv *kv, char *err,
          size_t errlen)
{
    if (!cfg->smtp_url || !*cfg->smtp_url) {
        snprintf(err, errlen, "--%s %s: e-mail needs --smtp-url (the relay to send through)",
                 option, kv->name);
        return CHURN_EINVAL;
    }
    for (const char *p = kv->value;; p++) {
        size_t n = strcspn(p, ",");
        if (!is_address(p, n)) {
            snprintf(err, errlen, "--%s %s: '%.*s' is not an e-mail address", option, kv->name,
                     (int)(n > 200 ? 200 : n), p);
            return CHURN_EINVAL;
        }
        p += n;
        if (*p == '\0')
            break;
    }
    struct churn_delivery_dest *d;
    enum churn_err rc = new_dest(cfg, option, kv->name, CHURN_DELIVERY_EMAIL, &d, err, errlen);
    if (rc != CHURN_OK)
        return rc;
    d->to = strdup(kv->value);
    return d->to ? CHURN_OK : CHURN_ENOMEM;
}

static enum churn_err
existing(struct churn_delivery_config *cfg, const char *option, const struct kv *kv,
         bool webhook_only, struct churn_delivery_dest **out, char *err, size_t errlen)
{
    *out = find_dest(cfg, kv->name);
    if (!*out) {
        snprintf(err, errlen, "--%s %s: no --webhook%s of that name", option, kv->name,
                 webhook_only ? "" : " or --email");
        return CHURN_EINVAL;
    }
    if (webhook_only && (*out)->kind != CHURN_DELIVERY_WEBHOOK) {
        snprintf(err, errlen, "--%s %s: applies to webhooks only", option, kv->name);
        return CHURN_EINVAL;
    }
    return CHURN_OK;
}

static enum churn_err
set_secret(struct churn_delivery_config *cfg, const char *option, const struct kv *kv, char *err,
           size_t errlen)
{
    struct churn_delivery_dest *d;
    enum churn_err rc = existing(cfg, option, kv, true, &d, err, errlen);
    if (rc != CHURN_OK)
        return rc;
    if (d->secret || strlen(kv->value) < 16) {
        snprintf(err, errlen, "--%s %s: %s", option, kv->name,
                 d->secret ? "given twice" : "a secret shorter than 16 bytes");
        return CHURN_EINVAL;
    }
    d->secret = strdup(kv->value);
    return d->secret ? CHURN_OK : CHURN_ENOMEM;
}

static enum churn_err
set_filter(struct churn_delivery_config *cfg, const char *option, const struct kv *kv, char *err,
           size_t errlen)
{
    struct churn_delivery_dest *d;
    enum churn_err rc = existing(cfg, option, kv, false, &d, err, errlen);
    if (rc != CHURN_OK)
        return rc;
    char why[256];
    if (churn_alert_filter_parse(kv->value, &d->filter, why, sizeof(why)) != CHURN_OK) {
        snprintf(err, errlen, "--%s %s: %s", option, kv->name, why);
        return CHURN_EINVAL;
    }
    return CHURN_OK;
}

static enum churn_err
set_format(struct churn_delivery_config *cfg, const char *option, const struct kv *kv, char *err,
           size_t errlen)
{
    struct churn_delivery_dest *d;
    enum churn_err rc = existing(cfg, option, kv, true, &d, err, errlen);
    if (rc != CHURN_OK)
        return rc;
    if (strcmp(kv->value, "json") == 0) {
        d->format = CHURN_DELIVERY_JSON;
    } else if (strcmp(kv->value, "slack") == 0) {
        d->format = CHURN_DELIVERY_SLACK;
    } else {
        snprintf(err, errlen, "--%s %s: unknown format '%s' (json or slack)", option, kv->name,
                 kv->value);
        return CHURN_EINVAL;
    }
    return CHURN_OK;
}

enum churn_err
churn_delivery_config_parse(struct churn_delivery_config *cfg,
                            const struct churn_delivery_lists *lists, char *err, size_t errlen)
{
    enum churn_err rc = each_line(cfg, lists->webhooks, "webhook", add_webhook, err, errlen);
    if (rc == CHURN_OK)
        rc = each_line(cfg, lists->emails, "email", add_email, err, errlen);
    if (rc == CHURN_OK)
        rc = each_line(cfg, lists->secrets, "webhook-secret", set_secret, err, errlen);
    if (rc == CHURN_OK)
        rc = each_line(cfg, lists->filters, "webhook-filter", set_filter, err, errlen);
    if (rc == CHURN_OK)
        rc = each_line(cfg, lists->formats, "webhook-format", set_format, err, errlen);
    if (rc == CHURN_ENOMEM)
        snprintf(err, errlen, "out of memory reading the delivery options");
    return rc;
}
