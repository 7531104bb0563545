/*
 * mqtt_map: how an MQTT message becomes a reading. Pure: no I/O, no clock.
 *
 * - Topics: rows "filter -> meter", the filter in MQTT syntax ('+' one
 *   level, '#' the rest), the meter a plant meter id or "$N", the text of
 *   the filter's N-th level (1-based) of the topic received. The first row
 *   that matches wins.
 * - Fields: per quantity, the JSON field that holds it ("power" or a path
 *   "data.p" into nested objects) and its unit ("W", "kW", "MW", "Wh",
 *   "kWh", "MWh", "V", "kV", "A", "kA", "Hz", "%" or none for the canonical
 *   unit), written "field" or "field:unit". Without any field row, each
 *   quantity is read from the field of its own name (power_kw ...) in
 *   canonical units.
 * - Time: the field named by ts_field holds the reading time, a number of
 *   ms since the epoch or an RFC 3339 UTC string
 *   ("2026-03-01T12:00:00.250Z"); absent, the receive time is used.
 *
 * A payload that is not a JSON object, holds a mapped field that is neither
 * a number nor null, no mapped quantity at all, or a bad time is rejected
 * with a one-line reason; the caller counts and logs it.
 */
#ifndef EMS_SCADA_MQTT_MAP_H
#define EMS_SCADA_MQTT_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "plant/plant.h"
#include "scada-gateway/sg_types.h"

typedef struct sg_mqtt_map sg_mqtt_map_t;

/* Builds the map. topics: filter -> meter pairs; fields: quantity ->
 * "field[:unit]" pairs (n = 0 for the defaults); meters: extra meters fed
 * over MQTT (those reached through "$N"); ts_field may be NULL or "". Every
 * literal meter, every listed meter, filter, quantity and unit is checked
 * against the plant (borrowed, must outlive the map). Returns the map or
 * NULL with errstr naming the bad entry. */
sg_mqtt_map_t *sg_mqtt_map_new(const plant_t *plant, const cfg_strmap_t *topics,
                               const cfg_strmap_t *fields, const cfg_strlist_t *meters,
                               const char *ts_field, char *errstr, size_t errstr_size);
void sg_mqtt_map_destroy(sg_mqtt_map_t *m);

/* True when meter is fed over MQTT (the Modbus poller skips it). */
bool sg_mqtt_map_feeds(const sg_mqtt_map_t *m, const char *meter_id);
/* Number of meters fed over MQTT, and the position (0..count-1) of one of
 * them (-1 when not fed), for per-meter state kept by the caller. */
size_t sg_mqtt_map_count(const sg_mqtt_map_t *m);
int sg_mqtt_map_index(const sg_mqtt_map_t *m, const plant_meter_t *meter);
const plant_meter_t *sg_mqtt_map_at(const sg_mqtt_map_t *m, size_t i);
/* Topic filters to subscribe to; i < sg_mqtt_map_filters(m, NULL). */
size_t sg_mqtt_map_filters(const sg_mqtt_map_t *m, const char *const **filters);

/* True when topic matches filter (MQTT rules, no '$' topics for '#'/'+' at
 * the first level). */
bool sg_mqtt_topic_matches(const char *filter, const char *topic);

/* The meter a topic maps to, or NULL with reason (no row matches, the
 * level names no plant meter, the meter is not fed over MQTT). */
const plant_meter_t *sg_mqtt_map_meter(const sg_mqtt_map_t *m, const char *topic,
                                       char *reason, size_t reason_size);

/* recv_ms for sg_mqtt_map_payload() that no payload time can equal: a
 * reading that comes back with it had no time of its own. */
#define SG_MQTT_NO_TIME INT64_MIN

/* Reads payload (len bytes, not necessarily NUL-terminated) for meter into
 * r: identity, ts (recv_ms when the payload has none), values in canonical
 * units, source mqtt, quality good (the caller assesses it). Returns 0, or
 * -1 with reason. */
int sg_mqtt_map_payload(const sg_mqtt_map_t *m, const plant_meter_t *meter,
                        const void *payload, size_t len, int64_t recv_ms,
                        sg_reading_t *r, char *reason, size_t reason_size);

#endif
