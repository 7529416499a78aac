/*
 * fuzz_pagetoken.c - libFuzzer target for the page tokens (src/common/page_token.c) that
 * ListAlerts and ListAtRiskCustomers decode from the wire. The first byte picks the kind the
 * handler expects and the rest is the token: a token is either refused or accepted only in the
 * exact text the server would write for the values it decodes to (formatting them again gives
 * the input back byte for byte, with a finite priority). When the input is long enough, its
 * first bytes are also taken as values: the token written for them must decode to them
 * exactly (issue 13: fuzzing that reaches every token the server decodes).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "churn/page_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const enum churn_page_kind kinds[] = {CHURN_PAGE_PRIORITY, CHURN_PAGE_NEWEST,
                                             CHURN_PAGE_OLDEST, CHURN_PAGE_OFFSET};

/* The input read as a token of kind @kind: refused, or canonical. */
static void
check_parse(enum churn_page_kind kind, const uint8_t *data, size_t size)
{
    static char tok[4096];
    if (size >= sizeof(tok))
        size = sizeof(tok) - 1;
    memcpy(tok, data, size);
    tok[size] = '\0'; /* the wire check refuses NUL bytes before a handler runs */
    struct churn_page_token t;
    const char *why = NULL;
    if (churn_page_token_parse(tok, kind, &t, &why) != CHURN_OK) {
        if (!why || !*why)
            __builtin_trap();
        return;
    }
    char again[CHURN_PAGE_TOKEN_MAX];
    if (t.kind != kind || (kind == CHURN_PAGE_PRIORITY && !isfinite(t.priority)) ||
        churn_page_token_format(&t, again, sizeof(again)) == 0 || strcmp(again, tok) != 0)
        __builtin_trap();
}

/* The first 16 bytes as a priority and a position: written, then read back the same. */
static void
check_round_trip(enum churn_page_kind kind, const uint8_t *data)
{
    struct churn_page_token t = {.kind = kind}, back;
    memcpy(&t.priority, data, sizeof(t.priority));
    memcpy(&t.position, data + sizeof(t.priority), sizeof(t.position));
    if (kind != CHURN_PAGE_PRIORITY)
        t.priority = 0;
    char tok[CHURN_PAGE_TOKEN_MAX];
    if (churn_page_token_format(&t, tok, sizeof(tok)) == 0) {
        if (isfinite(t.priority))
            __builtin_trap(); /* only a non-finite priority has no token */
        return;
    }
    const char *why;
    if (churn_page_token_parse(tok, kind, &back, &why) != CHURN_OK || back.position != t.position ||
        memcmp(&back.priority, &t.priority, sizeof(t.priority)) != 0)
        __builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum churn_page_kind kind = kinds[data[0] % 4]; /* 'p', 'n', 'o', 'd' name their own kind */
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (data[0] == (uint8_t)kinds[i])
            kind = kinds[i];
    check_parse(kind, data + 1, size - 1);
    if (size >= 17)
        check_round_trip(kind, data + 1);
    return 0;
}
