/*
 * Unit tests of the copies the service keeps of a pending counter reset's
 * records (ing_held.c): a rebalance that takes a partition away frees the
 * copies of its records, and keeps those of the partitions kept. Before,
 * they outlived the reset (which the new owner settles) and a later glitch
 * of the meter here dead-lettered them with it.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ingester/ing_service_int.h"
#include "support/harness.h"

static void note_pending(ing_service_t *s, const char *meter, int32_t partition,
                         int64_t offset)
{
    static const char body[] = "body";
    ing_reading_t rd;
    bus_record_t rec;

    memset(&rd, 0, sizeof rd);
    snprintf(rd.meter_id, sizeof rd.meter_id, "%s", meter);
    rd.reset = ING_RESET_PENDING;
    memset(&rec, 0, sizeof rec);
    rec.partition = partition;
    rec.offset = offset;
    rec.key = meter;
    rec.key_len = strlen(meter);
    rec.raw = body;
    rec.raw_len = sizeof body;
    ck_assert_uint_eq(ing_held_note(s, &rd, &rec, "pending"), 0);
}

static bool is_partition_0(int32_t partition, void *ctx)
{
    (void)ctx;
    return partition == 0;
}

static bool none(int32_t partition, void *ctx)
{
    (void)partition;
    (void)ctx;
    return false;
}

START_TEST(test_rebalance_frees_moved_copies)
{
    ing_service_t s;

    memset(&s, 0, sizeof s);
    note_pending(&s, "moved", 0, 10);
    note_pending(&s, "moved", 0, 11);
    note_pending(&s, "kept", 1, 10);
    note_pending(&s, "moved", 0, 11); /* redelivered: kept once */
    ck_assert_uint_eq(s.nhrec, 3);

    ck_assert_uint_eq(ing_held_forget_moved(&s, none, NULL), 0);
    ck_assert_uint_eq(s.nhrec, 3);
    ck_assert_uint_eq(ing_held_forget_moved(&s, is_partition_0, NULL), 2);
    ck_assert_uint_eq(s.nhrec, 1);
    /* the kept partition's copy is still there: a redelivery adds nothing */
    note_pending(&s, "kept", 1, 10);
    ck_assert_uint_eq(s.nhrec, 1);
    ing_held_release(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ingester_held");
    TCase *tc = tcase_create("held");

    tcase_add_test(tc, test_rebalance_frees_moved_copies);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
