/*
 * Unit tests of the schedule optimizer against enumeration: random windows of
 * one pump and of one non-interruptible task, each plan enumerated; the
 * model's optimum is the cheapest plan the validator accepts and the
 * heuristic's plan is valid.
 */
#include <check.h>
#include <lp_lib.h>
#include <math.h>

#include "schedule-optimizer/opt_heur.h"
#include "schedule-optimizer/opt_model.h"
#include "schedule-optimizer/opt_solve.h"
#include "schedule-optimizer/opt_validate.h"
#include "support/harness.h"
#include "support/opt_cases.h"

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
        /* cppcheck-suppress uninitvar ; day[t - 1] was set the turn before */
        day[t] = t == 0 ? 0 : day[t - 1] + (enum_rand(st) % 4 == 0);
    }
    oc_tc_init(c, MAXT, price, NULL);
    c->pb.site.day = day;
    oc_pump_windows(c, a1, b1, a2, b2);
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
    oc_tc_init(c, MAXT, price, base);
    if (enum_rand(st) % 4 == 0)
        c->pb.site.demand_eur_kw = 0.01 * (1 + enum_rand(st) % 5);
    c->pb.n_eq = n;
    for (int i = 0, lo = (int)(enum_rand(st) % 2); i < n; i++) {
        int len = 2 + (int)(enum_rand(st) % 2);
        int hi = lo + len > MAXT ? MAXT : lo + len;
        int dur = 1 + (int)(enum_rand(st) % (unsigned)(hi - lo));
        opt_equipment_t *q = oc_task(c, i, OPT_TASK_BLOCK, 10,
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
        oc_tc_solve(&c);
        ck_assert_int_eq(c.r.status, OPT_OPTIMAL);
        ck_assert_int_eq(c.r.violations, 0);
        ck_assert_msg(fabs(c.r.cost.total_eur - best) < 1e-6,
                      "case %d: pipeline %.6f (%s, %s), best %.6f", i,
                      c.r.cost.total_eur, opt_status_name(c.r.status), c.r.source,
                      best);
        opt_result_release(&c.r);
    }
    /* the cases do exercise runs across a boundary that save a start-up */
    ck_assert_int_gt(across_best, 50);
}
END_TEST

static Suite *optimizer_enum_suite(void)
{
    Suite *s = suite_create("optimizer_enum");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_group_windows_enumerated);
    tcase_add_test(tc, test_block_windows_enumerated);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(optimizer_enum_suite(), 0);
}
