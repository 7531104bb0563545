/*
 * opt_heur: plans without a solver.
 *
 * opt_baseline is business as usual: every task at its habitual start (or as
 * early as allowed) at full power, storage idle. It is what the plant would do
 * without the optimizer, priced with the same cost function for savings; it
 * may break the capacity limit, as the plant itself might.
 *
 * opt_heuristic is the primal heuristic handed to the MILP: interruptible
 * tasks in their cheapest slots; pumps (on/off tasks with minimum run and
 * rest, start limits, start-up cost, no ramp or shifts) by a dynamic
 * programme that obeys their run rules exactly (a window together with
 * the next window of its equipment; one placed against the others from
 * the state they leave), or as one contiguous
 * block (a ramp-limited task as one trapezoid: up from zero by the ramp,
 * full power, down to zero, scaled to its exact energy); non-interruptible tasks placed
 * greedily in the cheapest window that fits under the capacity (tightest windows first,
 * the demand charge counted on the peak increase); a store with a process draw charged
 * by buying each shortfall of its SOC in the cheapest earlier slot with room; other
 * storage charged in the cheapest quarter of the slots and discharged in the dearest
 * quarter within its SOC limits, or held at its initial SOC. Tasks are then moved one
 * at a time to their best start until no move pays. Of the variants, the cheapest plan
 * opt_validate accepts is returned (the plainest one if none is).
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
