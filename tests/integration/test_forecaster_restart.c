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
 * wrong kind sit in the model directory and are refused. A bad record on
 * energy.load before the stop is dead-lettered once: the restarted
 * service's restore skips it (counted) and its live consumer does not see
 * it again.
 */
#include <check.h>
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
#define PART1_DAYS 54
#define LOAD_DAYS 58
/* Smaller trees than the default (150 rounds, depth 6), set in the service
 * through its configuration and here in the core: the test checks that
 * both agree, not the accuracy. */
#define TREE_ROUNDS 50
#define TREE_DEPTH 4
/* Bound of every wait, in seconds: far above what any step needs (the
 * suite also runs under ASan on a loaded 2-core host). */
#define WAIT_S 600.0
#define WARMUP_DAYS 49
#define MAX_RUNS 400

static tfc_fixture fx;

static tfc_run runs[MAX_RUNS];
static int nruns;

/* Weather of every day first, then the load of days [from, to). */
static void produce(int with_weather, int from, int to)
{
    tfc_pub pub;
    tfc_pub_open(&pub, fx.prefix);
    if (with_weather)
        tfc_produce_weather_days(&pub, &fx.nl, SITE, 0, LOAD_DAYS + 3);
    tfc_produce_load(&pub, &fx.nl, SITE, fx.nl.day0 + from * DAY,
                     fx.nl.day0 + to * DAY);
    tfc_pub_close(&pub);
}

/* The same inputs into a local site state, as the service gets them. */
static fc_site *local_site(void)
{
    return tfc_local_site(&fx.nl, SITE, TREE_ROUNDS, TREE_DEPTH, WARMUP_DAYS * DAY,
                          LOAD_DAYS);
}

/* ---- the forecaster child ---- */

static void start_forecaster(void)
{
    th_env_list e = {0};
    tfc_env_add_replay(&e, WARMUP_DAYS, TREE_ROUNDS, TREE_DEPTH, "60s");
    th_env_add(&e, "EMS_WEATHER_DIR=");
    fx.child = tfc_start_forecaster(fx.prefix, fx.port, fx.group, fx.tmpdir, &e);
    th_env_release(&e);
}

static void wait_metric(const char *name, double want)
{
    th_wait_metric(fx.port, name, want, fx.child, WAIT_S);
}

/* ---- reading the forecasts ---- */

/* Keeps every record, duplicates included (the test counts them). */
static void take_run(const tfc_run *r, void *ctx)
{
    (void)ctx;
    ck_assert_int_lt(nruns, MAX_RUNS);
    runs[nruns++] = *r;
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
static void collect(tfc_reader *rd, int want)
{
    quiet_t q = {want, 0};
    tfc_read_runs(rd, &(tfc_read_opts){.timeout_s = WAIT_S,
                                       .alive = fx.child,
                                       .take = take_run,
                                       .done = quiet_after,
                                       .ctx = &q});
    ck_assert_msg(nruns >= want, "%d runs on energy.forecast after %.0f s, expected %d",
                  nruns, WAIT_S, want);
}

/* Runs of kind k the schedule holds from the warm-up end up to `clock`. */
static int expected_runs(const fc_site *s, fc_kind k, int64_t clock)
{
    int n = 0;
    for (int64_t at = fc_site_issue_at_or_after(s, k, fx.nl.day0 + WARMUP_DAYS * DAY);
         at <= clock; at = fc_site_issue_at_or_after(s, k, at + 1))
        n++;
    return n;
}

/* The event clock after the load of the first `days` days: the end of the
 * last interval the data set has. */
static int64_t clock_at(int days)
{
    int64_t t = fx.nl.day0 + days * DAY - 900;
    while (isnan(tfc_load_kw(&fx.nl, t)))
        t -= 900;
    return t + 900;
}

static int cmp_runs(const void *a, const void *b)
{
    const tfc_run *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind - y->kind;
    return x->issued < y->issued ? -1 : x->issued > y->issued;
}

static void write_bytes(const char *name, const char *text, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/models/%s", fx.tmpdir, name);
    th_write_bytes(path, text, len);
}

/* Files that sort after the real ones and must be refused: trained after the
 * clock, truncated, of the other kind (named by the topic prefix, as the
 * service names its models). */
static void plant_bad_models(void)
{
    char name[160];
    const char *future = "EMSFC-MODEL 1 fc1-da-29990101T0000Z 0 32503680000 20 2 "
                         "1 1 1 0 0\n";
    snprintf(name, sizeof name, "%s%s.da.fc1-da-29990101T0000Z.model", fx.prefix, SITE);
    write_bytes(name, future, strlen(future));
    snprintf(name, sizeof name, "%s%s.da.fc1-da-29980101T0000Z.model", fx.prefix, SITE);
    write_bytes(name, "EMSFC-MODEL 1 fc1-da-29980101", 29);
    snprintf(name, sizeof name, "%s%s.id.fc1-id-29970101T0000Z.model", fx.prefix, SITE);
    write_bytes(name, "EMSFC-MODEL 1 fc1-id-29970101T0000Z 0 0 20 2 1 1 1 0 0\n", 56);
}

START_TEST(restart_issues_every_run_once)
{
    tfc_reader reader;
    tfc_data_read(&fx.nl);
    fc_site *local = local_site();
    int64_t clock1 = clock_at(PART1_DAYS), clock2 = clock_at(LOAD_DAYS);
    int da1 = expected_runs(local, FC_DAY_AHEAD, clock1);
    int id1 = expected_runs(local, FC_INTRADAY, clock1);
    int da2 = expected_runs(local, FC_DAY_AHEAD, clock2);
    int id2 = expected_runs(local, FC_INTRADAY, clock2);
    ck_assert_int_ge(da1, 4);
    ck_assert_int_gt(da2, da1);
    ck_assert_int_gt(id2, id1);

    tfc_reader_open(&reader, fx.prefix, fx.group);

    /* part one, then SIGTERM once its runs are out */
    produce(1, 0, PART1_DAYS);
    start_forecaster();
    collect(&reader, da1 + id1);
    ck_assert_int_eq(nruns, da1 + id1);
    /* a bad record, alone: dead-lettered (and acked) once */
    th_produce_garbage(fx.prefix, "energy.load", SITE);
    wait_metric("ems_bus_dlq_total{reason=\"bad-magic\",topic=\"energy.load\"}", 1);
    ck_assert_int_eq(th_stop(&fx.child), 0);
    plant_bad_models();

    /* restart on the same topics, group and models; then part two */
    start_forecaster();
    wait_metric("ems_forecaster_models_loaded_total", 2);
    wait_metric("ems_forecaster_models_refused_total", 3);
    /* the restore re-read the bad record: skipped and counted, not
     * dead-lettered again, nor by the live consumer (it was acked) */
    wait_metric(
        "ems_bus_replay_skipped_total{reason=\"bad-magic\",topic=\"energy.load\"}", 1);
    produce(0, PART1_DAYS, LOAD_DAYS);
    collect(&reader, da2 + id2);
    tfc_reader_close(&reader);
    ck_assert(
        th_metric(fx.port,
                  "ems_bus_dlq_total{reason=\"bad-magic\",topic=\"energy.load\"}") <=
        0);
    ck_assert_int_eq(th_stop(&fx.child), 0);

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
    int after_restart = 0, trees_after_restart = 0;
    for (int i = 0; i < nruns; i++) {
        const tfc_run *r = &runs[i];
        tfc_assert_core_run(local, r, i);
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
    fc_site_destroy(local);
}
END_TEST

static void setup(void)
{
    char models[300];
    tfc_fixture_setup(&fx, "fcr", "forecaster-restart-");
    ck_assert(mkdir(th_path(models, sizeof models, fx.tmpdir, "models"), 0755) == 0);
}

static void teardown(void)
{
    tfc_fixture_teardown(&fx);
}

int main(int argc, char **argv)
{
    (void)argc;
    return tfc_main(argv, "forecaster_restart", restart_issues_every_run_once, setup,
                    teardown);
}
