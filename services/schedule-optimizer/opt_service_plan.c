/*
 * opt_service_plan: a site's latest inputs planned, the plan published on
 * energy.schedule and audited (see opt_service_int.h).
 */
#include "schedule-optimizer/opt_service_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "log/log.h"
#include "schedule-optimizer/opt_solve.h"

static void iso_ms(int64_t ms, char *buf, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* FNV-1a of the input pair: plan ids are unique per pair and replayable. */
static uint32_t pair_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Why the site was re-planned, in words, for the audit event. */
static void why(const site_state_t *st, const opt_prices_t *pr,
                const opt_plan_meta_t *meta, char *buf, size_t n)
{
    switch (meta->trigger) {
    case OPT_TRIGGER_FORECAST:
        snprintf(buf, n, "new forecast '%s'", st->fc.run_id);
        break;
    case OPT_TRIGGER_PRICES:
        snprintf(buf, n, "new prices '%s' revision %d", pr->curve_id, pr->revision);
        break;
    case OPT_TRIGGER_PERIODIC: {
        char iso[32];
        iso_ms(meta->created_ms, iso, sizeof iso);
        snprintf(buf, n, "periodic re-plan at %s", iso);
        break;
    }
    default:
        snprintf(buf, n, "request '%s' by '%s'%s%s", st->req.request_id,
                 st->req.requested_by, st->req.reason[0] ? ": " : "", st->req.reason);
    }
}

static void audit_plan(opt_service_t *s, site_state_t *st, const opt_prices_t *pr,
                       const opt_result_t *r, const opt_plan_meta_t *meta)
{
    static const char *trig[] = {"forecast", "prices", "on_demand", "periodic"};
    char err[512], reason[1024];
    opt_pub_cost_t c;
    char *after;

    opt_codec_costs(&s->build, r, &c);
    why(st, pr, meta, reason, sizeof reason);
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:f}", "plan_id", meta->plan_id,
        "site_id", st->site->id, "trigger", trig[meta->trigger & 3], "solver_status",
        opt_codec_status(r), "total_cost_eur", c.total_eur, "baseline_cost_eur",
        c.baseline_eur, "savings_eur", c.savings_eur, "demand_charge_eur", c.demand_eur,
        "peak_kw", c.peak_kw, "period_peak_kw", c.floor_kw);
    /* a horizon across a billing-period boundary: where the second peak
     * begins and its floor, so the demand charge can be re-derived */
    if (j && c.next_period_ms) {
        json_object_set_new(j, "next_period_start_ms", json_integer(c.next_period_ms));
        json_object_set_new(j, "next_period_peak_kw", json_real(c.next_floor_kw));
    }
    after = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(10))
              : NULL;
    json_decref(j);
    audit_event_t ev = {.ts_ms = meta->created_ms,
                        .actor = "service:schedule-optimizer",
                        .action = "schedule.publish",
                        .object = meta->plan_id,
                        .site_id = st->site->id,
                        .reason = reason,
                        .outcome = AUDIT_SUCCESS,
                        .after = after,
                        .correlation_id = meta->trigger == OPT_TRIGGER_ON_DEMAND
                                              ? st->req.request_id
                                              : st->fc.run_id};
    if (svc_audit(s->svc, &ev, err, sizeof err))
        log_warn(MOD, "audit of plan '%s': %s", meta->plan_id, err);
    free(after);
}

static int publish(opt_service_t *s, site_state_t *st, const opt_prices_t *pr,
                   const opt_result_t *r, const opt_plan_meta_t *meta)
{
    char err[512];
    avro_value_t v;
    int rc;

    if (bus_value_new(svc_bus(s->svc), "energy.schedule", &v, err, sizeof err))
        goto fail;
    rc = opt_codec_schedule(&v, &s->build, r, meta, err, sizeof err) ||
         bus_produce(svc_producer(s->svc), "energy.schedule", meta->site_id, &v,
                     meta->created_ms, err, sizeof err);
    avro_value_decref(&v);
    if (rc)
        goto fail;
    audit_plan(s, st, pr, r, meta);
    return 0;
fail:
    log_error(MOD, "publishing plan '%s': %s", meta->plan_id, err);
    return -1;
}

/* Logs and counts a plan that must not be published. */
static void refuse(opt_service_t *s, const char *plan_id, const opt_result_t *r)
{
    if (r->status == OPT_NO_PLAN) {
        obs_counter_inc(s->m_noplan);
        log_error(MOD, "plan '%s': no feasible plan within the time limit", plan_id);
        return;
    }
    obs_counter_inc(s->m_invalid);
    log_error(MOD,
              "plan '%s' (%s) fails validation with %d violation(s), not published%s%s",
              plan_id, opt_status_name(r->status), r->violations,
              r->problems.n ? ": " : "", r->problems.n ? r->problems.v[0] : "");
}

static int solve_and_publish(opt_service_t *s, site_state_t *st, const opt_prices_t *pr,
                             const opt_plan_meta_t *meta)
{
    opt_options_t o;
    opt_result_t r;
    char err[512];
    int rc = 0;

    opt_options_init(&o);
    o.time_limit_s = s->conf.time_limit_ms / 1000.0;
    opt_result_init(&r);
    if (opt_solve(&s->build.pb, &o, &r, err, sizeof err)) {
        obs_counter_inc(s->m_unplannable);
        log_error(MOD, "plan '%s': %s", meta->plan_id, err);
        goto out;
    }
    obs_histogram_observe(s->m_solve, r.solve_s);
    if (!opt_codec_status(&r) || (r.status != OPT_INFEASIBLE && r.violations > 0)) {
        refuse(s, meta->plan_id, &r);
        goto out;
    }
    if (r.status == OPT_INFEASIBLE) {
        obs_counter_inc(s->m_relaxed);
        /* the source says whether the elastic model's integer solve gave the
         * plan or its LP's rounding ("elastic-rounded") */
        log_warn(MOD, "plan '%s' relaxed (%s): %s", meta->plan_id, r.source,
                 r.explain.n ? r.explain.v[0] : "constraints cannot all hold");
    }
    rc = publish(s, st, pr, &r, meta);
    if (rc == 0) {
        opt_pub_cost_t c;
        opt_codec_costs(&s->build, &r, &c);
        obs_counter_inc(s->m_plans);
        if (meta->trigger == OPT_TRIGGER_PERIODIC)
            obs_counter_inc(s->m_periodic);
        obs_gauge_set(s->m_savings, c.savings_eur);
        log_info(
            MOD,
            "plan '%s' %s: %.2f EUR, baseline %.2f EUR, savings %.2f EUR, period peak "
            "%.1f kW, %.2f s",
            meta->plan_id, opt_codec_status(&r), c.total_eur, c.baseline_eur,
            c.savings_eur, c.floor_kw, r.solve_s);
    }
out:
    opt_result_release(&r);
    return rc;
}

/* Whether a pending request is answered by this plan: only when it is no
 * older than the inputs (an older one was answered by the plan they
 * caused). Clears the request flag either way. */
static int take_pending_request(opt_service_t *s, site_state_t *st, int64_t issued)
{
    int req = st->requested && st->req.requested_ms >= issued;

    if (st->requested && !req) {
        obs_counter_inc(s->m_stale);
        log_info(MOD, "request '%s' for site '%s' is older than the inputs; skipped",
                 st->req.request_id, st->site->id);
    }
    st->requested = 0;
    return req;
}

static opt_quantile_t quantile_of(const char *name)
{
    return !strcmp(name, "p10")   ? OPT_Q_P10
           : !strcmp(name, "p90") ? OPT_Q_P90
                                  : OPT_Q_P50;
}

/* Plans the site's latest inputs with event time created_ms (the horizon
 * starts there, the peak floor counts intervals ended by then); hashed
 * names what made the plan, for its id. The attempt counts as the site's
 * last plan for the cadence, published or not (a boundary past the
 * inputs is not retried). Returns -1 only when publishing failed. */
static int plan_inputs(opt_service_t *s, site_state_t *st, const opt_prices_t *pr,
                       opt_trigger_t trigger, int64_t created_ms, const char *hashed)
{
    opt_build_conf_t bc = {.horizon_max_ms = s->conf.horizon_ms,
                           .horizon_min_ms = s->conf.min_horizon_ms,
                           .co2_eur_t = s->conf.co2_eur_t,
                           .peak = st->peak,
                           .quantile = quantile_of(s->conf.quantile),
                           .peak_cutoff_ms = created_ms};
    char reason[512], plan_id[OPT_ID_MAX + 32], iso[32];
    opt_plan_meta_t meta = {.site_id = st->site->id,
                            .plan_id = plan_id,
                            .trigger = trigger,
                            .forecast_run_id = st->fc.run_id,
                            .price_curve_id = pr->curve_id,
                            .created_ms = created_ms};
    tz_ctx_t z;
    int rc;

    opt_periodic_planned(&st->cadence, created_ms);
    iso_ms(created_ms, iso, sizeof iso);
    snprintf(plan_id, sizeof plan_id, "%s/%s/%08x", st->site->id, iso,
             pair_hash(hashed));
    os_tz_enter(&z, st->site);
    rc = opt_build_problem(&s->build, &bc, svc_plant(s->svc), st->site, &st->fc, pr,
                           created_ms, os_tz_local, &z, reason, sizeof reason);
    os_tz_leave(&z);
    if (rc) {
        obs_counter_inc(s->m_unplannable);
        log_warn(MOD, "site '%s' not planned%s: %s", st->site->id,
                 trigger == OPT_TRIGGER_PERIODIC ? " at its periodic boundary" : "",
                 reason);
        return 0;
    }
    return solve_and_publish(s, st, pr, &meta);
}

/* Plans one site if its input pair is new or a request asks for it.
 * Returns -1 only when publishing failed (the batch is then not acked). */
int os_plan_site(opt_service_t *s, site_state_t *st)
{
    const opt_prices_t *pr = os_prices_of(s, st);
    char pair[PAIR_MAX], hashed[2 * PAIR_MAX];
    opt_trigger_t trigger;
    int64_t issued;
    int req;

    st->dirty = 0;
    if (!st->has_fc || !pr) {
        if (st->requested)
            log_warn(MOD, "request '%s': site '%s' has no forecast and price curve yet",
                     st->req.request_id, st->site->id);
        st->requested = 0;
        return 0;
    }
    issued = pr->issued_ms > st->fc.issued_ms ? pr->issued_ms : st->fc.issued_ms;
    req = take_pending_request(s, st, issued);
    snprintf(pair, sizeof pair, "%s|%s#%d", st->fc.run_id, pr->curve_id, pr->revision);
    if (!req && !strcmp(pair, st->planned))
        return 0;
    snprintf(st->planned, sizeof st->planned, "%s", pair);
    snprintf(hashed, sizeof hashed, "%s%s%s", pair, req ? "|request:" : "",
             req ? st->req.request_id : "");
    trigger = req ? OPT_TRIGGER_ON_DEMAND
              : st->trigger == OPT_TRIGGER_ON_DEMAND
                  ? (pr->issued_ms > st->fc.issued_ms ? OPT_TRIGGER_PRICES
                                                      : OPT_TRIGGER_FORECAST)
                  : st->trigger;
    /* event time: when the pair became complete, or the request */
    return plan_inputs(s, st, pr, trigger, req ? st->req.requested_ms : issued, hashed);
}

/* Re-plans a site whose event-time clock reached a periodic boundary later
 * than its last plan, with the inputs it holds. The boundary enters the
 * plan id's hash besides the pair, so the plan is neither deduped against
 * the pair's own plan nor given its id, and a replay gives the same id.
 * Returns -1 only when publishing failed. */
int os_plan_periodic(opt_service_t *s, site_state_t *st)
{
    const opt_prices_t *pr = os_prices_of(s, st);
    char hashed[2 * PAIR_MAX];
    int64_t boundary;

    if (!st->has_fc || !pr || !opt_periodic_due(&st->cadence, &boundary))
        return 0;
    snprintf(hashed, sizeof hashed, "%s|%s#%d|periodic:%lld", st->fc.run_id,
             pr->curve_id, pr->revision, (long long)boundary);
    return plan_inputs(s, st, pr, OPT_TRIGGER_PERIODIC, boundary, hashed);
}
