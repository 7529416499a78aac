/*
 * churn/ident.h - the one rule for every identifier and string that arrives from outside
 * (the wire, an import file): identifiers are 1..CHURN_ID_MAX bytes of valid UTF-8 without
 * control characters; free text is valid UTF-8 without NUL bytes. The checks take an explicit
 * length, so a NUL byte inside a string is seen and refused rather than silently cutting the
 * string short ("victim\0attacker" must never become "victim"). Every message names the
 * field and the byte offset of what is wrong.
 */
#ifndef CHURN_IDENT_H
#define CHURN_IDENT_H

#include <stdbool.h>
#include <stddef.h>

#include "churn/error.h"

/* Longest customer id, event id, order id, conversation id (bytes, UTF-8). */
#define CHURN_ID_MAX 128

/**
 * churn_ident_check() - check identifier @s of @len bytes (it need not be NUL-terminated).
 * @field: the field's name, used in @reason ("customer_id").
 * @reason: OUT: on failure "customer_id: NUL byte at byte 6"; may be NULL.
 * @reason_len: capacity of @reason.
 *
 * Return: CHURN_OK; CHURN_EINVAL when @len is 0, @s is not valid UTF-8, or it holds a control
 * character (U+0000..U+001F, U+007F..U+009F, NUL included); CHURN_ETOOBIG over CHURN_ID_MAX
 * (the API answers both INVALID_ARGUMENT: common.proto). Pure; never allocates.
 */
enum churn_err churn_ident_check(const char *s, size_t len, const char *field, char *reason,
                                 size_t reason_len);

/**
 * churn_ident_check_optional() - churn_ident_check(), except that an empty @s is accepted
 * (an id that is not set).
 */
enum churn_err churn_ident_check_optional(const char *s, size_t len, const char *field,
                                          char *reason, size_t reason_len);

/**
 * churn_ident_check_text() - check free text @s of @len bytes: valid UTF-8, no NUL byte, at
 * most @max bytes (0: no limit). Other control characters (newlines, tabs) are text.
 *
 * Return: CHURN_OK; CHURN_EINVAL for invalid UTF-8 or a NUL byte; CHURN_ETOOBIG over @max.
 */
enum churn_err churn_ident_check_text(const char *s, size_t len, size_t max, const char *field,
                                      char *reason, size_t reason_len);

/**
 * churn_ident_control_at() - the offset of the first control character (C0, DEL or C1) in the
 * valid UTF-8 @s of @len bytes, or @len when there is none.
 */
size_t churn_ident_control_at(const char *s, size_t len);

/**
 * churn_ident_field_is_id() - whether a message field named @name holds identifiers under
 * the API's naming convention: its name ends in "_id" or "_ids" (customer_id, event_id,
 * conversation_id, order_id, customer_ids, ...). The transport applies churn_ident_check()
 * to every such field of every request.
 */
bool churn_ident_field_is_id(const char *name);

#endif
