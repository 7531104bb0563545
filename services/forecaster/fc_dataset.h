/* fc_dataset: reads the backtest CSV files into a load series and weather.
 *
 * Formats:
 *  - FC_FMT_NL: OpenSTEF reference set; first column an ISO-8601 timestamp
 *    with offset, a `load` column (MW, 15-min means), every other numeric
 *    column except prices becomes a weather column (`temp` in °C).
 *  - FC_FMT_ONTARIO: IESO-style files keyed by `date` (DD/MM/YYYY) and `hour`
 *    (1..24, hour ending, EST all year); `OntDemand` is the load (MW),
 *    `Temperature` the temperature; several files merge on the keys.
 * Prices never become features (they are not known at the issue time).
 * Unparsable cells (and the string "nan") are missing values. */
#ifndef FC_DATASET_H
#define FC_DATASET_H

#include "forecaster/fc_history.h"

typedef enum { FC_FMT_NL, FC_FMT_ONTARIO } fc_format;

/* Parses "nl" or "ontario"; -1 otherwise. */
int fc_format_parse(const char *s);
/* Slot length of a format in seconds. */
int fc_format_step(fc_format f);

/* Adds the rows of one file to load and wx (initialised by the caller with
 * the format's step, wx may already hold columns from an earlier file).
 * Returns the number of rows read, or -1 with errstr filled. */
long fc_dataset_read(fc_format fmt, const char *path, fc_series *load, fc_weather *wx,
                     char *errstr, size_t errstr_size);

/* Parses "YYYY-MM-DD HH:MM:SS+HH:MM" (or with 'T', or 'Z') to UTC seconds.
 * Returns 0, or -1 when malformed. */
int fc_parse_iso(const char *s, int64_t *out);

#endif
