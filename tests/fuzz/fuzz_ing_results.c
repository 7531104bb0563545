/*
 * The ingester's result topics (energy.forecast, energy.prices, ...) as it
 * stores them: a record decoded by the bus, then turned into the JSON
 * parameter of its row by ing_json_from_avro() and serialised. Input: a
 * selector byte (fz_results_topics), then the record's wire bytes.
 */
#include <jansson.h>
#include <stdlib.h>

#include "fz.h"
#include "fz_topics.h"
#include "ingester/ing_results.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    avro_value_t v;
    json_t *j;

    if (fz_decode_selected(fz_results_topics, FZ_COUNT(fz_results_topics), data, size,
                           &v) < 0)
        return 0;
    if ((j = ing_json_from_avro(&v))) {
        free(json_dumps(j, JSON_COMPACT));
        json_decref(j);
    }
    avro_value_decref(&v);
    return 0;
}
