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
 * No step assumes a speed: every wait polls a condition until a generous
 * deadline (the suite also runs under ASan on a loaded 2-core host), the
 * load goes out only once the service replayed its (empty) history and
 * the source is degraded, and topic names, groups and ports are unique
 * per run (a process id alone repeats on a long-lived broker).
 */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "forecaster/fc_codec.h"

#define SITE "nl-neerijnen"
#define DAY 86400
#define T0 1614556800LL /* 2021-03-01T00:00Z */
#define LOAD_DAYS 8
#define WX_HOURS 72
/* Bound of every wait, in seconds: far above what any step needs. */
#define WAIT_S 300.0

static char prefix[48], group[64], port[16], web_port[16], tmpdir[256];
static pid_t child, web;

static const char *env(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && *v,
                  "%s is not set (start the stack: tools/stack/stack.sh up --test)",
                  name);
    return v;
}

static bus_t *test_bus(void)
{
    char schemas[1024], err[512];
    snprintf(schemas, sizeof schemas, "%s/schemas", env("EMS_TEST_ROOT"));
    bus_conf_t bc = {.bootstrap = env("EMS_TEST_BOOTSTRAP"),
                     .registry_url = env("EMS_TEST_REGISTRY"),
                     .schema_dir = schemas,
                     .topic_prefix = prefix};
    bus_t *b = bus_new(&bc, err, sizeof err);
    ck_assert_msg(b != NULL, "%s", err);
    return b;
}

static void set_field(avro_value_t *v, const char *name, avro_value_t *f)
{
    ck_assert(avro_value_get_by_name(v, name, f, NULL) == 0);
}

static void produce_load(void)
{
    char err[512];
    bus_t *b = test_bus();
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    for (int64_t t = T0; t < T0 + LOAD_DAYS * DAY; t += 900) {
        avro_value_t v, f, br;
        double kw = 1000.0 + 300.0 * sin((double)(t % DAY) / DAY * 6.283);
        ck_assert(bus_value_new(b, "energy.load", &v, err, sizeof err) == 0);
        set_field(&v, "site_id", &f), avro_value_set_string(&f, SITE);
        set_field(&v, "scope", &f), avro_value_set_enum(&f, 1);
        set_field(&v, "interval_start", &f), avro_value_set_long(&f, t * 1000);
        set_field(&v, "interval_end", &f), avro_value_set_long(&f, (t + 900) * 1000);
        set_field(&v, "energy_kwh", &f), avro_value_set_double(&f, kw * 0.25);
        set_field(&v, "mean_kw", &f), avro_value_set_double(&f, kw);
        set_field(&v, "peak_kw", &f), avro_value_set_double(&f, kw);
        set_field(&v, "min_kw", &f), avro_value_set_branch(&f, 0, &br),
            avro_value_set_null(&br);
        set_field(&v, "sample_count", &f), avro_value_set_int(&f, 15);
        set_field(&v, "completeness", &f), avro_value_set_double(&f, 1.0);
        set_field(&v, "revision", &f), avro_value_set_int(&f, 0);
        set_field(&v, "watermark_ts", &f), avro_value_set_long(&f, (t + 900) * 1000);
        ck_assert_msg(bus_produce(p, "energy.load", SITE, &v, (t + 900) * 1000, err,
                                  sizeof err) == 0,
                      "%s", err);
        avro_value_decref(&v);
    }
    ck_assert_msg(bus_producer_flush(p, 60000, err, sizeof err) == 0, "%s", err);
    bus_producer_destroy(p);
    bus_destroy(b);
}

static double wx_temp(int h)
{
    return 4.0 + 0.25 * h;
}

/* An Open-Meteo answer: WX_HOURS hourly temperatures from day 7, UTC. */
static void write_forecast_json(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/forecast.json", tmpdir);
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
    child = fork();
    ck_assert(child >= 0);
    if (child == 0) {
        char bin[1024], models[512], url[128];
        snprintf(models, sizeof models, "%s/models", tmpdir);
        snprintf(url, sizeof url, "http://127.0.0.1:%s/forecast.json", web_port);
        if (chdir(env("EMS_TEST_ROOT")) != 0)
            _exit(126);
        setenv("EMS_BUS_BOOTSTRAP", env("EMS_TEST_BOOTSTRAP"), 1);
        setenv("EMS_BUS_REGISTRY_URL", env("EMS_TEST_REGISTRY"), 1);
        setenv("EMS_BUS_TOPIC_PREFIX", prefix, 1);
        setenv("EMS_HTTP_PORT", port, 1);
        setenv("EMS_LOG_LEVEL", "warn", 1);
        setenv("EMS_FORECASTER_GROUP_ID", group, 1);
        setenv("EMS_FORECASTER_MODEL_DIR", models, 1);
        setenv("EMS_FORECASTER_BACKFILL", "0", 1);
        /* the topics are new: the replay finds nothing (ends after
         * restore_empty), and the test waits for its end before the load */
        setenv("EMS_FORECASTER_RESTORE_IDLE", "5s", 1);
        setenv("EMS_FORECASTER_RESTORE_EMPTY", "2s", 1);
        setenv("EMS_FORECASTER_RESTORE_MAX", "10m", 1);
        setenv("EMS_WEATHER_DIR", "", 1);
        setenv("EMS_WEATHER_URL", url, 1);
        setenv("EMS_WEATHER_URL_SITE", SITE, 1);
        setenv("EMS_WEATHER_POLL_INTERVAL", "2s", 1);
        setenv("EMS_WEATHER_TIMEOUT", "10s", 1);
        setenv("EMS_WEATHER_RETRIES", "2", 1);
        setenv("EMS_WEATHER_BACKOFF", "100ms", 1);
        setenv("EMS_WEATHER_BACKOFF_MAX", "1s", 1);
        snprintf(bin, sizeof bin, "%s/forecaster", env("EMS_TEST_BIN"));
        execl(bin, bin, "--config", "tools/stack/conf/forecaster.yaml", (char *)NULL);
        _exit(127);
    }
}

static void start_web(void)
{
    web = fork();
    ck_assert(web >= 0);
    if (web == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 1), dup2(null, 2);
        execlp("python3", "python3", "-m", "http.server", web_port, "--bind",
               "127.0.0.1", "--directory", tmpdir, (char *)NULL);
        _exit(127);
    }
}

static int stop_child(pid_t *pid)
{
    int st = 0;
    if (*pid <= 0)
        return -1;
    kill(*pid, SIGTERM);
    waitpid(*pid, &st, 0);
    *pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The output of `curl -s -m 30 -w ' %{http_code}' http://127.0.0.1:<port><path>`. */
static void http_get(const char *path, char *out, size_t size)
{
    char cmd[256];
    size_t n = 0;
    snprintf(cmd, sizeof cmd,
             "curl -s -m 30 -w ' %%{http_code}' http://127.0.0.1:%s%s", port, path);
    FILE *f = popen(cmd, "r");
    out[0] = '\0';
    if (!f)
        return;
    n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    pclose(f);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void assert_running(void)
{
    int st;
    ck_assert_msg(waitpid(child, &st, WNOHANG) == 0, "the forecaster exited");
}

static double metric(const char *name)
{
    char body[65536], *line, *save = NULL;
    double v = -1;
    http_get("/metrics", body, sizeof body);
    for (line = strtok_r(body, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, name, strlen(name)) == 0 && line[strlen(name)] == ' ')
            v = atof(line + strlen(name) + 1);
    return v;
}

static void wait_metric(const char *name, double want)
{
    double got = -1, end = mono_s() + WAIT_S;
    while ((got = metric(name)) < want && mono_s() < end) {
        assert_running();
        usleep(100000);
    }
    ck_assert_msg(got >= want, "%s: %g after %.0f s, expected at least %g", name, got,
                  WAIT_S, want);
}

/* Waits until /readyz answers with status `code` and a body containing
 * both needles (the second may be NULL); fails with the last answer. */
static void wait_readyz(const char *code, const char *needle, const char *needle2)
{
    char body[4096] = "";
    double end = mono_s() + WAIT_S;
    while (mono_s() < end) {
        assert_running();
        http_get("/readyz", body, sizeof body);
        size_t n = strlen(body);
        if (n > 3 && !strcmp(body + n - 3, code) && strstr(body, needle) &&
            (!needle2 || strstr(body, needle2)))
            return;
        usleep(100000);
    }
    ck_abort_msg("/readyz: '%s', expected %s with '%s'%s%s", body, code, needle,
                 needle2 ? " and " : "", needle2 ? needle2 : "");
}

/* ---- reading the topics ---- */

static bus_consumer_t *reader(bus_t *b, const char *topic)
{
    char err[512], g[128];
    const char *topics[] = {topic};
    snprintf(g, sizeof g, "%s-%s", group, topic);
    bus_consumer_t *c = bus_consumer_new(b, g, topics, 1, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    return c;
}

static const char *opt_string(avro_value_t *v, const char *name)
{
    avro_value_t f, br;
    const char *s = NULL;
    size_t len;
    set_field(v, name, &f);
    ck_assert(avro_value_get_current_branch(&f, &br) == 0);
    if (avro_value_get_type(&br) == AVRO_NULL)
        return "";
    avro_value_get_string(&br, &s, &len);
    return s;
}

/* Reads until at least one forecast came; every one read must say
 * weather_source_degraded. Returns how many were read. */
static int degraded_forecasts(bus_consumer_t *c)
{
    char err[512];
    int n = 0;
    double end = mono_s() + WAIT_S;
    while (n == 0 && mono_s() < end) {
        bus_record_t *recs;
        int got = bus_consumer_poll(c, &recs, 500, 200, err, sizeof err);
        ck_assert_msg(got >= 0, "%s", err);
        for (int k = 0; k < got; k++, n++) {
            const char *q = opt_string(&recs[k].value, "quality_reason");
            ck_assert_msg(strstr(q, "weather_source_degraded") != NULL,
                          "quality_reason '%s'", q);
        }
        if (n == 0)
            assert_running();
    }
    ck_assert_msg(n > 0, "no forecast on energy.forecast within %.0f s", WAIT_S);
    return n;
}

/* The record the HTTP source published: slots and temperatures of the file. */
static void check_weather_record(bus_consumer_t *c)
{
    char err[512], site[64], reason[128];
    int found = 0;
    fc_wxdata wx;
    fc_wxdata_init(&wx);
    double end = mono_s() + WAIT_S;
    while (!found && mono_s() < end) {
        bus_record_t *recs;
        int got = bus_consumer_poll(c, &recs, 500, 200, err, sizeof err);
        ck_assert_msg(got >= 0, "%s", err);
        for (int k = 0; k < got && !found; k++) {
            avro_value_t f;
            const char *prov;
            size_t len;
            set_field(&recs[k].value, "provider", &f);
            avro_value_get_string(&f, &prov, &len);
            if (strcmp(prov, "http:open-meteo"))
                continue;
            ck_assert_int_eq(fc_codec_weather(&recs[k].value, site, sizeof site, &wx,
                                              reason, sizeof reason),
                             0);
            found = 1;
        }
    }
    ck_assert_msg(found, "no http:open-meteo record on energy.weather");
    ck_assert_str_eq(site, SITE);
    ck_assert_uint_eq(wx.n, WX_HOURS);
    ck_assert_int_eq(wx.slot_sec, 3600);
    int tc = fc_wxdata_find(&wx, FC_WX_TEMP);
    ck_assert_int_ge(tc, 0);
    for (int h = 0; h < WX_HOURS; h++) {
        ck_assert_int_eq(wx.t[h], T0 + 7 * DAY + h * 3600);
        ck_assert_double_eq_tol(wx.v[h * wx.nvar + (size_t)tc], wx_temp(h), 1e-9);
    }
    fc_wxdata_release(&wx);
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
    wait_readyz("503", "\"history\":{\"ok\":true}", "degraded");
    produce_load();
    ck_assert_int_ge(degraded_forecasts(fc), 1);

    start_web();
    wait_metric("ems_forecaster_weather_fetches_total{result=\"ok\"}", 1);
    wait_readyz("200", "\"weather\":{\"ok\":true}", NULL);
    check_weather_record(wx);
    bus_consumer_destroy(fc);
    bus_consumer_destroy(wx);
    bus_destroy(b);
    ck_assert_int_eq(stop_child(&child), 0);
}
END_TEST

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert(fd >= 0);
    ck_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    ck_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void setup(void)
{
    /* pid and start time: a pid alone comes back on a broker that lives
     * longer than the pid space takes to wrap */
    long id = (long)time(NULL) % 100000000L;
    int p1 = free_port(), p2;
    while ((p2 = free_port()) == p1)
        ;
    snprintf(prefix, sizeof prefix, "fcw%d-%ld.", (int)getpid(), id);
    snprintf(group, sizeof group, "forecaster-wx-%d-%ld", (int)getpid(), id);
    snprintf(port, sizeof port, "%d", p1);
    snprintf(web_port, sizeof web_port, "%d", p2);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ems-fcw-%d-%ld", (int)getpid(), id);
    ck_assert(mkdir(tmpdir, 0755) == 0);
}

static void teardown(void)
{
    char cmd[512];
    stop_child(&child);
    stop_child(&web);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(void)
{
    Suite *s = suite_create("forecaster_weather");
    TCase *tc = tcase_create("http");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, unreachable_endpoint_degrades_then_recovers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
