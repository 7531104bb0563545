/*
 * Unit tests of the optimizer's periodic cadence (opt_periodic): the
 * configured cadence's check, the boundary arithmetic, and when a periodic
 * plan is due, as scripts of event-time steps (a load interval's end, a plan
 * made, the end of the restore) each followed by the expected verdict.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "schedule-optimizer/opt_periodic.h"
#include "support/harness.h"

#define MIN 60000LL
#define HOUR 3600000LL
/* Tuesday 10 November 2020 00:00 UTC, a multiple of a day since the epoch */
#define T0 1604966400000LL

START_TEST(test_boundary)
{
    ck_assert_int_eq(opt_periodic_boundary(HOUR, T0), T0);
    ck_assert_int_eq(opt_periodic_boundary(HOUR, T0 + HOUR - 1), T0);
    ck_assert_int_eq(opt_periodic_boundary(HOUR, T0 + HOUR), T0 + HOUR);
    ck_assert_int_eq(opt_periodic_boundary(15 * MIN, T0 + 44 * MIN), T0 + 30 * MIN);
    /* multiples since the epoch, UTC: 6 h boundaries at 00, 06, 12, 18 */
    ck_assert_int_eq(opt_periodic_boundary(6 * HOUR, T0 + 17 * HOUR), T0 + 12 * HOUR);
    /* before 1970 the floor still goes down */
    ck_assert_int_eq(opt_periodic_boundary(HOUR, -1), -HOUR);
    ck_assert_int_eq(opt_periodic_boundary(HOUR, -HOUR), -HOUR);
    /* regression: the floor of an instant within a cadence of INT64_MIN
     * lies below the range and overflowed (a site's first interval, ending
     * there, set its clock there); there is no boundary */
    ck_assert_int_eq(opt_periodic_boundary(HOUR, INT64_MIN + 1), INT64_MIN);
    ck_assert_int_eq(opt_periodic_boundary(HOUR, INT64_MAX), INT64_MAX / HOUR * HOUR);
}
END_TEST

typedef enum { TICK, PLANNED, RESTORED } step_kind_t;

typedef struct step {
    step_kind_t kind;
    int64_t t_ms;   /* TICK: interval end; PLANNED: the plan's event time */
    int64_t due_ms; /* expected boundary after the step; -1 = nothing due */
} step_t;

#define STEPS_MAX 8

typedef struct due_case {
    const char *name;
    int64_t every_ms;
    int restoring;
    step_t steps[STEPS_MAX];
    int n;
} due_case_t;

static const due_case_t due_cases[] = {
    {"off when 0", 0, 0, {{PLANNED, T0 - 12 * HOUR, -1}, {TICK, T0 + 5 * HOUR, -1}}, 2},
    {"no clock yet", HOUR, 0, {{PLANNED, T0 - 12 * HOUR, -1}}, 1},
    {"fires at the boundary",
     HOUR,
     0,
     {{PLANNED, T0 + 10 * HOUR + 20 * MIN, -1},
      {TICK, T0 + 10 * HOUR + 45 * MIN, -1},
      {TICK, T0 + 11 * HOUR, T0 + 11 * HOUR},
      {PLANNED, T0 + 11 * HOUR, -1},
      {TICK, T0 + 11 * HOUR + 15 * MIN, -1}},
     5},
    {"one plan for missed boundaries",
     HOUR,
     0,
     {{PLANNED, T0 + 10 * HOUR + 20 * MIN, -1},
      {TICK, T0 + 14 * HOUR + 30 * MIN, T0 + 14 * HOUR},
      {PLANNED, T0 + 14 * HOUR, -1},
      {TICK, T0 + 15 * HOUR - 1, -1},
      {TICK, T0 + 15 * HOUR, T0 + 15 * HOUR}},
     5},
    {"an older interval leaves the clock",
     HOUR,
     0,
     {{PLANNED, T0, -1},
      {TICK, T0 + 2 * HOUR, T0 + 2 * HOUR},
      {PLANNED, T0 + 2 * HOUR, -1},
      {TICK, T0 + HOUR, -1}},
     4},
    {"not before the last plan's event time",
     HOUR,
     0,
     {{PLANNED, T0 + 11 * HOUR + 30 * MIN, -1}, /* a request or new inputs */
      {TICK, T0 + 11 * HOUR + 45 * MIN, -1},
      {TICK, T0 + 12 * HOUR, T0 + 12 * HOUR}},
     3},
    {"a boundary equal to the last plan is planned",
     HOUR,
     0,
     {{PLANNED, T0 + 12 * HOUR, -1}, {TICK, T0 + 12 * HOUR + 30 * MIN, -1}},
     2},
    {"a plan ahead of the clock",
     HOUR,
     0,
     {{TICK, T0 + 11 * HOUR, T0 + 11 * HOUR},
      {PLANNED, T0 + 13 * HOUR, -1}, /* a request ahead of the load */
      {TICK, T0 + 13 * HOUR + 45 * MIN, -1},
      {TICK, T0 + 14 * HOUR, T0 + 14 * HOUR}},
     4},
    {"not during the restore",
     HOUR,
     1,
     {{TICK, T0 + 13 * HOUR + 30 * MIN, -1},
      {RESTORED, 0, -1}, /* the restored clock's boundary counts as planned */
      {TICK, T0 + 13 * HOUR + 45 * MIN, -1},
      {TICK, T0 + 14 * HOUR, T0 + 14 * HOUR}},
     4},
    {"a restore on a boundary",
     HOUR,
     1,
     {{TICK, T0 + 14 * HOUR, -1},
      {RESTORED, 0, -1},
      {TICK, T0 + 15 * HOUR, T0 + 15 * HOUR}},
     3},
    {"no boundary below the range", HOUR, 0, {{TICK, INT64_MIN + 1, -1}}, 1},
    {"a restore without load",
     HOUR,
     1,
     {{RESTORED, 0, -1}, {TICK, T0 + 15 * HOUR, T0 + 15 * HOUR}},
     2},
};

START_TEST(test_due)
{
    const due_case_t *c = &due_cases[_i];
    opt_periodic_t p;

    opt_periodic_init(&p, c->every_ms, c->restoring);
    for (int i = 0; i < c->n; i++) {
        const step_t *st = &c->steps[i];
        int64_t b = -1;
        if (st->kind == TICK)
            opt_periodic_tick(&p, st->t_ms);
        else if (st->kind == PLANNED)
            opt_periodic_planned(&p, st->t_ms);
        else
            opt_periodic_restored(&p);
        int due = opt_periodic_due(&p, &b);
        ck_assert_msg(due == (st->due_ms >= 0), "%s, step %d: due %d", c->name, i, due);
        if (due)
            ck_assert_msg(b == st->due_ms, "%s, step %d: boundary %lld, want %lld",
                          c->name, i, (long long)b, (long long)st->due_ms);
    }
}
END_TEST

static Suite *periodic_suite(void)
{
    Suite *s = suite_create("optimizer_periodic");
    TCase *tc = tcase_create("periodic");

    tcase_add_test(tc, test_boundary);
    tcase_add_loop_test(tc, test_due, 0, sizeof due_cases / sizeof *due_cases);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(periodic_suite(), 0);
}
