/*
 * The bus's consumer side on any record: Confluent framing (magic byte,
 * schema id), the writer schema picked by id (the topic's own schema or
 * one of its older versions, resolved or projected into the reader
 * schema), and the Avro body decoded into a generic value. A telemetry
 * record then takes the ingester's generic path (ing_codec_reading), which
 * reads every record of an older writer schema. Input: a selector byte
 * (which of the topics the services read, fz_topics.h), then the record's
 * bytes as they come off Kafka.
 */
#include <string.h>

#include "fz.h"
#include "fz_topics.h"
#include "ingester/ing_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    avro_value_t v;
    ing_reading_t r;
    char reason[256];
    int which =
        fz_decode_selected(fz_bus_topics, FZ_COUNT(fz_bus_topics), data, size, &v);

    if (which < 0)
        return 0;
    if (!strcmp(fz_bus_topics[which], "energy.telemetry"))
        ing_codec_reading(&v, &r, reason, sizeof reason);
    avro_value_decref(&v);
    return 0;
}
