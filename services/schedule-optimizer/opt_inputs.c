/*
 * opt_inputs: records and plant model into an opt_problem_t (see opt_inputs.h).
 */
#include "schedule-optimizer/opt_inputs.h"
#include "schedule-optimizer/opt_peak.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_MS 60000LL
#define DAY_MIN 1440

/* ---- records ---- */

int opt_forecast_alloc(opt_forecast_t *f, int n)
{
    size_t k = n > 0 ? (size_t)n : 1;

    f->slot_ms = calloc(k, sizeof *f->slot_ms);
    f->p10 = calloc(k, sizeof(double));
    f->p50 = calloc(k, sizeof(double));
    f->p90 = calloc(k, sizeof(double));
    if (!f->slot_ms || !f->p10 || !f->p50 || !f->p90) {
        opt_forecast_release(f);
        return -1;
    }
    f->n = n;
    return 0;
}

void opt_forecast_release(opt_forecast_t *f)
{
    if (!f)
        return;
    free(f->slot_ms);
    free(f->p10);
    free(f->p50);
    free(f->p90);
    f->slot_ms = NULL, f->p10 = f->p50 = f->p90 = NULL;
    f->n = 0;
}

void opt_forecast_move(opt_forecast_t *dst, opt_forecast_t *src)
{
    opt_forecast_release(dst);
    *dst = *src;
    memset(src, 0, sizeof *src);
}

int opt_prices_alloc(opt_prices_t *p, int n)
{
    size_t k = n > 0 ? (size_t)n : 1;

    p->slot_ms = calloc(k, sizeof *p->slot_ms);
    p->price = calloc(k, sizeof(double));
    p->co2_g_kwh = calloc(k, sizeof(double));
    if (!p->slot_ms || !p->price || !p->co2_g_kwh) {
        opt_prices_release(p);
        return -1;
    }
    p->n = n;
    return 0;
}

void opt_prices_release(opt_prices_t *p)
{
    if (!p)
        return;
    free(p->slot_ms);
    free(p->price);
    free(p->co2_g_kwh);
    p->slot_ms = NULL, p->price = p->co2_g_kwh = NULL;
    p->n = 0;
}

void opt_prices_move(opt_prices_t *dst, opt_prices_t *src)
{
    opt_prices_release(dst);
    *dst = *src;
    memset(src, 0, sizeof *src);
}

/* Slot length, horizon and slot starts. */
static int check_grid(int slot_min, int64_t start, int64_t end, int n,
                      const int64_t *slot, char *reason, size_t reason_size)
{
    int64_t len = (int64_t)slot_min * MIN_MS;

    if (slot_min <= 0 || DAY_MIN % slot_min != 0) {
        snprintf(reason, reason_size, "slot_minutes %d does not divide a day",
                 slot_min);
        return -1;
    }
    /* end - start in unsigned: horizons from a record may span more than
     * int64_t holds; then start + i * len below cannot overflow either */
    if (n <= 0 || end <= start ||
        (uint64_t)end - (uint64_t)start != (uint64_t)n * (uint64_t)len) {
        snprintf(reason, reason_size,
                 "%d slots of %d min do not cover the horizon [%lld, %lld)", n,
                 slot_min, (long long)start, (long long)end);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (slot[i] != start + i * len) {
            snprintf(reason, reason_size,
                     "slot %d starts at %lld, misaligned (expected %lld)", i,
                     (long long)slot[i], (long long)start + (long long)i * len);
            return -1;
        }
    return 0;
}

int opt_forecast_check(const opt_forecast_t *f, char *reason, size_t reason_size)
{
    if (!f->site_id[0]) {
        snprintf(reason, reason_size, "forecast without site_id");
        return -1;
    }
    if (check_grid(f->slot_min, f->start_ms, f->end_ms, f->n, f->slot_ms, reason,
                   reason_size))
        return -1;
    for (int i = 0; i < f->n; i++)
        if (!isfinite(f->p10[i]) || !isfinite(f->p50[i]) || !isfinite(f->p90[i])) {
            snprintf(reason, reason_size,
                     "slot %d has a non-finite load (p10 %g, p50 %g, "
                     "p90 %g)",
                     i, f->p10[i], f->p50[i], f->p90[i]);
            return -1;
        }
    return 0;
}

int opt_prices_check(const opt_prices_t *p, char *reason, size_t reason_size)
{
    if (p->kind == OPT_CURVE_EFFECTIVE && !p->site_id[0]) {
        snprintf(reason, reason_size, "effective curve '%s' without site_id",
                 p->curve_id);
        return -1;
    }
    if (check_grid(p->slot_min, p->start_ms, p->end_ms, p->n, p->slot_ms, reason,
                   reason_size))
        return -1;
    for (int i = 0; i < p->n; i++) {
        if (!isfinite(p->price[i])) {
            snprintf(reason, reason_size, "slot %d has a non-finite price %g", i,
                     p->price[i]);
            return -1;
        }
        if (isinf(p->co2_g_kwh[i]) || p->co2_g_kwh[i] < 0) {
            snprintf(reason, reason_size, "slot %d has an invalid CO2 intensity %g", i,
                     p->co2_g_kwh[i]);
            return -1;
        }
    }
    return 0;
}

int opt_input_ahead_check(int64_t issued_ms, int64_t start_ms, int64_t now_ms,
                          char *reason, size_t reason_size)
{
    int64_t limit = now_ms + OPT_INPUT_MAX_AHEAD_MS;

    if (issued_ms > limit) {
        snprintf(reason, reason_size, "issued %llu s ahead of the clock",
                 ((unsigned long long)issued_ms - (unsigned long long)now_ms) / 1000);
        return -1;
    }
    if (start_ms > limit) {
        snprintf(reason, reason_size, "horizon starts %llu s ahead of the clock",
                 ((unsigned long long)start_ms - (unsigned long long)now_ms) / 1000);
        return -1;
    }
    return 0;
}

/* ---- horizon and site ---- */

void opt_build_release(opt_build_t *b)
{
    if (!b)
        return;
    free(b->plant_eq);
    free(b->plant_map);
    free(b->eq_plant);
    free(b->eq);
    free(b->price);
    free(b->base);
    free(b->co2);
    free(b->day);
    memset(b, 0, sizeof *b);
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Whether a and b lie on one grid of step slot, without computing a - b:
 * a record's times may lie anywhere in the int64_t range. */
static int same_grid(int64_t a, int64_t b, int64_t slot)
{
    int64_t ra = a % slot, rb = b % slot;

    return (ra < 0 ? ra + slot : ra) == (rb < 0 ? rb + slot : rb);
}

/* The common slot grid and horizon. 0, or 1 with reason. The times come
 * from records and requests as they are, anywhere in the int64_t range, so
 * only differences within the records' overlap are taken (in unsigned:
 * it may be wider than int64_t holds) and only times inside it are formed:
 * an event time near INT64_MAX or a horizon ending there overflowed, and a
 * wrapped horizon read slots no record has. */
static int horizon(opt_build_t *b, const opt_build_conf_t *conf,
                   const opt_forecast_t *fc, const opt_prices_t *pr, int64_t not_before,
                   char *reason, size_t rsz)
{
    int64_t fs = fc->slot_min * MIN_MS, ps = pr->slot_min * MIN_MS;
    int64_t slot = min64(fs, ps), start, end;
    uint64_t span = 0, skip, longest = (uint64_t)(conf->horizon_max_ms / slot * slot);

    if (max64(fs, ps) % slot != 0 || !same_grid(fc->start_ms, pr->start_ms, slot)) {
        snprintf(reason, rsz,
                 "forecast slots (%d min) and price slots (%d min) do not "
                 "share a grid",
                 fc->slot_min, pr->slot_min);
        return 1;
    }
    start = max64(fc->start_ms, pr->start_ms);
    end = min64(fc->end_ms, pr->end_ms);
    if (end > start)
        span = (uint64_t)end - (uint64_t)start;
    if (span && not_before > start) {
        skip = (uint64_t)not_before - (uint64_t)start;
        skip = skip >= span ? span : (skip + (uint64_t)slot - 1) / slot * slot;
        skip = skip > span ? span : skip;
        start = (int64_t)((uint64_t)start + skip);
        span -= skip;
    }
    if (span > longest) {
        span = longest;
        end = (int64_t)((uint64_t)start + span);
    }
    if (span < (uint64_t)max64(slot, conf->horizon_min_ms)) {
        snprintf(reason, rsz,
                 "forecast '%s' and prices '%s' overlap %llu min after %lld, "
                 "less than the minimum horizon",
                 fc->run_id, pr->curve_id, (unsigned long long)(span / MIN_MS),
                 (long long)not_before);
        return 1;
    }
    /* the slot before the horizon tells whether a window is cut by it: a
     * horizon within a slot of INT64_MIN has no such slot (it overflowed) */
    if (start < INT64_MIN + slot) {
        snprintf(reason, rsz,
                 "forecast '%s' and prices '%s' begin at the start of time", fc->run_id,
                 pr->curve_id);
        return 1;
    }
    b->start_ms = start, b->end_ms = end, b->slot_ms = slot;
    return 0;
}

static double quantile(const opt_forecast_t *fc, opt_quantile_t q, int k)
{
    return q == OPT_Q_P10 ? fc->p10[k] : q == OPT_Q_P90 ? fc->p90[k] : fc->p50[k];
}

/* Base load, price (plus the tariff charge of a market curve) and CO2. */
static int site_slots(opt_build_t *b, const opt_build_conf_t *conf,
                      const plant_site_t *site, const opt_forecast_t *fc,
                      const opt_prices_t *pr, const opt_local_t *loc)
{
    int T = b->pb.site.n_slots, co2 = conf->co2_eur_t > 0;

    b->price = calloc((size_t)T, sizeof(double));
    b->base = calloc((size_t)T, sizeof(double));
    if (!b->price || !b->base)
        return -1;
    for (int t = 0; t < T; t++) {
        int64_t ts = b->start_ms + t * b->slot_ms;
        int kf = (int)((ts - fc->start_ms) / (fc->slot_min * MIN_MS));
        int kp = (int)((ts - pr->start_ms) / (pr->slot_min * MIN_MS));
        b->base[t] = quantile(fc, conf->quantile, kf);
        b->price[t] = pr->price[kp];
        if (pr->kind == OPT_CURVE_MARKET) {
            const plant_tariff_period_t *tp = plant_tariff_period_at(
                site, loc[t + 1].wday, loc[t + 1].minute, loc[t + 1].holiday);
            b->price[t] += tp ? tp->energy_eur_per_mwh : 0;
        }
        co2 = co2 && !isnan(pr->co2_g_kwh[kp]);
    }
    if (!co2)
        return 0;
    if (!(b->co2 = calloc((size_t)T, sizeof(double))))
        return -1;
    for (int t = 0; t < T; t++) /* g/kWh is kg/MWh */
        b->co2[t] = pr->co2_g_kwh[(b->start_ms + t * b->slot_ms - pr->start_ms) /
                                  (pr->slot_min * MIN_MS)];
    return 0;
}

/* ---- equipment ---- */

typedef struct ctx {
    opt_build_t *b;
    const opt_local_t *loc; /* slots -1 .. T, index t + 1 */
    int slot_min;
} ctx_t;

static int in_window(const opt_local_t *l, int64_t d, int from, int to)
{
    if (to > from)
        return l->day == d && l->minute >= from && l->minute < to;
    return (l->day == d && l->minute >= from) || (l->day == d + 1 && l->minute < to);
}

/* Whether l is the window's deadline itself (its end, not in it). */
static int at_deadline(const opt_local_t *l, int64_t d, int from, int to)
{
    int64_t day = to > from ? d : d + 1;
    if (to >= DAY_MIN) {
        day++;
        to -= DAY_MIN;
    }
    return l->day == day && l->minute == to;
}

/* Whether the slot from start to end (local times of its start and of the
 * next slot's) lies wholly in the window: a slot that starts before the
 * deadline but ends after it (an hourly slot at 17:00 for a 17:30
 * deadline) would let a task finish late. */
static int slot_in_window(const opt_local_t *start, const opt_local_t *end, int64_t d,
                          int from, int to)
{
    return in_window(start, d, from, to) &&
           (in_window(end, d, from, to) || at_deadline(end, d, from, to));
}

static int ceil_slots(int minutes, int slot_min)
{
    return minutes > 0 ? (minutes + slot_min - 1) / slot_min : 0;
}

static opt_equipment_t *add_eq(ctx_t *c, int pi, const plant_equipment_t *pe, int nth)
{
    opt_equipment_t *q = &c->b->eq[c->b->pb.n_eq];

    memset(q, 0, sizeof *q);
    if (nth == 0)
        snprintf(q->name, sizeof q->name, "%s", pe->id);
    else
        snprintf(q->name, sizeof q->name, "%s/%d", pe->id, nth + 1);
    q->habitual_start = -1;
    q->earliest = 0;
    q->deadline = c->b->pb.site.n_slots;
    c->b->eq_plant[c->b->pb.n_eq++] = pi;
    return q;
}

static void flex_params(ctx_t *c, opt_equipment_t *q, const plant_equipment_t *pe)
{
    q->kind = OPT_TASK_FLEX;
    q->p_min_kw = pe->power_min_kw > 0 ? pe->power_min_kw : 0;
    q->p_max_kw = pe->power_max_kw;
    q->ramp_kw = pe->ramp_kw_per_slot;
    q->min_run = ceil_slots(pe->min_run_min, c->slot_min);
    q->min_rest = ceil_slots(pe->min_rest_min, c->slot_min);
    q->max_starts_day = pe->max_starts_per_day;
    q->startup_eur = pe->startup_cost_eur;
}

/* A deferrable: one task per site-local window lying wholly in the horizon.
 * Returns the number of tasks added. */
static int add_deferrable(ctx_t *c, int pi, const plant_equipment_t *pe)
{
    int T = c->b->pb.site.n_slots, added = 0;
    int from = pe->earliest_start_min >= 0 ? pe->earliest_start_min : 0;
    int to = pe->deadline_min >= 0 ? pe->deadline_min : DAY_MIN;

    for (int64_t d = c->loc[0].day - 1; d <= c->loc[T + 1].day; d++) {
        int first = -1, last = -1;
        if (in_window(&c->loc[0], d, from, to) ||
            in_window(&c->loc[T + 1], d, from, to))
            continue; /* cut by the horizon: another plan's window */
        for (int t = 0; t < T; t++)
            if (slot_in_window(&c->loc[t + 1], &c->loc[t + 2], d, from, to)) {
                first = first < 0 ? t : first;
                last = t;
            }
        if (first < 0)
            continue;
        opt_equipment_t *q = add_eq(c, pi, pe, added++);
        if (pe->interruptible) {
            flex_params(c, q, pe);
        } else {
            q->kind = OPT_TASK_BLOCK;
            q->p_max_kw = pe->power_max_kw;
            q->p_min_kw = pe->power_min_kw > 0 ? pe->power_min_kw : 0;
            q->startup_eur = pe->startup_cost_eur;
        }
        q->energy_kwh = pe->energy_per_window_kwh;
        q->group = pi + 1; /* its windows are one machine */
        q->earliest = first;
        q->deadline = last + 1;
    }
    return added;
}

/* A process: one task over the horizon, its daily output as one SLA shift
 * per local day, pro rata for a day the horizon covers in part. */
static int add_process(ctx_t *c, int pi, const plant_equipment_t *pe)
{
    int T = c->b->pb.site.n_slots, per_day = DAY_MIN / c->slot_min;
    const plant_process_t *pp = &pe->process;
    opt_equipment_t *q;

    if (!pe->has_process || pp->specific_kwh_per_unit <= 0 || pp->output_per_day <= 0)
        return 0;
    q = add_eq(c, pi, pe, 0);
    flex_params(c, q, pe);
    q->specific_kwh = pp->specific_kwh_per_unit;
    for (int t = 0; t < T && q->n_shifts < OPT_MAX_SHIFTS;) {
        int e = t;
        while (e < T && c->loc[e + 1].day == c->loc[t + 1].day)
            e++;
        /* A whole local day owes the whole day's output, whatever its
         * length (92 or 100 quarter-hours on DST days: counted against 96
         * the spring day owed 4% too little); a part of a day pro rata. */
        int whole =
            c->loc[t].day != c->loc[t + 1].day && c->loc[e + 1].day != c->loc[e].day;
        double share = whole ? 1.0 : (double)(e - t) / per_day;
        q->shifts[q->n_shifts++] = (opt_shift_t){
            .start = t, .end = e, .min_output = pp->output_per_day * share};
        t = e;
    }
    return 1;
}

/* Storage; a thermal store's process draw is taken from its SOC every
 * slot, so the plan keeps it between its limits while the process runs. */
static int add_storage(ctx_t *c, int pi, const plant_equipment_t *pe)
{
    const plant_storage_t *s = &pe->storage;
    double slot_h = c->b->pb.site.slot_h;
    opt_equipment_t *q;

    if (!pe->has_storage)
        return 0;
    if (pe->power_max_kw <= 0 && pe->power_min_kw >= 0)
        return 0;
    q = add_eq(c, pi, pe, 0);
    q->kind = OPT_STORAGE;
    q->cap_kwh = s->capacity_kwh;
    q->soc0_kwh = s->soc_initial * s->capacity_kwh;
    q->soc_min_kwh = s->soc_min * s->capacity_kwh;
    q->soc_max_kwh = s->soc_max * s->capacity_kwh;
    q->charge_max_kw = pe->power_max_kw > 0 ? pe->power_max_kw : 0;
    q->discharge_max_kw = pe->power_min_kw < 0 ? -pe->power_min_kw : 0;
    q->eta_charge = s->charge_efficiency;
    q->eta_discharge = s->discharge_efficiency;
    q->loss_per_slot = 1 - pow(1 - s->standing_loss_per_h, slot_h);
    q->draw_kw = s->draw_kw > 0 ? s->draw_kw : 0;
    q->ramp_kw = pe->ramp_kw_per_slot > 0 ? pe->ramp_kw_per_slot : 0;
    c->b->plant_map[pi] = OPT_MAP_STORAGE;
    return 1;
}

static int add_equipment(ctx_t *c, int pi, const plant_equipment_t *pe)
{
    switch (pe->kind) {
    case PLANT_EQ_DEFERRABLE:
        c->b->plant_map[pi] = pe->interruptible ? OPT_MAP_FLEX : OPT_MAP_BLOCK;
        return add_deferrable(c, pi, pe);
    case PLANT_EQ_PROCESS:
        c->b->plant_map[pi] = OPT_MAP_PROCESS;
        return add_process(c, pi, pe);
    case PLANT_EQ_STORAGE:
        return add_storage(c, pi, pe);
    default:
        return 0; /* a generic load has no commitment to plan */
    }
}

static int equipment(ctx_t *c, const plant_t *plant, const plant_site_t *site)
{
    const plant_equipment_t *pe = NULL;
    int n = 0, T = c->b->pb.site.n_slots;
    size_t per = (size_t)T * (size_t)c->slot_min / DAY_MIN + 3;

    while ((pe = plant_site_equipment_next(plant, site->id, pe)))
        n++;
    c->b->plant_eq = calloc((size_t)n + 1, sizeof *c->b->plant_eq);
    c->b->plant_map = calloc((size_t)n + 1, sizeof *c->b->plant_map);
    c->b->eq = calloc((size_t)n * per + 1, sizeof *c->b->eq);
    c->b->eq_plant = calloc((size_t)n * per + 1, sizeof *c->b->eq_plant);
    if (!c->b->plant_eq || !c->b->plant_map || !c->b->eq || !c->b->eq_plant)
        return -1;
    while ((pe = plant_site_equipment_next(plant, site->id, pe))) {
        int pi = c->b->n_plant; /* a skipped one's slot is reused */
        c->b->plant_eq[pi] = pe;
        if (add_equipment(c, pi, pe) > 0)
            c->b->n_plant++;
        else
            c->b->n_skipped++;
    }
    c->b->pb.eq = c->b->eq;
    return 0;
}

int opt_build_problem(opt_build_t *b, const opt_build_conf_t *conf,
                      const plant_t *plant, const plant_site_t *site,
                      const opt_forecast_t *fc, const opt_prices_t *pr,
                      int64_t not_before_ms, opt_local_fn local, void *local_ctx,
                      char *reason, size_t reason_size)
{
    opt_local_t *loc = NULL;
    opt_site_t *s = &b->pb.site;
    int T, rc = -1;

    opt_build_release(b);
    if (horizon(b, conf, fc, pr, not_before_ms, reason, reason_size))
        return 1;
    T = (int)((b->end_ms - b->start_ms) / b->slot_ms);
    s->n_slots = T;
    s->slot_h = b->slot_ms / 3600000.0;
    if (!(loc = calloc((size_t)T + 2, sizeof *loc)) ||
        !(b->day = malloc((size_t)T * sizeof *b->day)))
        goto out;
    for (int t = -1; t <= T; t++)
        local(local_ctx, b->start_ms + t * b->slot_ms, &loc[t + 1]);
    for (int t = 0; t < T; t++)
        b->day[t] = (int)(loc[t + 1].day - loc[1].day);
    s->day = b->day;
    if (site_slots(b, conf, site, fc, pr, loc))
        goto out;
    s->price = b->price;
    s->base_kw = b->base;
    s->co2_kg_mwh = b->co2;
    s->co2_eur_t = b->co2 ? conf->co2_eur_t : 0;
    s->import_cap_kw = site->contracted_import_kw;
    s->export_cap_kw =
        site->has_export_limit ? site->export_limit_kw : site->contracted_import_kw;
    s->demand_eur_kw = site->tariff.demand_charge_eur_per_kw;
    s->peak_so_far_kw =
        opt_peak_floor(conf->peak, b->start_ms, conf->peak_cutoff_ms, local, local_ctx);
    s->next_period_slot = opt_billing_next_slot(
        opt_billing_parse(site->tariff.billing_period), loc + 1, T);
    if (s->next_period_slot > 0)
        s->next_peak_so_far_kw =
            opt_peak_floor(conf->peak, b->start_ms + s->next_period_slot * b->slot_ms,
                           conf->peak_cutoff_ms, local, local_ctx);
    ctx_t c = {.b = b, .loc = loc, .slot_min = (int)(b->slot_ms / MIN_MS)};
    if (equipment(&c, plant, site))
        goto out;
    rc = 0;
out:
    free(loc);
    if (rc)
        snprintf(reason, reason_size, "out of memory");
    return rc;
}
