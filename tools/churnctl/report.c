/*
 * report.c - `churnctl report outcomes`: did the playbooks work? Reads the outcome log of a
 * store (read-only; churnd may keep running, LMDB readers do not block it) through
 * churn_report_outcomes() (the latest outcome per customer and playbook), and prints per
 * playbook the retention rate of treated customers against the control group (holdouts), the
 * difference with its 95% confidence interval (Newcombe) and the revenue retained. Outcomes
 * not tied to a playbook (no alert) are counted and left out. The `report` dispatcher.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alerts.h"
#include "churn/outcomes.h"
#include "churn/alloc.h"
#include "churn/report.h"
#include "churn/store.h"
#include "ctl.h"

static void
json_num(const char *key, double v, bool last)
{
    if (isfinite(v))
        printf("\"%s\":%.6g%s", key, v, last ? "" : ",");
    else
        printf("\"%s\":null%s", key, last ? "" : ",");
}

static void
print_json(const struct churn_report_outcomes *c)
{
    const struct churn_outcome_stats *st = c->stats;
    size_t n = c->n;
    printf("{\"playbooks\":[");
    for (size_t i = 0; i < n; i++) {
        const struct churn_outcome_stats *s = &st[i];
        printf("%s{\"playbook\":\"%s\",\"treated\":%llu,\"treated_retained\":%llu,"
               "\"treated_unknown\":%llu,\"control\":%llu,\"control_retained\":%llu,"
               "\"control_unknown\":%llu,",
               i ? "," : "", s->playbook_id, (unsigned long long)s->treated,
               (unsigned long long)s->treated_retained, (unsigned long long)s->treated_unknown,
               (unsigned long long)s->control, (unsigned long long)s->control_retained,
               (unsigned long long)s->control_unknown);
        json_num("treated_rate", s->treated_rate, false);
        json_num("control_rate", s->control_rate, false);
        json_num("diff", s->diff, false);
        json_num("diff_low", s->diff_low, false);
        json_num("diff_high", s->diff_high, false);
        json_num("revenue_retained", s->revenue_retained, true);
        printf("}");
    }
    printf("],\"outcomes\":%zu,\"superseded\":%zu,\"without_playbook\":%zu,\"corrupt\":%zu}\n",
           c->outcomes, c->superseded, c->untied, c->corrupt);
}

static void
pct(char *out, size_t len, double v)
{
    if (isfinite(v))
        snprintf(out, len, "%+.1f", 100 * v);
    else
        snprintf(out, len, "n/a");
}

static void
print_table(const struct churn_report_outcomes *c)
{
    const struct churn_outcome_stats *st = c->stats;
    size_t n = c->n;
    printf("%-24s %17s %17s %9s %18s %12s\n", "playbook", "treated kept/n", "control kept/n",
           "diff pp", "95% CI pp", "revenue kept");
    for (size_t i = 0; i < n; i++) {
        const struct churn_outcome_stats *s = &st[i];
        char t[32], k[32], d[16], lo[16], hi[16], ci[40];
        snprintf(t, sizeof(t), "%llu/%llu", (unsigned long long)s->treated_retained,
                 (unsigned long long)(s->treated - s->treated_unknown));
        snprintf(k, sizeof(k), "%llu/%llu", (unsigned long long)s->control_retained,
                 (unsigned long long)(s->control - s->control_unknown));
        pct(d, sizeof(d), s->diff);
        pct(lo, sizeof(lo), s->diff_low);
        pct(hi, sizeof(hi), s->diff_high);
        snprintf(ci, sizeof(ci), isfinite(s->diff_low) ? "[%s, %s]" : "n/a", lo, hi);
        printf("%-24s %17s %17s %9s %18s %12.2f\n", s->playbook_id, t, k, d, ci,
               s->revenue_retained);
    }
    printf("%zu outcomes (%zu superseded by a later one, %zu without a playbook%s)\n", c->outcomes,
           c->superseded, c->untied, c->corrupt ? ", some unreadable" : "");
    if (c->corrupt)
        fprintf(stderr, "churnctl: %zu outcome records could not be decoded\n", c->corrupt);
}

static int
report_outcomes(int argc, char **argv)
{
    const char *store_dir = NULL;
    bool json = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
            store_dir = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else {
            fprintf(stderr, "churnctl report outcomes: unknown option '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!store_dir) {
        fputs("usage: churnctl report outcomes --store DIR [--json]\n", stderr);
        return EXIT_USAGE;
    }
    struct churn_store_options so;
    churn_store_options_init(&so);
    so.read_only = true;
    struct churn_store *store;
    if (churn_store_open(store_dir, &so, &store) != CHURN_OK) {
        fprintf(stderr, "churnctl: store %s: %s\n", store_dir, churn_store_last_error());
        return EXIT_TRANSPORT;
    }
    static struct churn_report_outcomes c;
    enum churn_err err = churn_report_outcomes(store, &c);
    int rc = 0;
    if (err) {
        fprintf(stderr, "churnctl: reading outcomes: %s\n",
                err == CHURN_ENOMEM    ? "out of memory"
                : err == CHURN_ETOOBIG ? "more playbooks than the report holds"
                : err == CHURN_EINVAL  ? "an outcome record is out of range"
                                       : churn_store_last_error());
        rc = err == CHURN_ENOMEM || err == CHURN_ETOOBIG || err == CHURN_EINVAL ? EXIT_STATUS
                                                                                : EXIT_TRANSPORT;
    } else if (json) {
        print_json(&c);
    } else {
        print_table(&c);
    }
    churn_store_close(store);
    return rc;
}

int
churnctl_report(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "outcomes") == 0)
        return report_outcomes(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "trends") == 0) /* issue 15 */
        return churnctl_report_trends(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "html") == 0) /* issue 15 */
        return churnctl_report_html(argc - 1, argv + 1);
    fputs("usage: churnctl report outcomes --store DIR [--json]\n"
          "       churnctl report trends --store DIR [--from DATE] [--to DATE] [--json]\n"
          "       churnctl report html --store DIR --out FILE [--from DATE] [--to DATE]\n",
          stderr);
    return EXIT_USAGE;
}
