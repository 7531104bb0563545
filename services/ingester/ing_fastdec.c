/*
 * ing_fastdec: Telemetry bodies straight into readings (see ing_fastdec.h).
 * Field order and types follow schemas/energy.telemetry.avsc; a change of
 * that file must change this one (the unit test compares both paths).
 */
#include "ingester/ing_fastdec.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "text/utf8.h"

typedef struct cur {
    const unsigned char *p, *end;
    const char *err; /* first error, NULL while fine */
} cur_t;

/* A zig-zag varint (Avro int and long). */
static int64_t rd_long(cur_t *c)
{
    uint64_t v = 0;
    int shift = 0;

    while (c->p < c->end && shift < 64) {
        unsigned char b = *c->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
        shift += 7;
    }
    if (!c->err)
        c->err = "truncated or overlong varint";
    return 0;
}

static double rd_double(cur_t *c)
{
    uint64_t u = 0;
    double d;

    if (c->end - c->p < 8) {
        if (!c->err)
            c->err = "truncated double";
        c->p = c->end;
        return 0;
    }
    for (int i = 7; i >= 0; i--)
        u = (u << 8) | c->p[i];
    c->p += 8;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* A string into dst (size bytes with the NUL). Returns 1 when it did not
 * fit (dst then holds the truncated prefix), 0 otherwise. */
static int rd_string(cur_t *c, char *dst, size_t size)
{
    int64_t n = rd_long(c);
    size_t k;

    if (c->err)
        return 0;
    if (n < 0 || n > c->end - c->p) {
        c->err = "bad string length";
        dst[0] = '\0';
        return 0;
    }
    k = (size_t)n < size ? (size_t)n : size - 1;
    memcpy(dst, c->p, k);
    dst[k] = '\0';
    c->p += n;
    return (size_t)n >= size;
}

/* A ["null", "double"] union. */
static void rd_opt_double(cur_t *c, double *out, unsigned bit, unsigned *present)
{
    int64_t br = rd_long(c);

    if (br == 1) {
        *out = rd_double(c);
        *present |= bit;
    } else if (br != 0 && !c->err)
        c->err = "bad union branch";
}

static int64_t rd_enum(cur_t *c, int64_t nsymbols)
{
    int64_t v = rd_long(c);

    if ((v < 0 || v >= nsymbols) && !c->err)
        c->err = "enum symbol out of range";
    return v;
}

int ing_fastdec_reading(const void *body, size_t len, ing_reading_t *r, char *reason,
                        size_t reason_size)
{
    cur_t c = {.p = body, .end = (const unsigned char *)body + len, .err = NULL};
    int64_t br;
    int too_long;

    memset(r, 0, sizeof *r);
    too_long = rd_string(&c, r->site_id, sizeof r->site_id);
    too_long |= rd_string(&c, r->meter_id, sizeof r->meter_id);
    if (too_long && !c.err) {
        snprintf(reason, reason_size, "site_id or meter_id longer than %d bytes",
                 ING_ID_MAX - 1);
        return -1;
    }
    r->ts_ms = rd_long(&c);
    r->seq = rd_long(&c);
    r->source = (int)rd_enum(&c, 3);
    rd_opt_double(&c, &r->power_kw, ING_HAS_POWER, &r->present);
    rd_opt_double(&c, &r->energy_kwh, ING_HAS_ENERGY, &r->present);
    rd_opt_double(&c, &r->voltage_v, ING_HAS_VOLTAGE, &r->present);
    rd_opt_double(&c, &r->current_a, ING_HAS_CURRENT, &r->present);
    rd_opt_double(&c, &r->frequency_hz, ING_HAS_FREQUENCY, &r->present);
    rd_opt_double(&c, &r->power_factor, ING_HAS_PF, &r->present);
    r->quality = (ing_quality_t)rd_enum(&c, 5);
    br = rd_long(&c);
    if (br == 1) {
        if (rd_string(&c, r->detail, sizeof r->detail))
            ems_utf8_trim_partial(r->detail); /* cut on a character, not in one */
    } else if (br != 0 && !c.err)
        c.err = "bad union branch";
    if (!c.err && c.p != c.end)
        c.err = "trailing bytes";
    if (c.err) {
        snprintf(reason, reason_size, "malformed telemetry body: %s", c.err);
        return -1;
    }
    return 0;
}
