/*
 * sim: the simulated meters behind meter-sim, with no socket I/O.
 *
 * Each meter's power follows a real load series (the Dutch substation's
 * 15-minute load), normalised to 0..1 and scaled into 5..90 % of the meter's
 * physical power range, each meter shifted by a few hours so they differ;
 * between two quarter-hours the power is interpolated linearly. The energy
 * counter integrates import power from a per-meter starting value. Voltage,
 * current, frequency and power factor are derived plausibly (230 V +-2 %,
 * 50 Hz +-0.05, PF 0.85..0.98, I = P / (3 V PF)).
 *
 * Registers live in one libmodbus-style word table per unit id (holding and
 * input); sim_update() writes every meter's registers with the plant codec.
 * Faults are per unit id.
 */
#ifndef EMS_METER_SIM_SIM_H
#define EMS_METER_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "plant/plant.h"

#define SIM_UNITS 256
/* Coils (start/stop switches) served by every unit id in use: addresses
 * 0..SIM_COILS-1, off at start, kept as clients write them. */
#define SIM_COILS 1024

typedef enum {
    SIM_FAULT_NONE = 0,
    SIM_FAULT_SILENT,    /* receive requests, never answer */
    SIM_FAULT_EXCEPTION, /* answer with a Modbus exception */
    SIM_FAULT_FREEZE,    /* keep serving the last values */
    SIM_FAULT_RANGE,     /* serve power ten times the meter's max */
} sim_fault_t;

typedef struct sim_unit {
    bool used;
    int nholding, ninput; /* words */
    uint16_t *holding, *input;
    uint8_t *coils; /* SIM_COILS entries, 0 or 1, when used */
    sim_fault_t fault;
    int exception_code;
} sim_unit_t;

typedef struct sim_meter {
    const plant_meter_t *m;
    double lo_kw, hi_kw; /* scaling range */
    int64_t shift_ms;    /* phase shift into the series */
    double energy_kwh;   /* counter */
    double v[6];         /* current canonical values by quantity */
} sim_meter_t;

typedef struct sim {
    const plant_t *plant;
    int port;
    sim_unit_t units[SIM_UNITS];
    sim_meter_t *meters;
    size_t nmeters;
    const double *load; /* normalised 0..1 per quarter-hour */
    size_t nload;
    int64_t load_t0_ms; /* time of load[0] */
    int64_t last_ms;    /* simulated time of the last update */
    bool has_last;
} sim_t;

/* Builds the tables of every meter (and setpoint register) of the plant on
 * port, and SIM_COILS coils per unit id in use. load/nload is the normalised series
 * (borrowed). Returns 0, or -1 with errstr (no meter on that port, overlapping
 * registers on one unit). */
int sim_init(sim_t *s, const plant_t *plant, int port, const double *load, size_t nload,
             int64_t load_t0_ms, char *errstr, size_t errstr_size);
void sim_release(sim_t *s);

/* Advances the simulation to simulated time t_ms and rewrites the registers
 * of every meter whose unit is not frozen. */
void sim_update(sim_t *s, int64_t t_ms);

/* Writes "meter_id quantity value" lines of the values as served (decoded
 * back from the registers with the plant codec). Returns 0 or -1. */
int sim_dump(const sim_t *s, FILE *out);

/* Appends one line "meter_id power_kw energy_kwh" (values decoded from the
 * words as served) for every meter of unit whose registers all lie inside the
 * read request [address, address + count) of register type t; a meter with a
 * register outside it is not logged (its reading needs another request).
 * Returns the number of lines written. */
int sim_log_served(const sim_t *s, int unit, plant_regtype_t t, int address, int count,
                   FILE *out);

/* Applies the fault-control text: lines "<unit|all> <ok|silent|exception
 * [code]|freeze|range>", '#' comments. Units not named return to ok. Sets
 * *drop when a line "drop" asks to close every client connection. Returns
 * 0, or -1 with errstr naming the line. */
int sim_apply_faults(sim_t *s, const char *text, bool *drop, char *errstr,
                     size_t errstr_size);

/* Normalises the load column of Dutch rows to 0..1 into a malloc'd array. */
double *sim_normalise(const double *mw, size_t n);

#endif
