/* bus: the bus handle, its schema caches and shared Kafka config. See bus.h. */
#include "bus/internal.h"
#include "clock/clock.h"
#include "log/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUS_REGISTRY_TIMEOUT_MS 5000
#define BUS_MISSING_RETRY_MS 30000
#define BUS_SCHEMA_MAX (1024 * 1024)

int64_t bus_now_ms(void)
{
    return ems_mono_ms();
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

/* Copies a NULL-terminated key, value list. Returns 0 or -1. */
static int copy_props(bus_t *bus, const char *const *props, char *errstr,
                      size_t errstr_size)
{
    size_t n = 0, i;

    while (props && props[n])
        n++;
    if (n % 2) {
        snprintf(errstr, errstr_size, "kafka property '%s' has no value", props[n - 1]);
        return -1;
    }
    bus->kafka_props = calloc(n + 1, sizeof(char *));
    if (!bus->kafka_props)
        return -1;
    for (i = 0; i < n; i++)
        if (!(bus->kafka_props[i] = strdup(props[i])))
            return -1;
    return 0;
}

bus_t *bus_new(const bus_conf_t *conf, char *errstr, size_t errstr_size)
{
    bus_t *bus;

    if (!conf->bootstrap || !*conf->bootstrap || !conf->registry_url ||
        !*conf->registry_url || !conf->schema_dir || !*conf->schema_dir) {
        snprintf(errstr, errstr_size,
                 "bus: bootstrap, registry_url and schema_dir are required");
        return NULL;
    }
    bus = calloc(1, sizeof(*bus));
    if (!bus)
        goto nomem;
    pthread_mutex_init(&bus->lock, NULL);
    bus->bootstrap = strdup(conf->bootstrap);
    bus->registry_url = strdup(conf->registry_url);
    bus->schema_dir = strdup(conf->schema_dir);
    bus->prefix = dup_or_empty(conf->topic_prefix);
    bus->client_id =
        strdup(conf->client_id && *conf->client_id ? conf->client_id : "ems");
    bus->metrics = conf->metrics;
    if (!bus->bootstrap || !bus->registry_url || !bus->schema_dir || !bus->prefix ||
        !bus->client_id)
        goto nomem;
    if (copy_props(bus, conf->kafka_props, errstr, errstr_size) != 0)
        goto err;
    bus->registry = bus_registry_new(bus->registry_url, BUS_REGISTRY_TIMEOUT_MS, errstr,
                                     errstr_size);
    if (!bus->registry)
        goto err;
    return bus;
nomem:
    snprintf(errstr, errstr_size, "bus: out of memory");
err:
    bus_destroy(bus);
    return NULL;
}

static void topic_free(bus_topic_t *t)
{
    if (t->iface)
        avro_value_iface_decref(t->iface);
    if (t->schema)
        avro_schema_decref(t->schema);
    bus_defaults_destroy(t->defaults);
    free(t->name);
    free(t->wire);
    free(t->json);
    free(t);
}

const char *bus_topic_prefix(const bus_t *bus)
{
    return bus->prefix;
}

void bus_destroy(bus_t *bus)
{
    size_t i;

    if (!bus)
        return;
    for (i = 0; i < bus->ntopics; i++)
        topic_free(bus->topics[i]);
    for (i = 0; i < bus->nwriters; i++)
        if (bus->writers[i].schema)
            avro_schema_decref(bus->writers[i].schema);
    for (i = 0; bus->kafka_props && bus->kafka_props[i]; i++)
        free(bus->kafka_props[i]);
    bus_registry_destroy(bus->registry);
    if (bus->probe)
        rd_kafka_destroy(bus->probe);
    pthread_mutex_destroy(&bus->lock);
    free(bus->kafka_props);
    free(bus->topics);
    free(bus->writers);
    free(bus->bootstrap);
    free(bus->registry_url);
    free(bus->schema_dir);
    free(bus->prefix);
    free(bus->client_id);
    free(bus);
}

int bus_topic_name_check(const bus_t *bus, const char *topic, char *errstr,
                         size_t errstr_size)
{
    size_t n = topic ? strlen(topic) : 0;

    if (n == 0 || n + strlen(bus->prefix) > BUS_TOPIC_MAX ||
        strspn(topic, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789._-") != n) {
        snprintf(errstr, errstr_size, "bad topic name '%s'", topic ? topic : "");
        return -1;
    }
    return 0;
}

int bus_wire_name(const bus_t *bus, const char *topic, char *out, size_t out_size)
{
    int n = snprintf(out, out_size, "%s%s", bus->prefix, topic);

    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

const char *bus_logical_name(const bus_t *bus, const char *wire)
{
    size_t n = strlen(bus->prefix);

    return strncmp(wire, bus->prefix, n) == 0 ? wire + n : NULL;
}

/* Reads a whole file (at most BUS_SCHEMA_MAX bytes). malloc'd or NULL. */
static char *read_file(const char *path, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (!f) {
        snprintf(errstr, errstr_size, "cannot open schema '%s': %s", path,
                 strerror(errno));
        return NULL;
    }
    buf = malloc(BUS_SCHEMA_MAX + 1);
    n = buf ? fread(buf, 1, BUS_SCHEMA_MAX + 1, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n > BUS_SCHEMA_MAX) {
        snprintf(errstr, errstr_size, "cannot read schema '%s': empty or too large",
                 path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* Parses the file text into t's schema, class and compact JSON. */
static int topic_parse(bus_topic_t *t, const char *path, const char *text, char *errstr,
                       size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);

    if (!root) {
        snprintf(errstr, errstr_size, "schema '%s' line %d: %s", path, jerr.line,
                 jerr.text);
        return -1;
    }
    t->json = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!t->json ||
        avro_schema_from_json_length(t->json, strlen(t->json), &t->schema) != 0) {
        snprintf(errstr, errstr_size, "schema '%s': %s", path, avro_strerror());
        return -1;
    }
    t->defaults = bus_defaults_new(t->json, errstr, errstr_size);
    if (!t->defaults)
        return -1;
    t->iface = avro_generic_class_from_schema(t->schema);
    if (!t->iface) {
        snprintf(errstr, errstr_size, "schema '%s': %s", path, avro_strerror());
        return -1;
    }
    return 0;
}

/* Loads schemas/<topic>.avsc into a new topic. Called with the lock held. */
static bus_topic_t *topic_load(bus_t *bus, const char *topic, char *errstr,
                               size_t errstr_size)
{
    char path[4096], wire[BUS_TOPIC_MAX + 1];
    bus_topic_t *t = calloc(1, sizeof(*t));
    char *text = NULL;

    snprintf(path, sizeof(path), "%s/%s.avsc", bus->schema_dir, topic);
    if (!t || bus_wire_name(bus, topic, wire, sizeof(wire)) != 0 ||
        !(t->name = strdup(topic)) || !(t->wire = strdup(wire))) {
        snprintf(errstr, errstr_size, "bus: out of memory");
        goto err;
    }
    if (!(text = read_file(path, errstr, errstr_size)) ||
        topic_parse(t, path, text, errstr, errstr_size) != 0)
        goto err;
    free(text);
    return t;
err:
    free(text);
    if (t)
        topic_free(t);
    return NULL;
}

bus_topic_t *bus_topic_get(bus_t *bus, const char *topic, char *errstr,
                           size_t errstr_size)
{
    bus_topic_t *t = NULL, **grown;
    size_t i;

    if (bus_topic_name_check(bus, topic, errstr, errstr_size) != 0)
        return NULL;
    pthread_mutex_lock(&bus->lock);
    for (i = 0; i < bus->ntopics; i++)
        if (strcmp(bus->topics[i]->name, topic) == 0) {
            t = bus->topics[i];
            goto out;
        }
    grown = realloc(bus->topics, (bus->ntopics + 1) * sizeof(*grown));
    if (!grown) {
        snprintf(errstr, errstr_size, "bus: out of memory");
        goto out;
    }
    bus->topics = grown;
    t = topic_load(bus, topic, errstr, errstr_size);
    if (t)
        bus->topics[bus->ntopics++] = t;
out:
    pthread_mutex_unlock(&bus->lock);
    return t;
}

int bus_topic_register(bus_t *bus, bus_topic_t *t, char *errstr, size_t errstr_size)
{
    char subject[BUS_TOPIC_MAX + 16];
    int32_t id;
    int registered;

    pthread_mutex_lock(&bus->lock);
    registered = t->registered;
    pthread_mutex_unlock(&bus->lock);
    if (registered)
        return 0;
    snprintf(subject, sizeof(subject), "%s-value", t->wire);
    if (bus_registry_register(bus->registry, subject, t->json, &id, errstr,
                              errstr_size) != 0)
        return -1;
    pthread_mutex_lock(&bus->lock);
    t->id = id;
    t->registered = 1;
    pthread_mutex_unlock(&bus->lock);
    return 0;
}

int bus_schema_id(bus_t *bus, const char *topic, int32_t *id, char *errstr,
                  size_t errstr_size)
{
    bus_topic_t *t = bus_topic_get(bus, topic, errstr, errstr_size);

    if (!t || bus_topic_register(bus, t, errstr, errstr_size) != 0)
        return -1;
    *id = t->id;
    return 0;
}

avro_schema_t bus_schema(bus_t *bus, const char *topic, char *errstr,
                         size_t errstr_size)
{
    bus_topic_t *t = bus_topic_get(bus, topic, errstr, errstr_size);

    return t ? t->schema : NULL;
}

int bus_value_new(bus_t *bus, const char *topic, avro_value_t *out, char *errstr,
                  size_t errstr_size)
{
    bus_topic_t *t = bus_topic_get(bus, topic, errstr, errstr_size);

    if (!t)
        return -1;
    if (avro_generic_value_new(t->iface, out) != 0) {
        snprintf(errstr, errstr_size, "topic '%s': %s", topic, avro_strerror());
        return -1;
    }
    if (bus_defaults_apply(t->defaults, out) != 0) {
        snprintf(errstr, errstr_size, "topic '%s': a default does not fit its field",
                 topic);
        avro_value_decref(out);
        return -1;
    }
    return 0;
}

/* Looks id up in the writer cache. Called with the lock held. */
static bus_writer_t *writer_find(bus_t *bus, int32_t id)
{
    size_t i;

    for (i = 0; i < bus->nwriters; i++)
        if (bus->writers[i].id == id)
            return &bus->writers[i];
    return NULL;
}

/* A slot to reuse for an id newly found missing: an entry missing for
 * longer than the retry period (looked up again anyway), else, with
 * BUS_MISSING_MAX missing entries, the oldest of them; NULL when a new
 * slot is needed. Garbage records with ever new ids cannot grow the cache
 * without bound. Called with the lock held. */
static bus_writer_t *writer_missing_slot(bus_t *bus)
{
    bus_writer_t *oldest = NULL;
    int64_t now = bus_now_ms();
    size_t i, nmissing = 0;

    for (i = 0; i < bus->nwriters; i++) {
        bus_writer_t *w = &bus->writers[i];

        if (w->schema)
            continue;
        if (now - w->missing_since_ms >= BUS_MISSING_RETRY_MS)
            return w;
        nmissing++;
        if (!oldest || w->missing_since_ms < oldest->missing_since_ms)
            oldest = w;
    }
    return nmissing >= BUS_MISSING_MAX ? oldest : NULL;
}

/* Stores a fetch result (schema NULL = missing). Takes schema's reference. */
static void writer_store(bus_t *bus, int32_t id, avro_schema_t schema)
{
    bus_writer_t *w, *grown;

    pthread_mutex_lock(&bus->lock);
    w = writer_find(bus, id);
    if (!w && !schema && (w = writer_missing_slot(bus)) != NULL) {
        memset(w, 0, sizeof(*w));
        w->id = id;
    }
    if (!w) {
        grown = realloc(bus->writers, (bus->nwriters + 1) * sizeof(*grown));
        if (!grown) {
            pthread_mutex_unlock(&bus->lock);
            if (schema)
                avro_schema_decref(schema);
            return;
        }
        bus->writers = grown;
        w = &bus->writers[bus->nwriters++];
        memset(w, 0, sizeof(*w));
        w->id = id;
    }
    if (schema && !w->schema)
        w->schema = schema;
    else if (schema)
        avro_schema_decref(schema); /* another thread was first */
    else
        w->missing_since_ms = bus_now_ms();
    pthread_mutex_unlock(&bus->lock);
}

/* Returns 0 (cached schema), 1 (recently missing) or -1 (not cached). */
static int writer_cached(bus_t *bus, int32_t id, avro_schema_t *schema)
{
    bus_writer_t *w;
    int rc = -1;

    pthread_mutex_lock(&bus->lock);
    w = writer_find(bus, id);
    if (w && w->schema) {
        *schema = w->schema;
        rc = 0;
    } else if (w && bus_now_ms() - w->missing_since_ms < BUS_MISSING_RETRY_MS) {
        rc = 1;
    }
    pthread_mutex_unlock(&bus->lock);
    return rc;
}

int bus_writer_schema(bus_t *bus, int32_t id, avro_schema_t *schema, char *errstr,
                      size_t errstr_size)
{
    avro_schema_t parsed;
    char *json = NULL;
    int rc = writer_cached(bus, id, schema);

    if (rc == 1)
        snprintf(errstr, errstr_size, "schema id %d is unknown to the registry",
                 (int)id);
    if (rc >= 0)
        return rc;
    rc = bus_registry_get(bus->registry, id, &json, errstr, errstr_size);
    if (rc == 1)
        writer_store(bus, id, NULL);
    if (rc != 0)
        return rc;
    if (avro_schema_from_json_length(json, strlen(json), &parsed) != 0) {
        snprintf(errstr, errstr_size, "schema id %d does not parse: %s", (int)id,
                 avro_strerror());
        free(json);
        return 2;
    }
    free(json);
    writer_store(bus, id, parsed);
    return writer_cached(bus, id, schema) == 0 ? 0 : -1;
}

int bus_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                 char *errstr, size_t errstr_size)
{
    char why[256];

    if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) == RD_KAFKA_CONF_OK)
        return 0;
    snprintf(errstr, errstr_size, "kafka property '%s': %s", key, why);
    return -1;
}

/* librdkafka's own log lines (syslog levels) become the suite's JSON log
 * lines, so stderr stays one JSON object per line. Runs on librdkafka's
 * threads; log_msg() is thread-safe. */
static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                         const char *buf)
{
    log_level_t lvl = level <= 3   ? LOG_ERROR
                      : level == 4 ? LOG_WARN
                      : level <= 6 ? LOG_INFO
                                   : LOG_DEBUG;
    log_msg(lvl, "kafka", "%s %s: %s", rd_kafka_name(rk), fac, buf);
}

rd_kafka_conf_t *bus_kafka_conf(const bus_t *bus, const char *const *defaults,
                                char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    size_t i;

    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);

    for (i = 0; defaults && defaults[i]; i += 2)
        if (bus_conf_set(conf, defaults[i], defaults[i + 1], errstr, errstr_size))
            goto err;
    if (bus_conf_set(conf, "bootstrap.servers", bus->bootstrap, errstr, errstr_size) ||
        bus_conf_set(conf, "client.id", bus->client_id, errstr, errstr_size))
        goto err;
    for (i = 0; bus->kafka_props[i]; i += 2)
        if (bus_conf_set(conf, bus->kafka_props[i], bus->kafka_props[i + 1], errstr,
                         errstr_size))
            goto err;
    return conf;
err:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Asks the broker for metadata through a lazily made probe handle. */
static int check_broker(bus_t *bus, int timeout_ms, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_conf_t *conf;
    rd_kafka_resp_err_t err;
    char why[256];

    pthread_mutex_lock(&bus->lock);
    if (!bus->probe && (conf = bus_kafka_conf(bus, NULL, errstr, errstr_size)) &&
        !(bus->probe = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why)))) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "broker '%s': %s", bus->bootstrap, why);
    }
    pthread_mutex_unlock(&bus->lock);
    if (!bus->probe)
        return -1;
    err = rd_kafka_metadata(bus->probe, 0, NULL, &md, timeout_ms);
    if (err) {
        snprintf(errstr, errstr_size, "broker '%s': %s", bus->bootstrap,
                 rd_kafka_err2str(err));
        return -1;
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

int bus_check(bus_t *bus, int timeout_ms, char *errstr, size_t errstr_size)
{
    if (check_broker(bus, timeout_ms, errstr, errstr_size) != 0)
        return -1;
    return bus_registry_ping(bus->registry, timeout_ms, errstr, errstr_size);
}
