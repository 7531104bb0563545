/*
 * Unit tests of the schedule optimizer's independent validator: broken plans
 * refused, each with a message naming the problem.
 */
#include <check.h>

#include "schedule-optimizer/opt_solve.h"
#include "schedule-optimizer/opt_validate.h"
#include "support/harness.h"
#include "support/opt_cases.h"

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

    oc_tc_init(&c, 7, price, NULL);
    c.pb.site.import_cap_kw = 50;
    c.eq[0] = *oc_task(&c, 0, OPT_TASK_BLOCK, 10, 30, 1, 7);
    oc_tc_solve(&c);
    ck_assert_int_eq(c.r.violations, 0);
    ck_assert_int_eq(opt_validate(&c.pb, &c.r.plan, NULL), 0);
    c.r.plan.power[b->slot] = b->kw;
    oc_assert_refused(&c.pb, &c.r.plan, b->needle);
    opt_result_release(&c.r);
}
END_TEST

/* Storage SOC recomputed from charge and discharge, and start limits. */
START_TEST(test_validator_storage_and_starts)
{
    tcase_t c;
    const double price[] = {10, 10, 10, 10};
    opt_plan_t pl;

    oc_tc_init(&c, 4, price, NULL);
    c.pb.n_eq = 2;
    opt_equipment_t *b = oc_task(&c, 0, OPT_STORAGE, 0, 0, 0, 4);
    b->cap_kwh = b->soc_max_kwh = 10;
    b->charge_max_kw = b->discharge_max_kw = 10;
    b->eta_charge = b->eta_discharge = 1;
    opt_equipment_t *q = oc_task(&c, 1, OPT_TASK_FLEX, 10, 20, 0, 4);
    q->max_starts_day = 1;
    ck_assert_int_eq(opt_plan_init(&pl, 2, 4), 0);
    pl.charge[0] = pl.charge[1] = 10;       /* SOC 20 kWh > 10 */
    pl.power[4 + 0] = pl.power[4 + 2] = 10; /* two starts */
    opt_plan_finish(&c.pb, &pl);
    oc_assert_refused(&c.pb, &pl, "state of charge");
    oc_assert_refused(&c.pb, &pl, "starts more than");
    opt_plan_release(&pl);
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

    oc_tc_init(&c, 4, price, NULL);
    oc_task(&c, 0, OPT_TASK_BLOCK, 10, 30, 0, 4);
    ck_assert_int_eq(opt_plan_init(&pl, 1, 4), 0);
    for (int t = 0; t < 3; t++)
        pl.power[t] = 4;
    opt_plan_finish(&c.pb, &pl);
    oc_assert_refused(
        &c.pb, &pl,
        "task-0 runs at 4.000 kW instead of 10.000 kW: a fraction of a start");
    c.eq[0].energy_kwh = 10;
    pl.power[1] = pl.power[2] = 0;
    opt_plan_finish(&c.pb, &pl);
    oc_assert_refused(&c.pb, &pl, "a fraction of a start");
    pl.power[0] = 10; /* the whole start passes */
    opt_plan_finish(&c.pb, &pl);
    ck_assert_int_eq(opt_validate(&c.pb, &pl, NULL), 0);
    opt_plan_release(&pl);
}
END_TEST

static Suite *optimizer_validate_suite(void)
{
    Suite *s = suite_create("optimizer_validate");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_validator_rejects, 0,
                        sizeof broken_plans / sizeof *broken_plans);
    tcase_add_test(tc, test_validator_storage_and_starts);
    tcase_add_test(tc, test_validator_fraction_of_start);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(optimizer_validate_suite(), 0);
}
