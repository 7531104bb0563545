/*
 * coil: the equipment -> coil map (see coil.h).
 */
#include "scada-gateway/coil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_address(const char *s)
{
    char *end;
    long v;
    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    return errno || *end || v < 0 || v > 65535 ? -1 : (int)v;
}

static int equipment_index(const plant_t *p, const char *id)
{
    for (size_t i = 0; i < plant_equipment_count(p); i++)
        if (strcmp(plant_equipment_at(p, i)->id, id) == 0)
            return (int)i;
    return -1;
}

static bool same_device(const plant_device_t *a, const plant_device_t *b)
{
    return a->port == b->port && a->unit_id == b->unit_id &&
           strcmp(a->host, b->host) == 0;
}

/* The equipment already holding coil address on eq's device, or NULL. */
static const plant_equipment_t *coil_taken(const plant_t *p, const int *addr,
                                           const plant_equipment_t *eq, int address)
{
    for (size_t i = 0; i < plant_equipment_count(p); i++) {
        const plant_equipment_t *o = plant_equipment_at(p, i);
        if (addr[i] == address && o != eq &&
            same_device(&o->setpoint_device, &eq->setpoint_device))
            return o;
    }
    return NULL;
}

int sg_coil_map(const plant_t *plant, const cfg_strmap_t *coils, int *addr,
                char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < plant_equipment_count(plant); i++)
        addr[i] = -1;
    for (size_t k = 0; k < coils->n; k++) {
        const char *id = coils->kv[2 * k], *val = coils->kv[2 * k + 1];
        int i = equipment_index(plant, id), a = parse_address(val);
        if (i < 0) {
            snprintf(errstr, errstr_size,
                     "scada.control_coils: '%s': no such equipment in the plant model",
                     id);
            return -1;
        }
        const plant_equipment_t *eq = plant_equipment_at(plant, (size_t)i);
        if (!eq->has_setpoint) {
            snprintf(errstr, errstr_size,
                     "scada.control_coils: '%s': equipment has no setpoint device for "
                     "its coil",
                     id);
            return -1;
        }
        if (a < 0) {
            snprintf(errstr, errstr_size,
                     "scada.control_coils: '%s': coil address '%s' is not an integer "
                     "0..65535",
                     id, val ? val : "");
            return -1;
        }
        const plant_equipment_t *o = coil_taken(plant, addr, eq, a);
        if (o) {
            snprintf(
                errstr, errstr_size,
                "scada.control_coils: '%s': coil %d of %s:%d/%d is already used by "
                "'%s'",
                id, a, eq->setpoint_device.host, eq->setpoint_device.port,
                eq->setpoint_device.unit_id, o->id);
            return -1;
        }
        addr[i] = a;
    }
    return 0;
}
