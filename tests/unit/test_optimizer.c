/*
 * Unit tests of the schedule optimizer core: small cases whose optimum is
 * computed by hand in the comments, the elastic explanation, the baseline,
 * and the independent validator.
 */
#include <check.h>
#include <lp_lib.h>
#include <stdio.h>
#include <unistd.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schedule-optimizer/opt_heur.h"
#include "schedule-optimizer/opt_lns.h"
#include "schedule-optimizer/opt_model.h"
#include "schedule-optimizer/opt_pump.h"
#include "schedule-optimizer/opt_solve.h"
#include "schedule-optimizer/opt_validate.h"
#include "support/harness.h"

#define MAXT 8

typedef struct tcase {
    double price[MAXT], base[MAXT];
    opt_equipment_t eq[3];
    opt_problem_t pb;
    opt_result_t r;
} tcase_t;

/* Hourly slots, capacity 1000 kW unless changed, no demand charge. */
static void tc_init(tcase_t *c, int n, const double *price, const double *base)
{
    memset(c, 0, sizeof *c);
    for (int t = 0; t < n; t++) {
        c->price[t] = price[t];
        c->base[t] = base ? base[t] : 0;
    }
    c->pb.site = (opt_site_t){.n_slots = n, .slot_h = 1.0, .price = c->price,
                              .base_kw = c->base, .import_cap_kw = 1000,
                              .export_cap_kw = 0};
    c->pb.eq = c->eq;
    c->pb.n_eq = 1;
    opt_result_init(&c->r);
}

static opt_equipment_t *task(tcase_t *c, int i, opt_kind_t k, double pmax,
                             double kwh, int lo, int hi)
{
    opt_equipment_t *q = &c->eq[i];
    memset(q, 0, sizeof *q);
    snprintf(q->name, sizeof q->name, "task-%d", i);
    q->kind = k;
    q->p_max_kw = pmax;
    q->energy_kwh = kwh;
    q->earliest = lo;
    q->deadline = hi;
    q->habitual_start = -1;
    return q;
}

static void tc_solve(tcase_t *c)
{
    opt_options_t o;
    char err[256];

    opt_options_init(&o);
    o.time_limit_s = 5;
    ck_assert_int_eq(opt_solve(&c->pb, &o, &c->r, err, sizeof err), 0);
}

static double pw(const tcase_t *c, int e, int t)
{
    return c->r.plan.power[(size_t)e * c->pb.site.n_slots + t];
}

static void assert_power(const tcase_t *c, int e, const double *want)
{
    for (int t = 0; t < c->pb.site.n_slots; t++)
        ck_assert_msg(fabs(pw(c, e, t) - want[t]) < 1e-6,
                      "slot %d: %g kW, want %g", t, pw(c, e, t), want[t]);
}

/* Asserts the validator refuses the plan with a message containing needle. */
static void assert_refused(const opt_problem_t *pb, const opt_plan_t *pl,
                           const char *needle)
{
    opt_msgs_t msgs;
    int found = 0;

    opt_msgs_init(&msgs);
    ck_assert_int_gt(opt_validate(pb, pl, &msgs), 0);
    for (int i = 0; i < msgs.n; i++)
        found |= strstr(msgs.v[i], needle) != NULL;
    ck_assert_msg(found, "no message with '%s' (first: %s)", needle, msgs.v[0]);
    opt_msgs_release(&msgs);
}

/* Interruptible 20 kWh at up to 10 kW, prices 100,100,20,20 EUR/MWh:
 * run in the two cheap hours, 20 kWh * 20 EUR/MWh = 0.40 EUR. The baseline
 * runs first thing: 20 kWh * 100 = 2.00 EUR, so savings 1.60 EUR. */
START_TEST(test_one_task_two_prices)
{
    tcase_t c;
    const double price[] = {100, 100, 20, 20}, want[] = {0, 0, 10, 10};

    tc_init(&c, 4, price, NULL);
    task(&c, 0, OPT_TASK_FLEX, 10, 20, 0, 4);
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    assert_power(&c, 0, want);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 0.40, 1e-9);
    ck_assert_double_eq_tol(c.r.baseline_cost.total_eur, 2.00, 1e-9);
    ck_assert_double_eq_tol(c.r.savings_eur, 1.60, 1e-9);
    opt_result_release(&c.r);
}
END_TEST

/* Power between a minimum and the rating (on/off with p = p_min * u + w):
 * 12 kWh at 4..10 kW over prices 10,100,10,100: only the cheap hours run,
 * each at 4 kW or more, 12 kWh * 10 EUR/MWh = 0.12 EUR. */
START_TEST(test_min_power_range)
{
    tcase_t c;
    const double price[] = {10, 100, 10, 100};

    tc_init(&c, 4, price, NULL);
    opt_equipment_t *q = task(&c, 0, OPT_TASK_FLEX, 10, 12, 0, 4);
    q->p_min_kw = 4;
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    ck_assert_double_eq_tol(pw(&c, 0, 1) + pw(&c, 0, 3), 0, 1e-6);
    ck_assert_double_eq_tol(pw(&c, 0, 0) + pw(&c, 0, 2), 12, 1e-6);
    for (int t = 0; t < 4; t += 2)
        ck_assert(pw(&c, 0, t) < 1e-6 || pw(&c, 0, t) > 4 - 1e-6);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 0.12, 1e-9);
    opt_result_release(&c.r);
}
END_TEST

/* A pump of 10 kW, 40 kWh (four hours), minimum run 2, minimum rest 2, at
 * most 2 starts a day, 0.50 EUR a start, prices 12,10,100,10,10,100,100,100.
 * The four cheapest hours 0,1,3,4 would rest one hour only. Candidates:
 * one run 1-4 = 0.01 * 130 + 0.50 = 1.80 EUR; one run 0-3 = 1.82 EUR; runs
 * 0-1 and 4-5 = 1.32 + 1.00 = 2.32 EUR. The heuristic alone finds 1-4, and
 * the solver proves it. */
START_TEST(test_pump_runs_heuristic)
{
    tcase_t c;
    const double price[] = {12, 10, 100, 10, 10, 100, 100, 100};
    const double want[] = {0, 10, 10, 10, 10, 0, 0, 0};
    opt_plan_t pl;
    opt_cost_t cost;

    tc_init(&c, 8, price, NULL);
    opt_equipment_t *q = task(&c, 0, OPT_TASK_FLEX, 10, 40, 0, 8);
    q->p_min_kw = 10;
    q->min_run = q->min_rest = q->max_starts_day = 2;
    q->startup_eur = 0.5;
    ck_assert_int_eq(opt_plan_init(&pl, 1, 8), 0);
    opt_heuristic(&c.pb, &pl);
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    for (int t = 0; t < 8; t++)
        ck_assert_double_eq_tol(pl.power[t], want[t], 1e-9);
    opt_plan_cost(&c.pb, &pl, &cost);
    ck_assert_double_eq_tol(cost.total_eur, 1.80, 1e-9);
    opt_plan_release(&pl);
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    assert_power(&c, 0, want);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 1.80, 1e-9);
    opt_result_release(&c.r);
}
END_TEST

/* The heuristic moves storage: battery 10 kWh / 10 kW, lossless, half full,
 * base 20 kW, prices 10,10,100,100 twice. Charging in the cheap hours and
 * discharging in the dear ones beats holding it idle (the idle plan costs
 * the base alone, 20 kW * 4 h * 110 EUR/MWh = 8.80 EUR), stays within SOC
 * limits and ends at least half full. */
START_TEST(test_storage_heuristic)
{
    tcase_t c;
    const double price[] = {10, 10, 100, 100, 10, 10, 100, 100};
    const double base[] = {20, 20, 20, 20, 20, 20, 20, 20};
    opt_plan_t pl;
    opt_cost_t cost;
    double out = 0;

    tc_init(&c, 8, price, base);
    opt_equipment_t *b = task(&c, 0, OPT_STORAGE, 0, 0, 0, 8);
    b->cap_kwh = b->soc_max_kwh = 10;
    b->soc0_kwh = 5;
    b->charge_max_kw = b->discharge_max_kw = 10;
    b->eta_charge = b->eta_discharge = 1;
    ck_assert_int_eq(opt_plan_init(&pl, 1, 8), 0);
    opt_heuristic(&c.pb, &pl);
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    for (int t = 0; t < 8; t++) {
        if (price[t] > 50)
            out += pl.discharge[t];
        else
            ck_assert_double_eq_tol(pl.discharge[t], 0, 1e-9);
    }
    ck_assert(out > 10);
    ck_assert(pl.soc[7] >= 5 - 1e-9);
    opt_plan_cost(&c.pb, &pl, &cost);
    ck_assert(cost.total_eur < 8.80 - 0.5);
    opt_plan_release(&pl);
}
END_TEST

/* Non-interruptible 20 kWh at 10 kW (two hours) over prices
 * 50,5,60,10,10,50: the cheapest single hours are 1 and 3 (an interruptible
 * task would take them) but a two-hour run is cheapest at 3-4: 0.01 MWh *
 * (10 + 10) = 0.20 EUR. */
START_TEST(test_block_across_valley)
{
    tcase_t c;
    const double price[] = {50, 5, 60, 10, 10, 50}, want[] = {0, 0, 0, 10, 10, 0};

    tc_init(&c, 6, price, NULL);
    task(&c, 0, OPT_TASK_BLOCK, 10, 20, 0, 6);
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    assert_power(&c, 0, want);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 0.20, 1e-9);
    opt_result_release(&c.r);
}
END_TEST

/* A batch whose minimum power lies close to its rating: 15 kWh at 9..10
 * kW cannot run two hours at 7.5 kW, so it runs one hour at 10 kW and
 * stops within the next (5 kWh). Prices 50,10,10,50,5: start 1 costs
 * 10 * 10 + 5 * 10 = 0.15 EUR (start 3: 10 * 50 + 5 * 5 = 0.525). The
 * validator refuses the two hours at 7.5 kW. */
START_TEST(test_block_min_power)
{
    tcase_t c;
    const double price[] = {50, 10, 10, 50, 5}, want[] = {0, 10, 5, 0, 0};

    tc_init(&c, 5, price, NULL);
    opt_equipment_t *q = task(&c, 0, OPT_TASK_BLOCK, 10, 15, 0, 5);
    q->p_min_kw = 9;
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    assert_power(&c, 0, want);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 0.15, 1e-9);
    c.r.plan.power[1] = c.r.plan.power[2] = 7.5;
    assert_refused(&c.pb, &c.r.plan, "below its minimum");
    opt_result_release(&c.r);
}
END_TEST

/* Battery 10 kWh, 10 kW, 90% each way, empty at start, prices 20,100,20,100,
 * base 20 kW, no export. Charge 10 kW (SOC 9 kWh), discharge 9 * 0.9 =
 * 8.1 kW, twice: base 20 kWh * 240 = 4.80 EUR, battery 2 * (0.20 - 0.81) =
 * -1.22 EUR; total 3.58 EUR. (How the 16.2 kWh split over hours 1 and 3 is
 * free: SOC may carry over, so only the totals are asserted.) */
/* A 10 kWh battery, 10 kW each way, 90 % efficient each way, over the
 * whole horizon of n slots. */
static void battery(tcase_t *c, int n)
{
    opt_equipment_t *b = task(c, 0, OPT_STORAGE, 0, 0, 0, n);
    b->cap_kwh = b->soc_max_kwh = 10;
    b->charge_max_kw = b->discharge_max_kw = 10;
    b->eta_charge = b->eta_discharge = 0.9;
}

START_TEST(test_battery_arbitrage)
{
    tcase_t c;
    const double price[] = {20, 100, 20, 100}, base[] = {20, 20, 20, 20};

    tc_init(&c, 4, price, base);
    battery(&c, 4);
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    ck_assert_double_eq_tol(c.r.plan.charge[0], 10, 1e-6);
    ck_assert_double_eq_tol(c.r.plan.charge[2], 10, 1e-6);
    ck_assert_double_eq_tol(c.r.plan.discharge[1] + c.r.plan.discharge[3],
                            16.2, 1e-6);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 3.58, 1e-9);
    opt_result_release(&c.r);
}
END_TEST

/* Negative prices: consuming earns, and a battery that charged and
 * discharged at once would waste energy in its round trip to consume more
 * (net 12.8 kWh over the two hours instead of 11.1). A battery cannot: it
 * charges 10 kW, then the 1.11 kW its 10 kWh still hold, and the plan
 * earns 8.00 (base) + 0.2 * (10 + 10/9) = 10.2222 EUR. */
START_TEST(test_battery_negative_prices_one_direction)
{
    tcase_t c;
    const double price[] = {-200, -200}, base[] = {20, 20};

    tc_init(&c, 2, price, base);
    battery(&c, 2);
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    for (int t = 0; t < 2; t++)
        ck_assert_msg(c.r.plan.charge[t] < 1e-6 || c.r.plan.discharge[t] < 1e-6,
                      "slot %d: charges %g and discharges %g", t, c.r.plan.charge[t],
                      c.r.plan.discharge[t]);
    ck_assert_double_eq_tol(c.r.cost.total_eur, -8.0 - 0.2 * (10 + 10.0 / 9), 1e-6);

    /* the validator refuses a plan that does both (SOC 9 - 9 = 0 after
     * hour 0, then the same plan's hour 1) */
    c.r.plan.charge[0] = 10, c.r.plan.discharge[0] = 8.1;
    c.r.plan.power[0] = 1.9;
    opt_msgs_t m;
    opt_msgs_init(&m);
    ck_assert_int_ge(opt_validate(&c.pb, &c.r.plan, &m), 1);
    ck_assert_msg(strstr(m.v[0], "at once"), "%s", m.v[0]);
    opt_msgs_release(&m);
    opt_result_release(&c.r);
}
END_TEST

/* A thermal store (SOC 20 kWh, limits 10-40, charger 30 kW, lossless)
 * whose process draws 10 kW every hour, prices 100,100,10,10 EUR/MWh.
 * Ending at the initial SOC takes 40 kWh of charge; by the end of hour 1
 * the draw has taken 20 kWh, so 10 kWh must come in the dear hours
 * (SOC >= 10), the other 30 kWh at 10 EUR/MWh: 1.00 + 0.30 = 1.30 EUR.
 * (The old energy-task model of the store put all 40 kWh in the cheap
 * hours, 0.40 EUR, with the store empty at the end of hour 1.) The
 * baseline keeps the SOC flat: 10 kW each hour, 2.20 EUR. */
START_TEST(test_thermal_store_draw)
{
    tcase_t c;
    const double price[] = {100, 100, 10, 10};

    tc_init(&c, 4, price, NULL);
    opt_equipment_t *s = task(&c, 0, OPT_STORAGE, 0, 0, 0, 4);
    s->cap_kwh = 40;
    s->soc_min_kwh = 10;
    s->soc_max_kwh = 40;
    s->soc0_kwh = 20;
    s->charge_max_kw = 30;
    s->eta_charge = s->eta_discharge = 1;
    s->draw_kw = 10;
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    ck_assert_double_eq_tol(c.r.cost.energy_eur, 1.30, 1e-9);
    ck_assert_double_eq_tol(c.r.plan.charge[0] + c.r.plan.charge[1], 10, 1e-6);
    ck_assert_double_eq_tol(c.r.plan.charge[2] + c.r.plan.charge[3], 30, 1e-6);
    for (int t = 0; t < 4; t++)
        ck_assert_double_ge(c.r.plan.soc[t], 10 - 1e-6);
    ck_assert_double_ge(c.r.plan.soc[3], 20 - 1e-6);
    ck_assert_double_eq_tol(c.r.baseline_cost.energy_eur, 2.20, 1e-9);

    /* the heuristic alone finds it too: each shortfall bought in the
     * cheapest slot before it */
    opt_plan_t pl;
    opt_msgs_t msgs;
    opt_cost_t cost;
    ck_assert_int_eq(opt_plan_init(&pl, 1, 4), 0);
    opt_heuristic(&c.pb, &pl);
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    opt_plan_cost(&c.pb, &pl, &cost);
    ck_assert_double_eq_tol(cost.energy_eur, 1.30, 1e-6);
    opt_plan_release(&pl);

    /* with a 5 kW ramp on the net power the optimum is 2.5, 7.5, 12.5,
     * 17.5 kW (a + b = 10 at the least, c + d = 30, each step 5 kW), still
     * 1.30 EUR; the heuristic's plan keeps the ramp and beats the
     * thermostat */
    s->ramp_kw = 5;
    ck_assert_int_eq(opt_plan_init(&pl, 1, 4), 0);
    opt_heuristic(&c.pb, &pl);
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    opt_plan_cost(&c.pb, &pl, &cost);
    ck_assert(cost.energy_eur >= 1.30 - 1e-6 && cost.energy_eur < 2.20 - 0.1);
    opt_plan_release(&pl);
    opt_result_release(&c.r);
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_double_eq_tol(c.r.cost.energy_eur, 1.30, 1e-6);
    for (int t = 0; t < 4; t++)
        ck_assert_double_eq_tol(c.r.plan.charge[t], 2.5 + 5 * t, 1e-6);
    s->ramp_kw = 0;

    /* the old model's plan drains the store: the validator says so */
    ck_assert_int_eq(opt_plan_init(&pl, 1, 4), 0);
    pl.charge[2] = 30;
    pl.charge[3] = 10;
    opt_plan_finish(&c.pb, &pl);
    assert_refused(&c.pb, &pl, "state of charge 0.000 kWh in slot 1");
    opt_plan_release(&pl);
    opt_result_release(&c.r);

    /* a draw beyond what the charger can deliver is refused as input */
    s->draw_kw = 31;
    opt_msgs_init(&msgs);
    ck_assert_int_ge(opt_problem_check(&c.pb, &msgs), 1);
    ck_assert_msg(strstr(msgs.v[0], "draw of 31 kW") != NULL, "%s", msgs.v[0]);
    opt_msgs_release(&msgs);
}
END_TEST

/* The net power of a store changes by at most ramp_kw between slots. A
 * 20 kWh store (empty, 10 kW each way, lossless, 5 kW ramp), prices
 * 10,10,100,100 EUR/MWh, base 0,0,20,20 kW: without the ramp it would
 * charge 10,10 and discharge 10,10 (2.20 EUR). With it the best round trip
 * is 7.5, 2.5, -2.5, -7.5 kW (each step 5 kW; charging 10 kW first would
 * leave too little ramp to discharge it all in the dear hours): base 4.00
 * EUR + 10 kWh at 10 - 10 kWh at 100 EUR/MWh = 3.10 EUR (an exhaustive
 * search on a 0.5 kW grid agrees). */
START_TEST(test_storage_ramp)
{
    tcase_t c;
    const double price[] = {10, 10, 100, 100};
    const double base[] = {0, 0, 20, 20};

    tc_init(&c, 4, price, base);
    opt_equipment_t *s = task(&c, 0, OPT_STORAGE, 0, 0, 0, 4);
    s->cap_kwh = s->soc_max_kwh = 20;
    s->charge_max_kw = s->discharge_max_kw = 10;
    s->eta_charge = s->eta_discharge = 1;
    s->ramp_kw = 5;
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 3.10, 1e-9);
    for (int t = 1; t < 4; t++)
        ck_assert_double_le(fabs(c.r.plan.power[t] - c.r.plan.power[t - 1]), 5 + 1e-6);

    opt_plan_t pl;
    ck_assert_int_eq(opt_plan_init(&pl, 1, 4), 0);
    pl.charge[0] = pl.charge[1] = 10;
    pl.discharge[2] = pl.discharge[3] = 10;
    opt_plan_finish(&c.pb, &pl);
    assert_refused(&c.pb, &pl, "ramps faster than 5 kW per slot at slot 2");
    opt_plan_release(&pl);
    opt_result_release(&c.r);
}
END_TEST

/* Base 90,90,0,0 kW under a 100 kW capacity: a one-hour 20 kW task does
 * not fit in the cheap hours 0-1 (10 kW headroom) and moves to hour 2
 * (50 < 60): 1.80 EUR base + 20 kWh * 50 = 1.00 EUR. */
START_TEST(test_capacity_forces_shift)
{
    tcase_t c;
    const double price[] = {10, 10, 50, 60}, base[] = {90, 90, 0, 0};
    const double want[] = {0, 0, 20, 0};

    tc_init(&c, 4, price, base);
    c.pb.site.import_cap_kw = 100;
    task(&c, 0, OPT_TASK_BLOCK, 20, 20, 0, 4);
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    assert_power(&c, 0, want);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 2.80, 1e-9);
    opt_result_release(&c.r);
}
END_TEST

/* Base 50 kW, prices 10,20, 100 kWh at up to 100 kW, demand charge
 * 1 EUR/kW. With x kWh in hour 0: cost = 3.5 - 0.01x + 50 + max(x, 100-x),
 * minimal at x = 50: peak 100 kW, total 103.00 EUR. Without the charge
 * everything would run in hour 0 (peak 150 kW). */
START_TEST(test_demand_charge_flattens)
{
    tcase_t c;
    const double price[] = {10, 20}, base[] = {50, 50}, want[] = {50, 50};

    tc_init(&c, 2, price, base);
    c.pb.site.demand_eur_kw = 1;
    task(&c, 0, OPT_TASK_FLEX, 100, 100, 0, 2);
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    assert_power(&c, 0, want);
    ck_assert_double_eq_tol(c.r.cost.peak_kw, 100, 1e-6);
    ck_assert_double_eq_tol(c.r.cost.demand_eur, 100, 1e-6);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 103.0, 1e-6);
    opt_result_release(&c.r);
}
END_TEST

/* A horizon across a billing-period boundary (the last day of a month):
 * hourly prices 100,90 | 10,10 EUR/MWh, the next period from hour 2, base
 * 50 kW, demand charge 10 EUR/kW, this period's peak so far 100 kW, the
 * next period's none. One 40 kWh batch (40 kW, one hour) anywhere:
 *   hour 0: base 10.50 + 4.00 EUR energy, demand 10 * (100 + 50) = 1514.50
 *   hour 1: base 10.50 + 3.60 EUR energy, demand 1500             = 1514.10
 *   hour 2: base 10.50 + 0.40 EUR energy, demand 10 * (100 + 90)  = 1910.90
 * One floor for the whole horizon would bill 1010.90 for hour 2 and pick it:
 * under the old period's peak, but setting the new period's at 90 kW. The
 * baseline runs at hour 0, so savings are 0.40 EUR. */
START_TEST(test_demand_charge_two_periods)
{
    tcase_t c;
    const double price[] = {100, 90, 10, 10}, base[] = {50, 50, 50, 50};
    const double want[] = {0, 40, 0, 0};
    opt_plan_t pl;
    opt_cost_t cost;
    opt_msgs_t msgs;
    char err[256];
    int found = 0;

    tc_init(&c, 4, price, base);
    c.pb.site.demand_eur_kw = 10;
    c.pb.site.peak_so_far_kw = 100;
    c.pb.site.next_period_slot = 2;
    task(&c, 0, OPT_TASK_BLOCK, 40, 40, 0, 4);
    /* each part on its own: the heuristic, the model under lp_solve (the
     * pipeline's block moves would otherwise hide a model that missed it) */
    ck_assert_int_eq(opt_plan_init(&pl, 1, 4), 0);
    opt_heuristic(&c.pb, &pl);
    opt_plan_cost(&c.pb, &pl, &cost);
    ck_assert_double_eq_tol(cost.total_eur, 1514.10, 1e-9);
    opt_model_t *m = opt_model_new(&c.pb, 0, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(solve(opt_model_lp(m)), OPTIMAL);
    ck_assert_double_eq_tol(get_objective(opt_model_lp(m)) + opt_model_obj_const(m),
                            1514.10, 1e-6);
    opt_model_destroy(m);
    opt_plan_release(&pl);
    /* the pipeline */
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    assert_power(&c, 0, want);
    ck_assert_double_eq_tol(c.r.cost.peak_kw, 100, 1e-6);
    ck_assert_double_eq_tol(c.r.cost.next_peak_kw, 50, 1e-6);
    ck_assert_double_eq_tol(c.r.cost.demand_eur, 1500, 1e-6);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 1514.10, 1e-6);
    ck_assert_double_eq_tol(c.r.baseline_cost.total_eur, 1514.50, 1e-6);
    for (int i = 0; i < c.r.binding.n; i++)
        found += strstr(c.r.binding.v[i], "new next period's peak 50.0 kW in slot 2") != NULL;
    ck_assert_int_eq(found, 1);
    opt_result_release(&c.r);
    /* a boundary outside the horizon is bad input */
    c.pb.site.next_period_slot = 4;
    opt_msgs_init(&msgs);
    ck_assert_int_eq(opt_problem_check(&c.pb, &msgs), 1);
    ck_assert_msg(strstr(msgs.v[0], "next billing period starts at slot 4"), "%s", msgs.v[0]);
    opt_msgs_release(&msgs);
}
END_TEST

/* Two one-hour blocks of 150 and 100 kW, any hour of four, demand charge
 * 1 EUR/kW: the relaxation spreads them at 125 kW over the two cheap hours
 * (128.75 EUR), so branch and bound must work. Apart, the peak is 150 kW:
 * 150 + 0.15 * 10 + 0.1 * 20 = 153.5 EUR (swapped: 154 EUR; together:
 * 250 EUR of demand charge). Every branch direction, with and without the
 * heuristic, must prove the same optimum: lp_solve's own guess of the
 * objective's step called 154 EUR optimal with floor or automatic first
 * until the model set a solution limit other than 1 (ADR 0010 item 12). */
static const int branch_dirs[] = {BRANCH_CEILING, BRANCH_FLOOR,
                                  BRANCH_AUTOMATIC};

START_TEST(test_branch_direction_same_optimum)
{
    tcase_t c;
    const double price[] = {10, 20, 30, 40}, wa[] = {150, 0, 0, 0},
                 wb[] = {0, 100, 0, 0};
    opt_options_t o;
    char err[256];

    tc_init(&c, 4, price, NULL);
    c.pb.site.demand_eur_kw = 1;
    c.pb.n_eq = 2;
    task(&c, 0, OPT_TASK_BLOCK, 150, 150, 0, 4);
    task(&c, 1, OPT_TASK_BLOCK, 100, 100, 0, 4);
    opt_options_init(&o);
    o.time_limit_s = 5;
    o.bb_floor = o.bb_floor_search = branch_dirs[_i % 3];
    o.use_heuristic = _i < 3;
    ck_assert_int_eq(opt_solve(&c.pb, &o, &c.r, err, sizeof err), 0);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    assert_power(&c, 0, wa);
    assert_power(&c, 1, wb);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 153.5, 1e-9);
    opt_result_release(&c.r);
}
END_TEST

/* Minimum run 2 h at exactly 10 kW: the cheap hours 0 and 2 cannot be used
 * alone; the best two-hour run is 2-3: 0.01 * (10 + 20) = 0.30 EUR. */
START_TEST(test_min_run)
{
    tcase_t c;
    const double price[] = {10, 100, 10, 20, 100}, want[] = {0, 0, 10, 10, 0};

    tc_init(&c, 5, price, NULL);
    opt_equipment_t *q = task(&c, 0, OPT_TASK_FLEX, 10, 20, 0, 5);
    q->p_min_kw = 10;
    q->min_run = 2;
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    assert_power(&c, 0, want);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 0.30, 1e-9);
    opt_result_release(&c.r);
}
END_TEST

/* Base 700 kW under 800 kW: a 200 kW two-hour dryer cannot run anywhere. */
START_TEST(test_infeasible_deadline_explained)
{
    tcase_t c;
    const double price[] = {50, 50, 50, 50}, base[] = {700, 700, 700, 700};

    tc_init(&c, 4, price, base);
    c.pb.site.import_cap_kw = 800;
    opt_equipment_t *q = task(&c, 0, OPT_TASK_BLOCK, 200, 400, 0, 4);
    strcpy(q->name, "dryer-2");
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_INFEASIBLE);
    ck_assert_int_ge(c.r.explain.n, 1);
    ck_assert_ptr_nonnull(strstr(c.r.explain.v[0], "task dryer-2 cannot meet "
                                                   "its deadline within "
                                                   "capacity 800 kW"));
    opt_result_release(&c.r);
}
END_TEST

/* Asserts every task of the plan runs as the plant can: a
 * non-interruptible task off, or once at its run power for its duration;
 * an on/off task off or within its power range, for its minimum run. */
static void assert_runnable(const tcase_t *c)
{
    int T = c->pb.site.n_slots;

    for (int e = 0; e < c->pb.n_eq; e++) {
        const opt_equipment_t *q = &c->eq[e];
        double p_run;
        int d = opt_block_duration(&c->pb, q, &p_run), first = -1, n_on = 0, run = 0;
        for (int t = 0; t < T; t++) {
            double kw = pw(c, e, t);
            n_on += kw > 1e-6;
            if (kw > 1e-6 && first < 0)
                first = t;
            if (q->kind == OPT_TASK_FLEX && kw > 1e-6)
                ck_assert_msg(kw > q->p_min_kw - 1e-6 && kw < q->p_max_kw + 1e-6,
                              "%s draws %g kW in slot %d", q->name, kw, t);
            if (q->kind == OPT_TASK_FLEX && kw <= 1e-6 && run > 0)
                ck_assert_msg(run >= q->min_run, "%s runs %d slots", q->name, run);
            run = kw > 1e-6 ? run + 1 : 0;
        }
        if (q->kind != OPT_TASK_BLOCK || first < 0)
            continue;
        ck_assert_msg(n_on == d, "%s runs %d slots, not %d", q->name, n_on, d);
        for (int t = first; t < first + d; t++) {
            double want = t < first + d - 1 ? p_run : opt_block_last_kw(&c->pb, q);
            ck_assert_msg(fabs(pw(c, e, t) - want) < 1e-6, "%s draws %g kW in slot %d, not %g",
                          q->name, pw(c, e, t), t, want);
        }
    }
}

/* When the elastic model's integer solve finds nothing in time (forced
 * here by elastic_lp_only), its LP explains the infeasibility but its plan
 * is fractional. Capacity 800 kW over a base of 740 kW (720 in hour 3):
 * the 200 kW two-hour dryer-2 cannot run by hour 4. The LP runs 57.5% of
 * it and makes room by running the pump (10-30 kW, 30 kWh by hour 4) at
 * 5 kW in hours 0 and 1, half on below its 10 kW minimum, and 20 kW in
 * hour 3 (whole runs leave room for 55% at most). The plan published must
 * be runnable: dryer-2 off (run at its heaviest start it would need 140 kW
 * more capacity, a larger violation than its deadline), the pump on at
 * 10-30 kW, the oven (50 kW, 50 kWh in hour 4) in one start; the
 * explanation and the validator both name dryer-2 only, and the cost is
 * the plan's own. */
START_TEST(test_elastic_lp_plan_is_runnable)
{
    tcase_t c;
    const double price[] = {70, 50, 70, 90, 80}, base[] = {740, 740, 740, 720, 740};
    opt_options_t o;
    opt_cost_t cost;
    char err[256];

    tc_init(&c, 5, price, base);
    c.pb.site.import_cap_kw = 800;
    c.pb.n_eq = 3;
    strcpy(task(&c, 0, OPT_TASK_BLOCK, 200, 400, 0, 4)->name, "dryer-2");
    opt_equipment_t *q = task(&c, 1, OPT_TASK_FLEX, 30, 30, 0, 4);
    strcpy(q->name, "pump");
    q->p_min_kw = 10;
    strcpy(task(&c, 2, OPT_TASK_BLOCK, 50, 50, 4, 5)->name, "oven");
    opt_options_init(&o);
    o.time_limit_s = 5;
    o.elastic_lp_only = 1;
    ck_assert_int_eq(opt_solve(&c.pb, &o, &c.r, err, sizeof err), 0);
    ck_assert_int_eq(c.r.status, OPT_INFEASIBLE);
    assert_runnable(&c);
    ck_assert_double_eq_tol(pw(&c, 2, 4), 50, 1e-6);
    ck_assert_str_eq(c.r.source, "elastic-rounded");
    ck_assert_int_ge(c.r.explain.n, 1);
    for (int i = 0; i < c.r.explain.n; i++)
        ck_assert_ptr_nonnull(strstr(c.r.explain.v[i], "task dryer-2 cannot meet its deadline"));
    ck_assert_int_gt(c.r.violations, 0);
    ck_assert_int_eq(c.r.violations, c.r.problems.n);
    for (int i = 0; i < c.r.problems.n; i++)
        ck_assert_msg(strstr(c.r.problems.v[i], "dryer-2") != NULL, "%s", c.r.problems.v[i]);
    opt_plan_cost(&c.pb, &c.r.plan, &cost);
    ck_assert_double_eq_tol(c.r.cost.total_eur, cost.total_eur, 1e-9);
    opt_result_release(&c.r);
}
END_TEST

/* The elastic LP needs no slack but its plan is fractional: a 10 kW
 * on/off pump with 10 kWh to deliver in four hours over a base of 100 kW,
 * under a demand charge of 1 EUR/kW; the LP runs it a quarter on in every
 * hour (2.5 kW, below its minimum) to keep the peak at 102.5 kW. With the
 * strict model taken for infeasible (strict_infeasible, for tests) and the
 * elastic integer solve skipped (elastic_lp_only), the validator refuses
 * the LP's plan; its rounding (the pump in the heuristic's pattern, the
 * rest re-solved) needs no slack either, so it is published as a plan:
 * validated, heuristic (not proven), not infeasible and not "no plan". */
START_TEST(test_elastic_lp_without_slack_rounded)
{
    tcase_t c;
    const double price[] = {50, 40, 60, 30}, base[] = {100, 100, 100, 100};
    opt_options_t o;
    opt_cost_t cost;
    char err[256];

    tc_init(&c, 4, price, base);
    c.pb.site.demand_eur_kw = 1;
    task(&c, 0, OPT_TASK_FLEX, 10, 10, 0, 4)->p_min_kw = 10;
    opt_options_init(&o);
    o.time_limit_s = 5;
    o.use_heuristic = 0;
    o.strict_infeasible = 1;
    o.elastic_lp_only = 1;
    ck_assert_int_eq(opt_solve(&c.pb, &o, &c.r, err, sizeof err), 0);
    ck_assert_int_eq(c.r.status, OPT_HEURISTIC);
    ck_assert_str_eq(c.r.source, "elastic-rounded");
    ck_assert_int_eq(c.r.explain.n, 0);
    ck_assert_int_eq(c.r.violations, 0);
    assert_runnable(&c);
    ck_assert_double_eq_tol(pw(&c, 0, 0) + pw(&c, 0, 1) + pw(&c, 0, 2) + pw(&c, 0, 3), 10, 1e-6);
    opt_plan_cost(&c.pb, &c.r.plan, &cost);
    ck_assert_double_eq_tol(c.r.cost.total_eur, cost.total_eur, 1e-9);
    opt_result_release(&c.r);
}
END_TEST

/* The base load exports 100 kW in slot 1 (solar) and the site may export
 * nothing: without storage the plan must draw the surplus there, and does
 * (the export bound was modelled only with storage, so every plan was
 * refused by the validator and none was published). */
START_TEST(test_export_limit_without_storage)
{
    tcase_t c;
    const double price[] = {50, 80, 50, 50}, base[] = {200, -100, 200, 200};

    tc_init(&c, 4, price, base);
    task(&c, 0, OPT_TASK_FLEX, 200, 300, 0, 4);
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    ck_assert_double_ge(pw(&c, 0, 1), 100 - 1e-6); /* dearest hour, yet needed */
    ck_assert_double_eq_tol(pw(&c, 0, 0) + pw(&c, 0, 1) + pw(&c, 0, 2) + pw(&c, 0, 3),
                            300, 1e-6);
    opt_result_release(&c.r);

    /* 1000 kW of surplus is more than the task can take: explained */
    c.base[1] = -1000;
    opt_result_init(&c.r);
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_INFEASIBLE);
    int found = 0;
    for (int i = 0; i < c.r.explain.n; i++)
        found |= strstr(c.r.explain.v[i], "export limit 0 kW must be exceeded by up to "
                                          "800.0 kW (first in slot 1)") != NULL;
    ck_assert_msg(found, "%s", c.r.explain.n ? c.r.explain.v[0] : "no explanation");
    opt_result_release(&c.r);
}
END_TEST

/* A window too short for the run is explained as such. */
START_TEST(test_window_too_short_explained)
{
    tcase_t c;
    const double price[] = {50, 50, 50, 50};

    tc_init(&c, 4, price, NULL);
    opt_equipment_t *q = task(&c, 0, OPT_TASK_BLOCK, 10, 30, 1, 3);
    strcpy(q->name, "oven");
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_INFEASIBLE);
    ck_assert_int_ge(c.r.explain.n, 1);
    ck_assert_ptr_nonnull(strstr(c.r.explain.v[0], "task oven"));
    ck_assert_ptr_nonnull(strstr(c.r.explain.v[0], "window"));
    opt_result_release(&c.r);
}
END_TEST

/* The baseline starts at the habitual time and is priced the same way. */
START_TEST(test_baseline_habitual)
{
    tcase_t c;
    const double price[] = {10, 20, 30, 40};
    opt_plan_t pl;
    opt_cost_t cost;

    tc_init(&c, 4, price, NULL);
    opt_equipment_t *q = task(&c, 0, OPT_TASK_BLOCK, 10, 20, 0, 4);
    q->habitual_start = 2;
    ck_assert_int_eq(opt_plan_init(&pl, 1, 4), 0);
    opt_baseline(&c.pb, &pl);
    ck_assert_double_eq(pl.power[1], 0);
    ck_assert_double_eq(pl.power[2], 10);
    ck_assert_double_eq(pl.power[3], 10);
    opt_plan_cost(&c.pb, &pl, &cost);
    ck_assert_double_eq_tol(cost.total_eur, 0.70, 1e-9);
    opt_plan_release(&pl);
}
END_TEST

/* Broken plans the validator must reject, each naming the problem. */
typedef struct broken {
    const char *what;
    int slot;
    double kw;
    const char *needle;
} broken_t;

static const broken_t broken_plans[] = {
    {"interrupt the block", 4, 0, "runs"},
    {"run outside the window", 0, 10, "outside its window"},
    {"over capacity", 3, 100, "capacity"},
    {"wrong power", 3, 5, "delivers"},
};

START_TEST(test_validator_rejects)
{
    const broken_t *b = &broken_plans[_i];
    tcase_t c;
    const double price[] = {50, 5, 60, 10, 10, 10, 50};

    tc_init(&c, 7, price, NULL);
    c.pb.site.import_cap_kw = 50;
    c.eq[0] = *task(&c, 0, OPT_TASK_BLOCK, 10, 30, 1, 7);
    tc_solve(&c);
    ck_assert_int_eq(c.r.violations, 0);
    ck_assert_int_eq(opt_validate(&c.pb, &c.r.plan, NULL), 0);
    c.r.plan.power[b->slot] = b->kw;
    assert_refused(&c.pb, &c.r.plan, b->needle);
    opt_result_release(&c.r);
}
END_TEST

/* A fraction of a start of a non-interruptible task (a relaxed solution's
 * 40%: 4 kW for the three hours of a 10 kW, 30 kWh task, or for the one
 * hour of a 10 kWh one) is refused as such, not only as energy short. */
START_TEST(test_validator_fraction_of_start)
{
    tcase_t c;
    const double price[] = {50, 50, 50, 50};
    opt_plan_t pl;

    tc_init(&c, 4, price, NULL);
    task(&c, 0, OPT_TASK_BLOCK, 10, 30, 0, 4);
    ck_assert_int_eq(opt_plan_init(&pl, 1, 4), 0);
    for (int t = 0; t < 3; t++)
        pl.power[t] = 4;
    opt_plan_finish(&c.pb, &pl);
    assert_refused(&c.pb, &pl, "task-0 runs at 4.000 kW instead of 10.000 kW: a fraction of a start");
    c.eq[0].energy_kwh = 10;
    pl.power[1] = pl.power[2] = 0;
    opt_plan_finish(&c.pb, &pl);
    assert_refused(&c.pb, &pl, "a fraction of a start");
    pl.power[0] = 10; /* the whole start passes */
    opt_plan_finish(&c.pb, &pl);
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    opt_plan_release(&pl);
}
END_TEST

/* Starts per day count site-local days: a pump of 10 kW, 20 kWh, one
 * start a day, prices 10,100,100,10, local midnight between slots 1 and
 * 2. One start each day: slots 0 and 3, 20 kWh * 10 = 0.20 EUR (one
 * start over a single day would cost 10 * 10 + 10 * 100 = 1.10 EUR). The
 * validator refuses that plan when all four slots are one day. */
START_TEST(test_starts_per_local_day)
{
    tcase_t c;
    const double price[] = {10, 100, 100, 10}, want[] = {10, 0, 0, 10};
    const int day[] = {0, 0, 1, 1}, one_day[] = {0, 0, 0, 0};

    tc_init(&c, 4, price, NULL);
    c.pb.site.day = day;
    task(&c, 0, OPT_TASK_FLEX, 10, 20, 0, 4)->max_starts_day = 1;
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    assert_power(&c, 0, want);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 0.20, 1e-9);
    c.pb.site.day = one_day;
    assert_refused(&c.pb, &c.r.plan, "starts more than");
    opt_result_release(&c.r);
}
END_TEST

/* Two windows of one pump (group 1): 10 kW on/off, 10 kWh a window
 * (one hour each), no start-up cost. */
static void pump_windows(tcase_t *c, int lo1, int hi1, int lo2, int hi2)
{
    c->pb.n_eq = 2;
    for (int i = 0; i < 2; i++) {
        opt_equipment_t *q = task(c, i, OPT_TASK_FLEX, 10, 10, i ? lo2 : lo1,
                                  i ? hi2 : hi1);
        q->p_min_kw = 10;
        q->group = 1;
    }
}

/* Checks the model's own optimum (no heuristic, no validator), that the
 * heuristic's plan passes the validator, and the pipeline's plan and cost. */
static void assert_group_optimum(tcase_t *c, const double *want0,
                                 const double *want1, double eur)
{
    opt_plan_t pl;
    char err[128];
    opt_model_t *m = opt_model_new(&c->pb, 0, err, sizeof err);

    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(solve(opt_model_lp(m)), OPTIMAL);
    ck_assert_double_eq_tol(get_objective(opt_model_lp(m)) + opt_model_obj_const(m),
                            eur, 1e-9);
    opt_model_destroy(m);
    ck_assert_int_eq(opt_plan_init(&pl, 2, c->pb.site.n_slots), 0);
    opt_heuristic(&c->pb, &pl);
    ck_assert_int_eq(opt_validate(&c->pb, &pl, NULL), 0);
    opt_plan_release(&pl);
    tc_solve(c);
    ck_assert_int_eq(c->r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c->r.violations, 0);
    assert_power(c, 0, want0);
    assert_power(c, 1, want1);
    ck_assert_double_eq_tol(c->r.cost.total_eur, eur, 1e-9);
}

/* Both windows of pump_windows() held to a minimum run of min_run slots,
 * paying startup_eur a start. */
static void pump_min_run(tcase_t *c, int min_run, double startup_eur)
{
    for (int i = 0; i < 2; i++) {
        c->eq[i].min_run = min_run;
        c->eq[i].startup_eur = startup_eur;
    }
}

/* Asserts the power of the two windows of pump_windows() in pl. */
static void assert_windows_power(const opt_plan_t *pl, const double *want0,
                                 const double *want1)
{
    int T = pl->n_slots;

    for (int t = 0; t < T; t++) {
        ck_assert_double_eq_tol(pl->power[t], want0[t], 1e-9);
        ck_assert_double_eq_tol(pl->power[T + t], want1[t], 1e-9);
    }
}

/* Asserts the heuristic's plan of the two windows costs eur. */
static void assert_heuristic_cost(const tcase_t *c, double eur)
{
    opt_plan_t pl;
    opt_cost_t cost;

    ck_assert_int_eq(opt_plan_init(&pl, 2, c->pb.site.n_slots), 0);
    opt_heuristic(&c->pb, &pl);
    opt_plan_cost(&c->pb, &pl, &cost);
    ck_assert_double_eq_tol(cost.total_eur, eur, 1e-9);
    opt_plan_release(&pl);
}

/* Writes a plan running window 0 in slot t0 and window 1 in slot t1. */
static void put_two_runs(const tcase_t *c, opt_plan_t *pl, int t0, int t1)
{
    int T = c->pb.site.n_slots;

    ck_assert_int_eq(opt_plan_init(pl, 2, T), 0);
    pl->power[t0] = pl->power[T + t1] = 10;
    opt_plan_finish(&c->pb, pl);
}

/* Minimum rest across two windows of one pump, [0, 3) and [4, 8), rest 3
 * hours, prices 30,50,10,-,10,40,20,60. Alone each window takes its
 * cheapest hour, 2 and 4 (0.20 EUR), resting one hour. Resting 3 hours
 * (second run at least 4 hours after the first): 0+4 = 0.40, 1+5 = 0.90,
 * 1+6 = 0.70, 2+6 = 0.30 EUR, the optimum. The validator refuses 2 and 4,
 * and accepts it from two machines. */
START_TEST(test_group_rest_across_windows)
{
    tcase_t c;
    const double price[] = {30, 50, 10, 100, 10, 40, 20, 60};
    const double want0[] = {0, 0, 10, 0, 0, 0, 0, 0};
    const double want1[] = {0, 0, 0, 0, 0, 0, 10, 0};
    opt_plan_t pl;

    tc_init(&c, 8, price, NULL);
    pump_windows(&c, 0, 3, 4, 8);
    c.eq[0].min_rest = c.eq[1].min_rest = 3;
    assert_group_optimum(&c, want0, want1, 0.30);
    put_two_runs(&c, &pl, 2, 4);
    assert_refused(&c.pb, &pl, "after resting 1 slots (minimum 3)");
    c.eq[0].group = 0;
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    opt_plan_release(&pl);
    opt_result_release(&c.r);
}
END_TEST

/* Touching windows [0, 4) and [4, 8) of one pump, rest 2 hours, prices
 * 50,50,50,10,40,10,50,50: a run may go on across the boundary. Alone
 * the windows take hours 3 and 5 (0.20 EUR), resting one hour. With the
 * rest: 3+4 as one run = 0.50 EUR, the optimum; 3+6 or 0..2+5 = 0.60. The
 * heuristic finds the run going on too. The validator refuses 3 and 5 and
 * takes 3 and 4 (one run). */
START_TEST(test_group_rest_touching_windows)
{
    tcase_t c;
    const double price[] = {50, 50, 50, 10, 40, 10, 50, 50};
    const double want0[] = {0, 0, 0, 10, 0, 0, 0, 0};
    const double want1[] = {0, 0, 0, 0, 10, 0, 0, 0};
    opt_plan_t pl;

    tc_init(&c, 8, price, NULL);
    pump_windows(&c, 0, 4, 4, 8);
    c.eq[0].min_rest = c.eq[1].min_rest = 2;
    assert_group_optimum(&c, want0, want1, 0.50);
    assert_heuristic_cost(&c, 0.50);
    put_two_runs(&c, &pl, 3, 5);
    assert_refused(&c.pb, &pl, "after resting 1 slots (minimum 2)");
    opt_plan_release(&pl);
    put_two_runs(&c, &pl, 3, 4);
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    opt_plan_release(&pl);
    opt_result_release(&c.r);
}
END_TEST

/* Starts per local day across two night windows of one pump, [0, 4) and
 * [4, 8), one start a day, local days 0,0,1,1,1,1,2,2, prices
 * 30,40,10,50,50,10,20,60. Alone the windows take hours 2 and 5 (0.20 EUR),
 * two starts on day 1. One start a day: 0+5 = 0.40, 2+6 = 0.30 EUR, the
 * optimum. The validator refuses 2 and 5. */
START_TEST(test_group_starts_per_day)
{
    tcase_t c;
    const double price[] = {30, 40, 10, 50, 50, 10, 20, 60};
    const double want0[] = {0, 0, 10, 0, 0, 0, 0, 0};
    const double want1[] = {0, 0, 0, 0, 0, 0, 10, 0};
    const int day[] = {0, 0, 1, 1, 1, 1, 2, 2};
    opt_plan_t pl;

    tc_init(&c, 8, price, NULL);
    c.pb.site.day = day;
    pump_windows(&c, 0, 4, 4, 8);
    c.eq[0].max_starts_day = c.eq[1].max_starts_day = 1;
    assert_group_optimum(&c, want0, want1, 0.30);
    put_two_runs(&c, &pl, 2, 5);
    assert_refused(&c.pb, &pl, "(all its windows) starts more than 1 times a day");
    opt_plan_release(&pl);
    opt_result_release(&c.r);
}
END_TEST

/* Re-placing one window keeps the rest before the next: the windows of
 * test_group_rest_across_windows, hour 6 at 35 EUR/MWh, planned in hours
 * 0 and 4 (0.40 EUR, resting 3 hours). Alone, window 0 would move to hour
 * 2 (0.20 EUR) and rest one hour; window 1 would then have to move to
 * hour 6, dearer than it is, so it stays; together, 2 and 6 cost 0.45
 * EUR. Neither window moves. */
START_TEST(test_improve_pumps_keeps_group_rest)
{
    tcase_t c;
    const double price[] = {30, 50, 10, 100, 10, 40, 35, 60};
    opt_plan_t pl;

    tc_init(&c, 8, price, NULL);
    pump_windows(&c, 0, 3, 4, 8);
    c.eq[0].min_rest = c.eq[1].min_rest = 3;
    put_two_runs(&c, &pl, 0, 4);
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    ck_assert_int_eq(opt_improve_pumps(&c.pb, &pl, 3), 0);
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    ck_assert_double_eq_tol(pl.power[0], 10, 1e-9);
    ck_assert_double_eq_tol(pl.power[8 + 4], 10, 1e-9);
    opt_plan_release(&pl);
}
END_TEST

/* Only a joint move of both windows pays: the windows of
 * test_group_rest_across_windows planned in hours 0 and 4 (0.40 EUR,
 * resting 3 hours). Alone, window 0 cannot move (hour 1 or 2 rests too
 * little before hour 4) and window 1 only to dearer hours (5, 6, 7);
 * together they move to 2 and 6, the optimum (0.30 EUR), in one move. */
START_TEST(test_improve_pumps_joint_move)
{
    tcase_t c;
    const double price[] = {30, 50, 10, 100, 10, 40, 20, 60};
    const double want0[] = {0, 0, 10, 0, 0, 0, 0, 0};
    const double want1[] = {0, 0, 0, 0, 0, 0, 10, 0};
    opt_plan_t pl;
    opt_cost_t cost;

    tc_init(&c, 8, price, NULL);
    pump_windows(&c, 0, 3, 4, 8);
    c.eq[0].min_rest = c.eq[1].min_rest = 3;
    put_two_runs(&c, &pl, 0, 4);
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    ck_assert_int_eq(opt_improve_pumps(&c.pb, &pl, 3), 1);
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    assert_windows_power(&pl, want0, want1);
    opt_plan_cost(&c.pb, &pl, &cost);
    ck_assert_double_eq_tol(cost.total_eur, 0.30, 1e-9);
    opt_plan_release(&pl);
}
END_TEST

/* Touching windows [0, 4) and [4, 8) of one pump in one local day, one
 * start a day, prices 50,50,50,10,20,50,5,50. Alone the windows take hours
 * 3 and 6 (0.15 EUR), two starts. One start: one run going on across the
 * boundary, hours 3 and 4 (0.30 EUR), which the model counts as one start
 * of the machine (the second window's first slot on goes on with the
 * first's run). */
START_TEST(test_group_run_across_touching_windows)
{
    tcase_t c;
    const double price[] = {50, 50, 50, 10, 20, 50, 5, 50};
    const double want0[] = {0, 0, 0, 10, 0, 0, 0, 0};
    const double want1[] = {0, 0, 0, 0, 10, 0, 0, 0};
    opt_plan_t pl;
    char err[128];

    tc_init(&c, 8, price, NULL);
    pump_windows(&c, 0, 4, 4, 8);
    c.eq[0].max_starts_day = c.eq[1].max_starts_day = 1;
    opt_model_t *m = opt_model_new(&c.pb, 0, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(solve(opt_model_lp(m)), OPTIMAL);
    ck_assert_double_eq_tol(get_objective(opt_model_lp(m)) + opt_model_obj_const(m),
                            0.30, 1e-9);
    opt_model_destroy(m);
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    assert_power(&c, 0, want0);
    assert_power(&c, 1, want1);
    put_two_runs(&c, &pl, 3, 6);
    assert_refused(&c.pb, &pl, "starts more than 1 times a day");
    opt_plan_release(&pl);
    opt_result_release(&c.r);
}
END_TEST

/* Minimum run and start-up cost across touching windows [0, 4) and
 * [4, 8) of one pump: run 2 hours, 1 EUR a start, 20 kWh in the first
 * window and 10 kWh in the second, prices 90,90,10,10,10,90,90,90. The
 * second window's hour cannot be a run of its own: it goes on with the
 * first's run, hours 2, 3 and 4, one run of 3 hours, one start: 0.30 +
 * 1.00 = 1.30 EUR, in the model, the heuristic and the cost function.
 * (Each window holding its own minimum run made the second window
 * impossible, and each paying its start-up priced 2.30 EUR.) */
START_TEST(test_group_min_run_across_touching_windows)
{
    tcase_t c;
    const double price[] = {90, 90, 10, 10, 10, 90, 90, 90};
    const double want0[] = {0, 0, 10, 10, 0, 0, 0, 0};
    const double want1[] = {0, 0, 0, 0, 10, 0, 0, 0};

    tc_init(&c, 8, price, NULL);
    pump_windows(&c, 0, 4, 4, 8);
    c.eq[0].energy_kwh = 20;
    pump_min_run(&c, 2, 1);
    assert_group_optimum(&c, want0, want1, 1.30);
    ck_assert_double_eq_tol(c.r.cost.startup_eur, 1.0, 1e-9);
    assert_heuristic_cost(&c, 1.30);
    opt_result_release(&c.r);
}
END_TEST

/* A run starting late in the first of two touching windows [0, 4) and
 * [4, 8) of one pump: minimum run 3 hours, 1 EUR a start, 10 kWh in the
 * first window and 20 kWh in the second, prices 10,90,90,40,30,30,10,10.
 * The first window's one hour cannot be a run of its own: it must be the
 * start of a run the second window completes, hours 3, 4 and 5: 0.40 +
 * 0.30 + 0.30 + 1.00 = 2.00 EUR, the only plan the machine may run. The
 * heuristic finds it (placing the first window before the second, it
 * could only end a run it had completed, and its plan was refused). */
START_TEST(test_group_run_started_late_heuristic)
{
    tcase_t c;
    const double price[] = {10, 90, 90, 40, 30, 30, 10, 10};
    const double want0[] = {0, 0, 0, 10, 0, 0, 0, 0};
    const double want1[] = {0, 0, 0, 0, 10, 10, 0, 0};
    opt_plan_t pl;
    opt_cost_t cost;

    tc_init(&c, 8, price, NULL);
    pump_windows(&c, 0, 4, 4, 8);
    c.eq[1].energy_kwh = 20;
    pump_min_run(&c, 3, 1);
    ck_assert_int_eq(opt_plan_init(&pl, 2, 8), 0);
    opt_heuristic(&c.pb, &pl);
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    opt_plan_cost(&c.pb, &pl, &cost);
    ck_assert_double_eq_tol(cost.total_eur, 2.00, 1e-9);
    ck_assert_double_eq_tol(cost.startup_eur, 1.00, 1e-9);
    assert_windows_power(&pl, want0, want1);
    opt_plan_release(&pl);
    assert_group_optimum(&c, want0, want1, 2.00);
    opt_result_release(&c.r);
}
END_TEST

/* Whether pick[0..n) holds task e. */
static int picked(const int *pick, int n, int e)
{
    int found = 0;

    for (int i = 0; i < n; i++)
        found += pick[i] == e;
    ck_assert_int_le(found, 1);
    return found;
}

/* The neighbourhood search frees a task with every other window of its
 * equipment, so that the rules across them are in the round's model: 24
 * hourly slots, the round around slot 0 (tasks whose windows reach slots
 * up to 4). A pump with windows [0, 12) and [12, 24) (group 1), blocks
 * [0, 4) and [16, 20) of one equipment (group 2), and three blocks of
 * their own near slot 0. Without a pump all four candidates come, and
 * the block at 16 with its mate; with the pump, both its windows, and at
 * most 4 block tasks, group 2 whole or not at all. (A lone window of a
 * group was freed: a candidate breaking the rules across the windows was
 * refused, and a move of both never found.) */
START_TEST(test_lns_frees_whole_groups)
{
    double price[24] = {0}, base[24] = {0};
    opt_equipment_t eq[7];
    opt_problem_t pb = {.site = {.n_slots = 24, .slot_h = 1.0, .price = price,
                                 .base_kw = base, .import_cap_kw = 1000},
                        .eq = eq, .n_eq = 7};
    const int lo[] = {0, 12, 0, 16, 2, 0, 1}, hi[] = {12, 24, 4, 20, 6, 4, 5};
    const int group[] = {1, 1, 2, 2, 0, 0, 0};
    int pick[7], cand[7], n;
    unsigned seed = 20201110u;

    for (int i = 0; i < 7; i++) {
        memset(&eq[i], 0, sizeof eq[i]);
        eq[i].kind = i < 2 ? OPT_TASK_FLEX : OPT_TASK_BLOCK;
        eq[i].p_max_kw = eq[i].p_min_kw = 10;
        eq[i].energy_kwh = 20;
        eq[i].min_run = 2;
        eq[i].earliest = lo[i];
        eq[i].deadline = hi[i];
        eq[i].habitual_start = -1;
        eq[i].group = group[i];
    }
    n = opt_lns_pick(&pb, 0, -1, &seed, pick, cand);
    ck_assert_int_eq(n, 5);
    for (int e = 2; e < 7; e++)
        ck_assert_msg(picked(pick, n, e), "task %d not freed", e);
    for (int round = 0; round < 20; round++) {
        n = opt_lns_pick(&pb, 0, 0, &seed, pick, cand);
        ck_assert_msg(picked(pick, n, 0) && picked(pick, n, 1),
                      "round %d: a window of the pump left out", round);
        ck_assert_int_le(n - 2, 4);
        ck_assert_int_eq(picked(pick, n, 2), picked(pick, n, 3));
    }
}
END_TEST

/* ---- windows of one pump, checked by enumeration (ADR 0010, item 15) ---- */

static unsigned enum_rand(unsigned *st)
{
    *st = *st * 1103515245u + 12345u;
    return (*st >> 16) & 0x7fff;
}

/* A random pair of windows of one 10 kW on/off pump in 8 hourly slots:
 * touching in about half the cases, else 1-2 slots apart; 1-3 hours to
 * run in each, minimum run and rest 1-3, 0-2 starts a local day over
 * random local days, a start-up cost in half the cases. */
static void enum_case(tcase_t *c, int *day, unsigned *st)
{
    double price[MAXT];
    int gap = enum_rand(st) % 2 ? 0 : 1 + (int)(enum_rand(st) % 2);
    int a1 = (int)(enum_rand(st) % 2), b1 = a1 + 2 + (int)(enum_rand(st) % 3);
    int a2 = b1 + gap, b2 = a2 + 2 + (int)(enum_rand(st) % 3);

    if (b2 > MAXT)
        b2 = MAXT;
    for (int t = 0; t < MAXT; t++) {
        price[t] = (double)(enum_rand(st) % 100);
        day[t] = t == 0 ? 0 : day[t - 1] + (enum_rand(st) % 4 == 0);
    }
    tc_init(c, MAXT, price, NULL);
    c->pb.site.day = day;
    pump_windows(c, a1, b1, a2, b2);
    int L = 1 + (int)(enum_rand(st) % 3), R = 1 + (int)(enum_rand(st) % 3);
    int S = (int)(enum_rand(st) % 3);
    double su = enum_rand(st) % 2 ? 0.05 * (1 + enum_rand(st) % 10) : 0;
    for (int i = 0; i < 2; i++) {
        opt_equipment_t *q = &c->eq[i];
        int nw = q->deadline - q->earliest;
        q->energy_kwh = 10.0 * (1 + (int)(enum_rand(st) % (nw < 3 ? nw : 3)));
        q->min_run = L;
        q->min_rest = R;
        q->max_starts_day = S;
        q->startup_eur = su;
    }
}

/* The runs of the machine: its two windows' power summed per slot. */
static int machine_runs(const opt_plan_t *pl)
{
    int n = 0;

    for (int t = 0; t < MAXT; t++) {
        int on = pl->power[t] + pl->power[MAXT + t] > 0;
        int before = t > 0 && pl->power[t - 1] + pl->power[MAXT + t - 1] > 0;
        n += on && !before;
    }
    return n;
}

/* The cheapest plan the validator accepts, over every on/off pattern of
 * both windows at 10 kW with each window's energy, each priced one
 * start-up per run of the machine; HUGE_VAL when none. */
static double enum_cheapest(const tcase_t *c)
{
    const opt_equipment_t *q = c->eq;
    int n1 = q[0].deadline - q[0].earliest, n2 = q[1].deadline - q[1].earliest;
    double best = HUGE_VAL;
    opt_plan_t pl;
    opt_cost_t cost;

    for (unsigned m1 = 0; m1 < 1u << n1; m1++)
        for (unsigned m2 = 0; m2 < 1u << n2; m2++) {
            if (__builtin_popcount(m1) * 10.0 != q[0].energy_kwh ||
                __builtin_popcount(m2) * 10.0 != q[1].energy_kwh)
                continue;
            ck_assert_int_eq(opt_plan_init(&pl, 2, MAXT), 0);
            for (int k = 0; k < n1; k++)
                pl.power[q[0].earliest + k] = m1 >> k & 1 ? 10 : 0;
            for (int k = 0; k < n2; k++)
                pl.power[MAXT + q[1].earliest + k] = m2 >> k & 1 ? 10 : 0;
            opt_plan_finish(&c->pb, &pl);
            if (opt_validate(&c->pb, &pl, NULL) == 0) {
                opt_plan_cost(&c->pb, &pl, &cost);
                ck_assert_double_eq_tol(cost.startup_eur,
                                        q[0].startup_eur * machine_runs(&pl), 1e-9);
                best = fmin(best, cost.total_eur);
            }
            opt_plan_release(&pl);
        }
    return best;
}

/* The checks both enumerations make of case i, whose cheapest valid plan
 * costs best (HUGE_VAL: none). The model is infeasible when no plan is
 * valid; else its optimum is best, and its plan passes the validator and
 * costs best. Returns 1 with the model's plan in *pl (the caller releases
 * it), 0 when there is none. */
static int assert_model_cheapest(const tcase_t *c, double best, int i, opt_plan_t *pl)
{
    char err[128];
    double *x;
    opt_cost_t cost;
    opt_model_t *m = opt_model_new(&c->pb, 0, err, sizeof err);

    ck_assert_ptr_nonnull(m);
    lprec *lp = opt_model_lp(m);
    int ret = solve(lp);
    if (best == HUGE_VAL) {
        ck_assert_msg(ret == INFEASIBLE, "case %d: model %d, no valid plan", i, ret);
        opt_model_destroy(m);
        return 0;
    }
    ck_assert_msg(ret == OPTIMAL, "case %d: model %d, best %g", i, ret, best);
    double obj = get_objective(lp) + opt_model_obj_const(m);
    ck_assert_msg(fabs(obj - best) < 1e-6,
                  "case %d: model %.6f, cheapest valid plan %.6f", i, obj, best);
    ck_assert_int_eq(opt_plan_init(pl, c->pb.n_eq, MAXT), 0);
    ck_assert(get_ptr_variables(lp, &x));
    opt_model_extract(m, x, pl);
    opt_model_destroy(m);
    ck_assert_msg(opt_validate(&c->pb, pl, NULL) == 0, "case %d: model plan refused",
                  i);
    opt_plan_cost(&c->pb, pl, &cost);
    ck_assert_msg(fabs(cost.total_eur - best) < 1e-6, "case %d: plan %.6f, best %.6f",
                  i, cost.total_eur, best);
    return 1;
}

/* The heuristic's plan of case i into *pl (the caller releases it),
 * asserting the validator accepts it. */
static void assert_heuristic_valid(const tcase_t *c, int i, opt_plan_t *pl)
{
    ck_assert_int_eq(opt_plan_init(pl, c->pb.n_eq, MAXT), 0);
    opt_heuristic(&c->pb, pl);
    ck_assert_msg(opt_validate(&c->pb, pl, NULL) == 0,
                  "case %d: heuristic plan refused", i);
}

/* Random pairs of windows: the model's optimum is the cheapest plan the
 * validator accepts (infeasible when there is none), and its plan is that
 * plan (valid, priced as the objective says); the heuristic's plan is
 * valid and costs the same (the pump recursion places the two windows
 * together: placing the first before the second, 182 of the 1,306 cases
 * with a valid plan got none, 35 more a dearer one). With a run going on
 * across touching windows priced as two starts or held to the minimum run
 * in each window, the model, the cost function and the validator
 * disagree. */
START_TEST(test_group_windows_enumerated)
{
    unsigned st = 20261122u;
    int touching_runs = 0;

    for (int i = 0; i < 2000; i++) {
        tcase_t c;
        int day[MAXT];
        opt_plan_t pl;
        opt_cost_t cost;

        enum_case(&c, day, &st);
        double best = enum_cheapest(&c);
        if (!assert_model_cheapest(&c, best, i, &pl))
            continue;
        int b1 = c.eq[0].deadline;
        touching_runs += c.eq[1].earliest == b1 && pl.on[b1 - 1] && pl.on[MAXT + b1];
        opt_plan_release(&pl);
        assert_heuristic_valid(&c, i, &pl);
        /* the pump recursion places both windows together, exactly */
        opt_plan_cost(&c.pb, &pl, &cost);
        ck_assert_msg(fabs(cost.total_eur - best) < 1e-6,
                      "case %d: heuristic %.6f, best %.6f", i, cost.total_eur, best);
        opt_plan_release(&pl);
    }
    /* the cases do exercise runs across the boundary */
    ck_assert_int_gt(touching_runs, 50);
}
END_TEST

/* ---- windows of one non-interruptible task, checked by enumeration ---- */

/* Two or three windows of one 10 kW non-interruptible task in 8 hourly
 * slots, 2-3 slots each, touching in about half the cases (else one slot
 * apart), 10-30 kWh each (a half-hour short in a third: minimum power 9
 * kW, so the last slot averages 5 kW), a start-up cost in three cases of
 * four, a demand charge over a random base load in a quarter. */
static void block_case(tcase_t *c, unsigned *st)
{
    double price[MAXT], base[MAXT];
    int n = 2 + (int)(enum_rand(st) % 2), touch = enum_rand(st) % 2 == 0;
    int half = enum_rand(st) % 3 == 0;
    double su = enum_rand(st) % 4 ? 0.05 * (1 + enum_rand(st) % 10) : 0;

    for (int t = 0; t < MAXT; t++) {
        price[t] = (double)(enum_rand(st) % 100);
        base[t] = (double)(enum_rand(st) % 20);
    }
    tc_init(c, MAXT, price, base);
    if (enum_rand(st) % 4 == 0)
        c->pb.site.demand_eur_kw = 0.01 * (1 + enum_rand(st) % 5);
    c->pb.n_eq = n;
    for (int i = 0, lo = (int)(enum_rand(st) % 2); i < n; i++) {
        int len = 2 + (int)(enum_rand(st) % 2);
        int hi = lo + len > MAXT ? MAXT : lo + len;
        int dur = 1 + (int)(enum_rand(st) % (unsigned)(hi - lo));
        opt_equipment_t *q = task(c, i, OPT_TASK_BLOCK, 10,
                                  10.0 * dur - (half && dur > 1 ? 5 : 0), lo, hi);
        q->p_min_kw = half ? 9 : 0;
        q->startup_eur = su;
        q->group = 1;
        lo = hi + !touch;
        if (lo + 2 > MAXT) {
            c->pb.n_eq = i + 1; /* at least two: the second ends by slot 8 */
            break;
        }
    }
}

/* Puts window e's block starting at slot k into the plan. */
static void put_block(const tcase_t *c, opt_plan_t *pl, int e, int k)
{
    const opt_equipment_t *q = &c->eq[e];
    double p;
    int d = opt_block_duration(&c->pb, q, &p);

    for (int j = 0; j < d; j++)
        pl->power[(size_t)e * MAXT + k + j] =
            j == d - 1 ? opt_block_last_kw(&c->pb, q) : p;
}

/* The cheapest plan the validator accepts, over every start of every
 * window; *across receives whether it runs on across a boundary. Each
 * valid plan's start-up cost is one per run of the machine. */
static double block_cheapest(const tcase_t *c, int *across)
{
    int n = c->pb.n_eq, k[3], last[3];
    double best = HUGE_VAL;

    for (int i = 0; i < n; i++) {
        double p;
        last[i] = c->eq[i].deadline - opt_block_duration(&c->pb, &c->eq[i], &p);
        k[i] = c->eq[i].earliest;
    }
    for (;;) {
        opt_plan_t pl;
        opt_cost_t cost;
        ck_assert_int_eq(opt_plan_init(&pl, n, MAXT), 0);
        for (int i = 0; i < n; i++)
            put_block(c, &pl, i, k[i]);
        opt_plan_finish(&c->pb, &pl);
        ck_assert_int_eq(opt_validate(&c->pb, &pl, NULL), 0);
        opt_plan_cost(&c->pb, &pl, &cost);
        int runs = 0;
        for (int t = 0; t < MAXT; t++) {
            int on = 0, before = 0;
            for (int i = 0; i < n; i++) {
                on |= pl.on[(size_t)i * MAXT + t];
                before |= t > 0 && pl.on[(size_t)i * MAXT + t - 1];
            }
            runs += on && !before;
        }
        ck_assert_double_eq_tol(cost.startup_eur, c->eq[0].startup_eur * runs, 1e-9);
        if (cost.total_eur < best - 1e-9) {
            best = cost.total_eur;
            *across = runs < n;
        }
        opt_plan_release(&pl);
        int i = 0;
        while (i < n && ++k[i] > last[i])
            k[i] = c->eq[i].earliest, i++;
        if (i == n)
            return best;
    }
}

/* Random windows of one non-interruptible task: the model's optimum is
 * the cheapest plan the validator accepts, and its plan is valid and
 * costs what its objective says; the heuristic's plan is valid, and the
 * pipeline's costs the same as the optimum. A block ending where the
 * next window's block starts is one run of the machine, one start-up in
 * the cost function: the model charged two, and the blocks' local search
 * (after the branch and bound too) moved such a block away from the
 * other's run, for a plan dearer than the one it started from (ADR 0010,
 * item 16). */
START_TEST(test_block_windows_enumerated)
{
    unsigned st = 20261123u;
    int across_best = 0;

    for (int i = 0; i < 1000; i++) {
        tcase_t c;
        opt_plan_t pl;
        int across = 0;

        block_case(&c, &st);
        double best = block_cheapest(&c, &across);
        ck_assert_msg(assert_model_cheapest(&c, best, i, &pl), "case %d: no valid plan",
                      i);
        opt_plan_release(&pl);
        across_best += across && c.eq[0].startup_eur > 0;
        assert_heuristic_valid(&c, i, &pl);
        opt_plan_release(&pl);
        tc_solve(&c);
        ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
        ck_assert_int_eq(c.r.violations, 0);
        ck_assert_msg(fabs(c.r.cost.total_eur - best) < 1e-6,
                      "case %d: pipeline %.6f (%s, %s), best %.6f", i, c.r.cost.total_eur,
                      opt_status_name(c.r.status), c.r.source, best);
        opt_result_release(&c.r);
    }
    /* the cases do exercise runs across a boundary that save a start-up */
    ck_assert_int_gt(across_best, 50);
}
END_TEST

/* Two windows of one pump in one day with one start a day cannot both
 * deliver: the elastic model (the group's rows need no slack: a window
 * may stay off) leaves one window's energy unmet and says so. */
START_TEST(test_group_starts_infeasible_explained)
{
    tcase_t c;
    const double price[] = {30, 50, 10, 100, 10, 40, 20, 60};
    char err[128];

    tc_init(&c, 8, price, NULL);
    pump_windows(&c, 0, 3, 4, 8);
    c.eq[0].max_starts_day = c.eq[1].max_starts_day = 1;
    c.eq[0].min_rest = c.eq[1].min_rest = 3;
    opt_model_t *m = opt_model_new(&c.pb, 1, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(solve(opt_model_lp(m)), OPTIMAL);
    opt_model_destroy(m);
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_INFEASIBLE);
    ck_assert_int_ge(c.r.explain.n, 1);
    ck_assert_ptr_nonnull(strstr(c.r.explain.v[0], "10.0 kWh cannot be delivered"));
    opt_result_release(&c.r);
}
END_TEST

/* Minimum rest in a window no longer than the rest: a pump of 1..10 kW,
 * 20 kWh, rest 3 hours, a window of three hours, prices 10,100,10. Hours
 * 0 and 2 alone (0.20 EUR) rest one hour. The optimum runs on through
 * hour 1 at its minimum: 19 kWh in hours 0 and 2 (split either way) and
 * 1 kW in hour 1, 0.19 + 0.10 = 0.29 EUR (two hours on end: 1.10). */
START_TEST(test_rest_in_short_window)
{
    tcase_t c;
    const double price[] = {10, 100, 10};
    char err[128];

    tc_init(&c, 3, price, NULL);
    opt_equipment_t *q = task(&c, 0, OPT_TASK_FLEX, 10, 20, 0, 3);
    q->min_rest = 3;
    q->p_min_kw = 1;
    opt_model_t *m = opt_model_new(&c.pb, 0, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(solve(opt_model_lp(m)), OPTIMAL);
    ck_assert_double_eq_tol(get_objective(opt_model_lp(m)) + opt_model_obj_const(m),
                            0.29, 1e-9);
    opt_model_destroy(m);
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    ck_assert_double_eq_tol(pw(&c, 0, 1), 1, 1e-6);
    ck_assert_double_eq_tol(pw(&c, 0, 0) + pw(&c, 0, 2), 19, 1e-6);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 0.29, 1e-9);
    opt_result_release(&c.r);
}
END_TEST

/* With no minimum power, on still means drawing power (1 W at least): the
 * same pump from 0 kW runs on through hour 1 at 0.001 kW (0.20009 EUR).
 * On at 0 kW would join hours 0 and 2 into one run in the model (0.20
 * EUR) while the plan rests one hour, which the validator refuses. */
START_TEST(test_on_draws_power)
{
    tcase_t c;
    const double price[] = {10, 100, 10};
    char err[128];

    tc_init(&c, 3, price, NULL);
    task(&c, 0, OPT_TASK_FLEX, 10, 20, 0, 3)->min_rest = 3;
    opt_model_t *m = opt_model_new(&c.pb, 0, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(solve(opt_model_lp(m)), OPTIMAL);
    ck_assert_double_eq_tol(get_objective(opt_model_lp(m)) + opt_model_obj_const(m),
                            0.20009, 1e-9);
    opt_model_destroy(m);
    tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    ck_assert_double_eq_tol(pw(&c, 0, 1), 0.001, 1e-9);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 0.20009, 1e-9);
    opt_result_release(&c.r);
}
END_TEST

/* Storage SOC recomputed from charge and discharge, and start limits. */
START_TEST(test_validator_storage_and_starts)
{
    tcase_t c;
    const double price[] = {10, 10, 10, 10};
    opt_plan_t pl;

    tc_init(&c, 4, price, NULL);
    c.pb.n_eq = 2;
    opt_equipment_t *b = task(&c, 0, OPT_STORAGE, 0, 0, 0, 4);
    b->cap_kwh = b->soc_max_kwh = 10;
    b->charge_max_kw = b->discharge_max_kw = 10;
    b->eta_charge = b->eta_discharge = 1;
    opt_equipment_t *q = task(&c, 1, OPT_TASK_FLEX, 10, 20, 0, 4);
    q->max_starts_day = 1;
    ck_assert_int_eq(opt_plan_init(&pl, 2, 4), 0);
    pl.charge[0] = pl.charge[1] = 10; /* SOC 20 kWh > 10 */
    pl.power[4 + 0] = pl.power[4 + 2] = 10; /* two starts */
    opt_plan_finish(&c.pb, &pl);
    assert_refused(&c.pb, &pl, "state of charge");
    assert_refused(&c.pb, &pl, "starts more than");
    opt_plan_release(&pl);
}
END_TEST

/* A neighbourhood: with block 0 free and block 1 fixed to the plan (both
 * at the dearest hour 3), the model moves block 0 to the cheapest hour 0
 * and keeps block 1 where the plan has it; unfixed, both go to hour 0. */
START_TEST(test_fix_except_neighbourhood)
{
    tcase_t c;
    const double price[] = {10, 20, 30, 40};
    unsigned char fr[2] = {1, 0};
    opt_plan_t pl;
    char err[128];
    double *x;

    tc_init(&c, 4, price, NULL);
    c.pb.n_eq = 2;
    task(&c, 0, OPT_TASK_BLOCK, 10, 10, 0, 4);
    task(&c, 1, OPT_TASK_BLOCK, 10, 10, 0, 4);
    ck_assert_int_eq(opt_plan_init(&pl, 2, 4), 0);
    pl.power[3] = pl.power[4 + 3] = 10;
    opt_plan_finish(&c.pb, &pl);
    opt_model_t *m = opt_model_new(&c.pb, 0, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    opt_model_fix_except(m, &pl, fr);
    ck_assert_int_eq(solve(opt_model_lp(m)), OPTIMAL);
    ck_assert(get_ptr_variables(opt_model_lp(m), &x));
    opt_model_extract(m, x, &pl);
    ck_assert_double_eq_tol(pl.power[0], 10, 1e-9);
    ck_assert_double_eq_tol(pl.power[4 + 3], 10, 1e-9);
    opt_model_unfix(m);
    ck_assert_int_eq(solve(opt_model_lp(m)), OPTIMAL);
    /* unfixed, both run in hour 0: 2 * 0.01 MWh * 10 EUR/MWh */
    ck_assert_double_eq_tol(get_objective(opt_model_lp(m)), 0.20, 1e-9);
    opt_model_destroy(m);
    opt_plan_release(&pl);
}
END_TEST

/* Re-placing a pump: a 2-hour minimum-run pump planned in the dear hours
 * 0-1 moves to the cheap hours 2-3, and the move is counted. */
START_TEST(test_improve_pumps_moves)
{
    tcase_t c;
    const double price[] = {100, 100, 10, 10};
    opt_plan_t pl;

    tc_init(&c, 4, price, NULL);
    opt_equipment_t *q = task(&c, 0, OPT_TASK_FLEX, 10, 20, 0, 4);
    q->p_min_kw = 10;
    q->min_run = 2;
    ck_assert_int_eq(opt_plan_init(&pl, 1, 4), 0);
    pl.power[0] = pl.power[1] = 10;
    opt_plan_finish(&c.pb, &pl);
    ck_assert_int_eq(opt_improve_pumps(&c.pb, &pl, 3), 1);
    ck_assert_double_eq_tol(pl.power[0] + pl.power[1], 0, 1e-9);
    ck_assert_double_eq_tol(pl.power[2] + pl.power[3], 20, 1e-9);
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    opt_plan_release(&pl);
}
END_TEST

/* The relaxation pays a whole start-up: a 10 kW on/off task (minimum
 * power 10 kW) needing 10 kWh over four equal hours, start-up 100 EUR.
 * Without the "at least one start" row the relaxation runs u = 0.25 in
 * every hour for 25 EUR of start-up; with it, 100 EUR + 10 kWh at
 * 10 EUR/MWh = 100.10 EUR, the integer optimum. */
START_TEST(test_relaxation_pays_one_start)
{
    tcase_t c;
    const double price[] = {10, 10, 10, 10};
    char err[128];

    tc_init(&c, 4, price, NULL);
    opt_equipment_t *q = task(&c, 0, OPT_TASK_FLEX, 10, 10, 0, 4);
    q->p_min_kw = 10;
    q->startup_eur = 100;
    opt_model_t *m = opt_model_new(&c.pb, 0, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    opt_model_set_relaxed(m, 1);
    ck_assert_int_eq(solve(opt_model_lp(m)), OPTIMAL);
    ck_assert_double_eq_tol(get_objective(opt_model_lp(m)) +
                                opt_model_obj_const(m),
                            100.10, 1e-6);
    opt_model_destroy(m);
    /* and the elastic model may still leave the energy unmet */
    m = opt_model_new(&c.pb, 1, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    opt_model_destroy(m);
}
END_TEST

/* The exported model reads back and has the binaries it should. */
START_TEST(test_dump_model)
{
    tcase_t c;
    const double price[] = {50, 5, 60, 10, 10, 50};
    char err[128], path[] = "/tmp/test_optimizer_XXXXXX.mps";
    int fd = mkstemps(path, 4);

    ck_assert_int_ge(fd, 0);
    close(fd);
    tc_init(&c, 6, price, NULL);
    task(&c, 0, OPT_TASK_BLOCK, 10, 20, 0, 6);
    opt_model_t *m = opt_model_new(&c.pb, 0, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(opt_model_n_binaries(m), 5);
    ck_assert_int_eq(opt_model_write(m, path, err, sizeof err), 0);
    FILE *f = fopen(path, "r");
    char line[256];
    int cols = 0;
    while (f && fgets(line, sizeof line, f))
        cols += strstr(line, "s0_") != NULL && strstr(line, " R0 ") != NULL;
    ck_assert_int_eq(cols, 5);
    fclose(f);
    unlink(path);
    opt_model_destroy(m);
}
END_TEST

static Suite *optimizer_suite(void)
{
    Suite *s = suite_create("optimizer");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_one_task_two_prices);
    tcase_add_test(tc, test_block_across_valley);
    tcase_add_test(tc, test_block_min_power);
    tcase_add_test(tc, test_battery_arbitrage);
    tcase_add_test(tc, test_battery_negative_prices_one_direction);
    tcase_add_test(tc, test_thermal_store_draw);
    tcase_add_test(tc, test_storage_ramp);
    tcase_add_test(tc, test_capacity_forces_shift);
    tcase_add_test(tc, test_demand_charge_flattens);
    tcase_add_test(tc, test_demand_charge_two_periods);
    tcase_add_loop_test(tc, test_branch_direction_same_optimum, 0, 6);
    tcase_add_test(tc, test_min_run);
    tcase_add_test(tc, test_starts_per_local_day);
    tcase_add_test(tc, test_rest_in_short_window);
    tcase_add_test(tc, test_on_draws_power);
    tcase_add_test(tc, test_min_power_range);
    tcase_add_test(tc, test_pump_runs_heuristic);
    tcase_add_test(tc, test_storage_heuristic);
    tcase_add_test(tc, test_infeasible_deadline_explained);
    tcase_add_test(tc, test_elastic_lp_plan_is_runnable);
    tcase_add_test(tc, test_elastic_lp_without_slack_rounded);
    tcase_add_test(tc, test_export_limit_without_storage);
    tcase_add_test(tc, test_window_too_short_explained);
    tcase_add_test(tc, test_baseline_habitual);
    tcase_add_loop_test(tc, test_validator_rejects, 0,
                        sizeof broken_plans / sizeof *broken_plans);
    tcase_add_test(tc, test_validator_storage_and_starts);
    tcase_add_test(tc, test_validator_fraction_of_start);
    tcase_add_test(tc, test_group_rest_across_windows);
    tcase_add_test(tc, test_group_rest_touching_windows);
    tcase_add_test(tc, test_group_starts_per_day);
    tcase_add_test(tc, test_group_starts_infeasible_explained);
    tcase_add_test(tc, test_group_run_across_touching_windows);
    tcase_add_test(tc, test_group_min_run_across_touching_windows);
    tcase_add_test(tc, test_group_run_started_late_heuristic);
    tcase_add_test(tc, test_lns_frees_whole_groups);
    tcase_add_test(tc, test_group_windows_enumerated);
    tcase_add_test(tc, test_block_windows_enumerated);
    tcase_add_test(tc, test_improve_pumps_keeps_group_rest);
    tcase_add_test(tc, test_improve_pumps_joint_move);
    tcase_add_test(tc, test_dump_model);
    tcase_add_test(tc, test_fix_except_neighbourhood);
    tcase_add_test(tc, test_improve_pumps_moves);
    tcase_add_test(tc, test_relaxation_pays_one_start);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(optimizer_suite(), 0);
}
