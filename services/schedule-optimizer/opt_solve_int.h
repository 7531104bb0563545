/*
 * opt_solve_int: the state of one planning run, shared by opt_solve.c (the
 * pipeline: heuristics, polish, relaxation, RINS, branch and bound),
 * opt_lns.c (the large-neighbourhood search) and opt_elastic.c (the
 * elastic re-solve when the strict model is infeasible). Not an API: one
 * opt_solve call, on its own thread, uses it.
 */
#ifndef EMS_OPT_SOLVE_INT_H
#define EMS_OPT_SOLVE_INT_H

#include <stddef.h>

#include <lp_lib.h>

#include "schedule-optimizer/opt_model.h"
#include "schedule-optimizer/opt_problem.h"
#include "schedule-optimizer/opt_solve.h"

typedef struct run {
    const opt_problem_t *pb;
    const opt_options_t *o;
    opt_result_t *r;
    opt_model_t *m;
    opt_plan_t cand;     /* scratch candidate */
    double t0, deadline; /* monotonic seconds */
    double *xlp;         /* LP relaxation solution (owned) */
    int ncols;
    int have;      /* r->plan holds a validated plan */
    int rechecked; /* a second opinion was asked (second_opinion) */
} run_t;

/* Offers the candidate plan (finished in place): kept in u->r when valid
 * and cheaper than the plan held. Returns 1 if kept. */
int opt_run_offer(run_t *u, opt_plan_t *pl, const char *source);

/* lp_solve abort callback: stops a solve past the run's deadline (h is the
 * run_t). */
int __WINAPI opt_run_abort(lprec *lp, void *h);

/* Solves the run's model (u->m) under its deadline; returns solve()'s
 * status, kept in u->r->lp_status, with *x pointing to lp_solve's own
 * solution (ncols, valid until the next solve) or NULL when there is
 * none. */
int opt_run_lp(run_t *u, double **x);

/* Solves lp (a model with every binary fixed) presolved, under the run's
 * deadline. Returns the primal solution (ncols, malloc'd: the caller
 * frees it), or NULL when there is none or memory runs out. */
double *opt_run_presolved(run_t *u, lprec *lp);

/* Re-optimises the continuous part of pl (its binaries fixed) in a fresh
 * model and offers the result under source; pl is left as it was. */
void opt_run_polish(run_t *u, opt_plan_t *pl, const char *source);

/* Improves the best plan by the large-neighbourhood search until the
 * run's deadline (opt_lns.c); does nothing without a plan. */
void opt_lns_search(run_t *u);

/* Re-solves the run with the elastic model after the strict one was found
 * infeasible, replacing u->m (opt_elastic.c): sets the plan, status and
 * explanation as opt_solve.h describes. errstr is filled only when the
 * elastic model cannot be built. */
void opt_elastic_solve(run_t *u, char *errstr, size_t errstr_size);

#endif
