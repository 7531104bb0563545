/*
 * opt_service: consume, keep the latest inputs, plan, publish, ack (see
 * opt_service.h).
 */
#include "schedule-optimizer/opt_service.h"
#include "clock/clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log/log.h"
#include "schedule-optimizer/opt_codec.h"
#include "schedule-optimizer/opt_inputs.h"
#include "schedule-optimizer/opt_peak.h"
#include "schedule-optimizer/opt_periodic.h"
#include "schedule-optimizer/opt_solve.h"

#define OFF(f) offsetof(opt_svc_conf_t, f)
#define PAIR_MAX (2 * OPT_ID_MAX + 16)
#define MOD "optimizer"
#define T_FORECAST "energy.forecast"
#define T_PRICES "energy.prices"
#define T_LOAD "energy.load"
#define T_REQUESTS "energy.schedule.requests"

const cfg_option_t opt_svc_options[] = {
    {.section = "optimizer", .key = "group_id", .type = CFG_STRING,
     .def = "schedule-optimizer", .offset = OFF(group_id),
     .desc = "Kafka consumer group of the optimizers."},
    {.section = "optimizer", .key = "time_limit", .type = CFG_DURATION_MS, .def = "10s",
     .min = 100, .max = 600000, .offset = OFF(time_limit_ms),
     .desc = "Solve time limit per plan; on timeout the best validated plan is published."},
    {.section = "optimizer", .key = "horizon", .type = CFG_DURATION_MS, .def = "24h",
     .min = 900000, .max = 48 * 3600000.0, .offset = OFF(horizon_ms),
     .desc = "Longest planning horizon (from the plan's event time)."},
    {.section = "optimizer", .key = "min_horizon", .type = CFG_DURATION_MS, .def = "1h",
     .min = 0, .max = 48 * 3600000.0, .offset = OFF(min_horizon_ms),
     .desc = "A forecast and price pair overlapping less than this is not planned."},
    {.section = "optimizer", .key = "quantile", .type = CFG_STRING, .def = "p50",
     .choices = "p10|p50|p90", .offset = OFF(quantile),
     .desc = "Forecast quantile used as base load (p90 keeps a safety margin)."},
    {.section = "optimizer", .key = "co2_eur_per_t", .type = CFG_DOUBLE, .def = "0",
     .min = 0, .max = 10000, .offset = OFF(co2_eur_t),
     .desc = "CO2 price, EUR/t, on the curve's grid intensity; 0 = no CO2 cost."},
    {.section = "optimizer", .key = "batch", .type = CFG_INT, .def = "100", .min = 1,
     .max = 10000, .offset = OFF(batch), .desc = "Most records per polled batch."},
    {.section = "optimizer", .key = "poll_time", .type = CFG_DURATION_MS, .def = "200ms",
     .min = 1, .max = 5000, .offset = OFF(poll_ms),
     .desc = "Longest wait for a batch."},
    {.section = "optimizer", .key = "restore", .type = CFG_BOOL, .def = "true",
     .offset = OFF(restore),
     .desc = "Rebuild the latest inputs per site from the topics at start."},
    {.section = "optimizer", .key = "restore_idle", .type = CFG_DURATION_MS, .def = "3s",
     .min = 100, .max = 600000, .offset = OFF(restore_idle_ms),
     .desc = "Without the topics' end offsets at start, the restore ends once the topics "
             "gave nothing for this long after a record."},
    {.section = "optimizer", .key = "restore_empty", .type = CFG_DURATION_MS, .def = "10s",
     .min = 100, .max = 600000, .offset = OFF(restore_empty_ms),
     .desc = "Without the topics' end offsets at start, the restore ends when nothing at "
             "all arrived for this long (empty topics; it covers the consumer group's join)."},
    {.section = "optimizer", .key = "restore_timeout", .type = CFG_DURATION_MS,
     .def = "2m", .min = 1000, .max = 3600000, .offset = OFF(restore_timeout_ms),
     .desc = "The restore ends after this long even if records keep coming."},
    {.section = "optimizer", .key = "replan_every", .type = CFG_DURATION_MS, .def = "0",
     .min = 0, .max = 24 * 3600000.0, .step = OPT_PERIODIC_STEP_MS,
     .offset = OFF(replan_every_ms),
     .desc = "Re-plan each site when its event-time clock (newest energy.load interval "
             "end) reaches a multiple of this since the epoch; 0 = off, else a multiple "
             "of 15m."},
    CFG_END,
};

typedef struct site_state {
    const plant_site_t *site;
    opt_forecast_t fc;
    opt_prices_t eff;      /* effective curve of the site */
    int has_fc, has_eff;
    int dirty;             /* an input changed since the last plan */
    opt_trigger_t trigger; /* which input changed last */
    int64_t trigger_ms;    /* its event time */
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

/* How long the restore waits for its topics' end offsets at start. */
#define RESTORE_END_MS 10000

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
    obs_counter_t *m_plans, *m_invalid, *m_noplan, *m_unplannable, *m_rejected, *m_relaxed;
    obs_counter_t *m_loads, *m_requests, *m_stale, *m_periodic;
    obs_histogram_t *m_solve;
    obs_gauge_t *m_savings;
};

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

/* ---- site-local time (the process TZ is switched around one build) ---- */

typedef struct tz_ctx {
    const plant_site_t *site;
    char saved[256];
    int had;
} tz_ctx_t;

static void tz_enter(tz_ctx_t *z, const plant_site_t *site)
{
    const char *cur = getenv("TZ");

    z->site = site;
    z->had = cur != NULL;
    snprintf(z->saved, sizeof z->saved, "%s", cur ? cur : "");
    setenv("TZ", site->timezone, 1);
    tzset();
}

static void tz_leave(tz_ctx_t *z)
{
    if (z->had)
        setenv("TZ", z->saved, 1);
    else
        unsetenv("TZ");
    tzset();
}

static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static void tz_local(void *ctx, int64_t ts_ms, opt_local_t *out)
{
    tz_ctx_t *z = ctx;
    time_t tt = (time_t)(ts_ms / 1000);
    struct tm tm;

    localtime_r(&tt, &tm);
    out->day = days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    out->minute = tm.tm_hour * 60 + tm.tm_min;
    out->wday = (tm.tm_wday + 6) % 7;
    out->holiday = plant_site_is_holiday(z->site, tm.tm_year + 1900, tm.tm_mon + 1,
                                         tm.tm_mday);
}

/* ---- state ---- */

static site_state_t *site_of(opt_service_t *s, const char *id)
{
    for (size_t i = 0; i < s->nsites; i++)
        if (!strcmp(s->sites[i].site->id, id))
            return &s->sites[i];
    return NULL;
}

static market_state_t *market_of(opt_service_t *s, const char *market, int create)
{
    market_state_t *m;

    for (size_t i = 0; i < s->nmarkets; i++)
        if (!strcmp(s->markets[i].market, market))
            return &s->markets[i];
    if (!create)
        return NULL;
    m = realloc(s->markets, (s->nmarkets + 1) * sizeof *m);
    if (!m)
        return NULL;
    s->markets = m;
    m = &s->markets[s->nmarkets++];
    memset(m, 0, sizeof *m);
    snprintf(m->market, sizeof m->market, "%s", market);
    return m;
}

/* The newer of two inputs: later horizon start, then later revision, then
 * later issue (ties go to the newcomer: a re-delivery replaces itself). */
static int newer(int64_t start, int rev, int64_t issued, int64_t hstart, int hrev,
                 int64_t hissued)
{
    if (start != hstart)
        return start > hstart;
    if (rev != hrev)
        return rev > hrev;
    return issued >= hissued;
}

/* Marks an input change; of several in one batch the latest in event time
 * names the trigger. */
static void changed(site_state_t *st, opt_trigger_t trig, int64_t ts)
{
    if (!st->dirty || ts >= st->trigger_ms)
        st->trigger = trig, st->trigger_ms = ts;
    st->dirty = 1;
}

static void mark_market_sites(opt_service_t *s, const char *market, int64_t ts)
{
    for (size_t i = 0; i < s->nsites; i++)
        if (!s->sites[i].has_eff && s->sites[i].site->market &&
            !strcmp(s->sites[i].site->market, market))
            changed(&s->sites[i], OPT_TRIGGER_PRICES, ts);
}

static int unknown_site(const char *id, char *reason, size_t rsz)
{
    snprintf(reason, rsz, "unknown site '%s'", id);
    return -1;
}

static int take_forecast(opt_service_t *s, avro_value_t *v, char *reason, size_t rsz)
{
    opt_forecast_t f = {0};
    site_state_t *st;
    int rc = -1;

    if (opt_codec_forecast(v, &f, reason, rsz) || opt_forecast_check(&f, reason, rsz))
        goto out;
    if (!(st = site_of(s, f.site_id))) {
        unknown_site(f.site_id, reason, rsz);
        goto out;
    }
    if (!st->has_fc ||
        newer(f.start_ms, 0, f.issued_ms, st->fc.start_ms, 0, st->fc.issued_ms)) {
        changed(st, OPT_TRIGGER_FORECAST, f.issued_ms);
        opt_forecast_move(&st->fc, &f);
        st->has_fc = 1;
    }
    rc = 0;
out:
    opt_forecast_release(&f);
    return rc;
}

static int take_prices(opt_service_t *s, avro_value_t *v, char *reason, size_t rsz)
{
    opt_prices_t p = {0};
    site_state_t *st;
    int rc = -1;

    if (opt_codec_prices(v, &p, reason, rsz) || opt_prices_check(&p, reason, rsz))
        goto out;
    if (p.kind == OPT_CURVE_EFFECTIVE) {
        if (!(st = site_of(s, p.site_id))) {
            unknown_site(p.site_id, reason, rsz);
            goto out;
        }
        if (!st->has_eff || newer(p.start_ms, p.revision, p.issued_ms, st->eff.start_ms,
                                  st->eff.revision, st->eff.issued_ms)) {
            changed(st, OPT_TRIGGER_PRICES, p.issued_ms);
            opt_prices_move(&st->eff, &p);
            st->has_eff = 1;
        }
    } else {
        market_state_t *m = market_of(s, p.market, 1);
        if (m && (!m->pr.n || newer(p.start_ms, p.revision, p.issued_ms, m->pr.start_ms,
                                    m->pr.revision, m->pr.issued_ms))) {
            int64_t ts = p.issued_ms;
            opt_prices_move(&m->pr, &p);
            mark_market_sites(s, m->market, ts);
        }
    }
    rc = 0;
out:
    opt_prices_release(&p);
    return rc;
}

/* A site interval feeds the site's billing-period peak and moves its
 * event-time clock (periodic plans); meter intervals are not the
 * optimizer's business. */
static int take_load(opt_service_t *s, avro_value_t *v, char *reason, size_t rsz)
{
    opt_load_t l;
    site_state_t *st;
    tz_ctx_t z;
    int rc;

    if (opt_codec_load(v, &l, reason, rsz) || opt_load_check(&l, ems_wall_ms(), reason, rsz))
        return -1;
    if (!l.site_scope)
        return 0;
    if (!(st = site_of(s, l.site_id)))
        return unknown_site(l.site_id, reason, rsz);
    opt_periodic_tick(&st->cadence, l.end_ms);
    tz_enter(&z, st->site);
    rc = opt_peak_add(st->peak, &l, tz_local, &z);
    tz_leave(&z);
    if (rc < 0)
        log_error(MOD, "site '%s': out of memory keeping its load intervals", l.site_id);
    else if (rc > 0)
        obs_counter_inc(s->m_loads);
    return 0;
}

/* A request marks its site; whether it is still to be answered is decided
 * when planning, against the inputs held then. */
static int take_request(opt_service_t *s, avro_value_t *v, char *reason, size_t rsz)
{
    opt_request_t q;
    site_state_t *st;

    if (opt_codec_request(v, &q, reason, rsz))
        return -1;
    if (!(st = site_of(s, q.site_id)))
        return unknown_site(q.site_id, reason, rsz);
    obs_counter_inc(s->m_requests);
    log_info(MOD, "re-plan of site '%s' requested by '%s' (request '%s')", q.site_id,
             q.requested_by, q.request_id);
    if (!st->requested || q.requested_ms >= st->req.requested_ms) {
        st->req = q;
        st->requested = 1;
    }
    changed(st, OPT_TRIGGER_ON_DEMAND, q.requested_ms);
    return 0;
}

/* Decodes, checks and keeps one record. 0 = taken (or older than the held
 * one), -1 with reason = to be rejected. */
static int take(opt_service_t *s, const bus_record_t *rec, char *reason, size_t rsz)
{
    avro_value_t v = rec->value;

    reason[0] = 0;
    if (!strcmp(rec->topic, T_FORECAST))
        return take_forecast(s, &v, reason, rsz);
    if (!strcmp(rec->topic, T_LOAD))
        return take_load(s, &v, reason, rsz);
    if (!strcmp(rec->topic, T_REQUESTS))
        return take_request(s, &v, reason, rsz);
    return take_prices(s, &v, reason, rsz);
}

/* The price curve a site plans with: its effective curve, else its market's. */
static const opt_prices_t *prices_of(opt_service_t *s, const site_state_t *st)
{
    market_state_t *m;

    if (st->has_eff)
        return &st->eff;
    m = st->site->market ? market_of(s, st->site->market, 0) : NULL;
    return m && m->pr.n ? &m->pr : NULL;
}

/* ---- planning ---- */

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
static void why(const site_state_t *st, const opt_prices_t *pr, const opt_plan_meta_t *meta,
                char *buf, size_t n)
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
        snprintf(buf, n, "request '%s' by '%s'%s%s", st->req.request_id, st->req.requested_by,
                 st->req.reason[0] ? ": " : "", st->req.reason);
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
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:f}", "plan_id",
                          meta->plan_id, "site_id", st->site->id, "trigger",
                          trig[meta->trigger & 3], "solver_status", opt_codec_status(r),
                          "total_cost_eur", c.total_eur, "baseline_cost_eur", c.baseline_eur,
                          "savings_eur", c.savings_eur, "demand_charge_eur", c.demand_eur,
                          "peak_kw", c.peak_kw, "period_peak_kw", c.floor_kw);
    /* a horizon across a billing-period boundary: where the second peak
     * begins and its floor, so the demand charge can be re-derived */
    if (j && c.next_period_ms) {
        json_object_set_new(j, "next_period_start_ms", json_integer(c.next_period_ms));
        json_object_set_new(j, "next_period_peak_kw", json_real(c.next_floor_kw));
    }
    after = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(j);
    audit_event_t ev = {
        .ts_ms = meta->created_ms, .actor = "service:schedule-optimizer",
        .action = "schedule.publish", .object = meta->plan_id, .site_id = st->site->id,
        .reason = reason, .outcome = AUDIT_SUCCESS, .after = after,
        .correlation_id = meta->trigger == OPT_TRIGGER_ON_DEMAND ? st->req.request_id
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
    log_error(MOD, "plan '%s' (%s) fails validation with %d violation(s), not published%s%s",
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
        log_info(MOD,
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
    return !strcmp(name, "p10") ? OPT_Q_P10 : !strcmp(name, "p90") ? OPT_Q_P90 : OPT_Q_P50;
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
                           .co2_eur_t = s->conf.co2_eur_t, .peak = st->peak,
                           .quantile = quantile_of(s->conf.quantile),
                           .peak_cutoff_ms = created_ms};
    char reason[512], plan_id[OPT_ID_MAX + 32], iso[32];
    opt_plan_meta_t meta = {
        .site_id = st->site->id, .plan_id = plan_id, .trigger = trigger,
        .forecast_run_id = st->fc.run_id, .price_curve_id = pr->curve_id,
        .created_ms = created_ms};
    tz_ctx_t z;
    int rc;

    opt_periodic_planned(&st->cadence, created_ms);
    iso_ms(created_ms, iso, sizeof iso);
    snprintf(plan_id, sizeof plan_id, "%s/%s/%08x", st->site->id, iso, pair_hash(hashed));
    tz_enter(&z, st->site);
    rc = opt_build_problem(&s->build, &bc, svc_plant(s->svc), st->site, &st->fc, pr,
                           created_ms, tz_local, &z, reason, sizeof reason);
    tz_leave(&z);
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
static int plan_site(opt_service_t *s, site_state_t *st)
{
    const opt_prices_t *pr = prices_of(s, st);
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
static int plan_periodic(opt_service_t *s, site_state_t *st)
{
    const opt_prices_t *pr = prices_of(s, st);
    char hashed[2 * PAIR_MAX];
    int64_t boundary;

    if (!st->has_fc || !pr || !opt_periodic_due(&st->cadence, &boundary))
        return 0;
    snprintf(hashed, sizeof hashed, "%s|%s#%d|periodic:%lld", st->fc.run_id, pr->curve_id,
             pr->revision, (long long)boundary);
    return plan_inputs(s, st, pr, OPT_TRIGGER_PERIODIC, boundary, hashed);
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

/* Reads the topics from the beginning into the state, without planning. */
/* The restore is over once it read up to the end offsets of its start,
 * so a broker slow to hand the records over does not end it early;
 * without them, once idle after records, or after nothing at all (empty
 * topics; covers the join). */
static int restore_done(const opt_service_t *s, double now)
{
    if (s->restore_end)
        return bus_consumer_reached(s->restore, s->restore_end);
    double idle = s->restore_last > 0 ? s->conf.restore_idle_ms : s->conf.restore_empty_ms;
    return now - (s->restore_last > 0 ? s->restore_last : s->restore_start) >= idle / 1000.0;
}

static int restore_step(opt_service_t *s)
{
    bus_record_t *recs;
    char err[512];
    int got = bus_consumer_poll(s->restore, &recs, (int)s->conf.batch, 100, err, sizeof err);
    double now = ems_mono_s();

    if (got < 0) {
        log_error(MOD, "restore: %s", err);
        return -1;
    }
    for (int i = 0; i < got; i++)
        if (take(s, &recs[i], err, sizeof err) == 0)
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
    got = bus_consumer_poll(s->cons, &recs, (int)s->conf.batch, (int)s->conf.poll_ms, err,
                            sizeof err);
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
        if (take(s, &recs[i], err, sizeof err))
            reject(s, &recs[i], err);
    /* new inputs and requests first: their plans count as the sites' last
     * plans for the cadence */
    for (size_t i = 0; i < s->nsites; i++)
        if ((s->sites[i].dirty && plan_site(s, &s->sites[i])) ||
            plan_periodic(s, &s->sites[i]))
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
    s->m_invalid = obs_counter(m, "ems_optimizer_validation_failures_total",
                               "Plans the validator refused (not published; a bug).", NULL);
    s->m_noplan = obs_counter(m, "ems_optimizer_no_plan_total",
                              "Solves that found no feasible plan in time.", NULL);
    s->m_relaxed = obs_counter(m, "ems_optimizer_relaxed_total",
                               "Plans published relaxed (infeasible inputs explained).", NULL);
    s->m_unplannable = obs_counter(m, "ems_optimizer_unplannable_total",
                                   "Input pairs that could not be planned (no overlap, "
                                   "malformed problem).", NULL);
    s->m_rejected = obs_counter(m, "ems_optimizer_rejected_total",
                                "Input records sent to the DLQ by validation.", NULL);
    s->m_loads = obs_counter(m, "ems_optimizer_load_intervals_total",
                             "Site load intervals (or corrections) taken into the billing "
                             "period's peak.", NULL);
    s->m_requests = obs_counter(m, "ems_optimizer_requests_total",
                                "Re-plan requests received on energy.schedule.requests.", NULL);
    s->m_stale = obs_counter(m, "ems_optimizer_requests_stale_total",
                             "Re-plan requests skipped as older than the site's inputs.",
                             NULL);
    s->m_periodic = obs_counter(m, "ems_optimizer_periodic_total",
                                "Periodic (rolling-horizon) plans published.", NULL);
    s->m_solve = obs_histogram(m, "ems_optimizer_solve_seconds", "Solve time per plan.",
                               NULL, secs, sizeof secs / sizeof *secs);
    s->m_savings = obs_gauge(m, "ems_optimizer_last_savings_eur",
                             "Savings of the last published plan against its baseline.",
                             NULL);
}

int opt_service_init(svc_t *svc, void *ctx, char *errstr, size_t errstr_size)
{
    opt_service_t *s = ctx;
    const char *topics[] = {T_FORECAST, T_PRICES, T_LOAD, T_REQUESTS};
    const plant_t *plant = svc_plant(svc);
    char group[512];

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
        if (!(st->peak = opt_peak_new(opt_billing_parse(st->site->tariff.billing_period)))) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
    }
    if (!(s->cons = bus_consumer_new(svc_bus(svc), s->conf.group_id, topics, 4, errstr,
                                     errstr_size)))
        goto fail;
    if (s->conf.restore) {
        snprintf(group, sizeof group, "%s.restore.%ld.%ld", s->conf.group_id, (long)getpid(),
                 (long)time(NULL));
        /* requests are answered live only, never replayed */
        if (!(s->restore = bus_consumer_new(svc_bus(svc), group, topics, 3, errstr,
                                            errstr_size)))
            goto fail;
        bus_consumer_set_replay(s->restore, 1); /* the live consumer dead-letters */
        if (!(s->restore_end = bus_consumer_end_offsets(s->restore, RESTORE_END_MS, errstr,
                                                        errstr_size)))
            log_warn(MOD, "restore: %s; it ends after optimizer.restore_idle without records",
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
