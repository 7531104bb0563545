/* The forecaster core end to end on small series: training, selection,
 * bands, fallbacks on bad input, model files, CSV reading. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forecaster/fc_backtest.h"
#include "forecaster/fc_dataset.h"
#include "forecaster/fc_features.h"
#include "forecaster/fc_forecast.h"
#include "support/harness.h"

#define STEP 3600

static fc_calendar *cal;
static int64_t day0;

static double weekly(int64_t t)
{
    int dow = (int)((t / 86400 + 3) % 7);
    int h = (int)(t % 86400) / 3600;
    return 50.0 + 8.0 * (dow < 5) + 10.0 * (h >= 8 && h < 18);
}

/* Weekly pattern plus a temperature response and a small deterministic
 * wiggle, so residuals are not all zero. */
static double temp_at(int64_t t)
{
    return 10.0 + 8.0 * sin((double)t / 86400.0 * 0.9);
}
static double load_at(int64_t t)
{
    return weekly(t) + 1.5 * fmax(0, 15 - temp_at(t)) +
           2.0 * sin((double)t / 7200.0 * 1.3);
}

static void make(fc_series *s, fc_weather *w, int days)
{
    fc_series_init(s, STEP, 0);
    fc_weather_init(w);
    fc_weather_add(w, "temp", STEP, 0);
    for (int64_t t = day0; t < day0 + (int64_t)days * 86400; t += STEP) {
        fc_series_put(s, t, load_at(t));
        fc_series_put(&w->col[0], t, temp_at(t));
    }
    /* weather is known two days further (a forecast) */
    for (int64_t t = day0 + (int64_t)days * 86400; t < day0 + (days + 2LL) * 86400;
         t += STEP)
        fc_series_put(&w->col[0], t, temp_at(t));
}

static void setup(void)
{
    char err[128];
    cal = fc_calendar_new("UTC", NULL, 0, err, sizeof err);
    day0 = fc_days_from_civil(2021, 1, 4) * 86400;
}

static void teardown(void)
{
    fc_calendar_destroy(cal);
}

static fc_forecaster *trained(fc_series *s, fc_weather *w, int days, int64_t *issue)
{
    fc_params p;
    char err[128];
    fc_params_default(&p, STEP);
    p.xgb.rounds = 60;
    make(s, w, days);
    *issue = day0 + (days - 1) * 86400LL + 6 * 3600;
    fc_forecaster *fc = fc_forecaster_new(&p, cal);
    ck_assert_msg(
        fc_forecaster_train(fc, s, w, FC_DAY_AHEAD, *issue, err, sizeof err) == 0, "%s",
        err);
    return fc;
}

START_TEST(trees_learn_and_bands_order)
{
    fc_series s;
    fc_weather w;
    fc_forecast f;
    int64_t issue;
    fc_forecaster *fc = trained(&s, &w, 70, &issue);
    fc_forecast_init(&f);
    /* The series continues to day 71: score the trees against it. */
    ck_assert_int_eq(fc_forecaster_winner(fc, FC_DAY_AHEAD), FC_MODEL_XGB);
    ck_assert(fc_forecaster_holdout_mae(fc, FC_DAY_AHEAD, FC_MODEL_XGB) <
              fc_forecaster_holdout_mae(fc, FC_DAY_AHEAD, FC_MODEL_NAIVE));
    ck_assert_int_eq(
        fc_forecast_run(fc, &s, &w, FC_DAY_AHEAD, issue, FC_MODEL_AUTO, &f), 0);
    ck_assert_str_eq(f.model, "xgboost");
    ck_assert_str_eq(f.fallback, "");
    ck_assert_str_eq(f.quality, "");
    ck_assert_ptr_nonnull(strstr(f.version, "fc1-da-"));
    ck_assert_uint_eq(f.n, 24);
    double err = 0;
    for (size_t i = 0; i < f.n; i++) {
        ck_assert(f.slots[i].p10 <= f.slots[i].p50 && f.slots[i].p50 <= f.slots[i].p90);
        err += fabs(f.slots[i].p50 - load_at(f.slots[i].t));
    }
    ck_assert_msg(err / 24 < 3.0, "trees MAE %.3f", err / 24);
    /* every model's band was calibrated on the latest held-back week: 7 days
     * of 24 residuals, a scale inside the limits */
    for (int m = 0; m < FC_NMODELS; m++) {
        const fc_qtable *q = fc_forecaster_qtable(fc, FC_DAY_AHEAD, (fc_model_id)m);
        ck_assert_int_eq(q->fitted, 1);
        ck_assert_int_eq(q->cal_n, 7 * 24);
        ck_assert(q->scale >= FC_QSCALE_MIN && q->scale <= FC_QSCALE_MAX);
        ck_assert(q->cal_cover >= 0 && q->cal_cover <= 1);
    }
    fc_forecast_release(&f);
    fc_forecaster_destroy(fc);
    fc_series_release(&s);
    fc_weather_release(&w);
}
END_TEST

START_TEST(model_file_round_trip)
{
    fc_series s;
    fc_weather w;
    fc_forecast a, b;
    fc_params p;
    int64_t issue;
    char err[256], path[] = "/tmp/test_fc_modelXXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    fc_forecaster *fc = trained(&s, &w, 40, &issue);
    fc_params_default(&p, STEP);
    fc_forecaster *fc2 = fc_forecaster_new(&p, cal);
    ck_assert_int_eq(fc_forecaster_save(fc, FC_DAY_AHEAD, path, err, sizeof err), 0);
    ck_assert_msg(fc_forecaster_load(fc2, FC_DAY_AHEAD, path, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_str_eq(fc_forecaster_version(fc2, FC_DAY_AHEAD),
                     fc_forecaster_version(fc, FC_DAY_AHEAD));
    ck_assert_int_ne(fc_forecaster_load(fc2, FC_INTRADAY, path, err, sizeof err), 0);
    /* the checks of a load at start: weather columns and training time */
    int64_t at = fc_forecaster_trained_at(fc, FC_DAY_AHEAD);
    fc_weather none;
    fc_weather_init(&none);
    fc_forecaster *fc3 = fc_forecaster_new(&p, cal);
    ck_assert_int_ne(fc_forecaster_load_checked(fc3, FC_DAY_AHEAD, path, &none,
                                                INT64_MAX, err, sizeof err),
                     0);
    ck_assert_ptr_nonnull(strstr(err, "weather column 'temp'"));
    fc_weather_release(&none);
    ck_assert_int_ne(fc_forecaster_load_checked(fc3, FC_DAY_AHEAD, path, &w, at - 1,
                                                err, sizeof err),
                     0);
    ck_assert_int_eq(fc_forecaster_trained_at(fc3, FC_DAY_AHEAD), INT64_MIN);
    ck_assert_int_eq(fc_forecaster_due(fc3, FC_DAY_AHEAD, issue), 1);
    ck_assert_msg(fc_forecaster_load_checked(fc3, FC_DAY_AHEAD, path, &w, at, err,
                                             sizeof err) == 0,
                  "%s", err);
    ck_assert_int_eq(fc_forecaster_trained_at(fc3, FC_DAY_AHEAD), at);
    ck_assert_int_eq(fc_forecaster_due(fc3, FC_DAY_AHEAD, at),
                     fc_forecaster_due(fc, FC_DAY_AHEAD, at));
    fc_forecaster_destroy(fc3);
    /* a truncated file */
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "truncate -s -10 %s", path);
        ck_assert_int_eq(system(cmd), 0);
        fc3 = fc_forecaster_new(&p, cal);
        ck_assert_int_ne(fc_forecaster_load(fc3, FC_DAY_AHEAD, path, err, sizeof err),
                         0);
        fc_forecaster_destroy(fc3);
        ck_assert_int_eq(fc_forecaster_save(fc, FC_DAY_AHEAD, path, err, sizeof err),
                         0);
    }
    fc_forecast_init(&a);
    fc_forecast_init(&b);
    fc_forecast_run(fc, &s, &w, FC_DAY_AHEAD, issue, FC_MODEL_AUTO, &a);
    fc_forecast_run(fc2, &s, &w, FC_DAY_AHEAD, issue, FC_MODEL_AUTO, &b);
    ck_assert_str_eq(a.model, b.model);
    for (size_t i = 0; i < a.n; i++) {
        ck_assert_double_eq_tol(a.slots[i].p50, b.slots[i].p50, 1e-9);
        ck_assert_double_eq_tol(a.slots[i].p90, b.slots[i].p90, 1e-9);
    }
    ck_assert_double_eq_tol(
        fc_forecaster_qtable(fc2, FC_DAY_AHEAD, FC_MODEL_XGB)->scale,
        fc_forecaster_qtable(fc, FC_DAY_AHEAD, FC_MODEL_XGB)->scale, 1e-9);
    FILE *g = fopen(path, "w");
    fputs("not a model\n", g);
    fclose(g);
    ck_assert_int_ne(fc_forecaster_load(fc2, FC_DAY_AHEAD, path, err, sizeof err), 0);
    unlink(path);
    fc_forecast_release(&a);
    fc_forecast_release(&b);
    fc_forecaster_destroy(fc);
    fc_forecaster_destroy(fc2);
    fc_series_release(&s);
    fc_weather_release(&w);
}
END_TEST

/* Two more weather variables the load depends on, for the column tests. */
static double solar_at(int64_t t)
{
    return 400.0 * fmax(0, sin((double)(t % 86400) / 86400.0 * 6.2832 - 1.5708));
}
static double wind_at(int64_t t)
{
    return 6.0 + 5.0 * sin((double)t / 52000.0);
}

/* The history of make() with the columns solar and wind added in the given
 * order after the temperature, and the load depending on both. */
static void make_wx(fc_series *s, fc_weather *w, int days, const char *const *order)
{
    make(s, w, days);
    for (int i = 0; i < 2; i++) {
        int c = fc_weather_add(w, order[i], STEP, 0);
        ck_assert_int_ge(c, 0);
        int solar = !strcmp(order[i], "solar");
        for (int64_t t = day0; t < day0 + (days + 2LL) * 86400; t += STEP)
            fc_series_put(&w->col[c], t, solar ? solar_at(t) : wind_at(t));
    }
    for (int64_t t = day0; t < day0 + (int64_t)days * 86400; t += STEP)
        fc_series_put(s, t, load_at(t) + 0.03 * solar_at(t) - 1.2 * wind_at(t));
}

/* Regression: a saved model was matched to the site's weather columns by
 * their number, and a site's columns come in the order its variables first
 * arrive, which a restart may change: the trees were then fed solar as wind.
 * A model now names its columns and reads them by name; one whose column is
 * gone is refused, as is a file of format 3, which has no names. */
START_TEST(saved_model_reads_weather_columns_by_name)
{
    static const char *const first[] = {"solar", "wind"},
                             *const after[] = {"wind", "solar"},
                             *const other[] = {"solar", "rain"};
    fc_series s, s2, s3;
    fc_weather w, w2, w3;
    fc_forecast a, b;
    fc_params p;
    char err[256], path[] = "/tmp/test_fc_colsXXXXXX";
    int days = 40, fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    fc_params_default(&p, STEP);
    p.xgb.rounds = 60;
    int64_t issue = day0 + (days - 1) * 86400LL + 6 * 3600;
    make_wx(&s, &w, days, first);
    make_wx(&s2, &w2, days, after);
    make_wx(&s3, &w3, days, other);
    ck_assert_str_eq(w2.names[1], "wind");
    fc_forecaster *fc = fc_forecaster_new(&p, cal), *fc2 = fc_forecaster_new(&p, cal);
    ck_assert_msg(
        fc_forecaster_train(fc, &s, &w, FC_DAY_AHEAD, issue, err, sizeof err) == 0,
        "%s", err);
    ck_assert_int_eq(fc_forecaster_save(fc, FC_DAY_AHEAD, path, err, sizeof err), 0);
    ck_assert_msg(fc_forecaster_load_checked(fc2, FC_DAY_AHEAD, path, &w2, issue, err,
                                             sizeof err) == 0,
                  "%s", err);
    fc_forecast_init(&a);
    fc_forecast_init(&b);
    fc_forecast_run(fc, &s, &w, FC_DAY_AHEAD, issue, FC_MODEL_XGB, &a);
    fc_forecast_run(fc2, &s2, &w2, FC_DAY_AHEAD, issue, FC_MODEL_XGB, &b);
    ck_assert_str_eq(b.model, "xgboost");
    ck_assert_str_eq(b.fallback, "");
    for (size_t i = 0; i < a.n; i++)
        ck_assert_double_eq_tol(a.slots[i].p50, b.slots[i].p50, 1e-9);
    /* a column the site lacks: refused, never fed another one */
    fc_forecaster *fc3 = fc_forecaster_new(&p, cal);
    ck_assert_int_ne(fc_forecaster_load_checked(fc3, FC_DAY_AHEAD, path, &w3, issue,
                                                err, sizeof err),
                     0);
    ck_assert_ptr_nonnull(strstr(err, "weather column 'wind'"));
    ck_assert_int_eq(fc_forecaster_trained_at(fc3, FC_DAY_AHEAD), INT64_MIN);
    /* a format 3 file (no column names) is refused as such */
    FILE *g = fopen(path, "w");
    fputs("EMSFC-MODEL 3 fc1-da-x 0 0 17 2 1 1 1 0 0 0\n", g);
    fclose(g);
    ck_assert_int_ne(fc_forecaster_load(fc3, FC_DAY_AHEAD, path, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "format 3 model"));
    unlink(path);
    fc_forecast_release(&a);
    fc_forecast_release(&b);
    fc_forecaster_destroy(fc);
    fc_forecaster_destroy(fc2);
    fc_forecaster_destroy(fc3);
    fc_series_release(&s);
    fc_series_release(&s2);
    fc_series_release(&s3);
    fc_weather_release(&w);
    fc_weather_release(&w2);
    fc_weather_release(&w3);
}
END_TEST

/* The served band is calibrated on the held-back week plus the residuals
 * of the forecasts served since the earlier trainings (ADR 0011): the
 * second training pools the served runs of the 7 days since the first one
 * (their targets complete), within cal_pool_days; the pool and the served
 * band survive a model file round trip. */
START_TEST(served_band_pools_past_runs)
{
    fc_series s;
    fc_weather w;
    fc_forecast a, b;
    fc_params p;
    int64_t issue;
    char err[256], path[] = "/tmp/test_fc_poolXXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    fc_forecaster *fc = trained(&s, &w, 50, &issue);
    ck_assert_uint_eq(fc_forecaster_pool_size(fc, FC_DAY_AHEAD), 0);
    const fc_qtable *sv = fc_forecaster_served_qtable(fc, FC_DAY_AHEAD);
    fc_model_id win = fc_forecaster_winner(fc, FC_DAY_AHEAD);
    ck_assert_int_eq(sv->cal_n, fc_forecaster_qtable(fc, FC_DAY_AHEAD, win)->cal_n);
    ck_assert_double_eq(sv->scale, fc_forecaster_qtable(fc, FC_DAY_AHEAD, win)->scale);
    /* a week later: the 7 daily issues since the first training; the last
     * two targets (today and tomorrow) are not complete yet */
    int64_t later = issue + 7 * 86400;
    fc_series_release(&s);
    fc_weather_release(&w);
    make(&s, &w, 57);
    ck_assert_int_eq(fc_forecaster_due(fc, FC_DAY_AHEAD, later), 1);
    ck_assert_int_eq(
        fc_forecaster_train(fc, &s, &w, FC_DAY_AHEAD, later, err, sizeof err), 0);
    ck_assert_uint_eq(fc_forecaster_pool_size(fc, FC_DAY_AHEAD), 6 * 24);
    win = fc_forecaster_winner(fc, FC_DAY_AHEAD);
    ck_assert_int_eq(sv->cal_n, 7 * 24 + 6 * 24);
    ck_assert(sv->scale >= FC_QSCALE_MIN && sv->scale <= FC_QSCALE_MAX);
    /* served runs use it; a model asked for by name keeps its own band */
    fc_forecast_init(&a);
    fc_forecast_init(&b);
    ck_assert_int_eq(
        fc_forecast_run(fc, &s, &w, FC_DAY_AHEAD, later, FC_MODEL_AUTO, &a), 0);
    ck_assert_int_eq(fc_forecast_run(fc, &s, &w, FC_DAY_AHEAD, later, win, &b), 0);
    double lo, mid, hi;
    fc_qtable_get(sv, (double)(a.slots[0].t - later) / 3600.0,
                  fc_cal_sec_of_day(cal, a.slots[0].t), &lo, &mid, &hi);
    ck_assert_double_eq_tol(a.slots[0].p90, a.slots[0].p50 + fmax(hi, 0.0), 1e-9);
    ck_assert_double_eq_tol(a.slots[0].p50, b.slots[0].p50, 1e-12);
    /* round trip */
    fc_params_default(&p, STEP);
    ck_assert_int_eq(p.cal_pool_days, 14);
    ck_assert_int_eq(fc_forecaster_save(fc, FC_DAY_AHEAD, path, err, sizeof err), 0);
    fc_forecaster *fc2 = fc_forecaster_new(&p, cal);
    ck_assert_msg(fc_forecaster_load(fc2, FC_DAY_AHEAD, path, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(fc_forecaster_pool_size(fc2, FC_DAY_AHEAD), 6 * 24);
    ck_assert_double_eq(fc_forecaster_served_qtable(fc2, FC_DAY_AHEAD)->scale,
                        sv->scale);
    ck_assert_int_eq(fc_forecaster_served_qtable(fc2, FC_DAY_AHEAD)->cal_n, sv->cal_n);
    fc_forecast_run(fc2, &s, &w, FC_DAY_AHEAD, later, FC_MODEL_AUTO, &b);
    for (size_t i = 0; i < a.n; i++) {
        ck_assert_double_eq(a.slots[i].p10, b.slots[i].p10);
        ck_assert_double_eq(a.slots[i].p90, b.slots[i].p90);
    }
    /* 14 days later: the 13 issues with complete targets since the last
     * training; the older residuals are past cal_pool_days and dropped */
    fc_series_release(&s);
    fc_weather_release(&w);
    make(&s, &w, 71);
    ck_assert_int_eq(fc_forecaster_train(fc, &s, &w, FC_DAY_AHEAD, later + 14 * 86400,
                                         err, sizeof err),
                     0);
    ck_assert_uint_eq(fc_forecaster_pool_size(fc, FC_DAY_AHEAD), 13 * 24);
    unlink(path);
    fc_forecast_release(&a);
    fc_forecast_release(&b);
    fc_forecaster_destroy(fc);
    fc_forecaster_destroy(fc2);
    fc_series_release(&s);
    fc_weather_release(&w);
}
END_TEST

START_TEST(no_history_still_forecasts)
{
    fc_series s;
    fc_params p;
    fc_forecast f;
    fc_series_init(&s, STEP, 0);
    fc_params_default(&p, STEP);
    fc_forecaster *fc = fc_forecaster_new(&p, cal);
    fc_forecast_init(&f);
    ck_assert_int_eq(
        fc_forecaster_issue(fc, &s, NULL, FC_DAY_AHEAD, day0, FC_MODEL_AUTO, &f), 0);
    ck_assert_uint_eq(f.n, 24);
    ck_assert_str_ne(f.fallback, "");
    ck_assert_ptr_nonnull(strstr(f.quality, "no_history"));
    for (size_t i = 0; i < f.n; i++)
        ck_assert(!isnan(f.slots[i].p50));
    fc_forecast_release(&f);
    fc_forecaster_destroy(fc);
}
END_TEST

START_TEST(short_history_falls_back)
{
    fc_series s;
    fc_weather w;
    fc_params p;
    fc_forecast f;
    char err[128];
    make(&s, &w, 5);
    fc_params_default(&p, STEP);
    fc_forecaster *fc = fc_forecaster_new(&p, cal);
    fc_forecast_init(&f);
    int64_t issue = day0 + 4 * 86400 + 6 * 3600;
    ck_assert_int_ne(
        fc_forecaster_train(fc, &s, &w, FC_DAY_AHEAD, issue, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "short_history"));
    fc_forecast_run(fc, &s, &w, FC_DAY_AHEAD, issue, FC_MODEL_XGB, &f);
    ck_assert_str_ne(f.model, "xgboost");
    ck_assert_str_ne(f.fallback, "");
    for (size_t i = 0; i < f.n; i++)
        ck_assert(!isnan(f.slots[i].p50));
    fc_forecast_release(&f);
    fc_forecaster_destroy(fc);
    fc_series_release(&s);
    fc_weather_release(&w);
}
END_TEST

START_TEST(gaps_and_missing_weather_are_named)
{
    fc_series s;
    fc_weather w;
    fc_forecast f;
    int64_t issue;
    fc_forecaster *fc = trained(&s, &w, 50, &issue);
    /* Remove the last week of load and the weather of the target day. */
    for (int64_t t = issue - 7 * 86400; t < issue + 2 * 86400; t += STEP)
        fc_series_put(&s, t, NAN);
    for (int64_t t = issue; t < issue + 2 * 86400; t += STEP)
        fc_series_put(&w.col[0], t, NAN);
    fc_forecast_init(&f);
    ck_assert_int_eq(
        fc_forecast_run(fc, &s, &w, FC_DAY_AHEAD, issue, FC_MODEL_AUTO, &f), 0);
    ck_assert_ptr_nonnull(strstr(f.quality, "weather_missing"));
    for (size_t i = 0; i < f.n; i++)
        ck_assert(!isnan(f.slots[i].p50));
    fc_forecast_run(fc, &s, &w, FC_DAY_AHEAD, issue, FC_MODEL_NAIVE, &f);
    /* Naive falls back to 14 days before, so no gap fill is needed ... */
    ck_assert_ptr_null(strstr(f.quality, "gaps_filled"));
    /* ... but without that week either, the profile fills in. */
    for (int64_t t = issue - 14 * 86400; t < issue - 7 * 86400; t += STEP)
        fc_series_put(&s, t, NAN);
    fc_forecast_run(fc, &s, &w, FC_DAY_AHEAD, issue, FC_MODEL_NAIVE, &f);
    ck_assert_ptr_nonnull(strstr(f.quality, "gaps_filled=24"));
    fc_forecast_release(&f);
    fc_forecaster_destroy(fc);
    fc_series_release(&s);
    fc_weather_release(&w);
}
END_TEST

START_TEST(backtest_uses_only_the_past)
{
    /* Poisoning the future after the test period must not change results. */
    fc_series s;
    fc_weather w;
    fc_params p;
    fc_backtest_result r1, r2;
    char err[128];
    make(&s, &w, 60);
    fc_params_default(&p, STEP);
    p.xgb.rounds = 30;
    int64_t from = day0 / 86400 + 50, to = from + 3;
    fc_forecaster *fc = fc_forecaster_new(&p, cal);
    ck_assert_int_eq(fc_backtest_run(fc, cal, &s, &w, from, to, &r1, err, sizeof err),
                     0);
    fc_forecaster_destroy(fc);
    for (int64_t t = (to + 1) * 86400; t < day0 + 60 * 86400LL; t += STEP)
        fc_series_put(&s, t, 1e6);
    fc = fc_forecaster_new(&p, cal);
    ck_assert_int_eq(fc_backtest_run(fc, cal, &s, &w, from, to, &r2, err, sizeof err),
                     0);
    fc_forecaster_destroy(fc);
    ck_assert_int_eq(r1.days, 4);
    ck_assert_uint_eq(r1.m[FC_BT_SERVED].n, 96);
    for (int m = 0; m < FC_BT_ROWS; m++)
        ck_assert_double_eq_tol(r1.m[m].mae, r2.m[m].mae, 1e-9);
    ck_assert(r1.m[FC_MODEL_XGB].mae < r1.m[FC_MODEL_NAIVE].mae);
    fc_series_release(&s);
    fc_weather_release(&w);
}
END_TEST

START_TEST(intraday_next_24_hours)
{
    fc_series s;
    fc_weather w;
    fc_params p;
    fc_forecast f;
    char err[128];
    make(&s, &w, 50);
    fc_params_default(&p, STEP);
    p.xgb.rounds = 40;
    fc_forecaster *fc = fc_forecaster_new(&p, cal);
    int64_t issue = day0 + 45 * 86400LL + 13 * 3600 + 600; /* 13:10 */
    ck_assert_msg(
        fc_forecaster_train(fc, &s, &w, FC_INTRADAY, issue, err, sizeof err) == 0, "%s",
        err);
    fc_forecast_init(&f);
    ck_assert_int_eq(fc_forecast_run(fc, &s, &w, FC_INTRADAY, issue, FC_MODEL_AUTO, &f),
                     0);
    ck_assert_int_eq(f.kind, FC_INTRADAY);
    ck_assert_uint_eq(f.n, 24);
    ck_assert_int_eq(f.slots[0].t,
                     issue - 600 + 3600); /* first whole slot after the issue */
    ck_assert_ptr_nonnull(strstr(f.version, "fc1-id-"));
    ck_assert_str_eq(f.fallback, "");
    double e = 0;
    for (size_t i = 0; i < f.n; i++)
        e += fabs(f.slots[i].p50 - load_at(f.slots[i].t));
    ck_assert_msg(e / 24 < 3.0, "intraday MAE %.3f", e / 24);
    /* the day-ahead state is untouched */
    ck_assert_str_eq(fc_forecaster_version(fc, FC_DAY_AHEAD), "untrained");
    fc_forecast_release(&f);
    fc_forecaster_destroy(fc);
    fc_series_release(&s);
    fc_weather_release(&w);
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

START_TEST(csv_formats)
{
    char nl[] = "/tmp/test_fc_nlXXXXXX", on[] = "/tmp/test_fc_onXXXXXX", err[256];
    close(mkstemp(nl));
    close(mkstemp(on));
    write_file(nl, ",load,day_ahead_electricity_price,clouds,temp\n"
                   "2020-08-15 00:00:00+00:00,7.5,31.7,98.8,18.5\n"
                   "2020-08-15 00:30:00+00:00,6.5,31.7,97.0,18.0\n"
                   "2020-08-15 02:45:00+02:00,bad,31.7,,17.0\n");
    fc_series s;
    fc_weather w;
    fc_series_init(&s, 900, 0);
    fc_weather_init(&w);
    ck_assert_int_eq(fc_dataset_read(FC_FMT_NL, nl, &s, &w, err, sizeof err), 3);
    int64_t t0 = fc_days_from_civil(2020, 8, 15) * 86400;
    ck_assert_int_eq(s.t0, t0);
    ck_assert_double_eq(fc_series_at(&s, t0), 7.5);
    ck_assert(isnan(fc_series_at(&s, t0 + 900)));
    ck_assert(isnan(fc_series_at(&s, t0 + 2700))); /* "bad" cell */
    ck_assert_uint_eq(w.ncol, 2);                  /* price is not a feature */
    ck_assert_str_eq(w.names[0], "temp");
    ck_assert_double_eq(fc_weather_temp(&w, t0), 18.5);
    ck_assert_double_eq(fc_weather_at(&w, 1, t0), 98.8); /* clouds */
    ck_assert_double_eq(fc_weather_temp(&w, t0 + 2700), 17.0);
    fc_series_release(&s);
    fc_weather_release(&w);

    write_file(on, "date,hour,OntDemand\n01/01/2016,1,13417\n01/01/2016,24,14000\n");
    fc_series_init(&s, 3600, 0);
    fc_weather_init(&w);
    ck_assert_int_eq(fc_dataset_read(FC_FMT_ONTARIO, on, &s, &w, err, sizeof err), 2);
    write_file(on, "date,hour,Temperature\n01/01/2016,1,0.8\n01/01/2016,2,nan\n");
    ck_assert_int_eq(fc_dataset_read(FC_FMT_ONTARIO, on, &s, &w, err, sizeof err), 2);
    int64_t t1 = fc_days_from_civil(2016, 1, 1) * 86400 + 5 * 3600; /* 00:00 EST */
    ck_assert_double_eq(fc_series_at(&s, t1), 13417);
    ck_assert_double_eq(fc_series_at(&s, t1 + 23 * 3600), 14000);
    ck_assert_double_eq(fc_weather_temp(&w, t1), 0.8);
    ck_assert(isnan(fc_weather_temp(&w, t1 + 3600)));
    write_file(on, "date,hour,OntDemand\n31-01-2016,1,13417\n");
    ck_assert_int_eq(fc_dataset_read(FC_FMT_ONTARIO, on, &s, &w, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "line 2"));
    ck_assert_int_eq(
        fc_dataset_read(FC_FMT_NL, "/nonexistent.csv", &s, &w, err, sizeof err), -1);
    fc_series_release(&s);
    fc_weather_release(&w);
    unlink(nl);
    unlink(on);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("forecaster_core");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, trees_learn_and_bands_order);
    tcase_add_test(tc, model_file_round_trip);
    tcase_add_test(tc, served_band_pools_past_runs);
    tcase_add_test(tc, no_history_still_forecasts);
    tcase_add_test(tc, short_history_falls_back);
    tcase_add_test(tc, gaps_and_missing_weather_are_named);
    tcase_add_test(tc, backtest_uses_only_the_past);
    tcase_add_test(tc, csv_formats);
    tcase_add_test(tc, intraday_next_24_hours);
    suite_add_tcase(s, tc);
    TCase *cols = tcase_create("model_columns");
    tcase_set_timeout(cols, 120);
    tcase_add_checked_fixture(cols, setup, teardown);
    tcase_add_test(cols, saved_model_reads_weather_columns_by_name);
    suite_add_tcase(s, cols);
    return th_run_suite(s, 0);
}
