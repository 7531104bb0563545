/*
 * opt_problem: plans, message lists and the one cost function every plan is
 * priced with.
 */
#include "schedule-optimizer/opt_problem.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int opt_plan_init(opt_plan_t *pl, int n_eq, int n_slots)
{
    size_t n = (size_t)(n_eq > 0 ? n_eq : 1) * (size_t)n_slots;

    memset(pl, 0, sizeof *pl);
    pl->n_eq = n_eq;
    pl->n_slots = n_slots;
    pl->power = calloc(n, sizeof(double));
    pl->charge = calloc(n, sizeof(double));
    pl->discharge = calloc(n, sizeof(double));
    pl->soc = calloc(n, sizeof(double));
    pl->on = calloc(n, 1);
    if (!pl->power || !pl->charge || !pl->discharge || !pl->soc || !pl->on) {
        opt_plan_release(pl);
        return -1;
    }
    return 0;
}

void opt_plan_release(opt_plan_t *pl)
{
    if (!pl)
        return;
    free(pl->power);
    free(pl->charge);
    free(pl->discharge);
    free(pl->soc);
    free(pl->on);
    memset(pl, 0, sizeof *pl);
}

void opt_plan_copy(opt_plan_t *dst, const opt_plan_t *src)
{
    size_t n = (size_t)src->n_eq * (size_t)src->n_slots;

    memcpy(dst->power, src->power, n * sizeof(double));
    memcpy(dst->charge, src->charge, n * sizeof(double));
    memcpy(dst->discharge, src->discharge, n * sizeof(double));
    memcpy(dst->soc, src->soc, n * sizeof(double));
    memcpy(dst->on, src->on, n);
}

void opt_plan_finish(const opt_problem_t *pb, opt_plan_t *pl)
{
    int T = pb->site.n_slots;

    for (int e = 0; e < pb->n_eq; e++) {
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)e * T + t;
            if (pb->eq[e].kind == OPT_STORAGE)
                pl->power[i] = pl->charge[i] - pl->discharge[i];
            if (fabs(pl->power[i]) < 1e-7)
                pl->power[i] = 0;
            pl->on[i] = pl->power[i] != 0;
        }
    }
}

void opt_msgs_init(opt_msgs_t *m)
{
    memset(m, 0, sizeof *m);
}

void opt_msgs_release(opt_msgs_t *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n; i++)
        free(m->v[i]);
    free(m->v);
    memset(m, 0, sizeof *m);
}

void opt_msgs_add(opt_msgs_t *m, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    if (!m)
        return;
    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 8;
        char **v = realloc(m->v, (size_t)cap * sizeof *v);
        if (!v)
            return;
        m->v = v;
        m->cap = cap;
    }
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    if (s)
        m->v[m->n++] = s;
}

int opt_block_duration(const opt_problem_t *pb, const opt_equipment_t *e, double *p_run)
{
    double dt = pb->site.slot_h;
    int d = 1;

    if (e->p_max_kw > 0 && e->energy_kwh > 0)
        d = (int)ceil(e->energy_kwh / (e->p_max_kw * dt) - 1e-9);
    if (d < 1)
        d = 1;
    if (p_run) {
        *p_run = e->energy_kwh / (d * dt);
        if (*p_run < e->p_min_kw - 1e-9)
            *p_run = e->p_max_kw;
    }
    return d;
}

double opt_block_last_kw(const opt_problem_t *pb, const opt_equipment_t *e)
{
    double p;
    int d = opt_block_duration(pb, e, &p);

    return e->energy_kwh / pb->site.slot_h - (d - 1) * p;
}

int opt_slot_period(const opt_site_t *s, int t)
{
    return s->next_period_slot > 0 && t >= s->next_period_slot;
}

int opt_slot_day(const opt_site_t *s, int t)
{
    int spd = (int)lround(24.0 / s->slot_h);

    if (s->day)
        return s->day[t];
    return spd > 0 ? t / spd : 0;
}

double opt_period_floor(const opt_site_t *s, int k)
{
    return k ? s->next_peak_so_far_kw : s->peak_so_far_kw;
}

double opt_slot_price(const opt_site_t *s, int t)
{
    double p = s->price[t];

    if (s->co2_eur_t > 0 && s->co2_kg_mwh)
        p += s->co2_eur_t * s->co2_kg_mwh[t] / 1000.0;
    return p;
}

double opt_site_load(const opt_problem_t *pb, const opt_plan_t *pl, int t)
{
    double g = pb->site.base_kw[t];

    for (int e = 0; e < pb->n_eq; e++)
        g += pl->power[(size_t)e * pb->site.n_slots + t];
    return g;
}

/* Whether task e's first slot on goes on with a run of another window
 * of its equipment that ends where e begins: one run, one start. */
static int goes_on(const opt_problem_t *pb, const opt_plan_t *pl, int e)
{
    const opt_equipment_t *q = &pb->eq[e];
    size_t T = (size_t)pl->n_slots;

    if (q->group <= 0 || q->earliest <= 0 || !pl->on[e * T + q->earliest])
        return 0;
    for (int f = 0; f < pb->n_eq; f++)
        if (f != e && pb->eq[f].group == q->group &&
            pb->eq[f].deadline == q->earliest && pl->on[f * T + q->earliest - 1])
            return 1;
    return 0;
}

static int count_starts(const opt_problem_t *pb, const opt_plan_t *pl, int e)
{
    int n = 0;
    unsigned char prev = 0;

    for (int t = 0; t < pl->n_slots; t++) {
        unsigned char on = pl->on[(size_t)e * pl->n_slots + t];
        n += on && !prev;
        prev = on;
    }
    return n - goes_on(pb, pl, e);
}

void opt_plan_cost(const opt_problem_t *pb, const opt_plan_t *pl, opt_cost_t *c)
{
    const opt_site_t *s = &pb->site;

    double peak[2] = {opt_period_floor(s, 0), opt_period_floor(s, 1)};

    memset(c, 0, sizeof *c);
    for (int t = 0; t < s->n_slots; t++) {
        double g = opt_site_load(pb, pl, t);
        double mwh = g * s->slot_h / 1000.0;
        int k = opt_slot_period(s, t);
        c->energy_eur += s->price[t] * mwh;
        if (s->co2_eur_t > 0 && s->co2_kg_mwh)
            c->co2_eur += s->co2_eur_t * s->co2_kg_mwh[t] / 1000.0 * mwh;
        if (g > peak[k])
            peak[k] = g;
    }
    c->peak_kw = peak[0];
    c->next_peak_kw = s->next_period_slot > 0 ? peak[1] : 0;
    c->demand_eur = s->demand_eur_kw * (c->peak_kw + c->next_peak_kw);
    for (int e = 0; e < pb->n_eq; e++)
        if (pb->eq[e].kind != OPT_STORAGE)
            c->startup_eur += pb->eq[e].startup_eur * count_starts(pb, pl, e);
    c->total_eur = c->energy_eur + c->demand_eur + c->startup_eur + c->co2_eur;
}

static int check_task(const opt_problem_t *pb, const opt_equipment_t *e,
                      opt_msgs_t *out)
{
    int T = pb->site.n_slots, bad = 0;
    double dt = pb->site.slot_h;

    if (e->earliest < 0 || e->deadline > T || e->earliest >= e->deadline) {
        opt_msgs_add(out,
                     "%s '%s' has an empty or out-of-horizon window "
                     "[%d, %d) in %d slots",
                     "task", e->name, e->earliest, e->deadline, T);
        return 1;
    }
    if (e->p_max_kw <= 0 || e->p_min_kw < 0 || e->p_min_kw > e->p_max_kw) {
        opt_msgs_add(out, "task '%s' has an impossible power range [%g, %g] kW",
                     e->name, e->p_min_kw, e->p_max_kw);
        bad++;
    }
    if (e->energy_kwh < 0 || (e->kind == OPT_TASK_BLOCK && e->energy_kwh <= 0)) {
        opt_msgs_add(out, "task '%s' has no energy to deliver", e->name);
        bad++;
    }
    for (int k = 0; k < e->n_shifts && e->kind == OPT_TASK_FLEX; k++) {
        const opt_shift_t *sh = &e->shifts[k];
        if (sh->start < 0 || sh->end > T || sh->start >= sh->end ||
            e->specific_kwh <= 0) {
            opt_msgs_add(out, "process '%s' shift %d is malformed", e->name, k);
            bad++;
        }
    }
    (void)dt;
    return bad;
}

static int check_storage(const opt_equipment_t *e, opt_msgs_t *out)
{
    if (e->eta_charge <= 0 || e->eta_charge > 1 || e->eta_discharge <= 0 ||
        e->eta_discharge > 1 || e->loss_per_slot < 0 || e->loss_per_slot >= 1) {
        opt_msgs_add(out, "storage '%s' has efficiencies or losses out of range",
                     e->name);
        return 1;
    }
    if (e->soc_min_kwh < 0 || e->soc_min_kwh > e->soc_max_kwh ||
        e->soc0_kwh < e->soc_min_kwh || e->soc0_kwh > e->soc_max_kwh ||
        e->charge_max_kw < 0 || e->discharge_max_kw < 0) {
        opt_msgs_add(out,
                     "storage '%s' has an initial SOC %g kWh outside "
                     "[%g, %g] kWh or negative power limits",
                     e->name, e->soc0_kwh, e->soc_min_kwh, e->soc_max_kwh);
        return 1;
    }
    /* a draw the charger cannot keep up with drains the store below its
     * minimum whatever the plan: bad input, not an infeasible plan */
    if (!(e->draw_kw >= 0) || !isfinite(e->draw_kw) ||
        e->draw_kw > e->charge_max_kw * e->eta_charge) {
        opt_msgs_add(out,
                     "storage '%s' has a draw of %g kW, beyond what it can "
                     "charge (%g kW x efficiency %g)",
                     e->name, e->draw_kw, e->charge_max_kw, e->eta_charge);
        return 1;
    }
    return 0;
}

int opt_problem_check(const opt_problem_t *pb, opt_msgs_t *out)
{
    const opt_site_t *s = &pb->site;
    int bad = 0;

    if (s->n_slots <= 0 || s->slot_h <= 0 || !s->price || !s->base_kw) {
        opt_msgs_add(out, "site has no slots, no slot length, prices or load");
        return 1;
    }
    if (s->import_cap_kw <= 0) {
        opt_msgs_add(out, "site import capacity %g kW is not positive",
                     s->import_cap_kw);
        bad++;
    }
    if (!(s->peak_so_far_kw >= 0) || !(s->next_peak_so_far_kw >= 0) ||
        !isfinite(s->peak_so_far_kw) || !isfinite(s->next_peak_so_far_kw)) {
        opt_msgs_add(out,
                     "billing-period peaks so far %g and %g kW are not "
                     "finite and non-negative",
                     s->peak_so_far_kw, s->next_peak_so_far_kw);
        bad++;
    }
    if (s->next_period_slot < 0 || s->next_period_slot >= s->n_slots) {
        opt_msgs_add(out,
                     "next billing period starts at slot %d, outside "
                     "the horizon's slots 1..%d",
                     s->next_period_slot, s->n_slots - 1);
        bad++;
    }
    for (int e = 0; e < pb->n_eq; e++)
        bad += pb->eq[e].kind == OPT_STORAGE ? check_storage(&pb->eq[e], out)
                                             : check_task(pb, &pb->eq[e], out);
    return bad;
}
