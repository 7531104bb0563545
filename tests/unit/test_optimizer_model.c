/*
 * Unit tests of the schedule optimizer's model: small cases whose optimum is
 * computed by hand in the comments (tasks, capacity, demand charge, minimum
 * run, starts, rest), the branching direction, the baseline and the LP file.
 */
#include <check.h>
#include <lp_lib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "schedule-optimizer/opt_heur.h"
#include "schedule-optimizer/opt_model.h"
#include "schedule-optimizer/opt_solve.h"
#include "support/harness.h"
#include "support/opt_cases.h"

/* Asserts the pipeline's plan is optimal and valid, equipment 0 running
 * want, at eur in total. */
static void assert_optimal(const tcase_t *c, const double *want, double eur)
{
    ck_assert_int_eq(c->r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c->r.violations, 0);
    oc_assert_power(c, 0, want);
    ck_assert_double_eq_tol(c->r.cost.total_eur, eur, 1e-9);
}

/* Interruptible 20 kWh at up to 10 kW, prices 100,100,20,20 EUR/MWh:
 * run in the two cheap hours, 20 kWh * 20 EUR/MWh = 0.40 EUR. The baseline
 * runs first thing: 20 kWh * 100 = 2.00 EUR, so savings 1.60 EUR. */
START_TEST(test_one_task_two_prices)
{
    tcase_t c;
    const double price[] = {100, 100, 20, 20}, want[] = {0, 0, 10, 10};

    oc_tc_init(&c, 4, price, NULL);
    oc_task(&c, 0, OPT_TASK_FLEX, 10, 20, 0, 4);
    oc_tc_solve(&c);
    assert_optimal(&c, want, 0.40);
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

    oc_tc_init(&c, 4, price, NULL);
    opt_equipment_t *q = oc_task(&c, 0, OPT_TASK_FLEX, 10, 12, 0, 4);
    q->p_min_kw = 4;
    oc_tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    ck_assert_double_eq_tol(oc_pw(&c, 0, 1) + oc_pw(&c, 0, 3), 0, 1e-6);
    ck_assert_double_eq_tol(oc_pw(&c, 0, 0) + oc_pw(&c, 0, 2), 12, 1e-6);
    for (int t = 0; t < 4; t += 2)
        ck_assert(oc_pw(&c, 0, t) < 1e-6 || oc_pw(&c, 0, t) > 4 - 1e-6);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 0.12, 1e-9);
    opt_result_release(&c.r);
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

    oc_tc_init(&c, 6, price, NULL);
    oc_task(&c, 0, OPT_TASK_BLOCK, 10, 20, 0, 6);
    oc_tc_solve(&c);
    assert_optimal(&c, want, 0.20);
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

    oc_tc_init(&c, 5, price, NULL);
    opt_equipment_t *q = oc_task(&c, 0, OPT_TASK_BLOCK, 10, 15, 0, 5);
    q->p_min_kw = 9;
    oc_tc_solve(&c);
    assert_optimal(&c, want, 0.15);
    c.r.plan.power[1] = c.r.plan.power[2] = 7.5;
    oc_assert_refused(&c.pb, &c.r.plan, "below its minimum");
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

    oc_tc_init(&c, 4, price, base);
    c.pb.site.import_cap_kw = 100;
    oc_task(&c, 0, OPT_TASK_BLOCK, 20, 20, 0, 4);
    oc_tc_solve(&c);
    assert_optimal(&c, want, 2.80);
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

    oc_tc_init(&c, 2, price, base);
    c.pb.site.demand_eur_kw = 1;
    oc_task(&c, 0, OPT_TASK_FLEX, 100, 100, 0, 2);
    oc_tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    oc_assert_power(&c, 0, want);
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
    int found = 0;

    oc_tc_init(&c, 4, price, base);
    c.pb.site.demand_eur_kw = 10;
    c.pb.site.peak_so_far_kw = 100;
    c.pb.site.next_period_slot = 2;
    oc_task(&c, 0, OPT_TASK_BLOCK, 40, 40, 0, 4);
    /* each part on its own: the heuristic, the model under lp_solve (the
     * pipeline's block moves would otherwise hide a model that missed it) */
    ck_assert_int_eq(opt_plan_init(&pl, 1, 4), 0);
    opt_heuristic(&c.pb, &pl);
    opt_plan_cost(&c.pb, &pl, &cost);
    ck_assert_double_eq_tol(cost.total_eur, 1514.10, 1e-9);
    oc_assert_model_objective(&c.pb, 1514.10, 1e-6);
    opt_plan_release(&pl);
    /* the pipeline */
    oc_tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    oc_assert_power(&c, 0, want);
    ck_assert_double_eq_tol(c.r.cost.peak_kw, 100, 1e-6);
    ck_assert_double_eq_tol(c.r.cost.next_peak_kw, 50, 1e-6);
    ck_assert_double_eq_tol(c.r.cost.demand_eur, 1500, 1e-6);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 1514.10, 1e-6);
    ck_assert_double_eq_tol(c.r.baseline_cost.total_eur, 1514.50, 1e-6);
    for (int i = 0; i < c.r.binding.n; i++)
        found += strstr(c.r.binding.v[i], "new next period's peak 50.0 kW in slot 2") !=
                 NULL;
    ck_assert_int_eq(found, 1);
    opt_result_release(&c.r);
    /* a boundary outside the horizon is bad input */
    c.pb.site.next_period_slot = 4;
    opt_msgs_init(&msgs);
    ck_assert_int_eq(opt_problem_check(&c.pb, &msgs), 1);
    ck_assert_msg(strstr(msgs.v[0], "next billing period starts at slot 4"), "%s",
                  msgs.v[0]);
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
static const int branch_dirs[] = {BRANCH_CEILING, BRANCH_FLOOR, BRANCH_AUTOMATIC};

START_TEST(test_branch_direction_same_optimum)
{
    tcase_t c;
    const double price[] = {10, 20, 30, 40}, wa[] = {150, 0, 0, 0},
                 wb[] = {0, 100, 0, 0};
    opt_options_t o;
    char err[256];

    oc_tc_init(&c, 4, price, NULL);
    c.pb.site.demand_eur_kw = 1;
    c.pb.n_eq = 2;
    oc_task(&c, 0, OPT_TASK_BLOCK, 150, 150, 0, 4);
    oc_task(&c, 1, OPT_TASK_BLOCK, 100, 100, 0, 4);
    opt_options_init(&o);
    o.time_limit_s = 5;
    o.bb_floor = o.bb_floor_search = branch_dirs[_i % 3];
    o.use_heuristic = _i < 3;
    ck_assert_int_eq(opt_solve(&c.pb, &o, &c.r, err, sizeof err), 0);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    oc_assert_power(&c, 0, wa);
    oc_assert_power(&c, 1, wb);
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

    oc_tc_init(&c, 5, price, NULL);
    opt_equipment_t *q = oc_task(&c, 0, OPT_TASK_FLEX, 10, 20, 0, 5);
    q->p_min_kw = 10;
    q->min_run = 2;
    oc_tc_solve(&c);
    assert_optimal(&c, want, 0.30);
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

    oc_tc_init(&c, 4, price, NULL);
    opt_equipment_t *q = oc_task(&c, 0, OPT_TASK_BLOCK, 10, 20, 0, 4);
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

    oc_tc_init(&c, 4, price, NULL);
    c.pb.site.day = day;
    oc_task(&c, 0, OPT_TASK_FLEX, 10, 20, 0, 4)->max_starts_day = 1;
    oc_tc_solve(&c);
    assert_optimal(&c, want, 0.20);
    c.pb.site.day = one_day;
    oc_assert_refused(&c.pb, &c.r.plan, "starts more than");
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

    oc_tc_init(&c, 3, price, NULL);
    opt_equipment_t *q = oc_task(&c, 0, OPT_TASK_FLEX, 10, 20, 0, 3);
    q->min_rest = 3;
    q->p_min_kw = 1;
    oc_assert_model_objective(&c.pb, 0.29, 1e-9);
    oc_tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    ck_assert_double_eq_tol(oc_pw(&c, 0, 1), 1, 1e-6);
    ck_assert_double_eq_tol(oc_pw(&c, 0, 0) + oc_pw(&c, 0, 2), 19, 1e-6);
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

    oc_tc_init(&c, 3, price, NULL);
    oc_task(&c, 0, OPT_TASK_FLEX, 10, 20, 0, 3)->min_rest = 3;
    oc_assert_model_objective(&c.pb, 0.20009, 1e-9);
    oc_tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    ck_assert_double_eq_tol(oc_pw(&c, 0, 1), 0.001, 1e-9);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 0.20009, 1e-9);
    opt_result_release(&c.r);
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

    oc_tc_init(&c, 4, price, NULL);
    opt_equipment_t *q = oc_task(&c, 0, OPT_TASK_FLEX, 10, 10, 0, 4);
    q->p_min_kw = 10;
    q->startup_eur = 100;
    opt_model_t *m = opt_model_new(&c.pb, 0, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    opt_model_set_relaxed(m, 1);
    ck_assert_int_eq(solve(opt_model_lp(m)), OPTIMAL);
    ck_assert_double_eq_tol(get_objective(opt_model_lp(m)) + opt_model_obj_const(m),
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
    oc_tc_init(&c, 6, price, NULL);
    oc_task(&c, 0, OPT_TASK_BLOCK, 10, 20, 0, 6);
    opt_model_t *m = opt_model_new(&c.pb, 0, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(opt_model_n_binaries(m), 5);
    ck_assert_int_eq(opt_model_write(m, path, err, sizeof err), 0);
    FILE *f = fopen(path, "r");
    char line[256];
    int cols = 0;
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f))
        cols += strstr(line, "s0_") != NULL && strstr(line, " R0 ") != NULL;
    ck_assert_int_eq(cols, 5);
    fclose(f);
    unlink(path);
    opt_model_destroy(m);
}
END_TEST

static Suite *optimizer_model_suite(void)
{
    Suite *s = suite_create("optimizer_model");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_one_task_two_prices);
    tcase_add_test(tc, test_block_across_valley);
    tcase_add_test(tc, test_block_min_power);
    tcase_add_test(tc, test_capacity_forces_shift);
    tcase_add_test(tc, test_demand_charge_flattens);
    tcase_add_test(tc, test_demand_charge_two_periods);
    tcase_add_loop_test(tc, test_branch_direction_same_optimum, 0, 6);
    tcase_add_test(tc, test_min_run);
    tcase_add_test(tc, test_starts_per_local_day);
    tcase_add_test(tc, test_rest_in_short_window);
    tcase_add_test(tc, test_on_draws_power);
    tcase_add_test(tc, test_min_power_range);
    tcase_add_test(tc, test_baseline_habitual);
    tcase_add_test(tc, test_dump_model);
    tcase_add_test(tc, test_relaxation_pays_one_start);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(optimizer_model_suite(), 0);
}
