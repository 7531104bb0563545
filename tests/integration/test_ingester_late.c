/*
 * Integration test of late data through the bus (test stack, EMS_TEST_*):
 * two meters at a constant 120 kW and 60 kW report every minute. A reading
 * that arrives after newer ones but before its interval closes (within the
 * lateness) is in revision 0; a reading after the watermark passed its
 * interval (beyond the lateness) republishes the interval with revision 1;
 * a meter silent for two quarter-hours opens a gap, and its spooled readings
 * arriving later fill it: the gap is published recovered and the site's
 * quarter-hours are corrected. Everything is read back from energy.load and
 * energy.gaps as a downstream consumer sees it, and from PostgreSQL.
 */
#include <check.h>
#include <libpq-fe.h>
#include <math.h>
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

static char site[TH_ING_SITE_SIZE], group[TH_ING_GROUP_SIZE];
static char prefix[TH_ING_PREFIX_SIZE], m0[64], m1[64];
static int port; /* the child's HTTP port */
static pid_t child;

static th_ing_outs outs;

static bus_t *test_bus(void)
{
    bus_conf_t bc = {.topic_prefix = prefix};
    return th_bus_new(&bc);
}

static double kw_of(int meter)
{
    return meter ? 60.0 : 120.0;
}

/* One reading of meter (0 or 1) at minute k; the counter grows linearly. */
static void produce(bus_t *b, bus_producer_t *p, int meter, int k)
{
    th_ing_produce(
        b, p,
        &(th_reading){.site = site,
                      .meter = meter ? m1 : m0,
                      .ts_ms = DAY0 + k * MIN_MS,
                      .seq = k,
                      .power_kw = kw_of(meter),
                      .energy_kwh = 500.0 * (meter + 1) + kw_of(meter) * k / 60.0,
                      .has_power = 1,
                      .has_energy = 1});
}

static char gap_id[96];

static int phase1_done(const th_ing_outs *o)
{
    const th_ing_out *g = th_ing_last_gap(o, gap_id);
    return th_ing_interval(o, m0, DAY0 + 4 * QH_MS, 0) && g && !g->ongoing;
}

/* m01's spool may reach the ingester in more than one poll, each
 * publishing its quarter-hours again: done when the newest revisions are
 * complete. */
static int phase2_done(const th_ing_outs *o)
{
    const th_ing_out *g = th_ing_last_gap(o, gap_id);
    if (!th_ing_interval(o, m0, DAY0 + 4 * QH_MS, 1) || !g || !g->recovered)
        return 0;
    for (int q = 1; q <= 2; q++) {
        const th_ing_out *m = th_ing_latest(o, m1, DAY0 + q * QH_MS);
        const th_ing_out *site = th_ing_latest(o, "", DAY0 + q * QH_MS);
        if (!m || m->sample_count < 15 || !site || site->revision < 1 ||
            site->energy < 45.0 - 1e-9)
            return 0;
    }
    return 1;
}

/* ---- the ingester child and the database ---- */

static void start_ingester(void)
{
    th_env_list e = {0};

    th_ing_env(&e, NULL, group, prefix, port);
    child = th_ing_start(&e, NULL);
    th_env_release(&e);
}

static void stop_ingester(void)
{
    th_stop(&child);
}

START_TEST(test_late_data_and_recovered_gap)
{
    const char *topics[] = {"energy.load", "energy.gaps"};
    bus_t *b;
    bus_producer_t *p;
    bus_consumer_t *c;
    const th_ing_out *iv, *g;
    char err[512], cgroup[96];
    PGconn *pg;

    th_ing_names("late", site, group, prefix);
    port = th_free_port();
    snprintf(m0, sizeof m0, "%s-m00", site);
    snprintf(m1, sizeof m1, "%s-m01", site);
    snprintf(gap_id, sizeof gap_id, "%s@2020-09-01T00:15:00Z", m1);
    snprintf(cgroup, sizeof cgroup, "reader-%s", site);
    b = test_bus();
    p = bus_producer_new(b, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    c = bus_consumer_new(b, cgroup, topics, 2, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    start_ingester();

    /* phase 1: minutes 0..89 in time order; m00's minute 62 arrives after
     * minute 66 (within the lateness), its minute 70 is held back; m01 is
     * silent in minutes 15..44 */
    for (int k = 0; k < 90; k++) {
        if (k != 62 && k != 70)
            produce(b, p, 0, k);
        if (k < 15 || k >= 45)
            produce(b, p, 1, k);
        if (k == 66)
            produce(b, p, 0, 62);
    }
    ck_assert(bus_producer_flush(p, 30000, err, sizeof err) == 0);
    th_ing_read_until(c, &outs, phase1_done,
                      "m00's interval 01:00 and m01's closed gap");
    iv = th_ing_interval(&outs, m0, DAY0 + 4 * QH_MS, 0);
    ck_assert_int_eq(iv->sample_count, 14); /* minute 62 in, 70 missing */
    ck_assert_double_eq_tol(iv->energy, 30.0, 1e-9);
    ck_assert_ptr_null(th_ing_interval(&outs, m0, DAY0 + 4 * QH_MS, 1));
    ck_assert_ptr_null(
        th_ing_interval(&outs, m1, DAY0 + QH_MS, 0)); /* no reading yet */
    ck_assert_double_eq_tol(th_ing_interval(&outs, "", DAY0 + QH_MS, 0)->energy, 30.0,
                            1e-9);
    g = th_ing_last_gap(&outs, gap_id);
    ck_assert_int_eq(g->missing, 2);
    ck_assert(!g->recovered);

    /* phase 2: minute 70 beyond the lateness, m01's spool for 15..44 */
    produce(b, p, 0, 70);
    for (int k = 15; k < 45; k++)
        produce(b, p, 1, k);
    ck_assert(bus_producer_flush(p, 30000, err, sizeof err) == 0);
    th_ing_read_until(c, &outs, phase2_done,
                      "the corrected interval and the recovered gap");
    iv = th_ing_interval(&outs, m0, DAY0 + 4 * QH_MS, 1);
    ck_assert_int_eq(iv->sample_count, 15);
    ck_assert_double_eq_tol(iv->energy, 30.0, 1e-9);
    for (int q = 1; q <= 2; q++) {
        iv = th_ing_latest(&outs, m1, DAY0 + q * QH_MS);
        ck_assert_msg(iv != NULL, "m01 quarter-hour %d not published after the fill",
                      q);
        ck_assert_int_eq(iv->sample_count, 15);
        ck_assert_double_eq_tol(iv->energy, 15.0, 1e-9);
        ck_assert_double_eq_tol(th_ing_latest(&outs, "", DAY0 + q * QH_MS)->energy,
                                45.0, 1e-9);
    }
    g = th_ing_last_gap(&outs, gap_id);
    ck_assert(g->recovered && !g->ongoing);
    ck_assert_int_eq(g->missing, 2);

    /* the database agrees */
    pg = th_pg_connect(NULL);
    th_pg_wait_num(pg, 1, child, 30, "the recovered gap's row",
                   "SELECT count(*) FROM gaps WHERE gap_id = '%s' AND recovered "
                   "AND NOT ongoing",
                   gap_id);
    ck_assert_double_eq(
        th_pg_num(pg,
                  "SELECT revision * 100 + sample_count FROM rollup_15m "
                  "WHERE scope = 'meter' AND meter_id = '%s' AND "
                  "interval_start = '2020-09-01 01:00:00+00'",
                  m0),
        115);
    ck_assert_double_eq_tol(th_pg_num(pg,
                                      "SELECT energy_kwh FROM rollup_1h WHERE scope = "
                                      "'site' AND site_id = '%s' AND interval_start = "
                                      "'2020-09-01 00:00:00+00'",
                                      site),
                            30.0 * 4 + 15.0 * 4, 1e-9);
    /* the corrections were upserted and their buckets recomputed (counted
     * once the main loop has seen the writer's commit, just after the row
     * became visible) */
    th_wait_metric(port, "ems_ingester_slow_path_total{kind=\"rollups\"}", 1, child,
                   30);
    th_ing_expect_coarse_consistent(pg, site);
    PQfinish(pg);

    bus_consumer_destroy(c);
    bus_producer_destroy(p);
    bus_destroy(b);
    stop_ingester();
}
END_TEST

static void teardown(void)
{
    stop_ingester();
}

int main(void)
{
    Suite *s = suite_create("ingester-late");
    TCase *tc = tcase_create("late");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_late_data_and_recovered_gap);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 1);
}
