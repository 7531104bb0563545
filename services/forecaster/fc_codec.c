/* fc_codec: Avro mapping of the forecaster's topics (see fc_codec.h). */
#include "forecaster/fc_codec.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bus/field.h"

static int get_str(avro_value_t *v, const char *name, char *dst, size_t size)
{
    avro_value_t f;
    const char *s = NULL;
    size_t n = 0;
    if (avro_value_get_by_name(v, name, &f, NULL) ||
        avro_value_get_string(&f, &s, &n) || !s)
        return -1;
    snprintf(dst, size, "%s", s);
    return 0;
}

int fc_codec_load(avro_value_t *v, fc_load_rec *out, char *reason, size_t reason_size)
{
    memset(out, 0, sizeof *out);
    int scope = 0;
    if (get_str(v, "site_id", out->site_id, sizeof out->site_id) ||
        bus_field_get_enum(v, "scope", &scope) ||
        bus_field_get_long(v, "interval_start", &out->start_ms) ||
        bus_field_get_long(v, "interval_end", &out->end_ms) ||
        bus_field_get_int(v, "revision", &out->revision) ||
        bus_field_get_double(v, "mean_kw", &out->mean_kw))
        return snprintf(reason, reason_size, "energy.load record lacks a field"), -1;
    out->site_scope = scope == 1;
    return 0;
}

/* Reads an optional double (union null/double) by name: NaN for null, -1 for a
 * value that is not finite. */
static int get_opt_double(avro_value_t *v, const char *name, double *out)
{
    bool has = false;
    if (bus_field_get_opt_double(v, name, &has, out))
        return -1;
    if (!has)
        *out = NAN;
    return !has || isfinite(*out) ? 0 : -1;
}

static int var_index(fc_wxdata *wx, const char *name)
{
    int j = fc_wxdata_find(wx, name);
    if (j >= 0 || wx->nvar == FC_WX_MAXVAR || strlen(name) >= sizeof wx->names[0])
        return j;
    snprintf(wx->names[wx->nvar], sizeof wx->names[0], "%s", name);
    return (int)wx->nvar++;
}

/* First pass: the variable names of every slot, so the table has columns. */
static int weather_names(avro_value_t *slots, size_t n, fc_wxdata *wx)
{
    for (size_t i = 0; i < n; i++) {
        avro_value_t s, m, e;
        size_t nm = 0;
        if (avro_value_get_by_index(slots, i, &s, NULL) ||
            avro_value_get_by_name(&s, "variables", &m, NULL) ||
            avro_value_get_size(&m, &nm))
            return -1;
        for (size_t j = 0; j < nm; j++) {
            const char *key = NULL;
            if (avro_value_get_by_index(&m, j, &e, &key) || !key ||
                var_index(wx, key) < 0)
                return -1;
        }
    }
    return 0;
}

static int weather_slot(avro_value_t *slots, size_t i, fc_wxdata *wx, char *reason,
                        size_t reason_size)
{
    avro_value_t s, m, e;
    size_t nm = 0;
    double *row = wx->v + i * wx->nvar;
    for (size_t j = 0; j < wx->nvar; j++)
        row[j] = NAN;
    if (avro_value_get_by_index(slots, i, &s, NULL) ||
        bus_field_get_long(&s, "slot_start", &wx->t[i]))
        return snprintf(reason, reason_size, "slot %zu: no slot_start", i), -1;
    wx->t[i] /= 1000;
    int kind = 1;
    if (bus_field_get_enum(&s, "kind", &kind))
        return snprintf(reason, reason_size, "slot %zu: no kind", i), -1;
    wx->observed[i] = kind == 0;
    if (get_opt_double(&s, "temperature_c", &row[0]))
        return snprintf(reason, reason_size, "slot %zu: temperature_c is not a number",
                        i),
               -1;
    if (avro_value_get_by_name(&s, "variables", &m, NULL) ||
        avro_value_get_size(&m, &nm))
        return snprintf(reason, reason_size, "slot %zu: no variables", i), -1;
    for (size_t j = 0; j < nm; j++) {
        const char *key = NULL;
        double x;
        if (avro_value_get_by_index(&m, j, &e, &key) || avro_value_get_double(&e, &x) ||
            !isfinite(x))
            return snprintf(reason, reason_size,
                            "slot %zu: variable '%s' is not a number", i,
                            key ? key : "?"),
                   -1;
        row[fc_wxdata_find(wx, key)] = x;
    }
    return 0;
}

int fc_codec_weather(avro_value_t *v, char *site_id, size_t site_size, fc_wxdata *wx,
                     char *reason, size_t reason_size)
{
    avro_value_t slots;
    size_t n = 0;
    int minutes = 0;
    fc_wxdata_release(wx);
    if (get_str(v, "site_id", site_id, site_size) ||
        bus_field_get_int(v, "slot_minutes", &minutes) ||
        bus_field_get_long(v, "issued_at", &wx->issued) ||
        avro_value_get_by_name(v, "slots", &slots, NULL) ||
        avro_value_get_size(&slots, &n))
        return snprintf(reason, reason_size, "energy.weather record lacks a field"), -1;
    if (minutes <= 0 || minutes > 1440)
        return snprintf(reason, reason_size, "slot_minutes %d out of range", minutes),
               -1;
    wx->slot_sec = minutes * 60;
    wx->issued /= 1000;
    var_index(wx, FC_WX_TEMP);
    if (weather_names(&slots, n, wx) < 0)
        return snprintf(reason, reason_size, "bad or too many weather variables"), -1;
    wx->n = n;
    wx->t = calloc(n ? n : 1, sizeof *wx->t);
    wx->v = calloc((n ? n : 1) * wx->nvar, sizeof *wx->v);
    wx->observed = calloc(n ? n : 1, 1);
    if (!wx->t || !wx->v || !wx->observed)
        return snprintf(reason, reason_size, "out of memory"), -1;
    for (size_t i = 0; i < n; i++)
        if (weather_slot(&slots, i, wx, reason, reason_size) < 0)
            return -1;
    return 0;
}

int fc_codec_forecast_head(avro_value_t *v, char *site_id, size_t site_size, int *kind,
                           int64_t *issued_at, char *reason, size_t reason_size)
{
    int k = 0;
    if (get_str(v, "site_id", site_id, site_size) ||
        bus_field_get_enum(v, "run_kind", &k) ||
        bus_field_get_long(v, "issued_at", issued_at))
        return snprintf(reason, reason_size, "energy.forecast record lacks a field"),
               -1;
    *kind = k == 0 ? FC_DAY_AHEAD : k == 1 ? FC_INTRADAY : -1;
    *issued_at /= 1000;
    return 0;
}

const char *fc_codec_quality(const fc_forecast *f)
{
    if (!strcmp(f->fallback, fc_fallback_name(FC_FALLBACK_MODEL_FAILED)))
        return "model_failed";
    if (f->fallback[0])
        return "short_history";
    if (strstr(f->quality, "weather_missing") || strstr(f->quality, "no_temperature"))
        return "missing_weather";
    if (strstr(f->quality, "gaps_filled") || strstr(f->quality, "no_history"))
        return "history_gaps";
    return "ok";
}

static const char *const quality_syms[] = {"ok", "short_history", "missing_weather",
                                           "history_gaps", "model_failed"};

/* Sets an optional double (union null/double): null for NaN. */
static int set_opt_double(avro_value_t *v, const char *name, double x)
{
    return bus_field_set_opt_double(v, name, !isnan(x), x);
}

static void iso_utc(int64_t t, char *out, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int forecast_slots(avro_value_t *v, const fc_forecast *f)
{
    avro_value_t arr, e;
    if (avro_value_get_by_name(v, "slots", &arr, NULL))
        return -1;
    for (size_t i = 0; i < f->n; i++) {
        const fc_slot *s = &f->slots[i];
        if (avro_value_append(&arr, &e, NULL) ||
            bus_field_set_long(&e, "slot_start", s->t * 1000) ||
            bus_field_set_double(&e, "p10_kw", s->p10) ||
            bus_field_set_double(&e, "p50_kw", s->p50) ||
            bus_field_set_double(&e, "p90_kw", s->p90))
            return -1;
    }
    return 0;
}

int fc_codec_forecast(avro_value_t *v, const char *site_id, const fc_forecast *f)
{
    char run_id[160], when[32], reason[256];
    const char *q = fc_codec_quality(f);
    int qi = 0;
    iso_utc(f->issue_time, when, sizeof when);
    snprintf(run_id, sizeof run_id, "%s/%s/%s", site_id, fc_kind_label(f->kind), when);
    for (int i = 0; i < 5; i++)
        if (!strcmp(quality_syms[i], q))
            qi = i;
    snprintf(reason, sizeof reason, "%s%s%s%s", f->fallback[0] ? "fallback " : "",
             f->fallback, f->fallback[0] && f->quality[0] ? "; " : "", f->quality);
    int64_t end = f->n ? f->slots[f->n - 1].t + f->step : f->issue_time;
    if (bus_field_set_string(v, "site_id", site_id) ||
        bus_field_set_string(v, "run_id", run_id) ||
        bus_field_set_enum(v, "run_kind", f->kind == FC_DAY_AHEAD ? 0 : 1) ||
        bus_field_set_long(v, "issued_at", f->issue_time * 1000) ||
        bus_field_set_long(v, "horizon_start",
                           (f->n ? f->slots[0].t : f->issue_time) * 1000) ||
        bus_field_set_long(v, "horizon_end", end * 1000) ||
        bus_field_set_int(v, "slot_minutes", f->step / 60) ||
        bus_field_set_string(v, "model_name", f->model) ||
        bus_field_set_string(v, "model_version",
                             f->version[0] ? f->version : "untrained") ||
        bus_field_set_bool(v, "fallback", f->fallback[0] != '\0') ||
        bus_field_set_enum(v, "quality", qi) ||
        bus_field_set_opt_string(v, "quality_reason", reason[0] ? reason : NULL))
        return -1;
    return forecast_slots(v, f);
}

static int weather_out_slot(avro_value_t *arr, const fc_wxdata *wx, size_t i,
                            int64_t issued_ms)
{
    avro_value_t e, m, x;
    int ti = fc_wxdata_find(wx, FC_WX_TEMP);
    const double *row = wx->v + i * wx->nvar;
    int observed = (wx->t[i] + wx->slot_sec) * 1000 <= issued_ms;
    if (avro_value_append(arr, &e, NULL) ||
        bus_field_set_long(&e, "slot_start", wx->t[i] * 1000) ||
        bus_field_set_enum(&e, "kind", observed ? 0 : 1) ||
        set_opt_double(&e, "temperature_c", ti >= 0 ? row[ti] : NAN) ||
        avro_value_get_by_name(&e, "variables", &m, NULL))
        return -1;
    for (size_t j = 0; j < wx->nvar; j++) {
        if ((int)j == ti || isnan(row[j]))
            continue;
        if (avro_value_add(&m, wx->names[j], &x, NULL, NULL) ||
            avro_value_set_double(&x, row[j]))
            return -1;
    }
    return 0;
}

int fc_codec_weather_out(avro_value_t *v, const char *site_id, const char *provider,
                         int64_t issued_ms, const fc_wxdata *wx)
{
    avro_value_t arr;
    if (bus_field_set_string(v, "site_id", site_id) ||
        bus_field_set_string(v, "provider", provider) ||
        bus_field_set_long(v, "issued_at", issued_ms) ||
        bus_field_set_int(v, "slot_minutes", wx->slot_sec / 60) ||
        set_opt_double(v, "latitude", wx->has_pos ? wx->lat : NAN) ||
        set_opt_double(v, "longitude", wx->has_pos ? wx->lon : NAN) ||
        avro_value_get_by_name(v, "slots", &arr, NULL))
        return -1;
    for (size_t i = 0; i < wx->n; i++)
        if (weather_out_slot(&arr, wx, i, issued_ms) < 0)
            return -1;
    return 0;
}
