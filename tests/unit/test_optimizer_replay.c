/*
 * Unit tests of the schedule optimizer on two days of the November 2020
 * replay (site nl-neerijnen-2020 of the demo): the problems opt_build_problem
 * made from the day-ahead forecast (P50, kW) and the market curve plus the
 * tariff (EUR/MWh), with the plant's five flexible assets, extracted at full
 * precision. On both days lp_solve once reported "infeasible" for a model
 * that CBC and a fresh lp_solve solve to optimality (4 November: branch and
 * bound warm-started from the relaxation's basis; 14 November: the primal
 * simplex on the relaxation), and the plans came out "relaxed" with nothing
 * to explain. The site stays far below its 25 MW connection, so every
 * constraint can hold: a plan must come back validated, never relaxed.
 * Each day runs twice: with the thermal store as the energy task the
 * service then made of it, and as the storage with a process draw it
 * builds now.
 *
 * Also: a solve interrupted by its time limit is a timeout, not an
 * infeasibility; the heuristic alone gives a valid plan for ramp-limited
 * equipment; a day that truly cannot hold names what had to give.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule-optimizer/opt_heur.h"
#include "schedule-optimizer/opt_solve.h"
#include "schedule-optimizer/opt_validate.h"
#include "support/harness.h"

#define T 96

/* Site-local days 4 and 14 November 2020 (23:00 UTC on the 3rd/13th on),
 * 15-min slots. */
static const double nov04_price[96] = {
    34,
    34,
    34,
    34,
    33.7,
    33.7,
    33.7,
    33.7,
    34.1,
    34.1,
    34.1,
    34.1,
    35,
    35,
    35,
    35,
    35.27,
    35.27,
    35.27,
    35.27,
    34.5,
    34.5,
    34.5,
    34.5,
    45.13,
    45.13,
    45.13,
    45.13,
    56.44,
    56.44,
    56.44,
    56.44,
    59.72,
    59.72,
    59.72,
    59.72,
    54.14,
    54.14,
    54.14,
    54.14,
    41.39,
    41.39,
    41.39,
    41.39,
    41.1,
    41.1,
    41.1,
    41.1,
    41.1,
    41.1,
    41.1,
    41.1,
    43.8,
    43.8,
    43.8,
    43.8,
    53.519999999999996,
    53.519999999999996,
    53.519999999999996,
    53.519999999999996,
    53.900000000000006,
    53.900000000000006,
    53.900000000000006,
    53.900000000000006,
    56.230000000000004,
    56.230000000000004,
    56.230000000000004,
    56.230000000000004,
    67.29,
    67.29,
    67.29,
    67.29,
    69.92,
    69.92,
    69.92,
    69.92,
    60.400000000000006,
    60.400000000000006,
    60.400000000000006,
    60.400000000000006,
    53.06,
    53.06,
    53.06,
    53.06,
    46.099999999999994,
    46.099999999999994,
    46.099999999999994,
    46.099999999999994,
    45.43000000000001,
    45.43000000000001,
    45.43000000000001,
    45.43000000000001,
    35.67,
    35.67,
    35.67,
    35.67,
};
static const double nov04_base[96] = {
    -296.64070633110487, 1225.3578288251451, 1171.1868083173326, 1047.5998942548326,
    492.98441573920763,  509.98881027045763, 784.1532389813951,  990.8911540204576,
    1053.1171061688951,  655.6676432782701,  655.1012370282701,  564.4144694501451,
    252.73209640327013,  346.30631515327013, 655.1012370282701,  639.1271159345201,
    1065.4133708173326,  2953.0158183270983, 2308.54654952827,   2508.9099375897936,
    3149.3393962079576,  5302.291422575145,  6358.61735030952,   6433.921793668895,
    5990.19986984077,    7396.95817062202,   7831.69449874702,   7633.18326827827,
    7359.83707687202,    7373.07877609077,   7477.80192062202,   7564.27848312202,
    8900.72672530952,    8627.84733077827,   8728.28629562202,   8566.91569015327,
    8776.16910812202,    9224.54996749702,   9529.73063155952,   9971.67252609077,
    9537.13981124702,    8228.97184249702,   7676.97672530952,   7457.84684249702,
    7368.35904952827,    6847.91373702827,   6846.63102218452,   7789.88004562202,
    9477.01871749702,    9758.59342452827,   6355.730387418895,  6263.925211637645,
    5913.75016280952,    7945.82877609077,   7431.95963546577,   7892.04703780952,
    8390.28043624702,    7511.88346359077,   8261.67154952827,   8270.81315109077,
    9480.16324874702,    9544.20231124702,   9531.85660812202,   10218.17154952827,
    11513.93815109077,   11058.43912765327,  11662.64811202827,  11411.30729171577,
    5788.97574874702,    3397.081461637645,  4788.140055387645,  4299.519571989207,
    101.50651046577013,  70.72281905952013,  339.28214523139513, 24.850504606395134,
    -67.50594070610487,  147.69181320014513, 229.83658859077013, 1780.2048136884264,
    765.5492350751451,   1414.8467204267076, 588.7368571454576,  293.20865890327013,
    3756.19889327827,    4549.245890348582,  4006.655192106395,  3419.15836593452,
    3712.7991130048326,  4287.46012374702,   2260.929377287059,  3928.787028043895,
    4103.34977218452,    4490.958292692332,  4628.393961637645,  3258.657633512645,
};
static const double nov14_price[96] = {
    41.120000000000005,
    41.120000000000005,
    41.120000000000005,
    41.120000000000005,
    39.64,
    39.64,
    39.64,
    39.64,
    36.35,
    36.35,
    36.35,
    36.35,
    36.15,
    36.15,
    36.15,
    36.15,
    36.2,
    36.2,
    36.2,
    36.2,
    36.2,
    36.2,
    36.2,
    36.2,
    36.52,
    36.52,
    36.52,
    36.52,
    41.79,
    41.79,
    41.79,
    41.79,
    46.08,
    46.08,
    46.08,
    46.08,
    46.07,
    46.07,
    46.07,
    46.07,
    45.39,
    45.39,
    45.39,
    45.39,
    46.06,
    46.06,
    46.06,
    46.06,
    46.14,
    46.14,
    46.14,
    46.14,
    42.18,
    42.18,
    42.18,
    42.18,
    40.410000000000004,
    40.410000000000004,
    40.410000000000004,
    40.410000000000004,
    43.56,
    43.56,
    43.56,
    43.56,
    45.72,
    45.72,
    45.72,
    45.72,
    48.67,
    48.67,
    48.67,
    48.67,
    48.660000000000004,
    48.660000000000004,
    48.660000000000004,
    48.660000000000004,
    43.730000000000004,
    43.730000000000004,
    43.730000000000004,
    43.730000000000004,
    37.31,
    37.31,
    37.31,
    37.31,
    35.6,
    35.6,
    35.6,
    35.6,
    32.19,
    32.19,
    32.19,
    32.19,
    25.65,
    25.65,
    25.65,
    25.65,
};
static const double nov14_base[96] = {
    3586.5646159791695,  3083.3673503541695,  3812.7311198854195,  3920.9235026979195,
    3652.4454753541695,  4487.2516276979195,  4123.8754069947945,  4021.0389812135445,
    4164.1293132447945,  3460.5704753541695,  3202.9757487916695,  3167.9737956666695,
    3342.3487956666695,  3074.5831706666695,  3003.1603191041695,  3065.8829753541695,
    2967.4093425416695,  3394.0255534791695,  3221.2633464479195,  3189.4381511354195,
    3071.2233073854195,  5244.7384441041695,  6782.7198894166695,  9225.983805432294,
    10208.839274182294,  14316.434244885419,  13824.182291760419,  14678.154948010419,
    14298.965983166669,  13855.166178479169,  11656.101725354169,  13556.247721447919,
    13311.630533947919,  13022.702311291669,  12847.105143322919,  12627.880533947919,
    12404.657877697919,  12049.809733166669,  12334.752604260419,  12695.040690197919,
    13011.977701916669,  12383.909342541669,  11323.168375744794,  12179.793131604169,
    12823.215494885419,  12651.925944104169,  11354.446696057294,  11641.223551526044,
    12019.784342541669,  11232.677408947919,  11338.418375744794,  11526.459879651044,
    11232.829508557294,  10908.953776135419,  10318.562906994794,  10327.684489026044,
    10205.236490979169,  11269.377604260419,  11316.593180432294,  11156.105387463544,
    10685.973551526044,  10337.265055432294,  10433.824137463544,  9967.825114026044,
    9853.038737072919,   9931.641520276044,   9345.081827893231,   9087.298868908856,
    6190.797648205732,   5504.7091472291695,  4327.2081706666695,  3865.7526042604195,
    1185.2003581666695,  -507.3968098020805,  -804.5764973020805,  -515.5130207395805,
    473.3424480104195,   -1294.5950519895805, -2598.1097004270805, -1471.6780598020805,
    -1052.2083332395805, 1096.4181316041695,  540.0284831666695,   2392.7897136354195,
    3181.1022136354195,  3446.7008464479195,  3943.2521159791695,  3638.4518230104195,
    4380.3653972291695,  4542.8158366822945,  3405.9537761354195,  3347.1222331666695,
    3625.9767253541695,  4736.3739421510445,  4750.6039226197945,  4967.2123210572945,
};

typedef struct day {
    const char *name;
    const double *price, *base;
    double floor_kw; /* the month's peak so far */
    int store_draw;  /* the thermal store as storage with its draw (else as
                        the energy task the service made of it before) */
} day_t;

/* Each day twice: with the thermal store as the service built it when
 * lp_solve misjudged these days (an energy task), and as it builds it now
 * (storage whose process draws 400 kW from the SOC). */
static const day_t days[] = {
    {"2020-11-04", nov04_price, nov04_base, 15900.0, 0},
    {"2020-11-14", nov14_price, nov14_base, 20896.7, 0},
    {"2020-11-04", nov04_price, nov04_base, 15900.0, 1},
    {"2020-11-14", nov14_price, nov14_base, 20896.7, 1},
};

typedef struct replay {
    opt_equipment_t eq[5];
    opt_problem_t pb;
    opt_result_t r;
} replay_t;

/* The replay plant (tools/stack/plant-replay.yaml) as opt_build_problem
 * maps it for a whole local day. */
static void replay_init(replay_t *c, const day_t *d)
{
    memset(c, 0, sizeof *c);
    opt_equipment_t *q = c->eq;

    for (int i = 0; i < 5; i++) {
        q[i].earliest = 0;
        q[i].deadline = T;
        q[i].habitual_start = -1;
    }
    snprintf(q[0].name, sizeof q[0].name, "dryer-1.2020");
    q[0].kind = OPT_TASK_BLOCK;
    q[0].p_max_kw = 1200;
    q[0].energy_kwh = 4800;
    q[0].earliest = 24;
    q[0].deadline = 88;
    q[0].startup_eur = 40;
    snprintf(q[1].name, sizeof q[1].name, "heatpump-1.2020");
    q[1].kind = OPT_TASK_FLEX;
    q[1].p_min_kw = 200;
    q[1].p_max_kw = 900;
    q[1].energy_kwh = 12000;
    q[1].ramp_kw = 300;
    q[1].min_run = 2;
    q[1].min_rest = 1;
    q[1].max_starts_day = 8;
    snprintf(q[2].name, sizeof q[2].name, "thermal-store-1.2020");
    q[2].kind = OPT_TASK_FLEX;
    q[2].p_max_kw = 2000;
    q[2].energy_kwh = 10530.612244897959;
    q[2].ramp_kw = 1000;
    if (d->store_draw) {
        q[2].kind = OPT_STORAGE;
        q[2].p_max_kw = q[2].energy_kwh = 0;
        q[2].cap_kwh = 12000;
        q[2].soc0_kwh = 6000;
        q[2].soc_min_kwh = 1200;
        q[2].soc_max_kwh = 11400;
        q[2].charge_max_kw = 2000;
        q[2].eta_charge = 0.98;
        q[2].eta_discharge = 1;
        q[2].loss_per_slot = 1 - pow(1 - 0.005, 0.25);
        q[2].draw_kw = 400;
    }
    snprintf(q[3].name, sizeof q[3].name, "battery-1.2020");
    q[3].kind = OPT_STORAGE;
    q[3].cap_kwh = 4000;
    q[3].soc0_kwh = 2000;
    q[3].soc_min_kwh = 400;
    q[3].soc_max_kwh = 3600;
    q[3].charge_max_kw = 2000;
    q[3].discharge_max_kw = 2000;
    q[3].eta_charge = 0.95;
    q[3].eta_discharge = 0.95;
    q[3].loss_per_slot = 0.00012502344433829027;
    snprintf(q[4].name, sizeof q[4].name, "compressor-1.2020");
    q[4].kind = OPT_TASK_FLEX;
    q[4].p_min_kw = 300;
    q[4].p_max_kw = 1500;
    q[4].ramp_kw = 600;
    q[4].min_run = 1;
    q[4].min_rest = 1;
    q[4].max_starts_day = 12;
    q[4].startup_eur = 2;
    q[4].specific_kwh = 0.11;
    q[4].n_shifts = 1;
    q[4].shifts[0] = (opt_shift_t){0, T, 180000};
    c->pb.site = (opt_site_t){.n_slots = T,
                              .slot_h = 0.25,
                              .price = d->price,
                              .base_kw = d->base,
                              .import_cap_kw = 25000,
                              .export_cap_kw = 25000,
                              .demand_eur_kw = 3.45,
                              .peak_so_far_kw = d->floor_kw};
    c->pb.eq = c->eq;
    c->pb.n_eq = 5;
    opt_result_init(&c->r);
}

static void replay_solve_with(replay_t *c, double limit_s, int heuristic)
{
    opt_options_t o;
    char err[256];

    opt_options_init(&o);
    o.time_limit_s = limit_s;
    o.use_heuristic = heuristic;
    ck_assert_int_eq(opt_solve(&c->pb, &o, &c->r, err, sizeof err), 0);
}

/* The limit the proofs below are given: a solve ends as soon as it is
 * proven, so a generous limit costs nothing when all is well, and keeps the
 * verdicts independent of the machine's load (the proof step gets only a
 * share of the time left; under ASan on a busy machine 10 s was not always
 * enough for it). */
#define PROOF_LIMIT_S 60

static void replay_solve(replay_t *c, double limit_s)
{
    replay_solve_with(c, limit_s, 1);
}

/* Both replay days: a validated plan, optimal within the limit, with its
 * binding constraints; never "infeasible". */
START_TEST(test_replay_day_not_relaxed)
{
    replay_t c;

    replay_init(&c, &days[_i]);
    replay_solve(&c, PROOF_LIMIT_S);
    ck_assert_msg(c.r.status != OPT_INFEASIBLE,
                  "%s: relaxed (source %s, %d explanation line(s))", days[_i].name,
                  c.r.source ? c.r.source : "-", c.r.explain.n);
    ck_assert_msg(c.r.status == OPT_OPTIMAL, "%s: status %s", days[_i].name,
                  opt_status_name(c.r.status));
    ck_assert_int_eq(c.r.violations, 0);
    ck_assert_int_eq(opt_validate(&c.pb, &c.r.plan, NULL), 0);
    ck_assert_int_gt(c.r.binding.n, 0);
    ck_assert(c.r.cost.total_eur <= c.r.baseline_cost.total_eur + 1e-6);
    opt_result_release(&c.r);
}
END_TEST

/* The same with lp_solve alone (no heuristic plan as cut-off): its own
 * verdicts on the relaxation and the branch and bound decide. */
START_TEST(test_replay_day_solver_alone)
{
    replay_t c;

    replay_init(&c, &days[_i]);
    replay_solve_with(&c, PROOF_LIMIT_S, 0);
    ck_assert_msg(c.r.status == OPT_OPTIMAL, "%s: status %s (%d explanation line(s))",
                  days[_i].name, opt_status_name(c.r.status), c.r.explain.n);
    ck_assert_int_eq(c.r.violations, 0);
    opt_result_release(&c.r);
}
END_TEST

/* The same day solved again gives the same plan cost (no state leaks
 * between runs, no clock in the result of a solve that finishes early). */
START_TEST(test_replay_day_repeatable)
{
    replay_t a, b;

    replay_init(&a, &days[_i]);
    replay_init(&b, &days[_i]);
    replay_solve(&a, PROOF_LIMIT_S);
    replay_solve(&b, PROOF_LIMIT_S);
    ck_assert_int_eq(a.r.status, b.r.status);
    ck_assert_double_eq_tol(a.r.cost.total_eur, b.r.cost.total_eur, 1e-6);
    opt_result_release(&a.r);
    opt_result_release(&b.r);
}
END_TEST

/* The heuristic alone respects the ramp limits (from and back to zero at
 * the horizon's edges included), so there is a plan to fall back on. */
START_TEST(test_replay_heuristic_valid)
{
    replay_t c;
    opt_plan_t pl;
    opt_msgs_t why;

    replay_init(&c, &days[_i]);
    opt_msgs_init(&why);
    ck_assert_int_eq(opt_plan_init(&pl, c.pb.n_eq, T), 0);
    opt_heuristic(&c.pb, &pl);
    ck_assert_msg(opt_validate(&c.pb, &pl, &why) == 0, "%s: %s", days[_i].name,
                  why.n ? why.v[0] : "");
    opt_msgs_release(&why);
    opt_plan_release(&pl);
    opt_result_release(&c.r);
}
END_TEST

/* A time limit far too short for the solver: the plan is the validated
 * heuristic one (or better), said so, never "infeasible". */
START_TEST(test_replay_timeout_not_infeasible)
{
    replay_t c;

    replay_init(&c, &days[_i]);
    replay_solve(&c, 0.001);
    ck_assert_msg(c.r.status == OPT_HEURISTIC || c.r.status == OPT_FEASIBLE ||
                      c.r.status == OPT_OPTIMAL,
                  "%s: status %s", days[_i].name, opt_status_name(c.r.status));
    ck_assert_int_eq(c.r.violations, 0);
    ck_assert_int_eq(c.r.explain.n, 0);
    if (c.r.status != OPT_OPTIMAL)
        ck_assert(c.r.heuristic_eur < HUGE_VAL);
    opt_result_release(&c.r);
}
END_TEST

/* A connection smaller than the site's own base load cannot hold: the plan
 * is relaxed and says which constraint gave. */
START_TEST(test_replay_true_infeasibility_explained)
{
    replay_t c;
    int capacity = 0;

    replay_init(&c, &days[_i]);
    c.pb.site.import_cap_kw = 5000;
    replay_solve(&c, 10);
    ck_assert_int_eq(c.r.status, OPT_INFEASIBLE);
    ck_assert_int_gt(c.r.explain.n, 0);
    for (int i = 0; i < c.r.explain.n; i++)
        capacity |= strstr(c.r.explain.v[i], "capacity") != NULL;
    ck_assert_msg(capacity, "%s: %s", days[_i].name, c.r.explain.v[0]);
    opt_result_release(&c.r);
}
END_TEST

static Suite *replay_suite(void)
{
    Suite *s = suite_create("optimizer_replay");
    TCase *tc = tcase_create("replay");
    int n = (int)(sizeof days / sizeof *days);

    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_replay_day_not_relaxed, 0, n);
    tcase_add_loop_test(tc, test_replay_day_solver_alone, 0, n);
    tcase_add_loop_test(tc, test_replay_day_repeatable, 0, n);
    tcase_add_loop_test(tc, test_replay_heuristic_valid, 0, n);
    tcase_add_loop_test(tc, test_replay_timeout_not_infeasible, 0, n);
    tcase_add_loop_test(tc, test_replay_true_infeasibility_explained, 0, n);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(replay_suite(), 0);
}
