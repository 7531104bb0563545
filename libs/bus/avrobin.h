/*
 * bus/avrobin: Avro binary encoding and decoding of avro-c generic values,
 * straight between the value and a flat buffer.
 *
 * avro-c's avro_value_write() needs a separate avro_value_sizeof() pass, and
 * avro_value_read() mallocs (and frees) every string and bytes field twice
 * per record. These functions produce and accept exactly the same bytes
 * (the Avro 1.11 binary encoding) with one pass and no allocation once the
 * output buffer and the destination value's strings have grown to size.
 * They implement no schema resolution: the reader is the writer schema.
 *
 * No I/O, no global state; one thread per buffer and value.
 */
#ifndef EMS_BUS_AVROBIN_H
#define EMS_BUS_AVROBIN_H

#include <avro.h>
#include <stddef.h>

/* A growable byte buffer; zero-initialise, then bus_bin_buf_release(). */
typedef struct bus_bin_buf {
    char *p;
    size_t len;
    size_t cap;
} bus_bin_buf_t;

/* Frees the buffer's memory. Safe on a zeroed buffer. */
void bus_bin_buf_release(bus_bin_buf_t *b);

/* Appends the binary encoding of value to b. Returns 0, or ENOMEM / EINVAL
 * (a value type the encoding does not know); b->len is then unspecified. */
int bus_bin_write(bus_bin_buf_t *b, avro_value_t *value);

/* Decodes one datum from [*pos, end) into dest, a generic value of the
 * writer's schema that the caller has reset, and advances *pos. Returns 0,
 * or -1 when the bytes are malformed (truncated, a negative length, an
 * out-of-range union index or enum symbol, an oversized varint) or memory
 * runs out; dest is then partially filled. */
int bus_bin_read(const char **pos, const char *end, avro_value_t *dest);

#endif
