/* plant: the table-driven reader of YAML objects used by the model loader:
 * typed fields, unknown and duplicate keys refused, messages with lines. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plant/plant_int.h"

int plant_err(ctx_t *c, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->errstr, c->errstr_size, "%s:%d: %s%s%s", c->d->name, ydoc_line(n),
             c->what, *c->what ? ": " : "", msg);
    return -1;
}

void *plant_rd_own(ctx_t *c, void *ptr)
{
    return owned_add(&c->p->owned, ptr);
}

/* Zeroed array of n items owned by the model (at least one byte). */
void *plant_rd_own_array(ctx_t *c, size_t n, size_t size)
{
    return plant_rd_own(c, calloc(n ? n : 1, size));
}

int plant_rd_parse_tod(const char *s, int *out)
{
    int h, m, n = 0;
    if (sscanf(s, "%2d:%2d%n", &h, &m, &n) != 2 || s[n] || h < 0 || m < 0 || m > 59 ||
        h > 24 || (h == 24 && m != 0))
        return -1;
    *out = h * 60 + m;
    return 0;
}

int plant_rd_enum_index(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], s))
            return i;
    return -1;
}

static void plant_rd_enum_list(const char *const *names, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && len < n; i++)
        len += snprintf(buf + len, n - len, "%s%s", i ? "|" : "", names[i]);
}

static int plant_rd_set_number(ctx_t *c, const field_t *f, const yaml_node_t *n,
                               const char *s, void *dst)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v))
        return plant_err(c, n, "%s: expected a number, got '%s'", f->key, s);
    if (f->kind == F_INT && (v != floor(v) || fabs(v) > 2e9))
        return plant_err(c, n, "%s: expected an integer, got '%s'", f->key, s);
    if (f->min < f->max && (v < f->min || v > f->max))
        return plant_err(c, n, "%s: value %s out of range [%g, %g]", f->key, s, f->min,
                         f->max);
    if (f->kind == F_INT)
        *(int *)dst = (int)v;
    else
        *(double *)dst = v;
    return 0;
}

static int plant_rd_set_field(ctx_t *c, const field_t *f, const yaml_node_t *n,
                              void *base)
{
    void *dst = (char *)base + f->off;
    const char *s = ydoc_scalar(n);
    char names[256];
    if (!s)
        return plant_err(c, n, "%s: expected a scalar", f->key);
    switch (f->kind) {
    case F_STR:
        if (!(*(const char **)dst = plant_rd_own(c, strdup(s))))
            return plant_err(c, n, "out of memory");
        return 0;
    case F_NUM:
    case F_INT:
        return plant_rd_set_number(c, f, n, s, dst);
    case F_BOOL:
        if (!strcmp(s, "true") || !strcmp(s, "false")) {
            *(bool *)dst = !strcmp(s, "true");
            return 0;
        }
        return plant_err(c, n, "%s: expected true or false, got '%s'", f->key, s);
    case F_TOD:
        if (plant_rd_parse_tod(s, (int *)dst) < 0)
            return plant_err(c, n, "%s: expected a time of day HH:MM, got '%s'", f->key,
                             s);
        return 0;
    case F_ENUM:
        if ((*(int *)dst = plant_rd_enum_index(f->names, s)) >= 0)
            return 0;
        plant_rd_enum_list(f->names, names, sizeof names);
        return plant_err(c, n, "%s: unknown value '%s' (expected %s)", f->key, s,
                         names);
    case F_SKIP:
        return 0;
    }
    return plant_err(c, n, "%s: bad field kind", f->key);
}

/* Reads the mapping node into base through fields; refuses unknown and
 * duplicate keys; sets bit i of *seen for each field i present. */
int plant_rd_read_fields(ctx_t *c, const yaml_node_t *node, const field_t *fields,
                         void *base, uint64_t *seen)
{
    *seen = 0;
    if (!node || node->type != YAML_MAPPING_NODE)
        return plant_err(c, node, "expected a mapping");
    YDOC_FOREACH_PAIR(p, node)
    {
        yaml_node_t *kn = ydoc_node(c->d, p->key);
        const char *k = ydoc_scalar(kn);
        size_t i = 0;
        while (k && fields[i].key && strcmp(fields[i].key, k))
            i++;
        if (!k || !fields[i].key)
            return plant_err(c, kn, "unknown key '%s'", k ? k : "?");
        if (*seen & (1ull << i))
            return plant_err(c, kn, "duplicate key '%s'", k);
        *seen |= 1ull << i;
        if (fields[i].kind != F_SKIP &&
            plant_rd_set_field(c, &fields[i], ydoc_node(c->d, p->value), base) < 0)
            return -1;
    }
    for (size_t i = 0; fields[i].key; i++)
        if (fields[i].required && !(*seen & (1ull << i)))
            return plant_err(c, node, "missing required key '%s'", fields[i].key);
    return 0;
}

bool plant_rd_seen_key(const field_t *fields, uint64_t seen, const char *key)
{
    for (size_t i = 0; fields[i].key; i++)
        if (!strcmp(fields[i].key, key))
            return seen & (1ull << i);
    return false;
}

/* A sequence node (or a missing key giving n = 0); error otherwise. */
int plant_rd_seq_len(ctx_t *c, const yaml_node_t *n, const char *key, size_t *len)
{
    *len = 0;
    if (!n || ydoc_is_null(n))
        return 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return plant_err(c, n, "%s: expected a list", key);
    *len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    return 0;
}

yaml_node_t *plant_rd_seq_item(ctx_t *c, const yaml_node_t *n, size_t i)
{
    return ydoc_node(c->d, n->data.sequence.items.start[i]);
}

/* Names the object in messages: by its id when it has one, else by index. */
void plant_rd_set_what(ctx_t *c, const yaml_node_t *n, const char *kind,
                       const char *list, size_t idx)
{
    const char *id = ydoc_scalar(ydoc_get(c->d, n, "id"));
    if (id)
        snprintf(c->what, sizeof c->what, "%s %s", kind, id);
    else
        snprintf(c->what, sizeof c->what, "%s[%zu]", list, idx);
}

int plant_rd_check_id(ctx_t *c, const yaml_node_t *n, const char *id)
{
    for (const char *s = id; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
            return plant_err(c, n, "id '%s': only letters, digits, '.', '_' and '-'",
                             id);
    return *id ? 0 : plant_err(c, n, "id: must not be empty");
}
