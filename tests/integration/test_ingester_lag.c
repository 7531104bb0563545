/*
 * Integration test of the consumer lag per partition on the ingester's
 * /metrics (ems_bus_consumer_lag{group,topic,partition}, test stack,
 * EMS_TEST_*). The ingester runs against its own schema of the test
 * database (search_path in the conninfo). While another session holds a
 * SHARE lock on that schema's measurements (reads pass, writes wait), the
 * ingester polls, decodes and restores but cannot store: the records
 * produced meanwhile wait, and the lag summed over the partitions equals
 * their count, with no row stored. Once the lock is
 * released the rows are stored and committed, and the lag returns to 0
 * (only after the rows are in the table: offsets follow the COMMIT).
 */
#include <check.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/bus.h"
#include "support/harness.h"
#include "support/ingester.h"
#include "support/pg.h"

#define DAY0 1598918400000LL /* 2020-09-01T00:00:00Z */
#define MIN_MS 60000LL
#define NREC 60 /* 6 meters x 10 minutes */

static char schema[48], conninfo[1024], group[80], prefix[64], site[32], dir[128];
static int port;
static pid_t child;
static PGconn *pg;

static long count_rows(void)
{
    return strtol(th_pg_str(pg, "SELECT count(*) FROM measurements"), NULL, 10);
}

/* The lag of the telemetry group summed over its partitions; -1 when
 * /metrics does not answer or has no such sample yet. */
static double lag_sum(void)
{
    th_reply r = th_http_get(port, "/metrics", 5.0);
    char head[200];
    const char *p;
    double sum = -1;

    /* labels are rendered sorted: group, partition, topic */
    snprintf(head, sizeof head, "ems_bus_consumer_lag{group=\"%s\",partition=", group);
    for (p = r.status == 200 ? strstr(r.body, head) : NULL; p;
         p = strstr(p + 1, head)) {
        const char *sp = strchr(p, ' '),
                   *tp = strstr(p, ",topic=\"energy.telemetry\"}");
        if (!sp)
            break;
        if (tp && tp < sp)
            sum = (sum < 0 ? 0 : sum) + strtod(sp + 1, NULL);
    }
    th_reply_release(&r);
    return sum;
}

/* Polls lag_sum() every 100 ms until it equals want or timeout_s passes;
 * returns the last value. */
static double wait_lag(double want, double timeout_s)
{
    double until = th_mono_s() + timeout_s, v;

    while ((v = lag_sum()) != want && th_mono_s() < until) {
        th_assert_alive(child, "ingester");
        th_sleep_ms(100);
    }
    return v;
}

static void produce_all(void)
{
    bus_conf_t bc = {.topic_prefix = prefix};
    bus_t *b = th_bus_new(&bc);
    char err[512], meter[48];
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);
    avro_value_t v, f;

    ck_assert_msg(p != NULL, "%s", err);
    ck_assert(bus_value_new(b, "energy.telemetry", &v, err, sizeof err) == 0);
    for (int k = 0; k < NREC; k++) {
        int64_t ts = DAY0 + (k / 6) * MIN_MS;
        snprintf(meter, sizeof meter, "%s-m%d", site, k % 6);
        th_set_str(&v, "site_id", site);
        th_set_str(&v, "meter_id", meter);
        th_set_long(&v, "ts", ts);
        th_set_long(&v, "seq", k / 6);
        th_field(&v, "quality", &f);
        ck_assert_int_eq(avro_value_set_enum(&f, 0), 0);
        th_set_opt_double(&v, "power_kw", 1, 10.0 + k % 6);
        th_set_opt_double(&v, "energy_kwh", 0, 0);
        th_set_opt_double(&v, "voltage_v", 0, 0);
        th_set_opt_double(&v, "current_a", 0, 0);
        th_set_opt_double(&v, "frequency_hz", 0, 0);
        th_set_opt_double(&v, "power_factor", 0, 0);
        ck_assert_msg(
            bus_produce(p, "energy.telemetry", site, &v, ts, err, sizeof err) == 0,
            "%s", err);
    }
    ck_assert_msg(bus_producer_flush(p, 30000, err, sizeof err) == 0, "%s", err);
    avro_value_decref(&v);
    bus_producer_destroy(p);
    bus_destroy(b);
}

static void start_ingester(void)
{
    th_env_list e = {0};
    char log[300];

    th_ing_env(&e, conninfo, group, prefix, port);
    th_env_add(&e, "EMS_INGESTER_RESULTS=false");
    child = th_ing_start(&e, th_path(log, sizeof log, dir, "ingester.log"));
    th_env_release(&e);
}

START_TEST(test_lag_while_waiting_then_zero)
{
    th_reply r;

    th_unique(schema, sizeof schema, "lag", "");
    th_unique(prefix, sizeof prefix, "lag", ".");
    th_unique(group, sizeof group, "ingester-lag", "");
    th_unique(site, sizeof site, "lagsite", "");
    snprintf(conninfo, sizeof conninfo, "%s options='-c search_path=%s'",
             th_env("EMS_TEST_PG"), schema);
    th_tmpdir(dir, sizeof dir, "ingester-lag");
    port = th_free_port();
    pg = th_pg_connect(NULL);
    ck_assert_msg(PQstatus(pg) == CONNECTION_OK, "%s", PQerrorMessage(pg));
    for (char *c = schema; *c; c++) /* an identifier without quoting */
        if (*c == '-')
            *c = '_';
    snprintf(conninfo, sizeof conninfo, "%s options='-c search_path=%s'",
             th_env("EMS_TEST_PG"), schema);
    th_pg_exec_ok(pg, "CREATE SCHEMA %s", schema);
    th_pg_exec_ok(pg, "SET search_path = %s", schema);

    start_ingester();
    r = th_wait_http(port, "/readyz", 200, NULL, child, 120);
    th_reply_release(&r);

    /* writes to the measurements wait: records are polled, not stored */
    th_pg_exec_ok(pg, "BEGIN");
    th_pg_exec_ok(pg, "LOCK TABLE measurements IN SHARE MODE");
    produce_all();
    ck_assert_double_eq(wait_lag(NREC, 60), NREC);
    th_sleep_ms(500); /* still waiting, still not stored */
    ck_assert_double_eq(lag_sum(), NREC);
    ck_assert_int_eq(count_rows(), 0);

    /* released: stored, committed, and only then no lag */
    th_pg_exec_ok(pg, "ROLLBACK");
    ck_assert_double_eq(wait_lag(0, 60), 0);
    ck_assert_int_eq(count_rows(), NREC);

    /* bytes that are no record, with nothing after them: dead-lettered and
     * committed like a stored batch (the lag returns to 0), so a restart
     * does not dead-letter them again */
    th_produce_garbage(prefix, "energy.telemetry", site);
    th_wait_metric(port,
                   "ems_bus_dlq_total{reason=\"bad-magic\",topic=\"energy.telemetry\"}",
                   1, child, 60);
    ck_assert_double_eq(wait_lag(0, 60), 0);
    /* the gauge may not have seen the new high watermark yet: it must
     * still be 0 after several polls (unacked, it would read 1) */
    th_sleep_ms(2000);
    ck_assert_double_eq(lag_sum(), 0);

    ck_assert_int_eq(th_stop(&child), 0);
    th_pg_exec_ok(pg, "SET client_min_messages = warning");
    th_pg_exec_ok(pg, "DROP SCHEMA %s CASCADE", schema);
    PQfinish(pg);
    th_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ingester_lag");
    TCase *tc = tcase_create("lag");

    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_lag_while_waiting_then_zero);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 1);
}
