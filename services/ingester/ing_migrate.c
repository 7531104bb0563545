/*
 * ing_migrate: forward-only migrations under pg_advisory_lock.
 */
#include "ingester/ing_migrate.h"
#include "file/file.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATE_LOCK_KEY "7305150001" /* any constant shared by all ingesters */

int ing_migration_version(const char *name)
{
    size_t n = strlen(name), i = 0;
    long v = 0;

    while (i < n && isdigit((unsigned char)name[i]) && i < 9)
        v = v * 10 + (name[i++] - '0');
    if (i < 4 || name[i] != '_' || n < 5 || strcmp(name + n - 4, ".sql") != 0)
        return -1;
    return (int)v;
}

void ing_migration_checksum(const char *text, size_t len, char buf[17])
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 1099511628211ULL;
    snprintf(buf, 17, "%016llx", (unsigned long long)h);
}

static int is_migration(const char *name, const void *ctx)
{
    (void)ctx;
    return ing_migration_version(name) >= 0;
}

static int cmp_names(const void *a, const void *b)
{
    return ing_migration_version(*(char *const *)a) -
           ing_migration_version(*(char *const *)b);
}

/* The sorted migration file names of dir (caller frees each and the array). */
static char **list_files(const char *dir, size_t *n, char *errstr, size_t errstr_size)
{
    DIR *d = opendir(dir);

    *n = 0;
    if (!d) {
        snprintf(errstr, errstr_size, "cannot open migrations directory '%s'", dir);
        return NULL;
    }
    char **names = ems_file_dir_names(d, is_migration, NULL, cmp_names, n);
    closedir(d);
    if (names)
        return names;
    *n = 0; /* as ems_file_dir_names() promises, said here for the analyzer */
    return calloc(1, sizeof *names);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long sz;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)sz + 1))) {
        *len = fread(buf, 1, (size_t)sz, f);
        buf[*len] = '\0';
    }
    fclose(f);
    return buf;
}

/* Applies one file unless recorded; 1 applied, 0 already there, -1 error. */
static int apply_one(db_t *db, const char *dir, const char *name, char *errstr,
                     size_t errstr_size)
{
    char path[4096], sum[17], ver[16], err[512];
    const char *params[3];
    size_t len = 0;
    char *sql;
    PGresult *res;
    int rc = -1;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!(sql = read_file(path, &len))) {
        snprintf(errstr, errstr_size, "cannot read migration '%s'", path);
        return -1;
    }
    ing_migration_checksum(sql, len, sum);
    snprintf(ver, sizeof ver, "%d", ing_migration_version(name));
    params[0] = ver;
    res = db_query(db, "SELECT checksum FROM schema_migrations WHERE version = $1", 1,
                   params, err, sizeof err);
    if (!res) {
        snprintf(errstr, errstr_size, "migration '%s': %s", name, err);
        goto cleanup;
    }
    if (PQntuples(res) == 1) {
        rc = strcmp(PQgetvalue(res, 0, 0), sum) == 0 ? 0 : -1;
        if (rc)
            snprintf(errstr, errstr_size,
                     "migration '%s' changed after it was applied "
                     "(migrations are forward-only: add a new file)",
                     name);
        PQclear(res);
        goto cleanup;
    }
    PQclear(res);
    params[1] = name;
    params[2] = sum;
    if (db_begin(db, err, sizeof err) || db_exec(db, sql, err, sizeof err) ||
        !(res = db_query(db,
                         "INSERT INTO schema_migrations (version, name, checksum) "
                         "VALUES ($1, $2, $3)",
                         3, params, err, sizeof err))) {
        db_rollback(db, NULL, 0);
        snprintf(errstr, errstr_size, "migration '%s': %s", name, err);
        goto cleanup;
    }
    PQclear(res);
    if (db_commit(db, err, sizeof err)) {
        snprintf(errstr, errstr_size, "migration '%s': %s", name, err);
        goto cleanup;
    }
    rc = 1;
cleanup:
    free(sql);
    return rc;
}

int ing_migrate(db_t *db, const char *dir, int *applied, char *errstr,
                size_t errstr_size)
{
    size_t n = 0;
    char **names, err[512];
    int rc = 0, count = 0;

    if (!(names = list_files(dir, &n, errstr, errstr_size)))
        return -1;
    if (db_exec(db, "SET client_min_messages = warning", err, sizeof err) ||
        db_exec(db, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, sizeof err) ||
        db_exec(db,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())",
                err, sizeof err)) {
        snprintf(errstr, errstr_size, "migrations: %s", err);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int r = apply_one(db, dir, names[i], errstr, errstr_size);
        if (r < 0)
            rc = -1;
        else
            count += r;
    }
    db_exec(db, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", err, sizeof err);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (applied)
        *applied = count;
    return rc;
}
