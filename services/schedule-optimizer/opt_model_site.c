/*
 * opt_model_site: the site in the model: the slots where wasting energy
 * pays, the peak and slack columns, and the rows that tie every
 * equipment's load to the site (demand charge, capacity, export limit).
 */
#include "schedule-optimizer/opt_model_int.h"

#include <lp_lib.h>

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
int om_waste_slot(const opt_site_t *s, int t)
{
    return opt_slot_price(s, t) < 0 || surplus_slot(s, t);
}

int om_any_waste_slot(const opt_site_t *s)
{
    for (int t = 0; t < s->n_slots; t++)
        if (om_waste_slot(s, t))
            return 1;
    return 0;
}

/* Bounds, names and objective of the site's columns: the peaks, and in
 * elastic mode the capacity and export slack. */
void om_cols_site(opt_model_t *m, double *obj)
{
    const opt_site_t *s = &m->pb->site;

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
        om_name_col(m->lp, m->slack0 + t, 'x', 0, t);
    }
    for (int t = 0; m->xslack0 && t < s->n_slots; t++) {
        obj[m->xslack0 + t] = PEN_CAP_KW;
        om_name_col(m->lp, m->xslack0 + t, 'z', 0, t);
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
                om_row_put(m, c->s0 + k, om_block_kw(c, t - c->lo - k));
        } else if (m->pb->eq[e].kind == OPT_TASK_FLEX) {
            if (t >= c->lo && t < c->lo + c->nw)
                om_row_put_flex(m, c, t - c->lo, 1);
        } else {
            om_row_put(m, c->c0 + t, 1);
            om_row_put(m, c->d0 + t, -1);
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

int om_rows_site(opt_model_t *m)
{
    const opt_site_t *s = &m->pb->site;
    int stor = has_storage(m->pb);

    for (int t = 0; t < s->n_slots; t++) {
        if (m->peak) {
            om_row_reset(m);
            put_site_load(m, t);
            om_row_put(
                m, m->peak_next && opt_slot_period(s, t) ? m->peak_next : m->peak, -1);
            if (om_row_add(m, LE, -s->base_kw[t]) < 0)
                return -1;
        }
        int exp = export_row(s, stor, t);
        if (!m->cap_rows && !exp)
            continue;
        om_row_reset(m);
        put_site_load(m, t);
        if (m->slack0)
            om_row_put(m, m->slack0 + t, -1);
        if (m->xslack0 && exp)
            om_row_put(m, m->xslack0 + t, 1);
        double hi = s->import_cap_kw - s->base_kw[t];
        double lo = -s->export_cap_kw - s->base_kw[t];
        int r;
        if (!exp)
            r = om_row_add(m, LE, hi);
        else if (!m->cap_rows)
            r = om_row_add(m, GE, lo);
        else
            r = om_row_add_range(m, lo, hi);
        if (r < 0)
            return -1;
    }
    return 0;
}
