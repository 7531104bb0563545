/*
 * ing_migrate: applies the versioned, forward-only SQL migrations of
 * services/ingester/migrations ("NNNN_name.sql") under a PostgreSQL advisory
 * lock, so a second ingester starting at the same time waits and then finds
 * nothing to do. Each file runs in its own transaction and is recorded in
 * schema_migrations with a checksum; an applied file that changed is an
 * error.
 */
#ifndef EMS_INGESTER_ING_MIGRATE_H
#define EMS_INGESTER_ING_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

/* The version of a migration file name ("0003_x.sql" -> 3), or -1 when the
 * name is not a migration. Pure. */
int ing_migration_version(const char *name);
/* 64-bit FNV-1a of text as 16 hex digits into buf (17 bytes). Pure. */
void ing_migration_checksum(const char *text, size_t len, char buf[17]);

/* Applies the pending migrations of dir. Returns 0 and the number applied in
 * *applied (optional), or -1 with errstr naming the file. */
int ing_migrate(db_t *db, const char *dir, int *applied, char *errstr,
                size_t errstr_size);

#endif
