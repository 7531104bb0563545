/*
 * opt_heur: plans without a solver.
 *
 * opt_baseline is business as usual: every task at its habitual start (or as
 * early as allowed) at full power, storage idle. It is what the plant would do
 * without the optimizer, priced with the same cost function for savings; it
 * may break the capacity limit, as the plant itself might.
 *
 * opt_heuristic is the primal heuristic handed to the MILP: storage held at
 * its initial SOC, interruptible tasks in their cheapest slots (or cheapest
 * contiguous block when they need binaries), non-interruptible tasks placed
 * greedily in the cheapest window that fits under the capacity (tightest
 * windows first, the demand charge counted on the peak increase), then
 * improved by moving one task at a time to its best start until no move
 * pays. Its plan is only a candidate: opt_validate decides if it is feasible.
 *
 * Plans must be initialised with the problem's shape. Pure functions.
 */
#ifndef EMS_OPT_HEUR_H
#define EMS_OPT_HEUR_H

#include "schedule-optimizer/opt_problem.h"

void opt_baseline(const opt_problem_t *pb, opt_plan_t *pl);
void opt_heuristic(const opt_problem_t *pb, opt_plan_t *pl);
/* Moves non-interruptible tasks one at a time to their cheapest start given
 * everything else in the plan, for at most max_passes sweeps. Returns the
 * number of moves made. */
int opt_improve_blocks(const opt_problem_t *pb, opt_plan_t *pl, int max_passes);

#endif
