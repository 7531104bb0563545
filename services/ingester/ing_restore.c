/*
 * ing_restore: rebuilding a site's rollup and gap state from stored rows
 * after a restart (see ing_rollup.h). No I/O.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingester/ing_rollup_int.h"

static void forget(site_t *s)
{
    for (size_t i = 0; i < s->nmeters; i++) {
        meter_t *m = s->meters[i];
        m->nacc = 0;
        m->ngap = 0;
        m->has_last = false;
        ing_counter_forget(m);
        m->nheld = 0;
        m->nseg = 0;
        m->base_off = 0;
        m->rl_set = false;
    }
    s->has_ts = false;
    s->nrev = 0;
    s->restored = false;
    s->restore_from = INT64_MAX;
}

void ing_rollup_forget_site(ing_rollup_t *r, const char *site_id)
{
    site_t *s = ing_site_get(r, site_id, false);

    if (s)
        forget(s);
}

void ing_rollup_forget_all(ing_rollup_t *r)
{
    for (size_t i = 0; i < r->nsites; i++)
        forget(r->sites[i]);
}

int ing_rollup_note_partition(ing_rollup_t *r, const char *site_id, int32_t partition)
{
    site_t *s = ing_site_get(r, site_id, true);

    if (!s)
        return -1;
    for (size_t i = 0; i < s->nparts; i++)
        if (s->parts[i] == partition)
            return 0;
    if (ing_grow(&s->parts, &s->pcap, s->nparts + 1, sizeof(*s->parts))) {
        s->nparts = 0; /* unknown: forgotten at the next rebalance */
        return -1;
    }
    s->parts[s->nparts++] = partition;
    return 0;
}

/* Whether any of the site's partitions moved; true when none is known. */
static bool site_moved(const site_t *s, bool (*moved)(int32_t, void *), void *ctx)
{
    if (s->nparts == 0)
        return true;
    for (size_t i = 0; i < s->nparts; i++)
        if (moved(s->parts[i], ctx))
            return true;
    return false;
}

size_t ing_rollup_forget_moved(ing_rollup_t *r,
                               bool (*moved)(int32_t partition, void *ctx), void *ctx)
{
    size_t n = 0;

    for (size_t i = 0; i < r->nsites; i++) {
        site_t *s = r->sites[i];
        if (!site_moved(s, moved, ctx))
            continue;
        n += s->restored;
        forget(s);
    }
    return n;
}

int ing_rollup_restore_from(ing_rollup_t *r, const char *site_id, int64_t from_ms)
{
    site_t *s = ing_site_get(r, site_id, true);

    if (!s)
        return -1;
    s->restore_from = from_ms;
    return 0;
}

int ing_rollup_restore_reading(ing_rollup_t *r, const ing_reading_t *rd)
{
    ing_reading_t checked = *rd;
    char reason[200];
    ing_add_result_t res;

    /* the check decides again whether a stored falling counter is a
     * pending reset, a confirmed one or a glitch */
    if (ing_rollup_check(r, &checked, reason, sizeof reason))
        return 0;
    r->restoring = true;
    res = ing_rollup_add(r, &checked);
    r->restoring = false;
    return res == ING_ADD_ERROR ? -1 : 0;
}

int ing_rollup_restore_gap(ing_rollup_t *r, const ing_gap_t *g)
{
    meter_t *m = ing_meter_find(r, g->meter_id);

    if (!m) {
        ing_reading_t probe = {0};
        char reason[200];
        snprintf(probe.site_id, sizeof probe.site_id, "%s", g->site_id);
        snprintf(probe.meter_id, sizeof probe.meter_id, "%s", g->meter_id);
        if (ing_rollup_check(r, &probe, reason, sizeof reason)) /* creates it */
            return 0;
        m = ing_meter_find(r, g->meter_id);
    }
    if (!m || strcmp(m->site->id, g->site_id) != 0)
        return 0;
    return ing_gap_restore(r, m, g);
}

bool ing_rollup_restored(const ing_rollup_t *r, const char *site_id)
{
    const site_t *s = ing_site_find(r, site_id);
    return s && s->restored;
}

static int iv_key_cmp(const ing_interval_t *a, const ing_interval_t *b)
{
    int c;
    if (a->scope != b->scope)
        return a->scope < b->scope ? -1 : 1;
    if ((c = strcmp(a->meter_id, b->meter_id)) != 0)
        return c;
    return a->start_ms < b->start_ms ? -1 : a->start_ms > b->start_ms;
}

static int iv_qsort_cmp(const void *a, const void *b)
{
    return iv_key_cmp(a, b);
}

/* Sets the revision the core remembers for an emitted interval. */
static void set_revision(ing_rollup_t *r, site_t *s, const ing_interval_t *o,
                         int32_t rev)
{
    if (o->scope == ING_SCOPE_SITE) {
        site_rev_t *sr = ing_site_rev_get(s, o->start_ms);
        if (sr)
            sr->revision = rev;
        return;
    }
    meter_t *m = ing_meter_find(r, o->meter_id);
    if (m) {
        size_t i = ing_acc_lower(m, o->start_ms);
        if (i < m->nacc && m->accs[i].start == o->start_ms)
            m->accs[i].revision = rev;
    }
}

static bool same_values(const ing_interval_t *a, const ing_interval_t *b)
{
    double tol = 1e-9 * fmax(1.0, fabs(a->energy_kwh));
    return a->sample_count == b->sample_count &&
           fabs(a->energy_kwh - b->energy_kwh) <= tol;
}

int ing_rollup_restore_finish(ing_rollup_t *r, const char *site_id,
                              ing_interval_t *stored, size_t nstored)
{
    site_t *s = ing_site_get(r, site_id, true);
    size_t first = r->niv, keep;
    int64_t edge;

    if (!s)
        return -1;
    for (size_t i = 0; i < s->nmeters; i++)
        ing_gap_restore_done(s->meters[i], ing_rollup_watermark(r, site_id));
    if (ing_site_advance(r, s))
        return -1;
    /* intervals past the correction horizon are kept only when the
     * database lacks them and all their readings were fed (restore_from) */
    edge = s->has_ts ? s->max_ts - r->conf.lateness_ms - r->conf.horizon_ms : INT64_MIN;
    if (nstored)
        qsort(stored, nstored, sizeof *stored, iv_qsort_cmp);
    keep = first;
    for (size_t i = first; i < r->niv; i++) {
        ing_interval_t *o = &r->out_iv[i];
        const ing_interval_t *hit =
            nstored ? bsearch(o, stored, nstored, sizeof *stored, iv_qsort_cmp) : NULL;
        if (o->end_ms <= edge && (hit || o->start_ms < s->restore_from)) {
            /* past the horizon: stored already, or only partly loaded */
            r->closed--;
            continue;
        }
        if (hit) {
            bool same = same_values(o, hit);
            int32_t rev = same ? hit->revision : hit->revision + 1;
            set_revision(r, s, o, rev);
            r->closed--; /* counted when it first closed */
            if (same)
                continue;
            o->revision = rev;
            r->corrected++;
        }
        if (keep != i)
            r->out_iv[keep] = *o;
        keep++;
    }
    r->niv = keep;
    s->restored = true;
    return 0;
}
