/*
 * opt_service: the schedule-optimizer's loop on the service skeleton.
 *
 * It consumes energy.forecast and energy.prices, keeps per site the latest
 * forecast and the latest price curve (an effective curve of the site, else
 * the market curve of the site's market plus the tariff charge), and plans
 * on event time: after each polled batch, every site whose input pair
 * (forecast run, curve and revision) changed and was never planned gets one
 * plan. A plan is built from the plant model's equipment of the site
 * (opt_inputs), solved under the time limit (opt_solve), published on
 * energy.schedule keyed by site when the validator accepts it (a relaxed
 * plan carries its explanation instead), audited, and flushed; only then
 * are the batch's offsets acked. Records that do not decode or do not pass
 * the checks (NaN, misaligned slots, unknown site) go to the DLQ with the
 * reason. Requests on energy.schedule.requests re-plan a site on demand;
 * with replan_every set, a site whose event-time clock (newest
 * energy.load interval end) reaches a boundary later than its last plan
 * is re-planned with trigger periodic (opt_periodic).
 *
 * At start the latest inputs per site are rebuilt by reading both topics
 * from the beginning with a throw-away consumer group until they stay quiet
 * (restore_idle after a record, restore_empty when none came), without
 * planning; the service's own group then resumes
 * from its committed offsets, and a re-delivered record plans once more.
 *
 * Main thread only, like the skeleton.
 */
#ifndef EMS_OPT_SERVICE_H
#define EMS_OPT_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "svc/svc.h"

typedef struct opt_svc_conf {
    const char *group_id;
    int64_t time_limit_ms;
    int64_t horizon_ms, min_horizon_ms;
    const char *quantile;
    double co2_eur_t;
    int64_t batch;
    int64_t poll_ms;
    bool restore;
    int64_t restore_idle_ms, restore_empty_ms, restore_timeout_ms;
    int64_t replan_every_ms; /* periodic re-planning cadence; 0 = off */
} opt_svc_conf_t;

/* The option table (section optimizer); offsets into opt_svc_conf_t. */
extern const cfg_option_t opt_svc_options[];

/* What the option table's ranges cannot say, checked at start-up: a
 * min_horizon longer than the horizon would leave every pair and request
 * unplannable. Returns 0, or -1 with a one-line reason. */
int opt_svc_conf_check(const opt_svc_conf_t *c, char *errstr, size_t errstr_size);

typedef struct opt_service opt_service_t;

/* Allocates the service state (conf is filled later by the config). NULL
 * on out of memory. */
opt_service_t *opt_service_new(void);
/* Frees the state; NULL is a no-op. */
void opt_service_free(opt_service_t *s);
opt_svc_conf_t *opt_service_conf(opt_service_t *s);

/* svc_def_t callbacks; ctx is the opt_service_t. */
int opt_service_init(svc_t *svc, void *ctx, char *errstr, size_t errstr_size);
int opt_service_step(svc_t *svc, void *ctx);
void opt_service_shutdown(svc_t *svc, void *ctx);

#endif
