/*
 * bus: the suite's event bus. Kafka (librdkafka) carrying Avro (avro-c)
 * records in the Confluent wire format: magic byte 0, 4-byte big-endian
 * schema id, Avro binary body.
 *
 * Topics are named by their logical name ("energy.telemetry"); the bus adds
 * the configured prefix ("plant1.") on the wire. The writer schema of a
 * logical topic T is schemas/T.avsc; it is registered with the schema
 * registry under the subject "<prefix><T>-value" when first used and its id
 * cached. On consume, a schema id not yet seen is fetched once from the
 * registry and cached; records are resolved into the local reader schema.
 *
 * Delivery: producers are idempotent (enable.idempotence=true). Consumers are
 * at-least-once: bus_consumer_poll() hands out a batch; only after the caller
 * made the batch's effect durable does it call bus_consumer_ack(), which
 * commits the offsets of that batch (and of any batch polled before it
 * since the last ack). Records that cannot be decoded
 * (bad magic, unknown schema id, malformed body) never reach the caller: they
 * go to "<topic>.dlq" with the original key and bytes and a header
 * "ems.dlq.reason", are counted, and their offset is acked with the batch.
 *
 * Threads: a handle is used by one thread at a time. Metrics (optional) are
 * thread-safe.
 */
#ifndef EMS_BUS_BUS_H
#define EMS_BUS_BUS_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#include "obs/metrics.h"

typedef struct bus_s bus_t;
typedef struct bus_producer_s bus_producer_t;
typedef struct bus_consumer_s bus_consumer_t;

typedef struct bus_conf {
    const char *bootstrap;    /* "host:port[,host:port]" (required) */
    const char *registry_url; /* "http://127.0.0.1:18081" (required) */
    const char *schema_dir;   /* directory of <topic>.avsc (required) */
    const char *topic_prefix; /* prepended on the wire; NULL or "" for none */
    const char *client_id;    /* librdkafka client.id; NULL = "ems" */
    /* Extra librdkafka properties as a NULL-terminated list of key, value
     * pairs (security.protocol, ssl.*, sasl.*, ...), passed through as is. */
    const char *const *kafka_props;
    obs_metrics_t *metrics; /* optional; borrowed, must outlive the bus */
} bus_conf_t;

/* Returns a bus or NULL with errstr filled. Copies everything in conf except
 * metrics. Does not contact the broker or the registry yet. */
bus_t *bus_new(const bus_conf_t *conf, char *errstr, size_t errstr_size);
/* The topic prefix put before logical names on the wire ("" for none),
 * owned by the bus. */
const char *bus_topic_prefix(const bus_t *bus);
/* Frees the bus; producers and consumers made from it must be destroyed
 * first. NULL is a no-op. */
void bus_destroy(bus_t *bus);

/* Loads schemas/<topic>.avsc and registers it (once; cached). Returns 0 and
 * the id, or -1 with errstr. Safe to call at start-up to fail fast. */
int bus_schema_id(bus_t *bus, const char *topic, int32_t *id, char *errstr,
                  size_t errstr_size);
/* The local schema of a logical topic (loaded on demand), borrowed from the
 * bus; NULL with errstr if the file is missing or does not parse. */
avro_schema_t bus_schema(bus_t *bus, const char *topic, char *errstr,
                         size_t errstr_size);
/* Makes a new generic value of the topic's schema for the caller to fill,
 * with every field that has a default in the .avsc already set to it.
 * Returns 0, or -1 with errstr. The caller calls avro_value_decref(). */
int bus_value_new(bus_t *bus, const char *topic, avro_value_t *out, char *errstr,
                  size_t errstr_size);
/* Writes the topic's name on the wire (the bus's prefix + topic) into out,
 * for what names a topic outside the bus (a file that records offsets).
 * Returns 0, or -1 if it does not fit. Any thread. */
int bus_wire_name(const bus_t *bus, const char *topic, char *out, size_t out_size);
/* Pings the broker (metadata) and the registry; 0 when both answer. For
 * /readyz. */
int bus_check(bus_t *bus, int timeout_ms, char *errstr, size_t errstr_size);

/* ---- producer ---- */
bus_producer_t *bus_producer_new(bus_t *bus, char *errstr, size_t errstr_size);
/* Encodes value with the topic's registered schema and enqueues it. key may
 * be NULL. timestamp_ms is the record's event time (0 = now). When the local
 * queue is full it serves delivery reports until there is room. Returns 0, or
 * -1 with errstr (value does not match the schema, registry unreachable). */
int bus_produce(bus_producer_t *p, const char *topic, const char *key,
                avro_value_t *value, int64_t timestamp_ms, char *errstr,
                size_t errstr_size);
/* Enqueues bytes as they are, with optional headers given as a
 * NULL-terminated list of name, value pairs. For DLQs, tests and tools. */
int bus_produce_raw(bus_producer_t *p, const char *topic, const void *key,
                    size_t key_len, const void *payload, size_t len,
                    const char *const *headers, char *errstr, size_t errstr_size);
/* Serves delivery reports without blocking; call from the poll loop. */
void bus_producer_poll(bus_producer_t *p);
/* Waits until every enqueued record is delivered or timeout_ms passes.
 * Returns 0 when all were delivered, -1 otherwise (errstr says how many are
 * left or why delivery failed). A failure is reported by one flush: the
 * first after it happened, even when a poll served its report. */
int bus_producer_flush(bus_producer_t *p, int timeout_ms, char *errstr,
                       size_t errstr_size);
/* Number of records whose delivery failed permanently since creation. */
int64_t bus_producer_failed(const bus_producer_t *p);
/* Flushes (up to 10 s), then frees. NULL is a no-op. */
void bus_producer_destroy(bus_producer_t *p);

/* ---- consumer ---- */
typedef struct bus_record {
    const char *topic; /* logical topic (no prefix) */
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* Kafka record timestamp */
    const void *key;
    size_t key_len;
    int32_t schema_id;  /* writer schema id from the wire */
    avro_value_t value; /* decoded into the local reader schema */
    const void *raw;    /* the original wire bytes */
    size_t raw_len;
    /* 1 when the writer schema is the local schema: the body (raw +
     * BUS_WIRE_HEADER_LEN, see bus/wire.h) has the reader's layout. After
     * bus_consumer_poll_lazy() such a record's value is not set
     * (value.iface == NULL); the caller reads the body itself. */
    int native;
} bus_record_t;

/* Subscribes group_id to the logical topics. auto-commit is off; offsets are
 * committed only by bus_consumer_ack(). Records of a group with no committed
 * offset start at the earliest offset. */
bus_consumer_t *bus_consumer_new(bus_t *bus, const char *group_id,
                                 const char *const *topics, size_t ntopics,
                                 char *errstr, size_t errstr_size);
/* Waits up to timeout_ms for records and returns up to max decoded records
 * in *batch (owned by the consumer, valid until the next poll or destroy).
 * Returns the count (0 on timeout) or -1 with errstr on a fatal error.
 * Undecodable records are dead-lettered and counted, not returned. A poll
 * before the previous batch was acked carries that batch over: the next
 * bus_consumer_ack() commits every batch polled since the last ack (so a
 * caller may pipeline polls and make several batches durable at once). */
int bus_consumer_poll(bus_consumer_t *c, bus_record_t **batch, int max, int timeout_ms,
                      char *errstr, size_t errstr_size);
/* Marks c as a re-read of records that the service's live consumer handles
 * too (a start-up restore in a throw-away group): records that cannot be
 * decoded, and those the caller rejects, are skipped and counted in
 * ems_bus_replay_skipped_total{topic,reason} instead of being dead-lettered
 * once more on every restart. The live consumer dead-letters each once. */
void bus_consumer_set_replay(bus_consumer_t *c, int on);
/* Dead-letters a record of the current batch that decoded but failed the
 * caller's validation (NaN, negative energy, ...); reason is copied into the
 * "ems.dlq.reason" header. Its offset is committed with the batch. On a
 * replaying consumer it is only counted (bus_consumer_set_replay). */
int bus_consumer_reject(bus_consumer_t *c, const bus_record_t *rec, const char *reason,
                        char *errstr, size_t errstr_size);
/* Commits (synchronously) the offsets of every record returned by the polls
 * since the last ack, after making sure their dead letters were delivered.
 * Returns 0 or -1 (nothing committed; a later ack retries). */
int bus_consumer_ack(bus_consumer_t *c, char *errstr, size_t errstr_size);
/* Whether offsets polled since the last ack (or take) await one. Also true
 * after a poll that returned 0 because everything it fetched was
 * dead-lettered: a caller that acks only non-empty batches acks then too,
 * or a restart before the next good record dead-letters those records
 * again. */
int bus_consumer_unacked(const bus_consumer_t *c);
/* Leaves the group (without committing) and frees. NULL is a no-op. */
void bus_consumer_destroy(bus_consumer_t *c);

/* Like bus_consumer_poll(), but records written with the local schema
 * (rec->native) are not decoded: their value is unset and the caller reads
 * the Avro body from rec->raw itself (a hand-written decoder for one fixed
 * schema). Records of any other writer schema are decoded and projected as
 * by bus_consumer_poll(). A body the caller finds malformed is its to
 * reject (bus_consumer_reject). */
int bus_consumer_poll_lazy(bus_consumer_t *c, bus_record_t **batch, int max,
                           int timeout_ms, char *errstr, size_t errstr_size);

/* How many rebalances took partitions away from this consumer (revoked or
 * lost) since it was made, plus how many times it went back to its
 * committed offsets because dead letters were not delivered (an ack or
 * commit then fails, and the records since the last commit are read
 * again). Records of such a partition may since have been
 * consumed by another member of the group, so a service that keeps state
 * per key compares this between polls and rebuilds that state after a
 * change. Counted in the thread that polls (the rebalance is served by the
 * poll). */
uint64_t bus_consumer_revocations(const bus_consumer_t *c);
/* 1 when a revocation counted after bus_consumer_revocations() returned
 * since took partition of the logical topic away from c (revoked, lost,
 * or sent back to its committed offset by a rewind), 0 otherwise: a
 * service that noted which partition each key arrived on rebuilds only
 * the keys of those partitions. Partitions are taken away one by one with
 * the cooperative protocol (the bus default); the eager protocol, if
 * configured, takes every partition at each rebalance. Same thread as the
 * polls. */
int bus_consumer_revoked_since(const bus_consumer_t *c, uint64_t since,
                               const char *topic, int32_t partition);

/* ---- offsets handed to the caller (pipelined consumers) ----
 *
 * bus_consumer_ack() commits every batch polled since the last ack. A
 * caller that polls the next batch while earlier ones are still being made
 * durable takes each batch's offsets instead, and commits them once that
 * batch (and every earlier one) is durable: a partial ack. */
typedef struct bus_offsets_s bus_offsets_t;

/* Detaches the offsets of every batch polled since the last ack or take
 * (the current batch included) into a new object the caller owns: a later
 * ack or take does not cover them again. Call it after the batch's
 * rejects (a reject that fails rewinds its partition, which a take made
 * earlier would already cover). Returns NULL when there is nothing to
 * commit or memory ran out (then they stay with the consumer). */
bus_offsets_t *bus_consumer_take_offsets(bus_consumer_t *c);
/* Moves from's offsets into into (per partition the higher one wins);
 * from is left empty. Either may be NULL (no-op). Offsets taken before a
 * rewind (see bus_consumer_commit_offsets) give way to any taken after it. */
void bus_offsets_merge(bus_offsets_t *into, bus_offsets_t *from);
/* Partitions held. */
int bus_offsets_count(const bus_offsets_t *o);
/* Commits o synchronously, after making sure the consumer's dead letters
 * were delivered, for the partitions still assigned. Returns 0 or -1 with
 * errstr (nothing committed; o is kept for a retry). Offsets taken before
 * the consumer last went back to its committed offsets (dead letters not
 * delivered, ems_bus_rewinds_total) are not committed, and 0 is returned:
 * their records are read again and bring their offsets anew. */
int bus_consumer_commit_offsets(bus_consumer_t *c, const bus_offsets_t *o, char *errstr,
                                size_t errstr_size);
/* NULL is a no-op. */
void bus_offsets_destroy(bus_offsets_t *o);

/* Turns on the gauge ems_bus_consumer_lag{group,topic,partition}: per
 * assigned partition, the high watermark (as last seen by the fetcher)
 * minus the committed offset, i.e. records the group has not yet made
 * durable. Refreshed after each poll and each commit; the committed offset
 * of a newly assigned partition is asked from the broker once. Requires
 * the bus's metrics registry (a no-op without one). */
void bus_consumer_export_lag(bus_consumer_t *c);

/* ---- end offsets (a re-read that stops at the end) ----
 *
 * A consumer that re-reads its topics from the start (a start-up restore)
 * reads the end offsets once when it starts and stops when it reached them
 * on every partition, however long the broker takes to hand the records
 * over. */
typedef struct bus_end_offsets_s bus_end_offsets_t;

/* Reads the high watermark of every partition of c's topics (a topic that
 * does not exist has none), waiting up to timeout_ms for each answer.
 * Returns the end offsets the caller owns, or NULL with errstr when one
 * could not be read. */
bus_end_offsets_t *bus_consumer_end_offsets(bus_consumer_t *c, int timeout_ms,
                                            char *errstr, size_t errstr_size);
/* 1 when c's position (one past the last record its polls handed out,
 * dead-lettered or skipped ones included) reached e on every partition
 * that had records; 0 otherwise (also before c was assigned them). */
int bus_consumer_reached(bus_consumer_t *c, const bus_end_offsets_t *e);
/* Partitions in e (those that held records). */
int bus_end_offsets_count(const bus_end_offsets_t *e);
/* The i-th of them (0 <= i < count): logical topic (owned by e),
 * partition and end offset, for a caller that keeps them (the end of what
 * a service had been given when it stopped). */
void bus_end_offsets_at(const bus_end_offsets_t *e, int i, const char **topic,
                        int32_t *partition, int64_t *offset);
/* NULL is a no-op. */
void bus_end_offsets_destroy(bus_end_offsets_t *e);

#endif
