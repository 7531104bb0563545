/*
 * opt_heur: baseline and primal heuristic (see opt_heur.h).
 */
#include "schedule-optimizer/opt_heur.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schedule-optimizer/opt_validate.h"

static int needs_bin(const opt_equipment_t *e)
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

typedef struct heur {
    const opt_problem_t *pb;
    double *load;  /* site load of everything placed so far */
    double peak[2]; /* per billing period: max(peak so far, max load) */
    int use_dp;    /* pumps by dynamic programming (else one block) */
    int use_stor;  /* storage by price thresholds (else idle) */
} heur_t;

static void update_peaks(heur_t *h)
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
    update_peaks(h);
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
    update_peaks(h);
}

/* ---- pumps: runs chosen by dynamic programming ----
 *
 * A task with on/off binaries (minimum run and rest, start limits, start-up
 * cost) and no ramp or shift runs n slots at one power level. The
 * recursion walks the window slot by slot over states (slots run so far,
 * starts today, phase), the phase being the rest count (capped at the
 * minimum rest) while off or the run length (capped at the minimum run)
 * while on; each slot costs its energy plus the demand charge on any rise
 * above the current peak, a slot over capacity is closed. The result obeys
 * every run rule exactly, as the model and the validator read them.
 *
 * A window whose next window of the equipment is not placed yet is
 * placed together with it, as one stretch [lo, hi) from the first's
 * earliest to the second's deadline, closed between the windows (from
 * end1 to mid): the slots run count restarts at mid, where the first
 * window must have run all of its slots, and the phase (run or rest) goes
 * on across. A run may so start in the first window's last slots and
 * reach its minimum in a touching second, as the model allows, and the
 * rest before the second window's run is kept where that run starts, not
 * where the window opens; placed one after the other, the first window
 * could only end a run it had completed itself, rested enough before the
 * second window's earliest slot. */

typedef struct pump_dp {
    int n, L, R, S, np, ns; /* slots to run, min run, min rest, starts/day
                             * (S = 0: no limit, starts not counted) */
    int lo, hi;
    int end1;               /* the first window's deadline */
    int mid;                /* first slot of the window placed with it
                             * (f), hi when alone */
    int f;                  /* that window, -1 = none */
    int n2;                 /* slots it runs */
    double p2;              /* its power while on */
    int ph0;                /* phase at lo: rest since the group's last run,
                             * or the length of its run up to lo - 1, which
                             * goes on here or ends (one run: no start) */
    int next;               /* the group's next slot on after hi, -1 = none */
    int tail;               /* slots of the group's run from hi on, 0 = none:
                             * a run going on into it is one run with it */
    int *cap;               /* per slot of the window: starts its day has left */
    const opt_site_t *site;
    double p;               /* power while on */
    double *cost;           /* per slot of the window, HUGE_VAL = closed */
    double *v, *w;          /* value of each state, this and next slot */
    int *from;              /* (hi - lo) x ns predecessors, -1 = none */
} pump_dp_t;

static int dp_state(const pump_dp_t *d, int k, int s, int ph)
{
    return (k * (d->S + 1) + s) * d->np + ph;
}

static void dp_relax(pump_dp_t *d, int t, int from, int to, double val)
{
    if (val < d->w[to]) {
        d->w[to] = val;
        d->from[(size_t)(t - d->lo) * d->ns + to] = from;
    }
}

/* Moves every state of slot t to slot t + 1 through "off" and "on". */
static void dp_step(pump_dp_t *d, const opt_equipment_t *q, int t)
{
    int newday = t > 0 && opt_slot_day(d->site, t) != opt_slot_day(d->site, t - 1);

    for (int i = 0; i < d->ns; i++)
        d->w[i] = HUGE_VAL;
    for (int i = 0; i < d->ns; i++) {
        if (d->v[i] == HUGE_VAL)
            continue;
        int ph = i % d->np, s = i / d->np % (d->S + 1), k = i / d->np / (d->S + 1);
        int off = ph <= d->R, l = ph - d->R;
        if (newday)
            s = 0;
        if (off || l >= d->L) /* stay or switch off */
            dp_relax(d, t, i, dp_state(d, k, s, off ? (ph + 1 > d->R ? d->R : ph + 1)
                                                      : (d->R > 1 ? 1 : d->R)),
                     d->v[i]);
        if (k >= (t < d->mid ? d->n : d->n2) || d->cost[t - d->lo] == HUGE_VAL)
            continue;
        if (!off) /* keep running */
            dp_relax(d, t, i, dp_state(d, k + 1, s, d->R + (l + 1 > d->L ? d->L : l + 1)),
                     d->v[i] + d->cost[t - d->lo]);
        else if (ph == d->R && (d->S == 0 || s < d->cap[t - d->lo]) &&
                 t + d->L <= d->hi + d->tail) /* start */
            dp_relax(d, t, i, dp_state(d, k + 1, s + (d->S > 0), d->R + 1),
                     d->v[i] + d->cost[t - d->lo] + q->startup_eur);
    }
    double *x = d->v;
    d->v = d->w;
    d->w = x;
}

/* Into the window placed with the first at mid: only states that ran
 * all of the first window's slots go on, with the count restarted. */
static void dp_cross(pump_dp_t *d)
{
    for (int i = 0; i < d->ns; i++)
        d->w[i] = HUGE_VAL;
    for (int s = 0; s <= d->S; s++)
        for (int ph = 0; ph < d->np; ph++)
            d->w[dp_state(d, 0, s, ph)] = d->v[dp_state(d, d->n, s, ph)];
    double *x = d->v;
    d->v = d->w;
    d->w = x;
}

/* Slot costs of running at the window's power on top of the current load. */
static void dp_costs(const heur_t *h, pump_dp_t *d)
{
    const opt_site_t *s = &h->pb->site;

    for (int t = d->lo; t < d->hi; t++) {
        double p = t < d->mid ? d->p : d->p2, g = h->load[t] + p;
        d->cost[t - d->lo] =
            g > s->import_cap_kw + 1e-9 || (t >= d->end1 && t < d->mid)
                ? HUGE_VAL
                : opt_slot_price(s, t) * p * s->slot_h / 1000.0 +
                      s->demand_eur_kw *
                          fmax(0, g - h->peak[opt_slot_period(s, t)]);
    }
}

/* Whether the window may end in phase ph: off, rested enough before the
 * group's next run (which then needs its own minimum run); on, with the
 * minimum run done and rested before the next run, or going on into the
 * next run when it starts at hi, the two together one run of at least
 * the minimum. */
static int dp_end_ok(const pump_dp_t *d, int ph)
{
    if (ph <= d->R)
        return (d->next < 0 || ph + d->next - d->hi >= d->R) &&
               (d->tail == 0 || d->tail >= d->L);
    if (d->next == d->hi)
        return ph - d->R + d->tail >= d->L;
    return ph - d->R >= d->L && (d->next < 0 || d->next - d->hi >= d->R);
}

/* Writes "on in slot t" into the plan: the first window's row before
 * mid, the second's from there. */
static void dp_put(heur_t *h, const pump_dp_t *d, opt_plan_t *pl, int e, int t)
{
    int row = t < d->mid ? e : d->f;
    double p = t < d->mid ? d->p : d->p2;

    pl->power[(size_t)row * h->pb->site.n_slots + t] += p;
    h->load[t] += p;
}

/* Runs the recursion and writes the runs into the plan; -1 if none fits. */
static int dp_solve(heur_t *h, pump_dp_t *d, opt_plan_t *pl, int e)
{
    const opt_equipment_t *q = &h->pb->eq[e];
    double best = HUGE_VAL;
    int at = -1, n_end = d->f >= 0 ? d->n2 : d->n;

    for (int i = 0; i < d->ns; i++)
        d->v[i] = HUGE_VAL;
    d->v[dp_state(d, 0, 0, d->ph0)] = 0;
    for (int t = d->lo; t < d->hi; t++) {
        if (t == d->mid)
            dp_cross(d);
        dp_step(d, q, t);
    }
    for (int s = 0; s <= d->S; s++)
        for (int ph = 0; ph < d->np; ph++) {
            int i = dp_state(d, n_end, s, ph);
            if (dp_end_ok(d, ph) && d->v[i] < best) {
                best = d->v[i];
                at = i;
            }
        }
    if (at < 0)
        return -1;
    for (int t = d->hi - 1; t >= d->lo; t--) {
        int prev = d->from[(size_t)(t - d->lo) * d->ns + at];
        if (at % d->np > d->R) /* on in slot t */
            dp_put(h, d, pl, e, t);
        at = prev;
        if (t == d->mid) /* before dp_cross: the first window ran n */
            at = dp_state(d, d->n, at / d->np % (d->S + 1), at % d->np);
    }
    update_peaks(h);
    return 0;
}

/* The summed power of the other windows of e's equipment in the plan
 * (group > 0), into sum (T slots); 0 when there is none. */
static int group_others(const opt_problem_t *pb, const opt_plan_t *pl, int e,
                        double *sum)
{
    int T = pb->site.n_slots, any = 0;

    memset(sum, 0, (size_t)T * sizeof *sum);
    for (int f = 0; pb->eq[e].group > 0 && f < pb->n_eq; f++) {
        if (f == e || pb->eq[f].group != pb->eq[e].group)
            continue;
        any = 1;
        for (int t = 0; t < T; t++)
            sum[t] += pl->power[(size_t)f * T + t];
    }
    return any;
}

/* Whether task e draws power anywhere in the plan. */
static int draws(const opt_problem_t *pb, const opt_plan_t *pl, int e)
{
    for (int t = 0; t < pb->site.n_slots; t++)
        if (pl->power[(size_t)e * pb->site.n_slots + t] > 1e-6)
            return 1;
    return 0;
}

/* Whether window f of e's equipment begins at hi or later and is not
 * placed yet (it has energy to deliver and draws nothing in the plan). */
static int later_unplaced(const opt_problem_t *pb, const opt_plan_t *pl, int e,
                          int f, int hi)
{
    const opt_equipment_t *q = &pb->eq[f];

    return f != e && q->group == pb->eq[e].group && q->energy_kwh > 1e-9 &&
           q->earliest >= hi && !draws(pb, pl, f);
}

/* Keeps room for the windows of e's equipment still to be placed after
 * it: the minimum rest before the first slot of the next one, and a start
 * in the day of one that lies within a single local day. */
static void dp_reserve_later(pump_dp_t *d, const opt_problem_t *pb,
                             const opt_plan_t *pl, int e, int *after)
{
    for (int f = 0; f < pb->n_eq; f++) {
        const opt_equipment_t *q = &pb->eq[f];
        if (!later_unplaced(pb, pl, e, f, d->hi))
            continue;
        if (*after < 0 || q->earliest < *after)
            *after = q->earliest;
        int day = opt_slot_day(d->site, q->earliest);
        if (pb->eq[e].max_starts_day <= 0 ||
            opt_slot_day(d->site, q->deadline - 1) != day)
            continue;
        for (int k = d->lo; k < d->hi; k++)
            if (opt_slot_day(d->site, k) == day)
                d->cap[k - d->lo]--;
    }
}

/* Fits the recursion to the other windows of the equipment in the plan,
 * so that the machine obeys its rules as one (the validator sums the
 * windows): the rest since their last run before the window is the
 * starting phase, and a run of theirs up to lo - 1 starts the window on,
 * with its length, to go on at lo without a start of the machine (and
 * without stopping before its minimum run); the window ends rested enough
 * before their first run after it (or the first slot of the next window
 * not placed yet), or going on into that run at hi as one run with it;
 * each local day keeps only the starts they leave. */
static void dp_fit_group(pump_dp_t *d, const opt_problem_t *pb,
                         const opt_plan_t *pl, int e, const double *other)
{
    const opt_equipment_t *q = &pb->eq[e];
    int T = pb->site.n_slots, before = -1;

    for (int t = 0; t < d->lo; t++)
        if (other[t] > 1e-6)
            before = t;
    for (int t = T - 1; t >= d->hi; t--)
        if (other[t] > 1e-6)
            d->next = t;
    for (int t = d->hi; d->next == d->hi && t < T && other[t] > 1e-6; t++)
        d->tail++;
    dp_reserve_later(d, pb, pl, e, &d->next);
    if (before >= 0)
        d->ph0 = d->lo - 1 - before < d->R ? d->lo - 1 - before : d->R;
    if (before >= 0 && before == d->lo - 1) { /* the run goes on or ends */
        int run = 0;
        for (int t = before; t >= 0 && other[t] > 1e-6; t--)
            run++;
        d->ph0 = d->R + (run < d->L ? run : d->L);
    }
    if (q->max_starts_day <= 0)
        return;
    for (int t = 0; t < T; t++) {
        int day = opt_slot_day(d->site, t);
        if (other[t] <= 1e-6 || (t > 0 && other[t - 1] > 1e-6))
            continue; /* not a start of the others */
        for (int k = d->lo; k < d->hi; k++)
            if (opt_slot_day(d->site, k) == day)
                d->cap[k - d->lo]--;
    }
}

/* Whether another window of e's equipment ends where e begins or begins
 * where e ends: a run of e may then be part of a longer one. */
static int touches_group(const opt_problem_t *pb, int e)
{
    const opt_equipment_t *q = &pb->eq[e];

    for (int f = 0; q->group > 0 && f < pb->n_eq; f++)
        if (f != e && pb->eq[f].group == q->group &&
            (pb->eq[f].deadline == q->earliest || pb->eq[f].earliest == q->deadline))
            return 1;
    return 0;
}

/* Whether the recursion can place task e: on/off, no ramp, no shifts,
 * energy to deliver in a window of at least one slot. */
static int dp_fits(const opt_equipment_t *q)
{
    return q->kind == OPT_TASK_FLEX && needs_bin(q) && q->ramp_kw <= 0 &&
           q->n_shifts == 0 && q->energy_kwh > 1e-9 && q->deadline > q->earliest;
}

/* Slots task e runs (at full power, at least its minimum run unless a
 * run may go on across a window boundary) and its power over them, into
 * *p; -1 when that power lies below its minimum or the window is short. */
static int dp_slots(const opt_problem_t *pb, int e, double *p)
{
    const opt_equipment_t *q = &pb->eq[e];
    double dt = pb->site.slot_h;
    int n = (int)ceil(q->energy_kwh / (q->p_max_kw * dt) - 1e-9);

    /* fewer slots than the minimum run only as part of a run across a
     * window boundary (dp_end_ok, the starting phase and the pair see to
     * it) */
    if (n < q->min_run && !touches_group(pb, e))
        n = q->min_run;
    *p = q->energy_kwh / (n * dt);
    return *p < q->p_min_kw - 1e-9 || n > q->deadline - q->earliest ? -1 : n;
}

/* The next window of e's equipment after e when it is not placed yet and
 * the recursion can place it: the two are then placed together; -1
 * otherwise. */
static int dp_partner(const opt_problem_t *pb, const opt_plan_t *pl, int e)
{
    int next = -1;

    for (int f = 0; pb->eq[e].group > 0 && f < pb->n_eq; f++)
        if (f != e && pb->eq[f].group == pb->eq[e].group &&
            pb->eq[f].earliest >= pb->eq[e].deadline &&
            (next < 0 || pb->eq[f].earliest < pb->eq[next].earliest))
            next = f;
    return next >= 0 && later_unplaced(pb, pl, e, next, pb->eq[e].deadline) &&
                   dp_fits(&pb->eq[next])
               ? next
               : -1;
}

/* Places pump e, with f (-1 = none) its next window, by the recursion
 * above; -1 when it does not apply or no plan fits. */
static int dp_place(heur_t *h, opt_plan_t *pl, int e, int f)
{
    const opt_equipment_t *q = &h->pb->eq[e];
    const opt_site_t *s = &h->pb->site;
    pump_dp_t d = {.lo = q->earliest, .hi = q->deadline, .end1 = q->deadline,
                   .mid = q->deadline, .f = f,
                   .L = q->min_run > 1 ? q->min_run : 1,
                   .R = q->min_rest > 1 ? q->min_rest : 1,
                   .site = s};
    double *other = NULL;
    int rc = -1;

    if (!dp_fits(q) || (d.n = dp_slots(h->pb, e, &d.p)) < 0)
        return -1;
    if (f >= 0 && (d.n2 = dp_slots(h->pb, f, &d.p2)) < 0)
        return -1;
    if (f >= 0) {
        d.mid = h->pb->eq[f].earliest;
        d.hi = h->pb->eq[f].deadline;
    }
    d.S = q->max_starts_day > 0 ? q->max_starts_day : 0;
    d.np = d.R + d.L + 1;
    d.ns = ((d.n > d.n2 ? d.n : d.n2) + 1) * (d.S + 1) * d.np;
    d.ph0 = d.R;
    d.next = -1;
    d.cost = malloc((size_t)(d.hi - d.lo) * sizeof *d.cost);
    d.cap = malloc((size_t)(d.hi - d.lo) * sizeof *d.cap);
    other = malloc((size_t)s->n_slots * sizeof *other);
    d.v = malloc((size_t)d.ns * sizeof *d.v);
    d.w = malloc((size_t)d.ns * sizeof *d.w);
    d.from = malloc((size_t)(d.hi - d.lo) * d.ns * sizeof *d.from);
    if (d.cost && d.cap && other && d.v && d.w && d.from) {
        dp_costs(h, &d);
        for (int k = 0; k < d.hi - d.lo; k++)
            d.cap[k] = d.S;
        if (group_others(h->pb, pl, e, other))
            dp_fit_group(&d, h->pb, pl, e, other);
        rc = dp_solve(h, &d, pl, e);
    }
    free(d.cost);
    free(d.cap);
    free(other);
    free(d.v);
    free(d.w);
    free(d.from);
    return rc;
}

/* Places a pump by the recursion above, together with its next window
 * when that is not placed yet (else, or when the two find no plan
 * together, alone); -1 when it does not apply. */
static int flex_dp(heur_t *h, opt_plan_t *pl, int e)
{
    int f = dp_partner(h->pb, pl, e);

    if (f >= 0 && dp_place(h, pl, e, f) == 0)
        return 0;
    return dp_place(h, pl, e, -1);
}

static void place_flex(heur_t *h, opt_plan_t *pl, int e)
{
    const opt_equipment_t *q = &h->pb->eq[e];
    int bin = needs_bin(q);
    double done = 0;

    if (bin && h->use_dp && flex_dp(h, pl, e) == 0)
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
    update_peaks(h);
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
        int at = best_window(h, q->earliest, q->deadline - r.d, &r, -1);
        put_block(pb, pl, ord[i], at >= 0 ? at : q->earliest);
        add_load(h, pl, ord[i], 1);
        update_peaks(h);
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
        update_peaks(h);
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
    update_peaks(&h);
    for (int e = 0; e < pb->n_eq; e++) /* a window not placed with the one before */
        if (pb->eq[e].kind == OPT_TASK_FLEX && !draws(pb, pl, e))
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
            update_peaks(&h);
            int at = best_window(&h, q->earliest, q->deadline - r.d, &r, cur);
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

int opt_improve_pumps(const opt_problem_t *pb, opt_plan_t *pl, int max_passes)
{
    heur_t h = {pb, calloc((size_t)pb->site.n_slots, sizeof(double)), {0, 0}, 1, 0};
    int T = pb->site.n_slots, moves = 0, moved = 1;
    double *keep = malloc((size_t)T * sizeof *keep);
    opt_cost_t before, after;

    if (!h.load || !keep)
        goto out;
    for (int pass = 0; pass < max_passes && moved; pass++) {
        moved = 0;
        for (int e = 0; e < pb->n_eq; e++) {
            double *pw = pl->power + (size_t)e * T;
            if (pb->eq[e].kind != OPT_TASK_FLEX || !needs_bin(&pb->eq[e]))
                continue;
            opt_plan_cost(pb, pl, &before);
            for (int t = 0; t < T; t++)
                h.load[t] = opt_site_load(pb, pl, t) - pw[t];
            memcpy(keep, pw, (size_t)T * sizeof *keep);
            memset(pw, 0, (size_t)T * sizeof *pw);
            update_peaks(&h);
            /* alone: the restore below keeps only e's row */
            if (dp_place(&h, pl, e, -1) == 0) {
                opt_plan_finish(pb, pl);
                opt_plan_cost(pb, pl, &after);
                if (after.total_eur < before.total_eur - 1e-9) {
                    moved = 1;
                    moves++;
                    continue;
                }
            }
            memcpy(pw, keep, (size_t)T * sizeof *keep);
            opt_plan_finish(pb, pl);
        }
    }
out:
    free(keep);
    free(h.load);
    return moves;
}
