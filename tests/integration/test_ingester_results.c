/*
 * Integration test of the result topics (test stack, EMS_TEST_*): one record
 * of each of energy.forecast, energy.prices, energy.purchases,
 * energy.schedule, energy.recommendations, energy.alerts and energy.reports
 * is produced through the bus and found as rows in its table; the same
 * records replayed change no row; newer revisions (and later state changes)
 * win, and an older revision arriving after them does not. Each phase ends
 * with a sentinel record per topic on the same key (same partition, after
 * the phase's records), so "the sentinel is stored" means "the phase was
 * processed".
 */
#include <check.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "support/harness.h"
#include "support/ingester.h"
#include "support/pg.h"

#define T0 1604300400000LL /* 2020-11-02T07:00:00Z */
#define QH_MS 900000LL

static char site[TH_ING_SITE_SIZE], group[TH_ING_GROUP_SIZE];
static char prefix[TH_ING_PREFIX_SIZE];
static int port; /* the child's HTTP port */
static pid_t child;
static bus_t *bus;
static bus_producer_t *prod;
static PGconn *pg;

/* ---- filling records ---- */

static avro_value_t field(avro_value_t *v, const char *name)
{
    avro_value_t f;
    ck_assert_msg(avro_value_get_by_name(v, name, &f, NULL) == 0, "no field %s", name);
    return f;
}

/* The value to set: the field itself, or the non-null branch of a union. */
static avro_value_t settable(avro_value_t *v, const char *name)
{
    avro_value_t f = field(v, name), b;
    if (avro_value_get_type(&f) != AVRO_UNION)
        return f;
    ck_assert(avro_value_set_branch(&f, 1, &b) == 0);
    return b;
}

static void set_enum(avro_value_t *v, const char *name, const char *sym)
{
    avro_value_t f = settable(v, name);
    int idx = avro_schema_enum_get_by_name(avro_value_get_schema(&f), sym);
    ck_assert_msg(idx >= 0, "%s: no symbol %s", name, sym);
    ck_assert(avro_value_set_enum(&f, idx) == 0);
}

static avro_value_t append(avro_value_t *v, const char *name)
{
    avro_value_t arr = field(v, name), el;
    ck_assert(avro_value_append(&arr, &el, NULL) == 0);
    return el;
}

static void send(const char *topic, avro_value_t *v, const char *key)
{
    char err[512];
    ck_assert_msg(bus_produce(prod, topic, key, v, T0, err, sizeof err) == 0, "%s: %s",
                  topic, err);
    avro_value_decref(v);
}

static avro_value_t new_value(const char *topic)
{
    avro_value_t v;
    char err[512];
    ck_assert_msg(bus_value_new(bus, topic, &v, err, sizeof err) == 0, "%s", err);
    return v;
}

/* ---- one record per topic; id names the record, n varies its content ---- */

static void forecast(const char *id, int nslots)
{
    avro_value_t v = new_value("energy.forecast"), s;
    char run[96];

    snprintf(run, sizeof run, "%s/%s", site, id);
    th_set_str(&v, "site_id", site);
    th_set_str(&v, "run_id", run);
    set_enum(&v, "run_kind", "day_ahead");
    th_set_long(&v, "issued_at", T0 - 3600000);
    th_set_long(&v, "horizon_start", T0);
    th_set_long(&v, "horizon_end", T0 + nslots * QH_MS);
    th_set_int(&v, "slot_minutes", 15);
    th_set_str(&v, "model_name", "seasonal_naive_weekly");
    th_set_str(&v, "model_version", "v1");
    th_set_bool(&v, "fallback", 0);
    set_enum(&v, "quality", "ok");
    for (int i = 0; i < nslots; i++) {
        s = append(&v, "slots");
        th_set_long(&s, "slot_start", T0 + i * QH_MS);
        th_set_dbl(&s, "p10_kw", 90.0 + i);
        th_set_dbl(&s, "p50_kw", 100.0 + i);
        th_set_dbl(&s, "p90_kw", 110.0 + i);
    }
    send("energy.forecast", &v, site);
}

static void prices(const char *id, int revision, int nslots, double price)
{
    avro_value_t v = new_value("energy.prices"), s;
    char curve[96];

    snprintf(curve, sizeof curve, "effective/%s/%s", site, id);
    th_set_str(&v, "curve_id", curve);
    set_enum(&v, "curve_kind", "effective");
    th_set_str(&v, "market", "EPEX-NL-DA");
    th_set_str(&v, "site_id", site);
    th_set_str(&v, "source", "entsoe-api");
    th_set_long(&v, "issued_at", T0 - 86400000 + revision * 60000);
    th_set_long(&v, "delivery_start", T0);
    th_set_long(&v, "delivery_end", T0 + nslots * QH_MS);
    th_set_int(&v, "slot_minutes", 15);
    th_set_int(&v, "revision", revision);
    for (int i = 0; i < nslots; i++) {
        s = append(&v, "slots");
        th_set_long(&s, "slot_start", T0 + i * QH_MS);
        th_set_dbl(&s, "price_eur_mwh", price + i);
        set_enum(&s, "origin", revision ? "published" : "projected");
        th_set_str(&s, "tariff_period", "peak");
        set_enum(&s, "price_class", "normal");
        th_set_dbl(&s, "energy_eur_mwh", price - 20 + i);
        th_set_null(&s, "network_eur_mwh");
        th_set_null(&s, "taxes_eur_mwh");
        th_set_null(&s, "co2_g_kwh");
    }
    send("energy.prices", &v, site);
}

static void purchase(const char *id, int revision, double volume_kwh)
{
    avro_value_t v = new_value("energy.purchases");
    char contract[96];

    snprintf(contract, sizeof contract, "%s-%s", site, id);
    th_set_str(&v, "contract_id", contract);
    th_set_int(&v, "revision", revision);
    th_set_long(&v, "changed_at", T0 + revision * 1000);
    set_enum(&v, "status", "active");
    th_set_str(&v, "supplier_id", "100042");
    th_set_str(&v, "supplier_name", "Energie BV");
    th_set_str(&v, "site_id", site);
    th_set_long(&v, "period_start", T0);
    th_set_long(&v, "period_end", T0 + 86400000LL * 30);
    th_set_dbl(&v, "volume_kwh", volume_kwh);
    set_enum(&v, "pricing", "fixed");
    th_set_dbl(&v, "fixed_price_eur_mwh", 85.5);
    th_set_str(&v, "currency", "EUR");
    send("energy.purchases", &v, site);
}

static void schedule(const char *id)
{
    avro_value_t v = new_value("energy.schedule"), e, s, bc;
    char plan[96];

    snprintf(plan, sizeof plan, "%s/%s", site, id);
    th_set_str(&v, "site_id", site);
    th_set_str(&v, "plan_id", plan);
    set_enum(&v, "trigger", "forecast");
    th_set_long(&v, "created_at", T0 - 600000);
    th_set_long(&v, "horizon_start", T0);
    th_set_long(&v, "horizon_end", T0 + 2 * QH_MS);
    th_set_int(&v, "slot_minutes", 15);
    set_enum(&v, "solver_status", "optimal");
    th_set_bool(&v, "heuristic", 0);
    th_set_dbl(&v, "mip_gap", 0);
    th_set_long(&v, "solve_time_ms", 42);
    th_set_dbl(&v, "total_cost_eur", 10.0);
    th_set_dbl(&v, "energy_cost_eur", 9.0);
    th_set_dbl(&v, "demand_charge_eur", 0.5);
    th_set_dbl(&v, "startup_cost_eur", 0.5);
    th_set_dbl(&v, "co2_cost_eur", 0);
    th_set_dbl(&v, "baseline_cost_eur", 12.5);
    th_set_dbl(&v, "savings_eur", 2.5);
    th_set_dbl(&v, "peak_kw", 300);
    e = append(&v, "equipment");
    th_set_str(&e, "equipment_id", "dryer-2");
    th_set_dbl(&e, "energy_kwh", 50);
    th_set_dbl(&e, "cost_eur", 4.0);
    th_set_int(&e, "starts", 1);
    for (int i = 0; i < 2; i++) {
        s = append(&e, "slots");
        th_set_long(&s, "slot_start", T0 + i * QH_MS);
        th_set_dbl(&s, "power_kw", i ? 200.0 : 0.0);
        set_enum(&s, "state", i ? "on" : "off");
        th_set_null(&s, "soc_kwh");
        s = append(&v, "site_slots");
        th_set_long(&s, "slot_start", T0 + i * QH_MS);
        th_set_dbl(&s, "base_load_kw", 100);
        th_set_dbl(&s, "flexible_kw", i ? 200.0 : 0.0);
        th_set_dbl(&s, "import_kw", i ? 300.0 : 100.0);
        th_set_dbl(&s, "price_eur_mwh", 80 + i);
    }
    bc = append(&v, "binding_constraints");
    ck_assert(avro_value_set_string(&bc, "dryer-2 deadline") == 0);
    send("energy.schedule", &v, site);
}

static void recommendation(const char *id, int revision, const char *state)
{
    avro_value_t v = new_value("energy.recommendations");
    char rid[96];

    snprintf(rid, sizeof rid, "%s/%s", site, id);
    th_set_str(&v, "site_id", site);
    th_set_str(&v, "recommendation_id", rid);
    th_set_int(&v, "revision", revision);
    th_set_str(&v, "equipment_id", "dryer-2");
    set_enum(&v, "action", "shift");
    th_set_str(&v, "title", "Start dryer-2 at 07:15 instead of 07:00");
    th_set_str(&v, "detail", "cheaper quarter-hour");
    th_set_long(&v, "created_at", T0 - 600000);
    th_set_long(&v, "valid_from", T0);
    th_set_long(&v, "valid_until", T0 + QH_MS);
    th_set_dbl(&v, "expected_saving_eur", 2.5);
    th_set_bool(&v, "requires_approval", 1);
    set_enum(&v, "state", state);
    if (revision) {
        th_set_str(&v, "decided_by", "operator1");
        th_set_long(&v, "decided_at", T0 - 60000);
    }
    send("energy.recommendations", &v, site);
}

static void alert(const char *id, int resolved)
{
    avro_value_t v = new_value("energy.alerts"), m, el;
    char aid[8192];

    snprintf(aid, sizeof aid, "%s/%s", site, id);
    th_set_str(&v, "site_id", site);
    th_set_str(&v, "alert_id", aid);
    th_set_str(&v, "rule", "site_import_above_capacity");
    set_enum(&v, "severity", "critical");
    set_enum(&v, "state", resolved ? "resolved" : "firing");
    th_set_long(&v, "ts", T0 + (resolved ? 1800000 : 0));
    th_set_long(&v, "started_at", T0);
    if (resolved)
        th_set_long(&v, "resolved_at", T0 + 1800000);
    th_set_dbl(&v, "value", 912);
    th_set_dbl(&v, "threshold", 800);
    th_set_str(&v, "unit", "kW");
    th_set_str(&v, "summary", "import 912 kW above contracted 800 kW");
    m = field(&v, "labels");
    ck_assert(avro_value_add(&m, "meter_id", &el, NULL, NULL) == 0);
    ck_assert_int_eq(avro_value_set_string(&el, "m-main"), 0);
    send("energy.alerts", &v, site);
}

static void report(const char *id, int64_t generated_at)
{
    avro_value_t v = new_value("energy.reports"), m, el;
    char rid[96];

    snprintf(rid, sizeof rid, "%s/%s", site, id);
    th_set_str(&v, "site_id", site);
    th_set_str(&v, "report_id", rid);
    set_enum(&v, "kind", "daily");
    set_enum(&v, "format", "pdf");
    th_set_long(&v, "period_start", T0);
    th_set_long(&v, "period_end", T0 + 86400000);
    th_set_long(&v, "generated_at", generated_at);
    th_set_str(&v, "uri", "file:///var/ems/reports/r.pdf");
    th_set_str(&v, "sha256",
               "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    th_set_long(&v, "size_bytes", 1234);
    m = field(&v, "headline");
    ck_assert(avro_value_add(&m, "energy_kwh", &el, NULL, NULL) == 0);
    ck_assert_int_eq(avro_value_set_double(&el, 4321.5), 0);
    send("energy.reports", &v, site);
}

/* The first version of every record. */
static void produce_base(void)
{
    forecast("fc-a", 4);
    prices("day", 0, 4, 80.0);
    purchase("c1", 1, 500000);
    schedule("plan-a");
    recommendation("rec-a", 0, "proposed");
    alert("al-a", 0);
    /* an id too long for its index (PostgreSQL: "index row size exceeds",
     * SQLSTATE 54000): dead-lettered, the records after it stored */
    static char huge[6001];
    unsigned lcg = 12345; /* not compressible, as a repeated letter would be */
    for (size_t i = 0; i < sizeof huge - 1; i++, lcg = lcg * 1103515245u + 12345u)
        huge[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(lcg >> 16) % 36];
    alert(huge, 0);
    report("rep-a", T0 + 86400000 + 3600000);
}

/* A new record per topic with its own id (same key, same partition). */
static void produce_sentinels(int n)
{
    char id[32];
    snprintf(id, sizeof id, "sent%d", n);
    forecast(id, 1);
    prices(id, 0, 1, 50.0);
    purchase(id, 0, 1);
    schedule(id);
    recommendation(id, 0, "proposed");
    alert(id, 0);
    report(id, T0);
}

static void flush(void)
{
    char err[512];
    ck_assert_msg(bus_producer_flush(prod, 30000, err, sizeof err) == 0, "%s", err);
}

/* ---- reading back ---- */

/* Rows of every result table of this test's records, sentinels left out. */
static const char *const table_filter[][2] = {
    {"forecasts", "run_id"},
    {"prices", "curve_id"},
    {"purchases", "contract_id"},
    {"schedule_runs", "plan_id"},
    {"schedules", "plan_id"},
    {"schedule_site_slots", "plan_id"},
    {"recommendations", "recommendation_id"},
    {"alerts", "alert_id"},
    {"reports", "report_id"},
};
#define NTABLES (sizeof table_filter / sizeof table_filter[0])

static void snapshot(char out[NTABLES][64])
{
    for (size_t i = 0; i < NTABLES; i++)
        snprintf(out[i], 64, "%s",
                 th_pg_str(pg,
                           "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY "
                           "t::text), '')) FROM %s t WHERE %s LIKE '%%%s%%' AND %s NOT "
                           "LIKE '%%sent%%'",
                           table_filter[i][0], table_filter[i][1], site,
                           table_filter[i][1]));
}

static int sentinels_stored(int n)
{
    for (size_t i = 0; i < NTABLES; i++)
        if (strcmp(th_pg_str(pg,
                             "SELECT count(*) > 0 FROM %s WHERE %s LIKE '%%%s%%sent%d'",
                             table_filter[i][0], table_filter[i][1], site, n),
                   "t") != 0)
            return 0;
    return 1;
}

static void wait_sentinels(int n)
{
    for (int i = 0; i < 600 && !sentinels_stored(n); i++)
        th_sleep_ms(100);
    ck_assert_msg(sentinels_stored(n), "sentinel records %d not all stored", n);
}

/* ---- the ingester child ---- */

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

START_TEST(test_results_stored_idempotent_newer_wins)
{
    char err[512], before[NTABLES][64], after[NTABLES][64];

    th_ing_names("res", site, group, prefix);
    port = th_free_port();
    bus = th_bus_new(&(bus_conf_t){.topic_prefix = prefix});
    ck_assert_msg((prod = bus_producer_new(bus, err, sizeof err)) != NULL, "%s", err);
    pg = th_pg_connect(NULL);

    /* the topics exist before the ingester subscribes */
    produce_base();
    produce_sentinels(1);
    flush();
    start_ingester();
    wait_sentinels(1);
    /* the alert whose id its index cannot hold went to the DLQ, and the
     * records after it were stored (the sentinels above) */
    ck_assert_double_eq(
        th_poll_metric(
            port, "ems_bus_dlq_total{reason=\"validation\",topic=\"energy.alerts\"}",
            TH_AT_LEAST, 1, 0, 30),
        1);
    ck_assert_str_eq(th_pg_str(pg,
                               "SELECT count(*) FROM alerts WHERE site_id = '%s' AND "
                               "length(alert_id) > 1000",
                               site),
                     "0");

    /* one row per slot / per record, shaped for direct queries */
    ck_assert_str_eq(
        th_pg_str(pg,
                  "SELECT string_agg(p10_kw || '/' || p50_kw || '/' || p90_kw,"
                  " ' ' ORDER BY slot_start) FROM forecasts WHERE run_id = "
                  "'%s/fc-a'",
                  site),
        "90/100/110 91/101/111 92/102/112 93/103/113");
    ck_assert_str_eq(
        th_pg_str(pg,
                  "SELECT issued_at || ' ' || run_kind || ' ' || slot_end FROM "
                  "forecast_latest WHERE site_id = '%s' AND slot_start = "
                  "'2020-11-02 07:45+00'",
                  site),
        "2020-11-02 06:00:00+00 day_ahead 2020-11-02 08:00:00+00");
    ck_assert_str_eq(th_pg_str(pg,
                               "SELECT count(*) || ' ' || min(kind) || ' ' || "
                               "sum(price_eur_mwh) FROM prices WHERE curve_id = "
                               "'effective/%s/day'",
                               site),
                     "4 projected 326");
    ck_assert_str_eq(
        th_pg_str(pg,
                  "SELECT revision || ' ' || volume_mwh || ' ' || price_kind || "
                  "' ' || status FROM purchases WHERE contract_id = '%s-c1'",
                  site),
        "1 500 fixed active");
    ck_assert_str_eq(
        th_pg_str(pg,
                  "SELECT solver_status || ' ' || savings_eur || ' ' || "
                  "array_to_string(binding_constraints, ',') || ' ' || "
                  "(equipment->0->>'equipment_id') FROM schedule_runs WHERE "
                  "plan_id = '%s/plan-a'",
                  site),
        "optimal 2.5 dryer-2 deadline dryer-2");
    ck_assert_str_eq(
        th_pg_str(pg,
                  "SELECT string_agg(state || ':' || power_kw, ' ' ORDER BY "
                  "slot_start) FROM schedules WHERE plan_id = '%s/plan-a'",
                  site),
        "off:0 on:200");
    ck_assert_str_eq(th_pg_str(pg,
                               "SELECT sum(import_kw) FROM schedule_site_slots WHERE "
                               "plan_id = '%s/plan-a'",
                               site),
                     "400");
    ck_assert_str_eq(
        th_pg_str(pg,
                  "SELECT state || ' ' || revision FROM recommendations WHERE "
                  "recommendation_id = '%s/rec-a'",
                  site),
        "proposed 0");
    ck_assert_str_eq(th_pg_str(pg,
                               "SELECT state || ' ' || severity || ' ' || (labels->>"
                               "'meter_id') FROM alerts WHERE alert_id = '%s/al-a'",
                               site),
                     "firing critical m-main");
    ck_assert_str_eq(
        th_pg_str(pg,
                  "SELECT kind || ' ' || format || ' ' || (headline->>"
                  "'energy_kwh') FROM reports WHERE report_id = '%s/rep-a'",
                  site),
        "daily pdf 4321.5");

    /* replay: every row stays as it is (updated_at included) */
    snapshot(before);
    produce_base();
    produce_sentinels(2);
    flush();
    wait_sentinels(2);
    snapshot(after);
    for (size_t i = 0; i < NTABLES; i++)
        ck_assert_msg(strcmp(before[i], after[i]) == 0, "replay changed %s",
                      table_filter[i][0]);

    /* newer revisions win; older ones produced after them do not */
    prices("day", 1, 2, 90.0);
    prices("day", 0, 4, 80.0);
    purchase("c1", 2, 600000);
    purchase("c1", 0, 100);
    recommendation("rec-a", 1, "accepted");
    recommendation("rec-a", 0, "proposed");
    alert("al-a", 1);
    alert("al-a", 0);
    report("rep-a", T0 + 2 * 86400000);
    report("rep-a", T0 + 86400000 + 3600000);
    produce_sentinels(3);
    flush();
    wait_sentinels(3);
    ck_assert_str_eq(th_pg_str(pg,
                               "SELECT count(*) || ' ' || min(kind) || ' ' || "
                               "sum(price_eur_mwh) || ' ' || min(revision) FROM prices "
                               "WHERE curve_id = 'effective/%s/day'",
                               site),
                     "2 published 181 1");
    ck_assert_str_eq(
        th_pg_str(pg,
                  "SELECT price_eur_mwh FROM price_latest WHERE site_id = '%s' "
                  "AND slot_start = '2020-11-02 07:15+00'",
                  site),
        "91");
    ck_assert_str_eq(
        th_pg_str(pg,
                  "SELECT revision || ' ' || volume_mwh FROM purchases WHERE "
                  "contract_id = '%s-c1'",
                  site),
        "2 600");
    ck_assert_str_eq(
        th_pg_str(pg,
                  "SELECT state || ' ' || revision || ' ' || decided_by FROM "
                  "recommendations WHERE recommendation_id = '%s/rec-a'",
                  site),
        "accepted 1 operator1");
    ck_assert_str_eq(th_pg_str(pg,
                               "SELECT state || ' ' || resolved_at FROM alerts WHERE "
                               "alert_id = '%s/al-a'",
                               site),
                     "resolved 2020-11-02 07:30:00+00");
    ck_assert_str_eq(
        th_pg_str(pg, "SELECT created_at FROM reports WHERE report_id = '%s/rep-a'",
                  site),
        "2020-11-04 07:00:00+00");

    stop_ingester();
    PQfinish(pg);
    bus_producer_destroy(prod);
    bus_destroy(bus);
}
END_TEST

static void teardown(void)
{
    stop_ingester();
}

int main(void)
{
    Suite *s = suite_create("ingester-results");
    TCase *tc = tcase_create("results");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_results_stored_idempotent_newer_wins);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 1);
}
