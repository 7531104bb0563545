#include "plant/plant.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config/ydoc.h"
#include "plant/plant_int.h"

/* ---- loading context ---- */

/* ---- sites ---- */

static const char *const day_names[] = {"mon", "tue", "wed", "thu",
                                        "fri", "sat", "sun", NULL};
static const char *const billing_names[] = {"month", "year", NULL};

/* "mon", "mon-fri" (wrapping allowed), "weekdays", "weekend", "all",
 * "holiday". */
static int day_token(const char *t, uint8_t *bits)
{
    static const struct {
        const char *name;
        uint8_t bits;
    } sets[] = {{"all", 0x7f},
                {"weekdays", 0x1f},
                {"weekend", 0x60},
                {"holiday", PLANT_DAY_HOLIDAY}};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        if (!strcmp(t, sets[i].name)) {
            *bits |= sets[i].bits;
            return 0;
        }
    }
    char a[4], b[4];
    const char *dash = strchr(t, '-');
    if (dash ? (dash - t != 3 || strlen(dash + 1) != 3) : strlen(t) != 3)
        return -1;
    memcpy(a, t, 3);
    a[3] = '\0';
    snprintf(b, sizeof b, "%s", dash ? dash + 1 : a);
    int from = plant_rd_enum_index(day_names, a),
        to = plant_rd_enum_index(day_names, b);
    if (from < 0 || to < 0)
        return -1;
    for (int d = from;; d = (d + 1) % 7) {
        *bits |= (uint8_t)(1u << d);
        if (d == to)
            break;
    }
    return 0;
}

/* days: "mon-fri", "sat,sun" or a list of such tokens. */
static int parse_days(ctx_t *c, const yaml_node_t *n, uint8_t *bits)
{
    *bits = 0;
    size_t cnt = 1;
    if (n->type == YAML_SEQUENCE_NODE && plant_rd_seq_len(c, n, "days", &cnt) < 0)
        return -1;
    for (size_t i = 0; i < cnt; i++) {
        const yaml_node_t *item =
            n->type == YAML_SEQUENCE_NODE ? plant_rd_seq_item(c, n, i) : n;
        const char *s = ydoc_scalar(item);
        char buf[128];
        if (!s || strlen(s) >= sizeof buf)
            return plant_err(c, item, "days: expected day names such as mon-fri");
        strcpy(buf, s);
        for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t;
             t = strtok_r(NULL, ", ", &save))
            if (day_token(t, bits) < 0)
                return plant_err(c, item,
                                 "days: unknown day '%s' (mon..sun, mon-fri, "
                                 "weekdays, weekend, all, holiday)",
                                 t);
    }
    return *bits ? 0 : plant_err(c, n, "days: no day given");
}

static const field_t window_fields[] = {
    {.key = "days", .kind = F_SKIP, .required = true},
    {.key = "from",
     .kind = F_TOD,
     .off = offsetof(plant_tariff_window_t, start_min),
     .required = true},
    {.key = "to",
     .kind = F_TOD,
     .off = offsetof(plant_tariff_window_t, end_min),
     .required = true},
    {0},
};

static int parse_window(ctx_t *c, const yaml_node_t *n, plant_tariff_window_t *w)
{
    uint64_t seen;
    if (plant_rd_read_fields(c, n, window_fields, w, &seen) < 0 ||
        parse_days(c, ydoc_get(c->d, n, "days"), &w->days) < 0)
        return -1;
    if (w->start_min >= 1440)
        return plant_err(c, n, "from: must be before 24:00");
    if (w->start_min == w->end_min)
        return plant_err(c, n, "from and to are equal: an empty window");
    return 0;
}

static const field_t period_fields[] = {
    {.key = "name",
     .kind = F_STR,
     .off = offsetof(plant_tariff_period_t, name),
     .required = true},
    {.key = "energy_eur_per_mwh",
     .kind = F_NUM,
     .off = offsetof(plant_tariff_period_t, energy_eur_per_mwh),
     .min = -1e5,
     .max = 1e5},
    {.key = "windows", .kind = F_SKIP},
    {0},
};

static int parse_period(ctx_t *c, const yaml_node_t *n, plant_tariff_period_t *per)
{
    uint64_t seen;
    if (plant_rd_read_fields(c, n, period_fields, per, &seen) < 0)
        return -1;
    const yaml_node_t *wn = ydoc_get(c->d, n, "windows");
    if (plant_rd_seq_len(c, wn, "windows", &per->nwindows) < 0)
        return -1;
    if (!(per->windows = plant_rd_own_array(c, per->nwindows, sizeof *per->windows)))
        return plant_err(c, n, "out of memory");
    for (size_t i = 0; i < per->nwindows; i++)
        if (parse_window(c, plant_rd_seq_item(c, wn, i), &per->windows[i]) < 0)
            return -1;
    return 0;
}

static const field_t tariff_fields[] = {
    {.key = "name", .kind = F_STR, .off = offsetof(plant_tariff_t, name)},
    {.key = "demand_charge_eur_per_kw",
     .kind = F_NUM,
     .off = offsetof(plant_tariff_t, demand_charge_eur_per_kw),
     .min = 0,
     .max = 1e6},
    {.key = "billing_period",
     .kind = F_STR,
     .off = offsetof(plant_tariff_t, billing_period)},
    {.key = "periods", .kind = F_SKIP},
    {0},
};

static int parse_tariff(ctx_t *c, const yaml_node_t *n, plant_tariff_t *t)
{
    uint64_t seen;
    t->billing_period = "month";
    if (!n)
        return 0;
    if (plant_rd_read_fields(c, n, tariff_fields, t, &seen) < 0)
        return -1;
    if (plant_rd_enum_index(billing_names, t->billing_period) < 0)
        return plant_err(c, n,
                         "billing_period: unknown value '%s' (expected month|year)",
                         t->billing_period);
    const yaml_node_t *pn = ydoc_get(c->d, n, "periods");
    if (plant_rd_seq_len(c, pn, "periods", &t->nperiods) < 0)
        return -1;
    if (!(t->periods = plant_rd_own_array(c, t->nperiods, sizeof *t->periods)))
        return plant_err(c, n, "out of memory");
    for (size_t i = 0; i < t->nperiods; i++)
        if (parse_period(c, plant_rd_seq_item(c, pn, i), &t->periods[i]) < 0)
            return -1;
    return 0;
}

static int check_timezone(ctx_t *c, const yaml_node_t *n, const char *tz)
{
    const char *dir = getenv("TZDIR");
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", tz);
    if (!*tz || *tz == '/' || strstr(tz, "..") || stat(path, &st) < 0 ||
        !S_ISREG(st.st_mode))
        return plant_err(
            c, n, "timezone: unknown time zone '%s' (not in the tz database)", tz);
    return 0;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int parse_holidays(ctx_t *c, const yaml_node_t *n, plant_site_t *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (plant_rd_seq_len(c, n, "holidays", &s->nholidays) < 0)
        return -1;
    if (!(s->holidays = plant_rd_own_array(c, s->nholidays, sizeof *s->holidays)))
        return plant_err(c, n, "out of memory");
    for (size_t i = 0; i < s->nholidays; i++) {
        const yaml_node_t *item = plant_rd_seq_item(c, n, i);
        const char *d = ydoc_scalar(item);
        int y, m, dd, k = 0;
        if (!d || sscanf(d, "%4d-%2d-%2d%n", &y, &m, &dd, &k) != 3 || d[k] || m < 1 ||
            m > 12 || dd < 1 || dd > mdays[m - 1] ||
            (m == 2 && dd == 29 && (y % 4 || (y % 100 == 0 && y % 400))))
            return plant_err(c, item, "holidays: expected a date YYYY-MM-DD, got '%s'",
                             d ? d : "?");
        s->holidays[i] = y * 10000 + m * 100 + dd;
    }
    qsort(s->holidays, s->nholidays, sizeof *s->holidays, cmp_i32);
    return 0;
}

static const field_t site_fields[] = {
    {.key = "id", .kind = F_STR, .off = offsetof(plant_site_t, id), .required = true},
    {.key = "name", .kind = F_STR, .off = offsetof(plant_site_t, name)},
    {.key = "timezone",
     .kind = F_STR,
     .off = offsetof(plant_site_t, timezone),
     .required = true},
    {.key = "market",
     .kind = F_STR,
     .off = offsetof(plant_site_t, market),
     .required = true},
    {.key = "contracted_import_kw",
     .kind = F_NUM,
     .off = offsetof(plant_site_t, contracted_import_kw),
     .required = true,
     .min = 0.001,
     .max = 1e8},
    {.key = "export_limit_kw",
     .kind = F_NUM,
     .off = offsetof(plant_site_t, export_limit_kw),
     .min = 0,
     .max = 1e8},
    {.key = "tariff", .kind = F_SKIP},
    {.key = "holidays", .kind = F_SKIP},
    {0},
};

static int parse_site(ctx_t *c, const yaml_node_t *n, size_t idx, void *out)
{
    plant_site_t *s = out;
    uint64_t seen;
    plant_rd_set_what(c, n, "site", "sites", idx);
    s->line = ydoc_line(n);
    if (plant_rd_read_fields(c, n, site_fields, s, &seen) < 0)
        return -1;
    if (plant_rd_check_id(c, ydoc_get(c->d, n, "id"), s->id) < 0)
        return -1;
    if (!s->name)
        s->name = s->id;
    s->has_export_limit = plant_rd_seen_key(site_fields, seen, "export_limit_kw");
    if (check_timezone(c, ydoc_get(c->d, n, "timezone"), s->timezone) < 0 ||
        parse_tariff(c, ydoc_get(c->d, n, "tariff"), &s->tariff) < 0 ||
        parse_holidays(c, ydoc_get(c->d, n, "holidays"), s) < 0)
        return -1;
    return 0;
}

/* ---- meters ---- */

static const char *const regtype_names[] = {"holding", "input", NULL};
static const char *const order_names[] = {"big", "little", NULL};

static const struct unit_def {
    plant_quantity_t q;
    const char *unit;
    double factor;
} units[] = {
    {PLANT_Q_POWER_KW, "kW", 1},       {PLANT_Q_POWER_KW, "W", 1e-3},
    {PLANT_Q_POWER_KW, "MW", 1e3},     {PLANT_Q_ENERGY_KWH, "kWh", 1},
    {PLANT_Q_ENERGY_KWH, "Wh", 1e-3},  {PLANT_Q_ENERGY_KWH, "MWh", 1e3},
    {PLANT_Q_VOLTAGE_V, "V", 1},       {PLANT_Q_VOLTAGE_V, "kV", 1e3},
    {PLANT_Q_CURRENT_A, "A", 1},       {PLANT_Q_CURRENT_A, "kA", 1e3},
    {PLANT_Q_FREQUENCY_HZ, "Hz", 1},   {PLANT_Q_POWER_FACTOR, "", 1},
    {PLANT_Q_POWER_FACTOR, "%", 1e-2},
};

double plant_unit_factor(plant_quantity_t q, const char *unit)
{
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (units[i].q == q && !strcmp(units[i].unit, unit))
            return units[i].factor;
    return NAN;
}

/* Checks r->unit against its quantity (the first unit listed is the
 * canonical one, used when unit is absent) and sets unit_factor. */
static int resolve_unit(ctx_t *c, const yaml_node_t *n, plant_register_t *r)
{
    char list[128] = "";
    size_t len = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (units[i].q != r->quantity)
            continue;
        if (!r->unit)
            r->unit = units[i].unit;
        if (!strcmp(units[i].unit, r->unit)) {
            r->unit_factor = units[i].factor;
            return 0;
        }
        len += snprintf(list + len, sizeof list - len, "%s'%s'", len ? "|" : "",
                        units[i].unit);
    }
    return plant_err(c, n, "unit: '%s' is not a unit of %s (expected %s)", r->unit,
                     plant_quantity_names[r->quantity], list);
}

#define REG_FIELDS(T, pre)                                                             \
    {.key = "address",                                                                 \
     .kind = F_INT,                                                                    \
     .off = offsetof(T, pre address),                                                  \
     .required = true,                                                                 \
     .min = 0,                                                                         \
     .max = 65535},                                                                    \
        {.key = "data_type",                                                           \
         .kind = F_ENUM,                                                               \
         .off = offsetof(T, pre dtype),                                                \
         .required = true,                                                             \
         .names = plant_dtype_names},                                                  \
        {.key = "word_order",                                                          \
         .kind = F_ENUM,                                                               \
         .off = offsetof(T, pre word_order),                                           \
         .names = order_names},                                                        \
        {.key = "byte_order",                                                          \
         .kind = F_ENUM,                                                               \
         .off = offsetof(T, pre byte_order),                                           \
         .names = order_names},                                                        \
        {.key = "scale", .kind = F_NUM, .off = offsetof(T, pre scale)},                \
        {.key = "offset", .kind = F_NUM, .off = offsetof(T, pre offset)},              \
    {                                                                                  \
        .key = "unit", .kind = F_STR, .off = offsetof(T, pre unit)                     \
    }

static const field_t register_fields[] = {
    {.key = "quantity",
     .kind = F_ENUM,
     .off = offsetof(plant_register_t, quantity),
     .required = true,
     .names = plant_quantity_names},
    {.key = "type",
     .kind = F_ENUM,
     .off = offsetof(plant_register_t, reg_type),
     .names = regtype_names},
    REG_FIELDS(plant_register_t, ),
    {0},
};

static int finish_register(ctx_t *c, const yaml_node_t *n, plant_register_t *r)
{
    r->line = ydoc_line(n);
    if (r->scale == 0)
        return plant_err(c, n, "scale: must not be 0");
    if (r->address + plant_dtype_words(r->dtype) > 65536)
        return plant_err(c, n, "address: %s at %d runs past register 65535",
                         plant_dtype_names[r->dtype], r->address);
    return resolve_unit(c, n, r);
}

static int parse_register(ctx_t *c, const yaml_node_t *n, plant_register_t *r)
{
    uint64_t seen;
    r->scale = 1;
    if (plant_rd_read_fields(c, n, register_fields, r, &seen) < 0)
        return -1;
    return finish_register(c, n, r);
}

#define DEV_FIELDS(T, pre)                                                             \
    {.key = "host", .kind = F_STR, .off = offsetof(T, pre host), .required = true},    \
        {.key = "port",                                                                \
         .kind = F_INT,                                                                \
         .off = offsetof(T, pre port),                                                 \
         .min = 1,                                                                     \
         .max = 65535},                                                                \
    {                                                                                  \
        .key = "unit_id", .kind = F_INT, .off = offsetof(T, pre unit_id), .min = 0,    \
        .max = 255                                                                     \
    }

static const field_t device_fields[] = {DEV_FIELDS(plant_device_t, ), {0}};

static int parse_device(ctx_t *c, const yaml_node_t *n, plant_device_t *dev)
{
    uint64_t seen;
    dev->port = 502;
    dev->unit_id = 1;
    if (plant_rd_read_fields(c, n, device_fields, dev, &seen) < 0)
        return -1;
    return *dev->host ? 0 : plant_err(c, n, "host: must not be empty");
}

/* power_range_kw: [min, max] */
static int parse_range(ctx_t *c, const yaml_node_t *n, double *lo, double *hi)
{
    size_t len;
    if (!n)
        return 0;
    if (plant_rd_seq_len(c, n, "power_range_kw", &len) < 0)
        return -1;
    const char *a = len == 2 ? ydoc_scalar(plant_rd_seq_item(c, n, 0)) : NULL;
    const char *b = len == 2 ? ydoc_scalar(plant_rd_seq_item(c, n, 1)) : NULL;
    char *ea = NULL, *eb = NULL;
    errno = 0;
    if (a && b) {
        *lo = strtod(a, &ea);
        *hi = strtod(b, &eb);
    }
    /* finite, like every other number of the model: a NaN bound would turn
     * the gateway's plausibility check of the meter's power off */
    if (!a || !b || *ea || *eb || !*a || !*b || errno || !isfinite(*lo) ||
        !isfinite(*hi))
        return plant_err(c, n, "power_range_kw: expected [min, max] in kW");
    if (*lo > *hi)
        return plant_err(c, n, "power_range_kw: min %g > max %g", *lo, *hi);
    return 0;
}

static const field_t meter_fields[] = {
    {.key = "id", .kind = F_STR, .off = offsetof(plant_meter_t, id), .required = true},
    {.key = "site",
     .kind = F_STR,
     .off = offsetof(plant_meter_t, site_id),
     .required = true},
    {.key = "name", .kind = F_STR, .off = offsetof(plant_meter_t, name)},
    {.key = "kind",
     .kind = F_ENUM,
     .off = offsetof(plant_meter_t, kind),
     .required = true,
     .names = plant_meter_kind_names},
    {.key = "equipment", .kind = F_STR, .off = offsetof(plant_meter_t, equipment_id)},
    {.key = "device", .kind = F_SKIP, .required = true},
    {.key = "poll_period_ms",
     .kind = F_INT,
     .off = offsetof(plant_meter_t, poll_period_ms),
     .min = 1,
     .max = 86400000},
    {.key = "power_range_kw", .kind = F_SKIP},
    {.key = "registers", .kind = F_SKIP, .required = true},
    {0},
};

static int parse_meter(ctx_t *c, const yaml_node_t *n, size_t idx, void *out)
{
    plant_meter_t *m = out;
    uint64_t seen;
    plant_rd_set_what(c, n, "meter", "meters", idx);
    m->line = ydoc_line(n);
    m->poll_period_ms = 1000;
    m->power_min_kw = -1e9;
    m->power_max_kw = 1e9;
    if (plant_rd_read_fields(c, n, meter_fields, m, &seen) < 0)
        return -1;
    if (!m->name)
        m->name = m->id;
    const yaml_node_t *rn = ydoc_get(c->d, n, "registers");
    if (plant_rd_check_id(c, ydoc_get(c->d, n, "id"), m->id) < 0 ||
        parse_device(c, ydoc_get(c->d, n, "device"), &m->device) < 0 ||
        parse_range(c, ydoc_get(c->d, n, "power_range_kw"), &m->power_min_kw,
                    &m->power_max_kw) < 0 ||
        plant_rd_seq_len(c, rn, "registers", &m->nregisters) < 0)
        return -1;
    if (!m->nregisters)
        return plant_err(c, rn, "registers: at least one register is needed");
    if (!(m->registers = plant_rd_own_array(c, m->nregisters, sizeof *m->registers)))
        return plant_err(c, n, "out of memory");
    for (size_t i = 0; i < m->nregisters; i++)
        if (parse_register(c, plant_rd_seq_item(c, rn, i), &m->registers[i]) < 0)
            return -1;
    return 0;
}

/* ---- equipment ---- */

typedef struct setpoint_in {
    plant_device_t dev;
    plant_register_t reg;
} setpoint_in_t;

static const field_t setpoint_fields[] = {
    DEV_FIELDS(setpoint_in_t, dev.),
    REG_FIELDS(setpoint_in_t, reg.),
    {0},
};

static int parse_setpoint(ctx_t *c, const yaml_node_t *n, plant_equipment_t *e)
{
    uint64_t seen;
    setpoint_in_t in = {.dev = {.port = 502, .unit_id = 1},
                        .reg = {.quantity = PLANT_Q_POWER_KW, .scale = 1}};
    if (!n)
        return 0;
    if (plant_rd_read_fields(c, n, setpoint_fields, &in, &seen) < 0 ||
        finish_register(c, n, &in.reg) < 0)
        return -1;
    if (!*in.dev.host)
        return plant_err(c, n, "setpoint: host must not be empty");
    e->has_setpoint = true;
    e->setpoint_device = in.dev;
    e->setpoint = in.reg;
    return 0;
}

static const field_t storage_fields[] = {
    {.key = "capacity_kwh",
     .kind = F_NUM,
     .off = offsetof(plant_storage_t, capacity_kwh),
     .required = true,
     .min = 1e-3,
     .max = 1e9},
    {.key = "soc_min",
     .kind = F_NUM,
     .off = offsetof(plant_storage_t, soc_min),
     .min = 0,
     .max = 1},
    {.key = "soc_max",
     .kind = F_NUM,
     .off = offsetof(plant_storage_t, soc_max),
     .min = 0,
     .max = 1},
    {.key = "soc_initial",
     .kind = F_NUM,
     .off = offsetof(plant_storage_t, soc_initial),
     .min = 0,
     .max = 1},
    {.key = "charge_efficiency",
     .kind = F_NUM,
     .off = offsetof(plant_storage_t, charge_efficiency),
     .min = 0.01,
     .max = 1},
    {.key = "discharge_efficiency",
     .kind = F_NUM,
     .off = offsetof(plant_storage_t, discharge_efficiency),
     .min = 0.01,
     .max = 1},
    {.key = "standing_loss_per_h",
     .kind = F_NUM,
     .off = offsetof(plant_storage_t, standing_loss_per_h),
     .min = 0,
     .max = 1},
    {.key = "draw_kw",
     .kind = F_NUM,
     .off = offsetof(plant_storage_t, draw_kw),
     .min = 0,
     .max = 1e9},
    {0},
};

static int parse_storage(ctx_t *c, const yaml_node_t *n, plant_storage_t *s)
{
    uint64_t seen;
    *s = (plant_storage_t){.soc_max = 1,
                           .soc_initial = 0.5,
                           .charge_efficiency = 1,
                           .discharge_efficiency = 1};
    if (plant_rd_read_fields(c, n, storage_fields, s, &seen) < 0)
        return -1;
    if (s->soc_min > s->soc_max)
        return plant_err(c, n, "storage: soc_min %g > soc_max %g", s->soc_min,
                         s->soc_max);
    if (!plant_rd_seen_key(storage_fields, seen, "soc_initial"))
        s->soc_initial = (s->soc_min + s->soc_max) / 2;
    if (s->soc_initial < s->soc_min || s->soc_initial > s->soc_max)
        return plant_err(c, n, "storage: soc_initial %g outside [soc_min, soc_max]",
                         s->soc_initial);
    return 0;
}

static const field_t process_fields[] = {
    {.key = "specific_kwh_per_unit",
     .kind = F_NUM,
     .off = offsetof(plant_process_t, specific_kwh_per_unit),
     .required = true,
     .min = 1e-9,
     .max = 1e9},
    {.key = "output_per_day",
     .kind = F_NUM,
     .off = offsetof(plant_process_t, output_per_day),
     .required = true,
     .min = 0,
     .max = 1e12},
    {.key = "output_unit",
     .kind = F_STR,
     .off = offsetof(plant_process_t, output_unit)},
    {0},
};

#define EQ_OFF(f) offsetof(plant_equipment_t, f)
static const field_t equipment_fields[] = {
    {.key = "id", .kind = F_STR, .off = EQ_OFF(id), .required = true},
    {.key = "site", .kind = F_STR, .off = EQ_OFF(site_id), .required = true},
    {.key = "name", .kind = F_STR, .off = EQ_OFF(name)},
    {.key = "kind",
     .kind = F_ENUM,
     .off = EQ_OFF(kind),
     .required = true,
     .names = plant_equipment_kind_names},
    {.key = "meter", .kind = F_STR, .off = EQ_OFF(meter_id)},
    {.key = "control_enabled", .kind = F_BOOL, .off = EQ_OFF(control_enabled)},
    {.key = "setpoint", .kind = F_SKIP},
    {.key = "power_min_kw",
     .kind = F_NUM,
     .off = EQ_OFF(power_min_kw),
     .min = -1e8,
     .max = 1e8},
    {.key = "power_max_kw",
     .kind = F_NUM,
     .off = EQ_OFF(power_max_kw),
     .required = true,
     .min = -1e8,
     .max = 1e8},
    {.key = "ramp_kw_per_slot",
     .kind = F_NUM,
     .off = EQ_OFF(ramp_kw_per_slot),
     .min = 0,
     .max = 1e8},
    {.key = "energy_per_window_kwh",
     .kind = F_NUM,
     .off = EQ_OFF(energy_per_window_kwh),
     .min = 0,
     .max = 1e10},
    {.key = "earliest_start", .kind = F_TOD, .off = EQ_OFF(earliest_start_min)},
    {.key = "deadline", .kind = F_TOD, .off = EQ_OFF(deadline_min)},
    {.key = "min_run_min",
     .kind = F_INT,
     .off = EQ_OFF(min_run_min),
     .min = 0,
     .max = 10080},
    {.key = "min_rest_min",
     .kind = F_INT,
     .off = EQ_OFF(min_rest_min),
     .min = 0,
     .max = 10080},
    {.key = "interruptible", .kind = F_BOOL, .off = EQ_OFF(interruptible)},
    {.key = "max_starts_per_day",
     .kind = F_INT,
     .off = EQ_OFF(max_starts_per_day),
     .min = 0,
     .max = 1440},
    {.key = "startup_cost_eur",
     .kind = F_NUM,
     .off = EQ_OFF(startup_cost_eur),
     .min = 0,
     .max = 1e9},
    {.key = "storage", .kind = F_SKIP},
    {.key = "process", .kind = F_SKIP},
    {0},
};

static int parse_extras(ctx_t *c, const yaml_node_t *n, plant_equipment_t *e)
{
    const yaml_node_t *sn = ydoc_get(c->d, n, "storage");
    const yaml_node_t *pn = ydoc_get(c->d, n, "process");
    uint64_t seen;
    if (e->kind == PLANT_EQ_STORAGE && !sn)
        return plant_err(c, n, "storage: required for kind storage");
    if (e->kind != PLANT_EQ_STORAGE && sn)
        return plant_err(c, sn, "storage: only allowed for kind storage");
    if (e->kind == PLANT_EQ_PROCESS && !pn)
        return plant_err(c, n, "process: required for kind process");
    if (e->kind != PLANT_EQ_PROCESS && pn)
        return plant_err(c, pn, "process: only allowed for kind process");
    if (sn && parse_storage(c, sn, &e->storage) < 0)
        return -1;
    e->has_storage = sn != NULL;
    e->process.output_unit = "unit";
    if (pn && plant_rd_read_fields(c, pn, process_fields, &e->process, &seen) < 0)
        return -1;
    e->has_process = pn != NULL;
    return 0;
}

/* Cross-field checks of one equipment. */
static int check_equipment(ctx_t *c, const yaml_node_t *n, const plant_equipment_t *e)
{
    if (e->power_min_kw > e->power_max_kw)
        return plant_err(c, n, "power_min_kw %g > power_max_kw %g", e->power_min_kw,
                         e->power_max_kw);
    if (e->power_min_kw < 0 && e->kind != PLANT_EQ_STORAGE)
        return plant_err(c, n,
                         "power_min_kw: negative power is only allowed for storage");
    if (e->control_enabled && !e->has_setpoint)
        return plant_err(c, n, "control_enabled: needs a setpoint register");
    if (e->kind == PLANT_EQ_DEFERRABLE && e->energy_per_window_kwh <= 0)
        return plant_err(c, n,
                         "energy_per_window_kwh: must be > 0 for kind deferrable");
    if (e->earliest_start_min >= 0 && e->deadline_min >= 0) {
        int win = e->deadline_min - e->earliest_start_min;
        if (win <= 0)
            win += 1440;
        if (e->energy_per_window_kwh > e->power_max_kw * win / 60.0 + 1e-9)
            return plant_err(
                c, n,
                "energy_per_window_kwh %g cannot be delivered in %d min at "
                "power_max_kw %g",
                e->energy_per_window_kwh, win, e->power_max_kw);
    }
    return 0;
}

static int parse_equipment(ctx_t *c, const yaml_node_t *n, size_t idx, void *out)
{
    plant_equipment_t *e = out;
    uint64_t seen;
    plant_rd_set_what(c, n, "equipment", "equipment", idx);
    e->line = ydoc_line(n);
    e->earliest_start_min = e->deadline_min = -1;
    e->interruptible = true;
    if (plant_rd_read_fields(c, n, equipment_fields, e, &seen) < 0)
        return -1;
    if (!e->name)
        e->name = e->id;
    if (plant_rd_check_id(c, ydoc_get(c->d, n, "id"), e->id) < 0 ||
        parse_setpoint(c, ydoc_get(c->d, n, "setpoint"), e) < 0 ||
        parse_extras(c, n, e) < 0)
        return -1;
    return check_equipment(c, n, e);
}

/* ---- whole model ---- */

/* Parses root[key] as a list of objects of size item, each by fn. */
static int parse_list(ctx_t *c, const yaml_node_t *root, const char *key, void **arr,
                      size_t *n, size_t item,
                      int (*fn)(ctx_t *, const yaml_node_t *, size_t, void *))
{
    const yaml_node_t *ln = ydoc_get(c->d, root, key);
    *c->what = '\0';
    if (plant_rd_seq_len(c, ln, key, n) < 0)
        return -1;
    if (!(*arr = plant_rd_own_array(c, *n, item)))
        return plant_err(c, root, "out of memory");
    for (size_t i = 0; i < *n; i++)
        if (fn(c, plant_rd_seq_item(c, ln, i), i, (char *)*arr + i * item) < 0)
            return -1;
    return 0;
}

static const field_t root_fields[] = {
    {.key = "version", .kind = F_INT, .min = 1, .max = 1},
    {.key = "sites", .kind = F_SKIP, .required = true},
    {.key = "meters", .kind = F_SKIP},
    {.key = "equipment", .kind = F_SKIP},
    {0},
};

static int parse_root(ctx_t *c)
{
    const yaml_node_t *root = ydoc_root(c->d);
    uint64_t seen;
    int version = 1;
    if (!root)
        return plant_err(c, LINE_NODE(c, 1), "empty plant model");
    if (plant_rd_read_fields(c, root, root_fields, &version, &seen) < 0)
        return -1;
    plant_t *p = c->p;
    if (parse_list(c, root, "sites", (void **)&p->sites, &p->nsites, sizeof *p->sites,
                   parse_site) < 0 ||
        parse_list(c, root, "meters", (void **)&p->meters, &p->nmeters,
                   sizeof *p->meters, parse_meter) < 0 ||
        parse_list(c, root, "equipment", (void **)&p->equipment, &p->nequipment,
                   sizeof *p->equipment, parse_equipment) < 0)
        return -1;
    if (!p->nsites)
        return plant_err(c, root, "sites: at least one site is needed");
    return plant_check_refs(c);
}

static plant_t *load(ydoc_t *d, char *errstr, size_t errstr_size)
{
    ctx_t c = {.d = d, .errstr = errstr, .errstr_size = errstr_size};
    if (!(c.p = calloc(1, sizeof *c.p))) {
        snprintf(errstr, errstr_size, "%s: out of memory", d->name);
        return NULL;
    }
    if (parse_root(&c) < 0) {
        plant_destroy(c.p);
        return NULL;
    }
    return c.p;
}

plant_t *plant_load(const char *path, char *errstr, size_t errstr_size)
{
    ydoc_t d;
    if (ydoc_load_file(&d, path, errstr, errstr_size) < 0)
        return NULL;
    plant_t *p = load(&d, errstr, errstr_size);
    ydoc_release(&d);
    return p;
}

plant_t *plant_load_string(const char *name, const char *text, size_t len, char *errstr,
                           size_t errstr_size)
{
    ydoc_t d;
    if (ydoc_load_string(&d, name, text, len, errstr, errstr_size) < 0)
        return NULL;
    plant_t *p = load(&d, errstr, errstr_size);
    ydoc_release(&d);
    return p;
}

void plant_destroy(plant_t *p)
{
    if (!p)
        return;
    owned_release(&p->owned);
    free(p);
}
