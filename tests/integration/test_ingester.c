/*
 * Integration test of the ingester against the test stack (devbroker,
 * devregistry, PostgreSQL, Redis; EMS_TEST_* variables): one day of the real
 * Dutch substation load drives 20 meters (one reading a minute, scaled per
 * meter) through energy.telemetry into the ingester binary, run as a child
 * process. The stored rows and the 15-min, hourly and daily rollups must equal
 * values computed here from the source data; a replay of the whole day adds
 * nothing; NaN and a timestamp ten years ahead are rejected to the DLQ while
 * the good readings around them are stored; a counter that falls for one
 * reading (a glitch) and one that falls at the end (a reset candidate never
 * confirmed) are stored but not rolled up.
 */
#include <check.h>
#include <libpq-fe.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bus/bus.h"
#include "support/harness.h"
#include "support/ingester.h"
#include "support/pg.h"
#include "dataset/dataset.h"

#define NMETERS 20
#define NQH 96
#define MIN_MS 60000LL
#define TAIL_MIN 11  /* readings into the next day that move the watermark on */
#define BAD_KW 999.5 /* the power of the reading whose counter fell */
#define WAIT_S 180   /* deadline of a wait for stored rows or a counter */

static char site[TH_ING_SITE_SIZE], group[TH_ING_GROUP_SIZE];
static char prefix[TH_ING_PREFIX_SIZE];
static int port;                        /* the child's HTTP port */
static const char *batch_rows = "5000"; /* EMS_INGESTER_BATCH_ROWS of the child */
static const char *writers;             /* EMS_INGESTER_WRITERS, when set */
static const char *horizon;             /* EMS_INGESTER_CORRECTION_HORIZON, when set */
static const char *rollup_flush;        /* EMS_INGESTER_ROLLUP_FLUSH, when set */
static int64_t day0;
static double load_kw[NQH]; /* the day's 96 quarter-hours, kW (from MW) */
static pid_t child;

static double meter_kw(int m, int q)
{
    return load_kw[q] * (0.5 + 0.05 * m);
}

static void load_day(void)
{
    char path[1024], err[512];
    const char *paths[1] = {path};
    dataset_nl_row_t *rows = NULL;
    size_t n = 0;

    snprintf(path, sizeof path,
             "%s/tests/data/openstef_nl_neerijnen/307-train-data.csv",
             th_env("EMS_TEST_ROOT"));
    ck_assert_msg(dataset_nl_load(paths, 1, 0, 0, &rows, &n, err, sizeof err) == 0,
                  "%s", err);
    ck_assert(n > 3 * NQH);
    day0 = (rows[0].ts_ms / DATASET_DAY_MS + 1) * DATASET_DAY_MS; /* first whole day */
    free(rows);
    rows = NULL;
    ck_assert(dataset_nl_load(paths, 1, day0, day0 + DATASET_DAY_MS, &rows, &n, err,
                              sizeof err) == 0);
    ck_assert_uint_eq(n, NQH);
    for (size_t i = 0; i < n; i++)
        load_kw[(rows[i].ts_ms - day0) / DATASET_QH_MS] = rows[i].load_mw * 1000.0;
    free(rows);
}

/* ---- producing ---- */

static bus_t *test_bus(void)
{
    bus_conf_t bc = {.topic_prefix = prefix};
    return th_bus_new(&bc);
}

static void produce_reading(bus_t *b, bus_producer_t *p, const char *meter, int64_t ts,
                            int64_t seq, double kw, double kwh)
{
    th_ing_produce(b, p,
                   &(th_reading){.site = site,
                                 .meter = meter,
                                 .ts_ms = ts,
                                 .seq = seq,
                                 .power_kw = kw,
                                 .energy_kwh = kwh,
                                 .has_power = 1,
                                 .has_energy = 1,
                                 .grid = 1,
                                 .source = 2});
}

/* Minutes [k0, k1) of the day, every meter in each minute, as a gateway
 * sends; the counters go on from the last call (k0 = 0 starts them). */
static void produce_minutes(int k0, int k1)
{
    static double kwh[NMETERS];
    bus_t *b = test_bus();
    char err[512], meter[64];
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);

    ck_assert_msg(p != NULL, "%s", err);
    for (int m = 0; k0 == 0 && m < NMETERS; m++)
        kwh[m] = 1000.0 * m;
    for (int k = k0; k < k1; k++)
        for (int m = 0; m < NMETERS; m++) {
            int q = k / 15 < NQH ? k / 15 : NQH - 1;
            double kw = meter_kw(m, q);
            snprintf(meter, sizeof meter, "%s-m%02d", site, m);
            produce_reading(b, p, meter, day0 + k * MIN_MS, k, kw, kwh[m]);
            kwh[m] += (kw > 0 ? kw : 0) / 60.0;
        }
    ck_assert_msg(bus_producer_flush(p, 60000, err, sizeof err) == 0, "%s", err);
    bus_producer_destroy(p);
    bus_destroy(b);
}

/* The whole day in time order. */
static void produce_day_in_time_order(void)
{
    produce_minutes(0, NQH * 15 + TAIL_MIN);
}

/* The whole day for every meter (minute readings, import counter), plus the
 * bad records once when with_bad. */
static void produce_day(int with_bad)
{
    bus_t *b = test_bus();
    char err[512], meter[64];
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);

    ck_assert_msg(p != NULL, "%s", err);
    for (int m = 0; m < NMETERS; m++) {
        double kwh = 1000.0 * m;
        snprintf(meter, sizeof meter, "%s-m%02d", site, m);
        for (int k = 0; k < NQH * 15 + TAIL_MIN; k++) {
            int q = k / 15 < NQH ? k / 15 : NQH - 1;
            double kw = meter_kw(m, q);
            int64_t ts = day0 + k * MIN_MS;
            produce_reading(b, p, meter, ts, k, kw, kwh);
            if (with_bad && m == 3 && k == 100) {
                produce_reading(b, p, meter, ts + 30000, 100000, NAN, kwh); /* NaN */
                produce_reading(b, p, meter, ts + 40000, 100001, kw,
                                kwh - 50); /* falls: a glitch */
                produce_reading(b, p, meter, ts + 3650LL * DATASET_DAY_MS, 100002, kw,
                                kwh + 1e6); /* ten years ahead */
                ck_assert(bus_produce_raw(p, "energy.telemetry", site, strlen(site),
                                          "garbage", 7, NULL, err, sizeof err) == 0);
            }
            kwh += (kw > 0 ? kw : 0) / 60.0;
        }
    }
    /* last of all, so it ends its batch: a counter that fell (from the
     * meter's state, not the reading alone), a reset candidate nothing
     * confirms */
    if (with_bad) {
        snprintf(meter, sizeof meter, "%s-m%02d", site, 0);
        produce_reading(b, p, meter, day0 + (NQH * 15 + TAIL_MIN - 1) * MIN_MS + 30000,
                        100003, BAD_KW, 5.0);
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
    th_env_add(&e, "EMS_INGESTER_BATCH_ROWS=%s", batch_rows);
    if (writers)
        th_env_add(&e, "EMS_INGESTER_WRITERS=%s", writers);
    if (horizon)
        th_env_add(&e, "EMS_INGESTER_CORRECTION_HORIZON=%s", horizon);
    if (rollup_flush)
        th_env_add(&e, "EMS_INGESTER_ROLLUP_FLUSH=%s", rollup_flush);
    child = th_ing_start(&e, NULL);
    th_env_release(&e);
}

static void signal_ingester(int sig)
{
    int st = 0;
    if (child > 0) {
        kill(child, sig);
        waitpid(child, &st, 0);
        child = 0;
    }
}

static void stop_ingester(void)
{
    signal_ingester(SIGTERM);
}

/* ---- reading results ---- */

static double metric(const char *name)
{
    return th_metric(port, name);
}

/* Waits (bounded) until at least want readings of the site are stored;
 * returns their number. */
static double wait_at_least(PGconn *c, double want)
{
    return th_pg_poll_num(c, TH_AT_LEAST, want, child, 30,
                          "SELECT count(*) FROM measurements WHERE site_id='%s'", site);
}

/* HTTP status of the child's /readyz (0 when it does not answer). */
static long readyz(void)
{
    th_reply r = th_http_get(port, "/readyz", 30);
    th_reply_release(&r);
    return r.status;
}

/* Waits (bounded) until /readyz answers 200; fails the test otherwise. */
static void wait_ready(void)
{
    th_reply r = th_wait_http(port, "/readyz", 200, NULL, child, 30);
    th_reply_release(&r);
}

static void expect_rollups(PGconn *c)
{
    char sql[512], meter[64];
    double day_total = 0;

    for (int m = 0; m < NMETERS; m++) {
        double day = 0;
        snprintf(meter, sizeof meter, "%s-m%02d", site, m);
        for (int q = 0; q < NQH; q++) {
            double e = fmax(meter_kw(m, q), 0) * 0.25, got;
            got = th_pg_num(c,
                            "SELECT energy_kwh FROM rollup_15m WHERE scope='meter' AND "
                            "meter_id='%s' AND interval_start=to_timestamp(%lld)",
                            meter, (long long)((day0 + q * DATASET_QH_MS) / 1000));
            ck_assert_msg(fabs(got - e) < 1e-6 * fmax(1, e), "%s q%d: %g != %g", meter,
                          q, got, e);
            day += e;
            if (q % 4 == 3) {
                double h = 0;
                for (int k = q - 3; k <= q; k++)
                    h += fmax(meter_kw(m, k), 0) * 0.25;
                got = th_pg_num(
                    c,
                    "SELECT energy_kwh FROM rollup_1h WHERE scope='meter' AND "
                    "meter_id='%s' AND interval_start=to_timestamp(%lld)",
                    meter, (long long)((day0 + (q - 3) * DATASET_QH_MS) / 1000));
                ck_assert_msg(fabs(got - h) < 1e-6 * fmax(1, h), "%s hour %d: %g != %g",
                              meter, q / 4, got, h);
            }
        }
        ck_assert_msg(
            fabs(th_pg_num(c,
                           "SELECT energy_kwh FROM rollup_1d WHERE scope='meter' "
                           "AND meter_id='%s' AND interval_start=to_timestamp(%lld)",
                           meter, (long long)(day0 / 1000)) -
                 day) < 1e-6 * day,
            "%s daily", meter);
        ck_assert_double_eq_tol(th_pg_num(c,
                                          "SELECT completeness FROM rollup_1d WHERE "
                                          "scope='meter' AND meter_id='%s'",
                                          meter),
                                1.0, 1e-9);
        day_total += day;
    }
    snprintf(sql, sizeof sql,
             "SELECT energy_kwh FROM rollup_1d WHERE scope='site' AND site_id='%s' AND "
             "interval_start=to_timestamp(%lld)",
             site, (long long)(day0 / 1000));
    ck_assert_msg(fabs(th_pg_num(c, "%s", sql) - day_total) < 1e-6 * day_total,
                  "site daily %g != %g", th_pg_num(c, "%s", sql), day_total);
}

static void fresh_site(const char *tag)
{
    th_ing_names(tag, site, group, prefix); /* fresh topics: only this run's records */
    port = th_free_port();
    writers = horizon = rollup_flush = NULL;
    load_day();
}

/* The metric once it has not moved for a second: a redelivered batch may
 * still be counting when its rows are already visible. */
static double settled_metric(const char *name)
{
    double prev = metric(name), now;
    for (int i = 0; i < WAIT_S; i++) {
        th_sleep_ms(1000);
        if ((now = metric(name)) == prev)
            return now;
        prev = now;
    }
    ck_abort_msg("%s still moving after %d s", name, WAIT_S);
    return prev;
}

/* Waits for every reading and every closed quarter-hour, then checks the
 * rollups against the source data. */
static void expect_complete_day(PGconn *c, long long nrows)
{
    th_pg_wait_num(c, (double)nrows, child, WAIT_S, "stored readings",
                   "SELECT count(*) FROM measurements WHERE site_id='%s'", site);
    th_pg_wait_num(c, NMETERS * NQH + NQH, child, WAIT_S, "closed quarter-hours",
                   "SELECT count(*) FROM rollup_15m WHERE site_id='%s' AND "
                   "interval_start < to_timestamp(%lld)",
                   site, (long long)((day0 + DATASET_DAY_MS) / 1000));
    expect_rollups(c);
    th_ing_expect_coarse_consistent(c, site);
}

START_TEST(test_day_of_real_load)
{
    /* the day, plus the two readings whose counter fell */
    const long long nrows = (long long)NMETERS * (NQH * 15 + TAIL_MIN) + 2;
    PGconn *c;

    fresh_site("it");
    batch_rows = "5000";
    produce_day(1);
    start_ingester();
    c = th_pg_connect(NULL);
    expect_complete_day(c, nrows);
    /* three bad readings (NaN, ten years ahead, the glitch), each rejected
     * once per delivery (a batch may be redelivered while the group
     * settles: see the replay below) */
    th_poll_metric(port, "ems_ingester_rejected_total", TH_AT_LEAST, 3, child, WAIT_S);
    const double rejected = metric("ems_ingester_rejected_total");
    ck_assert_msg(rejected >= 3, "rejected %g", rejected);
    /* the fallen counter, last of its batch, is stored as a pending reset
     * (and not rolled up: expect_rollups) */
    ck_assert_double_eq(
        th_pg_num(
            c, "SELECT count(*) FROM measurements WHERE site_id='%s' AND power_kw = %g",
            site, BAD_KW),
        1);
    /* each meter registered once, under its site (the restore's way in) */
    ck_assert_double_eq(
        th_pg_num(c, "SELECT count(*) FROM meters WHERE site_id='%s'", site), NMETERS);
    ck_assert_double_eq(
        th_pg_num(c,
                  "SELECT count(*) FROM measurements WHERE site_id='%s' AND "
                  "(power_kw = 'NaN' OR ts > now())",
                  site),
        0);

    /* replay the day: nothing new, rollups unchanged. Delivery is at least
     * once: a batch redelivered while the group settled (records polled,
     * not yet committed, partitions reassigned) already counted as
     * duplicates in the first pass, so the replay is measured from there. */
    const double dup0 = settled_metric("ems_ingester_duplicates_total");
    const double nday = (double)(nrows - 2);
    produce_day(0);
    th_poll_metric(port, "ems_ingester_duplicates_total", TH_AT_LEAST, dup0 + nday,
                   child, WAIT_S);
    ck_assert_double_eq(metric("ems_ingester_duplicates_total"), dup0 + nday);
    ck_assert_double_eq(
        th_pg_num(c, "SELECT count(*) FROM measurements WHERE site_id='%s'", site),
        (double)nrows);
    expect_rollups(c);
    PQfinish(c);
    stop_ingester();
}
END_TEST

/* No (meter, ts) of the site is stored twice. */
static void expect_each_reading_once(PGconn *c)
{
    ck_assert_double_eq(
        th_pg_num(c,
                  "SELECT count(*) FROM (SELECT meter_id, ts FROM measurements "
                  "WHERE site_id='%s' GROUP BY 1, 2 HAVING count(*) > 1) d",
                  site),
        0);
}

/* SIGKILL while part of the day is stored (intervals open, offsets of the
 * last batches not committed); the restarted ingester restores the open
 * intervals from PostgreSQL: every reading once, rollups equal the sums. */
START_TEST(test_killed_and_restarted)
{
    const long long nrows = (long long)NMETERS * (NQH * 15 + TAIL_MIN);
    double at_kill;
    PGconn *c;

    fresh_site("kill");
    batch_rows = "100"; /* ~300 transactions: the kill lands mid-stream */
    produce_day_in_time_order();
    start_ingester();
    c = th_pg_connect(NULL);
    at_kill = wait_at_least(c, (double)nrows / 3);
    signal_ingester(SIGKILL);
    fprintf(stderr, "killed with %.0f of %lld readings stored\n", at_kill, nrows);
    start_ingester();
    expect_complete_day(c, nrows);
    expect_each_reading_once(c);
    PQfinish(c);
    stop_ingester();
}
END_TEST

static void pg_ctl(const char *how)
{
    char cmd[2048];
    const char *root = th_env("EMS_TEST_ROOT");
    if (strcmp(how, "stop") == 0)
        snprintf(cmd, sizeof cmd, "%s/tools/stack/stack.sh pg-stop --test >/dev/null",
                 root);
    else /* the stack script starts it exactly as before */
        snprintf(cmd, sizeof cmd, "%s/tools/stack/stack.sh up --test >/dev/null", root);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
}

/* PostgreSQL stopped (fast) mid-stream and started again: the ingester holds
 * its batch, /readyz turns 503, then it resumes; every reading once. */
START_TEST(test_postgres_outage)
{
    const long long nrows = (long long)NMETERS * (NQH * 15 + TAIL_MIN);
    long status = 200;
    PGconn *c;

    fresh_site("pgout");
    batch_rows = "1000";
    produce_minutes(0, 6 * 60); /* the first six hours */
    start_ingester();
    c = th_pg_connect(NULL);
    th_pg_wait_num(c, (double)NMETERS * 6 * 60, child, WAIT_S, "the first six hours",
                   "SELECT count(*) FROM measurements WHERE site_id='%s'", site);
    PQfinish(c);
    pg_ctl("stop");
    for (int i = 0; i < 300 && (status = readyz()) == 200; i++)
        th_sleep_ms(100);
    ck_assert_msg(status == 503, "/readyz answered %ld with PostgreSQL down", status);
    /* the rest of the day comes while PostgreSQL is down */
    produce_minutes(6 * 60, NQH * 15 + TAIL_MIN);
    th_poll_metric(port, "ems_ingester_db_errors_total", TH_AT_LEAST, 1, child, 30);
    th_assert_alive(child, "the ingester"); /* still running, waiting */
    pg_ctl("start");
    c = th_pg_connect(NULL);
    expect_complete_day(c, nrows);
    wait_ready();
    ck_assert(metric("ems_ingester_db_errors_total") > 0);
    PQfinish(c);
    stop_ingester();
}
END_TEST

/* The trigger that fails the first write of one reading (a sequence, not a
 * table: nextval survives the rollback of the failing transaction). */
static void install_write_failure(PGconn *c, const char *meter, int64_t ts_ms)
{
    th_pg_exec_ok(c, "DROP TRIGGER IF EXISTS it_fail_once ON measurements;"
                     "DROP FUNCTION IF EXISTS it_fail_once();"
                     "DROP SEQUENCE IF EXISTS it_fail_once_seq;"
                     "CREATE SEQUENCE it_fail_once_seq");
    th_pg_exec_ok(
        c,
        "CREATE FUNCTION it_fail_once() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN"
        "  IF NEW.meter_id = '%s' AND NEW.ts = to_timestamp(%lld) THEN"
        "   IF nextval('it_fail_once_seq') = 1 THEN"
        "    PERFORM pg_sleep(2);" /* the other session stores later batches */
        "    RAISE EXCEPTION 'injected write failure';"
        "   END IF;"
        "  END IF;"
        "  RETURN NEW;"
        " END $$;"
        "CREATE TRIGGER it_fail_once BEFORE INSERT ON measurements"
        " FOR EACH ROW EXECUTE FUNCTION it_fail_once()",
        meter, (long long)(ts_ms / 1000));
}

static void remove_write_failure(void)
{
    PGconn *c;
    const char *pg = getenv("EMS_TEST_PG");

    if (!pg || !*pg)
        return;
    c = PQconnectdb(pg);
    if (PQstatus(c) == CONNECTION_OK)
        PQclear(PQexec(c, "DROP TRIGGER IF EXISTS it_fail_once ON measurements;"
                          "DROP FUNCTION IF EXISTS it_fail_once();"
                          "DROP SEQUENCE IF EXISTS it_fail_once_seq"));
    PQfinish(c);
}

/* The day in time order, each batch's outputs in a transaction of their
 * own when the outputs session is free: the quarter-hours of one hour, day
 * and month arrive in a dozen transactions or more. Those that meet no
 * stored interval add theirs to the coarse buckets without reading the
 * children back; the hourly, daily and monthly rows must still equal the
 * source sums and their children. */
START_TEST(test_day_in_small_transactions)
{
    const long long nrows = (long long)NMETERS * (NQH * 15 + TAIL_MIN);
    PGconn *c;
    double txs, slow;

    fresh_site("small");
    batch_rows = "500";
    rollup_flush = "0";
    produce_day_in_time_order();
    start_ingester();
    c = th_pg_connect(NULL);
    expect_complete_day(c, nrows);
    slow = metric("ems_ingester_slow_path_total{kind=\"rollups\"}");
    txs = metric("ems_ingester_batch_seconds_count");
    ck_assert_msg(txs >= 5 && slow >= 0 && slow < txs / 2,
                  "%g outputs transactions, %g of them recomputed", txs, slow);
    PQfinish(c);
    stop_ingester();
}
END_TEST

/* Two writer sessions; one batch's write fails (the server answers with an
 * error after the other session has stored the later batches). The batch
 * is stored again and every interval is closed with the sums of the source:
 * the recovery must not restore the sites from readings of later batches
 * and then take the failed batch's readings as too late (a correction
 * horizon of 1 h puts them beyond it). */
START_TEST(test_write_failure_second_writer)
{
    const long long nrows = (long long)NMETERS * (NQH * 15 + TAIL_MIN);
    char meter[64];
    PGconn *c;

    fresh_site("wfail");
    batch_rows = "1000";
    writers = "2";
    horizon = "1h";
    snprintf(meter, sizeof meter, "%s-m%02d", site, 5);
    start_ingester(); /* it applies the migrations: measurements exists */
    wait_ready();
    c = th_pg_connect(NULL);
    install_write_failure(c, meter, day0 + 600 * MIN_MS);
    produce_day_in_time_order();
    expect_complete_day(c, nrows);
    ck_assert(th_pg_num(c, "SELECT last_value FROM it_fail_once_seq") >= 2);
    ck_assert(metric("ems_ingester_db_errors_total") > 0);
    expect_each_reading_once(c);
    remove_write_failure();
    PQfinish(c);
    stop_ingester();
}
END_TEST

static void teardown(void)
{
    stop_ingester();
    remove_write_failure();
}

int main(void)
{
    Suite *s = suite_create("ingester-integration");
    TCase *tc = tcase_create("day");
    tcase_set_timeout(tc, 600);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_day_of_real_load);
    tcase_add_test(tc, test_day_in_small_transactions);
    tcase_add_test(tc, test_killed_and_restarted);
    tcase_add_test(tc, test_postgres_outage);
    tcase_add_test(tc, test_write_failure_second_writer);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 1);
}
