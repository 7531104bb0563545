/*
 * publish: spool-backed telemetry publishing (see publish.h).
 */
#include "scada-gateway/publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/field.h"
#include "log/log.h"

#define TOPIC "energy.telemetry"

static const char *const qfields[SG_NQ] = {"power_kw",  "energy_kwh",   "voltage_v",
                                           "current_a", "frequency_hz", "power_factor"};

struct sg_publisher {
    bus_t *bus;
    bus_producer_t *producer;
    const sg_conf_t *conf;
    sg_spool_t *spool;
    avro_value_t value;
    bool has_value;
    sg_reading_t *batch;
    int in_flight;        /* records produced, not yet confirmed */
    int64_t failed_seen;  /* bus_producer_failed() at the last check */
    int64_t corrupt_seen; /* sg_spool_corrupt() at the last check */
    obs_counter_t *published, *spooled, *dropped, *redelivered, *corrupt;
    obs_gauge_t *depth, *bytes, *full;
};

int sg_telemetry_fill(avro_value_t *v, const sg_reading_t *r)
{
    int rc = bus_field_set_string(v, "site_id", r->site_id) ||
             bus_field_set_string(v, "meter_id", r->meter_id) ||
             bus_field_set_long(v, "ts", r->ts_ms) ||
             bus_field_set_long(v, "seq", r->seq) ||
             bus_field_set_enum(v, "source", r->source);
    for (int q = 0; q < SG_NQ && !rc; q++)
        rc = bus_field_set_opt_double(v, qfields[q], (r->has >> q) & 1u, r->v[q]);
    rc = rc || bus_field_set_enum(v, "quality", r->quality) ||
         bus_field_set_opt_string(v, "quality_detail", r->detail[0] ? r->detail : NULL);
    return rc ? -1 : 0;
}

static void make_metrics(sg_publisher_t *p, obs_metrics_t *m)
{
    p->published = obs_counter(m, "ems_scada_readings_published_total",
                               "Readings confirmed by the broker.", NULL);
    p->spooled = obs_counter(m, "ems_scada_readings_spooled_total",
                             "Readings written to the spool.", NULL);
    p->dropped = obs_counter(
        m, "ems_scada_spool_dropped_total",
        "Readings refused because the spool was full (alert on > 0).", NULL);
    p->redelivered =
        obs_counter(m, "ems_scada_batches_redelivered_total",
                    "Batches produced again after a failed delivery.", NULL);
    p->corrupt = obs_counter(
        m, "ems_scada_spool_corrupt_total",
        "Damaged spool records skipped (checksum mismatch; alert on > 0).", NULL);
    p->depth = obs_gauge(m, "ems_scada_spool_depth",
                         "Unconfirmed readings in the spool.", NULL);
    p->bytes =
        obs_gauge(m, "ems_scada_spool_bytes", "Unconfirmed bytes in the spool.", NULL);
    p->full = obs_gauge(m, "ems_scada_spool_full",
                        "1 while the spool refuses readings.", NULL);
}

sg_publisher_t *sg_publisher_new(bus_t *bus, bus_producer_t *producer,
                                 const sg_conf_t *conf, obs_metrics_t *metrics,
                                 char *errstr, size_t errstr_size)
{
    sg_publisher_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->bus = bus;
    p->producer = producer;
    p->conf = conf;
    p->failed_seen = bus_producer_failed(producer);
    make_metrics(p, metrics);
    p->batch = calloc((size_t)conf->batch, sizeof *p->batch);
    if (!p->batch)
        goto err;
    p->spool =
        sg_spool_open(conf->spool_dir, conf->spool_max_bytes, errstr, errstr_size);
    if (!p->spool)
        goto err;
    if (bus_value_new(bus, TOPIC, &p->value, errstr, errstr_size) < 0)
        goto err;
    p->has_value = true;
    if (sg_spool_pending(p->spool) > 0)
        log_info("publish", "spool holds %lld reading(s) from before; draining",
                 (long long)sg_spool_pending(p->spool));
    return p;
err:
    sg_publisher_destroy(p, 0);
    return NULL;
}

static int spool_all(sg_publisher_t *p, const sg_reading_t *r, size_t n, char *err,
                     size_t en)
{
    size_t refused = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = sg_spool_append(p->spool, &r[i], err, en);
        if (rc < 0)
            return -1;
        refused += rc == 1;
    }
    if (refused) {
        obs_counter_add(p->dropped, (double)refused);
        log_error("publish", "spool full (%lld bytes): %zu reading(s) refused",
                  (long long)sg_spool_bytes(p->spool), refused);
    }
    /* the spool's state, not this call's: most loop iterations append
     * nothing, and a gauge reset by them was 0 most of the time while the
     * spool kept refusing readings */
    obs_gauge_set(p->full, refused || sg_spool_full(p->spool));
    obs_counter_add(p->spooled, (double)(n - refused));
    return n ? sg_spool_sync(p->spool, err, en) : 0;
}

/* Counts and logs the damaged records the last read skipped. */
static void note_corrupt(sg_publisher_t *p)
{
    int64_t corrupt = sg_spool_corrupt(p->spool);
    if (corrupt == p->corrupt_seen)
        return;
    log_error("publish", "spool: %lld damaged record(s) skipped (checksum mismatch)",
              (long long)(corrupt - p->corrupt_seen));
    obs_counter_add(p->corrupt, (double)(corrupt - p->corrupt_seen));
    p->corrupt_seen = corrupt;
}

/* Produces the next batch from the spool. */
static int produce_batch(sg_publisher_t *p, char *err, size_t en)
{
    int n = sg_spool_read(p->spool, p->batch, (int)p->conf->batch, err, en);
    note_corrupt(p);
    /* Only damaged records were read (the send cursor moved over them):
     * nothing to deliver, so they are confirmed at once; otherwise the
     * cursor stayed past them with nothing in flight to commit it. */
    if (n == 0)
        return sg_spool_commit(p->spool, err, en);
    for (int i = 0; i < n; i++) {
        if (sg_telemetry_fill(&p->value, &p->batch[i]) < 0 ||
            bus_produce(p->producer, TOPIC, p->batch[i].site_id, &p->value,
                        p->batch[i].ts_ms, err, en) < 0) {
            log_warn("publish", "cannot produce reading of '%s': %s",
                     p->batch[i].meter_id, err);
            sg_spool_rewind(p->spool); /* all of it again, next step */
            p->in_flight = 0;
            return 0;
        }
    }
    p->in_flight = n < 0 ? 0 : n;
    return n < 0 ? -1 : 0;
}

/* Confirms or re-sends the batch in flight. */
static int settle(sg_publisher_t *p, int wait_ms, char *err, size_t en)
{
    char ferr[256];
    int rc = bus_producer_flush(p->producer, wait_ms, ferr, sizeof ferr);
    int64_t failed = bus_producer_failed(p->producer);
    if (failed != p->failed_seen) {
        p->failed_seen = failed;
        log_warn("publish", "delivery failed (%s); re-sending %d reading(s)", ferr,
                 p->in_flight);
        obs_counter_inc(p->redelivered);
        sg_spool_rewind(p->spool);
        p->in_flight = 0;
        return 0;
    }
    if (rc < 0)
        return 0; /* still in flight: the broker may be away */
    if (sg_spool_commit(p->spool, err, en) < 0)
        return -1;
    obs_counter_add(p->published, p->in_flight);
    p->in_flight = 0;
    return 0;
}

int sg_publisher_step(sg_publisher_t *p, const sg_reading_t *readings, size_t n,
                      char *errstr, size_t errstr_size)
{
    int rc = spool_all(p, readings, n, errstr, errstr_size);
    if (rc == 0 && p->in_flight == 0 && sg_spool_unsent(p->spool) > 0)
        rc = produce_batch(p, errstr, errstr_size);
    if (rc == 0 && p->in_flight > 0)
        rc = settle(p, (int)p->conf->delivery_wait_ms, errstr, errstr_size);
    obs_gauge_set(p->depth, (double)sg_spool_pending(p->spool));
    obs_gauge_set(p->bytes, (double)sg_spool_bytes(p->spool));
    return rc;
}

int64_t sg_publisher_pending(const sg_publisher_t *p)
{
    return sg_spool_pending(p->spool);
}

void sg_publisher_destroy(sg_publisher_t *p, int timeout_ms)
{
    char err[256];
    if (!p)
        return;
    if (p->spool && p->has_value) {
        int64_t end = sg_now_ms() + timeout_ms;
        while (sg_spool_pending(p->spool) > 0 && sg_now_ms() < end)
            if (sg_publisher_step(p, NULL, 0, err, sizeof err) < 0)
                break;
    }
    if (p->has_value)
        avro_value_decref(&p->value);
    sg_spool_close(p->spool);
    free(p->batch);
    free(p);
}
