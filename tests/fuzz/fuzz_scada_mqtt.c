/*
 * The scada-gateway's MQTT input on any message: the topic mapped to a
 * meter (sg_mqtt_map_meter), the JSON payload read into a reading
 * (sg_mqtt_map_payload: fields, nested paths, units, time as ms or RFC
 * 3339), then the counter folded and the quality assessed, as mqtt_in.c
 * does. Two maps: one with field rows, units and a time field, one with
 * the defaults. Input: a selector byte (the map), the topic up to the
 * first NUL byte, then the payload.
 */
#include <stdlib.h>
#include <string.h>

#include "fz.h"
#include "plant/plant.h"
#include "scada-gateway/mqtt_map.h"
#include "scada-gateway/norm.h"
#include "scada-gateway/quality.h"

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
    "      - {quantity: power_kw, type: holding, address: 0, data_type: float32}\n";

static sg_mqtt_map_t *maps[2];

static void setup(void)
{
    static const char *topics_kv[] = {"plant/line1/press", "edge-1", "edge/+/data",
                                      "$2", NULL};
    static const char *fields_kv[] = {
        "power_kw",     "P:W",       "energy_kwh", "meter.E:Wh",   "voltage_v",
        "U:kV",         "current_a", "I:kA",       "frequency_hz", "f",
        "power_factor", "pf:%",      NULL};
    static const char *meters[] = {"edge-2", NULL};
    static const char *default_kv[] = {"t/#", "edge-2", NULL};
    const cfg_strmap_t topics = {.n = 2, .kv = topics_kv};
    const cfg_strmap_t fields = {.n = 6, .kv = fields_kv};
    const cfg_strmap_t defaults = {.n = 1, .kv = default_kv};
    const cfg_strlist_t list = {.n = 1, .items = meters};
    char err[512];
    plant_t *plant = plant_load_string("plant.yaml", plant_yaml, strlen(plant_yaml),
                                       err, sizeof err);

    if (!plant)
        fz_fail("the fuzz plant", err);
    if (!(maps[0] =
              sg_mqtt_map_new(plant, &topics, &fields, &list, "ts", err, sizeof err)) ||
        !(maps[1] =
              sg_mqtt_map_new(plant, &defaults, NULL, NULL, NULL, err, sizeof err)))
        fz_fail("the fuzz MQTT maps", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const sg_mqtt_map_t *map;
    const plant_meter_t *meter;
    const uint8_t *nul;
    sg_counter_t c = {0};
    sg_stale_t st = {0};
    sg_reading_t r;
    char reason[256], *topic;
    double total;

    if (!maps[0])
        setup();
    if (size < 1 || !(nul = memchr(data + 1, 0, size - 1)))
        return 0;
    map = maps[data[0] & 1];
    topic = fz_strndup(data + 1, (size_t)(nul - data - 1));
    meter = sg_mqtt_map_meter(map, topic, reason, sizeof reason);
    free(topic);
    if (!meter)
        return 0;
    nul++;
    if (sg_mqtt_map_payload(map, meter, nul, size - (size_t)(nul - data), FZ_NOW_MS, &r,
                            reason, sizeof reason))
        return 0;
    if (r.has & (1u << PLANT_Q_ENERGY_KWH))
        sg_counter_update(&c, r.v[PLANT_Q_ENERGY_KWH], 0, &total);
    sg_quality_assess(meter, &r, &st, 0, SG_CNT_OK, FZ_NOW_MS, 300000);
    return 0;
}
