/*
 * bench-optimizer: the schedule optimizer on families of 10, 50 and 200
 * flexible assets over 96 and 192 quarter-hours built from the real Dutch
 * day-ahead prices and substation load, against CBC solving the same model
 * exported as MPS with the same time limit in the same run; then a month
 * backtest (November 2020, one daily plan per day) against the baseline.
 *
 *   bench-optimizer [--data DIR] [--quick] [--no-cbc] [--backtest-only]
 *                   [--only NxT] [--no-backtest] [--simplex K] [--floor K]
 *                   [--rule K] [--no-heuristic] [--cbc-long S]
 *                   [--search-floor K] [--month-floor] [--prove S]
 *
 * --prove S looks for each family's optimum: CBC solves the model with the
 * peak capped where the LP relaxation already costs as much as lp_solve's
 * plan (no cheaper plan peaks higher), for up to S seconds, and the plan
 * is printed against the optimum if that proves it (ADR 0010, item 14).
 *
 * --cbc-long S also solves each family's model with CBC for S seconds and
 * prints that objective and bound beside the plan's, to know how far the
 * same-limit comparison is from the best known plan.
 *
 * --month-floor plans the 10 x 96 family day by day from 1 November with
 * the month's peak so far (the highest peak of the earlier days' plans,
 * base and flexible load together, as the service takes it from
 * energy.load) as the floor, prints each day's floor, then solves the
 * bench day (10 November) with that floor beside CBC: the check that the
 * family's fixed floor (0.9 x the day's highest base load) is not what
 * makes the day hard (ADR 0010, item 11).
 *
 * --simplex, --floor and --rule pass lp_solve's set_simplextype,
 * set_bb_floorfirst (of the full branch and bound; --search-floor: of RINS
 * and the neighbourhood search) and set_bb_rule values, to measure one setting at a
 * time on the same families.
 *
 * Load (MW, may be negative: the substation has solar) is shifted and scaled
 * into a plant base load; prices are used as published (EUR/MWh).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lp_lib.h>

#include "schedule-optimizer/opt_model.h"
#include "clock/clock.h"
#include "schedule-optimizer/opt_solve.h"

#define MAX_ROWS 20000
#define MAX_T 192
#define MAX_EQ 200

typedef struct series {
    long ts[MAX_ROWS]; /* minutes since epoch */
    double load[MAX_ROWS], price[MAX_ROWS];
    int n;
} series_t;

typedef struct family {
    double price[MAX_T], base[MAX_T];
    opt_equipment_t eq[MAX_EQ];
    opt_problem_t pb;
} family_t;

static long parse_minutes(const char *s)
{
    struct tm tm = {0};

    if (sscanf(s, "%d-%d-%d %d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min) != 5)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long)(timegm(&tm) / 60);
}

/* Reads timestamp, load and price columns; rows must be in time order. */
static int read_csv(series_t *s, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[2048];

    if (!f)
        return -1;
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return -1;
    }
    while (fgets(line, sizeof line, f) && s->n < MAX_ROWS) {
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        long ts = parse_minutes(line);
        if (!c1 || !c2 || ts < 0 || c1[1] == ',' || c2[1] == ',')
            continue;
        if (s->n && ts <= s->ts[s->n - 1])
            continue;
        s->ts[s->n] = ts;
        s->load[s->n] = atof(c1 + 1);
        s->price[s->n] = atof(c2 + 1);
        s->n++;
    }
    fclose(f);
    return 0;
}

/* Index of the row at minute ts followed by n contiguous quarter-hours. */
static int find_window(const series_t *s, long ts, int n)
{
    for (int i = 0; i + n <= s->n; i++) {
        if (s->ts[i] != ts)
            continue;
        if (s->ts[i + n - 1] - s->ts[i] == 15L * (n - 1))
            return i;
        return -1;
    }
    return -1;
}

static unsigned rnd(unsigned *st)
{
    *st = *st * 1103515245u + 12345u;
    return (*st >> 8) & 0xffffff;
}

static double urand(unsigned *st, double lo, double hi)
{
    return lo + (hi - lo) * (rnd(st) / (double)0xffffff);
}

static void make_asset(opt_equipment_t *q, int i, int T, unsigned *st)
{
    memset(q, 0, sizeof *q);
    q->habitual_start = -1;
    if (i % 10 < 7) {
        int dur = 4 + (int)urand(st, 0, 13);
        /* NOLINTNEXTLINE(bugprone-integer-division): half the horizon in whole slots */
        int win = dur + 8 + (int)urand(st, 0, T / 2);
        snprintf(q->name, sizeof q->name, "batch-%d", i);
        q->kind = OPT_TASK_BLOCK;
        q->p_max_kw = round(urand(st, 50, 300));
        q->energy_kwh = q->p_max_kw * dur * 0.25;
        q->earliest = (int)urand(st, 0, T - win > 0 ? T - win : 0);
        q->deadline = q->earliest + win < T ? q->earliest + win : T;
        q->habitual_start = q->earliest;
    } else if (i % 10 < 9) {
        snprintf(q->name, sizeof q->name, "pump-%d", i);
        q->kind = OPT_TASK_FLEX;
        q->p_max_kw = round(urand(st, 50, 200));
        q->p_min_kw = 0.3 * q->p_max_kw;
        q->earliest = 0;
        q->deadline = T;
        q->energy_kwh = q->p_max_kw * 0.25 * T / 4;
        q->min_run = 4;
        q->min_rest = 2;
        q->max_starts_day = 3;
        q->startup_eur = 1;
    } else {
        snprintf(q->name, sizeof q->name, "storage-%d", i);
        q->kind = OPT_STORAGE;
        q->cap_kwh = q->soc_max_kwh = round(urand(st, 200, 1000));
        q->soc_min_kwh = 0.1 * q->cap_kwh;
        q->soc0_kwh = 0.5 * q->cap_kwh;
        q->charge_max_kw = q->discharge_max_kw = q->cap_kwh / 2;
        q->eta_charge = q->eta_discharge = 0.95;
        q->loss_per_slot = 0.0002;
    }
}

/* n assets over T slots starting at row i0 of the series. */
static void make_family(family_t *f, const series_t *s, int i0, int n, int T,
                        unsigned seed)
{
    double scale = n * 60.0 / 22.0, maxb = 0, flex = 0;

    for (int t = 0; t < T; t++) {
        f->price[t] = s->price[i0 + t];
        f->base[t] = scale * (s->load[i0 + t] + 20);
        if (f->base[t] < 0)
            f->base[t] = 0;
        if (f->base[t] > maxb)
            maxb = f->base[t];
    }
    for (int i = 0; i < n; i++) {
        make_asset(&f->eq[i], i, T, &seed);
        flex += f->eq[i].kind == OPT_STORAGE ? 0 : f->eq[i].p_max_kw;
    }
    f->pb = (opt_problem_t){.site = {.n_slots = T,
                                     .slot_h = 0.25,
                                     .price = f->price,
                                     .base_kw = f->base,
                                     .import_cap_kw = maxb + 0.35 * flex,
                                     .export_cap_kw = 0,
                                     .demand_eur_kw = 2,
                                     .peak_so_far_kw = 0.9 * maxb},
                            .n_eq = n,
                            .eq = f->eq};
}

/* Reads the first line of a CBC solution file. Returns 1 and the objective
 * only when CBC holds an integer solution: "Optimal" or "Stopped on ..."
 * with an incumbent. "Infeasible", "Integer infeasible", "Unbounded" and
 * "Stopped on time (no integer solution - continuous used)" also print an
 * "objective value", but it is the relaxation's, not a plan's. */
static int cbc_solution(const char *line, double *obj)
{
    const char *p = strstr(line, "objective value");

    if (!p || strstr(line, "no integer solution") ||
        (strncmp(line, "Optimal", 7) != 0 && strncmp(line, "Stopped on", 10) != 0))
        return 0;
    *obj = atof(p + 15);
    return 1;
}

/* CBC's last "best possible" (its bound) from the log next to the solution
 * file, plus the objective constant; NAN when it printed none. */
static double cbc_bound(const char *sol, double cst)
{
    char path[96], line[512];
    double b = NAN;
    FILE *f;

    snprintf(path, sizeof path, "%s.log", sol);
    if (!(f = fopen(path, "r")))
        return NAN;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "best possible ");
        if (p)
            b = atof(p + 14) + cst;
    }
    fclose(f);
    return b;
}

/* Runs CBC on the exported model, with the peak capped at peak_cap_kw
 * unless that is NAN; returns its total cost or NAN. */
static double run_cbc(family_t *f, double limit, double peak_cap_kw, double *secs,
                      char *status, size_t status_size, double *bound)
{
    char err[256], mps[64], sol[64], cmd[512], line[256];
    double obj = NAN, t0;
    opt_model_t *m = opt_model_new(&f->pb, 0, err, sizeof err);

    snprintf(status, status_size, "error");
    if (!m)
        return NAN;
    if (!isnan(peak_cap_kw))
        set_upbo(opt_model_lp(m), get_nameindex(opt_model_lp(m), "peak", FALSE),
                 peak_cap_kw);
    snprintf(mps, sizeof mps, "/tmp/bench-opt-%d.mps", (int)getpid());
    snprintf(sol, sizeof sol, "/tmp/bench-opt-%d.sol", (int)getpid());
    if (opt_model_write(m, mps, err, sizeof err) < 0)
        goto out;
    snprintf(cmd, sizeof cmd, "cbc %s sec %g solve solu %s >%s.log 2>&1", mps, limit,
             sol, sol);
    remove(sol);
    t0 = ems_mono_s();
    if (system(cmd) != 0)
        goto out;
    *secs = ems_mono_s() - t0;
    FILE *fp = fopen(sol, "r");
    if (fp && fgets(line, sizeof line, fp)) {
        double v;
        if (cbc_solution(line, &v))
            obj = v + opt_model_obj_const(m);
        snprintf(status, status_size, "%.*s", (int)strcspn(line, "-(\n"), line);
        if (strstr(line, "no integer solution"))
            snprintf(status, status_size, "no integer solution");
    } else {
        snprintf(status, status_size, "no solution file");
    }
    if (fp)
        fclose(fp);
    *bound =
        !strncmp(status, "Optimal", 7) ? obj : cbc_bound(sol, opt_model_obj_const(m));
out:
    remove(mps);
    remove(sol);
    snprintf(cmd, sizeof cmd, "%s.log", sol);
    remove(cmd);
    opt_model_destroy(m);
    return obj;
}

/* The lowest peak level (kW, within 1 W) at which the LP relaxation, with
 * the peak held at or above it, costs at least plan_eur. The relaxation's
 * cost is convex and, past its own peak, rising in the level, so no plan
 * cheaper than plan_eur has a peak at that level or above: capping the
 * peak there keeps every cheaper plan (ADR 0010, item 14). NAN when the
 * model has no peak column or its relaxation fails. */
static double peak_cap(const opt_problem_t *pb, double plan_eur)
{
    char err[256];
    opt_model_t *m = opt_model_new(pb, 0, err, sizeof err);
    double lo, hi, need = plan_eur + 1e-7 * fabs(plan_eur), cst;
    lprec *lp;
    int c;

    if (!m)
        return NAN;
    lp = opt_model_lp(m);
    cst = opt_model_obj_const(m);
    c = get_nameindex(lp, "peak", FALSE);
    opt_model_set_relaxed(m, 1);
    if (c < 1 || solve(lp) != OPTIMAL) {
        opt_model_destroy(m);
        return NAN;
    }
    lo = get_var_primalresult(lp, get_Nrows(lp) + c);
    hi = get_upbo(lp, c);
    while (hi - lo > 1e-3) {
        double mid = 0.5 * (lo + hi);
        int st;
        set_lowbo(lp, c, mid);
        st = solve(lp);
        if (st == INFEASIBLE || (st == OPTIMAL && get_objective(lp) + cst >= need))
            hi = mid;
        else if (st == OPTIMAL)
            lo = mid;
        else
            break; /* numerical trouble: keep the safe, higher level */
    }
    opt_model_destroy(m);
    return hi;
}

/* --prove S: is the plan optimal? CBC solves the model with the peak
 * capped by peak_cap() for up to S s. Finding nothing cheaper than the plan
 * under the cap proves the plan optimal; a cheaper plan is the optimum.
 * Proven optima are kept per family, so the 1 s and 10 s plans of 10 x 96
 * are compared with the same one. */
static double g_prove = 0;

static void prove(family_t *f, int n, int T, const opt_result_t *r)
{
    static struct known {
        int n, T;
        double opt;
    } known[8];
    static int n_known;
    char st[64] = "-";
    double cap, secs = 0, bound, obj, opt = NAN;

    for (int i = 0; i < n_known; i++)
        if (known[i].n == n && known[i].T == T)
            opt = known[i].opt;
    if (isnan(opt)) {
        cap = peak_cap(&f->pb, r->cost.total_eur);
        if (isnan(cap)) {
            printf("%3d x %3d  proof: no peak bound\n", n, T);
            return;
        }
        obj = run_cbc(f, g_prove, cap, &secs, st, sizeof st, &bound);
        if (!strncmp(st, "Optimal", 7))
            opt = fmin(obj, r->cost.total_eur);
        else if (strstr(st, "nfeasible")) /* nothing cheaper under the cap */
            opt = r->cost.total_eur;
        printf("%3d x %3d  proof: peak <= %.3f kW, cbc %s in %.1fs: %s "
               "%.4f\n",
               n, T, cap, st, secs, isnan(opt) ? "not proven, best" : "optimum",
               isnan(opt) ? obj : opt);
        if (isnan(opt))
            return;
        if (n_known < (int)(sizeof known / sizeof *known))
            known[n_known++] = (struct known){n, T, opt};
    }
    printf("%3d x %3d  lp_solve plan %.4f is %.2e above the optimum %.4f "
           "(relative)\n",
           n, T, r->cost.total_eur, (r->cost.total_eur - opt) / fabs(opt), opt);
}

/* Solver settings from the command line; < 0 = the optimizer's default. */
static int g_simplex = -1, g_floor = -1, g_sfloor = -1, g_rule = -1, g_heur = 1;
static double g_cbc_long = 0; /* --cbc-long S, 0 = off */

static void apply_settings(opt_options_t *o)
{
    if (g_simplex >= 0)
        o->simplex_type = g_simplex;
    if (g_floor >= 0)
        o->bb_floor = g_floor;
    if (g_sfloor >= 0)
        o->bb_floor_search = g_sfloor;
    if (g_rule >= 0)
        o->bb_rule = g_rule;
    o->use_heuristic = g_heur;
}

/* Plans family f with the command line's solver settings and a time
 * limit of limit s. r is initialised here; the caller releases it.
 * Returns opt_solve()'s result. */
static int solve_family(family_t *f, double limit, opt_result_t *r, char *err,
                        size_t err_size)
{
    opt_options_t o;

    opt_options_init(&o);
    apply_settings(&o);
    o.time_limit_s = limit;
    opt_result_init(r);
    return opt_solve(&f->pb, &o, r, err, err_size);
}

static void bench_family(const series_t *s, int n, int T, double limit, int cbc,
                         double floor_kw)
{
    static family_t f;
    opt_result_t r;
    char err[256], cst[64] = "-";
    double csec = 0, cobj = NAN, cbound = NAN;
    int i0 = find_window(s, parse_minutes("2020-11-10 00:00"), T);

    if (i0 < 0) {
        printf("no contiguous data for %dx%d\n", n, T);
        return;
    }
    make_family(&f, s, i0, n, T, 42u + (unsigned)n);
    if (floor_kw >= 0)
        f.pb.site.peak_so_far_kw = floor_kw;
    if (solve_family(&f, limit, &r, err, sizeof err) < 0) {
        printf("%3d x %3d: error %s\n", n, T, err);
        opt_result_release(&r);
        return;
    }
    if (cbc)
        cobj = run_cbc(&f, limit, NAN, &csec, cst, sizeof cst, &cbound);
    printf(
        "%3d x %3d  limit %4.0fs | lp_solve %-10s %-16s %7.2fs obj %12.4f "
        "gap %7.4f%% viol %d heur %+.3f%% | cbc %-16s %6.2fs obj %12.4f | ratio %.6f "
        "(%+.4f%%)\n",
        n, T, limit, opt_status_name(r.status), r.source, r.solve_s, r.cost.total_eur,
        100 * r.gap, r.violations, 100 * (r.heuristic_eur - cobj) / fabs(cobj), cst,
        csec, cobj, r.cost.total_eur / cobj,
        100 * (r.cost.total_eur - cobj) / fabs(cobj));
    if (cbc && g_cbc_long > 0) {
        double lsec = 0, lb = NAN, lobj;
        char lst[64] = "-";
        lobj = run_cbc(&f, g_cbc_long, NAN, &lsec, lst, sizeof lst, &lb);
        printf("%3d x %3d  cbc %.0fs: %-16s %7.2fs obj %12.4f bound %12.4f "
               "| lp_solve plan %+.4f%% from it\n",
               n, T, g_cbc_long, lst, lsec, lobj, lb,
               100 * (r.cost.total_eur - lobj) / fabs(lobj));
    }
    if (cbc && g_prove > 0)
        prove(&f, n, T, &r);
    fflush(stdout);
    opt_result_release(&r);
}

/* The month's peak so far on the bench day: the 10 x 96 family planned
 * day by day from the 1st, each day's floor the highest plan peak before
 * it (0 on the 1st). Returns the floor for 10 November (kW). */
static double month_floor(const series_t *s, double limit)
{
    static family_t f;
    double floor_kw = 0;
    long day0 = parse_minutes("2020-11-01 00:00");

    for (int d = 0; d < 9; d++) {
        int i0 = find_window(s, day0 + d * 1440L, 96);
        opt_result_t r;
        char err[256];
        if (i0 < 0)
            continue;
        make_family(&f, s, i0, 10, 96, 42u + 10u);
        f.pb.site.peak_so_far_kw = floor_kw;
        if (solve_family(&f, limit, &r, err, sizeof err) == 0 &&
            r.status <= OPT_HEURISTIC) {
            printf("month floor: 2020-11-%02d floor %7.1f kW plan peak %7.1f "
                   "kW (%s)\n",
                   d + 1, floor_kw, r.cost.peak_kw, opt_status_name(r.status));
            if (r.cost.peak_kw > floor_kw)
                floor_kw = r.cost.peak_kw;
        }
        opt_result_release(&r);
    }
    printf("month floor: 2020-11-10 floor %.1f kW (family's own floor: 0.9 x "
           "the day's highest base load)\n",
           floor_kw);
    return floor_kw;
}

static void backtest(const series_t *s, double limit)
{
    static family_t f;
    double base = 0, plan = 0;
    int days = 0, optimal = 0, bad = 0;
    long day0 = parse_minutes("2020-11-01 00:00");

    for (int d = 0; d < 30; d++) {
        int i0 = find_window(s, day0 + d * 1440L, 96);
        opt_result_t r;
        char err[256];
        if (i0 < 0)
            continue;
        make_family(&f, s, i0, 20, 96, 7u);
        if (solve_family(&f, limit, &r, err, sizeof err) == 0 &&
            r.status <= OPT_HEURISTIC) {
            base += r.baseline_cost.total_eur;
            plan += r.cost.total_eur;
            optimal += r.status == OPT_OPTIMAL;
            bad += r.violations != 0;
            days++;
        }
        opt_result_release(&r);
    }
    printf("backtest November 2020, 20 assets, %d daily plans (%d optimal, %d "
           "invalid): baseline %.2f EUR, plan %.2f EUR, savings %.2f EUR "
           "(%.2f%%)\n",
           days, optimal, bad, base, plan, base - plan,
           base > 0 ? 100 * (base - plan) / base : 0);
}

int main(int argc, char **argv)
{
    static series_t s;
    const char *dir = "tests/data/openstef_nl_neerijnen";
    int quick = 0, cbc = 1, only_bt = 0, no_bt = 0, on = 0, oT = 0, mfl = 0;
    char path[512];

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--no-cbc"))
            cbc = 0;
        else if (!strcmp(argv[i], "--backtest-only"))
            only_bt = 1;
        else if (!strcmp(argv[i], "--no-backtest"))
            no_bt = 1;
        else if (!strcmp(argv[i], "--month-floor"))
            mfl = 1;
        else if (!strcmp(argv[i], "--no-heuristic"))
            g_heur = 0;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            sscanf(argv[++i], "%dx%d", &on, &oT);
        else if (!strcmp(argv[i], "--simplex") && i + 1 < argc)
            g_simplex = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--floor") && i + 1 < argc)
            g_floor = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--search-floor") && i + 1 < argc)
            g_sfloor = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cbc-long") && i + 1 < argc)
            g_cbc_long = atof(argv[++i]);
        else if (!strcmp(argv[i], "--prove") && i + 1 < argc)
            g_prove = atof(argv[++i]);
        else if (!strcmp(argv[i], "--rule") && i + 1 < argc)
            g_rule = atoi(argv[++i]);
    }
    snprintf(path, sizeof path, "%s/307-train-data.csv", dir);
    if (read_csv(&s, path) < 0) {
        fprintf(stderr, "bench-optimizer: cannot read '%s'\n", path);
        return 1;
    }
    snprintf(path, sizeof path, "%s/307-test-data.csv", dir);
    if (read_csv(&s, path) < 0) {
        fprintf(stderr, "bench-optimizer: cannot read '%s'\n", path);
        return 1;
    }
    if (cbc && system("command -v cbc >/dev/null 2>&1") != 0) {
        printf("cbc not installed (apt-get install coinor-cbc): no comparison\n");
        cbc = 0;
    }
    /* 10 x 96 twice: in the 1 s for the proof, and in 10 s */
    static const struct {
        int n, T;
        double limit;
    } fam[] = {
        {10, 96, 1},   {10, 96, 10},  {10, 192, 10},  {50, 96, 10},
        {50, 192, 10}, {200, 96, 30}, {200, 192, 30},
    };
    for (size_t i = 0; !only_bt && i < sizeof fam / sizeof *fam; i++)
        if ((!quick || fam[i].n <= 50) && (!on || (fam[i].n == on && fam[i].T == oT)))
            bench_family(&s, fam[i].n, fam[i].T, fam[i].limit, cbc, -1);
    if (mfl)
        bench_family(&s, 10, 96, 10, cbc, month_floor(&s, 1));
    if (!no_bt)
        backtest(&s, quick ? 2 : 5);
    return 0;
}
