/*
 * opt_model_plan: the model against plans: integrality on or off, binaries
 * fixed to a plan (or a rounding, or a neighbourhood), a solution read
 * back into a plan, and the elastic slack explained.
 */
#include "schedule-optimizer/opt_model_int.h"

#include <lp_lib.h>
#include <math.h>
#include <string.h>

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
        set_bounds(m->lp, c->u0 + k, 0, om_u_ub(m, e, k));
        set_bounds(m->lp, c->y0 + k, 0, om_y_ub(m, e, k));
    }
    for (int t = 0; c->z0 && t < m->pb->site.n_slots; t++)
        set_bounds(m->lp, c->z0 + t, 0, om_waste_slot(&m->pb->site, t));
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

void opt_model_fix_agreeing(opt_model_t *m, const opt_plan_t *pl, const double *xlp)
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
            double ch = pl->charge[(size_t)e * T + t],
                   dis = pl->discharge[(size_t)e * T + t];
            if (om_waste_slot(&m->pb->site, t) && (ch > 1e-9 || dis > 1e-9))
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
            if (om_waste_slot(&m->pb->site, t))
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

static void extract_block(const opt_model_t *m, int e, const double *x, opt_plan_t *pl)
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
        pw[t] = om_block_kw(c, t - at);
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
                x[c->p0 + k - 1] + (c->p_base > 0 ? c->p_base * x[c->u0 + k - 1] : 0);
        for (int t = 0; m->pb->eq[e].kind == OPT_STORAGE && t < T; t++) {
            double ch = x[c->c0 + t - 1], dis = x[c->d0 + t - 1];
            const opt_equipment_t *q = &m->pb->eq[e];
            /* Outside the slots with a direction binary a solution may
             * still hold both flows where they cost nothing (a lossless
             * store, a zero price): netted out with the same state of
             * charge (a kWh less charged is eta_c * eta_d kWh less to
             * discharge), since a storage cannot do both at once. */
            if (ch > 0 && dis > 0 && !om_waste_slot(&m->pb->site, t)) {
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

static void explain_eq(const opt_model_t *m, int e, const double *x, opt_msgs_t *out,
                       int *n)
{
    const opt_equipment_t *q = &m->pb->eq[e];
    const eq_cols_t *c = &m->ec[e];
    double cap = m->pb->site.import_cap_kw;
    double miss = c->miss ? x[c->miss - 1] : 0;

    if (miss > 1e-6 && q->kind == OPT_TASK_BLOCK && c->ns <= 0) {
        opt_msgs_add(out,
                     "task %s cannot meet its deadline: it needs %d "
                     "slots at %g kW but its window [%d, %d) has %d",
                     q->name, c->dur, c->p_run, q->earliest, q->deadline,
                     q->deadline - q->earliest);
        (*n)++;
    } else if (miss > 1e-6 && q->kind == OPT_TASK_BLOCK) {
        opt_msgs_add(out,
                     "task %s cannot meet its deadline within capacity "
                     "%g kW: it needs %d slots at %g kW between slot %d and "
                     "slot %d",
                     q->name, cap, c->dur, c->p_run, q->earliest, q->deadline);
        (*n)++;
    } else if (miss > 1e-6 && q->kind == OPT_TASK_FLEX) {
        opt_msgs_add(out,
                     "task %s cannot meet its deadline within capacity "
                     "%g kW: %.1f of its %.1f kWh cannot be delivered by slot "
                     "%d",
                     q->name, cap, miss, q->energy_kwh, q->deadline);
        (*n)++;
    } else if (miss > 1e-6) {
        opt_msgs_add(out,
                     "storage %s ends %.1f kWh below its initial state "
                     "of charge",
                     q->name, miss);
        (*n)++;
    }
    for (int h = 0; c->short0 && h < q->n_shifts; h++)
        if (x[c->short0 + h - 1] > 1e-6) {
            opt_msgs_add(out,
                         "process %s falls %.2f units short of its "
                         "minimum output in shift %d (slots %d-%d)",
                         q->name, x[c->short0 + h - 1], h, q->shifts[h].start,
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
        opt_msgs_add(out,
                     "import capacity %g kW must be exceeded by up to "
                     "%.1f kW (first in slot %d)",
                     s->import_cap_kw, worst, first);
        n++;
    }
    if ((first = slack_extent(m, m->xslack0, x, &worst)) >= 0) {
        opt_msgs_add(out,
                     "export limit %g kW must be exceeded by up to %.1f kW "
                     "(first in slot %d): the base load exports more than the "
                     "flexible loads can take",
                     s->export_cap_kw, worst, first);
        n++;
    }
    return n;
}
