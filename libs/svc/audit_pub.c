/*
 * svc audit publisher: encodes an audit_event_t as schemas/audit.events.avsc
 * and hands it to the service's producer, keyed by service.
 */
#include <stdio.h>

#include "bus/field.h"
#include "svc/svc_int.h"

#define AUDIT_TOPIC "audit.events"

static int set_str(avro_value_t *rec, const char *name, const char *v)
{
    return bus_field_set_string(rec, name, v ? v : "");
}

static int fill(avro_value_t *rec, const audit_event_t *ev)
{
    int rc =
        set_str(rec, "service", ev->service) | set_str(rec, "instance", ev->instance) |
        bus_field_set_long(rec, "seq", ev->seq) |
        bus_field_set_long(rec, "ts", ev->ts_ms) | set_str(rec, "actor", ev->actor) |
        set_str(rec, "action", ev->action) | set_str(rec, "object", ev->object) |
        bus_field_set_opt_string(rec, "site_id", ev->site_id) |
        bus_field_set_opt_string(rec, "reason", ev->reason) |
        bus_field_set_opt_string(rec, "before", ev->before) |
        bus_field_set_opt_string(rec, "after", ev->after) |
        bus_field_set_opt_string(rec, "correlation_id", ev->correlation_id) |
        set_str(rec, "prev_hash", ev->prev_hash) | set_str(rec, "hash", ev->hash);
    /* The schema's enum symbols are in audit_outcome_t order. */
    rc |= bus_field_set_enum(rec, "outcome", (int)ev->outcome);
    return rc ? -1 : 0;
}

int svc_audit_publish(void *ctx, const audit_event_t *ev, char *err, size_t err_size)
{
    svc_t *svc = ctx;
    avro_value_t v;
    if (!svc->producer)
        return 0;
    if (bus_value_new(svc->bus, AUDIT_TOPIC, &v, err, err_size) != 0)
        return -1;
    int rc = fill(&v, ev);
    if (rc != 0)
        snprintf(err, err_size, "audit: event does not fit %s: %s", AUDIT_TOPIC,
                 avro_strerror());
    else
        rc = bus_produce(svc->producer, AUDIT_TOPIC, ev->service, &v, ev->ts_ms, err,
                         err_size);
    avro_value_decref(&v);
    return rc;
}
