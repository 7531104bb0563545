/*
 * opt_solve: one planning run, from problem to validated plan.
 *
 *   baseline -> heuristic -> LP polish -> LP relaxation (bound, rounding;
 *               skipped when too large for the limit)
 *            -> RINS (10% of the time left) -> branch and bound cut off at
 *               the best plan so far (10% of the time left)
 *            -> large-neighbourhood search for the rest when not proven
 *            -> independent validation of every candidate
 *            -> elastic re-solve and explanation when nothing is feasible
 *               (its LP's binaries rounded when its integer solve finds
 *               nothing in time: never a fractional plan).
 *
 * lp_solve's "infeasible" gets a second opinion (fresh model, dual simplex,
 * slack basis) and is overruled by any validated plan; the elastic model
 * decides: OPT_INFEASIBLE only when its optimum needs slack, and then
 * explain names what had to give (never empty). A time limit or an abort is
 * never read as infeasibility.
 *
 * The plan returned is always the cheapest candidate the validator accepted;
 * status says where it came from. The call blocks for at most about the time
 * limit; when the model is infeasible the elastic re-solve gets at least 2 s
 * more, and rounding its LP's binaries another 2 s at most. Not thread-safe
 * per result; independent calls may run in parallel threads.
 */
#ifndef EMS_OPT_SOLVE_H
#define EMS_OPT_SOLVE_H

#include <stddef.h>

#include "schedule-optimizer/opt_problem.h"

typedef enum opt_status {
    OPT_OPTIMAL = 0, /* proven optimal within the MIP gap */
    OPT_FEASIBLE,    /* time limit: best plan found, gap to the bound */
    OPT_HEURISTIC,   /* no solver plan in time: validated heuristic plan */
    OPT_INFEASIBLE,  /* constraints cannot all hold: see explain */
    OPT_NO_PLAN      /* nothing feasible found in time (not proven) */
} opt_status_t;

typedef struct opt_options {
    double time_limit_s;   /* default 10 */
    double mip_gap_rel;    /* relative gap accepted as optimal, default 1e-7 */
    int bb_floor;          /* lp_solve set_bb_floorfirst of the full branch
                              and bound (the proof), default CEILING */
    int bb_floor_search;   /* the same for RINS and the neighbourhood
                              search, default AUTOMATIC (measured, ADR 0010
                              item 12) */
    int bb_rule;           /* lp_solve set_bb_rule, default NODE_FIRSTSELECT */
    int bb_depth;          /* lp_solve set_bb_depthlimit, default -50 */
    int use_heuristic;     /* default 1; 0 = plain lp_solve (for benches) */
    int simplex_type;      /* lp_solve set_simplextype, default
                              SIMPLEX_PRIMAL_PRIMAL (measured fastest on the
                              bench families, see ADR 0010) */
    int elastic_lp_only;   /* tests only: skip the elastic model's integer
                              solve, as when it finds nothing in time, so
                              the LP fallback runs deterministically;
                              default 0 */
    int strict_infeasible; /* tests only: take the strict model for
                             infeasible without solving it (lp_solve's
                             wrong verdict, as on some replay days), so
                             the elastic model decides on a feasible
                             problem; default 0 */
} opt_options_t;

typedef struct opt_result {
    opt_plan_t plan;
    opt_plan_t baseline;
    opt_cost_t cost;
    opt_cost_t baseline_cost;
    double savings_eur; /* baseline - plan */
    double savings_pct; /* of the baseline total */
    opt_status_t status;
    const char *source; /* "branch-and-bound", "heuristic", "elastic",
                           "elastic-rounded" (the elastic LP's binaries
                           rounded: its integer solve found nothing) */
    double bound_eur;   /* proven lower bound on the total cost */
    double gap;         /* (cost - bound) / cost, NAN if no bound */
    double solve_s;
    double heuristic_eur; /* best heuristic cost (HUGE_VAL if none) */
    int lp_status;        /* last lp_solve solve() return */
    int violations;       /* validator verdict on the plan */
    opt_msgs_t binding;   /* constraints that bind in the plan */
    opt_msgs_t explain;   /* what had to give (infeasible) */
    opt_msgs_t problems;  /* validator findings and input problems */
} opt_result_t;

void opt_options_init(opt_options_t *o);
void opt_result_init(opt_result_t *r);
void opt_result_release(opt_result_t *r);
const char *opt_status_name(opt_status_t s);

/* Plans the problem. Returns 0 with r filled (status says how good the plan
 * is), or -1 with errstr when the input itself is malformed (r->problems
 * lists why) or memory runs out. r must be initialised and is owned by the
 * caller. */
int opt_solve(const opt_problem_t *pb, const opt_options_t *o, opt_result_t *r,
              char *errstr, size_t errstr_size);

/* Lists the constraints that bind in a plan (capacity, peak, deadlines,
 * SOC limits, SLA minimums). Returns the number of lines added. */
int opt_binding(const opt_problem_t *pb, const opt_plan_t *pl, opt_msgs_t *out);

#endif
