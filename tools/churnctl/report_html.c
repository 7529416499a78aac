/*
 * report_html.c - `churnctl report html --store DIR --out FILE [--from DATE] [--to DATE]
 * [--title TEXT] [--top N]`: the retention report of a store (churn_report_render(), the same
 * page the dashboard's /report serves) written to FILE through a temporary file renamed into
 * place, so a reader never sees half a report. The store is opened read-only; churnd may keep
 * running. A bad date or option exits 2 naming it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "churn/buf.h"
#include "churn/clock.h"
#include "churn/report.h"
#include "churn/store.h"
#include "ctl.h"

#define PAGE_CAP (64u << 20) /* the largest report written */

#define HTML_USAGE                                                                                 \
    "usage: churnctl report html --store DIR --out FILE [--from DATE] [--to DATE]\n"               \
    "                            [--title TEXT] [--top N]\n"                                       \
    "  --from, --to   the period, UTC dates (YYYY-MM-DD) or ISO-8601 times, inclusive\n"           \
    "                 (default: the 365 days up to today)\n"                                       \
    "  --title TEXT   the page's title\n"                                                          \
    "  --top N        at-risk customers listed, 0..1000 (default 20)\n"

static int
parse_top(const char *v, size_t *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < 0 || n > CHURN_REPORT_TOP_MAX) {
        fprintf(stderr, "churnctl report html: --top: '%s' is not a number in 0..%d\n", v,
                CHURN_REPORT_TOP_MAX);
        return EXIT_USAGE;
    }
    *out = (size_t)n;
    return 0;
}

static int
parse_args(int argc, char **argv, struct churn_report_options *o, const char **store,
           const char **out)
{
    bool matched;
    for (int i = 0; i < argc; i++) {
        int rc =
            churnctl_report_period_args("html", argc, argv, &i, &o->from_day, &o->to_day, &matched);
        if (rc)
            return rc;
        if (matched)
            continue;
        const char *k = argv[i];
        if (i + 1 >= argc && (!strcmp(k, "--store") || !strcmp(k, "--out") ||
                              !strcmp(k, "--title") || !strcmp(k, "--top"))) {
            fprintf(stderr, "churnctl report html: %s needs a value\n", k);
            return EXIT_USAGE;
        }
        if (strcmp(k, "--store") == 0)
            *store = argv[++i];
        else if (strcmp(k, "--out") == 0)
            *out = argv[++i];
        else if (strcmp(k, "--title") == 0)
            o->title = argv[++i];
        else if (strcmp(k, "--top") == 0) {
            if ((rc = parse_top(argv[++i], &o->top)))
                return rc;
        } else {
            fprintf(stderr, "churnctl report html: unknown option '%s'\n" HTML_USAGE, k);
            return EXIT_USAGE;
        }
    }
    if (!*store || !*out) {
        fprintf(stderr, "churnctl report html: %s is required\n" HTML_USAGE,
                !*store ? "--store" : "--out");
        return EXIT_USAGE;
    }
    return 0;
}

/* @page into @path through "@path.tmp", renamed when complete. */
static int
write_file(const char *path, const struct churn_buf *page)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        fprintf(stderr, "churnctl report html: --out: the path is too long\n");
        return EXIT_USAGE;
    }
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(churn_buf_str(page), 1, page->len, f) == page->len;
    ok = f && fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "churnctl report html: --out %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return EXIT_TRANSPORT;
    }
    return 0;
}

int
churnctl_report_html(int argc, char **argv)
{
    struct churn_report_options o;
    churn_report_options_default(&o);
    const char *store_dir = NULL, *out = NULL;
    int rc = parse_args(argc, argv, &o, &store_dir, &out);
    if (rc)
        return rc;
    struct churn_store *store;
    if ((rc = churnctl_open_store(store_dir, &store)))
        return rc;
    struct churn_buf page;
    churn_buf_init(&page, PAGE_CAP);
    char err[512] = "";
    int64_t t0 = churn_mono_ns();
    enum churn_err e = churn_report_render(store, &o, &page, err, sizeof(err));
    churn_store_close(store);
    if (e) {
        fprintf(stderr, "churnctl report html: %s\n", err[0] ? err : churn_strerror(e));
        rc = e == CHURN_EINVAL ? EXIT_USAGE : EXIT_TRANSPORT;
    } else {
        rc = write_file(out, &page);
        if (!rc)
            fprintf(stderr, "churnctl: wrote %s (%zu bytes in %.0f ms)\n", out, page.len,
                    (double)(churn_mono_ns() - t0) / 1e6);
    }
    churn_buf_free(&page);
    return rc;
}
