/* bus/consumer: at-least-once Avro consumer with a dead-letter queue.
 * See bus.h.
 *
 * A batch is the list of Kafka messages taken by one poll. Each message is
 * either handed out as a record, dead-lettered, or "held back": when the
 * registry cannot be reached (or a dead letter cannot be enqueued) the
 * partition is rewound to that message and the rest of the batch from that
 * partition is dropped, so it is polled again later instead of being lost.
 * bus_consumer_ack() commits, per partition, one past the highest offset of
 * the batch that was not held back, and only for partitions still assigned
 * to this consumer: a partition revoked by a rebalance since the poll is
 * left to its new owner, which re-reads it from the last commit. Batches
 * polled without an ack in between are carried over (c->pending) and
 * committed by the next ack, so a caller may pipeline several polls
 * before making them durable and acknowledging them at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/codec.h"
#include "bus/consumer_int.h"
#include "bus/internal.h"
#include "bus/wire.h"
#include "log/log.h"
#include "text/utf8.h"

#define CONS_DLQ_FLUSH_MS 10000
#define CONS_SEEK_MS 5000

static const char *const cons_defaults[] = {
    "enable.auto.commit",
    "false",
    "enable.auto.offset.store",
    "false",
    "auto.offset.reset",
    "earliest",
    /* a crashed member holds its partitions this long (librdkafka's 45 s
     * default makes a restarted service wait); configuration may override */
    "session.timeout.ms",
    "10000",
    "heartbeat.interval.ms",
    "3000",
    /* an empty fetch is answered after this wait: a real broker answers as
     * soon as records arrive, the development broker (librdkafka's mock)
     * only when the wait is over, so the 500 ms default delays the first
     * records after a quiet spell by up to half a second */
    "fetch.wait.max.ms",
    "100",
    /* a subscribed topic that does not exist yet (a fresh cluster, its
     * producer not started) is seen at the next metadata refresh, every 5
     * minutes by default: a service would sit idle that long. A refresh
     * every 10 s costs one small metadata request on a cluster of the
     * suite's few dozen topics. */
    "topic.metadata.refresh.interval.ms",
    "10000",
    /* a rebalance takes away only the partitions that move to another
     * member (the eager default revokes every partition of every member
     * first): the others are consumed on, and a service keeping state per
     * key rebuilds only what moved (bus_consumer_revoked_since) */
    "partition.assignment.strategy",
    "cooperative-sticky",
    NULL,
};

/* ---- set-up and tear-down ---- */

/* Why a record is dead-lettered once it is in the wire format: its
 * "ems.dlq.reason" header and the reason label of ems_bus_dlq_total, whose
 * series start at 0 for each (with the wire format's own reasons, from
 * bus_wire_strerror()). */
enum {
    DLQ_UNKNOWN_ID = 0,
    DLQ_BAD_WRITER,
    DLQ_INCOMPATIBLE,
    DLQ_MALFORMED,
    DLQ_VALIDATION,
    DLQ_NREASONS
};
static const char *const dlq_reasons[DLQ_NREASONS] = {
    [DLQ_UNKNOWN_ID] = "unknown-schema-id",
    [DLQ_BAD_WRITER] = "bad-writer-schema",
    [DLQ_INCOMPATIBLE] = "incompatible-schema",
    [DLQ_MALFORMED] = "malformed-body",
    [DLQ_VALIDATION] = "validation",
};

/* Header of a dead letter sent without its payload: the payload's size. */
#define DLQ_CUT_HEADER "ems.dlq.truncated"
/* Header of a dead letter sent without its key too: the key's size. */
#define DLQ_KEY_CUT_HEADER "ems.dlq.key_truncated"
/* What is left of the reason and detail headers of a dead letter sent
 * without its key. */
#define DLQ_SHORT_MAX 128
#define DLQ_CUT_HELP                                                                   \
    "Dead letters sent without their payload because the producer or the broker "      \
    "refused them as too large."

static void cons_zero_dlq_reason(bus_consumer_t *c, const char *topic,
                                 const char *reason)
{
    char labels[BUS_TOPIC_MAX + 64];

    snprintf(labels, sizeof(labels), "topic=%s,reason=%s", topic, reason);
    obs_counter(c->bus->metrics, "ems_bus_dlq_total",
                "Records sent to a dead-letter topic, by reason.", labels);
}

/* Registers ems_bus_dlq_total{topic,reason} at 0 for every reason, and
 * ems_bus_dlq_truncated_total{topic}: a counter first scraped at 1 has no
 * increase, so an alert on increase() would miss a topic's first dead
 * letter (docs/alerts.md). */
static void cons_zero_dlq(bus_consumer_t *c, const char *topic)
{
    char labels[BUS_TOPIC_MAX + 16];

    for (int e = BUS_WIRE_OK + 1; e < BUS_WIRE_NERR; e++)
        cons_zero_dlq_reason(c, topic, bus_wire_strerror((bus_wire_err_t)e));
    for (int i = 0; i < DLQ_NREASONS; i++)
        cons_zero_dlq_reason(c, topic, dlq_reasons[i]);
    snprintf(labels, sizeof(labels), "topic=%s", topic);
    obs_counter(c->bus->metrics, "ems_bus_dlq_truncated_total", DLQ_CUT_HELP, labels);
}

static int cons_add_topics(bus_consumer_t *c, const char *const *topics, size_t ntopics,
                           rd_kafka_topic_partition_list_t *subs, char *errstr,
                           size_t errstr_size)
{
    char labels[BUS_TOPIC_MAX + 16];
    size_t i;

    c->topics = calloc(ntopics, sizeof(*c->topics));
    if (!c->topics) {
        snprintf(errstr, errstr_size, "consumer: out of memory");
        return -1;
    }
    for (i = 0; i < ntopics; i++) {
        cons_topic_t *ct = &c->topics[c->ntopics];

        ct->bt = bus_topic_get(c->bus, topics[i], errstr, errstr_size);
        if (!ct->bt)
            return -1;
        c->ntopics++;
        snprintf(labels, sizeof(labels), "topic=%s", ct->bt->name);
        ct->consumed =
            obs_counter(c->bus->metrics, "ems_bus_consumed_total",
                        "Records decoded and handed to the service.", labels);
        cons_zero_dlq(c, ct->bt->name);
        rd_kafka_topic_partition_list_add(subs, ct->bt->wire, RD_KAFKA_PARTITION_UA);
    }
    return 0;
}

/* Assigns and revokes as librdkafka would without a callback (eager or
 * cooperative protocol alike), counting the revocations: the service
 * learns that partitions may have been consumed elsewhere meanwhile. */
static void cons_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                              rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    bus_consumer_t *c = opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t r = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            r = rd_kafka_assign(rk, parts);
    } else {
        if (parts && parts->cnt > 0) {
            c->revocations++;
            cons_note_revoked(c, parts);
        }
        cons_lag_revoked(c, parts);
        if (coop)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            r = rd_kafka_assign(rk, NULL);
    }
    if (e) {
        log_warn("bus", "rebalance of group '%s': %s", c->group,
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (r)
        log_warn("bus", "rebalance of group '%s': %s", c->group, rd_kafka_err2str(r));
}

uint64_t bus_consumer_revocations(const bus_consumer_t *c)
{
    return c->revocations;
}

static int cons_start(bus_consumer_t *c, const char *group_id,
                      rd_kafka_topic_partition_list_t *subs, char *errstr,
                      size_t errstr_size)
{
    rd_kafka_conf_t *conf = bus_kafka_conf(c->bus, cons_defaults, errstr, errstr_size);
    rd_kafka_resp_err_t err;
    char why[512];

    if (!conf || bus_conf_set(conf, "group.id", group_id, errstr, errstr_size)) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, cons_rebalance_cb);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "consumer for '%s': %s", c->bus->bootstrap, why);
        return -1;
    }
    rd_kafka_poll_set_consumer(c->rk);
    c->q = rd_kafka_queue_get_consumer(c->rk); /* NULL: poll one by one */
    err = rd_kafka_subscribe(c->rk, subs);
    if (err) {
        snprintf(errstr, errstr_size, "subscribe group '%s': %s", group_id,
                 rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

bus_consumer_t *bus_consumer_new(bus_t *bus, const char *group_id,
                                 const char *const *topics, size_t ntopics,
                                 char *errstr, size_t errstr_size)
{
    bus_consumer_t *c = calloc(1, sizeof(*c));
    rd_kafka_topic_partition_list_t *subs =
        rd_kafka_topic_partition_list_new((int)(ntopics ? ntopics : 1));

    if (!c) {
        snprintf(errstr, errstr_size, "consumer: out of memory");
        goto err;
    }
    c->bus = bus;
    if (!group_id || !*group_id || ntopics == 0) {
        snprintf(errstr, errstr_size, "consumer: a group id and a topic are required");
        goto err;
    }
    if (!(c->group = strdup(group_id))) {
        snprintf(errstr, errstr_size, "consumer: out of memory");
        goto err;
    }
    if (cons_add_topics(c, topics, ntopics, subs, errstr, errstr_size) != 0 ||
        cons_start(c, group_id, subs, errstr, errstr_size) != 0)
        goto err;
    rd_kafka_topic_partition_list_destroy(subs);
    return c;
err:
    rd_kafka_topic_partition_list_destroy(subs);
    bus_consumer_destroy(c);
    return NULL;
}

static void cons_release_batch(bus_consumer_t *c)
{
    int i;

    for (i = 0; i < c->nmsgs; i++)
        rd_kafka_message_destroy(c->msgs[i]);
    c->nmsgs = 0;
    c->nrecs = 0;
}

void bus_consumer_destroy(bus_consumer_t *c)
{
    size_t i, j;

    if (!c)
        return;
    cons_release_batch(c);
    if (c->q)
        rd_kafka_queue_destroy(c->q);
    if (c->rk) {
        rd_kafka_consumer_close(c->rk);
        rd_kafka_destroy(c->rk);
    }
    bus_producer_destroy(c->dlq);
    if (c->pending)
        rd_kafka_topic_partition_list_destroy(c->pending);
    cons_lag_release(c);
    cons_revoked_release(c);
    free(c->group);
    for (i = 0; i < c->ntopics; i++) {
        for (j = 0; j < c->topics[i].ndecs; j++)
            bus_decoder_destroy(c->topics[i].decs[j].dec);
        free(c->topics[i].decs);
    }
    for (i = 0; i < (size_t)c->cap; i++)
        if (c->slots[i].iface)
            avro_value_decref(&c->slots[i].value);
    free(c->topics);
    free(c->msgs);
    free(c->commit);
    free(c->recs);
    free(c->rec_msg);
    free(c->slots);
    free(c);
}

/* Grows the batch arrays to hold max messages. */
static int cons_reserve(bus_consumer_t *c, int max)
{
    if (max <= c->cap)
        return 0;
    c->msgs = realloc(c->msgs, (size_t)max * sizeof(*c->msgs));
    c->commit = realloc(c->commit, (size_t)max);
    c->recs = realloc(c->recs, (size_t)max * sizeof(*c->recs));
    c->rec_msg = realloc(c->rec_msg, (size_t)max * sizeof(*c->rec_msg));
    c->slots = realloc(c->slots, (size_t)max * sizeof(*c->slots));
    if (!c->msgs || !c->commit || !c->recs || !c->rec_msg || !c->slots)
        return -1; /* unrecoverable: the consumer is then only destroyed */
    memset(c->slots + c->cap, 0, (size_t)(max - c->cap) * sizeof(*c->slots));
    c->cap = max;
    return 0;
}

/* ---- dead letters and holding back ---- */

/* Rewinds m's partition to m and holds back every message of the batch
 * from that partition at or after m. */
static void cons_hold_back(bus_consumer_t *c, int idx)
{
    const rd_kafka_message_t *m = c->msgs[idx];
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_error_t *e;
    int i;

    for (i = idx; i < c->nmsgs; i++)
        if (c->msgs[i]->rkt == m->rkt && c->msgs[i]->partition == m->partition)
            c->commit[i] = 0;
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)
        ->offset = m->offset;
    e = rd_kafka_seek_partitions(c->rk, l, CONS_SEEK_MS);
    if (e)
        rd_kafka_error_destroy(e); /* then the next rebalance re-reads it */
    rd_kafka_topic_partition_list_destroy(l);
}

/* Value of header name in h (borrowed, not NUL-terminated), or NULL. */
static const char *cons_header(const rd_kafka_headers_t *h, const char *name,
                               size_t *len)
{
    const void *v;

    if (!h || rd_kafka_header_get_last(h, name, &v, len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    return v;
}

/* Logs a dead letter sent without part of it (what: which part and the
 * header that says so) and, when count, counts it. */
static void cons_count_cut(bus_consumer_t *c, const rd_kafka_headers_t *h,
                           const char *what, int count)
{
    char wire[BUS_TOPIC_MAX + 1], labels[BUS_TOPIC_MAX + 16], part[16], off[24];
    const char *v, *topic;
    size_t n;

    v = cons_header(h, "ems.dlq.topic", &n);
    snprintf(wire, sizeof(wire), "%.*s", v ? (int)n : 0, v ? v : "");
    v = cons_header(h, "ems.dlq.partition", &n);
    snprintf(part, sizeof(part), "%.*s", v ? (int)n : 1, v ? v : "?");
    v = cons_header(h, "ems.dlq.offset", &n);
    snprintf(off, sizeof(off), "%.*s", v ? (int)n : 1, v ? v : "?");
    topic = bus_logical_name(c->bus, wire);
    snprintf(labels, sizeof(labels), "topic=%s", topic ? topic : wire);
    if (count)
        obs_count(c->bus->metrics, "ems_bus_dlq_truncated_total", DLQ_CUT_HELP, labels,
                  1);
    log_warn("bus",
             "dead letter of %s [%s] offset %s refused as too large: sent without %s",
             wire, part, off, what);
}

/* Replaces header name of h by its first DLQ_SHORT_MAX bytes (whole
 * characters), when longer. */
static void cons_shorten_header(rd_kafka_headers_t *h, const char *name)
{
    char cut[DLQ_SHORT_MAX + 1];
    size_t n = 0;
    const char *v = cons_header(h, name, &n);

    if (!v || n <= DLQ_SHORT_MAX)
        return;
    memcpy(cut, v, DLQ_SHORT_MAX);
    cut[DLQ_SHORT_MAX] = '\0';
    ems_utf8_trim_partial(cut);
    rd_kafka_header_remove(h, name);
    rd_kafka_header_add(h, name, -1, cut, -1);
}

/* A dead letter already sent without its payload and refused again: the
 * key and headers alone are too large. It goes without its key too, with
 * DLQ_KEY_CUT_HEADER giving the key's size and the caller's texts (reason,
 * detail) shortened. Counted once, by the first cut. */
static int cons_send_keyless(bus_consumer_t *c, bus_producer_t *p, const char *topic,
                             size_t key_len, const rd_kafka_headers_t *hdrs)
{
    rd_kafka_headers_t *h = rd_kafka_headers_copy(hdrs);
    char size[24], why[256];

    if (!h)
        return -1;
    if (cons_header(hdrs, DLQ_KEY_CUT_HEADER, &(size_t){0})) {
        rd_kafka_headers_destroy(h); /* the headers alone are still too large */
        return -1;
    }
    cons_shorten_header(h, "ems.dlq.reason");
    cons_shorten_header(h, "ems.dlq.detail");
    snprintf(size, sizeof(size), "%zu", key_len);
    rd_kafka_header_add(h, DLQ_KEY_CUT_HEADER, -1, size, -1);
    if (bus_produce_headers(p, topic, NULL, 0, NULL, 0, h, why, sizeof(why))) {
        log_warn("bus", "%s", why);
        return -1;
    }
    snprintf(why, sizeof(why), "its key (%zu bytes) either, header " DLQ_KEY_CUT_HEADER,
             key_len);
    cons_count_cut(c, hdrs, why, 0);
    return 0;
}

/* The DLQ producer's oversize hook: a dead letter too large to send (the
 * headers grew a record near message.max.bytes past it) goes again with
 * the same key and headers, no payload, and DLQ_CUT_HEADER giving the
 * payload's size; refused again, without its key too (cons_send_keyless).
 * The original stays in its topic at the partition and offset the headers
 * name. Otherwise it would be refused on every poll and hold its
 * partition. */
static int cons_send_cut(void *opaque, bus_producer_t *p, const char *topic,
                         const void *key, size_t key_len, size_t len,
                         const rd_kafka_headers_t *hdrs)
{
    bus_consumer_t *c = opaque;
    rd_kafka_headers_t *h;
    char size[24], why[256];

    if (hdrs && cons_header(hdrs, DLQ_CUT_HEADER, &(size_t){0}))
        return cons_send_keyless(c, p, topic, key_len, hdrs);
    if (!(h = hdrs ? rd_kafka_headers_copy(hdrs) : rd_kafka_headers_new(1)))
        return -1;
    snprintf(size, sizeof(size), "%zu", len);
    rd_kafka_header_add(h, DLQ_CUT_HEADER, -1, size, -1);
    /* refused here already, this send comes back through cons_send_keyless */
    if (bus_produce_headers(p, topic, key, key_len, NULL, 0, h, why, sizeof(why))) {
        log_warn("bus", "%s", why);
        return -1;
    }
    snprintf(why, sizeof(why), "its payload (%zu bytes), header " DLQ_CUT_HEADER, len);
    cons_count_cut(c, hdrs, why, 1);
    return 0;
}

/* The DLQ producer, made on the first dead letter. */
static bus_producer_t *cons_dlq_producer(bus_consumer_t *c, char *errstr,
                                         size_t errstr_size)
{
    if (!c->dlq && (c->dlq = bus_producer_new(c->bus, errstr, errstr_size)))
        bus_producer_on_oversize(c->dlq, cons_send_cut, c);
    return c->dlq;
}

/* Enqueues message idx to "<topic>.dlq" with headers saying why. */
static int cons_dead_letter(bus_consumer_t *c, int idx, const char *topic,
                            const char *reason, const char *detail, char *errstr,
                            size_t errstr_size)
{
    const rd_kafka_message_t *m = c->msgs[idx];
    char dlq[BUS_TOPIC_MAX + 1], part[16], off[24];
    const char *headers[] = {
        "ems.dlq.reason",
        reason,
        "ems.dlq.detail",
        detail,
        "ems.dlq.topic",
        rd_kafka_topic_name(m->rkt),
        "ems.dlq.partition",
        part,
        "ems.dlq.offset",
        off,
        NULL,
    };

    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    snprintf(part, sizeof(part), "%d", (int)m->partition);
    snprintf(off, sizeof(off), "%lld", (long long)m->offset);
    if (!cons_dlq_producer(c, errstr, errstr_size))
        return -1;
    return bus_produce_raw(c->dlq, dlq, m->key, m->key_len, m->payload, m->len, headers,
                           errstr, errstr_size);
}

static void cons_count_dlq(bus_consumer_t *c, const char *topic, const char *reason)
{
    char labels[BUS_TOPIC_MAX + 64];

    snprintf(labels, sizeof(labels), "topic=%s,reason=%s", topic, reason);
    obs_count(c->bus->metrics, "ems_bus_dlq_total",
              "Records sent to a dead-letter topic, by reason.", labels, 1);
}

/* A replaying consumer's bad record: counted, not dead-lettered again. */
static void cons_count_replay_skip(bus_consumer_t *c, const char *topic,
                                   const char *reason)
{
    char labels[BUS_TOPIC_MAX + 64];

    snprintf(labels, sizeof(labels), "topic=%s,reason=%s", topic, reason);
    obs_count(c->bus->metrics, "ems_bus_replay_skipped_total",
              "Bad records a replaying consumer (a start-up restore) skipped; the "
              "live consumer dead-letters each once, by reason.",
              labels, 1);
}

/* Dead-letters message idx and counts it under reason_label; on failure
 * holds it back so it is polled again. A replaying consumer only counts. */
static void cons_reject_msg(bus_consumer_t *c, int idx, const char *topic,
                            const char *reason, const char *reason_label,
                            const char *detail)
{
    char why[256];

    if (c->replay) {
        cons_count_replay_skip(c, topic, reason_label);
        return;
    }
    if (cons_dead_letter(c, idx, topic, reason, detail, why, sizeof(why)) != 0) {
        cons_hold_back(c, idx);
        return;
    }
    cons_count_dlq(c, topic, reason_label);
}

/* ---- decoding ---- */

static cons_topic_t *cons_topic_of(bus_consumer_t *c, const rd_kafka_message_t *m)
{
    const char *wire = rd_kafka_topic_name(m->rkt);
    size_t i;

    for (i = 0; i < c->ntopics; i++)
        if (strcmp(c->topics[i].bt->wire, wire) == 0)
            return &c->topics[i];
    return NULL;
}

/* Returns the decoder entry for id, creating it; NULL when the registry
 * cannot be asked now or the id is unknown (reason set either way). */
static cons_decoder_t *cons_decoder(bus_consumer_t *c, cons_topic_t *ct, int32_t id,
                                    const char **reason, char *detail, size_t dsize)
{
    cons_decoder_t *d, *grown;
    avro_schema_t writer;
    size_t i;
    int rc;

    for (i = 0; i < ct->ndecs; i++)
        if (ct->decs[i].id == id)
            return &ct->decs[i];
    rc = bus_writer_schema(c->bus, id, &writer, detail, dsize);
    *reason = rc < 0 ? NULL : dlq_reasons[rc == 1 ? DLQ_UNKNOWN_ID : DLQ_BAD_WRITER];
    if (rc == -1 || rc == 1)
        return NULL;
    grown = realloc(ct->decs, (ct->ndecs + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    ct->decs = grown;
    d = &ct->decs[ct->ndecs++];
    memset(d, 0, sizeof(*d));
    d->id = id;
    if (rc == 0)
        d->dec = bus_decoder_new(writer, ct->bt->schema, ct->bt->json, d->detail,
                                 sizeof(d->detail));
    if (!d->dec) {
        d->reason = dlq_reasons[rc == 0 ? DLQ_INCOMPATIBLE : DLQ_BAD_WRITER];
        if (rc != 0)
            snprintf(d->detail, sizeof(d->detail), "%.255s", detail);
    }
    return d;
}

/* Makes sure slot i holds a value of iface. */
static int cons_slot(bus_consumer_t *c, int i, avro_value_iface_t *iface)
{
    cons_slot_t *s = &c->slots[i];

    if (s->iface == iface)
        return 0;
    if (s->iface)
        avro_value_decref(&s->value);
    s->iface = NULL;
    if (avro_generic_value_new(iface, &s->value) != 0)
        return -1;
    s->iface = iface;
    return 0;
}

/* Decodes message idx into the next record slot. Returns 0 when it became
 * a record, or a reason (static string) with detail filled; *hold is set
 * when the message must be polled again instead. */
static const char *cons_decode(bus_consumer_t *c, cons_topic_t *ct, int idx, int *hold,
                               char *detail, size_t dsize)
{
    const rd_kafka_message_t *m = c->msgs[idx];
    bus_record_t *r = &c->recs[c->nrecs];
    const char *reason = NULL;
    cons_decoder_t *d;
    const void *body;
    size_t body_len;
    int32_t id;
    int rc;
    bus_wire_err_t werr = bus_wire_unframe(m->payload, m->len, &id, &body, &body_len);

    if (werr != BUS_WIRE_OK) {
        snprintf(detail, dsize, "%zu bytes: not in the wire format", m->len);
        return bus_wire_strerror(werr);
    }
    d = cons_decoder(c, ct, id, &reason, detail, dsize);
    if (!d) {
        *hold = reason == NULL;
        return reason ? reason : "registry-unavailable";
    }
    if (!d->dec) {
        snprintf(detail, dsize, "schema id %d: %s", (int)id, d->detail);
        return d->reason;
    }
    memset(&r->value, 0, sizeof(r->value));
    r->native = !bus_decoder_resolves(d->dec);
    if (!(c->lazy && r->native)) {
        if (cons_slot(c, c->nrecs, ct->bt->iface) != 0) {
            *hold = 1;
            return "out-of-memory";
        }
        rc = bus_decode(d->dec, body, body_len, &c->slots[c->nrecs].value, detail,
                        dsize);
        if (rc != 0)
            return dlq_reasons[rc == -2 ? DLQ_INCOMPATIBLE : DLQ_MALFORMED];
        r->value = c->slots[c->nrecs].value;
    }
    r->topic = ct->bt->name;
    r->partition = m->partition;
    r->offset = m->offset;
    r->timestamp_ms = rd_kafka_message_timestamp(m, NULL);
    r->key = m->key;
    r->key_len = m->key_len;
    r->schema_id = id;
    r->raw = m->payload;
    r->raw_len = m->len;
    c->rec_msg[c->nrecs++] = idx;
    obs_counter_inc(ct->consumed);
    return NULL;
}

/* Turns message idx into a record, a dead letter or a held-back message. */
static void cons_process(bus_consumer_t *c, int idx)
{
    cons_topic_t *ct = cons_topic_of(c, c->msgs[idx]);
    char detail[512] = "";
    const char *reason;
    int hold = 0;

    if (!ct) {
        c->commit[idx] = 0; /* not ours (cannot happen with subscribe) */
        return;
    }
    reason = cons_decode(c, ct, idx, &hold, detail, sizeof(detail));
    if (reason && hold)
        cons_hold_back(c, idx);
    else if (reason)
        cons_reject_msg(c, idx, ct->bt->name, reason, reason, detail);
}

/* ---- poll and ack ---- */

static void cons_carry_over(bus_consumer_t *c);

/* Keeps m in the batch, or destroys it if it is an event, not a record.
 * Returns -1 on a fatal consumer error. */
static int cons_take(bus_consumer_t *c, rd_kafka_message_t *m, char *errstr,
                     size_t errstr_size)
{
    char why[256];

    if (!m->err) {
        c->commit[c->nmsgs] = 1;
        c->msgs[c->nmsgs++] = m;
        return 0;
    }
    rd_kafka_message_destroy(m);
    if (rd_kafka_fatal_error(c->rk, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "consumer: fatal: %s", why);
        return -1;
    }
    return 0; /* transient (partition EOF, topic not yet there, ...) */
}

/* Collects up to max messages, waiting up to timeout_ms for the first. */
static int cons_collect(bus_consumer_t *c, int max, int timeout_ms, char *errstr,
                        size_t errstr_size)
{
    int64_t deadline = bus_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    rd_kafka_message_t *m;
    int64_t left;

    do {
        left = deadline - bus_now_ms();
        m = rd_kafka_consumer_poll(c->rk, left > 0 ? (int)left : 0);
        if (m && cons_take(c, m, errstr, errstr_size) != 0)
            return -1;
    } while (c->nmsgs == 0 && left > 0);
    /* the rest of what is already fetched, taken from the consumer queue
     * in bulk: one lock per call instead of one per message */
    while (c->nmsgs > 0 && c->nmsgs < max) {
        rd_kafka_message_t **more = c->msgs + c->nmsgs;
        int room = max - c->nmsgs, base = c->nmsgs;
        ssize_t got =
            c->q ? rd_kafka_consume_batch_queue(c->q, 0, more, (size_t)room) : -1;

        if (got <= 0)
            break;
        for (ssize_t k = 0; k < got; k++) /* cons_take compacts into msgs */
            if (cons_take(c, more[k], errstr, errstr_size) != 0) {
                for (ssize_t j = k + 1; j < got; j++)
                    rd_kafka_message_destroy(c->msgs[base + j]);
                return -1;
            }
    }
    return 0;
}

int bus_consumer_poll(bus_consumer_t *c, bus_record_t **batch, int max, int timeout_ms,
                      char *errstr, size_t errstr_size)
{
    int i;

    cons_carry_over(c);
    cons_release_batch(c);
    *batch = c->recs;
    if (max <= 0)
        max = 1;
    if (cons_reserve(c, max) != 0) {
        snprintf(errstr, errstr_size, "consumer: out of memory for %d records", max);
        return -1;
    }
    if (cons_collect(c, max, timeout_ms, errstr, errstr_size) != 0)
        return -1;
    for (i = 0; i < c->nmsgs; i++)
        if (c->commit[i])
            cons_process(c, i);
    *batch = c->recs;
    cons_lag_update(c);
    return c->nrecs;
}

int bus_consumer_poll_lazy(bus_consumer_t *c, bus_record_t **batch, int max,
                           int timeout_ms, char *errstr, size_t errstr_size)
{
    int n;

    c->lazy = 1;
    n = bus_consumer_poll(c, batch, max, timeout_ms, errstr, errstr_size);
    c->lazy = 0;
    return n;
}

void bus_consumer_set_replay(bus_consumer_t *c, int on)
{
    c->replay = on != 0;
}

int bus_consumer_reject(bus_consumer_t *c, const bus_record_t *rec, const char *reason,
                        char *errstr, size_t errstr_size)
{
    ptrdiff_t i = rec - c->recs;
    int idx;

    if (i < 0 || i >= c->nrecs) {
        snprintf(errstr, errstr_size, "reject: record is not of the current batch");
        return -1;
    }
    if (c->replay) {
        cons_count_replay_skip(c, rec->topic, dlq_reasons[DLQ_VALIDATION]);
        return 0;
    }
    idx = c->rec_msg[i];
    /* held back behind an earlier record of its partition whose dead
     * letter failed: it is polled again and rejected then; dead-lettering
     * it now too would send it twice */
    if (!c->commit[idx])
        return 0;
    if (cons_dead_letter(c, idx, rec->topic, reason, reason, errstr, errstr_size)) {
        cons_hold_back(c, idx);
        return -1;
    }
    cons_count_dlq(c, rec->topic, dlq_reasons[DLQ_VALIDATION]);
    return 0;
}

/* Raises l's offset of each partition of the batch to one past its highest
 * offset, leaving out held-back messages (consumer_int.h). */
void cons_merge_batch(bus_consumer_t *c, rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_topic_partition_t *p = NULL;
    const rd_kafka_topic_t *prkt = NULL;
    int i;

    for (i = 0; i < c->nmsgs; i++) {
        const rd_kafka_message_t *m = c->msgs[i];
        const char *name = rd_kafka_topic_name(m->rkt);

        if (!c->commit[i])
            continue;
        if (!p || p->partition != m->partition || prkt != m->rkt)
            p = rd_kafka_topic_partition_list_find(l, name, m->partition);
        prkt = m->rkt;
        if (!p) {
            p = rd_kafka_topic_partition_list_add(l, name, m->partition);
            p->offset = 0;
        }
        if (m->offset + 1 > p->offset)
            p->offset = m->offset + 1;
    }
}

/* Before the batch is released unacked: its offsets join the pending ones
 * (memory failure: they are left out, and re-read after a restart). */
static void cons_carry_over(bus_consumer_t *c)
{
    if (c->nmsgs == 0 || !memchr(c->commit, 1, (size_t)c->nmsgs))
        return;
    if (!c->pending && !(c->pending = rd_kafka_topic_partition_list_new(8)))
        return;
    cons_merge_batch(c, c->pending);
}

/* Offsets to commit: the pending ones and the current batch's. NULL when
 * there is nothing. */
static rd_kafka_topic_partition_list_t *cons_offsets(bus_consumer_t *c)
{
    rd_kafka_topic_partition_list_t *l =
        c->pending ? rd_kafka_topic_partition_list_copy(c->pending)
                   : rd_kafka_topic_partition_list_new(8);

    cons_merge_batch(c, l);
    if (l->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(l);
        return NULL;
    }
    return l;
}

/* Drops from l the partitions no longer assigned to this consumer. */
static void cons_keep_assigned(bus_consumer_t *c, rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_topic_partition_list_t *assigned = NULL;
    int i;

    if (rd_kafka_assignment(c->rk, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return; /* keep all: the broker refuses commits from a stale member */
    for (i = l->cnt - 1; i >= 0; i--)
        if (!rd_kafka_topic_partition_list_find(assigned, l->elems[i].topic,
                                                l->elems[i].partition))
            rd_kafka_topic_partition_list_del_by_idx(l, i);
    rd_kafka_topic_partition_list_destroy(assigned);
}

static void cons_count_rewind(bus_consumer_t *c)
{
    char labels[256];

    snprintf(labels, sizeof(labels), "group=%s", c->group);
    obs_count(c->bus->metrics, "ems_bus_rewinds_total",
              "Times a consumer went back to its committed offsets because dead "
              "letters were not delivered.",
              labels, 1);
}

/* Dead letters that did not reach their topic: their records must be read
 * again, or the next commit would pass them. Every assigned partition goes
 * back to its committed offset (the records since are read again: sinks
 * are idempotent, and a dead letter may then be sent twice, never lost),
 * nothing polled so far is committed, and the rewind counts as a
 * revocation, so a service that keeps state per key rebuilds it. */
static void cons_rewind_committed(bus_consumer_t *c)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_error_t *e;
    int known = rd_kafka_assignment(c->rk, &l) == RD_KAFKA_RESP_ERR_NO_ERROR;

    c->revocations++;
    c->rewinds++;
    cons_note_revoked(c, known ? l : NULL); /* every assigned partition goes back */
    if (known && l->cnt > 0 &&
        rd_kafka_committed(c->rk, l, CONS_SEEK_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < l->cnt; i++)
            if (l->elems[i].offset < 0) /* no commit yet: auto.offset.reset */
                l->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
        if ((e = rd_kafka_seek_partitions(c->rk, l, CONS_SEEK_MS)))
            rd_kafka_error_destroy(e); /* then the next rebalance re-reads them */
    }
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    memset(c->commit, 0, (size_t)c->nmsgs);
    if (c->pending)
        rd_kafka_topic_partition_list_destroy(c->pending);
    c->pending = NULL;
    cons_count_rewind(c);
}

/* Makes the dead letters sent so far durable; on failure rewinds (above).
 * 0 or -1 with errstr. */
static int cons_flush_dlq(bus_consumer_t *c, char *errstr, size_t errstr_size)
{
    size_t n;

    if (!c->dlq ||
        bus_producer_flush(c->dlq, CONS_DLQ_FLUSH_MS, errstr, errstr_size) == 0)
        return 0;
    cons_rewind_committed(c);
    n = strlen(errstr);
    snprintf(errstr + n, errstr_size - n,
             " (dead letters not delivered: the records "
             "since the last commit will be read again)");
    return -1;
}

int cons_commit_list(bus_consumer_t *c, rd_kafka_topic_partition_list_t *l,
                     char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (cons_flush_dlq(c, errstr, errstr_size))
        return -1; /* dead letters not durable: commit nothing, re-read them */
    cons_keep_assigned(c, l);
    if (l->cnt > 0)
        err = rd_kafka_commit(c->rk, l, 0);
    if (err) {
        snprintf(errstr, errstr_size, "commit: %s (the batch will be read again)",
                 rd_kafka_err2str(err));
        return -1;
    }
    cons_lag_committed(c, l);
    cons_lag_update(c);
    return 0;
}

rd_kafka_topic_partition_list_t *cons_take_list(bus_consumer_t *c)
{
    rd_kafka_topic_partition_list_t *l = cons_offsets(c);

    if (!l)
        return NULL;
    memset(c->commit, 0, (size_t)c->nmsgs);
    if (c->pending)
        rd_kafka_topic_partition_list_destroy(c->pending);
    c->pending = NULL;
    return l;
}

int bus_consumer_unacked(const bus_consumer_t *c)
{
    return (c->pending && c->pending->cnt > 0) ||
           (c->nmsgs > 0 && memchr(c->commit, 1, (size_t)c->nmsgs) != NULL);
}

int bus_consumer_ack(bus_consumer_t *c, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l;
    int rc;

    if (cons_flush_dlq(c, errstr, errstr_size))
        return -1; /* dead letters not durable: commit nothing, re-read them */
    l = cons_offsets(c);
    if (!l)
        return 0;
    rc = cons_commit_list(c, l, errstr, errstr_size);
    rd_kafka_topic_partition_list_destroy(l);
    if (rc)
        return -1;
    memset(c->commit, 0, (size_t)c->nmsgs);
    if (c->pending)
        rd_kafka_topic_partition_list_destroy(c->pending);
    c->pending = NULL;
    return 0;
}
