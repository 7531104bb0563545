/*
 * policy: control-command checks (see policy.h).
 */
#include "scada-gateway/policy.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const names[] = {
    "accepted",  "duplicate",     "unknown_equipment", "site_mismatch",
    "disabled",  "no_setpoint",   "expired",           "not_yet_issued",
    "bad_value", "out_of_bounds", "manual_override",   "rate_limited",
};

const char *sg_policy_name(sg_policy_result_t r)
{
    return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "?";
}

const char *sg_action_name(sg_action_t a)
{
    static const char *const an[] = {"setpoint", "start", "stop"};
    return (unsigned)a < sizeof an / sizeof an[0] ? an[a] : "?";
}

/* The value an action writes, or a refusal. */
static sg_policy_result_t action_value(const plant_equipment_t *eq,
                                       const sg_command_t *cmd, double *v, char *reason,
                                       size_t n)
{
    switch (cmd->action) {
    case SG_ACT_SETPOINT:
        if (!cmd->has_setpoint || !isfinite(cmd->setpoint_kw)) {
            snprintf(reason, n, "setpoint command without a finite setpoint_kw");
            return SG_POL_BAD_VALUE;
        }
        *v = cmd->setpoint_kw;
        return SG_POL_ACCEPT;
    case SG_ACT_STOP:
        *v = 0;
        return SG_POL_ACCEPT;
    case SG_ACT_START:
        if (eq->kind == PLANT_EQ_STORAGE) {
            snprintf(reason, n,
                     "start is not defined for storage '%s'; send a setpoint", eq->id);
            return SG_POL_BAD_VALUE;
        }
        *v = eq->power_min_kw;
        return SG_POL_ACCEPT;
    }
    snprintf(reason, n, "unknown action %d", (int)cmd->action);
    return SG_POL_BAD_VALUE;
}

/* Checks that do not depend on the value. */
static sg_policy_result_t check_static(const plant_equipment_t *eq,
                                       const sg_command_t *cmd,
                                       const sg_control_state_t *st, int64_t now_ms,
                                       char *reason, size_t n)
{
    if (st->duplicate) {
        snprintf(reason, n, "command %s was already executed", cmd->command_id);
        return SG_POL_DUPLICATE;
    }
    if (!eq) {
        snprintf(reason, n, "equipment '%s' is not in the plant model",
                 cmd->equipment_id);
        return SG_POL_UNKNOWN_EQUIPMENT;
    }
    if (cmd->site_id && strcmp(cmd->site_id, eq->site_id) != 0) {
        snprintf(reason, n, "equipment '%s' belongs to site '%s', not '%s'", eq->id,
                 eq->site_id, cmd->site_id);
        return SG_POL_SITE_MISMATCH;
    }
    if (!eq->control_enabled) {
        snprintf(reason, n, "control is disabled for '%s' in the plant model", eq->id);
        return SG_POL_DISABLED;
    }
    if (!eq->has_setpoint) {
        snprintf(reason, n, "'%s' has no setpoint register", eq->id);
        return SG_POL_NO_SETPOINT;
    }
    if (now_ms > cmd->valid_until_ms) {
        snprintf(reason, n, "expired: valid until %lld, now %lld",
                 (long long)cmd->valid_until_ms, (long long)now_ms);
        return SG_POL_EXPIRED;
    }
    if (cmd->issued_at_ms > cmd->valid_until_ms) {
        snprintf(reason, n, "issued at %lld after its validity end %lld",
                 (long long)cmd->issued_at_ms, (long long)cmd->valid_until_ms);
        return SG_POL_NOT_YET_ISSUED;
    }
    if (cmd->issued_at_ms > now_ms + SG_POLICY_MAX_SKEW_MS) {
        snprintf(reason, n, "issued at %lld, %lld ms ahead of the gateway's clock %lld",
                 (long long)cmd->issued_at_ms, (long long)(cmd->issued_at_ms - now_ms),
                 (long long)now_ms);
        return SG_POL_NOT_YET_ISSUED;
    }
    return SG_POL_ACCEPT;
}

/* The setpoint register must hold v: encoding rounds to the register's step
 * and saturates at its range, so a value it cannot hold would reach the
 * device as another one, and the read-back (words against words) would
 * agree. Half a step of rounding is the register's resolution. */
static sg_policy_result_t check_register(const plant_equipment_t *eq, double v,
                                         char *reason, size_t n)
{
    const plant_register_t *r = &eq->setpoint;
    uint16_t w[4];
    plant_register_encode(r, v, w);
    double held = plant_register_decode(r, w);
    double step = fabs(r->scale * r->unit_factor);
    if (fabs(held - v) <= 0.5 * step + 1e-6 * fabs(v))
        return SG_POL_ACCEPT;
    snprintf(
        reason, n,
        "%g kW does not fit the %s setpoint register of '%s' (it would hold %g kW)", v,
        plant_dtype_name(r->dtype), eq->id, held);
    return SG_POL_BAD_VALUE;
}

/* Checks that depend on the state of the equipment, not on the value. */
static sg_policy_result_t check_state(const plant_equipment_t *eq,
                                      const sg_control_state_t *st, int64_t now_ms,
                                      int64_t min_interval_ms, char *reason, size_t n)
{
    if (st->override_locked) {
        snprintf(reason, n, "manual-override lock set on '%s'", eq->id);
        return SG_POL_OVERRIDE;
    }
    if (st->has_last_write && now_ms - st->last_write_ms < min_interval_ms) {
        snprintf(reason, n, "rate limit: last write %lld ms ago, minimum %lld ms",
                 (long long)(now_ms - st->last_write_ms), (long long)min_interval_ms);
        return SG_POL_RATE_LIMITED;
    }
    return SG_POL_ACCEPT;
}

sg_policy_result_t sg_policy_check(const plant_equipment_t *eq, const sg_command_t *cmd,
                                   const sg_control_state_t *st, int64_t now_ms,
                                   int64_t min_interval_ms, double *value_kw,
                                   char *reason, size_t reason_size)
{
    double v = 0;
    sg_policy_result_t r = check_static(eq, cmd, st, now_ms, reason, reason_size);
    if (r != SG_POL_ACCEPT)
        return r;
    if (st->has_coil && cmd->action != SG_ACT_SETPOINT) {
        r = check_state(eq, st, now_ms, min_interval_ms, reason, reason_size);
        if (r != SG_POL_ACCEPT)
            return r;
        *value_kw = cmd->action == SG_ACT_START ? 1 : 0;
        snprintf(reason, reason_size, "%s: coil %s", sg_action_name(cmd->action),
                 cmd->action == SG_ACT_START ? "on" : "off");
        return SG_POL_ACCEPT;
    }
    r = action_value(eq, cmd, &v, reason, reason_size);
    if (r != SG_POL_ACCEPT)
        return r;
    if (v < eq->power_min_kw || v > eq->power_max_kw) {
        if (!(cmd->action == SG_ACT_STOP && v == 0)) {
            snprintf(reason, reason_size, "%g kW outside [%g, %g] kW", v,
                     eq->power_min_kw, eq->power_max_kw);
            return SG_POL_OUT_OF_BOUNDS;
        }
    }
    r = check_register(eq, v, reason, reason_size);
    if (r != SG_POL_ACCEPT)
        return r;
    r = check_state(eq, st, now_ms, min_interval_ms, reason, reason_size);
    if (r != SG_POL_ACCEPT)
        return r;
    *value_kw = v;
    snprintf(reason, reason_size, "%g kW within [%g, %g] kW", v, eq->power_min_kw,
             eq->power_max_kw);
    return SG_POL_ACCEPT;
}
