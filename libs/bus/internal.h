/*
 * bus/internal: what bus.c shares with producer.c and consumer.c. Not part
 * of the public API.
 */
#ifndef EMS_BUS_INTERNAL_H
#define EMS_BUS_INTERNAL_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>

#include "bus/bus.h"
#include "bus/project.h"
#include "bus/registry.h"

#define BUS_TOPIC_MAX 249

/* A logical topic with a local schema. Owned by the bus, never moves. */
typedef struct bus_topic {
    char *name;                /* logical name */
    char *wire;                /* prefix + name */
    avro_schema_t schema;      /* local (reader and writer) schema */
    avro_value_iface_t *iface; /* generic class of schema */
    char *json;                /* compact schema text, for registering */
    bus_defaults_t *defaults;  /* field defaults of json */
    int32_t id;                /* registered id, valid when registered */
    int registered;
} bus_topic_t;

/* At most this many schema ids the registry did not know are remembered
 * (each for BUS_MISSING_RETRY_MS in bus.c); beyond, the oldest goes. */
#define BUS_MISSING_MAX 256

/* A writer schema fetched by id. schema is NULL when the registry said the
 * id does not exist (negative cache entry, retried after a while). */
typedef struct bus_writer {
    int32_t id;
    avro_schema_t schema;
    int64_t missing_since_ms;
} bus_writer_t;

struct bus_s {
    char *bootstrap;
    char *registry_url;
    char *schema_dir;
    char *prefix;
    char *client_id;
    char **kafka_props; /* NULL-terminated key, value list */
    obs_metrics_t *metrics;
    bus_registry_t *registry;
    pthread_mutex_t lock; /* guards topics and writers */
    bus_topic_t **topics;
    size_t ntopics;
    bus_writer_t *writers;
    size_t nwriters;
    rd_kafka_t *probe; /* lazily made for bus_check(), guarded by lock */
};

/* Checks a logical topic name: [A-Za-z0-9._-], 1..BUS_TOPIC_MAX chars
 * including the prefix. Returns 0 or -1 with errstr. */
int bus_topic_name_check(const bus_t *bus, const char *topic, char *errstr,
                         size_t errstr_size);
/* The logical name of a wire topic (borrowed from wire), or NULL if it does
 * not carry the bus's prefix. */
const char *bus_logical_name(const bus_t *bus, const char *wire);

/* Gets (loading on first use) the topic with its local schema. The pointer
 * stays valid until bus_destroy(). NULL with errstr when the schema file is
 * missing or does not parse. Any thread. */
bus_topic_t *bus_topic_get(bus_t *bus, const char *topic, char *errstr,
                           size_t errstr_size);
/* Registers t's schema once. Returns 0 (t->id valid) or -1 with errstr. */
int bus_topic_register(bus_t *bus, bus_topic_t *t, char *errstr, size_t errstr_size);

/* The writer schema of id, borrowed from the bus. Returns 0 with *schema, 1
 * when the registry does not know id, 2 when its schema does not parse, -1
 * with errstr when the registry could not be asked. */
int bus_writer_schema(bus_t *bus, int32_t id, avro_schema_t *schema, char *errstr,
                      size_t errstr_size);

/* A new librdkafka config: defaults (a NULL-terminated key, value list, may
 * be NULL), then bootstrap and client.id, then the pass-through properties,
 * so configuration can override any default. NULL with errstr on a bad
 * property. */
rd_kafka_conf_t *bus_kafka_conf(const bus_t *bus, const char *const *defaults,
                                char *errstr, size_t errstr_size);
/* Sets one property, filling errstr on failure. Returns 0 or -1. */
int bus_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                 char *errstr, size_t errstr_size);

/* A record the producer refused as too large (MSG_SIZE_TOO_LARGE), when
 * enqueued or in its delivery report: its logical topic, key, payload size
 * and headers (borrowed, may be NULL). The hook may send a replacement
 * with p; it returns 0 when it did, and the refused record then counts as
 * handled, not failed. Delivery reports run it inside a poll or flush. */
typedef int (*bus_oversize_fn)(void *opaque, bus_producer_t *p, const char *topic,
                               const void *key, size_t key_len, size_t len,
                               const rd_kafka_headers_t *hdrs);
/* Sets p's oversize hook (NULL: a record too large fails as any other). */
void bus_producer_on_oversize(bus_producer_t *p, bus_oversize_fn fn, void *opaque);
/* bus_produce_raw() with librdkafka headers, which it takes (NULL: none). */
int bus_produce_headers(bus_producer_t *p, const char *topic, const void *key,
                        size_t key_len, const void *payload, size_t len,
                        rd_kafka_headers_t *hdrs, char *errstr, size_t errstr_size);

/* Milliseconds of a monotonic clock. */
int64_t bus_now_ms(void);

#endif
