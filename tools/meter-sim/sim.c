/*
 * sim: simulated meters (see sim.h).
 */
#include "sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define QH_MS (15 * 60 * 1000LL)

double *sim_normalise(const double *mw, size_t n)
{
    double lo = INFINITY, hi = -INFINITY;
    double *out = malloc((n ? n : 1) * sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        lo = fmin(lo, mw[i]);
        hi = fmax(hi, mw[i]);
    }
    for (size_t i = 0; i < n; i++)
        out[i] = hi > lo ? (mw[i] - lo) / (hi - lo) : 0.5;
    return out;
}

/* Grows a unit's tables to hold [0, need) of a type. */
static int unit_reserve(sim_unit_t *u, plant_regtype_t t, int need)
{
    int *n = t == PLANT_REG_HOLDING ? &u->nholding : &u->ninput;
    uint16_t **w = t == PLANT_REG_HOLDING ? &u->holding : &u->input;
    if (need <= *n)
        return 0;
    uint16_t *p = realloc(*w, (size_t)need * sizeof *p);
    if (!p)
        return -1;
    memset(p + *n, 0, (size_t)(need - *n) * sizeof *p);
    *w = p;
    *n = need;
    u->used = true;
    return 0;
}

static int add_register(sim_t *s, const plant_device_t *d, const plant_register_t *r,
                        char *errstr, size_t n)
{
    if (d->unit_id < 0 || d->unit_id >= SIM_UNITS ||
        unit_reserve(&s->units[d->unit_id], r->reg_type,
                     r->address + plant_dtype_words(r->dtype)) < 0) {
        snprintf(errstr, n, "line %d: cannot map register at %d on unit %d", r->line,
                 r->address, d->unit_id);
        return -1;
    }
    return 0;
}

static void meter_scale(sim_meter_t *sm, size_t i)
{
    const plant_meter_t *m = sm->m;
    double lo = m->power_min_kw, hi = m->power_max_kw;
    if (lo < -1e8 || hi > 1e8) {
        lo = 0;
        hi = 1000;
    }
    if (lo < 0)
        lo = 0;
    sm->lo_kw = lo + 0.05 * (hi - lo);
    sm->hi_kw = lo + 0.90 * (hi - lo);
    sm->shift_ms = (int64_t)(i % 24) * 3600 * 1000LL;
    sm->energy_kwh = 1000.0 * (double)(i + 1);
}

int sim_init(sim_t *s, const plant_t *plant, int port, const double *load, size_t nload,
             int64_t load_t0_ms, char *errstr, size_t errstr_size)
{
    memset(s, 0, sizeof *s);
    s->plant = plant;
    s->port = port;
    s->load = load;
    s->nload = nload;
    s->load_t0_ms = load_t0_ms;
    s->meters = calloc(plant_meter_count(plant) + 1, sizeof *s->meters);
    if (!s->meters)
        return -1;
    for (size_t i = 0; i < plant_meter_count(plant); i++) {
        const plant_meter_t *m = plant_meter_at(plant, i);
        if (m->device.port != port)
            continue;
        for (size_t k = 0; k < m->nregisters; k++)
            if (add_register(s, &m->device, &m->registers[k], errstr, errstr_size) < 0)
                return -1;
        s->meters[s->nmeters].m = m;
        meter_scale(&s->meters[s->nmeters], s->nmeters);
        s->nmeters++;
    }
    for (size_t i = 0; i < plant_equipment_count(plant); i++) {
        const plant_equipment_t *e = plant_equipment_at(plant, i);
        if (e->has_setpoint && e->setpoint_device.port == port &&
            add_register(s, &e->setpoint_device, &e->setpoint, errstr, errstr_size) < 0)
            return -1;
    }
    if (s->nmeters == 0) {
        snprintf(errstr, errstr_size, "no meter of the plant model is on port %d",
                 port);
        return -1;
    }
    for (int u = 0; u < SIM_UNITS; u++)
        if (s->units[u].used && !(s->units[u].coils = calloc(SIM_COILS, 1))) {
            snprintf(errstr, errstr_size, "out of memory for the coils of unit %d", u);
            return -1;
        }
    return 0;
}

void sim_release(sim_t *s)
{
    for (int u = 0; u < SIM_UNITS; u++) {
        free(s->units[u].holding);
        free(s->units[u].input);
        free(s->units[u].coils);
    }
    free(s->meters);
    memset(s, 0, sizeof *s);
}

/* Normalised load at time t (linear between quarter-hours, wrapping). */
static double load_at(const sim_t *s, int64_t t)
{
    if (s->nload == 0)
        return 0.5;
    int64_t span = (int64_t)s->nload * QH_MS;
    int64_t rel = ((t - s->load_t0_ms) % span + span) % span;
    size_t i = (size_t)(rel / QH_MS);
    double f = (double)(rel % QH_MS) / QH_MS;
    return s->load[i] * (1 - f) + s->load[(i + 1) % s->nload] * f;
}

static void meter_values(sim_meter_t *sm, double x, double dt_h, int64_t t)
{
    double p = sm->lo_kw + x * (sm->hi_kw - sm->lo_kw);
    double phase = (double)(t % 600000) / 600000.0 * 2 * M_PI;
    double pf = 0.85 + 0.13 * x;
    double volt = 230.0 * (1 + 0.02 * sin(phase));
    if (dt_h > 0 && p > 0)
        sm->energy_kwh += p * dt_h;
    sm->v[PLANT_Q_POWER_KW] = p;
    sm->v[PLANT_Q_ENERGY_KWH] = sm->energy_kwh;
    sm->v[PLANT_Q_VOLTAGE_V] = volt;
    sm->v[PLANT_Q_CURRENT_A] = p * 1000.0 / (3 * volt * pf);
    sm->v[PLANT_Q_FREQUENCY_HZ] = 50.0 + 0.05 * sin(phase * 3);
    sm->v[PLANT_Q_POWER_FACTOR] = pf;
}

static uint16_t *reg_words(sim_t *s, const plant_meter_t *m, const plant_register_t *r)
{
    sim_unit_t *u = &s->units[m->device.unit_id];
    return r->reg_type == PLANT_REG_HOLDING ? &u->holding[r->address]
                                            : &u->input[r->address];
}

void sim_update(sim_t *s, int64_t t_ms)
{
    double dt_h = s->has_last ? (double)(t_ms - s->last_ms) / 3600000.0 : 0;
    for (size_t i = 0; i < s->nmeters; i++) {
        sim_meter_t *sm = &s->meters[i];
        const plant_meter_t *m = sm->m;
        sim_unit_t *u = &s->units[m->device.unit_id];
        meter_values(sm, load_at(s, t_ms + sm->shift_ms), dt_h, t_ms);
        if (u->fault == SIM_FAULT_FREEZE)
            continue;
        for (size_t k = 0; k < m->nregisters; k++) {
            const plant_register_t *r = &m->registers[k];
            double v = sm->v[r->quantity];
            if (u->fault == SIM_FAULT_RANGE && r->quantity == PLANT_Q_POWER_KW)
                v = 10 * fabs(m->power_max_kw) + 1000;
            plant_register_encode(r, v, reg_words(s, m, r));
        }
    }
    s->last_ms = t_ms;
    s->has_last = true;
}

int sim_dump(const sim_t *s, FILE *out)
{
    for (size_t i = 0; i < s->nmeters; i++) {
        const plant_meter_t *m = s->meters[i].m;
        for (size_t k = 0; k < m->nregisters; k++) {
            const plant_register_t *r = &m->registers[k];
            const sim_unit_t *u = &s->units[m->device.unit_id];
            const uint16_t *w = r->reg_type == PLANT_REG_HOLDING
                                    ? &u->holding[r->address]
                                    : &u->input[r->address];
            fprintf(out, "%s %s %.17g\n", m->id, plant_quantity_name(r->quantity),
                    plant_register_decode(r, w));
        }
    }
    return ferror(out) ? -1 : 0;
}

/* True when every register of m is of type t inside [address, address+count). */
static bool meter_inside(const plant_meter_t *m, plant_regtype_t t, int address,
                         int count)
{
    for (size_t k = 0; k < m->nregisters; k++) {
        const plant_register_t *r = &m->registers[k];
        if (r->reg_type != t || r->address < address ||
            r->address + plant_dtype_words(r->dtype) > address + count)
            return false;
    }
    return m->nregisters > 0;
}

static double served_value(const sim_unit_t *u, const plant_meter_t *m,
                           plant_quantity_t q)
{
    const plant_register_t *r = plant_meter_register(m, q);
    if (!r)
        return NAN;
    return plant_register_decode(r, r->reg_type == PLANT_REG_HOLDING
                                        ? &u->holding[r->address]
                                        : &u->input[r->address]);
}

int sim_log_served(const sim_t *s, int unit, plant_regtype_t t, int address, int count,
                   FILE *out)
{
    int n = 0;
    if (unit < 0 || unit >= SIM_UNITS)
        return 0;
    const sim_unit_t *u = &s->units[unit];
    for (size_t i = 0; i < s->nmeters; i++) {
        const plant_meter_t *m = s->meters[i].m;
        if (m->device.unit_id != unit || !meter_inside(m, t, address, count))
            continue;
        fprintf(out, "%s %.17g %.17g\n", m->id, served_value(u, m, PLANT_Q_POWER_KW),
                served_value(u, m, PLANT_Q_ENERGY_KWH));
        n++;
    }
    return n;
}

static int parse_fault(const char *word, const char *arg, sim_unit_t *tmpl)
{
    static const char *const names[] = {"ok", "silent", "exception", "freeze", "range"};
    for (int f = 0; f < 5; f++) {
        if (strcmp(word, names[f]) == 0) {
            tmpl->fault = (sim_fault_t)f;
            tmpl->exception_code = arg ? atoi(arg) : 4;
            if (tmpl->exception_code < 1 || tmpl->exception_code > 11)
                tmpl->exception_code = 4;
            return 0;
        }
    }
    return -1;
}

/* Applies one non-empty line. */
static int fault_line(sim_t *s, char *line, bool *drop, int lineno, char *errstr,
                      size_t n)
{
    char *save = NULL, *who = strtok_r(line, " \t", &save);
    char *what = strtok_r(NULL, " \t", &save), *arg = strtok_r(NULL, " \t", &save);
    sim_unit_t t = {0};
    if (strcmp(who, "drop") == 0) {
        *drop = true;
        return 0;
    }
    if (!what || parse_fault(what, arg, &t) < 0) {
        snprintf(errstr, n,
                 "line %d: expected '<unit|all> ok|silent|exception [code]|"
                 "freeze|range'",
                 lineno);
        return -1;
    }
    for (int u = 0; u < SIM_UNITS; u++) {
        if (strcmp(who, "all") == 0 || atoi(who) == u) {
            s->units[u].fault = t.fault;
            s->units[u].exception_code = t.exception_code;
        }
    }
    return 0;
}

int sim_apply_faults(sim_t *s, const char *text, bool *drop, char *errstr,
                     size_t errstr_size)
{
    char *copy = strdup(text ? text : "");
    int lineno = 0, rc = 0;
    if (!copy)
        return -1;
    *drop = false;
    for (int u = 0; u < SIM_UNITS; u++)
        s->units[u].fault = SIM_FAULT_NONE;
    for (char *l = copy, *next; l; l = next) {
        next = strchr(l, '\n');
        if (next)
            *next++ = '\0';
        char *hash = strchr(l, '#');
        lineno++;
        if (hash)
            *hash = '\0';
        if (strspn(l, " \t\r") == strlen(l))
            continue;
        if ((rc = fault_line(s, l, drop, lineno, errstr, errstr_size)) < 0)
            break;
    }
    free(copy);
    return rc;
}
