/*
 * share.c - the choice between an installed data file (under CHURN_SHARE_DIR) and the source
 * tree's copy: the source tree is used only by an executable that runs from the build
 * directory and only while nothing is installed, so an installed churnd never reads a
 * source tree that happens to be on the machine.
 */
#include "churn/share.h"

#include <limits.h>
#include <string.h>
#include <unistd.h>

#ifndef CHURN_BUILD_ROOT
#define CHURN_BUILD_ROOT ""
#endif

static int
running_from_build(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    size_t root = strlen(CHURN_BUILD_ROOT);
    if (n <= 0 || root == 0)
        return 0;
    exe[n] = '\0';
    return strncmp(exe, CHURN_BUILD_ROOT, root) == 0 && exe[root] == '/';
}

const char *
churn_share_choose(const char *installed, const char *in_source)
{
    if (access(installed, R_OK) == 0 || !running_from_build())
        return installed;
    return in_source;
}
