/*
 * The ingester's hand-written Telemetry decoder (ing_fastdec) on any Avro
 * body, checked against the generic path it stands in for: the bus's
 * decoder into an avro-c value, then ing_codec_reading(). Both must accept
 * the same bodies and give the same reading (ing_fastdec.h); a body either
 * accepts then goes through ing_validate_reading(), as in the service.
 * Input: a body without the wire header.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fz.h"
#include "ingester/ing_codec.h"
#include "ingester/ing_fastdec.h"
#include "ingester/ing_validate.h"

/* The same double bit for bit, but any NaN matches any NaN: 0 and -0 differ. */
static int same_double(double a, double b)
{
    return isnan(a) ? isnan(b) : a == b && signbit(a) == signbit(b);
}

static int same_reading(const ing_reading_t *a, const ing_reading_t *b)
{
    return !strcmp(a->site_id, b->site_id) && !strcmp(a->meter_id, b->meter_id) &&
           a->ts_ms == b->ts_ms && a->seq == b->seq && a->source == b->source &&
           a->quality == b->quality && a->present == b->present &&
           same_double(a->power_kw, b->power_kw) &&
           same_double(a->energy_kwh, b->energy_kwh) &&
           same_double(a->voltage_v, b->voltage_v) &&
           same_double(a->current_a, b->current_a) &&
           same_double(a->frequency_hz, b->frequency_hz) &&
           same_double(a->power_factor, b->power_factor) &&
           !strcmp(a->detail, b->detail);
}

/* The generic path; -1 where the consumer or the codec refuses the body. */
static int generic(const uint8_t *data, size_t size, ing_reading_t *r)
{
    fz_topic_t *t = fz_topic("energy.telemetry");
    avro_value_t v;
    int native, rc;
    char reason[256];
    uint8_t *framed = malloc(size + 5);

    if (!framed)
        abort();
    framed[0] = 0, framed[1] = framed[2] = framed[3] = 0, framed[4] = FZ_ID_LOCAL;
    if (size)
        memcpy(framed + 5, data, size);
    rc = fz_decode(t, framed, size + 5, &v, &native);
    free(framed);
    if (rc)
        return -1;
    rc = ing_codec_reading(&v, r, reason, sizeof reason);
    avro_value_decref(&v);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ing_validate_conf_t conf = {ING_MIN_TS_DEFAULT, 86400000};
    ing_reading_t fast, slow;
    char reason[256];
    int rc_fast = ing_fastdec_reading(data, size, &fast, reason, sizeof reason);
    int rc_slow = generic(data, size, &slow);

    if (rc_fast != rc_slow || (rc_fast == 0 && !same_reading(&fast, &slow)))
        abort(); /* the two decoders disagree */
    if (rc_fast == 0)
        ing_validate_reading(&fast, &conf, FZ_NOW_MS, reason, sizeof reason);
    return 0;
}
