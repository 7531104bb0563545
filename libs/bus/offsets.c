/* bus/offsets: offsets handed to pipelined callers, and the consumer lag
 * gauges. See bus.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/consumer_int.h"

#define LAG_COMMITTED_MS 2000

struct bus_offsets_s {
    rd_kafka_topic_partition_list_t *l;
    uint64_t rewinds; /* the consumer's rewinds when they were taken */
};

/* Raises (or adds) topic/partition in l to offset. */
static void offs_raise(rd_kafka_topic_partition_list_t *l, const char *topic,
                       int32_t partition, int64_t offset)
{
    rd_kafka_topic_partition_t *p =
        rd_kafka_topic_partition_list_find(l, topic, partition);

    if (!p) {
        p = rd_kafka_topic_partition_list_add(l, topic, partition);
        p->offset = offset;
    } else if (offset > p->offset)
        p->offset = offset;
}

bus_offsets_t *bus_consumer_take_offsets(bus_consumer_t *c)
{
    bus_offsets_t *o = calloc(1, sizeof(*o));
    rd_kafka_topic_partition_list_t *l = cons_take_list(c);

    if (!o || !l) {
        if (l)
            rd_kafka_topic_partition_list_destroy(l);
        free(o);
        return NULL;
    }
    o->l = l;
    o->rewinds = c->rewinds;
    return o;
}

void bus_offsets_merge(bus_offsets_t *into, bus_offsets_t *from)
{
    int i;

    if (!into || !from || !from->l)
        return;
    /* offsets taken before a rewind are dropped for those taken after it:
     * their records are being read again */
    if (from->rewinds < into->rewinds) {
        rd_kafka_topic_partition_list_destroy(from->l);
        from->l = NULL;
        return;
    }
    if (!into->l || from->rewinds > into->rewinds) {
        if (into->l)
            rd_kafka_topic_partition_list_destroy(into->l);
        into->l = from->l;
        into->rewinds = from->rewinds;
        from->l = NULL;
        return;
    }
    for (i = 0; i < from->l->cnt; i++)
        offs_raise(into->l, from->l->elems[i].topic, from->l->elems[i].partition,
                   from->l->elems[i].offset);
    rd_kafka_topic_partition_list_destroy(from->l);
    from->l = NULL;
}

int bus_offsets_count(const bus_offsets_t *o)
{
    return o && o->l ? o->l->cnt : 0;
}

int bus_consumer_commit_offsets(bus_consumer_t *c, const bus_offsets_t *o, char *errstr,
                                size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l;
    int rc;

    /* taken before the consumer went back to its committed offsets (a
     * dead letter of theirs was not delivered): committed now, they would
     * pass a record whose dead letter only the re-read sends again */
    if (!o || !o->l || o->l->cnt == 0 || o->rewinds != c->rewinds)
        return 0;
    if (!(l = rd_kafka_topic_partition_list_copy(o->l))) {
        snprintf(errstr, errstr_size, "commit: out of memory");
        return -1;
    }
    rc = cons_commit_list(c, l, errstr, errstr_size);
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

void bus_offsets_destroy(bus_offsets_t *o)
{
    if (!o)
        return;
    if (o->l)
        rd_kafka_topic_partition_list_destroy(o->l);
    free(o);
}

/* ---- lag ---- */

void bus_consumer_export_lag(bus_consumer_t *c)
{
    c->export_lag = c->bus->metrics != NULL;
}

void cons_lag_committed(bus_consumer_t *c, const rd_kafka_topic_partition_list_t *l)
{
    int i;

    if (!c->export_lag)
        return;
    if (!c->committed && !(c->committed = rd_kafka_topic_partition_list_new(8)))
        return;
    for (i = 0; i < l->cnt; i++)
        offs_raise(c->committed, l->elems[i].topic, l->elems[i].partition,
                   l->elems[i].offset);
}

/* Learns the committed offset of the assigned partitions not seen yet (a
 * group without a commit starts at the low watermark: auto.offset.reset is
 * earliest). A failed question is asked again at the next update. */
static void lag_learn(bus_consumer_t *c, const rd_kafka_topic_partition_list_t *a)
{
    rd_kafka_topic_partition_list_t *m = rd_kafka_topic_partition_list_new(a->cnt);
    int i;

    for (i = 0; i < a->cnt; i++)
        if (!rd_kafka_topic_partition_list_find(c->committed, a->elems[i].topic,
                                                a->elems[i].partition))
            rd_kafka_topic_partition_list_add(m, a->elems[i].topic,
                                              a->elems[i].partition);
    if (m->cnt && rd_kafka_committed(c->rk, m, LAG_COMMITTED_MS) == 0)
        for (i = 0; i < m->cnt; i++) {
            rd_kafka_topic_partition_t *p = &m->elems[i];
            int64_t lo = 0, hi = 0;

            if (p->err)
                continue;
            if (p->offset < 0 &&
                rd_kafka_query_watermark_offsets(c->rk, p->topic, p->partition, &lo,
                                                 &hi, LAG_COMMITTED_MS))
                continue;
            offs_raise(c->committed, p->topic, p->partition,
                       p->offset < 0 ? lo : p->offset);
        }
    rd_kafka_topic_partition_list_destroy(m);
}

/* The lag gauge of one partition. */
static obs_gauge_t *lag_gauge(bus_consumer_t *c, const rd_kafka_topic_partition_t *p)
{
    const char *logical = bus_logical_name(c->bus, p->topic);
    char labels[BUS_TOPIC_MAX + 320];

    snprintf(labels, sizeof(labels), "group=%s,topic=%s,partition=%d", c->group,
             logical ? logical : p->topic, (int)p->partition);
    return obs_gauge(c->bus->metrics, "ems_bus_consumer_lag",
                     "Records of a partition not yet committed by the group "
                     "(high watermark minus committed offset).",
                     labels);
}

/* Sets the gauge of one partition: high watermark minus committed. */
static void lag_set(bus_consumer_t *c, const rd_kafka_topic_partition_t *p)
{
    rd_kafka_topic_partition_t *k =
        rd_kafka_topic_partition_list_find(c->committed, p->topic, p->partition);
    int64_t lo = -1, hi = -1;

    if (!k || k->offset < 0 ||
        rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi) ||
        hi < 0)
        return;
    obs_gauge_set(lag_gauge(c, p), (double)(hi > k->offset ? hi - k->offset : 0));
}

/* Revoked partitions: their gauges go to 0 and their committed offsets are
 * forgotten (learnt again if they come back). The registry cannot remove a
 * series, and a partition's last lag stayed for good once another member
 * owned it: EmsConsumerLagHigh fired for a partition nobody here reads. */
void cons_lag_revoked(bus_consumer_t *c, const rd_kafka_topic_partition_list_t *parts)
{
    int i;

    if (!c->export_lag || !parts)
        return;
    for (i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        obs_gauge_set(lag_gauge(c, p), 0);
        if (c->committed)
            rd_kafka_topic_partition_list_del(c->committed, p->topic, p->partition);
    }
}

void cons_lag_update(bus_consumer_t *c)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    int i;

    if (!c->export_lag)
        return;
    if (!c->committed && !(c->committed = rd_kafka_topic_partition_list_new(8)))
        return;
    if (rd_kafka_assignment(c->rk, &a) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    lag_learn(c, a);
    for (i = 0; i < a->cnt; i++)
        lag_set(c, &a->elems[i]);
    rd_kafka_topic_partition_list_destroy(a);
}

void cons_lag_release(bus_consumer_t *c)
{
    if (c->committed)
        rd_kafka_topic_partition_list_destroy(c->committed);
    c->committed = NULL;
}
