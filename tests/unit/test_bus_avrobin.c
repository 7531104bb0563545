/* Unit tests for bus/avrobin: the one-pass Avro binary codec must write the
 * same bytes as avro-c's avro_value_write() and read them back equal, for a
 * schema with every Avro type and for every topic schema in schemas/; every
 * truncation and a table of corrupt bodies must be refused. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/avrobin.h"
#include "support/harness.h"

static const char all_types_json[] =
    "{\"type\":\"record\",\"name\":\"All\",\"fields\":["
    "{\"name\":\"n\",\"type\":\"null\"},"
    "{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"i\",\"type\":\"int\"},"
    "{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"f\",\"type\":\"float\"},"
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"by\",\"type\":\"bytes\"},"
    "{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F4\",\"size\":4}},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\","
    "\"B\",\"C\"]}},"
    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"double\",\"string\"]},"
    "{\"name\":\"r\",\"type\":{\"type\":\"record\",\"name\":\"In\",\"fields\":["
    "{\"name\":\"x\",\"type\":[\"null\",\"int\"]}]}}]}";

/* Fills any generic value with content derived from seed: every union takes
 * its last branch, arrays and maps get two items, strings vary in length. */
static void fill_any(avro_value_t *v, int seed)
{
    avro_schema_t s = avro_value_get_schema(v);
    avro_value_t child;
    char buf[300];
    size_t n, i;

    switch (avro_value_get_type(v)) {
    case AVRO_NULL:
        ck_assert_int_eq(avro_value_set_null(v), 0);
        break;
    case AVRO_BOOLEAN:
        ck_assert_int_eq(avro_value_set_boolean(v, seed & 1), 0);
        break;
    case AVRO_INT32:
        ck_assert_int_eq(avro_value_set_int(v, -seed * 1000003), 0);
        break;
    case AVRO_INT64:
        ck_assert_int_eq(avro_value_set_long(v, (int64_t)seed * -7000000000001LL), 0);
        break;
    case AVRO_FLOAT:
        ck_assert_int_eq(avro_value_set_float(v, (float)seed * 0.25f), 0);
        break;
    case AVRO_DOUBLE:
        ck_assert_int_eq(avro_value_set_double(v, seed * -1.0e-3), 0);
        break;
    case AVRO_BYTES:
        memset(buf, seed, sizeof(buf));
        ck_assert_int_eq(
            avro_value_set_bytes(v, buf, (size_t)(seed * 37) % sizeof(buf)), 0);
        break;
    case AVRO_STRING:
        n = (size_t)(seed * 53) % 200;
        memset(buf, 'a' + seed % 26, n);
        buf[n] = '\0';
        ck_assert_int_eq(avro_value_set_string(v, buf), 0);
        break;
    case AVRO_FIXED:
        n = (size_t)avro_schema_fixed_size(s);
        memset(buf, seed, n);
        ck_assert_int_eq(avro_value_set_fixed(v, buf, n), 0);
        break;
    case AVRO_ENUM:
        ck_assert_int_eq(
            avro_value_set_enum(v, seed % avro_schema_enum_number_of_symbols(s)), 0);
        break;
    case AVRO_RECORD:
        ck_assert_int_eq(avro_value_get_size(v, &n), 0);
        for (i = 0; i < n; i++) {
            ck_assert_int_eq(avro_value_get_by_index(v, i, &child, NULL), 0);
            fill_any(&child, seed + (int)i);
        }
        break;
    case AVRO_UNION:
        ck_assert_int_eq(
            avro_value_set_branch(v, (int)avro_schema_union_size(s) - 1, &child), 0);
        fill_any(&child, seed);
        break;
    case AVRO_ARRAY:
        for (i = 0; i < 2; i++) {
            ck_assert_int_eq(avro_value_append(v, &child, NULL), 0);
            fill_any(&child, seed + (int)i);
        }
        break;
    case AVRO_MAP:
        for (i = 0; i < 2; i++) {
            snprintf(buf, sizeof(buf), "key-%d-%zu", seed, i);
            ck_assert_int_eq(avro_value_add(v, buf, &child, NULL, NULL), 0);
            fill_any(&child, seed + (int)i);
        }
        break;
    default:
        break;
    }
}

/* avro-c's own encoding of v, malloc'd. */
static char *reference_bytes(avro_value_t *v, size_t *len)
{
    char *buf;
    avro_writer_t w;

    ck_assert_int_eq(avro_value_sizeof(v, len), 0);
    buf = malloc(*len + 1);
    w = avro_writer_memory(buf, (int64_t)*len);
    ck_assert_int_eq(avro_value_write(w, v), 0);
    avro_writer_free(w);
    return buf;
}

/* Writes a filled value with both codecs, compares the bytes, reads ours
 * back with ours and compares values; then every truncation must fail. */
static void check_schema(avro_schema_t schema, const char *what)
{
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t in, out;
    bus_bin_buf_t b = {0};
    size_t ref_len, cut;
    const char *pos;
    char *ref;

    ck_assert_ptr_nonnull(iface);
    ck_assert_int_eq(avro_generic_value_new(iface, &in), 0);
    ck_assert_int_eq(avro_generic_value_new(iface, &out), 0);
    for (int seed = 1; seed <= 3; seed++) {
        ck_assert_int_eq(avro_value_reset(&in), 0);
        fill_any(&in, seed);
        ref = reference_bytes(&in, &ref_len);
        b.len = 0;
        ck_assert_int_eq(bus_bin_write(&b, &in), 0);
        ck_assert_msg(b.len == ref_len && memcmp(b.p, ref, ref_len) == 0,
                      "%s: bytes differ from avro-c's", what);
        ck_assert_int_eq(avro_value_reset(&out), 0);
        pos = ref;
        ck_assert_msg(bus_bin_read(&pos, ref + ref_len, &out) == 0, "%s: read", what);
        ck_assert(pos == ref + ref_len);
        ck_assert_msg(avro_value_equal(&in, &out), "%s: value differs", what);
        for (cut = 0; cut < ref_len; cut++) {
            ck_assert_int_eq(avro_value_reset(&out), 0);
            pos = ref;
            ck_assert_msg(bus_bin_read(&pos, ref + cut, &out) == -1,
                          "%s: %zu of %zu bytes accepted", what, cut, ref_len);
        }
        free(ref);
    }
    bus_bin_buf_release(&b);
    avro_value_decref(&in);
    avro_value_decref(&out);
    avro_value_iface_decref(iface);
}

START_TEST(test_all_types_match_avro_c)
{
    avro_schema_t s;

    ck_assert_int_eq(
        avro_schema_from_json_length(all_types_json, sizeof(all_types_json) - 1, &s),
        0);
    check_schema(s, "all types");
    avro_schema_decref(s);
}
END_TEST

START_TEST(test_topic_schemas_match_avro_c)
{
    const char *root = getenv("EMS_TEST_ROOT");
    char dir[4096], path[4352], *json;
    struct dirent *de;
    avro_schema_t s;
    int checked = 0;
    DIR *d;
    FILE *f;
    long n;

    snprintf(dir, sizeof(dir), "%s/schemas", root ? root : ".");
    d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);

        if (len < 6 || strcmp(de->d_name + len - 5, ".avsc") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        json = malloc((size_t)n + 1);
        ck_assert_int_eq(fread(json, 1, (size_t)n, f), n);
        fclose(f);
        json[n] = '\0';
        ck_assert_msg(avro_schema_from_json_length(json, (size_t)n, &s) == 0, "%s",
                      path);
        check_schema(s, de->d_name);
        avro_schema_decref(s);
        free(json);
        checked++;
    }
    closedir(d);
    ck_assert_int_gt(checked, 0);
}
END_TEST

/* Corrupt bodies of the all-types schema's first fields. */
typedef struct bad {
    const char *name;
    const char *bytes;
    size_t len;
} bad_t;

static const bad_t bads[] = {
    {"varint longer than 10 bytes", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
     12},
    {"int out of 32-bit range", "\x01\x80\x80\x80\x80\x20", 6},
    {"negative bytes length",
     "\x01\x02\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16},
};

START_TEST(test_corrupt_bodies_fail)
{
    const bad_t *c = &bads[_i];
    avro_schema_t s;
    avro_value_iface_t *iface;
    avro_value_t out;
    const char *pos = c->bytes;

    ck_assert_int_eq(
        avro_schema_from_json_length(all_types_json, sizeof(all_types_json) - 1, &s),
        0);
    iface = avro_generic_class_from_schema(s);
    ck_assert_int_eq(avro_generic_value_new(iface, &out), 0);
    ck_assert_msg(bus_bin_read(&pos, c->bytes + c->len, &out) == -1, "%s", c->name);
    avro_value_decref(&out);
    avro_value_iface_decref(iface);
    avro_schema_decref(s);
}
END_TEST

/* Union index and enum symbol out of range, on small schemas. */
START_TEST(test_out_of_range_indexes_fail)
{
    static const struct {
        const char *json;
        const char *bytes;
        size_t len;
    } cases[] = {
        {"[\"null\",\"int\"]", "\x04", 1},
        {"[\"null\",\"int\"]", "\x01", 1},
        {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}", "\x04", 1},
        {"{\"type\":\"map\",\"values\":\"int\"}", "\x7e", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        avro_schema_t s;
        avro_value_iface_t *iface;
        avro_value_t out;
        const char *pos = cases[i].bytes;

        ck_assert_int_eq(
            avro_schema_from_json_length(cases[i].json, strlen(cases[i].json), &s), 0);
        iface = avro_generic_class_from_schema(s);
        ck_assert_int_eq(avro_generic_value_new(iface, &out), 0);
        ck_assert_msg(bus_bin_read(&pos, cases[i].bytes + cases[i].len, &out) == -1,
                      "case %zu", i);
        avro_value_decref(&out);
        avro_value_iface_decref(iface);
        avro_schema_decref(s);
    }
}
END_TEST

/* An unset union (no branch chosen) cannot be encoded. */
START_TEST(test_unset_union_fails)
{
    avro_schema_t s;
    avro_value_iface_t *iface;
    avro_value_t v;
    bus_bin_buf_t b = {0};

    ck_assert_int_eq(avro_schema_from_json_length("[\"null\",\"int\"]", 14, &s), 0);
    iface = avro_generic_class_from_schema(s);
    ck_assert_int_eq(avro_generic_value_new(iface, &v), 0);
    ck_assert_int_ne(bus_bin_write(&b, &v), 0);
    bus_bin_buf_release(&b);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(s);
}
END_TEST

static Suite *avrobin_suite(void)
{
    Suite *s = suite_create("bus_avrobin");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_all_types_match_avro_c);
    tcase_add_test(tc, test_topic_schemas_match_avro_c);
    tcase_add_loop_test(tc, test_corrupt_bodies_fail, 0,
                        sizeof(bads) / sizeof(bads[0]));
    tcase_add_test(tc, test_out_of_range_indexes_fail);
    tcase_add_test(tc, test_unset_union_fails);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(avrobin_suite(), 0);
}
