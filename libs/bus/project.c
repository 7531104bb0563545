/* bus/project: writer-to-reader projection with defaults. See project.h. */
#include "bus/project.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bus_defaults_s {
    json_t *root;  /* the parsed schema */
    json_t *index; /* "Record\x01field" -> default (borrowed from root) */
};

static void index_schema(json_t *index, json_t *s);

static void index_record(json_t *index, json_t *s)
{
    const char *rname = json_string_value(json_object_get(s, "name"));
    const char *dot = rname ? strrchr(rname, '.') : NULL;
    json_t *f;
    size_t i;
    char key[512];

    if (dot)
        rname = dot + 1;
    json_array_foreach(json_object_get(s, "fields"), i, f)
    {
        const char *fname = json_string_value(json_object_get(f, "name"));
        json_t *def = json_object_get(f, "default");

        if (rname && fname && def) {
            snprintf(key, sizeof(key), "%s\x01%s", rname, fname);
            json_object_set(index, key, def);
        }
        index_schema(index, json_object_get(f, "type"));
    }
}

/* Walks any schema node, indexing the defaults of every record in it. */
static void index_schema(json_t *index, json_t *s)
{
    const char *type;
    json_t *b;
    size_t i;

    if (json_is_array(s)) {
        json_array_foreach(s, i, b) index_schema(index, b);
        return;
    }
    type = json_string_value(json_object_get(s, "type"));
    if (!type)
        return;
    if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0)
        index_record(index, s);
    else if (strcmp(type, "array") == 0)
        index_schema(index, json_object_get(s, "items"));
    else if (strcmp(type, "map") == 0)
        index_schema(index, json_object_get(s, "values"));
    else
        index_schema(index, json_object_get(s, "type"));
}

bus_defaults_t *bus_defaults_new(const char *schema_json, char *errstr,
                                 size_t errstr_size)
{
    bus_defaults_t *d = calloc(1, sizeof(*d));
    json_error_t jerr;

    if (!d)
        return NULL;
    d->root = json_loads(schema_json, 0, &jerr);
    d->index = json_object();
    if (!d->root || !d->index) {
        snprintf(errstr, errstr_size, "reader schema: %s", jerr.text);
        bus_defaults_destroy(d);
        return NULL;
    }
    index_schema(d->index, d->root);
    return d;
}

void bus_defaults_destroy(bus_defaults_t *d)
{
    if (!d)
        return;
    json_decref(d->index);
    json_decref(d->root);
    free(d);
}

/* ---- defaults: JSON -> value ---- */

static int set_default(avro_value_t *dst, json_t *def, const bus_defaults_t *d);

static int set_default_record(avro_value_t *dst, json_t *def, const bus_defaults_t *d)
{
    avro_schema_t s = avro_value_get_schema(dst);
    size_t i, n = avro_schema_record_size(s);
    char key[512];
    avro_value_t f;

    for (i = 0; i < n; i++) {
        const char *fname = avro_schema_record_field_name(s, (int)i);
        json_t *v = json_object_get(def, fname);

        if (!v) {
            snprintf(key, sizeof(key), "%s\x01%s", avro_schema_name(s), fname);
            v = json_object_get(d->index, key);
        }
        if (!v || avro_value_get_by_index(dst, i, &f, NULL) || set_default(&f, v, d))
            return -1;
    }
    return 0;
}

static int set_default_container(avro_value_t *dst, json_t *def,
                                 const bus_defaults_t *d)
{
    avro_value_t e;
    const char *k;
    json_t *v;
    size_t i;

    if (avro_value_get_type(dst) == AVRO_ARRAY) {
        json_array_foreach(def, i, v) if (avro_value_append(dst, &e, NULL) ||
                                          set_default(&e, v, d)) return -1;
        return json_is_array(def) ? 0 : -1;
    }
    json_object_foreach(def, k, v) if (avro_value_add(dst, k, &e, NULL, NULL) ||
                                       set_default(&e, v, d)) return -1;
    return json_is_object(def) ? 0 : -1;
}

static int set_default(avro_value_t *dst, json_t *def, const bus_defaults_t *d)
{
    const char *str = json_string_value(def);
    avro_value_t b;
    int sym;

    switch (avro_value_get_type(dst)) {
    case AVRO_NULL:
        return json_is_null(def) ? avro_value_set_null(dst) : -1;
    case AVRO_BOOLEAN:
        return json_is_boolean(def) ? avro_value_set_boolean(dst, json_is_true(def))
                                    : -1;
    case AVRO_INT32:
        return json_is_integer(def)
                   ? avro_value_set_int(dst, (int32_t)json_integer_value(def))
                   : -1;
    case AVRO_INT64:
        return json_is_integer(def) ? avro_value_set_long(dst, json_integer_value(def))
                                    : -1;
    case AVRO_FLOAT:
        return json_is_number(def)
                   ? avro_value_set_float(dst, (float)json_number_value(def))
                   : -1;
    case AVRO_DOUBLE:
        return json_is_number(def) ? avro_value_set_double(dst, json_number_value(def))
                                   : -1;
    case AVRO_STRING:
        return str ? avro_value_set_string(dst, str) : -1;
    case AVRO_BYTES:
        return str ? avro_value_set_bytes(dst, (void *)str, strlen(str)) : -1;
    case AVRO_FIXED:
        return str ? avro_value_set_fixed(dst, (void *)str, strlen(str)) : -1;
    case AVRO_ENUM:
        sym = str ? avro_schema_enum_get_by_name(avro_value_get_schema(dst), str) : -1;
        return sym >= 0 ? avro_value_set_enum(dst, sym) : -1;
    case AVRO_UNION: /* a union's default is of its first branch */
        return avro_value_set_branch(dst, 0, &b) || set_default(&b, def, d) ? -1 : 0;
    case AVRO_RECORD:
        return set_default_record(dst, def, d);
    case AVRO_ARRAY:
    case AVRO_MAP:
        return set_default_container(dst, def, d);
    default:
        return -1;
    }
}

int bus_defaults_apply(const bus_defaults_t *d, avro_value_t *rec)
{
    avro_schema_t s = avro_value_get_schema(rec);
    size_t i, n;
    char key[512];
    avro_value_t f;
    json_t *def;

    if (avro_value_get_type(rec) != AVRO_RECORD)
        return 0;
    n = avro_schema_record_size(s);
    for (i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "%s\x01%s", avro_schema_name(s),
                 avro_schema_record_field_name(s, (int)i));
        def = json_object_get(d->index, key);
        if (avro_value_get_by_index(rec, i, &f, NULL) != 0)
            return -1;
        if (def ? set_default(&f, def, d) : bus_defaults_apply(d, &f))
            return -1;
    }
    return 0;
}

/* ---- projection: writer value -> reader value ---- */

static int project(avro_value_t *src, avro_value_t *dst, const bus_defaults_t *d,
                   char *errstr, size_t errstr_size);

static int fail(char *errstr, size_t errstr_size, const char *what, const char *name)
{
    snprintf(errstr, errstr_size, "cannot resolve %s '%s'", what, name ? name : "?");
    return -1;
}

static int project_record(avro_value_t *src, avro_value_t *dst, const bus_defaults_t *d,
                          char *errstr, size_t errstr_size)
{
    avro_schema_t s = avro_value_get_schema(dst);
    size_t i, n = avro_schema_record_size(s);
    avro_value_t sf, df;
    char key[512];

    if (avro_value_get_type(src) != AVRO_RECORD)
        return fail(errstr, errstr_size, "record", avro_schema_name(s));
    for (i = 0; i < n; i++) {
        const char *fname = avro_schema_record_field_name(s, (int)i);
        json_t *def;

        if (avro_value_get_by_index(dst, i, &df, NULL))
            return fail(errstr, errstr_size, "field", fname);
        if (avro_value_get_by_name(src, fname, &sf, NULL) == 0) {
            if (project(&sf, &df, d, errstr, errstr_size))
                return -1;
            continue;
        }
        snprintf(key, sizeof(key), "%s\x01%s", avro_schema_name(s), fname);
        def = json_object_get(d->index, key);
        if (!def || set_default(&df, def, d))
            return fail(errstr, errstr_size, "field without default", fname);
    }
    return 0;
}

static int project_container(avro_value_t *src, avro_value_t *dst,
                             const bus_defaults_t *d, char *errstr, size_t errstr_size)
{
    avro_type_t t = avro_value_get_type(dst);
    avro_value_t se, de;
    const char *key;
    size_t i, n = 0;

    if (avro_value_get_type(src) != t)
        return fail(errstr, errstr_size, "container",
                    avro_schema_type_name(avro_value_get_schema(dst)));
    if (avro_value_get_size(src, &n))
        return -1;
    for (i = 0; i < n; i++) {
        if (avro_value_get_by_index(src, i, &se, &key) ||
            (t == AVRO_ARRAY ? avro_value_append(dst, &de, NULL)
                             : avro_value_add(dst, key, &de, NULL, NULL)) ||
            project(&se, &de, d, errstr, errstr_size))
            return -1;
    }
    return 0;
}

/* True when a writer value of type st (schema ss) fits reader schema ds. */
static int branch_fits(avro_type_t st, avro_schema_t ss, avro_schema_t ds)
{
    if (!ds) /* a value whose interface has no get_schema */
        return 0;
    avro_type_t dt = avro_typeof(ds);

    if (dt == AVRO_RECORD || dt == AVRO_ENUM || dt == AVRO_FIXED)
        return st == dt && ss &&
               strcmp(avro_schema_name(ss), avro_schema_name(ds)) == 0;
    if (st == dt)
        return 1;
    return (st == AVRO_INT32 &&
            (dt == AVRO_INT64 || dt == AVRO_FLOAT || dt == AVRO_DOUBLE)) ||
           (st == AVRO_INT64 && (dt == AVRO_FLOAT || dt == AVRO_DOUBLE)) ||
           (st == AVRO_FLOAT && dt == AVRO_DOUBLE) ||
           (st == AVRO_STRING && dt == AVRO_BYTES) ||
           (st == AVRO_BYTES && dt == AVRO_STRING);
}

static int project_union(avro_value_t *src, avro_value_t *dst, const bus_defaults_t *d,
                         char *errstr, size_t errstr_size)
{
    avro_schema_t us = avro_value_get_schema(dst), ss = avro_value_get_schema(src);
    size_t i, n = avro_schema_union_size(us);
    avro_value_t b;

    for (i = 0; i < n; i++)
        if (branch_fits(avro_value_get_type(src), ss,
                        avro_schema_union_branch(us, (int)i)))
            return avro_value_set_branch(dst, (int)i, &b)
                       ? -1
                       : project(src, &b, d, errstr, errstr_size);
    return fail(errstr, errstr_size, "union branch", avro_schema_type_name(ss));
}

/* string <-> bytes. avro-c string sizes count the terminating NUL. */
static int project_text(avro_value_t *src, avro_value_t *dst)
{
    const char *str;
    const void *p;
    size_t n;
    char *copy;
    int rc;

    if (avro_value_get_type(src) == AVRO_STRING) {
        if (avro_value_get_string(src, &str, &n))
            return -1;
        if (avro_value_get_type(dst) == AVRO_STRING)
            return avro_value_set_string_len(dst, str, n);
        return avro_value_set_bytes(dst, (void *)str, n ? n - 1 : 0);
    }
    if (avro_value_get_bytes(src, &p, &n))
        return -1;
    if (avro_value_get_type(dst) == AVRO_BYTES)
        return avro_value_set_bytes(dst, (void *)p, n);
    if (!(copy = malloc(n + 1)))
        return -1;
    memcpy(copy, p, n);
    copy[n] = '\0';
    rc = avro_value_set_string_len(dst, copy, n + 1);
    free(copy);
    return rc;
}

/* Copies a scalar with the Avro promotions. */
static int project_scalar(avro_value_t *src, avro_value_t *dst)
{
    avro_type_t st = avro_value_get_type(src), dt = avro_value_get_type(dst);
    int32_t i32 = 0;
    int64_t i64 = 0;
    float f = 0;
    double x = 0;
    const void *p = NULL;
    size_t n = 0;
    int sym = 0;
    const char *name;

    if (!branch_fits(st, avro_value_get_schema(src), avro_value_get_schema(dst)) &&
        st != AVRO_ENUM)
        return -1;
    switch (st) {
    case AVRO_NULL:
        return avro_value_set_null(dst);
    case AVRO_BOOLEAN:
        avro_value_get_boolean(src, &sym);
        return avro_value_set_boolean(dst, sym);
    case AVRO_INT32:
        avro_value_get_int(src, &i32);
        i64 = i32;
        x = i32;
        break;
    case AVRO_INT64:
        avro_value_get_long(src, &i64);
        x = (double)i64;
        break;
    case AVRO_FLOAT:
        avro_value_get_float(src, &f);
        x = f;
        break;
    case AVRO_DOUBLE:
        avro_value_get_double(src, &x);
        break;
    case AVRO_STRING:
    case AVRO_BYTES:
        return project_text(src, dst);
    case AVRO_FIXED:
        avro_value_get_fixed(src, &p, &n);
        return avro_value_set_fixed(dst, (void *)p, n);
    case AVRO_ENUM:
        avro_value_get_enum(src, &sym);
        name = avro_schema_enum_get(avro_value_get_schema(src), sym);
        sym = dt == AVRO_ENUM
                  ? avro_schema_enum_get_by_name(avro_value_get_schema(dst), name)
                  : -1;
        return sym >= 0 ? avro_value_set_enum(dst, sym) : -1;
    default:
        return -1;
    }
    switch (dt) {
    case AVRO_INT32:
        return avro_value_set_int(dst, i32);
    case AVRO_INT64:
        return avro_value_set_long(dst, i64);
    case AVRO_FLOAT:
        return avro_value_set_float(dst, (float)x);
    default:
        return avro_value_set_double(dst, x);
    }
}

static int project(avro_value_t *src, avro_value_t *dst, const bus_defaults_t *d,
                   char *errstr, size_t errstr_size)
{
    avro_value_t b;

    if (avro_value_get_type(src) == AVRO_UNION) {
        if (avro_value_get_current_branch(src, &b))
            return fail(errstr, errstr_size, "union", "unset");
        return project(&b, dst, d, errstr, errstr_size);
    }
    switch (avro_value_get_type(dst)) {
    case AVRO_UNION:
        return project_union(src, dst, d, errstr, errstr_size);
    case AVRO_RECORD:
        return project_record(src, dst, d, errstr, errstr_size);
    case AVRO_ARRAY:
    case AVRO_MAP:
        return project_container(src, dst, d, errstr, errstr_size);
    default:
        if (project_scalar(src, dst) != 0)
            return fail(errstr, errstr_size, "value of type",
                        avro_schema_type_name(avro_value_get_schema(src)));
        return 0;
    }
}

int bus_project(avro_value_t *src, avro_value_t *dst, const bus_defaults_t *d,
                char *errstr, size_t errstr_size)
{
    return project(src, dst, d, errstr, errstr_size);
}
