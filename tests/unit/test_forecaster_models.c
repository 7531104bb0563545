/* Baselines and features on hand-made series with known answers. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forecaster/fc_baseline.h"
#include "forecaster/fc_forecast.h"
#include "support/harness.h"

#define STEP 900
#define SPD (86400 / STEP)

static int64_t day0; /* Monday 2020-01-06 00:00 UTC */

/* A load that depends only on the day of week and the slot of day. */
static double weekly(int64_t t)
{
    int64_t d = t / 86400;
    int dow = (int)((d + 3) % 7);
    int slot = (int)(t % 86400) / STEP;
    /* NOLINTNEXTLINE(bugprone-integer-division): SPD, 86400 / STEP, is whole */
    return 100.0 + 10.0 * dow + 20.0 * sin(slot * 2 * M_PI / SPD);
}

static void fill(fc_series *s, int64_t from, int days, double (*f)(int64_t))
{
    for (int64_t t = from; t < from + (int64_t)days * 86400; t += STEP)
        fc_series_put(s, t, f(t));
}

static fc_calendar *cal_utc(const char *const *hol, size_t n)
{
    char err[128];
    fc_calendar *c = fc_calendar_new("UTC", hol, n, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    return c;
}

static void setup(void)
{
    day0 = fc_days_from_civil(2020, 1, 6) * 86400;
}

static void check_exact(fc_model_id m)
{
    fc_calendar *cal = cal_utc(NULL, 0);
    fc_series s;
    fc_params p;
    fc_forecast f;
    fc_series_init(&s, STEP, 0);
    fill(&s, day0, 35, weekly);
    fc_params_default(&p, STEP);
    fc_forecaster *fc = fc_forecaster_new(&p, cal);
    fc_forecast_init(&f);
    int64_t issue = day0 + 34 * 86400 + 6 * 3600; /* forecast day 35 */
    ck_assert_int_eq(fc_forecast_run(fc, &s, NULL, FC_DAY_AHEAD, issue, m, &f), 0);
    ck_assert_uint_eq(f.n, SPD);
    ck_assert_str_eq(f.model, fc_model_name(m));
    ck_assert_int_eq(f.slots[0].t, day0 + 35 * 86400);
    for (size_t i = 0; i < f.n; i++)
        ck_assert_double_eq_tol(f.slots[i].p50, weekly(f.slots[i].t), 1e-9);
    ck_assert_ptr_nonnull(strstr(f.quality, "uncalibrated"));
    fc_forecast_release(&f);
    fc_forecaster_destroy(fc);
    fc_series_release(&s);
    fc_calendar_destroy(cal);
}

START_TEST(weekly_pattern_naive_exact)
{
    check_exact(FC_MODEL_NAIVE);
}
END_TEST

START_TEST(weekly_pattern_profile_exact)
{
    check_exact(FC_MODEL_PROFILE);
}
END_TEST

static double flat(int64_t t)
{
    (void)t;
    return 7.0;
}

/* Weekly pattern, except holidays are flat at 7. */
static const int64_t *hol_days;
static size_t nhol_days;
static double with_holidays(int64_t t)
{
    for (size_t i = 0; i < nhol_days; i++)
        if (t / 86400 == hol_days[i])
            return flat(t);
    return weekly(t);
}

START_TEST(holiday_is_own_day_type)
{
    /* Wednesdays 2020-01-22 (in history) and 2020-02-05 (forecast) are
     * holidays; the profile must forecast the holiday shape, not Wednesday. */
    static const char *const hol[] = {"2020-01-22", "2020-02-05"};
    int64_t hd[2] = {fc_days_from_civil(2020, 1, 22), fc_days_from_civil(2020, 2, 5)};
    hol_days = hd;
    nhol_days = 2;
    fc_calendar *cal = cal_utc(hol, 2);
    fc_series s;
    fc_params p;
    fc_forecast f;
    fc_series_init(&s, STEP, 0);
    fill(&s, day0, 30, with_holidays); /* to 2020-02-05 00:00 */
    fc_params_default(&p, STEP);
    fc_forecaster *fc = fc_forecaster_new(&p, cal);
    fc_forecast_init(&f);
    int64_t issue = (hd[1] - 1) * 86400 + 6 * 3600;
    fc_forecast_run(fc, &s, NULL, FC_DAY_AHEAD, issue, FC_MODEL_PROFILE, &f);
    for (size_t i = 0; i < f.n; i++)
        ck_assert_double_eq_tol(f.slots[i].p50, 7.0, 1e-9);
    /* The Wednesday after is an ordinary Wednesday again. */
    fill(&s, hd[1] * 86400, 1, with_holidays);
    fc_forecast_run(fc, &s, NULL, FC_DAY_AHEAD, issue + 7 * 86400, FC_MODEL_PROFILE,
                    &f);
    for (size_t i = 0; i < f.n; i++)
        ck_assert_double_eq_tol(f.slots[i].p50, weekly(f.slots[i].t), 1e-9);
    fc_forecast_release(&f);
    fc_forecaster_destroy(fc);
    fc_series_release(&s);
    fc_calendar_destroy(cal);
}
END_TEST

START_TEST(holiday_without_history_uses_sunday)
{
    static const char *const hol[] = {"2020-02-05"};
    fc_calendar *cal = cal_utc(hol, 1);
    fc_series s;
    fc_issue_ctx c;
    fc_profile prof;
    fc_series_init(&s, STEP, 0);
    fill(&s, day0, 30, weekly);
    int64_t target = fc_days_from_civil(2020, 2, 5) * 86400 + 12 * 3600;
    fc_issue_ctx_init(&c, &s, NULL, cal, target - 30 * 3600, 18, 22);
    ck_assert_int_eq(fc_profile_build(&prof, &c, 0.3, 365), 0);
    /* Sunday 2020-02-02 12:00 has the same wall-clock slot. */
    ck_assert_double_eq_tol(fc_profile_point(&prof, cal, target),
                            weekly(fc_days_from_civil(2020, 2, 2) * 86400 + 12 * 3600),
                            1e-9);
    fc_profile_release(&prof);
    fc_series_release(&s);
    fc_calendar_destroy(cal);
}
END_TEST

START_TEST(profile_weights_recent_weeks)
{
    /* Same slot seen as 10 then 20 one week later: alpha 0.25 gives 12.5. */
    fc_calendar *cal = cal_utc(NULL, 0);
    fc_series s;
    fc_issue_ctx c;
    fc_profile prof;
    fc_series_init(&s, STEP, 0);
    fc_series_put(&s, day0, 10);
    fc_series_put(&s, day0 + 7 * 86400, 20);
    fc_issue_ctx_init(&c, &s, NULL, cal, day0 + 8 * 86400, 18, 22);
    fc_profile_build(&prof, &c, 0.25, 365);
    ck_assert_double_eq_tol(fc_profile_point(&prof, cal, day0 + 14 * 86400), 12.5,
                            1e-12);
    ck_assert(isnan(fc_profile_point(&prof, cal, day0 + 14 * 86400 + STEP)));
    fc_profile_release(&prof);
    fc_series_release(&s);
    fc_calendar_destroy(cal);
}
END_TEST

START_TEST(features_never_read_past_issue)
{
    fc_calendar *cal = cal_utc(NULL, 0);
    fc_series s;
    fc_weather w;
    fc_issue_ctx c;
    fc_series_init(&s, STEP, 0);
    fc_weather_init(&w);
    ck_assert_int_eq(fc_weather_add(&w, "wind", STEP, 0), 0);
    ck_assert_int_eq(fc_weather_add(&w, "temp", STEP, 0), 0); /* moves to column 0 */
    ck_assert_int_eq(fc_weather_find(&w, "wind"), 1);
    fill(&s, day0, 21, weekly);
    int64_t issue = day0 + 14 * 86400 + 6 * 3600;
    fc_series_put(&w.col[0], issue + 86400, 5.0);
    fc_issue_ctx_init(&c, &s, &w, cal, issue, 18, 22);
    float row[FCF_BASE + 2];
    ck_assert_int_eq(fc_features_count(&w), FCF_BASE + 2);
    int64_t t = issue + 86400; /* 06:00 next day */
    fc_features_row(&c, t, row);
    ck_assert(isnan(row[FCF_LAG_1D])); /* 06:00 today ends after the issue */
    ck_assert_double_eq_tol(row[FCF_LAG_2D], weekly(t - 2 * 86400), 1e-4);
    ck_assert_double_eq_tol(row[FCF_LAG_7D], weekly(t - 7 * 86400), 1e-4);
    ck_assert_double_eq_tol(row[FCF_LAST], weekly(issue - STEP), 1e-4);
    ck_assert_double_eq_tol(row[FCF_LEAD_H], 24.0, 1e-6);
    ck_assert_double_eq_tol(row[FCF_HOUR], 6.0, 1e-6);
    ck_assert_double_eq_tol(row[FCF_HDD], 13.0, 1e-6);
    ck_assert_double_eq_tol(row[FCF_CDD], 0.0, 1e-6);
    ck_assert(isnan(row[FCF_BASE + 1])); /* wind unknown */
    /* The future is in the series, but not visible at the issue. */
    ck_assert(isnan(fc_known(&c, issue)));
    ck_assert(!isnan(fc_known(&c, issue - STEP)));
    fc_weather_release(&w);
    fc_series_release(&s);
    fc_calendar_destroy(cal);
}
END_TEST

START_TEST(series_grid_and_window)
{
    fc_series s;
    fc_series_init(&s, STEP, 8);
    fc_series_put(&s, 1000 * STEP, 1);
    fc_series_put(&s, 1003 * STEP + 10, 4); /* inside slot 1003 */
    ck_assert_uint_eq(s.n, 4);
    ck_assert(isnan(fc_series_at(&s, 1001 * STEP)));
    ck_assert_double_eq(fc_series_at(&s, 1003 * STEP), 4);
    fc_series_put(&s, 998 * STEP, 9); /* earlier, still inside the window */
    ck_assert_int_eq(s.t0, 998 * STEP);
    fc_series_put(&s, 1010 * STEP, 5); /* window keeps 8 slots */
    ck_assert_uint_eq(s.n, 8);
    ck_assert_int_eq(s.t0, 1003 * STEP);
    fc_series_put(&s, 990 * STEP, 1); /* too old: ignored */
    ck_assert_int_eq(s.t0, 1003 * STEP);
    ck_assert_uint_eq(fc_series_count(&s, 0, 2000 * STEP), 2);
    ck_assert_double_eq_tol(fc_series_mean(&s, 0, 2000 * STEP), 4.5, 1e-12);
    fc_series_release(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("forecaster_models");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, weekly_pattern_naive_exact);
    tcase_add_test(tc, weekly_pattern_profile_exact);
    tcase_add_test(tc, holiday_is_own_day_type);
    tcase_add_test(tc, holiday_without_history_uses_sunday);
    tcase_add_test(tc, profile_weights_recent_weeks);
    tcase_add_test(tc, features_never_read_past_issue);
    tcase_add_test(tc, series_grid_and_window);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
