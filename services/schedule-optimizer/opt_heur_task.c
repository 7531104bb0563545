/*
 * opt_heur_task: the heuristic's tasks (see opt_heur_int.h): interruptible
 * tasks in their cheapest slots, as one block or as one trapezoid when
 * they need binaries; non-interruptible tasks greedily in the cheapest
 * window under the capacity, tightest first, and moved to their best start
 * by opt_improve_blocks (opt_heur.h).
 */
#include "schedule-optimizer/opt_heur.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schedule-optimizer/opt_heur_int.h"

int opt_heur_block_last_start(const opt_problem_t *pb, const opt_equipment_t *q)
{
    return q->deadline - opt_block_duration(pb, q, NULL);
}

/* A run of d slots at power p, p_last in its last slot. */
typedef struct run_shape {
    int d;
    double p, p_last;
} run_shape_t;

static double shape_kw(const run_shape_t *r, int k)
{
    return k == r->d - 1 ? r->p_last : r->p;
}

static run_shape_t block_shape(const opt_problem_t *pb, const opt_equipment_t *q)
{
    run_shape_t r;

    r.d = opt_block_duration(pb, q, &r.p);
    r.p_last = opt_block_last_kw(pb, q);
    return r;
}

void opt_heur_put_block(const opt_problem_t *pb, opt_plan_t *pl, int e, int at)
{
    run_shape_t r = block_shape(pb, &pb->eq[e]);
    int T = pb->site.n_slots;
    double *pw = pl->power + (size_t)e * T;

    memset(pw, 0, (size_t)T * sizeof *pw);
    for (int t = at; t >= 0 && t < at + r.d && t < T; t++)
        pw[t] = shape_kw(&r, t - at);
}

/* Demand charge of raising the periods' peaks to top. */
static double peak_rise_cost(const heur_t *h, const double *top)
{
    return h->pb->site.demand_eur_kw * (top[0] - h->peak[0] + top[1] - h->peak[1]);
}

/* Raises top to load g in slot t's period. */
static void raise_top(const heur_t *h, int t, double g, double *top)
{
    int k = opt_slot_period(&h->pb->site, t);

    if (g > top[k])
        top[k] = g;
}

/* Cost of adding run r from slot at; HUGE_VAL when over capacity. */
static double window_cost(const heur_t *h, int at, const run_shape_t *r)
{
    const opt_site_t *s = &h->pb->site;
    double cost = 0, top[2] = {h->peak[0], h->peak[1]};

    for (int t = at; t < at + r->d; t++) {
        double p = shape_kw(r, t - at), g = h->load[t] + p;
        if (g > s->import_cap_kw + 1e-9)
            return HUGE_VAL;
        raise_top(h, t, g, top);
        cost += opt_slot_price(s, t) * p * s->slot_h / 1000.0;
    }
    return cost + peak_rise_cost(h, top);
}

/* Best start of run r in [lo, hi]; -1 if none fits. */
static int best_window(const heur_t *h, int lo, int hi, const run_shape_t *r, int keep)
{
    double best = HUGE_VAL;
    int at = -1;

    if (keep >= lo && keep <= hi) {
        best = window_cost(h, keep, r) - 1e-9;
        at = best < HUGE_VAL ? keep : -1;
    }
    for (int k = lo; k <= hi; k++) {
        double c = window_cost(h, k, r);
        if (c < best) {
            best = c;
            at = k;
        }
    }
    return at;
}

/* Whether task f of the plan draws power in slot t. */
static int draws_at(const opt_plan_t *pl, int f, int t)
{
    return pl->power[(size_t)f * pl->n_slots + t] > 0;
}

/* The start-up cost block e saves starting at slot at (d slots) against
 * the plan's other windows of its equipment: a block starting at its
 * window's earliest slot where the window before ends in a run, or
 * ending at its deadline where the next window's run begins, runs on
 * with it as one run of the machine, one start (opt_plan_cost). */
static double join_credit(const opt_problem_t *pb, const opt_plan_t *pl, int e, int at,
                          int d)
{
    const opt_equipment_t *q = &pb->eq[e];
    double credit = 0;

    for (int f = 0; q->group > 0 && f < pb->n_eq; f++) {
        const opt_equipment_t *r = &pb->eq[f];
        if (f == e || r->group != q->group || r->kind != OPT_TASK_BLOCK)
            continue;
        if (r->deadline == q->earliest && at == q->earliest && at > 0 &&
            draws_at(pl, f, at - 1))
            credit += q->startup_eur;
        if (r->earliest == q->deadline && at + d == q->deadline &&
            q->deadline < pb->site.n_slots && draws_at(pl, f, q->deadline))
            credit += r->startup_eur;
    }
    return credit;
}

/* Best start of block e (run r) in its window against the load and the
 * plan's other windows of its equipment (join_credit), keep preferred on
 * a tie; -1 if none fits. */
static int best_block_start(const heur_t *h, const opt_plan_t *pl, int e,
                            const run_shape_t *r, int keep)
{
    const opt_equipment_t *q = &h->pb->eq[e];
    int ends[2] = {q->earliest, q->deadline - r->d};
    int at = best_window(h, ends[0], ends[1], r, keep);
    double best = at >= 0 ? window_cost(h, at, r) - join_credit(h->pb, pl, e, at, r->d)
                          : HUGE_VAL;

    for (int i = 0; i < 2 && ends[0] <= ends[1]; i++) {
        double c = window_cost(h, ends[i], r);
        if (c < HUGE_VAL &&
            c - join_credit(h->pb, pl, e, ends[i], r->d) < best - 1e-9) {
            best = c - join_credit(h->pb, pl, e, ends[i], r->d);
            at = ends[i];
        }
    }
    return at;
}

static void add_load(heur_t *h, const opt_plan_t *pl, int e, double sign)
{
    const double *pw = pl->power + (size_t)e * h->pb->site.n_slots;

    for (int t = 0; t < h->pb->site.n_slots; t++)
        h->load[t] += sign * pw[t];
}

/* Fills the cheapest slots of [from, to) with up to kwh at up to p_max. */
static void flex_cheapest(heur_t *h, opt_plan_t *pl, int e, int from, int to,
                          double kwh)
{
    const opt_site_t *s = &h->pb->site;
    const opt_equipment_t *q = &h->pb->eq[e];
    double *pw = pl->power + (size_t)e * s->n_slots;
    int n = to - from, *idx = malloc((size_t)(n > 0 ? n : 1) * sizeof *idx);

    if (!idx)
        return;
    for (int i = 0; i < n; i++)
        idx[i] = from + i;
    qsort_r(idx, (size_t)n, sizeof *idx, opt_heur_cmp_slot_price, (void *)s);
    for (int i = 0; i < n && kwh > 1e-9; i++) {
        int t = idx[i];
        double room = fmin(q->p_max_kw - pw[t], s->import_cap_kw - h->load[t]);
        double p = fmin(fmax(room, 0), kwh / s->slot_h);
        pw[t] += p;
        h->load[t] += p;
        kwh -= p * s->slot_h;
    }
    free(idx);
}

/* Cost of adding the profile prof[0..n) from slot at; HUGE_VAL when over
 * capacity. */
static double profile_cost(const heur_t *h, int at, int n, const double *prof)
{
    const opt_site_t *s = &h->pb->site;
    double cost = 0, top[2] = {h->peak[0], h->peak[1]};

    for (int k = 0; k < n; k++) {
        double g = h->load[at + k] + prof[k];
        if (g > s->import_cap_kw + 1e-9)
            return HUGE_VAL;
        raise_top(h, at + k, g, top);
        cost += opt_slot_price(s, at + k) * prof[k] * s->slot_h / 1000.0;
    }
    return cost + peak_rise_cost(h, top);
}

/* A ramp-limited task runs as one trapezoid: up from zero by at most the
 * ramp per slot, at full power, and back down to zero, the ramp counted
 * from and to zero at the block's ends as the model and the validator
 * read it (also at the horizon's edges). The shortest such run that holds
 * kwh is scaled down to deliver it exactly (scaling keeps every step
 * within the ramp); the cheapest start under the capacity is taken.
 * Returns 0, or -1 when no run fits [from, to) (nothing placed). */
static int flex_ramped(heur_t *h, opt_plan_t *pl, int e, int from, int to, double kwh)
{
    const opt_equipment_t *q = &h->pb->eq[e];
    double dt = h->pb->site.slot_h, r = q->ramp_kw, sum = 0, best = HUGE_VAL;
    double *pw = pl->power + (size_t)e * h->pb->site.n_slots, *prof;
    int n, at = -1, len = to - from;

    if (len < 1 || !(r > 0) || (prof = malloc((size_t)len * sizeof *prof)) == NULL)
        return -1;
    for (n = q->min_run > 1 ? q->min_run : 1; n <= len; n++) {
        sum = 0;
        for (int k = 0; k < n; k++)
            sum += fmin(q->p_max_kw, r * fmin(k + 1, n - k));
        if (sum * dt >= kwh - 1e-9)
            break;
    }
    if (n > len || sum <= 0) {
        free(prof);
        return -1;
    }
    for (int k = 0; k < n; k++)
        prof[k] = fmin(q->p_max_kw, r * fmin(k + 1, n - k)) * kwh / (sum * dt);
    for (int a = from; a + n <= to; a++) {
        double c = profile_cost(h, a, n, prof);
        if (c < best) {
            best = c;
            at = a;
        }
    }
    if (at < 0)
        at = from;
    for (int k = 0; k < n; k++) {
        pw[at + k] += prof[k];
        h->load[at + k] += prof[k];
    }
    opt_heur_update_peaks(h);
    free(prof);
    return 0;
}

/* A flex task that needs binaries runs as one contiguous block per need. */
static void flex_block(heur_t *h, opt_plan_t *pl, int e, int from, int to, double kwh)
{
    const opt_equipment_t *q = &h->pb->eq[e];
    double dt = h->pb->site.slot_h;
    int d = (int)ceil(kwh / (q->p_max_kw * dt) - 1e-9);
    double *pw = pl->power + (size_t)e * h->pb->site.n_slots;

    if (kwh <= 1e-9)
        return;
    if (q->ramp_kw > 0 && flex_ramped(h, pl, e, from, to, kwh) == 0)
        return;
    if (d < q->min_run)
        d = q->min_run;
    if (d > to - from)
        d = to - from;
    if (d < 1)
        return;
    double p = kwh / (d * dt);
    if (p < q->p_min_kw) {
        d = (int)floor(kwh / (q->p_min_kw * dt));
        if (d < 1)
            d = 1;
        p = kwh / (d * dt);
    }
    run_shape_t r = {d, p, p};
    int at = best_window(h, from, to - d, &r, -1);
    if (at < 0)
        at = from;
    for (int t = at; t < at + d; t++) {
        pw[t] += p;
        h->load[t] += p;
    }
    opt_heur_update_peaks(h);
}

void opt_heur_place_flex(heur_t *h, opt_plan_t *pl, int e)
{
    const opt_equipment_t *q = &h->pb->eq[e];
    int bin = opt_heur_needs_bin(q);
    double done = 0;

    if (bin && h->use_dp && opt_pump_place(h, pl, e) == 0)
        return;

    for (int k = 0; k < q->n_shifts; k++) {
        const opt_shift_t *sh = &q->shifts[k];
        int from = sh->start > q->earliest ? sh->start : q->earliest;
        int to = sh->end < q->deadline ? sh->end : q->deadline;
        double kwh = sh->min_output * q->specific_kwh;
        if (bin)
            flex_block(h, pl, e, from, to, kwh);
        else
            flex_cheapest(h, pl, e, from, to, kwh);
        done += kwh;
    }
    if (q->energy_kwh - done > 1e-9) {
        if (bin)
            flex_block(h, pl, e, q->earliest, q->deadline, q->energy_kwh - done);
        else
            flex_cheapest(h, pl, e, q->earliest, q->deadline, q->energy_kwh - done);
    }
    opt_heur_update_peaks(h);
}

static int cmp_tight(const void *a, const void *b, void *ctx)
{
    const opt_problem_t *pb = ctx;
    const opt_equipment_t *qa = &pb->eq[*(const int *)a];
    const opt_equipment_t *qb = &pb->eq[*(const int *)b];
    int sa = opt_heur_block_last_start(pb, qa) - qa->earliest;
    int sb = opt_heur_block_last_start(pb, qb) - qb->earliest;

    if (sa != sb)
        return sa - sb;
    return (qb->energy_kwh > qa->energy_kwh) - (qb->energy_kwh < qa->energy_kwh);
}

void opt_heur_place_blocks(heur_t *h, opt_plan_t *pl)
{
    const opt_problem_t *pb = h->pb;
    int *ord = malloc((size_t)(pb->n_eq ? pb->n_eq : 1) * sizeof *ord), n = 0;

    if (!ord)
        return;
    for (int e = 0; e < pb->n_eq; e++)
        if (pb->eq[e].kind == OPT_TASK_BLOCK)
            ord[n++] = e;
    qsort_r(ord, (size_t)n, sizeof *ord, cmp_tight, (void *)pb);
    for (int i = 0; i < n; i++) {
        const opt_equipment_t *q = &pb->eq[ord[i]];
        run_shape_t r = block_shape(pb, q);
        int at = best_block_start(h, pl, ord[i], &r, -1);
        opt_heur_put_block(pb, pl, ord[i], at >= 0 ? at : q->earliest);
        add_load(h, pl, ord[i], 1);
        opt_heur_update_peaks(h);
    }
    free(ord);
}

static int block_start(const opt_plan_t *pl, int e)
{
    const double *pw = pl->power + (size_t)e * pl->n_slots;

    for (int t = 0; t < pl->n_slots; t++)
        if (pw[t] > 0)
            return t;
    return -1;
}

int opt_improve_blocks(const opt_problem_t *pb, opt_plan_t *pl, int max_passes)
{
    heur_t h = {pb, calloc((size_t)pb->site.n_slots, sizeof(double)), {0, 0}, 0, 0};
    int moves = 0, moved = 1;

    if (!h.load)
        return 0;
    for (int t = 0; t < pb->site.n_slots; t++)
        h.load[t] = opt_site_load(pb, pl, t);
    for (int pass = 0; pass < max_passes && moved; pass++) {
        moved = 0;
        for (int e = 0; e < pb->n_eq; e++) {
            const opt_equipment_t *q = &pb->eq[e];
            if (q->kind != OPT_TASK_BLOCK)
                continue;
            run_shape_t r = block_shape(pb, q);
            int cur = block_start(pl, e);
            add_load(&h, pl, e, -1);
            opt_heur_update_peaks(&h);
            int at = best_block_start(&h, pl, e, &r, cur);
            if (at >= 0 && at != cur) {
                opt_heur_put_block(pb, pl, e, at);
                moved = 1;
                moves++;
            }
            add_load(&h, pl, e, 1);
        }
    }
    free(h.load);
    opt_plan_finish(pb, pl);
    return moves;
}
