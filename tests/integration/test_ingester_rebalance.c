/*
 * Integration test of the ingester when partitions move between two
 * instances of one consumer group (test stack: devbroker, devregistry,
 * PostgreSQL, Redis). Twelve hours of the real Dutch substation load drive
 * 8 sites of 2 meters (one reading a minute, scaled per meter):
 *
 *   1. hours 0-4 with instance A alone;
 *   2. instance B joins the group (the partitions are split between the
 *      two), hours 4-8: B stores the readings of its sites;
 *   3. B stops (A gets every partition back), hours 8-12.
 *
 * In phase 3, A sees again sites whose phase-2 readings B consumed. Its
 * in-memory state of those sites stops at hour 4: kept as it was, A would
 * take hours 4-8 as a gap of 4 hours and close those intervals without
 * their readings. After a rebalance that took partitions away, A restores
 * the sites of those partitions from PostgreSQL instead, so: no gap is
 * stored, and every 15-minute interval of every meter equals the sum
 * computed here from the source data. The sites of the partitions A kept
 * stay in memory: A restores each of its sites once at the start and then
 * only the sites B had. The site names are chosen so that every partition
 * holds two sites (librdkafka's default partitioner: CRC-32 of the key
 * modulo the partition count), so B always gets sites whichever
 * partitions the group gives it.
 */
#include <check.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "bus/bus.h"
#include "dataset/dataset.h"
#include "support/harness.h"
#include "support/ingester.h"
#include "support/pg.h"

#define NSITES 8
#define NMETERS 2    /* per site */
#define PARTITIONS 4 /* the development broker's auto-created topics */
#define MIN_MS 60000LL
#define PHASE_MIN (4 * 60)
#define TAIL_MIN 11 /* readings past hour 12 that move the watermark on */
#define NQH (3 * PHASE_MIN / 15)
#define WAIT_S 300.0

static char sites[NSITES][48], prefix[64], group[64], dir[64];
static int64_t day0;
static double load_kw[96];
static pid_t ia, ib; /* the two instances */
static int port_a, port_b;

static double meter_kw(int s, int m, int q)
{
    return load_kw[q] * (0.02 + 0.005 * s + 0.001 * m);
}

static void load_day(void)
{
    char path[1024], err[512];
    const char *paths[1] = {path};
    dataset_nl_row_t *rows = NULL;
    size_t n = 0;

    th_root(path, sizeof path, "tests/data/openstef_nl_neerijnen/307-train-data.csv");
    ck_assert_msg(dataset_nl_load(paths, 1, 0, 0, &rows, &n, err, sizeof err) == 0,
                  "%s", err);
    day0 = (rows[0].ts_ms / DATASET_DAY_MS + 1) * DATASET_DAY_MS;
    free(rows);
    rows = NULL;
    ck_assert(dataset_nl_load(paths, 1, day0, day0 + DATASET_DAY_MS, &rows, &n, err,
                              sizeof err) == 0);
    ck_assert_uint_eq(n, 96);
    for (size_t i = 0; i < n; i++)
        load_kw[(rows[i].ts_ms - day0) / DATASET_QH_MS] = rows[i].load_mw * 1000.0;
    free(rows);
}

/* Eight site names, two on each partition. */
static void choose_sites(void)
{
    char base[32], name[48];
    int per[PARTITIONS] = {0}, n = 0;

    th_unique(base, sizeof base, "rb", "");
    for (int k = 0; n < NSITES && k < 10000; k++) {
        snprintf(name, sizeof name, "%s-s%d", base, k);
        int p = (int)(crc32(0, (const Bytef *)name, (uInt)strlen(name)) % PARTITIONS);
        if (per[p] == NSITES / PARTITIONS)
            continue;
        per[p]++;
        snprintf(sites[n++], sizeof sites[0], "%s", name);
    }
    ck_assert_int_eq(n, NSITES);
}

static void produce_reading(bus_t *b, bus_producer_t *p, int s, int m, int64_t k,
                            double kw, double kwh)
{
    char meter[sizeof sites[0] + 16];

    snprintf(meter, sizeof meter, "%.47s-m%d", sites[s], m);
    th_ing_produce(b, p,
                   &(th_reading){.site = sites[s],
                                 .meter = meter,
                                 .ts_ms = day0 + k * MIN_MS,
                                 .seq = k,
                                 .power_kw = kw,
                                 .energy_kwh = kwh,
                                 .has_power = 1,
                                 .has_energy = 1,
                                 .grid = 1,
                                 .source = 2});
}

/* Minutes [from, to) of every meter, minute by minute as a gateway sends
 * them; the counters carry on from kwh. */
static void produce_minutes(int from, int to, double kwh[NSITES][NMETERS])
{
    bus_conf_t bc = {.topic_prefix = prefix};
    bus_t *b = th_bus_new(&bc);
    char err[512];
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);

    ck_assert_msg(p != NULL, "%s", err);
    for (int k = from; k < to; k++)
        for (int s = 0; s < NSITES; s++)
            for (int m = 0; m < NMETERS; m++) {
                int q = k / 15 < NQH ? k / 15 : NQH - 1;
                double kw = meter_kw(s, m, q);
                produce_reading(b, p, s, m, k, kw, kwh[s][m]);
                kwh[s][m] += (kw > 0 ? kw : 0) / 60.0;
            }
    ck_assert_msg(bus_producer_flush(p, 60000, err, sizeof err) == 0, "%s", err);
    bus_producer_destroy(p);
    bus_destroy(b);
}

static pid_t start_instance(const char *log, int port)
{
    char path[300];
    th_env_list env = {0};
    pid_t pid;

    th_ing_env(&env, NULL, group, prefix, port);
    th_env_add(&env, "EMS_INGESTER_BATCH_ROWS=500");
    th_env_add(&env, "EMS_LOG_LEVEL=info");
    pid = th_ing_start(&env, th_path(path, sizeof path, dir, log));
    th_env_release(&env);
    return pid;
}

/* Readings stored for the test's sites. */
static const char *count_sql(char *buf, size_t size)
{
    snprintf(buf, size, "SELECT count(*) FROM measurements WHERE site_id LIKE '%.*s%%'",
             (int)(strrchr(sites[0], '-') - sites[0]) + 1, sites[0]);
    return buf;
}

/* Until B holds partitions of the readings' topic: its lag gauge exists
 * only for assigned ones (the results consumer's group is <group>-results,
 * and labels are rendered in name order). */
static void wait_assigned(int port, pid_t pid)
{
    char needle[160];
    const char *const needles[] = {needle, NULL};
    th_reply r;

    snprintf(needle, sizeof needle,
             "ems_bus_consumer_lag{group=\"%s\",partition=", group);
    r = th_wait_http(port, "/metrics", 200, needles, pid, WAIT_S);
    th_reply_release(&r);
}

static void expect_rollups(PGconn *c)
{
    for (int s = 0; s < NSITES; s++)
        for (int m = 0; m < NMETERS; m++)
            for (int q = 0; q < NQH; q++) {
                double e = fmax(meter_kw(s, m, q), 0) * 0.25;
                double got = th_pg_num(
                    c,
                    "SELECT energy_kwh FROM rollup_15m WHERE scope = 'meter' AND "
                    "meter_id = '%s-m%d' AND interval_start = to_timestamp(%lld)",
                    sites[s], m, (long long)((day0 + q * DATASET_QH_MS) / 1000));
                ck_assert_msg(fabs(got - e) < 1e-6 * fmax(1, e),
                              "%s-m%d quarter %d: %g kWh stored, %g expected", sites[s],
                              m, q, got, e);
            }
}

START_TEST(test_partitions_move_and_come_back)
{
    double kwh[NSITES][NMETERS];
    const long long per_phase = (long long)NSITES * NMETERS * PHASE_MIN;
    char sql[512], like[64];
    int moved; /* sites of the partitions B takes */
    PGconn *c;

    load_day();
    choose_sites();
    th_unique(prefix, sizeof prefix, "rb", ".");
    th_unique(group, sizeof group, "ingester-rb", "");
    th_tmpdir(dir, sizeof dir, "rebalance");
    port_a = th_free_port();
    port_b = th_free_port_except(port_a);
    snprintf(like, sizeof like, "%.*s%%", (int)(strrchr(sites[0], '-') - sites[0]) + 1,
             sites[0]);
    for (int s = 0; s < NSITES; s++)
        for (int m = 0; m < NMETERS; m++)
            kwh[s][m] = 100.0 * s + m;
    c = th_pg_connect(NULL);

    /* 1: A alone */
    ia = start_instance("a.log", port_a);
    produce_minutes(0, PHASE_MIN, kwh);
    th_pg_wait_num(c, (double)per_phase, ia, WAIT_S, "readings of phase 1", "%s",
                   count_sql(sql, sizeof sql));

    /* 2: B joins; once it holds partitions, hours 4-8 */
    ib = start_instance("b.log", port_b);
    wait_assigned(port_b, ib);
    produce_minutes(PHASE_MIN, 2 * PHASE_MIN, kwh);
    th_pg_wait_num(c, (double)(2 * per_phase), ia, WAIT_S, "readings of phase 2", "%s",
                   count_sql(sql, sizeof sql));
    /* the case under test: B consumed sites A had before, not all of them
     * (B restored each site it saw before storing its readings) */
    ck_assert_msg(th_metric(port_b, "ems_ingester_rows_written_total") > 0,
                  "instance B stored nothing in phase 2");
    moved = (int)th_metric(port_b, "ems_ingester_site_restores_total");
    ck_assert_msg(moved > 0 && moved < NSITES, "B took %d of the %d sites", moved,
                  NSITES);

    /* 3: B leaves, A takes every partition back */
    ck_assert_int_eq(th_stop(&ib), 0);
    produce_minutes(2 * PHASE_MIN, 3 * PHASE_MIN + TAIL_MIN, kwh);
    th_pg_wait_num(c, (double)(3 * per_phase + NSITES * NMETERS * TAIL_MIN), ia, WAIT_S,
                   "readings of phase 3", "%s", count_sql(sql, sizeof sql));
    /* NOLINTNEXTLINE(bugprone-integer-division): PHASE_MIN is whole quarter-hours */
    th_pg_wait_num(c, (double)(NSITES * (NMETERS + 1) * NQH), ia, WAIT_S,
                   "closed quarter-hours",
                   "SELECT count(*) FROM rollup_15m WHERE site_id LIKE '%s' AND "
                   "interval_start < to_timestamp(%lld)",
                   like, (long long)((day0 + 3 * PHASE_MIN * MIN_MS) / 1000));
    /* A restored its 8 sites at the start, then only those of the
     * partitions B had taken, when they came back: the sites of the
     * partitions A kept stayed in memory through both rebalances */
    ck_assert_double_eq(th_metric(port_a, "ems_ingester_site_restores_total"),
                        NSITES + moved);
    ck_assert_double_eq(
        th_pg_num(c, "SELECT count(*) FROM gaps WHERE site_id LIKE '%s'", like), 0);
    expect_rollups(c);
    for (int i = 0; i < NSITES; i++)
        th_ing_expect_coarse_consistent(c, sites[i]);
    PQfinish(c);
    th_stop(&ia);
    th_rmtree(dir);
}
END_TEST

static void teardown(void)
{
    th_stop(&ib);
    th_stop(&ia);
}

int main(void)
{
    Suite *s = suite_create("ingester-rebalance");
    TCase *tc = tcase_create("rebalance");
    tcase_set_timeout(tc, 900);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_partitions_move_and_come_back);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
