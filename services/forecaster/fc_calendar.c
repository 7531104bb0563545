#include "forecaster/fc_calendar.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Offset table range: enough for any history or forecast the suite handles. */
#define FC_CAL_FIRST_YEAR 1990
#define FC_CAL_LAST_YEAR 2100

struct fc_calendar {
    char tz[64];
    int64_t *tr_time; /* UTC instant from which tr_off applies, ascending */
    int *tr_off;
    size_t ntr;
    int64_t *hol; /* local day numbers, ascending */
    size_t nhol;
};

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

int64_t fc_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int fc_parse_date(const char *s, int64_t *out)
{
    int y, m, d, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 || m < 1 || m > 12 ||
        d < 1 || d > 31)
        return -1;
    *out = fc_days_from_civil(y, m, d);
    return 0;
}

static int off_at(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    return (int)tm.tm_gmtoff;
}

/* Scans day by day and bisects each change to the second. Runs with TZ set. */
static int build_table(fc_calendar *cal)
{
    int64_t t = fc_days_from_civil(FC_CAL_FIRST_YEAR, 1, 1) * 86400;
    int64_t end = fc_days_from_civil(FC_CAL_LAST_YEAR, 1, 1) * 86400;
    size_t cap = 512;
    cal->tr_time = malloc(cap * sizeof *cal->tr_time);
    cal->tr_off = malloc(cap * sizeof *cal->tr_off);
    if (!cal->tr_time || !cal->tr_off)
        return -1;
    int off = off_at(t);
    cal->tr_time[0] = INT64_MIN;
    cal->tr_off[0] = off;
    cal->ntr = 1;
    for (; t < end; t += 86400) {
        int next = off_at(t + 86400);
        if (next == off)
            continue;
        int64_t lo = t, hi = t + 86400; /* off at lo, next at hi */
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            if (off_at(mid) == off)
                lo = mid;
            else
                hi = mid;
        }
        if (cal->ntr == cap) {
            cap *= 2;
            int64_t *a = realloc(cal->tr_time, cap * sizeof *a);
            if (a)
                cal->tr_time = a;
            int *b = realloc(cal->tr_off, cap * sizeof *b);
            if (b)
                cal->tr_off = b;
            if (!a || !b)
                return -1;
        }
        cal->tr_time[cal->ntr] = hi;
        cal->tr_off[cal->ntr] = next;
        cal->ntr++;
        off = next;
    }
    return 0;
}

static int zone_exists(const char *tz)
{
    if (strstr(tz, ".."))
        return 0;
    char path[256];
    const char *dir = getenv("TZDIR");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "/usr/share/zoneinfo", tz);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char magic[4] = {0};
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    return n == 4 && memcmp(magic, "TZif", 4) == 0;
}

static int load_zone(fc_calendar *cal)
{
    pthread_mutex_lock(&tz_lock);
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;
    setenv("TZ", cal->tz, 1);
    tzset();
    int rc = build_table(cal);
    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
    pthread_mutex_unlock(&tz_lock);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

fc_calendar *fc_calendar_new(const char *tz, const char *const *holidays, size_t nhol,
                             char *errstr, size_t errstr_size)
{
    if (!tz || strlen(tz) >= sizeof((fc_calendar *)0)->tz || !zone_exists(tz)) {
        snprintf(errstr, errstr_size, "unknown time zone '%s'", tz ? tz : "(null)");
        return NULL;
    }
    fc_calendar *cal = calloc(1, sizeof *cal);
    if (!cal)
        goto nomem;
    snprintf(cal->tz, sizeof cal->tz, "%s", tz);
    cal->hol = calloc(nhol ? nhol : 1, sizeof *cal->hol);
    if (!cal->hol)
        goto nomem;
    for (size_t i = 0; i < nhol; i++) {
        if (fc_parse_date(holidays[i], &cal->hol[i]) < 0) {
            snprintf(errstr, errstr_size, "holiday '%s' is not a YYYY-MM-DD date",
                     holidays[i]);
            fc_calendar_destroy(cal);
            return NULL;
        }
    }
    cal->nhol = nhol;
    qsort(cal->hol, nhol, sizeof *cal->hol, cmp_i64);
    if (load_zone(cal) < 0)
        goto nomem;
    return cal;
nomem:
    snprintf(errstr, errstr_size, "out of memory building calendar for '%s'", tz);
    fc_calendar_destroy(cal);
    return NULL;
}

void fc_calendar_destroy(fc_calendar *cal)
{
    if (!cal)
        return;
    free(cal->tr_time);
    free(cal->tr_off);
    free(cal->hol);
    free(cal);
}

const char *fc_calendar_tz(const fc_calendar *cal)
{
    return cal->tz;
}

int fc_cal_offset(const fc_calendar *cal, int64_t t)
{
    size_t lo = 0, hi = cal->ntr; /* tr_time[lo] <= t < tr_time[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (cal->tr_time[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return cal->tr_off[lo];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t fc_cal_local_day(const fc_calendar *cal, int64_t t)
{
    return floor_div(t + fc_cal_offset(cal, t), 86400);
}

int fc_cal_sec_of_day(const fc_calendar *cal, int64_t t)
{
    int64_t l = t + fc_cal_offset(cal, t);
    return (int)(l - floor_div(l, 86400) * 86400);
}

int fc_cal_slot_of_day(const fc_calendar *cal, int64_t t, int step)
{
    return fc_cal_sec_of_day(cal, t) / step;
}

int fc_cal_dow(const fc_calendar *cal, int64_t t)
{
    /* 1970-01-01 was a Thursday (Monday = 0 -> Thursday = 3). */
    int64_t d = fc_cal_local_day(cal, t) + 3;
    return (int)(d - floor_div(d, 7) * 7);
}

int fc_cal_is_holiday(const fc_calendar *cal, int64_t t)
{
    int64_t d = fc_cal_local_day(cal, t);
    return cal->nhol && bsearch(&d, cal->hol, cal->nhol, sizeof d, cmp_i64) != NULL;
}

int fc_cal_day_type(const fc_calendar *cal, int64_t t)
{
    return fc_cal_is_holiday(cal, t) ? FC_DAY_HOLIDAY : fc_cal_dow(cal, t);
}

int64_t fc_cal_local_to_utc(const fc_calendar *cal, int64_t day, int sec_of_day)
{
    int64_t l = day * 86400 + sec_of_day;
    /* Two fixed-point steps settle on the offset in force at that wall time;
     * a skipped wall time maps to the instant just after the gap. */
    int64_t u = l - fc_cal_offset(cal, l);
    u = l - fc_cal_offset(cal, u);
    return u;
}

int64_t fc_cal_day_start(const fc_calendar *cal, int64_t day)
{
    int64_t l = day * 86400;
    int64_t u = l - fc_cal_offset(cal, l - fc_cal_offset(cal, l));
    /* If midnight is skipped, the day starts at the transition. */
    if (fc_cal_local_day(cal, u) < day)
        u += fc_cal_offset(cal, u + 86400) - fc_cal_offset(cal, u);
    return u;
}

int fc_cal_slots_in_day(const fc_calendar *cal, int64_t day, int step)
{
    return (int)((fc_cal_day_start(cal, day + 1) - fc_cal_day_start(cal, day)) / step);
}

int64_t fc_cal_shift_days(const fc_calendar *cal, int64_t t, int days)
{
    return fc_cal_local_to_utc(cal, fc_cal_local_day(cal, t) - days,
                               fc_cal_sec_of_day(cal, t));
}
