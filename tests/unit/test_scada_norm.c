/* Unit tests of the scada-gateway core: read plan, decoding (every data
 * type and word/byte order through the plant codec), energy counters
 * (rollover, replacement) and quality flags. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "plant/plant.h"
#include "scada-gateway/norm.h"
#include "scada-gateway/quality.h"
#include "support/harness.h"

static char errstr[512];

static const char model[] =
    "sites:\n"
    "  - id: s1\n"
    "    timezone: Europe/Amsterdam\n"
    "    market: NL\n"
    "    contracted_import_kw: 1000\n"
    "meters:\n"
    "  - id: m1\n"
    "    site: s1\n"
    "    kind: main\n"
    "    device: {host: 127.0.0.1, port: 15020, unit_id: 1}\n"
    "    poll_period_ms: 1000\n"
    "    power_range_kw: [-10, 500]\n"
    "    registers:\n"
    "      - {quantity: power_kw, type: holding, address: 10, data_type: int32, "
    "word_order: little, unit: W}\n"
    "      - {quantity: energy_kwh, type: holding, address: 0, data_type: uint32, "
    "scale: 0.1, unit: Wh}\n"
    "      - {quantity: voltage_v, type: input, address: 0, data_type: float32, "
    "byte_order: little}\n"
    "      - {quantity: current_a, type: input, address: 200, data_type: float64}\n"
    "      - {quantity: frequency_hz, type: input, address: 2, data_type: uint16, "
    "scale: 0.01}\n"
    "      - {quantity: power_factor, type: input, address: 3, data_type: int16, "
    "scale: 0.001}\n"
    "  - id: m2\n"
    "    site: s1\n"
    "    kind: sub\n"
    "    device: {host: 127.0.0.1, port: 15020, unit_id: 2}\n"
    "    poll_period_ms: 1000\n"
    "    registers:\n"
    "      - {quantity: energy_kwh, type: input, address: 0, data_type: uint16, unit: "
    "kWh}\n"
    "      - {quantity: power_kw, type: input, address: 4, data_type: float32, unit: "
    "MW}\n";

static plant_t *plant;

static void setup(void)
{
    plant = plant_load_string("test.yaml", model, strlen(model), errstr, sizeof errstr);
    ck_assert_msg(plant != NULL, "%s", errstr);
}

static void teardown(void)
{
    plant_destroy(plant);
}

START_TEST(plan_groups_by_type_and_gap)
{
    sg_block_t b[SG_MAX_BLOCKS];
    const plant_meter_t *m = plant_meter(plant, "m1");
    int n = sg_plan_blocks(m, 8, b, SG_MAX_BLOCKS);
    /* holding 0..1 and 10..11 merge (gap 8); input 0..3 one block, 200..203 another */
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(b[0].type, PLANT_REG_HOLDING);
    ck_assert_int_eq(b[0].address, 0);
    ck_assert_int_eq(b[0].count, 12);
    ck_assert_int_eq(b[1].type, PLANT_REG_INPUT);
    ck_assert_int_eq(b[1].address, 0);
    ck_assert_int_eq(b[1].count, 4);
    ck_assert_int_eq(b[2].address, 200);
    ck_assert_int_eq(b[2].count, 4);
    ck_assert_int_eq(sg_plan_blocks(m, 0, b, SG_MAX_BLOCKS), 4);
    ck_assert_int_eq(sg_plan_blocks(m, 0, b, 2), -1);
}
END_TEST

/* Encodes known values with the plant codec into the planned blocks, then
 * decodes them through the plan: every quantity comes back. */
START_TEST(decode_round_trips_every_type)
{
    static const double want[SG_NQ] = {123.456, 98765.4, 230.5, 17.25, 50.02, -0.875};
    const plant_meter_t *m = plant_meter(plant, "m1");
    sg_block_t b[SG_MAX_BLOCKS];
    sg_reading_t r;
    uint64_t h1, h2;
    int n = sg_plan_blocks(m, 8, b, SG_MAX_BLOCKS);
    for (size_t i = 0; i < m->nregisters; i++) {
        const plant_register_t *reg = &m->registers[i];
        uint16_t *w = (uint16_t *)sg_block_words(b, n, reg);
        ck_assert_ptr_nonnull(w);
        plant_register_encode(reg, want[reg->quantity], w);
    }
    sg_reading_init(&r, m, 1000, SG_SRC_MODBUS);
    sg_decode_meter(m, b, n, &r, &h1);
    ck_assert_uint_eq(r.has, 0x3f);
    ck_assert_double_eq_tol(r.v[PLANT_Q_POWER_KW], 123.456, 1e-9); /* kW <-> int32 W */
    ck_assert_double_eq_tol(r.v[PLANT_Q_ENERGY_KWH], 98765.4, 1e-6); /* 0.1 Wh steps */
    ck_assert_double_eq_tol(r.v[PLANT_Q_VOLTAGE_V], 230.5, 1e-4);
    ck_assert_double_eq_tol(r.v[PLANT_Q_CURRENT_A], 17.25, 1e-12);
    ck_assert_double_eq_tol(r.v[PLANT_Q_FREQUENCY_HZ], 50.02, 1e-9);
    ck_assert_double_eq_tol(r.v[PLANT_Q_POWER_FACTOR], -0.875, 1e-9);
    ck_assert_str_eq(r.meter_id, "m1");
    ck_assert_str_eq(r.site_id, "s1");
    b[0].words[0] ^= 1;
    sg_decode_meter(m, b, n, &r, &h2);
    ck_assert(h1 != h2);
}
END_TEST

/* Hand-made words for orders the codec must honour (independent of encode). */
START_TEST(decode_word_order_by_hand)
{
    const plant_meter_t *m = plant_meter(plant, "m1");
    sg_block_t b[SG_MAX_BLOCKS];
    sg_reading_t r;
    int n = sg_plan_blocks(m, 8, b, SG_MAX_BLOCKS);
    /* int32 little word order, -2 W: low word first */
    b[0].words[10] = 0xfffe;
    b[0].words[11] = 0xffff;
    /* float32 1.0 = 0x3f800000, byte order little within each word, big word order */
    b[1].words[0] = 0x803f;
    b[1].words[1] = 0x0000;
    sg_reading_init(&r, m, 0, SG_SRC_MODBUS);
    sg_decode_meter(m, b, n, &r, NULL);
    ck_assert_double_eq_tol(r.v[PLANT_Q_POWER_KW], -0.002, 1e-12);
    ck_assert_double_eq_tol(r.v[PLANT_Q_VOLTAGE_V], 1.0, 1e-12);
}
END_TEST

typedef struct counter_case {
    const char *name;
    double raw[4];
    int n;
    double wrap;
    double want_total[4];
    sg_counter_event_t want_last;
} counter_case_t;

static const counter_case_t counter_cases[] = {
    {"forward", {10, 11, 11, 15}, 4, 0, {10, 11, 11, 15}, SG_CNT_OK},
    {"first", {42}, 1, 65536, {42}, SG_CNT_FIRST},
    {"uint16 rollover",
     {65530, 65535, 3, 10},
     4,
     65536,
     {65530, 65535, 65539, 65546},
     SG_CNT_OK},
    {"rollover event", {65530, 4}, 2, 65536, {65530, 65540}, SG_CNT_ROLLOVER},
    {"replacement float",
     {5000, 5010, 2, 7},
     4,
     0,
     {5000, 5010, 5010, 5015},
     SG_CNT_OK},
    {"replacement event", {5000, 0}, 2, 0, {5000, 5000}, SG_CNT_REPLACED},
    {"small drop in int is replacement",
     {60000, 59000},
     2,
     65536,
     {60000, 60000},
     SG_CNT_REPLACED},
    {"scaled uint32 wrap",
     {429496729.0, 1.5},
     2,
     429496729.6,
     {429496729.0, 429496731.1},
     SG_CNT_ROLLOVER},
};

START_TEST(counter_table)
{
    const counter_case_t *tc = &counter_cases[_i];
    sg_counter_t c = {0};
    sg_counter_event_t ev = SG_CNT_OK;
    for (int k = 0; k < tc->n; k++) {
        double total;
        ev = sg_counter_update(&c, tc->raw[k], tc->wrap, &total);
        ck_assert_msg(fabs(total - tc->want_total[k]) < 1e-6,
                      "%s: step %d total %f want %f", tc->name, k, total,
                      tc->want_total[k]);
    }
    ck_assert_msg(ev == tc->want_last, "%s: event %d", tc->name, ev);
}
END_TEST

START_TEST(counter_wrap_per_type)
{
    const plant_meter_t *m1 = plant_meter(plant, "m1"), *m2 = plant_meter(plant, "m2");
    /* uint32 * 0.1 Wh = 429496.7296 kWh */
    ck_assert_double_eq_tol(
        sg_counter_wrap_kwh(plant_meter_register(m1, PLANT_Q_ENERGY_KWH)), 429496.7296,
        1e-6);
    ck_assert_double_eq_tol(
        sg_counter_wrap_kwh(plant_meter_register(m2, PLANT_Q_ENERGY_KWH)), 65536, 1e-9);
    ck_assert_double_eq(
        sg_counter_wrap_kwh(plant_meter_register(m1, PLANT_Q_VOLTAGE_V)), 0);
}
END_TEST

START_TEST(counter_ignores_nan)
{
    sg_counter_t c = {0};
    double t;
    sg_counter_update(&c, 100, 0, &t);
    sg_counter_update(&c, NAN, 0, &t);
    ck_assert(isnan(t));
    ck_assert_int_eq(sg_counter_update(&c, 101, 0, &t), SG_CNT_OK);
    ck_assert_double_eq(t, 101);
}
END_TEST

/* ---- quality ---- */

typedef struct quality_case {
    const char *name;
    double power, pf;
    sg_counter_event_t ev;
    sg_quality_t want;
    const char *detail_has;
} quality_case_t;

static const quality_case_t quality_cases[] = {
    {"good", 100, 0.9, SG_CNT_OK, SG_Q_GOOD, ""},
    {"above max", 600, 0.9, SG_CNT_OK, SG_Q_OUT_OF_RANGE, "above max 500"},
    {"below min", -11, 0.9, SG_CNT_OK, SG_Q_OUT_OF_RANGE, "below min -10"},
    {"edge is in range", 500, 1.0, SG_CNT_OK, SG_Q_GOOD, ""},
    {"nan power", NAN, 0.9, SG_CNT_OK, SG_Q_OUT_OF_RANGE, "not a finite"},
    {"pf beyond 1", 100, 1.2, SG_CNT_OK, SG_Q_OUT_OF_RANGE, "power_factor"},
    {"replacement", 100, 0.9, SG_CNT_REPLACED, SG_Q_SUBSTITUTED, "backwards"},
    {"range beats replacement", 900, 0.9, SG_CNT_REPLACED, SG_Q_OUT_OF_RANGE, "above"},
};

START_TEST(quality_table)
{
    const quality_case_t *tc = &quality_cases[_i];
    const plant_meter_t *m = plant_meter(plant, "m1");
    sg_reading_t r;
    sg_stale_t st = {0};
    sg_reading_init(&r, m, 0, SG_SRC_MODBUS);
    r.v[PLANT_Q_POWER_KW] = tc->power;
    r.v[PLANT_Q_POWER_FACTOR] = tc->pf;
    r.has = (1u << PLANT_Q_POWER_KW) | (1u << PLANT_Q_POWER_FACTOR);
    ck_assert_int_eq(sg_quality_assess(m, &r, &st, 1, tc->ev, 0, 10000), tc->want);
    ck_assert_int_eq(r.quality, tc->want);
    ck_assert_msg(strstr(r.detail, tc->detail_has) != NULL, "%s: detail '%s'", tc->name,
                  r.detail);
    if (tc->want == SG_Q_GOOD)
        ck_assert_str_eq(r.detail, "");
}
END_TEST

START_TEST(quality_stale_after_timeout)
{
    const plant_meter_t *m = plant_meter(plant, "m2");
    sg_reading_t r;
    sg_stale_t st = {0};
    sg_reading_init(&r, m, 0, SG_SRC_MODBUS);
    ck_assert_int_eq(sg_quality_assess(m, &r, &st, 7, SG_CNT_OK, 0, 5000), SG_Q_GOOD);
    ck_assert_int_eq(sg_quality_assess(m, &r, &st, 7, SG_CNT_OK, 5000, 5000),
                     SG_Q_GOOD);
    ck_assert_int_eq(sg_quality_assess(m, &r, &st, 7, SG_CNT_OK, 5001, 5000),
                     SG_Q_STALE);
    ck_assert_int_eq(sg_quality_assess(m, &r, &st, 8, SG_CNT_OK, 6000, 5000),
                     SG_Q_GOOD);
    /* disabled */
    ck_assert_int_eq(sg_quality_assess(m, &r, &st, 8, SG_CNT_OK, 99999, 0), SG_Q_GOOD);
}
END_TEST

START_TEST(quality_comm_error_clears_values)
{
    const plant_meter_t *m = plant_meter(plant, "m2");
    sg_reading_t r;
    sg_reading_init(&r, m, 0, SG_SRC_MODBUS);
    r.has = 3;
    r.v[0] = 5;
    sg_quality_comm_error(&r, "modbus timeout");
    ck_assert_int_eq(r.quality, SG_Q_COMM_ERROR);
    ck_assert_uint_eq(r.has, 0);
    ck_assert_double_eq(r.v[0], 0);
    ck_assert_str_eq(r.detail, "modbus timeout");
    ck_assert_str_eq(sg_quality_name(SG_Q_COMM_ERROR), "comm_error");
    ck_assert_str_eq(sg_quality_name(SG_Q_SUBSTITUTED), "substituted");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scada_norm");
    TCase *tn = tcase_create("norm"), *tc = tcase_create("counter"),
          *tq = tcase_create("quality");
    tcase_add_checked_fixture(tn, setup, teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_checked_fixture(tq, setup, teardown);
    tcase_add_test(tn, plan_groups_by_type_and_gap);
    tcase_add_test(tn, decode_round_trips_every_type);
    tcase_add_test(tn, decode_word_order_by_hand);
    tcase_add_loop_test(tc, counter_table, 0,
                        sizeof counter_cases / sizeof counter_cases[0]);
    tcase_add_test(tc, counter_wrap_per_type);
    tcase_add_test(tc, counter_ignores_nan);
    tcase_add_loop_test(tq, quality_table, 0,
                        sizeof quality_cases / sizeof quality_cases[0]);
    tcase_add_test(tq, quality_stale_after_timeout);
    tcase_add_test(tq, quality_comm_error_clears_values);
    suite_add_tcase(s, tn);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, tq);
    return th_run_suite(s, 0);
}
