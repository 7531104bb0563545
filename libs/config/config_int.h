/*
 * config internals shared by config.c (tables, loading) and config_dump.c
 * (--dump-config, Markdown). Not part of the public API.
 */
#ifndef EMS_CONFIG_CONFIG_INT_H
#define EMS_CONFIG_CONFIG_INT_H

#include <stdio.h>

#include "config/config.h"
#include "config/owned.h"

typedef struct cfg_entry {
    const cfg_option_t *opt;
    void *base;
    const char *def; /* opt->def or an override owned by cfg */
    cfg_source_t src;
    int line; /* file line of the value when src == CFG_SRC_FILE */
    char env[128];
} cfg_entry_t;

struct cfg_s {
    cfg_entry_t *e;
    size_t n, cap;
    owned_t owned;  /* everything handed to caller structs */
    char name[256]; /* the file name, for messages */
};

static inline void full_key(const cfg_option_t *o, char *buf, size_t n)
{
    if (*o->section)
        snprintf(buf, n, "%s.%s", o->section, o->key);
    else
        snprintf(buf, n, "%s", o->key);
}

static inline bool has_range(const cfg_option_t *o)
{
    return o->min < o->max;
}

/* Whether a pass-through map's key names a credential (its value is
 * printed as "***"). config_dump.c. */
int cfg_key_is_sensitive(const char *k);

#endif
