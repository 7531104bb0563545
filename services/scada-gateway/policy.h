/*
 * policy: may a control command be written to the plant? Pure: the caller
 * supplies the equipment from the plant model, the equipment's control state
 * and the time.
 *
 * Checks, in order (the first failing one is the reason): command already
 * executed (duplicate), unknown equipment, site mismatch, control disabled in
 * the plant model, no setpoint register, command expired (now > valid_until)
 * or not yet issued (issued_at after valid_until, or more than
 * SG_POLICY_MAX_SKEW_MS after now: a command from the future is a clock
 * error, not an order to act now), a missing or non-finite setpoint, value
 * outside [power_min_kw, power_max_kw], a value the setpoint register's data
 * type cannot hold (encoding rounds and saturates: -200 kW in an unsigned
 * register would write 0, a stop, and the read-back would agree),
 * manual-override lock, rate limit (fewer than min_interval_ms since the
 * last write to that equipment).
 *
 * Actions map to one value written to the setpoint register: setpoint
 * writes setpoint_kw; stop writes 0 kW; start writes power_min_kw (the
 * smallest running power), and is refused for storage, whose min is a
 * discharge. Equipment with a start/stop coil (st->has_coil, coil.h) is
 * started and stopped through it instead: start yields 1 and stop 0, the
 * coil state, with no power bounds to check (storage may be started).
 */
#ifndef EMS_SCADA_POLICY_H
#define EMS_SCADA_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plant/plant.h"

/* How far a command's issued_at may lie ahead of the gateway's clock. */
#define SG_POLICY_MAX_SKEW_MS 60000

/* Order matches the CommandAction enum of the schema. */
typedef enum { SG_ACT_SETPOINT = 0, SG_ACT_START, SG_ACT_STOP } sg_action_t;

typedef struct sg_command {
    const char *command_id;
    const char *site_id;
    const char *equipment_id;
    sg_action_t action;
    bool has_setpoint;
    double setpoint_kw;
    int64_t issued_at_ms;
    int64_t valid_until_ms;
} sg_command_t;

/* What the adapter knows about the equipment when the command arrives. */
typedef struct sg_control_state {
    bool duplicate;       /* command_id already executed */
    bool override_locked; /* an operator's manual-override lock is set */
    bool has_coil;        /* start/stop switch a coil (coil.h) */
    bool has_last_write;
    int64_t last_write_ms; /* last write to this equipment */
} sg_control_state_t;

typedef enum {
    SG_POL_ACCEPT = 0,
    SG_POL_DUPLICATE,
    SG_POL_UNKNOWN_EQUIPMENT,
    SG_POL_SITE_MISMATCH,
    SG_POL_DISABLED,
    SG_POL_NO_SETPOINT,
    SG_POL_EXPIRED,
    SG_POL_NOT_YET_ISSUED,
    SG_POL_BAD_VALUE,
    SG_POL_OUT_OF_BOUNDS,
    SG_POL_OVERRIDE,
    SG_POL_RATE_LIMITED,
} sg_policy_result_t;

/* Decides on cmd for eq (NULL when the plant model has no such equipment)
 * at now_ms. On SG_POL_ACCEPT *value_kw is the value to write (for start and
 * stop through a coil: 1 or 0, the coil state). reason always
 * receives one human-readable line (what was compared). */
sg_policy_result_t sg_policy_check(const plant_equipment_t *eq, const sg_command_t *cmd,
                                   const sg_control_state_t *st, int64_t now_ms,
                                   int64_t min_interval_ms, double *value_kw,
                                   char *reason, size_t reason_size);

/* "accepted", "duplicate", ... */
const char *sg_policy_name(sg_policy_result_t r);
/* "setpoint", "start", "stop". */
const char *sg_action_name(sg_action_t a);

#endif
