/*
 * coil: which equipment is started and stopped through a Modbus coil.
 * Pure: no I/O.
 *
 * The plant model has no key for a coil, so the gateway's own setting
 * scada.control_coils maps an equipment id to a coil address (0..65535) on
 * the equipment's setpoint device (host, port, unit id). For such equipment
 * start switches the coil on and stop switches it off (function 5, read back
 * with function 1); setpoint commands still write the setpoint register.
 */
#ifndef EMS_SCADA_COIL_H
#define EMS_SCADA_COIL_H

#include <stddef.h>

#include "config/config.h"
#include "plant/plant.h"

/* Reads the map into addr, one entry per plant equipment (by
 * plant_equipment_at() index): the coil address, or -1 when none. Refuses
 * an unknown equipment id, equipment without a setpoint device, an address
 * that is not an integer 0..65535, and two equipment sharing one coil of one
 * device. Returns 0, or -1 with errstr naming the entry. */
int sg_coil_map(const plant_t *plant, const cfg_strmap_t *coils, int *addr,
                char *errstr, size_t errstr_size);

#endif
