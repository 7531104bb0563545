/* Unit tests for bus/field: one record field by name, on the topic schemas
 * schemas/energy.load.avsc (string, enum, long, double, int and both
 * ["null", T] unions) and schemas/energy.gaps.avsc (boolean). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/field.h"
#include "support/harness.h"

static avro_schema_t load_schema, gaps_schema;
static avro_value_iface_t *load_iface, *gaps_iface;
static avro_value_t load, gaps;

static avro_schema_t read_schema(const char *name)
{
    const char *root = getenv("EMS_TEST_ROOT");
    char path[4096], json[8192];
    avro_schema_t s = NULL;
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "%s/schemas/%s", root ? root : ".", name);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    n = fread(json, 1, sizeof(json) - 1, f);
    json[n] = '\0';
    fclose(f);
    ck_assert_msg(avro_schema_from_json_length(json, n, &s) == 0, "%s: %s", path,
                  avro_strerror());
    return s;
}

static void setup(void)
{
    load_schema = read_schema("energy.load.avsc");
    gaps_schema = read_schema("energy.gaps.avsc");
    load_iface = avro_generic_class_from_schema(load_schema);
    gaps_iface = avro_generic_class_from_schema(gaps_schema);
    ck_assert_int_eq(avro_generic_value_new(load_iface, &load), 0);
    ck_assert_int_eq(avro_generic_value_new(gaps_iface, &gaps), 0);
}

static void teardown(void)
{
    avro_value_decref(&load);
    avro_value_decref(&gaps);
    avro_value_iface_decref(load_iface);
    avro_value_iface_decref(gaps_iface);
    avro_schema_decref(load_schema);
    avro_schema_decref(gaps_schema);
}

/* The raw field, read with avro-c directly (independent of the module). */
static avro_value_t raw(avro_value_t *rec, const char *name)
{
    avro_value_t f;
    ck_assert_int_eq(avro_value_get_by_name(rec, name, &f, NULL), 0);
    return f;
}

START_TEST(test_scalar_setters_write_the_field)
{
    avro_value_t f;
    const char *s = NULL;
    int64_t l = 0;
    int32_t i = 0;
    double d = 0;
    int e = -1, b = -1;

    ck_assert_int_eq(bus_field_set_string(&load, "site_id", "plant-7"), 0);
    ck_assert_int_eq(bus_field_set_long(&load, "interval_start", 1700000000123LL), 0);
    ck_assert_int_eq(bus_field_set_int(&load, "revision", -42), 0);
    ck_assert_int_eq(bus_field_set_double(&load, "mean_kw", 812.25), 0);
    ck_assert_int_eq(bus_field_set_enum(&load, "scope", 1), 0);
    ck_assert_int_eq(bus_field_set_bool(&gaps, "ongoing", true), 0);

    f = raw(&load, "site_id");
    ck_assert_int_eq(avro_value_get_string(&f, &s, NULL), 0);
    ck_assert_str_eq(s, "plant-7");
    f = raw(&load, "interval_start");
    ck_assert_int_eq(avro_value_get_long(&f, &l), 0);
    ck_assert_int_eq(l, 1700000000123LL);
    f = raw(&load, "revision");
    ck_assert_int_eq(avro_value_get_int(&f, &i), 0);
    ck_assert_int_eq(i, -42);
    f = raw(&load, "mean_kw");
    ck_assert_int_eq(avro_value_get_double(&f, &d), 0);
    ck_assert_double_eq(d, 812.25);
    f = raw(&load, "scope");
    ck_assert_int_eq(avro_value_get_enum(&f, &e), 0);
    ck_assert_int_eq(e, 1);
    f = raw(&gaps, "ongoing");
    ck_assert_int_eq(avro_value_get_boolean(&f, &b), 0);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(bus_field_set_bool(&gaps, "ongoing", false), 0);
    ck_assert_int_eq(avro_value_get_boolean(&f, &b), 0);
    ck_assert_int_eq(b, 0);
}
END_TEST

START_TEST(test_scalar_getters_read_the_field)
{
    avro_value_t f = raw(&load, "interval_end");
    int64_t l = 0;
    int i = 0, e = -1;
    double d = 0;

    ck_assert_int_eq(avro_value_set_long(&f, -5), 0);
    f = raw(&load, "sample_count");
    ck_assert_int_eq(avro_value_set_int(&f, 2147483647), 0);
    f = raw(&load, "peak_kw");
    ck_assert_int_eq(avro_value_set_double(&f, -0.5), 0);
    f = raw(&load, "scope");
    ck_assert_int_eq(avro_value_set_enum(&f, 1), 0);

    ck_assert_int_eq(bus_field_get_long(&load, "interval_end", &l), 0);
    ck_assert_int_eq(l, -5);
    ck_assert_int_eq(bus_field_get_int(&load, "sample_count", &i), 0);
    ck_assert_int_eq(i, 2147483647);
    ck_assert_int_eq(bus_field_get_double(&load, "peak_kw", &d), 0);
    ck_assert_double_eq(d, -0.5);
    ck_assert_int_eq(bus_field_get_enum(&load, "scope", &e), 0);
    ck_assert_int_eq(e, 1);
}
END_TEST

START_TEST(test_opt_double_null_and_value)
{
    avro_value_t f = raw(&load, "min_kw"), b;
    bool has = true;
    double x = 7;
    int d = -1;

    ck_assert_int_eq(bus_field_set_opt_double(&load, "min_kw", false, 99), 0);
    ck_assert_int_eq(avro_value_get_discriminant(&f, &d), 0);
    ck_assert_int_eq(d, 0);
    ck_assert_int_eq(bus_field_get_opt_double(&load, "min_kw", &has, &x), 0);
    ck_assert(!has);
    ck_assert_double_eq(x, 7); /* untouched for null */

    ck_assert_int_eq(bus_field_set_opt_double(&load, "min_kw", true, 12.5), 0);
    ck_assert_int_eq(avro_value_get_discriminant(&f, &d), 0);
    ck_assert_int_eq(d, 1);
    ck_assert_int_eq(avro_value_get_current_branch(&f, &b), 0);
    ck_assert_int_eq(avro_value_get_double(&b, &x), 0);
    ck_assert_double_eq(x, 12.5);
    x = 0;
    ck_assert_int_eq(bus_field_get_opt_double(&load, "min_kw", &has, &x), 0);
    ck_assert(has);
    ck_assert_double_eq(x, 12.5);
}
END_TEST

START_TEST(test_opt_string_null_and_value)
{
    avro_value_t f = raw(&load, "meter_id"), b;
    const char *s = NULL;
    int d = -1;

    ck_assert_int_eq(bus_field_set_opt_string(&load, "meter_id", "m-01"), 0);
    ck_assert_int_eq(avro_value_get_discriminant(&f, &d), 0);
    ck_assert_int_eq(d, 1);
    ck_assert_int_eq(avro_value_get_current_branch(&f, &b), 0);
    ck_assert_int_eq(avro_value_get_string(&b, &s, NULL), 0);
    ck_assert_str_eq(s, "m-01");

    ck_assert_int_eq(bus_field_set_opt_string(&load, "meter_id", NULL), 0);
    ck_assert_int_eq(avro_value_get_discriminant(&f, &d), 0);
    ck_assert_int_eq(d, 0);
    ck_assert_int_eq(avro_value_get_current_branch(&f, &b), 0);
    ck_assert_int_eq(avro_value_get_type(&b), AVRO_NULL);
}
END_TEST

/* get_string: exact fit, one byte short, empty string, zero-size buffer. */
static const struct {
    const char *value;
    size_t size;
    int rc;
    const char *want;
} str_cases[] = {
    {"abcdef", 7, 0, "abcdef"},
    {"abcdef", 6, -1, "abcde"},
    {"abcdef", 2, -1, "a"},
    {"abcdef", 1, -1, ""},
    {"", 1, 0, ""},
    {"abcdef", 64, 0, "abcdef"},
};

START_TEST(test_get_string_truncation)
{
    char buf[64];

    ck_assert_int_eq(bus_field_set_string(&load, "site_id", str_cases[_i].value), 0);
    memset(buf, 'x', sizeof buf);
    ck_assert_int_eq(bus_field_get_string(&load, "site_id", buf, str_cases[_i].size),
                     str_cases[_i].rc);
    ck_assert_str_eq(buf, str_cases[_i].want);
}
END_TEST

START_TEST(test_get_string_zero_size_writes_nothing)
{
    char buf[4] = "zzz";

    ck_assert_int_eq(bus_field_set_string(&load, "site_id", "a"), 0);
    ck_assert_int_eq(bus_field_get_string(&load, "site_id", buf, 0), -1);
    ck_assert_str_eq(buf, "zzz");
}
END_TEST

/* Every function on an unknown name and on a field of another type. */
enum op {
    SET_STRING,
    SET_LONG,
    SET_INT,
    SET_DOUBLE,
    SET_ENUM,
    SET_BOOL,
    SET_OPT_DOUBLE,
    SET_OPT_NULL,
    SET_OPT_STRING,
    GET_LONG,
    GET_INT,
    GET_DOUBLE,
    GET_ENUM,
    GET_STRING,
    GET_OPT_DOUBLE,
};

static const struct {
    enum op op;
    const char *field;
} bad_cases[] = {
    {SET_STRING, "no_such_field"},
    {SET_STRING, "revision"},
    {SET_STRING, "meter_id"}, /* a union, not a string */
    {SET_LONG, "no_such_field"},
    {SET_LONG, "revision"},
    {SET_LONG, "site_id"},
    {SET_INT, "no_such_field"},
    {SET_INT, "interval_start"},
    {SET_DOUBLE, "no_such_field"},
    {SET_DOUBLE, "revision"},
    {SET_DOUBLE, "min_kw"},
    {SET_ENUM, "no_such_field"},
    {SET_ENUM, "mean_kw"},
    {SET_BOOL, "no_such_field"},
    {SET_BOOL, "revision"},
    {SET_OPT_DOUBLE, "no_such_field"},
    {SET_OPT_DOUBLE, "mean_kw"},
    {SET_OPT_DOUBLE, "meter_id"}, /* ["null","string"] */
    {SET_OPT_NULL, "no_such_field"},
    {SET_OPT_NULL, "mean_kw"},
    {SET_OPT_STRING, "no_such_field"},
    {SET_OPT_STRING, "site_id"},
    {SET_OPT_STRING, "min_kw"}, /* ["null","double"] */
    {GET_LONG, "no_such_field"},
    {GET_LONG, "revision"},
    {GET_INT, "no_such_field"},
    {GET_INT, "interval_start"},
    {GET_DOUBLE, "no_such_field"},
    {GET_DOUBLE, "min_kw"},
    {GET_ENUM, "no_such_field"},
    {GET_ENUM, "site_id"},
    {GET_STRING, "no_such_field"},
    {GET_STRING, "meter_id"},
    {GET_STRING, "revision"},
    {GET_OPT_DOUBLE, "no_such_field"},
    {GET_OPT_DOUBLE, "mean_kw"},
    {GET_OPT_DOUBLE, "meter_id"},
};

static int run_bad(enum op op, const char *name, int64_t *l, int *i, double *d, char *s,
                   bool *has)
{
    switch (op) {
    case SET_STRING:
        return bus_field_set_string(&load, name, "x");
    case SET_LONG:
        return bus_field_set_long(&load, name, 1);
    case SET_INT:
        return bus_field_set_int(&load, name, 1);
    case SET_DOUBLE:
        return bus_field_set_double(&load, name, 1.5);
    case SET_ENUM:
        return bus_field_set_enum(&load, name, 0);
    case SET_BOOL:
        return bus_field_set_bool(&load, name, true);
    case SET_OPT_DOUBLE:
        return bus_field_set_opt_double(&load, name, true, 1.5);
    case SET_OPT_NULL:
        return bus_field_set_opt_double(&load, name, false, 0);
    case SET_OPT_STRING:
        return bus_field_set_opt_string(&load, name, "x");
    case GET_LONG:
        return bus_field_get_long(&load, name, l);
    case GET_INT:
        return bus_field_get_int(&load, name, i);
    case GET_DOUBLE:
        return bus_field_get_double(&load, name, d);
    case GET_ENUM:
        return bus_field_get_enum(&load, name, i);
    case GET_STRING:
        return bus_field_get_string(&load, name, s, 16);
    case GET_OPT_DOUBLE:
        return bus_field_get_opt_double(&load, name, has, d);
    }
    return 0;
}

START_TEST(test_bad_name_or_type_is_minus_one)
{
    int64_t l = 77;
    int i = 77;
    double d = 77;
    char s[16] = "keep";
    bool has = true;

    /* A set union so the getters reach the branch check. */
    ck_assert_int_eq(bus_field_set_opt_string(&load, "meter_id", "m"), 0);
    ck_assert_int_eq(bus_field_set_opt_double(&load, "min_kw", true, 3), 0);
    ck_assert_msg(run_bad(bad_cases[_i].op, bad_cases[_i].field, &l, &i, &d, s, &has) ==
                      -1,
                  "op %d on '%s' did not fail", bad_cases[_i].op, bad_cases[_i].field);
    ck_assert_int_eq(l, 77);
    ck_assert_int_eq(i, 77);
    ck_assert_double_eq(d, 77);
    ck_assert_str_eq(s, "keep");
    ck_assert(has);
}
END_TEST

static Suite *field_suite(void)
{
    Suite *s = suite_create("bus_field");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_scalar_setters_write_the_field);
    tcase_add_test(tc, test_scalar_getters_read_the_field);
    tcase_add_test(tc, test_opt_double_null_and_value);
    tcase_add_test(tc, test_opt_string_null_and_value);
    tcase_add_loop_test(tc, test_get_string_truncation, 0,
                        sizeof(str_cases) / sizeof(str_cases[0]));
    tcase_add_test(tc, test_get_string_zero_size_writes_nothing);
    tcase_add_loop_test(tc, test_bad_name_or_type_is_minus_one, 0,
                        sizeof(bad_cases) / sizeof(bad_cases[0]));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(field_suite(), 0);
}
