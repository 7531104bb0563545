/*
 * opt_solve: orchestrates heuristic, LP and branch and bound (see opt_solve.h).
 */
#include "schedule-optimizer/opt_solve.h"

#include <lp_lib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schedule-optimizer/opt_heur.h"
#include "schedule-optimizer/opt_model.h"
#include "schedule-optimizer/opt_validate.h"

typedef struct run {
    const opt_problem_t *pb;
    const opt_options_t *o;
    opt_result_t *r;
    opt_model_t *m;
    opt_plan_t cand;      /* scratch candidate */
    double t0, deadline;  /* monotonic seconds */
    double *xlp;          /* LP relaxation solution (owned) */
    int ncols;
    int have;             /* r->plan holds a validated plan */
} run_t;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void opt_options_init(opt_options_t *o)
{
    o->time_limit_s = 10;
    o->mip_gap_rel = 1e-7;
    o->bb_floor = BRANCH_CEILING;
    o->bb_rule = NODE_FIRSTSELECT;
    o->bb_depth = -50;
    o->use_heuristic = 1;
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
static int offer(run_t *u, opt_plan_t *pl, const char *source)
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

static int __WINAPI abort_cb(lprec *lp, void *h)
{
    (void)lp;
    return now_s() > ((run_t *)h)->deadline;
}

/* Solves the current LP/MILP; fills x (ncols) on success. */
static int lp_run(run_t *u, double **x)
{
    lprec *lp = opt_model_lp(u->m);
    int st;

    put_abortfunc(lp, abort_cb, u);
    st = solve(lp);
    u->r->lp_status = st;
    /* an abort or timeout after an improved solution still has it */
    if ((st == OPTIMAL || st == SUBOPTIMAL || st == PRESOLVED ||
         ((st == USERABORT || st == TIMEOUT) && get_solutioncount(lp) > 0)) &&
        get_ptr_variables(lp, x))
        return st;
    *x = NULL;
    return st;
}

/* Re-optimises the continuous part with the plan's binaries fixed. */
static void polish(run_t *u, opt_plan_t *pl, const char *source)
{
    double *x;

    opt_model_fix_to_plan(u->m, pl);
    set_break_at_first(opt_model_lp(u->m), FALSE);
    if (lp_run(u, &x) == OPTIMAL && x) {
        opt_model_extract(u->m, x, &u->cand);
        opt_improve_blocks(u->pb, &u->cand, 5);
        offer(u, &u->cand, source);
    }
    opt_model_unfix(u->m);
}

static void heuristics(run_t *u)
{
    opt_heuristic(u->pb, &u->cand);
    if (offer(u, &u->cand, "heuristic"))
        u->r->heuristic_eur = u->r->cost.total_eur;
    if (u->have) {
        opt_plan_t h;
        if (opt_plan_init(&h, u->pb->n_eq, u->pb->site.n_slots) == 0) {
            opt_plan_copy(&h, &u->r->plan);
            polish(u, &h, "heuristic");
            opt_plan_release(&h);
        }
        u->r->heuristic_eur = u->r->cost.total_eur;
    }
}

/* LP relaxation: the bound, and a rounded plan as another candidate. */
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

/* Returns -1 when even the relaxation is infeasible. */
static int relaxation(run_t *u)
{
    double *x;
    int st;

    opt_model_set_relaxed(u->m, 1);
    st = lp_run(u, &x);
    if (st == OPTIMAL && x) {
        u->r->bound_eur = get_objective(opt_model_lp(u->m)) +
                          opt_model_obj_const(u->m);
        u->ncols = get_Ncolumns(opt_model_lp(u->m));
        u->xlp = malloc((size_t)u->ncols * sizeof *u->xlp);
        if (u->xlp)
            memcpy(u->xlp, x, (size_t)u->ncols * sizeof *x);
        opt_model_extract(u->m, x, &u->cand);
        opt_improve_blocks(u->pb, &u->cand, 20);
        if (u->o->use_heuristic && now_s() < u->deadline) {
            opt_model_set_relaxed(u->m, 0);
            polish(u, &u->cand, "lp-rounding");
        }
    } else {
        u->r->bound_eur = -HUGE_VAL;
    }
    opt_model_set_relaxed(u->m, 0);
    return st == INFEASIBLE ? -1 : 0;
}

/* RINS: branch and bound over the binaries where the best plan and the LP
 * relaxation disagree, the rest fixed, for a share of the time left. */
static void rins(run_t *u, double share)
{
    lprec *lp = opt_model_lp(u->m);
    double keep = u->deadline, *x;

    if (!u->have || !u->xlp)
        return;
    u->deadline = now_s() + share * (u->deadline - now_s());
    opt_model_fix_agreeing(u->m, &u->r->plan, u->xlp);
    set_bb_floorfirst(lp, u->o->bb_floor);
    set_bb_depthlimit(lp, u->o->bb_depth);
    set_mip_gap(lp, FALSE, u->o->mip_gap_rel);
    set_obj_bound(lp, u->r->cost.total_eur - opt_model_obj_const(u->m) -
                          1e-9 * fabs(u->r->cost.total_eur));
    lp_run(u, &x);
    if (x) {
        opt_model_extract(u->m, x, &u->cand);
        opt_improve_blocks(u->pb, &u->cand, 5);
        offer(u, &u->cand, "rins");
    }
    opt_model_unfix(u->m);
    u->deadline = keep;
}

static void branch_and_bound(run_t *u)
{
    lprec *lp = opt_model_lp(u->m);
    double *x, cst = opt_model_obj_const(u->m);
    int st;

    set_bb_floorfirst(lp, u->o->bb_floor);
    set_bb_rule(lp, u->o->bb_rule);
    set_bb_depthlimit(lp, u->o->bb_depth);
    set_mip_gap(lp, FALSE, u->o->mip_gap_rel);
    set_mip_gap(lp, TRUE, 1e-9);
    if (u->o->use_heuristic)
        rins(u, 0.7);
    if (u->have)
        set_obj_bound(lp, u->r->cost.total_eur - cst -
                              1e-9 * fabs(u->r->cost.total_eur));
    st = lp_run(u, &x);
    if (x) {
        opt_model_extract(u->m, x, &u->cand);
        opt_improve_blocks(u->pb, &u->cand, 5);
        offer(u, &u->cand, "branch-and-bound");
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
    }
}

static void elastic(run_t *u, char *errstr, size_t errstr_size)
{
    opt_model_t *m = opt_model_new(u->pb, 1, errstr, errstr_size);
    double *x;

    if (!m)
        return;
    opt_model_destroy(u->m);
    u->m = m;
    if (u->deadline < now_s() + 2)
        u->deadline = now_s() + 2;
    lp_run(u, &x);
    if (!x) {
        opt_model_set_relaxed(m, 1);
        lp_run(u, &x);
    }
    if (!x)
        return;
    opt_model_explain(m, x, &u->r->explain);
    opt_model_extract(m, x, &u->r->plan);
    opt_plan_cost(u->pb, &u->r->plan, &u->r->cost);
    u->r->source = "elastic";
}

static void finish(run_t *u)
{
    opt_result_t *r = u->r;

    if (!u->have && r->status != OPT_INFEASIBLE)
        r->status = OPT_NO_PLAN;
    if (u->have && r->status == OPT_FEASIBLE &&
        !strcmp(r->source, "heuristic"))
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
    r->solve_s = now_s() - u->t0;
}

int opt_solve(const opt_problem_t *pb, const opt_options_t *o, opt_result_t *r,
              char *errstr, size_t errstr_size)
{
    run_t u = {.pb = pb, .o = o, .r = r, .t0 = now_s()};
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
    if (o->use_heuristic)
        heuristics(&u);
    if (window_too_short(pb) || relaxation(&u) < 0)
        r->status = OPT_INFEASIBLE;
    else
        branch_and_bound(&u);
    if (r->status == OPT_INFEASIBLE)
        elastic(&u, errstr, errstr_size);
    finish(&u);
    rc = 0;
out:
    opt_model_destroy(u.m);
    opt_plan_release(&u.cand);
    free(u.xlp);
    return rc;
}
