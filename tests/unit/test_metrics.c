/*
 * test_metrics.c - the metrics registry: per-thread counts merged exactly on scrape, the
 * go-grpc-prometheus series and their labels, cumulative histogram buckets, counters and
 * gauges of churnd's own, and every refused registration.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "churn/buf.h"
#include "churn/metrics.h"

static const char *const names[] = {"/churn.v1.ScoringService/GetScore",
                                    "/churn.v1.ChatService/AnalyzeChat"};
static const char *const types[] = {"unary", "bidi_stream"};

static char *
render(struct churn_metrics *m)
{
    static struct churn_buf b;
    churn_buf_free(&b);
    churn_buf_init(&b, 1 << 22);
    cr_assert_eq(churn_metrics_render(m, &b), CHURN_OK);
    return b.data;
}

static void
assert_line(const char *text, const char *line)
{
    char want[1024];
    snprintf(want, sizeof(want), "\n%s\n", line);
    cr_assert(strstr(text, want), "missing line: %s\nin:\n%s", line, text);
}

struct worker_arg {
    struct churn_metrics *m;
    int calls;
};

static void *
count_calls(void *p)
{
    struct worker_arg *a = p;
    for (int i = 0; i < a->calls; i++) {
        churn_metrics_rpc_started(a->m, 0);
        churn_metrics_rpc_received(a->m, 0);
        churn_metrics_rpc_sent(a->m, 0);
        churn_metrics_rpc_handled(a->m, 0, i % 2 ? 5 : 0, 200000); /* 200 us */
    }
    return NULL;
}

Test(metrics, counts_from_many_threads_merge_exactly)
{
    struct churn_metrics *m;
    cr_assert_eq(churn_metrics_create(&m), CHURN_OK);
    cr_assert_eq(churn_metrics_rpc_methods(m, names, types, 2), CHURN_OK);
    pthread_t t[8];
    struct worker_arg a = {m, 10001};
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, count_calls, &a);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    const char *text = render(m);
    const char *lbl = "grpc_method=\"GetScore\",grpc_service=\"churn.v1.ScoringService\","
                      "grpc_type=\"unary\"";
    char line[512];
    snprintf(line, sizeof(line), "grpc_server_started_total{%s} 80008", lbl);
    assert_line(text, line);
    snprintf(line, sizeof(line), "grpc_server_handled_total{grpc_code=\"OK\",%s} 40008", lbl);
    assert_line(text, line);
    snprintf(line, sizeof(line), "grpc_server_handled_total{grpc_code=\"NotFound\",%s} 40000", lbl);
    assert_line(text, line);
    snprintf(line, sizeof(line), "grpc_server_msg_received_total{%s} 80008", lbl);
    assert_line(text, line);
    snprintf(line, sizeof(line), "grpc_server_msg_sent_total{%s} 80008", lbl);
    assert_line(text, line);
    /* 200 us: not in the 100 us bucket, in the 250 us one, cumulative after */
    snprintf(line, sizeof(line), "grpc_server_handling_seconds_bucket{%s,le=\"0.0001\"} 0", lbl);
    assert_line(text, line);
    snprintf(line, sizeof(line), "grpc_server_handling_seconds_bucket{%s,le=\"0.00025\"} 80008",
             lbl);
    assert_line(text, line);
    snprintf(line, sizeof(line), "grpc_server_handling_seconds_bucket{%s,le=\"+Inf\"} 80008", lbl);
    assert_line(text, line);
    snprintf(line, sizeof(line), "grpc_server_handling_seconds_count{%s} 80008", lbl);
    assert_line(text, line);
    /* the other method is present with zeros, and every family has one HELP and TYPE */
    cr_assert(strstr(text, "grpc_server_started_total{grpc_method=\"AnalyzeChat\","
                           "grpc_service=\"churn.v1.ChatService\",grpc_type=\"bidi_stream\"} 0"));
    cr_assert_eq(strstr(strstr(text, "# TYPE grpc_server_handled_total counter") + 1,
                        "# TYPE grpc_server_handled_total"),
                 NULL);
    churn_metrics_destroy(m);
}

Test(metrics, status_codes_and_out_of_range_indexes)
{
    struct churn_metrics *m;
    cr_assert_eq(churn_metrics_create(&m), CHURN_OK);
    cr_assert_eq(churn_metrics_rpc_methods(m, names, types, 2), CHURN_OK);
    churn_metrics_rpc_handled(m, 1, 16, 1000);
    churn_metrics_rpc_handled(m, 1, 99, 1000); /* not a code: UNKNOWN */
    churn_metrics_rpc_handled(m, 7, 0, 1000);  /* not a method: ignored */
    churn_metrics_rpc_started(NULL, 0);        /* metrics off */
    const char *text = render(m);
    const char *lbl = "grpc_method=\"AnalyzeChat\",grpc_service=\"churn.v1.ChatService\","
                      "grpc_type=\"bidi_stream\"";
    char line[512];
    snprintf(line, sizeof(line), "grpc_server_handled_total{grpc_code=\"Unauthenticated\",%s} 1",
             lbl);
    assert_line(text, line);
    snprintf(line, sizeof(line), "grpc_server_handled_total{grpc_code=\"Unknown\",%s} 1", lbl);
    assert_line(text, line);
    cr_assert_eq(churn_metrics_rpc_methods(m, names, types, 2), CHURN_EEXIST);
    churn_metrics_destroy(m);
}

Test(metrics, bad_method_names_are_refused_and_count_nothing)
{
    struct churn_metrics *m;
    cr_assert_eq(churn_metrics_create(&m), CHURN_OK);
    const char *bad[][1] = {{"GetScore"}, {"/svc/"}, {"/svc/Get\"Score"}, {"/s v/Get"}};
    const char *t[] = {"unary"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(churn_metrics_rpc_methods(m, bad[i], t, 1), CHURN_EINVAL, "%s", bad[i][0]);
    const char *badtype[] = {"un ary"};
    cr_assert_eq(churn_metrics_rpc_methods(m, names, badtype, 1), CHURN_EINVAL);
    churn_metrics_rpc_started(m, 0);
    cr_assert_null(strstr(render(m), "grpc_server_started_total{"));
    cr_assert_eq(churn_metrics_rpc_methods(m, names, types, 2), CHURN_OK);
    churn_metrics_destroy(m);
}

Test(metrics, counters_histograms_and_collectors)
{
    struct churn_metrics *m;
    cr_assert_eq(churn_metrics_create(&m), CHURN_OK);
    size_t acc, dup, h;
    cr_assert_eq(
        churn_metrics_counter(m, "churn_events_total", "Events.", "result=\"accepted\"", &acc),
        CHURN_OK);
    double bounds[] = {1, 10, 100};
    cr_assert_eq(
        churn_metrics_histogram(m, "churn_batch_events", "Batch sizes.", "", bounds, 3, &h),
        CHURN_OK);
    cr_assert_eq(
        churn_metrics_counter(m, "churn_events_total", "Events.", "result=\"duplicate\"", &dup),
        CHURN_OK);
    churn_metrics_add(m, acc, 5);
    churn_metrics_add(m, dup, 2);
    churn_metrics_observe(m, h, 1);
    churn_metrics_observe(m, h, 50);
    churn_metrics_observe(m, h, 1000);
    const char *text = render(m);
    assert_line(text, "churn_events_total{result=\"accepted\"} 5");
    assert_line(text, "# TYPE churn_events_total counter\nchurn_events_total{result=\"accepted\"} "
                      "5\nchurn_events_total{result=\"duplicate\"} 2");
    assert_line(text, "churn_batch_events_bucket{le=\"1\"} 1");
    assert_line(text, "churn_batch_events_bucket{le=\"10\"} 1");
    assert_line(text, "churn_batch_events_bucket{le=\"100\"} 2");
    assert_line(text, "churn_batch_events_bucket{le=\"+Inf\"} 3");
    assert_line(text, "churn_batch_events_sum 1051");
    assert_line(text, "churn_batch_events_count 3");
    assert_line(text, "# TYPE process_resident_memory_bytes gauge");
    churn_metrics_destroy(m);
}

Test(metrics, refused_series)
{
    struct churn_metrics *m;
    cr_assert_eq(churn_metrics_create(&m), CHURN_OK);
    size_t id;
    double rising[] = {1, 2}, flat[] = {1, 1};
    cr_assert_eq(churn_metrics_counter(m, "bad name", "h", "", &id), CHURN_EINVAL);
    cr_assert_eq(churn_metrics_counter(m, "9lives", "h", "", &id), CHURN_EINVAL);
    cr_assert_eq(churn_metrics_histogram(m, "h", "h", "", flat, 2, &id), CHURN_EINVAL);
    cr_assert_eq(churn_metrics_histogram(m, "h", "h", "", rising, 0, &id), CHURN_EINVAL);
    for (int i = 0; i < CHURN_METRICS_MAX_SERIES; i++)
        cr_assert_eq(churn_metrics_counter(m, "c_total", "h", "", &id), CHURN_OK);
    cr_assert_eq(churn_metrics_counter(m, "c_total", "h", "", &id), CHURN_EFULL);
    churn_metrics_destroy(m);
}

Test(metrics, a_small_buffer_is_too_big_not_a_crash)
{
    struct churn_metrics *m;
    cr_assert_eq(churn_metrics_create(&m), CHURN_OK);
    cr_assert_eq(churn_metrics_rpc_methods(m, names, types, 2), CHURN_OK);
    struct churn_buf b;
    churn_buf_init(&b, 100);
    cr_assert_eq(churn_metrics_render(m, &b), CHURN_ETOOBIG);
    churn_buf_free(&b);
    churn_metrics_destroy(m);
}
