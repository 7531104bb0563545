/*
 * gw: the scada-gateway's settings and the context its adapters share
 * (poller, publisher, control). The core modules (norm, quality, sched,
 * policy) know nothing of it.
 */
#ifndef EMS_SCADA_GW_H
#define EMS_SCADA_GW_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "obs/metrics.h"
#include "scada-gateway/sg_types.h"

typedef struct sg_conf {
    const char *spool_dir;
    int64_t spool_max_bytes;
    int64_t workers;
    int64_t response_timeout_ms;
    int64_t retries;
    int64_t backoff_base_ms;
    int64_t backoff_max_ms;
    int64_t stale_after_ms;
    int64_t block_gap;
    int64_t batch;
    int64_t delivery_wait_ms;
    bool control;
    const char *control_group;
    int64_t control_min_interval_ms;
    cfg_strmap_t control_coils; /* equipment id -> coil address */
    const char *override_dir;
    const char *state_file;
    int64_t state_interval_ms;
    const char *mqtt_host; /* "" disables MQTT input */
    int64_t mqtt_port;
    const char *mqtt_client_id;
    const char *mqtt_username;
    const char *mqtt_password;
    const char *mqtt_tls_ca;   /* PEM CA file; set: TLS to the broker */
    const char *mqtt_tls_cert; /* PEM client certificate, with mqtt_tls_key */
    const char *mqtt_tls_key;
    int64_t mqtt_qos;
    int64_t mqtt_keepalive_ms;
    cfg_strmap_t mqtt_topics;
    cfg_strmap_t mqtt_fields;
    cfg_strlist_t mqtt_meters;
    const char *mqtt_ts_field;
    int64_t mqtt_timeout_ms; /* silent MQTT meter -> comm_error; 0: never */
} sg_conf_t;

/* The "scada" section (docs/scada-gateway.md). Offsets into sg_conf_t. */
extern const cfg_option_t sg_conf_options[];

/* Readings handed from the poll workers to the publisher. Thread-safe. */
typedef struct sg_queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sg_reading_t *items;
    size_t n, cap;
    int64_t dropped;          /* readings lost to allocation failures */
    int64_t dropped_reported; /* of those, reported (the consumer's) */
} sg_queue_t;

int sg_queue_init(sg_queue_t *q);
void sg_queue_release(sg_queue_t *q);
/* Appends n readings and wakes the consumer. */
void sg_queue_push(sg_queue_t *q, const sg_reading_t *r, size_t n);
/* Waits up to timeout_ms for readings, then swaps the queued array out:
 * *out (caller frees) and its length; 0 when none. */
size_t sg_queue_take(sg_queue_t *q, sg_reading_t **out, int timeout_ms);
/* Reports the readings dropped since the last call (sg_queue_push() could
 * not grow the queue): adds them to dropped_total (NULL: not counted) and
 * logs an error line. Returns how many; 0 logs nothing. The consumer's
 * thread. */
int64_t sg_queue_report_dropped(sg_queue_t *q, obs_counter_t *dropped_total);

/* Current wall-clock time, UTC ms. */
int64_t sg_now_ms(void);

#endif
