#include "config/ydoc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void set_name(ydoc_t *d, const char *name)
{
    snprintf(d->name, sizeof d->name, "%s", name ? name : "(string)");
}

/* libyaml reports 0-based marks; people count lines from 1. */
static void parser_error(const ydoc_t *d, const yaml_parser_t *p, char *errstr,
                         size_t errstr_size)
{
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->context)
        snprintf(errstr, errstr_size, "%s:%zu: yaml: %s %s", d->name,
                 p->problem_mark.line + 1, problem, p->context);
    else
        snprintf(errstr, errstr_size, "%s:%zu: yaml: %s", d->name,
                 p->problem_mark.line + 1, problem);
}

static int load(ydoc_t *d, yaml_parser_t *p, char *errstr, size_t errstr_size)
{
    if (!yaml_parser_load(p, &d->doc)) {
        parser_error(d, p, errstr, errstr_size);
        return -1;
    }
    d->loaded = true;
    return 0;
}

int ydoc_load_file(ydoc_t *d, const char *path, char *errstr, size_t errstr_size)
{
    memset(d, 0, sizeof *d);
    set_name(d, path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errstr_size, "%s: cannot open (%s)", path, strerror(errno));
        return -1;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        fclose(f);
        snprintf(errstr, errstr_size, "%s: out of memory", path);
        return -1;
    }
    yaml_parser_set_input_file(&p, f);
    int rc = load(d, &p, errstr, errstr_size);
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

int ydoc_load_string(ydoc_t *d, const char *name, const char *text, size_t len,
                     char *errstr, size_t errstr_size)
{
    memset(d, 0, sizeof *d);
    set_name(d, name);
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        snprintf(errstr, errstr_size, "%s: out of memory", d->name);
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int rc = load(d, &p, errstr, errstr_size);
    yaml_parser_delete(&p);
    return rc;
}

void ydoc_release(ydoc_t *d)
{
    if (d && d->loaded) {
        yaml_document_delete(&d->doc);
        d->loaded = false;
    }
}

yaml_node_t *ydoc_root(ydoc_t *d)
{
    return d->loaded ? yaml_document_get_root_node(&d->doc) : NULL;
}

yaml_node_t *ydoc_node(ydoc_t *d, int id)
{
    return d->loaded ? yaml_document_get_node(&d->doc, id) : NULL;
}

int ydoc_line(const yaml_node_t *n)
{
    return n ? (int)n->start_mark.line + 1 : 0;
}

const char *ydoc_scalar(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    return (const char *)n->data.scalar.value;
}

bool ydoc_is_null(const yaml_node_t *n)
{
    const char *s = ydoc_scalar(n);
    if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

yaml_node_t *ydoc_get(ydoc_t *d, const yaml_node_t *n, const char *key)
{
    if (!n || n->type != YAML_MAPPING_NODE)
        return NULL;
    YDOC_FOREACH_PAIR(p, n)
    {
        const char *k = ydoc_scalar(ydoc_node(d, p->key));
        if (k && !strcmp(k, key))
            return ydoc_node(d, p->value);
    }
    return NULL;
}
