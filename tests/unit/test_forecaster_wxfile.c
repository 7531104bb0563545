/* Weather file parsers: CSV and the Open-Meteo forecast API's JSON. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forecaster/fc_calendar.h"
#include "forecaster/fc_service.h"
#include "forecaster/fc_wxfile.h"
#include "support/harness.h"

static int64_t utc(int y, int m, int d, int h, int mi)
{
    return fc_days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60;
}

static int parse(const char *text, fc_wxdata *d, char *err, size_t n)
{
    return fc_wxfile_parse(text, strlen(text), d, err, n);
}

START_TEST(csv_with_temperature_and_variables)
{
    const char *csv = "time,temp,shortwave_radiation_wm2,wind_speed_ms\r\n"
                      "2020-11-01T00:00:00Z,8.5,0,3.2\r\n"
                      "2020-11-01 00:15:00+00:00,8.25,,3.4\r\n"
                      "2020-11-01T01:30+01:00,8.0,nan,3.6\r\n";
    fc_wxdata d;
    char err[256] = "";
    fc_wxdata_init(&d);
    ck_assert_msg(parse(csv, &d, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(d.slot_sec, 900);
    ck_assert_uint_eq(d.n, 3);
    ck_assert_uint_eq(d.nvar, 3);
    ck_assert_str_eq(d.names[0], FC_WX_TEMP);
    ck_assert_str_eq(d.names[2], "wind_speed_ms");
    ck_assert_int_eq(d.t[2], utc(2020, 11, 1, 0, 30));
    ck_assert_double_eq(d.v[1 * 3 + 0], 8.25);
    ck_assert(isnan(d.v[1 * 3 + 1]));
    ck_assert(isnan(d.v[2 * 3 + 1]));
    ck_assert_double_eq(d.v[2 * 3 + 2], 3.6);
    fc_wxdata_release(&d);
}
END_TEST

START_TEST(open_meteo_json)
{
    const char *json =
        "{\"latitude\":51.9,\"longitude\":5.3,\"utc_offset_seconds\":3600,"
        "\"timezone\":\"Europe/Amsterdam\","
        "\"hourly_units\":{\"time\":\"iso8601\",\"temperature_2m\":\"\xc2\xb0"
        "C\","
        "\"shortwave_radiation\":\"W/m\xc2\xb2\",\"relative_humidity_2m\":\"%\"},"
        "\"hourly\":{\"time\":[\"2020-11-01T00:00\",\"2020-11-01T01:00\","
        "\"2020-11-01T02:00\"],\"temperature_2m\":[9.1,null,8.7],"
        "\"shortwave_radiation\":[0,0,0.5],\"relative_humidity_2m\":[90,91,92]}}";
    fc_wxdata d;
    char err[256] = "";
    fc_wxdata_init(&d);
    ck_assert_msg(parse(json, &d, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(d.slot_sec, 3600);
    ck_assert_uint_eq(d.n, 3);
    ck_assert_int_eq(d.t[0], utc(2020, 10, 31, 23, 0)); /* local +01:00 */
    ck_assert_int_ge(fc_wxdata_find(&d, FC_WX_TEMP), 0);
    int rad = fc_wxdata_find(&d, "shortwave_radiation_wm2");
    int hum = fc_wxdata_find(&d, "relative_humidity_2m_pct");
    int tmp = fc_wxdata_find(&d, FC_WX_TEMP);
    ck_assert_int_ge(rad, 0);
    ck_assert_int_ge(hum, 0);
    ck_assert(isnan(d.v[1 * d.nvar + tmp]));
    ck_assert_double_eq(d.v[2 * d.nvar + tmp], 8.7);
    ck_assert_double_eq(d.v[2 * d.nvar + rad], 0.5);
    ck_assert(d.has_pos);
    ck_assert_double_eq(d.lat, 51.9);
    fc_wxdata_release(&d);
}
END_TEST

static const struct {
    const char *text, *reason;
} bad[] = {
    {"", "empty"},
    {"time,temp\n2020-11-01T00:00Z,abc\n", "not a number"},
    {"time,temp\n2020-13-01T00:00Z,1\n", "bad timestamp"},
    {"time,temp\n2020-11-01T00:00Z,1,2\n", "columns"},
    {"time,temp\n2020-11-01T00:00Z,1\n2020-11-01T00:10Z,1\n", "slot length"},
    {"time,temp\n2020-11-01T01:00Z,1\n2020-11-01T00:00Z,1\n", "slot length"},
    {"time,temp\n2020-11-01T00:00Z,1\n2020-11-01T01:00Z,1\n2020-11-01T01:30Z,1\n",
     "grid"},
    {"time,temp\n", "no data"},
    {"{\"hourly\":{\"time\":[\"2020-11-01T00:00\"],\"temperature_2m\":[1,2]}}",
     "values"},
    {"{\"hourly\":{\"time\":[\"x\"],\"temperature_2m\":[1]}}", "timestamp"},
    {"{\"daily\":{}}", "hourly"},
    {"{\"hourly\": [", "line"},
    {"{\"hourly\":{\"time\":[\"2020-11-01T00:00\"],\"t\":[\"warm\"]}}", "not a number"},
    /* unix times and offsets beyond any date: their differences overflowed */
    {"{\"hourly\":{\"time\":[-9223372036854775807,9223372036854775807],"
     "\"temperature_2m\":[1,2]}}",
     "time[0]: out of range"},
    {"{\"hourly\":{\"time\":[1604188800,253402300800],\"temperature_2m\":[1,2]}}",
     "time[1]: out of range"},
    {"{\"utc_offset_seconds\":-9223372036854775807,"
     "\"hourly\":{\"time\":[\"2020-11-01T00:00\"],\"temperature_2m\":[1]}}",
     "utc_offset_seconds -9223372036854775807 out of range"},
};

START_TEST(bad_files_say_why)
{
    fc_wxdata d;
    char err[256] = "";
    fc_wxdata_init(&d);
    ck_assert_int_eq(parse(bad[_i].text, &d, err, sizeof err), -1);
    ck_assert_msg(strstr(err, bad[_i].reason) != NULL, "case %d: '%s' lacks '%s'", _i,
                  err, bad[_i].reason);
    ck_assert_uint_eq(d.n, 0);
    fc_wxdata_release(&d);
}
END_TEST

START_TEST(time_formats)
{
    int64_t t;
    ck_assert_int_eq(fc_wx_parse_time("2020-11-01T00:00", &t), 0);
    ck_assert_int_eq(t, utc(2020, 11, 1, 0, 0));
    ck_assert_int_eq(fc_wx_parse_time("2020-11-01 06:00:00-05:00", &t), 0);
    ck_assert_int_eq(t, utc(2020, 11, 1, 11, 0));
    ck_assert_int_eq(fc_wx_parse_time("2020-11-01T00:00:00Zjunk", &t), -1);
    ck_assert_int_eq(fc_wx_parse_time("yesterday", &t), -1);
    /* fields are two digits, a date is a real one */
    ck_assert_int_eq(fc_wx_parse_time("2020-11-01T-1:30", &t), -1);
    ck_assert_int_eq(fc_wx_parse_time("2020-11-01T10:-5", &t), -1);
    ck_assert_int_eq(fc_wx_parse_time("2020-02-31T00:00", &t), -1);
    ck_assert_int_eq(fc_wx_parse_time("2021-02-29T00:00", &t), -1);
    ck_assert_int_eq(fc_wx_parse_time("2020-02-29T00:00", &t), 0);
    ck_assert_int_eq(fc_wx_parse_time("2020-11-01T00:00:-9", &t), -1);
    ck_assert_int_eq(fc_wx_parse_time("2020-11-01T00:00+1:00", &t), -1);
}
END_TEST

/* Retry delays of the HTTP weather source: doubled per failure, capped. */
static const struct {
    int64_t base, max;
    int failures;
    int64_t want;
} backoff[] = {
    {1000, 300000, 1, 1000},   {1000, 300000, 2, 2000},    {1000, 300000, 3, 4000},
    {1000, 300000, 9, 256000}, {1000, 300000, 10, 300000}, {1000, 300000, 60, 300000},
    {100, 1000, 5, 1000},      {500, 200, 1, 200},
};

/* A file still being written looks cut off: its last line has no line end,
 * or (JSON) its object is not closed yet. */
static const struct {
    const char *text;
    int cut_off;
} ends[] = {
    {"", 1},
    {"  \n", 1},
    {"time,temp\n2020-11-01T00:00Z,8.5\n", 0},
    {"time,temp\n2020-11-01T00:00Z,8.5", 1},
    {"time,temp\n2020-11-01T0", 1},
    {"{\"hourly\": {\"time\": []}}", 0},
    {"{\"hourly\": {\"time\": []}}\n  ", 0},
    {"{\"hourly\": {\"time\": [\n", 1},
    {"{\"hourly\": {\"time\": [\"2021-01-01T00:00\"", 1},
};

START_TEST(cut_off_files)
{
    ck_assert_msg(fc_wxfile_cut_off(ends[_i].text, strlen(ends[_i].text)) ==
                      ends[_i].cut_off,
                  "'%s'", ends[_i].text);
}
END_TEST

/* A file is read once the previous scan saw it with the same size and
 * modification time; one found cut off waits until it changes; a file gone
 * from the directory is forgotten. */
START_TEST(files_are_read_once_they_hold_still)
{
    fc_wxseen *s = fc_wxseen_new();
    ck_assert_ptr_nonnull(s);
    fc_wxseen_begin(s);
    ck_assert_int_eq(fc_wxseen_note(s, "a.csv", 10, 1000), FC_WXSEEN_CHANGED);
    ck_assert_int_eq(fc_wxseen_note(s, "b.csv", 10, 1000), FC_WXSEEN_CHANGED);
    fc_wxseen_end(s);
    /* a grew while being written, b held still */
    fc_wxseen_begin(s);
    ck_assert_int_eq(fc_wxseen_note(s, "a.csv", 20, 1000), FC_WXSEEN_CHANGED);
    ck_assert_int_eq(fc_wxseen_note(s, "b.csv", 10, 1000), FC_WXSEEN_STABLE);
    fc_wxseen_mark_cut_off(s, "b.csv");
    fc_wxseen_end(s);
    /* a was rewritten to the same size: its time says it changed */
    fc_wxseen_begin(s);
    ck_assert_int_eq(fc_wxseen_note(s, "a.csv", 20, 2000), FC_WXSEEN_CHANGED);
    ck_assert_int_eq(fc_wxseen_note(s, "b.csv", 10, 1000), FC_WXSEEN_CUT_OFF);
    fc_wxseen_end(s);
    fc_wxseen_begin(s);
    ck_assert_int_eq(fc_wxseen_note(s, "a.csv", 20, 2000), FC_WXSEEN_STABLE);
    ck_assert_int_eq(fc_wxseen_note(s, "b.csv", 30, 3000), FC_WXSEEN_CHANGED);
    fc_wxseen_end(s);
    /* a was taken (gone for one scan); a new a.csv starts afresh */
    fc_wxseen_begin(s);
    ck_assert_int_eq(fc_wxseen_note(s, "b.csv", 30, 3000), FC_WXSEEN_STABLE);
    fc_wxseen_end(s);
    fc_wxseen_begin(s);
    ck_assert_int_eq(fc_wxseen_note(s, "a.csv", 20, 2000), FC_WXSEEN_CHANGED);
    fc_wxseen_end(s);
    fc_wxseen_destroy(s);
    fc_wxseen_destroy(NULL);
}
END_TEST

START_TEST(http_backoff_doubles_up_to_the_cap)
{
    ck_assert_int_eq(
        fc_wxhttp_backoff(backoff[_i].base, backoff[_i].max, backoff[_i].failures),
        backoff[_i].want);
}
END_TEST

/* ${VAR} and ${VAR:-default} in the configured paths. */
static const struct {
    const char *in, *want;
} expand[] = {
    {"var/forecaster/models", "var/forecaster/models"},
    {"${FCT_SET}/models", "/srv/ems/models"},
    {"${FCT_SET:-var}/models", "/srv/ems/models"},
    {"${FCT_UNSET:-var}/models", "var/models"},
    {"${FCT_EMPTY:-var}/m", "var/m"},
    {"${FCT_UNSET}/m", "/m"},
    {"a${FCT_SET}b${FCT_SET}", "a/srv/emsb/srv/ems"},
    {"$HOME/x", "$HOME/x"},
    {"${unclosed", "${unclosed"},
};

START_TEST(paths_expand_environment)
{
    char out[128];
    setenv("FCT_SET", "/srv/ems", 1);
    setenv("FCT_EMPTY", "", 1);
    unsetenv("FCT_UNSET");
    ck_assert_int_eq(fc_expand_env(expand[_i].in, out, sizeof out), 0);
    ck_assert_str_eq(out, expand[_i].want);
}
END_TEST

START_TEST(paths_that_do_not_fit)
{
    char out[8];
    setenv("FCT_SET", "/srv/ems", 1);
    ck_assert_int_eq(fc_expand_env("${FCT_SET}/models", out, sizeof out), -1);
    ck_assert_int_eq(fc_expand_env("${}/x", out, sizeof out), -1);
    ck_assert_int_eq(fc_expand_env("1234567", out, sizeof out), 0);
    ck_assert_int_eq(fc_expand_env("12345678", out, sizeof out), -1);
}
END_TEST

/* Weather times: issued from 2000 to a day ahead of the clock, slots from
 * 2000 to 35 days after the issue (a mistyped year in one slot would make
 * the site keep only the window before it, dropping every value held). */
static const struct {
    const char *what;
    int64_t issued_off, slot_off; /* from the clock; the slot's from issued */
    const char *want;             /* NULL: accepted */
} wx_times[] = {
    {"a forecast two weeks ahead", -3600, 14 * 86400, NULL},
    {"observations of last year", -3600, -365 * 86400, NULL},
    {"issued a day ahead, 35 days ahead", 86400, 35 * 86400, NULL},
    {"issued a year ahead", 365 * 86400, 0, "issued 31536000 s ahead of the clock"},
    {"a slot 36 days after the issue", 0, 36 * 86400,
     "slot 2 starts 36 days after the issue (at most 35)"},
    {"a mistyped year", 0, 3000LL * 86400,
     "slot 2 starts 3000 days after the issue (at most 35)"},
    {"a slot before 2000", 0, -30LL * 365 * 86400, "slot 2 starts before 2000"},
    {"issued before 2000", -30LL * 365 * 86400, 0, "issued before 2000"},
};

START_TEST(weather_times_are_plausible)
{
    const int64_t now = utc(2026, 11, 23, 5, 0);
    int64_t issued = now + wx_times[_i].issued_off;
    int64_t t[2] = {issued - 86400, issued + wx_times[_i].slot_off};
    fc_wxdata d;
    char err[160] = "";
    fc_wxdata_init(&d);
    d.t = t;
    d.n = 2;
    int rc = fc_wxdata_check_times(&d, issued, now, err, sizeof err);
    if (!wx_times[_i].want)
        ck_assert_msg(rc == 0, "%s: %s", wx_times[_i].what, err);
    else {
        ck_assert_msg(rc == -1, "%s: accepted", wx_times[_i].what);
        ck_assert_str_eq(err, wx_times[_i].want);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("forecaster_wxfile");
    TCase *tc = tcase_create("wxfile");
    tcase_add_test(tc, csv_with_temperature_and_variables);
    tcase_add_test(tc, open_meteo_json);
    tcase_add_loop_test(tc, bad_files_say_why, 0, sizeof bad / sizeof *bad);
    tcase_add_test(tc, time_formats);
    tcase_add_loop_test(tc, weather_times_are_plausible, 0,
                        sizeof wx_times / sizeof *wx_times);
    tcase_add_loop_test(tc, cut_off_files, 0, sizeof ends / sizeof *ends);
    tcase_add_test(tc, files_are_read_once_they_hold_still);
    tcase_add_loop_test(tc, paths_expand_environment, 0,
                        sizeof expand / sizeof *expand);
    tcase_add_test(tc, paths_that_do_not_fit);
    tcase_add_loop_test(tc, http_backoff_doubles_up_to_the_cap, 0,
                        sizeof backoff / sizeof *backoff);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
