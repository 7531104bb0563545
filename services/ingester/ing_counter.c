/*
 * ing_counter: the energy counter part of ing_rollup_check() (see
 * ing_rollup.h and docs/ingester.md, "Counter resets"). No I/O.
 *
 * A reading newer than the meter's newest counter goes on from it, or,
 * falling below it, starts a reset candidate. Any other reading (late, or
 * between the old counter and a pending candidate) is checked against its
 * neighbours in time within its counter segment: the kept reading just
 * before it (its counter may not be below that one's) and the one just
 * after it (may not be above). Segments start at the candidates of
 * confirmed resets.
 *
 * Kept are the accepted counter readings of at least the restore window
 * (lateness + correction horizon + 2 intervals) before the newest, and the
 * resets of that window (at most ING_RESETS_MAX). A restart feeds the
 * stored readings of that window through this check in time order, which
 * rebuilds both.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ingester/ing_rollup_int.h"

/* ms as "2020-09-01T00:06:00Z" into buf (for reasons and logs). */
static const char *iso_ms(char *buf, size_t size, int64_t ms)
{
    time_t t = (time_t)(ms / 1000 - (ms % 1000 < 0));
    struct tm tm;

    if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, size, "%lld ms", (long long)ms);
    return buf;
}

static double ctr_eps(double v)
{
    return 1e-9 * fmax(1.0, fabs(v));
}

/* The span of readings a restart restores (as ing_service's restore). */
static int64_t window_ms(const ing_rollup_t *r)
{
    return r->conf.lateness_ms + r->conf.horizon_ms + 2 * r->conf.interval_ms;
}

/* The newest event time the check knows of the meter, ts included. */
static int64_t newest_ts(const meter_t *m, int64_t ts)
{
    if (m->ctr_set && m->ctr_ts > ts)
        ts = m->ctr_ts;
    if (m->pend && m->last_ts > ts)
        ts = m->last_ts;
    return ts;
}

/* ---- the kept readings ---- */

/* Index of the first kept reading at or after ts. */
static size_t pts_lower(const meter_t *m, int64_t ts)
{
    size_t lo = 0, hi = m->npts;

    if (!hi || m->pts[hi - 1].ts < ts)
        return hi; /* the usual case: a reading newer than all */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->pts[mid].ts < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void pts_drop_before(meter_t *m, int64_t cut)
{
    size_t i = pts_lower(m, cut);

    memmove(m->pts, m->pts + i, (m->npts - i) * sizeof *m->pts);
    m->npts -= i;
}

/* Room for one more kept reading. When full, the readings older than the
 * window are dropped first, and the array doubles only when that freed
 * less than a quarter of it: dropping costs O(1) a reading, amortised, the
 * array holds less than 8/3 of the window's readings, and readings a
 * little older than the window may stay meanwhile (they are still true
 * neighbours). 0, or -1 on allocation failure. */
static int pts_reserve(const ing_rollup_t *r, meter_t *m, int64_t newest)
{
    if (m->npts < m->pcap)
        return 0;
    if (m->npts)
        pts_drop_before(m, newest - window_ms(r));
    if (m->pcap && m->npts * 4 <= m->pcap * 3)
        return 0;
    return ing_grow(&m->pts, &m->pcap, m->pcap + 1, sizeof *m->pts);
}

/* Keeps an accepted reading (once per time; room was reserved). */
static void pts_note(meter_t *m, int64_t ts, double v)
{
    size_t i = pts_lower(m, ts);

    if (i < m->npts && m->pts[i].ts == ts)
        return;
    memmove(m->pts + i + 1, m->pts + i, (m->npts - i) * sizeof *m->pts);
    m->pts[i].ts = ts;
    m->pts[i].v = v;
    m->npts++;
}

/* ---- counter segments ---- */

static void reset_drop_oldest(meter_t *m)
{
    m->rs_floor = m->rs_ts[0];
    m->nrs--;
    memmove(m->rs_ts, m->rs_ts + 1, (size_t)m->nrs * sizeof *m->rs_ts);
}

/* A confirmed reset: a new segment from its candidate on. */
static void reset_note(meter_t *m, int64_t cand_ts)
{
    if (m->nrs == ING_RESETS_MAX)
        reset_drop_oldest(m);
    m->rs_ts[m->nrs++] = cand_ts;
}

/* Forgets the resets older than the window before newest. */
static void resets_expire(const ing_rollup_t *r, meter_t *m, int64_t newest)
{
    while (m->nrs && m->rs_ts[0] < newest - window_ms(r))
        reset_drop_oldest(m);
}

/* The counter segment [*lo, *hi) that ts (before any pending candidate)
 * falls in; a pending candidate bounds the old counter's last segment. */
static void segment_of(const meter_t *m, int64_t ts, int64_t *lo, int64_t *hi)
{
    *lo = m->rs_floor;
    *hi = m->pend ? m->cand_ts : INT64_MAX;
    for (int i = 0; i < m->nrs; i++) {
        if (m->rs_ts[i] > ts) {
            if (m->rs_ts[i] < *hi)
                *hi = m->rs_ts[i];
            break;
        }
        *lo = m->rs_ts[i];
    }
}

/* Whether hi, the end of a segment, is a confirmed reset's candidate. */
static bool ends_in_reset(const meter_t *m, int64_t hi)
{
    for (int i = 0; i < m->nrs; i++)
        if (m->rs_ts[i] == hi)
            return true;
    return false;
}

/* Checks rd against the kept readings just before and just after it (and
 * at its time) within the segment [lo, hi). 0, or -1 with the reason. */
static int neighbours_check(const meter_t *m, const ing_reading_t *rd, int64_t lo,
                            int64_t hi, char *reason, size_t reason_size)
{
    double v = rd->energy_kwh, eps = ctr_eps(v);
    size_t i = pts_lower(m, rd->ts_ms), next = i;
    bool same = i < m->npts && m->pts[i].ts == rd->ts_ms;
    char at[40];

    next += same;
    if (next < m->npts && m->pts[next].ts < hi && v > m->pts[next].v + eps) {
        const ctr_pt_t *n = &m->pts[next];
        bool last = next + 1 == m->npts || m->pts[next + 1].ts >= hi;
        if (last && ends_in_reset(m, hi))
            snprintf(reason, reason_size,
                     "energy counter %.6f kWh above %.6f kWh, the last before the "
                     "counter reset",
                     v, n->v);
        else
            snprintf(reason, reason_size,
                     "energy counter %.6f kWh above a later reading's %.6f kWh at %s",
                     v, n->v, iso_ms(at, sizeof at, n->ts));
        return -1;
    }
    if (i > 0 && m->pts[i - 1].ts >= lo && v < m->pts[i - 1].v - eps) {
        snprintf(reason, reason_size,
                 "energy counter %.6f kWh below an earlier reading's %.6f kWh at %s", v,
                 m->pts[i - 1].v, iso_ms(at, sizeof at, m->pts[i - 1].ts));
        return -1;
    }
    if (same && fabs(v - m->pts[i].v) > eps) {
        snprintf(reason, reason_size,
                 "energy counter %.6f kWh conflicts with %.6f kWh at the same time", v,
                 m->pts[i].v);
        return -1;
    }
    return 0;
}

/* ---- the reset candidate ---- */

static void ctr_set(meter_t *m, int64_t ts, double v)
{
    m->ctr_set = true;
    m->ctr_ts = ts;
    m->ctr_v = v;
}

/* A counter below the newest one: held as a reset candidate. */
static void pend_start(meter_t *m, ing_reading_t *rd)
{
    m->pend = true;
    m->pend_n = 0;
    m->cand_ts = m->last_ts = rd->ts_ms;
    m->cand_v = m->last_v = rd->energy_kwh;
    rd->reset = ING_RESET_PENDING;
}

/* A reading at or above the old counter ends the candidate as a glitch:
 * its readings are no neighbours of anything. */
static void pend_glitch(meter_t *m, ing_reading_t *rd, char *reason, size_t reason_size)
{
    char at[40];

    snprintf(reason, reason_size,
             "energy counter glitch: %.6f kWh at %s between %.6f kWh and "
             "%.6f kWh (%d reading(s) not rolled up)",
             m->cand_v, iso_ms(at, sizeof at, m->cand_ts), m->ctr_v, rd->energy_kwh,
             m->pend_n + 1);
    m->glitch_n = m->pend_n + 1;
    m->pend = false;
    m->npts = pts_lower(m, m->cand_ts);
    rd->reset = ING_RESET_GLITCH;
    ctr_set(m, rd->ts_ms, rd->energy_kwh);
}

/* A late reading (or a replay) inside the held run: between the
 * candidate's and the newest held counter, and between its neighbours. */
static int pend_late(meter_t *m, ing_reading_t *rd, char *reason, size_t reason_size)
{
    double v = rd->energy_kwh, eps = ctr_eps(v);

    if (!(v >= m->cand_v - eps && v <= m->last_v + eps && v < m->ctr_v - eps)) {
        snprintf(reason, reason_size,
                 "energy counter %.6f kWh outside the pending reset's %.6f..%.6f kWh",
                 v, m->cand_v, m->last_v);
        return -1;
    }
    if (neighbours_check(m, rd, m->cand_ts, INT64_MAX, reason, reason_size))
        return -1;
    rd->reset = ING_RESET_PENDING;
    return 0;
}

/* A reading at or after the candidate while it is pending. */
static int pend_check(ing_rollup_t *r, meter_t *m, ing_reading_t *rd, char *reason,
                      size_t reason_size)
{
    double v = rd->energy_kwh, eps = ctr_eps(v);
    char at[40];

    if (v >= m->ctr_v - eps && rd->ts_ms > m->last_ts) {
        pend_glitch(m, rd, reason, reason_size);
        return 0;
    }
    if (rd->ts_ms <= m->last_ts)
        return pend_late(m, rd, reason, reason_size);
    if (v < m->last_v - eps) {
        snprintf(reason, reason_size,
                 "negative energy counter delta: %.6f kWh after %.6f kWh "
                 "(a reset from %.6f kWh pending)",
                 v, m->last_v, m->ctr_v);
        return -1;
    }
    m->last_ts = rd->ts_ms;
    m->last_v = v;
    if (++m->pend_n < r->conf.reset_confirm) {
        rd->reset = ING_RESET_PENDING;
        return 0;
    }
    snprintf(reason, reason_size,
             "energy counter reset: %.6f kWh, then %.6f kWh at %s, %d reading(s) "
             "continue to %.6f kWh",
             m->ctr_v, m->cand_v, iso_ms(at, sizeof at, m->cand_ts), m->pend_n, v);
    m->pend = false;
    reset_note(m, m->cand_ts);
    rd->reset = ING_RESET_CONFIRM;
    ctr_set(m, rd->ts_ms, v);
    return 0;
}

/* ---- the check ---- */

/* The verdict on one counter reading; changes the state only when 0. */
static int counter_verdict(ing_rollup_t *r, meter_t *m, ing_reading_t *rd, char *reason,
                           size_t reason_size)
{
    double v = rd->energy_kwh;
    int64_t lo, hi;

    if (m->pend && rd->ts_ms >= m->cand_ts)
        return pend_check(r, m, rd, reason, reason_size);
    if (m->ctr_set && rd->ts_ms > m->ctr_ts && v < m->ctr_v - ctr_eps(v) && !m->pend) {
        pend_start(m, rd);
        return 0;
    }
    if (m->pend && rd->ts_ms > m->ctr_ts && v < m->ctr_v - ctr_eps(v)) {
        /* between the old counter and the candidate: part of neither */
        snprintf(reason, reason_size,
                 "negative energy counter delta: %.6f kWh after %.6f kWh", v, m->ctr_v);
        return -1;
    }
    if (rd->ts_ms >= m->rs_floor) { /* before it the segment is unknown */
        segment_of(m, rd->ts_ms, &lo, &hi);
        if (neighbours_check(m, rd, lo, hi, reason, reason_size))
            return -1;
    }
    if (!m->ctr_set || rd->ts_ms > m->ctr_ts)
        ctr_set(m, rd->ts_ms, v);
    return 0;
}

int ing_counter_check(ing_rollup_t *r, meter_t *m, ing_reading_t *rd, char *reason,
                      size_t reason_size)
{
    int64_t newest = newest_ts(m, rd->ts_ms);

    if (pts_reserve(r, m, newest)) {
        snprintf(reason, reason_size, "out of memory");
        return -1;
    }
    if (counter_verdict(r, m, rd, reason, reason_size))
        return -1;
    pts_note(m, rd->ts_ms, rd->energy_kwh);
    resets_expire(r, m, newest);
    return 0;
}

void ing_counter_forget(meter_t *m)
{
    m->ctr_set = false;
    m->pend = false;
    m->npts = 0;
    m->nrs = 0;
    m->rs_floor = INT64_MIN;
}
