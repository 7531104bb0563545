/*
 * ing_gap: per-meter gap tracking on event time (see ing_rollup.h).
 */
#include <stdio.h>
#include <string.h>

#include "ingester/ing_rollup_int.h"
#include "ingester/ing_validate.h"

ing_gap_class_t ing_gap_classify(int64_t duration_ms)
{
    if (duration_ms <= 2 * 3600 * 1000LL)
        return ING_GAP_MINOR;
    if (duration_ms <= 12 * 3600 * 1000LL)
        return ING_GAP_MODERATE;
    return ING_GAP_CRITICAL;
}

const char *ing_gap_class_name(ing_gap_class_t c)
{
    static const char *const names[] = {"minor", "moderate", "critical"};
    return (unsigned)c < 3 ? names[c] : "unknown";
}

/* Sets end, duration-derived class and missing count of a gap. */
static void gap_set_end(gap_rec_t *gr, int64_t end_ms, int32_t missing)
{
    gr->g.end_ms = end_ms;
    gr->g.missing_intervals = missing;
    gr->g.gap_class = ing_gap_classify(end_ms - gr->g.start_ms);
}

/* Names a gap after its meter and first missing interval. */
static void gap_name(gap_rec_t *gr, const meter_t *m)
{
    char when[40];

    snprintf(gr->g.gap_id, sizeof gr->g.gap_id, "%s@%s", m->id,
             ing_format_ts(gr->g.start_ms, when, sizeof when));
}

/* A new, never published gap at position i of the meter's gaps (kept in
 * start order), or NULL on allocation failure. */
static gap_rec_t *gap_insert(meter_t *m, size_t i, int64_t start)
{
    gap_rec_t *gr;

    if (ing_grow(&m->gaps, &m->gcap, m->ngap + 1, sizeof *m->gaps))
        return NULL;
    memmove(&m->gaps[i + 1], &m->gaps[i], (m->ngap - i) * sizeof *m->gaps);
    m->ngap++;
    gr = &m->gaps[i];
    memset(gr, 0, sizeof *gr);
    snprintf(gr->g.site_id, sizeof gr->g.site_id, "%s", m->site->id);
    snprintf(gr->g.meter_id, sizeof gr->g.meter_id, "%s", m->id);
    gr->g.start_ms = start;
    gr->g.revision = -1;
    gap_name(gr, m);
    return gr;
}

static gap_rec_t *gap_open(meter_t *m, int64_t start)
{
    return gap_insert(m, m->ngap, start);
}

static void gap_remove(meter_t *m, size_t i)
{
    memmove(&m->gaps[i], &m->gaps[i + 1], (m->ngap - i - 1) * sizeof *m->gaps);
    m->ngap--;
}

static gap_rec_t *gap_ongoing(meter_t *m)
{
    if (m->ngap && m->gaps[m->ngap - 1].g.ongoing)
        return &m->gaps[m->ngap - 1];
    return NULL;
}

/* Where the next gap of the meter would start: the end of its latest
 * interval with a good reading, or, while late readings are still filling
 * the latest closed gap in order, that gap's end (its span is already
 * reported; the next gap must not overlap it). */
static int64_t gap_from(const meter_t *m)
{
    for (size_t i = m->ngap; i-- > 0;) {
        const gap_rec_t *gr = &m->gaps[i];
        if (gr->g.ongoing)
            continue;
        if (m->last_end >= gr->g.start_ms && m->last_end < gr->g.end_ms)
            return gr->g.end_ms;
        break;
    }
    return m->last_end;
}

/* Counts a late reading's interval as filled in the closed gap holding it. */
static void gap_fill(gap_rec_t *gr)
{
    gr->filled++;
    if (gr->filled >= gr->g.missing_intervals)
        gr->g.recovered = true;
    gr->dirty = true;
}

/* A late reading for the interval at x of the pending gap i arrived before
 * the watermark closed that interval: x was never missing. The gap loses x
 * (at its start or end, or is split around it), or goes when x was all it
 * held. Its earlier intervals may be closed already (and filled since): they
 * stay. 0, or -1 on allocation failure. */
static int gap_take_out(ing_rollup_t *r, meter_t *m, size_t i, int64_t x)
{
    int64_t iv = r->conf.interval_ms, start = m->gaps[i].g.start_ms;
    int64_t end = m->gaps[i].g.end_ms;
    gap_rec_t *gr;

    if (x == start) { /* nothing before x is closed: never published */
        if (x + iv >= end) {
            gap_remove(m, i);
            return 0;
        }
        gr = &m->gaps[i];
        gr->g.start_ms = x + iv;
        gap_name(gr, m);
        gap_set_end(gr, end, (int32_t)((end - gr->g.start_ms) / iv));
    } else {
        if (x + iv < end) { /* the intervals after x form a gap of their own */
            gap_rec_t *rest = gap_insert(m, i + 1, x + iv);
            if (!rest)
                return -1;
            rest->pending = rest->dirty = true;
            gap_set_end(rest, end, (int32_t)((end - rest->g.start_ms) / iv));
        }
        gr = &m->gaps[i];
        gap_set_end(gr, x, (int32_t)((x - start) / iv));
    }
    if (gr->filled >= gr->g.missing_intervals)
        gr->g.recovered = true;
    gr->dirty = true;
    return 0;
}

/* While a restore feeds the stored readings in event-time order: intervals
 * skipped by the meter form a gap, kept only when the watermark has not
 * passed its end at the finish (ing_gap_restore_done; published ones come
 * from the gaps table). 0 or -1. */
static int gap_rebuild(meter_t *m, int64_t start, int64_t iv)
{
    gap_rec_t *gr;

    if (!m->has_last || start <= m->last_end)
        return 0;
    if (!(gr = gap_open(m, m->last_end)))
        return -1;
    gr->pending = gr->rebuilt = gr->dirty = true;
    gap_set_end(gr, start, (int32_t)((start - gr->g.start_ms) / iv));
    return 0;
}

/* A good reading in the interval at start. new_interval: the interval had no
 * good reading before; closed: the watermark had passed its end before this
 * reading. Opens/closes gaps for in-order readings, counts recovered
 * intervals for late ones. */
int ing_gap_on_reading(ing_rollup_t *r, meter_t *m, int64_t start, bool new_interval,
                       bool closed)
{
    int64_t iv = r->conf.interval_ms, from;
    gap_rec_t *gr;

    if (r->restoring) { /* published gaps come from the gaps table
                         * (ing_gap_restore); held ones are rebuilt here */
        if (gap_rebuild(m, start, iv))
            return -1;
        if (!m->has_last || start + iv > m->last_end)
            m->last_end = start + iv;
        m->has_last = true;
        return 0;
    }
    if (!m->has_last) {
        m->has_last = true;
        m->last_end = start + iv;
        return 0;
    }
    if (start >= m->last_end) {
        gr = gap_ongoing(m);
        from = gap_from(m);
        if (gr && gr->g.start_ms == m->last_end && start == m->last_end) {
            /* the first missing interval of a published ongoing gap arrives
             * late: the gap keeps the span it was reported with and late
             * readings fill it (recovered once all have) */
            int32_t missing = gr->g.missing_intervals > 0 ? gr->g.missing_intervals : 1;
            gr->g.ongoing = false;
            gap_set_end(gr, gr->g.start_ms + missing * iv, missing);
            gr->filled = 0;
            gr->dirty = true;
            from = gr->g.end_ms;
        }
        if (start > from) {
            if (!gr || gr->g.start_ms != from || !gr->g.ongoing)
                gr = gap_open(m, from);
            if (!gr)
                return -1;
            gr->g.ongoing = false;
            gap_set_end(gr, start, (int32_t)((start - gr->g.start_ms) / iv));
            /* its end is known, but its last intervals may still be open:
             * held until the watermark passes it */
            gr->pending = gr->dirty = true;
        } else if (start < from && new_interval) { /* catching up in order */
            for (size_t i = m->ngap; i-- > 0;)
                if (!m->gaps[i].g.ongoing) {
                    gap_fill(&m->gaps[i]);
                    break;
                }
        }
        m->last_end = start + iv;
        return 0;
    }
    if (!new_interval)
        return 0;
    for (size_t i = 0; i < m->ngap; i++) {
        gr = &m->gaps[i];
        if (start >= gr->g.start_ms && start < gr->g.end_ms && !gr->g.ongoing) {
            /* (a published gap's first interval was closed when published) */
            if (gr->pending && !closed && (!gr->published || start > gr->g.start_ms))
                return gap_take_out(r, m, i, start);
            gap_fill(gr);
            break;
        }
    }
    return 0;
}

static int gap_emit(ing_rollup_t *r, gap_rec_t *gr, int64_t wm)
{
    if (ing_grow(&r->out_gap, &r->gapcap, r->ngap + 1, sizeof *r->out_gap))
        return -1;
    gr->g.revision++;
    gr->g.detected_ms = wm;
    gr->dirty = false;
    gr->published = true;
    r->out_gap[r->ngap++] = gr->g;
    return 0;
}

/* Opens or grows the ongoing gap up to the watermark, emits dirty gaps
 * (pending ones once the watermark has passed their end), drops finished gaps
 * older than the horizon. */
int ing_gap_advance(ing_rollup_t *r, meter_t *m, int64_t wm)
{
    int64_t iv = r->conf.interval_ms, closed_to = ing_floor_to(wm, iv);
    int64_t from = m->has_last ? gap_from(m) : 0;
    size_t keep = 0;

    if (m->has_last && closed_to - from >= iv) {
        gap_rec_t *gr = gap_ongoing(m);
        int32_t missing = (int32_t)((closed_to - from) / iv);
        if (!gr || gr->g.start_ms != from) {
            if (!(gr = gap_open(m, from)))
                return -1;
            gr->g.ongoing = true;
        }
        if (missing != gr->g.missing_intervals)
            gr->dirty = true;
        gap_set_end(gr, wm, missing);
    }
    for (size_t i = 0; i < m->ngap; i++) {
        gap_rec_t *gr = &m->gaps[i];
        bool held = gr->pending && gr->g.end_ms > wm;
        if (!held)
            gr->pending = false;
        if (gr->dirty && !held && gap_emit(r, gr, wm))
            return -1;
        if (gr->g.ongoing || gr->g.end_ms >= wm - r->conf.horizon_ms)
            m->gaps[keep++] = *gr;
    }
    m->ngap = keep;
    return 0;
}

/* Intervals of [start, end) that hold a good reading. */
static int32_t gap_filled(const meter_t *m, int64_t start, int64_t end)
{
    int32_t n = 0;
    for (size_t i = ing_acc_lower(m, start); i < m->nacc && m->accs[i].start < end; i++)
        n += m->accs[i].n_good > 0;
    return n;
}

/* Takes the span [start, end) of a stored gap out of the gaps the restore
 * rebuilt from the readings: the gaps table has it already. */
static void rebuilt_subtract(meter_t *m, int64_t iv, int64_t start, int64_t end)
{
    for (size_t i = 0; i < m->ngap;) {
        gap_rec_t *gr = &m->gaps[i];
        int64_t s = gr->g.start_ms, e = gr->g.end_ms;
        if (!gr->rebuilt || e <= start || s >= end) {
            i++;
            continue;
        }
        if (s >= start)
            s = end;
        else
            e = start;
        if (s >= e) {
            gap_remove(m, i);
            continue;
        }
        gr->g.start_ms = s;
        gap_name(gr, m);
        gap_set_end(gr, e, (int32_t)((e - s) / iv));
        i++;
    }
}

/* Takes over a stored gap after the meter's stored readings were fed. An
 * ongoing gap the readings already ended is closed at the first interval
 * with a reading (held while the watermark has not passed it, as when it
 * ended before the restart); a closed one counts the intervals filled since. */
int ing_gap_restore(ing_rollup_t *r, meter_t *m, const ing_gap_t *g)
{
    int64_t iv = r->conf.interval_ms, end = g->end_ms;
    int32_t missing = g->missing_intervals > 0 ? g->missing_intervals : 1;
    bool ends_now = g->ongoing && m->has_last && m->last_end > g->start_ms;
    bool first_late = false;
    gap_rec_t *gr;
    size_t i;

    if (ends_now) {
        size_t k = ing_acc_lower(m, g->start_ms);
        end = k < m->nacc ? m->accs[k].start : m->last_end - iv;
        if ((first_late = end <= g->start_ms)) /* its first interval arrived late */
            end = g->start_ms + missing * iv;
    }
    if (ends_now || !g->ongoing)
        rebuilt_subtract(m, iv, g->start_ms, end);
    if (ing_grow(&m->gaps, &m->gcap, m->ngap + 1, sizeof *m->gaps))
        return -1;
    for (i = m->ngap; i > 0 && m->gaps[i - 1].g.start_ms > g->start_ms; i--)
        ;
    memmove(&m->gaps[i + 1], &m->gaps[i], (m->ngap - i) * sizeof *m->gaps);
    m->ngap++;
    gr = &m->gaps[i];
    memset(gr, 0, sizeof *gr);
    gr->g = *g;
    gr->published = true;
    if (ends_now) {
        gr->g.ongoing = false;
        gr->dirty = true;
        if (first_late) {
            gap_set_end(gr, end, missing);
            gr->filled = gap_filled(m, g->start_ms, end);
            gr->g.recovered = gr->filled >= missing;
        } else {
            gap_set_end(gr, end, (int32_t)((end - g->start_ms) / iv));
            gr->pending = true;
        }
    } else if (g->ongoing) { /* silent since the gap opened */
        m->has_last = true;
        m->last_end = g->start_ms;
    } else {
        gr->filled = gap_filled(m, g->start_ms, g->end_ms);
        if (!g->recovered && gr->filled >= g->missing_intervals) {
            gr->g.recovered = true;
            gr->dirty = true;
        }
    }
    return 0;
}

/* After the stored gaps: a rebuilt gap the watermark has passed was
 * published before the restart (it is in the gaps table, or was lost with
 * its outputs, as before); one it has not passed is pending again. */
void ing_gap_restore_done(meter_t *m, int64_t wm)
{
    for (size_t i = 0; i < m->ngap;) {
        gap_rec_t *gr = &m->gaps[i];
        if (gr->rebuilt && gr->g.end_ms <= wm) {
            gap_remove(m, i);
            continue;
        }
        gr->rebuilt = false;
        i++;
    }
}

size_t ing_gap_open_count(const meter_t *m)
{
    return m->ngap && m->gaps[m->ngap - 1].g.ongoing ? 1 : 0;
}
