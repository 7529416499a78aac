/*
 * page_token.c - page tokens (include/churn/page_token.h): written with one printf format per
 * kind, and read back by decoding the numbers and formatting them again, so that only the
 * exact text the server writes is accepted (issue 13: tokens are fuzzed by
 * tests/fuzz/pagetoken).
 */
#include "churn/page_token.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t
churn_page_token_format(const struct churn_page_token *t, char *out, size_t cap)
{
    int n;
    switch (t->kind) {
    case CHURN_PAGE_PRIORITY:
        if (!isfinite(t->priority))
            return 0;
        n = snprintf(out, cap, "p:%.17g:%" PRIu64, t->priority, t->position);
        break;
    case CHURN_PAGE_NEWEST:
    case CHURN_PAGE_OLDEST:
        n = snprintf(out, cap, "%c:%" PRIu64, (char)t->kind, t->position);
        break;
    case CHURN_PAGE_OFFSET:
        n = snprintf(out, cap, "%" PRIu64, t->position);
        break;
    default:
        return 0;
    }
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* The values of @tok read loosely (strtod, strtoull); the canonical check comes after. */
static int
read_values(const char *tok, enum churn_page_kind kind, struct churn_page_token *t)
{
    const char *p = tok;
    char *end = NULL;
    if (kind != CHURN_PAGE_OFFSET) {
        if (p[0] != (char)kind || p[1] != ':')
            return -1;
        p += 2;
    }
    if (kind == CHURN_PAGE_PRIORITY) {
        t->priority = strtod(p, &end);
        if (end == p || *end != ':')
            return 0;
        p = end + 1;
    }
    if (*p < '0' || *p > '9')
        return 0;
    t->position = strtoull(p, &end, 10);
    return *end == '\0';
}

/* Whether @tok has the shape of a token of some other ListAlerts kind than @kind. */
static bool
other_kind(const char *tok, enum churn_page_kind kind)
{
    static const enum churn_page_kind kinds[] = {CHURN_PAGE_PRIORITY, CHURN_PAGE_NEWEST,
                                                 CHURN_PAGE_OLDEST};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (kinds[i] != kind && tok[0] == (char)kinds[i] && tok[1] == ':')
            return true;
    return false;
}

enum churn_err
churn_page_token_parse(const char *tok, enum churn_page_kind kind, struct churn_page_token *t,
                       const char **why)
{
    *why = "malformed";
    *t = (struct churn_page_token){.kind = kind};
    if (strnlen(tok, CHURN_PAGE_TOKEN_MAX) == CHURN_PAGE_TOKEN_MAX)
        return CHURN_EINVAL;
    int r = read_values(tok, kind, t);
    if (r < 0 && kind != CHURN_PAGE_OFFSET && other_kind(tok, kind))
        *why = "issued for another order";
    if (r <= 0)
        return CHURN_EINVAL;
    char again[CHURN_PAGE_TOKEN_MAX];
    if (churn_page_token_format(t, again, sizeof(again)) == 0 || strcmp(again, tok) != 0)
        return CHURN_EINVAL;
    return CHURN_OK;
}
