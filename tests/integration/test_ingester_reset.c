/*
 * Integration test of energy counter resets through the bus (test stack,
 * EMS_TEST_*): two meters at a constant 60 kW report every minute with their
 * raw counter. m00 is reset at minute 6 (its counter restarts at 1 kWh) and
 * the ingester is killed while that reset is still pending (the candidate
 * and one follower stored); m01's counter falls for one reading at minute 20
 * (a glitch). After the restart every reading of m00 is stored and rolled
 * up, its quarter-hours on energy.load hold 15 kWh each (the reset's minute
 * counted from the new counter), m01's glitch is stored but not rolled up,
 * it is the only rejected reading and the only record on
 * energy.telemetry.dlq (as it came, with the reason).
 *
 * test_late_readings_across_a_restart: m00's counter is reset twice, m01's
 * goes on; the ingester is stopped and started again, and then late
 * readings come that only the stored readings can judge: m00's from before
 * its first reset is rolled up on its own counter's scale (the
 * quarter-hour worked out by hand), m01's that lies below the reading
 * before it (though below the newest too) is refused and dead-lettered.
 */
#include <check.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "support/harness.h"
#include "support/ingester.h"
#include "support/pg.h"

#define DAY0 1598918400000LL /* 2020-09-01T00:00:00Z */
#define MIN_MS 60000LL
#define QH_MS (15 * MIN_MS)
#define LAST_MIN 55 /* readings up to here: the watermark closes 00:45 */
#define KW 60.0

static char site[TH_ING_SITE_SIZE], group[TH_ING_GROUP_SIZE];
static char prefix[TH_ING_PREFIX_SIZE], m0[64], m1[64];
static int port; /* the child's HTTP port */
static pid_t child;

static th_ing_outs outs;

/* m00's counter: 1000 + k up to minute 5, then the new counter from 1. */
static double m0_kwh(int k)
{
    return k < 6 ? 1000.0 + k : 1.0 + (k - 6);
}

/* m01's counter: 500 + k, but 3 kWh at minute 20. */
static double m1_kwh(int k)
{
    return k == 20 ? 3.0 : 500.0 + k;
}

static void produce(bus_t *b, bus_producer_t *p, const char *meter, int k, double kwh)
{
    th_ing_produce(b, p,
                   &(th_reading){.site = site,
                                 .meter = meter,
                                 .ts_ms = DAY0 + k * MIN_MS,
                                 .seq = k,
                                 .power_kw = KW,
                                 .energy_kwh = kwh,
                                 .has_power = 1,
                                 .has_energy = 1});
}

/* Minutes [from, to) of both meters (m01 from minute from1). */
static void produce_minutes(int from, int to)
{
    bus_conf_t bc = {.topic_prefix = prefix};
    bus_t *b = th_bus_new(&bc);
    char err[512];
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);

    ck_assert_msg(p != NULL, "%s", err);
    for (int k = from; k < to; k++) {
        produce(b, p, m0, k, m0_kwh(k));
        produce(b, p, m1, k, m1_kwh(k));
    }
    ck_assert_msg(bus_producer_flush(p, 30000, err, sizeof err) == 0, "%s", err);
    bus_producer_destroy(p);
    bus_destroy(b);
}

/* ---- reading energy.load back ---- */

/* Done once the three quarter-hours of both meters are published with
 * every reading a meter rolls up (m01 leaves its glitch out). */
static int all_closed(const th_ing_outs *o)
{
    for (int q = 0; q < 3; q++) {
        const th_ing_out *a = th_ing_latest(o, m0, DAY0 + q * QH_MS);
        const th_ing_out *b = th_ing_latest(o, m1, DAY0 + q * QH_MS);
        if (!a || a->sample_count < 15 || !b || b->sample_count < (q == 1 ? 14 : 15))
            return 0;
    }
    return 1;
}

/* ---- the dead letter ---- */

/* The only record on the DLQ is the one refused for reason, as it came. */
static void expect_dead_lettered(const char *reason)
{
    const char *dlq = "ems_bus_produced_total{topic=\"energy.telemetry.dlq\"}";
    rd_kafka_message_t *m;
    rd_kafka_t *rk;
    char buf[512], topic[128], g[128];

    th_wait_metric(port, dlq, 1, child, 30);
    ck_assert_double_eq(th_metric(port, dlq), 1);
    ck_assert_double_eq(th_metric(port, "ems_bus_dlq_total{reason=\"validation\","
                                        "topic=\"energy.telemetry\"}"),
                        1);
    snprintf(topic, sizeof topic, "%senergy.telemetry.dlq", prefix);
    snprintf(g, sizeof g, "%sraw", prefix);
    rk = th_raw_consumer(topic, g);
    ck_assert_msg(th_raw_read(rk, &m, 1, 60) == 1, "nothing on %s", topic);
    ck_assert_uint_eq(m->key_len, strlen(site));
    ck_assert_mem_eq(m->key, site, strlen(site));
    ck_assert_msg(strstr(th_header(m, "ems.dlq.reason", buf, sizeof buf), reason),
                  "reason '%s'", buf);
    snprintf(topic, sizeof topic, "%senergy.telemetry", prefix);
    ck_assert_str_eq(th_header(m, "ems.dlq.topic", buf, sizeof buf), topic);
    ck_assert(strlen(th_header(m, "ems.dlq.offset", buf, sizeof buf)) > 0);
    th_raw_done(rk, &m, 1);
}

/* ---- the ingester child ---- */

static void start_ingester(void)
{
    th_env_list e = {0};

    th_ing_env(&e, NULL, group, prefix, port);
    th_env_add(&e, "EMS_INGESTER_RESET_CONFIRM=3");
    child = th_ing_start(&e, NULL);
    th_env_release(&e);
}

/* A run's names (stem for th_ing_names), a reader of energy.load in a
 * group of its own, a PostgreSQL session, and the ingester started. */
static void open_run(const char *stem, bus_t **b, bus_consumer_t **c, PGconn **pg)
{
    const char *topics[] = {"energy.load"};
    bus_conf_t bc;
    char err[512], cgroup[96];

    th_ing_names(stem, site, group, prefix);
    snprintf(m0, sizeof m0, "%s-m00", site);
    snprintf(m1, sizeof m1, "%s-m01", site);
    snprintf(cgroup, sizeof cgroup, "reader-%s", site);
    port = th_free_port();
    bc = (bus_conf_t){.topic_prefix = prefix};
    *b = th_bus_new(&bc);
    *c = bus_consumer_new(*b, cgroup, topics, 1, err, sizeof err);
    ck_assert_msg(*c != NULL, "%s", err);
    *pg = th_pg_connect(NULL);
    start_ingester();
}

START_TEST(test_reset_across_a_restart)
{
    bus_t *b;
    bus_consumer_t *c;
    PGconn *pg;

    open_run("rst", &b, &c, &pg);

    /* minutes 0..7: m00's reset candidate (minute 6) and one follower are
     * stored, the reset is pending; then a crash */
    produce_minutes(0, 8);
    th_pg_wait_num(pg, 16, child, 60, "the first eight minutes stored",
                   "SELECT count(*) FROM measurements WHERE site_id = '%s'", site);
    ck_assert_double_eq(th_metric(port, "ems_ingester_rejected_total"), 0);
    ck_assert_int_eq(kill(child, SIGKILL), 0);
    th_stop(&child);

    /* the rest after a restart: minute 9 confirms the reset */
    start_ingester();
    produce_minutes(8, LAST_MIN + 1);
    th_ing_read_until(c, &outs, all_closed, "the three quarter-hours of both meters");
    for (int q = 0; q < 3; q++) {
        const th_ing_out *a = th_ing_latest(&outs, m0, DAY0 + q * QH_MS);
        const th_ing_out *g = th_ing_latest(&outs, m1, DAY0 + q * QH_MS);
        ck_assert_int_eq(a->sample_count, 15);
        ck_assert_msg(a->energy >= 0, "m00 quarter-hour %d: %g kWh", q, a->energy);
        /* minute 6 counted from the new counter: 1 kWh since the reset */
        ck_assert_double_eq_tol(a->energy, 15.0, 1e-9);
        ck_assert_int_eq(g->sample_count, q == 1 ? 14 : 15);
        ck_assert_double_eq_tol(g->energy, 15.0, 1e-9);
        ck_assert_double_eq_tol(th_ing_latest(&outs, "", DAY0 + q * QH_MS)->energy,
                                30.0, 1e-9);
    }

    /* every reading stored once, the glitch included */
    th_pg_wait_num(pg, 2 * (LAST_MIN + 1), child, 60, "every reading stored",
                   "SELECT count(*) FROM measurements WHERE site_id = '%s'", site);
    ck_assert_double_eq(th_pg_num(pg,
                                  "SELECT count(*) FROM measurements WHERE meter_id = "
                                  "'%s' AND energy_kwh < 1000",
                                  m0),
                        LAST_MIN + 1 - 6);
    th_pg_wait_num(
        pg, 45, child, 60, "m00's stored quarter-hours",
        "SELECT round(sum(energy_kwh)) FROM rollup_15m WHERE scope = 'meter' "
        "AND meter_id = '%s' AND interval_start < '2020-09-01 00:45:00+00'",
        m0);
    /* one reset confirmed; the glitch is the only rejected reading */
    th_wait_metric(port, "ems_ingester_meter_resets_total", 1, child, 30);
    ck_assert_double_eq(th_metric(port, "ems_ingester_meter_resets_total"), 1);
    ck_assert_double_eq(th_metric(port, "ems_ingester_rejected_total"), 1);
    /* the glitch's record */
    expect_dead_lettered("energy counter glitch: 3.000000 kWh at "
                         "2020-09-01T00:20:00Z");
    th_ing_expect_coarse_consistent(pg, site);
    PQfinish(pg);
    bus_consumer_destroy(c);
    bus_destroy(b);
    th_stop(&child);
}
END_TEST

/* ---- two resets, a restart, late readings ---- */

/* m00's counter: 1000 + k up to minute 5, a counter from 0.5 from minute 6
 * (0.5 kWh since the reset, plausible at 60 kW), one from 10 at minute 20
 * (below minute 19's 13.5; not countable in a minute, so the minute
 * between counts the mean power's 1 kWh). Continuous: minute 14 is 1013.5,
 * each later minute 1 kWh more. */
static double m0_two_resets_kwh(int k)
{
    return k < 6 ? 1000.0 + k : k < 20 ? 0.5 + (k - 6) : 10.0 + (k - 20);
}

/* Minutes [from, to) of both meters, m00 without minute 0 and m01 without
 * minute 10 unless late; m01's 500 + k, but 508.5 at minute 10. */
static void produce_two_resets(int from, int to, int late)
{
    bus_conf_t bc = {.topic_prefix = prefix};
    bus_t *b = th_bus_new(&bc);
    char err[512];
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);

    ck_assert_msg(p != NULL, "%s", err);
    for (int k = from; k < to; k++) {
        if (late || k != 0)
            produce(b, p, m0, k, m0_two_resets_kwh(k));
        if (late || k != 10) /* late, minute 10 lies below minute 9 */
            produce(b, p, m1, k, late && k == 10 ? 508.5 : 500.0 + k);
    }
    ck_assert_msg(bus_producer_flush(p, 30000, err, sizeof err) == 0, "%s", err);
    bus_producer_destroy(p);
    bus_destroy(b);
}

/* Done once m00's first quarter-hour holds all fifteen readings. */
static int m0_first_complete(const th_ing_outs *o)
{
    const th_ing_out *a = th_ing_latest(o, m0, DAY0);
    return a && a->sample_count == 15;
}

START_TEST(test_late_readings_across_a_restart)
{
    bus_t *b;
    bus_consumer_t *c;
    const th_ing_out *a;
    PGconn *pg;

    outs.n = 0;
    open_run("rsl", &b, &c, &pg);

    /* an hour but the two late readings; both resets confirmed */
    produce_two_resets(0, 60, 0);
    th_pg_wait_num(pg, 2 * 60 - 2, child, 60, "the hour stored",
                   "SELECT count(*) FROM measurements WHERE site_id = '%s'", site);
    th_wait_metric(port, "ems_ingester_meter_resets_total", 2, child, 30);
    ck_assert_double_eq(th_metric(port, "ems_ingester_rejected_total"), 0);
    ck_assert_int_eq(th_stop(&child), 0);

    /* after the restart the check and the counter scales come from the
     * stored readings only */
    start_ingester();
    produce_two_resets(0, 1, 1);
    produce_two_resets(10, 11, 1);
    th_pg_wait_num(pg, 1, child, 60, "m00's late reading of the first counter stored",
                   "SELECT count(*) FROM measurements WHERE meter_id = '%s' AND "
                   "ts = '2020-09-01 00:00:00+00'",
                   m0);
    th_wait_metric(port, "ems_ingester_rejected_total", 1, child, 30);
    th_ing_read_until(c, &outs, m0_first_complete,
                      "m00's first quarter-hour with 15 readings");
    a = th_ing_latest(&outs, m0, DAY0);
    /* 1000 .. 1013.5 over 14 minutes, scaled to 15 */
    ck_assert_double_eq_tol(a->energy, 13.5 * 15.0 / 14.0, 1e-9);
    ck_assert_int_ge(a->revision, 1);
    th_pg_wait_num(pg, 1, child, 60, "the corrected quarter-hour stored",
                   "SELECT count(*) FROM rollup_15m WHERE scope = 'meter' AND "
                   "meter_id = '%s' AND interval_start = '2020-09-01 00:00:00+00' "
                   "AND sample_count = 15 AND abs(energy_kwh - %.12f) < 1e-9",
                   m0, 13.5 * 15.0 / 14.0);
    ck_assert_double_eq(th_pg_num(pg,
                                  "SELECT count(*) FROM measurements WHERE meter_id = "
                                  "'%s' AND ts = '2020-09-01 00:10:00+00'",
                                  m1),
                        0);
    expect_dead_lettered("energy counter 508.500000 kWh below an earlier reading's "
                         "509.000000 kWh at 2020-09-01T00:09:00Z");
    ck_assert_double_eq(th_metric(port, "ems_ingester_rejected_total"), 1);
    th_ing_expect_coarse_consistent(pg, site);
    PQfinish(pg);
    bus_consumer_destroy(c);
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
    Suite *s = suite_create("ingester-reset");
    TCase *tc = tcase_create("reset");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_reset_across_a_restart);
    tcase_add_test(tc, test_late_readings_across_a_restart);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 1);
}
