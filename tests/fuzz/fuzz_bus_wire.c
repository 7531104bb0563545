/*
 * The bus's consumer side on any record: Confluent framing (magic byte,
 * schema id), the writer schema picked by id (the topic's own schema or
 * one of its older versions, resolved or projected into the reader
 * schema), and the Avro body decoded into a generic value. Input: a
 * selector byte (which of the topics the services read, fz_topics.h), then
 * the record's bytes as they come off Kafka.
 */
#include "fz.h"
#include "fz_topics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_topic_t *t;
    avro_value_t v;
    int native;

    if (size < 1)
        return 0;
    t = fz_topic(fz_bus_topics[data[0] % FZ_COUNT(fz_bus_topics)]);
    if (fz_decode(t, data + 1, size - 1, &v, &native) == 0)
        avro_value_decref(&v);
    return 0;
}
