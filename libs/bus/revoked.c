/* bus/revoked: which partitions each revocation took away from a consumer,
 * for a service that keeps state per key and rebuilds only what moved.
 * See bus.h (bus_consumer_revoked_since). */
#include <stdlib.h>
#include <string.h>

#include "bus/consumer_int.h"

/* The index in c->topics of a topic named on the wire, or -1. */
static int rev_topic_wire(const bus_consumer_t *c, const char *wire)
{
    for (size_t i = 0; i < c->ntopics; i++)
        if (strcmp(c->topics[i].bt->wire, wire) == 0)
            return (int)i;
    return -1;
}

/* The index in c->topics of a logical topic, or -1. */
static int rev_topic_name(const bus_consumer_t *c, const char *name)
{
    for (size_t i = 0; i < c->ntopics; i++)
        if (strcmp(c->topics[i].bt->name, name) == 0)
            return (int)i;
    return -1;
}

static cons_revoked_t *rev_find(const bus_consumer_t *c, int topic, int32_t partition)
{
    for (size_t i = 0; i < c->nrevoked; i++)
        if (c->revoked[i].topic == topic && c->revoked[i].partition == partition)
            return &c->revoked[i];
    return NULL;
}

/* Stamps one partition with the current count; 0, or -1 out of memory. */
static int rev_stamp(bus_consumer_t *c, int topic, int32_t partition)
{
    cons_revoked_t *r = rev_find(c, topic, partition);

    if (!r) {
        if (c->nrevoked == c->revcap) {
            size_t cap = c->revcap ? 2 * c->revcap : 16;
            cons_revoked_t *n = realloc(c->revoked, cap * sizeof(*n));
            if (!n)
                return -1;
            c->revoked = n;
            c->revcap = cap;
        }
        r = &c->revoked[c->nrevoked++];
        r->topic = topic;
        r->partition = partition;
    }
    r->at = c->revocations;
    return 0;
}

void cons_note_revoked(bus_consumer_t *c, const rd_kafka_topic_partition_list_t *parts)
{
    if (!parts) {
        c->all_revoked_at = c->revocations;
        return;
    }
    for (int i = 0; i < parts->cnt; i++) {
        int t = rev_topic_wire(c, parts->elems[i].topic);
        /* out of memory: what moved is unknown, so everything did */
        if (t >= 0 && rev_stamp(c, t, parts->elems[i].partition)) {
            c->all_revoked_at = c->revocations;
            return;
        }
    }
}

int bus_consumer_revoked_since(const bus_consumer_t *c, uint64_t since,
                               const char *topic, int32_t partition)
{
    int t = rev_topic_name(c, topic);
    const cons_revoked_t *r = t < 0 ? NULL : rev_find(c, t, partition);

    if (c->all_revoked_at > since)
        return 1;
    return r && r->at > since;
}

void cons_revoked_release(bus_consumer_t *c)
{
    free(c->revoked);
    c->revoked = NULL;
    c->nrevoked = c->revcap = 0;
}
