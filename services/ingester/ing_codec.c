/*
 * ing_codec: field-by-field conversion between Avro values and records.
 */
#include "ingester/ing_codec.h"

#include <stdio.h>
#include <string.h>

#include "bus/field.h"
#include "text/utf8.h"

static int get_str(avro_value_t *v, const char *name, char *dst, size_t size)
{
    avro_value_t f, b;
    const char *s = NULL;
    size_t n = 0;

    if (avro_value_get_by_name(v, name, &f, NULL))
        return -1;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        if (avro_value_get_current_branch(&f, &b))
            return -1;
        if (avro_value_get_type(&b) == AVRO_NULL) {
            dst[0] = '\0';
            return 0;
        }
        f = b;
    }
    if (avro_value_get_string(&f, &s, &n) || !s)
        return -1;
    if (n > size) { /* n counts the NUL */
        snprintf(dst, size, "%.*s", (int)size - 1, s);
        return 1;
    }
    memcpy(dst, s, n);
    return 0;
}

/* A ["null","double"] field: sets *present bit when not null. */
static int get_opt(avro_value_t *v, const char *name, double *out, unsigned bit,
                   unsigned *present)
{
    avro_value_t f, b;

    if (avro_value_get_by_name(v, name, &f, NULL))
        return 0; /* not in the reader schema: null */
    if (avro_value_get_current_branch(&f, &b))
        return -1;
    if (avro_value_get_type(&b) == AVRO_NULL)
        return 0;
    if (avro_value_get_double(&b, out))
        return -1;
    *present |= bit;
    return 0;
}

int ing_codec_reading(avro_value_t *v, ing_reading_t *r, char *reason,
                      size_t reason_size)
{
    static const struct {
        const char *name;
        size_t off;
        unsigned bit;
    } opts[] = {
        {"power_kw", offsetof(ing_reading_t, power_kw), ING_HAS_POWER},
        {"energy_kwh", offsetof(ing_reading_t, energy_kwh), ING_HAS_ENERGY},
        {"voltage_v", offsetof(ing_reading_t, voltage_v), ING_HAS_VOLTAGE},
        {"current_a", offsetof(ing_reading_t, current_a), ING_HAS_CURRENT},
        {"frequency_hz", offsetof(ing_reading_t, frequency_hz), ING_HAS_FREQUENCY},
        {"power_factor", offsetof(ing_reading_t, power_factor), ING_HAS_PF},
    };
    int q = 0, rc;

    memset(r, 0, sizeof *r);
    if ((rc = get_str(v, "site_id", r->site_id, sizeof r->site_id)) ||
        (rc = get_str(v, "meter_id", r->meter_id, sizeof r->meter_id))) {
        snprintf(reason, reason_size,
                 rc > 0 ? "site_id or meter_id longer than %d bytes"
                        : "site_id or meter_id missing",
                 ING_ID_MAX - 1);
        return -1;
    }
    if (bus_field_get_long(v, "ts", &r->ts_ms) ||
        bus_field_get_long(v, "seq", &r->seq) ||
        bus_field_get_enum(v, "source", &r->source) ||
        bus_field_get_enum(v, "quality", &q)) {
        snprintf(reason, reason_size, "ts, seq, source or quality missing");
        return -1;
    }
    r->quality = (ing_quality_t)q;
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        /* cppcheck-suppress invalidPointerCast ; off is a double field's offset */
        if (get_opt(v, opts[i].name, (double *)((char *)r + opts[i].off), opts[i].bit,
                    &r->present)) {
            snprintf(reason, reason_size, "%s is not a double", opts[i].name);
            return -1;
        }
    rc = get_str(v, "quality_detail", r->detail, sizeof r->detail);
    if (rc < 0)
        r->detail[0] = '\0';
    else if (rc == 1)
        ems_utf8_trim_partial(r->detail); /* cut on a character, not in one */
    return 0;
}

/* ---- encoding ---- */

static int set_str(avro_value_t *v, const char *name, const char *s)
{
    avro_value_t f, b;

    if (avro_value_get_by_name(v, name, &f, NULL))
        return -1;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        if (!s || !*s)
            return avro_value_set_branch(&f, 0, &b) || avro_value_set_null(&b) ? -1 : 0;
        if (avro_value_set_branch(&f, 1, &b))
            return -1;
        f = b;
    }
    return avro_value_set_string(&f, s) ? -1 : 0;
}

int ing_codec_interval(const ing_interval_t *iv, avro_value_t *v)
{
    return set_str(v, "site_id", iv->site_id) ||
                   bus_field_set_enum(v, "scope", (int)iv->scope) ||
                   set_str(v, "meter_id",
                           iv->scope == ING_SCOPE_METER ? iv->meter_id : NULL) ||
                   bus_field_set_long(v, "interval_start", iv->start_ms) ||
                   bus_field_set_long(v, "interval_end", iv->end_ms) ||
                   bus_field_set_double(v, "energy_kwh", iv->energy_kwh) ||
                   bus_field_set_double(v, "mean_kw", iv->mean_kw) ||
                   bus_field_set_double(v, "peak_kw", iv->peak_kw) ||
                   bus_field_set_opt_double(v, "min_kw", iv->has_min, iv->min_kw) ||
                   bus_field_set_int(v, "sample_count", iv->sample_count) ||
                   bus_field_set_double(v, "completeness", iv->completeness) ||
                   bus_field_set_int(v, "revision", iv->revision) ||
                   bus_field_set_long(v, "watermark_ts", iv->watermark_ms)
               ? -1
               : 0;
}

int ing_codec_gap(const ing_gap_t *g, avro_value_t *v)
{
    return set_str(v, "site_id", g->site_id) || set_str(v, "meter_id", g->meter_id) ||
                   set_str(v, "gap_id", g->gap_id) ||
                   bus_field_set_long(v, "gap_start", g->start_ms) ||
                   bus_field_set_long(v, "gap_end", g->end_ms) ||
                   bus_field_set_long(v, "duration_s",
                                      (g->end_ms - g->start_ms) / 1000) ||
                   bus_field_set_int(v, "missing_intervals", g->missing_intervals) ||
                   bus_field_set_enum(v, "gap_class", (int)g->gap_class) ||
                   bus_field_set_bool(v, "ongoing", g->ongoing) ||
                   bus_field_set_bool(v, "recovered", g->recovered) ||
                   bus_field_set_int(v, "revision", g->revision) ||
                   bus_field_set_long(v, "detected_at", g->detected_ms)
               ? -1
               : 0;
}
