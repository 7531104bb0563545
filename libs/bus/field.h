/*
 * bus/field: set or get one field of an Avro generic record by name. No I/O,
 * no allocation beyond what avro-c does for the value itself.
 *
 * Every function returns 0 on success or -1 when the record has no field of
 * that name, or the field's type does not take (or give) the requested C type;
 * avro_strerror() then holds avro-c's message. A failed setter may leave the
 * field half set (a union branch chosen, its value not), so the caller drops
 * or resets the record. Optional fields are the ["null", T] unions of the topic
 * schemas: branch 0 is null, branch 1 the value.
 *
 * The functions touch only the value passed in; a value is used by one thread
 * at a time.
 */
#ifndef EMS_BUS_FIELD_H
#define EMS_BUS_FIELD_H

#include <avro.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sets a "string" field to a copy of s (not NULL). */
int bus_field_set_string(avro_value_t *rec, const char *name, const char *s);
/* Sets a "long" field (timestamp-millis included). */
int bus_field_set_long(avro_value_t *rec, const char *name, int64_t x);
/* Sets an "int" field. */
int bus_field_set_int(avro_value_t *rec, const char *name, int32_t x);
/* Sets a "double" field. */
int bus_field_set_double(avro_value_t *rec, const char *name, double x);
/* Sets an enum field to symbol index x; the index is not range-checked. */
int bus_field_set_enum(avro_value_t *rec, const char *name, int x);
/* Sets a "boolean" field. */
int bus_field_set_bool(avro_value_t *rec, const char *name, bool x);
/* Sets a ["null","double"] field: x when has, else null (x is then unused). */
int bus_field_set_opt_double(avro_value_t *rec, const char *name, bool has, double x);
/* Sets a ["null","string"] field: a copy of s, or null when s is NULL. */
int bus_field_set_opt_string(avro_value_t *rec, const char *name, const char *s);

/* Reads a "long" field into *out (unchanged on -1). An "int" field is -1. */
int bus_field_get_long(avro_value_t *rec, const char *name, int64_t *out);
/* Reads an "int" field into *out (unchanged on -1). */
int bus_field_get_int(avro_value_t *rec, const char *name, int *out);
/* Reads a "double" field into *out (unchanged on -1). */
int bus_field_get_double(avro_value_t *rec, const char *name, double *out);
/* Reads an enum field's symbol index into *out (unchanged on -1). */
int bus_field_get_enum(avro_value_t *rec, const char *name, int *out);
/* Copies a "string" field (not a union) into dst of size bytes, NUL-terminated.
 * -1 also when the string does not fit: dst then holds its first size - 1
 * bytes (nothing when size is 0). On the other errors dst is unchanged. */
int bus_field_get_string(avro_value_t *rec, const char *name, char *dst, size_t size);
/* Reads a ["null","double"] field: *has false for null (*x unchanged), else
 * true and *x the value. -1 when the field is not a union, no branch is set or
 * the set branch is neither null nor double; *has and *x are then unchanged. */
int bus_field_get_opt_double(avro_value_t *rec, const char *name, bool *has, double *x);

#endif
