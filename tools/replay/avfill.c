/*
 * avfill: by-name setters over avro-c generic values.
 */
#include "avfill.h"

#include <math.h>
#include <stdio.h>

/* Index of the first branch of union schema u with type t; -1 if none. */
static int union_branch(avro_schema_t u, avro_type_t t)
{
    size_t n = avro_schema_union_size(u);
    for (size_t i = 0; i < n; i++)
        if (avro_typeof(avro_schema_union_branch(u, (int)i)) == t)
            return (int)i;
    return -1;
}

int av_field(avro_value_t *rec, const char *name, avro_value_t *out, char *errstr,
             size_t errstr_size)
{
    if (avro_value_get_by_name(rec, name, out, NULL) != 0) {
        snprintf(errstr, errstr_size, "schema has no field '%s'", name);
        return -1;
    }
    return 0;
}

/* The field name of rec resolved to type t: itself, or its union branch. */
static int typed_field(avro_value_t *rec, const char *name, avro_type_t t,
                       avro_value_t *out, char *errstr, size_t errstr_size)
{
    avro_value_t f;
    if (av_field(rec, name, &f, errstr, errstr_size) < 0)
        return -1;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        int b = union_branch(avro_value_get_schema(&f), t);
        if (b >= 0 && avro_value_set_branch(&f, b, out) == 0)
            return 0;
    } else if (avro_value_get_type(&f) == t) {
        *out = f;
        return 0;
    }
    snprintf(errstr, errstr_size, "field '%s' cannot hold this type", name);
    return -1;
}

static int fail(int rc, const char *name, char *errstr, size_t errstr_size)
{
    if (rc != 0)
        snprintf(errstr, errstr_size, "field '%s': %s", name, avro_strerror());
    return rc ? -1 : 0;
}

int av_set_null(avro_value_t *rec, const char *name, char *errstr, size_t errstr_size)
{
    avro_value_t v;
    if (typed_field(rec, name, AVRO_NULL, &v, errstr, errstr_size) < 0)
        return -1;
    return fail(avro_value_set_null(&v), name, errstr, errstr_size);
}

int av_set_string(avro_value_t *rec, const char *name, const char *s, char *errstr,
                  size_t errstr_size)
{
    avro_value_t v;
    if (!s)
        return av_set_null(rec, name, errstr, errstr_size);
    if (typed_field(rec, name, AVRO_STRING, &v, errstr, errstr_size) < 0)
        return -1;
    return fail(avro_value_set_string(&v, s), name, errstr, errstr_size);
}

int av_set_long(avro_value_t *rec, const char *name, int64_t x, char *errstr,
                size_t errstr_size)
{
    avro_value_t v;
    if (typed_field(rec, name, AVRO_INT64, &v, errstr, errstr_size) < 0)
        return -1;
    return fail(avro_value_set_long(&v, x), name, errstr, errstr_size);
}

int av_set_int(avro_value_t *rec, const char *name, int32_t x, char *errstr,
               size_t errstr_size)
{
    avro_value_t v;
    if (typed_field(rec, name, AVRO_INT32, &v, errstr, errstr_size) < 0)
        return -1;
    return fail(avro_value_set_int(&v, x), name, errstr, errstr_size);
}

int av_set_double(avro_value_t *rec, const char *name, double x, char *errstr,
                  size_t errstr_size)
{
    avro_value_t v;
    if (isnan(x))
        return av_set_null(rec, name, errstr, errstr_size);
    if (typed_field(rec, name, AVRO_DOUBLE, &v, errstr, errstr_size) < 0)
        return -1;
    return fail(avro_value_set_double(&v, x), name, errstr, errstr_size);
}

int av_set_enum(avro_value_t *rec, const char *name, const char *symbol, char *errstr,
                size_t errstr_size)
{
    avro_value_t v;
    if (typed_field(rec, name, AVRO_ENUM, &v, errstr, errstr_size) < 0)
        return -1;
    int idx = avro_schema_enum_get_by_name(avro_value_get_schema(&v), symbol);
    if (idx < 0) {
        snprintf(errstr, errstr_size, "field '%s': no symbol '%s'", name, symbol);
        return -1;
    }
    return fail(avro_value_set_enum(&v, idx), name, errstr, errstr_size);
}

int av_append(avro_value_t *array, avro_value_t *elem, char *errstr, size_t errstr_size)
{
    return fail(avro_value_append(array, elem, NULL), "[]", errstr, errstr_size);
}

int av_map_put_double(avro_value_t *rec, const char *name, const char *key, double x,
                      char *errstr, size_t errstr_size)
{
    avro_value_t m, v;
    if (typed_field(rec, name, AVRO_MAP, &m, errstr, errstr_size) < 0)
        return -1;
    if (avro_value_add(&m, key, &v, NULL, NULL) != 0 || avro_value_set_double(&v, x))
        return fail(-1, name, errstr, errstr_size);
    return 0;
}

int av_null_unset(avro_value_t *rec, char *errstr, size_t errstr_size)
{
    size_t n;
    if (avro_value_get_size(rec, &n) != 0)
        return fail(-1, "(record)", errstr, errstr_size);
    for (size_t i = 0; i < n; i++) {
        avro_value_t f, branch;
        const char *fname;
        int disc;
        if (avro_value_get_by_index(rec, i, &f, &fname) != 0)
            return fail(-1, "(record)", errstr, errstr_size);
        if (avro_value_get_type(&f) != AVRO_UNION ||
            (avro_value_get_discriminant(&f, &disc) == 0 && disc >= 0))
            continue;
        int b = union_branch(avro_value_get_schema(&f), AVRO_NULL);
        if (b < 0 || avro_value_set_branch(&f, b, &branch) != 0 ||
            avro_value_set_null(&branch) != 0) {
            snprintf(errstr, errstr_size, "field '%s' is not set", fname);
            return -1;
        }
    }
    return 0;
}
