/*
 * bus/registry: a small client for the Confluent Schema Registry REST API
 * (the subset the bus needs), over libcurl.
 *
 * Every call is blocking with the handle's timeout, serialised by an
 * internal mutex (so any thread may call), and on error fills errstr with
 * the endpoint it talked to. It does not cache: the bus does.
 */
#ifndef EMS_BUS_REGISTRY_H
#define EMS_BUS_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

typedef struct bus_registry_s bus_registry_t;

/* url is the base URL ("http://127.0.0.1:18081"), copied. timeout_ms bounds
 * each request. Returns NULL with errstr on allocation or libcurl failure. */
bus_registry_t *bus_registry_new(const char *url, long timeout_ms, char *errstr,
                                 size_t errstr_size);
/* NULL is a no-op. */
void bus_registry_destroy(bus_registry_t *r);

/* Registers schema_json (the schema text, not yet quoted) under subject.
 * Registering the same schema again returns the same id. Returns 0 and *id,
 * or -1 with errstr (unreachable, incompatible, malformed reply). */
int bus_registry_register(bus_registry_t *r, const char *subject,
                          const char *schema_json, int32_t *id, char *errstr,
                          size_t errstr_size);

/* Fetches the schema text of id. Returns 0 with *schema_json (malloc'd, the
 * caller frees), 1 when the registry says the id does not exist (404 with
 * its error code 40403), or -1 with errstr when the registry could not be
 * asked (unreachable, bad reply, any other 404). */
int bus_registry_get(bus_registry_t *r, int32_t id, char **schema_json, char *errstr,
                     size_t errstr_size);

/* GET /subjects; 0 when the registry answers 200 within timeout_ms. */
int bus_registry_ping(bus_registry_t *r, long timeout_ms, char *errstr,
                      size_t errstr_size);

#endif
