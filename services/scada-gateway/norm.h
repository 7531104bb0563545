/*
 * norm: turning a meter's raw Modbus words into one normalised reading.
 * Pure: no I/O, no clock.
 *
 * - Read plan: a meter's registers are grouped into as few Modbus read
 *   requests (blocks) as possible, per register type, at most 125 words each.
 * - Decoding uses the plant model's codec (plant_register_decode), which
 *   applies data type, word and byte order, scale, offset and the unit
 *   factor (W -> kW, Wh -> kWh, MWh -> kWh ...).
 * - Energy counters: sg_counter_update() folds counter rollover and meter
 *   replacement into a monotonic kWh total.
 */
#ifndef EMS_SCADA_NORM_H
#define EMS_SCADA_NORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plant/plant.h"
#include "scada-gateway/sg_types.h"

#define SG_BLOCK_MAX_WORDS 125 /* MODBUS_MAX_READ_REGISTERS */
#define SG_MAX_BLOCKS 16

/* One read request: count words from address of one register type. */
typedef struct sg_block {
    plant_regtype_t type;
    int address;
    int count;
    uint16_t words[SG_BLOCK_MAX_WORDS]; /* filled by the poller */
} sg_block_t;

/* Plans the reads of meter m: registers of one type whose words are at most
 * max_gap words apart share a block. Returns the number of blocks (0..max),
 * or -1 when they do not fit in max blocks. */
int sg_plan_blocks(const plant_meter_t *m, int max_gap, sg_block_t *blocks, int max);

/* The words of register r inside the read blocks, or NULL when no block
 * covers it. */
const uint16_t *sg_block_words(const sg_block_t *blocks, int n,
                               const plant_register_t *r);

/* Decodes every register of m from the blocks into r->v / r->has (values in
 * canonical units; the energy value is the raw counter, before
 * sg_counter_update()). Also returns a hash of all words read, for stale
 * detection, when hash is not NULL. */
void sg_decode_meter(const plant_meter_t *m, const sg_block_t *blocks, int n,
                     sg_reading_t *r, uint64_t *hash);

/* ---- energy counters ---- */

typedef enum {
    SG_CNT_FIRST = 0, /* first value seen: taken as it is */
    SG_CNT_OK,        /* counter moved forward (or stood still) */
    SG_CNT_ROLLOVER,  /* wrapped past its maximum */
    SG_CNT_REPLACED,  /* went backwards: meter replaced or reset */
} sg_counter_event_t;

/* Per-meter counter state; zero-initialise. offset is added to the raw
 * counter; it grows at every rollover and replacement. */
typedef struct sg_counter {
    bool has_prev;
    double prev_raw; /* last raw counter, kWh */
    double offset;   /* kWh added to the raw counter */
} sg_counter_t;

/* The counter's span in kWh for integer data types (2^bits * scale * unit
 * factor): a counter going back by more than half of it has rolled over.
 * 0 for floating-point registers, which do not roll over. */
double sg_counter_wrap_kwh(const plant_register_t *r);

/* Feeds a raw counter value (kWh). A rollover adds wrap_kwh to the offset;
 * a drop that is no rollover is a replacement: the offset absorbs the drop so
 * the total continues from its last value. *total_kwh receives the monotonic
 * total. A non-finite raw leaves the state unchanged and returns SG_CNT_OK
 * with *total_kwh = raw; so does a drop that would make the offset
 * non-finite, with *total_kwh = that offset. */
sg_counter_event_t sg_counter_update(sg_counter_t *c, double raw_kwh, double wrap_kwh,
                                     double *total_kwh);

#endif
