#include "forecaster/fc_baseline.h"

#include <math.h>
#include <stdlib.h>

double fc_naive_point(const fc_issue_ctx *c, int64_t t)
{
    double v = fc_known(c, fc_cal_shift_days(c->cal, t, 7));
    if (isnan(v))
        v = fc_known(c, fc_cal_shift_days(c->cal, t, 14));
    return v;
}

int fc_profile_build(fc_profile *p, const fc_issue_ctx *c, double alpha, int days)
{
    const fc_series *s = c->load;
    p->step = s->step;
    p->slots = 86400 / s->step;
    p->v = malloc((size_t)FC_DAY_TYPES * p->slots * sizeof *p->v);
    if (!p->v)
        return -1;
    for (int i = 0; i < FC_DAY_TYPES * p->slots; i++)
        p->v[i] = NAN;
    int64_t from = c->issue - (int64_t)days * 86400;
    size_t i0 = from > s->t0 ? (size_t)((from - s->t0 + s->step - 1) / s->step) : 0;
    for (size_t i = i0; i < s->n; i++) {
        int64_t t = s->t0 + (int64_t)i * s->step;
        if (t + s->step > c->issue)
            break;
        double y = s->values[i];
        if (isnan(y))
            continue;
        double *cell = &p->v[fc_cal_day_type(c->cal, t) * p->slots +
                             fc_cal_slot_of_day(c->cal, t, s->step)];
        *cell = isnan(*cell) ? y : (1 - alpha) * *cell + alpha * y;
    }
    return 0;
}

void fc_profile_release(fc_profile *p)
{
    free(p->v);
    p->v = NULL;
}

double fc_profile_point(const fc_profile *p, const fc_calendar *cal, int64_t t)
{
    int sod = fc_cal_slot_of_day(cal, t, p->step);
    int dt = fc_cal_day_type(cal, t);
    double v = p->v[dt * p->slots + sod];
    if (isnan(v) && dt == FC_DAY_HOLIDAY)
        v = p->v[6 * p->slots + sod];
    return v;
}
