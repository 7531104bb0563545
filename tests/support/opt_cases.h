/* Small optimizer problems shared by the optimizer's unit tests
 * (tests/unit/test_optimizer_*.c): a case of up to MAXT hourly slots and
 * three equipments, its solve, and assertions on the plan. The assertions
 * fail the running Check test. */
#ifndef EMS_TESTS_OPT_CASES_H
#define EMS_TESTS_OPT_CASES_H

#include "schedule-optimizer/opt_solve.h"
#include "schedule-optimizer/opt_validate.h"

#define MAXT 8

typedef struct tcase {
    double price[MAXT], base[MAXT];
    opt_equipment_t eq[3];
    opt_problem_t pb;
    opt_result_t r;
} tcase_t;

/* Hourly slots, capacity 1000 kW unless changed, no demand charge, one
 * equipment (pb.n_eq = 1); base NULL is no base load. */
void oc_tc_init(tcase_t *c, int n, const double *price, const double *base);

/* Equipment i: kind k, up to pmax kW, kwh in [lo, hi), no habitual start. */
opt_equipment_t *oc_task(tcase_t *c, int i, opt_kind_t k, double pmax, double kwh,
                         int lo, int hi);

/* Solves with a 5 s limit into c->r; fails the test on an error. */
void oc_tc_solve(tcase_t *c);

/* Power of equipment e in slot t of c->r's plan. */
double oc_pw(const tcase_t *c, int e, int t);

/* Asserts equipment e's power in c->r's plan, slot by slot. */
void oc_assert_power(const tcase_t *c, int e, const double *want);

/* Asserts the validator refuses the plan with a message containing needle. */
void oc_assert_refused(const opt_problem_t *pb, const opt_plan_t *pl,
                       const char *needle);

/* Two windows of one pump (group 1): 10 kW on/off, 10 kWh a window
 * (one hour each), no start-up cost. */
void oc_pump_windows(tcase_t *c, int lo1, int hi1, int lo2, int hi2);

/* Asserts the power of the two windows of oc_pump_windows() in pl. */
void oc_assert_windows_power(const opt_plan_t *pl, const double *want0,
                             const double *want1);

/* Writes a plan running window 0 in slot t0 and window 1 in slot t1. */
void oc_put_two_runs(const tcase_t *c, opt_plan_t *pl, int t0, int t1);

/* Asserts the model alone (no heuristic, no validator) solves to optimal
 * with objective eur, within tol. */
void oc_assert_model_objective(const opt_problem_t *pb, double eur, double tol);

#endif
