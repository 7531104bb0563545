/*
 * The forecaster's inputs as it takes them off the bus: a record of
 * energy.load, energy.weather or energy.forecast decoded by the bus, then
 * read by fc_codec (fc_service.c's apply_load, apply_weather,
 * apply_forecast). Input: a selector byte (fz_fc_topics), then the record's
 * wire bytes.
 */
#include "forecaster/fc_codec.h"
#include "fz.h"
#include "fz_topics.h"

static void take(int which, avro_value_t *v)
{
    char reason[256], site[64];
    fc_load_rec r;
    fc_wxdata wx;
    int kind;
    int64_t at;

    switch (which) {
    case 0:
        fc_codec_load(v, &r, reason, sizeof reason);
        break;
    case 1:
        fc_wxdata_init(&wx);
        fc_codec_weather(v, site, sizeof site, &wx, reason, sizeof reason);
        fc_wxdata_release(&wx);
        break;
    default:
        fc_codec_forecast_head(v, site, sizeof site, &kind, &at, reason, sizeof reason);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    avro_value_t v;
    int which =
        fz_decode_selected(fz_fc_topics, FZ_COUNT(fz_fc_topics), data, size, &v);

    if (which < 0)
        return 0;
    take(which, &v);
    avro_value_decref(&v);
    return 0;
}
