/*
 * Unit tests of the optimizer's adapter: record checks (table-driven), the
 * problem built from the demo plant model (windows in site-local time,
 * storage, process SLA, thermal store with a draw, tariff charge on a market
 * curve, horizon clipping), the energy.schedule value written from a solved
 * plan, and the parsing of the core's explanations. Site-local time is CET
 * (UTC+1, no DST) through a fixed-offset callback.
 */
#include <avro.h>
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plant/plant.h"
#include "schedule-optimizer/opt_codec.h"
#include "schedule-optimizer/opt_inputs.h"
#include "schedule-optimizer/opt_solve.h"
#include "schedule-optimizer/opt_validate.h"

#ifndef DEMO_PLANT
#define DEMO_PLANT "tools/stack/plant.yaml"
#endif

#define QH 900000LL
#define HOUR 3600000LL
/* Monday 2 November 2020 00:00 CET = 1 November 23:00 UTC */
#define DAY0 1604271600000LL

static plant_t *plant;
static const plant_site_t *site;

static void setup(void)
{
    char err[512];
    plant = plant_load(DEMO_PLANT, err, sizeof err);
    ck_assert_msg(plant != NULL, "%s", err);
    site = plant_site(plant, "nl-neerijnen");
    ck_assert(site != NULL);
}

static void teardown(void)
{
    plant_destroy(plant);
}

/* CET: days counted from 1970-01-01 local, Monday = 0. */
static void cet(void *ctx, int64_t ts, opt_local_t *out)
{
    int64_t l = ts + HOUR, day = l >= 0 ? l / 86400000 : (l - 86399999) / 86400000;
    (void)ctx;
    out->day = day;
    out->minute = (int)((l - day * 86400000) / 60000);
    out->wday = (int)((day + 3) % 7); /* 1970-01-01 was a Thursday */
    out->holiday = 0;
}

static void make_forecast(opt_forecast_t *f, int64_t start, int n)
{
    memset(f, 0, sizeof *f);
    ck_assert(opt_forecast_alloc(f, n) == 0);
    snprintf(f->site_id, sizeof f->site_id, "nl-neerijnen");
    snprintf(f->run_id, sizeof f->run_id, "run-1");
    f->issued_ms = start - 10 * HOUR;
    f->start_ms = start;
    f->end_ms = start + n * QH;
    f->slot_min = 15;
    for (int i = 0; i < n; i++) {
        f->slot_ms[i] = start + i * QH;
        f->p50[i] = 10000 + 100 * (i % 96);
        f->p10[i] = f->p50[i] - 500;
        f->p90[i] = f->p50[i] + 500;
    }
}

/* Hourly prices: 30 EUR/MWh at night, 80 from 07:00 to 21:00 local. */
static void make_prices(opt_prices_t *p, int64_t start, int hours, opt_curve_kind_t kind)
{
    memset(p, 0, sizeof *p);
    ck_assert(opt_prices_alloc(p, hours) == 0);
    snprintf(p->curve_id, sizeof p->curve_id, "curve-1");
    snprintf(p->market, sizeof p->market, "NL");
    if (kind == OPT_CURVE_EFFECTIVE)
        snprintf(p->site_id, sizeof p->site_id, "nl-neerijnen");
    p->kind = kind;
    p->issued_ms = start - 11 * HOUR;
    p->start_ms = start;
    p->end_ms = start + hours * HOUR;
    p->slot_min = 60;
    for (int i = 0; i < hours; i++) {
        opt_local_t l;
        p->slot_ms[i] = start + i * HOUR;
        cet(NULL, p->slot_ms[i], &l);
        p->price[i] = l.minute >= 7 * 60 && l.minute < 21 * 60 ? 80 : 30;
        p->co2_g_kwh[i] = NAN;
    }
}

/* ---- checks ---- */

typedef struct check_case {
    const char *name;
    int slot_min, n, shift_slot, nan_slot, end_extra;
    const char *want; /* substring of the reason; NULL = accepted */
} check_case_t;

static const check_case_t fc_cases[] = {
    {"valid", 15, 96, -1, -1, 0, NULL},
    {"slot does not divide a day", 7, 96, -1, -1, 0, "does not divide"},
    {"misaligned slot", 15, 96, 40, -1, 0, "misaligned"},
    {"NaN load", 15, 96, -1, 17, 0, "non-finite"},
    {"horizon not covered", 15, 96, -1, -1, 1, "do not cover"},
};

START_TEST(test_forecast_check)
{
    const check_case_t *c = &fc_cases[_i];
    opt_forecast_t f;
    char reason[256] = "";

    make_forecast(&f, DAY0, c->n);
    f.slot_min = c->slot_min;
    if (c->shift_slot >= 0)
        f.slot_ms[c->shift_slot] += 60000;
    if (c->nan_slot >= 0)
        f.p50[c->nan_slot] = NAN;
    f.end_ms += c->end_extra * QH;
    int rc = opt_forecast_check(&f, reason, sizeof reason);
    if (!c->want)
        ck_assert_msg(rc == 0, "%s: %s", c->name, reason);
    else
        ck_assert_msg(rc == -1 && strstr(reason, c->want), "%s: '%s'", c->name, reason);
    opt_forecast_release(&f);
}
END_TEST

START_TEST(test_prices_check)
{
    opt_prices_t p;
    char reason[256];

    make_prices(&p, DAY0, 24, OPT_CURVE_EFFECTIVE);
    ck_assert(opt_prices_check(&p, reason, sizeof reason) == 0);
    p.price[5] = NAN;
    ck_assert(opt_prices_check(&p, reason, sizeof reason) == -1);
    ck_assert_msg(strstr(reason, "non-finite price"), "%s", reason);
    p.price[5] = 10;
    p.site_id[0] = 0;
    ck_assert(opt_prices_check(&p, reason, sizeof reason) == -1);
    ck_assert_msg(strstr(reason, "without site_id"), "%s", reason);
    p.kind = OPT_CURVE_MARKET;
    ck_assert(opt_prices_check(&p, reason, sizeof reason) == 0);
    p.slot_ms[3] -= HOUR / 2;
    ck_assert(opt_prices_check(&p, reason, sizeof reason) == -1);
    ck_assert_msg(strstr(reason, "misaligned"), "%s", reason);
    opt_prices_release(&p);
}
END_TEST

/* ---- building ---- */

static const opt_build_conf_t conf24 = {.quantile = OPT_Q_P50,
                                        .horizon_max_ms = 24 * HOUR,
                                        .horizon_min_ms = HOUR};

static int find_eq(const opt_build_t *b, const char *name)
{
    for (int e = 0; e < b->pb.n_eq; e++)
        if (!strcmp(b->pb.eq[e].name, name))
            return e;
    return -1;
}

START_TEST(test_build_demo_day)
{
    opt_forecast_t f;
    opt_prices_t p;
    opt_build_t b = {0};
    opt_msgs_t m;
    char reason[256];

    make_forecast(&f, DAY0, 96);
    make_prices(&p, DAY0, 24, OPT_CURVE_EFFECTIVE);
    ck_assert(opt_build_problem(&b, &conf24, plant, site, &f, &p, f.issued_ms, cet, NULL,
                                reason, sizeof reason) == 0);
    ck_assert_int_eq(b.pb.site.n_slots, 96);
    ck_assert_double_eq(b.pb.site.slot_h, 0.25);
    ck_assert_double_eq(b.pb.site.import_cap_kw, 25000);
    ck_assert_double_eq(b.pb.site.export_cap_kw, 0);
    ck_assert_double_eq(b.pb.site.demand_eur_kw, 3.45);
    ck_assert_double_eq(b.base[5], f.p50[5]);
    ck_assert_double_eq(b.price[4 * 7 - 1], 30); /* 06:45 local */
    ck_assert_double_eq(b.price[4 * 7], 80);     /* 07:00 local */
    ck_assert_ptr_null(b.co2);

    int d = find_eq(&b, "dryer-1"), h = find_eq(&b, "heatpump-1");
    int ts = find_eq(&b, "thermal-store-1"), bat = find_eq(&b, "battery-1");
    int c = find_eq(&b, "compressor-1");
    ck_assert(d >= 0 && h >= 0 && ts >= 0 && bat >= 0 && c >= 0);
    ck_assert_int_eq(b.pb.n_eq, 5);
    ck_assert_int_eq(b.n_plant, 5);
    /* dryer: a 4 h batch between 06:00 and 22:00 local */
    ck_assert_int_eq(b.pb.eq[d].kind, OPT_TASK_BLOCK);
    ck_assert_int_eq(b.pb.eq[d].earliest, 24);
    ck_assert_int_eq(b.pb.eq[d].deadline, 88);
    ck_assert_int_eq(opt_block_duration(&b.pb, &b.pb.eq[d], NULL), 16);
    /* heat pump: interruptible, minutes into slots */
    ck_assert_int_eq(b.pb.eq[h].kind, OPT_TASK_FLEX);
    ck_assert_int_eq(b.pb.eq[h].earliest, 0);
    ck_assert_int_eq(b.pb.eq[h].deadline, 96);
    ck_assert_int_eq(b.pb.eq[h].min_run, 2);
    ck_assert_int_eq(b.pb.eq[h].min_rest, 1);
    ck_assert_double_eq(b.pb.eq[h].energy_kwh, 12000);
    /* battery: fractions into kWh, discharge from the negative minimum */
    ck_assert_int_eq(b.pb.eq[bat].kind, OPT_STORAGE);
    ck_assert_double_eq_tol(b.pb.eq[bat].soc0_kwh, 2000, 1e-9);
    ck_assert_double_eq_tol(b.pb.eq[bat].soc_min_kwh, 400, 1e-9);
    ck_assert_double_eq(b.pb.eq[bat].discharge_max_kw, 2000);
    /* thermal store with a 400 kW draw: (400*24 + 0.005*6000*24) / 0.98 */
    ck_assert_int_eq(b.pb.eq[ts].kind, OPT_TASK_FLEX);
    ck_assert_double_eq_tol(b.pb.eq[ts].energy_kwh, (9600.0 + 720.0) / 0.98, 1e-6);
    ck_assert_int_eq(b.plant_map[b.eq_plant[ts]], OPT_MAP_STORE_DRAW);
    /* compressor: the day's output as one shift */
    ck_assert_int_eq(b.pb.eq[c].n_shifts, 1);
    ck_assert_double_eq(b.pb.eq[c].shifts[0].min_output, 180000);
    opt_msgs_init(&m);
    ck_assert_int_eq(opt_problem_check(&b.pb, &m), 0);
    opt_msgs_release(&m);
    opt_build_release(&b);
    opt_forecast_release(&f);
    opt_prices_release(&p);
}
END_TEST

/* A market curve gets the tariff's charge: peak 07:00-23:00 on weekdays. */
START_TEST(test_build_market_curve_tariff)
{
    opt_forecast_t f;
    opt_prices_t p;
    opt_build_t b = {0};
    char reason[256];

    make_forecast(&f, DAY0, 96);
    make_prices(&p, DAY0, 24, OPT_CURVE_MARKET);
    ck_assert(opt_build_problem(&b, &conf24, plant, site, &f, &p, 0, cet, NULL, reason,
                                sizeof reason) == 0);
    ck_assert_double_eq_tol(b.price[4 * 6], 30 + 4.10, 1e-9);   /* 06:00 offpeak */
    ck_assert_double_eq_tol(b.price[4 * 8], 80 + 9.80, 1e-9);   /* 08:00 peak */
    ck_assert_double_eq_tol(b.price[4 * 22], 30 + 9.80, 1e-9);  /* 22:00 peak */
    ck_assert_double_eq_tol(b.price[4 * 23], 30 + 4.10, 1e-9);  /* 23:00 offpeak */
    opt_build_release(&b);
    opt_forecast_release(&f);
    opt_prices_release(&p);
}
END_TEST

/* The plan starts at its event time; windows the horizon cuts are left to
 * other plans; a 48 h horizon holds a second dryer window. */
START_TEST(test_build_horizon)
{
    opt_forecast_t f;
    opt_prices_t p;
    opt_build_t b = {0};
    opt_build_conf_t c48 = conf24;
    char reason[256];

    make_forecast(&f, DAY0, 192);
    make_prices(&p, DAY0, 48, OPT_CURVE_EFFECTIVE);
    /* event time 12:01 local: first slot 12:15, 24 h; the first day's dryer
     * window is cut, the second day's ends after the horizon */
    ck_assert(opt_build_problem(&b, &conf24, plant, site, &f, &p, DAY0 + 12 * HOUR + 60000,
                                cet, NULL, reason, sizeof reason) == 0);
    ck_assert_int_eq(b.start_ms, DAY0 + 12 * HOUR + QH);
    ck_assert_int_eq(b.pb.site.n_slots, 96);
    ck_assert_int_lt(find_eq(&b, "dryer-1"), 0);
    ck_assert_int_eq(b.n_skipped, 2); /* dryer-1 and heatpump-1 */
    /* 48 h from midnight: two windows of each deferrable */
    c48.horizon_max_ms = 48 * HOUR;
    ck_assert(opt_build_problem(&b, &c48, plant, site, &f, &p, 0, cet, NULL, reason,
                                sizeof reason) == 0);
    ck_assert_int_eq(b.pb.site.n_slots, 192);
    int d2 = find_eq(&b, "dryer-1/2");
    ck_assert_int_ge(d2, 0);
    ck_assert_int_eq(b.pb.eq[d2].earliest, 96 + 24);
    ck_assert_int_eq(b.eq_plant[d2], b.eq_plant[find_eq(&b, "dryer-1")]);
    ck_assert_int_eq(b.pb.eq[find_eq(&b, "compressor-1")].n_shifts, 2);
    /* the overlap ends before the minimum horizon */
    ck_assert(opt_build_problem(&b, &conf24, plant, site, &f, &p, DAY0 + 47 * HOUR + 1,
                                cet, NULL, reason, sizeof reason) == 1);
    ck_assert_msg(strstr(reason, "minimum horizon"), "%s", reason);
    opt_build_release(&b);
    opt_forecast_release(&f);
    opt_prices_release(&p);
}
END_TEST

/* ---- writing energy.schedule ---- */

static avro_value_t field(avro_value_t *v, const char *name)
{
    avro_value_t f;
    ck_assert_msg(avro_value_get_by_name(v, name, &f, NULL) == 0, "%s", name);
    return f;
}

static double dbl(avro_value_t *v, const char *name)
{
    avro_value_t f = field(v, name), b;
    double x;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        avro_value_get_current_branch(&f, &b);
        f = b;
    }
    ck_assert(avro_value_get_double(&f, &x) == 0);
    return x;
}

START_TEST(test_schedule_value)
{
    opt_forecast_t f;
    opt_prices_t p;
    opt_build_t b = {0};
    opt_options_t o;
    opt_result_t r;
    char reason[256], path[1024];
    avro_schema_t sc;
    avro_value_iface_t *iface;
    avro_value_t v, eqs, sites;
    FILE *fp;
    static char json[65536];
    size_t n, neq;

    make_forecast(&f, DAY0, 96);
    make_prices(&p, DAY0, 24, OPT_CURVE_EFFECTIVE);
    ck_assert(opt_build_problem(&b, &conf24, plant, site, &f, &p, 0, cet, NULL, reason,
                                sizeof reason) == 0);
    opt_options_init(&o);
    o.time_limit_s = 5;
    opt_result_init(&r);
    ck_assert_msg(opt_solve(&b.pb, &o, &r, reason, sizeof reason) == 0, "%s", reason);
    ck_assert_int_eq(opt_validate(&b.pb, &r.plan, NULL), 0);

    snprintf(path, sizeof path, "schemas/energy.schedule.avsc");
    fp = fopen(path, "r");
    ck_assert(fp != NULL);
    n = fread(json, 1, sizeof json - 1, fp);
    fclose(fp);
    ck_assert(avro_schema_from_json_length(json, n, &sc) == 0);
    iface = avro_generic_class_from_schema(sc);
    ck_assert(avro_generic_value_new(iface, &v) == 0);
    opt_plan_meta_t meta = {.site_id = "nl-neerijnen", .plan_id = "nl-neerijnen/x",
                            .trigger = OPT_TRIGGER_PRICES, .forecast_run_id = "run-1",
                            .price_curve_id = "curve-1", .created_ms = p.issued_ms};
    ck_assert_msg(opt_codec_schedule(&v, &b, &r, &meta, reason, sizeof reason) == 0, "%s",
                  reason);
    double parts = dbl(&v, "energy_cost_eur") + dbl(&v, "demand_charge_eur") +
                   dbl(&v, "startup_cost_eur") + dbl(&v, "co2_cost_eur");
    ck_assert_double_eq_tol(parts, dbl(&v, "total_cost_eur"), 1e-6);
    ck_assert_double_eq_tol(dbl(&v, "savings_eur"),
                            dbl(&v, "baseline_cost_eur") - dbl(&v, "total_cost_eur"), 1e-9);
    eqs = field(&v, "equipment");
    avro_value_get_size(&eqs, &neq);
    ck_assert_uint_eq(neq, 5);
    sites = field(&v, "site_slots");
    avro_value_get_size(&sites, &n);
    ck_assert_uint_eq(n, 96);
    /* the site balance is base plus the equipment, under the capacity */
    for (size_t t = 0; t < n; t++) {
        avro_value_t s, e, sl, x;
        double flex = 0;
        avro_value_get_by_index(&sites, t, &s, NULL);
        for (size_t k = 0; k < neq; k++) {
            avro_value_get_by_index(&eqs, k, &e, NULL);
            sl = field(&e, "slots");
            avro_value_get_by_index(&sl, t, &x, NULL);
            flex += dbl(&x, "power_kw");
        }
        ck_assert_double_eq_tol(dbl(&s, "flexible_kw"), flex, 1e-6);
        ck_assert_double_eq_tol(dbl(&s, "import_kw"), dbl(&s, "base_load_kw") + flex, 1e-6);
        ck_assert(dbl(&s, "import_kw") <= 25000 + 1e-3);
    }
    /* the dryer's energy is one batch */
    avro_value_get_by_index(&eqs, 0, &eqs, NULL);
    ck_assert_double_eq_tol(dbl(&eqs, "energy_kwh"), 4800, 1e-3);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(sc);
    opt_result_release(&r);
    opt_build_release(&b);
    opt_forecast_release(&f);
    opt_prices_release(&p);
}
END_TEST

/* ---- explanations ---- */

typedef struct relax_case {
    const char *line, *name, *unit;
    double violation;
} relax_case_t;

static const relax_case_t relax_cases[] = {
    {"task dryer-2 cannot meet its deadline: it needs 16 slots at 1200 kW but its window "
     "[4, 10) has 6", "dryer-2 deadline", "slots", 10},
    {"task hp cannot meet its deadline within capacity 800 kW: 120.5 of its 900.0 kWh "
     "cannot be delivered by slot 40", "hp deadline", "kWh", 120.5},
    {"task d cannot meet its deadline within capacity 800 kW: it needs 4 slots at 500 kW "
     "between slot 0 and slot 8", "d deadline", "slots", 4},
    {"storage bat ends 12.5 kWh below its initial state of charge",
     "bat final state of charge", "kWh", 12.5},
    {"process mill falls 3.25 units short of its minimum output in shift 1 (slots 24-55)",
     "mill output in shift 1", "units", 3.25},
    {"import capacity 800 kW must be exceeded by up to 42.0 kW (first in slot 3)",
     "site import capacity", "kW", 42},
    {"something else entirely", "something else entirely", "", 0},
};

START_TEST(test_relaxed_lines)
{
    const relax_case_t *c = &relax_cases[_i];
    char name[128];
    const char *unit;
    double v;

    opt_codec_relaxed(c->line, name, sizeof name, &v, &unit);
    ck_assert_str_eq(name, c->name);
    ck_assert_str_eq(unit, c->unit);
    ck_assert_double_eq_tol(v, c->violation, 1e-9);
}
END_TEST

static Suite *inputs_suite(void)
{
    Suite *s = suite_create("optimizer_inputs");
    TCase *tc = tcase_create("inputs");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_forecast_check, 0, sizeof fc_cases / sizeof *fc_cases);
    tcase_add_test(tc, test_prices_check);
    tcase_add_test(tc, test_build_demo_day);
    tcase_add_test(tc, test_build_market_curve_tariff);
    tcase_add_test(tc, test_build_horizon);
    tcase_add_test(tc, test_schedule_value);
    tcase_add_loop_test(tc, test_relaxed_lines, 0, sizeof relax_cases / sizeof *relax_cases);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(inputs_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
