/*
 * opt_service_int: the service's state, shared by the modules of the
 * service (opt_service.c: config, life cycle, the loop and the restore;
 * opt_service_take.c: the records taken into the latest inputs per site
 * and market; opt_service_plan.c: planning a site, publishing and
 * auditing the plan; opt_service_tz.c: site-local time). Not an API: the
 * main thread only, like the skeleton. Internal functions carry the
 * prefix os_.
 */
#ifndef EMS_OPT_SERVICE_INT_H
#define EMS_OPT_SERVICE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "schedule-optimizer/opt_codec.h"
#include "schedule-optimizer/opt_inputs.h"
#include "schedule-optimizer/opt_peak.h"
#include "schedule-optimizer/opt_periodic.h"
#include "schedule-optimizer/opt_service.h"

#define PAIR_MAX (2 * OPT_ID_MAX + 16)
#define MOD "optimizer"
#define T_FORECAST "energy.forecast"
#define T_PRICES "energy.prices"
#define T_LOAD "energy.load"
#define T_REQUESTS "energy.schedule.requests"

typedef struct site_state {
    const plant_site_t *site;
    opt_forecast_t fc;
    opt_prices_t eff; /* effective curve of the site */
    int has_fc, has_eff;
    int dirty;              /* an input changed since the last plan */
    opt_trigger_t trigger;  /* which input changed last */
    int64_t trigger_ms;     /* its event time */
    char planned[PAIR_MAX]; /* input pair of the last plan */
    opt_peak_t *peak;       /* billing period's peak from energy.load */
    int requested;          /* a re-plan request is pending */
    opt_request_t req;      /* the latest pending request */
    opt_periodic_t cadence; /* event-time clock and last plan, for periodic plans */
} site_state_t;

typedef struct market_state {
    char market[OPT_ID_MAX];
    opt_prices_t pr;
} market_state_t;

struct opt_service {
    opt_svc_conf_t conf;
    svc_t *svc;
    bus_consumer_t *cons, *restore;
    /* where the restore ends: the end offsets read at its start (NULL when
     * they could not be read: then restore_idle without records ends it) */
    bus_end_offsets_t *restore_end;
    site_state_t *sites;
    size_t nsites;
    market_state_t *markets;
    size_t nmarkets;
    double restore_start, restore_last;
    int64_t restored;
    opt_build_t build;
    obs_counter_t *m_plans, *m_invalid, *m_noplan, *m_unplannable, *m_rejected,
        *m_relaxed;
    obs_counter_t *m_loads, *m_requests, *m_stale, *m_periodic;
    obs_histogram_t *m_solve;
    obs_gauge_t *m_savings;
};

/* ---- opt_service_tz.c: site-local time (the process TZ is switched
 * around one build or one load interval) ---- */

typedef struct tz_ctx {
    const plant_site_t *site;
    char saved[256];
    int had;
} tz_ctx_t;

/* Switches the process TZ to the site's, keeping the one before in z. */
void os_tz_enter(tz_ctx_t *z, const plant_site_t *site);
/* Restores the TZ kept by os_tz_enter. */
void os_tz_leave(tz_ctx_t *z);
/* The local-time callback of opt_build_problem and opt_peak_add (ctx is
 * the tz_ctx_t, between os_tz_enter and os_tz_leave). */
void os_tz_local(void *ctx, int64_t ts_ms, opt_local_t *out);

/* ---- opt_service_take.c ---- */

/* Decodes, checks and keeps one record. 0 = taken (or older than the held
 * one), -1 with reason = to be rejected. */
int os_take(opt_service_t *s, const bus_record_t *rec, char *reason, size_t rsz);
/* The price curve a site plans with: its effective curve, else its market's. */
const opt_prices_t *os_prices_of(opt_service_t *s, const site_state_t *st);

/* ---- opt_service_plan.c ---- */

/* Plans one site if its input pair is new or a request asks for it.
 * Returns -1 only when publishing failed (the batch is then not acked). */
int os_plan_site(opt_service_t *s, site_state_t *st);
/* Re-plans a site whose event-time clock reached a periodic boundary later
 * than its last plan, with the inputs it holds. Returns -1 only when
 * publishing failed. */
int os_plan_periodic(opt_service_t *s, site_state_t *st);

#endif
