/*
 * opt_model_storage: a storage's charge, discharge and state of charge,
 * its direction where wasting energy pays, and its ramp.
 */
#include "schedule-optimizer/opt_model_int.h"

#include <lp_lib.h>

void om_cols_storage(opt_model_t *m, int e, double *obj)
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
        om_name_col(m->lp, c->c0 + t, 'c', e, t);
        om_name_col(m->lp, c->d0 + t, 'd', e, t);
        om_name_col(m->lp, c->q0 + t, 'q', e, t);
        if (!c->z0)
            continue;
        set_binary(m->lp, c->z0 + t, TRUE);
        set_bounds(m->lp, c->z0 + t, 0, om_waste_slot(s, t));
        om_name_col(m->lp, c->z0 + t, 'v', e, t);
    }
}

int om_rows_storage(opt_model_t *m, int e)
{
    const opt_equipment_t *q = &m->pb->eq[e];
    const eq_cols_t *c = &m->ec[e];
    double dt = m->pb->site.slot_h, keep = 1.0 - q->loss_per_slot;
    int T = m->pb->site.n_slots;

    for (int t = 0; t < T; t++) {
        om_row_reset(m);
        om_row_put(m, c->q0 + t, 1);
        if (t > 0)
            om_row_put(m, c->q0 + t - 1, -keep);
        om_row_put(m, c->c0 + t, -q->eta_charge * dt);
        om_row_put(m, c->d0 + t, dt / q->eta_discharge);
        if (om_row_add(m, EQ, (t == 0 ? keep * q->soc0_kwh : 0) - q->draw_kw * dt) < 0)
            return -1;
    }
    /* one direction per slot where wasting energy pays:
     * charge <= cmax * z, discharge <= dmax * (1 - z) */
    for (int t = 0; c->z0 && t < T; t++) {
        if (!om_waste_slot(&m->pb->site, t))
            continue;
        om_row_reset(m);
        om_row_put(m, c->c0 + t, 1);
        om_row_put(m, c->z0 + t, -q->charge_max_kw);
        if (om_row_add(m, LE, 0) < 0)
            return -1;
        om_row_reset(m);
        om_row_put(m, c->d0 + t, 1);
        om_row_put(m, c->z0 + t, q->discharge_max_kw);
        if (om_row_add(m, LE, q->discharge_max_kw) < 0)
            return -1;
    }
    /* ramp on the net power (charge - discharge) between slots; the power
     * before the horizon is not known, so slot 0 is free */
    for (int t = 1; q->ramp_kw > 0 && t < T; t++) {
        om_row_reset(m);
        om_row_put(m, c->c0 + t, 1);
        om_row_put(m, c->d0 + t, -1);
        om_row_put(m, c->c0 + t - 1, -1);
        om_row_put(m, c->d0 + t - 1, 1);
        if (om_row_add_range(m, -q->ramp_kw, q->ramp_kw) < 0)
            return -1;
    }
    if (!c->miss)
        return 0;
    om_row_reset(m);
    om_row_put(m, c->q0 + T - 1, 1);
    om_row_put(m, c->miss, 1);
    return om_row_add(m, GE, q->soc0_kwh);
}
