/* Unit tests for log: every line is one valid JSON object with the fields. */
#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "support/harness.h"

/* Reads every line written to f since rewind and parses each as JSON. */
static json_t *read_lines(FILE *f, int *nlines)
{
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    rewind(f);
    *nlines = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        ck_assert_msg(o != NULL, "not JSON: %s (%s)", line, jerr.text);
        ck_assert(json_is_object(o));
        json_array_append_new(arr, o);
        (*nlines)++;
    }
    free(line);
    return arr;
}

static const char *field(json_t *arr, size_t i, const char *k)
{
    return json_string_value(json_object_get(json_array_get(arr, i), k));
}

START_TEST(test_fields_and_levels)
{
    FILE *f = tmpfile();
    log_set_stream(f);
    log_init("ingester", LOG_INFO);
    log_debug("bus", "dropped %d", 1);
    log_info("bus", "started on port %d", 18102);
    log_error(NULL, "x");
    int n;
    json_t *arr = read_lines(f, &n);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(field(arr, 0, "level"), "info");
    ck_assert_str_eq(field(arr, 0, "service"), "ingester");
    ck_assert_str_eq(field(arr, 0, "module"), "bus");
    ck_assert_str_eq(field(arr, 0, "msg"), "started on port 18102");
    const char *ts = field(arr, 0, "ts");
    ck_assert_int_eq((int)strlen(ts), 24); /* 2026-11-21T21:02:17.123Z */
    ck_assert_int_eq(ts[23], 'Z');
    ck_assert_str_eq(field(arr, 1, "level"), "error");
    ck_assert_str_eq(field(arr, 1, "module"), "");
    json_decref(arr);
    log_set_stream(NULL);
    fclose(f);
}
END_TEST

static const struct {
    const char *in, *want;
} esc_cases[] = {
    {"quote \" and \\ backslash", "quote \" and \\ backslash"},
    {"line\nbreak\ttab\rcr", "line\nbreak\ttab\rcr"},
    {"ctl \x01\x1f end", "ctl \x01\x1f end"},
    {"utf8 \xc2\xb0"
     "C \xe2\x82\xac",
     "utf8 \xc2\xb0"
     "C \xe2\x82\xac"},
    {"bad \xff byte", "bad \xef\xbf\xbd byte"},
    {"cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd"},
};

START_TEST(test_escaping)
{
    FILE *f = tmpfile();
    log_set_stream(f);
    log_init("svc", LOG_DEBUG);
    log_warn("m", "%s", esc_cases[_i].in);
    int n;
    json_t *arr = read_lines(f, &n);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(field(arr, 0, "msg"), esc_cases[_i].want);
    ck_assert_str_eq(field(arr, 0, "level"), "warn");
    json_decref(arr);
    log_set_stream(NULL);
    fclose(f);
}
END_TEST

START_TEST(test_long_message)
{
    FILE *f = tmpfile();
    log_set_stream(f);
    log_init("svc", LOG_DEBUG);
    char *big = malloc(5001);
    memset(big, 'a', 5000);
    big[5000] = '\0';
    log_info("m", "%s", big);
    int n;
    json_t *arr = read_lines(f, &n);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(field(arr, 0, "msg"), big);
    free(big);
    json_decref(arr);
    log_set_stream(NULL);
    fclose(f);
}
END_TEST

static void *log_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 500; i++)
        log_info("thread", "line %d with some padding to make it longer %0200d", i, i);
    return NULL;
}

START_TEST(test_threads_whole_lines)
{
    FILE *f = tmpfile();
    log_set_stream(f);
    log_init("svc", LOG_INFO);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, log_worker, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    int n;
    json_t *arr = read_lines(f, &n); /* asserts each line parses */
    ck_assert_int_eq(n, 2000);
    json_decref(arr);
    log_set_stream(NULL);
    fclose(f);
}
END_TEST

static const struct {
    const char *s;
    int rc;
    log_level_t lvl;
} parse_cases[] = {
    {"debug", 0, LOG_DEBUG}, {"info", 0, LOG_INFO},    {"warn", 0, LOG_WARN},
    {"error", 0, LOG_ERROR}, {"warning", 0, LOG_WARN}, {"INFO", -1, LOG_INFO},
    {"", -1, LOG_INFO},      {NULL, -1, LOG_INFO},
};

START_TEST(test_level_parse)
{
    log_level_t l = LOG_INFO;
    ck_assert_int_eq(log_level_parse(parse_cases[_i].s, &l), parse_cases[_i].rc);
    ck_assert_int_eq(l, parse_cases[_i].lvl);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_fields_and_levels);
    tcase_add_loop_test(tc, test_escaping, 0,
                        (int)(sizeof esc_cases / sizeof esc_cases[0]));
    tcase_add_test(tc, test_long_message);
    tcase_add_test(tc, test_threads_whole_lines);
    tcase_add_loop_test(tc, test_level_parse, 0,
                        (int)(sizeof parse_cases / sizeof parse_cases[0]));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(log_suite(), 0);
}
