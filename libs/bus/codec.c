/* bus/codec: Avro encode/decode around the wire format. See codec.h. */
#include "bus/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/project.h"
#include "bus/wire.h"

#define CODEC_MIN_CAP 256

/* Three modes: direct (same schema), resolver (avro-c's resolved writer),
 * projection (decode as writer, then bus_project() with defaults). */
struct bus_decoder_s {
    avro_reader_t reader;
    avro_value_iface_t *resolver; /* resolver or writer class, or NULL */
    avro_value_t resolved;        /* instance of resolver */
    bus_defaults_t *defaults;     /* set in projection mode */
};

int bus_encoder_init(bus_encoder_t *e)
{
    memset(e, 0, sizeof(*e));
    e->buf = calloc(1, CODEC_MIN_CAP);
    e->writer = avro_writer_memory(e->buf, CODEC_MIN_CAP);
    if (!e->buf || !e->writer) {
        bus_encoder_release(e);
        return -1;
    }
    e->cap = CODEC_MIN_CAP;
    return 0;
}

void bus_encoder_release(bus_encoder_t *e)
{
    if (e->writer)
        avro_writer_free(e->writer);
    free(e->buf);
    memset(e, 0, sizeof(*e));
}

/* Grows the buffer to hold need bytes. Returns 0 or -1. */
static int encoder_reserve(bus_encoder_t *e, size_t need)
{
    size_t cap = e->cap;
    char *p;

    if (need <= cap)
        return 0;
    while (cap < need)
        cap *= 2;
    p = realloc(e->buf, cap);
    if (!p)
        return -1;
    e->buf = p;
    e->cap = cap;
    return 0;
}

int bus_encode(bus_encoder_t *e, int32_t id, avro_value_t *value, const void **out,
               size_t *out_len, char *errstr, size_t errstr_size)
{
    size_t size;

    if (avro_value_sizeof(value, &size) != 0) {
        snprintf(errstr, errstr_size, "cannot size value: %s", avro_strerror());
        return -1;
    }
    if (encoder_reserve(e, BUS_WIRE_HEADER_LEN + size) != 0) {
        snprintf(errstr, errstr_size, "cannot allocate %zu bytes", size);
        return -1;
    }
    avro_writer_memory_set_dest(e->writer, e->buf + BUS_WIRE_HEADER_LEN,
                                (int64_t)size);
    if (avro_value_write(e->writer, value) != 0) {
        snprintf(errstr, errstr_size, "cannot encode value: %s", avro_strerror());
        return -1;
    }
    bus_wire_header(id, (unsigned char *)e->buf);
    *out = e->buf;
    *out_len = BUS_WIRE_HEADER_LEN + size;
    return 0;
}

/* Sets up projection mode after avro-c's resolver refused the pair. */
static int decoder_project(bus_decoder_t *d, avro_schema_t writer,
                           const char *reader_json, char *errstr, size_t errstr_size)
{
    char why[256];

    snprintf(why, sizeof(why), "%s", avro_strerror());
    if (!reader_json) {
        snprintf(errstr, errstr_size, "writer schema cannot be resolved: %s", why);
        return -1;
    }
    d->defaults = bus_defaults_new(reader_json, errstr, errstr_size);
    d->resolver = d->defaults ? avro_generic_class_from_schema(writer) : NULL;
    if (!d->resolver || avro_generic_value_new(d->resolver, &d->resolved) != 0) {
        snprintf(errstr, errstr_size, "cannot set up resolution: %s", avro_strerror());
        if (d->resolver)
            avro_value_iface_decref(d->resolver);
        d->resolver = NULL;
        return -1;
    }
    return 0;
}

bus_decoder_t *bus_decoder_new(avro_schema_t writer, avro_schema_t reader,
                               const char *reader_json, char *errstr,
                               size_t errstr_size)
{
    bus_decoder_t *d = calloc(1, sizeof(*d));

    if (!d || !(d->reader = avro_reader_memory("", 0))) {
        snprintf(errstr, errstr_size, "cannot allocate decoder");
        goto err;
    }
    if (writer == reader || avro_schema_equal(writer, reader))
        return d;
    d->resolver = avro_resolved_writer_new(writer, reader);
    if (!d->resolver) {
        if (decoder_project(d, writer, reader_json, errstr, errstr_size) != 0)
            goto err;
        return d;
    }
    if (avro_resolved_writer_new_value(d->resolver, &d->resolved) != 0) {
        snprintf(errstr, errstr_size, "cannot allocate resolver: %s", avro_strerror());
        avro_value_iface_decref(d->resolver);
        d->resolver = NULL;
        goto err;
    }
    return d;
err:
    bus_decoder_destroy(d);
    return NULL;
}

void bus_decoder_destroy(bus_decoder_t *d)
{
    if (!d)
        return;
    if (d->resolver) {
        avro_value_decref(&d->resolved);
        avro_value_iface_decref(d->resolver);
    }
    if (d->reader)
        avro_reader_free(d->reader);
    bus_defaults_destroy(d->defaults);
    free(d);
}

int bus_decoder_resolves(const bus_decoder_t *d)
{
    return d->resolver != NULL;
}

int bus_decode(bus_decoder_t *d, const void *body, size_t len, avro_value_t *dest,
               char *errstr, size_t errstr_size)
{
    char extra;
    int rc;

    avro_reader_memory_set_source(d->reader, body, (int64_t)len);
    avro_value_reset(dest);
    if (d->defaults) {
        avro_value_reset(&d->resolved);
        rc = avro_value_read(d->reader, &d->resolved);
    } else if (d->resolver) {
        avro_resolved_writer_set_dest(&d->resolved, dest);
        rc = avro_value_read(d->reader, &d->resolved);
        avro_resolved_writer_clear_dest(&d->resolved);
    } else {
        rc = avro_value_read(d->reader, dest);
    }
    if (rc != 0) {
        snprintf(errstr, errstr_size, "malformed Avro body (%zu bytes): %s", len,
                 avro_strerror());
        return -1;
    }
    /* avro_reader_is_eof() only knows files: probe for one more byte. */
    if (avro_read(d->reader, &extra, 1) == 0) {
        snprintf(errstr, errstr_size, "trailing bytes after Avro body (%zu bytes)", len);
        return -1;
    }
    if (d->defaults && bus_project(&d->resolved, dest, d->defaults, errstr, errstr_size))
        return -2;
    return 0;
}
