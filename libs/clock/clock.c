#include "clock/clock.h"

int64_t ems_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ems_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double ems_mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The instant timeout_ms from now on clock id. */
static struct timespec deadline_on(clockid_t id, int timeout_ms)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

struct timespec ems_wall_deadline(int timeout_ms)
{
    return deadline_on(CLOCK_REALTIME, timeout_ms);
}

struct timespec ems_mono_deadline(int timeout_ms)
{
    return deadline_on(CLOCK_MONOTONIC, timeout_ms);
}
