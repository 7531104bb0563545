/* Unit tests of the scada-gateway control policy and poll schedule. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "plant/plant.h"
#include "scada-gateway/coil.h"
#include "scada-gateway/policy.h"
#include "scada-gateway/sched.h"
#include "support/harness.h"

static char errstr[512];

static const char model[] =
    "sites:\n"
    "  - id: s1\n"
    "    timezone: Europe/Amsterdam\n"
    "    market: NL\n"
    "    contracted_import_kw: 1000\n"
    "meters: []\n"
    "equipment:\n"
    "  - id: dryer\n"
    "    site: s1\n"
    "    kind: generic\n"
    "    control_enabled: true\n"
    "    setpoint: {host: 127.0.0.1, port: 15020, unit_id: 3, address: 100, data_type: "
    "float32, unit: kW}\n"
    "    power_min_kw: 100\n"
    "    power_max_kw: 400\n"
    "  - id: battery\n"
    "    site: s1\n"
    "    kind: storage\n"
    "    control_enabled: true\n"
    "    setpoint: {host: 127.0.0.1, port: 15020, unit_id: 1, address: 100, data_type: "
    "int32, unit: W}\n"
    "    power_min_kw: -200\n"
    "    power_max_kw: 200\n"
    "    storage: {capacity_kwh: 400, soc_min: 0.1, soc_max: 0.9, soc_initial: 0.5,\n"
    "              charge_efficiency: 0.95, discharge_efficiency: 0.95}\n"
    "  - id: advisory\n"
    "    site: s1\n"
    "    kind: generic\n"
    "    control_enabled: false\n"
    "    power_min_kw: 0\n"
    "    power_max_kw: 50\n"
    "  - id: pack\n"
    "    site: s1\n"
    "    kind: storage\n"
    "    control_enabled: true\n"
    "    setpoint: {host: 127.0.0.1, port: 15020, unit_id: 4, address: 100, data_type: "
    "uint16, unit: kW}\n"
    "    power_min_kw: -500\n"
    "    power_max_kw: 500\n"
    "    storage: {capacity_kwh: 400, soc_min: 0.1, soc_max: 0.9, soc_initial: 0.5,\n"
    "              charge_efficiency: 0.95, discharge_efficiency: 0.95}\n"
    "  - id: fan\n"
    "    site: s1\n"
    "    kind: generic\n"
    "    control_enabled: true\n"
    "    setpoint: {host: 127.0.0.1, port: 15020, unit_id: 5, address: 100, data_type: "
    "int16, unit: W}\n"
    "    power_min_kw: 0\n"
    "    power_max_kw: 60\n";

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

#define NOW 1000000

typedef struct policy_case {
    const char *name;
    const char *equipment, *site;
    sg_action_t action;
    int has_sp;
    double sp;
    int64_t valid_until;
    sg_control_state_t st;
    sg_policy_result_t want;
    double want_value;
} policy_case_t;

static const policy_case_t cases[] = {
    {"in bounds",
     "dryer",
     "s1",
     SG_ACT_SETPOINT,
     1,
     350,
     NOW + 1,
     {0},
     SG_POL_ACCEPT,
     350},
    {"at lower bound",
     "dryer",
     "s1",
     SG_ACT_SETPOINT,
     1,
     100,
     NOW,
     {0},
     SG_POL_ACCEPT,
     100},
    {"above max",
     "dryer",
     "s1",
     SG_ACT_SETPOINT,
     1,
     401,
     NOW + 1,
     {0},
     SG_POL_OUT_OF_BOUNDS,
     0},
    {"below min",
     "dryer",
     "s1",
     SG_ACT_SETPOINT,
     1,
     99,
     NOW + 1,
     {0},
     SG_POL_OUT_OF_BOUNDS,
     0},
    {"nan", "dryer", "s1", SG_ACT_SETPOINT, 1, NAN, NOW + 1, {0}, SG_POL_BAD_VALUE, 0},
    /* the register must hold the value: a discharge in an unsigned register
     * would write 0, 45 kW in an int16 of W would saturate at 32.767 kW */
    {"negative into uint16",
     "pack",
     "s1",
     SG_ACT_SETPOINT,
     1,
     -200,
     NOW + 1,
     {0},
     SG_POL_BAD_VALUE,
     0},
    {"charge into uint16",
     "pack",
     "s1",
     SG_ACT_SETPOINT,
     1,
     200,
     NOW + 1,
     {0},
     SG_POL_ACCEPT,
     200},
    {"beyond int16 of W",
     "fan",
     "s1",
     SG_ACT_SETPOINT,
     1,
     45,
     NOW + 1,
     {0},
     SG_POL_BAD_VALUE,
     0},
    {"within int16 of W",
     "fan",
     "s1",
     SG_ACT_SETPOINT,
     1,
     32.5,
     NOW + 1,
     {0},
     SG_POL_ACCEPT,
     32.5},
    {"int16 rounds to its step",
     "fan",
     "s1",
     SG_ACT_SETPOINT,
     1,
     12.3454,
     NOW + 1,
     {0},
     SG_POL_ACCEPT,
     12.3454},
    {"no setpoint",
     "dryer",
     "s1",
     SG_ACT_SETPOINT,
     0,
     0,
     NOW + 1,
     {0},
     SG_POL_BAD_VALUE,
     0},
    {"expired",
     "dryer",
     "s1",
     SG_ACT_SETPOINT,
     1,
     350,
     NOW - 1,
     {0},
     SG_POL_EXPIRED,
     0},
    {"disabled",
     "advisory",
     "s1",
     SG_ACT_SETPOINT,
     1,
     10,
     NOW + 1,
     {0},
     SG_POL_DISABLED,
     0},
    {"unknown",
     "nope",
     "s1",
     SG_ACT_SETPOINT,
     1,
     10,
     NOW + 1,
     {0},
     SG_POL_UNKNOWN_EQUIPMENT,
     0},
    {"other site",
     "dryer",
     "s2",
     SG_ACT_SETPOINT,
     1,
     350,
     NOW + 1,
     {0},
     SG_POL_SITE_MISMATCH,
     0},
    {"duplicate",
     "dryer",
     "s1",
     SG_ACT_SETPOINT,
     1,
     350,
     NOW + 1,
     {.duplicate = true},
     SG_POL_DUPLICATE,
     0},
    {"override",
     "dryer",
     "s1",
     SG_ACT_SETPOINT,
     1,
     350,
     NOW + 1,
     {.override_locked = true},
     SG_POL_OVERRIDE,
     0},
    {"rate limited",
     "dryer",
     "s1",
     SG_ACT_SETPOINT,
     1,
     350,
     NOW + 1,
     {.has_last_write = true, .last_write_ms = NOW - 59999},
     SG_POL_RATE_LIMITED,
     0},
    {"rate ok",
     "dryer",
     "s1",
     SG_ACT_SETPOINT,
     1,
     350,
     NOW + 1,
     {.has_last_write = true, .last_write_ms = NOW - 60000},
     SG_POL_ACCEPT,
     350},
    {"stop writes zero",
     "dryer",
     "s1",
     SG_ACT_STOP,
     0,
     0,
     NOW + 1,
     {0},
     SG_POL_ACCEPT,
     0},
    {"start writes min",
     "dryer",
     "s1",
     SG_ACT_START,
     0,
     0,
     NOW + 1,
     {0},
     SG_POL_ACCEPT,
     100},
    {"start storage refused",
     "battery",
     "s1",
     SG_ACT_START,
     0,
     0,
     NOW + 1,
     {0},
     SG_POL_BAD_VALUE,
     0},
    {"discharge",
     "battery",
     "s1",
     SG_ACT_SETPOINT,
     1,
     -150,
     NOW + 1,
     {0},
     SG_POL_ACCEPT,
     -150},
    {"disabled beats bounds",
     "advisory",
     "s1",
     SG_ACT_SETPOINT,
     1,
     999,
     NOW + 1,
     {0},
     SG_POL_DISABLED,
     0},
    {"expired beats override",
     "dryer",
     "s1",
     SG_ACT_SETPOINT,
     1,
     350,
     NOW - 1,
     {.override_locked = true},
     SG_POL_EXPIRED,
     0},
    /* equipment with a start/stop coil: start and stop give the coil state */
    {"coil start on",
     "dryer",
     "s1",
     SG_ACT_START,
     0,
     0,
     NOW + 1,
     {.has_coil = true},
     SG_POL_ACCEPT,
     1},
    {"coil stop off",
     "dryer",
     "s1",
     SG_ACT_STOP,
     0,
     0,
     NOW + 1,
     {.has_coil = true},
     SG_POL_ACCEPT,
     0},
    {"coil start storage",
     "battery",
     "s1",
     SG_ACT_START,
     0,
     0,
     NOW + 1,
     {.has_coil = true},
     SG_POL_ACCEPT,
     1},
    {"coil setpoint still register",
     "dryer",
     "s1",
     SG_ACT_SETPOINT,
     1,
     250,
     NOW + 1,
     {.has_coil = true},
     SG_POL_ACCEPT,
     250},
    {"coil setpoint still bounded",
     "dryer",
     "s1",
     SG_ACT_SETPOINT,
     1,
     999,
     NOW + 1,
     {.has_coil = true},
     SG_POL_OUT_OF_BOUNDS,
     0},
    {"coil expired",
     "dryer",
     "s1",
     SG_ACT_START,
     0,
     0,
     NOW - 1,
     {.has_coil = true},
     SG_POL_EXPIRED,
     0},
    {"coil disabled",
     "advisory",
     "s1",
     SG_ACT_STOP,
     0,
     0,
     NOW + 1,
     {.has_coil = true},
     SG_POL_DISABLED,
     0},
    {"coil override",
     "dryer",
     "s1",
     SG_ACT_START,
     0,
     0,
     NOW + 1,
     {.has_coil = true, .override_locked = true},
     SG_POL_OVERRIDE,
     0},
    {"coil rate limited",
     "dryer",
     "s1",
     SG_ACT_STOP,
     0,
     0,
     NOW + 1,
     {.has_coil = true, .has_last_write = true, .last_write_ms = NOW - 1000},
     SG_POL_RATE_LIMITED,
     0},
    {"coil duplicate",
     "dryer",
     "s1",
     SG_ACT_START,
     0,
     0,
     NOW + 1,
     {.has_coil = true, .duplicate = true},
     SG_POL_DUPLICATE,
     0},
};

START_TEST(policy_table)
{
    const policy_case_t *tc = &cases[_i];
    sg_command_t cmd = {.command_id = "c1",
                        .site_id = tc->site,
                        .equipment_id = tc->equipment,
                        .action = tc->action,
                        .has_setpoint = tc->has_sp,
                        .setpoint_kw = tc->sp,
                        .issued_at_ms = NOW - 1000,
                        .valid_until_ms = tc->valid_until};
    char reason[256] = "";
    double v = -12345;
    sg_policy_result_t r =
        sg_policy_check(plant_equipment(plant, tc->equipment), &cmd, &tc->st, NOW,
                        60000, &v, reason, sizeof reason);
    ck_assert_msg(r == tc->want, "%s: got %s (%s), want %s", tc->name,
                  sg_policy_name(r), reason, sg_policy_name(tc->want));
    ck_assert_msg(reason[0] != '\0', "%s: empty reason", tc->name);
    if (r == SG_POL_ACCEPT)
        ck_assert_double_eq(v, tc->want_value);
    else
        ck_assert_double_eq(v, -12345); /* nothing to write */
}
END_TEST

/* A command from the future is a clock error, refused; a little skew is
 * allowed, since the issuer's clock is not the gateway's. */
START_TEST(issued_in_the_future_refused)
{
    const sg_control_state_t st = {0};
    sg_command_t cmd = {.command_id = "c1",
                        .site_id = "s1",
                        .equipment_id = "dryer",
                        .action = SG_ACT_SETPOINT,
                        .has_setpoint = true,
                        .setpoint_kw = 200,
                        .valid_until_ms = NOW + 10 * SG_POLICY_MAX_SKEW_MS};
    const plant_equipment_t *eq = plant_equipment(plant, "dryer");
    char reason[256];
    double v = -1;

    cmd.issued_at_ms = NOW + SG_POLICY_MAX_SKEW_MS + 1;
    ck_assert_int_eq(
        sg_policy_check(eq, &cmd, &st, NOW, 60000, &v, reason, sizeof reason),
        SG_POL_NOT_YET_ISSUED);
    ck_assert_msg(strstr(reason, "ahead of the gateway's clock"), "%s", reason);
    ck_assert_double_eq(v, -1);
    cmd.issued_at_ms = NOW + SG_POLICY_MAX_SKEW_MS;
    ck_assert_int_eq(
        sg_policy_check(eq, &cmd, &st, NOW, 60000, &v, reason, sizeof reason),
        SG_POL_ACCEPT);
    ck_assert_double_eq(v, 200);
}
END_TEST

/* ---- coil map (scada.control_coils) ---- */

typedef struct coil_case {
    const char *name;
    const char *kv[7];
    int ok;
    int want[3]; /* dryer, battery, advisory */
    const char *err;
} coil_case_t;

static const coil_case_t coil_cases[] = {
    {"none", {NULL}, 1, {-1, -1, -1}, NULL},
    {"two", {"dryer", "7", "battery", "0", NULL}, 1, {7, 0, -1}, NULL},
    {"same address, other unit",
     {"dryer", "5", "battery", "5", NULL},
     1,
     {5, 5, -1},
     NULL},
    {"max address", {"battery", "65535", NULL}, 1, {-1, 65535, -1}, NULL},
    {"unknown equipment", {"kiln", "3", NULL}, 0, {0}, "'kiln': no such equipment"},
    {"no setpoint device", {"advisory", "3", NULL}, 0, {0}, "no setpoint device"},
    {"not a number", {"dryer", "x1", NULL}, 0, {0}, "'x1' is not an integer"},
    {"negative", {"dryer", "-1", NULL}, 0, {0}, "is not an integer 0..65535"},
    {"too large", {"dryer", "65536", NULL}, 0, {0}, "is not an integer 0..65535"},
    {"empty", {"dryer", "", NULL}, 0, {0}, "is not an integer"},
};

static const char coil_model[] =
    "sites:\n"
    "  - id: s1\n"
    "    timezone: Europe/Amsterdam\n"
    "    market: NL\n"
    "    contracted_import_kw: 1000\n"
    "meters: []\n"
    "equipment:\n"
    "  - id: kiln-a\n    site: s1\n    kind: generic\n    control_enabled: true\n"
    "    setpoint: {host: 127.0.0.1, port: 15020, unit_id: 3, address: 100, data_type: "
    "float32}\n"
    "    power_max_kw: 10\n"
    "  - id: kiln-b\n    site: s1\n    kind: generic\n    control_enabled: true\n"
    "    setpoint: {host: 127.0.0.1, port: 15020, unit_id: 3, address: 102, data_type: "
    "float32}\n"
    "    power_max_kw: 10\n";

START_TEST(coil_map_table)
{
    const coil_case_t *tc = &coil_cases[_i];
    size_t n = 0;
    while (tc->kv[2 * n])
        n++;
    cfg_strmap_t m = {.n = n, .kv = tc->kv};
    int addr[5] = {99, 99, 99, 99, 99}; /* dryer, battery, advisory, pack, fan */
    char err[256] = "";
    int rc = sg_coil_map(plant, &m, addr, err, sizeof err);
    if (!tc->ok) {
        ck_assert_msg(rc == -1, "%s: accepted", tc->name);
        ck_assert_msg(strstr(err, tc->err) && strstr(err, "scada.control_coils"),
                      "%s: '%s' lacks '%s'", tc->name, err, tc->err);
        return;
    }
    ck_assert_msg(rc == 0, "%s: %s", tc->name, err);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(addr[i] == (i < 3 ? tc->want[i] : -1),
                      "%s: equipment %d coil %d, want %d", tc->name, i, addr[i],
                      i < 3 ? tc->want[i] : -1);
}
END_TEST

START_TEST(coil_shared_on_one_device_refused)
{
    const char *kv[] = {"kiln-a", "4", "kiln-b", "4", NULL};
    const char *ok[] = {"kiln-a", "4", "kiln-b", "5", NULL};
    cfg_strmap_t m = {.n = 2, .kv = kv}, m2 = {.n = 2, .kv = ok};
    int addr[2];
    char err[256] = "";
    plant_t *p =
        plant_load_string("coil.yaml", coil_model, strlen(coil_model), err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(sg_coil_map(p, &m, addr, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "'kiln-b': coil 4 of 127.0.0.1:15020/3 is already used "
                              "by 'kiln-a'"),
                  "%s", err);
    ck_assert_int_eq(sg_coil_map(p, &m2, addr, err, sizeof err), 0);
    ck_assert_int_eq(addr[0], 4);
    ck_assert_int_eq(addr[1], 5);
    plant_destroy(p);
}
END_TEST

/* ---- schedule ---- */

START_TEST(backoff_doubles_and_caps)
{
    static const struct {
        int f;
        int64_t want;
    } t[] = {{1, 500},   {2, 1000},  {3, 2000},  {4, 4000},
             {6, 16000}, {7, 30000}, {60, 30000}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        ck_assert_int_eq(sg_backoff_ms(t[i].f, 500, 30000), t[i].want);
}
END_TEST

START_TEST(sched_grid_and_missed)
{
    sg_sched_t s;
    sg_sched_init(&s, 1000, 10000, 250);
    ck_assert_int_eq(s.next_ms, 10250);
    ck_assert(!sg_sched_due(&s, 10249));
    ck_assert(sg_sched_due(&s, 10250));
    sg_sched_success(&s, 10300);
    ck_assert_int_eq(s.next_ms, 11250); /* on the grid, not now + period */
    ck_assert_int_eq(s.missed, 0);
    sg_sched_success(&s, 13600); /* late by more than two periods */
    ck_assert_int_eq(s.next_ms, 14250);
    ck_assert_int_eq(s.missed, 2);
}
END_TEST

START_TEST(sched_failure_backs_off_then_recovers)
{
    sg_sched_t s;
    sg_sched_init(&s, 1000, 0, 0);
    sg_sched_failure(&s, 100, 500, 8000);
    ck_assert_int_eq(s.failures, 1);
    ck_assert_int_eq(s.next_ms, 1100); /* never sooner than the period */
    sg_sched_failure(&s, 1100, 500, 8000);
    sg_sched_failure(&s, 3100, 500, 8000);
    ck_assert_int_eq(s.next_ms, 3100 + 2000);
    for (int i = 0; i < 10; i++)
        sg_sched_failure(&s, 10000, 500, 8000);
    ck_assert_int_eq(s.next_ms, 18000);
    sg_sched_success(&s, 18000);
    ck_assert_int_eq(s.failures, 0);
    ck_assert_int_eq(s.next_ms, 19000);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scada_policy");
    TCase *tp = tcase_create("policy"), *ts = tcase_create("sched");
    tcase_add_checked_fixture(tp, setup, teardown);
    tcase_add_loop_test(tp, policy_table, 0, sizeof cases / sizeof cases[0]);
    tcase_add_test(tp, issued_in_the_future_refused);
    tcase_add_loop_test(tp, coil_map_table, 0,
                        sizeof coil_cases / sizeof coil_cases[0]);
    tcase_add_test(tp, coil_shared_on_one_device_refused);
    tcase_add_test(ts, backoff_doubles_and_caps);
    tcase_add_test(ts, sched_grid_and_missed);
    tcase_add_test(ts, sched_failure_backs_off_then_recovers);
    suite_add_tcase(s, tp);
    suite_add_tcase(s, ts);
    return th_run_suite(s, 0);
}
