/*
 * ing_validate: stateless plausibility checks of a reading.
 */
#include "ingester/ing_validate.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "text/utf8.h"

char *ing_format_ts(int64_t ms, char *buf, size_t size)
{
    /* floor to seconds; (ms - 999) / 1000 overflowed near INT64_MIN */
    time_t t = (time_t)(ms / 1000 - (ms % 1000 < 0));
    struct tm tm;

    if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "%lld ms", (long long)ms);
    return buf;
}

/* Checks one present quantity; returns -1 with reason when not finite or
 * outside [lo, hi]. */
static int check_value(const char *name, double v, double lo, double hi, char *reason,
                       size_t reason_size)
{
    if (isnan(v)) {
        snprintf(reason, reason_size, "%s is NaN", name);
        return -1;
    }
    if (isinf(v)) {
        snprintf(reason, reason_size, "%s is infinite", name);
        return -1;
    }
    if (v < lo || v > hi) {
        snprintf(reason, reason_size, "%s %g outside %g..%g", name, v, lo, hi);
        return -1;
    }
    return 0;
}

static int check_values(const ing_reading_t *r, char *reason, size_t reason_size)
{
    static const struct {
        unsigned bit;
        const char *name;
        size_t off;
        double lo, hi;
    } rows[] = {
        {ING_HAS_POWER, "power_kw", offsetof(ing_reading_t, power_kw), -HUGE_VAL,
         HUGE_VAL},
        {ING_HAS_ENERGY, "energy_kwh", offsetof(ing_reading_t, energy_kwh), 0,
         HUGE_VAL},
        {ING_HAS_VOLTAGE, "voltage_v", offsetof(ing_reading_t, voltage_v), 0, HUGE_VAL},
        {ING_HAS_CURRENT, "current_a", offsetof(ing_reading_t, current_a), 0, HUGE_VAL},
        {ING_HAS_FREQUENCY, "frequency_hz", offsetof(ing_reading_t, frequency_hz), 0,
         1000},
        {ING_HAS_PF, "power_factor", offsetof(ing_reading_t, power_factor), -1, 1},
    };

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        double v;
        if (!(r->present & rows[i].bit))
            continue;
        /* cppcheck-suppress invalidPointerCast ; off is a double field's offset */
        v = *(const double *)((const char *)r + rows[i].off);
        if (check_value(rows[i].name, v, rows[i].lo, rows[i].hi, reason, reason_size))
            return -1;
    }
    return 0;
}

int ing_validate_reading(const ing_reading_t *r, const ing_validate_conf_t *conf,
                         int64_t now_ms, char *reason, size_t reason_size)
{
    char when[40];

    if (!r->site_id[0] || !r->meter_id[0]) {
        snprintf(reason, reason_size, "empty %s",
                 r->site_id[0] ? "meter_id" : "site_id");
        return -1;
    }
    /* PostgreSQL refuses a whole COPY for one invalid byte sequence */
    const char *bad = !ems_utf8_valid(r->site_id, strlen(r->site_id))     ? "site_id"
                      : !ems_utf8_valid(r->meter_id, strlen(r->meter_id)) ? "meter_id"
                      : !ems_utf8_valid(r->detail, strlen(r->detail)) ? "quality_detail"
                                                                      : NULL;
    if (bad) {
        snprintf(reason, reason_size, "%s is not valid UTF-8", bad);
        return -1;
    }
    if (r->ts_ms < conf->min_ts_ms) {
        snprintf(reason, reason_size, "ts %s before %s",
                 ing_format_ts(r->ts_ms, when, 40), "the earliest plausible time");
        return -1;
    }
    if (r->ts_ms > now_ms + conf->max_future_ms) {
        snprintf(reason, reason_size, "ts %s is %lld s ahead of the clock",
                 ing_format_ts(r->ts_ms, when, sizeof when),
                 (long long)((r->ts_ms - now_ms) / 1000));
        return -1;
    }
    return check_values(r, reason, reason_size);
}
