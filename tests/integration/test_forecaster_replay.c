/*
 * The forecaster's start-up replay against the test stack (devbroker,
 * devregistry; EMS_TEST_* variables): it reads the end offsets of its
 * topics when it starts and ends once it read up to them, not after
 * forecaster.restore_idle without records (a broker stall of that length
 * ended it early, with part of the history missing).
 *  - Three days of load are on energy.load before the start; the replay,
 *    with restore_idle and restore_empty far longer than any wait here,
 *    ends (/readyz: the history check passes) having restored exactly
 *    those records.
 *  - A stop leaves runs due in records the service already had (here they
 *    wait for weather; in the middle of a backlog they wait their turn):
 *    the next start, with a backfill of one hour, issues every one of them
 *    once the weather comes, skipping none, since the end of energy.load at
 *    the stop was kept (<model_dir>/<prefix>energy.load.stop).
 *  - A crash (SIGKILL) once the records were committed does the same: the
 *    mark written while running covers them.
 *  - A mark left in the same model_dir by a deployment with another topic
 *    prefix is not taken: the runs beyond the backfill are skipped; nor are
 *    its saved models (named by its prefix).
 * Topic names, groups and ports are unique per run.
 */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "bus/bus.h"
#include "forecaster/fc_codec.h"
#include "forecaster/fc_forecast.h"
#include "support/fc_replay.h"
#include "support/harness.h"

#define SITE "nl-neerijnen"
#define DAY 86400
#define T0 1614556800LL /* 2021-03-01T00:00Z */
#define LOAD_DAYS 3
/* Bound of every wait, in seconds: far above what any step needs, far
 * below restore_idle. */
#define WAIT_S 300.0

static char prefix[64], group[64], tmpdir[256];
static int port;
static pid_t child;

/* Three days of load on <pfx>energy.load; the number of records. */
static int produce_load_to(const char *pfx)
{
    return tfc_produce_sine_load(pfx, SITE, T0, T0 + LOAD_DAYS * DAY);
}

static int produce_load(void)
{
    return produce_load_to(prefix);
}

START_TEST(replay_ends_at_the_end_offsets)
{
    int n = produce_load();
    th_env_list e = {0};
    th_env_add(&e, "EMS_FORECASTER_RESTORE_IDLE=10m");
    th_env_add(&e, "EMS_FORECASTER_RESTORE_EMPTY=10m");
    th_env_add(&e, "EMS_FORECASTER_RESTORE_MAX=30m");
    th_env_add(&e, "EMS_WEATHER_DIR=");
    th_env_add(&e, "EMS_WEATHER_URL=");
    child = tfc_start_forecaster(prefix, port, group, tmpdir, &e);
    th_env_release(&e);
    const char *needles[] = {"\"history\":{\"ok\":true}", NULL};
    th_reply r = th_wait_http(port, "/readyz", 200, needles, child, WAIT_S);
    th_reply_release(&r);
    ck_assert_double_eq(th_metric(port, "ems_forecaster_restored_records_total"), n);
    ck_assert_int_eq(th_stop(&child), 0);
}
END_TEST

/* Hourly temperatures of [from, to) on energy.weather, issued at T0. */
static void produce_weather(int64_t from, int64_t to)
{
    tfc_pub pub;
    fc_wxdata wx;
    avro_value_t v;
    char err[512];
    fc_wxdata_init(&wx);
    wx.slot_sec = 3600;
    wx.n = (size_t)((to - from) / 3600);
    wx.nvar = 1;
    snprintf(wx.names[0], sizeof wx.names[0], "temperature");
    wx.t = calloc(wx.n, sizeof *wx.t);
    wx.v = calloc(wx.n, sizeof *wx.v);
    ck_assert(wx.t && wx.v);
    for (size_t i = 0; i < wx.n; i++) {
        wx.t[i] = from + (int64_t)i * 3600;
        wx.v[i] = 5.0 + (double)(i % 24) / 4.0;
    }
    tfc_pub_open(&pub, prefix);
    ck_assert(bus_value_new(pub.bus, "energy.weather", &v, err, sizeof err) == 0);
    ck_assert(fc_codec_weather_out(&v, SITE, "test:weather", T0 * 1000, &wx) == 0);
    ck_assert_msg(
        bus_produce(pub.p, "energy.weather", SITE, &v, T0 * 1000, err, sizeof err) == 0,
        "%s", err);
    avro_value_decref(&v);
    tfc_pub_close(&pub);
    fc_wxdata_release(&wx);
}

/* The service of topic prefix pfx and consumer group grp with a warm-up of
 * a day, waiting up to 48 h for weather, and the backfill given; returns
 * once its replay is over. */
static pid_t start_deployment(const char *pfx, const char *grp, const char *backfill)
{
    th_env_list e = {0};
    th_env_add(&e, "EMS_FORECASTER_WARMUP=24h");
    th_env_add(&e, "EMS_FORECASTER_WEATHER_WAIT=48h");
    th_env_add(&e, "EMS_FORECASTER_BACKFILL=%s", backfill);
    th_env_add(&e, "EMS_WEATHER_DIR=");
    th_env_add(&e, "EMS_WEATHER_URL=");
    pid_t pid = tfc_start_forecaster(pfx, port, grp, tmpdir, &e);
    th_env_release(&e);
    const char *needles[] = {"\"history\":{\"ok\":true}", NULL};
    th_reply r = th_wait_http(port, "/readyz", 200, needles, pid, WAIT_S);
    th_reply_release(&r);
    return pid;
}

static pid_t start_waiting_for_weather(const char *backfill)
{
    return start_deployment(prefix, group, backfill);
}

typedef struct runs_seen {
    int n; /* distinct runs: kind and issue time */
    int kind[128];
    int64_t at[128];
    int64_t until; /* done once the intraday run at it came */
    int done;
} runs_seen;

static int take_run(bus_record_t *rec, void *ctx)
{
    runs_seen *r = ctx;
    char id[64], reason[128];
    int kind, i = 0;
    int64_t at;
    ck_assert_int_eq(fc_codec_forecast_head(&rec->value, id, sizeof id, &kind, &at,
                                            reason, sizeof reason),
                     0);
    while (i < r->n && !(r->kind[i] == kind && r->at[i] == at))
        i++;
    if (i == r->n) { /* a redelivery is counted once */
        ck_assert_int_lt(r->n, 128);
        r->kind[r->n] = kind;
        r->at[r->n++] = at;
    }
    r->done |= kind == FC_INTRADAY && at == r->until;
    return r->done;
}

static void wait_for_run(bus_consumer_t *c, runs_seen *r, int64_t until, pid_t pid)
{
    r->until = until;
    r->done = 0;
    ck_assert_msg(th_consume(c, &(th_consume_opts){.timeout_s = WAIT_S,
                                                   .alive = pid,
                                                   .each = take_run,
                                                   .ctx = r}),
                  "no intraday run at %lld on energy.forecast", (long long)until);
}

/* Three days of load and the weather of their first 36 h only (the runs
 * wait for the rest until the clock is weather_wait, 48 h, past them),
 * and a first start taking the history as it comes (no backfill): the
 * clock reaches T0 + 72 h, the first run (T0 + 24 h) goes out without its
 * weather, the 50 after it wait. Returns the number of load records. */
static int start_with_runs_waiting(tfc_reader *fc, runs_seen *runs)
{
    produce_weather(T0, T0 + 36 * 3600);
    int n = produce_load();
    child = start_waiting_for_weather("0");
    wait_for_run(fc->c, runs, T0 + 72 * 3600 - 48 * 3600, child);
    ck_assert_int_eq(runs->n, 1);
    return n;
}

/* The rest of the weather, for the service started again after the runs
 * of start_with_runs_waiting(): every run waiting is issued, none
 * skipped (intraday T0 + 24 h .. T0 + 72 h, day-ahead at 06:00 Amsterdam
 * on 2 and 3 March). Stops the service. */
static void assert_waiting_runs_issued(tfc_reader *fc, runs_seen *runs)
{
    produce_weather(T0 + 36 * 3600, T0 + 5 * DAY);
    wait_for_run(fc->c, runs, T0 + 72 * 3600, child);
    ck_assert_int_eq(runs->n, 49 + 2);
    ck_assert_double_eq(th_metric(port, "ems_forecaster_skipped_runs_total"), 0);
    ck_assert_int_eq(th_stop(&child), 0);
}

/* Regression: a stop left runs due in records the service had behind the
 * skip limit of the next start (newest interval minus backfill): they were
 * skipped, not issued late. */
START_TEST(runs_due_before_a_stop_are_issued_after_it)
{
    runs_seen runs = {0};
    tfc_reader fc;
    tfc_reader_open(&fc, prefix, group);
    int n = start_with_runs_waiting(&fc, &runs);
    ck_assert_int_eq(th_stop(&child), 0);

    /* the second with a backfill of 1 h: the 50 runs waiting at the stop
     * are further behind the newest interval (T0 + 72 h) */
    child = start_waiting_for_weather("1h");
    ck_assert_double_ge(th_metric(port, "ems_forecaster_restored_records_total"), n);
    assert_waiting_runs_issued(&fc, &runs);
    tfc_reader_close(&fc);
}
END_TEST

/* The records <model_dir>/<prefix>energy.load.stop covers: the sum of
 * its offsets (the topic is new: its partitions start at 0); 0 without
 * the file. */
static int64_t marked_records(void)
{
    char path[512], topic[128];
    int32_t part;
    int64_t off, sum = 0;
    snprintf(path, sizeof path, "%s/models/%senergy.load.stop", tmpdir, prefix);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (fscanf(f, "%127s %" SCNd32 " %" SCNd64, topic, &part, &off) == 3)
        sum += off;
    fclose(f);
    return sum;
}

/* Waits until the service's mark covers n records (it is written at most
 * every FC_MARK_EVERY_S once they were committed). */
static void wait_for_mark(int64_t n, pid_t pid)
{
    double end = th_mono_s() + WAIT_S;
    while (marked_records() < n) {
        ck_assert_msg(th_mono_s() < end, "the mark covers %lld of %lld records",
                      (long long)marked_records(), (long long)n);
        th_assert_alive(pid, "forecaster");
        th_sleep_ms(100);
    }
}

/* SIGKILL: no shutdown, no mark written at the end. */
static void crash(pid_t *pid)
{
    int st;
    kill(*pid, SIGKILL);
    waitpid(*pid, &st, 0);
    *pid = 0;
}

/* Regression: a crash wrote no mark, so the runs due in records the
 * service had processed and committed were behind the skip limit of the
 * next start and skipped, as after a stop before the stop mark. */
START_TEST(runs_due_before_a_crash_are_issued_after_it)
{
    runs_seen runs = {0};
    tfc_reader fc;
    tfc_reader_open(&fc, prefix, group);
    int n = start_with_runs_waiting(&fc, &runs);
    /* every record committed and marked, the 50 runs waiting for weather */
    wait_for_mark(n, child);
    crash(&child);

    child = start_waiting_for_weather("1h");
    assert_waiting_runs_issued(&fc, &runs);
    tfc_reader_close(&fc);
}
END_TEST

/* How many saved models in the model_dir carry the topic prefix pfx. */
static int models_named(const char *pfx)
{
    char dir[512];
    int n = 0;
    snprintf(dir, sizeof dir, "%s/models", tmpdir);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "%s", dir);
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        n += !strncmp(e->d_name, pfx, strlen(pfx)) && len > 6 &&
             !strcmp(e->d_name + len - 6, ".model");
    }
    closedir(d);
    return n;
}

/* Regression: the mark did not name its topic, so a model_dir reused by a
 * deployment with another topic prefix took that deployment's offsets for
 * its own and issued runs its backfill skips. */
START_TEST(mark_of_another_prefix_is_ignored)
{
    char other[64], other_group[128];
    runs_seen runs = {0};
    /* another deployment stopped, leaving the mark of its three days */
    th_unique(other, sizeof other, "fco", ".");
    snprintf(other_group, sizeof other_group, "%s-other", group);
    produce_load_to(other);
    child = start_deployment(other, other_group, "1h");
    /* ready means restored, not trained: its first model is saved by the
     * first run it issues */
    th_wait_metric(port, "ems_forecaster_trainings_total", 1, child, WAIT_S);
    ck_assert_int_eq(th_stop(&child), 0);
    ck_assert_msg(models_named(other) > 0, "the other deployment saved no model");

    /* this one starts late on the same model_dir: backfill applies */
    tfc_reader fc;
    tfc_reader_open(&fc, prefix, group);
    produce_load();
    child = start_waiting_for_weather("1h");
    wait_for_run(fc.c, &runs, T0 + 72 * 3600, child);
    /* of the 49 intraday and 2 day-ahead runs, those more than the
     * backfill behind T0 + 72 h are skipped */
    ck_assert_int_lt(runs.n, 49 + 2);
    th_wait_metric(port, "ems_forecaster_skipped_runs_total", 49 + 2 - runs.n, child,
                   WAIT_S);
    ck_assert_double_eq(th_metric(port, "ems_forecaster_skipped_runs_total"),
                        49 + 2 - runs.n);
    /* nor are the other deployment's models, trained on its data, taken
     * (loaded or refused): they carry its prefix */
    ck_assert_double_eq(th_metric(port, "ems_forecaster_models_loaded_total"), 0);
    ck_assert_double_eq(th_metric(port, "ems_forecaster_models_refused_total"), 0);
    ck_assert_int_eq(th_stop(&child), 0);
    ck_assert_msg(models_named(prefix) > 0, "this deployment saved no model");
    tfc_reader_close(&fc);
}
END_TEST

static void setup(void)
{
    th_unique(prefix, sizeof prefix, "fcp", ".");
    th_unique(group, sizeof group, "forecaster-replay-", "");
    port = th_free_port();
    th_tmpdir(tmpdir, sizeof tmpdir, "fcp");
}

static void teardown(void)
{
    th_stop(&child);
    th_rmtree(tmpdir);
}

int main(void)
{
    Suite *s = suite_create("forecaster_replay");
    th_suite_add_case(s, "replay", replay_ends_at_the_end_offsets, setup, teardown,
                      1800);
    th_suite_add_case(s, "stop", runs_due_before_a_stop_are_issued_after_it, setup,
                      teardown, 1800);
    th_suite_add_case(s, "crash", runs_due_before_a_crash_are_issued_after_it, setup,
                      teardown, 1800);
    th_suite_add_case(s, "prefix", mark_of_another_prefix_is_ignored, setup, teardown,
                      1800);
    return th_run_suite(s, 1);
}
