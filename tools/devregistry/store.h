/*
 * The development registry's data: schemas by global id, subjects with their
 * versions, and compatibility levels, kept in memory and persisted as one
 * JSON file rewritten atomically (temporary file + rename) after each change.
 *
 * Every request function takes the request body (or NULL), returns the HTTP
 * status and sets *body to a new JSON reference holding the response in the
 * Confluent Schema Registry's shape, errors included
 * ({"error_code":40401,"message":"..."}). The store has its own lock: any
 * thread may call any function.
 */
#ifndef DEVREGISTRY_STORE_H
#define DEVREGISTRY_STORE_H

#include <stddef.h>

#include <jansson.h>

typedef struct reg_store reg_store;

/* Opens the store at path (loaded if the file exists, empty otherwise).
 * Returns NULL with the reason in errstr when the file exists but cannot be
 * read or is not a store. */
reg_store *reg_store_open(const char *path, char *errstr, size_t errstr_size);

/* Frees the store; NULL does nothing. */
void reg_store_destroy(reg_store *st);

/* POST /subjects/{subject}/versions: {"schema":"..."} -> {"id":N}. */
int reg_store_register(reg_store *st, const char *subject, const json_t *req,
                       json_t **body);

/* POST /subjects/{subject}: the version already holding this schema. */
int reg_store_lookup(reg_store *st, const char *subject, const json_t *req,
                     json_t **body);

/* GET /schemas/ids/{id} -> {"schema":"..."}. */
int reg_store_schema(reg_store *st, const char *id, json_t **body);

/* GET /subjects -> ["subject", ...]. */
int reg_store_subjects(reg_store *st, json_t **body);

/* GET /subjects/{subject}/versions -> [1, 2, ...]. */
int reg_store_versions(reg_store *st, const char *subject, json_t **body);

/* GET /subjects/{subject}/versions/{version|latest}. */
int reg_store_version(reg_store *st, const char *subject, const char *version,
                      json_t **body);

/* POST /compatibility/subjects/{subject}/versions/{version|latest}
 * -> {"is_compatible":bool}. */
int reg_store_compat(reg_store *st, const char *subject, const char *version,
                     const json_t *req, json_t **body);

/* GET /config[/{subject}] -> {"compatibilityLevel":"BACKWARD"}; subject NULL
 * means the global level. */
int reg_store_get_config(reg_store *st, const char *subject, json_t **body);

/* PUT /config[/{subject}] {"compatibility":"NONE"}. */
int reg_store_set_config(reg_store *st, const char *subject, const json_t *req,
                         json_t **body);

#endif
