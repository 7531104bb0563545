/* Unit tests of the scada-gateway's reading queue (gw.c): readings pass in
 * order, an empty queue's wait ends, and readings it could not store are reported once
 * each, in ems_scada_queue_dropped_total and an error line. An allocation failure
 * cannot be provoked here, so the drops are set in the queue's count, as
 * sg_queue_push() sets them. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "obs/metrics.h"
#include "scada-gateway/gw.h"
#include "support/harness.h"

static sg_queue_t q;
static obs_metrics_t *metrics;
static obs_counter_t *dropped;
static char *logged;
static size_t logged_size;
static FILE *log_stream;

static void setup(void)
{
    ck_assert_int_eq(sg_queue_init(&q), 0);
    metrics = obs_metrics_new();
    ck_assert_ptr_nonnull(metrics);
    dropped = obs_counter(metrics, "ems_scada_queue_dropped_total", "h", NULL);
    ck_assert_ptr_nonnull(dropped);
    log_stream = open_memstream(&logged, &logged_size);
    ck_assert_ptr_nonnull(log_stream);
    log_init("scada-gateway", LOG_INFO);
    log_set_stream(log_stream);
}

static void teardown(void)
{
    log_set_stream(NULL);
    fclose(log_stream);
    free(logged);
    obs_metrics_destroy(metrics);
    sg_queue_release(&q);
}

/* The lines logged since the last call (the stream is flushed first). */
static const char *log_text(void)
{
    fflush(log_stream);
    return logged ? logged : "";
}

START_TEST(readings_pass_in_order)
{
    sg_reading_t in[3], *out = NULL;
    memset(in, 0, sizeof in);
    for (int i = 0; i < 3; i++)
        in[i].seq = 10 + i;
    sg_queue_push(&q, in, 2);
    sg_queue_push(&q, in + 2, 1);
    ck_assert_uint_eq(sg_queue_take(&q, &out, 0), 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(out[i].seq, 10 + i);
    free(out);
    ck_assert_uint_eq(sg_queue_take(&q, &out, 0), 0);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(sg_queue_report_dropped(&q, dropped), 0);
    ck_assert_double_eq(obs_counter_value(dropped), 0);
    ck_assert_str_eq(log_text(), "");
}
END_TEST

/* The wait of an empty queue (on the monotonic clock) ends, with nothing. */
START_TEST(empty_queue_wait_ends_with_nothing)
{
    sg_reading_t *out = NULL;
    ck_assert_uint_eq(sg_queue_take(&q, &out, 20), 0);
    ck_assert_ptr_null(out);
}
END_TEST

START_TEST(dropped_readings_counted_and_logged_once)
{
    q.dropped = 3; /* sg_queue_push() could not grow the queue for 3 */
    ck_assert_int_eq(sg_queue_report_dropped(&q, dropped), 3);
    ck_assert_double_eq(obs_counter_value(dropped), 3);
    ck_assert_msg(strstr(log_text(), "3 reading(s) dropped") != NULL, "logged: %s",
                  log_text());
    ck_assert_msg(strstr(log_text(), "error") != NULL, "logged: %s", log_text());
    size_t before = strlen(log_text());
    ck_assert_int_eq(sg_queue_report_dropped(&q, dropped), 0); /* nothing new */
    ck_assert_double_eq(obs_counter_value(dropped), 3);
    ck_assert_uint_eq(strlen(log_text()), before);
    q.dropped = 5;
    ck_assert_int_eq(sg_queue_report_dropped(&q, dropped), 2);
    ck_assert_double_eq(obs_counter_value(dropped), 5);
    ck_assert_msg(strstr(log_text() + before, "2 reading(s) dropped") != NULL,
                  "logged: %s", log_text());
    ck_assert_msg(strstr(log_text() + before, "5 since start-up") != NULL, "logged: %s",
                  log_text());
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scada_queue");
    TCase *tc = tcase_create("queue");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, readings_pass_in_order);
    tcase_add_test(tc, empty_queue_wait_ends_with_nothing);
    tcase_add_test(tc, dropped_readings_counted_and_logged_once);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
