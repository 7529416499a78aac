/*
 * report_trends.c - `churnctl report trends --store DIR [--from DATE] [--to DATE] [--json]`:
 * the daily aggregate snapshots churnd keeps in its store (churn/snapshot.h), one line per
 * day (customers, at-risk counts per tier, expected revenue at risk, open alerts, alerts raised
 * and closed, escalations, realised churn), read-only while churnd keeps running. Also the
 * report period options shared by the report commands: --from and --to take a UTC date
 * (YYYY-MM-DD) or an ISO-8601 time, and a bad one exits 2 naming the flag.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/snapshot.h"
#include "churn/store.h"
#include "ctl.h"

int
churnctl_report_period(const char *cmd, const char *flag, const char *value, int32_t *day)
{
    int64_t ms;
    if (!churn_parse_iso8601_ms(value, &ms)) {
        fprintf(stderr, "churnctl report %s: %s: '%s' is not a date (YYYY-MM-DD or ISO-8601)\n",
                cmd, flag, value);
        return EXIT_USAGE;
    }
    *day = churn_day_of_ms(ms);
    return 0;
}

int
churnctl_report_period_args(const char *cmd, int argc, char **argv, int *i, int32_t *from,
                            int32_t *to, bool *matched)
{
    const char *k = argv[*i];
    *matched = strcmp(k, "--from") == 0 || strcmp(k, "--to") == 0;
    if (!*matched)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "churnctl report %s: %s needs a date (YYYY-MM-DD)\n", cmd, k);
        return EXIT_USAGE;
    }
    const char *v = argv[++*i];
    int rc = churnctl_report_period(cmd, k, v, strcmp(k, "--from") == 0 ? from : to);
    if (rc == 0 && *from > *to) {
        fprintf(stderr, "churnctl report %s: --from is after --to\n", cmd);
        return EXIT_USAGE;
    }
    return rc;
}

static void
print_day_json(const struct churn_daily_snapshot *s)
{
    char at[32], from[32];
    churn_format_time_ms(s->taken_at_ms, at, sizeof(at));
    churn_format_time_ms(s->from_ms, from, sizeof(from));
    printf("{\"day\":\"%.10s\",\"taken_at\":\"%s\",\"from\":\"%s\",\"customers\":%" PRIu64
           ",\"lost\":%" PRIu64 ",\"scored\":%" PRIu64 ",\"at_risk\":{\"high\":%" PRIu64
           ",\"medium\":%" PRIu64 ",\"low\":%" PRIu64
           "},\"revenue_at_risk\":{\"high\":%.2f,\"medium\":%.2f,\"low\":%.2f,"
           "\"total\":%.2f},\"open_alerts\":%" PRIu64 ",\"alerts_raised\":%" PRIu64
           ",\"alerts_closed\":%" PRIu64 ",\"escalations\":%" PRIu64 ",\"churned\":%" PRIu64 "}\n",
           at, at, from, s->customers, s->lost, s->scored, s->at_risk[CHURN_TIER_HIGH],
           s->at_risk[CHURN_TIER_MEDIUM], s->at_risk[CHURN_TIER_LOW],
           s->revenue_at_risk[CHURN_TIER_HIGH], s->revenue_at_risk[CHURN_TIER_MEDIUM],
           s->revenue_at_risk[CHURN_TIER_LOW], churn_daily_snapshot_revenue_at_risk(s),
           s->open_alerts, s->alerts_raised, s->alerts_closed, s->escalations, s->churned);
}

static void
print_table(const struct churn_daily_snapshot *days, size_t n)
{
    printf("%-10s %10s %8s %8s %14s %6s %7s %7s %6s %7s\n", "day", "customers", "high", "medium",
           "revenue@risk", "open", "raised", "closed", "escal", "churned");
    for (size_t i = 0; i < n; i++) {
        const struct churn_daily_snapshot *s = &days[i];
        char at[32];
        churn_format_time_ms(s->taken_at_ms, at, sizeof(at));
        printf("%-10.10s %10" PRIu64 " %8" PRIu64 " %8" PRIu64 " %14.2f %6" PRIu64 " %7" PRIu64
               " %7" PRIu64 " %6" PRIu64 " %7" PRIu64 "\n",
               at, s->customers, s->at_risk[CHURN_TIER_HIGH], s->at_risk[CHURN_TIER_MEDIUM],
               churn_daily_snapshot_revenue_at_risk(s), s->open_alerts, s->alerts_raised,
               s->alerts_closed, s->escalations, s->churned);
    }
    printf("%zu days\n", n);
}

#define TRENDS_USAGE                                                                               \
    "usage: churnctl report trends --store DIR [--from DATE] [--to DATE] [--json]\n"

int
churnctl_report_trends(int argc, char **argv)
{
    const char *store_dir = NULL;
    bool json = false, matched;
    int32_t from = INT32_MIN, to = INT32_MAX;
    for (int i = 0; i < argc; i++) {
        int rc = churnctl_report_period_args("trends", argc, argv, &i, &from, &to, &matched);
        if (rc)
            return rc;
        if (matched)
            continue;
        if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
            store_dir = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else {
            fprintf(stderr, "churnctl report trends: unknown option '%s'\n" TRENDS_USAGE, argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!store_dir) {
        fputs(TRENDS_USAGE, stderr);
        return EXIT_USAGE;
    }
    struct churn_store *store;
    int rc = churnctl_open_store(store_dir, &store);
    if (rc)
        return rc;
    struct churn_daily_snapshot *days = NULL;
    size_t n = 0;
    enum churn_err err = churn_snapshot_list(store, from, to, &days, &n);
    if (err) {
        fprintf(stderr, "churnctl: reading the daily snapshots: %s\n",
                err == CHURN_ECORRUPT ? "the stored list is damaged" : churn_store_last_error());
        rc = EXIT_TRANSPORT;
    } else if (json) {
        for (size_t i = 0; i < n; i++)
            print_day_json(&days[i]);
    } else {
        print_table(days, n);
    }
    churn_free(days);
    churn_store_close(store);
    return rc;
}
