/*
 * poller: the Modbus TCP adapter. Meters sharing a device (host, port, unit
 * id) are polled over one libmodbus connection; devices are spread over
 * worker threads, each keeping its own schedule (sched.h) and reconnecting
 * with exponential backoff, so a dead device only costs its worker one
 * response timeout per backoff period. Every poll yields one reading per
 * meter (decoded, counter-folded, quality-flagged; comm_error when the
 * device did not answer), pushed to the queue.
 */
#ifndef EMS_SCADA_POLLER_H
#define EMS_SCADA_POLLER_H

#include <stddef.h>

#include "obs/metrics.h"
#include "plant/plant.h"
#include "scada-gateway/gw.h"
#include "scada-gateway/mqtt_map.h"
#include "scada-gateway/state.h"

typedef struct sg_poller sg_poller_t;

/* Plans every meter of the plant (borrowed, must outlive the poller) and
 * starts the workers; meters fed over MQTT (mqtt, may be NULL) are not
 * polled. Energy counters start from state (borrowed, may be NULL) and are
 * stored back into it after every poll. Returns the poller, or NULL with
 * errstr (a meter whose registers need too many read requests). */
sg_poller_t *sg_poller_start(const plant_t *plant, const sg_conf_t *conf,
                             const sg_mqtt_map_t *mqtt, sg_state_t *state,
                             sg_queue_t *out, obs_metrics_t *metrics, char *errstr,
                             size_t errstr_size);
/* Stops and joins the workers, closes connections, frees. NULL is a no-op. */
void sg_poller_stop(sg_poller_t *p);
/* Number of devices polled. */
size_t sg_poller_devices(const sg_poller_t *p);

#endif
