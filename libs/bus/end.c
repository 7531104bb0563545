/* bus/end: the end offsets a re-reading consumer stops at. See bus.h. */
#include <stdio.h>
#include <stdlib.h>

#include "bus/consumer_int.h"

struct bus_end_offsets_s {
    const bus_t *bus; /* for the logical topic names */
    /* per partition with records: offset = its high watermark */
    rd_kafka_topic_partition_list_t *l;
};

/* Adds the partitions of topic `wire` that hold records to l, each with its
 * high watermark. 0, or -1 with errstr. */
static int end_of_topic(bus_consumer_t *c, const char *wire, int timeout_ms,
                        rd_kafka_topic_partition_list_t *l, char *errstr,
                        size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->rk, wire, NULL);
    rd_kafka_resp_err_t err =
        rkt ? rd_kafka_metadata(c->rk, 0, rkt, &md, timeout_ms) : rd_kafka_last_error();
    int i;

    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (!err && !md) /* rd_kafka_topic_new() failed without a last error */
        err = RD_KAFKA_RESP_ERR__FAIL;
    if (!err && md->topic_cnt == 1 &&
        md->topics[0].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        err = md->topics[0].err;
    for (i = 0; !err && md->topic_cnt == 1 && i < md->topics[0].partition_cnt; i++) {
        int32_t part = md->topics[0].partitions[i].id;
        int64_t lo = 0, hi = 0;

        err = rd_kafka_query_watermark_offsets(c->rk, wire, part, &lo, &hi, timeout_ms);
        if (!err && hi > lo)
            rd_kafka_topic_partition_list_add(l, wire, part)->offset = hi;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (err)
        snprintf(errstr, errstr_size, "end offsets of '%s': %s", wire,
                 rd_kafka_err2str(err));
    return err ? -1 : 0;
}

bus_end_offsets_t *bus_consumer_end_offsets(bus_consumer_t *c, int timeout_ms,
                                            char *errstr, size_t errstr_size)
{
    bus_end_offsets_t *e = calloc(1, sizeof(*e));
    size_t i;

    if (!e || !(e->l = rd_kafka_topic_partition_list_new(8))) {
        free(e);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    e->bus = c->bus;
    for (i = 0; i < c->ntopics; i++)
        if (end_of_topic(c, c->topics[i].bt->wire, timeout_ms, e->l, errstr,
                         errstr_size) < 0) {
            bus_end_offsets_destroy(e);
            return NULL;
        }
    return e;
}

int bus_consumer_reached(bus_consumer_t *c, const bus_end_offsets_t *e)
{
    rd_kafka_topic_partition_list_t *pos;
    int i, reached = 1;

    if (e->l->cnt == 0)
        return 1;
    if (!(pos = rd_kafka_topic_partition_list_copy(e->l)) ||
        rd_kafka_position(c->rk, pos) != RD_KAFKA_RESP_ERR_NO_ERROR)
        reached = 0;
    /* the copy keeps e's order; a partition not read yet has no position */
    for (i = 0; reached && i < pos->cnt; i++)
        reached =
            pos->elems[i].offset >= 0 && pos->elems[i].offset >= e->l->elems[i].offset;
    if (pos)
        rd_kafka_topic_partition_list_destroy(pos);
    return reached;
}

int bus_end_offsets_count(const bus_end_offsets_t *e)
{
    return e->l->cnt;
}

void bus_end_offsets_at(const bus_end_offsets_t *e, int i, const char **topic,
                        int32_t *partition, int64_t *offset)
{
    const rd_kafka_topic_partition_t *p = &e->l->elems[i];
    const char *logical = bus_logical_name(e->bus, p->topic);

    *topic = logical ? logical : p->topic;
    *partition = p->partition;
    *offset = p->offset;
}

void bus_end_offsets_destroy(bus_end_offsets_t *e)
{
    if (!e)
        return;
    if (e->l)
        rd_kafka_topic_partition_list_destroy(e->l);
    free(e);
}
