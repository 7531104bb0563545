/*
 * gw: settings table and the reading queue (see gw.h).
 */
#include "scada-gateway/gw.h"
#include "clock/clock.h"
#include "log/log.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OPT(k, t, d, lo, hi, f, ds)                                                    \
    {                                                                                  \
        .section = "scada", .key = (k), .type = (t), .def = (d), .min = (lo),          \
        .max = (hi), .offset = offsetof(sg_conf_t, f), .desc = (ds)                    \
    }

const cfg_option_t sg_conf_options[] = {
    OPT("spool_dir", CFG_STRING, "var/scada-gateway/spool", 0, 0, spool_dir,
        "Directory of the store-and-forward spool (created if missing)."),
    OPT("spool_max_bytes", CFG_INT, "268435456", 4096, 1e12, spool_max_bytes,
        "Bound of the spool's unconfirmed bytes; beyond it readings are refused and "
        "counted."),
    OPT("workers", CFG_INT, "4", 1, 256, workers,
        "Poll worker threads; devices are spread over them."),
    OPT("response_timeout", CFG_DURATION_MS, "500ms", 10, 60000, response_timeout_ms,
        "Modbus response timeout per request."),
    OPT("retries", CFG_INT, "1", 0, 10, retries,
        "Retries of a failed Modbus request within one poll."),
    OPT("backoff_base", CFG_DURATION_MS, "1s", 10, 3600000, backoff_base_ms,
        "First reconnect delay of a failing device; doubles per failure."),
    OPT("backoff_max", CFG_DURATION_MS, "30s", 10, 3600000, backoff_max_ms,
        "Longest reconnect delay of a failing device."),
    OPT("stale_after", CFG_DURATION_MS, "5m", 0, 86400000, stale_after_ms,
        "A meter whose words stay unchanged this long is flagged stale (0 disables)."),
    OPT("block_gap", CFG_INT, "8", 0, 100, block_gap,
        "Unmapped words allowed inside one Modbus read request."),
    OPT("batch", CFG_INT, "5000", 1, 1000000, batch,
        "Readings produced per delivery round trip."),
    OPT("delivery_wait", CFG_DURATION_MS, "100ms", 0, 10000, delivery_wait_ms,
        "How long one loop iteration waits for the broker to confirm a batch."),
    {.section = "scada",
     .key = "control",
     .type = CFG_BOOL,
     .def = "true",
     .offset = offsetof(sg_conf_t, control),
     .desc = "Consume energy.control.commands and write setpoints."},
    OPT("control_group", CFG_STRING, "scada-gateway", 0, 0, control_group,
        "Consumer group of the control-command consumer."),
    OPT("control_min_interval", CFG_DURATION_MS, "60s", 0, 86400000,
        control_min_interval_ms,
        "Rate limit: minimum time between two writes to one piece of equipment."),
    OPT("control_coils", CFG_STRING_MAP, NULL, 0, 0, control_coils,
        "Equipment id -> coil address on its setpoint device: start and stop switch "
        "the coil on and off instead of writing the setpoint register."),
    OPT("override_dir", CFG_STRING, "var/scada-gateway/override", 0, 0, override_dir,
        "A file named after an equipment id in this directory is a manual-override "
        "lock."),
    OPT("state_file", CFG_STRING, "var/scada-gateway/state.json", 0, 0, state_file,
        "Counter offsets and executed command ids kept across restarts (replaced "
        "atomically)."),
    OPT("state_interval", CFG_DURATION_MS, "10s", 100, 3600000, state_interval_ms,
        "Longest time between two saves of the state file; offset changes and "
        "executed commands are saved at once."),
    OPT("mqtt_host", CFG_STRING, "", 0, 0, mqtt_host,
        "MQTT broker host for edge devices that push JSON; empty disables MQTT input."),
    OPT("mqtt_port", CFG_INT, "1883", 1, 65535, mqtt_port, "MQTT broker port."),
    OPT("mqtt_client_id", CFG_STRING, "scada-gateway", 0, 0, mqtt_client_id,
        "MQTT client id (unique per gateway)."),
    OPT("mqtt_username", CFG_STRING, NULL, 0, 0, mqtt_username,
        "MQTT user name; unset means none."),
    OPT("mqtt_password", CFG_SECRET, NULL, 0, 0, mqtt_password,
        "MQTT password (\"file:/path\" reads it from a file)."),
    OPT("mqtt_tls_ca", CFG_STRING, NULL, 0, 0, mqtt_tls_ca,
        "CA certificate file (PEM) that signed the broker's certificate; set, the "
        "connection uses TLS (port usually 8883) and the broker's name or address is "
        "verified against its certificate."),
    OPT("mqtt_tls_cert", CFG_STRING, NULL, 0, 0, mqtt_tls_cert,
        "Client certificate file (PEM) for a broker that requires one; needs "
        "mqtt_tls_key and mqtt_tls_ca."),
    OPT("mqtt_tls_key", CFG_STRING, NULL, 0, 0, mqtt_tls_key,
        "Private key file (PEM) of mqtt_tls_cert, unencrypted."),
    OPT("mqtt_qos", CFG_INT, "1", 0, 2, mqtt_qos, "QoS of the subscriptions."),
    OPT("mqtt_keepalive", CFG_DURATION_MS, "30s", 5000, 3600000, mqtt_keepalive_ms,
        "MQTT keep-alive interval."),
    OPT("mqtt_topics", CFG_STRING_MAP, NULL, 0, 0, mqtt_topics,
        "Topic filter -> meter id, or $N for the filter's N-th level of the topic."),
    OPT("mqtt_fields", CFG_STRING_MAP, NULL, 0, 0, mqtt_fields,
        "Quantity -> JSON field[:unit] (a.b for nested fields); none: each quantity "
        "from the field of its own name, canonical units."),
    OPT("mqtt_meters", CFG_STRING_LIST, NULL, 0, 0, mqtt_meters,
        "Meters fed over MQTT besides those named in mqtt_topics (not polled over "
        "Modbus)."),
    OPT("mqtt_ts_field", CFG_STRING, "ts", 0, 0, mqtt_ts_field,
        "JSON field with the reading time (ms since the epoch or RFC 3339 UTC); "
        "absent: the receive time."),
    OPT("mqtt_timeout", CFG_DURATION_MS, "10m", 0, 86400000, mqtt_timeout_ms,
        "An MQTT meter silent this long gets comm_error readings at its poll period "
        "(0: never); silent for stale_after, it gets stale ones."),
    CFG_END,
};

/* The consumer's wait runs on the monotonic clock: on the wall clock, a
 * step back (NTP, a VM resumed) stretched a 100 ms wait by the size of the
 * step while no reading came, and the main loop stood still that long (no
 * MQTT silence readings, control commands or deliveries). */
static int init_cond(pthread_cond_t *cv)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
                     pthread_cond_init(cv, &attr) == 0
                 ? 0
                 : -1;
    pthread_condattr_destroy(&attr);
    return rc;
}

int sg_queue_init(sg_queue_t *q)
{
    memset(q, 0, sizeof *q);
    if (pthread_mutex_init(&q->mu, NULL) != 0)
        return -1;
    if (init_cond(&q->cv) != 0) {
        pthread_mutex_destroy(&q->mu);
        return -1;
    }
    return 0;
}

void sg_queue_release(sg_queue_t *q)
{
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q->items);
    q->items = NULL;
}

void sg_queue_push(sg_queue_t *q, const sg_reading_t *r, size_t n)
{
    pthread_mutex_lock(&q->mu);
    if (q->n + n > q->cap) {
        size_t cap = q->cap ? q->cap : 256;
        while (cap < q->n + n)
            cap *= 2;
        sg_reading_t *p = realloc(q->items, cap * sizeof *p);
        if (!p) {
            q->dropped += (int64_t)n;
            pthread_mutex_unlock(&q->mu);
            return;
        }
        q->items = p;
        q->cap = cap;
    }
    memcpy(q->items + q->n, r, n * sizeof *r);
    q->n += n;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

size_t sg_queue_take(sg_queue_t *q, sg_reading_t **out, int timeout_ms)
{
    size_t n;
    pthread_mutex_lock(&q->mu);
    if (q->n == 0 && timeout_ms > 0) {
        struct timespec ts = ems_mono_deadline(timeout_ms); /* init_cond's clock */
        while (q->n == 0 && pthread_cond_timedwait(&q->cv, &q->mu, &ts) != ETIMEDOUT)
            ;
    }
    n = q->n;
    *out = n ? q->items : NULL;
    if (n) {
        q->items = NULL;
        q->n = q->cap = 0;
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

int64_t sg_queue_report_dropped(sg_queue_t *q, obs_counter_t *dropped_total)
{
    pthread_mutex_lock(&q->mu);
    int64_t all = q->dropped, fresh = all - q->dropped_reported;
    q->dropped_reported = all;
    pthread_mutex_unlock(&q->mu);
    if (fresh <= 0)
        return 0;
    obs_counter_add(dropped_total, (double)fresh);
    log_error("queue",
              "out of memory: %lld reading(s) dropped before the spool "
              "(%lld since start-up)",
              (long long)fresh, (long long)all);
    return fresh;
}

int64_t sg_now_ms(void)
{
    return ems_wall_ms();
}
