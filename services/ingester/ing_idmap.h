/*
 * ing_idmap: site and meter ids (at most ING_ID_MAX - 1 bytes) mapped to a
 * size_t, in one open-addressing table (FNV-1a, linear probing, at most
 * half full). Used on the hot path, once a reading: where a sorted array
 * costs ten string compares a look-up, this costs one hash and about one.
 * No I/O; one thread at a time.
 */
#ifndef EMS_INGESTER_ING_IDMAP_H
#define EMS_INGESTER_ING_IDMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ing_idmap ing_idmap_t;

ing_idmap_t *ing_idmap_new(void);
void ing_idmap_destroy(ing_idmap_t *m);

/* The value of id in *value; false when id is not in the map. */
bool ing_idmap_get(const ing_idmap_t *m, const char *id, size_t *value);

/* Sets id to value (added or replaced). 0, or -1 when out of memory or id
 * is empty or too long (the map is unchanged). */
int ing_idmap_put(ing_idmap_t *m, const char *id, size_t value);

/* Entries in the map. */
size_t ing_idmap_count(const ing_idmap_t *m);

/* Writes every value into out (room for ing_idmap_count() of them), in no
 * particular order; returns how many. */
size_t ing_idmap_values(const ing_idmap_t *m, size_t *out);

/* Empties the map (its memory is kept for the next fill). */
void ing_idmap_clear(ing_idmap_t *m);

#endif
