/*
 * owned: the heap blocks of an object (see owned.h).
 */
#include "config/owned.h"

#include <stdlib.h>

void *owned_add(owned_t *o, void *p)
{
    if (!p)
        return NULL;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        void **b = realloc(o->blocks, cap * sizeof *b);
        if (!b) {
            free(p);
            return NULL;
        }
        o->blocks = b;
        o->cap = cap;
    }
    o->blocks[o->n++] = p;
    return p;
}

void owned_release(owned_t *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->blocks[i]);
    free(o->blocks);
    *o = (owned_t){0};
}
