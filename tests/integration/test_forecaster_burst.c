/*
 * Integration test of the forecaster's event time against the test stack
 * (devbroker, devregistry; EMS_TEST_* variables): seven weeks of the real
 * Dutch substation history are produced in one burst while the service
 * runs, and it consumes them in batches of up to 20,000 records, each
 * spanning weeks of event time, with the default backfill (48 h). Every
 * run, day-ahead and intraday, must still be published once, with the issue
 * time, model, version and P10/P50/P90 of the core fed one record at a time
 * (fc_site_put_*() then the runs that record made due), as a service living
 * through those weeks would have issued them.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "forecaster/fc_site.h"
#include "support/fc_replay.h"
#include "support/harness.h"

#define SITE "nl-neerijnen"
#define DAY 86400
#define LOAD_DAYS 49
#define WARMUP_DAYS 42
#define WX_DAYS (LOAD_DAYS + 3)
/* smaller trees than the default, in the service and in the core alike */
#define TREE_ROUNDS 50
#define TREE_DEPTH 4
#define WAIT_S 600.0
#define MAX_RUNS 400

static tfc_fixture fx;

static tfc_run want[MAX_RUNS]; /* the core's */
static tfc_run got[MAX_RUNS];  /* published, sorted by issue time then kind */
static int ngot;

/* ---- the service ---- */

static void start_forecaster(void)
{
    th_env_list e = {0};
    th_env_add(&e, "EMS_FORECASTER_BATCH=20000");
    th_env_add(&e, "EMS_FORECASTER_BACKFILL=48h");
    tfc_env_add_replay(&e, WARMUP_DAYS, TREE_ROUNDS, TREE_DEPTH, "3s");
    fx.child = tfc_start_forecaster(fx.prefix, fx.port, fx.group, fx.tmpdir, &e);
    th_env_release(&e);
}

static void produce(int weather)
{
    tfc_pub pub;
    tfc_pub_open(&pub, fx.prefix);
    if (weather)
        tfc_produce_weather_days(&pub, &fx.nl, SITE, 0, WX_DAYS);
    else
        tfc_produce_load(&pub, &fx.nl, SITE, fx.nl.day0, fx.nl.day0 + LOAD_DAYS * DAY);
    tfc_pub_close(&pub);
}

/* ---- the core, one record at a time ---- */

static fc_site *local_site(void)
{
    fc_params p;
    fc_site_conf sc;
    tfc_conf(&p, &sc, TREE_ROUNDS, TREE_DEPTH, WARMUP_DAYS * DAY);
    sc.max_slots =
        (size_t)(p.window_days + 35) * (size_t)(DAY / 900); /* as the service */
    return tfc_new_site(SITE, &p, &sc);
}

/* The weather day from `day`, as tfc_produce_weather_day() sends it: issued
 * at 00:00 UTC the day before, every slot a forecast. */
static void put_weather_day(fc_site *s, int64_t day)
{
    char why[128];
    for (int64_t t = day; t < day + DAY; t += 900)
        for (int j = 0; j < TFC_NWX; j++)
            if (!isnan(tfc_wx(&fx.nl, j, t)))
                fc_site_put_weather_from(s, tfc_wx_names[j], t, 900,
                                         tfc_wx(&fx.nl, j, t), 0, day - DAY, why,
                                         sizeof why);
}

/* Every run the core issues living through the weeks: the weather of day d
 * comes at its issue time (before the interval that ends then), each
 * interval is followed by the runs it made due. Returns the count. */
static int core_runs(tfc_run *out, int max)
{
    char why[128];
    fc_site *s = local_site();
    fc_forecast f;
    fc_forecast_init(&f);
    int n = 0;
    int64_t next_day = fx.nl.day0;
    for (int64_t t = fx.nl.day0; t < fx.nl.day0 + LOAD_DAYS * DAY; t += 900) {
        for (; next_day - DAY <= t + 900 && next_day < fx.nl.day0 + WX_DAYS * DAY;
             next_day += DAY)
            put_weather_day(s, next_day);
        if (!isnan(tfc_load_kw(&fx.nl, t)))
            ck_assert_int_eq(fc_site_put_load(s, t, t + 900, tfc_load_kw(&fx.nl, t), 0,
                                              why, sizeof why),
                             FC_PUT_STORED);
        fc_kind k;
        int64_t at;
        while (fc_site_due(s, &k, &at, NULL)) {
            ck_assert_int_eq(fc_site_issue(s, k, at, &f, NULL), 0);
            ck_assert_int_lt(n, max);
            tfc_run_from(&f, &out[n++]);
        }
    }
    fc_forecast_release(&f);
    fc_site_destroy(s);
    return n;
}

/* ---- reading energy.forecast ---- */

/* Keeps every run, failing the test on one published twice. */
static void take_run(const tfc_run *r, void *ctx)
{
    (void)ctx;
    for (int i = 0; i < ngot; i++)
        ck_assert_msg(got[i].issued != r->issued || got[i].kind != r->kind,
                      "run %s %lld published twice", r->kind ? "intraday" : "day-ahead",
                      (long long)r->issued);
    ck_assert_int_lt(ngot, MAX_RUNS);
    got[ngot++] = *r;
}

static int enough_runs(int n, void *ctx)
{
    (void)n;
    return ngot >= *(int *)ctx;
}

static int cmp_runs(const void *a, const void *b)
{
    const tfc_run *x = a, *y = b;
    if (x->issued != y->issued)
        return x->issued < y->issued ? -1 : 1;
    return x->kind - y->kind; /* the day-ahead first, as issued */
}

START_TEST(burst_matches_one_record_at_a_time)
{
    tfc_reader rd;
    tfc_data_read(&fx.nl);
    start_forecaster();
    th_reply ready = th_wait_http(fx.port, "/readyz", 200, NULL, fx.child, WAIT_S);
    th_reply_release(&ready); /* the start-up replay is over */
    /* weather first, as forecasts are published ahead of the load, then
     * seven weeks of load at once */
    produce(1);
    th_wait_metric(fx.port, "ems_forecaster_records_total{topic=\"energy.weather\"}",
                   WX_DAYS, fx.child, WAIT_S);
    produce(0);

    int nwant = core_runs(want, MAX_RUNS);
    ck_assert_int_ge(nwant, 7 * 25); /* a week of hourly and daily runs */
    tfc_reader_open(&rd, fx.prefix, fx.group);
    tfc_read_runs(&rd, &(tfc_read_opts){.timeout_s = WAIT_S,
                                        .alive = fx.child,
                                        .take = take_run,
                                        .done = enough_runs,
                                        .ctx = &nwant});
    tfc_reader_close(&rd);
    ck_assert_msg(ngot == nwant, "%d runs published, the core issued %d", ngot, nwant);
    ck_assert_double_eq(th_metric(fx.port, "ems_forecaster_skipped_runs_total"), 0);
    qsort(got, (size_t)ngot, sizeof *got, cmp_runs);
    for (int i = 0; i < nwant; i++)
        tfc_runs_assert_eq(&want[i], &got[i], TFC_BANDS, i);
    /* six weeks of history: the trees serve the last runs */
    ck_assert_str_eq(got[ngot - 1].model, "xgboost");
    ck_assert_int_eq(th_stop(&fx.child), 0);
}
END_TEST

static void setup(void)
{
    tfc_fixture_setup(&fx, "fcb", "forecaster-burst-");
    ngot = 0;
}

static void teardown(void)
{
    tfc_fixture_teardown(&fx);
}

int main(int argc, char **argv)
{
    (void)argc;
    return tfc_main(argv, "forecaster_burst", burst_matches_one_record_at_a_time, setup,
                    teardown);
}
