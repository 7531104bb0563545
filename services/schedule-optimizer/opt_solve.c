/*
 * opt_solve: orchestrates heuristic, LP and branch and bound (see opt_solve.h).
 */
#include "schedule-optimizer/opt_solve.h"
#include "clock/clock.h"

#include <lp_lib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schedule-optimizer/opt_heur.h"
#include "schedule-optimizer/opt_model.h"
#include "schedule-optimizer/opt_validate.h"

typedef struct run {
    const opt_problem_t *pb;
    const opt_options_t *o;
    opt_result_t *r;
    opt_model_t *m;
    opt_plan_t cand;      /* scratch candidate */
    double t0, deadline;  /* monotonic seconds */
    double *xlp;          /* LP relaxation solution (owned) */
    int ncols;
    int have;             /* r->plan holds a validated plan */
    int rechecked;        /* a second opinion was asked (second_opinion) */
} run_t;

void opt_options_init(opt_options_t *o)
{
    o->time_limit_s = 10;
    o->mip_gap_rel = 1e-7;
    o->bb_floor = BRANCH_CEILING;
    /* ADR 0010, item 12: on 10 x 96 RINS and the neighbourhood search with
     * the automatic direction ended at 3372.38 EUR instead of 3373.85;
     * the proof keeps ceiling first, which proved the replay days in
     * 0.1-0.2 s where automatic took 0.3-0.7 s */
    o->bb_floor_search = BRANCH_AUTOMATIC;
    o->bb_rule = NODE_FIRSTSELECT;
    o->bb_depth = -50;
    o->use_heuristic = 1;
    o->simplex_type = SIMPLEX_PRIMAL_PRIMAL;
    o->elastic_lp_only = 0;
    o->strict_infeasible = 0;
}

void opt_result_init(opt_result_t *r)
{
    memset(r, 0, sizeof *r);
    r->heuristic_eur = HUGE_VAL;
    opt_msgs_init(&r->binding);
    opt_msgs_init(&r->explain);
    opt_msgs_init(&r->problems);
}

void opt_result_release(opt_result_t *r)
{
    if (!r)
        return;
    opt_plan_release(&r->plan);
    opt_plan_release(&r->baseline);
    opt_msgs_release(&r->binding);
    opt_msgs_release(&r->explain);
    opt_msgs_release(&r->problems);
}

const char *opt_status_name(opt_status_t s)
{
    static const char *n[] = {"optimal", "feasible", "heuristic", "infeasible",
                              "no-plan"};

    return (unsigned)s < sizeof n / sizeof *n ? n[s] : "unknown";
}

/* Offers the candidate plan: kept when valid and cheaper. Returns 1 if kept. */
static int offer(run_t *u, opt_plan_t *pl, const char *source)
{
    opt_cost_t c;

    opt_plan_finish(u->pb, pl);
    if (opt_validate(u->pb, pl, NULL) != 0)
        return 0;
    opt_plan_cost(u->pb, pl, &c);
    if (u->have && c.total_eur >= u->r->cost.total_eur - 1e-9)
        return 0;
    opt_plan_copy(&u->r->plan, pl);
    u->r->cost = c;
    u->r->source = source;
    u->have = 1;
    return 1;
}

static int __WINAPI abort_cb(lprec *lp, void *h)
{
    (void)lp;
    return ems_mono_s() > ((run_t *)h)->deadline;
}

/* Solves the current LP/MILP; fills x (ncols) on success. */
static int lp_run(run_t *u, double **x)
{
    lprec *lp = opt_model_lp(u->m);
    int st;

    put_abortfunc(lp, abort_cb, u);
    st = solve(lp);
    u->r->lp_status = st;
    /* An abort or timeout after an improved solution still has it. Under
     * a cut-off (set_obj_bound) that nothing beat, lp_solve 5.5 may answer
     * OPTIMAL with no solution stored: its postsolve then checks a
     * best_solution array it never filled (valgrind: uninitialised reads
     * in check_solution, suppressed in tests/valgrind/ems.supp), so the
     * solution count, not the status, says whether there is a plan. */
    if ((st == PRESOLVED || ((st == OPTIMAL || st == SUBOPTIMAL || st == USERABORT ||
                              st == TIMEOUT) &&
                             get_solutioncount(lp) > 0)) &&
        get_ptr_variables(lp, x))
        return st;
    *x = NULL;
    return st;
}

/* Re-optimises the continuous part with the plan's binaries fixed, in a
 * fresh copy of the model that lp_solve may presolve: with every binary
 * fixed, presolve removes them and their rows, so the LP left is storage,
 * pump power levels and the peak. (On the shared model the same LP took
 * longer than the 30 s limit at 200 x 192.) */
static void polish(run_t *u, opt_plan_t *pl, const char *source)
{
    char err[128];
    opt_model_t *m = opt_model_new(u->pb, 0, err, sizeof err);
    lprec *lp;
    double *x = NULL;
    int st, nr, nc;

    if (!m)
        return;
    lp = opt_model_lp(m);
    opt_model_fix_to_plan(m, pl);
    if (u->o->simplex_type > 0)
        set_simplextype(lp, u->o->simplex_type);
    set_presolve(lp, PRESOLVE_ROWS | PRESOLVE_COLS | PRESOLVE_LINDEP,
                 get_presolveloops(lp));
    put_abortfunc(lp, abort_cb, u);
    nr = get_Nrows(lp);
    nc = get_Ncolumns(lp);
    st = solve(lp);
    if ((st == OPTIMAL || st == PRESOLVED) &&
        (x = malloc((size_t)nc * sizeof *x)) != NULL) {
        for (int j = 1; j <= nc; j++)
            x[j - 1] = get_var_primalresult(lp, nr + j);
        opt_model_extract(m, x, &u->cand);
        opt_improve_blocks(u->pb, &u->cand, 5);
        if (opt_improve_pumps(u->pb, &u->cand, 2) > 0)
            opt_improve_blocks(u->pb, &u->cand, 5);
        offer(u, &u->cand, source);
    }
    free(x);
    opt_model_destroy(m);
}

static void heuristics(run_t *u)
{
    opt_heuristic(u->pb, &u->cand);
    if (offer(u, &u->cand, "heuristic"))
        u->r->heuristic_eur = u->r->cost.total_eur;
    if (u->have) {
        opt_plan_t h;
        /* polish, move tasks against the polished storage, polish again,
         * while that pays and at most a third of the time is spent */
        double limit = u->t0 + (u->deadline - u->t0) / 3, prev = HUGE_VAL;
        if (opt_plan_init(&h, u->pb->n_eq, u->pb->site.n_slots) == 0) {
            for (int i = 0; i < 4 && ems_mono_s() < limit &&
                            (i == 0 ||
                             u->r->cost.total_eur < prev - 1e-7 * fabs(prev));
                 i++) {
                prev = u->r->cost.total_eur;
                opt_plan_copy(&h, &u->r->plan);
                polish(u, &h, "heuristic");
            }
            opt_plan_release(&h);
        }
        u->r->heuristic_eur = u->r->cost.total_eur;
    }
}

/* LP relaxation: the bound, and a rounded plan as another candidate. */
/* A task whose window cannot hold its energy even alone. */
static int window_too_short(const opt_problem_t *pb)
{
    for (int e = 0; e < pb->n_eq; e++) {
        const opt_equipment_t *q = &pb->eq[e];
        int w = q->deadline - q->earliest;
        if (q->kind == OPT_TASK_BLOCK && opt_block_duration(pb, q, NULL) > w)
            return 1;
        if (q->kind == OPT_TASK_FLEX &&
            q->energy_kwh > q->p_max_kw * w * pb->site.slot_h * (1 + 1e-9))
            return 1;
    }
    return 0;
}

/* Whether the root LP is hopeless in the time left. lp_solve's LP time
 * grew about quadratically with the rows on the bench families (4.5k rows
 * 3 s, 9k rows over 9 s, 17.6k rows over 15 s), so the estimate is
 * 3 s * (rows / 4500)^2; only a plan in hand lets it be skipped. */
static int lp_hopeless(const run_t *u)
{
    double r = get_Nrows(opt_model_lp(u->m)) / 4500.0;

    return u->have && u->o->use_heuristic &&
           3.0 * r * r > u->deadline - ems_mono_s();
}

static void bb_settings(const run_t *u, lprec *lp);

/* lp_solve's verdict "infeasible" (or a numerical failure) is not taken on
 * one try: on the November 2020 replay the primal simplex called the
 * relaxation of perfectly feasible day models infeasible, and a branch and
 * bound warm-started from the relaxation's basis did the same, while a
 * fresh model solved them at once. The model is rebuilt (the same column
 * layout, so the run goes on with it) and solved again from the slack basis
 * with lp_solve's default dual-then-primal simplex (relaxed: integrality
 * off). Returns the new status; x as lp_run. */
static int second_opinion(run_t *u, int relaxed, double **x)
{
    char err[128];
    int st;
    opt_model_t *m = opt_model_new(u->pb, 0, err, sizeof err);

    if (!m) {
        *x = NULL;
        return u->r->lp_status;
    }
    opt_model_destroy(u->m);
    u->m = m;
    set_simplextype(opt_model_lp(m), SIMPLEX_DUAL_PRIMAL);
    if (relaxed)
        opt_model_set_relaxed(m, 1);
    else
        bb_settings(u, opt_model_lp(m));
    st = lp_run(u, x);
    u->rechecked = 1;
    return st;
}

/* Returns -1 when even the relaxation is infeasible. */
static int relaxation(run_t *u)
{
    double *x, keep = u->deadline;
    int st;

    if (lp_hopeless(u)) {
        u->r->bound_eur = -HUGE_VAL;
        return 0;
    }

    opt_model_set_relaxed(u->m, 1);
    /* With a plan in hand, the relaxation gets half the time left; past
     * that the model is too large for lp_solve's branch and bound in this
     * limit and the rest goes to the neighbourhood search. */
    if (u->have && u->o->use_heuristic)
        u->deadline = ems_mono_s() + 0.5 * (keep - ems_mono_s());
    /* The polish leaves the basis of a model with every binary fixed; from
     * there the relaxation took 9 s on 50 x 96 instead of 3 s from the
     * slack basis. */
    default_basis(opt_model_lp(u->m));
    st = lp_run(u, &x);
    if (st == INFEASIBLE || st == NUMFAILURE)
        st = second_opinion(u, 1, &x);
    u->deadline = keep;
    if (st == OPTIMAL && x) {
        u->r->bound_eur = get_objective(opt_model_lp(u->m)) +
                          opt_model_obj_const(u->m);
        u->ncols = get_Ncolumns(opt_model_lp(u->m));
        u->xlp = malloc((size_t)u->ncols * sizeof *u->xlp);
        if (u->xlp)
            memcpy(u->xlp, x, (size_t)u->ncols * sizeof *x);
        opt_model_extract(u->m, x, &u->cand);
        opt_improve_blocks(u->pb, &u->cand, 20);
        if (u->o->use_heuristic && ems_mono_s() < u->deadline) {
            opt_model_set_relaxed(u->m, 0);
            polish(u, &u->cand, "lp-rounding");
        }
    } else {
        u->r->bound_eur = -HUGE_VAL;
    }
    opt_model_set_relaxed(u->m, 0);
    return st == INFEASIBLE ? -1 : 0;
}

/* RINS needs a few hundred nodes before it finds anything on 10 x 96
 * (in a 1 s limit: 121 nodes in 0.085 s found nothing, 471 in 0.25 s a
 * plan 0.13% cheaper), so in short limits it gets at least this long, up
 * to RINS_MAX_SHARE of the time left (ADR 0010, item 13). */
#define RINS_MIN_S 0.25
#define RINS_MAX_SHARE 0.3

/* RINS: branch and bound over the binaries where the best plan and the LP
 * relaxation disagree, the rest fixed, for a share of the time left. */
static void rins(run_t *u, double share)
{
    lprec *lp = opt_model_lp(u->m);
    double keep = u->deadline, left = u->deadline - ems_mono_s(), *x;

    if (!u->have || !u->xlp)
        return;
    u->deadline = ems_mono_s() + fmax(share * left, fmin(RINS_MAX_SHARE * left, RINS_MIN_S));
    opt_model_fix_agreeing(u->m, &u->r->plan, u->xlp);
    set_bb_floorfirst(lp, u->o->bb_floor_search);
    set_bb_depthlimit(lp, u->o->bb_depth);
    set_mip_gap(lp, FALSE, u->o->mip_gap_rel);
    set_obj_bound(lp, u->r->cost.total_eur - opt_model_obj_const(u->m) -
                          1e-9 * fabs(u->r->cost.total_eur));
    lp_run(u, &x);
    if (x) {
        opt_model_extract(u->m, x, &u->cand);
        opt_improve_blocks(u->pb, &u->cand, 5);
        offer(u, &u->cand, "rins");
    }
    opt_model_unfix(u->m);
    u->deadline = keep;
}

/* ---- large-neighbourhood search ----
 *
 * Runs when the full LP is too slow for the limit, and after a branch and
 * bound that did not finish. Each round frees up to LNS_FREE
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
    opt_problem_t pb;     /* freed blocks only */
    opt_equipment_t *eq;  /* their copies */
    int *map;             /* sub index -> index in the full problem */
    double *base;
    opt_plan_t sub;       /* sub-plan (shape n_eq of the full problem) */
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

int opt_lns_pick(const opt_problem_t *pb, int c, int pump, unsigned *seed,
                 int *pick, int *cand)
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
static int lns_build(lns_t *l, const opt_problem_t *pb, const opt_plan_t *pl,
                     int c, int pump)
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
    put_abortfunc(lp, abort_cb, u);
    st = solve(lp);
    u->deadline = keep;
    /* the solution count, not the status, says whether a plan beat the
     * cut-off (see lp_run) */
    if ((st == OPTIMAL || st == SUBOPTIMAL || st == USERABORT || st == TIMEOUT) &&
        get_solutioncount(lp) > 0 && get_ptr_variables(lp, &x)) {
        opt_model_extract(m, x, &l->sub);
        opt_plan_copy(&u->cand, &u->r->plan);
        for (int k = 0; k < l->pb.n_eq; k++)
            row_copy(&u->cand, l->map[k], &l->sub, k);
        opt_plan_finish(u->pb, &u->cand);
        opt_improve_blocks(u->pb, &u->cand, 5);
        offer(u, &u->cand, "lns");
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

static void lns(run_t *u)
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
                polish(u, &u->cand, "lns");
                continue;
            }
            int c = it % 2 == 0 ? peak_slot(u)
                                : (int)(lns_rand(&l.seed) % (unsigned)T);
            /* every fourth round also frees one pump (in turn) */
            int pump = it % 4 == 1 ? next_pump(u->pb, &pump_at) : -1;
            if (lns_build(&l, u->pb, &u->r->plan, c, pump) > 0)
                lns_solve(u, &l, ems_mono_s() + fmin(left, fmax(0.5, 0.1 * left)));
        }
    lns_release(&l);
}

static void bb_settings(const run_t *u, lprec *lp)
{
    set_bb_floorfirst(lp, u->o->bb_floor);
    set_bb_rule(lp, u->o->bb_rule);
    set_bb_depthlimit(lp, u->o->bb_depth);
    set_mip_gap(lp, FALSE, u->o->mip_gap_rel);
    set_mip_gap(lp, TRUE, 1e-9);
}

static void branch_and_bound(run_t *u)
{
    lprec *lp = opt_model_lp(u->m);
    double *x, cst = opt_model_obj_const(u->m), keep;
    int st;

    bb_settings(u, lp);
    if (u->o->use_heuristic)
        rins(u, 0.1);
    set_bb_floorfirst(lp, u->o->bb_floor); /* RINS searched with its own */
    if (u->have)
        set_obj_bound(lp, u->r->cost.total_eur - cst -
                              1e-9 * fabs(u->r->cost.total_eur));
    /* a tenth of the time left for the proof (after a tenth for RINS);
     * if it does not come, the rest goes to the neighbourhood search,
     * which improved the plan more than branching did on 10 x 96 and
     * 10 x 192 (ADR 0010: RINS 70% / branching 50% ended 3375.6 EUR on
     * 10 x 96, 10% / 10% 3373.8-3375.2) */
    keep = u->deadline;
    if (u->o->use_heuristic && u->have)
        u->deadline = ems_mono_s() + 0.1 * (keep - ems_mono_s());
    /* from the slack basis: warm-started from the basis the relaxation (or
     * RINS) left, lp_solve's branch and bound called feasible replay days
     * infeasible */
    default_basis(lp);
    st = lp_run(u, &x);
    /* without a cut-off, "infeasible" claims that no plan exists at all:
     * asked again before it is believed (second_opinion) */
    if ((st == INFEASIBLE || st == NUMFAILURE) && !u->have) {
        u->deadline = keep;
        st = second_opinion(u, 0, &x);
    }
    u->deadline = keep;
    if (x) {
        opt_model_extract(u->m, x, &u->cand);
        opt_improve_blocks(u->pb, &u->cand, 5);
        offer(u, &u->cand, "branch-and-bound");
    }
    /* OPTIMAL: proven within the gap; INFEASIBLE under a cut-off: nothing
     * better than the incumbent exists. Either way the search completed. */
    if (st == OPTIMAL || (st == INFEASIBLE && u->have)) {
        u->r->status = OPT_OPTIMAL;
        if (u->have)
            u->r->bound_eur = u->r->cost.total_eur;
    } else if (st == INFEASIBLE) {
        u->r->status = OPT_INFEASIBLE;
    } else {
        u->r->status = u->have ? OPT_FEASIBLE : OPT_NO_PLAN;
        if (u->have && u->o->use_heuristic)
            lns(u);
    }
}

/* Solves a fresh elastic model with its binaries fixed to a rounding of
 * the LP solution xlp (opt_model_fix_rounded), on/off tasks as in pl, and
 * presolved as polish does (every binary fixed, the LP left is small);
 * takes the plan when its penalised objective is below *best (lowered).
 * Returns 0, or -1 when there is no solution in time (or a pattern breaks
 * a rule that has no slack, such as a ramp). */
static int elastic_fixed(run_t *u, const double *xlp, opt_round_t rule,
                         const opt_plan_t *pl, double *best)
{
    char err[128];
    opt_model_t *m = opt_model_new(u->pb, 1, err, sizeof err);
    double *x = NULL;
    int st, nr, nc, rc = -1;

    if (!m)
        return -1;
    lprec *lp = opt_model_lp(m);
    opt_model_set_relaxed(m, 1);
    opt_model_fix_rounded(m, xlp, rule, pl);
    set_presolve(lp, PRESOLVE_ROWS | PRESOLVE_COLS | PRESOLVE_LINDEP,
                 get_presolveloops(lp));
    put_abortfunc(lp, abort_cb, u);
    nr = get_Nrows(lp);
    nc = get_Ncolumns(lp);
    st = solve(lp);
    if ((st == OPTIMAL || st == PRESOLVED) &&
        (x = malloc((size_t)nc * sizeof *x)) != NULL) {
        for (int j = 1; j <= nc; j++)
            x[j - 1] = get_var_primalresult(lp, nr + j);
        rc = 0;
    }
    if (x && get_objective(lp) < *best) {
        *best = get_objective(lp);
        opt_msgs_release(&u->r->explain);
        opt_msgs_init(&u->r->explain);
        opt_model_explain(m, x, &u->r->explain);
        opt_model_extract(m, x, &u->r->plan);
        opt_plan_cost(u->pb, &u->r->plan, &u->r->cost);
        u->r->source = "elastic-rounded";
    }
    free(x);
    opt_model_destroy(m);
    return rc;
}

/* The elastic LP's own plan is fractional (a batch partly started, a pump
 * 0.4 on): no operator can run it. Its binaries are rounded instead and
 * the rest of the plan (power levels, storage, slack) re-solved around
 * them, keeping the rounding that gives least: non-interruptible tasks
 * where the LP mostly runs them, or only where it runs them whole (a task
 * run at its heaviest start may need more capacity than the LP left it);
 * on/off tasks as the heuristic runs them (built to keep their run rules),
 * or off when that pattern cannot be fixed. The explanation becomes the
 * rounded plan's own slack, so it names what gives in the plan published,
 * as the validator finds it. With no rounding solved, no plan is kept
 * (source stays NULL: nothing is published) and the LP's explanation says
 * what had to give. */
static void elastic_rounded(run_t *u, const double *x, int ncols)
{
    size_t n = (size_t)ncols * sizeof *x;
    double *xlp = malloc(n), best = HUGE_VAL;
    opt_plan_t off;

    if (!xlp || opt_plan_init(&off, u->pb->n_eq, u->pb->site.n_slots) < 0) {
        free(xlp);
        return;
    }
    memcpy(xlp, x, n); /* x is lp_solve's, overwritten by the next solve */
    opt_heuristic(u->pb, &u->cand);
    /* as long as the LP had, for all the roundings together */
    u->deadline = ems_mono_s() + 2;
    for (int rule = OPT_ROUND_MOSTLY; rule <= OPT_ROUND_WHOLE; rule++)
        if (elastic_fixed(u, xlp, (opt_round_t)rule, &u->cand, &best) < 0)
            elastic_fixed(u, xlp, (opt_round_t)rule, &off, &best);
    opt_plan_release(&off);
    free(xlp);
}

/* The elastic LP needs no slack but its plan is fractional (the validator
 * refused it): its rounding (elastic_rounded) may still be a plan. Without
 * slack of its own and validated, it is one, from rounding rather than a
 * solver's search: heuristic. With slack, the rounding is the explanation
 * of a relaxed plan as when the LP needs slack (the LP without slack
 * proves nothing of the integer problem). With no rounding solved,
 * nothing is kept and the result is no plan. */
static void elastic_rounded_plan(run_t *u, const double *x, int ncols)
{
    elastic_rounded(u, x, ncols);
    if (!u->r->source) {
        u->r->status = OPT_NO_PLAN;
        return;
    }
    if (u->r->explain.n > 0)
        return; /* OPT_INFEASIBLE, explained by the rounding's slack */
    if (opt_validate(u->pb, &u->r->plan, NULL) == 0) {
        u->have = 1;
        u->r->status = OPT_HEURISTIC;
    } else {
        u->r->source = NULL;
        u->r->status = OPT_NO_PLAN;
    }
}

/* The elastic model is the arbiter of infeasibility: always feasible, its
 * optimum says how little of the commitments must give. Slack left means
 * the constraints truly cannot all hold, and the explanation names them.
 * No slack means they can: the elastic plan is a plan like any other
 * (validated; optimal when the elastic MILP finished, since a plan without
 * slack costs the same in both models), and the earlier "infeasible" was
 * lp_solve's mistake. */
static void elastic(run_t *u, char *errstr, size_t errstr_size)
{
    opt_model_t *m = opt_model_new(u->pb, 1, errstr, errstr_size);
    double *x;
    int st, relaxed = 0;

    if (!m)
        return;
    opt_model_destroy(u->m);
    u->m = m;
    if (u->deadline < ems_mono_s() + 2)
        u->deadline = ems_mono_s() + 2;
    if (u->o->elastic_lp_only) {
        x = NULL;
        st = NOTRUN;
    } else {
        st = lp_run(u, &x);
    }
    if (!x) {
        opt_model_set_relaxed(m, 1);
        relaxed = 1;
        /* its own time: the integer solve above spent what was left, and
         * the LP started on an expired deadline aborted at once, leaving
         * no explanation at all */
        u->deadline = ems_mono_s() + 2;
        st = lp_run(u, &x);
    }
    if (!x)
        return;
    opt_model_explain(m, x, &u->r->explain);
    if (u->r->explain.n == 0) {
        int ncols = get_Ncolumns(opt_model_lp(m));
        opt_model_extract(m, x, &u->cand);
        opt_improve_blocks(u->pb, &u->cand, 5);
        if (offer(u, &u->cand, "elastic") && st == OPTIMAL && !relaxed) {
            u->r->status = OPT_OPTIMAL;
            u->r->bound_eur = u->r->cost.total_eur;
        } else if (relaxed && !u->have) {
            elastic_rounded_plan(u, x, ncols);
        } else {
            u->r->status = u->have ? OPT_FEASIBLE : OPT_NO_PLAN;
        }
        return;
    }
    if (relaxed) {
        elastic_rounded(u, x, get_Ncolumns(opt_model_lp(m)));
        return;
    }
    opt_model_extract(m, x, &u->r->plan);
    opt_plan_cost(u->pb, &u->r->plan, &u->r->cost);
    u->r->source = "elastic";
}

static void finish(run_t *u)
{
    opt_result_t *r = u->r;

    /* infeasible only with the constraints that had to give */
    if (r->status == OPT_INFEASIBLE && r->explain.n == 0)
        r->status = u->have ? OPT_FEASIBLE : OPT_NO_PLAN;
    if (!u->have && r->status != OPT_INFEASIBLE)
        r->status = OPT_NO_PLAN;
    if (u->have && r->status == OPT_FEASIBLE &&
        !strcmp(r->source, "heuristic"))
        r->status = OPT_HEURISTIC;
    if (u->have && r->status != OPT_OPTIMAL)
        r->gap = r->bound_eur > -HUGE_VAL
                     ? fmax(0, (r->cost.total_eur - r->bound_eur) /
                                   fmax(fabs(r->cost.total_eur), 1e-9))
                     : NAN; /* no bound in time */
    r->violations = opt_validate(u->pb, &r->plan, &r->problems);
    if (r->status != OPT_INFEASIBLE && r->status != OPT_NO_PLAN)
        opt_binding(u->pb, &r->plan, &r->binding);
    r->savings_eur = r->baseline_cost.total_eur - r->cost.total_eur;
    r->savings_pct = r->baseline_cost.total_eur != 0
                         ? 100.0 * r->savings_eur / fabs(r->baseline_cost.total_eur)
                         : 0;
    r->solve_s = ems_mono_s() - u->t0;
}

int opt_solve(const opt_problem_t *pb, const opt_options_t *o, opt_result_t *r,
              char *errstr, size_t errstr_size)
{
    run_t u = {.pb = pb, .o = o, .r = r, .t0 = ems_mono_s()};
    int T = pb->site.n_slots, rc = -1;

    u.deadline = u.t0 + o->time_limit_s;
    if (opt_problem_check(pb, &r->problems) > 0) {
        snprintf(errstr, errstr_size, "invalid problem: %s", r->problems.v[0]);
        return -1;
    }
    if (opt_plan_init(&r->plan, pb->n_eq, T) < 0 ||
        opt_plan_init(&r->baseline, pb->n_eq, T) < 0 ||
        opt_plan_init(&u.cand, pb->n_eq, T) < 0) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    opt_baseline(pb, &r->baseline);
    opt_plan_cost(pb, &r->baseline, &r->baseline_cost);
    u.m = opt_model_new(pb, 0, errstr, errstr_size);
    if (!u.m)
        goto out;
    r->bound_eur = -HUGE_VAL;
    if (o->simplex_type > 0)
        set_simplextype(opt_model_lp(u.m), o->simplex_type);
    if (o->use_heuristic)
        heuristics(&u);
    if (o->strict_infeasible || window_too_short(pb) || relaxation(&u) < 0) {
        /* a validated plan in hand refutes the verdict (numerical trouble):
         * it is improved without the LP */
        if (u.have && o->use_heuristic) {
            lns(&u);
            r->status = OPT_FEASIBLE;
        } else {
            r->status = OPT_INFEASIBLE;
        }
    } else if (!u.xlp && u.have && o->use_heuristic) {
        lns(&u);
        r->status = OPT_FEASIBLE;
    } else {
        branch_and_bound(&u);
    }
    if (r->status == OPT_INFEASIBLE)
        elastic(&u, errstr, errstr_size);
    finish(&u);
    rc = 0;
out:
    opt_model_destroy(u.m);
    opt_plan_release(&u.cand);
    free(u.xlp);
    return rc;
}
