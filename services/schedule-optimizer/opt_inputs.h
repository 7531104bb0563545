/*
 * opt_inputs: the adapter between the suite's records and the optimizer core.
 * A load forecast (energy.forecast) and a price curve (energy.prices) of a
 * site, with the site's equipment from the plant model, become one
 * opt_problem_t over the slots both cover; the plant's flexibility
 * parameters (site-local windows, minutes, per-day SLA, storage fractions)
 * become the core's slot-based ones.
 *
 * No I/O and no global state: site-local time comes from a callback the
 * caller supplies (the service converts with the site's time zone, the unit
 * tests with a fixed offset). Every function may be called from any thread on
 * distinct objects.
 */
#ifndef EMS_OPT_INPUTS_H
#define EMS_OPT_INPUTS_H

#include <stddef.h>
#include <stdint.h>

#include "plant/plant.h"
#include "schedule-optimizer/opt_problem.h"

#define OPT_ID_MAX 160

/* One energy.forecast record (only what the optimizer uses). Owns its arrays. */
typedef struct opt_forecast {
    char site_id[OPT_ID_MAX];
    char run_id[OPT_ID_MAX];
    int64_t issued_ms, start_ms, end_ms;
    int slot_min;
    int n;
    int64_t *slot_ms;        /* slot starts, UTC ms */
    double *p10, *p50, *p90; /* kW */
} opt_forecast_t;

typedef enum { OPT_CURVE_MARKET = 0, OPT_CURVE_EFFECTIVE } opt_curve_kind_t;

/* One energy.prices record. Owns its arrays. */
typedef struct opt_prices {
    char curve_id[OPT_ID_MAX];
    opt_curve_kind_t kind;
    char market[OPT_ID_MAX];
    char site_id[OPT_ID_MAX]; /* "" for a market curve */
    int64_t issued_ms, start_ms, end_ms;
    int slot_min;
    int revision;
    int n;
    int64_t *slot_ms;
    double *price;     /* EUR/MWh */
    double *co2_g_kwh; /* NAN when unknown */
} opt_prices_t;

/* Allocates the arrays for n slots (zeroed). Returns 0 or -1 (out of memory,
 * nothing allocated). */
int opt_forecast_alloc(opt_forecast_t *f, int n);
void opt_forecast_release(opt_forecast_t *f);
/* Moves src into dst (dst released first); src is left empty. */
void opt_forecast_move(opt_forecast_t *dst, opt_forecast_t *src);
int opt_prices_alloc(opt_prices_t *p, int n);
void opt_prices_release(opt_prices_t *p);
void opt_prices_move(opt_prices_t *dst, opt_prices_t *src);

/* Checks a decoded record: slot length a divisor of a day, horizon a whole
 * number of slots, slots contiguous and aligned on the horizon, finite
 * values, an effective curve names its site. Returns 0, or -1 with a one-line
 * reason (for the DLQ header). */
int opt_forecast_check(const opt_forecast_t *f, char *reason, size_t reason_size);
int opt_prices_check(const opt_prices_t *p, char *reason, size_t reason_size);

/* How far ahead of the wall clock a forecast or price curve may be issued
 * or begin (a day-ahead record begins within two days; a week leaves room
 * for projections). */
#define OPT_INPUT_MAX_AHEAD_MS (7LL * 24 * 3600 * 1000)

/* Refuses a forecast or price curve issued or beginning more than
 * OPT_INPUT_MAX_AHEAD_MS after now_ms, the wall clock: with a mistyped
 * year it would be the site's (or market's) newest record, every later
 * one older than it, so the site would not be planned again, restarts
 * included; issued far ahead, it would be the plan's event time, so every
 * request would be stale. Returns 0, or -1 with a one-line reason. */
int opt_input_ahead_check(int64_t issued_ms, int64_t start_ms, int64_t now_ms,
                          char *reason, size_t reason_size);

/* Site-local calendar of an instant. */
typedef struct opt_local {
    int64_t day; /* local day number, counted from 1970-01-01 local */
    int minute;  /* local minute of day, 0..1439 */
    int wday;    /* 0 = Monday .. 6 = Sunday */
    int holiday; /* 1 on a public holiday of the site */
} opt_local_t;
typedef void (*opt_local_fn)(void *ctx, int64_t ts_ms, opt_local_t *out);

typedef enum { OPT_Q_P10 = 10, OPT_Q_P50 = 50, OPT_Q_P90 = 90 } opt_quantile_t;

typedef struct opt_build_conf {
    opt_quantile_t quantile; /* base load: P50 by default */
    int64_t horizon_max_ms;  /* 24 h by default, at most 48 h */
    int64_t horizon_min_ms;  /* shorter overlaps are not planned */
    double co2_eur_t;        /* CO2 price; 0 = none */
    /* The billing period's peak so far (opt_peak.h), borrowed; NULL = 0.
     * The floor is the peak of the horizon start's period over intervals
     * that ended by peak_cutoff_ms (the plan's event time). */
    const struct opt_peak *peak;
    int64_t peak_cutoff_ms;
} opt_build_conf_t;

/* How an equipment of the plant is represented in the problem. */
typedef enum {
    OPT_MAP_BLOCK = 0, /* non-interruptible deferrable: one task per window */
    OPT_MAP_FLEX,      /* interruptible deferrable: one task per window */
    OPT_MAP_PROCESS,   /* process: one task, SLA shift per local day */
    OPT_MAP_STORAGE    /* storage (a thermal store with its process draw) */
} opt_map_t;

/* A problem built from records; owns every array the problem points at. */
typedef struct opt_build {
    opt_problem_t pb;
    int64_t start_ms, end_ms; /* horizon, UTC */
    int64_t slot_ms;
    int n_plant;                        /* plant equipment planned */
    const plant_equipment_t **plant_eq; /* borrowed from the plant model */
    opt_map_t *plant_map;               /* per plant equipment */
    int *eq_plant;                      /* per problem equipment: its plant index */
    opt_equipment_t *eq;
    double *price; /* effective EUR/MWh per slot (without CO2) */
    double *base;  /* base load kW per slot */
    double *co2;   /* kg/MWh per slot, or NULL */
    int *day;      /* site-local day per slot, 0 = the start's */
    int n_skipped; /* plant equipment left out (generic loads, windows
                      outside the horizon) */
} opt_build_t;

/* Builds the problem for site from a forecast and a price curve (effective,
 * or market plus the tariff period's charge per slot), with the demand
 * charge's floor from conf->peak. The horizon is the
 * slots both cover, starting no earlier than not_before_ms (the plan's event
 * time), at most conf->horizon_max_ms long; the slot is the shorter of the
 * two records' slots. Returns 0 with b filled, 1 when there is nothing to
 * plan (the reason says why: no overlap, incompatible slots), -1 on out of
 * memory. b is released and re-filled; release it with opt_build_release. */
int opt_build_problem(opt_build_t *b, const opt_build_conf_t *conf,
                      const plant_t *plant, const plant_site_t *site,
                      const opt_forecast_t *fc, const opt_prices_t *pr,
                      int64_t not_before_ms, opt_local_fn local, void *local_ctx,
                      char *reason, size_t reason_size);
void opt_build_release(opt_build_t *b);

#endif
