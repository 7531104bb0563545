/* Integration test of the scada-gateway's store and forward: the broker goes
 * away for a while and comes back.
 *
 * So as not to disturb the shared test stack, the gateway talks to a private
 * devbroker started here on a free loopback port (the shared devregistry,
 * EMS_TEST_REGISTRY, holds the schemas). meter-sim serves six meters with
 * time running (--speed 600, so every reading differs) and logs every value
 * it serves (--served): one line per meter per Modbus read answered.
 *
 * 1. Some readings are consumed from the first broker: per meter, they are
 *    the first values the simulator served, in order.
 * 2. The broker is stopped (SIGTERM): the spool depth grows, nothing is
 *    confirmed (ems_scada_readings_published_total stands still at P1).
 * 3. A new, empty devbroker starts on the same port: the spool drains to 0.
 * 4. The simulator stops; its served log S is complete. Per meter, the good
 *    readings on the new broker are exactly the last values of S, in order,
 *    none twice (seq strictly increasing), and the values S holds before
 *    them add up to P1 over all meters: every reading not confirmed by the
 *    first broker (all those taken during the outage) reached the second
 *    one, once. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "support/gateway.h"
#include "support/harness.h"

#define NMETERS 6
#define MAXVALS 4096

static char dir[64];
static char prefix[64];
static char bootstrap[64];
static int mb_port, broker_port, http_port;
static pid_t sim_pid, gw_pid, broker_pid;

static void path_in(char *buf, size_t size, const char *name)
{
    th_path(buf, size, dir, name);
}

/* Six meters, two per unit id, all holding registers, each meter's
 * registers in one read request (the meters of a unit are far apart). */
static void write_plant(void)
{
    static const char *const power[] = {"data_type: int32, unit: W",
                                        "data_type: float32, unit: kW",
                                        "data_type: uint32, scale: 0.1, unit: W"};
    static const char *const energy[] = {"data_type: uint64, unit: Wh",
                                         "data_type: float64, unit: kWh",
                                         "data_type: uint32, scale: 0.01, unit: kWh"};
    FILE *f = tgw_plant_open(dir, 100000);
    for (int i = 0; i < NMETERS; i++) {
        int base = (i % 2) * 40;
        fprintf(f,
                "  - id: meter-%d\n    site: s1\n    kind: sub\n"
                "    device: {host: 127.0.0.1, port: %d, unit_id: %d}\n"
                "    poll_period_ms: 200\n    power_range_kw: [0, 1000]\n"
                "    registers:\n"
                "      - {quantity: power_kw, type: holding, address: %d, %s}\n"
                "      - {quantity: energy_kwh, type: holding, address: %d, %s}\n",
                i, mb_port, 1 + i / 2, base, power[i % 3], base + 4, energy[i % 3]);
    }
    ck_assert_int_eq(fclose(f), 0);
}

/* Waits for a --ready-file to appear (the child still running). */
static void wait_ready(const char *name, pid_t pid)
{
    char path[128];
    path_in(path, sizeof path, name);
    th_wait_file(path, pid, 30);
}

static void start_broker(int n)
{
    char bin[512], port[16], pidf[128], ready[128], name[32];
    th_bin(bin, sizeof bin, "devbroker");
    snprintf(port, sizeof port, "%d", broker_port);
    snprintf(name, sizeof name, "broker%d.ready", n);
    path_in(pidf, sizeof pidf, "broker.pid");
    path_in(ready, sizeof ready, name);
    const char *argv[] = {bin,         "--port", port,           "--prefix", prefix,
                          "--pidfile", pidf,     "--ready-file", ready,      NULL};
    broker_pid = th_spawn_logged(dir, "broker.log", argv, NULL);
    wait_ready(name, broker_pid);
}

static void start_sim(void)
{
    char served[128], ready[128];
    path_in(served, sizeof served, "served.txt");
    path_in(ready, sizeof ready, "sim.ready");
    const char *args[] = {"--speed",      "600", "--served", served,
                          "--ready-file", ready, NULL};
    sim_pid = tgw_start_sim(dir, mb_port, args);
    wait_ready("sim.ready", sim_pid);
}

static void start_gateway(void)
{
    char bin[512], conf[128];
    th_env_list e = {0};
    th_bin(bin, sizeof bin, "scada-gateway");
    tgw_env_add(&e, bootstrap, prefix, dir, 1, http_port);
    th_env_add(&e, "EMS_SCADA_RESPONSE_TIMEOUT=2s");
    th_env_add(&e, "EMS_SCADA_BATCH=50");
    th_env_add(&e, "EMS_SCADA_CONTROL=false");
    /* Deliveries time out well within the outage, so the gateway's own
     * re-send path (not only librdkafka's retries) is exercised. */
    path_in(conf, sizeof conf, "gateway.yaml");
    th_write_file(conf, "bus:\n  kafka:\n    message.timeout.ms: \"1500\"\n");
    const char *argv[] = {bin, "--config", conf, NULL};
    gw_pid = th_spawn_logged(dir, "gateway.log", argv, &e);
    th_env_release(&e);
}

/* ---- /metrics ---- */

/* The value of an unlabelled metric of the gateway, or -1 when it does not
 * answer (yet). */
static double metric(const char *name)
{
    return th_metric(http_port, name);
}

/* Waits up to deadline_s for metric name to satisfy the comparison
 * (at least when ge, else exactly value); returns the last value. */
static double wait_metric(const char *name, double value, bool ge, int deadline_s)
{
    return th_poll_metric(http_port, name, ge ? TH_AT_LEAST : TH_EXACTLY, value, 0,
                          deadline_s);
}

/* ---- the simulator's served log and the published readings ---- */

typedef struct series {
    int n;
    double power[MAXVALS], energy[MAXVALS];
    int64_t seq[MAXVALS];
} series_t;

static int meter_index(const char *id)
{
    return tgw_meter_index(id, NMETERS);
}

static void load_served(series_t *s)
{
    char path[128], meter[64];
    double p, e;
    path_in(path, sizeof path, "served.txt");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "simulator wrote no served log");
    while (fscanf(f, "%63s %lf %lf", meter, &p, &e) == 3) {
        int i = meter_index(meter);
        ck_assert_msg(i >= 0 && s[i].n < MAXVALS, "served log: '%s'", meter);
        s[i].power[s[i].n] = p;
        s[i].energy[s[i].n++] = e;
    }
    fclose(f);
}

static bool same(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(1, fabs(b));
}

typedef struct reader {
    tgw_reader rd;
    series_t *out;   /* good readings per meter */
    int comm_errors; /* readings of other qualities */
    int dup_or_back; /* seq not above the meter's previous one */
} reader_t;

static void reader_open(reader_t *r, series_t *out)
{
    memset(r, 0, sizeof *r);
    r->out = out;
    tgw_reader_open(&r->rd, bootstrap, prefix, "test-scada-outage");
}

static void take(reader_t *r, avro_value_t *v)
{
    avro_value_t f;
    const char *id;
    size_t len;
    int quality;
    int64_t seq;
    int hp, he;
    ck_assert_int_eq(avro_value_get_by_name(v, "meter_id", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_string(&f, &id, &len), 0);
    int i = meter_index(id);
    ck_assert_msg(i >= 0, "unexpected meter '%s'", id);
    ck_assert_int_eq(avro_value_get_by_name(v, "seq", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_long(&f, &seq), 0);
    ck_assert_int_eq(avro_value_get_by_name(v, "quality", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_enum(&f, &quality), 0);
    series_t *s = &r->out[i];
    if (s->n > 0 && seq <= s->seq[s->n - 1])
        r->dup_or_back++;
    if (quality != 0) {
        r->comm_errors++;
        return;
    }
    ck_assert_msg(s->n < MAXVALS, "too many readings of %s", id);
    s->power[s->n] = th_opt_double(v, "power_kw", &hp);
    s->energy[s->n] = th_opt_double(v, "energy_kwh", &he);
    ck_assert(hp && he);
    s->seq[s->n++] = seq;
}

typedef struct until {
    reader_t *r;
    int (*done)(const reader_t *, void *);
    void *ctx;
} until_t;

static int take_record(bus_record_t *rec, void *ctx)
{
    take(((until_t *)ctx)->r, &rec->value);
    return 0;
}

static int until_done(int got, void *ctx)
{
    until_t *u = ctx;
    (void)got;
    return u->done && u->done(u->r, u->ctx);
}

/* Reads until done(r, ctx) or deadline_s; returns 1 when done. */
static int read_until(reader_t *r, int deadline_s,
                      int (*done)(const reader_t *, void *), void *ctx)
{
    until_t u = {r, done, ctx};
    return th_consume(r->rd.c, &(th_consume_opts){.timeout_s = deadline_s,
                                                  .ack = 1,
                                                  .each = take_record,
                                                  .done = until_done,
                                                  .ctx = &u});
}

static int each_has(const reader_t *r, void *ctx)
{
    int want = *(int *)ctx;
    for (int i = 0; i < NMETERS; i++)
        if (r->out[i].n < want)
            return 0;
    return 1;
}

/* Done when every meter's last good reading is the last value served. */
static int caught_up(const reader_t *r, void *ctx)
{
    const series_t *served = ctx;
    for (int i = 0; i < NMETERS; i++) {
        const series_t *g = &r->out[i], *s = &served[i];
        if (g->n == 0 || s->n == 0 || !same(g->energy[g->n - 1], s->energy[s->n - 1]))
            return 0;
    }
    return 1;
}

/* ---- fixture ---- */

static void setup(void)
{
    th_tmpdir(dir, sizeof dir, "outage");
    th_unique(prefix, sizeof prefix, "outage", ".");
    mb_port = th_free_port();
    broker_port = th_free_port();
    http_port = th_free_port();
    snprintf(bootstrap, sizeof bootstrap, "127.0.0.1:%d", broker_port);
    write_plant();
    start_broker(1);
    start_sim();
    start_gateway();
}

static void teardown(void)
{
    th_stop(&gw_pid);
    th_stop(&sim_pid);
    th_stop(&broker_pid);
    th_rmtree(dir);
}

START_TEST(broker_outage_loses_and_duplicates_nothing)
{
    static series_t before[NMETERS], after[NMETERS], served[NMETERS];
    reader_t r;
    int want = 5;

    /* 1: the first readings arrive through the first broker */
    reader_open(&r, before);
    ck_assert_msg(read_until(&r, 60, each_has, &want), "no readings before the outage");
    tgw_reader_close(&r.rd);
    ck_assert_int_eq(r.dup_or_back, 0);

    /* 2: the broker goes away; the spool grows, nothing is confirmed */
    th_stop(&broker_pid);
    double depth = wait_metric("ems_scada_spool_depth", 10 * NMETERS, true, 60);
    ck_assert_msg(depth >= 10 * NMETERS, "spool depth %g during the outage", depth);
    double p1 = metric("ems_scada_readings_published_total");
    ck_assert_double_ge(p1, NMETERS * want);
    th_sleep_ms(4000); /* longer than the delivery timeout */
    ck_assert_double_eq(metric("ems_scada_readings_published_total"), p1);
    ck_assert_double_ge(metric("ems_scada_batches_redelivered_total"), 1);
    ck_assert_double_gt(metric("ems_scada_spool_depth"), depth);

    /* 3: a new (empty) broker on the same port: the spool drains */
    start_broker(2);
    depth = wait_metric("ems_scada_spool_depth", 0, false, 90);
    ck_assert_msg(depth == 0, "spool depth %g after the broker came back", depth);

    /* 4: stop the simulator; its log now holds every value served */
    th_stop(&sim_pid);
    load_served(served);
    depth = wait_metric("ems_scada_spool_depth", 0, false, 60);
    ck_assert_msg(depth == 0, "spool depth %g at the end", depth);
    reader_open(&r, after);
    int ok = read_until(&r, 90, caught_up, served);
    read_until(&r, 2, NULL, NULL); /* anything sent twice would show now */
    tgw_reader_close(&r.rd);
    ck_assert_msg(ok, "the last values served never arrived");
    ck_assert_int_eq(r.dup_or_back, 0);

    double confirmed_before = 0;
    for (int i = 0; i < NMETERS; i++) {
        const series_t *s = &served[i], *a = &after[i], *b = &before[i];
        /* before: the first values served, in order */
        for (int k = 0; k < b->n; k++)
            ck_assert_msg(k < s->n && same(b->energy[k], s->energy[k]) &&
                              same(b->power[k], s->power[k]),
                          "meter-%d reading %d before the outage differs", i, k);
        /* after: exactly the last a->n values served, in order */
        int k0 = s->n - a->n;
        ck_assert_msg(k0 >= 0, "meter-%d: %d readings, %d served", i, a->n, s->n);
        for (int k = 0; k < a->n; k++)
            ck_assert_msg(same(a->energy[k], s->energy[k0 + k]) &&
                              same(a->power[k], s->power[k0 + k]),
                          "meter-%d: reading %d after the outage is not served value "
                          "%d (%.17g kWh, want %.17g)",
                          i, k, k0 + k, a->energy[k], s->energy[k0 + k]);
        confirmed_before += k0;
    }
    /* what the new broker lacks is exactly what the first one confirmed */
    ck_assert_msg(confirmed_before == p1,
                  "%g readings confirmed by the first broker, %g missing on the second",
                  p1, confirmed_before);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scada_outage");
    TCase *tc = tcase_create("outage");
    tcase_set_timeout(tc, 400);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, broker_outage_loses_and_duplicates_nothing);
    suite_add_tcase(s, tc);
    /* One process: the children started by the test are this process's, so
     * teardown can stop and reap them whatever the test's outcome. */
    return th_run_suite(s, 1);
}
