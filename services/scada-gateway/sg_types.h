/*
 * sg_types: the reading the scada-gateway core passes around. A plain
 * fixed-size struct (no pointers), so it can be queued between threads and
 * written to the spool as it is.
 */
#ifndef EMS_SCADA_SG_TYPES_H
#define EMS_SCADA_SG_TYPES_H

#include <stdint.h>

#include "plant/plant.h"

/* Number of quantities (plant_quantity_t values). */
#define SG_NQ 6

/* Order matches the Quality enum of schemas/energy.telemetry.avsc. */
typedef enum {
    SG_Q_GOOD = 0,
    SG_Q_STALE,
    SG_Q_COMM_ERROR,
    SG_Q_OUT_OF_RANGE,
    SG_Q_SUBSTITUTED,
} sg_quality_t;

/* Order matches the TelemetrySource enum. */
typedef enum { SG_SRC_MODBUS = 0, SG_SRC_MQTT, SG_SRC_REPLAY } sg_source_t;

typedef struct sg_reading {
    char site_id[64];
    char meter_id[64];
    int64_t ts_ms;   /* when the reading was taken, UTC ms */
    int64_t seq;     /* per meter, strictly increasing */
    int32_t source;  /* sg_source_t */
    int32_t quality; /* sg_quality_t */
    uint32_t has;    /* bit q set when v[q] holds a value */
    uint32_t pad;
    double v[SG_NQ];  /* canonical units, indexed by plant_quantity_t */
    char detail[160]; /* why quality is not good; "" when good */
} sg_reading_t;

/* "good", "stale", ... as in the schema. */
const char *sg_quality_name(sg_quality_t q);

/* Fills the identity of a reading from its meter (zeroing everything else). */
void sg_reading_init(sg_reading_t *r, const plant_meter_t *m, int64_t ts_ms,
                     sg_source_t src);

#endif
