/* Unit tests of the scada-gateway's MQTT mapping: topic filters, topic to
 * meter, payload fields to quantities with unit conversion and time, and
 * the reasons garbage payloads are rejected with. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scada-gateway/mqtt_map.h"
#include "support/harness.h"

static const char plant_yaml[] =
    "sites:\n  - id: s1\n    timezone: Europe/Amsterdam\n    market: NL\n"
    "    contracted_import_kw: 1000\n"
    "meters:\n"
    "  - id: edge-1\n    site: s1\n    kind: sub\n"
    "    device: {host: 127.0.0.1, port: 1502, unit_id: 1}\n"
    "    poll_period_ms: 1000\n    power_range_kw: [0, 500]\n    registers:\n"
    "      - {quantity: power_kw, type: holding, address: 0, data_type: float32}\n"
    "  - id: edge-2\n    site: s1\n    kind: sub\n"
    "    device: {host: 127.0.0.1, port: 1502, unit_id: 2}\n"
    "    poll_period_ms: 1000\n    registers:\n"
    "      - {quantity: power_kw, type: holding, address: 0, data_type: float32}\n"
    "  - id: modbus-3\n    site: s1\n    kind: sub\n"
    "    device: {host: 127.0.0.1, port: 1502, unit_id: 3}\n"
    "    poll_period_ms: 1000\n    registers:\n"
    "      - {quantity: power_kw, type: holding, address: 0, data_type: float32}\n";

static plant_t *plant;
static char errstr[512];

static void setup(void)
{
    plant = plant_load_string("plant.yaml", plant_yaml, strlen(plant_yaml), errstr,
                              sizeof errstr);
    ck_assert_msg(plant != NULL, "%s", errstr);
}

static void teardown(void)
{
    plant_destroy(plant);
}

/* edge/<meter>/data -> by level; plant/line1/press -> edge-1 */
static sg_mqtt_map_t *standard_map(void)
{
    static const char *topics_kv[] = {"plant/line1/press", "edge-1", "edge/+/data",
                                      "$2", NULL};
    static const char *fields_kv[] = {"power_kw",     "P:W",       "energy_kwh",
                                      "meter.E:Wh",   "voltage_v", "U",
                                      "power_factor", "pf:%",      NULL};
    static const char *meters[] = {"edge-2", NULL};
    cfg_strmap_t topics = {.n = 2, .kv = topics_kv};
    cfg_strmap_t fields = {.n = 4, .kv = fields_kv};
    cfg_strlist_t list = {.n = 1, .items = meters};
    sg_mqtt_map_t *m =
        sg_mqtt_map_new(plant, &topics, &fields, &list, "ts", errstr, sizeof errstr);
    ck_assert_msg(m != NULL, "%s", errstr);
    return m;
}

static const struct {
    const char *filter, *topic;
    bool match;
} filters[] = {
    {"a/b", "a/b", true},    {"a/b", "a/c", false},    {"a/+", "a/b", true},
    {"a/+", "a/b/c", false}, {"a/+/c", "a/x/c", true}, {"a/#", "a/b/c", true},
    {"a/#", "a", true},      {"#", "a/b", true},       {"+/b", "a/b", true},
    {"+", "$SYS", false},    {"#", "$SYS/x", false},   {"a/b", "a/b/", false},
    {"a/+", "a/", true},     {"a/bc", "a/b", false},
};

START_TEST(topic_filters_follow_mqtt_rules)
{
    ck_assert_msg(sg_mqtt_topic_matches(filters[_i].filter, filters[_i].topic) ==
                      filters[_i].match,
                  "'%s' vs '%s'", filters[_i].filter, filters[_i].topic);
}
END_TEST

static const struct {
    const char *topic, *meter, *why;
} topics[] = {
    {"plant/line1/press", "edge-1", NULL},
    {"edge/edge-2/data", "edge-2", NULL},
    {"edge/edge-1/data", "edge-1", NULL},
    {"edge/modbus-3/data", NULL, "not fed over MQTT"},
    {"edge/nope/data", NULL, "no meter 'nope'"},
    {"other/topic", NULL, "matches no mqtt_topics row"},
};

START_TEST(topic_maps_to_meter)
{
    char reason[256] = "";
    sg_mqtt_map_t *m = standard_map();
    const plant_meter_t *meter =
        sg_mqtt_map_meter(m, topics[_i].topic, reason, sizeof reason);
    if (topics[_i].meter) {
        ck_assert_msg(meter != NULL, "%s: %s", topics[_i].topic, reason);
        ck_assert_str_eq(meter->id, topics[_i].meter);
    } else {
        ck_assert_ptr_null(meter);
        ck_assert_msg(strstr(reason, topics[_i].why) != NULL, "'%s' lacks '%s'", reason,
                      topics[_i].why);
    }
    ck_assert(sg_mqtt_map_feeds(m, "edge-1") && sg_mqtt_map_feeds(m, "edge-2"));
    ck_assert(!sg_mqtt_map_feeds(m, "modbus-3")); /* still polled over Modbus */
    ck_assert_uint_eq(sg_mqtt_map_count(m), 2);
    sg_mqtt_map_destroy(m);
}
END_TEST

START_TEST(payload_fields_to_canonical_units)
{
    const char *p = "{\"P\": 12500, \"meter\": {\"E\": 2500000}, \"U\": 231.5,"
                    " \"pf\": 95, \"other\": \"ignored\", \"ts\": 1767225600250}";
    sg_reading_t r;
    char reason[256];
    sg_mqtt_map_t *m = standard_map();
    const plant_meter_t *meter = plant_meter(plant, "edge-1");
    ck_assert_int_eq(
        sg_mqtt_map_payload(m, meter, p, strlen(p), 42, &r, reason, sizeof reason), 0);
    ck_assert_str_eq(r.meter_id, "edge-1");
    ck_assert_str_eq(r.site_id, "s1");
    ck_assert_int_eq(r.source, SG_SRC_MQTT);
    ck_assert_int_eq(r.ts_ms, 1767225600250LL);
    ck_assert_double_eq_tol(r.v[PLANT_Q_POWER_KW], 12.5, 1e-12);
    ck_assert_double_eq_tol(r.v[PLANT_Q_ENERGY_KWH], 2500, 1e-9);
    ck_assert_double_eq_tol(r.v[PLANT_Q_VOLTAGE_V], 231.5, 1e-12);
    ck_assert_double_eq_tol(r.v[PLANT_Q_POWER_FACTOR], 0.95, 1e-12);
    ck_assert_uint_eq(r.has, (1u << PLANT_Q_POWER_KW) | (1u << PLANT_Q_ENERGY_KWH) |
                                 (1u << PLANT_Q_VOLTAGE_V) |
                                 (1u << PLANT_Q_POWER_FACTOR));
    sg_mqtt_map_destroy(m);
}
END_TEST

static const struct {
    const char *payload;
    int64_t ts;
} times[] = {
    {"{\"P\": 1}", 42}, /* none: the receive time */
    {"{\"P\": 1, \"ts\": null}", 42},
    {"{\"P\": 1, \"ts\": \"2026-01-01T00:00:00Z\"}", 1767225600000LL},
    {"{\"P\": 1, \"ts\": \"2026-01-01T00:00:00.25Z\"}", 1767225600250LL},
    {"{\"P\": 1, \"ts\": \"2026-07-01T12:30:15.123456Z\"}", 1782909015123LL},
    {"{\"P\": 1, \"ts\": 1767225600000.4}", 1767225600000LL},
};

START_TEST(payload_time)
{
    sg_reading_t r;
    char reason[256];
    sg_mqtt_map_t *m = standard_map();
    ck_assert_int_eq(sg_mqtt_map_payload(m, plant_meter(plant, "edge-2"),
                                         times[_i].payload, strlen(times[_i].payload),
                                         42, &r, reason, sizeof reason),
                     0);
    ck_assert_int_eq(r.ts_ms, times[_i].ts);
    sg_mqtt_map_destroy(m);
}
END_TEST

/* The gateway passes SG_MQTT_NO_TIME as the receive time and tells a
 * payload without a time by it coming back: it used to pass the receive time
 * and compare, so a payload time equal to it (stamped and sent within the
 * millisecond) was taken for none and escaped the redelivery check. */
START_TEST(payload_without_time_is_told_by_the_marker)
{
    sg_reading_t r;
    char reason[256];
    const char *timed = "{\"P\": 1, \"ts\": 1767225600250}", *untimed = "{\"P\": 1}";
    sg_mqtt_map_t *m = standard_map();
    const plant_meter_t *meter = plant_meter(plant, "edge-2");
    ck_assert_int_eq(sg_mqtt_map_payload(m, meter, timed, strlen(timed),
                                         SG_MQTT_NO_TIME, &r, reason, sizeof reason),
                     0);
    ck_assert_int_eq(r.ts_ms, 1767225600250LL);
    ck_assert_int_eq(sg_mqtt_map_payload(m, meter, untimed, strlen(untimed),
                                         SG_MQTT_NO_TIME, &r, reason, sizeof reason),
                     0);
    ck_assert(r.ts_ms == SG_MQTT_NO_TIME);
    sg_mqtt_map_destroy(m);
}
END_TEST

static const struct {
    const char *payload, *why;
} garbage[] = {
    {"", "not JSON"},
    {"\x01\x02\xff binary", "not JSON"},
    {"{\"P\": 12", "not JSON"},
    {"[1, 2]", "not a JSON object"},
    {"42", "not a JSON object"},
    {"{\"P\": \"12.5\"}", "field 'P' (power_kw) is not a number"},
    {"{\"P\": true}", "field 'P' (power_kw) is not a number"},
    {"{\"meter\": {\"E\": [1]}}", "field 'meter.E' (energy_kwh) is not a number"},
    {"{\"x\": 1}", "no mapped field"},
    {"{\"P\": null}", "no mapped field"},
    {"{\"P\": 1, \"ts\": \"yesterday\"}", "field 'ts'"},
    {"{\"P\": 1, \"ts\": \"2026-13-01T00:00:00Z\"}", "field 'ts'"},
    {"{\"P\": 1, \"ts\": \"2026-01-01T00:00:00+01:00\"}", "field 'ts'"},
    {"{\"P\": 1, \"ts\": -5}", "field 'ts'"},
    {"{\"P\": 1, \"P\": 2}", "not JSON"},
};

START_TEST(garbage_payload_rejected_with_reason)
{
    sg_reading_t r;
    char reason[256] = "";
    sg_mqtt_map_t *m = standard_map();
    const char *p = garbage[_i].payload;
    ck_assert_int_eq(sg_mqtt_map_payload(m, plant_meter(plant, "edge-1"), p, strlen(p),
                                         42, &r, reason, sizeof reason),
                     -1);
    ck_assert_msg(strstr(reason, garbage[_i].why) != NULL, "'%s': '%s' lacks '%s'", p,
                  reason, garbage[_i].why);
    sg_mqtt_map_destroy(m);
}
END_TEST

START_TEST(default_fields_are_quantity_names)
{
    static const char *topics_kv[] = {"t/#", "edge-2", NULL};
    cfg_strmap_t t = {.n = 1, .kv = topics_kv};
    const char *p = "{\"power_kw\": 3.5, \"frequency_hz\": 49.98, \"current_a\": 7}";
    sg_reading_t r;
    char reason[256];
    sg_mqtt_map_t *m =
        sg_mqtt_map_new(plant, &t, NULL, NULL, NULL, errstr, sizeof errstr);
    ck_assert_msg(m != NULL, "%s", errstr);
    ck_assert_int_eq(sg_mqtt_map_payload(m, plant_meter(plant, "edge-2"), p, strlen(p),
                                         7, &r, reason, sizeof reason),
                     0);
    ck_assert_double_eq(r.v[PLANT_Q_POWER_KW], 3.5);
    ck_assert_double_eq(r.v[PLANT_Q_FREQUENCY_HZ], 49.98);
    ck_assert_double_eq(r.v[PLANT_Q_CURRENT_A], 7);
    ck_assert_int_eq(r.ts_ms, 7);
    sg_mqtt_map_destroy(m);
}
END_TEST

static const struct {
    const char *topic, *meter, *field_q, *field_spec, *why;
} bad_maps[] = {
    {"a/+/b", "nope", NULL, NULL, "meter 'nope' is not in the plant model"},
    {"a/b+", "edge-1", NULL, NULL, "not a valid MQTT topic filter"},
    {"a/#/b", "edge-1", NULL, NULL, "not a valid MQTT topic filter"},
    {"a/+", "$3", NULL, NULL, "must be $N"},
    {"a/+", "$x", NULL, NULL, "must be $N"},
    {"a/+", "$2", "power", "P", "'power' is not a quantity"},
    {"a/+", "$2", "power_kw", "P:Wh", "with a unit of power_kw"},
    {"a/+", "$2", "voltage_v", ":V", "with a unit of voltage_v"},
};

START_TEST(bad_map_refused_with_reason)
{
    const char *tkv[] = {bad_maps[_i].topic, bad_maps[_i].meter, NULL};
    const char *fkv[] = {bad_maps[_i].field_q, bad_maps[_i].field_spec, NULL};
    cfg_strmap_t t = {.n = 1, .kv = tkv},
                 f = {.n = bad_maps[_i].field_q ? 1 : 0, .kv = fkv};
    errstr[0] = '\0';
    ck_assert_ptr_null(
        sg_mqtt_map_new(plant, &t, &f, NULL, "ts", errstr, sizeof errstr));
    ck_assert_msg(strstr(errstr, bad_maps[_i].why) != NULL, "'%s' lacks '%s'", errstr,
                  bad_maps[_i].why);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scada_mqtt");
    TCase *tc = tcase_create("map");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, topic_filters_follow_mqtt_rules, 0,
                        sizeof filters / sizeof filters[0]);
    tcase_add_loop_test(tc, topic_maps_to_meter, 0, sizeof topics / sizeof topics[0]);
    tcase_add_test(tc, payload_fields_to_canonical_units);
    tcase_add_test(tc, payload_without_time_is_told_by_the_marker);
    tcase_add_loop_test(tc, payload_time, 0, sizeof times / sizeof times[0]);
    tcase_add_loop_test(tc, garbage_payload_rejected_with_reason, 0,
                        sizeof garbage / sizeof garbage[0]);
    tcase_add_test(tc, default_fields_are_quantity_names);
    tcase_add_loop_test(tc, bad_map_refused_with_reason, 0,
                        sizeof bad_maps / sizeof bad_maps[0]);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
