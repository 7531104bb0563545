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

static gap_rec_t *gap_open(meter_t *m, int64_t start)
{
    gap_rec_t *gr;
    char when[40];

    if (ing_grow(&m->gaps, &m->gcap, m->ngap + 1, sizeof *m->gaps))
        return NULL;
    gr = &m->gaps[m->ngap++];
    memset(gr, 0, sizeof *gr);
    snprintf(gr->g.site_id, sizeof gr->g.site_id, "%s", m->site->id);
    snprintf(gr->g.meter_id, sizeof gr->g.meter_id, "%s", m->id);
    snprintf(gr->g.gap_id, sizeof gr->g.gap_id, "%s@%s", m->id,
             ing_format_ts(start, when, sizeof when));
    gr->g.start_ms = start;
    gr->g.revision = -1;
    return gr;
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

/* A good reading in the interval at start. new_interval: the interval had no
 * good reading before. Opens/closes gaps for in-order readings, counts
 * recovered intervals for late ones. */
int ing_gap_on_reading(ing_rollup_t *r, meter_t *m, int64_t start, bool new_interval)
{
    int64_t iv = r->conf.interval_ms, from;
    gap_rec_t *gr;

    if (r->restoring) { /* gaps come from the gaps table (ing_gap_restore) */
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
            gr->dirty = true;
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

/* Opens or grows the ongoing gap up to the watermark, emits dirty gaps, drops
 * finished gaps older than the horizon. */
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
        if (gr->dirty && gap_emit(r, gr, wm))
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

/* Takes over a stored gap after the meter's stored readings were fed. An
 * ongoing gap the readings already ended is closed at the first interval
 * with a reading; a closed one counts the intervals filled since. */
int ing_gap_restore(ing_rollup_t *r, meter_t *m, const ing_gap_t *g)
{
    int64_t iv = r->conf.interval_ms;
    gap_rec_t *gr;
    size_t i;

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
    if (g->ongoing && m->has_last && m->last_end > g->start_ms) {
        size_t k = ing_acc_lower(m, g->start_ms);
        int64_t end = k < m->nacc ? m->accs[k].start : m->last_end - iv;
        gr->g.ongoing = false;
        gr->dirty = true;
        if (end <= g->start_ms) { /* its first interval arrived late */
            int32_t missing = g->missing_intervals > 0 ? g->missing_intervals : 1;
            gap_set_end(gr, g->start_ms + missing * iv, missing);
            gr->filled = gap_filled(m, g->start_ms, gr->g.end_ms);
            gr->g.recovered = gr->filled >= missing;
        } else {
            gap_set_end(gr, end, (int32_t)((end - g->start_ms) / iv));
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

size_t ing_gap_open_count(const meter_t *m)
{
    return m->ngap && m->gaps[m->ngap - 1].g.ongoing ? 1 : 0;
}
