/*
 * Unit tests of the optimizer's adapter: record checks (table-driven), the
 * problem built from the demo plant model (windows in site-local time,
 * storage, process SLA, thermal store with a draw, tariff charge on a market
 * curve, horizon clipping), the energy.schedule value written from a solved
 * plan, and the parsing of the core's explanations. Site-local time is CET
 * (UTC+1, no DST) through a fixed-offset callback.
 *
 * A second suite covers the billing period's peak (opt_peak): the month
 * boundary in site time, corrected intervals, the event-time cutoff, old
 * periods dropped; the floor in the built problem; the published costs with
 * a floor; and the energy.load and energy.schedule.requests codecs.
 */
#include <avro.h>
#include <check.h>
#include <lp_lib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plant/plant.h"
#include "schedule-optimizer/opt_codec.h"
#include "schedule-optimizer/opt_heur.h"
#include "schedule-optimizer/opt_inputs.h"
#include "schedule-optimizer/opt_model.h"
#include "schedule-optimizer/opt_peak.h"
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
static void make_prices(opt_prices_t *p, int64_t start, int hours,
                        opt_curve_kind_t kind)
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

/* Regression (found by fuzz_opt_records): a horizon from INT64_MIN to
 * INT64_MAX made the check compute end - start in int64_t, an overflow
 * (undefined; the sanitizer build aborts). It is refused like any horizon
 * the slots do not cover. */
START_TEST(test_forecast_check_extreme_horizon)
{
    opt_forecast_t f;
    char reason[256] = "";

    make_forecast(&f, DAY0, 96);
    f.start_ms = INT64_MIN;
    f.end_ms = INT64_MAX;
    ck_assert_int_eq(opt_forecast_check(&f, reason, sizeof reason), -1);
    ck_assert_msg(strstr(reason, "do not cover"), "'%s'", reason);
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

/* Regression: a forecast or curve with a mistyped year became the site's
 * (or market's) newest record for good, and one issued far ahead the
 * event time of every plan, so every request was stale. A week ahead of
 * the clock is the limit; the end of time is refused without overflow. */
START_TEST(test_input_ahead_check)
{
    const int64_t now = DAY0, week = OPT_INPUT_MAX_AHEAD_MS;
    char reason[128] = "";

    ck_assert_int_eq(
        opt_input_ahead_check(now - HOUR, now + 24 * HOUR, now, reason, sizeof reason),
        0);
    ck_assert_int_eq(
        opt_input_ahead_check(now + week, now + week, now, reason, sizeof reason), 0);
    ck_assert_int_eq(
        opt_input_ahead_check(now, now + week + 1000, now, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "horizon starts 604801 s ahead of the clock");
    ck_assert_int_eq(
        opt_input_ahead_check(now + 365 * 24 * HOUR, now, now, reason, sizeof reason),
        -1);
    ck_assert_str_eq(reason, "issued 31536000 s ahead of the clock");
    ck_assert_int_eq(opt_input_ahead_check(now, INT64_MAX, now, reason, sizeof reason),
                     -1);
    ck_assert_str_eq(reason, "horizon starts 9223370432583175 s ahead of the clock");
}
END_TEST

/* ---- building ---- */

static const opt_build_conf_t conf24 = {
    .quantile = OPT_Q_P50, .horizon_max_ms = 24 * HOUR, .horizon_min_ms = HOUR};

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
    ck_assert(opt_build_problem(&b, &conf24, plant, site, &f, &p, f.issued_ms, cet,
                                NULL, reason, sizeof reason) == 0);
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
    ck_assert_double_eq(b.pb.eq[d].p_min_kw, 800);
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
    /* thermal store: storage whose process draws 400 kW from its SOC */
    ck_assert_int_eq(b.pb.eq[ts].kind, OPT_STORAGE);
    ck_assert_double_eq(b.pb.eq[ts].draw_kw, 400);
    ck_assert_double_eq_tol(b.pb.eq[ts].soc0_kwh, 6000, 1e-9);
    ck_assert_double_eq(b.pb.eq[ts].discharge_max_kw, 0);
    ck_assert_int_eq(b.plant_map[b.eq_plant[ts]], OPT_MAP_STORAGE);
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

/* A window whose deadline is not on the slot grid: the slot it cuts
 * (21:30-21:45 for a 21:40 deadline) would let the batch end late, so the
 * task's last slot is the one ending at 21:30. */
START_TEST(test_build_deadline_off_grid)
{
    opt_forecast_t f;
    opt_prices_t p;
    opt_build_t b = {0};
    char reason[256];
    plant_equipment_t *dryer = (plant_equipment_t *)plant_equipment(plant, "dryer-1");

    ck_assert_ptr_nonnull(dryer);
    dryer->deadline_min = 21 * 60 + 40;
    make_forecast(&f, DAY0, 96);
    make_prices(&p, DAY0, 24, OPT_CURVE_EFFECTIVE);
    ck_assert(opt_build_problem(&b, &conf24, plant, site, &f, &p, f.issued_ms, cet,
                                NULL, reason, sizeof reason) == 0);
    int d = find_eq(&b, "dryer-1");
    ck_assert_int_ge(d, 0);
    ck_assert_int_eq(b.pb.eq[d].earliest, 24); /* 06:00 */
    ck_assert_int_eq(b.pb.eq[d].deadline, 86); /* ends 21:30 */
    dryer->deadline_min = 21 * 60 + 30;        /* on the grid: 21:30 itself */
    opt_build_release(&b);
    memset(&b, 0, sizeof b);
    ck_assert(opt_build_problem(&b, &conf24, plant, site, &f, &p, f.issued_ms, cet,
                                NULL, reason, sizeof reason) == 0);
    ck_assert_int_eq(b.pb.eq[find_eq(&b, "dryer-1")].deadline, 86);
    opt_build_release(&b);
    opt_forecast_release(&f);
    opt_prices_release(&p);
}
END_TEST

/* Amsterdam in 2020: CEST from 29 March 01:00 UTC to 25 October 01:00 UTC. */
static void ams(void *ctx, int64_t ts, opt_local_t *out)
{
    int dst = ts >= 1585443600000LL && ts < 1603587600000LL;
    cet(ctx, ts + (dst ? HOUR : 0), out);
}

/* 29 March 2020 has 92 quarter-hours in Amsterdam: a plan over the whole
 * day owes the compressor's whole daily output (180,000), not 92/96 of it;
 * the 4 slots of 30 March in the horizon owe 4/96. */
START_TEST(test_build_dst_day_owes_whole_output)
{
    opt_forecast_t f;
    opt_prices_t p;
    opt_build_t b = {0};
    char reason[256];
    const int64_t day = 1585436400000LL; /* 29 March 2020 00:00 CET */

    make_forecast(&f, day, 96);
    make_prices(&p, day, 24, OPT_CURVE_EFFECTIVE);
    ck_assert(opt_build_problem(&b, &conf24, plant, site, &f, &p, f.issued_ms, ams,
                                NULL, reason, sizeof reason) == 0);
    const opt_equipment_t *q = &b.pb.eq[find_eq(&b, "compressor-1")];
    ck_assert_int_eq(q->n_shifts, 2);
    ck_assert_int_eq(q->shifts[0].start, 0);
    ck_assert_int_eq(q->shifts[0].end, 92);
    ck_assert_double_eq_tol(q->shifts[0].min_output, 180000, 1e-6);
    ck_assert_double_eq_tol(q->shifts[1].min_output, 180000 * 4 / 96.0, 1e-6);
    /* the short day's 92 quarter-hours are day 0 */
    ck_assert_int_eq(opt_slot_day(&b.pb.site, 91), 0);
    ck_assert_int_eq(opt_slot_day(&b.pb.site, 92), 1);
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
    ck_assert_double_eq_tol(b.price[4 * 6], 30 + 4.10, 1e-9);  /* 06:00 offpeak */
    ck_assert_double_eq_tol(b.price[4 * 8], 80 + 9.80, 1e-9);  /* 08:00 peak */
    ck_assert_double_eq_tol(b.price[4 * 22], 30 + 9.80, 1e-9); /* 22:00 peak */
    ck_assert_double_eq_tol(b.price[4 * 23], 30 + 4.10, 1e-9); /* 23:00 offpeak */
    opt_build_release(&b);
    opt_forecast_release(&f);
    opt_prices_release(&p);
}
END_TEST

/* The heuristic's plan passes the validator, which checks the windows of
 * one equipment together. */
static void assert_heuristic_valid(const opt_problem_t *pb)
{
    opt_plan_t pl;
    opt_msgs_t msgs;

    opt_msgs_init(&msgs);
    ck_assert_int_eq(opt_plan_init(&pl, pb->n_eq, pb->site.n_slots), 0);
    opt_heuristic(pb, &pl);
    ck_assert_msg(opt_validate(pb, &pl, &msgs) == 0, "%s", msgs.n ? msgs.v[0] : "");
    opt_plan_release(&pl);
    opt_msgs_release(&msgs);
}

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
    ck_assert(opt_build_problem(&b, &conf24, plant, site, &f, &p,
                                DAY0 + 12 * HOUR + 60000, cet, NULL, reason,
                                sizeof reason) == 0);
    ck_assert_int_eq(b.start_ms, DAY0 + 12 * HOUR + QH);
    ck_assert_int_eq(b.pb.site.n_slots, 96);
    ck_assert_int_lt(find_eq(&b, "dryer-1"), 0);
    ck_assert_int_eq(b.n_skipped, 2); /* dryer-1 and heatpump-1 */
    /* starts per day count site-local days: 23:45 is the first, 00:00 the
     * second */
    ck_assert_int_eq(opt_slot_day(&b.pb.site, 46), 0);
    ck_assert_int_eq(opt_slot_day(&b.pb.site, 47), 1);
    ck_assert_int_eq(opt_slot_day(&b.pb.site, 95), 1);
    assert_heuristic_valid(&b.pb);
    /* 48 h from midnight: two windows of each deferrable */
    c48.horizon_max_ms = 48 * HOUR;
    ck_assert(opt_build_problem(&b, &c48, plant, site, &f, &p, 0, cet, NULL, reason,
                                sizeof reason) == 0);
    ck_assert_int_eq(b.pb.site.n_slots, 192);
    int d2 = find_eq(&b, "dryer-1/2");
    ck_assert_int_ge(d2, 0);
    ck_assert_int_eq(b.pb.eq[d2].earliest, 96 + 24);
    ck_assert_int_eq(b.eq_plant[d2], b.eq_plant[find_eq(&b, "dryer-1")]);
    /* the heat pump's two windows are one machine: one group, no other's */
    int h1 = find_eq(&b, "heatpump-1"), h2 = find_eq(&b, "heatpump-1/2");
    ck_assert_int_ge(h1, 0);
    ck_assert_int_ge(h2, 0);
    ck_assert_int_gt(b.pb.eq[h1].group, 0);
    ck_assert_int_eq(b.pb.eq[h2].group, b.pb.eq[h1].group);
    ck_assert_int_ne(b.pb.eq[d2].group, b.pb.eq[h1].group);
    ck_assert_int_eq(b.pb.eq[find_eq(&b, "compressor-1")].group, 0);
    assert_heuristic_valid(&b.pb);
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

/* Regression: the horizon's arithmetic overflowed on event times and
 * records at the ends of the int64_t range (a request's requested_at, a
 * record's issued_at or a periodic boundary from a load interval's end
 * are taken as they come). A plan's event time near INT64_MAX wrapped the
 * horizon's start round to the far past, 96 slots that no record covers,
 * read from before the records' arrays; records ending near INT64_MAX
 * wrapped the horizon's end. Now the first is nothing to plan and the
 * second the records' day. */
START_TEST(test_build_horizon_extreme_times)
{
    const int64_t top = (INT64_MAX / HOUR - 26) * HOUR;
    const int64_t low = (INT64_MIN / HOUR + 12) * HOUR;
    opt_forecast_t f;
    opt_prices_t p;
    opt_build_t b = {0};
    opt_build_conf_t c48 = conf24;
    char reason[256];

    c48.horizon_max_ms = 48 * HOUR;
    make_forecast(&f, DAY0, 96);
    make_prices(&p, DAY0, 24, OPT_CURVE_EFFECTIVE);
    ck_assert_int_eq(opt_build_problem(&b, &c48, plant, site, &f, &p, INT64_MAX, cet,
                                       NULL, reason, sizeof reason),
                     1);
    ck_assert_msg(strstr(reason, "minimum horizon"), "%s", reason);
    opt_forecast_release(&f);
    /* a forecast at the bottom of the range beside a curve of today */
    make_forecast(&f, low, 96);
    ck_assert_int_eq(opt_build_problem(&b, &c48, plant, site, &f, &p, 0, cet, NULL,
                                       reason, sizeof reason),
                     1);
    opt_forecast_release(&f);
    opt_prices_release(&p);
    /* both records from INT64_MIN itself: the slot before the horizon,
     * whose local time tells whether a window is cut, overflowed */
    make_forecast(&f, 0, 96);
    make_prices(&p, 0, 24, OPT_CURVE_EFFECTIVE);
    f.start_ms = p.start_ms = INT64_MIN;
    f.end_ms = p.end_ms = INT64_MIN + 24 * HOUR;
    for (int i = 0; i < 96; i++)
        f.slot_ms[i] = INT64_MIN + i * QH;
    for (int i = 0; i < 24; i++)
        p.slot_ms[i] = INT64_MIN + i * HOUR;
    ck_assert_int_eq(opt_build_problem(&b, &c48, plant, site, &f, &p, INT64_MIN, cet,
                                       NULL, reason, sizeof reason),
                     1);
    ck_assert_msg(strstr(reason, "start of time"), "%s", reason);
    opt_forecast_release(&f);
    opt_prices_release(&p);
    /* both records a day long near the top: 48 h from their start overflow */
    make_forecast(&f, top, 96);
    make_prices(&p, top, 24, OPT_CURVE_EFFECTIVE);
    ck_assert_msg(opt_build_problem(&b, &c48, plant, site, &f, &p, 0, cet, NULL, reason,
                                    sizeof reason) == 0,
                  "%s", reason);
    ck_assert_int_eq(b.start_ms, top);
    ck_assert_int_eq(b.end_ms, top + 24 * HOUR);
    ck_assert_int_eq(b.pb.site.n_slots, 96);
    opt_build_release(&b);
    opt_forecast_release(&f);
    opt_prices_release(&p);
}
END_TEST

/* A non-interruptible deferrable without a window (the local day) in a
 * 48 h horizon from midnight: two windows that touch at midnight, one
 * machine, so a batch ending at 24:00 and the next day's starting at
 * 00:00 are one run with one start-up cost, and the model has the column
 * that credits the second start-up back (ADR 0010, item 16). */
START_TEST(test_build_batch_windows_touch)
{
    opt_forecast_t f;
    opt_prices_t p;
    opt_build_t b = {0};
    opt_build_conf_t c48 = conf24;
    char reason[256], name[32];
    plant_equipment_t *dryer = (plant_equipment_t *)plant_equipment(plant, "dryer-1");

    ck_assert_ptr_nonnull(dryer);
    dryer->earliest_start_min = dryer->deadline_min = -1;
    c48.horizon_max_ms = 48 * HOUR;
    make_forecast(&f, DAY0, 192);
    make_prices(&p, DAY0, 48, OPT_CURVE_EFFECTIVE);
    ck_assert(opt_build_problem(&b, &c48, plant, site, &f, &p, 0, cet, NULL, reason,
                                sizeof reason) == 0);
    int d1 = find_eq(&b, "dryer-1"), d2 = find_eq(&b, "dryer-1/2");
    ck_assert_int_ge(d1, 0);
    ck_assert_int_ge(d2, 0);
    ck_assert_int_eq(b.pb.eq[d1].kind, OPT_TASK_BLOCK);
    ck_assert_int_eq(b.pb.eq[d1].earliest, 0);
    ck_assert_int_eq(b.pb.eq[d1].deadline, 96);
    ck_assert_int_eq(b.pb.eq[d2].earliest, 96);
    ck_assert_int_gt(b.pb.eq[d1].group, 0);
    ck_assert_int_eq(b.pb.eq[d2].group, b.pb.eq[d1].group);
    opt_model_t *m = opt_model_new(&b.pb, 0, reason, sizeof reason);
    ck_assert_ptr_nonnull(m);
    snprintf(name, sizeof name, "k%d_96", d1);
    ck_assert_int_gt(get_nameindex(opt_model_lp(m), name, FALSE), 0);
    opt_model_destroy(m);
    assert_heuristic_valid(&b.pb);
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

static int flag(avro_value_t *v, const char *name)
{
    avro_value_t f = field(v, name);
    int x;
    ck_assert(avro_value_get_boolean(&f, &x) == 0);
    return x;
}

static double dbl(avro_value_t *v, const char *name)
{
    avro_value_t f = field(v, name), b;
    double x;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        ck_assert_int_eq(avro_value_get_current_branch(&f, &b), 0);
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
    opt_plan_meta_t meta = {.site_id = "nl-neerijnen",
                            .plan_id = "nl-neerijnen/x",
                            .trigger = OPT_TRIGGER_PRICES,
                            .forecast_run_id = "run-1",
                            .price_curve_id = "curve-1",
                            .created_ms = p.issued_ms};
    ck_assert_msg(opt_codec_schedule(&v, &b, &r, &meta, reason, sizeof reason) == 0,
                  "%s", reason);
    double parts = dbl(&v, "energy_cost_eur") + dbl(&v, "demand_charge_eur") +
                   dbl(&v, "startup_cost_eur") + dbl(&v, "co2_cost_eur");
    ck_assert_double_eq_tol(parts, dbl(&v, "total_cost_eur"), 1e-6);
    ck_assert_double_eq_tol(dbl(&v, "savings_eur"),
                            dbl(&v, "baseline_cost_eur") - dbl(&v, "total_cost_eur"),
                            1e-9);
    eqs = field(&v, "equipment");
    ck_assert_int_eq(avro_value_get_size(&eqs, &neq), 0);
    ck_assert_uint_eq(neq, 5);
    sites = field(&v, "site_slots");
    ck_assert_int_eq(avro_value_get_size(&sites, &n), 0);
    ck_assert_uint_eq(n, 96);
    /* the site balance is base plus the equipment, under the capacity */
    for (size_t t = 0; t < n; t++) {
        avro_value_t s, e, sl, x;
        double flex = 0;
        ck_assert_int_eq(avro_value_get_by_index(&sites, t, &s, NULL), 0);
        for (size_t k = 0; k < neq; k++) {
            ck_assert_int_eq(avro_value_get_by_index(&eqs, k, &e, NULL), 0);
            sl = field(&e, "slots");
            ck_assert_int_eq(avro_value_get_by_index(&sl, t, &x, NULL), 0);
            flex += dbl(&x, "power_kw");
        }
        ck_assert_double_eq_tol(dbl(&s, "flexible_kw"), flex, 1e-6);
        ck_assert_double_eq_tol(dbl(&s, "import_kw"), dbl(&s, "base_load_kw") + flex,
                                1e-6);
        ck_assert(dbl(&s, "import_kw") <= 25000 + 1e-3);
    }
    /* the dryer's energy is one batch */
    ck_assert_int_eq(avro_value_get_by_index(&eqs, 0, &eqs, NULL), 0);
    ck_assert_double_eq_tol(dbl(&eqs, "energy_kwh"), 4800, 1e-3);
    /* the heuristic flag: the solver's plan, a heuristic one, and a relaxed
     * plan rounded from the elastic LP (not the elastic MILP's own) */
    ck_assert_int_eq(flag(&v, "heuristic"), r.status == OPT_HEURISTIC);
    r.status = OPT_INFEASIBLE;
    r.source = "elastic";
    ck_assert_int_eq(opt_codec_heuristic(&r), 0);
    r.source = "elastic-rounded";
    ck_assert_int_eq(opt_codec_heuristic(&r), 1);
    ck_assert_int_eq(avro_value_reset(&v), 0);
    ck_assert_msg(opt_codec_schedule(&v, &b, &r, &meta, reason, sizeof reason) == 0,
                  "%s", reason);
    ck_assert_int_eq(flag(&v, "heuristic"), 1);
    r.status = OPT_HEURISTIC;
    r.source = "heuristic";
    ck_assert_int_eq(opt_codec_heuristic(&r), 1);
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
    {"task dryer-2 cannot meet its deadline: it needs 16 slots at 1200 kW but its "
     "window "
     "[4, 10) has 6",
     "dryer-2 deadline", "slots", 10},
    {"task hp cannot meet its deadline within capacity 800 kW: 120.5 of its 900.0 kWh "
     "cannot be delivered by slot 40",
     "hp deadline", "kWh", 120.5},
    {"task d cannot meet its deadline within capacity 800 kW: it needs 4 slots at 500 "
     "kW "
     "between slot 0 and slot 8",
     "d deadline", "slots", 4},
    {"storage bat ends 12.5 kWh below its initial state of charge",
     "bat final state of charge", "kWh", 12.5},
    {"process mill falls 3.25 units short of its minimum output in shift 1 (slots "
     "24-55)",
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

/* ---- the billing period's peak ---- */

/* UTC instants */
#define OCT31_2245 1604184300000LL /* 2020-10-31T22:45:00Z = 23:45 CET, October */
#define OCT31_2300 1604185200000LL /* 2020-10-31T23:00:00Z = 1 Nov 00:00 CET */
#define NOV05_1000 1604570400000LL /* 2020-11-05T10:00:00Z */
#define NOV30_2300 1606777200000LL /* 2020-11-30T23:00:00Z = 1 Dec 00:00 CET */
#define SEP15_1000 1600164000000LL /* 2020-09-15T10:00:00Z */

static opt_load_t iv(int64_t start, double kw, int rev)
{
    opt_load_t l = {.site_scope = 1,
                    .start_ms = start,
                    .end_ms = start + QH,
                    .mean_kw = kw,
                    .revision = rev};
    snprintf(l.site_id, sizeof l.site_id, "nl-neerijnen");
    return l;
}

static int add(opt_peak_t *p, int64_t start, double kw, int rev)
{
    opt_load_t l = iv(start, kw, rev);
    return opt_peak_add(p, &l, cet, NULL);
}

typedef struct key_case {
    int64_t ts;
    opt_billing_t period;
    int64_t key;
} key_case_t;

static const key_case_t key_cases[] = {
    {OCT31_2245, OPT_BILL_MONTH, 2020 * 12 + 9},
    {OCT31_2300, OPT_BILL_MONTH, 2020 * 12 + 10}, /* UTC still says October */
    {NOV30_2300, OPT_BILL_MONTH, 2020 * 12 + 11},
    {1609455600000LL, OPT_BILL_MONTH, 2021 * 12 + 0}, /* 2020-12-31T23:00Z */
    {1609455600000LL - QH, OPT_BILL_YEAR, 2020},
    {1609455600000LL, OPT_BILL_YEAR, 2021},
    {951782400000LL, OPT_BILL_MONTH, 2000 * 12 + 1}, /* 2000-02-29T00:00Z, leap day */
};

START_TEST(test_billing_key)
{
    const key_case_t *c = &key_cases[_i];
    opt_local_t l;

    cet(NULL, c->ts, &l);
    ck_assert_int_eq(opt_billing_key(c->period, &l), c->key);
    ck_assert_int_eq(opt_billing_parse("year"), OPT_BILL_YEAR);
    ck_assert_int_eq(opt_billing_parse("month"), OPT_BILL_MONTH);
    ck_assert_int_eq(opt_billing_parse(NULL), OPT_BILL_MONTH);
}
END_TEST

START_TEST(test_peak_month_boundary_site_time)
{
    opt_peak_t *p = opt_peak_new(OPT_BILL_MONTH);

    ck_assert(p != NULL);
    ck_assert_double_eq(opt_peak_floor(p, NOV05_1000, NOV05_1000, cet, NULL), 0);
    ck_assert_int_eq(add(p, OCT31_2245, 900, 0), 1);
    ck_assert_int_eq(add(p, OCT31_2300, 500, 0), 1);
    ck_assert_int_eq(add(p, NOV05_1000, 700, 0), 1);
    /* November in site time starts at 23:00 UTC: the 900 kW is October's */
    ck_assert_double_eq(
        opt_peak_floor(p, OCT31_2300 + 2 * QH, OCT31_2300 + 2 * QH, cet, NULL), 500);
    ck_assert_double_eq(
        opt_peak_floor(p, NOV05_1000 + 10 * HOUR, NOV05_1000 + 10 * HOUR, cet, NULL),
        700);
    /* a plan for the end of October still sees October */
    ck_assert_double_eq(opt_peak_floor(p, OCT31_2245, OCT31_2300, cet, NULL), 900);
    /* event time: an interval not yet over at the cutoff does not count */
    ck_assert_double_eq(opt_peak_floor(p, NOV05_1000, NOV05_1000 + QH - 1, cet, NULL),
                        500);
    /* a new period starts from nothing */
    ck_assert_double_eq(opt_peak_floor(p, NOV30_2300, NOV30_2300 + HOUR, cet, NULL), 0);
    ck_assert_int_eq(add(p, NOV30_2300, 300, 0), 1);
    ck_assert_double_eq(opt_peak_floor(p, NOV30_2300, NOV30_2300 + HOUR, cet, NULL),
                        300);
    /* October is now two periods back: dropped, and late intervals of it ignored */
    ck_assert_uint_eq(opt_peak_count(p), 3);
    ck_assert_int_eq(add(p, OCT31_2245 - QH, 5000, 0), 0);
    ck_assert_double_eq(opt_peak_floor(p, OCT31_2245, OCT31_2300, cet, NULL), 0);
    opt_peak_destroy(p);
    opt_peak_destroy(NULL);
}
END_TEST

START_TEST(test_peak_revisions)
{
    opt_peak_t *p = opt_peak_new(OPT_BILL_MONTH);
    int64_t at = NOV05_1000;
    int64_t later = NOV05_1000 + 24 * HOUR;

    ck_assert_int_eq(add(p, at, 1000, 0), 1);
    ck_assert_int_eq(add(p, at + QH, 400, 0), 1);
    ck_assert_double_eq(opt_peak_floor(p, later, later, cet, NULL), 1000);
    /* a correction replaces the interval, also downwards */
    ck_assert_int_eq(add(p, at, 600, 1), 1);
    ck_assert_double_eq(opt_peak_floor(p, later, later, cet, NULL), 600);
    /* the older revision, re-delivered, changes nothing */
    ck_assert_int_eq(add(p, at, 1000, 0), 0);
    ck_assert_double_eq(opt_peak_floor(p, later, later, cet, NULL), 600);
    ck_assert_int_eq(add(p, at, 1200, 2), 1);
    ck_assert_double_eq(opt_peak_floor(p, later, later, cet, NULL), 1200);
    ck_assert_uint_eq(opt_peak_count(p), 2);
    /* out-of-order arrival keeps the intervals apart */
    ck_assert_int_eq(add(p, at - QH, 800, 0), 1);
    ck_assert_uint_eq(opt_peak_count(p), 3);
    ck_assert_double_eq(opt_peak_floor(p, later, at, cet, NULL), 800);
    /* a year tracker keeps the whole year */
    opt_peak_destroy(p);
    p = opt_peak_new(OPT_BILL_YEAR);
    ck_assert_int_eq(add(p, SEP15_1000, 2000, 0), 1);
    ck_assert_int_eq(add(p, NOV05_1000, 700, 0), 1);
    ck_assert_double_eq(opt_peak_floor(p, later, later, cet, NULL), 2000);
    opt_peak_destroy(p);
}
END_TEST

typedef struct load_check_case {
    double kw;
    int64_t len;
    int rev;
    const char *reason; /* NULL = valid */
} load_check_case_t;

static const load_check_case_t load_check_cases[] = {
    {500, QH, 0, NULL},
    {-20, QH, 3, NULL}, /* export: a negative mean is a value */
    {NAN, QH, 0, "mean_kw is not finite"},
    {INFINITY, QH, 0, "mean_kw is not finite"},
    {500, 0, 0, "interval ends at or before its start"},
    {500, QH, -1, "revision -1 is negative"},
    /* regression: its end became the site's clock for periodic plans,
     * which stopped until the clock caught up (for good at the end of
     * time: the restore rebuilt the same clock) */
    {500, OPT_LOAD_MAX_LENGTH_MS, 0, NULL},
    {500, OPT_LOAD_MAX_LENGTH_MS + 1, 0,
     "interval of 86400.001 s is longer than a day"},
    {500, INT64_MAX - NOV05_1000, 0,
     "interval of 9223370432284375.807 s is longer than a day"},
};

/* The wall clock of the load checks: an hour after the cases' interval. */
#define LOAD_NOW (NOV05_1000 + HOUR)

START_TEST(test_load_check)
{
    const load_check_case_t *c = &load_check_cases[_i];
    opt_load_t l = iv(NOV05_1000, c->kw, c->rev);
    char reason[128] = "";

    l.end_ms = l.start_ms + c->len;
    ck_assert_int_eq(opt_load_check(&l, LOAD_NOW, reason, sizeof reason),
                     c->reason ? -1 : 0);
    if (c->reason)
        ck_assert_str_eq(reason, c->reason);
}
END_TEST

/* A day ahead of the clock is the limit; a mistyped year is refused. */
START_TEST(test_load_check_future)
{
    opt_load_t l = iv(LOAD_NOW + OPT_LOAD_MAX_FUTURE_MS, 500, 0);
    char reason[128] = "";

    ck_assert_int_eq(opt_load_check(&l, LOAD_NOW, reason, sizeof reason), 0);
    l = iv(LOAD_NOW + 365LL * 24 * HOUR, 500, 0);
    ck_assert_int_eq(opt_load_check(&l, LOAD_NOW, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "interval starts 31536000 s ahead of the clock");
}
END_TEST

/* A schema file's generic value (the caller decrefs value, iface, schema). */
static void schema_value(const char *topic, avro_schema_t *sc,
                         avro_value_iface_t **iface, avro_value_t *v)
{
    static char json[65536];
    char path[256];
    FILE *fp;
    size_t n;

    snprintf(path, sizeof path, "schemas/%s.avsc", topic);
    ck_assert_msg((fp = fopen(path, "r")) != NULL, "%s", path);
    n = fread(json, 1, sizeof json - 1, fp);
    fclose(fp);
    ck_assert(avro_schema_from_json_length(json, n, sc) == 0);
    *iface = avro_generic_class_from_schema(*sc);
    ck_assert(avro_generic_value_new(*iface, v) == 0);
}

static void set_field(avro_value_t *v, const char *name, int kind, int64_t i, double d,
                      const char *s)
{
    avro_value_t f = field(v, name), b;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        ck_assert(avro_value_set_branch(&f, s || kind != 's' ? 1 : 0, &b) == 0);
        f = b;
    }
    switch (kind) {
    case 's':
        ck_assert(avro_value_set_string(&f, s) == 0);
        break;
    case 'l':
        ck_assert(avro_value_set_long(&f, i) == 0);
        break;
    case 'i':
        ck_assert(avro_value_set_int(&f, (int)i) == 0);
        break;
    case 'e':
        ck_assert(avro_value_set_enum(&f, (int)i) == 0);
        break;
    default:
        ck_assert(avro_value_set_double(&f, d) == 0);
    }
}

START_TEST(test_load_codec)
{
    avro_schema_t sc;
    avro_value_iface_t *iface;
    avro_value_t v;
    opt_load_t l;
    char reason[256];

    schema_value("energy.load", &sc, &iface, &v);
    set_field(&v, "site_id", 's', 0, 0, "nl-neerijnen");
    set_field(&v, "scope", 'e', 1, 0, NULL);
    set_field(&v, "interval_start", 'l', NOV05_1000, 0, NULL);
    set_field(&v, "interval_end", 'l', NOV05_1000 + QH, 0, NULL);
    set_field(&v, "energy_kwh", 'd', 0, 3000, NULL);
    set_field(&v, "mean_kw", 'd', 0, 12000, NULL);
    set_field(&v, "peak_kw", 'd', 0, 12500, NULL);
    set_field(&v, "sample_count", 'i', 900, 0, NULL);
    set_field(&v, "completeness", 'd', 0, 1, NULL);
    set_field(&v, "revision", 'i', 2, 0, NULL);
    set_field(&v, "watermark_ts", 'l', NOV05_1000 + HOUR, 0, NULL);
    ck_assert_msg(opt_codec_load(&v, &l, reason, sizeof reason) == 0, "%s", reason);
    ck_assert_str_eq(l.site_id, "nl-neerijnen");
    ck_assert_int_eq(l.site_scope, 1);
    ck_assert_int_eq(l.start_ms, NOV05_1000);
    ck_assert_int_eq(l.end_ms, NOV05_1000 + QH);
    ck_assert_double_eq(l.mean_kw, 12000);
    ck_assert_int_eq(l.revision, 2);
    set_field(&v, "scope", 'e', 0, 0, NULL);
    ck_assert(opt_codec_load(&v, &l, reason, sizeof reason) == 0);
    ck_assert_int_eq(l.site_scope, 0);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(sc);
}
END_TEST

START_TEST(test_request_codec)
{
    avro_schema_t sc;
    avro_value_iface_t *iface;
    avro_value_t v;
    opt_request_t q = {.requested_ms = NOV05_1000}, back;
    char reason[256];

    snprintf(q.request_id, sizeof q.request_id, "req-1");
    snprintf(q.site_id, sizeof q.site_id, "nl-neerijnen");
    snprintf(q.requested_by, sizeof q.requested_by, "alice");
    schema_value("energy.schedule.requests", &sc, &iface, &v);
    ck_assert(opt_codec_request_value(&v, &q, reason, sizeof reason) == 0);
    ck_assert_msg(opt_codec_request(&v, &back, reason, sizeof reason) == 0, "%s",
                  reason);
    ck_assert_str_eq(back.request_id, "req-1");
    ck_assert_str_eq(back.site_id, "nl-neerijnen");
    ck_assert_str_eq(back.requested_by, "alice");
    ck_assert_str_eq(back.reason, "");
    ck_assert_int_eq(back.requested_ms, NOV05_1000);
    snprintf(q.reason, sizeof q.reason, "dryer-1 back from maintenance");
    q.site_id[0] = 0;
    ck_assert(opt_codec_request_value(&v, &q, reason, sizeof reason) == 0);
    ck_assert_int_eq(opt_codec_request(&v, &back, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "request without site_id");
    ck_assert_str_eq(back.reason, "dryer-1 back from maintenance");
    /* regression: a request far ahead of the clock planned nothing (its
     * horizon started past every record) and, counting as the site's last
     * plan, stopped its periodic plans until then; a day ahead is the
     * limit */
    q.requested_ms = NOV05_1000 + OPT_REQUEST_MAX_AHEAD_MS;
    ck_assert_int_eq(opt_request_check(&q, NOV05_1000, reason, sizeof reason), 0);
    q.requested_ms += 1000;
    ck_assert_int_eq(opt_request_check(&q, NOV05_1000, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "requested_at 86401 s ahead of the clock");
    q.requested_ms = INT64_MAX;
    ck_assert_int_eq(opt_request_check(&q, NOV05_1000, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "requested_at 9223370432284375 s ahead of the clock");
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(sc);
}
END_TEST

/* The floor reaches the problem; the record carries the increase of the
 * period's charge, so a floor above any possible import makes it 0 while
 * the savings stay the core's. */
START_TEST(test_build_and_publish_with_floor)
{
    opt_forecast_t f;
    opt_prices_t p;
    opt_build_t b = {0};
    opt_build_conf_t bc = conf24;
    opt_peak_t *pk = opt_peak_new(OPT_BILL_MONTH);
    opt_options_t o;
    opt_result_t r;
    opt_pub_cost_t c;
    avro_schema_t sc;
    avro_value_iface_t *iface;
    avro_value_t v;
    char reason[256];

    make_forecast(&f, DAY0, 96);
    make_prices(&p, DAY0, 24, OPT_CURVE_EFFECTIVE);
    ck_assert_int_eq(add(pk, OCT31_2300, 30000, 0), 1);      /* 1 Nov local */
    ck_assert_int_eq(add(pk, DAY0 + 2 * HOUR, 40000, 0), 1); /* after the cutoff */
    bc.peak = pk;
    bc.peak_cutoff_ms = f.issued_ms;
    ck_assert(opt_build_problem(&b, &bc, plant, site, &f, &p, 0, cet, NULL, reason,
                                sizeof reason) == 0);
    ck_assert_double_eq(b.pb.site.peak_so_far_kw, 30000);
    ck_assert_double_eq(b.pb.site.demand_eur_kw, 3.45);
    opt_options_init(&o);
    o.time_limit_s = 5;
    opt_result_init(&r);
    ck_assert_msg(opt_solve(&b.pb, &o, &r, reason, sizeof reason) == 0, "%s", reason);
    opt_codec_costs(&b, &r, &c);
    ck_assert_double_eq(c.floor_kw, 30000);
    ck_assert(c.peak_kw <= 25000 + 1e-3 && c.peak_kw > 10000);
    ck_assert_double_eq_tol(c.demand_eur, 0, 1e-6);
    ck_assert_double_eq_tol(c.total_eur, c.energy_eur + c.startup_eur + c.co2_eur,
                            1e-6);
    ck_assert_double_eq_tol(c.savings_eur, r.savings_eur, 1e-6);
    schema_value("energy.schedule", &sc, &iface, &v);
    opt_plan_meta_t meta = {.site_id = "nl-neerijnen",
                            .plan_id = "nl-neerijnen/y",
                            .trigger = OPT_TRIGGER_ON_DEMAND,
                            .created_ms = f.issued_ms};
    ck_assert_msg(opt_codec_schedule(&v, &b, &r, &meta, reason, sizeof reason) == 0,
                  "%s", reason);
    ck_assert_double_eq_tol(dbl(&v, "demand_charge_eur"), 0, 1e-6);
    ck_assert_double_eq_tol(dbl(&v, "peak_kw"), c.peak_kw, 1e-9);
    ck_assert_double_eq_tol(dbl(&v, "total_cost_eur"), c.total_eur, 1e-9);
    ck_assert_double_eq_tol(dbl(&v, "baseline_cost_eur"), c.baseline_eur, 1e-9);

    /* a horizon in the next month starts from no peak */
    opt_build_release(&b);
    opt_forecast_release(&f);
    opt_prices_release(&p);
    make_forecast(&f, NOV30_2300, 96);
    make_prices(&p, NOV30_2300, 24, OPT_CURVE_EFFECTIVE);
    bc.peak_cutoff_ms = NOV30_2300;
    ck_assert(opt_build_problem(&b, &bc, plant, site, &f, &p, 0, cet, NULL, reason,
                                sizeof reason) == 0);
    ck_assert_double_eq(b.pb.site.peak_so_far_kw, 0);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(sc);
    opt_result_release(&r);
    opt_build_release(&b);
    opt_forecast_release(&f);
    opt_prices_release(&p);
    opt_peak_destroy(pk);
}
END_TEST

/* Site load over slots [from, to) of a plan: its highest value. */
static double max_load(const opt_build_t *b, const opt_plan_t *pl, int from, int to)
{
    double top = 0;

    for (int t = from; t < to; t++)
        top = fmax(top, opt_site_load(&b->pb, pl, t));
    return top;
}

/* A plan made at noon on 30 November for 24 h: its second half is
 * December's, whose peak is billed on its own from nothing, while
 * November's floor is the month's peak so far (20 MW). Priced with
 * November's floor throughout (one floor per plan, as before), the plan
 * fills December's first hours up to 20 MW: billed as the tariff bills it,
 * 159,579.75 EUR against 154,233.42 for the plan that knows the boundary
 * (December's peak 18,448.8 kW). */
START_TEST(test_build_across_billing_boundary)
{
    const int64_t noon = NOV30_2300 - 12 * HOUR; /* 12:00 CET */
    opt_forecast_t f;
    opt_prices_t p;
    opt_build_t b = {0};
    opt_build_conf_t bc = conf24;
    opt_peak_t *pk = opt_peak_new(OPT_BILL_MONTH);
    opt_options_t o;
    opt_result_t r, one;
    opt_pub_cost_t c;
    opt_cost_t as_billed;
    char reason[256];
    opt_local_t days[3];

    make_forecast(&f, noon, 96);
    make_prices(&p, noon, 24, OPT_CURVE_EFFECTIVE);
    ck_assert_int_eq(add(pk, NOV05_1000, 20000, 0), 1);
    bc.peak = pk;
    bc.peak_cutoff_ms = f.issued_ms;
    ck_assert(opt_build_problem(&b, &bc, plant, site, &f, &p, 0, cet, NULL, reason,
                                sizeof reason) == 0);
    ck_assert_int_eq(b.start_ms, noon);
    ck_assert_int_eq(b.pb.site.next_period_slot, 48); /* 00:00 CET, 1 December */
    ck_assert_double_eq(b.pb.site.peak_so_far_kw, 20000);
    ck_assert_double_eq(b.pb.site.next_peak_so_far_kw, 0);
    opt_options_init(&o);
    o.time_limit_s = 5;
    opt_result_init(&r);
    ck_assert_msg(opt_solve(&b.pb, &o, &r, reason, sizeof reason) == 0, "%s", reason);
    ck_assert_int_eq(r.violations, 0);
    ck_assert_double_eq_tol(r.cost.next_peak_kw, max_load(&b, &r.plan, 48, 96), 1e-6);
    ck_assert_double_eq_tol(r.cost.peak_kw, fmax(20000, max_load(&b, &r.plan, 0, 48)),
                            1e-6);
    ck_assert_double_eq_tol(r.cost.demand_eur,
                            3.45 * (r.cost.peak_kw + r.cost.next_peak_kw), 1e-6);
    opt_codec_costs(&b, &r, &c);
    ck_assert_int_eq(c.next_period_ms, NOV30_2300);
    ck_assert_double_eq(c.next_floor_kw, 0);
    ck_assert_double_eq_tol(
        c.demand_eur, 3.45 * (r.cost.peak_kw - 20000 + r.cost.next_peak_kw), 1e-6);
    /* the same horizon with one floor throughout */
    b.pb.site.next_period_slot = 0;
    opt_result_init(&one);
    ck_assert_msg(opt_solve(&b.pb, &o, &one, reason, sizeof reason) == 0, "%s", reason);
    b.pb.site.next_period_slot = 48;
    opt_plan_cost(&b.pb, &one.plan, &as_billed);
    ck_assert_msg(as_billed.total_eur > r.cost.total_eur + 1000,
                  "one floor %.2f EUR, split %.2f EUR", as_billed.total_eur,
                  r.cost.total_eur);
    ck_assert_msg(max_load(&b, &one.plan, 48, 96) > r.cost.next_peak_kw + 500,
                  "December peak: one floor %.1f kW, split %.1f kW",
                  max_load(&b, &one.plan, 48, 96), r.cost.next_peak_kw);
    /* within one month (or a yearly tariff) there is no second period */
    cet(NULL, NOV30_2300 - HOUR, &days[0]);
    cet(NULL, NOV30_2300, &days[1]);
    cet(NULL, NOV30_2300 + HOUR, &days[2]);
    ck_assert_int_eq(opt_billing_next_slot(OPT_BILL_MONTH, days, 3), 1);
    ck_assert_int_eq(opt_billing_next_slot(OPT_BILL_YEAR, days, 3), 0);
    ck_assert_int_eq(opt_billing_next_slot(OPT_BILL_MONTH, days + 1, 2), 0);
    opt_result_release(&one);
    opt_result_release(&r);
    opt_build_release(&b);
    opt_forecast_release(&f);
    opt_prices_release(&p);
    opt_peak_destroy(pk);
}
END_TEST

static Suite *peak_suite(void)
{
    Suite *s = suite_create("optimizer_peak");
    TCase *tc = tcase_create("peak");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_billing_key, 0, sizeof key_cases / sizeof *key_cases);
    tcase_add_test(tc, test_peak_month_boundary_site_time);
    tcase_add_test(tc, test_peak_revisions);
    tcase_add_test(tc, test_load_check_future);
    tcase_add_loop_test(tc, test_load_check, 0,
                        sizeof load_check_cases / sizeof *load_check_cases);
    tcase_add_test(tc, test_load_codec);
    tcase_add_test(tc, test_request_codec);
    tcase_add_test(tc, test_build_and_publish_with_floor);
    tcase_add_test(tc, test_build_across_billing_boundary);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *inputs_suite(void)
{
    Suite *s = suite_create("optimizer_inputs");
    TCase *tc = tcase_create("inputs");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_forecast_check, 0, sizeof fc_cases / sizeof *fc_cases);
    tcase_add_test(tc, test_forecast_check_extreme_horizon);
    tcase_add_test(tc, test_prices_check);
    tcase_add_test(tc, test_input_ahead_check);
    tcase_add_test(tc, test_build_demo_day);
    tcase_add_test(tc, test_build_deadline_off_grid);
    tcase_add_test(tc, test_build_dst_day_owes_whole_output);
    tcase_add_test(tc, test_build_market_curve_tariff);
    tcase_add_test(tc, test_build_horizon);
    tcase_add_test(tc, test_build_horizon_extreme_times);
    tcase_add_test(tc, test_build_batch_windows_touch);
    tcase_add_test(tc, test_schedule_value);
    tcase_add_loop_test(tc, test_relaxed_lines, 0,
                        sizeof relax_cases / sizeof *relax_cases);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(inputs_suite());
    int failed;

    srunner_add_suite(sr, peak_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
