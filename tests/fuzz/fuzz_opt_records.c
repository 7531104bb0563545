/*
 * The schedule-optimizer's inputs as it takes them off the bus: a record of
 * energy.forecast, energy.prices, energy.load or energy.schedule.requests
 * decoded by the bus, then read into the optimizer's structs by opt_codec
 * and checked (opt_*_check), as opt_service_take.c does before a record can
 * change a plan. Input: a selector byte (fz_opt_topics), then the record's
 * wire bytes.
 */
#include "fz.h"
#include "fz_topics.h"
#include "schedule-optimizer/opt_codec.h"
#include "schedule-optimizer/opt_inputs.h"
#include "schedule-optimizer/opt_peak.h"

static void take(int which, avro_value_t *v)
{
    char reason[256];
    opt_forecast_t f = {0};
    opt_prices_t p = {0};
    opt_load_t l;
    opt_request_t q;

    switch (which) {
    case 0:
        if (!opt_codec_forecast(v, &f, reason, sizeof reason) &&
            !opt_forecast_check(&f, reason, sizeof reason))
            opt_input_ahead_check(f.issued_ms, f.start_ms, FZ_NOW_MS, reason,
                                  sizeof reason);
        opt_forecast_release(&f);
        break;
    case 1:
        if (!opt_codec_prices(v, &p, reason, sizeof reason) &&
            !opt_prices_check(&p, reason, sizeof reason))
            opt_input_ahead_check(p.issued_ms, p.start_ms, FZ_NOW_MS, reason,
                                  sizeof reason);
        opt_prices_release(&p);
        break;
    case 2:
        if (!opt_codec_load(v, &l, reason, sizeof reason))
            opt_load_check(&l, FZ_NOW_MS, reason, sizeof reason);
        break;
    default:
        if (!opt_codec_request(v, &q, reason, sizeof reason))
            opt_request_check(&q, FZ_NOW_MS, reason, sizeof reason);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    avro_value_t v;
    int which =
        fz_decode_selected(fz_opt_topics, FZ_COUNT(fz_opt_topics), data, size, &v);

    if (which < 0)
        return 0;
    take(which, &v);
    avro_value_decref(&v);
    return 0;
}
