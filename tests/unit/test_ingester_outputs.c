/*
 * Unit tests of the outputs hand-over decision (ing_out_due): held closed
 * intervals and gaps go to the free outputs session once the consumer has
 * caught up, after rollup_flush, after every batch with rollup_flush 0, or
 * as soon as rollup_batch of them are held, so that a backlog's outputs
 * are stored while its later batches are still being written.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "ingester/ing_service_int.h"
#include "support/harness.h"

typedef struct {
    const char *what;
    bool drained;     /* caught up, every batch fed */
    int64_t flush_ms; /* ingester.rollup_flush */
    double held_ms;   /* since the first held output */
    size_t held;      /* outputs held */
    int64_t batch;    /* ingester.rollup_batch */
    bool want;
} due_case_t;

static const due_case_t cases[] = {
    {"backlog, few held: keep holding", false, 1000, 100, 1200, 5000, false},
    {"backlog, rollup_batch held: hand over", false, 1000, 100, 5000, 5000, true},
    {"backlog, more than rollup_batch held", false, 1000, 10, 17000, 5000, true},
    {"backlog, one short of rollup_batch", false, 1000, 999.9, 4999, 5000, false},
    {"backlog, rollup_flush passed", false, 1000, 1000, 10, 5000, true},
    {"caught up: hand over whatever is held", true, 1000, 0, 1, 5000, true},
    {"rollup_flush 0: every batch", false, 0, 0, 1, 5000, true},
    {"rollup_batch 1: every batch with an output", false, 1000, 0, 1, 1, true},
    {"nothing held, backlog", false, 1000, 0, 0, 5000, false},
};

START_TEST(test_due)
{
    const due_case_t *c = &cases[_i];
    ck_assert_msg(ing_out_due(c->drained, c->flush_ms, c->held_ms, c->held, c->batch) ==
                      c->want,
                  "%s", c->what);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ingester_outputs");
    TCase *tc = tcase_create("due");

    tcase_add_loop_test(tc, test_due, 0, sizeof cases / sizeof cases[0]);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
