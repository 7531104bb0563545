#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_int.h"
#include "config/ydoc.h"

/* Location of a value in messages: "FILE:LINE" or "env EMS_X". */
typedef struct where {
    const char *file;
    int line;
    const char *env;
} where_t;

static const char *const type_names[] = {
    [CFG_STRING] = "string",         [CFG_INT] = "int",
    [CFG_DOUBLE] = "double",         [CFG_BOOL] = "bool",
    [CFG_SECRET] = "secret",         [CFG_DURATION_MS] = "duration-ms",
    [CFG_STRING_MAP] = "string-map", [CFG_STRING_LIST] = "string-list",
};

const char *cfg_type_name(cfg_type_t type)
{
    if ((size_t)type >= sizeof type_names / sizeof type_names[0])
        return "?";
    return type_names[type];
}

cfg_t *cfg_new(void)
{
    return calloc(1, sizeof(cfg_t));
}

void cfg_destroy(cfg_t *cfg)
{
    if (!cfg)
        return;
    owned_release(&cfg->owned);
    free(cfg->e);
    free(cfg);
}

/* Takes ownership of p (freed by cfg_destroy); on failure frees p and returns
 * NULL. */
static void *own(cfg_t *cfg, void *p)
{
    return owned_add(&cfg->owned, p);
}

static char *own_strdup(cfg_t *cfg, const char *s)
{
    return own(cfg, strdup(s));
}

char *cfg_env_name(const char *section, const char *key, char *buf, size_t size)
{
    if (section && *section)
        snprintf(buf, size, "EMS_%s_%s", section, key);
    else
        snprintf(buf, size, "EMS_%s", key);
    for (char *c = buf; *c; c++) {
        if (*c == '.' || *c == '-')
            *c = '_';
        else
            *c = (char)toupper((unsigned char)*c);
    }
    return buf;
}

static cfg_entry_t *find(const cfg_t *cfg, const char *section, const char *key)
{
    for (size_t i = 0; i < cfg->n; i++) {
        const cfg_option_t *o = cfg->e[i].opt;
        if (!strcmp(o->section, section) && !strcmp(o->key, key))
            return &cfg->e[i];
    }
    return NULL;
}

static bool section_known(const cfg_t *cfg, const char *section)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (*section && !strcmp(cfg->e[i].opt->section, section))
            return true;
    return false;
}

int cfg_add_table(cfg_t *cfg, const cfg_option_t *table, void *base, char *errstr,
                  size_t errstr_size)
{
    for (const cfg_option_t *o = table; o->key; o++) {
        if (!o->section || find(cfg, o->section, o->key)) {
            snprintf(errstr, errstr_size, "%s.%s: option registered twice",
                     o->section ? o->section : "(null)", o->key);
            return -1;
        }
        if (cfg->n == cfg->cap) {
            size_t cap = cfg->cap ? cfg->cap * 2 : 32;
            cfg_entry_t *e = realloc(cfg->e, cap * sizeof *e);
            if (!e) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
            }
            cfg->e = e;
            cfg->cap = cap;
        }
        cfg_entry_t *e = &cfg->e[cfg->n++];
        memset(e, 0, sizeof *e);
        e->opt = o;
        e->base = base;
        e->def = o->def;
        cfg_env_name(o->section, o->key, e->env, sizeof e->env);
    }
    return 0;
}

int cfg_set_default(cfg_t *cfg, const char *section, const char *key, const char *value,
                    char *errstr, size_t errstr_size)
{
    cfg_entry_t *e = find(cfg, section, key);
    if (!e) {
        snprintf(errstr, errstr_size, "%s.%s: no such option", section, key);
        return -1;
    }
    e->def = value ? own_strdup(cfg, value) : NULL;
    if (value && !e->def) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    return 0;
}

cfg_source_t cfg_source(const cfg_t *cfg, const char *section, const char *key)
{
    const cfg_entry_t *e = find(cfg, section, key);
    return e ? e->src : CFG_SRC_DEFAULT;
}

/* ---- value parsing: each returns 0, or -1 with a reason in why ---- */

static void *field(const cfg_entry_t *e)
{
    return (char *)e->base + e->opt->offset;
}

/* A step as the file would write it: "15m" rather than 900000. */
static void step_text(const cfg_option_t *o, char *buf, size_t n)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"h", 3.6e6}, {"m", 6e4}, {"s", 1e3}};

    if (o->type == CFG_DURATION_MS)
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (fmod(o->step, units[i].ms) == 0) {
                snprintf(buf, n, "%g%s", o->step / units[i].ms, units[i].unit);
                return;
            }
    snprintf(buf, n, "%g%s", o->step, o->type == CFG_DURATION_MS ? "ms" : "");
}

static int check_range(const cfg_option_t *o, double v, const char *text, char *why,
                       size_t n)
{
    char step[32];

    if (has_range(o) && (v < o->min || v > o->max)) {
        snprintf(why, n, "value %s out of range [%g, %g]", text, o->min, o->max);
        return -1;
    }
    if (o->step > 0 && fmod(v, o->step) != 0) {
        step_text(o, step, sizeof step);
        snprintf(why, n, "value %s is not a multiple of %s", text, step);
        return -1;
    }
    return 0;
}

static int parse_int(const cfg_option_t *o, const char *s, int64_t *out, char *why,
                     size_t n)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    /* strtoll skips leading blanks: " 8080" is not the integer it looks like */
    if (!*s || isspace((unsigned char)*s) || *end || errno) {
        snprintf(why, n, "expected an integer, got '%s'", s);
        return -1;
    }
    *out = v;
    return check_range(o, (double)v, s, why, n);
}

static int parse_double(const cfg_option_t *o, const char *s, double *out, char *why,
                        size_t n)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || isspace((unsigned char)*s) || *end || errno || !isfinite(v)) {
        snprintf(why, n, "expected a number, got '%s'", s);
        return -1;
    }
    *out = v;
    return check_range(o, v, s, why, n);
}

static int parse_bool(const char *s, bool *out, char *why, size_t n)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
            *out = !strcasecmp(s, yes[i]);
            return 0;
        }
    }
    snprintf(why, n, "expected true or false, got '%s'", s);
    return -1;
}

/* "250ms", "5s", "2m", "1h", "1.5s" or a bare number of milliseconds. */
static int parse_duration(const cfg_option_t *o, const char *s, int64_t *out, char *why,
                          size_t n)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"", 1}, {"ms", 1}, {"s", 1e3}, {"m", 6e4}, {"h", 3.6e6}};
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*s && end != s && !errno && isfinite(v) && v >= 0) {
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            if (!strcmp(end, units[i].unit) && v * units[i].ms < 9.2e18) {
                *out = (int64_t)llround(v * units[i].ms);
                return check_range(o, (double)*out, s, why, n);
            }
        }
    }
    snprintf(why, n, "expected a duration such as 500ms, 5s, 2m or 1h, got '%s'", s);
    return -1;
}

static int check_choice(const cfg_option_t *o, const char *s, char *why, size_t n)
{
    if (!o->choices)
        return 0;
    size_t len = strlen(s);
    for (const char *c = o->choices; *c;) {
        const char *bar = strchr(c, '|');
        size_t clen = bar ? (size_t)(bar - c) : strlen(c);
        if (clen == len && !strncmp(c, s, len))
            return 0;
        if (!bar)
            break;
        c = bar + 1;
    }
    snprintf(why, n, "'%s' is not one of %s", s, o->choices);
    return -1;
}

/* A secret "file:/path" is the file's content with surrounding blanks cut.
 * A file the buffer cannot hold whole, or with a NUL byte, is refused: cut
 * short, it would give a credential that is not the file's. */
static char *read_secret(const char *path, char *why, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, n, "cannot read secret file '%s' (%s)", path, strerror(errno));
        return NULL;
    }
    char buf[65536];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    bool err = ferror(f), more = !err && fgetc(f) != EOF;
    fclose(f);
    if (err) {
        snprintf(why, n, "cannot read secret file '%s'", path);
        return NULL;
    }
    if (more || memchr(buf, '\0', len)) {
        snprintf(why, n, "secret file '%s' %s", path,
                 more ? "is too large (at most 65535 bytes)" : "holds a NUL byte");
        return NULL;
    }
    buf[len] = '\0';
    char *s = buf;
    while (isspace((unsigned char)*s))
        s++;
    while (len > (size_t)(s - buf) && isspace((unsigned char)buf[len - 1]))
        buf[--len] = '\0';
    return strdup(s);
}

/* Builds a NULL-terminated array of n owned strings copied from items. */
static const char *const *own_array(cfg_t *cfg, char **items, size_t n)
{
    char **a = own(cfg, calloc(n + 1, sizeof *a));
    if (!a)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(a[i] = own_strdup(cfg, items[i])))
            return NULL;
    return (const char *const *)a;
}

/* Stores copies of the cnt strings of items in e's value: cnt / 2 key and
 * value pairs for a string-map option, else a string-list. The caller keeps
 * items. 0, or -1 with why out of memory. */
static int set_items(cfg_t *cfg, cfg_entry_t *e, char **items, size_t cnt, char *why,
                     size_t n)
{
    const char *const *a = own_array(cfg, items, cnt);
    if (!a) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    if (e->opt->type == CFG_STRING_MAP)
        *(cfg_strmap_t *)field(e) = (cfg_strmap_t){cnt / 2, a};
    else
        *(cfg_strlist_t *)field(e) = (cfg_strlist_t){cnt, a};
    return 0;
}

/* Splits "a,b,c" (blanks around items cut; "" gives no item) into a list,
 * or "k=v,k2=v2" into a map when as_map. */
static int parse_split(cfg_t *cfg, cfg_entry_t *e, const char *s, bool as_map,
                       char *why, size_t n)
{
    char *copy = own_strdup(cfg, s);
    size_t cap = strlen(s) + 2, cnt = 0;
    char **items = calloc(2 * cap, sizeof *items);
    if (!copy || !items) {
        free(items);
        snprintf(why, n, "out of memory");
        return -1;
    }
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*t))
            t++;
        for (char *z = t + strlen(t); z > t && isspace((unsigned char)z[-1]);)
            *--z = '\0';
        if (!*t)
            continue;
        char *eq = as_map ? strchr(t, '=') : NULL;
        if (as_map && !eq) {
            /* the item is not echoed: it may be the tail of a password
             * that held a ',' */
            snprintf(why, n,
                     "expected key=value pairs separated by ',': item %zu "
                     "has no '='",
                     cnt / 2 + 1);
            free(items);
            return -1;
        }
        if (eq)
            *eq = '\0';
        items[cnt++] = t;
        if (eq) {
            char *v = eq + 1;
            /* "file:/path" reads a credential from a mounted file, as in
             * the YAML form */
            if (!strncmp(v, "file:", 5) &&
                !(v = own(cfg, read_secret(v + 5, why, n)))) {
                free(items);
                return -1;
            }
            items[cnt++] = v;
        }
    }
    int rc = set_items(cfg, e, items, cnt, why, n);
    free(items);
    return rc;
}

static int set_string(cfg_t *cfg, cfg_entry_t *e, const char *s, bool is_null,
                      char *why, size_t n)
{
    char *v = NULL;
    if (!is_null && e->opt->type == CFG_SECRET && !strncmp(s, "file:", 5)) {
        if (!(v = own(cfg, read_secret(s + 5, why, n))))
            return -1;
    } else if (!is_null) {
        if (check_choice(e->opt, s, why, n) < 0)
            return -1;
        if (!(v = own_strdup(cfg, s))) {
            snprintf(why, n, "out of memory");
            return -1;
        }
    }
    *(const char **)field(e) = v;
    return 0;
}

/* Parses text (a default, a YAML scalar or an environment value) into the
 * field of e. */
static int set_text(cfg_t *cfg, cfg_entry_t *e, const char *s, bool is_null, char *why,
                    size_t n)
{
    const cfg_option_t *o = e->opt;
    switch (o->type) {
    case CFG_STRING:
    case CFG_SECRET:
        return set_string(cfg, e, s, is_null, why, n);
    case CFG_INT:
        return parse_int(o, s, (int64_t *)field(e), why, n);
    case CFG_DOUBLE:
        return parse_double(o, s, (double *)field(e), why, n);
    case CFG_BOOL:
        return parse_bool(s, (bool *)field(e), why, n);
    case CFG_DURATION_MS:
        return parse_duration(o, s, (int64_t *)field(e), why, n);
    case CFG_STRING_MAP:
        return parse_split(cfg, e, is_null ? "" : s, true, why, n);
    case CFG_STRING_LIST:
        return parse_split(cfg, e, is_null ? "" : s, false, why, n);
    }
    snprintf(why, n, "unknown option type");
    return -1;
}

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return "a scalar";
    }
}

/* A YAML mapping of scalars into a string-map. */
static int set_map(cfg_t *cfg, cfg_entry_t *e, ydoc_t *d, yaml_node_t *node, char *why,
                   size_t n)
{
    size_t cnt = 0, np = node->data.mapping.pairs.top - node->data.mapping.pairs.start;
    char **items = calloc(2 * np + 1, sizeof *items);
    if (!items) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    YDOC_FOREACH_PAIR(p, node)
    {
        const char *k = ydoc_scalar(ydoc_node(d, p->key));
        const char *v = ydoc_scalar(ydoc_node(d, p->value));
        if (!k || !v) {
            snprintf(why, n, "expected a mapping of scalar keys to scalar values");
            free(items);
            return -1;
        }
        items[cnt++] = (char *)k;
        /* Pass-through maps carry credentials too (sasl.password, ...):
         * "file:/path" reads them from a mounted file, as for secrets. */
        if (!strncmp(v, "file:", 5)) {
            if (!(v = own(cfg, read_secret(v + 5, why, n)))) {
                free(items);
                return -1;
            }
        }
        items[cnt++] = (char *)v;
    }
    int rc = set_items(cfg, e, items, cnt, why, n);
    free(items);
    return rc;
}

/* A YAML sequence of scalars (or a single scalar) into a string-list. */
static int set_list(cfg_t *cfg, cfg_entry_t *e, ydoc_t *d, yaml_node_t *node, char *why,
                    size_t n)
{
    if (node->type == YAML_SCALAR_NODE) {
        char *one = (char *)ydoc_scalar(node);
        return set_items(cfg, e, &one, ydoc_is_null(node) ? 0 : 1, why, n);
    }
    size_t cnt = 0,
           ni = node->data.sequence.items.top - node->data.sequence.items.start;
    char **items = calloc(ni + 1, sizeof *items);
    if (!items) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    YDOC_FOREACH_ITEM(it, node)
    {
        if (!(items[cnt++] = (char *)ydoc_scalar(ydoc_node(d, *it)))) {
            snprintf(why, n, "expected a list of scalars");
            free(items);
            return -1;
        }
    }
    int rc = set_items(cfg, e, items, cnt, why, n);
    free(items);
    return rc;
}

static int set_node(cfg_t *cfg, cfg_entry_t *e, ydoc_t *d, yaml_node_t *node, char *why,
                    size_t n)
{
    cfg_type_t t = e->opt->type;
    if (t == CFG_STRING_MAP && node->type == YAML_MAPPING_NODE)
        return set_map(cfg, e, d, node, why, n);
    if (t == CFG_STRING_MAP && ydoc_is_null(node))
        return set_text(cfg, e, "", true, why, n);
    if (t == CFG_STRING_LIST && node->type != YAML_MAPPING_NODE)
        return set_list(cfg, e, d, node, why, n);
    if (t != CFG_STRING_MAP && t != CFG_STRING_LIST && node->type == YAML_SCALAR_NODE)
        return set_text(cfg, e, ydoc_scalar(node), ydoc_is_null(node), why, n);
    snprintf(why, n, "expected %s, got %s",
             t == CFG_STRING_MAP    ? "a mapping"
             : t == CFG_STRING_LIST ? "a list"
                                    : "a scalar",
             node_kind(node));
    return -1;
}

/* ---- loading ---- */

static int fail(const where_t *w, const char *key, const char *why, char *errstr,
                size_t errstr_size)
{
    if (w->env)
        snprintf(errstr, errstr_size, "env %s: %s: %s", w->env, key, why);
    else
        snprintf(errstr, errstr_size, "%s:%d: %s: %s", w->file, w->line, key, why);
    return -1;
}

static int fail_entry(const where_t *w, const cfg_entry_t *e, const char *why,
                      char *errstr, size_t errstr_size)
{
    char key[256];
    full_key(e->opt, key, sizeof key);
    return fail(w, key, why, errstr, errstr_size);
}

/* The value of an option with no default: NULL, 0, false or empty. */
static int zero_field(cfg_t *cfg, cfg_entry_t *e)
{
    char why[64];
    switch (e->opt->type) {
    case CFG_STRING:
    case CFG_SECRET:
        *(const char **)field(e) = NULL;
        return 0;
    case CFG_INT:
    case CFG_DURATION_MS:
        *(int64_t *)field(e) = 0;
        return 0;
    case CFG_DOUBLE:
        *(double *)field(e) = 0;
        return 0;
    case CFG_BOOL:
        *(bool *)field(e) = false;
        return 0;
    case CFG_STRING_MAP:
    case CFG_STRING_LIST:
        return set_text(cfg, e, "", true, why, sizeof why);
    }
    return -1;
}

static int apply_defaults(cfg_t *cfg, char *errstr, size_t errstr_size)
{
    char why[512];
    for (size_t i = 0; i < cfg->n; i++) {
        cfg_entry_t *e = &cfg->e[i];
        e->src = CFG_SRC_DEFAULT;
        if (!e->def && zero_field(cfg, e) == 0)
            continue;
        if (e->def && set_text(cfg, e, e->def, false, why, sizeof why) == 0)
            continue;
        if (!e->def)
            snprintf(why, sizeof why, "out of memory");
        where_t w = {.file = "default", .line = 0};
        return fail_entry(&w, e, why, errstr, errstr_size);
    }
    return 0;
}

static int apply_value(cfg_t *cfg, cfg_entry_t *e, ydoc_t *d, yaml_node_t *key,
                       yaml_node_t *val, char *errstr, size_t errstr_size)
{
    char why[512];
    where_t w = {.file = d->name, .line = ydoc_line(key)};
    if (e->src == CFG_SRC_FILE) {
        snprintf(why, sizeof why, "duplicate key (first at line %d)", e->line);
        return fail_entry(&w, e, why, errstr, errstr_size);
    }
    w.line = ydoc_line(val);
    if (set_node(cfg, e, d, val, why, sizeof why) < 0)
        return fail_entry(&w, e, why, errstr, errstr_size);
    e->src = CFG_SRC_FILE;
    e->line = ydoc_line(val);
    return 0;
}

static int apply_section(cfg_t *cfg, ydoc_t *d, const char *sname, yaml_node_t *sec,
                         char *errstr, size_t errstr_size)
{
    where_t w = {.file = d->name, .line = ydoc_line(sec)};
    if (ydoc_is_null(sec))
        return 0;
    if (sec->type != YAML_MAPPING_NODE)
        return fail(&w, sname, "a section must be a mapping of keys", errstr,
                    errstr_size);
    YDOC_FOREACH_PAIR(p, sec)
    {
        yaml_node_t *kn = ydoc_node(d, p->key);
        const char *k = ydoc_scalar(kn);
        w.line = ydoc_line(kn);
        if (!k)
            return fail(&w, sname, "keys must be scalars", errstr, errstr_size);
        cfg_entry_t *e = find(cfg, sname, k);
        if (!e) {
            char key[256];
            snprintf(key, sizeof key, "%s.%s", sname, k);
            return fail(&w, key, "unknown key", errstr, errstr_size);
        }
        if (apply_value(cfg, e, d, kn, ydoc_node(d, p->value), errstr, errstr_size) < 0)
            return -1;
    }
    return 0;
}

static int apply_file(cfg_t *cfg, ydoc_t *d, char *errstr, size_t errstr_size)
{
    yaml_node_t *root = ydoc_root(d);
    if (!root || ydoc_is_null(root))
        return 0;
    where_t w = {.file = d->name, .line = ydoc_line(root)};
    if (root->type != YAML_MAPPING_NODE)
        return fail(&w, "(top)", "the file must be a mapping of sections", errstr,
                    errstr_size);
    YDOC_FOREACH_PAIR(p, root)
    {
        yaml_node_t *kn = ydoc_node(d, p->key);
        const char *name = ydoc_scalar(kn);
        w.line = ydoc_line(kn);
        if (!name)
            return fail(&w, "(top)", "section names must be scalars", errstr,
                        errstr_size);
        for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < p; q++) {
            const char *prev = ydoc_scalar(ydoc_node(d, q->key));
            if (prev && !strcmp(prev, name))
                return fail(&w, name, "duplicate section", errstr, errstr_size);
        }
        yaml_node_t *val = ydoc_node(d, p->value);
        cfg_entry_t *top = find(cfg, "", name);
        int rc;
        if (top)
            rc = apply_value(cfg, top, d, kn, val, errstr, errstr_size);
        else if (section_known(cfg, name))
            rc = apply_section(cfg, d, name, val, errstr, errstr_size);
        else
            rc = fail(&w, name, "unknown section", errstr, errstr_size);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int apply_env(cfg_t *cfg, char *errstr, size_t errstr_size)
{
    char why[512];
    for (size_t i = 0; i < cfg->n; i++) {
        cfg_entry_t *e = &cfg->e[i];
        const char *v = getenv(e->env);
        if (!v)
            continue;
        if (set_text(cfg, e, v, false, why, sizeof why) < 0) {
            where_t w = {.env = e->env};
            return fail_entry(&w, e, why, errstr, errstr_size);
        }
        e->src = CFG_SRC_ENV;
    }
    return 0;
}

static int check_required(cfg_t *cfg, ydoc_t *d, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < cfg->n; i++) {
        cfg_entry_t *e = &cfg->e[i];
        cfg_type_t t = e->opt->type;
        bool empty = (t == CFG_STRING || t == CFG_SECRET) && !*(const char **)field(e);
        if (!e->opt->required || (e->src != CFG_SRC_DEFAULT && !empty))
            continue;
        char why[256];
        snprintf(why, sizeof why, "required key is %s (set it in the file or %s)",
                 e->src == CFG_SRC_DEFAULT ? "missing" : "empty", e->env);
        if (e->src == CFG_SRC_ENV) {
            where_t w = {.env = e->env};
            return fail_entry(&w, e, why, errstr, errstr_size);
        }
        yaml_node_t *sec = d ? ydoc_get(d, ydoc_root(d), e->opt->section) : NULL;
        where_t w = {.file = cfg->name, .line = sec ? ydoc_line(sec) : 1};
        if (e->src == CFG_SRC_FILE)
            w.line = e->line;
        return fail_entry(&w, e, why, errstr, errstr_size);
    }
    return 0;
}

static int load_doc(cfg_t *cfg, ydoc_t *d, char *errstr, size_t errstr_size)
{
    if (apply_defaults(cfg, errstr, errstr_size) < 0)
        return -1;
    if (d && apply_file(cfg, d, errstr, errstr_size) < 0)
        return -1;
    if (apply_env(cfg, errstr, errstr_size) < 0)
        return -1;
    return check_required(cfg, d, errstr, errstr_size);
}

int cfg_load(cfg_t *cfg, const char *path, char *errstr, size_t errstr_size)
{
    snprintf(cfg->name, sizeof cfg->name, "%s", path ? path : "(no file)");
    if (!path)
        return load_doc(cfg, NULL, errstr, errstr_size);
    ydoc_t d;
    if (ydoc_load_file(&d, path, errstr, errstr_size) < 0)
        return -1;
    int rc = load_doc(cfg, &d, errstr, errstr_size);
    ydoc_release(&d);
    return rc;
}

int cfg_load_string(cfg_t *cfg, const char *name, const char *text, size_t len,
                    char *errstr, size_t errstr_size)
{
    ydoc_t d;
    snprintf(cfg->name, sizeof cfg->name, "%s", name ? name : "(string)");
    if (ydoc_load_string(&d, cfg->name, text, len, errstr, errstr_size) < 0)
        return -1;
    int rc = load_doc(cfg, &d, errstr, errstr_size);
    ydoc_release(&d);
    return rc;
}
