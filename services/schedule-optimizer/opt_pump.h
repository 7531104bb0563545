/*
 * opt_pump: pumps (on/off tasks with minimum run and rest, start limits,
 * start-up cost, no ramp or shifts) placed by a dynamic programme that
 * obeys their run rules exactly; the heuristic (opt_heur.h) places them
 * with it, and opt_improve_pumps moves them in a finished plan. Pure
 * functions.
 */
#ifndef EMS_OPT_PUMP_H
#define EMS_OPT_PUMP_H

#include "schedule-optimizer/opt_problem.h"

/* Re-places each pump (on/off task without ramp or shifts) by the run
 * recursion given everything else in the plan, alone and then together
 * with the next window of its equipment, keeping a move only when the
 * plan's total cost falls, for at most max_passes sweeps. Storage is left
 * as it is. Returns the number of moves kept. */
int opt_improve_pumps(const opt_problem_t *pb, opt_plan_t *pl, int max_passes);

#endif
