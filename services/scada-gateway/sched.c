/*
 * sched: per-device poll schedule with backoff (see sched.h).
 */
#include "scada-gateway/sched.h"

void sg_sched_init(sg_sched_t *s, int64_t period_ms, int64_t now_ms, int64_t phase_ms)
{
    s->period_ms = period_ms > 0 ? period_ms : 1000;
    s->next_ms = now_ms + (phase_ms > 0 ? phase_ms % s->period_ms : 0);
    s->failures = 0;
    s->missed = 0;
}

int sg_sched_due(const sg_sched_t *s, int64_t now_ms)
{
    return now_ms >= s->next_ms;
}

int64_t sg_backoff_ms(int failures, int64_t base_ms, int64_t max_ms)
{
    int64_t d = base_ms > 0 ? base_ms : 1;
    for (int i = 1; i < failures && d < max_ms; i++)
        d *= 2;
    return d < max_ms ? d : max_ms;
}

void sg_sched_success(sg_sched_t *s, int64_t now_ms)
{
    s->failures = 0;
    s->next_ms += s->period_ms;
    if (s->next_ms <= now_ms) {
        int64_t behind = (now_ms - s->next_ms) / s->period_ms + 1;
        s->missed += behind;
        s->next_ms += behind * s->period_ms;
    }
}

void sg_sched_failure(sg_sched_t *s, int64_t now_ms, int64_t base_ms, int64_t max_ms)
{
    int64_t wait;
    s->failures++;
    wait = sg_backoff_ms(s->failures, base_ms, max_ms);
    if (wait < s->period_ms)
        wait = s->period_ms;
    s->next_ms = now_ms + wait;
}
