/*
 * ing_types: the plain records the ingester core works on. No I/O, no Avro:
 * the adapters (ing_codec, ing_pg, ing_redis) convert from and to the wire
 * and the database.
 */
#ifndef EMS_INGESTER_ING_TYPES_H
#define EMS_INGESTER_ING_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#define ING_ID_MAX 64      /* site and meter ids, NUL included */
#define ING_DETAIL_MAX 128 /* quality_detail, truncated */
#define ING_GAP_ID_MAX (ING_ID_MAX + 32)

/* Quality symbols, in the order of the Avro enum Quality. */
typedef enum {
    ING_Q_GOOD = 0,
    ING_Q_STALE,
    ING_Q_COMM_ERROR,
    ING_Q_OUT_OF_RANGE,
    ING_Q_SUBSTITUTED,
} ing_quality_t;

/* Bits of ing_reading_t.present: which nullable quantities were read. */
enum {
    ING_HAS_POWER = 1u << 0,
    ING_HAS_ENERGY = 1u << 1,
    ING_HAS_VOLTAGE = 1u << 2,
    ING_HAS_CURRENT = 1u << 3,
    ING_HAS_FREQUENCY = 1u << 4,
    ING_HAS_PF = 1u << 5,
};

/* What the energy counter check (ing_rollup_check) decided about a reading
 * whose counter fell or follows a fall; ing_rollup_add() acts on it. */
typedef enum {
    ING_RESET_NONE = 0, /* an ordinary reading */
    ING_RESET_PENDING,  /* a reset candidate or one of its followers: held */
    ING_RESET_CONFIRM,  /* the follower that confirms the reset */
    ING_RESET_GLITCH,   /* back on the old counter: the held readings were a glitch */
} ing_reset_t;

/* One energy.telemetry record. */
typedef struct ing_reading {
    char site_id[ING_ID_MAX];
    char meter_id[ING_ID_MAX];
    int64_t ts_ms; /* event time, UTC */
    int64_t seq;
    int source; /* TelemetrySource symbol index */
    unsigned present;
    double power_kw, energy_kwh, voltage_v, current_a, frequency_hz, power_factor;
    ing_quality_t quality;
    char detail[ING_DETAIL_MAX]; /* "" when null */
    ing_reset_t reset;           /* set by ing_rollup_check(), not on the wire */
} ing_reading_t;

typedef enum { ING_SCOPE_METER = 0, ING_SCOPE_SITE } ing_scope_t;

/* One energy.load record: a closed interval of a meter or a site. */
typedef struct ing_interval {
    ing_scope_t scope;
    char site_id[ING_ID_MAX];
    char meter_id[ING_ID_MAX]; /* "" for a site interval */
    int64_t start_ms, end_ms;
    double energy_kwh, mean_kw, peak_kw, min_kw;
    bool has_min;
    int32_t sample_count;
    double completeness;
    int32_t revision;
    int64_t watermark_ms;
} ing_interval_t;

/* Gap classes, in the order of the Avro enum GapClass. */
typedef enum { ING_GAP_MINOR = 0, ING_GAP_MODERATE, ING_GAP_CRITICAL } ing_gap_class_t;

/* One energy.gaps record. */
typedef struct ing_gap {
    char site_id[ING_ID_MAX];
    char meter_id[ING_ID_MAX];
    char gap_id[ING_GAP_ID_MAX];
    int64_t start_ms, end_ms;
    int32_t missing_intervals;
    ing_gap_class_t gap_class;
    bool ongoing, recovered;
    int32_t revision;
    int64_t detected_ms; /* watermark when this revision was produced */
} ing_gap_t;

#endif
