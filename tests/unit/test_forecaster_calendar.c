/* Calendar: wall-clock slots, day types, DST day lengths. */
#include <check.h>
#include <stdlib.h>

#include "forecaster/fc_calendar.h"
#include "support/harness.h"

static fc_calendar *ams;

static int64_t utc(int y, int m, int d, int h, int mi)
{
    return fc_days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60;
}

static void setup(void)
{
    static const char *const hol[] = {"2020-12-25", "2020-12-26"};
    char err[128];
    ams = fc_calendar_new("Europe/Amsterdam", hol, 2, err, sizeof err);
    ck_assert_msg(ams != NULL, "%s", err);
}

static void teardown(void)
{
    fc_calendar_destroy(ams);
}

static const struct {
    int y, m, d, step, slots;
} day_len[] = {
    {2020, 3, 29, 900, 92}, {2020, 10, 25, 900, 100}, {2020, 11, 1, 900, 96},
    {2020, 3, 28, 900, 96}, {2020, 3, 29, 3600, 23},  {2020, 10, 25, 3600, 25},
    {2021, 3, 28, 900, 92}, {2021, 10, 31, 900, 100},
};

START_TEST(dst_day_lengths)
{
    int64_t day = fc_days_from_civil(day_len[_i].y, day_len[_i].m, day_len[_i].d);
    ck_assert_int_eq(fc_cal_slots_in_day(ams, day, day_len[_i].step),
                     day_len[_i].slots);
}
END_TEST

START_TEST(day_start_is_local_midnight)
{
    /* 2020-10-25 starts at 00:00 CEST = 2020-10-24 22:00 UTC; the next day
     * at 00:00 CET = 23:00 UTC. */
    ck_assert_int_eq(fc_cal_day_start(ams, fc_days_from_civil(2020, 10, 25)),
                     utc(2020, 10, 24, 22, 0));
    ck_assert_int_eq(fc_cal_day_start(ams, fc_days_from_civil(2020, 10, 26)),
                     utc(2020, 10, 25, 23, 0));
}
END_TEST

START_TEST(slot_of_day_follows_wall_clock)
{
    /* 00:45 UTC on 2020-03-29 is 01:45 CET; 01:00 UTC is 03:00 CEST. */
    ck_assert_int_eq(fc_cal_slot_of_day(ams, utc(2020, 3, 29, 0, 45), 900), 7);
    ck_assert_int_eq(fc_cal_slot_of_day(ams, utc(2020, 3, 29, 1, 0), 900), 12);
    /* Autumn: 00:30 and 01:30 UTC on 2020-10-25 are both 02:30 local. */
    ck_assert_int_eq(fc_cal_slot_of_day(ams, utc(2020, 10, 25, 0, 30), 900), 10);
    ck_assert_int_eq(fc_cal_slot_of_day(ams, utc(2020, 10, 25, 1, 30), 900), 10);
    ck_assert_int_eq(fc_cal_offset(ams, utc(2020, 7, 1, 12, 0)), 7200);
    ck_assert_int_eq(fc_cal_offset(ams, utc(2020, 12, 1, 12, 0)), 3600);
}
END_TEST

START_TEST(day_types_and_holidays)
{
    ck_assert_int_eq(fc_cal_dow(ams, utc(2020, 11, 2, 12, 0)), 0); /* Monday */
    ck_assert_int_eq(fc_cal_dow(ams, utc(2020, 11, 1, 12, 0)), 6); /* Sunday */
    /* 23:30 UTC on Sunday 1 Nov is already Monday 00:30 local. */
    ck_assert_int_eq(fc_cal_dow(ams, utc(2020, 11, 1, 23, 30)), 0);
    ck_assert_int_eq(fc_cal_day_type(ams, utc(2020, 12, 24, 12, 0)), 3);
    ck_assert_int_eq(fc_cal_day_type(ams, utc(2020, 12, 25, 12, 0)), FC_DAY_HOLIDAY);
    ck_assert_int_eq(fc_cal_day_type(ams, utc(2020, 12, 25, 23, 30)), FC_DAY_HOLIDAY);
    /* 23:30 UTC on the 24th is 00:30 on Christmas in Amsterdam. */
    ck_assert_int_eq(fc_cal_is_holiday(ams, utc(2020, 12, 24, 23, 30)), 1);
    ck_assert_int_eq(fc_cal_is_holiday(ams, utc(2020, 12, 27, 12, 0)), 0);
}
END_TEST

START_TEST(shift_keeps_wall_clock_across_dst)
{
    /* Mon 2020-10-26 12:00 CET (11:00 UTC) minus 7 days is Mon 2020-10-19
     * 12:00 CEST (10:00 UTC). */
    ck_assert_int_eq(fc_cal_shift_days(ams, utc(2020, 10, 26, 11, 0), 7),
                     utc(2020, 10, 19, 10, 0));
    ck_assert_int_eq(fc_cal_shift_days(ams, utc(2020, 11, 9, 11, 0), 7),
                     utc(2020, 11, 2, 11, 0));
}
END_TEST

START_TEST(bad_input_is_refused)
{
    char err[128];
    static const char *const bad[] = {"2020-13-01"};
    ck_assert_ptr_null(fc_calendar_new("Mars/Olympus", NULL, 0, err, sizeof err));
    ck_assert_ptr_null(fc_calendar_new("../etc/passwd", NULL, 0, err, sizeof err));
    ck_assert_ptr_null(fc_calendar_new("UTC", bad, 1, err, sizeof err));
    fc_calendar_destroy(NULL);
    fc_calendar *u = fc_calendar_new("UTC", NULL, 0, err, sizeof err);
    ck_assert_ptr_nonnull(u);
    ck_assert_int_eq(fc_cal_slots_in_day(u, fc_days_from_civil(2020, 3, 29), 900), 96);
    fc_calendar_destroy(u);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("forecaster_calendar");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, dst_day_lengths, 0, sizeof day_len / sizeof *day_len);
    tcase_add_test(tc, day_start_is_local_midnight);
    tcase_add_test(tc, slot_of_day_follows_wall_clock);
    tcase_add_test(tc, day_types_and_holidays);
    tcase_add_test(tc, shift_keeps_wall_clock_across_dst);
    tcase_add_test(tc, bad_input_is_refused);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
