/*
 * opt_validate: re-checks a plan against the problem (see opt_validate.h).
 */
#include "schedule-optimizer/opt_validate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double tol(double x)
{
    return 1e-6 + 1e-4 * fabs(x);
}

static int check_window(const opt_equipment_t *q, const double *pw, int T,
                        opt_msgs_t *out)
{
    for (int t = 0; t < T; t++)
        if ((t < q->earliest || t >= q->deadline) && fabs(pw[t]) > 1e-6) {
            opt_msgs_add(out,
                         "%s draws %.3f kW in slot %d, outside its "
                         "window [%d, %d)",
                         q->name, pw[t], t, q->earliest, q->deadline);
            return 1;
        }
    return 0;
}

static int check_energy(const opt_problem_t *pb, const opt_equipment_t *q,
                        const double *pw, opt_msgs_t *out)
{
    double kwh = 0;

    if (q->energy_kwh <= 0)
        return 0;
    for (int t = 0; t < pb->site.n_slots; t++)
        kwh += pw[t] * pb->site.slot_h;
    if (fabs(kwh - q->energy_kwh) > tol(q->energy_kwh)) {
        opt_msgs_add(out, "%s delivers %.3f kWh instead of %.3f kWh", q->name, kwh,
                     q->energy_kwh);
        return 1;
    }
    return 0;
}

/* A non-interruptible task runs whole or not at all: at energy / duration
 * (at its rating when that is below its minimum, stopping within its last
 * slot). A run below that level is a fraction of a start (a relaxed
 * solution's), which the plant cannot run even where the energy check
 * alone would name only the energy short. */
static int check_block_level(const opt_problem_t *pb, const opt_equipment_t *q,
                             double level, int d, opt_msgs_t *out)
{
    double dt = pb->site.slot_h, want;

    if (q->energy_kwh <= 0)
        return 0;
    want = q->energy_kwh / ((d < 1 ? 1 : d) * dt);
    if (d > 1 && want < q->p_min_kw - 1e-9)
        want = q->p_max_kw;
    if (fabs(level - want) > tol(want)) {
        opt_msgs_add(out, "%s runs at %.3f kW instead of %.3f kW%s", q->name, level,
                     want, level < want ? ": a fraction of a start" : "");
        return 1;
    }
    return 0;
}

static int check_block(const opt_problem_t *pb, const opt_equipment_t *q,
                       const double *pw, opt_msgs_t *out)
{
    int T = pb->site.n_slots, first = -1, last = -1, runs = 0;
    double dt = pb->site.slot_h;
    int d = (int)ceil(q->energy_kwh / (q->p_max_kw * dt) - 1e-9);

    for (int t = 0; t < T; t++)
        if (pw[t] > 1e-6) {
            if (first < 0)
                first = t;
            if (t == 0 || pw[t - 1] <= 1e-6)
                runs++;
            last = t;
        }
    if (runs != 1) {
        opt_msgs_add(out, "%s is non-interruptible but runs %d times", q->name, runs);
        return 1;
    }
    if (last - first + 1 != (d < 1 ? 1 : d)) {
        opt_msgs_add(out, "%s runs %d slots instead of %d", q->name, last - first + 1,
                     d);
        return 1;
    }
    /* one power level; the last slot may average less (it stops within) */
    for (int t = first; t <= last; t++)
        if ((t < last ? fabs(pw[t] - pw[first]) : pw[t] - pw[first]) > tol(pw[first]) ||
            pw[t] > q->p_max_kw + tol(q->p_max_kw)) {
            opt_msgs_add(out, "%s changes power or exceeds %.3f kW in slot %d", q->name,
                         q->p_max_kw, t);
            return 1;
        }
    if (first < last && pw[first] < q->p_min_kw - tol(q->p_min_kw)) {
        opt_msgs_add(out, "%s runs at %.3f kW, below its minimum %.3f kW", q->name,
                     pw[first], q->p_min_kw);
        return 1;
    }
    return check_block_level(pb, q, pw[first], d, out);
}

/* Which run rules check_runs applies. */
enum { RULE_RUN = 1, RULE_REST_STARTS = 2 };

/* Minimum run, minimum rest and starts per local day of one power profile
 * (a task's, or the sum of a group's windows), as far as rules ask. */
static int check_runs(const opt_problem_t *pb, const opt_equipment_t *q,
                      const char *name, const double *pw, int rules, opt_msgs_t *out)
{
    int T = pb->site.n_slots, bad = 0, run = 0, rest = -1;
    int starts = 0;

    for (int t = 0; t <= T; t++) {
        int on = t < T && pw[t] > 1e-6;
        if (t < T &&
            (t == 0 || opt_slot_day(&pb->site, t) != opt_slot_day(&pb->site, t - 1)))
            starts = 0; /* a new site-local day */
        if (on && run == 0 && (rules & RULE_REST_STARTS)) {
            if (rest >= 0 && q->min_rest > 1 && rest < q->min_rest) {
                opt_msgs_add(out,
                             "%s restarts in slot %d after resting %d "
                             "slots (minimum %d)",
                             name, t, rest, q->min_rest);
                bad++;
            }
            if (q->max_starts_day > 0 && ++starts > q->max_starts_day) {
                opt_msgs_add(out,
                             "%s starts more than %d times a day (slot "
                             "%d)",
                             name, q->max_starts_day, t);
                bad++;
            }
        }
        if (!on && run > 0 && q->min_run > 1 && run < q->min_run &&
            (rules & RULE_RUN)) {
            opt_msgs_add(out,
                         "%s runs %d slots ending at slot %d (minimum "
                         "%d)",
                         name, run, t, q->min_run);
            bad++;
        }
        if (!on && run > 0)
            rest = 0;
        rest += !on && rest >= 0;
        run = on ? run + 1 : 0;
    }
    return bad;
}

/* Whether task f is a window of the same equipment as task e. */
static int same_group(const opt_problem_t *pb, int e, int f)
{
    return pb->eq[e].group > 0 && pb->eq[f].group == pb->eq[e].group &&
           pb->eq[f].kind == OPT_TASK_FLEX;
}

/* Minimum run, minimum rest and starts per day of the windows of one
 * equipment, checked once (at its first window) on their summed power: the
 * machine runs, rests and starts as one, and a run going on across two
 * touching windows is one run. */
static int check_group(const opt_problem_t *pb, const opt_plan_t *pl, int e,
                       opt_msgs_t *out)
{
    int T = pb->site.n_slots, bad;
    double *sum;
    char name[OPT_NAME_MAX + 32];

    for (int f = 0; f < e; f++)
        if (same_group(pb, e, f))
            return 0;
    if (!(sum = calloc((size_t)T, sizeof *sum))) {
        opt_msgs_add(out, "%s: out of memory checking its windows together",
                     pb->eq[e].name);
        return 1;
    }
    for (int f = e; f < pb->n_eq; f++)
        for (int t = 0; same_group(pb, e, f) && t < T; t++)
            sum[t] += pl->power[(size_t)f * T + t];
    snprintf(name, sizeof name, "%s (all its windows)", pb->eq[e].name);
    bad = check_runs(pb, &pb->eq[e], name, sum, RULE_RUN | RULE_REST_STARTS, out);
    free(sum);
    return bad;
}

static int check_flex(const opt_problem_t *pb, const opt_equipment_t *q,
                      const double *pw, opt_msgs_t *out)
{
    int T = pb->site.n_slots, bad = 0;
    double dt = pb->site.slot_h;

    for (int t = 0; t < T; t++) {
        if (pw[t] < -1e-6 || pw[t] > q->p_max_kw + tol(q->p_max_kw) ||
            (pw[t] > 1e-6 && pw[t] < q->p_min_kw - tol(q->p_min_kw))) {
            opt_msgs_add(out, "%s draws %.3f kW in slot %d, outside [%g, %g]", q->name,
                         pw[t], t, q->p_min_kw, q->p_max_kw);
            bad++;
        }
        double prev = t > 0 ? pw[t - 1] : 0, next = t + 1 < T ? pw[t + 1] : 0;
        if (q->ramp_kw > 0 &&
            (fabs(pw[t] - prev) > q->ramp_kw + tol(q->ramp_kw) ||
             (t == T - 1 && next == 0 && pw[t] > q->ramp_kw + tol(q->ramp_kw)))) {
            opt_msgs_add(out, "%s ramps faster than %g kW per slot at slot %d", q->name,
                         q->ramp_kw, t);
            bad++;
        }
    }
    for (int k = 0; k < q->n_shifts; k++) {
        const opt_shift_t *sh = &q->shifts[k];
        double units = 0;
        for (int t = sh->start; t < sh->end && t < T; t++)
            units += pw[t] * dt / q->specific_kwh;
        if (units < sh->min_output - tol(sh->min_output)) {
            opt_msgs_add(out,
                         "%s produces %.3f units in shift %d, below its "
                         "minimum %.3f",
                         q->name, units, k, sh->min_output);
            bad++;
        }
    }
    /* a window of a group runs, rests and starts with the others
     * (check_group) */
    return bad + (q->group > 0 ? 0
                               : check_runs(pb, q, q->name, pw,
                                            RULE_RUN | RULE_REST_STARTS, out));
}

static int check_storage(const opt_problem_t *pb, const opt_equipment_t *q,
                         const opt_plan_t *pl, int e, opt_msgs_t *out)
{
    int T = pb->site.n_slots, bad = 0;
    size_t o = (size_t)e * T;
    double dt = pb->site.slot_h, soc = q->soc0_kwh;

    for (int t = 0; t < T; t++) {
        double c = pl->charge[o + t], d = pl->discharge[o + t];
        if (c < -1e-6 || c > q->charge_max_kw + tol(q->charge_max_kw) || d < -1e-6 ||
            d > q->discharge_max_kw + tol(q->discharge_max_kw)) {
            opt_msgs_add(out,
                         "%s charges %.3f / discharges %.3f kW in slot "
                         "%d beyond its limits",
                         q->name, c, d, t);
            bad++;
        }
        if (c > tol(c) && d > tol(d)) {
            opt_msgs_add(out,
                         "%s charges %.3f and discharges %.3f kW in slot %d at "
                         "once",
                         q->name, c, d, t);
            bad++;
        }
        if (q->ramp_kw > 0 && t > 0 &&
            fabs(pl->power[o + t] - pl->power[o + t - 1]) >
                q->ramp_kw + tol(q->ramp_kw)) {
            opt_msgs_add(out, "%s ramps faster than %g kW per slot at slot %d", q->name,
                         q->ramp_kw, t);
            bad++;
        }
        if (fabs(pl->power[o + t] - (c - d)) > tol(c + d)) {
            opt_msgs_add(out,
                         "%s power %.3f kW in slot %d is not charge minus "
                         "discharge",
                         q->name, pl->power[o + t], t);
            bad++;
        }
        soc = soc * (1 - q->loss_per_slot) + q->eta_charge * c * dt -
              d * dt / q->eta_discharge - q->draw_kw * dt;
        if (soc < q->soc_min_kwh - tol(q->cap_kwh + q->soc_max_kwh) ||
            soc > q->soc_max_kwh + tol(q->cap_kwh + q->soc_max_kwh)) {
            opt_msgs_add(out,
                         "%s state of charge %.3f kWh in slot %d is "
                         "outside [%g, %g]",
                         q->name, soc, t, q->soc_min_kwh, q->soc_max_kwh);
            bad++;
            break;
        }
    }
    if (soc < q->soc0_kwh - tol(q->soc_max_kwh)) {
        opt_msgs_add(out, "%s ends at %.3f kWh, below its initial %.3f kWh", q->name,
                     soc, q->soc0_kwh);
        bad++;
    }
    return bad;
}

static int check_site(const opt_problem_t *pb, const opt_plan_t *pl, opt_msgs_t *out)
{
    const opt_site_t *s = &pb->site;
    int bad = 0;

    for (int t = 0; t < s->n_slots; t++) {
        double g = s->base_kw[t];
        for (int e = 0; e < pb->n_eq; e++)
            g += pl->power[(size_t)e * s->n_slots + t];
        if (g > s->import_cap_kw + tol(s->import_cap_kw)) {
            opt_msgs_add(out,
                         "site imports %.3f kW in slot %d, above its "
                         "capacity %g kW",
                         g, t, s->import_cap_kw);
            bad++;
        }
        if (s->export_cap_kw >= 0 && g < -s->export_cap_kw - tol(g)) {
            opt_msgs_add(out,
                         "site exports %.3f kW in slot %d, above its "
                         "limit %g kW",
                         -g, t, s->export_cap_kw);
            bad++;
        }
    }
    return bad;
}

int opt_validate(const opt_problem_t *pb, const opt_plan_t *pl, opt_msgs_t *out)
{
    int T = pb->site.n_slots, bad = 0;

    if (pl->n_eq != pb->n_eq || pl->n_slots != T) {
        opt_msgs_add(out, "plan shape %dx%d does not match the problem %dx%d", pl->n_eq,
                     pl->n_slots, pb->n_eq, T);
        return 1;
    }
    for (int e = 0; e < pb->n_eq; e++) {
        const opt_equipment_t *q = &pb->eq[e];
        const double *pw = pl->power + (size_t)e * T;
        if (q->kind == OPT_STORAGE) {
            bad += check_storage(pb, q, pl, e, out);
            continue;
        }
        bad += check_window(q, pw, T, out);
        bad += check_energy(pb, q, pw, out);
        bad += q->kind == OPT_TASK_BLOCK ? check_block(pb, q, pw, out)
                                         : check_flex(pb, q, pw, out);
        if (q->kind == OPT_TASK_FLEX && q->group > 0)
            bad += check_group(pb, pl, e, out);
    }
    return bad + check_site(pb, pl, out);
}
