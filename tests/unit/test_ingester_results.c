/*
 * Unit tests of ing_results' Avro-to-JSON conversion (the document the
 * result statements read): every Avro type the result schemas use, and
 * non-finite doubles as the strings PostgreSQL reads back as float8.
 */
#include <avro.h>
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ingester/ing_results.h"
#include "support/harness.h"

static const char *schema_json =
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
    "{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"i\",\"type\":\"int\"},"
    "{\"name\":\"l\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}"
    ","
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"u\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"x\","
    "\"y\"]}},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"double\"}},"
    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
    "\"name\":\"S\",\"fields\":[{\"name\":\"v\",\"type\":\"double\"}]}}},"
    "{\"name\":\"y\",\"type\":\"bytes\"}]}";

typedef struct {
    double d;       /* the double field */
    int null_union; /* u left null */
    const char *want;
} json_case_t;

static const json_case_t cases[] = {
    {1.5, 0,
     "{\"s\": \"site-a\", \"i\": -3, \"l\": 1604300400123, \"d\": 1.5, \"b\": true, "
     "\"u\": \"text\", \"e\": \"y\", \"m\": {\"k\": 2.25}, \"a\": [{\"v\": 0.5}, "
     "{\"v\": 1.5}], \"y\": \"00ff\"}"},
    {NAN, 1,
     "{\"s\": \"site-a\", \"i\": -3, \"l\": 1604300400123, \"d\": \"NaN\", \"b\": "
     "true, "
     "\"u\": null, \"e\": \"y\", \"m\": {\"k\": 2.25}, \"a\": [{\"v\": 0.5}, "
     "{\"v\": 1.5}], \"y\": \"00ff\"}"},
    {-INFINITY, 1, NULL /* checked below */},
};

static void fill(avro_value_t *v, const json_case_t *c)
{
    avro_value_t f, b, el;
    const unsigned char bytes[] = {0x00, 0xff};

    ck_assert_int_eq(avro_value_get_by_name(v, "s", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_string(&f, "site-a"), 0);
    ck_assert_int_eq(avro_value_get_by_name(v, "i", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_int(&f, -3), 0);
    ck_assert_int_eq(avro_value_get_by_name(v, "l", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_long(&f, 1604300400123LL), 0);
    ck_assert_int_eq(avro_value_get_by_name(v, "d", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_double(&f, c->d), 0);
    ck_assert_int_eq(avro_value_get_by_name(v, "b", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_boolean(&f, 1), 0);
    ck_assert_int_eq(avro_value_get_by_name(v, "u", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_branch(&f, c->null_union ? 0 : 1, &b), 0);
    if (c->null_union)
        ck_assert_int_eq(avro_value_set_null(&b), 0);
    else
        ck_assert_int_eq(avro_value_set_string(&b, "text"), 0);
    ck_assert_int_eq(avro_value_get_by_name(v, "e", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_enum(&f, 1), 0);
    ck_assert_int_eq(avro_value_get_by_name(v, "m", &f, NULL), 0);
    ck_assert_int_eq(avro_value_add(&f, "k", &el, NULL, NULL), 0);
    ck_assert_int_eq(avro_value_set_double(&el, 2.25), 0);
    ck_assert_int_eq(avro_value_get_by_name(v, "a", &f, NULL), 0);
    for (int i = 0; i < 2; i++) {
        avro_value_t item, x;
        ck_assert_int_eq(avro_value_append(&f, &item, NULL), 0);
        ck_assert_int_eq(avro_value_get_by_name(&item, "v", &x, NULL), 0);
        ck_assert_int_eq(avro_value_set_double(&x, 0.5 + i), 0);
    }
    ck_assert_int_eq(avro_value_get_by_name(v, "y", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_bytes(&f, (void *)bytes, sizeof bytes), 0);
}

START_TEST(test_json_from_avro)
{
    const json_case_t *c = &cases[_i];
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t v;
    json_t *j;

    ck_assert_int_eq(
        avro_schema_from_json_length(schema_json, strlen(schema_json), &schema), 0);
    iface = avro_generic_class_from_schema(schema);
    ck_assert_int_eq(avro_generic_value_new(iface, &v), 0);
    fill(&v, c);
    j = ing_json_from_avro(&v);
    ck_assert_ptr_nonnull(j);
    if (c->want) {
        char *got = json_dumps(j, JSON_PRESERVE_ORDER);
        ck_assert_str_eq(got, c->want);
        free(got);
    } else {
        ck_assert_str_eq(json_string_value(json_object_get(j, "d")), "-Infinity");
    }
    json_decref(j);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
}
END_TEST

START_TEST(test_result_topics)
{
    /* the ingester subscribes to exactly the seven result topics */
    static const char *const want[] = {"energy.forecast",        "energy.prices",
                                       "energy.purchases",       "energy.schedule",
                                       "energy.recommendations", "energy.alerts",
                                       "energy.reports"};
    ck_assert_int_eq(ING_RESULTS_NTOPICS, 7);
    for (int i = 0; i < ING_RESULTS_NTOPICS; i++)
        ck_assert_str_eq(ing_results_topics[i], want[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ingester_results");
    TCase *tc = tcase_create("json");
    tcase_add_loop_test(tc, test_json_from_avro, 0, sizeof cases / sizeof cases[0]);
    tcase_add_test(tc, test_result_topics);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
