/*
 * bus/consumer_int: the consumer's state, shared by consumer.c (poll, ack,
 * dead letters), lag.c (offsets handed to the caller, lag gauges) and
 * revoked.c (which partitions each revocation took). Not part of the
 * public API.
 */
#ifndef EMS_BUS_CONSUMER_INT_H
#define EMS_BUS_CONSUMER_INT_H

#include <librdkafka/rdkafka.h>

#include "bus/bus.h"
#include "bus/codec.h"
#include "bus/internal.h"

/* A decoder for one writer id, or the permanent reason it cannot exist. */
typedef struct cons_decoder {
    int32_t id;
    bus_decoder_t *dec;
    const char *reason; /* set when dec is NULL */
    char detail[256];
} cons_decoder_t;

typedef struct cons_topic {
    bus_topic_t *bt;
    obs_counter_t *consumed;
    cons_decoder_t *decs;
    size_t ndecs;
} cons_topic_t;

/* One value slot per batch position, reused across polls. */
typedef struct cons_slot {
    avro_value_t value;
    avro_value_iface_t *iface; /* NULL when value is not allocated */
} cons_slot_t;

/* A partition taken away from the consumer, and by which revocation. */
typedef struct cons_revoked {
    int topic; /* index in topics */
    int32_t partition;
    uint64_t at; /* the revocation count once it was taken */
} cons_revoked_t;

struct bus_consumer_s {
    bus_t *bus;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q; /* the consumer queue, for bulk takes */
    cons_topic_t *topics;
    size_t ntopics;
    rd_kafka_message_t **msgs; /* the batch */
    char *commit;              /* per message: 1 unless held back */
    int nmsgs;
    bus_record_t *recs;
    int *rec_msg; /* record index -> message index */
    cons_slot_t *slots;
    int nrecs;
    int cap;
    bus_producer_t *dlq; /* made on the first dead letter */
    /* offsets of earlier polls not acked yet: the next ack covers them */
    rd_kafka_topic_partition_list_t *pending;
    int lazy;       /* poll leaves native records undecoded */
    int replay;     /* a re-read: bad records skipped, not dead-lettered */
    char *group;    /* group id (lag metric label) */
    int export_lag; /* keep ems_bus_consumer_lag up to date */
    /* per assigned partition: last committed offset (lag base); offset
     * RD_KAFKA_OFFSET_INVALID until known */
    rd_kafka_topic_partition_list_t *committed;
    uint64_t revocations; /* rebalances that took partitions away */
    /* times the consumer went back to its committed offsets (dead letters
     * not delivered): offsets taken before the latest are not committed */
    uint64_t rewinds;
    /* per partition ever taken away, the latest revocation that took it;
     * all_revoked_at: one that took every partition (which ones was not
     * known) */
    cons_revoked_t *revoked;
    size_t nrevoked, revcap;
    uint64_t all_revoked_at;
};

/* Merges the current batch's offsets (one past the highest of each
 * partition, held-back messages left out) into l. consumer.c. */
void cons_merge_batch(bus_consumer_t *c, rd_kafka_topic_partition_list_t *l);
/* Commits l (after the dead letters are delivered), only for partitions
 * still assigned. 0 or -1 with errstr. consumer.c. */
int cons_commit_list(bus_consumer_t *c, rd_kafka_topic_partition_list_t *l,
                     char *errstr, size_t errstr_size);
/* The offsets of every batch since the last ack or take, detached from
 * the consumer (the caller destroys the list); NULL when none. consumer.c. */
rd_kafka_topic_partition_list_t *cons_take_list(bus_consumer_t *c);
/* Zeroes the lag gauges of revoked partitions and forgets their committed
 * offsets. offsets.c. */
void cons_lag_revoked(bus_consumer_t *c, const rd_kafka_topic_partition_list_t *parts);
/* Refreshes the lag gauges when export_lag is on. lag.c. */
void cons_lag_update(bus_consumer_t *c);
/* Records l as committed (lag base). lag.c. */
void cons_lag_committed(bus_consumer_t *c, const rd_kafka_topic_partition_list_t *l);
/* Stamps the partitions of parts (wire topic names) with the current
 * revocation count, every partition when parts is NULL: the caller has
 * just counted the revocation that took them. revoked.c. */
void cons_note_revoked(bus_consumer_t *c, const rd_kafka_topic_partition_list_t *parts);
/* Frees the revocation stamps. revoked.c. */
void cons_revoked_release(bus_consumer_t *c);
/* Frees the lag state. lag.c. */
void cons_lag_release(bus_consumer_t *c);

#endif
