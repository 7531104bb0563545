/*
 * ing_validate: checks one telemetry reading on its own (no state, no I/O).
 * A reading that fails goes to the DLQ with the reason; the energy counter's
 * monotonicity needs per-meter state and is checked by ing_rollup_check().
 */
#ifndef EMS_INGESTER_ING_VALIDATE_H
#define EMS_INGESTER_ING_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "ingester/ing_types.h"

typedef struct ing_validate_conf {
    int64_t min_ts_ms;     /* earliest plausible event time */
    int64_t max_future_ms; /* how far ahead of now_ms a reading may be */
} ing_validate_conf_t;

/* 2000-01-01T00:00:00Z: the default min_ts_ms. */
#define ING_MIN_TS_DEFAULT 946684800000LL

/* Returns 0 when r is plausible, or -1 with a short reason ("power_kw is
 * NaN", "ts 2031-01-01T00:00:00Z is 3652 days ahead of the clock") in
 * reason. now_ms is the wall clock, given by the caller. Pure. */
int ing_validate_reading(const ing_reading_t *r, const ing_validate_conf_t *conf,
                         int64_t now_ms, char *reason, size_t reason_size);

/* Formats ms as "YYYY-MM-DDTHH:MM:SSZ" into buf; returns buf. */
char *ing_format_ts(int64_t ms, char *buf, size_t size);

#endif
