/*
 * churn/share.h - where churnd's installed data lives (meson install puts the default
 * playbooks, lexicons and a demo model under <prefix>/<datadir>/churnd, CHURN_SHARE_DIR) and
 * the fallback to the source tree for a churnd run from its build directory (docs/DEPLOY.md).
 */
#ifndef CHURN_SHARE_H
#define CHURN_SHARE_H

/**
 * churn_share_choose() - @installed when that file is readable or when this executable does
 * not run from the build tree (CHURN_BUILD_ROOT), so that an installed churnd names the
 * installed path in its errors; otherwise @in_source. Both are borrowed (string literals).
 */
const char *churn_share_choose(const char *installed, const char *in_source);

#endif
