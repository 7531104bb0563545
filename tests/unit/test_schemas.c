/*
 * Unit tests for schemas/: every .avsc parses with avro-c, documents every
 * record, enum and field, uses timestamp-millis for instants, round-trips a
 * generated sample record, and every kept version v(N) can read data written
 * with v(N-1) (BACKWARD).
 *
 * avro-c 1.11's resolved writer refuses a reader field that the writer lacks,
 * even when the field has a default, so the BACKWARD check here implements
 * the Avro specification's resolution rules itself: a schema-level check
 * (compat) and a data-level resolution (resolve_value) that fills missing
 * reader fields from their JSON defaults. Its output is compared with the
 * bus's projection (bus_project, what consumers run) and, when avro-c's own
 * resolver accepts a pair, with avro-c's.
 *
 * The schema directory is $EMS_TEST_ROOT/schemas (EMS_TEST_ROOT defaults to
 * ".").
 */
#include <avro.h>
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bus/project.h"
#include "support/harness.h"

#define MAX_FILES 128
#define MAX_DEPTH 32

/* ---- problems: collect every finding, then assert once ---- */

typedef struct problems {
    char buf[8192];
    size_t len;
    int count;
} problems_t;

static void problem(problems_t *p, const char *fmt, ...)
{
    va_list ap;
    p->count++;
    if (p->len + 2 >= sizeof(p->buf))
        return;
    va_start(ap, fmt);
    int n = vsnprintf(p->buf + p->len, sizeof(p->buf) - p->len - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    p->len += (size_t)n;
    if (p->len > sizeof(p->buf) - 2)
        p->len = sizeof(p->buf) - 2;
    p->buf[p->len++] = '\n';
    p->buf[p->len] = '\0';
}

#define ck_assert_no_problems(p)                                                       \
    ck_assert_msg((p)->count == 0, "%d problem(s):\n%s", (p)->count, (p)->buf)

/* ---- files ---- */

static void schema_path(char *out, size_t n, const char *rel)
{
    const char *root = getenv("EMS_TEST_ROOT");
    snprintf(out, n, "%s/schemas%s%s", root && *root ? root : ".",
             rel && *rel ? "/" : "", rel ? rel : "");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fills names (malloc'd, sorted) with the entries of dir ending in suffix;
 * returns the count. */
static int list_dir(const char *dir, const char *suffix, char **names, int max)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    size_t sl = strlen(suffix);
    if (!d)
        return 0;
    while ((e = readdir(d)) && n < max) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] != '.' && l > sl && !strcmp(e->d_name + l - sl, suffix))
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(*names), cmp_str);
    return n;
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
}

/* A schema file loaded twice: as JSON (for docs and defaults) and by avro-c. */
typedef struct loaded {
    char path[512];
    json_t *json;
    avro_schema_t schema;
} loaded_t;

/* Returns 0, or -1 with the reason in p. */
static int load_schema(const char *path, loaded_t *out, problems_t *p)
{
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    snprintf(out->path, sizeof(out->path), "%s", path);
    out->json = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!out->json) {
        problem(p, "%s:%d: not JSON: %s", path, jerr.line, jerr.text);
        return -1;
    }
    char *text = json_dumps(out->json, JSON_COMPACT);
    int rc = avro_schema_from_json_length(text, strlen(text), &out->schema);
    free(text);
    if (rc) {
        problem(p, "%s: avro-c refuses it: %s", path, avro_strerror());
        json_decref(out->json);
        out->json = NULL;
        return -1;
    }
    return 0;
}

static void loaded_release(loaded_t *l)
{
    if (l->schema)
        avro_schema_decref(l->schema);
    json_decref(l->json);
    memset(l, 0, sizeof(*l));
}

/* Loads a schema from JSON built in the test. */
static int load_json(json_t *json, const char *label, loaded_t *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->path, sizeof(out->path), "%s", label);
    char *text = json_dumps(json, JSON_COMPACT);
    int rc = avro_schema_from_json_length(text, strlen(text), &out->schema);
    free(text);
    if (rc)
        return -1;
    out->json = json_incref(json);
    return 0;
}

/* ---- JSON conventions: docs, timestamps, optional fields ---- */

static int has_suffix(const char *s, const char *suf)
{
    size_t l = strlen(s), sl = strlen(suf);
    return l >= sl && !strcmp(s + l - sl, suf);
}

/* Naming convention for instants: ts, *_ts, *_at, *_start, *_end, *_from,
 * *_until. Every such field is a timestamp-millis and vice versa. */
static int is_instant_name(const char *name)
{
    static const char *const sufs[] = {"_ts",  "_at",   "_start",
                                       "_end", "_from", "_until"};
    if (!strcmp(name, "ts"))
        return 1;
    for (size_t i = 0; i < sizeof(sufs) / sizeof(sufs[0]); i++)
        if (has_suffix(name, sufs[i]))
            return 1;
    return 0;
}

static int is_doc(json_t *obj)
{
    json_t *d = json_object_get(obj, "doc");
    return json_is_string(d) && strlen(json_string_value(d)) >= 3;
}

/* The type of a field with ["null", T] unwrapped to T. */
static json_t *unwrap_optional(json_t *type)
{
    if (json_is_array(type) && json_array_size(type) == 2 &&
        json_is_string(json_array_get(type, 0)) &&
        !strcmp(json_string_value(json_array_get(type, 0)), "null"))
        return json_array_get(type, 1);
    return type;
}

static int is_timestamp_millis(json_t *type)
{
    const char *lt = json_string_value(json_object_get(type, "logicalType"));
    const char *t = json_string_value(json_object_get(type, "type"));
    return json_is_object(type) && lt && t && !strcmp(lt, "timestamp-millis") &&
           !strcmp(t, "long");
}

static void check_type(json_t *type, const char *where, problems_t *p, int depth);

static void check_field(json_t *f, const char *rec, const char *file, problems_t *p,
                        int depth)
{
    const char *name = json_string_value(json_object_get(f, "name"));
    json_t *type = json_object_get(f, "type");
    char where[512];
    snprintf(where, sizeof(where), "%s: %s.%s", file, rec, name ? name : "?");
    if (!name || !type) {
        problem(p, "%s: field without name or type", where);
        return;
    }
    if (!is_doc(f))
        problem(p, "%s: no doc", where);
    json_t *inner = unwrap_optional(type);
    if (inner != type) {
        json_t *def = json_object_get(f, "default");
        if (!def || !json_is_null(def))
            problem(p, "%s: optional field needs \"default\": null", where);
    } else if (json_is_array(type)) {
        problem(p, "%s: unions other than [\"null\", T] are not used", where);
    }
    if (is_instant_name(name) && !is_timestamp_millis(inner))
        problem(p, "%s: an instant must be {long, timestamp-millis}", where);
    if (!is_instant_name(name) && is_timestamp_millis(inner))
        problem(p,
                "%s: timestamp field name must be ts or end in _ts, _at, "
                "_start, _end, _from, _until",
                where);
    check_type(type, where, p, depth + 1);
}

static void check_record(json_t *t, const char *file, problems_t *p, int depth)
{
    const char *name = json_string_value(json_object_get(t, "name"));
    json_t *fields = json_object_get(t, "fields");
    if (!is_doc(t))
        problem(p, "%s: record %s has no doc", file, name ? name : "?");
    if (!json_is_array(fields) || json_array_size(fields) == 0) {
        problem(p, "%s: record %s has no fields", file, name ? name : "?");
        return;
    }
    for (size_t i = 0; i < json_array_size(fields); i++)
        check_field(json_array_get(fields, i), name ? name : "?", file, p, depth);
}

static void check_type(json_t *type, const char *where, problems_t *p, int depth)
{
    if (depth > MAX_DEPTH) {
        problem(p, "%s: nested too deep", where);
        return;
    }
    if (json_is_array(type)) {
        for (size_t i = 0; i < json_array_size(type); i++)
            check_type(json_array_get(type, i), where, p, depth + 1);
        return;
    }
    if (!json_is_object(type))
        return; /* a primitive or a reference by name */
    const char *t = json_string_value(json_object_get(type, "type"));
    const char *lt = json_string_value(json_object_get(type, "logicalType"));
    if (lt && strcmp(lt, "timestamp-millis"))
        problem(p, "%s: logicalType %s not used in this suite", where, lt);
    if (!t)
        return;
    if (!strcmp(t, "record"))
        check_record(type, where, p, depth + 1);
    else if (!strcmp(t, "enum") && !is_doc(type))
        problem(p, "%s: enum %s has no doc", where,
                json_string_value(json_object_get(type, "name")));
    else if (!strcmp(t, "array"))
        check_type(json_object_get(type, "items"), where, p, depth + 1);
    else if (!strcmp(t, "map"))
        check_type(json_object_get(type, "values"), where, p, depth + 1);
}

/* ---- named definitions: record name -> its JSON (for field defaults) ---- */

static void collect_named(json_t *type, json_t *defs, problems_t *p, const char *file,
                          int depth)
{
    if (depth > MAX_DEPTH)
        return;
    if (json_is_array(type)) {
        for (size_t i = 0; i < json_array_size(type); i++)
            collect_named(json_array_get(type, i), defs, p, file, depth + 1);
        return;
    }
    const char *t = json_string_value(json_object_get(type, "type"));
    const char *name = json_string_value(json_object_get(type, "name"));
    if (!t)
        return;
    if (name && (!strcmp(t, "record") || !strcmp(t, "enum") || !strcmp(t, "fixed"))) {
        if (json_object_get(defs, name) && p)
            problem(p, "%s: type name %s defined twice", file, name);
        json_object_set(defs, name, type);
    }
    if (!strcmp(t, "record")) {
        json_t *fields = json_object_get(type, "fields");
        for (size_t i = 0; i < json_array_size(fields); i++)
            collect_named(json_object_get(json_array_get(fields, i), "type"), defs, p,
                          file, depth + 1);
    } else if (!strcmp(t, "array")) {
        collect_named(json_object_get(type, "items"), defs, p, file, depth + 1);
    } else if (!strcmp(t, "map")) {
        collect_named(json_object_get(type, "values"), defs, p, file, depth + 1);
    }
}

/* The JSON of field `field` of record `rec`, or NULL. */
static json_t *field_json(json_t *defs, const char *rec, const char *field)
{
    json_t *fields = json_object_get(json_object_get(defs, rec), "fields");
    for (size_t i = 0; i < json_array_size(fields); i++) {
        json_t *f = json_array_get(fields, i);
        const char *n = json_string_value(json_object_get(f, "name"));
        if (n && !strcmp(n, field))
            return f;
    }
    return NULL;
}

/* ---- sample records: fill any generic value from its schema ---- */

/* rich: every optional set, two elements per array/map; sparse: nulls and
 * empty collections. Values vary with *ctr so fields differ. */
static int fill_value(avro_value_t *v, int rich, unsigned *ctr, int depth)
{
    avro_schema_t s = avro_value_get_schema(v);
    avro_value_t child;
    char text[32];
    unsigned c = ++*ctr;
    if (depth > MAX_DEPTH)
        return -1;
    switch (avro_value_get_type(v)) {
    case AVRO_STRING:
        snprintf(text, sizeof(text), "s-%u", c);
        return avro_value_set_string(v, text);
    case AVRO_BYTES:
        return avro_value_set_bytes(v, "\x00\x01\xff", 3);
    case AVRO_INT32:
        return avro_value_set_int(v, (int32_t)c * 7);
    case AVRO_INT64: /* a plausible instant: 2020-11-03 plus c quarter-hours */
        return avro_value_set_long(v, 1604361600000LL + (int64_t)c * 900000);
    case AVRO_FLOAT:
        return avro_value_set_float(v, (float)c * 0.5f);
    case AVRO_DOUBLE:
        return avro_value_set_double(v, (double)c * 1.25 - 3.0);
    case AVRO_BOOLEAN:
        return avro_value_set_boolean(v, (int)(c & 1));
    case AVRO_NULL:
        return avro_value_set_null(v);
    case AVRO_ENUM:
        return avro_value_set_enum(v, rich ? avro_schema_enum_number_of_symbols(s) - 1
                                           : 0);
    case AVRO_FIXED: {
        int64_t n = avro_schema_fixed_size(s);
        char *buf = calloc(1, (size_t)n + 1);
        int rc = avro_value_set_fixed(v, buf, (size_t)n);
        free(buf);
        return rc;
    }
    case AVRO_ARRAY:
        for (int i = 0; rich && i < 2; i++)
            if (avro_value_append(v, &child, NULL) ||
                fill_value(&child, rich, ctr, depth + 1))
                return -1;
        return 0;
    case AVRO_MAP:
        for (int i = 0; rich && i < 2; i++) {
            snprintf(text, sizeof(text), "key_%d", i);
            if (avro_value_add(v, text, &child, NULL, NULL) ||
                fill_value(&child, rich, ctr, depth + 1))
                return -1;
        }
        return 0;
    case AVRO_RECORD: {
        size_t n = 0;
        if (avro_value_get_size(v, &n))
            return -1;
        for (size_t i = 0; i < n; i++)
            if (avro_value_get_by_index(v, i, &child, NULL) ||
                fill_value(&child, rich, ctr, depth + 1))
                return -1;
        return 0;
    }
    case AVRO_UNION: {
        int branch = rich ? (int)avro_schema_union_size(s) - 1 : 0;
        if (avro_value_set_branch(v, branch, &child))
            return -1;
        return fill_value(&child, rich, ctr, depth + 1);
    }
    default:
        return -1;
    }
}

/* Encodes v; returns a malloc'd buffer and its size in *len, or NULL. */
static char *encode(avro_value_t *v, size_t *len)
{
    size_t size = 0;
    if (avro_value_sizeof(v, &size))
        return NULL;
    char *buf = malloc(size ? size : 1);
    avro_writer_t w = avro_writer_memory(buf, (int64_t)size);
    int rc = avro_value_write(w, v);
    if (rc || avro_writer_tell(w) != (int64_t)size) {
        avro_writer_free(w);
        free(buf);
        return NULL;
    }
    avro_writer_free(w);
    *len = size;
    return buf;
}

/* Decodes buf into a new generic value of schema s; 0 or -1. */
static int decode(avro_schema_t s, const char *buf, size_t len, avro_value_t *out)
{
    avro_value_iface_t *iface = avro_generic_class_from_schema(s);
    if (!iface)
        return -1;
    int rc = avro_generic_value_new(iface, out);
    avro_value_iface_decref(iface);
    if (rc)
        return -1;
    avro_reader_t r = avro_reader_memory(buf, (int64_t)len);
    rc = avro_value_read(r, out);
    avro_reader_free(r);
    if (rc)
        avro_value_decref(out);
    return rc ? -1 : 0;
}

/* Makes a filled sample of s (0 or -1); the caller decrefs *out. */
static int make_sample(avro_schema_t s, int rich, avro_value_t *out)
{
    unsigned ctr = 0;
    avro_value_iface_t *iface = avro_generic_class_from_schema(s);
    if (!iface)
        return -1;
    int rc = avro_generic_value_new(iface, out);
    avro_value_iface_decref(iface);
    if (rc)
        return -1;
    if (fill_value(out, rich, &ctr, 0)) {
        avro_value_decref(out);
        return -1;
    }
    return 0;
}

/* ---- BACKWARD resolution (Avro specification, "Schema Resolution") ---- */

typedef struct resolver {
    json_t *rdefs; /* reader's named types, for field defaults */
    char *err;
    size_t errlen;
} resolver_t;

/* Records the first reason only; returns -1. */
static int rfail(resolver_t *rs, const char *fmt, ...)
{
    va_list ap;
    if (rs->err[0])
        return -1;
    va_start(ap, fmt);
    vsnprintf(rs->err, rs->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static avro_schema_t deref(avro_schema_t s)
{
    while (s && is_avro_link(s))
        s = avro_schema_link_target(s);
    return s;
}

static int same_name(avro_schema_t w, avro_schema_t r)
{
    return !strcmp(avro_schema_name(w), avro_schema_name(r));
}

/* Primitive w readable as primitive r: equal or an allowed promotion. */
static int promotable(avro_type_t w, avro_type_t r)
{
    if (w == r)
        return 1;
    switch (r) {
    case AVRO_INT64:
        return w == AVRO_INT32;
    case AVRO_FLOAT:
        return w == AVRO_INT32 || w == AVRO_INT64;
    case AVRO_DOUBLE:
        return w == AVRO_INT32 || w == AVRO_INT64 || w == AVRO_FLOAT;
    case AVRO_STRING:
        return w == AVRO_BYTES;
    case AVRO_BYTES:
        return w == AVRO_STRING;
    default:
        return 0;
    }
}

static int compat(resolver_t *rs, avro_schema_t w, avro_schema_t r, int depth);

/* compat() without recording a reason: for picking a union branch. */
static int compat_probe(resolver_t *rs, avro_schema_t w, avro_schema_t r, int depth)
{
    char scratch[256] = "";
    resolver_t quiet = {rs->rdefs, scratch, sizeof(scratch)};
    return compat(&quiet, w, r, depth);
}

/* The first branch of union r that can read w, or -1. */
static int union_branch_for(resolver_t *rs, avro_schema_t w, avro_schema_t r, int depth)
{
    size_t n = avro_schema_union_size(r);
    for (size_t i = 0; i < n; i++)
        if (!compat_probe(rs, w, avro_schema_union_branch(r, (int)i), depth + 1))
            return (int)i;
    return -1;
}

static int compat_record(resolver_t *rs, avro_schema_t w, avro_schema_t r, int depth)
{
    size_t n = avro_schema_record_size(r);
    for (size_t i = 0; i < n; i++) {
        const char *name = avro_schema_record_field_name(r, (int)i);
        avro_schema_t rf = avro_schema_record_field_get_by_index(r, (int)i);
        int wi = avro_schema_record_field_get_index(w, name);
        if (wi >= 0) {
            if (compat(rs, avro_schema_record_field_get_by_index(w, wi), rf, depth + 1))
                return -1;
            continue;
        }
        json_t *f = field_json(rs->rdefs, avro_schema_name(r), name);
        if (!f || !json_object_get(f, "default"))
            return rfail(rs,
                         "reader field %s.%s is missing from the writer and has "
                         "no default",
                         avro_schema_name(r), name);
    }
    return 0;
}

static int compat_enum(resolver_t *rs, avro_schema_t w, avro_schema_t r)
{
    int n = avro_schema_enum_number_of_symbols(w);
    for (int i = 0; i < n; i++) {
        const char *sym = avro_schema_enum_get(w, i);
        if (avro_schema_enum_get_by_name(r, sym) < 0)
            return rfail(rs, "enum %s: writer symbol '%s' is unknown to the reader",
                         avro_schema_name(r), sym);
    }
    return 0;
}

/* 0 when every datum of writer schema w can be read with reader schema r,
 * else -1 with the first reason in rs->err. */
static int compat(resolver_t *rs, avro_schema_t w, avro_schema_t r, int depth)
{
    w = deref(w);
    r = deref(r);
    if (depth > MAX_DEPTH)
        return rfail(rs, "schemas nested too deep");
    if (is_avro_union(w)) {
        size_t n = avro_schema_union_size(w);
        for (size_t i = 0; i < n; i++)
            if (compat(rs, avro_schema_union_branch(w, (int)i), r, depth + 1))
                return -1;
        return 0;
    }
    if (is_avro_union(r))
        return union_branch_for(rs, w, r, depth) >= 0
                   ? 0
                   : rfail(rs, "no branch of the reader union reads writer type %s",
                           avro_schema_type_name(w));
    avro_type_t tw = avro_typeof(w), tr = avro_typeof(r);
    if ((is_avro_named_type(w) || is_avro_named_type(r)) &&
        (tw != tr || !same_name(w, r)))
        return rfail(rs, "writer %s %s cannot be read as %s %s",
                     avro_schema_type_name(w), avro_schema_name(w),
                     avro_schema_type_name(r), avro_schema_name(r));
    switch (tr) {
    case AVRO_RECORD:
        return compat_record(rs, w, r, depth);
    case AVRO_ENUM:
        return compat_enum(rs, w, r);
    case AVRO_FIXED:
        return avro_schema_fixed_size(w) == avro_schema_fixed_size(r)
                   ? 0
                   : rfail(rs, "fixed %s changed size", avro_schema_name(r));
    case AVRO_ARRAY:
        if (tw != AVRO_ARRAY)
            break;
        return compat(rs, avro_schema_array_items(w), avro_schema_array_items(r),
                      depth + 1);
    case AVRO_MAP:
        if (tw != AVRO_MAP)
            break;
        return compat(rs, avro_schema_map_values(w), avro_schema_map_values(r),
                      depth + 1);
    default:
        if (promotable(tw, tr))
            return 0;
    }
    return rfail(rs, "writer type %s cannot be read as %s", avro_schema_type_name(w),
                 avro_schema_type_name(r));
}

/* Whether a JSON default has the JSON type the Avro specification encodes
 * a value of type t with (a union's default is its first branch's). */
static int default_has_type(avro_type_t t, const json_t *def)
{
    switch (t) {
    case AVRO_NULL:
        return json_is_null(def);
    case AVRO_BOOLEAN:
        return json_is_boolean(def);
    case AVRO_INT32:
    case AVRO_INT64:
        return json_is_integer(def);
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        return json_is_number(def);
    case AVRO_STRING:
    case AVRO_BYTES:
    case AVRO_ENUM:
        return json_is_string(def);
    case AVRO_ARRAY:
        return json_is_array(def);
    case AVRO_MAP:
    case AVRO_RECORD:
        return json_is_object(def);
    case AVRO_UNION:
        return 1;
    default:
        return 0;
    }
}

/* Sets v from a JSON default as the Avro specification encodes it. */
static int apply_default(resolver_t *rs, avro_value_t *v, json_t *def, int depth)
{
    avro_schema_t s = avro_value_get_schema(v);
    avro_value_t child;
    if (depth > MAX_DEPTH)
        return rfail(rs, "default nested too deep");
    if (!default_has_type(avro_value_get_type(v), def))
        return -1;
    switch (avro_value_get_type(v)) {
    case AVRO_NULL:
        return avro_value_set_null(v);
    case AVRO_BOOLEAN:
        return avro_value_set_boolean(v, json_is_true(def));
    case AVRO_INT32:
        return avro_value_set_int(v, (int32_t)json_integer_value(def));
    case AVRO_INT64:
        return avro_value_set_long(v, json_integer_value(def));
    case AVRO_FLOAT:
        return avro_value_set_float(v, (float)json_number_value(def));
    case AVRO_DOUBLE:
        return avro_value_set_double(v, json_number_value(def));
    case AVRO_STRING:
        return avro_value_set_string(v, json_string_value(def));
    case AVRO_BYTES:
        return avro_value_set_bytes(v, (void *)json_string_value(def),
                                    json_string_length(def));
    case AVRO_ENUM: {
        int i = avro_schema_enum_get_by_name(s, json_string_value(def));
        return i < 0 ? -1 : avro_value_set_enum(v, i);
    }
    case AVRO_ARRAY: {
        size_t i;
        json_t *e;
        json_array_foreach(def, i, e)
        {
            if (avro_value_append(v, &child, NULL) ||
                apply_default(rs, &child, e, depth + 1))
                return -1;
        }
        return 0;
    }
    case AVRO_MAP: {
        const char *k;
        json_t *e;
        json_object_foreach(def, k, e)
        {
            if (avro_value_add(v, k, &child, NULL, NULL) ||
                apply_default(rs, &child, e, depth + 1))
                return -1;
        }
        return 0;
    }
    case AVRO_RECORD: {
        size_t n = avro_schema_record_size(s);
        for (size_t i = 0; i < n; i++) {
            const char *name = avro_schema_record_field_name(s, (int)i);
            json_t *fd = json_object_get(def, name);
            if (!fd)
                fd = json_object_get(field_json(rs->rdefs, avro_schema_name(s), name),
                                     "default");
            if (!fd || avro_value_get_by_index(v, i, &child, NULL) ||
                apply_default(rs, &child, fd, depth + 1))
                return -1;
        }
        return 0;
    }
    case AVRO_UNION: /* a union's default belongs to its first branch */
        if (avro_value_set_branch(v, 0, &child))
            return -1;
        return apply_default(rs, &child, def, depth + 1);
    default:
        return -1;
    }
}

static int resolve_value(resolver_t *rs, avro_value_t *src, avro_value_t *dst,
                         int depth);

static int resolve_record(resolver_t *rs, avro_value_t *src, avro_value_t *dst,
                          int depth)
{
    avro_schema_t ws = avro_value_get_schema(src), r = avro_value_get_schema(dst);
    size_t n = avro_schema_record_size(r);
    if (!same_name(ws, r))
        return rfail(rs, "record %s read as %s", avro_schema_name(ws),
                     avro_schema_name(r));
    for (size_t i = 0; i < n; i++) {
        const char *name = avro_schema_record_field_name(r, (int)i);
        avro_value_t sf, df;
        if (avro_value_get_by_index(dst, i, &df, NULL))
            return rfail(rs, "field %s: %s", name, avro_strerror());
        if (avro_schema_record_field_get_index(ws, name) >= 0) {
            if (avro_value_get_by_name(src, name, &sf, NULL) ||
                resolve_value(rs, &sf, &df, depth + 1))
                return rfail(rs, "field %s.%s cannot be read", avro_schema_name(r),
                             name);
            continue;
        }
        json_t *def = json_object_get(field_json(rs->rdefs, avro_schema_name(r), name),
                                      "default");
        if (!def)
            return rfail(rs,
                         "reader field %s.%s is missing from the writer and has "
                         "no default",
                         avro_schema_name(r), name);
        if (apply_default(rs, &df, def, depth + 1))
            return rfail(rs, "default of %s.%s does not fit its type",
                         avro_schema_name(r), name);
    }
    return 0;
}

static int resolve_collection(resolver_t *rs, avro_value_t *src, avro_value_t *dst,
                              int depth)
{
    size_t n = 0;
    if (avro_value_get_size(src, &n))
        return -1;
    for (size_t i = 0; i < n; i++) {
        avro_value_t se, de;
        const char *key = NULL;
        if (avro_value_get_by_index(src, i, &se, &key))
            return -1;
        int rc = avro_value_get_type(dst) == AVRO_MAP
                     ? avro_value_add(dst, key, &de, NULL, NULL)
                     : avro_value_append(dst, &de, NULL);
        if (rc || resolve_value(rs, &se, &de, depth + 1))
            return -1;
    }
    return 0;
}

static int resolve_scalar(resolver_t *rs, avro_value_t *src, avro_value_t *dst)
{
    avro_type_t tw = avro_value_get_type(src), tr = avro_value_get_type(dst);
    int32_t i32 = 0;
    int64_t i64 = 0;
    float f = 0;
    double d = 0;
    int b = 0;
    const void *buf = NULL;
    const char *str = NULL;
    size_t size = 0;
    if (!promotable(tw, tr))
        return rfail(rs, "%s value cannot be read as %s",
                     avro_schema_type_name(avro_value_get_schema(src)),
                     avro_schema_type_name(avro_value_get_schema(dst)));
    switch (tw) {
    case AVRO_NULL:
        return avro_value_set_null(dst);
    case AVRO_BOOLEAN:
        return avro_value_get_boolean(src, &b) || avro_value_set_boolean(dst, b);
    case AVRO_INT32:
        if (avro_value_get_int(src, &i32))
            return -1;
        d = i64 = i32;
        break;
    case AVRO_INT64:
        if (avro_value_get_long(src, &i64))
            return -1;
        d = (double)i64;
        break;
    case AVRO_FLOAT:
        if (avro_value_get_float(src, &f))
            return -1;
        d = f;
        break;
    case AVRO_DOUBLE:
        if (avro_value_get_double(src, &d))
            return -1;
        break;
    case AVRO_STRING:
        if (avro_value_get_string(src, &str, &size)) /* size counts the NUL */
            return -1;
        return tr == AVRO_STRING ? avro_value_set_string(dst, str)
                                 : avro_value_set_bytes(dst, (void *)str, size - 1);
    case AVRO_BYTES: {
        if (avro_value_get_bytes(src, &buf, &size))
            return -1;
        if (tr == AVRO_BYTES)
            return avro_value_set_bytes(dst, (void *)buf, size);
        char *s = strndup(buf, size);
        int rc = avro_value_set_string(dst, s);
        free(s);
        return rc;
    }
    default:
        return rfail(rs, "unexpected writer type %d", (int)tw);
    }
    switch (tr) {
    case AVRO_INT32:
        return avro_value_set_int(dst, i32);
    case AVRO_INT64:
        return avro_value_set_long(dst, i64);
    case AVRO_FLOAT:
        return avro_value_set_float(dst, tw == AVRO_FLOAT ? f : (float)d);
    default:
        return avro_value_set_double(dst, d);
    }
}

/* Reads src (a value of the writer schema) into dst (a fresh value of the
 * reader schema) by the specification's rules; 0 or -1 with rs->err. */
static int resolve_value(resolver_t *rs, avro_value_t *src, avro_value_t *dst,
                         int depth)
{
    avro_value_t branch;
    avro_schema_t ws = avro_value_get_schema(src), r = avro_value_get_schema(dst);
    if (depth > MAX_DEPTH)
        return rfail(rs, "value nested too deep");
    if (avro_value_get_type(src) == AVRO_UNION)
        return avro_value_get_current_branch(src, &branch)
                   ? rfail(rs, "union without a branch")
                   : resolve_value(rs, &branch, dst, depth + 1);
    if (avro_value_get_type(dst) == AVRO_UNION) {
        int i = union_branch_for(rs, ws, r, depth);
        if (i < 0 || avro_value_set_branch(dst, i, &branch))
            return rfail(rs, "no branch of the reader union reads writer type %s",
                         avro_schema_type_name(ws));
        return resolve_value(rs, src, &branch, depth + 1);
    }
    switch (avro_value_get_type(dst)) {
    case AVRO_RECORD:
        if (avro_value_get_type(src) != AVRO_RECORD)
            break;
        return resolve_record(rs, src, dst, depth);
    case AVRO_ENUM: {
        int wi = 0;
        if (avro_value_get_type(src) != AVRO_ENUM || avro_value_get_enum(src, &wi))
            break;
        const char *sym = avro_schema_enum_get(ws, wi);
        int ri = avro_schema_enum_get_by_name(r, sym);
        return ri < 0 ? rfail(rs, "enum symbol '%s' unknown to the reader", sym)
                      : avro_value_set_enum(dst, ri);
    }
    case AVRO_FIXED: {
        const void *buf = NULL;
        size_t size = 0;
        if (avro_value_get_type(src) != AVRO_FIXED ||
            avro_value_get_fixed(src, &buf, &size))
            break;
        return avro_value_set_fixed(dst, (void *)buf, size);
    }
    case AVRO_ARRAY:
    case AVRO_MAP:
        if (avro_value_get_type(src) != avro_value_get_type(dst))
            break;
        return resolve_collection(rs, src, dst, depth);
    default:
        return resolve_scalar(rs, src, dst);
    }
    return rfail(rs, "%s value cannot be read as %s", avro_schema_type_name(ws),
                 avro_schema_type_name(r));
}

/* Encodes sample (of w), decodes it with w as a consumer holding the writer
 * schema would, and resolves it into a new value of r in *out (the caller
 * decrefs it). 0, or -1 with err. */
static int read_as(loaded_t *w, loaded_t *r, avro_value_t *sample, avro_value_t *out,
                   char *err, size_t errlen)
{
    resolver_t rs = {json_object(), err, errlen};
    avro_value_t decoded;
    size_t len = 0;
    int rc = -1;
    char *buf = encode(sample, &len);
    err[0] = '\0';
    collect_named(r->json, rs.rdefs, NULL, NULL, 0);
    if (!buf || decode(w->schema, buf, len, &decoded)) {
        rfail(&rs, "writer round trip failed: %s", avro_strerror());
        goto cleanup;
    }
    avro_value_iface_t *iface = avro_generic_class_from_schema(r->schema);
    rc = avro_generic_value_new(iface, out);
    avro_value_iface_decref(iface);
    if (!rc && (rc = resolve_value(&rs, &decoded, out, 0)) != 0)
        avro_value_decref(out);
    avro_value_decref(&decoded);
cleanup:
    free(buf);
    json_decref(rs.rdefs);
    return rc ? -1 : 0;
}

/* When avro-c's own resolver accepts the pair, its reading of the bytes of
 * sample must equal ours. Returns 0 when it agrees or declines the pair. */
static int cross_check_avro_c(loaded_t *w, loaded_t *r, avro_value_t *sample,
                              avro_value_t *ours)
{
    avro_value_iface_t *res = avro_resolved_writer_new(w->schema, r->schema);
    avro_value_iface_t *gen = avro_generic_class_from_schema(r->schema);
    avro_value_t theirs, wrapper;
    size_t len = 0;
    int rc = -1;
    char *buf = encode(sample, &len);
    if (!res) { /* declined: e.g. a reader field with a default */
        rc = 0;
        goto cleanup;
    }
    if (!buf || avro_generic_value_new(gen, &theirs))
        goto cleanup;
    if (!avro_resolved_writer_new_value(res, &wrapper)) {
        avro_reader_t rd = avro_reader_memory(buf, (int64_t)len);
        avro_resolved_writer_set_dest(&wrapper, &theirs);
        rc = avro_value_read(rd, &wrapper) || !avro_value_equal(&theirs, ours) ? -1 : 0;
        avro_reader_free(rd);
        avro_value_decref(&wrapper);
    }
    avro_value_decref(&theirs);
cleanup:
    free(buf);
    avro_value_iface_decref(gen);
    if (res)
        avro_value_iface_decref(res);
    return rc;
}

/* The bus's own projection (bus/project.h, what consumers run) must read
 * the bytes of sample exactly as the resolver here does. 0 when it agrees. */
static int cross_check_bus(loaded_t *w, loaded_t *r, avro_value_t *sample,
                           avro_value_t *ours)
{
    char errstr[256], *text = json_dumps(r->json, JSON_COMPACT);
    bus_defaults_t *defs = bus_defaults_new(text, errstr, sizeof(errstr));
    avro_value_iface_t *gen = avro_generic_class_from_schema(r->schema);
    avro_value_t decoded, theirs;
    size_t len = 0;
    int rc = -1;
    char *buf = encode(sample, &len);
    free(text);
    if (!defs || !buf || decode(w->schema, buf, len, &decoded))
        goto cleanup;
    if (!avro_generic_value_new(gen, &theirs)) {
        if (!bus_project(&decoded, &theirs, defs, errstr, sizeof(errstr)) &&
            avro_value_equal(&theirs, ours))
            rc = 0;
        avro_value_decref(&theirs);
    }
    avro_value_decref(&decoded);
cleanup:
    free(buf);
    avro_value_iface_decref(gen);
    bus_defaults_destroy(defs);
    return rc;
}

/* Reads one sample written with w as r: the result must be a valid datum of
 * r (it round-trips) and agree with avro-c where avro-c can resolve. */
static int backward_sample(loaded_t *w, loaded_t *r, int rich, char *err, size_t errlen)
{
    avro_value_t sample, got, again;
    size_t len = 0;
    char *buf = NULL;
    const char *why = NULL;
    if (make_sample(w->schema, rich, &sample)) {
        snprintf(err, errlen, "cannot build a sample: %s", avro_strerror());
        return -1;
    }
    if (read_as(w, r, &sample, &got, err, errlen)) {
        avro_value_decref(&sample);
        return -1;
    }
    buf = encode(&got, &len);
    if (!buf || decode(r->schema, buf, len, &again)) {
        why = "the resolved datum does not encode";
    } else {
        if (!avro_value_equal(&got, &again))
            why = "the resolved datum does not round-trip";
        avro_value_decref(&again);
    }
    if (!why && cross_check_avro_c(w, r, &sample, &got))
        why = "avro-c's resolver reads it differently";
    if (!why && cross_check_bus(w, r, &sample, &got))
        why = "bus_project() reads it differently";
    if (why)
        snprintf(err, errlen, "%s (%s sample)", why, rich ? "rich" : "sparse");
    free(buf);
    avro_value_decref(&got);
    avro_value_decref(&sample);
    return why ? -1 : 0;
}

/* BACKWARD: r (new) reads everything w (old) wrote. Schema rules first, then
 * a rich and a sparse sample written with w are read with r. 0, or -1 with
 * the reason in err. */
static int backward_check(loaded_t *w, loaded_t *r, char *err, size_t errlen)
{
    resolver_t rs = {json_object(), err, errlen};
    err[0] = '\0';
    collect_named(r->json, rs.rdefs, NULL, NULL, 0);
    int rc = compat(&rs, w->schema, r->schema, 0);
    json_decref(rs.rdefs);
    for (int rich = 0; rich <= 1 && rc == 0; rich++)
        rc = backward_sample(w, r, rich, err, errlen);
    return rc;
}

/* ---- the expected topics ---- */

static const struct {
    const char *topic;
    const char *key_field; /* the field the record key is taken from */
} TOPICS[] = {
    {"energy.telemetry", "site_id"},
    {"energy.load", "site_id"},
    {"energy.gaps", "site_id"},
    {"energy.weather", "site_id"},
    {"energy.forecast", "site_id"},
    {"energy.prices", "market"},
    {"energy.purchases", "contract_id"},
    {"energy.schedule", "site_id"},
    {"energy.recommendations", "site_id"},
    {"energy.control.commands", "site_id"},
    {"energy.alerts", "site_id"},
    {"energy.reports", "site_id"},
    {"audit.events", "service"},
};
#define NTOPICS (sizeof(TOPICS) / sizeof(TOPICS[0]))

/* Every schema file: the current ones and every kept version, as paths
 * relative to schemas/. Returns the count. */
static int all_schema_files(char **rel, int max)
{
    char dir[512], *cur[MAX_FILES], *ver[MAX_FILES];
    int n = 0;
    schema_path(dir, sizeof(dir), NULL);
    int nc = list_dir(dir, ".avsc", cur, MAX_FILES);
    for (int i = 0; i < nc && n < max; i++) {
        rel[n++] = strdup(cur[i]);
        char hdir[1024];
        snprintf(hdir, sizeof(hdir), "%s/history/%.*s", dir, (int)(strlen(cur[i]) - 5),
                 cur[i]);
        int nv = list_dir(hdir, ".avsc", ver, MAX_FILES);
        for (int j = 0; j < nv && n < max; j++) {
            char r[1024];
            snprintf(r, sizeof(r), "history/%.*s/%s", (int)(strlen(cur[i]) - 5), cur[i],
                     ver[j]);
            rel[n++] = strdup(r);
        }
        free_names(ver, nv);
    }
    free_names(cur, nc);
    return n;
}

START_TEST(test_every_topic_has_a_schema_with_its_key)
{
    problems_t p = {0};
    for (size_t i = 0; i < NTOPICS; i++) {
        char rel[256], path[1024];
        loaded_t l;
        snprintf(rel, sizeof(rel), "%s.avsc", TOPICS[i].topic);
        schema_path(path, sizeof(path), rel);
        if (load_schema(path, &l, &p))
            continue;
        if (!is_avro_record(l.schema))
            problem(&p, "%s: top level is not a record", path);
        const char *ns = json_string_value(json_object_get(l.json, "namespace"));
        if (!ns || strncmp(ns, "org.ems.", 8))
            problem(&p, "%s: namespace must start with org.ems.", path);
        avro_schema_t key = avro_schema_record_field_get(l.schema, TOPICS[i].key_field);
        if (!key || !is_avro_string(key))
            problem(&p, "%s: key field %s missing or not a string", path,
                    TOPICS[i].key_field);
        loaded_release(&l);
    }
    ck_assert_no_problems(&p);
}
END_TEST

START_TEST(test_every_file_parses_and_is_documented)
{
    problems_t p = {0};
    char *rel[MAX_FILES];
    int n = all_schema_files(rel, MAX_FILES);
    ck_assert_msg(n >= (int)NTOPICS + 1, "only %d schema files found", n);
    for (int i = 0; i < n; i++) {
        char path[1024];
        loaded_t l;
        schema_path(path, sizeof(path), rel[i]);
        if (load_schema(path, &l, &p))
            continue;
        json_t *defs = json_object();
        check_type(l.json, rel[i], &p, 0);
        collect_named(l.json, defs, &p, rel[i], 0);
        json_decref(defs);
        loaded_release(&l);
    }
    free_names(rel, n);
    ck_assert_no_problems(&p);
}
END_TEST

START_TEST(test_sample_records_round_trip)
{
    problems_t p = {0};
    char *rel[MAX_FILES];
    int n = all_schema_files(rel, MAX_FILES);
    ck_assert_int_gt(n, 0);
    for (int i = 0; i < n; i++) {
        char path[1024];
        loaded_t l;
        schema_path(path, sizeof(path), rel[i]);
        if (load_schema(path, &l, &p))
            continue;
        for (int rich = 0; rich <= 1; rich++) {
            avro_value_t v, back;
            size_t len = 0;
            char *buf = NULL;
            if (make_sample(l.schema, rich, &v)) {
                problem(&p, "%s: cannot build a sample: %s", rel[i], avro_strerror());
                continue;
            }
            buf = encode(&v, &len);
            if (!buf)
                problem(&p, "%s: encode failed: %s", rel[i], avro_strerror());
            else if (decode(l.schema, buf, len, &back))
                problem(&p, "%s: decode failed: %s", rel[i], avro_strerror());
            else {
                if (!avro_value_equal(&v, &back))
                    problem(&p, "%s: decoded %s sample differs", rel[i],
                            rich ? "rich" : "sparse");
                avro_value_decref(&back);
            }
            free(buf);
            avro_value_decref(&v);
        }
        loaded_release(&l);
    }
    free_names(rel, n);
    ck_assert_no_problems(&p);
}
END_TEST

START_TEST(test_current_equals_highest_version)
{
    problems_t p = {0};
    for (size_t i = 0; i < NTOPICS; i++) {
        char dir[512], rel[256], path[1024], *ver[MAX_FILES];
        snprintf(rel, sizeof(rel), "history/%s", TOPICS[i].topic);
        schema_path(dir, sizeof(dir), rel);
        int nv = list_dir(dir, ".avsc", ver, MAX_FILES);
        if (nv == 0)
            problem(&p, "%s: no kept versions", dir);
        for (int v = 1; v <= nv; v++) {
            char want[32];
            snprintf(want, sizeof(want), "v%d.avsc", v);
            struct stat st;
            snprintf(path, sizeof(path), "%s/%s", dir, want);
            if (stat(path, &st))
                problem(&p, "%s: versions must be v1..v%d without holes", path, nv);
        }
        if (nv > 0) {
            loaded_t cur, top;
            snprintf(rel, sizeof(rel), "%s.avsc", TOPICS[i].topic);
            schema_path(path, sizeof(path), rel);
            int rc1 = load_schema(path, &cur, &p);
            snprintf(path, sizeof(path), "%s/v%d.avsc", dir, nv);
            int rc2 = load_schema(path, &top, &p);
            if (!rc1 && !rc2 && !json_equal(cur.json, top.json))
                problem(&p, "%s.avsc differs from its highest version %s",
                        TOPICS[i].topic, path);
            if (!rc1)
                loaded_release(&cur);
            if (!rc2)
                loaded_release(&top);
        }
        free_names(ver, nv);
    }
    ck_assert_no_problems(&p);
}
END_TEST

START_TEST(test_every_version_reads_the_previous_one)
{
    problems_t p = {0};
    int pairs = 0;
    for (size_t i = 0; i < NTOPICS; i++) {
        char dir[512], rel[256], path[1024], *ver[MAX_FILES];
        snprintf(rel, sizeof(rel), "history/%s", TOPICS[i].topic);
        schema_path(dir, sizeof(dir), rel);
        int nv = list_dir(dir, ".avsc", ver, MAX_FILES);
        for (int v = 2; v <= nv; v++) {
            loaded_t w, r;
            snprintf(path, sizeof(path), "%s/v%d.avsc", dir, v - 1);
            int rc1 = load_schema(path, &w, &p);
            snprintf(path, sizeof(path), "%s/v%d.avsc", dir, v);
            int rc2 = load_schema(path, &r, &p);
            if (!rc1 && !rc2) {
                char err[512] = "";
                if (backward_check(&w, &r, err, sizeof(err)))
                    problem(&p, "%s v%d cannot read v%d: %s", TOPICS[i].topic, v, v - 1,
                            err);
                pairs++;
            }
            if (!rc1)
                loaded_release(&w);
            if (!rc2)
                loaded_release(&r);
        }
        free_names(ver, nv);
    }
    ck_assert_no_problems(&p);
    ck_assert_msg(pairs >= 1, "no version pair to check");
}
END_TEST

/* The evolution kept for energy.telemetry: v1 data read with v2 gets the new
 * optional field's default (null) and keeps every other value. */
START_TEST(test_telemetry_v1_read_as_v2_gets_default)
{
    char p1[1024], p2[1024], err[512] = "";
    problems_t p = {0};
    loaded_t w, r;
    avro_value_t sample, got, field, branch;
    schema_path(p1, sizeof(p1), "history/energy.telemetry/v1.avsc");
    schema_path(p2, sizeof(p2), "history/energy.telemetry/v2.avsc");
    ck_assert_int_eq(load_schema(p1, &w, &p), 0);
    ck_assert_int_eq(load_schema(p2, &r, &p), 0);
    ck_assert_int_lt(avro_schema_record_field_get_index(w.schema, "quality_detail"), 0);
    ck_assert_int_eq(make_sample(w.schema, 1, &sample), 0);
    ck_assert_msg(read_as(&w, &r, &sample, &got, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(avro_value_get_by_name(&got, "quality_detail", &field, NULL), 0);
    ck_assert_int_eq(avro_value_get_current_branch(&field, &branch), 0);
    ck_assert_int_eq(avro_value_get_type(&branch), AVRO_NULL);
    const char *names[] = {"site_id", "meter_id", "ts", "seq", "power_kw", "quality"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        avro_value_t a, b;
        ck_assert_int_eq(avro_value_get_by_name(&sample, names[i], &a, NULL), 0);
        ck_assert_int_eq(avro_value_get_by_name(&got, names[i], &b, NULL), 0);
        ck_assert_msg(avro_value_equal_fast(&a, &b), "field %s changed", names[i]);
    }
    avro_value_decref(&got);
    avro_value_decref(&sample);
    loaded_release(&w);
    loaded_release(&r);
}
END_TEST

/* The check can fail: incompatible evolutions of telemetry v1 made here are
 * refused, compatible ones accepted. */
typedef void (*mutate_fn)(json_t *schema);

static json_t *fields_of(json_t *s)
{
    return json_object_get(s, "fields");
}

static json_t *find_field(json_t *s, const char *name)
{
    json_t *fs = fields_of(s);
    for (size_t i = 0; i < json_array_size(fs); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(fs, i), "name")),
                    name))
            return json_array_get(fs, i);
    return NULL;
}

static void add_required_field(json_t *s)
{
    json_array_append_new(fields_of(s),
                          json_pack("{s:s, s:s, s:s}", "name", "phase_count", "type",
                                    "int", "doc", "Number of phases."));
}

static void add_optional_field(json_t *s)
{
    json_array_append_new(fields_of(s),
                          json_pack("{s:s, s:[s,s], s:n, s:s}", "name", "note", "type",
                                    "null", "string", "default", "doc", "A note."));
}

static void add_field_with_default(json_t *s)
{
    json_array_append_new(fields_of(s),
                          json_pack("{s:s, s:s, s:i, s:s}", "name", "phase_count",
                                    "type", "int", "default", 3, "doc", "Phases."));
}

static void drop_enum_symbol(json_t *s)
{
    json_t *syms =
        json_object_get(json_object_get(find_field(s, "quality"), "type"), "symbols");
    json_array_remove(syms, json_array_size(syms) - 1);
}

static void add_enum_symbol(json_t *s)
{
    json_t *syms =
        json_object_get(json_object_get(find_field(s, "quality"), "type"), "symbols");
    json_array_append_new(syms, json_string("estimated"));
}

static void change_type(json_t *s)
{
    json_object_set_new(find_field(s, "seq"), "type", json_string("string"));
}

static void promote_type(json_t *s)
{
    json_object_set_new(find_field(s, "seq"), "type", json_string("double"));
}

static void remove_field(json_t *s)
{
    json_t *fs = fields_of(s);
    json_array_remove(fs, json_array_size(fs) - 1);
}

static void rename_record(json_t *s)
{
    json_object_set_new(s, "name", json_string("Reading"));
}

static const struct {
    const char *name;
    mutate_fn mutate;
    int compatible;
} EVOLUTIONS[] = {
    {"new field without default", add_required_field, 0},
    {"enum symbol removed", drop_enum_symbol, 0},
    {"field type changed long->string", change_type, 0},
    {"record renamed", rename_record, 0},
    {"new optional field, default null", add_optional_field, 1},
    {"new int field with default 3", add_field_with_default, 1},
    {"enum symbol added", add_enum_symbol, 1},
    {"long promoted to double", promote_type, 1},
    {"field removed", remove_field, 1},
};

START_TEST(test_evolution_check_can_fail)
{
    char path[1024], err[512] = "";
    problems_t p = {0};
    loaded_t w, r;
    schema_path(path, sizeof(path), "history/energy.telemetry/v1.avsc");
    ck_assert_int_eq(load_schema(path, &w, &p), 0);
    json_t *evolved = json_deep_copy(w.json);
    EVOLUTIONS[_i].mutate(evolved);
    ck_assert_int_eq(load_json(evolved, EVOLUTIONS[_i].name, &r), 0);
    int rc = backward_check(&w, &r, err, sizeof(err));
    if (EVOLUTIONS[_i].compatible)
        ck_assert_msg(rc == 0, "%s: refused: %s", EVOLUTIONS[_i].name, err);
    else
        ck_assert_msg(rc != 0 && err[0], "%s: accepted", EVOLUTIONS[_i].name);
    /* The data-level resolution fails on its own too, not only the schema
     * rules: a rich sample written with v1 read with the evolved schema. */
    avro_value_t sample, got;
    ck_assert_int_eq(make_sample(w.schema, 1, &sample), 0);
    err[0] = '\0';
    rc = read_as(&w, &r, &sample, &got, err, sizeof(err));
    if (rc == 0)
        avro_value_decref(&got);
    ck_assert_msg((rc == 0) == EVOLUTIONS[_i].compatible, "%s: data read %s: %s",
                  EVOLUTIONS[_i].name, rc ? "failed" : "succeeded", err);
    avro_value_decref(&sample);
    json_decref(evolved);
    loaded_release(&w);
    loaded_release(&r);
}
END_TEST

static Suite *schemas_suite(void)
{
    Suite *s = suite_create("schemas");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_every_topic_has_a_schema_with_its_key);
    tcase_add_test(tc, test_every_file_parses_and_is_documented);
    tcase_add_test(tc, test_sample_records_round_trip);
    tcase_add_test(tc, test_current_equals_highest_version);
    tcase_add_test(tc, test_every_version_reads_the_previous_one);
    tcase_add_test(tc, test_telemetry_v1_read_as_v2_gets_default);
    tcase_add_loop_test(tc, test_evolution_check_can_fail, 0,
                        (int)(sizeof(EVOLUTIONS) / sizeof(EVOLUTIONS[0])));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(schemas_suite(), 0);
}
