/*
 * The scada-gateway's control commands as they come off the bus: a record
 * of energy.control.commands decoded by the bus, read by
 * sg_command_from_avro() and judged by sg_policy_check() against the
 * equipment it names in the stack's plant model (tools/stack/plant.yaml),
 * as control.c does before anything is written to a device. Input: the
 * record's wire bytes.
 */
#include <math.h>
#include <stdlib.h>

#include "fz.h"
#include "plant/plant.h"
#include "scada-gateway/control.h"
#include "scada-gateway/policy.h"

static const plant_t *stack_plant(void)
{
    static plant_t *plant;
    char err[512];
    size_t len;
    char *text;

    if (plant)
        return plant;
    text = fz_slurp("tools/stack/plant.yaml", &len);
    plant = plant_load_string("plant.yaml", text, len, err, sizeof err);
    free(text);
    if (!plant)
        fz_fail("tools/stack/plant.yaml", err);
    return plant;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const sg_control_state_t st = {.has_last_write = true,
                                   .last_write_ms = FZ_NOW_MS - 60000};
    const plant_t *plant = stack_plant();
    const char *why = NULL;
    sg_command_t cmd;
    avro_value_t v;
    char reason[512];
    double value = NAN;
    int native;

    if (fz_decode(fz_topic("energy.control.commands"), data, size, &v, &native))
        return 0;
    if (sg_command_from_avro(&v, &cmd, &why) == 0) {
        const plant_equipment_t *eq =
            cmd.equipment_id ? plant_equipment(plant, cmd.equipment_id) : NULL;
        sg_policy_check(eq, &cmd, &st, FZ_NOW_MS, 30000, &value, reason, sizeof reason);
    }
    avro_value_decref(&v);
    return 0;
}
