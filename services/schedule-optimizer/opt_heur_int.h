/*
 * opt_heur_int: the greedy placement's state, shared by opt_heur.c (the
 * heuristic, blocks and storage) and opt_pump.c (the pumps' dynamic
 * programme). Not an API: pure functions on the caller's thread.
 */
#ifndef EMS_OPT_HEUR_INT_H
#define EMS_OPT_HEUR_INT_H

#include "schedule-optimizer/opt_problem.h"

typedef struct heur {
    const opt_problem_t *pb;
    double *load;  /* site load of everything placed so far */
    double peak[2]; /* per billing period: max(peak so far, max load) */
    int use_dp;    /* pumps by dynamic programming (else one block) */
    int use_stor;  /* storage by price thresholds (else idle) */
} heur_t;

/* Whether the task needs on/off binaries in the model (a minimum power,
 * run or rest, a start limit, a start-up cost or a ramp). */
int opt_heur_needs_bin(const opt_equipment_t *e);

/* Sets h->peak from h->load and the periods' peaks so far. */
void opt_heur_update_peaks(heur_t *h);

/* Whether task e draws power anywhere in the plan. */
int opt_heur_draws(const opt_problem_t *pb, const opt_plan_t *pl, int e);

/* Places pump e by the dynamic programme, together with its next window
 * when that is not placed yet (else, or when the two find no plan
 * together, alone); writes its runs into pl and h->load. Returns 0, or -1
 * when the programme does not apply or no plan fits. */
int opt_pump_place(heur_t *h, opt_plan_t *pl, int e);

#endif
