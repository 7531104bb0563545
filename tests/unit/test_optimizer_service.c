/*
 * Unit tests of the service layer without a bus or the skeleton: the
 * intake (opt_service_take.c, os_take: decoded records of the demo plant's
 * site kept as its latest inputs, on a service state built by hand) and
 * the start-up check of the configuration (opt_svc_conf_check).
 */
#include <avro.h>
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plant/plant.h"
#include "schedule-optimizer/opt_service_int.h"
#include "support/harness.h"

#ifndef DEMO_PLANT
#define DEMO_PLANT "tools/stack/plant.yaml"
#endif

#define HOUR 3600000LL
/* Monday 2 November 2020 00:00 CET = 1 November 23:00 UTC */
#define DAY0 1604271600000LL

static plant_t *plant;
static opt_service_t *svc;
static avro_schema_t prices_schema;
static avro_value_iface_t *prices_iface;

static void setup(void)
{
    char err[512];
    static char json[65536];
    FILE *fp;
    size_t n;

    plant = plant_load(DEMO_PLANT, err, sizeof err);
    ck_assert_msg(plant != NULL, "%s", err);
    svc = opt_service_new();
    ck_assert(svc != NULL);
    svc->nsites = plant_site_count(plant);
    svc->sites = calloc(svc->nsites, sizeof *svc->sites);
    ck_assert(svc->sites != NULL);
    for (size_t i = 0; i < svc->nsites; i++) {
        svc->sites[i].site = plant_site_at(plant, i);
        svc->sites[i].peak = opt_peak_new(OPT_BILL_MONTH);
        ck_assert(svc->sites[i].peak != NULL);
    }
    ck_assert((fp = fopen("schemas/energy.prices.avsc", "r")) != NULL);
    n = fread(json, 1, sizeof json - 1, fp);
    fclose(fp);
    ck_assert(avro_schema_from_json_length(json, n, &prices_schema) == 0);
    prices_iface = avro_generic_class_from_schema(prices_schema);
}

static void teardown(void)
{
    opt_service_shutdown(NULL, svc);
    opt_service_free(svc);
    avro_value_iface_decref(prices_iface);
    avro_schema_decref(prices_schema);
    plant_destroy(plant);
}

static avro_value_t field(avro_value_t *v, const char *name)
{
    avro_value_t f;
    ck_assert_msg(avro_value_get_by_name(v, name, &f, NULL) == 0, "%s", name);
    return f;
}

static void set_long(avro_value_t *v, const char *name, int64_t x)
{
    avro_value_t f = field(v, name);
    ck_assert(avro_value_set_long(&f, x) == 0);
}

static void set_str(avro_value_t *v, const char *name, const char *s)
{
    avro_value_t f = field(v, name), b;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        ck_assert(avro_value_set_branch(&f, s ? 1 : 0, &b) == 0);
        if (!s) {
            ck_assert(avro_value_set_null(&b) == 0);
            return;
        }
        f = b;
    }
    ck_assert(avro_value_set_string(&f, s) == 0);
}

/* A market curve of market: 24 hourly slots of 50 EUR/MWh from DAY0. */
static void market_curve(avro_value_t *v, const char *market)
{
    avro_value_t f, arr, s, co2, b;
    char id[128];

    ck_assert(avro_generic_value_new(prices_iface, v) == 0);
    snprintf(id, sizeof id, "market/%s/2020-11-01T23:00:00Z", market);
    set_str(v, "curve_id", id);
    f = field(v, "curve_kind");
    ck_assert(avro_value_set_enum(&f, 0) == 0);
    set_str(v, "market", market);
    set_str(v, "site_id", NULL);
    set_long(v, "issued_at", DAY0 - 11 * HOUR);
    set_long(v, "delivery_start", DAY0);
    set_long(v, "delivery_end", DAY0 + 24 * HOUR);
    f = field(v, "slot_minutes");
    ck_assert(avro_value_set_int(&f, 60) == 0);
    arr = field(v, "slots");
    for (int i = 0; i < 24; i++) {
        ck_assert(avro_value_append(&arr, &s, NULL) == 0);
        set_long(&s, "slot_start", DAY0 + i * HOUR);
        f = field(&s, "price_eur_mwh");
        ck_assert(avro_value_set_double(&f, 50) == 0);
        co2 = field(&s, "co2_g_kwh");
        ck_assert(avro_value_set_branch(&co2, 0, &b) == 0);
        ck_assert(avro_value_set_null(&b) == 0);
    }
}

static int take(avro_value_t *v, char *reason, size_t rsz)
{
    bus_record_t rec = {.topic = T_PRICES, .value = *v};
    return os_take(svc, &rec, reason, rsz);
}

/* Regression: a market curve was kept for every market name that came,
 * one curve (up to 100,000 slots) per name for the life of the process,
 * though only the markets the plant's sites trade in are planned with;
 * energy.prices carries every market the price analysis follows. The
 * others are now ignored: taken (not dead-lettered), not kept. */
START_TEST(test_market_curve_of_no_site_ignored)
{
    const site_state_t *st = &svc->sites[0];
    char reason[256], market[32];
    avro_value_t v;

    ck_assert_str_eq(st->site->market, "NL");
    ck_assert(os_prices_of(svc, st) == NULL);
    for (int i = 0; i < 50; i++) {
        snprintf(market, sizeof market, "ZONE-%d", i);
        market_curve(&v, market);
        ck_assert_msg(take(&v, reason, sizeof reason) == 0, "%s", reason);
        avro_value_decref(&v);
    }
    ck_assert_uint_eq(svc->nmarkets, 0);
    ck_assert(os_prices_of(svc, st) == NULL);
    market_curve(&v, "NL");
    ck_assert_msg(take(&v, reason, sizeof reason) == 0, "%s", reason);
    avro_value_decref(&v);
    ck_assert_uint_eq(svc->nmarkets, 1);
    ck_assert(os_prices_of(svc, st) != NULL);
    ck_assert_str_eq(os_prices_of(svc, st)->market, "NL");
    ck_assert_int_eq(st->dirty, 1);
    ck_assert_int_eq(st->trigger, OPT_TRIGGER_PRICES);
}
END_TEST

/* Regression: a min_horizon longer than the horizon was taken, and then
 * every pair and request was "less than the minimum horizon": the service
 * ran and planned nothing. Equal is a whole horizon (the demo's 24 h). */
START_TEST(test_conf_min_horizon)
{
    opt_svc_conf_t c = {.horizon_ms = 24 * HOUR, .min_horizon_ms = 24 * HOUR};
    char err[256] = "";

    ck_assert_int_eq(opt_svc_conf_check(&c, err, sizeof err), 0);
    c.min_horizon_ms = 25 * HOUR;
    ck_assert_int_eq(opt_svc_conf_check(&c, err, sizeof err), -1);
    ck_assert_str_eq(err, "optimizer.min_horizon (90000000 ms) is longer than "
                          "optimizer.horizon (86400000 ms): no plan could be made");
}
END_TEST

static Suite *service_suite(void)
{
    Suite *s = suite_create("optimizer_service");
    TCase *tc = tcase_create("take");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_market_curve_of_no_site_ignored);
    suite_add_tcase(s, tc);
    tc = tcase_create("config");
    tcase_add_test(tc, test_conf_min_horizon);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(service_suite(), 0);
}
