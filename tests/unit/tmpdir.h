/*
 * tests/unit/tmpdir.h: a private temporary directory for a unit test (a store, model files,
 * a backup) and its removal afterwards, shared by the unit suites so that each does not carry
 * its own copy of the same few lines.
 */
#ifndef CHURN_TEST_TMPDIR_H
#define CHURN_TEST_TMPDIR_H

#include <stddef.h>

/**
 * churn_test_mkdtemp() - a new empty directory /tmp/churn-@name-XXXXXX, its path into @buf
 * (@len bytes); the test fails when it cannot be made.
 */
void churn_test_mkdtemp(char *buf, size_t len, const char *name);

/** churn_test_rm_rf() - remove @path and everything below it (links not followed). */
void churn_test_rm_rf(const char *path);

#endif
