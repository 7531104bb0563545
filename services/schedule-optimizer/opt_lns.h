/*
 * opt_lns: the large-neighbourhood search of a planning run (opt_solve.c
 * runs it through opt_solve_int.h); the choice of a round's tasks is
 * exposed for tests.
 */
#ifndef EMS_OPT_LNS_H
#define EMS_OPT_LNS_H

#include "schedule-optimizer/opt_problem.h"

/* The tasks one round of the large-neighbourhood search frees around
 * slot c: up to 10 non-interruptible tasks whose windows reach it (4 when
 * pump >= 0, which is freed too), in the order drawn from *seed (which
 * advances). A task comes with every other window of its equipment (same
 * group), so that the rules across them are rows of the round's model; a
 * group that would pass the limit is passed over, and the pump's windows
 * count as one pump. Writes the indices into pick and returns their
 * count; pick and cand (scratch) have room for pb->n_eq each. Exposed for
 * tests. */
int opt_lns_pick(const opt_problem_t *pb, int c, int pump, unsigned *seed, int *pick,
                 int *cand);

#endif
