/*
 * Unit tests of the schedule optimizer's infeasibility handling: the elastic
 * model's explanations and its rounded plan when the integer solve is skipped.
 */
#include <check.h>
#include <lp_lib.h>
#include <math.h>
#include <string.h>

#include "schedule-optimizer/opt_model.h"
#include "schedule-optimizer/opt_solve.h"
#include "support/harness.h"
#include "support/opt_cases.h"

/* Base 700 kW under 800 kW: a 200 kW two-hour dryer cannot run anywhere. */
START_TEST(test_infeasible_deadline_explained)
{
    tcase_t c;
    const double price[] = {50, 50, 50, 50}, base[] = {700, 700, 700, 700};

    oc_tc_init(&c, 4, price, base);
    c.pb.site.import_cap_kw = 800;
    opt_equipment_t *q = oc_task(&c, 0, OPT_TASK_BLOCK, 200, 400, 0, 4);
    strcpy(q->name, "dryer-2");
    oc_tc_solve(&c);
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
            double kw = oc_pw(c, e, t);
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
            ck_assert_msg(fabs(oc_pw(c, e, t) - want) < 1e-6,
                          "%s draws %g kW in slot %d, not %g", q->name, oc_pw(c, e, t),
                          t, want);
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

    oc_tc_init(&c, 5, price, base);
    c.pb.site.import_cap_kw = 800;
    c.pb.n_eq = 3;
    strcpy(oc_task(&c, 0, OPT_TASK_BLOCK, 200, 400, 0, 4)->name, "dryer-2");
    opt_equipment_t *q = oc_task(&c, 1, OPT_TASK_FLEX, 30, 30, 0, 4);
    strcpy(q->name, "pump");
    q->p_min_kw = 10;
    strcpy(oc_task(&c, 2, OPT_TASK_BLOCK, 50, 50, 4, 5)->name, "oven");
    opt_options_init(&o);
    o.time_limit_s = 5;
    o.elastic_lp_only = 1;
    ck_assert_int_eq(opt_solve(&c.pb, &o, &c.r, err, sizeof err), 0);
    ck_assert_int_eq(c.r.status, OPT_INFEASIBLE);
    assert_runnable(&c);
    ck_assert_double_eq_tol(oc_pw(&c, 2, 4), 50, 1e-6);
    ck_assert_str_eq(c.r.source, "elastic-rounded");
    ck_assert_int_ge(c.r.explain.n, 1);
    for (int i = 0; i < c.r.explain.n; i++)
        ck_assert_ptr_nonnull(
            strstr(c.r.explain.v[i], "task dryer-2 cannot meet its deadline"));
    ck_assert_int_gt(c.r.violations, 0);
    ck_assert_int_eq(c.r.violations, c.r.problems.n);
    for (int i = 0; i < c.r.problems.n; i++)
        ck_assert_msg(strstr(c.r.problems.v[i], "dryer-2") != NULL, "%s",
                      c.r.problems.v[i]);
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

    oc_tc_init(&c, 4, price, base);
    c.pb.site.demand_eur_kw = 1;
    oc_task(&c, 0, OPT_TASK_FLEX, 10, 10, 0, 4)->p_min_kw = 10;
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
    ck_assert_double_eq_tol(oc_pw(&c, 0, 0) + oc_pw(&c, 0, 1) + oc_pw(&c, 0, 2) +
                                oc_pw(&c, 0, 3),
                            10, 1e-6);
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

    oc_tc_init(&c, 4, price, base);
    oc_task(&c, 0, OPT_TASK_FLEX, 200, 300, 0, 4);
    oc_tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
    ck_assert_int_eq(c.r.violations, 0);
    ck_assert_double_ge(oc_pw(&c, 0, 1), 100 - 1e-6); /* dearest hour, yet needed */
    ck_assert_double_eq_tol(oc_pw(&c, 0, 0) + oc_pw(&c, 0, 1) + oc_pw(&c, 0, 2) +
                                oc_pw(&c, 0, 3),
                            300, 1e-6);
    opt_result_release(&c.r);

    /* 1000 kW of surplus is more than the task can take: explained */
    c.base[1] = -1000;
    opt_result_init(&c.r);
    oc_tc_solve(&c);
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

    oc_tc_init(&c, 4, price, NULL);
    opt_equipment_t *q = oc_task(&c, 0, OPT_TASK_BLOCK, 10, 30, 1, 3);
    strcpy(q->name, "oven");
    oc_tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_INFEASIBLE);
    ck_assert_int_ge(c.r.explain.n, 1);
    ck_assert_ptr_nonnull(strstr(c.r.explain.v[0], "task oven"));
    ck_assert_ptr_nonnull(strstr(c.r.explain.v[0], "window"));
    opt_result_release(&c.r);
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

    oc_tc_init(&c, 8, price, NULL);
    oc_pump_windows(&c, 0, 3, 4, 8);
    c.eq[0].max_starts_day = c.eq[1].max_starts_day = 1;
    c.eq[0].min_rest = c.eq[1].min_rest = 3;
    opt_model_t *m = opt_model_new(&c.pb, 1, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(solve(opt_model_lp(m)), OPTIMAL);
    opt_model_destroy(m);
    oc_tc_solve(&c);
    ck_assert_int_eq(c.r.status, OPT_INFEASIBLE);
    ck_assert_int_ge(c.r.explain.n, 1);
    ck_assert_ptr_nonnull(strstr(c.r.explain.v[0], "10.0 kWh cannot be delivered"));
    opt_result_release(&c.r);
}
END_TEST

static Suite *optimizer_elastic_suite(void)
{
    Suite *s = suite_create("optimizer_elastic");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_infeasible_deadline_explained);
    tcase_add_test(tc, test_elastic_lp_plan_is_runnable);
    tcase_add_test(tc, test_elastic_lp_without_slack_rounded);
    tcase_add_test(tc, test_export_limit_without_storage);
    tcase_add_test(tc, test_window_too_short_explained);
    tcase_add_test(tc, test_group_starts_infeasible_explained);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(optimizer_elastic_suite(), 0);
}
