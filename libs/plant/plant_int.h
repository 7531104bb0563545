/*
 * plant internals shared by plant.c (loading, validation) and plant_query.c
 * (look-ups, tariffs, register codec). Not part of the public API.
 */
#ifndef EMS_PLANT_PLANT_INT_H
#define EMS_PLANT_PLANT_INT_H

#include "config/owned.h"
#include "config/ydoc.h"
#include "plant/plant.h"

struct plant_s {
    plant_site_t *sites;
    size_t nsites;
    plant_meter_t *meters;
    size_t nmeters;
    plant_equipment_t *equipment;
    size_t nequipment;
    owned_t owned; /* every allocation of the model, freed by plant_destroy() */
};

extern const char *const plant_quantity_names[];
extern const char *const plant_dtype_names[];
extern const char *const plant_meter_kind_names[];
extern const char *const plant_equipment_kind_names[];

/* The state of one load: messages are "FILE:LINE: what: reason". */
typedef struct ctx {
    plant_t *p;
    ydoc_t *d;
    char *errstr;
    size_t errstr_size;
    char what[160]; /* "meter m1", "site nl-1", ... prefix of messages */
} ctx_t;

/* Fills c->errstr with "FILE:LINE: what: msg" (line of node n) and returns
 * -1. */
int plant_err(ctx_t *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A stand-in node carrying only a line, for messages about stored objects. */
#define LINE_NODE(c, l) (&(yaml_node_t){.start_mark = {.line = (size_t)(l)-1}})
/* Cross-object checks; 0 or -1 with c->errstr. */
int plant_check_refs(ctx_t *c);

/* ---- field tables: one per YAML object kind ---- */

typedef enum {
    F_STR,  /* const char * */
    F_NUM,  /* double, range when min < max */
    F_INT,  /* int, range when min < max */
    F_BOOL, /* bool */
    F_TOD,  /* int minute of day from "HH:MM" (24:00 allowed) */
    F_ENUM, /* int index into names */
    F_SKIP, /* handled by the caller (nested objects, lists) */
} fkind_t;

typedef struct field {
    const char *key;
    fkind_t kind;
    size_t off;
    bool required;
    double min, max;
    const char *const *names; /* F_ENUM: NULL-terminated */
} field_t;

/* Model-owned allocations (freed by plant_destroy()); NULL on failure. */
void *plant_rd_own(ctx_t *c, void *ptr);
void *plant_rd_own_array(ctx_t *c, size_t n, size_t size);
/* "HH:MM" (24:00 allowed) into minutes; 0 or -1. */
int plant_rd_parse_tod(const char *s, int *out);
/* Index of s in a NULL-terminated name list, or -1. */
int plant_rd_enum_index(const char *const *names, const char *s);
/* Reads mapping node into base through fields; refuses unknown and duplicate
 * keys and missing required ones; bit i of *seen tells field i was present. */
int plant_rd_read_fields(ctx_t *c, const yaml_node_t *node, const field_t *fields,
                         void *base, uint64_t *seen);
bool plant_rd_seen_key(const field_t *fields, uint64_t seen, const char *key);
/* Length of a list node (0 when n is absent or null); -1 if not a list. */
int plant_rd_seq_len(ctx_t *c, const yaml_node_t *n, const char *key, size_t *len);
yaml_node_t *plant_rd_seq_item(ctx_t *c, const yaml_node_t *n, size_t i);
/* Sets c->what to "kind ID" (or "list[idx]" while the id is unknown). */
void plant_rd_set_what(ctx_t *c, const yaml_node_t *n, const char *kind,
                       const char *list, size_t idx);
/* Ids are letters, digits, '.', '_' and '-'; 0 or -1 with a message. */
int plant_rd_check_id(ctx_t *c, const yaml_node_t *n, const char *id);

#endif
