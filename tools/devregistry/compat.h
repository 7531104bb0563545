/*
 * Avro schema resolution check for the development registry.
 *
 * avro-c's own resolver (avro_resolved_writer_new) refuses a reader field
 * that the writer lacks even when the field has a default, which is exactly
 * the change BACKWARD compatibility allows, so the rules of the Avro
 * specification ("Schema Resolution") are applied here on the schemas' JSON.
 */
#ifndef DEVREGISTRY_COMPAT_H
#define DEVREGISTRY_COMPAT_H

#include <stddef.h>

#include <jansson.h>

/* Returns 1 when data written with `writer` can be read with `reader`, 0 when
 * not (the first reason goes to errstr). Both must be schemas that parse
 * (see reg_schema_parse). Pure: no I/O, callable from any thread. */
int reg_compat_can_read(const json_t *writer, const json_t *reader, char *errstr,
                        size_t errstr_size);

/* Parses and validates schema text (with avro-c, so the registry accepts
 * exactly what the suite's codec accepts). Returns a new reference, or NULL
 * with the reason in errstr. */
json_t *reg_schema_parse(const char *text, char *errstr, size_t errstr_size);

#endif
