/*
 * bench-bus: throughput of the bus round trip (encode, produce, consume,
 * decode) of telemetry records, beside raw librdkafka produce + consume of
 * the same bytes with the same producer settings, in the same run.
 *
 *   bench-bus --bootstrap HOST:PORT --registry URL [--schemas DIR] [-n N]
 *
 * Prints one line: bus_roundtrip_rps=... raw_rps=... ratio=...
 * The consume phase is timed from its first record, so the consumer-group
 * join is not counted (for either side). BENCH_RAW_ONLY=1 in the environment
 * runs only the raw librdkafka half (to tell broker limits from bus cost).
 */
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"

#define TOPIC "energy.telemetry"
#define BATCH 10000
#define WAIT_S 120

typedef struct opts {
    const char *bootstrap;
    const char *registry;
    const char *schemas;
    long n;
    char prefix[64];
} opts_t;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "bench-bus: %s: %s\n", what, why);
    return -1;
}

/* Sets the telemetry fields a gateway would set; unions get their value. */
static void fill(avro_value_t *v, long seq)
{
    static const char *const dbl[] = {"power_kw", "energy_kwh", "voltage_v",
                                      "current_a", "frequency_hz", "power_factor"};
    avro_value_t f, b;
    size_t i;

    if (avro_value_get_by_name(v, "site_id", &f, NULL) == 0)
        avro_value_set_string(&f, "site-nl-307");
    if (avro_value_get_by_name(v, "meter_id", &f, NULL) == 0)
        avro_value_set_string(&f, "meter-307-main");
    if (avro_value_get_by_name(v, "ts", &f, NULL) == 0)
        avro_value_set_long(&f, 1600000000000LL + seq * 1000);
    if (avro_value_get_by_name(v, "seq", &f, NULL) == 0)
        avro_value_set_long(&f, seq);
    for (i = 0; i < sizeof(dbl) / sizeof(dbl[0]); i++)
        if (avro_value_get_by_name(v, dbl[i], &f, NULL) == 0 &&
            avro_value_set_branch(&f, 1, &b) == 0)
            avro_value_set_double(&b, 100.0 + (double)(seq % 1000) * 0.5 + (double)i);
}

/* Bus: produce n records, then consume and decode them. Fills the encoded
 * size of one record. Returns records/s or -1. */
static double run_bus(const opts_t *o, size_t *rec_len)
{
    bus_conf_t conf = {o->bootstrap, o->registry, o->schemas, o->prefix, "bench-bus",
                       NULL, NULL};
    const char *topics[] = {TOPIC};
    char err[512], group[128];
    bus_t *bus = bus_new(&conf, err, sizeof(err));
    bus_producer_t *p = bus ? bus_producer_new(bus, err, sizeof(err)) : NULL;
    bus_consumer_t *c = NULL;
    bus_record_t *b;
    double t0, t_prod = 0, t1 = 0, rps = -1;
    avro_value_t v;
    long i, got = 0;
    int k;

    if (!p || bus_value_new(bus, TOPIC, &v, err, sizeof(err)) != 0)
        goto out;
    t0 = now_s();
    for (i = 0; i < o->n; i++) {
        fill(&v, i);
        if (bus_produce(p, TOPIC, "site-nl-307", &v, 0, err, sizeof(err)) != 0)
            goto out_v;
    }
    if (bus_producer_flush(p, 60000, err, sizeof(err)) != 0)
        goto out_v;
    t_prod = now_s() - t0;
    snprintf(group, sizeof(group), "%sbench", o->prefix);
    c = bus_consumer_new(bus, group, topics, 1, err, sizeof(err));
    for (t0 = now_s(); c && got < o->n && now_s() - t0 < WAIT_S;) {
        k = bus_consumer_poll(c, &b, BATCH, 500, err, sizeof(err));
        if (k < 0)
            break;
        if (k > 0 && got == 0) {
            t1 = now_s();
            *rec_len = b[0].raw_len;
        }
        got += k;
        if (k > 0 && bus_consumer_ack(c, err, sizeof(err)) != 0)
            break;
    }
    if (got == o->n)
        rps = (double)o->n / (t_prod + (now_s() - t1));
    else
        snprintf(err, sizeof(err), "consumed %ld of %ld records", got, o->n);
out_v:
    avro_value_decref(&v);
out:
    if (rps < 0)
        fail("bus", err);
    bus_consumer_destroy(c);
    bus_producer_destroy(p);
    bus_destroy(bus);
    return rps;
}

static rd_kafka_t *raw_client(const opts_t *o, rd_kafka_type_t type, const char *group)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    rd_kafka_t *rk;

    rd_kafka_conf_set(conf, "bootstrap.servers", o->bootstrap, NULL, 0);
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set(conf, "enable.idempotence", "true", NULL, 0);
        rd_kafka_conf_set(conf, "linger.ms", "5", NULL, 0);
        rd_kafka_conf_set(conf, "batch.num.messages", "10000", NULL, 0);
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "500000", NULL, 0);
    } else {
        rd_kafka_conf_set(conf, "group.id", group, NULL, 0);
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", NULL, 0);
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    }
    rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (!rk)
        fail("raw client", err);
    return rk;
}

static int raw_produce(const opts_t *o, rd_kafka_t *rk, const char *topic,
                       const void *payload, size_t len)
{
    rd_kafka_resp_err_t err;
    long i;

    for (i = 0; i < o->n; i++) {
        while ((err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_VALUE((void *)payload, len),
                                        RD_KAFKA_V_KEY("site-nl-307", 11),
                                        RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 50);
        if (err)
            return fail("raw produce", rd_kafka_err2str(err));
    }
    return rd_kafka_flush(rk, 60000) ? fail("raw flush", "timed out") : 0;
}

/* Raw: the same bytes, produce then consume (commit per batch too). */
static double run_raw(const opts_t *o, size_t len)
{
    char topic[128], group[128];
    rd_kafka_t *p = raw_client(o, RD_KAFKA_PRODUCER, NULL), *c;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    char *payload = calloc(1, len);
    double t0, t_prod, t1 = 0;
    long got = 0, inbatch = 0;

    snprintf(topic, sizeof(topic), "%sraw.telemetry", o->prefix);
    snprintf(group, sizeof(group), "%sraw", o->prefix);
    t0 = now_s();
    if (!p || raw_produce(o, p, topic, payload, len) != 0)
        return -1;
    t_prod = now_s() - t0;
    rd_kafka_destroy(p);
    if (!(c = raw_client(o, RD_KAFKA_CONSUMER, group)))
        return -1;
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(c, l);
    for (t0 = now_s(); got < o->n && now_s() - t0 < WAIT_S;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, inbatch ? 0 : 500);

        if ((!m || inbatch >= BATCH) && inbatch) {
            rd_kafka_commit(c, NULL, 0);
            inbatch = 0;
        }
        if (m && !m->err) {
            if (got++ == 0)
                t1 = now_s();
            inbatch++;
            rd_kafka_offset_store(m->rkt, m->partition, m->offset);
        }
        if (m)
            rd_kafka_message_destroy(m);
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    free(payload);
    if (got != o->n)
        return fail("raw", "not every record was consumed"), -1;
    return (double)o->n / (t_prod + (now_s() - t1));
}

static int parse_opts(int argc, char **argv, opts_t *o)
{
    static const struct option lo[] = {{"bootstrap", required_argument, 0, 'b'},
                                       {"registry", required_argument, 0, 'r'},
                                       {"schemas", required_argument, 0, 's'},
                                       {"count", required_argument, 0, 'n'},
                                       {0, 0, 0, 0}};
    int ch;

    o->bootstrap = "127.0.0.1:29092";
    o->registry = "http://127.0.0.1:28081";
    o->schemas = "schemas";
    o->n = 500000;
    while ((ch = getopt_long(argc, argv, "b:r:s:n:", lo, NULL)) != -1) {
        switch (ch) {
        case 'b': o->bootstrap = optarg; break;
        case 'r': o->registry = optarg; break;
        case 's': o->schemas = optarg; break;
        case 'n': o->n = strtol(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: bench-bus [--bootstrap H:P] [--registry URL] "
                            "[--schemas DIR] [-n N]\n");
            return -1;
        }
    }
    if (o->n <= 0)
        return fail("-n", "must be a positive count");
    snprintf(o->prefix, sizeof(o->prefix), "bench%lx%x.", (long)time(NULL),
             (unsigned)getpid());
    return 0;
}

int main(int argc, char **argv)
{
    size_t len = 0;
    double bus_rps, raw_rps;
    opts_t o;

    if (parse_opts(argc, argv, &o) != 0)
        return 2;
    bus_rps = getenv("BENCH_RAW_ONLY") ? (len = 96, 1) : run_bus(&o, &len);
    if (bus_rps < 0)
        return 1;
    raw_rps = run_raw(&o, len);
    if (raw_rps < 0)
        return 1;
    printf("records=%ld record_bytes=%zu bus_roundtrip_rps=%.0f raw_rps=%.0f ratio=%.2f\n",
           o.n, len, bus_rps, raw_rps, bus_rps / raw_rps);
    return 0;
}
