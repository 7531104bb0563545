/*
 * Unit tests for libs/dataset: the time helpers, the OpenSTEF line parser
 * (table-driven), and both readers on the real files in tests/data/.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset/dataset.h"
#include "support/harness.h"

#define NL_DIR "tests/data/openstef_nl_neerijnen"
#define ON_DIR "tests/data/ontario_2016"
#define NL_HEADER                                                                      \
    ",load,day_ahead_electricity_price,clouds,radiation,temp,winddeg,windspeed,"       \
    "windspeed_100m,pressure,humidity,rain,mxlD\n"

/* Data paths are relative to the repository root; EMS_TEST_ROOT overrides. */
static const char *data_path(const char *rel, char *buf, size_t size)
{
    const char *root = getenv("EMS_TEST_ROOT");
    snprintf(buf, size, "%s/%s", root && *root ? root : ".", rel);
    return buf;
}

/* ---- time ---- */

static const struct {
    const char *text;
    int ok;
    int64_t ms;
} iso_cases[] = {
    {"1970-01-01 00:00:00+00:00", 1, 0},
    {"2020-08-15 00:00:00+00:00", 1, 1597449600000},
    {"2020-08-15T00:15:00Z", 1, 1597450500000},
    {"2020-08-15 02:00:00+02:00", 1, 1597449600000},
    {"2020-08-14 19:00-05:00", 1, 1597449600000},
    {"2020-08-15 00:00:00.250", 1, 1597449600250},
    {"2020-02-29 00:00:00+00:00", 1, 1582934400000},
    {"2019-02-29 00:00:00+00:00", 0, 0},
    {"2020-13-01 00:00:00+00:00", 0, 0},
    {"2020-08-15 24:00:00+00:00", 0, 0},
    {"2020-08-15 00:00:00+00:00x", 0, 0},
    {"2020-08-15", 0, 0},
    {"", 0, 0},
    {"15/08/2020 00:00", 0, 0},
};

START_TEST(test_iso8601)
{
    int64_t ms = -1;
    int rc = dataset_parse_iso8601(iso_cases[_i].text, &ms);
    ck_assert_msg((rc == 0) == iso_cases[_i].ok, "case '%s'", iso_cases[_i].text);
    if (iso_cases[_i].ok)
        ck_assert_int_eq(ms, iso_cases[_i].ms);
}
END_TEST

START_TEST(test_parse_date)
{
    int64_t ms;
    ck_assert_int_eq(dataset_parse_date("2020-11-01", &ms), 0);
    ck_assert_int_eq(ms, 1604188800000);
    ck_assert_int_eq(dataset_parse_date("2020-11-01 00:00", &ms), -1);
    ck_assert_int_eq(dataset_parse_date("2020-11-31", &ms), -1);
}
END_TEST

/* ---- OpenSTEF parser ---- */

static const struct {
    const char *line;
    int ok;
    double load, price, temp;
    const char *err; /* substring of the error */
} nl_cases[] = {
    {"2020-08-15 00:00:00+00:00,7.126666667,31.77,98.87,4.95E-11,18.79,168.2,1.03,"
     "3.91,101417.7,0.97,0,89.6\n",
     1, 7.126666667, 31.77, 18.79, NULL},
    {"2020-10-01 12:00:00+00:00,-16.17,-10.0,98.87,0,11.5,168.2,1.03,3.91,101417.7,"
     "0.97,0,89.6\r\n",
     1, -16.17, -10.0, 11.5, NULL},
    {"2020-08-15 00:00:00+00:00,,31.77,98.87,0,18.79,168.2,1.03,3.91,101417.7,0.97,0,"
     "89.6",
     0, 0, 0, 0, "'load'"},
    {"2020-08-15 00:00:00+00:00,1,abc,98.87,0,18.79,168.2,1.03,3.91,101417.7,0.97,0,"
     "89.6",
     0, 0, 0, 0, "day_ahead_electricity_price"},
    {"2020-08-15 00:00:00+00:00,1,2,3", 0, 0, 0, 0, "columns"},
    {"yesterday,1,2,3,4,5,6,7,8,9,10,11,12", 0, 0, 0, 0, "timestamp"},
    {"2020-08-15 00:00:00+00:00,nan,2,3,4,5,6,7,8,9,10,11,12", 0, 0, 0, 0, "finite"},
};

START_TEST(test_nl_line)
{
    char header[] = NL_HEADER, line[512], err[256] = "";
    dataset_nl_cols_t cols;
    dataset_nl_row_t row;
    ck_assert_int_eq(dataset_nl_parse_header(header, &cols, err, sizeof err), 0);
    snprintf(line, sizeof line, "%s", nl_cases[_i].line);
    int rc = dataset_nl_parse_line(&cols, line, &row, err, sizeof err);
    ck_assert_msg((rc == 0) == nl_cases[_i].ok, "case %d: %s", _i, err);
    if (nl_cases[_i].ok) {
        ck_assert_double_eq_tol(row.load_mw, nl_cases[_i].load, 1e-12);
        ck_assert_double_eq_tol(row.price_eur_mwh, nl_cases[_i].price, 1e-12);
        ck_assert_double_eq_tol(row.temp_c, nl_cases[_i].temp, 1e-12);
    } else {
        ck_assert_msg(strstr(err, nl_cases[_i].err), "case %d: '%s'", _i, err);
    }
}
END_TEST

START_TEST(test_nl_header)
{
    char err[256];
    dataset_nl_cols_t cols;
    char named[] = "time,load\n", noload[] = ",price,temp\n";
    char minimal[] = ",temp,load\n", row[] = "2020-01-01 00:00:00+00:00,4.5,-1\n";
    ck_assert_int_eq(dataset_nl_parse_header(named, &cols, err, sizeof err), -1);
    ck_assert_int_eq(dataset_nl_parse_header(noload, &cols, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "load"));
    /* columns are found by name; absent ones come out NAN */
    ck_assert_int_eq(dataset_nl_parse_header(minimal, &cols, err, sizeof err), 0);
    dataset_nl_row_t r;
    ck_assert_int_eq(dataset_nl_parse_line(&cols, row, &r, err, sizeof err), 0);
    ck_assert_double_eq(r.load_mw, -1);
    ck_assert_double_eq(r.temp_c, 4.5);
    ck_assert(isnan(r.price_eur_mwh));
}
END_TEST

/* ---- OpenSTEF files ---- */

static const struct {
    const char *file;
    size_t rows;
    const char *first, *last;
} nl_files[] = {
    {"307-train-data.csv", 7394, "2020-08-15 00:00:00+00:00",
     "2020-10-31 00:45:00+00:00"},
    {"307-test-data.csv", 2878, "2020-10-31 00:45:00+00:00",
     "2020-11-30 00:00:00+00:00"},
};

START_TEST(test_nl_file)
{
    char path[1024], rel[256], err[512] = "";
    int64_t first, last;
    snprintf(rel, sizeof rel, NL_DIR "/%s", nl_files[_i].file);
    dataset_nl_t *ds =
        dataset_nl_open(data_path(rel, path, sizeof path), err, sizeof err);
    ck_assert_msg(ds != NULL, "%s", err);
    dataset_nl_row_t r, r0 = {0};
    size_t n = 0;
    int rc;
    while ((rc = dataset_nl_next(ds, &r, err, sizeof err)) == 1) {
        if (n++ == 0)
            r0 = r;
        ck_assert(isfinite(r.price_eur_mwh) && isfinite(r.temp_c));
    }
    ck_assert_msg(rc == 0, "%s", err);
    dataset_nl_destroy(ds);
    ck_assert_uint_eq(n, nl_files[_i].rows);
    ck_assert_int_eq(dataset_parse_iso8601(nl_files[_i].first, &first), 0);
    ck_assert_int_eq(dataset_parse_iso8601(nl_files[_i].last, &last), 0);
    ck_assert_int_eq(r0.ts_ms, first);
    ck_assert_int_eq(r.ts_ms, last);
}
END_TEST

START_TEST(test_nl_first_row_values)
{
    char path[1024], err[512] = "";
    dataset_nl_t *ds = dataset_nl_open(
        data_path(NL_DIR "/307-train-data.csv", path, sizeof path), err, sizeof err);
    ck_assert_msg(ds != NULL, "%s", err);
    dataset_nl_row_t r;
    ck_assert_int_eq(dataset_nl_next(ds, &r, err, sizeof err), 1);
    ck_assert_double_eq_tol(r.load_mw, 7.126666667, 1e-9);
    ck_assert_double_eq_tol(r.price_eur_mwh, 31.77, 1e-9);
    ck_assert_double_eq_tol(r.temp_c, 18.79547119, 1e-9);
    ck_assert_double_eq_tol(r.pressure_pa, 101417.7891, 1e-6);
    ck_assert_double_eq_tol(r.humidity, 0.969513774, 1e-9);
    dataset_nl_destroy(ds);
}
END_TEST

START_TEST(test_nl_load_merged)
{
    char p1[1024], p2[1024], err[512] = "";
    const char *paths[] = {data_path(NL_DIR "/307-train-data.csv", p1, sizeof p1),
                           data_path(NL_DIR "/307-test-data.csv", p2, sizeof p2)};
    dataset_nl_row_t *rows;
    size_t n, neg = 0;
    ck_assert_msg(dataset_nl_load(paths, 2, 0, 0, &rows, &n, err, sizeof err) == 0,
                  "%s", err);
    /* the shared quarter-hour 2020-10-31 00:45 is kept once */
    ck_assert_uint_eq(n, 7394 + 2878 - 1);
    for (size_t i = 1; i < n; i++) {
        ck_assert_int_gt(rows[i].ts_ms, rows[i - 1].ts_ms);
        neg += rows[i].load_mw < 0;
    }
    ck_assert_uint_gt(neg, 0); /* net feed-in rows exist and are kept */
    free(rows);

    /* November 2020 only: 29 full days plus 2020-11-30 00:00 */
    int64_t from, to;
    ck_assert_int_eq(dataset_parse_date("2020-11-01", &from), 0);
    ck_assert_int_eq(dataset_parse_date("2020-12-01", &to), 0);
    ck_assert_int_eq(dataset_nl_load(paths, 2, from, to, &rows, &n, err, sizeof err),
                     0);
    ck_assert_uint_eq(n, 29 * 96 + 1);
    ck_assert_int_eq(rows[0].ts_ms, from);
    free(rows);
}
END_TEST

START_TEST(test_nl_missing_file)
{
    char err[512] = "";
    ck_assert_ptr_null(dataset_nl_open("/nonexistent/x.csv", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x.csv"));
}
END_TEST

START_TEST(test_nl_day_prices)
{
    char p1[1024], err[512] = "";
    const char *paths[] = {data_path(NL_DIR "/307-train-data.csv", p1, sizeof p1)};
    dataset_nl_row_t *rows;
    size_t n;
    double prices[DATASET_DAY_SLOTS];
    int64_t day;
    ck_assert_msg(dataset_nl_load(paths, 1, 0, 0, &rows, &n, err, sizeof err) == 0,
                  "%s", err);
    /* a complete day: the first price is the first row's */
    ck_assert_int_eq(dataset_parse_date("2020-08-15", &day), 0);
    ck_assert_int_eq(dataset_nl_day_prices(rows, n, day, prices), 96);
    ck_assert_double_eq_tol(prices[0], 31.77, 1e-9);
    /* 2020-10-24 lacks 23:45: filled from the same hour */
    ck_assert_int_eq(dataset_parse_date("2020-10-24", &day), 0);
    ck_assert_int_eq(dataset_nl_day_prices(rows, n, day, prices), 95);
    ck_assert_double_eq(prices[95], prices[92]);
    /* 2020-10-31 has only 00:00..00:45 in the train file */
    ck_assert_int_eq(dataset_parse_date("2020-10-31", &day), 0);
    ck_assert_int_eq(dataset_nl_day_prices(rows, n, day, prices), -1);
    /* outside the data */
    ck_assert_int_eq(dataset_parse_date("2021-01-01", &day), 0);
    ck_assert_int_eq(dataset_nl_day_prices(rows, n, day, prices), -1);
    free(rows);
}
END_TEST

static const struct {
    double kw;
    int64_t dt_ms;
    double kwh;
} import_cases[] = {
    {7126.67, 900000, 1781.6675},
    {1000, 3600000, 1000},
    {-5000, 900000, 0},
    {0, 900000, 0},
    {1000, 0, 0},
    {1000, -900000, 0},
    {NAN, 900000, 0},
};

START_TEST(test_import_kwh)
{
    ck_assert_double_eq_tol(
        dataset_import_kwh(import_cases[_i].kw, import_cases[_i].dt_ms),
        import_cases[_i].kwh, 1e-9);
}
END_TEST

/* ---- Ontario ---- */

static const struct {
    const char *date, *hour;
    int ok;
    int64_t ms;
} on_keys[] = {
    {"01/01/2016", "1", 1, 1451624400000},  /* 2016-01-01 05:00 UTC */
    {"31/12/2016", "24", 1, 1483243200000}, /* 2017-01-01 04:00 UTC */
    {"29/02/2016", "12", 1, 1456761600000},
    {"30/02/2016", "1", 0, 0},
    {"01/13/2016", "1", 0, 0},
    {"01/01/2016", "0", 0, 0},
    {"01/01/2016", "25", 0, 0},
    {"2016-01-01", "1", 0, 0},
    {"01/01/2016", "1x", 0, 0},
};

START_TEST(test_ontario_key)
{
    dataset_ontario_row_t r;
    int rc = dataset_ontario_parse_key(on_keys[_i].date, on_keys[_i].hour, &r);
    ck_assert_msg((rc == 0) == on_keys[_i].ok, "case %s %s", on_keys[_i].date,
                  on_keys[_i].hour);
    if (on_keys[_i].ok)
        ck_assert_int_eq(r.ts_ms, on_keys[_i].ms);
}
END_TEST

START_TEST(test_ontario_files)
{
    char dir[1024], err[512] = "";
    dataset_ontario_t *ds =
        dataset_ontario_open(data_path(ON_DIR, dir, sizeof dir), err, sizeof err);
    ck_assert_msg(ds != NULL, "%s", err);
    ck_assert_uint_eq(dataset_ontario_count(ds), 8784);
    size_t nan_temp = 0, nan_price = 0;
    for (size_t i = 0; i < dataset_ontario_count(ds); i++) {
        const dataset_ontario_row_t *r = dataset_ontario_row(ds, i);
        if (i > 0)
            ck_assert_int_eq(r->ts_ms - dataset_ontario_row(ds, i - 1)->ts_ms, 3600000);
        ck_assert(r->demand_mw >= 10461 && r->demand_mw <= 23213);
        nan_temp += isnan(r->temp_c);
        nan_price += isnan(r->price_cad_mwh);
    }
    ck_assert_uint_eq(nan_temp, 51);
    ck_assert_uint_eq(nan_price, 0);
    const dataset_ontario_row_t *r0 = dataset_ontario_row(ds, 0);
    ck_assert_double_eq(r0->demand_mw, 13417);
    ck_assert_double_eq_tol(r0->price_cad_mwh, -1.09, 1e-9); /* -0.00109 CAD/kWh */
    ck_assert_double_eq_tol(r0->temp_c, 0.8, 1e-12);
    ck_assert_int_eq(r0->hour, 1);
    ck_assert_ptr_null(dataset_ontario_row(ds, 8784));
    dataset_ontario_destroy(ds);
}
END_TEST

START_TEST(test_ontario_missing_dir)
{
    char err[512] = "";
    ck_assert_ptr_null(dataset_ontario_open("/nonexistent", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "load2016.csv"));
    dataset_ontario_destroy(NULL);
    dataset_nl_destroy(NULL);
}
END_TEST

static Suite *dataset_suite(void)
{
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("time");
    tcase_add_loop_test(tc, test_iso8601, 0, sizeof iso_cases / sizeof iso_cases[0]);
    tcase_add_test(tc, test_parse_date);
    suite_add_tcase(s, tc);
    tc = tcase_create("openstef");
    tcase_add_loop_test(tc, test_nl_line, 0, sizeof nl_cases / sizeof nl_cases[0]);
    tcase_add_test(tc, test_nl_header);
    tcase_add_loop_test(tc, test_nl_file, 0, sizeof nl_files / sizeof nl_files[0]);
    tcase_add_test(tc, test_nl_first_row_values);
    tcase_add_test(tc, test_nl_load_merged);
    tcase_add_test(tc, test_nl_missing_file);
    tcase_add_test(tc, test_nl_day_prices);
    tcase_add_loop_test(tc, test_import_kwh, 0,
                        sizeof import_cases / sizeof import_cases[0]);
    suite_add_tcase(s, tc);
    tc = tcase_create("ontario");
    tcase_add_loop_test(tc, test_ontario_key, 0, sizeof on_keys / sizeof on_keys[0]);
    tcase_add_test(tc, test_ontario_files);
    tcase_add_test(tc, test_ontario_missing_dir);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(dataset_suite(), 0);
}
