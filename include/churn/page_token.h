/*
 * churn/page_token.h - the page tokens the API hands out and takes back (ListAlerts'
 * "p:PRIORITY:SEQ", "n:SEQ", "o:ID" and ListAtRiskCustomers' decimal offset). A token is
 * accepted only in the exact form the server writes (the canonical text of the values it
 * decodes to), so a hand-made or altered token is refused rather than read loosely: no
 * leading zeros, signs, spaces, hexadecimal floats, overflowing numbers or trailing bytes.
 * Pure text functions; the handlers map a refusal to INVALID_ARGUMENT naming page_token.
 */
#ifndef CHURN_PAGE_TOKEN_H
#define CHURN_PAGE_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"

/* Longest token written (kind, two separators, a %.17g double and a 20-digit number). */
#define CHURN_PAGE_TOKEN_MAX 64

/* The kinds of token: ListAlerts by priority, newest, oldest; a decimal offset. */
enum churn_page_kind {
    CHURN_PAGE_PRIORITY = 'p',
    CHURN_PAGE_NEWEST = 'n',
    CHURN_PAGE_OLDEST = 'o',
    CHURN_PAGE_OFFSET = 'd',
};

/* A decoded token: @priority only for CHURN_PAGE_PRIORITY (finite). */
struct churn_page_token {
    enum churn_page_kind kind;
    double priority;
    uint64_t position;
};

/**
 * churn_page_token_format() - write @t's token into @out (@cap bytes, NUL-terminated).
 *
 * Return: the token's length; 0 when @cap is too small or @t's priority is not finite.
 */
size_t churn_page_token_format(const struct churn_page_token *t, char *out, size_t cap);

/**
 * churn_page_token_parse() - decode @tok (NUL-terminated) as a token of kind @kind into @t.
 * @why: OUT on failure: "issued for another order" (a well-formed token of another kind) or
 *       "malformed" (anything that churn_page_token_format() would not have written).
 *
 * Return: CHURN_OK; CHURN_EINVAL. Pure: formatting @t again gives back @tok byte for byte.
 */
enum churn_err churn_page_token_parse(const char *tok, enum churn_page_kind kind,
                                      struct churn_page_token *t, const char **why);

#endif
