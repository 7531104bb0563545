/*
 * config: a service's settings, read from one YAML file into plain structs
 * through declarative option tables (in the spirit of librdkafka's property
 * table and fluent-bit's config_map).
 *
 * The file is a mapping of sections, each a mapping of keys:
 *
 *   log:
 *     level: info
 *   bus:
 *     bootstrap: 127.0.0.1:19092
 *     kafka:                          # a string-map: passed through as is
 *       security.protocol: SSL
 *
 * Each option row names its section and key, its type, a default (as text,
 * parsed like a file value), an optional range, whether it is required, and
 * the offsetof() of the field it fills in a caller struct. A service adds
 * several tables (the common ones in config/common.h, then its own), each
 * with the base address of the struct it fills, then calls cfg_load().
 *
 * Precedence, highest first: environment EMS_<SECTION>_<KEY> (upper-cased,
 * '.' and '-' become '_'), then the file, then the default. Unknown sections
 * or keys, wrong types, out-of-range values, missing required keys and broken
 * YAML make cfg_load() fail with one line in errstr:
 *   "FILE:LINE: section.key: reason"
 * (for an environment value, "env EMS_X_Y: section.key: reason").
 *
 * Ownership: strings, lists and maps written into caller structs belong to
 * the cfg handle and stay valid until cfg_destroy(). Callers must not free
 * them. Not thread-safe: load once at start-up, then read the structs from
 * any thread.
 */
#ifndef EMS_CONFIG_CONFIG_H
#define EMS_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cfg_s cfg_t;

/* The field type each option fills (C type in brackets). */
typedef enum {
    CFG_STRING,      /* const char *  (NULL when unset and no default) */
    CFG_INT,         /* int64_t       (range checked when min < max) */
    CFG_DOUBLE,      /* double        (range checked when min < max) */
    CFG_BOOL,        /* bool          true/false, yes/no, on/off, 1/0 */
    CFG_SECRET,      /* const char *  "file:/path" reads the file, trimmed;
                        masked as "***" by cfg_dump() */
    CFG_DURATION_MS, /* int64_t ms    "250ms", "5s", "2m", "1h", or a bare
                        number of milliseconds; range in ms */
    CFG_STRING_MAP,  /* cfg_strmap_t  a YAML mapping of scalars; env form
                        "k1=v1,k2=v2" */
    CFG_STRING_LIST, /* cfg_strlist_t a YAML sequence of scalars (or one
                        scalar); env form "a,b,c" */
} cfg_type_t;

/* A pass-through map. kv is NULL-terminated: k0, v0, k1, v1, ..., NULL, in
 * file order, so it can be handed to bus_conf_t.kafka_props directly. */
typedef struct cfg_strmap {
    size_t n;              /* number of pairs */
    const char *const *kv; /* never NULL after cfg_load(): at least {NULL} */
} cfg_strmap_t;

/* A list of strings; items is NULL-terminated. */
typedef struct cfg_strlist {
    size_t n;
    const char *const *items; /* never NULL after cfg_load() */
} cfg_strlist_t;

/* One row of an option table. A table ends with a row whose key is NULL
 * (CFG_END). Use designated initializers; unused fields are zero. */
typedef struct cfg_option {
    const char *section; /* "bus"; "" for a top-level key */
    const char *key;     /* "bootstrap"; NULL ends the table */
    cfg_type_t type;
    const char *def;     /* default as text; NULL = none (zero / NULL) */
    double min, max;     /* numeric range, inclusive; ignored unless min < max */
    double step;         /* numeric: the value must be a whole multiple of step
                            (ms for durations); 0 = any value */
    bool required;       /* must come from the file or the environment */
    size_t offset;       /* offsetof(struct, field) in the caller struct */
    const char *desc;    /* one sentence, for docs and --dump-config */
    const char *choices; /* optional for strings: "debug|info|warn|error" */
} cfg_option_t;

#define CFG_END                                                                        \
    {                                                                                  \
        .key = NULL                                                                    \
    }

/* Returns an empty handle or NULL on allocation failure. */
cfg_t *cfg_new(void);
/* Frees the handle and every string, list and map it put into caller
 * structs. NULL is a no-op. */
void cfg_destroy(cfg_t *cfg);

/* Registers a table (borrowed: must outlive cfg, normally a static const
 * array) whose fields live in the struct at base (borrowed too). Returns 0,
 * or -1 with errstr when a section.key is already registered. */
int cfg_add_table(cfg_t *cfg, const cfg_option_t *table, void *base, char *errstr,
                  size_t errstr_size);

/* Overrides the default of a registered section.key before cfg_load() (a
 * service's own HTTP port, say). value is copied. Returns 0, or -1 with
 * errstr when the key is not registered. */
int cfg_set_default(cfg_t *cfg, const char *section, const char *key, const char *value,
                    char *errstr, size_t errstr_size);

/* Applies defaults, then the YAML file at path (NULL: no file), then the
 * environment, validates, and fills every registered struct. Returns 0, or -1
 * with a one-line errstr ("FILE:LINE: section.key: reason"). After a failure
 * the structs may be partly filled; the caller should exit. Call once. */
int cfg_load(cfg_t *cfg, const char *path, char *errstr, size_t errstr_size);
/* As cfg_load() but parses text (len bytes); name stands for the file name
 * in messages and the dump. For tests and embedded configs. */
int cfg_load_string(cfg_t *cfg, const char *name, const char *text, size_t len,
                    char *errstr, size_t errstr_size);

/* Where an option's effective value came from. */
typedef enum { CFG_SRC_DEFAULT = 0, CFG_SRC_FILE, CFG_SRC_ENV } cfg_source_t;
/* Source of section.key after cfg_load(); CFG_SRC_DEFAULT if unknown. */
cfg_source_t cfg_source(const cfg_t *cfg, const char *section, const char *key);

/* Writes the effective configuration as YAML to out (for --dump-config),
 * every value followed by "# default", "# file:LINE" or "# env EMS_X". Secrets
 * print as "***". Returns 0, or -1 on a write error. */
int cfg_dump(const cfg_t *cfg, FILE *out);

/* Writes a Markdown table of one option table (key, type, default, range,
 * description), for generating docs. Returns 0 or -1 on a write error. */
int cfg_markdown(const cfg_option_t *table, FILE *out);

/* The environment variable name of section.key ("EMS_BUS_BOOTSTRAP") into
 * buf; returns buf. */
char *cfg_env_name(const char *section, const char *key, char *buf, size_t size);
/* "string", "int", ... */
const char *cfg_type_name(cfg_type_t type);

#endif
