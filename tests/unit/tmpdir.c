/*
 * tests/unit/tmpdir.c: the unit suites' temporary directories (tmpdir.h): made with mkdtemp,
 * removed depth first with nftw without following links.
 */
#define _XOPEN_SOURCE 700 /* nftw, mkdtemp */
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

void
churn_test_mkdtemp(char *buf, size_t len, const char *name)
{
    int n = snprintf(buf, len, "/tmp/churn-%s-XXXXXX", name);
    cr_assert(n > 0 && (size_t)n < len, "temporary directory name for %s: too long", name);
    cr_assert_not_null(mkdtemp(buf), "mkdtemp %s", buf);
}

static int
remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

void
churn_test_rm_rf(const char *path)
{
    nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}
