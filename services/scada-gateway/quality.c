/*
 * quality: quality flags of readings (see quality.h).
 */
#include "scada-gateway/quality.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static sg_quality_t set(sg_reading_t *r, sg_quality_t q, const char *detail)
{
    r->quality = q;
    snprintf(r->detail, sizeof r->detail, "%s", detail);
    return q;
}

/* Fills why when a value is implausible; returns 1 then. */
static int out_of_range(const plant_meter_t *m, const sg_reading_t *r, char *why,
                        size_t n)
{
    for (int q = 0; q < SG_NQ; q++) {
        if ((r->has & (1u << q)) && !isfinite(r->v[q])) {
            snprintf(why, n, "%s is not a finite number", plant_quantity_name(q));
            return 1;
        }
    }
    if (r->has & (1u << PLANT_Q_POWER_KW)) {
        double p = r->v[PLANT_Q_POWER_KW];
        if (p > m->power_max_kw) {
            snprintf(why, n, "power_kw %g above max %g", p, m->power_max_kw);
            return 1;
        }
        if (p < m->power_min_kw) {
            snprintf(why, n, "power_kw %g below min %g", p, m->power_min_kw);
            return 1;
        }
    }
    if ((r->has & (1u << PLANT_Q_POWER_FACTOR)) &&
        fabs(r->v[PLANT_Q_POWER_FACTOR]) > 1.0) {
        snprintf(why, n, "power_factor %g outside [-1, 1]", r->v[PLANT_Q_POWER_FACTOR]);
        return 1;
    }
    return 0;
}

/* Updates the stale state; returns how long the words stood still. */
static int64_t unchanged_for(sg_stale_t *st, uint64_t hash, int64_t now_ms)
{
    if (!st->has || st->hash != hash) {
        st->has = true;
        st->hash = hash;
        st->since_ms = now_ms;
        return 0;
    }
    return now_ms - st->since_ms;
}

sg_quality_t sg_quality_assess(const plant_meter_t *m, sg_reading_t *r, sg_stale_t *st,
                               uint64_t words_hash, sg_counter_event_t counter_event,
                               int64_t now_ms, int64_t stale_after_ms)
{
    char why[sizeof r->detail];
    int64_t still = unchanged_for(st, words_hash, now_ms);
    if (out_of_range(m, r, why, sizeof why))
        return set(r, SG_Q_OUT_OF_RANGE, why);
    if (counter_event == SG_CNT_REPLACED)
        return set(r, SG_Q_SUBSTITUTED,
                   "energy counter went backwards (meter replaced or reset): total "
                   "carried over");
    if (stale_after_ms > 0 && still > stale_after_ms) {
        snprintf(why, sizeof why, "values unchanged for %lld ms", (long long)still);
        return set(r, SG_Q_STALE, why);
    }
    return set(r, SG_Q_GOOD, "");
}

void sg_quality_comm_error(sg_reading_t *r, const char *reason)
{
    r->has = 0;
    memset(r->v, 0, sizeof r->v);
    set(r, SG_Q_COMM_ERROR, reason);
}
