/* Unit tests of libs/plant: loading, validation, look-ups, tariffs, codec. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plant/plant.h"
#include "support/harness.h"

#ifndef DEMO_PLANT
#define DEMO_PLANT "tools/stack/plant.yaml"
#endif

static char errstr[512];

/* Line numbers in the bad cases below refer to this model. */
static const char base_model[] =
    "sites:\n"                                                         /* 1 */
    "  - id: s1\n"                                                     /* 2 */
    "    timezone: Europe/Amsterdam\n"                                 /* 3 */
    "    market: NL\n"                                                 /* 4 */
    "    contracted_import_kw: 1000\n"                                 /* 5 */
    "meters:\n"                                                        /* 6 */
    "  - id: m1\n"                                                     /* 7 */
    "    site: s1\n"                                                   /* 8 */
    "    kind: main\n"                                                 /* 9 */
    "    device: {host: 127.0.0.1, port: 15020, unit_id: 1}\n"         /* 10 */
    "    poll_period_ms: 1000\n"                                       /* 11 */
    "    registers:\n"                                                 /* 12 */
    "      - {quantity: power_kw, address: 0, data_type: float32}\n"   /* 13 */
    "      - {quantity: energy_kwh, address: 2, data_type: float32}\n" /* 14 */
    "equipment:\n"                                                     /* 15 */
    "  - id: e1\n"                                                     /* 16 */
    "    site: s1\n"                                                   /* 17 */
    "    kind: generic\n"                                              /* 18 */
    "    power_min_kw: 0\n"                                            /* 19 */
    "    power_max_kw: 100\n";                                         /* 20 */

/* base_model with the first occurrence of from replaced by to (or to
 * appended when from is NULL); the caller frees. */
static char *variant(const char *from, const char *to)
{
    size_t n = strlen(base_model) + strlen(to) + 1;
    char *out = malloc(n);
    ck_assert_ptr_nonnull(out);
    if (!from) {
        snprintf(out, n, "%s%s", base_model, to);
        return out;
    }
    const char *at = strstr(base_model, from);
    ck_assert_msg(at != NULL, "test bug: '%s' not in the base model", from);
    snprintf(out, n, "%.*s%s%s", (int)(at - base_model), base_model, to,
             at + strlen(from));
    return out;
}

START_TEST(base_model_loads)
{
    plant_t *p = plant_load_string("p.yaml", base_model, strlen(base_model), errstr,
                                   sizeof errstr);
    ck_assert_msg(p != NULL, "%s", errstr);
    const plant_meter_t *m = plant_meter(p, "m1");
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->registers[0].reg_type, PLANT_REG_HOLDING);
    ck_assert_str_eq(m->registers[0].unit, "kW");
    ck_assert_double_eq(m->registers[0].scale, 1);
    ck_assert_int_eq(m->registers[0].line, 13);
    const plant_equipment_t *e = plant_equipment(p, "e1");
    ck_assert(e->interruptible);
    ck_assert_int_eq(e->earliest_start_min, -1);
    ck_assert(!plant_site(p, "s1")->has_export_limit);
    plant_destroy(p);
}
END_TEST

static const struct bad_case {
    const char *from, *to; /* edit of base_model; from NULL appends to */
    const char *err;
} bad_cases[] = {
    {"    site: s1\n    kind: main", "    site: s9\n    kind: main",
     "p.yaml:7: meter m1: site: unknown site 's9'"},
    {"    site: s1\n    kind: generic", "    site: nowhere\n    kind: generic",
     "p.yaml:16: equipment e1: site: unknown site 'nowhere'"},
    {NULL, "  - {id: e1, site: s1, kind: generic, power_max_kw: 5}\n",
     "p.yaml:21: duplicate equipment id 'e1' (first at line 16)"},
    {"equipment:\n",
     "  - id: m1\n    site: s1\n    kind: sub\n    device: {host: h}\n"
     "    registers: [{quantity: power_kw, address: 0, data_type: int16}]\n"
     "equipment:\n",
     "p.yaml:15: duplicate meter id 'm1' (first at line 7)"},
    {"power_min_kw: 0", "power_min_kw: 200",
     "p.yaml:16: equipment e1: power_min_kw 200 > power_max_kw 100"},
    {"address: 2, data_type: float32", "address: 1, data_type: float32",
     "p.yaml:14: meter m1: register energy_kwh at 1 overlaps power_kw of meter m1 "
     "(line 13) on 127.0.0.1:15020 unit 1"},
    {"equipment:\n",
     "  - id: m2\n    site: s1\n    kind: sub\n"
     "    device: {host: 127.0.0.1, port: 15020, unit_id: 1}\n"
     "    registers: [{quantity: power_kw, address: 3, data_type: uint16}]\n"
     "equipment:\n",
     "p.yaml:19: meter m2: register power_kw at 3 overlaps energy_kwh of meter m1 "
     "(line 14) on 127.0.0.1:15020 unit 1"},
    {"data_type: float32}\n      - {quantity: energy",
     "data_type: float16}\n      - {quantity: energy",
     "p.yaml:13: meter m1: data_type: unknown value 'float16' (expected "
     "int16|uint16|int32|uint32|float32|float64|uint64)"},
    {"poll_period_ms: 1000", "poll_period_ms: 0",
     "p.yaml:11: meter m1: poll_period_ms: value 0 out of range [1, 8.64e+07]"},
    {"    device: {host: 127.0.0.1, port: 15020, unit_id: 1}\n", "",
     "p.yaml:7: meter m1: missing required key 'device'"},
    {"{host: 127.0.0.1, port: 15020, unit_id: 1}", "{port: 15020, unit_id: 1}",
     "p.yaml:10: meter m1: missing required key 'host'"},
    {"Europe/Amsterdam", "Europe/Atlantis",
     "p.yaml:3: site s1: timezone: unknown time zone 'Europe/Atlantis' (not in the tz "
     "database)"},
    {"Europe/Amsterdam", "../../etc/passwd",
     "p.yaml:3: site s1: timezone: unknown time zone '../../etc/passwd' (not in the tz "
     "database)"},
    {"    market: NL\n", "    market: NL\n    colour: blue\n",
     "p.yaml:5: site s1: unknown key 'colour'"},
    {"contracted_import_kw: 1000", "contracted_import_kw: -5",
     "p.yaml:5: site s1: contracted_import_kw: value -5 out of range [0.001, 1e+08]"},
    {"kind: generic", "kind: robot",
     "p.yaml:18: equipment e1: kind: unknown value 'robot' (expected "
     "deferrable|process|storage|generic)"},
    {"kind: generic", "kind: storage",
     "p.yaml:16: equipment e1: storage: required for kind storage"},
    {"power_max_kw: 100", "power_max_kw: 100\n    storage: {capacity_kwh: 10}",
     "p.yaml:21: equipment e1: storage: only allowed for kind storage"},
    {"kind: generic",
     "kind: storage\n    storage: {capacity_kwh: 10, soc_min: 0.9, "
     "soc_max: 0.2}",
     "p.yaml:19: equipment e1: storage: soc_min 0.9 > soc_max 0.2"},
    {"power_min_kw: 0", "power_min_kw: -10",
     "p.yaml:16: equipment e1: power_min_kw: negative power is only allowed for "
     "storage"},
    {"power_max_kw: 100", "power_max_kw: 100\n    control_enabled: true",
     "p.yaml:16: equipment e1: control_enabled: needs a setpoint register"},
    {"kind: generic",
     "kind: deferrable\n    energy_per_window_kwh: 500\n"
     "    earliest_start: \"22:00\"\n    deadline: \"02:00\"",
     "p.yaml:16: equipment e1: energy_per_window_kwh 500 cannot be delivered in 240 "
     "min at power_max_kw 100"},
    {"kind: generic", "kind: deferrable",
     "p.yaml:16: equipment e1: energy_per_window_kwh: must be > 0 for kind "
     "deferrable"},
    {"power_max_kw: 100", "power_max_kw: 100\n    earliest_start: \"25:00\"",
     "p.yaml:21: equipment e1: earliest_start: expected a time of day HH:MM, got "
     "'25:00'"},
    {"power_max_kw: 100", "power_max_kw: 100\n    meter: m7",
     "p.yaml:16: equipment e1: meter: unknown meter 'm7'"},
    {"    kind: main\n", "    kind: main\n    equipment: e5\n",
     "p.yaml:7: meter m1: equipment: unknown equipment 'e5'"},
    {"data_type: float32}\n      - {quantity: energy",
     "data_type: float32, unit: kWh}\n      - {quantity: energy",
     "p.yaml:13: meter m1: unit: 'kWh' is not a unit of power_kw (expected "
     "'kW'|'W'|'MW')"},
    {"address: 0, data_type: float32", "address: 65535, data_type: float32",
     "p.yaml:13: meter m1: address: float32 at 65535 runs past register 65535"},
    {"    registers:\n", "    power_range_kw: [10, 5]\n    registers:\n",
     "p.yaml:12: meter m1: power_range_kw: min 10 > max 5"},
    {"    registers:\n", "    power_range_kw: [nan, 100]\n    registers:\n",
     "p.yaml:12: meter m1: power_range_kw: expected [min, max] in kW"},
    {"    registers:\n", "    power_range_kw: [0, inf]\n    registers:\n",
     "p.yaml:12: meter m1: power_range_kw: expected [min, max] in kW"},
    {"  - id: s1\n", "  - id: s 1\n",
     "p.yaml:2: site s 1: id 's 1': only letters, digits, '.', '_' and '-'"},
    {"    market: NL\n", "    market: NL\n    holidays: [2021-02-30]\n",
     "p.yaml:5: site s1: holidays: expected a date YYYY-MM-DD, got '2021-02-30'"},
    {"    market: NL\n",
     "    market: NL\n    tariff:\n      periods:\n        - name: peak\n"
     "          windows: [{days: mon-fry, from: \"07:00\", to: \"23:00\"}]\n",
     "p.yaml:8: site s1: days: unknown day 'mon-fry' (mon..sun, mon-fri, weekdays, "
     "weekend, all, holiday)"},
    {"sites:\n", "sites: [\n",
     "p.yaml:2: yaml: did not find expected node content "
     "while parsing a flow node"},
    {"  - id: e1\n", "  - site: s1\n    id: e1\n    site: s1\n",
     "p.yaml:18: equipment e1: duplicate key 'site'"},
    {"  - id: e1\n", "  - name: nameless\n",
     "p.yaml:16: equipment[0]: missing required key 'id'"},
    {"sites:\n", "version: 1\nstuff: 2\nsites:\n", "p.yaml:2: unknown key 'stuff'"},
};

START_TEST(bad_model)
{
    const struct bad_case *c = &bad_cases[_i];
    char *text = variant(c->from, c->to);
    plant_t *p = plant_load_string("p.yaml", text, strlen(text), errstr, sizeof errstr);
    ck_assert_msg(p == NULL, "case %d loaded", _i);
    ck_assert_str_eq(errstr, c->err);
    free(text);
}
END_TEST

START_TEST(demo_plant_valid)
{
    plant_t *p = plant_load(DEMO_PLANT, errstr, sizeof errstr);
    ck_assert_msg(p != NULL, "%s", errstr);
    ck_assert_int_eq(plant_site_count(p), 1);
    const plant_site_t *s = plant_site(p, "nl-neerijnen");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s->timezone, "Europe/Amsterdam");
    ck_assert_str_eq(s->market, "NL");
    ck_assert_double_ge(s->contracted_import_kw, 22000);
    ck_assert(s->has_export_limit);
    ck_assert_int_eq(plant_meter_count(p), 4);
    ck_assert_int_ge(plant_equipment_count(p), 4);
    ck_assert_int_le(plant_equipment_count(p), 6);

    int n = 0;
    for (const plant_meter_t *m = plant_site_meter_next(p, s->id, NULL); m;
         m = plant_site_meter_next(p, s->id, m)) {
        ck_assert_str_eq(m->device.host, "127.0.0.1");
        ck_assert_int_eq(m->device.port, 15020);
        ck_assert_int_eq(m->device.unit_id, ++n);
        ck_assert_ptr_nonnull(plant_meter_register(m, PLANT_Q_POWER_KW));
    }
    ck_assert_int_eq(n, 4);
    n = 0;
    for (const plant_equipment_t *e = plant_site_equipment_next(p, s->id, NULL); e;
         e = plant_site_equipment_next(p, s->id, e))
        n++;
    ck_assert_int_eq((size_t)n, plant_equipment_count(p));
    ck_assert_ptr_null(plant_site_meter_next(p, "elsewhere", NULL));

    const plant_equipment_t *dryer = plant_equipment(p, "dryer-1");
    ck_assert_int_eq(dryer->kind, PLANT_EQ_DEFERRABLE);
    ck_assert(!dryer->interruptible);
    ck_assert_int_eq(dryer->earliest_start_min, 6 * 60);
    ck_assert_int_eq(dryer->deadline_min, 22 * 60);
    ck_assert(dryer->has_setpoint);
    const plant_equipment_t *bat = plant_equipment(p, "battery-1");
    ck_assert(bat->has_storage);
    ck_assert_double_lt(bat->power_min_kw, 0);
    ck_assert(plant_equipment(p, "compressor-1")->has_process);
    ck_assert_ptr_null(plant_equipment(p, "nope"));
    ck_assert_ptr_null(plant_meter(p, "nope"));
    ck_assert_ptr_null(plant_site(p, "nope"));
    plant_destroy(p);
}
END_TEST

START_TEST(tariff_and_holidays)
{
    plant_t *p = plant_load(DEMO_PLANT, errstr, sizeof errstr);
    ck_assert_msg(p != NULL, "%s", errstr);
    const plant_site_t *s = plant_site(p, "nl-neerijnen");
    ck_assert(plant_site_is_holiday(s, 2020, 12, 25));
    ck_assert(!plant_site_is_holiday(s, 2020, 12, 24));
    ck_assert_str_eq(plant_tariff_period_at(s, 0, 7 * 60, false)->name, "peak");
    ck_assert_str_eq(plant_tariff_period_at(s, 4, 23 * 60 - 1, false)->name, "peak");
    ck_assert_str_eq(plant_tariff_period_at(s, 4, 23 * 60, false)->name, "offpeak");
    ck_assert_str_eq(plant_tariff_period_at(s, 2, 6 * 60 + 59, false)->name, "offpeak");
    ck_assert_str_eq(plant_tariff_period_at(s, 5, 12 * 60, false)->name, "offpeak");
    ck_assert_str_eq(plant_tariff_period_at(s, 1, 12 * 60, true)->name, "offpeak");
    ck_assert_double_eq(s->tariff.demand_charge_eur_per_kw, 3.45);
    plant_destroy(p);
}
END_TEST

START_TEST(tariff_wrapping_window)
{
    char *text =
        variant("    market: NL\n",
                "    market: NL\n    tariff:\n      periods:\n"
                "        - name: night\n"
                "          windows: [{days: \"sat,sun holiday\", from: \"22:00\", "
                "to: \"06:00\"}]\n");
    plant_t *p = plant_load_string("p.yaml", text, strlen(text), errstr, sizeof errstr);
    ck_assert_msg(p != NULL, "%s", errstr);
    const plant_site_t *s = plant_site_at(p, 0);
    ck_assert_ptr_nonnull(plant_tariff_period_at(s, 5, 23 * 60, false));
    ck_assert_ptr_nonnull(plant_tariff_period_at(s, 6, 60, false));
    ck_assert_ptr_null(plant_tariff_period_at(s, 6, 12 * 60, false));
    ck_assert_ptr_null(plant_tariff_period_at(s, 0, 23 * 60, false));
    ck_assert_ptr_nonnull(plant_tariff_period_at(s, 0, 23 * 60, true));
    plant_destroy(p);
    free(text);
}
END_TEST

/* Encode then decode gives the value back, for every type and word/byte
 * order; a few known encodings pin the bit layout. */
static const struct codec_case {
    plant_dtype_t dt;
    plant_order_t wo, bo;
    double scale;
    const char *unit;
    double factor, value;
} codec_cases[] = {
    {PLANT_DT_INT16, PLANT_ORDER_BIG, PLANT_ORDER_BIG, 0.001, "", 1, -0.923},
    {PLANT_DT_UINT16, PLANT_ORDER_BIG, PLANT_ORDER_LITTLE, 0.1, "V", 1, 231.4},
    {PLANT_DT_INT32, PLANT_ORDER_LITTLE, PLANT_ORDER_BIG, 1, "W", 1e-3, -1234.567},
    {PLANT_DT_UINT32, PLANT_ORDER_LITTLE, PLANT_ORDER_LITTLE, 0.1, "kWh", 1, 98765.4},
    {PLANT_DT_FLOAT32, PLANT_ORDER_BIG, PLANT_ORDER_BIG, 1, "kW", 1, 21543.25},
    {PLANT_DT_FLOAT64, PLANT_ORDER_LITTLE, PLANT_ORDER_BIG, 1, "kWh", 1, 123456789.125},
    {PLANT_DT_UINT64, PLANT_ORDER_BIG, PLANT_ORDER_BIG, 1, "Wh", 1e-3, 9876543210.0},
};

START_TEST(codec_round_trip)
{
    const struct codec_case *c = &codec_cases[_i];
    plant_register_t r = {.dtype = c->dt,
                          .word_order = c->wo,
                          .byte_order = c->bo,
                          .scale = c->scale,
                          .unit = c->unit,
                          .unit_factor = c->factor};
    uint16_t words[4] = {0};
    plant_register_encode(&r, c->value, words);
    double back = plant_register_decode(&r, words);
    double tol = c->dt == PLANT_DT_FLOAT32 ? 0.01 : 1e-6 * fabs(c->value) + 1e-9;
    ck_assert_msg(fabs(back - c->value) <= tol, "case %d: %g != %g", _i, back,
                  c->value);
}
END_TEST

START_TEST(codec_layout)
{
    plant_register_t r = {.dtype = PLANT_DT_INT32, .scale = 1, .unit_factor = 1};
    uint16_t w[4] = {0};
    plant_register_encode(&r, 0x12345678, w);
    ck_assert_uint_eq(w[0], 0x1234);
    ck_assert_uint_eq(w[1], 0x5678);
    r.word_order = PLANT_ORDER_LITTLE;
    plant_register_encode(&r, 0x12345678, w);
    ck_assert_uint_eq(w[0], 0x5678);
    ck_assert_uint_eq(w[1], 0x1234);
    r.byte_order = PLANT_ORDER_LITTLE;
    plant_register_encode(&r, 0x12345678, w);
    ck_assert_uint_eq(w[0], 0x7856);
    ck_assert_uint_eq(w[1], 0x3412);
    r = (plant_register_t){.dtype = PLANT_DT_FLOAT32, .scale = 1, .unit_factor = 1};
    plant_register_encode(&r, 1.0, w); /* IEEE 754: 0x3f800000 */
    ck_assert_uint_eq(w[0], 0x3f80);
    ck_assert_uint_eq(w[1], 0x0000);
    r = (plant_register_t){.dtype = PLANT_DT_INT16, .scale = 1, .unit_factor = 1};
    plant_register_encode(&r, 1e9, w); /* saturates */
    ck_assert_uint_eq(w[0], 0x7fff);
    ck_assert_double_eq(plant_register_decode(&r, (uint16_t[]){0xffff}), -1);
}
END_TEST

START_TEST(names)
{
    ck_assert_str_eq(plant_quantity_name(PLANT_Q_FREQUENCY_HZ), "frequency_hz");
    ck_assert_str_eq(plant_dtype_name(PLANT_DT_UINT64), "uint64");
    ck_assert_str_eq(plant_meter_kind_name(PLANT_METER_SUB), "sub");
    ck_assert_str_eq(plant_equipment_kind_name(PLANT_EQ_STORAGE), "storage");
    ck_assert_int_eq(plant_dtype_words(PLANT_DT_FLOAT64), 4);
    plant_destroy(NULL);
}
END_TEST

static Suite *plant_suite(void)
{
    Suite *s = suite_create("plant");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, base_model_loads);
    tcase_add_loop_test(tc, bad_model, 0, sizeof bad_cases / sizeof bad_cases[0]);
    tcase_add_test(tc, demo_plant_valid);
    tcase_add_test(tc, tariff_and_holidays);
    tcase_add_test(tc, tariff_wrapping_window);
    tcase_add_loop_test(tc, codec_round_trip, 0,
                        sizeof codec_cases / sizeof codec_cases[0]);
    tcase_add_test(tc, codec_layout);
    tcase_add_test(tc, names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(plant_suite(), 0);
}
