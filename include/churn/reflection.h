/*
 * churn/reflection.h - an index over a serialized FileDescriptorSet, for server reflection.
 *
 * The set is the one protoc writes with --include_imports (embedded in churnd at build
 * time). The index answers which file has a given name or declares a given fully-qualified
 * symbol (package, message, nested message, field, enum, enum value, service, method), and
 * the transitive closure of a file's imports. File bytes point into the set, which must
 * outlive the index.
 */
#ifndef CHURN_REFLECTION_H
#define CHURN_REFLECTION_H

#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"

struct churn_reflection;

/**
 * churn_reflection_open() - index @set (borrowed, @len bytes). A malformed set is
 * CHURN_ECORRUPT with a message in @errbuf.
 */
enum churn_err churn_reflection_open(const uint8_t *set, size_t len, struct churn_reflection **out,
                                     char *errbuf, size_t errlen);

/** churn_reflection_close() - free the index. NULL is a no-op. */
void churn_reflection_close(struct churn_reflection *r);

/** churn_reflection_file_count() - number of files in the set. */
size_t churn_reflection_file_count(const struct churn_reflection *r);

/** churn_reflection_find_file() - index of the file named @name, or -1. */
int churn_reflection_find_file(const struct churn_reflection *r, const char *name);

/** churn_reflection_find_symbol() - index of the file declaring @symbol, or -1. */
int churn_reflection_find_symbol(const struct churn_reflection *r, const char *symbol);

/** churn_reflection_file_name() - the name of file @idx (valid while @r lives). */
const char *churn_reflection_file_name(const struct churn_reflection *r, int idx);

/** churn_reflection_file_bytes() - the serialized FileDescriptorProto of file @idx. */
void churn_reflection_file_bytes(const struct churn_reflection *r, int idx, const uint8_t **data,
                                 size_t *len);

/**
 * churn_reflection_closure() - file @idx followed by every file it imports, directly or
 * not, each once. Writes up to @cap indexes to @out and returns how many there are.
 */
size_t churn_reflection_closure(const struct churn_reflection *r, int idx, int *out, size_t cap);

#endif
