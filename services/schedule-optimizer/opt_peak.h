/*
 * opt_peak: the peak already reached in a site's billing period, the floor
 * of the demand charge in the optimizer's problem.
 *
 * It is fed the site-scope 15-min intervals of energy.load (event time: the
 * interval's start decides its billing period) and keeps, per interval
 * start, the highest revision seen, so a corrected interval replaces the
 * one it corrects, lower or higher. The billing period is the site-local
 * calendar month (or year) of the tariff. Intervals of the newest period
 * seen and of the one before it are kept (a plan may still be made for the
 * end of the previous month while the new one has begun); older ones are
 * dropped and later ones for them ignored.
 *
 * No I/O and no global state: site-local time comes from the caller's
 * callback (opt_local_fn, whose day is counted from 1970-01-01 local). A
 * tracker is used by one thread at a time.
 */
#ifndef EMS_OPT_PEAK_H
#define EMS_OPT_PEAK_H

#include <stddef.h>
#include <stdint.h>

#include "schedule-optimizer/opt_inputs.h"

/* One energy.load record (only what the optimizer uses). */
typedef struct opt_load {
    char site_id[OPT_ID_MAX];
    int site_scope; /* 1 = scope site, 0 = one meter (not used for the peak) */
    int64_t start_ms, end_ms;
    double mean_kw;
    int revision;
} opt_load_t;

/* How far an interval's start may lie ahead of the wall clock. */
#define OPT_LOAD_MAX_FUTURE_MS (24LL * 3600 * 1000)
/* The longest interval taken (the ingester's are 15 min). */
#define OPT_LOAD_MAX_LENGTH_MS (24LL * 3600 * 1000)

/* Checks a decoded interval: end after start, at most
 * OPT_LOAD_MAX_LENGTH_MS long, finite mean power, revision >= 0, a start
 * at most OPT_LOAD_MAX_FUTURE_MS after now_ms (one interval with a
 * mistyped year would make its billing period the newest, drop the real
 * month's intervals and have every later one ignored as old: the plans'
 * peak floor would fall to 0 for good, restarts included; and an end far
 * ahead, of a start in time, would become the site's event-time clock and
 * stop its periodic plans the same way). Returns
 * 0, or -1 with a one-line reason (for the DLQ header). */
int opt_load_check(const opt_load_t *l, int64_t now_ms, char *reason,
                   size_t reason_size);

typedef enum { OPT_BILL_MONTH = 0, OPT_BILL_YEAR } opt_billing_t;

/* The plant model's billing_period ("month", "year"; NULL = month). */
opt_billing_t opt_billing_parse(const char *name);

/* A number per billing period that grows by one from one period to the
 * next: local year * 12 + month - 1 for months, the local year for years. */
int64_t opt_billing_key(opt_billing_t period, const opt_local_t *local);

/* The first of n slots (their site-local calendars, in order) that lies in
 * a later billing period than slot 0; 0 when all lie in slot 0's. */
int opt_billing_next_slot(opt_billing_t period, const opt_local_t *slots, int n);

typedef struct opt_peak opt_peak_t;

/* A tracker for one site; NULL when out of memory. */
opt_peak_t *opt_peak_new(opt_billing_t period);
/* Frees the tracker; NULL is a no-op. */
void opt_peak_destroy(opt_peak_t *p);

/* Takes an interval. Returns 1 when it was kept (new interval, or a
 * revision at least as high as the held one), 0 when ignored (lower
 * revision, or a period older than the kept ones), -1 when out of memory
 * (nothing changed). */
int opt_peak_add(opt_peak_t *p, const opt_load_t *l, opt_local_fn local,
                 void *local_ctx);

/* The floor for a plan whose horizon starts at at_ms: the highest mean kW
 * of the intervals of at_ms's billing period that ended by cutoff_ms (the
 * plan's event time, so that a replay sees what living through it saw); 0
 * when there is none. */
double opt_peak_floor(const opt_peak_t *p, int64_t at_ms, int64_t cutoff_ms,
                      opt_local_fn local, void *local_ctx);

/* Number of intervals held (for tests and metrics). */
size_t opt_peak_count(const opt_peak_t *p);

#endif
