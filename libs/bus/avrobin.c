/* bus/avrobin: one-pass Avro binary codec for generic values. See avrobin.h. */
#include "bus/avrobin.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BIN_MIN_CAP 256
#define BIN_NULL_ITEMS_MAX (1 << 20) /* items of an array of nulls in a block */
#define BIN_KEY_STACK 128 /* map keys and strings up to this long use the stack */

void bus_bin_buf_release(bus_bin_buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* Makes room for n more bytes. Returns 0 or ENOMEM. */
static int bin_reserve(bus_bin_buf_t *b, size_t n)
{
    size_t cap = b->cap ? b->cap : BIN_MIN_CAP;
    char *p;

    if (b->len + n <= b->cap)
        return 0;
    while (cap < b->len + n)
        cap *= 2;
    if (!(p = realloc(b->p, cap)))
        return ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* ---- encoding ---- */

static int bin_put_long(bus_bin_buf_t *b, int64_t v)
{
    /* zigzag: the sign bit spread over all 64 bits without shifting a
     * negative value right, which C leaves to the implementation */
    uint64_t u = (uint64_t)v, z = (u << 1) ^ (0 - (u >> 63));
    unsigned char *o;

    if (bin_reserve(b, 10))
        return ENOMEM;
    o = (unsigned char *)b->p + b->len;
    while (z > 0x7f) {
        *o++ = (unsigned char)(z | 0x80);
        z >>= 7;
    }
    *o++ = (unsigned char)z;
    b->len = (size_t)(o - (unsigned char *)b->p);
    return 0;
}

static int bin_put(bus_bin_buf_t *b, const void *src, size_t n)
{
    if (bin_reserve(b, n))
        return ENOMEM;
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

/* Little-endian bytes of the n-byte value at v (float or double bits). */
static int bin_put_le(bus_bin_buf_t *b, uint64_t bits, size_t n)
{
    unsigned char o[8];

    for (size_t i = 0; i < n; i++)
        o[i] = (unsigned char)(bits >> (8 * i));
    return bin_put(b, o, n);
}

static int bin_put_bytes(bus_bin_buf_t *b, const void *src, size_t n)
{
    return bin_put_long(b, (int64_t)n) || bin_put(b, src, n) ? ENOMEM : 0;
}

/* Arrays and maps: one block with every element, then the 0 terminator. */
static int bin_write_items(bus_bin_buf_t *b, avro_value_t *v, int is_map)
{
    size_t n, i;
    int rc;

    if ((rc = avro_value_get_size(v, &n)) != 0)
        return rc;
    if (n > 0 && (rc = bin_put_long(b, (int64_t)n)) != 0)
        return rc;
    for (i = 0; i < n; i++) {
        const char *key = NULL;
        avro_value_t child;

        if ((rc = avro_value_get_by_index(v, i, &child, is_map ? &key : NULL)) != 0 ||
            (is_map && (rc = bin_put_bytes(b, key, strlen(key))) != 0) ||
            (rc = bus_bin_write(b, &child)) != 0)
            return rc;
    }
    return bin_put_long(b, 0);
}

static int bin_write_record(bus_bin_buf_t *b, avro_value_t *v)
{
    avro_value_t field;
    size_t n, i;
    int rc;

    if ((rc = avro_value_get_size(v, &n)) != 0)
        return rc;
    for (i = 0; i < n; i++)
        if ((rc = avro_value_get_by_index(v, i, &field, NULL)) != 0 ||
            (rc = bus_bin_write(b, &field)) != 0)
            return rc;
    return 0;
}

static int bin_write_union(bus_bin_buf_t *b, avro_value_t *v)
{
    avro_value_t branch;
    int disc, rc;

    if ((rc = avro_value_get_discriminant(v, &disc)) != 0)
        return rc;
    if (disc < 0 || avro_value_get_current_branch(v, &branch) != 0)
        return EINVAL; /* no branch selected */
    if ((rc = bin_put_long(b, disc)) != 0)
        return rc;
    return bus_bin_write(b, &branch);
}

/* Scalars other than strings. */
static int bin_write_number(bus_bin_buf_t *b, avro_value_t *v, avro_type_t t)
{
    int32_t i32;
    int64_t i64;
    double d;
    float f;
    uint32_t u32;
    uint64_t u64;
    int e, rc = EINVAL;

    switch (t) {
    case AVRO_INT32:
        if (!(rc = avro_value_get_int(v, &i32)))
            rc = bin_put_long(b, i32);
        break;
    case AVRO_INT64:
        if (!(rc = avro_value_get_long(v, &i64)))
            rc = bin_put_long(b, i64);
        break;
    case AVRO_ENUM:
        if (!(rc = avro_value_get_enum(v, &e)))
            rc = bin_put_long(b, e);
        break;
    case AVRO_DOUBLE:
        if (!(rc = avro_value_get_double(v, &d))) {
            memcpy(&u64, &d, 8);
            rc = bin_put_le(b, u64, 8);
        }
        break;
    case AVRO_FLOAT:
        if (!(rc = avro_value_get_float(v, &f))) {
            memcpy(&u32, &f, 4);
            rc = bin_put_le(b, u32, 4);
        }
        break;
    default:
        break;
    }
    return rc;
}

int bus_bin_write(bus_bin_buf_t *b, avro_value_t *v)
{
    avro_type_t t = avro_value_get_type(v);
    const void *p;
    const char *s;
    size_t n;
    int bval, rc;

    switch (t) {
    case AVRO_NULL:
        return 0;
    case AVRO_BOOLEAN:
        if ((rc = avro_value_get_boolean(v, &bval)) != 0)
            return rc;
        return bin_put(b, bval ? "\1" : "\0", 1);
    case AVRO_STRING:
        if ((rc = avro_value_get_string(v, &s, &n)) != 0)
            return rc;
        return n == 0 ? EINVAL : bin_put_bytes(b, s, n - 1); /* n counts the NUL */
    case AVRO_BYTES:
        if ((rc = avro_value_get_bytes(v, &p, &n)) != 0)
            return rc;
        return bin_put_bytes(b, p, n);
    case AVRO_FIXED:
        if ((rc = avro_value_get_fixed(v, &p, &n)) != 0)
            return rc;
        return bin_put(b, p, n);
    case AVRO_RECORD:
        return bin_write_record(b, v);
    case AVRO_UNION:
        return bin_write_union(b, v);
    case AVRO_ARRAY:
        return bin_write_items(b, v, 0);
    case AVRO_MAP:
        return bin_write_items(b, v, 1);
    default:
        return bin_write_number(b, v, t);
    }
}

/* ---- decoding ---- */

typedef struct bin_in {
    const unsigned char *p;
    const unsigned char *end;
} bin_in_t;

static int bin_get_long(bin_in_t *in, int64_t *out)
{
    uint64_t z = 0;
    int shift;

    for (shift = 0; shift < 64; shift += 7) {
        if (in->p >= in->end)
            return -1;
        z |= (uint64_t)(*in->p & 0x7f) << shift;
        if (!(*in->p++ & 0x80)) {
            *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
            return 0;
        }
    }
    return -1; /* more than 10 bytes */
}

/* A length-prefixed byte run: sets *s and *n, checks it is all there. */
static int bin_get_run(bin_in_t *in, const unsigned char **s, size_t *n)
{
    int64_t len;

    if (bin_get_long(in, &len) || len < 0 || len > in->end - in->p)
        return -1;
    *s = in->p;
    *n = (size_t)len;
    in->p += len;
    return 0;
}

static uint64_t bin_get_le(bin_in_t *in, size_t n)
{
    uint64_t bits = 0;

    for (size_t i = 0; i < n; i++)
        bits |= (uint64_t)in->p[i] << (8 * i);
    in->p += n;
    return bits;
}

/* Sets a generic string from a run without a NUL: avro-c's strings keep
 * the NUL in their size, so the run is copied with one appended. */
static int bin_set_string(avro_value_t *dest, const unsigned char *s, size_t n)
{
    char stack[BIN_KEY_STACK], *tmp = n < sizeof(stack) ? stack : malloc(n + 1);
    int rc;

    if (!tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    rc = avro_value_set_string_len(dest, tmp, n + 1);
    if (tmp != stack)
        free(tmp);
    return rc ? -1 : 0;
}

static int bin_read(bin_in_t *in, avro_value_t *dest);

/* One element of an array, or one key and value of a map. */
static int bin_read_item(bin_in_t *in, avro_value_t *dest, int is_map)
{
    char stack[BIN_KEY_STACK], *key = stack;
    const unsigned char *s;
    avro_value_t child;
    size_t n;
    int rc;

    if (!is_map)
        return avro_value_append(dest, &child, NULL) ? -1 : bin_read(in, &child);
    if (bin_get_run(in, &s, &n) || memchr(s, '\0', n))
        return -1;
    if (n >= sizeof(stack) && !(key = malloc(n + 1)))
        return -1;
    memcpy(key, s, n);
    key[n] = '\0';
    rc = avro_value_add(dest, key, &child, NULL, NULL) ? -1 : bin_read(in, &child);
    if (key != stack)
        free(key);
    return rc;
}

static int bin_items_may_be_empty(avro_value_t *array)
{
    avro_schema_t items = avro_schema_array_items(avro_value_get_schema(array));

    return items && avro_typeof(items) == AVRO_NULL;
}

/* Blocks of items until a zero count; a negative count has a byte size. */
static int bin_read_items(bin_in_t *in, avro_value_t *dest, int is_map)
{
    int64_t count, size;

    for (;;) {
        if (bin_get_long(in, &count))
            return -1;
        if (count == 0)
            return 0;
        if (count < 0) {
            if (count == INT64_MIN || bin_get_long(in, &size) || size < 0)
                return -1;
            count = -count;
        }
        /* every item but a null takes at least one byte: no huge counts */
        if (count > in->end - in->p &&
            (is_map || !bin_items_may_be_empty(dest) || count > BIN_NULL_ITEMS_MAX))
            return -1;
        while (count-- > 0)
            if (bin_read_item(in, dest, is_map))
                return -1;
    }
}

static int bin_read_record(bin_in_t *in, avro_value_t *dest)
{
    avro_value_t field;
    size_t n, i;

    if (avro_value_get_size(dest, &n))
        return -1;
    for (i = 0; i < n; i++)
        if (avro_value_get_by_index(dest, i, &field, NULL) || bin_read(in, &field))
            return -1;
    return 0;
}

static int bin_read_union(bin_in_t *in, avro_value_t *dest)
{
    avro_schema_t s = avro_value_get_schema(dest);
    avro_value_t branch;
    int64_t idx;

    if (bin_get_long(in, &idx) || idx < 0 ||
        (uint64_t)idx >= avro_schema_union_size(s) ||
        avro_value_set_branch(dest, (int)idx, &branch))
        return -1;
    return bin_read(in, &branch);
}

/* Ints, longs, enums, floats, doubles, booleans. */
static int bin_read_number(bin_in_t *in, avro_value_t *dest, avro_type_t t)
{
    uint64_t bits;
    int64_t v;
    double d;
    float f;
    uint32_t u32;

    switch (t) {
    case AVRO_INT32:
        if (bin_get_long(in, &v) || v < INT32_MIN || v > INT32_MAX)
            return -1;
        return avro_value_set_int(dest, (int32_t)v) ? -1 : 0;
    case AVRO_INT64:
        return bin_get_long(in, &v) || avro_value_set_long(dest, v) ? -1 : 0;
    case AVRO_ENUM:
        if (bin_get_long(in, &v) || v < 0 ||
            v >= avro_schema_enum_number_of_symbols(avro_value_get_schema(dest)))
            return -1;
        return avro_value_set_enum(dest, (int)v) ? -1 : 0;
    case AVRO_DOUBLE:
        if (in->end - in->p < 8)
            return -1;
        bits = bin_get_le(in, 8);
        memcpy(&d, &bits, 8);
        return avro_value_set_double(dest, d) ? -1 : 0;
    case AVRO_FLOAT:
        if (in->end - in->p < 4)
            return -1;
        u32 = (uint32_t)bin_get_le(in, 4);
        memcpy(&f, &u32, 4);
        return avro_value_set_float(dest, f) ? -1 : 0;
    case AVRO_BOOLEAN:
        if (in->p >= in->end)
            return -1;
        return avro_value_set_boolean(dest, *in->p++ != 0) ? -1 : 0;
    default:
        return -1;
    }
}

static int bin_read(bin_in_t *in, avro_value_t *dest)
{
    avro_type_t t = avro_value_get_type(dest);
    const unsigned char *s;
    size_t n;

    switch (t) {
    case AVRO_NULL:
        return avro_value_set_null(dest) ? -1 : 0;
    case AVRO_STRING:
        return bin_get_run(in, &s, &n) ? -1 : bin_set_string(dest, s, n);
    case AVRO_BYTES:
        return bin_get_run(in, &s, &n) || avro_value_set_bytes(dest, (void *)s, n) ? -1
                                                                                   : 0;
    case AVRO_FIXED:
        n = (size_t)avro_schema_fixed_size(avro_value_get_schema(dest));
        if ((size_t)(in->end - in->p) < n ||
            avro_value_set_fixed(dest, (void *)in->p, n))
            return -1;
        in->p += n;
        return 0;
    case AVRO_RECORD:
        return bin_read_record(in, dest);
    case AVRO_UNION:
        return bin_read_union(in, dest);
    case AVRO_ARRAY:
        return bin_read_items(in, dest, 0);
    case AVRO_MAP:
        return bin_read_items(in, dest, 1);
    default:
        return bin_read_number(in, dest, t);
    }
}

int bus_bin_read(const char **pos, const char *end, avro_value_t *dest)
{
    bin_in_t in = {(const unsigned char *)*pos, (const unsigned char *)end};
    int rc = bin_read(&in, dest);

    *pos = (const char *)in.p;
    return rc;
}
