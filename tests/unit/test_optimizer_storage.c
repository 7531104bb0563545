/*
 * Unit tests of the schedule optimizer's storage: battery arbitrage, a thermal
 * store's draw, a storage ramp, each optimum computed by hand in the comments,
 * and the heuristic's storage plan.
 */
#include <check.h>
#include <math.h>
#include <string.h>

#include "schedule-optimizer/opt_heur.h"
#include "schedule-optimizer/opt_solve.h"
#include "schedule-optimizer/opt_validate.h"
#include "support/harness.h"
#include "support/opt_cases.h"

/* Battery 10 kWh, 10 kW, 90% each way, empty at start, prices 20,100,20,100,
 * base 20 kW, no export. Charge 10 kW (SOC 9 kWh), discharge 9 * 0.9 =
 * 8.1 kW, twice: base 20 kWh * 240 = 4.80 EUR, battery 2 * (0.20 - 0.81) =
 * -1.22 EUR; total 3.58 EUR. (How the 16.2 kWh split over hours 1 and 3 is
 * free: SOC may carry over, so only the totals are asserted.) */
/* A 10 kWh battery, 10 kW each way, 90 % efficient each way, over the
 * whole horizon of n slots. */
static void battery(tcase_t *c, int n)
{
    opt_equipment_t *b = oc_task(c, 0, OPT_STORAGE, 0, 0, 0, n);
    b->cap_kwh = b->soc_max_kwh = 10;
    b->charge_max_kw = b->discharge_max_kw = 10;
    b->eta_charge = b->eta_discharge = 0.9;
}

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

    oc_tc_init(&c, 8, price, base);
    opt_equipment_t *b = oc_task(&c, 0, OPT_STORAGE, 0, 0, 0, 8);
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

START_TEST(test_battery_arbitrage)
{
    tcase_t c;
    const double price[] = {20, 100, 20, 100}, base[] = {20, 20, 20, 20};

    oc_tc_init(&c, 4, price, base);
    battery(&c, 4);
    oc_tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    ck_assert_double_eq_tol(c.r.plan.charge[0], 10, 1e-6);
    ck_assert_double_eq_tol(c.r.plan.charge[2], 10, 1e-6);
    ck_assert_double_eq_tol(c.r.plan.discharge[1] + c.r.plan.discharge[3], 16.2, 1e-6);
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

    oc_tc_init(&c, 2, price, base);
    battery(&c, 2);
    oc_tc_solve(&c);
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

    oc_tc_init(&c, 4, price, NULL);
    opt_equipment_t *s = oc_task(&c, 0, OPT_STORAGE, 0, 0, 0, 4);
    s->cap_kwh = 40;
    s->soc_min_kwh = 10;
    s->soc_max_kwh = 40;
    s->soc0_kwh = 20;
    s->charge_max_kw = 30;
    s->eta_charge = s->eta_discharge = 1;
    s->draw_kw = 10;
    oc_tc_solve(&c);
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
    oc_tc_solve(&c);
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
    oc_assert_refused(&c.pb, &pl, "state of charge 0.000 kWh in slot 1");
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

    oc_tc_init(&c, 4, price, base);
    opt_equipment_t *s = oc_task(&c, 0, OPT_STORAGE, 0, 0, 0, 4);
    s->cap_kwh = s->soc_max_kwh = 20;
    s->charge_max_kw = s->discharge_max_kw = 10;
    s->eta_charge = s->eta_discharge = 1;
    s->ramp_kw = 5;
    oc_tc_solve(&c);
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
    oc_assert_refused(&c.pb, &pl, "ramps faster than 5 kW per slot at slot 2");
    opt_plan_release(&pl);
    opt_result_release(&c.r);
}
END_TEST

static Suite *optimizer_storage_suite(void)
{
    Suite *s = suite_create("optimizer_storage");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_battery_arbitrage);
    tcase_add_test(tc, test_battery_negative_prices_one_direction);
    tcase_add_test(tc, test_thermal_store_draw);
    tcase_add_test(tc, test_storage_ramp);
    tcase_add_test(tc, test_storage_heuristic);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(optimizer_storage_suite(), 0);
}
