/*
 * opt_pump: pumps (on/off tasks with run rules) placed by a dynamic
 * programme, for the heuristic (opt_heur.c, through opt_heur_int.h) and
 * for opt_improve_pumps (see opt_pump.h).
 */
#include "schedule-optimizer/opt_pump.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schedule-optimizer/opt_heur_int.h"

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
    int end1;  /* the first window's deadline */
    int mid;   /* first slot of the window placed with it
                * (f), hi when alone */
    int f;     /* that window, -1 = none */
    int n2;    /* slots it runs */
    double p2; /* its power while on */
    int ph0;   /* phase at lo: rest since the group's last run,
                * or the length of its run up to lo - 1, which
                * goes on here or ends (one run: no start) */
    int next;  /* the group's next slot on after hi, -1 = none */
    int tail;  /* slots of the group's run from hi on, 0 = none:
                * a run going on into it is one run with it */
    int *cap;  /* per slot of the window: starts its day has left */
    const opt_site_t *site;
    double p;      /* power while on */
    double *cost;  /* per slot of the window, HUGE_VAL = closed */
    double *v, *w; /* value of each state, this and next slot */
    int *from;     /* (hi - lo) x ns predecessors, -1 = none */
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
            dp_relax(
                d, t, i,
                dp_state(d, k, s,
                         off ? (ph + 1 > d->R ? d->R : ph + 1) : (d->R > 1 ? 1 : d->R)),
                d->v[i]);
        if (k >= (t < d->mid ? d->n : d->n2) || d->cost[t - d->lo] == HUGE_VAL)
            continue;
        if (!off) /* keep running */
            dp_relax(d, t, i,
                     dp_state(d, k + 1, s, d->R + (l + 1 > d->L ? d->L : l + 1)),
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
                      s->demand_eur_kw * fmax(0, g - h->peak[opt_slot_period(s, t)]);
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
    opt_heur_update_peaks(h);
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

/* Whether window f of e's equipment begins at hi or later and is not
 * placed yet (it has energy to deliver and draws nothing in the plan). */
static int later_unplaced(const opt_problem_t *pb, const opt_plan_t *pl, int e, int f,
                          int hi)
{
    const opt_equipment_t *q = &pb->eq[f];

    return f != e && q->group == pb->eq[e].group && q->energy_kwh > 1e-9 &&
           q->earliest >= hi && !opt_heur_draws(pb, pl, f);
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
static void dp_fit_group(pump_dp_t *d, const opt_problem_t *pb, const opt_plan_t *pl,
                         int e, const double *other)
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
    return q->kind == OPT_TASK_FLEX && opt_heur_needs_bin(q) && q->ramp_kw <= 0 &&
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

/* The window of e's equipment that comes next after e's deadline, or -1. */
static int next_window(const opt_problem_t *pb, int e)
{
    int next = -1;

    for (int f = 0; pb->eq[e].group > 0 && f < pb->n_eq; f++)
        if (f != e && pb->eq[f].group == pb->eq[e].group &&
            pb->eq[f].earliest >= pb->eq[e].deadline &&
            (next < 0 || pb->eq[f].earliest < pb->eq[next].earliest))
            next = f;
    return next;
}

/* The next window of e's equipment after e when it is not placed yet and
 * the recursion can place it: the two are then placed together; -1
 * otherwise. */
static int dp_partner(const opt_problem_t *pb, const opt_plan_t *pl, int e)
{
    int next = next_window(pb, e);

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
    pump_dp_t d = {.lo = q->earliest,
                   .hi = q->deadline,
                   .end1 = q->deadline,
                   .mid = q->deadline,
                   .f = f,
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
int opt_pump_place(heur_t *h, opt_plan_t *pl, int e)
{
    int f = dp_partner(h->pb, pl, e);

    if (f >= 0 && dp_place(h, pl, e, f) == 0)
        return 0;
    return dp_place(h, pl, e, -1);
}

/* Re-places pump e, together with f (its next window; -1 = alone), by
 * the recursion against the rest of the plan, keeping the move only when
 * the plan's total cost falls; else the rows are restored from keep (two
 * rows of scratch). Returns 1 when the move is kept. */
static int try_move(heur_t *h, opt_plan_t *pl, int e, int f, double *keep)
{
    const opt_problem_t *pb = h->pb;
    int T = pb->site.n_slots, rows[2] = {e, f}, n = f >= 0 ? 2 : 1;
    opt_cost_t before, after;

    opt_plan_cost(pb, pl, &before);
    for (int t = 0; t < T; t++) {
        h->load[t] = opt_site_load(pb, pl, t);
        for (int i = 0; i < n; i++)
            h->load[t] -= pl->power[(size_t)rows[i] * T + t];
    }
    for (int i = 0; i < n; i++) {
        double *pw = pl->power + (size_t)rows[i] * T;
        memcpy(keep + (size_t)i * T, pw, (size_t)T * sizeof *keep);
        memset(pw, 0, (size_t)T * sizeof *pw);
    }
    opt_heur_update_peaks(h);
    if (dp_place(h, pl, e, f) == 0) {
        opt_plan_finish(pb, pl);
        opt_plan_cost(pb, pl, &after);
        if (after.total_eur < before.total_eur - 1e-9)
            return 1;
    }
    for (int i = 0; i < n; i++)
        memcpy(pl->power + (size_t)rows[i] * T, keep + (size_t)i * T,
               (size_t)T * sizeof *keep);
    opt_plan_finish(pb, pl);
    return 0;
}

/* Each pump is moved alone, then together with its next window (a move of
 * both may pay where neither pays alone: the rest or the day's starts
 * between them pin each to the other). */
int opt_improve_pumps(const opt_problem_t *pb, opt_plan_t *pl, int max_passes)
{
    heur_t h = {pb, calloc((size_t)pb->site.n_slots, sizeof(double)), {0, 0}, 1, 0};
    int moves = 0, moved = 1;
    double *keep = malloc(2 * (size_t)pb->site.n_slots * sizeof *keep);

    if (!h.load || !keep)
        goto out;
    for (int pass = 0; pass < max_passes && moved; pass++) {
        moved = 0;
        for (int e = 0; e < pb->n_eq; e++) {
            if (pb->eq[e].kind != OPT_TASK_FLEX || !opt_heur_needs_bin(&pb->eq[e]))
                continue;
            int f = next_window(pb, e), n = try_move(&h, pl, e, -1, keep);
            if (f >= 0 && dp_fits(&pb->eq[f]))
                n += try_move(&h, pl, e, f, keep);
            moved |= n > 0;
            moves += n;
        }
    }
out:
    free(keep);
    free(h.load);
    return moves;
}
