/*
 * scada-gateway: reads every meter of the plant model over Modbus TCP and
 * publishes normalised readings on energy.telemetry through an on-disk
 * spool; writes approved setpoints from energy.control.commands.
 * See docs/scada-gateway.md.
 */
#include <stdio.h>
#include <stdlib.h>

#include "clock/clock.h"
#include "log/log.h"
#include "scada-gateway/coil.h"
#include "scada-gateway/control.h"
#include "scada-gateway/gw.h"
#include "scada-gateway/mqtt_in.h"
#include "scada-gateway/poller.h"
#include "scada-gateway/publish.h"
#include "scada-gateway/state.h"
#include "svc/svc.h"

typedef struct gateway {
    sg_conf_t conf;
    sg_queue_t queue;
    bool queue_ok;
    sg_state_t *state;
    sg_publisher_t *pub;
    sg_poller_t *poller;
    sg_mqtt_map_t *mqtt_map;
    sg_mqtt_in_t *mqtt;
    sg_control_t *control;
    obs_counter_t *queue_dropped; /* readings the queue could not store */
} gateway_t;

static void gw_shutdown(svc_t *svc, void *ctx);
static int gw_start(svc_t *svc, gateway_t *g, char *errstr, size_t errstr_size);

static int gw_init(svc_t *svc, void *ctx, char *errstr, size_t errstr_size)
{
    gateway_t *g = ctx;
    if (gw_start(svc, g, errstr, errstr_size) == 0)
        return 0;
    gw_shutdown(svc, g); /* shutdown does not run after a failed init */
    return -1;
}

/* The MQTT topic and field map, checked against the plant model. */
static int map_mqtt(svc_t *svc, gateway_t *g, char *errstr, size_t errstr_size)
{
    if (g->conf.mqtt_topics.n == 0) {
        snprintf(errstr, errstr_size,
                 "scada.mqtt_topics: empty while scada.mqtt_host is set");
        return -1;
    }
    g->mqtt_map = sg_mqtt_map_new(svc_plant(svc), &g->conf.mqtt_topics,
                                  &g->conf.mqtt_fields, &g->conf.mqtt_meters,
                                  g->conf.mqtt_ts_field, errstr, errstr_size);
    return g->mqtt_map ? 0 : -1;
}

/* scada.control_coils against the plant model, checked even with control
 * off: a bad entry stops start-up either way. */
static int check_coils(svc_t *svc, const gateway_t *g, char *errstr, size_t errstr_size)
{
    size_t n = plant_equipment_count(svc_plant(svc));
    int *addr = calloc(n + 1, sizeof *addr);
    if (!addr) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    int rc =
        sg_coil_map(svc_plant(svc), &g->conf.control_coils, addr, errstr, errstr_size);
    free(addr);
    return rc;
}

static int gw_start(svc_t *svc, gateway_t *g, char *errstr, size_t errstr_size)
{
    if (check_coils(svc, g, errstr, errstr_size) < 0)
        return -1;
    if (sg_queue_init(&g->queue) < 0) {
        snprintf(errstr, errstr_size, "cannot create the reading queue");
        return -1;
    }
    g->queue_ok = true;
    g->queue_dropped = obs_counter(
        svc_metrics(svc), "ems_scada_queue_dropped_total",
        "Readings lost because the reading queue could not grow (out of memory).",
        NULL);
    g->state = sg_state_load(g->conf.state_file, errstr, errstr_size);
    if (!g->state)
        return -1;
    g->pub = sg_publisher_new(svc_bus(svc), svc_producer(svc), &g->conf,
                              svc_metrics(svc), errstr, errstr_size);
    if (!g->pub)
        return -1;
    if (g->conf.control) {
        g->control = sg_control_new(svc, &g->conf, g->state, errstr, errstr_size);
        if (!g->control)
            return -1;
    }
    if (g->conf.mqtt_host[0] && map_mqtt(svc, g, errstr, errstr_size) < 0)
        return -1;
    g->poller = sg_poller_start(svc_plant(svc), &g->conf, g->mqtt_map, g->state,
                                &g->queue, svc_metrics(svc), errstr, errstr_size);
    if (!g->poller)
        return -1;
    if (g->mqtt_map) {
        g->mqtt = sg_mqtt_in_start(&g->conf, g->mqtt_map, g->state, &g->queue,
                                   svc_metrics(svc), errstr, errstr_size);
        if (!g->mqtt)
            return -1;
    }
    log_info("main", "polling %zu device(s); spool holds %lld reading(s)",
             sg_poller_devices(g->poller), (long long)sg_publisher_pending(g->pub));
    return 0;
}

static int gw_step(svc_t *svc, void *ctx)
{
    gateway_t *g = ctx;
    sg_reading_t *r = NULL;
    char err[512];
    (void)svc;
    size_t n = sg_queue_take(&g->queue, &r, 100);
    sg_queue_report_dropped(&g->queue, g->queue_dropped);
    int rc = sg_publisher_step(g->pub, r, n, err, sizeof err);
    free(r);
    if (rc < 0) {
        log_error("main", "%s", err);
        return -1;
    }
    sg_mqtt_in_tick(g->mqtt, ems_mono_ms(), sg_now_ms());
    if (g->control && sg_control_step(g->control, 0, err, sizeof err) < 0)
        log_warn("control", "%s", err);
    if (sg_state_flush(g->state, false, sg_now_ms(), g->conf.state_interval_ms, err,
                       sizeof err) < 0)
        log_error("main", "%s", err);
    return 0;
}

static void gw_shutdown(svc_t *svc, void *ctx)
{
    gateway_t *g = ctx;
    sg_reading_t *r = NULL;
    char err[512];
    (void)svc;
    sg_poller_stop(g->poller);
    sg_mqtt_in_stop(g->mqtt);
    sg_mqtt_map_destroy(g->mqtt_map);
    g->mqtt = NULL;
    g->mqtt_map = NULL;
    if (g->state && sg_state_flush(g->state, true, sg_now_ms(), 0, err, sizeof err) < 0)
        log_error("main", "%s", err);
    if (g->queue_ok && g->pub) {
        size_t n = sg_queue_take(&g->queue, &r, 0);
        sg_queue_report_dropped(&g->queue, g->queue_dropped);
        if (sg_publisher_step(g->pub, r, n, err, sizeof err) < 0)
            log_error("main", "%s", err);
        free(r);
    }
    sg_control_destroy(g->control);
    sg_publisher_destroy(g->pub, 2000);
    sg_state_destroy(g->state);
    g->state = NULL;
    if (g->queue_ok)
        sg_queue_release(&g->queue);
    g->poller = NULL;
    g->control = NULL;
    g->pub = NULL;
    g->queue_ok = false;
}

int main(int argc, char **argv)
{
    static gateway_t g;
    const svc_table_t tables[] = {{sg_conf_options, &g.conf}, {NULL, NULL}};
    const svc_def_t def = {
        .name = "scada-gateway",
        .summary = "Polls Modbus meters, publishes energy.telemetry, writes setpoints.",
        .http_port = 18101,
        .tables = tables,
        .init = gw_init,
        .step = gw_step,
        .shutdown = gw_shutdown,
    };
    return svc_main(&def, &g, argc, argv);
}
