/*
 * mkseeds: writes the seed inputs of the bus-fed fuzz harnesses, records
 * of every topic they read in every schema version (local and history),
 * filled with plausible values, framed as on the wire (schema id
 * FZ_ID_LOCAL + version) behind the harness's selector byte. The
 * ing_fastdec seeds are bare Telemetry bodies. Run from the source root:
 *   make fuzz-seeds
 * A record has a few variants (null or set optional fields, one or three
 * items per array), so the seeds reach more branches of each decoder.
 */
#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bus/wire.h"
#include "fz.h"
#include "fz_topics.h"

#define VARIANTS 2
#define BUF_MAX (1 << 20)

static void fill(avro_value_t *v, const char *name, int k);

static void fill_string(avro_value_t *v, const char *name)
{
    if (strstr(name, "site"))
        avro_value_set_string(v, "nl-neerijnen");
    else if (strstr(name, "meter"))
        avro_value_set_string(v, "nl-neerijnen-main");
    else if (strstr(name, "equipment"))
        avro_value_set_string(v, "nl-neerijnen-battery");
    else if (strstr(name, "market"))
        avro_value_set_string(v, "nl-epex-day-ahead");
    else
        avro_value_set_string(v, "seed-1");
}

static void fill_record(avro_value_t *v, int k)
{
    size_t n = 0;
    avro_value_get_size(v, &n);
    for (size_t i = 0; i < n; i++) {
        avro_value_t f;
        const char *fname = NULL;
        avro_value_get_by_index(v, i, &f, &fname);
        fill(&f, fname ? fname : "", k);
    }
}

static void fill(avro_value_t *v, const char *name, int k)
{
    avro_schema_t s = avro_value_get_schema(v);
    avro_value_t child;
    size_t n;

    switch (avro_value_get_type(v)) {
    case AVRO_NULL:
        avro_value_set_null(v);
        break;
    case AVRO_BOOLEAN:
        avro_value_set_boolean(v, k & 1);
        break;
    case AVRO_INT32:
        avro_value_set_int(v, 1 + k);
        break;
    case AVRO_INT64:
        /* times are ms since the epoch: 2026-01-01 plus k quarter-hours */
        avro_value_set_long(v, 1767225600000LL + k * 900000LL);
        break;
    case AVRO_FLOAT:
        avro_value_set_float(v, 1.5f * (float)(k + 1));
        break;
    case AVRO_DOUBLE:
        avro_value_set_double(v, 12.5 * (k + 1));
        break;
    case AVRO_STRING:
        fill_string(v, name);
        break;
    case AVRO_BYTES:
        avro_value_set_bytes(v, "\1\2\3", 3);
        break;
    case AVRO_FIXED:
        n = (size_t)avro_schema_fixed_size(s);
        {
            char *z = calloc(1, n ? n : 1);
            avro_value_set_fixed(v, z, n);
            free(z);
        }
        break;
    case AVRO_ENUM:
        avro_value_set_enum(v, k % avro_schema_enum_number_of_symbols(s));
        break;
    case AVRO_RECORD:
        fill_record(v, k);
        break;
    case AVRO_UNION:
        /* variant 0: the first branch (null), 1: the last (a value) */
        avro_value_set_branch(v, k ? (int)avro_schema_union_size(s) - 1 : 0, &child);
        fill(&child, name, k);
        break;
    case AVRO_ARRAY:
        for (int i = 0; i < 1 + 2 * k; i++) {
            avro_value_append(v, &child, NULL);
            fill(&child, name, k + i);
        }
        break;
    case AVRO_MAP:
        avro_value_add(v, "key", &child, NULL, NULL);
        fill(&child, name, k);
        break;
    default:
        break;
    }
}

/* Encodes one record of schema file relpath, variant k, into buf. */
static size_t encode(const char *relpath, int k, char *buf, size_t size)
{
    char *json = fz_slurp(relpath, NULL);
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t v;
    avro_writer_t w;
    size_t len;

    if (avro_schema_from_json_length(json, strlen(json), &schema))
        fz_fail(relpath, avro_strerror());
    free(json);
    iface = avro_generic_class_from_schema(schema);
    avro_generic_value_new(iface, &v);
    fill(&v, "", k);
    w = avro_writer_memory(buf, (int64_t)size);
    if (avro_value_write(w, &v))
        fz_fail(relpath, avro_strerror());
    len = (size_t)avro_writer_tell(w);
    avro_writer_free(w);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    return len;
}

static void put(const char *target, const char *name, const void *p, size_t n)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof path, "tests/fuzz/corpus/%s", target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "tests/fuzz/corpus/%s/%s", target, name);
    if (!(f = fopen(path, "wb")) || fwrite(p, 1, n, f) != n || fclose(f))
        fz_fail(path, "cannot write");
}

/* Seeds of a harness whose first byte picks one of topics (sel: 1), or that
 * reads one topic without a selector (sel: 0). */
static void seeds(const char *target, const char *const *topics, size_t ntopics,
                  int sel)
{
    static char body[BUF_MAX], out[BUF_MAX + 6];

    for (size_t i = 0; i < ntopics; i++)
        for (int ver = 0; ver < 8; ver++) {
            char rel[256], name[512], ver_name[16];
            struct stat st;
            if (ver == 0)
                snprintf(rel, sizeof rel, "schemas/%s.avsc", topics[i]);
            else
                snprintf(rel, sizeof rel, "schemas/history/%s/v%d.avsc", topics[i],
                         ver);
            snprintf(name, sizeof name, "%s/%s", fz_root(), rel);
            if (stat(name, &st))
                break;
            for (int k = 0; k < VARIANTS; k++) {
                size_t len = encode(rel, k, body, sizeof body);
                out[0] = (char)i;
                size_t n = bus_wire_frame(FZ_ID_LOCAL + ver, body, len, out + sel,
                                          sizeof out - 1);
                snprintf(ver_name, sizeof ver_name, "v%d", ver);
                snprintf(name, sizeof name, "%s-%s-%d", topics[i],
                         ver ? ver_name : "local", k);
                put(target, name, out, n + (size_t)sel);
            }
        }
}

int main(void)
{
    static char body[BUF_MAX];

    seeds("bus_wire", fz_bus_topics, FZ_COUNT(fz_bus_topics), 1);
    seeds("opt_records", fz_opt_topics, FZ_COUNT(fz_opt_topics), 1);
    seeds("fc_records", fz_fc_topics, FZ_COUNT(fz_fc_topics), 1);
    seeds("ing_results", fz_results_topics, FZ_COUNT(fz_results_topics), 1);
    seeds("scada_commands", (const char *const[]){"energy.control.commands"}, 1, 0);
    for (int k = 0; k < VARIANTS; k++) {
        char name[64];
        size_t len = encode("schemas/energy.telemetry.avsc", k, body, sizeof body);
        snprintf(name, sizeof name, "telemetry-%d", k);
        put("ing_fastdec", name, body, len);
    }
    return 0;
}
