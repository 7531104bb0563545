/*
 * opt_heur: baseline and primal heuristic (see opt_heur.h): the business
 * as usual, the greedy passes and the helpers the placements share; the
 * tasks are placed by opt_heur_task.c, the storage by opt_heur_storage.c
 * and the pumps by opt_pump.c (opt_heur_int.h).
 */
#include "schedule-optimizer/opt_heur.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schedule-optimizer/opt_heur_int.h"
#include "schedule-optimizer/opt_pump.h"
#include "schedule-optimizer/opt_validate.h"

int opt_heur_needs_bin(const opt_equipment_t *e)
{
    return e->p_min_kw > 0 || e->min_run > 1 || e->min_rest > 1 ||
           e->max_starts_day > 0 || e->startup_eur > 0 || e->ramp_kw > 0;
}

int opt_heur_cmp_slot_price(const void *a, const void *b, void *ctx)
{
    const opt_site_t *s = ctx;
    double pa = opt_slot_price(s, *(const int *)a);
    double pb = opt_slot_price(s, *(const int *)b);

    return (pa > pb) - (pa < pb);
}

void opt_heur_update_peaks(heur_t *h)
{
    const opt_site_t *s = &h->pb->site;

    h->peak[0] = opt_period_floor(s, 0);
    h->peak[1] = opt_period_floor(s, 1);
    for (int t = 0; t < s->n_slots; t++) {
        int k = opt_slot_period(s, t);
        if (h->load[t] > h->peak[k])
            h->peak[k] = h->load[t];
    }
}

/* Whether task e draws power anywhere in the plan. */
int opt_heur_draws(const opt_problem_t *pb, const opt_plan_t *pl, int e)
{
    for (int t = 0; t < pb->site.n_slots; t++)
        if (pl->power[(size_t)e * pb->site.n_slots + t] > 1e-6)
            return 1;
    return 0;
}

/* Runs a flex task at full power from start until energy is delivered. */
static void flex_asap(const opt_problem_t *pb, opt_plan_t *pl, int e, int from, int to,
                      double kwh)
{
    const opt_equipment_t *q = &pb->eq[e];
    double dt = pb->site.slot_h;
    double *pw = pl->power + (size_t)e * pb->site.n_slots;

    for (int t = from; t < to && kwh > 1e-9; t++) {
        double p = fmin(q->p_max_kw - pw[t], kwh / dt);
        pw[t] += p;
        kwh -= p * dt;
    }
}

void opt_baseline(const opt_problem_t *pb, opt_plan_t *pl)
{
    size_t n = (size_t)pb->n_eq * pb->site.n_slots;

    memset(pl->power, 0, n * sizeof(double));
    memset(pl->charge, 0, n * sizeof(double));
    memset(pl->discharge, 0, n * sizeof(double));
    memset(pl->soc, 0, n * sizeof(double));
    for (int e = 0; e < pb->n_eq; e++) {
        const opt_equipment_t *q = &pb->eq[e];
        if (q->kind == OPT_STORAGE) {
            opt_heur_storage_idle(pb, pl, e);
        } else if (q->kind == OPT_TASK_BLOCK) {
            int at = q->habitual_start >= 0 ? q->habitual_start : q->earliest;
            int last = opt_heur_block_last_start(pb, q);
            opt_heur_put_block(pb, pl, e, at > last ? last : at);
        } else {
            for (int h = 0; h < q->n_shifts; h++)
                flex_asap(pb, pl, e, q->shifts[h].start, q->shifts[h].end,
                          q->shifts[h].min_output * q->specific_kwh);
            double done = 0;
            for (int t = 0; t < pb->site.n_slots; t++)
                done += pl->power[(size_t)e * pb->site.n_slots + t] * pb->site.slot_h;
            int from = q->habitual_start >= 0 ? q->habitual_start : q->earliest;
            flex_asap(pb, pl, e, from, q->deadline, q->energy_kwh - done);
        }
    }
    opt_plan_finish(pb, pl);
}

/* One greedy pass with the given choices for pumps and storage. */
static void heuristic_pass(const opt_problem_t *pb, opt_plan_t *pl, int dp, int stor)
{
    heur_t h = {pb, calloc((size_t)pb->site.n_slots, sizeof(double)), {0, 0}, dp, stor};
    size_t n = (size_t)pb->n_eq * pb->site.n_slots;

    memset(pl->power, 0, n * sizeof(double));
    memset(pl->charge, 0, n * sizeof(double));
    memset(pl->discharge, 0, n * sizeof(double));
    memset(pl->soc, 0, n * sizeof(double));
    if (!h.load)
        return;
    for (int e = 0; e < pb->n_eq; e++)
        if (pb->eq[e].kind == OPT_STORAGE)
            opt_heur_storage_idle(pb, pl, e);
    opt_plan_finish(pb, pl);
    for (int t = 0; t < pb->site.n_slots; t++)
        h.load[t] = opt_site_load(pb, pl, t);
    opt_heur_update_peaks(&h);
    for (int e = 0; e < pb->n_eq; e++) /* a window not placed with the one before */
        if (pb->eq[e].kind == OPT_TASK_FLEX && !opt_heur_draws(pb, pl, e))
            opt_heur_place_flex(&h, pl, e);
    opt_heur_place_blocks(&h, pl);
    if (stor)
        opt_heur_place_storage(&h, pl);
    free(h.load);
    opt_plan_finish(pb, pl);
    opt_improve_blocks(pb, pl, 20);
    if (opt_improve_pumps(pb, pl, 3) > 0)
        opt_improve_blocks(pb, pl, 20);
}

/* The passes are cheap (milliseconds at 200 assets), and which one wins
 * depends on the case: pumps placed first by cost can crowd the batches,
 * and the threshold rule can miss a peak. The cheapest plan that passes the
 * validator is kept (the first pass when none does). */
void opt_heuristic(const opt_problem_t *pb, opt_plan_t *pl)
{
    opt_plan_t tmp;
    double best = HUGE_VAL;

    heuristic_pass(pb, pl, 0, 0);
    if (opt_plan_init(&tmp, pb->n_eq, pb->site.n_slots) < 0)
        return;
    for (int v = 0; v < 4; v++) {
        opt_cost_t c;
        heuristic_pass(pb, &tmp, v & 1, v >> 1);
        opt_plan_cost(pb, &tmp, &c);
        if (c.total_eur < best && opt_validate(pb, &tmp, NULL) == 0) {
            best = c.total_eur;
            opt_plan_copy(pl, &tmp);
        }
    }
    opt_plan_release(&tmp);
}
