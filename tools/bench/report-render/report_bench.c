/*
 * report_bench.c - measures the HTML retention report on a store (issue 15), for
 * tools/bench/report. With --seed-days N it first writes N - 1 SYNTHETIC daily snapshots
 * before the store's latest real one (churn_snapshot_put, the stored format), derived from it
 * with a deterministic wobble, so that a store swept once has a year of trends to draw; they
 * are labelled synthetic in the output. Then, --rounds times each, it times in the same run:
 * the baseline (one walk over every customer with its alert state and nothing else:
 * churn_snapshot_foreach_customer, the floor of any report) and churn_report_render() (the
 * whole page). One JSON line per measurement, then a summary line with the ratio.
 *
 *   report-bench --store DIR [--seed-days 365] [--rounds 3] [--out FILE]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/buf.h"
#include "churn/clock.h"
#include "churn/report.h"
#include "churn/snapshot.h"
#include "churn/store.h"

static int
count_cb(const struct churn_customer *rec, const struct churn_snapshot_state *st, void *user)
{
    (void)rec;
    *(uint64_t *)user += st && st->has_score;
    return 0;
}

/* A deterministic factor in [1 - amp, 1 + amp] for day @d and series @k. */
static double
wobble(int32_t d, int k, double amp)
{
    uint64_t x =
        (uint64_t)(uint32_t)d * 0x9e3779b97f4a7c15ULL + (uint64_t)k * 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 31;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 29;
    return 1 - amp + 2 * amp * (double)(x % 10000) / 10000.0;
}

static int
seed(struct churn_store *store, int days)
{
    struct churn_daily_snapshot last;
    if (churn_snapshot_latest(store, &last) != CHURN_OK) {
        fprintf(stderr, "report-bench: the store has no daily snapshot: sweep it with churnd\n");
        return 1;
    }
    for (int i = days - 1; i >= 1; i--) {
        struct churn_daily_snapshot s = last;
        s.day = last.day - i;
        s.taken_at_ms = last.taken_at_ms - (int64_t)i * CHURN_MS_PER_DAY;
        s.from_ms = s.taken_at_ms - CHURN_MS_PER_DAY;
        for (int t = 1; t <= 3; t++) {
            s.at_risk[t] = (uint64_t)((double)last.at_risk[t] * wobble(s.day, t, 0.2));
            s.revenue_at_risk[t] = last.revenue_at_risk[t] * wobble(s.day, t, 0.2);
        }
        s.alerts_raised = (uint64_t)(50 * wobble(s.day, 4, 0.5));
        s.escalations = (uint64_t)(10 * wobble(s.day, 5, 0.5));
        s.alerts_closed = (uint64_t)(40 * wobble(s.day, 6, 0.5));
        s.churned = (uint64_t)(30 * wobble(s.day, 7, 0.5));
        if (churn_snapshot_put(store, &s, CHURN_SNAPSHOT_KEEP_DAYS_DEFAULT) != CHURN_OK) {
            fprintf(stderr, "report-bench: %s\n", churn_store_last_error());
            return 1;
        }
    }
    printf("{\"seeded_days\":%d,\"synthetic\":true,\"from_real_day\":%d}\n", days - 1, last.day);
    return 0;
}

static double
time_walk(struct churn_store *store, uint64_t *scored)
{
    int64_t t0 = churn_mono_ns();
    *scored = 0;
    churn_snapshot_foreach_customer(store, churn_snapshot_read_state, count_cb, scored);
    return (double)(churn_mono_ns() - t0) / 1e9;
}

static double
time_render(struct churn_store *store, size_t *bytes, const char *out)
{
    struct churn_report_options o;
    churn_report_options_default(&o);
    struct churn_buf page;
    churn_buf_init(&page, 64u << 20);
    char err[256];
    int64_t t0 = churn_mono_ns();
    enum churn_err e = churn_report_render(store, &o, &page, err, sizeof(err));
    double s = (double)(churn_mono_ns() - t0) / 1e9;
    if (e)
        fprintf(stderr, "report-bench: %s\n", err);
    *bytes = e ? 0 : page.len;
    FILE *f = out && !e ? fopen(out, "wb") : NULL;
    if (f) {
        fwrite(page.data, 1, page.len, f);
        fclose(f);
    }
    churn_buf_free(&page);
    return e ? -1 : s;
}

int
main(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    int days = 0, rounds = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--store"))
            dir = argv[i + 1];
        else if (!strcmp(argv[i], "--seed-days"))
            days = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--out"))
            out = argv[i + 1];
    }
    if (!dir || days < 0 || days > CHURN_SNAPSHOT_KEEP_DAYS_DEFAULT || rounds < 1) {
        fputs("usage: report-bench --store DIR [--seed-days 0..400] [--rounds N] [--out F]\n",
              stderr);
        return 2;
    }
    struct churn_store_options so;
    churn_store_options_init(&so);
    so.read_only = days == 0;
    struct churn_store *store;
    if (churn_store_open(dir, &so, &store) != CHURN_OK) {
        fprintf(stderr, "report-bench: %s: %s\n", dir, churn_store_last_error());
        return 1;
    }
    int rc = days ? seed(store, days) : 0;
    double best_walk = 1e30, best_render = 1e30;
    for (int r = 0; r < rounds && !rc; r++) {
        uint64_t scored;
        size_t bytes;
        double w = time_walk(store, &scored);
        double h = time_render(store, &bytes, out);
        if (h < 0) {
            rc = 1;
            break;
        }
        best_walk = w < best_walk ? w : best_walk;
        best_render = h < best_render ? h : best_render;
        printf("{\"round\":%d,\"walk_s\":%.3f,\"render_s\":%.3f,\"scored\":%" PRIu64
               ",\"page_bytes\":%zu}\n",
               r + 1, w, h, scored, bytes);
    }
    if (!rc) {
        struct churn_store_stats st;
        churn_store_stats(store, &st);
        size_t n_days = 0;
        struct churn_daily_snapshot *d = NULL;
        churn_snapshot_list(store, INT32_MIN, INT32_MAX, &d, &n_days);
        churn_free(d);
        printf("{\"summary\":true,\"customers\":%zu,\"snapshots\":%zu,\"best_walk_s\":%.3f,"
               "\"best_render_s\":%.3f,\"render_over_walk\":%.2f}\n",
               st.customers, n_days, best_walk, best_render, best_render / best_walk);
    }
    churn_store_close(store);
    return rc;
}
