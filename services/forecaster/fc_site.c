/* fc_site: per-site state and event-time schedule (see fc_site.h). */
#include "forecaster/fc_site.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fc_site {
    char id[64];
    fc_params p;
    fc_site_conf c;
    fc_calendar *cal;
    fc_forecaster *fc;
    fc_series load, rev; /* rev: revision of each load slot */
    fc_weather wx;
    fc_series wxrank[FC_MAX_WX]; /* per weather column: rank of each slot's value */
    int64_t first_load, clock;
    int64_t next[FC_NKINDS];     /* 0 until the schedule starts */
    int64_t last_pub[FC_NKINDS]; /* latest run already on the topic */
    int has_pub[FC_NKINDS];
};

void fc_site_conf_default(fc_site_conf *c, int step)
{
    c->warmup = 7 * 86400;
    c->backfill = 2 * 86400;
    c->weather_wait = 3600;
    c->intraday_every = 3600;
    c->max_slots = (size_t)(400 * 86400 / (step > 0 ? step : 900));
}

fc_site *fc_site_new(const char *id, const char *tz, const char *const *holidays,
                     size_t nhol, const fc_params *p, const fc_site_conf *c,
                     char *errstr, size_t errstr_size)
{
    fc_site *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    snprintf(s->id, sizeof s->id, "%s", id);
    s->p = *p;
    s->c = *c;
    s->first_load = INT64_MAX;
    fc_series_init(&s->load, p->step, c->max_slots);
    fc_series_init(&s->rev, p->step, c->max_slots);
    fc_weather_init(&s->wx);
    if (!(s->cal = fc_calendar_new(tz, holidays, nhol, errstr, errstr_size)))
        goto fail;
    if (!(s->fc = fc_forecaster_new(&s->p, s->cal))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    return s;
fail:
    fc_site_destroy(s);
    return NULL;
}

void fc_site_destroy(fc_site *s)
{
    if (!s)
        return;
    fc_forecaster_destroy(s->fc);
    fc_calendar_destroy(s->cal);
    fc_series_release(&s->load);
    fc_series_release(&s->rev);
    for (size_t c = 0; c < s->wx.ncol; c++)
        fc_series_release(&s->wxrank[c]);
    fc_weather_release(&s->wx);
    free(s);
}

const char *fc_site_id(const fc_site *s)
{
    return s->id;
}
const fc_series *fc_site_load(const fc_site *s)
{
    return &s->load;
}
const fc_weather *fc_site_weather(const fc_site *s)
{
    return &s->wx;
}
fc_forecaster *fc_site_forecaster(fc_site *s)
{
    return s->fc;
}
const fc_calendar *fc_site_calendar(const fc_site *s)
{
    return s->cal;
}
int64_t fc_site_clock(const fc_site *s)
{
    return s->clock;
}

int fc_site_put_load(fc_site *s, int64_t start, int64_t end, double kw, int revision,
                     char *reason, size_t reason_size)
{
    int step = s->p.step;
    if (!isfinite(kw))
        return snprintf(reason, reason_size, "mean_kw is not a finite number"),
               FC_PUT_INVALID;
    if (end - start != step || start % step != 0)
        return snprintf(reason, reason_size,
                        "interval %lld..%lld is not one %d-s slot on the grid",
                        (long long)start, (long long)end, step),
               FC_PUT_INVALID;
    double held = fc_series_at(&s->rev, start);
    if (!isnan(held) && held > (double)revision)
        return FC_PUT_STALE;
    if (fc_series_put(&s->load, start, kw) < 0 ||
        fc_series_put(&s->rev, start, (double)revision) < 0)
        return FC_PUT_NOMEM;
    if (start < s->first_load)
        s->first_load = start;
    if (end > s->clock)
        s->clock = end;
    return FC_PUT_STORED;
}

static int weather_column(fc_site *s, const char *name, char *reason,
                          size_t reason_size)
{
    int c = fc_weather_find(&s->wx, name);
    if (c >= 0)
        return c;
    if ((c = fc_weather_add(&s->wx, name, s->p.step, s->c.max_slots)) < 0) {
        snprintf(reason, reason_size, "no room for weather variable '%s'", name);
        return -1;
    }
    size_t last = s->wx.ncol - 1;
    if ((size_t)c != last) /* the temperature took column 0 */
        s->wxrank[last] = s->wxrank[c];
    fc_series_init(&s->wxrank[c], s->p.step, s->c.max_slots);
    return c;
}

/* Rank of a weather value: any observation above any forecast, the newer
 * issue above the older within each; unknown origin lowest. Exact in a
 * double for issue times in seconds. */
#define RANK_OBSERVED 1e13
#define RANK_UNKNOWN (-1e13)

static double wx_rank(int observed, int64_t issued)
{
    if (issued == INT64_MIN)
        return RANK_UNKNOWN;
    return (observed ? RANK_OBSERVED : 0) + (double)issued;
}

int fc_site_put_weather(fc_site *s, const char *name, int64_t start, int slot_sec,
                        double v, char *reason, size_t reason_size)
{
    return fc_site_put_weather_from(s, name, start, slot_sec, v, 0, INT64_MIN, reason,
                                    reason_size);
}

int fc_site_put_weather_from(fc_site *s, const char *name, int64_t start, int slot_sec,
                             double v, int observed, int64_t issued, char *reason,
                             size_t reason_size)
{
    if (!isfinite(v))
        return snprintf(reason, reason_size, "weather '%s' at %lld is not a number",
                        name, (long long)start),
               FC_PUT_INVALID;
    int c = weather_column(s, name, reason, reason_size);
    if (c < 0)
        return FC_PUT_INVALID;
    double rank = wx_rank(observed, issued);
    int stored = 0;
    int64_t end = start + (slot_sec > s->p.step ? slot_sec : 1);
    for (int64_t t = start; t < end; t += s->p.step) {
        double held = fc_series_at(&s->wxrank[c], t);
        if (!isnan(held) && held > rank)
            continue; /* an observation, or a newer forecast, is held */
        if (fc_series_put(&s->wx.col[c], t, v) < 0 ||
            fc_series_put(&s->wxrank[c], t, rank) < 0)
            return FC_PUT_NOMEM;
        stored = 1;
    }
    return stored ? FC_PUT_STORED : FC_PUT_STALE;
}

void fc_site_published(fc_site *s, fc_kind k, int64_t issued_at)
{
    if (!s->has_pub[k] || issued_at > s->last_pub[k])
        s->last_pub[k] = issued_at;
    s->has_pub[k] = 1;
}

int64_t fc_site_issue_at_or_after(const fc_site *s, fc_kind k, int64_t t)
{
    if (k == FC_INTRADAY) {
        int64_t e = s->c.intraday_every;
        int64_t q = t / e * e;
        return q < t ? q + e : q;
    }
    int64_t d = fc_cal_local_day(s->cal, t);
    int64_t at = fc_cal_local_to_utc(s->cal, d, s->p.issue_sec);
    return at < t ? fc_cal_local_to_utc(s->cal, d + 1, s->p.issue_sec) : at;
}

static int64_t next_after(const fc_site *s, fc_kind k, int64_t issue)
{
    return fc_site_issue_at_or_after(s, k, issue + 1);
}

int64_t fc_site_horizon_end(const fc_site *s, fc_kind k, int64_t issue)
{
    if (k == FC_DAY_AHEAD)
        return fc_cal_day_start(s->cal, fc_cal_local_day(s->cal, issue) + 2);
    return issue + (int64_t)s->p.intraday_hours * 3600;
}

static void start_schedule(fc_site *s, fc_kind k)
{
    int64_t from = s->first_load + s->c.warmup;
    if (s->has_pub[k] && s->last_pub[k] + 1 > from)
        from = s->last_pub[k] + 1;
    s->next[k] = fc_site_issue_at_or_after(s, k, from);
}

static size_t skip_behind(fc_site *s, fc_kind k)
{
    size_t n = 0;
    if (s->c.backfill <= 0)
        return 0;
    while (s->next[k] < s->clock - s->c.backfill) {
        s->next[k] = next_after(s, k, s->next[k]);
        n++;
    }
    return n;
}

static int weather_ready(const fc_site *s, fc_kind k, int64_t issue)
{
    if (!s->wx.has_temp)
        return 1;
    int64_t last = fc_site_horizon_end(s, k, issue) - s->p.step;
    return !isnan(fc_weather_temp(&s->wx, last)) ||
           s->clock >= issue + s->c.weather_wait;
}

int fc_site_due(fc_site *s, fc_kind *k, int64_t *issue, size_t *skipped)
{
    int found = 0;
    if (s->first_load == INT64_MAX)
        return 0;
    for (int i = 0; i < FC_NKINDS; i++) {
        fc_kind ki = (fc_kind)i;
        if (!s->next[i])
            start_schedule(s, ki);
        size_t n = skip_behind(s, ki);
        if (skipped)
            *skipped += n;
        if (s->next[i] > s->clock || !weather_ready(s, ki, s->next[i]))
            continue;
        if (!found || s->next[i] < *issue) {
            *k = ki;
            *issue = s->next[i];
            found = 1;
        }
    }
    return found;
}

int fc_site_issue(fc_site *s, fc_kind k, int64_t issue, fc_forecast *out, int *trained)
{
    if (trained)
        *trained = fc_forecaster_due(s->fc, k, issue);
    int rc = fc_forecaster_issue(s->fc, &s->load, &s->wx, k, issue, FC_MODEL_AUTO, out);
    if (s->next[k] <= issue)
        s->next[k] = next_after(s, k, issue);
    return rc;
}
