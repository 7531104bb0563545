/*
 * opt_solve: orchestrates heuristic, LP and branch and bound (see opt_solve.h).
 */
#include "schedule-optimizer/opt_solve.h"
#include "clock/clock.h"

#include <lp_lib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schedule-optimizer/opt_heur.h"
#include "schedule-optimizer/opt_model.h"
#include "schedule-optimizer/opt_pump.h"
#include "schedule-optimizer/opt_solve_int.h"
#include "schedule-optimizer/opt_validate.h"

void opt_options_init(opt_options_t *o)
{
    o->time_limit_s = 10;
    o->mip_gap_rel = 1e-7;
    o->bb_floor = BRANCH_CEILING;
    /* ADR 0010, item 12: on 10 x 96 RINS and the neighbourhood search with
     * the automatic direction ended at 3372.38 EUR instead of 3373.85;
     * the proof keeps ceiling first, which proved the replay days in
     * 0.1-0.2 s where automatic took 0.3-0.7 s */
    o->bb_floor_search = BRANCH_AUTOMATIC;
    o->bb_rule = NODE_FIRSTSELECT;
    o->bb_depth = -50;
    o->use_heuristic = 1;
    o->simplex_type = SIMPLEX_PRIMAL_PRIMAL;
    o->elastic_lp_only = 0;
    o->strict_infeasible = 0;
}

void opt_result_init(opt_result_t *r)
{
    memset(r, 0, sizeof *r);
    r->heuristic_eur = HUGE_VAL;
    opt_msgs_init(&r->binding);
    opt_msgs_init(&r->explain);
    opt_msgs_init(&r->problems);
}

void opt_result_release(opt_result_t *r)
{
    if (!r)
        return;
    opt_plan_release(&r->plan);
    opt_plan_release(&r->baseline);
    opt_msgs_release(&r->binding);
    opt_msgs_release(&r->explain);
    opt_msgs_release(&r->problems);
}

const char *opt_status_name(opt_status_t s)
{
    static const char *n[] = {"optimal", "feasible", "heuristic", "infeasible",
                              "no-plan"};

    return (unsigned)s < sizeof n / sizeof *n ? n[s] : "unknown";
}

/* Offers the candidate plan: kept when valid and cheaper. Returns 1 if kept. */
int opt_run_offer(run_t *u, opt_plan_t *pl, const char *source)
{
    opt_cost_t c;

    opt_plan_finish(u->pb, pl);
    if (opt_validate(u->pb, pl, NULL) != 0)
        return 0;
    opt_plan_cost(u->pb, pl, &c);
    if (u->have && c.total_eur >= u->r->cost.total_eur - 1e-9)
        return 0;
    opt_plan_copy(&u->r->plan, pl);
    u->r->cost = c;
    u->r->source = source;
    u->have = 1;
    return 1;
}

int __WINAPI opt_run_abort(lprec *lp, void *h)
{
    (void)lp;
    return ems_mono_s() > ((run_t *)h)->deadline;
}

/* Solves the current LP/MILP; fills x (ncols) on success. */
int opt_run_lp(run_t *u, double **x)
{
    lprec *lp = opt_model_lp(u->m);
    int st;

    put_abortfunc(lp, opt_run_abort, u);
    st = solve(lp);
    u->r->lp_status = st;
    /* An abort or timeout after an improved solution still has it. Under
     * a cut-off (set_obj_bound) that nothing beat, lp_solve 5.5 may answer
     * OPTIMAL with no solution stored: its postsolve then checks a
     * best_solution array it never filled (valgrind: uninitialised reads
     * in check_solution, suppressed in tests/valgrind/ems.supp), so the
     * solution count, not the status, says whether there is a plan. */
    if ((st == PRESOLVED ||
         ((st == OPTIMAL || st == SUBOPTIMAL || st == USERABORT || st == TIMEOUT) &&
          get_solutioncount(lp) > 0)) &&
        get_ptr_variables(lp, x))
        return st;
    *x = NULL;
    return st;
}

/* Shared by the polish and the elastic rounding (opt_elastic.c); see
 * opt_solve_int.h. */
double *opt_run_presolved(run_t *u, lprec *lp)
{
    double *x = NULL;
    int st, nr, nc;

    set_presolve(lp, PRESOLVE_ROWS | PRESOLVE_COLS | PRESOLVE_LINDEP,
                 get_presolveloops(lp));
    put_abortfunc(lp, opt_run_abort, u);
    nr = get_Nrows(lp);
    nc = get_Ncolumns(lp);
    st = solve(lp);
    if ((st == OPTIMAL || st == PRESOLVED) &&
        (x = malloc((size_t)nc * sizeof *x)) != NULL) {
        for (int j = 1; j <= nc; j++)
            x[j - 1] = get_var_primalresult(lp, nr + j);
    }
    return x;
}

/* Re-optimises the continuous part with the plan's binaries fixed, in a
 * fresh copy of the model that lp_solve may presolve: with every binary
 * fixed, presolve removes them and their rows, so the LP left is storage,
 * pump power levels and the peak. (On the shared model the same LP took
 * longer than the 30 s limit at 200 x 192.) */
void opt_run_polish(run_t *u, opt_plan_t *pl, const char *source)
{
    char err[128];
    opt_model_t *m = opt_model_new(u->pb, 0, err, sizeof err);
    lprec *lp;
    double *x;

    if (!m)
        return;
    lp = opt_model_lp(m);
    opt_model_fix_to_plan(m, pl);
    if (u->o->simplex_type > 0)
        set_simplextype(lp, u->o->simplex_type);
    x = opt_run_presolved(u, lp);
    if (x) {
        opt_model_extract(m, x, &u->cand);
        opt_improve_blocks(u->pb, &u->cand, 5);
        if (opt_improve_pumps(u->pb, &u->cand, 2) > 0)
            opt_improve_blocks(u->pb, &u->cand, 5);
        opt_run_offer(u, &u->cand, source);
    }
    free(x);
    opt_model_destroy(m);
}

static void heuristics(run_t *u)
{
    opt_heuristic(u->pb, &u->cand);
    if (opt_run_offer(u, &u->cand, "heuristic"))
        u->r->heuristic_eur = u->r->cost.total_eur;
    if (u->have) {
        opt_plan_t h;
        /* polish, move tasks against the polished storage, polish again,
         * while that pays and at most a third of the time is spent */
        double limit = u->t0 + (u->deadline - u->t0) / 3, prev = HUGE_VAL;
        if (opt_plan_init(&h, u->pb->n_eq, u->pb->site.n_slots) == 0) {
            for (int i = 0; i < 4 && ems_mono_s() < limit &&
                            (i == 0 || u->r->cost.total_eur < prev - 1e-7 * fabs(prev));
                 i++) {
                prev = u->r->cost.total_eur;
                opt_plan_copy(&h, &u->r->plan);
                opt_run_polish(u, &h, "heuristic");
            }
            opt_plan_release(&h);
        }
        u->r->heuristic_eur = u->r->cost.total_eur;
    }
}

/* A task whose window cannot hold its energy even alone. */
static int window_too_short(const opt_problem_t *pb)
{
    for (int e = 0; e < pb->n_eq; e++) {
        const opt_equipment_t *q = &pb->eq[e];
        int w = q->deadline - q->earliest;
        if (q->kind == OPT_TASK_BLOCK && opt_block_duration(pb, q, NULL) > w)
            return 1;
        if (q->kind == OPT_TASK_FLEX &&
            q->energy_kwh > q->p_max_kw * w * pb->site.slot_h * (1 + 1e-9))
            return 1;
    }
    return 0;
}

/* Whether the root LP is hopeless in the time left. lp_solve's LP time
 * grew about quadratically with the rows on the bench families (4.5k rows
 * 3 s, 9k rows over 9 s, 17.6k rows over 15 s), so the estimate is
 * 3 s * (rows / 4500)^2; only a plan in hand lets it be skipped. */
static int lp_hopeless(const run_t *u)
{
    double r = get_Nrows(opt_model_lp(u->m)) / 4500.0;

    return u->have && u->o->use_heuristic && 3.0 * r * r > u->deadline - ems_mono_s();
}

static void bb_settings(const run_t *u, lprec *lp)
{
    set_bb_floorfirst(lp, u->o->bb_floor);
    set_bb_rule(lp, u->o->bb_rule);
    set_bb_depthlimit(lp, u->o->bb_depth);
    set_mip_gap(lp, FALSE, u->o->mip_gap_rel);
    set_mip_gap(lp, TRUE, 1e-9);
}

/* lp_solve's verdict "infeasible" (or a numerical failure) is not taken on
 * one try: on the November 2020 replay the primal simplex called the
 * relaxation of perfectly feasible day models infeasible, and a branch and
 * bound warm-started from the relaxation's basis did the same, while a
 * fresh model solved them at once. The model is rebuilt (the same column
 * layout, so the run goes on with it) and solved again from the slack basis
 * with lp_solve's default dual-then-primal simplex (relaxed: integrality
 * off). Returns the new status; x as opt_run_lp. */
static int second_opinion(run_t *u, int relaxed, double **x)
{
    char err[128];
    int st;
    opt_model_t *m = opt_model_new(u->pb, 0, err, sizeof err);

    if (!m) {
        *x = NULL;
        return u->r->lp_status;
    }
    opt_model_destroy(u->m);
    u->m = m;
    set_simplextype(opt_model_lp(m), SIMPLEX_DUAL_PRIMAL);
    if (relaxed)
        opt_model_set_relaxed(m, 1);
    else
        bb_settings(u, opt_model_lp(m));
    st = opt_run_lp(u, x);
    u->rechecked = 1;
    return st;
}

/* LP relaxation: the bound, and a rounded plan as another candidate.
 * Returns -1 when even the relaxation is infeasible. */
static int relaxation(run_t *u)
{
    double *x, keep = u->deadline;
    int st;

    if (lp_hopeless(u)) {
        u->r->bound_eur = -HUGE_VAL;
        return 0;
    }

    opt_model_set_relaxed(u->m, 1);
    /* With a plan in hand, the relaxation gets half the time left; past
     * that the model is too large for lp_solve's branch and bound in this
     * limit and the rest goes to the neighbourhood search. */
    if (u->have && u->o->use_heuristic)
        u->deadline = ems_mono_s() + 0.5 * (keep - ems_mono_s());
    /* The polish leaves the basis of a model with every binary fixed; from
     * there the relaxation took 9 s on 50 x 96 instead of 3 s from the
     * slack basis. */
    default_basis(opt_model_lp(u->m));
    st = opt_run_lp(u, &x);
    if (st == INFEASIBLE || st == NUMFAILURE)
        st = second_opinion(u, 1, &x);
    u->deadline = keep;
    if (st == OPTIMAL && x) {
        u->r->bound_eur = get_objective(opt_model_lp(u->m)) + opt_model_obj_const(u->m);
        u->ncols = get_Ncolumns(opt_model_lp(u->m));
        u->xlp = malloc((size_t)u->ncols * sizeof *u->xlp);
        if (u->xlp)
            memcpy(u->xlp, x, (size_t)u->ncols * sizeof *x);
        opt_model_extract(u->m, x, &u->cand);
        opt_improve_blocks(u->pb, &u->cand, 20);
        if (u->o->use_heuristic && ems_mono_s() < u->deadline) {
            opt_model_set_relaxed(u->m, 0);
            opt_run_polish(u, &u->cand, "lp-rounding");
        }
    } else {
        u->r->bound_eur = -HUGE_VAL;
    }
    opt_model_set_relaxed(u->m, 0);
    return st == INFEASIBLE ? -1 : 0;
}

/* RINS needs a few hundred nodes before it finds anything on 10 x 96
 * (in a 1 s limit: 121 nodes in 0.085 s found nothing, 471 in 0.25 s a
 * plan 0.13% cheaper), so in short limits it gets at least this long, up
 * to RINS_MAX_SHARE of the time left (ADR 0010, item 13). */
#define RINS_MIN_S 0.25
#define RINS_MAX_SHARE 0.3

/* RINS: branch and bound over the binaries where the best plan and the LP
 * relaxation disagree, the rest fixed, for a share of the time left. */
static void rins(run_t *u, double share)
{
    lprec *lp = opt_model_lp(u->m);
    double keep = u->deadline, left = u->deadline - ems_mono_s(), *x;

    if (!u->have || !u->xlp)
        return;
    u->deadline =
        ems_mono_s() + fmax(share * left, fmin(RINS_MAX_SHARE * left, RINS_MIN_S));
    opt_model_fix_agreeing(u->m, &u->r->plan, u->xlp);
    set_bb_floorfirst(lp, u->o->bb_floor_search);
    set_bb_depthlimit(lp, u->o->bb_depth);
    set_mip_gap(lp, FALSE, u->o->mip_gap_rel);
    set_obj_bound(lp, u->r->cost.total_eur - opt_model_obj_const(u->m) -
                          1e-9 * fabs(u->r->cost.total_eur));
    opt_run_lp(u, &x);
    if (x) {
        opt_model_extract(u->m, x, &u->cand);
        opt_improve_blocks(u->pb, &u->cand, 5);
        opt_run_offer(u, &u->cand, "rins");
    }
    opt_model_unfix(u->m);
    u->deadline = keep;
}

static void branch_and_bound(run_t *u)
{
    lprec *lp = opt_model_lp(u->m);
    double *x, cst = opt_model_obj_const(u->m), keep;
    int st;

    bb_settings(u, lp);
    if (u->o->use_heuristic)
        rins(u, 0.1);
    set_bb_floorfirst(lp, u->o->bb_floor); /* RINS searched with its own */
    if (u->have)
        set_obj_bound(lp,
                      u->r->cost.total_eur - cst - 1e-9 * fabs(u->r->cost.total_eur));
    /* a tenth of the time left for the proof (after a tenth for RINS);
     * if it does not come, the rest goes to the neighbourhood search,
     * which improved the plan more than branching did on 10 x 96 and
     * 10 x 192 (ADR 0010: RINS 70% / branching 50% ended 3375.6 EUR on
     * 10 x 96, 10% / 10% 3373.8-3375.2) */
    keep = u->deadline;
    if (u->o->use_heuristic && u->have)
        u->deadline = ems_mono_s() + 0.1 * (keep - ems_mono_s());
    /* from the slack basis: warm-started from the basis the relaxation (or
     * RINS) left, lp_solve's branch and bound called feasible replay days
     * infeasible */
    default_basis(lp);
    st = opt_run_lp(u, &x);
    /* without a cut-off, "infeasible" claims that no plan exists at all:
     * asked again before it is believed (second_opinion) */
    if ((st == INFEASIBLE || st == NUMFAILURE) && !u->have) {
        u->deadline = keep;
        st = second_opinion(u, 0, &x);
    }
    u->deadline = keep;
    if (x) {
        opt_model_extract(u->m, x, &u->cand);
        opt_improve_blocks(u->pb, &u->cand, 5);
        opt_run_offer(u, &u->cand, "branch-and-bound");
    }
    /* OPTIMAL: proven within the gap; INFEASIBLE under a cut-off: nothing
     * better than the incumbent exists. Either way the search completed. */
    if (st == OPTIMAL || (st == INFEASIBLE && u->have)) {
        u->r->status = OPT_OPTIMAL;
        if (u->have)
            u->r->bound_eur = u->r->cost.total_eur;
    } else if (st == INFEASIBLE) {
        u->r->status = OPT_INFEASIBLE;
    } else {
        u->r->status = u->have ? OPT_FEASIBLE : OPT_NO_PLAN;
        if (u->have && u->o->use_heuristic)
            opt_lns_search(u);
    }
}

static void finish(run_t *u)
{
    opt_result_t *r = u->r;

    /* infeasible only with the constraints that had to give */
    if (r->status == OPT_INFEASIBLE && r->explain.n == 0)
        r->status = u->have ? OPT_FEASIBLE : OPT_NO_PLAN;
    if (!u->have && r->status != OPT_INFEASIBLE)
        r->status = OPT_NO_PLAN;
    if (u->have && r->status == OPT_FEASIBLE && !strcmp(r->source, "heuristic"))
        r->status = OPT_HEURISTIC;
    if (u->have && r->status != OPT_OPTIMAL)
        r->gap = r->bound_eur > -HUGE_VAL
                     ? fmax(0, (r->cost.total_eur - r->bound_eur) /
                                   fmax(fabs(r->cost.total_eur), 1e-9))
                     : NAN; /* no bound in time */
    r->violations = opt_validate(u->pb, &r->plan, &r->problems);
    if (r->status != OPT_INFEASIBLE && r->status != OPT_NO_PLAN)
        opt_binding(u->pb, &r->plan, &r->binding);
    r->savings_eur = r->baseline_cost.total_eur - r->cost.total_eur;
    r->savings_pct = r->baseline_cost.total_eur != 0
                         ? 100.0 * r->savings_eur / fabs(r->baseline_cost.total_eur)
                         : 0;
    r->solve_s = ems_mono_s() - u->t0;
}

int opt_solve(const opt_problem_t *pb, const opt_options_t *o, opt_result_t *r,
              char *errstr, size_t errstr_size)
{
    run_t u = {.pb = pb, .o = o, .r = r, .t0 = ems_mono_s()};
    int T = pb->site.n_slots, rc = -1;

    u.deadline = u.t0 + o->time_limit_s;
    if (opt_problem_check(pb, &r->problems) > 0) {
        snprintf(errstr, errstr_size, "invalid problem: %s", r->problems.v[0]);
        return -1;
    }
    if (opt_plan_init(&r->plan, pb->n_eq, T) < 0 ||
        opt_plan_init(&r->baseline, pb->n_eq, T) < 0 ||
        opt_plan_init(&u.cand, pb->n_eq, T) < 0) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    opt_baseline(pb, &r->baseline);
    opt_plan_cost(pb, &r->baseline, &r->baseline_cost);
    u.m = opt_model_new(pb, 0, errstr, errstr_size);
    if (!u.m)
        goto out;
    r->bound_eur = -HUGE_VAL;
    if (o->simplex_type > 0)
        set_simplextype(opt_model_lp(u.m), o->simplex_type);
    if (o->use_heuristic)
        heuristics(&u);
    if (o->strict_infeasible || window_too_short(pb) || relaxation(&u) < 0) {
        /* a validated plan in hand refutes the verdict (numerical trouble):
         * it is improved without the LP */
        if (u.have && o->use_heuristic) {
            opt_lns_search(&u);
            r->status = OPT_FEASIBLE;
        } else {
            r->status = OPT_INFEASIBLE;
        }
    } else if (!u.xlp && u.have && o->use_heuristic) {
        opt_lns_search(&u);
        r->status = OPT_FEASIBLE;
    } else {
        branch_and_bound(&u);
    }
    if (r->status == OPT_INFEASIBLE)
        opt_elastic_solve(&u, errstr, errstr_size);
    finish(&u);
    rc = 0;
out:
    opt_model_destroy(u.m);
    opt_plan_release(&u.cand);
    free(u.xlp);
    return rc;
}
