/*
 * Restart of the forecaster service against the test stack (devbroker,
 * devregistry; EMS_TEST_* variables). Eight weeks of the Dutch substation
 * load and its weather go through the broker into the forecaster binary in
 * two parts: after the runs of the first part are out the service is
 * stopped with SIGTERM and started again on the same topics, group and
 * model directory, then the second part arrives. On energy.forecast:
 *  - no run is there twice (site, kind and issue time, i.e. run_id, are
 *    unique), and every run the schedule holds is there, the ones due after
 *    the restart included;
 *  - the restarted service served the saved models (counted in
 *    ems_forecaster_models_loaded_total) instead of retraining, so every
 *    run, day-ahead and intraday, carries the P50, model and version that
 *    the core gives living through the eight weeks without a stop, and
 *    loaded trees served runs after the restart.
 * Smaller trees (through the configuration) and seven weeks of warm-up keep
 * it cheap; every wait is a condition polled up to a generous deadline.
 * A model file from a later training time, a truncated one and one of the
 * wrong kind sit in the model directory and are refused.
 */
#include <check.h>
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
#define PART1_DAYS 54
#define LOAD_DAYS 58
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
#define WARMUP_DAYS 49
#define WARMUP_S "1176h" /* WARMUP_DAYS */
#define MAX_RUNS 400

static char prefix[64], group[64], tmpdir[256];
static int port;
static pid_t child;
static tfc_data nl; /* the data set */

typedef struct run {
    int kind;
    int64_t issued;
    char model[32], version[64];
    size_t n;
    double p50[100];
} run;

static run runs[MAX_RUNS];
static int nruns;

static bus_t *test_bus(void)
{
    return th_bus_new(&(bus_conf_t){.topic_prefix = prefix});
}

/* Weather of every day first, then the load of days [from, to). */
static void produce(int with_weather, int from, int to)
{
    char err[512];
    bus_t *b = test_bus();
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    for (int64_t d = nl.day0; with_weather && d < nl.day0 + (LOAD_DAYS + 3) * DAY;
         d += DAY)
        tfc_produce_weather_day(b, p, &nl, SITE, d, -1);
    for (int64_t t = nl.day0 + from * DAY; t < nl.day0 + to * DAY; t += 900)
        if (!isnan(tfc_load_kw(&nl, t)))
            tfc_produce_interval(b, p, SITE, t, tfc_load_kw(&nl, t));
    ck_assert_msg(bus_producer_flush(p, 60000, err, sizeof err) == 0, "%s", err);
    bus_producer_destroy(p);
    bus_destroy(b);
}

/* The same inputs into a local site state, as the service gets them. */
static fc_site *local_site(void)
{
    return tfc_local_site(&nl, SITE, TREE_ROUNDS, TREE_DEPTH, WARMUP_DAYS * DAY,
                          LOAD_DAYS);
}

/* ---- the forecaster child ---- */

static void start_forecaster(void)
{
    th_env_list e = {0};
    th_env_add(&e, "EMS_FORECASTER_WARMUP=" WARMUP_S);
    /* the replay ends when the topics were quiet for restore_idle:
     * generous, so a slow broker under load does not cut it short */
    th_env_add(&e, "EMS_FORECASTER_RESTORE_IDLE=4s");
    th_env_add(&e, "EMS_FORECASTER_RESTORE_EMPTY=60s");
    th_env_add(&e, "EMS_FORECASTER_TREE_ROUNDS=" TREE_ROUNDS_S);
    th_env_add(&e, "EMS_FORECASTER_TREE_DEPTH=" TREE_DEPTH_S);
    th_env_add(&e, "EMS_WEATHER_DIR=");
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
    avro_value_t f, arr, e;
    const char *s;
    size_t len, n = 0;
    ck_assert_int_lt(nruns, MAX_RUNS);
    run *r = &runs[nruns++];
    ck_assert(fc_codec_forecast_head(v, site, sizeof site, &r->kind, &r->issued, reason,
                                     sizeof reason) == 0);
    th_field(v, "model_name", &f), avro_value_get_string(&f, &s, &len);
    snprintf(r->model, sizeof r->model, "%s", s);
    th_field(v, "model_version", &f), avro_value_get_string(&f, &s, &len);
    snprintf(r->version, sizeof r->version, "%s", s);
    th_field(v, "slots", &arr);
    avro_value_get_size(&arr, &n);
    ck_assert_uint_le(n, 100);
    r->n = n;
    for (size_t i = 0; i < n; i++) {
        avro_value_get_by_index(&arr, i, &e, NULL);
        th_field(&e, "p50_kw", &f), avro_value_get_double(&f, &r->p50[i]);
    }
}

static int take_record(bus_record_t *rec, void *ctx)
{
    (void)ctx;
    take_forecast(&rec->value);
    return 0;
}

typedef struct quiet {
    int want, polls;
} quiet_t;

/* Done after five empty polls in a row once `want` records arrived. */
static int quiet_after(int got, void *ctx)
{
    quiet_t *q = ctx;
    q->polls = nruns >= q->want && got == 0 ? q->polls + 1 : 0;
    return q->polls >= 5;
}

/* Reads energy.forecast until `want` records (duplicates included) arrived,
 * then a further second to catch any extra one. */
static void collect(bus_consumer_t *c, int want)
{
    quiet_t q = {want, 0};
    th_consume(c, &(th_consume_opts){.timeout_s = WAIT_S,
                                     .alive = child,
                                     .each = take_record,
                                     .done = quiet_after,
                                     .ctx = &q});
    ck_assert_msg(nruns >= want, "%d runs on energy.forecast after %.0f s, expected %d",
                  nruns, WAIT_S, want);
}

/* Runs of kind k the schedule holds from the warm-up end up to `clock`. */
static int expected_runs(const fc_site *s, fc_kind k, int64_t clock)
{
    int n = 0;
    for (int64_t at = fc_site_issue_at_or_after(s, k, nl.day0 + WARMUP_DAYS * DAY);
         at <= clock; at = fc_site_issue_at_or_after(s, k, at + 1))
        n++;
    return n;
}

/* The event clock after the load of the first `days` days: the end of the
 * last interval the data set has. */
static int64_t clock_at(int days)
{
    int64_t t = nl.day0 + days * DAY - 900;
    while (isnan(tfc_load_kw(&nl, t)))
        t -= 900;
    return t + 900;
}

static int cmp_runs(const void *a, const void *b)
{
    const run *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind - y->kind;
    return x->issued < y->issued ? -1 : x->issued > y->issued;
}

static void write_bytes(const char *name, const char *text, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/models/%s", tmpdir, name);
    th_write_bytes(path, text, len);
}

/* Files that sort after the real ones and must be refused: trained after the
 * clock, truncated, of the other kind. */
static void plant_bad_models(void)
{
    char name[160];
    const char *future = "EMSFC-MODEL 1 fc1-da-29990101T0000Z 0 32503680000 20 2 "
                         "1 1 1 0 0\n";
    snprintf(name, sizeof name, "%s.da.fc1-da-29990101T0000Z.model", SITE);
    write_bytes(name, future, strlen(future));
    snprintf(name, sizeof name, "%s.da.fc1-da-29980101T0000Z.model", SITE);
    write_bytes(name, "EMSFC-MODEL 1 fc1-da-29980101", 29);
    snprintf(name, sizeof name, "%s.id.fc1-id-29970101T0000Z.model", SITE);
    write_bytes(name, "EMSFC-MODEL 1 fc1-id-29970101T0000Z 0 0 20 2 1 1 1 0 0\n", 56);
}

START_TEST(restart_issues_every_run_once)
{
    char g[96];
    tfc_data_read(&nl);
    fc_site *local = local_site();
    int64_t clock1 = clock_at(PART1_DAYS), clock2 = clock_at(LOAD_DAYS);
    int da1 = expected_runs(local, FC_DAY_AHEAD, clock1);
    int id1 = expected_runs(local, FC_INTRADAY, clock1);
    int da2 = expected_runs(local, FC_DAY_AHEAD, clock2);
    int id2 = expected_runs(local, FC_INTRADAY, clock2);
    ck_assert_int_ge(da1, 4);
    ck_assert_int_gt(da2, da1);
    ck_assert_int_gt(id2, id1);

    bus_t *b = test_bus();
    snprintf(g, sizeof g, "%s-reader", group);
    bus_consumer_t *reader = th_consumer(b, g, "energy.forecast");

    /* part one, then SIGTERM once its runs are out */
    produce(1, 0, PART1_DAYS);
    start_forecaster();
    collect(reader, da1 + id1);
    ck_assert_int_eq(nruns, da1 + id1);
    ck_assert_int_eq(th_stop(&child), 0);
    plant_bad_models();

    /* restart on the same topics, group and models; then part two */
    start_forecaster();
    wait_metric("ems_forecaster_models_loaded_total", 2);
    wait_metric("ems_forecaster_models_refused_total", 3);
    produce(0, PART1_DAYS, LOAD_DAYS);
    collect(reader, da2 + id2);
    bus_consumer_destroy(reader);
    bus_destroy(b);
    ck_assert_int_eq(th_stop(&child), 0);

    /* every scheduled run exactly once */
    ck_assert_int_eq(nruns, da2 + id2);
    qsort(runs, (size_t)nruns, sizeof *runs, cmp_runs);
    for (int i = 1; i < nruns; i++)
        ck_assert_msg(
            runs[i].kind != runs[i - 1].kind || runs[i].issued != runs[i - 1].issued,
            "run %d/%lld published twice", runs[i].kind, (long long)runs[i].issued);
    ck_assert_int_eq(runs[da2 - 1].kind, FC_DAY_AHEAD);
    ck_assert_int_eq(runs[da2].kind, FC_INTRADAY);
    ck_assert_int_gt(runs[da2 - 1].issued, clock1); /* due after the restart */
    ck_assert_int_gt(runs[nruns - 1].issued, clock1);

    /* every run is that of an uninterrupted service: the day-ahead runs
     * (sorted first), then the intraday ones, each kind in issue order */
    fc_forecast f;
    fc_forecast_init(&f);
    int after_restart = 0, trees_after_restart = 0;
    for (int i = 0; i < nruns; i++) {
        run *r = &runs[i];
        ck_assert_int_eq(fc_forecaster_issue(fc_site_forecaster(local),
                                             fc_site_load(local),
                                             fc_site_weather(local), (fc_kind)r->kind,
                                             r->issued, FC_MODEL_AUTO, &f),
                         0);
        ck_assert_str_eq(r->version, f.version);
        ck_assert_str_eq(r->model, f.model);
        ck_assert_uint_eq(r->n, f.n);
        for (size_t k = 0; k < f.n; k++)
            ck_assert_msg(r->p50[k] == f.slots[k].p50,
                          "run %d (kind %d) slot %zu: %.17g vs %.17g", i, r->kind, k,
                          r->p50[k], f.slots[k].p50);
        /* after the restart, before the next retraining: the loaded model */
        const char *before = r->kind == FC_DAY_AHEAD ? runs[da1 - 1].version
                                                     : runs[da2 + id1 - 1].version;
        if (r->issued > clock1 && strcmp(r->version, before) == 0) {
            after_restart += r->kind == FC_DAY_AHEAD;
            trees_after_restart += !strcmp(r->model, "xgboost");
        }
    }
    ck_assert_int_ge(after_restart, 1);
    ck_assert_int_ge(trees_after_restart, 1); /* the loaded trees served */
    fc_forecast_release(&f);
    fc_site_destroy(local);
}
END_TEST

static void setup(void)
{
    char models[300];
    th_unique(prefix, sizeof prefix, "fcr", ".");
    th_unique(group, sizeof group, "forecaster-restart-", "");
    port = th_free_port();
    th_tmpdir(tmpdir, sizeof tmpdir, "fcr");
    ck_assert(mkdir(th_path(models, sizeof models, tmpdir, "models"), 0755) == 0);
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
    Suite *s = suite_create("forecaster_restart");
    TCase *tc = tcase_create("restart");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, restart_issues_every_run_once);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 1);
}
