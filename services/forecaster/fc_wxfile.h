/* fc_wxfile: parsers of the weather files the weather adapter reads.
 *
 * Two shapes are understood, told apart by their first non-blank byte:
 *  - CSV with a header row: the first column is the slot start (ISO 8601,
 *    "YYYY-MM-DD[T ]HH:MM[:SS]" with "Z", "+HH:MM" or nothing for UTC), every
 *    other column a numeric variable. A column named temperature, temp,
 *    temperature_c or temperature_2m is the outdoor temperature (°C); empty
 *    cells, "nan" and "null" are missing.
 *  - JSON of the Open-Meteo forecast API: hourly.time (local times shifted
 *    by utc_offset_seconds, "unixtime" numbers also accepted), and one array
 *    per variable; temperature_2m is the temperature, the others keep their
 *    name with the unit of hourly_units as a suffix ("shortwave_radiation_wm2",
 *    "wind_speed_10m_kmh"). minutely_15 is read the same way when hourly is
 *    absent. latitude and longitude are kept.
 * Slots must be strictly increasing on one grid of 15 or 60 minutes. The
 * parsers do no I/O: text in, struct out.
 */
#ifndef FC_WXFILE_H
#define FC_WXFILE_H

#include <stddef.h>
#include <stdint.h>

#define FC_WX_TEMP "temperature"
#include "forecaster/fc_history.h"

#define FC_WX_MAXVAR 24

typedef struct fc_wxdata {
    int slot_sec; /* 900 or 3600 */
    size_t n;     /* slots */
    int64_t *t;   /* slot starts, UTC seconds */
    size_t nvar;  /* variables; FC_WX_TEMP names the temperature */
    char names[FC_WX_MAXVAR][FC_WX_NAME_SIZE];
    double *v; /* v[i * nvar + j]: slot i, variable j; NaN = missing */
    int has_pos;
    double lat, lon;
    unsigned char *observed; /* per slot 1 = observation; NULL: all forecasts */
    int64_t issued;          /* issue time of the values, UTC seconds (0: unknown) */
} fc_wxdata;

void fc_wxdata_init(fc_wxdata *d);
void fc_wxdata_release(fc_wxdata *d);

/* Parses one file's text (len bytes, need not be NUL-terminated) into *out
 * (initialised by the caller; released and refilled). Returns 0, or -1 with
 * the reason in errstr ("line 7: bad timestamp '2020-13-01'"). */
int fc_wxfile_parse(const char *text, size_t len, fc_wxdata *out, char *errstr,
                    size_t errstr_size);

/* 1 when a file's text looks cut off, as a file still being written does:
 * empty, or ending in neither a line end nor (JSON) a closing brace. */
int fc_wxfile_cut_off(const char *text, size_t len);

/* What the previous scans of the weather directory saw of each file, so a
 * file is read only once its size and modification time held still for a
 * scan interval. Not thread-safe. */
typedef struct fc_wxseen fc_wxseen;

typedef enum {
    FC_WXSEEN_CHANGED = 0, /* new, or changed since the previous scan: wait */
    FC_WXSEEN_STABLE,      /* unchanged since the previous scan: read it */
    FC_WXSEEN_CUT_OFF      /* unchanged since it was read and found cut off */
} fc_wxseen_state;

/* NULL on ENOMEM. _destroy(NULL) does nothing. */
fc_wxseen *fc_wxseen_new(void);
void fc_wxseen_destroy(fc_wxseen *s);

/* A scan is fc_wxseen_begin(), fc_wxseen_note() per file present, then
 * fc_wxseen_end(), which forgets the files the scan did not note. */
void fc_wxseen_begin(fc_wxseen *s);
void fc_wxseen_end(fc_wxseen *s);

/* Notes file `name` with its size and modification time (ns) and says
 * what to do with it. A file it cannot remember (ENOMEM) stays CHANGED. */
fc_wxseen_state fc_wxseen_note(fc_wxseen *s, const char *name, int64_t size,
                               int64_t mtime_ns);

/* Marks a noted file as read and found cut off: FC_WXSEEN_CUT_OFF until it
 * changes. */
void fc_wxseen_mark_cut_off(fc_wxseen *s, const char *name);

/* Index of variable name in d, or -1. */
int fc_wxdata_find(const fc_wxdata *d, const char *name);

/* Longest lead of a weather slot after its issue time: Open-Meteo's
 * forecasts reach 16 days. */
#define FC_WX_MAX_LEAD_S (35LL * 86400)

/* Whether the times of weather issued at `issued` (UTC seconds) are
 * plausible at wall-clock time `now`: issued from 2000 on and at most a day
 * ahead of now, every slot from 2000 on and starting at most
 * FC_WX_MAX_LEAD_S after the issue. A slot years ahead (a mistyped year)
 * would make a site's weather column keep only the history window before
 * it, dropping every value held, and a record issued ahead of the clock
 * would wait for the load behind it for ever. 0, or -1 with errstr. */
int fc_wxdata_check_times(const fc_wxdata *d, int64_t issued, int64_t now, char *errstr,
                          size_t errstr_size);

/* Parses an ISO timestamp "YYYY-MM-DD[T ]HH:MM[:SS][Z|+HH:MM|-HH:MM]" (no
 * zone: UTC) into UTC seconds. 0 or -1. */
int fc_wx_parse_time(const char *s, int64_t *out);

#endif
