/*
 * Avro schema resolution (writer -> reader) on the schemas' JSON, following
 * the Avro specification: records match by unqualified name, a reader field
 * the writer lacks needs a default, a writer enum symbol the reader lacks
 * needs a reader default, every writer union branch must be readable, a
 * reader union needs one branch that reads the writer, and the numeric and
 * string/bytes promotions apply. Logical types follow their underlying type.
 */
#include "compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <avro.h>

#define RC_MAX_DEPTH 64
#define RC_NAME_MAX 512

typedef struct {
    json_t *wnames; /* writer: full name -> definition */
    json_t *rnames; /* reader: full name -> definition */
    const char *stack_w[RC_MAX_DEPTH];
    const char *stack_r[RC_MAX_DEPTH];
    int depth;
    char *err;
    size_t errsz;
} rc_ctx;

static const char *const rc_primitives[] = {"null",  "boolean", "int",   "long",
                                            "float", "double",  "bytes", "string"};

static int rc_is_primitive(const char *s)
{
    for (size_t i = 0; i < sizeof(rc_primitives) / sizeof(*rc_primitives); i++)
        if (strcmp(s, rc_primitives[i]) == 0)
            return 1;
    return 0;
}

static void rc_fail(rc_ctx *c, const char *fmt, ...)
{
    va_list ap;

    if (!c->err || c->errsz == 0 || c->err[0])
        return; /* keep the first (innermost) reason */
    va_start(ap, fmt);
    vsnprintf(c->err, c->errsz, fmt, ap);
    va_end(ap);
}

/* Full name of a named type per the spec's namespace rules. */
static void rc_fullname(char *out, size_t outsz, const char *name, const char *ns_attr,
                        const char *enclosing)
{
    const char *ns = ns_attr && *ns_attr ? ns_attr : enclosing;

    if (strchr(name, '.') || !ns || !*ns)
        snprintf(out, outsz, "%s", name);
    else
        snprintf(out, outsz, "%s.%s", ns, name);
}

/* Namespace part of a full name (empty when none). */
static void rc_namespace_of(char *out, size_t outsz, const char *fullname)
{
    const char *dot = strrchr(fullname, '.');
    size_t n = dot ? (size_t)(dot - fullname) : 0;

    if (n >= outsz)
        n = outsz - 1;
    memcpy(out, fullname, n);
    out[n] = '\0';
}

static const char *rc_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int rc_is_named_kind(const char *t)
{
    return t && (!strcmp(t, "record") || !strcmp(t, "error") || !strcmp(t, "enum") ||
                 !strcmp(t, "fixed"));
}

/* Records every named type defined in s under its full name. */
static void rc_collect(json_t *names, json_t *s, const char *ns)
{
    char full[RC_NAME_MAX], inner[RC_NAME_MAX];
    size_t i;
    json_t *v;

    if (json_is_array(s)) {
        json_array_foreach(s, i, v)
        {
            rc_collect(names, v, ns);
        }
        return;
    }
    if (!json_is_object(s))
        return;
    v = json_object_get(s, "type");
    if (!json_is_string(v)) {
        rc_collect(names, v, ns);
        return;
    }
    if (rc_is_named_kind(json_string_value(v)) && rc_str(s, "name")) {
        rc_fullname(full, sizeof(full), rc_str(s, "name"), rc_str(s, "namespace"), ns);
        json_object_set(names, full, s);
        rc_namespace_of(inner, sizeof(inner), full);
        json_array_foreach(json_object_get(s, "fields"), i, v)
            rc_collect(names, json_object_get(v, "type"), inner);
        return;
    }
    rc_collect(names, json_object_get(s, "items"), ns);
    rc_collect(names, json_object_get(s, "values"), ns);
}

/* A schema node reduced to what resolution looks at. */
typedef struct {
    const char *kind;       /* primitive name, record, enum, fixed, array, map,
                               union */
    json_t *node;           /* the definition (object or array), or NULL */
    char ns[RC_NAME_MAX];   /* namespace for the node's children */
    char full[RC_NAME_MAX]; /* full name of a named type */
} rc_type;

/* Resolves references and wrappers such as {"type":"long",
 * "logicalType":...}. Returns 0, or -1 for an unknown name. */
static int rc_resolve(rc_ctx *c, json_t *names, json_t *s, const char *ns, rc_type *t)
{
    const char *str;

    memset(t, 0, sizeof(*t));
    snprintf(t->ns, sizeof(t->ns), "%s", ns);
    for (int hops = 0; hops < RC_MAX_DEPTH; hops++) {
        if (json_is_array(s)) {
            t->kind = "union";
            t->node = s;
            return 0;
        }
        if (json_is_object(s)) {
            json_t *type = json_object_get(s, "type");
            str = json_string_value(type);
            if (!str || (!rc_is_named_kind(str) && strcmp(str, "array") &&
                         strcmp(str, "map"))) {
                s = type; /* a wrapper around another schema */
                continue;
            }
            t->kind = !strcmp(str, "error") ? "record" : str;
            t->node = s;
            if (rc_is_named_kind(str) && rc_str(s, "name")) {
                rc_fullname(t->full, sizeof(t->full), rc_str(s, "name"),
                            rc_str(s, "namespace"), t->ns);
                rc_namespace_of(t->ns, sizeof(t->ns), t->full);
            }
            return 0;
        }
        str = json_string_value(s);
        if (!str)
            break;
        if (rc_is_primitive(str)) {
            t->kind = str;
            return 0;
        }
        char full[RC_NAME_MAX];
        json_t *def;
        rc_fullname(full, sizeof(full), str, NULL, t->ns);
        def = json_object_get(names, full);
        if (!def)
            def = json_object_get(names, str);
        if (!def) {
            rc_fail(c, "unknown type '%s'", str);
            return -1;
        }
        s = def;
    }
    rc_fail(c, "malformed schema node");
    return -1;
}

static int rc_check(rc_ctx *c, json_t *w, const char *wns, json_t *r, const char *rns);

static int rc_promotes(const char *w, const char *r)
{
    static const char *const ok[][2] = {
        {"int", "long"},     {"int", "float"},    {"int", "double"},
        {"long", "float"},   {"long", "double"},  {"float", "double"},
        {"string", "bytes"}, {"bytes", "string"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++)
        if (!strcmp(w, ok[i][0]) && !strcmp(r, ok[i][1]))
            return 1;
    return 0;
}

static const char *rc_short(const char *full)
{
    const char *dot = strrchr(full, '.');
    return dot ? dot + 1 : full;
}

static json_t *rc_field(json_t *fields, const char *name)
{
    size_t i;
    json_t *f;

    json_array_foreach(fields, i, f)
    {
        if (!strcmp(rc_str(f, "name"), name))
            return f;
    }
    return NULL;
}

static int rc_records(rc_ctx *c, const rc_type *w, const rc_type *r)
{
    json_t *wf = json_object_get(w->node, "fields");
    json_t *rf = json_object_get(r->node, "fields");
    size_t i;
    json_t *f;

    for (int d = 0; d < c->depth; d++)
        if (!strcmp(c->stack_w[d], w->full) && !strcmp(c->stack_r[d], r->full))
            return 1; /* recursive type already being checked */
    if (c->depth >= RC_MAX_DEPTH) {
        rc_fail(c, "schema nested too deeply");
        return 0;
    }
    c->stack_w[c->depth] = w->full;
    c->stack_r[c->depth] = r->full;
    c->depth++;
    int ok = 1;
    json_array_foreach(rf, i, f)
    {
        const char *name = rc_str(f, "name");
        json_t *match = rc_field(wf, name);
        if (!match && !json_object_get(f, "default")) {
            rc_fail(c,
                    "reader field '%s' of '%s' is missing from the writer "
                    "and has no default",
                    name, r->full);
            ok = 0;
        } else if (match && !rc_check(c, json_object_get(match, "type"), w->ns,
                                      json_object_get(f, "type"), r->ns)) {
            rc_fail(c, "field '%s' of '%s' cannot be read", name, r->full);
            ok = 0;
        }
        if (!ok)
            break;
    }
    c->depth--; /* w and r are the caller's: no pointer to them is kept */
    c->stack_w[c->depth] = c->stack_r[c->depth] = NULL;
    return ok;
}

static int rc_has_symbol(json_t *symbols, const char *s)
{
    size_t i;
    json_t *v;

    json_array_foreach(symbols, i, v)
    {
        if (!strcmp(json_string_value(v), s))
            return 1;
    }
    return 0;
}

static int rc_enums(rc_ctx *c, const rc_type *w, const rc_type *r)
{
    json_t *rs = json_object_get(r->node, "symbols");
    size_t i;
    json_t *v;

    if (json_object_get(r->node, "default"))
        return 1;
    json_array_foreach(json_object_get(w->node, "symbols"), i, v)
    {
        if (!rc_has_symbol(rs, json_string_value(v))) {
            rc_fail(c, "enum '%s' lacks symbol '%s' and has no default", r->full,
                    json_string_value(v));
            return 0;
        }
    }
    return 1;
}

static int rc_same_kind(rc_ctx *c, const rc_type *w, const rc_type *r)
{
    if (w->full[0] && strcmp(rc_short(w->full), rc_short(r->full))) {
        rc_fail(c, "name '%s' does not match '%s'", w->full, r->full);
        return 0;
    }
    if (!strcmp(w->kind, "record"))
        return rc_records(c, w, r);
    if (!strcmp(w->kind, "enum"))
        return rc_enums(c, w, r);
    if (!strcmp(w->kind, "fixed")) {
        if (json_equal(json_object_get(w->node, "size"),
                       json_object_get(r->node, "size")))
            return 1;
        rc_fail(c, "fixed '%s' changed size", r->full);
        return 0;
    }
    if (!strcmp(w->kind, "array"))
        return rc_check(c, json_object_get(w->node, "items"), w->ns,
                        json_object_get(r->node, "items"), r->ns);
    if (!strcmp(w->kind, "map"))
        return rc_check(c, json_object_get(w->node, "values"), w->ns,
                        json_object_get(r->node, "values"), r->ns);
    return 1; /* same primitive */
}

/* A reader union reads the writer when any of its branches does. */
static int rc_reader_union(rc_ctx *c, json_t *w, const char *wns, const rc_type *r)
{
    char *saved = c->err;
    size_t savedsz = c->errsz;
    char scratch[256];
    size_t i;
    json_t *b;
    int ok = 0;

    json_array_foreach(r->node, i, b)
    {
        scratch[0] = '\0';
        c->err = scratch;
        c->errsz = sizeof(scratch);
        if (rc_check(c, w, wns, b, r->ns)) {
            ok = 1;
            break;
        }
    }
    c->err = saved;
    c->errsz = savedsz;
    if (!ok)
        rc_fail(c, "no branch of the reader union reads the writer's type");
    return ok;
}

static int rc_check(rc_ctx *c, json_t *w, const char *wns, json_t *r, const char *rns)
{
    rc_type wt, rt;
    size_t i;
    json_t *b;

    if (rc_resolve(c, c->wnames, w, wns, &wt) != 0 ||
        rc_resolve(c, c->rnames, r, rns, &rt) != 0)
        return 0;
    if (!strcmp(wt.kind, "union")) {
        json_array_foreach(wt.node, i, b)
        {
            if (!rc_check(c, b, wt.ns, r, rns))
                return 0;
        }
        return 1;
    }
    if (!strcmp(rt.kind, "union"))
        return rc_reader_union(c, w, wns, &rt);
    if (!strcmp(wt.kind, rt.kind))
        return rc_same_kind(c, &wt, &rt);
    if (rc_promotes(wt.kind, rt.kind))
        return 1;
    rc_fail(c, "cannot read %s as %s", wt.full[0] ? wt.full : wt.kind,
            rt.full[0] ? rt.full : rt.kind);
    return 0;
}

int reg_compat_can_read(const json_t *writer, const json_t *reader, char *errstr,
                        size_t errstr_size)
{
    rc_ctx c;
    int ok;

    memset(&c, 0, sizeof(c));
    c.err = errstr;
    c.errsz = errstr_size;
    if (errstr && errstr_size)
        errstr[0] = '\0';
    c.wnames = json_object();
    c.rnames = json_object();
    if (!c.wnames || !c.rnames) {
        json_decref(c.wnames);
        json_decref(c.rnames);
        rc_fail(&c, "out of memory");
        return 0;
    }
    /* The walk never modifies the schemas; jansson's API is not const. */
    rc_collect(c.wnames, (json_t *)writer, "");
    rc_collect(c.rnames, (json_t *)reader, "");
    ok = rc_check(&c, (json_t *)writer, "", (json_t *)reader, "");
    json_decref(c.wnames);
    json_decref(c.rnames);
    return ok;
}

json_t *reg_schema_parse(const char *text, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    avro_schema_t schema;
    json_t *root = json_loads(text, JSON_DECODE_ANY, &jerr);

    if (!root) {
        snprintf(errstr, errstr_size, "schema is not JSON: %s", jerr.text);
        return NULL;
    }
    if (avro_schema_from_json_length(text, strlen(text), &schema) != 0) {
        snprintf(errstr, errstr_size, "invalid Avro schema: %s", avro_strerror());
        json_decref(root);
        return NULL;
    }
    avro_schema_decref(schema);
    return root;
}
