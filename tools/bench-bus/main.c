/*
 * bench-bus: throughput of the bus round trip (encode, produce, consume,
 * decode) of telemetry records, beside raw librdkafka produce + consume of
 * the same bytes with the same producer settings, in the same run.
 *
 *   bench-bus --bootstrap HOST:PORT --registry URL [--schemas DIR] [-n N]
 *             [--rounds R]
 *
 * Prints one line: bus_roundtrip_rps=... raw_rps=... ratio=..., the medians
 * of R rounds (default 4) that alternate which half runs first, each on
 * fresh topics and groups; each round's figures go to stderr.
 * The consume phase is timed from its first record, so the consumer-group
 * join is not counted (for either side). BENCH_RAW_ONLY=1 in the environment
 * runs only the raw librdkafka half (to tell broker limits from bus cost).
 *
 * Size limit: the devbroker keeps at most 5 MiB of record batches per
 * partition and silently drops the oldest beyond that (docs/adr/0002). Both
 * bench topics are auto-created with 4 partitions, and records are keyed by
 * BENCH_KEYS meter ids so they spread over all of them: 4 x 5 MiB holds about
 * 170,000 telemetry records of ~120 bytes each, so the default -n is
 * 100,000. After producing, the bench reads each partition's low watermark
 * and stops with an explanation if the broker dropped anything, instead of
 * waiting for records that are gone.
 */
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "clock/clock.h"

#define TOPIC "energy.telemetry"
#define BATCH 10000
#define WAIT_S 120
#define STALL_S 10 /* no record for this long: give up */
#define BENCH_KEYS 64

typedef struct opts {
    const char *bootstrap;
    const char *registry;
    const char *schemas;
    long n;
    int rounds;
    char run[48];    /* bench<time><pid>: unique per run */
    char prefix[64]; /* run + round: fresh topics and groups per round */
} opts_t;

/* CPU seconds used so far by the whole process (every thread). */
static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "bench-bus: %s: %s\n", what, why);
    return -1;
}

/* The record key of sequence number seq: one of BENCH_KEYS meter ids. */
static const char *bench_key(long seq)
{
    static char keys[BENCH_KEYS][24];

    if (!keys[0][0])
        for (int i = 0; i < BENCH_KEYS; i++)
            snprintf(keys[i], sizeof(keys[i]), "meter-307-%02d", i);
    return keys[seq % BENCH_KEYS];
}

/* Fails when the broker dropped records of topic since they were produced
 * (a partition's low watermark above 0): they can never be consumed. */
static int check_retained(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int64_t lo, hi, dropped = 0;
    char why[256];
    int i, rc = 0;

    if (!rkt ||
        rd_kafka_metadata(rk, 0, rkt, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topic_cnt != 1) {
        rc = fail(topic, "no metadata to check retention");
        goto out;
    }
    for (i = 0; i < md->topics[0].partition_cnt; i++)
        if (rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 5000) == 0)
            dropped += lo;
    if (dropped > 0) {
        snprintf(why, sizeof(why),
                 "the broker dropped the %lld oldest records (the devbroker keeps "
                 "5 MiB per partition): use a smaller -n",
                 (long long)dropped);
        rc = fail(topic, why);
    }
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return rc;
}

/* Sets the telemetry fields a gateway would set; unions get their value.
 * Field positions are looked up once, as a gateway would keep them. */
static void fill(avro_value_t *v, long seq)
{
    static const char *const names[] = {
        "site_id",    "meter_id",  "ts",        "seq",          "power_kw",
        "energy_kwh", "voltage_v", "current_a", "frequency_hz", "power_factor"};
    static size_t idx[10];
    static int have[10], looked_up;
    avro_value_t f, b;
    size_t i;

    if (!looked_up) {
        avro_schema_t s = avro_value_get_schema(v);
        for (i = 0; i < 10; i++) {
            int k = avro_schema_record_field_get_index(s, names[i]);
            have[i] = k >= 0;
            idx[i] = have[i] ? (size_t)k : 0;
        }
        looked_up = 1;
    }
    if (have[0] && avro_value_get_by_index(v, idx[0], &f, NULL) == 0)
        avro_value_set_string(&f, "site-nl-307");
    if (have[1] && avro_value_get_by_index(v, idx[1], &f, NULL) == 0)
        avro_value_set_string(&f, bench_key(seq));
    if (have[2] && avro_value_get_by_index(v, idx[2], &f, NULL) == 0)
        avro_value_set_long(&f, 1600000000000LL + seq * 1000);
    if (have[3] && avro_value_get_by_index(v, idx[3], &f, NULL) == 0)
        avro_value_set_long(&f, seq);
    for (i = 4; i < 10; i++)
        if (have[i] && avro_value_get_by_index(v, idx[i], &f, NULL) == 0 &&
            avro_value_set_branch(&f, 1, &b) == 0)
            avro_value_set_double(&b, 100.0 + (double)(seq % 1000) * 0.5 + (double)i);
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
        rd_kafka_conf_set(conf, "batch.size", "1000000", NULL, 0);
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "500000", NULL, 0);
    } else {
        rd_kafka_conf_set(conf, "group.id", group, NULL, 0);
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", NULL, 0);
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
        rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", NULL, 0);
    }
    rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (!rk)
        fail("raw client", err);
    return rk;
}

/* Checks the retention of a topic through a short-lived raw handle. */
static int check_topic(const opts_t *o, const char *topic)
{
    rd_kafka_t *rk = raw_client(o, RD_KAFKA_PRODUCER, NULL);
    int rc = rk ? check_retained(rk, topic) : -1;

    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}

/* Bus: produce n records, then consume and decode them. Fills the encoded
 * size of one record. Returns records/s or -1. */
static double run_bus(const opts_t *o, size_t *rec_len)
{
    bus_conf_t conf = {o->bootstrap, o->registry, o->schemas, o->prefix,
                       "bench-bus",  NULL,        NULL};
    const char *topics[] = {TOPIC};
    char err[512] = "", group[128], wire[128];
    bus_t *bus = bus_new(&conf, err, sizeof(err));
    bus_producer_t *p = bus ? bus_producer_new(bus, err, sizeof(err)) : NULL;
    bus_consumer_t *c = NULL;
    bus_record_t *b;
    double t0, t_prod = 0, t1 = 0, t_last, rps = -1;
    avro_value_t v;
    long i, got = 0;
    int k;

    if (!p || bus_value_new(bus, TOPIC, &v, err, sizeof(err)) != 0)
        goto out;
    t0 = ems_mono_s();
    for (i = 0; i < o->n; i++) {
        fill(&v, i);
        if (bus_produce(p, TOPIC, bench_key(i), &v, 0, err, sizeof(err)) != 0)
            goto out_v;
    }
    if (bus_producer_flush(p, 60000, err, sizeof(err)) != 0)
        goto out_v;
    t_prod = ems_mono_s() - t0;
    snprintf(wire, sizeof(wire), "%s%s", o->prefix, TOPIC);
    if (check_topic(o, wire) != 0)
        goto out_v;
    snprintf(group, sizeof(group), "%sbench", o->prefix);
    c = bus_consumer_new(bus, group, topics, 1, err, sizeof(err));
    for (t0 = t_last = ems_mono_s(); c && got < o->n && ems_mono_s() - t0 < WAIT_S &&
                                     (got == 0 || ems_mono_s() - t_last < STALL_S);) {
        k = bus_consumer_poll(c, &b, BATCH, 500, err, sizeof(err));
        if (k < 0)
            break;
        if (k > 0 && got == 0) {
            t1 = ems_mono_s();
            *rec_len = b[0].raw_len;
        }
        if (k > 0)
            t_last = ems_mono_s();
        got += k;
        if (k > 0 && bus_consumer_ack(c, err, sizeof(err)) != 0)
            break;
    }
    if (got == o->n)
        rps = (double)o->n / (t_prod + (ems_mono_s() - t1));
    else if (!err[0])
        snprintf(err, sizeof(err), "consumed %ld of %ld records", got, o->n);
out_v:
    avro_value_decref(&v);
out:
    if (rps < 0 && err[0])
        fail("bus", err);
    bus_consumer_destroy(c);
    bus_producer_destroy(p);
    bus_destroy(bus);
    return rps;
}

static int raw_produce(const opts_t *o, rd_kafka_t *rk, const char *topic,
                       const void *payload, size_t len)
{
    rd_kafka_resp_err_t err;
    long i;

    for (i = 0; i < o->n; i++) {
        const char *key = bench_key(i);

        while ((err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_VALUE((void *)payload, len),
                                        RD_KAFKA_V_KEY(key, strlen(key)),
                                        RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
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
    double t0, t_prod, t1 = 0, t_last, rate = -1;
    long got = 0, inbatch = 0;

    snprintf(topic, sizeof(topic), "%sraw.telemetry", o->prefix);
    snprintf(group, sizeof(group), "%sraw", o->prefix);
    t0 = ems_mono_s();
    if (!p || raw_produce(o, p, topic, payload, len) != 0)
        goto out;
    t_prod = ems_mono_s() - t0;
    if (check_retained(p, topic) != 0)
        goto out;
    rd_kafka_destroy(p);
    p = NULL;
    if (!(c = raw_client(o, RD_KAFKA_CONSUMER, group)))
        goto out;
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(c, l);
    /* the clock is read once per batch, not per record */
    for (t0 = t_last = ems_mono_s(); got < o->n;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, inbatch ? 0 : 500);

        if ((!m || inbatch >= BATCH) && inbatch) {
            rd_kafka_commit(c, NULL, 0);
            inbatch = 0;
            t_last = ems_mono_s();
        }
        if (m && !m->err) {
            if (got++ == 0)
                t1 = t_last = ems_mono_s();
            inbatch++;
            rd_kafka_offset_store(m->rkt, m->partition, m->offset);
        }
        if (m)
            rd_kafka_message_destroy(m);
        else if (ems_mono_s() - t0 > WAIT_S ||
                 (got > 0 && ems_mono_s() - t_last > STALL_S))
            break;
    }
    if (inbatch)
        rd_kafka_commit(c, NULL, 0);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    if (got != o->n)
        fprintf(stderr, "bench-bus: raw: consumed %ld of %ld records\n", got, o->n);
    else
        rate = (double)o->n / (t_prod + (ems_mono_s() - t1));
out:
    if (p)
        rd_kafka_destroy(p);
    rd_kafka_topic_partition_list_destroy(l);
    free(payload);
    return rate;
}
static int parse_opts(int argc, char **argv, opts_t *o)
{
    static const struct option lo[] = {{"bootstrap", required_argument, 0, 'b'},
                                       {"registry", required_argument, 0, 'r'},
                                       {"schemas", required_argument, 0, 's'},
                                       {"count", required_argument, 0, 'n'},
                                       {"rounds", required_argument, 0, 'R'},
                                       {0, 0, 0, 0}};
    int ch;

    o->bootstrap = "127.0.0.1:29092";
    o->registry = "http://127.0.0.1:28081";
    o->schemas = "schemas";
    o->n = 100000;
    o->rounds = 4;
    while ((ch = getopt_long(argc, argv, "b:r:s:n:R:", lo, NULL)) != -1) {
        switch (ch) {
        case 'b':
            o->bootstrap = optarg;
            break;
        case 'r':
            o->registry = optarg;
            break;
        case 's':
            o->schemas = optarg;
            break;
        case 'n':
            o->n = strtol(optarg, NULL, 10);
            break;
        case 'R':
            o->rounds = (int)strtol(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: bench-bus [--bootstrap H:P] [--registry URL] "
                            "[--schemas DIR] [-n N] [--rounds R]\n");
            return -1;
        }
    }
    if (o->n <= 0)
        return fail("-n", "must be a positive count");
    if (o->rounds < 1 || o->rounds > 99)
        return fail("--rounds", "must be 1..99");
    snprintf(o->run, sizeof(o->run), "bench%lx%x", (long)time(NULL),
             (unsigned)getpid());
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Rounds alternate bus and raw on fresh topics; the medians are printed, so
 * one round disturbed by a neighbour on a shared machine does not decide. */
int main(int argc, char **argv)
{
    double bus_rps[100], raw_rps[100], bus_cpu = 0, raw_cpu = 0, c0, bus_med, raw_med;
    size_t len = 96;
    opts_t o;
    int r;

    if (parse_opts(argc, argv, &o) != 0)
        return 2;
    for (r = 0; r < o.rounds; r++) {
        int raw_first = r % 2; /* alternate: the first run warms the heap */

        snprintf(o.prefix, sizeof(o.prefix), "%s.%d.", o.run, r);
        c0 = cpu_s();
        raw_rps[r] = raw_first ? run_raw(&o, len) : 0;
        raw_cpu += cpu_s() - c0;
        c0 = cpu_s();
        bus_rps[r] = getenv("BENCH_RAW_ONLY") ? 1 : run_bus(&o, &len);
        bus_cpu += cpu_s() - c0;
        c0 = cpu_s();
        if (!raw_first && bus_rps[r] >= 0)
            raw_rps[r] = run_raw(&o, len);
        raw_cpu += cpu_s() - c0;
        if (bus_rps[r] < 0 || raw_rps[r] < 0)
            return 1;
        fprintf(stderr, "bench-bus: round %d: bus %.0f/s raw %.0f/s\n", r + 1,
                bus_rps[r], raw_rps[r]);
    }
    qsort(bus_rps, (size_t)o.rounds, sizeof(double), cmp_double);
    qsort(raw_rps, (size_t)o.rounds, sizeof(double), cmp_double);
    bus_med = (bus_rps[(o.rounds - 1) / 2] + bus_rps[o.rounds / 2]) / 2;
    raw_med = (raw_rps[(o.rounds - 1) / 2] + raw_rps[o.rounds / 2]) / 2;
    /* per CPU-second of this process (all its threads): records a single
     * core would carry, whatever else the machine is doing */
    printf("records=%ld record_bytes=%zu rounds=%d bus_roundtrip_rps=%.0f raw_rps=%.0f "
           "ratio=%.2f bus_per_cpu_s=%.0f raw_per_cpu_s=%.0f\n",
           o.n, len, o.rounds, bus_med, raw_med, bus_med / raw_med,
           (double)o.n * o.rounds / bus_cpu, (double)o.n * o.rounds / raw_cpu);
    return 0;
}
