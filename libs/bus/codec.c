/* bus/codec: Avro encode/decode around the wire format. See codec.h. */
#include "bus/codec.h"

#include <errno.h>
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
    e->out.p = malloc(CODEC_MIN_CAP);
    if (!e->out.p)
        return -1;
    e->out.cap = CODEC_MIN_CAP;
    return 0;
}

void bus_encoder_release(bus_encoder_t *e)
{
    bus_bin_buf_release(&e->out);
}

int bus_encode(bus_encoder_t *e, int32_t id, avro_value_t *value, const void **out,
               size_t *out_len, char *errstr, size_t errstr_size)
{
    int rc;

    if (e->out.cap < BUS_WIRE_HEADER_LEN) {
        snprintf(errstr, errstr_size, "encoder not initialised");
        return -1;
    }
    e->out.len = BUS_WIRE_HEADER_LEN;
    if ((rc = bus_bin_write(&e->out, value)) != 0) {
        snprintf(errstr, errstr_size, "cannot encode value: %s",
                 rc == ENOMEM ? "out of memory"
                              : "a field is unset or has no Avro type");
        return -1;
    }
    bus_wire_header(id, (unsigned char *)e->out.p);
    *out = e->out.p;
    *out_len = e->out.len;
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

/* Avro resolves a record only into a record of the same name. The
 * projection matches fields by name alone, so a record of another topic
 * (its schema id framed on this topic) whose fields happen to fit would
 * pass for one of this topic's, the missing fields defaulted. */
static int decoder_names_differ(avro_schema_t writer, avro_schema_t reader,
                                char *errstr, size_t errstr_size)
{
    if (!is_avro_record(writer) || !is_avro_record(reader) ||
        strcmp(avro_schema_name(writer), avro_schema_name(reader)) == 0)
        return 0;
    snprintf(errstr, errstr_size, "writer record '%s' is not the reader's '%s'",
             avro_schema_name(writer), avro_schema_name(reader));
    return 1;
}

bus_decoder_t *bus_decoder_new(avro_schema_t writer, avro_schema_t reader,
                               const char *reader_json, char *errstr,
                               size_t errstr_size)
{
    bus_decoder_t *d;

    if (decoder_names_differ(writer, reader, errstr, errstr_size))
        return NULL;
    d = calloc(1, sizeof(*d));
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
    const char *pos = body, *end = (const char *)body + len;
    char extra;
    int rc;

    avro_value_reset(dest);
    if (d->defaults) {
        avro_value_reset(&d->resolved);
        rc = bus_bin_read(&pos, end, &d->resolved);
    } else if (d->resolver) {
        avro_reader_memory_set_source(d->reader, body, (int64_t)len);
        avro_resolved_writer_set_dest(&d->resolved, dest);
        rc = avro_value_read(d->reader, &d->resolved);
        avro_resolved_writer_clear_dest(&d->resolved);
        /* avro_reader_is_eof() only knows files: probe for one more byte */
        pos = rc == 0 && avro_read(d->reader, &extra, 1) == 0 ? body : end;
    } else {
        rc = bus_bin_read(&pos, end, dest);
    }
    if (rc != 0) {
        snprintf(errstr, errstr_size, "malformed Avro body (%zu bytes)%s%s", len,
                 d->resolver && !d->defaults ? ": " : "",
                 d->resolver && !d->defaults ? avro_strerror() : "");
        return -1;
    }
    if (pos != end) {
        snprintf(errstr, errstr_size, "trailing bytes after Avro body (%zu bytes)",
                 len);
        return -1;
    }
    if (d->defaults &&
        bus_project(&d->resolved, dest, d->defaults, errstr, errstr_size))
        return -2;
    return 0;
}
