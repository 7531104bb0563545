/* bus/producer: idempotent Avro producer. See bus.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/codec.h"
#include "bus/internal.h"

#define PROD_FULL_WAIT_MS 50
#define PROD_DESTROY_FLUSH_MS 10000

/* A topic this producer writes to; the message opaque of its records. */
typedef struct prod_topic {
    char *name; /* logical */
    rd_kafka_topic_t *rkt;
    bus_topic_t *bt; /* NULL until the first Avro record */
    int32_t id;      /* registered schema id when bt is set */
    obs_counter_t *produced;
    obs_counter_t *errors;
} prod_topic_t;

struct bus_producer_s {
    bus_t *bus;
    rd_kafka_t *rk;
    bus_encoder_t enc;
    prod_topic_t **topics;
    size_t ntopics;
    prod_topic_t *last; /* the last topic used: the common case */
    int64_t failed;
    int64_t reported; /* failures a flush has already reported */
    char last_error[256];
    bus_oversize_fn oversize; /* NULL: a record too large just fails */
    void *oversize_opaque;
};

static const char *const prod_defaults[] = {
    "enable.idempotence",
    "true",
    "linger.ms",
    "5",
    "batch.num.messages",
    "10000",
    "batch.size",
    "1000000",
    "queue.buffering.max.messages",
    "500000",
    "message.timeout.ms",
    "30000",
    NULL,
};

/* Offers a record the broker refused as too large to the oversize hook.
 * True when the hook sent a replacement. */
static int prod_replace_oversize(bus_producer_t *p, prod_topic_t *pt,
                                 const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hdrs = NULL;

    if (!p->oversize)
        return 0;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = NULL;
    return p->oversize(p->oversize_opaque, p, pt->name, m->key, m->key_len, m->len,
                       hdrs) == 0;
}

/* Delivery report, run by rd_kafka_poll()/flush() on the caller's thread. */
static void prod_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    bus_producer_t *p = opaque;
    prod_topic_t *pt = m->_private;

    (void)rk;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        obs_counter_inc(pt->produced);
        return;
    }
    obs_counter_inc(pt->errors);
    if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE &&
        prod_replace_oversize(p, pt, m))
        return; /* the replacement stands for it: a flush waits for it */
    p->failed++;
    snprintf(p->last_error, sizeof(p->last_error), "delivery to '%s' failed: %s",
             rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
}

bus_producer_t *bus_producer_new(bus_t *bus, char *errstr, size_t errstr_size)
{
    bus_producer_t *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = NULL;
    char why[512];

    if (!p || bus_encoder_init(&p->enc) != 0) {
        snprintf(errstr, errstr_size, "producer: out of memory");
        goto err;
    }
    p->bus = bus;
    conf = bus_kafka_conf(bus, prod_defaults, errstr, errstr_size);
    if (!conf)
        goto err;
    rd_kafka_conf_set_dr_msg_cb(conf, prod_dr_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!p->rk) {
        snprintf(errstr, errstr_size, "producer for '%s': %s", bus->bootstrap, why);
        rd_kafka_conf_destroy(conf);
        goto err;
    }
    return p;
err:
    bus_producer_destroy(p);
    return NULL;
}

/* Builds the per-topic counters. Labels follow obs/metrics.h. */
static void prod_topic_metrics(bus_producer_t *p, prod_topic_t *pt)
{
    char labels[BUS_TOPIC_MAX + 16];

    snprintf(labels, sizeof(labels), "topic=%s", pt->name);
    pt->produced = obs_counter(p->bus->metrics, "ems_bus_produced_total",
                               "Records delivered to the broker.", labels);
    pt->errors = obs_counter(p->bus->metrics, "ems_bus_produce_errors_total",
                             "Records whose delivery failed.", labels);
}

/* Finds or adds the producer's entry for a logical topic. */
static prod_topic_t *prod_topic(bus_producer_t *p, const char *topic, char *errstr,
                                size_t errstr_size)
{
    char wire[BUS_TOPIC_MAX + 1];
    prod_topic_t *pt, **grown;
    size_t i;

    if (p->last && strcmp(p->last->name, topic) == 0)
        return p->last;
    for (i = 0; i < p->ntopics; i++)
        if (strcmp(p->topics[i]->name, topic) == 0)
            return p->last = p->topics[i];
    if (bus_topic_name_check(p->bus, topic, errstr, errstr_size) != 0)
        return NULL;
    bus_wire_name(p->bus, topic, wire, sizeof(wire));
    grown = realloc(p->topics, (p->ntopics + 1) * sizeof(*grown));
    pt = calloc(1, sizeof(*pt));
    if (grown)
        p->topics = grown;
    if (!grown || !pt || !(pt->name = strdup(topic)) ||
        !(pt->rkt = rd_kafka_topic_new(p->rk, wire, NULL))) {
        snprintf(errstr, errstr_size, "producer: cannot add topic '%s'", wire);
        if (pt)
            free(pt->name);
        free(pt);
        return NULL;
    }
    prod_topic_metrics(p, pt);
    p->topics[p->ntopics++] = pt;
    return p->last = pt;
}

void bus_producer_on_oversize(bus_producer_t *p, bus_oversize_fn fn, void *opaque)
{
    p->oversize = fn;
    p->oversize_opaque = opaque;
}

/* Enqueues one record, serving delivery reports while the queue is full.
 * Takes hdrs (NULL for none) in every case. */
static int prod_send(bus_producer_t *p, prod_topic_t *pt, const void *key,
                     size_t key_len, const void *payload, size_t len,
                     int64_t timestamp_ms, rd_kafka_headers_t *hdrs, char *errstr,
                     size_t errstr_size)
{
    rd_kafka_resp_err_t err;
    int replaced;

    for (;;) {
        err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_RKT(pt->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_KEY(key, key_len),
            RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_OPAQUE(pt),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(p->rk, PROD_FULL_WAIT_MS);
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    obs_counter_inc(pt->errors);
    /* refused before it was queued: it does not fit message.max.bytes */
    replaced =
        err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && p->oversize &&
        p->oversize(p->oversize_opaque, p, pt->name, key, key_len, len, hdrs) == 0;
    if (hdrs)
        rd_kafka_headers_destroy(hdrs);
    if (replaced)
        return 0;
    snprintf(errstr, errstr_size, "produce to '%s': %s", rd_kafka_topic_name(pt->rkt),
             rd_kafka_err2str(err));
    return -1;
}

/* Makes sure pt has its registered schema. */
static int prod_topic_schema(bus_producer_t *p, prod_topic_t *pt, char *errstr,
                             size_t errstr_size)
{
    bus_topic_t *bt;

    if (pt->bt)
        return 0;
    bt = bus_topic_get(p->bus, pt->name, errstr, errstr_size);
    if (!bt || bus_topic_register(p->bus, bt, errstr, errstr_size) != 0)
        return -1;
    pt->id = bt->id;
    pt->bt = bt;
    return 0;
}

/* True when value is an instance of the topic's schema. */
static int prod_value_matches(const prod_topic_t *pt, avro_value_t *value)
{
    avro_schema_t s = avro_value_get_schema(value);

    return s == pt->bt->schema || (s && avro_schema_equal(s, pt->bt->schema));
}

int bus_produce(bus_producer_t *p, const char *topic, const char *key,
                avro_value_t *value, int64_t timestamp_ms, char *errstr,
                size_t errstr_size)
{
    prod_topic_t *pt = prod_topic(p, topic, errstr, errstr_size);
    const void *buf;
    size_t len;

    if (!pt || prod_topic_schema(p, pt, errstr, errstr_size) != 0)
        return -1;
    if (!prod_value_matches(pt, value)) {
        snprintf(errstr, errstr_size, "value for '%s' is not of the topic's schema",
                 topic);
        return -1;
    }
    if (bus_encode(&p->enc, pt->id, value, &buf, &len, errstr, errstr_size) != 0)
        return -1;
    return prod_send(p, pt, key, key ? strlen(key) : 0, buf, len, timestamp_ms, NULL,
                     errstr, errstr_size);
}

/* Builds librdkafka headers from a NULL-terminated name, value list. */
static rd_kafka_headers_t *prod_headers(const char *const *headers)
{
    rd_kafka_headers_t *hdrs;
    size_t n = 0, i;

    while (headers && headers[n] && headers[n + 1])
        n += 2;
    if (n == 0)
        return NULL;
    hdrs = rd_kafka_headers_new(n / 2);
    for (i = 0; i < n; i += 2)
        rd_kafka_header_add(hdrs, headers[i], -1, headers[i + 1], -1);
    return hdrs;
}

int bus_produce_raw(bus_producer_t *p, const char *topic, const void *key,
                    size_t key_len, const void *payload, size_t len,
                    const char *const *headers, char *errstr, size_t errstr_size)
{
    prod_topic_t *pt = prod_topic(p, topic, errstr, errstr_size);

    if (!pt)
        return -1;
    return prod_send(p, pt, key, key_len, payload, len, 0, prod_headers(headers),
                     errstr, errstr_size);
}

int bus_produce_headers(bus_producer_t *p, const char *topic, const void *key,
                        size_t key_len, const void *payload, size_t len,
                        rd_kafka_headers_t *hdrs, char *errstr, size_t errstr_size)
{
    prod_topic_t *pt = prod_topic(p, topic, errstr, errstr_size);

    if (!pt) {
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return -1;
    }
    return prod_send(p, pt, key, key_len, payload, len, 0, hdrs, errstr, errstr_size);
}

void bus_producer_poll(bus_producer_t *p)
{
    rd_kafka_poll(p->rk, 0);
}

int bus_producer_flush(bus_producer_t *p, int timeout_ms, char *errstr,
                       size_t errstr_size)
{
    rd_kafka_resp_err_t err = rd_kafka_flush(p->rk, timeout_ms);
    int left = rd_kafka_outq_len(p->rk);

    if (err || left > 0) {
        snprintf(errstr, errstr_size,
                 "flush to '%s': %d record(s) not delivered after "
                 "%d ms",
                 p->bus->bootstrap, left, timeout_ms);
        return -1;
    }
    /* every failure not reported yet, also those whose report a poll
     * (bus_producer_poll, or a full queue in prod_send) served before this
     * flush: the caller must not take them as delivered */
    if (p->failed != p->reported) {
        snprintf(errstr, errstr_size, "%lld record(s) failed, last: %s",
                 (long long)(p->failed - p->reported), p->last_error);
        p->reported = p->failed;
        return -1;
    }
    return 0;
}

int64_t bus_producer_failed(const bus_producer_t *p)
{
    return p->failed;
}

void bus_producer_destroy(bus_producer_t *p)
{
    size_t i;

    if (!p)
        return;
    if (p->rk)
        rd_kafka_flush(p->rk, PROD_DESTROY_FLUSH_MS);
    for (i = 0; i < p->ntopics; i++) {
        rd_kafka_topic_destroy(p->topics[i]->rkt);
        free(p->topics[i]->name);
        free(p->topics[i]);
    }
    if (p->rk)
        rd_kafka_destroy(p->rk);
    bus_encoder_release(&p->enc);
    free(p->topics);
    free(p);
}
