/*
 * bus/wire: the Confluent wire format, framing only (no I/O, no Avro).
 *
 *   byte 0     magic, always 0
 *   bytes 1-4  schema id, big-endian signed 32-bit
 *   bytes 5-   Avro binary body
 *
 * Pure functions, callable from any thread.
 */
#ifndef EMS_BUS_WIRE_H
#define EMS_BUS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define BUS_WIRE_MAGIC 0
#define BUS_WIRE_HEADER_LEN 5

typedef enum bus_wire_err {
    BUS_WIRE_OK = 0,
    BUS_WIRE_SHORT,     /* fewer than 5 bytes */
    BUS_WIRE_BAD_MAGIC, /* first byte is not 0 */
    BUS_WIRE_BAD_ID,    /* negative schema id */
    BUS_WIRE_NERR       /* one past the last error */
} bus_wire_err_t;

/* Writes the 5-byte header for schema id into out (which must hold
 * BUS_WIRE_HEADER_LEN bytes). */
void bus_wire_header(int32_t id, unsigned char out[BUS_WIRE_HEADER_LEN]);

/* Frames body into out: header then body. Returns the framed length, or 0
 * if out_size is too small (out is then untouched). body may be NULL when
 * body_len is 0. */
size_t bus_wire_frame(int32_t id, const void *body, size_t body_len, void *out,
                      size_t out_size);

/* Splits a framed buffer. On BUS_WIRE_OK, *id, *body and *body_len are set
 * (body points into buf); otherwise they are left untouched. */
bus_wire_err_t bus_wire_unframe(const void *buf, size_t len, int32_t *id,
                                const void **body, size_t *body_len);

/* A short stable token for an error ("short", "bad-magic", ...), suitable
 * as a metrics label and a DLQ reason. */
const char *bus_wire_strerror(bus_wire_err_t err);

#endif
