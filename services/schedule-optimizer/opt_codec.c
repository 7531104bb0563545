/*
 * opt_codec: Avro in and out of the optimizer (see opt_codec.h).
 */
#include "schedule-optimizer/opt_codec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define EPS_KW 1e-6

/* ---- reading ---- */

static int field(avro_value_t *v, const char *name, avro_value_t *out, char *reason,
                 size_t rsz)
{
    if (avro_value_get_by_name(v, name, out, NULL) == 0)
        return 0;
    snprintf(reason, rsz, "field '%s' missing", name);
    return -1;
}

/* A union's non-null branch, or NULL status (returns 1 for null). */
static int branch(avro_value_t *f, avro_value_t *out)
{
    if (avro_value_get_type(f) != AVRO_UNION) {
        *out = *f;
        return avro_value_get_type(out) == AVRO_NULL;
    }
    if (avro_value_get_current_branch(f, out))
        return 1;
    return avro_value_get_type(out) == AVRO_NULL;
}

static int get_str(avro_value_t *v, const char *name, char *dst, size_t dsz,
                   char *reason, size_t rsz)
{
    avro_value_t f, b;
    const char *s = NULL;
    size_t len = 0;

    dst[0] = 0;
    if (field(v, name, &f, reason, rsz))
        return -1;
    if (branch(&f, &b) == 1)
        return 0; /* null: empty */
    if (avro_value_get_string(&b, &s, &len)) {
        snprintf(reason, rsz, "field '%s' is not a string", name);
        return -1;
    }
    snprintf(dst, dsz, "%s", s ? s : "");
    return 0;
}

static int get_long(avro_value_t *v, const char *name, int64_t *out, char *reason,
                    size_t rsz)
{
    avro_value_t f;
    int32_t i;

    if (field(v, name, &f, reason, rsz))
        return -1;
    if (avro_value_get_long(&f, out) == 0)
        return 0;
    if (avro_value_get_int(&f, &i) == 0) {
        *out = i;
        return 0;
    }
    snprintf(reason, rsz, "field '%s' is not a number", name);
    return -1;
}

static int get_int(avro_value_t *v, const char *name, int *out, char *reason,
                   size_t rsz)
{
    int64_t x;

    if (get_long(v, name, &x, reason, rsz))
        return -1;
    *out = (int)x;
    return 0;
}

/* A double, or NAN when the (optional) field is null. */
static int get_double(avro_value_t *v, const char *name, double *out, char *reason,
                      size_t rsz)
{
    avro_value_t f, b;

    if (field(v, name, &f, reason, rsz))
        return -1;
    if (branch(&f, &b) == 1) {
        *out = NAN;
        return 0;
    }
    if (avro_value_get_double(&b, out)) {
        snprintf(reason, rsz, "field '%s' is not a double", name);
        return -1;
    }
    return 0;
}

static int get_slots(avro_value_t *v, avro_value_t *arr, size_t *n, char *reason,
                     size_t rsz)
{
    if (field(v, "slots", arr, reason, rsz) || avro_value_get_size(arr, n)) {
        snprintf(reason, rsz, "field 'slots' missing or not an array");
        return -1;
    }
    if (*n > 100000) {
        snprintf(reason, rsz, "%zu slots is more than the optimizer accepts", *n);
        return -1;
    }
    return 0;
}

int opt_codec_forecast(avro_value_t *v, opt_forecast_t *f, char *reason,
                       size_t reason_size)
{
    avro_value_t arr, s;
    size_t n;

    opt_forecast_release(f);
    memset(f, 0, sizeof *f);
    if (get_str(v, "site_id", f->site_id, sizeof f->site_id, reason, reason_size) ||
        get_str(v, "run_id", f->run_id, sizeof f->run_id, reason, reason_size) ||
        get_long(v, "issued_at", &f->issued_ms, reason, reason_size) ||
        get_long(v, "horizon_start", &f->start_ms, reason, reason_size) ||
        get_long(v, "horizon_end", &f->end_ms, reason, reason_size) ||
        get_int(v, "slot_minutes", &f->slot_min, reason, reason_size) ||
        get_slots(v, &arr, &n, reason, reason_size))
        return -1;
    if (opt_forecast_alloc(f, (int)n)) {
        snprintf(reason, reason_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (avro_value_get_by_index(&arr, i, &s, NULL) ||
            get_long(&s, "slot_start", &f->slot_ms[i], reason, reason_size) ||
            get_double(&s, "p10_kw", &f->p10[i], reason, reason_size) ||
            get_double(&s, "p50_kw", &f->p50[i], reason, reason_size) ||
            get_double(&s, "p90_kw", &f->p90[i], reason, reason_size))
            return -1;
    return 0;
}

int opt_codec_prices(avro_value_t *v, opt_prices_t *p, char *reason, size_t reason_size)
{
    avro_value_t arr, s, k;
    size_t n;
    int kind = 0;

    reason[0] = 0;
    opt_prices_release(p);
    memset(p, 0, sizeof *p);
    if (get_str(v, "curve_id", p->curve_id, sizeof p->curve_id, reason, reason_size) ||
        field(v, "curve_kind", &k, reason, reason_size) ||
        avro_value_get_enum(&k, &kind) ||
        get_str(v, "market", p->market, sizeof p->market, reason, reason_size) ||
        get_str(v, "site_id", p->site_id, sizeof p->site_id, reason, reason_size) ||
        get_long(v, "issued_at", &p->issued_ms, reason, reason_size) ||
        get_long(v, "delivery_start", &p->start_ms, reason, reason_size) ||
        get_long(v, "delivery_end", &p->end_ms, reason, reason_size) ||
        get_int(v, "slot_minutes", &p->slot_min, reason, reason_size) ||
        get_int(v, "revision", &p->revision, reason, reason_size) ||
        get_slots(v, &arr, &n, reason, reason_size)) {
        if (!reason[0])
            snprintf(reason, reason_size, "field 'curve_kind' is not an enum");
        return -1;
    }
    p->kind = kind == 1 ? OPT_CURVE_EFFECTIVE : OPT_CURVE_MARKET;
    if (opt_prices_alloc(p, (int)n)) {
        snprintf(reason, reason_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (avro_value_get_by_index(&arr, i, &s, NULL) ||
            get_long(&s, "slot_start", &p->slot_ms[i], reason, reason_size) ||
            get_double(&s, "price_eur_mwh", &p->price[i], reason, reason_size) ||
            get_double(&s, "co2_g_kwh", &p->co2_g_kwh[i], reason, reason_size))
            return -1;
    return 0;
}

int opt_codec_load(avro_value_t *v, opt_load_t *l, char *reason, size_t reason_size)
{
    avro_value_t k;
    int scope = 0;

    memset(l, 0, sizeof *l);
    reason[0] = 0;
    if (get_str(v, "site_id", l->site_id, sizeof l->site_id, reason, reason_size) ||
        field(v, "scope", &k, reason, reason_size) || avro_value_get_enum(&k, &scope) ||
        get_long(v, "interval_start", &l->start_ms, reason, reason_size) ||
        get_long(v, "interval_end", &l->end_ms, reason, reason_size) ||
        get_double(v, "mean_kw", &l->mean_kw, reason, reason_size) ||
        get_int(v, "revision", &l->revision, reason, reason_size)) {
        if (!reason[0])
            snprintf(reason, reason_size, "field 'scope' is not an enum");
        return -1;
    }
    l->site_scope = scope == 1; /* LoadScope: meter, site */
    return 0;
}

int opt_codec_request(avro_value_t *v, opt_request_t *q, char *reason,
                      size_t reason_size)
{
    memset(q, 0, sizeof *q);
    if (get_str(v, "request_id", q->request_id, sizeof q->request_id, reason,
                reason_size) ||
        get_str(v, "site_id", q->site_id, sizeof q->site_id, reason, reason_size) ||
        get_long(v, "requested_at", &q->requested_ms, reason, reason_size) ||
        get_str(v, "requested_by", q->requested_by, sizeof q->requested_by, reason,
                reason_size) ||
        get_str(v, "reason", q->reason, sizeof q->reason, reason, reason_size))
        return -1;
    if (!q->request_id[0] || !q->site_id[0]) {
        snprintf(reason, reason_size, "request without %s",
                 q->request_id[0] ? "site_id" : "request_id");
        return -1;
    }
    return 0;
}

int opt_request_check(const opt_request_t *q, int64_t now_ms, char *reason,
                      size_t reason_size)
{
    if (q->requested_ms > now_ms + OPT_REQUEST_MAX_AHEAD_MS) {
        snprintf(reason, reason_size, "requested_at %llu s ahead of the clock",
                 ((unsigned long long)q->requested_ms - (unsigned long long)now_ms) /
                     1000);
        return -1;
    }
    return 0;
}

/* ---- writing ---- */

typedef struct wr {
    int bad;
    const char *what;
} wr_t;

static avro_value_t fld(wr_t *w, avro_value_t *v, const char *name)
{
    avro_value_t f = {0};

    if (avro_value_get_by_name(v, name, &f, NULL) && !w->bad) {
        w->bad = 1;
        w->what = name;
    }
    return f;
}

static void set_str(wr_t *w, avro_value_t *v, const char *name, const char *s)
{
    avro_value_t f = fld(w, v, name), b;

    if (w->bad)
        return;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        if (!s) {
            w->bad |= avro_value_set_branch(&f, 0, &b) || avro_value_set_null(&b);
            return;
        }
        if (avro_value_set_branch(&f, 1, &b)) {
            w->bad = 1;
            return;
        }
        f = b;
    }
    w->bad |= avro_value_set_string(&f, s ? s : "") != 0;
}

static void set_dbl(wr_t *w, avro_value_t *v, const char *name, double x)
{
    avro_value_t f = fld(w, v, name), b;

    if (w->bad)
        return;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        if (isnan(x)) {
            w->bad |= avro_value_set_branch(&f, 0, &b) || avro_value_set_null(&b);
            return;
        }
        if (avro_value_set_branch(&f, 1, &b)) {
            w->bad = 1;
            return;
        }
        f = b;
    }
    w->bad |= avro_value_set_double(&f, x) != 0;
}

static void set_long(wr_t *w, avro_value_t *v, const char *name, int64_t x)
{
    avro_value_t f = fld(w, v, name);

    if (!w->bad)
        w->bad |= avro_value_set_long(&f, x) != 0;
}

static void set_int(wr_t *w, avro_value_t *v, const char *name, int x)
{
    avro_value_t f = fld(w, v, name);

    if (!w->bad)
        w->bad |= avro_value_set_int(&f, x) != 0;
}

static void set_bool(wr_t *w, avro_value_t *v, const char *name, int x)
{
    avro_value_t f = fld(w, v, name);

    if (!w->bad)
        w->bad |= avro_value_set_boolean(&f, x) != 0;
}

static void set_enum(wr_t *w, avro_value_t *v, const char *name, const char *symbol)
{
    avro_value_t f = fld(w, v, name);
    avro_schema_t sc;
    int i;

    if (w->bad)
        return;
    sc = avro_value_get_schema(&f);
    i = avro_schema_enum_get_by_name(sc, symbol);
    w->bad |= i < 0 || avro_value_set_enum(&f, i) != 0;
}

const char *opt_codec_status(const opt_result_t *r)
{
    switch (r->status) {
    case OPT_OPTIMAL:
        return "optimal";
    case OPT_FEASIBLE:
        return "time_limit";
    case OPT_HEURISTIC:
        return "heuristic";
    case OPT_INFEASIBLE:
        return r->source ? "relaxed" : NULL;
    default:
        return NULL;
    }
}

int opt_codec_heuristic(const opt_result_t *r)
{
    return r->status == OPT_HEURISTIC || (r->status == OPT_INFEASIBLE && r->source &&
                                          !strcmp(r->source, "elastic-rounded"));
}

static const char *eq_state(const opt_build_t *b, const opt_result_t *r, int pi,
                            size_t k, double kw)
{
    opt_map_t m = b->plant_map[pi];

    if (m == OPT_MAP_STORAGE)
        return r->plan.charge[k] > EPS_KW      ? "charging"
               : r->plan.discharge[k] > EPS_KW ? "discharging"
                                               : "idle";
    return kw > EPS_KW ? "on" : "off";
}

/* One plant equipment: the sum of its tasks per slot. */
static void put_equipment(wr_t *w, avro_value_t *arr, const opt_build_t *b,
                          const opt_result_t *r, int pi)
{
    const opt_problem_t *pb = &b->pb;
    int T = pb->site.n_slots, starts = 0, prev_on = 0;
    double energy = 0, cost = 0;
    avro_value_t e, slots, s;

    w->bad |= avro_value_append(arr, &e, NULL) != 0;
    if (w->bad)
        return;
    set_str(w, &e, "equipment_id", b->plant_eq[pi]->id);
    slots = fld(w, &e, "slots");
    for (int t = 0; t < T && !w->bad; t++) {
        double kw = 0, soc = NAN, startup = 0;
        size_t k0 = 0;
        for (int q = 0; q < pb->n_eq; q++)
            if (b->eq_plant[q] == pi) {
                size_t k = (size_t)q * T + t;
                kw += r->plan.power[k];
                soc = pb->eq[q].kind == OPT_STORAGE ? r->plan.soc[k] : NAN;
                startup = pb->eq[q].startup_eur;
                k0 = k;
            }
        const char *st = eq_state(b, r, pi, k0, kw);
        int on = kw > EPS_KW;
        starts += on && !prev_on && b->plant_map[pi] != OPT_MAP_STORAGE;
        cost += (on && !prev_on && b->plant_map[pi] != OPT_MAP_STORAGE) ? startup : 0;
        prev_on = on;
        energy += kw * pb->site.slot_h;
        cost += kw * pb->site.slot_h / 1000.0 * opt_slot_price(&pb->site, t);
        w->bad |= avro_value_append(&slots, &s, NULL) != 0;
        if (w->bad)
            break;
        set_long(w, &s, "slot_start", b->start_ms + t * b->slot_ms);
        set_dbl(w, &s, "power_kw", kw);
        set_enum(w, &s, "state", st);
        set_dbl(w, &s, "soc_kwh", soc);
    }
    set_dbl(w, &e, "energy_kwh", energy);
    set_dbl(w, &e, "cost_eur", cost);
    set_int(w, &e, "starts", starts);
}

static void put_site(wr_t *w, avro_value_t *v, const opt_build_t *b,
                     const opt_result_t *r)
{
    const opt_site_t *s = &b->pb.site;
    avro_value_t arr = fld(w, v, "site_slots"), e;

    for (int t = 0; t < s->n_slots && !w->bad; t++) {
        double g = opt_site_load(&b->pb, &r->plan, t);
        w->bad |= avro_value_append(&arr, &e, NULL) != 0;
        if (w->bad)
            break;
        set_long(w, &e, "slot_start", b->start_ms + t * b->slot_ms);
        set_dbl(w, &e, "base_load_kw", s->base_kw[t]);
        set_dbl(w, &e, "flexible_kw", g - s->base_kw[t]);
        set_dbl(w, &e, "import_kw", g);
        set_dbl(w, &e, "price_eur_mwh", s->price[t]);
    }
}

static void put_lists(wr_t *w, avro_value_t *v, const opt_result_t *r)
{
    avro_value_t arr = fld(w, v, "binding_constraints"), e;
    char name[128];
    const char *unit;
    double viol;

    for (int i = 0; i < r->binding.n && !w->bad; i++) {
        w->bad |= avro_value_append(&arr, &e, NULL) != 0;
        if (!w->bad)
            w->bad |= avro_value_set_string(&e, r->binding.v[i]) != 0;
    }
    arr = fld(w, v, "relaxed_constraints");
    for (int i = 0; r->status == OPT_INFEASIBLE && i < r->explain.n && !w->bad; i++) {
        w->bad |= avro_value_append(&arr, &e, NULL) != 0;
        if (w->bad)
            break;
        opt_codec_relaxed(r->explain.v[i], name, sizeof name, &viol, &unit);
        set_str(w, &e, "constraint", name);
        set_dbl(w, &e, "violation", viol);
        set_str(w, &e, "unit", unit);
        set_str(w, &e, "explanation", r->explain.v[i]);
    }
}

int opt_codec_request_value(avro_value_t *v, const opt_request_t *q, char *reason,
                            size_t reason_size)
{
    wr_t w = {0};

    set_str(&w, v, "request_id", q->request_id);
    set_str(&w, v, "site_id", q->site_id);
    set_long(&w, v, "requested_at", q->requested_ms);
    set_str(&w, v, "requested_by", q->requested_by);
    set_str(&w, v, "reason", q->reason[0] ? q->reason : NULL);
    if (w.bad) {
        snprintf(reason, reason_size,
                 "energy.schedule.requests does not take field '%s'",
                 w.what ? w.what : "(a value)");
        return -1;
    }
    return 0;
}

void opt_codec_costs(const opt_build_t *b, const opt_result_t *r, opt_pub_cost_t *out)
{
    const opt_site_t *s = &b->pb.site;
    double floor_eur =
        s->demand_eur_kw * (opt_period_floor(s, 0) +
                            (s->next_period_slot > 0 ? opt_period_floor(s, 1) : 0));

    memset(out, 0, sizeof *out);
    for (int t = 0; t < s->n_slots; t++) {
        double g = opt_site_load(&b->pb, &r->plan, t);
        if (t == 0 || g > out->peak_kw)
            out->peak_kw = g;
    }
    out->floor_kw = s->peak_so_far_kw;
    if (s->next_period_slot > 0) {
        out->next_period_ms = b->start_ms + s->next_period_slot * b->slot_ms;
        out->next_floor_kw = opt_period_floor(s, 1);
    }
    out->energy_eur = r->cost.energy_eur;
    out->startup_eur = r->cost.startup_eur;
    out->co2_eur = r->cost.co2_eur;
    out->demand_eur = r->cost.demand_eur - floor_eur;
    out->total_eur = r->cost.total_eur - floor_eur;
    out->baseline_eur = r->baseline_cost.total_eur - floor_eur;
    out->savings_eur = out->baseline_eur - out->total_eur;
}

int opt_codec_schedule(avro_value_t *v, const opt_build_t *b, const opt_result_t *r,
                       const opt_plan_meta_t *meta, char *reason, size_t reason_size)
{
    static const char *trig[] = {"forecast", "prices", "on_demand", "periodic"};
    const char *status = opt_codec_status(r);
    avro_value_t eqs;
    opt_pub_cost_t c;
    wr_t w = {0};

    if (!status) {
        snprintf(reason, reason_size, "no plan to publish (status %s)",
                 opt_status_name(r->status));
        return -1;
    }
    set_str(&w, v, "site_id", meta->site_id);
    set_str(&w, v, "plan_id", meta->plan_id);
    set_enum(&w, v, "trigger", trig[meta->trigger & 3]);
    set_str(&w, v, "forecast_run_id", meta->forecast_run_id);
    set_str(&w, v, "price_curve_id", meta->price_curve_id);
    set_long(&w, v, "created_at", meta->created_ms);
    set_long(&w, v, "horizon_start", b->start_ms);
    set_long(&w, v, "horizon_end", b->end_ms);
    set_int(&w, v, "slot_minutes", (int)(b->slot_ms / 60000));
    set_enum(&w, v, "solver_status", status);
    set_bool(&w, v, "heuristic", opt_codec_heuristic(r));
    set_dbl(&w, v, "mip_gap",
            r->status == OPT_OPTIMAL    ? 0
            : r->status == OPT_FEASIBLE ? r->gap
                                        : NAN);
    set_long(&w, v, "solve_time_ms", (int64_t)llround(r->solve_s * 1000));
    opt_codec_costs(b, r, &c);
    set_dbl(&w, v, "total_cost_eur", c.total_eur);
    set_dbl(&w, v, "energy_cost_eur", c.energy_eur);
    set_dbl(&w, v, "demand_charge_eur", c.demand_eur);
    set_dbl(&w, v, "startup_cost_eur", c.startup_eur);
    set_dbl(&w, v, "co2_cost_eur", c.co2_eur);
    set_dbl(&w, v, "baseline_cost_eur", c.baseline_eur);
    set_dbl(&w, v, "savings_eur", c.savings_eur);
    set_dbl(&w, v, "peak_kw", c.peak_kw);
    eqs = fld(&w, v, "equipment");
    for (int pi = 0; pi < b->n_plant && !w.bad; pi++)
        put_equipment(&w, &eqs, b, r, pi);
    put_site(&w, v, b, r);
    put_lists(&w, v, r);
    if (w.bad) {
        snprintf(reason, reason_size, "energy.schedule does not take field '%s'",
                 w.what ? w.what : "(a value)");
        return -1;
    }
    return 0;
}

void opt_codec_relaxed(const char *line, char *name, size_t name_size,
                       double *violation, const char **unit)
{
    char who[64];
    int a, b2, c, d, e;
    double x, y;

    *violation = 0;
    *unit = "";
    if (sscanf(line,
               "task %63s cannot meet its deadline: it needs %d slots at %lf kW but "
               "its window [%d, %d) has %d",
               who, &a, &x, &b2, &c, &d) == 6) {
        snprintf(name, name_size, "%s deadline", who);
        *violation = a - d, *unit = "slots";
    } else if (sscanf(line,
                      "task %63s cannot meet its deadline within capacity %lf kW: "
                      "%lf of its %lf kWh",
                      who, &x, &y, &x) == 4) {
        snprintf(name, name_size, "%s deadline", who);
        *violation = y, *unit = "kWh";
    } else if (sscanf(line,
                      "task %63s cannot meet its deadline within capacity %lf kW: it "
                      "needs %d slots",
                      who, &x, &a) == 3) {
        snprintf(name, name_size, "%s deadline", who);
        *violation = a, *unit = "slots";
    } else if (sscanf(line, "storage %63s ends %lf kWh", who, &y) == 2) {
        snprintf(name, name_size, "%s final state of charge", who);
        *violation = y, *unit = "kWh";
    } else if (sscanf(line,
                      "process %63s falls %lf units short of its minimum output in "
                      "shift %d (slots %d-%d)",
                      who, &y, &a, &e, &e) >= 3) {
        snprintf(name, name_size, "%s output in shift %d", who, a);
        *violation = y, *unit = "units";
    } else if (sscanf(line, "import capacity %lf kW must be exceeded by up to %lf kW",
                      &x, &y) == 2) {
        snprintf(name, name_size, "site import capacity");
        *violation = y, *unit = "kW";
    } else {
        snprintf(name, name_size, "%.*s", 40, line);
    }
}
