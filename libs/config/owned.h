/*
 * owned: the heap blocks an object keeps until it is destroyed, freed all
 * at once. The config and plant loaders hand out strings and arrays that
 * point into such blocks.
 */
#ifndef EMS_CONFIG_OWNED_H
#define EMS_CONFIG_OWNED_H

#include <stddef.h>

/* Zero-initialised, it is an empty list. */
typedef struct owned {
    void **blocks;
    size_t n, cap;
} owned_t;

/* Takes p into o and returns it, or returns NULL when p is NULL or out of
 * memory (p is then freed): owned_add(o, malloc(...)) needs one check. */
void *owned_add(owned_t *o, void *p);
/* Frees every block taken and the list; o is empty again. */
void owned_release(owned_t *o);

#endif
