/* Band calibration at the level of forecast runs (ADR 0011) and the
 * backtest's miss shares, on hand-made residuals with known answers. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "forecaster/fc_metrics.h"
#include "forecaster/fc_quantile.h"
#include "support/fc_qfixture.h"
#include "support/harness.h"

/* fc_q_run_level: target * (runs + 1) / runs, at most 1. */
static const struct {
    double target, runs, level;
} lv[] = {
    {0.8, 24, 0.8 * 25 / 24}, /* one run per residual: the slot-level rank */
    {0.8, 19, 0.8 * 20 / 19}, /* a calibration week plus 12 pooled days */
    {0.8, 8, 0.9},
    {0.8, 4, 1.0}, /* 0.8 * 5 / 4 = 1 */
    {0.8, 2, 1.0}, /* capped */
    {0.8, 0, 1.0}, /* no runs: taken as one, capped */
    {0.5, 3, 2.0 / 3},
    {0.5, 1, 1.0},
};

START_TEST(run_level_table)
{
    ck_assert_double_eq_tol(fc_q_run_level(lv[_i].target, lv[_i].runs), lv[_i].level,
                            1e-12);
}
END_TEST

/* 24 residuals +-4i (i = 1..24): residual i needs the scale 0.1 i. */
static void ramp24(fc_qacc *cal)
{
    fc_qacc_init(cal);
    for (int i = 1; i <= 24; i++)
        fc_qacc_add(cal, 30, 10 * 3600, (i % 2 ? -4.0 : 4.0) * i);
}

/* The rank is ceil(level * n): runs = n gives the slot-level answer of
 * fc_qtable_calibrate (20th need, 2.0); fewer runs ask for more. */
static const struct {
    double runs, scale;
    int covered; /* of the 24 after scaling */
} rk[] = {
    {24, 2.0, 20}, /* ceil(0.8 * 25) = 20 */
    {12, 2.1, 21}, /* level 0.8667: ceil(20.8) = 21 */
    {8, 2.2, 22},  /* level 0.9: ceil(21.6) = 22 */
    {4, 2.4, 24},  /* level 1: the largest need */
};

START_TEST(calibrate_runs_rank)
{
    fc_qtable t;
    fc_qacc cal;
    tfc_qtable_wide40(&t);
    ramp24(&cal);
    double s = fc_qtable_calibrate_runs(&t, &cal, 0.8, rk[_i].runs);
    ck_assert_double_eq_tol(s, rk[_i].scale, 1e-9);
    ck_assert_double_eq_tol(fc_qtable_coverage(&t, &cal, s), rk[_i].covered / 24.0,
                            1e-12);
    if (rk[_i].runs == 24)
        ck_assert_double_eq_tol(s, fc_qtable_calibrate(&t, &cal, 0.8), 1e-12);
    fc_qacc_release(&cal);
}
END_TEST

/* Eight runs of three slots whose errors move together (each run's three
 * residuals are equal, 4i for run i, alternating sign): the slot-level rank
 * covers 7 of the 8 runs only by counting the 24 slots as independent
 * (20th of 24 needs: 0.7); at the level of 8 runs (0.9, 22nd need) the
 * band covers every run seen, as the finite-sample promise for one more
 * exchangeable run requires. */
START_TEST(correlated_runs_widen)
{
    fc_qtable t;
    fc_qacc cal;
    tfc_qtable_wide40(&t);
    fc_qacc_init(&cal);
    for (int run = 1; run <= 8; run++)
        for (int j = 0; j < 3; j++)
            fc_qacc_add(&cal, 30, 10 * 3600, (run % 2 ? -4.0 : 4.0) * run);
    double slot = fc_qtable_calibrate(&t, &cal, 0.8);
    double runs = fc_qtable_calibrate_runs(&t, &cal, 0.8, 8);
    ck_assert_double_eq_tol(slot, 0.7, 1e-9);
    ck_assert_double_eq_tol(runs, 0.8, 1e-9);
    ck_assert_double_eq_tol(fc_qtable_coverage(&t, &cal, slot), 21.0 / 24, 1e-12);
    ck_assert_double_eq_tol(fc_qtable_coverage(&t, &cal, runs), 1.0, 1e-12);
    /* the limits and the short-set rule still hold */
    ck_assert_double_eq_tol(fc_qtable_calibrate_runs(&t, &cal, 0.8, 1), 0.8, 1e-9);
    fc_qacc_release(&cal);
    fc_qacc_init(&cal);
    for (int i = 0; i < FC_QMIN - 1; i++)
        fc_qacc_add(&cal, 30, 10 * 3600, 400.0);
    ck_assert_double_eq_tol(fc_qtable_calibrate_runs(&t, &cal, 0.8, 2), 1.0, 1e-12);
    fc_qacc_add(&cal, 30, 10 * 3600, 400.0);
    ck_assert_double_eq_tol(fc_qtable_calibrate_runs(&t, &cal, 0.8, 2), FC_QSCALE_MAX,
                            1e-12);
    fc_qacc_release(&cal);
}
END_TEST

/* Misses are split into below P10 and above P90; a slot on a bound is in. */
START_TEST(metrics_miss_shares)
{
    static const double y[] = {0, 5, 10, 11, 20, 9, 10, 4};
    fc_metrics_acc a;
    fc_metrics m;
    fc_metrics_acc_init(&a);
    for (int i = 0; i < 8; i++)
        fc_metrics_add(&a, y[i], 5, 7, 10);
    fc_metrics_compute(&a, &m);
    ck_assert_double_eq_tol(m.below, 2.0 / 8, 1e-12);
    ck_assert_double_eq_tol(m.above, 2.0 / 8, 1e-12);
    ck_assert_double_eq_tol(m.coverage, 4.0 / 8, 1e-12);
    fc_metrics_acc_release(&a);
    fc_metrics_acc_init(&a);
    fc_metrics_compute(&a, &m);
    ck_assert(isnan(m.below) && isnan(m.above));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fc_band");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, run_level_table, 0, sizeof lv / sizeof *lv);
    tcase_add_loop_test(tc, calibrate_runs_rank, 0, sizeof rk / sizeof *rk);
    tcase_add_test(tc, correlated_runs_widen);
    tcase_add_test(tc, metrics_miss_shares);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
