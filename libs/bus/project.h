/*
 * bus/project: schema resolution that avro-c 1.11 lacks. avro-c's resolved
 * writer refuses a reader record field that the writer does not have, even
 * with a default, which is exactly the BACKWARD case (a new reader reading
 * old records). Here a body is first decoded with the writer schema, then
 * projected into a value of the reader schema: fields matched by name,
 * numeric promotions (int -> long -> float -> double), string <-> bytes,
 * enums by symbol, unions by branch type, and missing fields taken from
 * the defaults of the reader schema's JSON text (which avro-c does not keep).
 *
 * Pure, no I/O; a handle is used by one thread at a time.
 */
#ifndef EMS_BUS_PROJECT_H
#define EMS_BUS_PROJECT_H

#include <avro.h>
#include <stddef.h>

typedef struct bus_defaults_s bus_defaults_t;

/* Indexes the field defaults of a schema's JSON text. Returns NULL with
 * errstr when the text is not JSON. */
bus_defaults_t *bus_defaults_new(const char *schema_json, char *errstr,
                                 size_t errstr_size);
/* NULL is a no-op. */
void bus_defaults_destroy(bus_defaults_t *d);

/* Sets every field of the record rec (recursively into nested records)
 * that has a default in the schema to that default. Returns 0, or -1 when
 * a default does not fit its field's type. */
int bus_defaults_apply(const bus_defaults_t *d, avro_value_t *rec);

/* Copies src (a value of the writer schema) into dst (a value of the reader
 * schema, reset by the caller). Returns 0, or -1 with errstr naming the
 * field that cannot be resolved. */
int bus_project(avro_value_t *src, avro_value_t *dst, const bus_defaults_t *d,
                char *errstr, size_t errstr_size);

#endif
