/* Metrics and residual quantiles on hand-computed values. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "forecaster/fc_metrics.h"
#include "forecaster/fc_quantile.h"
#include "support/fc_qfixture.h"
#include "support/harness.h"

START_TEST(metrics_hand_computed)
{
    static const double y[] = {10, 20, 30, 40}, p50[] = {12, 18, 33, 40};
    fc_metrics_acc a;
    fc_metrics m;
    fc_metrics_acc_init(&a);
    for (int i = 0; i < 4; i++)
        fc_metrics_add(&a, y[i], p50[i] - 1, p50[i], p50[i] + 1);
    fc_metrics_add(&a, NAN, 1, 2, 3); /* skipped: no actual */
    fc_metrics_add(&a, 5, 1, NAN, 3); /* skipped: no forecast */
    fc_metrics_compute(&a, &m);
    ck_assert_uint_eq(m.n, 4);
    ck_assert_double_eq_tol(m.mae, 1.75, 1e-12);
    ck_assert_double_eq_tol(m.rmse, sqrt(4.25), 1e-12);
    ck_assert_double_eq_tol(m.mape, 10.0, 1e-12);
    /* p1 = 10.3, p99 = 39.7 by linear interpolation */
    ck_assert_double_eq_tol(m.rmae, 1.75 / 29.4, 1e-12);
    ck_assert_double_eq_tol(m.pinball, 8.3 / 12.0, 1e-12);
    ck_assert_double_eq_tol(m.coverage, 0.25, 1e-12);
    fc_metrics_acc_release(&a);
}
END_TEST

START_TEST(mape_skips_small_loads)
{
    fc_metrics_acc a;
    fc_metrics m;
    fc_metrics_acc_init(&a);
    fc_metrics_add(&a, 100, 0, 110, 200); /* 10 % */
    fc_metrics_add(&a, 1, 0, 2, 3);       /* |1| < 10 % of mean 50.5: left out */
    fc_metrics_compute(&a, &m);
    ck_assert_double_eq_tol(m.mape, 10.0, 1e-12);
    ck_assert_double_eq_tol(m.mae, 5.5, 1e-12);
    fc_metrics_acc_release(&a);
}
END_TEST

START_TEST(empty_metrics_are_nan)
{
    fc_metrics_acc a;
    fc_metrics m;
    fc_metrics_acc_init(&a);
    fc_metrics_compute(&a, &m);
    ck_assert_uint_eq(m.n, 0);
    ck_assert(isnan(m.mae) && isnan(m.coverage));
    fc_metrics_acc_release(&a);
}
END_TEST

static const struct {
    double y, q, tau, loss;
} pin[] = {{10, 8, 0.9, 1.8},
           {10, 12, 0.9, 0.2},
           {10, 8, 0.1, 0.2},
           {10, 12, 0.1, 1.8},
           {5, 5, 0.5, 0.0}};

START_TEST(pinball_table)
{
    ck_assert_double_eq_tol(fc_pinball(pin[_i].y, pin[_i].q, pin[_i].tau), pin[_i].loss,
                            1e-12);
}
END_TEST

START_TEST(quantile_of_interpolates)
{
    double v[] = {5, 1, 4, 2, 3};
    ck_assert_double_eq_tol(fc_quantile_of(v, 5, 0.5), 3.0, 1e-12);
    ck_assert_double_eq_tol(fc_quantile_of(v, 5, 0.1), 1.4, 1e-12);
    ck_assert_double_eq_tol(fc_quantile_of(v, 5, 0.9), 4.6, 1e-12);
    ck_assert(isnan(fc_quantile_of(v, 0, 0.5)));
}
END_TEST

static const struct {
    double lead;
    int bucket;
} hb[] = {{0.25, 0}, {1, 1},  {2.9, 1},   {5, 2}, {11, 3},
          {23.9, 4}, {24, 5}, {41.75, 5}, {48, 6}};

START_TEST(horizon_buckets)
{
    ck_assert_int_eq(fc_q_hbucket(hb[_i].lead), hb[_i].bucket);
}
END_TEST

START_TEST(qtable_known_residuals)
{
    fc_qacc a;
    fc_qtable t;
    fc_qacc_init(&a);
    /* 100 residuals -50..49 at lead 30 h, 10:00; 5 residuals of 1000 at lead
     * 30 h, 22:00 (too few for their own cell: they borrow the bucket). */
    for (int i = 0; i < 100; i++)
        fc_qacc_add(&a, 30, 10 * 3600, i - 50);
    for (int i = 0; i < 5; i++)
        fc_qacc_add(&a, 30, 22 * 3600, 1000);
    fc_qacc_add(&a, 30, 10 * 3600, NAN); /* ignored */
    fc_qtable_fit(&t, &a, 0.9);
    double lo, mid, hi;
    /* The 10:00 cell holds exactly the 100 residuals. */
    fc_qtable_get(&t, 30, 10 * 3600, &lo, &mid, &hi);
    ck_assert_double_eq_tol(lo, -40.1, 1e-4);
    ck_assert_double_eq_tol(mid, -0.5, 1e-4);
    ck_assert_double_eq_tol(hi, 39.1, 1e-4);
    /* The 22:00 cell borrows all 105 of the 24-48 h bucket. */
    fc_qtable_get(&t, 30, 22 * 3600, &lo, &mid, &hi);
    ck_assert_int_eq(t.n[fc_q_hbucket(30)][fc_q_group(22 * 3600)], 105);
    ck_assert_double_eq_tol(mid, 2.0, 1e-4);
    /* Another bucket borrows everything too. */
    ck_assert_int_eq(t.n[0][0], 105);
    ck_assert_int_eq(t.fitted, 1);
    fc_qacc_release(&a);
    fc_qacc_init(&a);
    fc_qtable_fit(&t, &a, 0.9);
    ck_assert_int_eq(t.fitted, 0);
}
END_TEST

/* A table whose 10:00 cell (lead 30 h) has P10/P90 offsets -40/+40
 * (tfc_qtable_wide40), not calibrated yet. */
static void wide40(fc_qtable *t)
{
    tfc_qtable_wide40(t);
    ck_assert_double_eq_tol(t->scale, 1, 1e-9);
    ck_assert_int_eq(t->cal_n, 0);
}

START_TEST(calibration_scale_known_answer)
{
    fc_qtable t;
    fc_qacc cal;
    wide40(&t);
    /* 24 later residuals +-4i (i = 1..24, alternating sign): residual i needs
     * the offsets scaled by 4i/40 = 0.1 i. The unscaled band holds i <= 10;
     * the target 0.8 asks for the ceil(0.8 * 25) = 20th smallest need: 2.0,
     * which covers 20 of 24. */
    fc_qacc_init(&cal);
    for (int i = 1; i <= 24; i++)
        fc_qacc_add(&cal, 30, 10 * 3600, (i % 2 ? -4.0 : 4.0) * i);
    ck_assert_double_eq_tol(fc_qtable_coverage(&t, &cal, 1.0), 10.0 / 24, 1e-12);
    double s = fc_qtable_calibrate(&t, &cal, 0.8);
    ck_assert_double_eq_tol(s, 2.0, 1e-9);
    ck_assert_double_eq_tol(fc_qtable_coverage(&t, &cal, s), 20.0 / 24, 1e-12);
    /* the textbook target 0.5: ceil(12.5) = 13th need, 1.3 */
    ck_assert_double_eq_tol(fc_qtable_calibrate(&t, &cal, 0.5), 1.3, 1e-9);
    /* applied: offsets doubled, the P50 offset untouched, the check kept */
    fc_qtable_scale(&t, s, 24, 10.0 / 24);
    double lo, mid, hi;
    fc_qtable_get(&t, 30, 10 * 3600, &lo, &mid, &hi);
    ck_assert_double_eq_tol(lo, -80, 1e-9);
    ck_assert_double_eq_tol(mid, 0, 1e-9);
    ck_assert_double_eq_tol(hi, 80, 1e-9);
    ck_assert_double_eq_tol(t.scale, 2.0, 1e-6);
    ck_assert_int_eq(t.cal_n, 24);
    ck_assert_double_eq_tol(t.cal_cover, 10.0 / 24, 1e-6);
    /* the scaled band covers the calibration residuals as promised */
    ck_assert_double_eq_tol(fc_qtable_coverage(&t, &cal, 1.0), 20.0 / 24, 1e-12);
    fc_qacc_release(&cal);
}
END_TEST

START_TEST(calibration_narrows_and_clamps)
{
    fc_qtable t, empty;
    fc_qacc cal;
    wide40(&t);
    /* residuals far inside the band narrow it: of 30, ten of 0 need
     * nothing and twenty of +-4 need 0.1, below the lower limit 0.25 */
    fc_qacc_init(&cal);
    for (int i = 0; i < 30; i++)
        fc_qacc_add(&cal, 30, 10 * 3600, i % 3 == 0 ? 0.0 : i % 3 == 1 ? 4.0 : -4.0);
    ck_assert_double_eq_tol(fc_qtable_calibrate(&t, &cal, 0.8), FC_QSCALE_MIN, 1e-9);
    ck_assert_double_eq_tol(fc_qtable_coverage(&t, &cal, 0.1), 1.0, 1e-12);
    ck_assert_double_eq_tol(fc_qtable_coverage(&t, &cal, 0.05), 1.0 / 3, 1e-12);
    /* residuals 10x outside: clamped to the upper limit */
    fc_qacc_release(&cal);
    fc_qacc_init(&cal);
    for (int i = 0; i < 30; i++)
        fc_qacc_add(&cal, 30, 10 * 3600, 400.0 + i);
    ck_assert_double_eq_tol(fc_qtable_calibrate(&t, &cal, 0.8), FC_QSCALE_MAX, 1e-9);
    ck_assert_double_eq_tol(fc_qtable_coverage(&t, &cal, FC_QSCALE_MAX), 0, 1e-12);
    /* too few calibration residuals, or no table: no scaling */
    fc_qacc_release(&cal);
    fc_qacc_init(&cal);
    for (int i = 0; i < FC_QMIN - 1; i++)
        fc_qacc_add(&cal, 30, 10 * 3600, 400.0);
    ck_assert_double_eq_tol(fc_qtable_calibrate(&t, &cal, 0.8), 1.0, 1e-12);
    fc_qacc_add(&cal, 30, 10 * 3600, 400.0);
    fc_qacc empty_acc;
    fc_qacc_init(&empty_acc);
    fc_qtable_fit(&empty, &empty_acc, 0.9);
    ck_assert_double_eq_tol(fc_qtable_calibrate(&empty, &cal, 0.8), 1.0, 1e-12);
    ck_assert(isnan(fc_qtable_coverage(&empty, &cal, 1.0)));
    ck_assert(isnan(fc_qtable_coverage(&t, &empty_acc, 1.0)));
    fc_qacc_release(&cal);
}
END_TEST

START_TEST(calibration_reads_each_cell)
{
    /* Two cells: 10:00 with offsets +-40, 22:00 with +-80 (the 101
     * residuals -100..100 in steps of 2). A residual of 60 needs 1.5 in
     * the first and 0.75 in the second. */
    fc_qacc a, cal;
    fc_qtable t;
    fc_qacc_init(&a);
    for (int i = -50; i <= 50; i++) {
        fc_qacc_add(&a, 30, 10 * 3600, i);
        fc_qacc_add(&a, 30, 22 * 3600, 2 * i);
    }
    fc_qtable_fit(&t, &a, 0.9);
    fc_qacc_init(&cal);
    for (int i = 0; i < 24; i++)
        fc_qacc_add(&cal, 30, (i < 12 ? 10 : 22) * 3600, 60);
    ck_assert_double_eq_tol(fc_qtable_coverage(&t, &cal, 1.0), 0.5, 1e-12);
    /* 20th of twelve 0.75 and twelve 1.5 */
    ck_assert_double_eq_tol(fc_qtable_calibrate(&t, &cal, 0.8), 1.5, 1e-9);
    ck_assert_double_eq_tol(fc_qtable_calibrate(&t, &cal, 0.4), 0.75, 1e-9);
    fc_qacc_release(&a);
    fc_qacc_release(&cal);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("forecaster_metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, metrics_hand_computed);
    tcase_add_test(tc, mape_skips_small_loads);
    tcase_add_test(tc, empty_metrics_are_nan);
    tcase_add_loop_test(tc, pinball_table, 0, sizeof pin / sizeof *pin);
    tcase_add_test(tc, quantile_of_interpolates);
    tcase_add_loop_test(tc, horizon_buckets, 0, sizeof hb / sizeof *hb);
    tcase_add_test(tc, qtable_known_residuals);
    tcase_add_test(tc, calibration_scale_known_answer);
    tcase_add_test(tc, calibration_narrows_and_clamps);
    tcase_add_test(tc, calibration_reads_each_cell);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
