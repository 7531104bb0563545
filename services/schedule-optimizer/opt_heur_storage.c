/*
 * opt_heur_storage: the heuristic's storage (see opt_heur_int.h): held at
 * its initial SOC, charged and discharged by price thresholds, or, for a
 * store with a process draw, each shortfall of its SOC bought in the
 * cheapest earlier slot with room.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schedule-optimizer/opt_heur_int.h"

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
void opt_heur_storage_idle(const opt_problem_t *pb, opt_plan_t *pl, int e)
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

    return s->demand_eur_kw > 0 ? fmin(s->import_cap_kw, h->peak[opt_slot_period(s, t)])
                                : s->import_cap_kw;
}

/* Charge (kWh into the store) still possible after slot t in cheap slots. */
static double recharge_after(const heur_t *h, const opt_equipment_t *q, int t,
                             double lo)
{
    const opt_site_t *s = &h->pb->site;
    double kwh = 0;

    for (int u = t + 1; u < s->n_slots; u++)
        if (opt_slot_price(s, u) <= lo)
            kwh += q->eta_charge * s->slot_h *
                   fmin(q->charge_max_kw, fmax(0, charge_top(h, u) - h->load[u]));
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
    qsort_r(idx, (size_t)T, sizeof *idx, opt_heur_cmp_slot_price, (void *)s);
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
        double r = fmin(
            fmin(q->charge_max_kw - pl->charge[o + t], charge_top(h, t) - h->load[t]),
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
static int draw_shortfall(const opt_equipment_t *q, const double *soc, int n,
                          double *need)
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
    opt_heur_storage_idle(h->pb, pl, e);
    for (int t = 0; t < h->pb->site.n_slots; t++)
        h->load[t] += pl->charge[o + t];
}

void opt_heur_place_storage(heur_t *h, opt_plan_t *pl)
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
