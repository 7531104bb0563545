/*
 * mqtt_in: MQTT input over libmosquitto (see mqtt_in.h).
 */
#include "scada-gateway/mqtt_in.h"

#include <errno.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock/clock.h"
#include "log/log.h"
#include "scada-gateway/norm.h"
#include "scada-gateway/quality.h"
#include "scada-gateway/silence.h"

typedef struct mmeter {
    sg_counter_t counter;
    int state_slot;
    sg_stale_t stale;
    sg_silence_t silence;
    int64_t last_seq;
    int64_t last_ts; /* newest reading time taken from the meter */
} mmeter_t;

struct sg_mqtt_in {
    const sg_conf_t *conf;
    const sg_mqtt_map_t *map;
    sg_state_t *state;
    sg_queue_t *out;
    struct mosquitto *mosq;
    bool loop_started;
    pthread_mutex_t mu; /* meters: libmosquitto's thread and the tick */
    bool mu_ok;
    _Atomic bool is_connected; /* written by libmosquitto's thread */
    mmeter_t *meters;          /* by sg_mqtt_map_index() */
    obs_counter_t *messages, *rejected;
    obs_gauge_t *connected;
};

static uint64_t values_hash(const sg_reading_t *r)
{
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p = (const unsigned char *)r->v;
    for (size_t i = 0; i < sizeof r->v; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return (h ^ r->has) * 1099511628211ULL;
}

static void next_seq(mmeter_t *mm, sg_reading_t *r)
{
    r->seq = r->ts_ms > mm->last_seq ? r->ts_ms : mm->last_seq + 1;
    mm->last_seq = r->seq;
}

/* Counter folding, quality and seq, as for a polled reading; the meter's
 * silence ends at mono (monotonic clock). Under mu. */
static void normalise(sg_mqtt_in_t *in, const plant_meter_t *meter, sg_reading_t *r,
                      int64_t now, int64_t mono)
{
    mmeter_t *mm = &in->meters[sg_mqtt_map_index(in->map, meter)];
    sg_counter_event_t ev = SG_CNT_OK;
    if (r->has & (1u << PLANT_Q_ENERGY_KWH)) {
        double total;
        /* a pushed value has no integer span: every drop is a replacement */
        ev = sg_counter_update(&mm->counter, r->v[PLANT_Q_ENERGY_KWH], 0, &total);
        r->v[PLANT_Q_ENERGY_KWH] = total;
        if (in->state)
            sg_state_counter_set(in->state, mm->state_slot, &mm->counter,
                                 ev == SG_CNT_REPLACED);
    }
    sg_quality_assess(meter, r, &mm->stale, values_hash(r), ev, now,
                      in->conf->stale_after_ms);
    sg_silence_heard(&mm->silence, r, mono);
    next_seq(mm, r);
}

static void reject(sg_mqtt_in_t *in, const char *topic, const char *reason)
{
    obs_counter_inc(in->rejected);
    log_warn("mqtt", "message on '%s' rejected: %s", topic, reason);
}

/* libmosquitto's thread. */
static void on_message(struct mosquitto *mosq, void *obj,
                       const struct mosquitto_message *msg)
{
    sg_mqtt_in_t *in = obj;
    char reason[256];
    sg_reading_t r;
    int64_t now = sg_now_ms(), mono = ems_mono_ms();
    (void)mosq;
    obs_counter_inc(in->messages);
    const plant_meter_t *meter =
        sg_mqtt_map_meter(in->map, msg->topic, reason, sizeof reason);
    if (!meter) {
        reject(in, msg->topic, reason);
        return;
    }
    if (sg_mqtt_map_payload(in->map, meter, msg->payload, (size_t)msg->payloadlen,
                            SG_MQTT_NO_TIME, &r, reason, sizeof reason) < 0) {
        reject(in, msg->topic, reason);
        return;
    }
    /* Told by the marker, not by comparing with now: a payload time equal
     * to the receive time (a device on the same network stamps and sends
     * within the millisecond) was taken for none, so that message was not
     * checked and did not advance last_ts. */
    bool timed = r.ts_ms != SG_MQTT_NO_TIME;
    if (!timed)
        r.ts_ms = now;
    /* pushed under mu, so a meter's readings reach the queue in seq order */
    pthread_mutex_lock(&in->mu);
    /* A message not newer than the meter's last one is a QoS 1 redelivery
     * or out of order: its counter would count as a meter replacement and
     * add its total again, and it would get a fresh seq no consumer could
     * tell from a new reading. Only a payload's own time tells: one without
     * (stamped with the receive time, now) is not checked. */
    mmeter_t *mm = &in->meters[sg_mqtt_map_index(in->map, meter)];
    if (timed && r.ts_ms <= mm->last_ts) {
        pthread_mutex_unlock(&in->mu);
        snprintf(reason, sizeof reason,
                 "reading at %lld ms is not newer than the meter's last (%lld ms): "
                 "a redelivery or out of order",
                 (long long)r.ts_ms, (long long)mm->last_ts);
        reject(in, msg->topic, reason);
        return;
    }
    if (timed)
        mm->last_ts = r.ts_ms;
    normalise(in, meter, &r, now, mono);
    sg_queue_push(in->out, &r, 1);
    pthread_mutex_unlock(&in->mu);
}

void sg_mqtt_in_tick(sg_mqtt_in_t *in, int64_t mono_ms, int64_t wall_ms)
{
    sg_reading_t batch[32];
    size_t n = 0, count;
    if (!in)
        return;
    count = sg_mqtt_map_count(in->map);
    pthread_mutex_lock(&in->mu);
    for (size_t k = 0; k < count; k++) {
        mmeter_t *mm = &in->meters[k];
        if (!sg_silence_check(&mm->silence, sg_mqtt_map_at(in->map, k), mono_ms,
                              wall_ms, in->conf->stale_after_ms,
                              in->conf->mqtt_timeout_ms, &batch[n]))
            continue;
        next_seq(mm, &batch[n]);
        if (++n == sizeof batch / sizeof batch[0]) {
            sg_queue_push(in->out, batch, n);
            n = 0;
        }
    }
    if (n)
        sg_queue_push(in->out, batch, n);
    pthread_mutex_unlock(&in->mu);
}

/* libmosquitto's thread: (re)subscribe on every connect. */
static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    sg_mqtt_in_t *in = obj;
    const char *const *filters;
    size_t n = sg_mqtt_map_filters(in->map, &filters);
    if (rc != 0) {
        log_warn("mqtt", "connect to %s:%lld refused: %s", in->conf->mqtt_host,
                 (long long)in->conf->mqtt_port, mosquitto_connack_string(rc));
        return;
    }
    obs_gauge_set(in->connected, 1);
    in->is_connected = true;
    log_info("mqtt", "connected to %s:%lld; subscribing to %zu filter(s)",
             in->conf->mqtt_host, (long long)in->conf->mqtt_port, n);
    for (size_t i = 0; i < n; i++) {
        int src = mosquitto_subscribe(mosq, NULL, filters[i], (int)in->conf->mqtt_qos);
        if (src != MOSQ_ERR_SUCCESS)
            log_error("mqtt", "cannot subscribe to '%s': %s", filters[i],
                      mosquitto_strerror(src));
    }
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    sg_mqtt_in_t *in = obj;
    (void)mosq;
    in->is_connected = false;
    obs_gauge_set(in->connected, 0);
    if (rc != 0)
        log_warn("mqtt", "connection to %s:%lld lost; reconnecting",
                 in->conf->mqtt_host, (long long)in->conf->mqtt_port);
}

static int make_meters(sg_mqtt_in_t *in)
{
    size_t n = sg_mqtt_map_count(in->map);
    in->meters = calloc(n ? n : 1, sizeof *in->meters);
    if (!in->meters)
        return -1;
    int64_t now = ems_mono_ms(); /* silence runs on the monotonic clock */
    for (size_t i = 0; i < n; i++) {
        in->meters[i].state_slot = -1;
        sg_silence_init(&in->meters[i].silence, now);
    }
    return 0;
}

/* Seeds the counters of the MQTT meters from the state file. */
static void seed_counters(sg_mqtt_in_t *in)
{
    for (size_t k = 0; in->state && k < sg_mqtt_map_count(in->map); k++)
        in->meters[k].state_slot = sg_state_counter_slot(
            in->state, sg_mqtt_map_at(in->map, k)->id, &in->meters[k].counter);
}

static bool set(const char *s)
{
    return s && *s;
}

/* TLS when scada.mqtt_tls_ca is set: the broker's certificate must chain to
 * that CA and name the host connected to (libmosquitto's default checks);
 * a client certificate when the broker asks for one. */
static int tls_setup(sg_mqtt_in_t *in, char *errstr, size_t n)
{
    const sg_conf_t *c = in->conf;
    const char *files[3][2] = {{"mqtt_tls_ca", c->mqtt_tls_ca},
                               {"mqtt_tls_cert", c->mqtt_tls_cert},
                               {"mqtt_tls_key", c->mqtt_tls_key}};
    int rc;

    if (!set(c->mqtt_tls_ca)) {
        if (set(c->mqtt_tls_cert) || set(c->mqtt_tls_key)) {
            snprintf(errstr, n,
                     "scada.mqtt_tls_cert and mqtt_tls_key need scada.mqtt_tls_ca");
            return -1;
        }
        return 0;
    }
    if (set(c->mqtt_tls_cert) != set(c->mqtt_tls_key)) {
        snprintf(errstr, n, "scada.mqtt_tls_cert and scada.mqtt_tls_key go together");
        return -1;
    }
    for (int i = 0; i < 3; i++)
        if (set(files[i][1]) && access(files[i][1], R_OK) != 0) {
            snprintf(errstr, n, "scada.%s: cannot read '%s': %s", files[i][0],
                     files[i][1], strerror(errno));
            return -1;
        }
    rc = mosquitto_tls_set(in->mosq, c->mqtt_tls_ca, NULL,
                           set(c->mqtt_tls_cert) ? c->mqtt_tls_cert : NULL,
                           set(c->mqtt_tls_key) ? c->mqtt_tls_key : NULL, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(errstr, n, "scada.mqtt_tls_*: %s", mosquitto_strerror(rc));
        return -1;
    }
    return 0;
}

/* libmosquitto's own errors (a failed TLS handshake says why only here). */
static void on_log(struct mosquitto *mosq, void *obj, int level, const char *msg)
{
    (void)mosq;
    (void)obj;
    if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING))
        log_warn("mqtt", "%s", msg);
}

static int connect_client(sg_mqtt_in_t *in, char *errstr, size_t n)
{
    const sg_conf_t *c = in->conf;
    int rc;
    in->mosq = mosquitto_new(c->mqtt_client_id, true, in);
    if (!in->mosq) {
        snprintf(errstr, n, "cannot create the MQTT client");
        return -1;
    }
    mosquitto_connect_callback_set(in->mosq, on_connect);
    mosquitto_disconnect_callback_set(in->mosq, on_disconnect);
    mosquitto_message_callback_set(in->mosq, on_message);
    mosquitto_log_callback_set(in->mosq, on_log);
    if (tls_setup(in, errstr, n) < 0)
        return -1;
    mosquitto_reconnect_delay_set(in->mosq,
                                  (unsigned)((c->backoff_base_ms + 999) / 1000),
                                  (unsigned)((c->backoff_max_ms + 999) / 1000), true);
    if (c->mqtt_username &&
        mosquitto_username_pw_set(in->mosq, c->mqtt_username, c->mqtt_password)) {
        snprintf(errstr, n, "cannot set the MQTT credentials");
        return -1;
    }
    /* The loop's thread first: started after a connect that failed at
     * once, libmosquitto's thread waits for a state that failed connect
     * never sets and never retries (broker not yet listening at start-up:
     * no reading, ever). Started first, it makes the connection itself and
     * retries it. */
    rc = mosquitto_loop_start(in->mosq);
    if (rc != MOSQ_ERR_SUCCESS)
        goto err;
    in->loop_started = true;
    rc = mosquitto_connect_async(in->mosq, c->mqtt_host, (int)c->mqtt_port,
                                 (int)(c->mqtt_keepalive_ms / 1000));
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_ERRNO && rc != MOSQ_ERR_TLS)
        /* refused, unreachable and a failed handshake (the reason is logged
         * by on_log) are retried by the loop, as they are later on */
        goto err;
    if (rc == MOSQ_ERR_ERRNO)
        log_warn("mqtt", "broker %s:%lld not reachable yet; retrying", c->mqtt_host,
                 (long long)c->mqtt_port);
    if (rc == MOSQ_ERR_TLS)
        log_error("mqtt", "TLS handshake with %s:%lld failed; retrying", c->mqtt_host,
                  (long long)c->mqtt_port);
    return 0;
err:
    snprintf(errstr, n, "scada.mqtt_host: cannot connect to %s:%lld: %s", c->mqtt_host,
             (long long)c->mqtt_port, mosquitto_strerror(rc));
    return -1;
}

sg_mqtt_in_t *sg_mqtt_in_start(const sg_conf_t *conf, const sg_mqtt_map_t *map,
                               sg_state_t *state, sg_queue_t *out,
                               obs_metrics_t *metrics, char *errstr, size_t errstr_size)
{
    sg_mqtt_in_t *in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    mosquitto_lib_init();
    *in = (sg_mqtt_in_t){.conf = conf, .map = map, .state = state, .out = out};
    in->messages = obs_counter(metrics, "ems_scada_mqtt_messages_total",
                               "MQTT messages received.", NULL);
    in->rejected = obs_counter(
        metrics, "ems_scada_mqtt_rejected_total",
        "MQTT messages rejected (unmapped topic or payload; reason in the log).", NULL);
    in->connected = obs_gauge(metrics, "ems_scada_mqtt_connected",
                              "1 while connected to the MQTT broker.", NULL);
    if (pthread_mutex_init(&in->mu, NULL) != 0)
        goto err;
    in->mu_ok = true;
    if (make_meters(in) < 0)
        goto err;
    seed_counters(in);
    if (connect_client(in, errstr, errstr_size) < 0)
        goto err;
    return in;
err:
    sg_mqtt_in_stop(in);
    return NULL;
}

void sg_mqtt_in_stop(sg_mqtt_in_t *in)
{
    if (!in)
        return;
    if (in->mosq) {
        bool connected = in->is_connected;
        mosquitto_disconnect(in->mosq);
        /* Not connected, the thread may sleep in a reconnect delay of up to
         * backoff_max: cancel it rather than wait. */
        if (in->loop_started)
            mosquitto_loop_stop(in->mosq, !connected);
        mosquitto_destroy(in->mosq);
    }
    mosquitto_lib_cleanup();
    if (in->mu_ok)
        pthread_mutex_destroy(&in->mu);
    free(in->meters);
    free(in);
}
