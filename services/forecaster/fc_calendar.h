/* fc_calendar: site-local calendar for the forecaster core.
 *
 * A calendar maps UTC instants to the site's wall clock (slot of day, day of
 * week, public holiday) and finds the UTC bounds of a site-local day, so DST
 * days have 92 or 100 quarter-hours. The UTC offset table is built once, at
 * construction, from the system time zone database; lookups afterwards are
 * pure functions of the table and safe from any thread. */
#ifndef FC_CALENDAR_H
#define FC_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

typedef struct fc_calendar fc_calendar;

enum { FC_DAY_HOLIDAY = 7, FC_DAY_TYPES = 8 };

/* Builds a calendar for time zone tz (e.g. "Europe/Amsterdam") and nhol
 * public holidays given as site-local dates "YYYY-MM-DD". Returns NULL and
 * fills errstr on an unknown zone or a malformed date. Construction briefly
 * sets the process TZ variable under a lock and restores it, so it must not
 * run while another thread calls localtime() or mktime(). */
fc_calendar *fc_calendar_new(const char *tz, const char *const *holidays, size_t nhol,
                             char *errstr, size_t errstr_size);
void fc_calendar_destroy(fc_calendar *cal);

const char *fc_calendar_tz(const fc_calendar *cal);

/* UTC offset (seconds east of UTC) in effect at UTC instant t. */
int fc_cal_offset(const fc_calendar *cal, int64_t t);

/* Site-local day number (days since 1970-01-01 on the site clock). */
int64_t fc_cal_local_day(const fc_calendar *cal, int64_t t);

/* Seconds since local midnight on the wall clock (0..86399). */
int fc_cal_sec_of_day(const fc_calendar *cal, int64_t t);

/* Wall-clock slot of day for a step in seconds: 0..86400/step-1. In the
 * repeated autumn hour two instants share a slot; in spring one is absent. */
int fc_cal_slot_of_day(const fc_calendar *cal, int64_t t, int step);

/* Day of week, Monday = 0 .. Sunday = 6. */
int fc_cal_dow(const fc_calendar *cal, int64_t t);

/* 1 when the site-local date of t is in the holiday list. */
int fc_cal_is_holiday(const fc_calendar *cal, int64_t t);

/* Day type: the day of week, or FC_DAY_HOLIDAY on a public holiday. */
int fc_cal_day_type(const fc_calendar *cal, int64_t t);

/* UTC instant of the start of site-local day `day` (local midnight). */
int64_t fc_cal_day_start(const fc_calendar *cal, int64_t day);

/* Number of slots of `step` seconds in site-local day `day` (96 on a normal
 * day at 15 min, 92 or 100 on DST change days). */
int fc_cal_slots_in_day(const fc_calendar *cal, int64_t day, int step);

/* The UTC instant with the same wall-clock time `days` local days earlier
 * (days > 0) or later (days < 0) than t. */
int64_t fc_cal_shift_days(const fc_calendar *cal, int64_t t, int days);

/* UTC instant of local wall-clock time (day, sec_of_day). */
int64_t fc_cal_local_to_utc(const fc_calendar *cal, int64_t day, int sec_of_day);

/* Parses "YYYY-MM-DD" into a day number since 1970-01-01; -1 on error
 * (returns 0 and sets *out on success). */
int fc_parse_date(const char *s, int64_t *out);

/* Civil day number for a proleptic Gregorian date. */
int64_t fc_days_from_civil(int y, int m, int d);

#endif
