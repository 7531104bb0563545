/*
 * Integration test of the forecaster service against the test stack
 * (devbroker, devregistry; EMS_TEST_* variables). The real
 * Dutch substation load (kW, as energy.load site intervals; ten weeks, the
 * last ten days forecast) and its NWP
 * weather (energy.weather) are replayed through the broker into the
 * forecaster binary, run as a child process. Every day-ahead record it
 * publishes must carry, slot for slot, the P50 that the core's
 * fc_forecaster_issue() gives here for the same issue time on the same
 * data (the backtest's code path), with the same model and version. A NaN
 * interval and a NaN weather slot go to the DLQ and are counted; a weather
 * file that parses moves to done/, one that does not to rejected/.
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bus/bus.h"
#include "forecaster/fc_codec.h"
#include "forecaster/fc_site.h"
#include "support/fc_replay.h"
#include "support/harness.h"

#define SITE "nl-neerijnen"
#define DAY 86400
#define LOAD_DAYS 70
/* Smaller trees than the default (150 rounds, depth 6), set in the service
 * through its configuration and here in the core: the test checks that
 * both agree, not the accuracy. */
#define TREE_ROUNDS 50
#define TREE_ROUNDS_S "50"
#define TREE_DEPTH 4
#define TREE_DEPTH_S "4"
/* Bound of every wait, in seconds: far above what any step needs (the
 * suite also runs under ASan on a loaded 2-core host). */
#define WAIT_S 600.0
#define WARMUP_DAYS 60
#define MAX_RUNS 16

static char prefix[64], group[64], tmpdir[256];
static int port;
static pid_t child;
static tfc_data nl; /* the data set */

typedef struct run {
    int64_t issued;
    char model[32], version[64];
    size_t n;
    double p50[100];
    int64_t t[100];
    int fallback;
} run;

static run runs[MAX_RUNS];
static int nruns;

static bus_t *test_bus(void)
{
    return th_bus_new(&(bus_conf_t){.topic_prefix = prefix});
}

static void produce_weather(void)
{
    char err[512];
    bus_t *b = test_bus();
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    for (int64_t d = nl.day0; d < nl.day0 + (LOAD_DAYS + 3) * DAY; d += DAY)
        tfc_produce_weather_day(b, p, &nl, SITE, d, -1);
    tfc_produce_weather_day(b, p, &nl, SITE, nl.day0 + 200 * DAY,
                            5); /* NaN: to the DLQ */
    ck_assert_msg(bus_producer_flush(p, 60000, err, sizeof err) == 0, "%s", err);
    bus_producer_destroy(p);
    bus_destroy(b);
}

static void produce_load(void)
{
    char err[512];
    bus_t *b = test_bus();
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    for (int64_t t = nl.day0; t < nl.day0 + LOAD_DAYS * DAY; t += 900) {
        if (!isnan(tfc_load_kw(&nl, t)))
            tfc_produce_interval(b, p, SITE, t, tfc_load_kw(&nl, t));
        if (t == nl.day0 + 20 * DAY)
            tfc_produce_interval(b, p, SITE, t,
                                 NAN); /* to the DLQ; the history keeps the good one */
    }
    ck_assert_msg(bus_producer_flush(p, 60000, err, sizeof err) == 0, "%s", err);
    bus_producer_destroy(p);
    bus_destroy(b);
}

/* The same inputs into a local site state, in the order the service gets
 * them (weather first), so columns and values match. */
static fc_site *local_site(void)
{
    return tfc_local_site(&nl, SITE, TREE_ROUNDS, TREE_DEPTH, 0, LOAD_DAYS);
}

/* ---- the forecaster child ---- */

static void start_forecaster(void)
{
    th_env_list e = {0};
    th_env_add(&e, "EMS_FORECASTER_WARMUP=1440h");
    /* the replay ends when the topics were quiet for restore_idle:
     * generous, so a slow broker under load does not cut it short */
    th_env_add(&e, "EMS_FORECASTER_RESTORE_IDLE=4s");
    th_env_add(&e, "EMS_FORECASTER_RESTORE_EMPTY=60s");
    th_env_add(&e, "EMS_FORECASTER_TREE_ROUNDS=" TREE_ROUNDS_S);
    th_env_add(&e, "EMS_FORECASTER_TREE_DEPTH=" TREE_DEPTH_S);
    th_env_add(&e, "EMS_WEATHER_DIR=%s/weather", tmpdir);
    th_env_add(&e, "EMS_WEATHER_SCAN_INTERVAL=200ms");
    child = tfc_start_forecaster(prefix, port, group, tmpdir, &e);
    th_env_release(&e);
}

static void wait_metric(const char *name, double want)
{
    th_wait_metric(port, name, want, child, WAIT_S);
}

/* ---- reading the forecasts ---- */

static void take_forecast(avro_value_t *v)
{
    char site[64], reason[128];
    int kind;
    int64_t at;
    avro_value_t f, arr, e;
    size_t n = 0;
    ck_assert(fc_codec_forecast_head(v, site, sizeof site, &kind, &at, reason,
                                     sizeof reason) == 0);
    if (kind != FC_DAY_AHEAD)
        return;
    for (int i = 0; i < nruns; i++)
        if (runs[i].issued == at)
            return; /* a redelivery */
    ck_assert_int_lt(nruns, MAX_RUNS);
    run *r = &runs[nruns++];
    const char *s;
    size_t len;
    int b;
    r->issued = at;
    th_field(v, "model_name", &f), avro_value_get_string(&f, &s, &len);
    snprintf(r->model, sizeof r->model, "%s", s);
    th_field(v, "model_version", &f), avro_value_get_string(&f, &s, &len);
    snprintf(r->version, sizeof r->version, "%s", s);
    th_field(v, "fallback", &f), avro_value_get_boolean(&f, &b);
    r->fallback = b;
    th_field(v, "slots", &arr);
    avro_value_get_size(&arr, &n);
    ck_assert_uint_le(n, 100);
    r->n = n;
    for (size_t i = 0; i < n; i++) {
        int64_t t;
        avro_value_get_by_index(&arr, i, &e, NULL);
        th_field(&e, "slot_start", &f), avro_value_get_long(&f, &t);
        r->t[i] = t / 1000;
        th_field(&e, "p50_kw", &f), avro_value_get_double(&f, &r->p50[i]);
    }
}

static int take_record(bus_record_t *rec, void *ctx)
{
    (void)ctx;
    take_forecast(&rec->value);
    return 0;
}

static int enough_runs(int got, void *ctx)
{
    (void)got;
    return nruns >= *(int *)ctx;
}

static void collect_day_ahead(int want)
{
    char g[96];
    bus_t *b = test_bus();
    snprintf(g, sizeof g, "%s-reader", group);
    bus_consumer_t *c = th_consumer(b, g, "energy.forecast");
    th_consume(c, &(th_consume_opts){.timeout_s = WAIT_S,
                                     .alive = child,
                                     .each = take_record,
                                     .done = enough_runs,
                                     .ctx = &want});
    bus_consumer_destroy(c);
    bus_destroy(b);
    ck_assert_msg(nruns >= want, "%d day-ahead runs after %.0f s, expected %d", nruns,
                  WAIT_S, want);
}

static int cmp_runs(const void *a, const void *b)
{
    const run *x = a, *y = b;
    return x->issued < y->issued ? -1 : x->issued > y->issued;
}

static int count_files(const char *sub, const char *suffix)
{
    char path[512];
    int n = 0;
    snprintf(path, sizeof path, "%s/%s", tmpdir, sub);
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t l = strlen(e->d_name), s = strlen(suffix);
        n += l > s && !strcmp(e->d_name + l - s, suffix);
    }
    if (d)
        closedir(d);
    return n;
}

START_TEST(replay_matches_the_core)
{
    char wxdir[512], name[160], path[600];
    snprintf(wxdir, sizeof wxdir, "%s/weather", tmpdir);
    ck_assert(mkdir(wxdir, 0755) == 0);
    th_write_file(th_path(path, sizeof path, wxdir, SITE "_2021-01.csv"),
                  "time,temperature\n2021-01-01T00:00Z,2.5\n2021-01-01T01:00Z,2.0\n");
    th_write_file(th_path(path, sizeof path, wxdir, SITE "_broken.json"),
                  "{\"hourly\": {\"time\": [\"2021-01-01T00:00\"");
    tfc_data_read(&nl);
    produce_weather();
    start_forecaster();
    /* weather first (as forecasts are published ahead of the load) */
    snprintf(name, sizeof name,
             "ems_forecaster_records_total{topic=\"energy.weather\"}");
    wait_metric(name, LOAD_DAYS + 3 + 1);
    produce_load();

    /* Day-ahead runs at 06:00 Amsterdam from nl.day0 + 60 d while the clock
     * (the last interval end, nl.day0 + 70 d) has passed them. */
    fc_site *local = local_site();
    int want = 0;
    for (int64_t at = fc_site_issue_at_or_after(local, FC_DAY_AHEAD,
                                                nl.day0 + WARMUP_DAYS * DAY);
         at <= nl.day0 + LOAD_DAYS * DAY;
         at = fc_site_issue_at_or_after(local, FC_DAY_AHEAD, at + 1))
        want++;
    ck_assert_int_ge(want, 7);
    collect_day_ahead(want);
    qsort(runs, (size_t)nruns, sizeof *runs, cmp_runs);

    fc_forecast f;
    fc_forecast_init(&f);
    for (int i = 0; i < nruns; i++) {
        run *r = &runs[i];
        ck_assert_int_eq(fc_forecaster_issue(fc_site_forecaster(local),
                                             fc_site_load(local),
                                             fc_site_weather(local), FC_DAY_AHEAD,
                                             r->issued, FC_MODEL_AUTO, &f),
                         0);
        ck_assert_uint_eq(r->n, f.n);
        ck_assert_str_eq(r->model, f.model);
        ck_assert_str_eq(r->version, f.version);
        ck_assert_int_eq(r->fallback, f.fallback[0] != '\0');
        for (size_t k = 0; k < f.n; k++) {
            ck_assert_int_eq(r->t[k], f.slots[k].t);
            ck_assert_msg(r->p50[k] == f.slots[k].p50,
                          "run %d slot %zu: %.17g vs %.17g", i, k, r->p50[k],
                          f.slots[k].p50);
        }
    }
    /* with two months of history the trees win, and the run issued on
     * 2020-10-24 covers the 100 quarter-hours of the autumn DST day */
    ck_assert_str_eq(runs[nruns - 1].model, "xgboost");
    ck_assert_int_eq(runs[nruns - 1].fallback, 0);
    ck_assert_uint_eq(runs[nruns - 1].n, 100);
    fc_forecast_release(&f);
    fc_site_destroy(local);

    wait_metric("ems_forecaster_rejected_total{topic=\"energy.load\"}", 1);
    wait_metric("ems_forecaster_rejected_total{topic=\"energy.weather\"}", 1);
    wait_metric("ems_forecaster_weather_files_total{result=\"done\"}", 1);
    wait_metric("ems_forecaster_weather_files_total{result=\"rejected\"}", 1);
    ck_assert_int_eq(count_files("weather/done", ".csv"), 1);
    ck_assert_int_eq(count_files("weather/rejected", ".json"), 1);
    ck_assert_int_ge(count_files("models", ".model"), 2); /* day-ahead and intraday */
    ck_assert_int_eq(th_stop(&child), 0);
}
END_TEST

static void setup(void)
{
    th_unique(prefix, sizeof prefix, "fct", ".");
    th_unique(group, sizeof group, "forecaster-test-", "");
    port = th_free_port();
    th_tmpdir(tmpdir, sizeof tmpdir, "fct");
}

static void teardown(void)
{
    th_stop(&child);
    th_rmtree(tmpdir);
    tfc_data_release(&nl);
}

int main(int argc, char **argv)
{
    /* The core trains trees here too: libgomp spin-waits unless told
     * otherwise, which on a busy host makes a training take ten times as
     * long (ADR 0011). It reads the variable when loaded, hence the
     * re-execution, as the forecaster binary does. */
    (void)argc;
    th_reexec_with(argv, "OMP_WAIT_POLICY", "PASSIVE");
    Suite *s = suite_create("forecaster");
    TCase *tc = tcase_create("replay");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, replay_matches_the_core);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 1);
}
