/*
 * silence: readings for an MQTT meter that stopped publishing. Pure: the
 * caller passes the times and keeps the per-meter state.
 *
 * Two clocks: silence is measured, and the synthetic readings scheduled, on
 * the monotonic clock (mono_ms); only the readings' times come from the wall
 * clock (wall_ms). On the wall clock, a step back (NTP correcting a clock
 * that ran ahead, a VM resumed) paused the synthetic readings until the clock
 * caught up, and a step forward made a meter that had just spoken look
 * silent: false comm_error readings.
 *
 * A polled meter that stops answering gets comm_error readings at its poll
 * period; a pushed one cannot be asked, so its silence is measured from its
 * last message (or from start-up when none came yet):
 *   - silent for less than stale_after: nothing (the device pushes at its
 *     own pace);
 *   - silent for stale_after or longer: a `stale` reading at every poll
 *     period repeating the last values received (none before the first
 *     message);
 *   - silent for timeout or longer: a `comm_error` reading (values null) at
 *     every poll period.
 * stale_after 0 skips the stale phase, timeout 0 the comm_error phase. A
 * message ends the silence.
 */
#ifndef EMS_SCADA_SILENCE_H
#define EMS_SCADA_SILENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "plant/plant.h"
#include "scada-gateway/sg_types.h"

typedef struct sg_silence {
    int64_t heard_ms; /* last message, or start-up (monotonic) */
    int64_t next_ms;  /* next synthetic reading due (monotonic); 0: none yet */
    bool has_last;
    uint32_t last_has; /* the last values received */
    double last_v[SG_NQ];
} sg_silence_t;

/* Starts watching at mono_ms (no message yet). */
void sg_silence_init(sg_silence_t *s, int64_t mono_ms);
/* Records a message received at mono_ms and the reading made of it. */
void sg_silence_heard(sg_silence_t *s, const sg_reading_t *r, int64_t mono_ms);
/* When meter m is due for a synthetic reading at mono_ms, fills out (time
 * wall_ms, source mqtt, quality stale or comm_error with the silence in
 * detail; seq left 0 for the caller) and returns true; else false. */
bool sg_silence_check(sg_silence_t *s, const plant_meter_t *m, int64_t mono_ms,
                      int64_t wall_ms, int64_t stale_after_ms, int64_t timeout_ms,
                      sg_reading_t *out);

#endif
