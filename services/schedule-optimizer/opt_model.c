/*
 * opt_model: builds the MILP in lp_solve: the columns' layout, the row
 * helpers, the model's life cycle and its export. See opt_model.h for the
 * formulation; each kind of equipment and the site have a module of their
 * own (opt_model_int.h).
 */
#include "schedule-optimizer/opt_model.h"

#include <lp_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule-optimizer/opt_model_int.h"

void om_row_reset(opt_model_t *m)
{
    m->rn = 0;
}

void om_row_put(opt_model_t *m, int col, double v)
{
    m->ri[m->rn] = col;
    m->rv[m->rn++] = v;
}

/* Puts v times a flex task's power in slot lo + k into the row: with on/off
 * binaries the power is p_base * u + w, so the minimum-power row is gone and
 * w <= (p_max - p_base) * u is the only link (no big-M beyond the range). */
void om_row_put_flex(opt_model_t *m, const eq_cols_t *c, int k, double v)
{
    om_row_put(m, c->p0 + k, v);
    if (c->p_base > 0)
        om_row_put(m, c->u0 + k, v * c->p_base);
}

int om_row_add(opt_model_t *m, int type, double rh)
{
    return add_constraintex(m->lp, m->rn, m->rv, m->ri, type, rh) ? 0 : -1;
}

/* Adds lo <= row <= hi (range applied after row mode). */
int om_row_add_range(opt_model_t *m, double lo, double hi)
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
    if (om_row_add(m, LE, hi) < 0)
        return -1;
    m->rr[m->nr] = get_Nrows(m->lp);
    m->rw[m->nr++] = hi - lo;
    return 0;
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
            if (om_needs_bin(q)) {
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
                om_any_waste_slot(&pb->site)) {
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
        if (pb->eq[e].kind != OPT_STORAGE && om_touches_next(m, e))
            m->ec[e].cont = ++n;
    return n;
}

void om_name_col(lprec *lp, int col, char k, int e, int t)
{
    char nm[24];

    snprintf(nm, sizeof nm, "%c%d_%d", k, e, t);
    set_col_name(lp, col, nm);
}

/* Bounds, integrality, names and objective of every column. */
static void cols_all(opt_model_t *m, double *obj)
{
    for (int e = 0; e < m->pb->n_eq; e++) {
        const opt_equipment_t *q = &m->pb->eq[e];
        eq_cols_t *c = &m->ec[e];
        if (q->kind == OPT_STORAGE)
            om_cols_storage(m, e, obj);
        else
            om_cols_task(m, e, obj);
        for (int k = 0; c->short0 && k < q->n_shifts; k++)
            obj[c->short0 + k] = PEN_TASK_KWH * q->specific_kwh;
        if (c->cont) {
            /* the next window's start that goes on with this run is not
             * one of the machine: its start-up cost is credited back */
            set_bounds(m->lp, c->cont, 0, 1);
            obj[c->cont] = -m->pb->eq[om_next_window(m, e)].startup_eur;
            om_name_col(m->lp, c->cont, 'k', e, q->deadline);
        }
        if (c->miss) {
            double ub = q->kind == OPT_TASK_BLOCK ? 1
                        : q->kind == OPT_STORAGE  ? q->soc0_kwh
                                                  : q->energy_kwh;
            set_bounds(m->lp, c->miss, 0, ub);
            obj[c->miss] =
                PEN_TASK_KWH * (q->kind == OPT_TASK_BLOCK ? q->energy_kwh : 1.0);
            om_name_col(m->lp, c->miss, 'm', e, 0);
        }
    }
    om_cols_site(m, obj);
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
    if (om_rows_site(m) < 0)
        goto out;
    for (int e = 0; e < m->pb->n_eq; e++) {
        opt_kind_t k = m->pb->eq[e].kind;
        int r = k == OPT_TASK_BLOCK  ? om_rows_block(m, e)
                : k == OPT_TASK_FLEX ? om_rows_flex(m, e)
                                     : om_rows_storage(m, e);
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

int opt_model_write(opt_model_t *m, const char *path, char *errstr, size_t errstr_size)
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
