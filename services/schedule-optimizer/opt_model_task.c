/*
 * opt_model_task: the columns and rows of one task: a non-interruptible
 * block's start binaries, an interruptible task's power, on/off and
 * starts with its energy, shift, ramp and run rules.
 */
#include "schedule-optimizer/opt_model_int.h"

#include <lp_lib.h>

int om_needs_bin(const opt_equipment_t *e)
{
    return e->p_min_kw > 0 || e->min_run > 1 || e->min_rest > 1 ||
           e->max_starts_day > 0 || e->startup_eur > 0;
}

/* Upper bound of on/off binary k of flex task e: 0 where a ramp below the
 * minimum power forbids running at the window's edge, else 1. */
double om_u_ub(const opt_model_t *m, int e, int k)
{
    const opt_equipment_t *q = &m->pb->eq[e];
    const eq_cols_t *c = &m->ec[e];

    return q->ramp_kw > 0 && (k == 0 || k == c->nw - 1) && q->ramp_kw < c->p_base ? 0
                                                                                  : 1;
}

/* Upper bound of start k of flex task e: no start that could not complete
 * its minimum run by the deadline, or by the end of the touching windows
 * its run may go on into. */
double om_y_ub(const opt_model_t *m, int e, int k)
{
    const opt_equipment_t *q = &m->pb->eq[e];

    if (k == 0 && om_prev_touching(m, e) >= 0)
        return 1; /* it may go on with the run before (rows_continuation) */
    return q->min_run > 1 && m->ec[e].lo + k + q->min_run > om_chain_end(m, e) ? 0 : 1;
}

/* A block's power in slot k of its run. */
double om_block_kw(const eq_cols_t *c, int k)
{
    return k == c->dur - 1 ? c->p_last : c->p_run;
}

/* Bounds, integrality, names and objective of a task's columns. */
void om_cols_task(opt_model_t *m, int e, double *obj)
{
    const opt_site_t *s = &m->pb->site;
    const opt_equipment_t *q = &m->pb->eq[e];
    eq_cols_t *c = &m->ec[e];
    double dt = s->slot_h;

    for (int k = 0; k < c->ns; k++) {
        int col = c->s0 + k;
        double v = q->startup_eur;
        for (int j = 0; j < c->dur; j++)
            v += opt_slot_price(s, c->lo + k + j) * om_block_kw(c, j) * dt / 1000.0;
        obj[col] = v;
        set_binary(m->lp, col, TRUE);
        om_name_col(m->lp, col, 's', e, c->lo + k);
    }
    for (int k = 0; k < c->nw; k++) {
        int t = c->lo + k, col = c->p0 + k;
        double ub = q->p_max_kw, pr = opt_slot_price(s, t) * dt / 1000.0;
        obj[col] = pr;
        if (q->ramp_kw > 0 && (k == 0 || k == c->nw - 1) && q->ramp_kw < ub)
            ub = q->ramp_kw;
        set_bounds(m->lp, col, 0, ub - c->p_base > 0 ? ub - c->p_base : 0);
        om_name_col(m->lp, col, c->p_base > 0 ? 'w' : 'p', e, t);
        if (!c->u0)
            continue;
        set_binary(m->lp, c->u0 + k, TRUE);
        obj[c->u0 + k] = pr * c->p_base;
        if (ub < c->p_base) /* the ramp forbids running in this slot */
            set_bounds(m->lp, c->u0 + k, 0, om_u_ub(m, e, k));
        om_name_col(m->lp, c->u0 + k, 'u', e, t);
        /* no start that could not complete its minimum run by the deadline */
        set_bounds(m->lp, c->y0 + k, 0, om_y_ub(m, e, k));
        obj[c->y0 + k] = q->startup_eur;
        om_name_col(m->lp, c->y0 + k, 'y', e, t);
    }
}

int om_rows_block(opt_model_t *m, int e)
{
    const eq_cols_t *c = &m->ec[e];

    om_row_reset(m);
    for (int k = 0; k < c->ns; k++)
        om_row_put(m, c->s0 + k, 1);
    if (c->miss)
        om_row_put(m, c->miss, 1);
    if (om_row_add(m, EQ, 1) < 0)
        return -1;
    return c->cont ? om_rows_block_continuation(m, e) : 0;
}

/* Minimum rest R: on in slot k - R, no start in (k - R, k] (two starts
 * there rest too little as well); starts past the window's end are none. */
static int row_rest(opt_model_t *m, const opt_equipment_t *q, const eq_cols_t *c, int k)
{
    int R = q->min_rest;

    om_row_reset(m);
    for (int j = k - R + 1; j <= k && j < c->nw; j++)
        om_row_put(m, c->y0 + j, 1);
    om_row_put(m, c->u0 + k - R, 1);
    return om_row_add(m, LE, 1);
}

/* With the row at k = R, the rows inside the window also forbid on, off
 * and on again near its end (the run holding the first on starts within R
 * of the second start, or is on R slots before it). A window of R slots or
 * fewer has no such row: it gets the rows that end past it (k up to
 * nw + R - 2). */
static int rows_rest_short(opt_model_t *m, const opt_equipment_t *q, const eq_cols_t *c)
{
    int R = q->min_rest;

    for (int k = R; R > 1 && c->nw <= R && k <= c->nw + R - 2; k++)
        if (row_rest(m, q, c, k) < 0)
            return -1;
    return 0;
}

static int rows_flex_bin(opt_model_t *m, int e)
{
    const opt_equipment_t *q = &m->pb->eq[e];
    const eq_cols_t *c = &m->ec[e];

    for (int k = 0; k < c->nw; k++) {
        om_row_reset(m);
        om_row_put(m, c->p0 + k, 1);
        om_row_put(m, c->u0 + k, -(q->p_max_kw - c->p_base));
        if (om_row_add(m, LE, 0) < 0)
            return -1;
        om_row_reset(m);
        om_row_put(m, c->y0 + k, 1);
        om_row_put(m, c->u0 + k, -1);
        if (k > 0)
            om_row_put(m, c->u0 + k - 1, 1);
        if (om_row_add(m, GE, 0) < 0)
            return -1;
        if (q->min_run > 1) {
            om_row_reset(m);
            om_put_run_starts(m, e, c->lo + k);
            om_row_put(m, c->u0 + k, -1);
            if (om_row_add(m, LE, 0) < 0)
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
        om_row_reset(m);
        for (int k = 0; k < c->nw; k++)
            om_row_put(m, c->y0 + k, 1);
        if (c->miss)
            om_row_put(m, c->miss, 1.0 / q->energy_kwh);
        if (om_row_add(m, GE, 1) < 0)
            return -1;
    }
    if (q->max_starts_day <= 0 || q->group > 0)
        return 0; /* a group's days: rows_group */
    /* one row per site-local day the window touches */
    for (int k0 = 0; k0 < c->nw;) {
        int day = opt_slot_day(&m->pb->site, c->lo + k0), k = k0;
        om_row_reset(m);
        for (; k < c->nw && opt_slot_day(&m->pb->site, c->lo + k) == day; k++)
            om_row_put(m, c->y0 + k, 1);
        if (om_row_add(m, LE, q->max_starts_day) < 0)
            return -1;
        k0 = k;
    }
    return 0;
}

int om_rows_flex(opt_model_t *m, int e)
{
    const opt_equipment_t *q = &m->pb->eq[e];
    const eq_cols_t *c = &m->ec[e];
    double dt = m->pb->site.slot_h;

    if (q->energy_kwh > 0) {
        om_row_reset(m);
        for (int k = 0; k < c->nw; k++)
            om_row_put_flex(m, c, k, dt);
        if (c->miss)
            om_row_put(m, c->miss, 1);
        if (om_row_add(m, EQ, q->energy_kwh) < 0)
            return -1;
    }
    for (int h = 0; h < q->n_shifts; h++) {
        const opt_shift_t *sh = &q->shifts[h];
        om_row_reset(m);
        for (int k = 0; k < c->nw; k++)
            if (c->lo + k >= sh->start && c->lo + k < sh->end)
                om_row_put_flex(m, c, k, dt / q->specific_kwh);
        if (c->short0)
            om_row_put(m, c->short0 + h, 1);
        if (om_row_add(m, GE, sh->min_output) < 0)
            return -1;
    }
    for (int k = 1; q->ramp_kw > 0 && k < c->nw; k++) {
        om_row_reset(m);
        om_row_put_flex(m, c, k, 1);
        om_row_put_flex(m, c, k - 1, -1);
        if (om_row_add_range(m, -q->ramp_kw, q->ramp_kw) < 0)
            return -1;
    }
    if (c->u0 && rows_flex_bin(m, e) < 0)
        return -1;
    return om_rows_group(m, e);
}
