/*
 * svc audit publisher: encodes an audit_event_t as schemas/audit.events.avsc
 * and hands it to the service's producer, keyed by service.
 */
#include <stdio.h>

#include "svc/svc_int.h"

#define AUDIT_TOPIC "audit.events"

static int set_str(avro_value_t *rec, const char *name, const char *v)
{
    avro_value_t f;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
        return -1;
    return avro_value_set_string(&f, v ? v : "");
}

/* ["null","string"] unions: branch 0 is null, 1 the string. */
static int set_opt(avro_value_t *rec, const char *name, const char *v)
{
    avro_value_t f, b;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0 ||
        avro_value_set_branch(&f, v ? 1 : 0, &b) != 0)
        return -1;
    return v ? avro_value_set_string(&b, v) : avro_value_set_null(&b);
}

static int set_long(avro_value_t *rec, const char *name, int64_t v)
{
    avro_value_t f;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
        return -1;
    return avro_value_set_long(&f, v);
}

static int fill(avro_value_t *rec, const audit_event_t *ev)
{
    avro_value_t f;
    int rc = set_str(rec, "service", ev->service) |
             set_str(rec, "instance", ev->instance) | set_long(rec, "seq", ev->seq) |
             set_long(rec, "ts", ev->ts_ms) | set_str(rec, "actor", ev->actor) |
             set_str(rec, "action", ev->action) | set_str(rec, "object", ev->object) |
             set_opt(rec, "site_id", ev->site_id) | set_opt(rec, "reason", ev->reason) |
             set_opt(rec, "before", ev->before) | set_opt(rec, "after", ev->after) |
             set_opt(rec, "correlation_id", ev->correlation_id) |
             set_str(rec, "prev_hash", ev->prev_hash) | set_str(rec, "hash", ev->hash);
    /* The schema's enum symbols are in audit_outcome_t order. */
    if (avro_value_get_by_name(rec, "outcome", &f, NULL) != 0 ||
        avro_value_set_enum(&f, (int)ev->outcome) != 0)
        rc = -1;
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
