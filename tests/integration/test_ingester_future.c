/*
 * Integration test of a reading dated ahead of the clock (test stack,
 * EMS_TEST_*). A meter reports every minute for nine hours of the recent
 * past, one reading held back; another meter of the site sends one reading
 * dated 20 hours ahead (within ingester.max_future, 24 h). The ingester is
 * restarted, and the held-back reading arrives: its quarter-hour is
 * corrected to all 15 readings.
 *
 * Before, the future reading was the site's latest event time: the
 * watermark stood 20 hours ahead, so the late reading was past the
 * correction horizon of the restored state and never rolled up; and the
 * restore read the readings of the window before that future time only,
 * so a correction would have rebuilt the quarter-hour from the late
 * reading alone.
 */
#include <check.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <time.h>

#include "bus/bus.h"
#include "support/harness.h"
#include "support/ingester.h"
#include "support/pg.h"

#define MIN_MS 60000LL
#define QH_MS (15 * MIN_MS)
#define HOUR_MS (60 * MIN_MS)
#define MINUTES 540 /* nine hours */
#define QUARTERS 36 /* of them */
#define HELD_BACK 30

static char site[TH_ING_SITE_SIZE], group[TH_ING_GROUP_SIZE];
static char prefix[TH_ING_PREFIX_SIZE], m0[64], m1[64];
static int port;
static pid_t child;

static void start_ingester(void)
{
    th_env_list e = {0};

    th_ing_env(&e, NULL, group, prefix, port);
    child = th_ing_start(&e, NULL);
    th_env_release(&e);
}

/* m0's reading at minute k after t0: 60 kW, the counter one kWh a minute. */
static void produce_m0(bus_t *b, bus_producer_t *p, int64_t t0, int k)
{
    th_ing_produce(b, p,
                   &(th_reading){.site = site,
                                 .meter = m0,
                                 .ts_ms = t0 + k * MIN_MS,
                                 .seq = k,
                                 .power_kw = 60.0,
                                 .energy_kwh = 500.0 + k,
                                 .has_power = 1,
                                 .has_energy = 1});
}

START_TEST(test_future_reading_does_not_move_the_watermark)
{
    int64_t now = (int64_t)time(NULL) * 1000;
    int64_t t0 = now - now % QH_MS - 10 * HOUR_MS; /* ten hours ago */
    bus_conf_t bc = {.topic_prefix = prefix};
    bus_t *b;
    bus_producer_t *p;
    char err[512];
    PGconn *pg;

    th_ing_names("future", site, group, prefix);
    port = th_free_port();
    snprintf(m0, sizeof m0, "%s-m00", site);
    snprintf(m1, sizeof m1, "%s-m01", site);
    b = th_bus_new(&bc);
    p = bus_producer_new(b, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    pg = th_pg_connect(NULL);
    start_ingester();

    for (int k = 0; k < MINUTES; k++)
        if (k != HELD_BACK)
            produce_m0(b, p, t0, k);
    th_ing_produce(b, p,
                   &(th_reading){.site = site,
                                 .meter = m1,
                                 .ts_ms = now + 20 * HOUR_MS,
                                 .power_kw = 5.0,
                                 .has_power = 1});
    ck_assert(bus_producer_flush(p, 30000, err, sizeof err) == 0);
    th_pg_wait_num(pg, MINUTES, child, 60, "readings stored",
                   "SELECT count(*) FROM measurements WHERE site_id = '%s'", site);
    th_pg_wait_num(pg, QUARTERS, child, 60, "m00's quarter-hours",
                   "SELECT count(*) FROM rollup_15m WHERE scope = 'meter' AND "
                   "meter_id = '%s'",
                   m0);
    ck_assert_int_eq(th_stop(&child), 0);

    /* a restart: the site is restored from the database, then the reading
     * held back arrives, within the correction horizon of the clock */
    start_ingester();
    produce_m0(b, p, t0, HELD_BACK);
    ck_assert(bus_producer_flush(p, 30000, err, sizeof err) == 0);
    th_pg_wait_num(pg, 115, child, 60,
                   "the corrected quarter-hour (revision 1, 15 readings)",
                   "SELECT revision * 100 + sample_count FROM rollup_15m WHERE "
                   "scope = 'meter' AND meter_id = '%s' AND interval_start = "
                   "ems_ms(%lld)",
                   m0, (long long)(t0 + 2 * QH_MS));
    ck_assert_double_eq_tol(th_pg_num(pg,
                                      "SELECT energy_kwh FROM rollup_15m WHERE "
                                      "scope = 'meter' AND meter_id = '%s' AND "
                                      "interval_start = ems_ms(%lld)",
                                      m0, (long long)(t0 + 2 * QH_MS)),
                            15.0, 1e-9);
    /* the future reading's quarter-hour is still open */
    ck_assert_double_eq(th_pg_num(pg,
                                  "SELECT count(*) FROM rollup_15m WHERE meter_id = "
                                  "'%s'",
                                  m1),
                        0);
    PQfinish(pg);
    bus_producer_destroy(p);
    bus_destroy(b);
    ck_assert_int_eq(th_stop(&child), 0);
}
END_TEST

static void teardown(void)
{
    th_stop(&child);
}

int main(void)
{
    Suite *s = suite_create("ingester-future");
    TCase *tc = tcase_create("future");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_future_reading_does_not_move_the_watermark);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 1);
}
