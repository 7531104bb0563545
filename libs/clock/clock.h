/* Clocks: wall time for event and audit timestamps, the monotonic clock for
 * durations and deadlines (it does not jump when NTP steps the wall clock). */
#ifndef EMS_CLOCK_H
#define EMS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t ems_wall_ms(void);

/* Monotonic milliseconds and seconds, for measuring and waiting. */
int64_t ems_mono_ms(void);
double ems_mono_s(void);

/* The CLOCK_REALTIME instant timeout_ms from now, as pthread_cond_timedwait
 * wants it. */
struct timespec ems_wall_deadline(int timeout_ms);
/* The same on CLOCK_MONOTONIC, for a condition variable made with
 * pthread_condattr_setclock(CLOCK_MONOTONIC): a stepped wall clock does
 * not stretch the wait. */
struct timespec ems_mono_deadline(int timeout_ms);

#endif
