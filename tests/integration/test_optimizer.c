/*
 * Integration test of the schedule-optimizer against the test stack
 * (devbroker, devregistry; EMS_TEST_* variables). One site-local day of the
 * real Dutch substation (10 November 2020: load as the P50 forecast, the
 * day-ahead price as the site's effective curve) is produced on fresh
 * prefixed topics; the optimizer binary, run as a child process on the demo
 * plant model, must publish one validated plan on energy.schedule whose
 * costs add up, whose savings equal baseline minus plan and which stays
 * within the site's capacity. A NaN price goes to the DLQ with its reason, a
 * repeated forecast plans nothing, a new price revision plans once more, and
 * after a restart the forecast is restored from the topic so a further price
 * revision alone plans again.
 *
 * A second test covers the demand charge's floor, re-planning on demand and
 * the audit trail: site intervals on energy.load earlier in the month (one
 * corrected by a higher revision, one of another meter, one of the previous
 * site-local month, one after the plan's event time) raise the billing
 * period's peak; `schedule-optimizer replan` asks the running service for a
 * plan, whose demand charge is then only the increase above that peak; a
 * request older than the inputs is skipped, one for an unknown site is
 * dead-lettered; after a restart the peak is rebuilt from the topic; every
 * published plan has its audit event saying why it was made.
 *
 * A third plans 48 hours across a month's end (the real data of 10 and 11
 * November standing for 30 November and 1 December): December's peak is
 * billed on its own from nothing, November's above its floor, and the
 * audit event names where the next period begins.
 *
 * A fourth re-plans on the rolling-horizon cadence (replan_every 1 h): the
 * site's event-time clock (the newest energy.load interval end) reaching a
 * boundary later than the last plan gives one plan with trigger periodic
 * and created_at the boundary; load that reaches no such boundary, before
 * and after a request, and the restore after a restart plan nothing (each
 * checked by the plan a later request causes coming next).
 */
#include <check.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "dataset/dataset.h"
#include "support/harness.h"

#define NQH 96
#define HOUR 3600000LL
#define SITE "nl-neerijnen"
#define CAP_KW 25000.0
#define WAIT_S 120

static char group[64], prefix[48];
static int port;     /* the child's HTTP port */
static int64_t day0; /* 2020-11-10 00:00 CET */
static double load_kw[2 * NQH], price[2 * NQH];
static pid_t child;
static const char *horizon; /* EMS_OPTIMIZER_HORIZON for the child; NULL = config's */
static const char *replan_every; /* EMS_OPTIMIZER_REPLAN_EVERY; NULL = config's */
static int slow_restore_timers;  /* restore idle, empty and timeout at 10 min */

/* Reads ndays site-local days of the real data from 10 November 2020. */
static void load_days(int ndays)
{
    char path[1024], path2[1024], err[512];
    const char *paths[2] = {path, path2};
    dataset_nl_row_t *rows = NULL;
    size_t n = 0;

    snprintf(path, sizeof path,
             "%s/tests/data/openstef_nl_neerijnen/307-train-data.csv",
             th_env("EMS_TEST_ROOT"));
    snprintf(path2, sizeof path2,
             "%s/tests/data/openstef_nl_neerijnen/307-test-data.csv",
             th_env("EMS_TEST_ROOT"));
    ck_assert(dataset_parse_iso8601("2020-11-09T23:00:00Z", &day0) == 0);
    ck_assert_msg(dataset_nl_load(paths, 2, day0, day0 + ndays * DATASET_DAY_MS, &rows,
                                  &n, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(n, (size_t)ndays * NQH);
    for (size_t i = 0; i < n; i++) {
        int q = (int)((rows[i].ts_ms - day0) / DATASET_QH_MS);
        load_kw[q] = rows[i].load_mw * 1000.0;
        price[q] = rows[i].price_eur_mwh;
        ck_assert(isfinite(price[q]) && isfinite(load_kw[q]));
    }
    free(rows);
}

static void load_day(void)
{
    load_days(1);
}

/* ---- producing ---- */

static bus_t *test_bus(void)
{
    return th_bus_new(&(bus_conf_t){.topic_prefix = prefix});
}

static avro_value_t fld(avro_value_t *v, const char *name)
{
    avro_value_t f;
    ck_assert_msg(avro_value_get_by_name(v, name, &f, NULL) == 0, "%s", name);
    return f;
}

static void produce(bus_t *b, const char *topic, avro_value_t *v, int64_t ts)
{
    char err[512];
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);

    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_msg(bus_produce(p, topic, SITE, v, ts, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(bus_producer_flush(p, 30000, err, sizeof err) == 0, "%s", err);
    bus_producer_destroy(p);
}

/* The real load of n quarter-hours as the P50 forecast of [start, ...)
 * (P10/P90 at -/+5%), issued 12 h before start. */
static void produce_forecast_at(int64_t start, int n, const char *run_id)
{
    bus_t *b = test_bus();
    avro_value_t v, f, arr, s;
    char err[512];

    ck_assert(bus_value_new(b, "energy.forecast", &v, err, sizeof err) == 0);
    th_set_str(&v, "site_id", SITE);
    th_set_str(&v, "run_id", run_id);
    f = fld(&v, "run_kind");
    ck_assert_int_eq(avro_value_set_enum(&f, 0), 0);
    th_set_long(&v, "issued_at", start - 12 * HOUR);
    th_set_long(&v, "horizon_start", start);
    th_set_long(&v, "horizon_end", start + n * DATASET_QH_MS);
    th_set_int(&v, "slot_minutes", 15);
    th_set_str(&v, "model_name", "actuals");
    th_set_str(&v, "model_version", "test");
    f = fld(&v, "fallback");
    ck_assert_int_eq(avro_value_set_boolean(&f, 0), 0);
    f = fld(&v, "quality");
    ck_assert_int_eq(avro_value_set_enum(&f, 0), 0);
    arr = fld(&v, "slots");
    for (int q = 0; q < n; q++) {
        ck_assert(avro_value_append(&arr, &s, NULL) == 0);
        th_set_long(&s, "slot_start", start + q * DATASET_QH_MS);
        th_set_dbl(&s, "p10_kw", load_kw[q] * 0.95);
        th_set_dbl(&s, "p50_kw", load_kw[q]);
        th_set_dbl(&s, "p90_kw", load_kw[q] * 1.05);
    }
    produce(b, "energy.forecast", &v, start - 12 * HOUR);
    avro_value_decref(&v);
    bus_destroy(b);
}

static void produce_forecast(void)
{
    produce_forecast_at(day0, NQH, SITE "/day_ahead/2020-11-09T11:00:00Z");
}

/* The day-ahead price of n quarter-hours plus add EUR/MWh as the site's
 * effective curve of [start, ...); nan_slot >= 0 puts a NaN there. */
static void produce_prices_at(int64_t start, int n, const char *curve_id, int revision,
                              double add, int nan_slot)
{
    bus_t *b = test_bus();
    avro_value_t v, f, arr, s;
    int64_t issued = start - 13 * HOUR + revision * HOUR;
    char err[512];

    ck_assert(bus_value_new(b, "energy.prices", &v, err, sizeof err) == 0);
    th_set_str(&v, "curve_id", curve_id);
    f = fld(&v, "curve_kind");
    ck_assert_int_eq(avro_value_set_enum(&f, 1), 0);
    th_set_str(&v, "market", "NL");
    th_set_str(&v, "site_id", SITE);
    th_set_str(&v, "source", "test");
    th_set_long(&v, "issued_at", issued);
    th_set_long(&v, "delivery_start", start);
    th_set_long(&v, "delivery_end", start + n * DATASET_QH_MS);
    th_set_int(&v, "slot_minutes", 15);
    th_set_int(&v, "revision", revision);
    arr = fld(&v, "slots");
    for (int q = 0; q < n; q++) {
        ck_assert(avro_value_append(&arr, &s, NULL) == 0);
        th_set_long(&s, "slot_start", start + q * DATASET_QH_MS);
        th_set_dbl(&s, "price_eur_mwh", q == nan_slot ? NAN : price[q] + add);
        f = fld(&s, "origin");
        ck_assert_int_eq(avro_value_set_enum(&f, 0), 0);
        f = fld(&s, "price_class");
        ck_assert_int_eq(avro_value_set_enum(&f, 1), 0);
        th_set_null(&s, "tariff_period");
        th_set_null(&s, "energy_eur_mwh");
        th_set_null(&s, "network_eur_mwh");
        th_set_null(&s, "taxes_eur_mwh");
        th_set_null(&s, "co2_g_kwh");
    }
    produce(b, "energy.prices", &v, issued);
    avro_value_decref(&v);
    bus_destroy(b);
}

static void produce_prices(int revision, double add, int nan_slot)
{
    produce_prices_at(day0, NQH, "effective/" SITE "/2020-11-09T23:00:00Z", revision,
                      add, nan_slot);
}

/* ---- the optimizer child ---- */

static void start_optimizer(void)
{
    char bin[1024];
    const char *argv[] = {th_bin(bin, sizeof bin, "schedule-optimizer"), "--config",
                          "tools/stack/conf/schedule-optimizer.yaml", NULL};
    th_env_list e = {0};

    th_env_add(&e, "EMS_BUS_BOOTSTRAP=%s", th_env("EMS_TEST_BOOTSTRAP"));
    th_env_add(&e, "EMS_BUS_REGISTRY_URL=%s", th_env("EMS_TEST_REGISTRY"));
    th_env_add(&e, "EMS_BUS_TOPIC_PREFIX=%s", prefix);
    th_env_add(&e, "EMS_OPTIMIZER_GROUP_ID=%s", group);
    th_env_add(&e, "EMS_OPTIMIZER_TIME_LIMIT=5s");
    th_env_add(&e, "EMS_OPTIMIZER_RESTORE_IDLE=%s", slow_restore_timers ? "10m" : "2s");
    th_env_add(&e, "EMS_OPTIMIZER_RESTORE_EMPTY=%s",
               slow_restore_timers ? "10m" : "8s");
    if (slow_restore_timers)
        th_env_add(&e, "EMS_OPTIMIZER_RESTORE_TIMEOUT=10m");
    th_env_add(&e, "EMS_HTTP_PORT=%d", port);
    th_env_add(&e, "EMS_LOG_LEVEL=%s", th_env_or("EMS_TEST_CHILD_LOG", "warn"));
    if (horizon)
        th_env_add(&e, "EMS_OPTIMIZER_HORIZON=%s", horizon);
    if (replan_every)
        th_env_add(&e, "EMS_OPTIMIZER_REPLAN_EVERY=%s", replan_every);
    child = th_spawn(
        &(th_spawn_opts){.argv = argv, .env = &e, .cwd = th_env("EMS_TEST_ROOT")});
    th_env_release(&e);
}

static void stop_optimizer(void)
{
    th_stop(&child);
}

static double metric(const char *name)
{
    return th_metric(port, name);
}

/* Waits (bounded) until a counter of the service reaches want. */
static void wait_metric(const char *name, double want)
{
    th_wait_metric(port, name, want, child, WAIT_S);
}

/* ---- reading plans ---- */

typedef struct reader {
    bus_t *bus;
    bus_consumer_t *c;
} reader_t;

/* A reader of topic in the group "<group>-<suffix>". */
static void reader_open_on(reader_t *r, const char *topic, const char *suffix)
{
    char g[128];

    r->bus = test_bus();
    snprintf(g, sizeof g, "%s-%s", group, suffix);
    r->c = th_consumer(r->bus, g, topic);
}

static void reader_open(reader_t *r)
{
    reader_open_on(r, "energy.schedule", "reader");
}

static void reader_close(reader_t *r)
{
    bus_consumer_destroy(r->c);
    bus_destroy(r->bus);
}

/* Waits (bounded) for the next plan and hands it to check. */
static void next_plan(reader_t *r, void (*check)(avro_value_t *v, void *arg), void *arg)
{
    bus_record_t *recs;
    char err[512];
    time_t t0 = time(NULL);

    while (time(NULL) - t0 < WAIT_S) {
        int n = bus_consumer_poll(r->c, &recs, 1, 500, err, sizeof err);
        ck_assert_msg(n >= 0, "%s", err);
        if (n == 1) {
            ck_assert_mem_eq(recs[0].key, SITE, strlen(SITE));
            check(&recs[0].value, arg);
            bus_consumer_ack(r->c, err, sizeof err);
            return;
        }
    }
    ck_abort_msg("no plan on energy.schedule within %d s", WAIT_S);
}

static double dbl(avro_value_t *v, const char *name)
{
    avro_value_t f = fld(v, name), b;
    double x;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        ck_assert(avro_value_get_current_branch(&f, &b) == 0);
        f = b;
    }
    ck_assert_msg(avro_value_get_double(&f, &x) == 0, "%s", name);
    return x;
}

static const char *str(avro_value_t *v, const char *name)
{
    avro_value_t f = fld(v, name), b;
    const char *s;
    size_t n;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        ck_assert(avro_value_get_current_branch(&f, &b) == 0);
        f = b;
    }
    ck_assert(avro_value_get_string(&f, &s, &n) == 0);
    return s;
}

static const char *enum_sym(avro_value_t *v, const char *name)
{
    avro_value_t f = fld(v, name);
    int i;
    ck_assert(avro_value_get_enum(&f, &i) == 0);
    return avro_schema_enum_get(avro_value_get_schema(&f), i);
}

typedef struct want {
    double add;                              /* price offset of the curve */
    const char *trigger;                     /* expected trigger */
    double floor_kw;                         /* the billing period's peak so far */
    int64_t created_ms;                      /* expected created_at; 0 = any */
    char plan_id[256];                       /* out */
    double peak_kw, demand_eur, savings_eur; /* out */
} want_t;

/* The plan is validated (not relaxed), its costs add up and recompute from
 * its own site balance, and it respects the capacity. */
static void check_plan(avro_value_t *v, void *arg)
{
    want_t *w = arg;
    const char *status = enum_sym(v, "solver_status");
    avro_value_t slots = fld(v, "site_slots"), s, eqs = fld(v, "equipment");
    double energy = 0, peak = 0, total = dbl(v, "total_cost_eur");
    size_t n, neq;

    ck_assert_str_eq(str(v, "site_id"), SITE);
    ck_assert_str_eq(enum_sym(v, "trigger"), w->trigger);
    ck_assert_msg(!strcmp(status, "optimal") || !strcmp(status, "time_limit") ||
                      !strcmp(status, "heuristic"),
                  "status %s", status);
    ck_assert_double_eq_tol(dbl(v, "energy_cost_eur") + dbl(v, "demand_charge_eur") +
                                dbl(v, "startup_cost_eur") + dbl(v, "co2_cost_eur"),
                            total, 1e-6 * fabs(total));
    ck_assert_double_eq_tol(dbl(v, "savings_eur"), dbl(v, "baseline_cost_eur") - total,
                            1e-6 * fabs(total));
    ck_assert_int_eq(avro_value_get_size(&slots, &n), 0);
    ck_assert_uint_eq(n, NQH);
    for (size_t t = 0; t < n; t++) {
        ck_assert_int_eq(avro_value_get_by_index(&slots, t, &s, NULL), 0);
        double imp = dbl(&s, "import_kw");
        ck_assert_double_eq_tol(dbl(&s, "base_load_kw"), load_kw[t], 1e-9);
        ck_assert_double_eq_tol(dbl(&s, "price_eur_mwh"), price[t] + w->add, 1e-9);
        ck_assert_double_eq_tol(imp, dbl(&s, "base_load_kw") + dbl(&s, "flexible_kw"),
                                1e-6);
        ck_assert_msg(imp <= CAP_KW + 1e-3, "slot %zu imports %g kW", t, imp);
        energy += imp * 0.25 / 1000.0 * dbl(&s, "price_eur_mwh");
        peak = fmax(peak, imp);
    }
    ck_assert_double_eq_tol(dbl(v, "energy_cost_eur"), energy,
                            1e-6 * fabs(energy) + 1e-6);
    ck_assert_double_eq_tol(dbl(v, "peak_kw"), peak, 1e-6 * peak);
    /* the demand charge is the increase of the period's charge */
    ck_assert_double_eq_tol(dbl(v, "demand_charge_eur"),
                            3.45 * fmax(0, peak - w->floor_kw), 1e-6 * peak);
    if (w->created_ms) {
        avro_value_t f = fld(v, "created_at");
        int64_t c;
        ck_assert(avro_value_get_long(&f, &c) == 0);
        ck_assert_int_eq(c, w->created_ms);
    }
    snprintf(w->plan_id, sizeof w->plan_id, "%s", str(v, "plan_id"));
    w->peak_kw = peak;
    w->demand_eur = dbl(v, "demand_charge_eur");
    w->savings_eur = dbl(v, "savings_eur");
    ck_assert_int_eq(avro_value_get_size(&eqs, &neq), 0);
    ck_assert_uint_eq(neq, 5); /* every flexible equipment of the demo site */
    ck_assert_int_eq(avro_value_get_by_index(&eqs, 0, &s, NULL), 0);
    ck_assert_str_eq(str(&s, "equipment_id"), "dryer-1");
    ck_assert_double_eq_tol(dbl(&s, "energy_kwh"), 4800, 1e-3);
}

/* The first record of the DLQ topic; its reason header into reason. */
static void read_dlq(const char *topic, char *reason, size_t size)
{
    char g[128];
    rd_kafka_message_t *m;

    snprintf(g, sizeof g, "%s-dlq", group);
    rd_kafka_t *rk = th_raw_consumer(topic, g);
    int n = th_raw_read(rk, &m, 1, WAIT_S);
    ck_assert_msg(n == 1, "nothing on %s within %d s", topic, WAIT_S);
    ck_assert(th_header(m, "ems.dlq.reason", reason, size) != NULL);
    th_raw_done(rk, &m, n);
}

START_TEST(test_day_plan_from_real_data)
{
    want_t first = {.add = 0, .trigger = "forecast"},
           rev = {.add = 5, .trigger = "prices"};
    want_t rev2 = {.add = 7, .trigger = "prices"};
    char dlq[128], reason[256];
    reader_t r;

    snprintf(prefix, sizeof prefix, "opt%d-%ld.", (int)getpid(),
             (long)time(NULL) % 100000);
    snprintf(group, sizeof group, "optimizer-%.40s", prefix);
    port = th_free_port();
    load_day();
    produce_prices(0, 0, -1);
    reader_open(&r);
    start_optimizer();
    /* The forecast completes the pair, so it names the trigger. Had it
     * come alone in an earlier batch than the prices, the prices would
     * have completed the pair (trigger "prices"): the curve is consumed
     * first, by the start-up restore and then by the service's consumer
     * (the restore ends before the service polls), and only then is the
     * forecast produced. */
    wait_metric("ems_bus_consumed_total{topic=\"energy.prices\"}", 2);
    produce_forecast();
    next_plan(&r, check_plan, &first);

    /* regression: a forecast with a mistyped year is dead-lettered; taken,
     * it was the site's newest for good (every later one older) and left
     * the curve's revisions below nothing to plan */
    produce_forecast_at(day0 + 100 * 365 * 24 * HOUR, NQH,
                        SITE "/day_ahead/2120-10-16T11:00:00Z");
    snprintf(dlq, sizeof dlq, "%senergy.forecast.dlq", prefix);
    read_dlq(dlq, reason, sizeof reason);
    ck_assert_msg(strstr(reason, "issued ") && strstr(reason, " s ahead of the clock"),
                  "%s", reason);

    /* a NaN price is dead-lettered, a repeated forecast plans nothing, a new
     * revision of the curve plans once */
    produce_prices(1, 0, 37);
    produce_forecast();
    produce_prices(2, 5, -1);
    next_plan(&r, check_plan, &rev);
    snprintf(dlq, sizeof dlq, "%senergy.prices.dlq", prefix);
    read_dlq(dlq, reason, sizeof reason);
    ck_assert_msg(strstr(reason, "slot 37 has a non-finite price"), "%s", reason);
    ck_assert_double_eq(metric("ems_optimizer_rejected_total"), 2);
    ck_assert_double_eq(metric("ems_optimizer_plans_published_total"), 2);
    ck_assert_double_eq(metric("ems_optimizer_validation_failures_total"), 0);

    /* bytes that are not a record are dead-lettered once: the restore after
     * the restart skips them (and counts them) instead of adding a copy */
    th_produce_garbage(prefix, "energy.prices", SITE);
    wait_metric("ems_bus_dlq_total{reason=\"bad-magic\",topic=\"energy.prices\"}", 1);

    /* restarted: the forecast comes back from the topic, so a price
     * revision alone plans. The restore ends at the end offsets read at its
     * start, not after its idle timers (10 min here). */
    stop_optimizer();
    slow_restore_timers = 1;
    start_optimizer();
    slow_restore_timers = 0;
    const char *restored[] = {"\"restored\":{\"ok\":true}", NULL};
    th_reply ready = th_wait_http(port, "/readyz", 200, restored, child, WAIT_S);
    th_reply_release(&ready);
    produce_prices(3, 7, -1);
    next_plan(&r, check_plan, &rev2);
    ck_assert_double_eq(metric("ems_bus_replay_skipped_total{reason=\"bad-magic\","
                               "topic=\"energy.prices\"}"),
                        1);
    ck_assert(
        metric("ems_bus_dlq_total{reason=\"bad-magic\",topic=\"energy.prices\"}") <= 0);
    stop_optimizer();
    reader_close(&r);
}
END_TEST

/* ---- demand floor, requests, audit ---- */

/* A site (meter NULL) or meter interval of 15 min on energy.load. */
static void produce_load(int64_t start, double kw, int revision, const char *meter)
{
    bus_t *b = test_bus();
    avro_value_t v, f;
    char err[512];

    ck_assert(bus_value_new(b, "energy.load", &v, err, sizeof err) == 0);
    th_set_str(&v, "site_id", SITE);
    f = fld(&v, "scope");
    ck_assert_int_eq(avro_value_set_enum(&f, meter ? 0 : 1), 0);
    if (meter)
        th_set_str(&v, "meter_id", meter);
    else
        th_set_null(&v, "meter_id");
    th_set_long(&v, "interval_start", start);
    th_set_long(&v, "interval_end", start + DATASET_QH_MS);
    th_set_dbl(&v, "energy_kwh", kw / 4);
    th_set_dbl(&v, "mean_kw", kw);
    th_set_dbl(&v, "peak_kw", kw * 1.02);
    th_set_null(&v, "min_kw");
    th_set_int(&v, "sample_count", 900);
    th_set_dbl(&v, "completeness", 1);
    th_set_int(&v, "revision", revision);
    th_set_long(&v, "watermark_ts", start + HOUR);
    produce(b, "energy.load", &v, start + DATASET_QH_MS);
    avro_value_decref(&v);
    bus_destroy(b);
}

/* Runs `schedule-optimizer replan` against the test stack; its exit code.
 * With config, the broker, registry and prefix come from that file (the
 * service's configuration) and no flag or EMS_* variable names them; its
 * stderr is appended to errlog when given. */
static int replan_run(const char *site, const char *at, const char *id,
                      const char *config, const char *errlog)
{
    char bin[1024];
    const char *argv[20] = {th_bin(bin, sizeof bin, "schedule-optimizer"),
                            "replan",
                            "--site",
                            site,
                            "--at",
                            at,
                            "--id",
                            id,
                            "--by",
                            "tester",
                            "--reason",
                            "floor check"};
    int n = 12;
    th_env_list e = {0};
    int st = 0;

    if (config) {
        argv[n++] = "--config";
        argv[n++] = config;
    } else {
        argv[n++] = "--bootstrap";
        argv[n++] = th_env("EMS_TEST_BOOTSTRAP");
        argv[n++] = "--registry";
        argv[n++] = th_env("EMS_TEST_REGISTRY");
        th_env_add(&e, "EMS_BUS_TOPIC_PREFIX=%s", prefix);
    }
    argv[n] = NULL;
    pid_t pid = th_spawn(&(th_spawn_opts){.argv = argv,
                                          .env = &e,
                                          .clean_ems = config != NULL,
                                          .cwd = th_env("EMS_TEST_ROOT"),
                                          .out = errlog ? "/dev/null" : NULL,
                                          .err = errlog});
    th_env_release(&e);
    ck_assert(waitpid(pid, &st, 0) == pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int replan(const char *site, const char *at, const char *id)
{
    return replan_run(site, at, id, NULL, NULL);
}

/* The service's configuration for the test stack and this test's prefix,
 * with extra YAML lines under bus (indented by two), in dir; returns path. */
static const char *write_config(char *path, size_t size, const char *dir,
                                const char *bus_extra)
{
    th_path(path, size, dir, "schedule-optimizer.yaml");
    th_write_filef(path,
                   "bus:\n"
                   "  bootstrap: \"%s\"\n"
                   "  registry_url: \"%s\"\n"
                   "  topic_prefix: \"%s\"\n"
                   "%s"
                   "optimizer:\n"
                   "  time_limit: 2s\n",
                   th_env("EMS_TEST_BOOTSTRAP"), th_env("EMS_TEST_REGISTRY"), prefix,
                   bus_extra);
    return path;
}

/* Reads audit.events until the schedule.publish event of plan_id; checks
 * its site and returns its reason and correlation id. */
static void find_audit(reader_t *a, const char *plan_id, char *reason, size_t rsz,
                       char *corr, size_t csz, char *after, size_t asz)
{
    bus_record_t *recs;
    char err[512];
    time_t t0 = time(NULL);

    while (time(NULL) - t0 < WAIT_S) {
        int n = bus_consumer_poll(a->c, &recs, 50, 500, err, sizeof err);
        ck_assert_msg(n >= 0, "%s", err);
        for (int i = 0; i < n; i++) {
            avro_value_t *v = &recs[i].value;
            if (strcmp(str(v, "action"), "schedule.publish") ||
                strcmp(str(v, "object"), plan_id))
                continue;
            ck_assert_str_eq(str(v, "site_id"), SITE);
            ck_assert_str_eq(str(v, "service"), "schedule-optimizer");
            snprintf(reason, rsz, "%s", str(v, "reason"));
            snprintf(corr, csz, "%s", str(v, "correlation_id"));
            snprintf(after, asz, "%s", str(v, "after"));
            return;
        }
    }
    ck_abort_msg("no audit event for plan '%s' within %d s", plan_id, WAIT_S);
}

static void audit_open(reader_t *r)
{
    reader_open_on(r, "audit.events", "audit");
}

static void check_audit(reader_t *a, const want_t *w, const char *why,
                        const char *corr_want)
{
    char reason[512], corr[256], after[2048], pid[300];

    find_audit(a, w->plan_id, reason, sizeof reason, corr, sizeof corr, after,
               sizeof after);
    ck_assert_msg(strstr(reason, why) == reason, "reason '%s', want '%s...'", reason,
                  why);
    ck_assert_str_eq(corr, corr_want);
    snprintf(pid, sizeof pid, "\"plan_id\":\"%s\"", w->plan_id);
    ck_assert_msg(strstr(after, pid), "%s", after);
    ck_assert_msg(strstr(after, "\"savings_eur\":"), "%s", after);
    ck_assert_msg(strstr(after, "\"total_cost_eur\":"), "%s", after);
}

START_TEST(test_demand_floor_and_replan)
{
    want_t first = {.trigger = "forecast"}, req = {.trigger = "on_demand"};
    want_t again = {.trigger = "on_demand"};
    char dlq[128], reason[256], id1[64], id2[64];
    int64_t nov3 = 0, oct31 = 0;
    reader_t r, a;

    snprintf(prefix, sizeof prefix, "optr%d-%ld.", (int)getpid(),
             (long)time(NULL) % 100000);
    snprintf(group, sizeof group, "optimizer-%.40s", prefix);
    port = th_free_port();
    snprintf(id1, sizeof id1, "req-1-%d", (int)getpid());
    snprintf(id2, sizeof id2, "req-2-%d", (int)getpid());
    ck_assert(dataset_parse_iso8601("2020-11-03T10:00:00Z", &nov3) == 0);
    ck_assert(dataset_parse_iso8601("2020-10-31T22:00:00Z", &oct31) ==
              0); /* 23:00 CET */
    load_day();
    produce_prices(0, 0, -1);
    reader_open(&r);
    audit_open(&a);
    start_optimizer();
    /* the forecast completes the pair only once the curve is consumed (by
     * the restore and the service), so it names the trigger; produced
     * together, the service may read them in either order */
    wait_metric("ems_bus_consumed_total{topic=\"energy.prices\"}", 2);
    produce_forecast();
    next_plan(&r, check_plan, &first); /* no energy.load yet: floor 0 */
    ck_assert(first.demand_eur > 0);
    check_audit(&a, &first, "new forecast '" SITE "/day_ahead/",
                SITE "/day_ahead/2020-11-09T11:00:00Z");

    /* the period's peak: 40 MW corrected to the first plan's peak + 3 MW;
     * another meter, the previous local month and an interval after the
     * request's event time do not count */
    double floor_kw = first.peak_kw + 3000;
    produce_load(nov3, 40000, 0, NULL);
    produce_load(nov3, floor_kw, 1, NULL);
    produce_load(nov3 + DATASET_QH_MS, 60000, 0, "main-meter");
    produce_load(oct31, 70000, 0, NULL);
    produce_load(day0 - 2 * DATASET_QH_MS, 80000, 0, NULL);
    /* topics are not ordered among each other: let the intervals arrive */
    wait_metric("ems_optimizer_load_intervals_total", 4);

    /* older than the inputs: skipped; unknown site: dead-lettered; then a
     * request at day0 - 1 h re-plans on demand with the floor */
    ck_assert_int_eq(replan(SITE, "2020-11-08T12:00:00Z", "req-stale"), 0);
    wait_metric("ems_optimizer_requests_stale_total", 1);
    ck_assert_int_eq(replan("no-such-site", "2020-11-09T22:00:00Z", "req-x"), 0);
    ck_assert_int_eq(replan(SITE, "2020-11-09T22:00:00Z", id1), 0);
    req.floor_kw = floor_kw;
    req.created_ms = day0 - HOUR;
    next_plan(&r, check_plan, &req);
    ck_assert(req.demand_eur < first.demand_eur);
    ck_assert_double_eq_tol(req.demand_eur, 3.45 * fmax(0, req.peak_kw - floor_kw),
                            1e-6);
    check_audit(&a, &req, "request 'req-1-", id1);
    ck_assert_double_eq(metric("ems_optimizer_requests_total"), 2);
    ck_assert_double_eq(metric("ems_optimizer_requests_stale_total"), 1);
    snprintf(dlq, sizeof dlq, "%senergy.schedule.requests.dlq", prefix);
    read_dlq(dlq, reason, sizeof reason);
    ck_assert_str_eq(reason, "unknown site 'no-such-site'");

    /* restarted: the peak is rebuilt from energy.load */
    stop_optimizer();
    start_optimizer();
    /* this request reads the broker, registry and prefix from the
     * service's configuration file */
    char dir[128], conf[256];
    th_tmpdir(dir, sizeof dir, "replan");
    write_config(conf, sizeof conf, dir, "");
    ck_assert_int_eq(replan_run(SITE, "2020-11-09T22:30:00Z", id2, conf, NULL), 0);
    th_rmtree(dir);
    again.floor_kw = floor_kw;
    again.created_ms = day0 - HOUR / 2;
    next_plan(&r, check_plan, &again);
    ck_assert_str_ne(again.plan_id, req.plan_id);
    check_audit(&a, &again, "request 'req-2-", id2);
    stop_optimizer();
    reader_close(&a);
    reader_close(&r);
}
END_TEST

/* ---- a horizon across the billing-period boundary ---- */

typedef struct boundary {
    double floor_kw;                   /* November's peak so far */
    int next_from;                     /* first slot of December */
    char plan_id[256];                 /* out */
    double peak_nov, peak_dec, demand; /* out */
} boundary_t;

/* Two days, 30 November and 1 December: costs add up and recompute from
 * the site balance, and the demand charge is November's increase above its
 * floor plus December's whole peak, each over its own slots. */
static void check_boundary_plan(avro_value_t *v, void *arg)
{
    boundary_t *w = arg;
    avro_value_t slots = fld(v, "site_slots"), s;
    double energy = 0, total = dbl(v, "total_cost_eur");
    size_t n;

    /* whichever of the pair the service read last made the plan */
    ck_assert_msg(!strcmp(enum_sym(v, "trigger"), "forecast") ||
                      !strcmp(enum_sym(v, "trigger"), "prices"),
                  "trigger %s", enum_sym(v, "trigger"));
    ck_assert_double_eq_tol(dbl(v, "energy_cost_eur") + dbl(v, "demand_charge_eur") +
                                dbl(v, "startup_cost_eur") + dbl(v, "co2_cost_eur"),
                            total, 1e-6 * fabs(total));
    ck_assert_int_eq(avro_value_get_size(&slots, &n), 0);
    ck_assert_uint_eq(n, 2 * NQH);
    w->peak_nov = w->peak_dec = 0;
    for (size_t t = 0; t < n; t++) {
        ck_assert_int_eq(avro_value_get_by_index(&slots, t, &s, NULL), 0);
        double imp = dbl(&s, "import_kw");
        ck_assert_double_eq_tol(dbl(&s, "base_load_kw"), load_kw[t], 1e-9);
        ck_assert_msg(imp <= CAP_KW + 1e-3, "slot %zu imports %g kW", t, imp);
        energy += imp * 0.25 / 1000.0 * dbl(&s, "price_eur_mwh");
        if ((int)t < w->next_from)
            w->peak_nov = fmax(w->peak_nov, imp);
        else
            w->peak_dec = fmax(w->peak_dec, imp);
    }
    ck_assert_double_eq_tol(dbl(v, "energy_cost_eur"), energy, 1e-6 * energy);
    ck_assert_double_eq_tol(dbl(v, "peak_kw"), fmax(w->peak_nov, w->peak_dec),
                            1e-6 * w->peak_dec);
    w->demand = dbl(v, "demand_charge_eur");
    ck_assert_double_eq_tol(w->demand,
                            3.45 * (fmax(0, w->peak_nov - w->floor_kw) + w->peak_dec),
                            1e-6 * w->peak_dec);
    snprintf(w->plan_id, sizeof w->plan_id, "%s", str(v, "plan_id"));
}

/* The real load and prices of 10 and 11 November 2020 stand for 30
 * November and 1 December (the data hold no month's end with both): a
 * 48-hour plan from 00:00 CET on 30 November, with November's peak so far
 * above anything the plan needs, bills December's peak from nothing. */
START_TEST(test_billing_period_boundary)
{
    boundary_t w = {.next_from = NQH};
    char reason[512], corr[256], after[2048], want[128];
    int64_t nov30 = 0, nov3 = 0, dec1 = 0;
    reader_t r, a;

    snprintf(prefix, sizeof prefix, "optb%d-%ld.", (int)getpid(),
             (long)time(NULL) % 100000);
    snprintf(group, sizeof group, "optimizer-%.40s", prefix);
    port = th_free_port();
    ck_assert(dataset_parse_iso8601("2020-11-29T23:00:00Z", &nov30) == 0);
    ck_assert(dataset_parse_iso8601("2020-11-30T23:00:00Z", &dec1) == 0);
    ck_assert(dataset_parse_iso8601("2020-11-03T10:00:00Z", &nov3) == 0);
    load_days(2);
    for (int t = 0; t < 2 * NQH; t++)
        w.floor_kw = fmax(w.floor_kw, load_kw[t]);
    w.floor_kw = ceil(w.floor_kw) + 2000; /* above both days' base load */
    produce_load(nov3, w.floor_kw, 0, NULL);
    produce_forecast_at(nov30, 2 * NQH, SITE "/day_ahead/2020-11-29T11:00:00Z");
    produce_prices_at(nov30, 2 * NQH, "effective/" SITE "/2020-11-29T23:00:00Z", 0, 0,
                      -1);
    reader_open(&r);
    audit_open(&a);
    horizon = "48h";
    start_optimizer();
    next_plan(&r, check_boundary_plan, &w);
    /* December's peak is billed although it stays below November's */
    ck_assert(w.peak_dec < w.floor_kw);
    ck_assert(w.demand >= 3.45 * w.peak_dec - 1e-6);
    find_audit(&a, w.plan_id, reason, sizeof reason, corr, sizeof corr, after,
               sizeof after);
    snprintf(want, sizeof want, "\"next_period_start_ms\":%lld", (long long)dec1);
    ck_assert_msg(strstr(after, want), "%s", after);
    ck_assert_msg(strstr(after, "\"next_period_peak_kw\":0"), "%s", after);
    snprintf(want, sizeof want, "\"period_peak_kw\":%.0f", w.floor_kw);
    ck_assert_msg(strstr(after, want), "want %s in %s", want, after);
    ck_assert_double_eq(metric("ems_optimizer_validation_failures_total"), 0);
    stop_optimizer();
    horizon = NULL;
    reader_close(&a);
    reader_close(&r);
}
END_TEST

/* ---- periodic re-planning ---- */

/* Site intervals of 1 MW on energy.load, the last ending at end_ms: they
 * move the site's event-time clock (and set a floor below every plan's
 * peak). */
static void produce_load_until(int64_t first_start, int64_t end_ms)
{
    for (int64_t t = first_start; t + DATASET_QH_MS <= end_ms; t += DATASET_QH_MS)
        produce_load(t, 1000, 0, NULL);
}

/* `replan --config` opens the bus as the service would: bus.kafka's
 * properties (TLS here, with a CA file that does not exist) reach
 * librdkafka, so the request fails naming the property (exit 1) instead of
 * going out in the clear; a broken file stops it with file and line (exit
 * 2). Nothing is published either way. */
START_TEST(test_replan_config_errors)
{
    char dir[128], conf[256], errlog[256];
    char *text;

    th_unique(prefix, sizeof prefix, "optcfg", ".");
    th_tmpdir(dir, sizeof dir, "replan");
    th_path(errlog, sizeof errlog, dir, "stderr");
    write_config(conf, sizeof conf, dir,
                 "  kafka:\n"
                 "    security.protocol: ssl\n"
                 "    ssl.ca.location: /nonexistent/ems-ca.pem\n");
    ck_assert_int_eq(replan_run(SITE, "2020-11-09T22:00:00Z", "req-tls", conf, errlog),
                     1);
    text = th_read_file(errlog);
    ck_assert_msg(strstr(text, "ssl.ca.location"), "stderr: %s", text);
    free(text);

    write_config(conf, sizeof conf, dir, "  no_such_key: 1\n");
    unlink(errlog);
    ck_assert_int_eq(replan_run(SITE, "2020-11-09T22:00:00Z", "req-bad", conf, errlog),
                     2);
    text = th_read_file(errlog);
    ck_assert_msg(strstr(text, "schedule-optimizer.yaml:5") &&
                      strstr(text, "no_such_key"),
                  "stderr: %s", text);
    free(text);
    th_rmtree(dir);
}
END_TEST

START_TEST(test_periodic_replan)
{
    want_t first = {.trigger = "forecast"};
    want_t req = {.trigger = "on_demand", .floor_kw = 1000};
    want_t per = {.trigger = "periodic", .floor_kw = 1000};
    want_t req2 = {.trigger = "on_demand", .floor_kw = 1000};
    want_t req3 = {.trigger = "on_demand", .floor_kw = 1000};
    char id1[64], id2[64], id3[64], dlq[128], reason[256];
    reader_t r, a;

    snprintf(prefix, sizeof prefix, "optp%d-%ld.", (int)getpid(),
             (long)time(NULL) % 100000);
    snprintf(group, sizeof group, "optimizer-%.40s", prefix);
    port = th_free_port();
    snprintf(id1, sizeof id1, "req-p1-%d", (int)getpid());
    snprintf(id2, sizeof id2, "req-p2-%d", (int)getpid());
    snprintf(id3, sizeof id3, "req-p3-%d", (int)getpid());
    load_day();
    first.created_ms = day0 - 12 * HOUR;
    produce_prices(0, 0, -1);
    reader_open(&r);
    audit_open(&a);
    replan_every = "1h";
    start_optimizer();
    wait_metric("ems_bus_consumed_total{topic=\"energy.prices\"}", 2);
    produce_forecast(); /* issued day0 - 12 h = 11:00 UTC, a boundary */
    next_plan(&r, check_plan, &first);

    /* the clock moves within the hour of the first plan's event time: its
     * own boundary (11:00) is not later than the plan, so nothing is due;
     * the request's plan must come next */
    produce_load_until(day0 - 12 * HOUR, day0 - 12 * HOUR + 45 * 60000);
    wait_metric("ems_optimizer_load_intervals_total", 3);
    ck_assert_int_eq(replan(SITE, "2020-11-09T22:30:00Z", id1), 0);
    req.created_ms = day0 - HOUR / 2;
    next_plan(&r, check_plan, &req);

    /* regression: a request far ahead of the clock (a mistyped year) is
     * dead-lettered; taken, it planned nothing and, counting as the site's
     * last plan, kept the periodic plan below from coming */
    ck_assert_int_eq(replan(SITE, "2120-11-09T22:30:00Z", "req-ahead"), 0);
    snprintf(dlq, sizeof dlq, "%senergy.schedule.requests.dlq", prefix);
    read_dlq(dlq, reason, sizeof reason);
    ck_assert_msg(strstr(reason, "requested_at ") &&
                      strstr(reason, " s ahead of the clock"),
                  "%s", reason);

    /* 22:45 reaches 22:00, not later than the request's plan (22:30);
     * 23:00 reaches the boundary after it: one periodic plan at 23:00 */
    produce_load_until(day0 - HOUR / 2, day0);
    per.created_ms = day0;
    next_plan(&r, check_plan, &per);
    ck_assert_str_ne(per.plan_id, first.plan_id);
    ck_assert_str_ne(per.plan_id, req.plan_id);
    wait_metric("ems_optimizer_periodic_total", 1);
    check_audit(&a, &per, "periodic re-plan at 2020-11-09T23:00:00Z",
                SITE "/day_ahead/2020-11-09T11:00:00Z");

    /* restarted: the restore's clock (23:00) counts as planned, so neither
     * the restore nor the first request after it causes a periodic plan:
     * the second request's plan comes right after the first's */
    stop_optimizer();
    start_optimizer();
    const char *restored[] = {"\"restored\":{\"ok\":true}", NULL};
    th_reply ready = th_wait_http(port, "/readyz", 200, restored, child, WAIT_S);
    th_reply_release(&ready);
    ck_assert_int_eq(replan(SITE, "2020-11-09T22:45:00Z", id2), 0);
    req2.created_ms = day0 - HOUR / 4;
    next_plan(&r, check_plan, &req2);
    ck_assert_int_eq(replan(SITE, "2020-11-09T22:50:00Z", id3), 0);
    req3.created_ms = day0 - HOUR / 6;
    next_plan(&r, check_plan, &req3);
    ck_assert_double_eq(metric("ems_optimizer_periodic_total"), 0);
    stop_optimizer();
    replan_every = NULL;
    reader_close(&a);
    reader_close(&r);
}
END_TEST

static void kill_child(void)
{
    stop_optimizer();
}

static void periodic_teardown(void)
{
    stop_optimizer();
    replan_every = NULL;
}

static Suite *optimizer_suite(void)
{
    Suite *s = suite_create("optimizer_integration");
    TCase *tc = tcase_create("service");

    tcase_add_checked_fixture(tc, NULL, kill_child);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_day_plan_from_real_data);
    tcase_add_test(tc, test_demand_floor_and_replan);
    tcase_add_test(tc, test_billing_period_boundary);
    tcase_add_test(tc, test_replan_config_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("periodic");
    tcase_add_checked_fixture(tc, NULL, periodic_teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_periodic_replan);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(optimizer_suite(), 1);
}
