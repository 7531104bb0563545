/* fc_codec: the forecaster's records to and from Avro generic values
 * (schemas/energy.load.avsc, energy.weather.avsc, energy.forecast.avsc).
 * Pure functions over avro_value_t; the values belong to the caller. */
#ifndef FC_CODEC_H
#define FC_CODEC_H

#include "forecaster/fc_forecast.h"
#include "forecaster/fc_wxfile.h"

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fc_load_rec {
    char site_id[64];
    int site_scope; /* 1: scope site; 0: one meter */
    int64_t start_ms, end_ms;
    double mean_kw;
    int revision;
} fc_load_rec;

/* Decodes an energy.load value. 0, or -1 with reason. */
int fc_codec_load(avro_value_t *v, fc_load_rec *out, char *reason, size_t reason_size);

/* Decodes an energy.weather value into *wx (initialised by the caller;
 * refilled): variables are the union of the slots' variables, temperature
 * under FC_WX_TEMP, missing ones NaN; wx->observed says per slot whether
 * it is an observation and wx->issued is the record's issued_at. A NaN or infinite
 * number in the record is an error (null is the way to say "missing"). 0 or -1 with
 * reason. */
int fc_codec_weather(avro_value_t *v, char *site_id, size_t site_size, fc_wxdata *wx,
                     char *reason, size_t reason_size);

/* Reads site, kind and issue time (UTC seconds) of an energy.forecast value.
 * *kind is -1 for on_demand runs. 0 or -1 with reason. */
int fc_codec_forecast_head(avro_value_t *v, char *site_id, size_t site_size, int *kind,
                           int64_t *issued_at, char *reason, size_t reason_size);

/* Fills an energy.forecast value (from bus_value_new) from a forecast of
 * site_id. 0 or -1. */
int fc_codec_forecast(avro_value_t *v, const char *site_id, const fc_forecast *f);

/* Fills an energy.weather value from parsed file data. Slots that end by
 * issued_ms are "observed", later ones "forecast". 0 or -1. */
int fc_codec_weather_out(avro_value_t *v, const char *site_id, const char *provider,
                         int64_t issued_ms, const fc_wxdata *wx);

/* The schema's quality symbol for a forecast: "ok", "short_history",
 * "missing_weather", "history_gaps" or "model_failed". */
const char *fc_codec_quality(const fc_forecast *f);

#endif
