/*
 * opt_binding: which constraints bind in a plan, in words an operator reads.
 * Computed from the plan itself (not from solver duals), so it holds for
 * heuristic plans too.
 */
#include "schedule-optimizer/opt_solve.h"

#include <math.h>

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-3 + 1e-6 * fabs(b);
}

/* The demand charge's line for billing period k (0 = the horizon start's,
 * 1 = the next one) over slots [from, to). */
static void peak_binding(const opt_problem_t *pb, const opt_plan_t *pl, int k, int from,
                         int to, opt_msgs_t *out)
{
    const opt_site_t *s = &pb->site;
    double floor = opt_period_floor(s, k), peak = floor;
    const char *which = k ? "next period's" : "period";
    int at_peak = -1;

    for (int t = from; t < to; t++) {
        double g = opt_site_load(pb, pl, t);
        if (g > peak + 1e-6) {
            peak = g;
            at_peak = t;
        }
    }
    if (at_peak >= 0)
        opt_msgs_add(out,
                     "demand charge: new %s peak %.1f kW in slot %d "
                     "(peak so far %.1f kW)",
                     which, peak, at_peak, floor);
    else
        opt_msgs_add(out,
                     "demand charge: plan stays under the %s peak "
                     "%.1f kW",
                     which, floor);
}

static int site_binding(const opt_problem_t *pb, const opt_plan_t *pl, opt_msgs_t *out)
{
    const opt_site_t *s = &pb->site;
    int n = 0, first = -1, split = s->next_period_slot;

    for (int t = 0; t < s->n_slots; t++) {
        double g = opt_site_load(pb, pl, t);
        if (near(g, s->import_cap_kw) || g > s->import_cap_kw) {
            n++;
            if (first < 0)
                first = t;
        }
    }
    if (n)
        opt_msgs_add(out,
                     "import capacity %g kW reached in %d slots (first "
                     "slot %d)",
                     s->import_cap_kw, n, first);
    if (s->demand_eur_kw <= 0)
        return n > 0;
    peak_binding(pb, pl, 0, 0, split > 0 ? split : s->n_slots, out);
    if (split > 0)
        peak_binding(pb, pl, 1, split, s->n_slots, out);
    return (n > 0) + 1 + (split > 0);
}

static int eq_binding(const opt_problem_t *pb, const opt_plan_t *pl, int e,
                      opt_msgs_t *out)
{
    const opt_equipment_t *q = &pb->eq[e];
    int T = pb->site.n_slots, n = 0;
    const double *pw = pl->power + (size_t)e * T;

    if (q->kind != OPT_STORAGE && q->deadline > 0 && pw[q->deadline - 1] > 1e-6) {
        opt_msgs_add(out, "task %s runs until its deadline (slot %d)", q->name,
                     q->deadline);
        n++;
    }
    for (int h = 0; q->kind == OPT_TASK_FLEX && h < q->n_shifts; h++) {
        double u = 0;
        for (int t = q->shifts[h].start; t < q->shifts[h].end; t++)
            u += pw[t] * pb->site.slot_h / q->specific_kwh;
        if (near(u, q->shifts[h].min_output)) {
            opt_msgs_add(out,
                         "process %s produces exactly its minimum %.2f "
                         "units in shift %d",
                         q->name, u, h);
            n++;
        }
    }
    if (q->kind == OPT_STORAGE) {
        const double *soc = pl->soc + (size_t)e * T;
        int full = 0, empty = 0;
        for (int t = 0; t < T; t++) {
            full += near(soc[t], q->soc_max_kwh);
            empty += near(soc[t], q->soc_min_kwh);
        }
        if (full || empty) {
            opt_msgs_add(out,
                         "storage %s at its maximum SOC in %d slots, at "
                         "its minimum in %d",
                         q->name, full, empty);
            n++;
        }
    }
    return n;
}

int opt_binding(const opt_problem_t *pb, const opt_plan_t *pl, opt_msgs_t *out)
{
    int n = site_binding(pb, pl, out);

    for (int e = 0; e < pb->n_eq; e++)
        n += eq_binding(pb, pl, e, out);
    return n;
}
