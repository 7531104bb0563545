/*
 * opt_service_take: the records the service consumes, decoded, checked
 * and kept as the latest inputs per site and market (see
 * opt_service_int.h).
 */
#include "schedule-optimizer/opt_service_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock/clock.h"
#include "log/log.h"

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

/* Whether a site of the plant plans with the market's curve. */
static int market_traded(const opt_service_t *s, const char *market)
{
    for (size_t i = 0; i < s->nsites; i++)
        if (s->sites[i].site->market && !strcmp(s->sites[i].site->market, market))
            return 1;
    return 0;
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

    if (opt_codec_forecast(v, &f, reason, rsz) || opt_forecast_check(&f, reason, rsz) ||
        opt_input_ahead_check(f.issued_ms, f.start_ms, ems_wall_ms(), reason, rsz))
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

/* An effective curve is its site's, a market curve its market's when a
 * site of the plant trades there; the curves of other markets (the topic
 * carries every market followed) are not the optimizer's business and are
 * passed over: kept, one curve per market name stayed for good. */
static int take_prices(opt_service_t *s, avro_value_t *v, char *reason, size_t rsz)
{
    opt_prices_t p = {0};
    site_state_t *st;
    int rc = -1;

    if (opt_codec_prices(v, &p, reason, rsz) || opt_prices_check(&p, reason, rsz) ||
        opt_input_ahead_check(p.issued_ms, p.start_ms, ems_wall_ms(), reason, rsz))
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
    } else if (market_traded(s, p.market)) {
        market_state_t *m = market_of(s, p.market, 1);
        if (!m) {
            snprintf(reason, rsz, "out of memory keeping market '%s'", p.market);
            goto out;
        }
        if (!m->pr.n || newer(p.start_ms, p.revision, p.issued_ms, m->pr.start_ms,
                              m->pr.revision, m->pr.issued_ms)) {
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

    if (opt_codec_load(v, &l, reason, rsz) ||
        opt_load_check(&l, ems_wall_ms(), reason, rsz))
        return -1;
    if (!l.site_scope)
        return 0;
    if (!(st = site_of(s, l.site_id)))
        return unknown_site(l.site_id, reason, rsz);
    opt_periodic_tick(&st->cadence, l.end_ms);
    os_tz_enter(&z, st->site);
    rc = opt_peak_add(st->peak, &l, os_tz_local, &z);
    os_tz_leave(&z);
    if (rc < 0)
        log_error(MOD, "site '%s': out of memory keeping its load intervals",
                  l.site_id);
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

    if (opt_codec_request(v, &q, reason, rsz) ||
        opt_request_check(&q, ems_wall_ms(), reason, rsz))
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
int os_take(opt_service_t *s, const bus_record_t *rec, char *reason, size_t rsz)
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
const opt_prices_t *os_prices_of(opt_service_t *s, const site_state_t *st)
{
    market_state_t *m;

    if (st->has_eff)
        return &st->eff;
    m = st->site->market ? market_of(s, st->site->market, 0) : NULL;
    return m && m->pr.n ? &m->pr : NULL;
}
