/*
 * ing_fastdec: a hand-written Avro binary decoder for the one telemetry
 * schema the ingester reads (schemas/energy.telemetry.avsc), straight into
 * ing_reading_t, without generic Avro values. The bus hands such bodies
 * over undecoded when the record's writer schema is the local one
 * (bus_consumer_poll_lazy, rec->native); any other writer schema takes the
 * generic path (ing_codec_reading). Both give the same reading for the same
 * record (tests/unit/test_ingester_fastdec.c). No I/O, any thread.
 */
#ifndef EMS_INGESTER_ING_FASTDEC_H
#define EMS_INGESTER_ING_FASTDEC_H

#include <stddef.h>

#include "ingester/ing_types.h"

/* Decodes an Avro body (no wire header) of the local Telemetry schema into
 * r. Returns 0, or -1 with a reason for the DLQ (truncated body, bad union
 * branch or enum symbol, trailing bytes, id longer than ING_ID_MAX - 1).
 * A quality_detail longer than ING_DETAIL_MAX - 1 is truncated. */
int ing_fastdec_reading(const void *body, size_t len, ing_reading_t *r, char *reason,
                        size_t reason_size);

#endif
