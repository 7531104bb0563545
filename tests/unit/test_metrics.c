/* Unit tests for obs/metrics: registry semantics and exact text rendering. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/metrics.h"
#include "support/harness.h"

START_TEST(test_counter_gauge_render_exact)
{
    obs_metrics_t *m = obs_metrics_new();
    obs_counter_t *c =
        obs_counter(m, "ems_records_total", "Records seen.", "topic=energy.telemetry");
    ck_assert_ptr_nonnull(c);
    obs_counter_add(c, 2);
    obs_counter_inc(c);
    obs_counter_add(c, -5); /* ignored */
    obs_count(m, "ems_records_total", "ignored help", "topic=energy.load", 1);
    obs_gauge_t *g = obs_gauge(m, "ems_lag", "Consumer lag.\nIn records.", NULL);
    obs_gauge_set(g, 10);
    obs_gauge_add(g, -0.5);
    char *out = obs_metrics_render(m);
    ck_assert_ptr_nonnull(out);
    const char *want = "# HELP ems_lag Consumer lag.\\nIn records.\n"
                       "# TYPE ems_lag gauge\n"
                       "ems_lag 9.5\n"
                       "# HELP ems_records_total Records seen.\n"
                       "# TYPE ems_records_total counter\n"
                       "ems_records_total{topic=\"energy.load\"} 1\n"
                       "ems_records_total{topic=\"energy.telemetry\"} 3\n";
    ck_assert_str_eq(out, want);
    ck_assert(obs_counter_value(c) == 3.0);
    ck_assert(obs_gauge_value(g) == 9.5);
    free(out);
    obs_metrics_destroy(m);
}
END_TEST

START_TEST(test_histogram_render_exact)
{
    obs_metrics_t *m = obs_metrics_new();
    const double b[] = {0.005, 0.1, 1};
    obs_histogram_t *h =
        obs_histogram(m, "ems_poll_seconds", "Poll time.", "svc=x", b, 3);
    ck_assert_ptr_nonnull(h);
    obs_histogram_observe(h, 0.001);
    obs_histogram_observe(h, 0.1); /* le is inclusive */
    obs_histogram_observe(h, 0.5);
    obs_histogram_observe(h, 7);
    char *out = obs_metrics_render(m);
    const char *want = "# HELP ems_poll_seconds Poll time.\n"
                       "# TYPE ems_poll_seconds histogram\n"
                       "ems_poll_seconds_bucket{svc=\"x\",le=\"0.005\"} 1\n"
                       "ems_poll_seconds_bucket{svc=\"x\",le=\"0.1\"} 2\n"
                       "ems_poll_seconds_bucket{svc=\"x\",le=\"1\"} 3\n"
                       "ems_poll_seconds_bucket{svc=\"x\",le=\"+Inf\"} 4\n"
                       "ems_poll_seconds_sum{svc=\"x\"} 7.601\n"
                       "ems_poll_seconds_count{svc=\"x\"} 4\n";
    ck_assert_str_eq(out, want);
    free(out);
    obs_metrics_destroy(m);
}
END_TEST

START_TEST(test_histogram_no_labels)
{
    obs_metrics_t *m = obs_metrics_new();
    obs_histogram_t *h = obs_histogram(m, "h", "", "", NULL, 0);
    ck_assert_ptr_nonnull(h);
    obs_histogram_observe(h, 2);
    char *out = obs_metrics_render(m);
    ck_assert_str_eq(out, "# HELP h \n# TYPE h histogram\n"
                          "h_bucket{le=\"+Inf\"} 1\nh_sum 2\nh_count 1\n");
    free(out);
    obs_metrics_destroy(m);
}
END_TEST

START_TEST(test_label_escaping_and_order)
{
    obs_metrics_t *m = obs_metrics_new();
    obs_counter_t *a = obs_counter(m, "c", "h", "z=1,a=q\"u\\o\nte");
    obs_counter_t *b = obs_counter(m, "c", "h", "a=q\"u\\o\nte,z=1");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(a, b); /* the same label set in another order */
    obs_counter_inc(a);
    char *out = obs_metrics_render(m);
    ck_assert_ptr_nonnull(strstr(out, "c{a=\"q\\\"u\\\\o\\nte\",z=\"1\"} 1\n"));
    free(out);
    obs_metrics_destroy(m);
}
END_TEST

static const struct {
    const char *name, *labels;
} bad_cases[] = {
    {"", NULL},         {"9abc", NULL},    {"a-b", NULL},  {"ok", "novalue"},
    {"ok", "=v"},       {"ok", "a=1,a=2"}, {"ok", "a=1,"}, {"ok", ",a=1"},
    {"ok", "a=1,,b=2"}, {"ok", "a=b=c"},   {"ok", "1a=x"}, {"ok", "__name__=x"},
};

START_TEST(test_malformed_refused)
{
    obs_metrics_t *m = obs_metrics_new();
    ck_assert_ptr_null(obs_counter(m, bad_cases[_i].name, "h", bad_cases[_i].labels));
    obs_metrics_destroy(m);
}
END_TEST

START_TEST(test_type_conflict_and_bounds)
{
    obs_metrics_t *m = obs_metrics_new();
    ck_assert_ptr_nonnull(obs_counter(m, "x_total", "h", NULL));
    ck_assert_ptr_null(obs_gauge(m, "x_total", "h", NULL));
    ck_assert_ptr_null(obs_gauge(m, "x_total", "h", "a=1"));
    const double bad[] = {1, 1};
    ck_assert_ptr_null(obs_histogram(m, "h1", "h", NULL, bad, 2));
    const double good[] = {1, 2};
    ck_assert_ptr_null(obs_histogram(m, "h2", "h", "le=1", good, 2));
    ck_assert_ptr_nonnull(obs_histogram(m, "h2", "h", NULL, good, 2));
    /* NULL handles are accepted everywhere. */
    obs_counter_inc(NULL);
    obs_gauge_set(NULL, 1);
    obs_histogram_observe(NULL, 1);
    ck_assert(obs_counter_value(NULL) == 0.0);
    ck_assert_ptr_null(obs_counter(NULL, "a", "h", NULL));
    obs_metrics_destroy(NULL);
    obs_metrics_destroy(m);
}
END_TEST

START_TEST(test_value_formatting)
{
    obs_metrics_t *m = obs_metrics_new();
    obs_gauge_set(obs_gauge(m, "g", "h", "k=a"), 0.1);
    obs_gauge_set(obs_gauge(m, "g", "h", "k=b"), -INFINITY);
    obs_gauge_set(obs_gauge(m, "g", "h", "k=c"), NAN);
    obs_gauge_set(obs_gauge(m, "g", "h", "k=d"), 1e20);
    obs_gauge_set(obs_gauge(m, "g", "h", "k=e"), -42);
    char *out = obs_metrics_render(m);
    ck_assert_str_eq(out, "# HELP g h\n# TYPE g gauge\n"
                          "g{k=\"a\"} 0.1\n"
                          "g{k=\"b\"} -Inf\n"
                          "g{k=\"c\"} NaN\n"
                          "g{k=\"d\"} 1e+20\n"
                          "g{k=\"e\"} -42\n");
    free(out);
    obs_metrics_destroy(m);
}
END_TEST

typedef struct {
    obs_metrics_t *m;
    int id;
} worker_arg_t;

static void *worker(void *p)
{
    worker_arg_t *a = p;
    char labels[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(labels, sizeof labels, "w=%d", i % 7);
        obs_count(a->m, "mt_total", "h", labels, 1);
        obs_counter_inc(obs_counter(a->m, "all_total", "h", NULL));
    }
    return NULL;
}

START_TEST(test_threads_count_exactly)
{
    obs_metrics_t *m = obs_metrics_new();
    pthread_t t[4];
    worker_arg_t args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg_t){m, i};
        pthread_create(&t[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ck_assert(obs_counter_value(obs_counter(m, "all_total", "h", NULL)) == 80000.0);
    double sum = 0;
    char labels[32];
    for (int w = 0; w < 7; w++) {
        snprintf(labels, sizeof labels, "w=%d", w);
        sum += obs_counter_value(obs_counter(m, "mt_total", "h", labels));
    }
    ck_assert(sum == 80000.0);
    obs_metrics_destroy(m);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_counter_gauge_render_exact);
    tcase_add_test(tc, test_histogram_render_exact);
    tcase_add_test(tc, test_histogram_no_labels);
    tcase_add_test(tc, test_label_escaping_and_order);
    tcase_add_loop_test(tc, test_malformed_refused, 0,
                        (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(tc, test_type_conflict_and_bounds);
    tcase_add_test(tc, test_value_formatting);
    tcase_add_test(tc, test_threads_count_exactly);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(metrics_suite(), 0);
}
