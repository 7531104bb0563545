/* Unit tests for bus/wire: Confluent wire-format framing. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "bus/wire.h"
#include "support/harness.h"

typedef struct frame_case {
    int32_t id;
    unsigned char header[5];
} frame_case_t;

static const frame_case_t frame_cases[] = {
    {0, {0, 0, 0, 0, 0}},
    {1, {0, 0, 0, 0, 1}},
    {256, {0, 0, 0, 1, 0}},
    {0x01020304, {0, 1, 2, 3, 4}},
    {INT32_MAX, {0, 0x7f, 0xff, 0xff, 0xff}},
};

START_TEST(test_frame_header_is_big_endian)
{
    const frame_case_t *c = &frame_cases[_i];
    unsigned char out[16];
    const char body[] = "xyz";
    size_t n = bus_wire_frame(c->id, body, 3, out, sizeof(out));

    ck_assert_uint_eq(n, 8);
    ck_assert_mem_eq(out, c->header, 5);
    ck_assert_mem_eq(out + 5, body, 3);
}
END_TEST

START_TEST(test_frame_unframe_round_trip)
{
    const frame_case_t *c = &frame_cases[_i];
    unsigned char out[16];
    const void *body = NULL;
    size_t body_len = 99, n = bus_wire_frame(c->id, "ab", 2, out, sizeof(out));
    int32_t id = -1;

    ck_assert_int_eq(bus_wire_unframe(out, n, &id, &body, &body_len), BUS_WIRE_OK);
    ck_assert_int_eq(id, c->id);
    ck_assert_uint_eq(body_len, 2);
    ck_assert_ptr_eq(body, out + 5);
}
END_TEST

START_TEST(test_frame_refuses_small_buffer)
{
    unsigned char out[8];

    memset(out, 0xaa, sizeof(out));
    ck_assert_uint_eq(bus_wire_frame(7, "abcd", 4, out, 8), 0);
    ck_assert_uint_eq(out[0], 0xaa);
    ck_assert_uint_eq(bus_wire_frame(7, "abc", 3, out, 8), 8);
    ck_assert_uint_eq(bus_wire_frame(7, NULL, 0, out, 5), 5);
    ck_assert_uint_eq(bus_wire_frame(7, NULL, 0, out, 4), 0);
}
END_TEST

typedef struct bad_case {
    const char *bytes;
    size_t len;
    bus_wire_err_t err;
    const char *token;
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"", 0, BUS_WIRE_SHORT, "short"},
    {"\0\0\0\1", 4, BUS_WIRE_SHORT, "short"},
    {"\1\0\0\0\1", 5, BUS_WIRE_BAD_MAGIC, "bad-magic"},
    {"garbage bytes", 13, BUS_WIRE_BAD_MAGIC, "bad-magic"},
    {"\0\x80\0\0\0body", 9, BUS_WIRE_BAD_ID, "bad-schema-id"},
    {"\0\xff\xff\xff\xff", 5, BUS_WIRE_BAD_ID, "bad-schema-id"},
};

START_TEST(test_unframe_rejects_bad_input)
{
    const bad_case_t *c = &bad_cases[_i];
    const void *body = (const void *)1;
    size_t body_len = 42;
    int32_t id = 42;

    ck_assert_int_eq(bus_wire_unframe(c->bytes, c->len, &id, &body, &body_len), c->err);
    ck_assert_str_eq(bus_wire_strerror(c->err), c->token);
    ck_assert_int_eq(id, 42); /* untouched on error */
    ck_assert_uint_eq(body_len, 42);
}
END_TEST

START_TEST(test_unframe_empty_body)
{
    const void *body = NULL;
    size_t body_len = 1;
    int32_t id = 0;

    ck_assert_int_eq(bus_wire_unframe("\0\0\0\0\x09", 5, &id, &body, &body_len),
                     BUS_WIRE_OK);
    ck_assert_int_eq(id, 9);
    ck_assert_uint_eq(body_len, 0);
    ck_assert_int_eq(bus_wire_unframe(NULL, 5, &id, &body, &body_len), BUS_WIRE_SHORT);
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *s = suite_create("bus_wire");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, test_frame_header_is_big_endian, 0,
                        sizeof(frame_cases) / sizeof(frame_cases[0]));
    tcase_add_loop_test(tc, test_frame_unframe_round_trip, 0,
                        sizeof(frame_cases) / sizeof(frame_cases[0]));
    tcase_add_test(tc, test_frame_refuses_small_buffer);
    tcase_add_loop_test(tc, test_unframe_rejects_bad_input, 0,
                        sizeof(bad_cases) / sizeof(bad_cases[0]));
    tcase_add_test(tc, test_unframe_empty_body);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(wire_suite(), 0);
}
