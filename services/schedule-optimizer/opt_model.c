/*
 * opt_model: builds the MILP in lp_solve and maps its columns back to a plan.
 * See opt_model.h for the formulation.
 */
#include "schedule-optimizer/opt_model.h"

#include <lp_lib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Penalties of the elastic model, far above any price (EUR/kWh ~ 0.05). */
#define PEN_TASK_KWH 10.0
#define PEN_CAP_KW 1000.0

typedef struct eq_cols {
    int s0, ns;      /* block: start columns for slots [lo, lo + ns) */
    int lo;          /* first slot of the columns */
    int p0, u0, y0;  /* flex: power, on, start over [lo, lo + nw) */
    int nw;
    double p_base;   /* flex with on/off: power column holds p - p_base * u */
    int c0, d0, q0;  /* storage: charge, discharge, soc over all slots */
    int z0;          /* storage: 1 = may charge, 0 = may discharge, per slot
                      * (0 = none: no slot where wasting energy pays) */
    int miss;        /* elastic: unmet energy / start / final SOC (0 = none) */
    int cont;        /* a run going on into the next, touching window of the
                      * group: <= u at this window's end and the next's start,
                      * not a start of the machine (0 = none) */
    int short0;      /* elastic: shift shortfall columns (0 = none) */
    int dur;         /* block duration */
    double p_run;    /* block power, */
    double p_last;   /* and in its last slot (less when it stops within) */
} eq_cols_t;

struct opt_model {
    const opt_problem_t *pb;
    lprec *lp;
    int elastic, ncols, nbin;
    int peak;        /* peak column, 0 = none */
    int peak_next;   /* the next billing period's peak column, 0 = none */
    int cap_rows;    /* separate capacity rows used */
    int slack0;      /* elastic: capacity slack columns, one per slot */
    int xslack0;     /* elastic: export slack columns, one per slot (or 0) */
    double obj_const;
    eq_cols_t *ec;
    /* scratch row */
    double *rv;
    int *ri;
    int rn;
    /* ranges to set once row mode is off: row, width */
    int *rr;
    double *rw;
    int nr, cr;
};

/* On means drawing power, as plans and the validator read it: without a
 * floor, u = 1 at 0 kW (power_min_kw 0) would join two runs into one and
 * dodge the minimum rest and the starts per day. 1 W is no cost worth
 * naming and far above the validator's 1e-6 kW. */
#define ON_MIN_KW 1e-3

static int needs_bin(const opt_equipment_t *e)
{
    return e->p_min_kw > 0 || e->min_run > 1 || e->min_rest > 1 ||
           e->max_starts_day > 0 || e->startup_eur > 0;
}

static void row_reset(opt_model_t *m)
{
    m->rn = 0;
}

static void row_put(opt_model_t *m, int col, double v)
{
    m->ri[m->rn] = col;
    m->rv[m->rn++] = v;
}

/* Puts v times a flex task's power in slot lo + k into the row: with on/off
 * binaries the power is p_base * u + w, so the minimum-power row is gone and
 * w <= (p_max - p_base) * u is the only link (no big-M beyond the range). */
static void row_put_flex(opt_model_t *m, const eq_cols_t *c, int k, double v)
{
    row_put(m, c->p0 + k, v);
    if (c->p_base > 0)
        row_put(m, c->u0 + k, v * c->p_base);
}

static int row_add(opt_model_t *m, int type, double rh)
{
    return add_constraintex(m->lp, m->rn, m->rv, m->ri, type, rh) ? 0 : -1;
}

/* Adds lo <= row <= hi (range applied after row mode). */
static int row_add_range(opt_model_t *m, double lo, double hi)
{
    if (m->nr == m->cr) {
        int cap = m->cr ? 2 * m->cr : 256;
        int *rr = realloc(m->rr, (size_t)cap * sizeof *rr);
        double *rw = rr ? realloc(m->rw, (size_t)cap * sizeof *rw) : NULL;
        if (rr)
            m->rr = rr;
        if (!rw)
            return -1;
        m->rw = rw;
        m->cr = cap;
    }
    if (row_add(m, LE, hi) < 0)
        return -1;
    m->rr[m->nr] = get_Nrows(m->lp);
    m->rw[m->nr++] = hi - lo;
    return 0;
}

/* Whether the base load alone exports beyond the site's limit in slot t
 * (solar surplus): the plan must draw the surplus there. */
static int surplus_slot(const opt_site_t *s, int t)
{
    return s->export_cap_kw >= 0 && s->base_kw[t] < -s->export_cap_kw;
}

/* Whether charging and discharging a storage at once could pay in slot t:
 * at a negative price, or where the base load exports beyond the limit,
 * consuming energy earns or is required, and losing it in a storage's
 * round trip does both. A storage cannot do both at once, so there its
 * direction is a binary. At other slots it never pays (ADR 0010, item 4). */
static int waste_slot(const opt_site_t *s, int t)
{
    return opt_slot_price(s, t) < 0 || surplus_slot(s, t);
}

static int any_waste_slot(const opt_site_t *s)
{
    for (int t = 0; t < s->n_slots; t++)
        if (waste_slot(s, t))
            return 1;
    return 0;
}

/* Whether task f is another window of task e's equipment with on/off
 * binaries (both have them: they share their run parameters). */
static int group_mate(const opt_model_t *m, int e, int f)
{
    const opt_equipment_t *q = &m->pb->eq[e];

    return f != e && q->group > 0 && m->pb->eq[f].group == q->group &&
           m->pb->eq[f].kind == OPT_TASK_FLEX && m->ec[f].u0;
}

/* The window of e's group that comes next after e's deadline, or -1. */
static int next_window(const opt_model_t *m, int e)
{
    int best = -1;

    for (int f = 0; f < m->pb->n_eq; f++)
        if (group_mate(m, e, f) && m->pb->eq[f].earliest >= m->pb->eq[e].deadline &&
            (best < 0 || m->pb->eq[f].earliest < m->pb->eq[best].earliest))
            best = f;
    return best;
}

/* Whether the next window of e's group touches it (its earliest is e's
 * deadline) and a start counts (starts per day, minimum run or start-up
 * cost): a run going on across the boundary is one run of the machine,
 * so it needs its continuation column. */
static int touches_next(const opt_model_t *m, int e)
{
    const opt_equipment_t *q = &m->pb->eq[e];
    int f = next_window(m, e);

    return f >= 0 && m->ec[e].u0 && m->pb->eq[f].earliest == q->deadline &&
           (q->max_starts_day > 0 || q->min_run > 1 || q->startup_eur > 0);
}

/* The window of e's group whose run may go on into e (it ends where e
 * begins and has its continuation column), or -1. */
static int prev_touching(const opt_model_t *m, int e)
{
    for (int f = 0; f < m->pb->n_eq; f++)
        if (group_mate(m, e, f) && m->ec[f].cont &&
            m->pb->eq[f].deadline == m->pb->eq[e].earliest)
            return f;
    return -1;
}

/* The end of the run of touching windows from e on: a run started in e
 * may go on up to there. */
static int chain_end(const opt_model_t *m, int e)
{
    while (m->ec[e].cont)
        e = next_window(m, e);
    return m->pb->eq[e].deadline;
}

/* Lays out the columns; returns their count. */
static int layout(opt_model_t *m)
{
    const opt_problem_t *pb = m->pb;
    int T = pb->site.n_slots, n = 0;

    for (int e = 0; e < pb->n_eq; e++) {
        const opt_equipment_t *q = &pb->eq[e];
        eq_cols_t *c = &m->ec[e];
        if (q->kind == OPT_TASK_BLOCK) {
            c->dur = opt_block_duration(pb, q, &c->p_run);
            c->p_last = opt_block_last_kw(pb, q);
            c->lo = q->earliest;
            c->ns = q->deadline - c->dur - q->earliest + 1;
            if (c->ns < 0)
                c->ns = 0;
            c->s0 = n + 1;
            n += c->ns;
            m->nbin += c->ns;
        } else if (q->kind == OPT_TASK_FLEX) {
            c->lo = q->earliest;
            c->nw = q->deadline - q->earliest;
            c->p0 = n + 1;
            n += c->nw;
            if (needs_bin(q)) {
                c->p_base = q->p_min_kw > ON_MIN_KW ? q->p_min_kw : ON_MIN_KW;
                c->u0 = n + 1;
                c->y0 = n + 1 + c->nw;
                n += 2 * c->nw;
                m->nbin += c->nw;
            }
            if (m->elastic && q->n_shifts > 0) {
                c->short0 = n + 1;
                n += q->n_shifts;
            }
        } else {
            c->c0 = n + 1;
            c->d0 = n + 1 + T;
            c->q0 = n + 1 + 2 * T;
            n += 3 * T;
            if (q->charge_max_kw > 0 && q->discharge_max_kw > 0 &&
                any_waste_slot(&pb->site)) {
                c->z0 = n + 1;
                n += T;
                m->nbin += T;
            }
        }
        if (m->elastic)
            c->miss = ++n;
    }
    if (pb->site.demand_eur_kw > 0) {
        m->peak = ++n;
        if (pb->site.next_period_slot > 0)
            m->peak_next = ++n;
    }
    /* the peak columns' upper bound stands for the capacity rows unless a
     * floor already lies above the capacity */
    m->cap_rows = !m->peak || m->elastic ||
                  pb->site.peak_so_far_kw > pb->site.import_cap_kw ||
                  pb->site.next_peak_so_far_kw > pb->site.import_cap_kw;
    if (m->elastic) {
        m->slack0 = n + 1;
        n += T;
        if (pb->site.export_cap_kw >= 0) {
            m->xslack0 = n + 1;
            n += T;
        }
    }
    for (int e = 0; e < pb->n_eq; e++)
        if (pb->eq[e].kind == OPT_TASK_FLEX && touches_next(m, e))
            m->ec[e].cont = ++n;
    return n;
}

static void name_col(lprec *lp, int col, char k, int e, int t)
{
    char nm[24];

    snprintf(nm, sizeof nm, "%c%d_%d", k, e, t);
    set_col_name(lp, col, nm);
}

/* Upper bound of on/off binary k of flex task e: 0 where a ramp below the
 * minimum power forbids running at the window's edge, else 1. */
static double u_ub(const opt_model_t *m, int e, int k)
{
    const opt_equipment_t *q = &m->pb->eq[e];
    const eq_cols_t *c = &m->ec[e];

    return q->ramp_kw > 0 && (k == 0 || k == c->nw - 1) &&
                   q->ramp_kw < c->p_base
               ? 0
               : 1;
}

/* Upper bound of start k of flex task e: no start that could not complete
 * its minimum run by the deadline, or by the end of the touching windows
 * its run may go on into. */
static double y_ub(const opt_model_t *m, int e, int k)
{
    const opt_equipment_t *q = &m->pb->eq[e];

    if (k == 0 && prev_touching(m, e) >= 0)
        return 1; /* it may go on with the run before (rows_continuation) */
    return q->min_run > 1 && m->ec[e].lo + k + q->min_run > chain_end(m, e) ? 0 : 1;
}

/* Bounds, integrality, names and objective of one equipment's columns. */
/* A block's power in slot k of its run. */
static double block_kw(const eq_cols_t *c, int k)
{
    return k == c->dur - 1 ? c->p_last : c->p_run;
}

static void cols_task(opt_model_t *m, int e, double *obj)
{
    const opt_site_t *s = &m->pb->site;
    const opt_equipment_t *q = &m->pb->eq[e];
    eq_cols_t *c = &m->ec[e];
    double dt = s->slot_h;

    for (int k = 0; k < c->ns; k++) {
        int col = c->s0 + k;
        double v = q->startup_eur;
        for (int j = 0; j < c->dur; j++)
            v += opt_slot_price(s, c->lo + k + j) * block_kw(c, j) * dt / 1000.0;
        obj[col] = v;
        set_binary(m->lp, col, TRUE);
        name_col(m->lp, col, 's', e, c->lo + k);
    }
    for (int k = 0; k < c->nw; k++) {
        int t = c->lo + k, col = c->p0 + k;
        double ub = q->p_max_kw, pr = opt_slot_price(s, t) * dt / 1000.0;
        obj[col] = pr;
        if (q->ramp_kw > 0 && (k == 0 || k == c->nw - 1) && q->ramp_kw < ub)
            ub = q->ramp_kw;
        set_bounds(m->lp, col, 0, ub - c->p_base > 0 ? ub - c->p_base : 0);
        name_col(m->lp, col, c->p_base > 0 ? 'w' : 'p', e, t);
        if (!c->u0)
            continue;
        set_binary(m->lp, c->u0 + k, TRUE);
        obj[c->u0 + k] = pr * c->p_base;
        if (ub < c->p_base) /* the ramp forbids running in this slot */
            set_bounds(m->lp, c->u0 + k, 0, u_ub(m, e, k));
        name_col(m->lp, c->u0 + k, 'u', e, t);
        /* no start that could not complete its minimum run by the deadline */
        set_bounds(m->lp, c->y0 + k, 0, y_ub(m, e, k));
        obj[c->y0 + k] = q->startup_eur;
        name_col(m->lp, c->y0 + k, 'y', e, t);
    }
}

static void cols_storage(opt_model_t *m, int e, double *obj)
{
    const opt_site_t *s = &m->pb->site;
    const opt_equipment_t *q = &m->pb->eq[e];
    eq_cols_t *c = &m->ec[e];
    int T = s->n_slots;

    for (int t = 0; t < T; t++) {
        double pr = opt_slot_price(s, t) * s->slot_h / 1000.0;
        double lo = q->soc_min_kwh;
        if (t == T - 1 && !m->elastic && q->soc0_kwh > lo)
            lo = q->soc0_kwh;
        obj[c->c0 + t] = pr;
        obj[c->d0 + t] = -pr;
        set_bounds(m->lp, c->c0 + t, 0, q->charge_max_kw);
        set_bounds(m->lp, c->d0 + t, 0, q->discharge_max_kw);
        set_bounds(m->lp, c->q0 + t, lo, q->soc_max_kwh);
        name_col(m->lp, c->c0 + t, 'c', e, t);
        name_col(m->lp, c->d0 + t, 'd', e, t);
        name_col(m->lp, c->q0 + t, 'q', e, t);
        if (!c->z0)
            continue;
        set_binary(m->lp, c->z0 + t, TRUE);
        set_bounds(m->lp, c->z0 + t, 0, waste_slot(s, t));
        name_col(m->lp, c->z0 + t, 'v', e, t);
    }
}

static void cols_all(opt_model_t *m, double *obj)
{
    const opt_site_t *s = &m->pb->site;

    for (int e = 0; e < m->pb->n_eq; e++) {
        const opt_equipment_t *q = &m->pb->eq[e];
        eq_cols_t *c = &m->ec[e];
        if (q->kind == OPT_STORAGE)
            cols_storage(m, e, obj);
        else
            cols_task(m, e, obj);
        for (int k = 0; c->short0 && k < q->n_shifts; k++)
            obj[c->short0 + k] = PEN_TASK_KWH * q->specific_kwh;
        if (c->cont) {
            /* the next window's start that goes on with this run is not
             * one of the machine: its start-up cost is credited back */
            set_bounds(m->lp, c->cont, 0, 1);
            obj[c->cont] = -m->pb->eq[next_window(m, e)].startup_eur;
            name_col(m->lp, c->cont, 'k', e, q->deadline);
        }
        if (c->miss) {
            double ub = q->kind == OPT_TASK_BLOCK ? 1
                        : q->kind == OPT_STORAGE  ? q->soc0_kwh
                                                  : q->energy_kwh;
            set_bounds(m->lp, c->miss, 0, ub);
            obj[c->miss] = PEN_TASK_KWH *
                           (q->kind == OPT_TASK_BLOCK ? q->energy_kwh : 1.0);
            name_col(m->lp, c->miss, 'm', e, 0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int col = k ? m->peak_next : m->peak;
        if (!col)
            continue;
        set_bounds(m->lp, col, opt_period_floor(s, k),
                   m->cap_rows ? 1e30 : s->import_cap_kw);
        obj[col] = s->demand_eur_kw;
        set_col_name(m->lp, col, k ? "peak_next" : "peak");
    }
    for (int t = 0; m->slack0 && t < s->n_slots; t++) {
        obj[m->slack0 + t] = PEN_CAP_KW;
        name_col(m->lp, m->slack0 + t, 'x', 0, t);
    }
    for (int t = 0; m->xslack0 && t < s->n_slots; t++) {
        obj[m->xslack0 + t] = PEN_CAP_KW;
        name_col(m->lp, m->xslack0 + t, 'z', 0, t);
    }
}

/* Puts slot t's flexible load (kW) of every equipment into the row. */
static void put_site_load(opt_model_t *m, int t)
{
    for (int e = 0; e < m->pb->n_eq; e++) {
        const eq_cols_t *c = &m->ec[e];
        if (m->pb->eq[e].kind == OPT_TASK_BLOCK) {
            int a = t - c->dur + 1 - c->lo, b = t - c->lo;
            if (a < 0)
                a = 0;
            if (b > c->ns - 1)
                b = c->ns - 1;
            for (int k = a; k <= b; k++)
                row_put(m, c->s0 + k, block_kw(c, t - c->lo - k));
        } else if (m->pb->eq[e].kind == OPT_TASK_FLEX) {
            if (t >= c->lo && t < c->lo + c->nw)
                row_put_flex(m, c, t - c->lo, 1);
        } else {
            row_put(m, c->c0 + t, 1);
            row_put(m, c->d0 + t, -1);
        }
    }
}

static int has_storage(const opt_problem_t *pb)
{
    for (int e = 0; e < pb->n_eq; e++)
        if (pb->eq[e].kind == OPT_STORAGE)
            return 1;
    return 0;
}

/* Whether slot t needs the export bound: storage may export in any slot;
 * without it flexible loads only draw, so the bound can bind only where the
 * base load alone exports beyond the limit (solar), and there the plan
 * must draw the surplus or the constraints cannot all hold. */
static int export_row(const opt_site_t *s, int stor, int t)
{
    return s->export_cap_kw >= 0 && (stor || surplus_slot(s, t));
}

static int rows_site(opt_model_t *m)
{
    const opt_site_t *s = &m->pb->site;
    int stor = has_storage(m->pb);

    for (int t = 0; t < s->n_slots; t++) {
        if (m->peak) {
            row_reset(m);
            put_site_load(m, t);
            row_put(m, m->peak_next && opt_slot_period(s, t) ? m->peak_next
                                                             : m->peak,
                    -1);
            if (row_add(m, LE, -s->base_kw[t]) < 0)
                return -1;
        }
        int exp = export_row(s, stor, t);
        if (!m->cap_rows && !exp)
            continue;
        row_reset(m);
        put_site_load(m, t);
        if (m->slack0)
            row_put(m, m->slack0 + t, -1);
        if (m->xslack0 && exp)
            row_put(m, m->xslack0 + t, 1);
        double hi = s->import_cap_kw - s->base_kw[t];
        double lo = -s->export_cap_kw - s->base_kw[t];
        int r;
        if (!exp)
            r = row_add(m, LE, hi);
        else if (!m->cap_rows)
            r = row_add(m, GE, lo);
        else
            r = row_add_range(m, lo, hi);
        if (r < 0)
            return -1;
    }
    return 0;
}

static int rows_block(opt_model_t *m, int e)
{
    const eq_cols_t *c = &m->ec[e];

    row_reset(m);
    for (int k = 0; k < c->ns; k++)
        row_put(m, c->s0 + k, 1);
    if (c->miss)
        row_put(m, c->miss, 1);
    return row_add(m, EQ, 1);
}

/* Minimum rest R: on in slot k - R, no start in (k - R, k] (two starts
 * there rest too little as well); starts past the window's end are none. */
static int row_rest(opt_model_t *m, const opt_equipment_t *q, const eq_cols_t *c,
                    int k)
{
    int R = q->min_rest;

    row_reset(m);
    for (int j = k - R + 1; j <= k && j < c->nw; j++)
        row_put(m, c->y0 + j, 1);
    row_put(m, c->u0 + k - R, 1);
    return row_add(m, LE, 1);
}

/* With the row at k = R, the rows inside the window also forbid on, off
 * and on again near its end (the run holding the first on starts within R
 * of the second start, or is on R slots before it). A window of R slots or
 * fewer has no such row: it gets the rows that end past it (k up to
 * nw + R - 2). */
static int rows_rest_short(opt_model_t *m, const opt_equipment_t *q,
                           const eq_cols_t *c)
{
    int R = q->min_rest;

    for (int k = R; R > 1 && c->nw <= R && k <= c->nw + R - 2; k++)
        if (row_rest(m, q, c, k) < 0)
            return -1;
    return 0;
}

/* Puts the starts of task f in slots [a, b] (clipped to its window). */
static void put_starts(opt_model_t *m, int f, int a, int b)
{
    const eq_cols_t *c = &m->ec[f];

    for (int t = a > c->lo ? a : c->lo; t <= b && t < c->lo + c->nw; t++)
        row_put(m, c->y0 + t - c->lo, 1);
}

/* Puts the starts of the machine in slots [t - L + 1, t] (L = minimum
 * run) for a minimum-run row of window e: e's own, and where the range
 * reaches back into touching windows, theirs, less each continuation at a
 * boundary inside it (that window's start goes on with the run before). */
static void put_run_starts(opt_model_t *m, int e, int t)
{
    int from = t - m->pb->eq[e].min_run + 1;

    for (int f = e; f >= 0;) {
        put_starts(m, f, from, t);
        int p = m->ec[f].lo >= from ? prev_touching(m, f) : -1;
        if (p >= 0)
            row_put(m, m->ec[p].cont, -1);
        f = m->ec[f].lo > from ? p : -1;
    }
}

static int rows_flex_bin(opt_model_t *m, int e)
{
    const opt_equipment_t *q = &m->pb->eq[e];
    const eq_cols_t *c = &m->ec[e];

    for (int k = 0; k < c->nw; k++) {
        row_reset(m);
        row_put(m, c->p0 + k, 1);
        row_put(m, c->u0 + k, -(q->p_max_kw - c->p_base));
        if (row_add(m, LE, 0) < 0)
            return -1;
        row_reset(m);
        row_put(m, c->y0 + k, 1);
        row_put(m, c->u0 + k, -1);
        if (k > 0)
            row_put(m, c->u0 + k - 1, 1);
        if (row_add(m, GE, 0) < 0)
            return -1;
        if (q->min_run > 1) {
            row_reset(m);
            put_run_starts(m, e, c->lo + k);
            row_put(m, c->u0 + k, -1);
            if (row_add(m, LE, 0) < 0)
                return -1;
        }
        if (q->min_rest > 1 && k >= q->min_rest && row_rest(m, q, c, k) < 0)
            return -1;
    }
    if (rows_rest_short(m, q, c) < 0)
        return -1;
    /* Energy to deliver needs the equipment on in some slot, and the first
     * slot on is a start: at least one start (valid for every integer
     * plan; the relaxation otherwise pays a fraction of one start-up,
     * spreading u thinly over the window). In elastic mode the unmet
     * energy may stand in for it. */
    if (q->energy_kwh > 0) {
        row_reset(m);
        for (int k = 0; k < c->nw; k++)
            row_put(m, c->y0 + k, 1);
        if (c->miss)
            row_put(m, c->miss, 1.0 / q->energy_kwh);
        if (row_add(m, GE, 1) < 0)
            return -1;
    }
    if (q->max_starts_day <= 0 || q->group > 0)
        return 0; /* a group's days: rows_group */
    /* one row per site-local day the window touches */
    for (int k0 = 0; k0 < c->nw;) {
        int day = opt_slot_day(&m->pb->site, c->lo + k0), k = k0;
        row_reset(m);
        for (; k < c->nw && opt_slot_day(&m->pb->site, c->lo + k) == day; k++)
            row_put(m, c->y0 + k, 1);
        if (row_add(m, LE, q->max_starts_day) < 0)
            return -1;
        k0 = k;
    }
    return 0;
}

/* Starts per site-local day of a group of windows, written by its first
 * task: one row per day over the starts of every window in it. */
static int rows_group_days(opt_model_t *m, int e)
{
    const opt_site_t *s = &m->pb->site;

    for (int f = 0; f < e; f++)
        if (group_mate(m, e, f))
            return 0;
    for (int t0 = 0; t0 < s->n_slots;) {
        int t1 = t0;
        while (t1 < s->n_slots && opt_slot_day(s, t1) == opt_slot_day(s, t0))
            t1++;
        row_reset(m);
        for (int f = 0; f < m->pb->n_eq; f++)
            if (f == e || group_mate(m, e, f)) {
                put_starts(m, f, t0, t1 - 1);
                /* the next window's start at f's deadline that goes on
                 * with f's run is not one of the machine */
                int d = m->pb->eq[f].deadline;
                if (m->ec[f].cont && d >= t0 && d < t1)
                    row_put(m, m->ec[f].cont, -1);
            }
        if (m->rn > 0 && row_add(m, LE, m->pb->eq[e].max_starts_day) < 0)
            return -1;
        t0 = t1;
    }
    return 0;
}

/* Minimum rest R from window e = [a1, b1) to the next window f = [a2, b2)
 * of its group (ADR 0010, item 15): being on in slot s forbids a start of
 * f up to slot s + R. When the windows touch (a2 == b1) a run may go on
 * across the boundary; f's first slot on then counts as its start, so
 * u1[b1 - 1] releases the row for the earlier slots and slot b1 - 1 only
 * forbids restarts after a2. */
static int rows_group_rest(opt_model_t *m, int e)
{
    const eq_cols_t *c1 = &m->ec[e];
    int R = m->pb->eq[e].min_rest, f = next_window(m, e);
    int a1 = c1->lo, b1 = c1->lo + c1->nw;

    if (R <= 1 || f < 0)
        return 0;
    const eq_cols_t *c2 = &m->ec[f];
    int a2 = c2->lo, b2 = c2->lo + c2->nw;
    if (a2 - b1 >= R)
        return 0;
    for (int s = a2 - R > a1 ? a2 - R : a1; s < b1; s++) {
        int last = s + R < b2 - 1 ? s + R : b2 - 1;
        row_reset(m);
        row_put(m, c1->u0 + s - a1, 1);
        if (a2 == b1 && s < b1 - 1)
            row_put(m, c1->u0 + b1 - 1 - a1, -1);
        put_starts(m, f, a2 == b1 && s == b1 - 1 ? a2 + 1 : a2, last);
        if (m->rn > 1 && row_add(m, LE, 1) < 0)
            return -1;
    }
    return 0;
}

/* The continuation of e's last run into the next window: at most e on in
 * its last slot and the next window on in its first (so at most their
 * product: the day row, the minimum-run rows and the start-up cost take
 * it off the starts only when both are on). Where a run starting at the
 * next window's first slot could not complete its minimum run, the next
 * window's first slot on must be that continuation. */
static int rows_continuation(opt_model_t *m, int e)
{
    int f = next_window(m, e), L = m->pb->eq[f].min_run;
    const eq_cols_t *c1 = &m->ec[e], *c2 = &m->ec[f];

    if (L > 1 && c2->lo + L > chain_end(m, f)) {
        row_reset(m);
        row_put(m, c2->y0, 1);
        row_put(m, c1->cont, -1);
        if (row_add(m, LE, 0) < 0)
            return -1;
    }

    row_reset(m);
    row_put(m, c1->cont, 1);
    row_put(m, c1->u0 + c1->nw - 1, -1);
    if (row_add(m, LE, 0) < 0)
        return -1;
    row_reset(m);
    row_put(m, c1->cont, 1);
    row_put(m, c2->u0, -1);
    return row_add(m, LE, 0);
}

/* Rows across the windows of one equipment. In elastic mode they need no
 * slack: every window may stay off (its unmet energy and shortfall take
 * the slack), and off satisfies them. */
static int rows_group(opt_model_t *m, int e)
{
    const opt_equipment_t *q = &m->pb->eq[e];

    if (q->group <= 0 || !m->ec[e].u0)
        return 0;
    if (q->max_starts_day > 0 && rows_group_days(m, e) < 0)
        return -1;
    if (m->ec[e].cont && rows_continuation(m, e) < 0)
        return -1;
    return rows_group_rest(m, e);
}

static int rows_flex(opt_model_t *m, int e)
{
    const opt_equipment_t *q = &m->pb->eq[e];
    const eq_cols_t *c = &m->ec[e];
    double dt = m->pb->site.slot_h;

    if (q->energy_kwh > 0) {
        row_reset(m);
        for (int k = 0; k < c->nw; k++)
            row_put_flex(m, c, k, dt);
        if (c->miss)
            row_put(m, c->miss, 1);
        if (row_add(m, EQ, q->energy_kwh) < 0)
            return -1;
    }
    for (int h = 0; h < q->n_shifts; h++) {
        const opt_shift_t *sh = &q->shifts[h];
        row_reset(m);
        for (int k = 0; k < c->nw; k++)
            if (c->lo + k >= sh->start && c->lo + k < sh->end)
                row_put_flex(m, c, k, dt / q->specific_kwh);
        if (c->short0)
            row_put(m, c->short0 + h, 1);
        if (row_add(m, GE, sh->min_output) < 0)
            return -1;
    }
    for (int k = 1; q->ramp_kw > 0 && k < c->nw; k++) {
        row_reset(m);
        row_put_flex(m, c, k, 1);
        row_put_flex(m, c, k - 1, -1);
        if (row_add_range(m, -q->ramp_kw, q->ramp_kw) < 0)
            return -1;
    }
    if (c->u0 && rows_flex_bin(m, e) < 0)
        return -1;
    return rows_group(m, e);
}

static int rows_storage(opt_model_t *m, int e)
{
    const opt_equipment_t *q = &m->pb->eq[e];
    const eq_cols_t *c = &m->ec[e];
    double dt = m->pb->site.slot_h, keep = 1.0 - q->loss_per_slot;
    int T = m->pb->site.n_slots;

    for (int t = 0; t < T; t++) {
        row_reset(m);
        row_put(m, c->q0 + t, 1);
        if (t > 0)
            row_put(m, c->q0 + t - 1, -keep);
        row_put(m, c->c0 + t, -q->eta_charge * dt);
        row_put(m, c->d0 + t, dt / q->eta_discharge);
        if (row_add(m, EQ, (t == 0 ? keep * q->soc0_kwh : 0) - q->draw_kw * dt) < 0)
            return -1;
    }
    /* one direction per slot where wasting energy pays:
     * charge <= cmax * z, discharge <= dmax * (1 - z) */
    for (int t = 0; c->z0 && t < T; t++) {
        if (!waste_slot(&m->pb->site, t))
            continue;
        row_reset(m);
        row_put(m, c->c0 + t, 1);
        row_put(m, c->z0 + t, -q->charge_max_kw);
        if (row_add(m, LE, 0) < 0)
            return -1;
        row_reset(m);
        row_put(m, c->d0 + t, 1);
        row_put(m, c->z0 + t, q->discharge_max_kw);
        if (row_add(m, LE, q->discharge_max_kw) < 0)
            return -1;
    }
    /* ramp on the net power (charge - discharge) between slots; the power
     * before the horizon is not known, so slot 0 is free */
    for (int t = 1; q->ramp_kw > 0 && t < T; t++) {
        row_reset(m);
        row_put(m, c->c0 + t, 1);
        row_put(m, c->d0 + t, -1);
        row_put(m, c->c0 + t - 1, -1);
        row_put(m, c->d0 + t - 1, 1);
        if (row_add_range(m, -q->ramp_kw, q->ramp_kw) < 0)
            return -1;
    }
    if (!c->miss)
        return 0;
    row_reset(m);
    row_put(m, c->q0 + T - 1, 1);
    row_put(m, c->miss, 1);
    return row_add(m, GE, q->soc0_kwh);
}

static int build(opt_model_t *m)
{
    const opt_site_t *s = &m->pb->site;
    double *obj = calloc((size_t)m->ncols + 1, sizeof *obj);
    int rc = -1;

    if (!obj)
        return -1;
    cols_all(m, obj);
    for (int i = 1; i <= m->ncols; i++)
        m->ri[i - 1] = i;
    set_obj_fnex(m->lp, m->ncols, obj + 1, m->ri);
    set_minim(m->lp);
    set_add_rowmode(m->lp, TRUE);
    if (rows_site(m) < 0)
        goto out;
    for (int e = 0; e < m->pb->n_eq; e++) {
        opt_kind_t k = m->pb->eq[e].kind;
        int r = k == OPT_TASK_BLOCK ? rows_block(m, e)
                : k == OPT_TASK_FLEX ? rows_flex(m, e)
                                     : rows_storage(m, e);
        if (r < 0)
            goto out;
    }
    set_add_rowmode(m->lp, FALSE);
    for (int i = 0; i < m->nr; i++)
        set_rh_range(m->lp, m->rr[i], m->rw[i]);
    for (int t = 0; t < s->n_slots; t++)
        m->obj_const += opt_slot_price(s, t) * s->base_kw[t] * s->slot_h / 1000.0;
    rc = 0;
out:
    free(obj);
    return rc;
}

opt_model_t *opt_model_new(const opt_problem_t *pb, int elastic, char *errstr,
                           size_t errstr_size)
{
    opt_model_t *m = calloc(1, sizeof *m);

    if (!m)
        goto nomem;
    m->pb = pb;
    m->elastic = elastic;
    m->ec = calloc((size_t)(pb->n_eq > 0 ? pb->n_eq : 1), sizeof *m->ec);
    if (!m->ec)
        goto nomem;
    m->ncols = layout(m);
    m->rv = malloc(((size_t)m->ncols + 1) * sizeof *m->rv);
    m->ri = malloc(((size_t)m->ncols + 1) * sizeof *m->ri);
    m->lp = make_lp(0, m->ncols);
    if (!m->rv || !m->ri || !m->lp)
        goto nomem;
    set_verbose(m->lp, NEUTRAL);
    /* With the default solution limit 1, lp_solve's branch and bound
     * guesses the smallest step between integer objective values from the
     * coefficients (MIP_stepOF) and prunes nodes that cannot beat the
     * incumbent by that step; with block tasks and a peak column the guess
     * is wrong and it called a plan 0.5 EUR above the optimum "optimal"
     * (unit test test_branch_direction_same_optimum, ADR 0010 item 12).
     * Any other limit turns the guess off. */
    set_solutionlimit(m->lp, 2);
    if (build(m) < 0) {
        snprintf(errstr, errstr_size, "lp_solve refused the model (%d columns)",
                 m->ncols);
        opt_model_destroy(m);
        return NULL;
    }
    return m;
nomem:
    snprintf(errstr, errstr_size, "out of memory building the model");
    opt_model_destroy(m);
    return NULL;
}

void opt_model_destroy(opt_model_t *m)
{
    if (!m)
        return;
    if (m->lp)
        delete_lp(m->lp);
    free(m->ec);
    free(m->rv);
    free(m->ri);
    free(m->rr);
    free(m->rw);
    free(m);
}

opt_lprec_t *opt_model_lp(opt_model_t *m)
{
    return m->lp;
}

int opt_model_n_binaries(const opt_model_t *m)
{
    return m->nbin;
}

double opt_model_obj_const(const opt_model_t *m)
{
    return m->obj_const;
}

static void for_each_binary(opt_model_t *m, void (*fn)(opt_model_t *, int, int))
{
    for (int e = 0; e < m->pb->n_eq; e++) {
        const eq_cols_t *c = &m->ec[e];
        for (int k = 0; k < c->ns; k++)
            fn(m, c->s0 + k, e);
        for (int k = 0; c->u0 && k < c->nw; k++)
            fn(m, c->u0 + k, e);
        for (int t = 0; c->z0 && t < m->pb->site.n_slots; t++)
            fn(m, c->z0 + t, e);
    }
}

static void set_relaxed_col(opt_model_t *m, int col, int e)
{
    (void)e;
    set_int(m->lp, col, FALSE);
}

static void set_int_col(opt_model_t *m, int col, int e)
{
    (void)e;
    set_int(m->lp, col, TRUE);
}

/* Restores the bounds of equipment e's binaries. */
static void unfix_eq(opt_model_t *m, int e)
{
    const eq_cols_t *c = &m->ec[e];

    for (int k = 0; k < c->ns; k++)
        set_bounds(m->lp, c->s0 + k, 0, 1);
    for (int k = 0; c->u0 && k < c->nw; k++) {
        set_bounds(m->lp, c->u0 + k, 0, u_ub(m, e, k));
        set_bounds(m->lp, c->y0 + k, 0, y_ub(m, e, k));
    }
    for (int t = 0; c->z0 && t < m->pb->site.n_slots; t++)
        set_bounds(m->lp, c->z0 + t, 0, waste_slot(&m->pb->site, t));
}

void opt_model_set_relaxed(opt_model_t *m, int relaxed)
{
    for_each_binary(m, relaxed ? set_relaxed_col : set_int_col);
}

void opt_model_unfix(opt_model_t *m)
{
    for (int e = 0; e < m->pb->n_eq; e++)
        unfix_eq(m, e);
}

/* Fixes col to v unless xlp (may be NULL) disagrees with v. */
static void fix_col(opt_model_t *m, int col, int v, const double *xlp)
{
    if (xlp && fabs(xlp[col - 1] - v) > 1e-6)
        set_bounds(m->lp, col, 0, 1);
    else
        set_bounds(m->lp, col, v, v);
}

void opt_model_fix_agreeing(opt_model_t *m, const opt_plan_t *pl,
                            const double *xlp)
{
    int T = m->pb->site.n_slots;

    for (int e = 0; e < m->pb->n_eq; e++) {
        const eq_cols_t *c = &m->ec[e];
        const unsigned char *on = pl->on + (size_t)e * T;
        for (int k = 0; k < c->ns; k++) {
            int t = c->lo + k;
            fix_col(m, c->s0 + k, on[t] && (t == 0 || !on[t - 1]), xlp);
        }
        for (int k = 0; c->u0 && k < c->nw; k++)
            fix_col(m, c->u0 + k, on[c->lo + k], xlp);
        /* a storage's direction where the plan moves energy; idle slots
         * stay free (either direction holds zero) */
        for (int t = 0; c->z0 && t < T; t++) {
            double ch = pl->charge[(size_t)e * T + t], dis = pl->discharge[(size_t)e * T + t];
            if (waste_slot(&m->pb->site, t) && (ch > 1e-9 || dis > 1e-9))
                fix_col(m, c->z0 + t, ch > 1e-9, xlp);
        }
        /* with every on/off fixed the starts follow; fixing them lets
         * presolve drop the run and rest rows */
        for (int k = 0; !xlp && c->u0 && k < c->nw; k++) {
            int y = on[c->lo + k] && (k == 0 || !on[c->lo + k - 1]);
            set_bounds(m->lp, c->y0 + k, y, y);
        }
    }
}

void opt_model_fix_to_plan(opt_model_t *m, const opt_plan_t *pl)
{
    opt_model_fix_agreeing(m, pl, NULL);
}

/* Fixes a block's starts to its heaviest one or to none (see opt_round_t):
 * "mostly" follows the LP where it mostly runs the task, "whole" gives the
 * task up wherever the LP split or shrank it, rather than loading slots the
 * LP kept free. */
static void fix_block_rounded(opt_model_t *m, const eq_cols_t *c, const double *xlp,
                              opt_round_t rule)
{
    double sum = 0, best = -1;
    int at = -1, run;

    for (int k = 0; k < c->ns; k++) {
        double w = xlp[c->s0 + k - 1];
        sum += w;
        if (w > best) {
            best = w;
            at = k;
        }
    }
    run = rule == OPT_ROUND_WHOLE ? best > 1 - 1e-6 : sum > 0.5;
    for (int k = 0; k < c->ns; k++) {
        int v = run && k == at;
        set_bounds(m->lp, c->s0 + k, v, v);
    }
}

void opt_model_fix_rounded(opt_model_t *m, const double *xlp, opt_round_t rule,
                           const opt_plan_t *pl)
{
    opt_model_fix_agreeing(m, pl, NULL);
    for (int e = 0; e < m->pb->n_eq; e++) {
        const eq_cols_t *c = &m->ec[e];
        fix_block_rounded(m, c, xlp, rule);
        for (int t = 0; c->z0 && t < m->pb->site.n_slots; t++) {
            int v = xlp[c->c0 + t - 1] > xlp[c->d0 + t - 1];
            if (waste_slot(&m->pb->site, t))
                set_bounds(m->lp, c->z0 + t, v, v);
        }
    }
}

void opt_model_fix_except(opt_model_t *m, const opt_plan_t *pl,
                          const unsigned char *free_eq)
{
    opt_model_fix_agreeing(m, pl, NULL);
    for (int e = 0; e < m->pb->n_eq; e++)
        if (free_eq[e])
            unfix_eq(m, e);
}

static void extract_block(const opt_model_t *m, int e, const double *x,
                          opt_plan_t *pl)
{
    const eq_cols_t *c = &m->ec[e];
    double best = 0.5;
    int at = -1;
    double *pw = pl->power + (size_t)e * m->pb->site.n_slots;

    for (int k = 0; k < c->ns; k++)
        if (x[c->s0 + k - 1] > best) {
            best = x[c->s0 + k - 1];
            at = c->lo + k;
        }
    for (int t = at; at >= 0 && t < at + c->dur; t++)
        pw[t] = block_kw(c, t - at);
}

void opt_model_extract(const opt_model_t *m, const double *x, opt_plan_t *pl)
{
    int T = m->pb->site.n_slots;
    size_t n = (size_t)m->pb->n_eq * T;

    memset(pl->power, 0, n * sizeof(double));
    memset(pl->charge, 0, n * sizeof(double));
    memset(pl->discharge, 0, n * sizeof(double));
    memset(pl->soc, 0, n * sizeof(double));
    for (int e = 0; e < m->pb->n_eq; e++) {
        const eq_cols_t *c = &m->ec[e];
        size_t o = (size_t)e * T;
        if (m->pb->eq[e].kind == OPT_TASK_BLOCK) {
            extract_block(m, e, x, pl);
            continue;
        }
        for (int k = 0; k < c->nw; k++)
            pl->power[o + c->lo + k] =
                x[c->p0 + k - 1] +
                (c->p_base > 0 ? c->p_base * x[c->u0 + k - 1] : 0);
        for (int t = 0; m->pb->eq[e].kind == OPT_STORAGE && t < T; t++) {
            double ch = x[c->c0 + t - 1], dis = x[c->d0 + t - 1];
            const opt_equipment_t *q = &m->pb->eq[e];
            /* Outside the slots with a direction binary a solution may
             * still hold both flows where they cost nothing (a lossless
             * store, a zero price): netted out with the same state of
             * charge (a kWh less charged is eta_c * eta_d kWh less to
             * discharge), since a storage cannot do both at once. */
            if (ch > 0 && dis > 0 && !waste_slot(&m->pb->site, t)) {
                double k = q->eta_charge * q->eta_discharge;
                double a = k > 0 ? fmin(ch, dis / k) : 0;
                ch = ch - a > 1e-12 ? ch - a : 0;
                dis = dis - k * a > 1e-12 ? dis - k * a : 0;
            }
            pl->charge[o + t] = ch;
            pl->discharge[o + t] = dis;
            pl->soc[o + t] = x[c->q0 + t - 1];
        }
    }
    opt_plan_finish(m->pb, pl);
}

static void explain_eq(const opt_model_t *m, int e, const double *x,
                       opt_msgs_t *out, int *n)
{
    const opt_equipment_t *q = &m->pb->eq[e];
    const eq_cols_t *c = &m->ec[e];
    double cap = m->pb->site.import_cap_kw;
    double miss = c->miss ? x[c->miss - 1] : 0;

    if (miss > 1e-6 && q->kind == OPT_TASK_BLOCK && c->ns <= 0) {
        opt_msgs_add(out, "task %s cannot meet its deadline: it needs %d "
                     "slots at %g kW but its window [%d, %d) has %d",
                     q->name, c->dur, c->p_run, q->earliest, q->deadline,
                     q->deadline - q->earliest);
        (*n)++;
    } else if (miss > 1e-6 && q->kind == OPT_TASK_BLOCK) {
        opt_msgs_add(out, "task %s cannot meet its deadline within capacity "
                     "%g kW: it needs %d slots at %g kW between slot %d and "
                     "slot %d", q->name, cap, c->dur, c->p_run, q->earliest,
                     q->deadline);
        (*n)++;
    } else if (miss > 1e-6 && q->kind == OPT_TASK_FLEX) {
        opt_msgs_add(out, "task %s cannot meet its deadline within capacity "
                     "%g kW: %.1f of its %.1f kWh cannot be delivered by slot "
                     "%d", q->name, cap, miss, q->energy_kwh, q->deadline);
        (*n)++;
    } else if (miss > 1e-6) {
        opt_msgs_add(out, "storage %s ends %.1f kWh below its initial state "
                     "of charge", q->name, miss);
        (*n)++;
    }
    for (int h = 0; c->short0 && h < q->n_shifts; h++)
        if (x[c->short0 + h - 1] > 1e-6) {
            opt_msgs_add(out, "process %s falls %.2f units short of its "
                         "minimum output in shift %d (slots %d-%d)", q->name,
                         x[c->short0 + h - 1], h, q->shifts[h].start,
                         q->shifts[h].end - 1);
            (*n)++;
        }
}

/* The first slot whose slack column (from col0, one per slot) holds more
 * than a watt, or -1; *worst receives the largest slack. */
static int slack_extent(const opt_model_t *m, int col0, const double *x, double *worst)
{
    int first = -1;

    *worst = 0;
    for (int t = 0; col0 && t < m->pb->site.n_slots; t++) {
        double v = x[col0 + t - 1];
        if (v > 1e-6 && first < 0)
            first = t;
        if (v > *worst)
            *worst = v;
    }
    return first;
}

int opt_model_explain(const opt_model_t *m, const double *x, opt_msgs_t *out)
{
    const opt_site_t *s = &m->pb->site;
    int n = 0, first;
    double worst;

    for (int e = 0; e < m->pb->n_eq; e++)
        explain_eq(m, e, x, out, &n);
    if ((first = slack_extent(m, m->slack0, x, &worst)) >= 0) {
        opt_msgs_add(out, "import capacity %g kW must be exceeded by up to "
                     "%.1f kW (first in slot %d)", s->import_cap_kw, worst,
                     first);
        n++;
    }
    if ((first = slack_extent(m, m->xslack0, x, &worst)) >= 0) {
        opt_msgs_add(out, "export limit %g kW must be exceeded by up to %.1f kW "
                     "(first in slot %d): the base load exports more than the "
                     "flexible loads can take", s->export_cap_kw, worst, first);
        n++;
    }
    return n;
}

int opt_model_write(opt_model_t *m, const char *path, char *errstr,
                    size_t errstr_size)
{
    size_t n = strlen(path);
    MYBOOL ok;

    if (n > 4 && strcmp(path + n - 4, ".mps") == 0)
        ok = write_freemps(m->lp, (char *)path);
    else
        ok = write_lp(m->lp, (char *)path);
    if (!ok) {
        snprintf(errstr, errstr_size, "cannot write model to '%s'", path);
        return -1;
    }
    return 0;
}
