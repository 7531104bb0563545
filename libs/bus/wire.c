/* bus/wire: Confluent wire-format framing. See wire.h. */
#include "bus/wire.h"

#include <string.h>

void bus_wire_header(int32_t id, unsigned char out[BUS_WIRE_HEADER_LEN])
{
    uint32_t u = (uint32_t)id;

    out[0] = BUS_WIRE_MAGIC;
    out[1] = (unsigned char)(u >> 24);
    out[2] = (unsigned char)(u >> 16);
    out[3] = (unsigned char)(u >> 8);
    out[4] = (unsigned char)u;
}

size_t bus_wire_frame(int32_t id, const void *body, size_t body_len, void *out,
                      size_t out_size)
{
    if (out_size < BUS_WIRE_HEADER_LEN || out_size - BUS_WIRE_HEADER_LEN < body_len)
        return 0;
    bus_wire_header(id, out);
    if (body_len)
        memcpy((unsigned char *)out + BUS_WIRE_HEADER_LEN, body, body_len);
    return BUS_WIRE_HEADER_LEN + body_len;
}

bus_wire_err_t bus_wire_unframe(const void *buf, size_t len, int32_t *id,
                                const void **body, size_t *body_len)
{
    const unsigned char *p = buf;
    uint32_t u;

    if (!buf || len < BUS_WIRE_HEADER_LEN)
        return BUS_WIRE_SHORT;
    if (p[0] != BUS_WIRE_MAGIC)
        return BUS_WIRE_BAD_MAGIC;
    u = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
    if (u > INT32_MAX)
        return BUS_WIRE_BAD_ID;
    *id = (int32_t)u;
    *body = p + BUS_WIRE_HEADER_LEN;
    *body_len = len - BUS_WIRE_HEADER_LEN;
    return BUS_WIRE_OK;
}

const char *bus_wire_strerror(bus_wire_err_t err)
{
    switch (err) {
    case BUS_WIRE_OK:
        return "ok";
    case BUS_WIRE_SHORT:
        return "short";
    case BUS_WIRE_BAD_MAGIC:
        return "bad-magic";
    case BUS_WIRE_BAD_ID:
        return "bad-schema-id";
    case BUS_WIRE_NERR:
        break;
    }
    return "unknown";
}
