/*
 * ing_idmap: ids to size_t in an open-addressing table (see ing_idmap.h).
 */
#include "ingester/ing_idmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingester/ing_types.h"

typedef struct slot {
    char id[ING_ID_MAX]; /* "" = free */
    size_t value;
} slot_t;

struct ing_idmap {
    slot_t *slots;
    size_t cap, count; /* cap a power of two, or 0 */
};

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

/* The slot holding id, or the free slot where it would go. */
static slot_t *find(const ing_idmap_t *m, const char *id)
{
    size_t i = (size_t)hash_id(id) & (m->cap - 1);

    while (m->slots[i].id[0] && strcmp(m->slots[i].id, id) != 0)
        i = (i + 1) & (m->cap - 1);
    return &m->slots[i];
}

ing_idmap_t *ing_idmap_new(void)
{
    return calloc(1, sizeof(ing_idmap_t));
}

void ing_idmap_destroy(ing_idmap_t *m)
{
    if (m)
        free(m->slots);
    free(m);
}

bool ing_idmap_get(const ing_idmap_t *m, const char *id, size_t *value)
{
    const slot_t *s;

    if (!m->count || !id[0])
        return false;
    s = find(m, id);
    if (!s->id[0])
        return false;
    *value = s->value;
    return true;
}

static int grow(ing_idmap_t *m)
{
    slot_t *old = m->slots;
    size_t oldcap = m->cap, cap = oldcap ? 2 * oldcap : 64;

    if (!(m->slots = calloc(cap, sizeof *m->slots))) {
        m->slots = old;
        return -1;
    }
    m->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].id[0])
            *find(m, old[i].id) = old[i];
    free(old);
    return 0;
}

int ing_idmap_put(ing_idmap_t *m, const char *id, size_t value)
{
    slot_t *s;
    size_t len = strlen(id);

    if (len == 0 || len >= ING_ID_MAX)
        return -1;
    if (2 * (m->count + 1) > m->cap && grow(m))
        return -1;
    s = find(m, id);
    if (!s->id[0]) {
        memcpy(s->id, id, len + 1);
        m->count++;
    }
    s->value = value;
    return 0;
}

size_t ing_idmap_count(const ing_idmap_t *m)
{
    return m->count;
}

size_t ing_idmap_values(const ing_idmap_t *m, size_t *out)
{
    size_t n = 0;

    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].id[0])
            out[n++] = m->slots[i].value;
    return n;
}

void ing_idmap_clear(ing_idmap_t *m)
{
    if (m->count)
        memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->count = 0;
}
