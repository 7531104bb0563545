/* fc_site: per-site state and event-time schedule (see fc_site.h). */
#include "forecaster/fc_site.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A queued record: a load interval, or a weather record (wx) applied whole. */
typedef struct qrec {
    int64_t key;  /* event time */
    uint64_t seq; /* order of arrival, for equal keys */
    fc_wxdata *wx;
    int64_t start, end;
    double kw;
    int revision;
} qrec;

/* Weather records held back for the clock: beyond this many the oldest is
 * applied anyway, so a site whose load never comes cannot grow without end. */
#define FC_SITE_MAX_HELD 1024

struct fc_site {
    char id[64];
    fc_params p;
    fc_site_conf c;
    fc_calendar *cal;
    fc_forecaster *fc;
    fc_series load, rev; /* rev: revision of each load slot */
    fc_weather wx;
    fc_series wxrank[FC_MAX_WX]; /* per weather column: rank of each slot's value */
    /* the weather variables of every record taken, applied or queued: the
     * columns they take, so that whether a record fits depends on the order
     * of arrival only, not on which records a batch applied before it */
    char wxnames[FC_MAX_WX][FC_WX_NAME_SIZE];
    size_t nwxnames;
    int64_t first_load, clock;
    int64_t next[FC_NKINDS];     /* 0 until the schedule starts */
    int64_t last_pub[FC_NKINDS]; /* latest run already on the topic */
    int has_pub[FC_NKINDS];
    qrec *q; /* queued records; q[qhead..qn) not applied yet */
    size_t qn, qhead, qcap, qloads;
    int qsorted;
    uint64_t seq;
    int64_t newest;  /* latest interval end applied or queued */
    int64_t horizon; /* runs before it are skipped (fc_site_catch_up) */
    int64_t keep;    /* runs at or before it are not (fc_site_keep_runs) */
    size_t stale_load, stale_wx;
};

void fc_site_conf_default(fc_site_conf *c, int step)
{
    c->warmup = 7 * 86400;
    c->backfill = 2 * 86400;
    c->weather_wait = 3600;
    c->intraday_every = 3600;
    c->max_slots = (size_t)(400 * 86400 / (step > 0 ? step : 900));
}

static void wx_free(fc_wxdata *w)
{
    if (!w)
        return;
    fc_wxdata_release(w);
    free(w);
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
    s->horizon = INT64_MIN;
    s->keep = INT64_MIN;
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
    for (size_t i = s->qhead; i < s->qn; i++)
        wx_free(s->q[i].wx);
    free(s->q);
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
int64_t fc_site_newest(const fc_site *s)
{
    return s->newest > s->clock ? s->newest : s->clock;
}
size_t fc_site_pending(const fc_site *s)
{
    return s->qn - s->qhead;
}
size_t fc_site_queue_room(const fc_site *s)
{
    return s->qcap;
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

static int wxname_known(const fc_site *s, const char *name)
{
    for (size_t i = 0; i < s->nwxnames; i++)
        if (!strcmp(s->wxnames[i], name))
            return 1;
    return 0;
}

static void wxname_take(fc_site *s, const char *name)
{
    if (!wxname_known(s, name) && s->nwxnames < FC_MAX_WX &&
        strlen(name) < sizeof s->wxnames[0])
        strcpy(s->wxnames[s->nwxnames++], name);
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
    wxname_take(s, name);
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

/* ---- queued records, applied in event-time order by fc_site_due() ---- */

static qrec *q_push(fc_site *s)
{
    if (s->qhead == s->qn)
        s->qhead = s->qn = 0; /* drained: start over */
    if (s->qn == s->qcap && s->qhead > 0 && s->qhead >= s->qcap / 2) {
        /* weather waiting for the clock can keep the queue from ever
         * draining: reuse the room of the records applied before growing */
        memmove(s->q, s->q + s->qhead, (s->qn - s->qhead) * sizeof *s->q);
        s->qn -= s->qhead;
        s->qhead = 0;
    }
    if (s->qn == s->qcap) {
        size_t cap = s->qcap ? s->qcap * 2 : 256;
        qrec *q = realloc(s->q, cap * sizeof *q);
        if (!q)
            return NULL;
        s->q = q;
        s->qcap = cap;
    }
    qrec *r = &s->q[s->qn++];
    memset(r, 0, sizeof *r);
    r->seq = s->seq++;
    s->qsorted = 0;
    return r;
}

static int cmp_qrec(const void *a, const void *b)
{
    const qrec *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void q_sort(fc_site *s)
{
    if (s->qsorted)
        return;
    qsort(s->q + s->qhead, s->qn - s->qhead, sizeof *s->q, cmp_qrec);
    s->qsorted = 1;
}

int fc_site_queue_load(fc_site *s, int64_t start, int64_t end, double kw, int revision,
                       char *reason, size_t reason_size)
{
    if (!isfinite(kw))
        return snprintf(reason, reason_size, "mean_kw is not a finite number"),
               FC_PUT_INVALID;
    if (end - start != s->p.step || start % s->p.step != 0)
        return snprintf(reason, reason_size,
                        "interval %lld..%lld is not one %d-s slot on the grid",
                        (long long)start, (long long)end, s->p.step),
               FC_PUT_INVALID;
    double held = fc_series_at(&s->rev, start);
    if (!isnan(held) && held > (double)revision)
        return FC_PUT_STALE; /* revisions only grow: stale when applied too */
    qrec *r = q_push(s);
    if (!r)
        return FC_PUT_NOMEM;
    r->key = end > s->newest ? end : s->newest;
    r->start = start;
    r->end = end;
    r->kw = kw;
    r->revision = revision;
    if (end > s->newest)
        s->newest = end;
    s->qloads++;
    return FC_PUT_STORED;
}

/* Variables of wx that would need a new column, counting those of the
 * records taken before it (applied or still queued): too many, or a name too
 * long for one, is refused before anything is queued. */
static int wx_check(const fc_site *s, const fc_wxdata *wx, char *reason,
                    size_t reason_size)
{
    size_t fresh = 0;
    if (wx->slot_sec <= 0 || wx->nvar > FC_WX_MAXVAR)
        return snprintf(reason, reason_size, "weather record with %d-s slots",
                        wx->slot_sec),
               -1;
    for (size_t j = 0; j < wx->nvar; j++) {
        /* the columns take "temp" for the temperature too (fc_weather_add):
         * beside FC_WX_TEMP it could never have a column of its own */
        if (!strcmp(wx->names[j], "temp"))
            return snprintf(reason, reason_size,
                            "weather variable 'temp' would be a second temperature"),
                   -1;
        if (wxname_known(s, wx->names[j]))
            continue;
        if (strlen(wx->names[j]) >= sizeof s->wx.names[0] ||
            s->nwxnames + ++fresh > FC_MAX_WX)
            return snprintf(reason, reason_size, "no room for weather variable '%s'",
                            wx->names[j]),
                   -1;
    }
    return 0;
}

static fc_wxdata *wx_copy(const fc_wxdata *wx)
{
    fc_wxdata *w = malloc(sizeof *w);
    if (!w)
        return NULL;
    *w = *wx;
    w->t = malloc((wx->n ? wx->n : 1) * sizeof *w->t);
    size_t nv = wx->n * wx->nvar;
    w->v = malloc((nv ? nv : 1) * sizeof *w->v);
    w->observed = wx->observed ? malloc(wx->n ? wx->n : 1) : NULL;
    if (!w->t || !w->v || (wx->observed && !w->observed)) {
        wx_free(w);
        return NULL;
    }
    memcpy(w->t, wx->t, wx->n * sizeof *w->t);
    memcpy(w->v, wx->v, nv * sizeof *w->v);
    if (wx->observed)
        memcpy(w->observed, wx->observed, wx->n);
    return w;
}

int fc_site_queue_weather(fc_site *s, const fc_wxdata *wx, char *reason,
                          size_t reason_size)
{
    if (wx_check(s, wx, reason, reason_size) < 0)
        return FC_PUT_INVALID;
    fc_wxdata *w = wx_copy(wx);
    qrec *r = w ? q_push(s) : NULL;
    if (!r) {
        wx_free(w);
        return FC_PUT_NOMEM;
    }
    r->wx = w;
    r->key = wx->issued ? wx->issued : fc_site_newest(s);
    for (size_t j = 0; j < wx->nvar; j++)
        wxname_take(s, wx->names[j]);
    return FC_PUT_STORED;
}

void fc_site_take_stale(fc_site *s, size_t *load, size_t *weather)
{
    if (load)
        *load = s->stale_load;
    if (weather)
        *weather = s->stale_wx;
    s->stale_load = s->stale_wx = 0;
}

static void apply_weather(fc_site *s, const fc_wxdata *w)
{
    char why[128];
    for (size_t i = 0; i < w->n; i++)
        for (size_t j = 0; j < w->nvar; j++) {
            double x = w->v[i * w->nvar + j];
            if (isnan(x))
                continue; /* missing: the value held stays */
            int rc = fc_site_put_weather_from(s, w->names[j], w->t[i], w->slot_sec, x,
                                              w->observed && w->observed[i], w->issued,
                                              why, sizeof why);
            s->stale_wx += rc == FC_PUT_STALE;
        }
}

/* Applies the earliest queued record. Returns 1, or 0 when none is left or
 * the earliest is weather issued after the clock with no interval queued
 * behind it (it waits for the clock, unless too many wait). */
static int apply_next(fc_site *s)
{
    char why[128];
    if (s->qhead == s->qn)
        return 0;
    q_sort(s);
    qrec *r = &s->q[s->qhead];
    if (r->wx && r->key > s->clock && s->qloads == 0 &&
        s->qn - s->qhead <= FC_SITE_MAX_HELD)
        return 0;
    s->qhead++;
    if (r->wx) {
        apply_weather(s, r->wx);
        wx_free(r->wx);
        r->wx = NULL;
        return 1;
    }
    s->qloads--;
    int rc = fc_site_put_load(s, r->start, r->end, r->kw, r->revision, why, sizeof why);
    s->stale_load += rc == FC_PUT_STALE;
    return 1;
}

/* Where the first run still to be issued can fall: no run before it goes
 * out (published already, or before the catch-up horizon). INT64_MIN when
 * no load is known. */
static int64_t first_open_run(const fc_site *s)
{
    int64_t first = s->first_load, r = INT64_MAX;
    for (size_t i = s->qhead; i < s->qn; i++)
        if (!s->q[i].wx && s->q[i].start < first)
            first = s->q[i].start;
    if (first == INT64_MAX)
        return INT64_MIN;
    for (int k = 0; k < FC_NKINDS; k++) {
        int64_t from = s->next[k] ? s->next[k] : first + s->c.warmup;
        if (!s->next[k] && s->has_pub[k] && s->last_pub[k] + 1 > from)
            from = s->last_pub[k] + 1;
        if (s->horizon > from && from > s->keep)
            from = s->horizon;
        int64_t at = fc_site_issue_at_or_after(s, (fc_kind)k, from);
        if (at < r)
            r = at;
    }
    return r;
}

void fc_site_catch_up(fc_site *s)
{
    if (s->c.backfill > 0)
        s->horizon = fc_site_newest(s) - s->c.backfill;
    /* the history before the first open run issues nothing: apply it now,
     * so the state (clock, weather columns) is that of a service about to
     * issue that run (saved models are checked against it) */
    int64_t r = first_open_run(s);
    while (s->qhead < s->qn) {
        q_sort(s);
        if (s->q[s->qhead].key >= r || !apply_next(s))
            break;
    }
}

void fc_site_keep_runs(fc_site *s, int64_t until)
{
    if (until > s->keep)
        s->keep = until;
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
    while (s->next[k] < s->horizon && s->next[k] > s->keep) {
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

static int run_due(fc_site *s, fc_kind *k, int64_t *issue, size_t *skipped)
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

int fc_site_due(fc_site *s, fc_kind *k, int64_t *issue, size_t *skipped)
{
    while (!run_due(s, k, issue, skipped))
        if (!apply_next(s))
            return 0;
    return 1;
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
