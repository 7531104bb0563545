/*
 * records: the replayer's mapping from data-set rows to Avro records.
 */
#include "records.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "avfill.h"

#define CHK(call)                                                                      \
    do {                                                                               \
        if ((call) < 0)                                                                \
            return -1;                                                                 \
    } while (0)

char *rec_iso8601(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

int rec_telemetry(avro_value_t *v, const replay_site_t *s, const dataset_nl_row_t *row,
                  double energy_kwh, char *e, size_t es)
{
    CHK(av_set_string(v, "site_id", s->site_id, e, es));
    CHK(av_set_string(v, "meter_id", s->meter_id, e, es));
    CHK(av_set_long(v, "ts", row->ts_ms, e, es));
    CHK(av_set_long(v, "seq", row->ts_ms / 1000, e, es));
    CHK(av_set_enum(v, "source", "replay", e, es));
    CHK(av_set_double(v, "power_kw", row->load_mw * 1000.0, e, es));
    CHK(av_set_double(v, "energy_kwh", energy_kwh, e, es));
    CHK(av_set_enum(v, "quality", "good", e, es));
    return av_null_unset(v, e, es); /* voltage, current, ... are not in the data */
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static double percentile(const double *sorted, int n, double p)
{
    int rank = (int)ceil(p * n);
    return sorted[rank < 1 ? 0 : rank - 1];
}

static int price_slot(avro_value_t *slots, int64_t start, double price, double lo,
                      double hi, char *e, size_t es)
{
    avro_value_t slot;
    const char *cls = price <= lo ? "cheap" : price >= hi ? "peak" : "normal";
    CHK(av_append(slots, &slot, e, es));
    CHK(av_set_long(&slot, "slot_start", start, e, es));
    CHK(av_set_double(&slot, "price_eur_mwh", price, e, es));
    CHK(av_set_enum(&slot, "origin", "published", e, es));
    CHK(av_set_enum(&slot, "price_class", cls, e, es));
    return av_null_unset(&slot, e, es);
}

int rec_prices(avro_value_t *v, const replay_site_t *s, int64_t day_ms, int nslots,
               const double *prices, int64_t issued_ms, char *e, size_t es)
{
    char id[160], iso[32];
    double *sorted;
    int rc = -1;
    avro_value_t slots;
    const char *kind = s->effective_prices ? "effective" : "market";
    snprintf(id, sizeof id, "%s/%s/%s", kind,
             s->effective_prices ? s->site_id : s->market,
             rec_iso8601(day_ms, iso, sizeof iso));
    CHK(av_set_string(v, "curve_id", id, e, es));
    CHK(av_set_enum(v, "curve_kind", kind, e, es));
    CHK(av_set_string(v, "market", s->market, e, es));
    CHK(av_set_string(v, "site_id", s->effective_prices ? s->site_id : NULL, e, es));
    CHK(av_set_string(v, "source", s->source, e, es));
    CHK(av_set_long(v, "issued_at", issued_ms, e, es));
    CHK(av_set_long(v, "delivery_start", day_ms, e, es));
    CHK(av_set_long(v, "delivery_end", day_ms + nslots * DATASET_QH_MS, e, es));
    CHK(av_set_int(v, "slot_minutes", 15, e, es));
    CHK(av_set_int(v, "revision", 0, e, es));
    if (nslots < 1 || !(sorted = malloc((size_t)nslots * sizeof *sorted))) {
        snprintf(e, es, "prices: %s", nslots < 1 ? "no slots" : "out of memory");
        return -1;
    }
    for (int i = 0; i < nslots; i++)
        sorted[i] = prices[i];
    qsort(sorted, (size_t)nslots, sizeof sorted[0], cmp_double);
    double lo = percentile(sorted, nslots, 0.25);
    double hi = percentile(sorted, nslots, 0.75);
    if (av_field(v, "slots", &slots, e, es) < 0)
        goto cleanup;
    for (int i = 0; i < nslots; i++)
        if (price_slot(&slots, day_ms + i * DATASET_QH_MS, prices[i], lo, hi, e, es) <
            0)
            goto cleanup;
    rc = 0;
cleanup:
    free(sorted);
    return rc;
}

/* The data set's weather columns as named variables (unit as suffix). */
static int weather_vars(avro_value_t *slot, const dataset_nl_row_t *r, char *e,
                        size_t es)
{
    const struct {
        const char *name;
        double value;
    } vars[] = {
        {"shortwave_radiation_wm2",
         r->radiation_j_m2 / 3600.0}, /* J/m2 per h -> W/m2 */
        {"cloud_cover_pct", r->clouds_pct},
        {"relative_humidity_pct", r->humidity * 100.0},
        {"pressure_pa", r->pressure_pa},
        {"wind_speed_ms", r->wind_speed_ms},
        {"wind_speed_100m_ms", r->wind_speed_100m_ms},
        {"wind_direction_deg", r->wind_dir_deg},
        {"precipitation_mm", r->rain_mm},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (isfinite(vars[i].value))
            CHK(av_map_put_double(slot, "variables", vars[i].name, vars[i].value, e,
                                  es));
    return 0;
}

int rec_weather(avro_value_t *v, const replay_site_t *s, int64_t day_ms,
                const dataset_nl_row_t *rows, size_t n, int64_t issued_ms, char *e,
                size_t es)
{
    avro_value_t slots, slot;
    int count = 0;
    CHK(av_set_string(v, "site_id", s->site_id, e, es));
    CHK(av_set_string(v, "provider", s->source, e, es));
    CHK(av_set_long(v, "issued_at", issued_ms, e, es));
    CHK(av_set_double(v, "latitude", s->latitude, e, es));
    CHK(av_set_double(v, "longitude", s->longitude, e, es));
    CHK(av_set_int(v, "slot_minutes", 15, e, es));
    CHK(av_field(v, "slots", &slots, e, es));
    for (size_t i = 0; i < n; i++) {
        const dataset_nl_row_t *r = &rows[i];
        if (r->ts_ms < day_ms || r->ts_ms >= day_ms + DATASET_DAY_MS)
            continue;
        CHK(av_append(&slots, &slot, e, es));
        CHK(av_set_long(&slot, "slot_start", r->ts_ms, e, es));
        CHK(av_set_enum(&slot, "kind", "forecast", e, es));
        CHK(av_set_double(&slot, "temperature_c", r->temp_c, e, es));
        CHK(weather_vars(&slot, r, e, es));
        count++;
    }
    return count;
}
