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
#include "forecaster/fc_codec.h"
#include "forecaster/fc_site.h"
#include "plant/plant.h"
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
#define MAX_SLOTS 100

static char prefix[64], group[64], tmpdir[256];
static int port;
static pid_t child;
static tfc_data nl;

typedef struct run {
    int kind;
    int64_t issued;
    char model[32], version[64];
    int fallback;
    size_t n;
    int64_t t[MAX_SLOTS];
    double p10[MAX_SLOTS], p50[MAX_SLOTS], p90[MAX_SLOTS];
} run;

static run want[MAX_RUNS]; /* the core's */
static run got[MAX_RUNS];  /* published, sorted by issue time then kind */
static int ngot;

static bus_t *test_bus(void)
{
    return th_bus_new(&(bus_conf_t){.topic_prefix = prefix});
}

/* ---- the service ---- */

static void start_forecaster(void)
{
    char bin[1024];
    th_env_list e = {0};
    th_env_add_bus(&e, NULL, prefix);
    th_env_add(&e, "EMS_HTTP_PORT=%d", port);
    th_env_add(&e, "EMS_LOG_LEVEL=warn");
    th_env_add(&e, "EMS_FORECASTER_GROUP_ID=%s", group);
    th_env_add(&e, "EMS_FORECASTER_MODEL_DIR=%s/models", tmpdir);
    th_env_add(&e, "EMS_FORECASTER_BATCH=20000");
    th_env_add(&e, "EMS_FORECASTER_BACKFILL=48h");
    th_env_add(&e, "EMS_FORECASTER_WARMUP=%dh", WARMUP_DAYS * 24);
    th_env_add(&e, "EMS_FORECASTER_RESTORE_IDLE=4s");
    th_env_add(&e, "EMS_FORECASTER_RESTORE_EMPTY=3s");
    th_env_add(&e, "EMS_FORECASTER_RESTORE_MAX=10m");
    th_env_add(&e, "EMS_FORECASTER_TREE_ROUNDS=%d", TREE_ROUNDS);
    th_env_add(&e, "EMS_FORECASTER_TREE_DEPTH=%d", TREE_DEPTH);
    th_bin(bin, sizeof bin, "forecaster");
    const char *argv[] = {bin, "--config", "tools/stack/conf/forecaster.yaml", NULL};
    child = th_spawn(
        &(th_spawn_opts){.argv = argv, .env = &e, .cwd = th_env("EMS_TEST_ROOT")});
    th_env_release(&e);
}

static void produce(int weather)
{
    char err[512];
    bus_t *b = test_bus();
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    if (weather)
        for (int64_t d = nl.day0; d < nl.day0 + WX_DAYS * DAY; d += DAY)
            tfc_produce_weather_day(b, p, &nl, SITE, d, -1);
    else
        for (int64_t t = nl.day0; t < nl.day0 + LOAD_DAYS * DAY; t += 900)
            if (!isnan(tfc_load_kw(&nl, t)))
                tfc_produce_interval(b, p, SITE, t, tfc_load_kw(&nl, t));
    ck_assert_msg(bus_producer_flush(p, 60000, err, sizeof err) == 0, "%s", err);
    bus_producer_destroy(p);
    bus_destroy(b);
}

/* ---- the core, one record at a time ---- */

static fc_site *local_site(void)
{
    char err[256], path[1024], days[64][16];
    const char *hol[64];
    th_root(path, sizeof path, "tools/stack/plant.yaml");
    plant_t *plant = plant_load(path, err, sizeof err);
    ck_assert_msg(plant != NULL, "%s", err);
    const plant_site_t *ps = plant_site(plant, SITE);
    ck_assert(ps != NULL && ps->nholidays <= 64);
    for (size_t h = 0; h < ps->nholidays; h++) {
        int d = ps->holidays[h];
        snprintf(days[h], sizeof days[h], "%04d-%02d-%02d", d / 10000, d / 100 % 100,
                 d % 100);
        hol[h] = days[h];
    }
    fc_params p;
    fc_site_conf sc;
    fc_params_default(&p, 900);
    p.xgb.rounds = TREE_ROUNDS;
    p.xgb.max_depth = TREE_DEPTH;
    fc_site_conf_default(&sc, 900);
    sc.warmup = WARMUP_DAYS * DAY;
    sc.max_slots = (size_t)((p.window_days + 35) * (DAY / 900)); /* as the service */
    fc_site *s =
        fc_site_new(SITE, ps->timezone, hol, ps->nholidays, &p, &sc, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    plant_destroy(plant);
    return s;
}

/* The weather day from `day`, as tfc_produce_weather_day() sends it: issued
 * at 00:00 UTC the day before, every slot a forecast. */
static void put_weather_day(fc_site *s, int64_t day)
{
    char why[128];
    for (int64_t t = day; t < day + DAY; t += 900)
        for (int j = 0; j < TFC_NWX; j++)
            if (!isnan(tfc_wx(&nl, j, t)))
                fc_site_put_weather_from(s, tfc_wx_names[j], t, 900, tfc_wx(&nl, j, t),
                                         0, day - DAY, why, sizeof why);
}

/* Every run the core issues living through the weeks: the weather of day d
 * comes at its issue time (before the interval that ends then), each
 * interval is followed by the runs it made due. Returns the count. */
static int core_runs(run *out, int max)
{
    char why[128];
    fc_site *s = local_site();
    fc_forecast f;
    fc_forecast_init(&f);
    int n = 0;
    int64_t next_day = nl.day0;
    for (int64_t t = nl.day0; t < nl.day0 + LOAD_DAYS * DAY; t += 900) {
        for (; next_day - DAY <= t + 900 && next_day < nl.day0 + WX_DAYS * DAY;
             next_day += DAY)
            put_weather_day(s, next_day);
        if (!isnan(tfc_load_kw(&nl, t)))
            ck_assert_int_eq(
                fc_site_put_load(s, t, t + 900, tfc_load_kw(&nl, t), 0, why, sizeof why),
                FC_PUT_STORED);
        fc_kind k;
        int64_t at;
        while (fc_site_due(s, &k, &at, NULL)) {
            ck_assert_int_eq(fc_site_issue(s, k, at, &f, NULL), 0);
            ck_assert_int_lt(n, max);
            run *r = &out[n++];
            r->kind = (int)k;
            r->issued = at;
            snprintf(r->model, sizeof r->model, "%s", f.model);
            snprintf(r->version, sizeof r->version, "%s", f.version);
            r->fallback = f.fallback[0] != '\0';
            ck_assert_uint_le(f.n, MAX_SLOTS);
            r->n = f.n;
            for (size_t i = 0; i < f.n; i++) {
                r->t[i] = f.slots[i].t;
                r->p10[i] = f.slots[i].p10;
                r->p50[i] = f.slots[i].p50;
                r->p90[i] = f.slots[i].p90;
            }
        }
    }
    fc_forecast_release(&f);
    fc_site_destroy(s);
    return n;
}

/* ---- reading energy.forecast ---- */

static void take_forecast(avro_value_t *v)
{
    char site[64], reason[128];
    int kind, b;
    int64_t at;
    avro_value_t f, arr, e;
    const char *str;
    size_t len, n = 0;
    ck_assert(fc_codec_forecast_head(v, site, sizeof site, &kind, &at, reason,
                                     sizeof reason) == 0);
    for (int i = 0; i < ngot; i++)
        ck_assert_msg(got[i].issued != at || got[i].kind != kind,
                      "run %s %lld published twice", kind ? "intraday" : "day-ahead",
                      (long long)at);
    ck_assert_int_lt(ngot, MAX_RUNS);
    run *r = &got[ngot++];
    r->kind = kind;
    r->issued = at;
    th_field(v, "model_name", &f), avro_value_get_string(&f, &str, &len);
    snprintf(r->model, sizeof r->model, "%s", str);
    th_field(v, "model_version", &f), avro_value_get_string(&f, &str, &len);
    snprintf(r->version, sizeof r->version, "%s", str);
    th_field(v, "fallback", &f), avro_value_get_boolean(&f, &b);
    r->fallback = b;
    th_field(v, "slots", &arr);
    avro_value_get_size(&arr, &n);
    ck_assert_uint_le(n, MAX_SLOTS);
    r->n = n;
    for (size_t i = 0; i < n; i++) {
        int64_t t;
        avro_value_get_by_index(&arr, i, &e, NULL);
        th_field(&e, "slot_start", &f), avro_value_get_long(&f, &t);
        r->t[i] = t / 1000;
        th_field(&e, "p10_kw", &f), avro_value_get_double(&f, &r->p10[i]);
        th_field(&e, "p50_kw", &f), avro_value_get_double(&f, &r->p50[i]);
        th_field(&e, "p90_kw", &f), avro_value_get_double(&f, &r->p90[i]);
    }
}

static int take_record(bus_record_t *rec, void *ctx)
{
    (void)ctx;
    take_forecast(&rec->value);
    return 0;
}

static int enough_runs(int n, void *ctx)
{
    (void)n;
    return ngot >= *(int *)ctx;
}

static int cmp_runs(const void *a, const void *b)
{
    const run *x = a, *y = b;
    if (x->issued != y->issued)
        return x->issued < y->issued ? -1 : 1;
    return x->kind - y->kind; /* the day-ahead first, as issued */
}

START_TEST(burst_matches_one_record_at_a_time)
{
    char g[96];
    tfc_data_read(&nl);
    start_forecaster();
    th_reply ready = th_wait_http(port, "/readyz", 200, NULL, child, WAIT_S);
    th_reply_release(&ready); /* the start-up replay is over */
    /* weather first, as forecasts are published ahead of the load, then
     * seven weeks of load at once */
    produce(1);
    th_wait_metric(port, "ems_forecaster_records_total{topic=\"energy.weather\"}",
                   WX_DAYS, child, WAIT_S);
    produce(0);

    int nwant = core_runs(want, MAX_RUNS);
    ck_assert_int_ge(nwant, 7 * 25); /* a week of hourly and daily runs */
    bus_t *b = test_bus();
    snprintf(g, sizeof g, "%s-reader", group);
    bus_consumer_t *c = th_consumer(b, g, "energy.forecast");
    th_consume(c, &(th_consume_opts){.timeout_s = WAIT_S,
                                     .alive = child,
                                     .each = take_record,
                                     .done = enough_runs,
                                     .ctx = &nwant});
    bus_consumer_destroy(c);
    bus_destroy(b);
    ck_assert_msg(ngot == nwant, "%d runs published, the core issued %d", ngot, nwant);
    ck_assert_double_eq(th_metric(port, "ems_forecaster_skipped_runs_total"), 0);
    qsort(got, (size_t)ngot, sizeof *got, cmp_runs);
    for (int i = 0; i < nwant; i++) {
        const run *x = &want[i], *y = &got[i];
        ck_assert_int_eq(x->kind, y->kind);
        ck_assert_int_eq(x->issued, y->issued);
        ck_assert_str_eq(x->model, y->model);
        ck_assert_str_eq(x->version, y->version);
        ck_assert_int_eq(x->fallback, y->fallback);
        ck_assert_uint_eq(x->n, y->n);
        for (size_t k = 0; k < x->n; k++) {
            ck_assert_int_eq(x->t[k], y->t[k]);
            ck_assert_msg(x->p10[k] == y->p10[k] && x->p50[k] == y->p50[k] &&
                              x->p90[k] == y->p90[k],
                          "run %d (%lld) slot %zu: %.17g/%.17g/%.17g published, "
                          "%.17g/%.17g/%.17g by the core",
                          i, (long long)x->issued, k, y->p10[k], y->p50[k], y->p90[k],
                          x->p10[k], x->p50[k], x->p90[k]);
        }
    }
    /* six weeks of history: the trees serve the last runs */
    ck_assert_str_eq(got[ngot - 1].model, "xgboost");
    ck_assert_int_eq(th_stop(&child), 0);
}
END_TEST

static void setup(void)
{
    th_unique(prefix, sizeof prefix, "fcb", ".");
    th_unique(group, sizeof group, "forecaster-burst-", "");
    port = th_free_port();
    th_tmpdir(tmpdir, sizeof tmpdir, "fcb");
    ngot = 0;
}

static void teardown(void)
{
    th_stop(&child);
    th_rmtree(tmpdir);
    tfc_data_release(&nl);
}

int main(int argc, char **argv)
{
    /* the core trains trees here too: libgomp must not spin (ADR 0011) */
    (void)argc;
    th_reexec_with(argv, "OMP_WAIT_POLICY", "PASSIVE");
    Suite *s = suite_create("forecaster_burst");
    TCase *tc = tcase_create("burst");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, burst_matches_one_record_at_a_time);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 1);
}
