/*
 * avfill: sets fields of an avro-c generic record by name, so the replayer
 * follows the schemas in schemas/ without generated code. A field whose
 * type is a union ["null", T] takes the T branch for a value and the null
 * branch for "no value" (NAN, a NULL string).
 *
 * Every function returns 0, or -1 with errstr naming the field (missing
 * field, wrong type, unknown enum symbol). Single-threaded.
 */
#ifndef EMS_TOOLS_REPLAY_AVFILL_H
#define EMS_TOOLS_REPLAY_AVFILL_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

int av_set_string(avro_value_t *rec, const char *name, const char *v, char *errstr,
                  size_t errstr_size);
int av_set_long(avro_value_t *rec, const char *name, int64_t v, char *errstr,
                size_t errstr_size);
int av_set_int(avro_value_t *rec, const char *name, int32_t v, char *errstr,
               size_t errstr_size);
/* NAN selects the null branch of a nullable field (an error otherwise). */
int av_set_double(avro_value_t *rec, const char *name, double v, char *errstr,
                  size_t errstr_size);
int av_set_enum(avro_value_t *rec, const char *name, const char *symbol, char *errstr,
                size_t errstr_size);
/* Selects the null branch of a nullable field. */
int av_set_null(avro_value_t *rec, const char *name, char *errstr, size_t errstr_size);
/* The array field name of rec, for av_append(). */
int av_field(avro_value_t *rec, const char *name, avro_value_t *out, char *errstr,
             size_t errstr_size);
/* Appends a new element to an array value; *elem is the element to fill. */
int av_append(avro_value_t *array, avro_value_t *elem, char *errstr,
              size_t errstr_size);
/* Adds key -> v to the map field name of rec. */
int av_map_put_double(avro_value_t *rec, const char *name, const char *key, double v,
                      char *errstr, size_t errstr_size);
/* Selects the null branch of every nullable field of rec not set yet, so a
 * record leaves no union without a branch. Not recursive. */
int av_null_unset(avro_value_t *rec, char *errstr, size_t errstr_size);

#endif
