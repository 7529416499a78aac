/*
 * churn/utf8.h - strict UTF-8 validation, one implementation for the whole project.
 */
#ifndef CHURN_UTF8_H
#define CHURN_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * churn_utf8_check() - the offset of the first byte of @s (@len bytes) that is not part of
 * valid UTF-8 (overlong forms, surrogates and code points past U+10FFFF are invalid), or
 * @len when all of it is valid. NUL bytes are valid UTF-8.
 */
size_t churn_utf8_check(const char *s, size_t len);

/** churn_utf8_valid() - true when @s is valid UTF-8; otherwise *@bad_at (may be NULL) is set. */
bool churn_utf8_valid(const char *s, size_t len, size_t *bad_at);

#endif
