/*
 * tests/unit/store_fixture.h: small steps on a unit test's store that several suites take
 * (a customer made by one login, the digest of its record), so that each suite does not carry
 * its own copy.
 */
#ifndef CHURN_TEST_STORE_FIXTURE_H
#define CHURN_TEST_STORE_FIXTURE_H

#include <stdint.h>

#include "churn/store.h"

/** churn_test_login() - customer @cid logs in a second ago (event id @eid); asserts it is
 * applied. */
void churn_test_login(struct churn_store *st, const char *cid, const char *eid);

/** churn_test_digest() - the digest of @cid's record as stored now; 0 when there is none. */
uint64_t churn_test_digest(struct churn_store *st, const char *cid);

#endif
