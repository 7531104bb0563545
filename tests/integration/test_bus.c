/* Integration tests for bus against the running test stack (devbroker and
 * devregistry): EMS_TEST_BOOTSTRAP, EMS_TEST_REGISTRY, EMS_TEST_ROOT.
 * Every test uses its own unique topic prefix and group, so runs and tests
 * never see each other's records. */
#include <check.h>
#include <stdarg.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "bus/consumer_int.h"
#include "bus/internal.h"
#include "bus/registry.h"
#include "obs/metrics.h"
#include "support/harness.h"

#define TOPIC "energy.telemetry"
#define WAIT_MS 90000

typedef struct env {
    char prefix[64];
    char schema_dir[4096];
    obs_metrics_t *metrics;
    bus_t *bus;
} env_t;

static env_t E;
static char err[512];

/* A bus on the test stack with E's prefix and schemas and these Kafka
 * properties (NULL-terminated key, value list). */
static bus_t *bus_with(const char *const *props)
{
    bus_conf_t conf = {0};

    conf.bootstrap = th_env_or("EMS_TEST_BOOTSTRAP", "127.0.0.1:29092");
    conf.registry_url = th_env_or("EMS_TEST_REGISTRY", "http://127.0.0.1:28081");
    conf.schema_dir = E.schema_dir;
    conf.topic_prefix = E.prefix;
    conf.client_id = "test_bus";
    conf.metrics = E.metrics;
    conf.kafka_props = props;
    return th_bus_new(&conf);
}

static void setup(void)
{
    /* a restarted member waits for the dead one's session to expire */
    static const char *const props[] = {"session.timeout.ms", "6000", NULL};

    th_unique(E.prefix, sizeof(E.prefix), "t", ".");
    snprintf(E.schema_dir, sizeof(E.schema_dir), "%s/schemas",
             th_env_or("EMS_TEST_ROOT", "."));
    E.metrics = obs_metrics_new();
    E.bus = bus_with(props);
}

static void teardown(void)
{
    bus_destroy(E.bus);
    obs_metrics_destroy(E.metrics);
}

/* Fills any value with deterministic sample data derived from seed. */
static void fill(avro_value_t *v, int64_t seed)
{
    avro_schema_t s = avro_value_get_schema(v);
    avro_value_t f;
    char buf[32];
    size_t i, n;

    switch (avro_value_get_type(v)) {
    case AVRO_STRING:
        snprintf(buf, sizeof(buf), "s-%lld", (long long)seed);
        ck_assert_int_eq(avro_value_set_string(v, buf), 0);
        break;
    case AVRO_INT32:
        ck_assert_int_eq(avro_value_set_int(v, (int32_t)seed), 0);
        break;
    case AVRO_INT64:
        ck_assert_int_eq(avro_value_set_long(v, 1600000000000LL + seed), 0);
        break;
    case AVRO_DOUBLE:
        ck_assert_int_eq(avro_value_set_double(v, (double)seed * 0.25), 0);
        break;
    case AVRO_FLOAT:
        ck_assert_int_eq(avro_value_set_float(v, (float)seed), 0);
        break;
    case AVRO_BOOLEAN:
        ck_assert_int_eq(avro_value_set_boolean(v, (int)(seed & 1)), 0);
        break;
    case AVRO_NULL:
        ck_assert_int_eq(avro_value_set_null(v), 0);
        break;
    case AVRO_ENUM:
        ck_assert_int_eq(avro_value_set_enum(v, 0), 0);
        break;
    case AVRO_UNION:
        n = avro_schema_union_size(s);
        ck_assert_int_eq(avro_value_set_branch(v, n > 1 ? 1 : 0, &f), 0);
        fill(&f, seed);
        break;
    case AVRO_RECORD:
        ck_assert_int_eq(avro_value_get_size(v, &n), 0);
        for (i = 0; i < n; i++) {
            ck_assert_int_eq(avro_value_get_by_index(v, i, &f, NULL), 0);
            fill(&f, seed + (int64_t)i);
        }
        break;
    case AVRO_ARRAY:
        ck_assert_int_eq(avro_value_append(v, &f, NULL), 0);
        fill(&f, seed);
        break;
    case AVRO_MAP:
        ck_assert_int_eq(avro_value_add(v, "k", &f, NULL, NULL), 0);
        fill(&f, seed);
        break;
    default:
        break;
    }
}

static void produce_sample(bus_producer_t *p, int64_t seed, avro_value_t *keep)
{
    avro_value_t v;

    ck_assert_msg(bus_value_new(E.bus, TOPIC, &v, err, sizeof(err)) == 0, "%s", err);
    fill(&v, seed);
    ck_assert_msg(bus_produce(p, TOPIC, "site-1", &v, 0, err, sizeof(err)) == 0, "%s",
                  err);
    if (keep)
        *keep = v;
    else
        avro_value_decref(&v);
}

static bus_consumer_t *consumer(const char *group)
{
    char g[128];

    snprintf(g, sizeof(g), "%s%s", E.prefix, group);
    return th_consumer(E.bus, g, TOPIC);
}

/* Polls until a non-empty batch arrives (or WAIT_MS passes). */
static int poll_some(bus_consumer_t *c, bus_record_t **batch, int max)
{
    return th_poll_batch(c, batch, max, WAIT_MS / 1000.0);
}

/* Asserts E's metrics page holds each of the lines given, up to a NULL
 * (each "name{labels} value", found as a substring). */
__attribute__((sentinel)) static void assert_metrics_have(const char *line, ...)
{
    char *text = obs_metrics_render(E.metrics);
    va_list ap;

    ck_assert_ptr_nonnull(text);
    va_start(ap, line);
    for (; line; line = va_arg(ap, const char *))
        ck_assert_msg(strstr(text, line), "no %s in %s", line, text);
    va_end(ap);
    free(text);
}

static int count_record(bus_record_t *rec, void *ctx)
{
    (void)rec;
    ++*(int *)ctx;
    return 0;
}

static int two_read(int got, void *ctx)
{
    (void)got;
    return *(int *)ctx >= 2;
}

START_TEST(test_round_trip_decodes_equal)
{
    bus_producer_t *p = bus_producer_new(E.bus, err, sizeof(err));
    bus_consumer_t *c;
    bus_record_t *b;
    avro_value_t sent;
    int32_t id;
    int n;

    ck_assert_msg(p != NULL, "%s", err);
    produce_sample(p, 42, &sent);
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(bus_schema_id(E.bus, TOPIC, &id, err, sizeof(err)), 0);
    c = consumer("rt");
    n = poll_some(c, &b, 10);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(b[0].topic, TOPIC);
    ck_assert_uint_eq(b[0].key_len, 6);
    ck_assert_mem_eq(b[0].key, "site-1", 6);
    ck_assert_int_eq(b[0].schema_id, id);
    ck_assert(avro_value_equal(&b[0].value, &sent));
    /* the bytes on the wire: magic 0, then the registered id big-endian */
    ck_assert_uint_gt(b[0].raw_len, 5);
    ck_assert_uint_eq(((const unsigned char *)b[0].raw)[0], 0);
    ck_assert_uint_eq(((const unsigned char *)b[0].raw)[1],
                      ((uint32_t)id >> 24) & 0xff);
    ck_assert_uint_eq(((const unsigned char *)b[0].raw)[2],
                      ((uint32_t)id >> 16) & 0xff);
    ck_assert_uint_eq(((const unsigned char *)b[0].raw)[3], ((uint32_t)id >> 8) & 0xff);
    ck_assert_uint_eq(((const unsigned char *)b[0].raw)[4], (uint32_t)id & 0xff);
    ck_assert_msg(bus_consumer_ack(c, err, sizeof(err)) == 0, "%s", err);
    avro_value_decref(&sent);
    bus_consumer_destroy(c);
    bus_producer_destroy(p);
}
END_TEST

/* Reads want messages of a topic from the start with a plain consumer
 * (WAIT_MS at the most); *rkp is destroyed by th_raw_done(), after them. */
static int raw_read(const char *topic, rd_kafka_message_t **out, int want,
                    rd_kafka_t **rkp)
{
    char g[128];

    snprintf(g, sizeof(g), "%sraw", E.prefix);
    *rkp = th_raw_consumer(topic, g);
    return th_raw_read(*rkp, out, want, WAIT_MS / 1000.0);
}

/* Consumes (acking) until two records were handed out; their number. */
static int consume_two(bus_consumer_t *c)
{
    int got = 0;

    th_consume(c, &(th_consume_opts){.timeout_s = WAIT_MS / 1000.0,
                                     .max = 100,
                                     .poll_ms = 500,
                                     .ack = 1,
                                     .each = count_record,
                                     .done = two_read,
                                     .ctx = &got});
    return got;
}

START_TEST(test_garbage_goes_to_dlq_and_good_records_follow)
{
    static const char garbage[] = "this is not avro";
    static const unsigned char unknown[] = {0, 0x7f, 0x00, 0x12, 0x34, 2, 'x'};
    bus_producer_t *p = bus_producer_new(E.bus, err, sizeof(err));
    rd_kafka_message_t *dl[4];
    rd_kafka_t *rk;
    char dlq[128], buf[128];
    bus_consumer_t *c;
    int n;

    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(bus_produce_raw(p, TOPIC, "site-1", 6, garbage,
                                     sizeof(garbage) - 1, NULL, err, sizeof(err)),
                     0);
    ck_assert_int_eq(bus_produce_raw(p, TOPIC, "site-1", 6, unknown, sizeof(unknown),
                                     NULL, err, sizeof(err)),
                     0);
    produce_sample(p, 1, NULL);
    produce_sample(p, 2, NULL);
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof(err)) == 0, "%s", err);
    c = consumer("dlq");
    ck_assert_int_eq(consume_two(c), 2);
    snprintf(dlq, sizeof(dlq), "%s%s.dlq", E.prefix, TOPIC);
    n = raw_read(dlq, dl, 2, &rk);
    ck_assert_int_eq(n, 2);
    ck_assert_mem_eq(dl[0]->payload, garbage, sizeof(garbage) - 1);
    ck_assert_mem_eq(dl[0]->key, "site-1", 6);
    ck_assert_str_eq(th_header(dl[0], "ems.dlq.reason", buf, sizeof(buf)), "bad-magic");
    ck_assert_uint_eq(dl[1]->len, sizeof(unknown));
    ck_assert_mem_eq(dl[1]->key, "site-1", 6);
    ck_assert_str_eq(th_header(dl[1], "ems.dlq.reason", buf, sizeof(buf)),
                     "unknown-schema-id");
    ck_assert_str_eq(th_header(dl[1], "ems.dlq.offset", buf, sizeof(buf)), "1");
    th_raw_done(rk, dl, n);
    /* the metrics registry counts it all */
    assert_metrics_have(
        "ems_bus_dlq_total{reason=\"bad-magic\",topic=\"" TOPIC "\"} 1\n",
        "ems_bus_dlq_total{reason=\"unknown-schema-id\",topic=\"" TOPIC "\"} 1\n",
        "ems_bus_consumed_total{topic=\"" TOPIC "\"} 2",
        "ems_bus_produced_total{topic=\"" TOPIC "\"} 4",
        "ems_bus_produced_total{topic=\"" TOPIC ".dlq\"} 2", NULL);
    /* the other reasons (docs/bus.md) exist at 0 from the start: an alert
     * on increase() sees a topic's first dead letter */
    static const char *const zero[] = {
        "short",          "bad-schema-id", "bad-writer-schema", "incompatible-schema",
        "malformed-body", "validation"};
    for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
        char series[160];
        snprintf(series, sizeof(series),
                 "ems_bus_dlq_total{reason=\"%s\",topic=\"" TOPIC "\"} 0\n", zero[i]);
        assert_metrics_have(series, NULL);
    }
    bus_consumer_destroy(c);

    /* a replay of the same records (a service's start-up restore in a
     * throw-away group) skips the bad ones and counts them, and rejects
     * only count too: nothing more reaches the DLQ */
    c = consumer("dlq-replay");
    bus_consumer_set_replay(c, 1);
    ck_assert_int_eq(consume_two(c), 2);
    {
        bus_record_t *b;
        bus_consumer_t *again = consumer("dlq-replay-reject");
        bus_consumer_set_replay(again, 1);
        n = poll_some(again, &b, 1);
        ck_assert_int_eq(n, 1);
        ck_assert_int_eq(
            bus_consumer_reject(again, &b[0], "not wanted", err, sizeof(err)), 0);
        bus_consumer_destroy(again);
    }
    assert_metrics_have(
        "ems_bus_produced_total{topic=\"" TOPIC ".dlq\"} 2",
        "ems_bus_replay_skipped_total{reason=\"bad-magic\",topic=\"" TOPIC "\"} 2",
        "ems_bus_replay_skipped_total{reason=\"unknown-schema-id\",topic=\"" TOPIC
        "\"} 2",
        "ems_bus_replay_skipped_total{reason=\"validation\",topic=\"" TOPIC "\"} 1",
        NULL);
    bus_consumer_destroy(c);
    bus_producer_destroy(p);
}
END_TEST

/* A poll that fetched only undecodable records returns nothing, but their
 * offsets await an ack: acked, the group does not read (and dead-letter)
 * them again. */
START_TEST(test_bad_only_batch_is_acked)
{
    static const char garbage[] = "not avro either";
    bus_producer_t *p = bus_producer_new(E.bus, err, sizeof(err));
    bus_consumer_t *c;
    bus_record_t *b;
    int n = 0;

    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(bus_produce_raw(p, TOPIC, "site-1", 6, garbage,
                                     sizeof(garbage) - 1, NULL, err, sizeof(err)),
                     0);
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof(err)) == 0, "%s", err);
    c = consumer("bad-only");
    ck_assert_int_eq(bus_consumer_unacked(c), 0);
    for (int waited = 0; waited < WAIT_MS && !bus_consumer_unacked(c); waited += 500) {
        n = bus_consumer_poll(c, &b, 10, 500, err, sizeof(err));
        ck_assert_int_eq(n, 0);
    }
    ck_assert_int_eq(bus_consumer_unacked(c), 1);
    ck_assert_int_eq(bus_consumer_ack(c, err, sizeof(err)), 0);
    ck_assert_int_eq(bus_consumer_unacked(c), 0);
    bus_consumer_destroy(c);
    /* the same group again, then a good record: only the good one comes,
     * and the DLQ got one copy */
    produce_sample(p, 7, NULL);
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof(err)) == 0, "%s", err);
    c = consumer("bad-only");
    n = poll_some(c, &b, 10);
    ck_assert_int_eq(n, 1);
    assert_metrics_have("ems_bus_produced_total{topic=\"" TOPIC ".dlq\"} 1", NULL);
    bus_consumer_destroy(c);
    bus_producer_destroy(p);
}
END_TEST

START_TEST(test_unacked_record_is_delivered_again)
{
    bus_producer_t *p = bus_producer_new(E.bus, err, sizeof(err));
    bus_consumer_t *c;
    bus_record_t *b;
    avro_value_t first, marker;
    int64_t offset;

    ck_assert_msg(p != NULL, "%s", err);
    produce_sample(p, 7, &first);
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof(err)) == 0, "%s", err);
    c = consumer("redeliver");
    ck_assert_int_eq(poll_some(c, &b, 1), 1);
    ck_assert(avro_value_equal(&b[0].value, &first));
    offset = b[0].offset;
    bus_consumer_destroy(c); /* processed, never acked: a crash */

    c = consumer("redeliver");
    ck_assert_int_eq(poll_some(c, &b, 1), 1);
    ck_assert_int_eq(b[0].offset, offset);
    ck_assert(avro_value_equal(&b[0].value, &first));
    ck_assert_msg(bus_consumer_ack(c, err, sizeof(err)) == 0, "%s", err);
    bus_consumer_destroy(c);

    /* acked: the next member of the group starts after it */
    produce_sample(p, 8, &marker);
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof(err)) == 0, "%s", err);
    c = consumer("redeliver");
    ck_assert_int_eq(poll_some(c, &b, 1), 1);
    ck_assert_int_gt(b[0].offset, offset);
    ck_assert(avro_value_equal(&b[0].value, &marker));
    bus_consumer_destroy(c);
    avro_value_decref(&first);
    avro_value_decref(&marker);
    bus_producer_destroy(p);
}
END_TEST

/* A second member joining the group takes partitions away from the
 * first: the first one's revocation count goes up, which is how a service
 * keeping state per key learns that its keys may have been consumed
 * elsewhere. Records produced
 * after the rebalance still reach one of the two. */
START_TEST(test_rebalance_counts_revocations)
{
    bus_producer_t *p = bus_producer_new(E.bus, err, sizeof(err));
    bus_consumer_t *a, *b = NULL;
    bus_record_t *batch;
    int got = 0;

    ck_assert_msg(p != NULL, "%s", err);
    produce_sample(p, 1, NULL);
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof(err)) == 0, "%s", err);
    a = consumer("rebalance");
    ck_assert_int_eq(poll_some(a, &batch, 10), 1); /* a holds the partitions */
    ck_assert_msg(bus_consumer_ack(a, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq((int)bus_consumer_revocations(a), 0);

    b = consumer("rebalance");
    for (int i = 0; i < WAIT_MS / 200 && bus_consumer_revocations(a) == 0; i++) {
        ck_assert(bus_consumer_poll(a, &batch, 10, 100, err, sizeof(err)) >= 0);
        ck_assert(bus_consumer_poll(b, &batch, 10, 100, err, sizeof(err)) >= 0);
    }
    ck_assert_int_ge((int)bus_consumer_revocations(a), 1);
    ck_assert_int_eq((int)bus_consumer_revocations(b), 0);

    produce_sample(p, 2, NULL);
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof(err)) == 0, "%s", err);
    for (int i = 0; i < WAIT_MS / 200 && got == 0; i++) {
        int n = bus_consumer_poll(a, &batch, 10, 100, err, sizeof(err));
        ck_assert(n >= 0);
        got += n;
        n = bus_consumer_poll(b, &batch, 10, 100, err, sizeof(err));
        ck_assert(n >= 0);
        got += n;
    }
    ck_assert_int_eq(got, 1);
    bus_consumer_destroy(b);
    bus_consumer_destroy(a);
    bus_producer_destroy(p);
}
END_TEST

/* Produces a sample under key. */
static void produce_keyed(bus_producer_t *p, int64_t seed, const char *key)
{
    avro_value_t v;

    ck_assert_msg(bus_value_new(E.bus, TOPIC, &v, err, sizeof(err)) == 0, "%s", err);
    fill(&v, seed);
    ck_assert_msg(bus_produce(p, TOPIC, key, &v, 0, err, sizeof(err)) == 0, "%s", err);
    avro_value_decref(&v);
}

/* Checks each record of a batch that member `who` (0: the first, 1: the
 * second) got: its partition was taken from the first member exactly when
 * the second one reads it. Returns the count. */
static int check_owner(bus_consumer_t *first, bus_record_t *batch, int n, int who)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(bus_consumer_revoked_since(first, 0, TOPIC, batch[i].partition) ==
                          who,
                      "partition %d read by member %d", (int)batch[i].partition, who);
    return n;
}

/* A second member joining takes some of the first one's partitions and
 * only those (the cooperative protocol): bus_consumer_revoked_since()
 * names the partitions the second member now reads and no other, so a
 * service rebuilds only the keys of those. Records produced after the
 * rebalance under 16 keys (spread over every partition) reach both. */
START_TEST(test_rebalance_tells_which_partitions)
{
    bus_producer_t *p = bus_producer_new(E.bus, err, sizeof(err));
    bus_consumer_t *a, *b;
    bus_record_t *batch;
    int got[2] = {0, 0};
    char key[16];

    ck_assert_msg(p != NULL, "%s", err);
    produce_sample(p, 1, NULL);
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof(err)) == 0, "%s", err);
    a = consumer("which");
    ck_assert_int_eq(poll_some(a, &batch, 10), 1); /* a holds the partitions */
    ck_assert_msg(bus_consumer_ack(a, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(bus_consumer_revoked_since(a, 0, TOPIC, batch[0].partition), 0);

    b = consumer("which");
    for (int i = 0; i < WAIT_MS / 200 && bus_consumer_revocations(a) == 0; i++) {
        ck_assert(bus_consumer_poll(a, &batch, 10, 100, err, sizeof(err)) >= 0);
        ck_assert(bus_consumer_poll(b, &batch, 10, 100, err, sizeof(err)) >= 0);
    }
    ck_assert_int_ge((int)bus_consumer_revocations(a), 1);

    for (int k = 0; k < 16; k++) {
        snprintf(key, sizeof key, "key-%d", k);
        produce_keyed(p, 10 + k, key);
    }
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof(err)) == 0, "%s", err);
    for (int i = 0; i < WAIT_MS / 200 && got[0] + got[1] < 16; i++) {
        int n = bus_consumer_poll(a, &batch, 16, 100, err, sizeof(err));
        ck_assert(n >= 0);
        got[0] += check_owner(a, batch, n, 0);
        n = bus_consumer_poll(b, &batch, 16, 100, err, sizeof(err));
        ck_assert(n >= 0);
        got[1] += check_owner(a, batch, n, 1);
    }
    ck_assert_int_eq(got[0] + got[1], 16);
    ck_assert_msg(got[0] > 0 && got[1] > 0, "first member read %d, second %d", got[0],
                  got[1]);
    bus_consumer_destroy(b);
    bus_consumer_destroy(a);
    bus_producer_destroy(p);
}
END_TEST

/* Produces the largest garbage record p accepts (message.max.bytes less
 * librdkafka's framing allowance): its dead letter, with the headers, is
 * then too large for the same limit. Returns its size. */
static size_t produce_largest(bus_producer_t *p, size_t limit)
{
    char *big = malloc(limit);
    size_t len;

    ck_assert_ptr_nonnull(big);
    memset(big, 'x', limit);
    for (len = limit; len > 0; len--)
        if (bus_produce_raw(p, TOPIC, "site-1", 6, big, len, NULL, err, sizeof(err)) ==
            0)
            break;
    free(big);
    ck_assert_uint_gt(len, limit / 2);
    return len;
}

static int one_read(int got, void *ctx)
{
    (void)got;
    return *(int *)ctx >= 1;
}

/* Produces a good record keyed key on TOPIC (not flushed). */
static void produce_good(bus_t *bus, bus_producer_t *p, const char *key)
{
    avro_value_t v;

    ck_assert_msg(bus_value_new(bus, TOPIC, &v, err, sizeof(err)) == 0, "%s", err);
    fill(&v, 3);
    ck_assert_msg(bus_produce(p, TOPIC, key, &v, 0, err, sizeof(err)) == 0, "%s", err);
    avro_value_decref(&v);
}

/* Consumes TOPIC (acking) in group <prefix><stem> until one record was
 * handed out, and asserts one was: the good record behind a bad one. */
static void consume_the_good_one(bus_t *bus, const char *stem)
{
    char group[128];
    int got = 0;

    snprintf(group, sizeof(group), "%s%s", E.prefix, stem);
    bus_consumer_t *c = th_consumer(bus, group, TOPIC);
    th_consume(c, &(th_consume_opts){.timeout_s = WAIT_MS / 1000.0,
                                     .max = 100,
                                     .poll_ms = 500,
                                     .ack = 1,
                                     .each = count_record,
                                     .done = one_read,
                                     .ctx = &got});
    ck_assert_int_eq(got, 1);
    bus_consumer_destroy(c);
}

/* Asserts the headers of dead letter m name its reason (bad-magic) and
 * where its original is: TOPIC, offset 0, a partition. */
static void assert_dead_letter_names_original(const rd_kafka_message_t *m)
{
    char topic[128], buf[128];

    ck_assert_str_eq(th_header(m, "ems.dlq.reason", buf, sizeof(buf)), "bad-magic");
    snprintf(topic, sizeof(topic), "%s%s", E.prefix, TOPIC);
    ck_assert_str_eq(th_header(m, "ems.dlq.topic", buf, sizeof(buf)), topic);
    ck_assert_str_eq(th_header(m, "ems.dlq.offset", buf, sizeof(buf)), "0");
    ck_assert_ptr_nonnull(th_header(m, "ems.dlq.partition", buf, sizeof(buf)));
}

/* A bad record within a byte of message.max.bytes: its dead letter grows
 * past the limit with the headers and the producer refuses it. It goes to
 * the DLQ without its payload, with a header giving the payload's size
 * and the usual ones naming where the original is; the consumer moves on
 * to the good record behind it in the same partition. */
START_TEST(test_oversize_dead_letter_goes_without_payload)
{
    static const char *const props[] = {"session.timeout.ms", "6000",
                                        "message.max.bytes", "10000", NULL};
    bus_t *bus = bus_with(props);
    bus_producer_t *p = bus_producer_new(bus, err, sizeof(err));
    rd_kafka_message_t *dl[2];
    rd_kafka_t *rk;
    char dlq[128], buf[128], size[24];
    size_t len;
    int n;

    ck_assert_msg(p != NULL, "%s", err);
    len = produce_largest(p, 10000);
    produce_good(bus, p, "site-1"); /* same key, same partition */
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof(err)) == 0, "%s", err);
    consume_the_good_one(bus, "oversize");
    snprintf(dlq, sizeof(dlq), "%s%s.dlq", E.prefix, TOPIC);
    n = raw_read(dlq, dl, 1, &rk);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(dl[0]->len, 0);
    ck_assert_mem_eq(dl[0]->key, "site-1", 6);
    snprintf(size, sizeof(size), "%zu", len);
    ck_assert_str_eq(th_header(dl[0], "ems.dlq.truncated", buf, sizeof(buf)), size);
    assert_dead_letter_names_original(dl[0]);
    th_raw_done(rk, dl, n);
    assert_metrics_have(
        "ems_bus_dlq_truncated_total{topic=\"" TOPIC "\"} 1\n",
        "ems_bus_dlq_total{reason=\"bad-magic\",topic=\"" TOPIC "\"} 1\n", NULL);
    bus_producer_destroy(p);
    bus_destroy(bus);
}
END_TEST

/* Produces a bad record (BIG_KEY_PAYLOAD bytes of garbage) with the
 * longest key p accepts beside it, then a good record with the same key
 * (same partition). The key is returned (NUL-terminated; the caller frees
 * it). */
#define BIG_KEY_PAYLOAD 128
static char *produce_largest_key(bus_t *bus, bus_producer_t *p, size_t limit)
{
    char *key = malloc(limit + 1), junk[BIG_KEY_PAYLOAD];
    size_t len;

    ck_assert_ptr_nonnull(key);
    memset(key, 'k', limit);
    memset(junk, 'x', sizeof(junk));
    for (len = limit; len > 0; len--)
        if (bus_produce_raw(p, TOPIC, key, len, junk, sizeof(junk), NULL, err,
                            sizeof(err)) == 0)
            break;
    ck_assert_uint_gt(len, limit / 2);
    key[len] = '\0';
    produce_good(bus, p, key);
    return key;
}

/* Regression: a bad record whose key alone nearly fills message.max.bytes:
 * its dead letter was refused with its payload and again without it (the
 * key and headers alone too large), and held its partition for ever. It
 * goes without its key too, with a header giving the key's size and the
 * usual ones naming where the original is; counted once as truncated. */
START_TEST(test_dead_letter_with_oversize_key_goes_without_key)
{
    static const char *const props[] = {"session.timeout.ms", "6000",
                                        "message.max.bytes", "10000", NULL};
    bus_t *bus = bus_with(props);
    bus_producer_t *p = bus_producer_new(bus, err, sizeof(err));
    rd_kafka_message_t *dl[2];
    rd_kafka_t *rk;
    char dlq[128], buf[128], size[24], *key;
    int n;

    ck_assert_msg(p != NULL, "%s", err);
    key = produce_largest_key(bus, p, 10000);
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof(err)) == 0, "%s", err);
    consume_the_good_one(bus, "bigkey");
    snprintf(dlq, sizeof(dlq), "%s%s.dlq", E.prefix, TOPIC);
    n = raw_read(dlq, dl, 1, &rk);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(dl[0]->len, 0);
    ck_assert_uint_eq(dl[0]->key_len, 0);
    snprintf(size, sizeof(size), "%zu", strlen(key));
    ck_assert_str_eq(th_header(dl[0], "ems.dlq.key_truncated", buf, sizeof(buf)), size);
    snprintf(size, sizeof(size), "%d", BIG_KEY_PAYLOAD);
    ck_assert_str_eq(th_header(dl[0], "ems.dlq.truncated", buf, sizeof(buf)), size);
    assert_dead_letter_names_original(dl[0]);
    th_raw_done(rk, dl, n);
    assert_metrics_have("ems_bus_dlq_truncated_total{topic=\"" TOPIC "\"} 1\n", NULL);
    free(key);
    bus_producer_destroy(p);
    bus_destroy(bus);
}
END_TEST

/* The counter name{labels} of E's registry (made at 0 if new). */
static double counter_value(const char *name, const char *labels)
{
    return obs_counter_value(obs_counter(E.metrics, name, "", labels));
}

/* Polls once and acks what it polled; marks in seen[] the offsets of
 * partition part handed out. Returns the ack's result (0 when nothing was
 * polled). */
static int poll_ack(bus_consumer_t *c, int32_t *part, char *seen, int nseen)
{
    bus_record_t *b;
    int n = bus_consumer_poll(c, &b, 100, 500, err, sizeof(err));

    ck_assert_msg(n >= 0, "%s", err);
    for (int i = 0; i < n; i++) {
        *part = b[i].partition;
        if (b[i].offset >= 0 && b[i].offset < nseen)
            seen[b[i].offset] = 1;
    }
    return bus_consumer_unacked(c) ? bus_consumer_ack(c, err, sizeof(err)) : 0;
}

static int all_seen(const char *seen, int from, int to)
{
    for (int i = from; i < to; i++)
        if (!seen[i])
            return 0;
    return 1;
}

/* Dead letters that do not reach the DLQ (the devbroker fails every
 * Produce request for a while): the ack fails, the consumer goes back to
 * its committed offsets and counts the rewind, nothing is committed. Once
 * the broker takes records again, the bad record is dead-lettered once
 * and every good record behind it is handed out. */
START_TEST(test_failed_dead_letter_rewinds_and_nothing_is_lost)
{
    enum { GOOD = 5 };
    static const char garbage[] = "a dead letter the broker refuses";
    bus_producer_t *p = bus_producer_new(E.bus, err, sizeof(err));
    char seen[GOOD + 1] = {0}, group[128], labels[160], dlq[128], buf[64];
    rd_kafka_message_t *dl[1];
    int64_t lo = -1, hi = -1;
    int32_t part = -1;
    bus_consumer_t *c;
    rd_kafka_t *rk;
    double deadline;
    int n;

    ck_assert_msg(p != NULL, "%s", err);
    /* one key: the bad record at offset 0 of its partition, the good ones
     * behind it */
    ck_assert_int_eq(bus_produce_raw(p, TOPIC, "site-1", 6, garbage,
                                     sizeof(garbage) - 1, NULL, err, sizeof(err)),
                     0);
    for (int i = 1; i <= GOOD; i++)
        produce_sample(p, i, NULL);
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof(err)) == 0, "%s", err);
    snprintf(group, sizeof(group), "%srewind", E.prefix);
    snprintf(labels, sizeof(labels), "group=%s", group);

    th_broker_control("fail 0 100000 29"); /* Produce: TOPIC_AUTHORIZATION_FAILED */
    c = consumer("rewind");
    deadline = th_mono_s() + WAIT_MS / 1000.0;
    while (counter_value("ems_bus_rewinds_total", labels) < 1 && th_mono_s() < deadline)
        poll_ack(c, &part, seen, GOOD + 1);
    ck_assert_double_ge(counter_value("ems_bus_rewinds_total", labels), 1);
    ck_assert_double_eq(counter_value("ems_bus_produced_total", "topic=" TOPIC ".dlq"),
                        0);

    /* the broker takes records again: everything since the last commit
     * (nothing was committed) is read again */
    th_broker_control("clear 0");
    memset(seen, 0, sizeof(seen));
    while (!(all_seen(seen, 1, GOOD + 1) && !bus_consumer_unacked(c)) &&
           th_mono_s() < deadline)
        ck_assert_msg(poll_ack(c, &part, seen, GOOD + 1) == 0, "%s", err);
    ck_assert_msg(all_seen(seen, 1, GOOD + 1), "a good record was lost");
    ck_assert_int_eq(seen[0], 0); /* the bad one never reached the caller */
    bus_consumer_destroy(c);

    /* one copy in the DLQ */
    snprintf(dlq, sizeof(dlq), "%s%s.dlq", E.prefix, TOPIC);
    n = raw_read(dlq, dl, 1, &rk);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(dl[0]->len, sizeof(garbage) - 1);
    ck_assert_mem_eq(dl[0]->payload, garbage, sizeof(garbage) - 1);
    ck_assert_str_eq(th_header(dl[0], "ems.dlq.offset", buf, sizeof(buf)), "0");
    ck_assert_int_eq(
        rd_kafka_query_watermark_offsets(rk, dlq, dl[0]->partition, &lo, &hi, 10000),
        0);
    ck_assert_int_eq(hi - lo, 1);
    ck_assert_double_eq(counter_value("ems_bus_produced_total", "topic=" TOPIC ".dlq"),
                        1);
    th_raw_done(rk, dl, n);
    bus_producer_destroy(p);
}
END_TEST

/* The committed offset of partition part of TOPIC in c's group (negative
 * when the group has none). */
static int64_t committed_of(bus_consumer_t *c, int32_t part)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    char wire[256];
    int64_t off;

    snprintf(wire, sizeof(wire), "%s%s", E.prefix, TOPIC);
    rd_kafka_topic_partition_list_add(l, wire, part);
    ck_assert_int_eq(rd_kafka_committed(c->rk, l, 10000), 0);
    off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return off;
}

/* A pipelined caller (the ingester) takes a batch's offsets and commits
 * them once its output is stored. When that commit finds the batch's dead
 * letter undelivered, the consumer goes back to its committed offsets; the
 * caller keeps the offsets to commit them with the next batch. They were
 * then committed as soon as a flush succeeded, past a record whose dead
 * letter never went out: a crash before the re-read sent it again lost
 * it. Offsets taken before a rewind are not committed; the re-read brings
 * them again. */
START_TEST(test_offsets_taken_before_a_rewind_are_not_committed)
{
    static const char garbage[] = "a dead letter lost with its offset";
    bus_producer_t *p = bus_producer_new(E.bus, err, sizeof(err));
    char group[128], labels[160];
    bus_offsets_t *o = NULL, *fresh;
    bus_consumer_t *c;
    bus_record_t *b;
    int32_t part = -1;

    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(bus_produce_raw(p, TOPIC, "site-1", 6, garbage,
                                     sizeof(garbage) - 1, NULL, err, sizeof(err)),
                     0);
    produce_sample(p, 1, NULL);
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof(err)) == 0, "%s", err);
    snprintf(group, sizeof(group), "%sstale", E.prefix);
    snprintf(labels, sizeof(labels), "group=%s", group);

    th_broker_control("fail 0 100000 29"); /* Produce: TOPIC_AUTHORIZATION_FAILED */
    c = consumer("stale");
    ck_assert_int_eq(poll_some(c, &b, 100), 1); /* the good record; garbage DLQ'd */
    part = b[0].partition;
    o = bus_consumer_take_offsets(c);
    ck_assert_int_eq(bus_offsets_count(o), 1);
    ck_assert_int_eq(bus_consumer_commit_offsets(c, o, err, sizeof(err)), -1);
    ck_assert_double_eq(counter_value("ems_bus_rewinds_total", labels), 1);
    th_broker_control("clear 0");

    /* kept and committed again, as the ingester does: nothing moves */
    ck_assert_msg(bus_consumer_commit_offsets(c, o, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_lt(committed_of(c, part), 0);
    /* merged into the offsets of a batch taken after the rewind, only the
     * fresh ones count */
    ck_assert_int_eq(poll_some(c, &b, 100), 1); /* the good record again */
    fresh = bus_consumer_take_offsets(c);
    ck_assert_ptr_nonnull(fresh);
    bus_offsets_merge(o, fresh);
    ck_assert_msg(bus_consumer_commit_offsets(c, o, err, sizeof(err)) == 0, "%s", err);
    /* the re-read dead-lettered the garbage again, delivered before the
     * commit */
    ck_assert_double_eq(counter_value("ems_bus_produced_total", "topic=" TOPIC ".dlq"),
                        1);
    ck_assert_int_eq(committed_of(c, part), 2);
    bus_offsets_destroy(fresh);
    bus_offsets_destroy(o);
    bus_consumer_destroy(c);
    bus_producer_destroy(p);
}
END_TEST

/* A dead letter the broker refuses as too large in its delivery report
 * (the devbroker fails the next Produce with MESSAGE_TOO_LARGE): it is sent
 * again without its value, and the ack succeeds. */
START_TEST(test_dead_letter_refused_at_delivery_goes_without_payload)
{
    static const char garbage[] = "a dead letter the broker finds too large";
    bus_producer_t *p = bus_producer_new(E.bus, err, sizeof(err));
    rd_kafka_message_t *dl[1];
    char dlq[128], buf[64], size[24];
    bus_consumer_t *c;
    rd_kafka_t *rk;
    int n;

    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(bus_produce_raw(p, TOPIC, "site-1", 6, garbage,
                                     sizeof(garbage) - 1, NULL, err, sizeof(err)),
                     0);
    produce_sample(p, 1, NULL);
    produce_sample(p, 2, NULL);
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof(err)) == 0, "%s", err);
    th_broker_control("fail 0 1 10"); /* the next Produce: MESSAGE_TOO_LARGE */
    c = consumer("too-large");
    /* acks every batch, failing the test when an ack fails */
    ck_assert_int_eq(consume_two(c), 2);
    bus_consumer_destroy(c);
    snprintf(dlq, sizeof(dlq), "%s%s.dlq", E.prefix, TOPIC);
    n = raw_read(dlq, dl, 1, &rk);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(dl[0]->len, 0);
    snprintf(size, sizeof(size), "%zu", sizeof(garbage) - 1);
    ck_assert_str_eq(th_header(dl[0], "ems.dlq.truncated", buf, sizeof(buf)), size);
    ck_assert_str_eq(th_header(dl[0], "ems.dlq.offset", buf, sizeof(buf)), "0");
    th_raw_done(rk, dl, n);
    assert_metrics_have("ems_bus_dlq_truncated_total{topic=\"" TOPIC "\"} 1\n", NULL);
    bus_producer_destroy(p);
}
END_TEST

/* The lag gauge of partition part as consumer group group exports it. */
static double lag_of(const char *group, int part)
{
    char labels[256];

    snprintf(labels, sizeof(labels), "group=%s,topic=" TOPIC ",partition=%d", group,
             part);
    return obs_gauge_value(obs_gauge(E.metrics, "ems_bus_consumer_lag", "", labels));
}

/* True when the lag gauge of each partition i < n reads want[i]. */
static int lags_are(const char *group, const int *want, int n)
{
    for (int i = 0; i < n; i++)
        if (lag_of(group, i) != want[i])
            return 0;
    return 1;
}

/* A rebalance takes partitions from a member that exports its lag and
 * has committed nothing: the lag gauges of the partitions now read by the
 * other member go to 0 (they kept their last value, and an alert on lag
 * fired for a partition nobody here reads). */
START_TEST(test_revoked_partition_lag_reads_zero)
{
    enum { RECORDS = 40, PARTS = 4 }; /* auto-created topics have 4 partitions */
    bus_producer_t *p = bus_producer_new(E.bus, err, sizeof(err));
    int held[PARTS] = {0}, moved[PARTS] = {0}, got = 0, nmoved = 0;
    char group[128], key[24];
    bus_consumer_t *a, *b;
    bus_record_t *batch;
    double deadline;

    ck_assert_msg(p != NULL, "%s", err);
    for (int i = 0; i < RECORDS; i++) { /* keys spread over every partition */
        avro_value_t v;
        snprintf(key, sizeof(key), "site-%d", i);
        ck_assert_msg(bus_value_new(E.bus, TOPIC, &v, err, sizeof(err)) == 0, "%s",
                      err);
        fill(&v, i);
        ck_assert_msg(bus_produce(p, TOPIC, key, &v, 0, err, sizeof(err)) == 0, "%s",
                      err);
        avro_value_decref(&v);
    }
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof(err)) == 0, "%s", err);
    snprintf(group, sizeof(group), "%slag", E.prefix);

    /* a reads everything and commits nothing: every partition lags */
    a = consumer("lag");
    bus_consumer_export_lag(a);
    deadline = th_mono_s() + WAIT_MS / 1000.0;
    while (!(got == RECORDS && lags_are(group, held, PARTS)) &&
           th_mono_s() < deadline) {
        int n = bus_consumer_poll(a, &batch, 100, 500, err, sizeof(err));
        ck_assert_msg(n >= 0, "%s", err);
        for (int i = 0; i < n; i++)
            held[batch[i].partition]++;
        got += n;
    }
    ck_assert_int_eq(got, RECORDS);
    for (int i = 0; i < PARTS; i++)
        ck_assert_msg(lag_of(group, i) == held[i], "partition %d: lag %g, %d records",
                      i, lag_of(group, i), held[i]);

    /* b joins: the partitions it reads were taken from a */
    b = consumer("lag");
    while (nmoved == 0 && th_mono_s() < deadline) {
        int n = bus_consumer_poll(a, &batch, 100, 200, err, sizeof(err));
        ck_assert_msg(n >= 0, "%s", err);
        n = bus_consumer_poll(b, &batch, 100, 200, err, sizeof(err));
        ck_assert_msg(n >= 0, "%s", err);
        for (int i = 0; i < n; i++)
            nmoved += !moved[batch[i].partition]++;
    }
    ck_assert_int_gt(nmoved, 0);
    ck_assert_int_ge((int)bus_consumer_revocations(a), 1);
    for (int i = 0; i < PARTS; i++)
        if (moved[i])
            ck_assert_msg(lag_of(group, i) == 0, "partition %d (b's now): lag %g", i,
                          lag_of(group, i));
    bus_consumer_destroy(b);
    bus_consumer_destroy(a);
    bus_producer_destroy(p);
}
END_TEST

START_TEST(test_bad_input_names_the_problem)
{
    const char *missing[] = {"no.such.topic"};
    avro_value_t v;
    int32_t id;

    ck_assert_int_eq(bus_schema_id(E.bus, "no.such.topic", &id, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "no.such.topic.avsc"));
    ck_assert_int_eq(bus_value_new(E.bus, "bad topic", &v, err, sizeof(err)), -1);
    ck_assert_ptr_null(bus_consumer_new(E.bus, "g", missing, 1, err, sizeof(err)));
    ck_assert_msg(bus_check(E.bus, 5000, err, sizeof(err)) == 0, "%s", err);
}
END_TEST

START_TEST(test_unreachable_registry_names_endpoint)
{
    bus_conf_t conf = {0};
    bus_t *bus;
    int32_t id;

    conf.bootstrap = "127.0.0.1:1";
    conf.registry_url = "http://127.0.0.1:1";
    conf.schema_dir = E.schema_dir;
    bus = bus_new(&conf, err, sizeof(err));
    ck_assert_ptr_nonnull(bus);
    ck_assert_int_eq(bus_schema_id(bus, TOPIC, &id, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "http://127.0.0.1:1/subjects/") != NULL, "%s", err);
    ck_assert_int_eq(bus_check(bus, 500, err, sizeof(err)), -1);
    bus_destroy(bus);
}
END_TEST

/* Only the registry's own "schema not found" (error code 40403) says an id
 * does not exist. Any other 404 (a wrong path in the URL, a proxy in front
 * of a registry that is gone) is a registry that could not be asked: taken
 * as an unknown id, every record read meanwhile was dead-lettered instead
 * of held back until the registry answers. */
START_TEST(test_registry_404_elsewhere_is_not_an_unknown_id)
{
    const char *base = th_env_or("EMS_TEST_REGISTRY", "http://127.0.0.1:28081");
    char url[512], *json = NULL;
    bus_registry_t *r = bus_registry_new(base, 5000, err, sizeof(err));

    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_int_eq(bus_registry_get(r, INT32_MAX - 7, &json, err, sizeof(err)), 1);
    bus_registry_destroy(r);
    snprintf(url, sizeof(url), "%s/no-registry-here", base);
    r = bus_registry_new(url, 5000, err, sizeof(err));
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_int_eq(bus_registry_get(r, INT32_MAX - 7, &json, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "HTTP 404") != NULL, "%s", err);
    ck_assert_ptr_null(json);
    bus_registry_destroy(r);
}
END_TEST

/* Every schema id the registry does not know was remembered for good, one
 * entry per id: records framed with ever new ids (garbage from a broken
 * producer) grew the cache without bound. The ids unknown of late are
 * remembered up to BUS_MISSING_MAX, an expired one makes room first. */
START_TEST(test_unknown_schema_ids_are_remembered_within_bounds)
{
    avro_schema_t s;
    int32_t first = 2000000000;

    for (int32_t i = 0; i < 3 * BUS_MISSING_MAX; i++)
        ck_assert_int_eq(bus_writer_schema(E.bus, first + i, &s, err, sizeof(err)), 1);
    ck_assert_msg(E.bus->nwriters <= BUS_MISSING_MAX, "%zu ids remembered",
                  E.bus->nwriters);
    /* the newest is still known to be missing */
    ck_assert_int_eq(
        bus_writer_schema(E.bus, first + 3 * BUS_MISSING_MAX - 1, &s, err, sizeof(err)),
        1);
    ck_assert_msg(strstr(err, "unknown to the registry") != NULL, "%s", err);
}
END_TEST

/* A delivery failure whose report a poll served is still reported by the
 * next flush (the consumer commits after a flush of its dead letters, the
 * ingester after a flush of its outputs), and by that one only. */
START_TEST(test_flush_reports_failure_a_poll_served)
{
    static const char *const props[] = {"message.timeout.ms", "300", NULL};
    bus_conf_t conf = {0};
    bus_producer_t *p;
    bus_t *bus;

    conf.bootstrap = "127.0.0.1:1"; /* nothing listens: every delivery times out */
    conf.registry_url = "http://127.0.0.1:1";
    conf.schema_dir = E.schema_dir;
    conf.kafka_props = props;
    bus = bus_new(&conf, err, sizeof(err));
    ck_assert_ptr_nonnull(bus);
    p = bus_producer_new(bus, err, sizeof(err));
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(bus_produce_raw(p, TOPIC, "k", 1, "x", 1, NULL, err, sizeof(err)),
                     0);
    for (int i = 0; i < 100 && bus_producer_failed(p) == 0; i++) {
        th_sleep_ms(50);
        bus_producer_poll(p); /* serves the failed delivery's report */
    }
    ck_assert_int_eq(bus_producer_failed(p), 1);
    ck_assert_int_eq(bus_producer_flush(p, 1000, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "1 record(s) failed"), "%s", err);
    ck_assert_int_eq(bus_producer_flush(p, 1000, err, sizeof(err)), 0);
    bus_producer_destroy(p);
    bus_destroy(bus);
}
END_TEST

static void clear_broker_faults(void)
{
    th_broker_control("clear 0");
}

static Suite *bus_suite(void)
{
    Suite *s = suite_create("bus");
    TCase *tc = tcase_create("stack");

    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_round_trip_decodes_equal);
    tcase_add_test(tc, test_garbage_goes_to_dlq_and_good_records_follow);
    tcase_add_test(tc, test_bad_only_batch_is_acked);
    tcase_add_test(tc, test_unacked_record_is_delivered_again);
    tcase_add_test(tc, test_rebalance_counts_revocations);
    tcase_add_test(tc, test_rebalance_tells_which_partitions);
    tcase_add_test(tc, test_oversize_dead_letter_goes_without_payload);
    tcase_add_test(tc, test_dead_letter_with_oversize_key_goes_without_key);
    tcase_add_test(tc, test_revoked_partition_lag_reads_zero);
    tcase_add_test(tc, test_bad_input_names_the_problem);
    tcase_add_test(tc, test_unreachable_registry_names_endpoint);
    tcase_add_test(tc, test_flush_reports_failure_a_poll_served);
    tcase_add_test(tc, test_registry_404_elsewhere_is_not_an_unknown_id);
    tcase_add_test(tc, test_unknown_schema_ids_are_remembered_within_bounds);
    suite_add_tcase(s, tc);
    /* tests that make the devbroker fail requests: the failures still
     * pending are cleared after the case, also when a test failed */
    tc = tcase_create("faults");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_unchecked_fixture(tc, NULL, clear_broker_faults);
    tcase_add_test(tc, test_failed_dead_letter_rewinds_and_nothing_is_lost);
    tcase_add_test(tc, test_dead_letter_refused_at_delivery_goes_without_payload);
    tcase_add_test(tc, test_offsets_taken_before_a_rewind_are_not_committed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(bus_suite(), 0);
}
