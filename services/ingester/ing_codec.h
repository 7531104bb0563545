/*
 * ing_codec: Avro generic values <-> the core's plain records, for
 * energy.telemetry (in), energy.load and energy.gaps (out).
 */
#ifndef EMS_INGESTER_ING_CODEC_H
#define EMS_INGESTER_ING_CODEC_H

#include <avro.h>
#include <stddef.h>

#include "ingester/ing_types.h"

/* Reads a Telemetry value into r. Returns 0, or -1 with a reason (missing
 * field, id too long) for the DLQ. */
int ing_codec_reading(avro_value_t *v, ing_reading_t *r, char *reason,
                      size_t reason_size);
/* Fills a LoadInterval value (made by bus_value_new). 0 or -1. */
int ing_codec_interval(const ing_interval_t *iv, avro_value_t *v);
/* Fills a DataGap value. 0 or -1. */
int ing_codec_gap(const ing_gap_t *g, avro_value_t *v);

#endif
