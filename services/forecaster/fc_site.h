/* fc_site: the forecaster service's state of one site, without I/O.
 *
 * A site holds its rolling load history (site-scope intervals, the highest
 * revision of each slot wins), its weather columns, the forecaster core, and
 * the event-time schedule of its runs: a day-ahead run at the configured
 * site-local time for the next site-local day and an intraday run every hour
 * for the next 24 h. The clock of a site is the latest interval end seen on
 * energy.load; the wall clock is never read, so a replay issues exactly the
 * runs a live service would have issued. Not thread-safe: one owner thread.
 */
#ifndef FC_SITE_H
#define FC_SITE_H

#include "forecaster/fc_forecast.h"

#include <stddef.h>
#include <stdint.h>

typedef struct fc_site_conf {
    int64_t warmup;       /* seconds of load history before the first run */
    int64_t backfill;     /* runs further behind the clock are skipped (0: none) */
    int64_t weather_wait; /* seconds a run waits for weather covering it */
    int intraday_every;   /* seconds between intraday runs (3600) */
    size_t max_slots;     /* history kept, in load slots */
} fc_site_conf;

void fc_site_conf_default(fc_site_conf *c, int step);

typedef struct fc_site fc_site;

/* Makes the state of site `id` in time zone tz with public holidays given as
 * "YYYY-MM-DD" (copied). p and c are copied. Returns NULL with errstr filled
 * on an unknown zone, a bad date or ENOMEM. */
fc_site *fc_site_new(const char *id, const char *tz, const char *const *holidays,
                     size_t nhol, const fc_params *p, const fc_site_conf *c,
                     char *errstr, size_t errstr_size);
void fc_site_destroy(fc_site *s);

const char *fc_site_id(const fc_site *s);
const fc_series *fc_site_load(const fc_site *s);
const fc_weather *fc_site_weather(const fc_site *s);
fc_forecaster *fc_site_forecaster(fc_site *s);
const fc_calendar *fc_site_calendar(const fc_site *s);
/* Latest interval end seen (UTC seconds), 0 before the first interval. */
int64_t fc_site_clock(const fc_site *s);

enum { FC_PUT_STORED = 0, FC_PUT_STALE = 1, FC_PUT_INVALID = -1, FC_PUT_NOMEM = -2 };

/* Stores the mean load kw of interval [start, end) (UTC seconds) with its
 * revision. Returns FC_PUT_STORED; FC_PUT_STALE when a higher revision of
 * that slot is already held (nothing changes); FC_PUT_INVALID with reason
 * filled (NaN or infinite value, interval not one slot long or not on the
 * slot grid); FC_PUT_NOMEM. Moves the clock forward to end. */
int fc_site_put_load(fc_site *s, int64_t start, int64_t end, double kw, int revision,
                     char *reason, size_t reason_size);

/* Stores weather variable `name` ("temperature" for the outdoor temperature,
 * °C) for the slot [start, start + slot_sec). A slot longer than the load
 * step fills every load slot inside it. The first variable stored becomes a
 * column in arrival order. Returns FC_PUT_STORED, FC_PUT_INVALID (NaN, no
 * room for another column; reason filled) or FC_PUT_NOMEM. */
int fc_site_put_weather(fc_site *s, const char *name, int64_t start, int slot_sec,
                        double v, char *reason, size_t reason_size);

/* As fc_site_put_weather() for a value of known origin: an observation
 * (observed 1) or a forecast issued at `issued` (UTC seconds). Per variable
 * and slot, an observation beats any forecast, and a newer issue beats an
 * older one of the same kind; an equal one replaces (a redelivery). Values
 * of unknown origin (fc_site_put_weather) rank below both. Returns
 * FC_PUT_STALE when every slot it covers holds a value that beats it
 * (nothing changes), else as fc_site_put_weather(). */
int fc_site_put_weather_from(fc_site *s, const char *name, int64_t start, int slot_sec,
                             double v, int observed, int64_t issued, char *reason,
                             size_t reason_size);

/* Records that a run of kind k issued at `issued_at` was already published
 * (read back from energy.forecast at start), so it is not issued again. */
void fc_site_published(fc_site *s, fc_kind k, int64_t issued_at);

/* The next run due on event time: 1 with *k and *issue filled when the
 * clock has passed a scheduled issue time and the run may go (its weather
 * has arrived, the site never had weather, or the clock is weather_wait
 * past it); 0 when none is due. Runs more than `backfill` behind the clock
 * are skipped and counted in *skipped (may be NULL). */
int fc_site_due(fc_site *s, fc_kind *k, int64_t *issue, size_t *skipped);

/* Issues run k at `issue` through fc_forecaster_issue() (retraining first
 * when the cadence says so; *trained tells, may be NULL) and moves the
 * schedule past it. Returns 0, or -1 on ENOMEM. */
int fc_site_issue(fc_site *s, fc_kind k, int64_t issue, fc_forecast *out, int *trained);

/* First scheduled issue time of kind k at or after t (UTC seconds). */
int64_t fc_site_issue_at_or_after(const fc_site *s, fc_kind k, int64_t t);

/* End of the horizon of a run of kind k issued at `issue`. */
int64_t fc_site_horizon_end(const fc_site *s, fc_kind k, int64_t issue);

#endif
