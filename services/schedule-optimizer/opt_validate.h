/*
 * opt_validate: an independent check of a plan against every constraint of
 * the problem, written from the problem's definition and sharing no code
 * with the model, so a modelling bug cannot hide behind itself.
 *
 * Checks: windows (no power outside [earliest, deadline)), power ranges,
 * non-interruptible runs (one contiguous run of the fixed duration at the
 * task's run power: a fraction of a start is refused), energy delivered, ramp, minimum
 * run and rest, starts per day (the windows of one equipment, group > 0, run, rest and
 * start as one machine: checked on their summed power), SLA output per shift, storage
 * SOC recomputed from charge/discharge (bounds, final >= initial, power limits), site
 * import capacity and export limit. Tolerance: 1e-4 relative to the quantity checked,
 * 1e-6 absolute.
 */
#ifndef EMS_OPT_VALIDATE_H
#define EMS_OPT_VALIDATE_H

#include "schedule-optimizer/opt_problem.h"

/* Returns the number of violations; each is described in out (may be NULL). */
int opt_validate(const opt_problem_t *pb, const opt_plan_t *pl, opt_msgs_t *out);

#endif
