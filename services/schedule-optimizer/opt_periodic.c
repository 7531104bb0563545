/*
 * opt_periodic: the rolling-horizon cadence on event time (see
 * opt_periodic.h).
 */
#include "schedule-optimizer/opt_periodic.h"

void opt_periodic_init(opt_periodic_t *p, int64_t every_ms, int restoring)
{
    p->every_ms = every_ms;
    p->clock_ms = INT64_MIN;
    p->last_ms = INT64_MIN;
    p->restoring = restoring;
}

int64_t opt_periodic_boundary(int64_t every_ms, int64_t t_ms)
{
    int64_t r = t_ms % every_ms;

    if (r < 0)
        r += every_ms;
    /* within a cadence of INT64_MIN the floor lies below the range
     * (wrapped, it was a boundary at the end of time, which stopped the
     * site's periodic plans for good) */
    if (t_ms < INT64_MIN + r)
        return INT64_MIN;
    return t_ms - r;
}

void opt_periodic_tick(opt_periodic_t *p, int64_t end_ms)
{
    if (end_ms > p->clock_ms)
        p->clock_ms = end_ms;
}

void opt_periodic_planned(opt_periodic_t *p, int64_t created_ms)
{
    if (created_ms > p->last_ms)
        p->last_ms = created_ms;
}

void opt_periodic_restored(opt_periodic_t *p)
{
    p->restoring = 0;
    if (p->every_ms > 0 && p->clock_ms != INT64_MIN)
        opt_periodic_planned(p, opt_periodic_boundary(p->every_ms, p->clock_ms));
}

int opt_periodic_due(const opt_periodic_t *p, int64_t *boundary_ms)
{
    int64_t b;

    if (p->every_ms <= 0 || p->restoring || p->clock_ms == INT64_MIN)
        return 0;
    b = opt_periodic_boundary(p->every_ms, p->clock_ms);
    if (b <= p->last_ms)
        return 0;
    *boundary_ms = b;
    return 1;
}
