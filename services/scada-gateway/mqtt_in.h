/*
 * mqtt_in: the MQTT adapter (libmosquitto). Subscribes to the topic filters
 * of the map on scada.mqtt_host, turns each message into one reading with
 * the map (mqtt_map.h) and the same normalisation as Modbus readings
 * (energy counter folding with replacement detection, quality flags), and
 * pushes it to the reading queue. A message that cannot be mapped (unknown
 * topic, garbage payload) is counted in ems_scada_mqtt_rejected_total and
 * logged with the reason; the gateway keeps running.
 *
 * libmosquitto's own thread runs the network loop and the callbacks, and
 * reconnects (with backoff up to scada.backoff_max) when the broker goes
 * away; subscriptions are renewed on every connect. A meter that stops
 * publishing gets stale, then comm_error readings (sg_mqtt_in_tick()).
 */
#ifndef EMS_SCADA_MQTT_IN_H
#define EMS_SCADA_MQTT_IN_H

#include <stddef.h>

#include "obs/metrics.h"
#include "scada-gateway/gw.h"
#include "scada-gateway/mqtt_map.h"
#include "scada-gateway/state.h"

typedef struct sg_mqtt_in sg_mqtt_in_t;

/* Starts the client (connects asynchronously: an unreachable broker is
 * retried, not fatal). conf, map, state (may be NULL), out and metrics are
 * borrowed and must outlive it. Returns it, or NULL with errstr. */
sg_mqtt_in_t *sg_mqtt_in_start(const sg_conf_t *conf, const sg_mqtt_map_t *map,
                               sg_state_t *state, sg_queue_t *out,
                               obs_metrics_t *metrics, char *errstr,
                               size_t errstr_size);
/* Emits the stale and comm_error readings of the MQTT meters silent at
 * mono_ms, ems_mono_ms() (silence.h: scada.stale_after, scada.mqtt_timeout,
 * one per poll period), stamped wall_ms, the wall clock's time. Call it
 * often (every loop iteration); any one thread. NULL is a no-op. */
void sg_mqtt_in_tick(sg_mqtt_in_t *in, int64_t mono_ms, int64_t wall_ms);
/* Disconnects, stops the thread, frees. NULL is a no-op. */
void sg_mqtt_in_stop(sg_mqtt_in_t *in);

#endif
