/*
 * publish: readings to energy.telemetry through the spool. Each step
 * appends the new readings to the spool (one fsync per step), then, when no
 * batch is in flight, produces the oldest unsent readings (up to
 * scada.batch) and waits briefly for the broker to confirm them; a
 * confirmed batch is committed in the spool. A batch whose delivery failed
 * is produced again (consumers drop duplicates by (meter_id, seq)). While
 * the broker is away, readings accumulate in the spool, in order.
 *
 * Main thread only.
 */
#ifndef EMS_SCADA_PUBLISH_H
#define EMS_SCADA_PUBLISH_H

#include <stddef.h>

#include "bus/bus.h"
#include "obs/metrics.h"
#include "scada-gateway/gw.h"
#include "scada-gateway/spool.h"

typedef struct sg_publisher sg_publisher_t;

/* Opens the spool and prepares the telemetry record. Returns the publisher
 * or NULL with errstr. bus, producer and metrics are borrowed. */
sg_publisher_t *sg_publisher_new(bus_t *bus, bus_producer_t *producer,
                                 const sg_conf_t *conf, obs_metrics_t *metrics,
                                 char *errstr, size_t errstr_size);
/* Spools readings (n may be 0), then moves the spool forward. Returns 0,
 * or -1 with errstr on a spool I/O error. */
int sg_publisher_step(sg_publisher_t *p, const sg_reading_t *readings, size_t n,
                      char *errstr, size_t errstr_size);
/* Unconfirmed readings in the spool. */
int64_t sg_publisher_pending(const sg_publisher_t *p);
/* Tries to deliver what the spool holds for up to timeout_ms, then frees.
 * NULL is a no-op. */
void sg_publisher_destroy(sg_publisher_t *p, int timeout_ms);

/* Fills an energy.telemetry value from a reading. Returns 0 or -1. */
int sg_telemetry_fill(avro_value_t *v, const sg_reading_t *r);

#endif
