/*
 * opt_model: the mixed-integer model of a problem, built in lp_solve.
 *
 * Formulation (docs/adr/0010-milp-formulation.md):
 *  - a non-interruptible task has one binary per feasible start slot and one
 *    row "sum of starts = 1"; its power in slot t is p * (starts in
 *    [t-d+1, t]), substituted straight into the site rows, so no on/off or
 *    power variable exists for it and its energy cost sits on the start
 *    binaries (the time-indexed "pulse" formulation, whose LP relaxation is
 *    the convex hull of one task's schedules);
 *  - an interruptible task has power per slot, and on/start variables only
 *    when a minimum power, minimum run/rest, start limit or start-up cost
 *    needs them;
 *  - the windows of one equipment (a group) share rows for starts per
 *    local day and minimum rest between them, and a run going on across
 *    touching windows is one run (one start, one start-up cost, minimum
 *    run over the whole run: ADR 0010, item 15; for a non-interruptible
 *    task's blocks, one start-up cost: item 16);
 *  - storage has charge, discharge and SOC per slot;
 *  - one row per slot ties the site together: with a demand charge it reads
 *    base + flexible <= peak, the peak variable bounded by the import
 *    capacity, so the capacity rows come free.
 *
 * Elastic mode adds penalised slack to every commitment (task energy or
 * start, SLA shifts, final SOC, capacity) so the model is always feasible and
 * the slack that remains says what had to give.
 *
 * A model borrows the problem (it must outlive the model). Not thread-safe
 * per model; distinct models may be used from distinct threads.
 */
#ifndef EMS_OPT_MODEL_H
#define EMS_OPT_MODEL_H

#include <stddef.h>

#include "schedule-optimizer/opt_problem.h"

/* lp_solve's own name for its model */
typedef struct _lprec opt_lprec_t; /* NOLINT(bugprone-reserved-identifier) */
typedef struct opt_model opt_model_t;

/* Builds the model. Returns NULL and fills errstr on failure. */
opt_model_t *opt_model_new(const opt_problem_t *pb, int elastic, char *errstr,
                           size_t errstr_size);
void opt_model_destroy(opt_model_t *m);

/* The lp_solve handle (owned by the model). */
opt_lprec_t *opt_model_lp(opt_model_t *m);
/* Number of binary columns. */
int opt_model_n_binaries(const opt_model_t *m);
/* Constant to add to lp_solve's objective to get the plan's total cost. */
double opt_model_obj_const(const opt_model_t *m);

/* Turns integrality off (relaxed != 0) or back on. */
void opt_model_set_relaxed(opt_model_t *m, int relaxed);
/* Fixes every binary to the plan's choice (starts, on/off, and the pump
 * start indicators the on/off pattern implies), leaving the continuous
 * part free; opt_model_unfix restores the bounds. */
void opt_model_fix_to_plan(opt_model_t *m, const opt_plan_t *pl);
void opt_model_unfix(opt_model_t *m);
/* Fixes only the binaries on which the plan and the LP solution xlp agree
 * (the neighbourhood searched by RINS); the others stay free. */
void opt_model_fix_agreeing(opt_model_t *m, const opt_plan_t *pl, const double *xlp);

/* How opt_model_fix_rounded rounds a non-interruptible task's starts. */
typedef enum opt_round {
    OPT_ROUND_MOSTLY = 0, /* at its heaviest start when its starts weigh
                             more than half, else off */
    OPT_ROUND_WHOLE       /* only at a start the solution takes whole */
} opt_round_t;

/* Fixes every binary to an integral rounding of a relaxed solution xlp:
 * non-interruptible tasks as rule says; a storage's direction to the larger
 * of its flows; on/off tasks (and their starts) to the pattern of the plan
 * pl, which must keep their run rules (rounding each slot would not).
 * opt_model_unfix restores the bounds. */
void opt_model_fix_rounded(opt_model_t *m, const double *xlp, opt_round_t rule,
                           const opt_plan_t *pl);

/* Fixes the binaries of every equipment e with free_eq[e] == 0 to the
 * plan's choice and frees the others (n_eq flags): the neighbourhood of a
 * large-neighbourhood search. opt_model_unfix restores the bounds. */
void opt_model_fix_except(opt_model_t *m, const opt_plan_t *pl,
                          const unsigned char *free_eq);

/* Reads a column vector (get_variables order) into an initialised plan. */
void opt_model_extract(const opt_model_t *m, const double *x, opt_plan_t *pl);
/* Elastic mode: describes, in words, every slack above tolerance. Returns
 * the number of lines added. */
int opt_model_explain(const opt_model_t *m, const double *x, opt_msgs_t *out);

/* Writes the model: MPS (fixed) when path ends in ".mps", else LP format.
 * Returns 0 or -1 with errstr. */
int opt_model_write(opt_model_t *m, const char *path, char *errstr, size_t errstr_size);

#endif
