/*
 * bus/codec: Avro binary encoding of generic values into the Confluent wire
 * format, and decoding of wire bodies into a reader schema, resolving the
 * writer schema when it differs. No I/O.
 *
 * An encoder or decoder is used by one thread at a time.
 */
#ifndef EMS_BUS_CODEC_H
#define EMS_BUS_CODEC_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/avrobin.h"

/* Reused across records: after the first few, encoding allocates nothing. */
typedef struct bus_encoder {
    bus_bin_buf_t out;
} bus_encoder_t;

/* Initialises an encoder (allocates its buffer). Returns 0 or -1. */
int bus_encoder_init(bus_encoder_t *e);
/* Frees the encoder's contents. Safe on a zeroed or released encoder. */
void bus_encoder_release(bus_encoder_t *e);

/* Encodes value as a framed record with schema id. On 0, *out and *out_len
 * point into the encoder's buffer, valid until its next use. On -1, errstr
 * says why (allocation, a value the writer rejects). The caller checks that
 * the value's schema is the one registered under id. */
int bus_encode(bus_encoder_t *e, int32_t id, avro_value_t *value, const void **out,
               size_t *out_len, char *errstr, size_t errstr_size);

typedef struct bus_decoder_s bus_decoder_t;

/* Makes a decoder that reads bodies written with writer into values of
 * reader (both borrowed, must outlive the decoder). reader_json is the
 * reader schema's text (for field defaults, which avro-c does not keep; may
 * be NULL, then a reader field missing in the writer is an error). Returns
 * NULL with errstr when the reader cannot read the writer's records. */
bus_decoder_t *bus_decoder_new(avro_schema_t writer, avro_schema_t reader,
                               const char *reader_json, char *errstr,
                               size_t errstr_size);
/* NULL is a no-op. */
void bus_decoder_destroy(bus_decoder_t *d);
/* True when the decoder resolves (writer and reader schemas differ). */
int bus_decoder_resolves(const bus_decoder_t *d);

/* Decodes an Avro body (no wire header) into dest, a value of the reader
 * schema, which is reset first. Returns 0, -1 with errstr when the body is
 * malformed (truncated, bad union index, trailing bytes), or -2 with errstr
 * when the record does not resolve into the reader schema (a field without
 * default, an enum symbol or union branch the reader lacks). */
int bus_decode(bus_decoder_t *d, const void *body, size_t len, avro_value_t *dest,
               char *errstr, size_t errstr_size);

#endif
