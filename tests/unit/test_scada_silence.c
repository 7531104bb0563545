/* Unit tests of the readings of a silent MQTT meter (silence.c). */
#include <check.h>
#include <math.h>
#include <string.h>

#include "plant/plant.h"
#include "scada-gateway/silence.h"
#include "support/harness.h"

static const char model[] = "sites:\n"
                            "  - id: s1\n"
                            "    timezone: Europe/Amsterdam\n"
                            "    market: NL\n"
                            "    contracted_import_kw: 1000\n"
                            "meters:\n"
                            "  - id: edge-1\n    site: s1\n    kind: sub\n"
                            "    device: {host: 127.0.0.1, port: 1502, unit_id: 1}\n"
                            "    poll_period_ms: 1000\n"
                            "    registers:\n"
                            "      - {quantity: power_kw, type: holding, address: 0, "
                            "data_type: float32}\n";

static plant_t *plant;
static const plant_meter_t *meter;

static void setup(void)
{
    char err[256];
    plant = plant_load_string("t.yaml", model, strlen(model), err, sizeof err);
    ck_assert_msg(plant != NULL, "%s", err);
    meter = plant_meter(plant, "edge-1");
}

static void teardown(void)
{
    plant_destroy(plant);
}

#define STALE 5000
#define TIMEOUT 20000

/* One heard reading at t (monotonic): power 42 kW, energy 7 kWh. */
static void heard(sg_silence_t *s, int64_t t)
{
    sg_reading_t r;
    sg_reading_init(&r, meter, t, SG_SRC_MQTT);
    r.has = (1u << PLANT_Q_POWER_KW) | (1u << PLANT_Q_ENERGY_KWH);
    r.v[PLANT_Q_POWER_KW] = 42;
    r.v[PLANT_Q_ENERGY_KWH] = 7;
    sg_silence_heard(s, &r, t);
}

/* Times checked after a message at 0 and what each must emit: -1 nothing,
 * else the quality. Poll period 1 s. */
typedef struct step {
    int64_t t;
    int want;
} step_t;

static const step_t heard_steps[] = {
    {100, -1},
    {4999, -1}, /* within stale_after: quiet */
    {5000, SG_Q_STALE},
    {5500, -1}, /* one per poll period */
    {6000, SG_Q_STALE},
    {6999, -1}, /* */
    {7000, SG_Q_STALE},
    {19999, SG_Q_STALE}, /* */
    {20000, -1},
    {20999, SG_Q_COMM_ERROR}, /* next due at 20999 */
    {21500, -1},
    {22000, SG_Q_COMM_ERROR},
    {90000, SG_Q_COMM_ERROR},
};

START_TEST(stale_then_comm_error)
{
    sg_silence_t s;
    sg_silence_init(&s, -1000);
    heard(&s, 0);
    for (size_t i = 0; i < sizeof heard_steps / sizeof heard_steps[0]; i++) {
        sg_reading_t r;
        memset(&r, 0x5a, sizeof r);
        bool got = sg_silence_check(&s, meter, heard_steps[i].t, heard_steps[i].t,
                                    STALE, TIMEOUT, &r);
        ck_assert_msg(got == (heard_steps[i].want >= 0), "t=%lld: emitted %d",
                      (long long)heard_steps[i].t, got);
        if (!got)
            continue;
        ck_assert_int_eq(r.quality, heard_steps[i].want);
        ck_assert_int_eq(r.ts_ms, heard_steps[i].t);
        ck_assert_int_eq(r.source, SG_SRC_MQTT);
        ck_assert_str_eq(r.meter_id, "edge-1");
        ck_assert_str_eq(r.site_id, "s1");
        ck_assert_int_eq(r.seq, 0);
        ck_assert_ptr_nonnull(strstr(r.detail, "no MQTT message for"));
        if (r.quality == SG_Q_STALE) { /* the last values, repeated */
            ck_assert_uint_eq(r.has,
                              (1u << PLANT_Q_POWER_KW) | (1u << PLANT_Q_ENERGY_KWH));
            ck_assert_double_eq(r.v[PLANT_Q_POWER_KW], 42);
            ck_assert_double_eq(r.v[PLANT_Q_ENERGY_KWH], 7);
        } else { /* values null */
            ck_assert_uint_eq(r.has, 0);
        }
    }
}
END_TEST

START_TEST(message_ends_silence)
{
    sg_silence_t s;
    sg_reading_t r;
    sg_silence_init(&s, 0);
    heard(&s, 0);
    ck_assert(sg_silence_check(&s, meter, 25000, 25000, STALE, TIMEOUT, &r));
    ck_assert_int_eq(r.quality, SG_Q_COMM_ERROR);
    heard(&s, 25100);
    ck_assert(!sg_silence_check(&s, meter, 25200, 25200, STALE, TIMEOUT, &r));
    ck_assert(!sg_silence_check(&s, meter, 30099, 30099, STALE, TIMEOUT, &r));
    ck_assert(sg_silence_check(&s, meter, 30100, 30100, STALE, TIMEOUT, &r));
    ck_assert_int_eq(r.quality, SG_Q_STALE);
}
END_TEST

START_TEST(never_heard_no_stale_then_comm_error)
{
    sg_silence_t s;
    sg_reading_t r;
    sg_silence_init(&s, 1000);
    ck_assert(
        !sg_silence_check(&s, meter, 1000 + STALE, 1000 + STALE, STALE, TIMEOUT, &r));
    ck_assert(!sg_silence_check(&s, meter, 1000 + TIMEOUT - 1, 1000 + TIMEOUT - 1,
                                STALE, TIMEOUT, &r));
    ck_assert(sg_silence_check(&s, meter, 1000 + TIMEOUT, 1000 + TIMEOUT, STALE,
                               TIMEOUT, &r));
    ck_assert_int_eq(r.quality, SG_Q_COMM_ERROR);
    ck_assert_uint_eq(r.has, 0);
}
END_TEST

START_TEST(phases_disabled)
{
    sg_silence_t s;
    sg_reading_t r;
    sg_silence_init(&s, 0);
    heard(&s, 0);
    /* stale_after 0: straight to comm_error */
    ck_assert(!sg_silence_check(&s, meter, TIMEOUT - 1, TIMEOUT - 1, 0, TIMEOUT, &r));
    ck_assert(sg_silence_check(&s, meter, TIMEOUT, TIMEOUT, 0, TIMEOUT, &r));
    ck_assert_int_eq(r.quality, SG_Q_COMM_ERROR);
    /* timeout 0: stale for ever */
    heard(&s, 0);
    ck_assert(sg_silence_check(&s, meter, 86400000, 86400000, STALE, 0, &r));
    ck_assert_int_eq(r.quality, SG_Q_STALE);
    /* both 0: never anything */
    heard(&s, 0);
    ck_assert(!sg_silence_check(&s, meter, 86400000, 86400000, 0, 0, &r));
}
END_TEST

/* The wall clock stepped while the meter is silent. Silence is measured on
 * the monotonic clock, which reads the same as the wall clock until the
 * step: the readings keep coming at the poll period, stamped with the wall
 * clock's time. On the wall clock, the step back paused them (a silence that
 * looks negative) and the step forward made the meter look silent for an
 * hour at once. */
#define WALL0 1763758937000LL
#define HOUR 3600000LL

static void expect(sg_silence_t *s, int64_t mono, int64_t wall, int want)
{
    sg_reading_t r;
    bool got = sg_silence_check(s, meter, mono, wall, STALE, TIMEOUT, &r);
    ck_assert_msg(got == (want >= 0), "mono +%lld, wall %+lld: emitted %d",
                  (long long)(mono - WALL0), (long long)(wall - mono), got);
    if (!got)
        return;
    ck_assert_int_eq(r.quality, want);
    ck_assert_int_eq(r.ts_ms, wall); /* stamped with the wall clock */
}

START_TEST(wall_clock_stepped_back)
{
    sg_silence_t s;
    sg_silence_init(&s, WALL0 - 1000);
    heard(&s, WALL0);
    expect(&s, WALL0 + 4999, WALL0 + 4999 - HOUR, -1);
    expect(&s, WALL0 + 5000, WALL0 + 5000 - HOUR, SG_Q_STALE);
    expect(&s, WALL0 + 5500, WALL0 + 5500 - HOUR, -1);
    expect(&s, WALL0 + 6000, WALL0 + 6000 - HOUR, SG_Q_STALE);
    expect(&s, WALL0 + 20000, WALL0 + 20000 - HOUR, SG_Q_COMM_ERROR);
    expect(&s, WALL0 + 21000, WALL0 + 21000 - HOUR, SG_Q_COMM_ERROR);
}
END_TEST

START_TEST(wall_clock_stepped_forward)
{
    sg_silence_t s;
    sg_reading_t r;
    sg_silence_init(&s, WALL0 - 1000);
    heard(&s, WALL0);
    expect(&s, WALL0 + 1000, WALL0 + 1000 + HOUR, -1);
    expect(&s, WALL0 + 4999, WALL0 + 4999 + HOUR, -1);
    ck_assert(sg_silence_check(&s, meter, WALL0 + 5000, WALL0 + 5000 + HOUR, STALE,
                               TIMEOUT, &r));
    ck_assert_int_eq(r.quality, SG_Q_STALE); /* silent 5 s, not an hour */
    ck_assert_str_eq(r.detail, "no MQTT message for 5000 ms");
    expect(&s, WALL0 + 20000, WALL0 + 20000 + HOUR, SG_Q_COMM_ERROR);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scada_silence");
    TCase *tc = tcase_create("silence");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, stale_then_comm_error);
    tcase_add_test(tc, message_ends_silence);
    tcase_add_test(tc, never_heard_no_stale_then_comm_error);
    tcase_add_test(tc, phases_disabled);
    tcase_add_test(tc, wall_clock_stepped_back);
    tcase_add_test(tc, wall_clock_stepped_forward);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
