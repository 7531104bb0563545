/*
 * bus/field: one record field by name (see field.h). avro-c returns an errno
 * value on failure; these fold it into -1 so callers can chain with ||.
 */
#include "bus/field.h"

#include <string.h>

int bus_field_set_string(avro_value_t *rec, const char *name, const char *s)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, name, &f, NULL) || avro_value_set_string(&f, s)
               ? -1
               : 0;
}

int bus_field_set_long(avro_value_t *rec, const char *name, int64_t x)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, name, &f, NULL) || avro_value_set_long(&f, x)
               ? -1
               : 0;
}

int bus_field_set_int(avro_value_t *rec, const char *name, int32_t x)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, name, &f, NULL) || avro_value_set_int(&f, x) ? -1
                                                                                    : 0;
}

int bus_field_set_double(avro_value_t *rec, const char *name, double x)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, name, &f, NULL) || avro_value_set_double(&f, x)
               ? -1
               : 0;
}

int bus_field_set_enum(avro_value_t *rec, const char *name, int x)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, name, &f, NULL) || avro_value_set_enum(&f, x)
               ? -1
               : 0;
}

int bus_field_set_bool(avro_value_t *rec, const char *name, bool x)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, name, &f, NULL) || avro_value_set_boolean(&f, x)
               ? -1
               : 0;
}

int bus_field_set_opt_double(avro_value_t *rec, const char *name, bool has, double x)
{
    avro_value_t f, b;
    if (avro_value_get_by_name(rec, name, &f, NULL) ||
        avro_value_set_branch(&f, has ? 1 : 0, &b))
        return -1;
    return (has ? avro_value_set_double(&b, x) : avro_value_set_null(&b)) ? -1 : 0;
}

int bus_field_set_opt_string(avro_value_t *rec, const char *name, const char *s)
{
    avro_value_t f, b;
    if (avro_value_get_by_name(rec, name, &f, NULL) ||
        avro_value_set_branch(&f, s ? 1 : 0, &b))
        return -1;
    return (s ? avro_value_set_string(&b, s) : avro_value_set_null(&b)) ? -1 : 0;
}

int bus_field_get_long(avro_value_t *rec, const char *name, int64_t *out)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, name, &f, NULL) || avro_value_get_long(&f, out)
               ? -1
               : 0;
}

int bus_field_get_int(avro_value_t *rec, const char *name, int *out)
{
    avro_value_t f;
    int32_t x;
    if (avro_value_get_by_name(rec, name, &f, NULL) || avro_value_get_int(&f, &x))
        return -1;
    *out = x;
    return 0;
}

int bus_field_get_double(avro_value_t *rec, const char *name, double *out)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, name, &f, NULL) || avro_value_get_double(&f, out)
               ? -1
               : 0;
}

int bus_field_get_enum(avro_value_t *rec, const char *name, int *out)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, name, &f, NULL) || avro_value_get_enum(&f, out)
               ? -1
               : 0;
}

int bus_field_get_string(avro_value_t *rec, const char *name, char *dst, size_t size)
{
    avro_value_t f;
    const char *s = NULL;
    size_t n = 0; /* counts the NUL */
    if (avro_value_get_by_name(rec, name, &f, NULL) ||
        avro_value_get_string(&f, &s, &n) || !s || n == 0)
        return -1;
    if (n > size) {
        if (size > 0) {
            memcpy(dst, s, size - 1);
            dst[size - 1] = '\0';
        }
        return -1;
    }
    memcpy(dst, s, n);
    return 0;
}

int bus_field_get_opt_double(avro_value_t *rec, const char *name, bool *has, double *x)
{
    avro_value_t f, b;
    if (avro_value_get_by_name(rec, name, &f, NULL) ||
        avro_value_get_current_branch(&f, &b))
        return -1;
    if (avro_value_get_type(&b) == AVRO_NULL) {
        *has = false;
        return 0;
    }
    if (avro_value_get_double(&b, x))
        return -1;
    *has = true;
    return 0;
}
