/*
 * Integration test of the ingester against the test stack (devbroker,
 * devregistry, PostgreSQL, Redis; EMS_TEST_* variables): a week of the real
 * Dutch substation load drives 8 meters of one site (one reading per
 * quarter-hour, scaled per meter, as a replay at full speed sends them),
 * produced in one burst before the ingester starts, which then consumes it
 * with batch_rows 20000: each batch spans days of event time, far more than
 * the 24-h correction horizon. One meter is silent for 30 hours. Every site
 * 15-min interval must equal the sum of its meters' intervals and the value
 * computed here from the source data (energy, mean, peak, sample count,
 * completeness), the hourly site rows the sum of their quarter-hours, and
 * the silent meter's gap must be stored once, closed, with its 120 missing
 * intervals.
 */
#include <check.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "support/harness.h"
#include "support/ingester.h"
#include "support/pg.h"
#include "dataset/dataset.h"

#define NMETERS 8
#define NQH (7 * DATASET_DAY_SLOTS)
#define GAP_METER (NMETERS - 1)
#define GAP_FROM 200
#define GAP_LEN 120 /* 30 h */
#define WAIT_S 180  /* deadline of a wait for stored rows */

static char site[TH_ING_SITE_SIZE], group[TH_ING_GROUP_SIZE];
static char prefix[TH_ING_PREFIX_SIZE];
static int port; /* the child's HTTP port */
static int64_t week0;
static double load_kw[NQH];
static pid_t child;

static double meter_kw(int m, int q)
{
    return load_kw[q] * (0.4 + 0.1 * m);
}

static bool reports(int m, int q)
{
    return !(m == GAP_METER && q >= GAP_FROM && q < GAP_FROM + GAP_LEN);
}

/* The first whole week of the file with a finite load in every
 * quarter-hour. */
static void load_week(void)
{
    char path[1024], err[512];
    const char *paths[1] = {path};
    dataset_nl_row_t *rows = NULL;
    size_t n = 0;
    int64_t first;

    snprintf(path, sizeof path,
             "%s/tests/data/openstef_nl_neerijnen/307-train-data.csv",
             th_env("EMS_TEST_ROOT"));
    ck_assert_msg(dataset_nl_load(paths, 1, 0, 0, &rows, &n, err, sizeof err) == 0,
                  "%s", err);
    ck_assert(n > 0);
    first = (rows[0].ts_ms / DATASET_DAY_MS + 1) * DATASET_DAY_MS;
    free(rows);
    for (int d = 0; d < 60; d++) {
        size_t ok = 0;
        rows = NULL;
        week0 = first + d * DATASET_DAY_MS;
        ck_assert(dataset_nl_load(paths, 1, week0, week0 + 7 * DATASET_DAY_MS, &rows,
                                  &n, err, sizeof err) == 0);
        for (size_t i = 0; i < n; i++)
            if (isfinite(rows[i].load_mw) && rows[i].ts_ms % DATASET_QH_MS == 0) {
                load_kw[(rows[i].ts_ms - week0) / DATASET_QH_MS] =
                    rows[i].load_mw * 1e3;
                ok++;
            }
        free(rows);
        if (n == NQH && ok == NQH)
            return;
    }
    ck_abort_msg("no complete week in the first 60 days of %s", path);
}

/* ---- producing ---- */

static bus_t *test_bus(void)
{
    bus_conf_t bc = {.topic_prefix = prefix};
    return th_bus_new(&bc);
}

static void produce_reading(bus_t *b, bus_producer_t *p, const char *meter, int64_t ts,
                            int64_t seq, double kw)
{
    th_ing_produce(b, p,
                   &(th_reading){.site = site,
                                 .meter = meter,
                                 .ts_ms = ts,
                                 .seq = seq,
                                 .power_kw = kw,
                                 .has_power = 1,
                                 .grid = 1,
                                 .source = 2});
}

/* The week quarter-hour by quarter-hour, every meter in each, then one
 * reading per meter 10 min into the next week (the watermark passes the
 * week's last interval). Returns the number of readings. */
static long produce_week(void)
{
    bus_t *b = test_bus();
    char err[512], meter[80];
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);
    long n = 0;

    ck_assert_msg(p != NULL, "%s", err);
    for (int q = 0; q <= NQH; q++)
        for (int m = 0; m < NMETERS; m++) {
            int64_t ts = week0 + q * DATASET_QH_MS + (q == NQH ? 10 * 60000LL : 0);
            if (q < NQH && !reports(m, q))
                continue;
            snprintf(meter, sizeof meter, "%s-m%d", site, m);
            produce_reading(b, p, meter, ts, q, meter_kw(m, q < NQH ? q : 0));
            n++;
        }
    ck_assert_msg(bus_producer_flush(p, 60000, err, sizeof err) == 0, "%s", err);
    bus_producer_destroy(p);
    bus_destroy(b);
    return n;
}

/* One reading per meter at week0 + offset_ms. */
static void produce_tail(int64_t offset_ms)
{
    bus_t *b = test_bus();
    char err[512], meter[80];
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);

    ck_assert_msg(p != NULL, "%s", err);
    for (int m = 0; m < NMETERS; m++) {
        snprintf(meter, sizeof meter, "%s-m%d", site, m);
        produce_reading(b, p, meter, week0 + offset_ms, NQH + 1, meter_kw(m, 1));
    }
    ck_assert_msg(bus_producer_flush(p, 60000, err, sizeof err) == 0, "%s", err);
    bus_producer_destroy(p);
    bus_destroy(b);
}

/* ---- the ingester child ---- */

static void start_ingester(void)
{
    th_env_list e = {0};

    th_ing_env(&e, NULL, group, prefix, port);
    th_env_add(&e, "EMS_INGESTER_BATCH_ROWS=20000");
    th_env_add(&e, "EMS_INGESTER_SAMPLE_PERIOD=15m");
    child = th_ing_start(&e, NULL);
    th_env_release(&e);
}

static void stop_ingester(void)
{
    th_stop(&child);
}

/* ---- reading results ---- */

static PGresult *q(PGconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static PGresult *q(PGconn *c, const char *fmt, ...)
{
    char sql[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return PQexec(c, sql);
}

/* Waits (bounded, generous) until the site's readings and its closed
 * quarter-hours of the week are stored; the two whats name the waits. */
static void wait_stored(PGconn *c, long readings, const char *what_readings,
                        const char *what_intervals)
{
    long long end_s = (long long)((week0 + NQH * DATASET_QH_MS) / 1000);
    th_pg_wait_num(c, (double)readings, child, WAIT_S, what_readings,
                   "SELECT count(*) FROM measurements WHERE site_id='%s'", site);
    th_pg_wait_num(c, (double)NMETERS * NQH - GAP_LEN + NQH, child, WAIT_S,
                   what_intervals,
                   "SELECT count(*) FROM rollup_15m WHERE site_id='%s' AND "
                   "interval_start < to_timestamp(%lld)",
                   site, end_s);
}

static bool near(double a, double b)
{
    return fabs(a - b) <= 1e-6 * fmax(1.0, fabs(b));
}

/* The stored rollups and gaps of the week against the source data. */
static void check_week(PGconn *c)
{
    long long end_s = (long long)((week0 + NQH * DATASET_QH_MS) / 1000);
    PGresult *r;

    /* every site quarter-hour against the source data */
    r = q(c,
          "SELECT (extract(epoch FROM interval_start) * 1000)::bigint, energy_kwh, "
          "mean_kw, peak_kw, sample_count, completeness, revision FROM rollup_15m "
          "WHERE scope='site' AND site_id='%s' AND interval_start < to_timestamp(%lld) "
          "ORDER BY interval_start",
          site, end_s);
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    ck_assert_int_eq(PQntuples(r), NQH);
    for (int i = 0; i < NQH; i++) {
        int64_t start = atoll(PQgetvalue(r, i, 0));
        int qh = (int)((start - week0) / DATASET_QH_MS), n = 0;
        double kw = 0;
        ck_assert_int_eq(start, week0 + (int64_t)i * DATASET_QH_MS);
        for (int m = 0; m < NMETERS; m++)
            if (reports(m, qh)) {
                kw += meter_kw(m, qh);
                n++;
            }
        ck_assert_msg(near(atof(PQgetvalue(r, i, 1)), kw * 0.25),
                      "site quarter-hour %d: %s kWh, expected %.6f", qh,
                      PQgetvalue(r, i, 1), kw * 0.25);
        ck_assert_msg(near(atof(PQgetvalue(r, i, 2)), kw), "quarter-hour %d mean", qh);
        ck_assert_msg(near(atof(PQgetvalue(r, i, 3)), kw), "quarter-hour %d peak", qh);
        ck_assert_int_eq(atoi(PQgetvalue(r, i, 4)), n);
        ck_assert_msg(near(atof(PQgetvalue(r, i, 5)), (double)n / NMETERS),
                      "quarter-hour %d completeness %s", qh, PQgetvalue(r, i, 5));
        ck_assert_int_eq(atoi(PQgetvalue(r, i, 6)), 0);
    }
    PQclear(r);

    /* and against the stored meter rows */
    ck_assert_double_eq(
        th_pg_num(
            c,
            "SELECT count(*) FROM rollup_15m s JOIN (SELECT interval_start, "
            "sum(energy_kwh) e, sum(peak_kw) p, sum(sample_count) n FROM rollup_15m "
            "WHERE scope='meter' AND site_id='%s' GROUP BY interval_start) m "
            "USING (interval_start) WHERE s.scope='site' AND s.site_id='%s' AND "
            "s.interval_start < to_timestamp(%lld) AND "
            "abs(s.energy_kwh - m.e) <= 1e-6 * greatest(1, abs(m.e)) AND "
            "abs(s.peak_kw - m.p) <= 1e-6 * greatest(1, abs(m.p)) AND "
            "s.sample_count = m.n",
            site, site, end_s),
        NQH);

    /* hourly site rows: the sums of their quarter-hours */
    ck_assert_double_eq(
        th_pg_num(
            c,
            "SELECT count(*) FROM rollup_1h h JOIN (SELECT date_trunc('hour', "
            "interval_start) hs, sum(energy_kwh) e FROM rollup_15m WHERE "
            "scope='site' AND site_id='%s' GROUP BY 1) f ON f.hs = h.interval_start "
            "WHERE h.scope='site' AND h.site_id='%s' AND "
            "h.interval_start < to_timestamp(%lld) AND "
            "abs(h.energy_kwh - f.e) <= 1e-6 * greatest(1, abs(f.e))",
            site, site, end_s),
        (double)NQH / 4);

    /* the silent meter's gap: one row, closed, 120 intervals, critical */
    r = q(c,
          "SELECT (extract(epoch FROM gap_start) * 1000)::bigint, "
          "(extract(epoch FROM gap_end) * 1000)::bigint, missing_intervals, "
          "gap_class, ongoing, recovered FROM gaps WHERE site_id='%s'",
          site);
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    ck_assert_int_eq(PQntuples(r), 1);
    ck_assert_int_eq(atoll(PQgetvalue(r, 0, 0)), week0 + GAP_FROM * DATASET_QH_MS);
    ck_assert_int_eq(atoll(PQgetvalue(r, 0, 1)),
                     week0 + (GAP_FROM + GAP_LEN) * DATASET_QH_MS);
    ck_assert_int_eq(atoi(PQgetvalue(r, 0, 2)), GAP_LEN);
    ck_assert_str_eq(PQgetvalue(r, 0, 3), "critical");
    ck_assert_str_eq(PQgetvalue(r, 0, 4), "f");
    ck_assert_str_eq(PQgetvalue(r, 0, 5), "f");
    PQclear(r);
}

START_TEST(test_week_in_one_burst)
{
    const long meter_rows = (long)NMETERS * NQH - GAP_LEN;
    long nreadings;
    PGconn *c;
    PGresult *r;

    th_ing_names("burst", site, group, prefix);
    port = th_free_port();
    load_week();
    nreadings = produce_week();
    ck_assert_int_eq(nreadings, meter_rows + NMETERS);
    start_ingester();

    c = th_pg_connect(NULL);
    wait_stored(c, nreadings, "stored readings", "closed quarter-hours");

    check_week(c);
    th_ing_expect_coarse_consistent(c, site);

    /* the rollups of the last five days lost (as when the ingester dies
     * between committing a long batch's readings and its rollups): after a
     * restart the site's restore rebuilds them from the stored readings */
    stop_ingester();
    r = q(c,
          "DELETE FROM rollup_15m WHERE site_id='%s' AND interval_start >= "
          "to_timestamp(%lld)",
          site, (long long)((week0 + 2 * DATASET_DAY_MS) / 1000));
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    ck_assert_int_gt(atoi(PQcmdTuples(r)), 5 * 96 * NMETERS);
    PQclear(r);
    produce_tail(NQH * DATASET_QH_MS + 25 * 60000LL);
    start_ingester();
    wait_stored(c, nreadings + NMETERS, "stored readings after the restart",
                "rebuilt quarter-hours");
    check_week(c);
    /* the rebuilt quarter-hours were not added to the buckets that held
     * them already: recomputed from their children */
    th_ing_expect_coarse_consistent(c, site);
    PQfinish(c);
    stop_ingester();
}
END_TEST

static void teardown(void)
{
    stop_ingester();
}

int main(void)
{
    Suite *s = suite_create("ingester-burst");
    TCase *tc = tcase_create("burst");
    tcase_set_timeout(tc, 600);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_week_in_one_burst);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 1);
}
