/*
 * dataset: readers for the real measured data sets shipped in tests/data/
 * (see docs/data.md). They turn the upstream CSV files, which are never
 * edited, into plain rows in the suite's units and UTC milliseconds. No
 * Kafka, no Avro: tools/replay and the tests build on these.
 *
 * Dutch substation (OpenSTEF, 307-train-data.csv / 307-test-data.csv): one
 * row per quarter-hour. The first, unnamed column is an ISO-8601 timestamp
 * with offset ("2020-08-15 00:00:00+00:00"); the other columns are found by
 * their header name, so their order does not matter.
 *
 * Ontario 2016 (load2016.csv, price2016.csv, temperature2016.csv): three
 * hourly files keyed by date (DD/MM/YYYY) and hour (1..24, hour-ending, EST
 * all year), merged here by that key.
 *
 * Errors: fallible calls return -1 (or NULL) and fill errstr with
 * "FILE:LINE: reason". Handles are used by one thread at a time.
 */
#ifndef EMS_DATASET_DATASET_H
#define EMS_DATASET_DATASET_H

#include <stddef.h>
#include <stdint.h>

/* ---- time helpers ---- */

/* Days since 1970-01-01 of a proleptic Gregorian civil date. */
int64_t dataset_days_from_civil(int y, unsigned m, unsigned d);
/* Parses "YYYY-MM-DD[ T]HH:MM[:SS[.fff]][Z|+HH:MM|-HH:MM]" (no offset = UTC)
 * into UTC milliseconds. Returns 0, or -1 when the text is not such a time
 * or has trailing characters. */
int dataset_parse_iso8601(const char *s, int64_t *ms);
/* Parses "YYYY-MM-DD" as midnight UTC. Returns 0 or -1. */
int dataset_parse_date(const char *s, int64_t *ms);

/* ---- Dutch substation, 15-minute rows ---- */

/* One row; units of the suite. Missing columns are NAN. */
typedef struct dataset_nl_row {
    int64_t ts_ms;         /* UTC, the row's timestamp (start of the quarter-hour) */
    double load_mw;        /* net active power, MW; < 0 is net feed-in */
    double price_eur_mwh;  /* day-ahead price, EUR/MWh (hourly, repeated) */
    double temp_c;         /* 2 m air temperature, degrees C (model value) */
    double radiation_j_m2; /* global radiation, J/m2 per hour (inferred unit) */
    double clouds_pct;     /* cloud cover, % */
    double humidity;       /* relative humidity, fraction 0..1 */
    double pressure_pa;    /* air pressure, Pa */
    double wind_speed_ms;  /* wind speed at 10 m, m/s */
    double wind_speed_100m_ms; /* wind speed at 100 m, m/s */
    double wind_dir_deg;       /* wind direction, degrees */
    double rain_mm;            /* precipitation, mm per hour (inferred) */
} dataset_nl_row_t;

/* Column positions found in a header line; -1 when absent. */
typedef struct dataset_nl_cols {
    int ncols;
    int ts, load, price, temp, radiation, clouds, humidity, pressure, wind, wind100,
        winddeg, rain;
} dataset_nl_cols_t;

/* Reads the header line (modified in place: split at commas). Requires the
 * first column to be unnamed (the timestamp) and a "load" column. Returns 0,
 * or -1 with errstr. Pure: no I/O. */
int dataset_nl_parse_header(char *line, dataset_nl_cols_t *cols, char *errstr,
                            size_t errstr_size);
/* Parses one data line (modified in place) into row. Every present column
 * must be a number; load must be finite. Returns 0, or -1 with errstr naming
 * the column. Pure: no I/O. */
int dataset_nl_parse_line(const dataset_nl_cols_t *cols, char *line,
                          dataset_nl_row_t *row, char *errstr, size_t errstr_size);

typedef struct dataset_nl dataset_nl_t;

/* Opens a CSV and reads its header. Returns a handle or NULL with errstr. */
dataset_nl_t *dataset_nl_open(const char *path, char *errstr, size_t errstr_size);
/* Reads the next row. Returns 1 with *row filled, 0 at end of file, -1 with
 * errstr ("FILE:LINE: reason") on a malformed line. */
int dataset_nl_next(dataset_nl_t *ds, dataset_nl_row_t *row, char *errstr,
                    size_t errstr_size);
/* Closes the file and frees the handle. NULL is a no-op. */
void dataset_nl_destroy(dataset_nl_t *ds);

/* Reads the given files in order into one array sorted by time, dropping a
 * row whose timestamp is not after the previous one (the train and test
 * files share one quarter-hour). Only rows with from_ms <= ts < to_ms are
 * kept (0 for either bound means open). On success returns 0 and *rows
 * (caller frees with free()) and *n. -1 with errstr otherwise. */
int dataset_nl_load(const char *const *paths, size_t npaths, int64_t from_ms,
                    int64_t to_ms, dataset_nl_row_t **rows, size_t *n, char *errstr,
                    size_t errstr_size);

#define DATASET_QH_MS (15 * 60 * 1000LL)
#define DATASET_DAY_MS (24 * 3600 * 1000LL)
#define DATASET_DAY_SLOTS 96

/* Collects the 96 quarter-hour day-ahead prices of the UTC day starting at
 * day_ms (a multiple of DATASET_DAY_MS) from rows sorted by time. A missing
 * quarter-hour takes the price of another quarter-hour of the same hour (the
 * price is hourly, repeated). Returns the number of quarter-hours found in
 * the data (96 = complete), or -1 when some hour has no row at all, in which
 * case the day has no complete curve. Pure. */
int dataset_nl_day_prices(const dataset_nl_row_t *rows, size_t n, int64_t day_ms,
                          double prices[DATASET_DAY_SLOTS]);

/* Energy added to an import (consumption) counter by power_kw held for dt_ms:
 * kWh, zero for export (power_kw < 0) or a non-positive dt. */
double dataset_import_kwh(double power_kw, int64_t dt_ms);

/* ---- Ontario 2016, hourly rows ---- */

typedef struct dataset_ontario_row {
    int64_t ts_ms;        /* UTC start of the hour (hour-ending h in EST -> h-1) */
    int year, month, day; /* the file's date */
    int hour;             /* the file's hour, 1..24 */
    double demand_mw;     /* Ontario demand, MW (hourly mean) */
    double price_cad_mwh; /* HOEP converted from CAD/kWh to CAD/MWh; NAN if absent */
    double temp_c;        /* Toronto temperature, degrees C; NAN for "nan"/absent */
} dataset_ontario_row_t;

/* Parses a "DD/MM/YYYY" date and an hour 1..24 into the UTC start of that
 * hour (EST, UTC-5, all year). Returns 0 or -1. */
int dataset_ontario_parse_key(const char *date, const char *hour,
                              dataset_ontario_row_t *row);

typedef struct dataset_ontario dataset_ontario_t;

/* Reads dir/load2016.csv, dir/price2016.csv and dir/temperature2016.csv and
 * joins them on (date, hour): every load row gives one merged row; a key
 * absent from the price or temperature file leaves that value NAN. Returns a
 * handle or NULL with errstr. */
dataset_ontario_t *dataset_ontario_open(const char *dir, char *errstr,
                                        size_t errstr_size);
/* Number of merged rows. */
size_t dataset_ontario_count(const dataset_ontario_t *ds);
/* The merged row i (0-based, in time order), borrowed; NULL past the end. */
const dataset_ontario_row_t *dataset_ontario_row(const dataset_ontario_t *ds, size_t i);
/* Frees the handle. NULL is a no-op. */
void dataset_ontario_destroy(dataset_ontario_t *ds);

#endif
