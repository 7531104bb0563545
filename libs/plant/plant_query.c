/* plant: look-ups, calendars, tariffs and the register codec of a loaded
 * model. */
#include <math.h>
#include <string.h>

#include "plant/plant.h"
#include "plant/plant_int.h"

const char *const plant_quantity_names[] = {
    "power_kw",     "energy_kwh",   "voltage_v", "current_a",
    "frequency_hz", "power_factor", NULL,
};
const char *const plant_dtype_names[] = {
    "int16", "uint16", "int32", "uint32", "float32", "float64", "uint64", NULL,
};
const char *const plant_meter_kind_names[] = {"main", "sub", "equipment", NULL};
const char *const plant_equipment_kind_names[] = {"deferrable", "process", "storage",
                                                  "generic", NULL};

const char *plant_quantity_name(plant_quantity_t q)
{
    return (unsigned)q <= PLANT_Q_POWER_FACTOR ? plant_quantity_names[q] : "?";
}

const char *plant_dtype_name(plant_dtype_t t)
{
    return (unsigned)t <= PLANT_DT_UINT64 ? plant_dtype_names[t] : "?";
}

const char *plant_meter_kind_name(plant_meter_kind_t k)
{
    return (unsigned)k <= PLANT_METER_EQUIPMENT ? plant_meter_kind_names[k] : "?";
}

const char *plant_equipment_kind_name(plant_equipment_kind_t k)
{
    return (unsigned)k <= PLANT_EQ_GENERIC ? plant_equipment_kind_names[k] : "?";
}

/* ---- look-ups ---- */

size_t plant_site_count(const plant_t *p)
{
    return p->nsites;
}

const plant_site_t *plant_site_at(const plant_t *p, size_t i)
{
    return i < p->nsites ? &p->sites[i] : NULL;
}

const plant_site_t *plant_site(const plant_t *p, const char *id)
{
    for (size_t i = 0; id && i < p->nsites; i++)
        if (!strcmp(p->sites[i].id, id))
            return &p->sites[i];
    return NULL;
}

size_t plant_meter_count(const plant_t *p)
{
    return p->nmeters;
}

const plant_meter_t *plant_meter_at(const plant_t *p, size_t i)
{
    return i < p->nmeters ? &p->meters[i] : NULL;
}

const plant_meter_t *plant_meter(const plant_t *p, const char *id)
{
    for (size_t i = 0; id && i < p->nmeters; i++)
        if (!strcmp(p->meters[i].id, id))
            return &p->meters[i];
    return NULL;
}

const plant_meter_t *plant_site_meter_next(const plant_t *p, const char *site_id,
                                           const plant_meter_t *prev)
{
    size_t i = prev ? (size_t)(prev - p->meters) + 1 : 0;
    for (; site_id && i < p->nmeters; i++)
        if (!strcmp(p->meters[i].site_id, site_id))
            return &p->meters[i];
    return NULL;
}

size_t plant_equipment_count(const plant_t *p)
{
    return p->nequipment;
}

const plant_equipment_t *plant_equipment_at(const plant_t *p, size_t i)
{
    return i < p->nequipment ? &p->equipment[i] : NULL;
}

const plant_equipment_t *plant_equipment(const plant_t *p, const char *id)
{
    for (size_t i = 0; id && i < p->nequipment; i++)
        if (!strcmp(p->equipment[i].id, id))
            return &p->equipment[i];
    return NULL;
}

const plant_equipment_t *plant_site_equipment_next(const plant_t *p,
                                                   const char *site_id,
                                                   const plant_equipment_t *prev)
{
    size_t i = prev ? (size_t)(prev - p->equipment) + 1 : 0;
    for (; site_id && i < p->nequipment; i++)
        if (!strcmp(p->equipment[i].site_id, site_id))
            return &p->equipment[i];
    return NULL;
}

const plant_register_t *plant_meter_register(const plant_meter_t *m, plant_quantity_t q)
{
    for (size_t i = 0; i < m->nregisters; i++)
        if (m->registers[i].quantity == q)
            return &m->registers[i];
    return NULL;
}

/* ---- calendars and tariffs ---- */

bool plant_site_is_holiday(const plant_site_t *s, int year, int month, int day)
{
    int32_t key = year * 10000 + month * 100 + day;
    size_t lo = 0, hi = s->nholidays;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->holidays[mid] == key)
            return true;
        if (s->holidays[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* A window that wraps midnight (end < start) covers the evening of its day
 * and the early morning of the next; both parts count for its day bits. */
static bool window_matches(const plant_tariff_window_t *w, unsigned day_bit, int minute)
{
    if (!(w->days & day_bit))
        return false;
    if (w->start_min < w->end_min)
        return minute >= w->start_min && minute < w->end_min;
    return minute >= w->start_min || minute < w->end_min;
}

const plant_tariff_period_t *plant_tariff_period_at(const plant_site_t *s, int wday,
                                                    int minute, bool holiday)
{
    unsigned bit = holiday ? PLANT_DAY_HOLIDAY : 1u << (wday % 7);
    const plant_tariff_t *t = &s->tariff;
    for (size_t i = 0; i < t->nperiods; i++) {
        const plant_tariff_period_t *per = &t->periods[i];
        if (!per->nwindows)
            return per;
        for (size_t k = 0; k < per->nwindows; k++)
            if (window_matches(&per->windows[k], bit, minute))
                return per;
    }
    return NULL;
}

/* ---- register codec ---- */

int plant_dtype_words(plant_dtype_t t)
{
    switch (t) {
    case PLANT_DT_INT16:
    case PLANT_DT_UINT16:
        return 1;
    case PLANT_DT_FLOAT64:
    case PLANT_DT_UINT64:
        return 4;
    default:
        return 2;
    }
}

static uint16_t swap16(uint16_t w)
{
    return (uint16_t)((w >> 8) | (w << 8));
}

/* Words in device order -> the value's bits, most significant word first. */
static uint64_t gather(const plant_register_t *r, const uint16_t *words)
{
    int n = plant_dtype_words(r->dtype);
    uint64_t bits = 0;
    for (int i = 0; i < n; i++) {
        uint16_t w = words[r->word_order == PLANT_ORDER_BIG ? i : n - 1 - i];
        bits = bits << 16 | (r->byte_order == PLANT_ORDER_BIG ? w : swap16(w));
    }
    return bits;
}

static void scatter(const plant_register_t *r, uint64_t bits, uint16_t *words)
{
    int n = plant_dtype_words(r->dtype);
    for (int i = n - 1; i >= 0; i--) {
        uint16_t w = (uint16_t)(bits & 0xffff);
        bits >>= 16;
        words[r->word_order == PLANT_ORDER_BIG ? i : n - 1 - i] =
            r->byte_order == PLANT_ORDER_BIG ? w : swap16(w);
    }
}

static double raw_value(plant_dtype_t t, uint64_t bits)
{
    float f;
    double d;
    uint32_t b32 = (uint32_t)bits;
    switch (t) {
    case PLANT_DT_INT16:
        return (int16_t)(uint16_t)bits;
    case PLANT_DT_UINT16:
        return (uint16_t)bits;
    case PLANT_DT_INT32:
        return (int32_t)b32;
    case PLANT_DT_UINT32:
        return b32;
    case PLANT_DT_FLOAT32:
        memcpy(&f, &b32, sizeof f);
        return f;
    case PLANT_DT_FLOAT64:
        memcpy(&d, &bits, sizeof d);
        return d;
    case PLANT_DT_UINT64:
        return (double)bits;
    }
    return NAN;
}

double plant_register_decode(const plant_register_t *r, const uint16_t *words)
{
    double raw = raw_value(r->dtype, gather(r, words));
    return (raw * r->scale + r->offset) * r->unit_factor;
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static uint64_t raw_bits(plant_dtype_t t, double raw)
{
    float f = (float)raw;
    uint32_t b32;
    uint64_t b64;
    switch (t) {
    case PLANT_DT_INT16:
        return (uint16_t)(int16_t)llround(clamp(raw, INT16_MIN, INT16_MAX));
    case PLANT_DT_UINT16:
        return (uint16_t)llround(clamp(raw, 0, UINT16_MAX));
    case PLANT_DT_INT32:
        return (uint32_t)(int32_t)llround(clamp(raw, INT32_MIN, INT32_MAX));
    case PLANT_DT_UINT32:
        return (uint32_t)llround(clamp(raw, 0, UINT32_MAX));
    case PLANT_DT_FLOAT32:
        memcpy(&b32, &f, sizeof b32);
        return b32;
    case PLANT_DT_FLOAT64:
        memcpy(&b64, &raw, sizeof b64);
        return b64;
    case PLANT_DT_UINT64:
        raw = clamp(raw, 0, 18446744073709549568.0); /* largest double < 2^64 */
        return (uint64_t)nearbyint(raw);
    }
    return 0;
}

void plant_register_encode(const plant_register_t *r, double value, uint16_t *words)
{
    double raw = (value / r->unit_factor - r->offset) / r->scale;
    if (isnan(raw))
        raw = 0;
    scatter(r, raw_bits(r->dtype, raw), words);
}
