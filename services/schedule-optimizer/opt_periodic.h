/*
 * opt_periodic: when a site is due for a periodic (rolling-horizon) re-plan.
 *
 * Event time, not the wall clock: a site's clock is the newest end of its
 * site-scope energy.load intervals, so replaying a month at full speed
 * re-plans at the same instants as living through it. Boundaries are the
 * multiples of the cadence since the Unix epoch (UTC). A plan is due when
 * the clock has reached a boundary later than the event time of the site's
 * last plan (of any trigger); it is made for the newest boundary reached,
 * so a service that lags behind catches up with one plan, not one per
 * missed boundary. During the start-up restore nothing is due; the restore
 * counts as having planned the boundary its newest clock reached, so the
 * first boundary after it is the first one planned, the same on every
 * restart.
 *
 * No I/O and no global state; one tracker per site, used by one thread.
 */
#ifndef EMS_OPT_PERIODIC_H
#define EMS_OPT_PERIODIC_H

#include <stddef.h>
#include <stdint.h>

/* The cadence must be whole slots of the finest grid the suite uses (the
 * config loader refuses anything else: the option's step). */
#define OPT_PERIODIC_STEP_MS (15LL * 60 * 1000)

typedef struct opt_periodic {
    int64_t every_ms; /* cadence; 0 = off */
    int64_t clock_ms; /* newest load interval end; INT64_MIN = none yet */
    int64_t last_ms;  /* event time of the last plan; INT64_MIN = none */
    int restoring;    /* 1 while the start-up restore runs */
} opt_periodic_t;

/* A tracker with no clock and no plan yet; restoring = 1 when a restore
 * runs first (then nothing is due until opt_periodic_restored). */
void opt_periodic_init(opt_periodic_t *p, int64_t every_ms, int restoring);

/* The newest boundary at or before t_ms (floor to a multiple of every_ms,
 * also before 1970); INT64_MIN when it lies below the int64_t range (no
 * boundary: nothing is due); every_ms must be > 0. */
int64_t opt_periodic_boundary(int64_t every_ms, int64_t t_ms);

/* The site's clock reached end_ms (an interval's end); an older end leaves
 * it where it is. */
void opt_periodic_tick(opt_periodic_t *p, int64_t end_ms);

/* A plan with event time created_ms was made (or attempted) for the site:
 * no periodic plan is due for boundaries up to created_ms. */
void opt_periodic_planned(opt_periodic_t *p, int64_t created_ms);

/* The restore is over: the boundary its newest clock reached counts as
 * planned. */
void opt_periodic_restored(opt_periodic_t *p);

/* Whether a periodic plan is due: 1 with *boundary_ms = the newest
 * boundary reached (the plan's event time), 0 when off, restoring, without
 * a clock, or when the newest boundary reached is not later than the last
 * plan. */
int opt_periodic_due(const opt_periodic_t *p, int64_t *boundary_ms);

#endif
