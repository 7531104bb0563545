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
 * Topic names, groups and ports are unique per run.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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

static int produce_load(void)
{
    tfc_pub pub;
    int n = 0;
    tfc_pub_open(&pub, prefix);
    for (int64_t t = T0; t < T0 + LOAD_DAYS * DAY; t += 900, n++)
        tfc_produce_interval(pub.bus, pub.p, SITE, t,
                             1000.0 + 300.0 * sin((double)(t % DAY) / DAY * 6.283));
    tfc_pub_close(&pub);
    return n;
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
    TCase *tc = tcase_create("replay");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, replay_ends_at_the_end_offsets);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 1);
}
