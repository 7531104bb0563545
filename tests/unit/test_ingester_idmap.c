/*
 * Unit tests of ing_idmap: ids mapped to values survive growth from empty
 * to tens of thousands of entries, a put replaces, clear empties, values
 * gives every entry once, and empty or too long ids are refused.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingester/ing_idmap.h"
#include "ingester/ing_types.h"
#include "support/harness.h"

#define N 20000

static void id_of(char *buf, size_t size, int i)
{
    snprintf(buf, size, "site-%03d/meter-%05d", i % 100, i);
}

START_TEST(test_put_get_grow)
{
    ing_idmap_t *m = ing_idmap_new();
    char id[64];
    size_t v = 0;

    ck_assert_ptr_nonnull(m);
    ck_assert(!ing_idmap_get(m, "absent", &v));
    for (int i = 0; i < N; i++) {
        id_of(id, sizeof id, i);
        ck_assert_int_eq(ing_idmap_put(m, id, (size_t)i * 3), 0);
    }
    ck_assert_uint_eq(ing_idmap_count(m), N);
    for (int i = 0; i < N; i++) {
        id_of(id, sizeof id, i);
        ck_assert_msg(ing_idmap_get(m, id, &v), "%s lost", id);
        ck_assert_uint_eq(v, (size_t)i * 3);
    }
    ck_assert(!ing_idmap_get(m, "site-000/meter-99999", &v));
    ing_idmap_destroy(m);
}
END_TEST

START_TEST(test_replace_and_clear)
{
    ing_idmap_t *m = ing_idmap_new();
    size_t v = 0;

    ck_assert_int_eq(ing_idmap_put(m, "m1", 1), 0);
    ck_assert_int_eq(ing_idmap_put(m, "m1", 7), 0);
    ck_assert_uint_eq(ing_idmap_count(m), 1);
    ck_assert(ing_idmap_get(m, "m1", &v));
    ck_assert_uint_eq(v, 7);
    ing_idmap_clear(m);
    ck_assert_uint_eq(ing_idmap_count(m), 0);
    ck_assert(!ing_idmap_get(m, "m1", &v));
    ck_assert_int_eq(ing_idmap_put(m, "m2", 2), 0);
    ck_assert(ing_idmap_get(m, "m2", &v));
    ck_assert_uint_eq(v, 2);
    ing_idmap_destroy(m);
}
END_TEST

START_TEST(test_values_are_every_entry_once)
{
    ing_idmap_t *m = ing_idmap_new();
    size_t sum[2] = {0, 0}, want = 0, vals[1000];
    char id[64];

    for (int i = 1; i <= 1000; i++) {
        id_of(id, sizeof id, i);
        ck_assert_int_eq(ing_idmap_put(m, id, (size_t)i), 0);
        want += (size_t)i;
    }
    sum[1] = ing_idmap_values(m, vals);
    for (size_t k = 0; k < sum[1]; k++)
        sum[0] += vals[k];
    ck_assert_uint_eq(sum[0], want);
    ck_assert_uint_eq(sum[1], 1000);
    ing_idmap_destroy(m);
}
END_TEST

START_TEST(test_bad_ids_refused)
{
    ing_idmap_t *m = ing_idmap_new();
    char longid[ING_ID_MAX + 1];
    size_t v;

    memset(longid, 'x', ING_ID_MAX);
    longid[ING_ID_MAX] = '\0';
    ck_assert_int_eq(ing_idmap_put(m, "", 1), -1);
    ck_assert_int_eq(ing_idmap_put(m, longid, 1), -1);
    longid[ING_ID_MAX - 1] = '\0'; /* the longest id that fits */
    ck_assert_int_eq(ing_idmap_put(m, longid, 5), 0);
    ck_assert(ing_idmap_get(m, longid, &v));
    ck_assert_uint_eq(v, 5);
    ck_assert(!ing_idmap_get(m, "", &v));
    ck_assert_uint_eq(ing_idmap_count(m), 1);
    ing_idmap_destroy(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ingester_idmap");
    TCase *tc = tcase_create("idmap");

    tcase_add_test(tc, test_put_get_grow);
    tcase_add_test(tc, test_replace_and_clear);
    tcase_add_test(tc, test_values_are_every_entry_once);
    tcase_add_test(tc, test_bad_ids_refused);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
