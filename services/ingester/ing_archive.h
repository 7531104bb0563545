/*
 * ing_archive: retention of the measurements. Month partitions that ended
 * before the retention cut-off are detached from measurements (so that no
 * reading can be stored into them any more; see ing_archive.c), exported to
 * a gzip-compressed CSV file (with a header line) beside a SHA-256 checksum
 * file in sha256sum format, made durable (fsync), and only then dropped; the
 * rollup tables are not touched. An archive is loaded back into any table
 * with the same columns after its checksum is verified.
 *
 * Files: <dir>/measurements_YYYYMM.csv.gz and <same>.sha256. When the name
 * is taken (a month archived before and later refilled by late readings) the
 * next free <dir>/measurements_YYYYMM.N.csv.gz is used: an archive is never
 * overwritten.
 *
 * Threads: one thread at a time per db_t.
 */
#ifndef EMS_INGESTER_ING_ARCHIVE_H
#define EMS_INGESTER_ING_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

/* The retention lock: a session-level advisory lock keyed on the
 * measurements table (its OID, so each schema has its own), so that of
 * several ingesters sharing a database one archives at a time and a month
 * is never archived twice. PostgreSQL frees it if the session dies. An SQL
 * expression of the key (a bigint). */
#define ING_RETENTION_LOCK                                                             \
    "(x'656d7372'::bigint << 32) | 'measurements'::regclass::oid::bigint"

/* Archives and drops every measurements_YYYYMM partition whose month ended
 * at or before now_ms minus retention_days (UTC). dir is created if
 * missing. Only one session of the database runs it at a time (an
 * advisory lock on the measurements table): returns 1, having done
 * nothing, when another holds it. Returns 0 and the number of partitions
 * dropped in *dropped (optional), or -1 with errstr (the month being
 * archived is kept, attached or as measurements_YYYYMM_retired, which the
 * next run archives first; those before it are done). */
int ing_retention_run(db_t *db, int64_t retention_days, const char *dir, int64_t now_ms,
                      int *dropped, char *errstr, size_t errstr_size);

/* Exports one partition (or any table) to a new archive file in dir and
 * writes its checksum file; path (optional, path_size bytes) gets the
 * archive's path and *rows the rows written. Does not drop anything.
 * 0, or -1 with errstr (no archive file left behind). */
int ing_archive_table(db_t *db, const char *table, const char *dir, char *path,
                      size_t path_size, int64_t *rows, char *errstr,
                      size_t errstr_size);

/* SHA-256 of a file as 64 lowercase hex digits into hex (65 bytes).
 * 0, or -1 with errstr. */
int ing_archive_sha256(const char *path, char hex[65], char *errstr,
                       size_t errstr_size);

/* Verifies path against path.sha256, then loads its rows into table (which
 * must have the archive's columns; a partitioned measurements table gets
 * the months' partitions) in one transaction; rows already there are kept
 * (ON CONFLICT DO NOTHING), so a second restore adds nothing. *rows gets
 * the rows added. 0, or -1 with errstr (nothing loaded). */
int ing_archive_restore(db_t *db, const char *path, const char *table, int64_t *rows,
                        char *errstr, size_t errstr_size);

/* "ingester restore-archive FILE --table T [--db CONNINFO]": verifies and
 * loads one archive (conninfo from --db, else EMS_DB_CONNINFO). Returns the
 * exit code (0 done, 1 failed, 2 usage); one line on stderr or stdout. */
int ing_restore_command(int argc, char **argv);

#endif
