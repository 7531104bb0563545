/*
 * The scada-gateway's Modbus side on any register words a device answers:
 * a meter's read plan (sg_plan_blocks), its words decoded and scaled
 * (sg_decode_meter, plant_register_decode), the energy counter folded
 * (sg_counter_update) and the reading's quality assessed, as poller.c does
 * for each poll. The meters cover every data type, word and byte order.
 * Input: a selector byte (the meter), then the words (big-endian pairs of
 * bytes, repeated to fill the blocks), then twice more for a second poll.
 */
#include <stdlib.h>
#include <string.h>

#include "fz.h"
#include "plant/plant.h"
#include "scada-gateway/norm.h"
#include "scada-gateway/quality.h"

#define METER(id, unit, regs)                                                          \
    "  - id: " id "\n    site: s1\n    kind: sub\n"                                    \
    "    device: {host: 127.0.0.1, port: 1502, unit_id: " unit "}\n"                   \
    "    poll_period_ms: 1000\n    power_range_kw: [-500, 5000]\n    "                 \
    "registers:\n" regs

static const char plant_yaml[] =
    "sites:\n  - id: s1\n    timezone: Europe/Amsterdam\n    market: NL\n"
    "    contracted_import_kw: 1000\n"
    "meters:\n" METER(
        "m-big", "1",
        "      - {quantity: power_kw, type: holding, address: 0, data_type: int32, "
        "unit: W}\n"
        "      - {quantity: energy_kwh, type: holding, address: 2, data_type: uint32, "
        "scale: 0.1, unit: kWh}\n"
        "      - {quantity: voltage_v, type: holding, address: 4, data_type: uint16, "
        "scale: "
        "0.1, unit: V}\n"
        "      - {quantity: current_a, type: input, address: 0, data_type: int16, "
        "scale: "
        "0.01, offset: -1}\n"
        "      - {quantity: frequency_hz, type: input, address: 7, data_type: "
        "float32}\n"
        "      - {quantity: power_factor, type: input, address: 9, data_type: int16, "
        "scale: 0.001}\n")
        METER("m-little", "2",
              "      - {quantity: power_kw, type: input, address: 0, "
              "data_type: float64, word_order: little, byte_order: "
              "little, unit: MW}\n"
              "      - {quantity: energy_kwh, type: input, address: 4, "
              "data_type: uint64, word_order: little, unit: Wh}\n"
              "      - {quantity: voltage_v, type: holding, address: 100, "
              "data_type: float32, byte_order: little, unit: kV}\n")
            METER("m-float", "3",
                  "      - {quantity: power_kw, type: holding, address: 0, data_type: "
                  "float32, "
                  "word_order: little}\n"
                  "      - {quantity: energy_kwh, type: holding, address: 2, "
                  "data_type: float64, "
                  "unit: MWh}\n");

static const plant_t *fuzz_plant(void)
{
    static plant_t *plant;
    char err[512];

    if (!plant && !(plant = plant_load_string("plant.yaml", plant_yaml,
                                              strlen(plant_yaml), err, sizeof err)))
        fz_fail("the fuzz plant", err);
    return plant;
}

/* Fills the blocks' words from data, cycling; no data leaves them zero. */
static void fill(sg_block_t *blocks, int n, const uint8_t *data, size_t size,
                 size_t *at)
{
    for (int b = 0; b < n; b++)
        for (int w = 0; w < blocks[b].count; w++) {
            uint16_t word = 0;
            if (size >= 2) {
                word = (uint16_t)(data[*at % size] << 8 | data[(*at + 1) % size]);
                *at += 2;
            }
            blocks[b].words[w] = word;
        }
}

/* One poll of m with words from data into c and st. */
static void poll_once(const plant_meter_t *m, sg_block_t *blocks, int n,
                      const uint8_t *data, size_t size, size_t *at, sg_counter_t *c,
                      sg_stale_t *st, int64_t now)
{
    const plant_register_t *energy = plant_meter_register(m, PLANT_Q_ENERGY_KWH);
    sg_counter_event_t ev = SG_CNT_OK;
    sg_reading_t r;
    uint64_t hash;
    double total;

    memset(&r, 0, sizeof r);
    fill(blocks, n, data, size, at);
    sg_decode_meter(m, blocks, n, &r, &hash);
    if (energy && (r.has & (1u << PLANT_Q_ENERGY_KWH)))
        ev = sg_counter_update(c, r.v[PLANT_Q_ENERGY_KWH], sg_counter_wrap_kwh(energy),
                               &total);
    sg_quality_assess(m, &r, st, hash, ev, now, 300000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sg_block_t blocks[SG_MAX_BLOCKS];
    const plant_t *plant = fuzz_plant();
    const plant_meter_t *m;
    sg_counter_t c = {0};
    sg_stale_t st = {0};
    size_t at = 0;
    int n;

    if (size < 1)
        return 0;
    m = plant_meter_at(plant, data[0] % plant_meter_count(plant));
    if ((n = sg_plan_blocks(m, 4, blocks, SG_MAX_BLOCKS)) < 0)
        abort(); /* the fuzz plant's meters fit */
    data++, size--;
    poll_once(m, blocks, n, data, size, &at, &c, &st, FZ_NOW_MS);
    poll_once(m, blocks, n, data, size, &at, &c, &st, FZ_NOW_MS + 1000);
    return 0;
}
