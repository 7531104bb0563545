/*
 * ing_rollup: event-time interval rollups per meter and per site (see
 * ing_rollup.h). Gap tracking lives in ing_gap.c.
 */
#include "ingester/ing_rollup.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingester/ing_rollup_int.h"

#define MS_PER_H 3600000.0

int ing_grow(void *arr, size_t *cap, size_t need, size_t sz)
{
    void **p = arr;
    size_t n = *cap ? *cap : 8;
    void *q;

    if (need <= *cap)
        return 0;
    while (n < need)
        n *= 2;
    q = realloc(*p, n * sz);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

int64_t ing_floor_to(int64_t t, int64_t step)
{
    int64_t q = t / step;
    if (t % step && t < 0)
        q--;
    return q * step;
}

/* ---- lifecycle ---- */

ing_rollup_t *ing_rollup_new(const ing_rollup_conf_t *conf)
{
    ing_rollup_t *r = calloc(1, sizeof *r);

    if (!r)
        return NULL;
    r->conf = *conf;
    r->clock_ms = INT64_MAX;
    if (r->conf.interval_ms <= 0)
        r->conf.interval_ms = 15 * 60 * 1000LL;
    if (r->conf.lateness_ms < 0)
        r->conf.lateness_ms = 0;
    if (r->conf.horizon_ms <= 0)
        r->conf.horizon_ms = 24 * 3600 * 1000LL;
    if (r->conf.sample_period_ms <= 0)
        r->conf.sample_period_ms = 60 * 1000LL;
    if (r->conf.reset_confirm <= 0)
        r->conf.reset_confirm = 3;
    r->cap = 64;
    r->slots = calloc(r->cap, sizeof *r->slots);
    if (!r->slots) {
        free(r);
        return NULL;
    }
    return r;
}

void ing_rollup_destroy(ing_rollup_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->cap; i++) {
        meter_t *m = r->slots[i];
        if (m) {
            free(m->accs);
            free(m->gaps);
            free(m->held);
            free(m->pts);
            free(m);
        }
    }
    for (size_t i = 0; i < r->nsites; i++) {
        free(r->sites[i]->meters);
        free(r->sites[i]->revs);
        free(r->sites[i]->parts);
        free(r->sites[i]);
    }
    free(r->sites);
    free(r->site_slots);
    free(r->slots);
    free(r->out_iv);
    free(r->out_gap);
    free(r);
}

/* ---- meters and sites ---- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

static meter_t **meter_slot(const ing_rollup_t *r, const char *id)
{
    size_t i = (size_t)hash_str(id) & (r->cap - 1);
    while (r->slots[i] && strcmp(r->slots[i]->id, id) != 0)
        i = (i + 1) & (r->cap - 1);
    return &r->slots[i];
}

meter_t *ing_meter_find(const ing_rollup_t *r, const char *id)
{
    return *meter_slot(r, id);
}

static int meters_rehash(ing_rollup_t *r)
{
    meter_t **old = r->slots;
    size_t oldcap = r->cap;

    r->slots = calloc(oldcap * 2, sizeof *r->slots);
    if (!r->slots) {
        r->slots = old;
        return -1;
    }
    r->cap = oldcap * 2;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i])
            *meter_slot(r, old[i]->id) = old[i];
    free(old);
    return 0;
}

static site_t **site_slot(const ing_rollup_t *r, const char *id)
{
    size_t i = (size_t)hash_str(id) & (r->site_cap - 1);
    while (r->site_slots[i] && strcmp(r->site_slots[i]->id, id) != 0)
        i = (i + 1) & (r->site_cap - 1);
    return &r->site_slots[i];
}

site_t *ing_site_find(const ing_rollup_t *r, const char *id)
{
    return r->site_cap ? *site_slot(r, id) : NULL;
}

/* Keeps the site table at most half full for one more site; 0 or -1. */
static int sites_reserve(ing_rollup_t *r)
{
    site_t **old = r->site_slots;
    size_t cap = r->site_cap ? r->site_cap : 32;

    while (cap < 2 * (r->nsites + 1))
        cap *= 2;
    if (cap == r->site_cap)
        return 0;
    if (!(r->site_slots = calloc(cap, sizeof *r->site_slots))) {
        r->site_slots = old;
        return -1;
    }
    r->site_cap = cap;
    for (size_t i = 0; i < r->nsites; i++)
        *site_slot(r, r->sites[i]->id) = r->sites[i];
    free(old);
    return 0;
}

site_t *ing_site_get(ing_rollup_t *r, const char *id, bool create)
{
    site_t *s = ing_site_find(r, id);

    if (s || !create)
        return s;
    if (sites_reserve(r) ||
        ing_grow(&r->sites, &r->scap, r->nsites + 1, sizeof *r->sites))
        return NULL;
    if (!(s = calloc(1, sizeof *s)))
        return NULL;
    snprintf(s->id, sizeof s->id, "%s", id);
    s->restore_from = INT64_MAX;
    r->sites[r->nsites++] = s;
    *site_slot(r, s->id) = s;
    return s;
}

static meter_t *meter_create(ing_rollup_t *r, const char *id, const char *site_id,
                             bool counted, int64_t period_ms)
{
    site_t *s;
    meter_t *m;

    if ((r->nmeters + 1) * 2 > r->cap && meters_rehash(r))
        return NULL;
    if (!(s = ing_site_get(r, site_id, true)))
        return NULL;
    if (ing_grow(&s->meters, &s->mcap, s->nmeters + 1, sizeof *s->meters))
        return NULL;
    if (!(m = calloc(1, sizeof *m)))
        return NULL;
    snprintf(m->id, sizeof m->id, "%s", id);
    m->site = s;
    m->counted = counted;
    m->period_ms = period_ms > 0 ? period_ms : r->conf.sample_period_ms;
    ing_counter_forget(m);
    s->meters[s->nmeters++] = m;
    *meter_slot(r, id) = m;
    r->nmeters++;
    return m;
}

int ing_rollup_set_meter(ing_rollup_t *r, const char *meter_id, const char *site_id,
                         bool counted, int64_t sample_period_ms)
{
    meter_t *m = *meter_slot(r, meter_id);

    if (m) {
        if (strcmp(m->site->id, site_id) != 0)
            return -1;
        m->counted = counted;
        m->period_ms =
            sample_period_ms > 0 ? sample_period_ms : r->conf.sample_period_ms;
        return 0;
    }
    return meter_create(r, meter_id, site_id, counted, sample_period_ms) ? 0 : -1;
}

/* ---- checks (the counter part is in ing_counter.c) ---- */

int ing_rollup_check(ing_rollup_t *r, ing_reading_t *rd, char *reason,
                     size_t reason_size)
{
    meter_t *m = *meter_slot(r, rd->meter_id);

    rd->reset = ING_RESET_NONE;
    if (!m) {
        if (!r->conf.accept_unknown) {
            snprintf(reason, reason_size, "unknown meter '%s'", rd->meter_id);
            return -1;
        }
        if (!(m = meter_create(r, rd->meter_id, rd->site_id, true, 0))) {
            snprintf(reason, reason_size, "out of memory");
            return -1;
        }
    }
    if (strcmp(m->site->id, rd->site_id) != 0) {
        snprintf(reason, reason_size, "meter '%s' belongs to site '%s', not '%s'",
                 m->id, m->site->id, rd->site_id);
        return -1;
    }
    if (!(rd->present & ING_HAS_ENERGY))
        return 0;
    return ing_counter_check(r, m, rd, reason, reason_size);
}

/* ---- accumulation ---- */

static int64_t site_wm(const ing_rollup_t *r, const site_t *s)
{
    return s->has_ts ? s->max_ts - r->conf.lateness_ms : INT64_MIN;
}

/* Index of the first acc with start >= start. */
size_t ing_acc_lower(const meter_t *m, int64_t start)
{
    size_t lo = 0, hi = m->nacc;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->accs[mid].start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const acc_t *acc_find(const meter_t *m, int64_t start)
{
    size_t i = ing_acc_lower(m, start);
    return i < m->nacc && m->accs[i].start == start ? &m->accs[i] : NULL;
}

static acc_t *acc_get(meter_t *m, int64_t start, bool *created)
{
    size_t i = ing_acc_lower(m, start);
    acc_t *a;

    *created = false;
    if (i < m->nacc && m->accs[i].start == start)
        return &m->accs[i];
    if (ing_grow(&m->accs, &m->acap, m->nacc + 1, sizeof *m->accs))
        return NULL;
    memmove(&m->accs[i + 1], &m->accs[i], (m->nacc - i) * sizeof *m->accs);
    m->nacc++;
    a = &m->accs[i];
    memset(a, 0, sizeof *a);
    a->start = start;
    a->revision = -1;
    *created = true;
    return a;
}

/* rd's counter on the meter's continuous scale, that of the counter
 * segment its time falls in (see meter_t.segs). */
static double ctr_cont(const meter_t *m, const ing_reading_t *rd)
{
    double off = m->base_off;

    for (int i = 0; i < m->nseg && m->segs[i].ts <= rd->ts_ms; i++)
        off = m->segs[i].off;
    return rd->energy_kwh + off;
}

/* The oldest segment's offset becomes the one before every kept segment. */
static void seg_drop_oldest(meter_t *m)
{
    m->base_off = m->segs[0].off;
    m->nseg--;
    memmove(m->segs, m->segs + 1, (size_t)m->nseg * sizeof *m->segs);
}

/* The energy between the old counter's last reading and the new counter's
 * first: the new counter's value when a meter starting from zero could
 * have counted it at the power reported (at most twice the higher of the
 * two readings' power over the time between them), else their mean power
 * over that time (0 without power). */
static double reset_gap_energy(const ctr_end_t *last, const ctr_end_t *cand)
{
    double hours = (double)(cand->ts - last->ts) / MS_PER_H, p_sum = 0, p_max = 0;
    int n = 0;

    if (last->has_p) {
        p_sum += last->p;
        p_max = fmax(p_max, last->p);
        n++;
    }
    if (cand->has_p) {
        p_sum += cand->p;
        p_max = fmax(p_max, cand->p);
        n++;
    }
    if (n && cand->v >= 0 && cand->v <= 2 * p_max * hours)
        return cand->v;
    return n ? fmax(0, p_sum / n * hours) : 0;
}

/* The offset that makes the candidate continue the old counter's last
 * reading by the energy between the two. */
static double seg_offset(const seg_t *sg)
{
    return sg->last.v + reset_gap_energy(&sg->last, &sg->cand) - sg->cand.v;
}

static void seg_push(meter_t *m, const ctr_end_t *last, const ctr_end_t *cand)
{
    seg_t *sg;

    if (m->nseg == ING_RESETS_MAX)
        seg_drop_oldest(m);
    sg = &m->segs[m->nseg++];
    sg->ts = cand->ts;
    sg->last = *last;
    sg->cand = *cand;
    sg->off = seg_offset(sg);
}

/* Forgets the segments no reading can be rolled up before any more: a
 * reading earlier than such a segment's start is past the horizon. */
static void seg_expire(ing_rollup_t *r, meter_t *m, int64_t wm)
{
    while (m->nseg && m->segs[0].ts + r->conf.interval_ms <= wm - r->conf.horizon_ms)
        seg_drop_oldest(m);
}

static void acc_add(acc_t *a, const ing_reading_t *rd, double cont)
{
    a->n_good++;
    if (rd->present & ING_HAS_POWER) {
        double p = rd->power_kw;
        a->p_sum += p;
        a->p_max = a->n_power ? fmax(a->p_max, p) : p;
        a->p_min = a->n_power ? fmin(a->p_min, p) : p;
        a->n_power++;
    }
    if (rd->present & ING_HAS_ENERGY) {
        if (!a->n_energy || rd->ts_ms < a->e_t0) {
            a->e_t0 = rd->ts_ms;
            a->e_v0 = cont;
        }
        if (!a->n_energy || rd->ts_ms > a->e_t1) {
            a->e_t1 = rd->ts_ms;
            a->e_v1 = cont;
        }
        a->n_energy++;
    }
}

site_rev_t *ing_site_rev_get(site_t *s, int64_t start)
{
    size_t i = 0, hi = s->nrev;
    site_rev_t *sr;

    while (i < hi) { /* first rev with start >= start */
        size_t mid = (i + hi) / 2;
        if (s->revs[mid].start < start)
            i = mid + 1;
        else
            hi = mid;
    }
    if (i < s->nrev && s->revs[i].start == start)
        return &s->revs[i];
    if (ing_grow(&s->revs, &s->rcap, s->nrev + 1, sizeof *s->revs))
        return NULL;
    memmove(&s->revs[i + 1], &s->revs[i], (s->nrev - i) * sizeof *s->revs);
    s->nrev++;
    sr = &s->revs[i];
    sr->start = start;
    sr->revision = -1;
    sr->dirty = false;
    return sr;
}

static ctr_end_t ctr_end_of(const ing_reading_t *rd, double v)
{
    ctr_end_t e = {.ts = rd->ts_ms,
                   .v = v,
                   .has_p = rd->present & ING_HAS_POWER,
                   .p = rd->power_kw};
    return e;
}

/* Remembers the newest counter reading rolled up (the old counter's last
 * one when a reset is confirmed). */
static void note_counter(meter_t *m, const ing_reading_t *rd, double cont)
{
    if (!(rd->present & ING_HAS_ENERGY) || (m->rl_set && rd->ts_ms <= m->rl.ts))
        return;
    m->rl_set = true;
    m->rl = ctr_end_of(rd, cont);
}

/* Moves the continuous scale from segment i on by delta: the offsets of it
 * and the later segments, and every continuous value kept from its start
 * on. Only an interval with counter readings on both sides of the start
 * changes its energy: it is marked for a correction when closed. 0, or -1
 * on allocation failure. */
static int seg_shift(meter_t *m, int i, double delta)
{
    int64_t from = m->segs[i].ts;

    m->segs[i].off += delta;
    for (int j = i + 1; j < m->nseg; j++) {
        m->segs[j].off += delta;
        m->segs[j].last.v += m->segs[j].last.ts >= from ? delta : 0;
    }
    if (m->rl_set && m->rl.ts >= from)
        m->rl.v += delta;
    for (size_t k = 0; k < m->nacc; k++) {
        acc_t *a = &m->accs[k];
        bool straddles = a->n_energy && a->e_t0 < from && a->e_t1 >= from;
        a->e_v0 += a->n_energy && a->e_t0 >= from ? delta : 0;
        a->e_v1 += a->n_energy && a->e_t1 >= from ? delta : 0;
        if (straddles && a->closed) {
            site_rev_t *sr = ing_site_rev_get(m->site, a->start);
            if (!sr)
                return -1;
            a->dirty = sr->dirty = true;
        }
    }
    return 0;
}

/* A counter reading of an old counter that arrives after its reset was
 * confirmed, later than the last reading the segment's offset continues:
 * it becomes that last reading, and the offset is worked out again, as if
 * it had come in time. 0, or -1 on allocation failure. */
static int seg_new_last(meter_t *m, const ing_reading_t *rd, double cont)
{
    int i = 0;
    seg_t *sg;
    double delta;

    if (!(rd->present & ING_HAS_ENERGY))
        return 0;
    while (i < m->nseg && m->segs[i].ts <= rd->ts_ms)
        i++;
    if (i == m->nseg || rd->ts_ms <= m->segs[i].last.ts)
        return 0;
    sg = &m->segs[i];
    sg->last = ctr_end_of(rd, cont);
    delta = seg_offset(sg) - sg->off;
    return delta != 0 ? seg_shift(m, i, delta) : 0;
}

/* Puts a good reading into its interval. */
static ing_add_result_t add_good(ing_rollup_t *r, meter_t *m, const ing_reading_t *rd)
{
    int64_t iv = r->conf.interval_ms, start = ing_floor_to(rd->ts_ms, iv);
    int64_t wm = site_wm(r, m->site);
    double cont = ctr_cont(m, rd);
    bool created, closed, too_late = start + iv <= wm - r->conf.horizon_ms;
    acc_t *a;

    if (!too_late && seg_new_last(m, rd, cont))
        return ING_ADD_ERROR;
    note_counter(m, rd, cont);
    if (rd->quality != ING_Q_GOOD)
        return ING_ADD_IGNORED;
    if (too_late) {
        r->too_late++;
        return ING_ADD_TOO_LATE;
    }
    if (!(a = acc_get(m, start, &created)))
        return ING_ADD_ERROR;
    acc_add(a, rd, cont);
    closed = start + iv <= wm;
    if (closed) { /* a correction of a closed interval */
        site_rev_t *sr = ing_site_rev_get(m->site, start);
        if (!sr)
            return ING_ADD_ERROR;
        a->closed = true;
        a->dirty = true;
        sr->dirty = true;
    }
    return ing_gap_on_reading(r, m, start, created, closed) ? ING_ADD_ERROR
                                                            : ING_ADD_USED;
}

static int hold(meter_t *m, const ing_reading_t *rd)
{
    if (ing_grow(&m->held, &m->hcap, m->nheld + 1, sizeof *m->held))
        return -1;
    m->held[m->nheld++] = *rd;
    return 0;
}

static const ing_reading_t *held_candidate(const meter_t *m)
{
    const ing_reading_t *c = NULL;

    for (size_t i = 0; i < m->nheld; i++)
        if ((m->held[i].present & ING_HAS_ENERGY) &&
            (!c || m->held[i].ts_ms < c->ts_ms))
            c = &m->held[i];
    return c;
}

/* A confirmed reset: the new counter continues the old one's continuous
 * value from the candidate on, and the held readings are rolled up. */
static ing_add_result_t release_held(ing_rollup_t *r, meter_t *m)
{
    const ing_reading_t *cand = held_candidate(m);
    ing_add_result_t res = ING_ADD_USED;

    if (cand && m->rl_set && cand->ts_ms > m->rl.ts) {
        ctr_end_t c = ctr_end_of(cand, cand->energy_kwh);
        seg_push(m, &m->rl, &c);
    }
    r->resets++;
    for (size_t i = 0; i < m->nheld && res != ING_ADD_ERROR; i++)
        res = add_good(r, m, &m->held[i]);
    m->nheld = 0;
    return res;
}

void ing_rollup_set_clock(ing_rollup_t *r, int64_t now_ms)
{
    r->clock_ms = now_ms;
}

int64_t ing_rollup_clock(const ing_rollup_t *r)
{
    return r->clock_ms;
}

ing_add_result_t ing_rollup_add(ing_rollup_t *r, const ing_reading_t *rd)
{
    meter_t *m = *meter_slot(r, rd->meter_id);
    /* a reading dated ahead of the clock moves the watermark only to the
     * clock: it would close every interval up to it, of every meter of the
     * site, and make the readings that follow late or too late */
    int64_t seen = rd->ts_ms < r->clock_ms ? rd->ts_ms : r->clock_ms;

    if (!m)
        return ING_ADD_UNKNOWN;
    if (!m->site->has_ts || seen > m->site->max_ts) {
        m->site->has_ts = true;
        m->site->max_ts = seen;
    }
    switch (rd->reset) {
    case ING_RESET_PENDING:
        return hold(m, rd) ? ING_ADD_ERROR : ING_ADD_HELD;
    case ING_RESET_CONFIRM:
        return hold(m, rd) ? ING_ADD_ERROR : release_held(r, m);
    case ING_RESET_GLITCH:
        r->glitches += (int64_t)m->nheld;
        m->nheld = 0;
        break;
    case ING_RESET_NONE:
        break;
    }
    return add_good(r, m, rd);
}

/* ---- closing and emitting ---- */

static void acc_values(const ing_rollup_t *r, const meter_t *m, const acc_t *a,
                       ing_interval_t *o)
{
    int64_t iv = r->conf.interval_ms;
    double hours = (double)iv / MS_PER_H, c;

    if (a->n_energy >= 2 && a->e_t1 > a->e_t0)
        o->energy_kwh = (a->e_v1 - a->e_v0) * (double)iv / (double)(a->e_t1 - a->e_t0);
    else if (a->n_power)
        o->energy_kwh = a->p_sum / a->n_power * hours;
    else
        o->energy_kwh = 0;
    o->mean_kw = o->energy_kwh / hours;
    o->peak_kw = a->n_power ? a->p_max : o->mean_kw;
    o->has_min = a->n_power > 0;
    o->min_kw = a->n_power ? a->p_min : 0;
    o->sample_count = a->n_good;
    c = (double)a->n_good * (double)m->period_ms / (double)iv;
    o->completeness = c > 1 ? 1 : c;
}

static ing_interval_t *out_iv_new(ing_rollup_t *r, const site_t *s, int64_t start,
                                  int64_t wm)
{
    ing_interval_t *o;

    if (ing_grow(&r->out_iv, &r->ivcap, r->niv + 1, sizeof *r->out_iv))
        return NULL;
    o = &r->out_iv[r->niv++];
    memset(o, 0, sizeof *o);
    snprintf(o->site_id, sizeof o->site_id, "%s", s->id);
    o->start_ms = start;
    o->end_ms = start + r->conf.interval_ms;
    o->watermark_ms = wm;
    return o;
}

static int emit_meter(ing_rollup_t *r, meter_t *m, acc_t *a, int64_t wm)
{
    ing_interval_t *o = out_iv_new(r, m->site, a->start, wm);

    if (!o)
        return -1;
    o->scope = ING_SCOPE_METER;
    snprintf(o->meter_id, sizeof o->meter_id, "%s", m->id);
    acc_values(r, m, a, o);
    o->revision = ++a->revision;
    if (o->revision == 0)
        r->closed++;
    else
        r->corrected++;
    a->dirty = false;
    return 0;
}

/* Closes the meter's due intervals and emits its new and corrected ones.
 * Nothing is dropped here: the site sum reads these intervals afterwards
 * (meter_prune). */
static int meter_close(ing_rollup_t *r, meter_t *m, int64_t wm)
{
    int64_t iv = r->conf.interval_ms;

    for (size_t i = 0; i < m->nacc; i++) {
        acc_t *a = &m->accs[i];
        if (!a->closed && a->start + iv <= wm) {
            site_rev_t *sr = ing_site_rev_get(m->site, a->start);
            if (!sr)
                return -1;
            a->closed = a->dirty = true;
            sr->dirty = true;
        }
        if (a->dirty && emit_meter(r, m, a, wm))
            return -1;
    }
    return 0;
}

/* Drops the meter's closed intervals past the correction horizon (once the
 * site intervals that sum them are emitted) and advances its gaps. */
static int meter_prune(ing_rollup_t *r, meter_t *m, int64_t wm)
{
    int64_t iv = r->conf.interval_ms;
    size_t keep = 0;

    for (size_t i = 0; i < m->nacc; i++)
        if (!(m->accs[i].closed && m->accs[i].start + iv <= wm - r->conf.horizon_ms))
            m->accs[keep++] = m->accs[i];
    m->nacc = keep;
    seg_expire(r, m, wm);
    return ing_gap_advance(r, m, wm);
}

static int emit_site(ing_rollup_t *r, site_t *s, site_rev_t *sr, int64_t wm)
{
    ing_interval_t *o, mv;
    size_t counted = 0;
    double completeness_sum = 0;

    for (size_t i = 0; i < s->nmeters; i++)
        counted += s->meters[i]->counted;
    if (!counted)
        return 0;
    if (!(o = out_iv_new(r, s, sr->start, wm)))
        return -1;
    o->scope = ING_SCOPE_SITE;
    for (size_t i = 0; i < s->nmeters; i++) {
        const meter_t *m = s->meters[i];
        const acc_t *a = m->counted ? acc_find(m, sr->start) : NULL;
        if (!a)
            continue;
        acc_values(r, m, a, &mv);
        o->energy_kwh += mv.energy_kwh;
        o->peak_kw += mv.peak_kw;
        o->min_kw += mv.min_kw;
        o->has_min = o->has_min || mv.has_min;
        o->sample_count += mv.sample_count;
        completeness_sum += mv.completeness;
    }
    o->mean_kw = o->energy_kwh / ((double)r->conf.interval_ms / MS_PER_H);
    o->completeness = completeness_sum / (double)counted;
    o->revision = ++sr->revision;
    sr->dirty = false;
    return 0;
}

int ing_site_advance(ing_rollup_t *r, site_t *s)
{
    int64_t wm = site_wm(r, s), iv = r->conf.interval_ms;
    size_t keep = 0;

    if (!s->has_ts)
        return 0;
    /* close and emit every meter, then the site sums, and only then drop
     * what is past the horizon: one advance may close (and put past the
     * horizon) intervals of any age when a batch spans a long event time */
    for (size_t i = 0; i < s->nmeters; i++)
        if (meter_close(r, s->meters[i], wm))
            return -1;
    for (size_t i = 0; i < s->nrev; i++)
        if (s->revs[i].dirty && emit_site(r, s, &s->revs[i], wm))
            return -1;
    for (size_t i = 0; i < s->nmeters; i++)
        if (meter_prune(r, s->meters[i], wm))
            return -1;
    for (size_t i = 0; i < s->nrev; i++)
        if (s->revs[i].start + iv > wm - r->conf.horizon_ms)
            s->revs[keep++] = s->revs[i];
    s->nrev = keep;
    return 0;
}

int ing_rollup_advance(ing_rollup_t *r)
{
    for (size_t i = 0; i < r->nsites; i++)
        if (ing_site_advance(r, r->sites[i]))
            return -1;
    return 0;
}

/* ---- outputs and stats ---- */

void ing_rollup_outputs(const ing_rollup_t *r, const ing_interval_t **iv, size_t *niv,
                        const ing_gap_t **gaps, size_t *ngaps)
{
    *iv = r->out_iv;
    *niv = r->niv;
    *gaps = r->out_gap;
    *ngaps = r->ngap;
}

void ing_rollup_clear(ing_rollup_t *r)
{
    r->niv = 0;
    r->ngap = 0;
}

int64_t ing_rollup_watermark(const ing_rollup_t *r, const char *site_id)
{
    const site_t *st = ing_site_find(r, site_id);
    if (st)
        return site_wm(r, st);
    return INT64_MIN;
}

size_t ing_rollup_open_gaps(const ing_rollup_t *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nsites; i++)
        for (size_t j = 0; j < r->sites[i]->nmeters; j++)
            n += ing_gap_open_count(r->sites[i]->meters[j]);
    return n;
}

int ing_rollup_glitch_readings(const ing_rollup_t *r, const char *meter_id)
{
    const meter_t *m = ing_meter_find(r, meter_id);
    return m ? m->glitch_n : 0;
}

void ing_rollup_reset_stats(const ing_rollup_t *r, int64_t *resets, int64_t *glitches)
{
    *resets = r->resets;
    *glitches = r->glitches;
}

void ing_rollup_stats(const ing_rollup_t *r, int64_t *closed, int64_t *corrected,
                      int64_t *too_late)
{
    *closed = r->closed;
    *corrected = r->corrected;
    *too_late = r->too_late;
}
