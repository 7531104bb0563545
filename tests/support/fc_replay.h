/* The forecaster's integration tests (prefix tfc_): the real Dutch substation
 * data set (tests/data/openstef_nl_neerijnen/307-train-data.csv, 15-min load
 * in MW with its NWP weather) replayed through the bus as energy.load site
 * intervals (kW) and energy.weather days, the same inputs put into a local
 * fc_site (what the service should compute, by the core's own code path),
 * and the forecaster binary started as a child on the test stack.
 *
 * Like harness.h, functions that assert belong inside a Check test or
 * fixture; all run in the test's thread.
 */
#ifndef EMS_TESTS_FC_REPLAY_H
#define EMS_TESTS_FC_REPLAY_H

#include <stdint.h>
#include <sys/types.h>

#include "bus/bus.h"
#include "forecaster/fc_history.h"
#include "forecaster/fc_site.h"
#include "harness.h"

typedef struct tfc_data {
    fc_series load; /* MW, as in the file */
    fc_weather wx;
    int64_t day0; /* the first whole UTC day of the data */
} tfc_data;

/* Weather variables replayed, by index: 0 temperature, 1 radiation, 2 wind
 * speed (the names the service stores them under). */
#define TFC_NWX 3
extern const char *const tfc_wx_names[TFC_NWX];

/* Reads the data set below EMS_TEST_ROOT into d (released by
 * tfc_data_release()). Fails the test when it cannot be read. */
void tfc_data_read(tfc_data *d);
void tfc_data_release(tfc_data *d);
/* The load at t in kW; NaN where the data set has none. */
double tfc_load_kw(const tfc_data *d, int64_t t);
/* Weather variable j (see tfc_wx_names) at t; NaN where missing. */
double tfc_wx(const tfc_data *d, int j, int64_t t);

/* Produces one energy.load site interval [t, t + 900) of mean kw for site,
 * keyed by site, stamped at its end. Fails the test on error. */
void tfc_produce_interval(bus_t *b, bus_producer_t *p, const char *site, int64_t t,
                          double kw);
/* Produces the 96 quarter-hour weather slots of the UTC day from day,
 * issued the day before; nan_at >= 0 puts NaN in that slot's temperature
 * (a bad record), a temperature missing in the data is sent as null. */
void tfc_produce_weather_day(bus_t *b, bus_producer_t *p, const tfc_data *d,
                             const char *site, int64_t day, int nan_at);

/* A bus client on topic prefix and an idempotent producer on it, for
 * the records of one step of a test. */
typedef struct tfc_pub {
    bus_t *bus;
    bus_producer_t *p;
} tfc_pub;

/* Opens pub on the test stack under topic prefix. Fails the test on error. */
void tfc_pub_open(tfc_pub *pub, const char *prefix);
/* Flushes (up to 60 s) and destroys pub. Fails the test when the flush
 * fails. */
void tfc_pub_close(tfc_pub *pub);
/* tfc_produce_weather_day() of every day of [day0 + from, day0 + to) days,
 * in order, none with a NaN. */
void tfc_produce_weather_days(tfc_pub *pub, const tfc_data *d, const char *site,
                              int from, int to);
/* tfc_produce_interval() of every quarter-hour of [from, to) (UTC seconds)
 * that has a load in the data set, in order. */
void tfc_produce_load(tfc_pub *pub, const tfc_data *d, const char *site, int64_t from,
                      int64_t to);

/* A synthetic load, 1000 kW plus 300 kW along a sine of one UTC day,
 * produced (tfc_pub_open() to tfc_pub_close()) as every quarter-hour
 * interval of [from, to) (UTC seconds) for site on <prefix>energy.load;
 * returns the number of intervals. */
int tfc_produce_sine_load(const char *prefix, const char *site, int64_t from,
                          int64_t to);

/* A site of tools/stack/plant.yaml (time zone and holidays), configured
 * as p and sc say. The caller destroys it. Fails the test on error. */
fc_site *tfc_new_site(const char *site, const fc_params *p, const fc_site_conf *sc);

/* The trees (rounds, depth) and warm-up (seconds, 0: the default) a test
 * gives both the service and its local core, into p and sc, the rest at
 * their 15-minute defaults. */
void tfc_conf(fc_params *p, fc_site_conf *sc, int rounds, int depth, int64_t warmup);

/* A local fc_site of site (time zone and holidays from
 * tools/stack/plant.yaml) with trees of the given rounds and depth and
 * warmup seconds (0: the default), fed as the service is: the weather of
 * load_days + 3 days first, then the load of load_days days from day0.
 * The caller destroys it. Fails the test on error. */
fc_site *tfc_local_site(const tfc_data *d, const char *site, int rounds, int depth,
                        int64_t warmup, int load_days);

/* ---- forecast runs ---- */

#define TFC_MAX_SLOTS 100

/* One forecast run: as published on energy.forecast (tfc_run_decode()) or
 * as the core issued it (tfc_run_from()). */
typedef struct tfc_run {
    int kind; /* fc_kind */
    int64_t issued;
    char model[32], version[64];
    int fallback; /* 1: the winner was not served */
    size_t n;
    int64_t t[TFC_MAX_SLOTS]; /* slot starts, UTC seconds */
    double p10[TFC_MAX_SLOTS], p50[TFC_MAX_SLOTS], p90[TFC_MAX_SLOTS];
} tfc_run;

/* Reads an energy.forecast record into r. Fails the test when its head
 * does not decode or it has more than TFC_MAX_SLOTS slots. */
void tfc_run_decode(avro_value_t *v, tfc_run *r);
/* Copies the core's forecast f into r. Fails the test as tfc_run_decode(). */
void tfc_run_from(const fc_forecast *f, tfc_run *r);

/* How tfc_runs_assert_eq() compares. */
typedef enum {
    TFC_P50,  /* kind, issue time, model, version, fallback, slot starts, P50 */
    TFC_BANDS /* and P10 and P90 */
} tfc_cmp;

/* Fails the test, naming run i (a position in the caller's list) and the
 * slot, unless got equals want as cmp says. */
void tfc_runs_assert_eq(const tfc_run *want, const tfc_run *got, tfc_cmp cmp, int i);
/* Fails the test unless got carries what the core of local issues for the
 * same kind and issue time with the served model (fc_forecaster_issue(),
 * the backtest's code path), compared as TFC_P50: the band also depends on
 * the service's own earlier forecasts. */
void tfc_assert_core_run(fc_site *local, const tfc_run *got, int i);

/* A reader of energy.forecast under topic prefix, in consumer group
 * "<group>-reader". */
typedef struct tfc_reader {
    bus_t *bus;
    bus_consumer_t *c;
} tfc_reader;

/* Opens r; fails the test on error. */
void tfc_reader_open(tfc_reader *r, const char *prefix, const char *group);
void tfc_reader_close(tfc_reader *r);

/* What tfc_read_runs() does with what it reads; done may be NULL. */
typedef struct tfc_read_opts {
    double timeout_s; /* deadline from the call */
    pid_t alive;      /* > 0: this child must run while reading */
    /* Called on every record, decoded, in order. */
    void (*take)(const tfc_run *r, void *ctx);
    /* Called after every poll with its batch size; nonzero: done. */
    int (*done)(int got, void *ctx);
    void *ctx;
} tfc_read_opts;

/* Reads r until opts->done says done (returns 1) or the deadline passes
 * (returns 0; the caller asserts). Fails the test as th_consume(). */
int tfc_read_runs(tfc_reader *r, const tfc_read_opts *opts);

/* ---- the test's fixture ---- */

/* What each forecaster integration test holds: unique names on the shared
 * stack, a directory, the service child and the data set. */
typedef struct tfc_fixture {
    char prefix[64], group[64], tmpdir[256];
    int port;    /* the service's HTTP port */
    pid_t child; /* the forecaster, once started */
    tfc_data nl; /* read by the test (tfc_data_read()) */
} tfc_fixture;

/* Fresh names for a test: topic prefix "<stem><unique>.", consumer group
 * "<group_stem><unique>", a free port, a new directory
 * /tmp/ems-test-<stem>-XXXXXX; no child. Fails the test on error. */
void tfc_fixture_setup(tfc_fixture *fx, const char *stem, const char *group_stem);
/* Stops the child, removes the directory, releases the data set. */
void tfc_fixture_teardown(tfc_fixture *fx);

/* main() of a forecaster integration test: re-executes with
 * OMP_WAIT_POLICY=PASSIVE (the core trains trees here too, and libgomp
 * spin-waits unless told otherwise, which on a busy host makes a training
 * take ten times as long: ADR 0011; it reads the variable when loaded), then
 * runs test in suite name with the fixture functions and a one-hour bound,
 * in this process so teardown reaps the children whatever the outcome.
 * Returns the exit status. */
int tfc_main(char **argv, const char *name, const TTest *test, void (*setup)(void),
             void (*teardown)(void));

/* Appends the settings of a replay test to e for tfc_start_forecaster():
 * warm-up of warmup_days, trees of rounds and depth (smaller than the
 * default: the test checks that service and core agree, not the accuracy),
 * and a start-up replay that ends after 4 s of quiet topics (generous, so a
 * slow broker under load does not cut it short) or restore_empty (e.g.
 * "60s") when they hold nothing. */
void tfc_env_add_replay(th_env_list *e, int warmup_days, int rounds, int depth,
                        const char *restore_empty);

/* Starts the forecaster binary (EMS_TEST_BIN) in EMS_TEST_ROOT with its
 * stack configuration, on topic prefix, HTTP port, consumer group and
 * model directory <dir>/models, warnings only, no backfill, a restore
 * bounded by 10 minutes; extra (may be NULL) adds the test's own settings,
 * which replace any of these they name (e.g. EMS_FORECASTER_BACKFILL).
 * Returns its pid (see th_spawn()). */
pid_t tfc_start_forecaster(const char *prefix, int port, const char *group,
                           const char *dir, const th_env_list *extra);

#endif
