/*
 * The forecaster's HTTP weather source against the test stack (devbroker,
 * devregistry; EMS_TEST_* variables) and a small HTTP server on loopback
 * (python3 -m http.server serving a temporary directory that holds an
 * Open-Meteo forecast API answer).
 *  - While nothing listens on the configured URL, the fetch fails, is
 *    retried with backoff and counted; /readyz answers 503 naming the
 *    weather check as degraded; forecasts still go out, their quality list
 *    naming weather_source_degraded.
 *  - Once the server answers, the next fetch publishes the file's hourly
 *    temperatures on energy.weather (provider http:open-meteo) and /readyz
 *    answers 200 again.
 *  - A weather file still being written (its last line cut off) is left in
 *    the drop directory, not rejected, and read whole once complete; one
 *    cut off and not written to for weather.unfinished_wait is rejected.
 * No step assumes a speed: every wait polls a condition until a generous
 * deadline (the suite also runs under ASan on a loaded 2-core host), the
 * load goes out only once the service replayed its (empty) history and
 * the source is degraded, and topic names, groups and ports are unique
 * per run (a process id alone repeats on a long-lived broker).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <utime.h>

#include "bus/bus.h"
#include "forecaster/fc_codec.h"
#include "support/fc_replay.h"
#include "support/harness.h"

#define SITE "nl-neerijnen"
#define DAY 86400
#define T0 1614556800LL /* 2021-03-01T00:00Z */
#define LOAD_DAYS 8
#define WX_HOURS 72
/* Bound of every wait, in seconds: far above what any step needs. */
#define WAIT_S 300.0

static char prefix[64], group[64], tmpdir[256];
static int port, web_port;
static pid_t child, web;

static bus_t *test_bus(void)
{
    return th_bus_new(&(bus_conf_t){.topic_prefix = prefix});
}

static void produce_load(void)
{
    tfc_produce_sine_load(prefix, SITE, T0, T0 + LOAD_DAYS * DAY);
}

static double wx_temp(int h)
{
    return 4.0 + 0.25 * h;
}

/* An Open-Meteo answer: WX_HOURS hourly temperatures from day 7, UTC. */
static void write_forecast_json(void)
{
    char path[512];
    th_path(path, sizeof path, tmpdir, "forecast.json");
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fprintf(f, "{\"latitude\":51.9,\"longitude\":5.3,\"utc_offset_seconds\":0,"
               "\"hourly_units\":{\"time\":\"iso8601\",\"temperature_2m\":\"C\"},"
               "\"hourly\":{\"time\":[");
    for (int h = 0; h < WX_HOURS; h++)
        fprintf(f, "%s\"2021-03-%02dT%02d:00\"", h ? "," : "", 8 + h / 24, h % 24);
    fprintf(f, "],\"temperature_2m\":[");
    for (int h = 0; h < WX_HOURS; h++)
        fprintf(f, "%s%.2f", h ? "," : "", wx_temp(h));
    fprintf(f, "]}}\n");
    fclose(f);
}

/* ---- children: the forecaster and the web server ---- */

static void start_forecaster(void)
{
    th_env_list e = {0};
    /* the topics are new: the replay finds nothing (ends after
     * restore_empty), and the test waits for its end before the load */
    th_env_add(&e, "EMS_FORECASTER_RESTORE_IDLE=5s");
    th_env_add(&e, "EMS_FORECASTER_RESTORE_EMPTY=2s");
    th_env_add(&e, "EMS_WEATHER_DIR=");
    th_env_add(&e, "EMS_WEATHER_URL=http://127.0.0.1:%d/forecast.json", web_port);
    th_env_add(&e, "EMS_WEATHER_URL_SITE=" SITE);
    th_env_add(&e, "EMS_WEATHER_POLL_INTERVAL=2s");
    th_env_add(&e, "EMS_WEATHER_TIMEOUT=10s");
    th_env_add(&e, "EMS_WEATHER_RETRIES=2");
    th_env_add(&e, "EMS_WEATHER_BACKOFF=100ms");
    th_env_add(&e, "EMS_WEATHER_BACKOFF_MAX=1s");
    child = tfc_start_forecaster(prefix, port, group, tmpdir, &e);
    th_env_release(&e);
}

static void start_web(void)
{
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", web_port);
    const char *argv[] = {"python3",   "-m",          "http.server", port_s, "--bind",
                          "127.0.0.1", "--directory", tmpdir,        NULL};
    web = th_spawn(&(th_spawn_opts){.argv = argv, .out = "/dev/null"});
}

static void wait_metric(const char *name, double want)
{
    th_wait_metric(port, name, want, child, WAIT_S);
}

/* Waits until /readyz answers with status `code` and a body containing
 * both needles (the second may be NULL); fails with the last answer. */
static void wait_readyz(long code, const char *needle, const char *needle2)
{
    const char *needles[] = {needle, needle2, NULL};
    th_reply r = th_wait_http(port, "/readyz", code, needles, child, WAIT_S);
    th_reply_release(&r);
}

/* ---- reading the topics ---- */

static bus_consumer_t *reader(bus_t *b, const char *topic)
{
    char g[128];
    snprintf(g, sizeof g, "%s-%s", group, topic);
    return th_consumer(b, g, topic);
}

static int degraded(bus_record_t *rec, void *ctx)
{
    const char *q = th_opt_string(&rec->value, "quality_reason");
    ck_assert_msg(strstr(q, "weather_source_degraded") != NULL, "quality_reason '%s'",
                  q);
    ++*(int *)ctx;
    return 0;
}

static int some_read(int got, void *ctx)
{
    (void)got;
    return *(int *)ctx > 0;
}

/* Reads until at least one forecast came; every one read must say
 * weather_source_degraded. Returns how many were read. */
static int degraded_forecasts(bus_consumer_t *c)
{
    int n = 0;
    th_consume(c, &(th_consume_opts){.timeout_s = WAIT_S,
                                     .alive = child,
                                     .each = degraded,
                                     .done = some_read,
                                     .ctx = &n});
    ck_assert_msg(n > 0, "no forecast on energy.forecast within %.0f s", WAIT_S);
    return n;
}

typedef struct wx_found {
    const char *provider;
    char site[64];
    fc_wxdata wx;
} wx_found;

/* Takes the first record of provider w->provider. */
static int of_provider(bus_record_t *rec, void *ctx)
{
    wx_found *w = ctx;
    char reason[128];
    avro_value_t f;
    const char *prov;
    size_t len;
    th_field(&rec->value, "provider", &f);
    ck_assert_int_eq(avro_value_get_string(&f, &prov, &len), 0);
    if (strcmp(prov, w->provider))
        return 0;
    ck_assert_int_eq(fc_codec_weather(&rec->value, w->site, sizeof w->site, &w->wx,
                                      reason, sizeof reason),
                     0);
    return 1;
}

/* The record the HTTP source published: slots and temperatures of the file. */
static void check_weather_record(bus_consumer_t *c)
{
    wx_found w = {.provider = "http:open-meteo", .site = ""};
    fc_wxdata_init(&w.wx);
    int found = th_consume(
        c, &(th_consume_opts){.timeout_s = WAIT_S, .each = of_provider, .ctx = &w});
    ck_assert_msg(found, "no http:open-meteo record on energy.weather");
    fc_wxdata *wx = &w.wx;
    ck_assert_str_eq(w.site, SITE);
    ck_assert_uint_eq(wx->n, WX_HOURS);
    ck_assert_int_eq(wx->slot_sec, 3600);
    int tc = fc_wxdata_find(wx, FC_WX_TEMP);
    ck_assert_int_ge(tc, 0);
    for (int h = 0; h < WX_HOURS; h++) {
        ck_assert_int_eq(wx->t[h], T0 + 7 * DAY + h * 3600);
        ck_assert_double_eq_tol(wx->v[h * wx->nvar + (size_t)tc], wx_temp(h), 1e-9);
    }
    fc_wxdata_release(wx);
}

START_TEST(unreachable_endpoint_degrades_then_recovers)
{
    write_forecast_json();
    bus_t *b = test_bus();
    bus_consumer_t *fc = reader(b, "energy.forecast");
    bus_consumer_t *wx = reader(b, "energy.weather");
    start_forecaster();
    /* first try and two retries failed: degraded; and the start-up replay
     * is over, so the load below goes through the live consumer */
    wait_metric("ems_forecaster_weather_fetches_total{result=\"error\"}", 3);
    wait_readyz(503, "\"history\":{\"ok\":true}", "degraded");
    produce_load();
    ck_assert_int_ge(degraded_forecasts(fc), 1);

    start_web();
    wait_metric("ems_forecaster_weather_fetches_total{result=\"ok\"}", 1);
    wait_readyz(200, "\"weather\":{\"ok\":true}", NULL);
    check_weather_record(wx);
    bus_consumer_destroy(fc);
    bus_consumer_destroy(wx);
    bus_destroy(b);
    ck_assert_int_eq(th_stop(&child), 0);
}
END_TEST

/* ---- the drop directory ---- */

#define DIR_HOURS 48

/* CSV text of DIR_HOURS hourly temperatures from day 7. */
static void csv_text(char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "time,temperature\n");
    for (int h = 0; h < DIR_HOURS; h++)
        n += (size_t)snprintf(buf + n, size - n, "2021-03-%02dT%02d:00Z,%.2f\n",
                              8 + h / 24, h % 24, wx_temp(h));
}

static void write_in(const char *dir, const char *name, const char *text,
                     const char *mode)
{
    char path[512];
    FILE *f = fopen(th_path(path, sizeof path, dir, name), mode);
    ck_assert_msg(f != NULL, "cannot write '%s'", path);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static int exists_in(const char *dir, const char *name)
{
    char path[512];
    struct stat sb;
    return stat(th_path(path, sizeof path, dir, name), &sb) == 0;
}

/* Regression: a file was read when seen, so one still being written was
 * rejected (cut mid-line) or published half (cut at a line end). */
START_TEST(unfinished_file_is_read_once_complete)
{
    char wxdir[512], path[512], text[4096], done[600], rejected[600];
    th_path(wxdir, sizeof wxdir, tmpdir, "weather");
    th_path(done, sizeof done, wxdir, "done");
    th_path(rejected, sizeof rejected, wxdir, "rejected");
    ck_assert_int_eq(mkdir(wxdir, 0755), 0);
    csv_text(text, sizeof text);
    /* a: complete; b: being written, cut in a timestamp; c: cut off and
     * left so two hours ago (its writer died) */
    size_t half = strlen(text) / 2 + 3;
    ck_assert(text[half - 1] != '\n' && text[half] != '\n');
    write_in(wxdir, SITE "_a.csv", text, "w");
    char first[4096];
    snprintf(first, sizeof first, "%.*s", (int)half, text);
    write_in(wxdir, SITE "_b.csv", first, "w");
    write_in(wxdir, SITE "_c.csv", first, "w");
    time_t old = time(NULL) - 7200;
    ck_assert_int_eq(utime(th_path(path, sizeof path, wxdir, SITE "_c.csv"),
                           &(struct utimbuf){old, old}),
                     0);
    bus_t *b = test_bus();
    bus_consumer_t *wx = reader(b, "energy.weather");
    th_env_list e = {0};
    th_env_add(&e, "EMS_FORECASTER_RESTORE_EMPTY=2s");
    th_env_add(&e, "EMS_WEATHER_URL=");
    th_env_add(&e, "EMS_WEATHER_DIR=%s", wxdir);
    th_env_add(&e, "EMS_WEATHER_SCAN_INTERVAL=200ms");
    th_env_add(&e, "EMS_WEATHER_UNFINISHED_WAIT=1h");
    child = tfc_start_forecaster(prefix, port, group, tmpdir, &e);
    th_env_release(&e);
    /* a and c are judged in the scan that reads b, and counted after it */
    wait_metric("ems_forecaster_weather_files_total{result=\"done\"}", 1);
    wait_metric("ems_forecaster_weather_files_total{result=\"rejected\"}", 1);
    ck_assert(exists_in(done, SITE "_a.csv"));
    ck_assert(exists_in(rejected, SITE "_c.csv"));
    ck_assert_msg(exists_in(wxdir, SITE "_b.csv"), "the unfinished file was taken");
    write_in(wxdir, SITE "_b.csv", text + half, "a");
    wait_metric("ems_forecaster_weather_files_total{result=\"done\"}", 2);
    ck_assert(exists_in(done, SITE "_b.csv"));
    ck_assert_double_eq(
        th_metric(port, "ems_forecaster_weather_files_total{result=\"rejected\"}"), 1);
    /* b was published whole */
    wx_found w = {.provider = "csv:" SITE "_b.csv", .site = ""};
    fc_wxdata_init(&w.wx);
    ck_assert_msg(th_consume(wx, &(th_consume_opts){.timeout_s = WAIT_S,
                                                    .each = of_provider,
                                                    .ctx = &w}),
                  "no record of %s on energy.weather", w.provider);
    ck_assert_uint_eq(w.wx.n, DIR_HOURS);
    int tc = fc_wxdata_find(&w.wx, FC_WX_TEMP);
    ck_assert_int_ge(tc, 0);
    ck_assert_double_eq_tol(w.wx.v[(DIR_HOURS - 1) * w.wx.nvar + (size_t)tc],
                            wx_temp(DIR_HOURS - 1), 1e-9);
    fc_wxdata_release(&w.wx);
    bus_consumer_destroy(wx);
    bus_destroy(b);
    ck_assert_int_eq(th_stop(&child), 0);
}
END_TEST

static void setup(void)
{
    th_unique(prefix, sizeof prefix, "fcw", ".");
    th_unique(group, sizeof group, "forecaster-wx-", "");
    port = th_free_port();
    web_port = th_free_port_except(port);
    th_tmpdir(tmpdir, sizeof tmpdir, "fcw");
}

static void teardown(void)
{
    th_stop(&child);
    th_stop(&web);
    th_rmtree(tmpdir);
}

int main(void)
{
    Suite *s = suite_create("forecaster_weather");
    th_suite_add_case(s, "http", unreachable_endpoint_degrades_then_recovers, setup,
                      teardown, 1800);
    th_suite_add_case(s, "dir", unfinished_file_is_read_once_complete, setup, teardown,
                      1800);
    return th_run_suite(s, 1);
}
