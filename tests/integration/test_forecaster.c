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
 * interval and a NaN weather slot go to the DLQ and are counted, and so
 * does a weather slot with a mistyped year; a weather
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
#define TREE_DEPTH 4
/* Bound of every wait, in seconds: far above what any step needs (the
 * suite also runs under ASan on a loaded 2-core host). */
#define WAIT_S 600.0
#define WARMUP_DAYS 60
#define MAX_RUNS 16

static tfc_fixture fx;

static tfc_run runs[MAX_RUNS]; /* the day-ahead runs published */
static int nruns;

/* A forecast issued on day 10 whose second slot has a mistyped year, 3000
 * days ahead: to the DLQ. Taken, it made the site keep only the history
 * window before that slot, dropping every temperature held. */
static void produce_weather_years_ahead(tfc_pub *pub)
{
    avro_value_t v, f, arr, e, m;
    char err[512];
    int64_t issued = fx.nl.day0 + 10 * DAY,
            slot[2] = {issued + DAY, issued + 3000LL * DAY};
    ck_assert(bus_value_new(pub->bus, "energy.weather", &v, err, sizeof err) == 0);
    th_field(&v, "site_id", &f), avro_value_set_string(&f, SITE);
    th_field(&v, "provider", &f), avro_value_set_string(&f, "test:mistyped");
    th_set_long(&v, "issued_at", issued * 1000);
    th_field(&v, "slot_minutes", &f), avro_value_set_int(&f, 15);
    th_field(&v, "slots", &arr);
    for (int i = 0; i < 2; i++) {
        ck_assert(avro_value_append(&arr, &e, NULL) == 0);
        th_set_long(&e, "slot_start", slot[i] * 1000);
        th_field(&e, "kind", &f), avro_value_set_enum(&f, 1);
        th_set_opt_double(&e, "temperature_c", 1, 5.0);
        th_field(&e, "variables", &m);
    }
    ck_assert_msg(bus_produce(pub->p, "energy.weather", SITE, &v, issued * 1000, err,
                              sizeof err) == 0,
                  "%s", err);
    avro_value_decref(&v);
}

static void produce_weather(void)
{
    tfc_pub pub;
    tfc_pub_open(&pub, fx.prefix);
    tfc_produce_weather_days(&pub, &fx.nl, SITE, 0, LOAD_DAYS + 3);
    tfc_produce_weather_day(pub.bus, pub.p, &fx.nl, SITE, fx.nl.day0 + 200 * DAY,
                            5); /* NaN: to the DLQ */
    produce_weather_years_ahead(&pub);
    tfc_pub_close(&pub);
}

static void produce_load(void)
{
    int64_t bad = fx.nl.day0 + 20 * DAY;
    tfc_pub pub;
    tfc_pub_open(&pub, fx.prefix);
    tfc_produce_load(&pub, &fx.nl, SITE, fx.nl.day0, bad + 900);
    /* to the DLQ; the history keeps the good one */
    tfc_produce_interval(pub.bus, pub.p, SITE, bad, NAN);
    /* a mistyped year, years ahead of the clock: also to the DLQ (it would
     * move the site's clock there and issue every run up to it) */
    tfc_produce_interval(pub.bus, pub.p, SITE, fx.nl.day0 + 3000LL * DAY + 900, 1000.0);
    tfc_produce_load(&pub, &fx.nl, SITE, bad + 900, fx.nl.day0 + LOAD_DAYS * DAY);
    tfc_pub_close(&pub);
}

/* The same inputs into a local site state, in the order the service gets
 * them (weather first), so columns and values match. */
static fc_site *local_site(void)
{
    return tfc_local_site(&fx.nl, SITE, TREE_ROUNDS, TREE_DEPTH, 0, LOAD_DAYS);
}

/* ---- the forecaster child ---- */

static void start_forecaster(void)
{
    th_env_list e = {0};
    tfc_env_add_replay(&e, WARMUP_DAYS, TREE_ROUNDS, TREE_DEPTH, "60s");
    th_env_add(&e, "EMS_WEATHER_DIR=%s/weather", fx.tmpdir);
    th_env_add(&e, "EMS_WEATHER_SCAN_INTERVAL=200ms");
    /* the broken file below looks cut off: reject it at once rather than
     * wait for its writer */
    th_env_add(&e, "EMS_WEATHER_UNFINISHED_WAIT=0s");
    fx.child = tfc_start_forecaster(fx.prefix, fx.port, fx.group, fx.tmpdir, &e);
    th_env_release(&e);
}

static void wait_metric(const char *name, double want)
{
    th_wait_metric(fx.port, name, want, fx.child, WAIT_S);
}

/* ---- reading the forecasts ---- */

/* Keeps each day-ahead run once (a redelivery is dropped). */
static void take_run(const tfc_run *r, void *ctx)
{
    (void)ctx;
    if (r->kind != FC_DAY_AHEAD)
        return;
    for (int i = 0; i < nruns; i++)
        if (runs[i].issued == r->issued)
            return; /* a redelivery */
    ck_assert_int_lt(nruns, MAX_RUNS);
    runs[nruns++] = *r;
}

static int enough_runs(int got, void *ctx)
{
    (void)got;
    return nruns >= *(int *)ctx;
}

static void collect_day_ahead(int want)
{
    tfc_reader rd;
    tfc_reader_open(&rd, fx.prefix, fx.group);
    tfc_read_runs(&rd, &(tfc_read_opts){.timeout_s = WAIT_S,
                                        .alive = fx.child,
                                        .take = take_run,
                                        .done = enough_runs,
                                        .ctx = &want});
    tfc_reader_close(&rd);
    ck_assert_msg(nruns >= want, "%d day-ahead runs after %.0f s, expected %d", nruns,
                  WAIT_S, want);
}

static int cmp_runs(const void *a, const void *b)
{
    const tfc_run *x = a, *y = b;
    return x->issued < y->issued ? -1 : x->issued > y->issued;
}

static int count_files(const char *sub, const char *suffix)
{
    char path[512];
    int n = 0;
    snprintf(path, sizeof path, "%s/%s", fx.tmpdir, sub);
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
    snprintf(wxdir, sizeof wxdir, "%s/weather", fx.tmpdir);
    ck_assert(mkdir(wxdir, 0755) == 0);
    th_write_file(th_path(path, sizeof path, wxdir, SITE "_2021-01.csv"),
                  "time,temperature\n2021-01-01T00:00Z,2.5\n2021-01-01T01:00Z,2.0\n");
    th_write_file(th_path(path, sizeof path, wxdir, SITE "_broken.json"),
                  "{\"hourly\": {\"time\": [\"2021-01-01T00:00\"");
    tfc_data_read(&fx.nl);
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
                                                fx.nl.day0 + WARMUP_DAYS * DAY);
         at <= fx.nl.day0 + LOAD_DAYS * DAY;
         at = fc_site_issue_at_or_after(local, FC_DAY_AHEAD, at + 1))
        want++;
    ck_assert_int_ge(want, 7);
    collect_day_ahead(want);
    qsort(runs, (size_t)nruns, sizeof *runs, cmp_runs);

    for (int i = 0; i < nruns; i++)
        tfc_assert_core_run(local, &runs[i], i);
    /* with two months of history the trees win, and the run issued on
     * 2020-10-24 covers the 100 quarter-hours of the autumn DST day */
    ck_assert_str_eq(runs[nruns - 1].model, "xgboost");
    ck_assert_int_eq(runs[nruns - 1].fallback, 0);
    ck_assert_uint_eq(runs[nruns - 1].n, 100);
    fc_site_destroy(local);

    wait_metric("ems_forecaster_rejected_total{topic=\"energy.load\"}", 2);
    wait_metric("ems_forecaster_rejected_total{topic=\"energy.weather\"}", 2);
    wait_metric("ems_forecaster_weather_files_total{result=\"done\"}", 1);
    wait_metric("ems_forecaster_weather_files_total{result=\"rejected\"}", 1);
    ck_assert_int_eq(count_files("weather/done", ".csv"), 1);
    ck_assert_int_eq(count_files("weather/rejected", ".json"), 1);
    ck_assert_int_ge(count_files("models", ".model"), 2); /* day-ahead and intraday */
    /* every kind and fallback reason is a series, at 0 until it happens, so
     * an alert on its increase sees the first one (docs/alerts.md) */
    for (int k = 0; k < FC_NKINDS; k++)
        for (int f = 0; f < FC_NFALLBACKS; f++) {
            snprintf(name, sizeof name,
                     "ems_forecaster_fallbacks_total{kind=\"%s\",reason=\"%s\"}",
                     fc_kind_label((fc_kind)k), fc_fallback_name((fc_fallback_id)f));
            ck_assert_msg(th_metric(fx.port, name) >= 0, "no series %s", name);
        }
    ck_assert_int_eq(th_stop(&fx.child), 0);
}
END_TEST

static void setup(void)
{
    tfc_fixture_setup(&fx, "fct", "forecaster-test-");
}

static void teardown(void)
{
    tfc_fixture_teardown(&fx);
}

int main(int argc, char **argv)
{
    (void)argc;
    return tfc_main(argv, "forecaster", replay_matches_the_core, setup, teardown);
}
