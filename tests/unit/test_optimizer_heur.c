/*
 * Unit tests of the schedule optimizer's heuristics: the constructive
 * heuristic, the pump improvement moves and the neighbourhood search (LNS).
 */
#include <check.h>
#include <lp_lib.h>
#include <string.h>

#include "schedule-optimizer/opt_heur.h"
#include "schedule-optimizer/opt_lns.h"
#include "schedule-optimizer/opt_model.h"
#include "schedule-optimizer/opt_pump.h"
#include "schedule-optimizer/opt_solve.h"
#include "schedule-optimizer/opt_validate.h"
#include "support/harness.h"
#include "support/opt_cases.h"

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

    oc_tc_init(&c, 8, price, NULL);
    opt_equipment_t *q = oc_task(&c, 0, OPT_TASK_FLEX, 10, 40, 0, 8);
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
    oc_tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    oc_assert_power(&c, 0, want);
    ck_assert_double_eq_tol(c.r.cost.total_eur, 1.80, 1e-9);
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

    oc_tc_init(&c, 8, price, NULL);
    oc_pump_windows(&c, 0, 3, 4, 8);
    c.eq[0].min_rest = c.eq[1].min_rest = 3;
    oc_put_two_runs(&c, &pl, 0, 4);
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

    oc_tc_init(&c, 8, price, NULL);
    oc_pump_windows(&c, 0, 3, 4, 8);
    c.eq[0].min_rest = c.eq[1].min_rest = 3;
    oc_put_two_runs(&c, &pl, 0, 4);
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    ck_assert_int_eq(opt_improve_pumps(&c.pb, &pl, 3), 1);
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    oc_assert_windows_power(&pl, want0, want1);
    opt_plan_cost(&c.pb, &pl, &cost);
    ck_assert_double_eq_tol(cost.total_eur, 0.30, 1e-9);
    opt_plan_release(&pl);
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
    opt_problem_t pb = {.site = {.n_slots = 24,
                                 .slot_h = 1.0,
                                 .price = price,
                                 .base_kw = base,
                                 .import_cap_kw = 1000},
                        .eq = eq,
                        .n_eq = 7};
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

    oc_tc_init(&c, 4, price, NULL);
    c.pb.n_eq = 2;
    oc_task(&c, 0, OPT_TASK_BLOCK, 10, 10, 0, 4);
    oc_task(&c, 1, OPT_TASK_BLOCK, 10, 10, 0, 4);
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

    oc_tc_init(&c, 4, price, NULL);
    opt_equipment_t *q = oc_task(&c, 0, OPT_TASK_FLEX, 10, 20, 0, 4);
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

static Suite *optimizer_heur_suite(void)
{
    Suite *s = suite_create("optimizer_heur");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pump_runs_heuristic);
    tcase_add_test(tc, test_lns_frees_whole_groups);
    tcase_add_test(tc, test_improve_pumps_keeps_group_rest);
    tcase_add_test(tc, test_improve_pumps_joint_move);
    tcase_add_test(tc, test_fix_except_neighbourhood);
    tcase_add_test(tc, test_improve_pumps_moves);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(optimizer_heur_suite(), 0);
}
