/*
 * opt_service_tz: site-local time for the service (see
 * opt_service_int.h): the process TZ is switched to the site's around one
 * build or one load interval.
 */
#include "schedule-optimizer/opt_service_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void os_tz_enter(tz_ctx_t *z, const plant_site_t *site)
{
    const char *cur = getenv("TZ");

    z->site = site;
    z->had = cur != NULL;
    snprintf(z->saved, sizeof z->saved, "%s", cur ? cur : "");
    setenv("TZ", site->timezone, 1);
    tzset();
}

void os_tz_leave(tz_ctx_t *z)
{
    if (z->had)
        setenv("TZ", z->saved, 1);
    else
        unsetenv("TZ");
    tzset();
}

static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

void os_tz_local(void *ctx, int64_t ts_ms, opt_local_t *out)
{
    tz_ctx_t *z = ctx;
    time_t tt = (time_t)(ts_ms / 1000);
    struct tm tm;

    localtime_r(&tt, &tm);
    out->day = days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    out->minute = tm.tm_hour * 60 + tm.tm_min;
    out->wday = (tm.tm_wday + 6) % 7;
    out->holiday =
        plant_site_is_holiday(z->site, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}
