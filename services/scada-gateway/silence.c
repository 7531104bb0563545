/*
 * silence: synthetic readings of a silent MQTT meter (see silence.h).
 */
#include "scada-gateway/silence.h"

#include <stdio.h>
#include <string.h>

#include "scada-gateway/quality.h"

void sg_silence_init(sg_silence_t *s, int64_t mono_ms)
{
    memset(s, 0, sizeof *s);
    s->heard_ms = mono_ms;
}

void sg_silence_heard(sg_silence_t *s, const sg_reading_t *r, int64_t mono_ms)
{
    s->heard_ms = mono_ms;
    s->next_ms = 0;
    s->has_last = true;
    s->last_has = r->has;
    memcpy(s->last_v, r->v, sizeof s->last_v);
}

/* Silence and schedule on mono_ms; wall_ms only stamps the reading. */
bool sg_silence_check(sg_silence_t *s, const plant_meter_t *m, int64_t mono_ms,
                      int64_t wall_ms, int64_t stale_after_ms, int64_t timeout_ms,
                      sg_reading_t *out)
{
    int64_t silent = mono_ms - s->heard_ms;
    char why[96];
    bool comm = timeout_ms > 0 && silent >= timeout_ms;
    bool stale = !comm && stale_after_ms > 0 && silent >= stale_after_ms && s->has_last;
    if ((!comm && !stale) || (s->next_ms && mono_ms < s->next_ms))
        return false;
    s->next_ms = mono_ms + (m->poll_period_ms > 0 ? m->poll_period_ms : 1000);
    snprintf(why, sizeof why, "no MQTT message for %lld ms", (long long)silent);
    sg_reading_init(out, m, wall_ms, SG_SRC_MQTT);
    if (comm) {
        sg_quality_comm_error(out, why);
        return true;
    }
    out->has = s->last_has;
    memcpy(out->v, s->last_v, sizeof out->v);
    out->quality = SG_Q_STALE;
    snprintf(out->detail, sizeof out->detail, "%s", why);
    return true;
}
