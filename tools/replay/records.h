/*
 * records: turns rows of the Dutch data set into energy.telemetry,
 * energy.prices and energy.weather records (avro-c generic values of the
 * schemas in schemas/), filling fields by name. No I/O.
 */
#ifndef EMS_TOOLS_REPLAY_RECORDS_H
#define EMS_TOOLS_REPLAY_RECORDS_H

#include <avro.h>
#include <stdbool.h>

#include "dataset/dataset.h"

typedef struct replay_site {
    const char *site_id;  /* record key and site_id, "nl-neerijnen" */
    const char *meter_id; /* the main meter, "main" */
    const char *market;   /* market of the price curve: the plant's site market, "NL" */
    const char *source;   /* price source and weather provider */
    double latitude, longitude;
    bool effective_prices; /* curve_kind effective (site_id set) vs market */
} replay_site_t;

/* One meter reading: power_kw = load * 1000 (negative = export), energy_kwh
 * the import counter given by the caller, quality good, source replay,
 * seq = the reading time in seconds (so replaying twice yields the same
 * (meter_id, seq) and consumers drop the duplicates). */
int rec_telemetry(avro_value_t *v, const replay_site_t *s, const dataset_nl_row_t *row,
                  double energy_kwh, char *errstr, size_t errstr_size);

/* The day-ahead curve of the delivery day starting at day_ms: nslots
 * published quarter-hour slots (96, or 92/100 for a local DST day), classed
 * cheap (<= the day's 25th percentile), peak (>= 75th) or normal;
 * issued_at = issued_ms. */
int rec_prices(avro_value_t *v, const replay_site_t *s, int64_t day_ms, int nslots,
               const double *prices, int64_t issued_ms, char *errstr,
               size_t errstr_size);

/* The weather of the rows in [day_ms, day_ms + 1 day) as one forecast series
 * (the data set's weather is numerical weather prediction, not station
 * observations) issued at issued_ms. Returns the number of slots, or -1. */
int rec_weather(avro_value_t *v, const replay_site_t *s, int64_t day_ms,
                const dataset_nl_row_t *rows, size_t n, int64_t issued_ms, char *errstr,
                size_t errstr_size);

/* "2020-11-03T00:00:00Z" into buf (at least 21 bytes); returns buf. */
char *rec_iso8601(int64_t ms, char *buf, size_t size);

#endif
