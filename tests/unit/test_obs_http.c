/* Unit tests for obs/http: a real listener on an ephemeral loopback port,
 * probed with libcurl. */
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "obs/http.h"
#include "obs/metrics.h"
#include "support/harness.h"

/* GET path from the listener on port; fails the test when nothing answers. */
static th_reply get(int port, const char *path)
{
    th_reply r = th_http_get(port, path, 10);
    ck_assert_msg(r.status != 0, "GET %s: no answer", path);
    return r;
}

typedef struct fake_dep {
    int up;
    int calls;
} fake_dep_t;

static int fake_check(void *ctx, char *errstr, size_t errstr_size)
{
    fake_dep_t *d = ctx;
    d->calls++;
    if (d->up)
        return 0;
    snprintf(errstr, errstr_size, "connection refused");
    return -1;
}

static obs_metrics_t *m;
static obs_http_t *h;
static fake_dep_t broker, registry;

static void setup(void)
{
    char err[256];
    m = obs_metrics_new();
    obs_http_conf_t conf = {
        .addr = "127.0.0.1", .port = 0, .version = "1.2.3", .metrics = m};
    h = obs_http_new(&conf, err, sizeof err);
    ck_assert_msg(h != NULL, "%s", err);
    broker = (fake_dep_t){.up = 1};
    registry = (fake_dep_t){.up = 1};
    ck_assert_int_eq(
        obs_http_add_check(h, "broker", fake_check, &broker, err, sizeof err), 0);
    ck_assert_int_eq(
        obs_http_add_check(h, "registry", fake_check, &registry, err, sizeof err), 0);
    ck_assert_int_eq(
        obs_http_add_check(h, "broker", fake_check, &broker, err, sizeof err), -1);
    ck_assert_int_eq(obs_http_start(h, err, sizeof err), 0);
    ck_assert_int_gt(obs_http_port(h), 0);
}

static void teardown(void)
{
    obs_http_destroy(h);
    obs_metrics_destroy(m);
}

START_TEST(test_healthz)
{
    th_reply r = get(obs_http_port(h), "/healthz");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.content_type, "application/json");
    ck_assert_ptr_nonnull(strstr(r.body, "\"status\":\"ok\""));
    th_reply_release(&r);
    obs_http_set_stopping(h);
    r = get(obs_http_port(h), "/healthz");
    ck_assert_int_eq(r.status, 503);
    th_reply_release(&r);
}
END_TEST

START_TEST(test_readyz_follows_cached_checks)
{
    int port = obs_http_port(h);
    /* Not refreshed yet: not ready, checks not run by the probe. */
    th_reply r = get(port, "/readyz");
    ck_assert_int_eq(r.status, 503);
    ck_assert_int_eq(broker.calls, 0);
    th_reply_release(&r);

    ck_assert_int_eq(obs_http_refresh(h), 1);
    r = get(port, "/readyz");
    ck_assert_int_eq(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert(json_is_true(json_object_get(j, "ready")));
    ck_assert(json_is_true(json_object_get(
        json_object_get(json_object_get(j, "checks"), "broker"), "ok")));
    json_decref(j);
    th_reply_release(&r);

    registry.up = 0;
    r = get(port, "/readyz"); /* still the cached result */
    ck_assert_int_eq(r.status, 200);
    th_reply_release(&r);
    ck_assert_int_eq(obs_http_refresh(h), 0);
    ck_assert_int_eq(obs_http_ready(h), 0);
    r = get(port, "/readyz");
    ck_assert_int_eq(r.status, 503);
    j = json_loads(r.body, 0, NULL);
    json_t *reg = json_object_get(json_object_get(j, "checks"), "registry");
    ck_assert(json_is_false(json_object_get(reg, "ok")));
    ck_assert_str_eq(json_string_value(json_object_get(reg, "error")),
                     "connection refused");
    ck_assert(json_is_true(json_object_get(
        json_object_get(json_object_get(j, "checks"), "broker"), "ok")));
    json_decref(j);
    th_reply_release(&r);

    registry.up = 1;
    obs_http_refresh(h);
    obs_http_set_stopping(h);
    r = get(port, "/readyz");
    ck_assert_int_eq(r.status, 503);
    th_reply_release(&r);
}
END_TEST

START_TEST(test_metrics_endpoint)
{
    obs_count(m, "ems_test_total", "A test counter.", "k=v", 5);
    th_reply r = get(obs_http_port(h), "/metrics");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE ems_test_total counter\n"));
    ck_assert_ptr_nonnull(strstr(r.body, "ems_test_total{k=\"v\"} 5\n"));
    ck_assert_ptr_nonnull(strstr(r.body, "ems_build_info{version=\"1.2.3\"} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(r.body, "# TYPE ems_process_resident_memory_bytes gauge\n"));
    ck_assert_ptr_nonnull(
        strstr(r.body, "# TYPE ems_process_start_time_seconds gauge\n"));
    const char *rss = strstr(r.body, "\nems_process_resident_memory_bytes ");
    ck_assert_ptr_nonnull(rss);
    ck_assert(strtod(rss + strlen("\nems_process_resident_memory_bytes "), NULL) > 0);
    th_reply_release(&r);
    r = get(obs_http_port(h), "/nope");
    ck_assert_int_eq(r.status, 404);
    th_reply_release(&r);
}
END_TEST

/* A check whose reason is not UTF-8: a Latin-1 byte, or a long message
 * (a localised server error naming a non-ASCII database) cut mid-character
 * at the reason's 256 bytes. */
static int odd_reason_check(void *ctx, char *errstr, size_t errstr_size)
{
    char msg[400];
    if (ctx) {
        snprintf(errstr, errstr_size,
                 "base de donn\xe9"
                 "es indisponible");
        return -1;
    }
    memset(msg, 'x', sizeof msg);
    for (size_t i = 200; i + 2 < sizeof msg; i += 2)
        memcpy(msg + i, "\xc3\xa9", 2); /* "é" from byte 200 on */
    msg[sizeof msg - 1] = '\0';
    snprintf(errstr, errstr_size, "%s", msg);
    return -1;
}

/* The reason went into the JSON body as it was: jansson refuses a string
 * that is not UTF-8, so the failing check vanished from the body of a 503
 * (the one check an operator looks for). */
START_TEST(test_readyz_lists_check_whose_reason_is_not_utf8)
{
    char err[256];
    static int latin1 = 1;
    ck_assert_int_eq(
        obs_http_add_check(h, "latin1", odd_reason_check, &latin1, err, sizeof err), 0);
    ck_assert_int_eq(
        obs_http_add_check(h, "long", odd_reason_check, NULL, err, sizeof err), 0);
    ck_assert_int_eq(obs_http_refresh(h), 0);
    th_reply r = get(obs_http_port(h), "/readyz");
    ck_assert_int_eq(r.status, 503);
    json_t *j = json_loads(r.body, 0, NULL);
    ck_assert_msg(j != NULL, "%s", r.body);
    json_t *checks = json_object_get(j, "checks");
    const char *e1 =
        json_string_value(json_object_get(json_object_get(checks, "latin1"), "error"));
    const char *e2 =
        json_string_value(json_object_get(json_object_get(checks, "long"), "error"));
    ck_assert_msg(e1 != NULL, "%s", r.body);
    ck_assert_str_eq(e1, "base de donn\xef\xbf\xbd"
                         "es indisponible");
    ck_assert_msg(e2 != NULL, "%s", r.body);
    ck_assert_int_eq(strncmp(e2, "xxxx", 4), 0);
    ck_assert(json_is_true(json_object_get(json_object_get(checks, "broker"), "ok")));
    json_decref(j);
    th_reply_release(&r);
}
END_TEST

START_TEST(test_bad_conf)
{
    char err[256];
    obs_metrics_t *mm = obs_metrics_new();
    obs_http_conf_t conf = {.addr = "not-an-ip", .port = 1, .metrics = mm};
    ck_assert_ptr_null(obs_http_new(&conf, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "not-an-ip"));
    conf = (obs_http_conf_t){.port = 70000, .metrics = mm};
    ck_assert_ptr_null(obs_http_new(&conf, err, sizeof err));
    /* The port is taken by the fixture's listener. */
    conf =
        (obs_http_conf_t){.addr = "127.0.0.1", .port = obs_http_port(h), .metrics = mm};
    obs_http_t *h2 = obs_http_new(&conf, err, sizeof err);
    ck_assert_ptr_nonnull(h2);
    ck_assert_int_eq(obs_http_start(h2, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "127.0.0.1:"));
    obs_http_destroy(h2);
    obs_http_destroy(NULL);
    obs_metrics_destroy(mm);
}
END_TEST

static Suite *obs_http_suite(void)
{
    Suite *s = suite_create("obs_http");
    TCase *tc = tcase_create("listener");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_healthz);
    tcase_add_test(tc, test_readyz_follows_cached_checks);
    tcase_add_test(tc, test_metrics_endpoint);
    tcase_add_test(tc, test_bad_conf);
    tcase_add_test(tc, test_readyz_lists_check_whose_reason_is_not_utf8);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = th_run_suite(obs_http_suite(), 0);
    curl_global_cleanup();
    return rc;
}
