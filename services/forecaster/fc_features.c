#include "forecaster/fc_features.h"

#include <math.h>
#include <string.h>

static const char *const base_names[FCF_BASE] = {
    "lead_h",  "hour",     "dow",     "holiday",      "lag_1d",
    "lag_2d",  "lag_7d",   "lag_14d", "same_slot_4w", "last",
    "mean_3h", "mean_24h", "mean_7d", "hdd",          "cdd"};

const char *fc_feature_name(const fc_weather *wx, int i)
{
    if (i < FCF_BASE)
        return base_names[i];
    return wx && (size_t)(i - FCF_BASE) < wx->ncol ? wx->names[i - FCF_BASE] : "?";
}

int fc_features_count(const fc_weather *wx)
{
    return FCF_BASE + (wx ? (int)wx->ncol : 0);
}

void fc_wxcols_of(fc_wxcols *cols, const fc_weather *wx)
{
    cols->n = wx ? wx->ncol : 0;
    for (size_t i = 0; i < cols->n; i++)
        memcpy(cols->names[i], wx->names[i], sizeof cols->names[i]);
}

int fc_wxcols_map(const fc_wxcols *cols, const fc_weather *wx, int *map)
{
    for (size_t i = 0; i < cols->n; i++)
        if ((map[i] = wx ? fc_weather_find(wx, cols->names[i]) : -1) < 0)
            return (int)i;
    return -1;
}

double fc_known(const fc_issue_ctx *c, int64_t t)
{
    if (t + c->load->step > c->issue)
        return NAN;
    return fc_series_at(c->load, t);
}

static double last_known(const fc_issue_ctx *c)
{
    const fc_series *s = c->load;
    int64_t t = c->issue - s->step;
    t -= ((t - s->t0) % s->step + s->step) % s->step; /* align to the grid */
    for (int k = 0; k < 8 && t >= s->t0; k++, t -= s->step) {
        double v = fc_series_at(s, t);
        if (!isnan(v))
            return v;
    }
    return NAN;
}

void fc_issue_ctx_init(fc_issue_ctx *c, const fc_series *load, const fc_weather *wx,
                       const fc_calendar *cal, int64_t issue, double hdd_base,
                       double cdd_base)
{
    c->load = load;
    c->wx = wx;
    c->wxmap = NULL;
    c->nwx = 0;
    c->cal = cal;
    c->issue = issue;
    c->hdd_base = hdd_base;
    c->cdd_base = cdd_base;
    /* Means use slots that ended by the issue: [issue - w, issue - step]. */
    int64_t end = issue - load->step + 1;
    c->last = last_known(c);
    c->mean_3h = fc_series_mean(load, issue - 3 * 3600, end);
    c->mean_24h = fc_series_mean(load, issue - 86400, end);
    c->mean_7d = fc_series_mean(load, issue - 7 * 86400, end);
}

static double lag(const fc_issue_ctx *c, int64_t t, int days)
{
    return fc_known(c, fc_cal_shift_days(c->cal, t, days));
}

static double mean_weekly_lags(const fc_issue_ctx *c, int64_t t)
{
    double sum = 0;
    int n = 0;
    for (int w = 1; w <= 4; w++) {
        double v = lag(c, t, 7 * w);
        if (!isnan(v)) {
            sum += v;
            n++;
        }
    }
    return n ? sum / n : NAN;
}

void fc_features_row(const fc_issue_ctx *c, int64_t t, float *row)
{
    double temp = fc_weather_temp(c->wx, t);
    row[FCF_LEAD_H] = (float)((double)(t - c->issue) / 3600.0);
    row[FCF_HOUR] = (float)(fc_cal_sec_of_day(c->cal, t) / 3600.0);
    row[FCF_DOW] = (float)fc_cal_dow(c->cal, t);
    row[FCF_HOLIDAY] = (float)fc_cal_is_holiday(c->cal, t);
    row[FCF_LAG_1D] = (float)lag(c, t, 1);
    row[FCF_LAG_2D] = (float)lag(c, t, 2);
    row[FCF_LAG_7D] = (float)lag(c, t, 7);
    row[FCF_LAG_14D] = (float)lag(c, t, 14);
    row[FCF_SAME_SLOT_4W] = (float)mean_weekly_lags(c, t);
    row[FCF_LAST] = (float)c->last;
    row[FCF_MEAN_3H] = (float)c->mean_3h;
    row[FCF_MEAN_24H] = (float)c->mean_24h;
    row[FCF_MEAN_7D] = (float)c->mean_7d;
    row[FCF_HDD] = isnan(temp) ? NAN : (float)fmax(0.0, c->hdd_base - temp);
    row[FCF_CDD] = isnan(temp) ? NAN : (float)fmax(0.0, temp - c->cdd_base);
    if (c->wxmap)
        for (size_t k = 0; k < c->nwx; k++)
            row[FCF_BASE + k] = (float)fc_weather_at(c->wx, (size_t)c->wxmap[k], t);
    else if (c->wx)
        for (size_t k = 0; k < c->wx->ncol; k++)
            row[FCF_BASE + k] = (float)fc_weather_at(c->wx, k, t);
}
