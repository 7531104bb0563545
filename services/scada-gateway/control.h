/*
 * control: the control path. Consumes energy.control.commands, decides with
 * the pure policy (policy.h), writes the setpoint (or switches the start/stop
 * coil, coil.h) over Modbus only when it allows, reads it back to verify,
 * and records one audit event per command
 * (success, denied with the refusal reason, or failure when the write or the
 * verification failed). Offsets are acknowledged after the batch is audited.
 *
 * Main thread only (Modbus writes block for at most the response timeout).
 */
#ifndef EMS_SCADA_CONTROL_H
#define EMS_SCADA_CONTROL_H

#include <stddef.h>

#include "scada-gateway/gw.h"
#include "scada-gateway/policy.h"
#include "scada-gateway/state.h"
#include "svc/svc.h"

typedef struct sg_control sg_control_t;

/* Subscribes to energy.control.commands. Executed command ids are kept in
 * state (borrowed), saved before each write. Returns NULL with errstr. */
sg_control_t *sg_control_new(svc_t *svc, const sg_conf_t *conf, sg_state_t *state,
                             char *errstr, size_t errstr_size);
/* Handles the commands that arrived within timeout_ms. Returns 0 or -1. */
int sg_control_step(sg_control_t *c, int timeout_ms, char *errstr, size_t errstr_size);
/* Closes the consumer and the Modbus connections. NULL is a no-op. */
void sg_control_destroy(sg_control_t *c);

/* Reads a command record into cmd (strings borrowed from the value).
 * Returns 0 or -1 when a field is missing. */
int sg_command_from_avro(avro_value_t *v, sg_command_t *cmd, const char **reason);

#endif
