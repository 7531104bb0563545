/*
 * opt_service: consume, keep the latest inputs, plan, publish, ack (see
 * opt_service.h).
 */
#include "schedule-optimizer/opt_service_int.h"
#include "clock/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"

#define OFF(f) offsetof(opt_svc_conf_t, f)

const cfg_option_t opt_svc_options[] = {
    {.section = "optimizer",
     .key = "group_id",
     .type = CFG_STRING,
     .def = "schedule-optimizer",
     .offset = OFF(group_id),
     .desc = "Kafka consumer group of the optimizers."},
    {.section = "optimizer",
     .key = "time_limit",
     .type = CFG_DURATION_MS,
     .def = "10s",
     .min = 100,
     .max = 600000,
     .offset = OFF(time_limit_ms),
     .desc =
         "Solve time limit per plan; on timeout the best validated plan is published."},
    {.section = "optimizer",
     .key = "horizon",
     .type = CFG_DURATION_MS,
     .def = "24h",
     .min = 900000,
     .max = 48 * 3600000.0,
     .offset = OFF(horizon_ms),
     .desc = "Longest planning horizon (from the plan's event time)."},
    {.section = "optimizer",
     .key = "min_horizon",
     .type = CFG_DURATION_MS,
     .def = "1h",
     .min = 0,
     .max = 48 * 3600000.0,
     .offset = OFF(min_horizon_ms),
     .desc = "A forecast and price pair overlapping less than this is not planned."},
    {.section = "optimizer",
     .key = "quantile",
     .type = CFG_STRING,
     .def = "p50",
     .choices = "p10|p50|p90",
     .offset = OFF(quantile),
     .desc = "Forecast quantile used as base load (p90 keeps a safety margin)."},
    {.section = "optimizer",
     .key = "co2_eur_per_t",
     .type = CFG_DOUBLE,
     .def = "0",
     .min = 0,
     .max = 10000,
     .offset = OFF(co2_eur_t),
     .desc = "CO2 price, EUR/t, on the curve's grid intensity; 0 = no CO2 cost."},
    {.section = "optimizer",
     .key = "batch",
     .type = CFG_INT,
     .def = "100",
     .min = 1,
     .max = 10000,
     .offset = OFF(batch),
     .desc = "Most records per polled batch."},
    {.section = "optimizer",
     .key = "poll_time",
     .type = CFG_DURATION_MS,
     .def = "200ms",
     .min = 1,
     .max = 5000,
     .offset = OFF(poll_ms),
     .desc = "Longest wait for a batch."},
    {.section = "optimizer",
     .key = "restore",
     .type = CFG_BOOL,
     .def = "true",
     .offset = OFF(restore),
     .desc = "Rebuild the latest inputs per site from the topics at start."},
    {.section = "optimizer",
     .key = "restore_idle",
     .type = CFG_DURATION_MS,
     .def = "3s",
     .min = 100,
     .max = 600000,
     .offset = OFF(restore_idle_ms),
     .desc =
         "Without the topics' end offsets at start, the restore ends once the topics "
         "gave nothing for this long after a record."},
    {.section = "optimizer",
     .key = "restore_empty",
     .type = CFG_DURATION_MS,
     .def = "10s",
     .min = 100,
     .max = 600000,
     .offset = OFF(restore_empty_ms),
     .desc =
         "Without the topics' end offsets at start, the restore ends when nothing at "
         "all arrived for this long (empty topics; it covers the consumer group's "
         "join)."},
    {.section = "optimizer",
     .key = "restore_timeout",
     .type = CFG_DURATION_MS,
     .def = "2m",
     .min = 1000,
     .max = 3600000,
     .offset = OFF(restore_timeout_ms),
     .desc = "The restore ends after this long even if records keep coming."},
    {.section = "optimizer",
     .key = "replan_every",
     .type = CFG_DURATION_MS,
     .def = "0",
     .min = 0,
     .max = 24 * 3600000.0,
     .step = OPT_PERIODIC_STEP_MS,
     .offset = OFF(replan_every_ms),
     .desc =
         "Re-plan each site when its event-time clock (newest energy.load interval "
         "end) reaches a multiple of this since the epoch; 0 = off, else a multiple "
         "of 15m."},
    CFG_END,
};

int opt_svc_conf_check(const opt_svc_conf_t *c, char *errstr, size_t errstr_size)
{
    if (c->min_horizon_ms > c->horizon_ms) {
        snprintf(errstr, errstr_size,
                 "optimizer.min_horizon (%lld ms) is longer than optimizer.horizon "
                 "(%lld ms): no plan could be made",
                 (long long)c->min_horizon_ms, (long long)c->horizon_ms);
        return -1;
    }
    return 0;
}

/* How long the restore waits for its topics' end offsets at start. */
#define RESTORE_END_MS 10000

opt_service_t *opt_service_new(void)
{
    return calloc(1, sizeof(opt_service_t));
}

void opt_service_free(opt_service_t *s)
{
    free(s);
}

opt_svc_conf_t *opt_service_conf(opt_service_t *s)
{
    return &s->conf;
}

/* ---- loop ---- */

static void reject(opt_service_t *s, const bus_record_t *rec, const char *reason)
{
    char err[256];

    obs_counter_inc(s->m_rejected);
    if (bus_consumer_reject(s->cons, rec, reason, err, sizeof err))
        log_error(MOD, "dead-lettering a record failed: %s", err);
    log_warn(MOD, "rejected %s[%d]@%lld: %s", rec->topic, rec->partition,
             (long long)rec->offset, reason);
}

/* The restore is over once it read up to the end offsets of its start,
 * so a broker slow to hand the records over does not end it early;
 * without them, once idle after records, or after nothing at all (empty
 * topics; covers the join). */
static int restore_done(const opt_service_t *s, double now)
{
    if (s->restore_end)
        return bus_consumer_reached(s->restore, s->restore_end);
    double idle =
        s->restore_last > 0 ? s->conf.restore_idle_ms : s->conf.restore_empty_ms;
    return now - (s->restore_last > 0 ? s->restore_last : s->restore_start) >=
           idle / 1000.0;
}

/* Reads the topics from the beginning into the state, without planning. */
static int restore_step(opt_service_t *s)
{
    bus_record_t *recs;
    char err[512];
    int got =
        bus_consumer_poll(s->restore, &recs, (int)s->conf.batch, 100, err, sizeof err);
    double now = ems_mono_s();

    if (got < 0) {
        log_error(MOD, "restore: %s", err);
        return -1;
    }
    for (int i = 0; i < got; i++)
        if (os_take(s, &recs[i], err, sizeof err) == 0)
            s->restored++;
    if (got > 0)
        s->restore_last = now;
    if (!restore_done(s, now) &&
        now - s->restore_start < s->conf.restore_timeout_ms / 1000.0)
        return 0;
    bus_consumer_destroy(s->restore);
    s->restore = NULL;
    bus_end_offsets_destroy(s->restore_end);
    s->restore_end = NULL;
    for (size_t i = 0; i < s->nsites; i++) {
        s->sites[i].dirty = 0;
        opt_periodic_restored(&s->sites[i].cadence);
    }
    log_info(MOD, "restored %lld input record(s) in %.1f s", (long long)s->restored,
             now - s->restore_start);
    return 0;
}

int opt_service_step(svc_t *svc, void *ctx)
{
    opt_service_t *s = ctx;
    bus_record_t *recs;
    char err[512];
    int got;
    (void)svc;

    if (s->restore)
        return restore_step(s);
    got = bus_consumer_poll(s->cons, &recs, (int)s->conf.batch, (int)s->conf.poll_ms,
                            err, sizeof err);
    if (got < 0) {
        log_error(MOD, "consume: %s", err);
        return -1;
    }
    if (got == 0) {
        /* all dead-lettered: acked now, not again after a restart */
        if (bus_consumer_unacked(s->cons) && bus_consumer_ack(s->cons, err, sizeof err))
            log_warn(MOD, "ack: %s", err);
        return 0;
    }
    for (int i = 0; i < got; i++)
        if (os_take(s, &recs[i], err, sizeof err))
            reject(s, &recs[i], err);
    /* new inputs and requests first: their plans count as the sites' last
     * plans for the cadence */
    for (size_t i = 0; i < s->nsites; i++)
        if ((s->sites[i].dirty && os_plan_site(s, &s->sites[i])) ||
            os_plan_periodic(s, &s->sites[i]))
            return -1;
    if (bus_producer_flush(svc_producer(s->svc), 30000, err, sizeof err)) {
        log_error(MOD, "publishing plans: %s", err);
        return -1;
    }
    if (bus_consumer_ack(s->cons, err, sizeof err))
        log_warn(MOD, "ack: %s", err);
    return 0;
}

static int restored_check(void *ctx, char *errstr, size_t errstr_size)
{
    opt_service_t *s = ctx;

    if (!s->restore)
        return 0;
    snprintf(errstr, errstr_size, "restoring the latest inputs");
    return -1;
}

static void init_metrics(opt_service_t *s, obs_metrics_t *m)
{
    static const double secs[] = {0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60};

    s->m_plans = obs_counter(m, "ems_optimizer_plans_published_total",
                             "Plans published on energy.schedule.", NULL);
    s->m_invalid =
        obs_counter(m, "ems_optimizer_validation_failures_total",
                    "Plans the validator refused (not published; a bug).", NULL);
    s->m_noplan = obs_counter(m, "ems_optimizer_no_plan_total",
                              "Solves that found no feasible plan in time.", NULL);
    s->m_relaxed =
        obs_counter(m, "ems_optimizer_relaxed_total",
                    "Plans published relaxed (infeasible inputs explained).", NULL);
    s->m_unplannable = obs_counter(m, "ems_optimizer_unplannable_total",
                                   "Input pairs that could not be planned (no overlap, "
                                   "malformed problem).",
                                   NULL);
    s->m_rejected = obs_counter(m, "ems_optimizer_rejected_total",
                                "Input records sent to the DLQ by validation.", NULL);
    s->m_loads =
        obs_counter(m, "ems_optimizer_load_intervals_total",
                    "Site load intervals (or corrections) taken into the billing "
                    "period's peak.",
                    NULL);
    s->m_requests =
        obs_counter(m, "ems_optimizer_requests_total",
                    "Re-plan requests received on energy.schedule.requests.", NULL);
    s->m_stale =
        obs_counter(m, "ems_optimizer_requests_stale_total",
                    "Re-plan requests skipped as older than the site's inputs.", NULL);
    s->m_periodic = obs_counter(m, "ems_optimizer_periodic_total",
                                "Periodic (rolling-horizon) plans published.", NULL);
    s->m_solve = obs_histogram(m, "ems_optimizer_solve_seconds", "Solve time per plan.",
                               NULL, secs, sizeof secs / sizeof *secs);
    s->m_savings =
        obs_gauge(m, "ems_optimizer_last_savings_eur",
                  "Savings of the last published plan against its baseline.", NULL);
}

int opt_service_init(svc_t *svc, void *ctx, char *errstr, size_t errstr_size)
{
    opt_service_t *s = ctx;
    const char *topics[] = {T_FORECAST, T_PRICES, T_LOAD, T_REQUESTS};
    const plant_t *plant = svc_plant(svc);
    char group[512];

    if (opt_svc_conf_check(&s->conf, errstr, errstr_size))
        return -1;
    s->svc = svc;
    init_metrics(s, svc_metrics(svc));
    s->nsites = plant ? plant_site_count(plant) : 0;
    s->sites = calloc(s->nsites + 1, sizeof *s->sites);
    if (!s->sites) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < s->nsites; i++) {
        site_state_t *st = &s->sites[i];
        st->site = plant_site_at(plant, i);
        opt_periodic_init(&st->cadence, s->conf.replan_every_ms, s->conf.restore);
        if (!(st->peak =
                  opt_peak_new(opt_billing_parse(st->site->tariff.billing_period)))) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
    }
    if (!(s->cons = bus_consumer_new(svc_bus(svc), s->conf.group_id, topics, 4, errstr,
                                     errstr_size)))
        goto fail;
    if (s->conf.restore) {
        snprintf(group, sizeof group, "%s.restore.%ld.%ld", s->conf.group_id,
                 (long)getpid(), (long)time(NULL));
        /* requests are answered live only, never replayed */
        if (!(s->restore = bus_consumer_new(svc_bus(svc), group, topics, 3, errstr,
                                            errstr_size)))
            goto fail;
        bus_consumer_set_replay(s->restore, 1); /* the live consumer dead-letters */
        if (!(s->restore_end = bus_consumer_end_offsets(s->restore, RESTORE_END_MS,
                                                        errstr, errstr_size)))
            log_warn(
                MOD,
                "restore: %s; it ends after optimizer.restore_idle without records",
                errstr);
        s->restore_start = ems_mono_s();
        s->restore_last = 0;
    }
    if (svc_add_check(svc, "restored", restored_check, s, errstr, errstr_size))
        goto fail;
    return 0;
fail:
    opt_service_shutdown(svc, s);
    return -1;
}

void opt_service_shutdown(svc_t *svc, void *ctx)
{
    opt_service_t *s = ctx;
    (void)svc;

    bus_consumer_destroy(s->restore); /* unacked offsets stay uncommitted */
    bus_end_offsets_destroy(s->restore_end);
    s->restore_end = NULL;
    bus_consumer_destroy(s->cons);
    s->restore = s->cons = NULL;
    for (size_t i = 0; i < s->nsites; i++) {
        opt_forecast_release(&s->sites[i].fc);
        opt_prices_release(&s->sites[i].eff);
        opt_peak_destroy(s->sites[i].peak);
    }
    for (size_t i = 0; i < s->nmarkets; i++)
        opt_prices_release(&s->markets[i].pr);
    free(s->sites);
    free(s->markets);
    s->sites = NULL, s->markets = NULL;
    s->nsites = s->nmarkets = 0;
    opt_build_release(&s->build);
}
