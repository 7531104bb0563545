/*
 * quality: the quality flag of a reading (schemas/energy.telemetry.avsc).
 * Pure: the caller passes the time and keeps the per-meter state.
 *
 * Precedence: comm_error (set by the poller, values null) > out_of_range
 * (a value not finite, power outside the meter's physical range, power
 * factor outside [-1, 1]) > substituted (the energy total was carried over a
 * meter replacement) > stale (every word read unchanged for longer than
 * stale_after_ms) > good. Readings are flagged, never dropped.
 */
#ifndef EMS_SCADA_QUALITY_H
#define EMS_SCADA_QUALITY_H

#include <stdbool.h>
#include <stdint.h>

#include "plant/plant.h"
#include "scada-gateway/norm.h"
#include "scada-gateway/sg_types.h"

/* Per-meter stale tracking; zero-initialise. */
typedef struct sg_stale {
    bool has;
    uint64_t hash;    /* hash of the words last seen */
    int64_t since_ms; /* when they were first seen unchanged */
} sg_stale_t;

/* Sets r->quality and r->detail for a reading whose values were read.
 * words_hash comes from sg_decode_meter(); counter_event from
 * sg_counter_update() (SG_CNT_OK when the meter has no energy register);
 * stale_after_ms 0 disables stale detection. Returns the quality. */
sg_quality_t sg_quality_assess(const plant_meter_t *m, sg_reading_t *r, sg_stale_t *st,
                               uint64_t words_hash, sg_counter_event_t counter_event,
                               int64_t now_ms, int64_t stale_after_ms);

/* Marks r as comm_error with the reason (values cleared). */
void sg_quality_comm_error(sg_reading_t *r, const char *reason);

#endif
