/* fz: shared set-up of the fuzz harnesses (see fz.h). */
#include "fz.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/codec.h"
#include "bus/wire.h"

#ifndef FZ_SOURCE_ROOT
#define FZ_SOURCE_ROOT "."
#endif

#define FZ_MAX_TOPICS 16
#define FZ_MAX_WRITERS 8

struct fz_topic {
    char name[64];
    char *json; /* reader schema as the bus keeps it (compact) */
    avro_schema_t reader;
    avro_value_iface_t *iface;
    int nwriters;
    avro_schema_t writers[FZ_MAX_WRITERS];
    bus_decoder_t *decs[FZ_MAX_WRITERS];
};

static fz_topic_t *topics[FZ_MAX_TOPICS];

_Noreturn void fz_fail(const char *what, const char *why)
{
    fprintf(stderr, "fuzz setup: %s: %s\n", what, why);
    abort();
}

const char *fz_root(void)
{
    const char *root = getenv("EMS_TEST_ROOT");

    return root && *root ? root : FZ_SOURCE_ROOT;
}

/* Reads root-relative path; NULL when it does not exist. */
static char *try_slurp(const char *relpath, size_t *len)
{
    char path[4096];
    FILE *f;
    char *buf;
    long n;

    if (relpath[0] == '/')
        snprintf(path, sizeof path, "%s", relpath);
    else
        snprintf(path, sizeof path, "%s/%s", fz_root(), relpath);
    if (!(f = fopen(path, "rb")))
        return NULL;
    if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
        !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n)
        fz_fail(path, "cannot read");
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = (size_t)n;
    return buf;
}

char *fz_slurp(const char *relpath, size_t *len)
{
    char *buf = try_slurp(relpath, len);

    if (!buf)
        fz_fail(relpath, "cannot open");
    return buf;
}

char *fz_strndup(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);

    if (!s)
        abort();
    if (n)
        memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/* Parses a schema file's text the way the bus does (compact JSON first).
 * Returns the compact JSON (caller frees) and sets *schema. */
static char *parse_schema(const char *relpath, const char *text, avro_schema_t *schema)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    char *json;

    if (!root)
        fz_fail(relpath, jerr.text);
    json = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!json || avro_schema_from_json_length(json, strlen(json), schema))
        fz_fail(relpath, avro_strerror());
    return json;
}

/* Adds writer schema text (the local one first) and its decoder. */
static void add_writer(fz_topic_t *t, const char *relpath, const char *text)
{
    char err[512];
    avro_schema_t w;
    char *json = parse_schema(relpath, text, &w);

    free(json);
    if (t->nwriters == FZ_MAX_WRITERS)
        fz_fail(relpath, "too many schema versions");
    t->decs[t->nwriters] = bus_decoder_new(w, t->reader, t->json, err, sizeof err);
    if (!t->decs[t->nwriters])
        fz_fail(relpath, err);
    t->writers[t->nwriters++] = w;
}

static fz_topic_t *topic_load(const char *topic)
{
    fz_topic_t *t = calloc(1, sizeof *t);
    char rel[256], *text;

    if (!t)
        abort();
    snprintf(t->name, sizeof t->name, "%s", topic);
    snprintf(rel, sizeof rel, "schemas/%s.avsc", topic);
    text = fz_slurp(rel, NULL);
    t->json = parse_schema(rel, text, &t->reader);
    if (!(t->iface = avro_generic_class_from_schema(t->reader)))
        fz_fail(rel, avro_strerror());
    add_writer(t, rel, text);
    free(text);
    for (int v = 1; v < FZ_MAX_WRITERS; v++) {
        snprintf(rel, sizeof rel, "schemas/history/%s/v%d.avsc", topic, v);
        if (!(text = try_slurp(rel, NULL)))
            break;
        add_writer(t, rel, text);
        free(text);
    }
    return t;
}

/* Frees every topic at exit. Not only tidiness: avro-c places a value's
 * fields 4 bytes into their block, so LeakSanitizer does not see the
 * pointers a long-lived decoder's value holds and would report its strings
 * as leaked when the process ends. */
static void release_topics(void)
{
    for (int i = 0; i < FZ_MAX_TOPICS && topics[i]; i++) {
        fz_topic_t *t = topics[i];
        for (int w = 0; w < t->nwriters; w++) {
            bus_decoder_destroy(t->decs[w]);
            avro_schema_decref(t->writers[w]);
        }
        avro_value_iface_decref(t->iface);
        avro_schema_decref(t->reader);
        free(t->json);
        free(t);
        topics[i] = NULL;
    }
}

fz_topic_t *fz_topic(const char *topic)
{
    int i;

    for (i = 0; i < FZ_MAX_TOPICS && topics[i]; i++)
        if (!strcmp(topics[i]->name, topic))
            return topics[i];
    if (i == FZ_MAX_TOPICS)
        fz_fail(topic, "too many topics");
    if (i == 0)
        atexit(release_topics);
    return topics[i] = topic_load(topic);
}

int fz_topic_writers(const fz_topic_t *t)
{
    return t->nwriters;
}

int fz_decode(fz_topic_t *t, const uint8_t *data, size_t size, avro_value_t *out,
              int *native)
{
    const void *body;
    size_t body_len;
    int32_t id;
    char err[512];
    avro_value_t v;
    bus_decoder_t *d;

    if (bus_wire_unframe(data, size, &id, &body, &body_len) != BUS_WIRE_OK)
        return -1;
    if (id < FZ_ID_LOCAL || id - FZ_ID_LOCAL >= t->nwriters)
        return -1; /* unknown schema id */
    d = t->decs[id - FZ_ID_LOCAL];
    if (avro_generic_value_new(t->iface, &v))
        abort();
    if (bus_decode(d, body, body_len, &v, err, sizeof err) != 0) {
        avro_value_decref(&v);
        return -1;
    }
    *native = !bus_decoder_resolves(d);
    *out = v;
    return 0;
}

int fz_decode_selected(const char *const *topics, size_t n, const uint8_t *data,
                       size_t size, avro_value_t *out)
{
    int which, native;

    if (size < 1)
        return -1;
    which = (int)(data[0] % n);
    if (fz_decode(fz_topic(topics[which]), data + 1, size - 1, out, &native))
        return -1;
    return which;
}
