/*
 * opt_codec: Avro values of energy.forecast and energy.prices into the
 * optimizer's input structs, and a solved plan into an energy.schedule value.
 * The values are generic avro-c values of the topics' schemas (bus_value_new,
 * bus_record_t.value); nothing here talks to the bus. Any thread, distinct
 * objects.
 */
#ifndef EMS_OPT_CODEC_H
#define EMS_OPT_CODEC_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#include "schedule-optimizer/opt_inputs.h"
#include "schedule-optimizer/opt_peak.h"
#include "schedule-optimizer/opt_solve.h"

/* Decodes a record into f (released and re-filled). Returns 0, or -1 with a
 * reason when a field is missing or of the wrong type, or on out of memory.
 * The values are not checked here: see opt_forecast_check. */
int opt_codec_forecast(avro_value_t *v, opt_forecast_t *f, char *reason,
                       size_t reason_size);
int opt_codec_prices(avro_value_t *v, opt_prices_t *p, char *reason,
                     size_t reason_size);
/* An energy.load interval (see opt_load_check for the values). */
int opt_codec_load(avro_value_t *v, opt_load_t *l, char *reason, size_t reason_size);

/* One energy.schedule.requests record: re-plan a site now. */
typedef struct opt_request {
    char request_id[OPT_ID_MAX];
    char site_id[OPT_ID_MAX];
    int64_t requested_ms; /* event time of the request */
    char requested_by[OPT_ID_MAX];
    char reason[256]; /* "" when none */
} opt_request_t;

/* Decodes a request; an empty request_id or site_id is refused. Returns 0,
 * or -1 with a reason. */
int opt_codec_request(avro_value_t *v, opt_request_t *q, char *reason,
                      size_t reason_size);
/* How far ahead of the wall clock a request's requested_at may lie. */
#define OPT_REQUEST_MAX_AHEAD_MS (24LL * 3600 * 1000)

/* Refuses a request whose requested_at lies more than
 * OPT_REQUEST_MAX_AHEAD_MS after now_ms, the wall clock: its plan's
 * horizon would start there, past every record (nothing planned), and
 * the attempt, counting as the site's last plan, would stop its periodic
 * plans until then. Returns 0, or -1 with a one-line reason. */
int opt_request_check(const opt_request_t *q, int64_t now_ms, char *reason,
                      size_t reason_size);
/* Fills v (a fresh energy.schedule.requests value) from q. Returns 0, or -1
 * with a reason when the value does not take a field. */
int opt_codec_request_value(avro_value_t *v, const opt_request_t *q, char *reason,
                            size_t reason_size);

typedef enum {
    OPT_TRIGGER_FORECAST = 0,
    OPT_TRIGGER_PRICES,
    OPT_TRIGGER_ON_DEMAND,
    OPT_TRIGGER_PERIODIC
} opt_trigger_t;

/* What the record says besides the plan itself. */
typedef struct opt_plan_meta {
    const char *site_id;
    const char *plan_id;
    opt_trigger_t trigger;
    const char *forecast_run_id; /* NULL = none */
    const char *price_curve_id;  /* NULL = none */
    int64_t created_ms;
} opt_plan_meta_t;

/* The energy.schedule solver_status symbol of a result ("optimal",
 * "time_limit", "heuristic", "relaxed"), or NULL when there is no plan to
 * publish (OPT_NO_PLAN). */
const char *opt_codec_status(const opt_result_t *r);
/* The record's `heuristic` flag: the plan is not the solver's. A heuristic
 * plan (status heuristic), and a relaxed plan whose binaries were rounded
 * from the elastic LP because its integer solve found nothing in time
 * (source "elastic-rounded": not the least violation the elastic MILP
 * would find). */
int opt_codec_heuristic(const opt_result_t *r);

/* The costs a plan is published with. The core prices the demand charge
 * on max(period peak so far, plan peak), per billing period when the
 * horizon crosses into the next; the record carries, as its schema says,
 * the increase of the periods' charges that the plan causes, so the
 * floors' charge is taken out of the plan's and the baseline's totals
 * (savings are unchanged) and peak_kw is the plan's own highest import. */
typedef struct opt_pub_cost {
    double total_eur, energy_eur, demand_eur, startup_eur, co2_eur;
    double baseline_eur, savings_eur;
    double peak_kw;         /* highest planned import over the horizon */
    double floor_kw;        /* the billing period's peak so far used as the floor */
    int64_t next_period_ms; /* start of the next billing period within the
                               horizon, 0 = the horizon lies in one */
    double next_floor_kw;   /* that period's peak so far (its floor) */
} opt_pub_cost_t;
void opt_codec_costs(const opt_build_t *b, const opt_result_t *r, opt_pub_cost_t *out);

/* Fills v (a fresh energy.schedule value with its defaults) from the build
 * and its result: per plant equipment per slot power and state (the tasks of
 * several windows of one equipment merged), cost split (opt_codec_costs),
 * baseline, savings,
 * status, gap, solve time, site balance, binding and relaxed constraints.
 * Returns 0, or -1 with reason when the value does not take a field (schema
 * mismatch) or there is no plan. */
int opt_codec_schedule(avro_value_t *v, const opt_build_t *b, const opt_result_t *r,
                       const opt_plan_meta_t *meta, char *reason, size_t reason_size);

/* Splits an explanation line of the core into the relaxed constraint's
 * name, violation and unit ("task X cannot meet its deadline ..." ->
 * "X deadline", kWh or slots). Never fails: unknown lines give the line's
 * first words, violation 0 and an empty unit. */
void opt_codec_relaxed(const char *line, char *name, size_t name_size,
                       double *violation, const char **unit);

#endif
