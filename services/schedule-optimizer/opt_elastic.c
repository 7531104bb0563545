/*
 * opt_elastic: the elastic re-solve of a planning run that found the
 * strict model infeasible, and the rounding of its LP's binaries when its
 * integer solve finds nothing in time (see opt_solve_int.h).
 */
#include <lp_lib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock/clock.h"
#include "schedule-optimizer/opt_heur.h"
#include "schedule-optimizer/opt_model.h"
#include "schedule-optimizer/opt_solve_int.h"
#include "schedule-optimizer/opt_validate.h"

/* Solves a fresh elastic model with its binaries fixed to a rounding of
 * the LP solution xlp (opt_model_fix_rounded), on/off tasks as in pl, and
 * presolved (opt_run_presolved); takes the plan when its penalised
 * objective is below *best (lowered). Returns 0, or -1 when there is no
 * solution in time (or a pattern breaks a rule that has no slack, such as
 * a ramp). */
static int elastic_fixed(run_t *u, const double *xlp, opt_round_t rule,
                         const opt_plan_t *pl, double *best)
{
    char err[128];
    opt_model_t *m = opt_model_new(u->pb, 1, err, sizeof err);
    double *x;
    int rc;

    if (!m)
        return -1;
    lprec *lp = opt_model_lp(m);
    opt_model_set_relaxed(m, 1);
    opt_model_fix_rounded(m, xlp, rule, pl);
    x = opt_run_presolved(u, lp);
    rc = x ? 0 : -1;
    if (x && get_objective(lp) < *best) {
        *best = get_objective(lp);
        opt_msgs_release(&u->r->explain);
        opt_msgs_init(&u->r->explain);
        opt_model_explain(m, x, &u->r->explain);
        opt_model_extract(m, x, &u->r->plan);
        opt_plan_cost(u->pb, &u->r->plan, &u->r->cost);
        u->r->source = "elastic-rounded";
    }
    free(x);
    opt_model_destroy(m);
    return rc;
}

/* The elastic LP's own plan is fractional (a batch partly started, a pump
 * 0.4 on): no operator can run it. Its binaries are rounded instead and
 * the rest of the plan (power levels, storage, slack) re-solved around
 * them, keeping the rounding that gives least: non-interruptible tasks
 * where the LP mostly runs them, or only where it runs them whole (a task
 * run at its heaviest start may need more capacity than the LP left it);
 * on/off tasks as the heuristic runs them (built to keep their run rules),
 * or off when that pattern cannot be fixed. The explanation becomes the
 * rounded plan's own slack, so it names what gives in the plan published,
 * as the validator finds it. With no rounding solved, no plan is kept
 * (source stays NULL: nothing is published) and the LP's explanation says
 * what had to give. */
static void elastic_rounded(run_t *u, const double *x, int ncols)
{
    size_t n = (size_t)ncols * sizeof *x;
    double *xlp = malloc(n), best = HUGE_VAL;
    opt_plan_t off;

    if (!xlp || opt_plan_init(&off, u->pb->n_eq, u->pb->site.n_slots) < 0) {
        free(xlp);
        return;
    }
    memcpy(xlp, x, n); /* x is lp_solve's, overwritten by the next solve */
    opt_heuristic(u->pb, &u->cand);
    /* as long as the LP had, for all the roundings together */
    u->deadline = ems_mono_s() + 2;
    for (int rule = OPT_ROUND_MOSTLY; rule <= OPT_ROUND_WHOLE; rule++)
        if (elastic_fixed(u, xlp, (opt_round_t)rule, &u->cand, &best) < 0)
            elastic_fixed(u, xlp, (opt_round_t)rule, &off, &best);
    opt_plan_release(&off);
    free(xlp);
}

/* The elastic LP needs no slack but its plan is fractional (the validator
 * refused it): its rounding (elastic_rounded) may still be a plan. Without
 * slack of its own and validated, it is one, from rounding rather than a
 * solver's search: heuristic. With slack, the rounding is the explanation
 * of a relaxed plan as when the LP needs slack (the LP without slack
 * proves nothing of the integer problem). With no rounding solved,
 * nothing is kept and the result is no plan. */
static void elastic_rounded_plan(run_t *u, const double *x, int ncols)
{
    elastic_rounded(u, x, ncols);
    if (!u->r->source) {
        u->r->status = OPT_NO_PLAN;
        return;
    }
    if (u->r->explain.n > 0)
        return; /* OPT_INFEASIBLE, explained by the rounding's slack */
    if (opt_validate(u->pb, &u->r->plan, NULL) == 0) {
        u->have = 1;
        u->r->status = OPT_HEURISTIC;
    } else {
        u->r->source = NULL;
        u->r->status = OPT_NO_PLAN;
    }
}

/* The elastic model is the arbiter of infeasibility: always feasible, its
 * optimum says how little of the commitments must give. Slack left means
 * the constraints truly cannot all hold, and the explanation names them.
 * No slack means they can: the elastic plan is a plan like any other
 * (validated; optimal when the elastic MILP finished, since a plan without
 * slack costs the same in both models), and the earlier "infeasible" was
 * lp_solve's mistake. */
void opt_elastic_solve(run_t *u, char *errstr, size_t errstr_size)
{
    opt_model_t *m = opt_model_new(u->pb, 1, errstr, errstr_size);
    double *x;
    int st, relaxed = 0;

    if (!m)
        return;
    opt_model_destroy(u->m);
    u->m = m;
    if (u->deadline < ems_mono_s() + 2)
        u->deadline = ems_mono_s() + 2;
    if (u->o->elastic_lp_only) {
        x = NULL;
        st = NOTRUN;
    } else {
        st = opt_run_lp(u, &x);
    }
    if (!x) {
        opt_model_set_relaxed(m, 1);
        relaxed = 1;
        /* its own time: the integer solve above spent what was left, and
         * the LP started on an expired deadline aborted at once, leaving
         * no explanation at all */
        u->deadline = ems_mono_s() + 2;
        st = opt_run_lp(u, &x);
    }
    if (!x)
        return;
    opt_model_explain(m, x, &u->r->explain);
    if (u->r->explain.n == 0) {
        int ncols = get_Ncolumns(opt_model_lp(m));
        opt_model_extract(m, x, &u->cand);
        opt_improve_blocks(u->pb, &u->cand, 5);
        if (opt_run_offer(u, &u->cand, "elastic") && st == OPTIMAL && !relaxed) {
            u->r->status = OPT_OPTIMAL;
            u->r->bound_eur = u->r->cost.total_eur;
        } else if (relaxed && !u->have) {
            elastic_rounded_plan(u, x, ncols);
        } else {
            u->r->status = u->have ? OPT_FEASIBLE : OPT_NO_PLAN;
        }
        return;
    }
    if (relaxed) {
        elastic_rounded(u, x, get_Ncolumns(opt_model_lp(m)));
        return;
    }
    opt_model_extract(m, x, &u->r->plan);
    opt_plan_cost(u->pb, &u->r->plan, &u->r->cost);
    u->r->source = "elastic";
}
