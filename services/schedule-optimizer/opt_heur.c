/*
 * opt_heur: baseline and primal heuristic (see opt_heur.h).
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

static int block_last_start(const opt_problem_t *pb, const opt_equipment_t *q)
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

static void put_block(const opt_problem_t *pb, opt_plan_t *pl, int e, int at)
{
    run_shape_t r = block_shape(pb, &pb->eq[e]);
    int T = pb->site.n_slots;
    double *pw = pl->power + (size_t)e * T;

    memset(pw, 0, (size_t)T * sizeof *pw);
    for (int t = at; t >= 0 && t < at + r.d && t < T; t++)
        pw[t] = shape_kw(&r, t - at);
}

/* The SOC after one slot of charge c and discharge d (kW): standing loss,
 * efficiencies and the process draw, as the model's SOC rows have it. */
static double soc_next(const opt_equipment_t *q, double soc, double c, double d,
                       double dt)
{
    return soc * (1 - q->loss_per_slot) + q->eta_charge * c * dt -
           d * dt / q->eta_discharge - q->draw_kw * dt;
}

/* Storage held at its initial SOC: charge only what standing loss and the
 * process draw take (a thermostat's business as usual). */
static void storage_idle(const opt_problem_t *pb, opt_plan_t *pl, int e)
{
    const opt_equipment_t *q = &pb->eq[e];
    int T = pb->site.n_slots;
    double dt = pb->site.slot_h, soc = q->soc0_kwh;
    size_t o = (size_t)e * T;

    for (int t = 0; t < T; t++) {
        double c = (soc * q->loss_per_slot + q->draw_kw * dt) / (q->eta_charge * dt);
        if (c > q->charge_max_kw)
            c = q->charge_max_kw;
        soc = soc_next(q, soc, c, 0, dt);
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

/* Demand charge of raising the periods' peaks to top. */
static double peak_rise_cost(const heur_t *h, const double *top)
{
    return h->pb->site.demand_eur_kw *
           (top[0] - h->peak[0] + top[1] - h->peak[1]);
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
static int best_window(const heur_t *h, int lo, int hi, const run_shape_t *r,
                       int keep)
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
        if (c < HUGE_VAL && c - join_credit(h->pb, pl, e, ends[i], r->d) < best - 1e-9) {
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
static int flex_ramped(heur_t *h, opt_plan_t *pl, int e, int from, int to,
                       double kwh)
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
static void flex_block(heur_t *h, opt_plan_t *pl, int e, int from, int to,
                       double kwh)
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

/* Whether task e draws power anywhere in the plan. */
int opt_heur_draws(const opt_problem_t *pb, const opt_plan_t *pl, int e)
{
    for (int t = 0; t < pb->site.n_slots; t++)
        if (pl->power[(size_t)e * pb->site.n_slots + t] > 1e-6)
            return 1;
    return 0;
}

static void place_flex(heur_t *h, opt_plan_t *pl, int e)
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
            flex_block(h, pl, e, q->earliest, q->deadline,
                       q->energy_kwh - done);
        else
            flex_cheapest(h, pl, e, q->earliest, q->deadline,
                          q->energy_kwh - done);
    }
    opt_heur_update_peaks(h);
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
        run_shape_t r = block_shape(pb, q);
        int at = best_block_start(h, pl, ord[i], &r, -1);
        put_block(pb, pl, ord[i], at >= 0 ? at : q->earliest);
        add_load(h, pl, ord[i], 1);
        opt_heur_update_peaks(h);
    }
    free(ord);
}

/* ---- storage: price-threshold charge and discharge ---- */

/* SOC trajectory of storage e from its charge and discharge. */
static void storage_soc(const opt_problem_t *pb, opt_plan_t *pl, int e)
{
    const opt_equipment_t *q = &pb->eq[e];
    int T = pb->site.n_slots;
    size_t o = (size_t)e * T;
    double soc = q->soc0_kwh, dt = pb->site.slot_h;

    for (int t = 0; t < T; t++) {
        soc = soc_next(q, soc, pl->charge[o + t], pl->discharge[o + t], dt);
        pl->soc[o + t] = soc;
    }
}

/* Highest site load charging may reach in slot t: the capacity, or the
 * current peak of t's billing period when a demand charge would bill a new
 * one. */
static double charge_top(const heur_t *h, int t)
{
    const opt_site_t *s = &h->pb->site;

    return s->demand_eur_kw > 0
               ? fmin(s->import_cap_kw, h->peak[opt_slot_period(s, t)])
               : s->import_cap_kw;
}

/* Charge (kWh into the store) still possible after slot t in cheap slots. */
static double recharge_after(const heur_t *h, const opt_equipment_t *q,
                             int t, double lo)
{
    const opt_site_t *s = &h->pb->site;
    double kwh = 0;

    for (int u = t + 1; u < s->n_slots; u++)
        if (opt_slot_price(s, u) <= lo)
            kwh += q->eta_charge * s->slot_h *
                   fmin(q->charge_max_kw,
                        fmax(0, charge_top(h, u) - h->load[u]));
    return kwh;
}

static double price_quantile(const opt_site_t *s, double f)
{
    int T = s->n_slots, *idx = malloc((size_t)T * sizeof *idx);
    double v;

    if (!idx)
        return 0;
    for (int t = 0; t < T; t++)
        idx[t] = t;
    qsort_r(idx, (size_t)T, sizeof *idx, cmp_slot_price, (void *)s);
    v = opt_slot_price(s, idx[(int)(f * (T - 1))]);
    free(idx);
    return v;
}

/* Charges in the cheapest quarter of the slots, discharges in the dearest
 * quarter when the spread pays the round trip, never raises the peak nor
 * exports beyond the limit, and keeps enough cheap slots ahead to end at
 * the initial SOC. Returns 0, or -1 when the final SOC falls short (the
 * caller then holds the storage idle). */
static int storage_threshold(heur_t *h, opt_plan_t *pl, int e)
{
    const opt_site_t *s = &h->pb->site;
    const opt_equipment_t *q = &h->pb->eq[e];
    double lo = price_quantile(s, 0.25), hi = price_quantile(s, 0.75);
    double dt = s->slot_h, soc = q->soc0_kwh, keep = 1 - q->loss_per_slot;
    double margin = q->soc0_kwh * q->loss_per_slot * s->n_slots + 1e-6;
    double exp_cap = s->export_cap_kw >= 0 ? s->export_cap_kw : HUGE_VAL;
    size_t o = (size_t)e * s->n_slots;

    if (hi * q->eta_charge * q->eta_discharge <= lo)
        return -1;
    for (int t = 0; t < s->n_slots; t++) {
        double pr = opt_slot_price(s, t), c = 0, d = 0, kept = soc * keep;
        if (pr <= lo) {
            c = fmin(q->charge_max_kw, (q->soc_max_kwh - kept) / (q->eta_charge * dt));
            c = fmin(c, charge_top(h, t) - h->load[t]);
        } else if (pr >= hi) {
            /* standing loss must not take the SOC below its minimum later */
            double floor = fmax(q->soc_min_kwh / pow(keep, s->n_slots - t),
                                q->soc0_kwh + margin - recharge_after(h, q, t, lo));
            d = fmin(q->discharge_max_kw, (kept - floor) * q->eta_discharge / dt);
            d = fmin(d, h->load[t] + exp_cap);
        }
        c = fmax(c, 0);
        d = fmax(d, 0);
        soc = soc_next(q, soc, c, d, dt);
        pl->charge[o + t] = c;
        pl->discharge[o + t] = d;
        h->load[t] += c - d;
    }
    storage_soc(h->pb, pl, e);
    for (int t = 0; t < s->n_slots; t++)
        if (pl->soc[o + t] < q->soc_min_kwh || pl->soc[o + t] > q->soc_max_kwh)
            return -1;
    return pl->soc[o + s->n_slots - 1] >= q->soc0_kwh ? 0 : -1;
}

/* How much more storage e may charge in slot t without its net power
 * stepping more than the ramp from either neighbour (charge only rises
 * here, so only the step up from a neighbour can break); HUGE_VAL when
 * there is no ramp. */
static double ramp_room(const opt_equipment_t *q, const double *c, int t, int T)
{
    double lo = HUGE_VAL;

    if (q->ramp_kw <= 0)
        return HUGE_VAL;
    if (t > 0)
        lo = c[t - 1];
    if (t < T - 1)
        lo = fmin(lo, c[t + 1]);
    return lo + q->ramp_kw - c[t];
}

/* The cheapest slot in [0, to] where storage e can still take charge, and
 * how much: the charge limit, the ramp, the site's room under its top
 * (charge_top) and the SOC maximum in every slot from it on (suffix
 * minimum of (soc_max - soc_t) / keep^t, so charge x in slot u adds x *
 * eta * dt * keep^(t-u) to slot t). Ties go to the later slot, which
 * loses less. Returns the slot, or -1 when none has room. */
static int draw_cheapest_slot(const heur_t *h, const opt_plan_t *pl, int e, int to,
                              const double *soc, double *room)
{
    const opt_site_t *s = &h->pb->site;
    const opt_equipment_t *q = &h->pb->eq[e];
    double keep = 1 - q->loss_per_slot, best = HUGE_VAL, head = HUGE_VAL;
    size_t o = (size_t)e * s->n_slots;
    int at = -1;

    for (int t = s->n_slots - 1; t >= 0; t--) {
        head = fmin(head, (q->soc_max_kwh - soc[t]) / pow(keep, t));
        if (t > to)
            continue;
        double r = fmin(fmin(q->charge_max_kw - pl->charge[o + t],
                             charge_top(h, t) - h->load[t]),
                        fmin(head * pow(keep, t) / (q->eta_charge * s->slot_h),
                             ramp_room(q, pl->charge + o, t, s->n_slots)));
        if (r > 1e-9 && opt_slot_price(s, t) < best) {
            best = opt_slot_price(s, t);
            at = t;
            *room = r;
        }
    }
    return at;
}

/* The first slot whose SOC is below the minimum, or the last one when the
 * horizon ends below the initial SOC; -1 when the trajectory holds. The
 * shortfall (kWh in that slot) goes to *need. */
static int draw_shortfall(const opt_equipment_t *q, const double *soc, int n, double *need)
{
    for (int t = 0; t < n; t++)
        if (soc[t] < q->soc_min_kwh - 1e-9) {
            *need = q->soc_min_kwh - soc[t];
            return t;
        }
    *need = q->soc0_kwh - soc[n - 1];
    return *need > 1e-9 ? n - 1 : -1;
}

/* A store a process draws from (a thermal store): nothing is charged at
 * first, then each shortfall of the SOC trajectory, earliest first, is
 * bought in the cheapest slot before it with room. On a lossless store
 * without site limits or ramp this is the cheapest plan (every kWh of draw
 * comes from the cheapest slot that can still hold it); in general it
 * beats the thermostat whenever prices vary. Returns 0, or -1 when a
 * shortfall finds no room (the caller then keeps the thermostat). */
static int storage_draw(heur_t *h, opt_plan_t *pl, int e)
{
    const opt_site_t *s = &h->pb->site;
    const opt_equipment_t *q = &h->pb->eq[e];
    int T = s->n_slots;
    double dt = s->slot_h, keep = 1 - q->loss_per_slot;
    size_t o = (size_t)e * T;

    if (keep <= 0)
        return -1;
    memset(pl->charge + o, 0, (size_t)T * sizeof(double));
    memset(pl->discharge + o, 0, (size_t)T * sizeof(double));
    storage_soc(h->pb, pl, e);
    /* each round meets a shortfall for good or uses up a slot's room; room
     * only shrinks as charge is added, except the ramp's, which a
     * neighbour's charge widens by up to the ramp: the bound leaves room
     * for a store charged at full power in every slot from nothing */
    int rounds = 2 * T + 2;
    if (q->ramp_kw > 0)
        rounds += 2 * T * (int)ceil(q->charge_max_kw / q->ramp_kw);
    for (int round = 0; round < rounds; round++) {
        double need, room;
        int t = draw_shortfall(q, pl->soc + o, T, &need);
        if (t < 0) {
            storage_soc(h->pb, pl, e);
            return 0;
        }
        int u = draw_cheapest_slot(h, pl, e, t, pl->soc + o, &room);
        if (u < 0)
            return -1;
        double x = fmin(room, need / (q->eta_charge * dt * pow(keep, t - u)) + 1e-9);
        pl->charge[o + u] += x;
        h->load[u] += x;
        for (int k = u; k < T; k++)
            pl->soc[o + k] += x * q->eta_charge * dt * pow(keep, k - u);
    }
    return -1;
}

/* Undoes storage e in the load and holds it idle instead. */
static void storage_fallback(heur_t *h, opt_plan_t *pl, int e)
{
    size_t o = (size_t)e * h->pb->site.n_slots;

    for (int t = 0; t < h->pb->site.n_slots; t++)
        h->load[t] -= pl->charge[o + t] - pl->discharge[o + t];
    memset(pl->discharge + o, 0, (size_t)h->pb->site.n_slots * sizeof(double));
    storage_idle(h->pb, pl, e);
    for (int t = 0; t < h->pb->site.n_slots; t++)
        h->load[t] += pl->charge[o + t];
}

static void place_storage(heur_t *h, opt_plan_t *pl)
{
    for (int e = 0; e < h->pb->n_eq; e++) {
        if (h->pb->eq[e].kind != OPT_STORAGE)
            continue;
        size_t o = (size_t)e * h->pb->site.n_slots;
        for (int t = 0; t < h->pb->site.n_slots; t++) /* idle charge out */
            h->load[t] -= pl->charge[o + t];
        int planned = h->pb->eq[e].draw_kw > 0 ? storage_draw(h, pl, e)
                                                : storage_threshold(h, pl, e);
        if (planned < 0)
            storage_fallback(h, pl, e);
        opt_heur_update_peaks(h);
    }
}

/* One greedy pass with the given choices for pumps and storage. */
static void heuristic_pass(const opt_problem_t *pb, opt_plan_t *pl, int dp,
                           int stor)
{
    heur_t h = {pb, calloc((size_t)pb->site.n_slots, sizeof(double)), {0, 0},
                dp, stor};
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
    opt_heur_update_peaks(&h);
    for (int e = 0; e < pb->n_eq; e++) /* a window not placed with the one before */
        if (pb->eq[e].kind == OPT_TASK_FLEX && !opt_heur_draws(pb, pl, e))
            place_flex(&h, pl, e);
    place_blocks(&h, pl);
    if (stor)
        place_storage(&h, pl);
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
