/* fc_site: the forecaster service's state of one site, without I/O.
 *
 * A site holds its rolling load history (site-scope intervals, the highest
 * revision of each slot wins), its weather columns, the forecaster core, and
 * the event-time schedule of its runs: a day-ahead run at the configured
 * site-local time for the next site-local day and an intraday run every hour
 * for the next 24 h. The clock of a site is the latest interval end applied
 * from energy.load; the wall clock is never read, so a replay issues exactly
 * the runs a live service would have issued. Not thread-safe: one owner
 * thread.
 *
 * Two ways in: fc_site_put_*() apply a value at once (a history built by
 * hand); fc_site_queue_*() hold the records of a consumed batch, which
 * fc_site_due() applies one by one in event-time order, stopping whenever a
 * run falls due, so a run sees exactly the records before it whatever the
 * batch size (a batch of weeks gives the runs of one record per batch).
 */
#ifndef FC_SITE_H
#define FC_SITE_H

#include "forecaster/fc_forecast.h"
#include "forecaster/fc_wxfile.h"

#include <stddef.h>
#include <stdint.h>

typedef struct fc_site_conf {
    int64_t warmup;       /* seconds of load history before the first run */
    int64_t backfill;     /* at fc_site_catch_up(): runs further behind the
                             newest data are skipped (0: none) */
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
/* Latest interval end applied (UTC seconds), 0 before the first interval. */
int64_t fc_site_clock(const fc_site *s);
/* Latest interval end applied or queued, 0 before the first interval. */
int64_t fc_site_newest(const fc_site *s);
/* Records queued and not yet applied. */
size_t fc_site_pending(const fc_site *s);
/* Records the queue has room for, applied ones included (its memory). */
size_t fc_site_queue_room(const fc_site *s);

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

/* As fc_site_put_load(), but the interval is queued for fc_site_due(), its
 * event time its end, or the newest interval end queued before it when that
 * is later (a late revision counts from when it came, so load records keep
 * their order of arrival). Returns FC_PUT_STORED (queued), FC_PUT_STALE
 * when the applied history already holds a higher revision of the slot
 * (nothing is queued), FC_PUT_INVALID with reason, or FC_PUT_NOMEM. A
 * revision found stale only when applied is counted (fc_site_take_stale). */
int fc_site_queue_load(fc_site *s, int64_t start, int64_t end, double kw, int revision,
                       char *reason, size_t reason_size);

/* Queues one weather record (copied; NaN values are missing) for
 * fc_site_due(), applied as a whole at its event time: its issue time
 * (wx->issued; 0 = unknown: the newest interval end queued so far, that is
 * its arrival). A record issued after the newest queued interval waits until
 * an interval that ends at or after its issue time is queued, so no run sees
 * weather issued after it. Values are ranked as fc_site_put_weather_from()
 * does. Returns FC_PUT_STORED, FC_PUT_INVALID (bad slot length, no room for
 * its new variables; reason filled) or FC_PUT_NOMEM. */
int fc_site_queue_weather(fc_site *s, const fc_wxdata *wx, char *reason,
                          size_t reason_size);

/* Load intervals and weather values found stale when applied since the last
 * call (either may be NULL); the counts restart at 0. */
void fc_site_take_stale(fc_site *s, size_t *load, size_t *weather);

/* Marks the records put or queued so far as the history found at start (a
 * service that starts late): runs due more than backfill before the newest
 * interval are skipped, later ones are issued as fc_site_due() reaches them.
 * The queued records before the first run still to be issued (after the
 * runs already published, fc_site_published, and the skipped ones) are
 * applied at once, so the state is that of a service about to issue it.
 * This is the only place backfill applies: in a running service no run is
 * skipped, however far one batch moves the clock. */
void fc_site_catch_up(fc_site *s);

/* Runs issued at or before `until` are never skipped by the catch-up,
 * however far behind the newest interval: the previous instance had the
 * records that made them due when it stopped (in the middle of a backlog),
 * and would have issued them had it run on. Call before fc_site_catch_up();
 * the latest `until` given counts. */
void fc_site_keep_runs(fc_site *s, int64_t until);

/* Records that a run of kind k issued at `issued_at` was already published
 * (read back from energy.forecast at start), so it is not issued again. */
void fc_site_published(fc_site *s, fc_kind k, int64_t issued_at);

/* The next run due on event time: 1 with *k and *issue filled when the
 * clock has passed a scheduled issue time and the run may go (its weather
 * has arrived, the site never had weather, or the clock is weather_wait
 * past it); 0 when none is due. Before a run is looked for, queued records
 * are applied in event-time order until one is due or none is left (weather
 * waiting for the clock stays queued). Runs before the catch-up horizon
 * (fc_site_catch_up) are skipped and counted in *skipped (may be NULL). */
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
