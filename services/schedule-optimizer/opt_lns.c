/*
 * opt_lns: the large-neighbourhood search of a planning run (see
 * opt_lns.h and opt_solve_int.h).
 */
#include "schedule-optimizer/opt_lns.h"

#include <lp_lib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock/clock.h"
#include "schedule-optimizer/opt_heur.h"
#include "schedule-optimizer/opt_model.h"
#include "schedule-optimizer/opt_solve_int.h"

/* The search runs when the full LP is too slow for the limit, and after
 * a branch and bound that did not finish. Each round frees up to LNS_FREE
 * non-interruptible tasks whose windows reach one slot, plus up to
 * LNS_STORAGE storages, and solves them as a problem of their own against
 * the rest of the best plan. Pumps mostly stay as they are (each brings a
 * run and a rest row per slot, and opt_improve_pumps moves them already):
 * every fourth round frees one, in turn, with up to LNS_FREE_WITH_PUMP
 * tasks. A task is freed with every other window of its equipment, so
 * that the rules across them (minimum run and rest, starts per day, one
 * start-up for a run across touching windows) are rows of the round's
 * model and a move of both windows can be found. Every eighth round
 * re-polishes storage and pump levels instead. The slots alternate
 * between the plan's peak and pseudo-random ones from a fixed seed, so
 * the sequence of neighbourhoods is reproducible. */
#define LNS_FREE 10
#define LNS_STORAGE 3
#define LNS_FREE_WITH_PUMP 4

static unsigned lns_rand(unsigned *st)
{
    *st = *st * 1103515245u + 12345u;
    return (*st >> 8) & 0xffffff;
}

static int peak_slot(const run_t *u)
{
    int T = u->pb->site.n_slots, at = 0;
    double top = -HUGE_VAL;

    for (int t = 0; t < T; t++) {
        double g = opt_site_load(u->pb, &u->r->plan, t);
        if (g > top) {
            top = g;
            at = t;
        }
    }
    return at;
}

/* Each neighbourhood is a small problem of its own: the freed blocks over
 * a base load that holds the site base plus everything else the best plan
 * draws (storage, pumps, the other blocks). lp_solve then sees a few
 * hundred columns and one row per slot; fixing columns in the full model
 * instead left lp_solve's presolve with accuracy errors or, unpresolved,
 * a storage LP larger than the sub-problem. */
typedef struct lns {
    opt_problem_t pb;    /* freed blocks only */
    opt_equipment_t *eq; /* their copies */
    int *map;            /* sub index -> index in the full problem */
    double *base;
    opt_plan_t sub; /* sub-plan (shape n_eq of the full problem) */
    int *cand;
    unsigned seed;
} lns_t;

static void lns_release(lns_t *l)
{
    free(l->eq);
    free(l->map);
    free(l->base);
    free(l->cand);
    opt_plan_release(&l->sub);
}

static int lns_init(lns_t *l, const opt_problem_t *pb)
{
    int n = pb->n_eq > 0 ? pb->n_eq : 1, T = pb->site.n_slots;

    memset(l, 0, sizeof *l);
    l->seed = 20201110u;
    l->eq = malloc((size_t)n * sizeof *l->eq);
    l->map = malloc((size_t)n * sizeof *l->map);
    l->base = malloc((size_t)T * sizeof *l->base);
    l->cand = malloc((size_t)n * sizeof *l->cand);
    if (!l->eq || !l->map || !l->base || !l->cand)
        return -1;
    l->pb = *pb;
    l->pb.eq = l->eq;
    l->pb.site.base_kw = l->base;
    /* a pump's windows come with it: room for every task */
    return opt_plan_init(&l->sub, n, T);
}

/* Adds up to LNS_STORAGE storages, from a pseudo-random one on. */
static int lns_add_storage(lns_t *l, const opt_problem_t *pb, int k)
{
    int n = pb->n_eq, at = n ? (int)(lns_rand(&l->seed) % (unsigned)n) : 0;

    for (int i = 0, got = 0; i < n && got < LNS_STORAGE; i++) {
        int e = (at + i) % n;
        if (pb->eq[e].kind != OPT_STORAGE)
            continue;
        l->map[k] = e;
        l->eq[k++] = pb->eq[e];
        got++;
    }
    return k;
}

/* Copies row e of a plan into row i of another (same slot count). */
static void row_copy(opt_plan_t *dst, int i, const opt_plan_t *src, int e)
{
    size_t n = (size_t)src->n_slots, a = (size_t)i * n, b = (size_t)e * n;

    memcpy(dst->power + a, src->power + b, n * sizeof(double));
    memcpy(dst->charge + a, src->charge + b, n * sizeof(double));
    memcpy(dst->discharge + a, src->discharge + b, n * sizeof(double));
    memcpy(dst->soc + a, src->soc + b, n * sizeof(double));
}

/* The number of tasks of e's equipment (its windows; 1 without a group). */
static int group_size(const opt_problem_t *pb, int e)
{
    int n = 0;

    for (int f = 0; f < pb->n_eq; f++)
        n += f == e || (pb->eq[e].group > 0 && pb->eq[f].group == pb->eq[e].group);
    return n;
}

/* Appends e and every other window of its equipment to pick[0..k) unless
 * a window of it is there already or they would pass max tasks; returns
 * the new count. */
static int lns_take(const opt_problem_t *pb, int *pick, int k, int e, int max)
{
    for (int i = 0; i < k; i++)
        if (pick[i] == e ||
            (pb->eq[e].group > 0 && pb->eq[pick[i]].group == pb->eq[e].group))
            return k;
    if (k + group_size(pb, e) > max)
        return k;
    pick[k++] = e;
    for (int f = 0; pb->eq[e].group > 0 && f < pb->n_eq; f++)
        if (f != e && pb->eq[f].group == pb->eq[e].group)
            pick[k++] = f;
    return k;
}

int opt_lns_pick(const opt_problem_t *pb, int c, int pump, unsigned *seed, int *pick,
                 int *cand)
{
    int T = pb->site.n_slots, w = T / 12 + 2, n = 0, k = 0;
    int nfree = pump >= 0 ? LNS_FREE_WITH_PUMP : LNS_FREE;

    for (int e = 0; e < pb->n_eq; e++)
        if (pb->eq[e].kind == OPT_TASK_BLOCK && pb->eq[e].earliest <= c + w &&
            pb->eq[e].deadline > c - w)
            cand[n++] = e;
    /* in pseudo-random order until the limit is reached */
    for (int i = 0; i < n && k < nfree; i++) {
        int j = i + (int)(lns_rand(seed) % (unsigned)(n - i));
        int x = cand[i];
        cand[i] = cand[j];
        cand[j] = x;
        k = lns_take(pb, pick, k, cand[i], nfree);
    }
    /* the pump's windows count as one pump, not as tasks */
    return pump >= 0 ? lns_take(pb, pick, k, pump, pb->n_eq) : k;
}

/* Frees the tasks opt_lns_pick chooses around slot c, and a few storages,
 * and builds their problem against the plan; returns how many tasks were
 * freed. */
static int lns_build(lns_t *l, const opt_problem_t *pb, const opt_plan_t *pl, int c,
                     int pump)
{
    int T = pb->site.n_slots, k;
    int nb = opt_lns_pick(pb, c, pump, &l->seed, l->map, l->cand);

    /* whole structs: a group's windows keep their group, so the model
     * built on them has the rows across them */
    for (k = 0; k < nb; k++)
        l->eq[k] = pb->eq[l->map[k]];
    k = lns_add_storage(l, pb, k);
    l->pb.n_eq = k;
    l->sub.n_eq = k;
    for (int t = 0; t < T; t++) {
        l->base[t] = opt_site_load(pb, pl, t);
        for (int i = 0; i < k; i++)
            l->base[t] -= pl->power[(size_t)l->map[i] * T + t];
    }
    for (int i = 0; i < k; i++)
        row_copy(&l->sub, i, pl, l->map[i]);
    return nb;
}

/* Solves the neighbourhood until stop with the plan's own cost of it as
 * the cut-off; offers the full plan when lp_solve finds a better one. */
static void lns_solve(run_t *u, lns_t *l, double stop)
{
    char err[128];
    opt_model_t *m = opt_model_new(&l->pb, 0, err, sizeof err);
    double keep = u->deadline, *x;
    int st;
    opt_cost_t now;

    if (!m)
        return;
    lprec *lp = opt_model_lp(m);
    opt_plan_finish(&l->pb, &l->sub);
    opt_plan_cost(&l->pb, &l->sub, &now);
    if (u->o->simplex_type > 0)
        set_simplextype(lp, u->o->simplex_type);
    set_bb_floorfirst(lp, u->o->bb_floor_search);
    set_bb_depthlimit(lp, u->o->bb_depth);
    set_mip_gap(lp, FALSE, u->o->mip_gap_rel);
    set_obj_bound(lp, now.total_eur - opt_model_obj_const(m) -
                          1e-7 * fabs(u->r->cost.total_eur));
    u->deadline = stop;
    put_abortfunc(lp, opt_run_abort, u);
    st = solve(lp);
    u->deadline = keep;
    /* the solution count, not the status, says whether a plan beat the
     * cut-off (see opt_run_lp) */
    if ((st == OPTIMAL || st == SUBOPTIMAL || st == USERABORT || st == TIMEOUT) &&
        get_solutioncount(lp) > 0 && get_ptr_variables(lp, &x)) {
        opt_model_extract(m, x, &l->sub);
        opt_plan_copy(&u->cand, &u->r->plan);
        for (int k = 0; k < l->pb.n_eq; k++)
            row_copy(&u->cand, l->map[k], &l->sub, k);
        opt_plan_finish(u->pb, &u->cand);
        opt_improve_blocks(u->pb, &u->cand, 5);
        opt_run_offer(u, &u->cand, "lns");
    }
    opt_model_destroy(m);
}

/* Whether no earlier task is a window of e's equipment. */
static int first_window(const opt_problem_t *pb, int e)
{
    for (int f = 0; pb->eq[e].group > 0 && f < e; f++)
        if (pb->eq[f].group == pb->eq[e].group)
            return 0;
    return 1;
}

/* The next on/off task (interruptible, with binaries) after *at, cycling,
 * one per equipment (its first window: the others come with it); -1 when
 * there is none. */
static int next_pump(const opt_problem_t *pb, int *at)
{
    for (int i = 0; i < pb->n_eq; i++) {
        int e = (*at + i) % pb->n_eq;
        const opt_equipment_t *q = &pb->eq[e];
        if (q->kind == OPT_TASK_FLEX && first_window(pb, e) &&
            (q->p_min_kw > 0 || q->min_run > 1 || q->startup_eur > 0)) {
            *at = e + 1;
            return e;
        }
    }
    return -1;
}

void opt_lns_search(run_t *u)
{
    int T = u->pb->site.n_slots, pump_at = 0;
    lns_t l;

    if (lns_init(&l, u->pb) == 0)
        for (int it = 0; u->have; it++) {
            double left = u->deadline - ems_mono_s();
            if (left < 0.1)
                break;
            if (it % 8 == 7) { /* storage and pump levels against the tasks */
                opt_plan_copy(&u->cand, &u->r->plan);
                opt_run_polish(u, &u->cand, "lns");
                continue;
            }
            int c = it % 2 == 0 ? peak_slot(u) : (int)(lns_rand(&l.seed) % (unsigned)T);
            /* every fourth round also frees one pump (in turn) */
            int pump = it % 4 == 1 ? next_pump(u->pb, &pump_at) : -1;
            if (lns_build(&l, u->pb, &u->r->plan, c, pump) > 0)
                lns_solve(u, &l, ems_mono_s() + fmin(left, fmax(0.5, 0.1 * left)));
        }
    lns_release(&l);
}
