/*
 * File layout (var/registry.json):
 *   {"schemas":  [{"id":1,"schema":"..."}, ...],   ids are 1-based, in order
 *    "subjects": {"energy.load-value":[1,4], ...}, version n = n-th id
 *    "config":   {"":"BACKWARD", "subject":"NONE"}}  "" is the global level
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "compat.h"
#include "file/file.h"

struct reg_store {
    pthread_mutex_t lock;
    char *path;
    json_t *root;
};

static const char *const rs_levels[] = {"BACKWARD", "BACKWARD_TRANSITIVE", "NONE"};

/* An error body in the Confluent shape; returns the HTTP status. */
static int rs_error(json_t **body, int code, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    *body = json_pack("{s:i,s:s}", "error_code", code, "message", msg);
    return code >= 1000 ? code / 100 : code;
}

/* Writes root to the store file atomically (ems_file_write_atomic: synced,
 * renamed, the directory synced). 0, or -1 with errno set. */
static int rs_save(reg_store *st, json_t *root)
{
    char err[4200], *text = json_dumps(root, JSON_INDENT(1));
    int rc, saved;

    if (!text) {
        errno = ENOMEM;
        return -1;
    }
    rc = ems_file_write_atomic(st->path, text, err, sizeof(err));
    saved = errno; /* the caller reports it */
    free(text);
    errno = saved;
    return rc;
}

/* Installs root as the new state once it is on disk; takes ownership of
 * root. Returns 0, or -1 with the old state kept. */
static int rs_commit(reg_store *st, json_t *root)
{
    if (rs_save(st, root) != 0) {
        json_decref(root);
        return -1;
    }
    json_decref(st->root);
    st->root = root;
    return 0;
}

static int rs_valid(json_t *root)
{
    return json_is_array(json_object_get(root, "schemas")) &&
           json_is_object(json_object_get(root, "subjects")) &&
           json_is_object(json_object_get(root, "config"));
}

reg_store *reg_store_open(const char *path, char *errstr, size_t errstr_size)
{
    reg_store *st = calloc(1, sizeof(*st));
    json_error_t jerr;

    if (!st || !(st->path = strdup(path))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto err;
    }
    pthread_mutex_init(&st->lock, NULL);
    if (access(path, F_OK) != 0) {
        st->root = json_pack("{s:[],s:{},s:{s:s}}", "schemas", "subjects", "config", "",
                             "BACKWARD");
        return st;
    }
    st->root = json_load_file(path, 0, &jerr);
    if (!st->root) {
        snprintf(errstr, errstr_size, "cannot load '%s': %s (line %d)", path, jerr.text,
                 jerr.line);
        goto err;
    }
    if (!rs_valid(st->root)) {
        snprintf(errstr, errstr_size, "'%s' is not a registry store", path);
        goto err;
    }
    return st;
err:
    reg_store_destroy(st);
    return NULL;
}

void reg_store_destroy(reg_store *st)
{
    if (!st)
        return;
    json_decref(st->root);
    free(st->path);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* Schema text of a global id, or NULL. */
static const char *rs_schema_text(json_t *root, json_int_t id)
{
    json_t *schemas = json_object_get(root, "schemas");
    json_t *e = json_array_get(schemas, (size_t)(id - 1));

    return id >= 1 ? json_string_value(json_object_get(e, "schema")) : NULL;
}

static json_t *rs_parse_id(json_t *root, json_int_t id)
{
    char err[256];
    const char *text = rs_schema_text(root, id);

    return text ? reg_schema_parse(text, err, sizeof(err)) : NULL;
}

/* Parses a request's {"schema":"..."}; returns the parsed schema or NULL
 * with *status and *body set. */
static json_t *rs_req_schema(const json_t *req, int *status, json_t **body)
{
    const char *text = json_string_value(json_object_get(req, "schema"));
    const char *type = json_string_value(json_object_get(req, "schemaType"));
    char err[512];
    json_t *parsed;

    if (!text) {
        *status = rs_error(body, 42201, "request has no \"schema\" string");
        return NULL;
    }
    if (type && strcmp(type, "AVRO") != 0) {
        *status = rs_error(body, 42201, "schemaType '%s' is not supported", type);
        return NULL;
    }
    parsed = reg_schema_parse(text, err, sizeof(err));
    if (!parsed)
        *status = rs_error(body, 42201, "Invalid schema: %s", err);
    return parsed;
}

/* 1-based version of a subject holding a schema equal to parsed, or 0. */
static size_t rs_find_version(json_t *root, json_t *versions, json_t *parsed)
{
    size_t i;
    json_t *v;

    json_array_foreach(versions, i, v)
    {
        json_t *s = rs_parse_id(root, json_integer_value(v));
        int same = s && json_equal(s, parsed);
        json_decref(s);
        if (same)
            return i + 1;
    }
    return 0;
}

static const char *rs_level(json_t *root, const char *subject)
{
    json_t *config = json_object_get(root, "config");
    const char *lvl =
        subject ? json_string_value(json_object_get(config, subject)) : NULL;

    if (!lvl)
        lvl = json_string_value(json_object_get(config, ""));
    return lvl ? lvl : "BACKWARD";
}

/* Checks parsed (as reader) against the given versions (as writers);
 * returns 1 when every one can be read, else 0 with the reason. */
static int rs_reads_all(json_t *root, json_t *versions, size_t from, json_t *parsed,
                        char *err, size_t errsz)
{
    for (size_t i = from; i < json_array_size(versions); i++) {
        json_t *w = rs_parse_id(root, json_integer_value(json_array_get(versions, i)));
        int ok = w && reg_compat_can_read(w, parsed, err, errsz);
        json_decref(w);
        if (!ok)
            return 0;
    }
    return 1;
}

static int rs_compatible_with(json_t *root, const char *subject, json_t *versions,
                              json_t *parsed, char *err, size_t errsz)
{
    const char *lvl = rs_level(root, subject);
    size_t n = json_array_size(versions);

    if (!strcmp(lvl, "NONE") || n == 0)
        return 1;
    return rs_reads_all(root, versions, !strcmp(lvl, "BACKWARD_TRANSITIVE") ? 0 : n - 1,
                        parsed, err, errsz);
}

/* Global id of an equal schema, adding it to next_root when new. */
static json_int_t rs_intern(json_t *next_root, json_t *parsed)
{
    json_t *schemas = json_object_get(next_root, "schemas");
    size_t i;
    json_t *e;
    char *text;

    json_array_foreach(schemas, i, e)
    {
        json_t *s = rs_parse_id(next_root, (json_int_t)i + 1);
        int same = s && json_equal(s, parsed);
        json_decref(s);
        if (same)
            return (json_int_t)i + 1;
    }
    text = json_dumps(parsed, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return -1;
    json_array_append_new(
        schemas, json_pack("{s:I,s:s}", "id", (json_int_t)i + 1, "schema", text));
    free(text);
    return (json_int_t)i + 1;
}

static int rs_register_locked(reg_store *st, const char *subject, const json_t *req,
                              json_t **body)
{
    json_t *versions = json_object_get(json_object_get(st->root, "subjects"), subject);
    int status = 200;
    char err[512];
    json_t *parsed = rs_req_schema(req, &status, body), *next;
    json_int_t id;
    size_t v;

    if (!parsed)
        return status;
    if ((v = rs_find_version(st->root, versions, parsed))) {
        *body = json_pack("{s:O}", "id", json_array_get(versions, v - 1));
        goto done;
    }
    if (!rs_compatible_with(st->root, subject, versions, parsed, err, sizeof(err))) {
        status = rs_error(body, 409,
                          "Schema being registered is incompatible with an "
                          "earlier schema for subject \"%s\": %s",
                          subject, err);
        goto done;
    }
    next = json_deep_copy(st->root);
    if (!next || (id = rs_intern(next, parsed)) < 0) {
        json_decref(next);
        status = rs_error(body, 50001, "out of memory");
        goto done;
    }
    versions = json_object_get(json_object_get(next, "subjects"), subject);
    if (!versions) {
        versions = json_array();
        json_object_set_new(json_object_get(next, "subjects"), subject, versions);
    }
    json_array_append_new(versions, json_integer(id));
    if (rs_commit(st, next) != 0)
        status = rs_error(body, 50001, "Error in the backend data store: %s",
                          strerror(errno));
    else
        *body = json_pack("{s:I}", "id", id);
done:
    json_decref(parsed);
    return status;
}

int reg_store_register(reg_store *st, const char *subject, const json_t *req,
                       json_t **body)
{
    int status;

    pthread_mutex_lock(&st->lock);
    status = rs_register_locked(st, subject, req, body);
    pthread_mutex_unlock(&st->lock);
    return status;
}

/* The subject's version array, or NULL with a 40401 body. */
static json_t *rs_subject(reg_store *st, const char *subject, int *status,
                          json_t **body)
{
    json_t *v = json_object_get(json_object_get(st->root, "subjects"), subject);

    if (!v || json_array_size(v) == 0)
        *status = rs_error(body, 40401, "Subject '%s' not found.", subject);
    return v && json_array_size(v) ? v : NULL;
}

/* Resolves "latest", "-1" or a positive number to a 1-based index into
 * versions; 0 with *status and *body set when invalid or absent. */
static size_t rs_version_index(json_t *versions, const char *version, int *status,
                               json_t **body)
{
    size_t n = json_array_size(versions);
    char *end;
    long v;

    if (!strcmp(version, "latest") || !strcmp(version, "-1"))
        return n;
    errno = 0;
    v = strtol(version, &end, 10);
    if (errno || end == version || *end || v < 1 || v > 2147483647L) {
        *status = rs_error(body, 42202,
                           "The specified version '%s' is not a valid version "
                           "id. Allowed values are between [1, 2^31-1] and "
                           "the string \"latest\"",
                           version);
        return 0;
    }
    if ((size_t)v > n) {
        *status = rs_error(body, 40402, "Version %ld not found.", v);
        return 0;
    }
    return (size_t)v;
}

static json_t *rs_version_body(reg_store *st, const char *subject, json_t *versions,
                               size_t idx)
{
    json_int_t id = json_integer_value(json_array_get(versions, idx - 1));

    return json_pack("{s:s,s:I,s:I,s:s}", "subject", subject, "version",
                     (json_int_t)idx, "id", id, "schema", rs_schema_text(st->root, id));
}

int reg_store_lookup(reg_store *st, const char *subject, const json_t *req,
                     json_t **body)
{
    int status = 200;
    json_t *versions, *parsed;
    size_t v;

    pthread_mutex_lock(&st->lock);
    if (!(versions = rs_subject(st, subject, &status, body)))
        goto done;
    if (!(parsed = rs_req_schema(req, &status, body)))
        goto done;
    v = rs_find_version(st->root, versions, parsed);
    json_decref(parsed);
    if (v)
        *body = rs_version_body(st, subject, versions, v);
    else
        status = rs_error(body, 40403, "Schema not found");
done:
    pthread_mutex_unlock(&st->lock);
    return status;
}

int reg_store_schema(reg_store *st, const char *id, json_t **body)
{
    int status = 200;
    const char *text = NULL;
    char *end;
    long v;

    errno = 0;
    v = strtol(id, &end, 10);
    pthread_mutex_lock(&st->lock);
    if (!errno && end != id && !*end && v > 0)
        text = rs_schema_text(st->root, v);
    if (text)
        *body = json_pack("{s:s}", "schema", text);
    else
        status = rs_error(body, 40403, "Schema %s not found", id);
    pthread_mutex_unlock(&st->lock);
    return status;
}

int reg_store_subjects(reg_store *st, json_t **body)
{
    const char *key;
    json_t *v;

    pthread_mutex_lock(&st->lock);
    *body = json_array();
    json_object_foreach(json_object_get(st->root, "subjects"), key, v)
        json_array_append_new(*body, json_string(key));
    pthread_mutex_unlock(&st->lock);
    return 200;
}

int reg_store_versions(reg_store *st, const char *subject, json_t **body)
{
    int status = 200;
    json_t *versions;

    pthread_mutex_lock(&st->lock);
    if ((versions = rs_subject(st, subject, &status, body))) {
        *body = json_array();
        for (size_t i = 1; i <= json_array_size(versions); i++)
            json_array_append_new(*body, json_integer((json_int_t)i));
    }
    pthread_mutex_unlock(&st->lock);
    return status;
}

int reg_store_version(reg_store *st, const char *subject, const char *version,
                      json_t **body)
{
    int status = 200;
    json_t *versions;
    size_t idx;

    pthread_mutex_lock(&st->lock);
    if ((versions = rs_subject(st, subject, &status, body)) &&
        (idx = rs_version_index(versions, version, &status, body)))
        *body = rs_version_body(st, subject, versions, idx);
    pthread_mutex_unlock(&st->lock);
    return status;
}

int reg_store_compat(reg_store *st, const char *subject, const char *version,
                     const json_t *req, json_t **body)
{
    int status = 200, ok;
    json_t *versions, *parsed = NULL, *writer;
    size_t idx;
    char err[512];

    pthread_mutex_lock(&st->lock);
    if (!(versions = rs_subject(st, subject, &status, body)) ||
        !(idx = rs_version_index(versions, version, &status, body)) ||
        !(parsed = rs_req_schema(req, &status, body)))
        goto done;
    if (!strcmp(rs_level(st->root, subject), "NONE")) {
        *body = json_pack("{s:b}", "is_compatible", 1);
        goto done;
    }
    writer =
        rs_parse_id(st->root, json_integer_value(json_array_get(versions, idx - 1)));
    ok = writer && reg_compat_can_read(writer, parsed, err, sizeof(err));
    json_decref(writer);
    *body = ok ? json_pack("{s:b}", "is_compatible", 1)
               : json_pack("{s:b,s:[s]}", "is_compatible", 0, "messages", err);
done:
    json_decref(parsed);
    pthread_mutex_unlock(&st->lock);
    return status;
}

int reg_store_get_config(reg_store *st, const char *subject, json_t **body)
{
    pthread_mutex_lock(&st->lock);
    *body = json_pack("{s:s}", "compatibilityLevel", rs_level(st->root, subject));
    pthread_mutex_unlock(&st->lock);
    return 200;
}

static const char *rs_level_name(const char *s)
{
    for (size_t i = 0; s && i < sizeof(rs_levels) / sizeof(*rs_levels); i++)
        if (!strcasecmp(s, rs_levels[i]))
            return rs_levels[i];
    return NULL;
}

int reg_store_set_config(reg_store *st, const char *subject, const json_t *req,
                         json_t **body)
{
    const char *lvl =
        rs_level_name(json_string_value(json_object_get(req, "compatibility")));
    int status = 200;
    json_t *next;

    if (!lvl)
        return rs_error(body, 42203,
                        "Invalid compatibility level. Valid values are "
                        "BACKWARD, BACKWARD_TRANSITIVE and NONE");
    pthread_mutex_lock(&st->lock);
    next = json_deep_copy(st->root);
    if (next)
        json_object_set_new(json_object_get(next, "config"), subject ? subject : "",
                            json_string(lvl));
    if (!next || rs_commit(st, next) != 0)
        status = rs_error(body, 50001, "Error in the backend data store");
    else
        *body = json_pack("{s:s}", "compatibility", lvl);
    pthread_mutex_unlock(&st->lock);
    return status;
}
