/*
 * opt_heur: baseline and primal heuristic (see opt_heur.h).
 */
#include "schedule-optimizer/opt_heur.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int needs_bin(const opt_equipment_t *e)
{
    return e->p_min_kw > 0 || e->min_run > 1 || e->min_rest > 1 ||
           e->max_starts_day > 0 || e->startup_eur > 0 || e->ramp_kw > 0;
}

static int block_last_start(const opt_problem_t *pb, const opt_equipment_t *q)
{
    return q->deadline - opt_block_duration(pb, q, NULL);
}

static void put_block(const opt_problem_t *pb, opt_plan_t *pl, int e, int at)
{
    double p;
    int d = opt_block_duration(pb, &pb->eq[e], &p), T = pb->site.n_slots;
    double *pw = pl->power + (size_t)e * T;

    memset(pw, 0, (size_t)T * sizeof *pw);
    for (int t = at; t >= 0 && t < at + d && t < T; t++)
        pw[t] = p;
}

/* Storage held at its initial SOC: charge only what standing loss takes. */
static void storage_idle(const opt_problem_t *pb, opt_plan_t *pl, int e)
{
    const opt_equipment_t *q = &pb->eq[e];
    int T = pb->site.n_slots;
    double dt = pb->site.slot_h, soc = q->soc0_kwh;
    size_t o = (size_t)e * T;

    for (int t = 0; t < T; t++) {
        double c = soc * q->loss_per_slot / (q->eta_charge * dt);
        if (c > q->charge_max_kw)
            c = q->charge_max_kw;
        soc = soc * (1 - q->loss_per_slot) + q->eta_charge * dt * c;
        pl->charge[o + t] = c;
        pl->soc[o + t] = soc;
    }
}

/* Runs a flex task at full power from start until energy is delivered. */
static void flex_asap(const opt_problem_t *pb, opt_plan_t *pl, int e, int from,
                      int to, double kwh)
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
            storage_idle(pb, pl, e);
        } else if (q->kind == OPT_TASK_BLOCK) {
            int at = q->habitual_start >= 0 ? q->habitual_start : q->earliest;
            int last = block_last_start(pb, q);
            put_block(pb, pl, e, at > last ? last : at);
        } else {
            for (int h = 0; h < q->n_shifts; h++)
                flex_asap(pb, pl, e, q->shifts[h].start, q->shifts[h].end,
                          q->shifts[h].min_output * q->specific_kwh);
            double done = 0;
            for (int t = 0; t < pb->site.n_slots; t++)
                done += pl->power[(size_t)e * pb->site.n_slots + t] *
                        pb->site.slot_h;
            int from = q->habitual_start >= 0 ? q->habitual_start : q->earliest;
            flex_asap(pb, pl, e, from, q->deadline, q->energy_kwh - done);
        }
    }
    opt_plan_finish(pb, pl);
}

/* ---- greedy placement ---- */

typedef struct heur {
    const opt_problem_t *pb;
    double *load;  /* site load of everything placed so far */
    double peak;   /* max(peak so far, max load) */
} heur_t;

static double max_load(const heur_t *h)
{
    double p = h->pb->site.peak_so_far_kw;

    for (int t = 0; t < h->pb->site.n_slots; t++)
        if (h->load[t] > p)
            p = h->load[t];
    return p;
}

/* Cost of adding power p over [at, at + d); HUGE_VAL when over capacity. */
static double window_cost(const heur_t *h, int at, int d, double p)
{
    const opt_site_t *s = &h->pb->site;
    double cost = 0, top = h->peak;

    for (int t = at; t < at + d; t++) {
        double g = h->load[t] + p;
        if (g > s->import_cap_kw + 1e-9)
            return HUGE_VAL;
        if (g > top)
            top = g;
        cost += opt_slot_price(s, t) * p * s->slot_h / 1000.0;
    }
    return cost + s->demand_eur_kw * (top - h->peak);
}

/* Best start of a block of d slots at power p in [lo, hi]; -1 if none fits. */
static int best_window(const heur_t *h, int lo, int hi, int d, double p,
                       int keep)
{
    double best = HUGE_VAL;
    int at = -1;

    if (keep >= lo && keep <= hi) {
        best = window_cost(h, keep, d, p) - 1e-9;
        at = best < HUGE_VAL ? keep : -1;
    }
    for (int k = lo; k <= hi; k++) {
        double c = window_cost(h, k, d, p);
        if (c < best) {
            best = c;
            at = k;
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

static int cmp_slot_price(const void *a, const void *b, void *ctx)
{
    const opt_site_t *s = ctx;
    double pa = opt_slot_price(s, *(const int *)a);
    double pb = opt_slot_price(s, *(const int *)b);

    return (pa > pb) - (pa < pb);
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
    qsort_r(idx, (size_t)n, sizeof *idx, cmp_slot_price, (void *)s);
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

/* A flex task that needs binaries runs as one contiguous block per need. */
static void flex_block(heur_t *h, opt_plan_t *pl, int e, int from, int to,
                       double kwh)
{
    const opt_equipment_t *q = &h->pb->eq[e];
    double dt = h->pb->site.slot_h;
    int d = (int)ceil(kwh / (q->p_max_kw * dt) - 1e-9);
    double *pw = pl->power + (size_t)e * h->pb->site.n_slots;

    if (kwh <= 1e-9)
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
    int at = best_window(h, from, to - d, d, p, -1);
    if (at < 0)
        at = from;
    for (int t = at; t < at + d; t++) {
        pw[t] += p;
        h->load[t] += p;
    }
    h->peak = max_load(h);
}

static void place_flex(heur_t *h, opt_plan_t *pl, int e)
{
    const opt_equipment_t *q = &h->pb->eq[e];
    int bin = needs_bin(q);
    double done = 0;

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
            flex_block(h, pl, e, q->earliest, q->deadline,
                       q->energy_kwh - done);
        else
            flex_cheapest(h, pl, e, q->earliest, q->deadline,
                          q->energy_kwh - done);
    }
    h->peak = max_load(h);
}

static int cmp_tight(const void *a, const void *b, void *ctx)
{
    const opt_problem_t *pb = ctx;
    const opt_equipment_t *qa = &pb->eq[*(const int *)a];
    const opt_equipment_t *qb = &pb->eq[*(const int *)b];
    int sa = block_last_start(pb, qa) - qa->earliest;
    int sb = block_last_start(pb, qb) - qb->earliest;

    if (sa != sb)
        return sa - sb;
    return (qb->energy_kwh > qa->energy_kwh) - (qb->energy_kwh < qa->energy_kwh);
}

static void place_blocks(heur_t *h, opt_plan_t *pl)
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
        double p;
        int d = opt_block_duration(pb, q, &p);
        int at = best_window(h, q->earliest, q->deadline - d, d, p, -1);
        put_block(pb, pl, ord[i], at >= 0 ? at : q->earliest);
        add_load(h, pl, ord[i], 1);
        h->peak = max_load(h);
    }
    free(ord);
}

void opt_heuristic(const opt_problem_t *pb, opt_plan_t *pl)
{
    heur_t h = {pb, calloc((size_t)pb->site.n_slots, sizeof(double)), 0};
    size_t n = (size_t)pb->n_eq * pb->site.n_slots;

    memset(pl->power, 0, n * sizeof(double));
    memset(pl->charge, 0, n * sizeof(double));
    memset(pl->discharge, 0, n * sizeof(double));
    memset(pl->soc, 0, n * sizeof(double));
    if (!h.load)
        return;
    for (int e = 0; e < pb->n_eq; e++)
        if (pb->eq[e].kind == OPT_STORAGE)
            storage_idle(pb, pl, e);
    opt_plan_finish(pb, pl);
    for (int t = 0; t < pb->site.n_slots; t++)
        h.load[t] = opt_site_load(pb, pl, t);
    h.peak = max_load(&h);
    for (int e = 0; e < pb->n_eq; e++)
        if (pb->eq[e].kind == OPT_TASK_FLEX)
            place_flex(&h, pl, e);
    place_blocks(&h, pl);
    free(h.load);
    opt_plan_finish(pb, pl);
    opt_improve_blocks(pb, pl, 20);
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
    heur_t h = {pb, calloc((size_t)pb->site.n_slots, sizeof(double)), 0};
    int moves = 0, moved = 1;

    if (!h.load)
        return 0;
    for (int t = 0; t < pb->site.n_slots; t++)
        h.load[t] = opt_site_load(pb, pl, t);
    for (int pass = 0; pass < max_passes && moved; pass++) {
        moved = 0;
        for (int e = 0; e < pb->n_eq; e++) {
            const opt_equipment_t *q = &pb->eq[e];
            double p;
            if (q->kind != OPT_TASK_BLOCK)
                continue;
            int d = opt_block_duration(pb, q, &p), cur = block_start(pl, e);
            add_load(&h, pl, e, -1);
            h.peak = max_load(&h);
            int at = best_window(&h, q->earliest, q->deadline - d, d, p, cur);
            if (at >= 0 && at != cur) {
                put_block(pb, pl, e, at);
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
