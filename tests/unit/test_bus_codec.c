/* Unit tests for bus/codec: Avro encode/decode in the wire format, with
 * writer-to-reader schema resolution. Uses tests/data/schemas/bus_test.*. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/codec.h"
#include "bus/wire.h"
#include "support/harness.h"

static avro_schema_t v1, v2;
static char v1_json[8192], v2_json[8192];

static avro_schema_t load_schema(const char *name, char *buf)
{
    const char *root = getenv("EMS_TEST_ROOT");
    char path[4096];
    avro_schema_t s = NULL;
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "%s/tests/data/schemas/%s", root ? root : ".", name);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    n = fread(buf, 1, 8191, f);
    buf[n] = '\0';
    fclose(f);
    ck_assert_int_eq(avro_schema_from_json_length(buf, n, &s), 0);
    return s;
}

static void setup(void)
{
    v1 = load_schema("bus_test.v1.avsc", v1_json);
    v2 = load_schema("bus_test.v2.avsc", v2_json);
}

static void teardown(void)
{
    avro_schema_decref(v1);
    avro_schema_decref(v2);
}

/* Fills a v1 (or v2) record with recognisable values. */
static void fill(avro_value_t *rec, const char *site, double kw, int ntags)
{
    avro_value_t f, item, branch;
    int i;

    ck_assert_int_eq(avro_value_get_by_name(rec, "site_id", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_string(&f, site), 0);
    ck_assert_int_eq(avro_value_get_by_name(rec, "ts", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_long(&f, 1600000000000LL), 0);
    ck_assert_int_eq(avro_value_get_by_name(rec, "power_kw", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_double(&f, kw), 0);
    ck_assert_int_eq(avro_value_get_by_name(rec, "quality", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_enum(&f, 1), 0);
    ck_assert_int_eq(avro_value_get_by_name(rec, "tags", &f, NULL), 0);
    for (i = 0; i < ntags; i++) {
        ck_assert_int_eq(avro_value_append(&f, &item, NULL), 0);
        ck_assert_int_eq(avro_value_set_string(&item, i % 2 ? "odd" : "even"), 0);
    }
    ck_assert_int_eq(avro_value_get_by_name(rec, "voltage_v", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_branch(&f, 1, &branch), 0);
    ck_assert_int_eq(avro_value_set_double(&branch, 230.5), 0);
}

static double get_double(avro_value_t *rec, const char *name)
{
    avro_value_t f;
    double d = -1;

    ck_assert_int_eq(avro_value_get_by_name(rec, name, &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_double(&f, &d), 0);
    return d;
}

static size_t tag_count(avro_value_t *rec)
{
    avro_value_t f;
    size_t n = 0;

    ck_assert_int_eq(avro_value_get_by_name(rec, "tags", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_size(&f, &n), 0);
    return n;
}

/* Encodes a filled v1 record; returns a malloc'd copy of the frame. */
static void *encode_v1(int32_t id, double kw, int ntags, size_t *len)
{
    avro_value_iface_t *iface = avro_generic_class_from_schema(v1);
    bus_encoder_t enc;
    avro_value_t rec;
    const void *out;
    char err[256];
    void *copy;

    ck_assert_int_eq(bus_encoder_init(&enc), 0);
    ck_assert_int_eq(avro_generic_value_new(iface, &rec), 0);
    fill(&rec, "site-a", kw, ntags);
    ck_assert_int_eq(bus_encode(&enc, id, &rec, &out, len, err, sizeof(err)), 0);
    copy = malloc(*len);
    memcpy(copy, out, *len);
    avro_value_decref(&rec);
    avro_value_iface_decref(iface);
    bus_encoder_release(&enc);
    return copy;
}

/* Table: ids and sizes, including records larger than the initial buffer. */
typedef struct rt_case {
    int32_t id;
    double kw;
    int ntags;
} rt_case_t;

static const rt_case_t rt_cases[] = {
    {1, 0.0, 0},
    {7, -12.25, 1},
    {65536, 1e9, 3},
    {INT32_MAX, 42.0, 500},
};

START_TEST(test_round_trip_same_schema)
{
    const rt_case_t *c = &rt_cases[_i];
    avro_value_iface_t *iface = avro_generic_class_from_schema(v1);
    bus_decoder_t *d = bus_decoder_new(v1, v1, v1_json, NULL, 0);
    avro_value_t out, expect;
    const void *body;
    size_t len, body_len;
    int32_t id;
    char err[256];
    void *frame = encode_v1(c->id, c->kw, c->ntags, &len);

    ck_assert_ptr_nonnull(d);
    ck_assert(!bus_decoder_resolves(d));
    ck_assert_int_eq(bus_wire_unframe(frame, len, &id, &body, &body_len), BUS_WIRE_OK);
    ck_assert_int_eq(id, c->id);
    ck_assert_int_eq(avro_generic_value_new(iface, &out), 0);
    ck_assert_int_eq(avro_generic_value_new(iface, &expect), 0);
    fill(&expect, "site-a", c->kw, c->ntags);
    /* decode twice into the same value: reset must clear the array */
    ck_assert_int_eq(bus_decode(d, body, body_len, &out, err, sizeof(err)), 0);
    ck_assert_int_eq(bus_decode(d, body, body_len, &out, err, sizeof(err)), 0);
    ck_assert(avro_value_equal(&out, &expect));
    ck_assert_uint_eq(tag_count(&out), (size_t)c->ntags);
    avro_value_decref(&out);
    avro_value_decref(&expect);
    avro_value_iface_decref(iface);
    bus_decoder_destroy(d);
    free(frame);
}
END_TEST

START_TEST(test_resolves_old_writer_into_new_reader)
{
    avro_value_iface_t *iface = avro_generic_class_from_schema(v2);
    char err[256] = "";
    bus_decoder_t *d = bus_decoder_new(v1, v2, v2_json, err, sizeof(err));
    avro_value_t out, f;
    const char *site = NULL;
    size_t len;
    void *frame = encode_v1(3, 99.5, 2, &len);

    ck_assert_msg(d != NULL, "%s", err);
    ck_assert(bus_decoder_resolves(d));
    ck_assert_int_eq(avro_generic_value_new(iface, &out), 0);
    ck_assert_msg(bus_decode(d, (char *)frame + 5, len - 5, &out, err, sizeof(err)) ==
                      0,
                  "%s", err);
    ck_assert_double_eq(get_double(&out, "power_kw"), 99.5);
    ck_assert_double_eq(get_double(&out, "frequency_hz"), 50.0); /* default */
    ck_assert_uint_eq(tag_count(&out), 2);
    ck_assert_int_eq(avro_value_get_by_name(&out, "voltage_v", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_current_branch(&f, &f), 0);
    ck_assert_int_eq(avro_value_get_type(&f), AVRO_DOUBLE);
    ck_assert_int_eq(avro_value_get_by_name(&out, "site_id", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_string(&f, &site, NULL), 0);
    ck_assert_str_eq(site, "site-a");
    avro_value_decref(&out);
    avro_value_iface_decref(iface);
    bus_decoder_destroy(d);
    free(frame);
}
END_TEST

START_TEST(test_new_writer_into_old_reader_drops_field)
{
    avro_value_iface_t *wi = avro_generic_class_from_schema(v2);
    avro_value_iface_t *ri = avro_generic_class_from_schema(v1);
    char err[256] = "";
    bus_decoder_t *d = bus_decoder_new(v2, v1, v1_json, err, sizeof(err));
    bus_encoder_t enc;
    avro_value_t w, out, f;
    const void *frame;
    size_t len;

    ck_assert_msg(d != NULL, "%s", err);
    bus_encoder_init(&enc);
    ck_assert_int_eq(avro_generic_value_new(wi, &w), 0);
    ck_assert_int_eq(avro_generic_value_new(ri, &out), 0);
    fill(&w, "site-b", 7.0, 1);
    ck_assert_int_eq(avro_value_get_by_name(&w, "frequency_hz", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_double(&f, 49.9), 0);
    ck_assert_int_eq(bus_encode(&enc, 2, &w, &frame, &len, err, sizeof(err)), 0);
    ck_assert_msg(bus_decode(d, (char *)frame + 5, len - 5, &out, err, sizeof(err)) ==
                      0,
                  "%s", err);
    ck_assert_double_eq(get_double(&out, "power_kw"), 7.0);
    avro_value_decref(&w);
    avro_value_decref(&out);
    avro_value_iface_decref(wi);
    avro_value_iface_decref(ri);
    bus_encoder_release(&enc);
    bus_decoder_destroy(d);
}
END_TEST

START_TEST(test_missing_field_without_default_is_incompatible)
{
    const char *rj = "{\"type\":\"record\",\"name\":\"BusTest\",\"fields\":["
                     "{\"name\":\"power_kw\",\"type\":\"double\"},"
                     "{\"name\":\"extra\",\"type\":\"long\"}]}";
    avro_schema_t r;
    avro_value_iface_t *ri;
    avro_value_t out;
    bus_decoder_t *d;
    char err[256] = "";
    size_t len;
    void *frame = encode_v1(3, 1.0, 0, &len);

    ck_assert_int_eq(avro_schema_from_json_length(rj, strlen(rj), &r), 0);
    ri = avro_generic_class_from_schema(r);
    ck_assert_int_eq(avro_generic_value_new(ri, &out), 0);
    d = bus_decoder_new(v1, r, rj, err, sizeof(err));
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_int_eq(bus_decode(d, (char *)frame + 5, len - 5, &out, err, sizeof(err)),
                     -2);
    ck_assert_ptr_nonnull(strstr(err, "extra"));
    avro_value_decref(&out);
    avro_value_iface_decref(ri);
    avro_schema_decref(r);
    bus_decoder_destroy(d);
    free(frame);
}
END_TEST

/* A record of another record type (the schema id of another topic) whose
 * fields happen to fit: the projection matched fields by name and filled
 * the rest with defaults, so it was taken for one of this topic's. Avro
 * resolves records of the same name only. */
START_TEST(test_record_of_another_name_refused)
{
    const char *rj = "{\"type\":\"record\",\"name\":\"OtherTopic\",\"fields\":["
                     "{\"name\":\"power_kw\",\"type\":\"double\"},"
                     "{\"name\":\"extra\",\"type\":\"long\",\"default\":0}]}";
    avro_schema_t r;
    char err[256] = "";

    ck_assert_int_eq(avro_schema_from_json_length(rj, strlen(rj), &r), 0);
    ck_assert_ptr_null(bus_decoder_new(v1, r, rj, err, sizeof(err)));
    ck_assert_msg(strstr(err, "BusTest") && strstr(err, "OtherTopic"), "%s", err);
    avro_schema_decref(r);
}
END_TEST

START_TEST(test_incompatible_schemas_refused)
{
    avro_schema_t s = avro_schema_string();
    char err[256] = "";

    ck_assert_ptr_null(bus_decoder_new(v1, s, "\"string\"", err, sizeof(err)));
    ck_assert(strlen(err) > 0);
    avro_schema_decref(s);
}
END_TEST

/* Bodies that must fail to decode: truncated, trailing bytes, bad enum. */
typedef struct bad_body {
    const char *name;
    int cut;        /* bytes removed from the end (negative: bytes added) */
    int corrupt_at; /* index (from body start) set to 0xff, or -1 */
} bad_body_t;

static const bad_body_t bad_bodies[] = {
    {"truncated by one", 1, -1},
    {"truncated to half", 20, -1},
    {"trailing byte", -1, -1},
    {"empty body", 1000, -1},
};

START_TEST(test_malformed_bodies_fail)
{
    const bad_body_t *c = &bad_bodies[_i];
    avro_value_iface_t *iface = avro_generic_class_from_schema(v1);
    bus_decoder_t *d = bus_decoder_new(v1, v1, v1_json, NULL, 0);
    char err[256] = "", body[512];
    avro_value_t out;
    size_t len, blen;
    void *frame = encode_v1(1, 5.0, 1, &len);

    blen = len - 5;
    memcpy(body, (char *)frame + 5, blen);
    if (c->cut < 0) {
        body[blen] = 0;
        blen += 1;
    } else {
        blen = (size_t)c->cut >= blen ? 0 : blen - (size_t)c->cut;
    }
    ck_assert_int_eq(avro_generic_value_new(iface, &out), 0);
    ck_assert_msg(bus_decode(d, body, blen, &out, err, sizeof(err)) == -1, "%s",
                  c->name);
    ck_assert(strlen(err) > 0);
    avro_value_decref(&out);
    avro_value_iface_decref(iface);
    bus_decoder_destroy(d);
    free(frame);
}
END_TEST

static Suite *codec_suite(void)
{
    Suite *s = suite_create("bus_codec");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_round_trip_same_schema, 0,
                        sizeof(rt_cases) / sizeof(rt_cases[0]));
    tcase_add_test(tc, test_resolves_old_writer_into_new_reader);
    tcase_add_test(tc, test_new_writer_into_old_reader_drops_field);
    tcase_add_test(tc, test_missing_field_without_default_is_incompatible);
    tcase_add_test(tc, test_incompatible_schemas_refused);
    tcase_add_test(tc, test_record_of_another_name_refused);
    tcase_add_loop_test(tc, test_malformed_bodies_fail, 0,
                        sizeof(bad_bodies) / sizeof(bad_bodies[0]));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(codec_suite(), 0);
}
