/* Small optimizer problems shared by the optimizer's unit tests; see
 * opt_cases.h. */
#include "opt_cases.h"

#include <check.h>
#include <lp_lib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "schedule-optimizer/opt_model.h"

/* Hourly slots, capacity 1000 kW unless changed, no demand charge. */
void oc_tc_init(tcase_t *c, int n, const double *price, const double *base)
{
    memset(c, 0, sizeof *c);
    for (int t = 0; t < n; t++) {
        c->price[t] = price[t];
        c->base[t] = base ? base[t] : 0;
    }
    c->pb.site = (opt_site_t){.n_slots = n,
                              .slot_h = 1.0,
                              .price = c->price,
                              .base_kw = c->base,
                              .import_cap_kw = 1000,
                              .export_cap_kw = 0};
    c->pb.eq = c->eq;
    c->pb.n_eq = 1;
    opt_result_init(&c->r);
}

opt_equipment_t *oc_task(tcase_t *c, int i, opt_kind_t k, double pmax, double kwh,
                         int lo, int hi)
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

void oc_tc_solve(tcase_t *c)
{
    opt_options_t o;
    char err[256];

    opt_options_init(&o);
    o.time_limit_s = 5;
    ck_assert_int_eq(opt_solve(&c->pb, &o, &c->r, err, sizeof err), 0);
}

double oc_pw(const tcase_t *c, int e, int t)
{
    return c->r.plan.power[(size_t)e * c->pb.site.n_slots + t];
}

void oc_assert_power(const tcase_t *c, int e, const double *want)
{
    for (int t = 0; t < c->pb.site.n_slots; t++)
        ck_assert_msg(fabs(oc_pw(c, e, t) - want[t]) < 1e-6, "slot %d: %g kW, want %g",
                      t, oc_pw(c, e, t), want[t]);
}

/* Asserts the validator refuses the plan with a message containing needle. */
void oc_assert_refused(const opt_problem_t *pb, const opt_plan_t *pl,
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

/* Two windows of one pump (group 1): 10 kW on/off, 10 kWh a window
 * (one hour each), no start-up cost. */
void oc_pump_windows(tcase_t *c, int lo1, int hi1, int lo2, int hi2)
{
    c->pb.n_eq = 2;
    for (int i = 0; i < 2; i++) {
        opt_equipment_t *q =
            oc_task(c, i, OPT_TASK_FLEX, 10, 10, i ? lo2 : lo1, i ? hi2 : hi1);
        q->p_min_kw = 10;
        q->group = 1;
    }
}

/* Asserts the power of the two windows of oc_pump_windows() in pl. */
void oc_assert_windows_power(const opt_plan_t *pl, const double *want0,
                             const double *want1)
{
    int T = pl->n_slots;

    for (int t = 0; t < T; t++) {
        ck_assert_double_eq_tol(pl->power[t], want0[t], 1e-9);
        ck_assert_double_eq_tol(pl->power[T + t], want1[t], 1e-9);
    }
}

/* Writes a plan running window 0 in slot t0 and window 1 in slot t1. */
void oc_put_two_runs(const tcase_t *c, opt_plan_t *pl, int t0, int t1)
{
    int T = c->pb.site.n_slots;

    ck_assert_int_eq(opt_plan_init(pl, 2, T), 0);
    pl->power[t0] = pl->power[T + t1] = 10;
    opt_plan_finish(&c->pb, pl);
}

/* Asserts the model alone (no heuristic, no validator) solves to optimal at
 * eur: the pipeline's moves and checks would otherwise hide a model that
 * missed the optimum. */
void oc_assert_model_objective(const opt_problem_t *pb, double eur, double tol)
{
    char err[128];
    opt_model_t *m = opt_model_new(pb, 0, err, sizeof err);

    ck_assert_msg(m != NULL, "model: %s", err);
    ck_assert_int_eq(solve(opt_model_lp(m)), OPTIMAL);
    ck_assert_double_eq_tol(get_objective(opt_model_lp(m)) + opt_model_obj_const(m),
                            eur, tol);
    opt_model_destroy(m);
}
