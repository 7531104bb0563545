/*
 * Unit tests of the windows of one pump (an equipment group): rest, starts per
 * day, minimum run and start-up cost across windows, in the model, the
 * heuristic, the validator and the pipeline.
 */
#include <check.h>

#include "schedule-optimizer/opt_heur.h"
#include "schedule-optimizer/opt_solve.h"
#include "schedule-optimizer/opt_validate.h"
#include "support/harness.h"
#include "support/opt_cases.h"

/* Checks the model's own optimum (no heuristic, no validator), that the
 * heuristic's plan passes the validator, and the pipeline's plan and cost. */
static void assert_group_optimum(tcase_t *c, const double *want0, const double *want1,
                                 double eur)
{
    opt_plan_t pl;
    oc_assert_model_objective(&c->pb, eur, 1e-9);
    ck_assert_int_eq(opt_plan_init(&pl, 2, c->pb.site.n_slots), 0);
    opt_heuristic(&c->pb, &pl);
    ck_assert_int_eq(opt_validate(&c->pb, &pl, NULL), 0);
    opt_plan_release(&pl);
    oc_tc_solve(c);
    ck_assert_int_eq(c->r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c->r.violations, 0);
    oc_assert_power(c, 0, want0);
    oc_assert_power(c, 1, want1);
    ck_assert_double_eq_tol(c->r.cost.total_eur, eur, 1e-9);
}

/* Both windows of oc_pump_windows() held to a minimum run of min_run slots,
 * paying startup_eur a start. */
static void pump_min_run(tcase_t *c, int min_run, double startup_eur)
{
    for (int i = 0; i < 2; i++) {
        c->eq[i].min_run = min_run;
        c->eq[i].startup_eur = startup_eur;
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

    oc_tc_init(&c, 8, price, NULL);
    oc_pump_windows(&c, 0, 3, 4, 8);
    c.eq[0].min_rest = c.eq[1].min_rest = 3;
    assert_group_optimum(&c, want0, want1, 0.30);
    oc_put_two_runs(&c, &pl, 2, 4);
    oc_assert_refused(&c.pb, &pl, "after resting 1 slots (minimum 3)");
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

    oc_tc_init(&c, 8, price, NULL);
    oc_pump_windows(&c, 0, 4, 4, 8);
    c.eq[0].min_rest = c.eq[1].min_rest = 2;
    assert_group_optimum(&c, want0, want1, 0.50);
    assert_heuristic_cost(&c, 0.50);
    oc_put_two_runs(&c, &pl, 3, 5);
    oc_assert_refused(&c.pb, &pl, "after resting 1 slots (minimum 2)");
    opt_plan_release(&pl);
    oc_put_two_runs(&c, &pl, 3, 4);
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

    oc_tc_init(&c, 8, price, NULL);
    c.pb.site.day = day;
    oc_pump_windows(&c, 0, 4, 4, 8);
    c.eq[0].max_starts_day = c.eq[1].max_starts_day = 1;
    assert_group_optimum(&c, want0, want1, 0.30);
    oc_put_two_runs(&c, &pl, 2, 5);
    oc_assert_refused(&c.pb, &pl, "(all its windows) starts more than 1 times a day");
    opt_plan_release(&pl);
    opt_result_release(&c.r);
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

    oc_tc_init(&c, 8, price, NULL);
    oc_pump_windows(&c, 0, 4, 4, 8);
    c.eq[0].max_starts_day = c.eq[1].max_starts_day = 1;
    oc_assert_model_objective(&c.pb, 0.30, 1e-9);
    oc_tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    oc_assert_power(&c, 0, want0);
    oc_assert_power(&c, 1, want1);
    oc_put_two_runs(&c, &pl, 3, 6);
    oc_assert_refused(&c.pb, &pl, "starts more than 1 times a day");
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

    oc_tc_init(&c, 8, price, NULL);
    oc_pump_windows(&c, 0, 4, 4, 8);
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

    oc_tc_init(&c, 8, price, NULL);
    oc_pump_windows(&c, 0, 4, 4, 8);
    c.eq[1].energy_kwh = 20;
    pump_min_run(&c, 3, 1);
    ck_assert_int_eq(opt_plan_init(&pl, 2, 8), 0);
    opt_heuristic(&c.pb, &pl);
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    opt_plan_cost(&c.pb, &pl, &cost);
    ck_assert_double_eq_tol(cost.total_eur, 2.00, 1e-9);
    ck_assert_double_eq_tol(cost.startup_eur, 1.00, 1e-9);
    oc_assert_windows_power(&pl, want0, want1);
    opt_plan_release(&pl);
    assert_group_optimum(&c, want0, want1, 2.00);
    opt_result_release(&c.r);
}
END_TEST

static Suite *optimizer_groups_suite(void)
{
    Suite *s = suite_create("optimizer_groups");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_group_rest_across_windows);
    tcase_add_test(tc, test_group_rest_touching_windows);
    tcase_add_test(tc, test_group_starts_per_day);
    tcase_add_test(tc, test_group_run_across_touching_windows);
    tcase_add_test(tc, test_group_min_run_across_touching_windows);
    tcase_add_test(tc, test_group_run_started_late_heuristic);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(optimizer_groups_suite(), 0);
}
