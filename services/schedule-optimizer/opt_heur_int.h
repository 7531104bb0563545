/*
 * opt_heur_int: the greedy placement's state, shared by opt_heur.c (the
 * baseline, the heuristic's passes and the helpers below),
 * opt_heur_task.c (interruptible and non-interruptible tasks),
 * opt_heur_storage.c (storage) and opt_pump.c (the pumps' dynamic
 * programme). Not an API: pure functions on the caller's thread.
 */
#ifndef EMS_OPT_HEUR_INT_H
#define EMS_OPT_HEUR_INT_H

#include "schedule-optimizer/opt_problem.h"

typedef struct heur {
    const opt_problem_t *pb;
    double *load;   /* site load of everything placed so far */
    double peak[2]; /* per billing period: max(peak so far, max load) */
    int use_dp;     /* pumps by dynamic programming (else one block) */
    int use_stor;   /* storage by price thresholds (else idle) */
} heur_t;

/* Whether the task needs on/off binaries in the model (a minimum power,
 * run or rest, a start limit, a start-up cost or a ramp). */
int opt_heur_needs_bin(const opt_equipment_t *e);

/* Sets h->peak from h->load and the periods' peaks so far. */
void opt_heur_update_peaks(heur_t *h);

/* Whether task e draws power anywhere in the plan. */
int opt_heur_draws(const opt_problem_t *pb, const opt_plan_t *pl, int e);

/* qsort_r comparator of slot indices by price (ctx is the opt_site_t). */
int opt_heur_cmp_slot_price(const void *a, const void *b, void *ctx);

/* ---- opt_heur_task.c ---- */

/* The last slot block q may start in to end by its deadline. */
int opt_heur_block_last_start(const opt_problem_t *pb, const opt_equipment_t *q);
/* Writes block e's run from slot at into the plan (its row cleared). */
void opt_heur_put_block(const opt_problem_t *pb, opt_plan_t *pl, int e, int at);
/* Places flex task e (a pump by opt_pump_place when h->use_dp) and adds it
 * to h->load. */
void opt_heur_place_flex(heur_t *h, opt_plan_t *pl, int e);
/* Places every non-interruptible task, tightest window first, against
 * h->load, and adds it there. */
void opt_heur_place_blocks(heur_t *h, opt_plan_t *pl);

/* ---- opt_heur_storage.c ---- */

/* Storage e held at its initial SOC (charge and SOC written; discharge
 * left as it is). */
void opt_heur_storage_idle(const opt_problem_t *pb, opt_plan_t *pl, int e);
/* Plans every storage against h->load (by its draw or by price thresholds,
 * else idle), replacing its idle charge there. */
void opt_heur_place_storage(heur_t *h, opt_plan_t *pl);

/* Places pump e by the dynamic programme, together with its next window
 * when that is not placed yet (else, or when the two find no plan
 * together, alone); writes its runs into pl and h->load. Returns 0, or -1
 * when the programme does not apply or no plan fits. */
int opt_pump_place(heur_t *h, opt_plan_t *pl, int e);

#endif
