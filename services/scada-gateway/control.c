/*
 * control: control commands to Modbus setpoints, with policy and audit
 * (see control.h).
 */
#include "scada-gateway/control.h"

#include <errno.h>
#include <math.h>
#include <modbus/modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/field.h"
#include "log/log.h"
#include "scada-gateway/coil.h"

#define TOPIC "energy.control.commands"

typedef struct eq_state {
    const plant_equipment_t *eq;
    bool has_last_write;
    int64_t last_write_ms;
    int coil; /* start/stop coil address, -1: none */
    modbus_t *mb;
} eq_state_t;

struct sg_control {
    svc_t *svc;
    const sg_conf_t *conf;
    bus_consumer_t *consumer;
    eq_state_t *eqs;
    size_t neqs;
    sg_state_t *state; /* command ids executed */
    obs_metrics_t *metrics;
};

static int get_str(avro_value_t *rec, const char *name, const char **out)
{
    avro_value_t f, b;
    size_t len;
    if (avro_value_get_by_name(rec, name, &f, NULL))
        return -1;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        int d;
        if (avro_value_get_discriminant(&f, &d) || d == 0) {
            *out = NULL;
            return 0;
        }
        if (avro_value_get_current_branch(&f, &b))
            return -1;
        f = b;
    }
    return avro_value_get_string(&f, out, &len) ? -1 : 0;
}

int sg_command_from_avro(avro_value_t *v, sg_command_t *cmd, const char **reason)
{
    avro_value_t f, b;
    int action = 0, d = 0;
    memset(cmd, 0, sizeof *cmd);
    if (get_str(v, "command_id", &cmd->command_id) ||
        get_str(v, "site_id", &cmd->site_id) ||
        get_str(v, "equipment_id", &cmd->equipment_id) ||
        bus_field_get_long(v, "issued_at", &cmd->issued_at_ms) ||
        bus_field_get_long(v, "valid_until", &cmd->valid_until_ms) ||
        get_str(v, "reason", reason) || avro_value_get_by_name(v, "action", &f, NULL) ||
        avro_value_get_enum(&f, &action))
        return -1;
    cmd->action = (sg_action_t)action;
    if (avro_value_get_by_name(v, "setpoint_kw", &f, NULL) ||
        avro_value_get_discriminant(&f, &d))
        return -1;
    if (d == 1)
        cmd->has_setpoint = avro_value_get_current_branch(&f, &b) == 0 &&
                            avro_value_get_double(&b, &cmd->setpoint_kw) == 0;
    return 0;
}

sg_control_t *sg_control_new(svc_t *svc, const sg_conf_t *conf, sg_state_t *state,
                             char *errstr, size_t errstr_size)
{
    const char *topics[] = {TOPIC};
    const plant_t *plant = svc_plant(svc);
    int *coils = NULL;
    sg_control_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->svc = svc;
    c->conf = conf;
    c->state = state;
    c->metrics = svc_metrics(svc);
    c->neqs = plant_equipment_count(plant);
    c->eqs = calloc(c->neqs + 1, sizeof *c->eqs);
    coils = calloc(c->neqs + 1, sizeof *coils);
    if (!c->eqs || !coils) {
        snprintf(errstr, errstr_size, "out of memory");
        goto err;
    }
    if (sg_coil_map(plant, &conf->control_coils, coils, errstr, errstr_size) < 0)
        goto err;
    for (size_t i = 0; i < c->neqs; i++) {
        c->eqs[i].eq = plant_equipment_at(plant, i);
        c->eqs[i].coil = coils[i];
        /* the rate limit holds across restarts */
        c->eqs[i].has_last_write =
            state &&
            sg_state_last_write(state, c->eqs[i].eq->id, &c->eqs[i].last_write_ms);
    }
    c->consumer = bus_consumer_new(svc_bus(svc), conf->control_group, topics, 1, errstr,
                                   errstr_size);
    if (!c->consumer)
        goto err;
    free(coils);
    return c;
err:
    free(coils);
    sg_control_destroy(c);
    return NULL;
}

static eq_state_t *find_eq(sg_control_t *c, const char *id)
{
    for (size_t i = 0; id && i < c->neqs; i++)
        if (strcmp(c->eqs[i].eq->id, id) == 0)
            return &c->eqs[i];
    return NULL;
}

static bool override_locked(const sg_control_t *c, const char *eq_id)
{
    char path[1024];
    if (!c->conf->override_dir || !eq_id || strchr(eq_id, '/'))
        return false;
    snprintf(path, sizeof path, "%s/%s", c->conf->override_dir, eq_id);
    return access(path, F_OK) == 0;
}

/* The equipment's Modbus context (created once, connected per write). */
static int ensure_context(sg_control_t *c, eq_state_t *es, char *why, size_t n)
{
    const plant_device_t *d = &es->eq->setpoint_device;
    int64_t t = c->conf->response_timeout_ms;
    if (es->mb)
        return 0;
    es->mb = modbus_new_tcp(d->host, d->port);
    if (!es->mb) {
        snprintf(why, n, "modbus context: %s", modbus_strerror(errno));
        return -1;
    }
    modbus_set_slave(es->mb, d->unit_id);
    modbus_set_response_timeout(es->mb, (uint32_t)(t / 1000),
                                (uint32_t)(t % 1000) * 1000);
    return 0;
}

/* Switches the start/stop coil and reads it back. 0 when the coil read back
 * is in the state written; -1 with why. */
static int coil_verify(sg_control_t *c, eq_state_t *es, bool on, char *why, size_t n)
{
    const plant_device_t *d = &es->eq->setpoint_device;
    uint8_t back = 0xff;
    if (ensure_context(c, es, why, n) < 0)
        return -1;
    int rc = modbus_connect(es->mb);
    if (rc == 0)
        rc = modbus_write_bit(es->mb, es->coil, on ? 1 : 0);
    if (rc >= 0)
        rc = modbus_read_bits(es->mb, es->coil, 1, &back) == 1 ? 0 : -1;
    if (rc < 0) {
        snprintf(why, n, "modbus write of coil %d on %s:%d/%d failed: %s", es->coil,
                 d->host, d->port, d->unit_id, modbus_strerror(errno));
        modbus_close(es->mb);
        return -1;
    }
    modbus_close(es->mb);
    if ((back != 0) != on) {
        snprintf(why, n, "read-back of coil %d on %s:%d/%d is %s, not %s", es->coil,
                 d->host, d->port, d->unit_id, back ? "on" : "off", on ? "on" : "off");
        return -1;
    }
    snprintf(why, n, "switched coil %d on %s:%d/%d %s, verified by read-back", es->coil,
             d->host, d->port, d->unit_id, on ? "on" : "off");
    return 0;
}

/* Writes value to the setpoint register and reads it back. 0 when the words
 * read back equal those written; -1 with why. */
static int write_verify(sg_control_t *c, eq_state_t *es, double value, char *why,
                        size_t n)
{
    const plant_register_t *r = &es->eq->setpoint;
    const plant_device_t *d = &es->eq->setpoint_device;
    uint16_t w[4], back[4];
    int nw = plant_dtype_words(r->dtype);
    if (ensure_context(c, es, why, n) < 0)
        return -1;
    plant_register_encode(r, value, w);
    int rc = modbus_connect(es->mb);
    if (rc == 0)
        rc = nw == 1 ? modbus_write_register(es->mb, r->address, w[0])
                     : modbus_write_registers(es->mb, r->address, nw, w);
    if (rc >= 0)
        rc = modbus_read_registers(es->mb, r->address, nw, back) == nw ? 0 : -1;
    if (rc < 0) {
        snprintf(why, n, "modbus write to %s:%d/%d at %d failed: %s", d->host, d->port,
                 d->unit_id, r->address, modbus_strerror(errno));
        modbus_close(es->mb);
        return -1;
    }
    modbus_close(es->mb);
    if (memcmp(w, back, (size_t)nw * sizeof w[0]) != 0) {
        snprintf(why, n, "read-back of %s:%d/%d at %d differs from the value written",
                 d->host, d->port, d->unit_id, r->address);
        return -1;
    }
    snprintf(why, n, "wrote %g kW to %s:%d/%d at %d, verified by read-back", value,
             d->host, d->port, d->unit_id, r->address);
    return 0;
}

static void audit(sg_control_t *c, const sg_command_t *cmd, const char *approved_by,
                  audit_outcome_t outcome, const char *reason, double value, bool coil)
{
    char object[192], after[160], err[256];
    audit_event_t ev = {0};
    snprintf(object, sizeof object, "equipment/%s",
             cmd->equipment_id ? cmd->equipment_id : "?");
    if (coil)
        snprintf(after, sizeof after, "{\"coil\":%s,\"action\":%d}",
                 value != 0 ? "true" : "false", cmd->action);
    else
        snprintf(after, sizeof after, "{\"setpoint_kw\":%.6g,\"action\":%d}", value,
                 cmd->action);
    ev.actor = approved_by ? approved_by : "service:scada-gateway";
    ev.action = "control.command.write";
    ev.object = object;
    ev.site_id = cmd->site_id;
    ev.reason = reason;
    ev.outcome = outcome;
    ev.after = outcome == AUDIT_SUCCESS ? after : NULL;
    ev.correlation_id = cmd->command_id;
    if (svc_audit(c->svc, &ev, err, sizeof err) < 0)
        log_error("control", "audit of command %s failed: %s", cmd->command_id, err);
}

static void count(sg_control_t *c, const char *result)
{
    char labels[64];
    snprintf(labels, sizeof labels, "result=%s", result);
    obs_count(c->metrics, "ems_scada_commands_total", "Control commands by outcome.",
              labels, 1);
}

static void handle(sg_control_t *c, bus_record_t *rec)
{
    sg_command_t cmd;
    const char *why_sent = NULL, *approved_by = NULL;
    char reason[512], err[256];
    double value = NAN;
    if (sg_command_from_avro(&rec->value, &cmd, &why_sent) < 0) {
        bus_consumer_reject(c->consumer, rec, "control command lacks a required field",
                            err, sizeof err);
        count(c, "invalid");
        return;
    }
    get_str(&rec->value, "approved_by", &approved_by);
    eq_state_t *es = find_eq(c, cmd.equipment_id);
    bool coil = es && es->coil >= 0 && cmd.action != SG_ACT_SETPOINT;
    sg_control_state_t st = {.duplicate =
                                 sg_state_command_seen(c->state, cmd.command_id),
                             .override_locked = override_locked(c, cmd.equipment_id),
                             .has_coil = es && es->coil >= 0,
                             .has_last_write = es && es->has_last_write,
                             .last_write_ms = es ? es->last_write_ms : 0};
    int64_t now = sg_now_ms();
    sg_policy_result_t r = sg_policy_check(es ? es->eq : NULL, &cmd, &st, now,
                                           c->conf->control_min_interval_ms, &value,
                                           reason, sizeof reason);
    if (r != SG_POL_ACCEPT) {
        log_warn("control", "command %s refused: %s", cmd.command_id, reason);
        audit(c, &cmd, approved_by, AUDIT_DENIED, reason, value, coil);
        count(c, sg_policy_name(r));
        return;
    }
    /* Saved before the write: after a crash the command is a duplicate, so a
     * plant write happens at most once per command id; the write's time goes
     * with it, for the rate limit after a restart. A command that cannot be
     * saved is not written, and its time is not kept as a write. */
    /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): policy refuses NULL eq */
    if (sg_state_command_add(c->state, cmd.command_id, es->eq->id, now, reason,
                             sizeof reason) < 0) {
        log_error("control", "command %s not written: %s", cmd.command_id, reason);
        audit(c, &cmd, approved_by, AUDIT_FAILURE, reason, value, coil);
        count(c, "state_error");
        return;
    }
    es->has_last_write = true;
    es->last_write_ms = now;
    int wrc = coil ? coil_verify(c, es, value != 0, reason, sizeof reason)
                   : write_verify(c, es, value, reason, sizeof reason);
    if (wrc < 0) {
        log_error("control", "command %s: %s", cmd.command_id, reason);
        audit(c, &cmd, approved_by, AUDIT_FAILURE, reason, value, coil);
        count(c, "write_failed");
        return;
    }
    log_info("control", "command %s: %s", cmd.command_id, reason);
    audit(c, &cmd, approved_by, AUDIT_SUCCESS, reason, value, coil);
    count(c, "written");
}

int sg_control_step(sg_control_t *c, int timeout_ms, char *errstr, size_t errstr_size)
{
    bus_record_t *batch;
    int n = bus_consumer_poll(c->consumer, &batch, 64, timeout_ms, errstr, errstr_size);
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++)
        handle(c, &batch[i]);
    /* a batch that was all dead-lettered is acked too (not again later) */
    return n > 0 || bus_consumer_unacked(c->consumer)
               ? bus_consumer_ack(c->consumer, errstr, errstr_size)
               : 0;
}

void sg_control_destroy(sg_control_t *c)
{
    if (!c)
        return;
    bus_consumer_destroy(c->consumer);
    for (size_t i = 0; c->eqs && i < c->neqs; i++) /* eqs: NULL out of memory */
        if (c->eqs[i].mb)
            modbus_free(c->eqs[i].mb);
    free(c->eqs);
    free(c);
}
