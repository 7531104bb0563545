/*
 * Unit tests of ing_fastdec: the hand-written Telemetry decoder gives the
 * same reading as the generic path (avro-c value, then ing_codec_reading)
 * for records of schemas/energy.telemetry.avsc, and refuses malformed
 * bodies (every truncation, trailing bytes, bad union branch or enum).
 */
#include <avro.h>
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingester/ing_codec.h"
#include "ingester/ing_fastdec.h"
#include "support/harness.h"
#include "text/utf8.h"

typedef struct {
    const char *site, *meter;
    long long ts, seq;
    int source, quality;
    unsigned present;   /* which optional doubles are set */
    double v;           /* base value of the doubles */
    const char *detail; /* NULL = null */
    int want_rc;        /* 0, or -1 for both decoders */
} fd_case_t;

static const char long_id[] =
    "m-0123456789012345678901234567890123456789012345678901234567890123"; /* 66 */

static const fd_case_t cases[] = {
    {"site-a", "m1", 1604300400123LL, 7, 0, 0, 0x3f, 81.25, NULL, 0},
    {"s", "meter-with-a-longer-name", 946684800000LL, 0, 2, 1, 0, 0, NULL, 0},
    {"site-b", "m2", 1604300400000LL, 1LL << 40, 1, 2, 0x05, -12.5, "modbus timeout",
     0},
    {"", "m3", -1000, -5, 0, 4, 0x2a, 1e300, "", 0},
    {"site-c", "m4", 1604300400000LL, 3, 0, 3, 0x10, NAN,
     "a quality detail well over one hundred and twenty-eight bytes long, so that "
     "both decoders must cut it at the same place without complaining at all....",
     0},
    {"site-d", long_id, 1604300400000LL, 3, 0, 0, 0x01, 1.0, NULL, -1},
    /* the cut at 127 bytes falls inside the two bytes of "é": both
     * decoders drop the half character (PostgreSQL refuses half of one) */
    {"site-e", "m5", 1604300400000LL, 3, 0, 3, 0x01, 1.0,
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9x",
     0},
};

static avro_schema_t schema;
static avro_value_iface_t *iface;

static void load_schema(void)
{
    char path[1024];
    const char *root = getenv("EMS_TEST_ROOT");
    FILE *f;
    char *json;
    long n;

    snprintf(path, sizeof path, "%s/schemas/energy.telemetry.avsc", root ? root : ".");
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    json = calloc(1, (size_t)n + 1);
    ck_assert_int_eq(fread(json, 1, (size_t)n, f), n);
    fclose(f);
    ck_assert_int_eq(avro_schema_from_json_length(json, (size_t)n, &schema), 0);
    free(json);
    iface = avro_generic_class_from_schema(schema);
}

static void set_opt(avro_value_t *v, const char *name, int on, double x)
{
    avro_value_t f, b;
    ck_assert_int_eq(avro_value_get_by_name(v, name, &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_branch(&f, on ? 1 : 0, &b), 0);
    if (on)
        ck_assert_int_eq(avro_value_set_double(&b, x), 0);
    else
        ck_assert_int_eq(avro_value_set_null(&b), 0);
}

/* Encodes case c; returns the body length written into buf. */
static size_t encode(const fd_case_t *c, char *buf, size_t size)
{
    static const char *const opts[] = {"power_kw",  "energy_kwh",   "voltage_v",
                                       "current_a", "frequency_hz", "power_factor"};
    avro_value_t v, f, b;
    avro_writer_t w = avro_writer_memory(buf, (int64_t)size);
    size_t len;

    ck_assert_int_eq(avro_generic_value_new(iface, &v), 0);
    ck_assert_int_eq(avro_value_get_by_name(&v, "site_id", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_string(&f, c->site), 0);
    ck_assert_int_eq(avro_value_get_by_name(&v, "meter_id", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_string(&f, c->meter), 0);
    ck_assert_int_eq(avro_value_get_by_name(&v, "ts", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_long(&f, c->ts), 0);
    ck_assert_int_eq(avro_value_get_by_name(&v, "seq", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_long(&f, c->seq), 0);
    ck_assert_int_eq(avro_value_get_by_name(&v, "source", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_enum(&f, c->source), 0);
    ck_assert_int_eq(avro_value_get_by_name(&v, "quality", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_enum(&f, c->quality), 0);
    for (int i = 0; i < 6; i++)
        set_opt(&v, opts[i], ((c->present >> i) & 1) != 0, c->v * (i + 1));
    ck_assert_int_eq(avro_value_get_by_name(&v, "quality_detail", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_branch(&f, c->detail ? 1 : 0, &b), 0);
    if (c->detail)
        ck_assert_int_eq(avro_value_set_string(&b, c->detail), 0);
    else
        ck_assert_int_eq(avro_value_set_null(&b), 0);
    ck_assert_int_eq(avro_value_write(w, &v), 0);
    len = (size_t)avro_writer_tell(w);
    avro_writer_free(w);
    avro_value_decref(&v);
    return len;
}

/* The generic path: the body read into a value, then ing_codec_reading. */
static int generic(const char *buf, size_t len, ing_reading_t *r)
{
    avro_value_t v;
    avro_reader_t rd = avro_reader_memory(buf, (int64_t)len);
    char reason[256];
    int rc;

    ck_assert_int_eq(avro_generic_value_new(iface, &v), 0);
    ck_assert_int_eq(avro_value_read(rd, &v), 0);
    rc = ing_codec_reading(&v, r, reason, sizeof reason);
    avro_value_decref(&v);
    avro_reader_free(rd);
    return rc;
}

/* The same double bit for bit, but any NaN matches any NaN: 0 and -0 differ. */
static int same_double(double a, double b)
{
    return isnan(a) ? isnan(b) : a == b && signbit(a) == signbit(b);
}

START_TEST(test_same_as_generic)
{
    const fd_case_t *c = &cases[_i];
    char buf[1024], reason[256];
    ing_reading_t a, b;
    size_t len;

    load_schema();
    len = encode(c, buf, sizeof buf);
    ck_assert_int_eq(ing_fastdec_reading(buf, len, &a, reason, sizeof reason),
                     c->want_rc);
    ck_assert_int_eq(generic(buf, len, &b), c->want_rc);
    if (c->want_rc == 0) {
        ck_assert_str_eq(a.site_id, b.site_id);
        ck_assert_str_eq(a.meter_id, b.meter_id);
        ck_assert_int_eq(a.ts_ms, b.ts_ms);
        ck_assert_int_eq(a.seq, b.seq);
        ck_assert_int_eq(a.source, b.source);
        ck_assert_int_eq(a.quality, b.quality);
        ck_assert_uint_eq(a.present, b.present);
        ck_assert_uint_eq(a.present, c->present);
        ck_assert(same_double(a.power_kw, b.power_kw));
        ck_assert(same_double(a.energy_kwh, b.energy_kwh));
        ck_assert(same_double(a.voltage_v, b.voltage_v));
        ck_assert(same_double(a.current_a, b.current_a));
        ck_assert(same_double(a.frequency_hz, b.frequency_hz));
        ck_assert(same_double(a.power_factor, b.power_factor));
        ck_assert_str_eq(a.detail, b.detail);
        ck_assert(ems_utf8_valid(a.detail, strlen(a.detail)));
        if (c->detail && strlen(c->detail) > ING_DETAIL_MAX - 1)
            ck_assert_uint_ge(strlen(a.detail), ING_DETAIL_MAX - 4);
    }
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
}
END_TEST

START_TEST(test_malformed)
{
    char buf[1024], bad[1100], reason[256];
    ing_reading_t r;
    size_t len;

    load_schema();
    len = encode(&cases[2], buf, sizeof buf);
    for (size_t k = 0; k < len; k++) /* every truncation */
        ck_assert_int_eq(ing_fastdec_reading(buf, k, &r, reason, sizeof reason), -1);
    memcpy(bad, buf, len);
    bad[len] = 0;
    ck_assert_int_eq(ing_fastdec_reading(bad, len + 1, &r, reason, sizeof reason), -1);
    ck_assert_ptr_nonnull(strstr(reason, "trailing"));
    /* case 1: "s", 24-char meter, ts, seq 0, source 2: the first union
     * (power_kw, null) is at 1 + 1 + 1 + 24 + 6 + 1 + 1 */
    len = encode(&cases[1], buf, sizeof buf);
    memcpy(bad, buf, len);
    bad[35] = 4; /* branch 2 */
    ck_assert_int_eq(ing_fastdec_reading(bad, len, &r, reason, sizeof reason), -1);
    ck_assert_ptr_nonnull(strstr(reason, "union"));
    memcpy(bad, buf, len);
    bad[34] = 6; /* source 3: not a symbol */
    ck_assert_int_eq(ing_fastdec_reading(bad, len, &r, reason, sizeof reason), -1);
    ck_assert_ptr_nonnull(strstr(reason, "enum"));
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ingester_fastdec");
    TCase *tc = tcase_create("fastdec");

    tcase_add_loop_test(tc, test_same_as_generic, 0, sizeof cases / sizeof cases[0]);
    tcase_add_test(tc, test_malformed);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
