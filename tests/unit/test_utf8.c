/* Unit tests of libs/text/utf8: what PostgreSQL and the audit chain take. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/harness.h"

#include "text/utf8.h"

static const struct {
    const char *name, *s;
    int valid;
} cases[] = {
    {"empty", "", 1},
    {"ascii", "meter-01", 1},
    {"two bytes", "r\xc3\xa9gulation", 1},
    {"three bytes", "5 \xe2\x82\xac", 1},
    {"four bytes", "\xf0\x9f\x94\x8c plug", 1},
    {"highest code point", "\xf4\x8f\xbf\xbf", 1},
    {"lone continuation", "a\x80", 0},
    {"cut lead", "cut \xc3", 0},
    {"cut three", "\xe2\x82", 0},
    {"overlong slash", "\xc0\xaf", 0},
    {"overlong three", "\xe0\x80\xaf", 0},
    {"surrogate", "\xed\xa0\x80", 0},
    {"above U+10FFFF", "\xf4\x90\x80\x80", 0},
    {"0xff", "m\xff", 0},
    {"latin-1 e acute", "r\xe9gulation", 0},
};

START_TEST(valid_table)
{
    const char *s = cases[_i].s;
    ck_assert_msg(ems_utf8_valid(s, strlen(s)) == (cases[_i].valid != 0), "%s",
                  cases[_i].name);
}
END_TEST

START_TEST(nul_is_refused)
{
    ck_assert(!ems_utf8_valid("a\0b", 3));
    ck_assert(ems_utf8_valid("ab", 2));
}
END_TEST

static const struct {
    const char *in, *out;
} trims[] = {
    {"abc", "abc"},
    {"", ""},
    {"ab\xc3", "ab"},             /* half of a two-byte character */
    {"ab\xc3\xa9", "ab\xc3\xa9"}, /* whole */
    {"ab\xe2\x82", "ab"},         /* two of three */
    {"ab\xe2", "ab"},             /* one of three */
    {"ab\xf0\x9f\x94", "ab"},     /* three of four */
    {"ab\xf0\x9f\x94\x8c", "ab\xf0\x9f\x94\x8c"},
};

START_TEST(trim_table)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%s", trims[_i].in);
    ck_assert_uint_eq(ems_utf8_trim_partial(buf), strlen(trims[_i].out));
    ck_assert_str_eq(buf, trims[_i].out);
}
END_TEST

START_TEST(dup_valid_replaces_bad_bytes)
{
    char *a = ems_utf8_dup_valid("ok \xc3\xa9"), *b = ems_utf8_dup_valid("x\xffy\xc3");
    ck_assert_str_eq(a, "ok \xc3\xa9");
    ck_assert_str_eq(b, "x\xef\xbf\xbdy\xef\xbf\xbd");
    ck_assert(ems_utf8_valid(b, strlen(b)));
    free(a);
    free(b);
}
END_TEST

static Suite *utf8_suite(void)
{
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("utf8");
    tcase_add_loop_test(tc, valid_table, 0, sizeof cases / sizeof cases[0]);
    tcase_add_test(tc, nul_is_refused);
    tcase_add_test(tc, dup_valid_replaces_bad_bytes);
    tcase_add_loop_test(tc, trim_table, 0, sizeof trims / sizeof trims[0]);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(utf8_suite(), 0);
}
