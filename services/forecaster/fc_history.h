/* fc_history: rolling time series on a fixed UTC slot grid, and the weather
 * columns that go with them.
 *
 * A series holds one value per slot of `step` seconds from `t0` (UTC seconds,
 * a multiple of step); slots never received are NaN. Values arrive in any
 * order; the window keeps at most max_slots slots and drops the oldest. Not
 * thread-safe: one owner thread per series. */
#ifndef FC_HISTORY_H
#define FC_HISTORY_H

#include <stddef.h>
#include <stdint.h>

typedef struct fc_series {
    int64_t t0; /* UTC seconds of values[0] */
    int step;   /* slot length in seconds */
    size_t n;   /* slots held */
    size_t cap; /* allocated slots */
    size_t max_slots;
    double *values; /* NaN where missing */
} fc_series;

/* Initialises an empty series (no allocation). max_slots 0 means unbounded. */
void fc_series_init(fc_series *s, int step, size_t max_slots);
void fc_series_release(fc_series *s);

/* Stores v at the slot containing UTC instant t, growing the window with NaN
 * gaps as needed. Values older than the window are ignored. Returns 0, or -1
 * on allocation failure (the series is unchanged). */
int fc_series_put(fc_series *s, int64_t t, double v);

/* Value at the slot containing t, or NaN when outside or missing. */
double fc_series_at(const fc_series *s, int64_t t);

/* UTC instant just after the last slot (t0 + n*step); t0 when empty. */
int64_t fc_series_end(const fc_series *s);

/* Number of non-NaN slots in [from, to). */
size_t fc_series_count(const fc_series *s, int64_t from, int64_t to);

/* Mean of non-NaN slots in [from, to); NaN when none. */
double fc_series_mean(const fc_series *s, int64_t from, int64_t to);

/* Weather: named numeric columns on their own grid. Column 0 is by
 * convention the outdoor temperature in °C when `has_temp` is set. */
#define FC_MAX_WX 24
/* Longest weather variable name + 1; the same as the weather adapter's
 * (fc_wxfile.h), so a name the adapter publishes (Open-Meteo's
 * direct_normal_irradiance_instant_wm2 has 36 characters) is taken, not
 * the whole record refused. */
#define FC_WX_NAME_SIZE 48
typedef struct fc_weather {
    size_t ncol;
    char names[FC_MAX_WX][FC_WX_NAME_SIZE];
    fc_series col[FC_MAX_WX];
    int has_temp;
} fc_weather;

void fc_weather_init(fc_weather *w);
void fc_weather_release(fc_weather *w);

/* Adds a column and returns its index, or -1 when full or name too long.
 * A column named "temp" or "temperature" becomes the temperature column. */
int fc_weather_add(fc_weather *w, const char *name, int step, size_t max_slots);

/* Index of a named column or -1. */
int fc_weather_find(const fc_weather *w, const char *name);

/* Value of column c at instant t (slot containing t), NaN if unknown. */
double fc_weather_at(const fc_weather *w, size_t c, int64_t t);

/* Temperature at t or NaN. */
double fc_weather_temp(const fc_weather *w, int64_t t);

#endif
